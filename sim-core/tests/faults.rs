//! Faults seen from outside the engine, with a tiny sequencer protocol:
//! crashed processes stop, partitions drop and heal, slow links delay,
//! clients retry elsewhere, replicas apply a retried command once, a
//! protocol that executes twice is still caught, and stuck commands are
//! reported; restarts bring a fresh incarnation back with the replica's
//! state machine; clock faults change what a protocol reads as its clock.

mod support;

use sim_core::faults::{Fault, FaultKind, FaultPlan, Links, RandomFaults};
use sim_core::protocol::{MessageSize, Outbox, ProcessSetup, Protocol};
use sim_core::time::{NS_PER_MS, NS_PER_S};
use sim_core::verdict::Violation;
use sim_core::workload::{KeyDistribution, Workload};
use sim_core::{Command, ProcessId, RunConfig, RunReport, Simulation, Time};
use std::sync::Arc;
use support::{ExecuteOnArrival, gcp_config};

/// p1 orders every command and sends it to everyone (itself included)
/// over FIFO links; the others forward their clients' commands to p1.
/// Correct without faults other than crashes of p2..pn and slow links.
struct Sequencer {
    id: ProcessId,
    processes: Vec<ProcessId>,
    /// Planted bug: p1 orders each command twice.
    order_twice: bool,
    /// Commands this process was handed (submissions and messages).
    pub handled: u64,
    /// (simulated time, local clock) at each submission.
    pub clock_readings: Vec<(u64, u64)>,
}

#[derive(Clone, Debug)]
enum Message {
    Forward(Arc<Command>),
    Ordered(Arc<Command>),
}

impl MessageSize for Message {
    fn size_bytes(&self) -> u64 {
        8
    }
}

impl Sequencer {
    fn order(&mut self, cmd: Arc<Command>, out: &mut Outbox<Self>) {
        let copies = if self.order_twice { 2 } else { 1 };
        for _ in 0..copies {
            out.send_to_each(&self.processes, Message::Ordered(cmd.clone()));
        }
    }
}

impl Protocol for Sequencer {
    type Message = Message;
    type Timer = ();
    type Executor = ExecuteOnArrival;
    type Options = bool;
    /// For the restart tests: the default `restart` (nothing durable).
    const RESTARTS: bool = true;

    fn new(setup: ProcessSetup, order_twice: &bool) -> (Self, ExecuteOnArrival) {
        let sequencer = Sequencer {
            id: setup.id,
            processes: setup.processes.clone(),
            order_twice: *order_twice,
            handled: 0,
            clock_readings: Vec::new(),
        };
        (sequencer, ExecuteOnArrival)
    }

    fn submit(&mut self, cmd: Arc<Command>, now: Time, out: &mut Outbox<Self>) {
        self.handled += 1;
        self.clock_readings.push((now.as_ns(), out.clock(now).as_ns()));
        if self.id == ProcessId(1) {
            self.order(cmd, out);
        } else {
            out.send(ProcessId(1), Message::Forward(cmd));
        }
    }

    fn handle(&mut self, _from: ProcessId, msg: Message, _now: Time, out: &mut Outbox<Self>) {
        self.handled += 1;
        match msg {
            Message::Forward(cmd) => self.order(cmd, out),
            Message::Ordered(cmd) => out.execute(cmd),
        }
    }

    fn handle_timer(&mut self, _timer: (), _now: Time, _out: &mut Outbox<Self>) {}
}

const SITES: [&str; 3] = ["europe-west1", "us-central1", "asia-east1"];

fn config(faults: Vec<Fault>) -> RunConfig {
    let mut config = gcp_config(&SITES);
    config.workload =
        Workload { keys: KeyDistribution::ConflictPool { conflict_rate: 1.0, hot_keys: 1 }, ..Workload::default() };
    config.faults = FaultPlan { schedule: faults, ..FaultPlan::default() };
    config.max_time_ns = 60 * NS_PER_S;
    config
}

fn run(config: &RunConfig, order_twice: bool) -> (RunReport, Simulation<Sequencer>) {
    let mut sim = Simulation::<Sequencer>::with_options(config, &order_twice);
    (sim.run(), sim)
}

fn crash(at_ns: u64, id: u32) -> Fault {
    Fault { at_ns, until_ns: None, kind: FaultKind::Crash { processes: vec![ProcessId(id)] } }
}

