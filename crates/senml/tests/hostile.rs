//! Hostile input: every malformed item of the CBOR working group's `bad.cbor`,
//! truncation, wrong types, deep nesting, huge claimed lengths, invalid UTF-8,
//! must-understand fields, two values in one record, bad names, bad base64, limits.
//! Every case must come back as an `Err` that says where, never as a panic.

use std::path::PathBuf;

use senml::{Error, Limits, Pack};

fn vectors() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/vectors")
}

/// The `encoded` byte strings of `cbor/bad.cbor`: a map whose `tests` entry is an
/// array of `{description, encoded}` maps (cbor-wg/cbor-test-vectors layout).
fn bad_cbor_items() -> Vec<(String, Vec<u8>)> {
    use ciborium::Value;
    let bytes = std::fs::read(vectors().join("cbor/bad.cbor")).expect("bad.cbor");
    let doc: Value = ciborium::de::from_reader(bytes.as_slice()).expect("bad.cbor is well-formed");
    let field = |v: &Value, name: &str| -> Option<Value> {
        v.as_map()?
            .iter()
            .find(|(k, _)| k.as_text() == Some(name))
            .map(|(_, v)| v.clone())
    };
    let tests = field(&doc, "tests").expect("tests");
    tests
        .as_array()
        .expect("tests is an array")
        .iter()
        .map(|t| {
            let d = field(t, "description")
                .and_then(|d| d.as_text().map(str::to_owned))
                .unwrap_or_default();
            let e = field(t, "encoded")
                .and_then(|e| e.as_bytes().cloned())
                .expect("encoded");
            (d, e)
        })
        .collect()
}

#[test]
fn every_bad_cbor_item_is_rejected_wherever_it_appears() {
    let items = bad_cbor_items();
    assert!(items.len() > 40, "found {} items", items.len());
    for (description, bad) in items {
        let places: [(&str, Vec<u8>); 4] = [
            ("alone", bad.clone()),
            // [bad]: in place of a record
            ("record", [&[0x81][..], &bad].concat()),
            // [{2: bad}]: as the value `v`
            ("value", [&[0x81, 0xa1, 0x02][..], &bad].concat()),
            // [{"x": bad}]: as an extension value (goes through the ignore path)
            ("extension", [&[0x81, 0xa1, 0x61, b'x'][..], &bad].concat()),
        ];
        for (place, input) in places {
            // The two "date: unexpected object ..." items are well-formed CBOR with a
            // tag whose content is of the wrong type. Inside an unknown field, RFC 8428
            // §4.4 says to ignore the value, so only well-formedness is checked there.
            if place == "extension" && description.starts_with("date:") {
                continue;
            }
            assert!(
                Pack::from_cbor(&input).is_err(),
                "accepted bad CBOR ({description}) as {place}: {input:02x?}"
            );
        }
    }
}

#[test]
fn truncated_input_is_rejected() {
    for name in ["senml/ex3.gen.cbor", "senml/ex5.gen.cbor"] {
        let full = std::fs::read(vectors().join(name)).unwrap();
        assert!(Pack::from_cbor(&full).is_ok());
        for n in 0..full.len() {
            assert!(Pack::from_cbor(&full[..n]).is_err(), "{name} cut at {n}");
        }
    }
    for name in ["senml/ex3.json", "senml/ex7.json"] {
        let full = std::fs::read(vectors().join(name)).unwrap();
        let end = full.iter().rposition(|&b| b == b']').unwrap();
        for n in 0..end {
            assert!(Pack::from_json(&full[..n]).is_err(), "{name} cut at {n}");
        }
    }
}

fn field_err(e: Error) -> (usize, &'static str) {
    match e {
        Error::Field { index, field, .. } => (index, field),
        other => panic!("expected a field error, got {other:?}"),
    }
}

