//! `steward explain`: a device's effective policy in words, and the verdict for
//! one destination with the exact rules that produce it.

use crate::config::{L4, Target, parse_target};
use crate::effective::{Action, Compiled, EffectivePolicy, Endpoint, Flow, NetRule, Source};
use crate::error::PolicyError;
use mud::Protocol;
use mud::model::{Direction, PortMatch};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

/// Where the device wants to send: `HOST[:PORT][/tcp|udp]`. HOST is a DNS name,
/// an IP address (IPv6 in brackets when a port follows), or a device id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Destination {
    pub host: Host,
    pub port: Option<u16>,
    pub proto: Option<L4>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "value", rename_all = "lowercase")]
pub enum Host {
    Name(String),
    Ip(IpAddr),
}

impl FromStr for Destination {
    type Err = PolicyError;
    fn from_str(s: &str) -> Result<Self, PolicyError> {
        let err = |reason: String| PolicyError::Destination {
            value: s.to_string(),
            reason,
        };
        let (target, port, proto) = parse_target(s).map_err(err)?;
        let host = match target {
            Target::Name(n) => Host::Name(n),
            Target::Prefix(p) if (p.0.addr.is_ipv4() && p.0.len == 32) || p.0.len == 128 => {
                Host::Ip(p.0.addr)
            }
            Target::Prefix(_) => return Err(err("give one address, not a prefix".into())),
            Target::Any => return Err(err("give a host, not '*'".into())),
        };
        Ok(Destination { host, port, proto })
    }
}

impl fmt::Display for Destination {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.host, self.port) {
            (Host::Ip(IpAddr::V6(a)), Some(_)) => write!(f, "[{a}]")?,
            (Host::Ip(a), _) => write!(f, "{a}")?,
            (Host::Name(n), _) => f.write_str(n)?,
        }
        if let Some(p) = self.port {
            write!(f, ":{p}")?;
        }
        if let Some(p) = self.proto {
            write!(f, "/{}", p.as_str())?;
        }
        Ok(())
    }
}

