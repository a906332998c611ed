//! NGSI-LD entities (ETSI GS CIM 009) in the form of FIWARE Smart Data Models,
//! made from a device's latest readings through its model's [`Mapping`].
//!
//! - [`Mapping`]: what a model declares (reading → attribute, unit → UN/CEFACT
//!   `unitCode`, value maps, fixed attributes, where the position comes from).
//! - [`Exporter`]: the Smart Data Models schemas compiled once (with an offline
//!   retriever for their remote `$ref`s), [`Exporter::check_mapping`] and
//!   [`Exporter::entity`].
//! - [`Entity`]: one entity, written normalized (CIM 009 §4.5: Property with
//!   `value`, `unitCode`, `observedAt`; GeoProperty; Relationship) or simplified
//!   (`options=keyValues`, §4.5.4).
//!
//! The Smart Data Models schemas describe the key-values form; every entity is
//! checked against its type's schema before it is served.

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use crate::error::{Problem, list};
use crate::thing::is_reading_name;
use crate::units::{is_un_cefact_code, un_cefact};
use crate::validate::{LocalRetriever, Schema, parse_builtin};
use crate::{Observed, ObservedValue, SemanticError};

/// The NGSI-LD core context (CIM 009 V1.8.1, Annex B).
pub const CORE_CONTEXT: &str = "https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context-v1.8.jsonld";
/// The Smart Data Models context that covers every subject (used when one
/// response holds entities of several subjects and a single Link is allowed).
pub const SDM_CONTEXT: &str = "https://smartdatamodels.org/context.jsonld";

const COMMON_URI: &str = "https://smart-data-models.github.io/data-models/common-schema.json";
const ENVIRONMENT_URIS: [&str; 2] = [
    "https://raw.githubusercontent.com/smart-data-models/dataModel.Environment/master/Environment-schema.json",
    "https://smart-data-models.github.io/dataModel.Environment/Environment-schema.json",
];

/// How the entity's `refDevice` is written in its type's schema.
#[derive(Clone, Copy)]
enum RefDevice {
    One,
    List,
}

/// One Smart Data Models entity type Steward exports.
struct Profile {
    entity_type: &'static str,
    schema: &'static str,
    /// The subject's JSON-LD context.
    context: &'static str,
    /// Attributes filled from the readings' times: (name, earliest?).
    times: &'static [(&'static str, bool)],
    ref_device: RefDevice,
}

const PROFILES: &[Profile] = &[
    Profile {
        entity_type: "AirQualityObserved",
        schema: include_str!("../data/smart-data-models/AirQualityObserved/schema.json"),
        context: "https://raw.githubusercontent.com/smart-data-models/dataModel.Environment/master/context.jsonld",
        times: &[("dateObserved", false)],
        ref_device: RefDevice::One,
    },
    Profile {
        entity_type: "NoiseLevelObserved",
        schema: include_str!("../data/smart-data-models/NoiseLevelObserved/schema.json"),
        context: "https://raw.githubusercontent.com/smart-data-models/dataModel.Environment/master/context.jsonld",
        times: &[
            ("dateObserved", false),
            ("dateObservedFrom", true),
            ("dateObservedTo", false),
        ],
        ref_device: RefDevice::One,
    },
    Profile {
        entity_type: "ParkingSpot",
        schema: include_str!("../data/smart-data-models/ParkingSpot/schema.json"),
        context: "https://raw.githubusercontent.com/smart-data-models/dataModel.Parking/master/context.jsonld",
        times: &[],
        ref_device: RefDevice::List,
    },
    Profile {
        entity_type: "Streetlight",
        schema: include_str!("../data/smart-data-models/Streetlight/schema.json"),
        context: "https://raw.githubusercontent.com/smart-data-models/dataModel.Streetlighting/master/context.jsonld",
        times: &[("observationDateTime", false)],
        ref_device: RefDevice::List,
    },
];

fn profile(entity_type: &str) -> Option<&'static Profile> {
    PROFILES.iter().find(|p| p.entity_type == entity_type)
}

/// The entity types Steward can export.
pub fn entity_types() -> impl Iterator<Item = &'static str> {
    PROFILES.iter().map(|p| p.entity_type)
}

/// The JSON-LD contexts for entities of these types: each subject's context, then
/// the core context (CIM 009 §5.5.7: the core context is always in force).
pub fn contexts<'a>(types: impl IntoIterator<Item = &'a str>) -> Vec<&'static str> {
    let mut out: Vec<&'static str> = Vec::new();
    for t in types {
        if let Some(p) = profile(t)
            && !out.contains(&p.context)
        {
            out.push(p.context);
        }
    }
    out.push(CORE_CONTEXT);
    out
}

