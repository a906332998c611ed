//! The nftables ruleset of one compiled site, as `nft -j` JSON commands, and the
//! backends that apply it: [`NftBackend`] (the real kernel, through the
//! `nftables` crate, which validates every document against its typed schema)
//! and [`Recorder`] (keeps the batches, for unit tests).
//!
//! # Shape (table `inet steward`)
//!
//! ```text
//! chain forward  (hook forward)  not LAN → accept; ct established reply → accept;
//!                                ct related → accept; ct invalid → drop;
//!                                oifname LAN → jump to_lan; iifname LAN → jump from_lan; accept
//! chain input    (hook input)    not LAN → accept; replies; DHCP → accept;
//!                                ip saddr vmap { addr : goto dN_out };
//!                                DNS from addresses no device claims → accept; drop
//! chain from_lan                 ip saddr vmap { addr : goto dN_out }; ip6 saddr vmap …;
//!                                ether saddr vmap { mac : goto dN_out }; log + drop
//! chain to_lan                   ip daddr vmap { addr : goto dN_in }; ip6 …; log + drop
//! chain dN_out / dN_in           device N's rules in policy order, each with a counter;
//!                                allow = accept (out) / return (in); last: log + drop
//! sets gN_4/gN_6                 members of lateral group N (shared by every device naming it)
//! sets nK_4/nK_6                  (device address . address) pairs: the answers Steward's DNS
//!                                gave each device for name K (timeouts); one set per name,
//!                                shared by every device whose policy names it
//! ```
//!
//! A packet costs one verdict-map lookup plus its own device's rules, however many
//! devices there are; the ruleset grows with devices × their rules. DNS names get
//! one set per name, keyed by the concatenation (device address . peer address),
//! rather than one set per device and name: a device still reaches only what it
//! was itself answered, and the number of sets stays the number of distinct names
//! (nft 1.0's set lookup while loading a batch is linear in the sets, so per-device
//! sets made applies quadratic in devices: docs/benchmarks.md).
//!
//! Established flows: reply packets (`ct direction reply`) are accepted. A flow a
//! device rule accepted is marked with the table's generation (`ct mark`), and
//! its later packets are accepted without a new check while that table is in
//! place. Every apply installs a new generation: the next packet of each flow
//! is checked once against the new policy. A flow the new policy still allows
//! is marked again and never cut; a flow it forbids is dropped at that packet
//! (its originator can send nothing more; replies of the dead flow may trickle
//! until conntrack forgets it). Steward uses the whole conntrack mark. A flow
//! allowed under a rate limit (`internet@RATE`) is never marked: every packet
//! the device sends meets the limit (what it is sent back is not limited).
//!
//! Nothing from MUD files or DNS answers is ever put into a command string: names
//! become set names we choose (`nK_4`), addresses are parsed `IpAddr`s, and
//! comments are reduced to printable ASCII.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::Mutex;

use mud::model::{Direction, PortMatch};
use mud::{IpVersion, Protocol};
use policy::{Action, Compiled, Endpoint, Flow, NetRule, Source};
use serde_json::{Value, json};

use super::{EnforceConfig, EnforceError};

/// The table's name (family `inet`).
pub const TABLE: &str = "steward";
const FAMILY: &str = "inet";

/// Applies one nftables JSON document (`{"nftables": [...]}`) as one transaction.
pub trait Backend: Send + Sync {
    fn apply(&self, doc: &Value) -> Result<(), EnforceError>;
    /// The current table as JSON (for counters), if the backend can read one.
    fn list(&self) -> Result<Value, EnforceError>;
}

/// The kernel, through `nft -j` (the `nftables` crate).
#[derive(Debug, Default)]
pub struct NftBackend {
    /// The `nft` program; `None` for the one on `PATH`.
    pub program: Option<String>,
}

/// The document as the `nftables` crate's typed schema; an error names the
/// first command that does not fit.
pub fn typed(doc: &Value) -> Result<nftables::schema::Nftables<'static>, EnforceError> {
    serde_json::from_value(doc.clone()).map_err(|e| {
        let bad = doc["nftables"].as_array().and_then(|cmds| {
            cmds.iter().find(|c| {
                serde_json::from_value::<nftables::schema::NfObject<'static>>((*c).clone()).is_err()
            })
        });
        let mut what = bad.map(|c| c.to_string()).unwrap_or_default();
        what.truncate(300);
        EnforceError::Schema(format!("{e}: {what}"))
    })
}

