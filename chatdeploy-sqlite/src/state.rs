//! [`SqliteStateStore`]: the [`StateStore`] on an SQLite file.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use async_trait::async_trait;
use chatdeploy_core::ids::{DeploymentId, EventId};
use chatdeploy_core::state::{
    DeploymentRecord, Lease, LockAttempt, LockHolder, ReleaseRecord, ServiceLock, StateError,
    StateStore,
};
use chrono::{DateTime, Utc};
use rusqlite::{OptionalExtension, params};

use crate::SqliteAuditSink;
use crate::codec::{DeploymentRow, decode, decode_rows, encode, nanos, to_i64};
use crate::connection::Database;
use crate::error::{OpError, OpenStateError, state_unavailable};
use crate::leases;

/// Expired event IDs are swept on every this many-th new event.
const SWEEP_EVERY: u64 = 256;

/// A [`StateStore`] in an SQLite database file: durable across restarts
/// and crashes, and safe to share between processes on one machine.
///
/// Every operation is one SQLite transaction; writes take the write lock
/// up front (`BEGIN IMMEDIATE`), so revision checks and locks hold across
/// processes sharing the file. Commits are synced to disk
/// (`synchronous = FULL`, WAL) before an operation returns `Ok`. While
/// another connection holds the lock, operations wait and retry (for up to
/// 30 seconds) instead of failing with "database is busy".
///
/// Cloning is cheap and shares the connections.
#[derive(Debug, Clone)]
pub struct SqliteStateStore {
    db: Arc<Database>,
}

