//! IETF SDF (Semantic Definition Format, draft-ietf-asdf-sdf) models into
//! Steward models: each `sdfProperty` becomes a property (a reading name with its
//! SenML unit and data type), each `sdfAction` an action (a command), and
//! `sdfData` the Thing Model's `schemaDefinitions`.
//!
//! Input is untrusted: size-limited ([`MAX_SDF_BYTES`]), depth-limited (JSON
//! nesting by serde_json's limit, data schemas and `sdfRef` chains by
//! [`MAX_DEPTH`]), checked against the SDF validation schema
//! (`data/sdf/sdf-validation.jso.json`), and every name checked. Errors name the
//! file and the JSON pointer.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use crate::SemanticError;
use crate::thing::{
    ActionSpec, DataType, MAX_ACTIONS, MAX_PROPERTIES, PropertySpec, ThingSpec, is_command_name,
    is_reading_name,
};
use crate::validate::{LocalRetriever, SDF_SCHEMA, Schema, parse_builtin};

/// The largest SDF file accepted.
pub const MAX_SDF_BYTES: usize = 1024 * 1024;
/// How deep data schemas, `sdfThing` nesting and `sdfRef` chains may go.
pub const MAX_DEPTH: usize = 16;

/// A model made from an SDF file.
#[derive(Debug, Clone, PartialEq)]
pub struct Imported {
    /// A Steward model name (1 to 64 of letters, digits, '-', '_', '.').
    pub name: String,
    pub manufacturer: String,
    pub spec: ThingSpec,
    /// What was not imported, or changed, for people to read.
    pub warnings: Vec<String>,
}

/// Checks and converts SDF files (compile once).
pub struct SdfImporter {
    schema: Schema,
}

struct Ctx<'a> {
    origin: &'a str,
    root: &'a Value,
    warnings: Vec<String>,
}

impl Ctx<'_> {
    fn err(&self, at: &str, reason: impl std::fmt::Display) -> SemanticError {
        SemanticError::Sdf {
            origin: self.origin.to_string(),
            reason: format!("at {at}: {reason}"),
        }
    }
}

/// A Steward model name from an SDF name: characters outside the allowed set
/// become '-', at most 64.
pub fn model_name(raw: &str) -> String {
    let s: String = raw
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '-'
            }
        })
        .take(64)
        .collect();
    s.trim_matches('-').to_string()
}

fn escape(s: &str) -> String {
    s.replace('~', "~0").replace('/', "~1")
}

/// Data qualities copied as they are (SDF §4.7 uses the JSON Schema terms that
/// TD 1.1 §5.3.2 DataSchema also has).
const COPIED: &[&str] = &[
    "type",
    "const",
    "default",
    "minimum",
    "maximum",
    "exclusiveMinimum",
    "exclusiveMaximum",
    "multipleOf",
    "minLength",
    "maxLength",
    "pattern",
    "format",
    "minItems",
    "maxItems",
    "uniqueItems",
    "required",
    "description",
    "unit",
    "readOnly",
    "writeOnly",
];

impl SdfImporter {
    pub fn new() -> Result<SdfImporter, SemanticError> {
        let schema = parse_builtin("SDF validation schema", SDF_SCHEMA)?;
        Ok(SdfImporter {
            schema: Schema::compile(
                "SDF validation schema",
                &schema,
                LocalRetriever::new([]),
                false,
            )?,
        })
    }

