//! From bounded CBOR values to the typed manifest of `manifest.rs`.
//!
//! Rules for things we do not know, following draft-ietf-suit-manifest-33:
//! - unknown conditions fail (§8.4.9 "If a Recipient encounters an unknown
//!   condition, it MUST report a failure"), and so do unknown directives and
//!   parameters in the standards range: an unsupported command or parameter
//!   makes a manifest invalid (§6.1). Custom labels (< -255, §11) are kept:
//!   custom parameters are hints (§8.4.8.15), custom commands are vendor
//!   commands — but never in the shared sequence (§6.2);
//! - unknown manifest or common elements in the standards range are rejected
//!   (they are authenticated and may change what the manifest means);
//!   private-use ones are listed and ignored;
//! - every map is checked for duplicate keys (a classic signature-confusion
//!   trick), every component index against the component list.

use std::collections::BTreeSet;

use uuid::Uuid;

use crate::cbor::{Budget, Decoder, Value};
use crate::error::SuitError;
use crate::manifest::{
    Command, CommandSequence, Common, ComponentId, ComponentIndex, Condition, Directive, LangText,
    Manifest, MudContainer, Parameters, Severable, SuitDigest, TextMap, VendorId, keys,
};

/// Decoding context: the shared budget and the depth reached so far.
pub(crate) struct Ctx<'b> {
    pub budget: &'b Budget,
}

impl Ctx<'_> {
    /// Decode `bytes` (the content of a `bstr .cbor`) as one item, `depth`
    /// levels below the top of the envelope.
    pub fn nested<'a>(&self, bytes: &'a [u8], depth: usize) -> Result<Value<'a>, SuitError> {
        Decoder::new(bytes, self.budget, depth)?.single()
    }
}

pub(crate) fn map<'v, 'a>(
    v: &'v Value<'a>,
    path: &str,
) -> Result<&'v [(Value<'a>, Value<'a>)], SuitError> {
    match v {
        Value::Map(m) => Ok(m),
        other => Err(SuitError::structure(
            path,
            format!("expected a map, found a {}", other.kind()),
        )),
    }
}

pub(crate) fn array<'v, 'a>(v: &'v Value<'a>, path: &str) -> Result<&'v [Value<'a>], SuitError> {
    match v {
        Value::Array(a) => Ok(a),
        other => Err(SuitError::structure(
            path,
            format!("expected an array, found a {}", other.kind()),
        )),
    }
}

pub(crate) fn bstr<'v>(v: &'v Value<'_>, path: &str) -> Result<&'v [u8], SuitError> {
    match v {
        Value::Bytes(b) => Ok(b),
        other => Err(SuitError::structure(
            path,
            format!("expected a byte string, found a {}", other.kind()),
        )),
    }
}

fn tstr(v: &Value<'_>, path: &str) -> Result<String, SuitError> {
    match v {
        Value::Text(t) => Ok(t.to_string()),
        other => Err(SuitError::structure(
            path,
            format!("expected a text string, found a {}", other.kind()),
        )),
    }
}

fn uint(v: &Value<'_>, path: &str) -> Result<u64, SuitError> {
    match v {
        Value::Uint(n) => Ok(*n),
        other => Err(SuitError::structure(
            path,
            format!("expected an unsigned integer, found a {}", other.kind()),
        )),
    }
}

fn boolean(v: &Value<'_>, path: &str) -> Result<bool, SuitError> {
    match v {
        Value::Bool(b) => Ok(*b),
        other => Err(SuitError::structure(
            path,
            format!("expected a bool, found a {}", other.kind()),
        )),
    }
}

/// An integer map key, or an error naming the map.
pub(crate) fn int_key(k: &Value<'_>, path: &str) -> Result<i64, SuitError> {
    k.as_i64().ok_or_else(|| {
        SuitError::structure(
            path,
            format!("expected an integer key, found a {}", k.kind()),
        )
    })
}

/// Integer-keyed map entries, refusing duplicates.
pub(crate) fn int_map<'v, 'a>(
    v: &'v Value<'a>,
    path: &str,
) -> Result<Vec<(i64, &'v Value<'a>)>, SuitError> {
    let m = map(v, path)?;
    let mut seen = BTreeSet::new();
    let mut out = Vec::with_capacity(m.len());
    for (k, val) in m {
        let k = int_key(k, path)?;
        if !seen.insert(k) {
            return Err(SuitError::DuplicateKey {
                path: path.to_string(),
                key: k.to_string(),
            });
        }
        out.push((k, val));
    }
    Ok(out)
}

