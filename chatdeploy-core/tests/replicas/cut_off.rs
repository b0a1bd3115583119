//! A replica's view of the shared state store that can be cut off: its
//! lease operations then fail, as for a process that is stopped (SIGSTOP)
//! or cannot reach the database, while the other replicas go on.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use chatdeploy_core::state::{
    DeploymentRecord, InMemoryStateStore, Lease, LockAttempt, LockHolder, ReleaseRecord,
    ServiceLock, StateError, StateStore,
};
use chatdeploy_core::{DeploymentId, EventId};
use chrono::{DateTime, Utc};

pub(crate) struct CutOff {
    pub(crate) inner: Arc<InMemoryStateStore>,
    pub(crate) cut: Arc<AtomicBool>,
}

impl CutOff {
    fn check(&self) -> Result<(), StateError> {
        if self.cut.load(Ordering::SeqCst) {
            return Err(StateError::Unavailable {
                message: "cut off".into(),
                source: None,
            });
        }
        Ok(())
    }
}

#[async_trait]
impl StateStore for CutOff {
    async fn remember_event(
        &self,
        event: &EventId,
        expires_at: DateTime<Utc>,
    ) -> Result<bool, StateError> {
        self.inner.remember_event(event, expires_at).await
    }
    async fn try_lock(&self, lock: &ServiceLock) -> Result<LockAttempt, StateError> {
        self.inner.try_lock(lock).await
    }
    async fn unlock(
        &self,
        service: &str,
        holder: &LockHolder,
    ) -> Result<Option<ServiceLock>, StateError> {
        self.inner.unlock(service, holder).await
    }
    async fn lock(&self, service: &str) -> Result<Option<ServiceLock>, StateError> {
        self.inner.lock(service).await
    }
    async fn locks(&self) -> Result<Vec<ServiceLock>, StateError> {
        self.inner.locks().await
    }
    async fn create_deployment(&self, record: &DeploymentRecord) -> Result<(), StateError> {
        self.inner.create_deployment(record).await
    }
    async fn update_deployment(
        &self,
        record: &DeploymentRecord,
    ) -> Result<DeploymentRecord, StateError> {
        self.inner.update_deployment(record).await
    }
    async fn deployment(&self, id: &DeploymentId) -> Result<Option<DeploymentRecord>, StateError> {
        self.inner.deployment(id).await
    }
    async fn in_flight(&self) -> Result<Vec<DeploymentRecord>, StateError> {
        self.inner.in_flight().await
    }
    async fn append_history(&self, entry: &ReleaseRecord) -> Result<(), StateError> {
        self.inner.append_history(entry).await
    }
    async fn history(&self, service: &str, limit: usize) -> Result<Vec<ReleaseRecord>, StateError> {
        self.inner.history(service, limit).await
    }
    async fn claim(
        &self,
        deployment: &DeploymentId,
        owner: &str,
        now: DateTime<Utc>,
        ttl: Duration,
    ) -> Result<Option<Lease>, StateError> {
        self.check()?;
        self.inner.claim(deployment, owner, now, ttl).await
    }
    async fn renew(
        &self,
        lease: &Lease,
        now: DateTime<Utc>,
        ttl: Duration,
    ) -> Result<Lease, StateError> {
        self.check()?;
        self.inner.renew(lease, now, ttl).await
    }
    async fn release_lease(&self, lease: &Lease) -> Result<(), StateError> {
        self.check()?;
        self.inner.release_lease(lease).await
    }
    async fn update_fenced(
        &self,
        record: &DeploymentRecord,
        lease: &Lease,
        now: DateTime<Utc>,
    ) -> Result<DeploymentRecord, StateError> {
        self.check()?;
        self.inner.update_fenced(record, lease, now).await
    }
    async fn claimable(
        &self,
        owner: &str,
        now: DateTime<Utc>,
    ) -> Result<Vec<DeploymentId>, StateError> {
        self.check()?;
        self.inner.claimable(owner, now).await
    }
}
