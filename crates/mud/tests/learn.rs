//! `learn` on a capture made here: DNS lookups, TCP and UDP flows in both
//! directions, and noise from other hosts.
#![cfg(feature = "learn")]

use etherparse::PacketBuilder;
use mud::learn::{DeviceId, LearnOptions, learn};
use mud::model::Direction;
use mud::{CheckOptions, Peer, Protocol, check};
use pcap_file::pcap::{PcapHeader, PcapPacket, PcapWriter};
use std::time::Duration;

const DEV_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x50];
const GW_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x01];
const DEV: [u8; 4] = [192, 168, 1, 50];
const RESOLVER: [u8; 4] = [192, 168, 1, 1];
const API: [u8; 4] = [203, 0, 113, 10];
const NTP: [u8; 4] = [198, 51, 100, 7];
const PHONE: [u8; 4] = [192, 168, 1, 20];

fn dns_response(id: u16, name: &str, addr: [u8; 4]) -> Vec<u8> {
    let mut m = Vec::new();
    m.extend(id.to_be_bytes());
    m.extend([0x81, 0x80, 0, 1, 0, 1, 0, 0, 0, 0]);
    for label in name.split('.') {
        m.push(label.len() as u8);
        m.extend(label.as_bytes());
    }
    m.push(0);
    m.extend([0, 1, 0, 1]);
    m.extend([0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4]);
    m.extend(addr);
    m
}

enum T<'a> {
    Udp(u16, u16, &'a [u8]),
    Tcp(u16, u16, bool, bool),
}

fn frame(src_mac: [u8; 6], dst_mac: [u8; 6], src: [u8; 4], dst: [u8; 4], t: T) -> Vec<u8> {
    let b = PacketBuilder::ethernet2(src_mac, dst_mac).ipv4(src, dst, 64);
    let mut out = Vec::new();
    match t {
        T::Udp(sp, dp, payload) => b.udp(sp, dp).write(&mut out, payload).unwrap(),
        T::Tcp(sp, dp, syn, ack) => {
            let mut tb = b.tcp(sp, dp, 1000, 65535);
            if syn {
                tb = tb.syn();
            }
            if ack {
                tb = tb.ack(1);
            }
            tb.write(&mut out, &[]).unwrap()
        }
    }
    out
}

fn capture() -> Vec<u8> {
    let q = b"query";
    let frames = vec![
        // DNS lookup of api.maker.example (left out of the policy itself).
        frame(DEV_MAC, GW_MAC, DEV, RESOLVER, T::Udp(40000, 53, q)),
        frame(
            GW_MAC,
            DEV_MAC,
            RESOLVER,
            DEV,
            T::Udp(53, 40000, &dns_response(1, "api.maker.example", API)),
        ),
        // The device opens HTTPS to it.
        frame(DEV_MAC, GW_MAC, DEV, API, T::Tcp(50000, 443, true, false)),
        frame(GW_MAC, DEV_MAC, API, DEV, T::Tcp(443, 50000, true, true)),
        frame(DEV_MAC, GW_MAC, DEV, API, T::Tcp(50000, 443, false, true)),
        // NTP to an address it never looked up.
        frame(DEV_MAC, GW_MAC, DEV, NTP, T::Udp(123, 123, b"ntp")),
        frame(GW_MAC, DEV_MAC, NTP, DEV, T::Udp(123, 123, b"ntp")),
        // A phone on the LAN opens the device's web page.
        frame(
            [0x02, 0, 0, 0, 0, 0x20],
            DEV_MAC,
            PHONE,
            DEV,
            T::Tcp(41000, 80, true, false),
        ),
        frame(
            DEV_MAC,
            [0x02, 0, 0, 0, 0, 0x20],
            DEV,
            PHONE,
            T::Tcp(80, 41000, true, true),
        ),
        // A connection already running when the capture started.
        frame(DEV_MAC, GW_MAC, DEV, API, T::Tcp(50001, 8883, false, true)),
        // Noise between other hosts.
        frame(
            GW_MAC,
            [0x02, 0, 0, 0, 0, 0x20],
            RESOLVER,
            PHONE,
            T::Tcp(22, 5000, true, false),
        ),
    ];
    let mut out = Vec::new();
    {
        let hdr = PcapHeader {
            datalink: pcap_file::DataLink::ETHERNET,
            ..Default::default()
        };
        let mut w = PcapWriter::with_header(&mut out, hdr).unwrap();
        for (i, f) in frames.iter().enumerate() {
            w.write_packet(&PcapPacket::new(
                Duration::from_millis(i as u64),
                f.len() as u32,
                f,
            ))
            .unwrap();
        }
    }
    out
}

