//! The registry: devices, models and their identities, and the operations the CLI
//! and the API share (create, list, show, update, revoke, delete, issue credentials).
//!
//! - `types.rs`: the plain data.
//! - this file: [`Registry`], which checks input, talks to the [`Store`] and the [`Pki`].

pub mod types;

use std::sync::Arc;

use rand::RngCore;
use sha2::{Digest, Sha256};

use crate::clock::SharedClock;
use crate::pki::{Pki, PkiError};
use crate::store::{Store, StoreError};
pub use types::*;

/// Zones every Steward has; operators may add their own.
pub const BUILTIN_ZONES: [&str; 3] = ["trusted", "restricted", "quarantine"];
/// Where a device lands unless told otherwise.
pub const DEFAULT_ZONE: &str = "restricted";

#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("no device `{0}` (give its id or name)")]
    NoDevice(String),
    #[error("no model `{0}`")]
    NoModel(String),
    #[error("a device named `{0}` exists already")]
    NameTaken(String),
    #[error("invalid {field}: {reason}")]
    Invalid { field: &'static str, reason: String },
    #[error("device `{0}` is revoked")]
    Revoked(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Pki(#[from] PkiError),
}

/// Credentials issued to a new device.
pub struct IssuedCertificate {
    pub device: Device,
    pub cert_pem: String,
    /// Absent when the device sent a CSR (its key never left it).
    pub key_pem: Option<String>,
    pub ca_pem: String,
}

/// Fields an operator may change on a device.
#[derive(Debug, Default, Clone, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DevicePatch {
    pub name: Option<String>,
    pub zone: Option<String>,
    pub firmware_version: Option<String>,
    pub tags: Option<Vec<String>>,
}

/// Fields an operator may change on a model.
#[derive(Debug, Default, Clone, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ModelPatch {
    pub manufacturer: Option<String>,
    pub mud_url: Option<String>,
    #[schema(value_type = Option<Object>)]
    pub decoder: Option<payload::Decoder>,
}

/// Input for creating a device.
#[derive(Debug, Clone, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewDevice {
    pub name: String,
    pub model: String,
    #[serde(default)]
    pub zone: Option<String>,
    #[serde(default)]
    pub tags: Vec<String>,
    #[serde(default)]
    pub firmware_version: Option<String>,
}

#[derive(Clone)]
pub struct Registry {
    store: Arc<dyn Store>,
    pki: Arc<Pki>,
    clock: SharedClock,
}

