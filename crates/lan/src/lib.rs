//! The wire logic of Steward's LAN services, with no I/O: bytes in, decisions out.
//! The gateway (`crates/steward/src/enforce/{dns,dhcp,ntp}.rs`) owns the sockets, the
//! store and the registry.
//!
//! # Layout
//!
//! | module | what lives there |
//! |---|---|
//! | [`dhcp`] | a DHCPv4 request read (hostname, vendor class, client id, MUD URL from option 161) and a reply built |
//! | [`dhcp::pool`] | the lease pool: offers, bindings, renewals, reservations, expiry, exhaustion |
//! | [`dns`] | a device's query checked, the upstream query built, the upstream answer checked, its addresses extracted (CNAME chain, a cap) and the answer shaped for the device (TC when too big) |
//! | [`ntp`] | the SNTPv4 header read and written, a client request checked (mode 3, 48 bytes), the server reply built |

pub mod dhcp;
pub mod dns;
pub mod ntp;
