//! Enforcement on the network, when Steward is the router between the devices'
//! LAN and the uplink.
//!
//! - this file: the `[enforce]` settings, [`Enforcer`] (holds what was applied
//!   last, applies a new compiled policy atomically, takes the addresses Steward's
//!   DNS forwarder hands out), and [`EnforceError`].
//! - `nft.rs`: the ruleset as `nft -j` JSON and the backends (kernel, recorder).
//! - `dns.rs`: the devices' DNS forwarder; answers feed a [`dns::ResolvedSink`]
//!   (the devices' nftables sets of allowed names), which [`Enforcer`] implements.
//! - `dhcp.rs`: the devices' DHCPv4 server, and [`dhcp::record_lease`], where a
//!   lease (ours, or another server's via the API) registers a device.
//!
//! Fail closed: [`Enforcer::start`] installs the base table (LAN traffic dropped
//! except DHCP and DNS to Steward) before anything else, and the table stays in
//! the kernel when Steward stops or crashes, so devices are never less contained
//! than their last applied policy.

pub mod dhcp;
pub mod dns;
pub mod nft;

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::clock::SharedClock;
use nft::{Backend, BuildInput, Layout, Learned};

/// Whether Steward drives the kernel's firewall.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Steward is not the router: policies are still computed, explained and
    /// used for messaging, but nothing is installed.
    Off,
    /// One `inet steward` table through `nft -j`.
    Nftables,
}

/// `[enforce]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EnforceConfig {
    pub mode: Mode,
    /// The devices' side (interface names; `nft` wildcards like `lan*` work).
    pub lan: Vec<String>,
    /// The uplink (documentation and checks; traffic not from/to the LAN is not touched).
    pub uplink: Vec<String>,
    /// The nflog group dropped packets are logged to.
    pub nflog_group: u16,
    /// The `nft` program (empty: the one on PATH).
    pub nft: String,
    /// The longest timeout an address learned from DNS gets, whatever the TTL.
    pub max_dns_timeout_secs: u64,
    /// At most this many addresses of one DNS answer go into a device's set.
    pub max_addresses_per_answer: usize,
}

impl Default for EnforceConfig {
    fn default() -> Self {
        EnforceConfig {
            mode: Mode::Off,
            lan: vec!["br-lan".into()],
            uplink: vec!["up0".into()],
            nflog_group: 5,
            nft: String::new(),
            max_dns_timeout_secs: 86_400,
            max_addresses_per_answer: 64,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum EnforceError {
    #[error("nftables document does not fit the nftables schema: {0}")]
    Schema(String),
    #[error("nft refused the ruleset: {0}")]
    Nft(String),
    #[error("enforce: {0}")]
    Config(String),
}

/// What one apply did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Applied {
    pub devices: usize,
    pub rules: usize,
    pub elements: usize,
    /// Size of the JSON document handed to nft.
    pub bytes: usize,
}

/// Per-device addressing, from the registry (identities, leases).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Addressing {
    pub ips: BTreeMap<String, Vec<IpAddr>>,
    pub macs: BTreeMap<String, Vec<String>>,
}

struct State {
    compiled: Option<Arc<policy::Compiled>>,
    addressing: Addressing,
    layout: Layout,
    learned: Learned,
    /// address → device id, for the DNS forwarder's callbacks.
    by_addr: BTreeMap<IpAddr, String>,
    /// The conntrack mark of the table in place.
    generation: u32,
}

/// A new generation: greater than the last, never 0; from the clock, so a
/// restarted Steward does not reuse the marks of the run before.
fn next_generation(last: u32, now: u64) -> u32 {
    let t = (now & 0x7fff_ffff) as u32;
    t.max(last.wrapping_add(1)).max(1)
}

/// Applies compiled policies; `mode = "off"` keeps only the bookkeeping.
pub struct Enforcer {
    config: EnforceConfig,
    backend: Option<Box<dyn Backend>>,
    clock: SharedClock,
    state: Mutex<State>,
}

fn now_secs(clock: &SharedClock) -> u64 {
    let t = clock.now();
    if t.is_finite() && t > 0.0 {
        t as u64
    } else {
        0
    }
}

impl Enforcer {
    /// An enforcer for `config`: the kernel backend when `mode = "nftables"`.
    pub fn new(config: EnforceConfig, clock: SharedClock) -> Enforcer {
        let backend: Option<Box<dyn Backend>> = match config.mode {
            Mode::Off => None,
            Mode::Nftables => Some(Box::new(nft::NftBackend {
                program: (!config.nft.is_empty()).then(|| config.nft.clone()),
            })),
        };
        Self::with_backend(config, backend, clock)
    }

    /// With any backend (tests pass a [`nft::Recorder`]).
    pub fn with_backend(
        config: EnforceConfig,
        backend: Option<Box<dyn Backend>>,
        clock: SharedClock,
    ) -> Enforcer {
        Enforcer {
            config,
            backend,
            clock,
            state: Mutex::new(State {
                compiled: None,
                addressing: Addressing::default(),
                layout: Layout::default(),
                learned: Learned::default(),
                by_addr: BTreeMap::new(),
                generation: 0,
            }),
        }
    }

