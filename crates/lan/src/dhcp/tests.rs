use super::*;

const URL: &str = "https://mud.example.test/sensor.json";

/// A DISCOVER as bytes, with extra raw options appended before END.
fn discover(extra: &[u8]) -> Vec<u8> {
    let mut m = v4::Message::new_with_id(
        0x1234,
        Ipv4Addr::UNSPECIFIED,
        Ipv4Addr::UNSPECIFIED,
        Ipv4Addr::UNSPECIFIED,
        Ipv4Addr::UNSPECIFIED,
        &[2, 0, 0, 0, 0, 7],
    );
    m.opts_mut()
        .insert(DhcpOption::MessageType(MessageType::Discover));
    let mut b = m.to_vec().unwrap();
    assert_eq!(b.pop(), Some(255));
    b.extend_from_slice(extra);
    b.push(255);
    b
}

fn opt(code: u8, data: &[u8]) -> Vec<u8> {
    let mut v = vec![code, data.len() as u8];
    v.extend_from_slice(data);
    v
}

#[test]
fn reads_what_a_device_declares() {
    let mut extra = opt(12, b"sensor-7");
    extra.extend(opt(60, b"udhcp 1.35.0"));
    extra.extend(opt(61, &[1, 2, 0, 0, 0, 0, 7]));
    // RFC 3396: a long option split in two instances.
    extra.extend(opt(161, &URL.as_bytes()[..10]));
    extra.extend(opt(161, &URL.as_bytes()[10..]));
    let r = parse_request(&discover(&extra)).unwrap();
    assert_eq!(r.kind, MessageType::Discover);
    assert_eq!(r.mac.to_string(), "02:00:00:00:00:07");
    assert_eq!(r.hostname.as_deref(), Some("sensor-7"));
    assert_eq!(r.vendor_class.as_deref(), Some("udhcp 1.35.0"));
    assert_eq!(r.client_id.as_deref(), Some("01020000000007"));
    assert_eq!(r.client_key(), "id:01020000000007");
    assert_eq!(r.mud_url, Some(Ok(URL.to_string())));
}

#[test]
fn malformed_option_161_is_named_and_the_rest_still_read() {
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "not https",
            opt(161, b"http://mud.example.test/x.json"),
            "https",
        ),
        (
            "invalid UTF-8",
            opt(161, &[0x68, 0xff, 0xfe, 0x80]),
            "ASCII",
        ),
        ("empty", opt(161, b""), "non-empty"),
        (
            "spaces, one slash",
            opt(161, b"https:/um/d.ex    son"),
            "https:// URL",
        ),
        (
            "absurdly long",
            {
                let long = format!("https://mud.example.test/{}", "a".repeat(2000));
                long.as_bytes()
                    .chunks(255)
                    .flat_map(|c| opt(161, c))
                    .collect()
            },
            "longest accepted",
        ),
    ];
    for (what, bad, needle) in cases {
        let mut extra = bad;
        extra.extend(opt(12, b"dev"));
        let r = parse_request(&discover(&extra)).unwrap_or_else(|e| panic!("{what}: {e}"));
        let err = r.mud_url.clone().unwrap().unwrap_err();
        assert!(err.contains(needle), "{what}: {err}");
        assert_eq!(r.hostname.as_deref(), Some("dev"), "{what}");
    }
    // A length running past the end: the options cannot be trusted at all.
    let mut b = discover(&[]);
    b.pop();
    b.extend_from_slice(&[161, 200, b'h', b't']);
    assert!(matches!(parse_request(&b), Err(DhcpError::Truncated(_))));
}

#[test]
fn odd_hostnames_and_vendor_classes_are_not_kept_raw() {
    let mut extra = opt(12, b"evil;rm -rf /");
    extra.extend(opt(60, &[b'v', 0, 0xff, b'\\']));
    let r = parse_request(&discover(&extra)).unwrap();
    assert_eq!(r.hostname, None);
    assert!(r.notes[0].contains("hostname"), "{:?}", r.notes);
    assert_eq!(r.vendor_class.as_deref(), Some("v\\x00\\xff\\x5c"));
}

#[test]
fn broken_packets_are_rejected_with_a_reason() {
    assert_eq!(parse_request(&[1; 10]).unwrap_err(), DhcpError::Short(10));
    let mut b = discover(&[]);
    b[0] = 2;
    assert_eq!(parse_request(&b).unwrap_err(), DhcpError::NotRequest);
    let mut b = discover(&[]);
    b[236] = 0;
    assert_eq!(parse_request(&b).unwrap_err(), DhcpError::NoMagic);
    let mut b = discover(&[]);
    b[2] = 16;
    assert!(matches!(parse_request(&b), Err(DhcpError::Hardware(_))));
    let mut b = discover(&opt(50, &[1, 2, 3]));
    assert!(matches!(
        parse_request(&b),
        Err(DhcpError::Option { code: 50, .. })
    ));
    b.truncate(240);
    assert_eq!(parse_request(&b).unwrap_err(), DhcpError::NoType);
}

#[test]
fn replies_carry_the_lease_and_steward_as_router_and_dns() {
    let r = parse_request(&discover(&opt(61, &[1, 9]))).unwrap();
    let p = Params {
        server: Ipv4Addr::new(10, 0, 0, 1),
        mask: Ipv4Addr::new(255, 255, 255, 0),
        broadcast: Ipv4Addr::new(10, 0, 0, 255),
        router: Ipv4Addr::new(10, 0, 0, 1),
        dns: vec![Ipv4Addr::new(10, 0, 0, 1)],
        lease_secs: 3600,
    };
    let b = reply_bytes(&r, ReplyKind::Offer, Ipv4Addr::new(10, 0, 0, 100), &p);
    let m = v4::Message::from_bytes(&b).unwrap();
    assert_eq!(m.opcode(), Opcode::BootReply);
    assert_eq!(m.xid(), 0x1234);
    assert_eq!(m.yiaddr(), Ipv4Addr::new(10, 0, 0, 100));
    assert_eq!(m.opts().msg_type(), Some(MessageType::Offer));
    assert!(matches!(m.opts().get(v4::OptionCode::DomainNameServer),
        Some(DhcpOption::DomainNameServer(d)) if d == &vec![Ipv4Addr::new(10, 0, 0, 1)]));
    assert!(matches!(m.opts().get(v4::OptionCode::Router),
        Some(DhcpOption::Router(d)) if d == &vec![Ipv4Addr::new(10, 0, 0, 1)]));
    assert!(matches!(m.opts().get(v4::OptionCode::ClientIdentifier),
        Some(DhcpOption::ClientIdentifier(d)) if d == &vec![1, 9]));
    let nak = v4::Message::from_bytes(&reply_bytes(&r, ReplyKind::Nak, Ipv4Addr::UNSPECIFIED, &p))
        .unwrap();
    assert_eq!(nak.opts().msg_type(), Some(MessageType::Nak));
    assert_eq!(nak.yiaddr(), Ipv4Addr::UNSPECIFIED);
}

#[test]
fn macs_parse_and_print() {
    let m: Mac = "02:AB:00:00:00:01".parse().unwrap();
    assert_eq!(m.to_string(), "02:ab:00:00:00:01");
    assert!("02:ab:00".parse::<Mac>().is_err());
    assert!("02:ab:00:00:00:zz".parse::<Mac>().is_err());
}
