//! Hostile and broken input: truncation, wrong tags, unknown critical things,
//! CBOR bombs, and every malformed item of the RFC 8949 test vectors. Each must
//! give a typed error, never a panic, with bounded memory.

mod common;

use suit::cbor::{Enc, Limits};
use suit::{SigningKey, SuitError};

fn good() -> Vec<u8> {
    common::suit_example(1)
}

#[test]
fn every_truncation_of_every_example_is_rejected() {
    for n in common::EXAMPLES {
        let bytes = common::suit_example(n);
        for len in 0..bytes.len() {
            let r = suit::decode(&bytes[..len]);
            assert!(
                matches!(
                    r,
                    Err(SuitError::Truncated { .. } | SuitError::LengthExceedsInput { .. })
                ),
                "example{n} cut at {len}: {r:?}"
            );
        }
    }
}

#[test]
fn trailing_bytes_are_rejected() {
    let mut b = good();
    b.push(0x00);
    assert!(matches!(
        suit::decode(&b),
        Err(SuitError::TrailingBytes { .. })
    ));
}

#[test]
fn wrong_or_missing_tag_is_rejected() {
    let b = good();
    // d8 6b -> d8 6c (tag 108)
    let mut wrong = b.clone();
    wrong[1] = 0x6c;
    assert!(matches!(
        suit::decode(&wrong),
        Err(SuitError::WrongTag { expected: 107, .. })
    ));
    // No tag at all.
    assert!(matches!(
        suit::decode(&b[2..]),
        Err(SuitError::WrongTag { expected: 107, .. })
    ));
    // Tag 107 around something that is not a map.
    assert!(matches!(
        suit::decode(&[0xd8, 0x6b, 0x80]),
        Err(SuitError::Malformed { .. })
    ));
}

