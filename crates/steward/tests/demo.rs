//! `steward demo`: the simulated fleet connects over MQTT/TLS and CoAP/DTLS-PSK and
//! its readings reach the API.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use common::BIN;

#[test]
fn demo_fleet_publishes_readings() {
    let mut child = Command::new(BIN)
        .args([
            "demo",
            "--devices",
            "8",
            "--seconds",
            "25",
            "--http",
            "127.0.0.1:0",
            "--mqtts",
            "127.0.0.1:0",
            "--coaps",
            "127.0.0.1:0",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let (mut http, mut admin) = (None, None);
    while http.is_none() || admin.is_none() {
        let line = lines.next().expect("demo ended early").unwrap();
        if let Some(rest) = line.trim().strip_prefix("HTTP API:") {
            http = rest
                .trim()
                .strip_prefix("http://")
                .and_then(|r| r.split('/').next())
                .map(String::from);
        }
        if let Some(rest) = line.trim().strip_prefix("admin token:") {
            admin = Some(rest.trim().to_string());
        }
    }
    let (http, admin) = (http.unwrap(), admin.unwrap());
    let get = |path: &str| -> serde_json::Value {
        let out = Command::new("curl")
            .args([
                "-sS",
                "-H",
                &format!("Authorization: Bearer {admin}"),
                &format!("http://{http}{path}"),
            ])
            .output()
            .unwrap();
        serde_json::from_slice(&out.stdout).unwrap_or(serde_json::Value::Null)
    };
    let mut seen = false;
    for _ in 0..150 {
        let h = get("/healthz");
        // Eight devices over five kinds: six speak MQTT, two (a noise sensor and a
        // weather station) CoAP.
        if h["mqtt_connected"] == 6 && h["readings_stored"].as_u64().unwrap_or(0) >= 8 {
            seen = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(
        seen,
        "the fleet did not connect and publish: {}",
        get("/healthz")
    );
    let devices = get("/api/v1/devices");
    let devices = devices.as_array().unwrap();
    assert_eq!(devices.len(), 8);
    for d in devices {
        let expected = if d["model"] == "noise-sensor" || d["model"] == "weather-station" {
            "token" // a DTLS pre-shared key, which the gateway knows too
        } else {
            "certificate"
        };
        assert_eq!(d["strength"], expected, "{d}");
    }
    let models: std::collections::BTreeSet<_> = devices
        .iter()
        .map(|d| d["model"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(models.len(), 5, "{models:?}");
    // Four payload formats, one vocabulary: each kind's readings are SenML records.
    let decoders: std::collections::BTreeSet<_> = get("/api/v1/models")
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["decoder"]["kind"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        decoders.into_iter().collect::<Vec<_>>(),
        ["cayenne-lpp", "json-map", "lwm2m", "senml"]
    );
    // The weather station's LwM2M paths come out as the registry's resource names,
    // with the registry's units (it sends none).
    let lwm2m: Vec<(u32, u32, String)> = [(3303, 5700), (3304, 5700), (3315, 5700), (6, 0), (6, 1)]
        .into_iter()
        .map(|(object, resource)| {
            let r = payload::lwm2m::lookup(object, resource).unwrap();
            (object, resource, format!("{}/0/{}", r.object, r.name))
        })
        .collect();
    assert_eq!(lwm2m[0].2, "temperature/0/sensor_value");
    let mut units = std::collections::BTreeMap::new();
    let mut names = std::collections::BTreeSet::new();
    for _ in 0..150 {
        for d in devices {
            for r in get(&format!(
                "/api/v1/devices/{}/latest",
                d["id"].as_str().unwrap()
            ))
            .as_array()
            .unwrap()
            {
                let n = r["n"].as_str().unwrap().to_string();
                units.insert(n.clone(), r["u"].as_str().map(String::from));
                names.insert(n);
            }
        }
        if [
            "presence_1",
            "power",
            "urn:steward:aq:pm2_5",
            "urn:steward:noise:LAeq",
        ]
        .iter()
        .all(|n| names.contains(*n))
            && lwm2m.iter().all(|(_, _, n)| names.contains(n))
        {
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    for n in [
        "presence_1",
        "power",
        "urn:steward:aq:pm2_5",
        "urn:steward:noise:LAeq",
    ] {
        assert!(
            names.contains(n),
            "no `{n}` reading from the fleet: {names:?}"
        );
    }
    for (object, resource, name) in &lwm2m {
        let unit = payload::lwm2m::lookup(*object, *resource)
            .unwrap()
            .unit
            .map(String::from);
        assert!(
            unit.is_some(),
            "/{object}/0/{resource} has a unit in the table"
        );
        assert_eq!(
            units.get(name),
            Some(&unit),
            "/{object}/0/{resource}: no `{name}` reading with the table's unit: {units:?}"
        );
    }
    // The streetlights' firmware campaign runs to its end: every streetlight
    // reported how its install ended (a few fail on purpose).
    let (mut finished, mut total) = (0, u64::MAX);
    let mut last = serde_json::Value::Null;
    for _ in 0..100 {
        last = get("/api/v1/campaigns");
        if let Some(c) = last.as_array().and_then(|a| a.first()) {
            let p = get(&format!("/api/v1/campaigns/{}", c["id"].as_str().unwrap()));
            let waves = p["waves"].as_array().cloned().unwrap_or_default();
            let count = |k: &str| {
                waves
                    .iter()
                    .map(|w| w[k].as_u64().unwrap_or(0))
                    .sum::<u64>()
            };
            finished = count("succeeded") + count("failed");
            total = count("total");
            if finished == total || p["campaign"]["state"] == "halted" {
                break;
            }
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(
        finished > 0 && total != u64::MAX,
        "the demo campaign made no progress: {last}"
    );
    let _ = child.kill();
    let _ = child.wait();
}
