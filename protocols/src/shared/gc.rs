//! Garbage collection of per-command state in leaderless protocols
//! (tempo.md §12, atlas.md §10, epaxos.md §8).
//!
//! Each process keeps the dots it has committed; periodically it sends its
//! *frontier*: per origin, the highest seq below which it has committed
//! every dot. A dot every process has reported committed is stable: no
//! process will ever need its per-command state again, so it is deleted.
//! This needs every process alive (not fault-tolerant, as in fantoch).

use super::dot::{Dot, DotSet};
use sim_core::ProcessId;
use std::ops::RangeInclusive;

/// Which dots every process has committed.
#[derive(Clone, Debug)]
pub struct GcTracker {
    /// Dots this process committed.
    committed: DotSet,
    /// `reported[p][o]`: process `p + 1` committed every dot of origin
    /// `o + 1` up to this seq.
    reported: Vec<Vec<u64>>,
    /// Per origin, the seq up to which dots are stable (already returned).
    stable: Vec<u64>,
}

impl GcTracker {
    /// A tracker for a shard of `n` processes with ids 1..=n.
    pub fn new(n: usize) -> GcTracker {
        GcTracker { committed: DotSet::new(), reported: vec![vec![0; n]; n], stable: vec![0; n] }
    }

    /// This process committed `dot`.
    pub fn committed(&mut self, dot: Dot) {
        self.committed.insert(dot);
    }

    /// This process's frontier, to send to the others.
    pub fn frontier(&self) -> Vec<u64> {
        (0..self.stable.len()).map(|origin| self.committed.prefix(ProcessId::from_index(origin))).collect()
    }

    /// `from` reported `frontier` (this process reports its own too).
    /// Calls `collect` for every dot that became stable, in dot order.
    pub fn report(&mut self, from: ProcessId, frontier: &[u64], mut collect: impl FnMut(Dot)) {
        self.report_ranges(from, frontier, |origin, seqs| {
            for seq in seqs {
                collect(Dot { origin, seq });
            }
        });
    }

    /// [`GcTracker::report`] by runs: calls `collect(origin, seqs)` once
    /// per origin whose dots `seqs` became stable, in origin order, so a
    /// caller that frees per-origin logs from the front does it in one
    /// step rather than one call per dot.
    pub fn report_ranges(
        &mut self,
        from: ProcessId,
        frontier: &[u64],
        mut collect: impl FnMut(ProcessId, RangeInclusive<u64>),
    ) {
        let index = from.index();
        for (origin, &reported) in frontier.iter().enumerate().take(self.stable.len()) {
            let known = self.reported[index][origin];
            if reported <= known {
                continue; // this origin's minimum cannot have moved
            }
            self.reported[index][origin] = reported;
            if known > self.stable[origin] {
                continue; // another process holds the minimum, which stays
            }
            let stable = self.reported.iter().map(|frontier| frontier[origin]).min().unwrap_or(0);
            if stable > self.stable[origin] {
                collect(ProcessId::from_index(origin), self.stable[origin] + 1..=stable);
                self.stable[origin] = stable;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dot_is_collected_once_every_process_committed_it() {
        let mut tracker = GcTracker::new(3);
        let mut collected = Vec::new();
        for seq in 1..=3 {
            tracker.committed(Dot::new(1, seq));
        }
        tracker.committed(Dot::new(2, 2)); // (2,1) missing: frontier of origin 2 stays 0
        assert_eq!(tracker.frontier(), vec![3, 0, 0]);
        tracker.report(ProcessId(1), &tracker.frontier(), |dot| collected.push(dot));
        tracker.report(ProcessId(2), &[2, 5, 0], |dot| collected.push(dot));
        assert!(collected.is_empty(), "process 3 has not reported");
        tracker.report(ProcessId(3), &[1, 0, 0], |dot| collected.push(dot));
        assert_eq!(collected, vec![Dot::new(1, 1)]);
        tracker.report(ProcessId(3), &[9, 9, 9], |dot| collected.push(dot));
        assert_eq!(collected, vec![Dot::new(1, 1), Dot::new(1, 2)], "bounded by process 2's report");
        tracker.committed(Dot::new(2, 1));
        tracker.report(ProcessId(1), &tracker.frontier(), |dot| collected.push(dot));
        assert_eq!(collected.len(), 4, "then (2,1) and (2,2): {collected:?}");
    }
}