impl Backend for NftBackend {
    fn apply(&self, doc: &Value) -> Result<(), EnforceError> {
        let typed = typed(doc)?;
        nftables::helper::apply_ruleset_with_args(
            &typed,
            self.program.as_deref(),
            nftables::helper::DEFAULT_ARGS,
        )
        .map_err(|e| EnforceError::Nft(e.to_string()))
    }

    fn list(&self) -> Result<Value, EnforceError> {
        let raw = nftables::helper::get_current_ruleset_raw(
            self.program.as_deref(),
            ["list", "table", FAMILY, TABLE],
        )
        .map_err(|e| EnforceError::Nft(e.to_string()))?;
        serde_json::from_str(&raw).map_err(|e| EnforceError::Schema(e.to_string()))
    }
}

/// Keeps every document it is given; for unit tests of what would be applied.
#[derive(Debug, Default)]
pub struct Recorder {
    pub docs: Mutex<Vec<Value>>,
}

impl Backend for Recorder {
    fn apply(&self, doc: &Value) -> Result<(), EnforceError> {
        // The same schema check as the real backend.
        typed(doc)?;
        self.docs
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(doc.clone());
        Ok(())
    }
    fn list(&self) -> Result<Value, EnforceError> {
        Ok(json!({"nftables": []}))
    }
}

/// Addresses Steward's DNS forwarder gave devices, kept across re-applies.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Learned {
    /// (device id, name) → address → expiry (unix seconds).
    pub names: BTreeMap<(String, String), BTreeMap<IpAddr, u64>>,
}

/// Where a device's name sets are, after a build.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Layout {
    /// device id → its index N (chains `dN_out`, `dN_in`).
    pub devices: BTreeMap<String, usize>,
    /// (device id, name) → the set names (IPv4, IPv6) of that name, whose
    /// elements are (device address . peer address).
    pub name_sets: BTreeMap<(String, String), (String, String)>,
    /// Number of rules and set elements in the document (for benchmarks, logs).
    pub rules: usize,
    pub elements: usize,
}

/// What a build needs besides the compiled policy.
pub struct BuildInput<'a> {
    pub compiled: &'a Compiled,
    pub config: &'a EnforceConfig,
    /// The devices' interfaces.
    pub lan: &'a [String],
    /// Device id → its MAC addresses (lower case `aa:bb:…`).
    pub macs: &'a BTreeMap<String, Vec<String>>,
    /// Device id → its IP addresses.
    pub addresses: &'a BTreeMap<String, Vec<IpAddr>>,
    pub learned: &'a Learned,
    /// Now, unix seconds (to compute remaining timeouts of learned addresses).
    pub now: u64,
    /// Written into the conntrack mark of flows this table accepted (never 0).
    pub generation: u32,
}

fn cmd_add(obj: &str, body: Value) -> Value {
    json!({"add": {obj: body}})
}

fn chain(name: &str) -> Value {
    cmd_add(
        "chain",
        json!({"family": FAMILY, "table": TABLE, "name": name}),
    )
}

fn base_chain(name: &str, hook: &str) -> Value {
    cmd_add(
        "chain",
        json!({"family": FAMILY, "table": TABLE, "name": name, "type": "filter",
               "hook": hook, "prio": 0, "policy": "accept"}),
    )
}

fn rule(chain: &str, expr: Vec<Value>, comment: Option<String>) -> Value {
    let mut r = json!({"family": FAMILY, "table": TABLE, "chain": chain, "expr": expr});
    if let Some(c) = comment {
        r["comment"] = Value::String(c);
    }
    cmd_add("rule", r)
}

fn set(name: &str, ty: &str, flags: &[&str], elem: Vec<Value>) -> Value {
    set_of(name, json!(ty), flags, elem)
}

/// A set of any type (a concatenation is an array of types).
fn set_of(name: &str, ty: Value, flags: &[&str], elem: Vec<Value>) -> Value {
    let mut s = json!({"family": FAMILY, "table": TABLE, "name": name, "type": ty});
    if !flags.is_empty() {
        s["flags"] = json!(flags);
    }
    if !elem.is_empty() {
        s["elem"] = Value::Array(elem);
    }
    cmd_add("set", s)
}

