//! The CoAP side of one DTLS session, without I/O: parse a request, deduplicate
//! retransmissions, reassemble block-wise uploads, route, work out which block of
//! a block-wise download is asked for, and build the response.
//!
//! [`Exchanges::on_datagram`] turns one datagram into a [`Step`]: a response to
//! send now, nothing, telemetry to ingest, or a firmware block to read. For
//! telemetry the session commits the readings and then calls [`Exchanges::finish`]
//! for the response, so 2.04 Changed is only ever built after the durable commit.
//! For a block of `GET /fw/{sha256}` the session checks that a campaign offers the
//! payload to the device, reads that block from the file, and calls
//! [`Exchanges::finish_fetch`], which builds 2.05 Content with Block2 (RFC 7959).
//! For `GET /update` the session asks the update service for the device's notice
//! and calls [`Exchanges::finish_notice`], which encodes it as the client's Accept
//! asks (JSON, or CBOR); for `POST /update/status` it has the service store the
//! report and calls [`Exchanges::finish`], so 2.04 again follows the commit.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use coap_lite::{CoapOption, MessageClass, MessageType, Packet, RequestType, ResponseType};

use super::error::CoapError;
use crate::ingest::Media;
use crate::updates::service::Notice;

/// The resource devices post their telemetry to.
pub const TELEMETRY: &str = "telemetry";

/// The collection devices download firmware payloads from: `/fw/{sha256}`.
pub const FIRMWARE: &str = "fw";

/// The resource a device GETs its update notice from: `/update`; it POSTs its
/// progress to `/update/status` ([`STATUS`]).
pub const UPDATE: &str = "update";

/// Under [`UPDATE`]: where a device POSTs its update status reports.
pub const STATUS: &str = "status";

/// RFC 6690 link format of the resources a device may use; `ct` lists the
/// content-formats each takes or answers with (RFC 7252 §7.2.1).
pub const WELL_KNOWN_CORE: &str = "</telemetry>;rt=\"steward.telemetry\";ct=\"110 112 50 42\";title=\"POST SenML or the model's payload format\",</fw>;rt=\"steward.firmware\";ct=42;title=\"GET /fw/{sha256}: a firmware payload a campaign offers this device, block-wise (Block2)\",</update>;rt=\"steward.update\";ct=\"50 60\";title=\"GET this device's update notice (SUIT envelope, payload URL); 4.04 when there is none\",</update/status>;rt=\"steward.update.status\";ct=50;title=\"POST a status report on the update: downloading, installing, succeeded, failed or rolled_back\"";

/// The largest Block2 size this endpoint answers with: SZX 6, 1024 bytes, which
/// with the CoAP and DTLS headers fits the 1280-byte IPv6 minimum MTU (RFC 7252
/// §4.6). A client may ask for smaller blocks (RFC 7959 §2.4).
pub const MAX_BLOCK2_SZX: u8 = 6;

/// Content-Format of a firmware payload: application/octet-stream.
const OCTET_STREAM: u32 = 42;

/// Content-Format application/json: notices and status reports.
const JSON: u32 = 50;

/// Content-Format application/cbor: notices for clients that Accept it.
const CBOR: u32 = 60;

/// Bounds for one session.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Largest request body, whole or reassembled from blocks (4.13 beyond).
    pub max_body: usize,
    /// A block-wise upload with no new block for this long is dropped.
    pub reassembly_timeout: Duration,
    /// Message ids remembered for deduplication.
    pub dedup_window: usize,
    /// How long a message id is remembered (RFC 7252 §4.8.2 EXCHANGE_LIFETIME is
    /// 247 s; NON_LIFETIME 145 s).
    pub dedup_lifetime: Duration,
}

/// What to do with one datagram.
#[derive(Debug)]
pub enum Step {
    /// Send these bytes back.
    Reply(Vec<u8>),
    /// Nothing to send (an ACK or RST from the peer, a duplicate NON, garbage).
    Nothing,
    /// Decode and commit this telemetry, then call [`Exchanges::finish`].
    Ingest(Upload),
    /// Check the device may have this payload, read the block, then call
    /// [`Exchanges::finish_fetch`].
    Fetch(Fetch),
    /// Look up the device's update notice (recording it as delivered), then call
    /// [`Exchanges::finish_notice`].
    Notice(NoticeRequest),
    /// Apply and store this update status report (JSON), then call
    /// [`Exchanges::finish`].
    Report(Upload),
}

