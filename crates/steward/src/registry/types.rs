//! The registry's plain data: devices, models, identities, and the readings they send.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// How sure Steward is of who a device is (design doc, "identity strength").
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Strength {
    Observed,
    Declared,
    Token,
    Certificate,
}

impl Strength {
    pub fn as_str(self) -> &'static str {
        match self {
            Strength::Observed => "observed",
            Strength::Declared => "declared",
            Strength::Token => "token",
            Strength::Certificate => "certificate",
        }
    }
    pub fn parse(s: &str) -> Option<Strength> {
        Some(match s {
            "observed" => Strength::Observed,
            "declared" => Strength::Declared,
            "token" => Strength::Token,
            "certificate" => Strength::Certificate,
            _ => return None,
        })
    }
}

/// What kind of identifier an [`Identity`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum IdentityKind {
    /// SHA-256 fingerprint (hex) of a client certificate's DER.
    CertSha256,
    /// SHA-256 (hex) of an access token; the token itself is never stored.
    TokenSha256,
    /// A MAC address (lower-case, colon-separated) seen in DHCP: spoofable.
    Mac,
    /// The IPv4 address the device holds a lease for (moves with the lease).
    Ip,
    /// SHA-256 (hex) of the device's current DTLS pre-shared key (CoAP over DTLS,
    /// RFC 7925); the PSK identity is the device id. The key is derived again from the
    /// gateway's secret when needed, never stored.
    Psk,
}

impl IdentityKind {
    pub fn as_str(self) -> &'static str {
        match self {
            IdentityKind::CertSha256 => "cert-sha256",
            IdentityKind::TokenSha256 => "token-sha256",
            IdentityKind::Mac => "mac",
            IdentityKind::Ip => "ip",
            IdentityKind::Psk => "psk",
        }
    }
    pub fn parse(s: &str) -> Option<IdentityKind> {
        match s {
            "cert-sha256" => Some(IdentityKind::CertSha256),
            "token-sha256" => Some(IdentityKind::TokenSha256),
            "mac" => Some(IdentityKind::Mac),
            "ip" => Some(IdentityKind::Ip),
            "psk" => Some(IdentityKind::Psk),
            _ => None,
        }
    }
    pub fn strength(self) -> Strength {
        match self {
            IdentityKind::CertSha256 => Strength::Certificate,
            IdentityKind::Mac => Strength::Declared,
            IdentityKind::Ip => Strength::Observed,
            // A shared secret that the gateway knows too, like a token: weaker than a
            // key only the device holds.
            IdentityKind::TokenSha256 | IdentityKind::Psk => Strength::Token,
        }
    }
}

/// One identifier of a device.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Identity {
    pub kind: IdentityKind,
    pub value: String,
    pub strength: Strength,
    pub created: f64,
    /// Certificate subject or token label, for people.
    pub label: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum DeviceStatus {
    Active,
    Revoked,
}

/// A thing on the network.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Device {
    pub id: String,
    pub name: String,
    pub model: String,
    pub zone: String,
    pub status: DeviceStatus,
    pub created: f64,
    pub last_seen: Option<f64>,
    pub firmware_version: Option<String>,
    pub tags: Vec<String>,
    pub identities: Vec<Identity>,
    /// The strongest identity the device holds.
    pub strength: Option<Strength>,
}

/// Manufacturer + model name, with what Steward needs to know about that kind of device.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Model {
    pub id: String,
    pub manufacturer: String,
    pub name: String,
    pub mud_url: Option<String>,
    /// How this model's payloads become readings, e.g. `{"kind": "senml"}` (the
    /// default), `{"kind": "cayenne-lpp"}`, `{"kind": "lwm2m"}` or
    /// `{"kind": "json-map", "readings": [...]}`.
    #[schema(value_type = Object)]
    pub decoder: payload::Decoder,
    pub created: f64,
}

/// The value of a reading, named as in SenML.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub enum ReadingValue {
    #[serde(rename = "v")]
    Number(f64),
    #[serde(rename = "vs")]
    String(String),
    #[serde(rename = "vb")]
    Bool(bool),
    /// base64url, as SenML JSON writes data values.
    #[serde(rename = "vd")]
    Data(String),
}

/// One normalized SenML record attached to a device.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Reading {
    pub device_id: String,
    /// SenML name (base name applied).
    #[serde(rename = "n")]
    pub name: String,
    #[serde(rename = "u", skip_serializing_if = "Option::is_none")]
    pub unit: Option<String>,
    #[serde(flatten)]
    pub value: Option<ReadingValue>,
    #[serde(rename = "s", skip_serializing_if = "Option::is_none")]
    pub sum: Option<f64>,
    /// Absolute time, seconds since the epoch.
    #[serde(rename = "t")]
    pub time: f64,
    /// When Steward received it.
    pub received: f64,
}

/// A DHCP lease of a device: from Steward's own DHCP server, or reported by the
/// network's DHCP server (`POST /api/v1/leases`). Keeps what the device declared.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Lease {
    pub ip: String,
    pub mac: String,
    /// DHCP client identifier (option 61), hex.
    pub client_id: Option<String>,
    pub device_id: String,
    pub hostname: Option<String>,
    pub vendor_class: Option<String>,
    /// The MUD URL from option 161 (RFC 8520 §10), when it was valid.
    pub mud_url: Option<String>,
    /// Why an option 161 the device sent was not taken.
    pub mud_url_error: Option<String>,
    pub expires: f64,
    pub updated: f64,
    /// `dhcp` (Steward's server) or `api` (another server's lease event).
    pub source: String,
}
