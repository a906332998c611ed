//! One device connection, from the TLS handshake to the end of its session.
//!
//! Order of a connection's life: TLS handshake and CONNECT within
//! `connect_timeout_secs` (a client that opens TCP and never finishes holds nothing
//! for long) → authentication (client certificate, else username = device id and
//! password = token; anonymous is refused) → CONNACK → packets until DISCONNECT,
//! an error, keep-alive expiry, revocation or server shutdown.
//!
//! Acknowledgements: a QoS 1 PUBLISH is PUBACKed, and a QoS 2 PUBLISH PUBRECed, only
//! once its readings are committed; acknowledgements leave in the order the
//! publishes arrived (MQTT 5 §4.6), while several commits may be pending at once.

use std::collections::{BTreeMap, HashSet};
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
use futures::StreamExt;
use futures::stream::FuturesOrdered;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::codec::{self, ConnectInfo, In, Out, PublishIn, Reason, Version};
use super::{Broker, Control, Message, TOPIC_ROOT};
use crate::ingest::{Decoder, IngestError, Media};
use crate::registry::{Device, IdentityKind, RegistryError};

/// How a connection ended, for the log and for deciding about the will.
#[derive(Debug)]
enum End {
    /// The client sent DISCONNECT (no will, unless it asked for it).
    Clean { with_will: bool },
    /// The network or the peer failed; the will is published.
    Lost(String),
    /// The broker closed it for a reason the device should hear.
    Closed(Reason, String),
    /// Revoked or deleted: no will, the device is no longer trusted.
    Evicted,
}

type Pending = Pin<Box<dyn Future<Output = Ack> + Send>>;

struct Ack {
    pkid: u16,
    qos: u8,
    result: Result<usize, (Reason, String)>,
}

fn refusal(e: &IngestError) -> (Reason, String) {
    if e.is_client_error() {
        (Reason::PayloadFormatInvalid, e.to_string())
    } else {
        (Reason::ImplementationSpecificError, e.to_string())
    }
}

/// Token bucket for publishes of one connection.
struct Limiter {
    rate: f64,
    burst: f64,
    tokens: f64,
    last: Instant,
}

impl Limiter {
    fn new(rate: u32, burst: u32) -> Limiter {
        Limiter {
            rate: rate.max(1) as f64,
            burst: burst.max(1) as f64,
            tokens: burst.max(1) as f64,
            last: Instant::now(),
        }
    }
    /// Take one token; when the bucket is empty, the time to wait before reading more.
    fn take(&mut self) -> Option<Instant> {
        let now = Instant::now();
        self.tokens =
            (self.tokens + now.duration_since(self.last).as_secs_f64() * self.rate).min(self.burst);
        self.last = now;
        self.tokens -= 1.0;
        (self.tokens < 0.0).then(|| now + Duration::from_secs_f64(-self.tokens / self.rate))
    }
}

pub(super) async fn serve(
    broker: Arc<Broker>,
    tcp: TcpStream,
    peer: SocketAddr,
    stop: CancellationToken,
) {
    broker.metrics.connections.inc();
    broker.metrics.connections_total.inc();
    let deadline = Duration::from_secs(broker.config.connect_timeout_secs.max(1));
    let tls = match tokio::time::timeout(deadline, broker.tls.accept(tcp)).await {
        Ok(Ok(tls)) => Some(tls),
        Ok(Err(e)) => {
            broker.metrics.error("tls_handshake");
            tracing::debug!(%peer, error = %e, "TLS handshake failed");
            None
        }
        Err(_) => {
            broker.metrics.error("connect_timeout");
            tracing::debug!(%peer, "TLS handshake timed out");
            None
        }
    };
    if let Some(tls) = tls {
        let cert = tls
            .get_ref()
            .1
            .peer_certificates()
            .and_then(|c| c.first())
            .map(|c| crate::pki::fingerprint(c));
        let (rd, wr) = tokio::io::split(tls);
        Connection {
            broker: broker.clone(),
            rd,
            wr,
            rbuf: BytesMut::with_capacity(2048),
            wbuf: BytesMut::with_capacity(256),
            version: Version::V311,
            peer,
        }
        .run(cert, deadline, stop)
        .await;
    }
    broker.metrics.connections.dec();
}

