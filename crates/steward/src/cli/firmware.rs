//! `steward firmware …`: sign, verify and show SUIT envelopes (the maker's and the
//! operator's tools), thin over the `suit` crate.

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
