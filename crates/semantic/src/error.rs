//! [`SemanticError`]: the one error type of the crate. Every variant names the
//! input that is wrong (file, field, JSON pointer) and says what to do.

/// One schema or rule violation, at a JSON pointer into the checked document.
#[derive(Debug, Clone, PartialEq)]
pub struct Problem {
    /// JSON pointer into the document (`""` for the root).
    pub at: String,
    pub message: String,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let at = if self.at.is_empty() { "/" } else { &self.at };
        write!(f, "at {at}: {}", self.message)
    }
}

/// Join problems for an error message (at most `n`, then a count of the rest).
pub(crate) fn list(problems: &[Problem], n: usize) -> String {
    let mut s: Vec<String> = problems.iter().take(n).map(|p| p.to_string()).collect();
    if problems.len() > n {
        s.push(format!("and {} more", problems.len() - n));
    }
    s.join("; ")
}

#[derive(Debug, thiserror::Error)]
pub enum SemanticError {
    /// A schema shipped with the crate does not compile (a bug, not user input).
    #[error("built-in schema {name}: {reason}")]
    Schema { name: &'static str, reason: String },
    /// A Thing Description (or Thing Model) is not valid.
    #[error("{what} is not valid: {}", list(.problems, 5))]
    Invalid {
        what: String,
        problems: Vec<Problem>,
    },
    /// An SDF document cannot be imported.
    #[error("SDF {origin}: {reason}")]
    Sdf { origin: String, reason: String },
    /// An NGSI-LD mapping declaration is wrong.
    #[error("NGSI-LD mapping: {field}: {reason}")]
    Mapping { field: String, reason: String },
    /// A thing description input (model, device, endpoints) is wrong.
    #[error("thing description input: {field}: {reason}")]
    Input { field: &'static str, reason: String },
}
