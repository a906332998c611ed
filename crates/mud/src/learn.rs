//! Learning a MUD file from a packet capture (`steward mud learn`), for devices
//! whose maker publishes none. Feature `learn`.
//!
//! The capture (pcap or pcapng, read with `pcap-file`; packets decoded with
//! `etherparse`) is scanned for the device's traffic:
//! - TCP: a SYN without ACK says who opened the connection; the server's port is
//!   kept. Segments of connections whose SYN is not in the capture are counted and
//!   reported, not guessed at.
//! - UDP: whoever sent first in a conversation initiated it.
//! - DNS answers the device received map addresses back to the names it looked
//!   up, so peers are written as DNS names (`ietf-acldns`) where the capture shows
//!   the lookup, else as addresses.
//! - DNS (53) and DHCP (67/68, 546/547) themselves are left out: a MUD manager
//!   provides them to every device (RFC 8520 §2 leaves them implicit in practice).
//!
//! The result is built with [`crate::builder`], so it is a strictly valid file
//! that allows exactly the flows seen, and nothing else.

use crate::builder::{Allow, AllowProtocol, NewMud};
use crate::compile::Peer;
use crate::model::{Direction, IpPrefix, MudFile};
use etherparse::{NetSlice, SlicedPacket, TransportSlice};
use pcap_file::DataLink;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::net::IpAddr;
use std::str::FromStr;
use time::OffsetDateTime;

/// The device to learn about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeviceId {
    Ip(IpAddr),
    Mac([u8; 6]),
}

impl FromStr for DeviceId {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        if let Ok(ip) = s.parse::<IpAddr>() {
            return Ok(DeviceId::Ip(ip));
        }
        let parts: Vec<&str> = s.split([':', '-']).collect();
        if parts.len() == 6 {
            let mut mac = [0u8; 6];
            for (i, p) in parts.iter().enumerate() {
                mac[i] = u8::from_str_radix(p, 16)
                    .map_err(|_| format!("'{s}' is not an IP or MAC address"))?;
            }
            return Ok(DeviceId::Mac(mac));
        }
        Err(format!("'{s}' is not an IP or MAC address"))
    }
}

/// What to learn and how to label the result.
#[derive(Debug, Clone)]
pub struct LearnOptions {
    pub device: DeviceId,
    pub mud_url: String,
    pub mfg_name: Option<String>,
    pub model_name: Option<String>,
    pub systeminfo: Option<String>,
    pub last_update: OffsetDateTime,
    /// Stop after this many packets (default 10 million).
    pub max_packets: usize,
}

impl LearnOptions {
    pub fn new(device: DeviceId, mud_url: impl Into<String>, last_update: OffsetDateTime) -> Self {
        LearnOptions {
            device,
            mud_url: mud_url.into(),
            mfg_name: None,
            model_name: None,
            systeminfo: None,
            last_update,
            max_packets: 10_000_000,
        }
    }
}

/// One kind of communication the device was seen doing.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Flow {
    pub initiated_by: Direction,
    /// `tcp` or `udp`.
    pub protocol: &'static str,
    pub peer: IpAddr,
    /// The DNS name the device looked up for `peer`, if the capture shows it.
    pub peer_name: Option<String>,
    /// The port of the side that did not initiate (the server's port).
    pub port: u16,
}

