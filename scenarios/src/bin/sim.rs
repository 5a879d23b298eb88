//! `sim`: run a replication protocol on a virtual planet-scale WAN.
//!
//! Exit status: 0 on success, 1 when the run itself failed (clients left
//! waiting at the time limit), 2 on bad input. A broken pipe is success.

use clap::Parser;
use scenarios::cli::{self, Args, Command};
use scenarios::progress::Progress;
use scenarios::scenario::journal::{Journal, ResumeError};
use scenarios::scenario::record::RunRecord;
use scenarios::scenario::{self, Override, Scenario, comparison, results, sweep};
use scenarios::{UserError, output, resources};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

fn main() -> ExitCode {
    let args = Args::parse();
    match run(&args) {
        Ok(code) => code,
        Err(Failure::Input(error)) => {
            eprintln!("error: {error}");
            ExitCode::from(2)
        }
        Err(Failure::Io(error)) if error.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(Failure::Io(error)) => {
            eprintln!("error: {error}");
            ExitCode::from(2)
        }
    }
}

enum Failure {
    Input(UserError),
    Io(std::io::Error),
}

impl From<UserError> for Failure {
    fn from(error: UserError) -> Self {
        Failure::Input(error)
    }
}

impl From<std::io::Error> for Failure {
    fn from(error: std::io::Error) -> Self {
        Failure::Io(error)
    }
}

fn run(args: &Args) -> Result<ExitCode, Failure> {
    match &args.command {
        Some(Command::List) => {
            print!("{}", scenario::list());
            return Ok(ExitCode::SUCCESS);
        }
        Some(Command::Plot { folder }) => {
            draw_figures(folder)?;
            return Ok(ExitCode::SUCCESS);
        }
        None if args.list_scenarios => {
            print!("{}", scenario::list());
            return Ok(ExitCode::SUCCESS);
        }
        None => {}
    }
    if let Some(name) = &args.scenario {
        return run_scenario(args, name);
    }
    let run = cli::resolve(args)?;
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "planetsim {} | seed {}", env!("CARGO_PKG_VERSION"), run.config.seed)?;
    writeln!(stdout, "{}", output::describe(&run))?;
    stdout.flush()?;

    #[allow(clippy::disallowed_methods)]
    // wall time of the simulator itself, reported on stderr only
    let started = std::time::Instant::now();
    let report = run.protocol.run_with(&run.config, &run.options);
    let wall = started.elapsed();

    writeln!(stdout)?;
    write!(stdout, "{}", output::table(&report))?;
    write!(stdout, "{}", output::fault_summary(&report))?;
    let csv = output::csv_text(&run, &report).map_err(|e| Failure::Io(std::io::Error::other(e)))?;
    output::write_atomically(&run.out, &csv)
        .map_err(|e| Failure::Io(std::io::Error::new(e.kind(), format!("cannot write {}: {e}", run.out.display()))))?;
    writeln!(stdout, "wrote {}", run.out.display())?;
    if report.resources.is_some() {
        write!(stdout, "{}", resources::table(&report))?;
        let path = resources::csv_path(&run.out);
        let csv = resources::csv_text(&report).map_err(|e| Failure::Io(std::io::Error::other(e)))?;
        output::write_atomically(&path, &csv)
            .map_err(|e| Failure::Io(std::io::Error::new(e.kind(), format!("cannot write {}: {e}", path.display()))))?;
        writeln!(stdout, "wrote {}", path.display())?;
    }

    if args.perf {
        let seconds = wall.as_secs_f64().max(1e-9);
        eprintln!(
            "perf: wall {:.3} s | {} events ({:.2} M events/s) | {} commands ({:.0} commands/s) | peak memory {}",
            seconds,
            report.events,
            report.events as f64 / seconds / 1e6,
            report.total.count,
            report.total.count as f64 / seconds,
            peak_memory().unwrap_or_else(|| "unknown on this platform".into())
        );
    }
    if report.incomplete_clients > 0 {
        if let Some(faults) = &report.faults {
            let stuck: Vec<String> = faults.stuck.iter().map(|id| format!("{}#{}", id.client, id.seq)).collect();
            eprintln!("stuck commands ({} in all): {}", faults.stuck_count, stuck.join(", "));
        }
        eprintln!(
            "FAIL: {} of {} commands completed; {} client(s) still waiting at the time limit ({} s simulated)",
            report.commands_completed, report.commands_expected, report.incomplete_clients, args.max_time_s
        );
        return Ok(ExitCode::from(1));
    }
    Ok(ExitCode::SUCCESS)
}

