use super::*;
use sim_core::protocol::{Effect, ProtocolConfig};
use sim_core::rng::{Purpose, RngStreams};
use sim_core::testing::ExecutorHarness;
use sim_core::{ClientId, CommandId, Op};
use std::collections::VecDeque;

/// Process `id` of `n`, closest processes by id distance (ties: lower
/// id first), with `options`.
fn process_with(id: u32, n: u32, options: &Options) -> (EPaxos, EPaxosExecutor) {
    process_configured(id, n, options, false)
}

/// [`process_with`], with failure detection on or off.
fn process_configured(id: u32, n: u32, options: &Options, failure_detection: bool) -> (EPaxos, EPaxosExecutor) {
    let processes: Vec<ProcessId> = (1..=n).map(ProcessId).collect();
    let mut by_distance = processes.clone();
    by_distance.sort_by_key(|p| (p.0.abs_diff(id), p.0));
    let setup = ProcessSetup {
        id: ProcessId(id),
        processes,
        by_distance,
        config: ProtocolConfig { f: 1, leader: None, failure_detection, ..ProtocolConfig::default() },
        rng: RngStreams::new(1).stream(Purpose::Protocol, u64::from(id)),
    };
    EPaxos::new(setup, options)
}

fn process(id: u32, n: u32) -> EPaxos {
    process_with(id, n, &Options::default()).0
}

/// A command of client 0 numbered `number` writing `keys`.
fn put(number: u64, keys: &[Key]) -> Arc<Command> {
    let id = CommandId { client: ClientId(0), seq: number };
    Arc::new(Command { id, ops: keys.iter().map(|&key| (key, Op::Put(number))).collect(), payload_bytes: 0 })
}

fn sends(out: &Outbox<EPaxos>) -> Vec<(ProcessId, Message)> {
    out.sent()
}

fn executions(out: &Outbox<EPaxos>) -> Vec<Committed> {
    out.executions()
}

fn to_each(targets: &[u32], msg: &Message) -> Vec<(ProcessId, Message)> {
    targets.iter().map(|&p| (ProcessId(p), msg.clone())).collect()
}

fn deps(dots: &[Dot]) -> Arc<[Dot]> {
    dots.into()
}

fn pre_accept_ok(dot: Dot, seq: u64, dots: &[Dot]) -> Message {
    Message::PreAcceptOk { dot, ballot: 1, seq, deps: deps(dots), committed_deps: Vec::new() }
}

/// Delivers `msg` from `from` to `to` at time 0; returns the effects.
fn deliver(to: &mut EPaxos, from: u32, msg: Message) -> Outbox<EPaxos> {
    let mut out = Outbox::new();
    to.handle(ProcessId(from), msg, Time::ZERO, &mut out);
    out
}

/// Process 1 of 5 has pre-accepted `a = (4,1)`, a write on key 7 with
/// seq 2, and submits a write on key 7: its attributes are (3, {a}).
fn leader_after_a() -> (EPaxos, Dot, Dot) {
    let mut leader = process(1, 5);
    let a = Dot::new(4, 1);
    deliver(&mut leader, 4, Message::PreAccept { dot: a, ballot: 4, cmd: put(1, &[7]), seq: 2, deps: deps(&[]) });
    let mut out = Outbox::new();
    leader.submit(put(2, &[7]), Time::ZERO, &mut out);
    let gamma = Dot::new(1, 1);
    let pre_accept = Message::PreAccept { dot: gamma, ballot: 1, cmd: put(2, &[7]), seq: 3, deps: deps(&[a]) };
    assert_eq!(sends(&out), to_each(&[2, 3], &pre_accept), "PreAccept to the other FQ members only");
    (leader, a, gamma)
}

/// epaxos.md §10.1: fast quorum sizes, and which processes form the
/// quorums (the closest ones, the leader included).
#[test]
fn epaxos_10_1_fast_quorum_sizes() {
    assert_eq!((quorum::epaxos_f(5), quorum::epaxos_fast(5)), (2, 3), "n=5: leader + 2");
    assert_eq!((quorum::epaxos_f(7), quorum::epaxos_fast(7)), (3, 5), "n=7: leader + 4 identical replies");
    assert_eq!((quorum::epaxos_f(13), quorum::epaxos_fast(13)), (6, 9));
    let ids = |ps: &[ProcessId]| ps.iter().map(|p| p.0).collect::<Vec<_>>();
    let five = process(1, 5);
    assert_eq!((ids(five.fast_quorum_others()), ids(five.slow_quorum_others())), (vec![2, 3], vec![2, 3]));
    let seven = process(4, 7);
    assert_eq!(ids(seven.fast_quorum_others()), vec![3, 5, 2, 6], "the 4 closest others");
    assert_eq!(ids(seven.slow_quorum_others()), vec![3, 5, 2], "F = 3 closest others");
    let thirteen = process(1, 13);
    assert_eq!((thirteen.fast_quorum_others().len(), thirteen.slow_quorum_others().len()), (8, 6));
}

