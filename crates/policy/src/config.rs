//! The owner's half of "consent in advance": zones with baseline policies,
//! consent rules, and the facts about the site the MUD abstractions are bound to.
//!
//! Every type here is serde- and TOML-friendly (capabilities, denies, prefixes
//! and rates are plain strings), so the gateway embeds [`PolicyConfig`] in its
//! config file as is:
//!
//! ```toml
//! [zones.cameras]
//! description = "CCTV cameras"
//! grant = ["dns", "ntp", "mud"]
//!
//! [[consent]]
//! name = "cameras"
//! match = { maker = "cams.example", strength_at_least = "certificate" }
//! grant = ["mud", "telemetry", "lateral:same-manufacturer"]
//! deny = ["internet", "203.0.113.0/24"]
//! ```

use crate::error::PolicyError;
use mud::model::IpPrefix;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

/// The zone every device without a (known) zone lands in.
pub const RESTRICTED: &str = "restricted";
pub const TRUSTED: &str = "trusted";
pub const QUARANTINE: &str = "quarantine";

/// How sure Steward is of who a device is; ordered weakest first.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Strength {
    #[default]
    Observed,
    Declared,
    Token,
    Certificate,
}

/// A trust-label grade; `A` is best. "At least B" means A or B.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Grade {
    A,
    B,
    C,
    D,
    E,
}

impl Grade {
    /// Whether this grade is as good as `min` or better.
    pub fn at_least(self, min: Grade) -> bool {
        self <= min
    }
}

/// A transport protocol in capabilities, denies and `explain` destinations.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum L4 {
    Tcp,
    Udp,
}

impl L4 {
    pub fn as_str(self) -> &'static str {
        match self {
            L4::Tcp => "tcp",
            L4::Udp => "udp",
        }
    }
    pub fn protocol(self) -> mud::Protocol {
        match self {
            L4::Tcp => mud::Protocol::Tcp,
            L4::Udp => mud::Protocol::Udp,
        }
    }
}

/// A bandwidth limit, written `256kbit/s`, `2mbit/s`, `1gbit/s` or `9600bit/s`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Rate {
    pub bits_per_second: u64,
}

impl FromStr for Rate {
    type Err = PolicyError;
    fn from_str(s: &str) -> Result<Self, PolicyError> {
        let err = |reason: &str| PolicyError::Rate {
            value: s.to_string(),
            reason: reason.to_string(),
        };
        let t = s.trim().to_ascii_lowercase();
        let t = t.strip_suffix("/s").unwrap_or(&t);
        let digits = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
        let (n, unit) = t.split_at(digits);
        let n: u64 = n.parse().map_err(|_| err("no number"))?;
        let mult: u64 = match unit {
            "bit" | "bps" => 1,
            "kbit" | "kbps" => 1_000,
            "mbit" | "mbps" => 1_000_000,
            "gbit" | "gbps" => 1_000_000_000,
            _ => return Err(err("unknown unit; use bit, kbit, mbit or gbit")),
        };
        if n == 0 {
            return Err(err("a rate of zero allows nothing; use a deny instead"));
        }
        let bits_per_second = n.checked_mul(mult).ok_or_else(|| err("too large"))?;
        Ok(Rate { bits_per_second })
    }
}

impl fmt::Display for Rate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let b = self.bits_per_second;
        for (m, u) in [
            (1_000_000_000, "gbit"),
            (1_000_000, "mbit"),
            (1_000, "kbit"),
        ] {
            if b.is_multiple_of(m) {
                return write!(f, "{}{u}/s", b / m);
            }
        }
        write!(f, "{b}bit/s")
    }
}

impl TryFrom<String> for Rate {
    type Error = PolicyError;
    fn try_from(s: String) -> Result<Self, PolicyError> {
        s.parse()
    }
}
impl From<Rate> for String {
    fn from(r: Rate) -> String {
        r.to_string()
    }
}

/// An address prefix written as text (`192.0.2.0/24`, `2001:db8::/32`, or a bare
/// address for one host).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Prefix(pub IpPrefix);

