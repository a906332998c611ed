//! The `json-map` decoder: a model declares, field by field, where a vendor's JSON
//! document keeps each reading (an RFC 6901 JSON pointer), what to call it, its
//! SenML unit and a linear conversion (`value * scale + offset`), and optionally
//! where the timestamp is.
//!
//! ```toml
//! [decoder]
//! kind = "json-map"
//! time = { pointer = "/ts", unit = "ms" }
//! readings = [
//!   { name = "temperature", pointer = "/sensors/t", unit = "Cel", scale = 0.1 },
//!   { name = "battery", pointer = "/bat", unit = "V", scale = 0.001, optional = true },
//!   { name = "door_open", pointer = "/door", type = "bool" },
//! ]
//! ```
//!
//! Rules, all checked before any reading is returned:
//! - a pointer that is not in the document is an error unless the field is
//!   `optional` (then no reading);
//! - the JSON type must match `type` (`number`, the default, `bool` or `string`);
//!   numbers in strings are refused (a vendor sending `"21.5"` needs `type = "string"`
//!   or a fixed firmware), JSON `null` counts as missing;
//! - `scale` must be finite and not zero (negative is allowed: an inverted sensor),
//!   `offset` finite; a result that overflows to infinity is an error;
//! - the time is absolute epoch seconds (`unit = "s"`, the default) or milliseconds
//!   (`"ms"`), a non-negative finite number; without `time` readings get `now`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value as Json;

use crate::{DecodeError, Limits};

/// A declarative mapping from a vendor JSON document to readings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JsonMap {
    /// One entry per reading, in output order.
    pub readings: Vec<Field>,
    /// Where the document carries its timestamp, if it does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time: Option<TimeField>,
}

/// One reading of a [`JsonMap`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Field {
    /// The reading's name (SenML name rules: `A-Z a-z 0-9 - : . / _`, starting with
    /// a letter or digit).
    pub name: String,
    /// RFC 6901 JSON pointer to the value (`/sensors/0/t`; `""` is the whole document).
    pub pointer: String,
    /// SenML unit symbol; unknown symbols are kept and flagged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unit: Option<String>,
    /// Multiplier applied to numbers (default 1).
    #[serde(default = "one")]
    pub scale: f64,
    /// Added after scaling (default 0).
    #[serde(default)]
    pub offset: f64,
    /// The JSON type expected at the pointer.
    #[serde(default, rename = "type")]
    pub kind: FieldType,
    /// If true, a missing value (or `null`) yields no reading instead of an error.
    #[serde(default)]
    pub optional: bool,
}

fn one() -> f64 {
    1.0
}

/// The JSON type a [`Field`] expects, and the SenML value it becomes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FieldType {
    /// A JSON number → `v`, scaled.
    #[default]
    Number,
    /// `true`/`false` → `vb`.
    Bool,
    /// A string → `vs`.
    String,
}

/// Where the timestamp is.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TimeField {
    /// JSON pointer to a number.
    pub pointer: String,
    /// Seconds (default) or milliseconds since the epoch.
    #[serde(default)]
    pub unit: TimeUnit,
}

/// The unit of a [`TimeField`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TimeUnit {
    #[default]
    S,
    Ms,
}

fn check_pointer(pointer: &str) -> Result<(), String> {
    if !(pointer.is_empty() || pointer.starts_with('/')) {
        return Err(format!(
            "pointer {pointer:?} must be empty or start with `/` (RFC 6901)"
        ));
    }
    // RFC 6901 §3: `~` is only valid as `~0` or `~1`.
    let mut chars = pointer.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '~' && !matches!(chars.next(), Some('0' | '1')) {
            return Err(format!(
                "pointer {pointer:?}: `~` must be followed by 0 or 1 (RFC 6901 §3)"
            ));
        }
    }
    Ok(())
}

