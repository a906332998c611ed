//! The device cache: a directory with `devices.tsv` (one line per device: name, id,
//! token or `-`), each device's `NAME.crt` and `NAME.key`, and `ca.crt`.
//! `provision` fills it through Steward's HTTP API (`POST /api/v1/devices/new/certificate`,
//! which makes the key and certificate in one request: much faster than one
//! `steward device add` process per device, each opening the store), several
//! requests at a time. It is made once and reused by every run, against Steward and
//! against Mosquitto alike (Mosquitto is configured to trust Steward's CA).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use anyhow::{Context, bail};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio::sync::Semaphore;

use crate::http;

const LIST: &str = "devices.tsv";

#[derive(clap::Args, Debug)]
pub struct ProvisionArgs {
    /// Steward's HTTP API, e.g. http://127.0.0.1:8080.
    #[arg(long)]
    api: String,
    /// File holding the admin token (Steward writes it to DATA/admin-token).
    #[arg(long)]
    token_file: PathBuf,
    /// Devices wanted in the cache; only the missing ones are created.
    #[arg(long, short = 'n')]
    count: usize,
    /// Cache directory.
    #[arg(long)]
    out: PathBuf,
    /// Model of the devices (created as a plain SenML model if new).
    #[arg(long, default_value = "loadgen-sensor")]
    model: String,
    /// Prefix of the device names; the rest is the device's number.
    #[arg(long, default_value = "lg-")]
    prefix: String,
    /// Also issue an access token per device (for --auth token).
    #[arg(long)]
    tokens: bool,
    /// Requests in flight at once.
    #[arg(long, default_value_t = 8)]
    concurrency: usize,
}

#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum Auth {
    /// TLS client certificate.
    Cert,
    /// Username = device id, password = token.
    Token,
}

/// One device as the cache knows it.
#[derive(Debug, Clone)]
pub struct Entry {
    pub name: String,
    pub id: String,
    pub token: Option<String>,
}

/// Credentials a connection presents.
pub struct Credentials {
    pub id: String,
    pub cert: Option<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>)>,
    pub token: Option<String>,
}

pub fn read_list(dir: &Path) -> anyhow::Result<Vec<Entry>> {
    let path = dir.join(LIST);
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
    };
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let mut f = line.split('\t');
        match (f.next(), f.next(), f.next()) {
            (Some(name), Some(id), token) if !name.is_empty() && !id.is_empty() => {
                out.push(Entry {
                    name: name.to_string(),
                    id: id.to_string(),
                    token: token
                        .filter(|t| !t.is_empty() && *t != "-")
                        .map(str::to_string),
                })
            }
            _ => bail!(
                "{}:{}: expected `name<TAB>id<TAB>token`",
                path.display(),
                i + 1
            ),
        }
    }
    Ok(out)
}

/// Load what a connection needs for `entry`.
pub fn credentials(dir: &Path, entry: &Entry, auth: Auth) -> anyhow::Result<Credentials> {
    match auth {
        Auth::Cert => {
            let crt = dir.join(format!("{}.crt", entry.name));
            let key = dir.join(format!("{}.key", entry.name));
            let chain = CertificateDer::pem_file_iter(&crt)
                .and_then(|i| i.collect::<Result<Vec<_>, _>>())
                .with_context(|| format!("reading certificate {}", crt.display()))?;
            let key = PrivateKeyDer::from_pem_file(&key)
                .with_context(|| format!("reading key {}", key.display()))?;
            Ok(Credentials {
                id: entry.id.clone(),
                cert: Some((chain, key)),
                token: None,
            })
        }
        Auth::Token => {
            let token = entry.token.clone().with_context(|| {
                format!(
                    "device {} has no token in the cache: provision with --tokens",
                    entry.name
                )
            })?;
            Ok(Credentials {
                id: entry.id.clone(),
                cert: None,
                token: Some(token),
            })
        }
    }
}