impl Prefix {
    /// Whether `addr` lies in this prefix.
    pub fn contains(&self, addr: IpAddr) -> bool {
        prefix_contains(&self.0, addr)
    }
    /// Whether the two prefixes share any address.
    pub fn overlaps(&self, other: &IpPrefix) -> bool {
        let shorter = self.0.len.min(other.len);
        match (self.0.addr, other.addr) {
            (IpAddr::V4(a), IpAddr::V4(b)) => {
                masked(u32::from(a) as u128, 32, shorter)
                    == masked(u32::from(b) as u128, 32, shorter)
            }
            (IpAddr::V6(a), IpAddr::V6(b)) => {
                masked(u128::from(a), 128, shorter) == masked(u128::from(b), 128, shorter)
            }
            _ => false,
        }
    }
}

fn masked(v: u128, width: u8, len: u8) -> u128 {
    let len = len.min(width);
    if len == 0 { 0 } else { v >> (width - len) }
}

/// Whether `addr` lies in `p`.
pub fn prefix_contains(p: &IpPrefix, addr: IpAddr) -> bool {
    match (p.addr, addr) {
        (IpAddr::V4(a), IpAddr::V4(b)) => {
            masked(u32::from(a) as u128, 32, p.len) == masked(u32::from(b) as u128, 32, p.len)
        }
        (IpAddr::V6(a), IpAddr::V6(b)) => {
            masked(u128::from(a), 128, p.len) == masked(u128::from(b), 128, p.len)
        }
        _ => false,
    }
}

impl FromStr for Prefix {
    type Err = PolicyError;
    fn from_str(s: &str) -> Result<Self, PolicyError> {
        let s = s.trim();
        if let Ok(a) = s.parse::<IpAddr>() {
            return Ok(Prefix(IpPrefix::host(a)));
        }
        s.parse::<IpPrefix>()
            .map(Prefix)
            .map_err(|reason| PolicyError::Prefix {
                value: s.to_string(),
                reason,
            })
    }
}
impl fmt::Display for Prefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let p = &self.0;
        if (p.addr.is_ipv4() && p.len == 32) || p.len == 128 {
            write!(f, "{}", p.addr)
        } else {
            write!(f, "{p}")
        }
    }
}
impl TryFrom<String> for Prefix {
    type Error = PolicyError;
    fn try_from(s: String) -> Result<Self, PolicyError> {
        s.parse()
    }
}
impl From<Prefix> for String {
    fn from(p: Prefix) -> String {
        p.to_string()
    }
}

/// One term of a `lateral:` selector.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum LateralTerm {
    /// Every local device.
    Any,
    /// Devices whose MUD URL has the same authority as this device's.
    SameManufacturer,
    /// Devices with the same MUD URL as this device.
    SameModel,
    Zone(String),
    Maker(String),
    Model(String),
    Tag(String),
    Device(String),
}

/// Which other local devices a `lateral:` grant lets a device talk to: a
/// conjunction of terms, e.g. `same-manufacturer,zone=trusted`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct LateralSelector(pub Vec<LateralTerm>);

impl FromStr for LateralSelector {
    type Err = PolicyError;
    fn from_str(s: &str) -> Result<Self, PolicyError> {
        let err = |reason: String| PolicyError::Selector {
            value: s.to_string(),
            reason,
        };
        let mut terms = Vec::new();
        for t in s.split(',').map(str::trim) {
            let term = match t.split_once('=') {
                None => match t {
                    "any" | "*" => LateralTerm::Any,
                    "same-manufacturer" => LateralTerm::SameManufacturer,
                    "same-model" => LateralTerm::SameModel,
                    "" => return Err(err("empty term".into())),
                    other => return Err(err(format!("unknown term '{other}'"))),
                },
                Some((k, v)) => {
                    let v = v.trim();
                    if v.is_empty() {
                        return Err(err(format!("'{k}=' needs a value")));
                    }
                    let v = v.to_string();
                    match k.trim() {
                        "zone" => LateralTerm::Zone(v),
                        "maker" => LateralTerm::Maker(v),
                        "model" => LateralTerm::Model(v),
                        "tag" => LateralTerm::Tag(v),
                        "device" => LateralTerm::Device(v),
                        other => return Err(err(format!("unknown key '{other}'"))),
                    }
                }
            };
            terms.push(term);
        }
        Ok(LateralSelector(terms))
    }
}

