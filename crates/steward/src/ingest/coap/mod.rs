//! The CoAP endpoint for constrained devices: CoAP (RFC 7252) over DTLS 1.2 with
//! pre-shared keys (RFC 7925), behind the same registry, decoders and durable
//! commit as MQTT.
//!
//! - `psk.rs`: the gateway's PSK secret and the per-device keys derived from it
//!   (`steward device psk` issues one; a new one invalidates the old).
//! - `dtls.rs`: one peer's view of the shared UDP socket for webrtc-dtls, and the
//!   DTLS-PSK server configuration.
//! - `exchange.rs`: CoAP without I/O: deduplication by message id, Block1
//!   reassembly and Block2 block arithmetic (RFC 7959), routing, responses; unit
//!   tests in `exchange/tests.rs`.
//! - `error.rs`: the layer's errors and their response codes.
//! - `client.rs`: a small DTLS-PSK CoAP client (demo fleet, load generator, tests).
//! - `session.rs`: one DTLS session: handshake, per-request authorization, rate
//!   limit, ingest, and the response after the durable commit; firmware blocks
//!   read from the payload store; update notices and status reports through the
//!   update service.
//! - this file: [`CoapServer`]: the receive loop on the bound socket, which routes
//!   datagrams to sessions by peer address and bounds their number.
//!
//! The contract (README.md): a device with PSK identity = its id POSTs to
//! `/telemetry` (content-format 110 senml+json, 112 senml+cbor, or what its
//! model's decoder reads); 2.04 Changed only after the commit. It GETs
//! `/update`, its current update notice (the MQTT notice's JSON, or CBOR with
//! Accept 60), then `/fw/{sha256}`, the firmware payload the notice offers,
//! block-wise (Block2), and POSTs its progress to `/update/status` (the MQTT
//! status report; 2.04 once stored). `GET /.well-known/core` lists the
//! resources (RFC 6690).

pub mod client;
mod dtls;
pub mod error;
pub mod exchange;
pub mod psk;
mod session;

use std::collections::HashMap;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::config::CoapConfig;
use crate::ingest::Ingest;
use crate::metrics::Metrics;
use crate::registry::Registry;
use crate::updates::service::UpdateService;
pub use psk::PskKeys;

/// Datagrams queued for one session before more are dropped (UDP: the peer retransmits).
const SESSION_QUEUE: usize = 64;

struct Peer {
    session: u64,
    tx: mpsc::Sender<Bytes>,
}

#[derive(Default)]
struct Peers {
    by_addr: HashMap<SocketAddr, Peer>,
    per_ip: HashMap<IpAddr, usize>,
}

