//! VR unit and transcript tests: every worked example of vr.md §15, and
//! the failure paths the engine cannot inject yet (crash, partition, lost
//! messages, restart), driven by hand or on `shared::test_net`.

use super::*;
use crate::shared::test_net::{TestNet, setup};
use sim_core::CommandId;
use sim_core::{ClientId, Effect, Op};

fn cmd(client: u32, seq: u64) -> Arc<Command> {
    let id = CommandId { client: ClientId(client), seq };
    Arc::new(Command { id, ops: vec![(1, Op::Put(seq))].into(), payload_bytes: 0 })
}

fn read(client: u32, seq: u64) -> Arc<Command> {
    let id = CommandId { client: ClientId(client), seq };
    Arc::new(Command { id, ops: vec![(1, Op::Get)].into(), payload_bytes: 0 })
}

fn entry(seq: u64, origin: u32) -> Entry {
    Entry { cmd: cmd(0, seq), origin: ProcessId(origin) }
}

fn replica(id: u32, n: u32, f: usize) -> Vr {
    Vr::new(setup(id, n, f, 1), &Options::default()).0
}

fn ms(ms: u64) -> Time {
    Time::from_ns(ms * NS_PER_MS)
}

/// The slots (and whether they carry a command) handed to the executor.
fn executed_slots(out: &Outbox<Vr>) -> Vec<u64> {
    out.executions()
        .iter()
        .filter_map(|step| match step {
            LogStep::Slot(c) => Some(c.slot),
            LogStep::Read { .. } => None,
        })
        .collect()
}

/// The three replicas of vr.md §15: d(R0,R1)=10, d(R0,R2)=40, d(R1,R2)=35.
const E_DELAYS: [&[u64]; 3] = [&[0, 10, 40], &[10, 0, 35], &[40, 35, 0]];

/// vr.md §15 E1: normal case. REQUEST at 0 commits at 20 (the client at
/// R0 gets its reply then); the idle COMMIT leaves at 100, so R1 executes
/// at 110 and R2 at 140; 2 PREPARE, 2 PREPARE_OK, 2 COMMIT.
#[test]
fn vr_15_e1_normal_case() {
    let mut net = TestNet::<Vr>::new(&E_DELAYS, 1, 1, &Options::default());
    net.submit_at(0, 1, cmd(0, 1));
    net.run_until(150);
    let id = cmd(0, 1).id;
    assert_eq!(net.executed_at(1, id), Some(20), "REPLY at t=20");
    assert_eq!(net.executed_at(2, id), Some(110));
    assert_eq!(net.executed_at(3, id), Some(140));
    assert_eq!(net.count_delivered(|m| matches!(m, Message::Prepare { .. })), 2);
    assert_eq!(net.count_delivered(|m| matches!(m, Message::PrepareOk { .. })), 2);
    assert_eq!(net.count_delivered(|m| matches!(m, Message::Commit { .. })), 2);
}

/// vr.md §5: a client at a backup forwards through it; the primary answers
/// that backup at commit: `d(R1,R0) + 2·d_2(R0) + d(R0,R1)` = 10+20+10.
#[test]
fn vr_5_client_at_a_backup_is_answered_at_commit() {
    let mut net = TestNet::<Vr>::new(&E_DELAYS, 1, 1, &Options::default());
    net.submit_at(0, 2, cmd(0, 1));
    net.run_until(90);
    assert_eq!(net.executed_at(2, cmd(0, 1).id), Some(40));
    assert_eq!(net.executed_at(1, cmd(0, 1).id), Some(30));
}

