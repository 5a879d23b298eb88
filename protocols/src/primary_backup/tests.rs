//! Primary/backup unit and transcript tests: every worked example of
//! primary-backup.md §10 on `shared::test_net`, plus reordering,
//! duplicates and the SYNC_ALL degrade switch.

use super::*;
use crate::shared::test_net::{TestNet, setup};
use sim_core::verdict::Outcome;
use sim_core::{ClientId, Op};

fn cmd(client: u32, seq: u64, value: u64) -> Arc<Command> {
    let id = CommandId { client: ClientId(client), seq };
    Arc::new(Command { id, ops: vec![(1, Op::Put(value))].into(), payload_bytes: 0 })
}

fn ms(ms: u64) -> Time {
    Time::from_ns(ms * NS_PER_MS)
}

/// §10's delays: d(R0,R1) = 30, d(R0,R2) = 80, d(R1,R2) = 60 ms (R0 is
/// process 1, the configured primary).
const E_DELAYS: [&[u64]; 3] = [&[0, 30, 80], &[30, 0, 60], &[80, 60, 0]];

/// §10's timers: FD_TIMEOUT = 1000, PROMOTE_STAGGER = 200.
fn options(mode: Mode) -> Options {
    Options {
        mode,
        semi_sync_acks: Some(1),
        fd_timeout_ns: Some(1000 * NS_PER_MS),
        promote_stagger_ns: Some(200 * NS_PER_MS),
        ..Options::default()
    }
}

fn net(mode: Mode) -> TestNet<PrimaryBackup> {
    TestNet::new(&E_DELAYS, 1, 1, &options(mode))
}

/// §10 E1: a client at R0. ASYNC answers at 0 and R1, R2 apply at 30 and
/// 80; SYNC_ALL answers at 160 (R2's round trip); SYNC_K(1) at 60 (R1's).
#[test]
fn primary_backup_10_e1_latency() {
    let w = cmd(1, 1, 7);
    let mut async_net = net(Mode::Async);
    async_net.submit_at(0, 1, w.clone());
    async_net.run_until(500);
    assert_eq!(async_net.executed_at(1, w.id), Some(0));
    assert_eq!(async_net.executed_at(2, w.id), Some(30));
    assert_eq!(async_net.executed_at(3, w.id), Some(80));

    let mut sync_net = net(Mode::Sync);
    sync_net.submit_at(0, 1, w.clone());
    sync_net.run_until(500);
    assert_eq!(sync_net.executed_at(1, w.id), Some(160));

    let mut semi_net = net(Mode::SemiSync);
    semi_net.submit_at(0, 1, w.clone());
    semi_net.run_until(500);
    assert_eq!(semi_net.executed_at(1, w.id), Some(60));
}

/// §10 E2 (F1): ASYNC, w1 acked at 0, its REPLICATEs dropped, R0 crashes
/// at 1. R1 promotes at 1000 in epoch 1 (rank 0); R2 follows it. w1 is
/// nowhere but at the crashed R0: `AckedWriteLost(w1)`, and a later write
/// at R1 lands on seq 1.
#[test]
fn primary_backup_10_e2_lost_acked_write() {
    let mut net = net(Mode::Async);
    net.drop_rule = Box::new(|now, from, _, _| from == ProcessId(1) && now < ms(1));
    let w1 = cmd(1, 1, 1);
    net.submit_at(0, 1, w1.clone());
    net.run_until(0);
    assert_eq!(net.executed_at(1, w1.id), Some(0), "acked by R0");
    net.crashed[0] = true;
    net.run_until(999);
    assert_eq!(net.processes[1].role(), Role::Backup);
    net.run_until(1000);
    assert_eq!(net.processes[1].role(), Role::Primary);
    assert_eq!(net.processes[1].epoch(), 1);
    net.run_until(1100);
    assert_eq!(net.processes[2].role(), Role::Backup, "R2 saw NEW_PRIMARY at 1060, before its 1200");
    assert_eq!(net.processes[2].primary(), ProcessId(2));
    let read = cmd(2, 1, 2);
    net.submit_at(1200, 2, read.clone());
    net.run_until(1500);
    for i in 1..3 {
        assert_eq!(net.processes[i].last_seq(), 1);
        assert_eq!(net.processes[i].entry(1).map(|e| e.cmd.id), Some(read.id), "w1 lost at R{i}");
        assert!(net.executed_by(i as u32 + 1).iter().all(|&c| c != w1.id));
    }
}

