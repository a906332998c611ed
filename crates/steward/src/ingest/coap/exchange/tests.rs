//! Scenario tests of the CoAP state machine, no sockets.

use super::*;

fn limits() -> Limits {
    Limits {
        max_body: 4096,
        reassembly_timeout: Duration::from_secs(60),
        dedup_window: 16,
        dedup_lifetime: Duration::from_secs(247),
    }
}

fn yes() -> bool {
    true
}

fn post(mid: u16, confirmable: bool, cf: Option<u32>, payload: &[u8]) -> Packet {
    let mut p = Packet::new();
    p.header.set_type(if confirmable {
        MessageType::Confirmable
    } else {
        MessageType::NonConfirmable
    });
    p.header.message_id = mid;
    p.header.code = MessageClass::Request(RequestType::Post);
    p.set_token(vec![1, 2, 3]);
    p.add_option(CoapOption::UriPath, b"telemetry".to_vec());
    if let Some(cf) = cf {
        p.add_option(CoapOption::ContentFormat, uint_bytes(cf));
    }
    p.payload = payload.to_vec();
    p
}

fn bytes(p: &Packet) -> Vec<u8> {
    p.to_bytes_unlimited().unwrap()
}

fn reply(step: Step) -> Packet {
    match step {
        Step::Reply(b) => Packet::from_bytes(&b).unwrap(),
        other => panic!("expected a reply, got {other:?}"),
    }
}

fn code(p: &Packet) -> ResponseType {
    match p.header.code {
        MessageClass::Response(r) => r,
        other => panic!("not a response: {other:?}"),
    }
}

#[test]
fn con_post_is_ingested_then_acknowledged_with_changed() {
    let mut ex = Exchanges::new(limits());
    let now = Instant::now();
    let Step::Ingest(up) = ex.on_datagram(&bytes(&post(7, true, Some(110), b"[]")), now, &mut yes)
    else {
        panic!("expected ingest");
    };
    assert_eq!(up.media, Media::SenmlJson);
    let r = Packet::from_bytes(&ex.finish(up, Ok(()), now)).unwrap();
    assert_eq!(r.header.get_type(), MessageType::Acknowledgement);
    assert_eq!(r.header.message_id, 7);
    assert_eq!(r.get_token(), &[1, 2, 3]);
    assert_eq!(code(&r), ResponseType::Changed);
}

#[test]
fn retransmitted_con_gets_the_same_response_and_is_not_ingested_twice() {
    let mut ex = Exchanges::new(limits());
    let now = Instant::now();
    let msg = bytes(&post(9, true, Some(112), b"\x80"));
    let Step::Ingest(up) = ex.on_datagram(&msg, now, &mut yes) else {
        panic!("expected ingest");
    };
    let first = ex.finish(up, Ok(()), now);
    match ex.on_datagram(&msg, now, &mut yes) {
        Step::Reply(again) => assert_eq!(again, first),
        other => panic!("expected the cached reply, got {other:?}"),
    }
}

#[test]
fn duplicate_non_is_ignored_and_non_gets_a_non_response() {
    let mut ex = Exchanges::new(limits());
    let now = Instant::now();
    let msg = bytes(&post(11, false, Some(110), b"[]"));
    let Step::Ingest(up) = ex.on_datagram(&msg, now, &mut yes) else {
        panic!("expected ingest");
    };
    let r = Packet::from_bytes(&ex.finish(up, Ok(()), now)).unwrap();
    assert_eq!(r.header.get_type(), MessageType::NonConfirmable);
    assert!(matches!(ex.on_datagram(&msg, now, &mut yes), Step::Nothing));
}

#[test]
fn wrong_content_format_is_4_15_with_a_diagnostic() {
    let mut ex = Exchanges::new(limits());
    let r = reply(ex.on_datagram(
        &bytes(&post(1, true, Some(0), b"x")),
        Instant::now(),
        &mut yes,
    ));
    assert_eq!(code(&r), ResponseType::UnsupportedContentFormat);
    assert!(String::from_utf8_lossy(&r.payload).contains("content-format 0"));
}

#[test]
fn unknown_path_method_and_critical_option_are_refused() {
    let mut ex = Exchanges::new(limits());
    let now = Instant::now();
    let mut p = post(1, true, Some(110), b"[]");
    p.clear_option(CoapOption::UriPath);
    p.add_option(CoapOption::UriPath, b"other".to_vec());
    assert_eq!(
        code(&reply(ex.on_datagram(&bytes(&p), now, &mut yes))),
        ResponseType::NotFound
    );
    let mut p = post(2, true, Some(110), b"[]");
    p.header.code = MessageClass::Request(RequestType::Get);
    assert_eq!(
        code(&reply(ex.on_datagram(&bytes(&p), now, &mut yes))),
        ResponseType::MethodNotAllowed
    );
    let mut p = post(3, true, Some(110), b"[]");
    p.add_option(CoapOption::Unknown(65001), vec![1]);
    assert_eq!(
        code(&reply(ex.on_datagram(&bytes(&p), now, &mut yes))),
        ResponseType::BadOption
    );
}

