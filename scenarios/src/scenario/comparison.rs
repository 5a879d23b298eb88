//! The protocol comparison of a scenario run with and without its faults
//! (`with_faults = [false, true]`): per protocol (and f), the failure-free
//! latency at the lightest load, the failure-free peak throughput over the
//! load points that answered every command (a load where some command
//! starved or blocked is past what the protocol sustains: its window's
//! throughput is a transient while clients pile up on the hot keys; the
//! lightest such load is reported beside the peak), how long the worst client region went without a
//! completion when the faults struck, and how many acknowledged writes
//! they lost or forked (divergent acknowledgements). `comparison.csv` and
//! a table.

use super::results::PointSummary;
use sim_core::time::format_ns_as_ms;
use sim_core::verdict::{OutcomeColumn, OutcomeKind};

/// One protocol (and f) of the comparison.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ComparisonRow {
    /// The protocol's name.
    pub protocol: &'static str,
    /// f, for protocols that use it.
    pub f: Option<usize>,
    /// Failure-free, at the lightest load: mean over seeds of the median
    /// latency, ns.
    pub latency_ns_p50: u64,
    /// Failure-free, at the lightest load: mean over seeds of the p99, ns.
    pub latency_ns_p99: u64,
    /// Failure-free: the largest throughput of a load point whose runs
    /// answered every command, thousandths of ops/s; `None` if none did.
    pub peak_throughput_milli_ops_per_s: Option<u64>,
    /// The load of that point (clients, or commands per second, per client
    /// region).
    pub peak_load_per_region: Option<u64>,
    /// Failure-free: the lightest load whose runs left commands unanswered
    /// (starved or blocked), and how many, summed over seeds.
    pub unanswered_from: Option<(u64, u64)>,
    /// With the faults, at the lightest load: mean over seeds of the
    /// longest period the worst client region went without a completion,
    /// ns.
    pub unavailable_ns: Option<u64>,
    /// With the faults, at the lightest load: acknowledged writes lost,
    /// summed over seeds (outcome events).
    pub acked_writes_lost: u64,
    /// With the faults, at the lightest load: extra acknowledged writes at
    /// forks (DivergentAck), summed over seeds.
    pub divergent_acks: u64,
}

/// `comparison.csv` columns.
pub const COMPARISON_HEADER: [&str; 11] = [
    "protocol",
    "f",
    "latency_ms_p50",
    "latency_ms_p99",
    "peak_throughput_ops_per_s",
    "peak_load_per_region",
    "unanswered_from_load_per_region",
    "unanswered_commands",
    "unavailable_ms",
    "acked_writes_lost",
    "divergent_acks",
];

/// The comparison, in the order the sweep lists the protocols; empty
/// unless the sweep ran points both without and with faults.
pub fn compare(summaries: &[PointSummary<'_>]) -> Vec<ComparisonRow> {
    let variant = |with: bool| summaries.iter().filter(move |s| s.point.with_faults == Some(with));
    if variant(false).next().is_none() || variant(true).next().is_none() {
        return Vec::new();
    }
    let series = |s: &PointSummary<'_>| {
        let run = &s.point.run;
        (run.protocol.as_str(), run.protocol.uses_f().then_some(run.config.protocol.f))
    };
    let load = |s: &PointSummary<'_>| s.point.arrival_rate_per_region.unwrap_or(u64::from(s.point.clients_per_region));
    let unanswered =
        |s: &PointSummary<'_>| s.outcomes.count(OutcomeColumn::Blocked) + s.outcomes.count(OutcomeColumn::Starved);
    let mut rows: Vec<ComparisonRow> = Vec::new();
    for (protocol, f) in summaries.iter().map(series) {
        if rows.iter().any(|r| (r.protocol, r.f) == (protocol, f)) {
            continue;
        }
        let of = |with: bool| variant(with).filter(move |s| series(s) == (protocol, f));
        let Some(lightest) = of(false).min_by_key(|s| load(s)) else { continue };
        let faulty = of(true).min_by_key(|s| load(s));
        let peak = of(false).filter(|s| unanswered(s) == 0).max_by_key(|s| (s.throughput_milli_ops_per_s, load(s)));
        let unanswered_from = of(false).filter(|s| unanswered(s) > 0).min_by_key(|s| load(s));
        rows.push(ComparisonRow {
            protocol,
            f,
            latency_ns_p50: lightest.latency_ns_p50,
            latency_ns_p99: lightest.latency_ns_p99,
            peak_throughput_milli_ops_per_s: peak.map(|s| s.throughput_milli_ops_per_s),
            peak_load_per_region: peak.map(load),
            unanswered_from: unanswered_from.map(|s| (load(s), unanswered(s))),
            unavailable_ns: faulty.and_then(|s| s.unavailable_ns_max),
            acked_writes_lost: faulty.map_or(0, |s| s.outcomes.count(OutcomeKind::AckedWriteLost)),
            divergent_acks: faulty.map_or(0, |s| s.outcomes.count(OutcomeKind::DivergentAck)),
        });
    }
    rows
}

