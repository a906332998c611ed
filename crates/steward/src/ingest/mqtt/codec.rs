//! The broker's view of MQTT packets, the same for 3.1.1 and 5.
//!
//! Framing and encoding are rumqttc's packet codec (`mqttbytes`); this module only
//! picks the version from CONNECT (MQTT 5 §3.1.2.2: protocol level 4 = 3.1.1,
//! 5 = 5.0) and maps both versions' packets to one small set of types, so the
//! session logic is written once.

use bytes::{Bytes, BytesMut};
use rumqttc::mqttbytes::{QoS, v4};
use rumqttc::v5::mqttbytes as m5;
use rumqttc::v5::mqttbytes::v5 as v5p;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    V311,
    V5,
}

#[derive(Debug, thiserror::Error)]
pub enum CodecError {
    #[error("packet of {size} bytes is larger than the maximum of {max}")]
    TooLarge { size: usize, max: usize },
    #[error("unsupported protocol (only MQTT 3.1.1 and 5 are served)")]
    UnsupportedProtocol,
    #[error("malformed packet: {0}")]
    Malformed(String),
}

#[derive(Debug, Clone)]
pub struct Will {
    pub topic: String,
    pub payload: Bytes,
    pub qos: u8,
    pub content_type: Option<String>,
}

#[derive(Debug, Clone)]
pub struct ConnectInfo {
    pub client_id: String,
    pub keep_alive: u16,
    pub clean_start: bool,
    /// MQTT 5 session expiry (seconds); 3.1.1 persistent sessions never expire.
    pub session_expiry: Option<u32>,
    pub will: Option<Will>,
    pub username: Option<String>,
    pub password: Option<Vec<u8>>,
}

#[derive(Debug, Clone)]
pub struct PublishIn {
    pub topic: String,
    pub qos: u8,
    pub pkid: u16,
    pub payload: Bytes,
    pub dup: bool,
    pub content_type: Option<String>,
}

#[derive(Debug, Clone)]
pub enum In {
    Connect(ConnectInfo),
    Publish(PublishIn),
    PubAck(u16),
    PubRec(u16),
    PubRel(u16),
    PubComp(u16),
    Subscribe {
        pkid: u16,
        filters: Vec<(String, u8)>,
    },
    Unsubscribe {
        pkid: u16,
        filters: Vec<String>,
    },
    PingReq,
    /// `with_will`: MQTT 5 reason 0x04 asks for the will to be sent.
    Disconnect {
        with_will: bool,
    },
    /// A packet only a server sends (CONNACK, SUBACK, ...), or AUTH.
    Unexpected(&'static str),
}

/// Reasons the broker gives, named as MQTT 5 does (§2.4); 3.1.1 has fewer codes
/// and [`encode`] maps them down.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    Success,
    UnspecifiedError,
    MalformedPacket,
    ProtocolError,
    ImplementationSpecificError,
    NotAuthorized,
    BadUserNamePassword,
    ServerUnavailable,
    ServerShuttingDown,
    KeepAliveTimeout,
    SessionTakenOver,
    TopicNameInvalid,
    TopicFilterInvalid,
    PacketTooLarge,
    QuotaExceeded,
    PayloadFormatInvalid,
    AdministrativeAction,
    UnsupportedProtocolVersion,
}

#[derive(Debug, Clone)]
pub enum Out {
    ConnAck {
        reason: Reason,
        session_present: bool,
        max_packet_size: u32,
        receive_max: u16,
        server_keep_alive: Option<u16>,
    },
    PubAck {
        pkid: u16,
        reason: Reason,
        reason_string: Option<String>,
    },
    PubRec {
        pkid: u16,
        reason: Reason,
        reason_string: Option<String>,
    },
    PubRel(u16),
    PubComp(u16),
    /// `None` = refused.
    SubAck {
        pkid: u16,
        granted: Vec<Option<u8>>,
    },
    UnsubAck {
        pkid: u16,
        count: usize,
    },
    PingResp,
    Publish {
        topic: String,
        qos: u8,
        pkid: u16,
        payload: Bytes,
        dup: bool,
    },
    Disconnect {
        reason: Reason,
        reason_string: Option<String>,
    },
}

