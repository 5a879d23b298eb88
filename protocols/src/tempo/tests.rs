//! Tempo's worked examples (tempo.md §13.1–13.3; §13.4 is in
//! `executor.rs`) and focused tests, on single processes and on a small
//! hand-driven cluster.

use super::*;
use sim_core::metrics::ProtocolMetrics;
use sim_core::protocol::{Effect, ProtocolConfig};
use sim_core::rng::{Purpose, RngStreams};
use sim_core::testing::ExecutorHarness;
use sim_core::{ClientId, CommandId, Op};
use std::collections::VecDeque;

const K: Key = 7;

fn setup(id: u32, n: u32, f: usize) -> ProcessSetup {
    setup_with(id, n, f, false)
}

fn setup_with(id: u32, n: u32, f: usize, failure_detection: bool) -> ProcessSetup {
    let processes: Vec<ProcessId> = (1..=n).map(ProcessId).collect();
    // Distances by id distance: itself first, then its neighbours.
    let mut by_distance = processes.clone();
    by_distance.sort_by_key(|p| (p.0.abs_diff(id), p.0));
    ProcessSetup {
        id: ProcessId(id),
        processes,
        by_distance,
        config: ProtocolConfig { f, leader: None, failure_detection, ..ProtocolConfig::default() },
        rng: RngStreams::new(1).stream(Purpose::Protocol, u64::from(id)),
    }
}

fn process_with(id: u32, n: u32, f: usize, options: &Options) -> Tempo {
    Tempo::new(setup(id, n, f), options).0
}

fn process(id: u32, n: u32, f: usize) -> Tempo {
    process_with(id, n, f, &Options::default())
}

fn command(client: u32, seq: u64, ops: &[(Key, Op)]) -> Arc<Command> {
    Arc::new(Command {
        id: CommandId { client: ClientId(client), seq },
        ops: ops.iter().copied().collect(),
        payload_bytes: 0,
    })
}

fn put(client: u32, key: Key) -> Arc<Command> {
    command(client, 1, &[(key, Op::Put(u64::from(client) + 1))])
}

fn sends(out: &Outbox<Tempo>) -> Vec<(ProcessId, Message)> {
    out.sent()
}

fn executions(out: &Outbox<Tempo>) -> Vec<TableInfo> {
    out.executions()
}

fn to_all(n: u32, msg: &Message) -> Vec<(ProcessId, Message)> {
    (1..=n).map(|p| (ProcessId(p), msg.clone())).collect()
}

fn votes(ranges: &[(u32, u64, u64)]) -> Votes {
    let mut votes = Votes::new();
    for &(voter, start, end) in ranges {
        votes.push(K, VoteRange::new(ProcessId(voter), start, end));
    }
    votes
}

/// Sets `tempo`'s clock of `K` to `clock` (as earlier commands would).
fn set_clock(tempo: &mut Tempo, clock: u64) {
    tempo.clocks.bump(&put(0, K), clock, |_, _| {});
}

/// Coordinator p1 submits a write on `K` and handles its own MCollect and
/// MCollectAck; returns the MCollect sent.
fn submit_and_self_ack(coordinator: &mut Tempo) -> Message {
    let mut out = Outbox::new();
    coordinator.submit(put(0, K), Time::ZERO, &mut out);
    let (_, mcollect) = sends(&out).into_iter().next().expect("MCollect");
    let mut out = Outbox::new();
    coordinator.handle(ProcessId(1), mcollect.clone(), Time::ZERO, &mut out);
    let (to, ack) = sends(&out).into_iter().next().expect("MCollectAck");
    assert_eq!(to, ProcessId(1));
    coordinator.handle(ProcessId(1), ack, Time::ZERO, &mut Outbox::new());
    mcollect
}

fn ack(from: u32, ts: u64, out: &mut Outbox<Tempo>, coordinator: &mut Tempo) {
    let dot = Dot::new(1, 1);
    let votes = votes(&[(from, ts, ts)]);
    coordinator.handle(ProcessId(from), Message::MCollectAck { dot, ts, votes }, Time::from_ns(10), out);
}

fn mcommit_ts(out: &Outbox<Tempo>) -> Option<u64> {
    sends(out).into_iter().find_map(|(_, msg)| match msg {
        Message::MCommit { ts, .. } => Some(ts),
        _ => None,
    })
}

