//! 2PC and 3PC transcript tests: every worked example of
//! two-phase-commit.md §10 on `shared::test_net`, plus 3PC's normal case,
//! its non-blocking termination and its atomicity violation under a
//! partition (§9).

use super::*;
use crate::shared::test_net::{TestNet, setup};
use sim_core::verdict::Outcome as CheckerEvent;
use sim_core::{ClientId, Op};

/// §10's delays: d(R0,R1) = 20, d(R0,R2) = 70, d(R1,R2) = 60 ms (R0, R1,
/// R2 are processes 1, 2, 3; R0 the FIXED coordinator).
const E_DELAYS: [&[u64]; 3] = [&[0, 20, 70], &[20, 0, 60], &[70, 60, 0]];

/// The key every example writes.
const K: Key = 1;

fn write(client: u32, seq: u64, value: u64) -> Arc<Command> {
    let id = CommandId { client: ClientId(client), seq };
    Arc::new(Command { id, ops: vec![(K, Op::Put(value))].into(), payload_bytes: 0 })
}

fn options(policy: CoordinatorPolicy) -> Options {
    Options { coordinator_policy: policy, ..Options::default() }
}

/// A setup with failure detection on (runs with faults).
fn fd_setup(id: u32, n: u32) -> ProcessSetup {
    let mut setup = setup(id, n, 1, 1);
    setup.config.failure_detection = true;
    setup
}

fn net<const T: bool>(policy: CoordinatorPolicy, failure_detection: bool) -> TestNet<AtomicCommit<T>> {
    if failure_detection {
        TestNet::with_setup(&E_DELAYS, &options(policy), fd_setup)
    } else {
        TestNet::new(&E_DELAYS, 1, 1, &options(policy))
    }
}

fn txid(coordinator: u32, counter: u64) -> Txid {
    Txid { coordinator: ProcessId(coordinator), counter }
}

fn is_decision(m: &Message) -> bool {
    matches!(m, Message::Decision { .. })
}

/// §10 E1: PREPARE at 0, votes at 40 and 140; COMMIT logged and the client
/// answered at 140; R1 applies at 160, R2 at 210; 4n = 12 messages with
/// the self-messages, 8 on the wire.
#[test]
fn two_pc_10_e1_commit() {
    let mut net = net::<false>(CoordinatorPolicy::Fixed, false);
    let t1 = write(1, 1, 7);
    net.submit_at(0, 1, t1.clone());
    net.run_until(139);
    assert_eq!(net.executed_at(1, t1.id), None);
    net.run_until(1000);
    assert_eq!(net.executed_at(1, t1.id), Some(140), "the commit point answers the client");
    assert_eq!(net.executed_at(2, t1.id), Some(160));
    assert_eq!(net.executed_at(3, t1.id), Some(210));
    let vote_at = |from: u32| {
        net.delivered
            .iter()
            .find(|(_, f, _, m)| f.0 == from && matches!(m, Message::Vote { yes: true, .. }))
            .map(|(t, ..)| t.as_ns() / NS_PER_MS)
    };
    assert_eq!((vote_at(2), vote_at(3)), (Some(40), Some(140)));
    assert_eq!(net.delivered.len(), 12, "4n counting self-messages");
    assert_eq!(net.delivered.iter().filter(|(_, from, to, _)| from != to).count(), 8, "4(n-1) on the wire");
    for p in &net.processes {
        assert_eq!(p.lock_holder(K), None, "locks released");
    }
    assert!(net.processes[0].coordinating.is_empty(), "END after every ACK");
}

/// §10 E2 (RECEIVER): T1 at R1 and T2 at R2 at 0, both on k; each
/// coordinator locks k first, R0 locks it for T1 at 20 and votes NO on T2
/// at 70, R1 and R2 vote NO on each other's: both abort, no replica
/// applies either; the clients retry after the back-off and both then
/// commit, in the same order everywhere.
#[test]
fn two_pc_10_e2_conflict_abort() {
    let mut net = net::<false>(CoordinatorPolicy::Receiver, false);
    let (t1, t2) = (write(1, 1, 1), write(2, 1, 2));
    net.submit_at(0, 2, t1.clone());
    net.submit_at(0, 3, t2.clone());
    net.run_until(20);
    assert_eq!(net.processes[0].lock_holder(K), Some(txid(2, 1)), "R0 locked k for T1 at 20");
    net.run_until(150);
    let no_vote = |from: u32, to: u32| {
        net.delivered
            .iter()
            .any(|(_, f, t, m)| f.0 == from && t.0 == to && matches!(m, Message::Vote { yes: false, .. }))
    };
    assert!(no_vote(1, 3), "R0 votes NO on T2 (arrives at R2 at 140)");
    assert!(no_vote(2, 3), "R1 votes NO on T2");
    assert!(no_vote(3, 2), "R2 votes NO on T1");
    assert!(net.executed.is_empty(), "no replica applied either");
    for p in &net.processes {
        assert_eq!(p.lock_holder(K), None, "locks released after both aborts");
    }
    net.run_until(5000);
    let order = net.executed_by(1);
    assert_eq!(order.len(), 2, "both retried and committed");
    assert_eq!(net.executed_by(2), order);
    assert_eq!(net.executed_by(3), order);
}

