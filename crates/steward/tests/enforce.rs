//! Enforcement in the lab (tools/lab): the real `steward` binary in the router
//! namespace with `[enforce] mode = "nftables"`, real `nft`, and real clients
//! (curl, nc, ping, python3 sockets) in the device namespaces. Needs root.
//!
//! - containment of an unknown device, lateral traffic, `same-manufacturer`,
//!   explain (CLI and API), a MUD file that allows one host by address;
//! - a consent change: plan shows the diff, apply makes it hold, an allowed
//!   established flow survives, a forbidden one is cut;
//! - kill -9 and restart: the table never leaves the kernel, nothing gets through;
//! - hostile MUD input: odd names, hundreds of rules, a redirect loop.

mod common;

use common::lab::{Lab, LabSteward, mud_file};
use serde_json::json;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn config(lab: &Lab, policy_extra: &str) -> String {
    format!(
        r#"
[network]
lan_interface = "br-lan"
uplink_interface = "up0"
lan_prefixes = ["10.77.0.0/24"]

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
{policy_extra}

[policy.site]
local_networks = ["10.77.0.0/24"]
gateway = ["10.77.0.1"]
"#,
        ca = lab.ca().display()
    )
}

/// Registers device `name` of `model` in `zone` at lab host `i` (static address + MAC).
fn add_device(
    s: &LabSteward,
    lab: &Lab,
    i: usize,
    name: &str,
    model: &str,
    zone: &str,
    tags: &[&str],
) {
    let out = s.data.with_file_name(format!("certs-{name}"));
    let mut args = vec![
        "device",
        "add",
        name,
        "--model",
        model,
        "--zone",
        zone,
        "--out",
        out.to_str().unwrap(),
    ];
    for t in tags {
        args.extend(["--tag", t]);
    }
    s.cli_ok(&args);
    s.cli_ok(&["policy", "address", name, &lab.dev_addr(i), &lab.dev_mac(i)]);
}