/// epaxos.md §10.2: replies 2:(3,{a}) and 3:(3,{a}) are identical →
/// commit (3,{a}) after one round trip.
#[test]
fn epaxos_10_2_fast_path() {
    let (mut leader, a, gamma) = leader_after_a();
    let mut out = Outbox::new();
    leader.handle(ProcessId(2), pre_accept_ok(gamma, 3, &[a]), Time::from_ns(100), &mut out);
    assert!(out.effects().is_empty(), "one of two replies");
    leader.handle(ProcessId(3), pre_accept_ok(gamma, 3, &[a]), Time::from_ns(120), &mut out);
    let commit = Message::Commit { dot: gamma, cmd: put(2, &[7]), seq: 3, deps: deps(&[a]) };
    assert_eq!(sends(&out), to_each(&[2, 3, 4, 5], &commit));
    let committed = Committed { dot: gamma, cmd: Some(put(2, &[7])), deps: vec![a], order: 3 };
    assert_eq!(executions(&out), vec![committed]);
    let metrics = out.metrics().summary();
    assert_eq!((metrics.fast_paths, metrics.slow_paths), (1, 0));
    assert_eq!((metrics.commit_latency.count, metrics.commit_latency.mean_ns), (1, 120));
    assert_eq!((metrics.dependencies.count, metrics.dependencies.mean_ns), (1, 1));
    let late = deliver(&mut leader, 3, pre_accept_ok(gamma, 3, &[a]));
    assert!(late.effects().is_empty(), "a late duplicate after the commit does nothing");
}

/// epaxos.md §10.3: replies 2:(3,{a}) and 3:(4,{a,b}) differ → Accept
/// (4,{a,b}) to the 2 closest others, commit after both AcceptOK (3 of
/// 5 with the leader).
#[test]
fn epaxos_10_3_slow_path() {
    let (mut leader, a, gamma) = leader_after_a();
    let b = Dot::new(5, 1);
    deliver(&mut leader, 2, pre_accept_ok(gamma, 3, &[a]));
    let out = deliver(&mut leader, 3, pre_accept_ok(gamma, 4, &[a, b]));
    let accept = Message::Accept { dot: gamma, ballot: 1, cmd: put(2, &[7]), seq: 4, deps: deps(&[a, b]) };
    assert_eq!(sends(&out), to_each(&[2, 3], &accept));
    assert_eq!((out.metrics().fast_paths, out.metrics().slow_paths), (0, 1));
    assert!(executions(&out).is_empty());

    let ack = Message::AcceptOk { dot: gamma, ballot: 1 };
    assert!(deliver(&mut leader, 2, ack.clone()).effects().is_empty(), "2 of 3");
    assert!(deliver(&mut leader, 2, ack.clone()).effects().is_empty(), "a duplicate ack does not count");
    assert!(deliver(&mut leader, 4, ack.clone()).effects().is_empty(), "4 was not asked");
    let stale = Message::AcceptOk { dot: gamma, ballot: 6 };
    assert!(deliver(&mut leader, 3, stale).effects().is_empty(), "another ballot does not count");
    let out = deliver(&mut leader, 3, ack);
    let commit = Message::Commit { dot: gamma, cmd: put(2, &[7]), seq: 4, deps: deps(&[a, b]) };
    assert_eq!(sends(&out), to_each(&[2, 3, 4, 5], &commit));
    assert_eq!(executions(&out), vec![Committed { dot: gamma, cmd: Some(put(2, &[7])), deps: vec![a, b], order: 4 }]);
    assert_eq!(out.metrics().summary().dependencies.mean_ns, 2);
}

/// The acceptor side of §5.4: Accept at the current or a higher ballot
/// is accepted (bal and abal follow), a lower one ignored.
#[test]
fn accept_keeps_bal_and_abal() {
    let mut replica = process(2, 5);
    let gamma = Dot::new(1, 1);
    deliver(&mut replica, 1, Message::PreAccept { dot: gamma, ballot: 1, cmd: put(1, &[7]), seq: 1, deps: deps(&[]) });
    let instance = replica.instances.get(gamma).expect("pre-accepted");
    assert_eq!((instance.status, instance.bal, instance.abal), (Status::PreAccepted, 1, 1));
    let accept = |ballot| Message::Accept { dot: gamma, ballot, cmd: put(1, &[7]), seq: 2, deps: deps(&[]) };
    let out = deliver(&mut replica, 1, accept(1));
    assert_eq!(sends(&out), vec![(ProcessId(1), Message::AcceptOk { dot: gamma, ballot: 1 })]);
    let out = deliver(&mut replica, 3, accept(8));
    assert_eq!(sends(&out), vec![(ProcessId(3), Message::AcceptOk { dot: gamma, ballot: 8 })]);
    assert!(deliver(&mut replica, 1, accept(1)).effects().is_empty(), "ballot 1 < 8");
    let instance = replica.instances.get(gamma).expect("accepted");
    assert_eq!((instance.status, instance.bal, instance.abal, instance.seq), (Status::Accepted, 8, 8, 2));
}

