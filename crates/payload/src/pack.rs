//! The `senml` decoder: SenML JSON or CBOR (RFC 8428), decoded and resolved by the
//! `senml` crate. Also the front half of the `lwm2m` decoder ([`parse`]).

use crate::{DecodeError, Limits, Media};

/// Decode a pack in the given media (JSON or CBOR; unspecified: sniffed).
pub(crate) fn parse(
    payload: &[u8],
    media: Media,
    decoder: &'static str,
    limits: Limits,
) -> Result<senml::Pack, DecodeError> {
    let senml_limits = senml::Limits {
        // Base-only records yield no reading: leave room for one per reading.
        max_records: limits
            .max_readings
            .saturating_mul(2)
            .saturating_add(1)
            .min(senml::Limits::default().max_records),
        ..senml::Limits::default()
    };
    let json = match media {
        Media::SenmlJson | Media::Json => true,
        Media::SenmlCbor => false,
        Media::Unspecified => {
            // A JSON pack starts with `[` (maybe after white space); a CBOR pack
            // with an array head (0x80..=0x9f), never an ASCII character.
            matches!(
                payload.iter().find(|b| !b.is_ascii_whitespace()),
                Some(b'[')
            )
        }
        Media::Octets => {
            return Err(DecodeError::WrongMedia {
                decoder,
                media: media.mime(),
            });
        }
    };
    let pack = if json {
        senml::Pack::from_json_with(payload, senml_limits)
    } else {
        senml::Pack::from_cbor_with(payload, senml_limits)
    };
    match pack {
        Err(senml::Error::TooManyRecords { .. }) => Err(DecodeError::TooManyReadings {
            limit: limits.max_readings,
        }),
        other => Ok(other?),
    }
}

/// The `senml` decoder.
pub(crate) fn decode(
    payload: &[u8],
    media: Media,
    now: f64,
    limits: Limits,
) -> Result<Vec<senml::Resolved>, DecodeError> {
    Ok(parse(payload, media, "senml", limits)?.resolve(now)?)
}
