//! The typed SUIT manifest (draft-ietf-suit-manifest-33 §8.4): plain data, no
//! behaviour beyond digests. Parsing lives in `decode.rs`, the envelope around
//! it in `envelope.rs`.
//!
//! Every CBOR label used anywhere in the crate is in [`keys`], named as in the
//! draft's CDDL and IANA registries.

use sha2::Digest as _;
use uuid::Uuid;

use crate::error::SuitError;

/// CBOR labels, named as in the draft's CDDL (draft-ietf-suit-manifest-33 §11
/// IANA registries; companion drafts where noted).
pub mod keys {
    /// CBOR tag of SUIT_Envelope_Tagged (§11).
    pub const TAG_ENVELOPE: u64 = 107;

    // SUIT Envelope Elements
    pub const ENV_DELEGATION: i64 = 1;
    pub const ENV_AUTHENTICATION_WRAPPER: i64 = 2;
    pub const ENV_MANIFEST: i64 = 3;
    /// draft-ietf-suit-trust-domains: severable members we recognise but do not run.
    pub const ENV_DEPENDENCY_RESOLUTION: i64 = 15;
    pub const ENV_CANDIDATE_VERIFICATION: i64 = 18;

    // SUIT Manifest Elements (shared with the envelope for severable ones)
    pub const VERSION: i64 = 1;
    pub const SEQUENCE_NUMBER: i64 = 2;
    pub const COMMON: i64 = 3;
    pub const REFERENCE_URI: i64 = 4;
    /// draft-ietf-suit-trust-domains: suit-manifest-component-id.
    pub const MANIFEST_COMPONENT_ID: i64 = 5;
    pub const VALIDATE: i64 = 7;
    pub const LOAD: i64 = 8;
    pub const INVOKE: i64 = 9;
    pub const PAYLOAD_FETCH: i64 = 16;
    pub const INSTALL: i64 = 20;
    pub const TEXT: i64 = 23;
    /// draft-ietf-suit-mud-08 `suit-manifest-mud`: its label is still "TBD1"
    /// (to be assigned by IANA from the standards range). Until then we use a
    /// private-use label (< -255, §11), so we never collide with a future
    /// assignment. Change this one constant when IANA assigns the value.
    pub const MUD: i64 = -257;
    /// Keys inside SUIT_MUD_container (draft-ietf-suit-mud-08 §5 gives names only).
    pub const MUD_URL: i64 = 1;
    pub const MUD_SKI: i64 = 2;

    // SUIT Common Elements
    pub const DEPENDENCIES: i64 = 1;
    pub const COMPONENTS: i64 = 2;
    pub const SHARED_SEQUENCE: i64 = 4;

    // SUIT Commands
    pub const CONDITION_VENDOR_IDENTIFIER: i64 = 1;
    pub const CONDITION_CLASS_IDENTIFIER: i64 = 2;
    pub const CONDITION_IMAGE_MATCH: i64 = 3;
    pub const CONDITION_COMPONENT_SLOT: i64 = 5;
    pub const CONDITION_CHECK_CONTENT: i64 = 6;
    pub const DIRECTIVE_SET_COMPONENT_INDEX: i64 = 12;
    pub const CONDITION_ABORT: i64 = 14;
    pub const DIRECTIVE_TRY_EACH: i64 = 15;
    pub const DIRECTIVE_WRITE: i64 = 18;
    /// draft-ietf-suit-trust-domains.
    pub const DIRECTIVE_SET_PARAMETERS: i64 = 19;
    pub const DIRECTIVE_OVERRIDE_PARAMETERS: i64 = 20;
    pub const DIRECTIVE_FETCH: i64 = 21;
    pub const DIRECTIVE_COPY: i64 = 22;
    pub const DIRECTIVE_INVOKE: i64 = 23;
    pub const CONDITION_DEVICE_IDENTIFIER: i64 = 24;
    pub const DIRECTIVE_SWAP: i64 = 31;
    pub const DIRECTIVE_RUN_SEQUENCE: i64 = 32;

