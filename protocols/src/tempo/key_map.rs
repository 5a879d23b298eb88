//! A map from keys to one word, for Tempo's per-key records that no
//! command frees (clocks, and the executor's promise counts at rest).
//!
//! Such a map grows to every key the run touched, far larger than the
//! cache, and a key is usually looked up long after it was last touched:
//! each lookup is a cache miss, and what matters is how many. A
//! `FixedHashMap` (hashbrown) keeps its control bytes apart from its
//! entries, so a cold lookup misses twice, once in each. Here an entry is
//! the key and its value side by side in 16 bytes (four to a cache line)
//! and probing is linear, so a cold lookup usually misses once.
//! Deterministic like any hash map here: no random state, and nothing
//! iterates it.

use sim_core::Key;

/// Marks a vacant entry (all-zero memory is a vacant table, which the
/// allocator hands out without writing it); the key 0 itself is kept
/// aside.
const VACANT: Key = 0;

/// The smallest table allocated.
const MIN_CAPACITY: usize = 16;

/// A map from keys to `u64`s, with linear probing. Keys are never removed
/// (the records it holds are never freed), which keeps probing simple: no
/// tombstones.
#[derive(Clone, Debug, Default)]
pub(super) struct KeyMap {
    /// `[key, value]`: a power of two entries (or none), at most half
    /// used, so that probes stay short (a fresh key is an unsuccessful
    /// search, the longest kind): measured 7% fewer cache misses in the
    /// whole 2%-conflict benchmark than at three quarters.
    entries: Vec<[u64; 2]>,
    len: usize,
    /// The value of the key [`VACANT`], which cannot be stored in
    /// `entries`.
    vacant_key: Option<u64>,
}

/// Where `key` starts its probe among `mask + 1` entries: its bits mixed
/// (MurmurHash3's finaliser), so that keys differing anywhere spread. The
/// low bits choose the place, so doubling the table sends each entry to
/// one of two places (`i` or `i + old capacity`): growing streams through
/// both tables.
#[inline]
fn home(key: Key, mask: usize) -> usize {
    let mut z = key;
    z ^= z >> 33;
    z = z.wrapping_mul(0xFF51_AFD7_ED55_8CCD);
    z ^= z >> 33;
    z = z.wrapping_mul(0xC4CE_B9FE_1A85_EC53);
    z ^= z >> 33;
    z as usize & mask
}

impl KeyMap {
    /// The value of `key`.
    #[inline]
    pub(super) fn get(&self, key: Key) -> Option<u64> {
        if key == VACANT {
            return self.vacant_key;
        }
        let index = self.find(key)?;
        Some(self.entries[index][1])
    }

    /// The value of `key`, mutably.
    #[inline]
    pub(super) fn get_mut(&mut self, key: Key) -> Option<&mut u64> {
        if key == VACANT {
            return self.vacant_key.as_mut();
        }
        let index = self.find(key)?;
        Some(&mut self.entries[index][1])
    }

    /// The value of `key`, inserted as 0 if absent.
    #[inline]
    pub(super) fn get_or_zero(&mut self, key: Key) -> &mut u64 {
        if key == VACANT {
            return self.vacant_key.get_or_insert(0);
        }
        if (self.len + 1) * 2 > self.entries.len() {
            self.grow();
        }
        let mask = self.entries.len() - 1;
        let mut index = home(key, mask);
        loop {
            let entry_key = self.entries[index][0];
            if entry_key == key {
                return &mut self.entries[index][1];
            }
            if entry_key == VACANT {
                self.len += 1;
                self.entries[index] = [key, 0];
                return &mut self.entries[index][1];
            }
            index = (index + 1) & mask;
        }
    }

    /// Number of keys.
    pub(super) fn len(&self) -> usize {
        self.len + usize::from(self.vacant_key.is_some())
    }

    /// True if no key is stored.
    pub(super) fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Every key and its value, mutably, in table order.
    pub(super) fn iter_mut(&mut self) -> impl Iterator<Item = (Key, &mut u64)> + '_ {
        let vacant_key = self.vacant_key.as_mut().map(|value| (VACANT, value));
        let stored = self.entries.iter_mut().filter(|[key, _]| *key != VACANT).map(|[key, value]| (*key, value));
        vacant_key.into_iter().chain(stored)
    }

    /// The entry index of `key` (not [`VACANT`]).
    #[inline]
    fn find(&self, key: Key) -> Option<usize> {
        if self.entries.is_empty() {
            return None;
        }
        let mask = self.entries.len() - 1;
        let mut index = home(key, mask);
        loop {
            let entry_key = self.entries[index][0];
            if entry_key == key {
                return Some(index);
            }
            if entry_key == VACANT {
                return None; // a table is never full
            }
            index = (index + 1) & mask;
        }
    }

    /// Doubles the table, re-placing every key.
    #[cold]
    fn grow(&mut self) {
        let capacity = (self.entries.len() * 2).max(MIN_CAPACITY);
        let old = std::mem::replace(&mut self.entries, vec![[VACANT, 0]; capacity]);
        let mask = capacity - 1;
        for [key, value] in old.into_iter().filter(|&[key, _]| key != VACANT) {
            let mut index = home(key, mask);
            while self.entries[index][0] != VACANT {
                index = (index + 1) & mask;
            }
            self.entries[index] = [key, value];
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    /// Agrees with a `BTreeMap` on random keys (clustered and spread, and
    /// the reserved one), through several growths.
    #[test]
    fn agrees_with_a_btree_map() {
        use rand::{RngExt, SeedableRng};
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
        let mut map = KeyMap::default();
        let mut expected = BTreeMap::new();
        for step in 0..20_000u64 {
            let key = match rng.random_range(0..4) {
                0 => rng.random_range(0..64),
                1 => (1 << 62) + (rng.random_range(0..8u64) << 32) + rng.random_range(0..1000),
                2 => rng.random_range(0..2) * u64::MAX,
                _ => rng.random(),
            };
            if rng.random_bool(0.5) {
                *map.get_or_zero(key) += step;
                *expected.entry(key).or_insert(0) += step;
            } else if let Some(value) = map.get_mut(key) {
                *value ^= 1;
                *expected.get_mut(&key).expect("present in both") ^= 1;
            } else {
                assert!(!expected.contains_key(&key));
            }
            assert_eq!(map.get(key), expected.get(&key).copied());
        }
        assert_eq!(map.len(), expected.len());
        for (&key, &value) in &expected {
            assert_eq!(map.get(key), Some(value));
        }
    }
}