/// `KEY vmap { k : goto dN_out, … }`: one hash lookup whatever the number of
/// devices. (The `nftables` crate has no named verdict maps; the table is
/// replaced as a whole on every apply, so an anonymous one is all we need.)
/// `None` when there is no element (nft refuses an empty anonymous set).
fn vmap_rule(key: Value, elems: &[Value]) -> Option<Vec<Value>> {
    (!elems.is_empty()).then(|| vec![json!({"vmap": {"key": key, "data": {"set": elems}}})])
}

fn m(left: Value, op: &str, right: Value) -> Value {
    json!({"match": {"op": op, "left": left, "right": right}})
}
fn meta(key: &str) -> Value {
    json!({"meta": {"key": key}})
}
fn payload(proto: &str, field: &str) -> Value {
    json!({"payload": {"protocol": proto, "field": field}})
}
fn ct(key: &str) -> Value {
    json!({"ct": {"key": key}})
}
fn ifaces(names: &[String]) -> Value {
    json!({"set": names})
}
fn counter() -> Value {
    json!({"counter": null})
}
fn log(cfg: &EnforceConfig, prefix: &str) -> Value {
    json!({"log": {"prefix": prefix, "group": cfg.nflog_group}})
}
fn mark_set(generation: u32) -> Value {
    json!({"mangle": {"key": ct("mark"), "value": generation}})
}
fn verdict(v: &str) -> Value {
    json!({v: null})
}
fn set_ref(name: &str) -> Value {
    Value::String(format!("@{name}"))
}

/// Printable ASCII, at most 120 bytes: MUD ACE names end up here.
fn comment_text(s: &str) -> String {
    let mut out: String = s
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() || c == ' ' {
                c
            } else {
                '?'
            }
        })
        .take(120)
        .collect();
    out = out.replace('"', "'");
    out
}

fn source_short(s: &Source) -> String {
    match s {
        Source::Zone { zone } => format!("zone {zone}"),
        Source::Consent { rule } => format!("consent {rule}"),
        Source::Mud { acl, ace, .. } => format!("mud {acl}/{ace}"),
    }
}

fn addr_elem(a: &IpAddr) -> Value {
    Value::String(a.to_string())
}

fn prefix_elem(p: &policy::Prefix) -> Value {
    let full = if p.0.addr.is_ipv4() { 32 } else { 128 };
    if p.0.len == full {
        addr_elem(&p.0.addr)
    } else {
        json!({"prefix": {"addr": p.0.addr.to_string(), "len": p.0.len}})
    }
}

fn port_match(field: Value, pm: &PortMatch) -> Value {
    match *pm {
        PortMatch::Eq { port } => m(field, "==", json!(port)),
        PortMatch::Neq { port } => m(field, "!=", json!(port)),
        PortMatch::Lte { port } => m(field, "<=", json!(port)),
        PortMatch::Gte { port } => m(field, ">=", json!(port)),
        PortMatch::Range { lower, upper } => m(field, "==", json!({"range": [lower, upper]})),
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Fam {
    V4,
    V6,
}

impl Fam {
    fn proto(self) -> &'static str {
        match self {
            Fam::V4 => "ip",
            Fam::V6 => "ip6",
        }
    }
    fn addr_type(self) -> &'static str {
        match self {
            Fam::V4 => "ipv4_addr",
            Fam::V6 => "ipv6_addr",
        }
    }
    fn suffix(self) -> &'static str {
        match self {
            Fam::V4 => "4",
            Fam::V6 => "6",
        }
    }
    fn has(self, a: &IpAddr) -> bool {
        matches!(
            (self, a),
            (Fam::V4, IpAddr::V4(_)) | (Fam::V6, IpAddr::V6(_))
        )
    }
}

/// Which way a device chain looks: `Out` checks packets from the device (the
/// peer is the destination), `In` packets to it (the peer is the source).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Side {
    Out,
    In,
}

struct Builder<'a> {
    input: &'a BuildInput<'a>,
    cmds: Vec<Value>,
    layout: Layout,
    group_sets: BTreeMap<String, usize>,
    /// DNS name → K (sets `nK_4`, `nK_6`).
    name_index: BTreeMap<String, usize>,
    /// Learned elements per name set, added once every set exists.
    name_elems: BTreeMap<String, Vec<Value>>,
}

