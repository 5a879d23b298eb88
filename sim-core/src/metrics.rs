//! Latency recording and summaries.
//!
//! Percentiles come from an HDR histogram (3 significant digits: a
//! reported percentile is within 0.1% of the true value). The mean, minimum
//! and maximum are exact: they are kept beside the histogram in integer
//! nanoseconds, so a latency formula can be checked to the nanosecond.

use hdrhistogram::Histogram;

/// Records latencies in nanoseconds.
#[derive(Clone, Debug)]
pub struct LatencyRecorder {
    histogram: Histogram<u64>,
    /// Zero samples, kept out of `histogram` (which records them as 1 ns)
    /// until a summary: most execution waits are zero, and counting them
    /// is much cheaper than a histogram record.
    zeros: u64,
    count: u64,
    sum_ns: u128,
    min_ns: u64,
    max_ns: u64,
}

/// Highest latency the histogram resolves (one hour); larger values are
/// clamped into the top bucket but still count exactly in mean and max.
const HISTOGRAM_MAX_NS: u64 = 3_600 * crate::time::NS_PER_S;

impl Default for LatencyRecorder {
    fn default() -> Self {
        LatencyRecorder {
            histogram: Histogram::new_with_bounds(1, HISTOGRAM_MAX_NS, 3).expect("valid histogram bounds"),
            zeros: 0,
            count: 0,
            sum_ns: 0,
            min_ns: u64::MAX,
            max_ns: 0,
        }
    }
}

/// Quantiles at which a run's latency distribution is reported
/// ([`LatencyRecorder::quantiles_ns`]), for CDFs: the minimum (0), a
/// log-like grid into both tails, steps of 5% in between, the maximum (1).
pub const DISTRIBUTION_QUANTILES: [f64; 33] = [
    0.0, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5, 0.55, 0.6, 0.65, 0.7,
    0.75, 0.8, 0.85, 0.9, 0.95, 0.98, 0.99, 0.995, 0.998, 0.999, 0.9995, 0.9999, 1.0,
];

/// Summary statistics of recorded latencies, in nanoseconds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LatencySummary {
    /// Number of samples.
    pub count: u64,
    /// Exact mean, rounded down to the nanosecond.
    pub mean_ns: u64,
    /// Exact minimum.
    pub min_ns: u64,
    /// Median (histogram).
    pub p50_ns: u64,
    /// 95th percentile (histogram).
    pub p95_ns: u64,
    /// 99th percentile (histogram).
    pub p99_ns: u64,
    /// 99.9th percentile (histogram).
    pub p99_9_ns: u64,
    /// Exact maximum.
    pub max_ns: u64,
}

impl LatencyRecorder {
    /// An empty recorder.
    pub fn new() -> LatencyRecorder {
        LatencyRecorder::default()
    }

    /// Records one latency.
    #[inline]
    pub fn record(&mut self, latency_ns: u64) {
        if latency_ns == 0 {
            self.zeros += 1;
        } else {
            self.histogram.saturating_record(latency_ns.min(HISTOGRAM_MAX_NS));
        }
        self.count += 1;
        self.sum_ns += u128::from(latency_ns);
        self.min_ns = self.min_ns.min(latency_ns);
        self.max_ns = self.max_ns.max(latency_ns);
    }

    /// Adds every sample of `other`.
    pub fn merge(&mut self, other: &LatencyRecorder) {
        self.histogram.add(&other.histogram).expect("histograms with equal bounds");
        self.zeros += other.zeros;
        self.count += other.count;
        self.sum_ns += other.sum_ns;
        self.min_ns = self.min_ns.min(other.min_ns);
        self.max_ns = self.max_ns.max(other.max_ns);
    }

