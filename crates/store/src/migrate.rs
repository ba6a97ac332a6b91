//! Schema migrations, per backend, through sqlx's own migrator: checksums of applied steps are
//! checked on every start (a changed step is refused), steps newer than this build are
//! refused, and on PostgreSQL an advisory lock makes nodes that start at once migrate once.
//!
//! The SQL is compiled into the binary (`include_str!`), so Gatehouse ships as one file and
//! needs no sqlx macros at build time.

use std::borrow::Cow;

use sqlx::SqliteConnection;
use sqlx::migrate::{MigrateError, Migration, MigrationType, Migrator};

use crate::StoreError;

/// One backend's steps: version, name, SQL.
type Steps = &'static [(i64, &'static str, &'static str)];

/// SQLite's migrations, in order.
const SQLITE: Steps = &[
    (
        1,
        "entities",
        include_str!("../migrations/sqlite/0001_entities.sql"),
    ),
    (
        2,
        "api protocols",
        include_str!("../migrations/sqlite/0002_api_protocols.sql"),
    ),
    (
        3,
        "audit events",
        include_str!("../migrations/sqlite/0003_audit.sql"),
    ),
];

/// PostgreSQL's migrations, in order (its own numbering: it never had SQLite's old data).
const POSTGRES: Steps = &[
    (
        1,
        "entities",
        include_str!("../migrations/postgres/0001_entities.sql"),
    ),
    (
        2,
        "audit events",
        include_str!("../migrations/postgres/0002_audit.sql"),
    ),
];

fn migrator(steps: Steps, up_to: Option<i64>) -> Migrator {
    Migrator::with_migrations(
        steps
            .iter()
            .filter(|(version, ..)| up_to.is_none_or(|last| *version <= last))
            .map(|&(version, name, sql)| {
                Migration::new(
                    version,
                    Cow::Borrowed(name),
                    MigrationType::Simple,
                    sqlx::SqlSafeStr::into_sql_str(sql),
                    false,
                )
            })
            .collect(),
    )
}

/// The newest schema version this build knows.
fn known(steps: Steps) -> i64 {
    steps.last().map_or(0, |s| s.0)
}

fn error(e: MigrateError, steps: Steps) -> StoreError {
    match e {
        MigrateError::VersionMissing(found) => StoreError::SchemaTooNew {
            found,
            known: known(steps),
        },
        MigrateError::ExecuteMigration(source, version) => StoreError::Migration {
            version,
            name: steps
                .iter()
                .find(|s| s.0 == version)
                .map_or("unknown", |s| s.1),
            source,
        },
        MigrateError::Execute(e) => StoreError::Database(e),
        other => StoreError::Corrupt(format!("schema migrations: {other}")),
    }
}

/// Brings an SQLite database up to date (up to `up_to`, for tests of old schemas).
pub(crate) async fn sqlite(
    conn: &mut SqliteConnection,
    up_to: Option<i64>,
) -> Result<(), StoreError> {
    adopt_legacy_table(conn).await?;
    migrator(SQLITE, up_to)
        .run(&mut *conn)
        .await
        .map_err(|e| error(e, SQLITE))?;
    Ok(())
}

/// Brings a PostgreSQL database up to date, under sqlx's advisory lock.
pub(crate) async fn postgres(pool: &sqlx::PgPool) -> Result<(), StoreError> {
    migrator(POSTGRES, None)
        .run(pool)
        .await
        .map_err(|e| error(e, POSTGRES))
}

/// Data directories written before sqlx's migrator kept their applied steps in
/// `schema_migrations`: those steps are recorded as applied (not run again) the first time.
async fn adopt_legacy_table(conn: &mut SqliteConnection) -> Result<(), StoreError> {
    let legacy: Option<String> = sqlx::query_scalar(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'",
    )
    .fetch_optional(&mut *conn)
    .await?;
    let adopted: Option<String> = sqlx::query_scalar(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name = '_sqlx_migrations'",
    )
    .fetch_optional(&mut *conn)
    .await?;
    if legacy.is_none() || adopted.is_some() {
        return Ok(());
    }
    let applied: Option<i64> = sqlx::query_scalar("SELECT MAX(version) FROM schema_migrations")
        .fetch_one(&mut *conn)
        .await?;
    let applied = applied.unwrap_or(0);
    if applied > known(SQLITE) {
        return Err(StoreError::SchemaTooNew {
            found: applied,
            known: known(SQLITE),
        });
    }
    migrator(SQLITE, Some(applied))
        .skip(&mut *conn, None)
        .await
        .map_err(|e| error(e, SQLITE))?;
    tracing::info!(
        version = applied,
        "schema migrations are now tracked by sqlx's migrator"
    );
    Ok(())
}