impl fmt::Display for LateralSelector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, t) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            match t {
                LateralTerm::Any => f.write_str("any")?,
                LateralTerm::SameManufacturer => f.write_str("same-manufacturer")?,
                LateralTerm::SameModel => f.write_str("same-model")?,
                LateralTerm::Zone(v) => write!(f, "zone={v}")?,
                LateralTerm::Maker(v) => write!(f, "maker={v}")?,
                LateralTerm::Model(v) => write!(f, "model={v}")?,
                LateralTerm::Tag(v) => write!(f, "tag={v}")?,
                LateralTerm::Device(v) => write!(f, "device={v}")?,
            }
        }
        Ok(())
    }
}

/// The kinds of capability, as named in denies (`deny = ["internet"]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CapabilityKind {
    Mud,
    Internet,
    Lateral,
    Dns,
    Ntp,
    Updates,
    Telemetry,
    Commands,
}

impl CapabilityKind {
    pub fn as_str(self) -> &'static str {
        match self {
            CapabilityKind::Mud => "mud",
            CapabilityKind::Internet => "internet",
            CapabilityKind::Lateral => "lateral",
            CapabilityKind::Dns => "dns",
            CapabilityKind::Ntp => "ntp",
            CapabilityKind::Updates => "updates",
            CapabilityKind::Telemetry => "telemetry",
            CapabilityKind::Commands => "commands",
        }
    }
    fn parse(s: &str) -> Option<CapabilityKind> {
        Some(match s {
            "mud" => CapabilityKind::Mud,
            "internet" => CapabilityKind::Internet,
            "lateral" => CapabilityKind::Lateral,
            "dns" => CapabilityKind::Dns,
            "ntp" => CapabilityKind::Ntp,
            "updates" => CapabilityKind::Updates,
            "telemetry" => CapabilityKind::Telemetry,
            "commands" => CapabilityKind::Commands,
            _ => return None,
        })
    }
}

/// What a zone baseline or a consent rule grants. Written as strings:
/// `mud`, `dns`, `ntp`, `updates`, `telemetry`, `commands`,
/// `internet[:PORT[/tcp|udp]][@RATE]`, `lateral:SELECTOR`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum Capability {
    /// What the device's MUD file declares, bound to this site.
    Mud,
    /// DNS through Steward.
    Dns,
    /// NTP through Steward.
    Ntp,
    /// Signed firmware updates: the update topic and fetching from Steward.
    Updates,
    /// Publishing readings to Steward.
    Telemetry,
    /// Receiving commands from Steward.
    Commands,
    /// Connections the device opens to the Internet (anything outside the
    /// site's local networks), optionally only one port, optionally rate limited.
    Internet {
        port: Option<u16>,
        proto: Option<L4>,
        rate: Option<Rate>,
    },
    /// Traffic with other local devices, both ways.
    Lateral(LateralSelector),
}

impl Capability {
    pub fn kind(&self) -> CapabilityKind {
        match self {
            Capability::Mud => CapabilityKind::Mud,
            Capability::Dns => CapabilityKind::Dns,
            Capability::Ntp => CapabilityKind::Ntp,
            Capability::Updates => CapabilityKind::Updates,
            Capability::Telemetry => CapabilityKind::Telemetry,
            Capability::Commands => CapabilityKind::Commands,
            Capability::Internet { .. } => CapabilityKind::Internet,
            Capability::Lateral(_) => CapabilityKind::Lateral,
        }
    }
}