/// §10 E3 (F2): ASYNC, w1 reaches R2 at 80 but not R1; R0 crashes at 1.
/// R1 promotes at 1000 (R2 would have waited until 1200); R2 gets
/// NEW_PRIMARY at 1060, sends SYNC_REQ and truncates seq 1 at 1180:
/// `RolledBack(seq 1, was_acked = true)`. The harness sees that rollback
/// once R2's state moves on without w1 (the executor cannot undo: until
/// then R2's store still holds w1), here with a write w2 at R1 at 1200:
/// the verdict reports `RolledBack{was_acked=true}` of w1 at R2 and
/// `AckedWriteLost(w1)` (F2's two events).
#[test]
fn primary_backup_10_e3_rollback_after_partial_shipping() {
    let mut net = net(Mode::Async);
    net.drop_rule = Box::new(|now, from, to, _| from == ProcessId(1) && to == ProcessId(2) && now < ms(1));
    let w1 = cmd(1, 1, 1);
    net.submit_at(0, 1, w1.clone());
    net.run_until(0);
    net.crashed[0] = true;
    net.run_until(80);
    assert_eq!(net.executed_at(3, w1.id), Some(80));
    net.run_until(1000);
    assert_eq!(net.processes[1].role(), Role::Primary);
    assert_eq!(net.processes[2].last_seq(), 1);
    net.run_until(1179);
    assert!(net.processes[2].rolled_back().is_empty());
    net.run_until(1180);
    let expected = RolledBack { seq: 1, epoch: 0, cmd: w1.id, was_applied: true };
    assert_eq!(net.processes[2].rolled_back(), &[expected]);
    assert_eq!(net.processes[2].last_seq(), 0);
    assert_eq!(net.processes[2].epoch(), 1);
    let w2 = cmd(2, 1, 2);
    net.submit_at(1200, 2, w2.clone());
    net.run_until(1500);
    assert_eq!(net.executed_at(3, w2.id), Some(1260));
    let verdict = net.verdict();
    let outcomes = &verdict.outcomes;
    assert_eq!((outcomes.rolled_back_acked, outcomes.rolled_back_unacked), (1, 0), "{verdict}");
    assert_eq!(outcomes.acked_writes_lost, 1, "{verdict}");
    let rolled_back = Outcome::RolledBack { key: 1, cmd: w1.id, replica: ProcessId(3), was_acked: true };
    assert!(outcomes.kept().contains(&rolled_back), "{verdict}");
    assert!(outcomes.kept().contains(&Outcome::AckedWriteLost { key: 1, cmd: w1.id }), "{verdict}");
}

/// §10 E4 (F3): ASYNC, four writes replicate, then a partition
/// {R0} | {R1, R2} until 5000. R1 promotes (epoch 1). At 2000 R0 acks
/// x=a and R1 acks x=b, both at seq 5 (`DivergentAck(seq 5)`). After the
/// heal R0 steps down and truncates to 4 (`AckedWriteLost(x=a)`); every
/// node's last applied write is x=b.
#[test]
fn primary_backup_10_e4_split_brain() {
    let mut net = net(Mode::Async);
    let split = |now: Time, from: ProcessId, to: ProcessId| {
        now >= ms(100) && now < ms(5000) && (from == ProcessId(1)) != (to == ProcessId(1))
    };
    net.drop_rule = Box::new(move |now, from, to, _| split(now, from, to));
    for seq in 1..=4 {
        net.submit_at(seq - 1, 1, cmd(1, seq, seq));
    }
    net.run_until(1500);
    assert_eq!(net.processes[1].role(), Role::Primary);
    assert_eq!(net.processes[1].epoch(), 1);
    assert_eq!(net.processes[0].role(), Role::Primary, "R0 still believes it is primary");
    let a = cmd(2, 1, 100);
    let b = cmd(3, 1, 200);
    net.submit_at(2000, 1, a.clone());
    net.submit_at(2000, 2, b.clone());
    net.run_until(2100);
    assert_eq!(net.executed_at(1, a.id), Some(2000), "acked in epoch 0");
    assert_eq!(net.executed_at(2, b.id), Some(2000), "acked in epoch 1");
    assert_eq!((net.processes[0].entry(5).unwrap().epoch, net.processes[1].entry(5).unwrap().epoch), (0, 1));
    net.run_until(6000);
    assert_eq!(net.processes[0].role(), Role::Backup);
    assert_eq!(net.processes[0].epoch(), 1);
    let lost = RolledBack { seq: 5, epoch: 0, cmd: a.id, was_applied: true };
    assert_eq!(net.processes[0].rolled_back(), &[lost]);
    for id in 1..=3 {
        let p = &net.processes[id as usize - 1];
        assert_eq!(p.last_seq(), 5);
        assert_eq!(p.entry(5).unwrap().cmd.id, b.id);
        assert_eq!(net.executed_by(id).last(), Some(&b.id), "x = b at R{}", id - 1);
        assert_eq!(net.store(id).get(1), Some(200), "the final value everywhere is b");
    }
    // The harness's verdict: a and b both replaced x = 4 and were both
    // acknowledged (DivergentAck), a is gone (AckedWriteLost), and R0
    // executed a but ends on b (RolledBack{was_acked=true}).
    let verdict = net.verdict();
    let outcomes = &verdict.outcomes;
    let counts = (outcomes.divergent_acks, outcomes.acked_writes_lost, outcomes.rolled_back_acked);
    assert_eq!(counts, (1, 1, 1), "{verdict}");
    assert!(outcomes.kept().contains(&Outcome::DivergentAck { key: 1, cmds: [a.id, b.id] }), "{verdict}");
    assert!(outcomes.kept().contains(&Outcome::AckedWriteLost { key: 1, cmd: a.id }), "{verdict}");
    let rolled_back = Outcome::RolledBack { key: 1, cmd: a.id, replica: ProcessId(1), was_acked: true };
    assert!(outcomes.kept().contains(&rolled_back), "{verdict}");
    assert_eq!((outcomes.ghost_writes, outcomes.atomicity_violations), (0, 0), "{verdict}");
}

