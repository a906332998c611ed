//! Lease events from the network's DHCP server, for sites where Steward is not the
//! DHCP server: `POST /api/v1/leases` (admin) has the effect of a lease from
//! Steward's own server (`enforce::dhcp::record_lease`): an unknown device is
//! registered in `restricted`, its MUD URL recorded. `tools/dnsmasq-lease-hook.sh`
//! posts dnsmasq's `--dhcp-script` events here; `GET /api/v1/leases` lists leases.

use axum::extract::State;
use axum::routing::post;
use axum::{Json, Router};
use serde::Deserialize;
use utoipa::ToSchema;

use super::error::ApiError;
use super::{Admin, AppState};
use crate::enforce::dhcp::{DhcpError, LeaseEvent, MAX_MUD_URL, record_lease};
use crate::registry::{Device, Lease};

/// One lease event, as dnsmasq's `--dhcp-script` reports it.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LeaseEventBody {
    /// `add`, `old` (renewed or seen at start) or `del`.
    pub action: String,
    pub mac: String,
    pub ip: String,
    pub hostname: Option<String>,
    pub vendor_class: Option<String>,
    pub client_id: Option<String>,
    /// The MUD URL the device sent in option 161.
    pub mud_url: Option<String>,
    /// Lease end, seconds since the epoch (dnsmasq's DNSMASQ_LEASE_EXPIRES); 0 or absent: unknown.
    pub expires: Option<f64>,
}

#[derive(Debug, serde::Serialize, ToSchema)]
pub struct LeaseRecorded {
    pub device: Option<Device>,
    pub lease: Option<Lease>,
}

#[derive(utoipa::OpenApi)]
#[openapi(
    paths(post_lease, list_leases),
    components(schemas(LeaseEventBody, LeaseRecorded, Lease))
)]
pub struct LeasesDoc;

pub fn router() -> Router<AppState> {
    Router::new().route("/api/v1/leases", post(post_lease).get(list_leases))
}

impl From<DhcpError> for ApiError {
    fn from(e: DhcpError) -> Self {
        match e {
            DhcpError::Registry(r) => r.into(),
            other => ApiError::BadRequest(other.to_string()),
        }
    }
}

fn opt_text(v: Option<String>, field: &str, max: usize) -> Result<Option<String>, ApiError> {
    match v {
        None => Ok(None),
        Some(s) if s.is_empty() => Ok(None),
        Some(s) if s.len() > max || s.chars().any(char::is_control) => Err(ApiError::BadRequest(
            format!("{field}: at most {max} characters, no control characters"),
        )),
        Some(s) => Ok(Some(s)),
    }
}

#[utoipa::path(post, path = "/api/v1/leases", request_body = LeaseEventBody,
    responses((status = 200, body = LeaseRecorded), (status = 400), (status = 401)))]
async fn post_lease(
    State(s): State<AppState>,
    _: Admin,
    Json(b): Json<LeaseEventBody>,
) -> Result<Json<LeaseRecorded>, ApiError> {
    let mac: lan::dhcp::Mac = b.mac.parse().map_err(ApiError::BadRequest)?;
    let ip: std::net::Ipv4Addr =
        b.ip.parse()
            .map_err(|_| ApiError::BadRequest(format!("ip: `{}` is not an IPv4 address", b.ip)))?;
    let now = s.registry.clock().now();
    match b.action.as_str() {
        "del" => {
            s.registry(move |r| r.store().delete_lease(&ip.to_string()))
                .await?;
            Ok(Json(LeaseRecorded {
                device: None,
                lease: None,
            }))
        }
        "add" | "old" => {
            let hostname = opt_text(b.hostname, "hostname", 63)?;
            let vendor_class = opt_text(b.vendor_class, "vendor_class", 255)?;
            let client_id = opt_text(b.client_id, "client_id", 255)?;
            let mud_url = opt_text(b.mud_url, "mud_url", MAX_MUD_URL)?
                .map(|u| lan::dhcp::mud_url(u.as_bytes()));
            let expires = match b.expires {
                Some(e) if e > 0.0 => e,
                _ => now + 3600.0,
            };
            let ev = LeaseEvent {
                mac,
                ip,
                client_id,
                hostname,
                vendor_class,
                mud_url,
                expires,
                source: "api",
            };
            let (device, lease) = s.registry(move |r| record_lease(r, &ev, now)).await?;
            Ok(Json(LeaseRecorded {
                device: Some(device),
                lease: Some(lease),
            }))
        }
        other => Err(ApiError::BadRequest(format!(
            "action: `{other}`; use add, old or del"
        ))),
    }
}

#[utoipa::path(get, path = "/api/v1/leases", responses((status = 200, body = Vec<Lease>), (status = 401)))]
async fn list_leases(State(s): State<AppState>, _: Admin) -> Result<Json<Vec<Lease>>, ApiError> {
    Ok(Json(s.registry(|r| r.store().leases()).await?))
}
