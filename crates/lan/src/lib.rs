//! The wire logic of Steward's LAN services, with no I/O: bytes in, decisions out.
//! The gateway (`crates/steward/src/enforce/{dns,dhcp}.rs`) owns the sockets, the
//! store and the registry.
//!
//! # Layout
//!
//! | module | what lives there |
//! |---|---|
//! | [`dns`] | a device's query checked, the upstream query built, the upstream answer checked, its addresses extracted (CNAME chain, a cap) and the answer shaped for the device (TC when too big) |

pub mod dns;
