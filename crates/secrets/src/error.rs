//! Why a secret could not be fetched: a stable code (it becomes `lastStatus.code`) and a
//! message that says what to fix. Never a secret's value.

/// A failed fetch.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct FetchError {
    /// `FileUnreadable`, `VaultUnreachable`, `Unauthorized`, `SecretNotFound`,
    /// `TokenUnavailable`, `InvalidSecret`, ...
    pub code: String,
    /// What happened and what to change.
    pub message: String,
}

impl FetchError {
    pub(crate) fn new(code: &str, message: impl Into<String>) -> Self {
        Self {
            code: code.to_owned(),
            message: message.into(),
        }
    }
}
