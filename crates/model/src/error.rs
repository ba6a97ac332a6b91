//! The model's one error type: a refusal a person can act on.

use std::fmt;

/// The code of a refused value that asks for behaviour Gatehouse does not have yet (an API
/// that requires subscription keys, a policy that follows redirects): the value is refused
/// with this code at save, never stored and ignored.
pub const NOT_SUPPORTED: &str = "NotSupported";

/// One problem inside a refused change: what, where, and why.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Detail {
    /// Stable machine-readable code, e.g. `CertificateNotFound`.
    pub code: String,
    /// Where the problem is: a JSON path (`properties.tls.caCertificateIds[0]`) or a policy
    /// element (`policies/inbound/authentication-certificate[1] (line 3, column 9)`).
    pub target: String,
    /// What is wrong and how to fix it.
    pub message: String,
}

impl Detail {
    /// Builds a detail from its three parts.
    pub fn new(
        code: impl Into<String>,
        target: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        Self {
            code: code.into(),
            target: target.into(),
            message: message.into(),
        }
    }
}

/// Why a change to the configuration is refused.
///
/// Every variant maps to one HTTP status in the management API (400, 404, 409); the mapping
/// lives there, the words live here.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    /// The input is invalid (400).
    #[error("{message}")]
    Invalid {
        /// Stable code, e.g. `ValidationError`, `PasswordIncorrect`.
        code: String,
        /// Summary for a person.
        message: String,
        /// Each problem found, when there are several or a location helps.
        details: Vec<Detail>,
    },
    /// The entity, or one it needs, does not exist (404).
    #[error("{kind} '{id}' was not found")]
    NotFound {
        /// What kind of entity, in words (`certificate`, `API`).
        kind: &'static str,
        /// Its id.
        id: String,
    },
    /// A fault of the server, not of the request (500): a store row that does not decode, a
    /// seal that fails. Logged where it is turned into a response.
    #[error("{message}")]
    Internal {
        /// What failed, for the log.
        message: String,
    },
    /// The change conflicts with another entity (409): in use, or a duplicate.
    #[error("{message}")]
    Conflict {
        /// Stable code, e.g. `CertificateInUse`.
        code: String,
        /// Summary naming what conflicts.
        message: String,
        /// The conflicting references.
        details: Vec<Detail>,
    },
}

impl ModelError {
    /// A 500 with a message for the log.
    pub fn internal(message: impl Into<String>) -> Self {
        Self::Internal {
            message: message.into(),
        }
    }

    /// A 400 with one message and no details.
    pub fn invalid(code: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Invalid {
            code: code.into(),
            message: message.into(),
            details: Vec::new(),
        }
    }

    /// A 400 for one field, with the field named as the detail's target.
    pub fn invalid_field(
        code: impl Into<String>,
        target: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        let (code, target, message) = (code.into(), target.into(), message.into());
        Self::Invalid {
            details: vec![Detail::new(code.clone(), target.clone(), message.clone())],
            code,
            message: format!("{target}: {message}"),
        }
    }

    /// The stable machine-readable code of this error.
    pub fn code(&self) -> &str {
        match self {
            Self::Invalid { code, .. } | Self::Conflict { code, .. } => code,
            Self::NotFound { .. } => "ResourceNotFound",
            Self::Internal { .. } => "InternalError",
        }
    }

    /// The details list (empty when the message says it all).
    pub fn details(&self) -> &[Detail] {
        match self {
            Self::Invalid { details, .. } | Self::Conflict { details, .. } => details,
            Self::NotFound { .. } | Self::Internal { .. } => &[],
        }
    }
}

/// Collects several problems so one answer names them all.
#[derive(Debug, Default)]
pub struct Problems(Vec<Detail>);

impl Problems {
    /// Records a problem.
    pub fn push(
        &mut self,
        code: impl Into<String>,
        target: impl Into<String>,
        message: impl Into<String>,
    ) {
        self.0.push(Detail::new(code, target, message));
    }

    /// Records every problem of another collection.
    pub fn extend(&mut self, details: impl IntoIterator<Item = Detail>) {
        self.0.extend(details);
    }

    /// Whether nothing was recorded.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// `Ok(())` when empty, otherwise a 400 whose code and message come from the first problem
    /// when it is alone, or summarise them all.
    ///
    /// # Errors
    /// When at least one problem was recorded.
    pub fn into_result(self, what: &str) -> Result<(), ModelError> {
        match self.0.len() {
            0 => Ok(()),
            1 => {
                let d = &self.0[0];
                Err(ModelError::Invalid {
                    code: d.code.clone(),
                    message: format!("{what}: {}: {}", d.target, d.message),
                    details: self.0,
                })
            }
            n => Err(ModelError::Invalid {
                code: "ValidationError".into(),
                message: format!("{what}: {n} problems, see details"),
                details: self.0,
            }),
        }
    }
}

impl fmt::Display for Problems {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, d) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{}: {}", d.target, d.message)?;
        }
        Ok(())
    }
}