/// A `GET /update`, waiting for the device's notice.
#[derive(Debug)]
pub struct NoticeRequest {
    /// The representation the client accepts.
    pub format: NoticeFormat,
    /// Where the block asked for starts, and its SZX (block 0 of 1024 bytes
    /// without Block2): a notice larger than a block goes block-wise too.
    offset: u64,
    szx: u8,
    block2: bool,
    request: RequestMeta,
}

/// How a notice is encoded, by the request's Accept option.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoticeFormat {
    /// application/json (50, the default): the MQTT notice's JSON.
    Json,
    /// application/cbor (60): the same keys, the envelope as a byte string.
    Cbor,
}

/// One block of a firmware payload to read: `len` bytes (fewer at the end) from
/// byte `offset` of the payload named by `digest`.
#[derive(Debug)]
pub struct Fetch {
    /// The payload's SHA-256, 64 lowercase hex digits (checked).
    pub digest: String,
    pub offset: u64,
    pub len: usize,
    /// The SZX of the blocks answered with.
    szx: u8,
    /// The request carried Block2 (then the response always does).
    block2: bool,
    /// The request carried Size2: answer with the payload's size (RFC 7959 §4).
    size2: bool,
    request: RequestMeta,
}

/// What the session read for a [`Fetch`].
#[derive(Debug)]
pub struct Chunk {
    /// The whole payload's size in bytes.
    pub total: u64,
    /// The bytes from the fetch's offset: `len` of them, fewer at the end, none
    /// when the offset is at or past the end.
    pub data: Vec<u8>,
}

/// A complete request body (telemetry, or a status report) waiting for its
/// durable commit.
#[derive(Debug)]
pub struct Upload {
    pub media: Media,
    pub payload: Vec<u8>,
    request: RequestMeta,
}

/// What the response to a request needs from it.
#[derive(Debug, Clone)]
struct RequestMeta {
    message_id: u16,
    confirmable: bool,
    token: Vec<u8>,
    /// The Block1 option to echo (RFC 7959 §2.3).
    block1: Option<Block>,
}

/// A Block1/Block2 option value (RFC 7959 §2.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Block {
    pub num: u32,
    pub more: bool,
    pub szx: u8,
}

impl Block {
    pub fn size(self) -> usize {
        1 << (self.szx + 4)
    }

    /// Parse the value of the option `name` (Block1 or Block2).
    fn parse(bytes: &[u8], name: &str) -> Result<Block, CoapError> {
        if bytes.len() > 3 {
            return Err(CoapError::BadOption(format!(
                "the {name} option is longer than 3 bytes"
            )));
        }
        let v = uint(bytes);
        let szx = (v & 7) as u8;
        if szx == 7 {
            // SZX 7 is reserved (BERT, RFC 8323, is for CoAP over TCP only).
            return Err(CoapError::BadOption(format!(
                "{name} size exponent 7 is reserved; use blocks of 16 to 1024 bytes"
            )));
        }
        Ok(Block {
            num: v >> 4,
            more: v & 8 != 0,
            szx,
        })
    }

    fn encode(self) -> Vec<u8> {
        uint_bytes((self.num << 4) | (u32::from(self.more) << 3) | u32::from(self.szx))
    }
}

/// The request's Block1 or Block2 option, if it carries one.
fn block_option(packet: &Packet, option: CoapOption) -> Result<Option<Block>, CoapError> {
    let name = if matches!(option, CoapOption::Block1) {
        "Block1"
    } else {
        "Block2"
    };
    packet
        .get_first_option(option)
        .map(|b| Block::parse(b, name))
        .transpose()
}

