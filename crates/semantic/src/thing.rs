//! What a model says about its things ([`ThingSpec`]: properties with units,
//! actions), and the W3C WoT documents made from it: the model's Thing Model
//! ([`thing_model`], TD 1.1 §10) and each device's Thing Description
//! ([`thing_description`], TD 1.1 §5) with forms on Steward's real endpoints.
//!
//! Plain data in, `serde_json::Value` out; [`crate::validate`] checks the result.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use crate::SemanticError;

/// The TD 1.1 context URI (TD 1.1 §5.3.1.1).
pub const TD_CONTEXT: &str = "https://www.w3.org/2022/wot/td/v1.1";
/// Media type of a Thing Model (TD 1.1 §10.5).
pub const TM_MEDIA_TYPE: &str = "application/tm+json";
/// Media type of a Thing Description (TD 1.1 §8.3).
pub const TD_MEDIA_TYPE: &str = "application/td+json";
/// Steward's own vocabulary, for the one security scheme TD 1.1 has no term for
/// (a TLS client certificate); a URN, so it names no web site.
pub const STEWARD_NS: &str = "urn:steward:wot#";
/// The vocabularies of the W3C WoT MQTT and CoAP binding templates.
const MQTT_NS: &str = "http://www.example.org/mqtt-binding#";
const COAP_NS: &str = "http://www.example.org/coap-binding#";
const HTTP_NS: &str = "https://www.w3.org/2019/wot/http#";

/// Limits on a declaration, so a hostile one cannot make huge documents.
pub const MAX_PROPERTIES: usize = 256;
pub const MAX_ACTIONS: usize = 64;
const MAX_TEXT: usize = 4096;

/// The data type of a property (a subset of TD 1.1 §5.3.2.1 DataSchema types).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum DataType {
    #[default]
    Number,
    Integer,
    Boolean,
    String,
    /// Binary data (SenML `vd`), carried as base64url text.
    Data,
    Array,
    Object,
}

impl DataType {
    fn td_type(self) -> &'static str {
        match self {
            DataType::Number => "number",
            DataType::Integer => "integer",
            DataType::Boolean => "boolean",
            DataType::String | DataType::Data => "string",
            DataType::Array => "array",
            DataType::Object => "object",
        }
    }
}

/// One property of a model's things: a reading name, with its unit and type.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PropertySpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// SenML unit (RFC 8428 §12.1), e.g. `Cel`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unit: Option<String>,
    #[serde(default, rename = "type")]
    pub data_type: DataType,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub minimum: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub maximum: Option<f64>,
    /// Whether the thing lets the value be written (SDF `writable`); Steward itself
    /// only reads readings.
    #[serde(default)]
    pub writable: bool,
    /// Further data schema terms (`enum`, `items`, `properties`, ...) as a TD
    /// DataSchema, already checked by whoever made the spec (the SDF importer).
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub schema: Map<String, Value>,
}

/// One action (a command sent with `POST /api/v1/devices/{id}/commands/{name}`).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActionSpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// TD DataSchema of the command payload.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output: Option<Value>,
}

/// What a model says about its things. Stored with the model; declared by the
/// operator (JSON) or made by the SDF importer.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ThingSpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Keyed by reading name.
    #[serde(default)]
    pub properties: BTreeMap<String, PropertySpec>,
    /// Keyed by command name.
    #[serde(default)]
    pub actions: BTreeMap<String, ActionSpec>,
    /// Named data schemas (SDF `sdfData`), TD 1.1 `schemaDefinitions`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub schema_definitions: BTreeMap<String, Value>,
    /// Where the spec came from, e.g. the SDF file's title and version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
}

fn input(field: &'static str, reason: impl Into<String>) -> SemanticError {
    SemanticError::Input {
        field,
        reason: reason.into(),
    }
}

/// SenML name rules (RFC 8428 §4.5.1): what a reading (property) name may be.
pub fn is_reading_name(name: &str) -> bool {
    let b = name.as_bytes();
    !b.is_empty()
        && b.len() <= 255
        && b[0].is_ascii_alphanumeric()
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b':' | b'.' | b'/' | b'_'))
}

