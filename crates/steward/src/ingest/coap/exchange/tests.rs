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
    let links = String::from_utf8_lossy(&r.payload);
    assert!(links.starts_with("</telemetry>"), "{links}");
    assert!(
        links.contains(",</fw>;rt=\"steward.firmware\";ct=42;title=\""),
        "{links}"
    );
    assert!(
        links.contains(",</update>;rt=\"steward.update\";ct=\"50 60\";title=\""),
        "{links}"
    );
    assert!(
        links.contains(",</update/status>;rt=\"steward.update.status\";ct=50;title=\""),
        "{links}"
    );
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
        Block::parse(r.get_first_option(CoapOption::Block1).unwrap(), "Block1").unwrap(),
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

// --- block-wise download (Block2) ---

const DIGEST: &str = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";

fn get(mid: u16, path: &[&str], block2: Option<Block>) -> Packet {
    let mut p = Packet::new();
    p.header.set_type(MessageType::Confirmable);
    p.header.message_id = mid;
    p.header.code = MessageClass::Request(RequestType::Get);
    p.set_token(vec![9]);
    for s in path {
        p.add_option(CoapOption::UriPath, s.as_bytes().to_vec());
    }
    if let Some(b) = block2 {
        p.add_option(CoapOption::Block2, b.encode());
    }
    p
}

fn fetch(ex: &mut Exchanges, p: &Packet, admit: &mut dyn FnMut() -> bool) -> Fetch {
    match ex.on_datagram(&bytes(p), Instant::now(), admit) {
        Step::Fetch(f) => f,
        other => panic!("expected a fetch, got {other:?}"),
    }
}

/// What the session would read from a payload of `total` pseudo-random bytes.
fn read(f: &Fetch, body: &[u8]) -> Chunk {
    let start = (f.offset as usize).min(body.len());
    let end = (start + f.len).min(body.len());
    Chunk {
        total: body.len() as u64,
        data: body[start..end].to_vec(),
    }
}

fn block2_of(r: &Packet) -> Block {
    Block::parse(r.get_first_option(CoapOption::Block2).unwrap(), "Block2").unwrap()
}

#[test]
fn block2_download_in_1024_byte_blocks_by_default_then_smaller_on_request() {
    let body: Vec<u8> = (0..2500u32).map(|i| (i * 7) as u8).collect();
    let mut ex = Exchanges::new(limits());
    let now = Instant::now();
    // No Block2 in the first request: block 0 at our size, M set.
    let f = fetch(&mut ex, &get(1, &["fw", DIGEST], None), &mut yes);
    assert_eq!((f.digest.as_str(), f.offset, f.len), (DIGEST, 0, 1024));
    let chunk = read(&f, &body);
    let r = Packet::from_bytes(&ex.finish_fetch(f, Ok(chunk), now)).unwrap();
    assert_eq!(code(&r), ResponseType::Content);
    assert_eq!(
        r.get_first_option(CoapOption::ContentFormat),
        Some(&vec![42])
    );
    assert_eq!(
        block2_of(&r),
        Block {
            num: 0,
            more: true,
            szx: 6
        }
    );
    assert_eq!(r.payload, body[..1024]);
    assert_eq!(
        r.get_first_option(CoapOption::ETag),
        Some(&vec![0x9f, 0x86, 0xd0, 0x81, 0x88, 0x4c, 0x7d, 0x65])
    );
    assert!(r.get_first_option(CoapOption::Size2).is_none());

    // Late negotiation (RFC 7959 §2.4): block 4 of 256 bytes is bytes 1024..1280.
    let mut p = get(
        2,
        &["fw", DIGEST],
        Some(Block {
            num: 4,
            more: false,
            szx: 4,
        }),
    );
    p.add_option(CoapOption::Size2, vec![0]);
    let f = fetch(&mut ex, &p, &mut yes);
    assert_eq!((f.offset, f.len), (1024, 256));
    let chunk = read(&f, &body);
    let r = Packet::from_bytes(&ex.finish_fetch(f, Ok(chunk), now)).unwrap();
    assert_eq!(
        block2_of(&r),
        Block {
            num: 4,
            more: true,
            szx: 4
        }
    );
    assert_eq!(r.payload, body[1024..1280]);
    assert_eq!(uint(r.get_first_option(CoapOption::Size2).unwrap()), 2500);

    // The last block: M clear, the rest of the bytes.
    let f = fetch(
        &mut ex,
        &get(
            3,
            &["fw", DIGEST],
            Some(Block {
                num: 9,
                more: false,
                szx: 4,
            }),
        ),
        &mut yes,
    );
    let chunk = read(&f, &body);
    let r = Packet::from_bytes(&ex.finish_fetch(f, Ok(chunk), now)).unwrap();
    assert_eq!(
        block2_of(&r),
        Block {
            num: 9,
            more: false,
            szx: 4
        }
    );
    assert_eq!(r.payload, body[2304..]);
}

