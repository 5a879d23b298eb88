//! Fault swarms: many seeded runs of one protocol under random faults
//! within a budget, with contention; each failure replays exactly with
//! `sim --scenario FILE --seed S`.
//!
//! A swarm is a scenario file (written out, so replays use the same
//! text) whose `[random_faults]` draw a different schedule per seed. What
//! is drawn depends on what the protocol recovers from
//! ([`ProtocolName::recovers`]): crashes (at most `f`, for good),
//! partitions that heal, slow links, loss and duplication for a protocol
//! with recovery; slow links only for the others (they assume reliable
//! links and no crash), and the swarm says so rather than report a PASS
//! for what it did not test.

use crate::error::UserError;
use crate::scenario::{self, Scenario};
use protocols::ProtocolName;
use rayon::prelude::*;
use sim_core::verdict::{Check, Consistency, FaultClass, OutcomeKind};
use std::path::Path;

/// What to run.
#[derive(Clone, Debug)]
pub struct SwarmOptions {
    /// The protocol.
    pub protocol: ProtocolName,
    /// Seeds `first_seed .. first_seed + seeds`.
    pub seeds: u64,
    /// The first seed.
    pub first_seed: u64,
    /// Percentage of commands on the one hot key.
    pub conflict_percent: f64,
    /// Failures tolerated (and most crashes drawn).
    pub f: usize,
    /// Commands each client issues.
    pub commands_per_client: u64,
    /// The protocol's options, as `NAME = VALUE` lines of TOML (e.g.
    /// `reads = "lease"`), written under `[options.PROTOCOL]`.
    pub protocol_options: Vec<String>,
    /// Percentage of read-only commands (30 by default; 0 for a protocol
    /// whose local reads are not linearizable, such as deferred update
    /// replication, to check what it promises for updates).
    pub read_percent: f64,
}

/// One failing seed.
#[derive(Clone, Debug)]
pub struct SwarmFailure {
    /// The seed.
    pub seed: u64,
    /// The verdict, first line.
    pub verdict: String,
    /// The fault schedule drawn.
    pub schedule: Vec<String>,
}

/// What a swarm found.
#[derive(Clone, Debug)]
pub struct SwarmResult {
    /// Runs that passed.
    pub passed: u64,
    /// Of those, runs left with commands unanswered at the time limit
    /// that the protocol's promise excuses (2PC blocking after a
    /// coordinator crash): measured, not failed.
    pub blocked: u64,
    /// Runs where more than f replicas of a protocol whose crash loses
    /// its state were without it at once (Unrecoverable, vr.md §1):
    /// beyond the budget the schedule is meant to keep to.
    pub unrecoverable: u64,
    /// Runs that failed, by seed.
    pub failed: Vec<SwarmFailure>,
    /// The faults drawn, in words.
    pub tested: String,
    /// What was not tested, in words (empty if everything was).
    pub not_tested: String,
    /// The promise the verdict held the runs to, with what it leaves
    /// unchecked under faults (e.g. asynchronous primary/backup loses
    /// writes on failover by design: measured, not failed).
    pub checked: String,
}

/// `label`, and what it does not promise in a run with faults.
fn promise_in_words(label: Consistency) -> String {
    let checks = [
        (Check::Order, "replica order"),
        (Check::Execution, "execution"),
        (Check::Linearizability, "linearizability"),
        (Check::Completion, "completion"),
    ];
    let mut waived: Vec<String> = checks
        .iter()
        .filter(|(check, _)| !label.promises(*check, FaultClass::Network))
        .map(|(_, name)| name.to_string())
        .collect();
    waived.extend(
        OutcomeKind::ALL
            .iter()
            .filter(|&&kind| !label.promises(Check::Outcome(kind), FaultClass::Network))
            .map(|kind| format!("{kind:?} events")),
    );
    if waived.is_empty() {
        format!("{label} (every check)")
    } else {
        format!("{label}; under faults not failed on (measured only): {}", waived.join(", "))
    }
}