fn uuid16(v: &Value<'_>, path: &str) -> Result<Uuid, SuitError> {
    let b = bstr(v, path)?;
    Uuid::from_slice(b).map_err(|_| {
        SuitError::structure(
            path,
            format!("a UUID is a 16-byte string, found {} bytes", b.len()),
        )
    })
}

/// SUIT_Digest = [ algorithm-id, bytes, * extensions ] (§10).
pub(crate) fn digest(v: &Value<'_>, path: &str) -> Result<SuitDigest, SuitError> {
    let a = array(v, path)?;
    if a.len() < 2 {
        return Err(SuitError::structure(
            path,
            "SUIT_Digest needs an algorithm and the digest bytes",
        ));
    }
    let alg = a[0]
        .as_i64()
        .ok_or_else(|| SuitError::structure(path, "digest algorithm id must be an integer"))?;
    let algorithm = crate::manifest::DigestAlgorithm::from_cose(alg)?;
    let bytes = bstr(&a[1], path)?.to_vec();
    if bytes.len() != algorithm.output_len() {
        return Err(SuitError::structure(
            path,
            format!(
                "{} digest must be {} bytes, found {}",
                algorithm.name(),
                algorithm.output_len(),
                bytes.len()
            ),
        ));
    }
    Ok(SuitDigest { algorithm, bytes })
}

/// A bstr-wrapped SUIT_Digest.
pub(crate) fn wrapped_digest(
    ctx: &Ctx<'_>,
    v: &Value<'_>,
    path: &str,
    depth: usize,
) -> Result<SuitDigest, SuitError> {
    let inner = ctx.nested(bstr(v, path)?, depth)?;
    digest(&inner, path)
}

fn component_id(v: &Value<'_>, path: &str) -> Result<ComponentId, SuitError> {
    let a = array(v, path)?;
    let segs = a
        .iter()
        .map(|s| bstr(s, path).map(<[u8]>::to_vec))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(ComponentId(segs))
}

/// What a sequence may contain, and how many components there are.
#[derive(Clone, Copy)]
struct SeqRules<'p> {
    components: usize,
    shared: bool,
    name: &'p str,
}

fn parameters(
    ctx: &Ctx<'_>,
    v: &Value<'_>,
    path: &str,
    depth: usize,
    rules: SeqRules<'_>,
) -> Result<Parameters, SuitError> {
    let mut p = Parameters::default();
    let entries = int_map(v, path)?;
    if entries.is_empty() {
        return Err(SuitError::structure(
            path,
            "parameter map must not be empty",
        ));
    }
    for (k, val) in entries {
        let kp = format!("{path}.{k}");
        match k {
            keys::PARAM_VENDOR_ID => {
                p.vendor_id = Some(match val {
                    Value::Tag(keys::TAG_CBOR_PEN, inner) => {
                        VendorId::Pen(bstr(inner, &kp)?.to_vec())
                    }
                    other => VendorId::Uuid(uuid16(other, &kp)?),
                })
            }
            keys::PARAM_CLASS_ID => p.class_id = Some(uuid16(val, &kp)?),
            keys::PARAM_DEVICE_ID => p.device_id = Some(uuid16(val, &kp)?),
            keys::PARAM_IMAGE_DIGEST => {
                p.image_digest = Some(wrapped_digest(ctx, val, &kp, depth + 2)?)
            }
            keys::PARAM_IMAGE_SIZE => p.image_size = Some(uint(val, &kp)?),
            keys::PARAM_COMPONENT_SLOT => p.component_slot = Some(uint(val, &kp)?),
            keys::PARAM_CONTENT => p.content = Some(bstr(val, &kp)?.to_vec()),
            keys::PARAM_URI => p.uri = Some(tstr(val, &kp)?),
            keys::PARAM_SOURCE_COMPONENT => {
                let i = uint(val, &kp)?;
                if i >= rules.components as u64 {
                    return Err(SuitError::structure(
                        kp,
                        format!(
                            "source-component {i} is not one of the {} components",
                            rules.components
                        ),
                    ));
                }
                p.source_component = Some(i)
            }
            keys::PARAM_INVOKE_ARGS => p.invoke_args = Some(bstr(val, &kp)?.to_vec()),
            keys::PARAM_STRICT_ORDER => p.strict_order = Some(boolean(val, &kp)?),
            keys::PARAM_SOFT_FAILURE => p.soft_failure = Some(boolean(val, &kp)?),
            k if k < keys::CUSTOM_BELOW => {
                if rules.shared {
                    // §8.4.8.15: suit-parameter-custom MUST NOT be used in the shared sequence.
                    return Err(SuitError::structure(
                        kp,
                        "custom parameters are not allowed in the shared sequence",
                    ));
                }
                p.custom.push(k)
            }
            k => match extension_parameter(k) {
                Some(name) => p.extensions.push((k, name)),
                None => {
                    return Err(SuitError::UnknownParameter {
                        path: path.to_string(),
                        key: k,
                    });
                }
            },
        }
    }
    Ok(p)
}