/// A command name the API accepts (`POST .../commands/{name}`) and MQTT can carry.
pub fn is_command_name(name: &str) -> bool {
    is_reading_name(name) && name.len() <= 128
}

impl ThingSpec {
    /// Check a declaration: names, sizes, numbers.
    pub fn validate(&self) -> Result<(), SemanticError> {
        if self.properties.len() > MAX_PROPERTIES {
            return Err(input(
                "properties",
                format!(
                    "{} properties, at most {MAX_PROPERTIES}",
                    self.properties.len()
                ),
            ));
        }
        if self.actions.len() > MAX_ACTIONS {
            return Err(input(
                "actions",
                format!("{} actions, at most {MAX_ACTIONS}", self.actions.len()),
            ));
        }
        for text in [&self.title, &self.description, &self.source]
            .into_iter()
            .flatten()
        {
            if text.len() > MAX_TEXT {
                return Err(input(
                    "title/description",
                    format!("longer than {MAX_TEXT} bytes"),
                ));
            }
        }
        for (name, p) in &self.properties {
            if !is_reading_name(name) {
                return Err(input(
                    "properties",
                    format!(
                        "`{name}` is not a reading name: start with a letter or digit, then letters, digits, '-', ':', '.', '/', '_' (RFC 8428 §4.5.1)"
                    ),
                ));
            }
            for (what, v) in [("minimum", p.minimum), ("maximum", p.maximum)] {
                if v.is_some_and(|v| !v.is_finite()) {
                    return Err(input(
                        "properties",
                        format!("`{name}`: {what} is not a finite number"),
                    ));
                }
            }
            if let (Some(lo), Some(hi)) = (p.minimum, p.maximum)
                && lo > hi
            {
                return Err(input(
                    "properties",
                    format!("`{name}`: minimum {lo} is above maximum {hi}"),
                ));
            }
            if p.unit
                .as_ref()
                .is_some_and(|u| u.is_empty() || u.len() > 64)
            {
                return Err(input(
                    "properties",
                    format!("`{name}`: the unit must be 1 to 64 characters"),
                ));
            }
        }
        for name in self.actions.keys() {
            if !is_command_name(name) {
                return Err(input(
                    "actions",
                    format!(
                        "`{name}` is not a command name (letters, digits, '-', ':', '.', '/', '_'; at most 128)"
                    ),
                ));
            }
        }
        Ok(())
    }

    /// This spec with properties added for readings it does not declare (a
    /// device's observed readings, or a decoder's declared outputs).
    pub fn with_readings<'a>(
        &self,
        readings: impl IntoIterator<Item = (&'a str, Option<&'a str>, DataType)>,
    ) -> ThingSpec {
        let mut spec = self.clone();
        for (name, unit, data_type) in readings {
            if spec.properties.len() >= MAX_PROPERTIES || !is_reading_name(name) {
                continue;
            }
            spec.properties
                .entry(name.to_string())
                .or_insert_with(|| PropertySpec {
                    unit: unit.map(str::to_string),
                    data_type,
                    ..Default::default()
                });
        }
        spec
    }
}

/// The model a thing belongs to.
#[derive(Debug, Clone, Copy)]
pub struct ModelInfo<'a> {
    pub name: &'a str,
    pub manufacturer: &'a str,
}

/// The device a TD describes.
#[derive(Debug, Clone, Copy)]
pub struct DeviceInfo<'a> {
    /// Steward's device id (a UUID).
    pub id: &'a str,
    pub name: &'a str,
    pub firmware_version: Option<&'a str>,
}

/// How a model's devices encode what they send, as the model's payload decoder
/// reads it: what a TD's uplink forms say about the payload (`contentType`, and
/// the CoAP content-format). The gateway maps its decoder declaration to this.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PayloadFormat {
    /// SenML (RFC 8428), JSON or CBOR. The default decoder.
    #[default]
    Senml,
    /// SenML named by LwM2M paths (`/3303/0/5700`), JSON or CBOR as in LwM2M 1.1.
    Lwm2m,
    /// A vendor JSON document, mapped field by field.
    JsonMap,
    /// Cayenne Low Power Payload (binary).
    CayenneLpp,
}

/// A payload media type and its CoAP content-format number (RFC 7252 §12.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Media {
    mime: &'static str,
    content_format: u16,
}

