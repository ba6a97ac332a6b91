//! The embedded SQLite store: one file in the data directory, WAL journal, full sync.

use std::path::Path;
use std::str::FromStr as _;
use std::time::Duration;

use async_trait::async_trait;
use gatehouse_model::Change;
use gatehouse_model::audit::{Actor, AuditEvent};
use sqlx::pool::PoolConnection;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::{Connection as _, Row as _, Sqlite, SqliteConnection};

use crate::{Snapshot, Store, StoreError, migrate, to_i64, to_u64};

/// Configuration store on an SQLite database file.
#[derive(Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
    /// The directory of the database file (`None` in memory), probed when SQLite reports a
    /// bare I/O error, to tell a full or read-only disk from other faults.
    dir: Option<std::path::PathBuf>,
}

impl SqliteStore {
    /// Opens (creating if needed) the database at `path` and brings its schema up to date.
    ///
    /// # Errors
    /// When the file cannot be opened or a migration fails.
    pub async fn open(path: &Path) -> Result<Self, StoreError> {
        owner_only_files(path)?;
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            // FULL: a commit survives power loss once it returned, so a 2xx means durable.
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(10));
        Self::connect(options).await
    }

    /// Opens a database from a `sqlite:` URL (tests use `sqlite::memory:`).
    ///
    /// # Errors
    /// When the URL is invalid or a migration fails.
    pub async fn open_url(url: &str) -> Result<Self, StoreError> {
        Self::connect(SqliteConnectOptions::from_str(url)?).await
    }

    async fn connect(options: SqliteConnectOptions) -> Result<Self, StoreError> {
        let in_memory = options.get_filename() == Path::new(":memory:");
        let dir = (!in_memory)
            .then(|| options.get_filename().parent().map(Path::to_path_buf))
            .flatten();
        let pool = SqlitePoolOptions::new()
            // An in-memory database exists per connection: keep exactly one.
            .max_connections(if in_memory { 1 } else { 4 })
            .min_connections(if in_memory { 1 } else { 0 })
            .idle_timeout(if in_memory {
                None
            } else {
                Some(Duration::from_secs(600))
            })
            .max_lifetime(None)
            .connect_with(options)
            .await?;
        let mut conn = pool.acquire().await?;
        migrate::sqlite(&mut conn, None).await?;
        drop(conn);
        Ok(Self { pool, dir })
    }

    /// Closes every connection, checkpointing the WAL.
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// Makes the database readable by its owner only: it holds the admin token's hash and the
/// sealed secrets. SQLite would create the file with mode 0644 under the usual umask, and
/// gives its `-wal` and `-shm` files the database file's mode, so the file is created first,
/// 0600; files an earlier version left open to others are tightened.
fn owner_only_files(path: &Path) -> Result<(), StoreError> {
    use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};

    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
    {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(source) => {
            return Err(StoreError::File {
                path: path.display().to_string(),
                source,
            });
        }
    }
    for suffix in ["", "-wal", "-shm", "-journal"] {
        let mut name = path.as_os_str().to_owned();
        name.push(suffix);
        let file = Path::new(&name);
        let Ok(meta) = std::fs::metadata(file) else {
            continue;
        };
        if meta.permissions().mode() & 0o077 != 0
            && let Err(error) =
                std::fs::set_permissions(file, std::fs::Permissions::from_mode(0o600))
        {
            // Not ours to refuse: SQLite may still open it, and the operator learns why the
            // file stays readable.
            tracing::warn!(
                path = %file.display(),
                %error,
                "cannot make the file readable by its owner only; chmod 600 it"
            );
        }
    }
    Ok(())
}

