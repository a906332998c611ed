//! The crate's one error enum. Every variant names the input that was wrong and
//! says what to do about it.

/// Why the policy engine refused an input.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    /// A capability string in a zone or consent rule could not be read.
    #[error(
        "capability '{value}': {reason} (expected mud, dns, ntp, updates, telemetry, commands, internet[:PORT[/tcp|udp]][@RATE] or lateral:SELECTOR)"
    )]
    Capability { value: String, reason: String },
    /// A deny entry could not be read.
    #[error(
        "deny '{value}': {reason} (expected a capability name, or HOST|PREFIX|*[:PORT][/tcp|udp])"
    )]
    Deny { value: String, reason: String },
    /// A `lateral:` selector could not be read.
    #[error(
        "lateral selector '{value}': {reason} (expected any, same-manufacturer, same-model, zone=, maker=, model=, tag=, device=, joined by commas)"
    )]
    Selector { value: String, reason: String },
    /// A rate limit could not be read.
    #[error("rate '{value}': {reason} (expected e.g. 256kbit/s, 2mbit/s)")]
    Rate { value: String, reason: String },
    /// An address or prefix in the site configuration could not be read.
    #[error("address '{value}': {reason}")]
    Prefix { value: String, reason: String },
    /// The configuration is consistent field by field but not as a whole.
    #[error("policy configuration: {0}")]
    Config(String),
    /// Two devices in the input share an id.
    #[error("device id '{0}' appears more than once in the input; ids must be unique")]
    DuplicateDevice(String),
    /// A question about a device the inputs do not hold.
    #[error("no device '{0}' in the policy inputs (check the id with `steward device list`)")]
    UnknownDevice(String),
    /// An `explain` destination could not be read.
    #[error(
        "destination '{value}': {reason} (expected HOST[:PORT][/tcp|udp], e.g. api.example.com:443/tcp)"
    )]
    Destination { value: String, reason: String },
}
