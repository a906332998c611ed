//! Storage behind one trait, so the embedded SQLite store and a shared PostgreSQL
//! store (for multi-site deployments, later) serve the same code and tests.
//!
//! - `sqlite.rs`: the embedded store (one file, WAL).
//! - `commit.rs`: the group committer that batches many devices' readings per
//!   transaction and answers each submitter only after the commit is durable.

pub mod commit;
pub mod sqlite;
#[cfg(test)]
mod tests;

use crate::registry::{Device, DeviceStatus, Identity, IdentityKind, Lease, Model, Reading};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("store file {path}: {source}")]
    Io {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    #[error("conflict: {0}")]
    Conflict(String),
    #[error("corrupt row in {table}: {reason}")]
    Corrupt { table: &'static str, reason: String },
    #[error("the store is shutting down")]
    Closed,
}

/// One change to the registry that running servers must act on.
#[derive(Debug, Clone, PartialEq)]
pub struct RegistryEvent {
    pub seq: i64,
    pub device_id: String,
    pub kind: String,
}

/// Filter for reading queries.
#[derive(Debug, Clone, Default)]
pub struct ReadingQuery {
    pub device_id: String,
    pub name: Option<String>,
    pub since: Option<f64>,
    pub until: Option<f64>,
    pub limit: usize,
}

/// What the `semantic` layer keeps for one model (JSON text, checked before it is
/// stored): its thing spec and its NGSI-LD mapping.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ModelSemanticsRow {
    pub model_id: String,
    pub thing: Option<String>,
    pub ngsi: Option<String>,
}