impl Builder<'_> {
    fn push_rule(&mut self, chain_name: &str, expr: Vec<Value>, comment: Option<String>) {
        self.layout.rules += 1;
        self.cmds.push(rule(chain_name, expr, comment));
    }

    /// The base: table, sets, maps, base chains, and everything that holds for
    /// every device. With no device in it, it drops all LAN traffic except
    /// DHCP and DNS to Steward.
    fn base(
        &mut self,
        out4: Vec<Value>,
        out6: Vec<Value>,
        outmac: Vec<Value>,
        in4: Vec<Value>,
        in6: Vec<Value>,
    ) {
        let cfg = self.input.config;
        let site = &self.input.compiled.site;
        let lan = ifaces(self.input.lan);
        let gw4: Vec<Value> = site
            .gateway
            .iter()
            .filter(|a| a.is_ipv4())
            .map(addr_elem)
            .collect();
        let gw6: Vec<Value> = site
            .gateway
            .iter()
            .filter(|a| a.is_ipv6())
            .map(addr_elem)
            .collect();
        let loc4: Vec<Value> = site
            .local_networks
            .iter()
            .filter(|p| p.0.addr.is_ipv4())
            .map(prefix_elem)
            .collect();
        let loc6: Vec<Value> = site
            .local_networks
            .iter()
            .filter(|p| p.0.addr.is_ipv6())
            .map(prefix_elem)
            .collect();
        self.layout.elements += gw4.len() + gw6.len() + loc4.len() + loc6.len();
        self.layout.elements += out4.len() + out6.len() + outmac.len() + in4.len() + in6.len();
        self.cmds.push(set("gateway4", "ipv4_addr", &[], gw4));
        self.cmds.push(set("gateway6", "ipv6_addr", &[], gw6));
        self.cmds
            .push(set("local4", "ipv4_addr", &["interval"], loc4));
        self.cmds
            .push(set("local6", "ipv6_addr", &["interval"], loc6));

        self.cmds.push(chain("from_lan"));
        self.cmds.push(chain("to_lan"));
        self.cmds.push(base_chain("forward", "forward"));
        self.cmds.push(base_chain("input", "input"));

        let reply = vec![
            m(ct("state"), "in", json!("established")),
            m(ct("direction"), "==", json!("reply")),
            verdict("accept"),
        ];
        let related = vec![m(ct("state"), "in", json!("related")), verdict("accept")];
        // A flow a device rule accepted under this generation of the table is
        // not checked again; after an apply (a new generation) its next packet
        // is checked once against the new policy, and marked again if allowed.
        let generation = self.input.generation;
        let checked = vec![
            m(ct("state"), "in", json!("established")),
            m(ct("mark"), "==", json!(generation)),
            verdict("accept"),
        ];
        let checked_comment = format!("flows allowed by policy generation {generation}");
        let invalid = vec![
            m(ct("state"), "in", json!("invalid")),
            counter(),
            verdict("drop"),
        ];

        // forward
        self.push_rule(
            "forward",
            vec![
                m(meta("iifname"), "!=", lan.clone()),
                m(meta("oifname"), "!=", lan.clone()),
                verdict("accept"),
            ],
            Some("not LAN traffic".into()),
        );
        self.push_rule(
            "forward",
            reply.clone(),
            Some("replies of tracked flows".into()),
        );
        self.push_rule("forward", related.clone(), None);
        self.push_rule("forward", invalid.clone(), None);
        self.push_rule("forward", checked.clone(), Some(checked_comment.clone()));
        self.push_rule(
            "forward",
            vec![
                m(meta("oifname"), "==", lan.clone()),
                json!({"jump": {"target": "to_lan"}}),
            ],
            Some("the receiving device's policy".into()),
        );
        self.push_rule(
            "forward",
            vec![
                m(meta("iifname"), "==", lan.clone()),
                json!({"jump": {"target": "from_lan"}}),
            ],
            Some("the sending device's policy".into()),
        );
        self.push_rule(
            "forward",
            vec![mark_set(generation), verdict("accept")],
            Some("from the uplink, allowed by to_lan".into()),
        );

        // input: Steward itself, seen from the LAN
        self.push_rule(
            "input",
            vec![m(meta("iifname"), "!=", lan.clone()), verdict("accept")],
            None,
        );
        self.push_rule("input", reply, None);
        self.push_rule("input", related, None);
        self.push_rule("input", checked, Some(checked_comment));
        self.push_rule(
            "input",
            vec![
                m(meta("l4proto"), "==", json!("udp")),
                m(payload("udp", "dport"), "==", json!(67)),
                counter(),
                verdict("accept"),
            ],
            Some("DHCP to Steward, before any device is known".into()),
        );
        self.push_rule(
            "input",
            vec![
                m(meta("l4proto"), "==", json!("ipv6-icmp")),
                m(
                    payload("icmpv6", "type"),
                    "==",
                    json!({"set": ["nd-neighbor-solicit", "nd-neighbor-advert", "nd-router-solicit"]}),
                ),
                verdict("accept"),
            ],
            Some("IPv6 neighbour discovery".into()),
        );
        // A known device's own chain decides what it may ask of Steward (its
        // `dns`, `ntp`, `telemetry`, … grants; a quarantined device or a `deny
        // = ["dns"]` gets no answers).
        for (fam, map) in [(Fam::V4, &out4), (Fam::V6, &out6)] {
            if let Some(r) = vmap_rule(payload(fam.proto(), "saddr"), map) {
                self.push_rule("input", r, Some("the sending device's policy".into()));
            }
        }
        // An address no device claims yet (a device that has not taken a DHCP
        // lease) may resolve, as the restricted zone would let it.
        self.push_rule(
            "input",
            vec![
                m(meta("l4proto"), "==", json!({"set": ["udp", "tcp"]})),
                m(payload("th", "dport"), "==", json!(site.ports.dns)),
                counter(),
                verdict("accept"),
            ],
            Some("DNS to Steward from an address no device claims".into()),
        );
        self.push_rule(
            "input",
            vec![counter(), log(cfg, "steward drop input: "), verdict("drop")],
            Some("unclassified".into()),
        );

        // from_lan / to_lan
        for (key, map) in [
            (payload("ip", "saddr"), &out4),
            (payload("ip6", "saddr"), &out6),
            (payload("ether", "saddr"), &outmac),
        ] {
            if let Some(r) = vmap_rule(key, map) {
                self.push_rule("from_lan", r, None);
            }
        }
        self.push_rule(
            "from_lan",
            vec![
                counter(),
                log(cfg, "steward drop unknown: "),
                verdict("drop"),
            ],
            Some("unclassified LAN traffic".into()),
        );
        for (fam, map) in [(Fam::V4, &in4), (Fam::V6, &in6)] {
            if let Some(r) = vmap_rule(payload(fam.proto(), "daddr"), map) {
                self.push_rule("to_lan", r, None);
            }
        }
        self.push_rule(
            "to_lan",
            vec![
                counter(),
                log(cfg, "steward drop inbound: "),
                verdict("drop"),
            ],
            Some("to no known device".into()),
        );
    }

    fn group_set(&mut self, key: &str) -> usize {
        if let Some(i) = self.group_sets.get(key) {
            return *i;
        }
        let i = self.group_sets.len();
        self.group_sets.insert(key.to_string(), i);
        let addrs = self
            .input
            .compiled
            .groups
            .get(key)
            .map(|g| g.addresses.clone())
            .unwrap_or_default();
        for fam in [Fam::V4, Fam::V6] {
            let elem: Vec<Value> = addrs.iter().filter(|a| fam.has(a)).map(addr_elem).collect();
            self.layout.elements += elem.len();
            let ty = if fam == Fam::V4 {
                "ipv4_addr"
            } else {
                "ipv6_addr"
            };
            self.cmds
                .push(set(&format!("g{i}_{}", fam.suffix()), ty, &[], elem));
        }
        i
    }

    fn name_sets(&mut self, dev: &str, name: &str) -> (String, String) {
        let key = (dev.to_string(), name.to_string());
        if let Some(s) = self.layout.name_sets.get(&key) {
            return s.clone();
        }
        let k = match self.name_index.get(name) {
            Some(k) => *k,
            None => {
                let k = self.name_index.len();
                self.name_index.insert(name.to_string(), k);
                for fam in [Fam::V4, Fam::V6] {
                    let ty = fam.addr_type();
                    self.cmds.push(set_of(
                        &format!("n{k}_{}", fam.suffix()),
                        json!([ty, ty]),
                        &["timeout"],
                        vec![],
                    ));
                }
                k
            }
        };
        let s4 = format!("n{k}_4");
        let s6 = format!("n{k}_6");
        if let Some(learned) = self.input.learned.names.get(&key) {
            let own = self
                .input
                .addresses
                .get(dev)
                .map(Vec::as_slice)
                .unwrap_or(&[]);
            for (fam, s) in [(Fam::V4, &s4), (Fam::V6, &s6)] {
                let elems = pair_elems(fam, own, learned, self.input.now);
                self.layout.elements += elems.len();
                if !elems.is_empty() {
                    self.name_elems.entry(s.clone()).or_default().extend(elems);
                }
            }
        }
        self.layout.name_sets.insert(key, (s4.clone(), s6.clone()));
        (s4, s6)
    }

    /// The address match for `endpoint` in family `fam`; `None`: this family
    /// can never match (so no rule is emitted); `Some(vec![])`: any address.
    fn endpoint_match(
        &mut self,
        dev: &str,
        e: &Endpoint,
        fam: Fam,
        side: Side,
    ) -> Option<Vec<Value>> {
        let field = payload(
            fam.proto(),
            if side == Side::Out { "daddr" } else { "saddr" },
        );
        Some(match e {
            Endpoint::Any => vec![],
            Endpoint::Internet => vec![
                m(
                    field.clone(),
                    "!=",
                    set_ref(&format!("local{}", fam.suffix())),
                ),
                m(field, "!=", set_ref(&format!("gateway{}", fam.suffix()))),
            ],
            Endpoint::Gateway => vec![m(field, "==", set_ref(&format!("gateway{}", fam.suffix())))],
            Endpoint::Prefixes { prefixes, .. } => {
                let elems: Vec<Value> = prefixes
                    .iter()
                    .filter(|p| fam.has(&p.0.addr))
                    .map(prefix_elem)
                    .collect();
                if elems.is_empty() {
                    return None;
                }
                vec![m(field, "==", json!({"set": elems}))]
            }
            Endpoint::Name { name } => {
                let (s4, s6) = self.name_sets(dev, name);
                // The device is the source of what it sends and the
                // destination of what it is sent.
                let (own, peer) = if side == Side::Out {
                    ("saddr", "daddr")
                } else {
                    ("daddr", "saddr")
                };
                let pair =
                    json!({"concat": [payload(fam.proto(), own), payload(fam.proto(), peer)]});
                vec![m(
                    pair,
                    "==",
                    set_ref(if fam == Fam::V4 { &s4 } else { &s6 }),
                )]
            }
            Endpoint::Group { key } => {
                let g = self.group_set(key);
                vec![m(field, "==", set_ref(&format!("g{g}_{}", fam.suffix())))]
            }
            // A routed packet carries the router's MAC, not the peer's: a MAC
            // peer can only be matched on a bridge. Not enforced here (see the
            // policy's explanation); the rule never matches.
            Endpoint::Mac { .. } => return None,
        })
    }

    fn device(&mut self, id: &str, idx: usize, rules: &[NetRule]) {
        let cfg = self.input.config;
        let out = format!("d{idx}_out");
        let inn = format!("d{idx}_in");
        for (ri, r) in rules.iter().enumerate() {
            let srcs: Vec<String> = r.sources.iter().map(source_short).collect();
            let comment = comment_text(&format!("r{ri} {}", srcs.join(", ")));
            for side in [Side::Out, Side::In] {
                let applies = matches!(
                    (r.flow, side),
                    (Flow::Both, _) | (Flow::FromDevice, Side::Out) | (Flow::ToDevice, Side::In)
                );
                if !applies {
                    continue;
                }
                // Packets that reach a device chain always travel in their flow's
                // original direction (replies were accepted before). A rule that
                // only admits the answers to flows opened by the other side adds
                // nothing here.
                let dir = if side == Side::Out {
                    Direction::FromDevice
                } else {
                    Direction::ToDevice
                };
                if r.initiated_by.is_some_and(|d| d != dir) && r.action == Action::Allow {
                    continue;
                }
                for fam in [Fam::V4, Fam::V6] {
                    match (r.ip_version, fam) {
                        (Some(IpVersion::V4), Fam::V6) | (Some(IpVersion::V6), Fam::V4) => continue,
                        _ => {}
                    }
                    let Some(mut expr) = self.endpoint_match(id, &r.endpoint, fam, side) else {
                        continue;
                    };
                    if !proto_match(&mut expr, r, fam, side) {
                        continue;
                    }
                    let chain_name = if side == Side::Out { &out } else { &inn };
                    match r.action {
                        Action::Deny => {
                            expr.push(counter());
                            expr.push(log(cfg, &format!("steward deny d{idx}: ")));
                            expr.push(verdict("drop"));
                            self.push_rule(chain_name, expr, Some(comment.clone()));
                        }
                        Action::Allow => {
                            let ok = if side == Side::Out {
                                "accept"
                            } else {
                                "return"
                            };
                            if let Some(rate) = r.rate {
                                let bytes = (rate.bits_per_second / 8).max(1);
                                let mut over = expr.clone();
                                over.push(json!({"limit": {"rate": bytes, "per": "second",
                                    "rate_unit": "bytes", "burst": bytes.max(16_000),
                                    "burst_unit": "bytes", "inv": true}}));
                                over.push(counter());
                                over.push(verdict("drop"));
                                self.push_rule(
                                    chain_name,
                                    over,
                                    Some(format!("{comment} (over rate)")),
                                );
                            }
                            expr.push(counter());
                            // The accepting step marks the flow, so its later
                            // packets skip the device chain; an `In` return is
                            // not the last word (LAN to LAN, the sender's rules
                            // follow), and a rate-limited flow is not marked:
                            // every packet the device sends meets the limit.
                            if side == Side::Out && r.rate.is_none() {
                                expr.push(mark_set(self.input.generation));
                            }
                            expr.push(verdict(ok));
                            self.push_rule(chain_name, expr, Some(comment.clone()));
                        }
                    }
                }
            }
        }
        for c in [&out, &inn] {
            self.push_rule(
                c,
                vec![
                    counter(),
                    log(cfg, &format!("steward drop d{idx}: ")),
                    verdict("drop"),
                ],
                Some(comment_text(&format!("default deny for {id}"))),
            );
        }
    }
}