impl FromStr for Capability {
    type Err = PolicyError;
    fn from_str(s: &str) -> Result<Self, PolicyError> {
        let err = |reason: String| PolicyError::Capability {
            value: s.to_string(),
            reason,
        };
        let t = s.trim();
        if let Some(sel) = t.strip_prefix("lateral:") {
            return Ok(Capability::Lateral(sel.parse()?));
        }
        if let Some(rest) = t.strip_prefix("internet") {
            let (rest, rate) = match rest.split_once('@') {
                Some((r, rate)) => (r, Some(rate.parse::<Rate>()?)),
                None => (rest, None),
            };
            let (port, proto) = if rest.is_empty() {
                (None, None)
            } else if let Some(pp) = rest.strip_prefix(':') {
                let (p, proto) = split_proto(pp);
                let port = p
                    .parse::<u16>()
                    .map_err(|_| err(format!("'{p}' is not a port number")))?;
                (Some(port), proto)
            } else {
                return Err(err("unknown capability".into()));
            };
            return Ok(Capability::Internet { port, proto, rate });
        }
        match CapabilityKind::parse(t) {
            Some(CapabilityKind::Lateral) => Err(err(
                "lateral needs a selector, e.g. lateral:same-manufacturer".into(),
            )),
            Some(CapabilityKind::Mud) => Ok(Capability::Mud),
            Some(CapabilityKind::Dns) => Ok(Capability::Dns),
            Some(CapabilityKind::Ntp) => Ok(Capability::Ntp),
            Some(CapabilityKind::Updates) => Ok(Capability::Updates),
            Some(CapabilityKind::Telemetry) => Ok(Capability::Telemetry),
            Some(CapabilityKind::Commands) => Ok(Capability::Commands),
            Some(CapabilityKind::Internet) | None => Err(err("unknown capability".into())),
        }
    }
}

/// Splits a `/tcp` or `/udp` suffix off.
pub(crate) fn split_proto(s: &str) -> (&str, Option<L4>) {
    if let Some(r) = s.strip_suffix("/tcp") {
        (r, Some(L4::Tcp))
    } else if let Some(r) = s.strip_suffix("/udp") {
        (r, Some(L4::Udp))
    } else {
        (s, None)
    }
}

impl fmt::Display for Capability {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Capability::Internet { port, proto, rate } => {
                f.write_str("internet")?;
                if let Some(p) = port {
                    write!(f, ":{p}")?;
                }
                if let Some(p) = proto {
                    write!(f, "/{}", p.as_str())?;
                }
                if let Some(r) = rate {
                    write!(f, "@{r}")?;
                }
                Ok(())
            }
            Capability::Lateral(sel) => write!(f, "lateral:{sel}"),
            other => f.write_str(other.kind().as_str()),
        }
    }
}
impl TryFrom<String> for Capability {
    type Error = PolicyError;
    fn try_from(s: String) -> Result<Self, PolicyError> {
        s.parse()
    }
}
impl From<Capability> for String {
    fn from(c: Capability) -> String {
        c.to_string()
    }
}

/// What a traffic deny names on the far side.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Target {
    Any,
    Name(String),
    Prefix(Prefix),
}

impl PartialOrd for Prefix {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Prefix {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.0.addr, self.0.len).cmp(&(other.0.addr, other.0.len))
    }
}

/// Parses `HOST|PREFIX|*[:PORT][/tcp|udp]`; IPv6 with a port is bracketed.
pub(crate) fn parse_target(s: &str) -> Result<(Target, Option<u16>, Option<L4>), String> {
    let (s, proto) = split_proto(s.trim());
    if s.is_empty() {
        return Err("empty".into());
    }
    let (host, port) = if let Some(rest) = s.strip_prefix('[') {
        let (h, after) = rest
            .split_once(']')
            .ok_or("an opening '[' without a closing ']'")?;
        let port = match after.strip_prefix(':') {
            Some(p) => Some(p),
            None if after.is_empty() => None,
            None => return Err(format!("unexpected '{after}' after ']'")),
        };
        (h, port)
    } else if s.parse::<IpAddr>().is_ok() || s.parse::<IpPrefix>().is_ok() {
        (s, None)
    } else {
        match s.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (s, None),
        }
    };
    let port = match port {
        Some(p) => Some(
            p.parse::<u16>()
                .map_err(|_| format!("'{p}' is not a port number"))?,
        ),
        None => None,
    };
    let target = if host == "*" || host == "any" {
        Target::Any
    } else if host.parse::<IpAddr>().is_ok() || host.contains('/') {
        Target::Prefix(host.parse::<Prefix>().map_err(|e| e.to_string())?)
    } else {
        check_name(host)?;
        Target::Name(normalize_name(host))
    };
    Ok((target, port, proto))
}

