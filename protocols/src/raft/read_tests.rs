//! Tests of reads outside the log (raft.md §9) and leader stickiness
//! (§8.1), including a planted lease without stickiness that the verdict's
//! linearizability check catches as a stale read.

use super::*;
use crate::shared::test_net::TestNet;
use sim_core::CommandId;
use sim_core::verdict::{History, HistoryOp};
use sim_core::{ClientId, Op};

fn ms(ms: u64) -> Time {
    Time::from_ns(ms * NS_PER_MS)
}

fn command(client: u32, seq: u64, op: Op) -> Arc<Command> {
    Arc::new(Command { id: CommandId { client: ClientId(client), seq }, ops: vec![(1, op)].into(), payload_bytes: 0 })
}

fn read(client: u32, seq: u64) -> Arc<Command> {
    command(client, seq, Op::Get)
}

fn options(reads: ReadMode) -> Options {
    Options { reads, ..Options::default() }
}

/// raft.md §12 E4 delays: leader A (1), followers at 5, 30, 60, 90 ms.
const E4: [&[u64]; 5] =
    [&[0, 5, 30, 60, 90], &[5, 0, 30, 60, 90], &[30, 30, 0, 60, 90], &[60, 60, 60, 0, 90], &[90, 90, 90, 90, 0]];

/// raft.md §12 E4: a ReadIndex read at A takes 2·d_3(A) = 60 ms; a
/// follower ReadIndex read at B takes 5 + 60 + 5 = 70 ms.
#[test]
fn raft_12_e4_read_index_latency() {
    let mut net = TestNet::<Raft>::new(&E4, 2, 1, &options(ReadMode::ReadIndex));
    net.submit_at(0, 1, read(1, 1));
    net.submit_at(0, 2, read(2, 1));
    net.run_until(300);
    assert_eq!(net.executed_at(1, read(1, 1).id), Some(60));
    assert_eq!(net.executed_at(2, read(2, 1).id), Some(70));
    assert_eq!(net.executed.len(), 2, "each read executes at its client's process only");
    assert_eq!(net.processes[0].last_index(), 0, "no log entry for reads");
}

/// raft.md §12 E4 and §9.4: the follower ReadIndex read at B costs
/// 5 + 60 + 5 = 70 ms under its own name (`follower_read_index`, the same
/// mode), and a stale read (§9.5) at B costs no network time.
#[test]
fn raft_12_e4_follower_read_index_and_stale_read_latency() {
    use serde::Deserialize;
    use serde::de::IntoDeserializer;
    let name: serde::de::value::StrDeserializer<'_, serde::de::value::Error> =
        "follower_read_index".into_deserializer();
    let follower = options(ReadMode::deserialize(name).expect("a known mode"));
    assert_eq!(follower.reads, ReadMode::ReadIndex);
    let mut net = TestNet::<Raft>::new(&E4, 2, 1, &follower);
    net.submit_at(0, 2, read(2, 1));
    net.run_until(300);
    assert_eq!(net.executed_at(2, read(2, 1).id), Some(70));

    let mut net = TestNet::<Raft>::new(&E4, 2, 1, &options(ReadMode::Stale));
    net.submit_at(0, 1, command(1, 1, Op::Put(7)));
    net.submit_at(10, 2, read(2, 1));
    net.run_until(300);
    assert_eq!(net.executed_at(2, read(2, 1).id), Some(10), "served at once");
    let stale = net.results.iter().find(|(_, p, c, _)| p.0 == 2 && *c == read(2, 1).id).map(|(_, _, _, r)| r[0]);
    assert_eq!(stale, Some(None), "B has not applied x = 7 yet: a stale read");
    assert_eq!(net.processes[0].last_index(), 1, "no log entry for the read");
}

