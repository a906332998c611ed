//! Steward, the open IoT gateway.
//!
//! # Layout
//! - [`config`]: settings, defaults, the commented template.
//! - [`clock`]: time as a dependency.
//! - [`registry`]: devices, models, identities (the words of the design doc).
//! - [`pki`]: Steward's certificate authority and TLS configuration.
//! - [`store`]: the storage trait, the SQLite store, the group committer.
//! - [`ingest`]: telemetry in: decode, commit, acknowledge; `ingest::mqtt` is the broker.
//! - [`enforce`]: enforcement on the network: the devices' DNS forwarder and DHCP server.
//! - [`api`]: the HTTP API (operator and device), SSE, OpenAPI, metrics endpoint.
//! - [`metrics`]: Prometheus metrics.
//! - [`netpolicy`]: the policy engine fed from the registry and MUD files; plan, apply, audit.
//! - [`enforce`]: nftables on the router, the devices' DNS forwarder and DHCP server.
//! - [`semantics`]: thing models, thing descriptions, SDF import, NGSI-LD export
//!   (over the `semantic` crate) and where a model keeps them.
//! - [`server`]: wiring and shutdown.
//! - [`updates`]: firmware updates: SUIT uploads, campaigns, the device agent.
//! - [`demo`]: the simulated city fleet of `steward demo`.
//! - [`cli`]: the command line.

pub mod api;
pub mod cli;
pub mod clock;
pub mod config;
pub mod demo;
pub mod enforce;
pub mod ingest;
pub mod metrics;
pub mod netpolicy;
pub mod pki;
pub mod registry;
pub mod semantics;
pub mod server;
pub mod store;
pub mod updates;
