//! Payload decoders: turn what a device sends into SenML readings
//! ([`senml::Resolved`]), as the device's model declares, without code changes.
//! No I/O: the gateway hands in bytes, a media type and its clock.
//!
//! A model declares one [`Decoder`] (serde, so it comes from the model's JSON or
//! TOML); the gateway calls [`Decoder::decode`] (or [`Decoder::decode_with`] and its
//! own [`Limits`]) for every message. Decoding is all-or-nothing: any bad part of a
//! payload is a [`DecodeError`] naming where (record index, byte offset or JSON
//! pointer), and no reading is returned.
//!
//! ```
//! use payload::{Decoder, Media};
//! let decoder: Decoder = serde_json::from_str(r#"{"kind": "cayenne-lpp"}"#).unwrap();
//! let readings = decoder.decode(&[0x03, 0x67, 0x01, 0x10], Media::Octets, 1.7e9)?;
//! assert_eq!(readings[0].name, "temperature_3");
//! assert_eq!(readings[0].unit.as_deref(), Some("Cel"));
//! # Ok::<(), payload::DecodeError>(())
//! ```
//!
//! # Layout
//!
//! - `lib.rs`: [`Decoder`] (what a model declares), [`Media`], [`Limits`], dispatch;
//! - `error.rs`: [`DecodeError`];
//! - `pack.rs`: the `senml` decoder (SenML JSON or CBOR, via the `senml` crate);
//! - `lwm2m.rs`: the `lwm2m` decoder (SenML named by LwM2M paths → IPSO names/units);
//! - `lwm2m_table.rs`: the OMA LwM2M / IPSO registry as a table, **generated** by
//!   `tools/gen_lwm2m.py` from `../shared/vectors/lwm2m` (do not edit by hand);
//! - `json_map.rs`: the `json-map` decoder ([`JsonMap`]: JSON pointers → readings);
//! - `lpp.rs`: the `cayenne-lpp` decoder (Cayenne Low Power Payload).

mod error;
mod json_map;
pub mod lpp;
pub mod lwm2m;
#[rustfmt::skip]
mod lwm2m_table;
mod pack;

pub use error::DecodeError;
pub use json_map::{Field, FieldType, JsonMap, TimeField, TimeUnit};

use serde::{Deserialize, Serialize};

/// How a model's payloads are decoded. Deserialized from the model file, tagged by
/// `kind`, for example `{"kind": "senml"}`, `{"kind": "cayenne-lpp"}` or
/// `{"kind": "json-map", "readings": [...]}` (TOML: `kind = "json-map"`).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Decoder {
    /// SenML JSON or CBOR (RFC 8428), resolved. The default.
    #[default]
    Senml,
    /// SenML whose names are LwM2M paths (`/3303/0/5700`), renamed to IPSO names
    /// (`temperature/0/sensor_value`) with the registry's units. See [`lwm2m`].
    Lwm2m,
    /// A vendor JSON document mapped field by field. See [`JsonMap`].
    JsonMap(JsonMap),
    /// Cayenne Low Power Payload (binary, LoRaWAN devices). See `lpp.rs` for names
    /// and units.
    CayenneLpp,
}

/// The media type of a payload, as the transport told it (CoAP content-format,
/// HTTP `Content-Type`, MQTT 5 content type), or [`Media::Unspecified`] when it did
/// not (MQTT 3.1.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Media {
    /// `application/senml+json` (CoAP 110).
    SenmlJson,
    /// `application/senml+cbor` (CoAP 112).
    SenmlCbor,
    /// `application/json` (CoAP 50).
    Json,
    /// `application/octet-stream` (CoAP 42).
    Octets,
    /// Not said: each decoder assumes its natural format (SenML: JSON if the payload
    /// starts with `[`, else CBOR; json-map: JSON; LPP: bytes).
    Unspecified,
}