/// Adds protocol, port and ICMP matches; false when the rule cannot apply to
/// this family (ICMPv4 type in IPv6).
fn proto_match(expr: &mut Vec<Value>, r: &NetRule, fam: Fam, side: Side) -> bool {
    let (peer, dev) = if side == Side::Out {
        ("dport", "sport")
    } else {
        ("sport", "dport")
    };
    let l4 = match r.protocol {
        Protocol::Any => {
            if r.peer_ports.is_some() || r.device_ports.is_some() {
                // Ports without a protocol: TCP or UDP.
                expr.push(m(meta("l4proto"), "==", json!({"set": ["tcp", "udp"]})));
                Some("th")
            } else {
                None
            }
        }
        Protocol::Tcp => {
            expr.push(m(meta("l4proto"), "==", json!("tcp")));
            Some("tcp")
        }
        Protocol::Udp => {
            expr.push(m(meta("l4proto"), "==", json!("udp")));
            Some("udp")
        }
        Protocol::Icmp => {
            let (p, name) = if fam == Fam::V4 {
                ("icmp", "icmp")
            } else {
                ("ipv6-icmp", "icmpv6")
            };
            expr.push(m(meta("l4proto"), "==", json!(p)));
            if let Some(t) = r.icmp_type {
                expr.push(m(payload(name, "type"), "==", json!(t)));
            }
            if let Some(c) = r.icmp_code {
                expr.push(m(payload(name, "code"), "==", json!(c)));
            }
            None
        }
        Protocol::Other(n) => {
            expr.push(m(meta("l4proto"), "==", json!(n)));
            None
        }
    };
    if let Some(l4) = l4 {
        if let Some(pm) = &r.peer_ports {
            expr.push(port_match(payload(l4, peer), pm));
        }
        if let Some(pm) = &r.device_ports {
            expr.push(port_match(payload(l4, dev), pm));
        }
    }
    true
}

