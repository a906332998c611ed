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
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerConfig {
    pub data: PathBuf,
    pub http: SocketAddr,
    pub http_tls: HttpTls,
    pub mqtts: SocketAddr,
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
