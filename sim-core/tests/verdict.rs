//! The verdict can fail: a deliberately broken protocol, whose replicas
//! execute commands in the order they arrive, breaks per-key order and
//! linearizability under contention, and the run says so.

mod support;

use sim_core::protocol::{MessageSize, Outbox, ProcessSetup, Protocol};
use sim_core::verdict::Violation;
use sim_core::workload::{KeyDistribution, Workload};
use sim_core::{Command, DelayOptions, ProcessId, Simulation, Time};
use std::sync::Arc;
use support::{ExecuteOnArrival, gcp_config};

/// Broadcasts every submitted command and executes whatever arrives, in
/// arrival order: no agreement at all.
struct ArrivalOrder {
    id: ProcessId,
    processes: Vec<ProcessId>,
}

#[derive(Clone, Debug)]
struct Broadcast(Arc<Command>);

impl MessageSize for Broadcast {
    fn size_bytes(&self) -> u64 {
        self.0.size_bytes()
    }
}

impl Protocol for ArrivalOrder {
    type Message = Broadcast;
    type Timer = ();
    type Executor = ExecuteOnArrival;
    type Options = ();

    fn new(setup: ProcessSetup, _options: &()) -> (Self, ExecuteOnArrival) {
        (ArrivalOrder { id: setup.id, processes: setup.processes.clone() }, ExecuteOnArrival)
    }

    fn submit(&mut self, cmd: Arc<Command>, _now: Time, out: &mut Outbox<Self>) {
        out.execute(cmd.clone());
        let others: Vec<ProcessId> = self.processes.iter().copied().filter(|&p| p != self.id).collect();
        out.send_to_each(&others, Broadcast(cmd));
    }

    fn handle(&mut self, _from: ProcessId, msg: Broadcast, _now: Time, out: &mut Outbox<Self>) {
        out.execute(msg.0);
    }

    fn handle_timer(&mut self, _timer: (), _now: Time, _out: &mut Outbox<Self>) {}
}

fn run(conflict_rate: f64, read_ratio: f64) -> sim_core::RunReport {
    let mut config = gcp_config(&["europe-west1", "us-central1", "asia-east1"]);
    config.delay = DelayOptions { jitter: true, reorder: true, ..DelayOptions::default() };
    config.workload = Workload {
        keys: KeyDistribution::ConflictPool { conflict_rate, hot_keys: 1 },
        read_ratio,
        ..Workload::default()
    };
    Simulation::<ArrivalOrder>::new(&config).run()
}

#[test]
fn arrival_order_execution_fails_with_named_keys_commands_and_replicas() {
    let report = run(1.0, 0.3);
    let verdict = &report.verdict;
    assert!(!verdict.passed());
    let kinds = |f: fn(&Violation) -> bool| verdict.violations.kept().iter().any(f);
    assert!(kinds(|v| matches!(v, Violation::WriteOrder { key: 0, .. })), "{verdict}");
    let text = verdict.to_string();
    assert!(text.starts_with("FAIL: "), "{text}");
    assert!(text.contains("order: key 0, write #"), "{text}");
    assert!(text.contains(" executed c"), "names commands: {text}");
    assert!(text.contains("p1") || text.contains("p2") || text.contains("p3"), "names replicas: {text}");
}

#[test]
fn linearizability_catches_the_broken_protocol_too() {
    // Clients hear back from their own replica, which applied writes in its
    // own order: the client-observed history has lost writes or stale reads.
    let report = run(1.0, 0.5);
    let found: Vec<String> = report.verdict.violations.of_kind("linearizability").map(|v| v.to_string()).collect();
    assert!(!found.is_empty(), "{}", report.verdict);
    assert!(found[0].starts_with("linearizability: key 0: "), "{found:?}");
}

#[test]
fn without_conflicts_even_arrival_order_is_fine() {
    let report = run(0.0, 0.0);
    assert!(report.verdict.passed(), "{}", report.verdict);
}
