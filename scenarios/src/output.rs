//! What a run prints and writes: the resolved run, the per-region table,
//! and a tidy CSV (one row per client region plus an `all` row).

use crate::cli::Run;
use sim_core::metrics::LatencySummary;
use sim_core::time::{NS_PER_MS, format_ns_as_ms, format_ns_as_s};
use sim_core::verdict::OutcomeColumn;
use sim_core::{Arrivals, BaseDelay, IntraRegionDelay, KeyDistribution, RunConfig, RunDuration, RunReport};
use std::io::{self, Write};
use std::path::Path;

/// One line describing the fully resolved run, so any output can be
/// replayed.
pub fn describe(run: &Run) -> String {
    let config = &run.config;
    let leader = match config.protocol.leader {
        Some(leader) => format!(" leader={leader} ({})", config.matrix.regions()[config.region_of(leader).index()]),
        None => String::new(),
    };
    let keys = match config.workload.keys {
        KeyDistribution::ConflictPool { conflict_rate, hot_keys } => {
            format!("conflicts {}% over {hot_keys} hot key(s)", conflict_rate * 100.0)
        }
        KeyDistribution::Zipf { exponent, key_space } => format!("zipf {exponent} over {key_space} keys"),
    };
    let delay = &config.delay;
    let base = match delay.base {
        BaseDelay::Avg => "avg",
        BaseDelay::Min => "min",
        BaseDelay::FantochMs => "fantoch-ms",
    };
    let intra = match delay.intra_region {
        IntraRegionDelay::Measured => "measured",
        IntraRegionDelay::Zero => "zero",
    };
    let options =
        if run.options_given.is_empty() { String::new() } else { format!(" options {}", run.options_given.join(",")) };
    let f = if run.protocol.uses_f() { format!("f={}", config.protocol.f) } else { "f ignored".to_string() };
    // Only with the model on, so runs without it describe themselves (and
    // resume) exactly as before it existed.
    let resources = match &config.resources {
        Some(model) => format!(" | {}", crate::resources::describe(model)),
        None => String::new(),
    };
    // Closed-loop runs describe themselves as before open loop existed
    // (resumed sweeps compare descriptions).
    let clients = match config.arrivals {
        Arrivals::Closed => format!("{} client(s)/region", config.clients_per_region),
        Arrivals::Poisson { per_region_per_s } => format!(
            "open loop: Poisson arrivals {per_region_per_s}/s per region over {} connection(s)/region",
            config.clients_per_region
        ),
    };
    format!(
        "{} {f} n={}{leader}{options} | {} | sites {} | {clients} {} | {keys}, {} key(s)/command, \
         {}% reads, {} B payload | delay base={base} jitter={} intra-region={intra} links={}{}{resources}",
        run.protocol,
        config.n(),
        config.matrix.name(),
        run.site_names().join(","),
        run_length(config),
        config.workload.keys_per_command,
        config.workload.read_ratio * 100.0,
        config.workload.payload_bytes,
        if delay.jitter { "on" } else { "off" },
        if delay.reorder { "reordering" } else { "fifo" },
        if delay.symmetric { " symmetric" } else { "" },
    )
}

/// The `faults` column of a point of a `with_faults` axis: `on`, `off`,
/// or empty without that axis.
pub fn faults_column(with_faults: Option<bool>) -> String {
    match with_faults {
        Some(true) => "on".into(),
        Some(false) => "off".into(),
        None => String::new(),
    }
}

/// `value` as text, or empty.
pub fn optional(value: Option<u64>) -> String {
    value.map(|v| v.to_string()).unwrap_or_default()
}

/// How long each client runs: `x N commands`, or `for D s (warm-up W s)`.
pub fn run_length(config: &RunConfig) -> String {
    match config.duration {
        None => format!("x {} commands", config.commands_per_client),
        Some(RunDuration { duration_ns, warmup_ns }) => {
            format!("for {} s (warm-up {} s)", format_ns_as_s(duration_ns), format_ns_as_s(warmup_ns))
        }
    }
}

