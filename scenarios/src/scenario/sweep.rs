//! Running a scenario: every (point, seed) is one single-threaded run;
//! runs execute in parallel on a rayon pool and their results are kept in
//! (point, seed) order, so every output is the same whatever the number of
//! threads.

use super::Scenario;
use crate::error::UserError;
use crate::output;
use rayon::prelude::*;
use sim_core::RunReport;
use sim_core::metrics::DISTRIBUTION_QUANTILES;
use sim_core::time::format_ns_as_ms;

/// The result of one (point, seed).
#[derive(Debug)]
pub struct Outcome {
    /// Index of the point in [`Scenario::points`].
    pub point: usize,
    /// The root seed used.
    pub seed: u64,
    /// What the run measured.
    pub report: RunReport,
}

/// Runs every point with every seed on `threads` threads; the outcomes
/// are in (point, seed) order.
pub fn run(scenario: &Scenario, threads: usize) -> Result<Vec<Outcome>, UserError> {
    let jobs: Vec<(usize, u64)> =
        scenario.points.iter().flat_map(|p| scenario.seeds.iter().map(move |&seed| (p.index, seed))).collect();
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads.max(1))
        .build()
        .map_err(|e| UserError::new(format!("--threads {threads}: cannot start the thread pool: {e}")))?;
    // An indexed parallel iterator collects in input order, whichever
    // thread finished first.
    Ok(pool.install(|| {
        jobs.par_iter()
            .map(|&(point, seed)| {
                let run = &scenario.points[point].run;
                let mut config = run.config.clone();
                config.seed = seed;
                Outcome { point, seed, report: run.protocol.run_with(&config, &run.options) }
            })
            .collect()
    }))
}

/// True if the run passed its verdict.
pub fn passed(outcome: &Outcome) -> bool {
    outcome.report.verdict.passed()
}

/// Columns put in front of [`output::CSV_HEADER`] in `runs.csv`: the sweep
/// point and the axis values not already among the run's columns.
pub const POINT_COLUMNS: [&str; 5] =
    ["point", "placement", "conflict_percent", "clients_per_region", "commands_per_client"];

/// `runs.csv`: one row per (point, seed, client region) plus an `all` row
/// per (point, seed).
pub fn runs_csv(scenario: &Scenario, outcomes: &[Outcome]) -> Result<Vec<u8>, csv::Error> {
    let mut writer = csv::Writer::from_writer(Vec::new());
    writer.write_record(POINT_COLUMNS.iter().chain(output::CSV_HEADER.iter()))?;
    for outcome in outcomes {
        let point = &scenario.points[outcome.point];
        let mut run = point.run.clone();
        run.config.seed = outcome.seed;
        let front = [
            point.index.to_string(),
            (point.placement + 1).to_string(),
            point.conflict_percent.to_string(),
            point.clients_per_region.to_string(),
            run.config.commands_per_client.to_string(),
        ];
        for record in output::csv_records(&run, &outcome.report) {
            writer.write_record(front.iter().chain(record.iter()))?;
        }
    }
    writer.into_inner().map_err(|e| csv::Error::from(e.into_error()))
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
pub fn latency_cdf_csv(scenario: &Scenario, outcomes: &[Outcome]) -> Result<Vec<u8>, csv::Error> {
    let mut writer = csv::Writer::from_writer(Vec::new());
    writer.write_record(CDF_COLUMNS)?;
    for outcome in outcomes {
        let point = &scenario.points[outcome.point];
        let front = [
            point.index.to_string(),
            point.run.protocol.as_str().to_string(),
            point.run.config.protocol.f.to_string(),
            (point.placement + 1).to_string(),
            point.conflict_percent.to_string(),
            point.clients_per_region.to_string(),
            outcome.seed.to_string(),
            outcome.report.total.count.to_string(),
        ];
        for (quantile, &latency_ns) in DISTRIBUTION_QUANTILES.iter().zip(&outcome.report.total_quantiles_ns) {
            writer.write_record(front.iter().cloned().chain([quantile.to_string(), format_ns_as_ms(latency_ns)]))?;
        }
    }
    writer.into_inner().map_err(|e| csv::Error::from(e.into_error()))
}

/// `manifest.json`: the resolved scenario (every point described in
/// full), its seeds, its text and the planetsim version.
pub fn manifest(scenario: &Scenario) -> Vec<u8> {
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
                "resolved": output::describe(&p.run),
            })
        })
        .collect();
    let manifest = serde_json::json!({
        "planetsim_version": env!("CARGO_PKG_VERSION"),
        "scenario": scenario.name,
        "source": scenario.source,
        "seeds": scenario.seeds,
        "points": points,
        "scenario_text": scenario.text,
    });
    let mut bytes = serde_json::to_vec_pretty(&manifest).expect("a JSON value always serializes");
    bytes.push(b'\n');
    bytes
}

/// The per-(point, seed) summary table.
pub fn summary(scenario: &Scenario, outcomes: &[Outcome]) -> String {
    let mut text = format!(
        "{:>5} {:<8} {:>5} {:>5} {:>9} {:>8} {:>6} {:>10} {:>10} {:>12} {:>8} {:>7}\n",
        "point",
        "protocol",
        "f",
        "sites",
        "conflict%",
        "clients",
        "seed",
        "mean ms",
        "p99 ms",
        "ops/s",
        "fast%",
        "verdict"
    );
    for outcome in outcomes {
        let point = &scenario.points[outcome.point];
        let report = &outcome.report;
        let f = if point.run.protocol.uses_f() { point.run.config.protocol.f.to_string() } else { "-".into() };
        let throughput = report.throughput_milli_ops_per_s();
        let fast = report
            .protocol
            .fast_path_ratio_ppm()
            .map_or_else(|| "-".to_string(), |ppm| format!("{}.{}", ppm / 10_000, ppm % 10_000 / 1_000));
        text.push_str(&format!(
            "{:>5} {:<8} {:>5} {:>5} {:>9} {:>8} {:>6} {:>10} {:>10} {:>12} {:>8} {:>7}\n",
            point.index,
            point.run.protocol.as_str(),
            f,
            format!("#{}", point.placement + 1),
            point.conflict_percent,
            point.clients_per_region,
            outcome.seed,
            output::ms3(report.total.mean_ns),
            output::ms3(report.total.p99_ns),
            format!("{}.{:03}", throughput / 1_000, throughput % 1_000),
            fast,
            if passed(outcome) { "PASS" } else { "FAIL" },
        ));
    }
    text
}
