//! Compilation of a MUD file into Steward's policy IR: a flat, ordered list of
//! abstract access rules for one device, each remembering where it came from.
//!
//! The IR is plain data. Abstractions (RFC 8520 §8: `manufacturer`, `model`,
//! `controller`, ...) and DNS names stay symbolic; the policy engine binds them
//! to addresses and devices. Ports are split into the *peer's* and the *device's*
//! side, so the engine never has to remember which of source/destination is which
//! in a from-device versus a to-device ACL.
//!
//! Rules keep the ACE order of the file (RFC 8519 §4.1: first match wins), and
//! anything not matched is denied (RFC 8520 §2.1: the MUD policy lists what is
//! allowed).

use crate::model::*;
use serde::{Deserialize, Serialize};
use std::fmt;

/// The compiled policy of one device.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DevicePolicy {
    pub mud_url: String,
    pub mfg_name: Option<String>,
    pub model_name: Option<String>,
    pub is_supported: bool,
    pub cache_validity_hours: u8,
    /// Rules in evaluation order: all from-device rules, then all to-device rules,
    /// each in file order.
    pub rules: Vec<Rule>,
    /// What happens to traffic no rule matches.
    pub default_action: Action,
}

/// One abstract access rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rule {
    pub direction: Direction,
    pub peer: Peer,
    pub ip_version: Option<IpVersion>,
    pub protocol: Protocol,
    /// Ports on the remote side (destination port of from-device traffic, source
    /// port of to-device traffic). `None` means any.
    pub peer_ports: Option<PortMatch>,
    /// Ports on the device itself.
    pub device_ports: Option<PortMatch>,
    /// For TCP: who may send the SYN (RFC 8520 §4, direction-initiated).
    pub initiated_by: Option<Direction>,
    pub icmp_type: Option<u8>,
    pub icmp_code: Option<u8>,
    pub ethertype: Option<u16>,
    pub action: Action,
    pub provenance: Provenance,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum IpVersion {
    V4,
    V6,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    Any,
    Tcp,
    Udp,
    Icmp,
    /// Another IP protocol number.
    Other(u8),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    Accept,
    Drop,
    Reject,
    /// Not in the MUD file: the implicit end of the list.
    Deny,
}

/// Who is on the other end.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "kind", content = "value", rename_all = "kebab-case")]
pub enum Peer {
    /// Any address.
    Any,
    Prefix(IpPrefix),
    /// Resolved by watching the device's DNS answers (`ietf-acldns`, RFC 8520 §5.1).
    DnsName(String),
    /// Devices whose MUD URL has this authority (RFC 8520 §8.1).
    Manufacturer(String),
    /// Devices whose MUD URL has the same authority as this one (RFC 8520 §8.2).
    SameManufacturer,
    /// Devices with this MUD URL (RFC 8520 §8.3).
    Model(String),
    /// Addresses of the local networks (RFC 8520 §8.4).
    LocalNetworks,
    /// Controllers of a class named by URI (RFC 8520 §8.5).
    Controller(String),
    /// The controller the administrator set for this device's MUD URL (RFC 8520 §8.6).
    MyController,
    /// A MAC address, with an optional mask.
    Mac {
        address: String,
        mask: Option<String>,
    },
}

/// Where a rule came from, for `steward explain`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Provenance {
    pub mud_url: String,
    pub acl: String,
    pub ace: String,
}

/// Why a model could not be compiled (a parsed file never hits these: the parser
/// runs the same checks).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CompileError {
    #[error("{direction} policy names ACL '{acl}', which the file does not define")]
    MissingAcl {
        direction: &'static str,
        acl: String,
    },
    #[error("ACL '{acl}' ACE '{ace}': {message}")]
    Ace {
        acl: String,
        ace: String,
        message: String,
    },
}

/// The peer and what the ACE says about the device's own side.
pub(crate) struct Sides {
    pub(crate) peers: Vec<Peer>,
    /// Conditions on the device's own address or name, which the IR cannot carry.
    pub(crate) device_side: Vec<&'static str>,
}

