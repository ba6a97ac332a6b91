//! Certificates that live in a secret store instead of being uploaded: an Azure Key Vault
//! secret (APIM's `keyVault` contract, fetched with the Key Vault REST protocol and Azure AD
//! tokens) or a mounted file (a Kubernetes Secret, cert-manager's `keystore.p12` or
//! `tls.crt` + `tls.key`).
//!
//! [`SecretStores::fetch`] reads a reference's material; [`Refresher`] is a writer of the
//! control plane that is not an HTTP request: on an interval, when a mounted file changes, and
//! on demand (`POST /certificates/{id}/refreshSecret`) it fetches every referenced certificate,
//! checks it exactly as an upload, and commits a new version when the store holds another
//! certificate, or the refresh's failure in `lastStatus` (the last good version keeps serving).
//! The gateway never waits on a vault: it serves what was committed.

mod error;
mod file;
mod http;
mod keyvault;
mod refresh;

pub use error::FetchError;
pub use keyvault::Credentials;
pub use refresh::{Outcome, Refresher};

use gatehouse_model::entity::certificate::{Material, SecretReference};

/// Fetches certificate material from the stores a reference can name.
#[derive(Debug)]
pub struct SecretStores {
    vault: keyvault::KeyVault,
}

impl SecretStores {
    /// Stores that reach Key Vault with `credentials`.
    pub fn new(credentials: Credentials) -> Self {
        Self {
            vault: keyvault::KeyVault::new(credentials),
        }
    }

    /// Reads the material `reference` names, now.
    ///
    /// # Errors
    /// Why it could not be read, with a code for `lastStatus`.
    pub async fn fetch(&self, reference: &SecretReference) -> Result<Material, FetchError> {
        match reference {
            SecretReference::File(file) => file::read(file).await,
            SecretReference::KeyVault(kv) => self.vault.fetch(kv).await,
        }
    }
}
