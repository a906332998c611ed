//! The HTTP API (axum): device ingest, the operator API, live streams, health and
//! metrics. All JSON; the OpenAPI document is served at `/api/v1/openapi.json`.
//!
//! - `error.rs`: [`ApiError`], the API layer's errors and their HTTP statuses.
//! - `tls.rs`: a TLS listener, so the API is served over HTTPS off loopback.
//! - `updates.rs`: firmware updates (anchors, uploads, campaigns, payload download).
//! - `policy.rs`: effective policies, explain, plan/apply, the policy audit log.
//! - `leases.rs`: lease events from another DHCP server; `dns.rs`: the devices'
//!   DNS statistics.
//! - `wot.rs`: Thing Descriptions, Thing Models, a model's semantic declarations.
//! - `ngsild.rs`: the read-only NGSI-LD API (`/ngsi-ld/v1/entities`).
//! - this file: routes, authentication, handlers.
//!
//! Authentication: operators send `Authorization: Bearer <admin token>`; devices
//! posting telemetry send `Authorization: Bearer <device token>`.

mod dns;
mod error;
mod leases;
mod ngsild;
mod policy;
mod tls;
mod updates;
mod wot;

use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, FromRequestParts, Path, Query, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use tokio::net::TcpListener;
use utoipa::{IntoParams, OpenApi, ToSchema};

pub use error::ApiError;

use crate::ingest::mqtt::{Broker, Delivery};
use crate::ingest::{Ingest, Media};
use crate::metrics::Metrics;
use crate::registry::{
    Device, DevicePatch, Model, ModelPatch, NewDevice, Reading, Registry, secret_hash,
};
use crate::store::ReadingQuery;

#[derive(Clone)]
pub struct AppState {
    pub registry: Registry,
    pub ingest: Ingest,
    pub broker: Option<Arc<Broker>>,
    pub metrics: Arc<Metrics>,
    /// SHA-256 (hex) of the admin token; the token itself is not kept.
    pub admin_hash: Arc<str>,
    pub max_body: usize,
    /// The update operations (`crate::updates`), when the service runs.
    pub updates: Option<crate::updates::Updates>,
    /// Compiled WoT, SDF and Smart Data Models schemas.
    pub semantics: crate::semantics::Shared,
    /// Where the gateway is reached, for the forms of Thing Descriptions.
    pub endpoints: Arc<semantic::Endpoints>,
    /// The devices' messaging ACL from their effective policy (`netpolicy`).
    pub messaging: Option<Arc<dyn crate::ingest::MessagingPolicy>>,
    /// The devices' DNS forwarder, when it runs (its per-device statistics).
    pub dns: Option<Arc<crate::enforce::dns::Forwarder>>,
}

#[derive(OpenApi)]
#[openapi(
    info(title = "Steward API", description = "Steward, the open IoT gateway: registry, telemetry, live readings."),
    paths(
        healthz, ingest_telemetry, list_devices, create_device, get_device, update_device,
        delete_device, revoke_device, issue_token, issue_certificate, list_models, create_model,
        get_model, update_model, delete_model,
        readings, latest, stream, send_command
    ),
    components(schemas(
        Device, NewDevice, DevicePatch, Model, ModelPatch, NewModel, Reading, crate::registry::ReadingValue,
        crate::registry::Identity, crate::registry::IdentityKind, crate::registry::Strength,
        crate::registry::DeviceStatus, TokenIssued, CertificateIssued, CertificateRequest,
        Ingested, CommandSent, Delivery, ErrorBody, Health
    )),
    modifiers(&BearerAuth),
    tags((name = "devices"), (name = "telemetry"), (name = "models"))
)]
struct ApiDoc;

struct BearerAuth;
impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        let bearer =
            || SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build());
        components.add_security_scheme("admin_token", bearer());
        components.add_security_scheme("device_token", bearer());
    }
}

/// The OpenAPI document.
pub fn openapi() -> utoipa::openapi::OpenApi {
    let mut doc = ApiDoc::openapi();
    doc.merge(leases::LeasesDoc::openapi());
    doc.merge(wot::WotDoc::openapi());
    doc.merge(ngsild::NgsiDoc::openapi());
    doc
}

