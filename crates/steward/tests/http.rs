//! End-to-end HTTP API tests with curl: device ingest (201 only after commit),
//! refusals, the operator API, live server-sent events, OpenAPI, health, metrics.

mod common;

use std::process::{Command, Stdio};

use common::*;

fn device_headers(token: &str, content_type: &str) -> Vec<String> {
    vec![
        "-H".into(),
        format!("Authorization: Bearer {token}"),
        "-H".into(),
        format!("Content-Type: {content_type}"),
    ]
}

#[test]
fn device_ingest_over_http() {
    require("curl");
    let tmp = tempfile::tempdir().unwrap();
    let gw = Gateway::start(&tmp.path().join("data"), Some("[http]\nmax_body = 8192\n"));
    let d = gw.add_device("http-1", "meter");
    let token = gw.token(&d.id);
    let path = format!("/api/v1/devices/{}/telemetry", d.id);
    let post = |headers: &[String], body: &[u8]| {
        let file = tmp.path().join("body");
        std::fs::write(&file, body).unwrap();
        let mut args: Vec<&str> = headers.iter().map(String::as_str).collect();
        let data = format!("@{}", file.display());
        args.extend(["--data-binary", &data]);
        gw.curl("POST", &path, &args)
    };
    let json = device_headers(&token, "application/senml+json");
    let (code, body) = post(&json, br#"[{"bn":"m/","bt":1700000000,"n":"energy","u":"J","v":1200},{"n":"power","u":"W","v":3.5}]"#);
    assert_eq!(code, 201, "{body}");
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&body).unwrap()["stored"],
        2
    );
    // CBOR: [{-2: "m/", 0: "temp", 1: "Cel", 2: 21.5}]
    let cbor = hex::decode(concat!(
        "81a4",
        "21626d2f",
        "006474656d70",
        "016343656c",
        "02fb4035800000000000"
    ))
    .unwrap();
    let (code, body) = post(&device_headers(&token, "application/senml+cbor"), &cbor);
    assert_eq!(code, 201, "{body}");
    let readings = gw.readings(&d.id);
    assert_eq!(readings.len(), 3, "{readings:?}");
    assert!(readings.iter().any(|r| r["n"] == "m/energy"
        && r["u"] == "J"
        && r["v"] == 1200.0
        && r["t"] == 1_700_000_000.0));
    assert!(
        readings
            .iter()
            .any(|r| r["n"] == "m/temp" && r["u"] == "Cel" && r["v"] == 21.5)
    );

    // Refusals: each says what is wrong, and nothing is stored.
    type Case<'a> = (&'a str, Vec<String>, Vec<u8>, u16, &'a str);
    let cases: Vec<Case> = vec![
        (
            "no token",
            vec!["-H".into(), "Content-Type: application/senml+json".into()],
            b"[]".to_vec(),
            401,
            "Bearer",
        ),
        (
            "wrong token",
            device_headers("stw_dev_wrong", "application/senml+json"),
            br#"[{"n":"x","v":1}]"#.to_vec(),
            401,
            "not valid",
        ),
        (
            "admin token is not a device token",
            device_headers(&gw.admin, "application/senml+json"),
            br#"[{"n":"x","v":1}]"#.to_vec(),
            401,
            "not valid",
        ),
        (
            "wrong content type",
            device_headers(&token, "text/plain"),
            br#"[{"n":"x","v":1}]"#.to_vec(),
            415,
            "content type",
        ),
        ("not JSON", json.clone(), b"{{{".to_vec(), 400, "SenML"),
        (
            "bad record",
            json.clone(),
            br#"[{"n":"ok","v":1},{"n":"x","v":1,"vs":"two"}]"#.to_vec(),
            400,
            "record 1",
        ),
        (
            "unknown must-understand field",
            json.clone(),
            br#"[{"n":"x","v":1,"foo_":2}]"#.to_vec(),
            400,
            "foo_",
        ),
        (
            "empty pack",
            json.clone(),
            b"[]".to_vec(),
            400,
            "no readings",
        ),
        (
            "bad CBOR",
            device_headers(&token, "application/senml+cbor"),
            vec![0x81, 0xa1, 0x00],
            400,
            "input ends",
        ),
        (
            "too large",
            json.clone(),
            format!(r#"[{{"n":"x","vs":"{}"}}]"#, "a".repeat(20_000)).into_bytes(),
            413,
            "",
        ),
    ];
    for (label, headers, body, want, says) in cases {
        let (code, text) = post(&headers, &body);
        assert_eq!(code, want, "{label}: {text}");
        assert!(
            text.contains(says),
            "{label}: `{text}` does not say `{says}`"
        );
    }
    assert_eq!(gw.readings(&d.id).len(), 3);

    // Another device's path with this device's token.
    let other = gw.add_device("http-2", "meter");
    let (code, _) = gw.curl(
        "POST",
        &format!("/api/v1/devices/{}/telemetry", other.id),
        &[
            "-H",
            &format!("Authorization: Bearer {token}"),
            "-H",
            "Content-Type: application/senml+json",
            "-d",
            r#"[{"n":"x","v":1}]"#,
        ],
    );
    assert_eq!(code, 401);
    assert!(gw.readings(&other.id).is_empty());

    // Revoked: 403, nothing stored.
    assert!(gw.cli(&["device", "revoke", &d.id]).status.success());
    let (code, text) = post(&json, br#"[{"n":"x","v":1}]"#);
    assert_eq!(code, 403, "{text}");
    assert_eq!(gw.readings(&d.id).len(), 3);
}

#[test]
fn operator_api_crud_and_auth() {
    require("curl");
    let tmp = tempfile::tempdir().unwrap();
    let gw = Gateway::start(&tmp.path().join("data"), None);
    let auth = format!("Authorization: Bearer {}", gw.admin);
    let h = ["-H", auth.as_str(), "-H", "Content-Type: application/json"];
    let with =
        |extra: &[&str]| -> Vec<String> { h.iter().chain(extra).map(|s| s.to_string()).collect() };
    let call = |m: &str, p: &str, extra: &[&str]| {
        let a = with(extra);
        let a: Vec<&str> = a.iter().map(String::as_str).collect();
        gw.curl(m, p, &a)
    };

    // No token, wrong token.
    assert_eq!(gw.curl("GET", "/api/v1/devices", &[]).0, 401);
    assert_eq!(
        gw.curl(
            "GET",
            "/api/v1/devices",
            &["-H", "Authorization: Bearer nope"]
        )
        .0,
        401
    );

    let (code, body) = call(
        "POST",
        "/api/v1/devices",
        &[
            "-d",
            r#"{"name":"kiosk-1","model":"kiosk","tags":["lobby"]}"#,
        ],
    );
    assert_eq!(code, 201, "{body}");
    let dev: serde_json::Value = serde_json::from_str(&body).unwrap();
    let id = dev["id"].as_str().unwrap().to_string();
    assert_eq!(
        dev["zone"], "restricted",
        "unknown devices land in the restricted zone"
    );
    assert_eq!(
        call(
            "POST",
            "/api/v1/devices",
            &["-d", r#"{"name":"kiosk-1","model":"kiosk"}"#]
        )
        .0,
        409
    );
    assert_eq!(
        call(
            "POST",
            "/api/v1/devices",
            &["-d", r#"{"name":"bad name!","model":"kiosk"}"#]
        )
        .0,
        400
    );
    assert_eq!(
        call(
            "POST",
            "/api/v1/devices",
            &["-d", r#"{"name":"x","model":"kiosk","extra":1}"#]
        )
        .0,
        400
    );
    assert_eq!(call("POST", "/api/v1/devices", &["-d", "{not json"]).0, 400);

    let (code, body) = call(
        "PATCH",
        &format!("/api/v1/devices/{id}"),
        &["-d", r#"{"zone":"trusted","firmware_version":"2.1"}"#],
    );
    assert_eq!(code, 200, "{body}");
    let dev: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(dev["zone"], "trusted");
    assert_eq!(dev["firmware_version"], "2.1");

    let (code, body) = call("POST", &format!("/api/v1/devices/{id}/tokens"), &[]);
    assert_eq!(code, 201, "{body}");
    let token = serde_json::from_str::<serde_json::Value>(&body).unwrap()["token"]
        .as_str()
        .unwrap()
        .to_string();
    let dev = gw.admin_get(&format!("/api/v1/devices/{id}"));
    assert_eq!(dev["strength"], "token");
    assert_ne!(
        dev["identities"][0]["value"], token,
        "the token itself is stored"
    );

    // Certificate through the API, from a CSR the "device" made.
    let key = rcgen::KeyPair::generate().unwrap();
    let csr = rcgen::CertificateParams::new(Vec::<String>::new())
        .unwrap()
        .serialize_request(&key)
        .unwrap()
        .pem()
        .unwrap();
    let req = serde_json::json!({"name": "csr-dev", "model": "kiosk", "csr": csr}).to_string();
    let (code, body) = call("POST", "/api/v1/devices/new/certificate", &["-d", &req]);
    assert_eq!(code, 201, "{body}");
    let issued: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert!(
        issued["key"].is_null(),
        "a key was made although the device sent a CSR"
    );
    assert!(
        issued["certificate"]
            .as_str()
            .unwrap()
            .contains("BEGIN CERTIFICATE")
    );
    let bad = serde_json::json!({"name": "csr-bad", "model": "kiosk", "csr": "-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----"}).to_string();
    assert_eq!(
        call("POST", "/api/v1/devices/new/certificate", &["-d", &bad]).0,
        400
    );
    assert_eq!(
        call("GET", "/api/v1/devices/csr-bad", &[]).0,
        404,
        "a bad CSR left a device behind"
    );

    let list = gw.admin_get("/api/v1/devices");
    assert_eq!(list.as_array().unwrap().len(), 2);
    let models = gw.admin_get("/api/v1/models");
    assert!(
        models
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["name"] == "kiosk" && m["decoder"]["kind"] == "senml")
    );

    assert_eq!(
        call("POST", &format!("/api/v1/devices/{id}/revoke"), &[]).0,
        200
    );
    assert_eq!(
        gw.admin_get(&format!("/api/v1/devices/{id}"))["status"],
        "revoked"
    );
    assert_eq!(call("DELETE", &format!("/api/v1/devices/{id}"), &[]).0, 200);
    assert_eq!(call("GET", &format!("/api/v1/devices/{id}"), &[]).0, 404);
    assert_eq!(call("GET", "/api/v1/devices/nope/readings", &[]).0, 404);
    assert_eq!(call("GET", "/api/v1/nothing-here", &[]).0, 404);
    let (code, body) = call("GET", "/api/v1/devices/csr-dev/readings?limit=0", &[]);
    assert_eq!(code, 400, "{body}");
}

#[test]
fn live_stream_openapi_health_metrics() {
    require("curl");
    let tmp = tempfile::tempdir().unwrap();
    let gw = Gateway::start(&tmp.path().join("data"), None);
    let d = gw.add_device("sse-1", "meter");
    let token = gw.token(&d.id);
    let url = format!("http://{}/api/v1/readings/stream?device={}", gw.http, d.id);
    let stream = Command::new("curl")
        .args([
            "-sS",
            "-N",
            "--max-time",
            "6",
            "-H",
            &format!("Authorization: Bearer {}", gw.admin),
            &url,
        ])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    // Post until one shows in the stream (the stream only has what comes after it opened).
    for i in 0..10 {
        std::thread::sleep(std::time::Duration::from_millis(300));
        let (code, _) = gw.curl(
            "POST",
            &format!("/api/v1/devices/{}/telemetry", d.id),
            &[
                "-H",
                &format!("Authorization: Bearer {token}"),
                "-H",
                "Content-Type: application/senml+json",
                "-d",
                &format!(r#"[{{"n":"live","u":"W","v":{i}}}]"#),
            ],
        );
        assert_eq!(code, 201);
    }
    let out = stream.wait_with_output().unwrap();
    let events = String::from_utf8_lossy(&out.stdout);
    assert!(events.contains("event: reading"), "{events}");
    assert!(events.contains("\"n\":\"live\""), "{events}");
    assert_eq!(gw.curl("GET", "/api/v1/readings/stream", &[]).0, 401);

    let spec = gw.admin_get("/api/v1/openapi.json");
    assert!(spec["openapi"].as_str().unwrap().starts_with("3."));
    for p in [
        "/api/v1/devices",
        "/api/v1/devices/{id}/telemetry",
        "/api/v1/devices/{id}/readings",
        "/api/v1/readings/stream",
    ] {
        assert!(
            spec["paths"][p].is_object(),
            "{p} missing from the OpenAPI document"
        );
    }
    let health = gw.admin_get("/healthz");
    assert_eq!(health["status"], "ok");
    assert!(health["readings_stored"].as_u64().unwrap() >= 10);
    let metrics = gw.curl("GET", "/metrics", &[]).1;
    for m in [
        "steward_mqtt_connections",
        "steward_readings_committed_total",
        "steward_commit_batch_readings_bucket",
        "steward_commit_duration_seconds",
        "steward_messages_total{protocol=\"http\"}",
    ] {
        assert!(metrics.contains(m), "{m} missing: {metrics}");
    }
}

#[test]
fn https_api_with_the_gateway_certificate() {
    require("curl");
    let tmp = tempfile::tempdir().unwrap();
    let gw = Gateway::start(
        &tmp.path().join("data"),
        Some("[server]\nhttp_tls = \"on\"\n"),
    );
    let ca = gw.data.join("ca.crt");
    let url = format!("https://localhost:{}/healthz", gw.http.port());
    let out = Command::new("curl")
        .args(["-sS", "--max-time", "10", "--cacert"])
        .arg(&ca)
        .arg(&url)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("\"ok\""));
    // Plain HTTP on the TLS port gets no API.
    let plain = Command::new("curl")
        .args([
            "-sS",
            "--max-time",
            "5",
            &format!("http://127.0.0.1:{}/healthz", gw.http.port()),
        ])
        .output()
        .unwrap();
    assert!(!String::from_utf8_lossy(&plain.stdout).contains("\"ok\""));
    // Without Steward's CA the certificate is not trusted.
    let untrusted = Command::new("curl")
        .args(["-sS", "--max-time", "5", &url])
        .output()
        .unwrap();
    assert!(!untrusted.status.success());
}
