//! The crate's one error type. Every error a sender can cause names the record
//! (its index in the pack, counting from 0) and, where there is one, the field label.

/// What went wrong while decoding, resolving or encoding a pack.
///
/// `Display` always says where: the record index and the field label (`bn`, `v`, ...)
/// when the problem is inside a record, the byte offset or line/column for syntax errors.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Error {
    /// The input is not well-formed JSON, or is JSON but not an array of objects.
    #[error("not a SenML JSON pack: {0}")]
    Json(String),
    /// The input is not well-formed CBOR, or is CBOR but not an array of maps.
    #[error("not a SenML CBOR pack: {0}")]
    Cbor(String),
    /// A field of a record has the wrong type or an invalid value.
    #[error("record {index}: field `{field}`: {reason}")]
    Field {
        index: usize,
        field: &'static str,
        reason: String,
    },
    /// A record is wrong as a whole (not a map, malformed, missing a value, ...).
    #[error("record {index}: {reason}")]
    Record { index: usize, reason: String },
    /// A field whose label ends in `_` that this implementation does not know:
    /// RFC 8428 §4.4 requires rejecting the whole pack.
    #[error(
        "record {index}: field `{label}`: unknown must-understand field (its label ends in `_`), \
         so the pack must be rejected (RFC 8428 §4.4)"
    )]
    MustUnderstand { index: usize, label: String },
    /// The pack has more records than [`crate::Limits::max_records`] allows.
    #[error("pack has more than {limit} records; split it or raise Limits::max_records")]
    TooManyRecords { limit: usize },
    /// Encoding failed (only possible for values JSON cannot carry, such as NaN).
    #[error("cannot encode pack: {0}")]
    Encode(String),
}