impl Media {
    /// The media type for a CoAP content-format number, if it is one we decode.
    pub fn from_content_format(cf: u16) -> Option<Media> {
        match cf {
            110 => Some(Media::SenmlJson),
            112 => Some(Media::SenmlCbor),
            50 => Some(Media::Json),
            42 => Some(Media::Octets),
            _ => None,
        }
    }

    /// The media type for a MIME type (parameters after `;` are ignored).
    pub fn from_mime(mime: &str) -> Option<Media> {
        let essence = mime.split(';').next().unwrap_or("").trim();
        match essence.to_ascii_lowercase().as_str() {
            "application/senml+json" => Some(Media::SenmlJson),
            "application/senml+cbor" => Some(Media::SenmlCbor),
            "application/json" => Some(Media::Json),
            "application/octet-stream" => Some(Media::Octets),
            _ => None,
        }
    }

    /// The MIME type.
    pub fn mime(self) -> &'static str {
        match self {
            Media::SenmlJson => "application/senml+json",
            Media::SenmlCbor => "application/senml+cbor",
            Media::Json => "application/json",
            Media::Octets => "application/octet-stream",
            Media::Unspecified => "(unspecified)",
        }
    }
}

/// Bounds on one payload, so a device cannot make the gateway allocate without
/// limit. The defaults suit telemetry messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest payload in bytes.
    pub max_payload: usize,
    /// Most readings one payload may yield.
    pub max_readings: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_payload: 64 * 1024,
            max_readings: 1024,
        }
    }
}

impl Decoder {
    /// The decoder's name as a model declares it (`senml`, `lwm2m`, ...).
    pub fn kind(&self) -> &'static str {
        match self {
            Decoder::Senml => "senml",
            Decoder::Lwm2m => "lwm2m",
            Decoder::JsonMap(_) => "json-map",
            Decoder::CayenneLpp => "cayenne-lpp",
        }
    }

    /// Check the declaration itself (a json-map's pointers, names, scales), so a
    /// model with a broken decoder is refused when it is loaded, not at the first
    /// message. [`Decoder::decode`] checks it too.
    pub fn validate(&self) -> Result<(), DecodeError> {
        match self {
            Decoder::JsonMap(map) => map.validate(),
            _ => Ok(()),
        }
    }

    /// Decode one payload within the default [`Limits`]. `now` (seconds since the
    /// epoch) is the time of readings that carry none, and the base of SenML
    /// relative times.
    pub fn decode(
        &self,
        payload: &[u8],
        media: Media,
        now: f64,
    ) -> Result<Vec<senml::Resolved>, DecodeError> {
        self.decode_with(payload, media, now, Limits::default())
    }

    /// Decode one payload within `limits`. All or nothing: on error no reading is
    /// returned.
    pub fn decode_with(
        &self,
        payload: &[u8],
        media: Media,
        now: f64,
        limits: Limits,
    ) -> Result<Vec<senml::Resolved>, DecodeError> {
        if payload.len() > limits.max_payload {
            return Err(DecodeError::TooLarge {
                size: payload.len(),
                limit: limits.max_payload,
            });
        }
        if !now.is_finite() {
            return Err(DecodeError::Clock(now));
        }
        let readings = match self {
            Decoder::Senml => pack::decode(payload, media, now, limits)?,
            Decoder::Lwm2m => lwm2m::decode(payload, media, now, limits)?,
            Decoder::JsonMap(map) => {
                self.check_media(media, &[Media::Json, Media::Unspecified])?;
                map.decode(payload, now, limits)?
            }
            Decoder::CayenneLpp => {
                self.check_media(media, &[Media::Octets, Media::Unspecified])?;
                lpp::decode(payload, now, limits)?
            }
        };
        if readings.len() > limits.max_readings {
            return Err(DecodeError::TooManyReadings {
                limit: limits.max_readings,
            });
        }
        Ok(readings)
    }

    fn check_media(&self, media: Media, accepted: &[Media]) -> Result<(), DecodeError> {
        if accepted.contains(&media) {
            Ok(())
        } else {
            Err(DecodeError::WrongMedia {
                decoder: self.kind(),
                media: media.mime(),
            })
        }
    }
}