/// One transaction that replaces the table: `add table` (so the delete cannot
/// fail), `delete table`, then the whole new table. The kernel applies it all
/// or nothing, so there is never a moment without the table.
pub fn build(input: &BuildInput) -> (Value, Layout) {
    let mut b = Builder {
        input,
        cmds: vec![],
        layout: Layout::default(),
        group_sets: BTreeMap::new(),
        name_index: BTreeMap::new(),
        name_elems: BTreeMap::new(),
    };
    let table = json!({"family": FAMILY, "name": TABLE});
    b.cmds.push(json!({"add": {"table": table.clone()}}));
    b.cmds.push(json!({"delete": {"table": table.clone()}}));
    b.cmds.push(json!({"add": {"table": table}}));

    let mut out4 = vec![];
    let mut out6 = vec![];
    let mut outmac = vec![];
    let mut in4 = vec![];
    let mut in6 = vec![];
    let mut devices = vec![];
    for (idx, (id, p)) in input.compiled.policies.iter().enumerate() {
        b.layout.devices.insert(id.clone(), idx);
        let goto_out = json!({"goto": {"target": format!("d{idx}_out")}});
        let goto_in = json!({"goto": {"target": format!("d{idx}_in")}});
        for a in input.addresses.get(id).into_iter().flatten() {
            let (o, i) = if a.is_ipv4() {
                (&mut out4, &mut in4)
            } else {
                (&mut out6, &mut in6)
            };
            o.push(json!([a.to_string(), goto_out.clone()]));
            i.push(json!([a.to_string(), goto_in.clone()]));
        }
        for mac in input.macs.get(id).into_iter().flatten() {
            outmac.push(json!([mac, goto_out.clone()]));
        }
        devices.push((id.clone(), idx, p.rules.clone()));
    }
    // Two devices claiming one address would make the map refuse the batch:
    // the address is left out for both, and the device is contained.
    for v in [&mut out4, &mut out6, &mut outmac, &mut in4, &mut in6] {
        dedup_keys(v);
    }
    // Device chains exist before the maps that jump to them.
    for (_, idx, _) in &devices {
        b.cmds.push(chain(&format!("d{idx}_out")));
        b.cmds.push(chain(&format!("d{idx}_in")));
    }
    b.base(out4, out6, outmac, in4, in6);
    for (id, idx, rules) in devices {
        b.device(&id, idx, &rules);
    }
    // Addresses learned from DNS, now that every name set exists.
    for (name, elem) in std::mem::take(&mut b.name_elems) {
        b.cmds.push(json!({"add": {"element": {
            "family": FAMILY, "table": TABLE, "name": name, "elem": elem}}}));
    }
    (json!({"nftables": b.cmds}), b.layout)
}

