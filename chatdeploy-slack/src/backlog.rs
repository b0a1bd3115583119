//! The bounded backlog of events the listeners hand to the engine: one
//! permit per event, held until the engine has handled it. Without it every
//! delivery became a task of its own, and a burst became as many tasks,
//! state store calls and threads as it had events.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// How many events a listener lets be with the engine at once (handed over,
/// not yet handled).
pub const DEFAULT_MAX_IN_FLIGHT: usize = 256;

/// A count that fits a semaphore: at least one, at most tokio's maximum.
pub(crate) fn permits(n: usize) -> usize {
    n.clamp(1, Semaphore::MAX_PERMITS)
}

/// Room for a bounded number of events with the engine.
#[derive(Debug)]
pub(crate) struct Backlog {
    permits: Arc<Semaphore>,
    refusals: Throttled,
}

impl Backlog {
    pub(crate) fn new(max_in_flight: usize) -> Self {
        Self {
            permits: Arc::new(Semaphore::new(permits(max_in_flight))),
            refusals: Throttled::new(),
        }
    }

    /// Room for one more event, if there is some now.
    pub(crate) fn try_admit(&self) -> Option<OwnedSemaphorePermit> {
        Arc::clone(&self.permits).try_acquire_owned().ok()
    }

    /// Room for one more event, waiting up to `wait` for it. Waiters are
    /// served in order and before any later [`try_admit`](Self::try_admit),
    /// so a stream of new events cannot starve one that waits.
    pub(crate) async fn admit_within(&self, wait: Duration) -> Option<OwnedSemaphorePermit> {
        if let Some(permit) = self.try_admit() {
            return Some(permit);
        }
        tokio::time::timeout(wait, self.admit())
            .await
            .ok()
            .flatten()
    }

    /// Room for one more event, waiting as long as it takes. `None` only if
    /// the backlog were closed, which it never is.
    pub(crate) async fn admit(&self) -> Option<OwnedSemaphorePermit> {
        Arc::clone(&self.permits).acquire_owned().await.ok()
    }

    /// Logs a refusal (a few lines per minute at most, with counts).
    pub(crate) fn refused(&self, what: &'static str) {
        self.refusals.note(|refused| {
            tracing::warn!(refused, what, "event backlog full: refusing events for now");
        });
    }
}

/// Counts refusals and reports them at most every ten seconds, so a flood
/// does not become a flood of log lines.
#[derive(Debug)]
pub(crate) struct Throttled {
    epoch: Instant,
    count: AtomicU64,
    /// The earliest time of the next report, in seconds since `epoch`, plus
    /// one (so that 0, the start, means "report the first at once").
    next: AtomicU64,
}

impl Throttled {
    const EVERY: u64 = 10;

    pub(crate) fn new() -> Self {
        Self {
            epoch: Instant::now(),
            count: AtomicU64::new(0),
            next: AtomicU64::new(0),
        }
    }

    /// Counts one; calls `report` with the count since the last report when
    /// it is time for one.
    pub(crate) fn note(&self, report: impl FnOnce(u64)) {
        self.count.fetch_add(1, Ordering::Relaxed);
        let now = self.epoch.elapsed().as_secs() + 1;
        let next = self.next.load(Ordering::Relaxed);
        if now >= next
            && self
                .next
                .compare_exchange(
                    next,
                    now + Self::EVERY,
                    Ordering::Relaxed,
                    Ordering::Relaxed,
                )
                .is_ok()
        {
            report(self.count.swap(0, Ordering::Relaxed));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_are_reported_once_per_period() {
        let throttled = Throttled::new();
        let mut reports = Vec::new();
        for _ in 0..5 {
            throttled.note(|n| reports.push(n));
        }
        assert_eq!(reports, [1], "the first at once, the rest held back");
    }

    #[tokio::test]
    async fn a_full_backlog_admits_a_waiter_when_room_frees() {
        let backlog = Backlog::new(1);
        let held = backlog.try_admit();
        assert!(held.is_some());
        assert!(backlog.try_admit().is_none(), "full");
        let waiter = backlog.admit_within(Duration::from_secs(60));
        let release = async {
            tokio::task::yield_now().await;
            drop(held);
        };
        let (admitted, ()) = tokio::join!(waiter, release);
        assert!(admitted.is_some(), "room freed while it waited");
        assert!(
            backlog
                .admit_within(Duration::from_millis(10))
                .await
                .is_none(),
            "no room within the wait"
        );
    }
}
