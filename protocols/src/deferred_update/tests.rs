//! DUR transcript tests: the worked examples of deferred-update.md §9 on
//! `shared::test_net`, with the spec's delays. R0 (the abcast leader) is
//! process 1, R1 process 2, R2 process 3; FPaxos with f = 1 (Q2 = 2, the
//! leader and R1, its closest).

use super::*;
use crate::shared::test_net::{TestNet, setup};
use sim_core::protocol::ProtocolConfig;
use sim_core::verdict::{History, HistoryOp};
use sim_core::{ClientId, Op};

/// §9: d(R0,R1) = 10, d(R0,R2) = 40, d(R1,R2) = 35 ms.
const DELAYS: [&[u64]; 3] = [&[0, 10, 40], &[10, 0, 35], &[40, 35, 0]];
const R0: u32 = 1;
const R1: u32 = 2;
const R2: u32 = 3;
const X: u64 = 1;
const Y: u64 = 2;

fn net() -> TestNet<DeferredUpdate> {
    TestNet::new(&DELAYS, 1, R0, &Options::default())
}

/// A network whose processes detect failures (a run with faults).
fn detecting_net() -> TestNet<DeferredUpdate> {
    TestNet::with_setup(&DELAYS, &Options::default(), |id, n| ProcessSetup {
        config: ProtocolConfig { failure_detection: true, ..setup(id, n, 1, R0).config },
        ..setup(id, n, 1, R0)
    })
}

fn write(client: u32, seq: u64, key: u64) -> Arc<Command> {
    let id = CommandId { client: ClientId(client), seq };
    Arc::new(Command { id, ops: vec![(key, Op::Put(Command::unique_value(id)))].into(), payload_bytes: 0 })
}

fn read(client: u32, seq: u64, key: u64) -> Arc<Command> {
    let id = CommandId { client: ClientId(client), seq };
    Arc::new(Command { id, ops: vec![(key, Op::Get)].into(), payload_bytes: 0 })
}

fn process(net: &TestNet<DeferredUpdate>, id: u32) -> &DeferredUpdate {
    &net.processes[id as usize - 1]
}

fn certify(cmd: &Arc<Command>, snapshot: u64, readset: &[(u64, u64)]) -> Arc<Certify> {
    Arc::new(Certify {
        cmd: cmd.clone(),
        delegate: ProcessId(R1),
        attempt: 1,
        snapshot,
        readset: readset.into(),
        ordered: false,
    })
}

/// §9 E1: T1 at R1 and T2 at R2 both read and write x on snapshot 0.
/// T1's CERTIFY reaches the leader at 10, T2's at 40: T1 takes position
/// 1 and commits everywhere (x = (T1's value, 1)); T2 aborts everywhere
/// (x's version is 1, not 0). T1's client has its reply at
/// 0 + 10 + 2·10 + 10 + 0 = 40. R2 then executes T2 again (attempt 2,
/// after a back-off of 10 ms), on snapshot 2, and it commits at
/// position 3.
#[test]
fn deferred_update_9_e1_concurrent_conflict() {
    let mut net = net();
    let (t1, t2) = (write(1, 1, X), write(2, 1, X));
    net.submit_at(0, R1, t1.clone());
    net.submit_at(0, R2, t2.clone());
    net.run_until(100);
    assert_eq!(net.executed_at(R1, t1.id), Some(40), "T1's delegate answers at 40");
    assert_eq!(net.executed_at(R0, t1.id), Some(30));
    assert_eq!(net.executed_at(R2, t1.id), Some(70));
    for id in [R0, R1, R2] {
        assert_eq!(net.executed_at(id, t2.id), None, "T2 aborted at R{}", id - 1);
        assert_eq!(process(&net, id).version(X), 1);
        assert_eq!(net.store(id).get(X), Some(Command::unique_value(t1.id)));
    }
    assert_eq!(process(&net, R2).aborts(), 1);
    assert_eq!(process(&net, R2).pending(), 1, "T2 is retried, not answered");
    // Re-executed at 110, at the leader at 150, chosen at 170, at R2 at 210.
    net.run_until(300);
    assert_eq!(net.executed_at(R2, t2.id), Some(210));
    for id in [R0, R1, R2] {
        assert_eq!(net.executed_by(id), vec![t1.id, t2.id]);
        assert_eq!(process(&net, id).version(X), 3);
        assert_eq!(process(&net, id).delivered(), 3);
        assert_eq!(net.store(id).get(X), Some(Command::unique_value(t2.id)));
    }
}

