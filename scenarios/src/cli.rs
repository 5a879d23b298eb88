//! The `sim` command line: what the user typed (`Args`), then a checked
//! [`Run`] (parse first, validate second).

use crate::error::UserError;
use crate::resources::ResourcesSection;
use clap::{Parser, Subcommand, ValueEnum};
use latency_data::Matrix;
use protocols::{ProtocolName, ProtocolOptions};
use sim_core::config::DEFAULT_MAX_TIME_NS;
use sim_core::time::NS_PER_S;
use sim_core::workload::{KeyDistribution, Workload};
use sim_core::{
    Arrivals, BaseDelay, DelayOptions, IntraRegionDelay, ProcessId, ProtocolConfig, RegionId, RunConfig, RunDuration,
};
use std::path::PathBuf;

/// The five GCP sites of the Tempo paper's evaluation (and of the
/// benchmark): one per continent.
pub const DEFAULT_SITES: &str = "asia-south1,europe-north1,southamerica-east1,australia-southeast1,europe-west1";

/// Root seed when none is given.
pub const DEFAULT_SEED: u64 = 1;

/// Fewest sites a run may have: below three, no protocol here tolerates a
/// failure.
pub const MIN_SITES: usize = 3;

/// Flags describing a single run, which a scenario file replaces.
const RUN_FLAGS: [&str; 29] = [
    "cloud",
    "matrix",
    "sites",
    "protocol",
    "f",
    "leader",
    "client_regions",
    "clients_per_region",
    "commands_per_client",
    "duration_s",
    "warmup_s",
    "arrival_rate_per_region",
    "conflict_percent",
    "hot_keys",
    "zipf",
    "key_space",
    "keys_per_command",
    "read_percent",
    "payload_bytes",
    "jitter",
    "base_delay",
    "intra_region_delay",
    "reorder",
    "symmetric",
    "max_time_s",
    "options",
    "check",
    "resources",
    "resource",
];

