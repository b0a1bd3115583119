//! The in-memory table of recently seen event IDs, kept by
//! [`InMemoryStateStore`](super::InMemoryStateStore).
//!
//! Every inbound event goes through it, so it is on the receive path's
//! critical line: IDs are kept as 128-bit keyed fingerprints rather than
//! strings, so that remembering one allocates nothing and touches one slot.
//! Two distinct IDs share a fingerprint with probability 2^-128 per pair
//! (the keys are random per process), far below any hardware error rate.

use std::collections::HashMap;
use std::hash::{BuildHasher, BuildHasherDefault, Hasher, RandomState};

use chrono::{DateTime, Utc};

/// Expired IDs are first swept when a shard reaches this many; after a
/// sweep, the next one waits until the shard has doubled, so sweeping costs
/// amortised O(1) per event even when nothing has expired yet.
pub(super) const SWEEP_THRESHOLD: usize = 4096;

/// IDs are spread over this many tables, so that growing (rehashing) one
/// never stalls the receive path for long under heavy load.
pub(super) const SHARDS: usize = 64;

/// A keyed 128-bit fingerprint of an event ID.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Fingerprint {
    /// Picks the slot in the shard's table.
    low: u64,
    /// Picks the shard; together with `low`, tells IDs apart.
    high: u64,
}

impl std::hash::Hash for Fingerprint {
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_u64(self.low);
    }
}

/// Passes a fingerprint's already-random bits through as the table hash.
#[derive(Debug, Default)]
struct PassThrough(u64);

impl Hasher for PassThrough {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        // Only fingerprints are hashed here (write_u64); fold anything else.
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

#[derive(Debug, Default)]
pub(super) struct Shard {
    /// Fingerprint → expiry, in milliseconds since the Unix epoch.
    entries: HashMap<Fingerprint, i64, BuildHasherDefault<PassThrough>>,
    next_sweep: usize,
}

/// Recently seen event IDs, each until its expiry.
#[derive(Debug)]
pub(super) struct SeenEvents {
    shards: Vec<Shard>,
    low_key: RandomState,
    high_key: RandomState,
}

impl Default for SeenEvents {
    fn default() -> Self {
        Self {
            shards: (0..SHARDS).map(|_| Shard::default()).collect(),
            low_key: RandomState::new(),
            high_key: RandomState::new(),
        }
    }
}

impl SeenEvents {
    /// Records `id` until `expires_at`; `true` when it was not already
    /// remembered (or its earlier entry has expired by `now`).
    pub(super) fn remember(
        &mut self,
        id: &str,
        now: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> bool {
        let key = Fingerprint {
            low: self.low_key.hash_one(id),
            high: self.high_key.hash_one(id),
        };
        let now = now.timestamp_millis();
        // The high bits pick the shard, the low bits the slot: independent.
        let index = (key.high % SHARDS as u64) as usize;
        let shard = &mut self.shards[index];
        if shard.entries.len() >= shard.next_sweep.max(SWEEP_THRESHOLD) {
            shard.entries.retain(|_, expiry| *expiry > now);
            shard.next_sweep = shard.entries.len() * 2;
        }
        match shard.entries.entry(key) {
            std::collections::hash_map::Entry::Occupied(mut seen) => {
                if *seen.get() > now {
                    return false;
                }
                seen.insert(expires_at.timestamp_millis());
                true
            }
            std::collections::hash_map::Entry::Vacant(slot) => {
                slot.insert(expires_at.timestamp_millis());
                true
            }
        }
    }

    /// How many IDs are held (expired ones not yet swept included).
    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.shards.iter().map(|s| s.entries.len()).sum()
    }

    /// How many held IDs have not expired by `now`.
    #[cfg(test)]
    pub(super) fn live(&self, now: DateTime<Utc>) -> usize {
        let now = now.timestamp_millis();
        self.shards
            .iter()
            .flat_map(|s| s.entries.values())
            .filter(|expiry| **expiry > now)
            .count()
    }

    /// Whether every shard's next sweep waits for it to grow.
    #[cfg(test)]
    pub(super) fn sweeps_wait_for_growth(&self) -> bool {
        self.shards
            .iter()
            .all(|s| s.next_sweep >= s.entries.len() / 2)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_id_is_new_once_until_it_expires() {
        let mut seen = SeenEvents::default();
        let t0 = Utc::now();
        let ttl = chrono::Duration::seconds(60);
        assert!(seen.remember("Ev1", t0, t0 + ttl));
        assert!(!seen.remember("Ev1", t0, t0 + ttl));
        assert!(seen.remember("Ev2", t0, t0 + ttl));
        let later = t0 + ttl + chrono::Duration::milliseconds(1);
        assert!(seen.remember("Ev1", later, later + ttl), "expired");
        assert!(!seen.remember("Ev1", later, later + ttl));
    }

    #[test]
    fn many_distinct_ids_are_all_new() {
        let mut seen = SeenEvents::default();
        let t0 = Utc::now();
        let ttl = chrono::Duration::seconds(60);
        let fresh = (0..200_000)
            .filter(|i| seen.remember(&format!("Ev{i:09}"), t0, t0 + ttl))
            .count();
        assert_eq!(fresh, 200_000);
        let again = (0..200_000)
            .filter(|i| seen.remember(&format!("Ev{i:09}"), t0, t0 + ttl))
            .count();
        assert_eq!(again, 0);
    }
}