/// The one context a `Link` header may carry (CIM 009 §6.3.5) for these types.
pub fn link_context<'a>(types: impl IntoIterator<Item = &'a str>) -> &'static str {
    let c = contexts(types);
    match c.as_slice() {
        [only, _core] => only,
        [_core] => CORE_CONTEXT,
        _ => SDM_CONTEXT,
    }
}

/// Names an operator may not map to: the entity's own members and the
/// attributes Steward fills itself (CIM 009 §4.6.2 reserved names; `name`,
/// `refDevice`, `location` and the time attributes).
const RESERVED: &[&str] = &[
    "id",
    "type",
    "scope",
    "location",
    "observationSpace",
    "operationSpace",
    "createdAt",
    "modifiedAt",
    "deletedAt",
    "observedAt",
    "unitCode",
    "datasetId",
    "value",
    "object",
    "name",
    "refDevice",
    "dateObserved",
    "dateObservedFrom",
    "dateObservedTo",
    "observationDateTime",
    "instanceId",
    "lang",
    "languageMap",
    "vocab",
];

const MAX_DECLARATION: usize = 64 * 1024;
const MAX_ATTRIBUTES: usize = 64;
const MAX_VALUES: usize = 32;
const MAX_FIXED: usize = 32;

/// One reading → attribute rule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AttributeMap {
    /// The reading name (SenML `n`).
    pub reading: String,
    /// The attribute name in the entity, e.g. `pm25`.
    pub attribute: String,
    /// Multiply numbers by this (e.g. 0.01: percent to a fraction). With a scale
    /// and no `unitCode`, the entity carries no unit code for the attribute.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scale: Option<f64>,
    /// UN/CEFACT common code; default: from the reading's SenML unit.
    #[serde(default, rename = "unitCode", skip_serializing_if = "Option::is_none")]
    pub unit_code: Option<String>,
    /// Reading value (as text: `true`, `1`, `on`) → attribute value, for enumerations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub values: Option<BTreeMap<String, Value>>,
}

/// Which readings give the entity's position (GeoJSON Point). Default: the
/// readings whose SenML unit is `lat` and `lon` (RFC 8428 §12.1).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LocationMap {
    pub lat: String,
    pub lon: String,
}

/// What a model declares to be exported over NGSI-LD.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Mapping {
    /// The Smart Data Models entity type (see [`entity_types`]).
    #[serde(rename = "type")]
    pub entity_type: String,
    pub attributes: Vec<AttributeMap>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<LocationMap>,
    /// Attributes with a fixed value for every device of the model (key-values
    /// form), e.g. a ParkingSpot's `category`.
    #[serde(default, rename = "static", skip_serializing_if = "Map::is_empty")]
    pub fixed: Map<String, Value>,
}

fn bad(field: impl Into<String>, reason: impl Into<String>) -> SemanticError {
    SemanticError::Mapping {
        field: field.into(),
        reason: reason.into(),
    }
}

/// NGSI-LD attribute names Steward accepts: a letter, then letters, digits or
/// '_', at most 64 (a safe subset of JSON-LD terms, CIM 009 §4.6.2).
pub fn is_attribute_name(name: &str) -> bool {
    let b = name.as_bytes();
    !b.is_empty()
        && b.len() <= 64
        && b[0].is_ascii_alphabetic()
        && b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'_')
}

impl Mapping {
    /// Parse a JSON declaration (size-limited); checks the shape only, see
    /// [`Exporter::check_mapping`] for the rest.
    pub fn parse(text: &str) -> Result<Mapping, SemanticError> {
        if text.len() > MAX_DECLARATION {
            return Err(bad(
                "declaration",
                format!("{} bytes, at most {MAX_DECLARATION}", text.len()),
            ));
        }
        serde_json::from_str(text).map_err(|e| bad("declaration", format!("not a mapping: {e}")))
    }

