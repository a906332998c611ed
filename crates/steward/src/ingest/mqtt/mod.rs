//! The MQTT broker for devices: MQTT 3.1.1 and 5 over TLS.
//!
//! - `codec.rs`: rumqttc's packet codec behind one packet type for both versions.
//! - `session.rs`: one connection: authentication, topic access control, QoS flows,
//!   acknowledgement after the durable commit, keep-alive, will, rate limit.
//! - this file: [`Broker`] (accepting connections, the session table, delivering
//!   commands to devices, closing the connections of revoked devices).
//!
//! Topics (the contract in README.md):
//! - a device publishes to `steward/v1/devices/{id}/telemetry` (SenML JSON, or CBOR
//!   with the MQTT 5 content type `application/senml+cbor`) or `.../telemetry/cbor`;
//! - it may subscribe to `steward/v1/devices/{id}/commands/#`;
//! - firmware updates (`crate::updates`): it may subscribe to
//!   `steward/v1/devices/{id}/update` (notices) and publishes its status reports to
//!   `.../update/status`, which go to the update service, not to telemetry;
//! - nothing else: another device's topics are refused.

pub mod codec;
mod session;

use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, mpsc};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::config::MqttConfig;
use crate::ingest::Ingest;
use crate::metrics::Metrics;
use crate::registry::Registry;
use codec::Reason;

pub const TOPIC_ROOT: &str = "steward/v1/devices";

/// A message for a device (a command), as queued and delivered.
#[derive(Debug, Clone)]
pub struct Message {
    pub topic: String,
    pub payload: Bytes,
    pub qos: u8,
}

/// What the broker tells a live connection.
#[derive(Debug)]
pub(crate) enum Control {
    Deliver(Message),
    Close(Reason, String),
}

struct Live {
    conn_id: u64,
    tx: mpsc::Sender<Control>,
}

/// State kept per device between connections (persistent sessions, MQTT §4.1).
#[derive(Default)]
struct SessionState {
    live: Option<Live>,
    persistent: bool,
    subscriptions: Vec<(String, u8)>,
    queue: VecDeque<Message>,
}

/// What happened to a command sent to a device.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Delivery {
    /// Sent to the device's live connection.
    Sent,
    /// Kept in the device's persistent session until it reconnects.
    Queued,
    /// Dropped: the device is not connected and has no persistent session, or is
    /// not subscribed to that topic.
    Dropped,
}

/// Where devices' update status reports go (the update service). A report is
/// acknowledged after the future resolves `Ok` (the report is stored).
pub trait StatusSink: Send + Sync + 'static {
    fn report(
        self: Arc<Self>,
        device_id: String,
        payload: Bytes,
    ) -> futures::future::BoxFuture<'static, Result<(), String>>;
}