pub trait Store: Send + Sync + 'static {
    // --- models ---
    fn insert_model(&self, model: &Model) -> Result<(), StoreError>;
    fn model_by_name(&self, name: &str) -> Result<Option<Model>, StoreError>;
    fn models(&self) -> Result<Vec<Model>, StoreError>;
    fn update_model(&self, model: &Model) -> Result<(), StoreError>;
    /// Refused (conflict) while devices of that model exist.
    fn delete_model(&self, name: &str) -> Result<(), StoreError>;

    // --- devices and identities ---
    fn insert_device(&self, device: &Device) -> Result<(), StoreError>;
    /// By id or by name.
    fn device(&self, id_or_name: &str) -> Result<Option<Device>, StoreError>;
    fn devices(&self) -> Result<Vec<Device>, StoreError>;
    fn update_device(&self, device: &Device) -> Result<(), StoreError>;
    /// Also records a registry event, in the same transaction.
    fn set_status(&self, device_id: &str, status: DeviceStatus) -> Result<(), StoreError>;
    /// Also records a registry event, in the same transaction.
    fn delete_device(&self, device_id: &str) -> Result<(), StoreError>;
    fn add_identity(&self, device_id: &str, identity: &Identity) -> Result<(), StoreError>;
    fn identity_owner(&self, kind: IdentityKind, value: &str)
    -> Result<Option<String>, StoreError>;

    // --- registry events (cross-process notification) ---
    fn events_since(&self, seq: i64) -> Result<Vec<RegistryEvent>, StoreError>;
    fn last_event(&self) -> Result<i64, StoreError>;

    // --- settings and secrets' hashes ---
    fn meta(&self, key: &str) -> Result<Option<String>, StoreError>;
    fn set_meta(&self, key: &str, value: &str) -> Result<(), StoreError>;

    // --- readings ---
    /// Write all readings in one durable transaction, and mark the devices seen.
    fn commit_readings(&self, readings: &[Reading]) -> Result<(), StoreError>;
    fn readings(&self, q: &ReadingQuery) -> Result<Vec<Reading>, StoreError>;
    /// The newest reading of each name of one device.
    fn latest(&self, device_id: &str) -> Result<Vec<Reading>, StoreError>;
    fn count_readings(&self) -> Result<u64, StoreError>;

    // --- dhcp leases (enforce::dhcp) ---
    /// Record a lease, in one transaction: the lease row (replacing any other lease
    /// of that address), the device's IP identity moved to this address, and a
    /// `lease` registry event for running servers.
    fn put_lease(&self, lease: &Lease) -> Result<(), StoreError>;
    fn leases(&self) -> Result<Vec<Lease>, StoreError>;
    /// The newest lease of a device (its MAC, hostname, vendor class, MUD URL).
    fn device_lease(&self, device_id: &str) -> Result<Option<Lease>, StoreError>;
    /// Forget the lease of an address (released, or deleted by the other server);
    /// drops the IP identity that pointed at it.
    fn delete_lease(&self, ip: &str) -> Result<(), StoreError>;

    /// Start background upkeep (for SQLite: WAL checkpoints off the commit path).
    /// Only a long-running server calls this.
    fn start_maintenance(&self) -> Result<(), StoreError> {
        Ok(())
    }

    // --- coap ---
    /// Replace the device's identities of `identity.kind` by this one, in one
    /// transaction (a newly issued PSK invalidates the previous one).
    fn replace_identity(&self, device_id: &str, identity: &Identity) -> Result<(), StoreError>;

    // --- policy (netpolicy) ---
    /// Replace a device's static addresses (IPs and MACs, as text), recording an
    /// `addresses` registry event in the same transaction.
    fn set_static_addresses(&self, device_id: &str, addrs: &[String]) -> Result<(), StoreError>;
    /// Every static address: (device id, address).
    fn static_addresses(&self) -> Result<Vec<(String, String)>, StoreError>;
    /// Make `config_json` the applied policy configuration, write its audit
    /// entry and a `policy` registry event, in one transaction; returns the entry's seq.
    fn apply_policy(&self, config_json: &str, entry: &PolicyAudit) -> Result<i64, StoreError>;
    /// The applied policy configuration (JSON), if one was ever applied.
    fn applied_policy(&self) -> Result<Option<String>, StoreError>;
    fn append_policy_audit(&self, entry: &PolicyAudit) -> Result<i64, StoreError>;
    /// The newest `limit` audit entries, newest first.
    fn policy_audit(&self, limit: usize) -> Result<Vec<PolicyAudit>, StoreError>;
    /// Record the outcome of fetching a MUD file: its compiled policy (JSON) when
    /// it verified, else the error.
    fn put_mud_result(&self, m: &MudRecord) -> Result<(), StoreError>;
    fn mud_results(&self) -> Result<Vec<MudRecord>, StoreError>;
    /// (device, MUD URL) of devices whose installed firmware's SUIT manifest
    /// carried a MUD URL (draft-ietf-suit-mud), written by the update service
    /// when the device reports success; empty before any update ran.
    fn firmware_mud_urls(&self) -> Result<Vec<(String, String)>, StoreError>;

    // --- semantic ---
    /// A model's thing spec and NGSI-LD mapping (JSON), kept beside the model and
    /// deleted with it.
    fn model_semantics(&self, model_id: &str) -> Result<Option<ModelSemanticsRow>, StoreError>;
    fn set_model_semantics(&self, row: &ModelSemanticsRow, now: f64) -> Result<(), StoreError>;
    fn all_model_semantics(&self) -> Result<Vec<ModelSemanticsRow>, StoreError>;
}

/// One entry of the policy audit log: what changed, why, when, by whom.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct PolicyAudit {
    pub seq: i64,
    /// Seconds since the epoch.
    pub time: f64,
    /// `cli:USER`, `admin-token:HASH-PREFIX`, or `steward` (start-up).
    pub actor: String,
    /// `initial`, `apply`, `address`.
    pub action: String,
    pub reason: String,
    /// The plan in words (which devices gain or lose what).
    pub summary: String,
}

/// The last fetch of one MUD URL.
#[derive(Debug, Clone, PartialEq)]
pub struct MudRecord {
    pub url: String,
    /// `mud::DevicePolicy` as JSON, when the file verified.
    pub policy: Option<String>,
    pub error: Option<String>,
    /// When it was fetched, and until when it is good (cache-validity).
    pub fetched: f64,
    pub fresh_until: f64,
}
