//! MUD files for the policy: fetched over HTTPS (`mud::fetch`), verified
//! (`mud::check`: signature, syntax, the mud-url matching where it came from),
//! compiled, and recorded in the store, so the CLI beside a running server sees
//! the same MUD policies. A file that fails is recorded with its error; the
//! device then gets no MUD rules (the policy says so), and the fetch is retried
//! after `[mud] retry_secs`.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::store::{MudRecord, Store};

/// `[mud]`: where MUD files may come from and who may sign them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MudConfig {
    /// Fetch the MUD files devices name (from their model or their DHCP lease).
    pub fetch: bool,
    /// Trust the public web PKI for MUD servers.
    pub public_roots: bool,
    /// Extra CA certificates (PEM files) for MUD servers.
    pub tls_ca: Vec<PathBuf>,
    /// Maker CA certificates (PEM files) MUD signatures must chain to.
    pub signers: Vec<PathBuf>,
    /// MUD URL hosts whose unsigned files are accepted (with a warning).
    pub unsigned_makers: Vec<String>,
    /// Redirects followed before a fetch fails.
    pub max_redirects: usize,
    /// Seconds before a failed fetch is tried again.
    pub retry_secs: u64,
    /// Seconds one fetch (file and signature) may take.
    pub timeout_secs: u64,
}

impl Default for MudConfig {
    fn default() -> Self {
        MudConfig {
            fetch: true,
            public_roots: true,
            tls_ca: vec![],
            signers: vec![],
            unsigned_makers: vec![],
            max_redirects: 3,
            retry_secs: 60,
            timeout_secs: 20,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum MudFetchError {
    #[error("[mud] {what} {path}: {reason}")]
    File {
        what: &'static str,
        path: PathBuf,
        reason: String,
    },
    #[error("[mud]: {0}")]
    Fetcher(String),
}

/// Fetches, verifies and records MUD files.
pub struct MudFetcher {
    fetcher: ::mud::fetch::Fetcher,
    anchors_pem: Vec<Vec<u8>>,
    config: MudConfig,
}

fn read(what: &'static str, p: &PathBuf) -> Result<Vec<u8>, MudFetchError> {
    std::fs::read(p).map_err(|e| MudFetchError::File {
        what,
        path: p.clone(),
        reason: e.to_string(),
    })
}

impl MudFetcher {
    pub fn new(config: &MudConfig) -> Result<MudFetcher, MudFetchError> {
        let extra = config
            .tls_ca
            .iter()
            .map(|p| read("tls_ca", p))
            .collect::<Result<Vec<_>, _>>()?;
        let anchors_pem = config
            .signers
            .iter()
            .map(|p| read("signers", p))
            .collect::<Result<Vec<_>, _>>()?;
        for (p, pem) in config.signers.iter().zip(&anchors_pem) {
            ::mud::TrustAnchors::from_pem(pem).map_err(|e| MudFetchError::File {
                what: "signers",
                path: p.clone(),
                reason: e.to_string(),
            })?;
        }
        let fc = ::mud::fetch::FetchConfig {
            max_redirects: config.max_redirects,
            public_roots: config.public_roots,
            extra_roots_pem: extra,
            timeout: Duration::from_secs(config.timeout_secs.max(1)),
            connect_timeout: Duration::from_secs(config.timeout_secs.clamp(1, 10)),
            ..Default::default()
        };
        let fetcher = ::mud::fetch::Fetcher::new(fc, Arc::new(::mud::fetch::SystemClock))
            .map_err(|e| MudFetchError::Fetcher(e.to_string()))?;
        Ok(MudFetcher {
            fetcher,
            anchors_pem,
            config: config.clone(),
        })
    }

    /// Whether `url` is due: never fetched, past its cache-validity, or failed
    /// longer than `retry_secs` ago.
    pub fn due(&self, rec: Option<&MudRecord>, now: f64) -> bool {
        match rec {
            None => true,
            Some(r) if r.error.is_some() => now >= r.fetched + self.config.retry_secs as f64,
            Some(r) => now >= r.fresh_until,
        }
    }

    /// Fetches and verifies `url`, and records the outcome (never fails: errors
    /// are recorded). Returns the record.
    pub async fn fetch_and_record(&self, store: &Arc<dyn Store>, url: &str, now: f64) -> MudRecord {
        let rec = match self.fetch_verified(url).await {
            Ok((policy, fresh_until)) => MudRecord {
                url: url.to_string(),
                policy: Some(policy),
                error: None,
                fetched: now,
                fresh_until,
            },
            Err(error) => {
                tracing::warn!(%url, %error, "MUD file refused");
                MudRecord {
                    url: url.to_string(),
                    policy: None,
                    error: Some(error),
                    fetched: now,
                    fresh_until: now,
                }
            }
        };
        let store = store.clone();
        let r = rec.clone();
        let _ = tokio::task::spawn_blocking(move || {
            if let Err(e) = store.put_mud_result(&r) {
                tracing::warn!(error = %e, "recording a MUD fetch");
            }
        })
        .await;
        rec
    }

    async fn fetch_verified(&self, url: &str) -> Result<(String, f64), String> {
        let fetched = self
            .fetcher
            .refresh(url)
            .await
            .map_err(|e| format!("fetching: {e}"))?;
        let mut anchors = ::mud::TrustAnchors::new();
        for pem in &self.anchors_pem {
            anchors.add_pem(pem).map_err(|e| e.to_string())?;
        }
        let opts = ::mud::CheckOptions {
            fetched_from: Some(url.to_string()),
            signature: fetched.signature.clone(),
            anchors,
            unsigned: ::mud::UnsignedPolicy::AllowMakers(self.config.unsigned_makers.clone()),
            ..Default::default()
        };
        let report = ::mud::check(&fetched.body, &opts);
        if !report.valid {
            let errs: Vec<String> = report.errors.iter().map(|d| d.to_string()).collect();
            let mut msg = errs.join("; ");
            if let Some(e) = &fetched.signature_error
                && report.policy.is_none()
            {
                msg.push_str(&format!(" (signature: {e})"));
            }
            return Err(format!("invalid MUD file: {msg}"));
        }
        let policy = report
            .policy
            .ok_or_else(|| "the MUD file compiled to no policy".to_string())?;
        let json = serde_json::to_string(&policy).map_err(|e| e.to_string())?;
        let fresh = fetched.fresh_until.unix_timestamp() as f64;
        Ok((json, fresh))
    }
}
