//! One device connection: TCP (from a chosen source address) → TLS (rustls, ring,
//! with the device's client certificate) → MQTT 3.1.1 CONNECT/CONNACK → publish
//! loop or idle hold → DISCONNECT.
//!
//! Why not rumqttc's `AsyncClient`: its event loop sits between our `publish` call and
//! the socket (a request channel, its own in-flight bookkeeping and flow control), so
//! "publish → PUBACK" would include queueing inside the client, and the time a
//! publish really leaves is not visible. Here the loop is ours and small: the time
//! stamp is taken when the PUBLISH is encoded into the buffer that is written at
//! once, and the PUBACK is matched by packet id as soon as it is read. Only the
//! packet codec comes from rumqttc (`mqttbytes::v4`), as in Steward's broker.

use std::collections::{BTreeMap, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use bytes::{Bytes, BytesMut};
use hdrhistogram::Histogram;
use rumqttc::mqttbytes::QoS;
use rumqttc::mqttbytes::v4::{Connect, ConnectReturnCode, Disconnect, Packet, PingReq, Publish};
use rustls::RootCertStore;
use rustls_pki_types::ServerName;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio::sync::watch;
use tokio::time::Instant;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

use crate::devices::Credentials;

/// Largest packet we accept from the broker (PUBACKs, CONNACK, PINGRESP are tiny).
const MAX_IN: usize = 64 * 1024;
/// Keep-alive announced in CONNECT; a PINGREQ goes out after half of it in silence.
const KEEP_ALIVE_SECS: u16 = 60;
/// A scheduled publish sent later than this counts as late (the client fell behind).
const LATE: Duration = Duration::from_millis(10);

/// What every connection of a run shares.
pub struct Shared {
    pub broker: SocketAddr,
    pub server_name: ServerName<'static>,
    pub roots: Arc<RootCertStore>,
    pub source_ips: Vec<IpAddr>,
    pub qos: u8,
    pub records: usize,
    pub window: usize,
    /// Time between two publishes of one connection; `None`: closed loop (send
    /// whenever the window has room).
    pub interval: Option<Duration>,
}

/// When a load run starts sending, measures, stops and gives up on acknowledgements.
#[derive(Clone, Copy, Debug)]
pub struct Timeline {
    pub start: Instant,
    pub measure_from: Instant,
    pub measure_to: Instant,
    pub drain_until: Instant,
}

/// What one connection saw; merged over all connections for the report.
pub struct Stats {
    /// Messages written during the measured window.
    pub sent_in_window: u64,
    /// PUBACKs received during the measured window.
    pub acked_in_window: u64,
    /// Messages written in total, and acknowledged in total.
    pub sent: u64,
    pub acked: u64,
    /// Publish → PUBACK, microseconds, of publishes sent in the measured window.
    /// Raw samples per connection (a histogram each would cost ~200 KiB per
    /// connection); merged into one histogram for the report.
    pub samples: Vec<u32>,
    /// Scheduled publishes sent more than `LATE` after their time.
    pub late: u64,
    /// Publishes never acknowledged (connection lost, or still pending at the end).
    pub unacked: u64,
    pub errors: BTreeMap<String, u64>,
}

impl Stats {
    pub fn new() -> Stats {
        Stats {
            sent_in_window: 0,
            acked_in_window: 0,
            sent: 0,
            acked: 0,
            samples: Vec::new(),
            late: 0,
            unacked: 0,
            errors: BTreeMap::new(),
        }
    }

    pub fn error(&mut self, kind: &str) {
        *self.errors.entry(kind.to_string()).or_default() += 1;
    }

    /// The latency samples as a histogram: 1 µs to 10 minutes, 3 significant digits.
    pub fn histogram(&self) -> Histogram<u64> {
        let mut h = Histogram::new_with_bounds(1, 600_000_000, 3).expect("valid histogram bounds");
        for &us in &self.samples {
            h.saturating_record(us as u64);
        }
        h
    }

    pub fn merge(&mut self, o: &Stats) {
        self.sent_in_window += o.sent_in_window;
        self.acked_in_window += o.acked_in_window;
        self.sent += o.sent;
        self.acked += o.acked;
        self.samples.extend_from_slice(&o.samples);
        self.late += o.late;
        self.unacked += o.unacked;
        for (k, v) in &o.errors {
            *self.errors.entry(k.clone()).or_default() += v;
        }
    }
}

/// An open, authenticated device connection.
pub struct Conn {
    stream: TlsStream<TcpStream>,
    rbuf: BytesMut,
    wbuf: BytesMut,
    topic: String,
    /// Device number, to vary payloads between devices.
    index: usize,
}

/// Open a connection for one device: TCP, TLS, CONNECT, CONNACK.
pub async fn connect(shared: &Shared, creds: Credentials, index: usize) -> anyhow::Result<Conn> {
    let socket = match shared.broker {
        SocketAddr::V4(_) => TcpSocket::new_v4()?,
        SocketAddr::V6(_) => TcpSocket::new_v6()?,
    };
    if !shared.source_ips.is_empty() {
        let ip = shared.source_ips[index % shared.source_ips.len()];
        socket
            .bind(SocketAddr::new(ip, 0))
            .with_context(|| format!("binding to {ip}"))?;
    }
    let tcp = socket.connect(shared.broker).await.context("tcp")?;
    tcp.set_nodelay(true)?;
    let builder = rustls::ClientConfig::builder().with_root_certificates(shared.roots.clone());
    let config = match creds.cert {
        Some((chain, key)) => builder
            .with_client_auth_cert(chain, key)
            .context("client certificate")?,
        None => builder.with_no_client_auth(),
    };
    let mut stream = TlsConnector::from(Arc::new(config))
        .connect(shared.server_name.clone(), tcp)
        .await
        .context("tls")?;
    let mut connect = Connect::new(creds.id.clone());
    connect.keep_alive = KEEP_ALIVE_SECS;
    connect.clean_session = true;
    if let Some(token) = &creds.token {
        connect.set_login(creds.id.clone(), token.clone());
    }
    let mut wbuf = BytesMut::with_capacity(512);
    connect.write(&mut wbuf)?;
    stream.write_all(&wbuf).await?;
    stream.flush().await?;
    wbuf.clear();
    let mut rbuf = BytesMut::with_capacity(1024);
    loop {
        match Packet::read(&mut rbuf, MAX_IN) {
            Ok(Packet::ConnAck(ack)) => {
                if ack.code != ConnectReturnCode::Success {
                    bail!("refused: {:?}", ack.code);
                }
                break;
            }
            Ok(other) => bail!("expected CONNACK, got {other:?}"),
            Err(rumqttc::mqttbytes::Error::InsufficientBytes(_)) => {}
            Err(e) => bail!("reading CONNACK: {e}"),
        }
        if stream.read_buf(&mut rbuf).await.context("connack")? == 0 {
            bail!("closed before CONNACK");
        }
    }
    Ok(Conn {
        stream,
        rbuf,
        wbuf,
        topic: format!("steward/v1/devices/{}/telemetry", creds.id),
        index,
    })
}

/// A SenML JSON pack of `records` records; values vary with `seq` and the device.
fn pack(out: &mut String, records: usize, device: usize, seq: u64, bt: f64) {
    use std::fmt::Write;
    const FIELDS: [(&str, &str); 8] = [
        ("temperature", "Cel"),
        ("humidity", "%RH"),
        ("pressure", "Pa"),
        ("voltage", "V"),
        ("current", "A"),
        ("power", "W"),
        ("illuminance", "lx"),
        ("distance", "m"),
    ];
    out.clear();
    out.push('[');
    for j in 0..records {
        let (name, unit) = FIELDS[j % FIELDS.len()];
        let v = ((seq.wrapping_mul(7919) + (device as u64) * 104_729 + j as u64 * 31) % 10_000)
            as f64
            / 100.0;
        if j > 0 {
            out.push(',');
        }
        let _ = if j == 0 {
            write!(
                out,
                r#"{{"bn":"lg:{device}:","bt":{bt:.3},"n":"{name}","u":"{unit}","v":{v}}}"#
            )
        } else if j < FIELDS.len() {
            write!(out, r#"{{"n":"{name}","u":"{unit}","v":{v}}}"#)
        } else {
            write!(out, r#"{{"n":"{name}{j}","u":"{unit}","v":{v}}}"#)
        };
    }
    out.push(']');
}

fn unix_now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

impl Conn {
    async fn flush(&mut self) -> std::io::Result<()> {
        if !self.wbuf.is_empty() {
            self.stream.write_all(&self.wbuf).await?;
            self.stream.flush().await?;
            self.wbuf.clear();
        }
        Ok(())
    }

    async fn goodbye(mut self) {
        let _ = Disconnect.write(&mut self.wbuf);
        let _ = self.flush().await;
        let _ = self.stream.shutdown().await;
    }

    /// Hold the connection (answering nothing but keep-alive) until `stop` turns true.
    pub async fn idle(mut self, mut stop: watch::Receiver<bool>) -> Stats {
        let mut stats = Stats::new();
        let ping_every = Duration::from_secs(KEEP_ALIVE_SECS as u64 / 2);
        let mut ping_at = Instant::now() + ping_every;
        loop {
            tokio::select! {
                _ = async { stop.wait_for(|s| *s).await.is_ok() } => break,
                _ = tokio::time::sleep_until(ping_at) => {
                    let _ = PingReq.write(&mut self.wbuf);
                    if self.flush().await.is_err() {
                        stats.error("connection_lost");
                        return stats;
                    }
                    ping_at = Instant::now() + ping_every;
                }
                read = self.stream.read_buf(&mut self.rbuf) => {
                    match read {
                        Ok(0) | Err(_) => {
                            stats.error("connection_lost");
                            return stats;
                        }
                        Ok(_) => {
                            // PINGRESP (or anything else): nothing to do but consume it.
                            while let Ok(_p) = Packet::read(&mut self.rbuf, MAX_IN) {}
                        }
                    }
                }
            }
        }
        self.goodbye().await;
        stats
    }

    /// Publish on the timeline; return what was seen.
    pub async fn load(mut self, shared: Arc<Shared>, t: Timeline) -> Stats {
        let mut stats = Stats::new();
        let qos = if shared.qos == 0 {
            QoS::AtMostOnce
        } else {
            QoS::AtLeastOnce
        };
        let window = shared.window.max(1);
        let mut inflight: VecDeque<(u16, Instant)> = VecDeque::with_capacity(window);
        let mut pkid: u16 = 0;
        let mut seq: u64 = 0;
        let mut payload = String::with_capacity(64 + shared.records * 48);
        // Spread the connections' schedules over one interval.
        let mut next_send = match shared.interval {
            Some(iv) => t.start + iv.mul_f64(rand::random::<f64>()),
            None => t.start,
        };
        let ping_every = Duration::from_secs(KEEP_ALIVE_SECS as u64 / 2);
        let mut last_write = Instant::now();
        tokio::time::sleep_until(t.start).await;
        loop {
            let now = Instant::now();
            let sending = now < t.measure_to;
            if sending {
                let bt = unix_now();
                let mut burst = 0;
                while inflight.len() < window
                    && burst < window
                    && (shared.interval.is_none() || next_send <= now)
                {
                    if let Some(iv) = shared.interval {
                        if now.duration_since(next_send) > LATE {
                            stats.late += 1;
                        }
                        next_send += iv;
                    }
                    pack(&mut payload, shared.records, self.index, seq, bt);
                    seq += 1;
                    let mut p = Publish::from_bytes(
                        self.topic.clone(),
                        qos,
                        Bytes::copy_from_slice(payload.as_bytes()),
                    );
                    if qos == QoS::AtLeastOnce {
                        pkid = pkid.wrapping_add(1).max(1);
                        p.pkid = pkid;
                    }
                    if p.write(&mut self.wbuf).is_err() {
                        stats.error("encode");
                        break;
                    }
                    let at = Instant::now();
                    stats.sent += 1;
                    if at >= t.measure_from && at < t.measure_to {
                        stats.sent_in_window += 1;
                    }
                    if qos == QoS::AtLeastOnce {
                        inflight.push_back((pkid, at));
                    }
                    burst += 1;
                }
            } else if inflight.is_empty() || now >= t.drain_until {
                break;
            }
            if now.duration_since(last_write) >= ping_every {
                let _ = PingReq.write(&mut self.wbuf);
            }
            if !self.wbuf.is_empty() {
                if let Err(_e) = self.flush().await {
                    stats.error("connection_lost");
                    stats.unacked += inflight.len() as u64;
                    return stats;
                }
                last_write = Instant::now();
            }
            let wake = if sending {
                let next = match (shared.interval, inflight.len() < window) {
                    (Some(_), true) => next_send,
                    (None, true) => now, // QoS 0, closed loop: go again at once
                    (_, false) => t.measure_to,
                };
                next.min(t.measure_to)
            } else {
                t.drain_until
            }
            .min(last_write + ping_every);
            tokio::select! {
                biased;
                read = self.stream.read_buf(&mut self.rbuf) => {
                    match read {
                        Ok(0) | Err(_) => {
                            stats.error("connection_lost");
                            stats.unacked += inflight.len() as u64;
                            return stats;
                        }
                        Ok(_) => {}
                    }
                    let at = Instant::now();
                    loop {
                        match Packet::read(&mut self.rbuf, MAX_IN) {
                            Ok(Packet::PubAck(ack)) => {
                                let pos = if inflight.front().is_some_and(|(id, _)| *id == ack.pkid) {
                                    Some(0)
                                } else {
                                    inflight.iter().position(|(id, _)| *id == ack.pkid)
                                };
                                let Some(pos) = pos else {
                                    stats.error("unexpected_puback");
                                    continue;
                                };
                                let (_, sent_at) = inflight.remove(pos).expect("position is in range");
                                stats.acked += 1;
                                if at >= t.measure_from && at < t.measure_to {
                                    stats.acked_in_window += 1;
                                }
                                if sent_at >= t.measure_from && sent_at < t.measure_to {
                                    let us = at.duration_since(sent_at).as_micros().clamp(1, u32::MAX as u128);
                                    stats.samples.push(us as u32);
                                }
                            }
                            Ok(_) => {}
                            Err(rumqttc::mqttbytes::Error::InsufficientBytes(_)) => break,
                            Err(_) => {
                                stats.error("malformed_from_broker");
                                stats.unacked += inflight.len() as u64;
                                return stats;
                            }
                        }
                    }
                }
                _ = tokio::time::sleep_until(wake) => {}
            }
        }
        stats.unacked += inflight.len() as u64;
        self.goodbye().await;
        stats
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packs_are_senml_json() {
        let mut s = String::new();
        pack(&mut s, 10, 3, 42, 1_700_000_000.5);
        let v: serde_json::Value = serde_json::from_str(&s).unwrap();
        let a = v.as_array().unwrap();
        assert_eq!(a.len(), 10);
        assert_eq!(a[0]["bn"], "lg:3:");
        assert_eq!(a[0]["n"], "temperature");
        assert_eq!(a[9]["n"], "humidity9");
        assert!(a.iter().all(|r| r["v"].is_number() && r["u"].is_string()));
    }
}
