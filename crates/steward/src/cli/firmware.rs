//! `steward firmware …`: sign, verify and show SUIT envelopes (the maker's and the
//! operator's tools), thin over the `suit` crate; and, on a data directory,
//! `anchor` (a model's trust anchor), `upload` (envelope + payload), `list`,
//! `support` (a model's support period), over [`crate::updates::Updates`].

use std::path::PathBuf;

use anyhow::Context;
use clap::Subcommand;

#[derive(Subcommand)]
pub enum FirmwareCommand {
    /// Build and sign a SUIT envelope for a firmware image.
    Sign {
        /// Signing key (PEM: PKCS#8 P-256 or Ed25519, or SEC1 P-256)
        #[arg(long)]
        key: PathBuf,
        /// The firmware image
        #[arg(long)]
        payload: PathBuf,
        #[arg(long)]
        vendor_id: uuid::Uuid,
        #[arg(long)]
        class_id: uuid::Uuid,
        /// Sequence number (must grow with every release: anti-rollback)
        #[arg(long)]
        seq: u64,
        /// Where devices fetch the image
        #[arg(long)]
        uri: String,
        /// MUD URL the device adopts with this firmware (draft-ietf-suit-mud)
        #[arg(long)]
        mud_url: Option<String>,
        #[arg(long)]
        out: PathBuf,
    },
    /// Verify an envelope's signature (and the image digest with --payload).
    /// Exit 0 when valid, 1 when not, with the reason.
    Verify {
        file: PathBuf,
        /// The maker's public key (PEM)
        #[arg(long)]
        key: PathBuf,
        #[arg(long)]
        payload: Option<PathBuf>,
    },
    /// Print what an envelope says (not authenticated: use verify for that).
    Show {
        file: PathBuf,
        #[arg(long)]
        json: bool,
    },
    /// Set a model's trust anchor: the maker's public key and the vendor-id /
    /// class-id its manifests carry. Only envelopes that verify with it are accepted.
    Anchor {
        /// Model name
        model: String,
        /// The maker's public key (PEM)
        #[arg(long)]
        key: PathBuf,
        #[arg(long)]
        vendor_id: uuid::Uuid,
        #[arg(long)]
        class_id: uuid::Uuid,
        #[command(flatten)]
        common: super::Common,
    },
    /// Upload a firmware release: the payload (stored by its SHA-256) and its
    /// envelope, verified against the model's anchor. Prints the firmware id.
    Upload {
        file: PathBuf,
        #[arg(long)]
        payload: PathBuf,
        /// A version label for people (default: the sequence number)
        #[arg(long)]
        version: Option<String>,
        #[command(flatten)]
        common: super::Common,
    },
    /// List uploaded firmware.
    List {
        #[command(flatten)]
        common: super::Common,
    },
    /// Set a model's support period (devices past it are listed as out of support).
    Support {
        model: String,
        /// Last day of support, YYYY-MM-DD (UTC); `none` for no end
        #[arg(long)]
        until: String,
        #[command(flatten)]
        common: super::Common,
    },
}

/// Open the data directory's update tables (the CLI beside a running server).
pub(super) fn open_updates(common: &super::Common) -> anyhow::Result<crate::updates::Updates> {
    let config = common.load()?;
    let data = super::open(common)?;
    Ok(crate::updates::Updates::open(
        &data.path,
        data.registry,
        std::sync::Arc::new(crate::clock::SystemClock),
        config.updates.max_payload_bytes,
    )?)
}

fn parse_day(s: &str) -> anyhow::Result<Option<f64>> {
    if s == "none" {
        return Ok(None);
    }
    let fmt = time::macros::format_description!("[year]-[month]-[day]");
    let d = time::Date::parse(s, &fmt)
        .map_err(|e| anyhow::anyhow!("--until `{s}`: write YYYY-MM-DD or `none` ({e})"))?;
    // Supported through the whole of that day.
    let end = d.with_hms(23, 59, 59)?.assume_utc();
    Ok(Some(end.unix_timestamp() as f64))
}

fn read(path: &PathBuf) -> anyhow::Result<Vec<u8>> {
    std::fs::read(path).with_context(|| format!("reading {}", path.display()))
}

