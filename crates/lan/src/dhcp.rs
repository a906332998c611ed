//! DHCPv4 (RFC 2131, options RFC 2132), without I/O: a client's packet read into a
//! [`Request`], and a reply built by [`reply_bytes`]. The fixed header and the
//! reply go through `dhcproto`; the options a device declares (hostname 12,
//! vendor class 60, client id 61, MUD URL 161) are read from the raw option bytes,
//! so one malformed option is named in the error and does not hide the others.
//!
//! - [`pool`]: which address a client gets.

pub mod pool;

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

pub use dhcproto::v4;
use dhcproto::v4::{DhcpOption, MessageType, Opcode};
pub use dhcproto::{Decodable, Encodable};

/// The BOOTP fixed header plus the magic cookie (RFC 2131 §2, §3).
const OPTIONS_AT: usize = 240;
const MAGIC: [u8; 4] = [99, 130, 83, 99];
/// Longest hostname and vendor class kept (RFC 2132 §3.14: the hostname option
/// has at least 1 octet; we keep what DNS labels allow).
pub const MAX_HOSTNAME: usize = 63;
pub const MAX_VENDOR_CLASS: usize = 255;
/// Longest MUD URL accepted from option 161 (RFC 8520 §10 puts it in one or more
/// DHCP options; URLs beyond this are refused, not cut).
pub const MAX_MUD_URL: usize = 1024;

/// Why a packet is not a request we serve.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DhcpError {
    #[error("{0} bytes: shorter than a DHCP message (240)")]
    Short(usize),
    #[error("not a BOOTREQUEST")]
    NotRequest,
    #[error("no DHCP magic cookie")]
    NoMagic,
    #[error("hardware address: {0}")]
    Hardware(String),
    #[error("DHCP options are truncated at byte {0}")]
    Truncated(usize),
    #[error("no DHCP message type (option 53)")]
    NoType,
    #[error("malformed option {code}: {reason}")]
    Option { code: u8, reason: String },
    #[error("message does not decode: {0}")]
    Decode(String),
}

/// A MAC address (Ethernet, 6 octets).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Mac(pub [u8; 6]);

impl std::fmt::Display for Mac {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let b = self.0;
        write!(
            f,
            "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
            b[0], b[1], b[2], b[3], b[4], b[5]
        )
    }
}

impl std::str::FromStr for Mac {
    type Err = String;
    fn from_str(s: &str) -> Result<Mac, String> {
        let parts: Vec<&str> = s.split([':', '-']).collect();
        if parts.len() != 6 {
            return Err(format!(
                "`{s}` is not a MAC address (six hex octets, a:b:c:d:e:f)"
            ));
        }
        let mut out = [0u8; 6];
        for (o, p) in out.iter_mut().zip(parts) {
            if p.is_empty() || p.len() > 2 {
                return Err(format!("`{s}` is not a MAC address"));
            }
            *o = u8::from_str_radix(p, 16).map_err(|_| format!("`{s}` is not a MAC address"))?;
        }
        Ok(Mac(out))
    }
}

/// A client's request, read.
#[derive(Debug, Clone)]
pub struct Request {
    pub kind: MessageType,
    pub xid: u32,
    pub broadcast: bool,
    pub ciaddr: Ipv4Addr,
    pub giaddr: Ipv4Addr,
    pub mac: Mac,
    /// Option 61, hex; the lease key when present (RFC 2131 §4.2), else the MAC.
    pub client_id: Option<String>,
    pub requested_ip: Option<Ipv4Addr>,
    pub server_id: Option<Ipv4Addr>,
    pub hostname: Option<String>,
    pub vendor_class: Option<String>,
    /// Option 161: the URL, or why it was refused (the lease goes on without it).
    pub mud_url: Option<Result<String, String>>,
    /// Notes on options that were present but not kept (odd hostname, ...).
    pub notes: Vec<String>,
    /// The BOOTP flags as sent (the broadcast bit is echoed, RFC 2131 §4.1).
    flags: u16,
    /// Option 61 as sent, echoed in replies (RFC 6842).
    client_id_raw: Option<Vec<u8>>,
}

impl Request {
    /// The key the lease is kept under: the client id if sent, else the MAC.
    pub fn client_key(&self) -> String {
        match &self.client_id {
            Some(id) => format!("id:{id}"),
            None => format!("mac:{}", self.mac),
        }
    }
}