/// planetsim: how fast is a replication protocol on a planet-scale WAN?
///
/// Runs one protocol on measured inter-region latencies, prints a
/// per-region latency table and writes it as CSV.
#[derive(Clone, Debug, Parser)]
#[command(name = "sim", version, about, long_about = None, max_term_width = 100, args_conflicts_with_subcommands = true)]
pub struct Args {
    /// A subcommand; without one, `sim` runs the flags' run or `--scenario`.
    #[command(subcommand)]
    pub command: Option<Command>,
    /// Built-in RTT matrix.
    #[arg(long, default_value = "gcp", value_name = "NAME")]
    pub cloud: String,
    /// A matrix file in planetsim's format (see latency-data/README.md);
    /// replaces --cloud.
    #[arg(long, value_name = "PATH")]
    pub matrix: Option<PathBuf>,
    /// Regions hosting one process each, comma-separated; process ids
    /// follow this order (p1 is the first).
    #[arg(long, value_name = "REGIONS", default_value = DEFAULT_SITES, value_delimiter = ',')]
    pub sites: Vec<String>,
    /// Protocol to run.
    #[arg(long, default_value = "fpaxos", value_name = "NAME")]
    pub protocol: String,
    /// Crash failures tolerated (1 <= f <= floor(n/2)).
    #[arg(short, long, default_value_t = 1)]
    pub f: usize,
    /// Initial leader: a site's region name or a process id (p2 or 2).
    /// Default: the first site.
    #[arg(long, value_name = "REGION|ID")]
    pub leader: Option<String>,
    /// Regions hosting clients, comma-separated. Default: every site.
    #[arg(long, value_name = "REGIONS", value_delimiter = ',')]
    pub client_regions: Option<Vec<String>>,
    /// Clients in each client region: closed-loop clients, or with
    /// --arrival-rate-per-region the region's connections (an arrival that
    /// finds all of them busy waits, and its latency counts the wait).
    #[arg(long, default_value_t = 32, value_name = "N")]
    pub clients_per_region: u32,
    /// Commands each client issues, one at a time.
    #[arg(long, default_value_t = 100, value_name = "N", conflicts_with = "duration_s")]
    pub commands_per_client: u64,
    /// Run for this much simulated time instead: clients issue commands
    /// until then (those pending complete after it).
    #[arg(long, value_name = "SECONDS")]
    pub duration_s: Option<f64>,
    /// With --duration-s: commands submitted before this time are left out
    /// of the latencies, and throughput is measured from it to the
    /// duration [default: 0].
    #[arg(long, value_name = "SECONDS", requires = "duration_s")]
    pub warmup_s: Option<f64>,
    /// Open loop: commands arrive in each client region as a Poisson
    /// process of this many per second, whatever the replies do (needs
    /// --duration-s). Default: closed loop.
    #[arg(long, value_name = "PER_SECOND", requires = "duration_s")]
    pub arrival_rate_per_region: Option<u64>,
    /// Percentage of keys drawn from the shared hot-key pool.
    #[arg(long, default_value_t = 2.0, value_name = "PERCENT")]
    pub conflict_percent: f64,
    /// Size of the shared hot-key pool.
    #[arg(long, default_value_t = 1, value_name = "N")]
    pub hot_keys: u64,
    /// Draw keys from a Zipf distribution with this exponent instead (with
    /// --key-space).
    #[arg(long, value_name = "EXPONENT")]
    pub zipf: Option<f64>,
    /// Number of keys for --zipf.
    #[arg(long, default_value_t = 1_000_000, value_name = "N")]
    pub key_space: u64,
    /// Distinct keys per command.
    #[arg(long, default_value_t = 1, value_name = "N")]
    pub keys_per_command: usize,
    /// Percentage of read-only commands.
    #[arg(long, default_value_t = 0.0, value_name = "PERCENT")]
    pub read_percent: f64,
    /// Payload bytes per write.
    #[arg(long, default_value_t = 100, value_name = "BYTES")]
    pub payload_bytes: u32,
    /// Root seed of every random stream [default: 1]. With --scenario, it
    /// replaces the scenario's seeds.
    #[arg(long, value_name = "S")]
    pub seed: Option<u64>,
    /// Draw each one-way delay from a distribution fitted to the pair's
    /// min/avg/max/mdev.
    #[arg(long, value_enum, default_value_t = Switch::Off, value_name = "ON|OFF")]
    pub jitter: Switch,
    /// RTT statistic for delays without jitter.
    #[arg(long, value_enum, default_value_t = BaseArg::Avg)]
    pub base_delay: BaseArg,
    /// Delay inside a region (client to its process).
    #[arg(long, value_enum, default_value_t = IntraArg::Measured)]
    pub intra_region_delay: IntraArg,
    /// Let messages on a link overtake each other (links are FIFO otherwise).
    #[arg(long)]
    pub reorder: bool,
    /// Use the mean of both directions for every region pair.
    #[arg(long)]
    pub symmetric: bool,
    /// Check every run's order and linearizability (off: completion only,
    /// to measure the engine alone).
    #[arg(long, value_enum, default_value_t = Switch::On, value_name = "ON|OFF")]
    pub check: Switch,
    /// Stop after this much simulated time, in seconds.
    #[arg(long, default_value_t = DEFAULT_MAX_TIME_NS / NS_PER_S, value_name = "SECONDS")]
    pub max_time_s: u64,
    /// A protocol option, PROTOCOL.NAME=VALUE (a TOML value), e.g.
    /// tempo.nfr=true or tempo.clock_bump_interval_ns=10000000; repeat
    /// for several. The names are those of each protocol's `Options`.
    #[arg(long = "option", value_name = "PROTOCOL.NAME=VALUE")]
    pub options: Vec<String>,
    /// Model each process's CPU cores and NIC (queueing, utilisation,
    /// saturation); off: infinite resources, latency only.
    #[arg(long, value_enum, value_name = "ON|OFF")]
    pub resources: Option<Switch>,
    /// A constant of the resource model, KEY=VALUE, e.g. cores=16 or
    /// nic_out_mbit_per_s=25000 (the keys of a scenario's [resources]
    /// section); repeat for several. Needs --resources on.
    #[arg(long = "resource", value_name = "KEY=VALUE")]
    pub resource: Vec<String>,
    /// A scenario's `[resources]` section (set by scenario files; the
    /// flags above apply on top).
    #[arg(skip)]
    pub resources_section: ResourcesSection,
    /// Where to write: the CSV file of a single run (default
    /// results/latency.csv), or the folder of a scenario's outputs
    /// (default `results/<scenario name>/`). Written atomically.
    #[arg(long, value_name = "PATH")]
    pub out: Option<PathBuf>,
    /// Run a scenario: a TOML file, or the name of a library scenario
    /// (see `sim list`). The file replaces the run flags above
    /// (giving one too is an error); --out and --threads apply.
    // The run flags conflict with it (clap ignores their defaults), so a
    // flag that would be silently overridden by the file is an error.
    #[arg(long, value_name = "PATH|NAME", conflicts_with_all = RUN_FLAGS)]
    pub scenario: Option<String>,
    /// Override a key of the scenario file, KEY=VALUE (a dotted key and a
    /// TOML value, checked as if written in the file), e.g.
    /// `--set workload.conflict_percent=10` or `--set 'f=[1,2]'`; repeat for
    /// several.
    #[arg(long = "set", value_name = "KEY=VALUE", requires = "scenario")]
    pub set: Vec<String>,
    /// Continue an interrupted scenario run in its --out folder: only the
    /// runs not recorded there are run (refused if the scenario, its
    /// overrides or the build changed since).
    #[arg(long, requires = "scenario")]
    pub resume: bool,
    /// Stop a scenario run after this many runs, as if killed: the runs
    /// are recorded for --resume, no output file is written (for tests).
    #[arg(long, hide = true, value_name = "N", requires = "scenario")]
    pub stop_after_runs: Option<usize>,
    /// Old spelling of `sim list`, kept so existing scripts work.
    #[arg(long, hide = true)]
    pub list_scenarios: bool,
    /// Scenario runs executed at once (each run is single-threaded).
    /// Default: the number of available cores.
    #[arg(long, value_name = "N")]
    pub threads: Option<usize>,
    /// Print the simulator's own speed (wall time, events/s, commands/s,
    /// peak memory) to stderr.
    #[arg(long)]
    pub perf: bool,
}