fn replicate(prev_seq: u64, entries: Vec<Entry>, commit: u64) -> Message {
    Message::Replicate { epoch: 0, prev_seq, prev_epoch: 0, entries, commit }
}

fn entry(client: u32, seq: u64) -> Entry {
    Entry { epoch: 0, cmd: cmd(client, seq, seq), origin: ProcessId(1) }
}

fn executed_slots(out: &Outbox<PrimaryBackup>) -> Vec<(u64, Option<CommandId>)> {
    out.executions().into_iter().map(|s| (s.slot, s.cmd.map(|c| c.id))).collect()
}

/// §4 step 5 under link reordering: seq 2 arrives before seq 1 and waits;
/// a duplicate of seq 1 changes nothing.
#[test]
fn primary_backup_reordered_and_duplicate_replicates() {
    let (mut backup, _) = PrimaryBackup::new(setup(2, 3, 1, 1), &options(Mode::Async));
    let mut out = Outbox::new();
    backup.handle(ProcessId(1), replicate(1, vec![entry(1, 2)], 2), ms(1), &mut out);
    assert!(executed_slots(&out).is_empty());
    assert_eq!(backup.last_seq(), 0);
    backup.handle(ProcessId(1), replicate(0, vec![entry(1, 1)], 1), ms(2), &mut out);
    assert_eq!(executed_slots(&out), vec![(1, Some(cmd(1, 1, 1).id)), (2, Some(cmd(1, 2, 2).id))]);
    let mut again = Outbox::new();
    backup.handle(ProcessId(1), replicate(0, vec![entry(1, 1)], 1), ms(3), &mut again);
    assert!(executed_slots(&again).is_empty());
    assert_eq!(backup.last_seq(), 2);
    assert!(backup.rolled_back().is_empty());
}

/// §4 step 5: in SYNC modes a backup applies only what the primary
/// committed, and acks what it holds.
#[test]
fn primary_backup_sync_backup_waits_for_commit() {
    let (mut backup, _) = PrimaryBackup::new(setup(2, 3, 1, 1), &options(Mode::Sync));
    let mut out = Outbox::new();
    backup.handle(ProcessId(1), replicate(0, vec![entry(1, 1)], 0), ms(1), &mut out);
    assert!(executed_slots(&out).is_empty());
    assert_eq!(out.sent(), vec![(ProcessId(1), Message::ReplicateAck { epoch: 0, acked_seq: 1 })]);
    let mut out = Outbox::new();
    backup.handle(ProcessId(1), Message::Commit { epoch: 0, commit: 1 }, ms(2), &mut out);
    assert_eq!(executed_slots(&out), vec![(1, Some(cmd(1, 1, 1).id))]);
}

