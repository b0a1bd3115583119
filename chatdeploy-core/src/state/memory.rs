//! An in-memory state store, for tests, demos and single-process bots that
//! accept losing state on restart.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Mutex, MutexGuard};

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::lease::LeaseTable;
use super::seen::SeenEvents;
use super::{
    DeploymentRecord, Lease, LockAttempt, LockHolder, ReleaseRecord, ServiceLock, StateError,
    StateStore,
};
use crate::ids::{DeploymentId, EventId};

#[derive(Debug, Default)]
struct Inner {
    events: SeenEvents,
    locks: BTreeMap<String, ServiceLock>,
    deployments: HashMap<DeploymentId, DeploymentRecord>,
    history: Vec<ReleaseRecord>,
    history_ids: HashSet<DeploymentId>,
    leases: LeaseTable,
}

/// A [`StateStore`] in process memory. Everything is lost when the process
/// ends; use a durable store for production.
///
/// It remembers a bounded number of event IDs (16,384 at most by default,
/// always the newest 8,000 or so; see
/// [`with_event_capacity`](Self::with_event_capacity)), so its memory does
/// not grow with the event rate. Slack delivers at most 30,000 events an
/// hour per workspace, 5,000 in a ten-minute dedupe window, so the default
/// covers a workspace at Slack's maximum rate; raise it for an app that
/// receives events from several busy workspaces.
#[derive(Debug, Default)]
pub struct InMemoryStateStore {
    inner: Mutex<Inner>,
}

impl InMemoryStateStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// Remembers at most about `capacity` event IDs (rounded up to a power
    /// of two per internal shard), and always about the last `capacity / 2`
    /// to arrive. Past that, the IDs that would expire soonest are forgotten
    /// first (a warning is logged at most once a minute), so a redelivery
    /// arriving after that many newer events would be handled again.
    #[must_use]
    pub fn with_event_capacity(self, capacity: usize) -> Self {
        let mut inner = self
            .inner
            .into_inner()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        inner.events = SeenEvents::with_capacity(capacity);
        Self {
            inner: Mutex::new(inner),
        }
    }

    /// How many event IDs this store holds at most.
    pub fn event_capacity(&self) -> usize {
        self.lock_inner().events.capacity()
    }

    fn lock_inner(&self) -> MutexGuard<'_, Inner> {
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[async_trait]
impl StateStore for InMemoryStateStore {
    async fn remember_event(
        &self,
        event: &EventId,
        expires_at: DateTime<Utc>,
    ) -> Result<bool, StateError> {
        let now = Utc::now();
        Ok(self
            .lock_inner()
            .events
            .remember(event.as_str(), now, expires_at))
    }

    async fn try_lock(&self, lock: &ServiceLock) -> Result<LockAttempt, StateError> {
        let mut inner = self.lock_inner();
        match inner.locks.get(&lock.service) {
            Some(held) if held.holder != lock.holder => Ok(LockAttempt::Held(held.clone())),
            Some(_) => Ok(LockAttempt::Acquired),
            None => {
                inner.locks.insert(lock.service.clone(), lock.clone());
                Ok(LockAttempt::Acquired)
            }
        }
    }

    async fn unlock(
        &self,
        service: &str,
        holder: &LockHolder,
    ) -> Result<Option<ServiceLock>, StateError> {
        let mut inner = self.lock_inner();
        match inner.locks.get(service) {
            Some(held) if held.holder == *holder => Ok(inner.locks.remove(service)),
            _ => Ok(None),
        }
    }

    async fn lock(&self, service: &str) -> Result<Option<ServiceLock>, StateError> {
        Ok(self.lock_inner().locks.get(service).cloned())
    }

    async fn locks(&self) -> Result<Vec<ServiceLock>, StateError> {
        Ok(self.lock_inner().locks.values().cloned().collect())
    }

    async fn create_deployment(&self, record: &DeploymentRecord) -> Result<(), StateError> {
        let mut inner = self.lock_inner();
        if inner.deployments.contains_key(&record.id) {
            return Err(StateError::AlreadyExists {
                deployment: record.id.clone(),
            });
        }
        inner.deployments.insert(record.id.clone(), record.clone());
        Ok(())
    }

    async fn update_deployment(
        &self,
        record: &DeploymentRecord,
    ) -> Result<DeploymentRecord, StateError> {
        self.lock_inner().update(record)
    }

    async fn claim(
        &self,
        deployment: &DeploymentId,
        owner: &str,
        now: DateTime<Utc>,
        ttl: std::time::Duration,
    ) -> Result<Option<Lease>, StateError> {
        Ok(self.lock_inner().leases.claim(deployment, owner, now, ttl))
    }

