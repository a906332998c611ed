//! The network lab itself (tools/lab/lab.sh), without Steward: the device hosts
//! reach the Internet services through the router, the lab DNS answers and moves
//! names, device-to-device traffic goes through the router's forward hook, and
//! teardown leaves nothing behind. Needs root.

mod common;

use common::lab::Lab;
use std::process::Command;

#[test]
fn lab_up_serves_and_tears_down() {
    let lab = Lab::up(2);
    let prefix = lab.prefix.clone();

    // Internet services, by address, from a device host.
    assert!(lab.curl_ok(1, "https://203.0.113.10/"), "HTTPS api");
    assert!(lab.curl_ok(1, "http://203.0.113.20/"), "HTTP other");
    assert!(lab.tcp_ok(1, "203.0.113.20", 7), "TCP echo");
    assert!(lab.ping_ok(2, "203.0.113.20"), "ping across the router");
    let echo = lab.exec(
        &lab.dev(1),
        5,
        &["bash", "-c", "echo hello | nc -w 2 203.0.113.20 7"],
    );
    assert_eq!(String::from_utf8_lossy(&echo.stdout).trim(), "hello");

    // DNS, and a name that moves.
    let dig = |name: &str| {
        let o = lab.exec(&lab.dev(1), 5, &["dig", "+short", "@203.0.113.53", name]);
        String::from_utf8_lossy(&o.stdout).trim().to_string()
    };
    common::require("dig");
    assert_eq!(dig("api.example.test"), "203.0.113.10");
    assert_eq!(dig("moving.example.test"), "203.0.113.30");
    lab.set_host("moving.example.test", "203.0.113.31");
    Lab::wait_for("the lab DNS to move the name", 5, || {
        dig("moving.example.test") == "203.0.113.31"
    });

    // Device to device goes through the router's IP layer (isolated bridge ports
    // with proxy ARP), so a forward-hook rule sees it.
    let r = lab.router();
    for cmd in [
        vec!["nft", "add", "table", "inet", "labcheck"],
        vec![
            "nft",
            "add chain inet labcheck seen { type filter hook forward priority 10; }",
        ],
        vec![
            "nft",
            "add rule inet labcheck seen ip saddr 10.77.0.11 ip daddr 10.77.0.12 counter",
        ],
    ] {
        let o = lab.exec(&r, 5, &cmd);
        assert!(
            o.status.success(),
            "{cmd:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
    }
    assert!(lab.ping_ok(1, &lab.dev_addr(2)), "lateral ping");
    let list = lab.exec(&r, 5, &["nft", "list", "chain", "inet", "labcheck", "seen"]);
    assert!(
        list.status.success(),
        "nft list: {}",
        String::from_utf8_lossy(&list.stderr)
    );
    let text = String::from_utf8_lossy(&list.stdout);
    let packets: u64 = text
        .split_whitespace()
        .skip_while(|w| *w != "packets")
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no counter in the listing: {text}"));
    assert!(
        packets > 0,
        "the forward hook saw no lateral packet: {text}"
    );

    drop(lab);
    let ns = Command::new("ip").args(["netns", "list"]).output().unwrap();
    let ns = String::from_utf8_lossy(&ns.stdout);
    assert!(
        !ns.lines().any(|l| l.starts_with(&format!("{prefix}-"))),
        "namespaces left behind: {ns}"
    );
    assert!(!std::path::Path::new(&format!("/tmp/steward-lab-{prefix}")).exists());
}
