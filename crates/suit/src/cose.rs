//! COSE_Sign1 (RFC 9052 §4.2) verification and signing, over `coset` structures
//! and RustCrypto signatures: ES256 (P-256 + SHA-256, `p256`) and EdDSA
//! (Ed25519, `ed25519-dalek`).
//!
//! Keys come from PEM: public keys as SPKI (`PUBLIC KEY`), private keys as PKCS#8
//! (`PRIVATE KEY`) or, for P-256, SEC1 (`EC PRIVATE KEY`).
//!
//! Subtle points, each tested against the cose-wg Examples vectors:
//! - Only tag 18 (COSE_Sign1_Tagged) or no tag is accepted; any other tag is a
//!   different structure and fails (`sign-fail-01`).
//! - An empty protected header map is carried as a zero-length bstr in the
//!   Sig_structure, whatever bytes the message used for it (RFC 9052 §3: "the
//!   empty map is encoded as a zero-length byte string"); `sign-pass-01` carries
//!   `h'A0'` yet was signed over `h''`.
//! - `alg` is taken from the protected header, else the unprotected one, and must
//!   match the key type; a `crit` header naming anything is refused (we understand
//!   no extension header as critical).
//! - ECDSA signatures are the 64-byte `r || s` form (RFC 9053 §2.1), not DER.

use coset::iana::{self, EnumI64};
use coset::{
    Algorithm, CborSerializable, CoseSign1, CoseSign1Builder, HeaderBuilder, ProtectedHeader,
    RegisteredLabelWithPrivate, SignatureContext, TaggedCborSerializable, sig_structure_data,
};
use ed25519_dalek::pkcs8::{DecodePrivateKey as _, DecodePublicKey as _};
use p256::ecdsa::signature::{Signer as _, Verifier as _};

use crate::cbor::{Budget, Decoder, Limits, Value};
use crate::error::SuitError;

/// COSE tag for COSE_Sign1 (RFC 9052 §2).
pub const TAG_COSE_SIGN1: u64 = 18;

/// A signature algorithm this crate supports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum SigAlgorithm {
    /// ECDSA with P-256 and SHA-256, COSE alg -7.
    #[serde(rename = "ES256")]
    Es256,
    /// EdDSA with Ed25519, COSE alg -8.
    #[serde(rename = "EdDSA")]
    EdDsa,
}

impl SigAlgorithm {
    pub fn cose_id(self) -> i64 {
        match self {
            SigAlgorithm::Es256 => iana::Algorithm::ES256.to_i64(),
            SigAlgorithm::EdDsa => iana::Algorithm::EdDSA.to_i64(),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            SigAlgorithm::Es256 => "ES256",
            SigAlgorithm::EdDsa => "EdDSA",
        }
    }

    fn from_cose(alg: &Algorithm) -> Result<Self, SuitError> {
        match alg {
            RegisteredLabelWithPrivate::Assigned(iana::Algorithm::ES256) => Ok(SigAlgorithm::Es256),
            RegisteredLabelWithPrivate::Assigned(iana::Algorithm::EdDSA) => Ok(SigAlgorithm::EdDsa),
            RegisteredLabelWithPrivate::Assigned(a) => Err(SuitError::UnsupportedAlgorithm(
                format!("{a:?} ({})", a.to_i64()),
            )),
            RegisteredLabelWithPrivate::PrivateUse(n) => {
                Err(SuitError::UnsupportedAlgorithm(n.to_string()))
            }
            RegisteredLabelWithPrivate::Text(t) => {
                Err(SuitError::UnsupportedAlgorithm(format!("{t:?}")))
            }
        }
    }
}

impl std::fmt::Display for SigAlgorithm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// A public key that verifies COSE_Sign1 signatures (a maker's trust anchor).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VerifyingKey {
    Es256(p256::ecdsa::VerifyingKey),
    EdDsa(ed25519_dalek::VerifyingKey),
}

impl VerifyingKey {
    /// Parse an SPKI `-----BEGIN PUBLIC KEY-----` PEM (P-256 or Ed25519).
    pub fn from_public_key_pem(pem: &str) -> Result<Self, SuitError> {
        if let Ok(k) = p256::ecdsa::VerifyingKey::from_public_key_pem(pem) {
            return Ok(VerifyingKey::Es256(k));
        }
        ed25519_dalek::VerifyingKey::from_public_key_pem(pem)
            .map(VerifyingKey::EdDsa)
            .map_err(|_| {
                SuitError::Key(
                    "not a P-256 or Ed25519 public key in SPKI PEM (-----BEGIN PUBLIC KEY-----)"
                        .into(),
                )
            })
    }

