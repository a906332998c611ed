//! The issue's integrated tests, in the lab (tools/lab): the real `steward` binary
//! in the router namespace with nftables enforcement, its DNS forwarder for the
//! devices (upstream: the lab's DNS server) and its DHCP server on `br-lan`.
//! Devices are lab hosts using curl, nc and busybox udhcpc. Needs root.
//!
//! - a MUD file allows `api.example.test:443` and `moving.example.test:443` by
//!   name: the device reaches them through the addresses Steward's DNS answers put
//!   in its set, nothing else, and keeps reaching `moving` after its address moves;
//! - a device that only runs udhcpc (option 161 names its MUD file) is registered,
//!   its MUD file fetched from the lab's HTTPS server, its maker's signature
//!   verified, and its policy applied with no operator action;
//! - a name with 300 addresses: the answer is capped, the kernel holds exactly
//!   what the device was answered, and the rest of the policy is unchanged.

mod common;

use common::lab::{Lab, LabSteward, mud_file};
use serde_json::json;

const MUD_URL: &str = "https://mud.example.test/thermo.json";

fn config(lab: &Lab) -> String {
    format!(
        r#"
[network]
lan_interface = "br-lan"
uplink_interface = "up0"
lan_prefixes = ["10.77.0.0/24"]

[dns]
enabled = true
listen = "0.0.0.0:53"
upstreams = ["203.0.113.53:53"]

[dhcp]
enabled = true
server_address = "10.77.0.1"
subnet = "10.77.0.0/24"
pool_start = "10.77.0.200"
pool_end = "10.77.0.220"
lease_secs = 600

[enforce]
mode = "nftables"
reconcile_secs = 1

[mud]
public_roots = false
tls_ca = ["{ca}"]
unsigned_makers = ["mud.example.test"]
retry_secs = 2
timeout_secs = 5

[policy]
default_zone = "restricted"

# Unknown devices get DNS and NTP through Steward, and what their MUD file
# declares; no other Internet access.
[policy.zones.restricted]
grant = ["dns", "ntp"]

[[policy.consent]]
name = "makers-say"
match = {{ zone = "restricted" }}
grant = ["mud"]

[policy.site]
local_networks = ["10.77.0.0/24"]
gateway = ["10.77.0.1"]
"#,
        ca = lab.ca().display()
    )
}

fn write_mud(lab: &Lab) {
    let https_to = |host: &str| {
        json!({"ipv4": {"ietf-acldns:dst-dnsname": host, "protocol": 6},
               "tcp": {"destination-port": {"operator": "eq", "port": 443}}})
    };
    std::fs::write(
        lab.www().join("thermo.json"),
        mud_file(
            MUD_URL,
            &[
                ("api", https_to("api.example.test")),
                ("moving", https_to("moving.example.test")),
                ("many", https_to("many.example.test")),
            ],
        ),
    )
    .unwrap();
}

/// Steward in the lab with model `thermo` (the MUD file above) and device
/// `thermo-1` at lab host 1.
fn thermo_in_lab(lab: &Lab, dir: &std::path::Path) -> LabSteward {
    write_mud(lab);
    let s = LabSteward::start(lab, &dir.join("data"), &config(lab));
    s.cli_ok(&[
        "model",
        "add",
        "thermo",
        "--manufacturer",
        "acme",
        "--mud-url",
        MUD_URL,
    ]);
    s.cli_ok(&[
        "device",
        "add",
        "thermo-1",
        "--model",
        "thermo",
        "--out",
        dir.join("certs").to_str().unwrap(),
    ]);
    s.cli_ok(&[
        "policy",
        "address",
        "thermo-1",
        &lab.dev_addr(1),
        &lab.dev_mac(1),
    ]);
    s
}

