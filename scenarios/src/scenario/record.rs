//! What one (point, seed) run leaves behind: its `runs.csv` rows and the
//! totals the per-point summary is made of. A record is all a sweep keeps
//! of a run, so a resumed sweep (records read back from disk) and an
//! uninterrupted one (records kept in memory) write the same bytes.

use super::Scenario;
use crate::output;
use serde::{Deserialize, Serialize};
use sim_core::RunReport;

/// One finished run of a sweep.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunRecord {
    /// Index of the point in [`Scenario::points`].
    pub point: usize,
    /// The root seed used.
    pub seed: u64,
    /// Its `runs.csv` rows (columns of [`POINT_COLUMNS`] then
    /// [`output::CSV_HEADER`]): one per client region, then `all`.
    pub rows: Vec<Vec<String>>,
    /// The `all` row's numbers, for the per-point summary.
    pub totals: RunTotals,
    /// All clients together: the latency at each of
    /// [`DISTRIBUTION_QUANTILES`](sim_core::metrics::DISTRIBUTION_QUANTILES),
    /// ns (empty if no command completed), for `latency-cdf.csv`.
    pub quantiles_ns: Vec<u64>,
    /// With the CPU and NIC model on: its `resources.csv` rows (`point`,
    /// `seed`, then [`resources::CSV_HEADER`](crate::resources::CSV_HEADER)),
    /// one per process; empty (and absent from the journal) otherwise.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resource_rows: Vec<Vec<String>>,
    /// `timeline.csv` rows (point, seed, then
    /// [`output::TIMELINE_HEADER`]); empty without faults.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub timeline: Vec<Vec<String>>,
    /// `faults.csv` rows (point, seed, then [`output::FAULTS_HEADER`]);
    /// empty without faults.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub faults: Vec<Vec<String>>,
}

/// The numbers of one run that the per-point summary aggregates; integers,
/// so the summary is the same on every platform.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunTotals {
    /// Commands whose latency counts (every completed one, or those
    /// submitted after the warm-up of a duration run).
    pub commands: u64,
    /// Mean latency, ns.
    pub latency_ns_mean: u64,
    /// Median latency, ns.
    pub latency_ns_p50: u64,
    /// 95th percentile, ns.
    pub latency_ns_p95: u64,
    /// 99th percentile, ns.
    pub latency_ns_p99: u64,
    /// 99.9th percentile, ns.
    pub latency_ns_p99_9: u64,
    /// Largest latency, ns.
    pub latency_ns_max: u64,
    /// Completed commands per simulated second, in thousandths.
    pub throughput_milli_ops_per_s: u64,
    /// Fast paths over decided paths in millionths; `None` for protocols
    /// without a fast path.
    pub fast_path_ppm: Option<u64>,
    /// Messages between processes per command, in thousandths.
    pub messages_per_command_milli: u64,
    /// The run passed its verdict.
    pub passed: bool,
    /// In a run with faults: the longest period any client region went
    /// without a completion, ns; `None` without faults.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unavailable_ns_max: Option<u64>,
    /// What the run did to clients' data (outcome events).
    #[serde(default)]
    pub outcomes: OutcomeTotals,
}

/// A run's outcome counts (`sim_core::verdict::outcomes`) and the promise
/// it was judged by.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutcomeTotals {
    /// Acknowledged writes lost.
    pub acked_writes_lost: u64,
    /// Reads that missed an earlier acknowledged write.
    pub stale_reads: u64,
    /// Extra acknowledged writes at forks.
    pub divergent_acks: u64,
    /// Forks acknowledged on both sides at once.
    pub split_brains: u64,
    /// Acknowledged writes a surviving replica executed and no longer
    /// reflects (RolledBack{was_acked=true}).
    #[serde(default)]
    pub rolled_back_acked: u64,
    /// The same for writes never acknowledged.
    #[serde(default)]
    pub rolled_back_unacked: u64,
    /// Unanswered writes that took effect.
    #[serde(default)]
    pub ghost_writes: u64,
    /// Commands a replica executed twice.
    #[serde(default)]
    pub duplicate_applies: u64,
    /// Writes standing at one survivor that another went past.
    #[serde(default)]
    pub atomicity_violations: u64,
    /// Commands that never completed while nothing later on their keys
    /// did.
    pub blocked: u64,
    /// Commands that never completed while later ones on their keys did.
    #[serde(default)]
    pub starved: u64,
}

impl OutcomeTotals {
    /// The counts of `outcomes`.
    pub fn of(outcomes: &sim_core::verdict::Outcomes) -> OutcomeTotals {
        OutcomeTotals {
            acked_writes_lost: outcomes.acked_writes_lost,
            stale_reads: outcomes.stale_reads,
            divergent_acks: outcomes.divergent_acks,
            split_brains: outcomes.split_brains,
            rolled_back_acked: outcomes.rolled_back_acked,
            rolled_back_unacked: outcomes.rolled_back_unacked,
            ghost_writes: outcomes.ghost_writes,
            duplicate_applies: outcomes.duplicate_applies,
            atomicity_violations: outcomes.atomicity_violations,
            blocked: outcomes.blocked,
            starved: outcomes.starved,
        }
    }