/// tempo.md §13.1: n=5, f=1, FQ=3. Proposals {c:3, p2:4, p3:4} commit 4
/// fast; {c:5, p2:5, p3:7} commit 7 fast (with f=1 the fast path always
/// holds).
#[test]
fn tempo_13_1_fast_path_with_f1() {
    for (clock, p2, p3, expected) in [(2, 4, 4, 4), (4, 5, 7, 7)] {
        let mut c = process(1, 5, 1);
        set_clock(&mut c, clock);
        let Message::MCollect { quorum, ts, .. } = submit_and_self_ack(&mut c) else { panic!("not an MCollect") };
        assert_eq!(quorum, ProcessSet::of(&[ProcessId(1), ProcessId(2), ProcessId(3)]));
        assert_eq!(ts, clock + 1);
        let mut out = Outbox::new();
        ack(2, p2, &mut out, &mut c);
        assert_eq!(mcommit_ts(&out), None, "waits for the whole fast quorum");
        ack(3, p3, &mut out, &mut c);
        assert_eq!(mcommit_ts(&out), Some(expected));
        let commits: Vec<_> = sends(&out).into_iter().filter(|(_, m)| matches!(m, Message::MCommit { .. })).collect();
        assert_eq!(commits.len(), 5, "to every process");
        assert_eq!((out.metrics().fast_paths, out.metrics().slow_paths), (1, 0));
    }
}

/// tempo.md §13.2: n=5, f=2, FQ=4, T=2. {c:2, p2:3, p3:4, p4:4} commits 4
/// fast; {c:2, p2:3, p3:4, p4:3} reports 4 once: slow path, MConsensus
/// (ballot = c's id, ts 4) to the 3 closest, commit 4 after 3 acks.
#[test]
fn tempo_13_2_fast_and_slow_path_with_f2() {
    let mut c = process(1, 5, 2);
    set_clock(&mut c, 1);
    submit_and_self_ack(&mut c);
    let mut out = Outbox::new();
    for (from, ts) in [(2, 3), (3, 4), (4, 4)] {
        ack(from, ts, &mut out, &mut c);
    }
    assert_eq!(mcommit_ts(&out), Some(4));
    assert_eq!((out.metrics().fast_paths, out.metrics().slow_paths), (1, 0));

    let mut c = process(1, 5, 2);
    set_clock(&mut c, 1);
    submit_and_self_ack(&mut c);
    let mut out = Outbox::new();
    for (from, ts) in [(2, 3), (3, 4), (4, 3)] {
        ack(from, ts, &mut out, &mut c);
    }
    assert_eq!((out.metrics().fast_paths, out.metrics().slow_paths), (0, 1));
    let dot = Dot::new(1, 1);
    let consensus = Message::MConsensus { dot, ballot: 1, ts: 4 };
    assert_eq!(sends(&out), [1, 2, 3].map(|p| (ProcessId(p), consensus.clone())).to_vec());

    let mut out = Outbox::new();
    c.handle(ProcessId(1), consensus, Time::from_ns(20), &mut out);
    let own_ack = Message::MConsensusAck { dot, ballot: 1 };
    assert_eq!(sends(&out), vec![(ProcessId(1), own_ack.clone())]);
    let mut out = Outbox::new();
    c.handle(ProcessId(1), own_ack, Time::from_ns(20), &mut out);
    c.handle(ProcessId(2), Message::MConsensusAck { dot, ballot: 1 }, Time::from_ns(30), &mut out);
    c.handle(ProcessId(2), Message::MConsensusAck { dot, ballot: 1 }, Time::from_ns(30), &mut out);
    assert_eq!(mcommit_ts(&out), None, "two distinct acks are not f+1 = 3");
    c.handle(ProcessId(3), Message::MConsensusAck { dot, ballot: 1 }, Time::from_ns(40), &mut out);
    assert_eq!(mcommit_ts(&out), Some(4));
}