/// Which conditions of `ace` describe the peer when the ACE sits in a policy for `dir`.
pub(crate) fn sides(ace: &Ace, dir: Direction) -> Sides {
    let mut peers = Vec::new();
    let mut device_side = Vec::new();
    if let Some(l3) = &ace.matches.l3 {
        let ip = l3.ip();
        // From the device, the peer is the destination; to the device, the source.
        let (pn, pd, dn, dd, dn_name, dd_name) = match dir {
            Direction::FromDevice => (
                &ip.dst_network,
                &ip.dst_dnsname,
                &ip.src_network,
                &ip.src_dnsname,
                "a source network",
                "ietf-acldns:src-dnsname",
            ),
            Direction::ToDevice => (
                &ip.src_network,
                &ip.src_dnsname,
                &ip.dst_network,
                &ip.dst_dnsname,
                "a destination network",
                "ietf-acldns:dst-dnsname",
            ),
        };
        if let Some(p) = pn {
            peers.push(Peer::Prefix(*p));
        }
        if let Some(n) = pd {
            peers.push(Peer::DnsName(n.clone()));
        }
        if dn.is_some() {
            device_side.push(dn_name);
        }
        if dd.is_some() {
            device_side.push(dd_name);
        }
    }
    if let Some(eth) = &ace.matches.eth {
        let (pm, pmask, dm) = match dir {
            Direction::FromDevice => (&eth.dst_mac, &eth.dst_mac_mask, &eth.src_mac),
            Direction::ToDevice => (&eth.src_mac, &eth.src_mac_mask, &eth.dst_mac),
        };
        if let Some(a) = pm {
            peers.push(Peer::Mac {
                address: a.clone(),
                mask: pmask.clone(),
            });
        }
        if dm.is_some() {
            device_side.push("the device's own MAC address");
        }
    }
    let m = &ace.matches.mud;
    if let Some(h) = &m.manufacturer {
        peers.push(Peer::Manufacturer(h.clone()));
    }
    if m.same_manufacturer {
        peers.push(Peer::SameManufacturer);
    }
    if let Some(u) = &m.model {
        peers.push(Peer::Model(u.clone()));
    }
    if m.local_networks {
        peers.push(Peer::LocalNetworks);
    }
    if let Some(u) = &m.controller {
        peers.push(Peer::Controller(u.clone()));
    }
    if m.my_controller {
        peers.push(Peer::MyController);
    }
    Sides { peers, device_side }
}

/// Compiles a parsed MUD file into the rules of one device.
pub fn compile(file: &MudFile) -> Result<DevicePolicy, CompileError> {
    let mut rules = Vec::new();
    for (dir, names, dname) in [
        (
            Direction::FromDevice,
            &file.mud.from_device_policy,
            "from-device",
        ),
        (Direction::ToDevice, &file.mud.to_device_policy, "to-device"),
    ] {
        for name in names {
            let acl = file.acls.iter().find(|a| &a.name == name).ok_or_else(|| {
                CompileError::MissingAcl {
                    direction: dname,
                    acl: name.clone(),
                }
            })?;
            for ace in &acl.aces {
                rules.push(compile_ace(file, acl, ace, dir)?);
            }
        }
    }
    Ok(DevicePolicy {
        mud_url: file.mud.mud_url.clone(),
        mfg_name: file.mud.mfg_name.clone(),
        model_name: file.mud.model_name.clone(),
        is_supported: file.mud.is_supported,
        cache_validity_hours: file.mud.cache_validity_hours(),
        rules,
        default_action: Action::Deny,
    })
}

fn compile_ace(file: &MudFile, acl: &Acl, ace: &Ace, dir: Direction) -> Result<Rule, CompileError> {
    let err = |message: String| CompileError::Ace {
        acl: acl.name.clone(),
        ace: ace.name.clone(),
        message,
    };
    let s = sides(ace, dir);
    if let Some(d) = s.device_side.first() {
        return Err(err(format!("constrains the device's own side ({d})")));
    }
    let peer = match s.peers.len() {
        0 => Peer::Any,
        1 => s.peers.into_iter().next().unwrap_or(Peer::Any),
        _ => return Err(err("names more than one peer".into())),
    };
    let ip_version = match &ace.matches.l3 {
        Some(L3Match::Ipv4(_)) => Some(IpVersion::V4),
        Some(L3Match::Ipv6(_)) => Some(IpVersion::V6),
        None => match &peer {
            Peer::Prefix(p) if p.addr.is_ipv4() => Some(IpVersion::V4),
            Peer::Prefix(_) => Some(IpVersion::V6),
            _ => match acl.acl_type {
                Some(AclType::Ipv4) => Some(IpVersion::V4),
                Some(AclType::Ipv6) => Some(IpVersion::V6),
                _ => None,
            },
        },
    };
    let proto_num = ace.matches.l3.as_ref().and_then(|l| l.ip().protocol);
    let mut rule = Rule {
        direction: dir,
        peer,
        ip_version,
        protocol: match proto_num {
            None => Protocol::Any,
            Some(6) => Protocol::Tcp,
            Some(17) => Protocol::Udp,
            Some(1) | Some(58) => Protocol::Icmp,
            Some(n) => Protocol::Other(n),
        },
        peer_ports: None,
        device_ports: None,
        initiated_by: None,
        icmp_type: None,
        icmp_code: None,
        ethertype: ace.matches.eth.as_ref().and_then(|e| e.ethertype),
        action: match ace.forwarding {
            Forwarding::Accept => Action::Accept,
            Forwarding::Drop => Action::Drop,
            Forwarding::Reject => Action::Reject,
        },
        provenance: Provenance {
            mud_url: file.mud.mud_url.clone(),
            acl: acl.name.clone(),
            ace: ace.name.clone(),
        },
    };
    let (src, dst) = match &ace.matches.l4 {
        Some(L4Match::Tcp(t)) => {
            rule.protocol = Protocol::Tcp;
            rule.initiated_by = t.direction_initiated;
            (t.src_port, t.dst_port)
        }
        Some(L4Match::Udp(u)) => {
            rule.protocol = Protocol::Udp;
            (u.src_port, u.dst_port)
        }
        Some(L4Match::Icmp(i)) => {
            rule.protocol = Protocol::Icmp;
            rule.icmp_type = i.icmp_type;
            rule.icmp_code = i.code;
            (None, None)
        }
        None => (None, None),
    };
    (rule.peer_ports, rule.device_ports) = match dir {
        Direction::FromDevice => (dst, src),
        Direction::ToDevice => (src, dst),
    };
    Ok(rule)
}

