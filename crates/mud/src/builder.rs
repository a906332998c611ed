//! Writing a new MUD file from a maker's few facts (`steward mud new`): MUD URL,
//! maker, model, and what the device needs to reach.
//!
//! Each [`Allow`] becomes a pair of ACEs, one in the from-device ACL and one in
//! the to-device ACL, in IPv4 and IPv6 ACLs as the peer allows — the same shape
//! as the files published by the NIST and Cisco MUD tools. The result is parsed
//! back strictly before it is returned, so what `new` writes always passes `check`.

use crate::compile::Peer;
use crate::model::*;
use crate::parse::{ParseOptions, parse};
use std::str::FromStr;
use time::OffsetDateTime;

/// What the device may do, as `steward mud new --allow` takes it.
///
/// Text form: `[out:|in:]PROTO[/PORT]@PEER`, where
/// - `out:` (the default) means the device opens the connection, `in:` the peer;
/// - `PROTO` is `tcp`, `udp` or `any` (no port then);
/// - `PEER` is a DNS name, an address or prefix, or one of the MUD abstractions
///   `local-networks`, `same-manufacturer`, `my-controller`,
///   `manufacturer=HOST`, `model=URL`, `controller=URL`.
///
/// Examples: `tcp/443@api.maker.example`, `udp/123@pool.ntp.org`,
/// `in:tcp/80@local-networks`, `udp/5683@my-controller`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Allow {
    pub initiated_by: Direction,
    pub protocol: AllowProtocol,
    pub port: Option<u16>,
    pub peer: Peer,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AllowProtocol {
    Tcp,
    Udp,
    Any,
}

impl FromStr for Allow {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let usage = "expected [out:|in:]PROTO[/PORT]@PEER, e.g. tcp/443@api.maker.example";
        let (initiated_by, rest) = if let Some(r) = s.strip_prefix("in:") {
            (Direction::ToDevice, r)
        } else {
            (Direction::FromDevice, s.strip_prefix("out:").unwrap_or(s))
        };
        let (pp, peer) = rest
            .split_once('@')
            .ok_or_else(|| format!("'{s}': missing '@PEER'; {usage}"))?;
        let (proto, port) = match pp.split_once('/') {
            Some((p, port)) => (
                p,
                Some(
                    port.parse::<u16>()
                        .map_err(|_| format!("'{s}': '{port}' is not a port number (0-65535)"))?,
                ),
            ),
            None => (pp, None),
        };
        let protocol = match proto.to_ascii_lowercase().as_str() {
            "tcp" => AllowProtocol::Tcp,
            "udp" => AllowProtocol::Udp,
            "any" | "ip" => AllowProtocol::Any,
            other => return Err(format!("'{s}': unknown protocol '{other}'; {usage}")),
        };
        if protocol == AllowProtocol::Any && port.is_some() {
            return Err(format!("'{s}': a port needs tcp or udp"));
        }
        let peer = parse_peer(peer).map_err(|e| format!("'{s}': {e}"))?;
        Ok(Allow {
            initiated_by,
            protocol,
            port,
            peer,
        })
    }
}

fn parse_peer(p: &str) -> Result<Peer, String> {
    if let Some((k, v)) = p.split_once('=') {
        return match k {
            "manufacturer" => {
                crate::validate::dns_name(v).map(|_| Peer::Manufacturer(v.to_owned()))
            }
            "model" => crate::validate::mud_url(v).map(|_| Peer::Model(v.to_owned())),
            "controller" => url::Url::parse(v)
                .map(|_| Peer::Controller(v.to_owned()))
                .map_err(|e| format!("controller '{v}' is not a URI: {e}")),
            other => Err(format!("unknown abstraction '{other}'")),
        };
    }
    Ok(match p {
        "local-networks" => Peer::LocalNetworks,
        "same-manufacturer" => Peer::SameManufacturer,
        "my-controller" => Peer::MyController,
        "any" => Peer::Any,
        _ => {
            if let Ok(pfx) = p.parse::<IpPrefix>() {
                Peer::Prefix(pfx)
            } else if let Ok(a) = p.parse::<std::net::IpAddr>() {
                Peer::Prefix(IpPrefix::host(a))
            } else {
                crate::validate::dns_name(p).map_err(|e| format!("peer '{p}': {e}"))?;
                Peer::DnsName(p.to_owned())
            }
        }
    })
}