/// A TCP server on port 8080 in device host `i` (python http.server).
fn serve_8080(lab: &Lab, i: usize) -> ChildGuard {
    let addr = lab.dev_addr(i);
    let c = Command::new("ip")
        .args([
            "netns",
            "exec",
            &lab.dev(i),
            "python3",
            "-m",
            "http.server",
            "8080",
            "--bind",
            &addr,
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let g = ChildGuard(c);
    Lab::wait_for("http.server on 8080", 10, || {
        let o = lab.exec(&lab.dev(i), 3, &["ss", "-ltn"]);
        String::from_utf8_lossy(&o.stdout).contains(":8080")
    });
    g
}

struct ChildGuard(Child);
impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn containment_lateral_same_manufacturer_and_explain() {
    let lab = Lab::up(4);
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        lab.www().join("cam.json"),
        mud_file(
            "https://mud.example.test/cam.json",
            &[
                (
                    "web",
                    json!({"ipv4": {"destination-ipv4-network": "203.0.113.20/32", "protocol": 6},
                           "tcp": {"destination-port": {"operator": "eq", "port": 80}}}),
                ),
                (
                    "peers",
                    json!({"ietf-mud:mud": {"same-manufacturer": [null]},
                           "ipv4": {"protocol": 6},
                           "tcp": {"destination-port": {"operator": "eq", "port": 8080}}}),
                ),
            ],
        ),
    )
    .unwrap();
    let consent = r#"
[[policy.consent]]
name = "cameras"
match = { model = "cam" }
grant = ["lateral:same-manufacturer"]
"#;
    let s = LabSteward::start(&lab, &dir.path().join("data"), &config(&lab, consent));
    s.cli_ok(&[
        "model",
        "add",
        "cam",
        "--manufacturer",
        "cams",
        "--mud-url",
        "https://mud.example.test/cam.json",
    ]);
    s.cli_ok(&["model", "add", "plug", "--manufacturer", "plugs"]);
    add_device(&s, &lab, 1, "cam1", "cam", "trusted", &[]);
    add_device(&s, &lab, 2, "cam2", "cam", "trusted", &[]);
    add_device(&s, &lab, 3, "plug", "plug", "restricted", &[]);
    // Host 4 is on the LAN but unknown to Steward.
    let _cam2_srv = serve_8080(&lab, 2);
    let _plug_srv = serve_8080(&lab, 3);

    // The MUD file is fetched, verified and applied with no operator action.
    Lab::wait_for("cam1 to reach its MUD host", 30, || {
        lab.curl_ok(1, "http://203.0.113.20/")
    });
    assert!(
        lab.curl_ok(2, "http://203.0.113.20/"),
        "cam2 by its MUD file"
    );
    assert!(
        !lab.curl_ok(1, "https://203.0.113.10/"),
        "cam1: not in its MUD file"
    );
    assert!(
        !lab.tcp_ok(1, "203.0.113.20", 7),
        "cam1: port 7 is not in its MUD file"
    );

    // same-manufacturer: cam1 → cam2:8080, but not to the plug.
    assert!(
        lab.tcp_ok(1, &lab.dev_addr(2), 8080),
        "same-manufacturer peer"
    );
    assert!(
        !lab.tcp_ok(1, &lab.dev_addr(3), 8080),
        "cam → plug is lateral"
    );

    // The plug is restricted: HTTPS to the Internet only, nothing lateral.
    assert!(
        lab.curl_ok(3, "https://203.0.113.10/"),
        "restricted: HTTPS out"
    );
    assert!(
        !lab.curl_ok(3, "http://203.0.113.20/"),
        "restricted: no HTTP"
    );
    assert!(!lab.tcp_ok(3, "203.0.113.20", 7), "restricted: no echo");
    assert!(!lab.ping_ok(3, "203.0.113.20"), "restricted: no ping");
    assert!(
        !lab.tcp_ok(3, &lab.dev_addr(2), 8080),
        "restricted: no lateral"
    );
    assert!(
        !lab.ping_ok(3, &lab.dev_addr(1)),
        "restricted: no lateral ping"
    );

    // The plug's HTTPS is rate limited (1 Mbit/s): an upload far above it meets
    // the limit, packet after packet, and the over-rate rule drops some (its
    // counter says so). No flow bypasses the limiter once accepted.
    let big = dir.path().join("big.bin");
    std::fs::write(&big, vec![0x5au8; 3 << 20]).unwrap();
    let up = lab.exec(
        &lab.dev(3),
        15,
        &[
            "curl",
            "-sSk",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code} %{size_upload}",
            "--max-time",
            "8",
            "--data-binary",
            &format!("@{}", big.display()),
            "https://203.0.113.10/",
        ],
    );
    let table = s.table().expect("table in place");
    let over = table
        .lines()
        .find(|l| l.contains("(over rate)"))
        .unwrap_or_else(|| panic!("no over-rate rule: {table}"));
    let r3: Vec<&str> = table.lines().filter(|l| l.contains("r3 zone")).collect();
    assert!(
        !over.contains("packets 0 "),
        "the limit never bit: {r3:#?} {} {}",
        String::from_utf8_lossy(&up.stdout),
        String::from_utf8_lossy(&up.stderr)
    );

    // The unknown host gets nothing but DHCP/DNS to Steward.
    assert!(
        !lab.curl_ok(4, "https://203.0.113.10/"),
        "unknown host is contained"
    );
    assert!(
        !lab.tcp_ok(4, &lab.dev_addr(2), 8080),
        "unknown host: no lateral"
    );
    // Nothing from the Internet reaches a device.
    assert!(
        !lab.exec(
            &lab.internet(),
            5,
            &["nc", "-z", "-w", "2", &lab.dev_addr(2), "8080"]
        )
        .status
        .success(),
        "inbound from the Internet"
    );

    // explain: the rule and its provenance for an allowed and a denied destination.
    let allowed = s.cli_ok(&["explain", "cam1", "--to", "203.0.113.20:80/tcp"]);
    assert!(allowed.contains("Allow"), "{allowed}");
    assert!(
        allowed.contains("cam.json") && allowed.contains("web"),
        "{allowed}"
    );
    let denied = s.cli_ok(&["explain", "cam1", "--to", "203.0.113.10:443/tcp"]);
    assert!(denied.contains("Deny"), "{denied}");
    let plug = s.cli_ok(&["explain", "plug", "--to", "203.0.113.10:443/tcp"]);
    assert!(
        plug.contains("Allow") && plug.contains("restricted"),
        "{plug}"
    );
    let words = s.cli_ok(&["explain", "cam2"]);
    assert!(words.contains("zone trusted"), "{words}");

    // The same through the API.
    let (code, body) = s.api(
        "GET",
        "/api/v1/devices/cam1/policy?to=203.0.113.20:80/tcp",
        None,
    );
    assert_eq!(code, 200, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["zone"], "trusted");
    assert_eq!(v["explanation"]["verdict"], "allow");
    let (code, body) = s.api("GET", "/api/v1/devices/cam1/policy?to=not%20a%20host", None);
    assert_eq!(code, 400, "{body}");

    // Counters per device and rule: cam1's MUD rule counted its packets.
    let table = s.table().expect("table in place");
    let line = table
        .lines()
        .find(|l| l.contains("mud from/web"))
        .unwrap_or_else(|| panic!("no rule for the MUD ACE: {table}"));
    assert!(!line.contains("packets 0 "), "{line}");
}