/// §10 E3: R0 commits T1 at 140 and crashes, both DECISIONs lost. R1 and
/// R2 time out at 1020 and 1070 and find only prepared peers: blocked.
/// A conflicting T3 coordinated by R1 gets NO from R1 and R2 and aborts.
/// R0 restarts at 5000 and re-sends COMMIT: R1 applies at 5020, R2 at 5070.
#[test]
fn two_pc_10_e3_blocking() {
    let mut net = net::<false>(CoordinatorPolicy::Receiver, true);
    net.drop_rule = Box::new(|now, from, to, m| {
        from == ProcessId(1) && to != ProcessId(1) && is_decision(m) && now < Time::from_ns(5000 * NS_PER_MS)
    });
    let t1 = write(1, 1, 1);
    net.submit_at(0, 1, t1.clone());
    net.run_until(140);
    assert_eq!(net.executed_at(1, t1.id), Some(140), "client answered at the commit point");
    net.crashed[0] = true;
    net.run_until(1019);
    assert!(net.processes[1].blocked().is_empty());
    net.run_until(1200);
    let t1_txid = txid(1, 1);
    let since = |ms: u64| Time::from_ns(ms * NS_PER_MS);
    assert_eq!(net.processes[1].blocked(), [Blocked { txid: t1_txid, since: since(20) }]);
    assert_eq!(net.processes[2].blocked(), [Blocked { txid: t1_txid, since: since(70) }]);
    assert_eq!(net.processes[1].lock_holder(K), Some(t1_txid), "locks kept while blocked");

    let t3 = write(2, 1, 3);
    net.submit_at(2000, 2, t3.clone());
    net.run_until(2200);
    let t3_txid = txid(2, 1);
    let no_on_t3 = |from: u32| {
        net.delivered.iter().any(|(_, f, _, m)| f.0 == from && *m == Message::Vote { txid: t3_txid, yes: false })
    };
    assert!(no_on_t3(2) && no_on_t3(3), "R1 and R2 vote NO on T3");
    assert_eq!(net.processes[1].state(t3_txid), Some(TxnState::Aborted));
    assert!(net.executed_by(2).is_empty() && net.executed_by(3).is_empty());

    net.run_until(5000);
    let (fresh, _) = TwoPc::new(fd_setup(1, 3), &options(CoordinatorPolicy::Receiver));
    net.restart(1, fresh);
    net.run_until(5070);
    assert_eq!(net.executed_at(2, t1.id), Some(5020));
    assert_eq!(net.executed_at(3, t1.id), Some(5070));
    assert!(net.processes[1].blocked().is_empty() && net.processes[2].blocked().is_empty());
    net.run_until(10_000);
    for id in 1..=3 {
        assert_eq!(net.executed_by(id), [t1.id, t3.id], "T3's retry commits after T1 everywhere");
    }
}

/// §10 E4: as E3, but only the DECISION to R2 is lost: R1 applies at 160;
/// R2 times out at 1070, asks R1, gets COMMIT and applies at 1190.
#[test]
fn two_pc_10_e4_termination_succeeds() {
    let mut net = net::<false>(CoordinatorPolicy::Receiver, true);
    net.drop_rule = Box::new(|_, from, to, m| from == ProcessId(1) && to == ProcessId(3) && is_decision(m));
    let t1 = write(1, 1, 1);
    net.submit_at(0, 1, t1.clone());
    net.run_until(140);
    net.crashed[0] = true;
    net.run_until(1189);
    assert_eq!(net.executed_at(2, t1.id), Some(160));
    assert_eq!(net.executed_at(3, t1.id), None);
    net.run_until(2000);
    assert_eq!(net.executed_at(3, t1.id), Some(1190));
    assert!(net.processes[2].blocked().is_empty());
}