/// The swarm's scenario file text.
pub fn scenario_text(options: &SwarmOptions) -> String {
    let recovers = options.protocol.recovers();
    let faults = if recovers {
        "max_crashed = \"f\"\npartitions = true\nslow_links = true\nmax_loss = 0.05\nmax_duplicate = 0.05\n"
    } else {
        "max_crashed = 0\npartitions = false\nslow_links = true\n"
    };
    let restarts = match options.protocol.restart_grace_ns() {
        _ if !recovers || !options.protocol.restarts() => String::new(),
        0 => "restarts = true\n".into(),
        // A restarted process out of service until it recovered counts
        // against the crash budget until then.
        grace_ns => format!("restarts = true\nrestart_grace_s = {}\n", grace_ns as f64 / 1e9),
    };
    let protocol_options = if options.protocol_options.is_empty() {
        String::new()
    } else {
        format!("\n[options.{}]\n{}\n", options.protocol, options.protocol_options.join("\n"))
    };
    format!(
        "# Swarm: does {protocol} stay safe and live under random faults within its budget, at {conflicts}% conflicts?\n\
         protocols = \"{protocol}\"\n\
         f = {f}\n\
         clients_per_region = 3\n\
         commands_per_client = {commands}\n\
         max_time_s = 120\n\
         seeds = [{seed}]\n\
         \n[workload]\nconflict_percent = {conflicts}\nread_percent = {reads}\n\
         \n[delay]\njitter = true\nreorder = true\n\
         \n[random_faults]\ncount = 4\nhorizon_s = 5\nmax_duration_s = 2\n{faults}{restarts}{protocol_options}",
        protocol = options.protocol,
        conflicts = options.conflict_percent,
        f = options.f,
        commands = options.commands_per_client,
        reads = options.read_percent,
        seed = options.first_seed,
    )
}

/// Why the swarm draws no crashes or partitions for `protocol`.
fn why_no_faults(protocol: ProtocolName) -> String {
    match protocol {
        // Random crashes would mostly measure the blocking the label
        // allows, and 3PC is unsafe under partitions by design; their
        // fault tests (protocols/tests/faults.rs) pick the cases instead.
        ProtocolName::TwoPc => {
            "2pc blocks after a coordinator crash by design (its fault tests cover the cases)".into()
        }
        ProtocolName::ThreePc => "3pc diverges under partitions by design (its fault tests cover the cases)".into(),
        _ => format!("{protocol} has no recovery yet"),
    }
}

/// Commands per client when the user names none: 20, but 5 for 2PC and
/// 3PC, whose no-wait locks commit about two commands a second on one hot
/// key across the WAN (aborts and back-offs), so 20 per client do not
/// fit the swarm's time limit at 100% conflicts even without faults.
pub fn default_commands_per_client(protocol: ProtocolName) -> u64 {
    match protocol {
        ProtocolName::TwoPc | ProtocolName::ThreePc => 5,
        _ => 20,
    }
}

/// Loads the swarm's scenario from its text (as `sim` would from `path`).
pub fn load(options: &SwarmOptions, path: &Path) -> Result<Scenario, UserError> {
    let text = scenario_text(options);
    let name = path.file_stem().map_or_else(|| "swarm".into(), |s| s.to_string_lossy().into_owned());
    scenario::validate::load(&name, &path.display().to_string(), &text, Path::new("."))
}

/// Runs every seed of the swarm on `pool`.
pub fn run(options: &SwarmOptions, scenario: &Scenario, pool: &rayon::ThreadPool) -> SwarmResult {
    let point = &scenario.points[0].run;
    let seeds: Vec<u64> = (options.first_seed..options.first_seed + options.seeds).collect();
    let reports: Vec<(u64, sim_core::RunReport)> = pool.install(|| {
        seeds
            .par_iter()
            .map(|&seed| {
                let mut config = point.config.clone();
                config.seed = seed;
                (seed, point.protocol.run_with(&config, &point.options))
            })
            .collect()
    });
    let mut result = SwarmResult {
        passed: 0,
        blocked: 0,
        unrecoverable: 0,
        failed: Vec::new(),
        tested: match (options.protocol.recovers(), options.protocol.restarts()) {
            (true, true) => format!(
                "up to f={} crashes at a time (half of them restart{}), partitions that heal, slow links, \
                 loss <5%, duplication <5%",
                options.f,
                match options.protocol.restart_grace_ns() {
                    0 => String::new(),
                    grace_ns => format!("; down {} s more while recovering", grace_ns as f64 / 1e9),
                }
            ),
            (true, false) => {
                format!("up to f={} crashes, partitions that heal, slow links, loss <5%, duplication <5%", options.f)
            }
            (false, _) => "slow links only".into(),
        },
        checked: promise_in_words(point.protocol.consistency(&point.options)),
        not_tested: if options.protocol.recovers() && !options.protocol.restarts() {
            format!("restarts: {} declares no durable state", options.protocol)
        } else if options.protocol.recovers() {
            String::new()
        } else {
            format!("crashes, partitions, loss and duplication: {}", why_no_faults(options.protocol))
        },
    };
    for (seed, report) in reports {
        result.unrecoverable += u64::from(report.verdict.outcomes.count(OutcomeKind::Unrecoverable) > 0);
        // The verdict holds the run to the protocol's promise, including
        // whether every command must complete.
        if report.verdict.passed() {
            result.passed += 1;
            result.blocked += u64::from(report.incomplete_clients > 0);
        } else {
            result.failed.push(SwarmFailure {
                seed,
                verdict: report.verdict.to_string().lines().take(3).collect::<Vec<_>>().join(" | "),
                schedule: report.faults.map(|f| f.schedule).unwrap_or_default(),
            });
        }
    }
    result
}