/// Parameters defined by companion drafts that a manifest may carry. We keep
/// their labels (so a manifest using them still decodes) but do not interpret
/// them.
fn extension_parameter(k: i64) -> Option<&'static str> {
    Some(match k {
        4 => "use-before",       // draft-ietf-suit-update-management
        19 => "encryption-info", // draft-ietf-suit-firmware-encryption
        26 => "minimum-battery", // update-management
        27 => "update-priority", // update-management
        28 => "version",         // update-management
        29 => "wait-info",       // update-management
        _ => return None,
    })
}

fn extension_condition(k: i64) -> Option<&'static str> {
    Some(match k {
        4 => "condition-use-before",           // update-management
        7 => "condition-dependency-integrity", // trust-domains
        8 => "condition-is-dependency",        // trust-domains
        25 => "condition-image-not-match",     // update-management
        26 => "condition-minimum-battery",     // update-management
        27 => "condition-update-authorized",   // update-management
        28 => "condition-version",             // update-management
        _ => return None,
    })
}

fn extension_directive(k: i64) -> Option<&'static str> {
    Some(match k {
        11 => "directive-process-dependency", // trust-domains
        29 => "directive-wait",               // update-management
        30 => "directive-override-multiple",  // update-management
        33 => "directive-unlink",             // trust-domains
        _ => return None,
    })
}

fn policy(v: &Value<'_>, path: &str) -> Result<u64, SuitError> {
    uint(v, path).map_err(|_| {
        SuitError::structure(
            path,
            "a condition or directive argument must be a reporting policy (uint)",
        )
    })
}

