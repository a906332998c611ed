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

#[test]
fn base_fields_apply_to_following_records() {
    let p = Pack::from_json(
        br#"[{"bn":"dev:","bt":1.6e9,"bu":"W","bv":100,"bs":10,"n":"a","v":1,"s":2},
             {"n":"b","t":5,"v":2,"u":"kW"},
             {"n":"c","vs":"on"},
             {"bn":"x:","bt":-10,"n":"d","vb":true}]"#,
    )
    .unwrap();
    let r = p.resolve(NOW).unwrap();
    assert_eq!(r.len(), 4);
    assert_eq!(r[0].name, "dev:a");
    assert_eq!(r[0].value, Some(Value::Number(101.0)));
    assert_eq!(r[0].sum, Some(12.0));
    assert_eq!(r[0].time, 1.6e9);
    assert_eq!(r[1].time, 1.6e9 + 5.0);
    assert_eq!(r[1].unit.as_deref(), Some("kW"));
    assert_eq!(r[1].unit_status, UnitStatus::Secondary);
    assert_eq!(
        r[1].sum,
        Some(10.0),
        "base sum alone counts (RFC 8428 §4.5.4)"
    );
    // Base value applies to numbers only.
    assert_eq!(r[2].value, Some(Value::String("on".into())));
    assert_eq!(r[2].unit.as_deref(), Some("W"));
    // bt -10 is relative: now - 10.
    assert_eq!(r[3].name, "x:d");
    assert_eq!(r[3].time, NOW - 10.0);
}

