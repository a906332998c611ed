//! The `cayenne-lpp` decoder: Cayenne Low Power Payload, the binary format of many
//! LoRaWAN devices. A payload is a sequence of `channel (1 byte) | type (1 byte) |
//! value (big-endian, type-specific length)`.
//!
//! Readings are named `<type>_<channel>` (`temperature_3`); types with several
//! values add the component after a slash (`accelerometer_6/x`, `gps_1/lat`), since
//! SenML names allow `/`. All readings get the time `now` (LPP carries none).
//!
//! | type | id | size | resolution | reading unit |
//! |---|---|---|---|---|
//! | digital_input | 0 | 1 | 1, unsigned | none |
//! | digital_output | 1 | 1 | 1, unsigned | none |
//! | analog_input | 2 | 2 | 0.01, signed | none |
//! | analog_output | 3 | 2 | 0.01, signed | none |
//! | illuminance | 101 | 2 | 1 lux, unsigned | `lx` |
//! | presence | 102 | 1 | 1, unsigned | none |
//! | temperature | 103 | 2 | 0.1 °C, signed | `Cel` |
//! | humidity | 104 | 1 | 0.5 %, unsigned | `%RH` |
//! | accelerometer | 113 | 6 | 0.001 G per axis, signed | `m/s2` (converted: 1 G = 9.80665 m/s²) |
//! | barometer | 115 | 2 | 0.1 hPa, unsigned | `Pa` (converted: ×100) |
//! | gyrometer | 134 | 6 | 0.01 °/s per axis, signed | `deg/s` (not registered: flagged unknown) |
//! | gps | 136 | 9 | lat, lon 0.0001° signed (3 bytes each); alt 0.01 m signed (3 bytes) | `lat`, `lon`, `m` |
//!
//! Units are the registered SenML ones (RFC 8428 §12.1): G and hPa are converted to
//! `m/s2` and `Pa` (hPa is only an RFC 8798 secondary unit). SenML has no angular
//! velocity unit, so gyrometer readings keep `deg/s`, which resolves as
//! [`senml::UnitStatus::Unknown`] for the operator to see.

use std::collections::BTreeMap;

use senml::{Resolved, Value};

use crate::{DecodeError, Limits};

/// Standard gravity (CGPM 1901), for G → m/s².
const STANDARD_GRAVITY: f64 = 9.806_65;

struct Kind {
    id: u8,
    name: &'static str,
    size: usize,
    /// One entry per value in the data, in order.
    parts: &'static [Part],
}

struct Part {
    component: &'static str,
    bytes: usize,
    signed: bool,
    /// value = raw * mul / div: dividing by the exact integer (10, 100, ...) gives
    /// the nearest double (27.2), where multiplying by 0.1 would not.
    mul: f64,
    div: f64,
    unit: Option<&'static str>,
}

const fn part(
    component: &'static str,
    bytes: usize,
    signed: bool,
    mul: f64,
    div: f64,
    unit: Option<&'static str>,
) -> Part {
    Part {
        component,
        bytes,
        signed,
        mul,
        div,
        unit,
    }
}

