//! The executor-to-protocol channel: what an executor notifies through
//! `Apply::notify` reaches its protocol's `handle_executed` in the same
//! process step, in order, before anything else happens to the process,
//! and the effects recorded there are carried out.

mod support;

use sim_core::protocol::{Apply, Executor, MessageSize, Outbox, ProcessSetup, Protocol};
use sim_core::testing::ExecutorHarness;
use sim_core::{Command, CommandId, ProcessId, Simulation, Time};
use std::sync::Arc;
use support::{ExecuteOnArrival, gcp_config};

/// Executes each command on arrival and notifies its protocol twice per
/// command: `(id, 0, now)` then `(id, 1, now)`.
struct Reporting;

impl Executor for Reporting {
    type Info = Arc<Command>;
    type Feedback = (CommandId, u8, Time);

    fn execute(&mut self, cmd: Arc<Command>, now: Time, apply: &mut Apply<'_, Self::Feedback>) {
        apply.apply(&cmd, now);
        apply.notify((cmd.id, 0, apply.now()));
        apply.notify((cmd.id, 1, apply.now()));
    }
}

/// What a process saw, in order.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Seen {
    Submit(CommandId),
    Copy(CommandId),
    Back(CommandId),
    Executed(CommandId, u8),
    ToSelf(CommandId),
    AfterExecuted(CommandId),
    Ping,
}

/// Sends every submitted command to every other process, which executes
/// it and sends it back; the first copy back executes it at its origin
/// (so clients wait a round trip, and copies do execute). No agreement:
/// the workload has no conflicts. Every execution step also sends itself
/// a message; each notification is recorded, and the second one of a
/// command sends the protocol a message and a ping to the next process.
struct Observer {
    id: ProcessId,
    next: ProcessId,
    others: Vec<ProcessId>,
    /// Submitted here, not executed yet.
    waiting: Vec<CommandId>,
    seen: Vec<Seen>,
}

#[derive(Clone, Debug)]
enum Message {
    Copy(Arc<Command>),
    Back(Arc<Command>),
    ToSelf(CommandId),
    AfterExecuted(CommandId),
    Ping,
}

impl MessageSize for Message {
    fn size_bytes(&self) -> u64 {
        8
    }
}

impl Observer {
    fn execute(&mut self, cmd: Arc<Command>, out: &mut Outbox<Self>) {
        let id = cmd.id;
        out.execute(cmd);
        // Recorded after the Execute: carried out after the notifications
        // were handled, but before their effects.
        out.send(self.id, Message::ToSelf(id));
    }
}

impl Protocol for Observer {
    type Message = Message;
    type Timer = ();
    type Executor = Reporting;
    type Options = ();

    fn new(setup: ProcessSetup, _options: &()) -> (Self, Reporting) {
        let n = setup.n() as u32;
        let observer = Observer {
            id: setup.id,
            next: ProcessId(setup.id.0 % n + 1),
            others: setup.processes.iter().copied().filter(|&p| p != setup.id).collect(),
            waiting: Vec::new(),
            seen: Vec::new(),
        };
        (observer, Reporting)
    }

    fn submit(&mut self, cmd: Arc<Command>, _now: Time, out: &mut Outbox<Self>) {
        self.seen.push(Seen::Submit(cmd.id));
        self.waiting.push(cmd.id);
        out.send_to_each(&self.others, Message::Copy(cmd));
    }

    fn handle(&mut self, from: ProcessId, msg: Message, _now: Time, out: &mut Outbox<Self>) {
        match msg {
            Message::Copy(cmd) => {
                self.seen.push(Seen::Copy(cmd.id));
                out.send(from, Message::Back(cmd.clone()));
                self.execute(cmd, out);
            }
            Message::Back(cmd) => {
                if let Some(position) = self.waiting.iter().position(|&id| id == cmd.id) {
                    self.waiting.swap_remove(position);
                    self.seen.push(Seen::Back(cmd.id));
                    self.execute(cmd, out);
                }
            }
            Message::ToSelf(id) => self.seen.push(Seen::ToSelf(id)),
            Message::AfterExecuted(id) => {
                assert_eq!(from, self.id);
                self.seen.push(Seen::AfterExecuted(id));
            }
            Message::Ping => self.seen.push(Seen::Ping),
        }
    }

    fn handle_timer(&mut self, _timer: (), _now: Time, _out: &mut Outbox<Self>) {}

    fn handle_executed(&mut self, (id, number, at): (CommandId, u8, Time), now: Time, out: &mut Outbox<Self>) {
        assert_eq!(at, now, "handed over in the execution step");
        self.seen.push(Seen::Executed(id, number));
        if number == 1 {
            out.send(self.id, Message::AfterExecuted(id));
            out.send(self.next, Message::Ping);
        }
    }
}

