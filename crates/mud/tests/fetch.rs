//! Fetching (feature `fetch`) against a real HTTPS server on 127.0.0.1, port 0,
//! with a TLS certificate from a CA made here (rcgen) and a MUD file signed by a
//! maker CA made here (openssl): fetch + verify, 304 on refresh, cache-validity
//! with an injected clock, size cap, http refused, redirect limits, timeouts,
//! and the last good copy kept when the server goes away.

mod common;

use mud::builder::{Allow, NewMud};
use mud::fetch::{FetchConfig, FetchError, FetchStatus, Fetcher, ManualClock};
use mud::signature::sign;
use mud::{CheckOptions, SignatureStatus, TrustAnchors, check};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use time::OffsetDateTime;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

// --- a small HTTPS server whose answers the test sets ---

#[derive(Debug, Clone)]
struct Req {
    path: String,
    headers: HashMap<String, String>,
}

#[derive(Clone)]
struct Doc {
    body: Vec<u8>,
    etag: &'static str,
}

#[derive(Default)]
struct Site {
    docs: HashMap<String, Doc>,
    /// path → Location
    redirects: HashMap<String, String>,
    /// Paths answered with 500.
    broken: Vec<String>,
    log: Vec<Req>,
}

const LAST_MODIFIED: &str = "Mon, 01 Jan 2024 00:00:00 GMT";

fn answer(site: &mut Site, req: Req) -> (u16, Vec<(String, String)>, Vec<u8>) {
    site.log.push(req.clone());
    if site.broken.contains(&req.path) {
        return (500, vec![], b"down for maintenance".to_vec());
    }
    if let Some(loc) = site.redirects.get(&req.path) {
        return (302, vec![("Location".into(), loc.clone())], vec![]);
    }
    match site.docs.get(&req.path) {
        Some(d) => {
            let headers = vec![
                ("ETag".into(), d.etag.to_owned()),
                ("Last-Modified".into(), LAST_MODIFIED.into()),
            ];
            if req.headers.get("if-none-match").map(String::as_str) == Some(d.etag) {
                (304, headers, vec![])
            } else {
                (200, headers, d.body.clone())
            }
        }
        None => (404, vec![], b"not found".to_vec()),
    }
}

struct Server {
    addr: SocketAddr,
    tls_ca_pem: Vec<u8>,
    site: Arc<Mutex<Site>>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
}

impl Server {
    async fn start() -> Server {
        use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
        let ca_key = KeyPair::generate().unwrap();
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "test TLS CA");
        let ca_cert = ca_params.self_signed(&ca_key).unwrap();
        let issuer = Issuer::new(ca_params, ca_key);
        let key = KeyPair::generate().unwrap();
        let leaf = CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".into()])
            .unwrap()
            .signed_by(&key, &issuer)
            .unwrap();
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(
                vec![leaf.der().clone()],
                rustls::pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into()),
            )
            .unwrap();
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let site = Arc::new(Mutex::new(Site::default()));
        let (tx, mut rx) = tokio::sync::oneshot::channel();
        let s = site.clone();
        let task = tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = &mut rx => break,
                    Ok((tcp, _)) = listener.accept() => {
                        let acceptor = acceptor.clone();
                        let site = s.clone();
                        tokio::spawn(async move {
                            let Ok(mut tls) = acceptor.accept(tcp).await else { return };
                            let mut buf = Vec::new();
                            let mut chunk = [0u8; 4096];
                            while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                                match tls.read(&mut chunk).await {
                                    Ok(0) | Err(_) => return,
                                    Ok(n) => buf.extend_from_slice(&chunk[..n]),
                                }
                            }
                            let head = String::from_utf8_lossy(&buf).to_string();
                            let mut lines = head.split("\r\n");
                            let path = lines.next().unwrap_or("").split(' ').nth(1).unwrap_or("").to_owned();
                            let headers = lines
                                .filter_map(|l| l.split_once(": "))
                                .map(|(k, v)| (k.to_ascii_lowercase(), v.to_owned()))
                                .collect();
                            let (status, hdrs, body) = answer(&mut site.lock().unwrap(), Req { path, headers });
                            let mut out = format!("HTTP/1.1 {status} X\r\nContent-Length: {}\r\nConnection: close\r\n", body.len());
                            for (k, v) in hdrs {
                                out.push_str(&format!("{k}: {v}\r\n"));
                            }
                            out.push_str("\r\n");
                            let _ = tls.write_all(out.as_bytes()).await;
                            let _ = tls.write_all(&body).await;
                            let _ = tls.shutdown().await;
                        });
                    }
                }
            }
        });
        Server {
            addr,
            tls_ca_pem: ca_cert.pem().into_bytes(),
            site,
            stop: Some(tx),
            task,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("https://{}{path}", self.addr)
    }

    fn put(&self, path: &str, body: Vec<u8>, etag: &'static str) {
        self.site
            .lock()
            .unwrap()
            .docs
            .insert(path.into(), Doc { body, etag });
    }

    fn log(&self) -> Vec<Req> {
        self.site.lock().unwrap().log.clone()
    }

    /// Stops listening: connections are refused from now on.
    async fn stop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        (&mut self.task).await.unwrap();
    }
}

