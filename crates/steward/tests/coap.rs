//! CoAP over DTLS-PSK end to end: the real gateway binary and Debian's libcoap
//! `coap-client` (OpenSSL build), plus Steward's own DTLS client where a test must
//! control message ids (retransmissions).

#[path = "common/coap.rs"]
mod coap_support;
mod common;

use std::time::Duration;

use coap_support::*;
use common::*;
use steward::ingest::coap::client::CoapClient;

const SENML: &str = r#"[{"bn":"urn:dev:noise:","n":"level","u":"dB","v":55.5}]"#;

fn temp() -> tempfile::TempDir {
    tempfile::tempdir().unwrap()
}

fn changed(r: &CoapReply) {
    assert_eq!(
        r.code.as_deref(),
        Some("2.04"),
        "expected 2.04 Changed: {}",
        r.text
    );
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// A CBOR SenML pack `[{0: "level", 1: "dB", 2: 40.0}]` (RFC 8428 §6 labels; 40.0
/// as a half-precision float).
fn senml_cbor() -> Vec<u8> {
    let mut out = vec![0x81, 0xa3, 0x00, 0x65];
    out.extend_from_slice(b"level");
    out.extend_from_slice(&[0x01, 0x62]);
    out.extend_from_slice(b"dB");
    out.extend_from_slice(&[0x02, 0xf9, 0x51, 0x00]);
    out
}

#[test]
fn con_and_non_posts_are_stored_and_well_known_core_lists_telemetry() {
    let dir = temp();
    let gw = Gateway::start(&dir.path().join("gw"), None);
    let d = gw.add_device("noise-1", "noise-sensor");
    let key = psk(&gw, &d.id);
    assert!(key.len() >= 32, "a PSK of at least 32 characters: {key}");

    // Confirmable, SenML JSON (content-format 110).
    changed(&post(&gw, &d.id, &key, "110", SENML, &[]));
    // Non-confirmable, SenML CBOR (112): the response is NON too.
    let cbor = dir.path().join("pack.cbor");
    std::fs::write(&cbor, senml_cbor()).unwrap();
    let r = post_file(&gw, &d.id, &key, "112", &cbor, &["-N"]);
    changed(&r);
    assert!(r.text.contains("t:NON c:2.04"), "{}", r.text);

    let readings = gw.readings(&d.id);
    assert_eq!(readings.len(), 2, "{readings:?}");
    assert!(
        readings
            .iter()
            .any(|r| r["n"] == "urn:dev:noise:level" && r["v"] == 55.5)
    );
    assert!(
        readings
            .iter()
            .any(|r| r["n"] == "level" && r["v"] == 40.0 && r["u"] == "dB")
    );
    let dev = gw.admin_get(&format!("/api/v1/devices/{}", d.id));
    assert!(
        dev["identities"]
            .as_array()
            .unwrap()
            .iter()
            .any(|i| i["kind"] == "psk"),
        "{dev}"
    );

    // Resource discovery (RFC 6690).
    let r = coap(&gw, &d.id, &key, &["-m", "get"], "/.well-known/core");
    assert_eq!(r.code.as_deref(), Some("2.05"), "{}", r.text);
    assert!(r.text.contains("</telemetry>"), "{}", r.text);
    assert!(r.text.contains("ct=\"110 112"), "{}", r.text);

    // Unknown resource and wrong method: clear errors.
    let r = coap(
        &gw,
        &d.id,
        &key,
        &["-m", "post", "-t", "110", "-e", "[]"],
        "/elsewhere",
    );
    assert_eq!(r.code.as_deref(), Some("4.04"), "{}", r.text);
    let r = coap(&gw, &d.id, &key, &["-m", "get"], "/telemetry");
    assert_eq!(r.code.as_deref(), Some("4.05"), "{}", r.text);
    assert_eq!(gw.readings(&d.id).len(), 2);
}

#[test]
fn block1_upload_of_a_large_pack_is_reassembled() {
    let dir = temp();
    let gw = Gateway::start(&dir.path().join("gw"), None);
    let d = gw.add_device("noise-big", "noise-sensor");
    let key = psk(&gw, &d.id);
    let pack: Vec<String> = (0..400)
        .map(|i| {
            format!(
                r#"{{"n":"r{i}","u":"dB","v":{i},"t":{}}}"#,
                1_700_000_000 + i
            )
        })
        .collect();
    let file = dir.path().join("big.json");
    std::fs::write(&file, format!("[{}]", pack.join(","))).unwrap();
    assert!(std::fs::metadata(&file).unwrap().len() > 10_000);
    // 64-byte blocks: hundreds of Block1 exchanges (RFC 7959 §2.5).
    let r = post_file(&gw, &d.id, &key, "110", &file, &["-b", "64"]);
    changed(&r);
    assert!(r.text.contains("Block1:"), "{}", r.text);
    assert_eq!(gw.readings(&d.id).len(), 400);
}

#[test]
fn wrong_psk_unknown_identity_revoked_and_replaced_keys_are_refused() {
    let dir = temp();
    let gw = Gateway::start(&dir.path().join("gw"), None);
    let a = gw.add_device("noise-a", "noise-sensor");
    let b = gw.add_device("noise-b", "noise-sensor");
    let key_a = psk(&gw, &a.id);
    let key_b = psk(&gw, &b.id);

    // A wrong key, another device's key, an unknown identity, the device's name
    // instead of its id: the handshake fails, nothing is stored.
    for (who, identity, key) in [
        (
            "wrong key",
            a.id.as_str(),
            "stw_psk_not-the-right-key-at-all-000",
        ),
        ("another device's key", a.id.as_str(), key_b.as_str()),
        ("unknown identity", "no-such-device", key_a.as_str()),
        ("the name, not the id", "noise-a", key_a.as_str()),
    ] {
        let r = post(&gw, identity, key, "110", SENML, &[]);
        assert_eq!(r.code, None, "{who}: no CoAP response expected: {}", r.text);
        assert!(
            r.text.contains("DTLS") || r.text.contains("cannot send"),
            "{who}: coap-client should report the failed handshake: {}",
            r.text
        );
    }
    assert!(gw.readings(&a.id).is_empty());

    // A new key replaces the old one.
    let key_a2 = psk(&gw, &a.id);
    assert_ne!(key_a, key_a2);
    assert_eq!(post(&gw, &a.id, &key_a, "110", SENML, &[]).code, None);
    changed(&post(&gw, &a.id, &key_a2, "110", SENML, &[]));

    // Revoked: refused at the handshake; the other device is not affected.
    let out = gw.cli(&["device", "revoke", &a.id]);
    assert!(out.status.success());
    assert_eq!(post(&gw, &a.id, &key_a2, "110", SENML, &[]).code, None);
    changed(&post(&gw, &b.id, &key_b, "110", SENML, &[]));
    assert_eq!(gw.readings(&a.id).len(), 1);
    assert_eq!(gw.readings(&b.id).len(), 1);
    // A revoked device gets no new key.
    assert!(!gw.cli(&["device", "psk", &a.id]).status.success());
}

#[test]
fn open_session_of_a_revoked_device_gets_4_01_on_its_next_request() {
    let dir = temp();
    let gw = Gateway::start(&dir.path().join("gw"), None);
    let d = gw.add_device("noise-live", "noise-sensor");
    let key = psk(&gw, &d.id);
    let rt = runtime();
    rt.block_on(async {
        let mut c = CoapClient::connect(gw.coaps, &d.id, &key).await.unwrap();
        let r = c.post(110, SENML.as_bytes()).await.unwrap();
        assert_eq!(r.code, coap_lite::ResponseType::Changed);
        assert!(gw.cli(&["device", "revoke", &d.id]).status.success());
        let r = c.post(110, SENML.as_bytes()).await.unwrap();
        assert_eq!(r.code, coap_lite::ResponseType::Unauthorized);
        assert!(String::from_utf8_lossy(&r.payload).contains("revoked"));
    });
    assert_eq!(gw.readings(&d.id).len(), 1);
}

#[test]
fn retransmission_with_the_same_message_id_is_stored_once() {
    let dir = temp();
    let gw = Gateway::start(&dir.path().join("gw"), None);
    let d = gw.add_device("noise-dup", "noise-sensor");
    let key = psk(&gw, &d.id);
    let rt = runtime();
    rt.block_on(async {
        let c = CoapClient::connect(gw.coaps, &d.id, &key).await.unwrap();
        for (mid, confirmable) in [(0x1234u16, true), (0x2345, false)] {
            let msg = CoapClient::telemetry_request(mid, confirmable, 110, SENML.as_bytes());
            c.send_raw(&msg).await.unwrap();
            let first = c.recv().await.unwrap();
            assert_eq!(first.code, coap_lite::ResponseType::Changed);
            // The same message again, as a client whose ACK was lost would send it.
            c.send_raw(&msg).await.unwrap();
            if confirmable {
                let again = c.recv().await.unwrap();
                assert_eq!(again.code, coap_lite::ResponseType::Changed);
                assert_eq!(again.message_id, mid);
            } else {
                // A duplicate NON is dropped (RFC 7252 §4.5): no second response.
                let extra = c.recv_within(Duration::from_secs(1)).await;
                assert!(extra.is_err(), "no response to a duplicate NON: {extra:?}");
            }
        }
        c.close().await;
    });
    assert_eq!(gw.readings(&d.id).len(), 2, "each message stored once");
}

#[test]
fn hostile_input_gets_clear_errors_and_stores_nothing() {
    let dir = temp();
    let gw = Gateway::start(&dir.path().join("gw"), Some("[coap]\nmax_body = 4096\n"));
    let d = gw.add_device("noise-bad", "noise-sensor");
    let other = gw.add_device("noise-good", "noise-sensor");
    let key = psk(&gw, &d.id);
    let other_key = psk(&gw, &other.id);
    // ../shared beside the repository (a worktree sits one level deeper).
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let bad_cbor = ["../../../shared", "../../../../shared"]
        .iter()
        .map(|s| root.join(s).join("vectors/cbor/bad.cbor"))
        .find(|p| p.exists())
        .expect("shared/vectors/cbor/bad.cbor beside the repository");
    // bad.cbor is a well-formed CBOR container (README.upstream.md): a map whose
    // `tests` array holds maps {"description": text, "encoded": bytes}, each
    // `encoded` being one malformed item. Take the items out by that structure:
    // after each text key "encoded" (0x67 "encoded") comes a byte string header.
    fn bad_items(file: &[u8]) -> Vec<Vec<u8>> {
        const KEY: &[u8] = b"\x67encoded";
        let mut items = Vec::new();
        let mut at = 0;
        while let Some(i) = file[at..].windows(KEY.len()).position(|w| w == KEY) {
            let mut p = at + i + KEY.len();
            let head = file[p];
            assert_eq!(head >> 5, 2, "a byte string follows `encoded` at byte {p}");
            p += 1;
            let len = match head & 0x1f {
                n @ 0..=23 => usize::from(n),
                24 => {
                    p += 1;
                    usize::from(file[p - 1])
                }
                25 => {
                    p += 2;
                    usize::from(u16::from_be_bytes([file[p - 2], file[p - 1]]))
                }
                ai => panic!("byte string length with additional info {ai}"),
            };
            items.push(file[p..p + len].to_vec());
            at = p + len;
        }
        items
    }
    let items = bad_items(&std::fs::read(&bad_cbor).unwrap());
    // The container's `tests` array header: 0x98 0x2f, 47 items.
    assert_eq!(items.len(), 47, "items in {}", bad_cbor.display());
    // Several kinds of malformation, each an item of the file, with what the
    // diagnostic must say. Most are malformed at their first byte: a missing
    // argument, a reserved additional-info value, a reserved simple value, a lone
    // break, an indefinite byte string with a non-string chunk, invalid UTF-8, and
    // inside the pack a reserved value. The last two are packs cut short inside
    // their first record: the error names the record and says the CBOR input
    // ends.
    let chosen: [(&str, &[&str]); 10] = [
        ("18", &["CBOR", "input ends"]),
        ("1900", &["CBOR", "input ends"]),
        ("1c", &["malformed CBOR"]),
        ("fe", &["malformed CBOR"]),
        ("ff", &["CBOR", "break"]),
        ("5f01ff", &["malformed CBOR"]),
        ("62c0ae", &["malformed CBOR"]),
        ("9ffeff", &["record 0", "malformed CBOR"]),
        ("81", &["record 0", "CBOR input ends"]),
        ("9f", &["record 0", "CBOR input ends"]),
    ];
    for (hex_item, needles) in chosen {
        let item = hex::decode(hex_item).unwrap();
        assert!(
            items.contains(&item),
            "h'{hex_item}' is an item of bad.cbor"
        );
        let f = dir.path().join(format!("bad-{hex_item}.cbor"));
        std::fs::write(&f, &item).unwrap();
        let r = post_file(&gw, &d.id, &key, "112", &f, &[]);
        assert_eq!(r.code.as_deref(), Some("4.00"), "h'{hex_item}': {}", r.text);
        for needle in needles {
            assert!(
                r.text.contains(needle),
                "h'{hex_item}': the diagnostic should say `{needle}`: {}",
                r.text
            );
        }
    }

    let big: Vec<String> = (0..300)
        .map(|i| format!(r#"{{"n":"r{i}","v":{i}}}"#))
        .collect();
    let big_file = dir.path().join("big.json");
    std::fs::write(&big_file, format!("[{}]", big.join(","))).unwrap();
    assert!(std::fs::metadata(&big_file).unwrap().len() > 4096);

    let cases: Vec<(&str, CoapReply, &str, &str)> = vec![
        (
            "wrong content-format",
            post(&gw, &d.id, &key, "0", SENML, &[]),
            "4.15",
            "content-format 0",
        ),
        (
            "unknown must-understand SenML field",
            post(
                &gw,
                &d.id,
                &key,
                "110",
                r#"[{"n":"x","v":1,"nope_":2}]"#,
                &[],
            ),
            "4.00",
            "nope_",
        ),
        (
            "not JSON at all",
            post(&gw, &d.id, &key, "110", "{{{", &[]),
            "4.00",
            "SenML",
        ),
        (
            "oversize block-wise transfer",
            post_file(&gw, &d.id, &key, "110", &big_file, &["-b", "256"]),
            "4.13",
            "4096",
        ),
    ];
    for (what, r, code, needle) in &cases {
        assert_eq!(r.code.as_deref(), Some(*code), "{what}: {}", r.text);
        assert!(
            r.text.contains(needle),
            "{what}: the diagnostic should name `{needle}`: {}",
            r.text
        );
    }
    assert!(
        gw.readings(&d.id).is_empty(),
        "nothing stored from bad input"
    );
    // The server is alive, and the same and other devices are served.
    changed(&post(&gw, &other.id, &other_key, "110", SENML, &[]));
    changed(&post(&gw, &d.id, &key, "110", SENML, &[]));
    assert_eq!(gw.readings(&other.id).len(), 1);
    assert_eq!(gw.readings(&d.id).len(), 1);
}

#[test]
fn garbage_datagrams_and_half_handshakes_do_not_hurt_others() {
    let dir = temp();
    let gw = Gateway::start(
        &dir.path().join("gw"),
        Some("[coap]\nmax_sessions_per_address = 8\nhandshake_timeout_secs = 2\n"),
    );
    let d = gw.add_device("noise-x", "noise-sensor");
    let key = psk(&gw, &d.id);
    // Raw junk, truncated records, and ClientHello-looking records from many ports.
    let socks: Vec<std::net::UdpSocket> = (0..20)
        .map(|_| std::net::UdpSocket::bind("127.0.0.1:0").unwrap())
        .collect();
    let mut hello = vec![22u8, 0xfe, 0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 40, 1];
    hello.extend(std::iter::repeat_n(0u8, 40));
    for s in &socks {
        s.send_to(b"\x00\x01garbage", gw.coaps).unwrap();
        s.send_to(&hello, gw.coaps).unwrap();
        s.send_to(&hello[..10], gw.coaps).unwrap();
    }
    // The per-address cap is full of half-open handshakes for a moment; once they
    // time out, a real device is served again.
    Gateway::wait_for("a device is served after the junk", 20, || {
        post(&gw, &d.id, &key, "110", SENML, &[]).code.as_deref() == Some("2.04")
    });
    assert!(!gw.readings(&d.id).is_empty());
    let metrics = gw.curl("GET", "/metrics", &[]).1;
    assert!(
        metrics.contains("coap_too_many_sessions") || metrics.contains("coap_handshake"),
        "{metrics}"
    );
}

#[test]
fn acknowledged_readings_survive_kill_9() {
    let dir = temp();
    let data = dir.path().join("gw");
    let mut gw = Gateway::start(&data, None);
    let d = gw.add_device("noise-crash", "noise-sensor");
    let key = psk(&gw, &d.id);
    let mut acked = Vec::new();
    for seq in 0..15 {
        let r = post(
            &gw,
            &d.id,
            &key,
            "110",
            &format!(r#"[{{"n":"seq","v":{seq}}}]"#),
            &[],
        );
        if r.code.as_deref() == Some("2.04") {
            acked.push(seq);
        }
    }
    assert_eq!(acked.len(), 15, "every post acknowledged before the kill");
    gw.kill9();
    let gw = Gateway::start(&data, None);
    let stored: std::collections::BTreeSet<i64> = gw
        .readings(&d.id)
        .iter()
        .filter_map(|r| r["v"].as_f64().map(|v| v as i64))
        .collect();
    for seq in acked {
        assert!(
            stored.contains(&seq),
            "acknowledged reading {seq} lost: {stored:?}"
        );
    }
    // The key survives the restart too (derived from the gateway's secret).
    changed(&post(&gw, &d.id, &key, "110", SENML, &[]));
}