/// Options as sent, repeated instances concatenated (RFC 3396).
pub fn raw_options(options: &[u8]) -> Result<BTreeMap<u8, Vec<u8>>, DhcpError> {
    let mut out: BTreeMap<u8, Vec<u8>> = BTreeMap::new();
    let mut i = 0;
    while i < options.len() {
        match options[i] {
            0 => {
                i += 1;
                continue;
            }
            255 => break,
            code => {
                let len = *options
                    .get(i + 1)
                    .ok_or(DhcpError::Truncated(OPTIONS_AT + i))?
                    as usize;
                let data = options
                    .get(i + 2..i + 2 + len)
                    .ok_or(DhcpError::Truncated(OPTIONS_AT + i))?;
                out.entry(code).or_default().extend_from_slice(data);
                i += 2 + len;
            }
        }
    }
    Ok(out)
}

/// Bytes a device sent, for logs and the store: printable ASCII as is, the rest `\xNN`.
pub fn escape(bytes: &[u8]) -> String {
    let mut s = String::new();
    for &b in bytes {
        if (0x20..0x7f).contains(&b) && b != b'\\' {
            s.push(b as char);
        } else {
            s.push_str(&format!("\\x{b:02x}"));
        }
    }
    s
}

fn ipv4(code: u8, v: &[u8]) -> Result<Ipv4Addr, DhcpError> {
    <[u8; 4]>::try_from(v)
        .map(Ipv4Addr::from)
        .map_err(|_| DhcpError::Option {
            code,
            reason: format!("{} bytes, an IPv4 address has 4", v.len()),
        })
}

/// The MUD URL of option 161 (RFC 8520 §10), checked as the mud crate checks MUD
/// URLs (https, well-formed), with a length bound.
pub fn mud_url(payload: &[u8]) -> Result<String, String> {
    if payload.len() > MAX_MUD_URL {
        return Err(format!(
            "option 161 holds {} bytes; longest accepted is {MAX_MUD_URL}",
            payload.len()
        ));
    }
    let url = mud::source::mud_url_from_dhcp_payload(payload).map_err(|e| e.to_string())?;
    // A URL has no spaces or control characters, and a MUD URL is `https://`
    // with an authority (RFC 8520 §1.6).
    if !url.bytes().all(|b| b.is_ascii_graphic())
        || !url
            .get(..8)
            .is_some_and(|p| p.eq_ignore_ascii_case("https://"))
    {
        return Err(format!(
            "option 161 `{}` is not an https:// URL without spaces",
            escape(&payload[..payload.len().min(120)])
        ));
    }
    Ok(url)
}

/// Read a client's packet.
pub fn parse_request(bytes: &[u8]) -> Result<Request, DhcpError> {
    if bytes.len() < OPTIONS_AT {
        return Err(DhcpError::Short(bytes.len()));
    }
    if bytes[0] != 1 {
        return Err(DhcpError::NotRequest);
    }
    if bytes[236..240] != MAGIC {
        return Err(DhcpError::NoMagic);
    }
    // Ethernet only (htype 1, hlen 6).
    if bytes[1] != 1 || bytes[2] != 6 {
        return Err(DhcpError::Hardware(format!(
            "type {} length {}: only Ethernet (1, 6) is served",
            bytes[1], bytes[2]
        )));
    }
    // The fixed header is read here, not by dhcproto: its option decoder has
    // debug assertions that a hostile packet trips (found by the fuzz target).
    let opts = raw_options(&bytes[OPTIONS_AT..])?;
    let be32 =
        |at: usize| u32::from_be_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]]);
    let xid = be32(4);
    let flags = u16::from_be_bytes([bytes[10], bytes[11]]);
    let ciaddr = Ipv4Addr::from(be32(12));
    let giaddr = Ipv4Addr::from(be32(24));
    let kind = match opts.get(&53).map(Vec::as_slice) {
        Some([t]) => MessageType::from(*t),
        Some(v) => {
            return Err(DhcpError::Option {
                code: 53,
                reason: format!("{} bytes, the message type has 1", v.len()),
            });
        }
        None => return Err(DhcpError::NoType),
    };
    let mut mac = [0u8; 6];
    mac.copy_from_slice(&bytes[28..34]);
    let mut notes = Vec::new();
    let hostname = opts.get(&12).and_then(|h| {
        let ok = !h.is_empty()
            && h.len() <= MAX_HOSTNAME
            && h.iter()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.'));
        if ok {
            Some(String::from_utf8_lossy(h).into_owned())
        } else {
            notes.push(format!(
                "hostname (option 12) `{}` ignored: use 1 to {MAX_HOSTNAME} letters, digits, '-', '_', '.'",
                escape(&h[..h.len().min(80)])
            ));
            None
        }
    });
    let vendor_class = opts
        .get(&60)
        .map(|v| escape(&v[..v.len().min(MAX_VENDOR_CLASS)]));
    Ok(Request {
        kind,
        xid,
        broadcast: flags & 0x8000 != 0,
        ciaddr,
        giaddr,
        mac: Mac(mac),
        client_id: opts
            .get(&61)
            .filter(|v| !v.is_empty())
            .map(|v| v.iter().map(|b| format!("{b:02x}")).collect::<String>()),
        requested_ip: opts.get(&50).map(|v| ipv4(50, v)).transpose()?,
        server_id: opts.get(&54).map(|v| ipv4(54, v)).transpose()?,
        hostname,
        vendor_class,
        mud_url: opts
            .get(&mud::source::DHCPV4_OPTION_MUD_URL)
            .map(|p| mud_url(p)),
        notes,
        flags,
        client_id_raw: opts.get(&61).filter(|v| !v.is_empty()).cloned(),
    })
}

