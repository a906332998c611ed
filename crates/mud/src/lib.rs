//! Manufacturer Usage Descriptions (RFC 8520, with the ACL model of RFC 8519):
//! the maker's half of "consent in advance".
//!
//! The crate does no I/O: it takes bytes and returns data. Sockets, files and
//! firewalls belong to the gateway (`crates/steward`). The one exception is the
//! `fetch` feature (off by default), an HTTPS client for MUD files and signatures.
//!
//! # Layout
//!
//! | module | what lives there |
//! |---|---|
//! | [`model`] | the typed MUD file: `ietf-mud:mud` container, ACLs, ACEs, matches; writing it back as JSON |
//! | [`parse`] | bytes → model, strict or lenient, with [`Limits`]; errors carry JSON paths |
//! | [`validate`] | cross-checks: policy ↔ ACL references, ACE consistency, mud-url rules |
//! | [`compile`] | model → [`DevicePolicy`]: abstract rules with provenance, and the human summary |
//! | [`signature`] | CMS signature verify/sign (OpenSSL), `.p7s` URL derivation (RFC 8520 §13) |
//! | [`source`] | where MUD URLs come from: X.509 extensions, DHCPv4 option 161, DHCPv6 option 112 |
//! | `fetch` | (feature `fetch`) HTTPS fetching of files and signatures, with a cache honouring cache-validity |
//! | [`builder`] | a new MUD file from a maker's few facts (`steward mud new`) |
//! | `learn` | (feature `learn`) a MUD file from a packet capture (`steward mud learn`) |
//! | [`check`](mod@check) | the one-call pipeline behind `steward mud check` / `show` |
//!
//! # For the CLI
//!
//! - `check`: [`check()`] with [`CheckOptions`]; print [`Report::to_text`] or
//!   serialise the [`Report`] with serde; exit 0 when [`Report::valid`].
//! - `sign`: [`signature::sign`].
//! - `new`: [`builder::NewMud`] → [`MudFile::to_json_bytes`].
//! - `learn`: `learn::learn` (feature `learn`).
//! - `show URL`: `fetch::Fetcher` (feature `fetch`), then [`check()`] with the
//!   fetched signature and `fetched_from` set.

pub mod builder;
pub mod check;
pub mod compile;
pub mod diag;
#[cfg(feature = "fetch")]
pub mod fetch;
#[cfg(feature = "learn")]
pub mod learn;
pub mod model;
pub mod parse;
pub mod signature;
pub mod source;
pub mod validate;

pub use check::{CheckOptions, Report, SignatureStatus, UnsignedPolicy, check};
pub use compile::{
    Action, CompileError, DevicePolicy, IpVersion, Peer, Protocol, Provenance, Rule, compile,
};
pub use diag::{Diagnostic, Severity};
pub use model::MudFile;
pub use parse::{Limits, Mode, ParseError, ParseOptions, Parsed, parse};
pub use signature::{SignatureError, SignatureInfo, TrustAnchors};
