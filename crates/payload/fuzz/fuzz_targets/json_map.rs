#![no_main]
//! Fuzz the json-map decoder two ways: the input as a vendor document under a fixed
//! mapping, and the input as a decoder declaration applied to a fixed document.
//! No input may panic; accepted input yields valid readings.

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;

include!("common.rs");

const MAPPING: &str = r#"{"kind":"json-map",
  "time":{"pointer":"/ts","unit":"ms"},
  "readings":[
    {"name":"temperature","pointer":"/sensors/0/t","unit":"Cel","scale":0.1,"offset":-40},
    {"name":"battery","pointer":"/bat","unit":"V","scale":0.001,"optional":true},
    {"name":"door","pointer":"/door","type":"bool","optional":true},
    {"name":"fw","pointer":"/info/fw~1ver","type":"string","optional":true},
    {"name":"huge","pointer":"/h","scale":1e300,"optional":true}
  ]}"#;

const DOCUMENT: &[u8] = br#"{"ts":1700000000500,"sensors":[{"t":215}],"bat":3012,"door":true,"info":{"fw/ver":"1.2"},"h":5}"#;

fn mapping() -> &'static payload::Decoder {
    static M: OnceLock<payload::Decoder> = OnceLock::new();
    M.get_or_init(|| serde_json::from_str(MAPPING).expect("the fixed mapping parses"))
}

fuzz_target!(|data: &[u8]| {
    check(
        mapping().decode_with(data, payload::Media::Json, 1.7e9, LIMITS),
        LIMITS,
    );
    if let Ok(decoder) = serde_json::from_slice::<payload::Decoder>(data) {
        let _ = decoder.validate();
        check(
            decoder.decode_with(DOCUMENT, payload::Media::Json, 1.7e9, LIMITS),
            LIMITS,
        );
    }
});