/// What a reply announces besides the address.
#[derive(Debug, Clone)]
pub struct Params {
    pub server: Ipv4Addr,
    pub mask: Ipv4Addr,
    pub broadcast: Ipv4Addr,
    pub router: Ipv4Addr,
    pub dns: Vec<Ipv4Addr>,
    pub lease_secs: u32,
}

/// The reply kinds a server sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplyKind {
    Offer,
    Ack,
    Nak,
}

/// A reply to `req` (RFC 2131 §4.3.1 table 3), giving `yiaddr`.
pub fn reply_bytes(req: &Request, kind: ReplyKind, yiaddr: Ipv4Addr, p: &Params) -> Vec<u8> {
    let mut m = v4::Message::new_with_id(
        req.xid,
        Ipv4Addr::UNSPECIFIED,
        Ipv4Addr::UNSPECIFIED,
        Ipv4Addr::UNSPECIFIED,
        req.giaddr,
        &req.mac.0,
    );
    m.set_opcode(Opcode::BootReply);
    m.set_flags(v4::Flags::from(req.flags));
    let o = m.opts_mut();
    o.insert(DhcpOption::ServerIdentifier(p.server));
    match kind {
        ReplyKind::Nak => {
            o.insert(DhcpOption::MessageType(MessageType::Nak));
        }
        ReplyKind::Offer | ReplyKind::Ack => {
            o.insert(DhcpOption::MessageType(if kind == ReplyKind::Offer {
                MessageType::Offer
            } else {
                MessageType::Ack
            }));
            o.insert(DhcpOption::AddressLeaseTime(p.lease_secs));
            // T1 = 0.5, T2 = 0.875 of the lease (RFC 2131 §4.4.5).
            o.insert(DhcpOption::Renewal(p.lease_secs / 2));
            o.insert(DhcpOption::Rebinding(p.lease_secs / 8 * 7));
            o.insert(DhcpOption::SubnetMask(p.mask));
            o.insert(DhcpOption::BroadcastAddr(p.broadcast));
            o.insert(DhcpOption::Router(vec![p.router]));
            o.insert(DhcpOption::DomainNameServer(p.dns.clone()));
        }
    }
    // RFC 6842: echo the client identifier.
    if let Some(id) = &req.client_id_raw {
        m.opts_mut()
            .insert(DhcpOption::ClientIdentifier(id.clone()));
    }
    if kind != ReplyKind::Nak {
        m.set_yiaddr(yiaddr);
        // ciaddr echoes the client's in an ACK to a renewal (table 3).
        if kind == ReplyKind::Ack {
            m.set_ciaddr(req.ciaddr);
        }
    }
    m.to_vec().unwrap_or_default()
}

#[cfg(test)]
mod tests;