/// tempo.md §13.3 at a fast-quorum member: clock 5 and MCollect ts 3 give
/// proposal 6 with [6,6] attached; clock 2 and ts 5 give 5 with [3,5]
/// attached (paper variant: [5,5] attached, [3,4] detached); a commit at 8
/// then detaches [6,8].
#[test]
fn tempo_13_3_member_proposals_and_promises() {
    let dot = Dot::new(1, 1);
    let quorum = ProcessSet::of(&[ProcessId(1), ProcessId(2), ProcessId(3)]);
    let mcollect = |ts| Message::MCollect { dot, cmd: put(0, K), quorum, ts };

    let mut p2 = process(2, 5, 1);
    set_clock(&mut p2, 5);
    let mut out = Outbox::new();
    p2.handle(ProcessId(1), mcollect(3), Time::ZERO, &mut out);
    assert_eq!(sends(&out), vec![(ProcessId(1), Message::MCollectAck { dot, ts: 6, votes: votes(&[(2, 6, 6)]) })]);

    for attach_only_top in [false, true] {
        let mut p2 = process_with(2, 5, 1, &Options { attach_only_top, ..Options::default() });
        set_clock(&mut p2, 2);
        let mut out = Outbox::new();
        p2.handle(ProcessId(1), mcollect(5), Time::ZERO, &mut out);
        let attached = if attach_only_top { votes(&[(2, 5, 5)]) } else { votes(&[(2, 3, 5)]) };
        assert_eq!(sends(&out), vec![(ProcessId(1), Message::MCollectAck { dot, ts: 5, votes: attached })]);

        let mut out = Outbox::new();
        p2.handle(ProcessId(1), Message::MCommit { dot, ts: 8, votes: Arc::new(Votes::new()) }, Time::ZERO, &mut out);
        assert_eq!(p2.clock(K), 8);
        let mut out = Outbox::new();
        p2.handle_timer(Timer::SendDetached, Time::ZERO, &mut out);
        let detached = if attach_only_top { votes(&[(2, 3, 4), (2, 6, 8)]) } else { votes(&[(2, 6, 8)]) };
        assert_eq!(sends(&out), to_all(5, &Message::MDetached { votes: Arc::new(detached) }));
        let mut out = Outbox::new();
        p2.handle_timer(Timer::SendDetached, Time::ZERO, &mut out);
        assert!(sends(&out).is_empty(), "nothing new to broadcast");
    }
}

/// §6.3b: an ack above the coordinator's clock bumps it (detached) so its
/// own next proposals on the key start above `max_ts`.
#[test]
fn coordinator_bumps_to_max_ts_on_acks() {
    let mut c = process(1, 5, 1);
    submit_and_self_ack(&mut c);
    assert_eq!(c.clock(K), 1);
    ack(2, 9, &mut Outbox::new(), &mut c);
    assert_eq!(c.clock(K), 9);
    let mut out = Outbox::new();
    c.handle_timer(Timer::SendDetached, Time::ZERO, &mut out);
    assert_eq!(sends(&out), to_all(5, &Message::MDetached { votes: Arc::new(votes(&[(1, 2, 9)])) }));
}

/// §6.2a/§6.6: an MCommit that overtakes the payload waits for it.
#[test]
fn commit_before_collect_is_buffered() {
    let dot = Dot::new(1, 1);
    let mut p5 = process(5, 5, 1);
    let mut out = Outbox::new();
    let commit = Message::MCommit { dot, ts: 3, votes: Arc::new(votes(&[(1, 1, 3)])) };
    p5.handle(ProcessId(1), commit.clone(), Time::from_ns(5), &mut out);
    assert!(out.effects().is_empty(), "no payload yet: {out:?}");
    let quorum = ProcessSet::of(&[ProcessId(1), ProcessId(2), ProcessId(3)]);
    p5.handle(ProcessId(1), Message::MCollect { dot, cmd: put(0, K), quorum, ts: 1 }, Time::from_ns(9), &mut out);
    assert!(sends(&out).is_empty(), "p5 is outside the fast quorum: no ack");
    let executed = executions(&out);
    assert_eq!(executed.len(), 1);
    assert!(matches!(&executed[0], TableInfo::AttachedVotes { ts: 3, nfr_read: false, .. }));
    assert_eq!(p5.clock(K), 3, "bumped on commit");
    let mut out = Outbox::new();
    p5.handle(ProcessId(1), commit, Time::from_ns(9), &mut out);
    assert!(out.effects().is_empty(), "a duplicate commit is ignored");
}

/// Duplicates of every message are ignored: no second ack, commit or
/// execution, and a duplicate ack does not count towards the quorum.
#[test]
fn duplicate_messages_are_ignored() {
    let dot = Dot::new(1, 1);
    let quorum = ProcessSet::of(&[ProcessId(1), ProcessId(2), ProcessId(3)]);
    let mcollect = Message::MCollect { dot, cmd: put(0, K), quorum, ts: 1 };
    let mut p2 = process(2, 5, 1);
    let mut out = Outbox::new();
    p2.handle(ProcessId(1), mcollect.clone(), Time::ZERO, &mut out);
    assert_eq!(sends(&out).len(), 1);
    let mut out = Outbox::new();
    p2.handle(ProcessId(1), mcollect.clone(), Time::ZERO, &mut out);
    p2.handle(ProcessId(3), mcollect, Time::ZERO, &mut out);
    assert!(out.effects().is_empty(), "a duplicate, and a proposal not from the coordinator");

    let mut c = process(1, 5, 1);
    submit_and_self_ack(&mut c);
    let mut out = Outbox::new();
    ack(2, 1, &mut out, &mut c);
    ack(2, 1, &mut out, &mut c);
    ack(4, 1, &mut out, &mut c);
    assert_eq!(mcommit_ts(&out), None, "p2 twice and p4 (outside the quorum) are not p3");
    ack(3, 1, &mut out, &mut c);
    assert_eq!(mcommit_ts(&out), Some(1));
    let mut out = Outbox::new();
    ack(3, 1, &mut out, &mut c);
    assert!(out.effects().is_empty());
}

