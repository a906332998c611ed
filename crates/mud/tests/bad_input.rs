//! Hostile and broken input: clear errors naming the place, never a panic.

use mud::{Limits, ParseError, ParseOptions, parse};

fn lum() -> Vec<u8> {
    let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/vectors/mud/cisco-luminaire/Luminaire_150.json");
    std::fs::read(p).unwrap()
}

fn errors(bytes: &[u8]) -> Vec<String> {
    match parse(bytes, &ParseOptions::default()) {
        Ok(p) => panic!("accepted: {:?}", p.warnings),
        Err(e) => e.diagnostics().iter().map(|d| d.to_string()).collect(),
    }
}

fn set(v: &mut serde_json::Value, ptr: &str, new: serde_json::Value) {
    *v.pointer_mut(ptr).unwrap_or_else(|| panic!("{ptr}")) = new;
}

#[test]
fn truncated_json_at_every_length() {
    let f = lum();
    for n in 0..f.len() - 2 {
        match parse(&f[..n], &ParseOptions::default()) {
            Err(ParseError::Syntax { message, .. }) => {
                if n > 0 {
                    assert!(
                        message.contains("truncated") || message.contains("EOF"),
                        "{n}: {message}"
                    )
                }
            }
            Err(e) => panic!("{n}: unexpected {e}"),
            Ok(_) => panic!("{n}: accepted a truncated file"),
        }
    }
}

#[test]
fn wrong_types_name_the_path_and_expectation() {
    let base: serde_json::Value = serde_json::from_slice(&lum()).unwrap();
    let acl0 = "/ietf-access-control-list:acls/acl/0/aces/ace/0/matches";
    let cases = [
        (
            "/ietf-mud:mud/mud-version",
            serde_json::json!("one"),
            "/ietf-mud:mud/mud-version",
            "integer",
        ),
        (
            "/ietf-mud:mud/cache-validity",
            serde_json::json!(0),
            "/ietf-mud:mud/cache-validity",
            "1 to 168",
        ),
        (
            "/ietf-mud:mud/cache-validity",
            serde_json::json!(169),
            "/ietf-mud:mud/cache-validity",
            "1 to 168",
        ),
        (
            "/ietf-mud:mud/is-supported",
            serde_json::json!(1),
            "/ietf-mud:mud/is-supported",
            "true or false",
        ),
        (
            "/ietf-mud:mud/from-device-policy",
            serde_json::json!([]),
            "/ietf-mud:mud/from-device-policy",
            "JSON object",
        ),
        (
            &format!("{acl0}/tcp/source-port/port"),
            serde_json::json!(70000),
            "/tcp/source-port/port",
            "at most 65535",
        ),
        (
            &format!("{acl0}/tcp/source-port/operator"),
            serde_json::json!("lt"),
            "/tcp/source-port/operator",
            "eq, lte, gte or neq",
        ),
        (
            &format!("{acl0}/ipv4/protocol"),
            serde_json::json!(-1),
            "/ipv4/protocol",
            "integer",
        ),
        (
            &format!("{acl0}/ipv4/protocol"),
            serde_json::json!(17),
            "/matches",
            "contradicts the tcp match",
        ),
        (
            &format!("{acl0}/ipv4/ietf-acldns:src-dnsname"),
            serde_json::json!("bad name!"),
            "/ietf-acldns:src-dnsname",
            "not a valid host name",
        ),
        (
            &format!("{acl0}/tcp/ietf-mud:direction-initiated"),
            serde_json::json!("sideways"),
            "/ietf-mud:direction-initiated",
            "from-device or to-device",
        ),
        (
            "/ietf-access-control-list:acls/acl/0/aces/ace/0/actions/forwarding",
            serde_json::json!("maybe"),
            "/actions/forwarding",
            "accept, drop or reject",
        ),
        (
            "/ietf-access-control-list:acls/acl/0/name",
            serde_json::json!(7),
            "/acl/0/name",
            "a string",
        ),
        (
            "/ietf-mud:mud/systeminfo",
            serde_json::json!(""),
            "/ietf-mud:mud/systeminfo",
            "must not be empty",
        ),
    ];
    for (ptr, val, want_path, want_msg) in cases {
        let mut v = base.clone();
        set(&mut v, ptr, val.clone());
        let errs = errors(&serde_json::to_vec(&v).unwrap());
        assert!(
            errs.iter()
                .any(|e| e.contains(want_path) && e.contains(want_msg)),
            "{ptr} = {val}: {errs:#?}"
        );
    }
    // The RFC's bounds for cache-validity are both valid.
    for ok in [1, 168] {
        let mut v = base.clone();
        set(
            &mut v,
            "/ietf-mud:mud/cache-validity",
            serde_json::json!(ok),
        );
        parse(&serde_json::to_vec(&v).unwrap(), &ParseOptions::strict()).unwrap();
    }
}