/// The answer to "may this device reach that destination, and why".
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Explanation {
    pub device: String,
    pub destination: String,
    pub verdict: Action,
    /// The rule that decides, then (for a partial answer) the other rules that
    /// also apply, each in words and with provenance. Empty when nothing matched
    /// and the default deny decides.
    pub rules: Vec<ExplainedRule>,
    /// One paragraph in words.
    pub text: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExplainedRule {
    /// Index in [`EffectivePolicy::rules`].
    pub index: usize,
    pub text: String,
    pub rule: NetRule,
}

/// How a rule relates to a question.
#[derive(PartialEq, Eq, Clone, Copy)]
enum Fit {
    No,
    /// Matches whatever the unspecified port/protocol turns out to be.
    Full,
    /// Matches only some ports/protocols the question left open.
    Some,
}

fn port_ok(pm: &PortMatch, p: u16) -> bool {
    match *pm {
        PortMatch::Eq { port } => p == port,
        PortMatch::Lte { port } => p <= port,
        PortMatch::Gte { port } => p >= port,
        PortMatch::Neq { port } => p != port,
        PortMatch::Range { lower, upper } => lower <= p && p <= upper,
    }
}

impl Compiled {
    fn endpoint_matches(&self, e: &Endpoint, host: &Host) -> bool {
        let site = &self.site;
        match (e, host) {
            (Endpoint::Any, _) => true,
            (Endpoint::Internet, Host::Ip(a)) => !site.is_local(*a) && !site.gateway.contains(a),
            (Endpoint::Internet, Host::Name(n)) => {
                !self.policies.contains_key(n) && n != "steward" && n != "gateway"
            }
            (Endpoint::Gateway, Host::Ip(a)) => site.gateway.contains(a),
            (Endpoint::Gateway, Host::Name(n)) => n == "steward" || n == "gateway",
            (Endpoint::Prefixes { prefixes, .. }, Host::Ip(a)) => {
                prefixes.iter().any(|p| p.contains(*a))
            }
            (Endpoint::Name { name }, Host::Name(n)) => name == n,
            (Endpoint::Group { key }, h) => self.groups.get(key).is_some_and(|g| match h {
                Host::Ip(a) => g.addresses.contains(a),
                Host::Name(n) => g.members.binary_search(n).is_ok(),
            }),
            _ => false,
        }
    }

    fn fit(&self, r: &NetRule, d: &Destination) -> Fit {
        if !r.flow.includes(Direction::FromDevice) || !self.endpoint_matches(&r.endpoint, &d.host) {
            return Fit::No;
        }
        let mut partial = false;
        match (r.protocol, d.proto) {
            (Protocol::Any, _) => {}
            (p, Some(q)) if p == q.protocol() => {}
            (_, Some(_)) => return Fit::No,
            (Protocol::Tcp | Protocol::Udp, None) => partial = true,
            (_, None) => return Fit::No,
        }
        match (&r.peer_ports, d.port) {
            (None, _) => {}
            (Some(pm), Some(p)) if port_ok(pm, p) => {}
            (Some(_), Some(_)) => return Fit::No,
            (Some(_), None) => partial = true,
        }
        // A device-initiated question never matches rules that only answer.
        if r.initiated_by == Some(Direction::ToDevice) {
            return Fit::No;
        }
        if partial { Fit::Some } else { Fit::Full }
    }

    /// The verdict for `device` sending to `dest`, and the rules behind it. With
    /// no port or protocol given, "allow" means "on some ports" and the answer
    /// lists them.
    pub fn explain(&self, device: &str, dest: &Destination) -> Result<Explanation, PolicyError> {
        let p = self.policy(device)?;
        let mut decided: Option<(Action, usize)> = None;
        let mut partial: Vec<usize> = vec![];
        for (i, r) in p.rules.iter().enumerate() {
            match self.fit(r, dest) {
                Fit::No => {}
                Fit::Full => {
                    decided = Some((r.action, i));
                    break;
                }
                Fit::Some => partial.push(i),
            }
        }
        let mk = |i: usize| ExplainedRule {
            index: i,
            text: self.rule_text(&p.rules[i]),
            rule: p.rules[i].clone(),
        };
        // When an allow decides, later rules that allow the same traffic are
        // reasons too (the MUD ACE behind a baseline that came first).
        let also: Vec<usize> = match decided {
            Some((Action::Allow, i)) if partial.is_empty() => p.rules[i + 1..]
                .iter()
                .enumerate()
                .filter(|(_, r)| r.action == Action::Allow && self.fit(r, dest) == Fit::Full)
                .map(|(j, _)| i + 1 + j)
                .collect(),
            _ => vec![],
        };
        let dest_s = dest.to_string();
        let some_allowed = partial.iter().any(|&i| p.rules[i].action == Action::Allow);
        let (verdict, rules, text) = match decided {
            Some((action, i)) if partial.is_empty() => {
                let verb = if action == Action::Allow {
                    "may"
                } else {
                    "may not"
                };
                let mut text = format!(
                    "{device} {verb} send to {dest_s}: {}",
                    self.rule_text(&p.rules[i])
                );
                for &j in &also {
                    text.push_str(&format!("; also {}", self.rule_text(&p.rules[j])));
                }
                (
                    action,
                    std::iter::once(i)
                        .chain(also.iter().copied())
                        .map(mk)
                        .collect(),
                    text,
                )
            }
            Some((Action::Allow, _)) | None if some_allowed || decided.is_some() => {
                // The question left the port or protocol open: list every rule
                // that applies to part of it, then the one that decides the rest.
                let mut idx = partial.clone();
                let rest = match decided {
                    Some((_, i)) => {
                        idx.push(i);
                        format!("otherwise {}", self.rule_text(&p.rules[i]))
                    }
                    None => "everything else to it is denied".to_string(),
                };
                let lines: Vec<String> = partial
                    .iter()
                    .map(|&j| self.rule_text(&p.rules[j]))
                    .collect();
                (
                    Action::Allow,
                    idx.into_iter().map(mk).collect(),
                    format!(
                        "{device} may send to {dest_s} only as these rules say: {}; {rest}",
                        lines.join("; ")
                    ),
                )
            }
            Some((Action::Deny, i)) => {
                let mut idx = partial.clone();
                idx.push(i);
                (
                    Action::Deny,
                    idx.into_iter().map(mk).collect(),
                    format!(
                        "{device} may not send to {dest_s}: {}",
                        self.rule_text(&p.rules[i])
                    ),
                )
            }
            _ => {
                let by_name = p.rules.iter().any(|r| {
                    matches!(r.endpoint, Endpoint::Name { .. }) && r.action == Action::Allow
                });
                let hint = if matches!(dest.host, Host::Ip(_)) && by_name {
                    " (addresses of allowed names are let through only once Steward's DNS has given them to the device; ask with the name)"
                } else {
                    ""
                };
                (
                    Action::Deny,
                    partial.iter().map(|&i| mk(i)).collect(),
                    format!(
                        "{device} may not send to {dest_s}: no rule of its policy (zone `{}`) allows it, and everything not allowed is denied{hint}",
                        p.zone
                    ),
                )
            }
        };
        Ok(Explanation {
            device: device.to_string(),
            destination: dest_s,
            verdict,
            rules,
            text,
        })
    }

    /// The effective policy of `device` in words: one line per rule in
    /// evaluation order, then messaging, then what was withheld and why.
    pub fn describe(&self, device: &str) -> Result<Vec<String>, PolicyError> {
        let p = self.policy(device)?;
        Ok(self.describe_policy(p))
    }

    pub fn describe_policy(&self, p: &EffectivePolicy) -> Vec<String> {
        let mut out = vec![format!("zone `{}`", p.zone)];
        for r in &p.rules {
            out.push(self.rule_text(r));
        }
        for g in &p.messaging.publish {
            out.push(format!(
                "may publish to MQTT {} (CoAP {}) ({})",
                g.topic,
                g.coap_path,
                sources_text(&g.sources)
            ));
        }
        for g in &p.messaging.subscribe {
            out.push(format!(
                "may subscribe to MQTT {} (CoAP {}) ({})",
                g.topic,
                g.coap_path,
                sources_text(&g.sources)
            ));
        }
        out.push("everything else is denied".into());
        for w in &p.withheld {
            out.push(format!(
                "not granted: {}: {} ({})",
                w.what,
                w.reason,
                sources_text(&w.sources)
            ));
        }
        out
    }

    /// One rule in words, with provenance:
    /// "may open TCP port 443 to api.example.com (MUD … acl a / ace b, consent rule `cameras`)".
    pub fn rule_text(&self, r: &NetRule) -> String {
        format!("{} ({})", self.rule_words(r), sources_text(&r.sources))
    }

    /// One rule in words, without provenance (also the key `plan` compares).
    pub fn rule_words(&self, r: &NetRule) -> String {
        let verb = match r.action {
            Action::Allow => "may",
            Action::Deny => "may not",
        };
        let peer = self.endpoint_text(&r.endpoint);
        let pp = r.peer_ports.map(|p| format!(" {p}")).unwrap_or_default();
        let dp = |prep: &str| {
            r.device_ports
                .map(|p| format!(" {prep} its {p}"))
                .unwrap_or_default()
        };
        let proto = r.protocol;
        let icmp = match (r.icmp_type, r.icmp_code) {
            (Some(t), Some(c)) => format!(" (type {t}, code {c})"),
            (Some(t), None) => format!(" (type {t})"),
            _ => String::new(),
        };
        let v = match r.ip_version {
            Some(mud::IpVersion::V4) => " over IPv4",
            Some(mud::IpVersion::V6) => " over IPv6",
            None => "",
        };
        let rate = r.rate.map(|x| format!(", at most {x}")).unwrap_or_default();
        let body = match (r.flow, r.protocol, r.initiated_by) {
            (Flow::FromDevice, Protocol::Tcp, Some(Direction::FromDevice)) => {
                format!("open TCP connections to {peer}{pp}{}", dp("from"))
            }
            (Flow::FromDevice, Protocol::Tcp, Some(Direction::ToDevice)) => {
                format!(
                    "answer TCP connections that {peer} opens, from{pp}{}",
                    dp("from")
                )
            }
            (Flow::ToDevice, Protocol::Tcp, Some(Direction::ToDevice)) => {
                format!("accept TCP connections from {peer}{pp}{}", dp("on"))
            }
            (Flow::ToDevice, Protocol::Tcp, Some(Direction::FromDevice)) => format!(
                "receive TCP replies from {peer}{pp} on connections it opened{}",
                dp("to")
            ),
            (Flow::FromDevice, _, _) => format!("send {proto}{icmp} to {peer}{pp}{}", dp("from")),
            (Flow::ToDevice, _, _) => format!("receive {proto}{icmp} from {peer}{pp}{}", dp("on")),
            (Flow::Both, _, _) => format!("exchange {proto}{icmp} with {peer}{pp}{}", dp("on")),
        };
        format!("{verb} {body}{v}{rate}")
    }

    fn endpoint_text(&self, e: &Endpoint) -> String {
        match e {
            Endpoint::Any => "any host".into(),
            Endpoint::Internet => "the Internet".into(),
            Endpoint::Gateway => "Steward".into(),
            Endpoint::Prefixes { label, prefixes } => {
                let list: Vec<String> = prefixes.iter().map(|p| p.to_string()).collect();
                match label {
                    Some(l) => format!("{l} ({})", list.join(", ")),
                    None => list.join(", "),
                }
            }
            Endpoint::Name { name } => name.clone(),
            Endpoint::Group { key } => match self.groups.get(key) {
                Some(g) => format!("{} ({} now)", g.description, g.members.len()),
                None => format!("group {key}"),
            },
            Endpoint::Mac { address, .. } => format!("MAC {address}"),
        }
    }
}

/// Provenance in words: "MUD https://… acl a / ace b, consent rule `cameras`".
pub fn sources_text(s: &[Source]) -> String {
    let v: Vec<String> = s
        .iter()
        .map(|s| match s {
            Source::Zone { zone } => format!("zone `{zone}`"),
            Source::Consent { rule } => format!("consent rule `{rule}`"),
            Source::Mud { mud_url, acl, ace } => format!("MUD {mud_url} acl {acl} / ace {ace}"),
        })
        .collect();
    v.join(", ")
}
