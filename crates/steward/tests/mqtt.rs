//! End-to-end MQTT tests: the real `steward` binary, real clients (mosquitto_pub,
//! mosquitto_sub) over TLS with device certificates or tokens.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;

fn topic(id: &str) -> String {
    format!("steward/v1/devices/{id}/telemetry")
}

fn pub_args(gw: &Gateway, d: &DeviceCreds, version: &str, topic: &str, msg: &str) -> Vec<String> {
    tls_args_with(gw, d, &["-V", version, "-q", "1", "-t", topic, "-m", msg])
}

#[test]
fn published_pack_appears_in_the_api_for_311_and_5() {
    require("mosquitto_pub");
    let tmp = tempfile::tempdir().unwrap();
    let gw = Gateway::start(&tmp.path().join("data"), None);
    let d = gw.add_device("aq-1", "aq-sensor");
    for (version, bt) in [("mqttv311", 1_700_000_000.0), ("mqttv5", 1_700_000_100.0)] {
        let msg = format!(
            r#"[{{"bn":"urn:dev:aq1:","bt":{bt},"n":"temperature","u":"Cel","v":21.5}},{{"n":"humidity","u":"%RH","v":48,"t":-5}},{{"n":"door","vb":true}}]"#
        );
        let out = mosquitto_pub(&pub_args(&gw, &d, version, &topic(&d.id), &msg));
        assert!(out.status.success(), "{version}: {}", text(&out));
        assert!(text(&out).contains("received PUBACK"), "{}", text(&out));
    }
    let readings = gw.readings(&d.id);
    assert_eq!(readings.len(), 6, "{readings:?}");
    let find = |n: &str, t: f64| {
        readings
            .iter()
            .find(|r| r["n"] == n && r["t"].as_f64() == Some(t))
            .unwrap_or_else(|| panic!("no {n} at {t} in {readings:?}"))
            .clone()
    };
    let temp = find("urn:dev:aq1:temperature", 1_700_000_000.0);
    assert_eq!(temp["u"], "Cel");
    assert_eq!(temp["v"], 21.5);
    let hum = find("urn:dev:aq1:humidity", 1_699_999_995.0);
    assert_eq!(hum["u"], "%RH");
    assert_eq!(hum["v"], 48.0);
    assert_eq!(find("urn:dev:aq1:door", 1_700_000_100.0)["vb"], true);
    // The latest endpoint has one value per name: the newest.
    let latest = gw.admin_get(&format!("/api/v1/devices/{}/latest", d.id));
    let latest = latest.as_array().unwrap();
    assert_eq!(latest.len(), 3);
    let t = latest
        .iter()
        .find(|r| r["n"] == "urn:dev:aq1:temperature")
        .unwrap();
    assert_eq!(t["t"], 1_700_000_100.0);
}

#[test]
fn token_authentication_and_refusals() {
    require("mosquitto_pub");
    let tmp = tempfile::tempdir().unwrap();
    let gw = Gateway::start(&tmp.path().join("data"), None);
    let d = gw.add_device("meter-1", "meter");
    let token = gw.token(&d.id);
    let base = |user: Option<&str>, pass: Option<&str>| {
        let mut a: Vec<String> = vec![
            "-h".into(),
            "localhost".into(),
            "-p".into(),
            gw.mqtts.port().to_string(),
            "--cafile".into(),
            d.ca.display().to_string(),
            "-q".into(),
            "1".into(),
            "-t".into(),
            topic(&d.id),
            "-m".into(),
            r#"[{"n":"energy","u":"J","v":7}]"#.into(),
        ];
        if let Some(u) = user {
            a.extend(["-u".into(), u.into()]);
        }
        if let Some(p) = pass {
            a.extend(["-P".into(), p.into()]);
        }
        a
    };
    let ok = mosquitto_pub(&base(Some(&d.id), Some(&token)));
    assert!(ok.status.success(), "{}", text(&ok));
    assert!(text(&ok).contains("received PUBACK"));

    // Anonymous, a wrong token, a token of the right form for another device.
    let other = gw.add_device("meter-2", "meter");
    let other_token = gw.token(&other.id);
    for (label, args) in [
        ("anonymous", base(None, None)),
        ("wrong token", base(Some(&d.id), Some("stw_dev_nope"))),
        (
            "token of another device",
            base(Some(&d.id), Some(&other_token)),
        ),
    ] {
        let out = mosquitto_pub(&args);
        assert!(
            !out.status.success(),
            "{label} was accepted: {}",
            text(&out)
        );
        assert!(!text(&out).contains("received PUBACK"), "{label}");
    }
    assert_eq!(gw.readings(&d.id).len(), 1);
}

