//! The devices' DNS forwarder: devices resolve through Steward, and every answer
//! that gives addresses is handed to a [`ResolvedSink`] *before* the device gets
//! it, so the addresses are in the device's nftables set when it connects. This is
//! how DNS-name rules of MUD files hold for names with many, changing addresses.
//!
//! The wire logic (query checks, answer → addresses, truncation) is in the `lan`
//! crate (`lan::dns`); this file does the sockets:
//! - UDP and TCP (RFC 1035 §4.2, RFC 7766) on an already-bound socket and listener,
//!   until a shutdown future resolves ([`Forwarder::serve`]);
//! - only sources in `[network] lan_prefixes` are served; others get REFUSED, and
//!   the sockets are bound to the LAN interface, so this is never an open resolver;
//! - upstreams from `[dns] upstreams`, tried in order, each with a timeout; a
//!   truncated UDP answer is asked again over TCP (RFC 7766 §5);
//! - at most `max_inflight_per_client` queries per device awaiting upstreams
//!   (more get SERVFAIL), at most `max_tcp_per_client` TCP connections;
//! - per-device query statistics ([`Forwarder::stats`]) for monitoring.
//!
//! No cache: every answer comes from upstream, so no answer is ever served past
//! its TTL, and the sink sees every answer a device gets.

use std::collections::HashMap;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ipnet::IpNet;
use lan::dns::{
    ClientQuery, Message, Rejected, ResponseCode, check_upstream, error_bytes, parse_query,
};
use serde::Serialize;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::sync::Semaphore;

use crate::clock::SharedClock;
use crate::config::{DnsConfig, NetworkConfig};

pub use lan::dns::Name;

/// Where the addresses of answers go: `enforce` puts them into the client's
/// nftables set, with `ttl` as the element timeout.
///
/// The forwarder calls it for every answer that carries addresses, whatever the
/// name; the sink decides whether the client's policy allows `name` (and ignores
/// the call otherwise). `name` is the question as the device asked it (a fully
/// qualified [`Name`]; compare with `==`, which ignores ASCII case and never
/// confuses an escaped dot inside a label with a label boundary). `addrs` are the
/// distinct addresses reached from `name` through its CNAME chain, at most
/// `[dns] max_addresses`, exactly those the device is told. `ttl` is the smallest
/// TTL along the chain, which is also the longest the device may use the answer;
/// it may be zero, and the sink may add a grace period.
///
/// Called on a blocking thread; the device gets its answer when it returns.
pub trait ResolvedSink: Send + Sync {
    fn resolved(&self, client: IpAddr, name: &Name, addrs: &[IpAddr], ttl: Duration);
}

/// A sink that keeps nothing (for `enforce = "off"`, or no enforcement yet).
pub struct NoSink;

impl ResolvedSink for NoSink {
    fn resolved(&self, _: IpAddr, _: &Name, _: &[IpAddr], _: Duration) {}
}

