//! Pre-shared keys for CoAP over DTLS (RFC 7925 §4.2): the PSK identity is the
//! device id, the key is derived, never stored.
//!
//! On first use the gateway makes a 32-byte secret, `coap-psk.secret` in the data
//! directory (mode 0600). A device's key is HKDF-SHA256 (RFC 5869) of that secret
//! with the device id and a per-device generation counter (kept in the store's
//! meta table) as `info`. `steward device psk` bumps the generation, so issuing a
//! new key invalidates the old one; the store keeps only the SHA-256 of the current
//! key as the device's `psk` identity. The key is printable text (it is what
//! clients such as `coap-client -k` take), and its UTF-8 bytes are the DTLS PSK.

use std::path::{Path, PathBuf};

use base64::Engine;
use hkdf::Hkdf;
use rand::RngCore;
use sha2::Sha256;

use crate::pki::{PkiError, write_new_file};
use crate::registry::{
    Device, DeviceStatus, Identity, IdentityKind, Registry, RegistryError, secret_hash,
};

/// File name of the gateway's PSK secret in the data directory.
pub const SECRET_FILE: &str = "coap-psk.secret";
const KEY_PREFIX: &str = "stw_psk_";

fn generation_key(device_id: &str) -> String {
    format!("coap.psk_generation.{device_id}")
}

/// Why the gateway's PSK secret could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum PskError {
    #[error(transparent)]
    Write(#[from] PkiError),
    #[error("reading {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {reason}; delete it to make a new one (every device then needs a new PSK)")]
    Invalid { path: PathBuf, reason: String },
}

/// The gateway's PSK secret, from which every device key is derived.
#[derive(Clone)]
pub struct PskKeys {
    secret: [u8; 32],
}

impl std::fmt::Debug for PskKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PskKeys(..)")
    }
}

impl PskKeys {
    /// Read the secret from the data directory, making it on first use. Safe when
    /// the server and the CLI race to create it (the file is created exclusively).
    pub fn load_or_create(dir: &Path) -> Result<PskKeys, PskError> {
        let path = dir.join(SECRET_FILE);
        if !path.exists() {
            let mut secret = [0u8; 32];
            rand::rng().fill_bytes(&mut secret);
            write_new_file(&path, hex::encode(secret).as_bytes(), 0o600)?;
        }
        let text = std::fs::read_to_string(&path).map_err(|source| PskError::Read {
            path: path.clone(),
            source,
        })?;
        let invalid = |reason: String| PskError::Invalid {
            path: path.clone(),
            reason,
        };
        let bytes = hex::decode(text.trim()).map_err(|e| invalid(format!("not hex ({e})")))?;
        let secret: [u8; 32] = bytes
            .try_into()
            .map_err(|_| invalid("the secret must be 32 bytes (64 hex digits)".into()))?;
        Ok(PskKeys { secret })
    }

    #[cfg(test)]
    pub fn from_secret(secret: [u8; 32]) -> PskKeys {
        PskKeys { secret }
    }

    /// The key of one generation of a device's PSK.
    pub fn derive(&self, device_id: &str, generation: u64) -> String {
        let hk = Hkdf::<Sha256>::new(Some(b"steward coap psk v1"), &self.secret);
        let mut info = Vec::with_capacity(device_id.len() + 9);
        info.extend_from_slice(device_id.as_bytes());
        info.push(0);
        info.extend_from_slice(&generation.to_be_bytes());
        let mut okm = [0u8; 24];
        // 24 bytes is far below HKDF-SHA256's limit of 255 * 32: cannot fail.
        let _ = hk.expand(&info, &mut okm);
        format!(
            "{KEY_PREFIX}{}",
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(okm)
        )
    }

    /// Issue a new PSK for a device (the old one stops working); returns the key,
    /// which is shown once.
    pub fn issue(
        &self,
        registry: &Registry,
        device: &str,
    ) -> Result<(Device, String), RegistryError> {
        let d = registry.get(device)?;
        if d.status == DeviceStatus::Revoked {
            return Err(RegistryError::Revoked(d.id));
        }
        let store = registry.store();
        let generation = current_generation(registry, &d.id)? + 1;
        let key = self.derive(&d.id, generation);
        store.set_meta(&generation_key(&d.id), &generation.to_string())?;
        store.replace_identity(
            &d.id,
            &Identity {
                kind: IdentityKind::Psk,
                value: secret_hash(&key),
                strength: IdentityKind::Psk.strength(),
                created: crate::clock::Clock::now(&crate::clock::SystemClock),
                label: Some(format!("PSK generation {generation}")),
            },
        )?;
        Ok((registry.get(&d.id)?, key))
    }

    /// The current key of the device whose PSK identity this is, if it is an active
    /// device holding a PSK; with the generation, so a session can notice rotation.
    pub fn lookup(
        &self,
        registry: &Registry,
        identity: &str,
    ) -> Result<Option<(Device, u64, String)>, RegistryError> {
        let Some(d) = registry.store().device(identity)? else {
            return Ok(None);
        };
        // The identity is the id, not the name (names can change).
        if d.id != identity || d.status != DeviceStatus::Active {
            return Ok(None);
        }
        let generation = current_generation(registry, &d.id)?;
        if generation == 0 {
            return Ok(None);
        }
        let key = self.derive(&d.id, generation);
        let hash = secret_hash(&key);
        let holds = d
            .identities
            .iter()
            .any(|i| i.kind == IdentityKind::Psk && i.value == hash);
        Ok(holds.then_some((d, generation, key)))
    }
}

fn current_generation(registry: &Registry, device_id: &str) -> Result<u64, RegistryError> {
    Ok(registry
        .store()
        .meta(&generation_key(device_id))?
        .and_then(|v| v.parse().ok())
        .unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_differ_by_device_generation_and_secret() {
        let k = PskKeys::from_secret([7; 32]);
        let a1 = k.derive("a", 1);
        assert!(a1.starts_with(KEY_PREFIX));
        assert_eq!(a1.len(), KEY_PREFIX.len() + 32);
        assert_eq!(a1, k.derive("a", 1));
        assert_ne!(a1, k.derive("a", 2));
        assert_ne!(a1, k.derive("b", 1));
        assert_ne!(a1, PskKeys::from_secret([8; 32]).derive("a", 1));
    }
}
