//! The typed model of a MUD file: the `ietf-mud:mud` container (RFC 8520 §2.1)
//! and the access lists it points to (`ietf-access-control-list:acls`, RFC 8519),
//! with the MUD augmentations (RFC 8520 §2.1, §4) and `ietf-acldns` (RFC 8520 §5.1).
//!
//! The model is what [`crate::parse`] produces and what [`crate::builder`] and
//! [`crate::learn`] build; [`MudFile::to_json`] writes it back in the RFC's JSON
//! encoding (RFC 7951), so parse ∘ to_json is the identity on the model.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use std::fmt;
use std::net::IpAddr;

/// A whole MUD file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MudFile {
    pub mud: MudContainer,
    /// The `acl` list of `ietf-access-control-list:acls`, in file order.
    pub acls: Vec<Acl>,
}

/// The `ietf-mud:mud` container (RFC 8520 §2.1 tree, §3 leaves).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MudContainer {
    pub mud_version: u8,
    pub mud_url: String,
    /// `yang:date-and-time`, as written in the file.
    pub last_update: String,
    pub mud_signature: Option<String>,
    /// Hours, 1..=168; `None` means the default of 48 (RFC 8520 §3.5).
    pub cache_validity: Option<u8>,
    pub is_supported: bool,
    pub systeminfo: Option<String>,
    pub mfg_name: Option<String>,
    pub model_name: Option<String>,
    pub firmware_rev: Option<String>,
    pub software_rev: Option<String>,
    pub documentation: Option<String>,
    pub extensions: Vec<String>,
    /// ACL names applied to traffic from the device.
    pub from_device_policy: Vec<String>,
    /// ACL names applied to traffic to the device.
    pub to_device_policy: Vec<String>,
}

impl MudContainer {
    /// Cache validity in hours, with the RFC 8520 §3.5 default applied.
    pub fn cache_validity_hours(&self) -> u8 {
        self.cache_validity.unwrap_or(48)
    }
}

/// One ACL (RFC 8519 §4.1 `acl`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Acl {
    pub name: String,
    pub acl_type: Option<AclType>,
    pub aces: Vec<Ace>,
}

/// The `type` identity of an ACL (RFC 8519 §4.1).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AclType {
    Ipv4,
    Ipv6,
    Eth,
    MixedEthIpv4,
    MixedEthIpv6,
    MixedEthIpv4Ipv6,
}

impl AclType {
    pub(crate) fn from_identity(s: &str) -> Option<AclType> {
        let s = s.strip_prefix("ietf-access-control-list:").unwrap_or(s);
        Some(match s {
            "ipv4-acl-type" => AclType::Ipv4,
            "ipv6-acl-type" => AclType::Ipv6,
            "eth-acl-type" => AclType::Eth,
            "mixed-eth-ipv4-acl-type" => AclType::MixedEthIpv4,
            "mixed-eth-ipv6-acl-type" => AclType::MixedEthIpv6,
            "mixed-eth-ipv4-ipv6-acl-type" => AclType::MixedEthIpv4Ipv6,
            _ => return None,
        })
    }

    pub(crate) fn identity(&self) -> &'static str {
        match self {
            AclType::Ipv4 => "ipv4-acl-type",
            AclType::Ipv6 => "ipv6-acl-type",
            AclType::Eth => "eth-acl-type",
            AclType::MixedEthIpv4 => "mixed-eth-ipv4-acl-type",
            AclType::MixedEthIpv6 => "mixed-eth-ipv6-acl-type",
            AclType::MixedEthIpv4Ipv6 => "mixed-eth-ipv4-ipv6-acl-type",
        }
    }

    pub(crate) fn allows_ipv4(&self) -> bool {
        matches!(
            self,
            AclType::Ipv4 | AclType::MixedEthIpv4 | AclType::MixedEthIpv4Ipv6
        )
    }

    pub(crate) fn allows_ipv6(&self) -> bool {
        matches!(
            self,
            AclType::Ipv6 | AclType::MixedEthIpv6 | AclType::MixedEthIpv4Ipv6
        )
    }

    pub(crate) fn allows_eth(&self) -> bool {
        !matches!(self, AclType::Ipv4 | AclType::Ipv6)
    }
}