/// Where the block a GET asks for starts, and the SZX to answer with: the client's
/// NUM and SZX (RFC 7959 §2.2; without Block2, block 0), but no larger than
/// `max_szx`. Late negotiation (§2.4): a client may ask for smaller blocks than it
/// was sent, with NUM counted in its new size. Should it ask for larger blocks than
/// we send, it gets ours, starting at the byte it asked for (its NUM rescaled to
/// our size), so the bytes it holds stay contiguous.
fn block2_window(requested: Option<Block>, max_szx: u8) -> Result<(u64, u8), CoapError> {
    let Some(b) = requested else {
        return Ok((0, max_szx));
    };
    let szx = b.szx.min(max_szx);
    let offset = u64::from(b.num) << (b.szx + 4);
    if (offset >> (szx + 4)) >= 1 << 20 {
        // NUM is at most 20 bits (3-byte option, §2.2).
        return Err(CoapError::BadOption(format!(
            "Block2 block {} of {} bytes cannot be numbered in blocks of {} bytes; ask for {}-byte blocks",
            b.num,
            b.size(),
            1 << (szx + 4),
            1 << (szx + 4)
        )));
    }
    Ok((offset, szx))
}

/// The Block2 option of a response carrying `len` bytes from `offset` of a body
/// of `total` bytes in blocks of SZX `szx`: present whenever the client asked
/// for blocks or the body does not fit one; a body that fits is sent whole
/// without it (RFC 7959 §2.2). A block past the end is 4.02 naming `what`.
fn block2_reply(
    offset: u64,
    szx: u8,
    asked: bool,
    len: usize,
    total: u64,
    what: &str,
) -> Result<Option<Block>, CoapError> {
    let num = (offset >> (szx + 4)) as u32;
    if offset > 0 && offset >= total {
        return Err(CoapError::BadOption(format!(
            "Block2 block {num} starts at byte {offset}, past the end of {what} ({total} bytes)"
        )));
    }
    let more = offset + (len as u64) < total;
    Ok((asked || more || offset > 0).then_some(Block { num, more, szx }))
}

/// 4.05 naming the method a resource takes, unless the request uses it.
fn only(method: RequestType, allowed: RequestType) -> Result<(), CoapError> {
    if method == allowed {
        return Ok(());
    }
    let name = match allowed {
        RequestType::Get => "GET",
        RequestType::Post => "POST",
        RequestType::Put => "PUT",
        RequestType::Delete => "DELETE",
        _ => "another method",
    };
    Err(CoapError::MethodNotAllowed(name.into()))
}

/// The notice's representation by the request's Accept option (RFC 7252
/// §5.10.4): JSON without one.
fn notice_format(packet: &Packet) -> Result<NoticeFormat, CoapError> {
    let Some(accept) = packet.get_first_option(CoapOption::Accept) else {
        return Ok(NoticeFormat::Json);
    };
    match (accept.len() <= 2).then(|| uint(accept)) {
        Some(JSON) => Ok(NoticeFormat::Json),
        Some(CBOR) => Ok(NoticeFormat::Cbor),
        other => Err(CoapError::NotAcceptable(format!(
            "GET /update answers in content-format 50 (json) or 60 (cbor), not {}; send Accept 50 or 60, or none",
            other.map_or_else(
                || "an Accept longer than 2 bytes".into(),
                |cf| cf.to_string()
            )
        ))),
    }
}

/// A status report is JSON: content-format 50, or none said.
fn status_format(packet: &Packet) -> Result<(), CoapError> {
    let Some(cf) = packet.get_first_option(CoapOption::ContentFormat) else {
        return Ok(());
    };
    match (cf.len() <= 2).then(|| uint(cf)) {
        Some(JSON) => Ok(()),
        Some(other) => Err(CoapError::StatusFormat(other as u16)),
        None => Err(CoapError::BadOption(
            "Content-Format is longer than 2 bytes".into(),
        )),
    }
}

/// The payload digest in `/fw/{digest}`, as the store names payloads.
fn payload_digest(segment: &str) -> Result<&str, CoapError> {
    if segment.len() == 64
        && segment
            .bytes()
            .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    {
        Ok(segment)
    } else {
        Err(CoapError::BadRequest(format!(
            "`{segment}` is not a payload digest; GET /fw/{{sha256}} with the payload's SHA-256 in 64 lowercase hex digits, as the update notice gives it"
        )))
    }
}

