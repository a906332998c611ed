//! The devices' time server: the policy capability `ntp` ("NTP through Steward",
//! part of the `restricted` zone's default) opens UDP 123 to Steward, and this
//! answers there, from Steward's clock.
//!
//! The wire logic (the 48-byte header, the request check, the reply) is in the
//! `lan` crate (`lan::ntp`); this file does the socket:
//! - one UDP socket on `[ntp] listen`, bound to `[network] lan_interface`
//!   (SO_BINDTODEVICE), served until a shutdown future resolves ([`Server::serve`]);
//! - only sources in `[network] lan_prefixes` are answered; others are ignored
//!   (no reply at all, so nothing off the LAN learns the service is there);
//! - anything but a client request (mode 3, version 1-4, 48 bytes or more) is
//!   dropped;
//! - each source gets at most [`BURST`] answers at once and [`RATE_PER_SEC`] a
//!   second after that ([`RateLimiter`]); the excess is dropped. A reply is never
//!   larger than its request, so with the limit Steward cannot amplify anything.

use std::collections::HashMap;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use ipnet::IpNet;
use lan::ntp::{ServerClock, Timestamp, check_request, reply};
use tokio::net::UdpSocket;

use crate::clock::SharedClock;
use crate::config::{NetworkConfig, NtpConfig};

/// Answers one source may get at once.
pub const BURST: f64 = 8.0;
/// Answers one source may get per second, sustained (SNTP clients ask once per
/// poll interval, 16 s or more; RFC 4330 §10 forbids faster than once a minute
/// for most).
pub const RATE_PER_SEC: f64 = 2.0;
/// Most sources whose rate is tracked; past it, the idlest are forgotten.
const MAX_TRACKED: usize = 65_536;

#[derive(Debug, thiserror::Error)]
pub enum NtpError {
    #[error("[ntp] is enabled but [network] lan_prefixes is empty: say which sources are devices")]
    NoLan,
    #[error(
        "[ntp] stratum = {0} is not 1 to 15 (one more than the servers the host's NTP client follows, e.g. 3)"
    )]
    Stratum(u8),
    #[error("binding NTP UDP {addr}{device}: {source}")]
    Bind {
        addr: SocketAddr,
        device: String,
        source: std::io::Error,
    },
}

/// Per-source token buckets, on the injected clock (seconds).
#[derive(Debug, Default)]
pub struct RateLimiter {
    buckets: HashMap<IpAddr, (f64, f64)>,
}

impl RateLimiter {
    /// Whether `source` may have one more answer at time `now`.
    pub fn allow(&mut self, source: IpAddr, now: f64) -> bool {
        if !self.buckets.contains_key(&source) && self.buckets.len() >= MAX_TRACKED {
            // Sources full for a whole burst's refill time hold nothing a fresh
            // bucket would not give them: forget them.
            let idle = BURST / RATE_PER_SEC;
            self.buckets.retain(|_, (_, last)| now - *last < idle);
            if self.buckets.len() >= MAX_TRACKED {
                return false;
            }
        }
        let (tokens, last) = self.buckets.entry(source).or_insert((BURST, now));
        let elapsed = (now - *last).max(0.0);
        *tokens = (*tokens + elapsed * RATE_PER_SEC).min(BURST);
        *last = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// The server: the LAN prefixes, what it says of its clock, the clock itself.
pub struct Server {
    lan: Vec<IpNet>,
    clock_info: ServerClock,
    clock: SharedClock,
    limiter: std::sync::Mutex<RateLimiter>,
}

impl Server {
    pub fn new(
        net: &NetworkConfig,
        ntp: &NtpConfig,
        clock: SharedClock,
    ) -> Result<Server, NtpError> {
        if net.lan_prefixes.is_empty() {
            return Err(NtpError::NoLan);
        }
        if !(1..=15).contains(&ntp.stratum) {
            return Err(NtpError::Stratum(ntp.stratum));
        }
        Ok(Server {
            lan: net.lan_prefixes.clone(),
            clock_info: ServerClock::at_stratum(ntp.stratum),
            clock,
            limiter: std::sync::Mutex::new(RateLimiter::default()),
        })
    }

    fn is_lan(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
            v4 => v4,
        };
        self.lan.iter().any(|p| p.contains(&ip))
    }

    /// The reply to `packet` from `from`, received at `received` (Unix seconds),
    /// or `None` when it is dropped.
    pub fn answer(&self, packet: &[u8], from: IpAddr, received: f64) -> Option<[u8; 48]> {
        if !self.is_lan(from) {
            tracing::debug!(%from, "NTP: request from outside the LAN ignored");
            return None;
        }
        let request = match check_request(packet) {
            Ok(r) => r,
            Err(e) => {
                tracing::debug!(%from, error = %e, "NTP: datagram dropped");
                return None;
            }
        };
        let allowed = self
            .limiter
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .allow(from, received);
        if !allowed {
            tracing::debug!(%from, "NTP: over the per-device rate; dropped");
            return None;
        }
        let rx = Timestamp::from_unix(received);
        let tx = Timestamp::from_unix(self.clock.now());
        Some(reply(&request, &self.clock_info, rx, tx).to_bytes())
    }

    /// Answer devices on a bound UDP socket until `shutdown`.
    pub async fn serve(self: Arc<Self>, udp: UdpSocket, shutdown: impl Future<Output = ()>) {
        tokio::pin!(shutdown);
        let mut buf = vec![0u8; 2048];
        loop {
            tokio::select! {
                _ = &mut shutdown => break,
                r = udp.recv_from(&mut buf) => match r {
                    Ok((n, from)) => {
                        let received = self.clock.now();
                        if let Some(out) = self.answer(&buf[..n], from.ip(), received)
                            && let Err(e) = udp.send_to(&out, from).await
                        {
                            tracing::debug!(%from, error = %e, "NTP: sending reply");
                        }
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "NTP UDP receive");
                        tokio::time::sleep(Duration::from_millis(10)).await;
                    }
                },
            }
        }
    }
}

