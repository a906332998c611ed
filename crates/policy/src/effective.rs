//! Compilation: zone baseline + (MUD rules ∩ consent), explicit denies winning,
//! into one [`EffectivePolicy`] per device, with every rule's provenance.
//!
//! Order of evaluation in a policy (first match wins, anything unmatched is
//! denied): explicit denies, then the rules of granted capabilities, then the
//! device's MUD rules in file order. Lateral peers are named by [`Group`]s
//! shared between devices, so a site with 10,000 devices of one maker holds one
//! member list, not 10,000 copies of it.

use crate::config::{
    Capability, CapabilityKind, Deny, L4, LateralSelector, LateralTerm, PolicyConfig, Prefix, Rate,
    Site, Target, normalize_name,
};
use crate::error::PolicyError;
use crate::input::{Device, Inputs, url_authority};
use crate::messaging::{self, MessagingAcl};
use mud::model::{Direction, PortMatch};
use mud::{IpVersion, Peer, Protocol};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::IpAddr;

/// Where a rule or grant came from.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Source {
    /// The baseline of the device's zone.
    Zone { zone: String },
    /// An owner-written consent rule.
    Consent { rule: String },
    /// One ACE of the device's MUD file.
    Mud {
        mud_url: String,
        acl: String,
        ace: String,
    },
}

/// Which way a rule applies, seen from the device.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Flow {
    FromDevice,
    ToDevice,
    /// Both ways (lateral grants and explicit denies).
    Both,
}

impl Flow {
    pub fn includes(self, d: Direction) -> bool {
        matches!(
            (self, d),
            (Flow::Both, _)
                | (Flow::FromDevice, Direction::FromDevice)
                | (Flow::ToDevice, Direction::ToDevice)
        )
    }
}

/// The other end of a rule, bound to this site.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Endpoint {
    /// Any address, local or not.
    Any,
    /// Any address outside the site's local networks (and not Steward).
    Internet,
    /// Steward itself (its addresses are in [`Site::gateway`]).
    Gateway,
    /// Fixed prefixes; `label` says what they stand for (a controller class, the
    /// local networks), `None` when the prefix was written as such.
    Prefixes {
        label: Option<String>,
        prefixes: Vec<Prefix>,
    },
    /// A DNS name: the enforcement layer adds the addresses Steward's DNS
    /// forwarder gives the device for this name.
    Name { name: String },
    /// Other local devices: the key of a [`Group`] in [`Compiled::groups`].
    Group { key: String },
    Mac {
        address: String,
        mask: Option<String>,
    },
}

/// Allow or deny.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    Allow,
    Deny,
}

/// One rule of a device's effective network policy.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct NetRule {
    pub action: Action,
    pub flow: Flow,
    pub endpoint: Endpoint,
    pub protocol: Protocol,
    pub ip_version: Option<IpVersion>,
    /// Port on the far side. `None`: any.
    pub peer_ports: Option<PortMatch>,
    /// Port on the device. `None`: any.
    pub device_ports: Option<PortMatch>,
    /// For TCP: who may open the connection.
    pub initiated_by: Option<Direction>,
    pub icmp_type: Option<u8>,
    pub icmp_code: Option<u8>,
    pub rate: Option<Rate>,
    /// Every input that produced this rule (a MUD ACE and the grant that let it in).
    pub sources: Vec<Source>,
}

impl NetRule {
    fn new(action: Action, flow: Flow, endpoint: Endpoint, protocol: Protocol) -> Self {
        NetRule {
            action,
            flow,
            endpoint,
            protocol,
            ip_version: None,
            peer_ports: None,
            device_ports: None,
            initiated_by: None,
            icmp_type: None,
            icmp_code: None,
            rate: None,
            sources: vec![],
        }
    }

    /// The rule without its provenance: two rules with the same key do the same.
    pub(crate) fn same_match(&self, o: &NetRule) -> bool {
        self.action == o.action
            && self.flow == o.flow
            && self.endpoint == o.endpoint
            && self.protocol == o.protocol
            && self.ip_version == o.ip_version
            && self.peer_ports == o.peer_ports
            && self.device_ports == o.device_ports
            && self.initiated_by == o.initiated_by
            && self.icmp_type == o.icmp_type
            && self.icmp_code == o.icmp_code
            && self.rate == o.rate
    }
}