fn command_sequence(
    ctx: &Ctx<'_>,
    bytes: &[u8],
    path: &str,
    depth: usize,
    rules: SeqRules<'_>,
) -> Result<CommandSequence, SuitError> {
    let v = ctx.nested(bytes, depth)?;
    let items = array(&v, path)?;
    if items.is_empty() {
        return Err(SuitError::structure(
            path,
            "a command sequence must not be empty",
        ));
    }
    if items.len() % 2 != 0 {
        return Err(SuitError::structure(
            path,
            "a command sequence is pairs of (command, argument): odd number of items",
        ));
    }
    let mut out = Vec::with_capacity(items.len() / 2);
    for (i, pair) in items.chunks_exact(2).enumerate() {
        let cp = format!("{path}[{i}]");
        let code = pair[0]
            .as_i64()
            .ok_or_else(|| SuitError::structure(&cp, "command code must be an integer"))?;
        let arg = &pair[1];
        let cmd = match code {
            keys::CONDITION_VENDOR_IDENTIFIER => cond(Condition::VendorIdentifier, arg, &cp)?,
            keys::CONDITION_CLASS_IDENTIFIER => cond(Condition::ClassIdentifier, arg, &cp)?,
            keys::CONDITION_DEVICE_IDENTIFIER => cond(Condition::DeviceIdentifier, arg, &cp)?,
            keys::CONDITION_IMAGE_MATCH => cond(Condition::ImageMatch, arg, &cp)?,
            keys::CONDITION_COMPONENT_SLOT => cond(Condition::ComponentSlot, arg, &cp)?,
            keys::CONDITION_CHECK_CONTENT => cond(Condition::CheckContent, arg, &cp)?,
            keys::CONDITION_ABORT => cond(Condition::Abort, arg, &cp)?,
            keys::DIRECTIVE_WRITE => dir(Directive::Write, arg, &cp, rules)?,
            keys::DIRECTIVE_FETCH => dir(Directive::Fetch, arg, &cp, rules)?,
            keys::DIRECTIVE_COPY => dir(Directive::Copy, arg, &cp, rules)?,
            keys::DIRECTIVE_INVOKE => dir(Directive::Invoke, arg, &cp, rules)?,
            keys::DIRECTIVE_SWAP => dir(Directive::Swap, arg, &cp, rules)?,
            keys::DIRECTIVE_SET_COMPONENT_INDEX => {
                Command::SetComponentIndex(component_index(arg, &cp, rules.components)?)
            }
            keys::DIRECTIVE_OVERRIDE_PARAMETERS => {
                Command::OverrideParameters(parameters(ctx, arg, &cp, depth + 2, rules)?)
            }
            keys::DIRECTIVE_SET_PARAMETERS => {
                Command::SetParameters(parameters(ctx, arg, &cp, depth + 2, rules)?)
            }
            keys::DIRECTIVE_TRY_EACH => {
                // SUIT_Directive_Try_Each_Argument = [ 2* bstr .cbor SUIT_Command_Sequence, ? nil ]
                let alts = array(arg, &cp)?;
                let mut alternatives = Vec::new();
                let mut nil_default = false;
                for (j, a) in alts.iter().enumerate() {
                    let ap = format!("{cp}.try-each[{j}]");
                    match a {
                        Value::Null if j + 1 == alts.len() && j > 0 => nil_default = true,
                        other => alternatives.push(command_sequence(
                            ctx,
                            bstr(other, &ap)?,
                            &ap,
                            depth + 3,
                            rules,
                        )?),
                    }
                }
                if alternatives.is_empty() {
                    return Err(SuitError::structure(
                        cp,
                        "try-each needs at least one sequence",
                    ));
                }
                Command::TryEach {
                    alternatives,
                    nil_default,
                }
            }
            keys::DIRECTIVE_RUN_SEQUENCE => {
                let ap = format!("{cp}.run-sequence");
                Command::RunSequence(command_sequence(
                    ctx,
                    bstr(arg, &ap)?,
                    &ap,
                    depth + 2,
                    rules,
                )?)
            }
            c if c < keys::CUSTOM_BELOW => {
                if rules.shared {
                    // §6.2: no custom commands in the shared sequence.
                    return Err(SuitError::structure(
                        cp,
                        "custom commands are not permitted in the shared sequence",
                    ));
                }
                Command::Custom { code: c }
            }
            c => {
                if let Some(name) = extension_condition(c) {
                    Command::Condition {
                        condition: Condition::Extension { code: c, name },
                        policy: policy(arg, &cp)?,
                    }
                } else if let Some(name) = extension_directive(c) {
                    dir(Directive::Extension { code: c, name }, arg, &cp, rules)?
                } else {
                    return Err(SuitError::UnknownCommand { path: cp, code: c });
                }
            }
        };
        out.push(cmd);
    }
    // §6.2: with more than one component, each sequence MUST begin with Set Component Index.
    if rules.components > 1 && !matches!(out.first(), Some(Command::SetComponentIndex(_))) {
        return Err(SuitError::structure(
            path,
            format!(
                "the manifest lists {} components, so the {} sequence must begin with set-component-index (draft §6.2)",
                rules.components, rules.name
            ),
        ));
    }
    Ok(CommandSequence(out))
}

fn cond(condition: Condition, arg: &Value<'_>, path: &str) -> Result<Command, SuitError> {
    Ok(Command::Condition {
        condition,
        policy: policy(arg, path)?,
    })
}

fn dir(
    directive: Directive,
    arg: &Value<'_>,
    path: &str,
    rules: SeqRules<'_>,
) -> Result<Command, SuitError> {
    if rules.shared && directive.has_side_effects() {
        return Err(SuitError::structure(
            path,
            format!(
                "{} has side effects and is not allowed in the shared sequence (draft §8.4.5)",
                directive.name()
            ),
        ));
    }
    Ok(Command::Directive {
        directive,
        policy: policy(arg, path)?,
    })
}