/// Bind the server's UDP socket on `[ntp] listen`, to `[network] lan_interface`
/// when one is set (SO_BINDTODEVICE).
pub fn bind(net: &NetworkConfig, ntp: &NtpConfig) -> Result<UdpSocket, NtpError> {
    use socket2::{Protocol, Type};
    let addr = ntp.listen;
    let device = net.lan_interface.clone();
    let err = |source| NtpError::Bind {
        addr,
        device: if device.is_empty() {
            String::new()
        } else {
            format!(" on {device}")
        },
        source,
    };
    let s = super::lan_socket(addr, &device, Type::DGRAM, Protocol::UDP).map_err(err)?;
    UdpSocket::from_std(s.into()).map_err(err)
}

/// Start the server when `[ntp] enabled`: bind its socket and serve until `stop`
/// is cancelled. `None` when it is off.
pub fn start(
    net: &NetworkConfig,
    ntp: &NtpConfig,
    clock: SharedClock,
    stop: tokio_util::sync::CancellationToken,
) -> Result<Option<tokio::task::JoinHandle<()>>, NtpError> {
    if !ntp.enabled {
        return Ok(None);
    }
    let server = Arc::new(Server::new(net, ntp, clock)?);
    let udp = bind(net, ntp)?;
    tracing::info!(listen = %ntp.listen, stratum = ntp.stratum, "NTP server for the devices");
    Ok(Some(tokio::spawn(
        server.serve(udp, async move { stop.cancelled().await }),
    )))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;
    use lan::ntp::Packet;

    fn request(transmit: u64) -> Vec<u8> {
        let mut b = vec![0u8; 48];
        b[0] = (4 << 3) | 3;
        b[40..48].copy_from_slice(&transmit.to_be_bytes());
        b
    }

    fn server(clock: SharedClock) -> Server {
        let net = NetworkConfig {
            lan_prefixes: vec!["10.1.0.0/24".parse().unwrap()],
            ..Default::default()
        };
        Server::new(&net, &NtpConfig::default(), clock).unwrap()
    }

    const DEV: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(10, 1, 0, 5));

    #[test]
    fn a_device_gets_the_time_from_the_clock() {
        let clock = ManualClock::new(1_700_000_000.0);
        let s = server(clock.clone());
        clock.set(1_700_000_000.5);
        let out = s.answer(&request(42), DEV, 1_700_000_000.25).unwrap();
        let r = Packet::try_from(&out[..]).unwrap();
        assert_eq!((r.mode, r.version, r.stratum, r.leap), (4, 4, 3, 0));
        assert_eq!(r.origin, Timestamp(42));
        assert_eq!(r.receive, Timestamp::from_unix(1_700_000_000.25));
        assert_eq!(r.transmit, Timestamp::from_unix(1_700_000_000.5));
    }

    #[test]
    fn off_lan_and_malformed_get_nothing() {
        let s = server(ManualClock::new(1e9));
        let off: IpAddr = "10.2.0.5".parse().unwrap();
        assert!(s.answer(&request(1), off, 1e9).is_none());
        let mapped: IpAddr = "::ffff:10.1.0.5".parse().unwrap();
        assert!(s.answer(&request(1), mapped, 1e9).is_some());
        assert!(s.answer(&request(1)[..47], DEV, 1e9).is_none());
        let mut server_mode = request(1);
        server_mode[0] = (4 << 3) | 4;
        assert!(s.answer(&server_mode, DEV, 1e9).is_none());
    }

    #[test]
    fn each_device_is_rate_limited() {
        let s = server(ManualClock::new(1e9));
        let answered = (0..50)
            .filter(|_| s.answer(&request(1), DEV, 1e9).is_some())
            .count();
        assert_eq!(answered, BURST as usize);
        // Another device has its own budget; time refills the first one's.
        let other: IpAddr = "10.1.0.6".parse().unwrap();
        assert!(s.answer(&request(1), other, 1e9).is_some());
        assert!(s.answer(&request(1), DEV, 1e9 + 0.1).is_none());
        assert!(s.answer(&request(1), DEV, 1e9 + 0.5).is_some());
    }

    #[test]
    fn bad_settings_are_named() {
        let clock: SharedClock = ManualClock::new(0.0);
        let err = Server::new(
            &NetworkConfig::default(),
            &NtpConfig::default(),
            clock.clone(),
        )
        .err()
        .unwrap();
        assert!(err.to_string().contains("lan_prefixes"), "{err}");
        let net = NetworkConfig {
            lan_prefixes: vec!["10.1.0.0/24".parse().unwrap()],
            ..Default::default()
        };
        let ntp = NtpConfig {
            stratum: 16,
            ..Default::default()
        };
        let err = Server::new(&net, &ntp, clock).err().unwrap();
        assert!(err.to_string().contains("stratum = 16"), "{err}");
    }
}