#[test]
fn dns_names_of_a_mud_file_hold_through_stewards_answers_even_when_addresses_move() {
    let lab = Lab::up(1);
    let dir = tempfile::tempdir().unwrap();
    let _s = thermo_in_lab(&lab, dir.path());

    // By name, resolved through Steward (the device's resolver is 10.77.0.1).
    Lab::wait_for("thermo-1 reaches api.example.test:443 by name", 60, || {
        lab.curl_ok(1, "https://api.example.test/")
    });
    // Nothing else: another port of the same host, another host, an address the
    // device was never told.
    assert!(
        !lab.tcp_ok(1, "203.0.113.10", 80),
        "api.example.test:80 is not in the MUD file"
    );
    assert!(
        !lab.curl_ok(1, "http://other.example.test/"),
        "other.example.test is not in the MUD file"
    );
    // moving.example.test resolves to 203.0.113.30 (where nothing listens): the
    // device is told that address, and 203.0.113.31 (which serves HTTPS) stays
    // closed to it, since no answer gave it.
    let o = lab.exec(&lab.dev(1), 5, &["dig", "+short", "moving.example.test"]);
    assert_eq!(String::from_utf8_lossy(&o.stdout).trim(), "203.0.113.30");
    assert!(
        !lab.tcp_ok(1, "203.0.113.31", 443),
        "an address no answer gave is closed"
    );
    // The name moves to 203.0.113.31: once the old answer's TTL (the lab's 5 s)
    // is over, the device asks again and Steward's answer opens the new address.
    lab.set_host("moving.example.test", "203.0.113.31");
    Lab::wait_for(
        "thermo-1 reaches moving.example.test at its new address",
        60,
        || lab.curl_ok(1, "https://moving.example.test/"),
    );
    let o = lab.exec(&lab.dev(1), 5, &["dig", "+short", "moving.example.test"]);
    assert_eq!(String::from_utf8_lossy(&o.stdout).trim(), "203.0.113.31");
    assert!(!lab.curl_ok(1, "http://other.example.test/"));
}

#[test]
fn hundreds_of_addresses_for_one_name_are_capped_and_the_rules_stay_correct() {
    let lab = Lab::up(1);
    let dir = tempfile::tempdir().unwrap();
    let s = thermo_in_lab(&lab, dir.path());
    Lab::wait_for("thermo-1 reaches api.example.test:443 by name", 60, || {
        lab.curl_ok(1, "https://api.example.test/")
    });
    // A hostile (or merely huge) answer: 300 addresses for one allowed name.
    let many: Vec<String> = (0..300u32)
        .map(|i| format!("198.18.{}.{}", i / 250, 1 + i % 250))
        .collect();
    lab.add_hosts("many.example.test", &many);
    let o = lab.exec(
        &lab.dev(1),
        10,
        &["dig", "+tcp", "+time=3", "many.example.test", "A"],
    );
    let text = String::from_utf8_lossy(&o.stdout).to_string();
    assert!(text.contains("status: NOERROR"), "{text}");
    let answered: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("\tA\t") || l.contains(" A "))
        .filter_map(|l| l.split_whitespace().last())
        .filter(|a| a.starts_with("198.18."))
        .collect();
    assert!(
        !answered.is_empty() && answered.len() <= 64,
        "the answer is trimmed to Steward's cap: {} addresses\n{text}",
        answered.len()
    );
    // The kernel holds exactly the addresses the device was answered for that
    // name (paired with the device's address), no more.
    let table = s.table().expect("table in place");
    let held: Vec<&str> = table
        .split([',', '{', '}', '\n'])
        .map(str::trim)
        .filter(|e| e.starts_with("10.77.0.11 . 198.18."))
        .collect();
    assert_eq!(held.len(), answered.len(), "{held:?} vs {answered:?}");
    for a in &answered {
        assert!(
            held.iter().any(|h| h.split_whitespace().nth(2) == Some(*a)),
            "{a} answered but not in the set"
        );
    }
    // The rest of the policy is untouched: the allowed name still works, other
    // ports and hosts stay closed, Steward still answers.
    assert!(lab.curl_ok(1, "https://api.example.test/"));
    assert!(!lab.tcp_ok(1, "203.0.113.10", 80));
    assert!(!lab.curl_ok(1, "http://other.example.test/"));
    let o = lab.exec(&lab.dev(1), 5, &["dig", "+short", "api.example.test"]);
    assert_eq!(String::from_utf8_lossy(&o.stdout).trim(), "203.0.113.10");
}