/// Lower case, no trailing dot.
pub(crate) fn normalize_name(n: &str) -> String {
    n.trim_end_matches('.').to_ascii_lowercase()
}

fn check_name(n: &str) -> Result<(), String> {
    if n.len() > 253 {
        return Err("a DNS name is at most 253 characters".into());
    }
    if let Some(c) = n
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || *c == '-' || *c == '.' || *c == '_'))
    {
        return Err(format!("'{c}' is not allowed in a host name"));
    }
    Ok(())
}

/// An explicit deny: a whole capability, or traffic to a destination (both ways).
/// Denies always win over grants, whichever zone or rule they come from.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum Deny {
    Capability(CapabilityKind),
    Traffic {
        target: Target,
        port: Option<u16>,
        proto: Option<L4>,
    },
}

impl FromStr for Deny {
    type Err = PolicyError;
    fn from_str(s: &str) -> Result<Self, PolicyError> {
        let t = s.trim();
        if let Some(k) = CapabilityKind::parse(t) {
            return Ok(Deny::Capability(k));
        }
        let (target, port, proto) = parse_target(t).map_err(|reason| PolicyError::Deny {
            value: s.to_string(),
            reason,
        })?;
        Ok(Deny::Traffic {
            target,
            port,
            proto,
        })
    }
}

impl fmt::Display for Deny {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Deny::Capability(k) => f.write_str(k.as_str()),
            Deny::Traffic {
                target,
                port,
                proto,
            } => {
                let v6 = matches!(target, Target::Prefix(p) if !p.0.addr.is_ipv4());
                match target {
                    Target::Any => f.write_str("*")?,
                    Target::Name(n) => f.write_str(n)?,
                    Target::Prefix(p) if v6 && port.is_some() => write!(f, "[{p}]")?,
                    Target::Prefix(p) => write!(f, "{p}")?,
                }
                if let Some(p) = port {
                    write!(f, ":{p}")?;
                }
                if let Some(p) = proto {
                    write!(f, "/{}", p.as_str())?;
                }
                Ok(())
            }
        }
    }
}
impl TryFrom<String> for Deny {
    type Error = PolicyError;
    fn try_from(s: String) -> Result<Self, PolicyError> {
        s.parse()
    }
}
impl From<Deny> for String {
    fn from(d: Deny) -> String {
        d.to_string()
    }
}

/// Which devices a consent rule applies to. Every field set must match; an
/// empty selector matches every device.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Selector {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub zone: Option<String>,
    /// The device's model name (registry), or its MUD URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// The device's manufacturer name (registry), or its MUD URL's authority.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub maker: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub strength_at_least: Option<Strength>,
    /// Devices without a label never match a grade condition.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grade_at_least: Option<Grade>,
    /// The device must carry every one of these tags.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
}

/// An owner-written rule: devices matching `match` get `grant`, never `deny`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConsentRule {
    /// Unique; named in provenance (`consent rule `cameras``).
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(rename = "match", default)]
    pub selector: Selector,
    #[serde(default)]
    pub grant: Vec<Capability>,
    #[serde(default)]
    pub deny: Vec<Deny>,
}

/// A trust zone's baseline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ZoneConfig {
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub grant: Vec<Capability>,
    #[serde(default)]
    pub deny: Vec<Deny>,
    /// Whether consent rules apply to devices in this zone (`false` for
    /// `quarantine`: a quarantined device gets its baseline and nothing more).
    #[serde(default = "yes")]
    pub consent: bool,
}