/// A python client in device host `i` that keeps one TCP connection to the lab's
/// echo service and writes how many round trips it made (or ERR) to `file`.
fn echo_client(lab: &Lab, i: usize, file: &std::path::Path) -> ChildGuard {
    let script = format!(
        r#"
import socket, time
out = {file:?}
n = 0
try:
    s = socket.create_connection(("203.0.113.20", 7), timeout=3)
    s.settimeout(1.5)
    end = time.time() + 90
    while time.time() < end:
        s.sendall(b"ping\n")
        data = s.recv(100)
        if not data:
            raise Exception("closed")
        n += 1
        open(out, "w").write(str(n))
        time.sleep(0.1)
except Exception as e:
    open(out, "w").write("ERR %d %s" % (n, e))
"#,
        file = file.to_str().unwrap()
    );
    let c = Command::new("ip")
        .args(["netns", "exec", &lab.dev(i), "python3", "-c", &script])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    ChildGuard(c)
}

fn round_trips(file: &std::path::Path) -> String {
    std::fs::read_to_string(file).unwrap_or_default()
}

#[test]
fn plan_apply_keeps_allowed_flows_and_cuts_forbidden_ones() {
    let lab = Lab::up(1);
    let dir = tempfile::tempdir().unwrap();
    let rule = |grants: &str| {
        format!(
            "[[policy.consent]]\nname = \"echo\"\nmatch = {{ tags = [\"echo\"] }}\ngrant = [{grants}]\n"
        )
    };
    let v1 = config(&lab, &rule("\"internet:7/tcp\""));
    let s = LabSteward::start(&lab, &dir.path().join("data"), &v1);
    add_device(&s, &lab, 1, "sensor", "plug", "restricted", &["echo"]);
    Lab::wait_for("the echo grant to hold", 20, || {
        lab.tcp_ok(1, "203.0.113.20", 7)
    });
    assert!(!lab.curl_ok(1, "http://203.0.113.20/"), "no HTTP yet");

    let count = dir.path().join("count");
    let _client = echo_client(&lab, 1, &count);
    Lab::wait_for("the echo flow to run", 20, || {
        round_trips(&count).parse::<u32>().unwrap_or(0) > 5
    });

    // v2 adds HTTP: the plan says so, apply makes it hold, the echo flow lives on.
    let v2_path = dir.path().join("v2.toml");
    std::fs::write(
        &v2_path,
        config(&lab, &rule("\"internet:7/tcp\", \"internet:80/tcp\"")),
    )
    .unwrap();
    let v2 = v2_path.to_str().unwrap();
    let plan = s.cli_ok(&["policy", "plan", "--file", v2]);
    assert!(plan.contains("sensor"), "{plan}");
    assert!(plan.contains("+ capability internet:80/tcp"), "{plan}");
    assert!(!plan.contains("- "), "nothing is lost: {plan}");
    assert!(
        !lab.curl_ok(1, "http://203.0.113.20/"),
        "plan changes nothing"
    );
    let applied = s.applied_count();
    s.cli_ok(&[
        "policy",
        "apply",
        "--file",
        v2,
        "--reason",
        "the sensor needs HTTP",
    ]);
    s.wait_applied(applied + 1);
    Lab::wait_for("HTTP after apply", 20, || {
        lab.curl_ok(1, "http://203.0.113.20/")
    });
    let before = round_trips(&count);
    std::thread::sleep(Duration::from_millis(1500));
    let after = round_trips(&count);
    assert!(
        !after.starts_with("ERR"),
        "the allowed flow was cut: {after}"
    );
    assert!(
        after.parse::<u32>().unwrap() > before.parse::<u32>().unwrap(),
        "the allowed flow stalled: {before} → {after}"
    );

    // v3 drops the echo grant: the plan shows the loss; after apply the
    // established flow is cut (our choice) and no new one opens.
    let v3_path = dir.path().join("v3.toml");
    std::fs::write(&v3_path, config(&lab, &rule("\"internet:80/tcp\""))).unwrap();
    let v3 = v3_path.to_str().unwrap();
    let plan = s.cli_ok(&["policy", "plan", "--file", v3]);
    assert!(plan.contains("- capability internet:7/tcp"), "{plan}");
    let applied = s.applied_count();
    s.cli_ok(&[
        "policy",
        "apply",
        "--file",
        v3,
        "--reason",
        "echo no longer needed",
    ]);
    s.wait_applied(applied + 1);
    Lab::wait_for("echo to be refused", 20, || {
        !lab.tcp_ok(1, "203.0.113.20", 7)
    });
    Lab::wait_for("the forbidden flow to stop", 10, || {
        let a = round_trips(&count);
        std::thread::sleep(Duration::from_millis(1000));
        a.starts_with("ERR") || a == round_trips(&count)
    });
    assert!(lab.curl_ok(1, "http://203.0.113.20/"), "HTTP still allowed");

    // The audit log: both applies, why, and by whom.
    let audit = s.cli_ok(&["policy", "audit"]);
    assert!(
        audit.contains("the sensor needs HTTP") && audit.contains("echo no longer needed"),
        "{audit}"
    );
    assert!(audit.contains("by cli:"), "{audit}");
    assert!(audit.contains("initial"), "{audit}");

    // Apply through the API, audited with the admin token.
    let (code, cfg) = s.api("GET", "/api/v1/policy", None);
    assert_eq!(code, 200, "{cfg}");
    let body = json!({"config": serde_json::from_str::<serde_json::Value>(&cfg).unwrap(), "reason": "same again"});
    let (code, out) = s.api("PUT", "/api/v1/policy", Some(&body.to_string()));
    assert_eq!(code, 200, "{out}");
    let (code, log) = s.api("GET", "/api/v1/policy/audit?limit=1", None);
    assert_eq!(code, 200);
    assert!(
        log.contains("admin-token:") && log.contains("same again"),
        "{log}"
    );
    let bad =
        json!({"config": {"consent": [{"name": "x", "grant": ["internets"]}]}, "reason": "typo"});
    let (code, out) = s.api("PUT", "/api/v1/policy", Some(&bad.to_string()));
    assert_eq!(code, 422, "a bad capability is refused: {out}");
}

