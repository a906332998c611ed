//! A datagram to the NTP server: reading it never panics; a request that is
//! accepted is at least 48 bytes and a client request, and its header reads back
//! the same; the reply reads back as a server reply carrying the request's
//! transmit timestamp as origin.
#![no_main]

use lan::ntp::{HEADER_LEN, MODE_SERVER, Packet, ServerClock, Timestamp, check_request, reply};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(req) = check_request(data) else {
        return;
    };
    assert!(data.len() >= HEADER_LEN);
    assert_eq!(req.to_bytes()[..], data[..HEADER_LEN]);
    let r = reply(
        &req,
        &ServerClock::at_stratum(3),
        Timestamp(1),
        Timestamp(2),
    );
    let back = Packet::try_from(&r.to_bytes()[..]).expect("a reply reads back");
    assert_eq!(back.mode, MODE_SERVER);
    assert_eq!(back.version, req.version);
    assert_eq!(back.origin, req.transmit);
});
