//! Build → sign → decode → verify round trips, for both algorithms.

mod common;

use suit::{BuildRequest, SigningKey, SuitDigest, SuitError};
use uuid::Uuid;

const VENDOR: &str = "fa6b4a53-d5ad-5fdf-be9d-e663e4d41ffe";
const CLASS: &str = "1492af14-2569-5e48-bf42-9b2d51f2ab45";

fn request<'a>(payload: &'a [u8], mud: Option<&'a str>) -> BuildRequest<'a> {
    BuildRequest {
        payload,
        vendor_id: Uuid::parse_str(VENDOR).expect("uuid"),
        class_id: Uuid::parse_str(CLASS).expect("uuid"),
        sequence_number: 1_700_000_000,
        uri: "https://fw.example.com/lamp/v2.bin",
        mud_url: mud,
        mud_signer_ski: None,
    }
}

fn keys() -> Vec<(&'static str, SigningKey)> {
    vec![
        (
            "ES256",
            SigningKey::es256_from_bytes(&[0x42; 32]).expect("p256"),
        ),
        ("EdDSA", SigningKey::ed25519_from_seed(&[0x24; 32])),
        ("ES256 (draft key)", common::suit_private_key()),
    ]
}

#[test]
fn build_sign_decode_verify_round_trip() {
    let payload: Vec<u8> = (0..5000u32).map(|i| (i * 7 % 251) as u8).collect();
    for (name, sk) in keys() {
        for mud in [None, Some("https://mud.example.com/lamp-v2.json")] {
            let bytes = suit::build(&request(&payload, mud), &sk).expect("build");
            let env = suit::verify(&bytes, &sk.verifying_key())
                .unwrap_or_else(|e| panic!("{name}: own envelope does not verify: {e}"));
            assert!(env.authenticated, "{name}");
            assert_eq!(env.manifest.sequence_number, 1_700_000_000);
            env.check_payload(&payload).expect("payload matches");
            // Typed access, as the gateway's update service uses it.
            let p = &env.parameters()[0];
            assert_eq!(
                p.vendor_id,
                Some(suit::manifest::VendorId::Uuid(
                    Uuid::parse_str(VENDOR).expect("uuid")
                ))
            );
            assert_eq!(p.class_id, Some(Uuid::parse_str(CLASS).expect("uuid")));
            assert_eq!(p.image_size, Some(payload.len() as u64));
            assert_eq!(env.sequence_number(), 1_700_000_000);
            assert_eq!(env.mud_url(), mud);
            let s = env.summary();
            assert_eq!(s.mud_url.as_deref(), mud, "{name}");
            let c = &s.components[0];
            assert_eq!(c.params.vendor_id.as_deref(), Some(VENDOR));
            assert_eq!(c.params.class_id.as_deref(), Some(CLASS));
            assert_eq!(c.params.image_size, Some(payload.len() as u64));
            assert_eq!(
                c.params.uri.as_deref(),
                Some("https://fw.example.com/lamp/v2.bin")
            );
            assert_eq!(
                c.params.image_digest.as_ref().map(|d| d.hex.clone()),
                Some(SuitDigest::sha256(&payload).hex())
            );
            assert_eq!(s.signatures[0].alg.as_deref(), Some(sk.algorithm().name()));

            // Another key of the same or the other algorithm refuses it.
            let other = SigningKey::es256_from_bytes(&[0x43; 32])
                .expect("p256")
                .verifying_key();
            assert!(suit::verify(&bytes, &other).is_err(), "{name}");
            let other = SigningKey::ed25519_from_seed(&[0x25; 32]).verifying_key();
            assert!(suit::verify(&bytes, &other).is_err(), "{name}");

            // A different payload is refused with a reason.
            let mut tampered = payload.clone();
            tampered[100] ^= 1;
            assert!(matches!(
                env.check_payload(&tampered),
                Err(SuitError::PayloadMismatch(_))
            ));
            assert!(matches!(
                env.check_payload(&payload[..4999]),
                Err(SuitError::PayloadMismatch(_))
            ));
        }
    }
}

