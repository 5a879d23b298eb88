//! Command identifiers of leaderless protocols (specs README §1.2).

use sim_core::ProcessId;
use std::collections::VecDeque;
use std::fmt;

/// A command's id: the process that coordinated it and that process's
/// counter (from 1). Ordered by origin, then sequence ("id order"), the
/// deterministic tie-breaker of every leaderless protocol.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Dot {
    /// The coordinator.
    pub origin: ProcessId,
    /// Its sequence number for the command, from 1.
    pub seq: u64,
}

impl Dot {
    /// The dot `(origin, seq)`.
    pub fn new(origin: u32, seq: u64) -> Dot {
        Dot { origin: ProcessId(origin), seq }
    }
}

impl fmt::Display for Dot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "({},{})", self.origin.0, self.seq)
    }
}

/// A set of dots stored as, per origin, a contiguous prefix `1..=n` plus a
/// bitmap of the dots above it: compact for sets that fill up nearly in
/// order, like the dots a process has committed or executed, and O(1) per
/// operation even when one blocked dot leaves thousands above the gap (a
/// command stuck in a dependency chain under contention).
#[derive(Clone, Debug, Default)]
pub struct DotSet {
    /// Indexed by origin `id - 1`.
    origins: Vec<OriginSet>,
}

/// The seqs of one origin in a [`DotSet`].
#[derive(Clone, Debug, Default)]
struct OriginSet {
    /// Seqs `1..=prefix` are in.
    prefix: u64,
    /// Bit `i` of `words[w]` stands for seq `base + 64*w + i`. `base` is
    /// `1 + 64*k` with `base <= prefix + 1 < base + 64` (the word holding
    /// `prefix + 1` is the first); seqs beyond the words are not in.
    base: u64,
    words: VecDeque<u64>,
}

/// Seqs per bitmap word.
const WORD_BITS: u64 = 64;

impl OriginSet {
    /// Word index and bit of `seq`, which must be `>= base`.
    fn position(&self, seq: u64) -> (usize, u64) {
        let offset = seq - self.base;
        (usize::try_from(offset / WORD_BITS).unwrap_or(usize::MAX), offset % WORD_BITS)
    }

    fn contains(&self, seq: u64) -> bool {
        if seq <= self.prefix {
            return true;
        }
        let (word, bit) = self.position(seq);
        self.words.get(word).is_some_and(|&bits| bits & (1 << bit) != 0)
    }

    fn insert(&mut self, seq: u64) -> bool {
        if seq <= self.prefix {
            return false;
        }
        if self.words.is_empty() {
            self.base = 1 + self.prefix / WORD_BITS * WORD_BITS;
        }
        let (word, bit) = self.position(seq);
        if word >= self.words.len() {
            self.words.resize(word + 1, 0);
        }
        if self.words[word] & (1 << bit) != 0 {
            return false;
        }
        self.words[word] |= 1 << bit;
        // Advance the prefix over the run of present seqs after it, a word
        // at a time, and drop the words it has passed.
        loop {
            let (word, bit) = self.position(self.prefix + 1);
            let Some(&bits) = self.words.get(word) else { break };
            let run = u64::from((bits >> bit).trailing_ones());
            self.prefix += run;
            if bit + run < WORD_BITS {
                break;
            }
        }
        while !self.words.is_empty() && self.base + WORD_BITS <= self.prefix + 1 {
            self.words.pop_front();
            self.base += WORD_BITS;
        }
        true
    }
}

impl DotSet {
    /// An empty set.
    pub fn new() -> DotSet {
        DotSet::default()
    }

    /// True if `dot` is in the set.
    pub fn contains(&self, dot: Dot) -> bool {
        self.origins.get(dot.origin.index()).is_some_and(|origin| origin.contains(dot.seq))
    }

    /// The highest seq `s` of `origin` such that every dot `(origin, 1..=s)`
    /// is in the set.
    pub fn prefix(&self, origin: ProcessId) -> u64 {
        self.origins.get(origin.index()).map_or(0, |origin| origin.prefix)
    }

    /// Adds `dot`; false if it was there.
    pub fn insert(&mut self, dot: Dot) -> bool {
        let index = dot.origin.index();
        if self.origins.len() <= index {
            self.origins.resize_with(index + 1, OriginSet::default);
        }
        self.origins[index].insert(dot.seq)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    #[test]
    fn dots_order_by_origin_then_seq() {
        assert!(Dot::new(1, 9) < Dot::new(2, 1));
        assert!(Dot::new(2, 1) < Dot::new(2, 2));
        assert_eq!(Dot::new(3, 4).to_string(), "(3,4)");
    }

    #[test]
    fn dot_set_agrees_with_a_btreeset() {
        let mut set = DotSet::new();
        let mut reference = BTreeSet::new();
        for step in 0..500u64 {
            let dot = Dot::new((step * 7 % 3 + 1) as u32, step * 13 % 40 + 1);
            assert_eq!(set.insert(dot), reference.insert(dot), "insert {dot}");
            for probe in 1..=41 {
                for origin in 1..=3 {
                    let probe = Dot::new(origin, probe);
                    assert_eq!(set.contains(probe), reference.contains(&probe));
                }
            }
        }
    }

    /// Seqs spread over many bitmap words, inserted in a shuffled order
    /// with some runs in order: membership and prefixes match a BTreeSet.
    #[test]
    fn dot_set_spanning_many_words_agrees_with_a_btreeset() {
        use rand::{RngExt, SeedableRng};
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(5);
        for round in 0..20 {
            let mut set = DotSet::new();
            let mut reference = BTreeSet::new();
            let mut seqs: Vec<u64> = (1..=700).collect();
            for i in (1..seqs.len()).rev() {
                if rng.random_bool(0.7) {
                    seqs.swap(i, rng.random_range(0..=i));
                }
            }
            for (step, &seq) in seqs.iter().enumerate() {
                let dot = Dot::new(1 + (round % 2), seq);
                assert_eq!(set.insert(dot), reference.insert(dot), "insert {dot}");
                assert!(!set.insert(dot), "again {dot}");
                if step % 50 == 0 || step + 1 == seqs.len() {
                    for probe in 1..=760 {
                        let probe = Dot::new(1 + (round % 2), probe);
                        assert_eq!(set.contains(probe), reference.contains(&probe), "{probe}");
                    }
                    let prefix = (1..).take_while(|&seq| reference.contains(&Dot::new(1 + (round % 2), seq))).count();
                    assert_eq!(set.prefix(ProcessId(1 + (round % 2))), prefix as u64);
                }
            }
            assert_eq!(set.prefix(ProcessId(1 + (round % 2))), 700);
            assert_eq!(set.prefix(ProcessId(3)), 0);
        }
    }
}