impl SqliteStateStore {
    /// Opens the database at `path`, creating it (but not its directory)
    /// when missing, and migrates its schema forward. The file is locked for
    /// this process while the store (or a clone, or its audit sink) lives:
    /// SQLite keeps the state of exactly one bot process.
    ///
    /// # Errors
    ///
    /// [`OpenStateError::InUse`] when another process (or another open in
    /// this one) has it, and [`OpenStateError`] naming the file and what to
    /// do when it is not a sound chatdeploy database (corrupt, another
    /// program's, newer schema) or cannot be read or written. The file is
    /// then left untouched.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, OpenStateError> {
        Ok(Self {
            db: Arc::new(Database::open(path.as_ref())?),
        })
    }

    /// Opens an existing database for reading only, beside the bot process
    /// that owns it (to inspect releases, or in tests): no lock is taken,
    /// and every write fails with [`StateError::Unavailable`].
    ///
    /// # Errors
    ///
    /// [`OpenStateError`] when the file is missing or not a sound
    /// chatdeploy database of this version.
    pub fn open_read_only(path: impl AsRef<Path>) -> Result<Self, OpenStateError> {
        Ok(Self {
            db: Arc::new(Database::open_read_only(path.as_ref())?),
        })
    }

    /// A private in-memory database, for tests and demos; lost when the
    /// last clone is dropped.
    ///
    /// # Errors
    ///
    /// [`OpenStateError::Sqlite`] if SQLite cannot allocate it.
    pub fn open_in_memory() -> Result<Self, OpenStateError> {
        Ok(Self {
            db: Arc::new(Database::open_in_memory()?),
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        self.db.path()
    }

    /// An audit sink writing to the `audit` table of this same database,
    /// sharing its connections.
    pub fn audit_sink(&self) -> SqliteAuditSink {
        SqliteAuditSink::from_database(Arc::clone(&self.db))
    }

    /// Deletes expired event IDs now (this also happens on its own every
    /// few hundred new events). Returns how many were deleted.
    ///
    /// # Errors
    ///
    /// [`StateError::Unavailable`].
    pub async fn sweep_expired_events(&self) -> Result<usize, StateError> {
        self.call("sweeping expired events", |db| {
            db.write(|tx| sweep(tx, nanos(Utc::now())))
        })
        .await
    }

    /// The revision-checked replacement of a release; with a lease, only
    /// while the lease is the release's current one at the given time.
    async fn update(
        &self,
        record: &DeploymentRecord,
        fence: Option<(Lease, DateTime<Utc>)>,
    ) -> Result<DeploymentRecord, StateError> {
        let mut updated = record.clone();
        updated.revision = record.revision.checked_add(1).ok_or_else(|| {
            state_unavailable("updating a release", self.db.label(), "revision overflow")
        })?;
        let row = DeploymentRow::new(&updated)
            .map_err(|e| state_unavailable("encoding a release", self.db.label(), e))?;
        let expected = to_i64(record.revision)
            .map_err(|e| state_unavailable("updating a release", self.db.label(), e))?;
        let fence_owner = fence
            .as_ref()
            .map(|(l, _)| l.owner.clone())
            .unwrap_or_default();
        let outcome = self
            .call("updating a release", move |db| {
                db.write(|tx| {
                    if let Some((lease, now)) = &fence
                        && !leases::is_current(tx, lease, *now)?
                    {
                        return Ok(Cas::LeaseLost);
                    }
                    let stored: Option<i64> = tx
                        .query_row(
                            "SELECT revision FROM deployments WHERE id = ?1",
                            [&row.id],
                            |r| r.get(0),
                        )
                        .optional()?;
                    match stored {
                        None => Ok(Cas::NotFound),
                        Some(revision) if revision != expected => Ok(Cas::Conflict),
                        Some(_) => {
                            tx.execute(
                                "UPDATE deployments SET service = ?2, finalized = ?3, \
                                 requested_at = ?4, revision = ?5, record = ?6 WHERE id = ?1",
                                params![
                                    row.id,
                                    row.service,
                                    row.finalized,
                                    row.requested_at,
                                    row.revision,
                                    row.json
                                ],
                            )?;
                            Ok(Cas::Updated)
                        }
                    }
                })
            })
            .await?;
        match outcome {
            Cas::Updated => Ok(updated),
            Cas::Conflict => Err(StateError::Conflict {
                deployment: record.id.clone(),
                expected: record.revision,
            }),
            Cas::NotFound => Err(StateError::NotFound {
                deployment: record.id.clone(),
            }),
            Cas::LeaseLost => Err(StateError::LeaseLost {
                deployment: record.id.clone(),
                owner: fence_owner,
            }),
        }
    }

    async fn call<T, F>(&self, what: &'static str, op: F) -> Result<T, StateError>
    where
        T: Send + 'static,
        F: FnOnce(&Database) -> Result<T, OpError> + Send + 'static,
    {
        self.db
            .run(op)
            .await
            .map_err(|e| state_unavailable(what, self.db.label(), e))
    }
}

fn sweep(tx: &rusqlite::Transaction<'_>, now: i64) -> Result<usize, OpError> {
    Ok(tx.execute("DELETE FROM events WHERE expires_at <= ?1", [now])?)
}

fn read_lock(conn: &rusqlite::Connection, service: &str) -> Result<Option<ServiceLock>, OpError> {
    let json: Option<String> = conn
        .query_row(
            "SELECT record FROM locks WHERE service = ?1",
            [service],
            |row| row.get(0),
        )
        .optional()?;
    json.map(|j| decode("lock", service, &j)).transpose()
}

fn read_deployment(
    conn: &rusqlite::Connection,
    id: &str,
) -> Result<Option<DeploymentRecord>, OpError> {
    let json: Option<String> = conn
        .query_row(
            "SELECT record FROM deployments WHERE id = ?1",
            [id],
            |row| row.get(0),
        )
        .optional()?;
    json.map(|j| decode("deployment", id, &j)).transpose()
}

#[async_trait]
impl StateStore for SqliteStateStore {
    async fn remember_event(
        &self,
        event: &EventId,
        expires_at: DateTime<Utc>,
    ) -> Result<bool, StateError> {
        let id = event.to_string();
        let expires_at = nanos(expires_at);
        self.call("remembering an event", move |db| {
            db.write(|tx| {
                let now = nanos(Utc::now());
                let stored: Option<i64> = tx
                    .query_row(
                        "SELECT expires_at FROM events WHERE id = ?1",
                        [&id],
                        |row| row.get(0),
                    )
                    .optional()?;
                if stored.is_some_and(|expiry| expiry > now) {
                    return Ok(false);
                }
                tx.execute(
                    "INSERT INTO events (id, expires_at) VALUES (?1, ?2) \
                     ON CONFLICT (id) DO UPDATE SET expires_at = excluded.expires_at",
                    params![id, expires_at],
                )?;
                if db.inserts.fetch_add(1, Ordering::Relaxed) % SWEEP_EVERY == SWEEP_EVERY - 1 {
                    sweep(tx, now)?;
                }
                Ok(true)
            })
        })
        .await
    }

    async fn try_lock(&self, lock: &ServiceLock) -> Result<LockAttempt, StateError> {
        let lock = lock.clone();
        let json =
            encode(&lock).map_err(|e| state_unavailable("encoding a lock", self.db.label(), e))?;
        self.call("taking a lock", move |db| {
            db.write(|tx| match read_lock(tx, &lock.service)? {
                Some(held) if held.holder != lock.holder => Ok(LockAttempt::Held(held)),
                Some(_) => Ok(LockAttempt::Acquired),
                None => {
                    tx.execute(
                        "INSERT INTO locks (service, since, record) VALUES (?1, ?2, ?3)",
                        params![lock.service, nanos(lock.since), json],
                    )?;
                    Ok(LockAttempt::Acquired)
                }
            })
        })
        .await
    }

    async fn unlock(
        &self,
        service: &str,
        holder: &LockHolder,
    ) -> Result<Option<ServiceLock>, StateError> {
        let service = service.to_owned();
        let holder = holder.clone();
        self.call("releasing a lock", move |db| {
            db.write(|tx| match read_lock(tx, &service)? {
                Some(held) if held.holder == holder => {
                    tx.execute("DELETE FROM locks WHERE service = ?1", [&service])?;
                    Ok(Some(held))
                }
                _ => Ok(None),
            })
        })
        .await
    }

    async fn lock(&self, service: &str) -> Result<Option<ServiceLock>, StateError> {
        let service = service.to_owned();
        self.call("reading a lock", move |db| {
            db.read(|conn| read_lock(conn, &service))
        })
        .await
    }

    async fn locks(&self) -> Result<Vec<ServiceLock>, StateError> {
        self.call("reading the locks", |db| {
            db.read(|conn| {
                decode_rows(
                    conn,
                    "lock",
                    "SELECT record, service FROM locks ORDER BY service",
                    [],
                )
            })
        })
        .await
    }

    async fn create_deployment(&self, record: &DeploymentRecord) -> Result<(), StateError> {
        let row = DeploymentRow::new(record)
            .map_err(|e| state_unavailable("encoding a release", self.db.label(), e))?;
        let created = self
            .call("creating a release", move |db| {
                db.write(|tx| {
                    let inserted = tx.execute(
                        "INSERT INTO deployments (id, service, finalized, requested_at, revision, record) \
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (id) DO NOTHING",
                        params![row.id, row.service, row.finalized, row.requested_at, row.revision, row.json],
                    )?;
                    Ok(inserted == 1)
                })
            })
            .await?;
        if created {
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
        self.update(record, None).await
    }

    async fn claim(
        &self,
        deployment: &DeploymentId,
        owner: &str,
        now: DateTime<Utc>,
        ttl: std::time::Duration,
    ) -> Result<Option<Lease>, StateError> {
        let (deployment, owner) = (deployment.clone(), owner.to_owned());
        self.call("claiming a release", move |db| {
            db.write(|tx| leases::claim(tx, &deployment, &owner, now, ttl))
        })
        .await
    }

    async fn renew(
        &self,
        lease: &Lease,
        now: DateTime<Utc>,
        ttl: std::time::Duration,
    ) -> Result<Lease, StateError> {
        let held = lease.clone();
        let renewed = self
            .call("renewing a lease", move |db| {
                db.write(|tx| leases::renew(tx, &held, now, ttl))
            })
            .await?;
        renewed.ok_or_else(|| StateError::LeaseLost {
            deployment: lease.deployment.clone(),
            owner: lease.owner.clone(),
        })
    }

    async fn release_lease(&self, lease: &Lease) -> Result<(), StateError> {
        let held = lease.clone();
        self.call("giving up a lease", move |db| {
            db.write(|tx| leases::release(tx, &held))
        })
        .await
    }

    async fn update_fenced(
        &self,
        record: &DeploymentRecord,
        lease: &Lease,
        now: DateTime<Utc>,
    ) -> Result<DeploymentRecord, StateError> {
        self.update(record, Some((lease.clone(), now))).await
    }

    async fn claimable(
        &self,
        owner: &str,
        now: DateTime<Utc>,
    ) -> Result<Vec<DeploymentId>, StateError> {
        let owner = owner.to_owned();
        self.call("reading the releases to take over", move |db| {
            db.read(|conn| leases::claimable(conn, &owner, now))
        })
        .await
    }

    async fn deployment(&self, id: &DeploymentId) -> Result<Option<DeploymentRecord>, StateError> {
        let id = id.to_string();
        self.call("reading a release", move |db| {
            db.read(|conn| read_deployment(conn, &id))
        })
        .await
    }

    async fn in_flight(&self) -> Result<Vec<DeploymentRecord>, StateError> {
        self.call("reading the releases in flight", |db| {
            db.read(|conn| {
                decode_rows(
                    conn,
                    "deployment",
                    "SELECT record, id FROM deployments WHERE finalized = 0 \
                     ORDER BY requested_at, id",
                    [],
                )
            })
        })
        .await
    }

    async fn append_history(&self, entry: &ReleaseRecord) -> Result<(), StateError> {
        let json = encode(entry)
            .map_err(|e| state_unavailable("encoding a history entry", self.db.label(), e))?;
        let id = entry.deployment.to_string();
        let service = entry.service.clone();
        let ended_at = nanos(entry.ended_at);
        self.call("appending to the history", move |db| {
            db.write(|tx| {
                tx.execute(
                    "INSERT INTO history (deployment, service, ended_at, record) \
                     VALUES (?1, ?2, ?3, ?4) ON CONFLICT (deployment) DO NOTHING",
                    params![id, service, ended_at, json],
                )?;
                Ok(())
            })
        })
        .await
    }

    async fn history(&self, service: &str, limit: usize) -> Result<Vec<ReleaseRecord>, StateError> {
        let service = service.to_owned();
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.call("reading the history", move |db| {
            db.read(|conn| {
                decode_rows(
                    conn,
                    "history entry",
                    "SELECT record, deployment FROM history WHERE service = ?1 \
                     ORDER BY ended_at DESC, rowid LIMIT ?2",
                    params![service, limit],
                )
            })
        })
        .await
    }
}

enum Cas {
    Updated,
    Conflict,
    NotFound,
    LeaseLost,
}
