//! A small CoAP-over-DTLS-PSK client, for the demo fleet, the load generator and
//! tests that need control over message ids (retransmissions). Devices in the
//! field use their own stacks (libcoap, aiocoap, ...); the end-to-end tests use
//! libcoap's `coap-client`.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use coap_lite::{CoapOption, MessageClass, MessageType, Packet, RequestType, ResponseType};
use tokio::net::UdpSocket;
use webrtc_dtls::cipher_suite::CipherSuiteId;
use webrtc_dtls::config::Config;
use webrtc_dtls::conn::DTLSConn;

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("UDP: {0}")]
    Io(#[from] std::io::Error),
    #[error("DTLS: {0}")]
    Dtls(#[from] webrtc_dtls::Error),
    #[error("no response within {0:?}")]
    Timeout(Duration),
    #[error("CoAP: {0}")]
    Coap(String),
}

/// A response: its code and payload.
#[derive(Debug, Clone)]
pub struct Response {
    pub code: ResponseType,
    pub payload: Vec<u8>,
    pub message_id: u16,
}

/// One DTLS session to a CoAP server.
pub struct CoapClient {
    conn: DTLSConn,
    next_id: u16,
    timeout: Duration,
}

impl CoapClient {
    /// Handshake with PSK `identity` / `key` (TLS_PSK_WITH_AES_128_CCM_8).
    pub async fn connect(
        server: SocketAddr,
        identity: &str,
        key: &str,
    ) -> Result<CoapClient, ClientError> {
        let bind: SocketAddr = if server.is_ipv4() {
            ([0, 0, 0, 0], 0).into()
        } else {
            (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
        };
        let socket = UdpSocket::bind(bind).await?;
        socket.connect(server).await?;
        let key = key.as_bytes().to_vec();
        let config = Config {
            cipher_suites: vec![CipherSuiteId::Tls_Psk_With_Aes_128_Ccm_8],
            psk: Some(Arc::new(move |_hint: &[u8]| Ok(key.clone()))),
            psk_identity_hint: Some(identity.as_bytes().to_vec()),
            ..Config::default()
        };
        let conn = tokio::time::timeout(
            Duration::from_secs(10),
            DTLSConn::new(Arc::new(socket), config, true, None),
        )
        .await
        .map_err(|_| ClientError::Timeout(Duration::from_secs(10)))??;
        Ok(CoapClient {
            conn,
            next_id: rand::random(),
            timeout: Duration::from_secs(10),
        })
    }

    /// A POST /telemetry request with this message id.
    pub fn telemetry_request(
        message_id: u16,
        confirmable: bool,
        content_format: u16,
        payload: &[u8],
    ) -> Vec<u8> {
        let mut p = Packet::new();
        p.header.set_type(if confirmable {
            MessageType::Confirmable
        } else {
            MessageType::NonConfirmable
        });
        p.header.message_id = message_id;
        p.header.code = MessageClass::Request(RequestType::Post);
        p.set_token(message_id.to_be_bytes().to_vec());
        p.add_option(CoapOption::UriPath, b"telemetry".to_vec());
        let cf = content_format.to_be_bytes();
        let skip = cf.iter().take_while(|b| **b == 0).count();
        p.add_option(CoapOption::ContentFormat, cf[skip..].to_vec());
        p.payload = payload.to_vec();
        p.to_bytes_unlimited().unwrap_or_default()
    }

    /// POST telemetry as a confirmable request and wait for its response,
    /// retransmitting as RFC 7252 §4.2 says: a datagram lost on the way (a full
    /// socket buffer under load) is sent again after ACK_TIMEOUT × a random
    /// factor up to ACK_RANDOM_FACTOR, doubling, at most MAX_RETRANSMIT times
    /// (§4.8). The server answers a retransmission from its deduplication cache,
    /// so nothing is stored twice. A late answer to an earlier message is skipped.
    pub async fn post(
        &mut self,
        content_format: u16,
        payload: &[u8],
    ) -> Result<Response, ClientError> {
        const ACK_TIMEOUT: Duration = Duration::from_secs(2);
        const ACK_RANDOM_FACTOR: f64 = 1.5;
        const MAX_RETRANSMIT: u32 = 4;
        let id = self.next_id;
        self.next_id = self.next_id.wrapping_add(1);
        let request = Self::telemetry_request(id, true, content_format, payload);
        let mut wait = ACK_TIMEOUT.mul_f64(1.0 + rand::random::<f64>() * (ACK_RANDOM_FACTOR - 1.0));
        let mut waited = Duration::ZERO;
        for _ in 0..=MAX_RETRANSMIT {
            self.send_raw(&request).await?;
            let deadline = tokio::time::Instant::now() + wait;
            loop {
                let left = deadline.saturating_duration_since(tokio::time::Instant::now());
                match self.recv_within(left).await {
                    Ok(r) if r.message_id == id => return Ok(r),
                    Ok(_) => continue,
                    Err(ClientError::Timeout(_)) => break,
                    Err(e) => return Err(e),
                }
            }
            waited += wait;
            wait *= 2;
        }
        Err(ClientError::Timeout(waited))
    }

    /// Send one datagram as is (a test retransmits with the same message id).
    pub async fn send_raw(&self, bytes: &[u8]) -> Result<(), ClientError> {
        self.conn.write(bytes, None).await?;
        Ok(())
    }

    /// The next response.
    pub async fn recv(&self) -> Result<Response, ClientError> {
        self.recv_within(self.timeout).await
    }

    /// The next response, if one comes within `wait`.
    pub async fn recv_within(&self, wait: Duration) -> Result<Response, ClientError> {
        let mut buf = vec![0u8; 2048];
        let n = tokio::time::timeout(wait, self.conn.read(&mut buf, None))
            .await
            .map_err(|_| ClientError::Timeout(wait))??;
        let p = Packet::from_bytes(&buf[..n]).map_err(|e| ClientError::Coap(e.to_string()))?;
        match p.header.code {
            MessageClass::Response(code) => Ok(Response {
                code,
                payload: p.payload,
                message_id: p.header.message_id,
            }),
            other => Err(ClientError::Coap(format!("not a response: {other:?}"))),
        }
    }

    pub async fn close(self) {
        let _ = self.conn.close().await;
    }
}