/// epaxos.md §10.4: the leader's interfering instances have seq 2 and
/// 5 → it proposes 6; a replica that also knows one with seq 7 replies
/// 8 → the replies differ → slow path with seq 8.
#[test]
fn epaxos_10_4_seq() {
    let (x, y, z, gamma) = (Dot::new(4, 1), Dot::new(5, 1), Dot::new(4, 2), Dot::new(1, 1));
    let pre_accept = |dot, number, keys: &[Key], seq| Message::PreAccept {
        dot,
        ballot: u64::from(dot.origin.0),
        cmd: put(number, keys),
        seq,
        deps: deps(&[]),
    };
    let (mut leader, mut two, mut three) = (process(1, 5), process(2, 5), process(3, 5));
    for p in [&mut leader, &mut two, &mut three] {
        deliver(p, 4, pre_accept(x, 1, &[7], 2));
        deliver(p, 5, pre_accept(y, 2, &[8], 5));
    }
    deliver(&mut two, 4, pre_accept(z, 3, &[7], 7));

    let mut out = Outbox::new();
    leader.submit(put(4, &[7, 8]), Time::ZERO, &mut out);
    let [(_, to_two), (_, to_three)] = <[_; 2]>::try_from(sends(&out)).expect("two PreAccepts");
    let Message::PreAccept { seq: 6, deps: ref leader_deps, .. } = to_two else {
        panic!("the leader proposes seq 6: {to_two:?}");
    };
    assert_eq!(**leader_deps, [x, y]);
    let reply_two = sends(&deliver(&mut two, 1, to_two)).remove(0).1;
    let reply_three = sends(&deliver(&mut three, 1, to_three)).remove(0).1;
    assert_eq!(reply_two, pre_accept_ok(gamma, 8, &[x, z, y]), "1 + 7");
    assert_eq!(reply_three, pre_accept_ok(gamma, 6, &[x, y]));
    deliver(&mut leader, 2, reply_two);
    let out = deliver(&mut leader, 3, reply_three);
    let accept = Message::Accept { dot: gamma, ballot: 1, cmd: put(4, &[7, 8]), seq: 8, deps: deps(&[x, z, y]) };
    assert_eq!(sends(&out), to_each(&[2, 3], &accept));
}

/// §3: the per-key maxima follow an instance whose seq a slow path
/// (Accept) or a Commit raised above what was pre-accepted, and count
/// instances learned from a Commit alone.
#[test]
fn seq_follows_raised_and_commit_only_instances() {
    let mut replica = process(2, 5);
    let (g1, g2, g3) = (Dot::new(1, 1), Dot::new(3, 1), Dot::new(4, 1));
    deliver(&mut replica, 1, Message::PreAccept { dot: g1, ballot: 1, cmd: put(1, &[7]), seq: 1, deps: deps(&[]) });
    deliver(&mut replica, 1, Message::Accept { dot: g1, ballot: 1, cmd: put(1, &[7]), seq: 6, deps: deps(&[]) });
    assert_eq!(replica.next_seq(&put(9, &[7])), 7, "raised by Accept");
    deliver(&mut replica, 3, Message::PreAccept { dot: g2, ballot: 3, cmd: put(2, &[8]), seq: 1, deps: deps(&[]) });
    deliver(&mut replica, 3, Message::Commit { dot: g2, cmd: put(2, &[8]), seq: 9, deps: deps(&[]) });
    assert_eq!(replica.next_seq(&put(9, &[8])), 10, "raised by Commit");
    deliver(&mut replica, 4, Message::Commit { dot: g3, cmd: put(3, &[9]), seq: 4, deps: deps(&[]) });
    assert_eq!(replica.next_seq(&put(9, &[9])), 5, "learned from a Commit alone");
    let read = Arc::new(Command {
        id: CommandId { client: ClientId(0), seq: 9 },
        ops: vec![(9, Op::Get)].into(),
        payload_bytes: 0,
    });
    assert_eq!(replica.next_seq(&read), 5, "a read interferes with writes");
    deliver(&mut replica, 4, Message::Commit { dot: Dot::new(4, 2), cmd: read.clone(), seq: 11, deps: deps(&[]) });
    assert_eq!(replica.next_seq(&read), 5, "reads do not interfere with reads");
    assert_eq!(replica.next_seq(&put(9, &[9])), 12, "but with writes");
}

/// epaxos.md §10.5: the committed component {x: seq 4, (2,1); y: seq
/// 4, (1,3); z: seq 3, (3,1)} executes z, y, x (fantoch's dot-only
/// order would be y, x, z), through the Commits of a process outside
/// every fast quorum and its executor.
#[test]
fn epaxos_10_5_execution_order() {
    let (x, y, z) = (Dot::new(2, 1), Dot::new(1, 3), Dot::new(3, 1));
    let (mut replica, mut executor) = process_with(4, 5, &Options::default());
    let mut harness = ExecutorHarness::new(ProcessId(4), 1);
    let mut executed = Vec::new();
    for (dot, number, seq, dep) in [(x, 1, 4, y), (y, 2, 4, z), (z, 3, 3, x)] {
        let out = deliver(
            &mut replica,
            dot.origin.0,
            Message::Commit { dot, cmd: put(number, &[7]), seq, deps: deps(&[dep]) },
        );
        for info in executions(&out) {
            assert_eq!(info.order, seq, "order = seq");
            executed.extend(harness.step(&mut executor, info, Time::ZERO).into_iter().map(|id| id.seq));
        }
    }
    assert_eq!(executed, vec![3, 2, 1], "z, y, x");
    assert_eq!(executor.pending(), 0);
    assert!([x, y, z].iter().all(|&dot| executor.has_executed(dot)));
}

