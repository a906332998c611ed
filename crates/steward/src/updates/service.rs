//! The update service inside the gateway: drives running campaigns (start the
//! next wave, halt, complete), publishes notices to devices over the broker,
//! takes devices' status reports from the broker, and notices again devices that
//! went quiet. Every decision comes from [`super::campaign`] over the stored
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

/// A notice as devices receive it on `steward/v1/devices/{id}/update`.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Notice {
    pub campaign: String,
    pub firmware: String,
    pub seq: u64,
    /// The SUIT envelope, base64 (standard alphabet).
    pub envelope: String,
    /// Where to download the payload (HTTPS, device authentication).
    pub url: String,
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
    ) -> Arc<UpdateService> {
        Arc::new(UpdateService {
            updates,
            broker,
            config,
            base_url,
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

    /// Publish notices (QoS 1). A device that is not connected gets it again
    /// after `renotify_secs`.
    fn send(&self, notices: Vec<(String, String)>) {
        for (campaign, device) in notices {
            let env = match self.envelope_of(&campaign) {
                Ok(e) => e,
                Err(e) => {
                    tracing::warn!(%campaign, error = %e, "notice");
                    continue;
                }
            };
            let notice = Notice {
                campaign: campaign.clone(),
                firmware: env.digest.clone(),
                seq: env.seq,
                envelope: env.envelope.clone(),
                url: format!(
                    "{}/api/v1/devices/{device}/firmware/{}",
                    self.base_url, env.digest
                ),
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

    /// Apply a report (blocking: store writes).
    fn apply(&self, device_id: &str, payload: &[u8]) -> Result<(), String> {
        let r: StatusReport = serde_json::from_slice(payload)
            .map_err(|e| format!("update status is not a status report: {e}"))?;
        let state = DeviceState::parse(&r.state)
            .filter(|s| *s != DeviceState::Pending && *s != DeviceState::Notified)
            .ok_or_else(|| {
                format!(
                    "update status state `{}`: use downloading, installing, succeeded, failed or rolled_back",
                    r.state
                )
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
                Ok(())
            }
            Ok(None) => Ok(()),
            // A stale or out-of-order report is logged, not held against the
            // connection: the stored state stays as it is.
            Err(UpdateError::Invalid(why)) | Err(UpdateError::NotFound(why)) => {
                tracing::info!(device = %device_id, %why, "update status ignored");
                Ok(())
            }
            Err(e) => Err(format!("update status not stored: {e}")),
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
            tokio::task::spawn_blocking(move || self.apply(&device_id, &payload))
                .await
                .map_err(|e| format!("update status worker: {e}"))?
        })
    }
}