// ---------------------------------------------------------------------------
// Human summary.

impl fmt::Display for Peer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Peer::Any => f.write_str("any host"),
            Peer::Prefix(p) if (p.addr.is_ipv4() && p.len == 32) || p.len == 128 => {
                write!(f, "{}", p.addr)
            }
            Peer::Prefix(p) => write!(f, "{p}"),
            Peer::DnsName(n) => f.write_str(n),
            Peer::Manufacturer(m) => write!(f, "devices from manufacturer {m}"),
            Peer::SameManufacturer => f.write_str("devices from the same manufacturer"),
            Peer::Model(u) => write!(f, "devices of model {u}"),
            Peer::LocalNetworks => f.write_str("the local networks"),
            Peer::Controller(u) => write!(f, "controllers of class {u}"),
            Peer::MyController => f.write_str("its controller"),
            Peer::Mac { address, .. } => write!(f, "MAC {address}"),
        }
    }
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Protocol::Any => f.write_str("any protocol"),
            Protocol::Tcp => f.write_str("TCP"),
            Protocol::Udp => f.write_str("UDP"),
            Protocol::Icmp => f.write_str("ICMP"),
            Protocol::Other(n) => write!(f, "IP protocol {n}"),
        }
    }
}

impl Rule {
    /// One sentence saying what this rule lets the device do.
    pub fn describe(&self) -> String {
        let verb = match self.action {
            Action::Accept => "may",
            _ => "may not",
        };
        let peer = &self.peer;
        let pp = self.peer_ports.map(|p| format!(" {p}")).unwrap_or_default();
        let dp = |prep: &str| {
            self.device_ports
                .map(|p| format!(" {prep} its {p}"))
                .unwrap_or_default()
        };
        let proto = self.protocol;
        let icmp = match (self.icmp_type, self.icmp_code) {
            (Some(t), Some(c)) => format!(" (type {t}, code {c})"),
            (Some(t), None) => format!(" (type {t})"),
            _ => String::new(),
        };
        match (self.direction, self.protocol, self.initiated_by) {
            (Direction::FromDevice, Protocol::Tcp, Some(Direction::FromDevice)) => {
                format!("{verb} open TCP connections to {peer}{pp}{}", dp("from"))
            }
            (Direction::FromDevice, Protocol::Tcp, Some(Direction::ToDevice)) => format!(
                "{verb} answer TCP connections that {peer} opens, sending to{pp}{}",
                dp("from")
            ),
            (Direction::ToDevice, Protocol::Tcp, Some(Direction::ToDevice)) => {
                format!("{verb} accept TCP connections from {peer}{pp}{}", dp("on"))
            }
            (Direction::ToDevice, Protocol::Tcp, Some(Direction::FromDevice)) => format!(
                "{verb} receive TCP replies from {peer}{pp} on connections the device opened{}",
                dp("to")
            ),
            (Direction::FromDevice, _, _) => {
                format!("{verb} send {proto}{icmp} to {peer}{pp}{}", dp("from"))
            }
            (Direction::ToDevice, _, _) => {
                format!("{verb} receive {proto}{icmp} from {peer}{pp}{}", dp("on"))
            }
        }
    }
}

impl DevicePolicy {
    /// The human summary: one line per distinct rule, in order, then the default.
    pub fn summary(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for r in &self.rules {
            let line = r.describe();
            if !out.contains(&line) {
                out.push(line);
            }
        }
        if self.rules.is_empty() {
            out.push("may not communicate at all".into());
        } else {
            out.push("everything else is denied".into());
        }
        out
    }
}
