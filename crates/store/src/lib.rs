//! Gatehouse's configuration store: where committed configuration lives.
//!
//! [`Store`] is the one interface the control plane writes through: load everything, commit a
//! change set atomically, read and write a few service-wide facts, and follow commits made by
//! other nodes. [`SqliteStore`] implements it on an embedded SQLite file (WAL, full sync);
//! [`PostgresStore`], for several gateway nodes sharing one configuration, implements the same
//! trait with its own migrations and a `LISTEN/NOTIFY` change feed. One conformance suite
//! (`conformance.rs`) runs against both.
//!
//! The store keeps neutral [`Record`]s and knows nothing of what they mean: typing, validation
//! and sealing belong to `gatehouse-model`. It must not depend on the management API or the
//! gateway.

#[cfg(test)]
mod conformance;
mod migrate;
mod postgres;
mod sqlite;
#[cfg(any(test, feature = "testing"))]
pub mod testing;

pub use postgres::PostgresStore;
pub use sqlite::SqliteStore;

use async_trait::async_trait;
use gatehouse_model::audit::{Actor, AuditEvent};
use gatehouse_model::{Change, Record};

/// Why the store failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database refused or failed.
    #[error("database error")]
    Database(#[from] sqlx::Error),
    /// Another writer committed first: the caller's view is stale.
    #[error("configuration changed concurrently (expected revision {expected}, found {found})")]
    Conflict {
        /// Revision the caller based its change on.
        expected: u64,
        /// Revision found in the store.
        found: u64,
    },
    /// A schema migration failed.
    #[error("migration {version} ({name}) failed")]
    Migration {
        /// Migration number.
        version: i64,
        /// Its file name.
        name: &'static str,
        /// The database's reason.
        #[source]
        source: sqlx::Error,
    },
    /// The database was written by a newer Gatehouse.
    #[error("the database schema is at version {found}, newer than this build knows ({known})")]
    SchemaTooNew {
        /// Version found.
        found: i64,
        /// Newest version this build has.
        known: i64,
    },
    /// A stored value is not what this build wrote.
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    /// The disk refused a write (full or read-only), found out after the database reported
    /// only an I/O error.
    #[error("the disk refused the write ({trouble:?})")]
    Disk {
        /// What the disk said.
        trouble: DiskTrouble,
        /// The database's error.
        #[source]
        source: sqlx::Error,
    },
    /// The database file could not be created.
    #[error("cannot create {path}")]
    File {
        /// The file.
        path: String,
        /// The operating system's reason.
        #[source]
        source: std::io::Error,
    },
}

/// Why the disk under the store refused a write, when that is the reason.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DiskTrouble {
    /// No space left (SQLite's `SQLITE_FULL`, the OS's `ENOSPC`, PostgreSQL's `53100`).
    Full,
    /// The database or its directory cannot be written (`SQLITE_READONLY`, `EROFS`, a
    /// PostgreSQL server in read-only mode).
    ReadOnly,
}

impl StoreError {
    /// Whether the failure is the disk's: full or read-only. These answer differently from a
    /// store that is away, since the operator's fix differs.
    pub fn disk_trouble(&self) -> Option<DiskTrouble> {
        match self {
            StoreError::Database(e) => sqlx_disk_trouble(e),
            StoreError::Disk { trouble, .. } => Some(*trouble),
            StoreError::File { source, .. } => io_disk_trouble(source),
            _ => None,
        }
    }
}

/// What the operating system's error says of the disk.
pub(crate) fn io_disk_trouble(e: &std::io::Error) -> Option<DiskTrouble> {
    match e.raw_os_error() {
        Some(28) | Some(122) => Some(DiskTrouble::Full), // ENOSPC, EDQUOT
        Some(30) => Some(DiskTrouble::ReadOnly),         // EROFS
        _ => match e.kind() {
            std::io::ErrorKind::StorageFull => Some(DiskTrouble::Full),
            std::io::ErrorKind::ReadOnlyFilesystem => Some(DiskTrouble::ReadOnly),
            _ => None,
        },
    }
}

fn sqlx_disk_trouble(e: &sqlx::Error) -> Option<DiskTrouble> {
    match e {
        sqlx::Error::Io(io) => io_disk_trouble(io),
        sqlx::Error::Database(db) => {
            if db.try_downcast_ref::<sqlx::sqlite::SqliteError>().is_some() {
                // The primary result code is the low byte of the extended one.
                let code = db.code()?.parse::<i32>().ok()?;
                return match code & 0xff {
                    13 => Some(DiskTrouble::Full),    // SQLITE_FULL
                    8 => Some(DiskTrouble::ReadOnly), // SQLITE_READONLY
                    _ => None,
                };
            }
            if let Some(pg) = db.try_downcast_ref::<sqlx::postgres::PgDatabaseError>() {
                return match pg.code() {
                    "53100" => Some(DiskTrouble::Full),     // disk_full
                    "25006" => Some(DiskTrouble::ReadOnly), // read_only_sql_transaction
                    _ => None,
                };
            }
            None
        }
        _ => None,
    }
}

/// Everything the store holds, at one revision.
#[derive(Debug, Default)]
pub struct Snapshot {
    /// Revision of the last committed change.
    pub revision: u64,
    /// Every entity record.
    pub records: Vec<Record>,
}

/// What a store's change feed says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    /// A commit (maybe by another node) made this the store's revision.
    Revision(u64),
    /// The feed (re)connected: changes may have been missed, compare revisions.
    Resync,
    /// The feed lost its connection; it reconnects by itself.
    Lost,
}