    /// Parse a DER SubjectPublicKeyInfo (P-256 or Ed25519).
    pub fn from_public_key_der(der: &[u8]) -> Result<Self, SuitError> {
        if let Ok(k) = p256::ecdsa::VerifyingKey::from_public_key_der(der) {
            return Ok(VerifyingKey::Es256(k));
        }
        ed25519_dalek::VerifyingKey::from_public_key_der(der)
            .map(VerifyingKey::EdDsa)
            .map_err(|_| SuitError::Key("not a P-256 or Ed25519 SubjectPublicKeyInfo".into()))
    }

    /// A P-256 key from its affine coordinates (as in a JWK or COSE_Key).
    pub fn es256_from_coordinates(x: &[u8], y: &[u8]) -> Result<Self, SuitError> {
        if x.len() != 32 || y.len() != 32 {
            return Err(SuitError::Key(
                "P-256 coordinates must be 32 bytes each".into(),
            ));
        }
        let point = p256::EncodedPoint::from_affine_coordinates(x.into(), y.into(), false);
        p256::ecdsa::VerifyingKey::from_encoded_point(&point)
            .map(VerifyingKey::Es256)
            .map_err(|_| SuitError::Key("P-256 coordinates are not a point on the curve".into()))
    }

    /// The PEM (SPKI) form, for storing a trust anchor.
    pub fn to_public_key_pem(&self) -> Result<String, SuitError> {
        use p256::pkcs8::{EncodePublicKey as _, LineEnding};
        let r = match self {
            VerifyingKey::Es256(k) => k.to_public_key_pem(LineEnding::LF),
            VerifyingKey::EdDsa(k) => {
                ed25519_dalek::pkcs8::EncodePublicKey::to_public_key_pem(k, LineEnding::LF)
            }
        };
        r.map_err(|e| SuitError::Key(format!("cannot encode public key: {e}")))
    }

    pub fn algorithm(&self) -> SigAlgorithm {
        match self {
            VerifyingKey::Es256(_) => SigAlgorithm::Es256,
            VerifyingKey::EdDsa(_) => SigAlgorithm::EdDsa,
        }
    }

    fn verify_raw(&self, tbs: &[u8], sig: &[u8]) -> Result<(), SuitError> {
        match self {
            VerifyingKey::Es256(k) => {
                let s =
                    p256::ecdsa::Signature::from_slice(sig).map_err(|_| SuitError::BadSignature)?;
                k.verify(tbs, &s).map_err(|_| SuitError::BadSignature)
            }
            VerifyingKey::EdDsa(k) => {
                let s = ed25519_dalek::Signature::from_slice(sig)
                    .map_err(|_| SuitError::BadSignature)?;
                k.verify_strict(tbs, &s)
                    .map_err(|_| SuitError::BadSignature)
            }
        }
    }
}

/// A private key that signs envelopes (held by a device maker).
#[derive(Clone)]
pub enum SigningKey {
    Es256(p256::ecdsa::SigningKey),
    EdDsa(ed25519_dalek::SigningKey),
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SigningKey({}, <secret>)", self.algorithm())
    }
}

impl SigningKey {
    /// Parse a PKCS#8 `PRIVATE KEY` PEM (P-256 or Ed25519) or a SEC1
    /// `EC PRIVATE KEY` PEM (P-256).
    pub fn from_pem(pem: &str) -> Result<Self, SuitError> {
        if let Ok(k) = p256::ecdsa::SigningKey::from_pkcs8_pem(pem) {
            return Ok(SigningKey::Es256(k));
        }
        if let Ok(k) = ed25519_dalek::SigningKey::from_pkcs8_pem(pem) {
            return Ok(SigningKey::EdDsa(k));
        }
        if let Ok(k) = p256::SecretKey::from_sec1_pem(pem) {
            return Ok(SigningKey::Es256(k.into()));
        }
        Err(SuitError::Key(
            "not a P-256 or Ed25519 private key in PKCS#8 (-----BEGIN PRIVATE KEY-----) or SEC1 (-----BEGIN EC PRIVATE KEY-----) PEM".into(),
        ))
    }

