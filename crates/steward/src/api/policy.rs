//! The policy API (admin token): a device's effective policy and `explain`, the
//! applied configuration, plan and apply, the audit log. The same functions as
//! `steward explain` / `steward policy` ([`crate::netpolicy`]).
//!
//! | route | |
//! |---|---|
//! | `GET /api/v1/devices/{id}/policy[?to=HOST:PORT/tcp]` | policy in words (+ verdict) |
//! | `GET /api/v1/policy` | the applied `[policy]` |
//! | `POST /api/v1/policy/plan` | body: a `[policy]` as JSON → who gains/loses what |
//! | `PUT /api/v1/policy` | body: `{"config": …, "reason": "…"}` → applied, audited |
//! | `GET /api/v1/policy/audit[?limit=N]` | the audit log, newest first |

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;

use super::error::ApiError;
use super::{Admin, AppState};
use crate::clock::{SharedClock, SystemClock};
use crate::netpolicy::{self, NetPolicyError};
use crate::registry::Registry;

impl From<NetPolicyError> for ApiError {
    fn from(e: NetPolicyError) -> Self {
        match e {
            NetPolicyError::Policy(p) => match p {
                policy::PolicyError::UnknownDevice(_) => ApiError::NotFound(p.to_string()),
                other => ApiError::BadRequest(other.to_string()),
            },
            NetPolicyError::Registry(r) => r.into(),
            NetPolicyError::Store(s) => s.into(),
            NetPolicyError::Address(_) => ApiError::BadRequest(e.to_string()),
            other => ApiError::Internal(other.to_string()),
        }
    }
}

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/devices/{id}/policy", get(device_policy))
        .route("/api/v1/policy", get(show).put(apply))
        .route("/api/v1/policy/plan", post(plan))
        .route("/api/v1/policy/audit", get(audit))
}

fn clock() -> SharedClock {
    Arc::new(SystemClock)
}

/// The applied configuration (a running server has always recorded one).
fn current(r: &Registry) -> Result<policy::PolicyConfig, NetPolicyError> {
    netpolicy::in_force(
        r.store(),
        &policy::PolicyConfig::default(),
        &clock(),
        "steward",
    )
}

#[derive(Deserialize)]
struct ToQuery {
    to: Option<String>,
}

async fn device_policy(
    _: Admin,
    State(s): State<AppState>,
    Path(id): Path<String>,
    Query(q): Query<ToQuery>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let v = s
        .registry(move |r| -> Result<serde_json::Value, ApiError> {
            let d = r.get(&id)?;
            let (inputs, _) = netpolicy::gather(r, current(r)?)?;
            let compiled = policy::compile(&inputs).map_err(NetPolicyError::from)?;
            let p = compiled.policy(&d.id).map_err(|_| {
                ApiError::NotFound(format!(
                    "device {} has no policy ({:?}): its traffic is dropped",
                    d.name, d.status
                ))
            })?;
            let words = compiled.describe(&d.id).map_err(NetPolicyError::from)?;
            // The MUD URL the policy was compiled from (firmware, model or DHCP).
            let mud_url = inputs
                .devices
                .iter()
                .find(|x| x.id == d.id)
                .and_then(|x| x.mud_url.clone());
            let explanation = match &q.to {
                Some(to) => {
                    let dest: policy::Destination = to
                        .parse()
                        .map_err(|e: policy::PolicyError| ApiError::BadRequest(e.to_string()))?;
                    Some(
                        compiled
                            .explain(&d.id, &dest)
                            .map_err(NetPolicyError::from)?,
                    )
                }
                None => None,
            };
            Ok(serde_json::json!({
                "device": d.id,
                "name": d.name,
                "zone": p.zone,
                "mud_url": mud_url,
                "text": words,
                "policy": p,
                "explanation": explanation,
            }))
        })
        .await?;
    Ok(Json(v))
}

async fn show(_: Admin, State(s): State<AppState>) -> Result<Json<policy::PolicyConfig>, ApiError> {
    Ok(Json(
        s.registry(|r| current(r).map_err(ApiError::from)).await?,
    ))
}

async fn plan(
    _: Admin,
    State(s): State<AppState>,
    Json(new): Json<policy::PolicyConfig>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let v = s
        .registry(move |r| -> Result<serde_json::Value, ApiError> {
            let (plan, _) = netpolicy::plan_against(r, current(r)?, new)?;
            Ok(serde_json::json!({"text": plan.to_text(), "plan": plan}))
        })
        .await?;
    Ok(Json(v))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ApplyBody {
    config: policy::PolicyConfig,
    reason: String,
}

async fn apply(
    _: Admin,
    State(s): State<AppState>,
    Json(body): Json<ApplyBody>,
) -> Result<Json<serde_json::Value>, ApiError> {
    if body.reason.trim().is_empty() {
        return Err(ApiError::BadRequest(
            "`reason` must say why (it goes into the audit log)".into(),
        ));
    }
    let actor = s.admin_actor();
    let v = s
        .registry(move |r| -> Result<serde_json::Value, ApiError> {
            let (plan, entry) =
                netpolicy::apply(r, current(r)?, body.config, &actor, &body.reason, &clock())?;
            Ok(serde_json::json!({"text": plan.to_text(), "plan": plan, "audit": entry}))
        })
        .await?;
    Ok(Json(v))
}

#[derive(Deserialize)]
struct AuditQuery {
    limit: Option<usize>,
}

async fn audit(
    _: Admin,
    State(s): State<AppState>,
    Query(q): Query<AuditQuery>,
) -> Result<Json<Vec<crate::store::PolicyAudit>>, ApiError> {
    let limit = q.limit.unwrap_or(50).min(10_000);
    Ok(Json(
        s.registry(move |r| r.store().policy_audit(limit)).await?,
    ))
}