/// n = 3: FQ = 2, so the single reply is compared with nothing and
/// every command takes the fast path, even when the reply adds deps.
#[test]
fn n3_always_fast() {
    let mut leader = process(1, 3);
    let mut out = Outbox::new();
    leader.submit(put(1, &[7]), Time::ZERO, &mut out);
    assert_eq!(sends(&out).len(), 1, "PreAccept to the one closest other");
    let other = Dot::new(3, 1);
    let out = deliver(&mut leader, 2, pre_accept_ok(Dot::new(1, 1), 5, &[other]));
    assert_eq!(out.metrics().fast_paths, 1);
    assert_eq!(executions(&out)[0].deps, vec![other]);
    assert_eq!(executions(&out)[0].order, 5);
}

/// §5.3 with `fast_requires_committed_deps`: identical replies whose
/// dependency nobody knows committed go slow; reported committed, or
/// known committed at the leader, they go fast. Off, they go fast.
#[test]
fn fast_path_can_require_committed_deps() {
    let strict = Options { fast_requires_committed_deps: true, ..Options::default() };
    let a = Dot::new(4, 1);
    let run = |options: &Options, committed_at_leader: bool, reported: &[Dot]| {
        let mut leader = process_with(1, 5, options).0;
        deliver(&mut leader, 4, Message::PreAccept { dot: a, ballot: 4, cmd: put(1, &[7]), seq: 1, deps: deps(&[]) });
        if committed_at_leader {
            deliver(&mut leader, 4, Message::Commit { dot: a, cmd: put(1, &[7]), seq: 1, deps: deps(&[]) });
        }
        leader.submit(put(2, &[7]), Time::ZERO, &mut Outbox::new());
        let gamma = Dot::new(1, 1);
        let reply =
            Message::PreAcceptOk { dot: gamma, ballot: 1, seq: 2, deps: deps(&[a]), committed_deps: reported.to_vec() };
        deliver(&mut leader, 2, reply);
        let out = deliver(&mut leader, 3, pre_accept_ok(gamma, 2, &[a]));
        (out.metrics().fast_paths, out.metrics().slow_paths)
    };
    assert_eq!(run(&Options::default(), false, &[]), (1, 0), "off: fantoch's rule");
    assert_eq!(run(&strict, false, &[]), (0, 1), "a not known committed");
    assert_eq!(run(&strict, false, &[a]), (1, 0), "reported committed by a reply");
    assert_eq!(run(&strict, true, &[]), (1, 0), "committed at the leader");

    // A replica reports the dependencies it knows committed, only then.
    for (options, expected) in [(strict, vec![a]), (Options::default(), vec![])] {
        let mut replica = process_with(2, 5, &options).0;
        deliver(&mut replica, 4, Message::PreAccept { dot: a, ballot: 4, cmd: put(1, &[7]), seq: 1, deps: deps(&[]) });
        deliver(&mut replica, 4, Message::Commit { dot: a, cmd: put(1, &[7]), seq: 1, deps: deps(&[]) });
        let pre_accept =
            Message::PreAccept { dot: Dot::new(1, 1), ballot: 1, cmd: put(2, &[7]), seq: 1, deps: deps(&[]) };
        let Message::PreAcceptOk { committed_deps, .. } = sends(&deliver(&mut replica, 1, pre_accept)).remove(0).1
        else {
            panic!("a PreAcceptOK");
        };
        assert_eq!(committed_deps, expected);
    }
}

/// A Commit that overtakes the PreAccept commits (it carries the
/// command); the late PreAccept is ignored; duplicate Commits execute
/// nothing twice.
#[test]
fn commit_before_pre_accept() {
    let mut replica = process(2, 5);
    let gamma = Dot::new(1, 1);
    let commit = Message::Commit { dot: gamma, cmd: put(1, &[7]), seq: 3, deps: deps(&[Dot::new(3, 1), gamma]) };
    let out = deliver(&mut replica, 1, commit.clone());
    assert_eq!(
        executions(&out),
        vec![Committed { dot: gamma, cmd: Some(put(1, &[7])), deps: vec![Dot::new(3, 1)], order: 3 }],
        "never its own dep"
    );
    let pre_accept = Message::PreAccept { dot: gamma, ballot: 1, cmd: put(1, &[7]), seq: 1, deps: deps(&[]) };
    assert!(deliver(&mut replica, 1, pre_accept).effects().is_empty(), "past PREACCEPTED");
    assert!(deliver(&mut replica, 1, commit).effects().is_empty(), "committed already");
    let accept = Message::Accept { dot: gamma, ballot: 1, cmd: put(1, &[7]), seq: 9, deps: deps(&[]) };
    assert!(deliver(&mut replica, 1, accept).effects().is_empty(), "committed already");
}

