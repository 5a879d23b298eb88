//! Project automation for planetsim, run as `cargo xtask <command>`.

mod bench;
mod figures;
mod import_latency;
mod swarm;

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
    /// Run seeded random fault schedules (within the protocol's budget,
    /// with contention) and report PASS/FAIL per seed, with the command
    /// that replays each failure.
    Swarm {
        /// Protocol to test.
        #[arg(long)]
        protocol: String,
        /// Number of seeds.
        #[arg(long, default_value_t = 20)]
        seeds: u64,
        /// First seed.
        #[arg(long, default_value_t = 1)]
        first_seed: u64,
        /// Percentage of commands on the hot key.
        #[arg(long, default_value_t = 100.0)]
        conflicts: f64,
        /// Failures tolerated (most crashes drawn).
        #[arg(short, long, default_value_t = 1)]
        f: usize,
        /// Commands per client [default: 20; 5 for 2pc and 3pc].
        #[arg(long)]
        commands_per_client: Option<u64>,
        /// Percentage of read-only commands.
        #[arg(long, default_value_t = 30.0)]
        reads: f64,
        /// Worker threads [default: all cores].
        #[arg(long)]
        threads: Option<usize>,
        /// A protocol option as TOML `NAME=VALUE`, e.g. `reads="lease"`
        /// (repeatable; written under `[options.PROTOCOL]`).
        #[arg(long = "option")]
        protocol_options: Vec<String>,
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
        Command::Swarm {
            protocol,
            seeds,
            first_seed,
            conflicts,
            f,
            commands_per_client,
            reads,
            threads,
            protocol_options,
        } => {
            let threads = threads.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
            let options = swarm::protocol(&protocol).map(|protocol| scenarios::swarm::SwarmOptions {
                protocol,
                seeds: seeds.max(1),
                first_seed,
                conflict_percent: conflicts,
                f,
                commands_per_client: commands_per_client
                    .unwrap_or_else(|| scenarios::swarm::default_commands_per_client(protocol)),
                protocol_options,
                read_percent: reads,
            });
            match options.and_then(|options| swarm::run(&workspace_root(), &options, threads)) {
                Ok(true) => Ok(()),
                Ok(false) => return ExitCode::from(1),
                Err(error) => Err(error.into()),
            }
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
