//! A device's update agent, as the simulated devices of `steward demo` and the
//! tests run it: a real MQTT client over TLS (rumqttc) and a real HTTPS client
//! (reqwest on rustls/ring) holding the device's certificate.
//!
//! On a notice it checks everything itself, as a device must (RFC 9019 §3): the
//! envelope's signature with its maker's key (not Steward's word), the sequence
//! number against what it runs (anti-rollback), the payload size claim against
//! its flash, the payload's digest against the manifest. It downloads with
//! `Range` requests, resuming where an interrupted download stopped, and reports
//! every state. It can be told to fail a share of installs (they roll back).
//!
//! A notice for firmware it already runs is answered `succeeded` without
//! installing again, and a repeated notice for a failed campaign is answered
//! `failed` again: so Steward may notice again whenever in doubt (after a restart).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine;
use futures::StreamExt;
use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS, TlsConfiguration, Transport};
use tokio_util::sync::CancellationToken;

use super::service::{Notice, StatusReport};
use crate::ingest::mqtt::TOPIC_ROOT;

/// How one agent behaves.
#[derive(Clone)]
pub struct AgentOptions {
    pub device_id: String,
    /// MQTT/TLS host and port (the host name must match Steward's certificate).
    pub mqtt_host: String,
    pub mqtt_port: u16,
    /// The device's TLS client configuration (its certificate, Steward's CA).
    pub tls: Arc<rustls::ClientConfig>,
    /// The maker's key the device trusts for firmware.
    pub maker_key: suit::VerifyingKey,
    /// The device's own SUIT vendor-id and class-id: a manifest for another
    /// class of device is refused even when its maker signed it
    /// (RFC 9124 §4.2.2, draft-ietf-suit-manifest check-vendor/class-identifier).
    pub vendor_id: uuid::Uuid,
    pub class_id: uuid::Uuid,
    /// Share of installs whose new image fails its first boot (0.0..=1.0),
    /// chosen per (device, campaign) by a hash, so a repeated notice ends the
    /// same way: the device rolls back to what it ran and reports `rolled_back`.
    pub fail_share: f64,
    /// Stop the first download of each payload after this many bytes (the
    /// connection drops), to exercise resuming with Range.
    pub interrupt_after: Option<u64>,
    /// The largest image this device can hold.
    pub max_image: u64,
    /// How long "installing" takes.
    pub install_time: Duration,
    /// Sequence number of the firmware the device runs at start.
    pub installed_seq: u64,
}

/// What an agent did, for tests and the demo.
#[derive(Debug, Clone, Default)]
pub struct AgentStats {
    pub installed_seq: u64,
    /// Installs carried out (a repeated notice must not add one).
    pub installs: u32,
    /// Notices received.
    pub notices: u32,
    /// Downloads resumed with a Range request answered 206.
    pub resumed: u32,
    /// Every report sent: (campaign, state, reason).
    pub reports: Vec<(String, String, Option<String>)>,
}

/// A running agent's shared view.
#[derive(Clone, Default)]
pub struct AgentHandle {
    pub stats: Arc<Mutex<AgentStats>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl AgentHandle {
    pub fn stats(&self) -> AgentStats {
        lock(&self.stats).clone()
    }
}

struct Agent {
    topic: String,
    opts: AgentOptions,
    client: AsyncClient,
    http: reqwest::Client,
    handle: AgentHandle,
    /// Campaign → outcome already reached (state, reason).
    outcomes: Mutex<HashMap<String, (String, Option<String>)>>,
    /// Campaigns being worked on now.
    busy: Mutex<std::collections::HashSet<String>>,
    /// Payload digest → bytes received so far (survives a dropped download).
    partial: tokio::sync::Mutex<HashMap<String, Vec<u8>>>,
    /// Payloads whose first download was already interrupted on purpose.
    interrupted: Mutex<std::collections::HashSet<String>>,
}

/// Start an agent on its own MQTT connection; it runs until `stop` is cancelled.
pub fn spawn(opts: AgentOptions, stop: CancellationToken) -> anyhow::Result<AgentHandle> {
    let mut mqtt = MqttOptions::new(
        opts.device_id.clone(),
        opts.mqtt_host.clone(),
        opts.mqtt_port,
    );
    mqtt.set_keep_alive(Duration::from_secs(30));
    mqtt.set_max_packet_size(256 * 1024, 256 * 1024);
    mqtt.set_transport(Transport::tls_with_config(TlsConfiguration::Rustls(
        opts.tls.clone(),
    )));
    let (client, mut events) = AsyncClient::new(mqtt, 64);
    let updater = Updater::new(opts, client)?;
    let handle = updater.handle();
    tokio::spawn(async move {
        loop {
            let ev = tokio::select! {
                _ = stop.cancelled() => {
                    let _ = updater.0.client.disconnect().await;
                    return;
                }
                ev = events.poll() => ev,
            };
            match ev {
                Ok(ev) => updater.on_event(&ev),
                Err(e) => {
                    tracing::debug!(device = %updater.0.opts.device_id, error = %e, "agent connection; retrying");
                    tokio::select! {
                        _ = stop.cancelled() => return,
                        _ = tokio::time::sleep(Duration::from_millis(500)) => {}
                    }
                }
            }
        }
    });
    Ok(handle)
}

/// The agent over a connection its device already has (the demo's devices
/// publish telemetry on the same one): feed it the connection's events.
#[derive(Clone)]
pub struct Updater(Arc<Agent>);

impl Updater {
    pub fn new(opts: AgentOptions, client: AsyncClient) -> anyhow::Result<Updater> {
        let http = reqwest::Client::builder()
            .use_preconfigured_tls((*opts.tls).clone())
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(120))
            // A device downloads rarely: no idle connection is kept open after
            // a download (it would hold a socket on both sides for nothing).
            .pool_max_idle_per_host(0)
            .build()?;
        let handle = AgentHandle::default();
        lock(&handle.stats).installed_seq = opts.installed_seq;
        Ok(Updater(Arc::new(Agent {
            topic: format!("{TOPIC_ROOT}/{}/update", opts.device_id),
            opts,
            client,
            http,
            handle,
            outcomes: Mutex::new(HashMap::new()),
            busy: Mutex::new(Default::default()),
            partial: tokio::sync::Mutex::new(HashMap::new()),
            interrupted: Mutex::new(Default::default()),
        })))
    }

