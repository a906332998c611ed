//! The firmware-update API: trust anchors, payload and envelope upload, campaigns
//! (create, list, show, pause / resume / abort, progress as server-sent events),
//! support periods, and the devices' payload download (HTTPS, client certificate
//! or token, Range requests).

use std::convert::Infallible;
use std::net::SocketAddr;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::connect_info::Connected;
use axum::extract::{ConnectInfo, DefaultBodyLimit, Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::serve::IncomingStream;
use axum::{Json, Router};
use futures::StreamExt;
use serde::Deserialize;
use tokio::io::{AsyncReadExt, AsyncSeekExt};
use tokio::net::TcpListener;

use super::tls::TlsListener;
use super::{Admin, ApiError, AppState, bearer, parse_json};
use crate::registry::{Device, IdentityKind};
use crate::updates::campaign::Control;
use crate::updates::range::{RangeAnswer, answer};
use crate::updates::store::{CampaignRow, Firmware, Progress};
use crate::updates::{NewCampaign, Outdated, UpdateError, Updates};

/// Who is on the other end of a connection: the address and, over TLS, the
/// SHA-256 of the client certificate it presented (already verified by rustls
/// against Steward's CA or a maker CA).
#[derive(Debug, Clone)]
pub struct Peer {
    pub addr: SocketAddr,
    pub cert_sha256: Option<String>,
}

impl Connected<IncomingStream<'_, TlsListener>> for Peer {
    fn connect_info(stream: IncomingStream<'_, TlsListener>) -> Peer {
        let cert = stream
            .io()
            .get_ref()
            .1
            .peer_certificates()
            .and_then(|c| c.first())
            .map(|c| crate::pki::fingerprint(c));
        Peer {
            addr: *stream.remote_addr(),
            cert_sha256: cert,
        }
    }
}

impl Connected<IncomingStream<'_, TcpListener>> for Peer {
    fn connect_info(stream: IncomingStream<'_, TcpListener>) -> Peer {
        Peer {
            addr: *stream.remote_addr(),
            cert_sha256: None,
        }
    }
}

impl From<UpdateError> for ApiError {
    fn from(e: UpdateError) -> ApiError {
        match e {
            UpdateError::Invalid(_) | UpdateError::Envelope(_) => {
                ApiError::BadRequest(e.to_string())
            }
            UpdateError::NotFound(_) => ApiError::NotFound(e.to_string()),
            UpdateError::Conflict(_) | UpdateError::Rollback(_) => {
                ApiError::Conflict(e.to_string())
            }
            UpdateError::TooLarge { .. } => ApiError::PayloadTooLarge(e.to_string()),
            UpdateError::Registry(r) => r.into(),
            other => ApiError::Internal(other.to_string()),
        }
    }
}

/// The routes, merged into the API router.
pub fn routes(envelope_limit: usize) -> Router<AppState> {
    Router::new()
        .route(
            "/api/v1/firmware/payloads/{digest}",
            put(upload_payload).layer(DefaultBodyLimit::disable()),
        )
        .route(
            "/api/v1/firmware",
            get(list_firmware)
                .post(upload_envelope)
                .layer(DefaultBodyLimit::max(envelope_limit)),
        )
        .route("/api/v1/models/{name}/anchor", put(set_anchor))
        .route("/api/v1/models/{name}/support", put(set_support))
        .route("/api/v1/devices/{id}/firmware/{digest}", get(download))
        .route(
            "/api/v1/campaigns",
            get(list_campaigns).post(create_campaign),
        )
        .route("/api/v1/campaigns/{id}", get(get_campaign))
        .route("/api/v1/campaigns/{id}/devices", get(campaign_devices))
        .route("/api/v1/campaigns/{id}/events", get(campaign_events))
        .route("/api/v1/campaigns/{id}/{action}", post(control_campaign))
}

impl AppState {
    fn updates(&self) -> Result<Updates, ApiError> {
        self.updates
            .clone()
            .ok_or_else(|| ApiError::Unavailable("the update service is not running".into()))
    }

