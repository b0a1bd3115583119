//! How often the engine asks the backend about an execution.

use std::hash::{DefaultHasher, Hash, Hasher};
use std::time::Duration;

/// Adaptive polling: quick at first and right after a change, slowing down
/// while nothing changes and while a person is being waited for, and
/// backing off exponentially (with jitter) when the backend throttles.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PollPolicy {
    /// The interval at first and right after a change.
    pub fast: Duration,
    /// The longest interval while running unchanged.
    pub slow: Duration,
    /// The interval while waiting for approvers.
    pub waiting: Duration,
    /// The first delay after a throttling error.
    pub throttle_base: Duration,
    /// The longest delay after throttling errors.
    pub throttle_max: Duration,
    /// How long an execution may report a status chatdeploy does not know
    /// (e.g. SSM's `Exited`) before the release is reported as failed.
    pub unknown_status_deadline: Duration,
}

impl Default for PollPolicy {
    fn default() -> Self {
        Self {
            fast: Duration::from_secs(2),
            slow: Duration::from_secs(30),
            waiting: Duration::from_secs(30),
            throttle_base: Duration::from_secs(2),
            throttle_max: Duration::from_secs(120),
            unknown_status_deadline: Duration::from_secs(15 * 60),
        }
    }
}

impl PollPolicy {
    /// The next interval: back to `fast` after a change, otherwise half as
    /// long again as `current`, capped at `slow` (or `waiting` while
    /// waiting for approvers).
    pub fn next_interval(&self, current: Duration, changed: bool, waiting: bool) -> Duration {
        if changed {
            return self.fast;
        }
        let cap = if waiting { self.waiting } else { self.slow };
        (current + current / 2).clamp(self.fast, cap.max(self.fast))
    }

    /// The delay before retry number `attempt` (0-based) after throttling:
    /// exponential from `throttle_base`, capped at `throttle_max`, with
    /// deterministic "equal jitter" (between half and all of it) derived
    /// from `seed`, so that many releases throttled together spread out.
    pub fn throttle_delay(&self, attempt: u32, seed: &str) -> Duration {
        let exponential = self
            .throttle_base
            .saturating_mul(1u32 << attempt.min(16))
            .min(self.throttle_max);
        let mut hasher = DefaultHasher::new();
        (seed, attempt).hash(&mut hasher);
        let fraction = (hasher.finish() % 1000) as u32; // 0..1000
        exponential / 2 + (exponential / 2) * fraction / 1000
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interval_grows_to_the_cap_and_resets_on_change() {
        let policy = PollPolicy::default();
        let mut interval = policy.fast;
        for _ in 0..20 {
            interval = policy.next_interval(interval, false, false);
        }
        assert_eq!(interval, policy.slow);
        assert_eq!(policy.next_interval(interval, true, false), policy.fast);
        assert_eq!(
            policy.next_interval(Duration::from_secs(2), false, false),
            Duration::from_secs(3)
        );
    }

    #[test]
    fn throttle_delay_is_exponential_jittered_and_capped() {
        let policy = PollPolicy::default();
        for attempt in 0..10 {
            let delay = policy.throttle_delay(attempt, "d-1");
            let full = (policy.throttle_base * 2u32.pow(attempt)).min(policy.throttle_max);
            assert!(delay >= full / 2 && delay <= full, "{attempt}: {delay:?}");
        }
        assert_eq!(
            policy.throttle_delay(3, "d-1"),
            policy.throttle_delay(3, "d-1")
        );
        let spread: std::collections::HashSet<_> = (0..20)
            .map(|i| policy.throttle_delay(4, &format!("d-{i}")))
            .collect();
        assert!(spread.len() > 10, "jitter spreads releases apart");
        assert!(policy.throttle_delay(60, "d-1") <= policy.throttle_max);
    }
}
