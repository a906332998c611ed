//! One DTLS session: the handshake (PSK looked up by identity), then CoAP requests
//! one at a time: rate limit, the [`Exchanges`] state machine, authorization of
//! every POST and firmware GET against the registry (a revoked or deleted device,
//! or one whose PSK was replaced, gets 4.01 and the session ends), decode and
//! durable commit, and only then the response. A firmware block is read from the
//! payload store (that block only) once the update store says a campaign offers
//! the payload to this device. `GET /update` and `POST /update/status` go to the
//! update service, the same one MQTT devices' notices and reports go through.

use std::io::{Read, Seek, SeekFrom};
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use webrtc_dtls::conn::DTLSConn;

use super::CoapServer;
use super::dtls::{self, PeerConn};
use super::error::CoapError;
use super::exchange::{Chunk, Exchanges, Fetch, Limits, Step, Upload};
use crate::registry::Device;
use crate::updates::service::{Notice, Reported};
use crate::updates::{UpdateError, Updates};

/// Requests per second, with a burst (token bucket).
struct Bucket {
    rate: f64,
    burst: f64,
    tokens: f64,
    last: Instant,
}

impl Bucket {
    fn new(rate: u32, burst: u32) -> Bucket {
        Bucket {
            rate: f64::from(rate.max(1)),
            burst: f64::from(burst.max(1)),
            tokens: f64::from(burst.max(1)),
            last: Instant::now(),
        }
    }