#[test]
fn feedback_reaches_the_protocol_in_the_same_step_in_order() {
    let mut config = gcp_config(&["europe-west1", "us-central1", "asia-east1"]);
    config.commands_per_client = 10;
    let mut simulation = Simulation::<Observer>::new(&config);
    let report = simulation.run();
    assert_eq!(report.incomplete_clients, 0);
    let commands = 3 * 4 * 10;
    assert!(report.executions > commands, "copies executed too");
    // Per command, copies to the 2 others; per execution of a copy, the
    // copy back; per execution, a ping from its second notification.
    let backs = report.executions - commands;
    assert_eq!(report.messages_sent, 2 * commands + backs + report.executions, "effects of handle_executed happen");
    let mut executed = 0;
    for id in 1..=3 {
        let seen = &simulation.protocol(ProcessId(id)).seen;
        let mut rest = seen.as_slice();
        while let Some((first, tail)) = rest.split_first() {
            // What must follow, with nothing in between.
            let expected = match *first {
                Seen::Copy(cmd) | Seen::Back(cmd) => {
                    executed += 1;
                    vec![Seen::Executed(cmd, 0), Seen::Executed(cmd, 1), Seen::ToSelf(cmd), Seen::AfterExecuted(cmd)]
                }
                Seen::Submit(_) | Seen::Ping => vec![],
                ref other => panic!("p{id}: {other:?} outside the step it belongs to: {seen:?}"),
            };
            assert!(tail.starts_with(&expected), "p{id}: after {first:?}, expected {expected:?}, got {tail:?}");
            rest = &tail[expected.len()..];
        }
    }
    assert_eq!(executed, report.executions);
}

#[test]
fn the_harness_returns_what_the_executor_notified() {
    let mut harness = ExecutorHarness::new(ProcessId(1), 1);
    let id = CommandId { client: sim_core::ClientId(0), seq: 1 };
    let cmd = Arc::new(Command { id, ops: vec![(7, sim_core::Op::Put(1))].into(), payload_bytes: 0 });
    let at = Time::from_ns(5);
    let (executed, feedback) = harness.step_with_feedback(&mut Reporting, cmd.clone(), at);
    assert_eq!((executed, feedback), (vec![id], vec![(id, 0, at), (id, 1, at)]));
    assert_eq!(harness.step(&mut ExecuteOnArrival, cmd, at), vec![id], "no feedback: `()`");
}

/// A protocol that forgets to implement `handle_executed` for an executor
/// that notifies something: caught in debug builds.
#[cfg(debug_assertions)]
struct Forgetful;

#[cfg(debug_assertions)]
impl Protocol for Forgetful {
    type Message = Message;
    type Timer = ();
    type Executor = Reporting;
    type Options = ();

    fn new(_setup: ProcessSetup, _options: &()) -> (Self, Reporting) {
        (Forgetful, Reporting)
    }

    fn submit(&mut self, cmd: Arc<Command>, _now: Time, out: &mut Outbox<Self>) {
        out.execute(cmd);
    }

    fn handle(&mut self, _from: ProcessId, _msg: Message, _now: Time, _out: &mut Outbox<Self>) {}

    fn handle_timer(&mut self, _timer: (), _now: Time, _out: &mut Outbox<Self>) {}
}

#[test]
#[cfg(debug_assertions)]
#[should_panic(expected = "the protocol does not implement handle_executed")]
fn unhandled_feedback_is_caught_in_debug_builds() {
    Simulation::<Forgetful>::new(&gcp_config(&["europe-west1", "us-central1", "asia-east1"])).run();
}

/// Executes each command on arrival (no message to itself afterwards) and,
/// on the second notification of each, pings the next process.
struct Relay {
    id: ProcessId,
    previous: ProcessId,
    next: ProcessId,
    pings: u64,
}

impl Protocol for Relay {
    type Message = Message;
    type Timer = ();
    type Executor = Reporting;
    type Options = ();

    fn new(setup: ProcessSetup, _options: &()) -> (Self, Reporting) {
        let n = setup.n() as u32;
        let (id, previous, next) = (setup.id, ProcessId((setup.id.0 + n - 2) % n + 1), ProcessId(setup.id.0 % n + 1));
        (Relay { id, previous, next, pings: 0 }, Reporting)
    }

    fn submit(&mut self, cmd: Arc<Command>, _now: Time, out: &mut Outbox<Self>) {
        out.execute(cmd);
    }

    fn handle(&mut self, from: ProcessId, msg: Message, _now: Time, _out: &mut Outbox<Self>) {
        assert!(matches!(msg, Message::Ping), "p{}: {msg:?}", self.id.0);
        assert_eq!(from, self.previous, "a ping to p{} comes from the process before it", self.id.0);
        self.pings += 1;
    }

    fn handle_timer(&mut self, _timer: (), _now: Time, _out: &mut Outbox<Self>) {}

    fn handle_executed(&mut self, (_, number, _): (CommandId, u8, Time), _now: Time, out: &mut Outbox<Self>) {
        if number == 1 {
            out.send(self.next, Message::Ping);
        }
    }
}

/// The effects of `handle_executed` are carried out in the step that
/// executed, from its process, even when no message to itself follows
/// (they once waited in the outbox for the next step, of any process).
#[test]
fn effects_of_handle_executed_leave_from_their_own_process() {
    let mut config = gcp_config(&["europe-west1", "us-central1", "asia-east1"]);
    // Long enough for pings to arrive before the clients are done (each
    // command takes an intra-region round trip, a ping a WAN delay).
    config.commands_per_client = 2_000;
    let mut simulation = Simulation::<Relay>::new(&config);
    let report = simulation.run();
    assert_eq!(report.incomplete_clients, 0);
    assert_eq!(report.messages_sent, report.executions, "one ping per execution");
    let pings: u64 = (1..=3).map(|id| simulation.protocol(ProcessId(id)).pings).sum();
    assert!(pings > 0 && pings <= report.executions, "{pings} pings arrived");
}