/// The facts a maker gives for a new MUD file.
#[derive(Debug, Clone)]
pub struct NewMud {
    pub mud_url: String,
    pub mfg_name: Option<String>,
    pub model_name: Option<String>,
    pub systeminfo: Option<String>,
    pub documentation: Option<String>,
    pub firmware_rev: Option<String>,
    pub software_rev: Option<String>,
    pub mud_signature: Option<String>,
    pub cache_validity: Option<u8>,
    pub is_supported: bool,
    pub allow: Vec<Allow>,
    /// Written as last-update; pass the current time.
    pub last_update: OffsetDateTime,
}

impl NewMud {
    pub fn new(mud_url: impl Into<String>, last_update: OffsetDateTime) -> Self {
        NewMud {
            mud_url: mud_url.into(),
            mfg_name: None,
            model_name: None,
            systeminfo: None,
            documentation: None,
            firmware_rev: None,
            software_rev: None,
            mud_signature: None,
            cache_validity: None,
            is_supported: true,
            allow: Vec::new(),
            last_update,
        }
    }

    /// Builds the file, checks it strictly, and returns it.
    pub fn build(&self) -> Result<MudFile, String> {
        let last_update = self
            .last_update
            .replace_nanosecond(0)
            .unwrap_or(self.last_update)
            .format(&time::format_description::well_known::Rfc3339)
            .map_err(|e| format!("last-update: {e}"))?;
        let mut v4 = (Vec::new(), Vec::new());
        let mut v6 = (Vec::new(), Vec::new());
        for (i, a) in self.allow.iter().enumerate() {
            let fams: &[bool] = match &a.peer {
                Peer::Prefix(p) if p.addr.is_ipv4() => &[false],
                Peer::Prefix(_) => &[true],
                _ => &[false, true],
            };
            for &is_v6 in fams {
                let (fr, to) = ace_pair(a, i, is_v6)?;
                let acls = if is_v6 { &mut v6 } else { &mut v4 };
                acls.0.push(fr);
                acls.1.push(to);
            }
        }
        let mut acls = Vec::new();
        let mut from = Vec::new();
        let mut to = Vec::new();
        for (fam, (fr, t), ty) in [("v4", v4, AclType::Ipv4), ("v6", v6, AclType::Ipv6)] {
            if fr.is_empty() {
                continue;
            }
            let frn = format!("mud-{fam}fr");
            let ton = format!("mud-{fam}to");
            acls.push(Acl {
                name: frn.clone(),
                acl_type: Some(ty.clone()),
                aces: fr,
            });
            acls.push(Acl {
                name: ton.clone(),
                acl_type: Some(ty),
                aces: t,
            });
            from.push(frn);
            to.push(ton);
        }
        let file = MudFile {
            mud: MudContainer {
                mud_version: 1,
                mud_url: self.mud_url.clone(),
                last_update,
                mud_signature: self.mud_signature.clone(),
                cache_validity: self.cache_validity,
                is_supported: self.is_supported,
                systeminfo: self.systeminfo.clone(),
                mfg_name: self.mfg_name.clone(),
                model_name: self.model_name.clone(),
                firmware_rev: self.firmware_rev.clone(),
                software_rev: self.software_rev.clone(),
                documentation: self.documentation.clone(),
                extensions: Vec::new(),
                from_device_policy: from,
                to_device_policy: to,
            },
            acls,
        };
        // Round trip through the strict parser: `new` never writes an invalid file.
        match parse(&file.to_json_bytes(), &ParseOptions::strict()) {
            Ok(p) => Ok(p.file),
            Err(e) => Err(e
                .diagnostics()
                .iter()
                .map(|d| d.to_string())
                .collect::<Vec<_>>()
                .join("; ")),
        }
    }
}