/// A CoAP uint option value (RFC 7252 §3.2).
fn uint(bytes: &[u8]) -> u32 {
    bytes.iter().fold(0u32, |v, b| (v << 8) | u32::from(*b))
}

fn uint_bytes(v: u32) -> Vec<u8> {
    let bytes = v.to_be_bytes();
    let skip = bytes.iter().take_while(|b| **b == 0).count();
    bytes[skip..].to_vec()
}

/// What a request body is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Target {
    /// `POST /telemetry`, in this media type.
    Telemetry(Media),
    /// `POST /update/status`.
    Status,
}

impl Target {
    /// The step for a complete body.
    fn step(self, payload: Vec<u8>, request: RequestMeta) -> Step {
        match self {
            Target::Telemetry(media) => Step::Ingest(Upload {
                media,
                payload,
                request,
            }),
            Target::Status => Step::Report(Upload {
                media: Media::Json,
                payload,
                request,
            }),
        }
    }
}

/// A block-wise upload in progress.
struct Reassembly {
    target: Target,
    body: Vec<u8>,
    /// The number of the next block expected, at the size the client uses.
    next_offset: usize,
    last: Instant,
}

struct Seen {
    message_id: u16,
    at: Instant,
    /// The response sent, to send again for a retransmitted CON.
    response: Option<Vec<u8>>,
}

/// A block-wise download in progress: the next block in sequence is not counted
/// against the rate limit, as the later blocks of an upload are not.
struct Download {
    digest: String,
    next_offset: u64,
}

/// Per-session CoAP state.
pub struct Exchanges {
    limits: Limits,
    seen: VecDeque<Seen>,
    upload: Option<Reassembly>,
    download: Option<Download>,
    next_message_id: u16,
}

/// Options this endpoint processes; any other critical (odd-numbered) option in a
/// request is refused with 4.02 (RFC 7252 §5.4.1).
const KNOWN_OPTIONS: [u16; 10] = [3, 7, 11, 12, 14, 15, 17, 23, 27, 60];

impl Exchanges {
    pub fn new(limits: Limits) -> Exchanges {
        Exchanges {
            limits,
            seen: VecDeque::new(),
            upload: None,
            download: None,
            next_message_id: rand::random(),
        }
    }

    /// Handle one decrypted datagram. `admit` is asked before a new request is
    /// served (the session's rate limit; the later blocks of an upload in progress
    /// are not counted, the upload is bounded by `max_body`, nor is the next block
    /// of a download in progress, bounded by the payload); a request it refuses
    /// gets 4.29. Retransmissions get their earlier response.
    pub fn on_datagram(
        &mut self,
        bytes: &[u8],
        now: Instant,
        admit: &mut dyn FnMut() -> bool,
    ) -> Step {
        let packet = match Packet::from_bytes(bytes) {
            Ok(p) => p,
            Err(_) => return self.malformed(bytes),
        };
        let confirmable = match packet.header.get_type() {
            MessageType::Confirmable => true,
            MessageType::NonConfirmable => false,
            // We send no confirmable messages, so ACKs and RSTs from the peer need nothing.
            MessageType::Acknowledgement | MessageType::Reset => return Step::Nothing,
        };
        let message_id = packet.header.message_id;
        if matches!(packet.header.code, MessageClass::Empty) {
            // A CoAP ping (RFC 7252 §4.3): answer an empty CON with RST.
            return if confirmable {
                Step::Reply(empty(MessageType::Reset, message_id))
            } else {
                Step::Nothing
            };
        }
        self.expire(now);
        // Deduplication (RFC 7252 §4.5): a message id seen within the lifetime is a
        // retransmission; a CON gets the same response again, a NON nothing.
        if let Some(seen) = self.seen.iter().find(|s| s.message_id == message_id) {
            return match (&seen.response, confirmable) {
                (Some(r), true) => Step::Reply(r.clone()),
                _ => Step::Nothing,
            };
        }
        let meta = RequestMeta {
            message_id,
            confirmable,
            token: packet.get_token().to_vec(),
            block1: None,
        };
        let MessageClass::Request(method) = packet.header.code else {
            // A response or reserved code sent to a server: reject (§4.2, §4.3).
            return if confirmable {
                Step::Reply(empty(MessageType::Reset, message_id))
            } else {
                Step::Nothing
            };
        };
        let continuation = self.upload.is_some()
            && block_option(&packet, CoapOption::Block1)
                .ok()
                .flatten()
                .is_some_and(|b| b.num > 0);
        if !continuation && !self.continues_download(&packet) && !admit() {
            return Step::Reply(self.respond(&meta, Err(CoapError::TooManyRequests), now));
        }
        match self.route(method, &packet, meta.clone(), now) {
            Ok(step) => step,
            Err(e) => Step::Reply(self.respond(&meta, Err(e), now)),
        }
    }