struct Connection<R, W> {
    broker: Arc<Broker>,
    rd: R,
    wr: W,
    rbuf: BytesMut,
    wbuf: BytesMut,
    version: Version,
    peer: SocketAddr,
}

/// Per-session state of an authenticated connection.
struct State {
    device: Device,
    /// The decoder the device's model declares, looked up once per connection.
    decoder: Arc<Decoder>,
    telemetry: String,
    commands: String,
    subscriptions: Vec<(String, u8)>,
    inflight: FuturesOrdered<Pending>,
    awaiting_rel: HashSet<u16>,
    next_pkid: u16,
    unacked_out: BTreeMap<u16, Message>,
}

impl<R: AsyncRead + Unpin, W: AsyncWrite + Unpin> Connection<R, W> {
    fn max_packet(&self) -> usize {
        self.broker.config.max_packet_size as usize
    }

    fn push(&mut self, out: Out) -> bool {
        match codec::encode(self.version, &out, &mut self.wbuf) {
            Ok(sent) => sent,
            Err(e) => {
                tracing::warn!(peer = %self.peer, error = %e, "encoding a packet");
                false
            }
        }
    }

    async fn flush(&mut self) -> std::io::Result<()> {
        if !self.wbuf.is_empty() {
            self.wr.write_all(&self.wbuf).await?;
            self.wr.flush().await?;
            self.wbuf.clear();
        }
        Ok(())
    }

    /// Tell the client why (MQTT 5 DISCONNECT; 3.1.1 has none) and close.
    async fn close(&mut self, reason: Reason, why: &str) {
        self.push(Out::Disconnect {
            reason,
            reason_string: Some(why.to_string()),
        });
        let _ = self.flush().await;
        let _ = self.wr.shutdown().await;
    }

    async fn read_connect(&mut self) -> Result<ConnectInfo, End> {
        loop {
            let max = self.max_packet();
            match codec::read_connect(&mut self.rbuf, max) {
                Ok(Some((version, c))) => {
                    self.version = version;
                    return Ok(c);
                }
                Ok(None) => {}
                Err(codec::CodecError::UnsupportedProtocol) => {
                    // MQTT 3.1.1 §3.1.2.2: answer with return code 1, then close.
                    self.push(Out::ConnAck {
                        reason: Reason::UnsupportedProtocolVersion,
                        session_present: false,
                        max_packet_size: 0,
                        receive_max: 0,
                        server_keep_alive: None,
                    });
                    let _ = self.flush().await;
                    return Err(End::Closed(
                        Reason::UnsupportedProtocolVersion,
                        "unsupported protocol".into(),
                    ));
                }
                Err(e) => return Err(End::Closed(Reason::MalformedPacket, e.to_string())),
            }
            match self.rd.read_buf(&mut self.rbuf).await {
                Ok(0) => return Err(End::Lost("closed before CONNECT".into())),
                Ok(_) => {}
                Err(e) => return Err(End::Lost(e.to_string())),
            }
        }
    }

    fn authenticate(&self, cert: Option<&str>, c: &ConnectInfo) -> Result<Device, Reason> {
        let registry = &self.broker.registry;
        let refuse = |e: RegistryError| match e {
            RegistryError::Store(err) => {
                tracing::error!(error = %err, "store failure during authentication");
                Reason::ServerUnavailable
            }
            _ => Reason::NotAuthorized,
        };
        if let Some(fp) = cert {
            match registry
                .authenticate(IdentityKind::CertSha256, fp)
                .map_err(refuse)?
            {
                // A certificate speaks for one device; a username must not claim another.
                Some(d) if c.username.as_deref().is_none_or(|u| u == d.id) => Ok(d),
                _ => Err(Reason::NotAuthorized),
            }
        } else if let (Some(user), Some(pass)) = (&c.username, &c.password) {
            let pass = String::from_utf8_lossy(pass);
            registry
                .authenticate_token(user, &pass)
                .map_err(refuse)?
                .ok_or(Reason::BadUserNamePassword)
        } else {
            Err(Reason::NotAuthorized)
        }
    }