/// A view-change DVC for E2's logs: R1 (3, 7, 5), R2 (2, 9, 4), R3 (3, 6, 6).
fn e2_dvc(replica: u32) -> Message {
    let (lnv, log, commit) = match replica {
        2 => (3, (1..=7).map(|s| entry(s, 1)).collect(), 5),
        3 => (2, (1..=4).chain(105..=109).map(|s| entry(s, 1)).collect(), 4),
        4 => (3, (1..=6).map(|s| entry(s, 1)).collect(), 6),
        _ => unreachable!(),
    };
    Message::DoViewChange {
        view: 4,
        last_normal_view: lnv,
        log: LogSnapshot { base: 0, entries: log, commit },
        is_witness: false,
    }
}

/// vr.md §15 E2: log selection (n=5, f=2, view 4, primary R4). The new
/// primary takes R1's log (largest (lnv, op) = (3, 7)) and commit 6; op 7
/// commits after 2 PREPARE_OKs in view 4.
#[test]
fn vr_15_e2_log_selection() {
    let mut r4 = replica(5, 5, 2);
    let mut out = Outbox::new();
    for from in [2, 3] {
        r4.handle(ProcessId(from), e2_dvc(from), ms(0), &mut out);
    }
    assert_eq!((r4.view(), r4.status()), (4, Status::ViewChange), "joined view 4, 2 DVCs < f+1");
    let mut out = Outbox::new();
    r4.handle(ProcessId(4), e2_dvc(4), ms(0), &mut out);
    assert_eq!(r4.status(), Status::Normal);
    assert_eq!((r4.op(), r4.commit_number()), (7, 6));
    let r1_log: Vec<Entry> = (1..=7).map(|s| entry(s, 1)).collect();
    let start_view = Message::StartView { view: 4, log: LogSnapshot { base: 0, entries: r1_log, commit: 6 } };
    let expected: Vec<_> = [1, 2, 3, 4].map(|p| (ProcessId(p), start_view.clone())).to_vec();
    assert_eq!(out.sent(), expected);
    assert_eq!(executed_slots(&out), vec![1, 2, 3, 4, 5, 6]);

    let mut out = Outbox::new();
    r4.handle(ProcessId(2), Message::PrepareOk { view: 4, op: 7, executed: 6, echo: Time::ZERO }, ms(1), &mut out);
    assert_eq!(r4.commit_number(), 6, "one backup is not f = 2");
    r4.handle(ProcessId(3), Message::PrepareOk { view: 4, op: 7, executed: 6, echo: Time::ZERO }, ms(1), &mut out);
    assert_eq!(r4.commit_number(), 7);
    assert_eq!(executed_slots(&out), vec![7]);
}

/// vr.md §15 E3: recovery (n=5, view 5, primary R0). R2 restarts with
/// nonce 77; R1 (view 4), R3 (view 5) and R4 (nonce 55, ignored) are not
/// enough without primary(5); R0's response completes it.
#[test]
fn vr_15_e3_recovery() {
    let (mut r2, _) = Vr::new_recovering(setup(3, 5, 2, 1), &Options::default());
    let mut out = Outbox::new();
    r2.start(ms(0), &mut out);
    assert_eq!(out.sent().iter().filter(|(_, m)| matches!(m, Message::Recovery { .. })).count(), 4);
    r2.nonce = 77; // the example's nonce
    let response = |view, nonce, log| Message::RecoveryResponse { view, nonce, log };
    let mut out = Outbox::new();
    r2.handle(ProcessId(2), response(4, 77, None), ms(1), &mut out);
    r2.handle(ProcessId(4), response(5, 77, None), ms(1), &mut out);
    r2.handle(ProcessId(5), response(5, 55, None), ms(1), &mut out);
    assert_eq!(r2.status(), Status::Recovering, "2 valid responses, none from primary(5)");
    assert!(out.effects().is_empty());
    let log = LogSnapshot { base: 0, entries: (1..=3).map(|s| entry(s, 1)).collect(), commit: 2 };
    r2.handle(ProcessId(1), response(5, 77, Some(log)), ms(2), &mut out);
    assert_eq!((r2.status(), r2.view(), r2.op(), r2.commit_number()), (Status::Normal, 5, 3, 2));
    assert_eq!(executed_slots(&out), vec![1, 2], "re-executes the log up to commit");
    assert_eq!(out.sent(), vec![(ProcessId(1), Message::PrepareOk { view: 5, op: 3, executed: 2, echo: Time::ZERO })]);
}