/// §9 E1 at the certifier alone: T1 then T2, both with readset {(x, 0)}.
#[test]
fn deferred_update_9_e1_certification_is_order_dependent() {
    let (t1, t2) = (write(1, 1, X), write(2, 1, X));
    let mut certifier = Certifier::new();
    let first = certifier.chosen(1, Some(certify(&t1, 0, &[(X, 0)])));
    let second = certifier.chosen(2, Some(certify(&t2, 0, &[(X, 0)])));
    assert_eq!((first[0].pos, first[0].verdict), (1, Verdict::Commit));
    assert_eq!((second[0].pos, second[0].verdict), (2, Verdict::Abort));
    assert_eq!(certifier.version(X), 1);
}

/// §9 E2: T1 writes x and T2 writes y, blind (empty readsets): both
/// commit in either delivery order, with the same store.
#[test]
fn deferred_update_9_e2_no_conflict_blind_writes() {
    let (t1, t2) = (write(1, 1, X), write(2, 1, Y));
    let (c1, c2) = (certify(&t1, 0, &[]), certify(&t2, 0, &[]));
    for order in [[&c1, &c2], [&c2, &c1]] {
        let mut certifier = Certifier::new();
        for (slot, c) in (1..).zip(order) {
            let delivered = certifier.chosen(slot, Some(c.clone()));
            assert_eq!(delivered[0].verdict, Verdict::Commit);
        }
        let (vx, vy) = (certifier.version(X), certifier.version(Y));
        assert_eq!((vx.min(vy), vx.max(vy)), (1, 2));
    }
    // A blind write passes even after another transaction wrote its key.
    let mut certifier = Certifier::new();
    certifier.chosen(1, Some(certify(&t1, 0, &[(X, 0)])));
    let blind = certifier.chosen(2, Some(certify(&write(3, 1, X), 0, &[])));
    assert_eq!(blind[0].verdict, Verdict::Commit);
}

/// §9 E2 end to end: the same two (non-blind, on distinct keys) updates
/// from R1 and R2 both commit on their first attempt, and every replica
/// ends with the same store.
#[test]
fn deferred_update_9_e2_no_conflict_end_to_end() {
    let mut net = net();
    let (t1, t2) = (write(1, 1, X), write(2, 1, Y));
    net.submit_at(0, R1, t1.clone());
    net.submit_at(0, R2, t2.clone());
    net.run_until(300);
    for id in [R0, R1, R2] {
        assert_eq!(net.executed_by(id), vec![t1.id, t2.id]);
        assert_eq!(net.store(id).get(X), Some(Command::unique_value(t1.id)));
        assert_eq!(net.store(id).get(Y), Some(Command::unique_value(t2.id)));
        assert_eq!(process(&net, id).aborts(), 0);
    }
}

/// §9 E3: T1 (write x) commits at R1 at 40 and its client has its reply
/// then. A client at R2 reads x at 45: R2 answers at once from its own
/// store, which has x only when Chosen arrives (left the leader at 30,
/// at R2 at 70): the read returns the initial value. The linearizability
/// check flags that history; it is sequentially consistent (the read
/// ordered before the write, each client's order kept).
#[test]
fn deferred_update_9_e3_stale_read_allowed() {
    let mut net = net();
    let (t1, r) = (write(1, 1, X), read(2, 1, X));
    net.submit_at(0, R1, t1.clone());
    net.submit_at(45, R2, r.clone());
    net.run_until(45);
    assert_eq!(net.executed_at(R1, t1.id), Some(40));
    assert_eq!(net.executed_at(R2, r.id), Some(45), "a local read: answered at once");
    assert_eq!(net.store(R2).get(X), None, "R2 has not delivered T1 yet: the read saw 0");
    net.run_until(100);
    assert_eq!(net.executed_at(R2, t1.id), Some(70));
    assert_eq!(net.executed_by(R0), vec![t1.id], "the read went nowhere else");
    let ms = |t: u64| Time::from_ns(t * NS_PER_MS);
    let value = Command::unique_value(t1.id);
    let mut history = History::new();
    history.push(HistoryOp {
        key: X,
        cmd: t1.id,
        written: Some(value),
        observed: None,
        invoked: ms(0),
        responded: Some(ms(40)),
    });
    history.push(HistoryOp {
        key: X,
        cmd: r.id,
        written: None,
        observed: None,
        invoked: ms(45),
        responded: Some(ms(45)),
    });
    assert!(history.check().total() > 0, "not linearizable: the read began after the write's reply");
    // Sequentially consistent: the order [read, T1] is legal (the read
    // returns the value before T1) and keeps each client's own order
    // (one operation each).
    let mut sequential = History::new();
    sequential.push(HistoryOp {
        key: X,
        cmd: r.id,
        written: None,
        observed: None,
        invoked: ms(0),
        responded: Some(ms(0)),
    });
    sequential.push(HistoryOp {
        key: X,
        cmd: t1.id,
        written: Some(value),
        observed: None,
        invoked: ms(1),
        responded: Some(ms(1)),
    });
    assert_eq!(sequential.check().total(), 0, "the same operations, in that order, are a legal history");
}