#[derive(Debug, thiserror::Error)]
pub enum DnsError {
    #[error("[dns] is enabled but [network] lan_prefixes is empty: say which sources are devices")]
    NoLan,
    #[error("[dns] is enabled but upstreams is empty: name at least one resolver")]
    NoUpstream,
    #[error("[dns] {0} must be at least 1")]
    Zero(&'static str),
    #[error("binding DNS {what} {addr}{device}: {source}")]
    Bind {
        what: &'static str,
        addr: SocketAddr,
        device: String,
        source: std::io::Error,
    },
}

/// The forwarder's settings, checked.
#[derive(Debug, Clone)]
pub struct Settings {
    pub lan: Vec<IpNet>,
    pub upstreams: Vec<SocketAddr>,
    pub timeout: Duration,
    pub max_inflight_per_client: usize,
    pub max_addresses: usize,
    pub max_tcp_per_client: usize,
    pub tcp_idle: Duration,
}

impl Settings {
    pub fn from_config(net: &NetworkConfig, dns: &DnsConfig) -> Result<Settings, DnsError> {
        if net.lan_prefixes.is_empty() {
            return Err(DnsError::NoLan);
        }
        if dns.upstreams.is_empty() {
            return Err(DnsError::NoUpstream);
        }
        for (name, v) in [
            ("timeout_ms", dns.timeout_ms as usize),
            ("max_inflight_per_client", dns.max_inflight_per_client),
            ("max_addresses", dns.max_addresses),
            ("max_tcp_per_client", dns.max_tcp_per_client),
            ("tcp_idle_secs", dns.tcp_idle_secs as usize),
        ] {
            if v == 0 {
                return Err(DnsError::Zero(name));
            }
        }
        Ok(Settings {
            lan: net.lan_prefixes.clone(),
            upstreams: dns.upstreams.clone(),
            timeout: Duration::from_millis(dns.timeout_ms),
            max_inflight_per_client: dns.max_inflight_per_client,
            max_addresses: dns.max_addresses,
            max_tcp_per_client: dns.max_tcp_per_client,
            tcp_idle: Duration::from_secs(dns.tcp_idle_secs),
        })
    }
}

/// Bind the forwarder's UDP socket and TCP listener on `[dns] listen`, to
/// `[network] lan_interface` when one is set (SO_BINDTODEVICE).
pub fn bind(net: &NetworkConfig, dns: &DnsConfig) -> Result<(UdpSocket, TcpListener), DnsError> {
    use socket2::{Protocol, Type};
    let addr = dns.listen;
    let device = net.lan_interface.clone();
    let err = |what: &'static str, device: &str| {
        let device = if device.is_empty() {
            String::new()
        } else {
            format!(" on {device}")
        };
        move |source| DnsError::Bind {
            what,
            addr,
            device,
            source,
        }
    };
    let make = |ty: Type, proto: Protocol| super::lan_socket(addr, &device, ty, proto);
    let udp = make(Type::DGRAM, Protocol::UDP).map_err(err("UDP", &device))?;
    let udp = UdpSocket::from_std(udp.into()).map_err(err("UDP", &device))?;
    let tcp = make(Type::STREAM, Protocol::TCP)
        .and_then(|s| {
            s.listen(128)?;
            Ok(s)
        })
        .map_err(err("TCP", &device))?;
    let tcp = TcpListener::from_std(tcp.into()).map_err(err("TCP", &device))?;
    Ok((udp, tcp))
}

/// One device's query statistics (by source address).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ClientStats {
    pub queries: u64,
    /// Answers with NOERROR.
    pub answered: u64,
    pub nxdomain: u64,
    /// SERVFAIL: upstreams failed or timed out, or too many queries in flight.
    pub servfail: u64,
    pub refused: u64,
    /// Packets that were not a well-formed query.
    pub malformed: u64,
    /// UDP answers sent truncated (the device should retry over TCP).
    pub truncated: u64,
    pub tcp_queries: u64,
    /// Queries refused because the device had too many in flight.
    pub over_limit: u64,
    /// Addresses handed to the sink.
    pub addresses: u64,
    /// Address records left out of answers by the `max_addresses` cap.
    pub addresses_capped: u64,
    pub last_query: Option<f64>,
}

/// Most devices whose statistics are kept (the LAN prefixes bound them anyway).
const MAX_TRACKED: usize = 65_536;
/// Most queries awaiting upstreams across all devices.
const MAX_TASKS: usize = 4096;

#[derive(Default)]
struct PerClient {
    stats: ClientStats,
    inflight: usize,
    tcp: usize,
}

/// The forwarder: settings, the sink, and per-device state.
pub struct Forwarder {
    settings: Settings,
    sink: Arc<dyn ResolvedSink>,
    clock: SharedClock,
    clients: Mutex<HashMap<IpAddr, PerClient>>,
    tasks: Arc<Semaphore>,
}

#[derive(Clone, Copy)]
enum Outcome {
    Answer(ResponseCode),
    Malformed,
    OverLimit,
}

