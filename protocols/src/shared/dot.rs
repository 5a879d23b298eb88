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
/// bitmap of the dots above it: compact for sets that fill up roughly in
/// order, like the dots a process has executed, and O(1) to query however
/// far some dots run ahead of a missing one.
#[derive(Clone, Debug, Default)]
pub struct DotSet {
    /// By origin index.
    origins: Vec<Window>,
}

/// One origin's dots: `1..=prefix`, and bit `i` of `above[w]` stands for
/// seq `base + 64*w + i`. `base - 1` is a multiple of 64 and
/// `base <= prefix + 1 <= base + 64`.
#[derive(Clone, Debug)]
struct Window {
    prefix: u64,
    base: u64,
    above: VecDeque<u64>,
}

impl Default for Window {
    fn default() -> Self {
        Window { prefix: 0, base: 1, above: VecDeque::new() }
    }
}

impl Window {
    fn contains(&self, seq: u64) -> bool {
        if seq <= self.prefix {
            return true;
        }
        let offset = seq - self.base;
        let word = usize::try_from(offset / 64).ok().and_then(|word| self.above.get(word));
        word.is_some_and(|word| word & (1 << (offset % 64)) != 0)
    }

    fn insert(&mut self, seq: u64) -> bool {
        if seq <= self.prefix {
            return false;
        }
        let offset = seq - self.base;
        let word = usize::try_from(offset / 64).expect("a window fits in memory");
        if self.above.len() <= word {
            self.above.resize(word + 1, 0);
        }
        let bit = 1 << (offset % 64);
        if self.above[word] & bit != 0 {
            return false;
        }
        self.above[word] |= bit;
        if seq == self.prefix + 1 {
            self.advance();
        }
        true
    }

    /// Moves the prefix over the dots present right above it.
    fn advance(&mut self) {
        while let Some(&word) = self.above.front() {
            let offset = self.prefix + 1 - self.base;
            if offset == 64 {
                self.above.pop_front();
                self.base += 64;
                continue;
            }
            // Consecutive dots from `offset` (the shift fills with zeros,
            // so this stops at the word's end).
            let present = u64::from((!(word >> offset)).trailing_zeros());
            if present == 0 {
                break;
            }
            self.prefix += present;
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
        self.origins.get(dot.origin.index()).is_some_and(|window| window.contains(dot.seq))
    }

    /// The highest seq `s` of `origin` such that every dot `(origin, 1..=s)`
    /// is in the set.
    pub fn prefix(&self, origin: ProcessId) -> u64 {
        self.origins.get(origin.index()).map_or(0, |window| window.prefix)
    }

    /// Adds `dot`; false if it was there.
    pub fn insert(&mut self, dot: Dot) -> bool {
        let index = dot.origin.index();
        if self.origins.len() <= index {
            self.origins.resize_with(index + 1, Window::default);
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

    /// Far above a missing dot, across many words, then the gap fills.
    #[test]
    fn dot_set_with_a_long_gap() {
        let mut set = DotSet::new();
        let origin = ProcessId(2);
        for seq in (2..=1_000).rev() {
            assert!(set.insert(Dot { origin, seq }));
        }
        assert_eq!(set.prefix(origin), 0);
        assert!(!set.contains(Dot { origin, seq: 1 }) && set.contains(Dot { origin, seq: 640 }));
        assert!(!set.contains(Dot { origin, seq: 1_001 }) && !set.contains(Dot { origin, seq: u64::MAX }));
        assert!(set.insert(Dot { origin, seq: 1 }));
        assert_eq!(set.prefix(origin), 1_000);
        assert!(!set.insert(Dot { origin, seq: 999 }));
        assert!(set.insert(Dot { origin, seq: 1_065 }) && set.insert(Dot { origin, seq: 1_001 }));
        assert_eq!(set.prefix(origin), 1_001);
        assert!(set.contains(Dot { origin, seq: 1_065 }) && !set.contains(Dot { origin, seq: 1_064 }));
        assert_eq!(set.prefix(ProcessId(1)), 0);
    }
}