    /// Import one SDF document; `origin` (the file name) names it in errors.
    pub fn import(&self, bytes: &[u8], origin: &str) -> Result<Imported, SemanticError> {
        let fail = |reason: String| SemanticError::Sdf {
            origin: origin.to_string(),
            reason,
        };
        if bytes.len() > MAX_SDF_BYTES {
            return Err(fail(format!(
                "{} bytes, more than the limit of {MAX_SDF_BYTES}",
                bytes.len()
            )));
        }
        let doc: Value =
            serde_json::from_slice(bytes).map_err(|e| fail(format!("not JSON: {e}")))?;
        if !doc.is_object() {
            return Err(fail("an SDF document is a JSON object".into()));
        }
        let problems = self.schema.problems(&doc);
        if !problems.is_empty() {
            return Err(fail(format!(
                "does not match the SDF validation schema: {}",
                crate::error::list(&problems, 5)
            )));
        }
        let mut cx = Ctx {
            origin,
            root: &doc,
            warnings: Vec::new(),
        };
        // Objects: at the top, and inside (nested) sdfThings.
        let mut objects: Vec<(String, &Map<String, Value>)> = Vec::new();
        collect_objects(&mut cx, &doc, "", 0, &mut objects)?;
        let info = doc.get("info");
        let title = info.and_then(|i| i.get("title")).and_then(Value::as_str);
        let version = info.and_then(|i| i.get("version")).and_then(Value::as_str);

        let mut spec = ThingSpec {
            title: title.map(str::to_string),
            source: Some(format!(
                "SDF {}{}",
                title.unwrap_or(origin),
                version
                    .map(|v| format!(", version {v}"))
                    .unwrap_or_default()
            )),
            ..Default::default()
        };
        let prefix_names = objects.len() > 1;
        for (pointer, object) in &objects {
            let object_name = pointer
                .rsplit('/')
                .next()
                .unwrap_or_default()
                .replace("~1", "/")
                .replace("~0", "~");
            if objects.len() == 1
                && let Some(d) = object.get("description").and_then(Value::as_str)
            {
                spec.description = Some(d.to_string());
            }
            let qualify = |n: &str| {
                if prefix_names {
                    format!("{object_name}/{n}")
                } else {
                    n.to_string()
                }
            };
            if let Some(props) = object.get("sdfProperty").and_then(Value::as_object) {
                for (name, p) in props {
                    let at = format!("{pointer}/sdfProperty/{}", escape(name));
                    let reading = qualify(name);
                    if !is_reading_name(&reading) {
                        return Err(cx.err(&at, format!("the property name `{reading}` is not a valid reading name: start with a letter or digit, then letters, digits, '-', ':', '.', '/', '_' (RFC 8428 §4.5.1)")));
                    }
                    if spec.properties.len() >= MAX_PROPERTIES {
                        return Err(cx.err(&at, format!("more than {MAX_PROPERTIES} properties")));
                    }
                    let prop = property(&mut cx, p, &at)?;
                    spec.properties.insert(reading, prop);
                }
            }
            if let Some(actions) = object.get("sdfAction").and_then(Value::as_object) {
                for (name, a) in actions {
                    let at = format!("{pointer}/sdfAction/{}", escape(name));
                    let command = qualify(name);
                    if !is_command_name(&command) {
                        return Err(cx.err(
                            &at,
                            format!("the action name `{command}` is not a valid command name"),
                        ));
                    }
                    if spec.actions.len() >= MAX_ACTIONS {
                        return Err(cx.err(&at, format!("more than {MAX_ACTIONS} actions")));
                    }
                    let action = action(&mut cx, a, &at)?;
                    spec.actions.insert(command, action);
                }
            }
            if let Some(events) = object.get("sdfEvent").and_then(Value::as_object)
                && !events.is_empty()
            {
                cx.warnings.push(format!(
                    "{pointer}/sdfEvent: {} event(s) not imported (Steward models readings and commands)",
                    events.len()
                ));
            }
            if let Some(data) = object.get("sdfData").and_then(Value::as_object) {
                definitions(
                    &mut cx,
                    data,
                    &format!("{pointer}/sdfData"),
                    &mut spec.schema_definitions,
                )?;
            }
        }
        if let Some(data) = doc.get("sdfData").and_then(Value::as_object) {
            definitions(&mut cx, data, "/sdfData", &mut spec.schema_definitions)?;
        }

        let raw_name = match objects.as_slice() {
            [(p, _)] => p.rsplit('/').next().unwrap_or_default().to_string(),
            _ => title
                .map(str::to_string)
                .or_else(|| spec.schema_definitions.keys().next().cloned())
                .unwrap_or_default(),
        };
        let name = model_name(&raw_name);
        if name.is_empty() {
            return Err(fail(format!(
                "no usable model name in `{raw_name}`; give one with --name"
            )));
        }
        if name != raw_name {
            cx.warnings
                .push(format!("model name `{raw_name}` became `{name}`"));
        }
        if objects.is_empty() {
            cx.warnings.push(
                "no sdfObject or sdfThing: the model has no properties, only data definitions"
                    .into(),
            );
        }
        let manufacturer = doc
            .get("defaultNamespace")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty() && s.len() <= 64)
            .unwrap_or("unknown")
            .to_string();
        spec.validate().map_err(|e| fail(e.to_string()))?;
        Ok(Imported {
            name,
            manufacturer,
            spec,
            warnings: cx.warnings,
        })
    }
}