/// A capability the device holds, with who granted it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Grant {
    pub capability: Capability,
    pub sources: Vec<Source>,
}

/// Something asked for (by a MUD file or a grant) that the device did not get, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Withheld {
    pub what: String,
    pub reason: String,
    pub sources: Vec<Source>,
}

/// Everything one device may do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EffectivePolicy {
    pub device: String,
    pub zone: String,
    /// Capabilities held after denies.
    pub grants: Vec<Grant>,
    /// Network rules in evaluation order; unmatched traffic is denied.
    pub rules: Vec<NetRule>,
    pub withheld: Vec<Withheld>,
    pub messaging: MessagingAcl,
}

impl EffectivePolicy {
    pub fn has(&self, kind: CapabilityKind) -> bool {
        self.grants.iter().any(|g| g.capability.kind() == kind)
    }
}

/// A set of local devices that lateral rules name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Group {
    pub key: String,
    /// In words: "devices from manufacturer cams.example in zone trusted".
    pub description: String,
    /// Device ids, sorted.
    pub members: Vec<String>,
    /// Their addresses, sorted.
    pub addresses: Vec<IpAddr>,
}

/// The compiled policy of a whole site.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Compiled {
    pub site: Site,
    pub policies: BTreeMap<String, EffectivePolicy>,
    pub groups: BTreeMap<String, Group>,
    /// Inputs that were odd but not fatal (a device in an unknown zone lands in
    /// the default zone).
    pub warnings: Vec<String>,
}

impl Compiled {
    pub fn policy(&self, device: &str) -> Result<&EffectivePolicy, PolicyError> {
        self.policies
            .get(device)
            .ok_or_else(|| PolicyError::UnknownDevice(device.to_string()))
    }
    /// Total number of network rules over all devices.
    pub fn rule_count(&self) -> usize {
        self.policies.values().map(|p| p.rules.len()).sum()
    }
}

/// An absolute device filter: a lateral selector resolved for one device, or a
/// MUD abstraction, or both intersected.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
struct Filter {
    zone: Option<String>,
    authority: Option<String>,
    mud_url: Option<String>,
    maker: Option<String>,
    model: Option<String>,
    tags: BTreeSet<String>,
    device: Option<String>,
}

fn meet(a: &Option<String>, b: &Option<String>) -> Option<Option<String>> {
    match (a, b) {
        (Some(x), Some(y)) if x != y => None,
        (Some(x), _) | (_, Some(x)) => Some(Some(x.clone())),
        (None, None) => Some(None),
    }
}

