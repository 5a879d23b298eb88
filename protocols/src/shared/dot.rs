//! Command identifiers of leaderless protocols (specs README §1.2).

use sim_core::ProcessId;
use std::collections::BTreeSet;
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
/// the few above a gap: compact for sets that fill up in order, like the
/// dots a process has executed.
#[derive(Clone, Debug, Default)]
pub struct DotSet {
    /// `prefix[origin index]`: dots 1..=prefix of that origin are in.
    prefix: Vec<u64>,
    above: BTreeSet<Dot>,
}

impl DotSet {
    /// An empty set.
    pub fn new() -> DotSet {
        DotSet::default()
    }

    /// True if `dot` is in the set.
    pub fn contains(&self, dot: Dot) -> bool {
        self.prefix.get(dot.origin.index()).is_some_and(|&prefix| dot.seq <= prefix) || self.above.contains(&dot)
    }

    /// The highest seq `s` of `origin` such that every dot `(origin, 1..=s)`
    /// is in the set.
    pub fn prefix(&self, origin: ProcessId) -> u64 {
        self.prefix.get(origin.index()).copied().unwrap_or(0)
    }

    /// Adds `dot`; false if it was there.
    pub fn insert(&mut self, dot: Dot) -> bool {
        let index = dot.origin.index();
        if self.prefix.len() <= index {
            self.prefix.resize(index + 1, 0);
        }
        let prefix = &mut self.prefix[index];
        if dot.seq <= *prefix {
            return false;
        }
        if dot.seq != *prefix + 1 {
            return self.above.insert(dot);
        }
        *prefix = dot.seq;
        while self.above.remove(&Dot { origin: dot.origin, seq: *prefix + 1 }) {
            *prefix += 1;
        }
        true
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
}