/// Runs a scenario file or library scenario: prints the seeds and every
/// resolved point, runs them in parallel with progress on stderr, prints
/// the per-point summary and writes `runs.csv`, `summary.csv` and
/// `manifest.json` under `--out`.
fn run_scenario(args: &Args, name: &str) -> Result<ExitCode, Failure> {
    let mut overrides = args.set.iter().map(|given| Override::parse_set(given)).collect::<Result<Vec<_>, _>>()?;
    overrides.extend(args.seed.map(Override::seed));
    let scenario = scenario::find(name, &overrides)?;
    let threads = match args.threads {
        Some(0) => return Err(UserError::new("--threads 0: give at least 1 thread").into()),
        Some(n) => n,
        None => std::thread::available_parallelism().map_or(1, |n| n.get()),
    };
    let pool = sweep::pool(threads)?;
    let out = args.out.clone().unwrap_or_else(|| PathBuf::from("results").join(&scenario.name));
    let seeds: Vec<String> = scenario.seeds.iter().map(u64::to_string).collect();
    let mut stdout = std::io::stdout().lock();
    writeln!(
        stdout,
        "planetsim {} (git {}) | scenario {} ({}) | seeds {} | {} point(s) x {} seed(s) on {threads} thread(s)",
        env!("CARGO_PKG_VERSION"),
        short_revision(),
        scenario.name,
        scenario.source,
        seeds.join(","),
        scenario.points.len(),
        scenario.seeds.len()
    )?;
    if !scenario.overrides.is_empty() {
        writeln!(stdout, "overrides: {}", scenario.overrides.join(" "))?;
    }
    for (i, placement) in scenario.placements.iter().enumerate() {
        writeln!(stdout, "placement #{}: {}", i + 1, placement.join(","))?;
    }
    for point in &scenario.points {
        let variant = match point.with_faults {
            Some(true) => " | with the faults",
            Some(false) => " | without faults",
            None => "",
        };
        writeln!(stdout, "point {}: {}{variant}", point.index, output::describe(&point.run))?;
    }
    for why in &scenario.skipped {
        writeln!(stdout, "skipped: {why}")?;
    }
    stdout.flush()?;

    let (journal, mut records) = open_journal(args, &out, &scenario)?;
    let all_jobs = sweep::jobs(&scenario);
    let done: std::collections::BTreeSet<sweep::Job> = records.iter().map(|r| (r.point, r.seed)).collect();
    let mut jobs: Vec<sweep::Job> = all_jobs.iter().copied().filter(|job| !done.contains(job)).collect();
    let stop_early = args.stop_after_runs.is_some_and(|n| n < jobs.len());
    jobs.truncate(args.stop_after_runs.unwrap_or(usize::MAX));
    let progress = Progress::new(all_jobs.len(), records.len());
    let fresh = sweep::run(&scenario, &pool, &jobs, |record| {
        journal.record(record).map_err(|e| {
            std::io::Error::new(e.kind(), format!("cannot record a finished run under {}: {e}", out.display()))
        })?;
        progress.run_done(record.point, record.seed);
        Ok::<(), std::io::Error>(())
    })?;
    progress.finish();
    if stop_early {
        eprintln!(
            "stopped after {} run(s) as asked (--stop-after-runs); --resume runs the other {}",
            jobs.len(),
            all_jobs.len() - records.len() - jobs.len()
        );
        return Ok(ExitCode::SUCCESS);
    }
    records.extend(fresh);
    sweep::sort(&scenario, &mut records);

    let summaries = results::summarize(&scenario, &records);
    writeln!(stdout)?;
    write!(stdout, "{}", results::table(&summaries))?;
    write!(stdout, "{}", results::outcomes_table(&summaries))?;
    let csv_error = |e: csv::Error| Failure::Io(std::io::Error::other(e));
    let files = [
        results::runs_csv(&records).map_err(csv_error)?,
        results::summary_csv(&summaries).map_err(csv_error)?,
        results::latency_cdf_csv(&scenario, &records).map_err(csv_error)?,
        results::manifest(&scenario),
    ];
    let fault_files = results::fault_csvs(&records).map_err(csv_error)?;
    let fault_files = fault_files.into_iter().flat_map(|files| FAULT_OUTPUT_FILES.into_iter().zip(files));
    for (file, bytes) in OUTPUT_FILES.into_iter().zip(files).chain(fault_files) {
        let path = out.join(file);
        output::write_atomically(&path, &bytes)
            .map_err(|e| Failure::Io(std::io::Error::new(e.kind(), format!("cannot write {}: {e}", path.display()))))?;
        writeln!(stdout, "wrote {}", path.display())?;
    }
    let comparison = comparison::compare(&summaries);
    if !comparison.is_empty() {
        writeln!(stdout, "\nwithout faults (latency at the lightest load, peak throughput) and with them:")?;
        write!(stdout, "{}", comparison::table(&comparison))?;
        let path = out.join(COMPARISON_FILE);
        let bytes = comparison::comparison_csv(&comparison).map_err(csv_error)?;
        output::write_atomically(&path, &bytes)
            .map_err(|e| Failure::Io(std::io::Error::new(e.kind(), format!("cannot write {}: {e}", path.display()))))?;
        writeln!(stdout, "wrote {}", path.display())?;
    }
    if let Some(bytes) = results::resources_csv(&records).map_err(csv_error)? {
        let path = out.join(RESOURCES_FILE);
        output::write_atomically(&path, &bytes)
            .map_err(|e| Failure::Io(std::io::Error::new(e.kind(), format!("cannot write {}: {e}", path.display()))))?;
        writeln!(stdout, "wrote {}", path.display())?;
    }
    draw_figures(&out)?;
    let failed = records.iter().filter(|r| !r.totals.passed).count();
    if failed > 0 {
        eprintln!("FAIL: {failed} of {} run(s) failed their verdict", records.len());
        return Ok(ExitCode::from(1));
    }
    Ok(ExitCode::SUCCESS)
}