    /// A P-256 key from its 32-byte scalar (for tests and key generation by the caller).
    pub fn es256_from_bytes(scalar: &[u8; 32]) -> Result<Self, SuitError> {
        p256::ecdsa::SigningKey::from_slice(scalar)
            .map(SigningKey::Es256)
            .map_err(|_| SuitError::Key("not a valid P-256 scalar".into()))
    }

    /// An Ed25519 key from its 32-byte seed.
    pub fn ed25519_from_seed(seed: &[u8; 32]) -> Self {
        SigningKey::EdDsa(ed25519_dalek::SigningKey::from_bytes(seed))
    }

    /// The PKCS#8 PEM form.
    pub fn to_pkcs8_pem(&self) -> Result<String, SuitError> {
        use p256::pkcs8::{EncodePrivateKey as _, LineEnding};
        let r = match self {
            SigningKey::Es256(k) => k.to_pkcs8_pem(LineEnding::LF),
            SigningKey::EdDsa(k) => {
                ed25519_dalek::pkcs8::EncodePrivateKey::to_pkcs8_pem(k, LineEnding::LF)
            }
        };
        r.map(|z| z.to_string())
            .map_err(|e| SuitError::Key(format!("cannot encode private key: {e}")))
    }

    pub fn algorithm(&self) -> SigAlgorithm {
        match self {
            SigningKey::Es256(_) => SigAlgorithm::Es256,
            SigningKey::EdDsa(_) => SigAlgorithm::EdDsa,
        }
    }

    pub fn verifying_key(&self) -> VerifyingKey {
        match self {
            SigningKey::Es256(k) => VerifyingKey::Es256(*k.verifying_key()),
            SigningKey::EdDsa(k) => VerifyingKey::EdDsa(k.verifying_key()),
        }
    }

    fn sign_raw(&self, tbs: &[u8]) -> Vec<u8> {
        match self {
            SigningKey::Es256(k) => {
                let s: p256::ecdsa::Signature = k.sign(tbs);
                s.to_bytes().to_vec()
            }
            SigningKey::EdDsa(k) => {
                let s: ed25519_dalek::Signature = ed25519_dalek::Signer::sign(k, tbs);
                s.to_bytes().to_vec()
            }
        }
    }
}

/// What a parsed COSE_Sign1 says about itself, for display.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Sign1Info {
    /// `alg` as written (COSE number or text), if present.
    pub alg: Option<String>,
    /// `kid`, hex, if present.
    pub kid: Option<String>,
    /// Whether the payload is detached (nil), as SUIT requires.
    pub detached: bool,
}

/// Parse a COSE_Sign1 (tag 18 or untagged), refusing other tags. Input is
/// checked for well-formedness and bounds by our own decoder before `coset`
/// sees it.
pub fn parse_sign1(bytes: &[u8]) -> Result<CoseSign1, SuitError> {
    let budget = Budget::new(Limits::default());
    let mut d = Decoder::new(bytes, &budget, 0)?;
    let tag = d.peek_tag()?;
    // Validate the whole item (and that nothing trails it), and its shape:
    // [protected: bstr, unprotected: map, payload: bstr / nil, signature: bstr].
    // Checked here because ciborium reads `undefined` as null, which would let a
    // tampered payload slot pass as "detached".
    let whole = Decoder::new(bytes, &budget, 0)?.single()?;
    let body = match &whole {
        Value::Tag(_, inner) => inner.as_ref(),
        v => v,
    };
    let shape_ok = matches!(body, Value::Array(a) if a.len() == 4
        && matches!(a[0], Value::Bytes(_))
        && matches!(a[1], Value::Map(_))
        && matches!(a[2], Value::Bytes(_) | Value::Null)
        && matches!(a[3], Value::Bytes(_)));
    if !shape_ok {
        return Err(SuitError::Cose(
            "COSE_Sign1 must be [protected: bstr, unprotected: map, payload: bstr / nil, signature: bstr]"
                .into(),
        ));
    }
    let parsed = match tag {
        None => CoseSign1::from_slice(bytes),
        Some(TAG_COSE_SIGN1) => CoseSign1::from_tagged_slice(bytes),
        Some(t) => {
            return Err(SuitError::WrongTag {
                expected: TAG_COSE_SIGN1,
                what: "COSE_Sign1",
                found: format!("tag {t}"),
            });
        }
    };
    parsed.map_err(|e| SuitError::Cose(format!("{e:?}")))
}