#[test]
fn wrong_types_name_record_and_field() {
    let cases: &[(&str, usize, &str)] = &[
        (r#"[{"n":"a","v":"1"}]"#, 0, "v"),
        (r#"[{"n":"a","v":1},{"n":2,"v":1}]"#, 1, "n"),
        (r#"[{"n":"a","vb":1}]"#, 0, "vb"),
        (r#"[{"n":"a","v":1,"bver":"10"}]"#, 0, "bver"),
        (r#"[{"n":"a","v":1,"bver":1.5}]"#, 0, "bver"),
        (r#"[{"n":"a","v":1,"bver":-1}]"#, 0, "bver"),
        (r#"[{"n":"a","v":1,"t":true}]"#, 0, "t"),
        (r#"[{"n":"a","v":1,"u":null}]"#, 0, "u"),
        (r#"[{"n":"a","vd":5}]"#, 0, "vd"),
        (
            r#"[{"n":"a","v":1},{"n":"b","v":1},{"n":"c","s":[1]}]"#,
            2,
            "s",
        ),
    ];
    for (json, index, field) in cases {
        let e = Pack::from_json(json.as_bytes()).unwrap_err();
        let text = e.to_string();
        assert_eq!(field_err(e), (*index, *field), "{json}");
        assert!(text.contains(&format!("record {index}")), "{text}");
        assert!(text.contains(&format!("`{field}`")), "{text}");
    }
    // CBOR: [{0: "a", 2: "x"}]: a text string as `v`.
    let e = Pack::from_cbor(&[0x81, 0xa2, 0x00, 0x61, b'a', 0x02, 0x61, b'x']).unwrap_err();
    assert_eq!(field_err(e), (0, "v"));
    // CBOR: [{0: "a", 8: "aGk"}]: text instead of a byte string as `vd`.
    let e =
        Pack::from_cbor(&[0x81, 0xa2, 0x00, 0x61, b'a', 0x08, 0x63, b'a', b'G', b'k']).unwrap_err();
    assert_eq!(field_err(e), (0, "vd"));
    // Not an array, record not a map.
    assert!(matches!(Pack::from_json(b"{}"), Err(Error::Json(_))));
    assert!(matches!(
        Pack::from_json(b"[1]"),
        Err(Error::Record { index: 0, .. })
    ));
    assert!(matches!(Pack::from_cbor(&[0xa0]), Err(Error::Cbor(_))));
    // NaN as a value.
    let e = Pack::from_cbor(&[0x81, 0xa2, 0x00, 0x61, b'a', 0x02, 0xf9, 0x7e, 0x00]).unwrap_err();
    assert_eq!(field_err(e), (0, "v"));
}

#[test]
fn deep_nesting_is_rejected_without_overflowing_the_stack() {
    for depth in [20, 1_000, 200_000] {
        // CBOR: [[[[...]]]] and [{"x": [[[...]]]}]
        let mut deep = vec![0x81u8; depth];
        deep.push(0x80);
        assert!(Pack::from_cbor(&deep).is_err(), "cbor depth {depth}");
        let mut ext = vec![0x81, 0xa1, 0x61, b'x'];
        ext.extend(std::iter::repeat_n(0x81u8, depth));
        ext.push(0x80);
        assert!(Pack::from_cbor(&ext).is_err(), "cbor ext depth {depth}");
        // A tag bomb: [{2: 4(4(4(...)))}]
        let mut tags = vec![0x81, 0xa1, 0x02];
        tags.extend(std::iter::repeat_n(0xc4u8, depth));
        tags.push(0x00);
        assert!(Pack::from_cbor(&tags).is_err(), "cbor tag depth {depth}");
        // JSON: [{"x": [[[...]]]}]
        let json = format!(r#"[{{"x":{}{}}}]"#, "[".repeat(depth), "]".repeat(depth));
        assert!(
            Pack::from_json(json.as_bytes()).is_err(),
            "json depth {depth}"
        );
    }
    // Moderate nesting inside an ignored extension is fine and is dropped.
    let p = Pack::from_json(br#"[{"n":"a","v":1,"x":[[[1]]]}]"#).unwrap();
    assert!(p.records[0].extensions.is_empty());
}

#[test]
fn huge_claimed_lengths_fail_cleanly() {
    let cases: &[&[u8]] = &[
        // array claiming 2^64-1 records, then nothing
        &[0x9b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff],
        // array claiming 2^32-1 records, one present
        &[0x9a, 0xff, 0xff, 0xff, 0xff, 0xa1, 0x00, 0x61, b'a'],
        // [{0: text claiming 2^64-1 bytes}]
        &[
            0x81, 0xa1, 0x00, 0x7b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, b'a',
        ],
        // [{8: bytes claiming 2^32-1 bytes}]
        &[0x81, 0xa1, 0x08, 0x5a, 0xff, 0xff, 0xff, 0xff, 0x00],
        // [map claiming 2^64-1 entries]
        &[0x81, 0xbb, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff],
        // [{"x": array claiming 2^64-1 items}]
        &[
            0x81, 0xa1, 0x61, b'x', 0x9b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        ],
    ];
    for input in cases {
        assert!(Pack::from_cbor(input).is_err(), "{input:02x?}");
    }
}

#[test]
fn invalid_utf8_is_rejected() {
    // [{0: h'fffe' as text}]
    assert!(Pack::from_cbor(&[0x81, 0xa1, 0x00, 0x62, 0xff, 0xfe]).is_err());
    // indefinite-length text whose chunks are invalid
    assert!(Pack::from_cbor(&[0x81, 0xa1, 0x00, 0x7f, 0x61, 0xc3, 0xff, 0xff]).is_err());
    let mut json = br#"[{"n":"a"#.to_vec();
    json.extend([0xff, 0xfe]);
    json.extend(br#"","v":1}]"#);
    assert!(Pack::from_json(&json).is_err());
}

#[test]
fn unknown_must_understand_field_rejects_the_pack() {
    let e = Pack::from_json(br#"[{"n":"a","v":1},{"n":"b","v":2,"foo_":1}]"#).unwrap_err();
    assert_eq!(
        e,
        Error::MustUnderstand {
            index: 1,
            label: "foo_".into()
        }
    );
    assert!(e.to_string().contains("record 1"));
    // CBOR, with a text label: [{0: "a", "x_": 1}]
    let e = Pack::from_cbor(&[0x81, 0xa2, 0x00, 0x61, b'a', 0x62, b'x', b'_', 0x01]).unwrap_err();
    assert!(matches!(e, Error::MustUnderstand { index: 0, .. }), "{e:?}");
}

#[test]
fn two_values_in_one_record_are_rejected() {
    for json in [
        r#"[{"n":"a","v":1,"vs":"x"}]"#,
        r#"[{"n":"a","vb":true,"v":1}]"#,
        r#"[{"n":"a","vd":"aGk","vs":"x"}]"#,
    ] {
        let e = Pack::from_json(json.as_bytes()).unwrap_err();
        assert!(e.to_string().contains("exactly one of"), "{e}");
        assert_eq!(field_err(e).0, 0);
    }
    // The same field twice.
    let e = Pack::from_json(br#"[{"n":"a","v":1,"v":2}]"#).unwrap_err();
    assert_eq!(field_err(e), (0, "v"));
}

#[test]
fn bad_names_are_rejected_at_resolution() {
    let cases: &[(&str, &str)] = &[
        (r#"[{"n":"-a","v":1}]"#, "n"),
        (r#"[{"n":"a b","v":1}]"#, "n"),
        (r#"[{"n":"","v":1}]"#, "n"),
        (r#"[{"v":1}]"#, "bn"),
        (r#"[{"bn":"_x","v":1}]"#, "bn"),
        (r#"[{"bn":"x:","n":"é","v":1}]"#, "n"),
        (r#"[{"n":"a?b","v":1}]"#, "n"),
    ];
    for (json, field) in cases {
        let pack = Pack::from_json(json.as_bytes()).unwrap();
        let e = pack.resolve(0.0).unwrap_err();
        assert_eq!(field_err(e), (0, *field), "{json}");
    }
}

#[test]
fn bad_base64_is_rejected() {
    for vd in ["a+b/", "!!!!", "a", "aGk=x", "aGkg\nCg"] {
        let json = format!(r#"[{{"n":"a","vd":{vd:?}}}]"#);
        let e = Pack::from_json(json.as_bytes()).unwrap_err();
        assert_eq!(field_err(e), (0, "vd"), "{vd}");
    }
    // Unpadded (what RFC 8428 §5 says to send) and padded both decode.
    for vd in ["aGkgCg", "aGkgCg=="] {
        let json = format!(r#"[{{"n":"a","vd":{vd:?}}}]"#);
        assert!(Pack::from_json(json.as_bytes()).is_ok(), "{vd}");
    }
}

#[test]
fn limits_are_enforced() {
    let limits = Limits {
        max_records: 2,
        max_string_len: 8,
        max_data_len: 4,
        ..Limits::default()
    };
    let two = br#"[{"n":"a","v":1},{"n":"b","v":1}]"#;
    assert!(Pack::from_json_with(two, limits).is_ok());
    let three = br#"[{"n":"a","v":1},{"n":"b","v":1},{"n":"c","v":1}]"#;
    assert_eq!(
        Pack::from_json_with(three, limits).unwrap_err(),
        Error::TooManyRecords { limit: 2 }
    );
    let cbor = Pack::from_json(three).unwrap().to_cbor().unwrap();
    assert_eq!(
        Pack::from_cbor_with(&cbor, limits).unwrap_err(),
        Error::TooManyRecords { limit: 2 }
    );
    let long = br#"[{"n":"abcdefghi","v":1}]"#;
    assert_eq!(
        field_err(Pack::from_json_with(long, limits).unwrap_err()),
        (0, "n")
    );
    let data = br#"[{"n":"a","vd":"aGVsbG8"}]"#; // "hello": 5 bytes
    assert_eq!(
        field_err(Pack::from_json_with(data, limits).unwrap_err()),
        (0, "vd")
    );
    let cbor = Pack::from_json(data).unwrap().to_cbor().unwrap();
    assert_eq!(
        field_err(Pack::from_cbor_with(&cbor, limits).unwrap_err()),
        (0, "vd")
    );
}

#[test]
fn trailing_data_is_rejected() {
    assert!(Pack::from_json(br#"[{"n":"a","v":1}] x"#).is_err());
    let mut cbor = Pack::from_json(br#"[{"n":"a","v":1}]"#)
        .unwrap()
        .to_cbor()
        .unwrap();
    cbor.push(0x00);
    assert!(matches!(Pack::from_cbor(&cbor), Err(Error::Cbor(_))));
}

#[test]
fn text_labels_for_registered_fields_are_rejected_in_cbor() {
    // [{"n": "a", 2: 1}]: RFC 8428 §6 wants the integer 0 for `n`.
    let e = Pack::from_cbor(&[0x81, 0xa2, 0x61, b'n', 0x61, b'a', 0x02, 0x01]).unwrap_err();
    assert!(e.to_string().contains("CBOR integer 0"), "{e}");
}

#[test]
fn newer_version_is_rejected() {
    let p = Pack::from_json(br#"[{"bver":11,"n":"a","v":1}]"#).unwrap();
    assert_eq!(field_err(p.resolve(0.0).unwrap_err()), (0, "bver"));
    let p = Pack::from_json(br#"[{"bver":10,"n":"a","v":1}]"#).unwrap();
    assert!(p.resolve(0.0).is_ok());
}

#[test]
fn record_without_value_or_sum_is_rejected() {
    let p = Pack::from_json(br#"[{"n":"a","v":1},{"n":"b","u":"V"}]"#).unwrap();
    assert_eq!(field_err(p.resolve(0.0).unwrap_err()), (1, "v"));
}

#[test]
fn large_packs_stream_up_to_the_record_limit() {
    let limits = Limits {
        max_records: 20_000,
        ..Limits::default()
    };
    let max = limits.max_records;
    let mut json = String::from(r#"[{"bn":"urn:dev:big:","bt":1.6e9,"n":"r","v":0}"#);
    for i in 1..max {
        json.push_str(&format!(r#",{{"n":"r","t":{i},"v":{i}}}"#));
    }
    json.push(']');
    let pack = Pack::from_json_with(json.as_bytes(), limits).unwrap();
    assert_eq!(pack.records.len(), max);
    let cbor = pack.to_cbor().unwrap();
    assert_eq!(Pack::from_cbor_with(&cbor, limits).unwrap(), pack);
    let resolved = pack.resolve(0.0).unwrap();
    assert_eq!(resolved[max - 1].time, 1.6e9 + (max - 1) as f64);
    // One more record is one too many, in both formats.
    json.pop();
    json.push_str(r#",{"n":"r","v":1}]"#);
    assert_eq!(
        Pack::from_json_with(json.as_bytes(), limits).unwrap_err(),
        Error::TooManyRecords { limit: max }
    );
    let mut more = pack;
    more.records.push(more.records[1].clone());
    assert_eq!(
        Pack::from_cbor_with(&more.to_cbor().unwrap(), limits).unwrap_err(),
        Error::TooManyRecords { limit: max }
    );
}
