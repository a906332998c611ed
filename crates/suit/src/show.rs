//! What an operator or maker needs to see of an envelope: [`Summary`], built by
//! [`Envelope::summary`], serialisable with serde (for `--json`) and printable
//! with `Display`. Also [`Envelope::check_payload`], which uses the same
//! per-component view of the parameters.
//!
//! Parameters are gathered by walking the sequences in procedure order (shared,
//! payload-fetch, install, validate, load, invoke), following Set Component
//! Index and Override Parameters (§8.4.10). Parameters set inside a Try Each
//! alternative are listed as that component's `alternatives`, since which one
//! applies depends on the device (A/B slots, §7.6).

use serde::Serialize;

use crate::cose;
use crate::envelope::Envelope;
use crate::error::SuitError;
use crate::manifest::{Command, CommandSequence, ComponentIndex, Parameters, SuitDigest};

/// A digest for display.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DigestView {
    pub algorithm: &'static str,
    pub hex: String,
}

impl From<&SuitDigest> for DigestView {
    fn from(d: &SuitDigest) -> Self {
        DigestView {
            algorithm: d.algorithm.name(),
            hex: d.hex(),
        }
    }
}

/// The parameters a gateway cares about, for one component (or one alternative).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ParamView {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vendor_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub class_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub device_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image_digest: Option<DigestView>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image_size: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uri: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub component_slot: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_component: Option<u64>,
}

impl From<&Parameters> for ParamView {
    fn from(p: &Parameters) -> Self {
        ParamView {
            vendor_id: p.vendor_id.as_ref().map(|v| v.to_string()),
            class_id: p.class_id.map(|u| u.to_string()),
            device_id: p.device_id.map(|u| u.to_string()),
            image_digest: p.image_digest.as_ref().map(DigestView::from),
            image_size: p.image_size,
            uri: p.uri.clone(),
            component_slot: p.component_slot,
            source_component: p.source_component,
        }
    }
}

/// Parameters set in one Try Each alternative.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Alternative {
    /// The sequence holding the Try Each (e.g. `shared-sequence`, `install`).
    pub sequence: &'static str,
    #[serde(flatten)]
    pub params: ParamView,
}

/// One component of the manifest with its parameters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ComponentSummary {
    pub index: usize,
    /// Component identifier, `[h'00']` style.
    pub id: String,
    #[serde(flatten)]
    pub params: ParamView,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub alternatives: Vec<Alternative>,
}

/// A command sequence for display.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SequenceSummary {
    pub name: &'static str,
    /// Severed: only its digest is in the manifest.
    pub severed: bool,
    /// False when severed and not carried in the envelope.
    pub available: bool,
    pub commands: Vec<String>,
}

/// One text field (§8.4.4).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TextEntry {
    pub language: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub component: Option<String>,
    pub field: String,
    pub value: String,
}

/// A signature block for display.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SignatureSummary {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub alg: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kid: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Everything `steward firmware show` prints.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Summary {
    /// A signature was verified with a trusted key ([`crate::verify`]).
    pub authenticated: bool,
    /// The manifest matches the digest in the authentication wrapper.
    pub digest_matches: bool,
    pub manifest_version: u64,
    pub sequence_number: u64,
    pub manifest_digest: DigestView,
    pub signatures: Vec<SignatureSummary>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reference_uri: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mud_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mud_signer_ski: Option<DigestView>,
    pub components: Vec<ComponentSummary>,
    pub sequences: Vec<SequenceSummary>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub text: Vec<TextEntry>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub integrated_payloads: Vec<(String, usize)>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub ignored_envelope_elements: Vec<i64>,
}

struct Walk {
    alts: Vec<Vec<Alternative>>,
    n: usize,
}

fn selected(idx: &ComponentIndex, n: usize) -> Vec<usize> {
    match idx {
        ComponentIndex::One(i) => vec![*i as usize],
        ComponentIndex::All => (0..n).collect(),
        ComponentIndex::List(l) => l.iter().map(|i| *i as usize).collect(),
    }
}

