//! The in-memory table of recently seen event IDs, kept by
//! [`InMemoryStateStore`](super::InMemoryStateStore).
//!
//! Every inbound event goes through it, so it is on the receive path's
//! critical line. IDs are kept as 96-bit keyed fingerprints in 16-byte slots
//! of open-addressed tables (linear probing, at most half full): remembering
//! one allocates nothing and usually touches one cache line, where a general
//! hash map of strings touched three (control bytes, slot, string). Two
//! distinct IDs share a fingerprint with probability 2^-96 per pair (the keys
//! are random per process): with ten million IDs held, a new event would be
//! taken for a repeat about once in 10^22 events.

use std::hash::{BuildHasher, RandomState};

use chrono::{DateTime, Utc};

/// IDs are spread over this many tables, so that growing (rebuilding) one
/// never stalls the receive path for long under heavy load.
pub(super) const SHARDS: usize = 64;

/// The smallest table (slots); a power of two. Tiny in tests, so that they
/// go through many rebuilds and probe chains with expired slots.
const MIN_SLOTS: usize = if cfg!(test) { 8 } else { 64 };

/// One remembered ID; all zero when empty.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Slot {
    /// Fingerprint bits 0..64; also where probing starts.
    low: u64,
    /// Fingerprint bits 64..96.
    high: u32,
    /// Seconds since the Unix epoch after which the ID may be seen again
    /// (u32 lasts until 2106).
    expiry: u32,
}

impl Slot {
    fn is_empty(&self) -> bool {
        *self == Self::default()
    }
}

#[derive(Debug)]
struct Shard {
    slots: Vec<Slot>,
    /// Non-empty slots, live or expired.
    used: usize,
}

impl Default for Shard {
    fn default() -> Self {
        Self {
            slots: vec![Slot::default(); MIN_SLOTS],
            used: 0,
        }
    }
}

impl Shard {
    /// Inserts `key` unless it is held and live; `true` when inserted.
    fn remember(&mut self, key: Slot, now: u32) -> bool {
        if (self.used + 1) * 2 > self.slots.len() {
            self.rebuild(now);
        }
        let mask = self.slots.len() - 1;
        let mut index = (key.low as usize) & mask;
        let mut reusable = None;
        loop {
            let slot = self.slots[index];
            if slot.is_empty() {
                // Not held: take the first expired slot passed, or this one.
                let target = reusable.unwrap_or_else(|| {
                    self.used += 1;
                    index
                });
                self.slots[target] = key;
                return true;
            }
            if slot.low == key.low && slot.high == key.high {
                if slot.expiry > now {
                    return false;
                }
                self.slots[index] = key;
                return true;
            }
            if reusable.is_none() && slot.expiry <= now {
                reusable = Some(index);
            }
            index = (index + 1) & mask;
        }
    }

    /// Drops expired entries into a table sized for the live ones, at most
    /// a quarter full: amortised O(1) per insert.
    fn rebuild(&mut self, now: u32) {
        let live: Vec<Slot> = self
            .slots
            .iter()
            .filter(|s| !s.is_empty() && s.expiry > now)
            .copied()
            .collect();
        let size = (live.len() * 4).next_power_of_two().max(MIN_SLOTS);
        self.slots = vec![Slot::default(); size];
        self.used = 0;
        for key in live {
            self.remember(key, now);
        }
    }
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

/// Whole seconds since the epoch, rounded up (an expiry is never earlier
/// than asked), clamped to what a slot holds.
fn seconds(at: DateTime<Utc>, round_up: bool) -> u32 {
    let mut secs = at.timestamp();
    if round_up && at.timestamp_subsec_nanos() > 0 {
        secs += 1;
    }
    u32::try_from(secs.max(0)).unwrap_or(u32::MAX)
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
        let high = self.high_key.hash_one(id);
        let mut key = Slot {
            low: self.low_key.hash_one(id),
            high: (high >> 32) as u32,
            expiry: seconds(expires_at, true),
        };
        if key.low == 0 && key.high == 0 {
            key.low = 1; // all zero marks an empty slot
        }
        // The fingerprint's high half picks the shard, its low half the slot.
        let shard = (high as usize) % SHARDS;
        self.shards[shard].remember(key, seconds(now, false))
    }

    /// How many slots are in use (expired entries not yet dropped included).
    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.shards.iter().map(|s| s.used).sum()
    }

    /// How many held IDs have not expired by `now`.
    #[cfg(test)]
    pub(super) fn live(&self, now: DateTime<Utc>) -> usize {
        let now = seconds(now, false);
        self.shards
            .iter()
            .flat_map(|s| &s.slots)
            .filter(|s| !s.is_empty() && s.expiry > now)
            .count()
    }

    /// Whether every table is at most half full.
    #[cfg(test)]
    pub(super) fn within_load(&self) -> bool {
        self.shards.iter().all(|s| s.used * 2 <= s.slots.len())
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
        let later = t0 + ttl + chrono::Duration::seconds(1);
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

#[cfg(test)]
mod model {
    //! The table against a plain map of strings, over random IDs and times.
    use std::collections::HashMap;

    use proptest::prelude::*;

    use super::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        #[test]
        fn agrees_with_a_map_of_strings(
            ops in prop::collection::vec((0u16..400, 0i64..40, 1i64..5), 1..6000)
        ) {
            let mut seen = SeenEvents::default();
            let mut model: HashMap<String, i64> = HashMap::new();
            let base = 1_700_000_000i64;
            let mut clock = 0i64;
            for (id, advance, ttl) in ops {
                clock += i64::from(advance % 8 == 0); // slow time: many repeats stay live
                let id = format!("Ev{id}");
                let now = DateTime::from_timestamp(base + clock, 0).unwrap();
                let expires = DateTime::from_timestamp(base + clock + ttl, 0).unwrap();
                let expected = match model.get(&id) {
                    Some(&expiry) if expiry > base + clock => false,
                    _ => {
                        model.insert(id.clone(), base + clock + ttl);
                        true
                    }
                };
                prop_assert_eq!(seen.remember(&id, now, expires), expected, "{}", id);
            }
            prop_assert!(seen.within_load());
        }
    }
}
