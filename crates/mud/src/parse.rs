//! Parsing MUD files from bytes into the typed [`crate::model`], strictly (RFC 8520
//! and RFC 8519 as written) or leniently (also the deviations seen in published
//! files, each reported as a warning with its JSON path).
//!
//! The parser never panics and never trusts sizes in the input: the byte size is
//! checked before JSON parsing, serde_json bounds nesting depth (128), and every
//! list is counted against [`Limits`] before it is walked.
//!
//! Unknown members are treated by where they are:
//! - in the `ietf-mud:mud` container and at the top level, a module-qualified
//!   member (`module:name`) is an extension the RFC tells us to ignore (RFC 8520
//!   §3.8): it is ignored with a warning. An unqualified unknown member is a
//!   deviation (error in strict mode, warning in lenient mode).
//! - inside `matches` (and its containers), anything we do not understand is an
//!   error in both modes: ignoring a match condition of an `accept` entry would
//!   allow more traffic than the maker asked for.

use crate::diag::{Diagnostic, JsonPath, Severity, Sink};
use crate::model::*;
use crate::validate;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Strict follows the RFCs; lenient accepts known real-world deviations.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    Strict,
    #[default]
    Lenient,
}

/// Resource limits applied while parsing. The defaults fit every published MUD
/// file we know of with a wide margin.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Limits {
    /// Largest accepted file, in bytes (default 256 KiB).
    pub max_bytes: usize,
    /// Most ACLs in `ietf-access-control-list:acls`.
    pub max_acls: usize,
    /// Most ACEs in one ACL.
    pub max_aces_per_acl: usize,
    /// Most ACEs in the whole file.
    pub max_total_aces: usize,
    /// Most ACL names in one of the two policies.
    pub max_policy_acls: usize,
    /// Longest ACL or ACE name (RFC 8519 allows 1..64).
    pub max_name_len: usize,
    /// Longest DNS name (RFC 1035: 253 characters in text form).
    pub max_dns_name_len: usize,
    /// Longest URI or other free-text string.
    pub max_string_len: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_bytes: 256 * 1024,
            max_acls: 64,
            max_aces_per_acl: 512,
            max_total_aces: 2048,
            max_policy_acls: 64,
            max_name_len: 64,
            max_dns_name_len: 253,
            max_string_len: 2048,
        }
    }
}

/// How to parse.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ParseOptions {
    pub mode: Mode,
    pub limits: Limits,
}

impl ParseOptions {
    pub fn strict() -> Self {
        ParseOptions {
            mode: Mode::Strict,
            ..Default::default()
        }
    }
}

/// A successfully parsed file and the warnings found on the way.
#[derive(Debug, Clone)]
pub struct Parsed {
    pub file: MudFile,
    pub warnings: Vec<Diagnostic>,
}

/// Why a file could not be parsed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ParseError {
    #[error(
        "file is {size} bytes; the limit is {limit} bytes (raise the limit if this file is legitimate)"
    )]
    TooLarge { size: usize, limit: usize },
    #[error("file is not UTF-8 text (RFC 8259 §8.1): invalid byte at offset {offset}")]
    NotUtf8 { offset: usize },
    #[error("not valid JSON: {message} (line {line}, column {column})")]
    Syntax {
        message: String,
        line: usize,
        column: usize,
    },
    /// The JSON is well formed but is not a valid MUD file. Holds every error and
    /// warning found, errors first.
    #[error("{}", invalid_message(.diagnostics))]
    Invalid { diagnostics: Vec<Diagnostic> },
}

fn invalid_message(d: &[Diagnostic]) -> String {
    let n = d.iter().filter(|d| d.severity == Severity::Error).count();
    match d.iter().find(|d| d.severity == Severity::Error) {
        Some(first) => format!("invalid MUD file: {n} error(s), first: {first}"),
        None => "invalid MUD file".to_owned(),
    }
}

impl ParseError {
    /// The error as diagnostics (one for byte- and syntax-level errors).
    pub fn diagnostics(&self) -> Vec<Diagnostic> {
        match self {
            ParseError::Invalid { diagnostics } => diagnostics.clone(),
            other => vec![Diagnostic {
                severity: Severity::Error,
                path: String::new(),
                message: other.to_string(),
            }],
        }
    }
}

/// Parses and validates one MUD file.
pub fn parse(bytes: &[u8], opts: &ParseOptions) -> Result<Parsed, ParseError> {
    if bytes.len() > opts.limits.max_bytes {
        return Err(ParseError::TooLarge {
            size: bytes.len(),
            limit: opts.limits.max_bytes,
        });
    }
    let text = std::str::from_utf8(bytes).map_err(|e| ParseError::NotUtf8 {
        offset: e.valid_up_to(),
    })?;
    let mut p = Parser {
        mode: opts.mode,
        limits: &opts.limits,
        sink: Sink::default(),
        acl_paths: Vec::new(),
        policy_paths: Vec::new(),
    };
    let text = match text.strip_prefix('\u{feff}') {
        Some(rest) => {
            p.deviation(
                &JsonPath::root(),
                "file starts with a byte order mark, which RFC 8259 §8.1 forbids",
            );
            rest
        }
        None => text,
    };
    let value: Value = serde_json::from_str(text).map_err(|e| ParseError::Syntax {
        message: syntax_message(&e),
        line: e.line(),
        column: e.column(),
    })?;
    let file = p.root(&value);
    if let Some(file) = &file {
        validate::check_references(file, &p.acl_paths, &p.policy_paths, &mut p.sink);
    }
    let has_errors = p.sink.has_errors();
    let mut diags = p.sink.finish();
    match file {
        Some(file) if !has_errors => Ok(Parsed {
            file,
            warnings: diags,
        }),
        _ => {
            diags.sort_by_key(|d| d.severity != Severity::Error);
            Err(ParseError::Invalid { diagnostics: diags })
        }
    }
}

fn syntax_message(e: &serde_json::Error) -> String {
    let s = e.to_string();
    // serde_json appends " at line X column Y"; we report those separately.
    let s = match s.rfind(" at line ") {
        Some(i) => s[..i].to_owned(),
        None => s,
    };
    if s.contains("recursion limit") {
        format!("{s}: nesting is far deeper than any MUD file needs")
    } else if e.is_eof() {
        format!("{s}: the file is truncated")
    } else {
        s
    }
}

