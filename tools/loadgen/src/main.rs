//! `loadgen`: Steward's MQTT load generator.
//!
//! It opens N device connections (MQTT 3.1.1 over TLS, each with its own client
//! certificate, or username = device id and password = token) to any MQTT broker
//! (Steward, or Mosquitto as the reference), publishes SenML JSON packs at a
//! target total rate (or as fast as each connection's in-flight window allows),
//! and reports acknowledged messages and readings per second, and the
//! publish → PUBACK latency (p50/p99/p999) of the measured window after a warm-up.
//! `--idle` opens N connections, holds them and reports the server's memory.
//! `loadgen coap` does the same for CoAP over DTLS-PSK (acknowledged POSTs).
//!
//! Layout:
//! - `devices.rs`: the device cache (ids, certificates, keys, tokens) and
//!   `provision`, which fills it through Steward's HTTP API;
//! - `client.rs`: one device connection (TLS, CONNECT, publish loop, PUBACKs);
//! - `run.rs`: the orchestration (connect all, warm-up, measure, drain) and the report;
//! - `http.rs`: a minimal HTTP/1.1 client for the loopback API and `/metrics`;
//! - `procfs.rs`: resident memory and CPU time of a process, from `/proc`;
//! - `coap.rs`: the CoAP/DTLS-PSK mode (Steward's own client and registry).

mod client;
mod coap;
mod devices;
mod http;
mod procfs;
mod run;

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "loadgen",
    version,
    about = "MQTT/TLS load generator for Steward (and any MQTT 3.1.1 broker)"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Create devices (with client certificates) through Steward's HTTP API and
    /// store them in a cache directory; devices already in the cache are kept.
    Provision(devices::ProvisionArgs),
    /// Connect devices from the cache to a broker and publish (or hold them idle).
    Run(Box<RunArgs>),
    /// CoAP over DTLS-PSK: make devices with PSKs in the gateway's data directory,
    /// then POST telemetry from each as fast as the gateway acknowledges.
    Coap(coap::CoapArgs),
}

/// What one run does; see `loadgen run --help`.
#[derive(clap::Args, Debug, Clone)]
pub struct RunArgs {
    /// Broker address (MQTT over TLS), e.g. 127.0.0.1:8883.
    #[arg(long)]
    pub broker: SocketAddr,
    /// Name the broker's certificate must carry (a DNS name or an IP address).
    #[arg(long, default_value = "localhost")]
    pub server_name: String,
    /// Device cache made by `loadgen provision`.
    #[arg(long)]
    pub devices: PathBuf,
    /// CA certificate (PEM) that signed the broker's certificate; default: the
    /// cache's ca.crt.
    #[arg(long)]
    pub ca: Option<PathBuf>,
    /// How devices authenticate: their client certificate, or username = device id
    /// and password = token (needs a cache provisioned with --tokens).
    #[arg(long, value_enum, default_value = "cert")]
    pub auth: devices::Auth,
    /// Number of device connections (the first N devices of the cache).
    #[arg(long, short = 'n', default_value_t = 1000)]
    pub connections: usize,
    /// Open the connections and hold them without publishing; report memory.
    #[arg(long)]
    pub idle: bool,
    /// Target total publish rate in messages/s over all connections; 0 = as fast
    /// as each connection's in-flight window allows (closed loop, for the maximum).
    #[arg(long, default_value_t = 0.0)]
    pub rate: f64,
    /// QoS of the publishes (0 or 1).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u8).range(0..=1))]
    pub qos: u8,
    /// SenML records per pack (per MQTT message).
    #[arg(long, default_value_t = 10)]
    pub records: usize,
    /// QoS 1 publishes one connection may have awaiting their PUBACK.
    #[arg(long, default_value_t = 8)]
    pub window: usize,
    /// Seconds measured, after the warm-up (in --idle mode: seconds the connections
    /// are held after the memory sample).
    #[arg(long, default_value_t = 20.0)]
    pub duration: f64,
    /// Seconds of load before the measurement starts (in --idle mode: seconds to
    /// wait after the last connection before sampling memory).
    #[arg(long, default_value_t = 5.0)]
    pub warmup: f64,
    /// TLS handshakes in progress at once while connecting.
    #[arg(long, default_value_t = 64)]
    pub connect_concurrency: usize,
    /// Seconds allowed for connecting all devices.
    #[arg(long, default_value_t = 180.0)]
    pub connect_timeout: f64,
    /// Local addresses to connect from, in turn (e.g. 127.0.0.1,127.0.0.2), so that
    /// many connections do not run out of source ports.
    #[arg(long, value_delimiter = ',')]
    pub source_ip: Vec<IpAddr>,
    /// Process id of the broker, to report its resident memory and CPU use.
    #[arg(long)]
    pub server_pid: Option<u32>,
    /// Steward's Prometheus endpoint (http://HOST:PORT/metrics), to report commit
    /// batch sizes and times over the measured window.
    #[arg(long)]
    pub metrics_url: Option<String>,
    /// A label for the report (e.g. "steward" or "mosquitto").
    #[arg(long, default_value = "broker")]
    pub label: String,
    /// Also write the figures as KEY=VALUE lines (shell-sourceable) to this file.
    #[arg(long)]
    pub summary: Option<PathBuf>,
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    // One crypto provider for the whole process, as in Steward.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    match cli.command {
        Command::Provision(args) => runtime.block_on(devices::provision(args)),
        Command::Run(args) => runtime.block_on(run::run(*args)),
        Command::Coap(args) => runtime.block_on(coap::run(args)),
    }
}