    fn check_names(&self) -> Result<&'static Profile, SemanticError> {
        let p = profile(&self.entity_type).ok_or_else(|| {
            bad(
                "type",
                format!(
                    "`{}` is not a type Steward exports; use one of {}",
                    self.entity_type.chars().take(64).collect::<String>(),
                    entity_types().collect::<Vec<_>>().join(", ")
                ),
            )
        })?;
        if self.attributes.is_empty() || self.attributes.len() > MAX_ATTRIBUTES {
            return Err(bad(
                "attributes",
                format!("give 1 to {MAX_ATTRIBUTES} attributes"),
            ));
        }
        let mut seen = std::collections::HashSet::new();
        for (i, a) in self.attributes.iter().enumerate() {
            let f = format!("attributes[{i}]");
            if !is_reading_name(&a.reading) {
                return Err(bad(
                    format!("{f}.reading"),
                    format!(
                        "`{}` is not a reading name (RFC 8428 §4.5.1)",
                        a.reading.chars().take(64).collect::<String>()
                    ),
                ));
            }
            check_attribute_name(&format!("{f}.attribute"), &a.attribute)?;
            if !seen.insert(a.attribute.as_str()) {
                return Err(bad(
                    format!("{f}.attribute"),
                    format!("`{}` is mapped twice", a.attribute),
                ));
            }
            if let Some(s) = a.scale
                && (!s.is_finite() || s == 0.0)
            {
                return Err(bad(
                    format!("{f}.scale"),
                    "must be a finite number other than 0",
                ));
            }
            if let Some(c) = &a.unit_code
                && !is_un_cefact_code(c)
            {
                return Err(bad(
                    format!("{f}.unitCode"),
                    format!(
                        "`{}` is not a UN/CEFACT common code (2 or 3 upper-case letters or digits)",
                        c.chars().take(16).collect::<String>()
                    ),
                ));
            }
            if let Some(v) = &a.values
                && (v.is_empty() || v.len() > MAX_VALUES)
            {
                return Err(bad(
                    format!("{f}.values"),
                    format!("give 1 to {MAX_VALUES} values"),
                ));
            }
        }
        if let Some(l) = &self.location {
            for (k, n) in [("lat", &l.lat), ("lon", &l.lon)] {
                if !is_reading_name(n) {
                    return Err(bad(
                        format!("location.{k}"),
                        format!(
                            "`{}` is not a reading name",
                            n.chars().take(64).collect::<String>()
                        ),
                    ));
                }
            }
        }
        if self.fixed.len() > MAX_FIXED {
            return Err(bad("static", format!("at most {MAX_FIXED} attributes")));
        }
        for k in self.fixed.keys() {
            check_attribute_name(
                &format!("static.{}", k.chars().take(64).collect::<String>()),
                k,
            )?;
            if seen.contains(k.as_str()) {
                return Err(bad(format!("static.{k}"), "is also mapped from a reading"));
            }
        }
        Ok(p)
    }
}

fn check_attribute_name(field: &str, name: &str) -> Result<(), SemanticError> {
    if !is_attribute_name(name) {
        return Err(bad(
            field,
            format!(
                "`{}` is not an attribute name: a letter, then letters, digits or '_', at most 64",
                name.chars().take(64).collect::<String>()
            ),
        ));
    }
    if RESERVED.contains(&name) {
        return Err(bad(
            field,
            format!("`{name}` is reserved: Steward fills it itself"),
        ));
    }
    Ok(())
}

/// The device an entity is made for.
#[derive(Debug, Clone, Copy)]
pub struct DeviceRef<'a> {
    pub id: &'a str,
    pub name: &'a str,
}

/// What kind of NGSI-LD attribute (CIM 009 §4.5.2, §4.5.3, §4.7).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttrKind {
    Property,
    GeoProperty,
    Relationship,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Attr {
    pub kind: AttrKind,
    /// The value (for a Relationship: the object's URI or list of URIs).
    pub value: Value,
    pub unit_code: Option<String>,
    /// RFC 3339 UTC.
    pub observed_at: Option<String>,
}

/// One NGSI-LD entity.
#[derive(Debug, Clone, PartialEq)]
pub struct Entity {
    pub id: String,
    pub entity_type: String,
    pub attrs: Vec<(String, Attr)>,
}