fn collect_objects<'a>(
    cx: &mut Ctx<'_>,
    node: &'a Value,
    at: &str,
    depth: usize,
    out: &mut Vec<(String, &'a Map<String, Value>)>,
) -> Result<(), SemanticError> {
    if depth > MAX_DEPTH {
        return Err(cx.err(
            at,
            format!("sdfThing nested deeper than {MAX_DEPTH} levels"),
        ));
    }
    if let Some(objs) = node.get("sdfObject").and_then(Value::as_object) {
        for (name, o) in objs {
            let p = format!("{at}/sdfObject/{}", escape(name));
            let o = o
                .as_object()
                .ok_or_else(|| cx.err(&p, "an sdfObject is a JSON object"))?;
            out.push((p, o));
        }
    }
    if let Some(things) = node.get("sdfThing").and_then(Value::as_object) {
        for (name, t) in things {
            collect_objects(
                cx,
                t,
                &format!("{at}/sdfThing/{}", escape(name)),
                depth + 1,
                out,
            )?;
        }
    }
    Ok(())
}

fn definitions(
    cx: &mut Ctx<'_>,
    data: &Map<String, Value>,
    at: &str,
    out: &mut BTreeMap<String, Value>,
) -> Result<(), SemanticError> {
    for (name, d) in data {
        let p = format!("{at}/{}", escape(name));
        let schema = data_schema(cx, d, &p, 0)?;
        out.insert(name.clone(), Value::Object(schema));
    }
    Ok(())
}

fn text(v: &Value, key: &str) -> Option<String> {
    v.get(key).and_then(Value::as_str).map(str::to_string)
}

fn property(cx: &mut Ctx<'_>, p: &Value, at: &str) -> Result<PropertySpec, SemanticError> {
    let mut schema = data_schema(cx, p, at, 0)?;
    let data_type = match schema.get("type").and_then(Value::as_str) {
        Some("number") => DataType::Number,
        Some("integer") => DataType::Integer,
        Some("boolean") => DataType::Boolean,
        Some("array") => DataType::Array,
        Some("object") => DataType::Object,
        Some("string") if schema.get("contentEncoding").is_some() => DataType::Data,
        Some("string") => DataType::String,
        Some(other) => return Err(cx.err(at, format!("unknown type `{other}`"))),
        None => {
            // A property given only by choices: the type of the first choice.
            let first = schema
                .get("oneOf")
                .and_then(Value::as_array)
                .and_then(|a| a.first())
                .and_then(|c| c.get("type"))
                .and_then(Value::as_str);
            match first {
                Some("number") => DataType::Number,
                Some("integer") => DataType::Integer,
                Some("boolean") => DataType::Boolean,
                _ => DataType::String,
            }
        }
    };
    let number = |s: &mut Map<String, Value>, k: &str| s.remove(k).and_then(|v| v.as_f64());
    let minimum = number(&mut schema, "minimum");
    let maximum = number(&mut schema, "maximum");
    let unit = schema
        .remove("unit")
        .and_then(|u| u.as_str().map(str::to_string));
    let title = schema
        .remove("title")
        .and_then(|u| u.as_str().map(str::to_string));
    let description = schema
        .remove("description")
        .and_then(|u| u.as_str().map(str::to_string));
    schema.remove("type");
    schema.remove("contentEncoding");
    schema.remove("readOnly");
    schema.remove("writeOnly");
    // SDF §4.6: writable defaults to true.
    let writable = p.get("writable").and_then(Value::as_bool).unwrap_or(true);
    if let (Some(lo), Some(hi)) = (minimum, maximum)
        && lo > hi
    {
        return Err(cx.err(at, format!("minimum {lo} is above maximum {hi}")));
    }
    Ok(PropertySpec {
        title,
        description,
        unit,
        data_type,
        minimum,
        maximum,
        writable,
        schema,
    })
}

