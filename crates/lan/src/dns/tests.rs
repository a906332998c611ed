use super::*;
use hickory_proto::rr::Record;
use hickory_proto::rr::rdata::{A, AAAA, CNAME};
use std::net::{Ipv4Addr, Ipv6Addr};

fn name(s: &str) -> Name {
    Name::from_ascii(s).unwrap()
}

fn answer(records: Vec<Record>) -> Message {
    let mut m = Message::response(7, OpCode::Query);
    m.add_query(Query::query(name("api.example.test."), RecordType::A));
    m.insert_answers(records);
    m
}

fn a(owner: &str, ttl: u32, ip: [u8; 4]) -> Record {
    Record::from_rdata(name(owner), ttl, RData::A(A(Ipv4Addr::from(ip))))
}

fn cname(owner: &str, ttl: u32, target: &str) -> Record {
    Record::from_rdata(name(owner), ttl, RData::CNAME(CNAME(name(target))))
}

#[test]
fn chain_in_any_order_min_ttl_and_foreign_records_dropped() {
    let mut m = answer(vec![
        a("edge.cdn.test.", 300, [192, 0, 2, 10]),
        a("evil.test.", 3600, [203, 0, 113, 66]),
        cname("alias.cdn.test.", 120, "edge.cdn.test."),
        cname("api.example.test.", 600, "alias.cdn.test."),
        Record::from_rdata(
            name("edge.cdn.test."),
            60,
            RData::AAAA(AAAA(Ipv6Addr::LOCALHOST)),
        ),
    ]);
    let r = extract(&name("API.example.test."), &mut m, 64);
    assert_eq!(
        r.addrs,
        vec![
            IpAddr::from([192, 0, 2, 10]),
            IpAddr::V6(Ipv6Addr::LOCALHOST)
        ]
    );
    assert_eq!(r.ttl, 60);
    assert_eq!(r.foreign, 1);
    assert!(m.answers.iter().all(|r| r.name != name("evil.test.")));
    assert!(m.answers.iter().all(|r| r.ttl <= 60));
}

#[test]
fn hundreds_of_addresses_are_capped_and_the_answer_trimmed_to_match() {
    let recs = (0..300u32)
        .map(|i| {
            a(
                "api.example.test.",
                30,
                [10, 9, (i / 256) as u8, (i % 256) as u8],
            )
        })
        .collect();
    let mut m = answer(recs);
    let r = extract(&name("api.example.test."), &mut m, 64);
    assert_eq!(r.addrs.len(), 64);
    assert_eq!(r.dropped, 236);
    let told: Vec<IpAddr> = m
        .answers
        .iter()
        .filter_map(|r| match &r.data {
            RData::A(a) => Some(IpAddr::V4(a.0)),
            _ => None,
        })
        .collect();
    assert_eq!(
        told, r.addrs,
        "the device is told exactly the kept addresses"
    );
}

#[test]
fn cname_loops_and_long_chains_end() {
    let mut m = answer(vec![
        cname("api.example.test.", 60, "b.test."),
        cname("b.test.", 60, "api.example.test."),
        a("b.test.", 60, [192, 0, 2, 1]),
    ]);
    let r = extract(&name("api.example.test."), &mut m, 8);
    assert_eq!(r.addrs, vec![IpAddr::from([192, 0, 2, 1])]);

    let mut recs: Vec<Record> = (0..40)
        .map(|i| {
            let from = if i == 0 {
                "api.example.test.".to_string()
            } else {
                format!("l{i}.test.")
            };
            cname(&from, 60, &format!("l{}.test.", i + 1))
        })
        .collect();
    recs.push(a("l40.test.", 60, [192, 0, 2, 2]));
    let mut m = answer(recs);
    let r = extract(&name("api.example.test."), &mut m, 8);
    assert!(
        r.addrs.is_empty(),
        "a chain longer than {MAX_CHAIN} is not followed to its end"
    );
    assert_eq!(r.foreign, 1);
}

