//! Rate-limit backoff per key (method and channel) and the user-group cache.
//! No lock is ever held across a wait.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

/// Per-key "not before" deadlines set by Slack's `Retry-After`.
#[derive(Debug, Default)]
pub(crate) struct Backoff {
    until: Mutex<HashMap<String, Instant>>,
}

impl Backoff {
    /// Waits until `key` may be called again (returns at once when it may).
    pub(crate) async fn wait(&self, key: &str) {
        let deadline = {
            let mut until = lock(&self.until);
            match until.get(key) {
                Some(&deadline) if deadline > Instant::now() => Some(deadline),
                Some(_) => {
                    until.remove(key);
                    None
                }
                None => None,
            }
        };
        if let Some(deadline) = deadline {
            tokio::time::sleep_until(deadline).await;
        }
    }

    /// Holds calls on `key` back for `wait`.
    pub(crate) fn defer(&self, key: &str, wait: Duration) {
        let deadline = Instant::now() + wait;
        let mut until = lock(&self.until);
        let entry = until.entry(key.to_owned()).or_insert(deadline);
        if *entry < deadline {
            *entry = deadline;
        }
    }
}

/// A map whose entries expire after a time to live.
#[derive(Debug)]
pub(crate) struct TtlCache<V> {
    ttl: Duration,
    entries: Mutex<HashMap<String, (Instant, V)>>,
}

impl<V: Clone> TtlCache<V> {
    pub(crate) fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            entries: Mutex::new(HashMap::new()),
        }
    }

    pub(crate) fn get(&self, key: &str) -> Option<V> {
        let entries = lock(&self.entries);
        entries
            .get(key)
            .filter(|(at, _)| at.elapsed() < self.ttl)
            .map(|(_, v)| v.clone())
    }

    pub(crate) fn put(&self, key: &str, value: V) {
        let mut entries = lock(&self.entries);
        entries.retain(|_, (at, _)| at.elapsed() < self.ttl);
        entries.insert(key.to_owned(), (Instant::now(), value));
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    match m.lock() {
        Ok(guard) => guard,
        Err(poisoned) => poisoned.into_inner(),
    }
}
