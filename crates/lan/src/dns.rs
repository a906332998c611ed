//! DNS for the forwarder, without I/O (RFC 1035, EDNS(0) RFC 6891).
//!
//! The forwarder's steps, each a function here:
//! 1. [`parse_query`]: a device's bytes → a [`ClientQuery`] (one question, opcode
//!    QUERY), or a [`Rejected`] that says which error code to answer with, if any.
//! 2. [`ClientQuery::upstream_bytes`]: a fresh query for the upstream server, with
//!    its own random id (never the device's), recursion desired, EDNS(0).
//! 3. [`check_upstream`]: the upstream's bytes → its [`Message`], only if it is the
//!    answer to that very query (id and question match).
//! 4. [`extract`]: the addresses the answer gives for the question's name, following
//!    the CNAME chain from that name only, at most a cap of them; the answer is
//!    trimmed to the addresses kept, so the device is never told an address that
//!    the gateway did not add to its set.
//! 5. [`ClientQuery::response_bytes`]: the answer as the device gets it, with the
//!    device's id, and truncated (TC, RFC 1035 §4.2.1 / RFC 6891 §6.2.5) when it
//!    does not fit the device's UDP payload size, so the device retries over TCP.

use std::collections::HashSet;
use std::net::IpAddr;

pub use hickory_proto::op::{Message, Query, ResponseCode};
pub use hickory_proto::rr::{Name, RecordType};

use hickory_proto::op::{Edns, MessageType, OpCode};
use hickory_proto::rr::{DNSClass, RData, Record};

/// Longest CNAME chain followed from the question's name.
pub const MAX_CHAIN: usize = 16;
/// UDP payload size Steward offers upstream and to devices (the 2020 DNS flag day value).
pub const EDNS_PAYLOAD: u16 = 1232;

/// A device's query, checked.
#[derive(Debug, Clone)]
pub struct ClientQuery {
    /// The device's message id, put back on the answer.
    pub id: u16,
    pub question: Query,
    pub recursion_desired: bool,
    /// Whether the device sent EDNS(0); the answer then carries an OPT record too.
    pub edns: bool,
    pub dnssec_ok: bool,
    /// Largest UDP answer the device takes: 512 without EDNS (RFC 1035 §4.2.1),
    /// else its advertised size (at least 512, RFC 6891 §6.2.5), at most ours.
    pub udp_payload: u16,
}

/// Why a device's packet is not forwarded, and what to answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{reason}")]
pub struct Rejected {
    /// The device's message id, when the header could be read: answer with `rcode`.
    /// `None`: too broken to answer at all (drop it).
    pub id: Option<u16>,
    pub rcode: ResponseCode,
    pub reason: String,
}

/// Why an upstream packet is not taken as the answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UpstreamError {
    #[error("upstream answer does not decode: {0}")]
    Malformed(String),
    #[error("upstream packet is not the answer to our query (id or question differs)")]
    Mismatch,
}

fn rejected(id: Option<u16>, rcode: ResponseCode, reason: impl Into<String>) -> Rejected {
    Rejected {
        id,
        rcode,
        reason: reason.into(),
    }
}