    pub fn handle(&self) -> AgentHandle {
        self.0.handle.clone()
    }

    /// Subscribe on every (re)connection; take notices.
    pub fn on_event(&self, ev: &Event) {
        match ev {
            Event::Incoming(Packet::ConnAck(_)) => {
                let client = self.0.client.clone();
                let topic = self.0.topic.clone();
                tokio::spawn(async move {
                    let _ = client.subscribe(topic, QoS::AtLeastOnce).await;
                });
            }
            Event::Incoming(Packet::Publish(p)) if p.topic == self.0.topic => {
                let agent = self.0.clone();
                let payload = p.payload.clone();
                tokio::spawn(async move { agent.on_notice(&payload).await });
            }
            _ => {}
        }
    }
}

/// How an install that got as far as running the new image ended.
enum Outcome {
    Succeeded,
    /// The image was installed but did not come up; the device runs its old one.
    RolledBack(String),
}

/// Whether this (device, campaign) is one of the `share` that fail.
fn fails(device: &str, campaign: &str, share: f64) -> bool {
    if share <= 0.0 {
        return false;
    }
    let h = super::sha256_hex(format!("{device}/{campaign}").as_bytes());
    let n = u32::from_str_radix(&h[..8], 16).unwrap_or(0) as f64 / u32::MAX as f64;
    n < share
}

impl Agent {
    async fn report(&self, campaign: &str, state: &str, reason: Option<String>) {
        let r = StatusReport {
            campaign: campaign.to_string(),
            state: state.to_string(),
            reason: reason.clone(),
        };
        lock(&self.handle.stats)
            .reports
            .push((campaign.to_string(), state.to_string(), reason));
        let Ok(body) = serde_json::to_vec(&r) else {
            return;
        };
        let topic = format!("{TOPIC_ROOT}/{}/update/status", self.opts.device_id);
        if let Err(e) = self
            .client
            .publish(topic, QoS::AtLeastOnce, false, body)
            .await
        {
            tracing::debug!(device = %self.opts.device_id, error = %e, "status report not queued");
        }
    }

    async fn finish(&self, campaign: &str, state: &str, reason: Option<String>) {
        lock(&self.outcomes).insert(campaign.to_string(), (state.to_string(), reason.clone()));
        self.report(campaign, state, reason).await;
    }

    async fn on_notice(self: Arc<Self>, payload: &[u8]) {
        lock(&self.handle.stats).notices += 1;
        let notice: Notice = match serde_json::from_slice(payload) {
            Ok(n) => n,
            Err(e) => {
                tracing::info!(device = %self.opts.device_id, error = %e, "not an update notice");
                return;
            }
        };
        let done = lock(&self.outcomes).get(&notice.campaign).cloned();
        if let Some((state, reason)) = done {
            // Asked again: say again how it ended, without doing it again.
            self.report(&notice.campaign, &state, reason).await;
            return;
        }
        if !lock(&self.busy).insert(notice.campaign.clone()) {
            return; // working on it
        }
        let result = self.update(&notice).await;
        lock(&self.busy).remove(&notice.campaign);
        match result {
            Ok(Outcome::Succeeded) => self.finish(&notice.campaign, "succeeded", None).await,
            Ok(Outcome::RolledBack(why)) => {
                self.finish(&notice.campaign, "rolled_back", Some(why))
                    .await
            }
            Err(why) => self.finish(&notice.campaign, "failed", Some(why)).await,
        }
    }