    /// Every sample, zeros recorded as 1 ns (the histogram's lowest
    /// value; summaries clamp to the exact minimum).
    pub fn histogram(&self) -> std::borrow::Cow<'_, Histogram<u64>> {
        if self.zeros == 0 {
            return std::borrow::Cow::Borrowed(&self.histogram);
        }
        let mut histogram = self.histogram.clone();
        histogram.saturating_record_n(1, self.zeros);
        std::borrow::Cow::Owned(histogram)
    }

    /// The latency at quantile `q` (0 to 1) of `histogram`, this
    /// recorder's [`histogram`](Self::histogram): never outside the exact
    /// minimum and maximum (so 0 and 1 give them exactly).
    fn quantile_in(&self, histogram: &Histogram<u64>, q: f64) -> u64 {
        // The rank hdrhistogram looks for; zeros are the lowest ranks.
        let rank = ((q * self.count as f64).ceil() as u64).max(1);
        if rank <= self.zeros { 0 } else { histogram.value_at_quantile(q).clamp(self.min_ns, self.max_ns) }
    }

    /// The latencies at [`DISTRIBUTION_QUANTILES`]; empty if nothing was
    /// recorded.
    pub fn quantiles_ns(&self) -> Vec<u64> {
        if self.count == 0 {
            return Vec::new();
        }
        let histogram = self.histogram();
        DISTRIBUTION_QUANTILES.iter().map(|&q| self.quantile_in(&histogram, q)).collect()
    }

    /// The summary; all zero if nothing was recorded.
    pub fn summary(&self) -> LatencySummary {
        if self.count == 0 {
            return LatencySummary::default();
        }
        let histogram = self.histogram();
        let quantile = |q: f64| self.quantile_in(&histogram, q);
        LatencySummary {
            count: self.count,
            mean_ns: u64::try_from(self.sum_ns / u128::from(self.count)).expect("mean fits in u64"),
            min_ns: self.min_ns,
            p50_ns: quantile(0.50),
            p95_ns: quantile(0.95),
            p99_ns: quantile(0.99),
            p99_9_ns: quantile(0.999),
            max_ns: self.max_ns,
        }
    }
}

/// Records counts (dependency-set sizes and the like), zero included.
///
/// An HDR histogram cannot hold 0, so values are stored plus one.
#[derive(Clone, Debug, Default)]
pub struct CountRecorder {
    shifted: LatencyRecorder,
}

impl CountRecorder {
    /// An empty recorder.
    pub fn new() -> CountRecorder {
        CountRecorder::default()
    }

    /// Records one value.
    pub fn record(&mut self, value: u64) {
        self.shifted.record(value.saturating_add(1));
    }

    /// Adds every sample of `other`.
    pub fn merge(&mut self, other: &CountRecorder) {
        self.shifted.merge(&other.shifted);
    }

    /// The summary (same fields as latencies, in the recorded unit); all
    /// zero if nothing was recorded.
    pub fn summary(&self) -> LatencySummary {
        let s = self.shifted.summary();
        if s.count == 0 {
            return s;
        }
        let unshift = |v: u64| v - 1;
        LatencySummary {
            count: s.count,
            // The mean of shifted values is exact, so shifting back is too
            // (to the floor, like every mean here).
            mean_ns: unshift(s.mean_ns),
            min_ns: unshift(s.min_ns),
            p50_ns: unshift(s.p50_ns),
            p95_ns: unshift(s.p95_ns),
            p99_ns: unshift(s.p99_ns),
            p99_9_ns: unshift(s.p99_9_ns),
            max_ns: unshift(s.max_ns),
        }
    }

    /// Exact sum of recorded values.
    pub fn sum(&self) -> u128 {
        self.shifted.sum_ns - u128::from(self.shifted.count)
    }
}

