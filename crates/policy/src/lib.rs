//! Steward's policy engine: the owner's consent in advance and the maker's MUD
//! file, combined into each device's effective network and messaging policy,
//! with the reasons for every entry.
//!
//! Plain data in, plain data out: no sockets, files or kernel calls. The gateway
//! turns the output into nftables sets, DNS-watch lists and MQTT/CoAP access
//! checks, and prints it for `steward explain` and `steward policy plan`.
//!
//! # The rule
//!
//! effective policy = zone baseline + (MUD rules ∩ consent), explicit denies winning.
//!
//! - A device's zone gives a baseline of capabilities ([`ZoneConfig`];
//!   built in: `trusted`, `restricted` where unknown devices land, `quarantine`).
//! - Consent rules ([`ConsentRule`]) grant more capabilities to devices that
//!   match a [`Selector`], and may deny capabilities or traffic.
//! - The `mud` capability admits the device's MUD rules; MUD rules naming other
//!   local devices (`same-manufacturer`, `manufacturer`, `model`,
//!   `local-networks`) are admitted only for peers a `lateral:` grant also
//!   covers. Everything not admitted is listed as [`Withheld`], with the reason.
//!
//! # Layout
//!
//! | module | what lives there |
//! |---|---|
//! | [`config`] | zones, consent rules, capabilities, denies, the site (serde / TOML) |
//! | [`input`] | devices and MUD policies, as the gateway hands them in |
//! | [`effective`] | [`compile()`]: bound rules with provenance, shared device groups |
//! | [`messaging`] | MQTT topics / CoAP paths derived from the grants |
//! | [`explain`](mod@explain) | verdict for one destination, the policy in words |
//! | [`plan`](mod@plan) | what each device gains and loses between two inputs |
//! | [`error`] | [`PolicyError`] |
//!
//! # For the gateway
//!
//! ```text
//! let compiled = policy::compile(&inputs)?;              // on every change
//! compiled.policy(id)?.rules / .messaging                  // enforcement, MQTT ACL
//! compiled.explain(id, &"api.example.com:443/tcp".parse()?)?  // steward explain --to
//! compiled.describe(id)?                                   // steward explain
//! policy::plan(&old_inputs, &new_inputs)?.to_text()        // steward policy plan
//! ```

pub mod config;
pub mod effective;
pub mod error;
pub mod explain;
pub mod input;
pub mod messaging;
pub mod plan;

pub use config::{
    Capability, CapabilityKind, ConsentRule, Deny, Grade, L4, LateralSelector, PolicyConfig,
    Prefix, Rate, Selector, Site, Strength, ZoneConfig,
};
pub use effective::{
    Action, Compiled, EffectivePolicy, Endpoint, Flow, Grant, Group, NetRule, Source, Withheld,
    compile,
};
pub use error::PolicyError;
pub use explain::{Destination, Explanation, Host};
pub use input::{Device, Inputs};
pub use messaging::MessagingAcl;
pub use plan::{DeviceChange, Plan, diff, plan};