/// One access-control entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ace {
    pub name: String,
    pub matches: Matches,
    pub forwarding: Forwarding,
}

/// What an ACE matches. Every present part must match (RFC 8519 §4.1).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Matches {
    pub eth: Option<EthMatch>,
    pub l3: Option<L3Match>,
    pub l4: Option<L4Match>,
    pub mud: MudMatch,
}

/// Layer-3 match: `ipv4` or `ipv6` container.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "family", rename_all = "lowercase")]
pub enum L3Match {
    Ipv4(IpMatch),
    Ipv6(IpMatch),
}

impl L3Match {
    pub fn ip(&self) -> &IpMatch {
        match self {
            L3Match::Ipv4(m) | L3Match::Ipv6(m) => m,
        }
    }
}

/// Fields of the `ipv4`/`ipv6` match containers that Steward understands.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IpMatch {
    pub protocol: Option<u8>,
    pub dscp: Option<u8>,
    pub ttl: Option<u8>,
    pub src_network: Option<IpPrefix>,
    pub dst_network: Option<IpPrefix>,
    /// `ietf-acldns:src-dnsname` (RFC 8520 §5.1).
    pub src_dnsname: Option<String>,
    /// `ietf-acldns:dst-dnsname` (RFC 8520 §5.1).
    pub dst_dnsname: Option<String>,
}

/// An address prefix such as `192.0.2.0/24`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct IpPrefix {
    pub addr: IpAddr,
    pub len: u8,
}

impl IpPrefix {
    /// A host prefix (/32 or /128).
    pub fn host(addr: IpAddr) -> Self {
        let len = if addr.is_ipv4() { 32 } else { 128 };
        IpPrefix { addr, len }
    }
}

impl fmt::Display for IpPrefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.len)
    }
}

impl std::str::FromStr for IpPrefix {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let (a, l) = s
            .split_once('/')
            .ok_or_else(|| format!("'{s}' is not a prefix: expected ADDRESS/LENGTH"))?;
        let addr: IpAddr = a
            .parse()
            .map_err(|_| format!("'{a}' is not an IPv4 or IPv6 address"))?;
        let len: u8 = l
            .parse()
            .map_err(|_| format!("'{l}' is not a prefix length"))?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        if len > max {
            return Err(format!("prefix length {len} is longer than {max}"));
        }
        Ok(IpPrefix { addr, len })
    }
}

/// Layer-4 match: `tcp`, `udp` or `icmp` container.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "protocol", rename_all = "lowercase")]
pub enum L4Match {
    Tcp(TcpMatch),
    Udp(UdpMatch),
    Icmp(IcmpMatch),
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TcpMatch {
    pub src_port: Option<PortMatch>,
    pub dst_port: Option<PortMatch>,
    /// `ietf-mud:direction-initiated` (RFC 8520 §4): who sends the SYN.
    pub direction_initiated: Option<Direction>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UdpMatch {
    pub src_port: Option<PortMatch>,
    pub dst_port: Option<PortMatch>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IcmpMatch {
    pub icmp_type: Option<u8>,
    pub code: Option<u8>,
}

/// Ethernet match (RFC 8519 `eth` container).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EthMatch {
    pub src_mac: Option<String>,
    pub src_mac_mask: Option<String>,
    pub dst_mac: Option<String>,
    pub dst_mac_mask: Option<String>,
    pub ethertype: Option<u16>,
}

/// The MUD abstractions (RFC 8520 §4, §8), in the `ietf-mud:mud` match container.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MudMatch {
    /// Devices whose MUD URL authority is this host.
    pub manufacturer: Option<String>,
    pub same_manufacturer: bool,
    /// Devices with this MUD URL.
    pub model: Option<String>,
    pub local_networks: bool,
    /// Controllers of the class named by this URI.
    pub controller: Option<String>,
    pub my_controller: bool,
}

impl MudMatch {
    pub fn is_empty(&self) -> bool {
        self == &MudMatch::default()
    }
}

/// A port condition (RFC 8519 `port-range-or-operator`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum PortMatch {
    Eq { port: u16 },
    Lte { port: u16 },
    Gte { port: u16 },
    Neq { port: u16 },
    Range { lower: u16, upper: u16 },
}