    /// A CONNACK with a refusal, then the connection closed.
    async fn refuse_connect(&mut self, reason: Reason) {
        self.push(Out::ConnAck {
            reason,
            session_present: false,
            max_packet_size: self.broker.config.max_packet_size,
            receive_max: self.broker.config.max_inflight,
            server_keep_alive: None,
        });
        let _ = self.flush().await;
        let _ = self.wr.shutdown().await;
    }

    async fn run(mut self, cert: Option<String>, deadline: Duration, stop: CancellationToken) {
        let connect = match tokio::time::timeout(deadline, self.read_connect()).await {
            Ok(Ok(c)) => c,
            Ok(Err(end)) => {
                self.broker.metrics.error("connect");
                tracing::debug!(peer = %self.peer, ?end, "no valid CONNECT");
                if let End::Closed(reason, why) = end {
                    self.close(reason, &why).await;
                }
                return;
            }
            Err(_) => {
                self.broker.metrics.error("connect_timeout");
                return;
            }
        };
        let device = match self.authenticate(cert.as_deref(), &connect) {
            Ok(d) => d,
            Err(reason) => {
                self.broker.metrics.error("auth");
                tracing::info!(peer = %self.peer, ?reason, "connection refused");
                self.refuse_connect(reason).await;
                return;
            }
        };
        // The messaging ACL comes from the device's effective policy: wait
        // (bounded) for the policy engine to have compiled one for a device
        // registered a moment ago; a device with none is refused.
        if let Some(p) = self.broker.messaging.get()
            && !crate::ingest::await_policy(p.as_ref(), &device.id, Duration::from_secs(5)).await
        {
            self.broker.metrics.error("auth");
            tracing::info!(peer = %self.peer, device = %device.id, "connection refused: no policy compiled for the device");
            self.refuse_connect(Reason::NotAuthorized).await;
            return;
        }
        let telemetry = format!("{TOPIC_ROOT}/{}/telemetry", device.id);
        if let Some(w) = &connect.will
            && !is_telemetry(&telemetry, &w.topic)
        {
            self.refuse_connect(Reason::NotAuthorized).await;
            return;
        }
        let (tx, rx) = mpsc::channel(256);
        let conn_id = self.broker.next_conn_id();
        let persistent = match self.version {
            Version::V311 => !connect.clean_start,
            Version::V5 => connect.session_expiry.unwrap_or(0) > 0,
        };
        let (resumed, subscriptions, queued) =
            self.broker
                .attach(&device.id, conn_id, tx, connect.clean_start, persistent);
        let keep_alive = match connect.keep_alive {
            0 => self.broker.config.default_keep_alive_secs,
            k => k,
        };
        self.push(Out::ConnAck {
            reason: Reason::Success,
            session_present: resumed,
            max_packet_size: self.broker.config.max_packet_size,
            receive_max: self.broker.config.max_inflight,
            server_keep_alive: (keep_alive != connect.keep_alive).then_some(keep_alive),
        });
        tracing::debug!(peer = %self.peer, device = %device.id, version = ?self.version, "connected");
        let decoder = match self.broker.registry.model(&device.model) {
            Ok(m) => Arc::new(m.decoder),
            Err(e) => {
                tracing::warn!(device = %device.id, error = %e, "model lookup; decoding as SenML");
                Arc::new(Decoder::Senml)
            }
        };
        let mut state = State {
            decoder,
            commands: format!("{TOPIC_ROOT}/{}/commands", device.id),
            telemetry,
            device,
            subscriptions,
            inflight: FuturesOrdered::new(),
            awaiting_rel: HashSet::new(),
            next_pkid: 0,
            unacked_out: BTreeMap::new(),
        };
        for m in queued {
            self.deliver(&mut state, m);
        }
        let end = self.session(&mut state, keep_alive, rx, stop).await;
        let device_id = state.device.id.clone();
        if let End::Lost(why) = &end {
            tracing::debug!(peer = %self.peer, device = %device_id, %why, "connection lost");
        } else {
            tracing::debug!(peer = %self.peer, device = %device_id, ?end, "session ended");
        }
        let will = match &end {
            End::Lost(_) | End::Closed(..) | End::Clean { with_will: true } => connect.will,
            _ => None,
        };
        if let End::Closed(reason, why) = &end {
            self.close(*reason, why).await;
        }
        self.broker.detach(
            &device_id,
            conn_id,
            std::mem::take(&mut state.subscriptions),
            std::mem::take(&mut state.unacked_out)
                .into_values()
                .collect(),
        );
        if let Some(w) = will {
            // MQTT §3.1.2.5: the will is published when the connection ends without
            // a DISCONNECT. Ours can only go to the device's own telemetry topic.
            let media = media_of(&state.telemetry, &w.topic, w.content_type.as_deref());
            if let Ok(media) = media {
                let ingest = self.broker.ingest.clone();
                let decoder = state.decoder.clone();
                tokio::spawn(async move {
                    let result = ingest
                        .ingest(&device_id, &decoder, media, &w.payload, "mqtt")
                        .await;
                    if let Err(e) = result {
                        tracing::info!(device = %device_id, error = %e, "will not stored");
                    }
                });
            }
        }
    }

