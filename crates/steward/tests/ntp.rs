//! The real binary's NTP server, in Steward's namespace: a device in its own
//! namespace asks with a real SNTP client (NTPsec's `ntpdig`, Debian packages
//! `sntp`/`ntpsec-ntpdig`; Debian's busybox has no `ntpd` applet) through the
//! veth. A source outside `[network] lan_prefixes` gets nothing, and garbage
//! datagrams and a flood (rate limit) do not stop the service. Needs root (CI has it).

mod common;

use common::lan::{Lan, NsGateway};

/// Sends `datagrams` (hex) from `source` to `server`:123 inside the device
/// namespace and prints how many replies came back within `wait` seconds, and
/// the first reply in hex.
const PROBE: &str = r#"
import socket, sys, time
source, server, wait = sys.argv[1], sys.argv[2], float(sys.argv[3])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind((source, 0))
for h in sys.argv[4:]:
    s.sendto(bytes.fromhex(h), (server, 123))
s.settimeout(0.2)
got, first, end = 0, "", time.time() + wait
while time.time() < end:
    try:
        d = s.recv(2048)
    except socket.timeout:
        continue
    got += 1
    first = first or d.hex()
print(got, first)
"#;

/// A client request (LI 0, version 4, mode 3) with transmit timestamp `tx`.
fn request_hex(tx: u64) -> String {
    let mut b = [0u8; 48];
    b[0] = (4 << 3) | 3;
    b[40..48].copy_from_slice(&tx.to_be_bytes());
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn probe(lan: &Lan, source: &str, wait: &str, datagrams: &[String]) -> (usize, String) {
    let mut args = vec!["python3", "-c", PROBE, source, "10.217.0.1", wait];
    args.extend(datagrams.iter().map(String::as_str));
    let out = lan.dev_cmd(&args).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "probe: {text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut parts = text.split_whitespace();
    let got = parts.next().unwrap().parse().unwrap();
    (got, parts.next().unwrap_or_default().to_string())
}

#[test]
fn devices_get_the_time_from_steward_and_others_get_nothing() {
    common::lan::require_root();
    common::require("ntpdig");
    common::require("python3");
    let lan = Lan::new("10.217.0.1/24");
    lan.dev_run(&["ip", "addr", "add", "10.217.0.5/24", "dev", &lan.dev_if]);
    let dir = tempfile::tempdir().unwrap();
    let config = format!(
        r#"
[network]
lan_interface = "{}"
lan_prefixes = ["10.217.0.0/24"]

[ntp]
enabled = true
listen = "0.0.0.0:123"
stratum = 4
"#,
        lan.gw_if
    );
    let gw = NsGateway::start(&lan.gw, &dir.path().join("gw"), &config);
    let ntpdig = || {
        let out = lan
            .dev_cmd(&["ntpdig", "-j", "-t", "2", "10.217.0.1"])
            .output()
            .unwrap();
        (
            out.status.success(),
            format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ),
        )
    };
    // The gateway reports ready before its NTP socket may be answering in the
    // namespace: ask again (bounded) until an answer comes.
    let (mut ok, mut out) = ntpdig();
    for _ in 0..10 {
        if ok {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(500));
        (ok, out) = ntpdig();
    }
    assert!(ok, "ntpdig got no answer from Steward:\n{out}");
    let reply: serde_json::Value = serde_json::from_str(out.trim())
        .unwrap_or_else(|e| panic!("ntpdig -j printed no JSON ({e}):\n{out}"));
    assert_eq!(reply["stratum"], 4, "{reply:#}");
    // The same clock on both ends of the veth: the offset is tiny.
    let offset = reply["offset"].as_f64().unwrap_or(f64::MAX);
    assert!(offset.abs() < 0.5, "offset {offset}: {reply:#}");

    // A raw request: a server reply (mode 4), version and origin echoed.
    let tx = 0xe000_0000_1234_5678u64;
    let (got, first) = probe(&lan, "10.217.0.5", "1", &[request_hex(tx)]);
    assert_eq!(got, 1, "one request, one reply");
    assert_eq!(&first[..2], "24", "LI 0, version 4, mode 4: {first}");
    assert_eq!(&first[48..64], &format!("{tx:016x}"), "origin: {first}");

    // A source outside [network] lan_prefixes, on the LAN interface: nothing.
    lan.dev_run(&["ip", "addr", "add", "10.99.0.5/32", "dev", &lan.dev_if]);
    lan.gw_run(&["ip", "route", "add", "10.99.0.5/32", "dev", &lan.gw_if]);
    let (got, _) = probe(&lan, "10.99.0.5", "2", &[request_hex(1)]);
    assert_eq!(got, 0, "answered a source off the LAN");
    let log = || std::fs::read_to_string(gw.data.with_extension("log")).unwrap_or_default();
    // It did arrive, and Steward chose to ignore it.
    assert!(
        log().contains("NTP: request from outside the LAN ignored"),
        "{}",
        log()
    );

    // Garbage: empty, short, a server reply, version 0, random bytes, a jumbo
    // datagram. None is answered, and the service goes on.
    let mut server_reply = request_hex(1);
    server_reply.replace_range(0..2, "24");
    let mut version0 = request_hex(1);
    version0.replace_range(0..2, "03");
    let garbage = vec![
        String::new(),
        "1b".into(),
        "1b".repeat(47),
        server_reply,
        version0,
        "deadbeef".repeat(12),
        "ff".repeat(1400),
    ];
    let (got, _) = probe(&lan, "10.217.0.5", "1", &garbage);
    assert_eq!(got, 0, "answered garbage");
    assert!(log().contains("NTP: datagram dropped"), "{}", log());
    // Wait out the rate limit the probes above used, then ask again.
    std::thread::sleep(std::time::Duration::from_secs(5));
    let (ok, out) = ntpdig();
    assert!(ok, "no answer after garbage:\n{out}");

    // A flood from one device: a few answers, the rest dropped.
    std::thread::sleep(std::time::Duration::from_secs(5));
    let flood: Vec<String> = (0..100).map(request_hex).collect();
    let (got, _) = probe(&lan, "10.217.0.5", "2", &flood);
    assert!((1..=16).contains(&got), "{got} replies to 100 requests");
    assert!(log().contains("NTP: over the per-device rate"), "{}", log());
}
