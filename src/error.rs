//! The one error type of the crate, and the problems that an answer reports.
//!
//! Every variant carries a message that names what to fix. None of them ever carries a request body or a
//! Secret value: messages are built from field paths and from values the user wrote in the parent's spec.

/// `Result` with the crate's [`Error`] as the default error type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Why a hook call could not be answered with the full desired state.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum Error {
    /// The request is not a Metacontroller hook request (HTTP 400).
    #[error("malformed request: {0}")]
    BadRequest(String),

    /// The parent's spec breaks a rule of the API (HTTP 422). `field` is the JSON path to fix.
    #[error("{field}: {message}")]
    Invalid { field: String, message: String },

    /// A bug: an invariant did not hold (HTTP 500).
    #[error("internal error: {0}")]
    Internal(String),
}

impl Error {
    /// An [`Error::Invalid`] for `field`.
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Invalid {
            field: field.into(),
            message: message.into(),
        }
    }

    /// A short, stable name of the error's kind, for metrics and logs.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::BadRequest(_) => "bad_request",
            Self::Invalid { .. } => "invalid_spec",
            Self::Internal(_) => "internal",
        }
    }
}

/// What is wrong with the parent's inputs or what it asks of the children, while the hook still answers: a
/// referenced object that is missing or unusable, a volume that cannot change size, an object in a child's way.
/// Status reports it as the `Degraded` condition until it is fixed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The condition reason, such as `ConfigMapNotFound`.
    pub reason: &'static str,
    /// What to fix, naming the object and key.
    pub message: String,
}
