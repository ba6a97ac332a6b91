//! A small migration runner for migrations compiled into the binary.
//!
//! sqlx's own runner reads migration files at run time or needs its macros; Gatehouse ships
//! as one binary, so each backend lists its migrations with `include_str!` and this applies
//! the missing ones, each in its own transaction.

use sqlx::{AssertSqlSafe, Connection, SqliteConnection};

use crate::StoreError;

/// One schema step.
pub(crate) struct Migration {
    pub(crate) version: i64,
    pub(crate) name: &'static str,
    pub(crate) sql: &'static str,
}

/// SQLite's migrations, in order.
pub(crate) const SQLITE: &[Migration] = &[
    Migration {
        version: 1,
        name: "0001_entities.sql",
        sql: include_str!("../migrations/sqlite/0001_entities.sql"),
    },
    Migration {
        version: 2,
        name: "0002_api_protocols.sql",
        sql: include_str!("../migrations/sqlite/0002_api_protocols.sql"),
    },
];

/// Applies every migration newer than the database's version.
pub(crate) async fn run(
    conn: &mut SqliteConnection,
    migrations: &[Migration],
) -> Result<(), StoreError> {
    sqlx::query(
        "CREATE TABLE IF NOT EXISTS schema_migrations (\
            version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)",
    )
    .execute(&mut *conn)
    .await?;
    let current: Option<i64> = sqlx::query_scalar("SELECT MAX(version) FROM schema_migrations")
        .fetch_one(&mut *conn)
        .await?;
    let current = current.unwrap_or(0);
    let known = migrations.last().map_or(0, |m| m.version);
    if current > known {
        return Err(StoreError::SchemaTooNew {
            found: current,
            known,
        });
    }
    for m in migrations.iter().filter(|m| m.version > current) {
        let wrap = |source| StoreError::Migration {
            version: m.version,
            name: m.name,
            source,
        };
        let mut tx = conn.begin().await.map_err(wrap)?;
        sqlx::raw_sql(AssertSqlSafe(m.sql))
            .execute(&mut *tx)
            .await
            .map_err(wrap)?;
        sqlx::query(
            "INSERT INTO schema_migrations (version, name, applied_at) \
             VALUES (?, ?, strftime('%Y-%m-%dT%H:%M:%SZ', 'now'))",
        )
        .bind(m.version)
        .bind(m.name)
        .execute(&mut *tx)
        .await
        .map_err(wrap)?;
        tx.commit().await.map_err(wrap)?;
        tracing::info!(
            version = m.version,
            name = m.name,
            "applied schema migration"
        );
    }
    Ok(())
}
