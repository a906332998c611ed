//! W3C Web of Things on the API: a device's Thing Description, a model's Thing
//! Model, and the declarations a model carries (thing spec, NGSI-LD mapping),
//! over [`crate::semantics`].

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, put};
use axum::{Json, Router};
use utoipa::OpenApi;

use super::{Admin, ApiError, AppState, parse_json};
use crate::semantics::{ModelSemantics, SemanticsError};

impl From<SemanticsError> for ApiError {
    fn from(e: SemanticsError) -> Self {
        match e {
            SemanticsError::Registry(r) => r.into(),
            SemanticsError::Store(s) => s.into(),
            e if e.is_client_error() => ApiError::BadRequest(e.to_string()),
            e => ApiError::Internal(e.to_string()),
        }
    }
}

#[derive(OpenApi)]
#[openapi(
    paths(device_td, model_tm, model_semantics, put_thing, put_ngsi),
    components(schemas(ModelSemantics)),
    tags((name = "semantics", description = "W3C WoT Thing Descriptions and Thing Models; NGSI-LD mappings"))
)]
pub(super) struct WotDoc;

pub(super) fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/devices/{id}/td", get(device_td))
        .route("/api/v1/models/{name}/tm", get(model_tm))
        .route("/api/v1/models/{name}/semantics", get(model_semantics))
        .route("/api/v1/models/{name}/thing", put(put_thing))
        .route("/api/v1/models/{name}/ngsi", put(put_ngsi))
}

fn typed(media: &'static str, v: serde_json::Value) -> Response {
    ([(header::CONTENT_TYPE, media)], Json(v)).into_response()
}

/// The device's W3C WoT Thing Description (TD 1.1): its properties (readings
/// with units), actions (commands) and forms on Steward's endpoints.
#[utoipa::path(get, path = "/api/v1/devices/{id}/td", tag = "semantics", security(("admin_token" = [])),
    params(("id" = String, Path, description = "device id or name")),
    responses((status = 200, content_type = "application/td+json", body = Object), (status = 404, body = super::ErrorBody)))]
async fn device_td(
    State(s): State<AppState>,
    Path(id): Path<String>,
    _: Admin,
) -> Result<Response, ApiError> {
    let (sem, endpoints) = (s.semantics.clone(), s.endpoints.clone());
    let td = s
        .registry(move |r| sem.thing_description(r, &id, &endpoints))
        .await?;
    Ok(typed(semantic::thing::TD_MEDIA_TYPE, td))
}

/// The model's W3C WoT Thing Model.
#[utoipa::path(get, path = "/api/v1/models/{name}/tm", tag = "semantics", security(("admin_token" = [])),
    params(("name" = String, Path, description = "model name")),
    responses((status = 200, content_type = "application/tm+json", body = Object), (status = 404, body = super::ErrorBody)))]
async fn model_tm(
    State(s): State<AppState>,
    Path(name): Path<String>,
    _: Admin,
) -> Result<Response, ApiError> {
    let sem = s.semantics.clone();
    let tm = s.registry(move |r| sem.thing_model(r, &name)).await?;
    Ok(typed(semantic::thing::TM_MEDIA_TYPE, tm))
}

/// What the model declares: its thing spec and its NGSI-LD mapping.
#[utoipa::path(get, path = "/api/v1/models/{name}/semantics", tag = "semantics", security(("admin_token" = [])),
    params(("name" = String, Path, description = "model name")),
    responses((status = 200, body = ModelSemantics), (status = 404, body = super::ErrorBody)))]
async fn model_semantics(
    State(s): State<AppState>,
    Path(name): Path<String>,
    _: Admin,
) -> Result<Json<ModelSemantics>, ApiError> {
    let sem = s.semantics.clone();
    Ok(Json(
        s.registry(move |r| {
            let m = r.model(&name)?;
            sem.load(r, &m)
        })
        .await?,
    ))
}

/// Declare the model's thing spec (properties with units and types, actions).
#[utoipa::path(put, path = "/api/v1/models/{name}/thing", tag = "semantics", security(("admin_token" = [])),
    params(("name" = String, Path, description = "model name")),
    request_body(content = Object, description = "thing spec: {\"properties\": {NAME: {\"unit\", \"type\", ...}}, \"actions\": {NAME: {...}}}"),
    responses((status = 200, body = ModelSemantics), (status = 400, body = super::ErrorBody), (status = 404, body = super::ErrorBody)))]
async fn put_thing(
    State(s): State<AppState>,
    Path(name): Path<String>,
    _: Admin,
    body: Bytes,
) -> Result<Json<ModelSemantics>, ApiError> {
    let spec: semantic::ThingSpec = parse_json(&body)?;
    let sem = s.semantics.clone();
    let now = crate::clock::Clock::now(&crate::clock::SystemClock);
    Ok(Json(
        s.registry(move |r| sem.declare(r, &name, Some(spec), None, now))
            .await?,
    ))
}

/// Declare the model's NGSI-LD mapping (reading → Smart Data Models attribute).
#[utoipa::path(put, path = "/api/v1/models/{name}/ngsi", tag = "semantics", security(("admin_token" = [])),
    params(("name" = String, Path, description = "model name")),
    request_body(content = Object, description = "mapping: {\"type\": \"AirQualityObserved\", \"attributes\": [{\"reading\", \"attribute\", \"scale\"?, \"unitCode\"?, \"values\"?}], \"location\"?: {\"lat\", \"lon\"}, \"static\"?: {...}}"),
    responses((status = 200, body = ModelSemantics), (status = 400, body = super::ErrorBody), (status = 404, body = super::ErrorBody)))]
async fn put_ngsi(
    State(s): State<AppState>,
    Path(name): Path<String>,
    _: Admin,
    body: Bytes,
) -> Result<Json<ModelSemantics>, ApiError> {
    let text = std::str::from_utf8(&body)
        .map_err(|_| ApiError::BadRequest("the body is not UTF-8".into()))?;
    let mapping =
        semantic::Mapping::parse(text).map_err(|e| ApiError::BadRequest(e.to_string()))?;
    let sem = s.semantics.clone();
    let now = crate::clock::Clock::now(&crate::clock::SystemClock);
    Ok(Json(
        s.registry(move |r| sem.declare(r, &name, None, Some(mapping), now))
            .await?,
    ))
}
