//! Test support for firmware updates: a gateway with HTTPS on, a maker with a
//! signing key and a model anchored to it, a fleet of devices with certificates,
//! each running the real update agent (`steward::updates::agent`) over MQTT/TLS
//! and HTTPS, in this test process.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use steward::updates::agent::{self, AgentHandle, AgentOptions};
use tokio_util::sync::CancellationToken;

use super::common::Gateway;

pub const VENDOR: &str = "fa6b4a53-d5ad-5fdf-be9d-e663e4d41ffe";
pub const CLASS: &str = "1492af14-2569-5e48-bf42-9b2d51f2ab45";

/// The base configuration: HTTPS on, fast ticks, quick renotices.
pub fn config(extra: &str) -> String {
    format!("[server]\nhttp_tls = \"on\"\n\n[updates]\ntick_ms = 100\nrenotify_secs = 2\n{extra}")
}

pub struct Device {
    pub id: String,
    pub name: String,
    pub tls: Arc<rustls::ClientConfig>,
    pub cert: PathBuf,
    pub key: PathBuf,
}

pub struct Fleet {
    pub root: tempfile::TempDir,
    pub gw: Gateway,
    pub admin: reqwest::Client,
    pub base: String,
    pub model: String,
    pub maker: suit::SigningKey,
    pub maker_key: PathBuf,
    pub maker_pub: PathBuf,
    pub devices: Vec<Device>,
    pub stop: CancellationToken,
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn admin_client(ca: &Path) -> reqwest::Client {
    let pem = std::fs::read_to_string(ca).unwrap();
    let mut roots = rustls::RootCertStore::empty();
    use rustls_pki_types::pem::PemObject;
    roots
        .add(rustls_pki_types::CertificateDer::from_pem_slice(pem.as_bytes()).unwrap())
        .unwrap();
    let tls = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    reqwest::Client::builder()
        .use_preconfigured_tls(tls)
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

impl Fleet {
    /// A gateway (on fixed ports, so it can restart on them), a model anchored
    /// to a new maker key, and `n` devices with certificates.
    pub async fn start(model: &str, n: usize, extra_config: &str) -> Fleet {
        let root = tempfile::tempdir().unwrap();
        let data = root.path().join("gw");
        let (h, m) = (free_port(), free_port());
        let cfg = config(extra_config);
        let gw = tokio::task::block_in_place(|| {
            Gateway::start_on(
                &data,
                Some(&cfg),
                &format!("127.0.0.1:{h}"),
                &format!("127.0.0.1:{m}"),
            )
        });
        let admin = admin_client(&data.join("ca.crt"));
        let base = format!("https://localhost:{}", gw.http.port());
        let mut seed = [0u8; 32];
        rand::Rng::fill(&mut rand::rng(), &mut seed);
        let maker = suit::SigningKey::ed25519_from_seed(&seed);
        let maker_key = root.path().join("maker.key");
        let maker_pub = root.path().join("maker.pub");
        std::fs::write(&maker_key, maker.to_pkcs8_pem().unwrap()).unwrap();
        std::fs::write(
            &maker_pub,
            maker.verifying_key().to_public_key_pem().unwrap(),
        )
        .unwrap();
        let mut fleet = Fleet {
            root,
            gw,
            admin,
            base,
            model: model.to_string(),
            maker,
            maker_key,
            maker_pub,
            devices: Vec::new(),
            stop: CancellationToken::new(),
        };
        let (code, body) = fleet
            .post_json(
                "/api/v1/models",
                serde_json::json!({"manufacturer": "Acme", "name": model}),
            )
            .await;
        assert_eq!(code, 201, "model: {body}");
        let out = fleet.cli(&[
            "firmware",
            "anchor",
            model,
            "--key",
            fleet.maker_pub.to_str().unwrap(),
            "--vendor-id",
            VENDOR,
            "--class-id",
            CLASS,
        ]);
        assert!(
            out.status.success(),
            "anchor: {}",
            super::common::text(&out)
        );
        fleet.add_devices(n).await;
        fleet
    }

    pub fn cli(&self, args: &[&str]) -> std::process::Output {
        tokio::task::block_in_place(|| self.gw.cli(args))
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub async fn post_json(&self, path: &str, body: serde_json::Value) -> (u16, String) {
        let r = self
            .admin
            .post(self.url(path))
            .bearer_auth(&self.gw.admin)
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), r.text().await.unwrap())
    }

    pub async fn get_json(&self, path: &str) -> serde_json::Value {
        let r = self
            .admin
            .get(self.url(path))
            .bearer_auth(&self.gw.admin)
            .send()
            .await
            .unwrap();
        let code = r.status().as_u16();
        let text = r.text().await.unwrap();
        assert_eq!(code, 200, "GET {path}: {text}");
        serde_json::from_str(&text).unwrap()
    }

    /// Create `n` more devices through the API (certificate made by Steward).
    pub async fn add_devices(&mut self, n: usize) {
        let start = self.devices.len();
        let me = &*self;
        let made: Vec<Device> = futures::stream::iter(start..start + n)
            .map(|i| {
                let name = format!("{}-{i:04}", me.model);
                let model = me.model.clone();
                async move {
                    let (code, body) = me
                        .post_json(
                            "/api/v1/devices/new/certificate",
                            serde_json::json!({"name": name, "model": model, "tags": ["lab"]}),
                        )
                        .await;
                    assert_eq!(code, 201, "device: {body}");
                    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
                    let (ca, cert, key) = (
                        v["ca"].as_str().unwrap(),
                        v["certificate"].as_str().unwrap(),
                        v["key"].as_str().unwrap(),
                    );
                    let dir = me.root.path().join("certs");
                    std::fs::create_dir_all(&dir).unwrap();
                    let cert_path = dir.join(format!("{name}.crt"));
                    let key_path = dir.join(format!("{name}.key"));
                    std::fs::write(&cert_path, cert).unwrap();
                    std::fs::write(&key_path, key).unwrap();
                    Device {
                        id: v["device"]["id"].as_str().unwrap().to_string(),
                        name,
                        tls: steward::demo::device_tls(ca, cert, key).unwrap(),
                        cert: cert_path,
                        key: key_path,
                    }
                }
            })
            .buffer_unordered(8)
            .collect()
            .await;
        self.devices.extend(made);
    }

    pub fn ca(&self) -> PathBuf {
        self.gw.data.join("ca.crt")
    }

    /// Sign a release with the maker's key (`steward firmware sign`) and upload
    /// it (`steward firmware upload`); returns (firmware id, envelope path).
    pub fn release(&self, seq: u64, payload: &[u8], mud_url: Option<&str>) -> (String, PathBuf) {
        let dir = self.root.path();
        let image = dir.join(format!("image-{seq}.bin"));
        std::fs::write(&image, payload).unwrap();
        let env = dir.join(format!("image-{seq}.suit"));
        let seq_s = seq.to_string();
        let mut args = vec![
            "firmware",
            "sign",
            "--key",
            self.maker_key.to_str().unwrap(),
            "--payload",
            image.to_str().unwrap(),
            "--vendor-id",
            VENDOR,
            "--class-id",
            CLASS,
            "--seq",
            &seq_s,
            "--uri",
            "https://acme.example/fw.bin",
            "--out",
            env.to_str().unwrap(),
        ];
        if let Some(m) = mud_url {
            args.extend(["--mud-url", m]);
        }
        let out = tokio::task::block_in_place(|| {
            std::process::Command::new(super::common::BIN)
                .args(&args)
                .output()
                .unwrap()
        });
        assert!(out.status.success(), "sign: {}", super::common::text(&out));
        let version = format!("1.{seq}.0");
        let out = self.cli(&[
            "firmware",
            "upload",
            env.to_str().unwrap(),
            "--payload",
            image.to_str().unwrap(),
            "--version",
            &version,
        ]);
        assert!(
            out.status.success(),
            "upload: {}",
            super::common::text(&out)
        );
        let id = String::from_utf8(out.stdout).unwrap().trim().to_string();
        (id, env)
    }

    /// Agent options for device `i`.
    pub fn agent_options(&self, i: usize) -> AgentOptions {
        AgentOptions {
            device_id: self.devices[i].id.clone(),
            mqtt_host: "localhost".into(),
            mqtt_port: self.gw.mqtts.port(),
            tls: self.devices[i].tls.clone(),
            maker_key: self.maker.verifying_key(),
            vendor_id: VENDOR.parse().unwrap(),
            class_id: CLASS.parse().unwrap(),
            fail_share: 0.0,
            interrupt_after: None,
            max_image: 16 << 20,
            install_time: Duration::from_millis(50),
            installed_seq: 0,
        }
    }

    /// Start an agent on every device, with options adjusted by `f`.
    pub fn agents(&self, mut f: impl FnMut(usize, &mut AgentOptions)) -> Vec<AgentHandle> {
        (0..self.devices.len())
            .map(|i| {
                let mut o = self.agent_options(i);
                f(i, &mut o);
                agent::spawn(o, self.stop.clone()).unwrap()
            })
            .collect()
    }

    /// [`Fleet::agents`], then wait until all are connected.
    pub async fn agents_connected(
        &self,
        f: impl FnMut(usize, &mut AgentOptions),
    ) -> Vec<AgentHandle> {
        let h = self.agents(f);
        self.wait_connected(self.devices.len()).await;
        h
    }

    /// Wait until `n` devices are connected over MQTT (then they subscribe at once).
    pub async fn wait_connected(&self, n: usize) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let h = self.get_json("/healthz").await;
            if h["mqtt_connected"].as_u64().unwrap_or(0) as usize >= n {
                tokio::time::sleep(Duration::from_millis(300)).await;
                return;
            }
            assert!(Instant::now() < deadline, "devices did not connect: {h}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub async fn create_campaign(&self, body: serde_json::Value) -> String {
        let (code, text) = self.post_json("/api/v1/campaigns", body).await;
        assert_eq!(code, 201, "campaign: {text}");
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        v["campaign"]["id"].as_str().unwrap().to_string()
    }

    /// Poll the campaign until `done` holds for it, or fail after `secs`.
    pub async fn wait_campaign(
        &self,
        id: &str,
        secs: u64,
        what: &str,
        mut done: impl FnMut(&serde_json::Value) -> bool,
    ) -> serde_json::Value {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            let p = self.get_json(&format!("/api/v1/campaigns/{id}")).await;
            if done(&p) {
                return p;
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}; last progress: {p:#}; log: {}",
                self.gw.data.with_extension("log").display()
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    pub async fn devices_of(&self, id: &str) -> Vec<serde_json::Value> {
        self.get_json(&format!("/api/v1/campaigns/{id}/devices"))
            .await
            .as_array()
            .unwrap()
            .clone()
    }
}

impl Drop for Fleet {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

/// The campaign's state string.
pub fn state(p: &serde_json::Value) -> &str {
    p["campaign"]["state"].as_str().unwrap_or("")
}

/// A payload of `n` pseudo-random bytes.
pub fn payload(n: usize, salt: u8) -> Vec<u8> {
    (0..n)
        .map(|i| ((i as u32).wrapping_mul(2654435761) >> 13) as u8 ^ salt)
        .collect()
}