#[test]
fn structural_errors() {
    let base: serde_json::Value = serde_json::from_slice(&lum()).unwrap();
    // A policy naming a missing ACL.
    let mut v = base.clone();
    set(
        &mut v,
        "/ietf-mud:mud/from-device-policy/access-lists/access-list/0/name",
        serde_json::json!("nope"),
    );
    let e = errors(&serde_json::to_vec(&v).unwrap());
    assert!(e.iter().any(|e| e.contains("access-list/0/name") && e.contains("'nope', which is not defined")), "{e:#?}");
    // direction-initiated on UDP.
    let mut v = base.clone();
    let udp = v
        .pointer_mut("/ietf-access-control-list:acls/acl/0/aces/ace/1/matches/udp")
        .unwrap();
    udp["ietf-mud:direction-initiated"] = serde_json::json!("from-device");
    let e = errors(&serde_json::to_vec(&v).unwrap());
    assert!(
        e.iter().any(|e| e.contains("applies only to TCP")),
        "{e:#?}"
    );
    // An unknown match condition is an error, not ignored.
    let mut v = base.clone();
    v.pointer_mut("/ietf-access-control-list:acls/acl/0/aces/ace/0/matches/tcp")
        .unwrap()["flags"] = serde_json::json!("syn");
    let e = errors(&serde_json::to_vec(&v).unwrap());
    assert!(
        e.iter()
            .any(|e| e.contains("/tcp/flags") && e.contains("unsupported match condition")),
        "{e:#?}"
    );
    // Not an object at the top.
    assert!(errors(b"[1,2,3]")[0].contains("expected a MUD file"));
    assert!(errors(b"{}")[0].contains("missing the 'ietf-mud:mud' container"));
    // A JSON string that is not JSON at all.
    assert!(errors(b"\"hello\"")[0].contains("JSON object"));
}

#[test]
fn non_https_mud_url() {
    let text = String::from_utf8(lum())
        .unwrap()
        .replace("https://luminaire", "http://luminaire");
    let e = errors(text.as_bytes());
    assert!(
        e.iter()
            .any(|e| e.contains("/ietf-mud:mud/mud-url") && e.contains("must use https")),
        "{e:#?}"
    );
    let text = String::from_utf8(lum())
        .unwrap()
        .replace("https://luminaire.example.com/Luminaire_150", "not a url");
    assert!(
        errors(text.as_bytes())
            .iter()
            .any(|e| e.contains("not a valid URL"))
    );
}

