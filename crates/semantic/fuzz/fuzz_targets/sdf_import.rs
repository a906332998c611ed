//! An SDF document, as `steward model import-sdf` reads it: importing, making
//! the Thing Model of what was imported, and checking that model never panic.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use semantic::{ModelInfo, SdfImporter, WotValidator, thing_model};

struct Tools {
    importer: SdfImporter,
    validator: WotValidator,
}

fn tools() -> &'static Tools {
    static TOOLS: OnceLock<Tools> = OnceLock::new();
    TOOLS.get_or_init(|| Tools {
        importer: SdfImporter::new().expect("the shipped SDF schema compiles"),
        validator: WotValidator::new().expect("the shipped WoT schemas compile"),
    })
}

fuzz_target!(|data: &[u8]| {
    let t = tools();
    let Ok(imported) = t.importer.import(data, "fuzz.sdf.json") else {
        return;
    };
    let model = ModelInfo {
        name: &imported.name,
        manufacturer: &imported.manufacturer,
    };
    if let Ok(tm) = thing_model(model, &imported.spec) {
        let _ = t.validator.check_tm(&tm, "fuzz TM");
    }
});
