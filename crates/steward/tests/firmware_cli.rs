//! `steward firmware sign|verify|show` with keys made by the openssl tool.

mod common;

use std::process::Command;

use common::*;

fn steward(args: &[&str]) -> std::process::Output {
    Command::new(BIN).args(args).output().unwrap()
}

fn openssl(args: &[&str]) {
    let out = Command::new("openssl").args(args).output().unwrap();
    assert!(out.status.success(), "openssl {args:?}: {}", text(&out));
}

#[test]
fn sign_verify_show_for_es256_and_ed25519() {
    require("openssl");
    let tmp = tempfile::tempdir().unwrap();
    let p = |n: &str| tmp.path().join(n).display().to_string();
    std::fs::write(p("fw.bin"), vec![0xA5u8; 70_000]).unwrap();
    openssl(&[
        "genpkey",
        "-algorithm",
        "EC",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-out",
        &p("es.key"),
    ]);
    openssl(&["pkey", "-in", &p("es.key"), "-pubout", "-out", &p("es.pub")]);
    openssl(&["genpkey", "-algorithm", "ed25519", "-out", &p("ed.key")]);
    openssl(&["pkey", "-in", &p("ed.key"), "-pubout", "-out", &p("ed.pub")]);
    for alg in ["es", "ed"] {
        let suit = p(&format!("{alg}.suit"));
        let out = steward(&[
            "firmware",
            "sign",
            "--key",
            &p(&format!("{alg}.key")),
            "--payload",
            &p("fw.bin"),
            "--vendor-id",
            "fa6b4a53-d5ad-5fdf-be9d-e663e4d41ffe",
            "--class-id",
            "1492af14-2569-5e48-bf42-9b2d51f2ab45",
            "--seq",
            "7",
            "--uri",
            "https://updates.example/fw.bin",
            "--mud-url",
            "https://maker.example/lamp.json",
            "--out",
            &suit,
        ]);
        assert!(out.status.success(), "{alg}: {}", text(&out));
        let ok = steward(&[
            "firmware",
            "verify",
            &suit,
            "--key",
            &p(&format!("{alg}.pub")),
            "--payload",
            &p("fw.bin"),
        ]);
        assert!(ok.status.success(), "{alg}: {}", text(&ok));
        assert!(text(&ok).contains("valid"), "{}", text(&ok));

        // Wrong key, tampered envelope, different image: exit 1 with a reason.
        let other = if alg == "es" { "ed" } else { "es" };
        let bad_key = steward(&[
            "firmware",
            "verify",
            &suit,
            "--key",
            &p(&format!("{other}.pub")),
        ]);
        assert_eq!(bad_key.status.code(), Some(1), "{}", text(&bad_key));
        assert!(text(&bad_key).contains("invalid"));
        let mut bytes = std::fs::read(&suit).unwrap();
        let last = bytes.len() - 3;
        bytes[last] ^= 0x01;
        std::fs::write(p("tampered.suit"), &bytes).unwrap();
        let tampered = steward(&[
            "firmware",
            "verify",
            &p("tampered.suit"),
            "--key",
            &p(&format!("{alg}.pub")),
        ]);
        assert_eq!(tampered.status.code(), Some(1), "{}", text(&tampered));
        std::fs::write(p("other.bin"), b"not the image").unwrap();
        let mismatch = steward(&[
            "firmware",
            "verify",
            &suit,
            "--key",
            &p(&format!("{alg}.pub")),
            "--payload",
            &p("other.bin"),
        ]);
        assert_eq!(mismatch.status.code(), Some(1), "{}", text(&mismatch));
        assert!(
            text(&mismatch).contains("does not match"),
            "{}",
            text(&mismatch)
        );

        let show = steward(&["firmware", "show", &suit, "--json"]);
        assert!(show.status.success(), "{}", text(&show));
        let v: serde_json::Value = serde_json::from_slice(&show.stdout).unwrap();
        assert_eq!(v["sequence_number"], 7);
        assert_eq!(v["mud_url"], "https://maker.example/lamp.json");
        let human = steward(&["firmware", "show", &suit]);
        assert!(human.status.success());
    }
    // Garbage is an error, not a crash.
    std::fs::write(p("junk.suit"), b"\xd8\x6b\xa2\x02").unwrap();
    let junk = steward(&["firmware", "show", &p("junk.suit")]);
    assert!(!junk.status.success());
    assert!(!text(&junk).contains("panicked"), "{}", text(&junk));
}
