//! Firmware updates (design doc, job 4): trust anchors per model, uploads of SUIT
//! envelopes and their payloads (stored content-addressed), anti-rollback,
//! campaigns in waves with an automatic halt, and the device protocol.
//!
//! - `campaign.rs`: the campaign engine as plain data (waves, transitions, halt rule).
//! - `range.rs`: HTTP Range requests for resumable payload downloads, as plain data.
//! - `store.rs`: the tables (in `steward.db`), one transaction per change.
//! - `service.rs`: [`service::UpdateService`], the I/O layer in the gateway: drives
//!   running campaigns, publishes notices over MQTT, takes devices' status reports.
//! - `demo.rs`: the demo fleet's maker, release and campaign.
//! - `agent.rs`: the device side (used by `steward demo` and the tests): verifies
//!   the envelope with its maker's key, downloads with Range, reports each state.
//! - this file: [`Updates`], the operations the CLI and the API share, and
//!   [`UpdateError`].
//!
//! Device protocol (README.md):
//! - notice: Steward publishes `{"campaign", "envelope" (base64), "url"}` to
//!   `steward/v1/devices/{id}/update`;
//! - status: the device publishes `{"campaign", "state", "reason"?}` to
//!   `steward/v1/devices/{id}/update/status` (`downloading`, `installing`,
//!   `succeeded`, `failed`, `rolled_back`);
//! - payload: `GET /api/v1/devices/{id}/firmware/{sha256}` over HTTPS with the
//!   device's client certificate (or token), Range requests welcome.

pub mod agent;
pub mod campaign;
pub mod demo;
pub mod range;
pub mod service;
pub mod store;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use sha2::{Digest, Sha256};

use crate::clock::SharedClock;
use crate::registry::{Device, Registry, RegistryError};
use campaign::{CampaignState, Control, WaveSpec};
use store::{Anchor, CampaignRow, Firmware, Selector, UpdateStore};

/// The update service's errors; the API maps them to HTTP statuses.
#[derive(Debug, thiserror::Error)]
pub enum UpdateError {
    #[error("{0}")]
    Invalid(String),
    #[error("envelope refused: {0}")]
    Envelope(#[from] suit::SuitError),
    #[error("not found: {0}")]
    NotFound(String),
    #[error("conflict: {0}")]
    Conflict(String),
    #[error("rollback refused: {0}")]
    Rollback(String),
    #[error(
        "payload of {size} bytes or more is larger than the limit of {limit} bytes ([updates] max_payload_bytes)"
    )]
    TooLarge { size: u64, limit: u64 },
    #[error("update store: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("corrupt update store row: {0}")]
    Corrupt(String),
    #[error("payload store {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Registry(#[from] RegistryError),
    #[error("{0}")]
    Internal(String),
}

/// SHA-256 hex.
pub fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

fn is_sha256_hex(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// A payload being written to the content-addressed store: hashed as it comes,
/// bounded in size, renamed to its digest only when complete.
pub struct PayloadWriter {
    file: tempfile::NamedTempFile,
    hasher: Sha256,
    size: u64,
    limit: u64,
    dir: PathBuf,
}

impl PayloadWriter {
    pub fn write(&mut self, chunk: &[u8]) -> Result<(), UpdateError> {
        self.size += chunk.len() as u64;
        if self.size > self.limit {
            return Err(UpdateError::TooLarge {
                size: self.size,
                limit: self.limit,
            });
        }
        self.hasher.update(chunk);
        self.file
            .write_all(chunk)
            .map_err(|source| UpdateError::Io {
                path: self.dir.clone(),
                source,
            })
    }

    /// Finish: when `expected` is given the digest must match it. Returns
    /// (digest, size); the file is durable (fsync) before it gets its name.
    pub fn finish(self, expected: Option<&str>) -> Result<(String, u64), UpdateError> {
        let digest = hex::encode(self.hasher.finalize());
        if let Some(e) = expected
            && e != digest
        {
            return Err(UpdateError::Invalid(format!(
                "the payload's SHA-256 is {digest}, not {e} as the request says"
            )));
        }
        let io = |source| UpdateError::Io {
            path: self.dir.clone(),
            source,
        };
        self.file.as_file().sync_all().map_err(io)?;
        let target = self.dir.join(&digest);
        self.file.persist(&target).map_err(|e| UpdateError::Io {
            path: target.clone(),
            source: e.error,
        })?;
        Ok((digest, self.size))
    }
}

/// What a campaign creation asks for.
#[derive(Debug, Clone, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewCampaign {
    pub name: Option<String>,
    /// Firmware id (or a prefix of at least 8 hex digits).
    pub firmware: String,
    #[serde(default)]
    pub selector: Selector,
    /// E.g. `"1%,10%,50%,100%"` or `"5,50%,100%"` (a canary of 5 first).
    pub waves: Option<String>,
    /// Halt when more than this share of a wave fails (default 0.1).
    pub failure_threshold: Option<f64>,
}