/// The run-length columns `commands_per_client`, `duration_s`,
/// `warmup_s` (empty where they do not apply).
pub fn run_length_columns(config: &RunConfig) -> [String; 3] {
    match config.duration {
        None => [config.commands_per_client.to_string(), String::new(), String::new()],
        Some(RunDuration { duration_ns, warmup_ns }) => {
            [String::new(), format_ns_as_s(duration_ns), format_ns_as_s(warmup_ns)]
        }
    }
}

/// Milliseconds with three decimals, for display.
pub fn ms3(ns: u64) -> String {
    // Rounded to the microsecond for display; the CSV keeps nanoseconds.
    let us = (ns + 500) / 1_000;
    format!("{}.{:03}", us / 1_000, us % 1_000)
}

/// The per-region latency table.
pub fn table(report: &RunReport) -> String {
    let mut text = format!(
        "{:<24} {:>7} {:>9} {:>10} {:>10} {:>10} {:>10} {:>10} {:>10}\n",
        "region", "clients", "commands", "mean ms", "p50 ms", "p95 ms", "p99 ms", "p99.9 ms", "max ms"
    );
    let row = |text: &mut String, region: &str, clients: String, latency: &LatencySummary| {
        text.push_str(&format!(
            "{:<24} {:>7} {:>9} {:>10} {:>10} {:>10} {:>10} {:>10} {:>10}\n",
            region,
            clients,
            latency.count,
            ms3(latency.mean_ns),
            ms3(latency.p50_ns),
            ms3(latency.p95_ns),
            ms3(latency.p99_ns),
            ms3(latency.p99_9_ns),
            ms3(latency.max_ns)
        ));
    };
    for region in &report.regions {
        row(&mut text, &region.region, region.clients.to_string(), &region.latency);
    }
    let clients: u32 = report.regions.iter().map(|r| r.clients).sum();
    row(&mut text, "all", clients.to_string(), &report.total);
    let throughput = report.throughput_milli_ops_per_s();
    text.push_str(&format!("verdict: {}\n", report.verdict));
    let over = match report.window {
        None => format!("over {} ms simulated", report.end_time.as_ns() / NS_PER_MS),
        Some(window) => format!(
            "from {} s to {} s (after the warm-up; the run ended at {} ms)",
            format_ns_as_s(window.start.as_ns()),
            format_ns_as_s(window.end.as_ns()),
            report.end_time.as_ns() / NS_PER_MS
        ),
    };
    text.push_str(&format!(
        "throughput {}.{:03} ops/s {over} | {} messages, {} bytes between processes | {} executions\n",
        throughput / 1_000,
        throughput % 1_000,
        report.messages_sent,
        report.bytes_sent,
        report.executions
    ));
    text.push_str(&protocol_line(report));
    text.push_str(&arrivals_line(report));
    text
}

/// What open-loop arrivals did (empty for closed-loop clients).
fn arrivals_line(report: &RunReport) -> String {
    let Some(regions) = &report.arrivals else { return String::new() };
    let arrived: u64 = regions.iter().map(|r| r.arrived).sum();
    let waited: u64 = regions.iter().map(|r| r.waited).sum();
    let max_backlog = regions.iter().map(|r| r.max_backlog).max().unwrap_or(0);
    format!(
        "open loop: {arrived} command(s) arrived, {waited} waited for a free connection (longest backlog \
         {max_backlog}; the wait counts in their latency)\n"
    )
}