/// Describe a COSE_Sign1 without verifying it.
pub fn sign1_info(bytes: &[u8]) -> Result<Sign1Info, SuitError> {
    let s = parse_sign1(bytes)?;
    let alg = s
        .protected
        .header
        .alg
        .as_ref()
        .or(s.unprotected.alg.as_ref())
        .map(|a| match a {
            RegisteredLabelWithPrivate::Assigned(iana::Algorithm::ES256) => "ES256".to_string(),
            RegisteredLabelWithPrivate::Assigned(iana::Algorithm::EdDSA) => "EdDSA".to_string(),
            RegisteredLabelWithPrivate::Assigned(a) => a.to_i64().to_string(),
            RegisteredLabelWithPrivate::PrivateUse(n) => n.to_string(),
            RegisteredLabelWithPrivate::Text(t) => t.clone(),
        });
    let kid = [&s.protected.header.key_id, &s.unprotected.key_id]
        .into_iter()
        .find(|k| !k.is_empty())
        .map(hex::encode);
    Ok(Sign1Info {
        alg,
        kid,
        detached: s.payload.is_none(),
    })
}

/// The Sig_structure bytes ("ToBeSigned", RFC 9052 §4.4) of a parsed
/// COSE_Sign1 for the given payload, with an empty protected map normalised to
/// `h''`.
pub fn to_be_signed(sign1: &CoseSign1, external_aad: &[u8], payload: &[u8]) -> Vec<u8> {
    let protected = if sign1.protected.header.is_empty() {
        ProtectedHeader::default()
    } else {
        sign1.protected.clone()
    };
    sig_structure_data(
        SignatureContext::CoseSign1,
        protected,
        None,
        external_aad,
        payload,
    )
}

/// Verify a COSE_Sign1 with `key`. `detached` is the payload when the message
/// carries nil; when the message carries its own payload, `detached` must be
/// `None`.
pub fn verify_sign1(
    bytes: &[u8],
    external_aad: &[u8],
    detached: Option<&[u8]>,
    key: &VerifyingKey,
) -> Result<(), SuitError> {
    let sign1 = parse_sign1(bytes)?;
    verify_parsed(&sign1, external_aad, detached, key)
}

pub(crate) fn verify_parsed(
    sign1: &CoseSign1,
    external_aad: &[u8],
    detached: Option<&[u8]>,
    key: &VerifyingKey,
) -> Result<(), SuitError> {
    if let Some(c) = sign1
        .protected
        .header
        .crit
        .first()
        .or(sign1.unprotected.crit.first())
    {
        return Err(SuitError::UnsupportedCritical(format!("{c:?}")));
    }
    let alg = sign1
        .protected
        .header
        .alg
        .as_ref()
        .or(sign1.unprotected.alg.as_ref())
        .ok_or_else(|| SuitError::Cose("no alg header parameter".into()))?;
    let alg = SigAlgorithm::from_cose(alg)?;
    if alg != key.algorithm() {
        return Err(SuitError::AlgorithmKeyMismatch {
            alg: alg.to_string(),
            key: key.algorithm().to_string(),
        });
    }
    let payload = match (&sign1.payload, detached) {
        (Some(p), None) => p.as_slice(),
        (None, Some(p)) => p,
        (Some(_), Some(_)) => {
            return Err(SuitError::Cose(
                "payload is both embedded and supplied as detached".into(),
            ));
        }
        (None, None) => {
            return Err(SuitError::Cose(
                "payload is detached (nil) and none was supplied".into(),
            ));
        }
    };
    let tbs = to_be_signed(sign1, external_aad, payload);
    key.verify_raw(&tbs, &sign1.signature)
}

/// Sign `payload` as a detached-payload COSE_Sign1_Tagged with `alg` in the
/// protected header (the SUIT authentication block form, draft §8.3).
pub fn sign1_detached(payload: &[u8], key: &SigningKey) -> Result<Vec<u8>, SuitError> {
    let alg = match key.algorithm() {
        SigAlgorithm::Es256 => iana::Algorithm::ES256,
        SigAlgorithm::EdDsa => iana::Algorithm::EdDSA,
    };
    let protected = HeaderBuilder::new().algorithm(alg).build();
    let sign1 = CoseSign1Builder::new()
        .protected(protected)
        .create_detached_signature(payload, b"", |tbs| key.sign_raw(tbs))
        .build();
    sign1
        .to_tagged_vec()
        .map_err(|e| SuitError::Build(format!("cannot encode COSE_Sign1: {e:?}")))
}
