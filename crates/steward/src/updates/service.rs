//! The update service inside the gateway: drives running campaigns (start the
//! next wave, halt, complete), publishes notices to devices over the broker,
//! takes devices' status reports from the broker, and notices again devices that
//! went quiet. Constrained devices on CoAP pull the same notice
//! ([`UpdateService::pull_notice`], with a `coaps://` download URL) and send the
//! same reports ([`UpdateService::report_status`]); one builder makes the notice
//! and one `apply` takes the reports for both transports. Every decision comes from [`super::campaign`] over the stored
//! state and is committed before it is acted on, so a restart resumes exactly
//! where the last run stopped: a wave already started is not started again (its
//! devices are noticed again, which a device that finished answers without
//! installing twice), and a wave not started yet starts.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine;
use bytes::Bytes;
use futures::future::BoxFuture;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use super::campaign::{Campaign, CampaignState, DeviceState, Step};
use super::{UpdateError, Updates};
use crate::config::UpdatesConfig;
use crate::ingest::mqtt::{Broker, StatusSink};
use crate::registry::DevicePatch;

/// A notice as devices receive it on `steward/v1/devices/{id}/update`, or as the
/// answer to CoAP `GET /update`.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Notice {
    pub campaign: String,
    pub firmware: String,
    pub seq: u64,
    /// The SUIT envelope, base64 (standard alphabet).
    pub envelope: String,
    /// Where to download the payload: HTTPS with device authentication for a
    /// notice over MQTT, `coaps://HOST:PORT/fw/{sha256}` for one over CoAP.
    pub url: String,
}

impl Notice {
    /// The notice in CBOR (RFC 8949) for constrained devices that ask for it
    /// (CoAP Accept 60): a map with the same keys, the envelope as a byte string
    /// instead of base64, keys in deterministic order (§4.2.1).
    pub fn to_cbor(&self) -> Result<Vec<u8>, UpdateError> {
        let envelope = base64::engine::general_purpose::STANDARD
            .decode(&self.envelope)
            .map_err(|e| {
                UpdateError::Internal(format!(
                    "the envelope of campaign {} is not base64: {e}",
                    self.campaign
                ))
            })?;
        let mut e = suit::cbor::Enc::new();
        e.map(5)
            .text("seq")
            .uint(self.seq)
            .text("url")
            .text(&self.url)
            .text("campaign")
            .text(&self.campaign)
            .text("envelope")
            .bytes(&envelope)
            .text("firmware")
            .text(&self.firmware);
        Ok(e.finish())
    }
}

/// How a notice reaches the device, which decides where it downloads from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Channel {
    /// Published on MQTT; the payload over HTTPS.
    Mqtt,
    /// Asked for with CoAP `GET /update`; the payload with `GET /fw/{sha256}`.
    Coap,
}

/// What became of a well-formed status report.
#[derive(Debug)]
pub enum Reported {
    /// Stored, or the state the device is in already (nothing to store).
    Stored,
    /// Not applied, nothing changed: stale, out of order, or for a campaign the
    /// device is not in. Says why.
    Ignored(String),
}

/// A device's report on `steward/v1/devices/{id}/update/status`.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StatusReport {
    pub campaign: String,
    pub state: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

pub struct UpdateService {
    updates: Updates,
    broker: Arc<Broker>,
    config: UpdatesConfig,
    /// `https://host:port` devices download from.
    base_url: String,
    /// `coaps://host:port` constrained devices download from (`/fw/{sha256}`).
    coap_url: String,
    wake: Notify,
    /// Campaign id → what its notices offer, read once.
    envelopes: Mutex<HashMap<String, Arc<Offer>>>,
}

/// What a campaign's notices offer: the payload digest, the sequence number,
/// the envelope in base64.
struct Offer {
    digest: String,
    seq: u64,
    envelope: String,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl UpdateService {
    pub fn new(
        updates: Updates,
        broker: Arc<Broker>,
        config: UpdatesConfig,
        base_url: String,
        coap_url: String,
    ) -> Arc<UpdateService> {
        Arc::new(UpdateService {
            updates,
            broker,
            config,
            base_url,
            coap_url,
            wake: Notify::new(),
            envelopes: Mutex::new(HashMap::new()),
        })
    }

    pub fn updates(&self) -> &Updates {
        &self.updates
    }

    /// Drive campaigns until `stop` is cancelled. Campaigns created, paused or
    /// resumed by another process (the CLI) are picked up on the next tick.
    pub async fn run(self: Arc<Self>, stop: CancellationToken) {
        let tick = Duration::from_millis(self.config.tick_ms.max(10));
        loop {
            let me = self.clone();
            let result = tokio::task::spawn_blocking(move || me.tick()).await;
            match result {
                Ok(Ok(notices)) => self.send(notices),
                Ok(Err(e)) => tracing::warn!(error = %e, "update service tick"),
                Err(e) => tracing::warn!(error = %e, "update service tick failed"),
            }
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = tokio::time::sleep(tick) => {}
                _ = self.wake.notified() => {}
            }
        }
    }