/// vr.md §8 step 2 and 4: only Normal replicas answer RECOVERY, only the
/// primary with its log; a recovering replica answers nothing.
#[test]
fn vr_8_who_answers_recovery() {
    let mut primary = replica(1, 3, 1);
    let mut backup = replica(2, 3, 1);
    let (mut recovering, _) = Vr::new_recovering(setup(3, 3, 1, 1), &Options::default());
    let mut out = Outbox::new();
    primary.handle(ProcessId(3), Message::Recovery { nonce: 9 }, ms(0), &mut out);
    let empty = LogSnapshot { base: 0, entries: vec![], commit: 0 };
    let expected = Message::RecoveryResponse { view: 0, nonce: 9, log: Some(empty) };
    assert_eq!(out.sent(), vec![(ProcessId(3), expected)]);
    let mut out = Outbox::new();
    backup.handle(ProcessId(3), Message::Recovery { nonce: 9 }, ms(0), &mut out);
    assert_eq!(out.sent(), vec![(ProcessId(3), Message::RecoveryResponse { view: 0, nonce: 9, log: None })]);
    let mut out = Outbox::new();
    recovering.handle(ProcessId(2), Message::Recovery { nonce: 9 }, ms(0), &mut out);
    recovering.handle(ProcessId(1), Message::StartViewChange { view: 1 }, ms(0), &mut out);
    assert!(out.effects().is_empty(), "no answers, no SVC while recovering: {out:?}");
}

/// vr.md §15 E4, with reads through the log (§10 default; leases are not
/// implemented). R0 is cut off from R1 and R2 from t=0 to 5 s. View 1
/// (primary R1) starts after the view-change timeout and commits x=2; a
/// read submitted at R0 meanwhile is never answered from R0's stale state:
/// R0 rejoins as a backup of view 1 and its read returns after x=2.
#[test]
fn vr_15_e4_reads_through_the_log_are_never_stale() {
    let mut net = TestNet::<Vr>::new(&E_DELAYS, 1, 1, &Options::default());
    net.submit_at(0, 1, cmd(0, 1)); // x = 1, committed before the partition
    net.run_until(100);
    let cut = |now: Time, from: ProcessId, to: ProcessId| {
        let r0 = ProcessId(1);
        now < ms(5000) && (from == r0) != (to == r0)
    };
    net.drop_rule = Box::new(move |now, from, to, _| cut(now, from, to));
    net.submit_at(200, 1, read(1, 1));
    net.submit_at(2000, 2, cmd(2, 2)); // x = 2
    net.run_until(4900);
    assert_eq!(net.processes[1].view(), 1, "R1 and R2 moved to view 1");
    assert_eq!(net.executed_at(1, read(1, 1).id), None, "R0 cannot answer a read alone");
    assert!(net.executed_at(2, cmd(2, 2).id).is_some(), "view 1 commits writes");
    net.run_until(9000);
    assert_eq!(net.processes[0].view(), 1, "R0 learned of view 1");
    let r0 = net.executed_by(1);
    let write = r0.iter().position(|&c| c == cmd(2, 2).id).expect("R0 executed the write");
    let read_at = r0.iter().position(|&c| c == read(1, 1).id).expect("R0's read completed");
    assert!(write < read_at, "the read is ordered after the new view's write: {r0:?}");
    assert_eq!(net.executed_by(1), net.executed_by(2));
    assert_eq!(net.executed_by(2), net.executed_by(3));
}

