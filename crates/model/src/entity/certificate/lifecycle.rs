//! Where a certificate comes from: its source, the secret-store reference it is refreshed
//! from, and how the last refresh went.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

/// Where a certificate version came from.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Source {
    /// A `PUT` with `data` or `pem`.
    #[default]
    Upload,
    /// A mounted file (`properties.file`).
    File,
    /// An Azure Key Vault secret (`properties.keyVault`).
    KeyVault,
    /// `POST /certificates/{id}/rollback`.
    Rollback,
}

impl Source {
    /// The name responses use.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Upload => "upload",
            Self::File => "file",
            Self::KeyVault => "keyVault",
            Self::Rollback => "rollback",
        }
    }
}

/// A reference to a certificate kept in a secret store.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum SecretReference {
    /// An Azure Key Vault secret (APIM's `keyVault`).
    KeyVault(KeyVaultReference),
    /// A mounted file (a Kubernetes Secret, cert-manager's `keystore.p12` or `tls.crt` and
    /// `tls.key`).
    File(FileReference),
}

impl SecretReference {
    /// The source a version fetched through this reference has.
    pub fn source(&self) -> Source {
        match self {
            Self::KeyVault(_) => Source::KeyVault,
            Self::File(_) => Source::File,
        }
    }
}

/// APIM's `properties.keyVault`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct KeyVaultReference {
    /// `https://VAULT/secrets/NAME` (latest version) or `.../NAME/VERSION` (pinned).
    pub secret_identifier: String,
    /// A user-assigned managed identity's client id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identity_client_id: Option<String>,
}

/// `properties.file`: a path the gateway reads, and the file holding the password, if any.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FileReference {
    /// A .pfx / .p12 file, or PEM holding the certificate and its key.
    pub path: String,
    /// The PEM private key when it is in its own file (`tls.key` beside `tls.crt`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_path: Option<String>,
    /// A file whose first line is the password.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_file: Option<String>,
}

/// The outcome of the last refresh (APIM's `lastStatus`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RefreshStatus {
    /// `Success`, or why it failed (`VaultUnreachable`, `Unauthorized`, `PasswordIncorrect`...).
    pub code: String,
    /// A message an operator can act on.
    pub message: String,
    /// When this outcome was first seen.
    #[serde(with = "time::serde::rfc3339")]
    pub time_stamp_utc: OffsetDateTime,
}