impl Walk {
    fn seq(
        &mut self,
        seq: &CommandSequence,
        name: &'static str,
        target: &mut Vec<Parameters>,
        current: &mut Vec<usize>,
    ) {
        for cmd in &seq.0 {
            match cmd {
                Command::SetComponentIndex(i) => *current = selected(i, self.n),
                Command::OverrideParameters(p) => {
                    for &c in current.iter() {
                        if let Some(t) = target.get_mut(c) {
                            t.override_with(p);
                        }
                    }
                }
                Command::SetParameters(p) => {
                    for &c in current.iter() {
                        if let Some(t) = target.get_mut(c) {
                            t.set_defaults_from(p);
                        }
                    }
                }
                Command::RunSequence(s) => self.seq(s, name, target, current),
                Command::TryEach { alternatives, .. } => {
                    for alt in alternatives {
                        let mut scratch = vec![Parameters::default(); self.n];
                        let mut cur = current.clone();
                        self.seq(alt, name, &mut scratch, &mut cur);
                        for (c, p) in scratch.iter().enumerate() {
                            if *p != Parameters::default()
                                && let Some(a) = self.alts.get_mut(c)
                            {
                                a.push(Alternative {
                                    sequence: name,
                                    params: ParamView::from(p),
                                });
                            }
                        }
                    }
                }
                _ => {}
            }
        }
    }
}

impl Envelope {
    /// The anti-rollback sequence number (§8.4.2).
    pub fn sequence_number(&self) -> u64 {
        self.manifest.sequence_number
    }

    /// The MUD URL of draft-ietf-suit-mud, if the manifest carries one.
    pub fn mud_url(&self) -> Option<&str> {
        self.manifest.mud.as_ref().map(|m| m.url.as_str())
    }

    /// Typed parameters per component (index = component index), as set
    /// outside Try Each alternatives, walking the sequences in procedure order.
    /// For a single-image manifest from [`crate::build`], `parameters()[0]`
    /// holds vendor-id, class-id, image digest and size, and URI.
    pub fn parameters(&self) -> Vec<Parameters> {
        self.walk().0
    }

    fn walk(&self) -> (Vec<Parameters>, Vec<Vec<Alternative>>) {
        let m = &self.manifest;
        let n = m.common.components.len();
        let mut w = Walk {
            alts: vec![Vec::new(); n],
            n,
        };
        let mut top = vec![Parameters::default(); n];
        for (name, seq, _) in m.sequences() {
            if let Some(seq) = seq {
                // Each sequence starts at component 0 (§8.4.10.1 default index).
                let mut current = vec![0usize];
                w.seq(seq, name, &mut top, &mut current);
            }
        }
        (top, w.alts)
    }

    /// Per-component parameters and Try Each alternatives, in procedure order.
    pub fn components(&self) -> Vec<ComponentSummary> {
        let m = &self.manifest;
        let (top, mut alts) = self.walk();
        m.common
            .components
            .iter()
            .enumerate()
            .map(|(i, id)| ComponentSummary {
                index: i,
                id: id.to_string(),
                params: ParamView::from(&top[i]),
                alternatives: std::mem::take(&mut alts[i]),
            })
            .collect()
    }