fn yes() -> bool {
    true
}

impl ZoneConfig {
    /// The built-in zones, as they are when the config does not redefine them.
    pub fn builtin(name: &str) -> Option<ZoneConfig> {
        let caps = |v: &[&str]| v.iter().filter_map(|s| s.parse().ok()).collect();
        Some(match name {
            TRUSTED => ZoneConfig {
                description: "verified devices: what their MUD file declares, plus Steward's services".into(),
                grant: caps(&["dns", "ntp", "mud", "updates", "telemetry", "commands"]),
                deny: vec![],
                consent: true,
            },
            // Messaging with Steward itself (telemetry, commands, updates) is
            // not exposure to anyone else, and a device must reach Steward to
            // become known and to be patched; a device still needs credentials
            // for any of it.
            RESTRICTED => ZoneConfig {
                description: "unknown devices: DNS and NTP through Steward, HTTPS to the Internet at a modest rate, messaging and updates with Steward only, nothing inbound, no lateral traffic".into(),
                grant: caps(&["dns", "ntp", "internet:443/tcp@1mbit/s", "telemetry", "commands", "updates"]),
                deny: vec![],
                consent: true,
            },
            QUARANTINE => ZoneConfig {
                description: "contained devices: firmware updates from Steward only".into(),
                grant: caps(&["updates"]),
                deny: vec![],
                consent: false,
            },
            _ => return None,
        })
    }
}

/// Steward's own service ports, for the capabilities that go "through Steward".
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServicePorts {
    pub dns: u16,
    pub ntp: u16,
    /// MQTT over TLS.
    pub mqtt: u16,
    /// CoAP over DTLS.
    pub coap: u16,
    /// HTTPS (firmware payloads, API).
    pub https: u16,
}

impl Default for ServicePorts {
    fn default() -> Self {
        ServicePorts {
            dns: 53,
            ntp: 123,
            mqtt: 8883,
            coap: 5684,
            https: 443,
        }
    }
}

/// Facts about the site the abstractions are bound to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Site {
    /// The site's own prefixes (MUD `local-networks`; everything else is "the Internet").
    pub local_networks: Vec<Prefix>,
    /// Steward's own addresses on the device side.
    pub gateway: Vec<IpAddr>,
    /// Controllers by class URI (MUD `controller`).
    pub controllers: BTreeMap<String, Vec<Prefix>>,
    /// The controller for each MUD URL (MUD `my-controller`).
    pub my_controllers: BTreeMap<String, Vec<Prefix>>,
    pub ports: ServicePorts,
}

impl Default for Site {
    fn default() -> Self {
        let p = |s: &str| s.parse::<Prefix>().ok();
        Site {
            local_networks: [
                "10.0.0.0/8",
                "172.16.0.0/12",
                "192.168.0.0/16",
                "fc00::/7",
                "fe80::/10",
            ]
            .iter()
            .filter_map(|s| p(s))
            .collect(),
            gateway: vec![],
            controllers: BTreeMap::new(),
            my_controllers: BTreeMap::new(),
            ports: ServicePorts::default(),
        }
    }
}

impl Site {
    pub fn is_local(&self, a: IpAddr) -> bool {
        self.local_networks.iter().any(|p| p.contains(a))
    }
}

/// The whole policy configuration, as the gateway's config file holds it
/// (`[policy]`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PolicyConfig {
    /// Where devices without a zone land.
    pub default_zone: String,
    /// Operator zones, and redefinitions of the built-in ones.
    pub zones: BTreeMap<String, ZoneConfig>,
    pub consent: Vec<ConsentRule>,
    pub site: Site,
}

impl Default for PolicyConfig {
    fn default() -> Self {
        PolicyConfig {
            default_zone: RESTRICTED.into(),
            zones: BTreeMap::new(),
            consent: vec![],
            site: Site::default(),
        }
    }
}

impl PolicyConfig {
    /// A zone's baseline: the configured one, else the built-in one.
    pub fn zone(&self, name: &str) -> Option<ZoneConfig> {
        self.zones
            .get(name)
            .cloned()
            .or_else(|| ZoneConfig::builtin(name))
    }

