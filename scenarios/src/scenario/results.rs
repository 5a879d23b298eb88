//! What a sweep writes and prints from its records: `runs.csv` (one row
//! per point, seed and client region), `summary.csv` and the summary table
//! (one row per point, aggregated over seeds), `latency-cdf.csv` and
//! `manifest.json`.

use super::record::{OutcomeTotals, POINT_COLUMNS, RunRecord};
use super::{Point, Scenario};
use crate::output;
use sim_core::metrics::DISTRIBUTION_QUANTILES;
use sim_core::time::format_ns_as_ms;
use sim_core::verdict::OutcomeColumn;

/// `runs.csv`: the header, then every record's rows in the order given.
pub fn runs_csv(records: &[RunRecord]) -> Result<Vec<u8>, csv::Error> {
    let mut writer = csv::Writer::from_writer(Vec::new());
    writer.write_record(POINT_COLUMNS.into_iter().chain(output::csv_header()))?;
    for row in records.iter().flat_map(|r| &r.rows) {
        writer.write_record(row)?;
    }
    writer.into_inner().map_err(|e| csv::Error::from(e.into_error()))
}

/// `resources.csv`, per (point, seed) and process, when some run modelled
/// CPUs and NICs; `None` otherwise (the file is then not written).
pub fn resources_csv(records: &[RunRecord]) -> Result<Option<Vec<u8>>, csv::Error> {
    if records.iter().all(|r| r.resource_rows.is_empty()) {
        return Ok(None);
    }
    let mut writer = csv::Writer::from_writer(Vec::new());
    writer.write_record(["point", "seed"].iter().chain(crate::resources::CSV_HEADER.iter()))?;
    for row in records.iter().flat_map(|r| &r.resource_rows) {
        writer.write_record(row)?;
    }
    writer.into_inner().map(Some).map_err(|e| csv::Error::from(e.into_error()))
}

/// `timeline.csv` and `faults.csv` of a sweep with faults: the header,
/// then every record's rows in the order given; `None` if no run had
/// faults (the files are then not written).
pub fn fault_csvs(records: &[RunRecord]) -> Result<Option<[Vec<u8>; 2]>, csv::Error> {
    if records.iter().all(|r| r.faults.is_empty()) {
        return Ok(None);
    }
    let write = |header: &[&str], rows: &mut dyn Iterator<Item = &Vec<String>>| -> Result<Vec<u8>, csv::Error> {
        let mut writer = csv::Writer::from_writer(Vec::new());
        writer.write_record(["point", "seed"].iter().chain(header))?;
        for row in rows {
            writer.write_record(row)?;
        }
        writer.into_inner().map_err(|e| csv::Error::from(e.into_error()))
    };
    let timeline = write(&output::TIMELINE_HEADER, &mut records.iter().flat_map(|r| &r.timeline))?;
    let faults = write(&output::FAULTS_HEADER, &mut records.iter().flat_map(|r| &r.faults))?;
    Ok(Some([timeline, faults]))
}

/// One point aggregated over its seeds: the mean over seeds of each
/// statistic of the runs' `all` rows, except `commands` (summed) and
/// `latency_ns_max` (the largest).
#[derive(Clone, Debug)]
pub struct PointSummary<'a> {
    /// The point.
    pub point: &'a Point,
    /// Runs aggregated (one per seed).
    pub runs: u64,
    /// Runs that failed their verdict.
    pub runs_failed: u64,
    /// Commands whose latency counts, over every seed.
    pub commands: u64,
    /// Mean over seeds of the mean latency, ns.
    pub latency_ns_mean: u64,
    /// Mean over seeds of the median, ns.
    pub latency_ns_p50: u64,
    /// Mean over seeds of the 95th percentile, ns.
    pub latency_ns_p95: u64,
    /// Mean over seeds of the 99th percentile, ns.
    pub latency_ns_p99: u64,
    /// Mean over seeds of the 99.9th percentile, ns.
    pub latency_ns_p99_9: u64,
    /// Largest latency of any seed, ns.
    pub latency_ns_max: u64,
    /// Mean over seeds of the throughput, thousandths of ops/s.
    pub throughput_milli_ops_per_s: u64,
    /// Mean over seeds of the fast-path ratio, millionths; `None` for
    /// protocols without a fast path.
    pub fast_path_ppm: Option<u64>,
    /// Mean over seeds of messages per command, thousandths.
    pub messages_per_command_milli: u64,
    /// Mean over seeds of the longest period a client region went without
    /// a completion, ns; `None` without faults.
    pub unavailable_ns_max: Option<u64>,
    /// Outcome events summed over seeds.
    pub outcomes: OutcomeTotals,
}

