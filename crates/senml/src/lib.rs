//! SenML (RFC 8428, RFC 8798): decode packs from JSON and CBOR, resolve them into
//! self-contained records, encode them again. No I/O.
//!
//! API contract used by the gateway (keep it stable):
//! - [`Pack::from_json`], [`Pack::from_cbor`]: decode, with errors naming record and field;
//! - [`Pack::resolve`]: apply base fields and make times absolute against a given `now`;
//! - [`Resolved`]: one self-contained record (a "reading" in Steward's words).
//!
//! # Example
//!
//! ```
//! let pack = senml::Pack::from_json(
//!     br#"[{"bn":"urn:dev:ow:10e2073a01080063:","n":"temp","u":"Cel","v":23.1}]"#,
//! )?;
//! let readings = pack.resolve(1.5e9)?;
//! assert_eq!(readings[0].name, "urn:dev:ow:10e2073a01080063:temp");
//! assert_eq!(readings[0].time, 1.5e9); // no time given: "roughly now"
//! assert_eq!(readings[0].unit_status, senml::UnitStatus::Registered);
//! // The same pack in CBOR decodes to the same records.
//! assert_eq!(senml::Pack::from_cbor(&pack.to_cbor()?)?, pack);
//! # Ok::<(), senml::Error>(())
//! ```
//!
//! # Layout
//!
//! - `record.rs`: the wire data model: [`Pack`], [`Record`], [`Value`], [`Label`],
//!   decoding [`Limits`];
//! - `de.rs`: the streaming serde visitors both formats share (records are read
//!   straight from the input, one at a time, within [`Limits`]);
//! - `json.rs`, `cbor.rs`: the two representations (RFC 8428 §5, §6);
//! - `ser.rs`: encoding for both;
//! - `resolve.rs`: [`Resolver`] and [`Resolved`] (RFC 8428 §4.5, §4.6);
//! - [`units`]: the units registry and RFC 8798 secondary units with conversion;
//! - `error.rs`: [`Error`], which always names the record index and field.
//!
//! XML and EXI (RFC 8428 §7, §8) are not implemented: no device Steward targets
//! sends them.

mod cbor;
mod de;
mod error;
mod json;
mod record;
mod resolve;
mod ser;
pub mod units;

pub use error::Error;
pub use record::{Extension, Label, Limits, Pack, Record, Value};
pub use resolve::{RELATIVE_TIME_LIMIT, Resolved, Resolver, SENML_VERSION, check_name};
pub use units::UnitStatus;

impl Pack {
    /// Decode a JSON pack (`application/senml+json`) within the default [`Limits`].
    pub fn from_json(bytes: &[u8]) -> Result<Pack, Error> {
        Pack::from_json_with(bytes, Limits::default())
    }

    /// Decode a JSON pack within the given limits.
    pub fn from_json_with(bytes: &[u8], limits: Limits) -> Result<Pack, Error> {
        json::decode(bytes, limits).map(|records| Pack { records })
    }

    /// Decode a CBOR pack (`application/senml+cbor`, labels of RFC 8428 §6) within
    /// the default [`Limits`].
    pub fn from_cbor(bytes: &[u8]) -> Result<Pack, Error> {
        Pack::from_cbor_with(bytes, Limits::default())
    }

    /// Decode a CBOR pack within the given limits.
    pub fn from_cbor_with(bytes: &[u8], limits: Limits) -> Result<Pack, Error> {
        cbor::decode(bytes, limits).map(|records| Pack { records })
    }

    /// Encode as JSON (`vd` as unpadded base64url, RFC 8428 §5).
    pub fn to_json(&self) -> Result<Vec<u8>, Error> {
        json::encode(&self.records)
    }

    /// Encode as CBOR (integer labels, `vd` as a byte string, RFC 8428 §6).
    pub fn to_cbor(&self) -> Result<Vec<u8>, Error> {
        cbor::encode(&self.records)
    }

    /// Resolve the pack (RFC 8428 §4.6) against `now` (seconds since the epoch).
    /// Records that only carry base fields yield no reading; order is kept.
    pub fn resolve(&self, now: f64) -> Result<Vec<Resolved>, Error> {
        let mut resolver = Resolver::new(now);
        let mut out = Vec::with_capacity(self.records.len());
        for (index, r) in self.records.iter().enumerate() {
            if let Some(resolved) = resolver.push(index, r)? {
                out.push(resolved);
            }
        }
        Ok(out)
    }

    /// A pack of resolved records (absolute times, no base fields), ready to encode.
    pub fn from_resolved(records: &[Resolved]) -> Pack {
        Pack {
            records: records.iter().map(Record::from).collect(),
        }
    }
}

#[cfg(test)]
mod tests;