    // SUIT Parameters
    pub const PARAM_VENDOR_ID: i64 = 1;
    pub const PARAM_CLASS_ID: i64 = 2;
    pub const PARAM_IMAGE_DIGEST: i64 = 3;
    pub const PARAM_COMPONENT_SLOT: i64 = 5;
    pub const PARAM_STRICT_ORDER: i64 = 12;
    pub const PARAM_SOFT_FAILURE: i64 = 13;
    pub const PARAM_IMAGE_SIZE: i64 = 14;
    pub const PARAM_CONTENT: i64 = 18;
    pub const PARAM_URI: i64 = 21;
    pub const PARAM_SOURCE_COMPONENT: i64 = 22;
    pub const PARAM_INVOKE_ARGS: i64 = 23;
    pub const PARAM_DEVICE_ID: i64 = 24;

    /// Labels below this are private use ("custom", §11): never standardised,
    /// so a processor treats them as hints (parameters) or vendor commands.
    pub const CUSTOM_BELOW: i64 = -255;

    /// CBOR tag of a CBOR PEN vendor id (§8.4.8.3, `cbor-pen = #6.112(bstr)`).
    pub const TAG_CBOR_PEN: u64 = 112;
    /// CBOR tag 32, URI (RFC 8949 §3.4.5.3), allowed around the MUD URL.
    pub const TAG_URI: u64 = 32;

    /// COSE algorithm ids for SUIT_Digest (RFC 9054).
    pub const ALG_SHA256: i64 = -16;
    pub const ALG_SHA384: i64 = -43;
    pub const ALG_SHA512: i64 = -44;
}

/// A hash algorithm allowed in a SUIT_Digest (draft §10: SHA-256 is mandatory).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
pub enum DigestAlgorithm {
    #[serde(rename = "sha-256")]
    Sha256,
    #[serde(rename = "sha-384")]
    Sha384,
    #[serde(rename = "sha-512")]
    Sha512,
}

impl DigestAlgorithm {
    pub fn from_cose(id: i64) -> Result<Self, SuitError> {
        match id {
            keys::ALG_SHA256 => Ok(DigestAlgorithm::Sha256),
            keys::ALG_SHA384 => Ok(DigestAlgorithm::Sha384),
            keys::ALG_SHA512 => Ok(DigestAlgorithm::Sha512),
            other => Err(SuitError::UnsupportedDigestAlgorithm(other)),
        }
    }

    pub fn cose_id(self) -> i64 {
        match self {
            DigestAlgorithm::Sha256 => keys::ALG_SHA256,
            DigestAlgorithm::Sha384 => keys::ALG_SHA384,
            DigestAlgorithm::Sha512 => keys::ALG_SHA512,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            DigestAlgorithm::Sha256 => "sha-256",
            DigestAlgorithm::Sha384 => "sha-384",
            DigestAlgorithm::Sha512 => "sha-512",
        }
    }

    pub fn output_len(self) -> usize {
        match self {
            DigestAlgorithm::Sha256 => 32,
            DigestAlgorithm::Sha384 => 48,
            DigestAlgorithm::Sha512 => 64,
        }
    }

    pub fn compute(self, data: &[u8]) -> Vec<u8> {
        match self {
            DigestAlgorithm::Sha256 => sha2::Sha256::digest(data).to_vec(),
            DigestAlgorithm::Sha384 => sha2::Sha384::digest(data).to_vec(),
            DigestAlgorithm::Sha512 => sha2::Sha512::digest(data).to_vec(),
        }
    }
}

/// SUIT_Digest (draft §10): an algorithm and the digest bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SuitDigest {
    pub algorithm: DigestAlgorithm,
    pub bytes: Vec<u8>,
}

impl SuitDigest {
    pub fn sha256(data: &[u8]) -> Self {
        SuitDigest {
            algorithm: DigestAlgorithm::Sha256,
            bytes: DigestAlgorithm::Sha256.compute(data),
        }
    }