/// A random secret of 32 bytes, base64url, with a prefix that says what it is.
pub fn new_secret(prefix: &str) -> String {
    use base64::Engine;
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    format!(
        "{prefix}{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    )
}

/// SHA-256 hex of a secret: what the store keeps instead of the secret.
pub fn secret_hash(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

fn check_decoder(decoder: &payload::Decoder) -> Result<(), RegistryError> {
    decoder.validate().map_err(|e| RegistryError::Invalid {
        field: "decoder",
        reason: e.to_string(),
    })
}

fn check_name(field: &'static str, value: &str) -> Result<(), RegistryError> {
    let ok = !value.is_empty()
        && value.len() <= 64
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if ok {
        Ok(())
    } else {
        Err(RegistryError::Invalid {
            field,
            reason: format!(
                "`{value}`: use 1 to 64 characters among letters, digits, '-', '_' and '.'"
            ),
        })
    }
}

impl Registry {
    pub fn new(store: Arc<dyn Store>, pki: Arc<Pki>, clock: SharedClock) -> Registry {
        Registry { store, pki, clock }
    }

    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    pub fn pki(&self) -> &Arc<Pki> {
        &self.pki
    }

    pub fn clock(&self) -> &SharedClock {
        &self.clock
    }

    /// The model with this name, created as a plain SenML model if unknown.
    pub fn ensure_model(&self, name: &str) -> Result<Model, RegistryError> {
        check_name("model", name)?;
        if let Some(m) = self.store.model_by_name(name)? {
            return Ok(m);
        }
        let model = Model {
            id: uuid::Uuid::new_v4().to_string(),
            manufacturer: "unknown".into(),
            name: name.into(),
            mud_url: None,
            decoder: payload::Decoder::Senml,
            created: self.clock.now(),
        };
        self.store.insert_model(&model)?;
        // Another process may have raced us to it: the store keeps names unique.
        self.store
            .model_by_name(name)?
            .ok_or_else(|| RegistryError::NoModel(name.into()))
    }

    pub fn create_model(&self, model: Model) -> Result<Model, RegistryError> {
        check_name("model", &model.name)?;
        check_decoder(&model.decoder)?;
        if self.store.model_by_name(&model.name)?.is_some() {
            return Err(RegistryError::Invalid {
                field: "name",
                reason: format!("a model named `{}` exists already", model.name),
            });
        }
        self.store.insert_model(&model)?;
        Ok(model)
    }

    pub fn model(&self, name: &str) -> Result<Model, RegistryError> {
        self.store
            .model_by_name(name)?
            .ok_or_else(|| RegistryError::NoModel(name.into()))
    }

    pub fn update_model(&self, name: &str, patch: ModelPatch) -> Result<Model, RegistryError> {
        let mut m = self.model(name)?;
        if let Some(v) = patch.manufacturer {
            m.manufacturer = v;
        }
        if let Some(v) = patch.mud_url {
            m.mud_url = Some(v);
        }
        if let Some(v) = patch.decoder {
            check_decoder(&v)?;
            m.decoder = v;
        }
        self.store.update_model(&m)?;
        self.model(name)
    }

    pub fn delete_model(&self, name: &str) -> Result<Model, RegistryError> {
        let m = self.model(name)?;
        self.store.delete_model(name)?;
        Ok(m)
    }

    pub fn create_device(&self, new: NewDevice) -> Result<Device, RegistryError> {
        check_name("name", &new.name)?;
        let zone = new.zone.unwrap_or_else(|| DEFAULT_ZONE.to_string());
        check_name("zone", &zone)?;
        for t in &new.tags {
            check_name("tag", t)?;
        }
        if self.store.device(&new.name)?.is_some() {
            return Err(RegistryError::NameTaken(new.name));
        }
        let model = self.ensure_model(&new.model)?;
        let device = Device {
            id: uuid::Uuid::new_v4().to_string(),
            name: new.name,
            model: model.name,
            zone,
            status: DeviceStatus::Active,
            created: self.clock.now(),
            last_seen: None,
            firmware_version: new.firmware_version,
            tags: new.tags,
            identities: Vec::new(),
            strength: None,
        };
        self.store.insert_device(&device)?;
        Ok(device)
    }

    /// Create a device and issue its certificate (key made here, or from the device's CSR).
    pub fn add_device_with_certificate(
        &self,
        new: NewDevice,
        csr_pem: Option<&str>,
    ) -> Result<IssuedCertificate, RegistryError> {
        // Check the CSR before anything is written, so a bad one leaves no half device.
        if let Some(csr) = csr_pem {
            self.pki.check_csr(csr)?;
        }
        let device = self.create_device(new)?;
        let issued = match csr_pem {
            Some(csr) => self.pki.sign_device_csr(&device.id, csr),
            None => self.pki.issue_device(&device.id),
        };
        let issued = match issued {
            Ok(i) => i,
            Err(e) => {
                self.store.delete_device(&device.id)?;
                return Err(e.into());
            }
        };
        self.store.add_identity(
            &device.id,
            &Identity {
                kind: IdentityKind::CertSha256,
                value: issued.fingerprint.clone(),
                strength: Strength::Certificate,
                created: self.clock.now(),
                label: Some(format!("CN={}", device.id)),
            },
        )?;
        let device = self.get(&device.id)?;
        Ok(IssuedCertificate {
            device,
            cert_pem: issued.cert_pem,
            key_pem: issued.key_pem,
            ca_pem: self.pki.ca_pem().to_string(),
        })
    }

    /// Create a device whose client certificate was issued elsewhere (by a maker CA
    /// listed in `[mqtt] maker_cas`): the certificate becomes its identity. The TLS
    /// layer still refuses it unless it chains to a trusted CA.
    pub fn enroll_certificate(
        &self,
        new: NewDevice,
        cert_pem: &str,
    ) -> Result<Device, RegistryError> {
        let invalid = |reason: String| RegistryError::Invalid {
            field: "certificate",
            reason,
        };
        use rustls_pki_types::pem::PemObject;
        let der = rustls_pki_types::CertificateDer::from_pem_slice(cert_pem.as_bytes())
            .map_err(|e| invalid(format!("no PEM certificate ({e})")))?;
        let (_, cert) = x509_parser::parse_x509_certificate(&der)
            .map_err(|e| invalid(format!("not an X.509 certificate ({e})")))?;
        if cert.is_ca() {
            return Err(invalid(
                "a CA certificate cannot be a device identity".into(),
            ));
        }
        let subject = cert.subject().to_string();
        let fingerprint = crate::pki::fingerprint(&der);
        if self
            .store
            .identity_owner(IdentityKind::CertSha256, &fingerprint)?
            .is_some()
        {
            return Err(invalid(
                "this certificate belongs to a device already".into(),
            ));
        }
        let device = self.create_device(new)?;
        self.store.add_identity(
            &device.id,
            &Identity {
                kind: IdentityKind::CertSha256,
                value: fingerprint,
                strength: Strength::Certificate,
                created: self.clock.now(),
                label: Some(subject),
            },
        )?;
        self.get(&device.id)
    }

    /// Issue an access token for a device; returns the token (shown once).
    pub fn issue_token(&self, device: &str) -> Result<(Device, String), RegistryError> {
        let d = self.get(device)?;
        if d.status == DeviceStatus::Revoked {
            return Err(RegistryError::Revoked(d.id));
        }
        let token = new_secret("stw_dev_");
        self.store.add_identity(
            &d.id,
            &Identity {
                kind: IdentityKind::TokenSha256,
                value: secret_hash(&token),
                strength: Strength::Token,
                created: self.clock.now(),
                label: None,
            },
        )?;
        Ok((self.get(&d.id)?, token))
    }

    pub fn get(&self, id_or_name: &str) -> Result<Device, RegistryError> {
        self.store
            .device(id_or_name)?
            .ok_or_else(|| RegistryError::NoDevice(id_or_name.into()))
    }

    pub fn list(&self) -> Result<Vec<Device>, RegistryError> {
        Ok(self.store.devices()?)
    }

    pub fn update(&self, id_or_name: &str, patch: DevicePatch) -> Result<Device, RegistryError> {
        let mut d = self.get(id_or_name)?;
        if let Some(name) = patch.name {
            check_name("name", &name)?;
            if name != d.name && self.store.device(&name)?.is_some() {
                return Err(RegistryError::NameTaken(name));
            }
            d.name = name;
        }
        if let Some(zone) = patch.zone {
            check_name("zone", &zone)?;
            d.zone = zone;
        }
        if let Some(tags) = patch.tags {
            for t in &tags {
                check_name("tag", t)?;
            }
            d.tags = tags;
        }
        if let Some(fw) = patch.firmware_version {
            d.firmware_version = Some(fw);
        }
        self.store.update_device(&d)?;
        self.get(&d.id)
    }

    /// Revoke: the device's certificate and tokens stop working at once, and a running
    /// server closes its open connections (it watches the store's event log).
    pub fn revoke(&self, id_or_name: &str) -> Result<Device, RegistryError> {
        let d = self.get(id_or_name)?;
        self.store.set_status(&d.id, DeviceStatus::Revoked)?;
        self.get(&d.id)
    }

    pub fn delete(&self, id_or_name: &str) -> Result<Device, RegistryError> {
        let d = self.get(id_or_name)?;
        self.store.delete_device(&d.id)?;
        Ok(d)
    }

    /// The active device that holds this identity, if any.
    pub fn authenticate(
        &self,
        kind: IdentityKind,
        value: &str,
    ) -> Result<Option<Device>, RegistryError> {
        let Some(device_id) = self.store.identity_owner(kind, value)? else {
            return Ok(None);
        };
        let d = self.get(&device_id)?;
        if d.status != DeviceStatus::Active {
            return Err(RegistryError::Revoked(d.id));
        }
        Ok(Some(d))
    }

    /// Check a device id + token pair (MQTT username/password, HTTP bearer).
    pub fn authenticate_token(
        &self,
        device_id: &str,
        token: &str,
    ) -> Result<Option<Device>, RegistryError> {
        match self.authenticate(IdentityKind::TokenSha256, &secret_hash(token))? {
            Some(d) if d.id == device_id => Ok(Some(d)),
            _ => Ok(None),
        }
    }
}
