//! `steward mud …` as a maker and an operator use it, through the real binary:
//! new → sign → check round trip with a PKI made by the `openssl` tool, the public
//! vectors, `--at` on the expired luminaire signature, `--json`, `learn` on a
//! capture written here, usage errors (exit 2), and `show` against a local HTTPS
//! server.

mod common;

use common::maker_pki;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_steward");

fn steward(args: &[&str]) -> Output {
    Command::new(BIN)
        .arg("mud")
        .args(args)
        .env("STEWARD_LOG", "warn")
        .output()
        .expect("run steward")
}

fn text(o: &Output) -> String {
    format!(
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn p(path: &Path) -> &str {
    path.to_str().expect("utf-8 temp path")
}

fn vectors() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/vectors/mud")
}

/// `steward mud new` then `steward mud sign`: the maker's two commands.
fn new_and_sign(dir: &Path, mud_url: &str) -> PathBuf {
    let file = dir.join("device.json");
    let o = steward(&[
        "new",
        "--mud-url",
        mud_url,
        "--maker",
        "Maker",
        "--model",
        "Sensor 1",
        "--allow",
        "tcp/443@api.maker.example",
        "--allow",
        "udp/123@pool.ntp.org",
        "--allow",
        "in:tcp/80@local-networks",
        "--out",
        p(&file),
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let o = steward(&[
        "sign",
        p(&file),
        "--key",
        p(&dir.join("signer.key")),
        "--cert",
        p(&dir.join("signer.pem")),
    ]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(dir.join("device.p7s").exists());
    file
}

#[test]
fn new_sign_check_round_trip_and_tampering() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    maker_pki(dir, "Maker");
    let file = new_and_sign(dir, "https://mud.maker.example/sensor1.json");
    let sig = dir.join("device.p7s");
    let ca = dir.join("ca.pem");

    let o = steward(&["check", p(&file), "--signature", p(&sig), "--ca", p(&ca)]);
    assert!(o.status.success(), "{}", text(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("signature: verified"), "{out}");
    assert!(
        out.contains("may open TCP connections to api.maker.example"),
        "{out}"
    );
    assert!(out.contains("pool.ntp.org"), "{out}");
    assert!(out.trim_end().ends_with("valid"), "{out}");

    // Strict parsing accepts what `new` writes.
    let o = steward(&["check", p(&file), "--strict"]);
    assert!(o.status.success(), "{}", text(&o));

    // One changed byte: the signature no longer matches; exit 1.
    let mut bytes = std::fs::read(&file).unwrap();
    let i = bytes.windows(6).position(|w| w == b"Sensor").unwrap();
    bytes[i] = b's';
    let tampered = dir.join("tampered.json");
    std::fs::write(&tampered, &bytes).unwrap();
    let o = steward(&[
        "check",
        p(&tampered),
        "--signature",
        p(&sig),
        "--ca",
        p(&ca),
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("does not match the file"),
        "{}",
        text(&o)
    );

    // Another maker's CA: untrusted, exit 1.
    let other = tempfile::tempdir().unwrap();
    maker_pki(other.path(), "Other");
    let o = steward(&[
        "check",
        p(&file),
        "--signature",
        p(&sig),
        "--ca",
        p(&other.path().join("ca.pem")),
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));

    // `show` on the file finds the .p7s beside it, and fails closed without it.
    let o = steward(&["show", p(&file), "--ca", p(&ca)]);
    assert!(o.status.success(), "{}", text(&o));
    std::fs::copy(&file, dir.join("unsigned.json")).unwrap();
    let o = steward(&["show", p(&dir.join("unsigned.json")), "--ca", p(&ca)]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(String::from_utf8_lossy(&o.stdout).contains("no signature"));
    let o = steward(&["show", p(&dir.join("unsigned.json")), "--allow-unsigned"]);
    assert!(o.status.success(), "{}", text(&o));
}

#[test]
fn every_vector_checks() {
    let mut n = 0;
    for folder in ["nist", "osmud", "cisco-luminaire"] {
        let mut stack = vec![vectors().join(folder)];
        while let Some(d) = stack.pop() {
            for e in std::fs::read_dir(&d).unwrap() {
                let path = e.unwrap().path();
                if path.is_dir() {
                    stack.push(path);
                } else if path.extension().is_some_and(|x| x == "json")
                    || path.file_name().is_some_and(|f| f == "MUDFILE.NEST")
                {
                    let o = steward(&["check", p(&path)]);
                    assert!(o.status.success(), "{}: {}", path.display(), text(&o));
                    n += 1;
                }
            }
        }
    }
    assert!(n >= 10, "only {n} vector files found");
}

#[test]
fn luminaire_signature_at_a_past_time() {
    let d = vectors().join("cisco-luminaire");
    let file = d.join("Luminaire_150.json");
    let sig = d.join("Luminaire_150.p7s");
    let ca = d.join("luminaire-cacert.pem");
    let args = |at: Option<&'static str>| {
        let mut a = vec![
            "check".to_owned(),
            p(&file).to_owned(),
            "--signature".into(),
            p(&sig).to_owned(),
            "--ca".into(),
            p(&ca).to_owned(),
        ];
        if let Some(t) = at {
            a.extend(["--at".to_owned(), t.to_owned()]);
        }
        a
    };
    let run = |a: Vec<String>| steward(&a.iter().map(String::as_str).collect::<Vec<_>>());

    let o = run(args(Some("2019-01-01T00:00:00Z")));
    assert!(o.status.success(), "{}", text(&o));
    assert!(String::from_utf8_lossy(&o.stdout).contains("signature: verified"));

    let o = run(args(None));
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("expired"),
        "{}",
        text(&o)
    );

    // --json: a report a program can read.
    let mut a = args(Some("2019-01-01T00:00:00Z"));
    a.push("--json".into());
    let o = run(a);
    assert!(o.status.success(), "{}", text(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("--json prints JSON");
    assert_eq!(v["valid"], true);
    assert_eq!(v["signature"]["status"], "verified");
    assert_eq!(v["mud_url"], "https://luminaire.example.com/Luminaire_150");
    assert!(!v["policy"]["rules"].as_array().unwrap().is_empty());
    assert!(!v["summary"].as_array().unwrap().is_empty());

    let mut a = args(None);
    a.push("--json".into());
    let o = run(a);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["valid"], false);
    assert_eq!(v["signature"]["status"], "rejected");
}

#[test]
fn invalid_files_exit_1_usage_errors_exit_2() {
    let tmp = tempfile::tempdir().unwrap();
    let bad = tmp.path().join("bad.json");
    std::fs::write(
        &bad,
        br#"{"ietf-mud:mud": {"mud-version": 1, "mud-url": "http://insecure.example/x"}}"#,
    )
    .unwrap();
    let o = steward(&["check", p(&bad)]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("/ietf-mud:mud/mud-url"), "{out}");
    assert!(out.trim_end().ends_with("invalid"), "{out}");

    std::fs::write(&bad, b"{\"ietf-mud:mud\": [1, 2").unwrap();
    let o = steward(&["check", p(&bad), "--json"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["valid"], false);

    for args in [
        vec!["check"],
        vec!["check", "/nonexistent/file.json"],
        vec!["check", p(&bad), "--at", "yesterday"],
        vec!["check", p(&bad), "--ca", "/nonexistent/ca.pem"],
        vec!["check", p(&bad), "--ca", p(&bad)],
        vec![
            "new",
            "--mud-url",
            "https://m.example/x.json",
            "--allow",
            "tcp/443",
        ],
        vec!["new", "--mud-url", "http://m.example/x.json"],
        vec![
            "learn",
            "--pcap",
            p(&bad),
            "--device",
            "not-an-address",
            "--mud-url",
            "https://m.example/x",
        ],
        vec!["frobnicate"],
    ] {
        let o = steward(&args);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", text(&o));
    }
}

// --- a small pcap, written by hand (the format is 24 + 16 bytes of headers) ---

const DEV_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x50];
const GW_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x01];
const DEV: [u8; 4] = [192, 168, 1, 50];

fn ipv4(src: [u8; 4], dst: [u8; 4], proto: u8, payload: &[u8]) -> Vec<u8> {
    let len = (20 + payload.len()) as u16;
    let mut h = vec![0x45, 0];
    h.extend(len.to_be_bytes());
    h.extend([0, 1, 0x40, 0, 64, proto, 0, 0]);
    h.extend(src);
    h.extend(dst);
    let sum = h
        .chunks(2)
        .map(|c| u32::from(u16::from_be_bytes([c[0], c[1]])))
        .sum::<u32>();
    let sum = (sum & 0xffff) + (sum >> 16);
    h[10..12].copy_from_slice(&(!(sum as u16)).to_be_bytes());
    h.extend(payload);
    h
}

fn ether(src: [u8; 6], dst: [u8; 6], ip: Vec<u8>) -> Vec<u8> {
    let mut f = dst.to_vec();
    f.extend(src);
    f.extend([0x08, 0x00]);
    f.extend(ip);
    f
}

fn udp(src: [u8; 4], sport: u16, dst: [u8; 4], dport: u16, data: &[u8]) -> Vec<u8> {
    let mut u = sport.to_be_bytes().to_vec();
    u.extend(dport.to_be_bytes());
    u.extend(((8 + data.len()) as u16).to_be_bytes());
    u.extend([0, 0]);
    u.extend(data);
    let ip = ipv4(src, dst, 17, &u);
    if src == DEV {
        ether(DEV_MAC, GW_MAC, ip)
    } else {
        ether(GW_MAC, DEV_MAC, ip)
    }
}

const SYN: u8 = 0x02;
const SYN_ACK: u8 = 0x12;

fn tcp(src: [u8; 4], sport: u16, dst: [u8; 4], dport: u16, flags: u8) -> Vec<u8> {
    let mut t = sport.to_be_bytes().to_vec();
    t.extend(dport.to_be_bytes());
    t.extend([0, 0, 0, 1, 0, 0, 0, 0, 0x50, flags, 0xff, 0xff, 0, 0, 0, 0]);
    let ip = ipv4(src, dst, 6, &t);
    if src == DEV {
        ether(DEV_MAC, GW_MAC, ip)
    } else {
        ether(GW_MAC, DEV_MAC, ip)
    }
}

fn dns_name(name: &str) -> Vec<u8> {
    let mut v = Vec::new();
    for l in name.split('.') {
        v.push(l.len() as u8);
        v.extend(l.as_bytes());
    }
    v.push(0);
    v
}

fn dns_query(id: u16, name: &str) -> Vec<u8> {
    let mut m = id.to_be_bytes().to_vec();
    m.extend([0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]);
    m.extend(dns_name(name));
    m.extend([0, 1, 0, 1]);
    m
}

fn dns_answer(id: u16, name: &str, addr: [u8; 4]) -> Vec<u8> {
    let mut m = id.to_be_bytes().to_vec();
    m.extend([0x81, 0x80, 0, 1, 0, 1, 0, 0, 0, 0]);
    m.extend(dns_name(name));
    m.extend([0, 1, 0, 1]);
    m.extend([0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0x01, 0x2c, 0, 4]);
    m.extend(addr);
    m
}

fn pcap(frames: &[Vec<u8>]) -> Vec<u8> {
    let mut f = vec![0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0];
    f.extend([0; 8]);
    f.extend(65535u32.to_le_bytes());
    f.extend(1u32.to_le_bytes()); // LINKTYPE_ETHERNET
    for (i, fr) in frames.iter().enumerate() {
        f.extend((1_700_000_000u32 + i as u32).to_le_bytes());
        f.extend(0u32.to_le_bytes());
        f.extend((fr.len() as u32).to_le_bytes());
        f.extend((fr.len() as u32).to_le_bytes());
        f.extend(fr);
    }
    f
}

#[test]
fn learn_from_a_capture_then_check() {
    let gw = [192, 168, 1, 1];
    let api = [93, 184, 216, 34];
    let ntp = [198, 51, 100, 7];
    let phone = [192, 168, 1, 20];
    let frames = vec![
        udp(DEV, 40001, gw, 53, &dns_query(7, "api.maker.example")),
        udp(gw, 53, DEV, 40001, &dns_answer(7, "api.maker.example", api)),
        tcp(DEV, 40002, api, 443, SYN),
        tcp(api, 443, DEV, 40002, SYN_ACK),
        udp(DEV, 40003, ntp, 123, b"ntp request"),
        udp(ntp, 123, DEV, 40003, b"ntp reply"),
        tcp(phone, 51000, DEV, 80, SYN),
        tcp(DEV, 80, phone, 51000, SYN_ACK),
    ];
    let tmp = tempfile::tempdir().unwrap();
    let cap = tmp.path().join("device.pcap");
    std::fs::write(&cap, pcap(&frames)).unwrap();
    let out = tmp.path().join("learned.json");
    let o = steward(&[
        "learn",
        "--pcap",
        p(&cap),
        "--device",
        "192.168.1.50",
        "--mud-url",
        "https://mud.example/learned.json",
        "--out",
        p(&out),
    ]);
    assert!(o.status.success(), "{}", text(&o));

    let o = steward(&["check", p(&out), "--strict", "--json"]);
    assert!(o.status.success(), "{}", text(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let rules = v["policy"]["rules"].as_array().unwrap();
    let has = |dir: &str, peer: serde_json::Value, port: u16| {
        rules.iter().any(|r| {
            r["direction"] == dir
                && r["peer"] == peer
                && r["peer_ports"].to_string().contains(&port.to_string())
        })
    };
    let dns = |n: &str| serde_json::json!({"kind": "dns-name", "value": n});
    assert!(
        has("from-device", dns("api.maker.example"), 443),
        "{rules:#?}"
    );
    let summary = v["summary"].to_string();
    assert!(summary.contains("198.51.100.7"), "{summary}");
    assert!(summary.contains("123"), "{summary}");
    assert!(
        summary.contains("accept TCP connections from 192.168.1.20"),
        "{summary}"
    );
    // Exactly the flows seen: no DNS (53) rules, nothing to the gateway.
    assert!(!summary.contains(" 53"), "{summary}");
    assert!(!summary.contains("192.168.1.1/"), "{summary}");
}

// --- `show URL` against a local HTTPS server ---

/// Serves `docs` (path → body) over HTTPS on 127.0.0.1 with a certificate from a
/// CA made here; returns the address and the CA (PEM).
async fn https_server(
    docs: std::sync::Arc<std::sync::Mutex<std::collections::HashMap<String, Vec<u8>>>>,
) -> (std::net::SocketAddr, String) {
    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
    use std::sync::Arc;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "test TLS CA");
    let ca_cert = ca_params.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca_params, ca_key);
    let key = KeyPair::generate().unwrap();
    let leaf = CertificateParams::new(vec!["127.0.0.1".to_string()])
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
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            let docs = docs.clone();
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                    match tls.read(&mut chunk).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => buf.extend_from_slice(&chunk[..n]),
                    }
                }
                let head = String::from_utf8_lossy(&buf).to_string();
                let path = head.split(' ').nth(1).unwrap_or("").to_owned();
                let found = docs.lock().unwrap().get(&path).cloned();
                let (status, body) = match found {
                    Some(b) => (200, b),
                    None => (404, b"not found".to_vec()),
                };
                let out = format!(
                    "HTTP/1.1 {status} X\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    body.len()
                );
                let _ = tls.write_all(out.as_bytes()).await;
                let _ = tls.write_all(&body).await;
                let _ = tls.shutdown().await;
            });
        }
    });
    (addr, ca_cert.pem())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn show_fetches_verifies_and_summarises() {
    let docs = std::sync::Arc::new(std::sync::Mutex::new(std::collections::HashMap::new()));
    let (addr, tls_ca) = https_server(docs.clone()).await;
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().to_owned();
    let url = format!("https://{addr}/sensor1.json");
    let tls_ca_path = dir.join("tls-ca.pem");
    std::fs::write(&tls_ca_path, tls_ca).unwrap();

    let (d, u) = (dir.clone(), url.clone());
    let file = tokio::task::spawn_blocking(move || {
        maker_pki(&d, "Maker");
        new_and_sign(&d, &u)
    })
    .await
    .unwrap();
    {
        let mut docs = docs.lock().unwrap();
        docs.insert("/sensor1.json".to_owned(), std::fs::read(&file).unwrap());
        docs.insert(
            "/sensor1.p7s".to_owned(),
            std::fs::read(dir.join("device.p7s")).unwrap(),
        );
        docs.insert("/unsigned.json".to_owned(), std::fs::read(&file).unwrap());
    }
    let run = move |args: Vec<String>| {
        tokio::task::spawn_blocking(move || {
            steward(&args.iter().map(String::as_str).collect::<Vec<_>>())
        })
    };
    let ca = p(&dir.join("ca.pem")).to_owned();
    let tca = p(&tls_ca_path).to_owned();

    let o = run(vec![
        "show".into(),
        url.clone(),
        "--ca".into(),
        ca.clone(),
        "--tls-ca".into(),
        tca.clone(),
    ])
    .await
    .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("signature: verified"), "{out}");
    assert!(out.contains("api.maker.example"), "{out}");
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("fetched"),
        "{}",
        text(&o)
    );

    // Served under another URL: no signature there, and the mud-url does not match.
    let other = format!("https://{addr}/unsigned.json");
    let o = run(vec![
        "show".into(),
        other,
        "--ca".into(),
        ca.clone(),
        "--tls-ca".into(),
        tca.clone(),
    ])
    .await
    .unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("no signature"),
        "{}",
        text(&o)
    );

    // Without the TLS CA the server is not trusted: exit 1 with the reason.
    let o = run(vec!["show".into(), url.clone(), "--ca".into(), ca.clone()])
        .await
        .unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr)
            .to_lowercase()
            .contains("certificate"),
        "{}",
        text(&o)
    );

    // http:// is a usage error.
    let o = run(vec!["show".into(), format!("http://{addr}/sensor1.json")])
        .await
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
}