/// A device that is out of date or out of support.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct Outdated {
    pub device: Device,
    pub installed_seq: Option<u64>,
    pub latest_seq: Option<u64>,
    pub latest_version: Option<String>,
    pub support_until: Option<f64>,
    pub out_of_date: bool,
    pub out_of_support: bool,
}

/// The operations the CLI and the API share, over the store and the payload
/// directory. Synchronous (SQLite, files): the API calls it on the blocking pool.
#[derive(Clone)]
pub struct Updates {
    pub store: Arc<UpdateStore>,
    pub registry: Registry,
    payloads: PathBuf,
    clock: SharedClock,
    max_payload: u64,
}

impl Updates {
    /// Open the update tables in `data/steward.db` and the payload directory
    /// `data/payloads/`.
    pub fn open(
        data: &Path,
        registry: Registry,
        clock: SharedClock,
        max_payload: u64,
    ) -> Result<Updates, UpdateError> {
        let payloads = data.join("payloads");
        std::fs::create_dir_all(&payloads).map_err(|source| UpdateError::Io {
            path: payloads.clone(),
            source,
        })?;
        Ok(Updates {
            store: Arc::new(UpdateStore::open(&data.join("steward.db"))?),
            registry,
            payloads,
            clock,
            max_payload,
        })
    }

    pub fn now(&self) -> f64 {
        self.clock.now()
    }

    pub fn max_payload(&self) -> u64 {
        self.max_payload
    }

    /// Where a payload with this digest lives (whether or not it exists).
    pub fn payload_path(&self, digest: &str) -> Option<PathBuf> {
        is_sha256_hex(digest).then(|| self.payloads.join(digest))
    }

    pub fn payload_writer(&self) -> Result<PayloadWriter, UpdateError> {
        let file = tempfile::Builder::new()
            .prefix(".incoming-")
            .tempfile_in(&self.payloads)
            .map_err(|source| UpdateError::Io {
                path: self.payloads.clone(),
                source,
            })?;
        Ok(PayloadWriter {
            file,
            hasher: Sha256::new(),
            size: 0,
            limit: self.max_payload,
            dir: self.payloads.clone(),
        })
    }

