#![no_main]
//! Fuzz the CBOR decoder: no input may panic, and every accepted pack round-trips.

use libfuzzer_sys::fuzz_target;

include!("common.rs");

fuzz_target!(|data: &[u8]| {
    if let Ok(pack) = senml::Pack::from_cbor(data) {
        check(pack);
    }
});