    async fn session(
        &mut self,
        st: &mut State,
        keep_alive: u16,
        mut rx: mpsc::Receiver<Control>,
        stop: CancellationToken,
    ) -> End {
        // MQTT §3.1.2.10: close after one and a half keep-alive periods of silence.
        let grace = Duration::from_millis(keep_alive as u64 * 1500);
        let mut idle_deadline = Instant::now() + grace;
        let mut limiter = Limiter::new(
            self.broker.config.rate_limit_per_sec,
            self.broker.config.rate_burst,
        );
        let mut throttled_until: Option<Instant> = None;
        let max_inflight = self.broker.config.max_inflight.max(1) as usize;
        let mut stopping = false;
        loop {
            if let Err(e) = self.flush().await {
                return End::Lost(e.to_string());
            }
            if stopping && st.inflight.is_empty() {
                return End::Closed(
                    Reason::ServerShuttingDown,
                    "the gateway is shutting down".into(),
                );
            }
            let can_read =
                !stopping && throttled_until.is_none() && st.inflight.len() < max_inflight;
            tokio::select! {
                biased;
                _ = stop.cancelled(), if !stopping => stopping = true,
                Some(ack) = st.inflight.next(), if !st.inflight.is_empty() => {
                    if let Some(end) = self.acknowledge(ack) {
                        return end;
                    }
                }
                ctrl = rx.recv() => match ctrl {
                    Some(Control::Deliver(m)) => self.deliver(st, m),
                    Some(Control::Close(Reason::AdministrativeAction, why)) => {
                        self.close(Reason::AdministrativeAction, &why).await;
                        return End::Evicted;
                    }
                    Some(Control::Close(reason, why)) => return End::Closed(reason, why),
                    None => return End::Evicted,
                },
                _ = tokio::time::sleep_until(throttled_until.unwrap_or_else(Instant::now)), if throttled_until.is_some() => {
                    throttled_until = None;
                }
                _ = tokio::time::sleep_until(idle_deadline), if keep_alive > 0 => {
                    return End::Closed(Reason::KeepAliveTimeout, "keep-alive expired".into());
                }
                read = self.rd.read_buf(&mut self.rbuf), if can_read => {
                    match read {
                        Ok(0) => return End::Lost("connection closed by peer".into()),
                        Ok(_) => {}
                        Err(e) => return End::Lost(e.to_string()),
                    }
                    idle_deadline = Instant::now() + grace;
                    loop {
                        let max = self.max_packet();
                        let packet = match codec::read(self.version, &mut self.rbuf, max) {
                            Ok(Some(p)) => p,
                            Ok(None) => break,
                            Err(codec::CodecError::TooLarge { size, max }) => {
                                self.broker.metrics.error("packet_too_large");
                                return End::Closed(Reason::PacketTooLarge, format!("packet of {size} bytes; the maximum is {max}"));
                            }
                            Err(e) => {
                                self.broker.metrics.error("malformed_packet");
                                return End::Closed(Reason::MalformedPacket, e.to_string());
                            }
                        };
                        if matches!(packet, In::Publish(_))
                            && let Some(until) = limiter.take()
                        {
                            throttled_until = Some(until);
                        }
                        if let Some(end) = self.handle(st, packet) {
                            return end;
                        }
                    }
                }
            }
        }
    }