#[test]
fn learns_exactly_the_flows_seen() {
    let cap = capture();
    for device in ["192.168.1.50", "02:00:00:00:00:50"] {
        let opts = LearnOptions::new(
            device.parse::<DeviceId>().unwrap(),
            "https://mud.local.example/thermo.json",
            time::OffsetDateTime::now_utc(),
        );
        let l = learn(&cap, &opts).unwrap();
        assert_eq!(l.packets, 11);
        assert_eq!(l.device_packets, 10, "{device}");
        let flows: Vec<String> = l
            .flows
            .iter()
            .map(|f| {
                format!(
                    "{:?} {} {} {}",
                    f.initiated_by,
                    f.protocol,
                    f.peer_name.clone().unwrap_or(f.peer.to_string()),
                    f.port
                )
            })
            .collect();
        assert_eq!(
            flows,
            [
                "FromDevice tcp api.maker.example 443",
                "FromDevice udp 198.51.100.7 123",
                "ToDevice tcp 192.168.1.20 80",
            ],
            "{device}"
        );
        assert!(
            l.notes
                .iter()
                .any(|n| n.contains("start is not in the capture")),
            "{:?}",
            l.notes
        );

        // The learned file passes check, and its rules are the flows.
        let bytes = l.file.to_json_bytes();
        let r = check(&bytes, &CheckOptions::unsigned_ok());
        assert!(r.valid, "{}", r.to_text());
        let p = r.policy.unwrap();
        let from: Vec<_> = p
            .rules
            .iter()
            .filter(|r| r.direction == Direction::FromDevice)
            .collect();
        assert!(
            from.iter()
                .any(|r| r.peer == Peer::DnsName("api.maker.example".into())
                    && r.protocol == Protocol::Tcp
                    && r.initiated_by == Some(Direction::FromDevice)
                    && r.peer_ports == Some(mud::model::PortMatch::Eq { port: 443 }))
        );
        assert!(from.iter().any(
            |r| matches!(&r.peer, Peer::Prefix(px) if px.to_string() == "198.51.100.7/32")
                && r.protocol == Protocol::Udp
                && r.peer_ports == Some(mud::model::PortMatch::Eq { port: 123 })
        ));
        assert!(from.iter().any(
            |r| matches!(&r.peer, Peer::Prefix(px) if px.to_string() == "192.168.1.20/32")
                && r.initiated_by == Some(Direction::ToDevice)
                && r.device_ports == Some(mud::model::PortMatch::Eq { port: 80 })
        ));
        // Nothing for 8883 (never seen starting), 53 (implicit) or the noise.
        assert!(
            !p.rules
                .iter()
                .any(|r| r.peer_ports == Some(mud::model::PortMatch::Eq { port: 8883 }))
        );
        assert!(
            !p.rules
                .iter()
                .any(|r| r.peer_ports == Some(mud::model::PortMatch::Eq { port: 53 }))
        );
        assert!(
            !p.rules
                .iter()
                .any(|r| r.device_ports == Some(mud::model::PortMatch::Eq { port: 22 }))
        );
    }
}

#[test]
fn bad_captures_are_errors() {
    let opts = LearnOptions::new(
        "10.9.9.9".parse().unwrap(),
        "https://m.example/x",
        time::OffsetDateTime::now_utc(),
    );
    assert!(learn(b"not a capture", &opts).is_err());
    assert!(learn(&[], &opts).is_err());
    let cap = capture();
    assert!(matches!(
        learn(&cap, &opts),
        Err(mud::learn::LearnError::NoTraffic(_))
    ));
    // Truncated capture: an error or a partial result, never a panic.
    for n in [24, 40, 100, cap.len() - 3] {
        let _ = learn(&cap[..n], &opts);
    }
}
