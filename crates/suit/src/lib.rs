//! SUIT firmware-update envelopes and manifests (RFC 9019 architecture,
//! RFC 9124 information model, CBOR format of draft-ietf-suit-manifest-33),
//! with the MUD URL extension of draft-ietf-suit-mud. No I/O: bytes and PEM
//! text in, plain data out.
//!
//! # What a caller does
//!
//! - **Verify** an uploaded envelope against a maker's key:
//!   [`verify`]`(bytes, &key)` → [`Envelope`]; then
//!   [`Envelope::check_payload`] against the payload bytes.
//! - **Show** an envelope: [`decode`] (unauthenticated) or [`verify`], then
//!   [`Envelope::summary`] → [`Summary`] (serde-serialisable for `--json`,
//!   `Display` for humans).
//! - **Build and sign**: [`build`]`(&BuildRequest, &SigningKey)` → envelope bytes.
//!
//! # Layout
//!
//! - `cbor.rs` — bounded CBOR pull decoder (depth, item and length limits) and a
//!   small deterministic encoder.
//! - `cose.rs` — COSE_Sign1 verify/sign over `coset`, keys (ES256, EdDSA) from PEM.
//! - `manifest.rs` — the typed manifest: digests, components, parameters,
//!   commands, severable members, text, MUD container; all CBOR labels in
//!   `manifest::keys`.
//! - `decode.rs` — CBOR values → typed manifest, with the draft's rules for
//!   unknown elements.
//! - `envelope.rs` — the envelope, the authentication wrapper, [`decode`] and
//!   [`verify`].
//! - `build.rs` — [`build`]: a single-component manifest, signed.
//! - `show.rs` — [`Summary`]: what an operator or maker needs to see.
//!
//! Errors: one enum, [`SuitError`].

mod build;
pub mod cbor;
pub mod cose;
mod decode;
mod envelope;
mod error;
pub mod manifest;
mod show;

pub use build::{BuildRequest, build};
pub use cbor::Limits;
pub use cose::{SigAlgorithm, SigningKey, VerifyingKey};
pub use envelope::{Envelope, decode, decode_with_limits, verify, verify_with_limits};
pub use error::SuitError;
pub use manifest::{DigestAlgorithm, Manifest, SuitDigest};
pub use show::{ComponentSummary, Summary};