/// A hand-driven cluster: messages are delivered one at a time in the
/// order the test picks (FIFO by default); a message to oneself is handled
/// right after the call that sent it, as in the engine.
struct Cluster {
    /// Processes that receive nothing (and are never run).
    crashed: Vec<ProcessId>,
    processes: Vec<Tempo>,
    executors: Vec<TableExecutor>,
    harnesses: Vec<ExecutorHarness>,
    network: VecDeque<(ProcessId, ProcessId, Message)>,
    executed: Vec<Vec<CommandId>>,
    metrics: ProtocolMetrics,
    now: Time,
}

impl Cluster {
    fn new(n: u32, f: usize, options: &Options) -> Cluster {
        Cluster::with(n, f, options, false)
    }

    fn with(n: u32, f: usize, options: &Options, failure_detection: bool) -> Cluster {
        let (processes, executors) =
            (1..=n).map(|id| Tempo::new(setup_with(id, n, f, failure_detection), options)).unzip();
        Cluster {
            crashed: Vec::new(),
            processes,
            executors,
            harnesses: (1..=n).map(|id| ExecutorHarness::new(ProcessId(id), 8)).collect(),
            network: VecDeque::new(),
            executed: vec![Vec::new(); n as usize],
            metrics: ProtocolMetrics::default(),
            now: Time::ZERO,
        }
    }

    fn run(&mut self, p: ProcessId, call: impl FnOnce(&mut Tempo, Time, &mut Outbox<Tempo>)) {
        let mut out = Outbox::new();
        call(&mut self.processes[p.index()], self.now, &mut out);
        let mut own = VecDeque::new();
        loop {
            self.metrics.merge(out.metrics());
            for effect in out.take() {
                match effect {
                    Effect::Send { to, msg } if to == p => own.push_back(msg),
                    Effect::Send { to, msg } => self.network.push_back((p, to, msg)),
                    Effect::Execute(info) => {
                        let ids = self.harnesses[p.index()].step(&mut self.executors[p.index()], info, self.now);
                        self.executed[p.index()].extend(ids);
                    }
                    Effect::SetTimer { .. } | Effect::CancelTimer { .. } => {}
                }
            }
            out = Outbox::new();
            let Some(msg) = own.pop_front() else { break };
            self.processes[p.index()].handle(p, msg, self.now, &mut out);
        }
    }

    fn submit(&mut self, p: u32, cmd: Arc<Command>) {
        self.run(ProcessId(p), |tempo, now, out| tempo.submit(cmd, now, out));
    }

    fn deliver(&mut self, position: usize) {
        let (from, to, msg) = self.network.remove(position).expect("a message at that position");
        self.now = self.now.plus_ns(1);
        if self.crashed.contains(&to) {
            return;
        }
        self.run(to, |tempo, now, out| tempo.handle(from, msg, now, out));
    }

    fn deliver_all(&mut self) {
        while !self.network.is_empty() {
            self.deliver(0);
        }
    }

    /// Delivers everything, dropping the messages `lost` picks.
    fn deliver_all_but(&mut self, lost: impl Fn(&(ProcessId, ProcessId, Message)) -> bool) {
        while let Some(message) = self.network.front() {
            if lost(message) {
                self.network.pop_front();
            } else {
                self.deliver(0);
            }
        }
    }

    fn fire(&mut self, timer: Timer) {
        for p in 1..=self.processes.len() {
            self.run(ProcessId::from_index(p - 1), |tempo, now, out| tempo.handle_timer(timer, now, out));
        }
    }
}

