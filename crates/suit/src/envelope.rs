//! The SUIT envelope (draft-ietf-suit-manifest-33 §8.2, §8.3): the outer map,
//! the authentication wrapper, and the two entry points [`decode`] (structure
//! only, for `show`) and [`verify`] (signature first, then structure).
//!
//! The integrity chain, as the draft defines it:
//!
//! 1. `SUIT_Digest` in the authentication wrapper is computed over the
//!    **bstr-wrapped** manifest as it appears in the envelope — the byte-string
//!    head included (§8.3: "computed over the bstr-wrapped SUIT_Manifest").
//! 2. Each COSE_Sign1 authentication block signs, as a detached payload, the
//!    SUIT_Digest — the bytes inside the wrapper's first bstr (§8.3).
//! 3. Severable members in the envelope are checked against the digests the
//!    manifest holds for them (§8.4.6, §9), again over the bstr-wrapped member.

use crate::cbor::{Budget, Decoder, Limits, Value};
use crate::cose::{self, VerifyingKey};
use crate::decode::{self, Ctx, EnvelopeMembers};
use crate::error::SuitError;
use crate::manifest::{Manifest, SuitDigest, keys};

/// A decoded envelope. Obtain it from [`decode`] (unauthenticated!) or
/// [`verify`] (authenticated).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelope {
    /// The manifest digest from the authentication wrapper.
    pub digest: SuitDigest,
    /// The authentication blocks (COSE_Sign1_Tagged etc.), raw.
    pub auth_blocks: Vec<Vec<u8>>,
    pub manifest: Manifest,
    /// Integrated payloads (§7.5): text key → bytes.
    pub integrated_payloads: Vec<(String, Vec<u8>)>,
    /// Private-use (< -255) envelope elements, which are ignored. Unknown
    /// elements in the standards range are rejected instead.
    pub ignored_elements: Vec<i64>,
    /// Whether the manifest digest matched the manifest bytes.
    pub digest_matches: bool,
    /// Whether a signature was verified (only true from [`verify`]).
    pub authenticated: bool,
    /// The bstr-wrapped manifest exactly as in the envelope.
    pub manifest_bstr: Vec<u8>,
}

/// The outer structure, parsed but with the manifest still raw.
struct Outer<'a> {
    digest: SuitDigest,
    /// The bytes inside the wrapper's first bstr: the signed payload.
    digest_payload: &'a [u8],
    auth_blocks: Vec<&'a [u8]>,
    /// bstr-wrapped manifest, head included.
    manifest_raw: &'a [u8],
    /// The manifest content.
    manifest: &'a [u8],
    members: EnvelopeMembers<'a>,
    integrated_payloads: Vec<(String, Vec<u8>)>,
    ignored_elements: Vec<i64>,
}

fn borrowed<'a>(v: Value<'a>, path: &str) -> Result<&'a [u8], SuitError> {
    match v {
        Value::Bytes(std::borrow::Cow::Borrowed(b)) => Ok(b),
        Value::Bytes(_) => Err(SuitError::structure(
            path,
            "indefinite-length byte strings are not allowed here (the digest covers exact bytes)",
        )),
        other => Err(SuitError::structure(
            path,
            format!("expected a byte string, found a {}", other.kind()),
        )),
    }
}