static KINDS: &[Kind] = &[
    Kind {
        id: 0,
        name: "digital_input",
        size: 1,
        parts: &[part("", 1, false, 1.0, 1.0, None)],
    },
    Kind {
        id: 1,
        name: "digital_output",
        size: 1,
        parts: &[part("", 1, false, 1.0, 1.0, None)],
    },
    Kind {
        id: 2,
        name: "analog_input",
        size: 2,
        parts: &[part("", 2, true, 1.0, 100.0, None)],
    },
    Kind {
        id: 3,
        name: "analog_output",
        size: 2,
        parts: &[part("", 2, true, 1.0, 100.0, None)],
    },
    Kind {
        id: 101,
        name: "illuminance",
        size: 2,
        parts: &[part("", 2, false, 1.0, 1.0, Some("lx"))],
    },
    Kind {
        id: 102,
        name: "presence",
        size: 1,
        parts: &[part("", 1, false, 1.0, 1.0, None)],
    },
    Kind {
        id: 103,
        name: "temperature",
        size: 2,
        parts: &[part("", 2, true, 1.0, 10.0, Some("Cel"))],
    },
    Kind {
        id: 104,
        name: "humidity",
        size: 1,
        parts: &[part("", 1, false, 1.0, 2.0, Some("%RH"))],
    },
    Kind {
        id: 113,
        name: "accelerometer",
        size: 6,
        parts: &[
            part("x", 2, true, STANDARD_GRAVITY, 1000.0, Some("m/s2")),
            part("y", 2, true, STANDARD_GRAVITY, 1000.0, Some("m/s2")),
            part("z", 2, true, STANDARD_GRAVITY, 1000.0, Some("m/s2")),
        ],
    },
    // 0.1 hPa = 10 Pa.
    Kind {
        id: 115,
        name: "barometer",
        size: 2,
        parts: &[part("", 2, false, 10.0, 1.0, Some("Pa"))],
    },
    Kind {
        id: 134,
        name: "gyrometer",
        size: 6,
        parts: &[
            part("x", 2, true, 1.0, 100.0, Some("deg/s")),
            part("y", 2, true, 1.0, 100.0, Some("deg/s")),
            part("z", 2, true, 1.0, 100.0, Some("deg/s")),
        ],
    },
    Kind {
        id: 136,
        name: "gps",
        size: 9,
        parts: &[
            part("lat", 3, true, 1.0, 10_000.0, Some("lat")),
            part("lon", 3, true, 1.0, 10_000.0, Some("lon")),
            part("alt", 3, true, 1.0, 100.0, Some("m")),
        ],
    },
];

/// The LPP type names this decoder knows, by type id (for documentation and tests).
pub fn known_types() -> impl Iterator<Item = (u8, &'static str)> {
    KINDS.iter().map(|k| (k.id, k.name))
}

/// Read `bytes` big-endian bytes as an unsigned or two's-complement integer.
fn read_int(data: &[u8], signed: bool) -> i64 {
    let mut v: i64 = 0;
    for &b in data {
        v = (v << 8) | i64::from(b);
    }
    let bits = 8 * data.len() as u32;
    if signed && bits > 0 && bits < 64 && v & (1 << (bits - 1)) != 0 {
        v -= 1 << bits;
    }
    v
}

fn scaled(raw: i64, p: &Part) -> f64 {
    raw as f64 * p.mul / p.div
}

pub(crate) fn decode(
    payload: &[u8],
    now: f64,
    limits: Limits,
) -> Result<Vec<Resolved>, DecodeError> {
    if payload.is_empty() {
        return Err(DecodeError::Lpp {
            offset: 0,
            reason: "empty payload: an LPP frame holds at least one channel, type and value".into(),
        });
    }
    let mut out = Vec::new();
    let mut at = 0;
    while at < payload.len() {
        let start = at;
        let Some(&type_id) = payload.get(at + 1) else {
            return Err(DecodeError::Lpp {
                offset: at,
                reason: format!("truncated: channel {} has no type byte", payload[at]),
            });
        };
        let channel = payload[at];
        let Some(kind) = KINDS.iter().find(|k| k.id == type_id) else {
            return Err(DecodeError::Lpp {
                offset: at + 1,
                reason: format!(
                    "unknown data type {type_id} (0x{type_id:02x}) on channel {channel}; \
                     known types: {}",
                    KINDS
                        .iter()
                        .map(|k| format!("{} {}", k.id, k.name))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            });
        };
        at += 2;
        let Some(data) = payload.get(at..at + kind.size) else {
            return Err(DecodeError::Lpp {
                offset: start,
                reason: format!(
                    "truncated: {} on channel {channel} needs {} data bytes, {} left",
                    kind.name,
                    kind.size,
                    payload.len() - at
                ),
            });
        };
        let mut rest = data;
        for p in kind.parts {
            let (bytes, tail) = rest.split_at(p.bytes);
            rest = tail;
            if out.len() >= limits.max_readings {
                return Err(DecodeError::TooManyReadings {
                    limit: limits.max_readings,
                });
            }
            let name = if p.component.is_empty() {
                format!("{}_{channel}", kind.name)
            } else {
                format!("{}_{channel}/{}", kind.name, p.component)
            };
            let unit = p.unit.map(str::to_owned);
            out.push(Resolved {
                name,
                unit_status: senml::units::status(unit.as_deref()),
                unit,
                value: Some(Value::Number(scaled(read_int(bytes, p.signed), p))),
                sum: None,
                time: now,
                update_time: None,
                extensions: BTreeMap::new(),
            });
        }
        at += kind.size;
    }
    Ok(out)
}
