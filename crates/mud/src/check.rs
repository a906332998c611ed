//! One call that does everything a MUD manager does with a file it has in hand:
//! verify the signature (first, as RFC 8520 §13.2 asks), parse, validate, compile
//! and summarise. `steward mud check` and `steward mud show` are thin wrappers
//! around [`check`]; the gateway's MUD pipeline uses it too.

use crate::compile::{DevicePolicy, compile};
use crate::diag::{Diagnostic, Severity};
use crate::model::MudFile;
use crate::parse::{ParseOptions, parse};
use crate::signature::{SignatureError, SignatureInfo, TrustAnchors, VerifyOptions, verify};
use crate::validate::check_fetched_url;
use serde::Serialize;
use time::OffsetDateTime;

/// When a file without a signature is acceptable. The default is never: MUD
/// managers fail closed (RFC 8520 §13.2).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum UnsignedPolicy {
    #[default]
    Reject,
    /// Unsigned files are accepted for these makers (MUD URL hosts, e.g.
    /// `mud.maker.example`), with a warning.
    AllowMakers(Vec<String>),
    /// Unsigned files are accepted for every maker, with a warning. For authoring
    /// tools (`steward mud check` without `--signature`), not for enforcement.
    Allow,
}

/// How to check a file.
#[derive(Debug, Clone, Default)]
pub struct CheckOptions {
    pub parse: ParseOptions,
    /// The URL the file was retrieved from; its mud-url must match.
    pub fetched_from: Option<String>,
    /// The detached DER CMS signature, if one was obtained.
    pub signature: Option<Vec<u8>>,
    pub anchors: TrustAnchors,
    pub unsigned: UnsignedPolicy,
    /// Verification time; `None` means the system clock.
    pub at: Option<OffsetDateTime>,
    /// Required signer subject, from the device certificate's mudsigner extension.
    pub expected_signer: Option<String>,
}

impl CheckOptions {
    /// Options for authoring tools: lenient parsing, unsigned files accepted with a warning.
    pub fn unsigned_ok() -> Self {
        CheckOptions {
            unsigned: UnsignedPolicy::Allow,
            ..Default::default()
        }
    }
}

/// What happened to the signature.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "status", rename_all = "kebab-case")]
pub enum SignatureStatus {
    Verified(SignatureInfo),
    /// No signature, and the policy allowed that.
    UnsignedAllowed,
    /// No signature, or a bad one: the file is rejected.
    Rejected {
        reason: String,
    },
}

/// Everything `check` found, ready to print or to serialise with `--json`.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// True when there are no errors (warnings are allowed).
    pub valid: bool,
    pub mud_url: Option<String>,
    pub errors: Vec<Diagnostic>,
    pub warnings: Vec<Diagnostic>,
    pub signature: SignatureStatus,
    /// The compiled rules, when the file is valid.
    pub policy: Option<DevicePolicy>,
    /// One line per rule, for people.
    pub summary: Vec<String>,
    /// The parsed file, when it parsed.
    #[serde(skip)]
    pub file: Option<MudFile>,
    /// The signature error, when there was one (also in `errors`).
    #[serde(skip)]
    pub signature_error: Option<SignatureError>,
}

impl Report {
    /// Errors, then warnings, then the summary, as lines for a terminal.
    pub fn to_text(&self) -> String {
        let mut s = String::new();
        for d in self.errors.iter().chain(&self.warnings) {
            s.push_str(&d.to_string());
            s.push('\n');
        }
        match &self.signature {
            SignatureStatus::Verified(i) => s.push_str(&format!(
                "signature: verified, signed by {} (issuer {})\n",
                i.signer_subject, i.signer_issuer
            )),
            SignatureStatus::UnsignedAllowed => {
                s.push_str("signature: none (unsigned files allowed)\n")
            }
            SignatureStatus::Rejected { reason } => {
                s.push_str(&format!("signature: rejected: {reason}\n"))
            }
        }
        if let Some(u) = &self.mud_url {
            s.push_str(&format!("{u}\n"));
        }
        for line in &self.summary {
            s.push_str(&format!("  {line}\n"));
        }
        s.push_str(if self.valid { "valid\n" } else { "invalid\n" });
        s
    }
}

fn sig_diag(e: &SignatureError) -> Diagnostic {
    Diagnostic {
        severity: Severity::Error,
        path: String::new(),
        message: format!("signature: {e}"),
    }
}

/// Checks one MUD file: signature, parse, validation, compilation.
pub fn check(bytes: &[u8], opts: &CheckOptions) -> Report {
    let mut errors = Vec::new();
    let mut warnings = Vec::new();
    let at = opts.at.unwrap_or_else(OffsetDateTime::now_utc);

    // RFC 8520 §13.2: the signature is checked before the file is processed.
    let mut signature_error = None;
    let mut signature = match &opts.signature {
        Some(sig) => {
            let v = VerifyOptions {
                anchors: &opts.anchors,
                at,
                expected_signer: opts.expected_signer.as_deref(),
            };
            match verify(bytes, sig, &v) {
                Ok(info) => SignatureStatus::Verified(info),
                Err(e) => {
                    errors.push(sig_diag(&e));
                    let r = SignatureStatus::Rejected {
                        reason: e.to_string(),
                    };
                    signature_error = Some(e);
                    r
                }
            }
        }
        // Decided below, once the maker is known.
        None => SignatureStatus::UnsignedAllowed,
    };

    let parsed = parse(bytes, &opts.parse);
    let file = match parsed {
        Ok(p) => {
            warnings.extend(p.warnings);
            Some(p.file)
        }
        Err(e) => {
            for d in e.diagnostics() {
                match d.severity {
                    Severity::Error => errors.push(d),
                    Severity::Warning => warnings.push(d),
                }
            }
            None
        }
    };

    if opts.signature.is_none() {
        let maker = opts
            .fetched_from
            .as_deref()
            .or(file.as_ref().map(|f| f.mud.mud_url.as_str()))
            .and_then(|u| url::Url::parse(u).ok())
            .and_then(|u| u.host_str().map(str::to_ascii_lowercase));
        let allowed = match &opts.unsigned {
            UnsignedPolicy::Reject => false,
            UnsignedPolicy::Allow => true,
            UnsignedPolicy::AllowMakers(m) => maker
                .as_ref()
                .is_some_and(|h| m.iter().any(|x| x.eq_ignore_ascii_case(h))),
        };
        if allowed {
            warnings.push(Diagnostic {
                severity: Severity::Warning,
                path: String::new(),
                message: "the file is not signed; accepted only because unsigned files are allowed for this maker".into(),
            });
        } else {
            let e = SignatureError::Missing;
            errors.push(sig_diag(&e));
            signature = SignatureStatus::Rejected {
                reason: e.to_string(),
            };
            signature_error = Some(e);
        }
    }

    if let (Some(f), Some(u)) = (&file, &opts.fetched_from)
        && let Some(d) = check_fetched_url(f, u)
    {
        errors.push(d);
    }

    let policy = match &file {
        Some(f) => match compile(f) {
            Ok(p) => Some(p),
            Err(e) => {
                errors.push(Diagnostic {
                    severity: Severity::Error,
                    path: String::new(),
                    message: e.to_string(),
                });
                None
            }
        },
        None => None,
    };
    let summary = policy.as_ref().map(|p| p.summary()).unwrap_or_default();
    Report {
        valid: errors.is_empty(),
        mud_url: file.as_ref().map(|f| f.mud.mud_url.clone()),
        errors,
        warnings,
        signature,
        policy,
        summary,
        file,
        signature_error,
    }
}
