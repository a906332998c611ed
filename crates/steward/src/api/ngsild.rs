//! A read-only subset of the ETSI NGSI-LD API (ETSI GS CIM 009 V1.8.1 §6.4, §6.5):
//! `GET /ngsi-ld/v1/entities` (query by `type`, `id`, `attrs`) and
//! `GET /ngsi-ld/v1/entities/{entityId}`, with `options=keyValues`/`normalized`
//! (or `format=`), `limit`, `offset` and `count`. Devices' latest readings are
//! presented as FIWARE Smart Data Models entities through their model's mapping.
//!
//! - Content negotiation (§6.3.4, §6.3.5): `Accept: application/ld+json` gets the
//!   `@context` in each entity; `application/json` (or none, or `*/*`) gets the
//!   context as a `Link` header; anything else is 406.
//! - Errors (§5.5.2, §6.3.2): RFC 7807 ProblemDetails with the NGSI-LD error type
//!   URIs (`BadRequestData`, `ResourceNotFound`, ...), naming the parameter.
//! - Access: the admin bearer token, as the rest of the operator API.

use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use semantic::ngsi;
use serde_json::{Map, Value, json};
use utoipa::OpenApi;

use super::{AppState, bearer, same_digest};
use crate::registry::secret_hash;
use crate::semantics::SemanticsError;

const ERRORS: &str = "https://uri.etsi.org/ngsi-ld/errors/";
const MAX_LIMIT: usize = 1000;
const DEFAULT_LIMIT: usize = 20;

#[derive(OpenApi)]
#[openapi(paths(query_entities, retrieve_entity), tags((name = "ngsi-ld", description = "ETSI NGSI-LD (read-only subset): devices as FIWARE Smart Data Models entities")))]
pub(super) struct NgsiDoc;

pub(super) fn router() -> Router<AppState> {
    Router::new()
        .route("/ngsi-ld/v1/entities", get(query_entities))
        .route("/ngsi-ld/v1/entities/", get(query_entities))
        .route("/ngsi-ld/v1/entities/{id}", get(retrieve_entity))
}

/// An NGSI-LD error (ProblemDetails, RFC 7807 §3.1).
#[derive(Debug)]
struct Problem {
    status: StatusCode,
    kind: &'static str,
    detail: String,
}

impl Problem {
    fn bad(detail: impl Into<String>) -> Problem {
        Problem {
            status: StatusCode::BAD_REQUEST,
            kind: "BadRequestData",
            detail: detail.into(),
        }
    }
    fn not_found(detail: impl Into<String>) -> Problem {
        Problem {
            status: StatusCode::NOT_FOUND,
            kind: "ResourceNotFound",
            detail: detail.into(),
        }
    }
    fn internal(detail: impl Into<String>) -> Problem {
        Problem {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            kind: "InternalError",
            detail: detail.into(),
        }
    }
}

impl From<SemanticsError> for Problem {
    fn from(e: SemanticsError) -> Problem {
        if e.is_client_error() {
            Problem::bad(e.to_string())
        } else {
            Problem::internal(e.to_string())
        }
    }
}

impl From<super::ApiError> for Problem {
    fn from(e: super::ApiError) -> Problem {
        Problem::internal(e.to_string())
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        // 401 and 406 have no NGSI-LD error type: RFC 7807 §4.2 `about:blank`.
        let kind = match self.kind {
            "" => "about:blank".to_string(),
            k => format!("{ERRORS}{k}"),
        };
        let title = self.status.canonical_reason().unwrap_or("error");
        if self.status.is_server_error() {
            tracing::error!(detail = %self.detail, "NGSI-LD error");
        }
        let mut resp = (
            self.status,
            Json(json!({"type": kind, "title": title, "status": self.status.as_u16(), "detail": self.detail})),
        )
            .into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            resp.headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        resp
    }
}

fn authorize(s: &AppState, headers: &HeaderMap) -> Result<(), Problem> {
    let unauthorized = |d: &str| Problem {
        status: StatusCode::UNAUTHORIZED,
        kind: "",
        detail: d.into(),
    };
    match bearer(headers) {
        Some(t) if same_digest(&secret_hash(t), &s.admin_hash) => Ok(()),
        Some(_) => Err(unauthorized("the admin token is wrong")),
        None => Err(unauthorized("send `Authorization: Bearer <admin token>`")),
    }
}

/// The representation the client asked for.
#[derive(Clone, Copy, PartialEq)]
enum Media {
    Json,
    JsonLd,
}