impl Entity {
    fn selected<'a>(
        &'a self,
        attrs: Option<&'a [String]>,
    ) -> impl Iterator<Item = &'a (String, Attr)> {
        self.attrs
            .iter()
            .filter(move |(n, _)| attrs.is_none_or(|a| a.iter().any(|x| x == n)))
    }

    /// Normalized form (CIM 009 §4.5): every attribute an object with `type`.
    pub fn normalized(&self, attrs: Option<&[String]>) -> Map<String, Value> {
        let mut out = Map::new();
        out.insert("id".into(), self.id.clone().into());
        out.insert("type".into(), self.entity_type.clone().into());
        for (name, a) in self.selected(attrs) {
            let mut o = Map::new();
            match a.kind {
                AttrKind::Property => {
                    o.insert("type".into(), "Property".into());
                    o.insert("value".into(), a.value.clone());
                }
                AttrKind::GeoProperty => {
                    o.insert("type".into(), "GeoProperty".into());
                    o.insert("value".into(), a.value.clone());
                }
                AttrKind::Relationship => {
                    o.insert("type".into(), "Relationship".into());
                    o.insert("object".into(), a.value.clone());
                }
            }
            if let Some(u) = &a.unit_code {
                o.insert("unitCode".into(), u.clone().into());
            }
            if let Some(t) = &a.observed_at {
                o.insert("observedAt".into(), t.clone().into());
            }
            out.insert(name.clone(), Value::Object(o));
        }
        out
    }

    /// Simplified form (`options=keyValues`, CIM 009 §4.5.4): attribute → value.
    pub fn key_values(&self, attrs: Option<&[String]>) -> Map<String, Value> {
        let mut out = Map::new();
        out.insert("id".into(), self.id.clone().into());
        out.insert("type".into(), self.entity_type.clone().into());
        for (name, a) in self.selected(attrs) {
            out.insert(name.clone(), a.value.clone());
        }
        out
    }
}

/// Why a device has no entity (yet).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum NotExported {
    #[error(
        "device {device} has sent none of the readings its model's mapping exports ({readings})"
    )]
    NoReadings { device: String, readings: String },
    #[error("device {device} has no position: {reason}")]
    NoLocation { device: String, reason: String },
    #[error(
        "the {entity_type} entity of device {device} would not match the Smart Data Models schema: {problems}; fix the model's NGSI-LD mapping"
    )]
    Invalid {
        device: String,
        entity_type: String,
        problems: String,
    },
}

/// RFC 3339 UTC with milliseconds, as NGSI-LD writes DateTime (CIM 009 §4.6.3).
pub fn datetime(t: f64) -> Option<String> {
    if !t.is_finite() {
        return None;
    }
    let ms = (t * 1000.0).round() as i128;
    let dt = time::OffsetDateTime::from_unix_timestamp_nanos(ms * 1_000_000).ok()?;
    let f = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
    );
    dt.format(&f).ok()
}

/// A reading value as the text a value map is keyed by.
fn value_key(v: &ObservedValue) -> Option<String> {
    match v {
        ObservedValue::Number(n) if n.fract() == 0.0 && n.abs() < 1e15 => {
            Some(format!("{}", *n as i64))
        }
        ObservedValue::Number(n) => Some(n.to_string()),
        ObservedValue::Bool(b) => Some(b.to_string()),
        ObservedValue::String(s) => Some(s.clone()),
        ObservedValue::Data => None,
    }
}

/// The compiled Smart Data Models schemas; builds and checks entities.
pub struct Exporter {
    schemas: HashMap<&'static str, Schema>,
}

impl Exporter {
    pub fn new() -> Result<Exporter, SemanticError> {
        let common = parse_builtin(
            "common-schema.json",
            include_str!("../data/smart-data-models/common-schema.json"),
        )?;
        let env = parse_builtin(
            "Environment-schema.json",
            include_str!("../data/smart-data-models/Environment-schema.json"),
        )?;
        let mut schemas = HashMap::new();
        for p in PROFILES {
            let mut docs = vec![(COMMON_URI.to_string(), common.clone())];
            docs.extend(
                ENVIRONMENT_URIS
                    .iter()
                    .map(|u| (u.to_string(), env.clone())),
            );
            let schema = parse_builtin(p.entity_type, p.schema)?;
            schemas.insert(
                p.entity_type,
                Schema::compile(p.entity_type, &schema, LocalRetriever::new(docs), true)?,
            );
        }
        Ok(Exporter { schemas })
    }

    /// Schema problems of a key-values entity of `entity_type`.
    pub fn problems(&self, entity_type: &str, key_values: &Value) -> Vec<Problem> {
        match self.schemas.get(entity_type) {
            Some(s) => s.problems(key_values),
            None => vec![Problem {
                at: "/type".into(),
                message: format!("no schema for type `{entity_type}`"),
            }],
        }
    }