    /// Store a payload from a reader (the CLI).
    pub fn store_payload(&self, mut r: impl std::io::Read) -> Result<(String, u64), UpdateError> {
        let mut w = self.payload_writer()?;
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = r.read(&mut buf).map_err(|source| UpdateError::Io {
                path: PathBuf::from("payload input"),
                source,
            })?;
            if n == 0 {
                break;
            }
            w.write(&buf[..n])?;
        }
        w.finish(None)
    }

    /// Register a model's trust anchor: the maker's public key and the SUIT
    /// vendor-id / class-id its manifests carry.
    pub fn set_anchor(
        &self,
        model: &str,
        key_pem: &str,
        vendor_id: uuid::Uuid,
        class_id: uuid::Uuid,
    ) -> Result<Anchor, UpdateError> {
        self.registry.model(model)?;
        suit::VerifyingKey::from_public_key_pem(key_pem)
            .map_err(|e| UpdateError::Invalid(format!("the anchor key: {e}")))?;
        let a = Anchor {
            model: model.to_string(),
            vendor_id: vendor_id.to_string(),
            class_id: class_id.to_string(),
            key_pem: key_pem.to_string(),
        };
        self.store.set_anchor(&a, self.now())?;
        Ok(a)
    }

    /// Accept an envelope: find its model by vendor-id and class-id, verify it
    /// with that model's anchor, check that its payload is stored and matches,
    /// refuse a sequence number that does not grow.
    pub fn upload(&self, envelope: &[u8], version: Option<&str>) -> Result<Firmware, UpdateError> {
        // Unauthenticated decode, only to learn which anchor to verify with.
        let probe = suit::decode(envelope)?;
        let comps = probe.components();
        let first = comps
            .first()
            .ok_or_else(|| UpdateError::Invalid("the manifest names no component".into()))?;
        if comps.len() != 1 {
            return Err(UpdateError::Invalid(format!(
                "the manifest has {} components; Steward's campaigns take single-image manifests",
                comps.len()
            )));
        }
        let (Some(vendor), Some(class)) = (&first.params.vendor_id, &first.params.class_id) else {
            return Err(UpdateError::Invalid(
                "the manifest sets no vendor-id and class-id: Steward cannot tell which model's anchor applies".into(),
            ));
        };
        let anchor = self.store.anchor_for(vendor, class)?.ok_or_else(|| {
            UpdateError::NotFound(format!(
                "no trust anchor for vendor-id {vendor} class-id {class}: add one with `steward firmware anchor`"
            ))
        })?;
        let key = suit::VerifyingKey::from_public_key_pem(&anchor.key_pem)?;
        let env = suit::verify(envelope, &key)?;
        // After verification, read the parameters from the authenticated copy.
        let params = env.parameters();
        let p = params
            .first()
            .ok_or_else(|| UpdateError::Invalid("the manifest names no component".into()))?;
        let digest = p
            .image_digest
            .as_ref()
            .ok_or_else(|| UpdateError::Invalid("the manifest has no image digest".into()))?;
        if digest.algorithm != suit::DigestAlgorithm::Sha256 {
            return Err(UpdateError::Invalid(format!(
                "the image digest is {}: Steward stores payloads by SHA-256",
                digest.algorithm.name()
            )));
        }
        let hex_digest = digest.hex();
        let path = self
            .payload_path(&hex_digest)
            .ok_or_else(|| UpdateError::Internal("digest is not hex".into()))?;
        let stored = std::fs::metadata(&path).map_err(|_| {
            UpdateError::NotFound(format!(
                "no stored payload with SHA-256 {hex_digest}: upload the payload first"
            ))
        })?;
        let size = p
            .image_size
            .ok_or_else(|| UpdateError::Invalid("the manifest has no image size".into()))?;
        if size != stored.len() {
            return Err(UpdateError::Invalid(format!(
                "the manifest claims an image of {size} bytes, the stored payload with that digest has {}",
                stored.len()
            )));
        }
        // SQLite integers are signed 64-bit: a larger sequence number could not
        // be compared correctly for anti-rollback, so it is refused (RFC 9124
        // §4.2.3 only asks that it grow; 2^63 leaves room for any scheme).
        if env.sequence_number() > i64::MAX as u64 {
            return Err(UpdateError::Invalid(format!(
                "sequence number {} is above {}, the largest Steward can store and compare",
                env.sequence_number(),
                i64::MAX
            )));
        }
        let fw = Firmware {
            id: sha256_hex(envelope),
            model: anchor.model.clone(),
            component: first.id.clone(),
            seq: env.sequence_number(),
            version: version
                .map(str::to_string)
                .unwrap_or_else(|| env.sequence_number().to_string()),
            payload_digest: hex_digest,
            payload_size: size,
            mud_url: env.mud_url().map(str::to_string),
            created: self.now(),
        };
        self.store.insert_firmware(&fw, envelope)
    }

    fn firmware(&self, id: &str) -> Result<Firmware, UpdateError> {
        self.store
            .firmware(id)?
            .ok_or_else(|| UpdateError::NotFound(format!("no firmware `{id}` (give its id)")))
    }

    /// Create a campaign: select devices, leave out those already at this
    /// sequence number or above (anti-rollback per device and component), plan
    /// the waves, store it all in one transaction.
    pub fn create_campaign(&self, new: NewCampaign) -> Result<(CampaignRow, usize), UpdateError> {
        let fw = self.firmware(&new.firmware)?;
        if let Some(m) = &new.selector.model
            && *m != fw.model
        {
            return Err(UpdateError::Invalid(format!(
                "the firmware is for model {}, the selector names model {m}",
                fw.model
            )));
        }
        let threshold = new.failure_threshold.unwrap_or(0.1);
        if !(0.0..=1.0).contains(&threshold) {
            return Err(UpdateError::Invalid(
                "failure_threshold must be between 0 and 1".into(),
            ));
        }
        let waves = WaveSpec::parse_list(new.waves.as_deref().unwrap_or("1%,10%,50%,100%"))
            .map_err(UpdateError::Invalid)?;
        let mut devices: Vec<Device> = self
            .registry
            .list()?
            .into_iter()
            .filter(|d| d.model == fw.model && d.status == crate::registry::DeviceStatus::Active)
            .filter(|d| new.selector.zone.as_ref().is_none_or(|z| *z == d.zone))
            .filter(|d| new.selector.tags.iter().all(|t| d.tags.contains(t)))
            .filter(|d| {
                new.selector
                    .firmware_version
                    .as_ref()
                    .is_none_or(|v| d.firmware_version.as_ref() == Some(v))
            })
            .collect();
        let selected = devices.len();
        let mut current = 0;
        devices.retain(|d| match self.store.device_seq(&d.id, &fw.component) {
            Ok(Some(s)) if s >= fw.seq => {
                current += 1;
                false
            }
            _ => true,
        });
        if devices.is_empty() {
            return Err(UpdateError::Invalid(format!(
                "no device to update: {selected} selected, {current} of them at sequence {} or above already",
                fw.seq
            )));
        }
        devices.sort_by(|a, b| a.id.cmp(&b.id));
        let plan = campaign::plan_waves(devices.len(), &waves);
        let now = self.now();
        let id = uuid::Uuid::new_v4().to_string();
        let row = CampaignRow {
            name: new
                .name
                .unwrap_or_else(|| format!("{}-{}", fw.model, fw.version)),
            id,
            firmware: fw.id,
            selector: new.selector,
            waves,
            failure_threshold: threshold,
            state: CampaignState::Running,
            current_wave: None,
            accepted_through: None,
            reason: None,
            created: now,
            updated: now,
        };
        let pairs: Vec<(String, usize)> = devices.into_iter().map(|d| d.id).zip(plan).collect();
        self.store.insert_campaign(&row, &pairs)?;
        Ok((row, pairs.len()))
    }

    fn campaign(&self, id: &str) -> Result<CampaignRow, UpdateError> {
        self.store
            .campaign(id)?
            .ok_or_else(|| UpdateError::NotFound(format!("no campaign `{id}`")))
    }

    /// Pause, resume or abort. Resuming a halted campaign accepts the failures
    /// of the wave that halted it.
    pub fn control(&self, id: &str, c: Control) -> Result<CampaignRow, UpdateError> {
        let row = self.campaign(id)?;
        let to = campaign::control(row.state, c).map_err(UpdateError::Conflict)?;
        let accept = row.state == CampaignState::Halted && to == CampaignState::Running;
        let reason = match c {
            Control::Pause => "paused by an operator",
            Control::Resume => "resumed by an operator",
            Control::Abort => "aborted by an operator",
        };
        if !self.store.set_campaign_state(
            &row.id,
            &[row.state],
            to,
            Some(reason),
            accept,
            self.now(),
        )? {
            return Err(UpdateError::Conflict(
                "the campaign changed meanwhile; try again".into(),
            ));
        }
        self.campaign(&row.id)
    }

    pub fn set_support(&self, model: &str, until: Option<f64>) -> Result<(), UpdateError> {
        self.registry.model(model)?;
        self.store.set_support(model, until)
    }

    /// Devices out of date (a newer release of their model exists than what they
    /// run) or out of support (their model's support period is over).
    pub fn outdated(&self) -> Result<Vec<Outdated>, UpdateError> {
        let now = self.now();
        let installed: std::collections::HashMap<String, u64> = self
            .store
            .device_firmware_all()?
            .into_iter()
            .map(|(d, _, s)| (d, s))
            .collect();
        let mut out = Vec::new();
        let mut latest = std::collections::HashMap::new();
        for d in self.registry.list()? {
            if !latest.contains_key(&d.model) {
                let l = self.store.latest_firmware(&d.model)?;
                let s = self.store.support_until(&d.model)?;
                latest.insert(d.model.clone(), (l, s));
            }
            let (l, support) = &latest[&d.model];
            let seq = installed.get(&d.id).copied();
            let out_of_date = match l {
                Some(f) => {
                    seq.is_none_or(|s| s < f.seq)
                        && d.firmware_version.as_deref() != Some(f.version.as_str())
                }
                None => false,
            };
            let out_of_support = support.is_some_and(|u| u < now);
            if out_of_date || out_of_support {
                out.push(Outdated {
                    installed_seq: seq,
                    latest_seq: l.as_ref().map(|f| f.seq),
                    latest_version: l.as_ref().map(|f| f.version.clone()),
                    support_until: *support,
                    out_of_date,
                    out_of_support,
                    device: d,
                });
            }
        }
        Ok(out)
    }
}