/// vr.md §7: the primary crashes with op 2 prepared at both backups but
/// not known committed. The backups time out, R1 becomes primary of view 1
/// (f+1 DVCs), op 2 survives and commits, and a new request commits.
#[test]
fn vr_7_view_change_after_a_primary_crash() {
    let mut net = TestNet::<Vr>::new(&E_DELAYS, 1, 1, &Options::default());
    net.drop_rule = Box::new(|_, _, to, m| to == ProcessId(1) && matches!(m, Message::PrepareOk { op: 2.., .. }));
    net.submit_at(0, 1, cmd(0, 1));
    net.run_until(50);
    // Op 1 committed; now the primary never learns that op 2 was acked.
    net.submit_at(60, 1, cmd(0, 2));
    net.run_until(150);
    net.crashed[0] = true;
    net.submit_at(200, 3, cmd(3, 1));
    net.run_until(6000);
    let (r1, r2) = (&net.processes[1], &net.processes[2]);
    assert_eq!((r1.view(), r1.status(), r2.view(), r2.status()), (1, Status::Normal, 1, Status::Normal));
    let expected = vec![cmd(0, 1).id, cmd(0, 2).id, cmd(3, 1).id];
    assert_eq!(net.executed_by(2), expected);
    assert_eq!(net.executed_by(3), expected);
    assert!(net.count_delivered(|m| matches!(m, Message::DoViewChange { .. })) >= 1);
}

/// vr.md §7 VC_PROGRESS: if the new primary is down too, the view change
/// moves on to the next view.
#[test]
fn vr_7_stalled_view_change_moves_to_the_next_view() {
    let delays: [&[u64]; 5] =
        [&[0, 10, 10, 10, 10], &[10, 0, 10, 10, 10], &[10, 10, 0, 10, 10], &[10, 10, 10, 0, 10], &[10, 10, 10, 10, 0]];
    let mut net = TestNet::<Vr>::new(&delays, 2, 1, &Options::default());
    net.submit_at(0, 3, cmd(3, 1));
    net.run_until(100);
    net.crashed[0] = true; // primary of view 0
    net.crashed[1] = true; // primary of view 1
    net.submit_at(200, 4, cmd(4, 1));
    net.run_until(10_000);
    for r in &net.processes[2..] {
        assert_eq!((r.view(), r.status()), (2, Status::Normal));
    }
    assert_eq!(net.executed_by(4), vec![cmd(3, 1).id, cmd(4, 1).id]);
    assert_eq!(net.executed_by(5), net.executed_by(4));
}

/// vr.md §4 step 4 and §9: a PREPARE that arrives ahead of a hole is
/// buffered; if the hole stays open for ST_GAP the backup fetches the
/// missing entries with GET_STATE and executes up to the commit number.
#[test]
fn vr_9_state_transfer_fills_a_hole() {
    let mut backup = replica(2, 3, 1);
    let mut out = Outbox::new();
    let prepare = |op| Message::Prepare { view: 0, op, entry: entry(op, 1), commit: 0, stable: 0, sent_at: Time::ZERO };
    backup.handle(ProcessId(1), prepare(1), ms(0), &mut out);
    backup.handle(ProcessId(1), prepare(3), ms(1), &mut out);
    backup.handle(
        ProcessId(1),
        Message::Commit { view: 0, commit: 3, stable: 0, sent_at: Time::ZERO },
        ms(2),
        &mut out,
    );
    assert_eq!((backup.op(), backup.executed()), (1, 1));
    assert!(out.effects().iter().any(|e| matches!(e, Effect::SetTimer { timer: Timer::StateTransfer, .. })));
    let mut out = Outbox::new();
    backup.handle_timer(Timer::StateTransfer, ms(201), &mut out);
    assert_eq!(out.sent(), vec![(ProcessId(1), Message::GetState { view: 0, op: 1 })]);

    let mut primary = replica(1, 3, 1);
    let mut scratch = Outbox::new();
    for seq in 1..=3 {
        primary.submit(cmd(0, seq), ms(0), &mut scratch);
    }
    let mut out = Outbox::new();
    primary.handle(ProcessId(2), Message::GetState { view: 0, op: 1 }, ms(210), &mut out);
    let [(to, new_state)] = out.sent().try_into().expect("one NEW_STATE");
    assert_eq!(to, ProcessId(2));
    let Message::NewState { log, .. } = &new_state else { panic!("{new_state:?}") };
    assert_eq!((log.base, log.entries.len()), (1, 2));

    let mut out = Outbox::new();
    let log = LogSnapshot { base: 1, entries: vec![entry(2, 1), entry(3, 1)], commit: 3 };
    backup.handle(ProcessId(1), Message::NewState { view: 0, log }, ms(220), &mut out);
    assert_eq!((backup.op(), backup.executed()), (3, 3));
    assert_eq!(executed_slots(&out), vec![2, 3]);
    let mut out = Outbox::new();
    backup.handle_timer(Timer::StateTransfer, ms(720), &mut out);
    assert!(out.effects().is_empty(), "caught up: no more GET_STATE");
}