    /// Adds `other`'s counts.
    pub fn add(&mut self, other: &OutcomeTotals) {
        self.acked_writes_lost += other.acked_writes_lost;
        self.stale_reads += other.stale_reads;
        self.divergent_acks += other.divergent_acks;
        self.split_brains += other.split_brains;
        self.rolled_back_acked += other.rolled_back_acked;
        self.rolled_back_unacked += other.rolled_back_unacked;
        self.ghost_writes += other.ghost_writes;
        self.duplicate_applies += other.duplicate_applies;
        self.atomicity_violations += other.atomicity_violations;
        self.blocked += other.blocked;
        self.starved += other.starved;
    }

    /// True if every count is 0.
    pub fn is_empty(&self) -> bool {
        *self == OutcomeTotals::default()
    }
}

/// Columns put in front of [`output::CSV_HEADER`] in `runs.csv`: the sweep
/// point and the axis values not already among the run's columns.
pub const POINT_COLUMNS: [&str; 9] = [
    "point",
    "placement",
    "conflict_percent",
    "clients_per_region",
    "arrival_rate_per_region",
    "faults",
    "commands_per_client",
    "duration_s",
    "warmup_s",
];

impl RunRecord {
    /// The record of `point` (an index into `scenario.points`) run with
    /// `seed`.
    pub fn new(scenario: &Scenario, point: usize, seed: u64, report: &RunReport) -> RunRecord {
        let point_ref = &scenario.points[point];
        let mut run = point_ref.run.clone();
        run.config.seed = seed;
        let [commands_per_client, duration_s, warmup_s] = output::run_length_columns(&run.config);
        let front = [
            point_ref.index.to_string(),
            (point_ref.placement + 1).to_string(),
            point_ref.conflict_percent.to_string(),
            point_ref.clients_per_region.to_string(),
            output::optional(point_ref.arrival_rate_per_region),
            output::faults_column(point_ref.with_faults),
            commands_per_client,
            duration_s,
            warmup_s,
        ];
        let rows =
            output::csv_records(&run, report).into_iter().map(|record| front.iter().cloned().chain(record).collect());
        let total = &report.total;
        let prefixed = |rows: Vec<Vec<String>>| -> Vec<Vec<String>> {
            rows.into_iter()
                .map(|row| [point_ref.index.to_string(), seed.to_string()].into_iter().chain(row).collect())
                .collect()
        };
        RunRecord {
            point,
            seed,
            rows: rows.collect(),
            timeline: prefixed(output::timeline_rows(report)),
            faults: prefixed(output::fault_rows(report)),
            totals: RunTotals {
                commands: total.count,
                latency_ns_mean: total.mean_ns,
                latency_ns_p50: total.p50_ns,
                latency_ns_p95: total.p95_ns,
                latency_ns_p99: total.p99_ns,
                latency_ns_p99_9: total.p99_9_ns,
                latency_ns_max: total.max_ns,
                throughput_milli_ops_per_s: report.throughput_milli_ops_per_s(),
                fast_path_ppm: report.protocol.fast_path_ratio_ppm(),
                messages_per_command_milli: report.messages_per_command_milli(),
                passed: report.verdict.passed(),
                unavailable_ns_max: report
                    .faults
                    .as_ref()
                    .map(|faults| faults.regions.iter().map(|r| r.unavailable_ns).max().unwrap_or(0)),
                outcomes: OutcomeTotals::of(&report.verdict.outcomes),
            },
            quantiles_ns: report.total_quantiles_ns.clone(),
            resource_rows: crate::resources::csv_records(report)
                .into_iter()
                .map(|row| [point_ref.index.to_string(), seed.to_string()].into_iter().chain(row).collect())
                .collect(),
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A passing record of `point` and `seed` with made-up totals and no
    /// rows, for tests of what is built from records.
    pub(crate) fn sample_record(point: usize, seed: u64) -> RunRecord {
        RunRecord {
            point,
            seed,
            rows: Vec::new(),
            totals: RunTotals {
                commands: 10,
                latency_ns_mean: 1_000,
                latency_ns_p50: 1_000,
                latency_ns_p95: 1_000,
                latency_ns_p99: 1_000,
                latency_ns_p99_9: 1_000,
                latency_ns_max: 1_000,
                throughput_milli_ops_per_s: 1_000,
                fast_path_ppm: None,
                messages_per_command_milli: 1_000,
                passed: true,
                unavailable_ns_max: None,
                outcomes: OutcomeTotals::default(),
            },
            quantiles_ns: Vec::new(),
            resource_rows: Vec::new(),
            timeline: Vec::new(),
            faults: Vec::new(),
        }
    }
}