impl Filter {
    fn intersect(&self, o: &Filter) -> Option<Filter> {
        Some(Filter {
            zone: meet(&self.zone, &o.zone)?,
            authority: meet(&self.authority, &o.authority)?,
            mud_url: meet(&self.mud_url, &o.mud_url)?,
            maker: meet(&self.maker, &o.maker)?,
            model: meet(&self.model, &o.model)?,
            tags: self.tags.union(&o.tags).cloned().collect(),
            device: meet(&self.device, &o.device)?,
        })
    }
    fn is_any(&self) -> bool {
        self == &Filter::default()
    }
    fn key(&self) -> String {
        let mut parts = vec![];
        let mut push = |k: &str, v: &Option<String>| {
            if let Some(v) = v {
                parts.push(format!("{k}={v}"));
            }
        };
        push("zone", &self.zone);
        push("manufacturer", &self.authority);
        push("mud-url", &self.mud_url);
        push("maker", &self.maker);
        push("model", &self.model);
        push("device", &self.device);
        for t in &self.tags {
            parts.push(format!("tag={t}"));
        }
        if parts.is_empty() {
            "any".into()
        } else {
            parts.join(",")
        }
    }
    fn describe(&self) -> String {
        let mut s = String::from("devices");
        if let Some(d) = &self.device {
            s = format!("device {d}");
        }
        if let Some(a) = &self.authority {
            s.push_str(&format!(" from manufacturer {a}"));
        }
        if let Some(m) = &self.maker {
            s.push_str(&format!(" made by {m}"));
        }
        if let Some(u) = &self.mud_url {
            s.push_str(&format!(" of model {u}"));
        }
        if let Some(m) = &self.model {
            s.push_str(&format!(" of model {m}"));
        }
        if let Some(z) = &self.zone {
            s.push_str(&format!(" in zone {z}"));
        }
        if !self.tags.is_empty() {
            let t: Vec<&str> = self.tags.iter().map(String::as_str).collect();
            s.push_str(&format!(" tagged {}", t.join(", ")));
        }
        if s == "devices" {
            "all local devices".into()
        } else {
            s
        }
    }
    fn matches(&self, d: &DevFacts) -> bool {
        let eq = |f: &Option<String>, v: Option<&str>| f.as_deref().is_none_or(|f| Some(f) == v);
        eq(&self.zone, Some(d.zone.as_str()))
            && eq(&self.authority, d.authority.as_deref())
            && eq(&self.mud_url, d.dev.mud_url.as_deref())
            && self.maker.as_deref().is_none_or(|m| {
                d.dev.maker.as_deref() == Some(m) || d.authority.as_deref() == Some(m)
            })
            && self.model.as_deref().is_none_or(|m| {
                d.dev.model.as_deref() == Some(m) || d.dev.mud_url.as_deref() == Some(m)
            })
            && self.device.as_deref().is_none_or(|x| x == d.dev.id)
            && self.tags.iter().all(|t| d.dev.tags.contains(t))
    }

    /// Resolves a lateral selector for device `d`; `None` when it can match nothing.
    fn from_selector(sel: &LateralSelector, d: &DevFacts) -> Result<Filter, String> {
        let mut f = Filter::default();
        for t in &sel.0 {
            let one = match t {
                LateralTerm::Any => Filter::default(),
                LateralTerm::SameManufacturer => Filter {
                    authority: Some(d.authority.clone().ok_or(
                        "the device has no MUD URL, so it has no manufacturer to be the same as",
                    )?),
                    ..Default::default()
                },
                LateralTerm::SameModel => Filter {
                    mud_url: Some(d.dev.mud_url.clone().ok_or(
                        "the device has no MUD URL, so it has no model to be the same as",
                    )?),
                    ..Default::default()
                },
                LateralTerm::Zone(z) => Filter {
                    zone: Some(z.clone()),
                    ..Default::default()
                },
                LateralTerm::Maker(m) => Filter {
                    maker: Some(m.clone()),
                    ..Default::default()
                },
                LateralTerm::Model(m) => Filter {
                    model: Some(m.clone()),
                    ..Default::default()
                },
                LateralTerm::Tag(t) => Filter {
                    tags: [t.clone()].into(),
                    ..Default::default()
                },
                LateralTerm::Device(x) => Filter {
                    device: Some(x.clone()),
                    ..Default::default()
                },
            };
            f = f
                .intersect(&one)
                .ok_or("its terms contradict each other, so it matches no device")?;
        }
        Ok(f)
    }
}

/// A device with what compilation derives once.
struct DevFacts<'a> {
    dev: &'a Device,
    zone: String,
    authority: Option<String>,
}

/// Builds groups on demand, each member list computed once.
struct Groups<'a> {
    facts: &'a [DevFacts<'a>],
    by_filter: HashMap<Filter, String>,
    groups: BTreeMap<String, Group>,
}

impl Groups<'_> {
    fn key_for(&mut self, f: &Filter) -> String {
        if let Some(k) = self.by_filter.get(f) {
            return k.clone();
        }
        let key = f.key();
        let mut members = vec![];
        let mut addresses = vec![];
        for d in self.facts.iter().filter(|d| f.matches(d)) {
            members.push(d.dev.id.clone());
            addresses.extend(d.dev.addresses.iter().copied());
        }
        members.sort();
        addresses.sort();
        addresses.dedup();
        self.groups.insert(
            key.clone(),
            Group {
                key: key.clone(),
                description: f.describe(),
                members,
                addresses,
            },
        );
        self.by_filter.insert(f.clone(), key.clone());
        key
    }
}