/// Conflicting commands from every coordinator, their messages delivered
/// in a scrambled order: every process executes them all, in the same
/// order, once the detached promises are broadcast.
#[test]
fn conflicting_commands_execute_in_one_order_everywhere() {
    for f in [1, 2] {
        let mut cluster = Cluster::new(5, f, &Options::default());
        for p in 1..=5 {
            cluster.submit(p, command(p, 1, &[(K, Op::Put(u64::from(p)))]));
        }
        let mut step = 0usize;
        while !cluster.network.is_empty() {
            step += 1;
            let position = (step * 7919) % cluster.network.len();
            cluster.deliver(position);
        }
        cluster.fire(Timer::SendDetached);
        cluster.deliver_all();
        let first = cluster.executed[0].clone();
        assert_eq!(first.len(), 5, "f={f}: {:?}", cluster.executed);
        for executed in &cluster.executed {
            assert_eq!(executed, &first, "f={f}");
        }
        assert_eq!(cluster.metrics.fast_paths + cluster.metrics.slow_paths, 5);
    }
}

/// Without conflicts a command executes at commit, everywhere, with no
/// detached promise needed (the formula test relies on it). Once the
/// detached promises arrive, every executor puts the key to rest.
#[test]
fn a_conflict_free_command_executes_at_commit() {
    let mut cluster = Cluster::new(5, 1, &Options::default());
    cluster.submit(1, put(0, K));
    cluster.deliver_all();
    assert!(cluster.executed.iter().all(|executed| executed.len() == 1), "{:?}", cluster.executed);
    assert!(cluster.executors.iter().all(|executor| executor.active_keys() == 1), "p4 and p5 promised nothing yet");
    cluster.fire(Timer::SendDetached);
    cluster.deliver_all();
    assert!(cluster.executors.iter().all(|executor| executor.active_keys() == 0 && executor.stable(K) == 1));
    cluster.submit(2, put(1, K));
    cluster.deliver_all();
    assert!(
        cluster.executed.iter().all(|executed| executed.len() == 2),
        "the key woke up at 1: {:?}",
        cluster.executed
    );
}

/// §12: once every process reported a dot committed, its state is gone,
/// and a late duplicate does not bring it back.
#[test]
fn garbage_collection_frees_per_command_state() {
    let mut cluster = Cluster::new(3, 1, &Options::default());
    cluster.submit(1, put(0, K));
    cluster.submit(2, put(1, 9));
    cluster.deliver_all();
    assert!(cluster.processes.iter().all(|p| p.instances() == 2));
    // p3 has not reported yet: nothing is collected.
    for p in [0, 1] {
        cluster.run(ProcessId::from_index(p), |tempo, now, out| tempo.handle_timer(Timer::GarbageCollection, now, out));
    }
    cluster.network.retain(|(_, to, _)| *to != ProcessId(3));
    cluster.deliver_all();
    assert!(cluster.processes.iter().all(|p| p.instances() == 2));
    cluster.fire(Timer::GarbageCollection);
    cluster.deliver_all();
    assert!(cluster.processes.iter().all(|p| p.instances() == 0));
    let late = Message::MCommit { dot: Dot::new(1, 1), ts: 1, votes: Arc::new(Votes::new()) };
    let mut out = Outbox::new();
    cluster.processes[2].handle(ProcessId(1), late, Time::ZERO, &mut out);
    assert!(out.effects().is_empty());
    assert_eq!(cluster.processes[2].instances(), 0);
}

/// §9 NFR: a read on a key whose clock is 1 proposes 1 (no +1) on a
/// majority, commits fast, ties with the write at 1 and runs after it,
/// only at its coordinator.
#[test]
fn nfr_read_ties_after_the_write_and_runs_at_its_coordinator_only() {
    let options = Options { nfr: true, ..Options::default() };
    let mut cluster = Cluster::new(5, 2, &options);
    cluster.submit(1, put(0, K));
    cluster.deliver_all();
    cluster.fire(Timer::SendDetached);
    cluster.deliver_all();
    assert!(cluster.executed.iter().all(|executed| executed.len() == 1));
    assert!(cluster.processes.iter().all(|p| p.clock(K) == 1));
    let read = command(1, 1, &[(K, Op::Get)]);
    cluster.submit(3, read.clone());
    let Some((_, _, Message::MCollect { quorum, ts, .. })) = cluster.network.front().cloned() else {
        panic!("an MCollect")
    };
    assert_eq!((quorum.len(), ts), (3, 1), "a majority, proposing the clock itself");
    cluster.deliver_all();
    cluster.fire(Timer::SendDetached);
    cluster.deliver_all();
    assert_eq!(cluster.executed[2], vec![put(0, K).id, read.id]);
    for p in [0, 1, 3, 4] {
        assert_eq!(cluster.executed[p].len(), 1, "p{} does not run the read", p + 1);
    }
    assert_eq!((cluster.metrics.fast_paths, cluster.metrics.slow_paths), (2, 0));
}

