//! Firmware download over CoAP/DTLS-PSK end to end: the real gateway, a release
//! and a campaign made with the real CLI and API (`common/updates.rs`), and
//! Debian's libcoap `coap-client` fetching `/fw/{sha256}` block-wise (Block2,
//! RFC 7959) with the device's PSK.

#[path = "common/coap.rs"]
mod coap_support;
mod common;
#[path = "common/updates.rs"]
mod fleet;

use coap_support::*;
use common::*;
use fleet::{Fleet, payload, state};

fn sha256_hex(b: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(b))
}

/// Run a blocking client call from the test's runtime.
fn blocking<T>(f: impl FnOnce() -> T) -> T {
    tokio::task::block_in_place(f)
}

fn assert_code(r: &CoapReply, code: &str) {
    assert_eq!(r.code.as_deref(), Some(code), "expected {code}: {}", r.text);
}

/// GET `path` as this device, in one go.
fn get(gw: &Gateway, id: &str, key: &str, path: &str) -> CoapReply {
    blocking(|| coap(gw, id, key, &["-m", "get"], path))
}

/// The response has this code and its diagnostic payload says `why`.
fn refused(r: &CoapReply, code: &str, why: &str) {
    assert_code(r, code);
    assert!(r.text.contains(why), "expected `{why}`: {}", r.text);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offered_payload_downloads_block_wise_and_nothing_else_does() {
    require(COAP_CLIENT);
    let mut f = Fleet::start("valve", 1, "").await;
    let image = payload(100_000, 3);
    let digest = sha256_hex(&image);
    let (fw, _) = f.release(2, &image, None);
    let d0 = f.devices[0].id.clone();
    let key0 = blocking(|| psk(&f.gw, &d0));
    let fw_path = format!("/fw/{digest}");

    // Discovery lists the collection.
    refused(
        &get(&f.gw, &d0, &key0, "/.well-known/core"),
        "2.05",
        "</fw>;rt=\"steward.firmware\"",
    );
    // Held by the gateway but offered by no campaign yet: 4.04 naming the digest.
    refused(
        &get(&f.gw, &d0, &key0, &fw_path),
        "4.04",
        &format!("no campaign offers firmware payload {digest} to device {d0}"),
    );

    f.create_campaign(serde_json::json!({"firmware": fw, "waves": "100%"}))
        .await;
    // A device added after the campaign is offered nothing.
    f.add_devices(1).await;
    let d1 = f.devices[1].id.clone();
    let key1 = blocking(|| psk(&f.gw, &d1));

    // `-b [num,]size` to a file; the 2.05 and the bytes.
    let dir = tempfile::tempdir().unwrap();
    let download = |block: &str, wire: &str| {
        let out = dir.path().join(format!("fw-{block}.bin"));
        let r = blocking(|| get_blocks(&f.gw, &d0, &key0, block, &fw_path, &out));
        refused(&r, "2.05", wire);
        std::fs::read(&out).unwrap()
    };
    // The whole payload in 512-byte blocks, as the client asks (late negotiation,
    // RFC 7959 §2.4), then in 64-byte blocks (1,563 of them).
    for (block, wire) in [("512", "Block2:1/M/512"), ("64", "Block2:1562/_/64")] {
        let got = download(block, wire);
        assert_eq!(got.len(), image.len(), "-b {block}");
        assert_eq!(sha256_hex(&got), digest, "-b {block}");
    }
    // One block by number (random access, RFC 7959 §2.2): block 1200 of 64 bytes.
    let got = download("1200,64", "Block2:1200/M/64");
    assert!(
        got == image[1200 * 64..1201 * 64],
        "block 1200 differs from bytes 76800..76864 of the payload"
    );

    // Another device's PSK does not get a payload offered only to the first.
    refused(
        &get(&f.gw, &d1, &key1, &fw_path),
        "4.04",
        &format!("to device {d1}"),
    );
    // A digest nobody offers (and the gateway does not hold): 4.04 naming it.
    let other = sha256_hex(b"not a release");
    refused(
        &get(&f.gw, &d0, &key0, &format!("/fw/{other}")),
        "4.04",
        &other,
    );
    // Not a digest: 4.00 naming it. Another method: 4.05.
    refused(
        &get(&f.gw, &d0, &key0, "/fw/latest"),
        "4.00",
        "`latest` is not a payload digest",
    );
    let r = blocking(|| coap(&f.gw, &d0, &key0, &["-m", "delete"], &fw_path));
    refused(&r, "4.05", "use GET");
}

/// The device's row in the campaign (state, notices).
async fn device_row(f: &Fleet, campaign: &str, device: &str) -> serde_json::Value {
    f.devices_of(campaign)
        .await
        .into_iter()
        .find(|d| d["device_id"] == device)
        .unwrap_or_else(|| panic!("device {device} is not in campaign {campaign}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn coap_device_pulls_its_notice_downloads_verifies_and_reports() {
    require(COAP_CLIENT);
    let mut f = Fleet::start("meter", 1, "").await;
    let image = payload(5_000, 9);
    let digest = sha256_hex(&image);
    let (fw, _) = f.release(3, &image, None);
    let d0 = f.devices[0].id.clone();
    let key0 = blocking(|| psk(&f.gw, &d0));
    let dir = tempfile::tempdir().unwrap();
    let file = |name: &str| dir.path().join(name);

    // Discovery lists both resources; before any campaign there is no notice.
    let wk = get(&f.gw, &d0, &key0, "/.well-known/core");
    refused(&wk, "2.05", "</update>;rt=\"steward.update\"");
    refused(&wk, "2.05", "</update/status>;rt=\"steward.update.status\"");
    refused(
        &get(&f.gw, &d0, &key0, "/update"),
        "4.04",
        "no update for this device",
    );

    let campaign = f
        .create_campaign(serde_json::json!({"firmware": fw, "waves": "100%"}))
        .await;
    f.wait_campaign(&campaign, 30, "the wave to start", |p| {
        p["waves"][0]["notified"] == 1
    })
    .await;
    // A device added since is in no campaign: 4.04 with the diagnostic.
    f.add_devices(1).await;
    let d1 = f.devices[1].id.clone();
    let key1 = blocking(|| psk(&f.gw, &d1));
    refused(
        &get(&f.gw, &d1, &key1, "/update"),
        "4.04",
        "no update for this device",
    );

    // GET /update: the MQTT notice's fields, the payload URL on CoAP; the
    // answer counts as a delivered notice.
    let before = device_row(&f, &campaign, &d0).await["notices"]
        .as_u64()
        .unwrap();
    let r = blocking(|| get_to(&f.gw, &d0, &key0, &[], "/update", &file("notice.json")));
    assert_code(&r, "2.05");
    let notice: serde_json::Value =
        serde_json::from_slice(&std::fs::read(file("notice.json")).unwrap()).unwrap();
    assert_eq!(notice["campaign"], campaign.as_str(), "{notice}");
    assert_eq!(notice["firmware"], digest.as_str(), "{notice}");
    assert_eq!(notice["seq"], 3, "{notice}");
    let url = format!("coaps://localhost:{}/fw/{digest}", f.gw.coaps.port());
    assert_eq!(notice["url"], url.as_str(), "{notice}");
    let row = device_row(&f, &campaign, &d0).await;
    assert_eq!(row["state"], "notified", "{row}");
    assert!(
        row["notices"].as_u64().unwrap() > before,
        "the GET was not recorded as a notice: {row}"
    );

    // The envelope verifies with the maker's key, against the payload
    // downloaded in 512-byte blocks from the notice's URL.
    use base64::Engine;
    let envelope = base64::engine::general_purpose::STANDARD
        .decode(notice["envelope"].as_str().unwrap())
        .unwrap();
    std::fs::write(file("notice.suit"), &envelope).unwrap();
    let path = url
        .strip_prefix(&format!("coaps://localhost:{}", f.gw.coaps.port()))
        .unwrap();
    let r = blocking(|| get_blocks(&f.gw, &d0, &key0, "512", path, &file("fw.bin")));
    refused(&r, "2.05", "Block2:9/_/512");
    let got = std::fs::read(file("fw.bin")).unwrap();
    assert_eq!(sha256_hex(&got), digest);
    let verify = blocking(|| {
        std::process::Command::new(BIN)
            .args(["firmware", "verify", "--key"])
            .arg(&f.maker_pub)
            .arg("--payload")
            .arg(file("fw.bin"))
            .arg(file("notice.suit"))
            .output()
            .unwrap()
    });
    assert!(verify.status.success(), "verify: {}", text(&verify));

    // The same notice in CBOR (Accept 60), the envelope as a byte string.
    let r = blocking(|| {
        get_to(
            &f.gw,
            &d0,
            &key0,
            &["-A", "60"],
            "/update",
            &file("notice.cbor"),
        )
    });
    assert_code(&r, "2.05");
    let cbor = std::fs::read(file("notice.cbor")).unwrap();
    let suit::cbor::Value::Map(entries) = suit::cbor::decode(&cbor).unwrap() else {
        panic!("the CBOR notice is not a map");
    };
    assert!(
        entries
            .iter()
            .any(|(k, v)| *k == suit::cbor::Value::Text("envelope".into())
                && *v == suit::cbor::Value::Bytes(envelope.clone().into())),
        "{entries:?}"
    );

    // Malformed reports: 4.00 saying why, and nothing changes.
    for (bad, why) in [
        ("not json", "update status is not a status report"),
        (
            &*format!(r#"{{"campaign":"{campaign}","state":"done"}}"#),
            "update status state `done`",
        ),
        (
            &*format!(r#"{{"campaign":"{campaign}","state":"notified"}}"#),
            "update status state `notified`",
        ),
        (
            r#"{"campaign":"no-such-campaign","state":"downloading"}"#,
            "is not in campaign no-such-campaign",
        ),
    ] {
        let r = blocking(|| post_status(&f.gw, &d0, &key0, bad));
        refused(&r, "4.00", why);
    }
    let row = device_row(&f, &campaign, &d0).await;
    assert_eq!(row["state"], "notified", "{row}");

    // Progress, each acknowledged with 2.04 once stored.
    for state in ["downloading", "installing", "succeeded"] {
        let report = format!(r#"{{"campaign":"{campaign}","state":"{state}"}}"#);
        let r = blocking(|| post_status(&f.gw, &d0, &key0, &report));
        assert_code(&r, "2.04");
        let row = device_row(&f, &campaign, &d0).await;
        assert_eq!(row["state"], state, "{row}");
    }
    let p = f
        .wait_campaign(&campaign, 30, "the campaign to complete", |p| {
            state(p) == "completed"
        })
        .await;
    assert_eq!(p["waves"][0]["succeeded"], 1, "{p:#}");
    // Done: no notice any more; a late report is refused and changes nothing.
    refused(
        &get(&f.gw, &d0, &key0, "/update"),
        "4.04",
        "no update for this device",
    );
    let late = format!(r#"{{"campaign":"{campaign}","state":"downloading"}}"#);
    refused(
        &blocking(|| post_status(&f.gw, &d0, &key0, &late)),
        "4.00",
        "nothing changed",
    );
    let row = device_row(&f, &campaign, &d0).await;
    assert_eq!(row["state"], "succeeded", "{row}");
}