    /// Every zone name known (built-in and configured).
    pub fn zone_names(&self) -> Vec<String> {
        let mut v: Vec<String> = [TRUSTED, RESTRICTED, QUARANTINE]
            .iter()
            .map(|s| s.to_string())
            .chain(self.zones.keys().cloned())
            .collect();
        v.sort();
        v.dedup();
        v
    }

    /// Checks what serde cannot: unique rule names, known zones.
    pub fn validate(&self) -> Result<(), PolicyError> {
        if self.zone(&self.default_zone).is_none() {
            return Err(PolicyError::Config(format!(
                "default_zone '{}' is not a zone; define it under [policy.zones] or use one of {:?}",
                self.default_zone,
                self.zone_names()
            )));
        }
        let mut seen = std::collections::BTreeSet::new();
        for r in &self.consent {
            if r.name.trim().is_empty() {
                return Err(PolicyError::Config(
                    "a consent rule has an empty name".into(),
                ));
            }
            if !seen.insert(r.name.as_str()) {
                return Err(PolicyError::Config(format!(
                    "consent rule name '{}' is used twice; names must be unique",
                    r.name
                )));
            }
            if let Some(z) = &r.selector.zone
                && self.zone(z).is_none()
            {
                return Err(PolicyError::Config(format!(
                    "consent rule '{}' matches zone '{z}', which is not defined (zones: {:?})",
                    r.name,
                    self.zone_names()
                )));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capability_strings_round_trip() {
        let cases = [
            ("plain", "telemetry"),
            ("internet", "internet"),
            ("internet port", "internet:443/tcp"),
            ("internet port both protocols", "internet:123"),
            ("internet rate", "internet@2mbit/s"),
            ("internet port and rate", "internet:443/tcp@256kbit/s"),
            ("lateral", "lateral:same-manufacturer"),
            ("lateral conjunction", "lateral:zone=trusted,tag=hub"),
        ];
        for (name, s) in cases {
            let c: Capability = s.parse().unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(c.to_string(), s, "{name}");
        }
        for bad in [
            "",
            "lateral",
            "lateral:",
            "internet:http",
            "internet@0kbit",
            "internets",
        ] {
            assert!(bad.parse::<Capability>().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn deny_strings_round_trip() {
        for s in [
            "internet",
            "*:23/tcp",
            "10.0.0.0/8",
            "10.0.0.1:22",
            "[2001:db8::1]:23/tcp",
            "bad.example",
        ] {
            let d: Deny = s.parse().unwrap_or_else(|e| panic!("{s}: {e}"));
            assert_eq!(d.to_string(), s);
        }
    }

    #[test]
    fn prefixes() {
        let p: Prefix = "10.0.0.0/8".parse().unwrap();
        assert!(p.contains("10.255.1.2".parse().unwrap()));
        assert!(!p.contains("11.0.0.1".parse().unwrap()));
        assert!(!p.contains("::1".parse().unwrap()));
        let all: Prefix = "0.0.0.0/0".parse().unwrap();
        assert!(all.contains("8.8.8.8".parse().unwrap()));
        let v6: Prefix = "fc00::/7".parse().unwrap();
        assert!(v6.contains("fd12::1".parse().unwrap()));
        assert!(p.overlaps(&"10.1.0.0/16".parse::<IpPrefix>().unwrap()));
        assert!(p.overlaps(&"0.0.0.0/0".parse::<IpPrefix>().unwrap()));
        assert!(!p.overlaps(&"192.168.0.0/16".parse::<IpPrefix>().unwrap()));
    }

    #[test]
    fn grades_and_strengths_order() {
        assert!(Grade::A.at_least(Grade::B));
        assert!(Grade::B.at_least(Grade::B));
        assert!(!Grade::C.at_least(Grade::B));
        assert!(Strength::Certificate > Strength::Token);
        assert!(Strength::Token > Strength::Declared);
        assert!(Strength::Declared > Strength::Observed);
    }
}
