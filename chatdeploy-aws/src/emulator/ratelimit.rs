//! Request rates per operation, as SSM throttles them: a token bucket for
//! each limited operation, on tokio's clock (so paused-clock tests can
//! drive it). Operations without a limit are never throttled.

use std::collections::HashMap;

use tokio::time::Instant;

/// One operation's bucket: `burst` tokens at most, refilled at `rate` a
/// second; each call takes one.
#[derive(Debug, Clone)]
struct TokenBucket {
    rate: f64,
    burst: f64,
    tokens: f64,
    last: Instant,
}

impl TokenBucket {
    fn new(per_second: f64, burst: u32, now: Instant) -> Self {
        let burst = f64::from(burst.max(1));
        Self {
            // A NaN or negative rate refills nothing.
            rate: if per_second.is_finite() && per_second > 0.0 {
                per_second
            } else {
                0.0
            },
            burst,
            tokens: burst,
            last: now,
        }
    }

    fn try_take(&mut self, now: Instant) -> bool {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.rate).min(self.burst);
        self.last = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// The limited operations and their buckets.
#[derive(Debug, Default)]
pub(crate) struct RateLimits {
    buckets: HashMap<String, TokenBucket>,
}

impl RateLimits {
    /// Limits `operation` to `per_second` calls a second with bursts of up
    /// to `burst` (at least 1); the bucket starts full.
    pub(crate) fn set(&mut self, operation: &str, per_second: f64, burst: u32, now: Instant) {
        self.buckets.insert(
            operation.to_owned(),
            TokenBucket::new(per_second, burst, now),
        );
    }

    /// Lifts the limit on `operation`.
    pub(crate) fn clear(&mut self, operation: &str) {
        self.buckets.remove(operation);
    }

    /// Whether a call to `operation` at `now` is within its rate.
    pub(crate) fn admit(&mut self, operation: &str, now: Instant) -> bool {
        self.buckets
            .get_mut(operation)
            .is_none_or(|bucket| bucket.try_take(now))
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[tokio::test(start_paused = true)]
    async fn bursts_then_the_rate() {
        let mut limits = RateLimits::default();
        limits.set("Get", 2.0, 3, Instant::now());
        // The burst, then nothing until tokens come back.
        assert!((0..3).all(|_| limits.admit("Get", Instant::now())));
        assert!(!limits.admit("Get", Instant::now()));
        // Other operations are not limited.
        assert!((0..100).all(|_| limits.admit("Start", Instant::now())));
        // 2 a second: one token every 500 ms.
        tokio::time::advance(Duration::from_millis(499)).await;
        assert!(!limits.admit("Get", Instant::now()));
        tokio::time::advance(Duration::from_millis(1)).await;
        assert!(limits.admit("Get", Instant::now()));
        assert!(!limits.admit("Get", Instant::now()));
        // A long pause refills no more than the burst.
        tokio::time::advance(Duration::from_secs(60)).await;
        let admitted = (0..10)
            .filter(|_| limits.admit("Get", Instant::now()))
            .count();
        assert_eq!(admitted, 3);
        limits.clear("Get");
        assert!(limits.admit("Get", Instant::now()));
    }

    #[tokio::test(start_paused = true)]
    async fn a_sustained_rate_is_held() {
        let mut limits = RateLimits::default();
        limits.set("Op", 10.0, 1, Instant::now());
        let mut admitted = 0;
        // Calls every 25 ms for 10 s: 40 a second offered, 10 taken.
        for _ in 0..400 {
            if limits.admit("Op", Instant::now()) {
                admitted += 1;
            }
            tokio::time::advance(Duration::from_millis(25)).await;
        }
        assert!((100..=101).contains(&admitted), "{admitted}");
    }

    #[tokio::test(start_paused = true)]
    async fn zero_rate_allows_only_the_burst() {
        let mut limits = RateLimits::default();
        limits.set("Op", f64::NAN, 2, Instant::now());
        tokio::time::advance(Duration::from_secs(3600)).await;
        let admitted = (0..5)
            .filter(|_| limits.admit("Op", Instant::now()))
            .count();
        assert_eq!(admitted, 2);
    }
}
