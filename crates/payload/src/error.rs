//! [`DecodeError`]: the one error type of the crate. Every variant says where the
//! payload (or the model's decoder declaration) is wrong.

/// Why a payload was refused. The gateway reports it to the device (MQTT 5 reason
/// code, CoAP 4.00, HTTP 400) and stores nothing from the payload.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum DecodeError {
    /// The payload is larger than [`crate::Limits::max_payload`].
    #[error("payload is {size} bytes, more than the limit of {limit}; send smaller messages")]
    TooLarge { size: usize, limit: usize },
    /// The payload yields more readings than [`crate::Limits::max_readings`].
    #[error("payload yields more than {limit} readings; split it into several messages")]
    TooManyReadings { limit: usize },
    /// The payload's media type is not one this decoder reads.
    #[error(
        "the {decoder} decoder does not read {media}; check the model's decoder or the content type"
    )]
    WrongMedia {
        decoder: &'static str,
        media: &'static str,
    },
    /// The gateway's clock is not a finite number (a bug in the caller).
    #[error("`now` is {0}, not a finite time")]
    Clock(f64),
    /// A SenML pack is malformed or does not resolve; the message names the record.
    #[error("SenML: {0}")]
    Senml(#[from] senml::Error),
    /// An LwM2M SenML record is wrong (its name is not an LwM2M path, ...).
    #[error("LwM2M: record {index}: {reason}")]
    Lwm2m { index: usize, reason: String },
    /// A Cayenne LPP payload is wrong at this byte offset.
    #[error("Cayenne LPP: byte {offset}: {reason}")]
    Lpp { offset: usize, reason: String },
    /// The payload is not JSON at all (json-map).
    #[error("not a JSON document: {0}")]
    Json(String),
    /// The JSON document does not fit the model's mapping at this pointer.
    #[error("json-map: at {pointer:?}: {reason}")]
    JsonMap { pointer: String, reason: String },
    /// The model's decoder declaration itself is wrong (a json-map field).
    #[error("decoder declaration: reading {index} ({name:?}): {reason}")]
    Declaration {
        index: usize,
        name: String,
        reason: String,
    },
}
