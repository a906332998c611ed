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
use fleet::{Fleet, payload};

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