/// An in-flight slot of one device, given back on drop.
struct Slot<'a> {
    fwd: &'a Forwarder,
    client: IpAddr,
    tcp: bool,
}

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        let mut clients = lock(&self.fwd.clients);
        if let Some(c) = clients.get_mut(&self.client) {
            if self.tcp {
                c.tcp = c.tcp.saturating_sub(1);
            } else {
                c.inflight = c.inflight.saturating_sub(1);
            }
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Why an upstream gave no answer.
#[derive(Debug, thiserror::Error)]
enum UpstreamFailure {
    #[error("{0}: timed out")]
    Timeout(SocketAddr),
    #[error("{0}: {1}")]
    Io(SocketAddr, std::io::Error),
    #[error("{0}: {1}")]
    Bad(SocketAddr, lan::dns::UpstreamError),
    #[error("{0}: answer over TCP is longer than announced")]
    Short(SocketAddr),
}

impl Forwarder {
    pub fn new(
        settings: Settings,
        sink: Arc<dyn ResolvedSink>,
        clock: SharedClock,
    ) -> Arc<Forwarder> {
        Arc::new(Forwarder {
            settings,
            sink,
            clock,
            clients: Mutex::new(HashMap::new()),
            tasks: Arc::new(Semaphore::new(MAX_TASKS)),
        })
    }

    /// A snapshot of every device's statistics.
    pub fn stats(&self) -> Vec<(IpAddr, ClientStats)> {
        let clients = lock(&self.clients);
        let mut out: Vec<_> = clients
            .iter()
            .map(|(ip, c)| (*ip, c.stats.clone()))
            .collect();
        out.sort_by_key(|(ip, _)| *ip);
        out
    }

    /// One device's statistics.
    pub fn client_stats(&self, client: IpAddr) -> Option<ClientStats> {
        lock(&self.clients).get(&client).map(|c| c.stats.clone())
    }

    fn is_lan(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
            v4 => v4,
        };
        self.settings.lan.iter().any(|p| p.contains(&ip))
    }

    fn record(&self, client: IpAddr, tcp: bool, outcome: Outcome, truncated: bool) {
        let now = self.clock.now();
        let mut clients = lock(&self.clients);
        if !clients.contains_key(&client) && clients.len() >= MAX_TRACKED {
            return;
        }
        let s = &mut clients.entry(client).or_default().stats;
        s.queries += 1;
        s.last_query = Some(now);
        if tcp {
            s.tcp_queries += 1;
        }
        if truncated {
            s.truncated += 1;
        }
        match outcome {
            Outcome::Malformed => s.malformed += 1,
            Outcome::OverLimit => {
                s.over_limit += 1;
                s.servfail += 1;
            }
            Outcome::Answer(ResponseCode::NoError) => s.answered += 1,
            Outcome::Answer(ResponseCode::NXDomain) => s.nxdomain += 1,
            Outcome::Answer(ResponseCode::ServFail) => s.servfail += 1,
            Outcome::Answer(ResponseCode::Refused) => s.refused += 1,
            Outcome::Answer(_) => {}
        }
    }

    /// Count one more query in flight (or TCP connection) for `client`, if under
    /// its cap; the caller then holds a [`Slot`] that gives it back.
    fn reserve(&self, client: IpAddr, tcp: bool) -> bool {
        let mut clients = lock(&self.clients);
        if !clients.contains_key(&client) && clients.len() >= MAX_TRACKED {
            return false;
        }
        let c = clients.entry(client).or_default();
        let (used, max) = if tcp {
            (&mut c.tcp, self.settings.max_tcp_per_client)
        } else {
            (&mut c.inflight, self.settings.max_inflight_per_client)
        };
        if *used >= max {
            return false;
        }
        *used += 1;
        true
    }

    /// Serve devices on a bound UDP socket and TCP listener until `shutdown`.
    pub async fn serve(
        self: Arc<Self>,
        udp: UdpSocket,
        tcp: TcpListener,
        shutdown: impl Future<Output = ()>,
    ) {
        let udp = Arc::new(udp);
        tokio::pin!(shutdown);
        let mut buf = vec![0u8; 65_535];
        loop {
            tokio::select! {
                _ = &mut shutdown => break,
                r = udp.recv_from(&mut buf) => match r {
                    Ok((n, from)) => self.clone().on_udp(&udp, buf[..n].to_vec(), from).await,
                    Err(e) => {
                        tracing::warn!(error = %e, "DNS UDP receive");
                        tokio::time::sleep(Duration::from_millis(10)).await;
                    }
                },
                r = tcp.accept() => match r {
                    Ok((stream, from)) => self.clone().on_tcp(stream, from),
                    Err(e) => {
                        tracing::warn!(error = %e, "DNS TCP accept");
                        tokio::time::sleep(Duration::from_millis(10)).await;
                    }
                },
            }
        }
    }

    async fn on_udp(self: Arc<Self>, udp: &Arc<UdpSocket>, packet: Vec<u8>, from: SocketAddr) {
        let client = from.ip();
        if !self.is_lan(client) {
            // Not a device: REFUSED (no larger than the query, so no amplification).
            if let Ok(q) = guarded_parse(&packet) {
                let refused = error_bytes(q.id, Some(&q.question), ResponseCode::Refused);
                let _ = udp.send_to(&refused, from).await;
            }
            tracing::debug!(%from, "DNS: query from outside the LAN refused");
            return;
        }
        let query = match guarded_parse(&packet) {
            Ok(q) => q,
            Err(r) => {
                self.reject(udp, from, r).await;
                return;
            }
        };
        let Ok(permit) = self.tasks.clone().try_acquire_owned() else {
            tracing::warn!(%from, "DNS: too many queries in flight; dropped");
            return;
        };
        if !self.reserve(client, false) {
            self.record(client, false, Outcome::OverLimit, false);
            let _ = udp
                .send_to(
                    &error_bytes(query.id, Some(&query.question), ResponseCode::ServFail),
                    from,
                )
                .await;
            return;
        }
        let udp = udp.clone();
        tokio::spawn(async move {
            // The slot taken above is given back when this task ends.
            let _slot = Slot {
                fwd: &self,
                client,
                tcp: false,
            };
            let (bytes, code, truncated) =
                self.answer(client, &query, Some(query.udp_payload)).await;
            if let Err(e) = udp.send_to(&bytes, from).await {
                tracing::debug!(%from, error = %e, "DNS: sending answer");
            }
            self.record(client, false, Outcome::Answer(code), truncated);
            drop(permit);
        });
    }

    async fn reject(&self, udp: &UdpSocket, from: SocketAddr, r: Rejected) {
        tracing::debug!(%from, reason = %r.reason, "DNS: query rejected");
        self.record(from.ip(), false, Outcome::Malformed, false);
        if let Some(id) = r.id {
            let _ = udp.send_to(&error_bytes(id, None, r.rcode), from).await;
        }
    }

    fn on_tcp(self: Arc<Self>, stream: TcpStream, from: SocketAddr) {
        let client = from.ip();
        if !self.is_lan(client) {
            tracing::debug!(%from, "DNS: TCP connection from outside the LAN closed");
            return;
        }
        tokio::spawn(async move {
            if !self.reserve(client, true) {
                tracing::debug!(%from, "DNS: too many TCP connections from this device");
                return;
            }
            let _slot = Slot {
                fwd: &self,
                client,
                tcp: true,
            };
            if let Err(e) = self.tcp_session(stream, client).await {
                tracing::debug!(%from, error = %e, "DNS TCP session ended");
            }
        });
    }

    async fn tcp_session(&self, mut stream: TcpStream, client: IpAddr) -> std::io::Result<()> {
        let idle = self.settings.tcp_idle;
        loop {
            let mut len = [0u8; 2];
            match tokio::time::timeout(idle, stream.read_exact(&mut len)).await {
                Ok(Ok(_)) => {}
                // Idle, closed, or reset: the session is over.
                Ok(Err(_)) | Err(_) => return Ok(()),
            }
            let mut msg = vec![0u8; u16::from_be_bytes(len) as usize];
            tokio::time::timeout(idle, stream.read_exact(&mut msg))
                .await
                .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "query body"))??;
            let reply = match guarded_parse(&msg) {
                Err(r) => {
                    self.record(client, true, Outcome::Malformed, false);
                    match r.id {
                        Some(id) => error_bytes(id, None, r.rcode),
                        None => return Ok(()),
                    }
                }
                Ok(q) => {
                    let guard = self.reserve(client, false).then_some(Slot {
                        fwd: self,
                        client,
                        tcp: false,
                    });
                    match guard {
                        None => {
                            self.record(client, true, Outcome::OverLimit, false);
                            error_bytes(q.id, Some(&q.question), ResponseCode::ServFail)
                        }
                        Some(_slot) => {
                            let (bytes, code, _) = self.answer(client, &q, None).await;
                            self.record(client, true, Outcome::Answer(code), false);
                            bytes
                        }
                    }
                }
            };
            let mut out = Vec::with_capacity(reply.len() + 2);
            out.extend_from_slice(&(reply.len() as u16).to_be_bytes());
            out.extend_from_slice(&reply);
            tokio::time::timeout(idle, stream.write_all(&out))
                .await
                .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "answer"))??;
        }
    }

    /// Ask upstream, feed the sink, shape the answer for the device.
    async fn answer(
        &self,
        client: IpAddr,
        q: &ClientQuery,
        udp_max: Option<u16>,
    ) -> (Vec<u8>, ResponseCode, bool) {
        let mut upstream = match self.ask_upstreams(q).await {
            Ok(m) => m,
            Err(e) => {
                tracing::info!(%client, name = %q.question.name, error = %e, "DNS: no upstream answered");
                return (
                    error_bytes(q.id, Some(&q.question), ResponseCode::ServFail),
                    ResponseCode::ServFail,
                    false,
                );
            }
        };
        let resolved =
            lan::dns::extract(&q.question.name, &mut upstream, self.settings.max_addresses);
        if resolved.dropped > 0 || resolved.foreign > 0 {
            tracing::info!(%client, name = %q.question.name, kept = resolved.addrs.len(),
                capped = resolved.dropped, outside_chain = resolved.foreign,
                "DNS: answer trimmed to the addresses the gateway allows");
        }
        if !resolved.addrs.is_empty() {
            {
                let mut clients = lock(&self.clients);
                if let Some(c) = clients.get_mut(&client) {
                    c.stats.addresses += resolved.addrs.len() as u64;
                    c.stats.addresses_capped += resolved.dropped as u64;
                }
            }
            let sink = self.sink.clone();
            let name = q.question.name.clone();
            let addrs = resolved.addrs.clone();
            let ttl = Duration::from_secs(u64::from(resolved.ttl));
            // The device is answered only after the sink has the addresses.
            if let Err(e) =
                tokio::task::spawn_blocking(move || sink.resolved(client, &name, &addrs, ttl)).await
            {
                tracing::error!(%client, error = %e, "DNS: the resolved-address sink failed");
                return (
                    error_bytes(q.id, Some(&q.question), ResponseCode::ServFail),
                    ResponseCode::ServFail,
                    false,
                );
            }
        }
        let (bytes, truncated) = q.response_bytes(&upstream, udp_max);
        (bytes, upstream.response_code, truncated)
    }

    async fn ask_upstreams(&self, q: &ClientQuery) -> Result<Message, UpstreamFailure> {
        let mut last = None;
        for &server in &self.settings.upstreams {
            match self.ask_udp(q, server).await {
                Ok(m) if m.truncation => match self.ask_tcp(q, server).await {
                    Ok(m) => return Ok(m),
                    Err(e) => last = Some(e),
                },
                Ok(m) => return Ok(m),
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or(UpstreamFailure::Timeout(SocketAddr::from((
            [0, 0, 0, 0],
            0,
        )))))
    }

    async fn ask_udp(
        &self,
        q: &ClientQuery,
        server: SocketAddr,
    ) -> Result<Message, UpstreamFailure> {
        let io = |e| UpstreamFailure::Io(server, e);
        let local: SocketAddr = if server.is_ipv4() {
            SocketAddr::from(([0, 0, 0, 0], 0))
        } else {
            SocketAddr::from((std::net::Ipv6Addr::UNSPECIFIED, 0))
        };
        // A fresh socket (random source port) and a random id per query (RFC 5452).
        let sock = UdpSocket::bind(local).await.map_err(io)?;
        sock.connect(server).await.map_err(io)?;
        let id: u16 = rand::random();
        sock.send(&q.upstream_bytes(id)).await.map_err(io)?;
        let mut buf = vec![0u8; 65_535];
        let deadline = tokio::time::Instant::now() + self.settings.timeout;
        loop {
            let n = tokio::time::timeout_at(deadline, sock.recv(&mut buf))
                .await
                .map_err(|_| UpstreamFailure::Timeout(server))?
                .map_err(io)?;
            match check_upstream(&buf[..n], id, &q.question) {
                Ok(m) => return Ok(m),
                // Not our answer (late, spoofed, garbage): keep waiting until the deadline.
                Err(e) => tracing::debug!(%server, error = %e, "DNS: ignored upstream packet"),
            }
        }
    }

    async fn ask_tcp(
        &self,
        q: &ClientQuery,
        server: SocketAddr,
    ) -> Result<Message, UpstreamFailure> {
        let io = |e| UpstreamFailure::Io(server, e);
        let work = async {
            let mut s = TcpStream::connect(server).await.map_err(io)?;
            let id: u16 = rand::random();
            let query = q.upstream_bytes(id);
            let mut out = Vec::with_capacity(query.len() + 2);
            out.extend_from_slice(&(query.len() as u16).to_be_bytes());
            out.extend_from_slice(&query);
            s.write_all(&out).await.map_err(io)?;
            let mut len = [0u8; 2];
            s.read_exact(&mut len)
                .await
                .map_err(|_| UpstreamFailure::Short(server))?;
            let mut msg = vec![0u8; u16::from_be_bytes(len) as usize];
            s.read_exact(&mut msg)
                .await
                .map_err(|_| UpstreamFailure::Short(server))?;
            check_upstream(&msg, id, &q.question).map_err(|e| UpstreamFailure::Bad(server, e))
        };
        tokio::time::timeout(self.settings.timeout, work)
            .await
            .map_err(|_| UpstreamFailure::Timeout(server))?
    }
}