/// What `sim` does besides running (`sim --scenario ...` or a single run
/// from the flags, which need no subcommand).
#[derive(Clone, Debug, Subcommand)]
pub enum Command {
    /// List the library scenarios, each with the question it answers.
    List,
    /// Redraw the figures of a results folder (written by `sim --scenario`)
    /// from its files, into FOLDER/figures/, without re-running anything.
    Plot {
        /// The folder holding runs.csv, latency-cdf.csv and manifest.json.
        folder: PathBuf,
    },
}

/// An on/off setting.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Switch {
    /// Enabled.
    On,
    /// Disabled.
    Off,
}

/// Which RTT statistic gives delays without jitter.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum BaseArg {
    /// Half the mean RTT.
    Avg,
    /// Half the minimum RTT.
    Min,
    /// fantoch's integer model: floor(floor(avg ms) / 2) ms.
    FantochMs,
}

/// Delay inside a region.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum IntraArg {
    /// Half the measured intra-region RTT.
    Measured,
    /// Zero.
    Zero,
}

/// A checked run: everything needed to simulate and to describe it.
#[derive(Clone, Debug)]
pub struct Run {
    /// The protocol.
    pub protocol: ProtocolName,
    /// The engine's configuration.
    pub config: RunConfig,
    /// The protocol's own options.
    pub options: ProtocolOptions,
    /// The options given, as `NAME=VALUE`, for the run's description.
    pub options_given: Vec<String>,
    /// Where to write the CSV.
    pub out: PathBuf,
}

impl Run {
    /// Site names in process order.
    pub fn site_names(&self) -> Vec<&str> {
        self.config.sites.iter().map(|r| self.config.matrix.regions()[r.index()].as_str()).collect()
    }
}

/// Default CSV path of a single run.
pub const DEFAULT_OUT: &str = "results/latency.csv";

/// Validates `args` into a run; every problem is reported with what would
/// be valid.
pub fn resolve(args: &Args) -> Result<Run, UserError> {
    let (protocol, config) = resolve_config(args)?;
    let (options, options_given) = protocol_options(protocol, &args.options)?;
    protocol
        .check_options(config.sites.len(), args.f, &options)
        .map_err(|e| UserError::new(format!("--option {e} ({protocol} on {} sites)", config.sites.len())))?;
    let out = args.out.clone().unwrap_or_else(|| PathBuf::from(DEFAULT_OUT));
    Ok(Run { protocol, config, options, options_given, out })
}