/// CIM 009 §6.3.4: application/ld+json or application/json; `*/*` and
/// `application/*` mean JSON. The highest quality wins; ties go to the first.
fn negotiate(headers: &HeaderMap) -> Result<Media, Problem> {
    let Some(accept) = headers.get(header::ACCEPT) else {
        return Ok(Media::Json);
    };
    let accept = accept
        .to_str()
        .map_err(|_| Problem::bad("the Accept header is not text"))?;
    let mut best: Option<(f32, Media)> = None;
    for item in accept.split(',') {
        let mut parts = item.split(';').map(str::trim);
        let media = parts.next().unwrap_or_default().to_ascii_lowercase();
        let q = parts
            .filter_map(|p| p.strip_prefix("q="))
            .find_map(|q| q.parse::<f32>().ok())
            .unwrap_or(1.0);
        let m = match media.as_str() {
            "application/ld+json" => Media::JsonLd,
            "application/json" | "application/*" | "*/*" => Media::Json,
            _ => continue,
        };
        if q > 0.0 && best.is_none_or(|(bq, _)| q > bq) {
            best = Some((q, m));
        }
    }
    best.map(|(_, m)| m).ok_or(Problem {
        status: StatusCode::NOT_ACCEPTABLE,
        kind: "",
        detail: format!(
            "Accept `{accept}`: this API serves application/json and application/ld+json"
        ),
    })
}

/// Query parameters, parsed strictly: an unknown or repeated one is an error
/// that names it.
#[derive(Default)]
struct Params {
    types: Vec<String>,
    ids: Vec<String>,
    attrs: Option<Vec<String>>,
    key_values: bool,
    limit: usize,
    offset: usize,
    count: bool,
}

fn decode(s: &str) -> Result<String, Problem> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hex = bytes
                    .get(i + 1..i + 3)
                    .and_then(|h| std::str::from_utf8(h).ok());
                let b = hex
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
                    .ok_or_else(|| Problem::bad("a bad percent-escape in the query"))?;
                out.push(b);
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).map_err(|_| Problem::bad("the query is not UTF-8"))
}

fn list(name: &str, v: &str, check: impl Fn(&str) -> bool) -> Result<Vec<String>, Problem> {
    let items: Vec<String> = v.split(',').map(str::trim).map(str::to_string).collect();
    if items.len() > 100 {
        return Err(Problem::bad(format!("`{name}`: at most 100 values")));
    }
    for i in &items {
        if !check(i) {
            return Err(Problem::bad(format!(
                "`{name}`: `{}` is not valid",
                i.chars().take(80).collect::<String>()
            )));
        }
    }
    Ok(items)
}

fn is_uri(s: &str) -> bool {
    // CIM 009 §4.4: entity ids are URIs (RFC 3986): a scheme, then ':'.
    let Some((scheme, rest)) = s.split_once(':') else {
        return false;
    };
    !rest.is_empty()
        && s.len() <= 512
        && scheme
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic())
        && scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
        && !s.chars().any(|c| {
            c.is_whitespace()
                || c.is_control()
                || matches!(c, '<' | '>' | '"' | '{' | '}' | '|' | '\\' | '^' | '`')
        })
}

fn is_type_name(s: &str) -> bool {
    ngsi::is_attribute_name(s) || is_uri(s)
}

