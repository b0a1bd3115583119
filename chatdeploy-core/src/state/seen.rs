//! The in-memory table of recently seen event IDs, kept by
//! [`InMemoryStateStore`](super::InMemoryStateStore).
//!
//! Every inbound event goes through it, so it is on the receive path's
//! critical line. IDs are kept as 96-bit keyed fingerprints in 16-byte slots
//! of open-addressed tables (linear probing, at most half full): remembering
//! one allocates nothing and usually touches one cache line, where a general
//! hash map of strings touched three (control bytes, slot, string). Two
//! distinct IDs share a fingerprint with probability 2^-96 per pair (the keys
//! are random per process).
//!
//! The table holds a bounded number of IDs, so that its memory does not grow
//! with the event rate and it stays in the CPU's cache: a table of every ID
//! of the last ten minutes at 100,000 events a second is gigabytes, and each
//! lookup in it a cache miss (docs/PERFORMANCE.md). Slack delivers at most
//! 30,000 events an hour per workspace (5,000 in a ten-minute window), so the
//! default bound holds every ID of the dedupe window for a workspace at
//! Slack's maximum rate, in 512 KiB; past the bound, the IDs expiring soonest
//! are forgotten first, and a warning is logged.

use std::hash::{BuildHasher, RandomState};

use chrono::{DateTime, Utc};

/// IDs are spread over this many tables, so that growing (rebuilding) one
/// never stalls the receive path for long under heavy load.
pub(super) const SHARDS: usize = 64;

/// The smallest table (slots); a power of two. Tiny in tests, so that they
/// go through many rebuilds and probe chains with expired slots.
const MIN_SLOTS: usize = if cfg!(test) { 8 } else { 64 };

/// How many IDs are held at most by default (a multiple of [`SHARDS`]):
/// 512 KiB of slots at most, which stay in a CPU core's cache (a 2 MiB
/// table measured 3% slower on the receive path, docs/PERFORMANCE.md).
pub(super) const DEFAULT_CAPACITY: usize = 16_384;