#[test]
fn block2_window_keeps_the_byte_offset_when_the_server_answers_smaller() {
    let b = |num, szx| {
        Some(Block {
            num,
            more: false,
            szx,
        })
    };
    assert_eq!(block2_window(None, 6).unwrap(), (0, 6));
    assert_eq!(block2_window(b(3, 2), 6).unwrap(), (192, 2));
    // Asked for 1024-byte block 3, we send 256-byte blocks: block 12, same offset.
    assert_eq!(block2_window(b(3, 6), 4).unwrap(), (3072, 4));
    // A NUM that does not fit 20 bits at our size is refused.
    assert!(matches!(
        block2_window(b((1 << 20) - 1, 6), 0),
        Err(CoapError::BadOption(_))
    ));
}

#[test]
fn a_payload_that_fits_one_block_is_sent_whole_without_block2() {
    let mut ex = Exchanges::new(limits());
    let f = fetch(&mut ex, &get(1, &["fw", DIGEST], None), &mut yes);
    let chunk = read(&f, b"tiny");
    let r = Packet::from_bytes(&ex.finish_fetch(f, Ok(chunk), Instant::now())).unwrap();
    assert_eq!(code(&r), ResponseType::Content);
    assert!(r.get_first_option(CoapOption::Block2).is_none());
    assert_eq!(r.payload, b"tiny");
}

#[test]
fn block2_errors_name_what_was_wrong() {
    let mut ex = Exchanges::new(limits());
    let now = Instant::now();
    // Not a digest: 4.00 naming it.
    let r = reply(ex.on_datagram(&bytes(&get(1, &["fw", "nope"], None)), now, &mut yes));
    assert_eq!(code(&r), ResponseType::BadRequest);
    assert!(String::from_utf8_lossy(&r.payload).contains("`nope` is not a payload digest"));
    let upper = DIGEST.to_uppercase();
    let r = reply(ex.on_datagram(&bytes(&get(2, &["fw", &upper], None)), now, &mut yes));
    assert_eq!(code(&r), ResponseType::BadRequest);
    // SZX 7 is reserved: 4.02.
    let mut p = get(3, &["fw", DIGEST], None);
    p.add_option(CoapOption::Block2, vec![0x07]);
    let r = reply(ex.on_datagram(&bytes(&p), now, &mut yes));
    assert_eq!(code(&r), ResponseType::BadOption);
    assert!(String::from_utf8_lossy(&r.payload).contains("Block2 size exponent 7"));
    // Other methods: 4.05.
    let mut p = get(4, &["fw", DIGEST], None);
    p.header.code = MessageClass::Request(RequestType::Put);
    let r = reply(ex.on_datagram(&bytes(&p), now, &mut yes));
    assert_eq!(code(&r), ResponseType::MethodNotAllowed);
    // A block past the end: 4.02 with the payload's size.
    let f = fetch(
        &mut ex,
        &get(
            5,
            &["fw", DIGEST],
            Some(Block {
                num: 10,
                more: false,
                szx: 6,
            }),
        ),
        &mut yes,
    );
    let chunk = read(&f, &[0u8; 100]);
    let r = Packet::from_bytes(&ex.finish_fetch(f, Ok(chunk), now)).unwrap();
    assert_eq!(code(&r), ResponseType::BadOption);
    assert!(String::from_utf8_lossy(&r.payload).contains("past the end"));
    // The session's refusal (not offered) is sent as it is.
    let f = fetch(&mut ex, &get(6, &["fw", DIGEST], None), &mut yes);
    let r = Packet::from_bytes(&ex.finish_fetch(
        f,
        Err(CoapError::NoPayload(format!("no campaign offers {DIGEST}"))),
        now,
    ))
    .unwrap();
    assert_eq!(code(&r), ResponseType::NotFound);
    assert!(String::from_utf8_lossy(&r.payload).contains(DIGEST));
}

