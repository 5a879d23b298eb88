//! Maps from keys to one word, for Tempo's per-key records that no command
//! frees: the clocks, and the executor's promise counts at rest.
//!
//! Such a map holds every key the run touched, at every process, and a key
//! is usually looked up long after it was last touched: with one entry per
//! key, the maps outgrow the caches and nearly every lookup is a cache miss
//! (they were 40 of the 56 MB of the 2%-conflict benchmark, and most of its
//! time). Two things make them small in the usual runs:
//!
//! * Most keys are used by one command, so both records end at 1: the
//!   command's timestamp, every clock bumped to it and every process's
//!   promises up to it. [`KeyWords`] keeps "this key's word is 1" as one
//!   bit in a block of 64 consecutive keys, and only other values in a
//!   map of their own.
//! * Workloads number keys in runs (a client's private keys are
//!   consecutive; a Zipf key space is `0..n`), so a block holds many keys:
//!   a few bytes a key, and the blocks of the keys in flight stay in cache.
//!
//! Keys spread at random would cost a block per key: the same memory as
//! one entry per key, and a second lookup for values other than 0 and 1.
//!
//! [`KeyMap`] is the hash map under both: open addressing with the key and
//! its value side by side in 16 bytes (four to a cache line, where
//! `FixedHashMap` keeps control bytes apart from its entries: two misses
//! for a cold lookup instead of one) and linear probing. Deterministic like
//! any map here: no random state, and iteration depends only on the keys
//! inserted and removed, in order.

use sim_core::Key;

/// Marks a vacant entry (all-zero memory is a vacant table, which the
/// allocator hands out without writing it); the key 0 itself is kept
/// aside.
const VACANT: Key = 0;

/// The smallest table allocated.
const MIN_CAPACITY: usize = 16;

/// A map from keys to `u64`s, with linear probing.
#[derive(Clone, Debug, Default)]
pub(super) struct KeyMap {
    /// `[key, value]`: a power of two entries (or none), at most three
    /// quarters used (measured against half: 3% fewer cache misses in the
    /// 2%-conflict benchmark for 1% more instructions in longer probes).
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

/// The place of the key [`VACANT`]'s value (see [`KeyMap::get_place`]).
const VACANT_PLACE: usize = usize::MAX;

impl KeyMap {
    /// The value of `key`.
    #[inline]
    pub(super) fn get(&self, key: Key) -> Option<u64> {
        self.get_place(key).map(|(_, value)| value)
    }

    /// The value of `key` and where it is, to overwrite it with
    /// [`KeyMap::set_at`] (valid until the next insertion or removal).
    #[inline]
    fn get_place(&self, key: Key) -> Option<(usize, u64)> {
        if key == VACANT {
            return self.vacant_key.map(|value| (VACANT_PLACE, value));
        }
        let index = self.find(key)?;
        Some((index, self.entries[index][1]))
    }

    /// Overwrites the value at `place`, from [`KeyMap::get_place`].
    #[inline]
    fn set_at(&mut self, place: usize, value: u64) {
        match place {
            VACANT_PLACE => self.vacant_key = Some(value),
            index => self.entries[index][1] = value,
        }
    }

