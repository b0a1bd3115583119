//! An in-memory state store, for tests, demos and single-process bots that
//! accept losing state on restart.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Mutex, MutexGuard};

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::{
    DeploymentRecord, LockAttempt, LockHolder, ReleaseRecord, ServiceLock, StateError, StateStore,
};
use crate::ids::{DeploymentId, EventId};

/// Expired event IDs are first swept when a shard reaches this many; after
/// a sweep, the next one waits until the shard has doubled, so sweeping
/// costs amortised O(1) per event even when nothing has expired yet.
const EVENT_SWEEP_THRESHOLD: usize = 4096;

/// Event IDs are spread over this many tables, so that growing (rehashing)
/// one never stalls the receive path for long under heavy load.
const EVENT_SHARDS: usize = 64;

#[derive(Debug, Default)]
struct EventShard {
    events: HashMap<EventId, DateTime<Utc>>,
    next_sweep: usize,
}

#[derive(Debug)]
struct Inner {
    shards: Vec<EventShard>,
    shard_of: std::hash::RandomState,
    locks: BTreeMap<String, ServiceLock>,
    deployments: HashMap<DeploymentId, DeploymentRecord>,
    history: Vec<ReleaseRecord>,
    history_ids: HashSet<DeploymentId>,
}

impl Default for Inner {
    fn default() -> Self {
        Self {
            shards: (0..EVENT_SHARDS).map(|_| EventShard::default()).collect(),
            shard_of: std::hash::RandomState::new(),
            locks: BTreeMap::new(),
            deployments: HashMap::new(),
            history: Vec::new(),
            history_ids: HashSet::new(),
        }
    }
}

/// A [`StateStore`] in process memory. Everything is lost when the process
/// ends; use a durable store for production.
#[derive(Debug, Default)]
pub struct InMemoryStateStore {
    inner: Mutex<Inner>,
}

impl InMemoryStateStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
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
        let mut inner = self.lock_inner();
        let index =
            (std::hash::BuildHasher::hash_one(&inner.shard_of, event) as usize) % EVENT_SHARDS;
        let shard = &mut inner.shards[index];
        if shard.events.len() >= shard.next_sweep.max(EVENT_SWEEP_THRESHOLD) {
            shard.events.retain(|_, expiry| *expiry > now);
            shard.next_sweep = shard.events.len() * 2;
        }
        match shard.events.get(event) {
            Some(expiry) if *expiry > now => Ok(false),
            _ => {
                shard.events.insert(event.clone(), expires_at);
                Ok(true)
            }
        }
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
        let mut inner = self.lock_inner();
        let Some(stored) = inner.deployments.get_mut(&record.id) else {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::contract;

    #[tokio::test]
    async fn expired_events_are_swept_without_rescanning_every_insert() {
        let store = InMemoryStateStore::new();
        let past = Utc::now() - chrono::Duration::seconds(1);
        let later = Utc::now() + chrono::Duration::hours(1);
        let total = |store: &InMemoryStateStore| -> usize {
            store
                .lock_inner()
                .shards
                .iter()
                .map(|s| s.events.len())
                .sum()
        };
        let expired = 2 * EVENT_SWEEP_THRESHOLD * EVENT_SHARDS;
        for i in 0..expired {
            store
                .remember_event(&EventId::new(format!("old{i}")), past)
                .await
                .unwrap();
        }
        assert!(
            total(&store) < expired,
            "expired entries are swept as shards fill"
        );
        for i in 0..expired {
            store
                .remember_event(&EventId::new(format!("live{i}")), later)
                .await
                .unwrap();
        }
        let live = store
            .lock_inner()
            .shards
            .iter()
            .flat_map(|s| s.events.values())
            .filter(|expiry| **expiry > Utc::now())
            .count();
        assert_eq!(live, expired, "live entries are all kept");
        let inner = store.lock_inner();
        assert!(
            inner
                .shards
                .iter()
                .all(|s| s.next_sweep >= s.events.len() / 2),
            "the next sweep of each shard waits for growth"
        );
    }

    #[tokio::test]
    async fn satisfies_the_state_store_contract() {
        contract::run_all(&InMemoryStateStore::new()).await;
    }
}
