//! The entities an operator manages, their validation, and their stored form.
//!
//! Every entity converts to and from a [`Record`], the store's neutral row. The in-memory
//! configuration is rebuilt from records by the same code on start and after every change, so
//! what is served after a restart is exactly what was served before it.

pub mod api;
pub mod backend;
pub mod certificate;
pub mod hostname;
pub mod policy;
pub mod token;

use serde::de::DeserializeOwned;

use crate::{Kind, ModelError};
use gatehouse_pki::MasterKey;

/// One stored entity: the store's neutral row.
///
/// `body` is public JSON (searchable, readable with `sqlite3`); `sealed` holds the entity's
/// secrets encrypted under the master key, with associated data binding kind, key and version.
#[derive(Clone, PartialEq, Eq)]
pub struct Record {
    /// What kind of entity this is.
    pub kind: Kind,
    /// Its key within the kind (see [`crate::Config`] for the key formats).
    pub key: String,
    /// The configuration revision that last wrote it.
    pub revision: u64,
    /// Public properties as JSON.
    pub body: String,
    /// Encrypted secrets, if the entity has any.
    pub sealed: Option<Vec<u8>>,
}

impl std::fmt::Debug for Record {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Record")
            .field("kind", &self.kind)
            .field("key", &self.key)
            .field("revision", &self.revision)
            .field("sealed", &self.sealed.as_ref().map(|s| s.len()))
            .finish_non_exhaustive()
    }
}

/// One step of a change set: write a record, or remove one.
#[derive(Clone, Debug)]
pub enum Change {
    /// Creates or replaces a record.
    Put(Record),
    /// Removes the record of this kind and key.
    Delete {
        /// Kind of the removed entity.
        kind: Kind,
        /// Its key.
        key: String,
    },
}

impl Change {
    /// The kind and key this change touches.
    pub fn target(&self) -> (Kind, &str) {
        match self {
            Change::Put(r) => (r.kind, &r.key),
            Change::Delete { kind, key } => (*kind, key),
        }
    }
}

/// Associated data for sealing one entity's secrets: binds kind, key and a version, so a sealed
/// blob moved to another row or replayed from an older version fails to open.
pub fn seal_context(kind: Kind, key: &str, version: u64) -> Vec<u8> {
    format!("gatehouse:{}:{key}:v{version}", kind.as_str()).into_bytes()
}

/// Seals a JSON value of secrets for a record.
///
/// # Errors
/// `SealFailed` when encryption fails (it should not).
pub(crate) fn seal_json<T: serde::Serialize>(
    master: &MasterKey,
    kind: Kind,
    key: &str,
    version: u64,
    secrets: &T,
) -> Result<Vec<u8>, ModelError> {
    let plain = zeroize::Zeroizing::new(
        serde_json::to_vec(secrets)
            .map_err(|e| ModelError::internal(format!("cannot encode secrets: {e}")))?,
    );
    master
        .seal(&plain, &seal_context(kind, key, version))
        .map_err(|e| ModelError::internal(e.to_string()))
}

/// Opens secrets sealed by [`seal_json`].
///
/// # Errors
/// When the master key is not the one the data was sealed with, or the row was tampered with.
pub(crate) fn open_json<T: DeserializeOwned>(
    master: &MasterKey,
    kind: Kind,
    key: &str,
    version: u64,
    sealed: &[u8],
) -> Result<T, ModelError> {
    let plain = master
        .open(sealed, &seal_context(kind, key, version))
        .map_err(|e| ModelError::internal(format!("{} {key}: {e}", kind.noun())))?;
    serde_json::from_slice(&plain).map_err(|e| {
        ModelError::internal(format!(
            "{} {key}: sealed secrets are not valid: {e}",
            kind.noun()
        ))
    })
}

/// Deserialises an entity's `properties` object, naming the JSON path of the first problem.
///
/// # Errors
/// `InvalidProperty` with the path (`properties.tls.validateCertificateChain`) and serde's
/// reason, with any string value it quotes removed (it could be a secret in the wrong field).
pub fn from_properties<T: DeserializeOwned>(value: serde_json::Value) -> Result<T, ModelError> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        let target = if path == "." {
            "properties".to_string()
        } else {
            format!("properties.{path}")
        };
        ModelError::invalid_field(
            "InvalidProperty",
            target,
            without_quoted_values(&e.into_inner().to_string()),
        )
    })
}