fn dedup_keys(v: &mut Vec<Value>) {
    let mut count: BTreeMap<String, usize> = BTreeMap::new();
    for e in v.iter() {
        *count.entry(e[0].to_string()).or_default() += 1;
    }
    v.retain(|e| count.get(&e[0].to_string()) == Some(&1));
}

/// The base table alone: no device known, so LAN traffic is dropped except
/// DHCP and DNS to Steward. Installed at start-up before anything else.
pub fn base_table(
    config: &EnforceConfig,
    lan: &[String],
    site: &policy::Site,
    generation: u32,
) -> Value {
    let compiled = Compiled {
        site: site.clone(),
        policies: BTreeMap::new(),
        groups: BTreeMap::new(),
        warnings: vec![],
    };
    let empty = BTreeMap::new();
    let macs = BTreeMap::new();
    let learned = Learned::default();
    build(&BuildInput {
        compiled: &compiled,
        config,
        lan,
        macs: &macs,
        addresses: &empty,
        learned: &learned,
        now: 0,
        generation,
    })
    .0
}

/// Elements (device address . peer address) for the device's addresses and the
/// learned peers of one family that have not expired, with what is left of
/// their timeouts.
fn pair_elems(fam: Fam, own: &[IpAddr], learned: &BTreeMap<IpAddr, u64>, now: u64) -> Vec<Value> {
    let mut out = vec![];
    for (peer, exp) in learned.iter().filter(|(a, exp)| fam.has(a) && **exp > now) {
        for d in own.iter().filter(|d| fam.has(d)) {
            out.push(pair_elem(*d, *peer, exp - now));
        }
    }
    out
}