    /// The response to a request whose body (telemetry, or a status report) was
    /// committed, or refused: 2.04 Changed, or the session's error (a bad status
    /// report: 4.00 saying why).
    pub fn finish(
        &mut self,
        upload: Upload,
        result: Result<(), CoapError>,
        now: Instant,
    ) -> Vec<u8> {
        self.respond(&upload.request, result.map(|()| Reply::changed()), now)
    }

    /// The response to a [`Step::Fetch`]: the block read, or the session's error
    /// (not offered, unknown payload, revoked device). 2.05 Content with Block2
    /// NUM/M/SZX (RFC 7959 §2.2), ETag, and Size2 when the request asked (§4).
    pub fn finish_fetch(
        &mut self,
        fetch: Fetch,
        result: Result<Chunk, CoapError>,
        now: Instant,
    ) -> Vec<u8> {
        self.download = None;
        let reply = result.and_then(|chunk| {
            let block2 = block2_reply(
                fetch.offset,
                fetch.szx,
                fetch.block2,
                chunk.data.len(),
                chunk.total,
                &format!("payload {}", fetch.digest),
            )?;
            if block2.is_some_and(|b| b.more) {
                self.download = Some(Download {
                    digest: fetch.digest.clone(),
                    next_offset: fetch.offset + chunk.data.len() as u64,
                });
            }
            Ok(Reply {
                code: ResponseType::Content,
                content_format: Some(OCTET_STREAM),
                block2,
                // Size2 is a uint of up to 4 bytes; a larger payload is not sized.
                size2: fetch
                    .size2
                    .then(|| u32::try_from(chunk.total).ok())
                    .flatten(),
                // The payload is named by its digest, so it never changes under
                // the client between blocks (§2.4); its first 8 bytes make an ETag.
                etag: etag_of(&fetch.digest),
                payload: chunk.data,
                ..Reply::default()
            })
        });
        self.respond(&fetch.request, reply, now)
    }

    /// The response to a [`Step::Notice`]: the device's notice in the format the
    /// client accepts, 2.05 Content (block-wise should it not fit one block), or
    /// the session's error (no update for this device: 4.04).
    pub fn finish_notice(
        &mut self,
        request: NoticeRequest,
        result: Result<Notice, CoapError>,
        now: Instant,
    ) -> Vec<u8> {
        let reply = result.and_then(|notice| {
            let (body, content_format) = match request.format {
                NoticeFormat::Json => (serde_json::to_vec(&notice).ok(), JSON),
                NoticeFormat::Cbor => (notice.to_cbor().ok(), CBOR),
            };
            let body = body.ok_or_else(|| {
                CoapError::Unavailable(format!(
                    "the notice of campaign {} could not be encoded; try again later",
                    notice.campaign
                ))
            })?;
            let total = body.len() as u64;
            let start = request.offset.min(total) as usize;
            let end = (start + (1 << (request.szx + 4))).min(body.len());
            let block2 = block2_reply(
                request.offset,
                request.szx,
                request.block2,
                end - start,
                total,
                "the notice",
            )?;
            Ok(Reply {
                code: ResponseType::Content,
                content_format: Some(content_format),
                block2,
                payload: body[start..end].to_vec(),
                ..Reply::default()
            })
        });
        self.respond(&request.request, reply, now)
    }