fn parse(query: Option<&str>, by_id: bool) -> Result<Params, Problem> {
    let mut p = Params {
        limit: DEFAULT_LIMIT,
        ..Default::default()
    };
    let mut seen: Vec<String> = Vec::new();
    let q = query.unwrap_or_default();
    if q.len() > 8192 {
        return Err(Problem::bad("the query string is longer than 8192 bytes"));
    }
    for pair in q.split('&').filter(|s| !s.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let (k, v) = (decode(k)?, decode(v)?);
        if seen.contains(&k) {
            return Err(Problem::bad(format!(
                "`{k}` is given twice; give it once, with comma-separated values"
            )));
        }
        seen.push(k.clone());
        let list_only =
            |name: &str| by_id && matches!(name, "type" | "id" | "limit" | "offset" | "count");
        if list_only(&k) {
            return Err(Problem::bad(format!(
                "`{k}` does not apply to retrieving one entity"
            )));
        }
        match k.as_str() {
            "type" => p.types = list("type", &v, is_type_name)?,
            "id" => p.ids = list("id", &v, is_uri)?,
            "attrs" => p.attrs = Some(list("attrs", &v, ngsi::is_attribute_name)?),
            "options" | "format" => {
                for o in list(&k, &v, |o| !o.is_empty())? {
                    match o.as_str() {
                        "keyValues" | "simplified" => p.key_values = true,
                        "normalized" => {}
                        other => {
                            return Err(Problem::bad(format!(
                                "`{k}`: `{}` is not supported; use keyValues (or simplified) or normalized",
                                other.chars().take(40).collect::<String>()
                            )));
                        }
                    }
                }
                if p.key_values && v.split(',').any(|o| o.trim() == "normalized") {
                    return Err(Problem::bad(format!(
                        "`{k}`: keyValues and normalized exclude each other"
                    )));
                }
            }
            "limit" => {
                p.limit = v.parse().map_err(|_| {
                    Problem::bad(format!(
                        "`limit`: `{}` is not a number from 0 to {MAX_LIMIT}",
                        v.chars().take(20).collect::<String>()
                    ))
                })?;
                if p.limit > MAX_LIMIT {
                    return Err(Problem {
                        status: StatusCode::FORBIDDEN,
                        kind: "TooManyResults",
                        detail: format!("`limit`: at most {MAX_LIMIT}"),
                    });
                }
            }
            "offset" => {
                p.offset = v.parse().map_err(|_| {
                    Problem::bad(format!(
                        "`offset`: `{}` is not a non-negative number",
                        v.chars().take(20).collect::<String>()
                    ))
                })?
            }
            "count" => {
                p.count = match v.as_str() {
                    "true" => true,
                    "false" => false,
                    _ => return Err(Problem::bad("`count`: true or false")),
                }
            }
            "q" | "geoQ" | "georel" | "geometry" | "coordinates" | "geoproperty" | "csf"
            | "scopeQ" | "idPattern" | "lang" | "pick" | "omit" | "local" | "via" | "datasetId"
            | "expandValues" | "join" | "joinLevel" | "containedBy" | "entityMap"
            | "geometryProperty" => {
                return Err(Problem {
                    status: StatusCode::NOT_IMPLEMENTED,
                    kind: "OperationNotSupported",
                    detail: format!("`{k}` is not supported by this read-only NGSI-LD subset"),
                });
            }
            other => {
                return Err(Problem::bad(format!(
                    "unknown query parameter `{}`",
                    other.chars().take(40).collect::<String>()
                )));
            }
        }
    }
    if p.limit == 0 && !p.count {
        return Err(Problem::bad("`limit`: 0 only together with count=true"));
    }
    if !by_id && p.types.is_empty() && p.ids.is_empty() && p.attrs.is_none() {
        return Err(Problem::bad(
            "give at least one of `type`, `id` or `attrs` (CIM 009 §5.7.2.4)",
        ));
    }
    Ok(p)
}

fn link(types: &[&str]) -> HeaderValue {
    let v = format!(
        r#"<{}>; rel="http://www.w3.org/ns/json-ld#context"; type="application/ld+json""#,
        ngsi::link_context(types.iter().copied())
    );
    HeaderValue::from_str(&v).unwrap_or_else(|_| HeaderValue::from_static(""))
}

fn render(e: &semantic::Entity, p: &Params, media: Media) -> Map<String, Value> {
    let mut out = if p.key_values {
        e.key_values(p.attrs.as_deref())
    } else {
        e.normalized(p.attrs.as_deref())
    };
    if media == Media::JsonLd {
        out.insert(
            "@context".into(),
            json!(ngsi::contexts([e.entity_type.as_str()])),
        );
    }
    out
}

fn respond(
    media: Media,
    types: &[&str],
    body: Value,
    extra: Option<(&'static str, String)>,
) -> Response {
    let mut resp = Json(body).into_response();
    let h = resp.headers_mut();
    match media {
        Media::JsonLd => {
            h.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/ld+json"),
            );
        }
        Media::Json => {
            h.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            h.insert(header::LINK, link(types));
        }
    }
    if let Some((name, v)) = extra
        && let Ok(v) = HeaderValue::from_str(&v)
    {
        h.insert(name, v);
    }
    resp
}

/// Query entities (CIM 009 §6.4.3.2).
#[utoipa::path(get, path = "/ngsi-ld/v1/entities", tag = "ngsi-ld", security(("admin_token" = [])),
    params(
        ("type" = Option<String>, Query, description = "entity types, comma-separated (AirQualityObserved, NoiseLevelObserved, ParkingSpot, Streetlight)"),
        ("id" = Option<String>, Query, description = "entity ids, comma-separated"),
        ("attrs" = Option<String>, Query, description = "attributes to return, comma-separated"),
        ("options" = Option<String>, Query, description = "keyValues or normalized"),
        ("limit" = Option<usize>, Query, description = "at most this many (default 20, at most 1000)"),
        ("offset" = Option<usize>, Query, description = "skip this many"),
        ("count" = Option<bool>, Query, description = "send the total in the NGSILD-Results-Count header")),
    responses((status = 200, content_type = "application/json", body = [Object]), (status = 400, content_type = "application/json", body = Object), (status = 406, body = Object)))]
