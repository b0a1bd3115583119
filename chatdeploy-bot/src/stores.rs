//! The state store and audit log `--state` and `--audit` name: a SQLite
//! file and a JSON Lines file for one process, or PostgreSQL for replicas.

use std::path::Path;
use std::sync::Arc;

use chatdeploy_core::audit::{AuditSink, JsonlAuditSink};
use chatdeploy_core::state::StateStore;
use chatdeploy_postgres::{PostgresStateStore, PostgresStoreBuilder};
use chatdeploy_sqlite::SqliteStateStore;

use crate::error::BotError;

/// Whether `target` is a PostgreSQL URL rather than a file.
#[must_use]
pub fn is_postgres(target: &str) -> bool {
    target.starts_with("postgres://") || target.starts_with("postgresql://")
}

/// Opens the state store `state` and the audit sink `audit` (each a file
/// or a `postgres://` URL; the same URL twice shares one pool).
///
/// # Errors
///
/// [`BotError`] saying which store could not be opened and why; nothing is
/// reset or created in the wrong place.
pub async fn open_stores(
    state: &str,
    audit: &str,
) -> Result<(Arc<dyn StateStore>, Arc<dyn AuditSink>), BotError> {
    if is_postgres(state) {
        let store = connect_postgres(state).await?;
        let sink: Arc<dyn AuditSink> = if audit == state {
            Arc::new(store.audit_sink())
        } else if is_postgres(audit) {
            Arc::new(connect_postgres(audit).await?.audit_sink())
        } else {
            Arc::new(JsonlAuditSink::open(Path::new(audit))?)
        };
        return Ok((Arc::new(store), sink));
    }
    let store = SqliteStateStore::open(Path::new(state))?;
    let sink: Arc<dyn AuditSink> = if is_postgres(audit) {
        Arc::new(connect_postgres(audit).await?.audit_sink())
    } else {
        Arc::new(JsonlAuditSink::open(Path::new(audit))?)
    };
    Ok((Arc::new(store), sink))
}

/// A PostgreSQL store at `url`, with the schema and pool size from the
/// environment (`CHATDEPLOY_POSTGRES_SCHEMA`, `CHATDEPLOY_POSTGRES_POOL_SIZE`),
/// so that several deployments (or test runs) can share one database.
///
/// # Errors
///
/// [`BotError::Postgres`] when the database cannot be reached or its
/// schema is not one this version can use.
pub async fn connect_postgres(url: &str) -> Result<PostgresStateStore, BotError> {
    Ok(PostgresStoreBuilder::from_env()
        .with_url(url)
        .build()
        .await?)
}
