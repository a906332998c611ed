//! Crash safety and restart: a reading that was PUBACKed is in the store after
//! kill -9, and the registry, CA and tokens survive restarts.

mod common;

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::*;
use rand::Rng;
use rumqttc::{
    AsyncClient, Event, MqttOptions, Outgoing, Packet, QoS, TlsConfiguration, Transport,
};

const LOAD_CONFIG: &str = "[mqtt]\nrate_limit_per_sec = 100000\nrate_burst = 100000\n";

/// Publish QoS 1 readings `[{"n":"seq","v":N}]` as fast as the broker acknowledges,
/// recording every sequence number whose PUBACK arrived, until the connection dies.
async fn load(gw_port: u16, d: &DeviceCreds, first: u64, acked: Arc<Mutex<BTreeSet<u64>>>) {
    let tls = steward::demo::device_tls(
        &std::fs::read_to_string(&d.ca).unwrap(),
        &std::fs::read_to_string(&d.cert).unwrap(),
        &std::fs::read_to_string(&d.key).unwrap(),
    )
    .unwrap();
    let mut opts = MqttOptions::new(format!("crash-{}", d.name), "localhost", gw_port);
    opts.set_transport(Transport::tls_with_config(TlsConfiguration::Rustls(tls)));
    opts.set_inflight(32);
    let (client, mut events) = AsyncClient::new(opts, 64);
    let topic = format!("steward/v1/devices/{}/telemetry", d.id);
    // Sequence numbers in the order they were handed to the client; rumqttc sends
    // them in that order, which pairs each with its packet id.
    let queued: Arc<Mutex<VecDeque<u64>>> = Arc::default();
    let q = queued.clone();
    let publisher = tokio::spawn(async move {
        let mut seq = first;
        loop {
            q.lock().unwrap().push_back(seq);
            let body = format!(r#"[{{"n":"seq","v":{seq}}}]"#);
            if client
                .publish(&topic, QoS::AtLeastOnce, false, body)
                .await
                .is_err()
            {
                return;
            }
            seq += 1;
        }
    });
    let mut by_pkid: HashMap<u16, u64> = HashMap::new();
    loop {
        match events.poll().await {
            Ok(Event::Outgoing(Outgoing::Publish(pkid))) => {
                if let Some(seq) = queued.lock().unwrap().pop_front() {
                    by_pkid.insert(pkid, seq);
                }
            }
            Ok(Event::Incoming(Packet::PubAck(ack))) => {
                if let Some(seq) = by_pkid.remove(&ack.pkid) {
                    acked.lock().unwrap().insert(seq);
                }
            }
            Ok(_) => {}
            Err(_) => break, // the server was killed
        }
    }
    publisher.abort();
}

fn stored_seqs(data: &std::path::Path, device: &str) -> BTreeSet<u64> {
    let conn = rusqlite::Connection::open(data.join("steward.db")).unwrap();
    let mut stmt = conn
        .prepare(
            "SELECT r.v FROM readings r JOIN device_keys k ON k.key = r.dev
             WHERE k.device_id = ?1 AND r.name = 'seq'",
        )
        .unwrap();
    stmt.query_map([device], |r| r.get::<_, f64>(0))
        .unwrap()
        .map(|v| v.unwrap() as u64)
        .collect()
}

#[test]
fn acknowledged_readings_survive_kill_9() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let mut gw = Gateway::start(&data, Some(LOAD_CONFIG));
    let devices: Vec<DeviceCreds> = (0..6)
        .map(|i| gw.add_device(&format!("load-{i}"), "meter"))
        .collect();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let mut rng = rand::rng();
    let mut total_acked = 0;
    for round in 0..4u64 {
        let acked: Vec<Arc<Mutex<BTreeSet<u64>>>> =
            devices.iter().map(|_| Arc::default()).collect();
        let port = gw.mqtts.port();
        let tasks: Vec<_> = devices
            .iter()
            .zip(&acked)
            .map(|(d, a)| {
                let d = DeviceCreds {
                    id: d.id.clone(),
                    name: d.name.clone(),
                    cert: d.cert.clone(),
                    key: d.key.clone(),
                    ca: d.ca.clone(),
                };
                let a = a.clone();
                rt.spawn(async move { load(port, &d, round * 10_000_000, a).await })
            })
            .collect();
        // Kill at a random moment while publishes are in flight.
        let ms = rng.random_range(400..1500);
        std::thread::sleep(Duration::from_millis(ms));
        assert!(
            acked.iter().any(|a| !a.lock().unwrap().is_empty()),
            "no publish was acknowledged before the kill (round {round})"
        );
        gw.kill9();
        rt.block_on(async {
            for t in tasks {
                let _ = tokio::time::timeout(Duration::from_secs(10), t).await;
            }
        });
        // Check the store as the restarted server sees it.
        gw = Gateway::start(&data, Some(LOAD_CONFIG));
        for (d, a) in devices.iter().zip(&acked) {
            let acked = a.lock().unwrap();
            let stored = stored_seqs(&data, &d.id);
            let lost: Vec<_> = acked.difference(&stored).take(10).collect();
            assert!(
                lost.is_empty(),
                "round {round}, device {}: {} acknowledged readings lost, e.g. {lost:?}",
                d.name,
                acked.difference(&stored).count()
            );
            total_acked += acked.len();
        }
    }
    assert!(
        total_acked > 100,
        "too little load to mean anything: {total_acked}"
    );
    eprintln!("kill -9 test: {total_acked} acknowledged readings over 4 rounds, none lost");
}

