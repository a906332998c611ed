//! Fetching MUD files and their signatures over HTTPS (RFC 8520 §1.6, §13.2),
//! with a cache that honours `cache-validity` (§3.5). Feature `fetch`.
//!
//! This is the one module of the crate that does I/O. What it does, and why:
//! - **https only**, before and after redirects: a MUD file's authority is its
//!   origin, so an `http://` URL is refused without a request, and a redirect
//!   from https to anything else is an error, never followed.
//! - `Accept: application/mud+json` (RFC 8520 §15.2) for the file,
//!   `application/pkcs7-signature` for the signature.
//! - **Size caps** for the file (the parser's limit, 256 KiB by default) and the
//!   signature, enforced while the body streams in, not after.
//! - **Timeouts**: connect and whole-request.
//! - **Bounded redirects** (3 by default).
//! - **Conditional requests**: `If-None-Match` / `If-Modified-Since` from the last
//!   answer; a `304` revalidates the cached copy.
//! - **Cache keyed by URL**: a file is served from the cache for `cache-validity`
//!   hours (1..=168, default 48) after the server last confirmed it.
//! - **Last good kept**: when a refresh fails (network, status, size, a new file
//!   that does not parse, a signature that cannot be fetched), the previous file
//!   and signature are returned with [`FetchStatus::StaleKept`] saying why.
//! - The **signature** is fetched beside the file: `mud-signature` if the file has
//!   one, else the `.p7s` URL of §13.2 ([`crate::signature::signature_url`]).
//!   Fetching does not judge it: [`crate::check()`] verifies it and fails closed.
//!
//! TLS is rustls with the *ring* provider (one crypto provider in the workspace),
//! trusting the compiled-in public roots (`webpki-roots`) and any extra CA the
//! caller passes ([`FetchConfig::extra_roots_pem`]). Time comes from a [`Clock`],
//! so tests can move past cache-validity.

use crate::parse::{ParseOptions, parse};
use crate::signature::signature_url;
use serde::Serialize;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// The media type of MUD files (RFC 8520 §15.2).
pub const MUD_MEDIA_TYPE: &str = "application/mud+json";
/// The media type of detached CMS signatures (RFC 5751).
pub const SIGNATURE_MEDIA_TYPE: &str = "application/pkcs7-signature";

/// Where "now" comes from.
pub trait Clock: Send + Sync {
    fn now(&self) -> OffsetDateTime;
}

/// The system clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> OffsetDateTime {
        OffsetDateTime::now_utc()
    }
}

/// A clock that only moves when told to, for tests.
#[derive(Debug)]
pub struct ManualClock(Mutex<OffsetDateTime>);

impl ManualClock {
    pub fn new(t: OffsetDateTime) -> Self {
        ManualClock(Mutex::new(t))
    }