pub struct CoapServer {
    pub(crate) registry: Registry,
    pub(crate) ingest: Ingest,
    pub(crate) keys: PskKeys,
    pub(crate) config: CoapConfig,
    pub(crate) metrics: Arc<Metrics>,
    /// Campaigns (notices, status reports, which device may download which
    /// payload) and the payload store.
    pub(crate) updates: Arc<UpdateService>,
    /// The devices' messaging ACL from their effective policy; unset (the
    /// server alone, in unit tests): a device may use its own resources.
    pub(crate) messaging: std::sync::OnceLock<Arc<dyn crate::ingest::MessagingPolicy>>,
    peers: Mutex<Peers>,
    next_session: std::sync::atomic::AtomicU64,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Is this datagram a DTLS record carrying a ClientHello in epoch 0 (RFC 6347
/// §4.1, §4.2.2)? Only those may open a session.
fn is_client_hello(d: &[u8]) -> bool {
    d.len() > 13 && d[0] == 22 && d[1] == 0xfe && d[3] == 0 && d[4] == 0 && d[13] == 1
}

impl CoapServer {
    pub fn new(
        registry: Registry,
        ingest: Ingest,
        keys: PskKeys,
        config: CoapConfig,
        metrics: Arc<Metrics>,
        updates: Arc<UpdateService>,
    ) -> Arc<CoapServer> {
        Arc::new(CoapServer {
            registry,
            ingest,
            keys,
            config,
            metrics,
            updates,
            messaging: std::sync::OnceLock::new(),
            peers: Mutex::new(Peers::default()),
            next_session: std::sync::atomic::AtomicU64::new(1),
        })
    }

    pub fn set_messaging_policy(&self, p: Arc<dyn crate::ingest::MessagingPolicy>) {
        let _ = self.messaging.set(p);
    }

    /// Serve DTLS sessions on `socket` until `shutdown` resolves; then stop taking
    /// datagrams, let every session finish its in-flight commit and respond, and
    /// close them.
    pub async fn run(self: Arc<Self>, socket: UdpSocket, shutdown: impl Future<Output = ()>) {
        let socket = Arc::new(socket);
        let local = match socket.local_addr() {
            Ok(a) => a,
            Err(e) => {
                tracing::error!(error = %e, "CoAP socket has no address");
                return;
            }
        };
        let tracker = TaskTracker::new();
        let stop = CancellationToken::new();
        let mut buf = vec![0u8; 65_536];
        tokio::pin!(shutdown);
        loop {
            let (n, peer) = tokio::select! {
                _ = &mut shutdown => break,
                r = socket.recv_from(&mut buf) => match r {
                    Ok(r) => r,
                    Err(e) => {
                        // ICMP errors surface here on some systems; keep serving.
                        tracing::debug!(error = %e, "CoAP receive failed");
                        tokio::time::sleep(Duration::from_millis(5)).await;
                        continue;
                    }
                },
            };
            let datagram = &buf[..n];
            let Some(rx) = self.route(peer, datagram) else {
                continue;
            };
            let (server, socket, stop) = (self.clone(), socket.clone(), stop.clone());
            tracker.spawn(async move {
                let session = rx.0;
                session::serve(
                    server.clone(),
                    dtls::PeerConn::new(socket, peer, local, rx.1),
                    stop,
                )
                .await;
                server.forget(peer, session);
            });
        }
        stop.cancel();
        tracker.close();
        if tokio::time::timeout(Duration::from_secs(10), tracker.wait())
            .await
            .is_err()
        {
            tracing::warn!("some CoAP sessions did not close within 10 s");
        }
    }

    /// Hand a datagram to its peer's session; for a ClientHello from a new peer,
    /// within the limits, make the session and return its id and queue.
    fn route(&self, peer: SocketAddr, datagram: &[u8]) -> Option<(u64, mpsc::Receiver<Bytes>)> {
        let mut peers = lock(&self.peers);
        if let Some(p) = peers.by_addr.get(&peer) {
            if p.tx.try_send(Bytes::copy_from_slice(datagram)).is_err() {
                self.metrics.error("coap_queue_full");
            }
            return None;
        }
        if !is_client_hello(datagram) {
            return None; // a stray record for no session: DTLS peers retransmit or give up
        }
        let on_ip = peers.per_ip.get(&peer.ip()).copied().unwrap_or(0);
        if peers.by_addr.len() >= self.config.max_sessions
            || on_ip >= self.config.max_sessions_per_address
        {
            self.metrics.error("coap_too_many_sessions");
            return None;
        }
        let (tx, rx) = mpsc::channel(SESSION_QUEUE);
        let _ = tx.try_send(Bytes::copy_from_slice(datagram));
        let session = self
            .next_session
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        peers.by_addr.insert(peer, Peer { session, tx });
        *peers.per_ip.entry(peer.ip()).or_default() += 1;
        Some((session, rx))
    }

    fn forget(&self, peer: SocketAddr, session: u64) {
        let mut peers = lock(&self.peers);
        if peers.by_addr.get(&peer).map(|p| p.session) != Some(session) {
            return;
        }
        peers.by_addr.remove(&peer);
        if let Some(n) = peers.per_ip.get_mut(&peer.ip()) {
            *n -= 1;
            if *n == 0 {
                peers.per_ip.remove(&peer.ip());
            }
        }
    }

    /// DTLS sessions open now (handshakes included).
    pub fn sessions(&self) -> usize {
        lock(&self.peers).by_addr.len()
    }
}
