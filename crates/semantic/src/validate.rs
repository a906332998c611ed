//! Validation against the standards' JSON Schemas, offline: the W3C WoT TD 1.1 and
//! TM schemas, the IETF SDF validation schema and the FIWARE Smart Data Models
//! schemas, all shipped in `data/` (see `data/README.md` for where each comes
//! from). Remote `$ref`s are answered by [`LocalRetriever`] from those copies; no
//! schema is ever fetched.
//!
//! TD validation is the JSON Schema plus the rules the schema cannot say (TD 1.1
//! §5.3.1.1 `security`, §5.3.2.2 form `security`: every name used must be a key of
//! `securityDefinitions`; combo schemes likewise), which is what the W3C
//! playground checks too (its `invalidSecuMatch` sample).

use std::collections::HashMap;

use serde_json::Value;

use crate::SemanticError;
use crate::error::Problem;

pub(crate) const TD_SCHEMA: &str = include_str!("../data/wot/td-json-schema-validation.json");
pub(crate) const TM_SCHEMA: &str = include_str!("../data/wot/tm-json-schema-validation.json");
pub(crate) const SDF_SCHEMA: &str = include_str!("../data/sdf/sdf-validation.jso.json");

/// Serves `$ref` targets from local copies, by URI without fragment; anything else
/// is refused (so an unknown remote reference is an error, never a download).
pub struct LocalRetriever {
    docs: HashMap<String, Value>,
}

impl LocalRetriever {
    pub fn new(docs: impl IntoIterator<Item = (String, Value)>) -> LocalRetriever {
        LocalRetriever {
            docs: docs.into_iter().collect(),
        }
    }
}

impl jsonschema::Retrieve for LocalRetriever {
    fn retrieve(
        &self,
        uri: &jsonschema::Uri<String>,
    ) -> Result<Value, Box<dyn std::error::Error + Send + Sync>> {
        let key = uri.as_str().split('#').next().unwrap_or_default();
        self.docs
            .get(key)
            .cloned()
            .ok_or_else(|| format!("no local copy of {key} (Steward never fetches schemas)").into())
    }
}

/// A compiled schema and what it is called in errors.
pub struct Schema {
    name: &'static str,
    validator: jsonschema::Validator,
}

impl Schema {
    /// Compile `schema`; `formats` makes `format` an assertion (dates, URIs).
    pub fn compile(
        name: &'static str,
        schema: &Value,
        retriever: LocalRetriever,
        formats: bool,
    ) -> Result<Schema, SemanticError> {
        let validator = jsonschema::options()
            .with_retriever(retriever)
            .should_validate_formats(formats)
            .build(schema)
            .map_err(|e| SemanticError::Schema {
                name,
                reason: e.to_string(),
            })?;
        Ok(Schema { name, validator })
    }

    pub fn name(&self) -> &'static str {
        self.name
    }

    /// Every violation, with the JSON pointer where it is.
    pub fn problems(&self, doc: &Value) -> Vec<Problem> {
        self.validator
            .iter_errors(doc)
            .take(100)
            .map(|e| Problem {
                at: e.instance_path().to_string(),
                message: truncate(&e.to_string(), 300),
            })
            .collect()
    }
}

