#![no_main]
//! Fuzz the LwM2M decoder (JSON and CBOR): no input may panic.

use libfuzzer_sys::fuzz_target;

include!("common.rs");

fuzz_target!(|data: &[u8]| {
    let d = payload::Decoder::Lwm2m;
    check(
        d.decode_with(data, payload::Media::SenmlJson, 1.7e9, LIMITS),
        LIMITS,
    );
    check(
        d.decode_with(data, payload::Media::SenmlCbor, 1.7e9, LIMITS),
        LIMITS,
    );
});