/// Read a device's query.
pub fn parse_query(bytes: &[u8]) -> Result<ClientQuery, Rejected> {
    if bytes.len() < 12 {
        return Err(rejected(
            None,
            ResponseCode::FormErr,
            format!("{} bytes: shorter than a DNS header", bytes.len()),
        ));
    }
    let id = u16::from_be_bytes([bytes[0], bytes[1]]);
    if bytes[2] & 0x80 != 0 {
        // A response sent to us: never answer it (that would make loops).
        return Err(rejected(
            None,
            ResponseCode::FormErr,
            "a response, not a query",
        ));
    }
    let msg = Message::from_vec(bytes).map_err(|e| {
        rejected(
            Some(id),
            ResponseCode::FormErr,
            format!("malformed query: {e}"),
        )
    })?;
    if msg.op_code != OpCode::Query {
        return Err(rejected(
            Some(id),
            ResponseCode::NotImp,
            format!("opcode {:?} is not supported, only QUERY", msg.op_code),
        ));
    }
    if msg.queries.len() != 1 {
        return Err(rejected(
            Some(id),
            ResponseCode::FormErr,
            format!("{} questions: exactly one is expected", msg.queries.len()),
        ));
    }
    if !msg.answers.is_empty() || !msg.authorities.is_empty() {
        return Err(rejected(
            Some(id),
            ResponseCode::FormErr,
            "a query with answer or authority records",
        ));
    }
    let question = msg.queries[0].clone();
    if question.query_class != DNSClass::IN {
        return Err(rejected(
            Some(id),
            ResponseCode::Refused,
            format!("class {:?}: only IN is forwarded", question.query_class),
        ));
    }
    if matches!(
        question.query_type,
        RecordType::AXFR | RecordType::IXFR | RecordType::OPT
    ) {
        return Err(rejected(
            Some(id),
            ResponseCode::Refused,
            format!("query type {} is not forwarded", question.query_type),
        ));
    }
    let (edns, dnssec_ok, udp_payload) = match &msg.edns {
        Some(e) => {
            if e.version() != 0 {
                // RFC 6891 §6.1.3: BADVERS; we only say we do not serve it.
                return Err(rejected(
                    Some(id),
                    ResponseCode::FormErr,
                    format!("EDNS version {} (only 0)", e.version()),
                ));
            }
            (
                true,
                e.flags().dnssec_ok,
                e.max_payload().clamp(512, EDNS_PAYLOAD),
            )
        }
        None => (false, false, 512),
    };
    Ok(ClientQuery {
        id,
        question,
        recursion_desired: msg.recursion_desired,
        edns,
        dnssec_ok,
        udp_payload,
    })
}

/// An answer with only a response code, for a query that could be read at least
/// as far as its header.
pub fn error_bytes(id: u16, question: Option<&Query>, rcode: ResponseCode) -> Vec<u8> {
    let mut m = Message::error_msg(id, OpCode::Query, rcode);
    m.metadata.recursion_available = true;
    if let Some(q) = question {
        m.add_query(q.clone());
    }
    // Encoding a header and one parsed question cannot fail; an empty answer is
    // the fallback that still carries the id.
    m.to_vec().unwrap_or_else(|_| {
        let mut b = vec![0u8; 12];
        b[..2].copy_from_slice(&id.to_be_bytes());
        b[2] = 0x80;
        b[3] = 0x80 | rcode.low();
        b
    })
}

impl ClientQuery {
    /// The query Steward sends upstream, under `upstream_id`.
    pub fn upstream_bytes(&self, upstream_id: u16) -> Vec<u8> {
        let mut m = Message::new(upstream_id, MessageType::Query, OpCode::Query);
        m.metadata.recursion_desired = true;
        m.add_query(self.question.clone());
        let mut e = Edns::new();
        e.set_max_payload(EDNS_PAYLOAD);
        e.set_dnssec_ok(self.dnssec_ok);
        m.set_edns(e);
        m.to_vec().unwrap_or_default()
    }

    /// The answer as the device gets it. Over UDP (`max_len` = `Some(self.udp_payload)`)
    /// an answer that does not fit is sent truncated: header, question, TC set.
    /// Returns the bytes and whether they were truncated.
    pub fn response_bytes(&self, upstream: &Message, max_len: Option<u16>) -> (Vec<u8>, bool) {
        let mut m = Message::response(self.id, OpCode::Query);
        m.metadata.recursion_desired = self.recursion_desired;
        m.metadata.recursion_available = true;
        m.metadata.authentic_data = upstream.authentic_data && self.dnssec_ok;
        m.metadata.checking_disabled = false;
        m.metadata.response_code = upstream.response_code;
        m.add_query(self.question.clone());
        m.insert_answers(upstream.answers.clone());
        m.insert_authorities(upstream.authorities.clone());
        m.insert_additionals(upstream.additionals.clone());
        if self.edns {
            let mut e = Edns::new();
            e.set_max_payload(EDNS_PAYLOAD);
            e.set_dnssec_ok(self.dnssec_ok);
            m.set_edns(e);
        }
        let full = match m.to_vec() {
            Ok(b) => b,
            Err(_) => {
                return (
                    error_bytes(self.id, Some(&self.question), ResponseCode::ServFail),
                    false,
                );
            }
        };
        match max_len {
            Some(max) if full.len() > max as usize => {
                // RFC 1035 §4.2.1 / RFC 2181 §9: set TC; the device asks again over TCP.
                let t = m.truncate();
                (
                    t.to_vec().unwrap_or_else(|_| {
                        error_bytes(self.id, Some(&self.question), ResponseCode::ServFail)
                    }),
                    true,
                )
            }
            _ => (full, false),
        }
    }
}

