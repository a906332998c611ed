//! Unit tests of decoding, resolution and encoding on small hand-written packs.

use super::*;

const NOW: f64 = 1.5e9;

#[test]
fn json_basic_record() {
    let p = Pack::from_json(br#"[{"n":"urn:dev:x","v":1.5,"u":"Cel"}]"#).unwrap();
    assert_eq!(p.records.len(), 1);
    assert_eq!(p.records[0].value, Some(Value::Number(1.5)));
    let r = p.resolve(NOW).unwrap();
    assert_eq!(r[0].name, "urn:dev:x");
    assert_eq!(r[0].time, NOW);
    assert_eq!(r[0].unit_status, UnitStatus::Registered);
}
