//! Fault swarms: many seeded runs of one protocol under random faults
//! within a budget, with contention; each failure replays exactly with
//! `sim --scenario FILE --seed S`.
//!
//! A swarm is a scenario file (written out, so replays use the same
//! text) whose `[random_faults]` draw a different schedule per seed. What
//! is drawn ([`FaultMenu::of`]) depends on what the protocol recovers from
//! and what its promise holds under: crashes (at most `f` at a time,
//! restarts where state is durable), partitions that heal, slow links,
//! loss and duplication for a protocol with recovery and for 2PC (safe
//! under every fault, blocking allowed); crashes and restarts only for
//! 3PC (safe only with a perfect failure detector); slow links only for
//! the others (they assume reliable links and no crash), and the swarm
//! says so rather than report a PASS for what it did not test.

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
    /// Of those, the seeds whose every crashed process restarted: a
    /// protocol with a WAL should not stay blocked then, so these are
    /// worth a look even though the promise lets them pass.
    pub blocked_after_restarts: Vec<u64>,
    /// Of the runs that passed, those whose replicas diverged (an order
    /// violation or an AtomicityViolation) outside the promise (3PC under
    /// network faults): measured, not failed.
    pub diverged: u64,
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

/// `label`, and what it does not promise in a run with the faults the
/// swarm draws (`faults`: crashes only, or network faults too).
fn promise_in_words(label: Consistency, faults: FaultClass) -> String {
    let checks = [
        (Check::Order, "replica order"),
        (Check::Execution, "execution"),
        (Check::Linearizability, "linearizability"),
        (Check::Completion, "completion"),
    ];
    let mut waived: Vec<String> =
        checks.iter().filter(|(check, _)| !label.promises(*check, faults)).map(|(_, name)| name.to_string()).collect();
    waived.extend(
        OutcomeKind::ALL
            .iter()
            .filter(|&&kind| !label.promises(Check::Outcome(kind), faults))
            .map(|kind| format!("{kind:?} events")),
    );
    if waived.is_empty() {
        format!("{label} (every check)")
    } else {
        format!("{label}; under faults not failed on (measured only): {}", waived.join(", "))
    }
}

/// What a swarm draws for a protocol.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FaultMenu {
    /// Crashes, at most `f` down at a time.
    pub crashes: bool,
    /// Half the drawn crashes restart (the protocol declares durable
    /// state).
    pub restarts: bool,
    /// Partitions that heal, loss and duplication.
    pub network: bool,
    /// Slow links.
    pub slow_links: bool,
}

impl FaultMenu {
    /// The faults `protocol` is swarmed with.
    pub fn of(protocol: ProtocolName) -> FaultMenu {
        let everything = FaultMenu { crashes: true, restarts: protocol.restarts(), network: true, slow_links: true };
        match protocol {
            _ if protocol.recovers() => everything,
            // linearizable-may-block: every safety check holds under any
            // fault, only completion is waived; runs left blocked (a
            // coordinator down after the votes, a replica down for good)
            // pass and are counted.
            ProtocolName::TwoPc => everything,
            // linearizable-under-crashes: a slow link, partition, loss or
            // duplication makes the run's fault class Network, where order,
            // linearizability and the outcome events are waived
            // (two-phase-commit.md §9). Drawing them too, 1,000 seeds at
            // f = 1 and f = 2 passed by label with no run diverged, i.e.
            // the swarm then checked little; crashes and restarts only keep
            // every safety check on (the partition cases are fault tests).
            ProtocolName::ThreePc => FaultMenu { crashes: true, restarts: true, network: false, slow_links: false },
            _ => FaultMenu { crashes: false, restarts: false, network: false, slow_links: true },
        }
    }
}

impl FaultMenu {
    /// The fault class of a run with these faults drawn (the worst).
    fn class(self) -> FaultClass {
        if self.network || self.slow_links { FaultClass::Network } else { FaultClass::Crashes }
    }
}

/// The swarm's scenario file text.
pub fn scenario_text(options: &SwarmOptions) -> String {
    let menu = FaultMenu::of(options.protocol);
    let faults = format!(
        "max_crashed = {}\npartitions = {}\nslow_links = {}\n{}",
        if menu.crashes { "\"f\"" } else { "0" },
        menu.network,
        menu.slow_links,
        if menu.network { "max_loss = 0.05\nmax_duplicate = 0.05\n" } else { "" },
    );
    let restarts = match options.protocol.restart_grace_ns() {
        _ if !menu.crashes || !menu.restarts => String::new(),
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

/// The faults drawn, in words.
fn drawn_in_words(options: &SwarmOptions) -> String {
    let menu = FaultMenu::of(options.protocol);
    let mut drawn = Vec::new();
    if menu.crashes {
        let grace = match options.protocol.restart_grace_ns() {
            0 => String::new(),
            grace_ns => format!("; down {} s more while recovering", grace_ns as f64 / 1e9),
        };
        drawn.push(if menu.restarts {
            format!("up to f={} crashes at a time (half of them restart{grace})", options.f)
        } else {
            format!("up to f={} crashes", options.f)
        });
    }
    if menu.network {
        drawn.push("partitions that heal".into());
    }
    if menu.slow_links {
        drawn.push("slow links".into());
    }
    if menu.network {
        drawn.extend(["loss <5%".into(), "duplication <5%".into()]);
    }
    if drawn.len() == 1 && menu.slow_links { "slow links only".into() } else { drawn.join(", ") }
}

/// What the swarm does not draw for `options.protocol`, and why, in
/// words (empty if it draws everything).
fn not_drawn_in_words(options: &SwarmOptions) -> String {
    let protocol = options.protocol;
    let menu = FaultMenu::of(protocol);
    if !menu.crashes {
        format!("crashes, partitions, loss and duplication: {protocol} has no recovery yet")
    } else if !menu.network {
        format!(
            "partitions, slow links, loss and duplication: {protocol} is safe only with a perfect failure \
             detector, and under them its divergence is measured, not checked (its fault tests cover the cases)"
        )
    } else if !menu.restarts {
        format!("restarts: {protocol} declares no durable state")
    } else {
        String::new()
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

/// True if, in `config`'s run with `seed`, every crashed process restarts.
fn every_crash_restarts(config: &sim_core::RunConfig, seed: u64) -> bool {
    let schedule = config.faults.resolve(config.n(), &sim_core::rng::RngStreams::new(seed));
    schedule.iter().all(|fault| !matches!(fault.kind, sim_core::FaultKind::Crash { .. }) || fault.until_ns.is_some())
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
        blocked_after_restarts: Vec::new(),
        diverged: 0,
        failed: Vec::new(),
        tested: drawn_in_words(options),
        checked: promise_in_words(point.protocol.consistency(&point.options), FaultMenu::of(options.protocol).class()),
        not_tested: not_drawn_in_words(options),
    };
    for (seed, report) in reports {
        result.unrecoverable += u64::from(report.verdict.outcomes.count(OutcomeKind::Unrecoverable) > 0);
        // The verdict holds the run to the protocol's promise, including
        // whether every command must complete.
        if report.verdict.passed() {
            result.passed += 1;
            let verdict = &report.verdict;
            result.diverged +=
                u64::from(verdict.violations.of_kind("order").count() > 0 || verdict.outcomes.atomicity_violations > 0);
            if report.incomplete_clients > 0 {
                result.blocked += 1;
                if every_crash_restarts(&point.config, seed) {
                    result.blocked_after_restarts.push(seed);
                }
            }
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
