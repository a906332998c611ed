//! The real binary's DNS forwarder, in Steward's namespace: a device in its own
//! namespace asks with `dig` through the veth; the upstream is a small DNS server
//! (tests/py/dns_upstream.py) in Steward's namespace. Needs root (CI has it).

mod common;

use common::lan::{Lan, NsGateway};
use std::io::BufRead;
use std::process::{Command, Stdio};

struct Upstream(std::process::Child);

impl Drop for Upstream {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn devices_resolve_through_steward_and_others_are_refused() {
    common::require("dig");
    common::require("python3");
    let lan = Lan::new("10.216.0.1/24");
    lan.dev_run(&["ip", "addr", "add", "10.216.0.5/24", "dev", &lan.dev_if]);
    let dir = tempfile::tempdir().unwrap();
    let zone = dir.path().join("zone.json");
    std::fs::write(
        &zone,
        r#"{"api.example.test": {"ttl": 120, "a": ["192.0.2.10"]}}"#,
    )
    .unwrap();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/py/dns_upstream.py");
    let mut child = Command::new("ip")
        .args(["netns", "exec", &lan.gw, "python3", script])
        .arg(&zone)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let _up = Upstream(child);
    let port = line
        .trim()
        .strip_prefix("port ")
        .expect("upstream port")
        .to_string();

    let config = format!(
        r#"
[network]
lan_interface = "{}"
lan_prefixes = ["10.216.0.0/24"]

[dns]
enabled = true
listen = "0.0.0.0:53"
upstreams = ["127.0.0.1:{port}"]
"#,
        lan.gw_if
    );
    let gw = NsGateway::start(&lan.gw, &dir.path().join("gw"), &config);
    let dig = |ns: &str, server: &str, from: &[&str]| {
        let out = Command::new("ip")
            .args([
                "netns",
                "exec",
                ns,
                "dig",
                &format!("@{server}"),
                "+time=2",
                "+tries=2",
            ])
            .args(from)
            .args(["api.example.test", "A"])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    // The gateway reports ready before its DNS sockets may be answering in the
    // namespace: ask again (bounded) until an answer comes.
    let mut out = dig(&lan.dev, "10.216.0.1", &[]);
    for _ in 0..20 {
        if out.contains("status:") {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(500));
        out = dig(&lan.dev, "10.216.0.1", &[]);
    }
    assert!(out.contains("status: NOERROR"), "{out}");
    assert!(out.contains("192.0.2.10"), "{out}");
    // Inside Steward's namespace, over loopback: the socket is bound to the LAN
    // interface, so nothing answers there (no resolver outside the LAN).
    let out = dig(&lan.gw, "127.0.0.1", &[]);
    assert!(
        !out.contains("status: NOERROR"),
        "answered off the LAN:\n{out}"
    );
    // A source outside [network] lan_prefixes, on the LAN interface: REFUSED.
    lan.dev_run(&["ip", "addr", "add", "10.99.0.5/32", "dev", &lan.dev_if]);
    lan.gw_run(&["ip", "route", "add", "10.99.0.5/32", "dev", &lan.gw_if]);
    let out = dig(&lan.dev, "10.216.0.1", &["-b", "10.99.0.5"]);
    assert!(out.contains("status: REFUSED"), "{out}");
    // The per-address statistics, over the API.
    let stats = gw.get("/api/v1/dns/stats");
    let dev = stats
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["address"] == "10.216.0.5")
        .unwrap_or_else(|| panic!("{stats:#}"));
    assert!(dev["queries"].as_u64().unwrap() >= 1, "{dev:#}");
    assert!(dev["answered"].as_u64().unwrap() >= 1, "{dev:#}");
    assert!(dev["addresses"].as_u64().unwrap() >= 1, "{dev:#}");
}
