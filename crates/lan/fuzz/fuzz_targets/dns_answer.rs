//! An upstream's answer: extracting its addresses never panics, keeps at most the
//! cap, and leaves in the answer exactly the address records kept, none with a
//! TTL above the one reported; the device's answer fits its UDP size.
#![no_main]

use lan::dns::{ClientQuery, Message, Name, Query, RecordType, extract};
use libfuzzer_sys::fuzz_target;
use std::collections::HashSet;
use std::net::IpAddr;

const CAP: usize = 8;

fuzz_target!(|data: &[u8]| {
    let Ok(mut m) = Message::from_vec(data) else {
        return;
    };
    let question = m
        .queries
        .first()
        .cloned()
        .unwrap_or_else(|| Query::query(Name::root(), RecordType::A));
    let r = extract(&question.name, &mut m, CAP);
    assert!(r.addrs.len() <= CAP);
    let distinct: HashSet<IpAddr> = r.addrs.iter().copied().collect();
    assert_eq!(distinct.len(), r.addrs.len(), "addresses are distinct");
    for rec in &m.answers {
        if let Some(ip) = lan::dns::record_addr(rec) {
            assert!(
                distinct.contains(&ip),
                "the answer holds only kept addresses"
            );
            assert!(rec.ttl <= r.ttl, "no record outlives the reported TTL");
        }
    }
    let q = ClientQuery {
        id: 1,
        question,
        recursion_desired: true,
        edns: false,
        dnssec_ok: false,
        udp_payload: 512,
    };
    let (bytes, _) = q.response_bytes(&m, Some(512));
    assert!(bytes.len() <= 512, "{} bytes over UDP", bytes.len());
});