fn component_index(v: &Value<'_>, path: &str, n: usize) -> Result<ComponentIndex, SuitError> {
    let check = |i: u64| {
        if i < n as u64 {
            Ok(i)
        } else {
            Err(SuitError::structure(
                path,
                format!("component index {i} is not one of the {n} components"),
            ))
        }
    };
    match v {
        Value::Uint(i) => Ok(ComponentIndex::One(check(*i)?)),
        Value::Bool(true) => Ok(ComponentIndex::All),
        Value::Array(a) if !a.is_empty() => Ok(ComponentIndex::List(
            a.iter()
                .map(|x| uint(x, path).and_then(check))
                .collect::<Result<_, _>>()?,
        )),
        _ => Err(SuitError::structure(
            path,
            "set-component-index takes a uint, true, or a non-empty array of uints",
        )),
    }
}

fn common(ctx: &Ctx<'_>, bytes: &[u8], depth: usize) -> Result<Common, SuitError> {
    let path = "manifest.common";
    let v = ctx.nested(bytes, depth)?;
    let mut components = None;
    let mut shared_raw = None;
    for (k, val) in int_map(&v, path)? {
        match k {
            keys::COMPONENTS => {
                let a = array(val, "manifest.common.components")?;
                if a.is_empty() {
                    return Err(SuitError::structure(
                        "manifest.common.components",
                        "at least one component is required",
                    ));
                }
                components = Some(
                    a.iter()
                        .map(|c| component_id(c, "manifest.common.components"))
                        .collect::<Result<Vec<_>, _>>()?,
                );
            }
            keys::SHARED_SEQUENCE => {
                shared_raw = Some(bstr(val, "manifest.common.shared-sequence")?)
            }
            keys::DEPENDENCIES => {
                return Err(SuitError::structure(
                    "manifest.common.dependencies",
                    "dependency manifests (draft-ietf-suit-trust-domains) are not supported",
                ));
            }
            k if k < keys::CUSTOM_BELOW => {}
            k => {
                return Err(SuitError::UnknownElement {
                    path: path.into(),
                    key: k,
                });
            }
        }
    }
    let components = components.ok_or_else(|| {
        SuitError::structure(path, "suit-components is missing (one component at least)")
    })?;
    let rules = SeqRules {
        components: components.len(),
        shared: true,
        name: "shared",
    };
    let shared_sequence = shared_raw
        .map(|b| command_sequence(ctx, b, "manifest.common.shared-sequence", depth + 2, rules))
        .transpose()?;
    Ok(Common {
        components,
        shared_sequence,
    })
}

fn text_map(ctx: &Ctx<'_>, bytes: &[u8], depth: usize) -> Result<TextMap, SuitError> {
    let path = "manifest.text";
    let v = ctx.nested(bytes, depth)?;
    let mut langs = Vec::new();
    let mut seen = BTreeSet::new();
    for (k, val) in map(&v, path)? {
        let lang = tstr(k, path)?;
        if !seen.insert(lang.clone()) {
            return Err(SuitError::DuplicateKey {
                path: path.into(),
                key: lang,
            });
        }
        let lp = format!("{path}[{lang}]");
        let mut lt = LangText::default();
        for (tk, tv) in map(val, &lp)? {
            match tk {
                Value::Array(_) => {
                    let id = component_id(tk, &lp)?;
                    let mut fields = Vec::new();
                    for (fk, fv) in int_map(tv, &lp)? {
                        fields.push((fk, tstr(fv, &lp)?));
                    }
                    lt.components.push((id, fields));
                }
                other => {
                    let key = int_key(other, &lp)?;
                    lt.manifest.push((key, tstr(tv, &lp)?));
                }
            }
        }
        langs.push((lang, lt));
    }
    Ok(TextMap(langs))
}

