//! Hash maps whose hasher has no random state.
//!
//! std's `HashMap` seeds its hasher randomly per process, so iterating one
//! can change a run's output between two invocations. The maps here use a
//! fixed FxHash-style hasher: lookups are fast and every run hashes the same
//! way. Still prefer `BTreeMap` wherever a map is iterated on an output path.

use std::hash::{BuildHasherDefault, Hasher};

/// A `HashMap` with a fixed, seedless hasher.
#[allow(clippy::disallowed_types)] // the one sanctioned wrapper: fixed hasher
pub type FixedHashMap<K, V> = std::collections::HashMap<K, V, BuildHasherDefault<FxHasher>>;

/// A `HashSet` with a fixed, seedless hasher.
#[allow(clippy::disallowed_types)] // the one sanctioned wrapper: fixed hasher
pub type FixedHashSet<T> = std::collections::HashSet<T, BuildHasherDefault<FxHasher>>;

/// The multiply-rotate hash used by rustc ("FxHash"): not DoS resistant,
/// which a simulator does not need, and fully deterministic.
#[derive(Clone, Copy, Default)]
pub struct FxHasher {
    hash: u64,
}

const SEED: u64 = 0x51_7c_c1_b7_27_22_0a_95;

impl FxHasher {
    #[inline]
    fn add(&mut self, word: u64) {
        self.hash = (self.hash.rotate_left(5) ^ word).wrapping_mul(SEED);
    }
}

impl Hasher for FxHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            self.add(u64::from_le_bytes(word));
        }
    }

    #[inline]
    fn write_u8(&mut self, i: u8) {
        self.add(u64::from(i));
    }

    #[inline]
    fn write_u32(&mut self, i: u32) {
        self.add(u64::from(i));
    }

    #[inline]
    fn write_u64(&mut self, i: u64) {
        self.add(i);
    }

    #[inline]
    fn write_usize(&mut self, i: usize) {
        self.add(i as u64);
    }

    /// A multiply only carries entropy upwards, and hashbrown picks buckets
    /// from the low bits: keys that differ only in high bits (such as
    /// per-client key ranges) would all collide. One xor-shift-multiply
    /// round (from MurmurHash3's finaliser) spreads every bit everywhere.
    #[inline]
    fn finish(&self) -> u64 {
        let mut z = self.hash;
        z ^= z >> 33;
        z = z.wrapping_mul(0xFF51_AFD7_ED55_8CCD);
        z ^ (z >> 33)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::hash::{BuildHasher, BuildHasherDefault};

    #[test]
    fn keys_differing_in_high_bits_spread_over_low_bits() {
        let build = BuildHasherDefault::<FxHasher>::default();
        let mut low_bits: Vec<u64> =
            (0..1024u64).map(|client| build.hash_one((1u64 << 62) + (client << 32) + 1) & 1023).collect();
        low_bits.sort_unstable();
        low_bits.dedup();
        assert!(low_bits.len() > 500, "only {} distinct buckets of 1024", low_bits.len());
    }

    #[test]
    fn hashes_are_the_same_in_every_process() {
        let build = BuildHasherDefault::<FxHasher>::default();
        // No per-process state: the hash is a pure function of the value.
        let mut expected = FxHasher::default();
        expected.write_u64(42);
        assert_eq!(build.hash_one(42u64), expected.finish());
        assert_eq!(build.hash_one(42u64), BuildHasherDefault::<FxHasher>::default().hash_one(42u64));
    }
}