/// §7.1: a participant down before voting: the coordinator's VOTE_TIMEOUT
/// aborts at 1000 and the client retries until the participant is back.
#[test]
fn two_pc_7_1_participant_crash_before_voting_aborts() {
    let mut net = net::<false>(CoordinatorPolicy::Fixed, true);
    net.crashed[2] = true;
    let t1 = write(1, 1, 1);
    net.submit_at(0, 1, t1.clone());
    net.run_until(999);
    assert!(net.processes[0].coordinating.contains_key(&txid(1, 1)));
    net.run_until(1000);
    assert!(!net.processes[0].coordinating.contains_key(&txid(1, 1)), "aborted at VOTE_TIMEOUT");
    assert_eq!(net.processes[0].state(txid(1, 1)), Some(TxnState::Aborted));
    net.run_until(3000);
    let (fresh, _) = TwoPc::new(fd_setup(3, 3), &options(CoordinatorPolicy::Fixed));
    net.restart(3, fresh);
    net.run_until(8000);
    for id in 1..=3 {
        assert_eq!(net.executed_by(id), [t1.id], "a later attempt commits everywhere");
    }
}

/// §7.2: a participant prepared (WAL) crashes before the decision; on
/// restart it re-acquires its locks and asks the coordinator, which
/// answers COMMIT from its record.
#[test]
fn two_pc_7_2_participant_restart_asks_the_coordinator() {
    let mut net = net::<false>(CoordinatorPolicy::Fixed, true);
    let t1 = write(1, 1, 1);
    net.submit_at(0, 1, t1.clone());
    net.run_until(100);
    net.crashed[2] = true; // prepared at 70, the COMMIT (sent at 140) is lost
    net.run_until(500);
    let (fresh, _) = TwoPc::new(fd_setup(3, 3), &options(CoordinatorPolicy::Fixed));
    net.restart(3, fresh);
    assert_eq!(net.processes[2].lock_holder(K), Some(txid(1, 1)), "locks re-acquired from the WAL");
    net.run_until(700);
    assert_eq!(net.executed_at(3, t1.id), Some(640), "DECISION_REQ at 500, COMMIT back at 640");
}

/// §9: 3PC's normal case costs two round trips: votes at 140, PRE_ACKs by
/// 280, DO_COMMIT applied at R0 at 280, R1 at 300, R2 at 350; 6n = 18
/// messages with the self-messages.
#[test]
fn three_pc_9_normal_case() {
    let mut net = net::<true>(CoordinatorPolicy::Fixed, false);
    let t1 = write(1, 1, 7);
    net.submit_at(0, 1, t1.clone());
    net.run_until(1000);
    assert_eq!(net.executed_at(1, t1.id), Some(280));
    assert_eq!(net.executed_at(2, t1.id), Some(300));
    assert_eq!(net.executed_at(3, t1.id), Some(350));
    assert_eq!(net.delivered.len(), 18);
    assert_eq!(net.count_delivered(|m| matches!(m, Message::PreCommit { .. } | Message::PreAck { .. })), 6);
}

/// §9 termination, crash only: R0 crashes at its commit point (280) and
/// its DO_COMMITs are lost. R1 (rank 0) polls at 1160 (pre-committed at
/// 160), hears R2 pre-committed, R0 nothing; at 1960 it decides COMMIT:
/// R1 applies at 1960, R2 at 2020. Not blocked, unlike E3.
#[test]
fn three_pc_9_termination_does_not_block() {
    let mut net = net::<true>(CoordinatorPolicy::Fixed, true);
    net.drop_rule = Box::new(|_, from, to, m| from == ProcessId(1) && to != ProcessId(1) && is_decision(m));
    let t1 = write(1, 1, 1);
    net.submit_at(0, 1, t1.clone());
    net.run_until(280);
    assert_eq!(net.executed_at(1, t1.id), Some(280));
    net.crashed[0] = true;
    net.run_until(5000);
    assert_eq!(net.executed_at(2, t1.id), Some(1960));
    assert_eq!(net.executed_at(3, t1.id), Some(2020));
    assert!(net.processes[1].blocked().is_empty() && net.processes[2].blocked().is_empty());
    assert_eq!(net.processes[1].lock_holder(K), None);
}

/// §9 termination, crash only, all uncertain: R0 crashes after the votes
/// but before any PRE_COMMIT; R1 polls at 1020 and R2 answers Uncertain:
/// ABORT, and the locks are free again.
#[test]
fn three_pc_9_termination_aborts_when_all_are_uncertain() {
    let mut net = net::<true>(CoordinatorPolicy::Fixed, true);
    let t1 = write(1, 1, 1);
    net.submit_at(0, 1, t1.clone());
    net.run_until(100); // R1 and R2 prepared; R2's vote is on its way
    net.crashed[0] = true;
    net.run_until(3000);
    assert_eq!(net.processes[1].state(txid(1, 1)), Some(TxnState::Aborted));
    assert_eq!(net.processes[2].state(txid(1, 1)), Some(TxnState::Aborted));
    assert_eq!(net.processes[2].lock_holder(K), None);
    assert!(net.executed.is_empty());
}