/// Persistent configuration: the control plane's only way to the database.
#[async_trait]
pub trait Store: Send + Sync {
    /// Reads every record and the current revision, consistently.
    ///
    /// # Errors
    /// Database failures; `Corrupt` for rows this build cannot read.
    async fn load(&self) -> Result<Snapshot, StoreError>;

    /// Applies `changes` in one transaction, if the stored revision is still `expected`;
    /// returns the new revision (`expected + 1`). Nothing is written unless all of it is.
    ///
    /// # Errors
    /// `Conflict` when another writer committed since `expected`; database failures.
    async fn commit(&self, expected: u64, changes: &[Change]) -> Result<u64, StoreError> {
        self.commit_as(expected, changes, &Actor::system()).await
    }

    /// [`Store::commit`], recording in the same transaction one audit event per change, made
    /// by `actor`.
    ///
    /// # Errors
    /// As [`Store::commit`].
    async fn commit_as(
        &self,
        expected: u64,
        changes: &[Change],
        actor: &Actor,
    ) -> Result<u64, StoreError>;

    /// The newest `limit` audit events, newest first.
    ///
    /// # Errors
    /// Database failures.
    async fn audit_events(&self, limit: usize) -> Result<Vec<AuditEvent>, StoreError>;

    /// Deletes the audit events numbered `id` and below; returns how many.
    ///
    /// # Errors
    /// Database failures.
    async fn delete_audit_through(&self, id: i64) -> Result<u64, StoreError>;

    /// Deletes audit events older than `before`; returns how many.
    ///
    /// # Errors
    /// Database failures.
    async fn prune_audit(&self, before: time::OffsetDateTime) -> Result<u64, StoreError> {
        // Times are RFC 3339 text: compared parsed, not as text (fractions vary in length);
        // numbers grow with commits, so everything up to the newest old one goes.
        let newest_old = self
            .audit_events(usize::MAX)
            .await?
            .into_iter()
            .filter(|e| e.at < before)
            .map(|e| e.id)
            .max();
        match newest_old {
            Some(id) => self.delete_audit_through(id).await,
            None => Ok(0),
        }
    }

    /// The revision of the last committed change (cheap: for polling).
    ///
    /// # Errors
    /// Database failures.
    async fn revision(&self) -> Result<u64, StoreError>;

    /// A feed of commits made through any connection to this store, for stores that several
    /// nodes share; `None` when this process is the only writer (SQLite).
    fn follow(&self) -> Option<tokio::sync::mpsc::Receiver<Signal>> {
        None
    }

    /// Reads a service-wide fact.
    ///
    /// # Errors
    /// Database failures.
    async fn meta(&self, key: &str) -> Result<Option<String>, StoreError>;

    /// Writes a service-wide fact unless it is already set; returns the value that is stored
    /// afterwards (so two nodes starting at once agree on one).
    ///
    /// # Errors
    /// Database failures.
    async fn init_meta(&self, key: &str, value: &str) -> Result<String, StoreError>;
}

/// A row of `entities` as a record.
pub(crate) fn record(
    kind: &str,
    key: String,
    revision: i64,
    body: String,
    sealed: Option<Vec<u8>>,
) -> Result<Record, StoreError> {
    Ok(Record {
        kind: gatehouse_model::Kind::parse(kind)
            .ok_or_else(|| StoreError::Corrupt(format!("unknown entity kind '{kind}'")))?,
        key,
        revision: to_u64(revision, "revision")?,
        body,
        sealed,
    })
}

/// Everything at `revision`, referenced kinds first, so a reader can resolve as it goes.
pub(crate) fn snapshot(revision: i64, mut records: Vec<Record>) -> Result<Snapshot, StoreError> {
    records.sort_by(|a, b| (a.kind, &a.key).cmp(&(b.kind, &b.key)));
    Ok(Snapshot {
        revision: to_u64(revision, "revision")?,
        records,
    })
}

/// `create`, `update` or `delete`: what a change did to an entity that `existed` or not.
pub(crate) fn operation(change: &Change, existed: bool) -> &'static str {
    match (change, existed) {
        (Change::Delete { .. }, _) => "delete",
        (Change::Put(_), true) => "update",
        (Change::Put(_), false) => "create",
    }
}

/// The time an audit event is stamped with.
pub(crate) fn now_text() -> String {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

/// A row of `audit_events`.
#[allow(clippy::too_many_arguments)]
pub(crate) fn audit_event(
    id: i64,
    at: &str,
    actor: String,
    via: String,
    address: Option<String>,
    kind: String,
    key: String,
    operation: String,
    before: i64,
    after: i64,
) -> Result<AuditEvent, StoreError> {
    Ok(AuditEvent {
        id,
        at: time::OffsetDateTime::parse(at, &time::format_description::well_known::Rfc3339)
            .map_err(|_| StoreError::Corrupt(format!("audit event {id}: bad time '{at}'")))?,
        actor,
        via,
        address,
        kind,
        key,
        operation,
        revision_before: to_u64(before, "revision")?,
        revision_after: to_u64(after, "revision")?,
    })
}

pub(crate) fn to_u64(v: i64, what: &str) -> Result<u64, StoreError> {
    u64::try_from(v).map_err(|_| StoreError::Corrupt(format!("negative {what}: {v}")))
}

pub(crate) fn to_i64(v: u64) -> Result<i64, StoreError> {
    i64::try_from(v).map_err(|_| StoreError::Corrupt(format!("revision {v} out of range")))
}
