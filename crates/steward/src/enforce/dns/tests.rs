//! The forwarder on loopback, asked by `dig`, forwarding to a real DNS server
//! (`tests/py/dns_upstream.py`, UDP and TCP), with a recording sink.

use super::*;
use std::io::BufRead;
use std::process::{Child, Command, Stdio};
use std::str::FromStr;
use tokio_util::sync::CancellationToken;

use crate::clock::SystemClock;

fn require(tool: &str) {
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

/// The upstream DNS server, killed on drop.
struct Upstream {
    child: Child,
    addr: SocketAddr,
    zone: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

impl Upstream {
    fn start(zone: serde_json::Value) -> Upstream {
        require("python3");
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("zone.json");
        std::fs::write(&path, zone.to_string()).unwrap();
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/py/dns_upstream.py");
        let mut child = Command::new("python3")
            .arg(script)
            .arg(&path)
            .stdout(Stdio::piped())
            .spawn()
            .expect("starting the upstream DNS server");
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let port: u16 = line
            .trim()
            .strip_prefix("port ")
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("upstream said `{line}`"));
        Upstream {
            child,
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
            zone: path,
            _dir: dir,
        }
    }

    fn set_zone(&self, zone: serde_json::Value) {
        std::fs::write(&self.zone, zone.to_string()).unwrap();
    }
}

impl Drop for Upstream {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

type Call = (IpAddr, Name, Vec<IpAddr>, Duration);

#[derive(Default)]
struct RecordingSink(Mutex<Vec<Call>>);

impl ResolvedSink for RecordingSink {
    fn resolved(&self, client: IpAddr, name: &Name, addrs: &[IpAddr], ttl: Duration) {
        lock(&self.0).push((client, name.clone(), addrs.to_vec(), ttl));
    }
}

impl RecordingSink {
    fn calls(&self) -> Vec<Call> {
        lock(&self.0).clone()
    }
}

struct Running {
    fwd: Arc<Forwarder>,
    sink: Arc<RecordingSink>,
    port: u16,
    stop: CancellationToken,
}

impl Drop for Running {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

fn settings(upstreams: Vec<SocketAddr>, lan: &str) -> Settings {
    Settings {
        lan: vec![IpNet::from_str(lan).unwrap()],
        upstreams,
        timeout: Duration::from_millis(800),
        max_inflight_per_client: 32,
        max_addresses: 64,
        max_tcp_per_client: 4,
        tcp_idle: Duration::from_secs(5),
    }
}

/// Bind UDP and TCP on one free loopback port and serve.
async fn start(settings: Settings) -> Running {
    let (udp, tcp) = loop {
        let udp = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let port = udp.local_addr().unwrap().port();
        if let Ok(tcp) = TcpListener::bind(("127.0.0.1", port)).await {
            break (udp, tcp);
        }
    };
    let port = udp.local_addr().unwrap().port();
    let sink = Arc::new(RecordingSink::default());
    let fwd = Forwarder::new(settings, sink.clone(), Arc::new(SystemClock));
    let stop = CancellationToken::new();
    let s = stop.clone();
    tokio::spawn(
        fwd.clone()
            .serve(udp, tcp, async move { s.cancelled().await }),
    );
    Running {
        fwd,
        sink,
        port,
        stop,
    }
}

/// Run dig (bounded by its own timeout and tries) and return its output.
async fn dig(port: u16, args: &[&str]) -> String {
    require("dig");
    let mut cmd = tokio::process::Command::new("dig");
    cmd.arg("@127.0.0.1")
        .args(["-p", &port.to_string(), "+time=3", "+tries=1"])
        .args(args);
    let out = tokio::time::timeout(Duration::from_secs(20), cmd.output())
        .await
        .expect("dig finished")
        .expect("dig ran");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn status(out: &str) -> &str {
    out.split("status: ")
        .nth(1)
        .and_then(|s| s.split(',').next())
        .unwrap_or_else(|| panic!("no status in dig output:\n{out}"))
}

fn name(s: &str) -> Name {
    Name::from_ascii(s).unwrap()
}

fn a_records(out: &str) -> Vec<(u32, IpAddr)> {
    out.lines()
        .filter(|l| !l.starts_with(';'))
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            match f.as_slice() {
                [_, ttl, "IN", "A" | "AAAA", ip] => Some((ttl.parse().ok()?, ip.parse().ok()?)),
                _ => None,
            }
        })
        .collect()
}

fn zone() -> serde_json::Value {
    let big: Vec<String> = (0..100).map(|i| format!("198.51.100.{i}")).collect();
    let huge: Vec<String> = (0..400)
        .map(|i| format!("10.77.{}.{}", i / 256, i % 256))
        .collect();
    serde_json::json!({
        "api.example.test": {"ttl": 300, "a": ["192.0.2.10"], "aaaa": ["2001:db8::10"]},
        "alias.example.test": {"ttl": 600, "cname": "edge.cdn.test"},
        "edge.cdn.test": {"ttl": 45, "a": ["192.0.2.20", "192.0.2.21"]},
        "big.example.test": {"ttl": 30, "a": big, "tc_udp": true},
        "huge.example.test": {"ttl": 30, "a": huge},
        "silent.example.test": {"drop": true},
    })
}

#[tokio::test]
async fn forwards_for_dig_and_feeds_the_sink_with_addresses_and_ttls() {
    let up = Upstream::start(zone());
    let run = start(settings(vec![up.addr], "127.0.0.0/8")).await;

    let out = dig(run.port, &["api.example.test", "A"]).await;
    assert_eq!(status(&out), "NOERROR", "{out}");
    let recs = a_records(&out);
    assert_eq!(recs.len(), 1, "{out}");
    assert_eq!(recs[0].1, IpAddr::from([192, 0, 2, 10]));
    assert!(recs[0].0 <= 300);

    // Through a CNAME: the sink hears the name the device asked, the chain's
    // addresses and the smallest TTL along it.
    let out = dig(run.port, &["alias.example.test", "A"]).await;
    assert_eq!(a_records(&out).len(), 2, "{out}");

    let out = dig(run.port, &["api.example.test", "AAAA"]).await;
    assert_eq!(
        a_records(&out)[0].1,
        "2001:db8::10".parse::<IpAddr>().unwrap()
    );

    let out = dig(run.port, &["nothing.example.test", "A"]).await;
    assert_eq!(status(&out), "NXDOMAIN", "{out}");

    let calls = run.sink.calls();
    let local = IpAddr::from([127, 0, 0, 1]);
    assert_eq!(calls.len(), 3, "{calls:?}");
    assert_eq!(
        calls[0],
        (
            local,
            name("api.example.test."),
            vec![IpAddr::from([192, 0, 2, 10])],
            Duration::from_secs(300)
        )
    );
    assert_eq!(calls[1].1, name("alias.example.test."));
    assert_eq!(
        calls[1].2,
        vec![IpAddr::from([192, 0, 2, 20]), IpAddr::from([192, 0, 2, 21])]
    );
    assert_eq!(calls[1].3, Duration::from_secs(45));
    assert_eq!(calls[2].2, vec!["2001:db8::10".parse::<IpAddr>().unwrap()]);

    let stats = run.fwd.client_stats(local).unwrap();
    assert_eq!(stats.queries, 4);
    assert_eq!(stats.answered, 3);
    assert_eq!(stats.nxdomain, 1);
    assert_eq!(stats.addresses, 4);
    assert!(stats.last_query.is_some());

    // The name's address changes upstream: the next answer carries the new one.
    let mut z = zone();
    z["api.example.test"]["a"] = serde_json::json!(["192.0.2.99"]);
    up.set_zone(z);
    let out = dig(run.port, &["api.example.test", "A"]).await;
    assert_eq!(a_records(&out)[0].1, IpAddr::from([192, 0, 2, 99]));
    assert_eq!(
        run.sink.calls().last().unwrap().2,
        vec![IpAddr::from([192, 0, 2, 99])]
    );
}

#[tokio::test]
async fn truncated_answers_go_over_tcp_on_both_sides_and_are_capped() {
    let up = Upstream::start(zone());
    let run = start(settings(vec![up.addr], "127.0.0.0/8")).await;
    // The upstream truncates over UDP: the forwarder asks it again over TCP. The
    // answer (100 addresses, capped to 64) does not fit 512 bytes: dig gets TC
    // over UDP and retries over TCP by itself.
    let out = dig(run.port, &["+noedns", "big.example.test", "A"]).await;
    assert_eq!(status(&out), "NOERROR", "{out}");
    assert!(out.contains("Truncated, retrying in TCP mode"), "{out}");
    let recs = a_records(&out);
    assert_eq!(recs.len(), 64, "{out}");
    let calls = run.sink.calls();
    // One answer for the UDP query (sent truncated), one for the TCP retry.
    assert_eq!(calls.len(), 2, "{calls:?}");
    let told: Vec<IpAddr> = recs.iter().map(|r| r.1).collect();
    assert_eq!(
        calls[1].2, told,
        "the device is told exactly what the sink got"
    );
    let stats = run.fwd.client_stats(IpAddr::from([127, 0, 0, 1])).unwrap();
    assert_eq!(stats.truncated, 1);
    assert_eq!(stats.tcp_queries, 1);
    assert_eq!(stats.addresses_capped, 2 * 36);

    // Hundreds of addresses over TCP straight away: capped, consistent.
    let out = dig(run.port, &["+tcp", "huge.example.test", "A"]).await;
    let recs = a_records(&out);
    assert_eq!(recs.len(), 64, "{out}");
    assert_eq!(run.sink.calls().last().unwrap().2.len(), 64);
}

#[tokio::test]
async fn refuses_queries_from_outside_the_lan() {
    let up = Upstream::start(zone());
    let run = start(settings(vec![up.addr], "192.0.2.0/24")).await;
    let out = dig(run.port, &["api.example.test", "A"]).await;
    assert_eq!(status(&out), "REFUSED", "{out}");
    let out = dig(run.port, &["+tcp", "api.example.test", "A"]).await;
    assert!(!out.contains("status: NOERROR"), "{out}");
    assert!(run.sink.calls().is_empty());
    assert!(
        run.fwd.stats().is_empty(),
        "strangers get no statistics entry"
    );
}

#[tokio::test]
async fn dead_upstreams_time_out_and_the_next_one_answers() {
    let up = Upstream::start(zone());
    // A UDP socket that never answers, and a closed TCP port.
    let dead = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let run = start(settings(
        vec![dead.local_addr().unwrap(), up.addr],
        "127.0.0.0/8",
    ))
    .await;
    let out = dig(run.port, &["api.example.test", "A"]).await;
    assert_eq!(status(&out), "NOERROR", "{out}");

    let out = dig(run.port, &["silent.example.test", "A"]).await;
    assert_eq!(status(&out), "SERVFAIL", "{out}");
    let stats = run.fwd.client_stats(IpAddr::from([127, 0, 0, 1])).unwrap();
    assert_eq!(stats.servfail, 1);
}

#[tokio::test]
async fn malformed_packets_and_floods_leave_the_forwarder_serving() {
    let up = Upstream::start(zone());
    let mut s = settings(vec![up.addr], "127.0.0.0/8");
    s.max_inflight_per_client = 2;
    let run = start(s).await;
    let sock = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let target = SocketAddr::from(([127, 0, 0, 1], run.port));
    let mut garbage: Vec<Vec<u8>> = vec![
        vec![],
        vec![1, 2, 3],
        vec![0xab, 0xcd, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0],
        vec![0xff; 600],
        // A question whose label length runs past the end.
        vec![0, 9, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 63, b'a', b'b'],
        // A compression pointer to itself.
        vec![0, 10, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0xc0, 12, 0, 1, 0, 1],
    ];
    garbage.push((0..=255u8).cycle().take(4000).collect());
    for g in &garbage {
        sock.send_to(g, target).await.unwrap();
    }
    // The header-readable ones get FORMERR with their id.
    let mut buf = [0u8; 1500];
    let (n, _) = tokio::time::timeout(Duration::from_secs(5), sock.recv_from(&mut buf))
        .await
        .expect("an error answer")
        .unwrap();
    let m = Message::from_vec(&buf[..n]).unwrap();
    assert_eq!(m.response_code, ResponseCode::FormErr);

    // More queries in flight than allowed (the upstream never answers these):
    // the excess gets SERVFAIL at once.
    let q = |id: u16| {
        let mut m = Message::query();
        m.metadata.id = id;
        m.add_query(lan::dns::Query::query(
            name("silent.example.test."),
            lan::dns::RecordType::A,
        ));
        m.to_vec().unwrap()
    };
    let flood = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    for id in 0..6 {
        flood.send_to(&q(id), target).await.unwrap();
    }
    let (n, _) = tokio::time::timeout(Duration::from_secs(5), flood.recv_from(&mut buf))
        .await
        .expect("an over-limit answer")
        .unwrap();
    let m = Message::from_vec(&buf[..n]).unwrap();
    assert_eq!(m.response_code, ResponseCode::ServFail);

    // Once the flood's slots are given back (upstream timeout), service goes on.
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let out = dig(run.port, &["api.example.test", "A"]).await;
    assert_eq!(status(&out), "NOERROR", "still serving:\n{out}");
    let stats = run.fwd.client_stats(IpAddr::from([127, 0, 0, 1])).unwrap();
    assert!(stats.malformed >= 5, "{stats:?}");
    assert!(stats.over_limit >= 1, "{stats:?}");
}
