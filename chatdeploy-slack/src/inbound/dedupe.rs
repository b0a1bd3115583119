//! A bounded set of recently seen delivery IDs, to drop Slack's redeliveries
//! before they reach the engine (which dedupes again, durably).

use std::collections::{HashSet, VecDeque};
use std::hash::{BuildHasher, BuildHasherDefault, Hasher, RandomState};
use std::sync::Mutex;

/// The set's keys are already keyed SipHash values: hashing them again
/// would only cost time (this runs for every delivery).
#[derive(Debug, Default)]
struct PassThrough(u64);

impl Hasher for PassThrough {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

/// Remembers the last `capacity` IDs by a keyed 64-bit hash: no allocation
/// per ID, one short uncontended lock per check.
#[derive(Debug)]
pub struct Dedupe {
    hasher: RandomState,
    capacity: usize,
    seen: Mutex<Seen>,
}

#[derive(Debug, Default)]
struct Seen {
    set: HashSet<u64, BuildHasherDefault<PassThrough>>,
    order: VecDeque<u64>,
}

impl Dedupe {
    /// A set remembering the last `capacity` IDs (at least one).
    pub fn new(capacity: usize) -> Self {
        let capacity = capacity.max(1);
        Self {
            hasher: RandomState::new(),
            capacity,
            seen: Mutex::new(Seen {
                set: HashSet::with_capacity_and_hasher(capacity, BuildHasherDefault::default()),
                order: VecDeque::with_capacity(capacity),
            }),
        }
    }

    /// Whether `id` is remembered, recording nothing: for a delivery that
    /// may yet be refused, whose redelivery must then not look like a
    /// repeat.
    pub fn contains(&self, id: &str) -> bool {
        let hash = self.hasher.hash_one(id);
        self.seen().set.contains(&hash)
    }

    /// Records `id`; `true` when it is new, `false` for a repeat.
    pub fn first_time(&self, id: &str) -> bool {
        let hash = self.hasher.hash_one(id);
        let mut seen = self.seen();
        if !seen.set.insert(hash) {
            return false;
        }
        seen.order.push_back(hash);
        if seen.order.len() > self.capacity
            && let Some(old) = seen.order.pop_front()
        {
            seen.set.remove(&old);
        }
        true
    }

    fn seen(&self) -> std::sync::MutexGuard<'_, Seen> {
        match self.seen.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        }
    }
}

impl Default for Dedupe {
    fn default() -> Self {
        Self::new(8_192)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeats_are_caught_and_old_ids_forgotten() {
        let d = Dedupe::new(2);
        assert!(!d.contains("a"));
        assert!(!d.contains("a"), "looking records nothing");
        assert!(d.first_time("a"));
        assert!(d.contains("a"));
        assert!(!d.first_time("a"));
        assert!(d.first_time("b"));
        assert!(d.first_time("c"));
        assert!(d.first_time("a"), "a was evicted");
    }
}
