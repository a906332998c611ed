//! The messaging ACL: which MQTT topics (and the CoAP paths that mirror them) a
//! device may publish to and subscribe to, derived from the same grants as its
//! network policy, so there is no second configuration.
//!
//! | capability | grants |
//! |---|---|
//! | `telemetry` | publish `steward/v1/devices/{id}/telemetry` and `…/telemetry/cbor` |
//! | `commands` | subscribe `steward/v1/devices/{id}/commands/#` |
//! | `updates` | subscribe `steward/v1/devices/{id}/update`, publish `…/update/status` |

use crate::config::Capability;
use crate::effective::{Grant, Source};
use serde::{Deserialize, Serialize};

/// The topic root every device topic lives under.
pub const TOPIC_ROOT: &str = "steward/v1/devices";

/// One topic filter a device may use.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct TopicGrant {
    /// MQTT topic filter (may end in `#`).
    pub topic: String,
    /// The CoAP path that mirrors it (`/steward/v1/…`).
    pub coap_path: String,
    pub sources: Vec<Source>,
}

/// What a device may publish and subscribe to.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessagingAcl {
    pub publish: Vec<TopicGrant>,
    pub subscribe: Vec<TopicGrant>,
}

fn grant(topic: String, sources: &[Source]) -> TopicGrant {
    TopicGrant {
        coap_path: format!("/{topic}"),
        topic,
        sources: sources.to_vec(),
    }
}

/// The messaging ACL for `device` holding `grants` (after denies).
pub(crate) fn derive(device: &str, grants: &[Grant]) -> MessagingAcl {
    let base = format!("{TOPIC_ROOT}/{device}");
    let mut acl = MessagingAcl::default();
    for g in grants {
        match g.capability {
            Capability::Telemetry => {
                acl.publish
                    .push(grant(format!("{base}/telemetry"), &g.sources));
                acl.publish
                    .push(grant(format!("{base}/telemetry/cbor"), &g.sources));
            }
            Capability::Commands => acl
                .subscribe
                .push(grant(format!("{base}/commands/#"), &g.sources)),
            Capability::Updates => {
                acl.subscribe
                    .push(grant(format!("{base}/update"), &g.sources));
                acl.publish
                    .push(grant(format!("{base}/update/status"), &g.sources));
            }
            _ => {}
        }
    }
    acl
}

/// Whether MQTT filter `granted` covers every topic that `asked` (a topic name or
/// filter) can match.
pub fn covers(granted: &str, asked: &str) -> bool {
    let mut g = granted.split('/');
    let mut a = asked.split('/');
    loop {
        match (g.next(), a.next()) {
            (Some("#"), _) => return true,
            (Some("+"), Some(x)) if x != "#" => {}
            (Some(x), Some(y)) if x == y && x != "+" && x != "#" => {}
            (None, None) => return true,
            _ => return false,
        }
    }
}

impl MessagingAcl {
    /// The grant that lets the device publish to `topic`, if any. Topic names
    /// with wildcards are never publishable.
    pub fn publish_grant(&self, topic: &str) -> Option<&TopicGrant> {
        if topic.contains(['+', '#']) {
            return None;
        }
        self.publish.iter().find(|g| covers(&g.topic, topic))
    }
    /// The grant that lets the device subscribe to `filter`, if any.
    pub fn subscribe_grant(&self, filter: &str) -> Option<&TopicGrant> {
        self.subscribe.iter().find(|g| covers(&g.topic, filter))
    }
    pub fn may_publish(&self, topic: &str) -> bool {
        self.publish_grant(topic).is_some()
    }
    pub fn may_subscribe(&self, filter: &str) -> bool {
        self.subscribe_grant(filter).is_some()
    }
    /// Same for CoAP: a POST/PUT to `path` is a publish, an Observe a subscribe.
    pub fn may_post(&self, path: &str) -> bool {
        self.may_publish(path.trim_start_matches('/'))
    }
    pub fn may_observe(&self, path: &str) -> bool {
        self.may_subscribe(path.trim_start_matches('/'))
    }
}

#[cfg(test)]
mod tests {
    use super::covers;

    #[test]
    fn filter_cover_table() {
        let cases = [
            ("exact", "a/b", "a/b", true),
            ("hash covers deeper", "a/#", "a/b/c", true),
            ("hash covers parent", "a/#", "a", true),
            ("hash covers hash", "a/#", "a/#", true),
            ("plus one level", "a/+/c", "a/x/c", true),
            ("plus not two", "a/+", "a/x/y", false),
            ("plus does not cover hash", "a/+", "a/#", false),
            ("exact does not cover plus", "a/b", "a/+", false),
            ("other device", "d/x/#", "d/y/z", false),
            ("shorter asked", "a/b", "a", false),
        ];
        for (name, g, a, want) in cases {
            assert_eq!(covers(g, a), want, "{name}");
        }
    }
}
