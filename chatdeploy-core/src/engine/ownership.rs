//! Which replica acts on a release: a supervisor claims the release's lease
//! before its first step, renews it well before it lapses, writes only with
//! fenced updates, stops at once when the lease is lost, and gives it up
//! when the release is finished or the engine stops. Every replica sweeps
//! for releases nobody holds (a replica died) and takes them over, and
//! wakes its supervisors when another replica recorded a decision.

use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::state::{Lease, StateError};

use super::supervisor::{self, Supervisor};
use super::{Clock, Shared};

/// How often a replica looks for releases to take over, at most: a dead
/// replica's releases are taken over within the lease TTL plus this.
const SWEEP_AT_MOST_EVERY: Duration = Duration::from_secs(5);

impl Supervisor {
    /// Claims the release's lease; `false` when another replica holds it
    /// (or the engine stops while the store is unreachable).
    pub(super) async fn acquire(&mut self) -> bool {
        let mut shutdown = self.shared.shutdown.subscribe();
        loop {
            let now = self.shared.clock.now();
            let claim =
                self.shared
                    .state
                    .claim(&self.id, &self.shared.replica, now, self.shared.lease_ttl);
            match claim.await {
                Ok(Some(lease)) => {
                    self.lease = Some(lease);
                    return true;
                }
                Ok(None) => {
                    tracing::debug!(deployment = %self.id, "another replica owns the release");
                    return false;
                }
                Err(error) => {
                    tracing::error!(%error, deployment = %self.id, "cannot claim the release; retrying");
                    let delay = self.retry_delay();
                    tokio::select! {
                        () = tokio::time::sleep(delay) => {}
                        _ = shutdown.changed() => return false,
                    }
                }
            }
        }
    }

    /// Renews the lease once a third of its TTL has passed; `false` when it
    /// was lost (another replica took over): the supervisor must stop.
    pub(super) async fn keep_lease(&mut self) -> bool {
        let Some(lease) = self.lease.clone() else {
            return false;
        };
        let now = self.shared.clock.now();
        if now < renew_at(&lease, self.shared.lease_ttl) {
            return true;
        }
        if self.renew_not_before.is_some_and(|at| now < at) {
            return lease.is_current(now);
        }
        match self
            .shared
            .state
            .renew(&lease, now, self.shared.lease_ttl)
            .await
        {
            Ok(renewed) => {
                self.lease = Some(renewed);
                self.renew_not_before = None;
                true
            }
            Err(StateError::LeaseLost { .. }) => {
                tracing::warn!(deployment = %self.id, replica = %self.shared.replica, "lost the release to another replica; stopping");
                self.lease = None;
                false
            }
            // An outage: go on while the lease is current; fenced writes
            // fail anyway once it is not.
            Err(error) => {
                tracing::error!(%error, deployment = %self.id, "cannot renew the lease");
                let pause =
                    chrono::Duration::from_std(self.shared.lease_ttl / 10).unwrap_or_default();
                self.renew_not_before = Some(now + pause);
                lease.is_current(now)
            }
        }
    }

    /// Sleeps `delay` inside a step (e.g. before retrying a rate-limited
    /// post), renewing the lease on time meanwhile, so that a replica that
    /// is alive and working never lets it lapse; `false` as soon as it is
    /// lost (the step must then stop without acting).
    pub(super) async fn sleep_holding_lease(&mut self, delay: Duration) -> bool {
        let until = tokio::time::Instant::now() + delay;
        loop {
            let renewal = tokio::time::Instant::now() + self.until_renewal();
            tokio::time::sleep_until(until.min(renewal)).await;
            if !self.keep_lease().await {
                return false;
            }
            if tokio::time::Instant::now() >= until {
                return true;
            }
        }
    }

    /// Runs `effect`, something a fenced write cannot guard (a chat post or
    /// edit, the approval signal), only while this replica's lease is
    /// current by its own clock, renewing the lease meanwhile; `None` when
    /// the lease was lost or lapsed first. The effect is then dropped, so
    /// unless its request had already left it never happens: a process
    /// stopped (SIGSTOP, a frozen VM) while the call waited, e.g. out a
    /// Slack rate limit inside the chat surface, finds its lease lapsed the
    /// moment it goes on, before the call can send anything, and leaves the
    /// release to the replica that took it over.
    pub(super) async fn under_lease<T>(&mut self, effect: impl Future<Output = T>) -> Option<T> {
        if !self.keep_lease().await {
            return None;
        }
        let mut effect = pin!(effect);
        loop {
            let lease = self.lease.clone()?;
            // Stop a little early: the replica taking over goes by its own
            // clock, which may run slightly ahead.
            let margin = chrono::Duration::from_std(self.shared.lease_ttl / 10).unwrap_or_default();
            let last = lease.expires_at - margin;
            let renewal = tokio::time::Instant::now() + self.until_renewal();
            tokio::select! {
                // Checked first on every wake-up, before the effect may go on.
                biased;
                () = lapsed(self.shared.clock, last) => {
                    tracing::warn!(deployment = %self.id, replica = %self.shared.replica, "the lease lapsed during a chat or backend call; another replica acts on the release now");
                    return None;
                }
                out = &mut effect => return Some(out),
                () = tokio::time::sleep_until(renewal) => {
                    if !self.keep_lease().await {
                        return None;
                    }
                }
            }
        }
    }