/// Build a signed envelope around an arbitrary manifest, so that structural
/// checks are reached after a valid signature (the order of §6.2).
fn envelope_with_manifest(manifest: &[u8], sk: &SigningKey) -> Vec<u8> {
    let mut mb = Enc::new();
    mb.bytes(manifest);
    let manifest_bstr = mb.finish();
    let digest = suit::SuitDigest::sha256(&manifest_bstr);
    let mut d = Enc::new();
    d.array(2).int(-16).bytes(&digest.bytes);
    let digest_cbor = d.finish();
    let sig = suit::cose::sign1_detached(&digest_cbor, sk).expect("sign");
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

/// A manifest with one component and the given shared sequence and extra members.
fn manifest(shared: &[u8], extra: &[(i64, Vec<u8>)]) -> Vec<u8> {
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
    m.map(3 + extra.len())
        .int(1)
        .uint(1)
        .int(2)
        .uint(5)
        .int(3)
        .bytes(&common);
    for (k, v) in extra {
        m.int(*k).raw(v);
    }
    m.finish()
}

fn seq(build: impl FnOnce(&mut Enc)) -> Vec<u8> {
    let mut e = Enc::new();
    build(&mut e);
    e.finish()
}

fn shared_ok() -> Vec<u8> {
    seq(|e| {
        e.array(4)
            .int(20)
            .map(1)
            .int(1)
            .bytes(&[0x11; 16])
            .int(1)
            .uint(15);
    })
}

fn bstr(b: &[u8]) -> Vec<u8> {
    let mut e = Enc::new();
    e.bytes(b);
    e.finish()
}

#[test]
fn a_hand_built_manifest_verifies_so_the_negative_cases_below_are_meaningful() {
    let sk = SigningKey::ed25519_from_seed(&[5; 32]);
    let env = envelope_with_manifest(&manifest(&shared_ok(), &[]), &sk);
    suit::verify(&env, &sk.verifying_key()).expect("baseline verifies");
}

#[test]
fn unknown_critical_things_are_rejected_after_authentication() {
    let sk = SigningKey::ed25519_from_seed(&[5; 32]);
    let vk = sk.verifying_key();

    // Unknown parameter 99 in the shared sequence.
    let shared = seq(|e| {
        e.array(2).int(20).map(1).int(99).uint(1);
    });
    let r = suit::verify(&envelope_with_manifest(&manifest(&shared, &[]), &sk), &vk);
    assert!(
        matches!(r, Err(SuitError::UnknownParameter { key: 99, .. })),
        "{r:?}"
    );

    // Unknown command 77.
    let shared = seq(|e| {
        e.array(2).int(77).uint(15);
    });
    let r = suit::verify(&envelope_with_manifest(&manifest(&shared, &[]), &sk), &vk);
    assert!(
        matches!(r, Err(SuitError::UnknownCommand { code: 77, .. })),
        "{r:?}"
    );

    // Unknown manifest element 42.
    let r = suit::verify(
        &envelope_with_manifest(&manifest(&shared_ok(), &[(42, bstr(b"x"))]), &sk),
        &vk,
    );
    assert!(
        matches!(r, Err(SuitError::UnknownElement { key: 42, .. })),
        "{r:?}"
    );

    // A private-use manifest element is ignored, a custom parameter is a hint.
    let install = bstr(&seq(|e| {
        e.array(2).int(20).map(1).int(-300).uint(1);
    }));
    let env = suit::verify(
        &envelope_with_manifest(
            &manifest(&shared_ok(), &[(20, install), (-999, bstr(b""))]),
            &sk,
        ),
        &vk,
    )
    .expect("custom things are allowed");
    assert_eq!(env.manifest.ignored_custom_elements, vec![-999]);

    // But custom commands are not allowed in the shared sequence (§6.2).
    let shared = seq(|e| {
        e.array(2).int(-300).uint(0);
    });
    let r = suit::verify(&envelope_with_manifest(&manifest(&shared, &[]), &sk), &vk);
    assert!(matches!(r, Err(SuitError::Structure { .. })), "{r:?}");

    // Nor directives with side effects (fetch) in the shared sequence.
    let shared = seq(|e| {
        e.array(2).int(21).uint(2);
    });
    let r = suit::verify(&envelope_with_manifest(&manifest(&shared, &[]), &sk), &vk);
    assert!(matches!(r, Err(SuitError::Structure { .. })), "{r:?}");

    // Manifest version 2.
    let mut m = Enc::new();
    m.map(1).int(1).uint(2);
    let r = suit::verify(&envelope_with_manifest(&m.finish(), &sk), &vk);
    assert_eq!(r, Err(SuitError::UnsupportedVersion(2)));

    // Component index out of range.
    let shared = seq(|e| {
        e.array(2).int(12).uint(3);
    });
    let r = suit::verify(&envelope_with_manifest(&manifest(&shared, &[]), &sk), &vk);
    assert!(matches!(r, Err(SuitError::Structure { .. })), "{r:?}");

    // Duplicate keys in the manifest map.
    let mut m = Enc::new();
    m.map(2).int(1).uint(1).int(1).uint(1);
    let r = suit::verify(&envelope_with_manifest(&m.finish(), &sk), &vk);
    assert!(matches!(r, Err(SuitError::DuplicateKey { .. })), "{r:?}");

    // Unknown digest algorithm in an image digest.
    let shared = seq(|e| {
        let mut d = Enc::new();
        d.array(2).int(-99).bytes(&[0; 32]);
        e.array(2).int(20).map(1).int(3).bytes(&d.finish());
    });
    let r = suit::verify(&envelope_with_manifest(&manifest(&shared, &[]), &sk), &vk);
    assert_eq!(r, Err(SuitError::UnsupportedDigestAlgorithm(-99)));
}

#[test]
fn unknown_envelope_element_and_unauthenticated_members_are_rejected() {
    let b = good();
    // Re-encode example1's envelope with an extra element 99.
    let env = suit::decode(&b).expect("decode");
    let _ = env;
    let mut e = Enc::new();
    // a2 -> a3 and append 99: h''
    let mut v = b.clone();
    v[2] = 0xa3;
    e.raw(&v).int(99).bytes(b"");
    let r = suit::decode(&e.finish());
    assert!(
        matches!(r, Err(SuitError::UnknownElement { key: 99, .. })),
        "{r:?}"
    );

    // An install member in the envelope that the manifest does not reference.
    let mut v = b.clone();
    v[2] = 0xa3;
    let mut e = Enc::new();
    e.raw(&v).int(16).bytes(&[0x82, 0x03, 0x0f]);
    let r = suit::decode(&e.finish());
    assert!(matches!(r, Err(SuitError::Structure { .. })), "{r:?}");
}

#[test]
fn missing_signature_and_bad_digest_are_typed() {
    let sk = SigningKey::ed25519_from_seed(&[5; 32]);
    let mut mb = Enc::new();
    mb.bytes(&manifest(&shared_ok(), &[]));
    let manifest_bstr = mb.finish();
    let digest = suit::SuitDigest::sha256(&manifest_bstr);
    let mut d = Enc::new();
    d.array(2).int(-16).bytes(&digest.bytes);
    let mut a = Enc::new();
    a.array(1).bytes(&d.finish());
    let mut e = Enc::new();
    e.tag(107)
        .map(2)
        .int(2)
        .bytes(&a.finish())
        .int(3)
        .raw(&manifest_bstr);
    let bytes = e.finish();
    assert_eq!(
        suit::verify(&bytes, &sk.verifying_key()),
        Err(SuitError::NoSignature)
    );
    let d = suit::decode(&bytes).expect("decodes without a signature");
    assert!(d.digest_matches && !d.authenticated);
}

#[test]
fn cbor_bombs_are_refused_quickly() {
    // 1. Deep nesting inside the envelope map.
    let mut e = Enc::new();
    e.tag(107).map(1).int(3);
    let mut deep = vec![0x81u8; 10_000];
    deep.push(0x00);
    e.raw(&deep);
    assert!(matches!(
        suit::decode(&e.finish()),
        Err(SuitError::TooDeep { .. })
    ));

    // 2. Deep nesting through bstr-wrapped CBOR (try-each in try-each ...).
    let mut inner = seq(|e| {
        e.array(2).int(1).uint(15);
    });
    for _ in 0..40 {
        inner = seq(|e| {
            e.array(2).int(15).array(1).bytes(&inner);
        });
    }
    let sk = SigningKey::ed25519_from_seed(&[5; 32]);
    let install = bstr(&inner);
    let r = suit::verify(
        &envelope_with_manifest(&manifest(&shared_ok(), &[(20, install)]), &sk),
        &sk.verifying_key(),
    );
    assert!(matches!(r, Err(SuitError::TooDeep { .. })), "{r:?}");

    // 3. Huge claimed lengths: bstr of 2^64-1 bytes, array of 2^32 items, map of 2^62 pairs.
    for tail in [
        &[0x5b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff][..],
        &[0x9a, 0xff, 0xff, 0xff, 0xff][..],
        &[0xbb, 0x40, 0, 0, 0, 0, 0, 0, 0][..],
        &[0x7a, 0x10, 0, 0, 0][..],
    ] {
        let mut e = Enc::new();
        e.tag(107).map(1).int(3).raw(tail);
        let r = suit::decode(&e.finish());
        assert!(
            matches!(r, Err(SuitError::LengthExceedsInput { .. })),
            "{r:?}"
        );
    }

    // 4. Huge payload size claim in a manifest is just a number: it decodes, and
    //    check_payload refuses a payload of another size instead of allocating.
    let shared = seq(|e| {
        let mut d = Enc::new();
        d.array(2).int(-16).bytes(&[0; 32]);
        e.array(4)
            .int(20)
            .map(2)
            .int(3)
            .bytes(&d.finish())
            .int(14)
            .uint(u64::MAX)
            .int(1)
            .uint(15);
    });
    let env = suit::verify(
        &envelope_with_manifest(&manifest(&shared, &[]), &sk),
        &sk.verifying_key(),
    )
    .expect("decodes");
    assert!(matches!(
        env.check_payload(b"small"),
        Err(SuitError::PayloadMismatch(_))
    ));

    // 5. Item-count bomb: a wide flat array within the size limit, tighter limits.
    let mut e = Enc::new();
    e.tag(107).map(1).int(3).array(60_000);
    for _ in 0..60_000 {
        e.uint(0);
    }
    let limits = Limits {
        max_items: 10_000,
        ..Limits::default()
    };
    let r = suit::decode_with_limits(&e.finish(), limits);
    assert!(matches!(r, Err(SuitError::TooManyItems { .. })), "{r:?}");

    // 6. Oversized input.
    let big = vec![0u8; (4 << 20) + 1];
    assert!(matches!(
        suit::decode(&big),
        Err(SuitError::TooLarge { .. })
    ));
}

/// `bad.cbor` is a CBOR map {"title", "description", "fail": true, "tests":
/// [{"description", "encoded": bstr}, ...]} (cbor-wg/cbor-test-vectors,
/// README.upstream.md). Every `encoded` item is malformed CBOR.
#[test]
fn every_rfc8949_bad_item_is_rejected_by_the_decoder_and_the_envelope_parser() {
    use suit::cbor::Value;
    let file = common::read("cbor/bad.cbor");
    let top = suit::cbor::decode(&file).expect("bad.cbor itself is well-formed");
    let Value::Map(pairs) = top else {
        panic!("bad.cbor: top level is not a map")
    };
    let tests = pairs
        .iter()
        .find(|(k, _)| *k == Value::Text("tests".into()))
        .map(|(_, v)| v)
        .expect("tests");
    let Value::Array(tests) = tests else {
        panic!("tests is not an array")
    };
    // bad.edn lists 47 items; the CBOR file must carry them all.
    assert_eq!(tests.len(), 47, "expected the full list");
    for t in tests {
        let Value::Map(fields) = t else {
            panic!("test is not a map")
        };
        let get = |name: &str| {
            fields
                .iter()
                .find(|(k, _)| *k == Value::Text(name.into()))
                .map(|(_, v)| v.clone())
        };
        let desc = match get("description") {
            Some(Value::Text(d)) => d.to_string(),
            _ => "?".into(),
        };
        let Some(Value::Bytes(encoded)) = get("encoded") else {
            panic!("{desc}: no encoded bytes")
        };
        let r = suit::cbor::decode(&encoded);
        assert!(
            r.is_err(),
            "{desc}: {} decoded as {r:?}",
            hex::encode(&*encoded)
        );
        // The same bytes as the manifest member of an envelope, and as a whole
        // envelope, fail too (and do not panic).
        assert!(suit::decode(&encoded).is_err(), "{desc}");
        let mut e = Enc::new();
        e.tag(107).map(1).int(3).raw(&encoded);
        assert!(suit::decode(&e.finish()).is_err(), "{desc}");
        assert!(suit::cose::parse_sign1(&encoded).is_err(), "{desc}");
    }
}