fn mud_container(ctx: &Ctx<'_>, bytes: &[u8], depth: usize) -> Result<MudContainer, SuitError> {
    let path = "manifest.mud";
    let v = ctx.nested(bytes, depth)?;
    let mut url = None;
    let mut ski = None;
    for (k, val) in int_map(&v, path)? {
        match k {
            keys::MUD_URL => {
                // `#6.32(tstr)` per draft-ietf-suit-mud-08; a bare tstr is accepted too.
                let inner = match val {
                    Value::Tag(keys::TAG_URI, inner) => inner.as_ref(),
                    other => other,
                };
                url = Some(tstr(inner, "manifest.mud.url")?);
            }
            keys::MUD_SKI => ski = Some(digest(val, "manifest.mud.ski")?),
            k => {
                return Err(SuitError::UnknownElement {
                    path: path.into(),
                    key: k,
                });
            }
        }
    }
    let url = url.ok_or_else(|| SuitError::structure(path, "MUD container without a URL"))?;
    Ok(MudContainer { url, ski })
}

/// The severable members the envelope carried, by key, as raw bstr items
/// (header included) so their digests can be checked (§8.4.6 / §9).
pub(crate) struct EnvelopeMembers<'a> {
    pub payload_fetch: Option<&'a [u8]>,
    pub install: Option<&'a [u8]>,
    pub text: Option<&'a [u8]>,
}

