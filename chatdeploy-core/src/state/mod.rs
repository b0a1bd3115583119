//! The [`StateStore`] trait: what must survive a restart. Inbound event
//! deduplication, service locks, releases in flight with the approvals given
//! so far, and release history.
//!
//! Every method is atomic on its own; releases are updated with a revision
//! check so that concurrent handlers (two approvers clicking at the same
//! instant) cannot both win.

#[cfg(any(test, feature = "fake"))]
pub mod contract;
mod lease;
mod memory;
mod records;
mod seen;

use std::sync::Arc;

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::ids::{DeploymentId, EventId};

pub use lease::{ChangeFeed, Lease};

pub use memory::InMemoryStateStore;
pub use records::{
    Actor, Approval, ApprovalState, DeploymentRecord, LockAttempt, LockHolder, Rejection,
    ReleaseKind, ReleaseRecord, ServiceLock, Stage, WaitEnd, WatchProblem,
};

/// Why a state operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StateError {
    /// A revision-checked update lost against a concurrent one; re-read and
    /// decide again.
    #[error("deployment {deployment} changed concurrently (expected revision {expected})")]
    Conflict {
        /// The release.
        deployment: DeploymentId,
        /// The revision the caller read.
        expected: u64,
    },
    /// A release with this ID already exists.
    #[error("deployment {deployment} already exists")]
    AlreadyExists {
        /// The release.
        deployment: DeploymentId,
    },
    /// No release with this ID.
    #[error("deployment {deployment} was not found")]
    NotFound {
        /// The release.
        deployment: DeploymentId,
    },
    /// A fenced write or a renewal by a replica whose lease on the release
    /// expired or passed to another replica: it must stop acting on it.
    #[error("the lease on deployment {deployment} is no longer held by {owner}")]
    LeaseLost {
        /// The release.
        deployment: DeploymentId,
        /// The replica that lost it.
        owner: String,
    },
    /// The store could not be read or written.
    #[error("state store unavailable: {message}")]
    Unavailable {
        /// What happened.
        message: String,
        /// The underlying error, if any.
        #[source]
        source: Option<Box<dyn std::error::Error + Send + Sync>>,
    },
}

/// Durable state shared by the engine's handlers (and replicas, for stores
/// that support it).
#[cfg_attr(any(test, feature = "test-util"), mockall::automock)]
#[async_trait]
pub trait StateStore: Send + Sync {
    /// Records an inbound event ID until `expires_at`. Returns `true` the
    /// first time an ID is seen, `false` for a redelivery.
    ///
    /// # Errors
    ///
    /// [`StateError::Unavailable`]; callers must then not act on the event.
    async fn remember_event(
        &self,
        event: &EventId,
        expires_at: DateTime<Utc>,
    ) -> Result<bool, StateError>;

    /// Takes the service's lock unless someone else holds it. Taking a lock
    /// one already holds (same holder) succeeds again.
    ///
    /// # Errors
    ///
    /// [`StateError::Unavailable`].
    async fn try_lock(&self, lock: &ServiceLock) -> Result<LockAttempt, StateError>;

    /// Releases the service's lock if `holder` holds it. Returns the lock
    /// that was released, or `None` when it was not held by `holder`.
    ///
    /// # Errors
    ///
    /// [`StateError::Unavailable`].
    async fn unlock(
        &self,
        service: &str,
        holder: &records::LockHolder,
    ) -> Result<Option<ServiceLock>, StateError>;

    /// The service's lock, if held.
    ///
    /// # Errors
    ///
    /// [`StateError::Unavailable`].
    async fn lock(&self, service: &str) -> Result<Option<ServiceLock>, StateError>;

    /// Every held lock.
    ///
    /// # Errors
    ///
    /// [`StateError::Unavailable`].
    async fn locks(&self) -> Result<Vec<ServiceLock>, StateError>;

    /// Stores a new release (its `revision` is stored as given).
    ///
    /// # Errors
    ///
    /// [`StateError::AlreadyExists`] when the ID is taken: the release was
    /// already created, e.g. by an earlier delivery of the same event.
    async fn create_deployment(&self, record: &DeploymentRecord) -> Result<(), StateError>;

    /// Replaces a release if its stored revision equals `record.revision`,
    /// and returns it with the revision bumped.
    ///
    /// # Errors
    ///
    /// [`StateError::Conflict`] when the release changed since it was read,
    /// [`StateError::NotFound`], [`StateError::Unavailable`].
    async fn update_deployment(
        &self,
        record: &DeploymentRecord,
    ) -> Result<DeploymentRecord, StateError>;

    /// A release by ID.
    ///
    /// # Errors
    ///
    /// [`StateError::Unavailable`].
    async fn deployment(&self, id: &DeploymentId) -> Result<Option<DeploymentRecord>, StateError>;

    /// Every release not yet [finalized](DeploymentRecord::finalized),
    /// oldest first: what a restarted engine must pick up again.
    ///
    /// # Errors
    ///
    /// [`StateError::Unavailable`].
    async fn in_flight(&self) -> Result<Vec<DeploymentRecord>, StateError>;

    /// Adds a finished release to the history; adding the same release again
    /// changes nothing.
    ///
    /// # Errors
    ///
    /// [`StateError::Unavailable`].
    async fn append_history(&self, entry: &ReleaseRecord) -> Result<(), StateError>;

    /// The service's last `limit` finished releases, newest first.
    ///
    /// # Errors
    ///
    /// [`StateError::Unavailable`].
    async fn history(&self, service: &str, limit: usize) -> Result<Vec<ReleaseRecord>, StateError>;