#[test]
fn certificate_from_another_ca_is_refused() {
    require("mosquitto_pub");
    let tmp = tempfile::tempdir().unwrap();
    let gw = Gateway::start(&tmp.path().join("data"), None);
    let d = gw.add_device("cam-1", "camera");
    // A CA of our own making, and a client certificate it signs with the same
    // subject as the real device.
    let (ca_cert, issuer) = foreign_ca("rogue CA");
    let key = rcgen::KeyPair::generate().unwrap();
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, d.id.clone());
    params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ClientAuth];
    let cert = params.signed_by(&key, &issuer).unwrap();
    let dir = tmp.path().join("rogue");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("c.crt"), cert.pem()).unwrap();
    std::fs::write(dir.join("c.key"), key.serialize_pem()).unwrap();
    let _ = ca_cert;
    let rogue = DeviceCreds {
        id: d.id.clone(),
        name: "rogue".into(),
        cert: dir.join("c.crt"),
        key: dir.join("c.key"),
        ca: d.ca.clone(),
    };
    let out = mosquitto_pub(&pub_args(
        &gw,
        &rogue,
        "mqttv311",
        &topic(&d.id),
        r#"[{"n":"x","v":1}]"#,
    ));
    assert!(!out.status.success(), "{}", text(&out));
    assert!(gw.readings(&d.id).is_empty());
}