fn pair_elem(own: IpAddr, peer: IpAddr, timeout: u64) -> Value {
    json!({"elem": {"val": {"concat": [own.to_string(), peer.to_string()]}, "timeout": timeout}})
}

/// Adds the addresses Steward's DNS gave a device to a name's sets, paired with
/// each of the device's own addresses, with `timeout_secs`, or renews their
/// timeout (one transaction).
pub fn add_elements(
    set4: &str,
    set6: &str,
    own: &[IpAddr],
    addrs: &[IpAddr],
    timeout_secs: u64,
) -> Value {
    let mut cmds = vec![];
    for (fam, s) in [(Fam::V4, set4), (Fam::V6, set6)] {
        let elem: Vec<Value> = addrs
            .iter()
            .filter(|a| fam.has(a))
            .flat_map(|a| {
                own.iter()
                    .filter(|d| fam.has(d))
                    .map(move |d| pair_elem(*d, *a, timeout_secs))
            })
            .collect();
        if !elem.is_empty() {
            // add (no-op when present), delete, add: a present element gets the
            // new timeout, in one transaction.
            let e = json!({"element": {"family": FAMILY, "table": TABLE, "name": s, "elem": elem}});
            cmds.push(json!({"add": e.clone()}));
            cmds.push(json!({"delete": e.clone()}));
            cmds.push(json!({"add": e}));
        }
    }
    json!({"nftables": cmds})
}
