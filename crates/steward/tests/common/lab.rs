//! The network lab (tools/lab/lab.sh) for tests: network namespaces for a LAN of
//! device hosts, Steward's router and an "Internet" with DNS, HTTPS, HTTP, TCP/UDP
//! echo and iperf3. Each [`Lab`] has its own namespace prefix, so tests run in
//! parallel; `Drop` tears it down, also when the test fails.
//!
//! Needs root (CI runs as root): [`Lab::up`] fails with a clear message otherwise.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{Command, Output};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

static SEQ: AtomicU32 = AtomicU32::new(0);

pub fn lab_script() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tools/lab/lab.sh")
}

pub use super::lan::require_root;

pub struct Lab {
    pub prefix: String,
    pub env: BTreeMap<String, String>,
}

impl Lab {
    /// Builds a lab with `devices` device hosts (1..=40).
    pub fn up(devices: usize) -> Lab {
        require_root();
        for tool in [
            "ip", "nft", "dnsmasq", "python3", "openssl", "curl", "ping", "nc",
        ] {
            super::require(tool);
        }
        let n = SEQ.fetch_add(1, Ordering::SeqCst);
        let prefix = format!("s{:x}{n}", std::process::id() & 0xfffff);
        let out = Command::new("bash")
            .arg(lab_script())
            .args(["up", &prefix, &devices.to_string()])
            .output()
            .expect("running tools/lab/lab.sh");
        let mut lab = Lab {
            prefix: prefix.clone(),
            env: BTreeMap::new(),
        };
        assert!(
            out.status.success(),
            "lab.sh up {prefix} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        lab.env = String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        lab
    }

    pub fn get(&self, key: &str) -> &str {
        self.env
            .get(key)
            .unwrap_or_else(|| panic!("the lab has no {key}"))
    }
    pub fn router(&self) -> String {
        self.get("LAB_ROUTER").to_string()
    }
    pub fn internet(&self) -> String {
        self.get("LAB_INTERNET").to_string()
    }
    /// Namespace of device host `i` (1-based).
    pub fn dev(&self, i: usize) -> String {
        self.get(&format!("LAB_DEV{i}")).to_string()
    }
    pub fn dev_addr(&self, i: usize) -> String {
        self.get(&format!("LAB_DEV{i}_ADDR")).to_string()
    }
    pub fn dev_mac(&self, i: usize) -> String {
        self.get(&format!("LAB_DEV{i}_MAC")).to_string()
    }
    pub fn ca(&self) -> PathBuf {
        PathBuf::from(self.get("LAB_CA"))
    }
    pub fn www(&self) -> PathBuf {
        PathBuf::from(self.get("LAB_WWW"))
    }

    /// Runs `args` in namespace `ns`, killed after `secs`.
    pub fn exec(&self, ns: &str, secs: u64, args: &[&str]) -> Output {
        Command::new("timeout")
            .arg(secs.to_string())
            .args(["ip", "netns", "exec", ns])
            .args(args)
            .output()
            .expect("ip netns exec")
    }

    /// Whether device `i` gets an HTTP(S) answer from `url` (curl, 3 s).
    pub fn curl_ok(&self, i: usize, url: &str) -> bool {
        let ca = self.ca();
        let o = self.exec(
            &self.dev(i),
            6,
            &[
                "curl",
                "-sS",
                "-o",
                "/dev/null",
                "--max-time",
                "3",
                "--cacert",
                ca.to_str().unwrap(),
                url,
            ],
        );
        o.status.success()
    }

    /// Whether device `i` can open a TCP connection to `host:port` (nc -z, 2 s).
    pub fn tcp_ok(&self, i: usize, host: &str, port: u16) -> bool {
        let p = port.to_string();
        self.exec(&self.dev(i), 5, &["nc", "-z", "-w", "2", host, &p])
            .status
            .success()
    }

    /// Whether device `i` gets an answer to one ping of `host` (1 s).
    pub fn ping_ok(&self, i: usize, host: &str) -> bool {
        self.exec(&self.dev(i), 4, &["ping", "-c", "1", "-W", "1", host])
            .status
            .success()
    }

    /// Moves `name` to `addr` in the lab DNS.
    pub fn set_host(&self, name: &str, addr: &str) {
        let out = Command::new("bash")
            .arg(lab_script())
            .args(["set-host", &self.prefix, name, addr])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "lab.sh set-host: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Gives `name` more addresses in the lab DNS.
    pub fn add_hosts(&self, name: &str, addrs: &[String]) {
        let out = Command::new("bash")
            .arg(lab_script())
            .args(["add-hosts", &self.prefix, name])
            .args(addrs)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "lab.sh add-hosts: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Wait until `f` holds (polling), or fail with `what`.
    pub fn wait_for(what: &str, secs: u64, mut f: impl FnMut() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(secs);
        while !f() {
            assert!(Instant::now() < deadline, "timed out waiting for: {what}");
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        let _ = Command::new("bash")
            .arg(lab_script())
            .args(["down", &self.prefix])
            .output();
    }
}

/// `steward serve` inside the lab's router namespace, with `config` (TOML).
/// The API is on the router's loopback; [`LabSteward::api`] runs curl there.
pub struct LabSteward {
    child: Option<std::process::Child>,
    pub data: PathBuf,
    pub config: PathBuf,
    pub router: String,
    pub http: String,
    pub admin: String,
}

impl LabSteward {
    pub fn start(lab: &Lab, data: &std::path::Path, config: &str) -> LabSteward {
        let (child, http, admin) = super::lan::serve_in_netns(&lab.router(), data, config);
        let s = LabSteward {
            child: Some(child),
            data: data.to_path_buf(),
            config: data.with_extension("toml"),
            router: lab.router(),
            http: http.to_string(),
            admin,
        };
        s.wait_applied(1);
        s
    }

    /// How many times the log says a policy was applied.
    pub fn applied_count(&self) -> usize {
        self.log().matches("policy applied").count()
    }

    /// Waits until the log shows at least `n` applies.
    pub fn wait_applied(&self, n: usize) {
        Lab::wait_for("steward to apply the policy", 60, || {
            self.applied_count() >= n
        });
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.data.with_extension("log")).unwrap_or_default()
    }

    /// SIGKILL: no chance to clean up (the table must stay in the kernel).
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// The `steward` CLI on the same data directory and config.
    pub fn cli(&self, args: &[&str]) -> Output {
        Command::new(super::BIN)
            .args(args)
            .arg("--data")
            .arg(&self.data)
            .arg("--config")
            .arg(&self.config)
            .output()
            .unwrap()
    }

    /// The CLI; fails the test unless it succeeds. Returns stdout.
    pub fn cli_ok(&self, args: &[&str]) -> String {
        let o = self.cli(args);
        assert!(
            o.status.success(),
            "steward {args:?}: {}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8_lossy(&o.stdout).to_string()
    }

    /// curl the API inside the router namespace: (status, body).
    pub fn api(&self, method: &str, path: &str, body: Option<&str>) -> (u16, String) {
        let url = format!("http://{}{}", self.http, path);
        let auth = format!("Authorization: Bearer {}", self.admin);
        let mut args = vec![
            "timeout",
            "20",
            "ip",
            "netns",
            "exec",
            &self.router,
            "curl",
            "-sS",
            "-X",
            method,
            "-H",
            &auth,
            "-o",
            "-",
            "-w",
            "\n%{http_code}",
        ];
        if let Some(b) = body {
            args.extend(["-H", "Content-Type: application/json", "--data-binary", b]);
        }
        args.push(&url);
        let out = Command::new(args[0]).args(&args[1..]).output().unwrap();
        let text = String::from_utf8_lossy(&out.stdout).to_string();
        let (b, code) = text.rsplit_once('\n').unwrap_or(("", "0"));
        (code.trim().parse().unwrap_or(0), b.to_string())
    }

    /// `nft -j list table inet steward` in the router, or None when absent.
    pub fn table(&self) -> Option<String> {
        let o = Command::new("ip")
            .args([
                "netns",
                "exec",
                &self.router,
                "nft",
                "list",
                "table",
                "inet",
                "steward",
            ])
            .output()
            .unwrap();
        o.status
            .success()
            .then(|| String::from_utf8_lossy(&o.stdout).to_string())
    }
}

impl Drop for LabSteward {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// A MUD file (RFC 8520) for `url`: from-device ACEs given as JSON `matches`
/// objects (each accepted); the answers ride on conntrack.
pub fn mud_file(url: &str, aces: &[(&str, serde_json::Value)]) -> String {
    let ace: Vec<serde_json::Value> = aces
        .iter()
        .map(|(name, m)| {
            serde_json::json!({"name": name, "matches": m, "actions": {"forwarding": "accept"}})
        })
        .collect();
    serde_json::json!({
        "ietf-mud:mud": {
            "mud-version": 1, "mud-url": url, "last-update": "2026-01-01T00:00:00Z",
            "cache-validity": 48, "is-supported": true, "systeminfo": "lab device",
            "from-device-policy": {"access-lists": {"access-list": [{"name": "from"}]}}
        },
        "ietf-access-control-list:acls": {"acl": [
            {"name": "from", "type": "ipv4-acl-type", "aces": {"ace": ace}}
        ]}
    })
    .to_string()
}