const SENML_JSON: Media = Media {
    mime: "application/senml+json",
    content_format: 110,
};
const SENML_CBOR: Media = Media {
    mime: "application/senml+cbor",
    content_format: 112,
};

impl PayloadFormat {
    /// The media type the decoder reads first (the form every transport gets).
    fn media(self) -> Media {
        match self {
            PayloadFormat::Senml | PayloadFormat::Lwm2m => SENML_JSON,
            PayloadFormat::JsonMap => Media {
                mime: "application/json",
                content_format: 50,
            },
            PayloadFormat::CayenneLpp => Media {
                mime: "application/octet-stream",
                content_format: 42,
            },
        }
    }

    /// Whether the decoder also reads SenML CBOR (an extra form per transport).
    fn reads_cbor(self) -> bool {
        matches!(self, PayloadFormat::Senml | PayloadFormat::Lwm2m)
    }
}

/// Where Steward listens, as clients reach it. The gateway fills this from its
/// configuration; a TD has forms only for the endpoints given.
#[derive(Debug, Clone, PartialEq)]
pub struct Endpoints {
    /// Base URL of the HTTP API, e.g. `https://gw.example:8080`.
    pub http: String,
    /// The MQTT broker, e.g. `mqtts://gw.example:8883`.
    pub mqtt: Option<String>,
    /// The CoAP endpoint, e.g. `coaps://gw.example:5684`.
    pub coap: Option<String>,
}

impl Endpoints {
    fn check(&self) -> Result<(), SemanticError> {
        let ok = |v: &str, schemes: &[&str]| {
            schemes.iter().any(|s| {
                v.strip_prefix(s)
                    .is_some_and(|rest| rest.starts_with("://") && rest.len() > 3)
            }) && !v.contains(char::is_whitespace)
        };
        if !ok(&self.http, &["http", "https"]) {
            return Err(input(
                "endpoints.http",
                format!("`{}` is not an http(s) URL", self.http),
            ));
        }
        if let Some(m) = &self.mqtt
            && !ok(m, &["mqtt", "mqtts"])
        {
            return Err(input(
                "endpoints.mqtt",
                format!("`{m}` is not an mqtt(s) URL"),
            ));
        }
        if let Some(c) = &self.coap
            && !ok(c, &["coap", "coaps"])
        {
            return Err(input(
                "endpoints.coap",
                format!("`{c}` is not a coap(s) URL"),
            ));
        }
        Ok(())
    }
}

/// `key`, or `stw:key` (then `stw:key_`, ...) when a declared affordance has it.
fn free_key(taken: &Map<String, Value>, key: &str) -> String {
    let mut k = key.to_string();
    if taken.contains_key(&k) {
        k = format!("stw:{key}");
    }
    while taken.contains_key(&k) {
        k.push('_');
    }
    k
}

