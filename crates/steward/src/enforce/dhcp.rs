//! The devices' DHCPv4 server, and the one place where a lease turns into a
//! registered device ([`record_lease`], shared with `POST /api/v1/leases` for
//! networks where another DHCP server runs).
//!
//! The wire logic and the lease pool are in the `lan` crate (`lan::dhcp`); this
//! file does the socket (UDP 67 bound to the LAN interface, broadcast replies),
//! the store and the registry:
//! - a lease is committed to the store *before* its DHCPACK is sent, so an
//!   acknowledged address survives a crash, and the pool is loaded from the store
//!   at start (same address after a restart);
//! - an unknown MAC becomes a device in zone `restricted` with a MAC identity
//!   (strength `declared`) and an IP identity (`observed`) that moves with the lease;
//! - hostname, vendor class and the MUD URL of option 161 are kept with the lease
//!   (`Store::device_lease`), and a `lease` registry event tells the policy
//!   service to fetch the MUD file and recompile the device's policy.

use std::collections::HashMap;
use std::future::Future;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::sync::{Arc, Mutex};

use lan::dhcp::pool::{Binding, Pool, Verdict};
use lan::dhcp::{Mac, Params, ReplyKind, Request, parse_request, reply_bytes};
use tokio::net::UdpSocket;

use crate::clock::SharedClock;
use crate::config::{DhcpConfig, NetworkConfig};
use crate::registry::{
    Device, Identity, IdentityKind, Lease, NewDevice, Registry, RegistryError, Strength,
};

pub use lan::dhcp::MAX_MUD_URL;

/// The model unknown devices are registered with until their MUD file names one.
pub const UNKNOWN_MODEL: &str = "unknown";

#[derive(Debug, thiserror::Error)]
pub enum DhcpError {
    #[error("[dhcp] {0}")]
    Config(String),
    #[error("binding DHCP 0.0.0.0:{port} on {device}: {source}")]
    Bind {
        port: u16,
        device: String,
        source: std::io::Error,
    },
    #[error("lease for {ip}: {reason}")]
    Lease { ip: String, reason: String },
    #[error(transparent)]
    Registry(#[from] RegistryError),
}

/// The server's settings, checked.
#[derive(Debug, Clone)]
pub struct Settings {
    pub params: Params,
    pub pool_start: Ipv4Addr,
    pub pool_end: Ipv4Addr,
    pub subnet: ipnet::Ipv4Net,
    pub reservations: HashMap<Mac, Ipv4Addr>,
}

impl Settings {
    pub fn from_config(dhcp: &DhcpConfig) -> Result<Settings, DhcpError> {
        let need = |v: Option<Ipv4Addr>, name: &str| {
            v.ok_or_else(|| DhcpError::Config(format!("`{name}` is required when enabled")))
        };
        let server = need(dhcp.server_address, "server_address")?;
        let start = need(dhcp.pool_start, "pool_start")?;
        let end = need(dhcp.pool_end, "pool_end")?;
        let subnet = dhcp
            .subnet
            .ok_or_else(|| DhcpError::Config("`subnet` is required when enabled".into()))?;
        for (name, ip) in [
            ("server_address", server),
            ("pool_start", start),
            ("pool_end", end),
        ] {
            if !subnet.contains(&ip) {
                return Err(DhcpError::Config(format!(
                    "{name} {ip} is outside subnet {subnet}"
                )));
            }
        }
        if u32::from(start) > u32::from(end) {
            return Err(DhcpError::Config(format!(
                "pool_start {start} is after pool_end {end}"
            )));
        }
        if (u32::from(start)..=u32::from(end)).contains(&u32::from(server)) {
            return Err(DhcpError::Config(format!(
                "server_address {server} is inside the pool"
            )));
        }
        if dhcp.lease_secs < 60 {
            return Err(DhcpError::Config("lease_secs must be at least 60".into()));
        }
        let mut reservations = HashMap::new();
        for r in &dhcp.reservations {
            let mac: Mac = r
                .mac
                .parse()
                .map_err(|e| DhcpError::Config(format!("reservation: {e}")))?;
            if !subnet.contains(&r.ip) || r.ip == server {
                return Err(DhcpError::Config(format!(
                    "reservation {} for {mac} is outside subnet {subnet} or is the server's",
                    r.ip
                )));
            }
            reservations.insert(mac, r.ip);
        }
        Ok(Settings {
            params: Params {
                server,
                mask: subnet.netmask(),
                broadcast: subnet.broadcast(),
                router: server,
                dns: vec![server],
                lease_secs: dhcp.lease_secs,
            },
            pool_start: start,
            pool_end: end,
            subnet,
            reservations,
        })
    }
}

/// Bind UDP `port` on all addresses of `[network] lan_interface` (SO_BINDTODEVICE),
/// with SO_BROADCAST for replies to clients that have no address yet.
pub fn bind(net: &NetworkConfig, dhcp: &DhcpConfig) -> Result<UdpSocket, DhcpError> {
    use socket2::{Domain, Protocol, Socket, Type};
    if net.lan_interface.is_empty() {
        return Err(DhcpError::Config(
            "[network] lan_interface is required: the DHCP server answers on that interface only"
                .into(),
        ));
    }
    let err = |source| DhcpError::Bind {
        port: dhcp.port,
        device: net.lan_interface.clone(),
        source,
    };
    let s = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP)).map_err(err)?;
    s.set_reuse_address(true).map_err(err)?;
    s.set_broadcast(true).map_err(err)?;
    s.bind_device(Some(net.lan_interface.as_bytes()))
        .map_err(err)?;
    s.bind(&SocketAddr::from(([0, 0, 0, 0], dhcp.port)).into())
        .map_err(err)?;
    s.set_nonblocking(true).map_err(err)?;
    UdpSocket::from_std(s.into()).map_err(err)
}