    /// Write the acknowledgement of a commit (or its refusal).
    fn acknowledge(&mut self, ack: Ack) -> Option<End> {
        let (reason, text) = match ack.result {
            Ok(_) => (Reason::Success, None),
            Err((reason, text)) => {
                tracing::info!(peer = %self.peer, ?reason, error = %text, "telemetry refused");
                (reason, Some(text))
            }
        };
        let out = match ack.qos {
            0 => {
                // No acknowledgement exists at QoS 0: a refused message ends the
                // connection, so the device learns (MQTT 5 carries the reason).
                return text.map(|t| End::Closed(reason, t));
            }
            1 => Out::PubAck {
                pkid: ack.pkid,
                reason,
                reason_string: text.clone(),
            },
            _ => Out::PubRec {
                pkid: ack.pkid,
                reason,
                reason_string: text.clone(),
            },
        };
        if !self.push(out) {
            // MQTT 3.1.1 has no negative acknowledgement: close the connection.
            return Some(End::Closed(reason, text.unwrap_or_default()));
        }
        None
    }

    fn deliver(&mut self, st: &mut State, m: Message) {
        let Some(granted) = st
            .subscriptions
            .iter()
            .filter(|(f, _)| rumqttc::mqttbytes::matches(&m.topic, f))
            .map(|(_, q)| *q)
            .max()
        else {
            return;
        };
        let qos = m.qos.min(granted);
        let pkid = if qos > 0 {
            st.next_pkid = st.next_pkid.wrapping_add(1).max(1);
            st.unacked_out.insert(st.next_pkid, m.clone());
            st.next_pkid
        } else {
            0
        };
        self.push(Out::Publish {
            topic: m.topic,
            qos,
            pkid,
            payload: m.payload,
            dup: false,
        });
    }

    fn handle(&mut self, st: &mut State, packet: In) -> Option<End> {
        match packet {
            In::Publish(p) => return self.publish(st, p),
            In::PubAck(pkid) => {
                st.unacked_out.remove(&pkid);
            }
            In::PubRec(pkid) => {
                // We never send QoS 2; answer per MQTT §4.3.3 all the same.
                self.push(Out::PubRel(pkid));
            }
            In::PubComp(_) => {}
            In::PubRel(pkid) => {
                st.awaiting_rel.remove(&pkid);
                self.push(Out::PubComp(pkid));
            }
            In::Subscribe { pkid, filters } => {
                let mut granted = Vec::with_capacity(filters.len());
                for (filter, qos) in filters {
                    let own = may_subscribe(&st.commands, &filter)
                        || filter == format!("{TOPIC_ROOT}/{}/update", st.device.id);
                    if own && self.policy_allows(&st.device.id, &filter, Op::Subscribe) {
                        let q = qos.min(1);
                        st.subscriptions.retain(|(f, _)| *f != filter);
                        st.subscriptions.push((filter, q));
                        granted.push(Some(q));
                    } else {
                        self.broker.metrics.error("acl_subscribe");
                        tracing::info!(device = %st.device.id, %filter, "subscription refused");
                        granted.push(None);
                    }
                }
                self.push(Out::SubAck { pkid, granted });
            }
            In::Unsubscribe { pkid, filters } => {
                st.subscriptions.retain(|(f, _)| !filters.contains(f));
                self.push(Out::UnsubAck {
                    pkid,
                    count: filters.len(),
                });
            }
            In::PingReq => {
                self.push(Out::PingResp);
            }
            In::Disconnect { with_will } => return Some(End::Clean { with_will }),
            In::Connect(_) => {
                return Some(End::Closed(Reason::ProtocolError, "second CONNECT".into()));
            }
            In::Unexpected(what) => {
                return Some(End::Closed(
                    Reason::ProtocolError,
                    format!("a client does not send {what}"),
                ));
            }
        }
        None
    }

