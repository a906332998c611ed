//! Units: the SenML Units registry (RFC 8428 §12.1, plus the units RFC 8798 §2
//! added) and the secondary units of RFC 8798 §3 with their linear conversion to a
//! registered unit (`primary = value * scale + offset`).
//!
//! Unknown unit symbols are not an error: resolution keeps them and flags them with
//! [`UnitStatus::Unknown`], so the gateway can show the reading and tell the operator.

/// A unit of the SenML Units registry.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Unit {
    pub symbol: &'static str,
    pub description: &'static str,
    /// Marked with `*` in the registry: "NOT RECOMMENDED to be produced by new
    /// implementations", but consumers should understand it.
    pub not_recommended: bool,
}

/// A secondary unit (RFC 8798 §3): a scaled form of a registered unit.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SecondaryUnit {
    pub symbol: &'static str,
    pub description: &'static str,
    /// The registered unit the value converts to.
    pub primary: &'static str,
    pub scale: f64,
    pub offset: f64,
}

impl SecondaryUnit {
    /// The value in [`Self::primary`] units: "first multiplying their value with the
    /// scale number and then adding the offset" (RFC 8798 §3).
    pub fn to_primary(&self, value: f64) -> f64 {
        value * self.scale + self.offset
    }
}

/// What a unit symbol is.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum UnitKind {
    Registered(&'static Unit),
    Secondary(&'static SecondaryUnit),
    Unknown,
}

/// Whether a resolved record's unit is one we know.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum UnitStatus {
    /// The record has no unit.
    None,
    /// In the SenML Units registry.
    Registered,
    /// A secondary unit of RFC 8798: convertible with [`crate::Resolved::to_primary_unit`].
    Secondary,
    /// Not registered: kept as sent, flagged for the operator.
    Unknown,
}

/// Look a unit symbol up (case-sensitive, as the registry is: `m` is not `M`).
pub fn lookup(symbol: &str) -> UnitKind {
    if let Some(u) = UNITS.iter().find(|u| u.symbol == symbol) {
        UnitKind::Registered(u)
    } else if let Some(u) = SECONDARY_UNITS.iter().find(|u| u.symbol == symbol) {
        UnitKind::Secondary(u)
    } else {
        UnitKind::Unknown
    }
}

/// The status of an optional unit.
pub fn status(unit: Option<&str>) -> UnitStatus {
    match unit.map(lookup) {
        None => UnitStatus::None,
        Some(UnitKind::Registered(_)) => UnitStatus::Registered,
        Some(UnitKind::Secondary(_)) => UnitStatus::Secondary,
        Some(UnitKind::Unknown) => UnitStatus::Unknown,
    }
}

const fn u(symbol: &'static str, description: &'static str) -> Unit {
    Unit {
        symbol,
        description,
        not_recommended: false,
    }
}

const fn deprecated(symbol: &'static str, description: &'static str) -> Unit {
    Unit {
        symbol,
        description,
        not_recommended: true,
    }
}

/// The SenML Units registry: RFC 8428 §12.1 Table 6, then RFC 8798 §2 Table 1.
pub static UNITS: &[Unit] = &[
    // RFC 8428 §12.1
    u("m", "meter"),
    u("kg", "kilogram"),
    deprecated("g", "gram"),
    u("s", "second"),
    u("A", "ampere"),
    u("K", "kelvin"),
    u("cd", "candela"),
    u("mol", "mole"),
    u("Hz", "hertz"),
    u("rad", "radian"),
    u("sr", "steradian"),
    u("N", "newton"),
    u("Pa", "pascal"),
    u("J", "joule"),
    u("W", "watt"),
    u("C", "coulomb"),
    u("V", "volt"),
    u("F", "farad"),
    u("Ohm", "ohm"),
    u("S", "siemens"),
    u("Wb", "weber"),
    u("T", "tesla"),
    u("H", "henry"),
    u("Cel", "degrees Celsius"),
    u("lm", "lumen"),
    u("lx", "lux"),
    u("Bq", "becquerel"),
    u("Gy", "gray"),
    u("Sv", "sievert"),
    u("kat", "katal"),
    u("m2", "square meter (area)"),
    u("m3", "cubic meter (volume)"),
    deprecated("l", "liter (volume)"),
    u("m/s", "meter per second (velocity)"),
    u("m/s2", "meter per square second (acceleration)"),
    u("m3/s", "cubic meter per second (flow rate)"),
    deprecated("l/s", "liter per second (flow rate)"),
    u("W/m2", "watt per square meter (irradiance)"),
    u("cd/m2", "candela per square meter (luminance)"),
    u("bit", "bit (information content)"),
    u("bit/s", "bit per second (data rate)"),
    u("lat", "degrees latitude"),
    u("lon", "degrees longitude"),
    u("pH", "pH value (acidity; logarithmic quantity)"),
    u("dB", "decibel (logarithmic quantity)"),
    u("dBW", "decibel relative to 1 W (power level)"),
    deprecated("Bspl", "bel (sound pressure level; logarithmic quantity)"),
    u("count", "1 (counter value)"),
    u("/", "1 (ratio e.g., value of a switch)"),
    deprecated("%", "1 (ratio e.g., value of a switch)"),
    u("%RH", "percentage (relative humidity)"),
    u("%EL", "percentage (remaining battery energy level)"),
    u("EL", "seconds (remaining battery energy level)"),
    u("1/s", "1 per second (event rate)"),
    deprecated("1/min", "1 per minute (event rate, \"rpm\")"),
    deprecated("beat/min", "1 per minute (heart rate in beats per minute)"),
    deprecated("beats", "1 (cumulative number of heart beats)"),
    u("S/m", "siemens per meter (conductivity)"),
    // RFC 8798 §2
    u("B", "byte (information content)"),
    u("VA", "volt-ampere (apparent power)"),
    u("VAs", "volt-ampere second (apparent energy)"),
    u("var", "volt-ampere reactive (reactive power)"),
    u("vars", "volt-ampere-reactive second (reactive energy)"),
    u("J/m", "joule per meter (energy per distance)"),
    u(
        "kg/m3",
        "kilogram per cubic meter (mass density, mass concentration)",
    ),
    deprecated("deg", "degree (angle)"),
];

