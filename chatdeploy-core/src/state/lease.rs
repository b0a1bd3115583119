//! Leases: which replica acts on a release. A replica acts on a release only
//! while it holds the release's lease (owner, fence token, expiry), renews
//! it well before it expires, and writes the release only with a fenced
//! update that fails once the lease is no longer its own; a lease that
//! expired may be claimed by another replica, which gets a higher fence.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::ids::DeploymentId;

/// One replica's claim on one release.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Lease {
    /// The release.
    pub deployment: DeploymentId,
    /// The replica holding it.
    pub owner: String,
    /// Bumped every time the release gets a new owner: a write fenced with
    /// an older token fails.
    pub fence: u64,
    /// When it lapses unless renewed.
    pub expires_at: DateTime<Utc>,
}

impl Lease {
    /// Whether the lease still holds at `now`.
    pub fn is_current(&self, now: DateTime<Utc>) -> bool {
        now < self.expires_at
    }
}

/// The releases other replicas changed, as a stream of their IDs: what
/// wakes the owner's supervisor when a decision was recorded elsewhere.
pub type ChangeFeed = tokio::sync::mpsc::Receiver<DeploymentId>;

/// `now + ttl`, saturating instead of overflowing.
pub(crate) fn expiry(now: DateTime<Utc>, ttl: std::time::Duration) -> DateTime<Utc> {
    chrono::Duration::from_std(ttl)
        .ok()
        .and_then(|ttl| now.checked_add_signed(ttl))
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
}

/// Lease bookkeeping for a store that keeps its leases in memory: the
/// current lease of each release, and the last fence each release got (kept
/// after a lease is given up, so fences only grow).
#[derive(Debug, Default)]
pub(crate) struct LeaseTable {
    leases: std::collections::HashMap<DeploymentId, Lease>,
    fences: std::collections::HashMap<DeploymentId, u64>,
}

impl LeaseTable {
    pub(crate) fn claim(
        &mut self,
        deployment: &DeploymentId,
        owner: &str,
        now: DateTime<Utc>,
        ttl: std::time::Duration,
    ) -> Option<Lease> {
        let expires_at = expiry(now, ttl);
        match self.leases.get_mut(deployment) {
            Some(lease) if lease.is_current(now) && lease.owner != owner => None,
            Some(lease) if lease.is_current(now) => {
                lease.expires_at = expires_at;
                Some(lease.clone())
            }
            _ => {
                let fence = self.fences.entry(deployment.clone()).or_insert(0);
                *fence += 1;
                let lease = Lease {
                    deployment: deployment.clone(),
                    owner: owner.to_owned(),
                    fence: *fence,
                    expires_at,
                };
                self.leases.insert(deployment.clone(), lease.clone());
                Some(lease)
            }
        }
    }

    /// Whether `lease` is the release's current lease at `now`.
    pub(crate) fn check(&self, lease: &Lease, now: DateTime<Utc>) -> Result<(), super::StateError> {
        match self.leases.get(&lease.deployment) {
            Some(held)
                if held.owner == lease.owner
                    && held.fence == lease.fence
                    && held.is_current(now) =>
            {
                Ok(())
            }
            _ => Err(super::StateError::LeaseLost {
                deployment: lease.deployment.clone(),
                owner: lease.owner.clone(),
            }),
        }
    }

    pub(crate) fn renew(
        &mut self,
        lease: &Lease,
        now: DateTime<Utc>,
        ttl: std::time::Duration,
    ) -> Result<Lease, super::StateError> {
        self.check(lease, now)?;
        let held =
            self.leases
                .get_mut(&lease.deployment)
                .ok_or_else(|| super::StateError::LeaseLost {
                    deployment: lease.deployment.clone(),
                    owner: lease.owner.clone(),
                })?;
        held.expires_at = expiry(now, ttl);
        Ok(held.clone())
    }

    pub(crate) fn release(&mut self, lease: &Lease) {
        if self
            .leases
            .get(&lease.deployment)
            .is_some_and(|held| held.owner == lease.owner && held.fence == lease.fence)
        {
            self.leases.remove(&lease.deployment);
        }
    }

    /// Whether someone but `owner` holds a current lease on the release.
    pub(crate) fn held_by_other(
        &self,
        deployment: &DeploymentId,
        owner: &str,
        now: DateTime<Utc>,
    ) -> bool {
        self.leases
            .get(deployment)
            .is_some_and(|lease| lease.is_current(now) && lease.owner != owner)
    }
}