#[test]
fn registry_ca_and_tokens_survive_restart() {
    require("mosquitto_pub");
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let mut gw = Gateway::start(&data, None);
    let admin = gw.admin.clone();
    let ca = std::fs::read_to_string(data.join("ca.crt")).unwrap();
    let d = gw.add_device("keeper", "meter");
    let token = gw.token(&d.id);
    let publish_cert = |gw: &Gateway, v: u32| {
        let a = tls_args_with(
            gw,
            &d,
            &[
                "-q",
                "1",
                "-t",
                &format!("steward/v1/devices/{}/telemetry", d.id),
                "-m",
                &format!(r#"[{{"n":"v","v":{v}}}]"#),
            ],
        );
        mosquitto_pub(&a)
    };
    assert!(text(&publish_cert(&gw, 1)).contains("received PUBACK"));
    // A clean stop on SIGTERM.
    let status = gw.terminate();
    assert!(
        status.success(),
        "exit status {status:?}; log: {}",
        gw.log()
    );

    gw = Gateway::start(&data, None);
    assert_eq!(gw.admin, admin, "the admin token changed");
    assert_eq!(
        std::fs::read_to_string(data.join("ca.crt")).unwrap(),
        ca,
        "the CA changed"
    );
    assert!(
        text(&publish_cert(&gw, 2)).contains("received PUBACK"),
        "certificate device did not reconnect"
    );
    let by_token = mosquitto_pub(
        &[
            "-h",
            "localhost",
            "-p",
            &gw.mqtts.port().to_string(),
            "--cafile",
            d.ca.to_str().unwrap(),
            "-u",
            &d.id,
            "-P",
            &token,
            "-q",
            "1",
            "-t",
            &format!("steward/v1/devices/{}/telemetry", d.id),
            "-m",
            r#"[{"n":"v","v":3}]"#,
        ]
        .map(String::from),
    );
    assert!(
        text(&by_token).contains("received PUBACK"),
        "{}",
        text(&by_token)
    );
    let values: BTreeSet<u64> = gw
        .readings(&d.id)
        .iter()
        .map(|r| r["v"].as_f64().unwrap() as u64)
        .collect();
    assert_eq!(values, BTreeSet::from([1, 2, 3]));
    let dev = gw.admin_get(&format!("/api/v1/devices/{}", d.id));
    assert_eq!(dev["name"], "keeper");
    assert!(dev["last_seen"].as_f64().is_some());
    assert_eq!(dev["strength"], "certificate");
}
