//! `sim`: run a replication protocol on a virtual planet-scale WAN.
//!
//! Exit status: 0 on success, 1 when the run itself failed (clients left
//! waiting at the time limit), 2 on bad input. A broken pipe is success.

use clap::Parser;
use scenarios::cli::{self, Args};
use scenarios::{UserError, output};
use std::io::Write;
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

/// Peak resident memory of this process (Linux: VmHWM).
fn peak_memory() -> Option<String> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|line| line.starts_with("VmHWM:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(format!("{:.1} MiB", kib as f64 / 1024.0))
}
