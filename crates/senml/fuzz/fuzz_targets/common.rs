// Shared by both targets (included with `include!`, as cargo-fuzz targets are
// separate binaries): whatever decodes must resolve or fail cleanly, and must
// survive re-encoding in both formats unchanged.

fn check(pack: senml::Pack) {
    // Resolution may fail (bad names, newer bver, ...) but must not panic.
    let _ = pack.resolve(1.498780179e9);
    let json = pack.to_json().expect("a decoded pack encodes as JSON");
    let again = senml::Pack::from_json(&json).expect("our JSON decodes");
    assert_eq!(again, pack, "JSON round trip");
    let cbor = pack.to_cbor().expect("a decoded pack encodes as CBOR");
    let again = senml::Pack::from_cbor(&cbor).expect("our CBOR decodes");
    assert_eq!(again, pack, "CBOR round trip");
}