/// Validates everything of `args` but the protocol options (`--option`)
/// and the output path: the checks shared by single runs and scenario
/// files, which build one `Args` per sweep point and supply their options
/// as a TOML table.
pub fn resolve_config(args: &Args) -> Result<(ProtocolName, RunConfig), UserError> {
    let protocol: ProtocolName =
        args.protocol.parse().map_err(|e: protocols::UnknownProtocol| UserError::new(e.to_string()))?;
    let matrix = match &args.matrix {
        Some(path) => Matrix::from_file(path)?,
        None => Matrix::builtin(&args.cloud)?,
    };
    let sites = regions(&matrix, &args.sites, "--sites")?;
    if sites.len() < MIN_SITES {
        return Err(UserError::new(format!(
            "--sites names {} site(s); give at least {MIN_SITES} regions, comma-separated, e.g. --sites {}",
            sites.len(),
            "us-central1,europe-west1,asia-east1"
        )));
    }
    let n = sites.len();
    protocol.check(n, args.f).map_err(|e| UserError::new(format!("--f: {e} ({protocol} on {n} sites)")))?;
    let leader = match &args.leader {
        Some(leader) => Some(resolve_leader(&matrix, &sites, leader)?),
        None => protocol.has_leader().then_some(ProcessId(1)),
    };
    let mut client_regions = match &args.client_regions {
        Some(names) => regions(&matrix, names, "--client-regions")?,
        None => sites.clone(),
    };
    dedup_keep_order(&mut client_regions);
    let mut config = RunConfig::new(matrix, sites);
    config.protocol = ProtocolConfig { f: args.f, leader, ..ProtocolConfig::default() };
    config.client_regions = client_regions;
    config.clients_per_region = args.clients_per_region;
    config.commands_per_client = args.commands_per_client;
    config.duration = duration(args)?;
    config.arrivals = match args.arrival_rate_per_region {
        None => Arrivals::Closed,
        Some(0) => {
            return Err(UserError::new(
                "--arrival-rate-per-region 0: give at least 1 command per second per region, or leave it out \
                 for closed-loop clients",
            ));
        }
        Some(per_region_per_s) => Arrivals::Poisson { per_region_per_s },
    };
    config.workload = workload(args)?;
    config.delay = DelayOptions {
        base: match args.base_delay {
            BaseArg::Avg => BaseDelay::Avg,
            BaseArg::Min => BaseDelay::Min,
            BaseArg::FantochMs => BaseDelay::FantochMs,
        },
        jitter: args.jitter == Switch::On,
        intra_region: match args.intra_region_delay {
            IntraArg::Measured => IntraRegionDelay::Measured,
            IntraArg::Zero => IntraRegionDelay::Zero,
        },
        reorder: args.reorder,
        symmetric: args.symmetric,
    };
    config.seed = args.seed.unwrap_or(DEFAULT_SEED);
    config.checks = args.check == Switch::On;
    if args.max_time_s == 0 {
        return Err(UserError::new("--max-time-s is 0: give a positive number of simulated seconds"));
    }
    config.max_time_ns = args.max_time_s.saturating_mul(NS_PER_S);
    config.resources = resource_model(args)?;
    config.check().map_err(|e| UserError::new(flag_named(&e.0)))?;
    Ok((protocol, config))
}

/// Parses `--option PROTOCOL.NAME=VALUE` flags as one TOML table of the
/// run's protocol; returns the options and the `NAME=VALUE` pairs.
fn protocol_options(protocol: ProtocolName, given: &[String]) -> Result<(ProtocolOptions, Vec<String>), UserError> {
    let mut lines = Vec::new();
    for option in given {
        let malformed = || {
            UserError::new(format!(
                "--option \"{option}\": expected PROTOCOL.NAME=VALUE, e.g. --option {protocol}.NAME=true"
            ))
        };
        let (path, value) = option.split_once('=').ok_or_else(malformed)?;
        let (table, name) = path.trim().split_once('.').ok_or_else(malformed)?;
        if table != protocol.as_str() {
            return Err(UserError::new(format!(
                "--option \"{option}\" is for {table}, but the protocol is {protocol}; \
                 write --option {protocol}.NAME=VALUE"
            )));
        }
        lines.push(format!("{}={}", name.trim(), value.trim()));
    }
    if lines.is_empty() {
        return Ok((ProtocolOptions::default(), lines));
    }
    let document = format!("[{protocol}]\n{}\n", lines.join("\n"));
    let options = toml::from_str(&document)
        .map_err(|e: toml::de::Error| UserError::new(format!("--option for {protocol}: {}", e.message().trim_end())))?;
    Ok((options, lines))
}

/// The resource model: the scenario's section, then `--resource` flags,
/// switched by `--resources` (which overrides the section's `enabled`).
fn resource_model(args: &Args) -> Result<Option<sim_core::ResourceModel>, UserError> {
    let mut section = args.resources_section.with_flags(&args.resource)?;
    if let Some(switch) = args.resources {
        section.enabled = Some(switch == Switch::On);
    }
    if !args.resource.is_empty() && section.enabled != Some(true) {
        return Err(UserError::new("--resource sets the resource model, which is off: add --resources on"));
    }
    section.model()
}

