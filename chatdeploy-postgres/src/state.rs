//! [`PostgresStateStore`]: the [`StateStore`] on PostgreSQL.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use async_trait::async_trait;
use chatdeploy_core::ids::{DeploymentId, EventId};
use chatdeploy_core::state::{
    ChangeFeed, DeploymentRecord, Lease, LockAttempt, LockHolder, ReleaseRecord, ServiceLock,
    StateError, StateStore,
};
use chrono::{DateTime, Utc};

use crate::db::{Database, decode, decode_rows, encode, fence_from_i64, to_i64};
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
/// - **Leases for several replicas**, in the `leases` table (one row per
///   release that ever had one; its fence only grows; `owner` is NULL once
///   given up), each operation one statement compared against the
///   caller's `now`, never the server's clock:
///   [`claim`](StateStore::claim) is an `INSERT … ON CONFLICT … DO UPDATE
///   … WHERE` free, lapsed or own; [`renew`](StateStore::renew) and
///   [`release_lease`](StateStore::release_lease) are `UPDATE`s matching
///   owner and fence; [`update_fenced`](StateStore::update_fenced) is the
///   revision-checked `UPDATE` with the lease check in the same statement
///   (the lease row locked `FOR SHARE`, so a takeover either committed
///   before it and wins, or waits for it); [`claimable`](StateStore::claimable)
///   is one `LEFT JOIN` over the in-flight index.
/// - **A change feed** ([`changes`](StateStore::changes)): every insert or
///   update of a release is announced with `NOTIFY` on
///   [`change_channel`](Self::change_channel) by a trigger, naming the
///   writing store; each feed listens on a connection of its own (with the
///   pool's TLS settings), leaves out this store's own writes, holds at
///   most 1,024 IDs (dropping newer ones when the engine lags), reconnects
///   with backoff when its connection drops (what changed meanwhile is not
///   announced: the engine's polling is the fallback), and ends when its
///   receiver is dropped or the store closed.
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

    /// The `NOTIFY` channel this schema's release changes are sent on
    /// (`chatdeploy_changes_<schema>`, shortened with a hash when the
    /// schema's name is long); what [`changes`](StateStore::changes)
    /// listens to, and what `LISTEN` shows in `pg_stat_activity`.
    pub fn change_channel(&self) -> &str {
        self.db.listener.channel()
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

/// `now + ttl`, saturating instead of overflowing.
fn expiry(now: DateTime<Utc>, ttl: std::time::Duration) -> DateTime<Utc> {
    chrono::Duration::from_std(ttl)
        .ok()
        .and_then(|ttl| now.checked_add_signed(ttl))
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
}

/// The error of a renewal or fenced write with a lease that is not the
/// release's current one.
fn lease_lost(lease: &Lease) -> StateError {
    StateError::LeaseLost {
        deployment: lease.deployment.clone(),
        owner: lease.owner.clone(),
    }
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

    async fn claim(
        &self,
        deployment: &DeploymentId,
        owner: &str,
        now: DateTime<Utc>,
        ttl: std::time::Duration,
    ) -> Result<Option<Lease>, StateError> {
        let db = &self.db;
        let expires_at = expiry(now, ttl);
        db.timed(async {
            let client = db.client().await?;
            let statement = client.prepare_cached(&db.sql.claim).await?;
            let row = client
                .query_opt(
                    &statement,
                    &[&deployment.as_str(), &owner, &now, &expires_at],
                )
                .await?;
            row.map(|row| {
                Ok(Lease {
                    deployment: deployment.clone(),
                    owner: owner.to_owned(),
                    fence: fence_from_i64(row.try_get(0)?)?,
                    expires_at: row.try_get(1)?,
                })
            })
            .transpose()
        })
        .await
        .map_err(|e| db.state_error("claiming a release's lease", e))
    }

    async fn renew(
        &self,
        lease: &Lease,
        now: DateTime<Utc>,
        ttl: std::time::Duration,
    ) -> Result<Lease, StateError> {
        let db = &self.db;
        // A fence beyond bigint was never granted.
        let Ok(fence) = i64::try_from(lease.fence) else {
            return Err(lease_lost(lease));
        };
        let expires_at = expiry(now, ttl);
        let renewed = db
            .timed(async {
                let client = db.client().await?;
                let statement = client.prepare_cached(&db.sql.renew).await?;
                let row = client
                    .query_opt(
                        &statement,
                        &[
                            &lease.deployment.as_str(),
                            &lease.owner,
                            &fence,
                            &now,
                            &expires_at,
                        ],
                    )
                    .await?;
                row.map(|row| row.try_get::<_, DateTime<Utc>>(0))
                    .transpose()
                    .map_err(OpError::from)
            })
            .await
            .map_err(|e| db.state_error("renewing a release's lease", e))?;
        match renewed {
            Some(expires_at) => Ok(Lease {
                expires_at,
                ..lease.clone()
            }),
            None => Err(lease_lost(lease)),
        }
    }

    async fn release_lease(&self, lease: &Lease) -> Result<(), StateError> {
        let db = &self.db;
        let Ok(fence) = i64::try_from(lease.fence) else {
            return Ok(());
        };
        db.timed(async {
            let client = db.client().await?;
            let statement = client.prepare_cached(&db.sql.release_lease).await?;
            client
                .execute(
                    &statement,
                    &[&lease.deployment.as_str(), &lease.owner, &fence],
                )
                .await?;
            Ok(())
        })
        .await
        .map_err(|e| db.state_error("giving up a release's lease", e))
    }

    async fn update_fenced(
        &self,
        record: &DeploymentRecord,
        lease: &Lease,
        now: DateTime<Utc>,
    ) -> Result<DeploymentRecord, StateError> {
        let db = &self.db;
        if lease.deployment != record.id {
            return Err(lease_lost(lease));
        }
        let Ok(fence) = i64::try_from(lease.fence) else {
            return Err(lease_lost(lease));
        };
        let mut updated = record.clone();
        let (won, leased, exists) = db
            .timed(async {
                updated.revision = record
                    .revision
                    .checked_add(1)
                    .ok_or_else(|| OpError::Range("revision overflow".to_owned()))?;
                let json = encode(&updated)?;
                let expected = to_i64(record.revision)?;
                let next = to_i64(updated.revision)?;
                let client = db.client().await?;
                let statement = client.prepare_cached(&db.sql.update_fenced).await?;
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
                            &lease.owner,
                            &fence,
                            &now,
                        ],
                    )
                    .await?;
                Ok((
                    row.try_get::<_, bool>(0)?,
                    row.try_get::<_, bool>(1)?,
                    row.try_get::<_, bool>(2)?,
                ))
            })
            .await
            .map_err(|e| db.state_error("updating a release under its lease", e))?;
        match (won, leased, exists) {
            (true, _, _) => Ok(updated),
            (false, false, _) => Err(lease_lost(lease)),
            (false, true, true) => Err(StateError::Conflict {
                deployment: record.id.clone(),
                expected: record.revision,
            }),
            (false, true, false) => Err(StateError::NotFound {
                deployment: record.id.clone(),
            }),
        }
    }

    async fn claimable(
        &self,
        owner: &str,
        now: DateTime<Utc>,
    ) -> Result<Vec<DeploymentId>, StateError> {
        let db = &self.db;
        db.timed(async {
            let client = db.client().await?;
            let statement = client.prepare_cached(&db.sql.claimable).await?;
            let rows = client.query(&statement, &[&now, &owner]).await?;
            rows.iter()
                .map(|row| Ok(DeploymentId::new(row.try_get::<_, &str>(0)?)))
                .collect()
        })
        .await
        .map_err(|e| db.state_error("reading the releases to take over", e))
    }

    /// A feed of the releases other stores (other replicas, or anything
    /// else writing the schema) inserted or updated; this store's own
    /// writes are left out. See the feed's behaviour on
    /// [`PostgresStateStore`].
    async fn changes(&self) -> Result<Option<ChangeFeed>, StateError> {
        self.db
            .listener
            .start()
            .await
            .map(Some)
            .map_err(|e| self.db.state_error("listening for release changes", e))
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
