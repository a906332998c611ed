//! Shared helpers for the integration tests: where the public vectors live and
//! how to read them. Paths are relative to this crate, never absolute.

#![allow(dead_code)]

use std::path::PathBuf;

/// `../shared/vectors` beside the project root.
pub fn vectors() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/vectors")
}

pub fn read(rel: &str) -> Vec<u8> {
    let p = vectors().join(rel);
    std::fs::read(&p).unwrap_or_else(|e| panic!("cannot read vector {}: {e}", p.display()))
}

pub fn read_str(rel: &str) -> String {
    String::from_utf8(read(rel)).expect("vector is UTF-8")
}

/// The signed envelope of a suit-wg example: the hex block after the last
/// "Envelope with COSE authentication object:" heading of `exampleN.txt`.
pub fn suit_example(n: usize) -> Vec<u8> {
    let txt = read_str(&format!("suit/example{n}.txt"));
    let start = txt
        .rfind("Envelope with COSE authentication object:")
        .expect("heading present");
    let rest = &txt[start..];
    let open = rest.find("~~~").expect("code block opens") + 3;
    let close = rest[open..].find("~~~").expect("code block closes") + open;
    let hex: String = rest[open..close]
        .chars()
        .filter(|c| c.is_ascii_hexdigit())
        .collect();
    hex::decode(hex).expect("hex")
}

pub const EXAMPLES: std::ops::Range<usize> = 0..6;

pub fn suit_public_key() -> suit::VerifyingKey {
    suit::VerifyingKey::from_public_key_pem(&read_str("suit/public_key.pem")).expect("public key")
}

pub fn suit_private_key() -> suit::SigningKey {
    suit::SigningKey::from_pem(&read_str("suit/private_key.pem")).expect("private key")
}