/// What protocols and executors report about how they decided, beside the
/// client latencies the engine measures itself. Protocols record into the
/// [`Outbox`](crate::Outbox) they are handed, executors through
/// [`Apply`](crate::Apply); the engine sums over processes.
#[derive(Clone, Debug, Default)]
pub struct ProtocolMetrics {
    /// Commands a coordinator committed on its fast path.
    pub fast_paths: u64,
    /// Commands a coordinator committed on a slow (or retry) path.
    pub slow_paths: u64,
    /// At the coordinator, from receiving the command to knowing it
    /// committed.
    pub commit_latency: LatencyRecorder,
    /// At every replica, from a command's commit to its execution: the
    /// wait for dependencies, for stability (Tempo) or for earlier slots.
    pub execution_wait: LatencyRecorder,
    /// Size of each committed dependency or predecessor set, at its
    /// coordinator.
    pub dependencies: CountRecorder,
    /// Work units reported ([`Outbox::work`](crate::Outbox::work)), a
    /// running total the CPU model reads per step; not part of the summary.
    pub work_units: u64,
    /// Recovery counters (leader changes and the like).
    pub recovery: RecoveryCounts,
}

/// What protocols report about recovering from faults.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RecoveryCounts {
    /// A process became leader after the initial one (a leader change).
    pub leader_changes: u64,
    /// Recoveries started (an election, a command's recovery).
    pub recoveries_started: u64,
    /// Recoveries finished.
    pub recoveries_finished: u64,
}

impl RecoveryCounts {
    fn merge(&mut self, other: &RecoveryCounts) {
        self.leader_changes += other.leader_changes;
        self.recoveries_started += other.recoveries_started;
        self.recoveries_finished += other.recoveries_finished;
    }
}

impl ProtocolMetrics {
    /// Adds everything `other` recorded.
    pub fn merge(&mut self, other: &ProtocolMetrics) {
        self.fast_paths += other.fast_paths;
        self.slow_paths += other.slow_paths;
        self.commit_latency.merge(&other.commit_latency);
        self.execution_wait.merge(&other.execution_wait);
        self.dependencies.merge(&other.dependencies);
        self.work_units += other.work_units;
        self.recovery.merge(&other.recovery);
    }

    /// Summaries for a report.
    pub fn summary(&self) -> ProtocolSummary {
        ProtocolSummary {
            fast_paths: self.fast_paths,
            slow_paths: self.slow_paths,
            commit_latency: self.commit_latency.summary(),
            execution_wait: self.execution_wait.summary(),
            dependencies: self.dependencies.summary(),
            dependencies_sum: self.dependencies.sum(),
            recovery: self.recovery,
        }
    }
}

/// [`ProtocolMetrics`] summarised.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ProtocolSummary {
    /// Commands committed on the fast path.
    pub fast_paths: u64,
    /// Commands committed on a slow or retry path.
    pub slow_paths: u64,
    /// Coordinator's receive-to-commit latency.
    pub commit_latency: LatencySummary,
    /// Commit-to-execution wait at every replica.
    pub execution_wait: LatencySummary,
    /// Dependency-set sizes (the `_ns` fields hold counts).
    pub dependencies: LatencySummary,
    /// Exact sum of the dependency-set sizes.
    pub dependencies_sum: u128,
    /// Leader changes and recoveries.
    pub recovery: RecoveryCounts,
}

impl ProtocolSummary {
    /// Fast paths over all decided paths, in millionths (integer, so
    /// output is identical on every platform); `None` if no path was
    /// reported (protocols without one, like FPaxos).
    pub fn fast_path_ratio_ppm(&self) -> Option<u64> {
        let decided = self.fast_paths + self.slow_paths;
        (decided > 0).then(|| self.fast_paths * 1_000_000 / decided)
    }