impl fmt::Display for PortMatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PortMatch::Eq { port } => write!(f, "port {port}"),
            PortMatch::Lte { port } => write!(f, "ports up to {port}"),
            PortMatch::Gte { port } => write!(f, "ports {port} and above"),
            PortMatch::Neq { port } => write!(f, "any port except {port}"),
            PortMatch::Range { lower, upper } if lower == upper => write!(f, "port {lower}"),
            PortMatch::Range { lower, upper } => write!(f, "ports {lower}-{upper}"),
        }
    }
}

/// Which way traffic goes, seen from the device.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Direction {
    FromDevice,
    ToDevice,
}

impl Direction {
    pub fn as_str(&self) -> &'static str {
        match self {
            Direction::FromDevice => "from-device",
            Direction::ToDevice => "to-device",
        }
    }
}

/// The ACE action (RFC 8519 `forwarding-action` identities).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Forwarding {
    Accept,
    Drop,
    Reject,
}

impl Forwarding {
    pub(crate) fn identity(&self) -> &'static str {
        match self {
            Forwarding::Accept => "accept",
            Forwarding::Drop => "drop",
            Forwarding::Reject => "reject",
        }
    }
}

// ---------------------------------------------------------------------------
// Writing the RFC 8520 JSON encoding.

fn port_json(p: &PortMatch) -> Value {
    match *p {
        PortMatch::Eq { port } => json!({"operator": "eq", "port": port}),
        PortMatch::Lte { port } => json!({"operator": "lte", "port": port}),
        PortMatch::Gte { port } => json!({"operator": "gte", "port": port}),
        PortMatch::Neq { port } => json!({"operator": "neq", "port": port}),
        PortMatch::Range { lower, upper } => json!({"lower-port": lower, "upper-port": upper}),
    }
}

fn put<T: Into<Value>>(m: &mut Map<String, Value>, k: &str, v: Option<T>) {
    if let Some(v) = v {
        m.insert(k.to_owned(), v.into());
    }
}

/// RFC 7951 §6.9: a leaf of type `empty` is encoded as `[null]`.
fn empty_leaf() -> Value {
    json!([null])
}

impl Ace {
    fn to_json(&self) -> Value {
        let mut m = Map::new();
        if !self.matches.mud.is_empty() {
            let mm = &self.matches.mud;
            let mut o = Map::new();
            put(&mut o, "manufacturer", mm.manufacturer.clone());
            if mm.same_manufacturer {
                o.insert("same-manufacturer".into(), empty_leaf());
            }
            put(&mut o, "model", mm.model.clone());
            if mm.local_networks {
                o.insert("local-networks".into(), empty_leaf());
            }
            put(&mut o, "controller", mm.controller.clone());
            if mm.my_controller {
                o.insert("my-controller".into(), empty_leaf());
            }
            m.insert("ietf-mud:mud".into(), Value::Object(o));
        }
        if let Some(e) = &self.matches.eth {
            let mut o = Map::new();
            put(&mut o, "destination-mac-address", e.dst_mac.clone());
            put(
                &mut o,
                "destination-mac-address-mask",
                e.dst_mac_mask.clone(),
            );
            put(&mut o, "source-mac-address", e.src_mac.clone());
            put(&mut o, "source-mac-address-mask", e.src_mac_mask.clone());
            put(&mut o, "ethertype", e.ethertype);
            m.insert("eth".into(), Value::Object(o));
        }
        if let Some(l3) = &self.matches.l3 {
            let (key, ip, sfx) = match l3 {
                L3Match::Ipv4(ip) => ("ipv4", ip, "ipv4"),
                L3Match::Ipv6(ip) => ("ipv6", ip, "ipv6"),
            };
            let mut o = Map::new();
            put(&mut o, "ietf-acldns:src-dnsname", ip.src_dnsname.clone());
            put(&mut o, "ietf-acldns:dst-dnsname", ip.dst_dnsname.clone());
            put(&mut o, "protocol", ip.protocol);
            put(&mut o, "dscp", ip.dscp);
            put(&mut o, "ttl", ip.ttl);
            put(
                &mut o,
                &format!("source-{sfx}-network"),
                ip.src_network.map(|p| p.to_string()),
            );
            put(
                &mut o,
                &format!("destination-{sfx}-network"),
                ip.dst_network.map(|p| p.to_string()),
            );
            m.insert(key.into(), Value::Object(o));
        }
        match &self.matches.l4 {
            Some(L4Match::Tcp(t)) => {
                let mut o = Map::new();
                put(
                    &mut o,
                    "ietf-mud:direction-initiated",
                    t.direction_initiated.map(|d| d.as_str()),
                );
                put(&mut o, "source-port", t.src_port.as_ref().map(port_json));
                put(
                    &mut o,
                    "destination-port",
                    t.dst_port.as_ref().map(port_json),
                );
                m.insert("tcp".into(), Value::Object(o));
            }
            Some(L4Match::Udp(u)) => {
                let mut o = Map::new();
                put(&mut o, "source-port", u.src_port.as_ref().map(port_json));
                put(
                    &mut o,
                    "destination-port",
                    u.dst_port.as_ref().map(port_json),
                );
                m.insert("udp".into(), Value::Object(o));
            }
            Some(L4Match::Icmp(i)) => {
                let mut o = Map::new();
                put(&mut o, "type", i.icmp_type);
                put(&mut o, "code", i.code);
                m.insert("icmp".into(), Value::Object(o));
            }
            None => {}
        }
        json!({
            "name": self.name,
            "matches": Value::Object(m),
            "actions": {"forwarding": self.forwarding.identity()},
        })
    }
}

