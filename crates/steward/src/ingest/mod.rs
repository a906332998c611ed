//! Telemetry ingest: every transport (MQTT and CoAP here, HTTP in `api`) hands a
//! device's payload to [`Ingest`], which decodes it with the decoder the device's
//! model declares (the `payload` crate) into readings and commits them
//! durably; the transport acknowledges only when [`Ingest::ingest`] returns Ok.
//!
//! - `mqtt/`: the MQTT broker (TLS, sessions, topic access control).
//! - `coap/`: the CoAP endpoint (DTLS-PSK, block-wise transfer, deduplication).

pub mod coap;
pub mod mqtt;

use std::sync::Arc;

use base64::Engine;

use crate::clock::SharedClock;
use crate::metrics::Metrics;
use crate::registry::{Reading, ReadingValue};
use crate::store::commit::{CommitError, Committer};

pub use payload::{Decoder, Media};

/// Which topics a device may use, as its effective policy says (the policy
/// engine's messaging ACL, `policy::messaging`): every transport asks this, so
/// there is no second access-control configuration. A CoAP POST to `/T` is a
/// publish to `T`.
pub trait MessagingPolicy: Send + Sync + 'static {
    /// `None` when the device has no compiled policy (yet, or any more).
    fn may_publish(&self, device_id: &str, topic: &str) -> Option<bool>;
    /// `None` when the device has no compiled policy (yet, or any more).
    fn may_subscribe(&self, device_id: &str, filter: &str) -> Option<bool>;
}

/// Wait (bounded) until the policy engine has compiled a policy for a device
/// that was just registered: the engine follows registry events a few times a
/// second, so a device that connects right after `device add` is not refused.
pub async fn await_policy(
    p: &dyn MessagingPolicy,
    device_id: &str,
    within: std::time::Duration,
) -> bool {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        if p.may_publish(device_id, "").is_some() {
            return true;
        }
        if tokio::time::Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

/// Why a payload was not accepted.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error("invalid payload: {0}")]
    Decode(#[from] payload::DecodeError),
    #[error("the payload holds no readings")]
    Empty,
    #[error("not stored: {0}")]
    Commit(#[from] CommitError),
}

impl IngestError {
    /// Short label for metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            IngestError::Decode(_) | IngestError::Empty => "decode",
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
    limits: payload::Limits,
}

impl Ingest {
    pub fn new(committer: Committer, clock: SharedClock, metrics: Arc<Metrics>) -> Ingest {
        Ingest {
            committer,
            clock,
            metrics,
            limits: payload::Limits {
                max_payload: 16 * 1024 * 1024,
                max_readings: 10_000,
            },
        }
    }

    pub fn committer(&self) -> &Committer {
        &self.committer
    }

    /// Decode a payload with the device's model's decoder; nothing is stored if
    /// any part is bad.
    pub fn decode(
        &self,
        device_id: &str,
        decoder: &Decoder,
        media: Media,
        payload: &[u8],
    ) -> Result<Vec<Reading>, IngestError> {
        let now = self.clock.now();
        let resolved = decoder.decode_with(payload, media, now, self.limits)?;
        if resolved.is_empty() {
            return Err(IngestError::Empty);
        }
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
        decoder: &Decoder,
        media: Media,
        payload: &[u8],
        protocol: &str,
    ) -> Result<usize, IngestError> {
        self.metrics.message(protocol);
        let result = match self.decode(device_id, decoder, media, payload) {
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