/// The learned file and what it was learned from.
#[derive(Debug, Clone)]
pub struct Learned {
    pub file: MudFile,
    pub flows: Vec<Flow>,
    pub packets: usize,
    pub device_packets: usize,
    /// Things the user should know (skipped packets, unseen connection starts).
    pub notes: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LearnError {
    #[error("cannot read the capture: {0}")]
    Capture(String),
    #[error("the capture has no packets from or to the device {0}")]
    NoTraffic(String),
    #[error("cannot build the MUD file: {0}")]
    Build(String),
}

/// Reads a pcap or pcapng capture and returns a MUD file for what the device did.
pub fn learn(capture: &[u8], opts: &LearnOptions) -> Result<Learned, LearnError> {
    let mut st = State::default();
    let is_ng = capture.starts_with(&[0x0a, 0x0d, 0x0d, 0x0a]);
    if is_ng {
        let mut r = pcap_file::pcapng::PcapNgReader::new(capture)
            .map_err(|e| LearnError::Capture(e.to_string()))?;
        let mut links: Vec<DataLink> = Vec::new();
        while let Some(b) = r.next_block() {
            let b = b.map_err(|e| LearnError::Capture(e.to_string()))?;
            use pcap_file::pcapng::Block;
            match b {
                Block::InterfaceDescription(i) => links.push(i.linktype),
                Block::EnhancedPacket(p) => {
                    let link = links
                        .get(p.interface_id as usize)
                        .copied()
                        .unwrap_or(DataLink::ETHERNET);
                    st.packet(&p.data, link, opts);
                }
                Block::SimplePacket(p) => {
                    let link = links.first().copied().unwrap_or(DataLink::ETHERNET);
                    st.packet(&p.data, link, opts);
                }
                _ => {}
            }
            if st.packets >= opts.max_packets {
                break;
            }
        }
    } else {
        let mut r = pcap_file::pcap::PcapReader::new(capture)
            .map_err(|e| LearnError::Capture(e.to_string()))?;
        let link = r.header().datalink;
        while let Some(p) = r.next_packet() {
            let p = p.map_err(|e| LearnError::Capture(e.to_string()))?;
            st.packet(&p.data, link, opts);
            if st.packets >= opts.max_packets {
                break;
            }
        }
    }
    st.finish(opts)
}

#[derive(Default)]
struct State {
    packets: usize,
    device_packets: usize,
    undecodable: usize,
    midstream_tcp: usize,
    other_protocols: usize,
    /// Address → names the device looked up that resolved to it.
    names: HashMap<IpAddr, BTreeSet<String>>,
    /// (initiator, proto, peer, server port)
    flows: BTreeSet<(Direction, &'static str, IpAddr, u16)>,
    /// TCP connections whose SYN we saw: (peer, peer port, device port).
    tcp_seen: HashSet<(IpAddr, u16, u16)>,
    /// UDP conversations: (peer, peer port, device port).
    udp_seen: HashSet<(IpAddr, u16, u16)>,
}

const IMPLICIT_PORTS: [u16; 6] = [53, 67, 68, 546, 547, 5353];

impl State {
    fn packet(&mut self, data: &[u8], link: DataLink, opts: &LearnOptions) {
        self.packets += 1;
        let sliced = match link {
            DataLink::ETHERNET => SlicedPacket::from_ethernet(data),
            DataLink::RAW | DataLink::IPV4 | DataLink::IPV6 => SlicedPacket::from_ip(data),
            DataLink::LINUX_SLL => SlicedPacket::from_linux_sll(data),
            _ => {
                self.undecodable += 1;
                return;
            }
        };
        let Ok(p) = sliced else {
            self.undecodable += 1;
            return;
        };
        let (src, dst) = match &p.net {
            Some(NetSlice::Ipv4(v4)) => (
                IpAddr::V4(v4.header().source_addr()),
                IpAddr::V4(v4.header().destination_addr()),
            ),
            Some(NetSlice::Ipv6(v6)) => (
                IpAddr::V6(v6.header().source_addr()),
                IpAddr::V6(v6.header().destination_addr()),
            ),
            _ => return,
        };
        let (smac, dmac) = match &p.link {
            Some(etherparse::LinkSlice::Ethernet2(e)) => (Some(e.source()), Some(e.destination())),
            _ => (None, None),
        };
        let dev_is_src = match opts.device {
            DeviceId::Ip(ip) if ip == src => true,
            DeviceId::Ip(ip) if ip == dst => false,
            DeviceId::Mac(m) if smac == Some(m) => true,
            DeviceId::Mac(m) if dmac == Some(m) => false,
            _ => return,
        };
        self.device_packets += 1;
        let peer = if dev_is_src { dst } else { src };
        match &p.transport {
            Some(TransportSlice::Udp(u)) => {
                let (sp, dp) = (u.source_port(), u.destination_port());
                if !dev_is_src && sp == 53 {
                    self.dns(u.payload());
                }
                if IMPLICIT_PORTS.contains(&sp) || IMPLICIT_PORTS.contains(&dp) {
                    return;
                }
                let (dev_port, peer_port) = if dev_is_src { (sp, dp) } else { (dp, sp) };
                let key = (peer, peer_port, dev_port);
                if self.udp_seen.insert(key) {
                    // First packet of the conversation: its sender initiated it.
                    if dev_is_src {
                        self.flows
                            .insert((Direction::FromDevice, "udp", peer, peer_port));
                    } else {
                        self.flows
                            .insert((Direction::ToDevice, "udp", peer, dev_port));
                    }
                }
            }
            Some(TransportSlice::Tcp(t)) => {
                let (sp, dp) = (t.source_port(), t.destination_port());
                if IMPLICIT_PORTS.contains(&sp) || IMPLICIT_PORTS.contains(&dp) {
                    return;
                }
                let (dev_port, peer_port) = if dev_is_src { (sp, dp) } else { (dp, sp) };
                let key = (peer, peer_port, dev_port);
                if t.syn() && !t.ack() {
                    self.tcp_seen.insert(key);
                    if dev_is_src {
                        self.flows
                            .insert((Direction::FromDevice, "tcp", peer, peer_port));
                    } else {
                        self.flows
                            .insert((Direction::ToDevice, "tcp", peer, dev_port));
                    }
                } else if !self.tcp_seen.contains(&key) {
                    self.midstream_tcp += 1;
                }
            }
            _ => self.other_protocols += 1,
        }
    }