/// §9 E4: R1 abcasts T (write y) and crashes before delivery. T is
/// delivered at R0 and R2 and commits (the leader counts R2's ack, as
/// with failure detection it sends phase 2 to everyone). The client
/// resubmits to R2 (the spec's OUTCOME_QUERY, folded into the
/// resubmission): before R2 delivered T it executes T again and
/// broadcasts a second CERTIFY, which is skipped at delivery (same txid,
/// committed: no verdict change); after, R2 answers from what it
/// delivered, broadcasting nothing.
#[test]
fn deferred_update_9_e4_delegate_crash() {
    let mut net = detecting_net();
    let t = write(1, 1, Y);
    net.submit_at(0, R1, t.clone());
    net.run_until(5);
    net.crashed[R1 as usize - 1] = true;
    // The forward reached R0 at 10; R2 accepts at 50, its ack is back at
    // 90: chosen; R2 learns it at 130.
    net.submit_at(60, R2, t.clone());
    net.run_until(1_000);
    assert_eq!(net.executed_at(R0, t.id), Some(90));
    assert_eq!(net.executed_at(R2, t.id), Some(130));
    for id in [R0, R2] {
        assert_eq!(net.executed_by(id), vec![t.id], "T executed once at R{}", id - 1);
        assert_eq!(process(&net, id).version(Y), 1);
        assert_eq!(process(&net, id).delivered(), 2, "the second CERTIFY was delivered, and skipped");
    }
    assert_eq!(process(&net, R2).pending(), 0);
    // A later resubmission is answered from R2's delivered state.
    let mut out = Outbox::new();
    net.processes[R2 as usize - 1].submit(t.clone(), Time::from_ns(2_000 * NS_PER_MS), &mut out);
    assert!(out.sent().is_empty(), "nothing broadcast: {out:?}");
    assert_eq!(out.executions(), vec![Execution { cmd: t.clone(), since: Time::from_ns(2_000 * NS_PER_MS) }]);
}

/// §4 step 2: a read-only transaction sends nothing and is answered at
/// once, even under a write in flight.
#[test]
fn read_only_transactions_send_nothing() {
    let (mut dur, _) = DeferredUpdate::new(setup(R1, 3, 1, R0), &Options::default());
    let mut out = Outbox::new();
    dur.submit(read(1, 1, X), Time::ZERO, &mut out);
    assert!(out.sent().is_empty());
    assert_eq!(out.executions().len(), 1);
    let mut out = Outbox::new();
    dur.submit(write(1, 2, X), Time::ZERO, &mut out);
    assert_eq!(out.sent().len(), 1, "an update is forwarded to the abcast leader: {out:?}");
}

/// A duplicate CERTIFY for a committed txid is skipped; one for an
/// aborted txid is certified again (and aborts again: its snapshot is
/// no newer).
#[test]
fn duplicates_are_skipped_before_certification() {
    let t1 = write(1, 1, X);
    let mut certifier = Certifier::new();
    certifier.chosen(1, Some(certify(&t1, 0, &[(X, 0)])));
    assert!(certifier.committed(t1.id));
    assert_eq!(certifier.chosen(2, Some(certify(&t1, 0, &[(X, 0)])))[0].verdict, Verdict::Duplicate);
    let t2 = write(2, 1, X);
    assert_eq!(certifier.chosen(3, Some(certify(&t2, 0, &[(X, 0)])))[0].verdict, Verdict::Abort);
    assert_eq!(certifier.chosen(4, Some(certify(&t2, 0, &[(X, 0)])))[0].verdict, Verdict::Abort);
    assert_eq!(certifier.version(X), 1);
}