/// Percent-encode a query or path value (RFC 3986 §2.3: only unreserved kept).
pub fn pct(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn text_fields(out: &mut Map<String, Value>, title: Option<&str>, description: Option<&str>) {
    if let Some(t) = title {
        out.insert("title".into(), t.into());
    }
    if let Some(d) = description {
        out.insert("description".into(), d.into());
    }
}

/// The TD/TM data schema of one property (TD 1.1 §5.3.2.1, §5.3.1.3).
fn property_affordance(name: &str, p: &PropertySpec) -> Map<String, Value> {
    let mut out = Map::new();
    // Data schema terms first, so the fixed terms below win.
    for (k, v) in &p.schema {
        out.insert(k.clone(), v.clone());
    }
    text_fields(&mut out, p.title.as_deref(), p.description.as_deref());
    if !out.contains_key("title") {
        out.insert("title".into(), name.into());
    }
    out.insert("type".into(), p.data_type.td_type().into());
    if p.data_type == DataType::Data {
        out.insert("contentEncoding".into(), "base64url".into());
    }
    if let Some(u) = &p.unit {
        out.insert("unit".into(), u.as_str().into());
    }
    if let Some(v) = p.minimum {
        out.insert("minimum".into(), json!(v));
    }
    if let Some(v) = p.maximum {
        out.insert("maximum".into(), json!(v));
    }
    out.insert("readOnly".into(), (!p.writable).into());
    out.insert("observable".into(), true.into());
    out
}

fn action_affordance(a: &ActionSpec) -> Map<String, Value> {
    let mut out = Map::new();
    text_fields(&mut out, a.title.as_deref(), a.description.as_deref());
    if let Some(i) = &a.input {
        out.insert("input".into(), i.clone());
    }
    if let Some(o) = &a.output {
        out.insert("output".into(), o.clone());
    }
    out
}

/// The Thing Model of a model (TD 1.1 §10): the properties and actions every
/// device of the model has, without forms or security (each TD adds its own).
pub fn thing_model(model: ModelInfo<'_>, spec: &ThingSpec) -> Result<Value, SemanticError> {
    spec.validate()?;
    let mut tm = Map::new();
    tm.insert("@context".into(), json!([TD_CONTEXT]));
    tm.insert("@type".into(), "tm:ThingModel".into());
    tm.insert(
        "title".into(),
        spec.title
            .clone()
            .unwrap_or_else(|| format!("{} {}", model.manufacturer, model.name))
            .into(),
    );
    let description = spec.description.clone().unwrap_or_else(|| {
        format!(
            "Thing Model of the Steward model `{}` ({}).",
            model.name, model.manufacturer
        )
    });
    tm.insert("description".into(), description.into());
    tm.insert("version".into(), json!({"model": "1.0.0"}));
    let props: Map<String, Value> = spec
        .properties
        .iter()
        .map(|(n, p)| (n.clone(), Value::Object(property_affordance(n, p))))
        .collect();
    tm.insert("properties".into(), Value::Object(props));
    let actions: Map<String, Value> = spec
        .actions
        .iter()
        .map(|(n, a)| (n.clone(), Value::Object(action_affordance(a))))
        .collect();
    tm.insert("actions".into(), Value::Object(actions));
    if !spec.schema_definitions.is_empty() {
        tm.insert(
            "schemaDefinitions".into(),
            Value::Object(spec.schema_definitions.clone().into_iter().collect()),
        );
    }
    Ok(Value::Object(tm))
}

/// The Thing Description of one device: its model's properties and actions plus
/// the readings the device has sent, with forms that point at Steward's HTTP API
/// (admin bearer token), and the device's own uplinks over MQTT (client
/// certificate or device token), CoAP (DTLS PSK) and HTTP (device token), each
/// in the payload `format` its model decodes (the `telemetry` action, or
/// `stw:telemetry` when the model has a command of that name).
///
/// `spec` is the model's spec with the device's readings already merged in (see
/// [`ThingSpec::with_readings`]).
pub fn thing_description(
    device: DeviceInfo<'_>,
    model: ModelInfo<'_>,
    spec: &ThingSpec,
    format: PayloadFormat,
    endpoints: &Endpoints,
) -> Result<Value, SemanticError> {
    spec.validate()?;
    endpoints.check()?;
    if device.id.is_empty() || device.id.len() > 128 {
        return Err(input("device.id", "must be 1 to 128 characters"));
    }
    let id = pct(device.id);
    let base = endpoints.http.trim_end_matches('/');
    let mut td = Map::new();
    td.insert(
        "@context".into(),
        json!([TD_CONTEXT, {"stw": STEWARD_NS, "mqv": MQTT_NS, "cov": COAP_NS, "htv": HTTP_NS}]),
    );
    td.insert("@type".into(), "Thing".into());
    // Steward's device ids are UUIDs: RFC 9562 §4 gives them a URN.
    let thing_id = if device.id.len() == 36
        && device
            .id
            .bytes()
            .all(|b| b.is_ascii_hexdigit() || b == b'-')
    {
        format!("urn:uuid:{}", device.id)
    } else {
        format!("urn:steward:device:{id}")
    };
    td.insert("id".into(), thing_id.into());
    td.insert("title".into(), device.name.into());
    td.insert(
        "description".into(),
        format!(
            "{} of the model `{}` ({}), as the Steward gateway serves it.{}",
            device.name,
            model.name,
            model.manufacturer,
            device
                .firmware_version
                .map(|v| format!(" Firmware {v}."))
                .unwrap_or_default()
        )
        .into(),
    );
    if let Some(v) = device.firmware_version {
        td.insert("version".into(), json!({"instance": v}));
    }
    td.insert("base".into(), format!("{base}/").into());
    td.insert(
        "links".into(),
        json!([{
            "rel": "type",
            "href": format!("{base}/api/v1/models/{}/tm", pct(model.name)),
            "type": TM_MEDIA_TYPE
        }]),
    );

    let mut defs = Map::new();
    defs.insert(
        "admin_bearer".into(),
        json!({"scheme": "bearer", "in": "header", "name": "Authorization", "format": "opaque",
               "description": "Steward's admin token (file admin-token in the data directory)"}),
    );
    defs.insert(
        "device_bearer".into(),
        json!({"scheme": "bearer", "in": "header", "name": "Authorization", "format": "opaque",
               "description": "a device token (`steward device token DEVICE`)"}),
    );
    if endpoints.mqtt.is_some() {
        defs.insert(
            "mqtt_cert".into(),
            json!({"scheme": "stw:TLSClientCertificate",
                   "description": "a TLS client certificate from Steward's CA or a trusted maker CA; the certificate is the identity"}),
        );
        defs.insert(
            "mqtt_token".into(),
            json!({"scheme": "basic", "in": "auto",
                   "description": format!("MQTT CONNECT with user name `{}` and a device token as password", device.id)}),
        );
        defs.insert(
            "mqtt".into(),
            json!({"scheme": "combo", "oneOf": ["mqtt_cert", "mqtt_token"]}),
        );
    }
    if endpoints.coap.is_some() {
        defs.insert(
            "coap_psk".into(),
            json!({"scheme": "psk", "identity": device.id,
                   "description": "DTLS 1.2 with a pre-shared key (`steward device psk DEVICE`), RFC 7925"}),
        );
    }
    td.insert("securityDefinitions".into(), Value::Object(defs));
    td.insert("security".into(), json!(["admin_bearer"]));

    let mut props = Map::new();
    for (name, p) in &spec.properties {
        let mut aff = property_affordance(name, p);
        aff.insert(
            "forms".into(),
            json!([
                {"href": format!("api/v1/devices/{id}/readings?name={}&limit=1", pct(name)),
                 "op": "readproperty", "contentType": "application/json", "htv:methodName": "GET"},
                {"href": format!("api/v1/readings/stream?device={id}"),
                 "op": "observeproperty", "subprotocol": "sse", "contentType": "text/event-stream",
                 "htv:methodName": "GET"}
            ]),
        );
        props.insert(name.clone(), Value::Object(aff));
    }
    td.insert("properties".into(), Value::Object(props));

    let mut actions = Map::new();
    for (name, a) in &spec.actions {
        let mut aff = action_affordance(a);
        aff.insert(
            "forms".into(),
            json!([{"href": format!("api/v1/devices/{id}/commands/{}", pct(name)),
                    "op": "invokeaction", "htv:methodName": "POST",
                    "contentType": "application/octet-stream"}]),
        );
        actions.insert(name.clone(), Value::Object(aff));
    }

    // The device's uplink: where the device itself sends its readings, in each
    // format its model's decoder reads. Only the device's own credentials are
    // accepted on these forms.
    //
    // Their `op`: TD 1.1 (§5.3.4.2) names only what a Consumer does to a Thing; no
    // operation says "the Thing itself sends here", and an event form may only say
    // `subscribeevent`/`unsubscribeevent` (the TD schema enforces it), which would
    // send a WoT client to subscribe where nobody can. So the uplink is an action
    // of the device's record in Steward, `invokeaction`: its default bindings are
    // exactly what the device does (HTTP POST, CoAP POST, MQTT PUBLISH in the
    // binding templates), and as its forms take only the device's credentials, the
    // one Consumer that can invoke it is the device. Whoever wants the readings
    // subscribes to the `telemetry` event (or observes the properties).
    let mut media = vec![format.media()];
    if format.reads_cbor() {
        media.push(SENML_CBOR);
    }
    let topic = format!("steward/v1/devices/{}/telemetry", device.id);
    let mut uplink = Vec::new();
    for m in &media {
        uplink.push(json!({
            "href": format!("api/v1/devices/{id}/telemetry"),
            "op": "invokeaction", "htv:methodName": "POST", "contentType": m.mime,
            "security": ["device_bearer"]
        }));
    }
    if let Some(mqtt) = &endpoints.mqtt {
        for m in &media {
            // SenML CBOR has a topic of its own, for MQTT 3.1.1 clients that cannot
            // say a content type; the other formats go to the plain topic.
            let topic = if *m == SENML_CBOR {
                format!("{topic}/cbor")
            } else {
                topic.clone()
            };
            uplink.push(json!({
                "href": mqtt.trim_end_matches('/'),
                "op": "invokeaction", "mqv:topic": topic,
                "mqv:controlPacket": "publish", "mqv:qos": "1",
                "contentType": m.mime,
                "security": ["mqtt"]
            }));
        }
    }
    if let Some(coap) = &endpoints.coap {
        for m in &media {
            uplink.push(json!({
                "href": format!("{}/telemetry", coap.trim_end_matches('/')),
                "op": "invokeaction", "cov:method": "POST",
                "contentType": m.mime, "cov:contentFormat": m.content_format,
                "security": ["coap_psk"]
            }));
        }
    }
    let mut uplink_action = Map::new();
    uplink_action.insert("title".into(), "telemetry uplink".into());
    uplink_action.insert(
        "description".into(),
        format!(
            "Where and how the device itself sends its readings ({}); Steward acknowledges only after the durable commit. Other clients read the readings through the properties or the `telemetry` event.",
            media.iter().map(|m| m.mime).collect::<Vec<_>>().join(" or ")
        )
        .into(),
    );
    match format {
        PayloadFormat::Senml | PayloadFormat::Lwm2m => {
            uplink_action.insert(
                "input".into(),
                json!({"type": "array", "items": {"type": "object"}}),
            );
        }
        PayloadFormat::JsonMap => {
            uplink_action.insert("input".into(), json!({"type": "object"}));
        }
        // Binary: the form's contentType says it all.
        PayloadFormat::CayenneLpp => {}
    }
    uplink_action.insert("safe".into(), false.into());
    uplink_action.insert("idempotent".into(), false.into());
    uplink_action.insert("forms".into(), Value::Array(uplink));
    actions.insert(
        free_key(&actions, "telemetry"),
        Value::Object(uplink_action),
    );
    td.insert("actions".into(), Value::Object(actions));
    td.insert(
        "events".into(),
        json!({"telemetry": {
            "title": "telemetry",
            "description": "Each reading Steward stores for the device, after its model's decoder, as it arrives (Server-Sent Events).",
            "data": {"type": "object"},
            "forms": [{"href": format!("api/v1/readings/stream?device={id}"),
                       "op": "subscribeevent", "subprotocol": "sse",
                       "contentType": "text/event-stream", "htv:methodName": "GET"}]
        }}),
    );
    td.insert(
        "forms".into(),
        json!([
            {"href": format!("api/v1/devices/{id}/latest"), "op": "readallproperties",
             "contentType": "application/json", "htv:methodName": "GET"},
            {"href": format!("api/v1/readings/stream?device={id}"), "op": "observeallproperties",
             "subprotocol": "sse", "contentType": "text/event-stream", "htv:methodName": "GET"}
        ]),
    );
    Ok(Value::Object(td))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_encoding() {
        assert!(is_reading_name("pm2_5"));
        assert!(is_reading_name("gps_1/lat"));
        assert!(!is_reading_name("_x"));
        assert!(!is_reading_name("a b"));
        assert!(!is_reading_name(""));
        assert_eq!(pct("a/b c"), "a%2Fb%20c");
    }

    #[test]
    fn spec_validation_names_the_field() {
        let mut s = ThingSpec::default();
        s.properties
            .insert("bad name".into(), PropertySpec::default());
        let e = s.validate().unwrap_err().to_string();
        assert!(e.contains("bad name"), "{e}");
        let mut s = ThingSpec::default();
        s.properties.insert(
            "t".into(),
            PropertySpec {
                minimum: Some(5.0),
                maximum: Some(1.0),
                ..Default::default()
            },
        );
        assert!(s.validate().unwrap_err().to_string().contains("minimum"));
    }
}
