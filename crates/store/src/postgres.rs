//! The PostgreSQL store, for several gateway nodes sharing one configuration: the same tables
//! and revision rule as SQLite, plus a change feed (`LISTEN/NOTIFY`) so that a commit on one
//! node reaches the others at once.

use std::str::FromStr as _;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use gatehouse_model::Change;
use gatehouse_model::audit::{Actor, AuditEvent};
use sqlx::Row as _;
use sqlx::postgres::{PgConnectOptions, PgListener, PgPool, PgPoolOptions};
use tokio::sync::{OnceCell, mpsc};

use crate::{Signal, Snapshot, Store, StoreError, migrate, to_i64, to_u64};

/// The channel every commit notifies, with the new revision as payload.
const CHANNEL: &str = "gatehouse_config";

/// Configuration store on a PostgreSQL database shared by every node.
#[derive(Clone)]
pub struct PostgresStore {
    pool: PgPool,
    /// Set once the schema is up to date; until then every call first tries to migrate, so
    /// a node can start while the database is away and catch up when it returns.
    migrated: Arc<OnceCell<()>>,
}

impl std::fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The URL holds a password: never shown.
        f.debug_struct("PostgresStore").finish_non_exhaustive()
    }
}

impl PostgresStore {
    /// A store on `url` (`postgres://USER:PASS@HOST:PORT/DB`). Nothing is connected yet: the
    /// first call connects and brings the schema up to date (nodes starting at once migrate
    /// once: sqlx's advisory lock), and each call waits at most `connect_timeout` for a
    /// connection, so a database that is away fails calls fast instead of queueing them.
    ///
    /// # Errors
    /// An invalid URL.
    pub fn open(url: &str, connect_timeout: Duration) -> Result<Self, StoreError> {
        let options = PgConnectOptions::from_str(url)?.application_name("gatehouse");
        let pool = PgPoolOptions::new()
            .max_connections(8)
            .min_connections(0)
            .acquire_timeout(connect_timeout)
            .idle_timeout(Some(Duration::from_secs(300)))
            .connect_lazy_with(options);
        Ok(Self {
            pool,
            migrated: Arc::new(OnceCell::new()),
        })
    }

    /// The pool, once the schema is up to date.
    async fn ready(&self) -> Result<&PgPool, StoreError> {
        self.migrated
            .get_or_try_init(|| migrate::postgres(&self.pool))
            .await?;
        Ok(&self.pool)
    }

    /// Closes every connection.
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

#[async_trait]
impl Store for PostgresStore {
    async fn load(&self) -> Result<Snapshot, StoreError> {
        let mut tx = self.ready().await?.begin().await?;
        // REPEATABLE READ: the revision and the rows are from one moment.
        sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            .execute(&mut *tx)
            .await?;
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
        let next = expected + 1;
        let mut tx = self.ready().await?.begin().await?;
        // The row lock serialises commits from every node: the check and the writes cannot
        // interleave with another node's, so a delete racing an attach elsewhere is decided
        // here, on one revision.
        let found: i64 =
            sqlx::query_scalar("SELECT revision FROM config_revision WHERE id = 1 FOR UPDATE")
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
                sqlx::query_scalar("SELECT 1 FROM entities WHERE kind = $1 AND key = $2")
                    .bind(kind.as_str())
                    .bind(key)
                    .fetch_optional(&mut *tx)
                    .await?;
            operations.push(crate::operation(change, existed.is_some()));
            match change {
                Change::Put(r) => {
                    sqlx::query(
                        "INSERT INTO entities (kind, key, revision, body, sealed) \
                         VALUES ($1, $2, $3, $4, $5) \
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
                    sqlx::query("DELETE FROM entities WHERE kind = $1 AND key = $2")
                        .bind(kind.as_str())
                        .bind(key)
                        .execute(&mut *tx)
                        .await?;
                }
            }
        }
        sqlx::query("UPDATE config_revision SET revision = $1 WHERE id = 1")
            .bind(to_i64(next)?)
            .execute(&mut *tx)
            .await?;
        let at = crate::now_text();
        for (change, operation) in changes.iter().zip(operations) {
            let (kind, key) = change.target();
            sqlx::query(
                "INSERT INTO audit_events (at, actor, via, address, kind, key, operation, revision_before, revision_after) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
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
        // Delivered when (and only if) the transaction commits.
        sqlx::query("SELECT pg_notify($1, $2)")
            .bind(CHANNEL)
            .bind(next.to_string())
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(next)
    }

    async fn audit_events(&self, limit: usize) -> Result<Vec<AuditEvent>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, at, actor, via, address, kind, key, operation, revision_before, \
             revision_after FROM audit_events ORDER BY id DESC LIMIT $1",
        )
        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
        .fetch_all(self.ready().await?)
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
        let done = sqlx::query("DELETE FROM audit_events WHERE id <= $1")
            .bind(id)
            .execute(self.ready().await?)
            .await?;
        Ok(done.rows_affected())
    }

    async fn revision(&self) -> Result<u64, StoreError> {
        let revision: i64 = sqlx::query_scalar("SELECT revision FROM config_revision WHERE id = 1")
            .fetch_one(self.ready().await?)
            .await?;
        to_u64(revision, "revision")
    }

    async fn meta(&self, key: &str) -> Result<Option<String>, StoreError> {
        Ok(sqlx::query_scalar("SELECT value FROM meta WHERE key = $1")
            .bind(key)
            .fetch_optional(self.ready().await?)
            .await?)
    }

    async fn init_meta(&self, key: &str, value: &str) -> Result<String, StoreError> {
        // ON CONFLICT DO NOTHING then a read: two nodes starting at once agree on one value.
        sqlx::query("INSERT INTO meta (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING")
            .bind(key)
            .bind(value)
            .execute(self.ready().await?)
            .await?;
        Ok(sqlx::query_scalar("SELECT value FROM meta WHERE key = $1")
            .bind(key)
            .fetch_one(self.ready().await?)
            .await?)
    }

    fn follow(&self) -> Option<mpsc::Receiver<Signal>> {
        let (tx, rx) = mpsc::channel(64);
        tokio::spawn(listen(self.pool.clone(), tx));
        Some(rx)
    }
}

/// Listens for commits until the receiver goes away. After every (re)connection it sends
/// `Resync`: notifications sent while it was not listening are lost, the store is not.
async fn listen(pool: PgPool, tx: mpsc::Sender<Signal>) {
    let mut backoff = Duration::from_millis(100);
    loop {
        let mut listener = match PgListener::connect_with(&pool).await {
            Ok(l) => l,
            Err(error) => {
                tracing::debug!(%error, "cannot listen for configuration changes yet");
                if tx.is_closed() {
                    return;
                }
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(2));
                continue;
            }
        };
        listener.ignore_pool_close_event(true);
        listener.eager_reconnect(false);
        if let Err(error) = listener.listen(CHANNEL).await {
            tracing::debug!(%error, "cannot listen for configuration changes yet");
            tokio::time::sleep(backoff).await;
            continue;
        }
        backoff = Duration::from_millis(100);
        if tx.send(Signal::Resync).await.is_err() {
            return;
        }
        loop {
            match listener.try_recv().await {
                Ok(Some(n)) => {
                    let signal = n.payload().parse().map_or(Signal::Resync, Signal::Revision);
                    if tx.send(signal).await.is_err() {
                        return;
                    }
                }
                Ok(None) | Err(_) => {
                    tracing::warn!("lost the database's change feed; reconnecting");
                    if tx.send(Signal::Lost).await.is_err() {
                        return;
                    }
                    break;
                }
            }
        }
    }
}
