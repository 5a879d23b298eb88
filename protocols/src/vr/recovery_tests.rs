//! Restart through `Protocol::restart` (vr.md §8, `recovery.rs`).

use super::*;
use crate::shared::test_net::{TestNet, setup};
use sim_core::CommandId;
use sim_core::{ClientId, Op};

fn cmd(seq: u64) -> Arc<Command> {
    let id = CommandId { client: ClientId(0), seq };
    Arc::new(Command { id, ops: vec![(1, Op::Put(seq))].into(), payload_bytes: 0 })
}

/// vr.md §15's three replicas: d(R0,R1)=10, d(R0,R2)=40, d(R1,R2)=35.
const DELAYS: [&[u64]; 3] = [&[0, 10, 40], &[10, 0, 35], &[40, 35, 0]];

/// How often process `id` executed each command, by seq (index 0 unused).
fn executions_at(net: &TestNet<Vr>, id: u32, upto: u64) -> Vec<usize> {
    (0..=upto)
        .map(|seq| net.executed.iter().filter(|(_, p, c)| *p == ProcessId(id) && c.seq == seq && seq > 0).count())
        .collect()
}

/// vr.md §8 step 3: R2 logged op 3 but executed only ops 1-2 when it
/// crashed (op 3's commit had not reached it). It restarts with no
/// protocol state; its state machine (the engine's store and executor)
/// stands for ops 1-2 applied, the same state a replay of the committed
/// prefix 1-2 from empty would rebuild. After recovery it executes ops
/// 3-6 from the primary's log, each once, and its client table covers
/// the whole log again.
#[test]
fn vr_8_restart_re_executes_the_log_up_to_commit_after_the_applied_prefix() {
    let mut net = TestNet::<Vr>::new(&DELAYS, 1, 1, &Options::default());
    for seq in 1..=3 {
        net.submit_at((seq - 1) * 30, 1, cmd(seq));
    }
    net.run_until(105);
    let r2 = &net.processes[2];
    assert_eq!((r2.op(), r2.executed()), (3, 2), "op 3 logged, its commit not known yet");
    net.crashed[2] = true;
    for seq in 4..=6 {
        net.submit_at(200 + seq * 30, 1, cmd(seq));
    }
    net.run_until(1000);
    let executed_before = net.executed.len();
    let fresh = Vr::new(setup(3, 3, 1, 1), &Options::default()).0;
    net.restart(3, fresh);
    let r2 = &net.processes[2];
    assert_eq!((r2.status(), r2.executed(), r2.commit_number()), (Status::Recovering, 2, 2));
    net.run_until(1200);
    let r2 = &net.processes[2];
    assert_eq!((r2.status(), r2.view(), r2.op(), r2.executed()), (Status::Normal, 0, 6, 6));
    assert_eq!(executions_at(&net, 3, 6), vec![0, 1, 1, 1, 1, 1, 1], "every op executed once at R2");
    let after: Vec<u64> =
        net.executed[executed_before..].iter().filter(|(_, p, _)| *p == ProcessId(3)).map(|(_, _, c)| c.seq).collect();
    assert_eq!(after, vec![3, 4, 5, 6], "after the restart: from the kept position up to commit");
    assert_eq!(r2.executed_seq.get(&ClientId(0)), Some(&6), "client table rebuilt");
    assert!(r2.log.base() <= 2, "the log kept from the primary's base: {}", r2.log.base());
}

/// A restarted incarnation draws a fresh nonce from its new random
/// stream (§8 step 1), and answers from the crashed incarnation's
/// RECOVERY (other nonce) are ignored.
#[test]
fn vr_8_restart_draws_a_fresh_nonce_and_ignores_old_answers() {
    let mut old = Vr::new(setup(3, 3, 1, 1), &Options::default()).0;
    let mut executor = ReadingSlotExecutor::new();
    let mut out = Outbox::new();
    let mut other_stream = setup(3, 3, 1, 1);
    other_stream.rng = sim_core::rng::RngStreams::new(8).stream(sim_core::rng::Purpose::Protocol, 3);
    let fresh = Vr::new(other_stream, &Options::default()).0;
    old.restart(fresh, &mut executor, Time::ZERO, &mut out);
    assert_eq!(old.status(), Status::Recovering);
    let nonce = old.nonce;
    let sent = out.sent();
    let recoveries = sent.iter().filter(|(_, m)| matches!(m, Message::Recovery { nonce: n } if *n == nonce));
    assert_eq!(recoveries.count(), 2, "RECOVERY to both others");
    let log = LogSnapshot { base: 0, entries: Vec::new(), commit: 0 };
    for from in [1, 2] {
        let msg = Message::RecoveryResponse { view: 0, nonce: nonce ^ 1, log: Some(log.clone()) };
        old.handle(ProcessId(from), msg, Time::ZERO, &mut out);
    }
    assert_eq!(old.status(), Status::Recovering, "answers to another nonce are ignored");
    for from in [1, 2] {
        let log = (from == 1).then(|| log.clone());
        old.handle(ProcessId(from), Message::RecoveryResponse { view: 0, nonce, log }, Time::ZERO, &mut out);
    }
    assert_eq!(old.status(), Status::Normal);
}

/// §10b with restarts: the crashed incarnation may have promised the
/// primary (whose lease rests on it) not to join a view change; that
/// promise is not durable, so a restarted backup keeps one for `L` from
/// its restart: once recovered, it defers a START_VIEW_CHANGE until then.
#[test]
fn vr_10_b_a_restarted_backup_keeps_a_promise_for_a_lease_period() {
    let options = Options { leased_reads: true, ..Options::default() };
    let mut r2 = Vr::new(setup(3, 3, 1, 1), &options).0;
    let mut executor = ReadingSlotExecutor::new();
    let mut out = Outbox::new();
    let restart_at = Time::from_ns(1000 * NS_PER_MS);
    r2.restart(Vr::new(setup(3, 3, 1, 1), &options).0, &mut executor, restart_at, &mut out);
    let nonce = r2.nonce;
    let log = LogSnapshot { base: 0, entries: Vec::new(), commit: 0 };
    for from in [1, 2] {
        let log = (from == 1).then(|| log.clone());
        r2.handle(ProcessId(from), Message::RecoveryResponse { view: 0, nonce, log }, restart_at, &mut out);
    }
    assert_eq!(r2.status(), Status::Normal);
    let svc_at = Time::from_ns(1100 * NS_PER_MS);
    r2.handle(ProcessId(2), Message::StartViewChange { view: 1 }, svc_at, &mut out);
    assert_eq!((r2.status(), r2.view()), (Status::Normal, 0), "deferred while the promise may be live");
    let expired = restart_at.plus_ns(DEFAULT_LEASE_NS);
    r2.handle_timer(Timer::Tick, expired, &mut out);
    assert_eq!((r2.status(), r2.view()), (Status::ViewChange, 1), "joined once it expired");
}