    /// Does this request ask for the next block of the download in progress?
    fn continues_download(&self, packet: &Packet) -> bool {
        let Some(d) = &self.download else {
            return false;
        };
        let Ok(Some(block)) = block_option(packet, CoapOption::Block2) else {
            return false;
        };
        let path = uri_path(packet).unwrap_or_default();
        matches!(path.as_slice(), [f, digest] if f == FIRMWARE && *digest == d.digest)
            && u64::from(block.num) << (block.szx + 4) == d.next_offset
    }

    fn route(
        &mut self,
        method: RequestType,
        packet: &Packet,
        meta: RequestMeta,
        now: Instant,
    ) -> Result<Step, CoapError> {
        for (number, _) in packet.options() {
            if number % 2 == 1 && !KNOWN_OPTIONS.contains(number) {
                return Err(CoapError::BadOption(format!(
                    "critical option {number} is not supported"
                )));
            }
        }
        let path = uri_path(packet)?;
        match path.as_slice() {
            [w, c] if w == ".well-known" && c == "core" => {
                only(method, RequestType::Get)?;
                let reply = Reply {
                    code: ResponseType::Content,
                    content_format: Some(40),
                    payload: WELL_KNOWN_CORE.as_bytes().to_vec(),
                    ..Reply::default()
                };
                Ok(Step::Reply(self.respond(&meta, Ok(reply), now)))
            }
            [f, digest] if f == FIRMWARE => {
                only(method, RequestType::Get)?;
                let digest = payload_digest(digest)?;
                // In a request Block2 names the block wanted; its M bit has no
                // meaning there and is ignored (RFC 7959 §2.2).
                let requested = block_option(packet, CoapOption::Block2)?;
                let (offset, szx) = block2_window(requested, MAX_BLOCK2_SZX)?;
                Ok(Step::Fetch(Fetch {
                    digest: digest.to_string(),
                    offset,
                    len: 1 << (szx + 4),
                    szx,
                    block2: requested.is_some(),
                    size2: packet.get_first_option(CoapOption::Size2).is_some(),
                    request: meta,
                }))
            }
            [t] if t == TELEMETRY => {
                only(method, RequestType::Post)?;
                let target = Target::Telemetry(media_of(packet)?);
                self.body(packet, target, meta, now)
            }
            [u] if u == UPDATE => {
                only(method, RequestType::Get)?;
                let format = notice_format(packet)?;
                let requested = block_option(packet, CoapOption::Block2)?;
                let (offset, szx) = block2_window(requested, MAX_BLOCK2_SZX)?;
                Ok(Step::Notice(NoticeRequest {
                    format,
                    offset,
                    szx,
                    block2: requested.is_some(),
                    request: meta,
                }))
            }
            [u, st] if u == UPDATE && st == STATUS => {
                only(method, RequestType::Post)?;
                status_format(packet)?;
                self.body(packet, Target::Status, meta, now)
            }
            _ => Err(CoapError::NotFound(format!("/{}", path.join("/")))),
        }
    }

    /// A POST body for `target`: whole, or one block of a block-wise POST.
    fn body(
        &mut self,
        packet: &Packet,
        target: Target,
        mut meta: RequestMeta,
        now: Instant,
    ) -> Result<Step, CoapError> {
        let Some(block) = block_option(packet, CoapOption::Block1)? else {
            if packet.payload.len() > self.limits.max_body {
                return Err(CoapError::TooLarge {
                    max: self.limits.max_body,
                });
            }
            return Ok(target.step(packet.payload.clone(), meta));
        };
        meta.block1 = Some(block);
        self.block1(packet, target, block, meta, now)
    }