fn outer<'a>(bytes: &'a [u8], budget: &Budget) -> Result<Outer<'a>, SuitError> {
    let mut d = Decoder::new(bytes, budget, 0)?;
    match d.peek_tag()? {
        Some(keys::TAG_ENVELOPE) => {}
        Some(t) => {
            return Err(SuitError::WrongTag {
                expected: keys::TAG_ENVELOPE,
                what: "SUIT_Envelope_Tagged",
                found: format!("tag {t}"),
            });
        }
        None => {
            return Err(SuitError::WrongTag {
                expected: keys::TAG_ENVELOPE,
                what: "SUIT_Envelope_Tagged",
                found: "no tag".into(),
            });
        }
    }
    let len = d.map_head().map_err(|e| match e {
        SuitError::Malformed { at, .. } => SuitError::Malformed {
            at,
            reason: "the SUIT envelope must be a map",
        },
        other => other,
    })?;
    let mut seen = std::collections::BTreeSet::new();
    let mut auth_raw = None;
    let mut manifest_raw = None;
    let mut members = EnvelopeMembers {
        payload_fetch: None,
        install: None,
        text: None,
    };
    let mut integrated_payloads = Vec::new();
    let mut ignored_elements = Vec::new();
    let mut read = 0u64;
    while !d.map_end(len, read)? {
        read += 1;
        let key = d.value()?;
        let (val, raw) = d.value_with_raw()?;
        match &key {
            Value::Text(t) => {
                // Integrated payload (§7.5).
                let b = borrowed(val, "envelope.integrated-payload")?;
                if integrated_payloads.iter().any(|(k, _)| k == t.as_ref()) {
                    return Err(SuitError::DuplicateKey {
                        path: "envelope".into(),
                        key: t.to_string(),
                    });
                }
                integrated_payloads.push((t.to_string(), b.to_vec()));
                continue;
            }
            k => {
                let k = decode::int_key(k, "envelope")?;
                if !seen.insert(k) {
                    return Err(SuitError::DuplicateKey {
                        path: "envelope".into(),
                        key: k.to_string(),
                    });
                }
                match k {
                    keys::ENV_AUTHENTICATION_WRAPPER => {
                        auth_raw = Some(borrowed(val, "envelope.authentication-wrapper")?)
                    }
                    keys::ENV_MANIFEST => {
                        manifest_raw = Some((raw, borrowed(val, "envelope.manifest")?))
                    }
                    keys::PAYLOAD_FETCH => {
                        borrowed(val, "envelope.payload-fetch")?;
                        members.payload_fetch = Some(raw)
                    }
                    keys::INSTALL => {
                        borrowed(val, "envelope.install")?;
                        members.install = Some(raw)
                    }
                    keys::TEXT => {
                        borrowed(val, "envelope.text")?;
                        members.text = Some(raw)
                    }
                    keys::ENV_DELEGATION => {
                        return Err(SuitError::structure(
                            "envelope.delegation",
                            "delegation chains (label 1, reserved) are not supported",
                        ));
                    }
                    // Private-use elements are outside the standard: ignore them.
                    other if other < keys::CUSTOM_BELOW => ignored_elements.push(other),
                    // Anything else in the standards range is an element this
                    // processor does not support (§6.1); carrying it unauthenticated
                    // beside the manifest is refused rather than silently ignored.
                    other => {
                        return Err(SuitError::UnknownElement {
                            path: "envelope".into(),
                            key: other,
                        });
                    }
                }
            }
        }
    }
    if !d.is_empty() {
        return Err(SuitError::TrailingBytes { at: d.pos() });
    }
    let auth = auth_raw.ok_or_else(|| {
        SuitError::structure("envelope", "authentication wrapper (key 2) is missing")
    })?;
    let (manifest_raw, manifest) = manifest_raw
        .ok_or_else(|| SuitError::structure("envelope", "manifest (key 3) is missing"))?;

    // SUIT_Authentication = [ bstr .cbor SUIT_Digest, * bstr .cbor SUIT_Authentication_Block ]
    let path = "envelope.authentication-wrapper";
    let av = Decoder::new(auth, budget, 2)?.single()?;
    let Value::Array(items) = av else {
        return Err(SuitError::structure(path, "expected an array"));
    };
    let mut it = items.into_iter();
    let first = it
        .next()
        .ok_or_else(|| SuitError::structure(path, "the SUIT_Digest is missing"))?;
    let digest_payload = borrowed(first, path)?;
    let dv = Decoder::new(digest_payload, budget, 4)?.single()?;
    let digest = decode::digest(&dv, "envelope.authentication-wrapper.digest")?;
    let auth_blocks = it
        .map(|b| borrowed(b, "envelope.authentication-wrapper.block"))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Outer {
        digest,
        digest_payload,
        auth_blocks,
        manifest_raw,
        manifest,
        members,
        integrated_payloads,
        ignored_elements,
    })
}

fn finish(o: Outer<'_>, budget: &Budget, authenticated: bool) -> Result<Envelope, SuitError> {
    let ctx = Ctx { budget };
    let digest_matches = o.digest.matches(o.manifest_raw);
    let manifest = decode::manifest(&ctx, o.manifest, &o.members)?;
    Ok(Envelope {
        digest: o.digest,
        auth_blocks: o.auth_blocks.iter().map(|b| b.to_vec()).collect(),
        manifest,
        integrated_payloads: o.integrated_payloads,
        ignored_elements: o.ignored_elements,
        digest_matches,
        authenticated,
        manifest_bstr: o.manifest_raw.to_vec(),
    })
}

/// Decode an envelope **without** authenticating it: for display (`show`) and
/// diagnostics only. Never act on the result; use [`verify`].
pub fn decode(bytes: &[u8]) -> Result<Envelope, SuitError> {
    decode_with_limits(bytes, Limits::default())
}

/// [`decode`] with explicit resource limits.
pub fn decode_with_limits(bytes: &[u8], limits: Limits) -> Result<Envelope, SuitError> {
    let budget = Budget::new(limits);
    let o = outer(bytes, &budget)?;
    finish(o, &budget, false)
}

/// Authenticate an envelope with `key`, then decode its manifest.
///
/// Order follows draft §6.2 ("verify the signature of the manifest prior to
/// parsing/executing any section of the manifest"): the outer structure is
/// parsed, the manifest digest recomputed over the bstr-wrapped manifest, an
/// authentication block verified over the digest, and only then the manifest
/// decoded. Succeeds when at least one COSE_Sign1 block verifies with `key`.
pub fn verify(bytes: &[u8], key: &VerifyingKey) -> Result<Envelope, SuitError> {
    verify_with_limits(bytes, key, Limits::default())
}

/// [`verify`] with explicit resource limits.
pub fn verify_with_limits(
    bytes: &[u8],
    key: &VerifyingKey,
    limits: Limits,
) -> Result<Envelope, SuitError> {
    let budget = Budget::new(limits);
    let o = outer(bytes, &budget)?;
    if !o.digest.matches(o.manifest_raw) {
        return Err(SuitError::DigestMismatch {
            what: "the manifest does not match the digest in the authentication wrapper".into(),
        });
    }
    if o.auth_blocks.is_empty() {
        return Err(SuitError::NoSignature);
    }
    let mut last = SuitError::NoSignature;
    let mut ok = false;
    for block in &o.auth_blocks {
        match cose::verify_sign1(block, b"", Some(o.digest_payload), key) {
            Ok(()) => {
                ok = true;
                break;
            }
            Err(e) => last = e,
        }
    }
    if !ok {
        return Err(last);
    }
    finish(o, &budget, true)
}