/// §9 "Unsafe under partitions": R2 is cut off from 140, before
/// PRE_COMMIT reaches it. R0 and R1 are pre-committed: R1's termination
/// (R0 answers, R2 is silent) commits at 1960; R2 alone, uncertain,
/// aborts at 3870: `AtomicityViolation(T1)`. The harness sees it once R2
/// goes past T1: after the heal at 5000, T2 on the same key commits
/// everywhere, after T1 at R0 and R1 and in T1's place at R2.
#[test]
fn three_pc_9_unsafe_under_partitions_atomicity_violation() {
    let mut net = net::<true>(CoordinatorPolicy::Fixed, true);
    let cut = |p: ProcessId| p == ProcessId(3);
    let split = move |now: Time| now >= Time::from_ns(140 * NS_PER_MS) && now < Time::from_ns(5000 * NS_PER_MS);
    net.drop_rule = Box::new(move |now, from, to, _| split(now) && cut(from) != cut(to));
    let t1 = write(1, 1, 1);
    net.submit_at(0, 1, t1.clone());
    net.run_until(4_900);
    let t1_txid = txid(1, 1);
    assert_eq!(net.processes[0].state(t1_txid), Some(TxnState::Committed));
    assert_eq!(net.processes[1].state(t1_txid), Some(TxnState::Committed));
    assert_eq!(net.processes[2].state(t1_txid), Some(TxnState::Aborted), "the atomicity violation");
    assert_eq!(net.executed_at(2, t1.id), Some(1960));
    assert_eq!(net.verdict().outcomes.atomicity_violations, 0, "R2 has gone past nothing yet");
    let t2 = write(2, 1, 2);
    net.submit_at(6_000, 1, t2.clone());
    net.run_until(10_000);
    assert_eq!(net.executed_at(3, t1.id), None);
    assert!(net.executed_at(3, t2.id).is_some(), "T2 commits everywhere");
    let verdict = net.verdict();
    assert_eq!(verdict.outcomes.atomicity_violations, 1, "{verdict}");
    let violation = CheckerEvent::AtomicityViolation { cmd: t1.id, applied_at: ProcessId(1), skipped_at: ProcessId(3) };
    assert!(verdict.outcomes.kept().contains(&violation), "{verdict}");
}

/// The same partition under 2PC blocks R2 instead (§7.5: never unsafe).
#[test]
fn two_pc_7_5_partition_blocks_but_is_safe() {
    let mut net = net::<false>(CoordinatorPolicy::Fixed, true);
    let cut = |p: ProcessId| p == ProcessId(3);
    net.drop_rule = Box::new(move |now, from, to, _| now >= Time::from_ns(140 * NS_PER_MS) && cut(from) != cut(to));
    let t1 = write(1, 1, 1);
    net.submit_at(0, 1, t1.clone());
    net.run_until(10_000);
    assert_eq!(net.executed_at(2, t1.id), Some(160));
    assert_eq!(net.processes[2].state(txid(1, 1)), Some(TxnState::Prepared));
    assert_eq!(net.processes[2].blocked().len(), 1);
}

/// Stale, duplicate and absurd messages are ignored.
#[test]
fn stale_and_absurd_messages_are_ignored() {
    let (mut p, _) = TwoPc::new(setup(2, 3, 1, 1), &Options::default());
    let mut out = Outbox::new();
    let now = Time::ZERO;
    let t = txid(1, 9);
    p.handle(ProcessId(3), Message::Vote { txid: t, yes: true }, now, &mut out);
    p.handle(ProcessId(3), Message::Ack { txid: t }, now, &mut out);
    p.handle(ProcessId(1), Message::Decision { txid: t, commit: true }, now, &mut out);
    p.handle(ProcessId(1), Message::DecisionResp { txid: t, outcome: Outcome::Commit }, now, &mut out);
    p.handle(ProcessId(1), Message::PreCommit { txid: t }, now, &mut out);
    // A PREPARE claiming another coordinator than its sender.
    p.handle(ProcessId(3), Message::Prepare { txid: t, cmd: write(1, 1, 1) }, now, &mut out);
    assert!(out.effects().is_empty(), "{out:?}");
    assert_eq!(p.state(t), None);
}

/// §1 `vote_no_probability`: a participant that always votes NO aborts
/// every attempt (the proxy keeps retrying); one that never does commits.
#[test]
fn two_pc_1_vote_no_probability_aborts() {
    let always_no = Options { vote_no_probability: 1.0, ..Options::default() };
    let mut net: TestNet<TwoPc> = TestNet::new(&E_DELAYS, 1, 1, &always_no);
    let t1 = write(1, 1, 1);
    net.submit_at(0, 1, t1.clone());
    net.run_until(2000);
    assert!(net.executed.is_empty());
    assert!(net.count_delivered(|m| matches!(m, Message::Aborted { .. })) >= 2, "retried after each abort");
    assert!(net.count_delivered(|m| matches!(m, Message::Vote { yes: true, .. })) == 0);
}
