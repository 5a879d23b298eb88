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
            count: 0,
            sum_ns: 0,
            min_ns: u64::MAX,
            max_ns: 0,
        }
    }
}

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
    pub fn record(&mut self, latency_ns: u64) {
        self.histogram.saturating_record(latency_ns.clamp(1, HISTOGRAM_MAX_NS));
        self.count += 1;
        self.sum_ns += u128::from(latency_ns);
        self.min_ns = self.min_ns.min(latency_ns);
        self.max_ns = self.max_ns.max(latency_ns);
    }

    /// Adds every sample of `other`.
    pub fn merge(&mut self, other: &LatencyRecorder) {
        self.histogram.add(&other.histogram).expect("histograms with equal bounds");
        self.count += other.count;
        self.sum_ns += other.sum_ns;
        self.min_ns = self.min_ns.min(other.min_ns);
        self.max_ns = self.max_ns.max(other.max_ns);
    }

    /// The summary; all zero if nothing was recorded.
    pub fn summary(&self) -> LatencySummary {
        if self.count == 0 {
            return LatencySummary::default();
        }
        let quantile = |q: f64| self.histogram.value_at_quantile(q).clamp(self.min_ns, self.max_ns);
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

#[cfg(test)]
mod tests {
    use super::*;

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
    fn merge_adds_samples() {
        let (mut a, mut b) = (LatencyRecorder::new(), LatencyRecorder::new());
        a.record(10);
        b.record(30);
        a.merge(&b);
        assert_eq!(a.summary().mean_ns, 20);
        assert_eq!(LatencyRecorder::new().summary(), LatencySummary::default());
    }
}