    /// The summary for `show`.
    pub fn summary(&self) -> Summary {
        let m = &self.manifest;
        let signatures = self
            .auth_blocks
            .iter()
            .map(|b| match cose::sign1_info(b) {
                Ok(i) => SignatureSummary {
                    alg: i.alg,
                    kid: i.kid,
                    error: None,
                },
                Err(e) => SignatureSummary {
                    alg: None,
                    kid: None,
                    error: Some(e.to_string()),
                },
            })
            .collect();
        let sequences = m
            .sequences()
            .into_iter()
            .map(|(name, seq, severed)| SequenceSummary {
                name,
                severed,
                available: seq.is_some(),
                commands: seq
                    .map(|s| s.0.iter().map(Command::name).collect())
                    .unwrap_or_default(),
            })
            .collect();
        let mut text = Vec::new();
        if let Some(t) = m.text.as_ref().and_then(|t| t.value()) {
            for (lang, lt) in &t.0 {
                for (k, v) in &lt.manifest {
                    text.push(TextEntry {
                        language: lang.clone(),
                        component: None,
                        field: text_field(*k).to_string(),
                        value: v.clone(),
                    });
                }
                for (id, fields) in &lt.components {
                    for (k, v) in fields {
                        text.push(TextEntry {
                            language: lang.clone(),
                            component: Some(id.to_string()),
                            field: component_text_field(*k).to_string(),
                            value: v.clone(),
                        });
                    }
                }
            }
        }
        Summary {
            authenticated: self.authenticated,
            digest_matches: self.digest_matches,
            manifest_version: m.version,
            sequence_number: m.sequence_number,
            manifest_digest: DigestView::from(&self.digest),
            signatures,
            reference_uri: m.reference_uri.clone(),
            mud_url: m.mud.as_ref().map(|x| x.url.clone()),
            mud_signer_ski: m
                .mud
                .as_ref()
                .and_then(|x| x.ski.as_ref())
                .map(DigestView::from),
            components: self.components(),
            sequences,
            text,
            integrated_payloads: self
                .integrated_payloads
                .iter()
                .map(|(k, v)| (k.clone(), v.len()))
                .collect(),
            ignored_envelope_elements: self.ignored_elements.clone(),
        }
    }

    /// Check a payload against the manifest: its digest (and size, where given)
    /// must match the image digest of a component or of one of its Try Each
    /// alternatives. This is what the gateway checks before it stores or serves
    /// a payload.
    pub fn check_payload(&self, payload: &[u8]) -> Result<(), SuitError> {
        let mut candidates: Vec<(SuitDigest, Option<u64>)> = Vec::new();
        let m = &self.manifest;
        let n = m.common.components.len();
        for p in &self.parameters() {
            if let Some(d) = &p.image_digest {
                candidates.push((d.clone(), p.image_size));
            }
        }
        // Alternatives keep only the display view; re-walk for typed digests.
        collect_alt_digests(m, n, &mut candidates);
        if candidates.is_empty() {
            return Err(SuitError::PayloadMismatch(
                "the manifest names no image digest to check the payload against".into(),
            ));
        }
        let len = payload.len() as u64;
        for (d, size) in &candidates {
            if d.matches(payload) && size.is_none_or(|s| s == len) {
                return Ok(());
            }
        }
        let (d, size) = &candidates[0];
        let got = d.algorithm.compute(payload);
        Err(SuitError::PayloadMismatch(format!(
            "payload ({len} bytes) has {} {}, the manifest expects {}{}",
            d.algorithm.name(),
            hex::encode(got),
            d.hex(),
            size.map(|s| format!(" and {s} bytes")).unwrap_or_default()
        )))
    }
}

fn collect_alt_digests(
    m: &crate::manifest::Manifest,
    n: usize,
    out: &mut Vec<(SuitDigest, Option<u64>)>,
) {
    fn walk(seq: &CommandSequence, n: usize, out: &mut Vec<(SuitDigest, Option<u64>)>) {
        for cmd in &seq.0 {
            match cmd {
                Command::TryEach { alternatives, .. } => {
                    for alt in alternatives {
                        let mut scratch = vec![Parameters::default(); n];
                        let mut w = Walk {
                            alts: vec![Vec::new(); n],
                            n,
                        };
                        let mut cur = vec![0usize];
                        w.seq(alt, "alt", &mut scratch, &mut cur);
                        for p in scratch {
                            if let Some(d) = p.image_digest {
                                out.push((d, p.image_size));
                            }
                        }
                        walk(alt, n, out);
                    }
                }
                Command::RunSequence(s) => walk(s, n, out),
                _ => {}
            }
        }
    }
    for (_, seq, _) in m.sequences() {
        if let Some(seq) = seq {
            walk(seq, n, out);
        }
    }
}