fn config(server: &Server) -> FetchConfig {
    FetchConfig {
        public_roots: false,
        extra_roots_pem: vec![server.tls_ca_pem.clone()],
        ..Default::default()
    }
}

fn t0() -> OffsetDateTime {
    time::macros::datetime!(2025-06-01 12:00 UTC)
}

/// A maker's signed MUD file for `url`, valid for `hours` of cache.
fn signed_file(url: &str, hours: u8, maker: &common::Pki, model: &str) -> (Vec<u8>, Vec<u8>) {
    let signer = common::signer(maker, "mud.maker.example");
    let mut m = NewMud::new(url, OffsetDateTime::now_utc());
    m.mfg_name = Some("Maker".into());
    m.model_name = Some(model.into());
    m.cache_validity = Some(hours);
    m.allow
        .push("tcp/443@api.maker.example".parse::<Allow>().unwrap());
    let body = m.build().unwrap().to_json_bytes();
    let sig = sign(&body, &signer.cert_pem, &signer.key_pem, None).unwrap();
    (body, sig)
}

fn requests_for(server: &Server, path: &str) -> Vec<Req> {
    server
        .log()
        .into_iter()
        .filter(|r| r.path == path)
        .collect()
}

#[tokio::test]
async fn fetch_verify_revalidate_and_cache_validity() {
    let server = Server::start().await;
    let url = server.url("/dev.json");
    let maker = common::ca("Maker");
    let (body, sig) = signed_file(&url, 1, &maker, "Sensor");
    server.put("/dev.json", body.clone(), "\"v1\"");
    server.put("/dev.p7s", sig.clone(), "\"s1\"");

    let clock = Arc::new(ManualClock::new(t0()));
    let f = Fetcher::new(config(&server), clock.clone()).unwrap();

    // First fetch: file and signature, which verifies.
    let got = f.fetch(&url).await.unwrap();
    assert_eq!(got.status, FetchStatus::Downloaded);
    assert_eq!(got.body, body);
    assert_eq!(got.signature.as_deref(), Some(&sig[..]));
    assert_eq!(
        got.signature_url.as_deref(),
        Some(&server.url("/dev.p7s")[..])
    );
    assert_eq!(got.fresh_until, t0() + time::Duration::hours(1));
    let opts = CheckOptions {
        anchors: TrustAnchors::from_pem(&maker.cert_pem).unwrap(),
        fetched_from: Some(url.clone()),
        signature: got.signature.clone(),
        ..Default::default()
    };
    let report = check(&got.body, &opts);
    assert!(report.valid, "{}", report.to_text());
    assert!(matches!(report.signature, SignatureStatus::Verified(_)));
    let file_req = &requests_for(&server, "/dev.json")[0];
    assert_eq!(file_req.headers["accept"], "application/mud+json");
    assert!(!file_req.headers.contains_key("if-none-match"));
    assert_eq!(
        requests_for(&server, "/dev.p7s")[0].headers["accept"],
        "application/pkcs7-signature"
    );

    // Within cache-validity (1 hour): no request at all.
    clock.advance(time::Duration::minutes(59));
    let got = f.fetch(&url).await.unwrap();
    assert_eq!(got.status, FetchStatus::Cached);
    assert_eq!(server.log().len(), 2);

    // Past it: a conditional request, answered 304.
    clock.advance(time::Duration::minutes(2));
    let got = f.fetch(&url).await.unwrap();
    assert_eq!(got.status, FetchStatus::NotModified, "{}", got.describe());
    assert_eq!(got.body, body);
    assert_eq!(got.signature.as_deref(), Some(&sig[..]));
    let reqs = requests_for(&server, "/dev.json");
    assert_eq!(reqs.len(), 2);
    assert_eq!(reqs[1].headers["if-none-match"], "\"v1\"");
    assert_eq!(reqs[1].headers["if-modified-since"], LAST_MODIFIED);
    assert_eq!(
        got.fresh_until,
        clock_now(&clock) + time::Duration::hours(1)
    );

    // The maker publishes a new version: downloaded, with its new signature.
    let (body2, sig2) = signed_file(&url, 1, &maker, "Sensor v2");
    server.put("/dev.json", body2.clone(), "\"v2\"");
    server.put("/dev.p7s", sig2.clone(), "\"s2\"");
    clock.advance(time::Duration::hours(2));
    let got = f.fetch(&url).await.unwrap();
    assert_eq!(got.status, FetchStatus::Downloaded);
    assert_eq!(got.body, body2);
    assert_eq!(got.signature.as_deref(), Some(&sig2[..]));
    // The signature of a changed file is fetched unconditionally.
    let sreqs = requests_for(&server, "/dev.p7s");
    assert!(!sreqs.last().unwrap().headers.contains_key("if-none-match"));
}