#[async_trait]
impl Store for SqliteStore {
    async fn load(&self) -> Result<Snapshot, StoreError> {
        let mut conn = self.pool.acquire().await?;
        // One read transaction: the revision and the rows are from the same moment.
        let mut tx = conn.begin().await?;
        let revision: i64 = sqlx::query_scalar("SELECT revision FROM config_revision WHERE id = 1")
            .fetch_one(&mut *tx)
            .await?;
        let rows = sqlx::query("SELECT kind, key, revision, body, sealed FROM entities")
            .fetch_all(&mut *tx)
            .await?;
        tx.commit().await?;
        let records = rows
            .iter()
            .map(|row| {
                crate::record(
                    &row.try_get::<String, _>("kind")?,
                    row.try_get("key")?,
                    row.try_get("revision")?,
                    row.try_get("body")?,
                    row.try_get("sealed")?,
                )
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        crate::snapshot(revision, records)
    }

    async fn commit_as(
        &self,
        expected: u64,
        changes: &[Change],
        actor: &Actor,
    ) -> Result<u64, StoreError> {
        let mut conn = self.pool.acquire().await?;
        let result = commit_on(&mut conn, expected, changes, actor).await;
        retire_if_failed(conn, &result).await;
        match result {
            Ok(revision) => Ok(revision),
            Err(e) => Err(self.explain(e).await),
        }
    }

    async fn audit_events(&self, limit: usize) -> Result<Vec<AuditEvent>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, at, actor, via, address, kind, key, operation, revision_before, \
             revision_after FROM audit_events ORDER BY id DESC LIMIT ?",
        )
        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                crate::audit_event(
                    row.try_get("id")?,
                    &row.try_get::<String, _>("at")?,
                    row.try_get("actor")?,
                    row.try_get("via")?,
                    row.try_get("address")?,
                    row.try_get("kind")?,
                    row.try_get("key")?,
                    row.try_get("operation")?,
                    row.try_get("revision_before")?,
                    row.try_get("revision_after")?,
                )
            })
            .collect()
    }

    async fn delete_audit_through(&self, id: i64) -> Result<u64, StoreError> {
        let done = sqlx::query("DELETE FROM audit_events WHERE id <= ?")
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected())
    }

    async fn revision(&self) -> Result<u64, StoreError> {
        let revision: i64 = sqlx::query_scalar("SELECT revision FROM config_revision WHERE id = 1")
            .fetch_one(&self.pool)
            .await?;
        to_u64(revision, "revision")
    }

    async fn meta(&self, key: &str) -> Result<Option<String>, StoreError> {
        Ok(sqlx::query_scalar("SELECT value FROM meta WHERE key = ?")
            .bind(key)
            .fetch_optional(&self.pool)
            .await?)
    }

    async fn init_meta(&self, key: &str, value: &str) -> Result<String, StoreError> {
        let mut conn = self.pool.acquire().await?;
        let result = init_meta_on(&mut conn, key, value).await;
        retire_if_failed(conn, &result).await;
        match result {
            Ok(stored) => Ok(stored),
            Err(e) => Err(self.explain(e).await),
        }
    }
}