/// Decodes a record body written by this crate.
pub(crate) fn decode_body<T: DeserializeOwned>(record: &Record) -> Result<T, ModelError> {
    serde_json::from_str(&record.body).map_err(|e| {
        ModelError::internal(format!(
            "{} {}: stored body is not valid: {e}",
            record.kind.noun(),
            record.key
        ))
    })
}

/// The record of an entity without secrets: its JSON as the body, nothing sealed.
///
/// # Errors
/// When encoding fails.
pub(crate) fn plain_record<T: serde::Serialize>(
    kind: Kind,
    key: &str,
    revision: u64,
    value: &T,
) -> Result<Record, ModelError> {
    Ok(Record {
        kind,
        key: key.to_string(),
        revision,
        body: encode_body(value)?,
        sealed: None,
    })
}

/// Encodes a record body.
pub(crate) fn encode_body<T: serde::Serialize>(value: &T) -> Result<String, ModelError> {
    serde_json::to_string(value)
        .map_err(|e| ModelError::internal(format!("cannot encode entity: {e}")))
}

/// Removes the offending value from serde messages (`invalid type: string "x", expected a
/// boolean` becomes `invalid type, expected a boolean`): the value could be a password typed
/// into the wrong field. Field and variant names are kept; they are the caller's schema.
fn without_quoted_values(message: &str) -> String {
    for prefix in ["invalid type", "invalid value", "invalid length"] {
        if let Some(rest) = message.strip_prefix(prefix) {
            return match rest.rfind(", expected") {
                Some(i) => format!("{prefix}{}", &rest[i..]),
                None => prefix.to_string(),
            };
        }
    }
    message.to_string()
}

/// Checks a display string: optional, bounded, no control characters.
pub(crate) fn check_text(
    value: Option<&str>,
    target: &str,
    max: usize,
    problems: &mut crate::Problems,
) {
    if let Some(v) = value {
        if v.chars().count() > max {
            problems.push(
                "InvalidProperty",
                target,
                format!("must be at most {max} characters"),
            );
        }
        if v.chars().any(|c| c.is_control() && c != '\n' && c != '\t') {
            problems.push(
                "InvalidProperty",
                target,
                "must not contain control characters",
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize, Debug)]
    #[serde(deny_unknown_fields, rename_all = "camelCase")]
    #[allow(dead_code)] // only the error path is under test
    struct Sample {
        flag: bool,
        #[serde(default)]
        inner: Option<Inner>,
    }
    #[derive(serde::Deserialize, Debug)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)] // only the error path is under test
    struct Inner {
        count: u32,
    }

    #[test]
    fn property_errors_name_the_path_and_hide_string_values() {
        let err = from_properties::<Sample>(serde_json::json!({"flag": "hunter2"})).unwrap_err();
        let text = format!("{err} {:?}", err.details());
        assert!(text.contains("properties.flag"), "{text}");
        assert!(!text.contains("hunter2"), "{text}");

        let err =
            from_properties::<Sample>(serde_json::json!({"flag": true, "inner": {"cont": 1}}))
                .unwrap_err();
        assert!(err.to_string().contains("properties.inner"), "{err}");
        assert!(err.to_string().contains("unknown field `cont`"), "{err}");
    }

    #[test]
    fn quoted_values_are_removed() {
        assert_eq!(
            without_quoted_values("invalid type: string \"p@ss\", expected a boolean"),
            "invalid type, expected a boolean"
        );
        assert_eq!(
            without_quoted_values("invalid type: integer `12345678`, expected a string"),
            "invalid type, expected a string"
        );
        assert_eq!(
            without_quoted_values("invalid value: string \"a\", expected b\", expected x"),
            "invalid value, expected x"
        );
        assert_eq!(without_quoted_values("no quotes"), "no quotes");
    }
}