    async fn renew(
        &self,
        lease: &Lease,
        now: DateTime<Utc>,
        ttl: std::time::Duration,
    ) -> Result<Lease, StateError> {
        self.lock_inner().leases.renew(lease, now, ttl)
    }

    async fn release_lease(&self, lease: &Lease) -> Result<(), StateError> {
        self.lock_inner().leases.release(lease);
        Ok(())
    }

    async fn update_fenced(
        &self,
        record: &DeploymentRecord,
        lease: &Lease,
        now: DateTime<Utc>,
    ) -> Result<DeploymentRecord, StateError> {
        let mut inner = self.lock_inner();
        inner.leases.check(lease, now)?;
        inner.update(record)
    }

    async fn claimable(
        &self,
        owner: &str,
        now: DateTime<Utc>,
    ) -> Result<Vec<DeploymentId>, StateError> {
        let inner = self.lock_inner();
        let mut free: Vec<&DeploymentRecord> = inner
            .deployments
            .values()
            .filter(|d| !d.finalized && !inner.leases.held_by_other(&d.id, owner, now))
            .collect();
        free.sort_by(|a, b| (a.requested_at, &a.id).cmp(&(b.requested_at, &b.id)));
        Ok(free.into_iter().map(|d| d.id.clone()).collect())
    }

    async fn deployment(&self, id: &DeploymentId) -> Result<Option<DeploymentRecord>, StateError> {
        Ok(self.lock_inner().deployments.get(id).cloned())
    }

    async fn in_flight(&self) -> Result<Vec<DeploymentRecord>, StateError> {
        let mut in_flight: Vec<DeploymentRecord> = self
            .lock_inner()
            .deployments
            .values()
            .filter(|d| !d.finalized)
            .cloned()
            .collect();
        in_flight.sort_by(|a, b| (a.requested_at, &a.id).cmp(&(b.requested_at, &b.id)));
        Ok(in_flight)
    }

    async fn append_history(&self, entry: &ReleaseRecord) -> Result<(), StateError> {
        let mut inner = self.lock_inner();
        if inner.history_ids.insert(entry.deployment.clone()) {
            inner.history.push(entry.clone());
        }
        Ok(())
    }

    async fn history(&self, service: &str, limit: usize) -> Result<Vec<ReleaseRecord>, StateError> {
        let inner = self.lock_inner();
        let mut entries: Vec<ReleaseRecord> = inner
            .history
            .iter()
            .filter(|e| e.service == service)
            .cloned()
            .collect();
        entries.sort_by_key(|e| std::cmp::Reverse(e.ended_at));
        entries.truncate(limit);
        Ok(entries)
    }
}

impl Inner {
    /// The revision-checked replacement of a release.
    fn update(&mut self, record: &DeploymentRecord) -> Result<DeploymentRecord, StateError> {
        let Some(stored) = self.deployments.get_mut(&record.id) else {
            return Err(StateError::NotFound {
                deployment: record.id.clone(),
            });
        };
        if stored.revision != record.revision {
            return Err(StateError::Conflict {
                deployment: record.id.clone(),
                expected: record.revision,
            });
        }
        let mut updated = record.clone();
        updated.revision += 1;
        *stored = updated.clone();
        Ok(updated)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::contract;

    #[tokio::test]
    async fn expired_events_are_swept_without_rescanning_every_insert() {
        use crate::state::seen::SHARDS;
        let store = InMemoryStateStore::new().with_event_capacity(4 * 4096 * SHARDS);
        let past = Utc::now() - chrono::Duration::seconds(1);
        let later = Utc::now() + chrono::Duration::hours(1);
        let expired = 4096 * SHARDS;
        for i in 0..expired {
            store
                .remember_event(&EventId::new(format!("old{i}")), past)
                .await
                .unwrap();
        }
        assert!(
            store.lock_inner().events.len() < expired,
            "expired entries are swept as shards fill"
        );
        for i in 0..expired {
            store
                .remember_event(&EventId::new(format!("live{i}")), later)
                .await
                .unwrap();
        }
        let inner = store.lock_inner();
        assert_eq!(
            inner.events.live(Utc::now()),
            expired,
            "live entries are all kept"
        );
        assert!(
            inner.events.within_load(),
            "every table stays at most half full"
        );
    }

    #[tokio::test]
    async fn satisfies_the_state_store_contract() {
        contract::run_all(&InMemoryStateStore::new()).await;
    }
}
