//! Resolution (RFC 8428 §4.6): apply the base fields to every record, concatenate
//! and check names (§4.5.1), make relative times absolute (§4.5.3), check the
//! version (§4.4), and flag units (RFC 8798). [`Resolver`] does it one record at a
//! time, so a caller streaming records never holds a second copy of the pack.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::units::{self, UnitKind, UnitStatus};
use crate::{Error, Extension, Label, Record, Value};

/// The SenML version this crate implements (RFC 8428 §4.4: "10").
pub const SENML_VERSION: u64 = 10;

/// Times below 2^28 seconds are relative to "now" (RFC 8428 §4.5.3).
pub const RELATIVE_TIME_LIMIT: f64 = 268_435_456.0;

/// A resolved record: every base field applied, time absolute (seconds since the
/// epoch). This is what Steward calls a *reading*.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Resolved {
    /// Base name and name concatenated; checked against RFC 8428 §4.5.1.
    pub name: String,
    /// The record's unit, or the base unit.
    pub unit: Option<String>,
    /// The value, with the base value added to a number (RFC 8428 §4.5.4).
    pub value: Option<Value>,
    /// The sum, with the base sum added.
    pub sum: Option<f64>,
    /// Absolute time in seconds since 1970-01-01T00:00:00Z.
    pub time: f64,
    /// `ut`: longest time before the next reading, in seconds.
    pub update_time: Option<f64>,
    /// Whether the unit is registered, a secondary unit, or unknown (kept, flagged).
    pub unit_status: UnitStatus,
    /// The record's extension fields, carried as sent.
    pub extensions: BTreeMap<String, Extension>,
}

impl Resolved {
    /// The same reading in the registered unit its secondary unit converts to
    /// (RFC 8798 §3: `value * scale + offset`), for consumers that want one unit per
    /// quantity. Returns a copy if the unit is already registered, and `None` if there
    /// is no unit, it is unknown, the value is not a number, or there is a sum and the
    /// conversion has an offset (an integral over time cannot be offset without knowing
    /// the interval).
    pub fn to_primary_unit(&self) -> Option<Resolved> {
        let unit = self.unit.as_deref()?;
        let secondary = match units::lookup(unit) {
            UnitKind::Registered(_) => return Some(self.clone()),
            UnitKind::Unknown => return None,
            UnitKind::Secondary(s) => s,
        };
        let value = match &self.value {
            None => None,
            Some(Value::Number(x)) => Some(Value::Number(secondary.to_primary(*x))),
            Some(_) => return None,
        };
        let sum = match self.sum {
            None => None,
            Some(_) if secondary.offset != 0.0 => return None,
            Some(s) => Some(s * secondary.scale),
        };
        Some(Resolved {
            unit: Some(secondary.primary.to_owned()),
            unit_status: UnitStatus::Registered,
            value,
            sum,
            ..self.clone()
        })
    }
}

impl From<&Resolved> for Record {
    /// A resolved record is itself a valid SenML record (with an absolute time and no
    /// base fields), so resolved readings can be encoded as a pack again.
    fn from(r: &Resolved) -> Record {
        Record {
            name: Some(r.name.clone()),
            unit: r.unit.clone(),
            value: r.value.clone(),
            sum: r.sum,
            time: Some(r.time),
            update_time: r.update_time,
            extensions: r.extensions.clone(),
            ..Record::default()
        }
    }
}

/// Resolves the records of one pack in order, carrying the base fields forward.
#[derive(Debug, Clone)]
pub struct Resolver {
    now: f64,
    base_name: String,
    base_time: f64,
    base_unit: Option<String>,
    base_value: Option<f64>,
    base_sum: Option<f64>,
}

impl Resolver {
    /// `now` is the receiver's clock in seconds since the epoch: relative times are
    /// resolved against it. Passing it in (rather than reading the clock) keeps this
    /// crate deterministic and testable.
    pub fn new(now: f64) -> Resolver {
        Resolver {
            now,
            base_name: String::new(),
            base_time: 0.0,
            base_unit: None,
            base_value: None,
            base_sum: None,
        }
    }

