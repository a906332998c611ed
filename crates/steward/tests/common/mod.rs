//! Test support: start the real `steward` binary on free ports with its own data
//! directory, and drive it with real third-party clients (mosquitto_pub/sub, curl,
//! python3 paho-mqtt).
#![allow(dead_code)]

pub mod lab;
pub mod lan;
pub mod semantic;

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_steward");

/// Fail loudly (never skip) when a third-party client the tests rely on is missing:
/// `scripts/deps.sh` installs them.
pub fn require(tool: &str) {
    let found = Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    assert!(
        found,
        "`{tool}` is not installed: run scripts/deps.sh first"
    );
}

pub struct Gateway {
    child: Option<Child>,
    pub data: PathBuf,
    pub http: SocketAddr,
    pub mqtts: SocketAddr,
    pub coaps: SocketAddr,
    pub admin: String,
}

pub struct DeviceCreds {
    pub id: String,
    pub name: String,
    pub cert: PathBuf,
    pub key: PathBuf,
    pub ca: PathBuf,
}

impl Gateway {
    /// Start `steward serve` on 127.0.0.1 with port 0 (the OS picks), in `data`.
    // The child is waited for by `kill9`, `terminate` or `Drop`.
    #[allow(clippy::zombie_processes)]
    pub fn start(data: &Path, config: Option<&str>) -> Gateway {
        Gateway::start_on(data, config, "127.0.0.1:0", "127.0.0.1:0")
    }