#[test]
fn revoked_device_is_refused_and_its_open_connection_closed() {
    require("mosquitto_sub");
    let tmp = tempfile::tempdir().unwrap();
    let gw = Gateway::start(&tmp.path().join("data"), None);
    let d = gw.add_device("lamp-1", "streetlight");
    // An open session: subscribed to its commands, waiting.
    let args = tls_args_with(
        &gw,
        &d,
        &[
            "-V",
            "mqttv5",
            "-t",
            &format!("steward/v1/devices/{}/commands/#", d.id),
            "-v",
        ],
    );
    let mut sub = Command::new("mosquitto_sub")
        .args(&args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    Gateway::wait_for("the subscriber to connect", 10, || {
        gw.admin_get("/healthz")["mqtt_connected"] == 1
    });
    // Revoked by another process (the CLI), while the server runs.
    let out = gw.cli(&["device", "revoke", &d.id]);
    assert!(out.status.success(), "{}", text(&out));
    let started = Instant::now();
    let closed = loop {
        if sub.try_wait().unwrap().is_some() {
            break true;
        }
        if started.elapsed() > Duration::from_secs(10) {
            break false;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let _ = sub.kill();
    assert!(closed, "the revoked device's connection stayed open");
    assert_eq!(gw.admin_get("/healthz")["mqtt_connected"], 0);
    // And it cannot come back, with its certificate or a token issued before.
    let out = mosquitto_pub(&pub_args(
        &gw,
        &d,
        "mqttv5",
        &topic(&d.id),
        r#"[{"n":"x","v":1}]"#,
    ));
    assert!(!out.status.success(), "{}", text(&out));
    assert!(gw.readings(&d.id).is_empty());
    let token = gw.cli(&["device", "token", &d.id]);
    assert!(!token.status.success(), "a revoked device got a token");
}

#[test]
fn another_devices_topics_are_refused() {
    require("mosquitto_sub");
    let tmp = tempfile::tempdir().unwrap();
    let gw = Gateway::start(&tmp.path().join("data"), None);
    let a = gw.add_device("park-a", "parking");
    let b = gw.add_device("park-b", "parking");
    // MQTT 5: a PUBACK with reason 0x87 (135, not authorized).
    let out = mosquitto_pub(&pub_args(
        &gw,
        &a,
        "mqttv5",
        &topic(&b.id),
        r#"[{"n":"occupied","vb":true}]"#,
    ));
    assert!(text(&out).contains("RC:135"), "{}", text(&out));
    // MQTT 3.1.1: dropped, connection closed: no PUBACK.
    let out = mosquitto_pub(&pub_args(
        &gw,
        &a,
        "mqttv311",
        &topic(&b.id),
        r#"[{"n":"occupied","vb":true}]"#,
    ));
    assert!(!text(&out).contains("received PUBACK"), "{}", text(&out));
    // Any other topic, even under the device's own prefix.
    let own_other = format!("steward/v1/devices/{}/commands/x", a.id);
    let out = mosquitto_pub(&pub_args(&gw, &a, "mqttv5", &own_other, "hi"));
    assert!(text(&out).contains("RC:135"), "{}", text(&out));
    assert!(gw.readings(&b.id).is_empty());
    assert!(gw.readings(&a.id).is_empty());

    // Subscriptions outside the device's commands are refused in the SUBACK.
    for filter in [
        format!("steward/v1/devices/{}/commands/#", b.id),
        "steward/v1/devices/+/commands/#".to_string(),
        "#".to_string(),
    ] {
        let args = tls_args_with(
            &gw,
            &a,
            &["-V", "mqttv5", "-t", &filter, "-C", "1", "-W", "3", "-d"],
        );
        let out = Command::new("mosquitto_sub").args(&args).output().unwrap();
        let t = text(&out);
        assert!(t.contains("received SUBACK"), "{filter}: {t}");
        assert!(
            t.contains("denied") || t.contains("135"),
            "{filter} was granted: {t}"
        );
    }
}

#[test]
fn malformed_senml_is_refused_and_others_are_unaffected() {
    require("mosquitto_pub");
    let tmp = tempfile::tempdir().unwrap();
    let gw = Gateway::start(&tmp.path().join("data"), None);
    let bad = gw.add_device("bad-1", "aq-sensor");
    let good = gw.add_device("good-1", "aq-sensor");
    let good_args = pub_args(
        &gw,
        &good,
        "mqttv5",
        &topic(&good.id),
        r#"[{"n":"pm10","u":"ug/m3","v":12}]"#,
    );
    let good_pub = std::thread::spawn(move || {
        (0..5)
            .map(|_| mosquitto_pub(&good_args).status.success())
            .filter(|ok| *ok)
            .count()
    });
    for payload in [
        "not json",
        r#"{"n":"x","v":1}"#,
        r#"[{"n":"x","v":"string in v"}]"#,
        r#"[{"n":"x","v":1,"vs":"two values"}]"#,
        r#"[{"v":1}]"#,
        "[]",
        r#"[{"n":"ok","v":1},{"n":"bad","v":[1]}]"#,
    ] {
        let out = mosquitto_pub(&pub_args(&gw, &bad, "mqttv5", &topic(&bad.id), payload));
        // 0x99 (153): payload format invalid, with a reason string.
        assert!(text(&out).contains("RC:153"), "{payload}: {}", text(&out));
        let out = mosquitto_pub(&pub_args(&gw, &bad, "mqttv311", &topic(&bad.id), payload));
        assert!(
            !text(&out).contains("received PUBACK"),
            "{payload}: {}",
            text(&out)
        );
    }
    assert_eq!(good_pub.join().unwrap(), 5);
    assert!(gw.readings(&bad.id).is_empty(), "a partial pack was stored");
    assert_eq!(gw.readings(&good.id).len(), 5);
    let metrics = gw.curl("GET", "/metrics", &[]).1;
    assert!(metrics.contains("kind=\"decode\""), "{metrics}");
}

#[test]
fn oversized_packet_is_refused() {
    require("mosquitto_pub");
    let tmp = tempfile::tempdir().unwrap();
    let gw = Gateway::start(
        &tmp.path().join("data"),
        Some("[mqtt]\nmax_packet_size = 4096\n"),
    );
    let d = gw.add_device("big-1", "aq-sensor");
    let big = format!(r#"[{{"n":"blob","vs":"{}"}}]"#, "x".repeat(10_000));
    let out = mosquitto_pub(&pub_args(&gw, &d, "mqttv311", &topic(&d.id), &big));
    assert!(!text(&out).contains("received PUBACK"), "{}", text(&out));
    // MQTT 5 clients learn the limit from CONNACK and must not send more
    // (§3.2.2.3.6): mosquitto_pub refuses on its side.
    let out = mosquitto_pub(&pub_args(&gw, &d, "mqttv5", &topic(&d.id), &big));
    assert!(!text(&out).contains("received PUBACK"), "{}", text(&out));
    assert!(gw.readings(&d.id).is_empty());
    // The server is fine afterwards.
    let out = mosquitto_pub(&pub_args(
        &gw,
        &d,
        "mqttv311",
        &topic(&d.id),
        r#"[{"n":"x","v":1}]"#,
    ));
    assert!(text(&out).contains("received PUBACK"), "{}", text(&out));
    assert!(
        gw.curl("GET", "/metrics", &[])
            .1
            .contains("packet_too_large")
    );
}

#[test]
fn slow_clients_do_not_hold_connections() {
    require("mosquitto_pub");
    let tmp = tempfile::tempdir().unwrap();
    let gw = Gateway::start(
        &tmp.path().join("data"),
        Some("[mqtt]\nconnect_timeout_secs = 1\n"),
    );
    let d = gw.add_device("ok-1", "aq-sensor");
    // 100 connections: some send nothing, some half a TLS ClientHello.
    let mut socks: Vec<TcpStream> = (0..100)
        .map(|i| {
            let mut s = TcpStream::connect(gw.mqtts).unwrap();
            if i % 2 == 0 {
                s.write_all(&[0x16, 0x03, 0x01, 0x02, 0x00, 0x01]).unwrap();
            }
            s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
            s
        })
        .collect();
    // A real device is served meanwhile.
    let out = mosquitto_pub(&pub_args(
        &gw,
        &d,
        "mqttv311",
        &topic(&d.id),
        r#"[{"n":"x","v":1}]"#,
    ));
    assert!(text(&out).contains("received PUBACK"), "{}", text(&out));
    let started = Instant::now();
    for s in &mut socks {
        let mut buf = [0u8; 64];
        // EOF (0) or a reset: either way the server let go.
        loop {
            match s.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(_) => continue,
            }
        }
    }
    assert!(
        started.elapsed() < Duration::from_secs(9),
        "idle connections were held for {:?}",
        started.elapsed()
    );
    let metrics = gw.curl("GET", "/metrics", &[]).1;
    assert!(metrics.contains("connect_timeout"), "{metrics}");
}

#[test]
fn commands_reach_a_subscribed_device() {
    require("mosquitto_sub");
    let tmp = tempfile::tempdir().unwrap();
    let gw = Gateway::start(&tmp.path().join("data"), None);
    let d = gw.add_device("light-9", "streetlight");
    let args = tls_args_with(
        &gw,
        &d,
        &[
            "-V",
            "mqttv311",
            "-q",
            "1",
            "-t",
            &format!("steward/v1/devices/{}/commands/#", d.id),
            "-v",
            "-C",
            "1",
            "-W",
            "15",
        ],
    );
    let sub = Command::new("mosquitto_sub")
        .args(&args)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    Gateway::wait_for("the subscriber to connect", 10, || {
        gw.admin_get("/healthz")["mqtt_connected"] == 1
    });
    // Subscription happens right after CONNACK; retry until it is delivered.
    let auth = format!("Authorization: Bearer {}", gw.admin);
    Gateway::wait_for("command delivery", 10, || {
        let (code, body) = gw.curl(
            "POST",
            &format!("/api/v1/devices/{}/commands/dim", d.id),
            &["-H", &auth, "-d", "40"],
        );
        assert_eq!(code, 202, "{body}");
        body.contains("\"sent\"")
    });
    let out = sub.wait_with_output().unwrap();
    let got = String::from_utf8_lossy(&out.stdout);
    assert!(
        got.contains(&format!("steward/v1/devices/{}/commands/dim 40", d.id)),
        "{got}"
    );
}

#[test]
fn qos2_and_last_will() {
    require("mosquitto_sub");
    let tmp = tempfile::tempdir().unwrap();
    let gw = Gateway::start(&tmp.path().join("data"), None);
    let d = gw.add_device("q2-1", "meter");
    let a = tls_args_with(
        &gw,
        &d,
        &[
            "-V",
            "mqttv5",
            "-q",
            "2",
            "-t",
            &topic(&d.id),
            "-m",
            r#"[{"n":"q2","v":2}]"#,
        ],
    );
    let out = mosquitto_pub(&a);
    let t = text(&out);
    assert!(
        t.contains("received PUBREC") && t.contains("received PUBCOMP"),
        "{t}"
    );
    assert_eq!(gw.readings(&d.id).len(), 1);

    // A will on the device's own telemetry topic is published when the connection
    // is lost without DISCONNECT (here: the client is killed).
    let args = tls_args_with(
        &gw,
        &d,
        &[
            "-V",
            "mqttv311",
            "-k",
            "5",
            "-t",
            &format!("steward/v1/devices/{}/commands/#", d.id),
            "--will-topic",
            &topic(&d.id),
            "--will-payload",
            r#"[{"n":"online","vb":false}]"#,
            "--will-qos",
            "1",
        ],
    );
    let mut sub = Command::new("mosquitto_sub")
        .args(&args)
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    Gateway::wait_for("the subscriber to connect", 10, || {
        gw.admin_get("/healthz")["mqtt_connected"] == 1
    });
    sub.kill().unwrap();
    sub.wait().unwrap();
    Gateway::wait_for("the will to be stored", 10, || {
        gw.readings(&d.id)
            .iter()
            .any(|r| r["n"] == "online" && r["vb"] == false)
    });

    // A will aimed at a topic the device may not publish to is refused at CONNECT.
    let args = tls_args_with(
        &gw,
        &d,
        &[
            "-V",
            "mqttv5",
            "-t",
            "x",
            "-m",
            "y",
            "--will-topic",
            "steward/v1/devices/other/telemetry",
            "--will-payload",
            "z",
        ],
    );
    let out = mosquitto_pub(&args);
    assert!(!out.status.success(), "{}", text(&out));
}

#[test]
fn persistent_session_keeps_commands_while_offline() {
    require("mosquitto_sub");
    let tmp = tempfile::tempdir().unwrap();
    let gw = Gateway::start(&tmp.path().join("data"), None);
    let d = gw.add_device("sleepy-1", "meter");
    let filter = format!("steward/v1/devices/{}/commands/#", d.id);
    let sub_args = |extra: &[&str]| {
        let mut a = tls_args_with(
            &gw,
            &d,
            &[
                "-V", "mqttv311", "-q", "1", "-c", "-i", "sleepy-1", "-t", &filter, "-v",
            ],
        );
        a.extend(extra.iter().map(|s| s.to_string()));
        a
    };
    // Connect once with a persistent session (clean session = false), subscribe, leave.
    let out = Command::new("mosquitto_sub")
        .args(sub_args(&["-E"]))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    Gateway::wait_for("the session to go offline", 10, || {
        gw.admin_get("/healthz")["mqtt_connected"] == 0
    });
    let auth = format!("Authorization: Bearer {}", gw.admin);
    let (code, body) = gw.curl(
        "POST",
        &format!("/api/v1/devices/{}/commands/reboot", d.id),
        &["-H", &auth, "-d", "now"],
    );
    assert_eq!(code, 202);
    assert!(body.contains("\"queued\""), "{body}");
    // Reconnect: the queued command arrives.
    let out = Command::new("mosquitto_sub")
        .args(sub_args(&["-C", "1", "-W", "10"]))
        .output()
        .unwrap();
    let got = String::from_utf8_lossy(&out.stdout);
    assert!(got.contains("commands/reboot now"), "{}", text(&out));
}

#[test]
fn maker_ca_devices_are_enrolled_by_certificate() {
    require("mosquitto_pub");
    let tmp = tempfile::tempdir().unwrap();
    // A maker's CA and two devices it provisioned.
    let (ca_cert, issuer) = foreign_ca("Acme devices CA");
    let dir = tmp.path().join("maker");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("maker-ca.pem"), ca_cert.pem()).unwrap();
    for name in ["acme-1", "acme-2"] {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut p = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        p.distinguished_name.push(rcgen::DnType::CommonName, name);
        p.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ClientAuth];
        let cert = p.signed_by(&key, &issuer).unwrap();
        std::fs::write(dir.join(format!("{name}.crt")), cert.pem()).unwrap();
        std::fs::write(dir.join(format!("{name}.key")), key.serialize_pem()).unwrap();
    }
    let config = format!(
        "[mqtt]\nmaker_cas = [\"{}\"]\n",
        dir.join("maker-ca.pem").display()
    );
    let gw = Gateway::start(&tmp.path().join("data"), Some(&config));
    let out = gw.cli(&[
        "device",
        "enroll",
        "acme-1",
        "--model",
        "acme-lamp",
        "--cert",
        dir.join("acme-1.crt").to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", text(&out));
    let id = String::from_utf8(out.stdout).unwrap().trim().to_string();
    let creds = |name: &str, id: &str| DeviceCreds {
        id: id.to_string(),
        name: name.into(),
        cert: dir.join(format!("{name}.crt")),
        key: dir.join(format!("{name}.key")),
        ca: gw.data.join("ca.crt"),
    };
    let enrolled = creds("acme-1", &id);
    let out = mosquitto_pub(&pub_args(
        &gw,
        &enrolled,
        "mqttv5",
        &topic(&id),
        r#"[{"n":"x","v":1}]"#,
    ));
    assert!(text(&out).contains("received PUBACK"), "{}", text(&out));
    assert_eq!(
        gw.admin_get(&format!("/api/v1/devices/{id}"))["strength"],
        "certificate"
    );
    // Same maker CA, but never enrolled: refused.
    let stranger = creds("acme-2", &id);
    let out = mosquitto_pub(&pub_args(
        &gw,
        &stranger,
        "mqttv5",
        &topic(&id),
        r#"[{"n":"x","v":2}]"#,
    ));
    assert!(!out.status.success(), "{}", text(&out));
    assert_eq!(gw.readings(&id).len(), 1);
    // A CA certificate is no device identity; a certificate is enrolled once.
    let out = gw.cli(&[
        "device",
        "enroll",
        "ca-dev",
        "--model",
        "acme-lamp",
        "--cert",
        dir.join("maker-ca.pem").to_str().unwrap(),
    ]);
    assert!(!out.status.success());
    let out = gw.cli(&[
        "device",
        "enroll",
        "again",
        "--model",
        "acme-lamp",
        "--cert",
        dir.join("acme-1.crt").to_str().unwrap(),
    ]);
    assert!(!out.status.success());
    assert!(text(&out).contains("belongs to a device"), "{}", text(&out));
}

#[test]
fn model_decoders_turn_vendor_payloads_into_readings() {
    require("mosquitto_pub");
    let tmp = tempfile::tempdir().unwrap();
    let gw = Gateway::start(&tmp.path().join("data"), None);
    // A LoRaWAN-style sensor speaking Cayenne LPP, declared once on its model.
    let out = gw.cli(&[
        "model",
        "add",
        "lpp-node",
        "--manufacturer",
        "Acme",
        "--decoder",
        "cayenne-lpp",
    ]);
    assert!(out.status.success(), "{}", text(&out));
    let d = gw.add_device("lpp-1", "lpp-node");
    // Cayenne's documented example: channel 3 temperature 27.2 °C, channel 5 25.5 °C.
    let bin = tmp.path().join("lpp.bin");
    std::fs::write(&bin, [0x03, 0x67, 0x01, 0x10, 0x05, 0x67, 0x00, 0xFF]).unwrap();
    let a = tls_args_with(
        &gw,
        &d,
        &[
            "-V",
            "mqttv311",
            "-q",
            "1",
            "-t",
            &topic(&d.id),
            "-f",
            bin.to_str().unwrap(),
        ],
    );
    let out = mosquitto_pub(&a);
    assert!(text(&out).contains("received PUBACK"), "{}", text(&out));
    let readings = gw.readings(&d.id);
    let t3 = readings
        .iter()
        .find(|r| r["n"] == "temperature_3")
        .unwrap_or_else(|| panic!("{readings:?}"));
    assert_eq!(t3["u"], "Cel");
    assert!((t3["v"].as_f64().unwrap() - 27.2).abs() < 1e-9);
    // A truncated LPP payload is refused with the byte offset; nothing is stored.
    std::fs::write(&bin, [0x03, 0x67, 0x01]).unwrap();
    let a = tls_args_with(
        &gw,
        &d,
        &[
            "-V",
            "mqttv5",
            "-q",
            "1",
            "-t",
            &topic(&d.id),
            "-f",
            bin.to_str().unwrap(),
        ],
    );
    let out = mosquitto_pub(&a);
    assert!(text(&out).contains("RC:153"), "{}", text(&out));
    assert_eq!(gw.readings(&d.id).len(), 2);

    // A vendor JSON document mapped by JSON pointers, over HTTP.
    let decoder = r#"{"kind":"json-map","readings":[{"pointer":"/env/temp_c","name":"temperature","unit":"Cel"}]}"#;
    let out = gw.cli(&[
        "model",
        "add",
        "vendor-x",
        "--manufacturer",
        "X",
        "--decoder",
        decoder,
    ]);
    assert!(out.status.success(), "{}", text(&out));
    let v = gw.add_device("vx-1", "vendor-x");
    let token = gw.token(&v.id);
    let (code, body) = gw.curl(
        "POST",
        &format!("/api/v1/devices/{}/telemetry", v.id),
        &[
            "-H",
            &format!("Authorization: Bearer {token}"),
            "-H",
            "Content-Type: application/json",
            "-d",
            r#"{"env":{"temp_c":19.5}}"#,
        ],
    );
    assert_eq!(code, 201, "{body}");
    let r = gw.readings(&v.id);
    assert_eq!(r[0]["n"], "temperature");
    assert_eq!(r[0]["v"], 19.5);
    let (code, body) = gw.curl(
        "POST",
        &format!("/api/v1/devices/{}/telemetry", v.id),
        &[
            "-H",
            &format!("Authorization: Bearer {token}"),
            "-H",
            "Content-Type: application/json",
            "-d",
            r#"{"env":{"temp_c":"warm"}}"#,
        ],
    );
    assert_eq!(code, 400, "{body}");
    assert!(body.contains("/env/temp_c"), "{body}");
    // A broken declaration is refused when the model is made, not at the first message.
    let out = gw.cli(&[
        "model",
        "add",
        "broken",
        "--manufacturer",
        "X",
        "--decoder",
        "teleport",
    ]);
    assert!(!out.status.success());
}