/// A severable member: inline bstr, or a SUIT_Digest pointing at the envelope.
fn severable<'a, T>(
    v: &Value<'a>,
    in_envelope: Option<&'a [u8]>,
    name: &str,
    parse: impl FnOnce(&'a [u8]) -> Result<T, SuitError>,
    decode_raw_bstr: impl FnOnce(&'a [u8]) -> Result<&'a [u8], SuitError>,
) -> Result<Severable<T>, SuitError>
where
    T: Clone,
{
    let path = format!("manifest.{name}");
    match v {
        Value::Bytes(_) => {
            if in_envelope.is_some() {
                return Err(SuitError::structure(
                    path,
                    "the envelope carries this member but the manifest does not hold its digest: it would be unauthenticated",
                ));
            }
            // Inline: the bytes borrow from the manifest input (lifetime 'a).
            let b = match v {
                Value::Bytes(std::borrow::Cow::Borrowed(b)) => *b,
                _ => {
                    return Err(SuitError::structure(
                        path,
                        "indefinite-length byte strings are not allowed for command sequences",
                    ));
                }
            };
            Ok(Severable::Inline(parse(b)?))
        }
        Value::Array(_) => {
            let d = digest(v, &path)?;
            match in_envelope {
                None => Ok(Severable::Severed {
                    digest: d,
                    value: None,
                }),
                Some(raw) => {
                    // §8.4.6 / §9: the digest covers the bstr-wrapped member as it
                    // appears in the envelope, header included.
                    if !d.matches(raw) {
                        return Err(SuitError::DigestMismatch {
                            what: format!(
                                "severable member '{name}' in the envelope does not match its digest in the manifest"
                            ),
                        });
                    }
                    let content = decode_raw_bstr(raw)?;
                    Ok(Severable::Severed {
                        digest: d,
                        value: Some(parse(content)?),
                    })
                }
            }
        }
        other => Err(SuitError::structure(
            path,
            format!(
                "expected a byte string or a SUIT_Digest, found a {}",
                other.kind()
            ),
        )),
    }
}

/// Decode a SUIT_Manifest from the content of its bstr.
pub(crate) fn manifest(
    ctx: &Ctx<'_>,
    bytes: &[u8],
    members: &EnvelopeMembers<'_>,
) -> Result<Manifest, SuitError> {
    let path = "manifest";
    let depth = 2;
    let v = ctx.nested(bytes, depth)?;
    let entries = int_map(&v, path)?;

    // Version first (§6.1: fail on an unsupported encoding version before anything else).
    let version = entries
        .iter()
        .find(|(k, _)| *k == keys::VERSION)
        .map(|(_, v)| uint(v, "manifest.version"))
        .transpose()?
        .ok_or_else(|| SuitError::structure(path, "suit-manifest-version is missing"))?;
    if version != 1 {
        return Err(SuitError::UnsupportedVersion(version));
    }

    let mut sequence_number = None;
    let mut common_v = None;
    let mut reference_uri = None;
    let mut manifest_component_id = None;
    let mut raw_seq: Vec<(&'static str, &[u8])> = Vec::new();
    let mut sev: Vec<(i64, &Value<'_>)> = Vec::new();
    let mut mud_raw = None;
    let mut ignored_custom_elements = Vec::new();
    for (k, val) in &entries {
        match *k {
            keys::VERSION => {}
            keys::SEQUENCE_NUMBER => sequence_number = Some(uint(val, "manifest.sequence-number")?),
            keys::COMMON => common_v = Some(bstr(val, "manifest.common")?),
            keys::REFERENCE_URI => reference_uri = Some(tstr(val, "manifest.reference-uri")?),
            keys::MANIFEST_COMPONENT_ID => {
                manifest_component_id = Some(component_id(val, "manifest.manifest-component-id")?)
            }
            keys::VALIDATE => raw_seq.push(("validate", bstr(val, "manifest.validate")?)),
            keys::LOAD => raw_seq.push(("load", bstr(val, "manifest.load")?)),
            keys::INVOKE => raw_seq.push(("invoke", bstr(val, "manifest.invoke")?)),
            keys::PAYLOAD_FETCH | keys::INSTALL | keys::TEXT => sev.push((*k, val)),
            keys::MUD => mud_raw = Some(bstr(val, "manifest.mud")?),
            k if k < keys::CUSTOM_BELOW => ignored_custom_elements.push(k),
            k => {
                return Err(SuitError::UnknownElement {
                    path: path.into(),
                    key: k,
                });
            }
        }
    }
    let sequence_number = sequence_number
        .ok_or_else(|| SuitError::structure(path, "suit-manifest-sequence-number is missing"))?;
    let common_b = common_v.ok_or_else(|| SuitError::structure(path, "suit-common is missing"))?;
    let common = common(ctx, common_b, depth + 2)?;
    let n = common.components.len();

    let rules = |name| SeqRules {
        components: n,
        shared: false,
        name,
    };
    let mut validate = None;
    let mut load = None;
    let mut invoke = None;
    for (name, b) in raw_seq {
        let s = command_sequence(ctx, b, &format!("manifest.{name}"), depth + 2, rules(name))?;
        match name {
            "validate" => validate = Some(s),
            "load" => load = Some(s),
            _ => invoke = Some(s),
        }
    }

    let unwrap_bstr = |raw| -> Result<&[u8], SuitError> {
        let v = Decoder::new(raw, ctx.budget, depth)?.single()?;
        match v {
            Value::Bytes(std::borrow::Cow::Borrowed(b)) => Ok(b),
            _ => Err(SuitError::structure(
                "envelope",
                "a severable member must be a definite-length byte string",
            )),
        }
    };
    let mut payload_fetch = None;
    let mut install = None;
    let mut text = None;
    for (k, val) in sev {
        match k {
            keys::PAYLOAD_FETCH => {
                payload_fetch = Some(severable(
                    val,
                    members.payload_fetch,
                    "payload-fetch",
                    |b| {
                        command_sequence(
                            ctx,
                            b,
                            "manifest.payload-fetch",
                            depth + 2,
                            rules("payload-fetch"),
                        )
                    },
                    unwrap_bstr,
                )?)
            }
            keys::INSTALL => {
                install = Some(severable(
                    val,
                    members.install,
                    "install",
                    |b| command_sequence(ctx, b, "manifest.install", depth + 2, rules("install")),
                    unwrap_bstr,
                )?)
            }
            _ => {
                text = Some(severable(
                    val,
                    members.text,
                    "text",
                    |b| text_map(ctx, b, depth + 2),
                    unwrap_bstr,
                )?)
            }
        }
    }
    // A member in the envelope with no entry at all in the manifest is unauthenticated.
    for (present, manifest_has, name) in [
        (
            members.payload_fetch.is_some(),
            payload_fetch.is_some(),
            "payload-fetch",
        ),
        (members.install.is_some(), install.is_some(), "install"),
        (members.text.is_some(), text.is_some(), "text"),
    ] {
        if present && !manifest_has {
            return Err(SuitError::structure(
                "envelope",
                format!(
                    "the envelope carries '{name}' but the manifest has no digest for it: unauthenticated member"
                ),
            ));
        }
    }
    let mud = mud_raw
        .map(|b| mud_container(ctx, b, depth + 2))
        .transpose()?;

    Ok(Manifest {
        version,
        sequence_number,
        common,
        reference_uri,
        manifest_component_id,
        validate,
        load,
        invoke,
        payload_fetch,
        install,
        text,
        mud,
        ignored_custom_elements,
    })
}