/// [`parse_query`], with a panic in the codec (a bug; the fuzz targets hunt them)
/// turned into a rejected packet instead of a dead server.
fn guarded_parse(bytes: &[u8]) -> Result<ClientQuery, Rejected> {
    std::panic::catch_unwind(|| parse_query(bytes)).unwrap_or_else(|_| {
        tracing::error!("DNS: the query decoder panicked; packet dropped");
        Err(Rejected {
            id: None,
            rcode: ResponseCode::FormErr,
            reason: "decoder panicked".into(),
        })
    })
}

/// A running forwarder (for its statistics) and its task.
pub type Running = (Arc<Forwarder>, tokio::task::JoinHandle<()>);

/// Start the forwarder when `[dns] enabled`: bind its sockets and serve until
/// `stop` is cancelled. `None` when it is off.
pub fn start(
    net: &NetworkConfig,
    dns: &DnsConfig,
    sink: Arc<dyn ResolvedSink>,
    clock: SharedClock,
    stop: tokio_util::sync::CancellationToken,
) -> Result<Option<Running>, DnsError> {
    if !dns.enabled {
        return Ok(None);
    }
    let settings = Settings::from_config(net, dns)?;
    let (udp, tcp) = bind(net, dns)?;
    tracing::info!(listen = %dns.listen, upstreams = ?settings.upstreams, "DNS forwarder for the devices");
    let fwd = Forwarder::new(settings, sink, clock);
    let task = tokio::spawn(
        fwd.clone()
            .serve(udp, tcp, async move { stop.cancelled().await }),
    );
    Ok(Some((fwd, task)))
}

#[cfg(test)]
mod tests;
