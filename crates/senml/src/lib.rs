//! SenML (RFC 8428, RFC 8798): decode packs from JSON and CBOR, resolve them into
//! self-contained records, encode them again. No I/O.
//!
//! API contract used by the gateway (keep it stable):
//! - [`Pack::from_json`], [`Pack::from_cbor`]: decode, with errors naming record and field;
//! - [`Pack::resolve`]: apply base fields and make times absolute against a given `now`;
//! - [`Resolved`]: one self-contained record (a "reading" in Steward's words).

use serde::{Deserialize, Serialize};

/// What went wrong while decoding or resolving a pack.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("not a SenML JSON pack: {0}")]
    Json(String),
    #[error("not a SenML CBOR pack: {0}")]
    Cbor(String),
    #[error("record {index}: field `{field}`: {reason}")]
    Field {
        index: usize,
        field: &'static str,
        reason: String,
    },
}

/// A decoded, unresolved SenML pack.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Pack {
    pub records: Vec<Record>,
}

/// One SenML record as it appears on the wire (RFC 8428 §4).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Record {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bn: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bt: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bu: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bv: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bs: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bver: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub n: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub u: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub v: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vs: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vb: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vd: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub s: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub t: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ut: Option<f64>,
}

/// The value of a resolved record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Value {
    Number(f64),
    String(String),
    Bool(bool),
    /// Raw bytes (the `vd` field, base64url in JSON).
    Data(Vec<u8>),
}

/// A resolved record: every base field applied, time absolute (seconds since the epoch).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Resolved {
    pub name: String,
    pub unit: Option<String>,
    pub value: Option<Value>,
    pub sum: Option<f64>,
    pub time: f64,
    pub update_time: Option<f64>,
}

impl Pack {
    /// Decode a JSON pack (`application/senml+json`).
    pub fn from_json(bytes: &[u8]) -> Result<Pack, Error> {
        serde_json::from_slice(bytes).map_err(|e| Error::Json(e.to_string()))
    }

    /// Decode a CBOR pack (`application/senml+cbor`, labels of RFC 8428 §6).
    pub fn from_cbor(_bytes: &[u8]) -> Result<Pack, Error> {
        Err(Error::Cbor("CBOR decoding is not built yet".into()))
    }

    /// Resolve the pack (RFC 8428 §4.6) against `now` (seconds since the epoch).
    pub fn resolve(&self, now: f64) -> Result<Vec<Resolved>, Error> {
        let (mut bn, mut bt, mut bu, mut bv, mut bs) = (String::new(), 0.0, None, None, None);
        let mut out = Vec::with_capacity(self.records.len());
        for (index, r) in self.records.iter().enumerate() {
            if let Some(x) = &r.bn {
                bn = x.clone();
            }
            if let Some(x) = r.bt {
                bt = x;
            }
            if let Some(x) = &r.bu {
                bu = Some(x.clone());
            }
            if let Some(x) = r.bv {
                bv = Some(x);
            }
            if let Some(x) = r.bs {
                bs = Some(x);
            }
            let name = format!("{bn}{}", r.n.as_deref().unwrap_or(""));
            if name.is_empty() {
                return Err(Error::Field { index, field: "n", reason: "empty name".into() });
            }
            let value = match (r.v, &r.vs, r.vb, &r.vd) {
                (Some(v), None, None, None) => Some(Value::Number(v + bv.unwrap_or(0.0))),
                (None, Some(s), None, None) => Some(Value::String(s.clone())),
                (None, None, Some(b), None) => Some(Value::Bool(b)),
                (None, None, None, Some(d)) => Some(Value::Data(d.clone().into_bytes())),
                (None, None, None, None) => bv.map(Value::Number),
                _ => {
                    return Err(Error::Field { index, field: "v", reason: "more than one value".into() });
                }
            };
            let t = bt + r.t.unwrap_or(0.0);
            let time = if t < 268_435_456.0 { now + t } else { t };
            out.push(Resolved {
                name,
                unit: r.u.clone().or_else(|| bu.clone()),
                value,
                sum: r.s.map(|s| s + bs.unwrap_or(0.0)).or(bs),
                time,
                update_time: r.ut,
            });
        }
        Ok(out)
    }
}
