//! Black-box tests of every decoder: good input, hostile input, public examples.

use payload::{DecodeError, Decoder, Limits, Media, lwm2m};
use senml::{Extension, Resolved, UnitStatus, Value};

const NOW: f64 = 1.7e9;

fn num(r: &Resolved) -> f64 {
    match r.value {
        Some(Value::Number(x)) => x,
        ref other => panic!("{}: not a number: {other:?}", r.name),
    }
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-9 * b.abs().max(1.0)
}

fn hex(s: &str) -> Vec<u8> {
    s.split_whitespace()
        .map(|b| u8::from_str_radix(b, 16).unwrap())
        .collect()
}

fn lpp(bytes: &str) -> Result<Vec<Resolved>, DecodeError> {
    Decoder::CayenneLpp.decode(&hex(bytes), Media::Octets, NOW)
}

// ---------------------------------------------------------------- declarations

#[test]
fn declarations_from_json_and_toml() {
    let d: Decoder = serde_json::from_str(r#"{"kind":"senml"}"#).unwrap();
    assert_eq!(d, Decoder::Senml);
    assert_eq!(Decoder::default(), Decoder::Senml);
    let d: Decoder = serde_json::from_str(r#"{"kind":"lwm2m"}"#).unwrap();
    assert_eq!(d, Decoder::Lwm2m);
    let d: Decoder = serde_json::from_str(r#"{"kind":"cayenne-lpp"}"#).unwrap();
    assert_eq!(d, Decoder::CayenneLpp);
    let d: Decoder = toml::from_str(
        r#"
kind = "json-map"
time = { pointer = "/ts", unit = "ms" }
readings = [
  { name = "temperature", pointer = "/sensors/t", unit = "Cel", scale = 0.1 },
  { name = "door", pointer = "/door", type = "bool" },
]
"#,
    )
    .unwrap();
    let Decoder::JsonMap(map) = &d else {
        panic!("{d:?}")
    };
    assert_eq!(map.readings.len(), 2);
    assert_eq!(map.readings[0].scale, 0.1);
    assert_eq!(map.readings[1].kind, payload::FieldType::Bool);
    d.validate().unwrap();
    // Round trip through JSON.
    let again: Decoder = serde_json::from_str(&serde_json::to_string(&d).unwrap()).unwrap();
    assert_eq!(again, d);
    // Typos are refused, not ignored.
    assert!(
        serde_json::from_str::<Decoder>(r#"{"kind":"json-map","readings":[],"tme":{}}"#).is_err()
    );
    assert!(serde_json::from_str::<Decoder>(r#"{"kind":"lora"}"#).is_err());
}

// ---------------------------------------------------------------- senml

#[test]
fn senml_json_and_cbor() {
    let json = br#"[{"bn":"urn:dev:ow:10e2073a01080063:","n":"temp","u":"Cel","v":23.1,"t":-5}]"#;
    let r = Decoder::Senml.decode(json, Media::SenmlJson, NOW).unwrap();
    assert_eq!(r.len(), 1);
    assert_eq!(r[0].name, "urn:dev:ow:10e2073a01080063:temp");
    assert_eq!(r[0].time, NOW - 5.0);
    let cbor = senml::Pack::from_json(json).unwrap().to_cbor().unwrap();
    assert_eq!(
        Decoder::Senml.decode(&cbor, Media::SenmlCbor, NOW).unwrap(),
        r
    );
    // Unspecified media: sniffed.
    assert_eq!(
        Decoder::Senml
            .decode(&cbor, Media::Unspecified, NOW)
            .unwrap(),
        r
    );
    assert_eq!(
        Decoder::Senml
            .decode(json, Media::Unspecified, NOW)
            .unwrap(),
        r
    );
}

#[test]
fn senml_vectors_decode() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/vectors/senml");
    let mut n = 0;
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        let name = p.file_name().unwrap().to_string_lossy().into_owned();
        if name.starts_with("ex") && name.ends_with(".json") && !name.contains(".gen.") {
            let bytes = std::fs::read(&p).unwrap();
            let direct = senml::Pack::from_json(&bytes).and_then(|p| p.resolve(1.498780179e9));
            let ours = Decoder::Senml.decode(&bytes, Media::SenmlJson, 1.498780179e9);
            match direct {
                Ok(d) => assert_eq!(ours.unwrap(), d, "{name}"),
                Err(e) => assert_eq!(ours.unwrap_err(), DecodeError::Senml(e), "{name}"),
            }
            n += 1;
        }
    }
    assert!(n > 5, "only {n} SenML vectors found");
}

#[test]
fn senml_hostile() {
    let e = Decoder::Senml
        .decode(
            br#"[{"n":"a","v":1},{"n":"b","v":"x"}]"#,
            Media::SenmlJson,
            NOW,
        )
        .unwrap_err();
    assert!(e.to_string().contains("record 1"), "{e}");
    let e = Decoder::Senml
        .decode(b"[{", Media::SenmlJson, NOW)
        .unwrap_err();
    assert!(matches!(e, DecodeError::Senml(_)), "{e}");
    let bad_cbor = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/vectors/cbor/bad.cbor"
    ))
    .unwrap();
    assert!(
        Decoder::Senml
            .decode(&bad_cbor, Media::SenmlCbor, NOW)
            .is_err()
    );
    assert!(matches!(
        Decoder::Senml.decode(b"[]", Media::Octets, NOW),
        Err(DecodeError::WrongMedia { .. })
    ));
    // Bounds.
    let limits = Limits {
        max_payload: 10,
        max_readings: 2,
    };
    assert!(matches!(
        Decoder::Senml.decode_with(&[b' '; 11], Media::SenmlJson, NOW, limits),
        Err(DecodeError::TooLarge {
            size: 11,
            limit: 10
        })
    ));
    let limits = Limits {
        max_payload: 1000,
        max_readings: 2,
    };
    let three = br#"[{"n":"a","v":1},{"n":"b","v":1},{"n":"c","v":1}]"#;
    assert!(matches!(
        Decoder::Senml.decode_with(three, Media::SenmlJson, NOW, limits),
        Err(DecodeError::TooManyReadings { limit: 2 })
    ));
    let many = format!("[{}]", vec![r#"{"n":"a","v":1}"#; 20].join(","));
    assert!(matches!(
        Decoder::Senml.decode_with(many.as_bytes(), Media::SenmlJson, NOW, limits),
        Err(DecodeError::TooManyReadings { limit: 2 })
    ));
    assert!(matches!(
        Decoder::Senml.decode(b"[]", Media::SenmlJson, f64::NAN),
        Err(DecodeError::Clock(_))
    ));
}

// ---------------------------------------------------------------- cayenne lpp

#[test]
fn lpp_documentation_examples() {
    // Cayenne docs: two temperature sensors.
    let r = lpp("03 67 01 10 05 67 00 FF").unwrap();
    assert_eq!(r.len(), 2);
    assert_eq!((r[0].name.as_str(), num(&r[0])), ("temperature_3", 27.2));
    assert_eq!((r[1].name.as_str(), num(&r[1])), ("temperature_5", 25.5));
    for x in &r {
        assert_eq!(x.unit.as_deref(), Some("Cel"));
        assert_eq!(x.unit_status, UnitStatus::Registered);
        assert_eq!(x.time, NOW);
    }
    // Negative temperature.
    let r = lpp("01 67 FF D7").unwrap();
    assert_eq!((r[0].name.as_str(), num(&r[0])), ("temperature_1", -4.1));
    // Accelerometer: x 1.234 G, y -1.234 G, z 0 G, in m/s2.
    let r = lpp("06 71 04 D2 FB 2E 00 00").unwrap();
    let names: Vec<_> = r.iter().map(|x| x.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "accelerometer_6/x",
            "accelerometer_6/y",
            "accelerometer_6/z"
        ]
    );
    assert!(close(num(&r[0]), 1.234 * 9.80665));
    assert!(close(num(&r[1]), -1.234 * 9.80665));
    assert_eq!(num(&r[2]), 0.0);
    assert!(
        r.iter()
            .all(|x| x.unit.as_deref() == Some("m/s2") && x.unit_status == UnitStatus::Registered)
    );
    // GPS: channel 1, lat 42.3519, lon -87.9094, alt 10 m.
    let r = lpp("01 88 06 76 5f f2 96 0a 00 03 e8").unwrap();
    assert_eq!(r[0].name, "gps_1/lat");
    assert!(close(num(&r[0]), 42.3519));
    assert!(close(num(&r[1]), -87.9094));
    assert!(close(num(&r[2]), 10.0));
    assert_eq!(r[0].unit.as_deref(), Some("lat"));
    assert_eq!(r[1].unit.as_deref(), Some("lon"));
    assert_eq!(r[2].unit.as_deref(), Some("m"));
}

#[test]
fn lpp_every_type() {
    let r = lpp(
        "01 00 01  02 01 00  03 02 FF 38  04 03 01 F4  05 65 01 2C  06 66 01  07 68 61  \
         08 73 27 7F  09 86 00 64 FF 9C 00 00",
    )
    .unwrap();
    let got: Vec<(&str, f64, Option<&str>)> = r
        .iter()
        .map(|x| (x.name.as_str(), num(x), x.unit.as_deref()))
        .collect();
    assert_eq!(
        got,
        [
            ("digital_input_1", 1.0, None),
            ("digital_output_2", 0.0, None),
            ("analog_input_3", -2.0, None),
            ("analog_output_4", 5.0, None),
            ("illuminance_5", 300.0, Some("lx")),
            ("presence_6", 1.0, None),
            ("humidity_7", 48.5, Some("%RH")),
            ("barometer_8", 101_110.0, Some("Pa")),
            ("gyrometer_9/x", 1.0, Some("deg/s")),
            ("gyrometer_9/y", -1.0, Some("deg/s")),
            ("gyrometer_9/z", 0.0, Some("deg/s")),
        ]
    );
    // SenML has no angular velocity unit: kept, flagged.
    assert_eq!(r[8].unit_status, UnitStatus::Unknown);
    assert_eq!(payload::lpp::known_types().count(), 12);
}

#[test]
fn lpp_hostile() {
    let cases: &[(&str, &str, usize, &str)] = &[
        ("empty", "", 0, "empty"),
        ("channel only", "03", 0, "no type byte"),
        (
            "truncated value",
            "03 67 01",
            0,
            "needs 2 data bytes, 1 left",
        ),
        (
            "truncated second item",
            "03 67 01 10 05 67 00",
            4,
            "truncated",
        ),
        (
            "truncated gps",
            "01 88 06 76 5f f2 96 0a 00 03",
            0,
            "needs 9",
        ),
        (
            "unknown type",
            "03 67 01 10 04 FE 00",
            5,
            "unknown data type 254",
        ),
    ];
    for (what, bytes, offset, text) in cases {
        match lpp(bytes) {
            Err(DecodeError::Lpp { offset: o, reason }) => {
                assert_eq!(o, *offset, "{what}: {reason}");
                assert!(reason.contains(text), "{what}: {reason}");
            }
            other => panic!("{what}: {other:?}"),
        }
    }
    assert!(matches!(
        Decoder::CayenneLpp.decode(&hex("03 67 01 10"), Media::Json, NOW),
        Err(DecodeError::WrongMedia { .. })
    ));
    let limits = Limits {
        max_payload: 100,
        max_readings: 2,
    };
    assert!(matches!(
        Decoder::CayenneLpp.decode_with(
            &hex("06 71 04 D2 FB 2E 00 00"),
            Media::Octets,
            NOW,
            limits
        ),
        Err(DecodeError::TooManyReadings { limit: 2 })
    ));
}

// ---------------------------------------------------------------- json-map

fn map(json: &str) -> Decoder {
    serde_json::from_str(json).unwrap()
}

fn vendor() -> Decoder {
    map(r#"{"kind":"json-map",
            "time":{"pointer":"/ts","unit":"ms"},
            "readings":[
              {"name":"temperature","pointer":"/sensors/0/t","unit":"Cel","scale":0.1},
              {"name":"temp_f","pointer":"/sensors/0/t","unit":"Cel","scale":0.5555555555555556,"offset":-17.77777777777778},
              {"name":"battery","pointer":"/bat","unit":"V","scale":0.001,"optional":true},
              {"name":"door","pointer":"/door","type":"bool"},
              {"name":"fw","pointer":"/info/fw~1ver","type":"string"}
            ]}"#)
}

#[test]
fn json_map_good() {
    let doc = br#"{"ts":1700000000500,"sensors":[{"t":215}],"door":true,"info":{"fw/ver":"1.2"}}"#;
    let r = vendor().decode(doc, Media::Json, NOW).unwrap();
    let names: Vec<_> = r.iter().map(|x| x.name.as_str()).collect();
    assert_eq!(names, ["temperature", "temp_f", "door", "fw"]); // battery absent, optional
    assert!(close(num(&r[0]), 21.5));
    assert!(close(num(&r[1]), (215.0 - 32.0) * 5.0 / 9.0));
    assert_eq!(r[2].value, Some(Value::Bool(true)));
    assert_eq!(r[3].value, Some(Value::String("1.2".into())));
    assert!(r.iter().all(|x| x.time == 1_700_000_000.5));
    assert_eq!(r[0].unit_status, UnitStatus::Registered);
    // With the battery, and without a time field: now.
    let d = map(
        r#"{"kind":"json-map","readings":[{"name":"battery","pointer":"/bat","unit":"V","scale":0.001}]}"#,
    );
    let r = d
        .decode(br#"{"bat":3012}"#, Media::Unspecified, NOW)
        .unwrap();
    assert!(close(num(&r[0]), 3.012));
    assert_eq!(r[0].time, NOW);
}

#[test]
fn json_map_hostile_documents() {
    let ok = r#"{"ts":1700000000500,"sensors":[{"t":215}],"door":true,"info":{"fw/ver":"1.2"}}"#;
    let cases: &[(&str, &str, &str, &str)] = &[
        (
            "wrong type: string for number",
            r#"{"ts":1,"sensors":[{"t":"215"}],"door":true,"info":{"fw/ver":"1"}}"#,
            "/sensors/0/t",
            "expected a number, found a string",
        ),
        (
            "wrong type: object for bool",
            r#"{"ts":1,"sensors":[{"t":1}],"door":{},"info":{"fw/ver":"1"}}"#,
            "/door",
            "found an object",
        ),
        (
            "missing pointer",
            r#"{"ts":1,"sensors":[],"door":true,"info":{"fw/ver":"1"}}"#,
            "/sensors/0/t",
            "no value",
        ),
        (
            "null is missing",
            r#"{"ts":1,"sensors":[{"t":null}],"door":true,"info":{"fw/ver":"1"}}"#,
            "/sensors/0/t",
            "no value",
        ),
        (
            "missing time",
            r#"{"sensors":[{"t":1}],"door":true,"info":{"fw/ver":"1"}}"#,
            "/ts",
            "missing",
        ),
        (
            "time as string",
            r#"{"ts":"now","sensors":[{"t":1}],"door":true,"info":{"fw/ver":"1"}}"#,
            "/ts",
            "must be a number",
        ),
        (
            "negative time",
            r#"{"ts":-5,"sensors":[{"t":1}],"door":true,"info":{"fw/ver":"1"}}"#,
            "/ts",
            "not a time",
        ),
    ];
    let d = vendor();
    assert!(d.decode(ok.as_bytes(), Media::Json, NOW).is_ok());
    for (what, doc, pointer, text) in cases {
        match d.decode(doc.as_bytes(), Media::Json, NOW) {
            Err(DecodeError::JsonMap { pointer: p, reason }) => {
                assert_eq!(p, *pointer, "{what}: {reason}");
                assert!(reason.contains(text), "{what}: {reason}");
            }
            other => panic!("{what}: {other:?}"),
        }
    }
    assert!(matches!(
        d.decode(b"{", Media::Json, NOW),
        Err(DecodeError::Json(_))
    ));
    assert!(matches!(
        d.decode(b"\xff", Media::Json, NOW),
        Err(DecodeError::Json(_))
    ));
    assert!(matches!(
        d.decode(ok.as_bytes(), Media::Octets, NOW),
        Err(DecodeError::WrongMedia { .. })
    ));
    // Deep nesting is refused by serde_json's recursion limit, not a stack overflow.
    let deep = "[".repeat(100_000);
    assert!(matches!(
        d.decode(deep.as_bytes(), Media::Json, NOW),
        Err(DecodeError::Json(_)) | Err(DecodeError::TooLarge { .. })
    ));
    let deep = "[".repeat(50_000);
    assert!(
        Decoder::JsonMap(match d.clone() {
            Decoder::JsonMap(m) => m,
            _ => unreachable!(),
        })
        .decode_with(
            deep.as_bytes(),
            Media::Json,
            NOW,
            Limits {
                max_payload: 1 << 20,
                max_readings: 10
            }
        )
        .is_err()
    );
}

#[test]
fn json_map_bad_declarations() {
    let cases: &[(&str, &str)] = &[
        (r#"{"name":"t","pointer":"/t","scale":0}"#, "scale 0"),
        (r#"{"name":"t","pointer":"/t","scale":-1e309}"#, "finite"),
        (
            r#"{"name":"t","pointer":"t"}"#,
            "must be empty or start with `/`",
        ),
        (r#"{"name":"t","pointer":"/a~2"}"#, "`~`"),
        (r#"{"name":"_t","pointer":"/t"}"#, "start with a letter"),
        (r#"{"name":"a b","pointer":"/t"}"#, "contains"),
        (
            r#"{"name":"t","pointer":"/t","type":"bool","scale":2}"#,
            "only apply to numbers",
        ),
    ];
    for (field, text) in cases {
        let d: Decoder =
            match serde_json::from_str(&format!(r#"{{"kind":"json-map","readings":[{field}]}}"#)) {
                Ok(d) => d,
                // serde_json itself refuses -1e309 (out of range): also a refusal.
                Err(e) => {
                    assert!(text == &"finite", "{field}: {e}");
                    continue;
                }
            };
        let e = d.validate().unwrap_err();
        assert!(
            matches!(e, DecodeError::Declaration { index: 0, .. }),
            "{field}: {e}"
        );
        assert!(e.to_string().contains(text), "{field}: {e}");
        // decode checks the declaration too
        assert!(d.decode(br#"{"t":1}"#, Media::Json, NOW).is_err());
    }
    // A huge scale is a valid declaration, but a result that overflows is refused.
    let d = map(r#"{"kind":"json-map","readings":[{"name":"t","pointer":"/t","scale":1e300}]}"#);
    assert_eq!(
        num(&d.decode(br#"{"t":2}"#, Media::Json, NOW).unwrap()[0]),
        2e300
    );
    match d.decode(br#"{"t":1e10}"#, Media::Json, NOW) {
        Err(DecodeError::JsonMap { pointer, reason }) => {
            assert_eq!(pointer, "/t");
            assert!(reason.contains("not a finite number"), "{reason}");
        }
        other => panic!("{other:?}"),
    }
    // Negative scale is allowed (an inverted sensor).
    let d = map(
        r#"{"kind":"json-map","readings":[{"name":"depth","pointer":"/d","unit":"m","scale":-0.01}]}"#,
    );
    assert_eq!(
        num(&d.decode(br#"{"d":250}"#, Media::Json, NOW).unwrap()[0]),
        -2.5
    );
}

// ---------------------------------------------------------------- lwm2m

#[test]
fn lwm2m_names_and_units() {
    let pack = br#"[{"bn":"/3303/0/","n":"5700","v":21.5,"t":-2},
                    {"n":"5601","v":18.0},
                    {"bn":"/3304/1/","n":"5700","v":40},
                    {"n":"/3303/1/5700","bn":"","v":19,"u":"K"},
                    {"bn":"/3/0/","n":"0","vs":"ACME"}]"#;
    let r = Decoder::Lwm2m.decode(pack, Media::SenmlJson, NOW).unwrap();
    let got: Vec<_> = r
        .iter()
        .map(|x| (x.name.as_str(), x.unit.as_deref()))
        .collect();
    assert_eq!(
        got,
        [
            ("temperature/0/sensor_value", Some("Cel")),
            ("temperature/0/min_measured_value", Some("Cel")),
            ("humidity/1/sensor_value", Some("%RH")),
            ("temperature/1/sensor_value", Some("K")), // the device's unit wins
            ("device/0/manufacturer", None),
        ]
    );
    assert_eq!(r[0].time, NOW - 2.0);
    assert_eq!(r[0].unit_status, UnitStatus::Registered);
    assert_eq!(
        r[0].extensions.get("lwm2m_path"),
        Some(&Extension::String("/3303/0/5700".into()))
    );
    assert!(
        r.iter()
            .all(|x| !x.extensions.contains_key("lwm2m_unknown"))
    );
    // Full name in `n`, no base name; and CBOR.
    let json = br#"[{"n":"/3303/0/5700","v":21.5}]"#;
    let cbor = senml::Pack::from_json(json).unwrap().to_cbor().unwrap();
    let a = Decoder::Lwm2m.decode(json, Media::SenmlJson, NOW).unwrap();
    let b = Decoder::Lwm2m.decode(&cbor, Media::SenmlCbor, NOW).unwrap();
    assert_eq!(a, b);
    assert_eq!(a[0].name, "temperature/0/sensor_value");
    // Resource instances.
    let r = Decoder::Lwm2m
        .decode(
            br#"[{"bn":"/3/0/7/","n":"1","v":3800}]"#,
            Media::SenmlJson,
            NOW,
        )
        .unwrap();
    assert_eq!(r[0].name, "device/0/power_source_voltage/1");
}

#[test]
fn lwm2m_unknown_kept_and_flagged() {
    let r = Decoder::Lwm2m
        .decode(
            br#"[{"n":"/32769/0/1","v":1},{"n":"/3303/0/9999","v":2}]"#,
            Media::SenmlJson,
            NOW,
        )
        .unwrap();
    assert_eq!(r[0].name, "32769/0/1");
    assert_eq!(r[1].name, "temperature/0/9999");
    for x in &r {
        assert_eq!(
            x.extensions.get("lwm2m_unknown"),
            Some(&Extension::Bool(true))
        );
        assert_eq!(x.unit, None);
    }
}

#[test]
fn lwm2m_hostile() {
    let cases: &[(&str, usize)] = &[
        (r#"[{"n":"temp","v":1}]"#, 0),
        (r#"[{"n":"/3303/0/5700","v":1},{"n":"/3303/0","v":1}]"#, 1),
        (r#"[{"bn":"/3303/0/","n":"x","v":1}]"#, 0),
        (r#"[{"bn":"/3303/0/","v":1}]"#, 0), // names the instance, not a resource
        (r#"[{"n":"/3303/0/99999","v":1}]"#, 0),
    ];
    for (pack, index) in cases {
        match Decoder::Lwm2m.decode(pack.as_bytes(), Media::SenmlJson, NOW) {
            Err(DecodeError::Lwm2m { index: i, reason }) => {
                assert_eq!(i, *index, "{pack}: {reason}")
            }
            other => panic!("{pack}: {other:?}"),
        }
    }
    // SenML errors still name the record.
    let e = Decoder::Lwm2m
        .decode(
            br#"[{"n":"/3303/0/5700","v":1},{"n":"/3303/0/5700","v":true}]"#,
            Media::SenmlJson,
            NOW,
        )
        .unwrap_err();
    assert!(e.to_string().contains("record 1"), "{e}");
}

#[test]
fn lwm2m_table_covers_every_vector_object() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/vectors/lwm2m");
    let mut ids = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let name = e.unwrap().file_name().to_string_lossy().into_owned();
        if let Some(id) = name
            .strip_suffix(".xml")
            .and_then(|s| s.parse::<u32>().ok())
        {
            ids.push(id);
        }
    }
    ids.sort_unstable();
    assert!(ids.len() > 300);
    let table: Vec<u32> = lwm2m::object_ids().collect();
    assert_eq!(table, ids, "regenerate with tools/gen_lwm2m.py");
    // Spot checks against the registry.
    let t = lwm2m::lookup(3303, 5700).unwrap();
    assert_eq!(
        (t.object, t.name, t.unit),
        ("temperature", "sensor_value", Some("Cel"))
    );
    assert_eq!(lwm2m::lookup(3304, 5700).unwrap().unit, Some("%RH"));
    assert_eq!(lwm2m::lookup(3, 0).unwrap().name, "manufacturer");
    // The registry leaves this unit empty (only its description says mV).
    assert_eq!(lwm2m::lookup(3, 7).unwrap().unit, None);
    assert_eq!(lwm2m::lookup(6, 0).unwrap().unit, Some("lat"));
    assert!(lwm2m::lookup(3303, 9999).is_none());
    // Every generated name is a valid SenML name.
    for id in lwm2m::object_ids() {
        let obj = lwm2m::object_name(id).unwrap();
        senml::check_name(&format!("{obj}/0/x")).unwrap();
    }
}

#[test]
fn lwm2m_table_is_what_the_generator_makes() {
    // The table is checked in with its generator; this catches hand edits and a
    // generator changed without regenerating. python3 is a test dependency
    // (scripts/deps.sh); without it the test fails rather than skipping.
    let root = env!("CARGO_MANIFEST_DIR");
    let out = std::env::temp_dir().join(format!("lwm2m_table_{}.rs", std::process::id()));
    let status = std::process::Command::new("python3")
        .arg(format!("{root}/tools/gen_lwm2m.py"))
        .arg(format!("{root}/../../../shared/vectors/lwm2m"))
        .arg(&out)
        .stderr(std::process::Stdio::null())
        .status();
    let status = status.expect("python3 is needed to check the generated LwM2M table");
    assert!(status.success(), "tools/gen_lwm2m.py failed");
    let fresh = std::fs::read_to_string(&out).unwrap();
    let _ = std::fs::remove_file(&out);
    let checked_in = std::fs::read_to_string(format!("{root}/src/lwm2m_table.rs")).unwrap();
    assert!(
        fresh == checked_in,
        "src/lwm2m_table.rs is stale: run tools/gen_lwm2m.py"
    );
}