/// A lease to record, from Steward's server or from another server's event.
#[derive(Debug, Clone)]
pub struct LeaseEvent {
    pub mac: Mac,
    pub ip: Ipv4Addr,
    pub client_id: Option<String>,
    pub hostname: Option<String>,
    pub vendor_class: Option<String>,
    /// Option 161 as read: the URL, or why it was refused; `None` when absent.
    pub mud_url: Option<Result<String, String>>,
    pub expires: f64,
    /// `dhcp` or `api`.
    pub source: &'static str,
}

fn valid_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

/// The device with this MAC, registered now if unknown: zone `restricted`,
/// model [`UNKNOWN_MODEL`], a MAC identity of strength `declared`. Named after
/// its hostname when that is free and valid, else `dhcp-<mac>`.
pub fn device_for_mac(
    registry: &Registry,
    mac: Mac,
    hostname: Option<&str>,
    now: f64,
) -> Result<Device, DhcpError> {
    let mac_s = mac.to_string();
    let store = registry.store();
    if let Some(id) = store
        .identity_owner(IdentityKind::Mac, &mac_s)
        .map_err(RegistryError::from)?
    {
        return Ok(registry.get(&id)?);
    }
    let tail = mac_s.replace(':', "");
    let mut candidates = Vec::new();
    if let Some(h) = hostname.filter(|h| valid_name(h)) {
        candidates.push(h.to_string());
        candidates.push(format!("{}-{}", &h[..h.len().min(50)], &tail[6..]));
    }
    candidates.push(format!("dhcp-{tail}"));
    let mut last = None;
    for name in candidates {
        let new = NewDevice {
            name,
            model: UNKNOWN_MODEL.into(),
            zone: None,
            tags: Vec::new(),
            firmware_version: None,
        };
        match registry.create_device(new) {
            Ok(d) => {
                let identity = Identity {
                    kind: IdentityKind::Mac,
                    value: mac_s.clone(),
                    strength: Strength::Declared,
                    created: now,
                    label: Some("DHCP".into()),
                };
                if let Err(e) = store.add_identity(&d.id, &identity) {
                    // Another request registered this MAC at the same moment.
                    let _ = store.delete_device(&d.id);
                    if let Some(id) = store
                        .identity_owner(IdentityKind::Mac, &mac_s)
                        .map_err(RegistryError::from)?
                    {
                        return Ok(registry.get(&id)?);
                    }
                    return Err(RegistryError::from(e).into());
                }
                tracing::info!(device = %d.id, name = %d.name, mac = %mac_s, zone = %d.zone, "new device from DHCP");
                return Ok(registry.get(&d.id)?);
            }
            Err(e @ RegistryError::NameTaken(_)) => last = Some(e),
            Err(e) => return Err(e.into()),
        }
    }
    Err(last
        .map(DhcpError::from)
        .unwrap_or_else(|| DhcpError::Config("no name for the device".into())))
}