    pub fn config(&self) -> &EnforceConfig {
        &self.config
    }

    pub fn enabled(&self) -> bool {
        self.backend.is_some()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Installs the base table, replacing whatever an earlier run left: until
    /// the first policy is applied, LAN traffic is dropped except DHCP and DNS.
    pub fn start(&self, site: &policy::Site) -> Result<(), EnforceError> {
        if self.config.lan.is_empty() {
            return Err(EnforceError::Config(
                "[enforce] lan lists no interface; name the devices' side (e.g. lan = [\"br-lan\"])"
                    .into(),
            ));
        }
        let Some(b) = &self.backend else {
            return Ok(());
        };
        let mut st = self.lock();
        let generation = next_generation(st.generation, now_secs(&self.clock));
        b.apply(&nft::base_table(&self.config, site, generation))?;
        st.generation = generation;
        Ok(())
    }

    /// Replaces the table with `compiled` in one transaction. Addresses learned
    /// from DNS that have not expired are carried over.
    pub fn apply(
        &self,
        compiled: Arc<policy::Compiled>,
        addressing: Addressing,
    ) -> Result<Applied, EnforceError> {
        let mut st = self.lock();
        let now = now_secs(&self.clock);
        st.learned.names.retain(|(dev, _), addrs| {
            addrs.retain(|_, exp| *exp > now);
            !addrs.is_empty() && compiled.policies.contains_key(dev)
        });
        let learned = st.learned.clone();
        let generation = next_generation(st.generation, now);
        let (doc, layout) = nft::build(&BuildInput {
            compiled: &compiled,
            config: &self.config,
            macs: &addressing.macs,
            addresses: &addressing.ips,
            learned: &learned,
            now,
            generation,
        });
        let applied = Applied {
            devices: compiled.policies.len(),
            rules: layout.rules,
            elements: layout.elements,
            bytes: doc.to_string().len(),
        };
        if let Some(b) = &self.backend {
            b.apply(&doc)?;
        }
        let mut by_addr = BTreeMap::new();
        for (dev, ips) in &addressing.ips {
            for ip in ips {
                by_addr.insert(*ip, dev.clone());
            }
        }
        st.by_addr = by_addr;
        st.generation = generation;
        st.layout = layout;
        st.addressing = addressing;
        st.compiled = Some(compiled);
        Ok(applied)
    }

    /// The compiled policy applied last.
    pub fn compiled(&self) -> Option<Arc<policy::Compiled>> {
        self.lock().compiled.clone()
    }

    /// Steward's DNS forwarder answered `client` for `name` with `addrs`: when
    /// the client's policy has rules for that name, the addresses go into its
    /// sets, for the TTL (capped). Returns how many addresses were added.
    pub fn allow_resolved(
        &self,
        client: IpAddr,
        name: &str,
        addrs: &[IpAddr],
        ttl: Duration,
    ) -> Result<usize, EnforceError> {
        let name = name.trim_end_matches('.').to_ascii_lowercase();
        let mut st = self.lock();
        let Some(dev) = st.by_addr.get(&client).cloned() else {
            return Ok(0);
        };
        let Some((s4, s6)) = st
            .layout
            .name_sets
            .get(&(dev.clone(), name.clone()))
            .cloned()
        else {
            return Ok(0);
        };
        let mut addrs: Vec<IpAddr> = addrs.to_vec();
        addrs.sort();
        addrs.dedup();
        if addrs.len() > self.config.max_addresses_per_answer {
            tracing::warn!(device = %dev, %name, count = addrs.len(), kept = self.config.max_addresses_per_answer,
                "DNS answer with more addresses than [enforce] max_addresses_per_answer; the rest are not allowed");
            addrs.truncate(self.config.max_addresses_per_answer);
        }
        if addrs.is_empty() {
            return Ok(0);
        }
        let timeout = ttl
            .as_secs()
            .clamp(1, self.config.max_dns_timeout_secs.max(1));
        if let Some(b) = &self.backend {
            b.apply(&nft::add_elements(&s4, &s6, &addrs, timeout))?;
        }
        let exp = now_secs(&self.clock) + timeout;
        let entry = st.learned.names.entry((dev, name)).or_default();
        for a in &addrs {
            entry.insert(*a, exp);
        }
        Ok(addrs.len())
    }

    /// The table as the kernel holds it (counters per rule), when enforcing.
    pub fn list(&self) -> Result<Option<serde_json::Value>, EnforceError> {
        match &self.backend {
            Some(b) => b.list().map(Some),
            None => Ok(None),
        }
    }
}

impl dns::ResolvedSink for Enforcer {
    fn resolved(&self, client: IpAddr, name: &dns::Name, addrs: &[IpAddr], ttl: Duration) {
        let text = name.to_ascii();
        // A label holding an escaped character ("a\.b") never names a MUD host.
        if text.contains('\\') {
            return;
        }
        if let Err(e) = self.allow_resolved(client, &text, addrs, ttl) {
            tracing::warn!(%client, name = %text, error = %e, "adding DNS answer to the device's set failed");
        }
    }
}

#[cfg(test)]
mod tests;