    fn publish(&mut self, st: &mut State, p: PublishIn) -> Option<End> {
        if p.qos > 0 && p.pkid == 0 {
            return Some(End::Closed(Reason::ProtocolError, "packet id 0".into()));
        }
        // A refusal is queued behind the pending acknowledgements, so that
        // acknowledgements keep the order of the publishes (MQTT 5 §4.6).
        let (pkid, qos) = (p.pkid, p.qos);
        let refuse = |st: &mut State, reason: Reason, why: String| -> Option<End> {
            st.inflight.push_back(Box::pin(async move {
                Ack {
                    pkid,
                    qos,
                    result: Err((reason, why)),
                }
            }));
            None
        };
        if !self.policy_allows(&st.device.id, &p.topic, Op::Publish) {
            self.broker.metrics.error("acl_publish");
            tracing::info!(device = %st.device.id, topic = %p.topic, "publish refused by the device's policy");
            return refuse(
                st,
                Reason::NotAuthorized,
                format!(
                    "the device's policy does not grant publishing to `{}` (`steward explain {}` says why)",
                    p.topic, st.device.id
                ),
            );
        }
        if let Some(sink) = self.broker.status_sink.get()
            && p.topic == format!("{TOPIC_ROOT}/{}/update/status", st.device.id)
        {
            // A firmware update status report: to the update service, acknowledged
            // once it is stored.
            let report = sink.clone().report(st.device.id.clone(), p.payload.clone());
            st.inflight.push_back(Box::pin(async move {
                let result = report
                    .await
                    .map(|()| 0)
                    .map_err(|why| (Reason::PayloadFormatInvalid, why));
                Ack { pkid, qos, result }
            }));
            return None;
        }
        let media = match media_of(&st.telemetry, &p.topic, p.content_type.as_deref()) {
            Ok(f) => f,
            Err(TopicError::NotAllowed) => {
                self.broker.metrics.error("acl_publish");
                tracing::info!(device = %st.device.id, topic = %p.topic, "publish refused");
                return refuse(
                    st,
                    Reason::NotAuthorized,
                    format!("device may not publish to `{}`", p.topic),
                );
            }
            Err(TopicError::ContentType(ct)) => {
                return refuse(
                    st,
                    Reason::PayloadFormatInvalid,
                    format!("unsupported content type `{ct}`"),
                );
            }
        };
        if p.qos == 2 && st.awaiting_rel.contains(&p.pkid) {
            // A retransmission of a QoS 2 message already stored: acknowledge again,
            // store nothing (MQTT §4.3.3).
            st.inflight.push_back(Box::pin(async move {
                Ack {
                    pkid: p.pkid,
                    qos: 2,
                    result: Ok(0),
                }
            }));
            return None;
        }
        if p.qos == 2 {
            st.awaiting_rel.insert(p.pkid);
        }
        let ingest = self.broker.ingest.clone();
        self.broker.metrics.message("mqtt");
        let decoded = ingest.decode(&st.device.id, &st.decoder, media, &p.payload);
        let fut: Pending = match decoded {
            Ok(readings) => Box::pin(async move {
                let result = ingest.commit(readings).await.map_err(|e| refusal(&e));
                Ack { pkid, qos, result }
            }),
            Err(e) => {
                self.broker.metrics.error(e.kind());
                if qos == 2 {
                    st.awaiting_rel.remove(&pkid);
                }
                let r = refusal(&e);
                Box::pin(async move {
                    Ack {
                        pkid,
                        qos,
                        result: Err(r),
                    }
                })
            }
        };
        st.inflight.push_back(fut);
        None
    }
}

