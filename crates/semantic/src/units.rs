//! SenML units (RFC 8428 §12.1, RFC 8798) to UN/CEFACT Recommendation 20 common
//! codes, the `unitCode` of NGSI-LD Properties (ETSI GS CIM 009 §4.5.2) and of the
//! FIWARE Smart Data Models. Only units with an unambiguous UN/CEFACT code are
//! listed; a reading with another unit is exported without a `unitCode`.

/// (SenML unit, UN/CEFACT common code). Codes from UN/CEFACT Recommendation 20
/// (rev. 17), annex II/III; `ug/m3` = GQ and `mg/m3` = GP as in the Smart Data
/// Models AirQualityObserved examples, `dB` = 2N as in NoiseLevelObserved.
const TABLE: &[(&str, &str)] = &[
    ("m", "MTR"),
    ("kg", "KGM"),
    ("g", "GRM"),
    ("s", "SEC"),
    ("ms", "C26"),
    ("min", "MIN"),
    ("h", "HUR"),
    ("d", "DAY"),
    ("A", "AMP"),
    ("mA", "4K"),
    ("K", "KEL"),
    ("Cel", "CEL"),
    ("cd", "CDL"),
    ("mol", "C34"),
    ("Hz", "HTZ"),
    ("kHz", "KHZ"),
    ("rad", "C81"),
    ("sr", "D27"),
    ("N", "NEW"),
    ("Pa", "PAL"),
    ("hPa", "A97"),
    ("kPa", "KPA"),
    ("bar", "BAR"),
    ("J", "JOU"),
    ("kJ", "KJO"),
    ("W", "WTT"),
    ("kW", "KWT"),
    ("mW", "C31"),
    ("Wh", "WHR"),
    ("kWh", "KWH"),
    ("VA", "D46"),
    ("VAh", "D47"),
    ("var", "D44"),
    ("C", "COU"),
    ("V", "VLT"),
    ("mV", "2Z"),
    ("F", "FAR"),
    ("Ohm", "OHM"),
    ("S", "SIE"),
    ("S/m", "D10"),
    ("Wb", "WEB"),
    ("T", "D33"),
    ("H", "81"),
    ("lm", "LUM"),
    ("lx", "LUX"),
    ("Bq", "BQL"),
    ("Gy", "A95"),
    ("Sv", "D13"),
    ("kat", "KAT"),
    ("m2", "MTK"),
    ("m3", "MTQ"),
    ("l", "LTR"),
    ("ml", "MLT"),
    ("m/s", "MTS"),
    ("km/h", "KMH"),
    ("m/s2", "MSK"),
    ("m3/s", "MQS"),
    ("l/s", "G51"),
    ("l/min", "L2"),
    ("W/m2", "D54"),
    ("cd/m2", "A24"),
    ("bit", "A99"),
    ("bit/s", "B10"),
    ("B", "AD"),
    ("lat", "DD"),
    ("lon", "DD"),
    ("deg", "DD"),
    ("pH", "Q30"),
    ("dB", "2N"),
    ("dBW", "DBW"),
    ("dBm", "DBM"),
    ("%", "P1"),
    ("%RH", "P1"),
    ("%EL", "P1"),
    ("/", "C62"),
    ("1", "C62"),
    ("ppm", "59"),
    ("ppb", "61"),
    ("ug/m3", "GQ"),
    ("mg/m3", "GP"),
    ("mm", "MMT"),
    ("cm", "CMT"),
    ("km", "KMT"),
    ("mm/h", "H67"),
    ("beat/min", "2L"),
    ("count", "C62"),
];

/// The UN/CEFACT common code of a SenML unit, if it has one.
pub fn un_cefact(senml_unit: &str) -> Option<&'static str> {
    TABLE
        .iter()
        .find(|(u, _)| *u == senml_unit)
        .map(|(_, code)| *code)
}

/// Whether a string has the shape of a UN/CEFACT common code: 2 or 3 characters,
/// upper-case letters and digits.
pub fn is_un_cefact_code(code: &str) -> bool {
    (2..=3).contains(&code.len())
        && code
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_and_unknown_units() {
        assert_eq!(un_cefact("Cel"), Some("CEL"));
        assert_eq!(un_cefact("ug/m3"), Some("GQ"));
        assert_eq!(un_cefact("furlong"), None);
        assert!(
            TABLE.iter().all(|(_, c)| is_un_cefact_code(c)),
            "a code in the table has the wrong shape"
        );
        assert!(!is_un_cefact_code("gq"));
        assert!(!is_un_cefact_code("ABCD"));
    }
}
