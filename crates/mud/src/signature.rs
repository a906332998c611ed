//! MUD file signatures (RFC 8520 §13): a detached CMS SignedData (RFC 5652),
//! DER-encoded, over the exact bytes of the file.
//!
//! Verification uses OpenSSL's CMS implementation through the `openssl` crate
//! (chain building, validity periods, digest and signature checks); this module
//! only chooses the inputs (trust anchors, verification time) and turns OpenSSL's
//! error queue into errors a person can act on. The verification time is always
//! passed in, so tests can check a file whose certificates have since expired.
//!
//! [`signature_url`] derives where the signature lives (RFC 8520 §13.2), and
//! [`sign`] produces a signature so makers can sign with `steward mud sign`.

use openssl::asn1::Asn1Time;
use openssl::cms::{CMSOptions, CmsContentInfo};
use openssl::error::ErrorStack;
use openssl::pkcs7::{Pkcs7, Pkcs7Flags};
use openssl::pkey::PKey;
use openssl::stack::Stack;
use openssl::x509::store::X509StoreBuilder;
use openssl::x509::verify::X509VerifyParam;
use openssl::x509::{X509, X509NameRef, X509PurposeId, X509Ref};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

/// Certificates of the maker CAs a signature may chain to.
#[derive(Clone, Default)]
pub struct TrustAnchors {
    certs: Vec<X509>,
}

impl std::fmt::Debug for TrustAnchors {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let subjects: Vec<String> = self
            .certs
            .iter()
            .map(|c| name_string(c.subject_name()))
            .collect();
        f.debug_struct("TrustAnchors")
            .field("subjects", &subjects)
            .finish()
    }
}

impl TrustAnchors {
    pub fn new() -> Self {
        Self::default()
    }

    /// Anchors from PEM text holding one or more certificates.
    pub fn from_pem(pem: &[u8]) -> Result<Self, SignatureError> {
        let mut t = Self::new();
        t.add_pem(pem)?;
        Ok(t)
    }

    /// Adds every certificate in `pem`.
    pub fn add_pem(&mut self, pem: &[u8]) -> Result<(), SignatureError> {
        let certs = X509::stack_from_pem(pem)
            .map_err(|e| SignatureError::BadAnchor(format!("not PEM certificates: {e}")))?;
        if certs.is_empty() {
            return Err(SignatureError::BadAnchor(
                "no certificate found in the PEM text".into(),
            ));
        }
        self.certs.extend(certs);
        Ok(())
    }

    pub fn is_empty(&self) -> bool {
        self.certs.is_empty()
    }

    pub fn len(&self) -> usize {
        self.certs.len()
    }
}

/// What a successful verification established.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignatureInfo {
    /// Subject of the certificate that signed, e.g. `O=Maker, CN=mud.maker.example`.
    pub signer_subject: String,
    pub signer_issuer: String,
    pub signer_not_after: String,
    /// The time the chain was checked at (RFC 3339).
    pub verified_at: String,
}

/// Why a signature was not accepted. Every case is fatal: MUD managers fail closed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error(
        "no signature was provided, and unsigned MUD files are not allowed for this maker (RFC 8520 §13.2)"
    )]
    Missing,
    #[error("no trust anchors are configured: add the maker's CA certificate")]
    NoTrustAnchors,
    #[error("trust anchor: {0}")]
    BadAnchor(String),
    #[error("the signature is not a DER-encoded CMS SignedData structure: {0}")]
    Malformed(String),
    #[error(
        "the signature does not match the file's bytes: the file was changed after signing, or the signature belongs to another file"
    )]
    ContentMismatch,
    #[error(
        "certificate '{subject}' expired at {not_after} (checked at {at}); the signature cannot be trusted after its certificate expired — ask the maker to re-sign"
    )]
    CertificateExpired {
        subject: String,
        not_after: String,
        at: String,
    },
    #[error("certificate '{subject}' is not valid before {not_before} (checked at {at})")]
    CertificateNotYetValid {
        subject: String,
        not_before: String,
        at: String,
    },
    #[error("the signer's certificate does not chain to a configured trust anchor: {0}")]
    Untrusted(String),
    #[error(
        "the file was signed by '{found}', but the device certificate's mudsigner extension names '{expected}' (RFC 8520 §11)"
    )]
    SignerMismatch { expected: String, found: String },
    #[error("could not sign: {0}")]
    Sign(String),
}

/// What to check a signature against.
#[derive(Debug, Clone)]
pub struct VerifyOptions<'a> {
    pub anchors: &'a TrustAnchors,
    /// The time certificates must be valid at.
    pub at: OffsetDateTime,
    /// From a device certificate's id-pe-mudsigner extension: the signer's subject
    /// must be this name (as [`crate::source::mud_signer_from_cert`] renders it).
    pub expected_signer: Option<&'a str>,
}

// crypto/cms/cms.h: CMS_R_CERTIFICATE_VERIFY_ERROR
const CMS_R_CERTIFICATE_VERIFY_ERROR: i32 = 100;