/// Compiles the effective policy of every device in `inputs`.
pub fn compile(inputs: &Inputs) -> Result<Compiled, PolicyError> {
    let cfg = &inputs.config;
    cfg.validate()?;
    let mut warnings = vec![];
    let mut ids = BTreeSet::new();
    let mut facts = Vec::with_capacity(inputs.devices.len());
    for d in &inputs.devices {
        if !ids.insert(d.id.as_str()) {
            return Err(PolicyError::DuplicateDevice(d.id.clone()));
        }
        let mut zone = d.zone.clone().unwrap_or_else(|| cfg.default_zone.clone());
        if cfg.zone(&zone).is_none() {
            warnings.push(format!(
                "device '{}' is in zone '{zone}', which is not defined; it is treated as '{}'",
                d.id, cfg.default_zone
            ));
            zone = cfg.default_zone.clone();
        }
        facts.push(DevFacts {
            dev: d,
            zone,
            authority: d.mud_authority(),
        });
    }
    let mut groups = Groups {
        facts: &facts,
        by_filter: HashMap::new(),
        groups: BTreeMap::new(),
    };
    let mut policies = BTreeMap::new();
    for f in &facts {
        let p = compile_one(cfg, inputs, f, &mut groups);
        policies.insert(f.dev.id.clone(), p);
    }
    Ok(Compiled {
        site: cfg.site.clone(),
        policies,
        groups: groups.groups,
        warnings,
    })
}

fn selector_matches(sel: &crate::config::Selector, f: &DevFacts) -> bool {
    let d = f.dev;
    sel.zone.as_deref().is_none_or(|z| z == f.zone)
        && sel
            .maker
            .as_deref()
            .is_none_or(|m| d.maker.as_deref() == Some(m) || f.authority.as_deref() == Some(m))
        && sel
            .model
            .as_deref()
            .is_none_or(|m| d.model.as_deref() == Some(m) || d.mud_url.as_deref() == Some(m))
        && sel.strength_at_least.is_none_or(|s| d.strength >= s)
        && sel
            .grade_at_least
            .is_none_or(|g| d.grade.is_some_and(|dg| dg.at_least(g)))
        && sel.tags.iter().all(|t| d.tags.contains(t))
}

fn push_rule(rules: &mut Vec<NetRule>, r: NetRule) {
    if let Some(old) = rules.iter_mut().find(|o| o.same_match(&r)) {
        for s in r.sources {
            if !old.sources.contains(&s) {
                old.sources.push(s);
            }
        }
    } else {
        rules.push(r);
    }
}