/// The sweep's journal in `out` and the records it already holds: those
/// of an interrupted run of the same scenario with `--resume`, none
/// otherwise (a new journal replaces any earlier one).
fn open_journal(args: &Args, out: &Path, scenario: &Scenario) -> Result<(Journal, Vec<RunRecord>), Failure> {
    if args.resume {
        match Journal::resume(out, scenario) {
            Ok(Some(resumed)) => {
                for path in &resumed.unreadable {
                    eprintln!("warning: {} cannot be read; its run is done again", path.display());
                }
                eprintln!(
                    "resuming: {} of {} run(s) already done in {}",
                    resumed.records.len(),
                    scenario.points.len() * scenario.seeds.len(),
                    out.display()
                );
                return Ok((resumed.journal, resumed.records));
            }
            Ok(None) => eprintln!("--resume: nothing to resume in {}; running every point", out.display()),
            Err(ResumeError::Changed(error)) => return Err(error.into()),
            Err(ResumeError::Io(error)) => return Err(error.into()),
        }
    }
    // The outputs of an earlier sweep would not match the new journal.
    for file in OUTPUT_FILES.into_iter().chain([RESOURCES_FILE]).chain(FAULT_OUTPUT_FILES) {
        match std::fs::remove_file(out.join(file)) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e.into()),
            _ => {}
        }
    }
    Ok((Journal::create(out, scenario)?, Vec::new()))
}

/// The files a finished sweep writes in its output folder (figures apart).
const OUTPUT_FILES: [&str; 4] = ["runs.csv", "summary.csv", "latency-cdf.csv", "manifest.json"];

/// Per (point, seed) and process, what the CPU and NIC model measured;
/// written only when some run had the model on.
const RESOURCES_FILE: &str = "resources.csv";

/// Per protocol, failure-free latency and peak throughput next to the
/// unavailability under faults; written by sweeps with `with_faults =
/// [false, true]`.
const COMPARISON_FILE: &str = "comparison.csv";

/// The files a finished sweep with faults writes too.
const FAULT_OUTPUT_FILES: [&str; 2] = ["timeline.csv", "faults.csv"];

/// The first 12 characters of the git revision (all of "unknown").
fn short_revision() -> &'static str {
    scenarios::GIT_REVISION.get(..12).unwrap_or(scenarios::GIT_REVISION)
}

/// Draws every figure the results in `folder` support into
/// `folder/figures/` and says what it drew and skipped.
fn draw_figures(folder: &std::path::Path) -> Result<(), Failure> {
    let drawn = plots::draw_all(folder).map_err(|e| UserError::new(e.to_string()))?;
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "drew {} figure(s) as SVG and PNG in {}", drawn.files.len() / 2, drawn.folder.display())?;
    for skipped in &drawn.skipped {
        writeln!(stdout, "  skipped {skipped}")?;
    }
    Ok(())
}

/// Peak resident memory of this process (Linux: VmHWM).
fn peak_memory() -> Option<String> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|line| line.starts_with("VmHWM:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(format!("{:.1} MiB", kib as f64 / 1024.0))
}