/// `--duration-s` and `--warmup-s` in nanoseconds (rounded to the
/// nearest); their order and the time limit are checked with the rest of
/// the configuration.
fn duration(args: &Args) -> Result<Option<RunDuration>, UserError> {
    let nanoseconds = |seconds: f64, flag: &str, positive: bool| {
        let valid = seconds.is_finite() && seconds >= 0.0 && (seconds > 0.0 || !positive) && seconds < 1e9;
        if valid {
            Ok((seconds * NS_PER_S as f64).round() as u64)
        } else {
            let what = if positive { "a positive" } else { "a non-negative" };
            Err(UserError::new(format!("{flag} {seconds}: give {what} number of simulated seconds")))
        }
    };
    match (args.duration_s, args.warmup_s) {
        (None, None) => Ok(None),
        (None, Some(_)) => Err(UserError::new("--warmup-s needs --duration-s: a warm-up is part of a duration run")),
        (Some(duration), warmup) => Ok(Some(RunDuration {
            duration_ns: nanoseconds(duration, "--duration-s", true)?,
            warmup_ns: nanoseconds(warmup.unwrap_or(0.0), "--warmup-s", false)?,
        })),
    }
}

fn workload(args: &Args) -> Result<Workload, UserError> {
    let percent = |value: f64, flag: &str| {
        if value.is_finite() && (0.0..=100.0).contains(&value) {
            Ok(value / 100.0)
        } else {
            Err(UserError::new(format!("{flag} {value} is not a percentage: give a number from 0 to 100")))
        }
    };
    let keys = match args.zipf {
        Some(exponent) => KeyDistribution::Zipf { exponent, key_space: args.key_space },
        None => KeyDistribution::ConflictPool {
            conflict_rate: percent(args.conflict_percent, "--conflict-percent")?,
            hot_keys: args.hot_keys,
        },
    };
    Ok(Workload {
        keys,
        keys_per_command: args.keys_per_command,
        read_ratio: percent(args.read_percent, "--read-percent")?,
        payload_bytes: args.payload_bytes,
    })
}

/// Names the flag behind an engine configuration error.
fn flag_named(message: &str) -> String {
    const FLAGS: [(&str, &str); 8] = [
        ("clients per region", "--clients-per-region"),
        ("commands per client", "--commands-per-client"),
        ("keys per command", "--keys-per-command"),
        ("hot-key pool", "--hot-keys"),
        ("zipf", "--zipf/--key-space"),
        ("leader", "--leader"),
        // Before "duration": the warm-up's message names both.
        ("warm-up", "--warmup-s"),
        ("duration", "--duration-s"),
    ];
    match FLAGS.iter().find(|(topic, _)| message.contains(topic)) {
        Some((_, flag)) => format!("{flag}: {message}"),
        None => message.to_string(),
    }
}

fn regions(matrix: &Matrix, names: &[String], flag: &str) -> Result<Vec<RegionId>, UserError> {
    names
        .iter()
        .map(|name| name.trim())
        .filter(|name| !name.is_empty())
        .map(|name| {
            let index = matrix.region_index(name).map_err(|e| UserError::new(format!("{flag}: {e}")))?;
            Ok(RegionId(u16::try_from(index).expect("matrices have fewer than 65536 regions")))
        })
        .collect()
}

fn resolve_leader(matrix: &Matrix, sites: &[RegionId], leader: &str) -> Result<ProcessId, UserError> {
    let n = sites.len();
    let invalid = || {
        let names: Vec<String> =
            sites.iter().enumerate().map(|(i, r)| format!("p{} ({})", i + 1, matrix.regions()[r.index()])).collect();
        UserError::new(format!("--leader \"{leader}\" is not one of the sites; valid: {}", names.join(", ")))
    };
    let digits = leader.strip_prefix('p').unwrap_or(leader);
    if let Ok(id) = digits.parse::<u32>() {
        return if (1..=n as u32).contains(&id) { Ok(ProcessId(id)) } else { Err(invalid()) };
    }
    let index = matrix.region_index(leader).map_err(|e| UserError::new(format!("--leader: {e}")))?;
    sites.iter().position(|r| r.index() == index).map(ProcessId::from_index).ok_or_else(invalid)
}