    async fn with_updates<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Updates) -> Result<T, UpdateError> + Send + 'static,
    ) -> Result<T, ApiError> {
        let u = self.updates()?;
        tokio::task::spawn_blocking(move || f(&u).map_err(ApiError::from))
            .await
            .map_err(|e| ApiError::Internal(format!("worker failed: {e}")))?
    }
}

async fn upload_payload(
    State(s): State<AppState>,
    Path(digest): Path<String>,
    _: Admin,
    body: Body,
) -> Result<(StatusCode, Json<serde_json::Value>), ApiError> {
    let u = s.updates()?;
    if u.payload_path(&digest).is_none() {
        return Err(ApiError::BadRequest(format!(
            "`{digest}` is not a SHA-256 digest (64 lowercase hex digits)"
        )));
    }
    let mut w = tokio::task::block_in_place(|| u.payload_writer())?;
    let mut stream = body.into_data_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| ApiError::BadRequest(format!("reading the payload: {e}")))?;
        if let Err(e) = tokio::task::block_in_place(|| w.write(&chunk)) {
            if matches!(e, UpdateError::TooLarge { .. }) {
                discard_rest(&mut stream).await;
            }
            return Err(e.into());
        }
    }
    let (digest, size) = tokio::task::block_in_place(|| w.finish(Some(&digest)))?;
    Ok((
        StatusCode::CREATED,
        Json(serde_json::json!({"digest": digest, "size": size})),
    ))
}