/// Take an upstream packet as the answer to `(id, question)`, or say why not.
pub fn check_upstream(bytes: &[u8], id: u16, question: &Query) -> Result<Message, UpstreamError> {
    let m = Message::from_vec(bytes).map_err(|e| UpstreamError::Malformed(e.to_string()))?;
    if m.id != id
        || m.message_type != MessageType::Response
        || m.queries.len() != 1
        || m.queries[0].name != question.name
        || m.queries[0].query_type != question.query_type
        || m.queries[0].query_class != question.query_class
    {
        return Err(UpstreamError::Mismatch);
    }
    Ok(m)
}

/// The addresses an answer gives for the question's name.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Resolved {
    /// Distinct addresses, in answer order, at most the cap.
    pub addrs: Vec<IpAddr>,
    /// The smallest TTL over the records the addresses were reached through (the
    /// CNAMEs of the chain and the address records kept), in seconds.
    pub ttl: u32,
    /// Address records left out of the answer because of the cap.
    pub dropped: usize,
    /// Address records for names outside the chain, left out of the answer.
    pub foreign: usize,
}

/// The address an A or AAAA record holds.
pub fn record_addr(r: &Record) -> Option<IpAddr> {
    match &r.data {
        RData::A(a) => Some(IpAddr::V4(a.0)),
        RData::AAAA(a) => Some(IpAddr::V6(a.0)),
        _ => None,
    }
}

/// Follow the CNAME chain from `qname` in the answer section (at most
/// [`MAX_CHAIN`] links, in any order) and collect the A/AAAA records of names in
/// the chain, at most `max_addrs` distinct addresses. Address records beyond the
/// cap or for names outside the chain are removed from `answer`, so what the device
/// is told is exactly what the gateway can allow.
pub fn extract(qname: &Name, answer: &mut Message, max_addrs: usize) -> Resolved {
    if answer.response_code != ResponseCode::NoError {
        // No addresses from an error answer, and none told to the device.
        let before = answer.answers.len();
        answer.answers.retain(|r| record_addr(r).is_none());
        return Resolved {
            foreign: before - answer.answers.len(),
            ..Resolved::default()
        };
    }
    let mut chain: Vec<Name> = vec![qname.clone()];
    let mut ttl = u32::MAX;
    // RFC 2181 §10.1: a name with a CNAME has no other data; we only follow links
    // that start at a name already in the chain, so records for unrelated names
    // (cache poisoning attempts) never count.
    loop {
        let next = answer.answers.iter().find_map(|r| match &r.data {
            RData::CNAME(c) if chain.last() == Some(&r.name) && !chain.contains(&c.0) => {
                Some((c.0.clone(), r.ttl))
            }
            _ => None,
        });
        match next {
            Some((target, t)) if chain.len() <= MAX_CHAIN => {
                chain.push(target);
                ttl = ttl.min(t);
            }
            _ => break,
        }
    }
    let mut out = Resolved::default();
    let mut seen = HashSet::new();
    let mut addr_ttl = u32::MAX;
    answer.answers.retain(|r| {
        let Some(addr) = record_addr(r) else {
            return true;
        };
        if !chain.contains(&r.name) {
            out.foreign += 1;
            return false;
        }
        if seen.contains(&addr) {
            addr_ttl = addr_ttl.min(r.ttl);
            return true;
        }
        if out.addrs.len() >= max_addrs {
            out.dropped += 1;
            return false;
        }
        seen.insert(addr);
        out.addrs.push(addr);
        addr_ttl = addr_ttl.min(r.ttl);
        true
    });
    if out.addrs.is_empty() {
        return Resolved { ttl: 0, ..out };
    }
    out.ttl = ttl.min(addr_ttl);
    // The device must not keep the answer longer than the gateway keeps the
    // addresses: every record of the answer carries at most that TTL.
    for r in answer.answers.iter_mut() {
        r.ttl = r.ttl.min(out.ttl);
    }
    out
}

#[cfg(test)]
mod tests;