fn truncate(s: &str, n: usize) -> String {
    if s.len() <= n {
        return s.to_string();
    }
    let mut end = n;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

pub(crate) fn parse_builtin(name: &'static str, text: &str) -> Result<Value, SemanticError> {
    serde_json::from_str(text).map_err(|e| SemanticError::Schema {
        name,
        reason: e.to_string(),
    })
}

/// The TD/TM schemas shipped here are the W3C repository's current ones, whose
/// `thing-context` accepts only the experimental `https://www.w3.org/ns/wot-next/td`
/// context (TD 2.0 work). TD 1.1 documents carry `https://www.w3.org/2022/wot/td/v1.1`
/// (TD 1.1 §5.3.1.1; the playground's valid samples all do). We therefore widen
/// `definitions/thing-context`, and only it, to also accept the TD 1.0 and 1.1
/// context URIs as TD 1.1's own schema did: alone, or first in an array followed by
/// other URIs or prefix maps. Everything else in the schema is used as published.
pub(crate) fn accept_td11_context(mut schema: Value) -> Value {
    let extra = |uri: &str| -> Vec<Value> {
        vec![
            serde_json::json!({"type": "string", "const": uri}),
            serde_json::json!({
                "type": "array",
                "items": [{"type": "string", "const": uri}],
                "additionalItems": {"anyOf": [
                    {"$ref": "#/definitions/anyUri"},
                    {"type": "object"}
                ]}
            }),
        ]
    };
    if let Some(any_of) = schema
        .pointer_mut("/definitions/thing-context/anyOf")
        .and_then(Value::as_array_mut)
    {
        any_of.extend(extra("https://www.w3.org/2022/wot/td/v1.1"));
        any_of.extend(extra("https://www.w3.org/2019/wot/td/v1"));
    }
    schema
}

/// The TD and TM validators (compile once, use for every document).
pub struct WotValidator {
    td: Schema,
    tm: Schema,
}

impl WotValidator {
    pub fn new() -> Result<WotValidator, SemanticError> {
        let td = accept_td11_context(parse_builtin("TD schema", TD_SCHEMA)?);
        let tm = accept_td11_context(parse_builtin("TM schema", TM_SCHEMA)?);
        Ok(WotValidator {
            td: Schema::compile("TD schema", &td, LocalRetriever::new([]), false)?,
            tm: Schema::compile("TM schema", &tm, LocalRetriever::new([]), false)?,
        })
    }

    /// All problems of a Thing Description: the schema's and the security rules'.
    pub fn td_problems(&self, td: &Value) -> Vec<Problem> {
        let mut p = self.td.problems(td);
        p.extend(security_problems(td));
        p
    }

    /// Check a Thing Description; the error lists what is wrong and where.
    pub fn check_td(&self, td: &Value, what: &str) -> Result<(), SemanticError> {
        let problems = self.td_problems(td);
        if problems.is_empty() {
            Ok(())
        } else {
            Err(SemanticError::Invalid {
                what: what.to_string(),
                problems,
            })
        }
    }

    /// Check a Thing Model against the TM schema.
    pub fn check_tm(&self, tm: &Value, what: &str) -> Result<(), SemanticError> {
        let mut problems = self.tm.problems(tm);
        if tm.get("@type").and_then(Value::as_str) != Some("tm:ThingModel")
            && !tm
                .get("@type")
                .and_then(Value::as_array)
                .is_some_and(|a| a.iter().any(|t| t == "tm:ThingModel"))
        {
            problems.push(Problem {
                at: "/@type".into(),
                message: "a Thing Model has @type tm:ThingModel (TD 1.1 §10.3.1)".into(),
            });
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(SemanticError::Invalid {
                what: what.to_string(),
                problems,
            })
        }
    }
}

fn names(v: &Value) -> Vec<&str> {
    match v {
        Value::String(s) => vec![s.as_str()],
        Value::Array(a) => a.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    }
}

/// TD 1.1 §5.3.1.1 and §5.3.4.2: every security name a TD uses (at the root, in a
/// form, in a combo scheme) must be defined in `securityDefinitions`.
pub fn security_problems(td: &Value) -> Vec<Problem> {
    let defs = td.get("securityDefinitions").and_then(Value::as_object);
    let defined = |n: &str| defs.is_some_and(|d| d.contains_key(n));
    let mut out = Vec::new();
    let mut check = |at: String, v: &Value| {
        for n in names(v) {
            if !defined(n) {
                out.push(Problem {
                    at: at.clone(),
                    message: format!("security `{n}` is not defined in securityDefinitions"),
                });
            }
        }
    };
    if let Some(s) = td.get("security") {
        check("/security".into(), s);
    }
    if let Some(d) = defs {
        for (k, scheme) in d {
            for key in ["oneOf", "allOf"] {
                if scheme.get("scheme").and_then(Value::as_str) == Some("combo")
                    && let Some(v) = scheme.get(key)
                {
                    check(format!("/securityDefinitions/{k}/{key}"), v);
                }
            }
        }
    }
    let forms_at = |base: String, forms: Option<&Value>| -> Vec<(String, Value)> {
        forms
            .and_then(Value::as_array)
            .map(|fs| {
                fs.iter()
                    .enumerate()
                    .filter_map(|(i, f)| {
                        f.get("security")
                            .map(|s| (format!("{base}/forms/{i}/security"), s.clone()))
                    })
                    .collect()
            })
            .unwrap_or_default()
    };
    let mut form_security = forms_at(String::new(), td.get("forms"));
    for kind in ["properties", "actions", "events"] {
        if let Some(affs) = td.get(kind).and_then(Value::as_object) {
            for (name, aff) in affs {
                form_security.extend(forms_at(
                    format!("/{kind}/{}", escape(name)),
                    aff.get("forms"),
                ));
            }
        }
    }
    for (at, s) in form_security {
        check(at, &s);
    }
    out
}

/// JSON pointer escaping (RFC 6901 §3).
fn escape(s: &str) -> String {
    s.replace('~', "~0").replace('/', "~1")
}