fn clock_now(c: &ManualClock) -> OffsetDateTime {
    mud::fetch::Clock::now(c)
}

#[tokio::test]
async fn refusals_size_scheme_redirects_timeout() {
    let server = Server::start().await;
    let maker = common::ca("Maker");
    let (body, _) = signed_file(&server.url("/dev.json"), 48, &maker, "Sensor");
    server.put("/dev.json", body.clone(), "\"v1\"");
    server.put("/big.json", vec![b' '; 300 * 1024], "\"big\"");
    {
        let mut s = server.site.lock().unwrap();
        for i in 1..=5 {
            let to = if i == 1 {
                "/dev.json".to_owned()
            } else {
                format!("/r{}", i - 1)
            };
            s.redirects.insert(format!("/r{i}"), to);
        }
        s.redirects.insert(
            "/to-http".into(),
            format!("http://{}/dev.json", server.addr),
        );
    }
    let f = Fetcher::new(config(&server), Arc::new(ManualClock::new(t0()))).unwrap();

    // http:// is refused before any request is made.
    let e = f
        .fetch(&format!("http://{}/dev.json", server.addr))
        .await
        .unwrap_err();
    assert!(matches!(e, FetchError::NotHttps(_)), "{e}");
    assert!(e.to_string().contains("https only"), "{e}");
    assert!(server.log().is_empty());

    // Oversize.
    let e = f.fetch(&server.url("/big.json")).await.unwrap_err();
    assert!(
        matches!(e, FetchError::TooLarge { limit: 262144, .. }),
        "{e}"
    );

    // A smaller cap applies to what was fine before.
    let small = Fetcher::new(
        FetchConfig {
            max_bytes: 100,
            ..config(&server)
        },
        Arc::new(ManualClock::new(t0())),
    )
    .unwrap();
    let e = small.fetch(&server.url("/dev.json")).await.unwrap_err();
    assert!(matches!(e, FetchError::TooLarge { limit: 100, .. }), "{e}");

    // Redirects: three are followed, four are not.
    let got = f.fetch(&server.url("/r3")).await.unwrap();
    assert_eq!(got.body, body);
    let e = f.fetch(&server.url("/r4")).await.unwrap_err();
    assert!(matches!(e, FetchError::Redirect { .. }), "{e}");
    assert!(e.to_string().contains("more than 3 redirects"), "{e}");

    // Never from https to http.
    let before = server.log().len();
    let e = f.fetch(&server.url("/to-http")).await.unwrap_err();
    assert!(matches!(e, FetchError::Redirect { .. }), "{e}");
    assert!(e.to_string().contains("not https"), "{e}");
    assert_eq!(server.log().len(), before + 1);

    // A status other than 200.
    let e = f.fetch(&server.url("/missing.json")).await.unwrap_err();
    assert!(matches!(e, FetchError::Status { status: 404, .. }), "{e}");

    // A server that accepts and never answers: the timeout ends it.
    let silent = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let silent_addr = silent.local_addr().unwrap();
    let hold = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((s, _)) = silent.accept().await {
            held.push(s);
        }
    });
    let quick = Fetcher::new(
        FetchConfig {
            timeout: Duration::from_millis(500),
            ..config(&server)
        },
        Arc::new(ManualClock::new(t0())),
    )
    .unwrap();
    let e = quick
        .fetch(&format!("https://{silent_addr}/dev.json"))
        .await
        .unwrap_err();
    assert!(matches!(e, FetchError::Timeout { .. }), "{e}");
    hold.abort();

    // A server whose certificate chains to no trusted root.
    let untrusting = Fetcher::new(
        FetchConfig {
            public_roots: true,
            extra_roots_pem: vec![],
            ..Default::default()
        },
        Arc::new(ManualClock::new(t0())),
    )
    .unwrap();
    let e = untrusting
        .fetch(&server.url("/dev.json"))
        .await
        .unwrap_err();
    assert!(e.to_string().to_lowercase().contains("certificate"), "{e}");
}

