#![no_main]
//! Fuzz the Cayenne LPP decoder: no input may panic; accepted input yields valid readings.

use libfuzzer_sys::fuzz_target;

include!("common.rs");

fuzz_target!(|data: &[u8]| {
    let result =
        payload::Decoder::CayenneLpp.decode_with(data, payload::Media::Octets, 1.7e9, LIMITS);
    check(result, LIMITS);
});
