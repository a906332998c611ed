//! `cargo bench -p mud`: files/s for parse + validate + compile over a corpus of
//! real-sized files (tens of ACEs, many DNS names), and signature verifications/s.
//! A plain `harness = false` bench that prints its figures (no extra dependencies).

use mud::builder::{Allow, NewMud};
use mud::signature::{TrustAnchors, VerifyOptions, verify};
use mud::{ParseOptions, compile, parse};
use std::hint::black_box;
use std::time::{Duration, Instant};

fn vectors() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/vectors/mud")
}

/// A synthetic maker file: `n` allowed destinations, each a DNS name, so 4n ACEs
/// (from/to, v4/v6).
fn corpus_file(n: usize) -> Vec<u8> {
    let mut m = NewMud::new(
        "https://mud.maker.example/bench.json",
        time::OffsetDateTime::UNIX_EPOCH,
    );
    m.mfg_name = Some("Maker".into());
    for i in 0..n {
        let spec = match i % 4 {
            0 => format!("tcp/{}@svc{i}.api.maker.example", 443 + i),
            1 => format!("udp/{}@ntp{i}.maker.example", 123 + i),
            2 => format!("in:tcp/{}@local-networks", 8000 + i),
            _ => format!("udp/{}@my-controller", 5683 + i),
        };
        m.allow.push(spec.parse::<Allow>().expect("bench spec"));
    }
    m.build().expect("bench file").to_json_bytes()
}

fn rate(label: &str, mut f: impl FnMut()) {
    // Warm up, then run for about two seconds.
    for _ in 0..10 {
        f();
    }
    let start = Instant::now();
    let mut n = 0u64;
    while start.elapsed() < Duration::from_secs(2) {
        f();
        n += 1;
    }
    let secs = start.elapsed().as_secs_f64();
    println!(
        "{label:<58} {:>10.0} /s  ({:.1} µs each)",
        n as f64 / secs,
        secs * 1e6 / n as f64
    );
}

fn main() {
    let opts = ParseOptions::default();
    let mut corpus: Vec<(String, Vec<u8>)> = Vec::new();
    for n in [10, 25, 50] {
        corpus.push((
            format!("synthetic, {n} allows ({} ACEs)", 4 * n),
            corpus_file(n),
        ));
    }
    let lum = std::fs::read(vectors().join("cisco-luminaire/Luminaire_150.json")).expect("vector");
    corpus.push(("cisco luminaire (6 ACEs)".into(), lum.clone()));
    for (label, bytes) in &corpus {
        rate(
            &format!("parse+validate+compile: {label}, {} B", bytes.len()),
            || {
                let p = parse(black_box(bytes), &opts).expect("valid");
                black_box(compile(&p.file).expect("compiles"));
            },
        );
    }
    let sig = std::fs::read(vectors().join("cisco-luminaire/Luminaire_150.p7s")).expect("vector");
    let ca = std::fs::read(vectors().join("cisco-luminaire/luminaire-cacert.pem")).expect("vector");
    let anchors = TrustAnchors::from_pem(&ca).expect("ca");
    let at = time::macros::datetime!(2019-01-01 00:00:00 UTC);
    let v = VerifyOptions {
        anchors: &anchors,
        at,
        expected_signer: None,
    };
    rate("signature verification (ECDSA P-256, luminaire)", || {
        black_box(verify(black_box(&lum), &sig, &v).expect("verifies"));
    });
}
