//! The `steward` command line: `serve`, `demo`, `device …`, `model …`, `config …`.
//! Each subcommand is a thin layer over the library; errors are reported with
//! anyhow here and nowhere deeper.
//!
//! - `firmware.rs`: `steward firmware …` (sign, verify, show SUIT envelopes; anchor,
//!   upload, list, support on a data directory).
//! - `campaign.rs`: `steward campaign …` (create, list, show, watch, pause, resume, abort).
//! - `mud_tools.rs`: `steward mud …` (check, sign, new, learn, show) over the `mud` crate.
//! - `policy.rs`: `steward explain`, `steward policy …` (show, plan, apply, audit, address).
//! - `semantic.rs`: `steward model import-sdf` and the `--thing`/`--ngsi` declarations.

mod campaign;
mod firmware;
mod mud_tools;
mod policy;
mod semantic;

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};

use crate::clock::SystemClock;
use crate::config::{self, Config, ProcessEnv};
use crate::registry::{Model, NewDevice};
use crate::server;

#[derive(Parser)]
#[command(name = "steward", version, about = "Steward, the open IoT gateway")]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Args, Clone)]
struct Common {
    /// Data directory (store, CA, admin token) [default: ./steward-data]
    #[arg(long, global = true)]
    data: Option<PathBuf>,
    /// TOML configuration file (print a template with `steward config template`)
    #[arg(long, global = true)]
    config: Option<PathBuf>,
}

impl Common {
    fn load(&self) -> anyhow::Result<Config> {
        let mut c = Config::load(self.config.as_deref(), &ProcessEnv)?;
        if let Some(d) = &self.data {
            c.server.data = d.clone();
        }
        Ok(c)
    }
}

#[derive(Subcommand)]
enum Command {
    /// Run the gateway.
    Serve {
        #[command(flatten)]
        common: Common,
        /// HTTP API address [default: 127.0.0.1:8080]
        #[arg(long)]
        http: Option<SocketAddr>,
        /// MQTT over TLS address [default: 0.0.0.0:8883]
        #[arg(long)]
        mqtts: Option<SocketAddr>,
        /// CoAP over DTLS (PSK) address [default: 0.0.0.0:5684]
        #[arg(long)]
        coaps: Option<SocketAddr>,
    },
    /// Run a gateway with a simulated city fleet (air quality, parking, streetlights).
    Demo {
        /// Data directory [default: a new temporary directory]
        #[arg(long)]
        data: Option<PathBuf>,
        /// HTTP API address
        #[arg(long, default_value = "127.0.0.1:8080")]
        http: SocketAddr,
        /// MQTT over TLS address
        #[arg(long, default_value = "127.0.0.1:8883")]
        mqtts: SocketAddr,
        /// CoAP over DTLS (PSK) address
        #[arg(long, default_value = "127.0.0.1:5684")]
        coaps: SocketAddr,
        /// Number of simulated devices
        #[arg(long, default_value_t = 50)]
        devices: usize,
        /// Stop after this many seconds (default: run until Ctrl-C)
        #[arg(long)]
        seconds: Option<u64>,
    },
    /// Devices: add, list, show, update, revoke, delete, issue tokens.
    Device {
        #[command(subcommand)]
        command: DeviceCommand,
    },
    /// Device models.
    Model {
        #[command(subcommand)]
        command: ModelCommand,
    },
    /// MUD files (RFC 8520): check, sign, write, learn from a capture, show.
    Mud {
        #[command(subcommand)]
        command: mud_tools::MudCommand,
    },
    /// Firmware: sign, verify and show SUIT envelopes.
    Firmware {
        #[command(subcommand)]
        command: firmware::FirmwareCommand,
    },
    /// Firmware campaigns: staged rollouts in waves.
    Campaign {
        #[command(subcommand)]
        command: campaign::CampaignCommand,
    },
    /// Configuration.
    Config {
        #[command(subcommand)]
        command: ConfigCommand,
    },
    /// A device's effective policy in words; with --to, the verdict for one
    /// destination and the rules (with their provenance) that decide it.
    Explain {
        /// Device id or name.
        device: String,
        /// HOST[:PORT][/tcp|udp], e.g. api.example.com:443/tcp
        #[arg(long)]
        to: Option<String>,
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        common: Common,
    },
    /// Zones and consent rules: show, plan, apply, audit log; static addresses.
    Policy {
        #[command(subcommand)]
        command: policy::PolicyCommand,
    },
}