fn qos_u8(q: QoS) -> u8 {
    q as u8
}

fn qos(q: u8) -> QoS {
    match q {
        0 => QoS::AtMostOnce,
        1 => QoS::AtLeastOnce,
        _ => QoS::ExactlyOnce,
    }
}

/// Protocol level of a complete CONNECT packet at the start of `buf`, if there is one.
fn connect_level(buf: &[u8]) -> Option<u8> {
    // Fixed header: type byte, then a variable-length remaining length (1..4 bytes).
    let mut i = 1;
    while i < buf.len().min(5) && buf[i] & 0x80 != 0 {
        i += 1;
    }
    // Variable header: protocol name (length-prefixed string), then the level.
    let name_start = i + 1;
    let len = u16::from_be_bytes([*buf.get(name_start)?, *buf.get(name_start + 1)?]) as usize;
    buf.get(name_start + 2 + len).copied()
}

fn malformed(e: impl std::fmt::Debug) -> CodecError {
    CodecError::Malformed(format!("{e:?}"))
}

/// Read the first packet, which must be CONNECT; it decides the version.
/// `Ok(None)`: more bytes are needed.
pub fn read_connect(
    buf: &mut BytesMut,
    max: usize,
) -> Result<Option<(Version, ConnectInfo)>, CodecError> {
    match rumqttc::mqttbytes::check(buf.iter(), max) {
        Ok(_) => {}
        Err(rumqttc::mqttbytes::Error::InsufficientBytes(_)) => return Ok(None),
        Err(rumqttc::mqttbytes::Error::PayloadSizeLimitExceeded(size)) => {
            return Err(CodecError::TooLarge { size, max });
        }
        Err(e) => return Err(malformed(e)),
    }
    if buf.first().map(|b| b >> 4) != Some(1) {
        return Err(CodecError::Malformed(
            "the first packet must be CONNECT".into(),
        ));
    }
    let version = match connect_level(buf) {
        Some(4) => Version::V311,
        Some(5) => Version::V5,
        _ => return Err(CodecError::UnsupportedProtocol),
    };
    match read(version, buf, max)? {
        Some(In::Connect(c)) => Ok(Some((version, c))),
        Some(_) => Err(CodecError::Malformed(
            "the first packet must be CONNECT".into(),
        )),
        None => Ok(None),
    }
}

/// Read one packet. `Ok(None)`: more bytes are needed.
pub fn read(version: Version, buf: &mut BytesMut, max: usize) -> Result<Option<In>, CodecError> {
    match version {
        Version::V311 => match v4::Packet::read(buf, max) {
            Ok(p) => Ok(Some(from_v4(p))),
            Err(rumqttc::mqttbytes::Error::InsufficientBytes(_)) => Ok(None),
            Err(rumqttc::mqttbytes::Error::PayloadSizeLimitExceeded(size)) => {
                Err(CodecError::TooLarge { size, max })
            }
            Err(e) => Err(malformed(e)),
        },
        Version::V5 => {
            // A DISCONNECT with no reason code is the normal one (MQTT 5 §3.14.2.1);
            // the codec wants a payload there, so it is recognised here.
            if buf.len() >= 2 && buf[0] == 0xE0 && buf[1] == 0 {
                let _ = buf.split_to(2);
                return Ok(Some(In::Disconnect { with_will: false }));
            }
            match v5p::Packet::read(buf, Some(max as u32)) {
                Ok(p) => Ok(Some(from_v5(p))),
                Err(m5::Error::InsufficientBytes(_)) => Ok(None),
                Err(m5::Error::PayloadSizeLimitExceeded { pkt_size, .. }) => {
                    Err(CodecError::TooLarge {
                        size: pkt_size,
                        max,
                    })
                }
                Err(e) => Err(malformed(e)),
            }
        }
    }
}