fn ops_per_s(milli: u64) -> String {
    format!("{}.{:03}", milli / 1_000, milli % 1_000)
}

/// `comparison.csv`.
pub fn comparison_csv(rows: &[ComparisonRow]) -> Result<Vec<u8>, csv::Error> {
    let mut writer = csv::Writer::from_writer(Vec::new());
    writer.write_record(COMPARISON_HEADER)?;
    for row in rows {
        writer.write_record([
            row.protocol.to_string(),
            row.f.map(|f| f.to_string()).unwrap_or_default(),
            format_ns_as_ms(row.latency_ns_p50),
            format_ns_as_ms(row.latency_ns_p99),
            row.peak_throughput_milli_ops_per_s.map(ops_per_s).unwrap_or_default(),
            row.peak_load_per_region.map(|load| load.to_string()).unwrap_or_default(),
            row.unanswered_from.map(|(load, _)| load.to_string()).unwrap_or_default(),
            row.unanswered_from.map(|(_, count)| count.to_string()).unwrap_or_default(),
            row.unavailable_ns.map(format_ns_as_ms).unwrap_or_default(),
            row.acked_writes_lost.to_string(),
            row.divergent_acks.to_string(),
        ])?;
    }
    writer.into_inner().map_err(|e| csv::Error::from(e.into_error()))
}