    /// Claims the lease on a release for `owner` until `now + ttl`: granted
    /// when nobody holds a current lease on it (with a fence higher than
    /// any before), or renewed when `owner` holds it already. `None` when
    /// another owner's lease is current.
    ///
    /// # Errors
    ///
    /// [`StateError::Unavailable`].
    async fn claim(
        &self,
        deployment: &DeploymentId,
        owner: &str,
        now: DateTime<Utc>,
        ttl: Duration,
    ) -> Result<Option<Lease>, StateError>;

    /// Extends `lease` to `now + ttl` if it is still current and its own
    /// (same owner and fence).
    ///
    /// # Errors
    ///
    /// [`StateError::LeaseLost`] when it expired or passed to another
    /// owner, [`StateError::Unavailable`].
    async fn renew(
        &self,
        lease: &Lease,
        now: DateTime<Utc>,
        ttl: Duration,
    ) -> Result<Lease, StateError>;

    /// Gives `lease` up (the release finished, or the replica stops), so
    /// another replica may claim the release at once. Releasing a lease no
    /// longer held changes nothing.
    ///
    /// # Errors
    ///
    /// [`StateError::Unavailable`].
    async fn release_lease(&self, lease: &Lease) -> Result<(), StateError>;

    /// [`StateStore::update_deployment`], only while `lease` is current
    /// and still the release's: a replica that paused past its lease
    /// cannot write after another took over.
    ///
    /// # Errors
    ///
    /// [`StateError::LeaseLost`], and the errors of
    /// [`StateStore::update_deployment`].
    async fn update_fenced(
        &self,
        record: &DeploymentRecord,
        lease: &Lease,
        now: DateTime<Utc>,
    ) -> Result<DeploymentRecord, StateError>;

    /// The unfinished releases `owner` may claim at `now`, oldest first:
    /// nobody holds a current lease on them (a replica died, or gave them
    /// up), or `owner` itself does (it was restarted under the same name).
    ///
    /// # Errors
    ///
    /// [`StateError::Unavailable`].
    async fn claimable(
        &self,
        owner: &str,
        now: DateTime<Utc>,
    ) -> Result<Vec<DeploymentId>, StateError>;

    /// A feed of releases changed by other processes sharing the store,
    /// when the store has one (PostgreSQL's notifications); `None` for a
    /// store of one process, whose changes the engine sees itself.
    ///
    /// # Errors
    ///
    /// [`StateError::Unavailable`] when the feed cannot be set up.
    async fn changes(&self) -> Result<Option<ChangeFeed>, StateError> {
        Ok(None)
    }
}

macro_rules! forward_state_store {
    ($ptr:ty) => {
        #[async_trait]
        impl<T: StateStore + ?Sized> StateStore for $ptr {
            async fn remember_event(
                &self,
                event: &EventId,
                expires_at: DateTime<Utc>,
            ) -> Result<bool, StateError> {
                (**self).remember_event(event, expires_at).await
            }
            async fn try_lock(&self, lock: &ServiceLock) -> Result<LockAttempt, StateError> {
                (**self).try_lock(lock).await
            }
            async fn unlock(
                &self,
                service: &str,
                holder: &LockHolder,
            ) -> Result<Option<ServiceLock>, StateError> {
                (**self).unlock(service, holder).await
            }
            async fn lock(&self, service: &str) -> Result<Option<ServiceLock>, StateError> {
                (**self).lock(service).await
            }
            async fn locks(&self) -> Result<Vec<ServiceLock>, StateError> {
                (**self).locks().await
            }
            async fn create_deployment(&self, record: &DeploymentRecord) -> Result<(), StateError> {
                (**self).create_deployment(record).await
            }
            async fn update_deployment(
                &self,
                record: &DeploymentRecord,
            ) -> Result<DeploymentRecord, StateError> {
                (**self).update_deployment(record).await
            }
            async fn deployment(
                &self,
                id: &DeploymentId,
            ) -> Result<Option<DeploymentRecord>, StateError> {
                (**self).deployment(id).await
            }
            async fn in_flight(&self) -> Result<Vec<DeploymentRecord>, StateError> {
                (**self).in_flight().await
            }
            async fn append_history(&self, entry: &ReleaseRecord) -> Result<(), StateError> {
                (**self).append_history(entry).await
            }
            async fn history(
                &self,
                service: &str,
                limit: usize,
            ) -> Result<Vec<ReleaseRecord>, StateError> {
                (**self).history(service, limit).await
            }
            async fn claim(
                &self,
                deployment: &DeploymentId,
                owner: &str,
                now: DateTime<Utc>,
                ttl: Duration,
            ) -> Result<Option<Lease>, StateError> {
                (**self).claim(deployment, owner, now, ttl).await
            }
            async fn renew(
                &self,
                lease: &Lease,
                now: DateTime<Utc>,
                ttl: Duration,
            ) -> Result<Lease, StateError> {
                (**self).renew(lease, now, ttl).await
            }
            async fn release_lease(&self, lease: &Lease) -> Result<(), StateError> {
                (**self).release_lease(lease).await
            }
            async fn update_fenced(
                &self,
                record: &DeploymentRecord,
                lease: &Lease,
                now: DateTime<Utc>,
            ) -> Result<DeploymentRecord, StateError> {
                (**self).update_fenced(record, lease, now).await
            }
            async fn claimable(
                &self,
                owner: &str,
                now: DateTime<Utc>,
            ) -> Result<Vec<DeploymentId>, StateError> {
                (**self).claimable(owner, now).await
            }
            async fn changes(&self) -> Result<Option<ChangeFeed>, StateError> {
                (**self).changes().await
            }
        }
    };
}
forward_state_store!(Arc<T>);
forward_state_store!(Box<T>);