    /// [`Gateway::start`] on given addresses (a restart on the same ports).
    #[allow(clippy::zombie_processes)]
    pub fn start_on(data: &Path, config: Option<&str>, http: &str, mqtts: &str) -> Gateway {
        std::fs::create_dir_all(data).unwrap();
        let mut cmd = Command::new(BIN);
        cmd.args([
            "serve",
            "--http",
            http,
            "--mqtts",
            mqtts,
            "--coaps",
            "127.0.0.1:0",
            "--data",
        ])
        .arg(data);
        if let Some(text) = config {
            let path = data.with_extension("toml");
            std::fs::write(&path, text).unwrap();
            cmd.arg("--config").arg(path);
        }
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(data.with_extension("log"))
            .unwrap();
        cmd.env("STEWARD_LOG", "steward=debug,info")
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log));
        let mut child = cmd.spawn().expect("starting steward");
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = rx.recv_timeout(left).unwrap_or_else(|_| {
                panic!(
                    "steward did not start; log in {}",
                    data.with_extension("log").display()
                )
            });
            if let Some(rest) = line
                .strip_prefix("HTTP API on http://")
                .or_else(|| line.strip_prefix("HTTP API on https://"))
            {
                let mut parts = rest.split_whitespace();
                let http = parts.next().unwrap().parse().unwrap();
                let mqtts = parts.nth(2).unwrap().parse().unwrap();
                let coaps = parts.nth(2).unwrap().parse().unwrap();
                let admin = std::fs::read_to_string(data.join("admin-token"))
                    .unwrap()
                    .trim()
                    .to_string();
                return Gateway {
                    child: Some(child),
                    data: data.to_path_buf(),
                    http,
                    mqtts,
                    coaps,
                    admin,
                };
            }
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().unwrap().id()
    }

    /// SIGKILL: the process gets no chance to clean up.
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// SIGTERM, then wait for the exit status.
    pub fn terminate(&mut self) -> std::process::ExitStatus {
        let mut c = self.child.take().unwrap();
        Command::new("kill")
            .args(["-TERM", &c.id().to_string()])
            .status()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = c.try_wait().unwrap() {
                return status;
            }
            assert!(Instant::now() < deadline, "steward did not stop on SIGTERM");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn cli(&self, args: &[&str]) -> Output {
        Command::new(BIN)
            .args(args)
            .arg("--data")
            .arg(&self.data)
            .output()
            .unwrap()
    }

    /// `steward device add` → certificate files in `data/../certs-NAME`.
    pub fn add_device(&self, name: &str, model: &str) -> DeviceCreds {
        let out_dir = self.data.with_file_name(format!("certs-{name}"));
        let out = self.cli(&[
            "device",
            "add",
            name,
            "--model",
            model,
            "--out",
            out_dir.to_str().unwrap(),
        ]);
        assert!(
            out.status.success(),
            "device add: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let id = String::from_utf8(out.stdout).unwrap().trim().to_string();
        DeviceCreds {
            id,
            name: name.to_string(),
            cert: out_dir.join(format!("{name}.crt")),
            key: out_dir.join(format!("{name}.key")),
            ca: out_dir.join("ca.crt"),
        }
    }

    pub fn token(&self, device: &str) -> String {
        let out = self.cli(&["device", "token", device]);
        assert!(
            out.status.success(),
            "device token: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .last()
            .unwrap()
            .trim()
            .to_string()
    }

    /// curl against the HTTP API; returns (status, body).
    pub fn curl(&self, method: &str, path: &str, extra: &[&str]) -> (u16, String) {
        let url = format!("http://{}{}", self.http, path);
        let out = Command::new("curl")
            .args([
                "-sS",
                "-X",
                method,
                "-o",
                "-",
                "-w",
                "\n%{http_code}",
                "--max-time",
                "20",
            ])
            .args(extra)
            .arg(&url)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "curl {url}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let text = String::from_utf8(out.stdout).unwrap();
        let (body, code) = text.rsplit_once('\n').unwrap();
        (code.parse().unwrap(), body.to_string())
    }

    pub fn admin_get(&self, path: &str) -> serde_json::Value {
        let auth = format!("Authorization: Bearer {}", self.admin);
        let (code, body) = self.curl("GET", path, &["-H", &auth]);
        assert_eq!(code, 200, "GET {path}: {body}");
        serde_json::from_str(&body).unwrap()
    }

    pub fn readings(&self, device: &str) -> Vec<serde_json::Value> {
        self.admin_get(&format!("/api/v1/devices/{device}/readings?limit=10000"))
            .as_array()
            .unwrap()
            .clone()
    }

    /// Wait until `f` holds (polling), or fail with `what`.
    pub fn wait_for(what: &str, secs: u64, mut f: impl FnMut() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(secs);
        while !f() {
            assert!(Instant::now() < deadline, "timed out waiting for: {what}");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.data.with_extension("log")).unwrap_or_default()
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// Arguments for mosquitto_pub/sub to reach the gateway with a device certificate.
pub fn tls_args(gw: &Gateway, d: &DeviceCreds) -> Vec<String> {
    vec![
        "-h".into(),
        "localhost".into(),
        "-p".into(),
        gw.mqtts.port().to_string(),
        "--cafile".into(),
        d.ca.display().to_string(),
        "--cert".into(),
        d.cert.display().to_string(),
        "--key".into(),
        d.key.display().to_string(),
    ]
}

/// [`tls_args`] followed by more arguments for the client.
pub fn tls_args_with(gw: &Gateway, d: &DeviceCreds, extra: &[&str]) -> Vec<String> {
    let mut a = tls_args(gw, d);
    a.extend(extra.iter().map(|s| s.to_string()));
    a
}

/// A CA of the test's own making (not Steward's) and an issuer for it.
pub fn foreign_ca(cn: &str) -> (rcgen::Certificate, rcgen::Issuer<'static, rcgen::KeyPair>) {
    let key = rcgen::KeyPair::generate().unwrap();
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, cn);
    let cert = params.self_signed(&key).unwrap();
    (cert, rcgen::Issuer::new(params, key))
}

pub fn mosquitto_pub(args: &[String]) -> Output {
    Command::new("mosquitto_pub")
        .args(args)
        .args(["-d"])
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

pub fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn openssl(dir: &Path, args: &[&str]) {
    let o = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("the openssl tool (scripts/deps.sh installs it)");
    assert!(o.status.success(), "openssl {args:?}: {}", text(&o));
}

/// A maker CA and a signing certificate under it, made with the openssl tool:
/// `ca.pem`, `signer.pem`, `signer.key` in `dir`.
pub fn maker_pki(dir: &Path, org: &str) {
    std::fs::write(
        dir.join("signer.ext"),
        "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\n",
    )
    .unwrap();
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
            "-days",
            "3650",
            "-subj",
            &format!("/O={org}/CN={org} MUD CA"),
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
        ],
    );
    openssl(
        dir,
        &[
            "req",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            "signer.key",
            "-out",
            "signer.csr",
            "-subj",
            &format!("/O={org}/CN=mud signer"),
        ],
    );
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            "signer.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "signer.pem",
            "-days",
            "365",
            "-extfile",
            "signer.ext",
        ],
    );
}