    /// Check a declaration completely: names, sizes, and that its fixed and mapped
    /// attributes can match the type's schema (tried with sample values).
    pub fn check_mapping(&self, m: &Mapping) -> Result<(), SemanticError> {
        let p = m.check_names()?;
        let base = |extra: Option<(&str, Value)>| -> Value {
            let mut e = Map::new();
            e.insert(
                "id".into(),
                format!("urn:ngsi-ld:{}:sample", p.entity_type).into(),
            );
            e.insert("type".into(), p.entity_type.into());
            e.insert("name".into(), "sample".into());
            e.insert(
                "location".into(),
                json!({"type": "Point", "coordinates": [4.9, 52.37]}),
            );
            for (t, _) in p.times {
                e.insert((*t).into(), "2026-01-01T00:00:00.000Z".into());
            }
            e.insert(
                "refDevice".into(),
                ref_device(p, "urn:ngsi-ld:Device:sample"),
            );
            for (k, v) in &m.fixed {
                e.insert(k.clone(), v.clone());
            }
            if let Some((k, v)) = extra {
                e.insert(k.into(), v);
            }
            Value::Object(e)
        };
        // Attributes that readings will fill are not there yet: a schema's
        // "required" for them is not the declaration's fault.
        let mapped: Vec<String> = m
            .attributes
            .iter()
            .map(|a| format!("\"{}\" is a required property", a.attribute))
            .collect();
        let problems = |doc: &Value| -> Vec<Problem> {
            self.problems(p.entity_type, doc)
                .into_iter()
                .filter(|pr| !mapped.iter().any(|x| pr.message.contains(x.as_str())))
                .collect()
        };
        let problems_base = problems(&base(None));
        let problems_of = problems;
        let problems = problems_base;
        if !problems.is_empty() {
            return Err(bad(
                "static",
                format!(
                    "an entity with these fixed attributes would not match the {} schema: {} (the schema also requires what Steward cannot fill from readings, such as a ParkingSpot's category and refParkingSite: give those under `static`)",
                    p.entity_type,
                    list(&problems, 3)
                ),
            ));
        }
        for (i, a) in m.attributes.iter().enumerate() {
            let candidates: Vec<Value> = match &a.values {
                Some(v) => {
                    // Every mapped value must fit.
                    for (k, v) in v {
                        let probs = problems_of(&base(Some((&a.attribute, v.clone()))));
                        if !probs.is_empty() {
                            return Err(bad(
                                format!("attributes[{i}].values.{k}"),
                                format!(
                                    "{} does not fit `{}`: {}",
                                    v,
                                    a.attribute,
                                    list(&probs, 2)
                                ),
                            ));
                        }
                    }
                    continue;
                }
                None => vec![json!(0), json!(1.5), json!("text"), json!(true)],
            };
            let mut first = Vec::new();
            let fits = candidates.into_iter().any(|c| {
                let probs = problems_of(&base(Some((&a.attribute, c))));
                if first.is_empty() {
                    first = probs.clone();
                }
                probs.is_empty()
            });
            if !fits {
                return Err(bad(
                    format!("attributes[{i}].attribute"),
                    format!(
                        "no reading value fits `{}` in the {} schema: {}; map it through `values`",
                        a.attribute,
                        p.entity_type,
                        list(&first, 2)
                    ),
                ));
            }
        }
        Ok(())
    }

