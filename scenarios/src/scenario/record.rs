//! What one (point, seed) run leaves behind: its `runs.csv` rows and the
//! totals the per-point summary is made of. A record is all a sweep keeps
//! of a run, so a resumed sweep (records read back from disk) and an
//! uninterrupted one (records kept in memory) write the same bytes.

use super::Scenario;
use crate::output;
use serde::{Deserialize, Serialize};
use sim_core::RunReport;
use sim_core::verdict::{OUTCOME_COLUMNS, OutcomeColumn, Outcomes};

/// One finished run of a sweep.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunRecord {
    /// Index of the point in [`Scenario::points`].
    pub point: usize,
    /// The root seed used.
    pub seed: u64,
    /// Its `runs.csv` rows (columns of [`POINT_COLUMNS`] then
    /// [`output::csv_header`]): one per client region, then `all`.
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

/// A run's outcome counts, one per [`OutcomeColumn`]. In a journal it is
/// an object keyed by column name (missing keys read as 0, unknown ones
/// are ignored), as the field-per-count struct it replaced wrote it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct OutcomeTotals {
    counts: [u64; OUTCOME_COLUMNS],
}

impl OutcomeTotals {
    /// The counts of `outcomes`.
    pub fn of(outcomes: &Outcomes) -> OutcomeTotals {
        OutcomeTotals { counts: OutcomeColumn::ALL.map(|column| outcomes.column(column)) }
    }

    /// The count of `column` (an [`OutcomeKind`](sim_core::verdict::OutcomeKind) or Blocked).
    pub fn count(&self, column: impl Into<OutcomeColumn>) -> u64 {
        self.counts[column.into().index()]
    }

    /// The counter of `column`.
    pub fn count_mut(&mut self, column: impl Into<OutcomeColumn>) -> &mut u64 {
        &mut self.counts[column.into().index()]
    }

    /// Adds `other`'s counts.
    pub fn add(&mut self, other: &OutcomeTotals) {
        for (count, other) in self.counts.iter_mut().zip(other.counts) {
            *count += other;
        }
    }

    /// True if every count is 0.
    pub fn is_empty(&self) -> bool {
        *self == OutcomeTotals::default()
    }
}

impl Serialize for OutcomeTotals {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = serializer.serialize_map(Some(OUTCOME_COLUMNS))?;
        for column in OutcomeColumn::ALL {
            map.serialize_entry(column.name(), &self.count(column))?;
        }
        map.end()
    }
}

impl<'de> Deserialize<'de> for OutcomeTotals {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let by_name = std::collections::BTreeMap::<String, u64>::deserialize(deserializer)?;
        let mut totals = OutcomeTotals::default();
        for column in OutcomeColumn::ALL {
            *totals.count_mut(column) = by_name.get(column.name()).copied().unwrap_or(0);
        }
        Ok(totals)
    }
}

/// Columns put in front of [`output::csv_header`] in `runs.csv`: the sweep
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
