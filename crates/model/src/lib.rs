//! Gatehouse's configuration model: the entities an operator manages, their validation, their
//! stored form, and the compiled runtime snapshot the gateway serves from.
//!
//! - [`entity`]: certificates, CA certificates, back ends, APIs, operations and policies, each
//!   parsed from its APIM-shaped `properties`, and converted to and from a store [`Record`].
//! - [`Config`]: every entity in memory, rebuilt from records; usage queries for deletes.
//! - [`snapshot`]: [`Compiler`] turns a `Config` into an immutable [`Snapshot`] (routes,
//!   composed policies, loaded client keys, trust settings); [`SnapshotCell`] publishes it.
//!
//! Pure: no I/O and no database. It builds on `gatehouse-pki` (certificates, sealing) and
//! `gatehouse-policy` (policy documents), and must not depend on the store, the management
//! API or the gateway: both planes depend on it, never the reverse.

pub mod audit;
mod cell;
pub mod config;
pub mod entity;
mod error;
pub mod fuzzing;
mod id;
pub mod snapshot;
pub mod template;
pub mod text;
pub mod url;

pub use cell::{PublishError, PublishHook, SnapshotCell, Snapshots};
pub use config::{Config, Stored, Usage};
pub use entity::{Change, Record};
pub use error::{Detail, ModelError, NOT_SUPPORTED, Problems};
pub use id::{Kind, MAX_ID_LEN, is_valid_id, printable, validate_id};
pub use snapshot::{Compiler, Snapshot};