pub fn router(state: AppState) -> Router {
    let max_body = state.max_body;
    Router::new()
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .route("/api/v1/openapi.json", get(|| async { Json(openapi()) }))
        .route("/api/v1/devices", get(list_devices).post(create_device))
        .route(
            "/api/v1/devices/{id}",
            get(get_device).patch(update_device).delete(delete_device),
        )
        .route("/api/v1/devices/{id}/revoke", post(revoke_device))
        .route("/api/v1/devices/{id}/tokens", post(issue_token))
        .route("/api/v1/devices/{id}/certificate", post(issue_certificate))
        .route("/api/v1/devices/{id}/telemetry", post(ingest_telemetry))
        .route("/api/v1/devices/{id}/readings", get(readings))
        .route("/api/v1/devices/{id}/latest", get(latest))
        .route("/api/v1/devices/{id}/commands/{name}", post(send_command))
        .route("/api/v1/models", get(list_models).post(create_model))
        .route(
            "/api/v1/models/{name}",
            get(get_model).patch(update_model).delete(delete_model),
        )
        .route("/api/v1/readings/stream", get(stream))
        .merge(leases::router())
        .merge(updates::routes(4 << 20))
        .merge(policy::routes())
        .merge(dns::router())
        .merge(wot::router())
        .merge(ngsild::router())
        .fallback(|| async { ApiError::NotFound("no such endpoint".into()) })
        .layer(DefaultBodyLimit::max(max_body))
        .with_state(state)
}

/// Serve the API on an already-bound listener until `shutdown` resolves; with TLS
/// when `tls` is given.
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    tls: Option<Arc<rustls::ServerConfig>>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    match tls {
        None => {
            let app = router(state).into_make_service_with_connect_info::<updates::Peer>();
            axum::serve(listener, app)
                .with_graceful_shutdown(shutdown)
                .await
        }
        Some(config) => {
            let app = router(state).into_make_service_with_connect_info::<updates::Peer>();
            axum::serve(tls::TlsListener::new(listener, config), app)
                .with_graceful_shutdown(shutdown)
                .await
        }
    }
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")
        .map(str::trim)
}

/// Compare two equal-length hex digests without an early exit.
fn same_digest(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// Proof that the request carries the admin token: handlers of the operator API
/// take it as an argument, so none can forget the check.
struct Admin;

impl FromRequestParts<AppState> for Admin {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Admin, ApiError> {
        match bearer(&parts.headers) {
            Some(token) if same_digest(&secret_hash(token), &state.admin_hash) => Ok(Admin),
            Some(_) => Err(ApiError::Unauthorized("the admin token is wrong".into())),
            None => Err(ApiError::Unauthorized(
                "send `Authorization: Bearer <admin token>` (the token is in the data directory, file admin-token)".into(),
            )),
        }
    }
}

impl AppState {
    /// Who acts with the admin token, for audit logs: only one admin token
    /// exists, named by its hash's prefix.
    pub(crate) fn admin_actor(&self) -> String {
        format!(
            "admin-token:{}",
            &self.admin_hash[..12.min(self.admin_hash.len())]
        )
    }

    /// Run a registry or store call on the blocking pool (SQLite does file I/O).
    async fn registry<T, E>(
        &self,
        f: impl FnOnce(&Registry) -> Result<T, E> + Send + 'static,
    ) -> Result<T, ApiError>
    where
        T: Send + 'static,
        E: Into<ApiError> + Send + 'static,
    {
        let registry = self.registry.clone();
        tokio::task::spawn_blocking(move || f(&registry).map_err(Into::into))
            .await
            .map_err(|e| ApiError::Internal(format!("worker failed: {e}")))?
    }
}

#[derive(Serialize, ToSchema)]
pub struct Health {
    status: &'static str,
    readings_stored: u64,
    mqtt_connected: usize,
}

#[derive(Serialize, ToSchema)]
pub struct ErrorBody {
    error: String,
}

#[utoipa::path(get, path = "/healthz", responses((status = 200, body = Health)))]
async fn healthz(State(s): State<AppState>) -> Result<Json<Health>, ApiError> {
    let stored = s.registry(|r| r.store().count_readings()).await?;
    Ok(Json(Health {
        status: "ok",
        readings_stored: stored,
        mqtt_connected: s.broker.as_ref().map(|b| b.connected()).unwrap_or(0),
    }))
}

async fn metrics(State(s): State<AppState>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        s.metrics.render(),
    )
        .into_response()
}

