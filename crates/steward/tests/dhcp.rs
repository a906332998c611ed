//! Steward's DHCPv4 server with a real client (busybox udhcpc) in a network
//! namespace, joined by a veth to Steward's namespace. Needs root (CI has it).

mod common;

use common::lan::{Lan, NsGateway};
use std::time::Duration;

const MUD_URL: &str = "https://mud.example.test/sensor.json";

fn config(lan: &Lan) -> String {
    format!(
        r#"
[network]
lan_interface = "{}"
lan_prefixes = ["10.213.0.0/24"]

[dhcp]
enabled = true
server_address = "10.213.0.1"
subnet = "10.213.0.0/24"
pool_start = "10.213.0.100"
pool_end = "10.213.0.103"
lease_secs = 600
reservations = [{{ mac = "02:00:00:00:aa:02", ip = "10.213.0.50" }}]
"#,
        lan.gw_if
    )
}

/// Run udhcpc once in the device namespace (bounded: 4 tries, 1 s apart, then it
/// gives up); the address it obtained, if any.
fn udhcpc(lan: &Lan, extra: &[&str]) -> Option<String> {
    let dir = tempfile::tempdir().unwrap();
    // The event script: configure nothing, just succeed.
    let script = dir.path().join("script.sh");
    std::fs::write(&script, "#!/bin/sh\nexit 0\n").unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    let mut args = vec![
        "busybox",
        "udhcpc",
        "-i",
        &lan.dev_if,
        "-f",
        "-q",
        "-n",
        "-t",
        "4",
        "-T",
        "1",
        "-A",
        "1",
    ];
    let s = script.to_str().unwrap().to_string();
    args.extend(["-s", &s]);
    args.extend_from_slice(extra);
    let out = lan.dev_cmd(&args).output().expect("running udhcpc");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // "udhcpc: lease of 10.213.0.100 obtained from 10.213.0.1, lease time 600"
    text.split("lease of ")
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .map(str::to_string)
}

fn lease_for<'a>(leases: &'a serde_json::Value, mac: &str) -> &'a serde_json::Value {
    leases
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["mac"] == mac)
        .unwrap_or_else(|| panic!("no lease for {mac} in {leases}"))
}

#[test]
fn udhcpc_gets_a_lease_and_the_device_is_registered_with_its_mud_url() {
    common::require("busybox");
    common::require("curl");
    let lan = Lan::new("10.213.0.1/24");
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("gw");
    let mut gw = NsGateway::start(&lan.gw, &data, &config(&lan));

    lan.set_dev_mac("02:00:00:00:aa:01");
    let mud_opt = format!("0xa1:\"{MUD_URL}\"");
    let dev_args = [
        "-x",
        "hostname:sensor-7",
        "-V",
        "acme-sensor/1.0",
        "-x",
        &mud_opt,
    ];
    let ip = udhcpc(&lan, &dev_args).expect("udhcpc obtained a lease");
    assert_eq!(ip, "10.213.0.100");

    let leases = gw.get("/api/v1/leases");
    let l = lease_for(&leases, "02:00:00:00:aa:01");
    assert_eq!(l["ip"], "10.213.0.100");
    assert_eq!(l["hostname"], "sensor-7");
    assert_eq!(l["vendor_class"], "acme-sensor/1.0");
    assert_eq!(l["mud_url"], MUD_URL);
    assert_eq!(l["source"], "dhcp");
    let device = gw.get(&format!(
        "/api/v1/devices/{}",
        l["device_id"].as_str().unwrap()
    ));
    assert_eq!(device["name"], "sensor-7");
    assert_eq!(device["zone"], "restricted");
    assert_eq!(device["strength"], "declared");
    let kinds: Vec<&str> = device["identities"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["kind"].as_str().unwrap())
        .collect();
    assert!(kinds.contains(&"mac") && kinds.contains(&"ip"), "{device}");

    // Asking again (a new udhcpc run, which starts from DISCOVER) keeps the address.
    assert_eq!(udhcpc(&lan, &dev_args).as_deref(), Some("10.213.0.100"));
    // A reserved MAC gets its reservation.
    lan.set_dev_mac("02:00:00:00:aa:02");
    assert_eq!(udhcpc(&lan, &[]).as_deref(), Some("10.213.0.50"));
    // A third device, with a MUD URL that is not https: it still gets an address,
    // and the refusal is recorded.
    lan.set_dev_mac("02:00:00:00:aa:03");
    let bad = "0xa1:\"http://mud.example.test/insecure.json\"";
    assert_eq!(udhcpc(&lan, &["-x", bad]).as_deref(), Some("10.213.0.101"));
    let leases = gw.get("/api/v1/leases");
    let l3 = lease_for(&leases, "02:00:00:00:aa:03");
    assert!(l3["mud_url"].is_null());
    assert!(
        l3["mud_url_error"].as_str().unwrap().contains("https"),
        "{l3}"
    );

    // Restart: the leases come back from the store, so aa:03 (asked first now,
    // when .100 would be the first free address) keeps .101.
    gw.stop();
    let gw = NsGateway::start(&lan.gw, &data, &config(&lan));
    assert_eq!(udhcpc(&lan, &["-x", bad]).as_deref(), Some("10.213.0.101"));
    lan.set_dev_mac("02:00:00:00:aa:01");
    assert_eq!(udhcpc(&lan, &dev_args).as_deref(), Some("10.213.0.100"));
    let devices = gw.get("/api/v1/devices");
    assert_eq!(
        devices.as_array().unwrap().len(),
        3,
        "one device per MAC: {devices}"
    );
}