#[test]
fn the_next_block_of_a_download_is_not_rate_limited_but_a_new_download_is() {
    let body = vec![1u8; 300];
    let mut ex = Exchanges::new(limits());
    let now = Instant::now();
    let block = |num| {
        Some(Block {
            num,
            more: false,
            szx: 4,
        })
    };
    let f = fetch(&mut ex, &get(1, &["fw", DIGEST], block(0)), &mut yes);
    let chunk = read(&f, &body);
    let _ = ex.finish_fetch(f, Ok(chunk), now);
    let mut no = || false;
    // Block 1 follows on: served although the limiter says no.
    let f = fetch(&mut ex, &get(2, &["fw", DIGEST], block(1)), &mut no);
    let chunk = read(&f, &body);
    let _ = ex.finish_fetch(f, Ok(chunk), now);
    // Block 1 again is not the next block: counted, and refused.
    let r = reply(ex.on_datagram(&bytes(&get(3, &["fw", DIGEST], block(1))), now, &mut no));
    assert_eq!(code(&r), ResponseType::TooManyRequests);
}

// --- update notices (GET /update) and status reports (POST /update/status) ---

fn notice(envelope: &[u8]) -> Notice {
    use base64::Engine;
    Notice {
        campaign: "c1".into(),
        firmware: DIGEST.into(),
        seq: 7,
        envelope: base64::engine::general_purpose::STANDARD.encode(envelope),
        url: format!("coaps://gw.example:5684/fw/{DIGEST}"),
    }
}

fn get_update(mid: u16, accept: Option<u32>, block2: Option<Block>) -> Packet {
    let mut p = get(mid, &["update"], block2);
    if let Some(a) = accept {
        p.add_option(CoapOption::Accept, uint_bytes(a));
    }
    p
}

fn notice_request(ex: &mut Exchanges, p: &Packet) -> NoticeRequest {
    match ex.on_datagram(&bytes(p), Instant::now(), &mut yes) {
        Step::Notice(n) => n,
        other => panic!("expected a notice request, got {other:?}"),
    }
}

fn post_status(mid: u16, cf: Option<u32>, payload: &[u8]) -> Packet {
    let mut p = post(mid, true, cf, payload);
    p.clear_option(CoapOption::UriPath);
    p.add_option(CoapOption::UriPath, b"update".to_vec());
    p.add_option(CoapOption::UriPath, b"status".to_vec());
    p
}

fn text(r: &Packet) -> String {
    String::from_utf8_lossy(&r.payload).into_owned()
}

#[test]
fn update_notice_is_json_by_default_and_cbor_on_accept_60() {
    let mut ex = Exchanges::new(limits());
    let now = Instant::now();
    let n = notice(b"\xd8\x6b\xa2");

    let req = notice_request(&mut ex, &get_update(1, None, None));
    assert_eq!(req.format, NoticeFormat::Json);
    let r = Packet::from_bytes(&ex.finish_notice(req, Ok(n.clone()), now)).unwrap();
    assert_eq!(code(&r), ResponseType::Content);
    assert_eq!(
        r.get_first_option(CoapOption::ContentFormat),
        Some(&vec![50])
    );
    assert!(r.get_first_option(CoapOption::Block2).is_none());
    let back: Notice = serde_json::from_slice(&r.payload).unwrap();
    assert_eq!(back, n);

    let req = notice_request(&mut ex, &get_update(2, Some(50), None));
    assert_eq!(req.format, NoticeFormat::Json);

    let req = notice_request(&mut ex, &get_update(3, Some(60), None));
    assert_eq!(req.format, NoticeFormat::Cbor);
    let r = Packet::from_bytes(&ex.finish_notice(req, Ok(n.clone()), now)).unwrap();
    assert_eq!(code(&r), ResponseType::Content);
    assert_eq!(
        r.get_first_option(CoapOption::ContentFormat),
        Some(&vec![60])
    );
    use suit::cbor::Value;
    let Value::Map(entries) = suit::cbor::decode(&r.payload).unwrap() else {
        panic!("the CBOR notice is not a map");
    };
    let field = |k: &str| {
        entries
            .iter()
            .find(|(key, _)| *key == Value::Text(k.into()))
            .map(|(_, v)| v.clone())
            .unwrap_or_else(|| panic!("no `{k}` in the CBOR notice"))
    };
    assert_eq!(entries.len(), 5);
    assert_eq!(field("campaign"), Value::Text("c1".into()));
    assert_eq!(field("firmware"), Value::Text(DIGEST.into()));
    assert_eq!(field("seq"), Value::Uint(7));
    assert_eq!(field("url"), Value::Text(n.url.clone().into()));
    assert_eq!(
        field("envelope"),
        Value::Bytes(b"\xd8\x6b\xa2".to_vec().into())
    );
}