    /// Verify, download, check, install. `Err` is a failure before installing
    /// (the device never ran the image).
    async fn update(&self, n: &Notice) -> Result<Outcome, String> {
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(&n.envelope)
            .map_err(|e| format!("the notice's envelope is not base64: {e}"))?;
        let env = suit::verify(&bytes, &self.opts.maker_key)
            .map_err(|e| format!("envelope rejected: {e}"))?;
        let seq = env.sequence_number();
        let installed = lock(&self.handle.stats).installed_seq;
        if seq == installed {
            // Already running it (installed by an earlier notice): nothing to do.
            return Ok(Outcome::Succeeded);
        }
        if seq < installed {
            return Err(format!(
                "rollback refused: sequence number {seq} is below the installed {installed}"
            ));
        }
        let params = env.parameters();
        let first = params.first().ok_or("the manifest names no component")?;
        match (&first.vendor_id, &first.class_id) {
            (Some(suit::manifest::VendorId::Uuid(v)), Some(c))
                if *v == self.opts.vendor_id && *c == self.opts.class_id => {}
            (v, c) => {
                return Err(format!(
                    "the manifest is for vendor {} class {}, not this device's vendor {} class {}",
                    v.as_ref().map_or("(none)".to_string(), |v| v.to_string()),
                    c.as_ref().map_or("(none)".to_string(), |c| c.to_string()),
                    self.opts.vendor_id,
                    self.opts.class_id
                ));
            }
        }
        let size = first.image_size.ok_or("the manifest has no image size")?;
        if size > self.opts.max_image {
            return Err(format!(
                "the manifest claims an image of {size} bytes, more than this device's {} bytes",
                self.opts.max_image
            ));
        }
        self.report(&n.campaign, "downloading", None).await;
        let image = self.download(&n.url, &n.firmware, size).await?;
        env.check_payload(&image)
            .map_err(|e| format!("payload rejected: {e}"))?;
        self.report(&n.campaign, "installing", None).await;
        tokio::time::sleep(self.opts.install_time).await;
        if fails(&self.opts.device_id, &n.campaign, self.opts.fail_share) {
            return Ok(Outcome::RolledBack(format!(
                "the new image did not boot (simulated); rolled back to sequence {installed}"
            )));
        }
        let mut st = lock(&self.handle.stats);
        st.installed_seq = seq;
        st.installs += 1;
        Ok(Outcome::Succeeded)
    }

    /// Download `size` bytes, resuming with `Range` after a dropped connection.
    async fn download(&self, url: &str, digest: &str, size: u64) -> Result<Vec<u8>, String> {
        let mut partial = self.partial.lock().await;
        let buf = partial.entry(digest.to_string()).or_default();
        for attempt in 0..5 {
            if buf.len() as u64 >= size {
                break;
            }
            let mut req = self.http.get(url);
            let from = buf.len() as u64;
            if from > 0 {
                req = req
                    .header("Range", format!("bytes={from}-"))
                    .header("If-Range", format!("\"{digest}\""));
            }
            let resp = match req.send().await {
                Ok(r) => r,
                Err(e) => {
                    tracing::debug!(device = %self.opts.device_id, error = %e, "download failed; retrying");
                    tokio::time::sleep(Duration::from_millis(300 * (1 + attempt as u64))).await;
                    continue;
                }
            };
            match resp.status().as_u16() {
                200 => buf.clear(),
                206 => lock(&self.handle.stats).resumed += 1,
                // The gateway is busy (503) or failing for now: try again.
                s @ 500..=599 => {
                    tracing::debug!(device = %self.opts.device_id, status = s, "download: server error; retrying");
                    tokio::time::sleep(Duration::from_millis(300 * (1 + attempt as u64))).await;
                    continue;
                }
                s => {
                    let body = resp.text().await.unwrap_or_default();
                    return Err(format!("download answered {s}: {body}"));
                }
            }
            let cut = self
                .opts
                .interrupt_after
                .filter(|_| lock(&self.interrupted).insert(digest.to_string()));
            let mut stream = resp.bytes_stream();
            let mut got = 0u64;
            while let Some(chunk) = stream.next().await {
                let Ok(chunk) = chunk else {
                    break;
                };
                if buf.len() as u64 + chunk.len() as u64 > size {
                    return Err(format!(
                        "the server sent more than the {size} bytes the manifest claims"
                    ));
                }
                let take = match cut {
                    Some(c) if got + chunk.len() as u64 > c => (c - got) as usize,
                    _ => chunk.len(),
                };
                buf.extend_from_slice(&chunk[..take]);
                got += take as u64;
                if take < chunk.len() {
                    break; // drop the connection halfway
                }
            }
        }
        if buf.len() as u64 != size {
            return Err(format!(
                "download incomplete: {} of {size} bytes after 5 attempts",
                buf.len()
            ));
        }
        Ok(partial.remove(digest).unwrap_or_default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failing_share_is_stable_and_about_right() {
        let n = (0..1000)
            .filter(|i| fails(&format!("dev-{i}"), "c", 0.3))
            .count();
        assert!((200..400).contains(&n), "{n}");
        assert_eq!(fails("a", "c", 0.3), fails("a", "c", 0.3));
        assert!(!fails("a", "c", 0.0));
    }
}