#[derive(Subcommand)]
enum DeviceCommand {
    /// Create a device and issue its certificate; writes NAME.crt, NAME.key, ca.crt.
    Add {
        name: String,
        #[arg(long)]
        model: String,
        /// Where to write the certificate files
        #[arg(long)]
        out: PathBuf,
        /// Sign this PEM CSR instead of making a key (the key stays on the device)
        #[arg(long)]
        csr: Option<PathBuf>,
        #[arg(long)]
        zone: Option<String>,
        #[arg(long = "tag")]
        tags: Vec<String>,
        #[command(flatten)]
        common: Common,
    },
    /// Register a device whose certificate a maker CA issued (see `[mqtt] maker_cas`).
    Enroll {
        name: String,
        #[arg(long)]
        model: String,
        /// The device's certificate (PEM)
        #[arg(long)]
        cert: PathBuf,
        #[arg(long)]
        zone: Option<String>,
        #[arg(long = "tag")]
        tags: Vec<String>,
        #[command(flatten)]
        common: Common,
    },
    /// Issue a DTLS pre-shared key for CoAP (identity = the device id; the key is the
    /// last line of output). A new key replaces the old one.
    Psk {
        device: String,
        #[command(flatten)]
        common: Common,
    },
    /// Issue an access token (for devices without client certificates).
    Token {
        device: String,
        #[command(flatten)]
        common: Common,
    },
    List {
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        common: Common,
    },
    Show {
        device: String,
        #[command(flatten)]
        common: Common,
    },
    Update {
        device: String,
        #[arg(long)]
        name: Option<String>,
        #[arg(long)]
        zone: Option<String>,
        #[arg(long)]
        firmware: Option<String>,
        /// Replace the tags (repeat the flag)
        #[arg(long = "tag")]
        tags: Option<Vec<String>>,
        #[command(flatten)]
        common: Common,
    },
    /// Revoke: certificate and tokens stop working at once; open connections close.
    Revoke {
        device: String,
        #[command(flatten)]
        common: Common,
    },
    Delete {
        device: String,
        #[command(flatten)]
        common: Common,
    },
}

#[derive(Subcommand)]
enum ModelCommand {
    List {
        #[command(flatten)]
        common: Common,
    },
    Show {
        name: String,
        #[command(flatten)]
        common: Common,
    },
    Update {
        name: String,
        #[arg(long)]
        manufacturer: Option<String>,
        #[arg(long)]
        mud_url: Option<String>,
        /// Payload decoder (as for `model add`)
        #[arg(long, value_parser = parse_decoder)]
        decoder: Option<payload::Decoder>,
        /// Thing spec (as for `model add`)
        #[arg(long, value_parser = crate::semantics::parse_thing)]
        thing: Option<::semantic::ThingSpec>,
        /// NGSI-LD mapping (as for `model add`)
        #[arg(long, value_parser = crate::semantics::parse_mapping)]
        ngsi: Option<::semantic::Mapping>,
        #[command(flatten)]
        common: Common,
    },
    /// Delete a model that no device uses.
    Delete {
        name: String,
        #[command(flatten)]
        common: Common,
    },
    Add {
        name: String,
        #[arg(long)]
        manufacturer: String,
        #[arg(long)]
        mud_url: Option<String>,
        /// Payload decoder: senml, lwm2m, cayenne-lpp, or a JSON declaration such as
        /// '{"kind":"json-map","readings":[...]}'
        #[arg(long, default_value = "senml", value_parser = parse_decoder)]
        decoder: payload::Decoder,
        /// Thing spec, JSON or @FILE: '{"properties":{"pm2_5":{"unit":"ug/m3"}},"actions":{...}}'
        #[arg(long, value_parser = crate::semantics::parse_thing)]
        thing: Option<::semantic::ThingSpec>,
        /// NGSI-LD mapping, JSON or @FILE:
        /// '{"type":"AirQualityObserved","attributes":[{"reading":"pm2_5","attribute":"pm25"}]}'
        #[arg(long, value_parser = crate::semantics::parse_mapping)]
        ngsi: Option<::semantic::Mapping>,
        #[command(flatten)]
        common: Common,
    },
    /// Make a model, with its thing model, from an IETF SDF file.
    ImportSdf(semantic::ImportSdf),
}

#[derive(Subcommand)]
enum ConfigCommand {
    /// Print a commented configuration file with every setting at its default.
    Template,
}