#[derive(Serialize, ToSchema)]
pub struct Ingested {
    /// Readings stored (durably) from this pack.
    stored: usize,
}

/// Telemetry from a device: a SenML pack. 201 only after the durable commit.
#[utoipa::path(post, path = "/api/v1/devices/{id}/telemetry", tag = "telemetry",
    params(("id" = String, Path, description = "device id")),
    request_body(content = String, content_type = "application/senml+json", description = "SenML pack (JSON or CBOR: application/senml+cbor)"),
    security(("device_token" = [])),
    responses((status = 201, body = Ingested), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 413, body = ErrorBody), (status = 415, body = ErrorBody)))]
async fn ingest_telemetry(
    State(s): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<(StatusCode, Json<Ingested>), ApiError> {
    let token = bearer(&headers)
        .ok_or_else(|| {
            ApiError::Unauthorized("send `Authorization: Bearer <device token>`".into())
        })?
        .to_string();
    let device_id = id.clone();
    let device = s
        .registry(move |registry| {
            // The token must belong to the device named in the path.
            match registry.authenticate_token(&device_id, &token) {
                Ok(Some(d)) => Ok(d),
                Ok(None) => Err(ApiError::Unauthorized(
                    "the token is not valid for this device".into(),
                )),
                Err(crate::registry::RegistryError::Revoked(_)) => {
                    Err(ApiError::Forbidden("the device is revoked".into()))
                }
                Err(e) => Err(e.into()),
            }
        })
        .await?;
    // An HTTP POST of telemetry is a publish to the device's telemetry topic:
    // the same messaging ACL as MQTT and CoAP, from the device's policy.
    if let Some(p) = &s.messaging {
        let topic = format!(
            "{}/{}/telemetry",
            crate::ingest::mqtt::TOPIC_ROOT,
            device.id
        );
        if !crate::ingest::await_policy(p.as_ref(), &device.id, std::time::Duration::from_secs(5))
            .await
            || p.may_publish(&device.id, &topic) != Some(true)
        {
            return Err(ApiError::Forbidden(format!(
                "the device's policy does not grant `telemetry` (`steward explain {}` says why)",
                device.id
            )));
        }
    }
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let media = Media::from_mime(content_type).ok_or_else(|| {
        ApiError::UnsupportedMediaType(format!(
            "content type `{content_type}`: send application/senml+json, application/senml+cbor, \
             or what the device's model decodes (application/json, application/octet-stream)"
        ))
    })?;
    let model = device.model.clone();
    let decoder = s
        .registry(move |r| r.model(&model).map(|m| m.decoder))
        .await?;
    let stored = s
        .ingest
        .ingest(&device.id, &decoder, media, &body, "http")
        .await?;
    Ok((StatusCode::CREATED, Json(Ingested { stored })))
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct DeviceListParams {
    /// Only devices out of date (a newer firmware exists) or out of support,
    /// with the firmware facts (`updates::Outdated`).
    outdated: Option<bool>,
}

#[utoipa::path(get, path = "/api/v1/devices", tag = "devices", security(("admin_token" = [])),
    params(DeviceListParams), responses((status = 200, body = [Device])))]
async fn list_devices(
    State(s): State<AppState>,
    Query(p): Query<DeviceListParams>,
    _: Admin,
) -> Result<Response, ApiError> {
    if p.outdated == Some(true) {
        return Ok(Json(updates::outdated(&s).await?).into_response());
    }
    Ok(Json(s.registry(move |r| r.list()).await?).into_response())
}

#[utoipa::path(post, path = "/api/v1/devices", tag = "devices", security(("admin_token" = [])),
    request_body = NewDevice, responses((status = 201, body = Device), (status = 400, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn create_device(
    State(s): State<AppState>,
    _: Admin,
    body: Bytes,
) -> Result<(StatusCode, Json<Device>), ApiError> {
    let new: NewDevice = parse_json(&body)?;
    let d = s.registry(move |r| r.create_device(new)).await?;
    Ok((StatusCode::CREATED, Json(d)))
}

fn parse_json<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(body)
        .map_err(|e| ApiError::BadRequest(format!("invalid JSON body: {e}")))
}

#[utoipa::path(get, path = "/api/v1/devices/{id}", tag = "devices", security(("admin_token" = [])),
    params(("id" = String, Path, description = "device id or name")),
    responses((status = 200, body = Device), (status = 404, body = ErrorBody)))]
