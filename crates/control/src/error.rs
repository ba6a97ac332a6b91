//! What can go wrong on the change path, in the model's and the store's terms: the management
//! API turns these into HTTP answers, other writers into log lines and metrics.

use gatehouse_model::{ModelError, PublishError};
use gatehouse_store::StoreError;

/// Why a change was not made (or, for `NotPublished`, made but not served).
#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    /// The change is invalid, or the configuration it produces does not compile. Nothing
    /// changed.
    #[error(transparent)]
    Model(#[from] ModelError),
    /// The store refused (`Conflict`: another writer committed first) or failed. Nothing
    /// changed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The change is committed, but this node's gateway did not take it.
    #[error(transparent)]
    NotPublished(#[from] PublishError),
    /// The commit task itself failed (a panic); the store's state is whatever it committed.
    #[error("the commit task failed")]
    Internal,
}
