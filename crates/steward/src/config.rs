//! Configuration: one struct tree with defaults, read from an optional TOML file,
//! then environment overrides, then command-line flags (applied by the CLI).
//!
//! `config.template.toml` beside `Cargo.toml` is the commented template that
//! `steward config template` prints; a test keeps it equal to the defaults here.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// The commented template, every setting at its default.
pub const TEMPLATE: &str = include_str!("../config.template.toml");

/// Why a configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("config file {path}: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("environment variable {name}: {message}")]
    Env { name: &'static str, message: String },
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    pub server: ServerConfig,
    pub mqtt: MqttConfig,
    pub http: HttpConfig,
    pub store: StoreConfig,
    pub network: NetworkConfig,
    pub dns: DnsConfig,
    pub dhcp: DhcpConfig,
    pub ntp: NtpConfig,
    pub coap: CoapConfig,
    pub updates: UpdatesConfig,
    /// `[enforce]`: nftables on the router (netpolicy, enforce).
    pub enforce: crate::enforce::EnforceConfig,
    /// `[mud]`: fetching and verifying devices' MUD files.
    pub mud: crate::netpolicy::mudfetch::MudConfig,
    /// `[policy]`: zones, consent rules, the site (seeds the applied policy).
    pub policy: policy::PolicyConfig,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerConfig {
    pub data: PathBuf,
    pub http: SocketAddr,
    pub http_tls: HttpTls,
    pub mqtts: SocketAddr,
    pub coaps: SocketAddr,
    pub hostnames: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MqttConfig {
    pub max_packet_size: u32,
    pub rate_limit_per_sec: u32,
    pub rate_burst: u32,
    pub max_inflight: u16,
    pub connect_timeout_secs: u64,
    pub default_keep_alive_secs: u16,
    pub max_connections: usize,
    pub maker_cas: Vec<PathBuf>,
    pub max_queued_per_session: usize,
}

/// CoAP over DTLS-PSK (`crate::ingest::coap`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CoapConfig {
    pub max_sessions: usize,
    pub max_sessions_per_address: usize,
    pub handshake_timeout_secs: u64,
    pub idle_timeout_secs: u64,
    pub max_body: usize,
    pub reassembly_timeout_secs: u64,
    pub rate_limit_per_sec: u32,
    pub rate_burst: u32,
}

impl Default for CoapConfig {
    fn default() -> Self {
        CoapConfig {
            max_sessions: 10_000,
            max_sessions_per_address: 64,
            handshake_timeout_secs: 10,
            idle_timeout_secs: 300,
            max_body: 256 * 1024,
            reassembly_timeout_secs: 60,
            rate_limit_per_sec: 100,
            rate_burst: 200,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HttpConfig {
    pub max_body: usize,
}

/// Whether the HTTP API speaks TLS.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum HttpTls {
    /// TLS unless the address is a loopback address (traffic never leaves the host).
    Auto,
    On,
    Off,
}

impl HttpTls {
    pub fn enabled(self, addr: SocketAddr) -> bool {
        match self {
            HttpTls::Auto => !addr.ip().is_loopback(),
            HttpTls::On => true,
            HttpTls::Off => false,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Synchronous {
    Full,
    Normal,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StoreConfig {
    pub synchronous: Synchronous,
    pub batch_max_readings: usize,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            data: PathBuf::from("./steward-data"),
            http: SocketAddr::from(([127, 0, 0, 1], 8080)),
            http_tls: HttpTls::Auto,
            mqtts: SocketAddr::from(([0, 0, 0, 0], 8883)),
            coaps: SocketAddr::from(([0, 0, 0, 0], 5684)),
            hostnames: vec!["localhost".into(), "127.0.0.1".into(), "::1".into()],
        }
    }
}

impl Default for MqttConfig {
    fn default() -> Self {
        MqttConfig {
            max_packet_size: 256 * 1024,
            rate_limit_per_sec: 200,
            rate_burst: 400,
            max_inflight: 64,
            connect_timeout_secs: 10,
            default_keep_alive_secs: 0,
            max_connections: 20_000,
            maker_cas: Vec::new(),
            max_queued_per_session: 1000,
        }
    }
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            max_body: 1024 * 1024,
        }
    }
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig {
            synchronous: Synchronous::Full,
            batch_max_readings: 5_000,
        }
    }
}

/// Where Steward sits when it is the router between the devices' LAN and the uplink.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NetworkConfig {
    /// The devices' interface (e.g. `lan0`); the DNS, DHCP and NTP sockets are bound to it.
    pub lan_interface: String,
    /// The interface towards the Internet.
    pub uplink_interface: String,
    /// The devices' prefixes: DNS queries from elsewhere are refused, NTP
    /// requests ignored.
    pub lan_prefixes: Vec<ipnet::IpNet>,
}

/// The DNS forwarder for the devices (`enforce::dns`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DnsConfig {
    pub enabled: bool,
    /// UDP and TCP address the devices query (Steward's LAN address, port 53).
    pub listen: SocketAddr,
    /// Upstream resolvers, tried in order.
    pub upstreams: Vec<SocketAddr>,
    /// How long one upstream has to answer, in milliseconds.
    pub timeout_ms: u64,
    /// Queries one device may have awaiting an upstream answer at once.
    pub max_inflight_per_client: usize,
    /// Most addresses taken from one answer (the answer is trimmed to them).
    pub max_addresses: usize,
    /// TCP connections one device may hold open, and how long one may stay idle.
    pub max_tcp_per_client: usize,
    pub tcp_idle_secs: u64,
}

