//! Enforcement on the network, when Steward is the router between the devices'
//! LAN and the uplink.
//!
//! - `dns.rs`: the devices' DNS forwarder; answers feed a [`dns::ResolvedSink`]
//!   (the devices' nftables sets of allowed names).

pub mod dns;
