//! Unrecoverable (vr.md §1): the engine, without naming a protocol,
//! reports when more than f processes of a protocol whose crash loses its
//! state are without it at once (crashed, or restarted and still
//! recovering), with a tiny protocol that recovers 20 ms after a restart.

mod support;

use sim_core::faults::{Fault, FaultKind, FaultPlan};
use sim_core::protocol::{Outbox, ProcessSetup, Protocol};
use sim_core::time::{NS_PER_MS, NS_PER_S};
use sim_core::verdict::Outcome;
use sim_core::workload::KeyDistribution;
use sim_core::{Command, ProcessId, RunConfig, RunReport, Simulation, Time};
use std::sync::Arc;
use support::{ExecuteOnArrival, NoMessage, gcp_config};

/// Executes each command where it is submitted; after a restart it is
/// recovering for 20 ms. `LOSES_STATE`: its crash loses its state.
struct Restarting<const LOSES_STATE: bool> {
    recovering: bool,
}

const RECOVERY_NS: u64 = 20 * NS_PER_MS;

impl<const LOSES_STATE: bool> Protocol for Restarting<LOSES_STATE> {
    type Message = NoMessage;
    type Timer = ();
    type Executor = ExecuteOnArrival;
    type Options = ();
    const RESTARTS: bool = true;
    const CRASH_LOSES_STATE: bool = LOSES_STATE;

    fn new(_setup: ProcessSetup, _options: &()) -> (Self, ExecuteOnArrival) {
        (Restarting { recovering: false }, ExecuteOnArrival)
    }

    fn restart(&mut self, _fresh: Self, _executor: &mut ExecuteOnArrival, _now: Time, out: &mut Outbox<Self>) {
        self.recovering = true;
        out.set_timer((), RECOVERY_NS);
    }

    fn recovering(&self) -> bool {
        self.recovering
    }

    fn submit(&mut self, cmd: Arc<Command>, _now: Time, out: &mut Outbox<Self>) {
        out.execute(cmd);
    }

    fn handle(&mut self, _from: ProcessId, _msg: NoMessage, _now: Time, _out: &mut Outbox<Self>) {}

    fn handle_timer(&mut self, _timer: (), _now: Time, _out: &mut Outbox<Self>) {
        self.recovering = false;
    }
}

/// Three processes, f = 1, with `faults`.
fn config(faults: Vec<Fault>) -> RunConfig {
    let mut config = gcp_config(&["europe-west1", "us-central1", "asia-east1"]);
    config.protocol.f = 1;
    // Fresh keys only: commands executed where they are submitted never
    // conflict. Enough commands to outlast the faults.
    config.workload.keys = KeyDistribution::ConflictPool { conflict_rate: 0.0, hot_keys: 1 };
    config.commands_per_client = 1_000;
    // Clients at p1 only, which never crashes: their commands complete
    // whatever the others do.
    config.client_regions.truncate(1);
    config.max_time_ns = 60 * NS_PER_S;
    config.faults = FaultPlan { schedule: faults, ..FaultPlan::default() };
    config
}

/// `process` crashes at `at_ms`, restarting at `until_ms` if given.
fn crash(process: u32, at_ms: u64, until_ms: Option<u64>) -> Fault {
    Fault {
        at_ns: at_ms * NS_PER_MS,
        until_ns: until_ms.map(|ms| ms * NS_PER_MS),
        kind: FaultKind::Crash { processes: vec![ProcessId(process)] },
    }
}

fn run<const LOSES_STATE: bool>(faults: Vec<Fault>) -> RunReport {
    let report = Simulation::<Restarting<LOSES_STATE>>::new(&config(faults)).run();
    assert!(report.end_time.as_ns() > 200 * NS_PER_MS, "the run outlasts the faults: {:?}", report.end_time);
    report
}

fn unrecoverable(report: &RunReport) -> Vec<&Outcome> {
    report.verdict.outcomes.kept().iter().filter(|o| matches!(o, Outcome::Unrecoverable { .. })).collect()
}

#[test]
fn a_crash_while_another_process_recovers_is_unrecoverable() {
    // p2 is down 50..100 ms and recovering until 120 ms; p3 crashes at 110 ms.
    let report = run::<true>(vec![crash(2, 50, Some(100)), crash(3, 110, Some(140))]);
    assert_eq!(report.verdict.outcomes.unrecoverable, 1, "{}", report.verdict);
    let expected =
        Outcome::Unrecoverable { at: Time::from_ns(110 * NS_PER_MS), replicas: vec![ProcessId(2), ProcessId(3)], f: 1 };
    assert_eq!(unrecoverable(&report), [&expected]);
    assert!(report.verdict.passed(), "measured, not failed: {}", report.verdict);
    assert!(report.verdict.to_string().contains("Unrecoverable: at 0.11 s, 2 replicas"), "{}", report.verdict);
}

#[test]
fn one_process_at_a_time_without_state_is_within_the_budget() {
    // p2 has recovered (120 ms) when p3 crashes at 130 ms.
    let report = run::<true>(vec![crash(2, 50, Some(100)), crash(3, 130, Some(140))]);
    assert_eq!(report.verdict.outcomes.unrecoverable, 0, "{}", report.verdict);
    assert!(report.verdict.passed(), "{}", report.verdict);
}

#[test]
fn two_crashed_together_is_unrecoverable_once_and_durable_state_never_is() {
    let together = || vec![crash(2, 50, None), crash(3, 60, Some(70)), crash(3, 80, Some(90))];
    let report = run::<true>(together());
    // p3's second crash is in the same episode (p2 never came back).
    assert_eq!(report.verdict.outcomes.unrecoverable, 1, "{}", report.verdict);
    assert_eq!(run::<false>(together()).verdict.outcomes.unrecoverable, 0, "durable state is not lost");
}