#[test]
fn a_crashed_process_stops_and_its_clients_retry_elsewhere() {
    let (report, sim) = run(&config(vec![crash(500 * NS_PER_MS, 3)]), false);
    assert!(report.verdict.passed(), "{}", report.verdict);
    assert_eq!(report.commands_completed, report.commands_expected);
    let faults = report.faults.expect("a run with faults reports them");
    assert!(faults.retries >= 1, "p3's clients had to retry");
    assert!(faults.messages_dropped > 0, "messages to p3 after its crash are dropped");
    let asia = &faults.regions[2];
    assert_eq!(asia.region, "asia-east1");
    assert!(asia.unavailable_ns >= 2 * NS_PER_S, "the client timeout is 2 s: {}", asia.unavailable_ns);
    assert!(faults.regions[0].unavailable_ns < NS_PER_S, "europe is not affected much");
    let handled_by_p3 = sim.protocol(ProcessId(3)).handled;
    let handled_by_p2 = sim.protocol(ProcessId(2)).handled;
    assert!(handled_by_p3 < handled_by_p2 / 2, "p3 stopped: {handled_by_p3} vs {handled_by_p2}");
    assert_eq!(faults.stuck_count, 0);
    let windows = asia.timeline.iter().filter(|w| w.count > 0).count();
    assert!(windows > 1 && asia.timeline.iter().any(|w| w.count == 0), "the timeline shows the gap");
}

#[test]
fn a_crash_the_protocol_cannot_survive_leaves_commands_stuck_and_reported() {
    // Nobody replaces the sequencer: clients retry everywhere, in vain,
    // until the time limit.
    let (report, _) = run(&config(vec![crash(300 * NS_PER_MS, 1)]), false);
    let faults = report.faults.expect("faults");
    assert!(faults.stuck_count > 0 && !faults.stuck.is_empty());
    assert!(report.incomplete_clients > 0);
    assert!(report.verdict.violations.of_kind("completion").count() == 1, "{}", report.verdict);
    assert!(report.end_time.as_ns() <= 60 * NS_PER_S && report.end_time.as_ns() > 50 * NS_PER_S);
    assert!(faults.retries > 12, "every client kept retrying: {}", faults.retries);
}

#[test]
fn a_healed_partition_only_delays() {
    // One way, p2 -> p1: forwards from p2 are lost meanwhile, and its
    // clients retry to the next-closest process.
    let cut = Links { from: vec![ProcessId(2)], to: vec![ProcessId(1)], one_way: true };
    let partition =
        Fault { at_ns: 200 * NS_PER_MS, until_ns: Some(3 * NS_PER_S), kind: FaultKind::Partition { links: cut } };
    let (report, _) = run(&config(vec![partition]), false);
    assert!(report.verdict.passed(), "{}", report.verdict);
    assert_eq!(report.commands_completed, report.commands_expected);
    assert!(report.faults.expect("faults").retries > 0);
}

#[test]
fn a_retried_command_ordered_twice_takes_effect_once() {
    // p3's forwards take 3 s more: its clients time out after 2 s and
    // retry via p1, then the slow forward arrives and p1 orders the same
    // command again.
    let slow = Fault {
        at_ns: 0,
        until_ns: Some(2 * NS_PER_S),
        kind: FaultKind::Slow {
            links: Links { from: vec![ProcessId(3)], to: vec![ProcessId(1)], one_way: true },
            add_ns: 3 * NS_PER_S,
            factor_permille: 1_000,
        },
    };
    let (report, _) = run(&config(vec![slow]), false);
    assert!(report.verdict.passed(), "{}", report.verdict);
    assert!(report.verdict.duplicates_suppressed > 0, "{}", report.verdict);
    assert!(report.verdict.to_string().contains("re-execution(s) of retried commands suppressed"));
    assert_eq!(report.commands_completed, report.commands_expected);
}

#[test]
fn executing_a_command_twice_without_a_retry_is_still_caught() {
    let (report, _) = run(&config(vec![crash(10 * NS_PER_S, 3)]), true);
    let double = report.verdict.violations.kept().iter().any(|v| matches!(v, Violation::DoubleExecution { .. }));
    assert!(double, "{}", report.verdict);
}