    /// How long the supervisor may sleep before its lease needs renewing.
    pub(super) fn until_renewal(&self) -> Duration {
        self.lease.as_ref().map_or(Duration::ZERO, |lease| {
            let due = renew_at(lease, self.shared.lease_ttl);
            let due = self.renew_not_before.map_or(due, |at| due.max(at));
            self.shared.clock.until(due)
        })
    }

    /// The lease to fence writes with.
    pub(super) fn fence(&self) -> Result<&Lease, StateError> {
        self.lease.as_ref().ok_or_else(|| StateError::LeaseLost {
            deployment: self.id.clone(),
            owner: self.shared.replica.clone(),
        })
    }

    /// Gives the lease up, so another replica may act at once.
    pub(super) async fn give_up_lease(&mut self) {
        if let Some(lease) = self.lease.take()
            && let Err(error) = self.shared.state.release_lease(&lease).await
        {
            tracing::warn!(%error, deployment = %self.id, "cannot give the lease up; it lapses by itself");
        }
    }
}

/// Completes once `clock` reaches `at`. The clock is read on every poll, not
/// only when the timer fires: after the process was stopped, the time that
/// passed shows on the first poll, whatever woke the task.
async fn lapsed(clock: Clock, at: DateTime<Utc>) {
    let mut timer = pin!(tokio::time::sleep(clock.until(at)));
    std::future::poll_fn(|cx| {
        if clock.now() >= at {
            Poll::Ready(())
        } else {
            timer.as_mut().poll(cx)
        }
    })
    .await;
}

/// When a lease is renewed: two thirds of its TTL before it lapses.
fn renew_at(lease: &Lease, ttl: Duration) -> chrono::DateTime<chrono::Utc> {
    let early = chrono::Duration::from_std(ttl * 2 / 3).unwrap_or_default();
    lease
        .expires_at
        .checked_sub_signed(early)
        .unwrap_or(lease.expires_at)
}

/// Starts the replica's background work until the engine stops: a sweep
/// for releases nobody holds (taken over), and, when the store has a feed
/// of other replicas' changes, waking the supervisors they concern.
pub(super) fn start(shared: &Arc<Shared>) {
    let every = (shared.lease_ttl / 3).min(SWEEP_AT_MOST_EVERY);
    let sweeper = Arc::clone(shared);
    tokio::spawn(async move {
        let mut shutdown = sweeper.shutdown.subscribe();
        loop {
            tokio::select! {
                () = tokio::time::sleep(every) => {}
                _ = shutdown.changed() => return,
            }
            take_over(&sweeper).await;
        }
    });
    let listener = Arc::clone(shared);
    tokio::spawn(async move {
        let mut feed = match listener.state.changes().await {
            Ok(Some(feed)) => feed,
            Ok(None) => return,
            Err(error) => {
                tracing::warn!(%error, "no feed of other replicas' changes; relying on polling");
                return;
            }
        };
        let mut shutdown = listener.shutdown.subscribe();
        loop {
            tokio::select! {
                changed = feed.recv() => match changed {
                    Some(deployment) => listener.wake(&deployment),
                    None => return,
                },
                _ = shutdown.changed() => return,
            }
        }
    });
}

/// Supervises every release nobody holds a current lease on; returns how
/// many it tried to take over.
pub(super) async fn take_over(shared: &Arc<Shared>) -> usize {
    let now = shared.clock.now();
    let claimable = match shared.state.claimable(&shared.replica, now).await {
        Ok(claimable) => claimable,
        Err(error) => {
            tracing::warn!(%error, "cannot list the releases to take over");
            return 0;
        }
    };
    let mut count = 0;
    for id in claimable {
        // The store lists this replica's own releases too (for a replica
        // restarted under the same name). Those its supervisors run already
        // are left alone: waking them would poll the backend every sweep
        // instead of as the polling policy says.
        if shared.supervises(&id) {
            continue;
        }
        tracing::info!(deployment = %id, replica = %shared.replica, "taking the release over");
        supervisor::spawn(shared, id, true);
        count += 1;
    }
    count
}