    /// One block of a block-wise POST (RFC 7959 §2.5).
    fn block1(
        &mut self,
        packet: &Packet,
        target: Target,
        block: Block,
        meta: RequestMeta,
        now: Instant,
    ) -> Result<Step, CoapError> {
        let max = self.limits.max_body;
        let offset = (block.num as usize).saturating_mul(block.size());
        if block.num == 0 {
            // Size1 announces the whole body (RFC 7959 §4): refuse early.
            if let Some(size) = packet.get_first_option(CoapOption::Size1)
                && uint(size) as usize > max
            {
                self.upload = None;
                return Err(CoapError::TooLarge { max });
            }
            self.upload = Some(Reassembly {
                target,
                body: Vec::new(),
                next_offset: 0,
                last: now,
            });
        }
        let Some(up) = self.upload.as_mut() else {
            return Err(CoapError::Incomplete(format!(
                "block {} arrived but no block-wise upload is in progress (it expired or never started with block 0)",
                block.num
            )));
        };
        if up.target != target {
            self.upload = None;
            return Err(CoapError::Incomplete(format!(
                "block {} is for another resource than the block-wise upload in progress; start again with block 0",
                block.num
            )));
        }
        if offset != up.next_offset {
            let expected = up.next_offset;
            self.upload = None;
            return Err(CoapError::Incomplete(format!(
                "block {} starts at byte {offset}, expected byte {expected}; start again with block 0",
                block.num
            )));
        }
        if block.more && packet.payload.len() != block.size() {
            self.upload = None;
            return Err(CoapError::BadRequest(format!(
                "block {} carries {} bytes but its size is {} and more blocks follow (RFC 7959 §2.2)",
                block.num,
                packet.payload.len(),
                block.size()
            )));
        }
        if up.body.len() + packet.payload.len() > max {
            self.upload = None;
            return Err(CoapError::TooLarge { max });
        }
        up.body.extend_from_slice(&packet.payload);
        up.next_offset = up.body.len();
        up.last = now;
        if block.more {
            let reply = Reply {
                code: ResponseType::Continue,
                ..Reply::default()
            };
            return Ok(Step::Reply(self.respond(&meta, Ok(reply), now)));
        }
        let Some(up) = self.upload.take() else {
            return Err(CoapError::Incomplete("the upload vanished".into()));
        };
        Ok(up.target.step(up.body, meta))
    }

    fn expire(&mut self, now: Instant) {
        let lifetime = self.limits.dedup_lifetime;
        while self
            .seen
            .front()
            .is_some_and(|s| now.duration_since(s.at) > lifetime)
        {
            self.seen.pop_front();
        }
        if self
            .upload
            .as_ref()
            .is_some_and(|u| now.duration_since(u.last) > self.limits.reassembly_timeout)
        {
            self.upload = None;
        }
    }

    /// Build the response, remember it under the request's message id.
    fn respond(
        &mut self,
        meta: &RequestMeta,
        result: Result<Reply, CoapError>,
        now: Instant,
    ) -> Vec<u8> {
        let reply = result.unwrap_or_else(Reply::error);
        let mut p = Packet::new();
        if meta.confirmable {
            // Piggybacked response (RFC 7252 §5.2.1).
            p.header.set_type(MessageType::Acknowledgement);
            p.header.message_id = meta.message_id;
        } else {
            // A NON request gets a NON response with a new message id (§5.2.3).
            p.header.set_type(MessageType::NonConfirmable);
            p.header.message_id = self.next_message_id;
            self.next_message_id = self.next_message_id.wrapping_add(1);
        }
        p.set_token(meta.token.clone());
        p.header.code = MessageClass::Response(reply.code);
        if let Some(cf) = reply.content_format {
            p.add_option(CoapOption::ContentFormat, uint_bytes(cf));
        }
        if let Some(b) = meta.block1 {
            // Echo the block on success (§2.3); 4.13 gets its own Size1 below.
            if !reply.code_is_error() {
                p.add_option(CoapOption::Block1, b.encode());
            }
        }
        if let Some(b) = reply.block2 {
            p.add_option(CoapOption::Block2, b.encode());
        }
        if let Some(size2) = reply.size2 {
            p.add_option(CoapOption::Size2, uint_bytes(size2));
        }
        if let Some(etag) = reply.etag {
            p.add_option(CoapOption::ETag, etag);
        }
        if let Some(size1) = reply.size1 {
            p.add_option(CoapOption::Size1, uint_bytes(size1));
        }
        if let Some(age) = reply.max_age {
            p.add_option(CoapOption::MaxAge, uint_bytes(age));
        }
        p.payload = reply.payload;
        let bytes = p.to_bytes_unlimited().unwrap_or_else(|_| {
            // Only a token over 8 bytes fails to encode, and parsing refused it already.
            empty(MessageType::Reset, meta.message_id)
        });
        if self.seen.len() >= self.limits.dedup_window {
            self.seen.pop_front();
        }
        self.seen.push_back(Seen {
            message_id: meta.message_id,
            at: now,
            response: Some(bytes.clone()),
        });
        bytes
    }