    fn dns(&mut self, msg: &[u8]) {
        if let Some((qname, addrs)) = dns_answers(msg) {
            for a in addrs {
                self.names.entry(a).or_default().insert(qname.clone());
            }
        }
    }

    fn finish(self, opts: &LearnOptions) -> Result<Learned, LearnError> {
        if self.device_packets == 0 {
            let d = match opts.device {
                DeviceId::Ip(ip) => ip.to_string(),
                DeviceId::Mac(m) => m
                    .iter()
                    .map(|b| format!("{b:02x}"))
                    .collect::<Vec<_>>()
                    .join(":"),
            };
            return Err(LearnError::NoTraffic(d));
        }
        let mut notes = Vec::new();
        if self.midstream_tcp > 0 {
            notes.push(format!(
                "{} TCP segments belong to connections whose start is not in the capture; they were not learned (capture from before the device connects)",
                self.midstream_tcp
            ));
        }
        if self.undecodable > 0 {
            notes.push(format!(
                "{} packets could not be decoded and were skipped",
                self.undecodable
            ));
        }
        if self.other_protocols > 0 {
            notes.push(format!(
                "{} packets of protocols other than TCP and UDP (e.g. ICMP) were not learned",
                self.other_protocols
            ));
        }
        // Several addresses of one name collapse into one DNS rule.
        let mut uniq: BTreeMap<(Direction, &'static str, String, u16), Flow> = BTreeMap::new();
        for (dir, proto, peer, port) in &self.flows {
            let name = self.names.get(peer).and_then(|n| n.iter().next().cloned());
            let key_peer = name.clone().unwrap_or_else(|| peer.to_string());
            uniq.entry((*dir, proto, key_peer, *port)).or_insert(Flow {
                initiated_by: *dir,
                protocol: proto,
                peer: *peer,
                peer_name: name,
                port: *port,
            });
        }
        let flows: Vec<Flow> = uniq.into_values().collect();
        let mut new = NewMud::new(opts.mud_url.clone(), opts.last_update);
        new.mfg_name = opts.mfg_name.clone();
        new.model_name = opts.model_name.clone();
        new.systeminfo = opts.systeminfo.clone();
        new.allow = flows
            .iter()
            .map(|f| Allow {
                initiated_by: f.initiated_by,
                protocol: if f.protocol == "tcp" {
                    AllowProtocol::Tcp
                } else {
                    AllowProtocol::Udp
                },
                port: Some(f.port),
                peer: match &f.peer_name {
                    Some(n) => Peer::DnsName(n.clone()),
                    None => Peer::Prefix(IpPrefix::host(f.peer)),
                },
            })
            .collect();
        let file = new.build().map_err(LearnError::Build)?;
        Ok(Learned {
            file,
            flows,
            packets: self.packets,
            device_packets: self.device_packets,
            notes,
        })
    }
}

/// The first question name and the A/AAAA addresses of a DNS response (RFC 1035 §4.1).
fn dns_answers(msg: &[u8]) -> Option<(String, Vec<IpAddr>)> {
    let u16_at =
        |i: usize| -> Option<u16> { Some(u16::from_be_bytes([*msg.get(i)?, *msg.get(i + 1)?])) };
    let flags = u16_at(2)?;
    if flags & 0x8000 == 0 || flags & 0x000f != 0 {
        return None; // a query, or an error response
    }
    let qd = u16_at(4)? as usize;
    let an = u16_at(6)? as usize;
    if qd == 0 {
        return None;
    }
    let mut i = 12;
    let mut qname = None;
    for _ in 0..qd.min(16) {
        let (name, next) = read_name(msg, i)?;
        qname.get_or_insert(name);
        i = next + 4;
    }
    let mut addrs = Vec::new();
    for _ in 0..an.min(256) {
        let (_, next) = read_name(msg, i)?;
        let ty = u16_at(next)?;
        let rdlen = u16_at(next + 8)? as usize;
        let rd = msg.get(next + 10..next + 10 + rdlen)?;
        match (ty, rdlen) {
            (1, 4) => addrs.push(IpAddr::from(<[u8; 4]>::try_from(rd).ok()?)),
            (28, 16) => addrs.push(IpAddr::from(<[u8; 16]>::try_from(rd).ok()?)),
            _ => {}
        }
        i = next + 10 + rdlen;
    }
    let qname = qname?;
    crate::validate::dns_name(&qname).ok()?;
    Some((qname, addrs))
}

/// Reads a possibly compressed name; returns it and the offset after it.
fn read_name(msg: &[u8], start: usize) -> Option<(String, usize)> {
    let mut labels: Vec<String> = Vec::new();
    let mut i = start;
    let mut end = None;
    let mut jumps = 0;
    loop {
        let len = *msg.get(i)? as usize;
        if len == 0 {
            end.get_or_insert(i + 1);
            break;
        }
        if len & 0xc0 == 0xc0 {
            let ptr = ((len & 0x3f) << 8) | *msg.get(i + 1)? as usize;
            end.get_or_insert(i + 2);
            jumps += 1;
            if jumps > 16 || ptr >= msg.len() {
                return None;
            }
            i = ptr;
            continue;
        }
        if len > 63 {
            return None;
        }
        let l = msg.get(i + 1..i + 1 + len)?;
        labels.push(String::from_utf8_lossy(l).to_ascii_lowercase());
        if labels.len() > 127 {
            return None;
        }
        i += 1 + len;
    }
    Some((labels.join("."), end?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_ids() {
        assert_eq!(
            "10.0.0.1".parse::<DeviceId>(),
            Ok(DeviceId::Ip("10.0.0.1".parse().unwrap()))
        );
        assert_eq!(
            "aa:bb:cc:dd:ee:ff".parse::<DeviceId>(),
            Ok(DeviceId::Mac([0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff]))
        );
        assert!("nope".parse::<DeviceId>().is_err());
    }

    #[test]
    fn dns_parser_is_bounded() {
        // A pointer loop must not hang.
        let mut m = vec![0, 1, 0x81, 0x80, 0, 1, 0, 1, 0, 0, 0, 0];
        m.extend([0xc0, 12]);
        assert_eq!(dns_answers(&m), None);
        assert_eq!(dns_answers(&[]), None);
        assert_eq!(dns_answers(&[0; 11]), None);
    }
}
