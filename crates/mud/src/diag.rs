//! Diagnostics: an error or warning that names the place in the MUD file it is about.
//!
//! Places are written as JSON Pointers (RFC 6901), e.g.
//! `/ietf-access-control-list:acls/acl/0/aces/ace/1/matches/tcp/source-port/port`,
//! so a user can find the offending member with any JSON tool.

use serde::{Deserialize, Serialize};
use std::fmt;

/// How bad a diagnostic is. Errors make a file invalid; warnings do not.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Error,
    Warning,
}

/// One finding about a MUD file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Diagnostic {
    pub severity: Severity,
    /// JSON Pointer (RFC 6901) to the member concerned; `""` is the whole document.
    pub path: String,
    /// What was wrong and what was expected.
    pub message: String,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sev = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        let path = if self.path.is_empty() {
            "/"
        } else {
            &self.path
        };
        write!(f, "{sev}: {path}: {}", self.message)
    }
}

/// A JSON Pointer under construction.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct JsonPath(String);

impl JsonPath {
    pub(crate) fn root() -> Self {
        JsonPath(String::new())
    }

    /// The pointer to member `key` of this object (RFC 6901 §3 escaping).
    pub(crate) fn key(&self, key: &str) -> Self {
        let mut s = String::with_capacity(self.0.len() + key.len() + 1);
        s.push_str(&self.0);
        s.push('/');
        for c in key.chars() {
            match c {
                '~' => s.push_str("~0"),
                '/' => s.push_str("~1"),
                c => s.push(c),
            }
        }
        JsonPath(s)
    }

    /// The pointer to element `i` of this array.
    pub(crate) fn idx(&self, i: usize) -> Self {
        JsonPath(format!("{}/{i}", self.0))
    }

    pub(crate) fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for JsonPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Collects diagnostics, bounded so that a hostile file cannot make us build
/// millions of messages.
#[derive(Debug, Default)]
pub(crate) struct Sink {
    pub(crate) items: Vec<Diagnostic>,
    errors: usize,
    dropped: usize,
}

/// At most this many diagnostics are kept per file.
const MAX_DIAGNOSTICS: usize = 200;

impl Sink {
    pub(crate) fn push(&mut self, severity: Severity, path: &JsonPath, message: impl Into<String>) {
        if severity == Severity::Error {
            self.errors += 1;
        }
        if self.items.len() >= MAX_DIAGNOSTICS {
            self.dropped += 1;
            return;
        }
        self.items.push(Diagnostic {
            severity,
            path: path.as_str().to_owned(),
            message: message.into(),
        });
    }

    pub(crate) fn error(&mut self, path: &JsonPath, message: impl Into<String>) {
        self.push(Severity::Error, path, message);
    }

    pub(crate) fn warn(&mut self, path: &JsonPath, message: impl Into<String>) {
        self.push(Severity::Warning, path, message);
    }

    pub(crate) fn has_errors(&self) -> bool {
        self.error_count() > 0
    }

    pub(crate) fn error_count(&self) -> usize {
        self.errors
    }

    /// Hands over the diagnostics, with a final note if some were dropped.
    pub(crate) fn finish(mut self) -> Vec<Diagnostic> {
        if self.dropped > 0 {
            self.items.push(Diagnostic {
                severity: Severity::Error,
                path: String::new(),
                message: format!(
                    "{} more diagnostics were not recorded; fix the ones above first",
                    self.dropped
                ),
            });
        }
        self.items
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pointer_escaping() {
        let p = JsonPath::root().key("a/b").key("c~d").idx(3);
        assert_eq!(p.as_str(), "/a~1b/c~0d/3");
    }
}