/// raft.md §12 E4: a lease read at A takes no network time once a
/// heartbeat round (sent at HB = 100 ms, echoed by a majority at 160 ms)
/// gave the leader its lease; before that it falls back to a round. A
/// lease read at B costs only B's round trip to A.
#[test]
fn raft_12_e4_lease_read_latency() {
    let mut net = TestNet::<Raft>::new(&E4, 2, 1, &options(ReadMode::Lease));
    net.submit_at(0, 1, read(1, 1));
    net.submit_at(200, 1, read(1, 2));
    net.submit_at(300, 2, read(2, 1));
    net.run_until(500);
    assert_eq!(net.executed_at(1, read(1, 1).id), Some(60), "no lease yet: a ReadIndex round");
    assert_eq!(net.executed_at(1, read(1, 2).id), Some(200), "within the lease: 0 ms");
    assert_eq!(net.executed_at(2, read(2, 1).id), Some(310), "d(B,A) + d(A,B)");
}

/// raft.md §9.2a: a new leader answers reads only once an entry of its
/// own term committed; then it runs a round and answers with its commit
/// index.
#[test]
fn raft_9_2a_reads_wait_for_a_current_term_commit() {
    let mut leader = Raft::new(crate::shared::test_net::setup(1, 3, 1, 1), &options(ReadMode::ReadIndex)).0;
    leader.log.push(Entry { term: 1, cmd: None, origin: ProcessId(1), config: None });
    leader.commit_index = 1;
    leader.current_term = 2;
    leader.become_leader(ms(0), &mut Outbox::new());
    leader.log.push(Entry { term: 2, cmd: None, origin: ProcessId(1), config: None }); // the §5.3 no-op
    let mut out = Outbox::new();
    leader.handle(ProcessId(2), Message::ReadIndexRequest { id: read(2, 1).id }, ms(1), &mut out);
    assert!(out.sent().is_empty(), "held: commit index 1 is of term 1");
    let ok = |match_index, hb_seq| Message::AppendEntriesReply {
        term: 2,
        success: true,
        match_index,
        conflict_index: 0,
        conflict_term: None,
        hb_seq,
    };
    let mut out = Outbox::new();
    leader.handle(ProcessId(2), ok(2, 0), ms(2), &mut out);
    assert_eq!(leader.commit_index(), 2);
    let hb_seq = leader.read.hb_seq;
    let rounds = out
        .sent()
        .iter()
        .filter(|(_, m)| matches!(m, Message::AppendEntries { hb_seq: h, .. } if *h == hb_seq))
        .count();
    assert_eq!(rounds, 2, "a heartbeat round to both followers: {out:?}");
    let mut out = Outbox::new();
    leader.handle(ProcessId(3), ok(2, hb_seq), ms(3), &mut out);
    assert_eq!(out.sent(), vec![(ProcessId(2), Message::ReadIndexReply { id: read(2, 1).id, read_index: 2 })]);
}

/// raft.md §8.1: with lease reads, a follower that heard the leader less
/// than ET_MIN ago ignores RequestVote (no reply, no term change); later
/// it votes. Without leases it votes at once.
#[test]
fn raft_8_1_leader_stickiness() {
    let request = Message::RequestVote { term: 2, last_log_index: 0, last_log_term: 0, pre_vote: false };
    let heartbeat = Message::AppendEntries {
        term: 1,
        prev_log_index: 0,
        prev_log_term: 0,
        entries: vec![],
        leader_commit: 0,
        stable: 0,
        hb_seq: 1,
    };
    let mut sticky = Raft::new(crate::shared::test_net::setup(2, 3, 1, 1), &options(ReadMode::Lease)).0;
    sticky.handle(ProcessId(1), heartbeat.clone(), ms(100), &mut Outbox::new());
    let mut out = Outbox::new();
    sticky.handle(ProcessId(3), request.clone(), ms(100 + 1599), &mut out);
    assert!(out.sent().is_empty() && sticky.term() == 1, "ignored within ET_MIN: {out:?}");
    sticky.handle(ProcessId(3), request.clone(), ms(100 + 1600), &mut out);
    assert_eq!(out.sent(), vec![(ProcessId(3), Message::RequestVoteReply { term: 2, granted: true, pre_vote: false })]);

    let mut plain = Raft::new(crate::shared::test_net::setup(2, 3, 1, 1), &options(ReadMode::ReadIndex)).0;
    plain.handle(ProcessId(1), heartbeat, ms(100), &mut Outbox::new());
    let mut out = Outbox::new();
    plain.handle(ProcessId(3), request, ms(101), &mut out);
    assert_eq!(out.sent(), vec![(ProcessId(3), Message::RequestVoteReply { term: 2, granted: true, pre_vote: false })]);
}

