//! Benchmark of the policy pipeline at fleet size: compile the effective
//! policies of N devices (each with a MUD file of 30 rules, 4 of them DNS
//! names), build the nftables document, and write it for `nft -j -f`.
//!
//! `cargo run --release -p steward --example enforce_bench -- N OUT.json`
//! prints: devices, rules, compile seconds, build seconds, document bytes.
//! Device 0 is 10.77.0.11 (the lab's first host) and may reach
//! 203.0.113.20:5201 (iperf3), so the lab can measure forwarding with the
//! ruleset loaded (docs/benchmarks.md).

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};
use std::time::Instant;

fn mud(url: &str) -> mud::DevicePolicy {
    let mut aces = vec![serde_json::json!({"name": "iperf", "matches": {
        "ipv4": {"destination-ipv4-network": "203.0.113.20/32", "protocol": 6},
        "tcp": {"destination-port": {"operator": "eq", "port": 5201}}},
        "actions": {"forwarding": "accept"}})];
    for n in 0..25u16 {
        aces.push(serde_json::json!({"name": format!("net{n}"), "matches": {
            "ipv4": {"destination-ipv4-network": format!("198.51.{n}.0/24"), "protocol": 6},
            "tcp": {"destination-port": {"operator": "eq", "port": 8000 + n}}},
            "actions": {"forwarding": "accept"}}));
    }
    for n in 0..4 {
        aces.push(serde_json::json!({"name": format!("name{n}"), "matches": {
            "ipv4": {"ietf-acldns:dst-dnsname": format!("svc{n}.cloud.example"), "protocol": 6},
            "tcp": {"destination-port": {"operator": "eq", "port": 443}}},
            "actions": {"forwarding": "accept"}}));
    }
    let doc = serde_json::json!({
        "ietf-mud:mud": {"mud-version": 1, "mud-url": url, "last-update": "2026-01-01T00:00:00Z",
            "cache-validity": 48, "is-supported": true, "systeminfo": "bench",
            "from-device-policy": {"access-lists": {"access-list": [{"name": "from"}]}}},
        "ietf-access-control-list:acls": {"acl": [
            {"name": "from", "type": "ipv4-acl-type", "aces": {"ace": aces}}]}
    });
    let parsed =
        mud::parse(doc.to_string().as_bytes(), &mud::ParseOptions::default()).expect("parse");
    mud::compile(&parsed.file).expect("compile")
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let n: usize = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(1000);
    let out = args
        .get(2)
        .cloned()
        .unwrap_or_else(|| "/tmp/enforce-bench.json".into());
    // Ten models (makers), each with its own MUD file.
    let urls: Vec<String> = (0..10)
        .map(|m| format!("https://mud{m}.example/model.json"))
        .collect();
    let muds: BTreeMap<String, mud::DevicePolicy> =
        urls.iter().map(|u| (u.clone(), mud(u))).collect();
    let mut devices = vec![];
    let mut ips = BTreeMap::new();
    for i in 0..n {
        let ip = if i == 0 {
            IpAddr::V4(Ipv4Addr::new(10, 77, 0, 11))
        } else {
            IpAddr::V4(Ipv4Addr::from(0x0A40_0000u32 + i as u32))
        };
        let id = format!("dev{i:05}");
        devices.push(policy::Device {
            id: id.clone(),
            zone: Some("trusted".into()),
            mud_url: Some(urls[i % urls.len()].clone()),
            strength: policy::Strength::Certificate,
            addresses: vec![ip],
            ..Default::default()
        });
        ips.insert(id, vec![ip]);
    }
    let inputs = policy::Inputs {
        config: policy::PolicyConfig::default(),
        devices,
        mud: muds,
    };
    let t = Instant::now();
    let compiled = policy::compile(&inputs).expect("compile");
    let compile_s = t.elapsed().as_secs_f64();
    let cfg = steward::enforce::EnforceConfig::default();
    let t = Instant::now();
    let (doc, layout) = steward::enforce::nft::build(&steward::enforce::nft::BuildInput {
        compiled: &compiled,
        config: &cfg,
        lan: &["br-lan".to_string()],
        macs: &BTreeMap::new(),
        addresses: &ips,
        learned: &Default::default(),
        now: 0,
        generation: 1,
    });
    let text = doc.to_string();
    let build_s = t.elapsed().as_secs_f64();
    std::fs::write(&out, &text).expect("write");
    println!(
        "devices={n} policy_rules={} nft_rules={} elements={} compile_s={compile_s:.3} build_s={build_s:.3} bytes={}",
        compiled.rule_count(),
        layout.rules,
        layout.elements,
        text.len()
    );
}