pub struct Broker {
    pub(crate) registry: Registry,
    pub(crate) status_sink: std::sync::OnceLock<Arc<dyn StatusSink>>,
    /// The policy engine's messaging ACL; without one (unit tests of the
    /// broker alone) a device may use exactly its own topics.
    pub(crate) messaging: std::sync::OnceLock<Arc<dyn crate::ingest::MessagingPolicy>>,
    pub(crate) ingest: Ingest,
    pub(crate) config: MqttConfig,
    pub(crate) metrics: Arc<Metrics>,
    tls: tokio_rustls::TlsAcceptor,
    sessions: Mutex<HashMap<String, SessionState>>,
    next_conn: std::sync::atomic::AtomicU64,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Broker {
    pub fn new(
        registry: Registry,
        ingest: Ingest,
        config: MqttConfig,
        metrics: Arc<Metrics>,
        tls: Arc<rustls::ServerConfig>,
    ) -> Arc<Broker> {
        Arc::new(Broker {
            registry,
            status_sink: std::sync::OnceLock::new(),
            messaging: std::sync::OnceLock::new(),
            ingest,
            config,
            metrics,
            tls: tokio_rustls::TlsAcceptor::from(tls),
            sessions: Mutex::new(HashMap::new()),
            next_conn: std::sync::atomic::AtomicU64::new(1),
        })
    }

    /// Accept device connections until `shutdown` resolves; then stop accepting,
    /// let every connection finish its in-flight commits and acknowledge them, and
    /// close all sessions.
    pub async fn run(self: Arc<Self>, listener: TcpListener, shutdown: impl Future<Output = ()>) {
        let tracker = TaskTracker::new();
        let stop = CancellationToken::new();
        let slots = Arc::new(Semaphore::new(self.config.max_connections));
        tracker.spawn(self.clone().watch_registry(stop.clone()));
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                _ = &mut shutdown => break,
                accepted = listener.accept() => {
                    let (tcp, peer) = match accepted {
                        Ok(a) => a,
                        Err(e) => {
                            // EMFILE and friends: back off instead of spinning.
                            tracing::warn!(error = %e, "accept failed");
                            tokio::time::sleep(Duration::from_millis(50)).await;
                            continue;
                        }
                    };
                    let Ok(permit) = slots.clone().try_acquire_owned() else {
                        self.metrics.error("too_many_connections");
                        drop(tcp);
                        continue;
                    };
                    let _ = tcp.set_nodelay(true);
                    let broker = self.clone();
                    let stop = stop.clone();
                    tracker.spawn(async move {
                        session::serve(broker, tcp, peer, stop).await;
                        drop(permit);
                    });
                }
            }
        }
        drop(listener);
        stop.cancel();
        tracker.close();
        if tokio::time::timeout(Duration::from_secs(10), tracker.wait())
            .await
            .is_err()
        {
            tracing::warn!("some MQTT connections did not close within 10 s");
        }
    }

    pub(crate) fn next_conn_id(&self) -> u64 {
        self.next_conn
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    }

    /// Attach a new connection to the device's session; an older connection of the
    /// same device is told to go (MQTT 5 reason "session taken over").
    /// Returns whether a previous session was resumed, and its queued messages.
    pub(crate) fn attach(
        &self,
        device_id: &str,
        conn_id: u64,
        tx: mpsc::Sender<Control>,
        clean_start: bool,
        persistent: bool,
    ) -> (bool, Vec<(String, u8)>, Vec<Message>) {
        let mut sessions = lock(&self.sessions);
        let state = sessions.entry(device_id.to_string()).or_default();
        if let Some(old) = state.live.take() {
            let _ = old.tx.try_send(Control::Close(
                Reason::SessionTakenOver,
                "another connection of this device took over".into(),
            ));
        }
        let resumed = !clean_start && state.persistent;
        if !resumed {
            state.subscriptions.clear();
            state.queue.clear();
        }
        state.persistent = persistent;
        state.live = Some(Live { conn_id, tx });
        (
            resumed,
            state.subscriptions.clone(),
            state.queue.drain(..).collect(),
        )
    }

    /// The connection ended: keep the session (subscriptions, unacknowledged
    /// messages) if it is persistent, else forget it.
    pub(crate) fn detach(
        &self,
        device_id: &str,
        conn_id: u64,
        subscriptions: Vec<(String, u8)>,
        unacked: Vec<Message>,
    ) {
        let mut sessions = lock(&self.sessions);
        let Some(state) = sessions.get_mut(device_id) else {
            return;
        };
        if state.live.as_ref().map(|l| l.conn_id) != Some(conn_id) {
            return; // taken over: the new connection owns the session now
        }
        state.live = None;
        if state.persistent {
            state.subscriptions = subscriptions;
            for m in unacked.into_iter().rev() {
                state.queue.push_front(m);
            }
            state.queue.truncate(self.config.max_queued_per_session);
        } else {
            sessions.remove(device_id);
        }
    }

    /// Send a command to a device: `steward/v1/devices/{id}/commands/{name}`.
    pub fn send_command(&self, device_id: &str, name: &str, payload: Bytes, qos: u8) -> Delivery {
        self.publish_to_device(device_id, &format!("commands/{name}"), payload, qos)
    }

    /// Route devices' update status reports to `sink` (set once, at start).
    pub fn set_messaging_policy(&self, p: Arc<dyn crate::ingest::MessagingPolicy>) {
        let _ = self.messaging.set(p);
    }

    pub fn set_status_sink(&self, sink: Arc<dyn StatusSink>) {
        let _ = self.status_sink.set(sink);
    }

    /// Publish to `steward/v1/devices/{id}/{suffix}` (commands, update notices).
    pub fn publish_to_device(
        &self,
        device_id: &str,
        suffix: &str,
        payload: Bytes,
        qos: u8,
    ) -> Delivery {
        let msg = Message {
            topic: format!("{TOPIC_ROOT}/{device_id}/{suffix}"),
            payload,
            qos: qos.min(1),
        };
        let mut sessions = lock(&self.sessions);
        let Some(state) = sessions.get_mut(device_id) else {
            return Delivery::Dropped;
        };
        if let Some(live) = &state.live {
            return match live.tx.try_send(Control::Deliver(msg.clone())) {
                Ok(()) => Delivery::Sent,
                Err(_) if state.persistent => {
                    state.queue.push_back(msg);
                    Delivery::Queued
                }
                Err(_) => Delivery::Dropped,
            };
        }
        let subscribed = state
            .subscriptions
            .iter()
            .any(|(f, _)| rumqttc::mqttbytes::matches(&msg.topic, f));
        if state.persistent && subscribed && state.queue.len() < self.config.max_queued_per_session
        {
            state.queue.push_back(msg);
            Delivery::Queued
        } else {
            Delivery::Dropped
        }
    }

    /// Close the device's live connection (revoked, deleted).
    pub fn kick(&self, device_id: &str, reason: &str, forget: bool) {
        let mut sessions = lock(&self.sessions);
        if let Some(state) = sessions.get_mut(device_id) {
            if let Some(live) = &state.live {
                let _ = live
                    .tx
                    .try_send(Control::Close(Reason::AdministrativeAction, reason.into()));
            }
            if forget {
                state.persistent = false;
                state.queue.clear();
            }
        }
    }

    pub fn connected(&self) -> usize {
        lock(&self.sessions)
            .values()
            .filter(|s| s.live.is_some())
            .count()
    }

    /// Follow the store's registry events, so a device revoked or deleted by any
    /// process (the CLI beside the server, the API) loses its connection at once.
    async fn watch_registry(self: Arc<Self>, stop: CancellationToken) {
        let store = self.registry.store().clone();
        let mut seq = store.last_event().unwrap_or(0);
        let mut tick = tokio::time::interval(Duration::from_millis(200));
        loop {
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = tick.tick() => {}
            }
            let events = match store.events_since(seq) {
                Ok(e) => e,
                Err(e) => {
                    tracing::warn!(error = %e, "reading registry events");
                    continue;
                }
            };
            for ev in events {
                seq = ev.seq;
                match ev.kind.as_str() {
                    "revoked" => self.kick(&ev.device_id, "device revoked", true),
                    "deleted" => self.kick(&ev.device_id, "device deleted", true),
                    _ => {}
                }
            }
        }
    }
}