impl JsonMap {
    /// Check the declaration: names, pointers, scales, offsets.
    pub fn validate(&self) -> Result<(), DecodeError> {
        for (index, f) in self.readings.iter().enumerate() {
            let bad = |reason: String| DecodeError::Declaration {
                index,
                name: f.name.clone(),
                reason,
            };
            senml::check_name(&f.name).map_err(bad)?;
            check_pointer(&f.pointer).map_err(bad)?;
            if !f.scale.is_finite() || f.scale == 0.0 {
                return Err(bad(format!(
                    "scale {} must be a finite number other than 0",
                    f.scale
                )));
            }
            if !f.offset.is_finite() {
                return Err(bad(format!("offset {} must be finite", f.offset)));
            }
            if f.kind != FieldType::Number && (f.scale != 1.0 || f.offset != 0.0) {
                return Err(bad(format!(
                    "scale and offset only apply to numbers, not to type {:?}",
                    f.kind
                )));
            }
        }
        if let Some(t) = &self.time {
            check_pointer(&t.pointer).map_err(|reason| DecodeError::Declaration {
                index: self.readings.len(),
                name: "time".into(),
                reason,
            })?;
        }
        Ok(())
    }

    /// Decode one document.
    pub(crate) fn decode(
        &self,
        payload: &[u8],
        now: f64,
        limits: Limits,
    ) -> Result<Vec<senml::Resolved>, DecodeError> {
        self.validate()?;
        if self.readings.len() > limits.max_readings {
            return Err(DecodeError::TooManyReadings {
                limit: limits.max_readings,
            });
        }
        let doc: Json =
            serde_json::from_slice(payload).map_err(|e| DecodeError::Json(e.to_string()))?;
        let at = |pointer: &str, reason: String| DecodeError::JsonMap {
            pointer: pointer.to_owned(),
            reason,
        };
        let time = match &self.time {
            None => now,
            Some(t) => {
                let raw = match doc.pointer(&t.pointer) {
                    None | Some(Json::Null) => {
                        return Err(at(&t.pointer, "the timestamp is missing".into()));
                    }
                    Some(Json::Number(n)) => n.as_f64().unwrap_or(f64::NAN),
                    Some(other) => {
                        return Err(at(
                            &t.pointer,
                            format!("the timestamp must be a number, not {}", type_name(other)),
                        ));
                    }
                };
                let secs = match t.unit {
                    TimeUnit::S => raw,
                    TimeUnit::Ms => raw / 1000.0,
                };
                if !secs.is_finite() || secs < 0.0 {
                    return Err(at(
                        &t.pointer,
                        format!("timestamp {raw} is not a time since the epoch"),
                    ));
                }
                secs
            }
        };
        let mut out = Vec::with_capacity(self.readings.len());
        for f in &self.readings {
            let value = match doc.pointer(&f.pointer) {
                None | Some(Json::Null) if f.optional => continue,
                None | Some(Json::Null) => {
                    return Err(at(
                        &f.pointer,
                        format!(
                            "reading {:?}: no value here (mark the field optional if it may be absent)",
                            f.name
                        ),
                    ));
                }
                Some(v) => v,
            };
            let wrong = |v: &Json| {
                at(
                    &f.pointer,
                    format!(
                        "reading {:?}: expected a {}, found {}",
                        f.name,
                        match f.kind {
                            FieldType::Number => "number",
                            FieldType::Bool => "bool",
                            FieldType::String => "string",
                        },
                        type_name(v)
                    ),
                )
            };
            let value = match (f.kind, value) {
                (FieldType::Number, Json::Number(n)) => {
                    let x = n.as_f64().unwrap_or(f64::NAN) * f.scale + f.offset;
                    if !x.is_finite() {
                        return Err(at(
                            &f.pointer,
                            format!(
                                "reading {:?}: {n} * {} + {} is not a finite number",
                                f.name, f.scale, f.offset
                            ),
                        ));
                    }
                    senml::Value::Number(x)
                }
                (FieldType::Bool, Json::Bool(b)) => senml::Value::Bool(*b),
                (FieldType::String, Json::String(s)) => senml::Value::String(s.clone()),
                (_, v) => return Err(wrong(v)),
            };
            out.push(senml::Resolved {
                name: f.name.clone(),
                unit: f.unit.clone(),
                unit_status: senml::units::status(f.unit.as_deref()),
                value: Some(value),
                sum: None,
                time,
                update_time: None,
                extensions: BTreeMap::new(),
            });
        }
        Ok(out)
    }
}

fn type_name(v: &Json) -> &'static str {
    match v {
        Json::Null => "null",
        Json::Bool(_) => "a bool",
        Json::Number(_) => "a number",
        Json::String(_) => "a string",
        Json::Array(_) => "an array",
        Json::Object(_) => "an object",
    }
}
