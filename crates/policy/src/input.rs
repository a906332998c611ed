//! What the engine is given: the configuration, the devices of the site, and
//! the compiled MUD policies by MUD URL. The gateway assembles these from its
//! registry and MUD cache; the engine never fetches anything.

use crate::config::{Grade, PolicyConfig, Strength};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::net::IpAddr;

/// One device, as the policy engine sees it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Device {
    pub id: String,
    /// `None`: the configuration's default zone (`restricted`).
    pub zone: Option<String>,
    /// Model name from the registry.
    pub model: Option<String>,
    /// Manufacturer name from the registry.
    pub maker: Option<String>,
    pub mud_url: Option<String>,
    pub strength: Strength,
    /// Trust-label grade, once the label exists.
    pub grade: Option<Grade>,
    pub tags: Vec<String>,
    /// The device's current addresses (from DHCP, neighbour tables, …).
    pub addresses: Vec<IpAddr>,
}

impl Device {
    /// The authority (host) of the device's MUD URL: its manufacturer in the
    /// sense of RFC 8520 §8.1.
    pub fn mud_authority(&self) -> Option<String> {
        self.mud_url.as_deref().and_then(url_authority)
    }
}

/// The host part of a URL, lower case, without user info or port.
pub fn url_authority(url: &str) -> Option<String> {
    let rest = url.split_once("://")?.1;
    let auth = rest.split(['/', '?', '#']).next()?;
    let host = auth.rsplit_once('@').map(|(_, h)| h).unwrap_or(auth);
    let host = if let Some(v6) = host.strip_prefix('[') {
        v6.split(']').next()?
    } else {
        host.split(':').next()?
    };
    (!host.is_empty()).then(|| host.to_ascii_lowercase())
}

/// Everything one compilation needs.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Inputs {
    pub config: PolicyConfig,
    pub devices: Vec<Device>,
    /// Compiled MUD files by MUD URL (only verified files belong here).
    pub mud: BTreeMap<String, mud::DevicePolicy>,
}
