//! Encoding shared by JSON and CBOR: one `Serialize` over a [`Record`] that writes
//! JSON labels or CBOR integer labels (RFC 8428 §5, §6). Numbers that are whole and
//! exactly representable are written as integers, the rest as doubles (ciborium
//! picks the shortest float that keeps the value), so re-encoding round-trips.

use base64::Engine as _;
use serde::ser::{Serialize, SerializeMap, SerializeSeq, Serializer};

use crate::de::Format;
use crate::{Extension, Label, Record, Value};

pub(crate) struct PackOut<'a> {
    pub records: &'a [Record],
    pub format: Format,
}

impl Serialize for PackOut<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(self.records.len()))?;
        for r in self.records {
            seq.serialize_element(&RecordOut {
                r,
                format: self.format,
            })?;
        }
        seq.end()
    }
}

struct RecordOut<'a> {
    r: &'a Record,
    format: Format,
}

/// A number written as an integer when that loses nothing.
struct Num(f64);

impl Serialize for Num {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        const EXACT: f64 = 9_007_199_254_740_992.0; // 2^53
        let x = self.0;
        if x.fract() == 0.0 && x.abs() < EXACT && !(x == 0.0 && x.is_sign_negative()) {
            s.serialize_i64(x as i64)
        } else {
            s.serialize_f64(x)
        }
    }
}

struct Bytes<'a>(&'a [u8]);

impl Serialize for Bytes<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bytes(self.0)
    }
}

impl Serialize for RecordOut<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let r = self.r;
        // A definite length: RFC 8428 §6 wants definite-length items outside streaming.
        let len = [
            r.base_name.is_some(),
            r.base_time.is_some(),
            r.base_unit.is_some(),
            r.base_version.is_some(),
            r.base_value.is_some(),
            r.base_sum.is_some(),
            r.name.is_some(),
            r.unit.is_some(),
            r.value.is_some(),
            r.sum.is_some(),
            r.time.is_some(),
            r.update_time.is_some(),
        ]
        .iter()
        .filter(|&&present| present)
        .count()
            + r.extensions.len();
        let mut map = s.serialize_map(Some(len))?;
        let format = self.format;
        macro_rules! entry {
            ($label:expr, $value:expr) => {
                match format {
                    Format::Json => map.serialize_entry($label.json(), $value)?,
                    Format::Cbor => map.serialize_entry(&$label.cbor(), $value)?,
                }
            };
        }
        if let Some(x) = &r.base_name {
            entry!(Label::BaseName, x);
        }
        if let Some(x) = r.base_time {
            entry!(Label::BaseTime, &Num(x));
        }
        if let Some(x) = &r.base_unit {
            entry!(Label::BaseUnit, x);
        }
        if let Some(x) = r.base_version {
            entry!(Label::BaseVersion, &x);
        }
        if let Some(x) = r.base_value {
            entry!(Label::BaseValue, &Num(x));
        }
        if let Some(x) = r.base_sum {
            entry!(Label::BaseSum, &Num(x));
        }
        if let Some(x) = &r.name {
            entry!(Label::Name, x);
        }
        if let Some(x) = &r.unit {
            entry!(Label::Unit, x);
        }
        match &r.value {
            Some(Value::Number(x)) => entry!(Label::Value, &Num(*x)),
            Some(Value::String(x)) => entry!(Label::StringValue, x),
            Some(Value::Bool(x)) => entry!(Label::BoolValue, x),
            Some(Value::Data(x)) => match format {
                // RFC 8428 §5: base64url, padding omitted.
                Format::Json => map.serialize_entry(
                    Label::DataValue.json(),
                    &base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(x),
                )?,
                Format::Cbor => map.serialize_entry(&Label::DataValue.cbor(), &Bytes(x))?,
            },
            None => {}
        }
        if let Some(x) = r.sum {
            entry!(Label::Sum, &Num(x));
        }
        if let Some(x) = r.time {
            entry!(Label::Time, &Num(x));
        }
        if let Some(x) = r.update_time {
            entry!(Label::UpdateTime, &Num(x));
        }
        // Extensions always use text labels, in CBOR too (RFC 8428 §6).
        for (k, v) in &r.extensions {
            match v {
                Extension::String(x) => map.serialize_entry(k, x)?,
                Extension::Number(x) => map.serialize_entry(k, &Num(*x))?,
                Extension::Bool(x) => map.serialize_entry(k, x)?,
            }
        }
        map.end()
    }
}