/// Register the device of a lease (if new) and commit the lease. What the event
/// does not carry (a renewal without option 161) is kept from the last lease.
pub fn record_lease(
    registry: &Registry,
    ev: &LeaseEvent,
    now: f64,
) -> Result<(Device, Lease), DhcpError> {
    let device = device_for_mac(registry, ev.mac, ev.hostname.as_deref(), now)?;
    let store = registry.store();
    let prev = store
        .device_lease(&device.id)
        .map_err(RegistryError::from)?;
    let (mud_url, mud_url_error) = match &ev.mud_url {
        Some(Ok(u)) => (Some(u.clone()), None),
        Some(Err(e)) => (None, Some(e.clone())),
        None => (
            prev.as_ref().and_then(|p| p.mud_url.clone()),
            prev.as_ref().and_then(|p| p.mud_url_error.clone()),
        ),
    };
    let keep = |new: &Option<String>, old: Option<&Option<String>>| {
        new.clone().or_else(|| old.cloned().flatten())
    };
    let lease = Lease {
        ip: ev.ip.to_string(),
        mac: ev.mac.to_string(),
        client_id: keep(&ev.client_id, prev.as_ref().map(|p| &p.client_id)),
        device_id: device.id.clone(),
        hostname: keep(&ev.hostname, prev.as_ref().map(|p| &p.hostname)),
        vendor_class: keep(&ev.vendor_class, prev.as_ref().map(|p| &p.vendor_class)),
        mud_url,
        mud_url_error,
        expires: ev.expires,
        updated: now,
        source: ev.source.into(),
    };
    store.put_lease(&lease).map_err(RegistryError::from)?;
    if prev.as_ref().map(|p| &p.mud_url) != Some(&lease.mud_url)
        && let Some(u) = &lease.mud_url
    {
        tracing::info!(device = %device.id, mud_url = %u, "device declares a MUD URL");
    }
    Ok((registry.get(&device.id)?, lease))
}

/// Counters of the server, for tests and metrics.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct DhcpStats {
    pub packets: u64,
    pub malformed: u64,
    pub offers: u64,
    pub acks: u64,
    pub naks: u64,
    pub exhausted: u64,
    pub store_errors: u64,
}

