//! The devices' DNS statistics (`GET /api/v1/dns/stats`, admin): what Steward's
//! DNS forwarder (`enforce::dns`) counted per asking address, with the device
//! that holds the address (a DHCP lease or a static address), for operators and
//! for detectors of DNS abuse.

use std::collections::BTreeMap;

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use serde::Serialize;

use super::error::ApiError;
use super::{Admin, AppState};
use crate::enforce::dns::ClientStats;

#[derive(Debug, Serialize)]
pub struct DnsClient {
    pub address: String,
    /// The device holding the address, if Steward knows one.
    pub device: Option<String>,
    #[serde(flatten)]
    pub stats: ClientStats,
}

pub fn router() -> Router<AppState> {
    Router::new().route("/api/v1/dns/stats", get(stats))
}

async fn stats(State(s): State<AppState>, _: Admin) -> Result<Json<Vec<DnsClient>>, ApiError> {
    let Some(dns) = s.dns.clone() else {
        return Err(ApiError::NotFound(
            "Steward's DNS forwarder is off ([dns] enabled = false)".into(),
        ));
    };
    let owners: BTreeMap<String, String> = s
        .registry(|r| -> Result<_, crate::store::StoreError> {
            let mut m: BTreeMap<String, String> = r
                .store()
                .static_addresses()?
                .into_iter()
                .map(|(dev, addr)| (addr, dev))
                .collect();
            for l in r.store().leases()? {
                m.insert(l.ip, l.device_id);
            }
            Ok(m)
        })
        .await?;
    Ok(Json(
        dns.stats()
            .into_iter()
            .map(|(ip, stats)| {
                let address = ip.to_string();
                DnsClient {
                    device: owners.get(&address).cloned(),
                    address,
                    stats,
                }
            })
            .collect(),
    ))
}