/// Replies from outside the fast quorum, duplicates and replies to
/// another ballot are ignored; the leader waits for all FQ-1 replies.
#[test]
fn duplicate_and_foreign_replies_are_ignored() {
    let (mut leader, a, gamma) = leader_after_a();
    assert!(deliver(&mut leader, 2, pre_accept_ok(gamma, 3, &[a])).effects().is_empty());
    assert!(deliver(&mut leader, 2, pre_accept_ok(gamma, 4, &[a])).effects().is_empty(), "duplicate");
    assert!(deliver(&mut leader, 4, pre_accept_ok(gamma, 3, &[a])).effects().is_empty(), "not asked");
    let other_ballot = Message::PreAcceptOk { dot: gamma, ballot: 6, seq: 3, deps: deps(&[a]), committed_deps: vec![] };
    assert!(deliver(&mut leader, 3, other_ballot).effects().is_empty(), "another ballot");
    let unknown = pre_accept_ok(Dot::new(1, 9), 3, &[a]);
    assert!(deliver(&mut leader, 3, unknown).effects().is_empty(), "unknown instance");
    let out = deliver(&mut leader, 3, pre_accept_ok(gamma, 3, &[a]));
    assert_eq!(out.metrics().fast_paths, 1, "the duplicate (seq 4) did not count");
    let pre_accept = Message::PreAccept { dot: gamma, ballot: 1, cmd: put(2, &[7]), seq: 3, deps: deps(&[a]) };
    let mut replica = process(2, 5);
    assert_eq!(sends(&deliver(&mut replica, 1, pre_accept.clone())).len(), 1);
    assert!(deliver(&mut replica, 1, pre_accept).effects().is_empty(), "a duplicate PreAccept");
}

#[test]
fn dot_log_inserts_out_of_order_and_discards_in_order() {
    let mut log = DotLog::new(2);
    assert!(log.insert(Dot::new(1, 3), 'c') && log.insert(Dot::new(1, 1), 'a'));
    assert!(!log.insert(Dot::new(1, 3), 'x'), "taken");
    assert!(!log.insert(Dot::new(3, 1), 'x'), "unknown origin");
    assert_eq!((log.get(Dot::new(1, 2)), log.get(Dot::new(1, 3)), log.len()), (None, Some(&'c'), 2));
    assert_eq!(log.discard(Dot::new(1, 1)), Some('a'));
    assert_eq!(log.discard(Dot::new(1, 2)), None);
    assert!(log.is_discarded(Dot::new(1, 2)) && !log.is_discarded(Dot::new(1, 3)));
    assert!(!log.insert(Dot::new(1, 2), 'b'), "below the floor");
    assert_eq!(log.discard(Dot::new(1, 5)), None, "past the end");
    assert!(log.is_discarded(Dot::new(1, 5)) && log.insert(Dot::new(1, 6), 'f'));
    assert_eq!((log.len(), log.get(Dot::new(1, 6))), (1, Some(&'f')));
}

/// Messages naming dots of unknown origins or absurdly far ahead are
/// ignored, not stored.
#[test]
fn bogus_dots_are_ignored() {
    let mut replica = process(2, 5);
    for dot in [Dot::new(9, 1), Dot::new(1, u64::MAX), Dot::new(1, MAX_DOTS_AHEAD + 1)] {
        let msgs = [
            Message::PreAccept { dot, ballot: 1, cmd: put(1, &[7]), seq: 1, deps: deps(&[]) },
            Message::Accept { dot, ballot: 1, cmd: put(1, &[7]), seq: 1, deps: deps(&[]) },
            Message::Commit { dot, cmd: put(1, &[7]), seq: 1, deps: deps(&[]) },
        ];
        for msg in msgs {
            assert!(deliver(&mut replica, 1, msg).effects().is_empty(), "{dot}");
        }
    }
    assert_eq!((replica.instances_len(), replica.indexed_keys()), (0, 0));
    assert!(replica.instances.in_range(Dot::new(1, MAX_DOTS_AHEAD)));
}

#[test]
fn check_accepts_any_valid_f_and_ignores_it() {
    assert!(EPaxos::check(5, 1).is_ok() && EPaxos::check(5, 2).is_ok());
    assert!(EPaxos::check(5, 3).unwrap_err().contains("between 1 and floor(n/2) = 2"));
    assert!(EPaxos::check(2, 1).unwrap_err().contains("between 3 and 64"));
    assert!(EPaxos::check(65, 1).is_err());
}

/// Whole runs with garbage collection every millisecond (so the
/// per-key index is pruned while commands on the key are in flight),
/// multi-key commands and reads on a few hot keys, jitter and link
/// reordering, with and without the committed-deps rule: every run
/// passes the verdict and completes.
#[test]
fn runs_with_aggressive_gc_pass_the_verdict() {
    use sim_core::workload::{KeyDistribution, Workload};
    use sim_core::{DelayOptions, RegionId, RunConfig, Simulation};
    let matrix = latency_data::Matrix::builtin("gcp").expect("built-in matrix");
    let sites = ["us-central1", "europe-west1", "asia-east1", "southamerica-east1", "us-west1"]
        .map(|name| RegionId(matrix.region_index(name).expect("known region") as u16))
        .to_vec();
    for (seed, options) in [
        (1, Options::default()),
        (2, Options::default()),
        (3, Options { fast_requires_committed_deps: true, ..Options::default() }),
    ] {
        let mut config = RunConfig::new(matrix.clone(), sites.clone());
        config.protocol.gc_interval_ns = sim_core::time::NS_PER_MS;
        config.clients_per_region = 4;
        config.commands_per_client = 20;
        config.seed = seed;
        config.delay = DelayOptions { jitter: true, reorder: true, ..DelayOptions::default() };
        config.workload = Workload {
            keys: KeyDistribution::ConflictPool { conflict_rate: 0.5, hot_keys: 3 },
            keys_per_command: 2,
            read_ratio: 0.4,
            ..Workload::default()
        };
        let report = Simulation::<EPaxos>::with_options(&config, &options).run();
        assert!(report.verdict.passed(), "seed {seed}: {}", report.verdict);
        assert_eq!(report.total.count, 5 * 4 * 20);
        assert!(report.protocol.slow_paths > 0, "contention sends some commands on the slow path");
    }
}