#[test]
fn update_notice_errors_name_what_was_wrong() {
    let mut ex = Exchanges::new(limits());
    let now = Instant::now();
    // No update: the session's 4.04 with its diagnostic.
    let req = notice_request(&mut ex, &get_update(1, None, None));
    let r = Packet::from_bytes(&ex.finish_notice(
        req,
        Err(CoapError::NoUpdate(
            "no running campaign has device d1".into(),
        )),
        now,
    ))
    .unwrap();
    assert_eq!(code(&r), ResponseType::NotFound);
    assert!(
        text(&r).contains("no update for this device"),
        "{}",
        text(&r)
    );
    // An Accept it cannot answer with: 4.06 naming both it and what it can.
    let r = reply(ex.on_datagram(&bytes(&get_update(2, Some(110), None)), now, &mut yes));
    assert_eq!(code(&r), ResponseType::NotAcceptable);
    assert!(text(&r).contains("not 110"), "{}", text(&r));
    assert!(text(&r).contains("Accept 50 or 60"), "{}", text(&r));
    // Other methods: 4.05 naming the one to use; GET /update/status too.
    let mut p = get_update(3, None, None);
    p.header.code = MessageClass::Request(RequestType::Post);
    let r = reply(ex.on_datagram(&bytes(&p), now, &mut yes));
    assert_eq!(code(&r), ResponseType::MethodNotAllowed);
    assert!(text(&r).contains("use GET"), "{}", text(&r));
    let r = reply(ex.on_datagram(&bytes(&get(4, &["update", "status"], None)), now, &mut yes));
    assert_eq!(code(&r), ResponseType::MethodNotAllowed);
    assert!(text(&r).contains("use POST"), "{}", text(&r));
    // Deeper paths are not resources.
    let r = reply(ex.on_datagram(&bytes(&get(5, &["update", "x"], None)), now, &mut yes));
    assert_eq!(code(&r), ResponseType::NotFound);
    assert!(text(&r).contains("/update/status"), "{}", text(&r));
}

#[test]
fn a_notice_larger_than_a_block_goes_block_wise() {
    let mut ex = Exchanges::new(limits());
    let now = Instant::now();
    let n = notice(&[0x5a; 1500]);
    let whole = serde_json::to_vec(&n).unwrap();
    assert!(whole.len() > 2048);
    let mut got = Vec::new();
    let mut num = 0;
    loop {
        let b2 = (num > 0).then_some(Block {
            num,
            more: false,
            szx: MAX_BLOCK2_SZX,
        });
        let req = notice_request(&mut ex, &get_update(10 + num as u16, None, b2));
        let r = Packet::from_bytes(&ex.finish_notice(req, Ok(n.clone()), now)).unwrap();
        assert_eq!(code(&r), ResponseType::Content);
        let b = block2_of(&r);
        assert_eq!((b.num, b.szx), (num, MAX_BLOCK2_SZX));
        got.extend_from_slice(&r.payload);
        if !b.more {
            break;
        }
        assert_eq!(r.payload.len(), 1024);
        num += 1;
    }
    assert_eq!(got, whole);
    // A block past the end: 4.02 naming the notice.
    let b2 = Block {
        num: 40,
        more: false,
        szx: MAX_BLOCK2_SZX,
    };
    let req = notice_request(&mut ex, &get_update(99, None, Some(b2)));
    let r = Packet::from_bytes(&ex.finish_notice(req, Ok(n), now)).unwrap();
    assert_eq!(code(&r), ResponseType::BadOption);
    assert!(
        text(&r).contains("past the end of the notice"),
        "{}",
        text(&r)
    );
}

