//! Network namespaces for the LAN-service tests: a gateway namespace and a device
//! namespace joined by a veth pair, removed on drop (also when a test fails), and
//! `steward serve` started inside the gateway namespace.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// Fail (never skip) when not root: CI runs as root.
pub fn require_root() {
    let out = Command::new("id").arg("-u").output().expect("running id");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "0",
        "this test builds network namespaces and nftables rules: run it as root (CI does)"
    );
}

fn run(args: &[&str]) -> Output {
    let out = Command::new(args[0])
        .args(&args[1..])
        .output()
        .unwrap_or_else(|e| panic!("{args:?}: {e}"));
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

static NEXT: AtomicU32 = AtomicU32::new(0);

/// Two namespaces, `gw` and `dev`, with `gw_if` (the gateway's LAN interface,
/// carrying `gw_addr`) and `dev_if` (the device's) as the two ends of a veth.
pub struct Lan {
    pub gw: String,
    pub dev: String,
    pub gw_if: String,
    pub dev_if: String,
}

impl Lan {
    /// `gw_cidr` such as "10.213.0.1/24".
    pub fn new(gw_cidr: &str) -> Lan {
        require_root();
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let id = format!("{}{n}", std::process::id() % 100_000);
        let lan = Lan {
            gw: format!("stw-gw-{id}"),
            dev: format!("stw-dv-{id}"),
            gw_if: format!("vg{id}"),
            dev_if: format!("vd{id}"),
        };
        run(&["ip", "netns", "add", &lan.gw]);
        run(&["ip", "netns", "add", &lan.dev]);
        run(&[
            "ip",
            "link",
            "add",
            &lan.gw_if,
            "type",
            "veth",
            "peer",
            "name",
            &lan.dev_if,
        ]);
        run(&["ip", "link", "set", &lan.gw_if, "netns", &lan.gw]);
        run(&["ip", "link", "set", &lan.dev_if, "netns", &lan.dev]);
        lan.gw_run(&["ip", "link", "set", "lo", "up"]);
        lan.gw_run(&["ip", "addr", "add", gw_cidr, "dev", &lan.gw_if]);
        lan.gw_run(&["ip", "link", "set", &lan.gw_if, "up"]);
        lan.dev_run(&["ip", "link", "set", "lo", "up"]);
        lan.dev_run(&["ip", "link", "set", &lan.dev_if, "up"]);
        lan
    }

    pub fn gw_run(&self, args: &[&str]) -> Output {
        let mut a = vec!["ip", "netns", "exec", &self.gw];
        a.extend_from_slice(args);
        run(&a)
    }

    pub fn dev_run(&self, args: &[&str]) -> Output {
        let mut a = vec!["ip", "netns", "exec", &self.dev];
        a.extend_from_slice(args);
        run(&a)
    }

    /// A command in the device namespace (not checked: the caller reads the output).
    pub fn dev_cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.dev]).args(args);
        c
    }

    pub fn set_dev_mac(&self, mac: &str) {
        self.dev_run(&["ip", "link", "set", &self.dev_if, "down"]);
        self.dev_run(&["ip", "link", "set", &self.dev_if, "address", mac]);
        self.dev_run(&["ip", "link", "set", &self.dev_if, "up"]);
    }
}

impl Drop for Lan {
    fn drop(&mut self) {
        // Deleting a namespace deletes the veth end inside it, and so the pair.
        for ns in [&self.gw, &self.dev] {
            let _ = Command::new("ip").args(["netns", "del", ns]).status();
        }
    }
}

/// Start `steward serve` inside namespace `ns` with `config` (TOML, written beside
/// `data`), its log in `data.log`; wait (bounded) until it prints its API address.
/// Returns the child (the caller kills and waits for it), the API address and the
/// admin token.
// The child is waited for by the caller's `Drop`.
#[allow(clippy::zombie_processes)]
pub fn serve_in_netns(ns: &str, data: &Path, config: &str) -> (Child, SocketAddr, String) {
    std::fs::create_dir_all(data).unwrap();
    let cfg = data.with_extension("toml");
    std::fs::write(&cfg, config).unwrap();
    let log_path = data.with_extension("log");
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log_path)
        .unwrap();
    let mut child = Command::new("ip")
        .args(["netns", "exec", ns, super::BIN, "serve"])
        .args([
            "--http",
            "127.0.0.1:0",
            "--mqtts",
            "127.0.0.1:0",
            "--coaps",
            "127.0.0.1:0",
        ])
        .arg("--data")
        .arg(data)
        .arg("--config")
        .arg(&cfg)
        .env("STEWARD_LOG", "steward=debug,info")
        .stdout(Stdio::piped())
        .stderr(Stdio::from(log))
        .spawn()
        .expect("starting steward in a namespace");
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let Ok(line) = rx.recv_timeout(left) else {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "steward did not start in {ns}; log:\n{}",
                std::fs::read_to_string(&log_path).unwrap_or_default()
            );
        };
        if let Some(rest) = line.strip_prefix("HTTP API on http://") {
            let http = rest.split_whitespace().next().unwrap().parse().unwrap();
            let admin = std::fs::read_to_string(data.join("admin-token"))
                .unwrap()
                .trim()
                .to_string();
            return (child, http, admin);
        }
    }
}

/// `steward serve` inside a namespace; killed on drop.
pub struct NsGateway {
    child: Option<Child>,
    pub ns: String,
    pub data: PathBuf,
    pub http: SocketAddr,
    pub admin: String,
}

impl NsGateway {
    pub fn start(ns: &str, data: &Path, config: &str) -> NsGateway {
        let (child, http, admin) = serve_in_netns(ns, data, config);
        NsGateway {
            child: Some(child),
            ns: ns.into(),
            data: data.into(),
            http,
            admin,
        }
    }

    /// GET an admin API path with curl inside the namespace; the JSON body.
    pub fn get(&self, path: &str) -> serde_json::Value {
        let out = Command::new("ip")
            .args([
                "netns",
                "exec",
                &self.ns,
                "curl",
                "-sS",
                "--max-time",
                "10",
                "-H",
            ])
            .arg(format!("Authorization: Bearer {}", self.admin))
            .arg(format!("http://{}{}", self.http, path))
            .output()
            .unwrap();
        serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("GET {path}: {e}: {}", String::from_utf8_lossy(&out.stdout)))
    }

    /// SIGTERM and wait.
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = Command::new("kill")
                .args(["-TERM", &c.id().to_string()])
                .status();
            let deadline = Instant::now() + Duration::from_secs(20);
            while c.try_wait().ok().flatten().is_none() {
                if Instant::now() > deadline {
                    let _ = c.kill();
                    break;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = c.wait();
        }
    }
}

impl Drop for NsGateway {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}