#[test]
fn well_known_core_lists_telemetry() {
    let mut ex = Exchanges::new(limits());
    let mut p = Packet::new();
    p.header.set_type(MessageType::Confirmable);
    p.header.message_id = 5;
    p.header.code = MessageClass::Request(RequestType::Get);
    p.add_option(CoapOption::UriPath, b".well-known".to_vec());
    p.add_option(CoapOption::UriPath, b"core".to_vec());
    let r = reply(ex.on_datagram(&bytes(&p), Instant::now(), &mut yes));
    assert_eq!(code(&r), ResponseType::Content);
    assert_eq!(
        r.get_first_option(CoapOption::ContentFormat),
        Some(&vec![40])
    );
    assert!(String::from_utf8_lossy(&r.payload).starts_with("</telemetry>"));
}

fn block_post(mid: u16, num: u32, more: bool, payload: &[u8]) -> Vec<u8> {
    let mut p = post(mid, true, Some(110), payload);
    p.add_option(
        CoapOption::Block1,
        Block {
            num,
            more,
            szx: 2, // 64 bytes
        }
        .encode(),
    );
    bytes(&p)
}

#[test]
fn block1_upload_is_reassembled_in_order() {
    let mut ex = Exchanges::new(limits());
    let now = Instant::now();
    let body: Vec<u8> = (0..150u8).collect();
    let r = reply(ex.on_datagram(&block_post(1, 0, true, &body[..64]), now, &mut yes));
    assert_eq!(code(&r), ResponseType::Continue);
    assert_eq!(
        Block::parse(r.get_first_option(CoapOption::Block1).unwrap()).unwrap(),
        Block {
            num: 0,
            more: true,
            szx: 2
        }
    );
    let r = reply(ex.on_datagram(&block_post(2, 1, true, &body[64..128]), now, &mut yes));
    assert_eq!(code(&r), ResponseType::Continue);
    let Step::Ingest(up) = ex.on_datagram(&block_post(3, 2, false, &body[128..]), now, &mut yes)
    else {
        panic!("expected the whole body");
    };
    assert_eq!(up.payload, body);
    let r = Packet::from_bytes(&ex.finish(up, Ok(()), now)).unwrap();
    assert_eq!(code(&r), ResponseType::Changed);
    assert!(r.get_first_option(CoapOption::Block1).is_some());
}

#[test]
fn block1_out_of_order_is_4_08_and_oversize_is_4_13_with_size1() {
    let mut ex = Exchanges::new(limits());
    let now = Instant::now();
    let chunk = [0u8; 64];
    let r = reply(ex.on_datagram(&block_post(1, 3, true, &chunk), now, &mut yes));
    assert_eq!(code(&r), ResponseType::RequestEntityIncomplete);

    let mut mid = 10;
    let mut last = None;
    for num in 0..100 {
        mid += 1;
        let r = reply(ex.on_datagram(&block_post(mid, num, true, &chunk), now, &mut yes));
        if code(&r) != ResponseType::Continue {
            last = Some((num, r));
            break;
        }
    }
    let (num, r) = last.expect("the upload must be refused at the limit");
    assert_eq!(num, 4096 / 64);
    assert_eq!(code(&r), ResponseType::RequestEntityTooLarge);
    assert_eq!(uint(r.get_first_option(CoapOption::Size1).unwrap()), 4096);
}

#[test]
fn reassembly_times_out() {
    let mut ex = Exchanges::new(limits());
    let now = Instant::now();
    let chunk = [0u8; 64];
    let _ = ex.on_datagram(&block_post(1, 0, true, &chunk), now, &mut yes);
    let later = now + Duration::from_secs(61);
    let r = reply(ex.on_datagram(&block_post(2, 1, true, &chunk), later, &mut yes));
    assert_eq!(code(&r), ResponseType::RequestEntityIncomplete);
}

#[test]
fn garbage_and_pings() {
    let mut ex = Exchanges::new(limits());
    let now = Instant::now();
    assert!(matches!(
        ex.on_datagram(b"\xff\x00", now, &mut yes),
        Step::Nothing
    ));
    // An empty CON (ping) is answered with RST.
    let r = reply(ex.on_datagram(&[0x40, 0x00, 0x12, 0x34], now, &mut yes));
    assert_eq!(r.header.get_type(), MessageType::Reset);
    assert_eq!(r.header.message_id, 0x1234);
}

#[test]
fn rate_limited_request_gets_4_29_with_max_age() {
    let mut ex = Exchanges::new(limits());
    let r = reply(ex.on_datagram(
        &bytes(&post(1, true, Some(110), b"[]")),
        Instant::now(),
        &mut || false,
    ));
    assert_eq!(code(&r), ResponseType::TooManyRequests);
    assert_eq!(r.get_first_option(CoapOption::MaxAge), Some(&vec![1]));
}
