//! DTLS 1.2 with pre-shared keys (RFC 7925 §4.2) over the server's one UDP socket.
//!
//! webrtc-dtls runs the handshake and the record layer over anything that
//! implements `webrtc_util::Conn`; [`PeerConn`] is one peer's view of the shared
//! socket: it reads the datagrams the server's receive loop routes to it and sends
//! with `send_to`. [`config`] makes the server configuration: PSK suites only,
//! the key looked up by PSK identity (the device id) during the handshake.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use tokio::net::UdpSocket;
use tokio::sync::{Mutex, mpsc};
use tokio_util::sync::CancellationToken;
use webrtc_dtls::cipher_suite::CipherSuiteId;
use webrtc_dtls::config::{Config, ExtendedMasterSecretType};

use super::psk::PskKeys;
use crate::metrics::Metrics;
use crate::registry::Registry;

/// Handshake messages are fragmented to fit this (RFC 7925 §11 suggests keeping
/// datagrams small for constrained networks).
const MTU: usize = 1200;

/// One peer's side of the shared UDP socket.
pub(super) struct PeerConn {
    socket: Arc<UdpSocket>,
    peer: SocketAddr,
    local: SocketAddr,
    rx: Mutex<mpsc::Receiver<Bytes>>,
    closed: CancellationToken,
}

impl PeerConn {
    pub(super) fn new(
        socket: Arc<UdpSocket>,
        peer: SocketAddr,
        local: SocketAddr,
        rx: mpsc::Receiver<Bytes>,
    ) -> PeerConn {
        PeerConn {
            socket,
            peer,
            local,
            rx: Mutex::new(rx),
            closed: CancellationToken::new(),
        }
    }
}

#[async_trait]
impl webrtc_util::Conn for PeerConn {
    async fn connect(&self, _addr: SocketAddr) -> webrtc_util::Result<()> {
        Ok(())
    }

    async fn recv(&self, buf: &mut [u8]) -> webrtc_util::Result<usize> {
        let mut rx = self.rx.lock().await;
        let datagram = tokio::select! {
            _ = self.closed.cancelled() => None,
            d = rx.recv() => d,
        };
        match datagram {
            Some(d) => {
                let n = d.len().min(buf.len());
                buf[..n].copy_from_slice(&d[..n]);
                Ok(n)
            }
            None => Err(webrtc_util::Error::ErrUseClosedNetworkConn),
        }
    }

    async fn recv_from(&self, buf: &mut [u8]) -> webrtc_util::Result<(usize, SocketAddr)> {
        Ok((self.recv(buf).await?, self.peer))
    }

    async fn send(&self, buf: &[u8]) -> webrtc_util::Result<usize> {
        if self.closed.is_cancelled() {
            return Err(webrtc_util::Error::ErrUseClosedNetworkConn);
        }
        Ok(self.socket.send_to(buf, self.peer).await?)
    }

    async fn send_to(&self, buf: &[u8], _target: SocketAddr) -> webrtc_util::Result<usize> {
        self.send(buf).await
    }

    fn local_addr(&self) -> webrtc_util::Result<SocketAddr> {
        Ok(self.local)
    }

    fn remote_addr(&self) -> Option<SocketAddr> {
        Some(self.peer)
    }

    async fn close(&self) -> webrtc_util::Result<()> {
        self.closed.cancel();
        Ok(())
    }

    fn as_any(&self) -> &(dyn std::any::Any + Send + Sync) {
        self
    }
}

/// The DTLS server configuration: PSK cipher suites only (TLS_PSK_WITH_AES_128_CCM_8
/// first, the suite RFC 7925 §4.2 makes mandatory), keys looked up by identity.
/// An unknown identity, or a revoked or deleted device, fails the handshake.
pub(super) fn config(
    registry: Registry,
    keys: PskKeys,
    metrics: Arc<Metrics>,
    retransmit: Duration,
) -> Config {
    let psk = move |identity: &[u8]| -> Result<Vec<u8>, webrtc_dtls::Error> {
        let refused = || {
            metrics.error("coap_unknown_identity");
            webrtc_dtls::Error::ErrIdentityNoPsk
        };
        let Ok(identity) = std::str::from_utf8(identity) else {
            return Err(refused());
        };
        match keys.lookup(&registry, identity) {
            Ok(Some((_, _, key))) => Ok(key.into_bytes()),
            Ok(None) => Err(refused()),
            Err(e) => {
                tracing::warn!(error = %e, "looking up a PSK identity");
                Err(refused())
            }
        }
    };
    Config {
        cipher_suites: vec![
            CipherSuiteId::Tls_Psk_With_Aes_128_Ccm_8,
            CipherSuiteId::Tls_Psk_With_Aes_128_Ccm,
            CipherSuiteId::Tls_Psk_With_Aes_128_Gcm_Sha256,
        ],
        psk: Some(Arc::new(psk)),
        extended_master_secret: ExtendedMasterSecretType::Request,
        flight_interval: retransmit,
        mtu: MTU,
        ..Config::default()
    }
}