    fn take(&mut self) -> bool {
        let now = Instant::now();
        self.tokens =
            (self.tokens + now.duration_since(self.last).as_secs_f64() * self.rate).min(self.burst);
        self.last = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

pub(super) async fn serve(server: Arc<CoapServer>, conn: PeerConn, stop: CancellationToken) {
    let peer = webrtc_util::Conn::remote_addr(&conn);
    let config = dtls::config(
        server.registry.clone(),
        server.keys.clone(),
        server.metrics.clone(),
        Duration::from_secs(1),
    );
    let handshake = DTLSConn::new(Arc::new(conn), config, false, None);
    let timeout = Duration::from_secs(server.config.handshake_timeout_secs);
    let dtls = tokio::select! {
        _ = stop.cancelled() => return,
        r = tokio::time::timeout(timeout, handshake) => match r {
            Ok(Ok(c)) => c,
            Ok(Err(e)) => {
                server.metrics.error("coap_handshake");
                tracing::debug!(?peer, error = %e, "DTLS handshake failed");
                return;
            }
            Err(_) => {
                server.metrics.error("coap_handshake_timeout");
                tracing::debug!(?peer, "DTLS handshake timed out");
                return;
            }
        },
    };
    let identity =
        String::from_utf8_lossy(&dtls.connection_state().await.identity_hint).into_owned();
    let generation = match server.keys.lookup(&server.registry, &identity) {
        Ok(Some((_, generation, _))) => generation,
        _ => {
            let _ = dtls.close().await;
            return;
        }
    };
    tracing::debug!(?peer, device = %identity, "CoAP session open");
    server.metrics.coap_sessions.inc();
    serve_requests(&server, &dtls, &identity, generation, &stop).await;
    server.metrics.coap_sessions.dec();
    let _ = dtls.close().await;
    tracing::debug!(?peer, device = %identity, "CoAP session closed");
}

async fn serve_requests(
    server: &CoapServer,
    dtls: &DTLSConn,
    device_id: &str,
    generation: u64,
    stop: &CancellationToken,
) {
    let c = &server.config;
    let mut exchanges = Exchanges::new(Limits {
        max_body: c.max_body,
        reassembly_timeout: Duration::from_secs(c.reassembly_timeout_secs),
        dedup_window: 256,
        dedup_lifetime: Duration::from_secs(247),
    });
    let mut bucket = Bucket::new(c.rate_limit_per_sec, c.rate_burst);
    let idle = Duration::from_secs(c.idle_timeout_secs.max(1));
    let mut buf = vec![0u8; 16 * 1024 + 512];
    loop {
        let n = tokio::select! {
            _ = stop.cancelled() => return,
            r = tokio::time::timeout(idle, dtls.read(&mut buf, None)) => match r {
                Ok(Ok(n)) => n,
                // close_notify, a fatal alert, or the connection closed.
                Ok(Err(_)) => return,
                Err(_) => return, // idle
            },
        };
        let mut admit = || {
            let ok = bucket.take();
            if !ok {
                server.metrics.error("coap_rate_limited");
            }
            ok
        };
        let now = Instant::now().into_std();
        let (reply, end) = match exchanges.on_datagram(&buf[..n], now, &mut admit) {
            Step::Nothing => continue,
            Step::Reply(bytes) => (bytes, false),
            Step::Ingest(upload) => {
                let result = post(server, device_id, generation, &upload).await;
                let end = refused(&result, device_id, "telemetry");
                (exchanges.finish(upload, result, now_std()), end)
            }
            Step::Fetch(fetch) => {
                let result = firmware_block(server, device_id, generation, &fetch).await;
                let end = refused(&result, device_id, "firmware block");
                (exchanges.finish_fetch(fetch, result, now_std()), end)
            }
            Step::Notice(request) => {
                let result = notice(server, device_id, generation).await;
                let end = refused(&result, device_id, "update notice");
                (exchanges.finish_notice(request, result, now_std()), end)
            }
            Step::Report(report) => {
                let result = status(server, device_id, generation, &report).await;
                let end = refused(&result, device_id, "update status");
                (exchanges.finish(report, result, now_std()), end)
            }
        };
        if dtls.write(&reply, None).await.is_err() || end {
            return;
        }
    }
}

fn now_std() -> std::time::Instant {
    Instant::now().into_std()
}

/// Log a refused request; whether the session ends (the device may no longer
/// use it: 4.01).
fn refused<T>(result: &Result<T, CoapError>, device_id: &str, what: &str) -> bool {
    let Err(e) = result else {
        return false;
    };
    tracing::debug!(device = %device_id, error = %e, "CoAP {what} refused");
    matches!(e, CoapError::Unauthorized(_))
}

/// The device, if it is still active with the PSK this session was opened with.
async fn authorize(
    server: &CoapServer,
    device_id: &str,
    generation: u64,
) -> Result<Device, CoapError> {
    let unauthorized = || {
        server.metrics.error("coap_unauthorized");
        CoapError::Unauthorized(
            "this device was revoked or deleted, or its PSK was replaced; handshake again with its current key".into(),
        )
    };
    match server.keys.lookup(&server.registry, device_id) {
        Ok(Some((d, g, _))) if g == generation => Ok(d),
        Ok(_) => Err(unauthorized()),
        Err(e) => {
            tracing::warn!(error = %e, "CoAP: registry lookup");
            Err(CoapError::Unavailable(format!(
                "the registry is unavailable ({e}); try again later"
            )))
        }
    }
}

/// Whether the device's policy grants the MQTT-equivalent topic under its own
/// prefix (`suffix`: `telemetry`, `update`, `update/status`): a POST is a
/// publish, a GET of a notice or payload is what a subscription to `update` is
/// on MQTT (RFC 7252 resources mirror the topics, `policy::messaging`).
async fn granted(
    server: &CoapServer,
    device_id: &str,
    suffix: &str,
    subscribe: bool,
    capability: &str,
) -> Result<(), CoapError> {
    let Some(p) = server.messaging.get() else {
        return Ok(());
    };
    let topic = format!("{}/{device_id}/{suffix}", crate::ingest::mqtt::TOPIC_ROOT);
    let ok = crate::ingest::await_policy(p.as_ref(), device_id, Duration::from_secs(5)).await
        && if subscribe {
            p.may_subscribe(device_id, &topic)
        } else {
            p.may_publish(device_id, &topic)
        } == Some(true);
    if ok {
        Ok(())
    } else {
        server.metrics.error("acl_coap");
        Err(CoapError::Forbidden(format!(
            "the device's policy does not grant `{capability}` (`steward explain {device_id}` says why)"
        )))
    }
}

/// Authorize and ingest one telemetry body.
async fn post(
    server: &CoapServer,
    device_id: &str,
    generation: u64,
    upload: &Upload,
) -> Result<(), CoapError> {
    let device = authorize(server, device_id, generation).await?;
    granted(server, &device.id, "telemetry", false, "telemetry").await?;
    let decoder = server
        .registry
        .model(&device.model)
        .map(|m| m.decoder)
        .unwrap_or_default();
    server
        .ingest
        .ingest(&device.id, &decoder, upload.media, &upload.payload, "coap")
        .await?;
    Ok(())
}

/// The update service unreachable or failing: the device may ask again.
fn update_service_error(e: UpdateError) -> CoapError {
    tracing::warn!(error = %e, "CoAP: update service");
    CoapError::Unavailable(format!(
        "the update service is unavailable ({e}); try again later"
    ))
}

/// Authorize the device, then its current update notice (recorded as delivered).
async fn notice(
    server: &CoapServer,
    device_id: &str,
    generation: u64,
) -> Result<Notice, CoapError> {
    let device = authorize(server, device_id, generation).await?;
    granted(server, &device.id, "update", true, "updates").await?;
    match server.updates.pull_notice(&device.id).await {
        Ok(Some(n)) => {
            server.metrics.message("coap_update_notice");
            Ok(n)
        }
        Ok(None) => Err(CoapError::NoUpdate(format!(
            "no running campaign has device {} in a started wave",
            device.id
        ))),
        Err(e) => Err(update_service_error(e)),
    }
}

/// Authorize the device, then apply and store its status report; `Ok` only once
/// it is stored. A report that is malformed or does not fit the device's stored
/// state changes nothing and says why.
async fn status(
    server: &CoapServer,
    device_id: &str,
    generation: u64,
    report: &Upload,
) -> Result<(), CoapError> {
    let device = authorize(server, device_id, generation).await?;
    granted(server, &device.id, "update/status", false, "updates").await?;
    match server
        .updates
        .report_status(&device.id, report.payload.clone())
        .await
    {
        Ok(Reported::Stored) => Ok(()),
        Ok(Reported::Ignored(why)) => Err(CoapError::BadReport(format!(
            "update status not applied, nothing changed: {why}"
        ))),
        Err(UpdateError::Invalid(why)) => Err(CoapError::BadReport(why)),
        Err(e) => Err(update_service_error(e)),
    }
}

/// Authorize the device, then read one block of a firmware payload a campaign
/// offers it (on the blocking pool: SQLite and the file).
async fn firmware_block(
    server: &CoapServer,
    device_id: &str,
    generation: u64,
    fetch: &Fetch,
) -> Result<Chunk, CoapError> {
    let device = authorize(server, device_id, generation).await?;
    granted(server, &device.id, "update", true, "updates").await?;
    let updates = server.updates.updates().clone();
    let (digest, offset, len) = (fetch.digest.clone(), fetch.offset, fetch.len);
    let chunk = tokio::task::spawn_blocking(move || {
        read_offered(&updates, &device.id, &digest, offset, len)
    })
    .await
    .map_err(|e| CoapError::Unavailable(format!("the payload reader failed ({e}); try again")))??;
    if offset == 0 {
        server.metrics.message("coap_firmware_download");
    }
    Ok(chunk)
}

/// `len` bytes from `offset` of the payload `digest`, if a campaign offers it to
/// `device`: a seek and a bounded read, never the whole payload.
fn read_offered(
    updates: &Updates,
    device: &str,
    digest: &str,
    offset: u64,
    len: usize,
) -> Result<Chunk, CoapError> {
    let not_offered = || {
        CoapError::NoPayload(format!(
            "no campaign offers firmware payload {digest} to device {device}; download only the payload of an update notice sent to this device"
        ))
    };
    let offered = updates
        .store
        .payload_offered_to(device, digest)
        .map_err(|e| {
            tracing::warn!(error = %e, "CoAP: update store lookup");
            CoapError::Unavailable(format!(
                "the update store is unavailable ({e}); try again later"
            ))
        })?;
    if !offered {
        return Err(not_offered());
    }
    let path = updates.payload_path(digest).ok_or_else(not_offered)?;
    let unavailable = |e: std::io::Error| {
        tracing::warn!(error = %e, path = %path.display(), "CoAP: reading a firmware payload");
        CoapError::Unavailable(format!(
            "firmware payload {digest} cannot be read ({e}); try again later"
        ))
    };
    let mut file = match std::fs::File::open(&path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(CoapError::NoPayload(format!(
                "firmware payload {digest} is offered to device {device} but the gateway does not hold it; ask the operator to upload it again"
            )));
        }
        Err(e) => return Err(unavailable(e)),
    };
    let total = file.metadata().map_err(unavailable)?.len();
    let mut data = Vec::with_capacity(len);
    if offset < total {
        file.seek(SeekFrom::Start(offset)).map_err(unavailable)?;
        file.take(len as u64)
            .read_to_end(&mut data)
            .map_err(unavailable)?;
    }
    Ok(Chunk { total, data })
}