    /// A datagram that is not a CoAP message: a CON gets RST (§4.2) if its
    /// message id can be read, anything else is dropped.
    fn malformed(&self, bytes: &[u8]) -> Step {
        if bytes.len() >= 4 && bytes[0] >> 6 == 1 && (bytes[0] >> 4) & 3 == 0 {
            Step::Reply(empty(
                MessageType::Reset,
                u16::from_be_bytes([bytes[2], bytes[3]]),
            ))
        } else {
            Step::Nothing
        }
    }
}

/// A response before it is framed.
#[derive(Debug)]
struct Reply {
    code: ResponseType,
    content_format: Option<u32>,
    size1: Option<u32>,
    max_age: Option<u32>,
    block2: Option<Block>,
    size2: Option<u32>,
    etag: Option<Vec<u8>>,
    payload: Vec<u8>,
}

impl Default for Reply {
    fn default() -> Reply {
        Reply {
            code: ResponseType::Changed,
            content_format: None,
            size1: None,
            max_age: None,
            block2: None,
            size2: None,
            etag: None,
            payload: Vec::new(),
        }
    }
}

impl Reply {
    fn changed() -> Reply {
        Reply::default()
    }

    /// An error response with its diagnostic payload (RFC 7252 §5.5.2).
    fn error(e: CoapError) -> Reply {
        Reply {
            code: e.code(),
            size1: match &e {
                // 4.13 says how large a body may be (RFC 7959 §2.9.3).
                CoapError::TooLarge { max } => Some(u32::try_from(*max).unwrap_or(u32::MAX)),
                _ => None,
            },
            max_age: match &e {
                // 4.29: try again in a second (RFC 8516 §4).
                CoapError::TooManyRequests => Some(1),
                _ => None,
            },
            payload: e.to_string().into_bytes(),
            ..Reply::default()
        }
    }

    fn code_is_error(&self) -> bool {
        !matches!(
            self.code,
            ResponseType::Changed | ResponseType::Content | ResponseType::Continue
        )
    }
}

/// The first 8 bytes of a hex digest (an ETag is at most 8 bytes, RFC 7252 §5.10.6).
fn etag_of(digest: &str) -> Option<Vec<u8>> {
    digest
        .as_bytes()
        .chunks(2)
        .take(8)
        .map(|pair| u8::from_str_radix(std::str::from_utf8(pair).ok()?, 16).ok())
        .collect()
}

fn empty(kind: MessageType, message_id: u16) -> Vec<u8> {
    let mut p = Packet::new();
    p.header.set_type(kind);
    p.header.message_id = message_id;
    p.header.code = MessageClass::Empty;
    // An empty message with no token and no options always encodes.
    p.to_bytes().unwrap_or_default()
}

fn uri_path(packet: &Packet) -> Result<Vec<String>, CoapError> {
    let Some(segments) = packet.get_option(CoapOption::UriPath) else {
        return Ok(Vec::new());
    };
    segments
        .iter()
        .map(|s| {
            String::from_utf8(s.clone())
                .map_err(|_| CoapError::BadRequest("a Uri-Path segment is not UTF-8".into()))
        })
        .collect()
}

/// The payload's media type from its Content-Format (RFC 7252 §5.10.3); none said
/// means the model's decoder reads its natural format.
fn media_of(packet: &Packet) -> Result<Media, CoapError> {
    let Some(cf) = packet.get_first_option(CoapOption::ContentFormat) else {
        return Ok(Media::Unspecified);
    };
    if cf.len() > 2 {
        return Err(CoapError::BadOption(
            "Content-Format is longer than 2 bytes".into(),
        ));
    }
    let cf = uint(cf) as u16;
    Media::from_content_format(cf).ok_or(CoapError::UnsupportedContentFormat(cf))
}

#[cfg(test)]
mod tests;