/// One summary per point that has records, in point order; `records` must
/// be sorted by point.
pub fn summarize<'a>(scenario: &'a Scenario, records: &[RunRecord]) -> Vec<PointSummary<'a>> {
    records
        .chunk_by(|a, b| a.point == b.point)
        .map(|runs| {
            let count = runs.len() as u64;
            // Integer means, rounded down like every mean of the engine.
            let mean =
                |value: fn(&RunRecord) -> u64| runs.iter().map(|r| u128::from(value(r))).sum::<u128>() as u64 / count;
            let fast: Vec<u64> = runs.iter().filter_map(|r| r.totals.fast_path_ppm).collect();
            let unavailable: Vec<u64> = runs.iter().filter_map(|r| r.totals.unavailable_ns_max).collect();
            PointSummary {
                point: &scenario.points[runs[0].point],
                runs: count,
                runs_failed: runs.iter().filter(|r| !r.totals.passed).count() as u64,
                commands: runs.iter().map(|r| r.totals.commands).sum(),
                latency_ns_mean: mean(|r| r.totals.latency_ns_mean),
                latency_ns_p50: mean(|r| r.totals.latency_ns_p50),
                latency_ns_p95: mean(|r| r.totals.latency_ns_p95),
                latency_ns_p99: mean(|r| r.totals.latency_ns_p99),
                latency_ns_p99_9: mean(|r| r.totals.latency_ns_p99_9),
                latency_ns_max: runs.iter().map(|r| r.totals.latency_ns_max).max().unwrap_or(0),
                throughput_milli_ops_per_s: mean(|r| r.totals.throughput_milli_ops_per_s),
                fast_path_ppm: (!fast.is_empty()).then(|| fast.iter().sum::<u64>() / fast.len() as u64),
                messages_per_command_milli: mean(|r| r.totals.messages_per_command_milli),
                unavailable_ns_max: (!unavailable.is_empty())
                    .then(|| unavailable.iter().sum::<u64>() / unavailable.len() as u64),
                outcomes: runs.iter().fold(OutcomeTotals::default(), |mut sum, r| {
                    sum.add(&r.totals.outcomes);
                    sum
                }),
            }
        })
        .collect()
}

/// Columns of [`summary_header`] before the outcome counts.
const SUMMARY_FRONT: [&str; 27] = [
    "point",
    "protocol",
    "f",
    "n",
    "placement",
    "sites",
    "conflict_percent",
    "clients_per_region",
    "arrival_rate_per_region",
    "faults",
    "commands_per_client",
    "duration_s",
    "warmup_s",
    "seeds",
    "runs_failed",
    "commands",
    "latency_ms_mean",
    "latency_ms_p50",
    "latency_ms_p95",
    "latency_ms_p99",
    "latency_ms_p99_9",
    "latency_ms_max",
    "throughput_ops_per_s",
    "fast_path_ratio",
    "messages_per_command",
    "jitter",
    "consistency",
];

/// `summary.csv` columns, units last: [`SUMMARY_FRONT`], the outcome
/// counts ([`OutcomeColumn::ALL`], sums over seeds), then `verdict`.
pub fn summary_header() -> Vec<&'static str> {
    SUMMARY_FRONT.into_iter().chain(OutcomeColumn::names()).chain(["verdict"]).collect()
}