/// Seconds between two warnings that IDs are being forgotten early.
const WARN_EVERY_SECS: u32 = 60;

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
    /// Inserts `key` unless it is held and live; `true` when inserted. At
    /// most `cap` slots (a power of two, at least `MIN_SLOTS / 2`) are used;
    /// `forgotten` counts the live IDs dropped to stay within it.
    fn remember(&mut self, key: Slot, now: u32, cap: usize, forgotten: &mut u64) -> bool {
        if (self.used + 1) * 2 > self.slots.len() {
            *forgotten += self.rebuild(now, cap);
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
    /// a quarter full: amortised O(1) per insert. When more than `cap / 2`
    /// are live, only the `cap / 2` expiring last are kept (so the table
    /// never passes `2 * cap` slots); returns how many live ones were dropped.
    fn rebuild(&mut self, now: u32, cap: usize) -> u64 {
        let mut live: Vec<Slot> = self
            .slots
            .iter()
            .filter(|s| !s.is_empty() && s.expiry > now)
            .copied()
            .collect();
        let excess = live.len().saturating_sub(cap / 2);
        if excess > 0 {
            // The `excess` soonest to expire go first; ties (the same
            // second) are broken arbitrarily.
            live.select_nth_unstable_by_key(excess, |s| s.expiry);
            live.drain(..excess);
        }
        let size = (live.len() * 4).next_power_of_two().max(MIN_SLOTS);
        self.slots = vec![Slot::default(); size];
        self.used = 0;
        let mut none = 0;
        for key in live {
            self.remember(key, now, cap, &mut none);
        }
        excess as u64
    }
}

/// Recently seen event IDs, each until its expiry, at most a bounded number.
#[derive(Debug)]
pub(super) struct SeenEvents {
    shards: Vec<Shard>,
    /// Slots in use per shard, at most.
    shard_cap: usize,
    low_key: RandomState,
    high_key: RandomState,
    /// Live IDs dropped to stay within the bound since the last warning.
    forgotten: u64,
    /// When that warning was logged (seconds since the epoch).
    warned_at: u32,
}

impl Default for SeenEvents {
    fn default() -> Self {
        Self::with_capacity(DEFAULT_CAPACITY)
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
    /// A table holding at most about `capacity` IDs (rounded up to a power
    /// of two per shard) and always the last `capacity / 2` or so to arrive
    /// (to the second, and as evenly as the fingerprints spread over shards).
    pub(super) fn with_capacity(capacity: usize) -> Self {
        let shard_cap = capacity
            .div_ceil(SHARDS)
            .max(MIN_SLOTS / 2)
            .next_power_of_two();
        Self {
            shards: (0..SHARDS).map(|_| Shard::default()).collect(),
            shard_cap,
            low_key: RandomState::new(),
            high_key: RandomState::new(),
            forgotten: 0,
            warned_at: 0,
        }
    }

    /// How many IDs are held at most.
    pub(super) fn capacity(&self) -> usize {
        self.shard_cap * SHARDS
    }

    /// Records `id` until `expires_at`; `true` when it was not already
    /// remembered (or its earlier entry has expired by `now`, or it was
    /// forgotten to stay within the bound).
    pub(super) fn remember(
        &mut self,
        id: &str,
        now: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> bool {
        let (key, shard) = self.key(id, expires_at);
        let now = seconds(now, false);
        let new = self.shards[shard].remember(key, now, self.shard_cap, &mut self.forgotten);
        if self.forgotten > 0 && now.saturating_sub(self.warned_at) >= WARN_EVERY_SECS {
            tracing::warn!(
                forgotten = self.forgotten,
                capacity = self.capacity(),
                "more events within the dedupe window than the in-memory store holds: the \
                 oldest IDs were forgotten early, so a late redelivery of one would be handled \
                 again; use a durable state store, or a larger capacity"
            );
            self.forgotten = 0;
            self.warned_at = now;
        }
        new
    }

    /// `id`'s slot (expiring at `expires_at`) and shard.
    fn key(&self, id: &str, expires_at: DateTime<Utc>) -> (Slot, usize) {
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
        (key, (high as usize) % SHARDS)
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

    /// Whether `id` is held and live at `now`, without recording it.
    #[cfg(test)]
    fn holds(&self, id: &str, now: DateTime<Utc>) -> bool {
        let (key, shard) = self.key(id, now);
        let now = seconds(now, false);
        self.shards[shard]
            .slots
            .iter()
            .any(|s| s.low == key.low && s.high == key.high && s.expiry > now)
    }

    /// The shard `id` goes to.
    #[cfg(test)]
    fn shard_of(&self, id: &str) -> usize {
        self.key(id, Utc::now()).1
    }

    /// Whether every table is at most half full and within the bound.
    #[cfg(test)]
    pub(super) fn within_load(&self) -> bool {
        self.shards
            .iter()
            .all(|s| s.used * 2 <= s.slots.len() && s.used <= self.shard_cap)
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
        let mut seen = SeenEvents::with_capacity(1 << 20);
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

    #[test]
    fn the_bound_is_kept_and_the_newest_ids_with_it() {
        let mut seen = SeenEvents::with_capacity(64 * 32);
        assert_eq!(seen.capacity(), 64 * 32);
        let t0 = Utc::now();
        let at = |i: i64| t0 + chrono::Duration::seconds(i);
        let ttl = chrono::Duration::days(1);
        let ids: Vec<String> = (0..20_000).map(|i| format!("Ev{i:09}")).collect();
        for (i, id) in ids.iter().enumerate() {
            let now = at(i as i64);
            assert!(seen.remember(id, now, now + ttl));
            assert!(seen.len() <= seen.capacity(), "bounded after {i}");
        }
        assert!(seen.within_load());
        assert!(
            seen.forgotten > 0 || seen.warned_at > 0,
            "IDs were forgotten"
        );
        // Any ID with fewer than half a shard's bound of newer IDs in its
        // shard is still held; count those newer IDs from the end.
        let now = at(ids.len() as i64);
        let mut newer = [0usize; SHARDS];
        let mut checked = 0;
        for id in ids.iter().rev() {
            let shard = seen.shard_of(id);
            if newer[shard] < seen.shard_cap / 2 {
                assert!(seen.holds(id, now), "{id} forgotten too early");
                checked += 1;
            }
            newer[shard] += 1;
        }
        assert!(checked >= SHARDS * (seen.shard_cap / 2), "{checked}");
        assert!(!seen.holds(&ids[0], now), "the oldest went first");
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

        /// With a bound far below the IDs in use, the table may forget an
        /// ID early, but never takes a new or expired one for a repeat.
        #[test]
        fn a_bounded_table_never_invents_a_repeat(
            ops in prop::collection::vec((0u16..2000, 0i64..40, 1i64..50), 1..6000)
        ) {
            let mut seen = SeenEvents::with_capacity(SHARDS * 4);
            let mut model: HashMap<String, i64> = HashMap::new();
            let base = 1_700_000_000i64;
            let mut clock = 0i64;
            for (id, advance, ttl) in ops {
                clock += i64::from(advance % 8 == 0);
                let id = format!("Ev{id}");
                let now = DateTime::from_timestamp(base + clock, 0).unwrap();
                let expires = DateTime::from_timestamp(base + clock + ttl, 0).unwrap();
                let live_in_model = model.get(&id).is_some_and(|&e| e > base + clock);
                if seen.remember(&id, now, expires) {
                    model.insert(id, base + clock + ttl);
                } else {
                    prop_assert!(live_in_model, "{} taken for a repeat", id);
                }
                prop_assert!(seen.len() <= seen.capacity());
            }
            prop_assert!(seen.within_load());
        }
    }
}
