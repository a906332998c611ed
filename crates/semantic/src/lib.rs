//! Semantics for Steward, with no I/O: W3C Web of Things Thing Models and Thing
//! Descriptions (TD 1.1), import of IETF SDF models, and export of NGSI-LD
//! entities (ETSI GS CIM 009) in the FIWARE Smart Data Models vocabulary — all
//! from plain data, and all checked against the standards' own JSON Schemas,
//! shipped in `data/` and resolved offline.
//!
//! # Layout
//!
//! - `thing.rs`: [`ThingSpec`] (a model's properties and actions), [`thing_model`],
//!   [`thing_description`] with forms on the gateway's [`Endpoints`] in the
//!   model's [`PayloadFormat`];
//! - `validate.rs`: [`WotValidator`] (TD/TM schema + security-name rules), the
//!   offline `$ref` retriever, the compiled-schema wrapper;
//! - `sdf.rs`: [`SdfImporter`]: SDF → a model name and a [`ThingSpec`];
//! - `ngsi.rs`: [`Mapping`] (what a model declares for NGSI-LD), [`Exporter`]
//!   (entities from readings, checked against the Smart Data Models schemas);
//! - `units.rs`: SenML units → UN/CEFACT common codes;
//! - `error.rs`: [`SemanticError`], [`Problem`].

mod error;
pub mod ngsi;
pub mod sdf;
pub mod thing;
pub mod units;
pub mod validate;

pub use error::{Problem, SemanticError};
pub use ngsi::{Entity, Exporter, Mapping, NotExported};
pub use sdf::{Imported, SdfImporter};
pub use thing::{
    ActionSpec, DataType, DeviceInfo, Endpoints, ModelInfo, PayloadFormat, PropertySpec, ThingSpec,
    thing_description, thing_model,
};
pub use validate::WotValidator;

/// The value of a reading, as far as semantics care.
#[derive(Debug, Clone, PartialEq)]
pub enum ObservedValue {
    Number(f64),
    Bool(bool),
    String(String),
    /// Binary data (not exported to NGSI-LD).
    Data,
}

/// A device's latest reading of one name.
#[derive(Debug, Clone, PartialEq)]
pub struct Observed {
    pub name: String,
    pub unit: Option<String>,
    pub value: ObservedValue,
    /// Seconds since the epoch.
    pub time: f64,
}

impl ObservedValue {
    /// The property type a reading of this value has.
    pub fn data_type(&self) -> DataType {
        match self {
            ObservedValue::Number(_) => DataType::Number,
            ObservedValue::Bool(_) => DataType::Boolean,
            ObservedValue::String(_) => DataType::String,
            ObservedValue::Data => DataType::Data,
        }
    }
}