/// Hostile input: malformed packets and a flood of client ids from the device
/// namespace. The pool runs out (bounded), the existing lease is unaffected and
/// the server keeps serving.
#[test]
fn malformed_packets_and_floods_do_not_disturb_leases() {
    common::require("busybox");
    common::require("python3");
    let lan = Lan::new("10.214.0.1/24");
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(&lan).replace("10.213.", "10.214.");
    let gw = NsGateway::start(&lan.gw, &dir.path().join("gw"), &cfg);
    lan.set_dev_mac("02:00:00:00:aa:01");
    assert_eq!(udhcpc(&lan, &[]).as_deref(), Some("10.214.0.100"));

    let flood = r#"
import os, socket, struct
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
s.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, os.environ["IFACE"].encode())
s.bind(("0.0.0.0", 68))
def packet(mac, options):
    hdr = struct.pack("!BBBBIHHIIII", 1, 1, 6, 0, 0x4242, 0, 0x8000, 0, 0, 0, 0)
    return hdr + mac + b"\0" * 10 + b"\0" * 192 + bytes([99, 130, 83, 99]) + options + b"\xff"
bad = [
    b"", b"\x01" * 10, b"\x02" * 300,
    packet(b"\x02\0\0\0\xbb\x01", b"\x35\x01\x01\xa1\xc8https://x"),         # 161 length past the end
    packet(b"\x02\0\0\0\xbb\x02", b"\x35\x01\x01\xa1\x04\xff\xfe\x80\x81"),  # 161 not UTF-8
    packet(b"\x02\0\0\0\xbb\x03", b"\x35\x01\x01" + b"\xa1\xff" + b"a" * 255 * 1 + b"\xa1\xff" + b"a" * 255 * 1 + b"\xa1\xff" + b"a" * 255 * 1 + b"\xa1\xff" + b"a" * 255), # 161 absurdly long
    packet(b"\x02\0\0\0\xbb\x04", b"\x35\x05\x01"),                            # type option cut
]
for p in bad:
    s.sendto(p, ("255.255.255.255", 67))
for i in range(300):
    mac = bytes([2, 0, 0, 0xcc, i // 256, i % 256])
    s.sendto(packet(mac, b"\x35\x01\x01\x3d\x07\x01" + mac), ("255.255.255.255", 67))
print("sent")
"#;
    let out = lan
        .dev_cmd(&[
            "env",
            &format!("IFACE={}", lan.dev_if),
            "python3",
            "-c",
            flood,
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::thread::sleep(Duration::from_millis(500));
    // The bound device renews its address as before.
    assert_eq!(udhcpc(&lan, &[]).as_deref(), Some("10.214.0.100"));
    // The flood held the rest of the pool (offers): a new device gets nothing now.
    lan.set_dev_mac("02:00:00:00:aa:09");
    assert_eq!(
        udhcpc(&lan, &[]),
        None,
        "the pool is exhausted by the flood's offers"
    );
    // Nothing was registered for packets that never reached REQUEST.
    let devices = gw.get("/api/v1/devices");
    assert_eq!(devices.as_array().unwrap().len(), 1, "{devices}");
    let log = std::fs::read_to_string(dir.path().join("gw.log")).unwrap();
    assert!(log.contains("pool exhausted"), "exhaustion is logged");
    assert!(
        log.contains("truncated"),
        "the malformed option 161 is named in the log"
    );
}