#[test]
fn odd_names_stay_distinct() {
    // One label "api.example" (an escaped dot) is not the two labels api + example.
    let odd = name("api\\.example.test.");
    assert_ne!(odd, name("api.example.test."));
    let mut m = answer(vec![a("api.example.test.", 60, [192, 0, 2, 3])]);
    assert!(extract(&odd, &mut m, 8).addrs.is_empty());
    // Non-LDH bytes and a maximal name round-trip through a query.
    let long = format!("{}.test.", vec!["a".repeat(63); 3].join("."));
    let raw = |labels: &[&[u8]]| {
        let mut n = Name::from_labels(labels.iter().copied()).unwrap();
        n.set_fqdn(true);
        n
    };
    let names = [
        raw(&[b"x\0y", b"test"]),
        raw(&[b"_srv x", &[0xff, 0xfe], b"test"]),
        name(&long),
    ];
    for n in names {
        let q = ClientQuery {
            id: 1,
            question: Query::query(n.clone(), RecordType::A),
            recursion_desired: true,
            edns: false,
            dnssec_ok: false,
            udp_payload: 512,
        };
        let bytes = q.upstream_bytes(9);
        let back = parse_query(&bytes).unwrap();
        assert_eq!(back.question.name, n);
    }
}

#[test]
fn negative_answers_give_nothing() {
    let mut m = answer(vec![a("api.example.test.", 60, [192, 0, 2, 3])]);
    m.metadata.response_code = ResponseCode::NXDomain;
    assert!(
        extract(&name("api.example.test."), &mut m, 8)
            .addrs
            .is_empty()
    );
}

#[test]
fn malformed_queries_are_rejected_with_a_reason() {
    let short = parse_query(&[1, 2, 3]).unwrap_err();
    assert_eq!(short.id, None);
    assert!(
        short.reason.contains("shorter than a DNS header"),
        "{short}"
    );

    // A header claiming one question, no question bytes.
    let mut bad = vec![0xab, 0xcd, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0];
    let e = parse_query(&bad).unwrap_err();
    assert_eq!(e.id, Some(0xabcd));
    assert_eq!(e.rcode, ResponseCode::FormErr);
    // A response is never answered.
    bad[2] |= 0x80;
    assert_eq!(parse_query(&bad).unwrap_err().id, None);

    let mut m = Message::query();
    m.metadata.id = 5;
    m.add_query(Query::query(name("a.test."), RecordType::A));
    m.add_query(Query::query(name("b.test."), RecordType::A));
    let e = parse_query(&m.to_vec().unwrap()).unwrap_err();
    assert!(e.reason.contains("2 questions"), "{e}");
    let err = error_bytes(5, None, e.rcode);
    let back = Message::from_vec(&err).unwrap();
    assert_eq!(back.id, 5);
    assert_eq!(back.response_code, ResponseCode::FormErr);

    let mut m = Message::query();
    m.add_query(Query::query(name("zone.test."), RecordType::AXFR));
    assert_eq!(
        parse_query(&m.to_vec().unwrap()).unwrap_err().rcode,
        ResponseCode::Refused
    );
}

#[test]
fn big_answers_are_truncated_for_udp_not_for_tcp() {
    let mut m = Message::query();
    m.metadata.id = 77;
    m.add_query(Query::query(name("api.example.test."), RecordType::A));
    let q = parse_query(&m.to_vec().unwrap()).unwrap();
    assert_eq!(q.udp_payload, 512);
    let recs = (0..60u8)
        .map(|i| a("api.example.test.", 30, [192, 0, 2, i]))
        .collect();
    let up = answer(recs);
    let (udp, tc) = q.response_bytes(&up, Some(q.udp_payload));
    assert!(tc);
    let back = Message::from_vec(&udp).unwrap();
    assert!(back.truncation);
    assert_eq!(back.id, 77);
    assert!(back.answers.is_empty());
    let (tcp, tc) = q.response_bytes(&up, None);
    assert!(!tc);
    assert_eq!(Message::from_vec(&tcp).unwrap().answers.len(), 60);
}

#[test]
fn upstream_answers_must_match_the_query() {
    let q = Query::query(name("api.example.test."), RecordType::A);
    let mut m = answer(vec![]);
    m.metadata.id = 9;
    let bytes = m.to_vec().unwrap();
    assert!(check_upstream(&bytes, 9, &q).is_ok());
    assert_eq!(
        check_upstream(&bytes, 10, &q).unwrap_err(),
        UpstreamError::Mismatch
    );
    let other = Query::query(name("other.test."), RecordType::A);
    assert_eq!(
        check_upstream(&bytes, 9, &other).unwrap_err(),
        UpstreamError::Mismatch
    );
    assert!(matches!(
        check_upstream(&bytes[..20], 9, &q),
        Err(UpstreamError::Malformed(_))
    ));
}
