//! Building and signing an envelope for one firmware image: what
//! `steward firmware sign` produces.
//!
//! The manifest follows the draft's "compatibility check + download +
//! install + secure boot" templates (§7.1–§7.4), for one component `[h'00']`:
//!
//! ```text
//! common.shared-sequence: override {vendor-id, class-id, image-digest, image-size},
//!                         condition-vendor-identifier, condition-class-identifier
//! install:                override {uri}, directive-fetch, condition-image-match
//! validate:               condition-image-match
//! invoke:                 directive-invoke
//! mud (draft-ietf-suit-mud): { url: #6.32(tstr), ski? }      (when a MUD URL is given)
//! ```
//!
//! Every map is written in deterministic key order (RFC 8949 §4.2.1), as the
//! draft requires (§8.1). Reporting policy 15 (all records) as in the draft's
//! examples.

use uuid::Uuid;

use crate::cbor::Enc;
use crate::cose::{self, SigningKey};
use crate::error::SuitError;
use crate::manifest::{SuitDigest, keys};

/// Report success/failure records and system info (all four bits, §8.4.7).
const POLICY_ALL: u64 = 15;
/// Reporting policy the draft's examples use for directive-invoke and fetch.
const POLICY_FAILURE: u64 = 2;

/// What to put in a single-image manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildRequest<'a> {
    /// The firmware image; its SHA-256 digest and size go into the manifest.
    pub payload: &'a [u8],
    pub vendor_id: Uuid,
    pub class_id: Uuid,
    /// Anti-rollback sequence number (§8.4.2).
    pub sequence_number: u64,
    /// Where devices fetch the payload from.
    pub uri: &'a str,
    /// MUD URL for draft-ietf-suit-mud, if the firmware changes its network needs.
    pub mud_url: Option<&'a str>,
    /// Subject key identifier of the MUD file signer (draft-ietf-suit-mud-08).
    pub mud_signer_ski: Option<SuitDigest>,
}

fn wrap(inner: Vec<u8>) -> Vec<u8> {
    let mut e = Enc::new();
    e.bytes(&inner);
    e.finish()
}

fn digest_cbor(d: &SuitDigest) -> Vec<u8> {
    let mut e = Enc::new();
    e.array(2).int(d.algorithm.cose_id()).bytes(&d.bytes);
    e.finish()
}

/// Build the manifest (not yet bstr-wrapped) for `req`.
fn manifest(req: &BuildRequest<'_>) -> Result<Vec<u8>, SuitError> {
    if req.uri.is_empty() {
        return Err(SuitError::Build("the payload URI must not be empty".into()));
    }
    let image = SuitDigest::sha256(req.payload);

    // Shared sequence.
    let mut s = Enc::new();
    s.array(6)
        .int(keys::DIRECTIVE_OVERRIDE_PARAMETERS)
        .map(4)
        .int(keys::PARAM_VENDOR_ID)
        .bytes(req.vendor_id.as_bytes())
        .int(keys::PARAM_CLASS_ID)
        .bytes(req.class_id.as_bytes())
        .int(keys::PARAM_IMAGE_DIGEST)
        .bytes(&digest_cbor(&image))
        .int(keys::PARAM_IMAGE_SIZE)
        .uint(req.payload.len() as u64)
        .int(keys::CONDITION_VENDOR_IDENTIFIER)
        .uint(POLICY_ALL)
        .int(keys::CONDITION_CLASS_IDENTIFIER)
        .uint(POLICY_ALL);
    let shared = s.finish();

    let mut c = Enc::new();
    c.map(2)
        .int(keys::COMPONENTS)
        .array(1)
        .array(1)
        .bytes(&[0x00])
        .int(keys::SHARED_SEQUENCE)
        .bytes(&shared);
    let common = c.finish();

    let mut v = Enc::new();
    v.array(2).int(keys::CONDITION_IMAGE_MATCH).uint(POLICY_ALL);
    let validate = v.finish();

    let mut i = Enc::new();
    i.array(2).int(keys::DIRECTIVE_INVOKE).uint(POLICY_FAILURE);
    let invoke = i.finish();

    let mut ins = Enc::new();
    ins.array(6)
        .int(keys::DIRECTIVE_OVERRIDE_PARAMETERS)
        .map(1)
        .int(keys::PARAM_URI)
        .text(req.uri)
        .int(keys::DIRECTIVE_FETCH)
        .uint(POLICY_FAILURE)
        .int(keys::CONDITION_IMAGE_MATCH)
        .uint(POLICY_ALL);
    let install = ins.finish();

    let mud = match req.mud_url {
        Some("") => {
            return Err(SuitError::Build("the MUD URL must not be empty".into()));
        }
        Some(url) => {
            let mut m = Enc::new();
            let n = if req.mud_signer_ski.is_some() { 2 } else { 1 };
            m.map(n).int(keys::MUD_URL).tag(keys::TAG_URI).text(url);
            if let Some(ski) = &req.mud_signer_ski {
                m.int(keys::MUD_SKI).raw(&digest_cbor(ski));
            }
            Some(m.finish())
        }
        None => {
            if req.mud_signer_ski.is_some() {
                return Err(SuitError::Build(
                    "a MUD signer key identifier needs a MUD URL".into(),
                ));
            }
            None
        }
    };

    // Deterministic order of the manifest keys: 1, 2, 3, 7, 9, 20, then the
    // private-use MUD label (a negative integer sorts after all positive ones).
    let mut m = Enc::new();
    m.map(if mud.is_some() { 7 } else { 6 })
        .int(keys::VERSION)
        .uint(1)
        .int(keys::SEQUENCE_NUMBER)
        .uint(req.sequence_number)
        .int(keys::COMMON)
        .bytes(&common)
        .int(keys::VALIDATE)
        .bytes(&validate)
        .int(keys::INVOKE)
        .bytes(&invoke)
        .int(keys::INSTALL)
        .bytes(&install);
    if let Some(mud) = &mud {
        m.int(keys::MUD).bytes(mud);
    }
    Ok(m.finish())
}

/// Build a manifest for `req` and sign it with `key` (ES256 or EdDSA), returning
/// the tagged envelope bytes (`107({2: auth, 3: manifest})`).
pub fn build(req: &BuildRequest<'_>, key: &SigningKey) -> Result<Vec<u8>, SuitError> {
    let manifest_bstr = wrap(manifest(req)?);
    // §8.3: the digest covers the bstr-wrapped manifest, head included.
    let digest = SuitDigest::sha256(&manifest_bstr);
    let digest_bytes = digest_cbor(&digest);
    // The detached COSE payload is the SUIT_Digest itself.
    let sign1 = cose::sign1_detached(&digest_bytes, key)?;

    let mut auth = Enc::new();
    auth.array(2).bytes(&digest_bytes).bytes(&sign1);
    let auth = auth.finish();

    let mut env = Enc::new();
    env.tag(keys::TAG_ENVELOPE)
        .map(2)
        .int(keys::ENV_AUTHENTICATION_WRAPPER)
        .bytes(&auth)
        .int(keys::ENV_MANIFEST)
        .raw(&manifest_bstr);
    Ok(env.finish())
}
