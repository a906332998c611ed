//! `steward policy plan`: what each device gains and loses when the inputs
//! change (a consent rule edited, a zone moved, a MUD file updated), before the
//! change takes effect.

use crate::effective::{Compiled, EffectivePolicy, compile};
use crate::error::PolicyError;
use crate::input::Inputs;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

/// The changes for one device. Entries are sentences without provenance
/// ("may open TCP connections to the Internet port 443, at most 1mbit/s").
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceChange {
    pub device: String,
    /// `None` when the device is new / gone.
    pub zone_before: Option<String>,
    pub zone_after: Option<String>,
    pub capabilities_gained: Vec<String>,
    pub capabilities_lost: Vec<String>,
    pub gained: Vec<String>,
    pub lost: Vec<String>,
}

/// Per device, what changes. Devices without a change are left out.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Plan {
    pub changes: Vec<DeviceChange>,
}

impl Plan {
    pub fn is_empty(&self) -> bool {
        self.changes.is_empty()
    }
    /// The plan in words, one block per device.
    pub fn to_text(&self) -> String {
        if self.changes.is_empty() {
            return "no device's policy changes\n".into();
        }
        let mut s = String::new();
        for c in &self.changes {
            s.push_str(&c.device);
            match (&c.zone_before, &c.zone_after) {
                (Some(a), Some(b)) if a != b => s.push_str(&format!(" (zone {a} → {b})")),
                (None, Some(b)) => s.push_str(&format!(" (new, zone {b})")),
                (Some(a), None) => s.push_str(&format!(" (removed, was zone {a})")),
                _ => {}
            }
            s.push_str(":\n");
            for x in &c.capabilities_gained {
                s.push_str(&format!("  + capability {x}\n"));
            }
            for x in &c.capabilities_lost {
                s.push_str(&format!("  - capability {x}\n"));
            }
            for x in &c.gained {
                s.push_str(&format!("  + {x}\n"));
            }
            for x in &c.lost {
                s.push_str(&format!("  - {x}\n"));
            }
        }
        s
    }
}

fn facts(c: &Compiled, p: &EffectivePolicy) -> (BTreeSet<String>, BTreeSet<String>) {
    let caps = p.grants.iter().map(|g| g.capability.to_string()).collect();
    let mut lines: BTreeSet<String> = p.rules.iter().map(|r| c.rule_words(r)).collect();
    for g in &p.messaging.publish {
        lines.insert(format!("may publish to {}", g.topic));
    }
    for g in &p.messaging.subscribe {
        lines.insert(format!("may subscribe to {}", g.topic));
    }
    (caps, lines)
}

/// Compiles both inputs and compares them device by device.
pub fn plan(old: &Inputs, new: &Inputs) -> Result<Plan, PolicyError> {
    let a = compile(old)?;
    let b = compile(new)?;
    Ok(diff(&a, &b))
}

/// Compares two compiled sites.
pub fn diff(a: &Compiled, b: &Compiled) -> Plan {
    let ids: BTreeSet<&String> = a.policies.keys().chain(b.policies.keys()).collect();
    let empty = (BTreeSet::new(), BTreeSet::new());
    let mut changes = vec![];
    for id in ids {
        let pa = a.policies.get(id);
        let pb = b.policies.get(id);
        let fa = pa.map(|p| facts(a, p)).unwrap_or_else(|| empty.clone());
        let fb = pb.map(|p| facts(b, p)).unwrap_or_else(|| empty.clone());
        let change = DeviceChange {
            device: id.clone(),
            zone_before: pa.map(|p| p.zone.clone()),
            zone_after: pb.map(|p| p.zone.clone()),
            capabilities_gained: fb.0.difference(&fa.0).cloned().collect(),
            capabilities_lost: fa.0.difference(&fb.0).cloned().collect(),
            gained: fb.1.difference(&fa.1).cloned().collect(),
            lost: fa.1.difference(&fb.1).cloned().collect(),
        };
        let same = change.zone_before == change.zone_after
            && change.capabilities_gained.is_empty()
            && change.capabilities_lost.is_empty()
            && change.gained.is_empty()
            && change.lost.is_empty();
        if !same {
            changes.push(change);
        }
    }
    Plan { changes }
}
