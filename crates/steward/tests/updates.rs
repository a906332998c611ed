//! Firmware updates end to end: the real `steward serve` with HTTPS and MQTT/TLS,
//! the real CLI for makers and operators, curl for downloads, and the real update
//! agent (`steward::updates::agent`) in this process for each simulated device.

mod common;
#[path = "common/updates.rs"]
mod fleet;

use std::collections::HashMap;
use std::process::Command;

use common::{require, text};
use fleet::{Fleet, payload, state};

fn sha256_hex(b: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(b))
}

/// curl over HTTPS with the device's certificate; returns (status, headers+body file).
fn curl_device(f: &Fleet, d: &fleet::Device, path: &str, extra: &[&str]) -> (u16, String) {
    let out = Command::new("curl")
        .args([
            "-sS",
            "--max-time",
            "20",
            "-o",
            "-",
            "-w",
            "\n%{http_code}",
            "--cacert",
        ])
        .arg(f.ca())
        .arg("--cert")
        .arg(&d.cert)
        .arg("--key")
        .arg(&d.key)
        .args(extra)
        .arg(f.url(path))
        .output()
        .unwrap();
    assert!(out.status.success(), "curl: {}", text(&out));
    let t = String::from_utf8_lossy(&out.stdout).to_string();
    let (body, code) = t.rsplit_once('\n').unwrap();
    (code.parse().unwrap(), body.to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn anchors_upload_anti_rollback_and_resumable_download() {
    require("curl");
    let f = Fleet::start("meter", 2, "").await;
    let image = payload(300_000, 1);
    let digest = sha256_hex(&image);
    let (fw2, _) = f.release(2, &image, None);
    assert_eq!(fw2.len(), 64, "{fw2}");
    // The payload is stored under its digest.
    let stored = f.gw.data.join("payloads").join(&digest);
    assert_eq!(std::fs::read(&stored).unwrap(), image);
    let list = f.get_json("/api/v1/firmware").await;
    assert_eq!(list[0]["seq"], 2);
    assert_eq!(list[0]["payload_digest"], digest.as_str());

    // A lower (or equal) sequence number is refused, naming the rule.
    let dir = f.root.path();
    let old = dir.join("old.bin");
    std::fs::write(&old, payload(1000, 9)).unwrap();
    let old_env = dir.join("old.suit");
    let out = Command::new(common::BIN)
        .args(["firmware", "sign", "--key"])
        .arg(&f.maker_key)
        .arg("--payload")
        .arg(&old)
        .args([
            "--vendor-id",
            fleet::VENDOR,
            "--class-id",
            fleet::CLASS,
            "--seq",
            "1",
        ])
        .args(["--uri", "https://acme.example/old.bin", "--out"])
        .arg(&old_env)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let out = f.cli(&[
        "firmware",
        "upload",
        old_env.to_str().unwrap(),
        "--payload",
        old.to_str().unwrap(),
    ]);
    assert!(!out.status.success());
    assert!(
        text(&out).contains("sequence number 1 is not above 2"),
        "{}",
        text(&out)
    );

    // An envelope signed by another key does not verify against the anchor.
    let other = suit::SigningKey::ed25519_from_seed(&[7; 32]);
    let forged = suit::build(
        &suit::BuildRequest {
            payload: &image,
            vendor_id: fleet::VENDOR.parse().unwrap(),
            class_id: fleet::CLASS.parse().unwrap(),
            sequence_number: 9,
            uri: "https://acme.example/fw.bin",
            mud_url: None,
            mud_signer_ski: None,
        },
        &other,
    )
    .unwrap();
    let r = f
        .admin
        .post(f.url("/api/v1/firmware"))
        .bearer_auth(&f.gw.admin)
        .body(forged)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 400);
    let body = r.text().await.unwrap();
    assert!(body.contains("signature does not verify"), "{body}");

    // Before a campaign offers it, a device cannot fetch the payload.
    let d = &f.devices[0];
    let path = format!("/api/v1/devices/{}/firmware/{digest}", d.id);
    let (code, body) = curl_device(&f, d, &path, &[]);
    assert_eq!(code, 404, "{body}");
    assert!(body.contains("no campaign offers payload"), "{body}");

    // The agent's own download, cut halfway on purpose, resumes with Range.
    let handles = f
        .agents_connected(|i, o| {
            if i == 0 {
                o.interrupt_after = Some(150_000);
            }
        })
        .await;
    let id = f
        .create_campaign(serde_json::json!({"firmware": fw2, "waves": "100%"}))
        .await;
    let p = f
        .wait_campaign(&id, 60, "the campaign to complete", |p| {
            state(p) == "completed"
        })
        .await;
    assert_eq!(p["waves"][0]["succeeded"], 2);
    let s0 = handles[0].stats();
    assert!(s0.resumed >= 1, "the agent resumed with Range: {s0:?}");
    assert_eq!(s0.installs, 1);
    assert_eq!(s0.installed_seq, 2);
    // Steward records the firmware.
    let dev = f.get_json(&format!("/api/v1/devices/{}", d.id)).await;
    assert_eq!(dev["firmware_version"], "1.2.0");
    // Once offered: the payload over HTTPS with the device's certificate, and Range requests.
    let (code, _) = curl_device(&f, d, &path, &["-r", "0-99", "-D", "/dev/stderr"]);
    assert_eq!(code, 206);
    let (code, _) = curl_device(&f, d, &path, &["-r", "999999999-"]);
    assert_eq!(code, 416);
    // Another device's certificate does not fetch through this device's path.
    let (code, body) = curl_device(&f, &f.devices[1], &path, &[]);
    assert_eq!(code, 401, "{body}");
    // No credentials at all.
    let out = Command::new("curl")
        .args(["-sS", "-o", "/dev/null", "-w", "%{http_code}", "--cacert"])
        .arg(f.ca())
        .arg(f.url(&path))
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "401");

    // An interrupted download resumes with `curl -C -` (a Range request).
    let part = dir.join("partial.bin");
    std::fs::write(&part, &image[..123_456]).unwrap();
    let out = Command::new("curl")
        .args([
            "-sS",
            "--max-time",
            "20",
            "-C",
            "-",
            "-w",
            "%{http_code}",
            "--cacert",
        ])
        .arg(f.ca())
        .arg("--cert")
        .arg(&d.cert)
        .arg("--key")
        .arg(&d.key)
        .arg("-o")
        .arg(&part)
        .arg(f.url(&path))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "206");
    assert_eq!(sha256_hex(&std::fs::read(&part).unwrap()), digest);

    // The same release again finds nobody to update.
    let (code, body) = f
        .post_json("/api/v1/campaigns", serde_json::json!({"firmware": fw2}))
        .await;
    assert_eq!(code, 400);
    assert!(body.contains("at sequence 2 or above already"), "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn campaign_to_200_devices_completes_wave_by_wave() {
    let f = Fleet::start("streetlamp", 200, "").await;
    let (fw, _) = f.release(
        3,
        &payload(64 * 1024, 3),
        Some("https://acme.example/streetlamp-v3.json"),
    );
    // Before: every device is out of date.
    let outdated = f.get_json("/api/v1/devices?outdated=true").await;
    assert_eq!(outdated.as_array().unwrap().len(), 200);
    let handles = f.agents_connected(|_, _| {}).await;
    // The CLI creates it; the running server picks it up.
    let out = f.cli(&[
        "campaign",
        "create",
        "--firmware",
        &fw[..12],
        "--tag",
        "lab",
        "--waves",
        "1%,10%,50%,100%",
    ]);
    assert!(out.status.success(), "{}", text(&out));
    let id = String::from_utf8(out.stdout).unwrap().trim().to_string();
    let p = f
        .wait_campaign(&id, 90, "the campaign to complete", |p| {
            state(p) == "completed"
        })
        .await;
    let sizes: Vec<u64> = p["waves"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["succeeded"].as_u64().unwrap())
        .collect();
    assert_eq!(sizes, vec![2, 18, 80, 100]);

    // Waves in order: no device of a wave was noticed before the previous wave ended.
    let devices = f.devices_of(&id).await;
    for w in 1..4u64 {
        let prev_end = devices
            .iter()
            .filter(|d| d["wave"] == w - 1)
            .map(|d| d["updated"].as_f64().unwrap())
            .fold(f64::MIN, f64::max);
        let start = devices
            .iter()
            .filter(|d| d["wave"] == w)
            .map(|d| d["notified_at"].as_f64().unwrap())
            .fold(f64::MAX, f64::min);
        assert!(
            start >= prev_end,
            "wave {w} started at {start}, wave {} ended at {prev_end}",
            w - 1
        );
    }
    // Every device installed exactly once.
    for (i, h) in handles.iter().enumerate() {
        let s = h.stats();
        assert_eq!(s.installs, 1, "device {i}: {s:?}");
        let states: Vec<&str> = s.reports.iter().map(|r| r.1.as_str()).collect();
        assert!(
            states.starts_with(&["downloading", "installing", "succeeded"]),
            "device {i} reports every state: {states:?}"
        );
    }
    // After: nobody is out of date; the MUD URL followed the firmware.
    let outdated = f.get_json("/api/v1/devices?outdated=true").await;
    assert_eq!(outdated.as_array().unwrap().len(), 0, "{outdated:#}");
    let conn = rusqlite::Connection::open(f.gw.data.join("steward.db")).unwrap();
    let (muds, events): (i64, i64) = conn
        .query_row(
            "SELECT (SELECT COUNT(*) FROM device_mud_urls WHERE mud_url = 'https://acme.example/streetlamp-v3.json'),
                    (SELECT COUNT(*) FROM registry_events WHERE kind = 'mud-url')",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!((muds, events), (200, 200));
    // The policy engine compiles the device's policy from the firmware's MUD URL.
    let pol = f
        .get_json(&format!("/api/v1/devices/{}/policy", f.devices[7].id))
        .await;
    assert_eq!(
        pol["mud_url"], "https://acme.example/streetlamp-v3.json",
        "{pol:#}"
    );
    // `campaign list` shows it.
    let out = f.cli(&["campaign", "list"]);
    let listing = text(&out);
    assert!(
        listing.contains("completed") && listing.contains("200/200 succeeded"),
        "{listing}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thirty_percent_failures_halt_after_the_first_failing_wave() {
    let f = Fleet::start("sensor", 100, "").await;
    let (fw, _) = f.release(5, &payload(8 * 1024, 5), None);
    let handles = f.agents_connected(|_, o| o.fail_share = 0.3).await;
    let id = f
        .create_campaign(serde_json::json!({
            "firmware": fw, "waves": "10%,30%,60%,100%", "failure_threshold": 0.1
        }))
        .await;
    let p = f
        .wait_campaign(&id, 60, "the campaign to halt", |p| state(p) == "halted")
        .await;
    let reason = p["campaign"]["reason"].as_str().unwrap();
    assert!(reason.contains("failed, more than 10 %"), "{reason}");
    let halted = p["campaign"]["current_wave"].as_u64().unwrap() as usize;
    let waves = p["waves"].as_array().unwrap();
    for (w, c) in waves.iter().enumerate() {
        let total = c["total"].as_u64().unwrap() as f64;
        let failures = (c["failed"].as_u64().unwrap() + c["rolled_back"].as_u64().unwrap()) as f64;
        if w < halted {
            assert!(failures <= 0.1 * total, "wave {w} passed: {c}");
        } else if w == halted {
            assert!(failures > 0.1 * total, "wave {w} halted it: {c}");
        } else {
            assert_eq!(c["pending"], c["total"], "wave {w} never started: {c}");
        }
    }
    // The simulated boot failures roll back, and say so.
    let rolled: u64 = waves
        .iter()
        .map(|c| c["rolled_back"].as_u64().unwrap())
        .sum();
    assert!(
        rolled > 0,
        "install failures are reported as rolled_back: {waves:?}"
    );
    let reasons: Vec<String> = f
        .devices_of(&id)
        .await
        .iter()
        .filter(|d| d["state"] == "rolled_back")
        .map(|d| d["reason"].as_str().unwrap_or_default().to_string())
        .collect();
    assert!(
        reasons
            .iter()
            .all(|r| r.contains("rolled back to sequence 0")),
        "{reasons:?}"
    );
    // Give the service a few ticks: still halted, later waves untouched.
    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    let again = f.get_json(&format!("/api/v1/campaigns/{id}")).await;
    assert_eq!(state(&again), "halted");
    let noticed: u32 = handles.iter().map(|h| h.stats().notices.min(1)).sum();
    let started: u64 = waves[..=halted]
        .iter()
        .map(|c| c["total"].as_u64().unwrap())
        .sum();
    assert_eq!(
        noticed as u64, started,
        "only devices of started waves got a notice"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_payload_tampered_in_storage_is_rejected_by_the_devices() {
    let f = Fleet::start("camera", 5, "").await;
    let image = payload(20_000, 7);
    let (fw, _) = f.release(4, &image, None);
    // Someone with access to the disk flips a byte of the stored payload.
    let stored = f.gw.data.join("payloads").join(sha256_hex(&image));
    let mut bad = std::fs::read(&stored).unwrap();
    bad[10_000] ^= 0xff;
    std::fs::write(&stored, &bad).unwrap();
    let handles = f.agents_connected(|_, _| {}).await;
    let id = f
        .create_campaign(
            serde_json::json!({"firmware": fw, "waves": "100%", "failure_threshold": 0.5}),
        )
        .await;
    // The halt fires as soon as 3 of 5 failed; the devices already noticed
    // still report how they ended.
    let p = f
        .wait_campaign(
            &id,
            60,
            "the campaign to halt with every device failed",
            |p| state(p) == "halted" && p["waves"][0]["failed"] == 5,
        )
        .await;
    assert_eq!(p["waves"][0]["succeeded"], 0, "{p:#}");
    for d in f.devices_of(&id).await {
        let reason = d["reason"].as_str().unwrap();
        assert!(reason.contains("payload rejected"), "{reason}");
    }
    for h in &handles {
        assert_eq!(h.stats().installs, 0);
        assert_eq!(h.stats().installed_seq, 0);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn devices_refuse_a_rollback_and_a_manifest_for_another_class() {
    let f = Fleet::start("valve", 4, "").await;
    let (fw, _) = f.release(6, &payload(4096, 6), None);
    // Devices 0-2 already run sequence 10 (installed some other way): Steward
    // does not know it, the devices themselves refuse the rollback. Device 3 is
    // of another class: the maker's signature alone does not make it install.
    let other_class: uuid::Uuid = "0b6f3f1e-8f2d-4d7a-9d1e-2f4a5b6c7d8e".parse().unwrap();
    let handles = f
        .agents_connected(|i, o| {
            if i < 3 {
                o.installed_seq = 10;
            } else {
                o.class_id = other_class;
            }
        })
        .await;
    let id = f
        .create_campaign(
            serde_json::json!({"firmware": fw, "waves": "100%", "failure_threshold": 0.5}),
        )
        .await;
    f.wait_campaign(
        &id,
        60,
        "the campaign to halt with every device failed",
        |p| state(p) == "halted" && p["waves"][0]["failed"] == 4,
    )
    .await;
    for d in f.devices_of(&id).await {
        let reason = d["reason"].as_str().unwrap();
        if d["device_id"] == f.devices[3].id.as_str() {
            assert!(
                reason.contains(&format!(
                    "not this device's vendor {} class {other_class}",
                    fleet::VENDOR
                )),
                "{reason}"
            );
        } else {
            assert!(
                reason.contains("rollback refused: sequence number 6 is below the installed 10"),
                "{reason}"
            );
        }
    }
    for h in &handles {
        assert_eq!(h.stats().installs, 0);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_mid_campaign_and_restart_resumes_without_repeats_or_gaps() {
    let mut f = Fleet::start("lock", 60, "").await;
    let (fw, _) = f.release(8, &payload(16 * 1024, 8), None);
    let handles = f
        .agents_connected(|_, o| o.install_time = std::time::Duration::from_millis(400))
        .await;
    let id = f
        .create_campaign(serde_json::json!({"firmware": fw, "waves": "5,30%,100%"}))
        .await;
    // Kill Steward once the second wave is under way.
    f.wait_campaign(&id, 60, "the second wave to start", |p| {
        p["campaign"]["current_wave"].as_u64() == Some(1)
    })
    .await;
    f.gw.kill9();
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    let (http, mqtts) = (
        format!("127.0.0.1:{}", f.gw.http.port()),
        format!("127.0.0.1:{}", f.gw.mqtts.port()),
    );
    let data = f.gw.data.clone();
    let cfg = fleet::config("");
    f.gw =
        tokio::task::block_in_place(|| common::Gateway::start_on(&data, Some(&cfg), &http, &mqtts));
    let p = f
        .wait_campaign(&id, 90, "the campaign to complete after the restart", |p| {
            state(p) == "completed"
        })
        .await;
    let succeeded: u64 = p["waves"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["succeeded"].as_u64().unwrap())
        .sum();
    assert_eq!(succeeded, 60, "none forgotten: {p:#}");
    let mut installs = HashMap::new();
    for (i, h) in handles.iter().enumerate() {
        installs.insert(i, h.stats().installs);
    }
    assert!(
        installs.values().all(|n| *n == 1),
        "every device installed exactly once: {installs:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_uploads_get_clear_errors_and_the_server_lives_on() {
    let f = Fleet::start("plug", 1, "max_payload_bytes = 1048576\n").await;
    let post = |body: Vec<u8>| {
        let req = f
            .admin
            .post(f.url("/api/v1/firmware"))
            .bearer_auth(&f.gw.admin)
            .body(body);
        async move {
            let r = req.send().await.unwrap();
            (r.status().as_u16(), r.text().await.unwrap())
        }
    };
    let good = suit::build(
        &suit::BuildRequest {
            payload: b"x",
            vendor_id: fleet::VENDOR.parse().unwrap(),
            class_id: fleet::CLASS.parse().unwrap(),
            sequence_number: 1,
            uri: "https://acme.example/x",
            mud_url: None,
            mud_signer_ski: None,
        },
        &f.maker,
    )
    .unwrap();
    let mut deep = vec![0xd8, 0x6b, 0xa1, 0x03];
    deep.extend(std::iter::repeat_n(0x81u8, 100_000));
    deep.push(0);
    let mut wrong_tag = good.clone();
    wrong_tag[1] = 0x6c;
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("truncated", good[..good.len() / 2].to_vec(), "truncated"),
        ("wrong tag", wrong_tag, "wrong CBOR tag"),
        ("deep nesting", deep, "nesting deeper than"),
        (
            "huge length",
            vec![
                0xd8, 0x6b, 0xa1, 0x03, 0x5b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
            ],
            "claims",
        ),
        ("empty", Vec::new(), "truncated"),
        (
            "unknown critical parameter",
            manifest_with_unknown_parameter(&f.maker),
            "unknown parameter 99",
        ),
        (
            "payload not uploaded",
            good.clone(),
            "upload the payload first",
        ),
    ];
    for (name, body, expect) in cases {
        let (code, text) = post(body).await;
        assert!(code == 400 || code == 404, "{name}: {code} {text}");
        assert!(text.contains(expect), "{name}: {text}");
    }
    // A payload above the limit is refused while it streams in, with 413.
    let big = vec![0u8; 2 << 20];
    let r = f
        .admin
        .put(f.url(&format!("/api/v1/firmware/payloads/{}", sha256_hex(&big))))
        .bearer_auth(&f.gw.admin)
        .body(big)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 413);
    assert!(r.text().await.unwrap().contains("max_payload_bytes"));
    // A manifest claiming a huge image: refused at upload against the stored payload.
    let small = b"small".to_vec();
    let r = f
        .admin
        .put(f.url(&format!("/api/v1/firmware/payloads/{}", sha256_hex(&small))))
        .bearer_auth(&f.gw.admin)
        .body(small.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 201);
    let (code, text) = post(manifest_claiming_size(&f.maker, &small, 1 << 60)).await;
    assert_eq!(code, 400, "{text}");
    assert!(
        text.contains("claims an image of 1152921504606846976 bytes"),
        "{text}"
    );
    // Still serving.
    let h = f.get_json("/healthz").await;
    assert_eq!(h["status"], "ok");
}

/// A signed envelope whose shared sequence sets parameter 99, unknown to SUIT.
fn manifest_with_unknown_parameter(sk: &suit::SigningKey) -> Vec<u8> {
    let mut shared = suit::cbor::Enc::new();
    shared.array(2).int(20).map(1).int(99).uint(1);
    sign_manifest(sk, &shared.finish())
}

/// A signed single-image manifest with the payload's digest and a size claim.
fn manifest_claiming_size(sk: &suit::SigningKey, image: &[u8], size: u64) -> Vec<u8> {
    let vendor: uuid::Uuid = fleet::VENDOR.parse().unwrap();
    let class: uuid::Uuid = fleet::CLASS.parse().unwrap();
    let mut digest = suit::cbor::Enc::new();
    digest
        .array(2)
        .int(-16)
        .bytes(&hex::decode(sha256_hex(image)).unwrap());
    let digest = digest.finish();
    let mut shared = suit::cbor::Enc::new();
    shared
        .array(2)
        .int(20)
        .map(4)
        .int(1)
        .bytes(vendor.as_bytes())
        .int(2)
        .bytes(class.as_bytes())
        .int(3)
        .bytes(&digest)
        .int(14)
        .uint(size);
    sign_manifest(sk, &shared.finish())
}

fn sign_manifest(sk: &suit::SigningKey, shared: &[u8]) -> Vec<u8> {
    use suit::cbor::Enc;
    let mut c = Enc::new();
    c.map(2)
        .int(2)
        .array(1)
        .array(1)
        .bytes(&[0])
        .int(4)
        .bytes(shared);
    let common = c.finish();
    let mut m = Enc::new();
    m.map(3).int(1).uint(1).int(2).uint(1).int(3).bytes(&common);
    let manifest = m.finish();
    let mut mb = Enc::new();
    mb.bytes(&manifest);
    let manifest_bstr = mb.finish();
    let d = suit::SuitDigest::sha256(&manifest_bstr);
    let mut de = Enc::new();
    de.array(2).int(-16).bytes(&d.bytes);
    let digest_cbor = de.finish();
    let sig = suit::cose::sign1_detached(&digest_cbor, sk).unwrap();
    let mut a = Enc::new();
    a.array(2).bytes(&digest_cbor).bytes(&sig);
    let auth = a.finish();
    let mut e = Enc::new();
    e.tag(107)
        .map(2)
        .int(2)
        .bytes(&auth)
        .int(3)
        .raw(&manifest_bstr);
    e.finish()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pause_resume_abort_progress_events_and_support_tracking() {
    require("curl");
    let f = Fleet::start("gauge", 10, "").await;
    let (fw, _) = f.release(1, &payload(4096, 1), None);
    let _handles = f.agents_connected(|_, _| {}).await;
    let id = f
        .create_campaign(serde_json::json!({"firmware": fw, "waves": "2,100%"}))
        .await;
    let (code, body) = f
        .post_json(
            &format!("/api/v1/campaigns/{id}/pause"),
            serde_json::json!({}),
        )
        .await;
    assert_eq!(code, 200, "{body}");
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    let p = f.get_json(&format!("/api/v1/campaigns/{id}")).await;
    assert_eq!(state(&p), "paused");
    assert_eq!(
        p["waves"][1]["pending"], 8,
        "a paused campaign starts no wave: {p:#}"
    );
    let (code, body) = f
        .post_json(
            &format!("/api/v1/campaigns/{id}/pause"),
            serde_json::json!({}),
        )
        .await;
    assert_eq!(code, 409, "{body}");

    // Progress as server-sent events, read by curl until the stream ends.
    let url = f.url(&format!("/api/v1/campaigns/{id}/events"));
    let (ca, admin) = (f.ca(), f.gw.admin.clone());
    let sse = std::thread::spawn(move || {
        Command::new("curl")
            .args(["-sS", "-N", "--max-time", "60", "--cacert"])
            .arg(ca)
            .arg("-H")
            .arg(format!("Authorization: Bearer {admin}"))
            .arg(url)
            .output()
            .unwrap()
    });
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    let out = f.cli(&["campaign", "resume", &id]);
    assert!(out.status.success(), "{}", text(&out));
    let out = tokio::task::block_in_place(|| sse.join().unwrap());
    let events = String::from_utf8_lossy(&out.stdout).to_string();
    let progress: Vec<serde_json::Value> = events
        .lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .map(|d| serde_json::from_str(d).unwrap())
        .collect();
    assert!(events.contains("event: progress"), "{events}");
    assert_eq!(state(&progress[0]), "paused", "{events}");
    assert_eq!(state(progress.last().unwrap()), "completed", "{events}");
    // `campaign watch` on a finished campaign prints it and exits 0.
    let out = f.cli(&["campaign", "watch", &id]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("completed"), "{}", text(&out));

    // A newer release: everyone is out of date again; abort its campaign.
    let (fw2, _) = f.release(2, &payload(4096, 2), None);
    let outdated = f.get_json("/api/v1/devices?outdated=true").await;
    let list = outdated.as_array().unwrap();
    assert_eq!(list.len(), 10);
    assert_eq!(list[0]["installed_seq"], 1);
    assert_eq!(list[0]["latest_seq"], 2);
    assert_eq!(list[0]["out_of_support"], false);
    let id2 = f
        .create_campaign(serde_json::json!({"firmware": fw2, "waves": "1,100%"}))
        .await;
    let out = f.cli(&["campaign", "abort", &id2]);
    assert!(out.status.success(), "{}", text(&out));
    let (code, body) = f
        .post_json(
            &format!("/api/v1/campaigns/{id2}/resume"),
            serde_json::json!({}),
        )
        .await;
    assert_eq!(code, 409, "{body}");
    assert!(body.contains("aborted already"), "{body}");

    // Support ended: the devices are listed as out of support.
    let out = f.cli(&["firmware", "support", "gauge", "--until", "2001-02-03"]);
    assert!(out.status.success(), "{}", text(&out));
    let outdated = f.get_json("/api/v1/devices?outdated=true").await;
    assert!(
        outdated.as_array().unwrap().iter().all(
            |d| d["out_of_support"] == true && d["support_until"].as_f64() == Some(981244799.0)
        ),
        "{outdated:#}"
    );
    let out = f.cli(&["firmware", "support", "gauge", "--until", "yesterday"]);
    assert!(!out.status.success());
    assert!(text(&out).contains("YYYY-MM-DD"), "{}", text(&out));
}