#[test]
fn huge_arrays_hit_limits() {
    // Many ACLs, within the byte limit.
    let acl = r#"{"name":"a","aces":{"ace":[]}}"#;
    let many = vec![acl; 5000].join(",");
    let doc = format!(
        r#"{{"ietf-mud:mud":{{"mud-version":1,"mud-url":"https://x.example/a","last-update":"2020-01-01T00:00:00Z","is-supported":true}},"ietf-access-control-list:acls":{{"acl":[{many}]}}}}"#
    );
    let e = errors(doc.as_bytes());
    assert!(
        e.iter()
            .any(|e| e.contains("/ietf-access-control-list:acls/acl") && e.contains("limit is 64")),
        "{e:#?}"
    );
    // Many ACEs.
    let ace = r#"{"name":"x","actions":{"forwarding":"accept"}}"#;
    let aces = vec![ace; 3000].join(",");
    let doc = format!(
        r#"{{"ietf-mud:mud":{{"mud-version":1,"mud-url":"https://x.example/a","last-update":"2020-01-01T00:00:00Z","is-supported":true}},"ietf-access-control-list:acls":{{"acl":[{{"name":"a","aces":{{"ace":[{aces}]}}}}]}}}}"#
    );
    let e = errors(doc.as_bytes());
    assert!(e.iter().any(|e| e.contains("limit is 512")), "{e:#?}");
    // Many errors are capped, not collected without bound.
    let bad = vec![r#"{"name":7}"#; 60].join(",");
    let doc = format!(
        r#"{{"ietf-mud:mud":{{"mud-version":1,"mud-url":"https://x.example/a","last-update":"2020-01-01T00:00:00Z","is-supported":true}},"ietf-access-control-list:acls":{{"acl":[{{"name":"a","aces":{{"ace":[{bad}]}}}}]}}}}"#
    );
    assert!(errors(doc.as_bytes()).len() <= 201);
    // Long names.
    let long = "n".repeat(65);
    let text = String::from_utf8(lum())
        .unwrap()
        .replace("cl0-frdev", &long);
    assert!(
        errors(text.as_bytes())
            .iter()
            .any(|e| e.contains("at most 64"))
    );
}

#[test]
fn deep_nesting() {
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    match parse(deep.as_bytes(), &ParseOptions::default()) {
        Err(ParseError::Syntax { message, .. }) => {
            assert!(message.contains("nesting"), "{message}")
        }
        other => panic!("{other:?}"),
    }
    let deep = format!(
        r#"{{"ietf-mud:mud":{}1{}}}"#,
        r#"{"a":"#.repeat(200),
        "}".repeat(200)
    );
    assert!(parse(deep.as_bytes(), &ParseOptions::default()).is_err());
}

#[test]
fn ten_megabytes() {
    let mut big = b"{\"ietf-mud:mud\":\"".to_vec();
    big.resize(10 * 1024 * 1024, b'a');
    match parse(&big, &ParseOptions::default()) {
        Err(e @ ParseError::TooLarge { .. }) => {
            assert!(e.to_string().contains("limit is 262144 bytes"))
        }
        other => panic!("{other:?}"),
    }
    // A caller may raise the limit; then it fails as JSON, still without a panic.
    let opts = ParseOptions {
        limits: Limits {
            max_bytes: 20 << 20,
            ..Default::default()
        },
        ..Default::default()
    };
    assert!(matches!(parse(&big, &opts), Err(ParseError::Syntax { .. })));
}

#[test]
fn invalid_utf8() {
    let mut f = lum();
    f[100] = 0xff;
    match parse(&f, &ParseOptions::default()) {
        Err(e @ ParseError::NotUtf8 { offset: 100 }) => assert!(e.to_string().contains("UTF-8")),
        other => panic!("{other:?}"),
    }
}

#[test]
fn lenient_and_strict_differ_only_on_deviations() {
    let text = String::from_utf8(lum()).unwrap().replacen(
        "[\n                    null\n                  ]",
        "null",
        1,
    );
    assert!(text.contains("\"my-controller\": null"));
    let ok = parse(text.as_bytes(), &ParseOptions::default()).unwrap();
    assert!(
        ok.warnings
            .iter()
            .any(|w| w.path.ends_with("/my-controller") && w.message.contains("[null]"))
    );
    let e = parse(text.as_bytes(), &ParseOptions::strict()).unwrap_err();
    assert!(e.to_string().contains("my-controller"), "{e}");
    // Ethertype as a string.
    let doc = r#"{"ietf-mud:mud":{"mud-version":1,"mud-url":"https://x.example/a","last-update":"2020-01-01T00:00:00Z","is-supported":true,
      "from-device-policy":{"access-lists":{"access-list":[{"name":"e"}]}}},
      "ietf-access-control-list:acls":{"acl":[{"name":"e","type":"eth-acl-type","aces":{"ace":[{"name":"arp","matches":{"eth":{"ethertype":"0x0806"}},"actions":{"forwarding":"accept"}}]}}]}}"#;
    let p = parse(doc.as_bytes(), &ParseOptions::default()).unwrap();
    assert_eq!(
        p.file.acls[0].aces[0]
            .matches
            .eth
            .as_ref()
            .unwrap()
            .ethertype,
        Some(0x0806)
    );
    assert!(parse(doc.as_bytes(), &ParseOptions::strict()).is_err());
}
