//! The gateway's policy: the `policy` crate's engine fed from the registry, the
//! MUD files and the applied policy configuration, compiled on every change and
//! handed to the enforcer (nftables) and the messaging access checks.
//!
//! - this file: the inputs from the store ([`gather`]), the configuration in
//!   force ([`in_force`]), plan/apply with the audit log ([`plan_against`],
//!   [`apply`]), and [`PolicyService`], the server's loop.
//! - `mudfetch.rs`: fetching, verifying and recording MUD files (`[mud]`).
//!
//! Where the configuration lives: `[policy]` in the config file seeds the store
//! on first start. From then on the store holds the *applied* configuration; a
//! changed `[policy]` in the file takes effect only through `steward policy
//! apply` (or `PUT /api/v1/policy`), after `steward policy plan` has shown
//! which devices gain or lose what. Every change is in the audit log.

pub mod mudfetch;

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use policy::{Compiled, Inputs, PolicyConfig};
use tokio_util::sync::CancellationToken;

use crate::clock::SharedClock;
use crate::enforce::{Addressing, EnforceError, Enforcer};
use crate::registry::{DeviceStatus, Registry, RegistryError, Strength};
use crate::store::{PolicyAudit, Store, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum NetPolicyError {
    #[error(transparent)]
    Policy(#[from] policy::PolicyError),
    #[error(transparent)]
    Registry(#[from] RegistryError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Enforce(#[from] EnforceError),
    #[error(
        "the applied policy in the store cannot be read ({0}); apply a valid one with `steward policy apply`"
    )]
    Stored(String),
    #[error("address `{0}`: not an IP address or a MAC address (aa:bb:cc:dd:ee:ff)")]
    Address(String),
}

/// The policy configuration in force: the applied one in the store; on first
/// use, `file` (recorded as applied, with an audit entry by `actor`).
pub fn in_force(
    store: &Arc<dyn Store>,
    file: &PolicyConfig,
    clock: &SharedClock,
    actor: &str,
) -> Result<PolicyConfig, NetPolicyError> {
    if let Some(text) = store.applied_policy()? {
        return serde_json::from_str(&text).map_err(|e| NetPolicyError::Stored(e.to_string()));
    }
    file.validate()?;
    let json = serde_json::to_string(file).map_err(|e| NetPolicyError::Stored(e.to_string()))?;
    store.apply_policy(
        &json,
        &PolicyAudit {
            seq: 0,
            time: clock.now(),
            actor: actor.to_string(),
            action: "initial".into(),
            reason: "first start: [policy] of the config file".into(),
            summary: format!(
                "{} consent rules, {} zones defined",
                file.consent.len(),
                file.zones.len()
            ),
        },
    )?;
    Ok(file.clone())
}

fn strength(s: Option<Strength>) -> policy::Strength {
    match s {
        None | Some(Strength::Observed) => policy::Strength::Observed,
        Some(Strength::Declared) => policy::Strength::Declared,
        Some(Strength::Token) => policy::Strength::Token,
        Some(Strength::Certificate) => policy::Strength::Certificate,
    }
}

/// A MAC address as `aa:bb:cc:dd:ee:ff`, or `None`.
pub fn parse_mac(s: &str) -> Option<String> {
    let parts: Vec<&str> = s.split([':', '-']).collect();
    if parts.len() != 6
        || !parts
            .iter()
            .all(|p| p.len() == 2 && p.chars().all(|c| c.is_ascii_hexdigit()))
    {
        return None;
    }
    Some(parts.join(":").to_ascii_lowercase())
}

/// One static address as stored: an IP address or a MAC address, normalised.
pub fn parse_address(s: &str) -> Result<String, NetPolicyError> {
    let t = s.trim();
    if let Ok(ip) = t.parse::<IpAddr>() {
        return Ok(ip.to_string());
    }
    parse_mac(t).ok_or_else(|| NetPolicyError::Address(s.to_string()))
}

/// The engine's inputs from the store: every active device with its zone,
/// model, maker, tags, identity strength and addresses (static ones and DHCP
/// leases, with the option-161 MUD URL), and the verified MUD
/// policies. Revoked devices are left out: they have no policy, so the
/// enforcer drops their traffic like an unknown device's.
pub fn gather(
    registry: &Registry,
    config: PolicyConfig,
) -> Result<(Inputs, Addressing), NetPolicyError> {
    let store = registry.store();
    let models: BTreeMap<String, crate::registry::Model> = store
        .models()?
        .into_iter()
        .map(|m| (m.name.clone(), m))
        .collect();
    let mut statics: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (dev, a) in store.static_addresses()? {
        statics.entry(dev).or_default().push(a);
    }
    // DHCP leases (Steward's server, or another's lease events): address, MAC,
    // and the MUD URL the device declared in option 161.
    let mut lease_mud: BTreeMap<String, String> = BTreeMap::new();
    for l in store.leases()? {
        let e = statics.entry(l.device_id.clone()).or_default();
        e.push(l.ip.clone());
        if let Some(mac) = parse_mac(&l.mac) {
            e.push(mac);
        }
        if let Some(u) = l.mud_url {
            lease_mud.insert(l.device_id, u);
        }
    }
    // A MUD URL carried by the signed manifest of the firmware a device runs.
    let firmware_mud: BTreeMap<String, String> = store.firmware_mud_urls()?.into_iter().collect();
    let mut mud = BTreeMap::new();
    for r in store.mud_results()? {
        if let Some(p) = r.policy.as_deref()
            && let Ok(dp) = serde_json::from_str::<::mud::DevicePolicy>(p)
        {
            mud.insert(r.url, dp);
        }
    }
    let mut devices = vec![];
    let mut addressing = Addressing::default();
    for d in registry.list()? {
        if d.status != DeviceStatus::Active {
            continue;
        }
        let model = models.get(&d.model);
        let mut ips = vec![];
        let mut macs = vec![];
        for a in statics.get(&d.id).into_iter().flatten() {
            match a.parse::<IpAddr>() {
                Ok(ip) => ips.push(ip),
                Err(_) => macs.push(a.clone()),
            }
        }
        ips.sort();
        ips.dedup();
        macs.sort();
        macs.dedup();
        devices.push(policy::Device {
            id: d.id.clone(),
            zone: Some(d.zone.clone()),
            model: Some(d.model.clone()),
            maker: model
                .map(|m| m.manufacturer.clone())
                .filter(|m| m != "unknown"),
            // The policy follows the firmware (draft-ietf-suit-mud): the MUD URL
            // in the maker's signed manifest of the firmware the device reported
            // installed wins; then the operator's model setting; then what the
            // device declares in DHCP (spoofable, so last).
            mud_url: firmware_mud
                .get(&d.id)
                .cloned()
                .or_else(|| model.and_then(|m| m.mud_url.clone()))
                .or_else(|| lease_mud.get(&d.id).cloned()),
            strength: strength(d.strength),
            grade: None,
            tags: d.tags.clone(),
            addresses: ips.clone(),
        });
        if !ips.is_empty() {
            addressing.ips.insert(d.id.clone(), ips);
        }
        if !macs.is_empty() {
            addressing.macs.insert(d.id.clone(), macs);
        }
    }
    Ok((
        Inputs {
            config,
            devices,
            mud,
        },
        addressing,
    ))
}

/// The MUD URLs the devices name.
pub fn mud_urls(inputs: &Inputs) -> BTreeSet<String> {
    inputs
        .devices
        .iter()
        .filter_map(|d| d.mud_url.clone())
        .collect()
}

/// Who is acting, for the audit log: the CLI's user.
pub fn cli_actor() -> String {
    let user = std::env::var("SUDO_USER")
        .or_else(|_| std::env::var("USER"))
        .unwrap_or_else(|_| "unknown".into());
    format!("cli:{user}")
}

/// What `new` would change against the configuration in force, for the devices
/// the store holds now: (the plan, the compiled new policy).
pub fn plan_against(
    registry: &Registry,
    current: PolicyConfig,
    new: PolicyConfig,
) -> Result<(policy::Plan, Compiled), NetPolicyError> {
    new.validate()?;
    let (old_inputs, _) = gather(registry, current)?;
    let new_inputs = Inputs {
        config: new,
        ..old_inputs.clone()
    };
    let a = policy::compile(&old_inputs)?;
    let b = policy::compile(&new_inputs)?;
    Ok((policy::diff(&a, &b), b))
}

/// Makes `new` the applied configuration: checks it compiles for the devices
/// of today, writes it with its audit entry (the plan in words). A running
/// server sees the `policy` registry event and re-applies.
pub fn apply(
    registry: &Registry,
    current: PolicyConfig,
    new: PolicyConfig,
    actor: &str,
    reason: &str,
    clock: &SharedClock,
) -> Result<(policy::Plan, PolicyAudit), NetPolicyError> {
    let (plan, _) = plan_against(registry, current, new.clone())?;
    let json = serde_json::to_string(&new).map_err(|e| NetPolicyError::Stored(e.to_string()))?;
    let mut entry = PolicyAudit {
        seq: 0,
        time: clock.now(),
        actor: actor.to_string(),
        action: "apply".into(),
        reason: reason.to_string(),
        summary: plan.to_text(),
    };
    entry.seq = registry.store().apply_policy(&json, &entry)?;
    Ok((plan, entry))
}

/// Writes an audit entry when an operator moved a device to another zone or
/// changed its tags (its privileges follow): who, what (the device's policy
/// before and after, in words), when. Nothing is written when neither changed.
pub fn audit_device_change(
    registry: &Registry,
    file_config: &PolicyConfig,
    before: &crate::registry::Device,
    after: &crate::registry::Device,
    actor: &str,
    clock: &SharedClock,
) -> Result<Option<PolicyAudit>, NetPolicyError> {
    if before.zone == after.zone && before.tags == after.tags {
        return Ok(None);
    }
    let config = in_force(registry.store(), file_config, clock, actor)?;
    let (now_inputs, _) = gather(registry, config)?;
    let mut then_inputs = now_inputs.clone();
    for d in then_inputs.devices.iter_mut().filter(|d| d.id == after.id) {
        d.zone = Some(before.zone.clone());
        d.tags = before.tags.clone();
    }
    let plan = policy::diff(
        &policy::compile(&then_inputs)?,
        &policy::compile(&now_inputs)?,
    );
    let mut what = vec![];
    if before.zone != after.zone {
        what.push(format!("zone {} → {}", before.zone, after.zone));
    }
    if before.tags != after.tags {
        what.push(format!("tags {:?} → {:?}", before.tags, after.tags));
    }
    let mut entry = PolicyAudit {
        seq: 0,
        time: clock.now(),
        actor: actor.to_string(),
        action: "device".into(),
        reason: format!("device {} ({}): {}", after.name, after.id, what.join(", ")),
        summary: plan.to_text(),
    };
    entry.seq = registry.store().append_policy_audit(&entry)?;
    Ok(Some(entry))
}

/// What the server compiled and applied last.
pub struct Snapshot {
    pub inputs: Inputs,
    pub compiled: Arc<Compiled>,
    pub addressing: Addressing,
}

/// The server's policy loop: recompiles and re-applies on registry events
/// (device created, changed, revoked, addresses, a new applied policy) and on a
/// periodic reconciliation, and fetches the MUD files devices name.
pub struct PolicyService {
    registry: Registry,
    enforcer: Arc<Enforcer>,
    file_config: PolicyConfig,
    fetcher: Option<mudfetch::MudFetcher>,
    clock: SharedClock,
    current: RwLock<Option<Arc<Snapshot>>>,
}

impl PolicyService {
    pub fn new(
        registry: Registry,
        enforcer: Arc<Enforcer>,
        file_config: PolicyConfig,
        fetcher: Option<mudfetch::MudFetcher>,
        clock: SharedClock,
    ) -> Arc<PolicyService> {
        Arc::new(PolicyService {
            registry,
            enforcer,
            file_config,
            fetcher,
            clock,
            current: RwLock::new(None),
        })
    }

    pub fn snapshot(&self) -> Option<Arc<Snapshot>> {
        self.current
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// `f` of the device's messaging ACL, from the policy applied last.
    fn device_acl<T>(
        &self,
        device_id: &str,
        f: impl FnOnce(&policy::MessagingAcl) -> T,
    ) -> Option<T> {
        let s = self.snapshot()?;
        s.compiled.policies.get(device_id).map(|p| f(&p.messaging))
    }

    /// Fail closed first: the base table before anything else. Then the first
    /// compile and apply.
    pub fn start(&self) -> Result<(), NetPolicyError> {
        let cfg = in_force(
            self.registry.store(),
            &self.file_config,
            &self.clock,
            "steward",
        )?;
        self.enforcer.start(&cfg.site)?;
        self.reconcile(true)?;
        Ok(())
    }

    /// Gathers the inputs; when they differ from the last applied ones (or
    /// `force`), compiles and applies. Returns whether it applied.
    pub fn reconcile(&self, force: bool) -> Result<bool, NetPolicyError> {
        let cfg = in_force(
            self.registry.store(),
            &self.file_config,
            &self.clock,
            "steward",
        )?;
        let (inputs, addressing) = gather(&self.registry, cfg)?;
        if !force
            && let Some(s) = self.snapshot()
            && s.inputs == inputs
            && s.addressing == addressing
        {
            return Ok(false);
        }
        let compiled = Arc::new(policy::compile(&inputs)?);
        for w in &compiled.warnings {
            tracing::warn!(warning = %w, "policy");
        }
        let applied = self.enforcer.apply(compiled.clone(), addressing.clone())?;
        tracing::info!(
            devices = applied.devices,
            rules = applied.rules,
            elements = applied.elements,
            bytes = applied.bytes,
            enforcing = self.enforcer.enabled(),
            "policy applied"
        );
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = Some(Arc::new(Snapshot {
            inputs,
            compiled,
            addressing,
        }));
        Ok(true)
    }

    async fn reconcile_blocking(self: &Arc<Self>, force: bool) {
        let me = self.clone();
        match tokio::task::spawn_blocking(move || me.reconcile(force)).await {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => tracing::error!(error = %e, "policy not applied; the previous one stays"),
            Err(e) => tracing::error!(error = %e, "policy worker failed"),
        }
    }

    async fn fetch_due(self: &Arc<Self>) -> bool {
        let Some(fetcher) = &self.fetcher else {
            return false;
        };
        let Some(s) = self.snapshot() else {
            return false;
        };
        let store = self.registry.store().clone();
        let st = store.clone();
        let records = match tokio::task::spawn_blocking(move || st.mud_results()).await {
            Ok(Ok(r)) => r,
            _ => return false,
        };
        let now = self.clock.now();
        let mut any = false;
        for url in mud_urls(&s.inputs) {
            let rec = records.iter().find(|r| r.url == url);
            if fetcher.due(rec, now) {
                let r = fetcher.fetch_and_record(&store, &url, now).await;
                any |= r.policy.is_some() || rec.and_then(|x| x.policy.as_ref()).is_some();
            }
        }
        any
    }

    /// Runs until `stop`: follows registry events (200 ms), reconciles every
    /// `reconcile_secs`, fetches MUD files when due.
    pub async fn run(self: Arc<Self>, stop: CancellationToken, reconcile_every: Duration) {
        let store = self.registry.store().clone();
        let mut seq = store.last_event().unwrap_or(0);
        let mut tick = tokio::time::interval(Duration::from_millis(200));
        let mut last_full = tokio::time::Instant::now();
        loop {
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = tick.tick() => {}
            }
            let st = store.clone();
            let events = tokio::task::spawn_blocking(move || st.events_since(seq))
                .await
                .ok()
                .and_then(Result::ok)
                .unwrap_or_default();
            let changed = !events.is_empty();
            if let Some(e) = events.last() {
                seq = e.seq;
            }
            let fetched = self.fetch_due().await;
            if changed || fetched || last_full.elapsed() >= reconcile_every {
                last_full = tokio::time::Instant::now();
                self.reconcile_blocking(false).await;
            }
        }
    }
}

/// The transports' access control comes from the policy applied last.
impl crate::ingest::MessagingPolicy for PolicyService {
    fn may_publish(&self, device_id: &str, topic: &str) -> Option<bool> {
        self.device_acl(device_id, |a| a.may_publish(topic))
    }
    fn may_subscribe(&self, device_id: &str, filter: &str) -> Option<bool> {
        self.device_acl(device_id, |a| a.may_subscribe(filter))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_normalised_or_refused() {
        assert_eq!(parse_address(" 10.0.0.1 ").unwrap(), "10.0.0.1");
        assert_eq!(parse_address("2001:DB8::1").unwrap(), "2001:db8::1");
        assert_eq!(
            parse_address("02-77-00-00-00-0A").unwrap(),
            "02:77:00:00:00:0a"
        );
        for bad in [
            "",
            "10.0.0",
            "02:77:00:00:00",
            "zz:77:00:00:00:01",
            "a; flush",
        ] {
            let e = parse_address(bad).unwrap_err().to_string();
            assert!(e.contains("not an IP address"), "{bad}: {e}");
        }
    }
}