async fn get_device(
    State(s): State<AppState>,
    Path(id): Path<String>,
    _: Admin,
) -> Result<Json<Device>, ApiError> {
    Ok(Json(s.registry(move |r| r.get(&id)).await?))
}

#[utoipa::path(patch, path = "/api/v1/devices/{id}", tag = "devices", security(("admin_token" = [])),
    params(("id" = String, Path, description = "device id or name")), request_body = DevicePatch,
    responses((status = 200, body = Device), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn update_device(
    State(s): State<AppState>,
    Path(id): Path<String>,
    _: Admin,
    body: Bytes,
) -> Result<Json<Device>, ApiError> {
    let patch: DevicePatch = parse_json(&body)?;
    let actor = s.admin_actor();
    Ok(Json(
        s.registry(move |r| -> Result<Device, ApiError> {
            let before = r.get(&id)?;
            let after = r.update(&id, patch)?;
            // A new zone or tags change the device's privileges: audited.
            crate::netpolicy::audit_device_change(
                r,
                &::policy::PolicyConfig::default(),
                &before,
                &after,
                &actor,
                r.clock(),
            )?;
            Ok(after)
        })
        .await?,
    ))
}

#[utoipa::path(delete, path = "/api/v1/devices/{id}", tag = "devices", security(("admin_token" = [])),
    params(("id" = String, Path, description = "device id or name")),
    responses((status = 200, body = Device), (status = 404, body = ErrorBody)))]
async fn delete_device(
    State(s): State<AppState>,
    Path(id): Path<String>,
    _: Admin,
) -> Result<Json<Device>, ApiError> {
    let d = s.registry(move |r| r.delete(&id)).await?;
    if let Some(b) = &s.broker {
        b.kick(&d.id, "device deleted", true);
    }
    Ok(Json(d))
}

#[utoipa::path(post, path = "/api/v1/devices/{id}/revoke", tag = "devices", security(("admin_token" = [])),
    params(("id" = String, Path, description = "device id or name")),
    responses((status = 200, body = Device), (status = 404, body = ErrorBody)))]
async fn revoke_device(
    State(s): State<AppState>,
    Path(id): Path<String>,
    _: Admin,
) -> Result<Json<Device>, ApiError> {
    let d = s.registry(move |r| r.revoke(&id)).await?;
    if let Some(b) = &s.broker {
        b.kick(&d.id, "device revoked", true);
    }
    Ok(Json(d))
}

#[derive(Serialize, ToSchema)]
pub struct TokenIssued {
    device_id: String,
    /// Shown once; Steward keeps only its hash.
    token: String,
}

#[utoipa::path(post, path = "/api/v1/devices/{id}/tokens", tag = "devices", security(("admin_token" = [])),
    params(("id" = String, Path, description = "device id or name")),
    responses((status = 201, body = TokenIssued), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn issue_token(
    State(s): State<AppState>,
    Path(id): Path<String>,
    _: Admin,
) -> Result<(StatusCode, Json<TokenIssued>), ApiError> {
    let (d, token) = s.registry(move |r| r.issue_token(&id)).await?;
    Ok((
        StatusCode::CREATED,
        Json(TokenIssued {
            device_id: d.id,
            token,
        }),
    ))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CertificateRequest {
    name: String,
    model: String,
    /// PEM CSR made by the device; without it Steward makes the key.
    csr: Option<String>,
    zone: Option<String>,
    #[serde(default)]
    tags: Vec<String>,
}

#[derive(Serialize, ToSchema)]
pub struct CertificateIssued {
    device: Device,
    certificate: String,
    /// Present only when Steward made the key.
    key: Option<String>,
    ca: String,
}

/// Create a device with a client certificate (POST to any id: the path id is ignored
/// unless it names the device to create; use `new`).
#[utoipa::path(post, path = "/api/v1/devices/{id}/certificate", tag = "devices", security(("admin_token" = [])),
    params(("id" = String, Path, description = "`new`")), request_body = CertificateRequest,
    responses((status = 201, body = CertificateIssued), (status = 400, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn issue_certificate(
    State(s): State<AppState>,
    Path(_id): Path<String>,
    _: Admin,
    body: Bytes,
) -> Result<(StatusCode, Json<CertificateIssued>), ApiError> {
    let req: CertificateRequest = parse_json(&body)?;
    let issued = s
        .registry(move |r| {
            r.add_device_with_certificate(
                NewDevice {
                    name: req.name,
                    model: req.model,
                    zone: req.zone,
                    tags: req.tags,
                    firmware_version: None,
                },
                req.csr.as_deref(),
            )
        })
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(CertificateIssued {
            device: issued.device,
            certificate: issued.cert_pem,
            key: issued.key_pem,
            ca: issued.ca_pem,
        }),
    ))
}

#[utoipa::path(get, path = "/api/v1/models", tag = "models", security(("admin_token" = [])),
    responses((status = 200, body = [Model])))]