    /// One pass over the running campaigns; returns the notices to publish, all
    /// of them already recorded in the store.
    fn tick(&self) -> Result<Vec<(String, String)>, UpdateError> {
        let store = &self.updates.store;
        let now = self.updates.now();
        let mut notices = Vec::new();
        for id in store.running_campaigns()? {
            let Some(row) = store.campaign(&id)? else {
                continue;
            };
            let c = Campaign {
                state: row.state,
                current_wave: row.current_wave,
                waves: store.wave_counts(&id)?,
                failure_threshold: row.failure_threshold,
                accepted_through: row.accepted_through,
            };
            match c.step() {
                Step::Wait => {}
                Step::StartWave(w) => {
                    let devices = store.start_wave(&id, w, now)?;
                    tracing::info!(campaign = %id, wave = w, devices = devices.len(), "wave started");
                    notices.extend(devices.into_iter().map(|d| (id.clone(), d)));
                }
                Step::Halt {
                    wave,
                    failures,
                    total,
                } => {
                    let reason = format!(
                        "halted: {failures} of {total} devices of wave {} failed, more than {:.0} % allowed",
                        wave + 1,
                        row.failure_threshold * 100.0
                    );
                    tracing::warn!(campaign = %id, %reason);
                    store.set_campaign_state(
                        &id,
                        &[CampaignState::Running],
                        CampaignState::Halted,
                        Some(&reason),
                        false,
                        now,
                    )?;
                }
                Step::Complete => {
                    tracing::info!(campaign = %id, "campaign completed");
                    store.set_campaign_state(
                        &id,
                        &[CampaignState::Running],
                        CampaignState::Completed,
                        Some("every wave done"),
                        false,
                        now,
                    )?;
                }
            }
            if self.config.device_timeout_secs > 0 {
                let n = store.time_out(&id, now - self.config.device_timeout_secs as f64, now)?;
                if n > 0 {
                    tracing::info!(campaign = %id, devices = n, "devices timed out");
                }
            }
            let again = store.due_for_notice(
                &id,
                now - self.config.renotify_secs as f64,
                now,
                self.config.notices_per_tick,
            )?;
            notices.extend(again.into_iter().map(|d| (id.clone(), d)));
        }
        Ok(notices)
    }

    fn envelope_of(&self, campaign: &str) -> Result<Arc<Offer>, UpdateError> {
        if let Some(e) = lock(&self.envelopes).get(campaign) {
            return Ok(e.clone());
        }
        let store = &self.updates.store;
        let row = store
            .campaign(campaign)?
            .ok_or_else(|| UpdateError::NotFound(format!("campaign {campaign}")))?;
        let fw = store
            .firmware(&row.firmware)?
            .ok_or_else(|| UpdateError::NotFound(format!("firmware {}", row.firmware)))?;
        let env = store
            .envelope(&fw.id)?
            .ok_or_else(|| UpdateError::NotFound(format!("envelope of {}", fw.id)))?;
        let e = Arc::new(Offer {
            digest: fw.payload_digest,
            seq: fw.seq,
            envelope: base64::engine::general_purpose::STANDARD.encode(env),
        });
        lock(&self.envelopes).insert(campaign.to_string(), e.clone());
        Ok(e)
    }

    /// The notice of `campaign` for `device`: the one place its content is
    /// made, for MQTT and CoAP alike.
    fn notice(
        &self,
        campaign: &str,
        device: &str,
        channel: Channel,
    ) -> Result<Notice, UpdateError> {
        let offer = self.envelope_of(campaign)?;
        let url = match channel {
            Channel::Mqtt => format!(
                "{}/api/v1/devices/{device}/firmware/{}",
                self.base_url, offer.digest
            ),
            Channel::Coap => format!("{}/fw/{}", self.coap_url, offer.digest),
        };
        Ok(Notice {
            campaign: campaign.to_string(),
            firmware: offer.digest.clone(),
            seq: offer.seq,
            envelope: offer.envelope.clone(),
            url,
        })
    }

    /// Publish notices (QoS 1). A device that is not connected gets it again
    /// after `renotify_secs`.
    fn send(&self, notices: Vec<(String, String)>) {
        for (campaign, device) in notices {
            let notice = match self.notice(&campaign, &device, Channel::Mqtt) {
                Ok(n) => n,
                Err(e) => {
                    tracing::warn!(%campaign, error = %e, "notice");
                    continue;
                }
            };
            let Ok(body) = serde_json::to_vec(&notice) else {
                continue;
            };
            let d = self
                .broker
                .publish_to_device(&device, "update", Bytes::from(body), 1);
            tracing::debug!(%device, %campaign, delivery = ?d, "update notice");
        }
    }

