//! What runs with faults observe beyond the usual summaries: latency over
//! time per client region, each region's longest period without a
//! completion, client retries, dropped and duplicated messages, and the
//! commands that never completed.

use crate::command::CommandId;
use crate::time::Time;

/// One window of a region's latency timeline: the commands that completed
/// in `[start_ns, start_ns + width)`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TimelineWindow {
    /// Start of the window.
    pub start_ns: u64,
    /// Commands completed in it.
    pub count: u64,
    /// Median latency of those commands (exact, nearest rank); 0 if none.
    pub p50_ns: u64,
    /// 99th percentile (exact, nearest rank); 0 if none.
    pub p99_ns: u64,
}

/// A client region under faults.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RegionFaultReport {
    /// The region's name.
    pub region: String,
    /// Latency per window, from time 0 to the end of the run, empty
    /// windows included (they are the unavailability).
    pub timeline: Vec<TimelineWindow>,
    /// The longest period with no completion in the region: between two
    /// completions, from the start to the first, or from the last to the
    /// end of the run if a client of the region was still waiting.
    pub unavailable_ns: u64,
    /// When that period started.
    pub unavailable_from_ns: u64,
}

/// What the faults of a run did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FaultReport {
    /// The schedule run, one fault per line (drawn faults included).
    pub schedule: Vec<String>,
    /// Width of the timeline's windows.
    pub window_ns: u64,
    /// Per client region, in the configured order.
    pub regions: Vec<RegionFaultReport>,
    /// Client resubmissions after a timeout.
    pub retries: u64,
    /// Messages dropped (partitions, loss, arrival at a crashed process).
    pub messages_dropped: u64,
    /// Extra copies delivered by duplication.
    pub messages_duplicated: u64,
    /// Crashed processes that came back (restarts).
    pub restarts: u64,
    /// Re-executions of retried commands the client tables suppressed.
    pub duplicates_suppressed: u64,
    /// Commands that never completed.
    pub stuck_count: u64,
    /// The first stuck commands, by id (at most [`STUCK_LISTED`]).
    pub stuck: Vec<CommandId>,
}

/// Most stuck commands a report lists.
pub const STUCK_LISTED: usize = 10;

/// Collects what a run with faults observes, as it happens.
#[derive(Clone, Debug)]
pub struct FaultObserver {
    window_ns: u64,
    /// Per client region: (completion time, latency), in completion order.
    completions: Vec<Vec<(u64, u64)>>,
    /// Client resubmissions.
    pub retries: u64,
    /// Messages dropped.
    pub messages_dropped: u64,
    /// Extra copies delivered.
    pub messages_duplicated: u64,
    /// Crashed processes that came back.
    pub restarts: u64,
}

impl FaultObserver {
    /// An observer of `regions` client regions with windows `window_ns`
    /// wide.
    pub fn new(regions: usize, window_ns: u64) -> FaultObserver {
        FaultObserver {
            window_ns: window_ns.max(1),
            completions: vec![Vec::new(); regions],
            retries: 0,
            messages_dropped: 0,
            messages_duplicated: 0,
            restarts: 0,
        }
    }

    /// Width of the timeline's windows.
    pub fn window_ns(&self) -> u64 {
        self.window_ns
    }

    /// A command of a client of region `slot` completed at `now` after
    /// `latency_ns`.
    pub fn completed(&mut self, slot: usize, now: Time, latency_ns: u64) {
        self.completions[slot].push((now.as_ns(), latency_ns));
    }

    /// The timeline and longest unavailability of region `slot`, for a run
    /// that ended at `end`; `waiting`: a client of the region had not
    /// finished.
    pub fn region(&self, slot: usize, name: &str, end: Time, waiting: bool) -> RegionFaultReport {
        let completions = &self.completions[slot];
        let windows = end.as_ns() / self.window_ns + 1;
        let mut timeline = Vec::with_capacity(usize::try_from(windows).unwrap_or(0));
        let mut next = 0;
        let mut latencies = Vec::new();
        for window in 0..windows {
            let start_ns = window * self.window_ns;
            latencies.clear();
            while next < completions.len() && completions[next].0 < start_ns + self.window_ns {
                latencies.push(completions[next].1);
                next += 1;
            }
            latencies.sort_unstable();
            timeline.push(TimelineWindow {
                start_ns,
                count: latencies.len() as u64,
                p50_ns: nearest_rank(&latencies, 50),
                p99_ns: nearest_rank(&latencies, 99),
            });
        }
        let mut marks: Vec<u64> = std::iter::once(0).chain(completions.iter().map(|c| c.0)).collect();
        if waiting {
            marks.push(end.as_ns());
        }
        let (unavailable_ns, unavailable_from_ns) = marks
            .windows(2)
            .map(|pair| (pair[1] - pair[0], pair[0]))
            .max_by_key(|&(gap, from)| (gap, u64::MAX - from))
            .unwrap_or((0, 0));
        RegionFaultReport { region: name.to_string(), timeline, unavailable_ns, unavailable_from_ns }
    }
}

/// The `percent`-th percentile of sorted `values` by nearest rank; 0 if
/// empty.
fn nearest_rank(sorted: &[u64], percent: u64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = (sorted.len() as u64 * percent).div_ceil(100).max(1);
    sorted[usize::try_from(rank - 1).unwrap_or(0)]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeline_windows_and_the_longest_gap() {
        let mut observer = FaultObserver::new(1, 100);
        for (at, latency) in [(10, 5), (20, 7), (90, 9), (350, 300), (360, 10)] {
            observer.completed(0, Time::from_ns(at), latency);
        }
        let report = observer.region(0, "r", Time::from_ns(420), false);
        let counts: Vec<u64> = report.timeline.iter().map(|w| w.count).collect();
        assert_eq!(counts, [3, 0, 0, 2, 0]);
        assert_eq!((report.timeline[0].p50_ns, report.timeline[0].p99_ns), (7, 9));
        assert_eq!((report.timeline[3].p50_ns, report.timeline[3].p99_ns), (10, 300));
        assert_eq!((report.unavailable_ns, report.unavailable_from_ns), (260, 90));
        let waiting = observer.region(0, "r", Time::from_ns(1_000), true);
        assert_eq!((waiting.unavailable_ns, waiting.unavailable_from_ns), (640, 360), "a client still waits");
    }
}