/// Five servers: S1 leads from far away (200 ms to everyone); S4 and S5
/// sit 5 ms from S2, S3 and each other. From 500 ms S1 and S4/S5 cannot
/// talk, so S4 and S5 (whose logs are complete: the only write committed
/// before) stand for election while S2 and S3 still hear S1. A client
/// writes x = 2 at the winner, then a client at S1 reads x. Returns the
/// clients' history, and whether S4 or S5 won.
fn lease_partition(options: &Options) -> (History, bool) {
    let (far, near) = (200, 5);
    let row = |i: usize| -> Vec<u64> {
        (0..5)
            .map(|j| {
                if i == j {
                    0
                } else if i == 0 || j == 0 {
                    far
                } else {
                    near
                }
            })
            .collect()
    };
    let rows: Vec<Vec<u64>> = (0..5).map(row).collect();
    let delays: Vec<&[u64]> = rows.iter().map(|r| r.as_slice()).collect();
    let mut net = TestNet::<Raft>::new(&delays, 2, 1, options);
    let cut = |p: ProcessId| p == ProcessId(4) || p == ProcessId(5);
    net.drop_rule = Box::new(move |now, from, to, _| {
        now >= ms(500) && ((from == ProcessId(1) && cut(to)) || (cut(from) && to == ProcessId(1)))
    });
    let write1 = command(1, 1, Op::Put(1));
    net.submit_at(0, 1, write1.clone());
    let mut t = 500;
    let winner = loop {
        net.run_until(t);
        if let Some(i) = (3..5).find(|&i| net.processes[i].role() == Role::Leader) {
            break Some(i as u32 + 1);
        }
        if t >= 8000 {
            break None;
        }
        t += 5;
    };
    let write2 = command(2, 1, Op::Put(2));
    net.submit_at(t + 10, winner.unwrap_or(4), write2.clone());
    net.run_until(t + 50);
    let stale = read(3, 1);
    net.submit_at(t + 60, 1, stale.clone());
    net.run_until(t + 1000);

    let mut history = History::new();
    let answered = |process: u32, id: CommandId| {
        net.results.iter().find(|(_, p, c, _)| p.0 == process && *c == id).map(|(at, _, _, r)| (*at, r[0]))
    };
    let mut record = |cmd: &Arc<Command>, at_ms: u64, process: u32, written| {
        let (responded, observed) = answered(process, cmd.id).map_or((None, None), |(at, r)| (Some(at), r));
        history.push(HistoryOp { key: 1, cmd: cmd.id, written, observed, invoked: ms(at_ms), responded });
    };
    record(&write1, 0, 1, Some(1));
    record(&write2, t + 10, winner.unwrap_or(4), Some(2));
    record(&stale, t + 60, 1, None);
    assert!(answered(1, stale.id).is_some(), "S1 served the read");
    (history, winner.is_some())
}

/// raft.md §13.2 and §8.1: lease reads are linearizable only with leader
/// stickiness. Without it (planted), S2 and S3 elect S4 or S5 while S1's
/// lease is live, the new leader commits x = 2, and S1 then serves x = 1
/// from its lease: the linearizability check reports it. With
/// stickiness, S2 and S3 ignore the candidates and the history is
/// linearizable.
#[test]
fn raft_13_2_lease_reads_need_leader_stickiness() {
    let planted = Options { plant_lease_without_stickiness: true, ..options(ReadMode::Lease) };
    let (history, elected) = lease_partition(&planted);
    assert!(elected, "the disruptive candidate won");
    let violations = history.check();
    assert_eq!(violations.total(), 1, "the stale read is caught: {violations:?}");

    let (history, elected) = lease_partition(&options(ReadMode::Lease));
    assert!(!elected, "S2 and S3 ignore the candidates while they hear S1");
    assert_eq!(history.check().total(), 0);
}
