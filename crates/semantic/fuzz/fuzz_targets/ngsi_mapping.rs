//! An NGSI-LD mapping declaration, as `steward model add --ngsi` reads it:
//! parsing and checking never panic.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use semantic::{Exporter, Mapping};

fn exporter() -> &'static Exporter {
    static EXPORTER: OnceLock<Exporter> = OnceLock::new();
    EXPORTER.get_or_init(|| Exporter::new().expect("the shipped Smart Data Models schemas compile"))
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(mapping) = Mapping::parse(text) {
        let _ = exporter().check_mapping(&mapping);
    }
});
