//! [`SqliteAuditSink`]: the [`AuditSink`] on an SQLite file.

use std::path::Path;
use std::sync::Arc;

use async_trait::async_trait;
use chatdeploy_core::audit::{AuditError, AuditEvent, AuditSink};
use chatdeploy_core::ids::DeploymentId;
use chrono::SecondsFormat;
use rusqlite::params;

use crate::codec::decode;
use crate::connection::Database;
use crate::error::{OpError, OpenStateError, audit_unavailable};

/// An [`AuditSink`] writing each record as one row of the `audit` table
/// (its ID unique, its time, action and release as columns, and the whole
/// record as JSON), committed and synced to disk before
/// [`record`](AuditSink::record) returns `Ok`.
///
/// A record whose ID is already stored is accepted without a second row.
/// Records are read back in the order they were first written.
///
/// Use [`SqliteStateStore::audit_sink`](crate::SqliteStateStore::audit_sink)
/// to share the state database, or [`SqliteAuditSink::open`] for a file of
/// its own. Cloning is cheap and shares the connections.
#[derive(Debug, Clone)]
pub struct SqliteAuditSink {
    db: Arc<Database>,
}

impl SqliteAuditSink {
    /// Opens (or creates) the database at `path`, with the same checks and
    /// migrations as [`SqliteStateStore::open`](crate::SqliteStateStore::open).
    ///
    /// # Errors
    ///
    /// [`OpenStateError`] naming the file and what to do; the file is then
    /// left untouched.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, OpenStateError> {
        Ok(Self::from_database(Arc::new(Database::open(
            path.as_ref(),
        )?)))
    }

    pub(crate) fn from_database(db: Arc<Database>) -> Self {
        Self { db }
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        self.db.path()
    }

    /// Every record, oldest first.
    ///
    /// # Errors
    ///
    /// [`AuditError::Unavailable`] when the database cannot be read or a
    /// stored record cannot be decoded.
    pub async fn events(&self) -> Result<Vec<AuditEvent>, AuditError> {
        self.query("SELECT record, id FROM audit ORDER BY seq", None)
            .await
    }

    /// The records of one release, oldest first.
    ///
    /// # Errors
    ///
    /// As [`SqliteAuditSink::events`].
    pub async fn events_for(
        &self,
        deployment: &DeploymentId,
    ) -> Result<Vec<AuditEvent>, AuditError> {
        self.query(
            "SELECT record, id FROM audit WHERE deployment = ?1 ORDER BY seq",
            Some(deployment.to_string()),
        )
        .await
    }

    async fn query(
        &self,
        sql: &'static str,
        deployment: Option<String>,
    ) -> Result<Vec<AuditEvent>, AuditError> {
        self.db
            .run(move |db| {
                db.read(|conn| {
                    let mut statement = conn.prepare_cached(sql)?;
                    let map = |row: &rusqlite::Row<'_>| {
                        Ok((row.get::<_, String>(0)?, row.get::<_, String>(1)?))
                    };
                    let rows = match &deployment {
                        Some(d) => statement
                            .query_map([d], map)?
                            .collect::<Result<Vec<_>, _>>(),
                        None => statement.query_map([], map)?.collect::<Result<Vec<_>, _>>(),
                    }?;
                    rows.iter()
                        .map(|(json, id)| decode("audit record", id, json))
                        .collect()
                })
            })
            .await
            .map_err(|e| audit_unavailable(self.db.label(), e))
    }
}

#[async_trait]
impl AuditSink for SqliteAuditSink {
    async fn record(&self, event: &AuditEvent) -> Result<(), AuditError> {
        let json =
            serde_json::to_string(event).map_err(|source| AuditError::Serialize { source })?;
        let action = match serde_json::to_value(event.action) {
            Ok(serde_json::Value::String(action)) => action,
            Ok(other) => other.to_string(),
            Err(source) => return Err(AuditError::Serialize { source }),
        };
        let id = event.id.clone();
        let at = event.at.to_rfc3339_opts(SecondsFormat::AutoSi, true);
        let deployment = event.deployment.as_ref().map(ToString::to_string);
        self.db
            .run(move |db| {
                db.write(|tx| {
                    tx.execute(
                        "INSERT INTO audit (id, at, action, deployment, record) \
                         VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (id) DO NOTHING",
                        params![id, at, action, deployment, json],
                    )?;
                    Ok::<_, OpError>(())
                })
            })
            .await
            .map_err(|e| audit_unavailable(self.db.label(), e))
    }
}