#[test]
fn random_faults_replay_exactly_and_runs_without_faults_report_none() {
    let mut config = config(Vec::new());
    assert!(run(&config, false).0.faults.is_none());
    config.faults.random = Some(RandomFaults { count: 6, max_crashed: 1, ..RandomFaults::default() });
    config.seed = 11;
    let (a, _) = run(&config, false);
    let (b, _) = run(&config, false);
    assert_eq!(a, b);
    let drawn = a.faults.as_ref().expect("faults").schedule.len();
    assert!((1..=6).contains(&drawn), "{drawn}");
}

#[test]
fn a_late_submission_of_an_answered_command_submits_nothing() {
    // p3's forwards arrive around its clients' 2 s timeout: some retries
    // are still on their way when the first submission's answer arrives.
    // Those late submissions must not put the client's next command into
    // the protocol a second time (which the checker would call a double
    // execution: it was never retried).
    for add_ms in (1_700..=2_400).step_by(10) {
        let slow = Fault {
            at_ns: 0,
            until_ns: Some(30 * NS_PER_S),
            kind: FaultKind::Slow {
                links: Links { from: vec![ProcessId(3)], to: vec![ProcessId(1)], one_way: true },
                add_ns: add_ms * NS_PER_MS,
                factor_permille: 1_000,
            },
        };
        let (report, _) = run(&config(vec![slow]), false);
        assert!(report.verdict.passed(), "add {add_ms} ms: {}", report.verdict);
        assert_eq!(report.commands_completed, report.commands_expected);
    }
}

#[test]
fn a_restart_brings_a_fresh_incarnation_back_with_the_state_machine() {
    // p3 misses what p1 ordered while it was down and the sequencer has
    // no catch-up: once back, p3's next executions skip those commands,
    // which the order check reports (the replica's record continued: no
    // reset hides a gap). The default restart keeps nothing: the new
    // incarnation counts only what it handled since.
    let restart = Fault { until_ns: Some(1_500 * NS_PER_MS), ..crash(500 * NS_PER_MS, 3) };
    let (report, sim) = run(&config(vec![restart]), false);
    let faults = report.faults.as_ref().expect("faults");
    assert_eq!(faults.restarts, 1);
    assert_eq!(faults.schedule, ["crash at 0.5 s until 1.5 s: p3"]);
    assert!(report.verdict.violations.of_kind("order").count() > 0, "{}", report.verdict);
    let (p2, p3) = (sim.protocol(ProcessId(2)), sim.protocol(ProcessId(3)));
    assert!(p3.handled > 0 && p3.handled < p2.handled, "p3 counted from its restart: {} vs {}", p3.handled, p2.handled);
    assert!(p3.clock_readings.iter().all(|(now, _)| *now >= 1_500 * NS_PER_MS), "a fresh incarnation");
}

#[test]
fn a_clock_fault_changes_only_what_the_protocol_reads_as_its_clock() {
    let skew = Fault {
        at_ns: NS_PER_S,
        until_ns: Some(2 * NS_PER_S),
        kind: FaultKind::Clock { processes: vec![ProcessId(2)], offset_ns: 300 * NS_PER_MS as i64, drift_ppm: 1_000 },
    };
    let (report, sim) = run(&config(vec![skew]), false);
    let (without, _) = run(&config(Vec::new()), false);
    assert!(report.verdict.passed(), "{}", report.verdict);
    assert_eq!(report.total, without.total, "delays and timers follow simulated time, not the skewed clock");
    let readings = &sim.protocol(ProcessId(2)).clock_readings;
    let during: Vec<&(u64, u64)> = readings.iter().filter(|(now, _)| (NS_PER_S..2 * NS_PER_S).contains(now)).collect();
    assert!(!during.is_empty());
    for &&(now, clock) in &during {
        let drift = (now - NS_PER_S) / 1_000;
        assert_eq!(clock, now + 300 * NS_PER_MS + drift, "offset plus 1000 ppm since the start");
    }
    assert!(readings.iter().filter(|(now, _)| !(NS_PER_S..2 * NS_PER_S).contains(now)).all(|(now, c)| now == c));
    assert!(sim.protocol(ProcessId(1)).clock_readings.iter().all(|(now, clock)| now == clock), "p1's clock is exact");
}