fn compile_one(
    cfg: &PolicyConfig,
    inputs: &Inputs,
    f: &DevFacts,
    groups: &mut Groups,
) -> EffectivePolicy {
    let zone_src = Source::Zone {
        zone: f.zone.clone(),
    };
    // The default zone always exists (validated), and the device's zone was checked.
    let zone = cfg.zone(&f.zone).unwrap_or_else(empty_zone);

    // 1. Grants and denies, with their sources.
    let mut asked: Vec<Grant> = vec![];
    let mut denies: Vec<(Deny, Source)> = vec![];
    let add = |asked: &mut Vec<Grant>, c: &Capability, s: &Source| match asked
        .iter_mut()
        .find(|g| &g.capability == c)
    {
        Some(g) if !g.sources.contains(s) => g.sources.push(s.clone()),
        Some(_) => {}
        None => asked.push(Grant {
            capability: c.clone(),
            sources: vec![s.clone()],
        }),
    };
    for c in &zone.grant {
        add(&mut asked, c, &zone_src);
    }
    denies.extend(zone.deny.iter().map(|d| (d.clone(), zone_src.clone())));
    if zone.consent {
        for r in cfg
            .consent
            .iter()
            .filter(|r| selector_matches(&r.selector, f))
        {
            let s = Source::Consent {
                rule: r.name.clone(),
            };
            for c in &r.grant {
                add(&mut asked, c, &s);
            }
            denies.extend(r.deny.iter().map(|d| (d.clone(), s.clone())));
        }
    }

    // 2. Capability denies remove grants.
    let mut withheld = vec![];
    let mut grants = vec![];
    for g in asked {
        let by: Vec<Source> = denies
            .iter()
            .filter(|(d, _)| d == &Deny::Capability(g.capability.kind()))
            .map(|(_, s)| s.clone())
            .collect();
        if by.is_empty() {
            grants.push(g);
        } else {
            withheld.push(Withheld {
                what: format!("capability `{}`", g.capability),
                reason: format!("denied by {}", crate::explain::sources_text(&by)),
                sources: g.sources.iter().chain(&by).cloned().collect(),
            });
        }
    }

    // 3. Traffic denies first.
    let mut rules = vec![];
    for (d, s) in &denies {
        if let Deny::Traffic {
            target,
            port,
            proto,
        } = d
        {
            let endpoint = match target {
                Target::Any => Endpoint::Any,
                Target::Name(n) => Endpoint::Name { name: n.clone() },
                Target::Prefix(p) => Endpoint::Prefixes {
                    label: None,
                    prefixes: vec![*p],
                },
            };
            let protos: Vec<Option<L4>> = match (proto, port) {
                (Some(p), _) => vec![Some(*p)],
                (None, Some(_)) => vec![Some(L4::Tcp), Some(L4::Udp)],
                (None, None) => vec![None],
            };
            for p in protos {
                let mut r = NetRule::new(
                    Action::Deny,
                    Flow::Both,
                    endpoint.clone(),
                    p.map(L4::protocol).unwrap_or(Protocol::Any),
                );
                r.peer_ports = port.map(|port| PortMatch::Eq { port });
                r.sources = vec![s.clone()];
                push_rule(&mut rules, r);
            }
        }
    }

    // 4. Capability rules.
    let ports = &cfg.site.ports;
    let gw = |proto: L4, port: u16, src: &[Source]| {
        let mut r = NetRule::new(
            Action::Allow,
            Flow::FromDevice,
            Endpoint::Gateway,
            proto.protocol(),
        );
        r.peer_ports = Some(PortMatch::Eq { port });
        if proto == L4::Tcp {
            r.initiated_by = Some(Direction::FromDevice);
        }
        r.sources = src.to_vec();
        r
    };
    let lateral: Vec<(Filter, &Grant)> = grants
        .iter()
        .filter_map(|g| match &g.capability {
            Capability::Lateral(sel) => match Filter::from_selector(sel, f) {
                Ok(fl) => Some((fl, g)),
                Err(_) => None,
            },
            _ => None,
        })
        .collect();
    for g in &grants {
        let src = &g.sources;
        match &g.capability {
            Capability::Dns => {
                push_rule(&mut rules, gw(L4::Udp, ports.dns, src));
                push_rule(&mut rules, gw(L4::Tcp, ports.dns, src));
            }
            Capability::Ntp => push_rule(&mut rules, gw(L4::Udp, ports.ntp, src)),
            Capability::Telemetry | Capability::Commands => {
                push_rule(&mut rules, gw(L4::Tcp, ports.mqtt, src));
                push_rule(&mut rules, gw(L4::Udp, ports.coap, src));
            }
            Capability::Updates => {
                push_rule(&mut rules, gw(L4::Tcp, ports.mqtt, src));
                push_rule(&mut rules, gw(L4::Udp, ports.coap, src));
                push_rule(&mut rules, gw(L4::Tcp, ports.https, src));
            }
            Capability::Internet { port, proto, rate } => {
                let protos: Vec<Option<L4>> = match (proto, port) {
                    (Some(p), _) => vec![Some(*p)],
                    (None, Some(_)) => vec![Some(L4::Tcp), Some(L4::Udp)],
                    (None, None) => vec![None],
                };
                for p in protos {
                    let mut r = NetRule::new(
                        Action::Allow,
                        Flow::FromDevice,
                        Endpoint::Internet,
                        p.map(L4::protocol).unwrap_or(Protocol::Any),
                    );
                    r.peer_ports = port.map(|port| PortMatch::Eq { port });
                    if p == Some(L4::Tcp) {
                        r.initiated_by = Some(Direction::FromDevice);
                    }
                    r.rate = *rate;
                    r.sources = src.clone();
                    push_rule(&mut rules, r);
                }
            }
            Capability::Lateral(sel) => match Filter::from_selector(sel, f) {
                Ok(fl) => {
                    let key = groups.key_for(&fl);
                    let mut r = NetRule::new(
                        Action::Allow,
                        Flow::Both,
                        Endpoint::Group { key },
                        Protocol::Any,
                    );
                    r.sources = src.clone();
                    push_rule(&mut rules, r);
                }
                Err(reason) => withheld.push(Withheld {
                    what: format!("capability `{}`", g.capability),
                    reason: reason.to_string(),
                    sources: src.clone(),
                }),
            },
            Capability::Mud => {}
        }
    }

    // 5. MUD rules ∩ consent.
    if let Some(g) = grants.iter().find(|g| g.capability == Capability::Mud) {
        bind_mud(inputs, f, g, &lateral, groups, &mut rules, &mut withheld);
    }

    let messaging = messaging::derive(&f.dev.id, &grants);
    EffectivePolicy {
        device: f.dev.id.clone(),
        zone: f.zone.clone(),
        grants,
        rules,
        withheld,
        messaging,
    }
}