#[derive(Clone, Copy)]
enum Op {
    Publish,
    Subscribe,
}

impl<R: AsyncRead + Unpin, W: AsyncWrite + Unpin> Connection<R, W> {
    /// Whether the device's effective policy grants this topic (true when no
    /// policy engine is attached: the broker alone, in unit tests). A device
    /// whose policy is gone (revoked, deleted) is refused.
    fn policy_allows(&self, device_id: &str, topic: &str, op: Op) -> bool {
        let Some(p) = self.broker.messaging.get() else {
            return true;
        };
        let verdict = match op {
            Op::Publish => p.may_publish(device_id, topic),
            Op::Subscribe => p.may_subscribe(device_id, topic),
        };
        verdict.unwrap_or(false)
    }
}

enum TopicError {
    NotAllowed,
    ContentType(String),
}

fn is_telemetry(telemetry: &str, topic: &str) -> bool {
    topic == telemetry
        || topic
            .strip_prefix(telemetry)
            .is_some_and(|rest| rest == "/cbor")
}

/// The media type of a publish (the `/cbor` topic, else the MQTT 5 content type,
/// else unspecified: the model's decoder then assumes its natural format), or why
/// the device may not publish there.
fn media_of(telemetry: &str, topic: &str, content_type: Option<&str>) -> Result<Media, TopicError> {
    if !is_telemetry(telemetry, topic) {
        return Err(TopicError::NotAllowed);
    }
    if topic.ends_with("/cbor") {
        return Ok(Media::SenmlCbor);
    }
    match content_type {
        None => Ok(Media::Unspecified),
        Some(ct) => Media::from_mime(ct).ok_or_else(|| TopicError::ContentType(ct.into())),
    }
}

/// A device may subscribe only inside its own commands topic.
fn may_subscribe(commands: &str, filter: &str) -> bool {
    rumqttc::mqttbytes::valid_filter(filter)
        && (filter == commands
            || filter
                .strip_prefix(commands)
                .is_some_and(|rest| rest.starts_with('/')))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topic_rules() {
        let t = "steward/v1/devices/a/telemetry";
        let c = "steward/v1/devices/a/commands";
        assert!(is_telemetry(t, t));
        assert!(is_telemetry(t, "steward/v1/devices/a/telemetry/cbor"));
        assert!(!is_telemetry(t, "steward/v1/devices/b/telemetry"));
        assert!(!is_telemetry(t, "steward/v1/devices/a/telemetry/x"));
        assert!(may_subscribe(c, "steward/v1/devices/a/commands/#"));
        assert!(may_subscribe(c, "steward/v1/devices/a/commands/reboot"));
        assert!(may_subscribe(c, "steward/v1/devices/a/commands/+"));
        assert!(!may_subscribe(c, "steward/v1/devices/+/commands/#"));
        assert!(!may_subscribe(c, "steward/v1/devices/#"));
        assert!(!may_subscribe(c, "#"));
        assert!(!may_subscribe(c, "steward/v1/devices/a/commandsX"));
        assert!(!may_subscribe(c, "steward/v1/devices/b/commands/#"));
        assert!(matches!(
            media_of(t, t, Some("application/senml+cbor")),
            Ok(Media::SenmlCbor)
        ));
        assert!(matches!(
            media_of(t, t, Some("text/plain")),
            Err(TopicError::ContentType(_))
        ));
    }

    #[tokio::test(start_paused = true)]
    async fn limiter_throttles_beyond_burst() {
        let mut l = Limiter::new(10, 2);
        assert!(l.take().is_none());
        assert!(l.take().is_none());
        let wait = l.take().expect("third message in the same instant waits");
        assert!(wait > Instant::now());
        tokio::time::advance(Duration::from_secs(1)).await;
        assert!(l.take().is_none());
    }
}
