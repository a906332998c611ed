#![no_main]
//! Fuzz the SUIT envelope decoder and everything that reads untrusted bytes:
//! the bounded CBOR decoder, envelope decode + summary (JSON and text), verify
//! with the draft's public key, and the COSE_Sign1 parser. No input may panic.

use libfuzzer_sys::fuzz_target;

/// The public key printed in draft-ietf-suit-manifest (shared/vectors/suit/public_key.pem).
const DRAFT_KEY: &str = "-----BEGIN PUBLIC KEY-----
MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEhJaBGq4LqqvSYVcYnuzaJr6qi/Eb
bz/m4rVlnIXbwK07HypLbAmBMcCjbazR14vTgdzfsJwFLbM5kdtzOLSolg==
-----END PUBLIC KEY-----
";

fuzz_target!(|data: &[u8]| {
    let _ = suit::cbor::decode(data);
    let _ = suit::cose::parse_sign1(data);
    if let Ok(env) = suit::decode(data) {
        let summary = env.summary();
        let _ = serde_json::to_string(&summary);
        let _ = summary.to_string();
        let _ = env.check_payload(data);
    }
    if let Ok(key) = suit::VerifyingKey::from_public_key_pem(DRAFT_KEY)
        && let Ok(env) = suit::verify(data, &key)
    {
        // Anything that verifies must also decode to the same manifest.
        let decoded = suit::decode(data).expect("verified envelope decodes");
        assert_eq!(decoded.manifest, env.manifest);
    }
});