/// How the protocol decided: paths, commit latency, execution wait,
/// dependencies, messages per command.
fn protocol_line(report: &RunReport) -> String {
    let protocol = &report.protocol;
    let mut parts = Vec::new();
    if let Some(ppm) = protocol.fast_path_ratio_ppm() {
        parts.push(format!(
            "fast path {} ({}.{:03}%), slow path {}",
            protocol.fast_paths,
            ppm / 10_000,
            ppm % 10_000 / 10,
            protocol.slow_paths
        ));
    }
    if protocol.commit_latency.count > 0 {
        parts.push(format!(
            "commit mean {} p99 {} ms",
            ms3(protocol.commit_latency.mean_ns),
            ms3(protocol.commit_latency.p99_ns)
        ));
    }
    if protocol.execution_wait.count > 0 {
        parts.push(format!(
            "commit-to-execution wait mean {} p99 {} ms",
            ms3(protocol.execution_wait.mean_ns),
            ms3(protocol.execution_wait.p99_ns)
        ));
    }
    if protocol.dependencies.count > 0 {
        parts.push(format!(
            "dependencies mean {} p99 {} max {}",
            hundredths(report.protocol.dependencies_mean_centi()),
            protocol.dependencies.p99_ns,
            protocol.dependencies.max_ns
        ));
    }
    let per_command = report.messages_per_command_milli();
    parts.push(format!("{}.{:03} messages/command", per_command / 1_000, per_command % 1_000));
    format!("protocol: {}\n", parts.join(" | "))
}

fn hundredths(centi: u64) -> String {
    format!("{}.{:02}", centi / 100, centi % 100)
}

/// Columns of [`csv_header`] before the outcome counts.
const CSV_FRONT: [&str; 32] = [
    "protocol",
    "f",
    "n",
    "leader",
    "cloud",
    "sites",
    "seed",
    "jitter",
    "region",
    "clients",
    "commands",
    "latency_ms_mean",
    "latency_ms_min",
    "latency_ms_p50",
    "latency_ms_p95",
    "latency_ms_p99",
    "latency_ms_p99_9",
    "latency_ms_max",
    "throughput_ops_per_s",
    "messages_sent",
    "bytes_sent",
    "messages_per_command",
    "fast_paths",
    "slow_paths",
    "fast_path_ratio",
    "commit_ms_mean",
    "commit_ms_p99",
    "execution_wait_ms_mean",
    "execution_wait_ms_p99",
    "dependencies_mean",
    "dependencies_max",
    "consistency",
];

/// CSV columns, units last. Columns after `bytes_sent` describe the whole
/// run (the same on every row); they are empty where the protocol has no
/// such thing (no fast path, no dependencies). `consistency` is the
/// protocol's promise the verdict judged; the outcome counts follow
/// ([`OutcomeColumn::ALL`]; empty when checks were off, except those the
/// engine counts in every run), then `verdict`.
pub fn csv_header() -> Vec<&'static str> {
    CSV_FRONT.into_iter().chain(OutcomeColumn::names()).chain(["verdict"]).collect()
}

/// The CSV text of a run: one row per client region, then `all`.
pub fn csv_text(run: &Run, report: &RunReport) -> Result<Vec<u8>, csv::Error> {
    let mut writer = csv::Writer::from_writer(Vec::new());
    writer.write_record(csv_header())?;
    for record in csv_records(run, report) {
        writer.write_record(&record)?;
    }
    writer.into_inner().map_err(|e| csv::Error::from(e.into_error()))
}