    /// Resolve the record at `index`. Returns `Ok(None)` for a record that only sets
    /// base fields (RFC 8428's examples use such a header record; it is not a reading).
    pub fn push(&mut self, index: usize, r: &Record) -> Result<Option<Resolved>, Error> {
        let field = |label: Label, reason: String| Error::Field {
            index,
            field: label.json(),
            reason,
        };
        if let Some(v) = r.base_version
            && v > SENML_VERSION
        {
            // §4.4: a newer version may carry fields we would misread.
            return Err(field(
                Label::BaseVersion,
                format!("version {v} is newer than the supported version {SENML_VERSION}"),
            ));
        }
        // §4.1: a base field applies to this record and all after it, until replaced.
        if let Some(x) = &r.base_name {
            self.base_name.clone_from(x);
        }
        if let Some(x) = r.base_time {
            self.base_time = x;
        }
        if let Some(x) = &r.base_unit {
            self.base_unit = Some(x.clone());
        }
        if let Some(x) = r.base_value {
            self.base_value = Some(x);
        }
        if let Some(x) = r.base_sum {
            self.base_sum = Some(x);
        }
        if r.is_base_only() {
            return Ok(None);
        }

        let name = format!("{}{}", self.base_name, r.name.as_deref().unwrap_or(""));
        let name_label = if r.name.is_some() {
            Label::Name
        } else {
            Label::BaseName
        };
        check_name(&name).map_err(|reason| field(name_label, reason))?;

        // §4.5.4: a missing Value or Base Value counts as zero; base values only
        // apply to numbers.
        let value = match &r.value {
            Some(Value::Number(v)) => Some(Value::Number(v + self.base_value.unwrap_or(0.0))),
            Some(other) => Some(other.clone()),
            None => self.base_value.map(Value::Number),
        };
        let sum = match (r.sum, self.base_sum) {
            (None, None) => None,
            (s, b) => Some(s.unwrap_or(0.0) + b.unwrap_or(0.0)),
        };
        if value.is_none() && sum.is_none() {
            return Err(field(
                Label::Value,
                "record has neither a value (v, vs, vb, vd) nor a sum (s) (RFC 8428 §4.2)".into(),
            ));
        }
        if let Some(Value::Number(v)) = value
            && !v.is_finite()
        {
            return Err(field(
                Label::Value,
                "value plus base value overflows".into(),
            ));
        }
        if sum.is_some_and(|s| !s.is_finite()) {
            return Err(field(Label::Sum, "sum plus base sum overflows".into()));
        }

        // §4.5.3: bt + t; below 2^28 it is relative to now (0 means "roughly now").
        let mut time = self.base_time + r.time.unwrap_or(0.0);
        if time < RELATIVE_TIME_LIMIT {
            time += self.now;
        }
        if !time.is_finite() {
            return Err(field(Label::Time, "time is out of range".into()));
        }
        if let Some(ut) = r.update_time
            && ut < 0.0
        {
            return Err(field(
                Label::UpdateTime,
                format!("update time {ut} is negative; it is a duration in seconds"),
            ));
        }

        let unit = r.unit.clone().or_else(|| self.base_unit.clone());
        Ok(Some(Resolved {
            unit_status: units::status(unit.as_deref()),
            name,
            unit,
            value,
            sum,
            time,
            update_time: r.update_time,
            extensions: r.extensions.clone(),
        }))
    }
}

/// RFC 8428 §4.5.1: the concatenated name is not empty, uses only `A-Z a-z 0-9 - : .
/// / _`, and starts with a letter or digit.
pub fn check_name(name: &str) -> Result<(), String> {
    let Some(first) = name.chars().next() else {
        return Err("the name is empty (no base name and no name)".into());
    };
    if !first.is_ascii_alphanumeric() {
        return Err(format!(
            "name {name:?} must start with a letter or digit (RFC 8428 §4.5.1)"
        ));
    }
    if let Some(bad) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | ':' | '.' | '/' | '_')))
    {
        return Err(format!(
            "name {name:?} contains {bad:?}; only A-Z a-z 0-9 - : . / _ are allowed \
             (RFC 8428 §4.5.1)"
        ));
    }
    Ok(())
}