/// Slots learned out of order wait for the gap; no-ops count as
/// deliveries; a slot learned twice is ignored.
#[test]
fn deliveries_follow_slot_order() {
    let (t1, t2) = (write(1, 1, X), write(2, 1, Y));
    let mut certifier = Certifier::new();
    assert!(certifier.chosen(3, Some(certify(&t2, 0, &[(Y, 0)]))).is_empty());
    assert!(certifier.chosen(1, None).is_empty(), "a no-op delivers nothing");
    assert_eq!(certifier.delivered(), 1);
    let delivered = certifier.chosen(2, Some(certify(&t1, 0, &[(X, 0)])));
    assert_eq!(delivered.iter().map(|d| d.pos).collect::<Vec<_>>(), vec![2, 3]);
    assert!(certifier.chosen(2, Some(certify(&t1, 0, &[(X, 0)]))).is_empty());
    assert_eq!(certifier.delivered(), 3);
}

/// A new incarnation of process `id`, as the engine builds one at a restart.
fn fresh(id: u32) -> DeferredUpdate {
    let mut setup = setup(id, 3, 1, R0);
    setup.config.failure_detection = true;
    DeferredUpdate::new(setup, &Options::default()).0
}

/// Every replica holds the same store and delivered the same number of
/// requests.
fn assert_same_stores(net: &TestNet<DeferredUpdate>, keys: &[u64]) {
    for id in [R1, R2] {
        assert_eq!(process(net, id).delivered(), process(net, R0).delivered(), "R{} delivered", id - 1);
        for &key in keys {
            assert_eq!(net.store(id).get(key), net.store(R0).get(key), "key {key} at R{}", id - 1);
            assert_eq!(process(net, id).version(key), process(net, R0).version(key));
        }
    }
}

/// §7.4 replica restart, mid-run. R2 crashes at 5, before it delivers
/// anything; R0 and R1 commit three updates on x and y without it (each
/// chosen by the leader with R1's ack). R2 restarts at 500 with its
/// durable store at position 0 and asks both peers for what follows
/// (STATE_REQ): R1's STATE (sent at 535, at R2 at 570) carries positions
/// 1..=3 and sets the target 3; R2 certifies them itself (same verdicts),
/// is caught up at 570 and serves clients again. A client whose read
/// reached R2 at 510 is refused; it resubmits to R1 (its timeout, as the
/// engine's clients do) and is answered there. An update R2 executes at
/// 600 is on the current snapshot: it commits at the first attempt.
#[test]
fn deferred_update_7_4_restart_catches_up_by_state_transfer_then_serves() {
    let mut net = detecting_net();
    let (t1, t2, t3) = (write(1, 1, X), write(2, 1, Y), write(1, 2, X));
    net.submit_at(0, R1, t1.clone());
    net.submit_at(0, R0, t2.clone());
    net.run_until(5);
    net.crashed[R2 as usize - 1] = true;
    net.submit_at(100, R1, t3.clone());
    net.run_until(500);
    assert_eq!(process(&net, R0).delivered(), 3);
    assert_eq!(process(&net, R2).delivered(), 0, "R2 crashed before any delivery");
    net.crashed[R2 as usize - 1] = false;
    net.restart(R2, fresh(R2));
    assert!(process(&net, R2).catching_up());
    let refused = read(3, 1, X);
    net.submit_at(510, R2, refused.clone());
    net.run_until(569);
    assert!(process(&net, R2).catching_up(), "no STATE yet");
    assert_eq!(net.executed_at(R2, refused.id), None, "refused while catching up");
    net.run_until(570);
    assert!(!process(&net, R2).catching_up(), "caught up on R1's STATE");
    // T2, the leader's own, took position 1; T1 (at the leader at 10) 2.
    assert_eq!(net.executed_by(R2), vec![t2.id, t1.id, t3.id], "R2 applied the missed updates, in order");
    assert_same_stores(&net, &[X, Y]);
    // The refused client's timeout: it resubmits to the next replica.
    net.submit_at(2_510, R1, refused.clone());
    let t4 = write(4, 1, X);
    net.submit_at(600, R2, t4.clone());
    net.run_until(3_000);
    assert_eq!(net.executed_at(R1, refused.id), Some(2_510), "the refused client completes at R1");
    assert!(net.executed_at(R2, t4.id).is_some(), "R2 serves its clients again");
    assert_eq!(process(&net, R2).aborts(), 0, "executed on the caught-up snapshot");
    assert_same_stores(&net, &[X, Y]);
    assert_eq!(net.store(R2).get(X), Some(Command::unique_value(t4.id)));
    for id in [R0, R1, R2] {
        assert_eq!(net.executed_by(id).iter().filter(|&&c| c == t1.id).count(), 1, "T1 once at R{}", id - 1);
    }
    // (No verdict here: this network counts the refused submission as a
    // command of its own, never answered; faults.rs judges a restart with
    // the engine's retrying clients.)
}

