//! [`PostgresAuditSink`]: the [`AuditSink`] on PostgreSQL.

use std::sync::Arc;

use async_trait::async_trait;
use chatdeploy_core::audit::{AuditError, AuditEvent, AuditSink};
use chatdeploy_core::ids::DeploymentId;

use crate::PostgresStateStore;
use crate::db::{Database, decode_rows, encode};
use crate::error::{OpError, OpenStoreError};

/// An [`AuditSink`] writing each record as one row of the `audit` table
/// (its ID unique, its time, action and release as columns, the whole
/// record as JSONB).
///
/// - **Durable:** each record is committed in its own transaction with
///   `synchronous_commit = on`, so when [`record`](AuditSink::record)
///   returns `Ok` the commit is flushed to the server's write-ahead log,
///   whatever the server's default.
/// - **Idempotent:** a record whose ID is already stored (written by this
///   replica or another) is accepted without a second row
///   (`ON CONFLICT (id) DO NOTHING`).
/// - **Ordered:** rows get a sequence number as they are inserted; records
///   are read back in that order.
/// - **Fails closed:** any failure is an [`AuditError::Unavailable`]
///   saying what to fix; nothing is buffered or dropped.
///
/// Get one with [`PostgresStateStore::audit_sink`] (sharing the store's
/// pool) or [`PostgresAuditSink::connect`]. Cloning is cheap and shares
/// the pool.
#[derive(Debug, Clone)]
pub struct PostgresAuditSink {
    db: Arc<Database>,
}

impl PostgresAuditSink {
    /// Connects with the defaults, like [`PostgresStateStore::connect`],
    /// and returns the audit sink of that store.
    ///
    /// # Errors
    ///
    /// [`OpenStoreError`], as [`PostgresStateStore::connect`].
    pub async fn connect(url: &str) -> Result<Self, OpenStoreError> {
        Ok(PostgresStateStore::connect(url).await?.audit_sink())
    }

    pub(crate) fn from_database(db: Arc<Database>) -> Self {
        Self { db }
    }

    /// The PostgreSQL schema holding the `audit` table.
    pub fn schema(&self) -> &str {
        &self.db.target.schema
    }

    /// Every record, oldest first.
    ///
    /// # Errors
    ///
    /// [`AuditError::Unavailable`] when the database cannot be read or a
    /// stored record cannot be decoded.
    pub async fn events(&self) -> Result<Vec<AuditEvent>, AuditError> {
        let db = &self.db;
        db.timed(async {
            let client = db.client().await?;
            let statement = client.prepare_cached(&db.sql.audit_all).await?;
            decode_rows("audit record", &client.query(&statement, &[]).await?)
        })
        .await
        .map_err(|e| db.audit_error(e))
    }

    /// The records of one release, oldest first.
    ///
    /// # Errors
    ///
    /// As [`PostgresAuditSink::events`].
    pub async fn events_for(
        &self,
        deployment: &DeploymentId,
    ) -> Result<Vec<AuditEvent>, AuditError> {
        let db = &self.db;
        db.timed(async {
            let client = db.client().await?;
            let statement = client.prepare_cached(&db.sql.audit_for).await?;
            decode_rows(
                "audit record",
                &client.query(&statement, &[&deployment.as_str()]).await?,
            )
        })
        .await
        .map_err(|e| db.audit_error(e))
    }
}

#[async_trait]
impl AuditSink for PostgresAuditSink {
    async fn record(&self, event: &AuditEvent) -> Result<(), AuditError> {
        let json = encode(event).map_err(|e| match e {
            OpError::Encode(source) => AuditError::Serialize { source },
            other => self.db.audit_error(other),
        })?;
        let action = event.action.as_str();
        let deployment = event.deployment.as_ref().map(DeploymentId::as_str);
        let db = &self.db;
        db.timed(async {
            let mut client = db.client().await?;
            let tx = client.transaction().await?;
            tx.batch_execute("SET LOCAL synchronous_commit = on")
                .await?;
            let statement = tx.prepare_cached(&db.sql.insert_audit).await?;
            tx.execute(
                &statement,
                &[&event.id, &event.at, &action, &deployment, &json],
            )
            .await?;
            tx.commit().await?;
            Ok(())
        })
        .await
        .map_err(|e| db.audit_error(e))
    }
}