/// A little FIFO network of processes and their executors.
struct Net {
    processes: Vec<EPaxos>,
    executors: Vec<EPaxosExecutor>,
    harnesses: Vec<ExecutorHarness>,
    queue: VecDeque<(ProcessId, ProcessId, Message)>,
    held: Vec<(ProcessId, ProcessId, Message)>,
    /// When messages are delivered.
    now: Time,
}

impl Net {
    fn new(n: u32) -> Net {
        Net::configured(n, false)
    }

    fn configured(n: u32, failure_detection: bool) -> Net {
        let (processes, executors) =
            (1..=n).map(|id| process_configured(id, n, &Options::default(), failure_detection)).unzip();
        let harnesses = (1..=n).map(|id| ExecutorHarness::new(ProcessId(id), 1)).collect();
        Net { processes, executors, harnesses, queue: VecDeque::new(), held: Vec::new(), now: Time::ZERO }
    }

    fn apply(&mut self, at: ProcessId, out: Outbox<EPaxos>) {
        for effect in out.take_all() {
            match effect {
                Effect::Send { to, msg } => self.queue.push_back((at, to, msg)),
                Effect::Execute(info) => {
                    // As the engine does: what the executor notifies
                    // goes to its protocol at once.
                    let i = at.index();
                    let (_, executed) = self.harnesses[i].step_with_feedback(&mut self.executors[i], info, Time::ZERO);
                    for dot in executed {
                        let mut out = Outbox::new();
                        self.processes[i].handle_executed(dot, Time::ZERO, &mut out);
                        self.apply(at, out);
                    }
                }
                Effect::SetTimer { .. } | Effect::CancelTimer { .. } => {}
            }
        }
    }

    fn submit(&mut self, at: u32, cmd: Arc<Command>) {
        let mut out = Outbox::new();
        self.processes[at as usize - 1].submit(cmd, Time::ZERO, &mut out);
        self.apply(ProcessId(at), out);
    }

    /// Delivers everything, except messages `hold` selects, which wait
    /// in `held`.
    fn run(&mut self, mut hold: impl FnMut(ProcessId, ProcessId, &Message) -> bool) {
        while let Some((from, to, msg)) = self.queue.pop_front() {
            if hold(from, to, &msg) {
                self.held.push((from, to, msg));
                continue;
            }
            let mut out = Outbox::new();
            self.processes[to.index()].handle(from, msg, self.now, &mut out);
            self.apply(to, out);
        }
    }

    fn release_held(&mut self) {
        self.queue.extend(self.held.drain(..));
        self.run(|_, _, _| false);
    }

    /// One GC round: every process's timer fires, then all the
    /// GarbageCollection messages are delivered.
    fn gc_round(&mut self) {
        for i in 0..self.processes.len() {
            let mut out = Outbox::new();
            self.processes[i].handle_timer(Timer::GarbageCollection, Time::ZERO, &mut out);
            self.apply(ProcessId::from_index(i), out);
        }
        self.run(|_, _, _| false);
    }
}

trait TakeAll {
    fn take_all(self) -> Vec<Effect<EPaxos>>;
}

impl TakeAll for Outbox<EPaxos> {
    fn take_all(mut self) -> Vec<Effect<EPaxos>> {
        self.take()
    }
}

/// §8: instances are freed once committed everywhere; the per-key
/// index only once executed everywhere — a command committed at every
/// process but blocked at one of them on a dependency it has not
/// committed keeps its key indexed.
#[test]
fn gc_frees_instances_then_the_key_index() {
    let mut net = Net::new(3);
    net.submit(1, put(1, &[7]));
    net.submit(2, put(2, &[7]));
    // Hold the Commit of (1,1) to process 3: there, (2,1), which
    // depends on it, commits but cannot execute.
    let held = |_, to: ProcessId, msg: &Message| {
        to == ProcessId(3) && matches!(msg, Message::Commit { dot, .. } if *dot == Dot::new(1, 1))
    };
    net.run(held);
    assert_eq!(net.held.len(), 1);
    assert!(net.executors[2].pending() == 1 && !net.executors[2].has_executed(Dot::new(2, 1)));
    net.gc_round();
    // (2,1) is freed everywhere, (1,1) (not committed at 3, which only
    // learns commands from Commits) is not; key 7 stays indexed as
    // (2,1) has not executed at 3. Process 3 learned (2,1) from its
    // Commit, so it counts its seq but never registered it in KeyDeps.
    let state = |p: &EPaxos| (p.instances_len(), p.indexed_keys(), p.key_deps.key_count(), p.retired.len());
    let expected = [(1, 1, 1, 1), (1, 1, 1, 1), (0, 1, 0, 1)];
    assert_eq!(net.processes.iter().map(state).collect::<Vec<_>>(), expected);
    net.release_held();
    assert!(net.executors[2].has_executed(Dot::new(2, 1)));
    net.gc_round();
    assert!(net.processes.iter().all(|p| state(p) == (0, 0, 0, 0)));
    // Late messages about collected instances are ignored.
    let late = Message::Commit { dot: Dot::new(1, 1), cmd: put(1, &[7]), seq: 1, deps: deps(&[]) };
    assert!(deliver(&mut net.processes[2], 1, late).effects().is_empty());
    let late = Message::PreAccept { dot: Dot::new(2, 1), ballot: 2, cmd: put(2, &[7]), seq: 1, deps: deps(&[]) };
    assert!(deliver(&mut net.processes[0], 2, late).effects().is_empty());
    assert_eq!(net.processes[0].instances_len(), 0);
}