async fn list_models(State(s): State<AppState>, _: Admin) -> Result<Json<Vec<Model>>, ApiError> {
    Ok(Json(s.registry(move |r| r.store().models()).await?))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewModel {
    manufacturer: String,
    name: String,
    mud_url: Option<String>,
    /// Default `{"kind": "senml"}`.
    #[schema(value_type = Option<Object>)]
    decoder: Option<payload::Decoder>,
}

#[utoipa::path(post, path = "/api/v1/models", tag = "models", security(("admin_token" = [])),
    request_body = NewModel, responses((status = 201, body = Model), (status = 400, body = ErrorBody)))]
async fn create_model(
    State(s): State<AppState>,
    _: Admin,
    body: Bytes,
) -> Result<(StatusCode, Json<Model>), ApiError> {
    let m: NewModel = parse_json(&body)?;
    let model = s
        .registry(move |r| {
            r.create_model(Model {
                id: uuid::Uuid::new_v4().to_string(),
                manufacturer: m.manufacturer,
                name: m.name,
                mud_url: m.mud_url,
                decoder: m.decoder.unwrap_or_default(),
                created: crate::clock::Clock::now(&crate::clock::SystemClock),
            })
        })
        .await?;
    Ok((StatusCode::CREATED, Json(model)))
}

#[utoipa::path(get, path = "/api/v1/models/{name}", tag = "models", security(("admin_token" = [])),
    params(("name" = String, Path, description = "model name")),
    responses((status = 200, body = Model), (status = 404, body = ErrorBody)))]
async fn get_model(
    State(s): State<AppState>,
    Path(name): Path<String>,
    _: Admin,
) -> Result<Json<Model>, ApiError> {
    Ok(Json(s.registry(move |r| r.model(&name)).await?))
}

#[utoipa::path(patch, path = "/api/v1/models/{name}", tag = "models", security(("admin_token" = [])),
    params(("name" = String, Path, description = "model name")), request_body = ModelPatch,
    responses((status = 200, body = Model), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn update_model(
    State(s): State<AppState>,
    Path(name): Path<String>,
    _: Admin,
    body: Bytes,
) -> Result<Json<Model>, ApiError> {
    let patch: ModelPatch = parse_json(&body)?;
    Ok(Json(
        s.registry(move |r| r.update_model(&name, patch)).await?,
    ))
}

#[utoipa::path(delete, path = "/api/v1/models/{name}", tag = "models", security(("admin_token" = [])),
    params(("name" = String, Path, description = "model name")),
    responses((status = 200, body = Model), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn delete_model(
    State(s): State<AppState>,
    Path(name): Path<String>,
    _: Admin,
) -> Result<Json<Model>, ApiError> {
    Ok(Json(s.registry(move |r| r.delete_model(&name)).await?))
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ReadingParams {
    /// Only readings with this SenML name.
    name: Option<String>,
    /// From this time (seconds since the epoch).
    since: Option<f64>,
    /// Up to this time.
    until: Option<f64>,
    /// At most this many (default 100, at most 10000), newest first.
    limit: Option<usize>,
}

#[utoipa::path(get, path = "/api/v1/devices/{id}/readings", tag = "telemetry", security(("admin_token" = [])),
    params(("id" = String, Path, description = "device id or name"), ReadingParams),
    responses((status = 200, body = [Reading]), (status = 404, body = ErrorBody)))]
async fn readings(
    State(s): State<AppState>,
    Path(id): Path<String>,
    Query(p): Query<ReadingParams>,
    _: Admin,
) -> Result<Json<Vec<Reading>>, ApiError> {
    let limit = p.limit.unwrap_or(100);
    if limit == 0 || limit > 10_000 {
        return Err(ApiError::BadRequest(
            "limit must be between 1 and 10000".into(),
        ));
    }
    Ok(Json(
        s.registry(move |r| {
            let d = r.get(&id)?;
            Ok::<_, ApiError>(r.store().readings(&ReadingQuery {
                device_id: d.id,
                name: p.name,
                since: p.since,
                until: p.until,
                limit,
            })?)
        })
        .await?,
    ))
}

#[utoipa::path(get, path = "/api/v1/devices/{id}/latest", tag = "telemetry", security(("admin_token" = [])),
    params(("id" = String, Path, description = "device id or name")),
    responses((status = 200, body = [Reading]), (status = 404, body = ErrorBody)))]
