//! Reading an arbitrary capture must never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mud::learn::{DeviceId, LearnOptions, learn};
use std::net::{IpAddr, Ipv4Addr};

fuzz_target!(|data: &[u8]| {
    let device = DeviceId::Ip(IpAddr::V4(Ipv4Addr::new(192, 168, 1, 50)));
    let opts = LearnOptions::new(device, "https://m.example/d.json", time::OffsetDateTime::UNIX_EPOCH);
    let _ = learn(data, &opts);
});