async fn init_meta_on(
    conn: &mut SqliteConnection,
    key: &str,
    value: &str,
) -> Result<String, StoreError> {
    let mut tx = conn.begin_with("BEGIN IMMEDIATE").await?;
    sqlx::query("INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO NOTHING")
        .bind(key)
        .bind(value)
        .execute(&mut *tx)
        .await?;
    let stored: String = sqlx::query_scalar("SELECT value FROM meta WHERE key = ?")
        .bind(key)
        .fetch_one(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(stored)
}

/// One commit on `conn`: the body of [`Store::commit_as`].
async fn commit_on(
    conn: &mut SqliteConnection,
    expected: u64,
    changes: &[Change],
    actor: &Actor,
) -> Result<u64, StoreError> {
    let next = expected + 1;
    // IMMEDIATE takes the write lock up front, so the revision check and the writes
    // cannot interleave with another writer's.
    let mut tx = conn.begin_with("BEGIN IMMEDIATE").await?;
    let found: i64 = sqlx::query_scalar("SELECT revision FROM config_revision WHERE id = 1")
        .fetch_one(&mut *tx)
        .await?;
    let found = to_u64(found, "revision")?;
    if found != expected {
        return Err(StoreError::Conflict { expected, found });
    }
    let mut operations = Vec::with_capacity(changes.len());
    for change in changes {
        let (kind, key) = change.target();
        let existed: Option<i32> =
            sqlx::query_scalar("SELECT 1 FROM entities WHERE kind = ? AND key = ?")
                .bind(kind.as_str())
                .bind(key)
                .fetch_optional(&mut *tx)
                .await?;
        operations.push(crate::operation(change, existed.is_some()));
        match change {
            Change::Put(r) => {
                sqlx::query(
                    "INSERT INTO entities (kind, key, revision, body, sealed) \
                     VALUES (?, ?, ?, ?, ?) \
                     ON CONFLICT (kind, key) DO UPDATE SET \
                     revision = excluded.revision, body = excluded.body, \
                     sealed = excluded.sealed",
                )
                .bind(r.kind.as_str())
                .bind(&r.key)
                .bind(to_i64(r.revision)?)
                .bind(&r.body)
                .bind(r.sealed.as_deref())
                .execute(&mut *tx)
                .await?;
            }
            Change::Delete { kind, key } => {
                sqlx::query("DELETE FROM entities WHERE kind = ? AND key = ?")
                    .bind(kind.as_str())
                    .bind(key)
                    .execute(&mut *tx)
                    .await?;
            }
        }
    }
    sqlx::query("UPDATE config_revision SET revision = ? WHERE id = 1")
        .bind(to_i64(next)?)
        .execute(&mut *tx)
        .await?;
    let at = crate::now_text();
    for (change, operation) in changes.iter().zip(operations) {
        let (kind, key) = change.target();
        sqlx::query(
            "INSERT INTO audit_events (at, actor, via, address, kind, key, operation, revision_before, revision_after) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(&at)
        .bind(&actor.name)
        .bind(&actor.via)
        .bind(actor.address.as_deref())
        .bind(kind.as_str())
        .bind(key)
        .bind(operation)
        .bind(to_i64(expected)?)
        .bind(to_i64(next)?)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok(next)
}

impl SqliteStore {
    /// SQLite reports a write that the disk refused as `SQLITE_IOERR_*` without the
    /// operating system's reason; a write of our own in the same directory finds it out.
    async fn explain(&self, e: StoreError) -> StoreError {
        let StoreError::Database(source) = e else {
            return e;
        };
        let io_error = matches!(&source, sqlx::Error::Database(db)
            if db.code().and_then(|c| c.parse::<i32>().ok()).is_some_and(|n| n & 0xff == 10));
        let trouble = match (&self.dir, io_error) {
            // A write and an fsync: off the async workers.
            (Some(dir), true) => {
                let dir = dir.clone();
                tokio::task::spawn_blocking(move || probe_write(&dir))
                    .await
                    .ok()
                    .flatten()
            }
            _ => None,
        };
        match trouble {
            Some(trouble) => StoreError::Disk { trouble, source },
            None => StoreError::Database(source),
        }
    }
}

/// Writes, syncs and removes a small file in `dir`: what the disk says, when it refuses.
fn probe_write(dir: &Path) -> Option<crate::DiskTrouble> {
    use std::io::Write as _;
    let path = dir.join(".gatehouse-write-probe");
    let attempt = (|| {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(&path)?;
        f.write_all(&[0u8; 4096])?;
        f.sync_all()
    })();
    let _ = std::fs::remove_file(&path);
    attempt.err().and_then(|e| crate::io_disk_trouble(&e))
}

/// A connection whose write failed goes, instead of back to the pool: when SQLite refuses a
/// COMMIT (a full disk) the transaction stays open on it, and every later write on that
/// connection would fail although the disk has room again. Closing it rolls back.
async fn retire_if_failed<T>(conn: PoolConnection<Sqlite>, result: &Result<T, StoreError>) {
    if result
        .as_ref()
        .is_err_and(|e| !matches!(e, StoreError::Conflict { .. }))
    {
        let _ = conn.close().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use gatehouse_model::{Kind, Record};

    fn record(kind: Kind, key: &str, revision: u64, body: &str) -> Record {
        Record {
            kind,
            key: key.into(),
            revision,
            body: body.into(),
            sealed: Some(vec![1, 2, 3]),
        }
    }

    #[tokio::test]
    async fn database_files_are_readable_by_their_owner_only() {
        use std::os::unix::fs::PermissionsExt as _;

        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("gatehouse.db");
        let mode = |name: &str| {
            std::fs::metadata(dir.path().join(name))
                .unwrap()
                .permissions()
                .mode()
                & 0o777
        };
        let store = SqliteStore::open(&path).await.unwrap();
        store
            .commit(0, &[Change::Put(record(Kind::Api, "a", 1, "{}"))])
            .await
            .unwrap();
        for name in ["gatehouse.db", "gatehouse.db-wal", "gatehouse.db-shm"] {
            assert_eq!(mode(name), 0o600, "{name}");
        }
        store.close().await;

        // Files an earlier version made readable by everyone are tightened.
        for name in ["gatehouse.db", "gatehouse.db-wal"] {
            let file = dir.path().join(name);
            if !file.exists() {
                std::fs::write(&file, b"").unwrap();
            }
            std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
        }
        let store = SqliteStore::open(&path).await.unwrap();
        assert_eq!(store.load().await.unwrap().revision, 1);
        for name in ["gatehouse.db", "gatehouse.db-wal"] {
            assert_eq!(mode(name), 0o600, "{name}");
        }
    }

    #[tokio::test]
    async fn commits_are_atomic_and_survive_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("gatehouse.db");
        let store = SqliteStore::open(&path).await.unwrap();
        assert_eq!(store.load().await.unwrap().revision, 0);

        let rev = store
            .commit(
                0,
                &[
                    Change::Put(record(Kind::Api, "a", 1, "{}")),
                    Change::Put(record(Kind::Operation, "a/o", 1, "{}")),
                ],
            )
            .await
            .unwrap();
        assert_eq!(rev, 1);

        // A stale writer is refused and writes nothing.
        let err = store
            .commit(0, &[Change::Put(record(Kind::Api, "b", 1, "{}"))])
            .await
            .unwrap_err();
        assert!(matches!(
            err,
            StoreError::Conflict {
                expected: 0,
                found: 1
            }
        ));

        store
            .commit(
                1,
                &[
                    Change::Delete {
                        kind: Kind::Operation,
                        key: "a/o".into(),
                    },
                    Change::Put(record(Kind::Api, "a", 2, "{\"x\":1}")),
                ],
            )
            .await
            .unwrap();
        store.close().await;

        let store = SqliteStore::open(&path).await.unwrap();
        let snap = store.load().await.unwrap();
        assert_eq!(snap.revision, 2);
        assert_eq!(snap.records, vec![record(Kind::Api, "a", 2, "{\"x\":1}")]);
    }

    /// APIs stored before `protocols` was enforced were served on the plain listener; the
    /// migration keeps them there (a new revision), and leaves explicit choices alone. The
    /// database is one an earlier build wrote, with its own table of applied steps: sqlx's
    /// migrator adopts it (step 1 is not run again) and applies step 2.
    #[tokio::test]
    async fn old_databases_are_adopted_and_old_protocols_keep_being_served_on_http() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("gatehouse.db");
        {
            let options = SqliteConnectOptions::new()
                .filename(&path)
                .create_if_missing(true);
            let mut conn = sqlx::SqliteConnection::connect_with(&options)
                .await
                .unwrap();
            sqlx::raw_sql(include_str!("../migrations/sqlite/0001_entities.sql"))
                .execute(&mut conn)
                .await
                .unwrap();
            sqlx::raw_sql(
                "CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, \
                 applied_at TEXT NOT NULL); INSERT INTO schema_migrations VALUES \
                 (1, '0001_entities.sql', '2026-11-01T00:00:00Z')",
            )
            .execute(&mut conn)
            .await
            .unwrap();
            for (key, protocols) in [("old", r#"["https"]"#), ("plain", r#"["http"]"#)] {
                sqlx::query(
                    "INSERT INTO entities (kind, key, revision, body) VALUES ('api', ?, 3, ?)",
                )
                .bind(key)
                .bind(format!(r#"{{"path":"{key}","protocols":{protocols}}}"#))
                .execute(&mut conn)
                .await
                .unwrap();
            }
            sqlx::query("UPDATE config_revision SET revision = 3")
                .execute(&mut conn)
                .await
                .unwrap();
            conn.close().await.unwrap();
        }
        let store = SqliteStore::open(&path).await.unwrap();
        let loaded = store.load().await.unwrap();
        assert_eq!(loaded.revision, 4);
        let body = |key: &str| {
            let r = loaded.records.iter().find(|r| r.key == key).unwrap();
            let v: serde_json::Value = serde_json::from_str(&r.body).unwrap();
            (v["protocols"].clone(), r.revision)
        };
        assert_eq!(body("old"), (serde_json::json!(["http", "https"]), 4));
        assert_eq!(body("plain"), (serde_json::json!(["http"]), 3));
        store.close().await;

        // Opening again runs nothing twice.
        let store = SqliteStore::open(&path).await.unwrap();
        assert_eq!(store.load().await.unwrap().revision, 4);
    }

    #[tokio::test]
    async fn a_schema_newer_than_this_build_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("gatehouse.db");
        SqliteStore::open(&path).await.unwrap().close().await;
        {
            let options = SqliteConnectOptions::new().filename(&path);
            let mut conn = sqlx::SqliteConnection::connect_with(&options)
                .await
                .unwrap();
            sqlx::query(
                "INSERT INTO _sqlx_migrations (version, description, success, checksum, \
                 execution_time) VALUES (99, 'future', TRUE, x'00', 0)",
            )
            .execute(&mut conn)
            .await
            .unwrap();
            conn.close().await.unwrap();
        }
        let Err(e) = SqliteStore::open(&path).await else {
            panic!("a newer schema opened");
        };
        assert!(
            matches!(
                e,
                StoreError::SchemaTooNew {
                    found: 99,
                    known: 3
                }
            ),
            "{e:?}"
        );
    }

    #[tokio::test]
    async fn meta_is_set_once() {
        let store = SqliteStore::open_url("sqlite::memory:").await.unwrap();
        assert_eq!(store.meta("k").await.unwrap(), None);
        assert_eq!(store.init_meta("k", "first").await.unwrap(), "first");
        assert_eq!(store.init_meta("k", "second").await.unwrap(), "first");
        assert_eq!(store.meta("k").await.unwrap().as_deref(), Some("first"));
    }

    #[tokio::test]
    async fn journal_is_wal_with_full_sync() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("g.db")).await.unwrap();
        let mut conn = store.pool.acquire().await.unwrap();
        let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
            .fetch_one(&mut *conn)
            .await
            .unwrap();
        let sync: i64 = sqlx::query_scalar("PRAGMA synchronous")
            .fetch_one(&mut *conn)
            .await
            .unwrap();
        assert_eq!((mode.as_str(), sync), ("wal", 2));
    }
}