    pub fn advance(&self, d: time::Duration) {
        let mut t = self.0.lock().unwrap_or_else(|e| e.into_inner());
        *t += d;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> OffsetDateTime {
        *self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// How to fetch.
#[derive(Debug, Clone)]
pub struct FetchConfig {
    /// Largest MUD file accepted (default 256 KiB, the parser's default limit).
    pub max_bytes: usize,
    /// Largest signature accepted (default 64 KiB).
    pub max_signature_bytes: usize,
    pub connect_timeout: Duration,
    /// For a whole request, redirects and body included.
    pub timeout: Duration,
    /// Redirects followed before giving up (default 3).
    pub max_redirects: usize,
    /// Trust the public web PKI roots (default true).
    pub public_roots: bool,
    /// Extra CA certificates (PEM) to trust for MUD servers, e.g. a site's own CA.
    pub extra_roots_pem: Vec<Vec<u8>>,
    pub user_agent: String,
}

impl Default for FetchConfig {
    fn default() -> Self {
        FetchConfig {
            max_bytes: crate::Limits::default().max_bytes,
            max_signature_bytes: 64 * 1024,
            connect_timeout: Duration::from_secs(10),
            timeout: Duration::from_secs(30),
            max_redirects: 3,
            public_roots: true,
            extra_roots_pem: Vec::new(),
            user_agent: concat!("steward-mud/", env!("CARGO_PKG_VERSION")).into(),
        }
    }
}

/// Why a fetch failed (and there was no good copy to fall back on).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FetchError {
    #[error("{0}")]
    NotHttps(String),
    #[error("TLS configuration: {0}")]
    Tls(String),
    #[error("{url}: the server answered {status}; expected 200 (or 304 to a conditional request)")]
    Status { url: String, status: u16 },
    #[error("{url}: larger than the {limit}-byte limit; refused")]
    TooLarge { url: String, limit: usize },
    #[error("{url}: redirect refused: {reason}")]
    Redirect { url: String, reason: String },
    #[error("{url}: timed out")]
    Timeout { url: String },
    #[error("{url}: {reason}")]
    Network { url: String, reason: String },
}

/// Where the result came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "status", rename_all = "kebab-case")]
pub enum FetchStatus {
    /// Downloaded now (first fetch, or the server had a new version).
    Downloaded,
    /// The server confirmed the cached copy (304 Not Modified).
    NotModified,
    /// From the cache, within cache-validity; no request was made.
    Cached,
    /// The refresh failed; the last good copy is returned. Act on it, but say so.
    StaleKept {
        /// Why the refresh failed.
        error: String,
        /// When the server last confirmed the copy (RFC 3339).
        last_good: String,
    },
}

/// A MUD file and its signature, as fetched or cached.
#[derive(Debug, Clone)]
pub struct Fetched {
    /// The URL asked for (the cache key; the file's mud-url must match it).
    pub url: String,
    pub body: Vec<u8>,
    /// The detached DER signature, if it could be fetched.
    pub signature: Option<Vec<u8>>,
    pub signature_url: Option<String>,
    /// Why there is no signature, when there is none.
    pub signature_error: Option<String>,
    pub status: FetchStatus,
    /// When the server last confirmed this copy.
    pub validated_at: OffsetDateTime,
    /// Until when the copy is served from the cache (validated_at + cache-validity).
    pub fresh_until: OffsetDateTime,
}

impl Fetched {
    /// A line for logs and the CLI.
    pub fn describe(&self) -> String {
        let until = self.fresh_until.format(&Rfc3339).unwrap_or_default();
        match &self.status {
            FetchStatus::Downloaded => format!("fetched {} (cache until {until})", self.url),
            FetchStatus::NotModified => {
                format!("{} not modified (304); cache until {until}", self.url)
            }
            FetchStatus::Cached => format!("{} from cache (until {until})", self.url),
            FetchStatus::StaleKept { error, last_good } => format!(
                "warning: refreshing {} failed ({error}); keeping the last good copy, confirmed at {last_good}",
                self.url
            ),
        }
    }
}

#[derive(Debug, Clone)]
struct Validators {
    etag: Option<String>,
    last_modified: Option<String>,
}

#[derive(Debug, Clone)]
struct Entry {
    body: Vec<u8>,
    validators: Validators,
    signature: Option<Vec<u8>>,
    signature_url: Option<String>,
    signature_validators: Validators,
    signature_error: Option<String>,
    validated_at: OffsetDateTime,
    fresh_until: OffsetDateTime,
}

enum Got {
    Body(Vec<u8>, Validators),
    NotModified,
}

/// An HTTPS client for MUD files with a cache. Cheap to share (`Arc`); the cache
/// lives as long as the fetcher.
pub struct Fetcher {
    client: reqwest::Client,
    config: FetchConfig,
    clock: Arc<dyn Clock>,
    cache: Mutex<HashMap<String, Entry>>,
}

impl std::fmt::Debug for Fetcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fetcher")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

fn tls_config(config: &FetchConfig) -> Result<rustls::ClientConfig, FetchError> {
    use rustls_pki_types::CertificateDer;
    use rustls_pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    if config.public_roots {
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    }
    for pem in &config.extra_roots_pem {
        let mut n = 0;
        for cert in CertificateDer::pem_slice_iter(pem) {
            let cert = cert.map_err(|e| FetchError::Tls(format!("extra CA is not PEM: {e}")))?;
            roots
                .add(cert)
                .map_err(|e| FetchError::Tls(format!("extra CA: {e}")))?;
            n += 1;
        }
        if n == 0 {
            return Err(FetchError::Tls(
                "extra CA: no certificate in the PEM text".into(),
            ));
        }
    }
    if roots.is_empty() {
        return Err(FetchError::Tls(
            "no trusted roots: enable public roots or pass a CA".into(),
        ));
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| FetchError::Tls(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    tls.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(tls)
}

fn https_url(u: &str) -> Result<url::Url, FetchError> {
    let url = url::Url::parse(u).map_err(|e| FetchError::NotHttps(format!("'{u}': {e}")))?;
    if url.scheme() != "https" {
        return Err(FetchError::NotHttps(format!(
            "'{u}' uses {}; MUD files and signatures are fetched over https only (RFC 8520 §1.6)",
            url.scheme()
        )));
    }
    Ok(url)
}

fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&Rfc3339)
        .unwrap_or_else(|_| t.unix_timestamp().to_string())
}

impl Fetcher {
    pub fn new(config: FetchConfig, clock: Arc<dyn Clock>) -> Result<Self, FetchError> {
        let tls = tls_config(&config)?;
        let max = config.max_redirects;
        let policy = reqwest::redirect::Policy::custom(move |attempt| {
            if attempt.url().scheme() != "https" {
                let msg = format!(
                    "to '{}', which is not https (a MUD file never leaves https)",
                    attempt.url()
                );
                attempt.error(msg)
            } else if attempt.previous().len() > max {
                attempt.error(format!("more than {max} redirects"))
            } else {
                attempt.follow()
            }
        });
        let client = reqwest::Client::builder()
            .use_preconfigured_tls(tls)
            .https_only(true)
            .redirect(policy)
            .connect_timeout(config.connect_timeout)
            .timeout(config.timeout)
            .user_agent(config.user_agent.clone())
            .build()
            .map_err(|e| FetchError::Tls(e.to_string()))?;
        Ok(Fetcher {
            client,
            config,
            clock,
            cache: Mutex::new(HashMap::new()),
        })
    }

    fn cached(&self, url: &str) -> Option<Entry> {
        self.cache
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(url)
            .cloned()
    }

    /// Forgets a cached copy (e.g. an operator asked for a clean fetch).
    pub fn evict(&self, url: &str) {
        self.cache
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(url);
    }

    /// The MUD file at `url` and its signature: from the cache while it is within
    /// cache-validity, else revalidated or downloaded. Errors only when there is
    /// no good copy to fall back on.
    pub async fn fetch(&self, url: &str) -> Result<Fetched, FetchError> {
        https_url(url)?;
        if let Some(e) = self.cached(url)
            && self.clock.now() < e.fresh_until
        {
            return Ok(Self::result(url, &e, FetchStatus::Cached));
        }
        self.refresh(url).await
    }

    /// Asks the server now, whatever cache-validity says (conditionally, when a
    /// copy is cached).
    pub async fn refresh(&self, url: &str) -> Result<Fetched, FetchError> {
        https_url(url)?;
        let old = self.cached(url);
        match self.refresh_inner(url, old.as_ref()).await {
            Ok((entry, status)) => {
                let out = Self::result(url, &entry, status);
                self.cache
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .insert(url.to_owned(), entry);
                Ok(out)
            }
            Err(e) => match old {
                Some(old) => Ok(Self::result(
                    url,
                    &old,
                    FetchStatus::StaleKept {
                        error: e.to_string(),
                        last_good: rfc3339(old.validated_at),
                    },
                )),
                None => Err(e),
            },
        }
    }

    fn result(url: &str, e: &Entry, status: FetchStatus) -> Fetched {
        Fetched {
            url: url.to_owned(),
            body: e.body.clone(),
            signature: e.signature.clone(),
            signature_url: e.signature_url.clone(),
            signature_error: e.signature_error.clone(),
            status,
            validated_at: e.validated_at,
            fresh_until: e.fresh_until,
        }
    }

    async fn refresh_inner(
        &self,
        url: &str,
        old: Option<&Entry>,
    ) -> Result<(Entry, FetchStatus), FetchError> {
        let got = self
            .get(
                url,
                MUD_MEDIA_TYPE,
                self.config.max_bytes,
                old.map(|o| &o.validators),
            )
            .await?;
        let (body, validators, status) = match got {
            Got::Body(b, v) => (b, v, FetchStatus::Downloaded),
            Got::NotModified => match old {
                Some(o) => (
                    o.body.clone(),
                    o.validators.clone(),
                    FetchStatus::NotModified,
                ),
                None => {
                    return Err(FetchError::Status {
                        url: url.into(),
                        status: 304,
                    });
                }
            },
        };
        let opts = ParseOptions {
            limits: crate::Limits {
                max_bytes: self.config.max_bytes,
                ..Default::default()
            },
            ..Default::default()
        };
        let parsed = parse(&body, &opts);
        let (hours, mud_signature) = match &parsed {
            Ok(p) => (
                p.file.mud.cache_validity_hours(),
                p.file.mud.mud_signature.clone(),
            ),
            // A first copy that does not parse is still returned, so `check` can
            // say what is wrong; a refresh that does not parse keeps the old one.
            Err(e) if old.is_some() => {
                return Err(FetchError::Network {
                    url: url.into(),
                    reason: format!("the new file does not parse: {e}"),
                });
            }
            Err(_) => (1, None),
        };

        // The signature, from the file's mud-signature or the §13.2 .p7s URL.
        let sig_url = match signature_url(url, mud_signature.as_deref()) {
            Ok(u) => Some(u.to_string()),
            Err(_) => None,
        };
        let same_sig_url = old.is_some_and(|o| o.signature_url == sig_url);
        let (signature, signature_validators, signature_error) = match &sig_url {
            None => (
                None,
                Validators {
                    etag: None,
                    last_modified: None,
                },
                Some("no signature URL could be derived".to_string()),
            ),
            Some(su) => {
                // Ask conditionally only when the file itself did not change.
                let cond = match (old, &status) {
                    (Some(o), FetchStatus::NotModified)
                        if same_sig_url && o.signature.is_some() =>
                    {
                        Some(&o.signature_validators)
                    }
                    _ => None,
                };
                match self
                    .get(
                        su,
                        SIGNATURE_MEDIA_TYPE,
                        self.config.max_signature_bytes,
                        cond,
                    )
                    .await
                {
                    Ok(Got::Body(s, v)) => (Some(s), v, None),
                    Ok(Got::NotModified) => match old {
                        Some(o) => (o.signature.clone(), o.signature_validators.clone(), None),
                        None => unreachable_not_modified(su)?,
                    },
                    // A copy that was signed never gives way to one whose
                    // signature cannot be had.
                    Err(e) if old.is_some_and(|o| o.signature.is_some()) => {
                        return Err(FetchError::Network {
                            url: su.clone(),
                            reason: format!("the signature could not be fetched: {e}"),
                        });
                    }
                    Err(e) => (
                        None,
                        Validators {
                            etag: None,
                            last_modified: None,
                        },
                        Some(e.to_string()),
                    ),
                }
            }
        };
        let now = self.clock.now();
        Ok((
            Entry {
                body,
                validators,
                signature,
                signature_url: sig_url,
                signature_validators,
                signature_error,
                validated_at: now,
                fresh_until: now + time::Duration::hours(i64::from(hours)),
            },
            status,
        ))
    }

    async fn get(
        &self,
        url: &str,
        accept: &str,
        limit: usize,
        cond: Option<&Validators>,
    ) -> Result<Got, FetchError> {
        let u = https_url(url)?;
        let mut req = self.client.get(u).header(reqwest::header::ACCEPT, accept);
        if let Some(v) = cond {
            if let Some(e) = &v.etag {
                req = req.header(reqwest::header::IF_NONE_MATCH, e);
            }
            if let Some(m) = &v.last_modified {
                req = req.header(reqwest::header::IF_MODIFIED_SINCE, m);
            }
        }
        let err = |e: reqwest::Error| classify(url, e);
        let mut resp = req.send().await.map_err(err)?;
        let status = resp.status();
        if status == reqwest::StatusCode::NOT_MODIFIED && cond.is_some() {
            return Ok(Got::NotModified);
        }
        if status != reqwest::StatusCode::OK {
            return Err(FetchError::Status {
                url: url.into(),
                status: status.as_u16(),
            });
        }
        let too_large = || FetchError::TooLarge {
            url: url.into(),
            limit,
        };
        if resp.content_length().is_some_and(|n| n > limit as u64) {
            return Err(too_large());
        }
        let header = |h| {
            resp.headers()
                .get(h)
                .and_then(|v: &reqwest::header::HeaderValue| v.to_str().ok())
                .map(str::to_owned)
        };
        let validators = Validators {
            etag: header(reqwest::header::ETAG),
            last_modified: header(reqwest::header::LAST_MODIFIED),
        };
        let mut body = Vec::new();
        while let Some(chunk) = resp.chunk().await.map_err(err)? {
            if body.len() + chunk.len() > limit {
                return Err(too_large());
            }
            body.extend_from_slice(&chunk);
        }
        Ok(Got::Body(body, validators))
    }
}

fn unreachable_not_modified<T>(url: &str) -> Result<T, FetchError> {
    Err(FetchError::Status {
        url: url.into(),
        status: 304,
    })
}

fn classify(url: &str, e: reqwest::Error) -> FetchError {
    // The whole chain: reqwest's own message is often just "error sending request".
    let mut reason = e.to_string();
    let mut src = std::error::Error::source(&e);
    while let Some(s) = src {
        reason.push_str(": ");
        reason.push_str(&s.to_string());
        src = s.source();
    }
    if e.is_redirect() {
        FetchError::Redirect {
            url: url.into(),
            reason,
        }
    } else if e.is_timeout() {
        FetchError::Timeout { url: url.into() }
    } else {
        FetchError::Network {
            url: url.into(),
            reason,
        }
    }
}
