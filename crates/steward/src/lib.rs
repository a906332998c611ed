//! Steward