    /// Whether `data` hashes to this digest (constant-time comparison).
    pub fn matches(&self, data: &[u8]) -> bool {
        let got = self.algorithm.compute(data);
        got.len() == self.bytes.len()
            && got
                .iter()
                .zip(&self.bytes)
                .fold(0u8, |acc, (a, b)| acc | (a ^ b))
                == 0
    }

    pub fn hex(&self) -> String {
        hex::encode(&self.bytes)
    }
}

/// SUIT_Component_Identifier (§8.4.5.1): a path of byte strings.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ComponentId(pub Vec<Vec<u8>>);

impl std::fmt::Display for ComponentId {
    /// `[h'00']` style, as the draft writes them.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("[")?;
        for (i, seg) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "h'{}'", hex::encode(seg))?;
        }
        f.write_str("]")
    }
}

/// suit-parameter-vendor-identifier (§8.4.8.3): a UUID or a CBOR PEN.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VendorId {
    Uuid(Uuid),
    /// A relative OID under 1.3.6.1.4.1 (raw bytes of tag 112).
    Pen(Vec<u8>),
}

impl std::fmt::Display for VendorId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            VendorId::Uuid(u) => write!(f, "{u}"),
            VendorId::Pen(b) => write!(f, "pen:{}", hex::encode(b)),
        }
    }
}

/// A set of SUIT parameters (§8.4.8) as written by one Override/Set
/// Parameters directive. Only standard parameters are typed; companion-draft
/// parameters we recognise are kept by label; custom (< -255) labels too.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Parameters {
    pub vendor_id: Option<VendorId>,
    pub class_id: Option<Uuid>,
    pub device_id: Option<Uuid>,
    pub image_digest: Option<SuitDigest>,
    pub image_size: Option<u64>,
    pub component_slot: Option<u64>,
    pub content: Option<Vec<u8>>,
    pub uri: Option<String>,
    pub source_component: Option<u64>,
    pub invoke_args: Option<Vec<u8>>,
    pub strict_order: Option<bool>,
    pub soft_failure: Option<bool>,
    /// Parameters from companion drafts (update-management, firmware-encryption)
    /// that we recognise but do not interpret: (label, name).
    pub extensions: Vec<(i64, &'static str)>,
    /// Custom (private-use, < -255) parameter labels: hints only (§8.4.8.15).
    pub custom: Vec<i64>,
}

impl Parameters {
    /// Names of the parameters that are set, in label order.
    pub fn names(&self) -> Vec<String> {
        let mut v: Vec<String> = Vec::new();
        let mut push = |set: bool, name: &str| {
            if set {
                v.push(name.to_string());
            }
        };
        push(self.vendor_id.is_some(), "vendor-id");
        push(self.class_id.is_some(), "class-id");
        push(self.image_digest.is_some(), "image-digest");
        push(self.component_slot.is_some(), "component-slot");
        push(self.strict_order.is_some(), "strict-order");
        push(self.soft_failure.is_some(), "soft-failure");
        push(self.image_size.is_some(), "image-size");
        push(self.content.is_some(), "content");
        push(self.uri.is_some(), "uri");
        push(self.source_component.is_some(), "source-component");
        push(self.invoke_args.is_some(), "invoke-args");
        push(self.device_id.is_some(), "device-id");
        v.extend(self.extensions.iter().map(|(_, n)| n.to_string()));
        v.extend(self.custom.iter().map(|k| format!("custom({k})")));
        v
    }

    /// Apply `other` over `self` (Override Parameters semantics, §8.4.10.5).
    pub fn override_with(&mut self, other: &Parameters) {
        macro_rules! ov {
            ($($f:ident),*) => { $( if other.$f.is_some() { self.$f = other.$f.clone(); } )* };
        }
        ov!(
            vendor_id,
            class_id,
            device_id,
            image_digest,
            image_size,
            component_slot,
            content,
            uri,
            source_component,
            invoke_args,
            strict_order,
            soft_failure
        );
        for e in &other.extensions {
            if !self.extensions.contains(e) {
                self.extensions.push(*e);
            }
        }
        for c in &other.custom {
            if !self.custom.contains(c) {
                self.custom.push(*c);
            }
        }
    }

