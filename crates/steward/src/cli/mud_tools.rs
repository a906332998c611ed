//! `steward mud …`: the MUD tools for operators and makers, thin over the `mud` crate.
//!
//! | command | library call |
//! |---|---|
//! | `check` | [`mud::check`] on a file (and its detached signature) |
//! | `sign` | [`mud::signature::sign`], written beside the file as `.p7s` (RFC 8520 §13.2) |
//! | `new` | [`mud::builder::NewMud`] |
//! | `learn` | [`mud::learn::learn`] on a pcap / pcapng capture |
//! | `show` | [`mud::fetch::Fetcher`] for an `https://` URL (file and signature), then [`mud::check`] |
//!
//! Exit codes: 0 valid (warnings allowed), 1 invalid, 2 usage error (clap's own,
//! and inputs that cannot be read: a missing file, a CA file that is not PEM).

use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::Subcommand;
use mud::builder::{Allow, NewMud};
use mud::{CheckOptions, Mode, Report, TrustAnchors, UnsignedPolicy};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

#[derive(Subcommand)]
pub enum MudCommand {
    /// Check a MUD file: signature, syntax, references; print errors and warnings
    /// with their JSON paths, then what the file allows. Exit 0 valid, 1 invalid.
    Check {
        /// The MUD file (JSON).
        file: PathBuf,
        /// Its detached CMS signature (DER). Without it the file is checked as
        /// unsigned, with a warning (for authoring; enforcement never accepts that).
        #[arg(long, value_name = "FILE.p7s")]
        signature: Option<PathBuf>,
        /// A maker CA certificate (PEM) the signature must chain to. Repeatable.
        #[arg(long = "ca", value_name = "PEM")]
        ca: Vec<PathBuf>,
        /// Check certificates as of this time (RFC 3339, e.g. 2019-01-01T00:00:00Z)
        /// instead of now.
        #[arg(long, value_name = "RFC3339-TIME", value_parser = parse_time)]
        at: Option<OffsetDateTime>,
        /// Follow RFC 8520 strictly: no lenient acceptance of known deviations.
        #[arg(long)]
        strict: bool,
        /// Print a machine-readable JSON report instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Sign a MUD file: writes a detached, DER-encoded CMS signature beside it
    /// (`x.json` → `x.p7s`, RFC 8520 §13.2).
    Sign {
        /// The MUD file, exactly as it will be published.
        file: PathBuf,
        /// The signer's private key (PEM).
        #[arg(long, value_name = "KEY")]
        key: PathBuf,
        /// The signer's certificate (PEM).
        #[arg(long, value_name = "CERT")]
        cert: PathBuf,
        /// Intermediate CA certificates to embed (PEM).
        #[arg(long, value_name = "PEM")]
        chain: Option<PathBuf>,
        /// Where to write the signature [default: beside FILE, with .p7s].
        #[arg(long, value_name = "FILE.p7s")]
        out: Option<PathBuf>,
    },
    /// Write a new MUD file from a few facts. Then `steward mud sign` it.
    New {
        /// Where the file will be published (https://…).
        #[arg(long, value_name = "URL")]
        mud_url: String,
        /// The maker's name (mfg-name).
        #[arg(long, alias = "mfg-name", value_name = "NAME")]
        maker: Option<String>,
        /// The model name (model-name).
        #[arg(long, value_name = "NAME")]
        model: Option<String>,
        /// A short description of the device (systeminfo).
        #[arg(long, value_name = "TEXT")]
        systeminfo: Option<String>,
        /// URL of the device's documentation.
        #[arg(long, value_name = "URL")]
        documentation: Option<String>,
        #[arg(long, value_name = "REV")]
        firmware_rev: Option<String>,
        #[arg(long, value_name = "REV")]
        software_rev: Option<String>,
        /// URL of the signature, when it is not the MUD URL with .p7s.
        #[arg(long, value_name = "URL")]
        mud_signature: Option<String>,
        /// Hours a MUD manager may cache the file (1-168, default 48).
        #[arg(long, value_name = "HOURS", value_parser = clap::value_parser!(u8).range(1..=168))]
        cache_validity: Option<u8>,
        /// The maker no longer supports the device (is-supported: false).
        #[arg(long)]
        unsupported: bool,
        /// What the device may do: `[out:|in:]PROTO[/PORT]@PEER`, e.g.
        /// `tcp/443@api.maker.example`, `udp/123@pool.ntp.org`, `in:tcp/80@local-networks`,
        /// `udp/5683@my-controller`, `tcp/8883@manufacturer=maker.example`. Repeatable.
        #[arg(long, value_name = "SPEC", value_parser = parse_allow)]
        allow: Vec<Allow>,
        /// Output file [default: standard output].
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
    /// Write a MUD file allowing exactly what a device was seen doing in a capture.
    Learn {
        /// The capture (pcap or pcapng).
        #[arg(long, value_name = "CAPTURE")]
        pcap: PathBuf,
        /// The device: its IP or MAC address.
        #[arg(long, value_name = "IP-OR-MAC", value_parser = parse_device)]
        device: mud::learn::DeviceId,
        /// The MUD URL to write into the file.
        #[arg(long, value_name = "URL")]
        mud_url: String,
        #[arg(long, alias = "mfg-name", value_name = "NAME")]
        maker: Option<String>,
        #[arg(long, value_name = "NAME")]
        model: Option<String>,
        /// Output file [default: standard output].
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
    /// Fetch (an https:// URL) or read (a file) a MUD file, verify its signature
    /// and print what it allows. Exit 0 valid, 1 invalid.
    Show {
        /// An https:// MUD URL, or a local file.
        target: String,
        /// A maker CA certificate (PEM) the signature must chain to. Repeatable.
        #[arg(long = "ca", value_name = "PEM")]
        ca: Vec<PathBuf>,
        /// An extra CA certificate (PEM) to trust for the MUD server's TLS
        /// certificate, besides the public roots. Repeatable.
        #[arg(long = "tls-ca", value_name = "PEM")]
        tls_ca: Vec<PathBuf>,
        /// For a file: its signature [default: beside it, with .p7s].
        #[arg(long, value_name = "FILE.p7s")]
        signature: Option<PathBuf>,
        /// Accept a file without a signature (with a warning).
        #[arg(long)]
        allow_unsigned: bool,
        #[arg(long, value_name = "RFC3339-TIME", value_parser = parse_time)]
        at: Option<OffsetDateTime>,
        #[arg(long)]
        strict: bool,
        #[arg(long)]
        json: bool,
    },
}

fn parse_time(s: &str) -> Result<OffsetDateTime, String> {
    OffsetDateTime::parse(s, &Rfc3339)
        .map_err(|e| format!("'{s}' is not an RFC 3339 time such as 2019-01-01T00:00:00Z: {e}"))
}

fn parse_allow(s: &str) -> Result<Allow, String> {
    s.parse()
}

fn parse_device(s: &str) -> Result<mud::learn::DeviceId, String> {
    s.parse()
}

/// An input the user named cannot be used: exit 2, like clap's usage errors.
fn usage_error(e: anyhow::Error) -> ! {
    eprintln!("error: {e:#}");
    std::process::exit(2)
}

fn read_input(path: &Path, what: &str) -> Vec<u8> {
    std::fs::read(path)
        .with_context(|| format!("cannot read the {what} {}", path.display()))
        .unwrap_or_else(|e| usage_error(e))
}

fn anchors(ca: &[PathBuf]) -> TrustAnchors {
    let mut a = TrustAnchors::new();
    for p in ca {
        let pem = read_input(p, "CA certificate");
        if let Err(e) = a.add_pem(&pem) {
            usage_error(anyhow::anyhow!("{}: {e}", p.display()));
        }
    }
    a
}

/// `x.json` → `x.p7s`, anything else → `x….p7s` (RFC 8520 §13.2).
fn signature_path(file: &Path) -> PathBuf {
    if file.extension().is_some_and(|e| e == "json") {
        file.with_extension("p7s")
    } else {
        let mut s = file.as_os_str().to_owned();
        s.push(".p7s");
        PathBuf::from(s)
    }
}

/// Prints the report and exits 1 when the file is invalid.
fn finish(report: &Report, json: bool) -> anyhow::Result<()> {
    if json {
        println!("{}", serde_json::to_string_pretty(report)?);
    } else {
        print!("{}", report.to_text());
    }
    if !report.valid {
        std::process::exit(1);
    }
    Ok(())
}

fn write_out(out: Option<&Path>, bytes: &[u8]) -> anyhow::Result<()> {
    match out {
        Some(p) => {
            std::fs::write(p, bytes).with_context(|| format!("writing {}", p.display()))?;
            eprintln!("wrote {}", p.display());
        }
        None => {
            use std::io::Write;
            let mut o = std::io::stdout().lock();
            o.write_all(bytes)?;
            o.write_all(b"\n")?;
        }
    }
    Ok(())
}

pub fn run(command: MudCommand) -> anyhow::Result<()> {
    match command {
        MudCommand::Check {
            file,
            signature,
            ca,
            at,
            strict,
            json,
        } => {
            let bytes = read_input(&file, "MUD file");
            let mut opts = CheckOptions::unsigned_ok();
            if strict {
                opts.parse.mode = Mode::Strict;
            }
            opts.signature = signature.map(|p| read_input(&p, "signature"));
            opts.anchors = anchors(&ca);
            opts.at = at;
            finish(&mud::check(&bytes, &opts), json)
        }
        MudCommand::Sign {
            file,
            key,
            cert,
            chain,
            out,
        } => {
            let content = read_input(&file, "MUD file");
            let key = read_input(&key, "private key");
            let cert = read_input(&cert, "certificate");
            let chain = chain.map(|c| read_input(&c, "chain"));
            let sig = mud::signature::sign(&content, &cert, &key, chain.as_deref())
                .with_context(|| format!("signing {}", file.display()))?;
            let out = out.unwrap_or_else(|| signature_path(&file));
            std::fs::write(&out, sig).with_context(|| format!("writing {}", out.display()))?;
            eprintln!("wrote {}", out.display());
            Ok(())
        }
        MudCommand::New {
            mud_url,
            maker,
            model,
            systeminfo,
            documentation,
            firmware_rev,
            software_rev,
            mud_signature,
            cache_validity,
            unsupported,
            allow,
            out,
        } => {
            let mut m = NewMud::new(mud_url, OffsetDateTime::now_utc());
            m.mfg_name = maker;
            m.model_name = model;
            m.systeminfo = systeminfo;
            m.documentation = documentation;
            m.firmware_rev = firmware_rev;
            m.software_rev = software_rev;
            m.mud_signature = mud_signature;
            m.cache_validity = cache_validity;
            m.is_supported = !unsupported;
            m.allow = allow;
            let file = m
                .build()
                .unwrap_or_else(|e| usage_error(anyhow::anyhow!("cannot build the MUD file: {e}")));
            write_out(out.as_deref(), &file.to_json_bytes())
        }
        MudCommand::Learn {
            pcap,
            device,
            mud_url,
            maker,
            model,
            out,
        } => {
            let capture = read_input(&pcap, "capture");
            let mut opts =
                mud::learn::LearnOptions::new(device, mud_url, OffsetDateTime::now_utc());
            opts.mfg_name = maker;
            opts.model_name = model;
            let learned = mud::learn::learn(&capture, &opts)
                .with_context(|| format!("learning from {}", pcap.display()))?;
            eprintln!(
                "{} packets, {} from or to the device, {} flows",
                learned.packets,
                learned.device_packets,
                learned.flows.len()
            );
            for n in &learned.notes {
                eprintln!("note: {n}");
            }
            write_out(out.as_deref(), &learned.file.to_json_bytes())
        }
        MudCommand::Show {
            target,
            ca,
            tls_ca,
            signature,
            allow_unsigned,
            at,
            strict,
            json,
        } => {
            let mut opts = CheckOptions {
                anchors: anchors(&ca),
                at,
                unsigned: if allow_unsigned {
                    UnsignedPolicy::Allow
                } else {
                    UnsignedPolicy::Reject
                },
                ..Default::default()
            };
            if strict {
                opts.parse.mode = Mode::Strict;
            }
            let bytes = if target.contains("://") {
                let fetched = show_fetch(&target, &tls_ca)?;
                opts.fetched_from = Some(target.clone());
                opts.signature = fetched.signature;
                fetched.body
            } else {
                let file = PathBuf::from(&target);
                let bytes = read_input(&file, "MUD file");
                let sig = signature.unwrap_or_else(|| signature_path(&file));
                opts.signature = match std::fs::read(&sig) {
                    Ok(s) => Some(s),
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                        eprintln!("no signature at {}", sig.display());
                        None
                    }
                    Err(e) => usage_error(
                        anyhow::Error::new(e).context(format!("cannot read {}", sig.display())),
                    ),
                };
                bytes
            };
            finish(&mud::check(&bytes, &opts), json)
        }
    }
}

struct Shown {
    body: Vec<u8>,
    signature: Option<Vec<u8>>,
}

/// Fetches the file and its signature; notes on stderr (the status, why there
/// is no signature), so stdout stays the report.
fn show_fetch(url: &str, tls_ca: &[PathBuf]) -> anyhow::Result<Shown> {
    use mud::fetch::{FetchConfig, Fetcher, SystemClock};
    let config = FetchConfig {
        extra_roots_pem: tls_ca
            .iter()
            .map(|p| read_input(p, "TLS CA certificate"))
            .collect(),
        ..Default::default()
    };
    let fetcher = Fetcher::new(config, std::sync::Arc::new(SystemClock))
        .unwrap_or_else(|e| usage_error(e.into()));
    let fetched = match super::runtime()?.block_on(fetcher.fetch(url)) {
        Ok(f) => f,
        Err(e @ mud::fetch::FetchError::NotHttps(_)) => usage_error(e.into()),
        Err(e) => return Err(anyhow::Error::new(e).context(format!("fetching {url}"))),
    };
    eprintln!("{}", fetched.describe());
    if let Some(e) = &fetched.signature_error {
        eprintln!("no signature: {e}");
    }
    Ok(Shown {
        body: fetched.body,
        signature: fetched.signature,
    })
}