/// vr.md §4.1 and §16.1: a PREPARE of a later view shows a missed
/// START_VIEW. The backup keeps its log (no truncation), asks primary(v)
/// with REQUEST_START_VIEW, and adopts the START_VIEW it gets back.
#[test]
fn vr_16_1_missed_start_view_keeps_the_log() {
    let mut backup = replica(2, 3, 1);
    let mut out = Outbox::new();
    for op in 1..=2 {
        backup.handle(
            ProcessId(1),
            Message::Prepare { view: 0, op, entry: entry(op, 1), commit: 0, stable: 0, sent_at: Time::ZERO },
            ms(0),
            &mut out,
        );
    }
    let mut out = Outbox::new();
    let later = Message::Prepare { view: 2, op: 3, entry: entry(3, 3), commit: 1, stable: 0, sent_at: Time::ZERO };
    backup.handle(ProcessId(3), later, ms(10), &mut out);
    assert_eq!((backup.view(), backup.status(), backup.op()), (2, Status::ViewChange, 2));
    assert_eq!(backup.last_normal_view, 0);
    assert_eq!(out.sent(), vec![(ProcessId(3), Message::RequestStartView { view: 2 })]);

    let mut out = Outbox::new();
    let log = LogSnapshot { base: 0, entries: vec![entry(1, 1), entry(2, 1), entry(3, 3)], commit: 2 };
    backup.handle(ProcessId(3), Message::StartView { view: 2, log }, ms(20), &mut out);
    assert_eq!((backup.status(), backup.op(), backup.last_normal_view), (Status::Normal, 3, 2));
    assert_eq!(out.sent(), vec![(ProcessId(3), Message::PrepareOk { view: 2, op: 3, executed: 2, echo: Time::ZERO })]);
    assert_eq!(executed_slots(&out), vec![1, 2]);
}

/// vr.md §7 step 5: a Normal primary answers a late DVC or SVC of its view
/// with START_VIEW; stale messages of older views are ignored.
#[test]
fn vr_7_5_late_view_change_messages() {
    let mut primary = replica(1, 3, 1);
    let mut out = Outbox::new();
    let log = LogSnapshot { base: 0, entries: vec![], commit: 0 };
    primary.handle(
        ProcessId(2),
        Message::DoViewChange { view: 0, last_normal_view: 0, log: log.clone(), is_witness: false },
        ms(0),
        &mut out,
    );
    primary.handle(ProcessId(3), Message::RequestStartView { view: 0 }, ms(0), &mut out);
    let start_view = Message::StartView { view: 0, log };
    assert_eq!(out.sent(), vec![(ProcessId(2), start_view.clone()), (ProcessId(3), start_view)]);
}