pub async fn provision(args: ProvisionArgs) -> anyhow::Result<()> {
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("creating {}", args.out.display()))?;
    let (authority, base) = http::split_url(&args.api)?;
    let admin = std::fs::read_to_string(&args.token_file)
        .with_context(|| format!("reading the admin token {}", args.token_file.display()))?
        .trim()
        .to_string();
    let existing = read_list(&args.out)?;
    let have: std::collections::HashSet<String> = existing.iter().map(|e| e.name.clone()).collect();
    if existing.len() >= args.count {
        println!(
            "{} devices already in {}",
            existing.len(),
            args.out.display()
        );
        return Ok(());
    }
    let list = Arc::new(Mutex::new(
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(args.out.join(LIST))?,
    ));
    let started = std::time::Instant::now();
    let slots = Arc::new(Semaphore::new(args.concurrency.max(1)));
    let mut tasks = tokio::task::JoinSet::new();
    let mut wanted = args.count - existing.len();
    let mut i = 0usize;
    while wanted > 0 {
        let name = format!("{}{i:05}", args.prefix);
        i += 1;
        if have.contains(&name) {
            continue;
        }
        wanted -= 1;
        let permit = slots.clone().acquire_owned().await?;
        let (authority, base, admin, model, out, list) = (
            authority.clone(),
            base.clone(),
            admin.clone(),
            args.model.clone(),
            args.out.clone(),
            list.clone(),
        );
        let tokens = args.tokens;
        tasks.spawn(async move {
            let r = create(
                &authority, &base, &admin, &name, &model, &out, tokens, &list,
            )
            .await;
            drop(permit);
            r
        });
        while let Some(done) = tasks.try_join_next() {
            done??;
        }
    }
    while let Some(done) = tasks.join_next().await {
        done??;
    }
    let total = read_list(&args.out)?.len();
    println!(
        "provisioned {} devices in {:.1} s; {} in {}",
        args.count - existing.len(),
        started.elapsed().as_secs_f64(),
        total,
        args.out.display()
    );
    Ok(())
}

#[allow(clippy::too_many_arguments)]
async fn create(
    authority: &str,
    base: &str,
    admin: &str,
    name: &str,
    model: &str,
    out: &Path,
    tokens: bool,
    list: &Mutex<std::fs::File>,
) -> anyhow::Result<()> {
    let body = serde_json::json!({ "name": name, "model": model }).to_string();
    let path = format!("{base}/api/v1/devices/new/certificate");
    let (status, answer) =
        http::request(authority, "POST", &path, Some(admin), Some(body.as_bytes())).await?;
    if status != 201 {
        bail!(
            "creating device {name}: HTTP {status}: {}",
            String::from_utf8_lossy(&answer)
        );
    }
    let v: serde_json::Value = serde_json::from_slice(&answer).context("certificate answer")?;
    let field = |k: &str| -> anyhow::Result<String> {
        v.get(k)
            .and_then(|x| x.as_str())
            .map(str::to_string)
            .with_context(|| format!("creating device {name}: no `{k}` in the answer"))
    };
    let id = v
        .pointer("/device/id")
        .and_then(|x| x.as_str())
        .with_context(|| format!("creating device {name}: no device id in the answer"))?
        .to_string();
    let ca = out.join("ca.crt");
    if !ca.exists() {
        std::fs::write(&ca, field("ca")?)?;
    }
    std::fs::write(out.join(format!("{name}.crt")), field("certificate")?)?;
    std::fs::write(out.join(format!("{name}.key")), field("key")?)?;
    let token = if tokens {
        let path = format!("{base}/api/v1/devices/{id}/tokens");
        let (status, answer) = http::request(authority, "POST", &path, Some(admin), None).await?;
        if status != 201 {
            bail!(
                "token for {name}: HTTP {status}: {}",
                String::from_utf8_lossy(&answer)
            );
        }
        let v: serde_json::Value = serde_json::from_slice(&answer)?;
        v.get("token")
            .and_then(|t| t.as_str())
            .context("no token in the answer")?
            .to_string()
    } else {
        "-".to_string()
    };
    let mut f = list.lock().unwrap_or_else(|p| p.into_inner());
    writeln!(f, "{name}\t{id}\t{token}")?;
    Ok(())
}