fn text_field(k: i64) -> String {
    match k {
        1 => "manifest-description".into(),
        2 => "update-description".into(),
        3 => "manifest-json-source".into(),
        4 => "manifest-yaml-source".into(),
        k => format!("text({k})"),
    }
}

fn component_text_field(k: i64) -> String {
    match k {
        1 => "vendor-name".into(),
        2 => "model-name".into(),
        3 => "vendor-domain".into(),
        4 => "model-info".into(),
        5 => "component-description".into(),
        6 => "component-version".into(),
        k => format!("text({k})"),
    }
}

impl std::fmt::Display for Summary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let auth = if self.authenticated {
            "verified"
        } else {
            "NOT verified (decoded only)"
        };
        writeln!(
            f,
            "SUIT envelope, manifest version {}",
            self.manifest_version
        )?;
        writeln!(f, "  sequence number: {}", self.sequence_number)?;
        writeln!(f, "  signature:       {auth}")?;
        writeln!(
            f,
            "  manifest digest: {} {}{}",
            self.manifest_digest.algorithm,
            self.manifest_digest.hex,
            if self.digest_matches {
                ""
            } else {
                "  (MISMATCH)"
            }
        )?;
        for s in &self.signatures {
            match (&s.alg, &s.error) {
                (_, Some(e)) => writeln!(f, "  auth block:      unreadable: {e}")?,
                (alg, None) => writeln!(
                    f,
                    "  auth block:      COSE_Sign1 {}{}",
                    alg.as_deref().unwrap_or("(no alg)"),
                    s.kid
                        .as_ref()
                        .map(|k| format!(" kid {k}"))
                        .unwrap_or_default()
                )?,
            }
        }
        if let Some(u) = &self.reference_uri {
            writeln!(f, "  reference URI:   {u}")?;
        }
        if let Some(u) = &self.mud_url {
            writeln!(f, "  MUD URL:         {u}")?;
        }
        for c in &self.components {
            writeln!(f, "  component {} {}", c.index, c.id)?;
            write_params(f, &c.params, "    ")?;
            for a in &c.alternatives {
                writeln!(f, "    alternative (try-each in {}):", a.sequence)?;
                write_params(f, &a.params, "      ")?;
            }
        }
        for s in &self.sequences {
            let state = match (s.severed, s.available) {
                (true, true) => " (severed, carried)",
                (true, false) => " (severed, not carried)",
                _ => "",
            };
            writeln!(f, "  {}{}:", s.name, state)?;
            for c in &s.commands {
                writeln!(f, "    {c}")?;
            }
        }
        for t in &self.text {
            let first_line = t.value.lines().next().unwrap_or_default();
            match &t.component {
                Some(c) => writeln!(f, "  text [{}] {c} {}: {first_line}", t.language, t.field)?,
                None => writeln!(f, "  text [{}] {}: {first_line}", t.language, t.field)?,
            }
        }
        for (k, n) in &self.integrated_payloads {
            writeln!(f, "  integrated payload {k:?}: {n} bytes")?;
        }
        Ok(())
    }
}

fn write_params(f: &mut std::fmt::Formatter<'_>, p: &ParamView, ind: &str) -> std::fmt::Result {
    if let Some(v) = &p.vendor_id {
        writeln!(f, "{ind}vendor-id:    {v}")?;
    }
    if let Some(v) = &p.class_id {
        writeln!(f, "{ind}class-id:     {v}")?;
    }
    if let Some(v) = &p.device_id {
        writeln!(f, "{ind}device-id:    {v}")?;
    }
    if let Some(d) = &p.image_digest {
        writeln!(f, "{ind}image-digest: {} {}", d.algorithm, d.hex)?;
    }
    if let Some(v) = p.image_size {
        writeln!(f, "{ind}image-size:   {v}")?;
    }
    if let Some(v) = &p.uri {
        writeln!(f, "{ind}uri:          {v}")?;
    }
    if let Some(v) = p.component_slot {
        writeln!(f, "{ind}slot:         {v}")?;
    }
    if let Some(v) = p.source_component {
        writeln!(f, "{ind}source:       component {v}")?;
    }
    Ok(())
}