/// Why the per-key index waits for execution everywhere: `w` (keys 7
/// and 8) depends on `x` (key 8), whose Commit to process 3 is late,
/// so `w` is committed everywhere but blocked at 3. Had processes 1 and
/// 2 forgotten `w` then, a new write `d` on key 7 would commit without
/// depending on it, run before `w` at 3 and after it elsewhere.
#[test]
fn the_index_keeps_a_command_until_it_executed_everywhere() {
    let (x, w, d) = (Dot::new(1, 1), Dot::new(2, 1), Dot::new(1, 2));
    let mut net = Net::new(3);
    let held = move |_, to: ProcessId, msg: &Message| {
        to == ProcessId(3) && matches!(msg, Message::Commit { dot, .. } if *dot == x)
    };
    net.submit(1, put(1, &[8]));
    net.run(held);
    net.submit(2, put(2, &[7, 8]));
    net.run(held);
    assert!(!net.executors[2].has_executed(w) && net.executors[0].has_executed(w));
    net.gc_round();
    net.gc_round();
    net.submit(1, put(3, &[7]));
    net.run(held);
    let deps_of_d = net.processes[0].instances.get(d).map(|i| i.deps.to_vec());
    assert_eq!(deps_of_d, Some(vec![w]), "d still depends on w");
    assert!(!net.executors[2].has_executed(d), "d waits for w at 3");
    net.release_held();
    let stores: Vec<_> = net.harnesses.iter().map(|h| format!("{:?}", h.store)).collect();
    assert!(stores.iter().all(|s| *s == stores[0]), "same order everywhere: {stores:?}");
}

/// A longer run through the little network: every process executes
/// every command, in the same order, and GC leaves nothing behind.
#[test]
fn every_process_executes_the_same_order_and_gc_empties_state() {
    let mut net = Net::new(5);
    for round in 0..20u64 {
        for at in 1..=5u32 {
            let number = round * 5 + u64::from(at);
            let keys: &[Key] = if number % 3 == 0 { &[1, 2] } else { &[number % 2 + 1] };
            net.submit(at, put(number, keys));
        }
        if round % 4 == 3 {
            net.run(|_, _, _| false);
            net.gc_round();
        }
    }
    net.run(|_, _, _| false);
    net.gc_round();
    net.gc_round();
    let stores: Vec<_> = net.harnesses.iter().map(|h| format!("{:?}", h.store)).collect();
    assert!(stores.iter().all(|s| *s == stores[0]), "same final store everywhere");
    for (p, e) in net.processes.iter().zip(&net.executors) {
        assert_eq!(e.pending(), 0);
        assert_eq!((p.instances_len(), p.indexed_keys(), p.key_deps.key_count(), p.retired.len()), (0, 0, 0, 0));
    }
}

impl Net {
    /// `at`'s watch on `dot` fires long after every patience ran out.
    fn fire_watch(&mut self, at: u32, dot: Dot) {
        self.fire_watch_at(at, dot, 100);
    }

    /// Also moves the clock there: processes not heard from since are
    /// suspected.
    fn fire_watch_at(&mut self, at: u32, dot: Dot, seconds: u64) {
        self.now = Time::from_ns(seconds * NS_PER_S);
        let mut out = Outbox::new();
        self.processes[at as usize - 1].handle_timer(Timer::Watch(dot), self.now, &mut out);
        self.apply(ProcessId(at), out);
    }

    /// The value `at` committed `dot` with, if it did.
    fn committed(&self, at: u32, dot: Dot) -> Option<(u64, Vec<Dot>, bool)> {
        let instance = self.processes[at as usize - 1].instances.get(dot)?;
        (instance.status == Status::Committed).then(|| (instance.seq, instance.deps.to_vec(), instance.noop))
    }
}

use sim_core::time::NS_PER_S;

/// Drops every message to or from `down`.
fn crashed(down: &'static [u32]) -> impl Fn(ProcessId, ProcessId, &Message) -> bool {
    move |from: ProcessId, to: ProcessId, _: &Message| down.contains(&from.0) || down.contains(&to.0)
}