impl MudFile {
    /// The file in the JSON encoding of RFC 8520 (RFC 7951 rules).
    pub fn to_json(&self) -> Value {
        let c = &self.mud;
        let mut m = Map::new();
        m.insert("mud-version".into(), c.mud_version.into());
        m.insert("mud-url".into(), c.mud_url.clone().into());
        if !c.last_update.is_empty() {
            m.insert("last-update".into(), c.last_update.clone().into());
        }
        put(&mut m, "mud-signature", c.mud_signature.clone());
        put(&mut m, "cache-validity", c.cache_validity);
        m.insert("is-supported".into(), c.is_supported.into());
        put(&mut m, "systeminfo", c.systeminfo.clone());
        put(&mut m, "mfg-name", c.mfg_name.clone());
        put(&mut m, "model-name", c.model_name.clone());
        put(&mut m, "firmware-rev", c.firmware_rev.clone());
        put(&mut m, "software-rev", c.software_rev.clone());
        put(&mut m, "documentation", c.documentation.clone());
        if !c.extensions.is_empty() {
            m.insert("extensions".into(), json!(c.extensions));
        }
        let policy = |names: &[String]| {
            let list: Vec<Value> = names.iter().map(|n| json!({"name": n})).collect();
            json!({"access-lists": {"access-list": list}})
        };
        if !c.from_device_policy.is_empty() {
            m.insert("from-device-policy".into(), policy(&c.from_device_policy));
        }
        if !c.to_device_policy.is_empty() {
            m.insert("to-device-policy".into(), policy(&c.to_device_policy));
        }
        let acls: Vec<Value> = self
            .acls
            .iter()
            .map(|acl| {
                let aces: Vec<Value> = acl.aces.iter().map(Ace::to_json).collect();
                let mut o = Map::new();
                o.insert("name".into(), acl.name.clone().into());
                put(&mut o, "type", acl.acl_type.as_ref().map(|t| t.identity()));
                o.insert("aces".into(), json!({"ace": aces}));
                Value::Object(o)
            })
            .collect();
        json!({
            "ietf-mud:mud": Value::Object(m),
            "ietf-access-control-list:acls": {"acl": acls},
        })
    }

    /// The file as pretty-printed JSON bytes, ready to sign and publish.
    pub fn to_json_bytes(&self) -> Vec<u8> {
        // Serialising a `Value` cannot fail: all keys are strings.
        let mut out = serde_json::to_vec_pretty(&self.to_json()).unwrap_or_default();
        out.push(b'\n');
        out
    }
}
