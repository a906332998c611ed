//! A device's DHCP packet: reading it never panics; what is read is bounded, and
//! every reply built from it decodes as a BOOTREPLY to the same transaction.
#![no_main]

use lan::dhcp::v4::{self, Opcode};
use lan::dhcp::{MAX_HOSTNAME, MAX_MUD_URL, Params, ReplyKind, parse_request, reply_bytes};
use libfuzzer_sys::fuzz_target;
use std::net::Ipv4Addr;

fuzz_target!(|data: &[u8]| {
    let _ = lan::dhcp::raw_options(data);
    let Ok(req) = parse_request(data) else {
        return;
    };
    if let Some(h) = &req.hostname {
        assert!(!h.is_empty() && h.len() <= MAX_HOSTNAME);
    }
    if let Some(Ok(url)) = &req.mud_url {
        assert!(
            url.get(..8)
                .is_some_and(|p| p.eq_ignore_ascii_case("https://"))
                && url.len() <= MAX_MUD_URL
                && url.bytes().all(|b| b.is_ascii_graphic()),
            "{url}"
        );
    }
    let p = Params {
        server: Ipv4Addr::new(10, 0, 0, 1),
        mask: Ipv4Addr::new(255, 255, 255, 0),
        broadcast: Ipv4Addr::new(10, 0, 0, 255),
        router: Ipv4Addr::new(10, 0, 0, 1),
        dns: vec![Ipv4Addr::new(10, 0, 0, 1)],
        lease_secs: 3600,
    };
    for kind in [ReplyKind::Offer, ReplyKind::Ack, ReplyKind::Nak] {
        let bytes = reply_bytes(&req, kind, Ipv4Addr::new(10, 0, 0, 100), &p);
        let m =
            <v4::Message as lan::dhcp::Decodable>::from_bytes(&bytes).expect("our reply decodes");
        assert_eq!(m.opcode(), Opcode::BootReply);
        assert_eq!(m.xid(), req.xid);
    }
});
