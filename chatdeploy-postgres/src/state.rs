//! [`PostgresStateStore`]: the [`StateStore`] on PostgreSQL.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use async_trait::async_trait;
use chatdeploy_core::ids::{DeploymentId, EventId};
use chatdeploy_core::state::{
    DeploymentRecord, LockAttempt, LockHolder, ReleaseRecord, ServiceLock, StateError, StateStore,
};
use chrono::{DateTime, Utc};

use crate::db::{Database, decode, decode_rows, encode, to_i64};
use crate::error::{OpError, OpenStoreError};
use crate::{PostgresAuditSink, PostgresStoreBuilder};

/// A sweep of expired event IDs starts after every this many new IDs.
const SWEEP_EVERY: u64 = 256;
/// One sweep deletes at most this many expired IDs.
const SWEEP_BATCH: i64 = 1024;

/// A [`StateStore`] in PostgreSQL, shared by every replica of a bot.
///
/// - **One statement per operation** wherever the trait allows:
///   [`remember_event`](StateStore::remember_event) is a single
///   `INSERT … ON CONFLICT … DO UPDATE … WHERE expired RETURNING` round
///   trip, [`update_deployment`](StateStore::update_deployment) a single
///   revision-checked `UPDATE` (of many concurrent updates from one
///   revision, across every replica, exactly one wins); only
///   [`unlock`](StateStore::unlock) is a short transaction (it compares the
///   holder after decoding, so a field added to the holder later cannot
///   leave a lock stuck).
/// - **Prepared statements**, cached per pooled connection; no schema check
///   after [`build`](PostgresStoreBuilder::build).
/// - **Expired event IDs are swept in bounded steps**: after every 256 new
///   event IDs, a background task deletes at most 1,024 expired ones
///   (`FOR UPDATE SKIP LOCKED`, so replicas' sweeps never wait for each
///   other). Sweeping deletes up to four times as fast as IDs arrive, so
///   the table holds the live IDs plus a bounded backlog, and no caller
///   waits for a sweep. [`sweep_expired_events`](Self::sweep_expired_events)
///   deletes them all now.
/// - **Fails closed**: when the database cannot be reached or answers with
///   an error, every operation returns [`StateError::Unavailable`] with a
///   sentence saying what to fix; after 10 s (see
///   [`with_operation_timeout`](PostgresStoreBuilder::with_operation_timeout))
///   without an answer too.
///
/// Cloning is cheap and shares the pool.
#[derive(Debug, Clone)]
pub struct PostgresStateStore {
    db: Arc<Database>,
}

impl PostgresStateStore {
    /// A builder (see [`PostgresStoreBuilder`]).
    pub fn builder() -> PostgresStoreBuilder {
        PostgresStoreBuilder::new()
    }

    /// Connects with the defaults (schema `chatdeploy`, 16 connections, TLS
    /// as the URL's `sslmode` says) and migrates the schema.
    ///
    /// # Errors
    ///
    /// [`OpenStoreError`], as [`PostgresStoreBuilder::build`].
    pub async fn connect(url: &str) -> Result<Self, OpenStoreError> {
        Self::builder().with_url(url).build().await
    }

    /// Connects as [`PostgresStoreBuilder::from_env`] says
    /// (`CHATDEPLOY_POSTGRES_URL`, …).
    ///
    /// # Errors
    ///
    /// [`OpenStoreError::MissingUrl`] when `CHATDEPLOY_POSTGRES_URL` is
    /// unset, and the other [`OpenStoreError`]s of
    /// [`PostgresStoreBuilder::build`].
    pub async fn from_env() -> Result<Self, OpenStoreError> {
        PostgresStoreBuilder::from_env().build().await
    }

    pub(crate) fn from_database(db: Arc<Database>) -> Self {
        Self { db }
    }

    /// An audit sink writing to the `audit` table of this same schema,
    /// sharing this store's pool.
    pub fn audit_sink(&self) -> PostgresAuditSink {
        PostgresAuditSink::from_database(Arc::clone(&self.db))
    }

    /// The PostgreSQL schema holding the tables.
    pub fn schema(&self) -> &str {
        &self.db.target.schema
    }

    /// The server, as `user@host:port/database` (never the password).
    pub fn target(&self) -> &str {
        &self.db.target.label
    }

    /// Closes the pool (of this store, its clones and its audit sinks):
    /// idle connections are closed at once, and every later operation
    /// fails with [`StateError::Unavailable`].
    pub fn close(&self) {
        self.db.close();
    }

