//! Another DHCP server runs the network: real dnsmasq hands out the lease and its
//! `--dhcp-script` (tools/dhcp/dnsmasq-lease-hook.sh) posts the event to Steward's
//! `POST /api/v1/leases`, with the same effect as Steward's own DHCP server. The
//! client is busybox udhcpc sending a hostname, a vendor class and option 161.
//! Needs root (network namespaces; CI has it).

mod common;

use common::lan::{Lan, NsGateway};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const MUD_URL: &str = "https://mud.example.test/thermo.json";

/// dnsmasq in a namespace, killed on drop.
struct Dnsmasq(std::process::Child);

impl Drop for Dnsmasq {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn dnsmasq_lease_events_register_the_device_through_the_api() {
    for tool in ["busybox", "dnsmasq", "jq", "curl"] {
        common::require(tool);
    }
    let lan = Lan::new("10.215.0.1/24");
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("gw");
    // Steward's own DHCP server stays off: dnsmasq is the network's.
    let gw = NsGateway::start(&lan.gw, &data, "");
    let hook = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tools/dhcp/dnsmasq-lease-hook.sh"
    );
    let hook = std::fs::canonicalize(hook).unwrap();
    let _dnsmasq = Dnsmasq(
        Command::new("ip")
            .args([
                "netns",
                "exec",
                &lan.gw,
                "dnsmasq",
                "--no-daemon",
                "--conf-file=/dev/null",
                "--port=0",
                "--user=root",
            ])
            .arg(format!("--interface={}", lan.gw_if))
            .args([
                "--bind-interfaces",
                "--dhcp-range=10.215.0.100,10.215.0.150,1h",
            ])
            .arg(format!("--dhcp-script={}", hook.display()))
            .arg(format!(
                "--dhcp-leasefile={}",
                dir.path().join("leases").display()
            ))
            .arg(format!(
                "--pid-file={}",
                dir.path().join("dnsmasq.pid").display()
            ))
            .env("STEWARD_URL", format!("http://{}", gw.http))
            .env("STEWARD_TOKEN_FILE", data.join("admin-token"))
            .stdout(Stdio::null())
            .stderr(Stdio::from(
                std::fs::File::create(dir.path().join("dnsmasq.log")).unwrap(),
            ))
            .spawn()
            .expect("starting dnsmasq"),
    );
    std::thread::sleep(Duration::from_millis(300));

    lan.set_dev_mac("02:00:00:00:dd:01");
    let script = dir.path().join("udhcpc.sh");
    std::fs::write(&script, "#!/bin/sh\nexit 0\n").unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    let mud = format!("0xa1:\"{MUD_URL}\"");
    let out = lan
        .dev_cmd(&[
            "busybox",
            "udhcpc",
            "-i",
            &lan.dev_if,
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
            "hostname:thermo-3",
            "-V",
            "acme-thermo/2",
            "-x",
            &mud,
        ])
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stderr).to_string() + &String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("lease of 10.215.0."),
        "udhcpc got no lease from dnsmasq:\n{text}"
    );

    // The hook runs after dnsmasq commits the lease: wait for it (bounded).
    let deadline = Instant::now() + Duration::from_secs(15);
    let lease = loop {
        let leases = gw.get("/api/v1/leases");
        if let Some(l) = leases
            .as_array()
            .and_then(|a| a.iter().find(|l| l["mac"] == "02:00:00:00:dd:01"))
        {
            break l.clone();
        }
        assert!(
            Instant::now() < deadline,
            "no lease event reached Steward; dnsmasq log:\n{}",
            std::fs::read_to_string(dir.path().join("dnsmasq.log")).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(lease["source"], "api");
    assert_eq!(lease["hostname"], "thermo-3");
    assert_eq!(lease["vendor_class"], "acme-thermo/2");
    assert_eq!(lease["mud_url"], MUD_URL);
    assert!(lease["ip"].as_str().unwrap().starts_with("10.215.0."));
    assert!(lease["expires"].as_f64().unwrap() > 0.0);
    let device = gw.get(&format!(
        "/api/v1/devices/{}",
        lease["device_id"].as_str().unwrap()
    ));
    assert_eq!(device["name"], "thermo-3");
    assert_eq!(device["zone"], "restricted");
    assert_eq!(device["strength"], "declared");
}

/// The API refuses what a lease event must not carry, and says which field.
#[test]
fn lease_api_refuses_bad_events_with_the_field_named() {
    common::require("curl");
    let dir = tempfile::tempdir().unwrap();
    let gw = common::Gateway::start(&dir.path().join("gw"), None);
    let post = |body: &str| {
        gw.curl(
            "POST",
            "/api/v1/leases",
            &[
                "-H",
                &format!("Authorization: Bearer {}", gw.admin),
                "-H",
                "Content-Type: application/json",
                "--data-binary",
                body,
            ],
        )
    };
    for (body, needle) in [
        (r#"{"action":"add","mac":"nope","ip":"10.0.0.5"}"#, "MAC"),
        (
            r#"{"action":"add","mac":"02:00:00:00:00:01","ip":"::1"}"#,
            "ip",
        ),
        (
            r#"{"action":"boot","mac":"02:00:00:00:00:01","ip":"10.0.0.5"}"#,
            "action",
        ),
        (
            r#"{"action":"add","mac":"02:00:00:00:00:01","ip":"10.0.0.5","hostname":"a\u0001b"}"#,
            "hostname",
        ),
    ] {
        let (status, text) = post(body);
        assert_eq!(status, 400, "{body}: {text}");
        assert!(text.contains(needle), "{body}: {text}");
    }
    // A bad MUD URL does not stop the lease: it is recorded as refused.
    let (status, text) =
        post(r#"{"action":"add","mac":"02:00:00:00:00:01","ip":"10.0.0.5","mud_url":"ftp://x/y"}"#);
    assert_eq!(status, 200, "{text}");
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert!(v["lease"]["mud_url"].is_null());
    assert!(
        v["lease"]["mud_url_error"]
            .as_str()
            .unwrap()
            .contains("https"),
        "{v}"
    );
    assert_eq!(v["device"]["zone"], "restricted");
    // Without the admin token: 401.
    let (status, _) = gw.curl(
        "POST",
        "/api/v1/leases",
        &[
            "-H",
            "Content-Type: application/json",
            "--data-binary",
            "{}",
        ],
    );
    assert_eq!(status, 401);
    // del forgets the lease.
    let (status, _) = post(r#"{"action":"del","mac":"02:00:00:00:00:01","ip":"10.0.0.5"}"#);
    assert_eq!(status, 200);
    let (_, list) = gw.curl(
        "GET",
        "/api/v1/leases",
        &["-H", &format!("Authorization: Bearer {}", gw.admin)],
    );
    assert_eq!(list.trim(), "[]");
}