    /// Mean dependency-set size in hundredths (exact, rounded down).
    pub fn dependencies_mean_centi(&self) -> u64 {
        u64::try_from(self.dependencies_sum * 100 / u128::from(self.dependencies.count.max(1))).unwrap_or(u64::MAX)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_samples_are_the_lowest_ranks() {
        let mut recorder = LatencyRecorder::new();
        for _ in 0..600 {
            recorder.record(0);
        }
        for _ in 0..400 {
            recorder.record(1_000_000);
        }
        let mut other = LatencyRecorder::new();
        other.record(0);
        recorder.merge(&other);
        let summary = recorder.summary();
        assert_eq!((summary.count, summary.min_ns, summary.p50_ns), (1_001, 0, 0));
        assert_eq!(summary.p95_ns, summary.max_ns);
        assert_eq!(summary.max_ns, 1_000_000);
        assert_eq!(recorder.histogram().len(), 1_001);
    }

    #[test]
    fn exact_mean_and_close_percentiles() {
        let mut recorder = LatencyRecorder::new();
        for ms in 1..=1_000u64 {
            recorder.record(ms * 1_000_000 + 1);
        }
        let summary = recorder.summary();
        assert_eq!(summary.count, 1_000);
        assert_eq!(summary.mean_ns, 500_500_001);
        assert_eq!(summary.min_ns, 1_000_001);
        assert_eq!(summary.max_ns, 1_000_000_001);
        let close = |actual: u64, expected: u64| (actual as f64 - expected as f64).abs() <= expected as f64 * 0.001;
        assert!(close(summary.p50_ns, 500_000_000), "{}", summary.p50_ns);
        assert!(close(summary.p99_ns, 990_000_000), "{}", summary.p99_ns);
        assert!(close(summary.p99_9_ns, 999_000_000), "{}", summary.p99_9_ns);
    }

    #[test]
    fn quantiles_span_the_exact_minimum_to_the_exact_maximum() {
        let mut recorder = LatencyRecorder::new();
        assert!(recorder.quantiles_ns().is_empty());
        for ms in 1..=1_000u64 {
            recorder.record(ms * 1_000_000 + 1);
        }
        let quantiles = recorder.quantiles_ns();
        assert_eq!(quantiles.len(), DISTRIBUTION_QUANTILES.len());
        assert_eq!(quantiles[0], 1_000_001);
        assert_eq!(*quantiles.last().unwrap(), 1_000_000_001);
        assert!(quantiles.windows(2).all(|pair| pair[0] <= pair[1]), "{quantiles:?}");
        let median = DISTRIBUTION_QUANTILES.iter().position(|&q| q == 0.5).unwrap();
        assert_eq!(quantiles[median], recorder.summary().p50_ns);
        assert!(DISTRIBUTION_QUANTILES.windows(2).all(|pair| pair[0] < pair[1]));

        // Zeros, kept beside the histogram, are the lowest quantiles.
        let mut recorder = LatencyRecorder::new();
        for latency_ns in [0, 0, 10_000] {
            recorder.record(latency_ns);
        }
        let quantiles = recorder.quantiles_ns();
        assert_eq!((quantiles[0], quantiles[median], *quantiles.last().unwrap()), (0, 0, 10_000));
    }

    #[test]
    fn merge_adds_samples() {
        let (mut a, mut b) = (LatencyRecorder::new(), LatencyRecorder::new());
        a.record(10);
        b.record(30);
        a.merge(&b);
        assert_eq!(a.summary().mean_ns, 20);
        assert_eq!(LatencyRecorder::new().summary(), LatencySummary::default());
    }

    #[test]
    fn counts_include_zero() {
        let mut recorder = CountRecorder::new();
        for value in [0, 0, 0, 4] {
            recorder.record(value);
        }
        let summary = recorder.summary();
        assert_eq!((summary.count, summary.min_ns, summary.p50_ns, summary.max_ns, summary.mean_ns), (4, 0, 0, 4, 1));
        assert_eq!(recorder.sum(), 4);
        assert_eq!(CountRecorder::new().summary(), LatencySummary::default());
    }

    #[test]
    fn fast_path_ratio() {
        let mut metrics = ProtocolMetrics::default();
        assert_eq!(metrics.summary().fast_path_ratio_ppm(), None);
        metrics.fast_paths = 3;
        metrics.slow_paths = 1;
        assert_eq!(metrics.summary().fast_path_ratio_ppm(), Some(750_000));
    }
}
