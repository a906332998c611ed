//! The crate's one error type. Every variant says what was wrong and, where it
//! helps, where (byte offset or manifest path) and what to do.

use thiserror::Error;

/// Everything that can go wrong decoding, verifying or building a SUIT envelope.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SuitError {
    // --- CBOR well-formedness and resource bounds (RFC 8949) ---
    #[error("input ends inside a CBOR item at byte {at}: the envelope is truncated")]
    Truncated { at: usize },
    #[error("malformed CBOR at byte {at}: {reason}")]
    Malformed { at: usize, reason: &'static str },
    #[error(
        "CBOR item at byte {at} claims {claimed} bytes or items but only {remaining} bytes remain: truncated or forged length"
    )]
    LengthExceedsInput {
        at: usize,
        claimed: u64,
        remaining: usize,
    },
    #[error(
        "CBOR nesting deeper than {limit} levels (counting bstr-wrapped CBOR): refusing a possible CBOR bomb"
    )]
    TooDeep { limit: usize },
    #[error("more than {limit} CBOR items: refusing a possible CBOR bomb")]
    TooManyItems { limit: usize },
    #[error("input of {len} bytes is larger than the limit of {limit} bytes")]
    TooLarge { len: usize, limit: usize },
    #[error("unexpected trailing bytes after the CBOR item ending at byte {at}")]
    TrailingBytes { at: usize },

    // --- SUIT structure (draft-ietf-suit-manifest) ---
    #[error("wrong CBOR tag: expected tag {expected} ({what}), found {found}")]
    WrongTag {
        expected: u64,
        what: &'static str,
        found: String,
    },
    #[error("invalid SUIT structure at {path}: {reason}")]
    Structure { path: String, reason: String },
    #[error("duplicate key {key} in {path}")]
    DuplicateKey { path: String, key: String },
    #[error(
        "unsupported manifest version {0}: only version 1 (draft-ietf-suit-manifest) is supported"
    )]
    UnsupportedVersion(u64),
    #[error(
        "unknown element {key} in {path}: a manifest with elements this processor does not understand is rejected (draft-ietf-suit-manifest §6.1)"
    )]
    UnknownElement { path: String, key: i64 },
    #[error(
        "unknown parameter {key} in {path}: unsupported parameters make the manifest invalid (draft-ietf-suit-manifest §6.1)"
    )]
    UnknownParameter { path: String, key: i64 },
    #[error(
        "unknown command {code} in {path}: unknown conditions and directives must fail (draft-ietf-suit-manifest §8.4.9)"
    )]
    UnknownCommand { path: String, code: i64 },
    #[error("unsupported digest algorithm {0} (supported: -16 SHA-256, -43 SHA-384, -44 SHA-512)")]
    UnsupportedDigestAlgorithm(i64),

    // --- integrity and authenticity ---
    #[error("digest mismatch: {what}")]
    DigestMismatch { what: String },
    #[error("the envelope has no COSE_Sign1 authentication block to verify")]
    NoSignature,
    #[error("COSE structure invalid: {0}")]
    Cose(String),
    #[error("unsupported COSE algorithm {0} (supported: ES256 (-7), EdDSA (-8))")]
    UnsupportedAlgorithm(String),
    #[error(
        "COSE header marks {0} as critical, which this verifier does not understand (RFC 9052 §3.1)"
    )]
    UnsupportedCritical(String),
    #[error("signature algorithm {alg} does not match the {key} key given")]
    AlgorithmKeyMismatch { alg: String, key: String },
    #[error("signature does not verify with the given key")]
    BadSignature,
    #[error("key error: {0}")]
    Key(String),
    #[error("payload does not match the manifest: {0}")]
    PayloadMismatch(String),

    // --- building ---
    #[error("cannot build envelope: {0}")]
    Build(String),
}

impl SuitError {
    pub(crate) fn structure(path: impl Into<String>, reason: impl Into<String>) -> Self {
        SuitError::Structure {
            path: path.into(),
            reason: reason.into(),
        }
    }
}