/// A zone that grants nothing: only reached if validation was bypassed.
fn empty_zone() -> crate::config::ZoneConfig {
    crate::config::ZoneConfig {
        description: String::new(),
        grant: vec![],
        deny: vec![],
        consent: false,
    }
}

fn bind_mud(
    inputs: &Inputs,
    f: &DevFacts,
    mud_grant: &Grant,
    lateral: &[(Filter, &Grant)],
    groups: &mut Groups,
    rules: &mut Vec<NetRule>,
    withheld: &mut Vec<Withheld>,
) {
    let site = &inputs.config.site;
    let Some(url) = &f.dev.mud_url else {
        withheld.push(Withheld {
            what: "capability `mud`".into(),
            reason: "the device has no MUD URL".into(),
            sources: mud_grant.sources.clone(),
        });
        return;
    };
    let Some(policy) = inputs.mud.get(url) else {
        withheld.push(Withheld {
            what: format!("MUD file {url}"),
            reason: "not available (not fetched yet, or it failed verification)".into(),
            sources: mud_grant.sources.clone(),
        });
        return;
    };
    let any_lateral: Option<&Grant> = lateral.iter().find(|(fl, _)| fl.is_any()).map(|(_, g)| *g);
    for mr in &policy.rules {
        let mud_src = Source::Mud {
            mud_url: mr.provenance.mud_url.clone(),
            acl: mr.provenance.acl.clone(),
            ace: mr.provenance.ace.clone(),
        };
        let action = match mr.action {
            mud::Action::Accept => Action::Allow,
            _ => Action::Deny,
        };
        let is_deny = action == Action::Deny;
        let base: Vec<Source> = std::iter::once(mud_src.clone())
            .chain(mud_grant.sources.iter().cloned())
            .collect();
        // (endpoint, extra sources) pairs, or why the rule is withheld.
        let mut bound: Vec<(Endpoint, Vec<Source>)> = vec![];
        let mut why: Option<String> = None;
        let lateral_any = |bound: &mut Vec<(Endpoint, Vec<Source>)>, e: Endpoint| -> bool {
            if is_deny {
                bound.push((e, vec![]));
                true
            } else if let Some(g) = any_lateral {
                bound.push((e, g.sources.clone()));
                true
            } else {
                false
            }
        };
        let mut devices = |base_filter: Filter, bound: &mut Vec<(Endpoint, Vec<Source>)>| -> bool {
            if is_deny {
                let key = groups.key_for(&base_filter);
                bound.push((Endpoint::Group { key }, vec![]));
                return true;
            }
            let mut any = false;
            for (lf, g) in lateral {
                if let Some(x) = base_filter.intersect(lf) {
                    let key = groups.key_for(&x);
                    bound.push((Endpoint::Group { key }, g.sources.clone()));
                    any = true;
                }
            }
            any
        };
        let needs_lateral = |what: &str| {
            format!(
                "traffic with {what} is lateral; no consent rule grants a matching `lateral:` capability"
            )
        };
        match &mr.peer {
            Peer::Any => {
                if !lateral_any(&mut bound, Endpoint::Any) {
                    bound.push((Endpoint::Internet, vec![]));
                }
            }
            Peer::Prefix(p) => {
                let local = site.local_networks.iter().any(|l| l.overlaps(p));
                let e = Endpoint::Prefixes {
                    label: None,
                    prefixes: vec![Prefix(*p)],
                };
                if !local {
                    bound.push((e, vec![]));
                } else if !lateral_any(&mut bound, e) {
                    why = Some(format!(
                        "{p} lies in the site's local networks; traffic there needs `lateral:any`"
                    ));
                }
            }
            Peer::DnsName(n) => bound.push((
                Endpoint::Name {
                    name: normalize_name(n),
                },
                vec![],
            )),
            Peer::Manufacturer(h) => {
                let fl = Filter {
                    authority: Some(h.to_ascii_lowercase()),
                    ..Default::default()
                };
                if !devices(fl, &mut bound) {
                    why = Some(needs_lateral(&format!("devices from manufacturer {h}")));
                }
            }
            Peer::SameManufacturer => {
                let auth = url_authority(url);
                let fl = Filter {
                    authority: auth,
                    ..Default::default()
                };
                if fl.authority.is_none() {
                    why = Some("the MUD URL has no authority".into());
                } else if !devices(fl, &mut bound) {
                    why = Some(needs_lateral("devices from the same manufacturer"));
                }
            }
            Peer::Model(u) => {
                let fl = Filter {
                    mud_url: Some(u.clone()),
                    ..Default::default()
                };
                if !devices(fl, &mut bound) {
                    why = Some(needs_lateral(&format!("devices of model {u}")));
                }
            }
            Peer::LocalNetworks => {
                let e = Endpoint::Prefixes {
                    label: Some("the local networks".into()),
                    prefixes: site.local_networks.clone(),
                };
                if !lateral_any(&mut bound, e) && !devices(Filter::default(), &mut bound) {
                    why = Some(needs_lateral("the local networks"));
                }
            }
            Peer::Controller(uri) => match site.controllers.get(uri) {
                Some(p) if !p.is_empty() => bound.push((
                    Endpoint::Prefixes {
                        label: Some(format!("controllers of class {uri}")),
                        prefixes: p.clone(),
                    },
                    vec![],
                )),
                _ => {
                    why = Some(format!(
                        "no controller of class {uri} is configured (policy.site.controllers)"
                    ))
                }
            },
            Peer::MyController => match site.my_controllers.get(url) {
                Some(p) if !p.is_empty() => bound.push((
                    Endpoint::Prefixes {
                        label: Some("its controller".into()),
                        prefixes: p.clone(),
                    },
                    vec![],
                )),
                _ => {
                    why = Some(format!(
                        "no controller is configured for {url} (policy.site.my_controllers)"
                    ))
                }
            },
            Peer::Mac { address, mask } => {
                let e = Endpoint::Mac {
                    address: address.clone(),
                    mask: mask.clone(),
                };
                if !lateral_any(&mut bound, e) {
                    why = Some(format!(
                        "MAC {address} is a local peer; traffic there needs `lateral:any`"
                    ));
                }
            }
        }
        if let Some(reason) = why {
            withheld.push(Withheld {
                what: format!("MUD rule: {}", mr.describe()),
                reason,
                sources: base.clone(),
            });
            continue;
        }
        for (endpoint, extra) in bound {
            let flow = match mr.direction {
                Direction::FromDevice => Flow::FromDevice,
                Direction::ToDevice => Flow::ToDevice,
            };
            let mut r = NetRule::new(action, flow, endpoint, mr.protocol);
            r.ip_version = mr.ip_version;
            r.peer_ports = mr.peer_ports;
            r.device_ports = mr.device_ports;
            r.initiated_by = mr.initiated_by;
            r.icmp_type = mr.icmp_type;
            r.icmp_code = mr.icmp_code;
            r.sources = base.iter().chain(&extra).cloned().collect();
            push_rule(rules, r);
        }
    }
}
