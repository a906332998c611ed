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

/// Fails (never skips) when not root: the lab needs network namespaces.
pub fn require_root() {
    let out = Command::new("id").arg("-u").output().expect("running id");
    let uid = String::from_utf8_lossy(&out.stdout).trim().to_string();
    assert_eq!(
        uid, "0",
        "this test builds network namespaces and nftables rules: run it as root (CI does)"
    );
}

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