    /// The notice for a device that asks for one (CoAP `GET /update`), if a
    /// running campaign has it in a started wave and it has not finished; the
    /// answer counts as a delivered notice, recorded before it is returned.
    pub async fn pull_notice(
        self: &Arc<Self>,
        device_id: &str,
    ) -> Result<Option<Notice>, UpdateError> {
        let (me, device) = (self.clone(), device_id.to_string());
        tokio::task::spawn_blocking(move || {
            let now = me.updates.now();
            let Some(campaign) = me.updates.store.notice_for(&device, now)? else {
                return Ok(None);
            };
            tracing::debug!(%device, %campaign, "update notice pulled");
            me.notice(&campaign, &device, Channel::Coap).map(Some)
        })
        .await
        .map_err(|e| UpdateError::Internal(format!("update notice worker: {e}")))?
    }

    /// A status report from a device that is not on MQTT (CoAP `POST
    /// /update/status`), applied as [`StatusSink::report`] applies one from
    /// MQTT; `Ok` once stored. A malformed report is [`UpdateError::Invalid`].
    pub async fn report_status(
        self: &Arc<Self>,
        device_id: &str,
        payload: Vec<u8>,
    ) -> Result<Reported, UpdateError> {
        let (me, device) = (self.clone(), device_id.to_string());
        tokio::task::spawn_blocking(move || me.apply(&device, &payload))
            .await
            .map_err(|e| UpdateError::Internal(format!("update status worker: {e}")))?
    }

    /// Apply a report (blocking: store writes). A report that is not a status
    /// report, or names a state a device cannot report, is
    /// [`UpdateError::Invalid`]; one the stored state does not allow is
    /// [`Reported::Ignored`]; any other error means it was not stored.
    fn apply(&self, device_id: &str, payload: &[u8]) -> Result<Reported, UpdateError> {
        let r: StatusReport = serde_json::from_slice(payload).map_err(|e| {
            UpdateError::Invalid(format!("update status is not a status report: {e}"))
        })?;
        let state = DeviceState::parse(&r.state)
            .filter(|s| *s != DeviceState::Pending && *s != DeviceState::Notified)
            .ok_or_else(|| {
                UpdateError::Invalid(format!(
                    "update status state `{}`: use downloading, installing, succeeded, failed or rolled_back",
                    r.state
                ))
            })?;
        // At most 500 characters (not bytes: cutting inside a UTF-8 sequence panics).
        let reason = r
            .reason
            .as_deref()
            .map(|s| s.chars().take(500).collect::<String>());
        let now = self.updates.now();
        match self
            .updates
            .store
            .apply_report(&r.campaign, device_id, state, reason.as_deref(), now)
        {
            Ok(Some(applied)) => {
                tracing::debug!(device = %device_id, campaign = %r.campaign, state = state.as_str(), "update status");
                if let Some(v) = applied.version {
                    let patch = DevicePatch {
                        firmware_version: Some(v),
                        ..Default::default()
                    };
                    if let Err(e) = self.updates.registry.update(device_id, patch) {
                        tracing::warn!(device = %device_id, error = %e, "recording the firmware version");
                    }
                }
                if let Some(url) = applied.mud_url {
                    tracing::info!(device = %device_id, %url, "the device's MUD URL follows its firmware");
                }
                self.wake.notify_one();
                Ok(Reported::Stored)
            }
            Ok(None) => Ok(Reported::Stored),
            // A stale or out-of-order report: the stored state stays as it is.
            Err(UpdateError::Invalid(why)) | Err(UpdateError::NotFound(why)) => {
                tracing::info!(device = %device_id, %why, "update status ignored");
                Ok(Reported::Ignored(why))
            }
            Err(e) => Err(e),
        }
    }
}

impl StatusSink for UpdateService {
    fn report(
        self: Arc<Self>,
        device_id: String,
        payload: Bytes,
    ) -> BoxFuture<'static, Result<(), String>> {
        Box::pin(async move {
            let result = tokio::task::spawn_blocking(move || self.apply(&device_id, &payload))
                .await
                .map_err(|e| format!("update status worker: {e}"))?;
            match result {
                // Over MQTT a stale report is logged, not held against the connection.
                Ok(Reported::Stored | Reported::Ignored(_)) => Ok(()),
                Err(UpdateError::Invalid(why)) => Err(why),
                Err(e) => Err(format!("update status not stored: {e}")),
            }
        })
    }
}