async fn latest(
    State(s): State<AppState>,
    Path(id): Path<String>,
    _: Admin,
) -> Result<Json<Vec<Reading>>, ApiError> {
    Ok(Json(
        s.registry(move |r| {
            let d = r.get(&id)?;
            Ok::<_, ApiError>(r.store().latest(&d.id)?)
        })
        .await?,
    ))
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct StreamParams {
    /// Only this device's readings (id).
    device: Option<String>,
}

/// Server-sent events: one `reading` event per committed reading.
#[utoipa::path(get, path = "/api/v1/readings/stream", tag = "telemetry", security(("admin_token" = [])),
    params(StreamParams), responses((status = 200, content_type = "text/event-stream", body = Reading)))]
async fn stream(
    State(s): State<AppState>,
    Query(p): Query<StreamParams>,
    _: Admin,
) -> Result<impl IntoResponse, ApiError> {
    let rx = s.ingest.committer().subscribe();
    let events = futures::stream::unfold(
        (rx, std::collections::VecDeque::<Event>::new(), p.device),
        |(mut rx, mut ready, device)| async move {
            loop {
                if let Some(ev) = ready.pop_front() {
                    return Some((Ok::<_, Infallible>(ev), (rx, ready, device)));
                }
                match rx.recv().await {
                    Ok(batch) => {
                        for r in batch.iter() {
                            if device.as_ref().is_some_and(|d| *d != r.device_id) {
                                continue;
                            }
                            if let Ok(ev) = Event::default().event("reading").json_data(r) {
                                ready.push_back(ev);
                            }
                        }
                    }
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                        ready.push_back(Event::default().event("lagged").data(n.to_string()));
                    }
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => return None,
                }
            }
        },
    );
    Ok(Sse::new(events).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))))
}

#[derive(Serialize, ToSchema)]
pub struct CommandSent {
    topic: String,
    delivery: Delivery,
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct CommandParams {
    /// MQTT QoS for the command (0 or 1; default 1).
    qos: Option<u8>,
}

/// Send a command to a device over MQTT (`steward/v1/devices/{id}/commands/{name}`).
#[utoipa::path(post, path = "/api/v1/devices/{id}/commands/{name}", tag = "devices", security(("admin_token" = [])),
    params(("id" = String, Path, description = "device id or name"), ("name" = String, Path, description = "command name"), CommandParams),
    request_body(content = String, description = "command payload, passed as is"),
    responses((status = 202, body = CommandSent), (status = 404, body = ErrorBody)))]
async fn send_command(
    State(s): State<AppState>,
    Path((id, name)): Path<(String, String)>,
    Query(p): Query<CommandParams>,
    _: Admin,
    body: Bytes,
) -> Result<(StatusCode, Json<CommandSent>), ApiError> {
    if name.is_empty() || name.len() > 128 || name.contains(['+', '#', '\0']) {
        return Err(ApiError::BadRequest(format!(
            "invalid command name `{name}`"
        )));
    }
    let qos = p.qos.unwrap_or(1);
    if qos > 1 {
        return Err(ApiError::BadRequest("qos must be 0 or 1".into()));
    }
    let d = s.registry(move |r| r.get(&id)).await?;
    let broker = s
        .broker
        .as_ref()
        .ok_or_else(|| ApiError::Unavailable("the MQTT endpoint is not running".into()))?;
    let delivery = broker.send_command(&d.id, &name, body, qos);
    Ok((
        StatusCode::ACCEPTED,
        Json(CommandSent {
            topic: format!(
                "{}/{}/commands/{name}",
                crate::ingest::mqtt::TOPIC_ROOT,
                d.id
            ),
            delivery,
        }),
    ))
}