    /// Set Parameters semantics (trust-domains): only fills unset values.
    pub fn set_defaults_from(&mut self, other: &Parameters) {
        let mut merged = other.clone();
        merged.override_with(self);
        *self = merged;
    }
}

/// The argument of Set Component Index (§8.4.10.1 and §6.5).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ComponentIndex {
    One(u64),
    /// `true`: every component of the manifest.
    All,
    List(Vec<u64>),
}

/// A condition (§8.4.9): tests without side effects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Condition {
    VendorIdentifier,
    ClassIdentifier,
    DeviceIdentifier,
    ImageMatch,
    ComponentSlot,
    CheckContent,
    Abort,
    /// A condition of a companion draft (update-management, trust-domains).
    Extension {
        code: i64,
        name: &'static str,
    },
}

impl Condition {
    pub fn name(self) -> &'static str {
        match self {
            Condition::VendorIdentifier => "condition-vendor-identifier",
            Condition::ClassIdentifier => "condition-class-identifier",
            Condition::DeviceIdentifier => "condition-device-identifier",
            Condition::ImageMatch => "condition-image-match",
            Condition::ComponentSlot => "condition-component-slot",
            Condition::CheckContent => "condition-check-content",
            Condition::Abort => "condition-abort",
            Condition::Extension { name, .. } => name,
        }
    }
}

/// A directive (§8.4.10) that takes a reporting policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Directive {
    Write,
    Fetch,
    Copy,
    Invoke,
    Swap,
    /// A directive of a companion draft (trust-domains, update-management).
    Extension {
        code: i64,
        name: &'static str,
    },
}

impl Directive {
    pub fn name(self) -> &'static str {
        match self {
            Directive::Write => "directive-write",
            Directive::Fetch => "directive-fetch",
            Directive::Copy => "directive-copy",
            Directive::Invoke => "directive-invoke",
            Directive::Swap => "directive-swap",
            Directive::Extension { name, .. } => name,
        }
    }

    /// Whether the directive changes device state (forbidden in the shared
    /// sequence, §8.4.5: "MUST NOT have any side-effects outside of setting
    /// parameter values").
    pub fn has_side_effects(self) -> bool {
        true
    }
}

/// One command of a SUIT_Command_Sequence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Condition {
        condition: Condition,
        policy: u64,
    },
    Directive {
        directive: Directive,
        policy: u64,
    },
    SetComponentIndex(ComponentIndex),
    OverrideParameters(Parameters),
    SetParameters(Parameters),
    /// suit-directive-try-each: alternatives, optionally ending in `nil`
    /// (meaning "if all fail, do nothing").
    TryEach {
        alternatives: Vec<CommandSequence>,
        nil_default: bool,
    },
    RunSequence(CommandSequence),
    /// A custom command (label < -255), vendor-specific.
    Custom {
        code: i64,
    },
}

impl Command {
    pub fn name(&self) -> String {
        match self {
            Command::Condition { condition, .. } => condition.name().to_string(),
            Command::Directive { directive, .. } => directive.name().to_string(),
            Command::SetComponentIndex(i) => match i {
                ComponentIndex::One(n) => format!("directive-set-component-index {n}"),
                ComponentIndex::All => "directive-set-component-index true".to_string(),
                ComponentIndex::List(l) => format!("directive-set-component-index {l:?}"),
            },
            Command::OverrideParameters(p) => {
                format!("directive-override-parameters {{{}}}", p.names().join(", "))
            }
            Command::SetParameters(p) => {
                format!("directive-set-parameters {{{}}}", p.names().join(", "))
            }
            Command::TryEach { alternatives, .. } => {
                format!("directive-try-each ({} alternatives)", alternatives.len())
            }
            Command::RunSequence(s) => format!("directive-run-sequence ({} commands)", s.0.len()),
            Command::Custom { code } => format!("custom-command {code}"),
        }
    }
}