#[test]
fn base_only_records_yield_no_reading() {
    let p =
        Pack::from_json(br#"[{"bn":"a:"},{"n":"b","v":1},{"bt":1.6e9},{"n":"c","v":2}]"#).unwrap();
    let r = p.resolve(NOW).unwrap();
    assert_eq!(r.len(), 2);
    assert_eq!(r[1].name, "a:c");
    assert_eq!(r[1].time, 1.6e9);
}

#[test]
fn sum_only_record_is_a_reading() {
    let r = Pack::from_json(br#"[{"n":"meter","u":"J","s":1234.5}]"#)
        .unwrap()
        .resolve(NOW)
        .unwrap();
    assert_eq!(r[0].value, None);
    assert_eq!(r[0].sum, Some(1234.5));
}

#[test]
fn relative_time_boundary_is_2_pow_28() {
    let p = Pack::from_json(br#"[{"n":"a","v":1,"t":268435455},{"n":"a","v":1,"t":268435456}]"#)
        .unwrap();
    let r = p.resolve(NOW).unwrap();
    assert_eq!(r[0].time, NOW + 268_435_455.0);
    assert_eq!(r[1].time, 268_435_456.0);
}

#[test]
fn negative_update_time_is_rejected() {
    let p = Pack::from_json(br#"[{"n":"a","v":1,"ut":-1}]"#).unwrap();
    assert!(matches!(
        p.resolve(NOW),
        Err(Error::Field {
            index: 0,
            field: "ut",
            ..
        })
    ));
}

#[test]
fn data_values_round_trip_in_both_formats() {
    let p = Pack::from_json(br#"[{"n":"a","vd":"AAEC_-8"}]"#).unwrap();
    assert_eq!(
        p.records[0].value,
        Some(Value::Data(vec![0x00, 0x01, 0x02, 0xff, 0xef]))
    );
    let json = String::from_utf8(p.to_json().unwrap()).unwrap();
    assert_eq!(json, r#"[{"n":"a","vd":"AAEC_-8"}]"#);
    let cbor = p.to_cbor().unwrap();
    // [{0: "a", 8: h'000102ffef'}]
    assert_eq!(
        cbor,
        [
            0x81, 0xa2, 0x00, 0x61, b'a', 0x08, 0x45, 0x00, 0x01, 0x02, 0xff, 0xef
        ]
    );
    assert_eq!(Pack::from_cbor(&cbor).unwrap(), p);
}

#[test]
fn cbor_numbers_may_be_decimal_fractions_and_bignums() {
    // [{0: "a", 2: 4([-2, 2731]), 6: 2(h'0100')}]: v = 27.31, t = 256
    let bytes = [
        0x81, 0xa3, 0x00, 0x61, b'a', 0x02, 0xc4, 0x82, 0x21, 0x19, 0x0a, 0xab, 0x06, 0xc2, 0x42,
        0x01, 0x00,
    ];
    let p = Pack::from_cbor(&bytes).unwrap();
    assert_eq!(p.records[0].value, Some(Value::Number(27.31)));
    assert_eq!(p.records[0].time, Some(256.0));
    // Any other tag on a number is refused: [{0: "a", 2: 1(5)}]
    let e = Pack::from_cbor(&[0x81, 0xa2, 0x00, 0x61, b'a', 0x02, 0xc1, 0x05]).unwrap_err();
    assert!(e.to_string().contains("CBOR tag 1"), "{e}");
    // And a tag on a string: [{0: 32("a"), 2: 1}]
    let e = Pack::from_cbor(&[0x81, 0xa2, 0x00, 0xd8, 0x20, 0x61, b'a', 0x02, 0x01]).unwrap_err();
    assert!(e.to_string().contains("unexpected CBOR tag 32"), "{e}");
}

#[test]
fn unknown_fields_are_ignored_scalars_kept() {
    let p =
        Pack::from_json(br#"[{"n":"a","v":1,"l":"x","q":2,"z":{"deep":[1]},"w":null}]"#).unwrap();
    let ext = &p.records[0].extensions;
    assert_eq!(ext.len(), 2);
    assert_eq!(ext["l"], Extension::String("x".into()));
    assert_eq!(ext["q"], Extension::Number(2.0));
    // CBOR: unknown integer labels are ignored (RFC 8428 §6 table is conclusive):
    // [{0: "a", 2: 1, 42: [1]}]
    let p = Pack::from_cbor(&[
        0x81, 0xa3, 0x00, 0x61, b'a', 0x02, 0x01, 0x18, 0x2a, 0x81, 0x01,
    ])
    .unwrap();
    assert!(p.records[0].extensions.is_empty());
    assert_eq!(p.records[0].value, Some(Value::Number(1.0)));
}

#[test]
fn secondary_units_convert_to_primary() {
    let r = Pack::from_json(
        br#"[{"n":"p","u":"kWh","v":2,"s":1},{"n":"q","u":"dBm","v":10},{"n":"r","u":"dBm","v":1,"s":1},{"n":"s","u":"furlong","v":1}]"#,
    )
    .unwrap()
    .resolve(NOW)
    .unwrap();
    let p = r[0].to_primary_unit().unwrap();
    assert_eq!(p.unit.as_deref(), Some("J"));
    assert_eq!(p.value, Some(Value::Number(7_200_000.0)));
    assert_eq!(p.sum, Some(3_600_000.0));
    let q = r[1].to_primary_unit().unwrap();
    assert_eq!(q.unit.as_deref(), Some("dBW"));
    assert_eq!(q.value, Some(Value::Number(-20.0)));
    assert_eq!(r[2].to_primary_unit(), None, "a sum cannot take an offset");
    assert_eq!(r[3].unit_status, UnitStatus::Unknown);
    assert_eq!(
        r[3].unit.as_deref(),
        Some("furlong"),
        "unknown units are kept"
    );
    assert_eq!(r[3].to_primary_unit(), None);
}

#[test]
fn resolver_streams_one_record_at_a_time() {
    let p = Pack::from_json(br#"[{"bn":"a:","n":"x","v":1},{"n":"y","v":2}]"#).unwrap();
    let mut resolver = Resolver::new(NOW);
    let names: Vec<String> = p
        .records
        .iter()
        .enumerate()
        .filter_map(|(i, r)| resolver.push(i, r).unwrap())
        .map(|r| r.name)
        .collect();
    assert_eq!(names, ["a:x", "a:y"]);
}

#[test]
fn integers_encode_as_integers() {
    let p = Pack::from_json(br#"[{"n":"a","v":1,"t":-5,"bver":10},{"n":"b","v":0.5}]"#).unwrap();
    assert_eq!(
        String::from_utf8(p.to_json().unwrap()).unwrap(),
        r#"[{"bver":10,"n":"a","v":1,"t":-5},{"n":"b","v":0.5}]"#
    );
}

#[test]
fn empty_pack_is_valid() {
    assert_eq!(Pack::from_json(b"[]").unwrap().records.len(), 0);
    assert_eq!(Pack::from_cbor(&[0x80]).unwrap().records.len(), 0);
    // Indefinite-length array (SensML streaming form, RFC 8428 §4.8).
    assert_eq!(
        Pack::from_cbor(&[0x9f, 0xa2, 0x00, 0x61, b'a', 0x02, 0x01, 0xff])
            .unwrap()
            .records
            .len(),
        1
    );
}

#[test]
fn json_numbers_are_correctly_rounded() {
    // Found by the CBOR fuzzer: without serde_json's float_roundtrip this decoded
    // one ulp off, so a CBOR pack did not survive a trip through JSON.
    for text in [
        "-9.36768707194e17",
        "1.276020076001e9",
        "0.1",
        "5e-324",
        "1.7976931348623157e308",
    ] {
        let json = format!(r#"[{{"n":"a","v":{text}}}]"#);
        let p = Pack::from_json(json.as_bytes()).unwrap();
        let want: f64 = text.parse().unwrap();
        assert_eq!(p.records[0].value, Some(Value::Number(want)), "{text}");
        assert_eq!(Pack::from_json(&p.to_json().unwrap()).unwrap(), p, "{text}");
    }
}

#[test]
fn fuzz_regression_cbor_integer_through_json() {
    // crash-984bb0ad: [{"nn\x05\0\0\0\0\0\0\0\tn\tn": -936768707193999999}]
    let bytes = [
        0x81, 0xa1, 0x6e, 0x6e, 0x6e, 0x05, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x09, 0x6e,
        0x09, 0x6e, 0x3b, 0x0d, 0x00, 0x12, 0x2d, 0x0d, 0x00, 0x12, 0x2d,
    ];
    let p = Pack::from_cbor(&bytes).unwrap();
    assert_eq!(Pack::from_json(&p.to_json().unwrap()).unwrap(), p);
    assert_eq!(Pack::from_cbor(&p.to_cbor().unwrap()).unwrap(), p);
}