fn from_v4(p: v4::Packet) -> In {
    match p {
        v4::Packet::Connect(c) => In::Connect(ConnectInfo {
            client_id: c.client_id,
            keep_alive: c.keep_alive,
            clean_start: c.clean_session,
            session_expiry: None,
            will: c.last_will.map(|w| Will {
                topic: w.topic,
                payload: w.message,
                qos: qos_u8(w.qos),
                content_type: None,
            }),
            username: c.login.as_ref().map(|l| l.username.clone()),
            password: c.login.map(|l| l.password.into_bytes()),
        }),
        v4::Packet::Publish(p) => In::Publish(PublishIn {
            topic: p.topic,
            qos: qos_u8(p.qos),
            pkid: p.pkid,
            payload: p.payload,
            dup: p.dup,
            content_type: None,
        }),
        v4::Packet::PubAck(a) => In::PubAck(a.pkid),
        v4::Packet::PubRec(a) => In::PubRec(a.pkid),
        v4::Packet::PubRel(a) => In::PubRel(a.pkid),
        v4::Packet::PubComp(a) => In::PubComp(a.pkid),
        v4::Packet::Subscribe(s) => In::Subscribe {
            pkid: s.pkid,
            filters: s
                .filters
                .into_iter()
                .map(|f| (f.path, qos_u8(f.qos)))
                .collect(),
        },
        v4::Packet::Unsubscribe(u) => In::Unsubscribe {
            pkid: u.pkid,
            filters: u.topics,
        },
        v4::Packet::PingReq => In::PingReq,
        v4::Packet::Disconnect => In::Disconnect { with_will: false },
        v4::Packet::ConnAck(_) => In::Unexpected("CONNACK"),
        v4::Packet::SubAck(_) => In::Unexpected("SUBACK"),
        v4::Packet::UnsubAck(_) => In::Unexpected("UNSUBACK"),
        v4::Packet::PingResp => In::Unexpected("PINGRESP"),
    }
}

fn from_v5(p: v5p::Packet) -> In {
    match p {
        v5p::Packet::Connect(c, will, login) => In::Connect(ConnectInfo {
            client_id: c.client_id,
            keep_alive: c.keep_alive,
            clean_start: c.clean_start,
            session_expiry: c
                .properties
                .as_ref()
                .and_then(|p| p.session_expiry_interval),
            will: will.map(|w| Will {
                topic: String::from_utf8_lossy(&w.topic).into_owned(),
                payload: w.message,
                qos: qos_u8_5(w.qos),
                content_type: w.properties.and_then(|p| p.content_type),
            }),
            username: login.as_ref().map(|l| l.username.clone()),
            password: login.map(|l| l.password.into_bytes()),
        }),
        v5p::Packet::Publish(p) => In::Publish(PublishIn {
            topic: String::from_utf8_lossy(&p.topic).into_owned(),
            qos: qos_u8_5(p.qos),
            pkid: p.pkid,
            payload: p.payload,
            dup: p.dup,
            content_type: p.properties.and_then(|p| p.content_type),
        }),
        v5p::Packet::PubAck(a) => In::PubAck(a.pkid),
        v5p::Packet::PubRec(a) => In::PubRec(a.pkid),
        v5p::Packet::PubRel(a) => In::PubRel(a.pkid),
        v5p::Packet::PubComp(a) => In::PubComp(a.pkid),
        v5p::Packet::Subscribe(s) => In::Subscribe {
            pkid: s.pkid,
            filters: s
                .filters
                .into_iter()
                .map(|f| (f.path, qos_u8_5(f.qos)))
                .collect(),
        },
        v5p::Packet::Unsubscribe(u) => In::Unsubscribe {
            pkid: u.pkid,
            filters: u.filters,
        },
        v5p::Packet::PingReq(_) => In::PingReq,
        v5p::Packet::Disconnect(d) => In::Disconnect {
            with_will: d.reason_code == v5p::DisconnectReasonCode::DisconnectWithWillMessage,
        },
        v5p::Packet::ConnAck(_) => In::Unexpected("CONNACK"),
        v5p::Packet::SubAck(_) => In::Unexpected("SUBACK"),
        v5p::Packet::UnsubAck(_) => In::Unexpected("UNSUBACK"),
        v5p::Packet::PingResp(_) => In::Unexpected("PINGRESP"),
        v5p::Packet::Auth(_) => In::Unexpected("AUTH"),
    }
}

