//! Batching (vr.md §12) on the §15 network: PREPAREs divided by the
//! batch size, latency under light load, reordered batches, and buffered
//! requests dropped at a view change and re-forwarded.

use super::*;
use crate::shared::test_net::TestNet;
use sim_core::CommandId;
use sim_core::{ClientId, Op};

fn cmd(client: u32, seq: u64) -> Arc<Command> {
    let id = CommandId { client: ClientId(client), seq };
    Arc::new(Command { id, ops: vec![(1, Op::Put(seq))].into(), payload_bytes: 0 })
}

/// The three replicas of vr.md §15: d(R0,R1)=10, d(R0,R2)=40, d(R1,R2)=35.
const E_DELAYS: [&[u64]; 3] = [&[0, 10, 40], &[10, 0, 35], &[40, 35, 0]];

fn batching(max: usize) -> Options {
    Options { batch_max: Some(max), batch_delay_ms: Some(5), ..Options::default() }
}

fn is_prepare(m: &Message) -> bool {
    matches!(m, Message::Prepare { .. } | Message::PrepareBatch { .. })
}

/// Under load (16 clients, a new request every 0.25 ms at the primary's
/// site, 64 in all) batch_max = 8 sends one PREPARE per 8 requests: the PREPAREs and
/// PREPARE_OKs drop by 8, and every replica executes the same 64 ops.
#[test]
fn vr_12_batches_of_eight_divide_the_prepares_by_eight() {
    let mut counts = Vec::new();
    for max in [1, 8] {
        let mut net = TestNet::<Vr>::new(&E_DELAYS, 1, 1, &batching(max));
        for i in 0..64 {
            net.submit_at(u64::from(i) / 4, 1, cmd(i % 16, u64::from(i / 16) + 1));
        }
        net.run_until(400);
        for r in 1..=3 {
            assert_eq!(net.executed_by(r).len(), 64, "batch_max {max}: replica {r}");
        }
        assert_eq!(net.executed_by(2), net.executed_by(1));
        assert_eq!(net.executed_by(3), net.executed_by(1));
        let prepares = net.count_delivered(is_prepare);
        let oks = net.count_delivered(|m| matches!(m, Message::PrepareOk { .. }));
        counts.push((prepares, oks));
    }
    assert_eq!(counts[0], (128, 128), "without batching: one PREPARE per request and backup");
    assert_eq!(counts[1], (16, 16), "batch_max 8: 64 / 8 PREPAREs per backup");
}

/// §12 under light load: a lone request waits BATCH_DELAY (5 ms) for
/// company, so E1's reply at 20 moves to 25, and no later.
#[test]
fn vr_12_light_load_latency_grows_by_at_most_the_batch_delay() {
    for (max, expected) in [(1, 20), (64, 25)] {
        let mut net = TestNet::<Vr>::new(&E_DELAYS, 1, 1, &batching(max));
        net.submit_at(0, 1, cmd(0, 1));
        net.submit_at(300, 1, cmd(0, 2));
        net.run_until(600);
        assert_eq!(net.executed_at(1, cmd(0, 1).id), Some(expected), "batch_max {max}");
        assert_eq!(net.executed_at(1, cmd(0, 2).id), Some(300 + expected), "batch_max {max}");
        assert_eq!(net.count_delivered(is_prepare), 4);
    }
}

/// §4 step 4 for batches: a batch arriving ahead of a hole is buffered,
/// and one cumulative PREPARE_OK covers both once the hole fills.
#[test]
fn vr_12_a_reordered_batch_waits_for_the_hole() {
    let mut backup = Vr::new(crate::shared::test_net::setup(2, 3, 1, 1), &batching(8)).0;
    let entry = |seq| Entry { cmd: cmd(0, seq), origin: ProcessId(1) };
    let batch = |first_op: u64| Message::PrepareBatch {
        view: 0,
        first_op,
        entries: (first_op..first_op + 3).map(entry).collect(),
        commit: 0,
        stable: 0,
        sent_at: Time::ZERO,
    };
    let mut out = Outbox::new();
    backup.handle(ProcessId(1), batch(4), Time::ZERO, &mut out);
    assert_eq!(backup.op(), 0);
    assert_eq!(out.sent(), vec![(ProcessId(1), backup.prepare_ok(0))]);
    let mut out = Outbox::new();
    backup.handle(ProcessId(1), batch(1), Time::ZERO, &mut out);
    assert_eq!(backup.op(), 6);
    assert_eq!(out.sent(), vec![(ProcessId(1), backup.prepare_ok(0))]);
    assert!(matches!(out.sent()[0].1, Message::PrepareOk { op: 6, .. }));
}

/// §12 with a view change: the primary crashes while requests wait in
/// its batch (never prepared). The new primary never sees them; their
/// clients' processes re-forward them and each executes exactly once.
#[test]
fn vr_12_buffered_requests_are_reforwarded_after_a_view_change() {
    let options = Options { batch_max: Some(64), batch_delay_ms: Some(50), ..Options::default() };
    let mut net = TestNet::<Vr>::new(&E_DELAYS, 1, 1, &options);
    net.submit_at(0, 2, cmd(2, 1));
    net.submit_at(0, 3, cmd(3, 1));
    net.run_until(200);
    assert_eq!(net.executed_by(2), vec![cmd(2, 1).id, cmd(3, 1).id], "one batch of both, flushed at 60");
    net.submit_at(300, 2, cmd(2, 2));
    net.submit_at(300, 3, cmd(3, 2));
    net.run_until(345); // both reached the primary's batch, which waits until 350+
    net.crashed[0] = true;
    net.run_until(8000);
    assert_eq!(net.processes[1].status(), Status::Normal);
    assert!(net.processes[1].view() >= 1);
    let at_r1 = net.executed_by(2);
    for id in [cmd(2, 1).id, cmd(3, 1).id, cmd(2, 2).id, cmd(3, 2).id] {
        assert_eq!(at_r1.iter().filter(|&&c| c == id).count(), 1, "{id:?} once in {at_r1:?}");
    }
    assert_eq!(net.executed_by(3), at_r1);
}