#[test]
fn a_udhcpc_device_gets_its_mud_policy_with_no_operator_action() {
    common::require("busybox");
    let lab = Lab::up(1);
    write_mud(&lab);
    let dir = tempfile::tempdir().unwrap();
    // The maker signs its MUD file (RFC 8520 §13.2: thermo.p7s beside it) with a
    // certificate from its own CA; Steward trusts that CA for MUD signatures and
    // accepts no unsigned file here, so the policy below only comes from a
    // verified file.
    let pki = dir.path().join("maker");
    std::fs::create_dir_all(&pki).unwrap();
    common::maker_pki(&pki, "Acme");
    let signed = std::process::Command::new(common::BIN)
        .args(["mud", "sign", "--key"])
        .arg(pki.join("signer.key"))
        .arg("--cert")
        .arg(pki.join("signer.pem"))
        .arg(lab.www().join("thermo.json"))
        .output()
        .unwrap();
    assert!(signed.status.success(), "{}", common::text(&signed));
    assert!(lab.www().join("thermo.p7s").exists());
    let cfg = config(&lab).replace(
        "unsigned_makers = [\"mud.example.test\"]",
        &format!("signers = [\"{}\"]", pki.join("ca.pem").display()),
    );
    assert!(cfg.contains("signers = ["), "{cfg}");
    let s = LabSteward::start(&lab, &dir.path().join("data"), &cfg);

    // The device host gives up its static address and asks Steward's DHCP server.
    let dev = lab.dev(1);
    lab.exec(&dev, 5, &["ip", "addr", "flush", "dev", "eth0"]);
    let script = dir.path().join("udhcpc.sh");
    std::fs::write(
        &script,
        "#!/bin/sh\ncase \"$1\" in bound|renew)\n  ip addr flush dev \"$interface\"\n  ip addr add \"$ip/$subnet\" dev \"$interface\"\n  ip route replace default via \"$router\"\nesac\nexit 0\n",
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    let mud = format!("0xa1:\"{MUD_URL}\"");
    let o = lab.exec(
        &dev,
        30,
        &[
            "busybox",
            "udhcpc",
            "-i",
            "eth0",
            "-f",
            "-q",
            "-n",
            "-t",
            "5",
            "-T",
            "1",
            "-A",
            "1",
            "-s",
            script.to_str().unwrap(),
            "-x",
            "hostname:thermo-9",
            "-V",
            "acme-thermo/2",
            "-x",
            &mud,
        ],
    );
    let text = String::from_utf8_lossy(&o.stderr).to_string() + &String::from_utf8_lossy(&o.stdout);
    assert!(
        text.contains("lease of 10.77.0.2"),
        "no lease from Steward:\n{text}"
    );

    // No operator action: the lease registered the device, the MUD URL was
    // fetched and verified, the policy compiled and applied.
    Lab::wait_for("the udhcpc device reaches api.example.test:443", 90, || {
        lab.curl_ok(1, "https://api.example.test/")
    });
    assert!(!lab.curl_ok(1, "http://other.example.test/"));
    let (status, body) = s.api("GET", "/api/v1/leases", None);
    assert_eq!(status, 200, "{body}");
    let leases: serde_json::Value = serde_json::from_str(&body).unwrap();
    let lease = leases
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["hostname"] == "thermo-9")
        .unwrap_or_else(|| panic!("{leases}"));
    assert_eq!(lease["mud_url"], MUD_URL);
    let (_, body) = s.api(
        "GET",
        &format!("/api/v1/devices/{}", lease["device_id"].as_str().unwrap()),
        None,
    );
    let device: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(device["zone"], "restricted");
    assert_eq!(device["strength"], "declared");
}