/// The comparison as a table for the terminal: "at load" is the peak's
/// load, "unanswered" the commands left unanswered at the lightest load
/// that left any ("from load"), failure-free.
pub fn table(rows: &[ComparisonRow]) -> String {
    let mut text = format!(
        "{:<16} {:>2} {:>10} {:>10} {:>11} {:>7} {:>11} {:>10} {:>15} {:>12} {:>10}\n",
        "protocol",
        "f",
        "p50 ms",
        "p99 ms",
        "peak ops/s",
        "at load",
        "unanswered",
        "from load",
        "unavailable ms",
        "acked lost",
        "divergent"
    );
    for row in rows {
        let ms = |ns: u64| format!("{:.1}", ns as f64 / 1e6);
        let dash = || "-".to_string();
        text.push_str(&format!(
            "{:<16} {:>2} {:>10} {:>10} {:>11} {:>7} {:>11} {:>10} {:>15} {:>12} {:>10}\n",
            row.protocol,
            row.f.map_or_else(dash, |f| f.to_string()),
            ms(row.latency_ns_p50),
            ms(row.latency_ns_p99),
            row.peak_throughput_milli_ops_per_s.map_or_else(dash, |milli| (milli / 1_000).to_string()),
            row.peak_load_per_region.map_or_else(dash, |load| load.to_string()),
            row.unanswered_from.map_or_else(dash, |(_, count)| count.to_string()),
            row.unanswered_from.map_or_else(dash, |(load, _)| load.to_string()),
            row.unavailable_ns.map_or_else(dash, ms),
            row.acked_writes_lost,
            row.divergent_acks,
        ));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::results::summarize;
    use crate::scenario::validate::load;
    use std::path::Path;

    fn summaries_of(scenario: &crate::scenario::Scenario) -> Vec<PointSummary<'_>> {
        // One seed per point: latency 1 ms x (point + 1), throughput 100
        // x clients x (2 if without faults), unavailable 500 ms with;
        // EPaxos starves 2 commands at 4 clients without faults.
        let records: Vec<_> = scenario
            .points
            .iter()
            .map(|p| {
                let mut record = crate::scenario::record::tests::sample_record(p.index, 1);
                let totals = &mut record.totals;
                totals.latency_ns_p50 = 1_000_000 * (p.index as u64 + 1);
                totals.latency_ns_p99 = 2 * totals.latency_ns_p50;
                let factor = if p.with_faults == Some(false) { 2 } else { 1 };
                totals.throughput_milli_ops_per_s = 100_000 * u64::from(p.clients_per_region) * factor;
                totals.unavailable_ns_max = (p.with_faults == Some(true)).then_some(500_000_000);
                *totals.outcomes.count_mut(OutcomeKind::AckedWriteLost) =
                    if p.with_faults == Some(true) { 7 } else { 0 };
                *totals.outcomes.count_mut(OutcomeKind::DivergentAck) = if p.with_faults == Some(true) { 3 } else { 0 };
                let starving = p.run.protocol.as_str() == "epaxos" && p.clients_per_region == 4;
                *totals.outcomes.count_mut(OutcomeColumn::Starved) =
                    if starving && p.with_faults == Some(false) { 2 } else { 0 };
                record
            })
            .collect();
        summarize(scenario, &records)
    }

    #[test]
    fn lightest_failure_free_latency_peak_throughput_and_unavailability() {
        let text = "sites = [\"us-central1\", \"europe-west1\", \"asia-east1\"]\nprotocols = [\"fpaxos\", \"epaxos\"]\n\
                    clients_per_region = [4, 1]\nwith_faults = [false, true]\nduration_s = 2\n\
                    [[faults]]\nkind = \"crash\"\nat_s = 1\nprocesses = [\"us-central1\"]\n";
        let scenario = load("t", "t.toml", text, Path::new(".")).expect("valid");
        // Points per protocol: (4, off), (4, on), (1, off), (1, on).
        let rows = compare(&summaries_of(&scenario));
        assert_eq!(rows.len(), 2);
        let fpaxos = &rows[0];
        assert_eq!((fpaxos.protocol, fpaxos.f), ("fpaxos", Some(1)));
        assert_eq!(fpaxos.latency_ns_p50, 3_000_000, "point 2: 1 client, failure-free");
        assert_eq!(fpaxos.latency_ns_p99, 6_000_000);
        assert_eq!(fpaxos.peak_throughput_milli_ops_per_s, Some(800_000), "4 clients, failure-free");
        assert_eq!((fpaxos.peak_load_per_region, fpaxos.unanswered_from), (Some(4), None));
        assert_eq!(fpaxos.unavailable_ns, Some(500_000_000));
        assert_eq!((fpaxos.acked_writes_lost, fpaxos.divergent_acks), (7, 3));
        let epaxos = &rows[1];
        assert_eq!((epaxos.protocol, epaxos.f), ("epaxos", None));
        assert_eq!(epaxos.peak_throughput_milli_ops_per_s, Some(200_000), "4 clients left commands unanswered");
        assert_eq!((epaxos.peak_load_per_region, epaxos.unanswered_from), (Some(1), Some((4, 2))));
        let csv = String::from_utf8(comparison_csv(&rows).unwrap()).unwrap();
        assert!(csv.starts_with("protocol,f,latency_ms_p50,"), "{csv}");
        assert!(csv.contains("\nfpaxos,1,3.000000,6.000000,800.000,4,,,500.000000,7,3\n"), "{csv}");
        assert!(csv.contains("\nepaxos,,7.000000,14.000000,200.000,1,4,2,500.000000,7,3\n"), "{csv}");
        let table = table(&rows);
        assert!(table.lines().nth(1).unwrap().starts_with("fpaxos"));
        let epaxos_cells: Vec<&str> = table.lines().nth(2).unwrap().split_whitespace().collect();
        assert_eq!(epaxos_cells[4..8], ["200", "1", "2", "4"], "{table}");
    }

    #[test]
    fn no_comparison_without_both_variants() {
        let text = "sites = [\"us-central1\", \"europe-west1\", \"asia-east1\"]\nprotocols = \"fpaxos\"\n";
        let scenario = load("t", "t.toml", text, Path::new(".")).expect("valid");
        assert!(compare(&summaries_of(&scenario)).is_empty());
    }
}
