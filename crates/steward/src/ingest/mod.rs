//! Telemetry ingest: every transport (MQTT here, HTTP in `api`, CoAP later) hands a
//! device's payload to [`Ingest`], which decodes it into readings and commits them
//! durably; the transport acknowledges only when [`Ingest::ingest`] returns Ok.
//!
//! - `mqtt/`: the MQTT broker (TLS, sessions, topic access control).

pub mod mqtt;

use std::sync::Arc;

use base64::Engine;

use crate::clock::SharedClock;
use crate::metrics::Metrics;
use crate::registry::{Reading, ReadingValue};
use crate::store::commit::{CommitError, Committer};

/// Payload encodings a device may send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    SenmlJson,
    SenmlCbor,
}

impl Format {
    /// From a media type (HTTP Content-Type, MQTT 5 content type).
    pub fn from_media_type(media: &str) -> Option<Format> {
        let base = media.split(';').next().unwrap_or("").trim();
        match base.to_ascii_lowercase().as_str() {
            "application/senml+json" | "application/json" => Some(Format::SenmlJson),
            "application/senml+cbor" | "application/cbor" => Some(Format::SenmlCbor),
            _ => None,
        }
    }
}

/// Why a payload was not accepted.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error("invalid SenML: {0}")]
    Decode(#[from] senml::Error),
    #[error("the pack holds no records")]
    Empty,
    #[error("the pack holds {count} records; at most {max} are accepted in one message")]
    TooMany { count: usize, max: usize },
    #[error("not stored: {0}")]
    Commit(#[from] CommitError),
}

impl IngestError {
    /// Short label for metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            IngestError::Decode(_) | IngestError::Empty => "decode",
            IngestError::TooMany { .. } => "too_many_records",
            IngestError::Commit(_) => "commit",
        }
    }
    /// The device's fault (4xx), or ours (5xx)?
    pub fn is_client_error(&self) -> bool {
        !matches!(self, IngestError::Commit(_))
    }
}

#[derive(Clone)]
pub struct Ingest {
    committer: Committer,
    clock: SharedClock,
    metrics: Arc<Metrics>,
    max_records: usize,
}

impl Ingest {
    pub fn new(committer: Committer, clock: SharedClock, metrics: Arc<Metrics>) -> Ingest {
        Ingest {
            committer,
            clock,
            metrics,
            max_records: 10_000,
        }
    }

    pub fn committer(&self) -> &Committer {
        &self.committer
    }

    /// Decode a payload into readings; nothing is stored if any record is bad.
    pub fn decode(
        &self,
        device_id: &str,
        format: Format,
        payload: &[u8],
    ) -> Result<Vec<Reading>, IngestError> {
        let pack = match format {
            Format::SenmlJson => senml::Pack::from_json(payload)?,
            Format::SenmlCbor => senml::Pack::from_cbor(payload)?,
        };
        if pack.records.is_empty() {
            return Err(IngestError::Empty);
        }
        if pack.records.len() > self.max_records {
            return Err(IngestError::TooMany {
                count: pack.records.len(),
                max: self.max_records,
            });
        }
        let now = self.clock.now();
        let resolved = pack.resolve(now)?;
        Ok(resolved
            .into_iter()
            .map(|r| Reading {
                device_id: device_id.to_string(),
                name: r.name,
                unit: r.unit,
                value: r.value.map(|v| match v {
                    senml::Value::Number(n) => ReadingValue::Number(n),
                    senml::Value::String(s) => ReadingValue::String(s),
                    senml::Value::Bool(b) => ReadingValue::Bool(b),
                    senml::Value::Data(d) => ReadingValue::Data(
                        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(d),
                    ),
                }),
                sum: r.sum,
                time: r.time,
                received: now,
            })
            .collect())
    }

    /// Decode and durably commit; returns the number of readings stored.
    pub async fn ingest(
        &self,
        device_id: &str,
        format: Format,
        payload: &[u8],
        protocol: &str,
    ) -> Result<usize, IngestError> {
        self.metrics.message(protocol);
        let result = match self.decode(device_id, format, payload) {
            Ok(readings) => self.commit(readings).await,
            Err(e) => Err(e),
        };
        if let Err(e) = &result {
            self.metrics.error(e.kind());
        }
        result
    }

    /// Commit readings already decoded.
    pub async fn commit(&self, readings: Vec<Reading>) -> Result<usize, IngestError> {
        let n = readings.len();
        self.committer.commit(readings).await?;
        Ok(n)
    }
}
