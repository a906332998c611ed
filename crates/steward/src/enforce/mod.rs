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
//! - `ntp.rs`: the devices' SNTP server, what answers when a policy's `ntp`
//!   capability opens UDP 123 to Steward.
//!
//! Fail closed: [`Enforcer::start`] installs the base table (LAN traffic dropped
//! except DHCP and DNS to Steward) before anything else, and the table stays in
//! the kernel when Steward stops or crashes, so devices are never less contained
//! than their last applied policy.

pub mod dhcp;
pub mod dns;
pub mod nft;
pub mod ntp;

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::clock::SharedClock;
use nft::{Backend, BuildInput, Layout, Learned};

/// A non-blocking socket of Steward's LAN services (DNS, NTP) bound to `addr`
/// and, when `device` is set, to that interface only (SO_BINDTODEVICE), so
/// nothing off the LAN reaches it.
pub(crate) fn lan_socket(
    addr: std::net::SocketAddr,
    device: &str,
    ty: socket2::Type,
    proto: socket2::Protocol,
) -> std::io::Result<socket2::Socket> {
    let s = socket2::Socket::new(socket2::Domain::for_address(addr), ty, Some(proto))?;
    s.set_reuse_address(true)?;
    if !device.is_empty() {
        s.bind_device(Some(device.as_bytes()))?;
    }
    s.bind(&addr.into())?;
    s.set_nonblocking(true)?;
    Ok(s)
}

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

/// `[enforce]` (the interfaces are `[network] lan_interface` / `uplink_interface`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EnforceConfig {
    pub mode: Mode,
    /// The nflog group dropped packets are logged to.
    pub nflog_group: u16,
    /// The `nft` program (empty: the one on PATH).
    pub nft: String,
    /// Seconds added to a DNS answer's TTL before its addresses leave the
    /// device's set (a device connects just after the answer, even with TTL 0).
    pub dns_grace_secs: u64,
    /// The longest an address learned from DNS stays, whatever the TTL.
    pub max_dns_timeout_secs: u64,
    /// Most addresses kept per device and name (older ones are not renewed).
    pub max_addresses_per_name: usize,
    /// Seconds between reconciliations of the registry with the applied policy
    /// (registry events trigger one at once; this catches everything else).
    pub reconcile_secs: u64,
}

impl Default for EnforceConfig {
    fn default() -> Self {
        EnforceConfig {
            mode: Mode::Off,
            nflog_group: 5,
            nft: String::new(),
            dns_grace_secs: 30,
            max_dns_timeout_secs: 86_400,
            max_addresses_per_name: 256,
            reconcile_secs: 5,
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
    /// The devices' interfaces.
    lan: Vec<String>,
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
    pub fn new(config: EnforceConfig, lan: Vec<String>, clock: SharedClock) -> Enforcer {
        let backend: Option<Box<dyn Backend>> = match config.mode {
            Mode::Off => None,
            Mode::Nftables => Some(Box::new(nft::NftBackend {
                program: (!config.nft.is_empty()).then(|| config.nft.clone()),
            })),
        };
        Self::with_backend(config, lan, backend, clock)
    }

    /// With any backend (tests pass a [`nft::Recorder`]).
    pub fn with_backend(
        config: EnforceConfig,
        lan: Vec<String>,
        backend: Option<Box<dyn Backend>>,
        clock: SharedClock,
    ) -> Enforcer {
        Enforcer {
            config,
            lan,
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
        let Some(b) = &self.backend else {
            return Ok(());
        };
        if self.lan.iter().all(|l| l.is_empty()) {
            return Err(EnforceError::Config(
                "[enforce] mode = \"nftables\" needs [network] lan_interface (the devices' side, e.g. \"lan0\")"
                    .into(),
            ));
        }
        let mut st = self.lock();
        let generation = next_generation(st.generation, now_secs(&self.clock));
        b.apply(&nft::base_table(&self.config, &self.lan, site, generation))?;
        st.generation = generation;
        tracing::info!(
            lan = ?self.lan,
            "nftables base table installed: LAN traffic dropped except DHCP and DNS to Steward"
        );
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
        let generation = next_generation(st.generation, now);
        // With enforcement off there is no table to build: the policy is kept
        // for explaining and messaging only (building the document costs
        // ~1 MB per device of memory, for nothing).
        let (applied, layout) = match &self.backend {
            None => (
                Applied {
                    devices: compiled.policies.len(),
                    rules: compiled.rule_count(),
                    elements: 0,
                    bytes: 0,
                },
                Layout::default(),
            ),
            Some(b) => {
                let learned = st.learned.clone();
                let (doc, layout) = nft::build(&BuildInput {
                    compiled: &compiled,
                    config: &self.config,
                    lan: &self.lan,
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
                b.apply(&doc)?;
                (applied, layout)
            }
        };
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
        let now = now_secs(&self.clock);
        let key = (dev.clone(), name.clone());
        let held = st
            .learned
            .names
            .get(&key)
            .map(|m| {
                m.iter()
                    .filter(|(a, exp)| **exp > now && !addrs.contains(a))
                    .count()
            })
            .unwrap_or(0);
        let room = self.config.max_addresses_per_name.saturating_sub(held);
        if addrs.len() > room {
            tracing::warn!(device = %dev, %name, count = addrs.len(), kept = room,
                "more addresses for one name than [enforce] max_addresses_per_name; the rest are not allowed");
            addrs.truncate(room);
        }
        if addrs.is_empty() {
            return Ok(0);
        }
        let timeout = ttl
            .as_secs()
            .saturating_add(self.config.dns_grace_secs)
            .clamp(1, self.config.max_dns_timeout_secs.max(1));
        let own = st.addressing.ips.get(&dev).cloned().unwrap_or_default();
        if let Some(b) = &self.backend {
            b.apply(&nft::add_elements(&s4, &s6, &own, &addrs, timeout))?;
        }
        let exp = now + timeout;
        let entry = st.learned.names.entry(key).or_default();
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