/// `summary.csv`: one row per point, aggregated over seeds.
pub fn summary_csv(summaries: &[PointSummary<'_>]) -> Result<Vec<u8>, csv::Error> {
    let mut writer = csv::Writer::from_writer(Vec::new());
    writer.write_record(summary_header())?;
    for s in summaries {
        let run = &s.point.run;
        let config = &run.config;
        let [commands_per_client, duration_s, warmup_s] = output::run_length_columns(config);
        let front = [
            s.point.index.to_string(),
            run.protocol.as_str().to_string(),
            config.protocol.f.to_string(),
            config.n().to_string(),
            (s.point.placement + 1).to_string(),
            run.site_names().join(";"),
            s.point.conflict_percent.to_string(),
            s.point.clients_per_region.to_string(),
            output::optional(s.point.arrival_rate_per_region),
            output::faults_column(s.point.with_faults),
            commands_per_client,
            duration_s,
            warmup_s,
            s.runs.to_string(),
            s.runs_failed.to_string(),
            s.commands.to_string(),
            format_ns_as_ms(s.latency_ns_mean),
            format_ns_as_ms(s.latency_ns_p50),
            format_ns_as_ms(s.latency_ns_p95),
            format_ns_as_ms(s.latency_ns_p99),
            format_ns_as_ms(s.latency_ns_p99_9),
            format_ns_as_ms(s.latency_ns_max),
            thousandths(s.throughput_milli_ops_per_s),
            s.fast_path_ppm.map(|ppm| format!("{}.{:06}", ppm / 1_000_000, ppm % 1_000_000)).unwrap_or_default(),
            thousandths(s.messages_per_command_milli),
            if config.delay.jitter { "on" } else { "off" }.to_string(),
            run.protocol.consistency(&run.options).as_str().to_string(),
        ];
        let outcomes = OutcomeColumn::ALL.iter().map(|&column| s.outcomes.count(column).to_string());
        let verdict = if s.runs_failed == 0 { "PASS" } else { "FAIL" };
        writer.write_record(front.into_iter().chain(outcomes).chain([verdict.to_string()]))?;
    }
    writer.into_inner().map_err(|e| csv::Error::from(e.into_error()))
}

/// A column of a fixed-width text table: its width and alignment.
#[derive(Clone, Copy)]
enum Cell {
    Left(usize),
    Right(usize),
}

/// One line of a fixed-width table: each cell padded to its column,
/// separated by single spaces.
fn fixed_width_line(columns: &[Cell], cells: &[&str]) -> String {
    let padded: Vec<String> = columns
        .iter()
        .zip(cells)
        .map(|(column, cell)| match *column {
            Cell::Left(width) => format!("{cell:<width$}"),
            Cell::Right(width) => format!("{cell:>width$}"),
        })
        .collect();
    padded.join(" ") + "\n"
}

fn thousandths(milli: u64) -> String {
    format!("{}.{:03}", milli / 1_000, milli % 1_000)
}

/// The per-point summary table printed at the end of a sweep.
pub fn table(summaries: &[PointSummary<'_>]) -> String {
    const COLUMNS: [Cell; 12] = [
        Cell::Right(5),
        Cell::Left(15),
        Cell::Right(2),
        Cell::Right(5),
        Cell::Right(9),
        Cell::Right(7),
        Cell::Right(5),
        Cell::Right(10),
        Cell::Right(10),
        Cell::Right(12),
        Cell::Right(7),
        Cell::Right(7),
    ];
    let line = |cells: [&str; 12]| fixed_width_line(&COLUMNS, &cells);
    let mut text = line([
        "point",
        "protocol",
        "f",
        "sites",
        "conflict%",
        "clients",
        "seeds",
        "mean ms",
        "p99 ms",
        "ops/s",
        "fast%",
        "verdict",
    ]);
    for s in summaries {
        let run = &s.point.run;
        let f = if run.protocol.uses_f() { run.config.protocol.f.to_string() } else { "-".into() };
        // Percent with one decimal, rounded down (ppm / 1000 = tenths).
        let fast =
            s.fast_path_ppm.map_or_else(|| "-".to_string(), |ppm| format!("{}.{}", ppm / 10_000, ppm % 10_000 / 1_000));
        let verdict = if s.runs_failed == 0 { "PASS".to_string() } else { format!("FAIL {}", s.runs_failed) };
        text.push_str(&line([
            &s.point.index.to_string(),
            run.protocol.as_str(),
            &f,
            &format!("#{}", s.point.placement + 1),
            &s.point.conflict_percent.to_string(),
            &s.point.clients_per_region.to_string(),
            &s.runs.to_string(),
            &output::ms3(s.latency_ns_mean),
            &output::ms3(s.latency_ns_p99),
            &thousandths(s.throughput_milli_ops_per_s),
            &fast,
            &verdict,
        ]));
    }
    text
}

/// The outcome events per point, summed over seeds, with the promise each
/// run was judged by; empty when every point is linearizable and had no
/// outcome event (so failure-free sweeps print what they always did).
pub fn outcomes_table(summaries: &[PointSummary<'_>]) -> String {
    let labelled = |s: &PointSummary<'_>| s.point.run.protocol.consistency(&s.point.run.options);
    let notable =
        |s: &&PointSummary<'_>| !s.outcomes.is_empty() || labelled(s) != sim_core::verdict::Consistency::Linearizable;
    if !summaries.iter().any(|s| notable(&s)) {
        return String::new();
    }
    // Each count as wide as its label, at least 8 characters.
    let columns: Vec<Cell> = [Cell::Right(5), Cell::Left(16), Cell::Left(30)]
        .into_iter()
        .chain(OutcomeColumn::ALL.iter().map(|column| Cell::Right(column.label().len().max(8))))
        .collect();
    let mut text = String::from("outcome events (sums over seeds):\n");
    let header: Vec<&str> =
        ["point", "protocol", "promise"].into_iter().chain(OutcomeColumn::ALL.iter().map(|c| c.label())).collect();
    text.push_str(&fixed_width_line(&columns, &header));
    for s in summaries {
        let cells: Vec<String> =
            [s.point.index.to_string(), s.point.run.protocol.as_str().to_string(), labelled(s).as_str().to_string()]
                .into_iter()
                .chain(OutcomeColumn::ALL.iter().map(|&column| s.outcomes.count(column).to_string()))
                .collect();
        let cells: Vec<&str> = cells.iter().map(String::as_str).collect();
        text.push_str(&fixed_width_line(&columns, &cells));
    }
    text
}

/// Columns of `latency-cdf.csv`.
pub const CDF_COLUMNS: [&str; 10] = [
    "point",
    "protocol",
    "f",
    "placement",
    "conflict_percent",
    "clients_per_region",
    "seed",
    "commands",
    "quantile",
    "latency_ms",
];

/// `latency-cdf.csv`: per (point, seed), the latency of all clients
/// together at each of [`DISTRIBUTION_QUANTILES`] (quantile 0 is the
/// exact minimum, 1 the exact maximum), so a CDF can be drawn without
/// re-running. A run where no command completed has no rows.
pub fn latency_cdf_csv(scenario: &Scenario, records: &[RunRecord]) -> Result<Vec<u8>, csv::Error> {
    let mut writer = csv::Writer::from_writer(Vec::new());
    writer.write_record(CDF_COLUMNS)?;
    for record in records {
        let point = &scenario.points[record.point];
        let front = [
            point.index.to_string(),
            point.run.protocol.as_str().to_string(),
            point.run.config.protocol.f.to_string(),
            (point.placement + 1).to_string(),
            point.conflict_percent.to_string(),
            point.clients_per_region.to_string(),
            record.seed.to_string(),
            record.totals.commands.to_string(),
        ];
        for (quantile, &latency_ns) in DISTRIBUTION_QUANTILES.iter().zip(&record.quantiles_ns) {
            writer.write_record(front.iter().cloned().chain([quantile.to_string(), format_ns_as_ms(latency_ns)]))?;
        }
    }
    writer.into_inner().map_err(|e| csv::Error::from(e.into_error()))
}

/// The resolved scenario: its name, seeds and every point described in
/// full. The manifest holds it, and a resumed sweep compares it with the
/// one it continues.
pub fn resolved(scenario: &Scenario) -> serde_json::Value {
    let points: Vec<serde_json::Value> = scenario
        .points
        .iter()
        .map(|p| {
            serde_json::json!({
                "point": p.index,
                "protocol": p.run.protocol.as_str(),
                "f": p.run.config.protocol.f,
                "uses_f": p.run.protocol.uses_f(),
                "placement": p.placement + 1,
                "sites": p.run.site_names(),
                "conflict_percent": p.conflict_percent,
                "clients_per_region": p.clients_per_region,
                "arrival_rate_per_region": p.arrival_rate_per_region,
                "with_faults": p.with_faults,
                "resolved": output::describe(&p.run),
            })
        })
        .collect();
    serde_json::json!({
        "scenario": scenario.name,
        "overrides": scenario.overrides,
        "seeds": scenario.seeds,
        "skipped": scenario.skipped,
        "points": points,
    })
}

/// `manifest.json`: the planetsim version and git revision, where the
/// scenario came from, the resolved scenario and the scenario's text.
pub fn manifest(scenario: &Scenario) -> Vec<u8> {
    let mut manifest = serde_json::json!({
        "planetsim_version": env!("CARGO_PKG_VERSION"),
        "git_revision": crate::GIT_REVISION,
        "source": scenario.source,
    });
    if let (Some(object), serde_json::Value::Object(resolved)) = (manifest.as_object_mut(), resolved(scenario)) {
        object.extend(resolved);
        object.insert("scenario_text".into(), scenario.text.clone().into());
    }
    let mut bytes = serde_json::to_vec_pretty(&manifest).expect("a JSON value always serializes");
    bytes.push(b'\n');
    bytes
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::record::RunTotals;
    use sim_core::verdict::OutcomeKind;

    fn stale_reads(count: u64) -> OutcomeTotals {
        let mut totals = OutcomeTotals::default();
        *totals.count_mut(OutcomeKind::StaleRead) = count;
        totals
    }

    /// Every outcome column's count: `stale` for stale reads, 0 for the rest.
    fn outcome_counts(stale: u64) -> Vec<String> {
        let counts = stale_reads(stale);
        OutcomeColumn::ALL.iter().map(|&column| counts.count(column).to_string()).collect()
    }

    fn record(point: usize, seed: u64, latency_ns: u64, fast_path_ppm: Option<u64>, passed: bool) -> RunRecord {
        let mut record = crate::scenario::record::tests::sample_record(point, seed);
        record.totals = RunTotals {
            latency_ns_mean: latency_ns,
            latency_ns_p50: latency_ns,
            latency_ns_p95: latency_ns + 1,
            latency_ns_p99: latency_ns + 2,
            latency_ns_p99_9: latency_ns + 3,
            latency_ns_max: latency_ns + 4,
            throughput_milli_ops_per_s: latency_ns * 10,
            fast_path_ppm,
            messages_per_command_milli: 4_000,
            passed,
            outcomes: stale_reads(seed),
            ..record.totals
        };
        record
    }

    #[test]
    fn points_aggregate_over_seeds() {
        let text = "sites = [\"us-central1\", \"europe-west1\", \"asia-east1\"]\nprotocols = \"tempo\"\n\
                    clients_per_region = [1, 2]\nseeds = [1, 2]\n";
        let scenario = crate::scenario::validate::load("t", "t.toml", text, std::path::Path::new(".")).unwrap();
        let records = [
            record(0, 1, 100, Some(1_000_000), true),
            record(0, 2, 201, Some(500_000), false),
            record(1, 1, 7, None, true),
            record(1, 2, 8, None, true),
        ];
        let summaries = summarize(&scenario, &records);
        assert_eq!(summaries.len(), 2);
        let first = &summaries[0];
        assert_eq!((first.point.index, first.runs, first.runs_failed, first.commands), (0, 2, 1, 20));
        // Means over seeds round down; the maximum is the largest.
        assert_eq!((first.latency_ns_mean, first.latency_ns_p99, first.latency_ns_max), (150, 152, 205));
        assert_eq!(first.fast_path_ppm, Some(750_000));
        assert_eq!(first.throughput_milli_ops_per_s, 1_505);
        assert_eq!(summaries[1].fast_path_ppm, None);

        let csv = String::from_utf8(summary_csv(&summaries).unwrap()).unwrap();
        let lines: Vec<&str> = csv.lines().collect();
        assert_eq!(lines.len(), 3);
        assert!(
            lines[1].starts_with("0,tempo,1,3,1,us-central1;europe-west1;asia-east1,2,1,,,100,,,2,1,20,0.000150,"),
            "{csv}"
        );
        // Outcome counts are sums over seeds (stale reads = seed here).
        let counts = outcome_counts(3).join(",");
        assert!(lines[1].ends_with(&format!(",1.505,0.750000,4.000,off,linearizable,{counts},FAIL")), "{csv}");
        assert!(lines[2].ends_with(&format!(",,4.000,off,linearizable,{counts},PASS")), "{csv}");
        let table = table(&summaries);
        assert!(table.lines().nth(1).unwrap().ends_with("75.0  FAIL 1"), "{table}");
        let outcomes = outcomes_table(&summaries);
        assert!(outcomes.starts_with("outcome events (sums over seeds):\n"), "{outcomes}");
        let cells: Vec<&str> = outcomes.lines().nth(2).unwrap().split_whitespace().collect();
        let header: Vec<&str> = outcomes.lines().nth(1).unwrap().split_whitespace().collect();
        let labels: Vec<&str> = OutcomeColumn::ALL.iter().map(|column| column.label()).collect();
        assert_eq!(header[header.len() - labels.len()..], labels, "{outcomes}");
        assert_eq!(cells[cells.len() - labels.len()..], outcome_counts(3), "{outcomes}");
    }
}