async fn query_entities(
    State(s): State<AppState>,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
) -> Result<Response, Problem> {
    authorize(&s, &headers)?;
    let media = negotiate(&headers)?;
    let p = parse(q.as_deref(), false)?;
    let (types, ids, sem) = (p.types.clone(), p.ids.clone(), s.semantics.clone());
    let mut entities = s.registry(move |r| sem.entities(r, &types, &ids)).await?;
    if let Some(attrs) = &p.attrs {
        // §5.7.2.4: with attrs, only entities that have at least one of them.
        entities.retain(|e| e.attrs.iter().any(|(n, _)| attrs.contains(n)));
    }
    let total = entities.len();
    let page: Vec<Value> = entities
        .iter()
        .skip(p.offset)
        .take(p.limit)
        .map(|e| Value::Object(render(e, &p, media)))
        .collect();
    let mut seen: Vec<&str> = entities
        .iter()
        .skip(p.offset)
        .take(p.limit)
        .map(|e| e.entity_type.as_str())
        .collect();
    if seen.is_empty() {
        seen = p.types.iter().map(String::as_str).collect();
    }
    seen.dedup();
    Ok(respond(
        media,
        &seen,
        Value::Array(page),
        p.count.then(|| ("ngsild-results-count", total.to_string())),
    ))
}

/// Retrieve one entity (CIM 009 §6.5.3.1).
#[utoipa::path(get, path = "/ngsi-ld/v1/entities/{id}", tag = "ngsi-ld", security(("admin_token" = [])),
    params(("id" = String, Path, description = "entity id, urn:ngsi-ld:{type}:{device id}"),
        ("attrs" = Option<String>, Query, description = "attributes to return"),
        ("options" = Option<String>, Query, description = "keyValues or normalized")),
    responses((status = 200, content_type = "application/json", body = Object), (status = 400, body = Object), (status = 404, body = Object)))]
async fn retrieve_entity(
    State(s): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
) -> Result<Response, Problem> {
    authorize(&s, &headers)?;
    let media = negotiate(&headers)?;
    let p = parse(q.as_deref(), true)?;
    if !is_uri(&id) {
        return Err(Problem::bad(format!(
            "entity id `{}` is not a URI",
            id.chars().take(80).collect::<String>()
        )));
    }
    let sem = s.semantics.clone();
    let lookup = id.clone();
    let found = s.registry(move |r| sem.entity(r, &lookup)).await?;
    let entity = match found {
        None => return Err(Problem::not_found(format!("no entity `{id}`"))),
        Some(Err(reason @ semantic::NotExported::Invalid { .. })) => {
            return Err(Problem::internal(reason.to_string()));
        }
        Some(Err(reason)) => {
            return Err(Problem::not_found(format!(
                "no entity `{id}` yet: {reason}"
            )));
        }
        Some(Ok(e)) => e,
    };
    let body = render(&entity, &p, media);
    Ok(respond(
        media,
        &[entity.entity_type.as_str()],
        Value::Object(body),
        None,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameters_are_parsed_strictly() {
        let p = parse(
            Some("type=AirQualityObserved,ParkingSpot&options=keyValues&limit=5&count=true"),
            false,
        )
        .unwrap();
        assert_eq!(p.types, ["AirQualityObserved", "ParkingSpot"]);
        assert!(p.key_values && p.count && p.limit == 5);
        for (q, needle) in [
            ("type=A&colour=red", "colour"),
            ("type=A&type=B", "twice"),
            ("type=A&limit=x", "limit"),
            ("type=A&options=sysAttrs", "sysAttrs"),
            ("type=A&options=keyValues,normalized", "exclude"),
            ("limit=3", "at least one"),
            ("type=A%20B", "type"),
            ("id=not-a-uri", "id"),
            ("type=A&limit=0", "count=true"),
        ] {
            let e = parse(Some(q), false)
                .err()
                .map(|e| e.detail)
                .unwrap_or_default();
            assert!(e.contains(needle), "{q}: {e}");
        }
        assert_eq!(
            parse(Some("type=A&q=x"), false).err().map(|e| e.status),
            Some(StatusCode::NOT_IMPLEMENTED)
        );
        assert_eq!(
            parse(Some("type=A&limit=5000"), false)
                .err()
                .map(|e| e.kind),
            Some("TooManyResults")
        );
        assert!(parse(Some("limit=3"), true).is_err());
    }

    #[test]
    fn accept_header() {
        let h = |v: &str| {
            let mut m = HeaderMap::new();
            m.insert(header::ACCEPT, HeaderValue::from_str(v).unwrap());
            negotiate(&m).ok()
        };
        assert!(h("application/ld+json") == Some(Media::JsonLd));
        assert!(h("application/json") == Some(Media::Json));
        assert!(h("*/*") == Some(Media::Json));
        assert!(h("application/json;q=0.5, application/ld+json") == Some(Media::JsonLd));
        assert!(h("text/html").is_none());
        assert!(h("application/ld+json;q=0").is_none());
        assert!(negotiate(&HeaderMap::new()).ok() == Some(Media::Json));
    }
}