/// epaxos.md §7.2 d, the case the optimized fast quorum makes hard: n =
/// 5 (F = 2), leader 1 with fast quorum {1, 2, 3}. `a`, a write of 2 on
/// the key (fast quorum {2, 1, 3}), is committed everywhere first. 1 commits γ on the fast path
/// (identical replies from 2 and 3), but its Commits are lost and 1 and 2
/// crash. 3 recovers γ: its recovery quorum {3, 4, 5} holds one
/// pre-accept at the initial ballot (its own; floor((F+1)/2) = 1 but fewer
/// than F = 2), so γ may have been committed on the fast path:
/// TryPreAccept, which 3, 4 and 5 accept (`a` is a dependency of the value
/// tried), then an Accept round: γ commits with the fast path's value.
#[test]
fn epaxos_7_2d_try_pre_accept_recovers_the_fast_path_value() {
    let mut net = Net::configured(5, true);
    let a = Dot::new(2, 1);
    net.submit(2, put(1, &[7]));
    net.run(|_, _, _| false);
    assert!(net.committed(5, a).is_some());
    let gamma = Dot::new(1, 1);
    net.submit(1, put(2, &[7]));
    // Only 1's PreAccepts and the replies get through.
    net.run(|from, to, msg| {
        !matches!(msg, Message::PreAccept { .. } | Message::PreAcceptOk { .. }) || from.0 > 3 || to.0 > 3
    });
    let fast = net.committed(1, gamma).expect("1 committed on the fast path");
    assert_eq!((fast.1.clone(), fast.2), (vec![a], false));
    assert!(net.committed(3, gamma).is_none() && net.committed(4, gamma).is_none());
    net.held.clear(); // 1's Commits are lost
    net.fire_watch(3, gamma);
    let tried = |msg: &Message| matches!(msg, Message::TryPreAccept { .. });
    let mut saw_try = false;
    net.run(|from, to, msg| {
        saw_try |= tried(msg);
        crashed(&[1, 2])(from, to, msg)
    });
    assert!(saw_try, "the value was tried");
    for at in [3, 4, 5] {
        assert_eq!(net.committed(at, gamma), Some(fast.clone()), "process {at}");
    }
}

/// §7.2 d, the other outcome: 1's PreAccept reached 2 only (no fast path),
/// and 5 committed `δ` (a write of 5 on the key, fast quorum {5, 4, 3})
/// without γ, so γ was not committed on the fast path. With 1 and 3 down,
/// 2 recovers γ from {2, 4, 5}: one pre-accept at the initial ballot
/// (its own), so TryPreAccept; 4 and 5 hold `δ`, committed, neither a
/// dependency of the value tried nor depending on γ: a conflict, so phase
/// 1 again, whose value orders γ after `δ`.
#[test]
fn epaxos_7_2d_try_pre_accept_conflict_restarts_phase_1() {
    let mut net = Net::configured(5, true);
    let gamma = Dot::new(1, 1);
    let delta = Dot::new(5, 1);
    net.submit(1, put(1, &[7]));
    // 1's PreAccept reaches 2 only; 2's reply is lost.
    net.run(|from, to, msg| !(from.0 == 1 && to.0 == 2 && matches!(msg, Message::PreAccept { .. })));
    net.held.clear();
    net.submit(5, put(2, &[7]));
    net.run(|from, to, msg| crashed(&[1])(from, to, msg));
    net.held.clear();
    assert!(net.committed(5, delta).is_some_and(|(_, deps, _)| deps.is_empty()));
    net.fire_watch(2, gamma);
    let mut outcomes = Vec::new();
    net.run(|from, to, msg| {
        if let Message::TryPreAcceptOk { outcome, .. } = msg {
            outcomes.push((from.0, *outcome));
        }
        crashed(&[1, 3])(from, to, msg)
    });
    assert!(outcomes.contains(&(5, TryOutcome::Conflict(ReplyStatus::Committed))), "{outcomes:?}");
    let (_, deps, noop) = net.committed(2, gamma).expect("recovered");
    assert!(!noop && deps.contains(&delta), "γ now follows δ: {deps:?}");
    assert_eq!(net.committed(5, gamma).map(|(_, deps, _)| deps), Some(deps));
}

/// §7.2 f: nobody in the recovery quorum has the command (1's PreAccepts
/// were lost and 1 crashed); 2 knows of the instance from a committed
/// dependency only, asks for it (CommitRequest), then recovers it: a
/// no-op, committed everywhere alive, and the command depending on it can
/// execute.
#[test]
fn epaxos_7_2f_an_instance_nobody_saw_becomes_a_noop() {
    let mut net = Net::configured(5, true);
    let gamma = Dot::new(1, 1);
    let mut out = Outbox::new();
    net.processes[1].watch_deps(&[gamma], Time::ZERO, &mut out);
    net.apply(ProcessId(2), out);
    net.fire_watch(2, gamma);
    net.run(|from, to, msg| crashed(&[1])(from, to, msg));
    assert!(net.committed(2, gamma).is_none(), "asked first");
    net.fire_watch_at(2, gamma, 200);
    net.run(|from, to, msg| crashed(&[1])(from, to, msg));
    for at in 2..=5 {
        assert_eq!(net.committed(at, gamma), Some((0, vec![], true)), "process {at}");
    }
}

/// Without failure detection nothing of §7 runs: no watch timer, and a
/// Prepare from a bogus recoverer is still answered (the acceptor side
/// is always there) but no timer is ever set.
#[test]
fn failure_free_runs_set_no_watch() {
    let mut leader = process(1, 5);
    let mut out = Outbox::new();
    leader.submit(put(1, &[7]), Time::ZERO, &mut out);
    assert!(out.effects().iter().all(|effect| !matches!(effect, Effect::SetTimer { .. })));
    let (mut watched, _) = process_configured(1, 5, &Options::default(), true);
    let mut out = Outbox::new();
    watched.submit(put(1, &[7]), Time::ZERO, &mut out);
    let timers: Vec<_> = out
        .effects()
        .iter()
        .filter_map(|effect| match effect {
            Effect::SetTimer { timer, .. } => Some(*timer),
            _ => None,
        })
        .collect();
    assert_eq!(timers, vec![Timer::Watch(Dot::new(1, 1))]);
}