/// §8 ClockBump: every key with a clock moves to the current time in µs
/// (or the highest commit), and commits no longer bump.
#[test]
fn clock_bump_moves_every_key_to_now() {
    let options = Options { clock_bump_interval_ns: Some(NS_PER_MS), ..Options::default() };
    let mut p5 = process_with(5, 5, 1, &options);
    let dot = Dot::new(1, 1);
    let quorum = ProcessSet::of(&[ProcessId(1), ProcessId(2), ProcessId(3)]);
    let mut out = Outbox::new();
    p5.handle(ProcessId(1), Message::MCollect { dot, cmd: put(0, K), quorum, ts: 1 }, Time::ZERO, &mut out);
    p5.handle(ProcessId(1), Message::MCommit { dot, ts: 4, votes: Arc::new(Votes::new()) }, Time::ZERO, &mut out);
    assert_eq!(p5.clock(K), 0, "commits do not bump with ClockBump on");
    p5.handle_timer(Timer::ClockBump, Time::from_ns(2_500), &mut out);
    assert_eq!(p5.clock(K), 4, "max(max commit 4, now 2 µs)");
    p5.handle_timer(Timer::ClockBump, Time::from_ns(7_000_000), &mut out);
    assert_eq!(p5.clock(K), 7_000);
    let mut out = Outbox::new();
    p5.handle_timer(Timer::SendDetached, Time::ZERO, &mut out);
    let coalesced = Message::MDetached { votes: Arc::new(votes(&[(5, 1, 7_000)])) };
    assert_eq!(sends(&out), to_all(5, &coalesced));
}

#[test]
fn check_and_quorums() {
    assert!(Tempo::check(5, 2).is_ok());
    assert!(Tempo::check(5, 3).unwrap_err().contains("floor(n/2) = 2"));
    assert!(Tempo::check(65, 1).is_err());
    let tiny = Options { tiny_quorums: true, ..Options::default() };
    assert_eq!(Tempo::fast_quorum_size(5, 1, &Options::default()), 3);
    assert_eq!((Tempo::fast_quorum_size(5, 1, &tiny), Tempo::stability_threshold(5, 1, &tiny)), (2, 4));
    assert_eq!(Tempo::stability_threshold(7, 3, &Options::default()), 4);
}

/// Every process holds an instance per command in flight: one cache line.
#[test]
fn an_instance_fits_a_cache_line() {
    assert!(std::mem::size_of::<instances::Instance>() <= 64, "{} bytes", std::mem::size_of::<instances::Instance>());
}

/// Every message waits in the event queue, which copies it around: no
/// variant is bigger than an MCollect (tag, dot, command, quorum, ts).
#[test]
fn a_message_is_no_bigger_than_an_mcollect() {
    assert!(std::mem::size_of::<Message>() <= 48, "{} bytes", std::mem::size_of::<Message>());
}

/// The payload moves on to the executor at commit (the instance no longer
/// holds it); a late MConsensus is still answered with the commit. Under
/// ClockBump the instance keeps it: a late MConsensus may still bump.
#[test]
fn the_payload_leaves_the_instance_at_commit() {
    for (clock_bump, kept) in [(None, false), (Some(NS_PER_MS), true)] {
        let options = Options { clock_bump_interval_ns: clock_bump, ..Options::default() };
        let dot = Dot::new(1, 1);
        let quorum = ProcessSet::of(&[ProcessId(1), ProcessId(2), ProcessId(3)]);
        let mut p2 = process_with(2, 5, 1, &options);
        let mut out = Outbox::new();
        p2.handle(ProcessId(1), Message::MCollect { dot, cmd: put(0, K), quorum, ts: 1 }, Time::ZERO, &mut out);
        let commit = Message::MCommit { dot, ts: 1, votes: Arc::new(votes(&[(1, 1, 1), (2, 1, 1), (3, 1, 1)])) };
        p2.handle(ProcessId(1), commit.clone(), Time::ZERO, &mut out);
        assert_eq!(p2.instances.get(dot).expect("not collected").cmd.is_some(), kept, "ClockBump {clock_bump:?}");
        assert!(matches!(executions(&out)[..], [TableInfo::AttachedVotes { ts: 1, .. }]));
        let mut out = Outbox::new();
        p2.handle(ProcessId(1), Message::MConsensus { dot, ballot: 1, ts: 1 }, Time::ZERO, &mut out);
        assert_eq!(sends(&out), vec![(ProcessId(1), commit)]);
    }
}