pub(crate) const ROOT_MUD: &str = "ietf-mud:mud";
pub(crate) const ROOT_ACLS: &str = "ietf-access-control-list:acls";
const ROOT_ACLS_LEGACY: &str = "ietf-access-control-list:access-lists";

fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Where an unknown member was found, which decides how it is treated.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Place {
    /// The top level or the `ietf-mud:mud` container: extensions are ignored.
    Container,
    /// Inside `matches`: unknown conditions are errors.
    Match,
    /// Other RFC 8519 structures (acl, ace, actions, policies).
    Structure,
}

struct Parser<'o> {
    mode: Mode,
    limits: &'o Limits,
    sink: Sink,
    /// Path of each ACL, in model order (for later cross-reference checks).
    acl_paths: Vec<(JsonPath, Vec<JsonPath>)>,
    /// Path of each policy entry: (direction, path of the entry).
    policy_paths: Vec<(Direction, JsonPath)>,
}

impl Parser<'_> {
    fn error(&mut self, path: &JsonPath, msg: impl Into<String>) {
        self.sink.error(path, msg);
    }

    fn warn(&mut self, path: &JsonPath, msg: impl Into<String>) {
        self.sink.warn(path, msg);
    }

    /// A departure from the RFC seen in real files: warning when lenient, error when strict.
    fn deviation(&mut self, path: &JsonPath, msg: impl Into<String>) {
        let msg = msg.into();
        match self.mode {
            Mode::Lenient => self.warn(path, format!("{msg} (accepted in lenient mode)")),
            Mode::Strict => self.error(path, msg),
        }
    }

    fn object<'v>(
        &mut self,
        v: &'v Value,
        path: &JsonPath,
        what: &str,
    ) -> Option<&'v Map<String, Value>> {
        match v {
            Value::Object(m) => Some(m),
            other => {
                self.error(
                    path,
                    format!(
                        "expected {what} (a JSON object), found {}",
                        json_type(other)
                    ),
                );
                None
            }
        }
    }

    fn array<'v>(
        &mut self,
        v: &'v Value,
        path: &JsonPath,
        what: &str,
        max: usize,
    ) -> Option<&'v Vec<Value>> {
        match v {
            Value::Array(a) if a.len() > max => {
                self.error(
                    path,
                    format!("{what} has {} entries; the limit is {max}", a.len()),
                );
                None
            }
            Value::Array(a) => Some(a),
            other => {
                self.error(
                    path,
                    format!("expected {what} (a JSON array), found {}", json_type(other)),
                );
                None
            }
        }
    }

    fn string(&mut self, v: &Value, path: &JsonPath, what: &str, max_len: usize) -> Option<String> {
        match v {
            Value::String(s) if s.is_empty() => {
                self.error(path, format!("{what} must not be empty"));
                None
            }
            Value::String(s) if s.chars().count() > max_len => {
                self.error(
                    path,
                    format!(
                        "{what} is {} characters long; at most {max_len} are allowed",
                        s.chars().count()
                    ),
                );
                None
            }
            Value::String(s) => Some(s.clone()),
            other => {
                self.error(
                    path,
                    format!("expected {what} (a string), found {}", json_type(other)),
                );
                None
            }
        }
    }

    /// An unsigned integer leaf. RFC 7951 §6.1 encodes uint8/16/32 as JSON numbers;
    /// lenient mode also takes a decimal string.
    fn uint(&mut self, v: &Value, path: &JsonPath, what: &str, max: u64) -> Option<u64> {
        let n = match v {
            Value::Number(n) => n.as_u64(),
            Value::String(s) => match s.parse::<u64>() {
                Ok(n) => {
                    self.deviation(
                        path,
                        format!("{what} is written as a string; RFC 7951 §6.1 encodes it as a JSON number"),
                    );
                    Some(n)
                }
                Err(_) => None,
            },
            _ => None,
        };
        match n {
            Some(n) if n <= max => Some(n),
            Some(n) => {
                self.error(path, format!("{what} is {n}; expected at most {max}"));
                None
            }
            None => {
                self.error(
                    path,
                    format!(
                        "expected {what} (an integer from 0 to {max}), found {}",
                        match v {
                            Value::Number(n) => format!("the number {n}"),
                            other => json_type(other).to_owned(),
                        }
                    ),
                );
                None
            }
        }
    }

    fn boolean(&mut self, v: &Value, path: &JsonPath, what: &str) -> Option<bool> {
        match v {
            Value::Bool(b) => Some(*b),
            Value::String(s) if s == "true" || s == "false" => {
                self.deviation(
                    path,
                    format!("{what} is written as a string; expected a JSON boolean"),
                );
                Some(s == "true")
            }
            other => {
                self.error(
                    path,
                    format!(
                        "expected {what} (true or false), found {}",
                        json_type(other)
                    ),
                );
                None
            }
        }
    }

    /// A leaf of YANG type `empty`, encoded `[null]` (RFC 7951 §6.9).
    fn empty_leaf(&mut self, v: &Value, path: &JsonPath, what: &str) -> bool {
        let loose = match v {
            Value::Array(a) if a.len() == 1 && a[0].is_null() => return true,
            Value::Null | Value::Bool(true) => true,
            Value::Array(a) => a.is_empty(),
            Value::Object(o) => o.is_empty(),
            _ => false,
        };
        if loose {
            self.deviation(
                path,
                format!("{what} is a YANG `empty` leaf, which RFC 7951 §6.9 encodes as [null]"),
            );
            return true;
        }
        self.error(
            path,
            format!(
                "expected {what} as [null] (a YANG `empty` leaf), found {}",
                json_type(v)
            ),
        );
        false
    }

    fn uri(&mut self, v: &Value, path: &JsonPath, what: &str) -> Option<String> {
        let s = self.string(v, path, what, self.limits.max_string_len)?;
        match url::Url::parse(&s) {
            Ok(_) => Some(s),
            Err(e) => {
                self.error(path, format!("{what} '{s}' is not a valid URI: {e}"));
                None
            }
        }
    }

    fn host(&mut self, v: &Value, path: &JsonPath, what: &str) -> Option<String> {
        let s = self.string(v, path, what, self.limits.max_dns_name_len)?;
        if let Err(msg) = validate::dns_name(&s) {
            self.error(
                path,
                format!("{what} '{s}' is not a valid host name: {msg}"),
            );
            return None;
        }
        Some(s)
    }

    /// Reports members of `m` not in `known`.
    fn unknown(&mut self, m: &Map<String, Value>, path: &JsonPath, known: &[&str], place: Place) {
        for k in m.keys() {
            if known.contains(&k.as_str()) {
                continue;
            }
            let p = path.key(k);
            match place {
                Place::Container if k.contains(':') => self.warn(
                    &p,
                    format!("unknown extension '{k}' ignored (RFC 8520 §3.8: unknown extensions are ignored)"),
                ),
                Place::Match => self.error(
                    &p,
                    format!("unsupported match condition '{k}': Steward cannot enforce it, and ignoring it would allow more than the maker asked for"),
                ),
                _ => self.deviation(&p, format!("unknown member '{k}'")),
            }
        }
    }

    // --- the document -------------------------------------------------------

    fn root(&mut self, v: &Value) -> Option<MudFile> {
        let root = JsonPath::root();
        let m = self.object(v, &root, "a MUD file")?;
        self.unknown(
            m,
            &root,
            &[ROOT_MUD, ROOT_ACLS, ROOT_ACLS_LEGACY],
            Place::Container,
        );
        let mud = match m.get(ROOT_MUD) {
            Some(v) => self.mud(v, &root.key(ROOT_MUD)),
            None => {
                self.error(
                    &root,
                    format!("missing the '{ROOT_MUD}' container (RFC 8520 §2.1)"),
                );
                None
            }
        };
        let acls = match (m.get(ROOT_ACLS), m.get(ROOT_ACLS_LEGACY)) {
            (Some(_), Some(_)) => {
                self.error(
                    &root,
                    format!("both '{ROOT_ACLS}' and the pre-RFC '{ROOT_ACLS_LEGACY}' are present; keep only '{ROOT_ACLS}'"),
                );
                None
            }
            (Some(v), None) => self.acls(v, &root.key(ROOT_ACLS)),
            (None, Some(v)) => {
                let p = root.key(ROOT_ACLS_LEGACY);
                self.deviation(
                    &p,
                    format!("pre-RFC root '{ROOT_ACLS_LEGACY}'; RFC 8519 names it '{ROOT_ACLS}'"),
                );
                self.acls(v, &p)
            }
            (None, None) => Some(Vec::new()),
        };
        Some(MudFile {
            mud: mud?,
            acls: acls?,
        })
    }

    fn mud(&mut self, v: &Value, path: &JsonPath) -> Option<MudContainer> {
        let m = self.object(v, path, "the ietf-mud:mud container")?;
        const KNOWN: &[&str] = &[
            "mud-version",
            "mud-url",
            "last-update",
            "mud-signature",
            "cache-validity",
            "is-supported",
            "systeminfo",
            "mfg-name",
            "model-name",
            "firmware-rev",
            "software-rev",
            "documentation",
            "extensions",
            "from-device-policy",
            "to-device-policy",
        ];
        self.unknown(m, path, KNOWN, Place::Container);
        let mut ok = true;

        let mud_version = match m.get("mud-version") {
            Some(v) => match self.uint(v, &path.key("mud-version"), "mud-version", 255) {
                Some(1) => 1,
                Some(n) => {
                    self.error(
                        &path.key("mud-version"),
                        format!(
                            "mud-version {n} is not supported; RFC 8520 §3.1 defines version 1"
                        ),
                    );
                    ok = false;
                    1
                }
                None => {
                    ok = false;
                    1
                }
            },
            None => {
                self.deviation(
                    path,
                    "missing mud-version (mandatory, RFC 8520 §3.1); assuming 1",
                );
                1
            }
        };

        let mud_url = match m.get("mud-url") {
            Some(v) => {
                let p = path.key("mud-url");
                let url = self.string(v, &p, "mud-url", self.limits.max_string_len);
                if let Some(u) = &url
                    && let Err(msg) = validate::mud_url(u)
                {
                    self.error(&p, msg);
                    ok = false;
                }
                url
            }
            None => {
                self.error(path, "missing mud-url (mandatory, RFC 8520 §3.3)");
                None
            }
        };

        let last_update = match m.get("last-update") {
            Some(v) => {
                let p = path.key("last-update");
                match self.string(v, &p, "last-update", 64) {
                    Some(s) => {
                        if time::OffsetDateTime::parse(
                            &s,
                            &time::format_description::well_known::Rfc3339,
                        )
                        .is_err()
                        {
                            self.deviation(
                                &p,
                                format!("last-update '{s}' is not a date-and-time such as 2019-07-07T03:18:16+00:00 (RFC 6991)"),
                            );
                        }
                        s
                    }
                    None => {
                        ok = false;
                        String::new()
                    }
                }
            }
            None => {
                self.deviation(path, "missing last-update (mandatory, RFC 8520 §3.4)");
                String::new()
            }
        };

        let mud_signature = self.opt(m, path, "mud-signature", |p, v, path| {
            let s = p.uri(v, path, "mud-signature")?;
            if !s.starts_with("https://") {
                p.warn(path, "mud-signature is not an https URL; the signature still protects the file, but fetching it leaks which device is present");
            }
            Some(s)
        }, &mut ok);

        let cache_validity = self.opt(
            m,
            path,
            "cache-validity",
            |p, v, path| {
                // RFC 8520 §3.5: uint8, range 1..168 hours; both ends are valid.
                let n = p.uint(v, path, "cache-validity", 255)?;
                if !(1..=168).contains(&n) {
                    p.error(
                        path,
                        format!("cache-validity is {n}; RFC 8520 §3.5 allows 1 to 168 hours"),
                    );
                    return None;
                }
                Some(n as u8)
            },
            &mut ok,
        );

        let is_supported = match m.get("is-supported") {
            Some(v) => match self.boolean(v, &path.key("is-supported"), "is-supported") {
                Some(b) => b,
                None => {
                    ok = false;
                    false
                }
            },
            None => {
                self.deviation(
                    path,
                    "missing is-supported (mandatory, RFC 8520 §3.6); assuming false",
                );
                false
            }
        };

        // RFC 8520 §3.7: systeminfo is 1..60 characters.
        let systeminfo = self.opt(
            m,
            path,
            "systeminfo",
            |p, v, path| match v {
                Value::String(s) if s.chars().count() > 60 => {
                    p.deviation(
                        path,
                        format!(
                            "systeminfo is {} characters; RFC 8520 §3.7 allows at most 60",
                            s.chars().count()
                        ),
                    );
                    p.string(v, path, "systeminfo", p.limits.max_string_len)
                }
                _ => p.string(v, path, "systeminfo", 60),
            },
            &mut ok,
        );
        let mfg_name = self.opt(
            m,
            path,
            "mfg-name",
            |p, v, path| p.string(v, path, "mfg-name", 255),
            &mut ok,
        );
        let model_name = self.opt(
            m,
            path,
            "model-name",
            |p, v, path| p.string(v, path, "model-name", 255),
            &mut ok,
        );
        let firmware_rev = self.opt(
            m,
            path,
            "firmware-rev",
            |p, v, path| p.string(v, path, "firmware-rev", 255),
            &mut ok,
        );
        let software_rev = self.opt(
            m,
            path,
            "software-rev",
            |p, v, path| p.string(v, path, "software-rev", 255),
            &mut ok,
        );
        let documentation = self.opt(
            m,
            path,
            "documentation",
            |p, v, path| p.uri(v, path, "documentation"),
            &mut ok,
        );
        let extensions = self
            .opt(
                m,
                path,
                "extensions",
                |p, v, path| {
                    let a = p.array(v, path, "extensions", 64)?;
                    let mut out = Vec::new();
                    for (i, e) in a.iter().enumerate() {
                        out.push(p.string(e, &path.idx(i), "extension name", 40)?);
                    }
                    Some(out)
                },
                &mut ok,
            )
            .unwrap_or_default();

        let from_device_policy = self
            .opt(
                m,
                path,
                "from-device-policy",
                |p, v, path| p.policy(v, path, Direction::FromDevice),
                &mut ok,
            )
            .unwrap_or_default();
        let to_device_policy = self
            .opt(
                m,
                path,
                "to-device-policy",
                |p, v, path| p.policy(v, path, Direction::ToDevice),
                &mut ok,
            )
            .unwrap_or_default();
        if from_device_policy.is_empty() && to_device_policy.is_empty() {
            self.warn(path, "neither from-device-policy nor to-device-policy names an ACL: the device may not communicate at all");
        }

        if !ok {
            return None;
        }
        Some(MudContainer {
            mud_version,
            mud_url: mud_url?,
            last_update,
            mud_signature,
            cache_validity,
            is_supported,
            systeminfo,
            mfg_name,
            model_name,
            firmware_rev,
            software_rev,
            documentation,
            extensions,
            from_device_policy,
            to_device_policy,
        })
    }

    /// An optional member: absent is `None`, present but bad clears `ok`.
    fn opt<T>(
        &mut self,
        m: &Map<String, Value>,
        path: &JsonPath,
        key: &str,
        f: impl FnOnce(&mut Self, &Value, &JsonPath) -> Option<T>,
        ok: &mut bool,
    ) -> Option<T> {
        let v = m.get(key)?;
        let r = f(self, v, &path.key(key));
        if r.is_none() {
            *ok = false;
        }
        r
    }

    /// `from-device-policy` / `to-device-policy` (RFC 8520 §2.1 `access-lists` grouping).
    fn policy(&mut self, v: &Value, path: &JsonPath, dir: Direction) -> Option<Vec<String>> {
        let m = self.object(v, path, "a policy")?;
        self.unknown(m, path, &["access-lists"], Place::Structure);
        let Some(al) = m.get("access-lists") else {
            return Some(Vec::new());
        };
        let p = path.key("access-lists");
        let al = self.object(al, &p, "access-lists")?;
        self.unknown(al, &p, &["access-list"], Place::Structure);
        let Some(list) = al.get("access-list") else {
            return Some(Vec::new());
        };
        let p = p.key("access-list");
        let list = self.array(list, &p, "access-list", self.limits.max_policy_acls)?;
        let mut names = Vec::with_capacity(list.len());
        let mut ok = true;
        for (i, e) in list.iter().enumerate() {
            let ep = p.idx(i);
            let Some(em) = self.object(e, &ep, "an access-list entry") else {
                ok = false;
                continue;
            };
            let name = self.name_member(em, &ep, "ACL name", "acl-name");
            if em.contains_key("acl-type") {
                self.deviation(
                    &ep.key("acl-type"),
                    "pre-RFC 'acl-type' in a policy entry; ignored",
                );
            }
            self.unknown(em, &ep, &["name", "acl-name", "acl-type"], Place::Structure);
            match name {
                Some(n) => {
                    if names.contains(&n) {
                        self.error(&ep, format!("ACL '{n}' is listed twice in this policy"));
                        ok = false;
                    }
                    self.policy_paths.push((dir, ep.key("name")));
                    names.push(n);
                }
                None => ok = false,
            }
        }
        ok.then_some(names)
    }

    /// The `name` key of a list entry, accepting the pre-RFC alias `legacy` leniently.
    fn name_member(
        &mut self,
        m: &Map<String, Value>,
        path: &JsonPath,
        what: &str,
        legacy: &str,
    ) -> Option<String> {
        let max = self.limits.max_name_len;
        match (m.get("name"), m.get(legacy)) {
            (Some(v), None) => self.string(v, &path.key("name"), what, max),
            (None, Some(v)) => {
                let p = path.key(legacy);
                self.deviation(&p, format!("pre-RFC '{legacy}'; RFC 8519 calls it 'name'"));
                self.string(v, &p, what, max)
            }
            (Some(_), Some(_)) => {
                self.error(
                    path,
                    format!("both 'name' and the pre-RFC '{legacy}' are present"),
                );
                None
            }
            (None, None) => {
                self.error(path, format!("missing 'name' ({what})"));
                None
            }
        }
    }

    // --- ACLs (RFC 8519) ----------------------------------------------------

    fn acls(&mut self, v: &Value, path: &JsonPath) -> Option<Vec<Acl>> {
        let m = self.object(v, path, "the ACL container")?;
        self.unknown(m, path, &["acl"], Place::Structure);
        let Some(list) = m.get("acl") else {
            return Some(Vec::new());
        };
        let p = path.key("acl");
        let list = self.array(list, &p, "the acl list", self.limits.max_acls)?;
        let mut acls = Vec::with_capacity(list.len());
        let mut ok = true;
        let mut total = 0usize;
        for (i, e) in list.iter().enumerate() {
            let ap = p.idx(i);
            match self.acl(e, &ap, &mut total) {
                Some((acl, ace_paths)) => {
                    if acls.iter().any(|a: &Acl| a.name == acl.name) {
                        self.error(&ap, format!("ACL name '{}' is used twice; names are list keys and must be unique (RFC 8519 §4.1)", acl.name));
                        ok = false;
                    }
                    self.acl_paths.push((ap, ace_paths));
                    acls.push(acl);
                }
                None => ok = false,
            }
        }
        ok.then_some(acls)
    }

    fn acl(
        &mut self,
        v: &Value,
        path: &JsonPath,
        total: &mut usize,
    ) -> Option<(Acl, Vec<JsonPath>)> {
        let m = self.object(v, path, "an ACL")?;
        self.unknown(
            m,
            path,
            &[
                "name",
                "acl-name",
                "type",
                "acl-type",
                "aces",
                "access-list-entries",
            ],
            Place::Structure,
        );
        let name = self.name_member(m, path, "ACL name", "acl-name");
        let acl_type = match (m.get("type"), m.get("acl-type")) {
            (Some(v), _) => self.acl_type(v, &path.key("type"), false),
            (None, Some(v)) => self.acl_type(v, &path.key("acl-type"), true),
            (None, None) => Ok(None),
        };
        let (aces_v, aces_path) = match (m.get("aces"), m.get("access-list-entries")) {
            (Some(v), _) => (Some(v), path.key("aces")),
            (None, Some(v)) => {
                let p = path.key("access-list-entries");
                self.deviation(
                    &p,
                    "pre-RFC 'access-list-entries'; RFC 8519 calls it 'aces'",
                );
                (Some(v), p)
            }
            (None, None) => (None, path.key("aces")),
        };
        let mut aces = Vec::new();
        let mut ace_paths = Vec::new();
        let mut ok = true;
        if let Some(av) = aces_v {
            let am = self.object(av, &aces_path, "aces")?;
            self.unknown(am, &aces_path, &["ace"], Place::Structure);
            if let Some(list) = am.get("ace") {
                let lp = aces_path.key("ace");
                let list = self.array(list, &lp, "the ace list", self.limits.max_aces_per_acl)?;
                *total += list.len();
                if *total > self.limits.max_total_aces {
                    self.error(
                        &lp,
                        format!(
                            "the file has more than {} ACEs in all",
                            self.limits.max_total_aces
                        ),
                    );
                    return None;
                }
                for (i, e) in list.iter().enumerate() {
                    let ep = lp.idx(i);
                    match self.ace(e, &ep, acl_type.as_ref().ok().and_then(|t| t.as_ref())) {
                        Some(ace) => {
                            if aces.iter().any(|a: &Ace| a.name == ace.name) {
                                self.error(&ep, format!("ACE name '{}' is used twice in this ACL; names must be unique (RFC 8519 §4.1)", ace.name));
                                ok = false;
                            }
                            aces.push(ace);
                            ace_paths.push(ep);
                        }
                        None => ok = false,
                    }
                }
            }
        }
        let name = name?;
        let acl_type = acl_type.ok()?;
        ok.then_some((
            Acl {
                name,
                acl_type,
                aces,
            },
            ace_paths,
        ))
    }

    fn acl_type(
        &mut self,
        v: &Value,
        path: &JsonPath,
        legacy_key: bool,
    ) -> Result<Option<AclType>, ()> {
        if legacy_key {
            self.deviation(path, "pre-RFC 'acl-type'; RFC 8519 calls it 'type'");
        }
        let s = self.string(v, path, "ACL type", 128).ok_or(())?;
        if let Some(t) = AclType::from_identity(&s) {
            return Ok(Some(t));
        }
        let bare = s.strip_prefix("ietf-access-control-list:").unwrap_or(&s);
        // Drafts of RFC 8519 used `ipv4-acl`, `ipv6-acl`, `eth-acl`.
        if let Some(t) = AclType::from_identity(&format!("{bare}-type")) {
            self.deviation(
                path,
                format!(
                    "pre-RFC ACL type '{s}'; RFC 8519 calls it '{}'",
                    t.identity()
                ),
            );
            return Ok(Some(t));
        }
        self.error(path, format!("unknown ACL type '{s}'; expected one of ipv4-acl-type, ipv6-acl-type, eth-acl-type, mixed-eth-ipv4-acl-type, mixed-eth-ipv6-acl-type, mixed-eth-ipv4-ipv6-acl-type"));
        Err(())
    }

    fn ace(&mut self, v: &Value, path: &JsonPath, acl_type: Option<&AclType>) -> Option<Ace> {
        let m = self.object(v, path, "an ACE")?;
        self.unknown(
            m,
            path,
            &["name", "rule-name", "matches", "actions"],
            Place::Structure,
        );
        let name = self.name_member(m, path, "ACE name", "rule-name");
        let matches = match m.get("matches") {
            Some(v) => self.matches(v, &path.key("matches")),
            // RFC 8519: an ACE without matches matches every packet.
            None => Some(Matches::default()),
        };
        let forwarding = match m.get("actions") {
            Some(v) => self.actions(v, &path.key("actions")),
            None => {
                self.error(
                    path,
                    "missing 'actions' (RFC 8519 §4.1: every ACE has a forwarding action)",
                );
                None
            }
        };
        let ace = Ace {
            name: name?,
            matches: matches?,
            forwarding: forwarding?,
        };
        let before = self.sink.error_count();
        validate::check_ace(&ace, acl_type, path, &mut self.sink);
        if self.sink.error_count() > before {
            return None;
        }
        Some(ace)
    }

    fn actions(&mut self, v: &Value, path: &JsonPath) -> Option<Forwarding> {
        let m = self.object(v, path, "actions")?;
        self.unknown(m, path, &["forwarding", "logging"], Place::Structure);
        let Some(f) = m.get("forwarding") else {
            self.error(
                path,
                "missing 'forwarding' (RFC 8519: accept, drop or reject)",
            );
            return None;
        };
        let p = path.key("forwarding");
        let s = self.string(f, &p, "forwarding action", 128)?;
        let bare = s.strip_prefix("ietf-access-control-list:").unwrap_or(&s);
        match bare {
            "accept" => Some(Forwarding::Accept),
            "drop" => Some(Forwarding::Drop),
            "reject" => Some(Forwarding::Reject),
            _ => {
                self.error(
                    &p,
                    format!("unknown forwarding action '{s}'; expected accept, drop or reject"),
                );
                None
            }
        }
    }

    // --- matches ------------------------------------------------------------

    fn matches(&mut self, v: &Value, path: &JsonPath) -> Option<Matches> {
        let m = self.object(v, path, "matches")?;
        let mut known: Vec<&str> = vec![
            "eth",
            "ipv4",
            "ipv6",
            "tcp",
            "udp",
            "icmp",
            "ietf-mud:mud",
            "ipv4-acl",
            "ipv6-acl",
            "ietf-mud:mud-acl",
        ];
        known.extend(LEGACY_MUD_LEAVES.iter().copied());
        self.unknown(m, path, &known, Place::Match);
        let mut out = Matches::default();
        let mut ok = true;

        if let Some(v) = m.get("eth") {
            out.eth = self.eth(v, &path.key("eth"));
            ok &= out.eth.is_some();
        }

        // Layer 3: a YANG choice, so at most one of ipv4 / ipv6.
        let mut legacy_ports = LegacyPorts::default();
        let mut l3: Vec<(L3Match, JsonPath)> = Vec::new();
        for (key, v6, legacy) in [
            ("ipv4", false, false),
            ("ipv6", true, false),
            ("ipv4-acl", false, true),
            ("ipv6-acl", true, true),
        ] {
            if let Some(v) = m.get(key) {
                let p = path.key(key);
                if legacy {
                    self.deviation(
                        &p,
                        format!(
                            "pre-RFC match container '{key}'; RFC 8519 calls it '{}'",
                            &key[..4]
                        ),
                    );
                }
                match self.ip(v, &p, v6, &mut legacy_ports) {
                    Some(ip) => l3.push((
                        if v6 {
                            L3Match::Ipv6(ip)
                        } else {
                            L3Match::Ipv4(ip)
                        },
                        p,
                    )),
                    None => ok = false,
                }
            }
        }
        if l3.len() > 1 {
            self.error(
                path,
                "an ACE matches at most one of ipv4 and ipv6 (RFC 8519 §4.1, choice l3)",
            );
            ok = false;
        }
        out.l3 = l3.into_iter().next().map(|(m, _)| m);

        // Layer 4: a YANG choice of tcp / udp / icmp.
        let mut l4 = Vec::new();
        if let Some(v) = m.get("tcp") {
            match self.tcp(v, &path.key("tcp")) {
                Some(t) => l4.push(L4Match::Tcp(t)),
                None => ok = false,
            }
        }
        if let Some(v) = m.get("udp") {
            match self.udp(v, &path.key("udp")) {
                Some(u) => l4.push(L4Match::Udp(u)),
                None => ok = false,
            }
        }
        if let Some(v) = m.get("icmp") {
            match self.icmp(v, &path.key("icmp")) {
                Some(i) => l4.push(L4Match::Icmp(i)),
                None => ok = false,
            }
        }
        if l4.len() > 1 {
            self.error(
                path,
                "an ACE matches at most one of tcp, udp and icmp (RFC 8519 §4.1, choice l4)",
            );
            ok = false;
        }
        out.l4 = l4.into_iter().next();
        if !legacy_ports.is_empty() && !self.merge_legacy_ports(&mut out, legacy_ports, path) {
            ok = false;
        }

        // MUD abstractions (RFC 8520 §4).
        let mud_key = if m.contains_key("ietf-mud:mud") {
            "ietf-mud:mud"
        } else {
            "ietf-mud:mud-acl"
        };
        if m.contains_key("ietf-mud:mud") && m.contains_key("ietf-mud:mud-acl") {
            self.error(
                path,
                "both 'ietf-mud:mud' and the pre-RFC 'ietf-mud:mud-acl' are present",
            );
            ok = false;
        }
        if let Some(v) = m.get(mud_key) {
            let p = path.key(mud_key);
            if mud_key != "ietf-mud:mud" {
                self.deviation(
                    &p,
                    "pre-RFC 'ietf-mud:mud-acl'; RFC 8520 calls it 'ietf-mud:mud'",
                );
            }
            match self.object(v, &p, "the ietf-mud:mud match container") {
                Some(mm) => {
                    self.unknown(mm, &p, MUD_LEAVES, Place::Match);
                    for leaf in MUD_LEAVES {
                        if let Some(v) = mm.get(*leaf) {
                            ok &= self.mud_leaf(&mut out.mud, leaf, v, &p.key(leaf));
                        }
                    }
                }
                None => ok = false,
            }
        }
        for legacy in LEGACY_MUD_LEAVES {
            if let Some(v) = m.get(*legacy) {
                let p = path.key(legacy);
                let leaf = &legacy["ietf-mud:".len()..];
                self.deviation(&p, format!("pre-RFC '{legacy}' directly under matches; RFC 8520 puts '{leaf}' in the 'ietf-mud:mud' container"));
                ok &= self.mud_leaf(&mut out.mud, leaf, v, &p);
            }
        }
        ok.then_some(out)
    }

    fn mud_leaf(&mut self, mm: &mut MudMatch, leaf: &str, v: &Value, p: &JsonPath) -> bool {
        match leaf {
            "manufacturer" => {
                mm.manufacturer = self.host(v, p, "manufacturer");
                mm.manufacturer.is_some()
            }
            "model" => {
                mm.model = self.uri(v, p, "model");
                mm.model.is_some()
            }
            "controller" => {
                mm.controller = self.uri(v, p, "controller");
                mm.controller.is_some()
            }
            "same-manufacturer" => {
                mm.same_manufacturer = self.empty_leaf(v, p, "same-manufacturer");
                mm.same_manufacturer
            }
            "local-networks" => {
                mm.local_networks = self.empty_leaf(v, p, "local-networks");
                mm.local_networks
            }
            "my-controller" => {
                mm.my_controller = self.empty_leaf(v, p, "my-controller");
                mm.my_controller
            }
            _ => false,
        }
    }

    fn ip(
        &mut self,
        v: &Value,
        path: &JsonPath,
        v6: bool,
        legacy: &mut LegacyPorts,
    ) -> Option<IpMatch> {
        let m = self.object(
            v,
            path,
            if v6 {
                "the ipv6 match"
            } else {
                "the ipv4 match"
            },
        )?;
        let fam = if v6 { "ipv6" } else { "ipv4" };
        let src_net = format!("source-{fam}-network");
        let dst_net = format!("destination-{fam}-network");
        let known = [
            "protocol",
            "dscp",
            "ttl",
            src_net.as_str(),
            dst_net.as_str(),
            "ietf-acldns:src-dnsname",
            "ietf-acldns:dst-dnsname",
            "source-port-range",
            "destination-port-range",
            "source-port-range-or-operator",
            "destination-port-range-or-operator",
        ];
        self.unknown(m, path, &known, Place::Match);
        let mut ok = true;
        let mut out = IpMatch::default();
        let mut num = |p: &mut Self, key: &str, max: u64| -> Option<u8> {
            let v = m.get(key)?;
            let r = p.uint(v, &path.key(key), key, max).map(|n| n as u8);
            if r.is_none() {
                ok = false;
            }
            r
        };
        out.protocol = num(self, "protocol", 255);
        out.dscp = num(self, "dscp", 63);
        out.ttl = num(self, "ttl", 255);
        for (key, slot) in [
            (&src_net, &mut out.src_network),
            (&dst_net, &mut out.dst_network),
        ] {
            if let Some(v) = m.get(key.as_str()) {
                let p = path.key(key);
                if let Some(s) = self.string(v, &p, key, 64) {
                    match s.parse::<IpPrefix>() {
                        Ok(pfx) if pfx.addr.is_ipv6() == v6 => *slot = Some(pfx),
                        Ok(_) => {
                            self.error(&p, format!("{key} '{s}' is not an {fam} prefix"));
                            ok = false;
                        }
                        Err(e) => {
                            self.error(&p, format!("{key}: {e}"));
                            ok = false;
                        }
                    }
                } else {
                    ok = false;
                }
            }
        }
        for (key, slot) in [
            ("ietf-acldns:src-dnsname", &mut out.src_dnsname),
            ("ietf-acldns:dst-dnsname", &mut out.dst_dnsname),
        ] {
            if let Some(v) = m.get(key) {
                *slot = self.host(v, &path.key(key), key);
                ok &= slot.is_some();
            }
        }
        for (key, dst) in [
            ("source-port-range", false),
            ("destination-port-range", true),
            ("source-port-range-or-operator", false),
            ("destination-port-range-or-operator", true),
        ] {
            if let Some(v) = m.get(key) {
                let p = path.key(key);
                self.deviation(&p, format!("pre-RFC '{key}' in the {fam} match; RFC 8519 puts ports in the tcp or udp container"));
                match self.port(v, &p) {
                    Some(pm) => {
                        let slot = if dst {
                            &mut legacy.dst
                        } else {
                            &mut legacy.src
                        };
                        if slot.is_some() {
                            self.error(&p, "two port conditions for the same side");
                            ok = false;
                        }
                        *slot = Some((pm, p));
                    }
                    None => ok = false,
                }
            }
        }
        ok.then_some(out)
    }

    /// Moves ports written in a pre-RFC l3 container into the tcp/udp container.
    fn merge_legacy_ports(&mut self, out: &mut Matches, lp: LegacyPorts, path: &JsonPath) -> bool {
        let proto = out.l3.as_ref().and_then(|l| l.ip().protocol);
        let (src, dst) = (lp.src.map(|x| x.0), lp.dst.map(|x| x.0));
        match (&mut out.l4, proto) {
            (Some(L4Match::Tcp(t)), _) => {
                if (src.is_some() && t.src_port.is_some())
                    || (dst.is_some() && t.dst_port.is_some())
                {
                    self.error(path, "ports are given both in the ip match and in tcp");
                    return false;
                }
                t.src_port = t.src_port.or(src);
                t.dst_port = t.dst_port.or(dst);
            }
            (Some(L4Match::Udp(u)), _) => {
                if (src.is_some() && u.src_port.is_some())
                    || (dst.is_some() && u.dst_port.is_some())
                {
                    self.error(path, "ports are given both in the ip match and in udp");
                    return false;
                }
                u.src_port = u.src_port.or(src);
                u.dst_port = u.dst_port.or(dst);
            }
            (None, Some(6)) => {
                out.l4 = Some(L4Match::Tcp(TcpMatch {
                    src_port: src,
                    dst_port: dst,
                    direction_initiated: None,
                }))
            }
            (None, Some(17)) => {
                out.l4 = Some(L4Match::Udp(UdpMatch {
                    src_port: src,
                    dst_port: dst,
                }))
            }
            _ => {
                self.error(
                    path,
                    "ports are given but the protocol is neither TCP (6) nor UDP (17)",
                );
                return false;
            }
        }
        true
    }

    fn port(&mut self, v: &Value, path: &JsonPath) -> Option<PortMatch> {
        let m = self.object(v, path, "a port condition")?;
        self.unknown(
            m,
            path,
            &["operator", "port", "lower-port", "upper-port"],
            Place::Match,
        );
        let num = |p: &mut Self, key: &str| -> Option<Option<u16>> {
            match m.get(key) {
                None => Some(None),
                Some(v) => p
                    .uint(v, &path.key(key), key, 65535)
                    .map(|n| Some(n as u16)),
            }
        };
        let lower = num(self, "lower-port")?;
        let upper = num(self, "upper-port")?;
        let port = num(self, "port")?;
        match (lower, upper, port, m.get("operator")) {
            (Some(lower), Some(upper), None, None) => {
                if lower > upper {
                    self.error(
                        path,
                        format!("lower-port {lower} is above upper-port {upper}"),
                    );
                    return None;
                }
                Some(PortMatch::Range { lower, upper })
            }
            (None, None, Some(port), op) => {
                // RFC 8519 (ietf-packet-fields): operator defaults to eq.
                let op = match op {
                    None => "eq".to_owned(),
                    Some(o) => self.string(o, &path.key("operator"), "operator", 32)?,
                };
                Some(match op.as_str() {
                    "eq" => PortMatch::Eq { port },
                    "lte" => PortMatch::Lte { port },
                    "gte" => PortMatch::Gte { port },
                    "neq" => PortMatch::Neq { port },
                    other => {
                        self.error(
                            &path.key("operator"),
                            format!(
                                "unknown port operator '{other}'; expected eq, lte, gte or neq"
                            ),
                        );
                        return None;
                    }
                })
            }
            _ => {
                self.error(path, "expected either {\"operator\", \"port\"} or {\"lower-port\", \"upper-port\"} (RFC 8519 port-range-or-operator)");
                None
            }
        }
    }

    fn ports(
        &mut self,
        m: &Map<String, Value>,
        path: &JsonPath,
    ) -> Option<(Option<PortMatch>, Option<PortMatch>)> {
        let mut ok = true;
        let mut get = |p: &mut Self, key: &str| -> Option<PortMatch> {
            let v = m.get(key)?;
            let r = p.port(v, &path.key(key));
            ok &= r.is_some();
            r
        };
        let src = get(self, "source-port");
        let dst = get(self, "destination-port");
        ok.then_some((src, dst))
    }

    fn tcp(&mut self, v: &Value, path: &JsonPath) -> Option<TcpMatch> {
        let m = self.object(v, path, "the tcp match")?;
        self.unknown(
            m,
            path,
            &[
                "source-port",
                "destination-port",
                "ietf-mud:direction-initiated",
            ],
            Place::Match,
        );
        let (src_port, dst_port) = self.ports(m, path)?;
        let direction_initiated = match m.get("ietf-mud:direction-initiated") {
            None => None,
            Some(v) => {
                let p = path.key("ietf-mud:direction-initiated");
                let s = self.string(v, &p, "direction-initiated", 32)?;
                match s.strip_prefix("ietf-mud:").unwrap_or(&s) {
                    "from-device" => Some(Direction::FromDevice),
                    "to-device" => Some(Direction::ToDevice),
                    _ => {
                        self.error(&p, format!("direction-initiated '{s}': expected from-device or to-device (RFC 8520 §4)"));
                        return None;
                    }
                }
            }
        };
        Some(TcpMatch {
            src_port,
            dst_port,
            direction_initiated,
        })
    }

    fn udp(&mut self, v: &Value, path: &JsonPath) -> Option<UdpMatch> {
        let m = self.object(v, path, "the udp match")?;
        if m.contains_key("ietf-mud:direction-initiated") {
            self.error(
                &path.key("ietf-mud:direction-initiated"),
                "direction-initiated applies only to TCP (RFC 8520 §4 augments the tcp container only); UDP has no connection to initiate",
            );
            return None;
        }
        self.unknown(m, path, &["source-port", "destination-port"], Place::Match);
        let (src_port, dst_port) = self.ports(m, path)?;
        Some(UdpMatch { src_port, dst_port })
    }

    fn icmp(&mut self, v: &Value, path: &JsonPath) -> Option<IcmpMatch> {
        let m = self.object(v, path, "the icmp match")?;
        self.unknown(m, path, &["type", "code"], Place::Match);
        let mut ok = true;
        let mut get = |p: &mut Self, key: &str| -> Option<u8> {
            let v = m.get(key)?;
            let r = p.uint(v, &path.key(key), key, 255).map(|n| n as u8);
            ok &= r.is_some();
            r
        };
        let icmp_type = get(self, "type");
        let code = get(self, "code");
        ok.then_some(IcmpMatch { icmp_type, code })
    }

    fn eth(&mut self, v: &Value, path: &JsonPath) -> Option<EthMatch> {
        let m = self.object(v, path, "the eth match")?;
        const KEYS: [&str; 4] = [
            "source-mac-address",
            "source-mac-address-mask",
            "destination-mac-address",
            "destination-mac-address-mask",
        ];
        let mut known = KEYS.to_vec();
        known.push("ethertype");
        self.unknown(m, path, &known, Place::Match);
        let mut out = EthMatch::default();
        let mut ok = true;
        for key in KEYS {
            if let Some(v) = m.get(key) {
                let p = path.key(key);
                let s = self.string(v, &p, key, 17);
                if let Some(s) = &s
                    && !validate::is_mac(s)
                {
                    self.error(
                        &p,
                        format!("{key} '{s}' is not a MAC address such as 00:11:22:33:44:55"),
                    );
                    ok = false;
                    continue;
                }
                ok &= s.is_some();
                match key {
                    "source-mac-address" => out.src_mac = s,
                    "source-mac-address-mask" => out.src_mac_mask = s,
                    "destination-mac-address" => out.dst_mac = s,
                    _ => out.dst_mac_mask = s,
                }
            }
        }
        if let Some(v) = m.get("ethertype") {
            let p = path.key("ethertype");
            out.ethertype = match v {
                Value::Number(_) => self.uint(v, &p, "ethertype", 0xffff).map(|n| n as u16),
                Value::String(s) => {
                    let parsed = match s.to_ascii_lowercase().as_str() {
                        "ipv4" => Some(0x0800),
                        "arp" => Some(0x0806),
                        "ipv6" => Some(0x86dd),
                        other => other
                            .strip_prefix("0x")
                            .and_then(|h| u16::from_str_radix(h, 16).ok())
                            .or_else(|| other.parse::<u16>().ok()),
                    };
                    match parsed {
                        Some(n) => {
                            self.deviation(&p, format!("ethertype written as the string '{s}'; RFC 8519 encodes it as a number ({n})"));
                            Some(n)
                        }
                        None => {
                            self.error(
                                &p,
                                format!(
                                    "ethertype '{s}' is not a number or a known ethertype name"
                                ),
                            );
                            None
                        }
                    }
                }
                other => {
                    self.error(
                        &p,
                        format!("expected ethertype (a number), found {}", json_type(other)),
                    );
                    None
                }
            };
            ok &= out.ethertype.is_some();
        }
        ok.then_some(out)
    }
}

const MUD_LEAVES: &[&str] = &[
    "manufacturer",
    "same-manufacturer",
    "model",
    "local-networks",
    "controller",
    "my-controller",
];

const LEGACY_MUD_LEAVES: &[&str] = &[
    "ietf-mud:manufacturer",
    "ietf-mud:same-manufacturer",
    "ietf-mud:model",
    "ietf-mud:local-networks",
    "ietf-mud:controller",
    "ietf-mud:my-controller",
];

#[derive(Default)]
struct LegacyPorts {
    src: Option<(PortMatch, JsonPath)>,
    dst: Option<(PortMatch, JsonPath)>,
}

impl LegacyPorts {
    fn is_empty(&self) -> bool {
        self.src.is_none() && self.dst.is_none()
    }
}
