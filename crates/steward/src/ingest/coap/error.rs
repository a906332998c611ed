//! The CoAP layer's errors and the response code each maps to (RFC 7252 §5.9,
//! RFC 7959 §2.9, RFC 8516). Every message is sent to the device as the response's
//! diagnostic payload, so it says what was wrong.

use coap_lite::ResponseType;

use payload::DecodeError;

use crate::ingest::IngestError;

#[derive(Debug, thiserror::Error)]
pub enum CoapError {
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    Unauthorized(String),
    #[error("{0}")]
    BadOption(String),
    /// The device's policy does not grant this (its messaging ACL).
    #[error("{0}")]
    Forbidden(String),
    #[error(
        "no resource {0}; POST telemetry to /telemetry, GET your update notice from /update and a firmware payload from /fw/{{sha256}}, POST update progress to /update/status (see /.well-known/core)"
    )]
    NotFound(String),
    /// No campaign has an update for this device now (GET /update).
    #[error("no update for this device ({0}); ask again later")]
    NoUpdate(String),
    /// A firmware payload this device may not have (no campaign offers it) or
    /// the gateway does not hold; the message names the digest.
    #[error("{0}")]
    NoPayload(String),
    #[error("method not allowed here; use {0}")]
    MethodNotAllowed(String),
    /// An Accept this resource cannot answer with (RFC 7252 §5.10.4).
    #[error("{0}")]
    NotAcceptable(String),
    /// A status report that was not taken (malformed, or not applicable to the
    /// device's stored state); nothing changed.
    #[error("{0}")]
    BadReport(String),
    #[error("{0}")]
    Incomplete(String),
    #[error("request body larger than {max} bytes; send smaller packs")]
    TooLarge { max: usize },
    #[error(
        "content-format {0} is not accepted; use 110 (senml+json), 112 (senml+cbor), 50 (json) or 42 (octet-stream) as the model's decoder reads"
    )]
    UnsupportedContentFormat(u16),
    #[error(
        "content-format {0} is not accepted here; send the status report as JSON (content-format 50)"
    )]
    StatusFormat(u16),
    #[error("too many requests; slow down")]
    TooManyRequests,
    #[error("{0}")]
    Unavailable(String),
    #[error("{0}")]
    Ingest(#[from] IngestError),
}

impl CoapError {
    /// The response code this error is sent with.
    pub fn code(&self) -> ResponseType {
        match self {
            CoapError::BadRequest(_) => ResponseType::BadRequest,
            CoapError::Unauthorized(_) => ResponseType::Unauthorized,
            CoapError::BadOption(_) => ResponseType::BadOption,
            CoapError::Forbidden(_) => ResponseType::Forbidden,
            CoapError::NotFound(_) | CoapError::NoPayload(_) | CoapError::NoUpdate(_) => {
                ResponseType::NotFound
            }
            CoapError::MethodNotAllowed(_) => ResponseType::MethodNotAllowed,
            CoapError::NotAcceptable(_) => ResponseType::NotAcceptable,
            CoapError::BadReport(_) => ResponseType::BadRequest,
            CoapError::Incomplete(_) => ResponseType::RequestEntityIncomplete,
            CoapError::TooLarge { .. } => ResponseType::RequestEntityTooLarge,
            CoapError::UnsupportedContentFormat(_) | CoapError::StatusFormat(_) => {
                ResponseType::UnsupportedContentFormat
            }
            CoapError::TooManyRequests => ResponseType::TooManyRequests,
            CoapError::Unavailable(_) => ResponseType::ServiceUnavailable,
            CoapError::Ingest(IngestError::Decode(DecodeError::WrongMedia { .. })) => {
                ResponseType::UnsupportedContentFormat
            }
            CoapError::Ingest(IngestError::Decode(DecodeError::TooLarge { .. })) => {
                ResponseType::RequestEntityTooLarge
            }
            CoapError::Ingest(e) if e.is_client_error() => ResponseType::BadRequest,
            // Not stored on our side: the device may retry later.
            CoapError::Ingest(_) => ResponseType::ServiceUnavailable,
        }
    }
}