    /// The value of `key`, inserted as 0 if absent.
    #[inline]
    pub(super) fn get_or_zero(&mut self, key: Key) -> &mut u64 {
        if key == VACANT {
            return self.vacant_key.get_or_insert(0);
        }
        if (self.len + 1) * 4 > self.entries.len() * 3 {
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

    /// Removes `key`; its value if it was there.
    pub(super) fn remove(&mut self, key: Key) -> Option<u64> {
        if key == VACANT {
            return self.vacant_key.take();
        }
        let mut hole = self.find(key)?;
        let value = self.entries[hole][1];
        self.len -= 1;
        // Backward-shift deletion: move up every later entry of the probe
        // run that may sit in the hole (its home is not cyclically in
        // `(hole, index]`), so that no probe stops short.
        let mask = self.entries.len() - 1;
        let mut index = hole;
        loop {
            index = (index + 1) & mask;
            let entry_key = self.entries[index][0];
            if entry_key == VACANT {
                break;
            }
            let entry_home = home(entry_key, mask);
            if (index.wrapping_sub(entry_home) & mask) >= (index.wrapping_sub(hole) & mask) {
                self.entries[hole] = self.entries[index];
                hole = index;
            }
        }
        self.entries[hole] = [VACANT, 0];
        Some(value)
    }

    /// Number of keys.
    pub(super) fn len(&self) -> usize {
        self.len + usize::from(self.vacant_key.is_some())
    }

    /// Every key and its value, in table order.
    pub(super) fn iter(&self) -> impl Iterator<Item = (Key, u64)> + '_ {
        let vacant_key = self.vacant_key.map(|value| (VACANT, value));
        let stored = self.entries.iter().filter(|[key, _]| *key != VACANT).map(|&[key, value]| (key, value));
        vacant_key.into_iter().chain(stored)
    }

    /// The entry index of `key` (not [`VACANT`]).
    #[inline]
    fn find(&self, key: Key) -> Option<usize> {
        if self.len == 0 {
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

/// Keys per block of [`KeyWords`] (the bits of a word).
const BLOCK_BITS: u32 = 6;

/// A word per key, 0 for keys never set, with the value 1 stored as a bit
/// (see the module docs). Read a key's word with [`KeyWords::get`] (or
/// [`KeyWords::lookup`], to set it afterwards with one probe less).
#[derive(Clone, Debug, Default)]
pub(super) struct KeyWords {
    /// Per block of 64 consecutive keys (`key >> 6`), the keys whose word
    /// is 1.
    ones: KeyMap,
    /// The words of the other keys that were set (a word set to 0 is kept,
    /// so that the key counts as present).
    others: KeyMap,
    /// Keys whose word is 1.
    ones_len: usize,
}

/// A key's word as [`KeyWords::lookup`] found it, and where.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Word {
    /// The word (0 if never set).
    pub(super) value: u64,
    stored: Stored,
}

/// Where a key's word is stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Stored {
    Nowhere,
    Ones,
    /// In `others`, at this place.
    Others(usize),
}

impl KeyWords {
    /// The word of `key` (0 if never set).
    #[inline]
    pub(super) fn get(&self, key: Key) -> u64 {
        self.lookup(key).value
    }

    /// The word of `key` and where it is, for [`KeyWords::set_found`].
    #[inline]
    pub(super) fn lookup(&self, key: Key) -> Word {
        // The other words first: the keys in flight are there (the
        // executor's active keys), and they are looked up most.
        if let Some((place, value)) = self.others.get_place(key) {
            return Word { value, stored: Stored::Others(place) };
        }
        let bit = 1u64 << (key & 63);
        if self.ones.get(key >> BLOCK_BITS).is_some_and(|block| block & bit != 0) {
            return Word { value: 1, stored: Stored::Ones };
        }
        Word { value: 0, stored: Stored::Nowhere }
    }

    /// Sets the word of `key`.
    pub(super) fn set(&mut self, key: Key, word: u64) {
        let found = self.lookup(key);
        self.set_found(key, found, word);
    }

    /// Sets the word of `key`, which [`KeyWords::lookup`] found as `found`
    /// (nothing changed since): only the places that change are probed.
    #[inline]
    pub(super) fn set_found(&mut self, key: Key, found: Word, word: u64) {
        let bit = 1u64 << (key & 63);
        let block = key >> BLOCK_BITS;
        match (found.stored, word == 1) {
            (Stored::Ones, true) => {}
            (Stored::Ones, false) => {
                *self.ones.get_or_zero(block) &= !bit;
                self.ones_len -= 1;
                *self.others.get_or_zero(key) = word;
            }
            (Stored::Others(_) | Stored::Nowhere, true) => {
                *self.ones.get_or_zero(block) |= bit;
                self.ones_len += 1;
                if matches!(found.stored, Stored::Others(_)) {
                    self.others.remove(key);
                }
            }
            (Stored::Others(place), false) => self.others.set_at(place, word),
            (Stored::Nowhere, false) => *self.others.get_or_zero(key) = word,
        }
    }

    /// Makes `key` present (its word 0) if it was never set.
    pub(super) fn touch(&mut self, key: Key) {
        let found = self.lookup(key);
        if found.stored == Stored::Nowhere {
            self.set_found(key, found, 0);
        }
    }

    /// Number of keys set.
    pub(super) fn len(&self) -> usize {
        self.ones_len + self.others.len()
    }

    /// Blocks stored for keys at 1, and other words stored.
    #[cfg(test)]
    pub(super) fn stored(&self) -> (usize, usize) {
        (self.ones.len(), self.others.len())
    }

    /// Every key set and its word: the keys whose word is 1 block by block
    /// in table order (ascending within a block), then the others in table
    /// order.
    pub(super) fn to_vec(&self) -> Vec<(Key, u64)> {
        let mut words = Vec::with_capacity(self.len());
        for (block, mut ones) in self.ones.iter() {
            while ones != 0 {
                let low = ones.trailing_zeros();
                words.push(((block << BLOCK_BITS) | u64::from(low), 1));
                ones &= ones - 1;
            }
        }
        words.extend(self.others.iter());
        words
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{RngExt, SeedableRng};
    use std::collections::BTreeMap;

    fn random_key(rng: &mut impl rand::Rng) -> Key {
        match rng.random_range(0..4) {
            0 => rng.random_range(0..130),
            1 => (1 << 62) + (rng.random_range(0..8u64) << 32) + rng.random_range(0..300),
            2 => rng.random_range(0..2) * u64::MAX,
            _ => rng.random(),
        }
    }

    /// Agrees with a `BTreeMap` on random keys (clustered and spread, and
    /// the reserved one), through growths and removals.
    #[test]
    fn key_map_agrees_with_a_btree_map() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
        let mut map = KeyMap::default();
        let mut expected = BTreeMap::new();
        for step in 0..30_000u64 {
            let key = random_key(&mut rng);
            match rng.random_range(0..3) {
                0 => {
                    *map.get_or_zero(key) += step;
                    *expected.entry(key).or_insert(0) += step;
                }
                1 => assert_eq!(map.remove(key), expected.remove(&key)),
                _ => {}
            }
            assert_eq!(map.get(key), expected.get(&key).copied());
            assert_eq!(map.len(), expected.len());
        }
        for (&key, &value) in &expected {
            assert_eq!(map.get(key), Some(value));
        }
        let mut stored: Vec<_> = map.iter().collect();
        stored.sort_unstable();
        assert_eq!(stored, expected.into_iter().collect::<Vec<_>>());
    }

    /// Agrees with a `BTreeMap` (absent meaning 0), with words moving
    /// between 1 and other values both ways.
    #[test]
    fn key_words_agree_with_a_btree_map() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(5);
        let mut words = KeyWords::default();
        let mut expected = BTreeMap::new();
        for _ in 0..30_000 {
            let key = random_key(&mut rng);
            match rng.random_range(0..4) {
                0 | 1 => {
                    let word = [0, 1, 1, 2, 7, u64::MAX][rng.random_range(0..6)];
                    if rng.random_bool(0.5) {
                        words.set(key, word);
                    } else {
                        let found = words.lookup(key);
                        assert_eq!(found.value, expected.get(&key).copied().unwrap_or(0));
                        words.set_found(key, found, word);
                    }
                    expected.insert(key, word);
                }
                2 => {
                    words.touch(key);
                    expected.entry(key).or_insert(0);
                }
                _ => {}
            }
            assert_eq!(words.get(key), expected.get(&key).copied().unwrap_or(0));
            assert_eq!(words.len(), expected.len());
        }
        let mut all = words.to_vec();
        all.sort_unstable();
        assert_eq!(all, expected.into_iter().collect::<Vec<_>>());
    }

    /// A run of consecutive keys set to 1 takes a block, not an entry each.
    #[test]
    fn consecutive_ones_share_a_block() {
        let mut words = KeyWords::default();
        for key in (1 << 40)..(1 << 40) + 640 {
            words.set(key, 1);
        }
        assert_eq!((words.len(), words.stored()), (640, (10, 0)));
    }
}