#[tokio::test]
async fn failed_refresh_keeps_the_last_good_file() {
    let mut server = Server::start().await;
    let url = server.url("/dev.json");
    let maker = common::ca("Maker");
    let (body, sig) = signed_file(&url, 2, &maker, "Sensor");
    server.put("/dev.json", body.clone(), "\"v1\"");
    server.put("/dev.p7s", sig.clone(), "\"s1\"");
    let clock = Arc::new(ManualClock::new(t0()));
    let f = Fetcher::new(config(&server), clock.clone()).unwrap();
    assert_eq!(f.fetch(&url).await.unwrap().status, FetchStatus::Downloaded);

    // The server answers 500: keep the last good copy, and say so.
    server.site.lock().unwrap().broken.push("/dev.json".into());
    clock.advance(time::Duration::hours(3));
    let got = f.fetch(&url).await.unwrap();
    match &got.status {
        FetchStatus::StaleKept { error, last_good } => {
            assert!(error.contains("500"), "{error}");
            assert_eq!(last_good, "2025-06-01T12:00:00Z");
        }
        other => panic!("expected stale-kept, got {other:?}"),
    }
    assert_eq!(got.body, body);
    assert_eq!(got.signature.as_deref(), Some(&sig[..]));
    assert!(got.describe().starts_with("warning:"), "{}", got.describe());

    // A new file that does not parse does not replace the good one either.
    {
        let mut s = server.site.lock().unwrap();
        s.broken.clear();
        s.docs.insert(
            "/dev.json".into(),
            Doc {
                body: b"{ not json".to_vec(),
                etag: "\"bad\"",
            },
        );
    }
    let got = f.refresh(&url).await.unwrap();
    assert!(
        matches!(&got.status, FetchStatus::StaleKept { error, .. } if error.contains("does not parse")),
        "{:?}",
        got.status
    );
    assert_eq!(got.body, body);

    // The signature goes missing: a signed copy is not traded for an unsigned one.
    {
        let mut s = server.site.lock().unwrap();
        s.docs.insert(
            "/dev.json".into(),
            Doc {
                body: body.clone(),
                etag: "\"v1\"",
            },
        );
        s.docs.remove("/dev.p7s");
    }
    let got = f.refresh(&url).await.unwrap();
    assert!(
        matches!(&got.status, FetchStatus::StaleKept { error, .. } if error.contains("signature")),
        "{:?}",
        got.status
    );
    assert_eq!(got.signature.as_deref(), Some(&sig[..]));

    // The server goes away altogether.
    server.stop().await;
    clock.advance(time::Duration::hours(3));
    let got = f.fetch(&url).await.unwrap();
    assert!(
        matches!(&got.status, FetchStatus::StaleKept { .. }),
        "{:?}",
        got.status
    );
    assert_eq!(got.body, body);

    // With nothing cached, a server that is down is an error.
    let fresh = Fetcher::new(config(&server), clock.clone()).unwrap();
    let e = fresh.fetch(&url).await.unwrap_err();
    assert!(matches!(e, FetchError::Network { .. }), "{e}");
}

#[tokio::test]
async fn missing_signature_is_reported_and_check_fails_closed() {
    let server = Server::start().await;
    let url = server.url("/unsigned.json");
    let maker = common::ca("Maker");
    let (body, _) = signed_file(&url, 48, &maker, "Sensor");
    server.put("/unsigned.json", body.clone(), "\"u1\"");
    let f = Fetcher::new(config(&server), Arc::new(ManualClock::new(t0()))).unwrap();
    let got = f.fetch(&url).await.unwrap();
    assert_eq!(got.signature, None);
    assert!(
        got.signature_error.as_deref().unwrap().contains("404"),
        "{:?}",
        got.signature_error
    );
    let opts = CheckOptions {
        anchors: TrustAnchors::from_pem(&maker.cert_pem).unwrap(),
        fetched_from: Some(url),
        signature: got.signature,
        ..Default::default()
    };
    let report = check(&got.body, &opts);
    assert!(!report.valid);
    assert!(matches!(report.signature, SignatureStatus::Rejected { .. }));
}