const fn sec(
    symbol: &'static str,
    description: &'static str,
    primary: &'static str,
    scale: f64,
    offset: f64,
) -> SecondaryUnit {
    SecondaryUnit {
        symbol,
        description,
        primary,
        scale,
        offset,
    }
}

/// The secondary units registry: RFC 8798 §3 Table 2.
pub static SECONDARY_UNITS: &[SecondaryUnit] = &[
    sec("ms", "millisecond", "s", 1.0 / 1000.0, 0.0),
    sec("min", "minute", "s", 60.0, 0.0),
    sec("h", "hour", "s", 3600.0, 0.0),
    sec("MHz", "megahertz", "Hz", 1_000_000.0, 0.0),
    sec("kW", "kilowatt", "W", 1000.0, 0.0),
    sec("kVA", "kilovolt-ampere", "VA", 1000.0, 0.0),
    sec("kvar", "kilovar", "var", 1000.0, 0.0),
    sec("Ah", "ampere-hour", "C", 3600.0, 0.0),
    sec("Wh", "watt-hour", "J", 3600.0, 0.0),
    sec("kWh", "kilowatt-hour", "J", 3_600_000.0, 0.0),
    sec("varh", "var-hour", "vars", 3600.0, 0.0),
    sec("kvarh", "kilovar-hour", "vars", 3_600_000.0, 0.0),
    sec("kVAh", "kilovolt-ampere-hour", "VAs", 3_600_000.0, 0.0),
    sec("Wh/km", "watt-hour per kilometer", "J/m", 3.6, 0.0),
    sec("KiB", "kibibyte", "B", 1024.0, 0.0),
    sec("GB", "gigabyte", "B", 1e9, 0.0),
    sec("Mbit/s", "megabit per second", "bit/s", 1_000_000.0, 0.0),
    sec("B/s", "byte per second", "bit/s", 8.0, 0.0),
    sec("MB/s", "megabyte per second", "bit/s", 8_000_000.0, 0.0),
    sec("mV", "millivolt", "V", 1.0 / 1000.0, 0.0),
    sec("mA", "milliampere", "A", 1.0 / 1000.0, 0.0),
    sec("dBm", "decibel (milliwatt)", "dBW", 1.0, -30.0),
    sec("ug/m3", "microgram per cubic meter", "kg/m3", 1e-9, 0.0),
    sec("mm/h", "millimeter per hour", "m/s", 1.0 / 3_600_000.0, 0.0),
    sec("m/h", "meter per hour", "m/s", 1.0 / 3600.0, 0.0),
    sec("ppm", "parts per million", "/", 1e-6, 0.0),
    sec("/100", "percent", "/", 1.0 / 100.0, 0.0),
    sec("/1000", "permille", "/", 1.0 / 1000.0, 0.0),
    sec("hPa", "hectopascal", "Pa", 100.0, 0.0),
    sec("mm", "millimeter", "m", 1.0 / 1000.0, 0.0),
    sec("cm", "centimeter", "m", 1.0 / 100.0, 0.0),
    sec("km", "kilometer", "m", 1000.0, 0.0),
    sec("km/h", "kilometer per hour", "m/s", 1.0 / 3.6, 0.0),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_secondary_unit_converts_to_a_registered_unit() {
        for s in SECONDARY_UNITS {
            assert!(
                matches!(lookup(s.primary), UnitKind::Registered(_)),
                "{} -> {}",
                s.symbol,
                s.primary
            );
            assert!(matches!(lookup(s.symbol), UnitKind::Secondary(_)));
        }
    }

    #[test]
    fn symbols_are_unique() {
        let mut all: Vec<&str> = UNITS.iter().map(|u| u.symbol).collect();
        all.extend(SECONDARY_UNITS.iter().map(|u| u.symbol));
        let n = all.len();
        all.sort_unstable();
        all.dedup();
        assert_eq!(all.len(), n);
    }

    #[test]
    fn rfc8798_examples() {
        // RFC 8798 §3: 100 ms is 0.1 s; 10 dBm is -20 dBW.
        let UnitKind::Secondary(ms) = lookup("ms") else {
            panic!("ms")
        };
        assert!((ms.to_primary(100.0) - 0.1).abs() < 1e-12);
        let UnitKind::Secondary(dbm) = lookup("dBm") else {
            panic!("dBm")
        };
        assert_eq!(dbm.to_primary(10.0), -20.0);
        assert_eq!(status(Some("Cel")), UnitStatus::Registered);
        assert_eq!(status(Some("cel")), UnitStatus::Unknown);
        assert_eq!(status(None), UnitStatus::None);
    }
}
