//! `loadgen coap`: acknowledged CoAP POSTs over DTLS-PSK from many clients.
//!
//! Provisions N devices with PSKs straight into the gateway's data directory
//! (Steward's library, as `steward device psk` does; the store is safe to share
//! with the running server), opens one DTLS session per device, and has each send
//! confirmable `POST /telemetry` SenML packs one at a time (NSTART = 1, RFC 7252
//! §4.7): a closed loop at the maximum rate. Reports 2.04 responses and readings
//! per second over the measured window, and the request → response latency.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use hdrhistogram::Histogram;
use steward::ingest::coap::PskKeys;
use steward::ingest::coap::client::CoapClient;
use steward::registry::NewDevice;
use tokio::sync::Mutex;

#[derive(clap::Args, Debug, Clone)]
pub struct CoapArgs {
    /// The gateway's CoAP/DTLS address, e.g. 127.0.0.1:5684.
    #[arg(long)]
    pub server: SocketAddr,
    /// The gateway's data directory (devices and their PSKs are made there).
    #[arg(long)]
    pub data: PathBuf,
    /// Number of clients (devices), each with its own DTLS session.
    #[arg(long, short = 'n', default_value_t = 100)]
    pub clients: usize,
    /// SenML records per POST.
    #[arg(long, default_value_t = 10)]
    pub records: usize,
    /// Seconds of load before the measurement starts.
    #[arg(long, default_value_t = 3.0)]
    pub warmup: f64,
    /// Seconds measured.
    #[arg(long, default_value_t = 15.0)]
    pub duration: f64,
}

#[derive(Default)]
struct Counters {
    ok: AtomicU64,
    refused: AtomicU64,
    failed: AtomicU64,
}

pub async fn run(args: CoapArgs) -> anyhow::Result<()> {
    anyhow::ensure!(args.clients > 0, "--clients must be at least 1");
    anyhow::ensure!(
        args.duration > 0.0 && args.duration <= 600.0,
        "--duration must be in (0, 600] seconds"
    );
    let mut config = steward::config::Config::default();
    config.server.data = args.data.clone();
    let data = steward::server::open_data_dir(&config, Arc::new(steward::clock::SystemClock))?;
    let keys = PskKeys::load_or_create(&data.path)?;
    let mut devices = Vec::with_capacity(args.clients);
    for i in 0..args.clients {
        let name = format!("coap-bench-{i:05}");
        let id = match data.registry.get(&name) {
            Ok(d) => d.id,
            Err(_) => {
                data.registry
                    .create_device(NewDevice {
                        name,
                        model: "coap-bench".into(),
                        zone: None,
                        tags: vec!["bench".into()],
                        firmware_version: None,
                    })?
                    .id
            }
        };
        let (_, key) = keys.issue(&data.registry, &id)?;
        devices.push((id, key));
    }
    eprintln!("coap: {} devices with PSKs; handshaking", devices.len());

    let started = Instant::now();
    let mut sessions = Vec::with_capacity(devices.len());
    let mut connects = tokio::task::JoinSet::new();
    for (id, key) in devices {
        let server = args.server;
        connects.spawn(async move { CoapClient::connect(server, &id, &key).await });
    }
    while let Some(r) = connects.join_next().await {
        sessions.push(r.context("handshake task")?.context("DTLS handshake")?);
    }
    eprintln!(
        "coap: {} DTLS sessions in {:.2} s; warm-up {} s, measuring {} s",
        sessions.len(),
        started.elapsed().as_secs_f64(),
        args.warmup,
        args.duration
    );

    let body = pack(args.records);
    let counters = Arc::new(Counters::default());
    let measuring = Arc::new(AtomicBool::new(false));
    let stop = Arc::new(AtomicBool::new(false));
    let latency = Arc::new(Mutex::new(Histogram::<u64>::new(3)?));
    let mut tasks = tokio::task::JoinSet::new();
    for mut c in sessions {
        let mut local = Histogram::<u64>::new(3)?;
        let (body, counters, measuring, stop, latency) = (
            body.clone(),
            counters.clone(),
            measuring.clone(),
            stop.clone(),
            latency.clone(),
        );
        tasks.spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                let t = Instant::now();
                let r = c.post(110, &body).await;
                let counting = measuring.load(Ordering::Relaxed);
                match r {
                    Ok(r) if r.code == coap_lite::ResponseType::Changed => {
                        if counting {
                            counters.ok.fetch_add(1, Ordering::Relaxed);
                            let _ = local.record(t.elapsed().as_micros() as u64);
                        }
                    }
                    Ok(_) => {
                        counters.refused.fetch_add(1, Ordering::Relaxed);
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                    Err(_) => {
                        counters.failed.fetch_add(1, Ordering::Relaxed);
                        break;
                    }
                }
            }
            let _ = latency.lock().await.add(&local);
            c.close().await;
        });
    }
    tokio::time::sleep(Duration::from_secs_f64(args.warmup)).await;
    measuring.store(true, Ordering::Relaxed);
    let t0 = Instant::now();
    tokio::time::sleep(Duration::from_secs_f64(args.duration)).await;
    measuring.store(false, Ordering::Relaxed);
    let elapsed = t0.elapsed().as_secs_f64();
    stop.store(true, Ordering::Relaxed);
    let drain = tokio::time::timeout(Duration::from_secs(20), async {
        while tasks.join_next().await.is_some() {}
    });
    let _ = drain.await;

    let ok = counters.ok.load(Ordering::Relaxed);
    let h = latency.lock().await;
    let ms = |q: f64| h.value_at_quantile(q) as f64 / 1000.0;
    println!(
        "coap: {} clients, {} records/POST: {:.0} acknowledged POSTs/s, {:.0} readings/s; latency p50 {:.2} ms, p99 {:.2} ms, p999 {:.2} ms; refused {}, failed sessions {}",
        args.clients,
        args.records,
        ok as f64 / elapsed,
        (ok as f64 * args.records as f64) / elapsed,
        ms(0.5),
        ms(0.99),
        ms(0.999),
        counters.refused.load(Ordering::Relaxed),
        counters.failed.load(Ordering::Relaxed),
    );
    Ok(())
}

/// A SenML JSON pack of `records` readings with distinct names.
fn pack(records: usize) -> Vec<u8> {
    let recs: Vec<serde_json::Value> = (0..records.max(1))
        .map(|i| {
            if i == 0 {
                serde_json::json!({"bn": "urn:bench:", "n": "r0", "u": "dB", "v": 50.0})
            } else {
                serde_json::json!({"n": format!("r{i}"), "u": "dB", "v": 50.0 + i as f64})
            }
        })
        .collect();
    serde_json::to_vec(&recs).unwrap_or_default()
}