fn qos_u8_5(q: m5::QoS) -> u8 {
    q as u8
}

fn qos5(q: u8) -> m5::QoS {
    match q {
        0 => m5::QoS::AtMostOnce,
        1 => m5::QoS::AtLeastOnce,
        _ => m5::QoS::ExactlyOnce,
    }
}

fn connack_v4(r: Reason) -> v4::ConnectReturnCode {
    use v4::ConnectReturnCode as C;
    match r {
        Reason::Success => C::Success,
        Reason::BadUserNamePassword => C::BadUserNamePassword,
        Reason::UnsupportedProtocolVersion => C::RefusedProtocolVersion,
        Reason::ServerUnavailable | Reason::ServerShuttingDown | Reason::QuotaExceeded => {
            C::ServiceUnavailable
        }
        _ => C::NotAuthorized,
    }
}

fn connack_v5(r: Reason) -> v5p::ConnectReturnCode {
    use v5p::ConnectReturnCode as C;
    match r {
        Reason::Success => C::Success,
        Reason::BadUserNamePassword => C::BadUserNamePassword,
        Reason::NotAuthorized => C::NotAuthorized,
        Reason::UnsupportedProtocolVersion => C::UnsupportedProtocolVersion,
        Reason::ServerUnavailable | Reason::ServerShuttingDown => C::ServerUnavailable,
        Reason::QuotaExceeded => C::QuotaExceeded,
        Reason::MalformedPacket => C::MalformedPacket,
        Reason::ProtocolError => C::ProtocolError,
        Reason::PacketTooLarge => C::PacketTooLarge,
        Reason::TopicNameInvalid => C::TopicNameInvalid,
        _ => C::UnspecifiedError,
    }
}

fn puback_v5(r: Reason) -> v5p::PubAckReason {
    use v5p::PubAckReason as P;
    match r {
        Reason::Success => P::Success,
        Reason::NotAuthorized => P::NotAuthorized,
        Reason::TopicNameInvalid => P::TopicNameInvalid,
        Reason::QuotaExceeded => P::QuotaExceeded,
        Reason::PayloadFormatInvalid => P::PayloadFormatInvalid,
        Reason::ImplementationSpecificError => P::ImplementationSpecificError,
        _ => P::UnspecifiedError,
    }
}

fn pubrec_v5(r: Reason) -> v5p::PubRecReason {
    use v5p::PubRecReason as P;
    match r {
        Reason::Success => P::Success,
        Reason::NotAuthorized => P::NotAuthorized,
        Reason::TopicNameInvalid => P::TopicNameInvalid,
        Reason::QuotaExceeded => P::QuotaExceeded,
        Reason::PayloadFormatInvalid => P::PayloadFormatInvalid,
        Reason::ImplementationSpecificError => P::ImplementationSpecificError,
        _ => P::UnspecifiedError,
    }
}

fn disconnect_v5(r: Reason) -> v5p::DisconnectReasonCode {
    use v5p::DisconnectReasonCode as D;
    match r {
        Reason::Success => D::NormalDisconnection,
        Reason::MalformedPacket => D::MalformedPacket,
        Reason::ProtocolError => D::ProtocolError,
        Reason::ImplementationSpecificError => D::ImplementationSpecificError,
        Reason::NotAuthorized => D::NotAuthorized,
        Reason::ServerShuttingDown => D::ServerShuttingDown,
        Reason::KeepAliveTimeout => D::KeepAliveTimeout,
        Reason::SessionTakenOver => D::SessionTakenOver,
        Reason::TopicNameInvalid => D::TopicNameInvalid,
        Reason::TopicFilterInvalid => D::TopicFilterInvalid,
        Reason::PacketTooLarge => D::PacketTooLarge,
        Reason::QuotaExceeded => D::QuotaExceeded,
        Reason::PayloadFormatInvalid => D::PayloadFormatInvalid,
        Reason::AdministrativeAction => D::AdministrativeAction,
        _ => D::UnspecifiedError,
    }
}