/// The rows of [`csv_text`] (columns of [`csv_header`]), for writers that
/// put more columns in front (scenario sweeps).
pub fn csv_records(run: &Run, report: &RunReport) -> Vec<Vec<String>> {
    let config = &run.config;
    let mut records = Vec::new();
    let leader = config.protocol.leader.map(|p| p.0.to_string()).unwrap_or_default();
    let throughput = report.throughput_milli_ops_per_s();
    let throughput = format!("{}.{:03}", throughput / 1_000, throughput % 1_000);
    let sites = run.site_names().join(";");
    let clients_total: u32 = report.regions.iter().map(|r| r.clients).sum();
    let rows = report.regions.iter().map(|r| (r.region.as_str(), r.clients, &r.latency)).chain(std::iter::once((
        "all",
        clients_total,
        &report.total,
    )));
    let protocol = &report.protocol;
    let per_command = report.messages_per_command_milli();
    let per_command = format!("{}.{:03}", per_command / 1_000, per_command % 1_000);
    let paths = |count: u64| if protocol.fast_path_ratio_ppm().is_some() { count.to_string() } else { String::new() };
    let ratio = protocol.fast_path_ratio_ppm().map(|ppm| format!("{}.{:06}", ppm / 1_000_000, ppm % 1_000_000));
    let latency_ms = |summary: &LatencySummary, ns: u64| {
        if summary.count > 0 { format_ns_as_ms(ns) } else { String::new() }
    };
    let deps = &protocol.dependencies;
    let (deps_mean, deps_max) = if deps.count > 0 {
        (hundredths(protocol.dependencies_mean_centi()), deps.max_ns.to_string())
    } else {
        (String::new(), String::new())
    };
    let verdict = &report.verdict;
    let outcome_cells: Vec<String> =
        verdict.outcome_cells().iter().map(|cell| cell.map(|count| count.to_string()).unwrap_or_default()).collect();
    for (region, clients, latency) in rows {
        let record = [
            run.protocol.as_str(),
            &config.protocol.f.to_string(),
            &config.n().to_string(),
            &leader,
            config.matrix.name(),
            &sites,
            &config.seed.to_string(),
            if config.delay.jitter { "on" } else { "off" },
            region,
            &clients.to_string(),
            &latency.count.to_string(),
            &format_ns_as_ms(latency.mean_ns),
            &format_ns_as_ms(latency.min_ns),
            &format_ns_as_ms(latency.p50_ns),
            &format_ns_as_ms(latency.p95_ns),
            &format_ns_as_ms(latency.p99_ns),
            &format_ns_as_ms(latency.p99_9_ns),
            &format_ns_as_ms(latency.max_ns),
            &throughput,
            &report.messages_sent.to_string(),
            &report.bytes_sent.to_string(),
            &per_command,
            &paths(protocol.fast_paths),
            &paths(protocol.slow_paths),
            ratio.as_deref().unwrap_or(""),
            &latency_ms(&protocol.commit_latency, protocol.commit_latency.mean_ns),
            &latency_ms(&protocol.commit_latency, protocol.commit_latency.p99_ns),
            &latency_ms(&protocol.execution_wait, protocol.execution_wait.mean_ns),
            &latency_ms(&protocol.execution_wait, protocol.execution_wait.p99_ns),
            &deps_mean,
            &deps_max,
            verdict.consistency.as_str(),
        ];
        let verdict_cell = if verdict.passed() { "PASS" } else { "FAIL" };
        records.push(
            record
                .iter()
                .map(|field| field.to_string())
                .chain(outcome_cells.iter().cloned())
                .chain([verdict_cell.to_string()])
                .collect(),
        );
    }
    records
}

/// Writes `bytes` to `path` atomically: a temporary file in the same
/// folder, renamed over `path` only once complete, so an interrupted run
/// never leaves a half-written file.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let folder = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    std::fs::create_dir_all(folder)?;
    let mut file = tempfile::Builder::new().prefix(".planetsim-").suffix(".tmp").tempfile_in(folder)?;
    file.write_all(bytes)?;
    file.as_file().sync_all()?;
    file.persist(path).map_err(|e| e.error)?;
    Ok(())
}

/// Columns of `timeline.csv` after the point and seed: per client region
/// and window, the commands completed and their latency.
pub const TIMELINE_HEADER: [&str; 5] = ["region", "window_start_ms", "commands", "latency_ms_p50", "latency_ms_p99"];

