//! Wall-clock time that follows tokio's clock.

use chrono::{DateTime, Utc};
use tokio::time::Instant;

/// Wall-clock time measured on tokio's monotonic clock from an anchor, so
/// that deadlines move with `tokio::time::pause`/`advance` in tests and are
/// immune to wall-clock jumps in production.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Clock {
    wall: DateTime<Utc>,
    instant: Instant,
}

impl Clock {
    pub(crate) fn new() -> Self {
        Self {
            wall: Utc::now(),
            instant: Instant::now(),
        }
    }

    pub(crate) fn now(&self) -> DateTime<Utc> {
        let elapsed = chrono::Duration::from_std(self.instant.elapsed()).unwrap_or_default();
        self.wall + elapsed
    }

    /// How long until `at`, zero if it has passed.
    pub(crate) fn until(&self, at: DateTime<Utc>) -> std::time::Duration {
        (at - self.now()).to_std().unwrap_or_default()
    }
}