    /// Deletes every expired event ID now, in batches of at most 1,024
    /// (this also happens on its own, a batch after every 256 new IDs).
    /// Returns how many were deleted.
    ///
    /// # Errors
    ///
    /// [`StateError::Unavailable`].
    pub async fn sweep_expired_events(&self) -> Result<u64, StateError> {
        let mut total = 0;
        loop {
            let deleted = sweep_batch(&self.db, Utc::now())
                .await
                .map_err(|e| self.db.state_error("sweeping expired events", e))?;
            total += deleted;
            if deleted < SWEEP_BATCH.unsigned_abs() {
                return Ok(total);
            }
        }
    }

    /// Counts a new event ID and, every [`SWEEP_EVERY`] of them, starts a
    /// background sweep unless one is running.
    fn note_new_event(&self) {
        let count = self.db.new_events.fetch_add(1, Ordering::Relaxed);
        if count % SWEEP_EVERY != SWEEP_EVERY - 1 {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        if self.db.sweeping.swap(true, Ordering::AcqRel) {
            return;
        }
        let db = Arc::clone(&self.db);
        runtime.spawn(async move {
            match sweep_batch(&db, Utc::now()).await {
                Ok(deleted) => tracing::debug!(deleted, "swept expired event IDs"),
                Err(e) => {
                    let error = db.state_error("sweeping expired events", e);
                    tracing::warn!(%error, "sweeping expired event IDs failed; will retry later");
                }
            }
            db.sweeping.store(false, Ordering::Release);
        });
    }
}

async fn sweep_batch(db: &Database, now: DateTime<Utc>) -> Result<u64, OpError> {
    db.timed(async {
        let client = db.client().await?;
        let statement = client.prepare_cached(&db.sql.sweep_events).await?;
        Ok(client.execute(&statement, &[&now, &SWEEP_BATCH]).await?)
    })
    .await
}

async fn read_lock(db: &Database, service: &str) -> Result<Option<ServiceLock>, OpError> {
    let client = db.client().await?;
    let statement = client.prepare_cached(&db.sql.lock).await?;
    let row = client.query_opt(&statement, &[&service]).await?;
    row.map(|row| {
        let json: &str = row.try_get(0)?;
        decode("lock", service, json)
    })
    .transpose()
}

#[async_trait]
impl StateStore for PostgresStateStore {
    async fn remember_event(
        &self,
        event: &EventId,
        expires_at: DateTime<Utc>,
    ) -> Result<bool, StateError> {
        let db = &self.db;
        let new = db
            .timed(async {
                let client = db.client().await?;
                let statement = client.prepare_cached(&db.sql.remember_event).await?;
                let now = Utc::now();
                let row = client
                    .query_opt(&statement, &[&event.as_str(), &expires_at, &now])
                    .await?;
                Ok(row.is_some())
            })
            .await
            .map_err(|e| db.state_error("remembering an event", e))?;
        if new {
            self.note_new_event();
        }
        Ok(new)
    }

    async fn try_lock(&self, lock: &ServiceLock) -> Result<LockAttempt, StateError> {
        let db = &self.db;
        let held: ServiceLock = db
            .timed(async {
                let json = encode(lock)?;
                let client = db.client().await?;
                let statement = client.prepare_cached(&db.sql.try_lock).await?;
                let row = client
                    .query_one(&statement, &[&lock.service, &lock.since, &json])
                    .await?;
                let stored: &str = row.try_get(0)?;
                decode("lock", &lock.service, stored)
            })
            .await
            .map_err(|e| db.state_error("taking a lock", e))?;
        if held.holder == lock.holder {
            Ok(LockAttempt::Acquired)
        } else {
            Ok(LockAttempt::Held(held))
        }
    }

    async fn unlock(
        &self,
        service: &str,
        holder: &LockHolder,
    ) -> Result<Option<ServiceLock>, StateError> {
        let db = &self.db;
        db.timed(async {
            let mut client = db.client().await?;
            let tx = client.transaction().await?;
            let select = tx.prepare_cached(&db.sql.lock_for_update).await?;
            let Some(row) = tx.query_opt(&select, &[&service]).await? else {
                return Ok(None);
            };
            let json: &str = row.try_get(0)?;
            let held: ServiceLock = decode("lock", service, json)?;
            if held.holder != *holder {
                return Ok(None);
            }
            let delete = tx.prepare_cached(&db.sql.delete_lock).await?;
            tx.execute(&delete, &[&service]).await?;
            tx.commit().await?;
            Ok(Some(held))
        })
        .await
        .map_err(|e| db.state_error("releasing a lock", e))
    }

    async fn lock(&self, service: &str) -> Result<Option<ServiceLock>, StateError> {
        self.db
            .timed(read_lock(&self.db, service))
            .await
            .map_err(|e| self.db.state_error("reading a lock", e))
    }