/// vr.md §4 step 2: a retried request is not appended twice; once executed,
/// a retry is answered with the commit number.
#[test]
fn vr_4_2_duplicate_requests() {
    let mut primary = replica(1, 3, 1);
    let mut out = Outbox::new();
    let request = Message::Request { cmd: cmd(5, 1), origin: ProcessId(3) };
    primary.handle(ProcessId(3), request.clone(), ms(0), &mut out);
    primary.handle(ProcessId(2), request.clone(), ms(1), &mut out);
    assert_eq!(primary.op(), 1);
    assert_eq!(out.sent().len(), 2, "one PREPARE to each backup");
    let mut out = Outbox::new();
    primary.handle(ProcessId(2), Message::PrepareOk { view: 0, op: 1, executed: 0, echo: Time::ZERO }, ms(2), &mut out);
    assert_eq!(primary.commit_number(), 1);
    let commit = |at| Message::Commit { view: 0, commit: 1, stable: 0, sent_at: ms(at) };
    assert_eq!(out.sent(), vec![(ProcessId(3), commit(2))], "the origin is answered");
    let mut out = Outbox::new();
    primary.handle(ProcessId(3), request, ms(3), &mut out);
    assert_eq!((primary.op(), out.sent()), (1, vec![(ProcessId(3), commit(3))]));
}

/// Garbage collection: once every replica reported executing a prefix,
/// every replica drops it from its log.
#[test]
fn vr_log_prefix_is_discarded_once_executed_everywhere() {
    let mut net = TestNet::<Vr>::new(&E_DELAYS, 1, 1, &Options::default());
    for seq in 1..=30 {
        net.submit_at(seq * 20, 1 + (seq % 3) as u32, cmd(seq as u32 % 8, seq));
    }
    net.run_until(2000);
    for r in &net.processes {
        assert_eq!(r.executed(), 30);
        // What committed after the last PREPARE_OK is not known executed
        // everywhere yet: a few entries stay until the next load.
        assert!(r.log_len() <= 5 && r.log.base() >= 25, "replica {} holds {} entries", r.id, r.log_len());
        assert!(r.pending.is_empty());
    }
}

/// VR's configuration rule, and the flexible quorums for n > 2f + 1.
#[test]
fn vr_check_and_quorums() {
    assert!(Vr::check(3, 1).is_ok() && Vr::check(5, 2).is_ok() && Vr::check(5, 1).is_ok());
    assert!(Vr::check(5, 3).unwrap_err().contains("floor(n/2)"));
    assert!(Vr::check(65, 1).unwrap_err().contains("at most 64"));
    assert_eq!(replica(1, 5, 2).view_change_quorum(), 3);
    assert_eq!(replica(1, 5, 1).view_change_quorum(), 4);
}

/// vr.md §8 on the network: R2 crashes, misses ops, restarts without
/// state, recovers from the primary's log (new nonce, f+1 answers) and
/// takes part again: the next op commits with R2 as the only acker.
#[test]
fn vr_8_restarted_replica_recovers_and_acks_again() {
    let mut net = TestNet::<Vr>::new(&E_DELAYS, 1, 1, &Options::default());
    for seq in 1..=3 {
        net.submit_at(seq * 30, 1, cmd(0, seq));
    }
    net.run_until(500);
    net.crashed[2] = true;
    for seq in 4..=6 {
        net.submit_at(500 + seq * 30, 1, cmd(0, seq));
    }
    net.run_until(1000);
    let (recovering, executor) = Vr::new_recovering(setup(3, 3, 1, 1), &Options::default());
    net.replace(3, recovering, executor);
    net.run_until(1200);
    let r2 = &net.processes[2];
    assert_eq!((r2.status(), r2.view(), r2.op(), r2.executed()), (Status::Normal, 0, 6, 6));
    // Now R1 is cut off: only the recovered R2 can make an op commit.
    net.crashed[1] = true;
    net.submit_at(1300, 1, cmd(0, 7));
    net.run_until(1500);
    assert_eq!(net.executed_at(1, cmd(0, 7).id), Some(1380), "R2's PREPARE_OK commits op 7");
}