/// A command's key, once every process's promises are in, is at rest at
/// its timestamp: as one bit in its block of 64 keys, at every executor,
/// with no table left behind.
#[test]
fn keys_used_once_end_as_bits() {
    let mut cluster = Cluster::new(3, 1, &Options::default());
    let base: Key = 1 << 40;
    for (seq, key) in (base..base + 100).enumerate() {
        let cmd = command(seq as u32 % 8, seq as u64 + 1, &[(key, Op::Put(1))]);
        cluster.submit(1 + seq as u32 % 3, cmd);
    }
    cluster.deliver_all();
    cluster.fire(Timer::SendDetached);
    cluster.deliver_all();
    for executor in &cluster.executors {
        assert_eq!(executor.active_keys(), 0);
        assert!((base..base + 100).all(|key| executor.stable(key) == 1));
        assert_eq!(executor.stored_keys(), (2, 0), "100 consecutive keys at 1: two blocks, nothing else");
    }
    for process in &cluster.processes {
        assert!((base..base + 100).all(|key| process.clock(key) == 1));
    }
}

/// Sets `tempo`'s clock of `K` to `clock`, its promises detached (sent
/// with the next `SendDetached`), as earlier commands would leave them.
fn set_clock_promised(tempo: &mut Tempo, clock: u64) {
    let detached = &mut tempo.detached;
    tempo.clocks.bump(&put(0, K), clock, |key, range| detached.add(key, range));
}

/// A cluster of 5 with f = 2 and failure detection; p1's fast quorum is
/// {1, 2, 3, 4}. p1 submits a write on `K`; its MCollect reaches everyone.
fn recovery_cluster(clocks: [u64; 5]) -> Cluster {
    let mut cluster = Cluster::with(5, 2, &Options::default(), true);
    for (process, clock) in cluster.processes.iter_mut().zip(clocks) {
        set_clock_promised(process, clock);
    }
    cluster.submit(1, put(0, K));
    cluster
}

/// Delivers the first message matching `pick`.
fn deliver_where(cluster: &mut Cluster, pick: impl Fn(&(ProcessId, ProcessId, Message)) -> bool) {
    let position = cluster.network.iter().position(pick).expect("such a message");
    cluster.deliver(position);
}

/// `p`'s watch on `dot` fires, long after it was set.
fn watch_fires(cluster: &mut Cluster, p: u32, dot: Dot) {
    cluster.now = cluster.now.plus_ns(60 * sim_core::time::NS_PER_S);
    cluster.run(ProcessId(p), |tempo, now, out| tempo.handle_timer(Timer::Watch(dot), now, out));
}

/// The timestamp `dot` committed with at `p`, if it did.
fn committed_ts(cluster: &Cluster, p: u32, dot: Dot) -> Option<u64> {
    let instance = cluster.processes[p as usize - 1].instances.get(dot)?;
    (instance.status == Status::Commit).then(|| instance.commit.as_ref().expect("kept").0)
}

/// tempo.md §11.3 a: n = 5, f = 2. p1's proposals {p1:1, p2:1, p3:6,
/// p4:1} hold the maximum once, below T = 2: slow path, MConsensus
/// (ballot 1, ts 6), accepted by p2 only before p1 and p3 crash. p5
/// recovers with R = {2, 4, 5}: p2's accepted 6 wins, where the members
/// of Q ∩ R only proposed 1 (§11.3 c would give 1).
#[test]
fn tempo_11_recovering_a_dot_a_quorum_member_accepted() {
    let dot = Dot::new(1, 1);
    let mut cluster = recovery_cluster([0, 0, 5, 0, 0]);
    for p in 2..=5 {
        deliver_where(&mut cluster, |(_, to, msg)| *to == ProcessId(p) && matches!(msg, Message::MCollect { .. }));
    }
    for p in 2..=4 {
        deliver_where(&mut cluster, |(from, _, msg)| {
            *from == ProcessId(p) && matches!(msg, Message::MCollectAck { .. })
        });
    }
    assert_eq!((cluster.metrics.fast_paths, cluster.metrics.slow_paths), (0, 1));
    let consensus = Message::MConsensus { dot, ballot: 1, ts: 6 };
    deliver_where(&mut cluster, |(_, to, msg)| *to == ProcessId(2) && *msg == consensus);
    cluster.crashed = vec![ProcessId(1), ProcessId(3)];
    cluster.network.retain(|(from, _, _)| !cluster.crashed.contains(from));
    cluster.deliver_all();
    watch_fires(&mut cluster, 5, dot);
    cluster.deliver_all();
    for p in [2, 4, 5] {
        assert_eq!(committed_ts(&cluster, p, dot), Some(6), "p{p}");
    }
    assert_eq!(cluster.metrics.recovery.recoveries_started, 1);
    assert_eq!(cluster.metrics.recovery.recoveries_finished, 1, "at p5, which recovered it");
}

