//! Project automation for planetsim, run as `cargo xtask <command>`.

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
}

fn main() -> ExitCode {
    let result = match Cli::parse().command {
        Command::ImportLatency { folder, out } => import_latency::run(&folder, out.as_deref()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::from(2)
        }
    }
}