    async fn locks(&self) -> Result<Vec<ServiceLock>, StateError> {
        let db = &self.db;
        db.timed(async {
            let client = db.client().await?;
            let statement = client.prepare_cached(&db.sql.locks).await?;
            decode_rows("lock", &client.query(&statement, &[]).await?)
        })
        .await
        .map_err(|e| db.state_error("reading the locks", e))
    }

    async fn create_deployment(&self, record: &DeploymentRecord) -> Result<(), StateError> {
        let db = &self.db;
        let inserted = db
            .timed(async {
                let json = encode(record)?;
                let revision = to_i64(record.revision)?;
                let client = db.client().await?;
                let statement = client.prepare_cached(&db.sql.create_deployment).await?;
                Ok(client
                    .execute(
                        &statement,
                        &[
                            &record.id.as_str(),
                            &record.service,
                            &record.finalized,
                            &record.requested_at,
                            &revision,
                            &json,
                        ],
                    )
                    .await?)
            })
            .await
            .map_err(|e| db.state_error("creating a release", e))?;
        if inserted == 1 {
            Ok(())
        } else {
            Err(StateError::AlreadyExists {
                deployment: record.id.clone(),
            })
        }
    }

    async fn update_deployment(
        &self,
        record: &DeploymentRecord,
    ) -> Result<DeploymentRecord, StateError> {
        let db = &self.db;
        let mut updated = record.clone();
        let (won, exists) = db
            .timed(async {
                updated.revision = record
                    .revision
                    .checked_add(1)
                    .ok_or_else(|| OpError::Range("revision overflow".to_owned()))?;
                let json = encode(&updated)?;
                let expected = to_i64(record.revision)?;
                let next = to_i64(updated.revision)?;
                let client = db.client().await?;
                let statement = client.prepare_cached(&db.sql.update_deployment).await?;
                let row = client
                    .query_one(
                        &statement,
                        &[
                            &record.id.as_str(),
                            &record.service,
                            &record.finalized,
                            &record.requested_at,
                            &next,
                            &json,
                            &expected,
                        ],
                    )
                    .await?;
                Ok((row.try_get::<_, bool>(0)?, row.try_get::<_, bool>(1)?))
            })
            .await
            .map_err(|e| db.state_error("updating a release", e))?;
        match (won, exists) {
            (true, _) => Ok(updated),
            (false, true) => Err(StateError::Conflict {
                deployment: record.id.clone(),
                expected: record.revision,
            }),
            (false, false) => Err(StateError::NotFound {
                deployment: record.id.clone(),
            }),
        }
    }

    async fn deployment(&self, id: &DeploymentId) -> Result<Option<DeploymentRecord>, StateError> {
        let db = &self.db;
        db.timed(async {
            let client = db.client().await?;
            let statement = client.prepare_cached(&db.sql.deployment).await?;
            let row = client.query_opt(&statement, &[&id.as_str()]).await?;
            row.map(|row| {
                let json: &str = row.try_get(0)?;
                decode("deployment", id.as_str(), json)
            })
            .transpose()
        })
        .await
        .map_err(|e| db.state_error("reading a release", e))
    }

    async fn in_flight(&self) -> Result<Vec<DeploymentRecord>, StateError> {
        let db = &self.db;
        db.timed(async {
            let client = db.client().await?;
            let statement = client.prepare_cached(&db.sql.in_flight).await?;
            decode_rows("deployment", &client.query(&statement, &[]).await?)
        })
        .await
        .map_err(|e| db.state_error("reading the releases in flight", e))
    }

    async fn append_history(&self, entry: &ReleaseRecord) -> Result<(), StateError> {
        let db = &self.db;
        db.timed(async {
            let json = encode(entry)?;
            let client = db.client().await?;
            let statement = client.prepare_cached(&db.sql.append_history).await?;
            client
                .execute(
                    &statement,
                    &[
                        &entry.deployment.as_str(),
                        &entry.service,
                        &entry.ended_at,
                        &json,
                    ],
                )
                .await?;
            Ok(())
        })
        .await
        .map_err(|e| db.state_error("appending to the history", e))
    }

    async fn history(&self, service: &str, limit: usize) -> Result<Vec<ReleaseRecord>, StateError> {
        let db = &self.db;
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        db.timed(async {
            let client = db.client().await?;
            let statement = client.prepare_cached(&db.sql.history).await?;
            decode_rows(
                "history entry",
                &client.query(&statement, &[&service, &limit]).await?,
            )
        })
        .await
        .map_err(|e| db.state_error("reading the history", e))
    }
}