/// A decoder from the command line: a bare kind or a JSON declaration.
fn parse_decoder(text: &str) -> Result<payload::Decoder, String> {
    let json = if text.trim_start().starts_with('{') {
        text.to_string()
    } else {
        serde_json::json!({ "kind": text }).to_string()
    };
    let d: payload::Decoder =
        serde_json::from_str(&json).map_err(|e| format!("not a decoder declaration: {e}"))?;
    d.validate().map_err(|e| e.to_string())?;
    Ok(d)
}

fn open(common: &Common) -> anyhow::Result<server::DataDir> {
    let config = common.load()?;
    let data = server::open_data_dir(&config, Arc::new(SystemClock))?;
    if let Some(token) = &data.new_admin_token {
        eprintln!(
            "created data directory {}; admin token (also in {}/admin-token): {token}",
            data.path.display(),
            data.path.display()
        );
    }
    Ok(data)
}

fn print_json<T: serde::Serialize>(v: &T) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(v)?);
    Ok(())
}

pub fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Serve {
            common,
            http,
            mqtts,
            coaps,
        } => {
            let mut config = common.load()?;
            if let Some(a) = http {
                config.server.http = a;
            }
            if let Some(a) = mqtts {
                config.server.mqtts = a;
            }
            if let Some(a) = coaps {
                config.server.coaps = a;
            }
            runtime()?.block_on(async move {
                let data = server::open_data_dir(&config, Arc::new(SystemClock))?;
                if let Some(token) = &data.new_admin_token {
                    println!(
                        "admin token (shown once; also in {}/admin-token): {token}",
                        data.path.display()
                    );
                }
                let (http, mqtts) = server::bind(&config).await?;
                let coaps = server::bind_coaps(&config).await?;
                println!(
                    "HTTP API on http://{}  MQTT/TLS on {}  CoAP/DTLS on {}",
                    http.local_addr()?,
                    mqtts.local_addr()?,
                    coaps.local_addr()?
                );
                std::io::stdout().flush()?;
                server::run(config, data, http, mqtts, coaps, server::signals()).await
            })
        }
        Command::Demo {
            data,
            http,
            mqtts,
            coaps,
            devices,
            seconds,
        } => runtime()?.block_on(crate::demo::run(crate::demo::DemoOptions {
            data,
            http,
            mqtts,
            coaps,
            devices,
            seconds,
        })),
        Command::Explain {
            device,
            to,
            json,
            common,
        } => policy::explain(&device, to.as_deref(), json, &common),
        Command::Policy { command } => policy::run(command),
        Command::Config {
            command: ConfigCommand::Template,
        } => {
            print!("{}", config::TEMPLATE);
            Ok(())
        }
        Command::Model { command } => match command {
            ModelCommand::List { common } => print_json(&open(&common)?.store.models()?),
            ModelCommand::Show { name, common } => {
                print_json(&open(&common)?.registry.model(&name)?)
            }
            ModelCommand::Update {
                name,
                manufacturer,
                mud_url,
                decoder,
                thing,
                ngsi,
                common,
            } => {
                let data = open(&common)?;
                semantic::declare(
                    &data,
                    None,
                    &name,
                    crate::semantics::ModelSemantics { thing, ngsi },
                )?;
                print_json(&data.registry.update_model(
                    &name,
                    crate::registry::ModelPatch {
                        manufacturer,
                        mud_url,
                        decoder,
                    },
                )?)
            }
            ModelCommand::Delete { name, common } => {
                let m = open(&common)?.registry.delete_model(&name)?;
                eprintln!("model {} deleted", m.name);
                Ok(())
            }
            ModelCommand::Add {
                name,
                manufacturer,
                mud_url,
                decoder,
                thing,
                ngsi,
                common,
            } => {
                let sem = crate::semantics::ModelSemantics { thing, ngsi };
                let checked = semantic::check_new(&name, &manufacturer, &sem)?;
                let data = open(&common)?;
                let m = data.registry.create_model(Model {
                    id: uuid::Uuid::new_v4().to_string(),
                    manufacturer,
                    name,
                    mud_url,
                    decoder,
                    created: crate::clock::Clock::now(&SystemClock),
                })?;
                semantic::declare(&data, checked, &m.name, sem)?;
                print_json(&m)
            }
            ModelCommand::ImportSdf(args) => semantic::import_sdf(args),
        },
        Command::Device { command } => device(command),
        Command::Firmware { command } => {
            if firmware::run(command)? {
                Ok(())
            } else {
                std::process::exit(1)
            }
        }
        Command::Mud { command } => mud_tools::run(command),
        Command::Campaign { command } => {
            if campaign::run(command)? {
                Ok(())
            } else {
                std::process::exit(1)
            }
        }
    }
}

