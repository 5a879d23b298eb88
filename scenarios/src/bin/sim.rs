//! `sim`: run a replication protocol on a virtual planet-scale WAN.
//!
//! Exit status: 0 on success, 1 when the run itself failed (clients left
//! waiting at the time limit), 2 on bad input. A broken pipe is success.

use clap::Parser;
use scenarios::cli::{self, Args, Command};
use scenarios::scenario::{self, sweep};
use scenarios::{UserError, output};
use std::io::Write;
use std::path::PathBuf;
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
    if let Some(Command::Plot { folder }) = &args.command {
        draw_figures(folder)?;
        return Ok(ExitCode::SUCCESS);
    }
    if args.list_scenarios {
        print!("{}", scenario::list());
        return Ok(ExitCode::SUCCESS);
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
    let csv = output::csv_text(&run, &report).map_err(|e| Failure::Io(std::io::Error::other(e)))?;
    output::write_atomically(&run.out, &csv)
        .map_err(|e| Failure::Io(std::io::Error::new(e.kind(), format!("cannot write {}: {e}", run.out.display()))))?;
    writeln!(stdout, "wrote {}", run.out.display())?;

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
        eprintln!(
            "FAIL: {} of {} commands completed; {} client(s) still waiting at the time limit ({} s simulated)",
            report.total.count, report.commands_expected, report.incomplete_clients, args.max_time_s
        );
        return Ok(ExitCode::from(1));
    }
    Ok(ExitCode::SUCCESS)
}

/// Runs a scenario file or library scenario: prints the seeds and every
/// resolved point, runs them in parallel, prints the summary and writes
/// `runs.csv` and `manifest.json` under `--out`.
fn run_scenario(args: &Args, name: &str) -> Result<ExitCode, Failure> {
    let scenario = scenario::find(name)?;
    let threads = match args.threads {
        Some(0) => return Err(UserError::new("--threads 0: give at least 1 thread").into()),
        Some(n) => n,
        None => std::thread::available_parallelism().map_or(1, |n| n.get()),
    };
    let out = args.out.clone().unwrap_or_else(|| PathBuf::from("results").join(&scenario.name));
    let seeds: Vec<String> = scenario.seeds.iter().map(u64::to_string).collect();
    let mut stdout = std::io::stdout().lock();
    writeln!(
        stdout,
        "planetsim {} | scenario {} ({}) | seeds {} | {} point(s) x {} seed(s) on {threads} thread(s)",
        env!("CARGO_PKG_VERSION"),
        scenario.name,
        scenario.source,
        seeds.join(","),
        scenario.points.len(),
        scenario.seeds.len()
    )?;
    for (i, placement) in scenario.placements.iter().enumerate() {
        writeln!(stdout, "placement #{}: {}", i + 1, placement.join(","))?;
    }
    for point in &scenario.points {
        writeln!(stdout, "point {}: {}", point.index, output::describe(&point.run))?;
    }
    stdout.flush()?;

    let outcomes = sweep::run(&scenario, threads)?;
    writeln!(stdout)?;
    write!(stdout, "{}", sweep::summary(&scenario, &outcomes))?;
    let csv = sweep::runs_csv(&scenario, &outcomes).map_err(|e| Failure::Io(std::io::Error::other(e)))?;
    let cdf = sweep::latency_cdf_csv(&scenario, &outcomes).map_err(|e| Failure::Io(std::io::Error::other(e)))?;
    for (file, bytes) in [("runs.csv", csv), ("latency-cdf.csv", cdf), ("manifest.json", sweep::manifest(&scenario))] {
        let path = out.join(file);
        output::write_atomically(&path, &bytes)
            .map_err(|e| Failure::Io(std::io::Error::new(e.kind(), format!("cannot write {}: {e}", path.display()))))?;
        writeln!(stdout, "wrote {}", path.display())?;
    }
    draw_figures(&out)?;
    let failed = outcomes.iter().filter(|o| !sweep::passed(o)).count();
    if failed > 0 {
        eprintln!("FAIL: {failed} of {} run(s) failed their verdict", outcomes.len());
        return Ok(ExitCode::from(1));
    }
    Ok(ExitCode::SUCCESS)
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
