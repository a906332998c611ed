//! MQTT 5 properties checked with paho-mqtt (Python): CONNACK properties, content
//! type selecting SenML CBOR, reason codes and reason strings on PUBACK.

mod common;

use std::process::Command;

use common::*;

#[test]
fn paho_mqtt5_properties_and_reason_codes() {
    require("python3");
    let ok = Command::new("python3")
        .args(["-c", "import paho.mqtt"])
        .status()
        .unwrap();
    assert!(
        ok.success(),
        "paho-mqtt is not installed: run scripts/deps.sh first"
    );
    let tmp = tempfile::tempdir().unwrap();
    let gw = Gateway::start(&tmp.path().join("data"), None);
    let d = gw.add_device("paho-1", "aq-sensor");
    let other = gw.add_device("paho-2", "aq-sensor");
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/py/mqtt5_paho.py");
    let out = Command::new("python3")
        .args([script, "localhost", &gw.mqtts.port().to_string()])
        .args([&d.ca, &d.cert, &d.key])
        .args([&d.id, &other.id])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let readings = gw.readings(&d.id);
    let names: Vec<_> = readings
        .iter()
        .map(|r| r["n"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(readings.len(), 2, "{readings:?}");
    let cbor = readings
        .iter()
        .find(|r| r["n"] == "cbor-temp")
        .unwrap_or_else(|| panic!("{names:?}"));
    assert_eq!(cbor["u"], "Cel");
    assert_eq!(cbor["v"], 21.5);
    assert!(readings.iter().any(|r| r["n"] == "json-temp"));
    assert!(gw.readings(&other.id).is_empty());
}