/// The server: the pool, the registry it registers devices in, the clock.
pub struct DhcpServer {
    settings: Settings,
    pool: Mutex<Pool>,
    registry: Registry,
    clock: SharedClock,
    stats: Mutex<DhcpStats>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl DhcpServer {
    /// A server whose pool holds the leases in the store.
    pub fn new(
        settings: Settings,
        registry: Registry,
        clock: SharedClock,
    ) -> Result<Arc<DhcpServer>, DhcpError> {
        let mut pool = Pool::new(
            settings.pool_start,
            settings.pool_end,
            settings.params.server,
            (settings.subnet.network(), settings.subnet.prefix_len()),
            settings.reservations.clone(),
        );
        for l in registry.store().leases().map_err(RegistryError::from)? {
            let (Ok(ip), Ok(mac)) = (l.ip.parse::<Ipv4Addr>(), l.mac.parse::<Mac>()) else {
                tracing::warn!(ip = %l.ip, mac = %l.mac, "stored lease is unreadable; skipped");
                continue;
            };
            if l.source != "dhcp" || !settings.subnet.contains(&ip) {
                continue;
            }
            let client = match &l.client_id {
                Some(id) => format!("id:{id}"),
                None => format!("mac:{mac}"),
            };
            pool.bind(Binding {
                client,
                mac,
                ip,
                expires: l.expires,
            });
        }
        Ok(Arc::new(DhcpServer {
            settings,
            pool: Mutex::new(pool),
            registry,
            clock,
            stats: Mutex::new(DhcpStats::default()),
        }))
    }

    pub fn stats(&self) -> DhcpStats {
        lock(&self.stats).clone()
    }

    /// Serve on a bound socket until `shutdown`. Packets are handled one at a time:
    /// the pool's decisions and the store's commits stay in order.
    pub async fn serve(self: Arc<Self>, udp: UdpSocket, shutdown: impl Future<Output = ()>) {
        tokio::pin!(shutdown);
        let mut buf = vec![0u8; 4096];
        loop {
            let (n, from) = tokio::select! {
                _ = &mut shutdown => break,
                r = udp.recv_from(&mut buf) => match r {
                    Ok(x) => x,
                    Err(e) => {
                        tracing::warn!(error = %e, "DHCP receive");
                        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                        continue;
                    }
                },
            };
            lock(&self.stats).packets += 1;
            if let Some((reply, to)) = self.clone().handle(&buf[..n], from).await
                && let Err(e) = udp.send_to(&reply, to).await
            {
                tracing::warn!(%to, error = %e, "DHCP send");
            }
        }
    }

    /// Where a reply goes (RFC 2131 §4.1): the relay, the client's address when it
    /// has one, else broadcast (we cannot unicast to an address the client does
    /// not hold yet without writing the ARP table).
    fn destination(req: &Request, kind: ReplyKind) -> SocketAddr {
        if !req.giaddr.is_unspecified() {
            SocketAddr::V4(SocketAddrV4::new(req.giaddr, 67))
        } else if kind != ReplyKind::Nak && !req.ciaddr.is_unspecified() {
            SocketAddr::V4(SocketAddrV4::new(req.ciaddr, 68))
        } else {
            SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::BROADCAST, 68))
        }
    }

    async fn handle(
        self: Arc<Self>,
        bytes: &[u8],
        from: SocketAddr,
    ) -> Option<(Vec<u8>, SocketAddr)> {
        use lan::dhcp::pool::Exhausted;
        use lan::dhcp::v4::MessageType as T;
        let parsed = std::panic::catch_unwind(|| parse_request(bytes)).unwrap_or_else(|_| {
            // A bug in the codec (the fuzz targets hunt them): drop the packet, keep serving.
            Err(lan::dhcp::DhcpError::Decode("decoder panicked".into()))
        });
        let req = match parsed {
            Ok(r) => r,
            Err(e) => {
                lock(&self.stats).malformed += 1;
                tracing::info!(%from, error = %e, "DHCP: packet ignored");
                return None;
            }
        };
        for note in &req.notes {
            tracing::info!(mac = %req.mac, "DHCP: {note}");
        }
        if let Some(Err(e)) = &req.mud_url {
            tracing::warn!(mac = %req.mac, error = %e, "DHCP: MUD URL (option 161) refused");
        }
        let client = req.client_key();
        let now = self.clock.now();
        let p = &self.settings.params;
        match req.kind {
            T::Discover => {
                let offered = lock(&self.pool).offer(&client, req.mac, req.requested_ip, now);
                match offered {
                    Ok(ip) => {
                        lock(&self.stats).offers += 1;
                        Some((
                            reply_bytes(&req, ReplyKind::Offer, ip, p),
                            Self::destination(&req, ReplyKind::Offer),
                        ))
                    }
                    Err(Exhausted) => {
                        lock(&self.stats).exhausted += 1;
                        tracing::warn!(mac = %req.mac, "DHCP: pool exhausted; no offer");
                        None
                    }
                }
            }
            T::Request => {
                let verdict = lock(&self.pool).request(
                    &client,
                    req.mac,
                    req.server_id,
                    req.requested_ip,
                    req.ciaddr,
                    now,
                );
                match verdict {
                    Verdict::Ack(ip) => {
                        let expires = now + f64::from(p.lease_secs);
                        let ev = LeaseEvent {
                            mac: req.mac,
                            ip,
                            client_id: req.client_id.clone(),
                            hostname: req.hostname.clone(),
                            vendor_class: req.vendor_class.clone(),
                            mud_url: req.mud_url.clone(),
                            expires,
                            source: "dhcp",
                        };
                        let registry = self.registry.clone();
                        // Durable first, then the ACK.
                        let done =
                            tokio::task::spawn_blocking(move || record_lease(&registry, &ev, now))
                                .await;
                        match done {
                            Ok(Ok((device, _))) => {
                                lock(&self.pool).bind(Binding {
                                    client,
                                    mac: req.mac,
                                    ip,
                                    expires,
                                });
                                lock(&self.stats).acks += 1;
                                tracing::info!(mac = %req.mac, %ip, device = %device.id, "DHCP: lease");
                                Some((
                                    reply_bytes(&req, ReplyKind::Ack, ip, p),
                                    Self::destination(&req, ReplyKind::Ack),
                                ))
                            }
                            Ok(Err(e)) => {
                                lock(&self.stats).store_errors += 1;
                                tracing::error!(mac = %req.mac, %ip, error = %e, "DHCP: lease not recorded; no ACK");
                                None
                            }
                            Err(e) => {
                                lock(&self.stats).store_errors += 1;
                                tracing::error!(error = %e, "DHCP: lease task failed");
                                None
                            }
                        }
                    }
                    Verdict::Nak(reason) => {
                        lock(&self.stats).naks += 1;
                        tracing::info!(mac = %req.mac, %reason, "DHCP: NAK");
                        Some((
                            reply_bytes(&req, ReplyKind::Nak, Ipv4Addr::UNSPECIFIED, p),
                            Self::destination(&req, ReplyKind::Nak),
                        ))
                    }
                    Verdict::Silent(reason) => {
                        tracing::debug!(mac = %req.mac, %reason, "DHCP: request not for us");
                        None
                    }
                }
            }
            T::Release | T::Decline => {
                let ip = if req.kind == T::Release {
                    req.ciaddr
                } else {
                    req.requested_ip.unwrap_or(req.ciaddr)
                };
                let gone = {
                    let mut pool = lock(&self.pool);
                    if req.kind == T::Release {
                        pool.release(&client, ip)
                    } else {
                        pool.decline(&client, ip, now)
                    }
                };
                if gone.is_some() {
                    let store = self.registry.store().clone();
                    let ip_s = ip.to_string();
                    if let Ok(Err(e)) =
                        tokio::task::spawn_blocking(move || store.delete_lease(&ip_s)).await
                    {
                        tracing::warn!(%ip, error = %e, "DHCP: forgetting a released lease");
                    }
                }
                None
            }
            other => {
                tracing::debug!(mac = %req.mac, kind = ?other, "DHCP: message type not served");
                None
            }
        }
    }
}

/// Start the server when `[dhcp] enabled`. `None` when it is off.
pub fn start(
    net: &NetworkConfig,
    dhcp: &DhcpConfig,
    registry: Registry,
    clock: SharedClock,
    stop: tokio_util::sync::CancellationToken,
) -> Result<Option<tokio::task::JoinHandle<()>>, DhcpError> {
    if !dhcp.enabled {
        return Ok(None);
    }
    let settings = Settings::from_config(dhcp)?;
    let udp = bind(net, dhcp)?;
    tracing::info!(interface = %net.lan_interface, server = %settings.params.server,
        pool = %format!("{}-{}", settings.pool_start, settings.pool_end), "DHCP server for the devices");
    let server = DhcpServer::new(settings, registry, clock)?;
    Ok(Some(tokio::spawn(
        server.serve(udp, async move { stop.cancelled().await }),
    )))
}