fn device(command: DeviceCommand) -> anyhow::Result<()> {
    match command {
        DeviceCommand::Add {
            name,
            model,
            out,
            csr,
            zone,
            tags,
            common,
        } => {
            let data = open(&common)?;
            let csr_pem = match &csr {
                Some(p) => Some(
                    std::fs::read_to_string(p)
                        .with_context(|| format!("reading CSR {}", p.display()))?,
                ),
                None => None,
            };
            std::fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;
            let issued = data.registry.add_device_with_certificate(
                NewDevice {
                    name: name.clone(),
                    model,
                    zone,
                    tags,
                    firmware_version: None,
                },
                csr_pem.as_deref(),
            )?;
            std::fs::write(out.join(format!("{name}.crt")), &issued.cert_pem)?;
            std::fs::write(out.join("ca.crt"), &issued.ca_pem)?;
            if let Some(key) = &issued.key_pem {
                let path = out.join(format!("{name}.key"));
                let _ = std::fs::remove_file(&path);
                crate::pki::write_new_file(&path, key.as_bytes(), 0o600)?;
            }
            eprintln!(
                "device {name} created; certificate files in {}",
                out.display()
            );
            println!("{}", issued.device.id);
            Ok(())
        }
        DeviceCommand::Enroll {
            name,
            model,
            cert,
            zone,
            tags,
            common,
        } => {
            let pem = std::fs::read_to_string(&cert)
                .with_context(|| format!("reading certificate {}", cert.display()))?;
            let d = open(&common)?.registry.enroll_certificate(
                NewDevice {
                    name,
                    model,
                    zone,
                    tags,
                    firmware_version: None,
                },
                &pem,
            )?;
            eprintln!("device {} enrolled with its certificate", d.name);
            println!("{}", d.id);
            Ok(())
        }
        DeviceCommand::Psk { device, common } => {
            let data = open(&common)?;
            let keys = crate::ingest::coap::PskKeys::load_or_create(&data.path)?;
            let (d, key) = keys.issue(&data.registry, &device)?;
            eprintln!(
                "CoAP/DTLS pre-shared key for device {} (PSK identity: {}); it is shown only now, and replaces any earlier key:",
                d.name, d.id
            );
            println!("{key}");
            Ok(())
        }
        DeviceCommand::Token { device, common } => {
            let (d, token) = open(&common)?.registry.issue_token(&device)?;
            eprintln!(
                "token for device {} ({}); it is shown only now:",
                d.name, d.id
            );
            println!("{token}");
            Ok(())
        }
        DeviceCommand::List { json, common } => {
            let devices = open(&common)?.registry.list()?;
            if json {
                return print_json(&devices);
            }
            println!(
                "{:<38} {:<24} {:<16} {:<11} {:<8} {:<12}",
                "ID", "NAME", "MODEL", "ZONE", "STATUS", "IDENTITY"
            );
            for d in devices {
                println!(
                    "{:<38} {:<24} {:<16} {:<11} {:<8} {:<12}",
                    d.id,
                    d.name,
                    d.model,
                    d.zone,
                    format!("{:?}", d.status).to_lowercase(),
                    d.strength.map(|s| s.as_str()).unwrap_or("-")
                );
            }
            Ok(())
        }
        DeviceCommand::Show { device, common } => {
            print_json(&open(&common)?.registry.get(&device)?)
        }
        DeviceCommand::Update {
            device,
            name,
            zone,
            firmware,
            tags,
            common,
        } => {
            let data = open(&common)?;
            let before = data.registry.get(&device)?;
            let d = data.registry.update(
                &device,
                crate::registry::DevicePatch {
                    name,
                    zone,
                    firmware_version: firmware,
                    tags,
                },
            )?;
            // A new zone or tags change the device's privileges: audited.
            crate::netpolicy::audit_device_change(
                &data.registry,
                &common.load()?.policy,
                &before,
                &d,
                &crate::netpolicy::cli_actor(),
                data.registry.clock(),
            )?;
            print_json(&d)
        }
        DeviceCommand::Revoke { device, common } => {
            let d = open(&common)?.registry.revoke(&device)?;
            eprintln!("device {} revoked", d.id);
            Ok(())
        }
        DeviceCommand::Delete { device, common } => {
            let d = open(&common)?.registry.delete(&device)?;
            eprintln!("device {} deleted", d.id);
            Ok(())
        }
    }
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")
}
