#![no_main]
//! Fuzz the JSON decoder: no input may panic, and every accepted pack round-trips.

use libfuzzer_sys::fuzz_target;

include!("common.rs");

fuzz_target!(|data: &[u8]| {
    if let Ok(pack) = senml::Pack::from_json(data) {
        check(pack);
    }
});