/// Verifies a detached DER CMS signature over `content` (RFC 8520 §13.2).
pub fn verify(
    content: &[u8],
    signature_der: &[u8],
    opts: &VerifyOptions<'_>,
) -> Result<SignatureInfo, SignatureError> {
    if opts.anchors.is_empty() {
        return Err(SignatureError::NoTrustAnchors);
    }
    let mut cms = CmsContentInfo::from_der(signature_der)
        .map_err(|e| SignatureError::Malformed(first_reason(&e)))?;
    let embedded = embedded_certs(signature_der);
    let signer = signer_cert(signature_der);

    let at_s = rfc3339(opts.at);
    let mut store = X509StoreBuilder::new().map_err(internal)?;
    for c in &opts.anchors.certs {
        store.add_cert(c.clone()).map_err(internal)?;
    }
    let mut param = X509VerifyParam::new().map_err(internal)?;
    param.set_time(opts.at.unix_timestamp() as _);
    store.set_param(&param).map_err(internal)?;
    // RFC 8520 does not require an extended key usage on the signer; accept a
    // chain to a configured maker CA whatever its EKU.
    store.set_purpose(X509PurposeId::ANY).map_err(internal)?;
    let store = store.build();

    // BINARY: the signature covers the exact bytes, without MIME canonicalisation.
    let flags = CMSOptions::DETACHED | CMSOptions::BINARY;
    match cms.verify(None, Some(&store), Some(content), None, flags) {
        Ok(()) => {}
        Err(e) => return Err(classify(&e, opts, &embedded, &at_s)),
    }

    let (subject, issuer, not_after) = match &signer {
        Some(c) => (
            name_string(c.subject_name()),
            name_string(c.issuer_name()),
            c.not_after().to_string(),
        ),
        None => (String::new(), String::new(), String::new()),
    };
    if let Some(expected) = opts.expected_signer
        && !same_name(expected, &subject)
    {
        return Err(SignatureError::SignerMismatch {
            expected: expected.to_owned(),
            found: subject,
        });
    }
    Ok(SignatureInfo {
        signer_subject: subject,
        signer_issuer: issuer,
        signer_not_after: not_after,
        verified_at: at_s,
    })
}

fn same_name(a: &str, b: &str) -> bool {
    let norm = |s: &str| {
        s.split(',')
            .map(|p| p.trim().to_ascii_lowercase())
            .collect::<Vec<_>>()
    };
    norm(a) == norm(b)
}

fn internal(e: ErrorStack) -> SignatureError {
    SignatureError::Malformed(format!("OpenSSL: {e}"))
}

fn first_reason(e: &ErrorStack) -> String {
    e.errors()
        .iter()
        .find_map(|x| x.reason().map(str::to_owned))
        .unwrap_or_else(|| e.to_string())
}

/// Turns OpenSSL's error queue into a specific error.
fn classify(
    e: &ErrorStack,
    opts: &VerifyOptions<'_>,
    embedded: &[X509],
    at: &str,
) -> SignatureError {
    let cert_err = e
        .errors()
        .iter()
        .find(|x| x.reason_code() == CMS_R_CERTIFICATE_VERIFY_ERROR);
    let Some(cert_err) = cert_err else {
        let reasons: Vec<&str> = e.errors().iter().filter_map(|x| x.reason()).collect();
        if reasons.iter().any(|r| {
            r.contains("verification failure")
                || r.contains("content verify error")
                || r.contains("digest")
        }) {
            return SignatureError::ContentMismatch;
        }
        return SignatureError::Malformed(reasons.join("; "));
    };
    let detail = cert_err
        .data()
        .unwrap_or("certificate verify error")
        .to_owned();
    let detail = detail
        .strip_prefix("Verify error:")
        .unwrap_or(&detail)
        .trim()
        .to_owned();
    let Ok(now) = Asn1Time::from_unix(opts.at.unix_timestamp() as _) else {
        return SignatureError::Untrusted(detail);
    };
    let all = embedded.iter().chain(opts.anchors.certs.iter());
    if detail.contains("expired") {
        if let Some(c) = all.clone().find(|c| c.not_after() < now) {
            return SignatureError::CertificateExpired {
                subject: name_string(c.subject_name()),
                not_after: c.not_after().to_string(),
                at: at.to_owned(),
            };
        }
        return SignatureError::CertificateExpired {
            subject: "?".into(),
            not_after: "?".into(),
            at: at.to_owned(),
        };
    }
    if detail.contains("not yet valid")
        && let Some(c) = all.clone().find(|c| c.not_before() > now)
    {
        return SignatureError::CertificateNotYetValid {
            subject: name_string(c.subject_name()),
            not_before: c.not_before().to_string(),
            at: at.to_owned(),
        };
    }
    SignatureError::Untrusted(detail)
}