fn ace_pair(a: &Allow, i: usize, v6: bool) -> Result<(Ace, Ace), String> {
    let mut from = Matches::default();
    let mut to = Matches::default();
    let mut ip_from = IpMatch::default();
    let mut ip_to = IpMatch::default();
    let tag = match &a.peer {
        Peer::Any => "any",
        Peer::Prefix(p) => {
            ip_from.dst_network = Some(*p);
            ip_to.src_network = Some(*p);
            "net"
        }
        Peer::DnsName(n) => {
            ip_from.dst_dnsname = Some(n.clone());
            ip_to.src_dnsname = Some(n.clone());
            "cl"
        }
        Peer::Manufacturer(h) => {
            from.mud.manufacturer = Some(h.clone());
            "man"
        }
        Peer::SameManufacturer => {
            from.mud.same_manufacturer = true;
            "myman"
        }
        Peer::Model(u) => {
            from.mud.model = Some(u.clone());
            "mod"
        }
        Peer::LocalNetworks => {
            from.mud.local_networks = true;
            "loc"
        }
        Peer::Controller(u) => {
            from.mud.controller = Some(u.clone());
            "ent"
        }
        Peer::MyController => {
            from.mud.my_controller = true;
            "myctl"
        }
        Peer::Mac { .. } => return Err("MAC peers are not supported by `new`".into()),
    };
    to.mud = from.mud.clone();
    let port = a.port.map(|port| PortMatch::Eq { port });
    // The peer's port is the destination going out and the source coming in
    // when the device initiates; the other way round when the peer does.
    let (peer_fr, dev_fr) = match a.initiated_by {
        Direction::FromDevice => (port, None),
        Direction::ToDevice => (None, port),
    };
    match a.protocol {
        AllowProtocol::Tcp => {
            ip_from.protocol = Some(6);
            ip_to.protocol = Some(6);
            from.l4 = Some(L4Match::Tcp(TcpMatch {
                src_port: dev_fr,
                dst_port: peer_fr,
                direction_initiated: Some(a.initiated_by),
            }));
            to.l4 = Some(L4Match::Tcp(TcpMatch {
                src_port: peer_fr,
                dst_port: dev_fr,
                direction_initiated: Some(a.initiated_by),
            }));
        }
        AllowProtocol::Udp => {
            ip_from.protocol = Some(17);
            ip_to.protocol = Some(17);
            from.l4 = Some(L4Match::Udp(UdpMatch {
                src_port: dev_fr,
                dst_port: peer_fr,
            }));
            to.l4 = Some(L4Match::Udp(UdpMatch {
                src_port: peer_fr,
                dst_port: dev_fr,
            }));
        }
        AllowProtocol::Any => {}
    }
    let l3 = |ip: IpMatch| {
        if ip == IpMatch::default() {
            None
        } else if v6 {
            Some(L3Match::Ipv6(ip))
        } else {
            Some(L3Match::Ipv4(ip))
        }
    };
    from.l3 = l3(ip_from);
    to.l3 = l3(ip_to);
    Ok((
        Ace {
            name: format!("{tag}{i}-frdev"),
            matches: from,
            forwarding: Forwarding::Accept,
        },
        Ace {
            name: format!("{tag}{i}-todev"),
            matches: to,
            forwarding: Forwarding::Accept,
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allow_syntax() {
        let a: Allow = "tcp/443@api.maker.example".parse().unwrap();
        assert_eq!(a.initiated_by, Direction::FromDevice);
        assert_eq!(a.port, Some(443));
        assert_eq!(a.peer, Peer::DnsName("api.maker.example".into()));
        let a: Allow = "in:tcp/80@local-networks".parse().unwrap();
        assert_eq!(a.initiated_by, Direction::ToDevice);
        assert_eq!(a.peer, Peer::LocalNetworks);
        let a: Allow = "udp/53@192.0.2.0/24".parse().unwrap();
        assert!(matches!(a.peer, Peer::Prefix(_)));
        let a: Allow = "any@manufacturer=maker.example".parse().unwrap();
        assert_eq!(a.peer, Peer::Manufacturer("maker.example".into()));
        assert!("tcp/99999@x.example".parse::<Allow>().is_err());
        assert!("tcp/443".parse::<Allow>().is_err());
        assert!("any/1@x.example".parse::<Allow>().is_err());
        assert!("tcp/1@bad..name".parse::<Allow>().is_err());
    }
}