/// The DHCPv4 server for the devices (`enforce::dhcp`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DhcpConfig {
    pub enabled: bool,
    /// Steward's address on the LAN: the server identifier, and the router and DNS
    /// server announced to devices.
    pub server_address: Option<std::net::Ipv4Addr>,
    /// The LAN subnet (mask and broadcast address come from it).
    pub subnet: Option<ipnet::Ipv4Net>,
    /// First and last address handed out (inclusive).
    pub pool_start: Option<std::net::Ipv4Addr>,
    pub pool_end: Option<std::net::Ipv4Addr>,
    /// Lease time offered, in seconds.
    pub lease_secs: u32,
    /// UDP port the server listens on (67; tests may move it).
    pub port: u16,
    /// Fixed addresses for known MAC addresses.
    pub reservations: Vec<DhcpReservation>,
}

/// The SNTP server for the devices (`enforce::ntp`): the `ntp` capability of a
/// policy opens UDP 123 to Steward, and this answers there.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NtpConfig {
    pub enabled: bool,
    /// UDP address the devices ask (Steward's LAN address, port 123).
    pub listen: SocketAddr,
    /// The stratum Steward announces, 1 to 15: one more than the servers the
    /// host's own NTP client (chrony, systemd-timesyncd) follows. 3 fits a host
    /// that follows public stratum-2 servers; devices prefer lower strata when
    /// they know several servers.
    pub stratum: u8,
}

impl Default for NtpConfig {
    fn default() -> Self {
        NtpConfig {
            enabled: false,
            listen: SocketAddr::from(([0, 0, 0, 0], 123)),
            stratum: 3,
        }
    }
}

/// A fixed address for one MAC address.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DhcpReservation {
    pub mac: String,
    pub ip: std::net::Ipv4Addr,
}

impl Default for DnsConfig {
    fn default() -> Self {
        DnsConfig {
            enabled: false,
            listen: SocketAddr::from(([0, 0, 0, 0], 53)),
            upstreams: Vec::new(),
            timeout_ms: 2000,
            max_inflight_per_client: 32,
            max_addresses: 64,
            max_tcp_per_client: 8,
            tcp_idle_secs: 10,
        }
    }
}

impl Default for DhcpConfig {
    fn default() -> Self {
        DhcpConfig {
            enabled: false,
            server_address: None,
            subnet: None,
            pool_start: None,
            pool_end: None,
            lease_secs: 3600,
            port: 67,
            reservations: Vec::new(),
        }
    }
}

/// Firmware updates (`crate::updates`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct UpdatesConfig {
    pub max_payload_bytes: u64,
    pub tick_ms: u64,
    pub renotify_secs: u64,
    pub device_timeout_secs: u64,
    pub notices_per_tick: usize,
    pub public_url: String,
}

impl Default for UpdatesConfig {
    fn default() -> Self {
        UpdatesConfig {
            max_payload_bytes: 256 << 20,
            tick_ms: 500,
            renotify_secs: 30,
            device_timeout_secs: 3600,
            notices_per_tick: 500,
            public_url: String::new(),
        }
    }
}

/// Where environment overrides come from; tests pass a map instead of the process env.
pub trait Env {
    fn get(&self, name: &str) -> Option<String>;
}

/// The real process environment.
pub struct ProcessEnv;

impl Env for ProcessEnv {
    fn get(&self, name: &str) -> Option<String> {
        std::env::var(name).ok()
    }
}

impl<const N: usize> Env for [(&str, &str); N] {
    fn get(&self, name: &str) -> Option<String> {
        self.iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.to_string())
    }
}

impl Config {
    /// Parse a TOML document; `origin` names it in errors.
    pub fn from_toml(text: &str, origin: &Path) -> Result<Config, ConfigError> {
        toml::from_str(text).map_err(|e| ConfigError::Parse {
            path: origin.to_path_buf(),
            message: e.to_string(),
        })
    }

    /// Defaults, then the file (if given), then the environment.
    pub fn load(file: Option<&Path>, env: &dyn Env) -> Result<Config, ConfigError> {
        let mut config = match file {
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                    path: path.to_path_buf(),
                    source,
                })?;
                Config::from_toml(&text, path)?
            }
            None => Config::default(),
        };
        config.apply_env(env)?;
        Ok(config)
    }

    fn apply_env(&mut self, env: &dyn Env) -> Result<(), ConfigError> {
        if let Some(v) = env.get("STEWARD_DATA") {
            self.server.data = PathBuf::from(v);
        }
        for (name, slot) in [
            ("STEWARD_HTTP", &mut self.server.http),
            ("STEWARD_MQTTS", &mut self.server.mqtts),
            ("STEWARD_COAPS", &mut self.server.coaps),
        ] {
            if let Some(v) = env.get(name) {
                *slot = v.parse().map_err(|e| ConfigError::Env {
                    name,
                    message: format!("`{v}` is not a socket address ({e})"),
                })?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn template_is_the_defaults() {
        let parsed = Config::from_toml(TEMPLATE, Path::new("template")).unwrap();
        assert_eq!(parsed, Config::default());
    }

    #[test]
    fn unknown_setting_is_named() {
        let err = Config::from_toml("[mqtt]\nmax_pakcet_size = 3\n", Path::new("x.toml"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("max_pakcet_size"), "{err}");
        assert!(err.contains("x.toml"), "{err}");
    }

    #[test]
    fn env_overrides_and_bad_env_is_reported() {
        let c = Config::load(None, &[("STEWARD_HTTP", "127.0.0.1:9999")]).unwrap();
        assert_eq!(c.server.http.port(), 9999);
        let err = Config::load(None, &[("STEWARD_MQTTS", "nope")]).unwrap_err();
        assert!(err.to_string().contains("STEWARD_MQTTS"));
    }
}