fn dedup_keep_order(regions: &mut Vec<RegionId>) {
    let mut seen = std::collections::BTreeSet::new();
    regions.retain(|r| seen.insert(*r));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(extra: &[&str]) -> Result<Run, UserError> {
        let args = Args::try_parse_from(std::iter::once("sim").chain(extra.iter().copied())).expect("parses");
        resolve(&args)
    }

    #[test]
    fn defaults_resolve() {
        let run = parse(&[]).expect("defaults are valid");
        assert_eq!(run.site_names(), DEFAULT_SITES.split(',').collect::<Vec<_>>());
        assert_eq!(run.config.protocol.leader, Some(ProcessId(1)));
        assert_eq!(run.config.client_regions, run.config.sites);
    }

    /// VR's reconfiguration plan is checked against the sites: a clear
    /// error, not a panic in the run.
    #[test]
    fn vr_reconfiguration_options_are_checked_against_the_sites() {
        let error = |extra: &[&str]| match parse(&[&["--protocol", "vr"][..], extra].concat()) {
            Ok(_) => panic!("expected an error for {extra:?}"),
            Err(e) => e.0,
        };
        let plan = ["--option", "vr.reconfigure_at_ms=2000", "--option", "vr.new_members=[2,3,4]"];
        let initial = ["--option", "vr.initial_members=[0,1,2]"];
        assert!(parse(&[&["--protocol", "vr"][..], &plan[..], &initial[..]].concat()).is_ok());
        let small = error(&["--option", "vr.reconfigure_at_ms=1", "--option", "vr.new_members=[3,4]"]);
        assert!(small.contains("at least 3 members") && small.contains("vr on 5 sites"), "{small}");
        let unknown = error(&["--option", "vr.initial_members=[0,1,5]"]);
        assert!(unknown.contains("process index 5 is unknown"), "{unknown}");
        let f = error(&["--f", "2", "--option", "vr.initial_members=[0,1,2]"]);
        assert!(f.contains("f = 2 is too large for 3 members"), "{f}");
    }

    /// Raft's membership plan is checked against the sites too.
    #[test]
    fn raft_membership_options_are_checked_against_the_sites() {
        let run = |extra: &[&str]| parse(&[&["--protocol", "raft"][..], extra].concat());
        let initial = ["--option", "raft.initial_members=[0,1,2]"];
        let plan = ["--option", "raft.membership_changes=[{at_ms=1000,add=3},{at_ms=2500,remove=0}]"];
        assert!(run(&[&initial[..], &plan[..]].concat()).is_ok());
        let twice = run(&[&initial[..], &["--option", "raft.membership_changes=[{at_ms=1,add=2}]"]].concat());
        let twice = twice.expect_err("adds a member").0;
        assert!(twice.contains("already a member") && twice.contains("raft on 5 sites"), "{twice}");
        let unknown = run(&["--option", "raft.membership_changes=[{at_ms=1,remove=5}]"]).expect_err("unknown").0;
        assert!(unknown.contains("process index 5 is unknown"), "{unknown}");
        let small = run(&[&initial[..], &["--option", "raft.membership_changes=[{at_ms=1,remove=0}]"]].concat());
        assert!(small.expect_err("too small").0.contains("f = 1 needs at least 3"));
    }

    #[test]
    fn leader_by_name_or_id() {
        let sites = ["--sites", "us-central1,europe-west1,asia-east1"];
        let by_name = parse(&[&sites[..], &["--leader", "asia-east1"]].concat()).unwrap();
        assert_eq!(by_name.config.protocol.leader, Some(ProcessId(3)));
        let by_id = parse(&[&sites[..], &["--leader", "p2"]].concat()).unwrap();
        assert_eq!(by_id.config.protocol.leader, Some(ProcessId(2)));
        let error = parse(&[&sites[..], &["--leader", "us-west1"]].concat()).unwrap_err();
        assert!(error.0.contains("p1 (us-central1)"), "{error}");
    }

    #[test]
    fn bad_values_name_the_flag() {
        let error = parse(&["--conflict-percent", "150"]).unwrap_err();
        assert!(error.0.starts_with("--conflict-percent 150"), "{error}");
        let error = parse(&["--commands-per-client", "0"]).unwrap_err();
        assert!(error.0.starts_with("--commands-per-client"), "{error}");
        let error = parse(&["--keys-per-command", "2", "--conflict-percent", "100"]).unwrap_err();
        assert!(error.0.starts_with("--keys-per-command"), "{error}");
    }
}