/// Read and drop what is left of a refused upload (bounded in bytes and time)
/// before answering 413. A server may close the connection instead (RFC 9110
/// §15.5.14), but a client still writing its body then sees a reset, not the
/// answer that says which limit it hit.
async fn discard_rest<S, E>(stream: &mut S)
where
    S: futures::Stream<Item = Result<Bytes, E>> + Unpin,
{
    const MAX_DISCARD: u64 = 64 << 20;
    let mut seen = 0u64;
    let _ = tokio::time::timeout(Duration::from_secs(10), async {
        while let Some(Ok(chunk)) = stream.next().await {
            seen += chunk.len() as u64;
            if seen > MAX_DISCARD {
                break;
            }
        }
    })
    .await;
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UploadParams {
    /// A version label for people (default: the sequence number).
    version: Option<String>,
}

async fn upload_envelope(
    State(s): State<AppState>,
    Query(p): Query<UploadParams>,
    _: Admin,
    body: Bytes,
) -> Result<(StatusCode, Json<Firmware>), ApiError> {
    let fw = s
        .with_updates(move |u| u.upload(&body, p.version.as_deref()))
        .await?;
    Ok((StatusCode::CREATED, Json(fw)))
}

async fn list_firmware(
    State(s): State<AppState>,
    _: Admin,
) -> Result<Json<Vec<Firmware>>, ApiError> {
    Ok(Json(s.with_updates(|u| u.store.firmware_list()).await?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AnchorBody {
    key_pem: String,
    vendor_id: uuid::Uuid,
    class_id: uuid::Uuid,
}

async fn set_anchor(
    State(s): State<AppState>,
    Path(name): Path<String>,
    _: Admin,
    body: Bytes,
) -> Result<Json<serde_json::Value>, ApiError> {
    let b: AnchorBody = parse_json(&body)?;
    let a = s
        .with_updates(move |u| u.set_anchor(&name, &b.key_pem, b.vendor_id, b.class_id))
        .await?;
    Ok(Json(serde_json::json!({
        "model": a.model, "vendor_id": a.vendor_id, "class_id": a.class_id
    })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SupportBody {
    /// Seconds since the epoch; null: no end.
    support_until: Option<f64>,
}

async fn set_support(
    State(s): State<AppState>,
    Path(name): Path<String>,
    _: Admin,
    body: Bytes,
) -> Result<StatusCode, ApiError> {
    let b: SupportBody = parse_json(&body)?;
    s.with_updates(move |u| u.set_support(&name, b.support_until))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The device named in the path, authenticated by its client certificate or its
/// token.
async fn device_auth(
    s: &AppState,
    id: &str,
    peer: Option<&Peer>,
    headers: &HeaderMap,
) -> Result<Device, ApiError> {
    let cert = peer.and_then(|p| p.cert_sha256.clone());
    let token = bearer(headers).map(str::to_string);
    let id = id.to_string();
    s.registry(move |r| {
        let found = if let Some(fp) = cert {
            r.authenticate(IdentityKind::CertSha256, &fp)
        } else if let Some(t) = token {
            r.authenticate_token(&id, &t)
        } else {
            return Err(ApiError::Unauthorized(
                "present the device's client certificate, or send `Authorization: Bearer <device token>`".into(),
            ));
        };
        match found {
            Ok(Some(d)) if d.id == id => Ok(d),
            Ok(_) => Err(ApiError::Unauthorized(
                "the credentials are not valid for this device".into(),
            )),
            Err(crate::registry::RegistryError::Revoked(_)) => {
                Err(ApiError::Forbidden("the device is revoked".into()))
            }
            Err(e) => Err(e.into()),
        }
    })
    .await
}

/// The payload of a firmware a campaign offers the device, resumable: `Range`
/// (RFC 9110 §14) with 206 / 416, `ETag` = the payload's SHA-256, `If-Range`.
async fn download(
    State(s): State<AppState>,
    Path((id, digest)): Path<(String, String)>,
    req: axum::extract::Request,
) -> Result<Response, ApiError> {
    let peer = req
        .extensions()
        .get::<ConnectInfo<Peer>>()
        .map(|c| c.0.clone());
    let headers = req.headers().clone();
    let device = device_auth(&s, &id, peer.as_ref(), &headers).await?;
    if let Some(p) = &peer {
        tracing::debug!(device = %device.id, peer = %p.addr, %digest, "payload download");
    }
    let u = s.updates()?;
    let Some(path) = u.payload_path(&digest) else {
        return Err(ApiError::NotFound(format!(
            "`{digest}` is not a payload digest"
        )));
    };
    let offered = s
        .with_updates({
            let digest = digest.clone();
            let device = device.id.clone();
            move |u| u.store.payload_offered_to(&device, &digest)
        })
        .await?;
    if !offered {
        return Err(ApiError::NotFound(format!(
            "no campaign offers payload {digest} to device {}",
            device.id
        )));
    }
    let mut file = tokio::fs::File::open(&path).await.map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            ApiError::NotFound(format!("no firmware payload {digest}"))
        } else {
            // Out of file descriptors, say: the device should come back, not
            // conclude the payload is gone.
            tracing::warn!(%digest, error = %e, "payload open");
            ApiError::Unavailable(format!("payload {digest} cannot be read now ({e}); retry"))
        }
    })?;
    let len = file
        .metadata()
        .await
        .map_err(|e| ApiError::Internal(format!("payload {digest}: {e}")))?
        .len();
    let etag = format!("\"{digest}\"");
    let range_header = headers.get(header::RANGE).and_then(|v| v.to_str().ok());
    // If-Range (RFC 9110 §13.1.5): a range only of the representation the client has.
    let if_range_ok = headers
        .get(header::IF_RANGE)
        .and_then(|v| v.to_str().ok())
        .is_none_or(|v| v == etag);
    let range = if if_range_ok {
        answer(range_header, len)
    } else {
        RangeAnswer::Full
    };
    let mut builder = Response::builder()
        .header(header::ACCEPT_RANGES, "bytes")
        .header(header::ETAG, etag)
        .header(header::CONTENT_TYPE, "application/octet-stream");
    let (status, start, count) = match range {
        RangeAnswer::Full => (StatusCode::OK, 0, len),
        RangeAnswer::Partial { start, end } => {
            builder = builder.header(header::CONTENT_RANGE, format!("bytes {start}-{end}/{len}"));
            (StatusCode::PARTIAL_CONTENT, start, end - start + 1)
        }
        RangeAnswer::Unsatisfiable => {
            return builder
                .status(StatusCode::RANGE_NOT_SATISFIABLE)
                .header(header::CONTENT_RANGE, format!("bytes */{len}"))
                .body(Body::empty())
                .map_err(|e| ApiError::Internal(e.to_string()));
        }
    };
    if start > 0 {
        file.seek(std::io::SeekFrom::Start(start))
            .await
            .map_err(|e| ApiError::Internal(format!("payload {digest}: {e}")))?;
    }
    s.metrics.message("firmware_download");
    let stream = tokio_util::io::ReaderStream::with_capacity(file.take(count), 64 * 1024);
    builder
        .status(status)
        .header(header::CONTENT_LENGTH, HeaderValue::from(count))
        .body(Body::from_stream(stream))
        .map_err(|e| ApiError::Internal(e.to_string()))
}

async fn create_campaign(
    State(s): State<AppState>,
    _: Admin,
    body: Bytes,
) -> Result<(StatusCode, Json<serde_json::Value>), ApiError> {
    let new: NewCampaign = parse_json(&body)?;
    let (row, devices) = s.with_updates(move |u| u.create_campaign(new)).await?;
    Ok((
        StatusCode::CREATED,
        Json(serde_json::json!({"campaign": row, "devices": devices})),
    ))
}

async fn list_campaigns(
    State(s): State<AppState>,
    _: Admin,
) -> Result<Json<Vec<CampaignRow>>, ApiError> {
    Ok(Json(s.with_updates(|u| u.store.campaigns()).await?))
}

async fn get_campaign(
    State(s): State<AppState>,
    Path(id): Path<String>,
    _: Admin,
) -> Result<Json<Progress>, ApiError> {
    let p = s.with_updates(move |u| u.store.progress(&id)).await?;
    p.map(Json)
        .ok_or_else(|| ApiError::NotFound("no such campaign".into()))
}

async fn campaign_devices(
    State(s): State<AppState>,
    Path(id): Path<String>,
    _: Admin,
) -> Result<Json<serde_json::Value>, ApiError> {
    let devices = s
        .with_updates(move |u| {
            let c = u
                .store
                .campaign(&id)?
                .ok_or_else(|| UpdateError::NotFound(format!("no campaign `{id}`")))?;
            u.store.campaign_devices(&c.id)
        })
        .await?;
    Ok(Json(
        serde_json::to_value(devices).map_err(|e| ApiError::Internal(e.to_string()))?,
    ))
}

async fn control_campaign(
    State(s): State<AppState>,
    Path((id, action)): Path<(String, String)>,
    _: Admin,
) -> Result<Json<CampaignRow>, ApiError> {
    let c = match action.as_str() {
        "pause" => Control::Pause,
        "resume" => Control::Resume,
        "abort" => Control::Abort,
        other => {
            return Err(ApiError::NotFound(format!(
                "no campaign action `{other}` (pause, resume, abort)"
            )));
        }
    };
    Ok(Json(s.with_updates(move |u| u.control(&id, c)).await?))
}

/// Server-sent events: a `progress` event (campaign and per-wave counts) at
/// once and whenever it changes; the stream ends after the campaign reaches a
/// final state.
async fn campaign_events(
    State(s): State<AppState>,
    Path(id): Path<String>,
    _: Admin,
) -> Result<impl IntoResponse, ApiError> {
    let u = s.updates()?;
    let first = {
        let id = id.clone();
        s.with_updates(move |u| u.store.progress(&id)).await?
    };
    if first.is_none() {
        return Err(ApiError::NotFound("no such campaign".into()));
    }
    let events = futures::stream::unfold(
        (u, id, None::<String>, false),
        |(u, id, last, done)| async move {
            if done {
                return None;
            }
            loop {
                let u2 = u.clone();
                let id2 = id.clone();
                let p = tokio::task::spawn_blocking(move || u2.store.progress(&id2))
                    .await
                    .ok()
                    .and_then(Result::ok)
                    .flatten()?;
                let text = serde_json::to_string(&p).ok()?;
                if last.as_deref() != Some(text.as_str()) {
                    let finished = p.campaign.state.is_final();
                    let ev = Event::default().event("progress").data(text.clone());
                    return Some((Ok::<_, Infallible>(ev), (u, id, Some(text), finished)));
                }
                tokio::time::sleep(Duration::from_millis(300)).await;
            }
        },
    );
    Ok(Sse::new(events).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))))
}

/// `GET /api/v1/devices?outdated=true`: devices out of date or out of support.
pub async fn outdated(s: &AppState) -> Result<Vec<Outdated>, ApiError> {
    s.with_updates(|u| u.outdated()).await
}