/// §1 `degrade_on_backup_loss`: with R2 crashed, SYNC_ALL answers once
/// R2 was dropped from the wait set after DROP_TIMEOUT; with the switch
/// off it blocks.
#[test]
fn primary_backup_sync_all_degrades_or_blocks_without_a_backup() {
    for block in [false, true] {
        let opts = Options { block_on_backup_loss: block, manual_failover: true, ..options(Mode::Sync) };
        let mut net = TestNet::<PrimaryBackup>::new(&E_DELAYS, 1, 1, &opts);
        net.crashed[2] = true;
        let w = cmd(1, 1, 1);
        net.submit_at(0, 1, w.clone());
        net.run_until(3000);
        let answered = net.executed_at(1, w.id);
        if block {
            assert_eq!(answered, None, "blocks on the crashed backup");
        } else {
            // R2 never acked since 0: dropped at the 1000 ms tick.
            assert_eq!(answered, Some(1000));
            // R1 learns the commit from the next heartbeat (tick 1100).
            assert_eq!(net.executed_at(2, w.id), Some(1130));
        }
    }
}

/// A client at a backup is answered through its own process, and a
/// request retried after a failover is not applied twice.
#[test]
fn primary_backup_request_from_a_backup_and_retry_dedup() {
    let mut net = net(Mode::Sync);
    let w = cmd(3, 1, 1);
    net.submit_at(0, 3, w.clone());
    net.run_until(1000);
    // 80 to R0, 160 for R2's ack, 80 back.
    assert_eq!(net.executed_at(3, w.id), Some(320));
    let mut out = Outbox::new();
    net.processes[0].handle(
        ProcessId(3),
        Message::Request { cmd: w.clone(), origin: ProcessId(3) },
        ms(1000),
        &mut out,
    );
    assert_eq!(out.sent(), vec![(ProcessId(3), Message::Commit { epoch: 0, commit: 1 })]);
    assert_eq!(net.processes[0].last_seq(), 1);
}

#[test]
fn primary_backup_check() {
    assert!(PrimaryBackup::check(3, 1).is_ok());
    assert!(PrimaryBackup::check(3, 2).is_ok());
    assert!(PrimaryBackup::check(3, 3).unwrap_err().contains("1 <= f <= n - 1 = 2"));
    assert!(PrimaryBackup::check(1, 1).unwrap_err().contains("2 to 64"));
}

/// A process of `n` with failure detection on (sync mode fences).
fn fenced_node(id: u32, n: u32) -> PrimaryBackup {
    let mut s = setup(id, n, 1, 1);
    s.config.failure_detection = true;
    PrimaryBackup::new(s, &options(Mode::Sync)).0
}

/// Swarm seeds 310, 547, 761 and 820 (n = 5, the primary crashed): the
/// lagging backups stood again every FD_TIMEOUT, each time one epoch
/// higher, while the up-to-date backups refused them without learning
/// their epochs, so every up-to-date candidacy asked for an epoch the
/// laggards had already voted for themselves, and no election finished.
/// A refused candidacy's epoch now counts: the next candidacy of the
/// node that refused goes above it and the laggard grants it.
#[test]
fn primary_backup_fenced_candidacy_outbids_a_refused_laggard() {
    let (mut laggard, mut up_to_date) = (fenced_node(2, 5), fenced_node(3, 5));
    let mut out = Outbox::new();
    up_to_date.handle(ProcessId(1), replicate(0, vec![entry(1, 1)], 0), ms(1), &mut out);
    assert_eq!(up_to_date.last_seq(), 1);
    // The laggard stands three times with its own log (empty).
    for t in [1000, 2000, 3000] {
        let mut out = Outbox::new();
        laggard.stand(ms(t), &mut out);
        let (_, req) = out.sent().into_iter().find(|(to, _)| *to == ProcessId(3)).expect("asks R3");
        let mut reply = Outbox::new();
        up_to_date.handle(ProcessId(2), req, ms(t + 1), &mut reply);
        assert_eq!(reply.sent(), vec![(ProcessId(2), Message::Vote { epoch: t / 1000, granted: false })]);
    }
    let mut out = Outbox::new();
    up_to_date.stand(ms(3500), &mut out);
    let (_, req) = out.sent().into_iter().find(|(to, _)| *to == ProcessId(2)).expect("asks R2");
    assert!(matches!(req, Message::VoteReq { epoch: 4, .. }), "above the laggard's epoch 3: {req:?}");
    let mut reply = Outbox::new();
    laggard.handle(ProcessId(3), req, ms(3501), &mut reply);
    assert_eq!(reply.sent(), vec![(ProcessId(3), Message::Vote { epoch: 4, granted: true })]);
}