#[test]
fn status_report_is_acknowledged_only_by_finish() {
    let mut ex = Exchanges::new(limits());
    let now = Instant::now();
    let body = br#"{"campaign":"c1","state":"downloading"}"#;
    for (mid, cf) in [(1, Some(50)), (2, None)] {
        let Step::Report(report) =
            ex.on_datagram(&bytes(&post_status(mid, cf, body)), now, &mut yes)
        else {
            panic!("expected a report");
        };
        assert_eq!(report.payload, body);
        let r = Packet::from_bytes(&ex.finish(report, Ok(()), now)).unwrap();
        assert_eq!(code(&r), ResponseType::Changed);
        assert_eq!(r.header.message_id, mid);
    }
    // A report the service refuses: 4.00 with its reason.
    let Step::Report(report) =
        ex.on_datagram(&bytes(&post_status(3, Some(50), b"{}")), now, &mut yes)
    else {
        panic!("expected a report");
    };
    let r = Packet::from_bytes(&ex.finish(
        report,
        Err(CoapError::BadReport(
            "update status is not a status report: missing field `campaign`".into(),
        )),
        now,
    ))
    .unwrap();
    assert_eq!(code(&r), ResponseType::BadRequest);
    assert!(
        text(&r).contains("missing field `campaign`"),
        "{}",
        text(&r)
    );
    // Not JSON: 4.15 saying what to send.
    let r = reply(ex.on_datagram(&bytes(&post_status(4, Some(110), body)), now, &mut yes));
    assert_eq!(code(&r), ResponseType::UnsupportedContentFormat);
    assert!(
        text(&r).contains("as JSON (content-format 50)"),
        "{}",
        text(&r)
    );
    // Larger than max_body: 4.13.
    let big = vec![b' '; limits().max_body + 1];
    let r = reply(ex.on_datagram(&bytes(&post_status(5, Some(50), &big)), now, &mut yes));
    assert_eq!(code(&r), ResponseType::RequestEntityTooLarge);
}

#[test]
fn a_block_wise_status_report_is_reassembled_and_not_mixed_with_telemetry() {
    let mut ex = Exchanges::new(limits());
    let now = Instant::now();
    let body = format!(
        r#"{{"campaign":"c1","state":"failed","reason":"{}"}}"#,
        "x".repeat(40)
    );
    let block = |mid: u16, num: u32, more: bool, part: &[u8]| {
        let mut p = post_status(mid, Some(50), part);
        p.add_option(CoapOption::Block1, Block { num, more, szx: 1 }.encode());
        bytes(&p)
    };
    let (a, b) = body.as_bytes().split_at(32);
    let r = reply(ex.on_datagram(&block(1, 0, true, a), now, &mut yes));
    assert_eq!(code(&r), ResponseType::Continue);
    let Step::Report(report) = ex.on_datagram(&block(2, 1, false, b), now, &mut yes) else {
        panic!("expected the reassembled report");
    };
    assert_eq!(report.payload, body.as_bytes());
    // Block 1 of telemetry does not continue a status upload.
    let r = reply(ex.on_datagram(&block(3, 0, true, a), now, &mut yes));
    assert_eq!(code(&r), ResponseType::Continue);
    let mut p = post(4, true, Some(110), &[b' '; 32]);
    p.add_option(
        CoapOption::Block1,
        Block {
            num: 1,
            more: true,
            szx: 1,
        }
        .encode(),
    );
    let r = reply(ex.on_datagram(&bytes(&p), now, &mut yes));
    assert_eq!(code(&r), ResponseType::RequestEntityIncomplete);
    assert!(text(&r).contains("another resource"), "{}", text(&r));
}
