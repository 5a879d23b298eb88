//! Project automation for planetsim, run as `cargo xtask <command>`.

mod bench;
mod figures;
mod import_latency;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// planetsim project automation.
#[derive(Parser)]
#[command(name = "xtask", bin_name = "cargo xtask")]
struct Cli {
    /// What to do.
    #[command(subcommand)]
    command: Command,
}

/// The xtask subcommands.
#[derive(Subcommand)]
enum Command {
    /// Convert a folder of raw ping measurements (one REGION.dat per source
    /// region, lines MIN/AVG/MAX/MDEV:DEST_REGION) into planetsim's RTT matrix
    /// format.
    ImportLatency {
        /// Folder holding the REGION.dat files, e.g. ../shared/latency-sources/gcp.
        folder: PathBuf,
        /// Output file [default: latency-data/data/<folder name>.csv in the workspace].
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Measure the simulator's own speed: wall time, simulated events/s and
    /// commands/s, peak memory (release build; median of several runs).
    Bench {
        /// Runs per case; the median is reported.
        #[arg(long, default_value_t = 3)]
        repeat: usize,
        /// Run only the cases whose name contains this text (e.g. "tempo").
        #[arg(long)]
        only: Option<String>,
    },
    /// Run every library scenario (release build of sim) and collect all
    /// their figures into one folder, as <scenario>-<figure>.{png,svg}.
    Figures {
        /// Folder for the figures [default: target/figures in the workspace].
        #[arg(long)]
        out: Option<PathBuf>,
    },
}

fn main() -> ExitCode {
    let result = match Cli::parse().command {
        Command::ImportLatency { folder, out } => import_latency::run(&folder, out.as_deref()),
        Command::Bench { repeat, only } => bench::run(&workspace_root(), repeat, only.as_deref()).map_err(Into::into),
        Command::Figures { out } => {
            let root = workspace_root();
            let out = out.unwrap_or_else(|| root.join("target/figures"));
            figures::run(&root, &out).map_err(Into::into)
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::from(2)
        }
    }
}

/// The workspace root: the parent of this crate's folder.
fn workspace_root() -> PathBuf {
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().map(PathBuf::from).unwrap_or(manifest)
}