#[test]
fn built_envelopes_are_deterministic_for_es256_and_eddsa() {
    // RFC 6979 ECDSA and Ed25519 are both deterministic: same input, same bytes.
    for (name, sk) in keys() {
        let a = suit::build(&request(b"fw", None), &sk).expect("build");
        let b = suit::build(&request(b"fw", None), &sk).expect("build");
        assert_eq!(a, b, "{name}");
    }
}

#[test]
fn every_flipped_byte_of_a_built_envelope_fails() {
    for (name, sk) in keys().into_iter().take(2) {
        let good = suit::build(
            &request(b"firmware", Some("https://mud.example.com/x.json")),
            &sk,
        )
        .expect("build");
        let vk = sk.verifying_key();
        for i in 0..good.len() {
            let mut bad = good.clone();
            bad[i] ^= 0x01;
            assert!(suit::verify(&bad, &vk).is_err(), "{name}: byte {i}");
        }
    }
}

#[test]
fn keys_round_trip_through_pem() {
    for (name, sk) in keys() {
        let pem = sk.to_pkcs8_pem().expect("pem");
        let back = SigningKey::from_pem(&pem).expect("parse");
        assert_eq!(back.verifying_key(), sk.verifying_key(), "{name}");
        let pub_pem = sk.verifying_key().to_public_key_pem().expect("pub pem");
        let vk = suit::VerifyingKey::from_public_key_pem(&pub_pem).expect("parse pub");
        assert_eq!(vk, sk.verifying_key(), "{name}");
    }
    assert!(matches!(
        SigningKey::from_pem("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"),
        Err(SuitError::Key(_))
    ));
    assert!(matches!(
        suit::VerifyingKey::from_public_key_pem("not a key"),
        Err(SuitError::Key(_))
    ));
}

#[test]
fn build_rejects_empty_uri_and_ski_without_url() {
    let sk = SigningKey::ed25519_from_seed(&[1; 32]);
    let mut r = request(b"x", None);
    r.uri = "";
    assert!(matches!(suit::build(&r, &sk), Err(SuitError::Build(_))));
    let mut r = request(b"x", None);
    r.mud_signer_ski = Some(SuitDigest::sha256(b"key"));
    assert!(matches!(suit::build(&r, &sk), Err(SuitError::Build(_))));
    let mut r = request(b"x", Some("https://mud.example.com/m.json"));
    r.mud_signer_ski = Some(SuitDigest::sha256(b"key"));
    let env =
        suit::verify(&suit::build(&r, &sk).expect("build"), &sk.verifying_key()).expect("verify");
    assert_eq!(
        env.summary().mud_signer_ski.map(|d| d.hex),
        Some(SuitDigest::sha256(b"key").hex())
    );
}

#[test]
fn summary_serialises_to_json_and_prints() {
    let sk = SigningKey::ed25519_from_seed(&[3; 32]);
    let bytes = suit::build(
        &request(b"abc", Some("https://mud.example.com/m.json")),
        &sk,
    )
    .expect("build");
    let s = suit::decode(&bytes).expect("decode").summary();
    let json = serde_json::to_value(&s).expect("json");
    assert_eq!(json["sequence_number"], 1_700_000_000u64);
    assert_eq!(json["authenticated"], false);
    assert_eq!(json["components"][0]["vendor_id"], VENDOR);
    assert_eq!(json["mud_url"], "https://mud.example.com/m.json");
    let text = s.to_string();
    assert!(text.contains("NOT verified"), "{text}");
    assert!(
        text.contains("uri:          https://fw.example.com/lamp/v2.bin"),
        "{text}"
    );
    for n in common::EXAMPLES {
        // Every draft example renders both ways.
        let s = suit::decode(&common::suit_example(n))
            .expect("decode")
            .summary();
        serde_json::to_string(&s).expect("json");
        assert!(s.to_string().contains("component 0"));
    }
}