#[test]
fn kill9_and_restart_never_open_the_lan() {
    let lab = Lab::up(2);
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let cfg = config(&lab, "");
    let mut s = LabSteward::start(&lab, &data, &cfg);
    add_device(&s, &lab, 1, "plug", "plug", "restricted", &[]);
    Lab::wait_for("the plug's policy", 20, || {
        lab.curl_ok(1, "https://203.0.113.10/")
    });
    assert!(!lab.curl_ok(1, "http://203.0.113.20/"));

    s.kill9();
    // The table outlives the process: still contained, still allowed.
    assert!(s.table().is_some(), "the table left with Steward");
    assert!(
        !lab.curl_ok(1, "http://203.0.113.20/"),
        "contained after kill -9"
    );
    assert!(
        !lab.curl_ok(2, "https://203.0.113.10/"),
        "unknown host after kill -9"
    );
    assert!(
        lab.curl_ok(1, "https://203.0.113.10/"),
        "allowed flows keep working"
    );

    // While Steward starts again, a watcher checks the table never disappears and
    // a prober checks the forbidden port never answers.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let router = lab.router();
    let st = stop.clone();
    let watcher = std::thread::spawn(move || {
        let mut missing = 0;
        while !st.load(std::sync::atomic::Ordering::SeqCst) {
            let ok = Command::new("ip")
                .args([
                    "netns", "exec", &router, "nft", "list", "table", "inet", "steward",
                ])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .map(|s| s.success())
                .unwrap_or(false);
            if !ok {
                missing += 1;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        missing
    });
    let dev = lab.dev(1);
    let st = stop.clone();
    let prober = std::thread::spawn(move || {
        let mut leaked = 0;
        while !st.load(std::sync::atomic::Ordering::SeqCst) {
            let ok = Command::new("timeout")
                .args([
                    "3",
                    "ip",
                    "netns",
                    "exec",
                    &dev,
                    "nc",
                    "-z",
                    "-w",
                    "1",
                    "203.0.113.20",
                    "80",
                ])
                .status()
                .map(|s| s.success())
                .unwrap_or(false);
            if ok {
                leaked += 1;
            }
        }
        leaked
    });
    let started = Instant::now();
    let s2 = LabSteward::start(&lab, &data, &cfg);
    Lab::wait_for("the plug's policy after restart", 20, || {
        lab.curl_ok(1, "https://203.0.113.10/")
    });
    std::thread::sleep(Duration::from_millis(500));
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    let missing = watcher.join().unwrap();
    let leaked = prober.join().unwrap();
    assert_eq!(missing, 0, "the table was missing during the restart");
    assert_eq!(leaked, 0, "the forbidden port answered during the restart");
    assert!(started.elapsed() < Duration::from_secs(60));
    // At start-up the base table went in before the policy.
    let log = s2.log();
    let base = log
        .rfind("base table installed")
        .expect("base table logged");
    let applied = log.rfind("policy applied").expect("policy applied logged");
    assert!(base < applied, "base table after the policy?");
    assert!(!lab.curl_ok(1, "http://203.0.113.20/"));
    assert!(!lab.curl_ok(2, "https://203.0.113.10/"));
}

#[test]
fn hostile_mud_files_give_clear_errors_and_correct_rules() {
    let lab = Lab::up(3);
    let dir = tempfile::tempdir().unwrap();
    // Hundreds of rules with odd (but legal JSON) names; one of them allows port 80.
    let mut aces = vec![];
    for n in 0..300u16 {
        aces.push((
            format!("ace-{n}-\"; flush ruleset; # \u{202e}ü"),
            json!({"ipv4": {"destination-ipv4-network": "203.0.113.20/32", "protocol": 6},
                   "tcp": {"destination-port": {"operator": "eq", "port": 10_000 + n}}}),
        ));
    }
    aces.push((
        "web".to_string(),
        json!({"ipv4": {"destination-ipv4-network": "203.0.113.20/32", "protocol": 6},
               "tcp": {"destination-port": {"operator": "eq", "port": 80}}}),
    ));
    let refs: Vec<(&str, serde_json::Value)> =
        aces.iter().map(|(n, m)| (n.as_str(), m.clone())).collect();
    std::fs::write(
        lab.www().join("many.json"),
        mud_file("https://mud.example.test/many.json", &refs),
    )
    .unwrap();
    // A MUD file whose mud-url names another place than where it was fetched.
    std::fs::write(
        lab.www().join("liar.json"),
        mud_file(
            "https://evil.example.test/liar.json",
            &[(
                "all",
                json!({"ipv4": {"destination-ipv4-network": "0.0.0.0/0"}}),
            )],
        ),
    )
    .unwrap();
    let s = LabSteward::start(&lab, &dir.path().join("data"), &config(&lab, ""));
    s.cli_ok(&[
        "model",
        "add",
        "many",
        "--manufacturer",
        "m",
        "--mud-url",
        "https://mud.example.test/many.json",
    ]);
    s.cli_ok(&[
        "model",
        "add",
        "loop",
        "--manufacturer",
        "l",
        "--mud-url",
        "https://mud.example.test/redirect-loop",
    ]);
    s.cli_ok(&[
        "model",
        "add",
        "liar",
        "--manufacturer",
        "x",
        "--mud-url",
        "https://mud.example.test/liar.json",
    ]);
    add_device(&s, &lab, 1, "many", "many", "trusted", &[]);
    add_device(&s, &lab, 2, "loop", "loop", "trusted", &[]);
    add_device(&s, &lab, 3, "liar", "liar", "trusted", &[]);

    Lab::wait_for("the big MUD file to apply", 40, || {
        lab.curl_ok(1, "http://203.0.113.20/")
    });
    assert!(
        !lab.curl_ok(1, "https://203.0.113.10/"),
        "only what the file allows"
    );
    assert!(!lab.tcp_ok(1, "203.0.113.20", 7));

    // The redirect loop and the lying file: clear errors, no MUD rules.
    Lab::wait_for("the redirect loop to be reported", 30, || {
        s.cli_ok(&["explain", "loop"]).contains("redirect")
    });
    let liar = s.cli_ok(&["explain", "liar"]);
    Lab::wait_for("the mud-url mismatch to be reported", 30, || {
        s.cli_ok(&["explain", "liar"])
            .contains("MUD file https://mud.example.test/liar.json:")
    });
    assert!(
        !lab.curl_ok(2, "http://203.0.113.20/"),
        "loop: no MUD rules: {liar}"
    );
    assert!(
        !lab.curl_ok(3, "http://203.0.113.20/"),
        "liar: no MUD rules"
    );
    assert!(
        !lab.curl_ok(3, "https://203.0.113.10/"),
        "liar: no MUD rules"
    );

    // The odd names reached nft only as printable ASCII comments.
    let table = s.table().unwrap();
    assert!(
        table.contains("ace-299-"),
        "all rules are in: {}",
        table.len()
    );
    assert!(!table.contains('\u{202e}'));
    assert!(s.log().contains("redirect"), "the log names the failure");
}

#[test]
fn mud_dns_names_are_enforced_through_stewards_dns() {
    let lab = Lab::up(1);
    let dir = tempfile::tempdir().unwrap();
    lab.set_host("moving.example.test", "203.0.113.10");
    let name_ace = |host: &str| {
        json!({"ipv4": {"ietf-acldns:dst-dnsname": host, "protocol": 6},
               "tcp": {"destination-port": {"operator": "eq", "port": 443}}})
    };
    std::fs::write(
        lab.www().join("cloud.json"),
        mud_file(
            "https://mud.example.test/cloud.json",
            &[
                ("api", name_ace("api.example.test")),
                ("moving", name_ace("moving.example.test")),
            ],
        ),
    )
    .unwrap();
    let dns =
        "\n[dns]\nenabled = true\nlisten = \"10.77.0.1:53\"\nupstreams = [\"203.0.113.53:53\"]\n";
    let cfg = format!("{}{dns}", config(&lab, ""));
    let s = LabSteward::start(&lab, &dir.path().join("data"), &cfg);
    s.cli_ok(&[
        "model",
        "add",
        "cloud",
        "--manufacturer",
        "c",
        "--mud-url",
        "https://mud.example.test/cloud.json",
    ]);
    add_device(&s, &lab, 1, "thing", "cloud", "trusted", &[]);
    let ca = lab.ca();
    let curl = |url: &str, extra: &[&str]| {
        let mut args = vec![
            "curl",
            "-sS",
            "-o",
            "/dev/null",
            "--max-time",
            "3",
            "--cacert",
            ca.to_str().unwrap(),
        ];
        args.extend(extra);
        args.push(url);
        lab.exec(&lab.dev(1), 6, &args).status.success()
    };
    // By name, through Steward's DNS: the answer opens the way.
    Lab::wait_for("api.example.test by name", 30, || {
        curl("https://api.example.test/", &[])
    });
    // The same address without asking Steward's DNS for an allowed name: closed.
    assert!(
        !curl("https://203.0.113.20/", &["-k"]),
        "an address never resolved"
    );
    assert!(
        !curl("http://other.example.test/", &[]),
        "a name the MUD file does not allow"
    );
    // A name whose address changes keeps working after the change.
    assert!(curl("https://moving.example.test/", &[]));
    assert!(
        !curl(
            "https://moving.example.test/",
            &["--resolve", "moving.example.test:443:203.0.113.31"]
        ),
        "the new address is closed before Steward's DNS gives it"
    );
    lab.set_host("moving.example.test", "203.0.113.31");
    Lab::wait_for("the moved name to work", 30, || {
        curl("https://moving.example.test/", &[])
    });
    let table = s.table().unwrap();
    assert!(
        table.contains("203.0.113.31"),
        "the new address is in the device's set"
    );

    // DNS is a capability: in quarantine the device gets no answers; back in
    // its zone it does again.
    let resolves = || {
        let out = lab.exec(
            &lab.dev(1),
            5,
            &[
                "dig",
                "+time=1",
                "+tries=1",
                "@10.77.0.1",
                "api.example.test",
                "A",
            ],
        );
        String::from_utf8_lossy(&out.stdout).contains("status: NOERROR")
    };
    assert!(resolves());
    s.cli_ok(&["device", "update", "thing", "--zone", "quarantine"]);
    Lab::wait_for("a quarantined device to get no DNS answers", 30, || {
        !resolves()
    });
    s.cli_ok(&["device", "update", "thing", "--zone", "trusted"]);
    Lab::wait_for("DNS answers again in zone trusted", 30, resolves);
}