fn action(cx: &mut Ctx<'_>, a: &Value, at: &str) -> Result<ActionSpec, SemanticError> {
    let input = match a.get("sdfInputData") {
        Some(d) => Some(Value::Object(data_schema(
            cx,
            d,
            &format!("{at}/sdfInputData"),
            0,
        )?)),
        None => None,
    };
    let output = match a.get("sdfOutputData") {
        Some(d) => Some(Value::Object(data_schema(
            cx,
            d,
            &format!("{at}/sdfOutputData"),
            0,
        )?)),
        None => None,
    };
    Ok(ActionSpec {
        title: text(a, "label"),
        description: text(a, "description"),
        input,
        output,
    })
}

/// Resolve a local `sdfRef` (`#/sdfData/...`, SDF §4.4) in the same document.
fn resolve<'a>(
    cx: &Ctx<'a>,
    reference: &str,
    at: &str,
) -> Result<Option<&'a Value>, SemanticError> {
    match reference.strip_prefix('#') {
        Some(pointer) => cx.root.pointer(pointer).map(Some).ok_or_else(|| {
            cx.err(
                at,
                format!("sdfRef `{reference}` points at nothing in this file"),
            )
        }),
        None => Ok(None),
    }
}

/// SDF data qualities → a TD DataSchema.
fn data_schema(
    cx: &mut Ctx<'_>,
    v: &Value,
    at: &str,
    depth: usize,
) -> Result<Map<String, Value>, SemanticError> {
    if depth > MAX_DEPTH {
        return Err(cx.err(
            at,
            format!("data definitions nested (or sdfRef chains) deeper than {MAX_DEPTH} levels"),
        ));
    }
    let Some(obj) = v.as_object() else {
        return Err(cx.err(at, "a data definition is a JSON object"));
    };
    let mut out = Map::new();
    if let Some(r) = obj.get("sdfRef").and_then(Value::as_str) {
        match resolve(cx, r, at)? {
            Some(target) => {
                out = data_schema(cx, target, &format!("{at} (sdfRef {r})"), depth + 1)?
            }
            None => cx.warnings.push(format!(
                "{at}: sdfRef `{r}` names another file; its qualities are not imported"
            )),
        }
    }
    for key in COPIED {
        if let Some(x) = obj.get(*key) {
            out.insert((*key).to_string(), x.clone());
        }
    }
    if let Some(l) = obj.get("label").and_then(Value::as_str) {
        out.insert("title".into(), l.into());
    }
    if let Some(e) = obj.get("enum").and_then(Value::as_array) {
        if e.is_empty() {
            cx.warnings.push(format!(
                "{at}: an empty enum was dropped (it would allow no value)"
            ));
        } else {
            out.insert("enum".into(), Value::Array(e.clone()));
        }
    }
    if obj.get("sdfType").and_then(Value::as_str) == Some("byte-string") {
        out.insert("contentEncoding".into(), "base64".into());
    }
    if let Some(items) = obj.get("items") {
        out.insert(
            "items".into(),
            Value::Object(data_schema(cx, items, &format!("{at}/items"), depth + 1)?),
        );
    }
    if let Some(props) = obj.get("properties").and_then(Value::as_object) {
        let mut m = Map::new();
        for (k, p) in props {
            m.insert(
                k.clone(),
                Value::Object(data_schema(
                    cx,
                    p,
                    &format!("{at}/properties/{}", escape(k)),
                    depth + 1,
                )?),
            );
        }
        out.insert("properties".into(), Value::Object(m));
    }
    if let Some(choices) = obj.get("sdfChoice").and_then(Value::as_object) {
        // SDF §4.7.2: named alternatives; TD has oneOf, each titled by its name.
        let mut alts = Vec::new();
        for (k, c) in choices {
            let mut alt = data_schema(cx, c, &format!("{at}/sdfChoice/{}", escape(k)), depth + 1)?;
            alt.insert("title".into(), k.as_str().into());
            alts.push(Value::Object(alt));
        }
        out.insert("oneOf".into(), Value::Array(alts));
    }
    Ok(out)
}