    /// The entity of one device from its latest readings (one per name), checked
    /// against the type's schema. The outer error is a wrong mapping; the inner
    /// one says why this device has no entity (yet).
    pub fn entity(
        &self,
        m: &Mapping,
        device: DeviceRef<'_>,
        latest: &[Observed],
    ) -> Result<Result<Entity, NotExported>, SemanticError> {
        let p = m.check_names()?;
        let by_name: HashMap<&str, &Observed> =
            latest.iter().map(|o| (o.name.as_str(), o)).collect();
        let mut attrs: Vec<(String, Attr)> = Vec::new();
        let mut times: Vec<f64> = Vec::new();
        for a in &m.attributes {
            let Some(o) = by_name.get(a.reading.as_str()) else {
                continue;
            };
            let value = match (&a.values, &o.value) {
                (Some(map), v) => match value_key(v).and_then(|k| map.get(&k)) {
                    Some(x) => x.clone(),
                    None => continue,
                },
                (None, ObservedValue::Number(n)) => {
                    let n = n * a.scale.unwrap_or(1.0);
                    // Keep integers integers (schemas with "type": "integer").
                    if n.fract() == 0.0 && n.abs() < 9.0e15 {
                        json!(n as i64)
                    } else {
                        json!(n)
                    }
                }
                (None, ObservedValue::Bool(b)) => json!(b),
                (None, ObservedValue::String(s)) => json!(s),
                (None, ObservedValue::Data) => continue,
            };
            let unit_code = match (&a.unit_code, a.scale, &a.values) {
                (Some(c), _, _) => Some(c.clone()),
                (None, None, None) => o.unit.as_deref().and_then(un_cefact).map(str::to_string),
                _ => None,
            };
            times.push(o.time);
            attrs.push((
                a.attribute.clone(),
                Attr {
                    kind: AttrKind::Property,
                    value,
                    unit_code,
                    observed_at: datetime(o.time),
                },
            ));
        }
        if attrs.is_empty() {
            return Ok(Err(NotExported::NoReadings {
                device: device.id.to_string(),
                readings: m
                    .attributes
                    .iter()
                    .map(|a| a.reading.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
            }));
        }
        let find = |name: Option<&str>, unit: &str| -> Option<&Observed> {
            match name {
                Some(n) => by_name.get(n).copied(),
                None => latest
                    .iter()
                    .filter(|o| o.unit.as_deref() == Some(unit))
                    .max_by(|a, b| a.time.total_cmp(&b.time)),
            }
        };
        let (lat, lon) = (
            find(m.location.as_ref().map(|l| l.lat.as_str()), "lat"),
            find(m.location.as_ref().map(|l| l.lon.as_str()), "lon"),
        );
        let no_location = |reason: String| {
            Ok(Err(NotExported::NoLocation {
                device: device.id.to_string(),
                reason,
            }))
        };
        let (Some(lat), Some(lon)) = (lat, lon) else {
            return no_location("it has not sent a latitude and a longitude (readings with units `lat` and `lon`, or those the mapping names)".into());
        };
        let (ObservedValue::Number(la), ObservedValue::Number(lo)) = (&lat.value, &lon.value)
        else {
            return no_location("its latitude or longitude is not a number".into());
        };
        if !(-90.0..=90.0).contains(la) || !(-180.0..=180.0).contains(lo) {
            return no_location(format!("latitude {la} / longitude {lo} is out of range"));
        }
        // GeoJSON positions are [longitude, latitude] (RFC 7946 §3.1.1).
        attrs.push((
            "location".into(),
            Attr {
                kind: AttrKind::GeoProperty,
                value: json!({"type": "Point", "coordinates": [lo, la]}),
                unit_code: None,
                observed_at: datetime(lat.time.max(lon.time)),
            },
        ));
        let earliest = times.iter().copied().fold(f64::INFINITY, f64::min);
        let newest = times.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        for (name, first) in p.times {
            if let Some(t) = datetime(if *first { earliest } else { newest }) {
                attrs.push((
                    (*name).into(),
                    Attr {
                        kind: AttrKind::Property,
                        value: t.into(),
                        unit_code: None,
                        observed_at: None,
                    },
                ));
            }
        }
        attrs.push((
            "name".into(),
            Attr {
                kind: AttrKind::Property,
                value: device.name.into(),
                unit_code: None,
                observed_at: None,
            },
        ));
        attrs.push((
            "refDevice".into(),
            Attr {
                kind: AttrKind::Relationship,
                value: ref_device(p, &format!("urn:ngsi-ld:Device:{}", device.id)),
                unit_code: None,
                observed_at: None,
            },
        ));
        for (k, v) in &m.fixed {
            let kind = if k.starts_with("ref") && (v.is_string() || v.is_array()) {
                AttrKind::Relationship
            } else {
                AttrKind::Property
            };
            attrs.push((
                k.clone(),
                Attr {
                    kind,
                    value: v.clone(),
                    unit_code: None,
                    observed_at: None,
                },
            ));
        }
        let entity = Entity {
            id: format!("urn:ngsi-ld:{}:{}", p.entity_type, device.id),
            entity_type: p.entity_type.to_string(),
            attrs,
        };
        let problems = self.problems(p.entity_type, &Value::Object(entity.key_values(None)));
        if !problems.is_empty() {
            return Ok(Err(NotExported::Invalid {
                device: device.id.to_string(),
                entity_type: p.entity_type.to_string(),
                problems: list(&problems, 3),
            }));
        }
        Ok(Ok(entity))
    }
}

fn ref_device(p: &Profile, urn: &str) -> Value {
    match p.ref_device {
        RefDevice::One => json!(urn),
        RefDevice::List => json!([urn]),
    }
}
