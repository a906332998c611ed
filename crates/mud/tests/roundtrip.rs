//! A maker's path: `new` → `sign` → `check --signature`, with a CA and signer made
//! in the test; and every way the result must then fail.

use mud::builder::{Allow, NewMud};
use mud::signature::{SignatureError, sign};
use mud::{CheckOptions, SignatureStatus, TrustAnchors, UnsignedPolicy, check};
use time::OffsetDateTime;

mod common;

fn new_file() -> Vec<u8> {
    let mut n = NewMud::new(
        "https://mud.maker.example/thermo-1.json",
        OffsetDateTime::now_utc(),
    );
    n.mfg_name = Some("Maker".into());
    n.model_name = Some("Thermo 1".into());
    n.systeminfo = Some("A thermostat".into());
    n.allow = [
        "tcp/443@api.maker.example",
        "udp/123@pool.ntp.org",
        "in:tcp/80@local-networks",
        "udp/5683@my-controller",
    ]
    .iter()
    .map(|s| s.parse::<Allow>().unwrap())
    .collect();
    n.build().unwrap().to_json_bytes()
}

fn opts(sig: Vec<u8>, ca: &common::Pki) -> CheckOptions {
    CheckOptions {
        signature: Some(sig),
        anchors: TrustAnchors::from_pem(&ca.cert_pem).unwrap(),
        ..Default::default()
    }
}

#[test]
fn new_sign_check_passes() {
    let ca = common::ca("Maker");
    let signer = common::signer(&ca, "mud.maker.example");
    let file = new_file();
    let sig = sign(&file, &signer.cert_pem, &signer.key_pem, None).unwrap();
    let r = check(&file, &opts(sig.clone(), &ca));
    assert!(r.valid, "{}", r.to_text());
    assert!(r.warnings.is_empty(), "{:#?}", r.warnings);
    match &r.signature {
        SignatureStatus::Verified(i) => {
            assert_eq!(i.signer_subject, "O=Maker, CN=mud.maker.example")
        }
        other => panic!("{other:?}"),
    }
    let s = r.summary.join("\n");
    assert!(
        s.contains("may open TCP connections to api.maker.example port 443"),
        "{s}"
    );
    assert!(
        s.contains("may accept TCP connections from the local networks on its port 80"),
        "{s}"
    );
    assert!(s.contains("may send UDP to pool.ntp.org port 123"), "{s}");
    // The report serialises for `--json`.
    let j = serde_json::to_value(&r).unwrap();
    assert_eq!(j["valid"], true);
    assert!(j["policy"]["rules"].as_array().unwrap().len() >= 8);
    // Strict mode agrees.
    let strict = CheckOptions {
        parse: mud::ParseOptions::strict(),
        ..opts(sig, &ca)
    };
    assert!(check(&file, &strict).valid);
}

#[test]
fn tampering_fails() {
    let ca = common::ca("Maker");
    let signer = common::signer(&ca, "mud.maker.example");
    let file = new_file();
    let sig = sign(&file, &signer.cert_pem, &signer.key_pem, None).unwrap();
    // A port changed from 443 to 444.
    let text = String::from_utf8(file.clone()).unwrap();
    let tampered = text.replacen("443", "444", 1).into_bytes();
    assert_ne!(tampered, file);
    let r = check(&tampered, &opts(sig.clone(), &ca));
    assert!(!r.valid);
    assert_eq!(r.signature_error, Some(SignatureError::ContentMismatch));
    // A flipped byte in the signature.
    let mut bad_sig = sig.clone();
    let n = bad_sig.len();
    bad_sig[n - 5] ^= 0x40;
    assert!(!check(&file, &opts(bad_sig, &ca)).valid);
    // Garbage instead of a signature.
    let r = check(&file, &opts(b"not a signature".to_vec(), &ca));
    assert!(
        matches!(r.signature_error, Some(SignatureError::Malformed(_))),
        "{:?}",
        r.signature_error
    );
    // Another CA.
    let other = common::ca("Impostor");
    let r = check(&file, &opts(sig, &other));
    assert!(
        matches!(r.signature_error, Some(SignatureError::Untrusted(_))),
        "{:?}",
        r.signature_error
    );
}

#[test]
fn signer_chain_and_validity() {
    let root = common::ca("Maker Root");
    let signer = common::signer(&root, "mud.maker.example");
    let file = new_file();
    // The chain may be embedded; the root alone is the anchor.
    let sig = sign(
        &file,
        &signer.cert_pem,
        &signer.key_pem,
        Some(&root.cert_pem),
    )
    .unwrap();
    assert!(check(&file, &opts(sig, &root)).valid);
    // An expired signer certificate fails now; at an injected time inside
    // its validity (and its CA's) it passes.
    let old_root = common::ca_between("Old Maker", 1_400_000_000, 1_700_000_000);
    let old = common::signer_between(&old_root, "old.maker.example", 1_500_000_000, 1_600_000_000);
    let sig = sign(&file, &old.cert_pem, &old.key_pem, None).unwrap();
    let r = check(&file, &opts(sig.clone(), &old_root));
    assert!(
        matches!(
            r.signature_error,
            Some(SignatureError::CertificateExpired { .. })
        ),
        "{:?}",
        r.signature_error
    );
    let then = time::OffsetDateTime::from_unix_timestamp(1_550_000_000).unwrap();
    let r = check(
        &file,
        &CheckOptions {
            at: Some(then),
            ..opts(sig, &old_root)
        },
    );
    assert!(r.valid, "{}", r.to_text());
    // A key that does not match the certificate is refused when signing.
    let other = common::signer(&root, "x.maker.example");
    assert!(matches!(
        sign(&file, &signer.cert_pem, &other.key_pem, None),
        Err(SignatureError::Sign(_))
    ));
}

#[test]
fn unsigned_is_rejected_unless_allowed_for_that_maker() {
    let file = new_file();
    let r = check(&file, &CheckOptions::default());
    assert!(!r.valid);
    assert_eq!(r.signature_error, Some(SignatureError::Missing));
    let r = check(
        &file,
        &CheckOptions {
            unsigned: UnsignedPolicy::AllowMakers(vec!["other.example".into()]),
            ..Default::default()
        },
    );
    assert!(!r.valid);
    let r = check(
        &file,
        &CheckOptions {
            unsigned: UnsignedPolicy::AllowMakers(vec!["MUD.maker.example".into()]),
            ..Default::default()
        },
    );
    assert!(r.valid, "{}", r.to_text());
    assert_eq!(r.signature, SignatureStatus::UnsignedAllowed);
    assert!(r.warnings.iter().any(|w| w.message.contains("not signed")));
    assert!(check(&file, &CheckOptions::unsigned_ok()).valid);
}