fn embedded_certs(der: &[u8]) -> Vec<X509> {
    Pkcs7::from_der(der)
        .ok()
        .and_then(|p| {
            p.signed()
                .and_then(|s| s.certificates())
                .map(|st| st.iter().map(X509Ref::to_owned).collect())
        })
        .unwrap_or_default()
}

fn signer_cert(der: &[u8]) -> Option<X509> {
    let p = Pkcs7::from_der(der).ok()?;
    let empty = Stack::new().ok()?;
    let signers = p.signers(&empty, Pkcs7Flags::empty()).ok()?;
    signers.iter().next().map(X509Ref::to_owned)
}

/// `O=Maker, CN=host`, in certificate order.
pub(crate) fn name_string(name: &X509NameRef) -> String {
    name.entries()
        .map(|e| {
            let key = e.object().nid().short_name().unwrap_or("?");
            let val = e.data().to_string().unwrap_or_else(|_| "?".into());
            format!("{key}={val}")
        })
        .collect::<Vec<_>>()
        .join(", ")
}

fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|_| t.unix_timestamp().to_string())
}

/// Signs `content` for publication: a detached, DER-encoded CMS SignedData with
/// the signer's certificate (and `chain`, if given) embedded, as RFC 8520 §13.1 asks.
pub fn sign(
    content: &[u8],
    cert_pem: &[u8],
    key_pem: &[u8],
    chain_pem: Option<&[u8]>,
) -> Result<Vec<u8>, SignatureError> {
    let cert = X509::from_pem(cert_pem).map_err(|e| {
        SignatureError::Sign(format!(
            "signer certificate is not PEM: {}",
            first_reason(&e)
        ))
    })?;
    let key = PKey::private_key_from_pem(key_pem).map_err(|e| {
        SignatureError::Sign(format!("private key is not PEM: {}", first_reason(&e)))
    })?;
    if !cert
        .public_key()
        .map(|p| p.public_eq(&key))
        .unwrap_or(false)
    {
        return Err(SignatureError::Sign(
            "the private key does not belong to the signer certificate".into(),
        ));
    }
    let mut chain = Stack::new().map_err(|e| SignatureError::Sign(e.to_string()))?;
    if let Some(pem) = chain_pem {
        for c in X509::stack_from_pem(pem)
            .map_err(|e| SignatureError::Sign(format!("chain is not PEM: {}", first_reason(&e))))?
        {
            chain
                .push(c)
                .map_err(|e| SignatureError::Sign(e.to_string()))?;
        }
    }
    let flags = CMSOptions::DETACHED | CMSOptions::BINARY | CMSOptions::NOSMIMECAP;
    let cms = CmsContentInfo::sign(Some(&cert), Some(&key), Some(&chain), Some(content), flags)
        .map_err(|e| SignatureError::Sign(first_reason(&e)))?;
    cms.to_der()
        .map_err(|e| SignatureError::Sign(e.to_string()))
}

/// Where the signature of a MUD file lives (RFC 8520 §13.2): the `mud-signature`
/// URL when the file has one; otherwise the MUD URL with its `.json` suffix
/// replaced by `.p7s`, or with `.p7s` appended when it has no `.json` suffix.
pub fn signature_url(mud_url: &str, mud_signature: Option<&str>) -> Result<url::Url, String> {
    if let Some(s) = mud_signature {
        return url::Url::parse(s).map_err(|e| format!("mud-signature '{s}' is not a URL: {e}"));
    }
    let mut u = crate::validate::mud_url(mud_url)?;
    u.set_fragment(None);
    let path = u.path().to_owned();
    let new_path = match path.strip_suffix(".json") {
        Some(stem) => format!("{stem}.p7s"),
        None => format!("{path}.p7s"),
    };
    u.set_path(&new_path);
    Ok(u)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn p7s_url() {
        let u = |a, b| signature_url(a, b).map(|u| u.to_string());
        assert_eq!(
            u("https://m.example/dev.json", None).as_deref(),
            Ok("https://m.example/dev.p7s")
        );
        assert_eq!(
            u("https://luminaire.example.com/Luminaire_150", None).as_deref(),
            Ok("https://luminaire.example.com/Luminaire_150.p7s")
        );
        assert_eq!(
            u("https://m.example/d.json?v=2", None).as_deref(),
            Ok("https://m.example/d.p7s?v=2")
        );
        assert_eq!(
            u("https://m.example/d", Some("https://sig.example/x.p7s")).as_deref(),
            Ok("https://sig.example/x.p7s")
        );
        assert!(u("http://m.example/d", None).is_err());
    }

    #[test]
    fn empty_anchors_fail_closed() {
        let a = TrustAnchors::new();
        let opts = VerifyOptions {
            anchors: &a,
            at: OffsetDateTime::UNIX_EPOCH,
            expected_signer: None,
        };
        assert_eq!(
            verify(b"x", b"y", &opts),
            Err(SignatureError::NoTrustAnchors)
        );
    }
}