/// Columns of `faults.csv` after the point and seed: per client region,
/// its longest unavailability, then the run's fault counters.
pub const FAULTS_HEADER: [&str; 14] = [
    "region",
    "unavailable_ms",
    "unavailable_from_ms",
    "retries",
    "messages_dropped",
    "messages_duplicated",
    "duplicates_suppressed",
    "stuck_commands",
    "stuck_first",
    "leader_changes",
    "recoveries_started",
    "recoveries_finished",
    "restarts",
    "schedule",
];

/// `timeline.csv` rows of a run with faults (none without).
pub fn timeline_rows(report: &RunReport) -> Vec<Vec<String>> {
    let Some(faults) = &report.faults else { return Vec::new() };
    faults
        .regions
        .iter()
        .flat_map(|region| {
            region.timeline.iter().map(|w| {
                vec![
                    region.region.clone(),
                    format_ns_as_ms(w.start_ns),
                    w.count.to_string(),
                    format_ns_as_ms(w.p50_ns),
                    format_ns_as_ms(w.p99_ns),
                ]
            })
        })
        .collect()
}

/// `faults.csv` rows of a run with faults (none without).
pub fn fault_rows(report: &RunReport) -> Vec<Vec<String>> {
    let Some(faults) = &report.faults else { return Vec::new() };
    let recovery = report.protocol.recovery;
    let stuck: Vec<String> = faults.stuck.iter().map(|id| format!("{}#{}", id.client, id.seq)).collect();
    faults
        .regions
        .iter()
        .map(|region| {
            vec![
                region.region.clone(),
                format_ns_as_ms(region.unavailable_ns),
                format_ns_as_ms(region.unavailable_from_ns),
                faults.retries.to_string(),
                faults.messages_dropped.to_string(),
                faults.messages_duplicated.to_string(),
                faults.duplicates_suppressed.to_string(),
                faults.stuck_count.to_string(),
                stuck.join(" "),
                recovery.leader_changes.to_string(),
                recovery.recoveries_started.to_string(),
                recovery.recoveries_finished.to_string(),
                faults.restarts.to_string(),
                faults.schedule.join("; "),
            ]
        })
        .collect()
}

/// What the faults did, for the terminal (empty without faults).
pub fn fault_summary(report: &RunReport) -> String {
    let Some(faults) = &report.faults else { return String::new() };
    let mut text = String::from("faults:\n");
    for fault in &faults.schedule {
        text.push_str(&format!("  {fault}\n"));
    }
    for region in &faults.regions {
        text.push_str(&format!(
            "  {:<24} longest without a completion {} ms from {} ms\n",
            region.region,
            ms3(region.unavailable_ns),
            ms3(region.unavailable_from_ns)
        ));
    }
    let recovery = report.protocol.recovery;
    text.push_str(&format!(
        "  {} retries | {} messages dropped, {} duplicated | {} re-executions suppressed | leader changes {} | \
         recoveries {} started, {} finished\n",
        faults.retries,
        faults.messages_dropped,
        faults.messages_duplicated,
        faults.duplicates_suppressed,
        recovery.leader_changes,
        recovery.recoveries_started,
        recovery.recoveries_finished
    ));
    if faults.restarts > 0 {
        text.push_str(&format!("  {} restart(s) of crashed processes\n", faults.restarts));
    }
    if faults.stuck_count > 0 {
        let stuck: Vec<String> = faults.stuck.iter().map(|id| format!("{}#{}", id.client, id.seq)).collect();
        text.push_str(&format!("  {} command(s) never completed: {}\n", faults.stuck_count, stuck.join(", ")));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atomic_write_replaces_whole_files_and_leaves_no_temporaries() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nested").join("out.csv");
        write_atomically(&path, b"first").unwrap();
        write_atomically(&path, b"second").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"second");
        let names: Vec<_> =
            std::fs::read_dir(path.parent().unwrap()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names, vec![std::ffi::OsString::from("out.csv")]);
    }

    #[test]
    fn display_rounds_to_the_microsecond() {
        assert_eq!(ms3(139_875_500), "139.876");
        assert_eq!(ms3(0), "0.000");
    }
}
