//! `cargo bench -p suit`: envelope verifications per second on one core, for the
//! draft's example 1 (ES256) and for envelopes we build (ES256, EdDSA), plus
//! decode-only and build+sign rates. Plain `harness = false` timing loop: each
//! case runs for about a second after a warm-up and prints ops/s.
//!
//! Set `SUIT_BENCH_SECS` to change the time per case (e.g. 0.1 for a smoke run).

use std::hint::black_box;
use std::time::{Duration, Instant};

use suit::{BuildRequest, SigningKey, VerifyingKey};

fn secs() -> Duration {
    let s = std::env::var("SUIT_BENCH_SECS")
        .ok()
        .and_then(|v| v.parse::<f64>().ok())
        .unwrap_or(1.0);
    Duration::from_secs_f64(s.max(0.01))
}

fn run(name: &str, mut f: impl FnMut()) {
    for _ in 0..10 {
        f();
    }
    let budget = secs();
    let start = Instant::now();
    let mut n = 0u64;
    while start.elapsed() < budget {
        for _ in 0..16 {
            f();
        }
        n += 16;
    }
    let el = start.elapsed().as_secs_f64();
    println!(
        "{name:<44} {:>10.0} ops/s  ({:>8.1} µs/op, {n} ops)",
        n as f64 / el,
        el * 1e6 / n as f64
    );
}

fn example1() -> (Vec<u8>, VerifyingKey) {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/vectors/suit");
    let txt = std::fs::read_to_string(format!("{dir}/example1.txt")).expect("example1.txt");
    let start = txt
        .rfind("Envelope with COSE authentication object:")
        .expect("heading");
    let rest = &txt[start..];
    let open = rest.find("~~~").expect("block") + 3;
    let close = rest[open..].find("~~~").expect("block end") + open;
    let hex: String = rest[open..close]
        .chars()
        .filter(char::is_ascii_hexdigit)
        .collect();
    let pem = std::fs::read_to_string(format!("{dir}/public_key.pem")).expect("public_key.pem");
    (
        hex::decode(hex).expect("hex"),
        VerifyingKey::from_public_key_pem(&pem).expect("key"),
    )
}

fn main() {
    println!("suit envelope benchmark (single thread)");
    let (ex1, ex1_key) = example1();
    run("verify draft example1 (ES256)", || {
        black_box(suit::verify(black_box(&ex1), &ex1_key).expect("verifies"));
    });
    run("decode draft example1 (no signature check)", || {
        black_box(suit::decode(black_box(&ex1)).expect("decodes"));
    });

    let payload = vec![0x5au8; 64 * 1024];
    let req = BuildRequest {
        payload: &payload,
        vendor_id: uuid::Uuid::from_bytes([1; 16]),
        class_id: uuid::Uuid::from_bytes([2; 16]),
        sequence_number: 42,
        uri: "https://fw.example.com/image.bin",
        mud_url: Some("https://mud.example.com/device.json"),
        mud_signer_ski: None,
    };
    for (name, sk) in [
        (
            "ES256",
            SigningKey::es256_from_bytes(&[0x42; 32]).expect("key"),
        ),
        ("EdDSA", SigningKey::ed25519_from_seed(&[0x24; 32])),
    ] {
        let env = suit::build(&req, &sk).expect("build");
        let vk = sk.verifying_key();
        run(&format!("verify built envelope ({name})"), || {
            black_box(suit::verify(black_box(&env), &vk).expect("verifies"));
        });
        run(&format!("build + sign, 64 KiB payload ({name})"), || {
            black_box(suit::build(black_box(&req), &sk).expect("build"));
        });
    }
}