/// SUIT_Command_Sequence (§8.4.6).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CommandSequence(pub Vec<Command>);

/// A severable member (§8.4.4, §8.4.6, §9): written in the manifest, or replaced
/// there by its digest and carried (or not) in the envelope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Severable<T> {
    /// Written inside the authenticated manifest.
    Inline(T),
    /// Severed: the manifest holds the digest; the envelope carried the member
    /// (verified against the digest) or did not.
    Severed {
        digest: SuitDigest,
        value: Option<T>,
    },
}

impl<T> Severable<T> {
    /// The member's content when available (inline, or severed and present).
    pub fn value(&self) -> Option<&T> {
        match self {
            Severable::Inline(v) => Some(v),
            Severable::Severed { value, .. } => value.as_ref(),
        }
    }

    pub fn is_severed(&self) -> bool {
        matches!(self, Severable::Severed { .. })
    }
}

/// Text for one language (§8.4.4).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LangText {
    /// Manifest-level text: label (1 manifest-description, 2 update-description,
    /// 3 json-source, 4 yaml-source, or custom) → text.
    pub manifest: Vec<(i64, String)>,
    /// Per-component text: label (1 vendor-name … 6 component-version) → text.
    pub components: Vec<(ComponentId, Vec<(i64, String)>)>,
}

/// SUIT_Text_Map: language tag → text.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TextMap(pub Vec<(String, LangText)>);

/// SUIT_MUD_container (draft-ietf-suit-mud-08 §5).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MudContainer {
    pub url: String,
    /// Subject key identifier of the MUD signer. Required by -08; we accept its
    /// absence (earlier revisions made it optional) and say so in `show`.
    pub ski: Option<SuitDigest>,
}

/// SUIT_Common (§8.4.5).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Common {
    pub components: Vec<ComponentId>,
    pub shared_sequence: Option<CommandSequence>,
}

/// SUIT_Manifest (§8.4).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Manifest {
    pub version: u64,
    pub sequence_number: u64,
    pub common: Common,
    pub reference_uri: Option<String>,
    /// trust-domains `suit-manifest-component-id`, if present.
    pub manifest_component_id: Option<ComponentId>,
    pub validate: Option<CommandSequence>,
    pub load: Option<CommandSequence>,
    pub invoke: Option<CommandSequence>,
    pub payload_fetch: Option<Severable<CommandSequence>>,
    pub install: Option<Severable<CommandSequence>>,
    pub text: Option<Severable<TextMap>>,
    pub mud: Option<MudContainer>,
    /// Private-use manifest elements present but not understood (ignored).
    pub ignored_custom_elements: Vec<i64>,
}

impl Manifest {
    /// The command sequences present, with their draft names, in the order of
    /// the Update Procedure then the Invocation Procedure (§8.4.6).
    pub fn sequences(&self) -> Vec<(&'static str, Option<&CommandSequence>, bool)> {
        fn sev(s: &Option<Severable<CommandSequence>>) -> Option<(Option<&CommandSequence>, bool)> {
            s.as_ref().map(|s| (s.value(), s.is_severed()))
        }
        let mut out = Vec::new();
        if let Some(s) = &self.common.shared_sequence {
            out.push(("shared-sequence", Some(s), false));
        }
        if let Some((v, sev)) = sev(&self.payload_fetch) {
            out.push(("payload-fetch", v, sev));
        }
        if let Some((v, sev)) = sev(&self.install) {
            out.push(("install", v, sev));
        }
        for (name, s) in [
            ("validate", &self.validate),
            ("load", &self.load),
            ("invoke", &self.invoke),
        ] {
            if let Some(s) = s {
                out.push((name, Some(s), false));
            }
        }
        out
    }
}
