//! The engine with a tiny test protocol: FIFO links, reordering, closest
//! process, self-messages, timers and determinism, observed from outside.

mod support;

use sim_core::protocol::{MessageSize, Outbox, ProcessSetup, Protocol};
use sim_core::{Command, DelayOptions, ProcessId, RunConfig, Simulation, Time};
use std::sync::Arc;
use support::{ExecuteOnArrival, gcp_config, region};

/// Every command submitted to another process makes it send `BURST`
/// numbered messages to process 1 (the sink); the sink acknowledges each
/// burst's last message, and the sender then executes the command. The sink
/// records the numbers it receives from each sender, in arrival order. A timer counts
/// its firings, and a message to oneself must arrive before any other event.
struct Burst {
    id: ProcessId,
    next_number: u64,
    pending: std::collections::VecDeque<Arc<Command>>,
    received: Vec<(ProcessId, u64)>,
    timer_firings: u32,
    self_delivered_at: Vec<Time>,
}

const BURST: u64 = 20;

#[derive(Clone, Debug)]
enum Message {
    Numbered(u64),
    BurstDone,
    ToSelf,
}

impl MessageSize for Message {
    fn size_bytes(&self) -> u64 {
        8
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Timer {
    Tick,
    Cancelled,
}

impl Protocol for Burst {
    type Message = Message;
    type Timer = Timer;
    type Executor = ExecuteOnArrival;
    type Options = ();

    fn new(setup: ProcessSetup, _options: &()) -> (Self, ExecuteOnArrival) {
        let burst = Burst {
            id: setup.id,
            next_number: 0,
            pending: Default::default(),
            received: Vec::new(),
            timer_firings: 0,
            self_delivered_at: Vec::new(),
        };
        (burst, ExecuteOnArrival)
    }

    fn start(&mut self, _now: Time, out: &mut Outbox<Self>) {
        out.set_timer(Timer::Tick, 1_000_000);
        out.set_timer(Timer::Cancelled, 1_000_000);
        out.cancel_timer(Timer::Cancelled);
    }

    fn submit(&mut self, cmd: Arc<Command>, _now: Time, out: &mut Outbox<Self>) {
        out.send(self.id, Message::ToSelf);
        if self.id == ProcessId(1) {
            out.execute(cmd);
            return;
        }
        for _ in 0..BURST {
            self.next_number += 1;
            out.send(ProcessId(1), Message::Numbered(self.next_number));
        }
        self.pending.push_back(cmd);
    }

    fn handle(&mut self, from: ProcessId, msg: Message, now: Time, out: &mut Outbox<Self>) {
        match msg {
            Message::Numbered(number) => {
                self.received.push((from, number));
                if number % BURST == 0 {
                    out.send(from, Message::BurstDone);
                }
            }
            Message::BurstDone => {
                let cmd = self.pending.pop_front().expect("a burst per pending command");
                out.execute(cmd);
            }
            Message::ToSelf => {
                assert_eq!(from, self.id);
                self.self_delivered_at.push(now);
            }
        }
    }

    fn handle_timer(&mut self, timer: Timer, _now: Time, out: &mut Outbox<Self>) {
        assert_eq!(timer, Timer::Tick, "a cancelled timer never fires");
        self.timer_firings += 1;
        if self.timer_firings < 3 {
            out.set_timer(Timer::Tick, 1_000_000);
        }
    }
}

fn config(sites: &[&str], delay: DelayOptions, seed: u64) -> RunConfig {
    let mut config = gcp_config(sites);
    config.commands_per_client = 30;
    config.delay = delay;
    config.seed = seed;
    config
}

const SITES: &[&str] = &["europe-west1", "us-central1", "asia-east1"];

/// Inversions in the numbers each sender's messages arrived with.
fn inversions(sink: &Burst) -> usize {
    let mut inversions = 0;
    for sender in [ProcessId(2), ProcessId(3)] {
        let numbers: Vec<u64> = sink.received.iter().filter(|(from, _)| *from == sender).map(|(_, n)| *n).collect();
        // The run stops when the last client finishes, with some in flight.
        assert!(numbers.len() as u64 > 4 * 30 * BURST / 2, "most messages arrived: {}", numbers.len());
        inversions += numbers.windows(2).filter(|pair| pair[0] > pair[1]).count();
    }
    inversions
}

#[test]
fn links_are_fifo_unless_reordering_is_on() {
    let jitter = DelayOptions { jitter: true, ..DelayOptions::default() };
    let mut fifo = Simulation::<Burst>::new(&config(SITES, jitter, 1));
    assert_eq!(fifo.run().incomplete_clients, 0);
    assert_eq!(inversions(fifo.protocol(ProcessId(1))), 0, "FIFO links never reorder");

    let reorder = DelayOptions { jitter: true, reorder: true, ..DelayOptions::default() };
    let mut reordered = Simulation::<Burst>::new(&config(SITES, reorder, 1));
    reordered.run();
    assert!(inversions(reordered.protocol(ProcessId(1))) > 0, "with jitter and reordering, some overtake");
}

#[test]
fn timers_fire_replace_and_cancel() {
    let mut simulation = Simulation::<Burst>::new(&config(SITES, DelayOptions::default(), 1));
    simulation.run();
    for id in 1..=3 {
        assert_eq!(simulation.protocol(ProcessId(id)).timer_firings, 3, "p{id}");
    }
}

#[test]
fn self_messages_arrive_at_once() {
    let mut simulation = Simulation::<Burst>::new(&config(SITES, DelayOptions::default(), 1));
    let report = simulation.run();
    let sink = simulation.protocol(ProcessId(1));
    assert_eq!(sink.self_delivered_at.len(), 4 * 30, "one per command submitted to p1");
    // Messages to oneself are not network messages.
    assert_eq!(report.messages_sent, 2 * 4 * 30 * (BURST + 1));
    assert_eq!(report.bytes_sent, report.messages_sent * 8);
}

#[test]
fn clients_talk_to_the_closest_process() {
    let mut config = config(SITES, DelayOptions::default(), 1);
    let matrix = config.matrix.clone();
    config.clients_per_region = 1;
    config.client_regions =
        ["europe-west4", "us-east1", "asia-northeast1", "asia-east1"].map(|name| region(&matrix, name)).to_vec();
    let simulation = Simulation::<Burst>::new(&config);
    assert_eq!(simulation.client_processes(), [ProcessId(1), ProcessId(2), ProcessId(3), ProcessId(3)]);
}

#[test]
fn same_seed_same_report_other_seed_other_jitter() {
    let jitter = DelayOptions { jitter: true, ..DelayOptions::default() };
    let run = |seed| Simulation::<Burst>::new(&config(SITES, jitter, seed)).run();
    assert_eq!(run(3), run(3));
    assert_ne!(run(3).total, run(4).total);
}

/// A restart of a protocol without durable state is refused before the
/// run (scenarios refuse it at load, naming the protocol; the engine
/// asserts it).
#[test]
#[should_panic(expected = "does not support restarts")]
fn a_restart_of_a_protocol_without_restarts_is_refused() {
    use sim_core::faults::{Fault, FaultKind};
    let mut config = config(&["us-central1", "europe-west1", "asia-east1"], DelayOptions::default(), 1);
    let crash = FaultKind::Crash { processes: vec![ProcessId(2)] };
    config.faults.schedule = vec![Fault { at_ns: 10, until_ns: Some(20), kind: crash }];
    let _ = Simulation::<Burst>::new(&config);
}