/// §7.4 with the abcast leader: R0 crashes at 200 with an update of its
/// own client broadcast but not chosen (R1's ack is on its way), and
/// restarts at 3000 after R1 took over (R1's candidacy re-proposes the
/// value R1 accepted, so the update commits). R0 keeps its acceptor
/// state, catches up from a peer, follows the new leader, and then
/// serves a client of its own; every replica ends with the same store.
#[test]
fn deferred_update_7_4_leader_restart_keeps_acceptor_state_and_catches_up() {
    let mut net = detecting_net();
    let (t1, t2) = (write(1, 1, X), write(2, 1, X));
    net.submit_at(0, R1, t1.clone());
    net.submit_at(195, R0, t2.clone());
    net.run_until(200);
    net.crashed[R0 as usize - 1] = true;
    net.run_until(3_000);
    assert_ne!(process(&net, R1).abcast_leader(), ProcessId(R0), "a new leader took over");
    assert!(net.executed_at(R1, t2.id).is_some(), "R0's accepted request survived the leader change");
    net.crashed[R0 as usize - 1] = false;
    net.restart(R0, fresh(R0));
    assert!(process(&net, R0).catching_up());
    net.run_until(3_200);
    assert!(!process(&net, R0).catching_up());
    let t3 = write(3, 1, X);
    net.submit_at(3_300, R0, t3.clone());
    net.run_until(6_000);
    assert!(net.executed_at(R0, t3.id).is_some(), "R0 serves again, through the new leader");
    assert_same_stores(&net, &[X]);
    for id in [R0, R1, R2] {
        assert_eq!(net.executed_by(id), vec![t1.id, t2.id, t3.id], "at R{}", id - 1);
    }
    assert!(net.verdict().passed(), "{}", net.verdict());
}

/// §4 step 7 with `MAX_RETRIES` (departure: executed at delivery rather
/// than aborted for good). §9 E1's T1 (R1) and T2 (R2) on x, plus T3,
/// written at the leader at 100: T2 aborts at position 2 (delivered at R2
/// at 100), is executed again at 110 on snapshot 2 and reaches the leader
/// at 150, after T3 took position 3. Optimistically, that second attempt
/// read x at version 1 and aborts too. With `MAX_RETRIES = 1` it is
/// broadcast `ordered`, with no readset: it executes at position 4 and
/// commits, and every replica ends with T2's value.
#[test]
fn deferred_update_4_7_after_max_retries_the_transaction_executes_at_delivery() {
    for (max_retries, t2_aborts) in [(None, 2), (Some(1), 1)] {
        let options = Options { max_retries, ..Options::default() };
        let mut net = TestNet::new(&DELAYS, 1, R0, &options);
        let (t1, t2, t3) = (write(1, 1, X), write(2, 1, X), write(3, 1, X));
        net.submit_at(0, R1, t1.clone());
        net.submit_at(0, R2, t2.clone());
        net.submit_at(100, R0, t3.clone());
        net.run_until(260);
        assert_eq!(process(&net, R2).aborts(), t2_aborts, "max_retries {max_retries:?}");
        if max_retries.is_some() {
            assert_eq!(process(&net, R2).ordered(), 1);
            let ordered = net.delivered.iter().any(|(_, _, _, m)| {
                matches!(m, Message::Abcast(fpaxos::Message::Accept { slot: 4, cmd: Some(c), .. })
                    if c.ordered && c.readset.is_empty() && c.cmd.id == t2.id)
            });
            assert!(ordered, "T2's second attempt is ordered, in slot 4");
            // Chosen at 170 (R1's ack), at R2 at 210.
            assert_eq!(net.executed_at(R2, t2.id), Some(210));
            for id in [R0, R1, R2] {
                assert_eq!(net.executed_by(id), vec![t1.id, t3.id, t2.id], "at R{}", id - 1);
                assert_eq!(net.store(id).get(X), Some(Command::unique_value(t2.id)));
                assert_eq!(process(&net, id).version(X), 4);
            }
        } else {
            assert_eq!(net.executed_at(R2, t2.id), None, "still retrying optimistically");
        }
    }
}