fn read_text(path: &PathBuf) -> anyhow::Result<String> {
    std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))
}

/// Runs a firmware command; `Ok(false)` means "not valid" (exit 1).
pub fn run(command: FirmwareCommand) -> anyhow::Result<bool> {
    match command {
        FirmwareCommand::Sign {
            key,
            payload,
            vendor_id,
            class_id,
            seq,
            uri,
            mud_url,
            out,
        } => {
            let key = suit::SigningKey::from_pem(&read_text(&key)?)
                .with_context(|| format!("signing key {}", key.display()))?;
            let image = read(&payload)?;
            let envelope = suit::build(
                &suit::BuildRequest {
                    payload: &image,
                    vendor_id,
                    class_id,
                    sequence_number: seq,
                    uri: &uri,
                    mud_url: mud_url.as_deref(),
                    mud_signer_ski: None,
                },
                &key,
            )?;
            std::fs::write(&out, &envelope)
                .with_context(|| format!("writing {}", out.display()))?;
            eprintln!(
                "signed envelope for {} ({} bytes, sequence {seq}) written to {}",
                payload.display(),
                image.len(),
                out.display()
            );
            Ok(true)
        }
        FirmwareCommand::Verify { file, key, payload } => {
            let key = suit::VerifyingKey::from_public_key_pem(&read_text(&key)?)
                .with_context(|| format!("public key {}", key.display()))?;
            let bytes = read(&file)?;
            let envelope = match suit::verify(&bytes, &key) {
                Ok(e) => e,
                Err(e) => {
                    println!("invalid: {}: {e}", file.display());
                    return Ok(false);
                }
            };
            if let Some(p) = payload
                && let Err(e) = envelope.check_payload(&read(&p)?)
            {
                println!("invalid: {} does not match the envelope: {e}", p.display());
                return Ok(false);
            }
            println!(
                "valid: {} (sequence {})",
                file.display(),
                envelope.sequence_number()
            );
            Ok(true)
        }
        FirmwareCommand::Anchor {
            model,
            key,
            vendor_id,
            class_id,
            common,
        } => {
            let u = open_updates(&common)?;
            let a = u.set_anchor(&model, &read_text(&key)?, vendor_id, class_id)?;
            println!(
                "trust anchor of model {} set (vendor-id {}, class-id {})",
                a.model, a.vendor_id, a.class_id
            );
            Ok(true)
        }
        FirmwareCommand::Upload {
            file,
            payload,
            version,
            common,
        } => {
            let u = open_updates(&common)?;
            let envelope = read(&file)?;
            let f = std::fs::File::open(&payload)
                .with_context(|| format!("reading {}", payload.display()))?;
            let (digest, size) = u
                .store_payload(std::io::BufReader::new(f))
                .with_context(|| format!("storing {}", payload.display()))?;
            eprintln!(
                "payload {} stored ({size} bytes, SHA-256 {digest})",
                payload.display()
            );
            let fw = u
                .upload(&envelope, version.as_deref())
                .with_context(|| format!("uploading {}", file.display()))?;
            eprintln!(
                "firmware {} accepted: model {}, sequence {}, version {}",
                fw.id, fw.model, fw.seq, fw.version
            );
            println!("{}", fw.id);
            Ok(true)
        }
        FirmwareCommand::List { common } => {
            let u = open_updates(&common)?;
            println!(
                "{}",
                serde_json::to_string_pretty(&u.store.firmware_list()?)?
            );
            Ok(true)
        }
        FirmwareCommand::Support {
            model,
            until,
            common,
        } => {
            let u = open_updates(&common)?;
            u.set_support(&model, parse_day(&until)?)?;
            println!("support period of model {model} set");
            Ok(true)
        }
        FirmwareCommand::Show { file, json } => {
            let envelope = suit::decode(&read(&file)?)
                .with_context(|| format!("decoding {}", file.display()))?;
            let summary = envelope.summary();
            if json {
                println!("{}", serde_json::to_string_pretty(&summary)?);
            } else {
                println!("{summary}");
            }
            Ok(true)
        }
    }
}