/// tempo.md §11.3 c, and a recovered dot reaching the executor: p1's
/// proposals {p1:1, p2:1, p3:6, p4:6} commit 6 on the fast path at p1,
/// whose MCommit is lost; p1 and p4 crash. p5 (clock 9) recovers with
/// R = {2, 3, 5}: 2 and 3 only proposed and the coordinator is not in R,
/// so the fast path may have happened and the timestamp is the maximum of
/// Q ∩ R, 6 (not 10, p5's own proposal when it joined). The recovery's
/// MCommit carries R's attached promises, so with two processes crashed
/// the three live ones still see the command stable and execute it.
#[test]
fn tempo_11_recovering_a_dot_members_only_proposed_keeps_the_fast_path() {
    let dot = Dot::new(1, 1);
    let mut cluster = recovery_cluster([0, 0, 5, 5, 9]);
    for p in 2..=5 {
        deliver_where(&mut cluster, |(_, to, msg)| *to == ProcessId(p) && matches!(msg, Message::MCollect { .. }));
    }
    for p in 2..=4 {
        deliver_where(&mut cluster, |(from, _, msg)| {
            *from == ProcessId(p) && matches!(msg, Message::MCollectAck { .. })
        });
    }
    assert_eq!(cluster.metrics.fast_paths, 1);
    assert_eq!(committed_ts(&cluster, 1, dot), Some(6), "committed at the coordinator");
    cluster.crashed = vec![ProcessId(1), ProcessId(4)];
    cluster.network.retain(|(from, _, msg)| !cluster.crashed.contains(from) && !matches!(msg, Message::MCommit { .. }));
    cluster.deliver_all();
    watch_fires(&mut cluster, 5, dot);
    cluster.deliver_all();
    for p in [2, 3, 5] {
        assert_eq!(committed_ts(&cluster, p, dot), Some(6), "p{p}");
    }
    let votes = cluster.processes[1].instances.get(dot).and_then(|i| i.commit.clone()).expect("committed").1;
    let mut voters: Vec<u32> = votes.iter().map(|(_, range)| range.voter.0).collect();
    voters.sort_unstable();
    assert_eq!(voters, [2, 3, 5], "the repliers' attached promises");
    for p in [2, 3, 5] {
        cluster.run(ProcessId(p), |tempo, now, out| tempo.handle_timer(Timer::SendDetached, now, out));
    }
    cluster.deliver_all();
    for p in [2, 3, 5] {
        assert_eq!(cluster.executed[p - 1], vec![put(0, K).id], "p{p} executed it");
    }
}

/// §11.2: a process that committed the dot answers a recovery with the
/// commit: p1 commits fast and only p2 gets its MCommit before p1
/// crashes; p5's recovery learns the commit from p2, and p3's later one
/// from p2 and p5: one timestamp everywhere.
#[test]
fn tempo_11_recovering_a_committed_dot() {
    let dot = Dot::new(1, 1);
    let mut cluster = recovery_cluster([0, 0, 5, 5, 0]);
    cluster.deliver_all_but(|(from, to, msg)| {
        *from == ProcessId(1) && *to != ProcessId(2) && matches!(msg, Message::MCommit { .. })
    });
    assert_eq!((committed_ts(&cluster, 1, dot), committed_ts(&cluster, 2, dot)), (Some(6), Some(6)));
    assert_eq!(committed_ts(&cluster, 5, dot), None);
    cluster.crashed = vec![ProcessId(1)];
    watch_fires(&mut cluster, 5, dot);
    cluster.deliver_all();
    assert_eq!(committed_ts(&cluster, 5, dot), Some(6));
    for p in [3, 4] {
        if committed_ts(&cluster, p, dot).is_none() {
            watch_fires(&mut cluster, p, dot);
            cluster.deliver_all();
        }
        assert_eq!(committed_ts(&cluster, p, dot), Some(6), "p{p}");
    }
}

/// Without failure detection nothing of §11 runs: no watch is set and an
/// MRec is ignored.
#[test]
fn no_recovery_without_failure_detection() {
    let mut p1 = process(1, 5, 1);
    let mut out = Outbox::new();
    p1.submit(put(0, K), Time::ZERO, &mut out);
    assert!(out.effects().iter().all(|effect| !matches!(effect, Effect::SetTimer { timer: Timer::Watch(_), .. })));
    let mut out = Outbox::new();
    p1.handle(ProcessId(2), Message::MRec { dot: Dot::new(2, 1), cmd: put(0, K), ballot: 7 }, Time::ZERO, &mut out);
    assert!(out.effects().is_empty());
}