/// Encode a packet; `false` means 3.1.1 has no such packet (a DISCONNECT from the
/// server, or a negative PUBACK): the caller then just closes the connection.
pub fn encode(version: Version, out: &Out, buf: &mut BytesMut) -> Result<bool, CodecError> {
    match version {
        Version::V311 => encode_v4(out, buf),
        Version::V5 => encode_v5(out, buf).map(|()| true),
    }
}

fn encode_v4(out: &Out, buf: &mut BytesMut) -> Result<bool, CodecError> {
    let r = match out {
        Out::ConnAck {
            reason,
            session_present,
            ..
        } => v4::ConnAck::new(connack_v4(*reason), *session_present).write(buf),
        Out::PubAck { pkid, reason, .. } => {
            if *reason != Reason::Success {
                return Ok(false);
            }
            v4::PubAck::new(*pkid).write(buf)
        }
        Out::PubRec { pkid, reason, .. } => {
            if *reason != Reason::Success {
                return Ok(false);
            }
            v4::PubRec::new(*pkid).write(buf)
        }
        Out::PubRel(pkid) => v4::PubRel::new(*pkid).write(buf),
        Out::PubComp(pkid) => v4::PubComp::new(*pkid).write(buf),
        Out::SubAck { pkid, granted } => v4::SubAck::new(
            *pkid,
            granted
                .iter()
                .map(|g| match g {
                    Some(q) => v4::SubscribeReasonCode::Success(qos(*q)),
                    None => v4::SubscribeReasonCode::Failure,
                })
                .collect(),
        )
        .write(buf),
        Out::UnsubAck { pkid, .. } => v4::UnsubAck::new(*pkid).write(buf),
        Out::PingResp => v4::PingResp.write(buf),
        Out::Publish {
            topic,
            qos: q,
            pkid,
            payload,
            dup,
        } => {
            let mut p = v4::Publish::from_bytes(topic.clone(), qos(*q), payload.clone());
            p.pkid = *pkid;
            p.dup = *dup;
            p.write(buf)
        }
        Out::Disconnect { .. } => return Ok(false),
    };
    r.map(|_| true).map_err(malformed)
}

