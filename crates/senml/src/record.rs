//! The data model as it travels on the wire: [`Pack`], [`Record`], [`Value`],
//! [`Extension`], the field labels of RFC 8428 §4.1–4.2 and §6 ([`Label`]) and the
//! decoding [`Limits`].

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// A decoded, unresolved SenML pack: the records in the order they were sent.
///
/// Base fields are kept where they appeared; [`Pack::resolve`](crate::Pack::resolve)
/// applies them.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Pack {
    pub records: Vec<Record>,
}

/// One SenML record as it appears on the wire (RFC 8428 §4.1 base fields, §4.2
/// regular fields). Field names spell out the RFC labels given in each comment.
///
/// A record holds at most one value: the decoders reject `v`, `vs`, `vb`, `vd`
/// appearing together (RFC 8428 §4.2), so the value is one [`Value`], not four options.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Record {
    /// `bn`: prefix of the names of this and following records.
    pub base_name: Option<String>,
    /// `bt`: added to the time of this and following records.
    pub base_time: Option<f64>,
    /// `bu`: unit of this and following records that carry none.
    pub base_unit: Option<String>,
    /// `bv`: added to the numeric value of this and following records.
    pub base_value: Option<f64>,
    /// `bs`: added to the sum of this and following records.
    pub base_sum: Option<f64>,
    /// `bver`: the SenML version the pack needs (10 if absent).
    pub base_version: Option<u64>,
    /// `n`: name, appended to the base name.
    pub name: Option<String>,
    /// `u`: unit symbol (see [`crate::units`]).
    pub unit: Option<String>,
    /// `v`, `vs`, `vb` or `vd`. `Value::Data` holds the decoded bytes.
    pub value: Option<Value>,
    /// `s`: integrated sum of the value over time.
    pub sum: Option<f64>,
    /// `t`: time, absolute (>= 2^28) or relative to now.
    pub time: Option<f64>,
    /// `ut`: longest time in seconds before the next reading of this sensor.
    pub update_time: Option<f64>,
    /// Fields this implementation does not know and whose label does not end in `_`.
    /// RFC 8428 §4.4 says to ignore them; we carry scalar ones along (for example the
    /// `l` links field of the RFC's examples) so that re-encoding and resolving keep
    /// them. Structured values (arrays, maps, CBOR tags or byte strings) are dropped.
    pub extensions: BTreeMap<String, Extension>,
}

/// The value of a record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Value {
    /// `v`
    Number(f64),
    /// `vs`
    String(String),
    /// `vb`
    Bool(bool),
    /// `vd`: the decoded bytes (base64url in JSON, a byte string in CBOR).
    Data(Vec<u8>),
}

/// A scalar value of an extension field (see [`Record::extensions`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Extension {
    String(String),
    Number(f64),
    Bool(bool),
}

/// Bounds on what a decoder accepts, so a hostile sender cannot make the gateway
/// allocate without limit. The defaults suit telemetry; raise them for bulk imports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Most records in one pack.
    pub max_records: usize,
    /// Longest text string in bytes (names, units, `vs`, extension labels and values).
    pub max_string_len: usize,
    /// Longest `vd` in decoded bytes.
    pub max_data_len: usize,
    /// Most extension fields kept per record.
    pub max_extensions: usize,
    /// Deepest CBOR nesting accepted (the pack array and record map count 2;
    /// ignored extension values may nest further). JSON has serde_json's fixed limit of 128.
    pub max_depth: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_records: 100_000,
            max_string_len: 8 * 1024,
            max_data_len: 64 * 1024,
            max_extensions: 32,
            max_depth: 16,
        }
    }
}

/// A field label registered by RFC 8428 (§4.1, §4.2) with its JSON name and CBOR integer (§6).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Label {
    BaseVersion,
    BaseName,
    BaseTime,
    BaseUnit,
    BaseValue,
    BaseSum,
    Name,
    Unit,
    Value,
    StringValue,
    BoolValue,
    Sum,
    Time,
    UpdateTime,
    DataValue,
}

impl Label {
    /// Every registered label, in CBOR label order.
    pub const ALL: [Label; 15] = [
        Label::BaseSum,
        Label::BaseValue,
        Label::BaseUnit,
        Label::BaseTime,
        Label::BaseName,
        Label::BaseVersion,
        Label::Name,
        Label::Unit,
        Label::Value,
        Label::StringValue,
        Label::BoolValue,
        Label::Sum,
        Label::Time,
        Label::UpdateTime,
        Label::DataValue,
    ];

    /// The JSON label (RFC 8428 §5, Table 1).
    pub const fn json(self) -> &'static str {
        match self {
            Label::BaseVersion => "bver",
            Label::BaseName => "bn",
            Label::BaseTime => "bt",
            Label::BaseUnit => "bu",
            Label::BaseValue => "bv",
            Label::BaseSum => "bs",
            Label::Name => "n",
            Label::Unit => "u",
            Label::Value => "v",
            Label::StringValue => "vs",
            Label::BoolValue => "vb",
            Label::Sum => "s",
            Label::Time => "t",
            Label::UpdateTime => "ut",
            Label::DataValue => "vd",
        }
    }

    /// The CBOR integer label (RFC 8428 §6, Table 4).
    pub const fn cbor(self) -> i64 {
        match self {
            Label::BaseVersion => -1,
            Label::BaseName => -2,
            Label::BaseTime => -3,
            Label::BaseUnit => -4,
            Label::BaseValue => -5,
            Label::BaseSum => -6,
            Label::Name => 0,
            Label::Unit => 1,
            Label::Value => 2,
            Label::StringValue => 3,
            Label::BoolValue => 4,
            Label::Sum => 5,
            Label::Time => 6,
            Label::UpdateTime => 7,
            Label::DataValue => 8,
        }
    }

    /// The label with this JSON name, if registered.
    pub fn from_json(name: &str) -> Option<Label> {
        Label::ALL.into_iter().find(|l| l.json() == name)
    }

    /// The label with this CBOR integer, if registered.
    pub fn from_cbor(n: i64) -> Option<Label> {
        Label::ALL.into_iter().find(|l| l.cbor() == n)
    }

    /// A bit unique to this label, for duplicate detection.
    pub(crate) fn bit(self) -> u16 {
        // CBOR labels run from -6 to 8: shift them to 0..=14.
        1 << (self.cbor() + 6)
    }
}

impl Record {
    /// True if the record carries nothing but base fields (and extensions): such a
    /// record only sets context for the records after it and yields no reading
    /// (the `{"bn": ...}` header of RFC 8428's thermostat example, `ex9`).
    pub fn is_base_only(&self) -> bool {
        self.name.is_none()
            && self.unit.is_none()
            && self.value.is_none()
            && self.sum.is_none()
            && self.time.is_none()
            && self.update_time.is_none()
    }

    /// The label of the field holding this record's value, if any.
    pub fn value_label(&self) -> Option<Label> {
        self.value.as_ref().map(|v| match v {
            Value::Number(_) => Label::Value,
            Value::String(_) => Label::StringValue,
            Value::Bool(_) => Label::BoolValue,
            Value::Data(_) => Label::DataValue,
        })
    }
}
