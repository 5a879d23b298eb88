//! Command identifiers of leaderless protocols (specs README §1.2).

use sim_core::ProcessId;
use std::collections::{BTreeSet, VecDeque};
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

/// A set of dots stored as, per origin, a contiguous prefix `1..=n` plus
/// the dots above a gap: compact for sets that fill up in order, like the
/// dots a process has committed or executed.
#[derive(Clone, Debug, Default)]
pub struct DotSet {
    /// By origin index.
    origins: Vec<OriginDots>,
}

/// Dots above the prefix are bits in a window of 64-bit words: a blocked
/// command can leave thousands of later dots above the gap (an EPaxos
/// executor under contention), and a tree of them made inserts and lookups
/// the most expensive part of a run. Dots beyond the window (only odd
/// inputs get there) go to a tree, which bounds the window's memory.
#[derive(Clone, Debug, Default)]
struct OriginDots {
    /// Dots `1..=prefix` are in.
    prefix: u64,
    /// Word `j` of `words` holds dots `(first_word + j) * 64 ..`, bit `i`
    /// for `+ i`; only bits above `prefix` mean anything.
    first_word: u64,
    words: VecDeque<u64>,
    /// Dots at least `WINDOW_WORDS` words above the first word.
    far: BTreeSet<u64>,
}

/// Most words a window holds (4 Mi dots, 512 KiB).
const WINDOW_WORDS: u64 = 1 << 16;

impl OriginDots {
    fn contains(&self, seq: u64) -> bool {
        if seq <= self.prefix {
            return true;
        }
        let bit =
            (seq / 64).checked_sub(self.first_word).and_then(|index| self.words.get(usize::try_from(index).ok()?));
        bit.is_some_and(|word| word & (1 << (seq % 64)) != 0) || self.far.contains(&seq)
    }

    fn insert(&mut self, seq: u64) -> bool {
        if seq <= self.prefix {
            return false;
        }
        if seq == self.prefix + 1 && self.far.is_empty() {
            if self.words.is_empty() {
                // The common case: the next dot, nothing above the prefix.
                self.prefix = seq;
                return true;
            }
            // The next dot while later ones came early: unless the dot
            // after it is in, only the prefix moves (bits at or below the
            // prefix mean nothing, so its bit need not be set).
            let after = seq + 1;
            let word = (after / 64).checked_sub(self.first_word).and_then(|index| self.words.get(index as usize));
            if word.is_none_or(|word| word & (1 << (after % 64)) == 0) {
                self.prefix = seq;
                while self.first_word < (self.prefix + 1) / 64 && self.words.pop_front().is_some() {
                    self.first_word += 1;
                }
                if self.words.is_empty() {
                    self.first_word = (self.prefix + 1) / 64;
                }
                return true;
            }
        }
        if self.words.is_empty() {
            self.first_word = (self.prefix + 1) / 64;
        }
        // seq > prefix, so its word is at or above the first word.
        let index = seq / 64 - self.first_word;
        if index >= WINDOW_WORDS {
            return self.far.insert(seq);
        }
        let index = index as usize;
        if index >= self.words.len() {
            self.words.resize(index + 1, 0);
        }
        let bit = 1u64 << (seq % 64);
        if self.words[index] & bit != 0 {
            return false;
        }
        self.words[index] |= bit;
        if seq == self.prefix + 1 {
            self.advance();
        }
        true
    }

    /// Moves the prefix over the dots that follow it, then frees the words
    /// below it and brings far dots into the window.
    fn advance(&mut self) {
        loop {
            let next = self.prefix + 1;
            let word = (next / 64).checked_sub(self.first_word).and_then(|i| self.words.get(i as usize));
            let run = word.map_or(0, |word| u64::from((word >> (next % 64)).trailing_ones()));
            self.prefix += run;
            if run > 0 && next % 64 + run == 64 {
                continue; // the run reached the end of its word: go on with the next
            }
            if self.far.first() == Some(&(self.prefix + 1)) {
                self.far.pop_first();
                self.prefix += 1;
                continue;
            }
            break;
        }
        while self.first_word < (self.prefix + 1) / 64 && self.words.pop_front().is_some() {
            self.first_word += 1;
        }
        if self.words.is_empty() {
            self.first_word = (self.prefix + 1) / 64;
        }
        while let Some(&seq) = self.far.first() {
            if seq / 64 - self.first_word >= WINDOW_WORDS {
                break;
            }
            self.far.pop_first();
            self.insert(seq);
        }
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
            self.origins.resize_with(index + 1, OriginDots::default);
        }
        self.origins[index].insert(dot.seq)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dots_order_by_origin_then_seq() {
        assert!(Dot::new(1, 9) < Dot::new(2, 1));
        assert!(Dot::new(2, 1) < Dot::new(2, 2));
        assert_eq!(Dot::new(3, 4).to_string(), "(3,4)");
    }

    /// Random dots, mostly near the front as in a run, some far beyond
    /// the window, against a `BTreeSet`.
    #[test]
    fn dot_set_agrees_with_a_btreeset_on_long_random_runs() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
        for _ in 0..4 {
            let (mut set, mut reference) = (DotSet::new(), BTreeSet::new());
            for _ in 0..3_000 {
                let origin = 1 + rng.next_u32() % 2;
                let prefix = set.prefix(ProcessId(origin));
                let seq = match rng.next_u32() % 100 {
                    0 => prefix + 1 + WINDOW_WORDS * 64 + u64::from(rng.next_u32() % 300),
                    1..=3 => prefix + 1,
                    _ => prefix + 1 + u64::from(rng.next_u32() % 200),
                };
                let dot = Dot::new(origin, seq);
                assert_eq!(set.insert(dot), reference.insert(dot), "insert {dot}");
                for probe in prefix.saturating_sub(3)..prefix + 300 {
                    let probe = Dot::new(origin, probe.max(1));
                    assert_eq!(set.contains(probe), reference.contains(&probe), "contains {probe}");
                }
                let expected = (1..).take_while(|&s| reference.contains(&Dot::new(origin, s))).last().unwrap_or(0);
                assert_eq!(set.prefix(ProcessId(origin)), expected);
            }
            // Filling every gap brings the prefix over the far dots too.
            for origin in 1..=2 {
                let top = reference.iter().filter(|d| d.origin.0 == origin).map(|d| d.seq).max().unwrap_or(0);
                for seq in 1..=top {
                    set.insert(Dot::new(origin, seq));
                }
                assert_eq!(set.prefix(ProcessId(origin)), top);
                assert!(set.origins[origin as usize - 1].far.is_empty());
            }
        }
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