fn encode_v5(out: &Out, buf: &mut BytesMut) -> Result<(), CodecError> {
    let r = match out {
        Out::ConnAck {
            reason,
            session_present,
            max_packet_size,
            receive_max,
            server_keep_alive,
        } => {
            let props = v5p::ConnAckProperties {
                max_packet_size: Some(*max_packet_size),
                receive_max: Some(*receive_max),
                retain_available: Some(0),
                wildcard_subscription_available: Some(1),
                shared_subscription_available: Some(0),
                subscription_identifiers_available: Some(0),
                server_keep_alive: *server_keep_alive,
                session_expiry_interval: None,
                // QoS 2 is served for telemetry (MQTT 5 §3.2.2.3.4: absent = 2).
                max_qos: None,
                assigned_client_identifier: None,
                topic_alias_max: None,
                reason_string: None,
                user_properties: Vec::new(),
                response_information: None,
                server_reference: None,
                authentication_method: None,
                authentication_data: None,
            };
            v5p::ConnAck {
                session_present: *session_present,
                code: connack_v5(*reason),
                properties: Some(props),
            }
            .write(buf)
        }
        Out::PubAck {
            pkid,
            reason,
            reason_string,
        } => v5p::PubAck {
            pkid: *pkid,
            reason: puback_v5(*reason),
            properties: reason_string.as_ref().map(|s| v5p::PubAckProperties {
                reason_string: Some(s.clone()),
                user_properties: Vec::new(),
            }),
        }
        .write(buf),
        Out::PubRec {
            pkid,
            reason,
            reason_string,
        } => v5p::PubRec {
            pkid: *pkid,
            reason: pubrec_v5(*reason),
            properties: reason_string.as_ref().map(|s| v5p::PubRecProperties {
                reason_string: Some(s.clone()),
                user_properties: Vec::new(),
            }),
        }
        .write(buf),
        Out::PubRel(pkid) => v5p::PubRel::new(*pkid, None).write(buf),
        Out::PubComp(pkid) => v5p::PubComp::new(*pkid, None).write(buf),
        Out::SubAck { pkid, granted } => v5p::SubAck {
            pkid: *pkid,
            return_codes: granted
                .iter()
                .map(|g| match g {
                    Some(q) => v5p::SubscribeReasonCode::Success(qos5(*q)),
                    None => v5p::SubscribeReasonCode::NotAuthorized,
                })
                .collect(),
            properties: None,
        }
        .write(buf),
        Out::UnsubAck { pkid, count } => v5p::UnsubAck {
            pkid: *pkid,
            reasons: vec![v5p::UnsubAckReason::Success; *count],
            properties: None,
        }
        .write(buf),
        Out::PingResp => v5p::PingResp::write(buf),
        Out::Publish {
            topic,
            qos: q,
            pkid,
            payload,
            dup,
        } => {
            let mut p = v5p::Publish::new(topic.clone(), qos5(*q), payload.clone(), None);
            p.pkid = *pkid;
            p.dup = *dup;
            p.write(buf)
        }
        Out::Disconnect {
            reason,
            reason_string,
        } => v5p::Disconnect {
            reason_code: disconnect_v5(*reason),
            properties: reason_string.as_ref().map(|s| v5p::DisconnectProperties {
                session_expiry_interval: None,
                reason_string: Some(s.clone()),
                user_properties: Vec::new(),
                server_reference: None,
            }),
        }
        .write(buf),
    };
    r.map(|_| ()).map_err(malformed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn garbage_never_panics() {
        // Deterministic pseudo-random garbage, and every prefix of a valid CONNECT.
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        for len in 0..300 {
            let mut bytes = Vec::with_capacity(len);
            for _ in 0..len {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                bytes.push(seed as u8);
            }
            if len > 0 && len % 3 == 0 {
                bytes[0] = 0x10;
            }
            let mut buf = BytesMut::from(&bytes[..]);
            let _ = read_connect(&mut buf, 1024);
            for v in [Version::V311, Version::V5] {
                let mut buf = BytesMut::from(&bytes[..]);
                let _ = read(v, &mut buf, 1024);
            }
        }
    }

    #[test]
    fn picks_version_from_connect() {
        for (version, mut buf) in [
            (Version::V311, {
                let mut b = BytesMut::new();
                v4::Connect::new("c1").write(&mut b).unwrap();
                b
            }),
            (Version::V5, {
                let mut b = BytesMut::new();
                v5p::Connect {
                    keep_alive: 30,
                    client_id: "c1".into(),
                    clean_start: true,
                    properties: None,
                }
                .write(&None, &None, &mut b)
                .unwrap();
                b
            }),
        ] {
            let whole = buf.clone();
            let mut partial = BytesMut::from(&whole[..whole.len() - 1]);
            assert!(read_connect(&mut partial, 1024).unwrap().is_none());
            let (v, c) = read_connect(&mut buf, 1024).unwrap().unwrap();
            assert_eq!(v, version);
            assert_eq!(c.client_id, "c1");
        }
    }

    #[test]
    fn oversized_packet_is_refused_before_it_arrives() {
        // A PUBLISH header claiming 1 MB, with only the header sent.
        let mut buf = BytesMut::from(&[0x30u8, 0x80, 0x80, 0x40][..]);
        match read(Version::V311, &mut buf, 1024) {
            Err(CodecError::TooLarge { .. }) => {}
            other => panic!("expected TooLarge, got {other:?}"),
        }
    }
}
