//! Witnesses (vr.md §11): DVC selection ignores witness logs (a variant
//! of §15 E2), witnesses hold no log and hear from the primary every HB
//! under load, promotion after an active backup crash, and a view change
//! whose quorum includes a witness.

use super::*;
use crate::shared::test_net::{TestNet, setup};
use sim_core::CommandId;
use sim_core::{ClientId, Op};

fn cmd(client: u32, seq: u64) -> Arc<Command> {
    let id = CommandId { client: ClientId(client), seq };
    Arc::new(Command { id, ops: vec![(1, Op::Put(seq))].into(), payload_bytes: 0 })
}

fn entry(seq: u64) -> Entry {
    Entry { cmd: cmd(0, seq), origin: ProcessId(1) }
}

/// The three replicas of vr.md §15: d(R0,R1)=10, d(R0,R2)=40, d(R1,R2)=35.
/// With witnesses and the leader R0 (process 1), R0 and R1 are active
/// and R2 (process 3) is the witness.
const E_DELAYS: [&[u64]; 3] = [&[0, 10, 40], &[10, 0, 35], &[40, 35, 0]];

fn witnesses() -> Options {
    Options { witnesses: true, promote_timeout_ns: Some(200 * NS_PER_MS), ..Options::default() }
}

fn log(lnv: View, ops: impl Iterator<Item = u64>, commit: u64, is_witness: bool) -> Message {
    let entries = ops.map(entry).collect();
    Message::DoViewChange { view: 4, last_normal_view: lnv, log: LogSnapshot { base: 0, entries, commit }, is_witness }
}

/// vr.md §15 E2 with witnesses (n=5, f=2: actives processes 1-3,
/// witnesses 4-5; view 4's primary is active[4 mod 3] = process 2). The
/// quorum is the active R3 (lnv 3, op 7, commit 5) and the witnesses W4
/// and W5. W4's DVC claims the largest (lnv, op) = (3, 9); it counts
/// towards the quorum but is never selected (§7.3a, §11): the new log is
/// R3's 7 entries, and the commit is the largest of the quorum, 6.
#[test]
fn vr_11_e2_witness_dvcs_count_but_are_never_selected() {
    let mut primary = Vr::new(setup(2, 5, 2, 1), &witnesses()).0;
    assert_eq!(primary.primary_of(4), ProcessId(2));
    assert_eq!(
        (primary.primary_of(0), primary.primary_of(2), primary.primary_of(3)),
        (ProcessId(1), ProcessId(3), ProcessId(1))
    );
    let mut out = Outbox::new();
    primary.handle(ProcessId(3), log(3, 1..=7, 5, false), Time::ZERO, &mut out);
    primary.handle(ProcessId(4), log(3, 1..=9, 4, true), Time::ZERO, &mut out);
    assert_eq!(primary.status(), Status::ViewChange, "2 DVCs < n - f = 3");
    primary.handle(ProcessId(5), log(2, std::iter::empty(), 6, true), Time::ZERO, &mut out);
    assert_eq!((primary.view(), primary.status()), (4, Status::Normal));
    assert_eq!((primary.op(), primary.commit_number()), (7, 6));
    let adopted: Vec<_> = (1..=7).map(|op| primary.entry(op).cloned()).collect();
    assert_eq!(adopted, (1..=7).map(|s| Some(entry(s))).collect::<Vec<_>>());

    // Without an active DVC the quorum is not reached by witnesses alone
    // plus the primary's own: 3 DVCs with one log holder is the minimum.
    let mut other = Vr::new(setup(2, 5, 2, 1), &witnesses()).0;
    let mut out = Outbox::new();
    other.handle(ProcessId(4), log(3, 1..=9, 4, true), Time::ZERO, &mut out);
    other.handle(ProcessId(5), log(2, std::iter::empty(), 6, true), Time::ZERO, &mut out);
    assert_eq!(other.status(), Status::ViewChange);
}

/// §11 normal case: PREPAREs go to the active backup only; the witness
/// gets a COMMIT (with the committed entries) at least every HB even
/// under load, keeps no log, and answers its own client at commit:
/// `d(W,P) + 2·d(P,R1) + d(P,W)` = 40 + 20 + 40.
#[test]
fn vr_11_witnesses_hold_no_log_and_hear_from_the_primary_every_hb() {
    let mut net = TestNet::<Vr>::new(&E_DELAYS, 1, 1, &witnesses());
    net.submit_at(0, 3, cmd(3, 1));
    for i in 0..50 {
        net.submit_at(100 + 20 * i, 1, cmd(1, i + 1));
    }
    net.run_until(1300);
    assert_eq!(net.executed_at(3, cmd(3, 1).id), Some(100));
    let to_witness: Vec<u64> = net
        .delivered
        .iter()
        .filter(|(_, _, to, _)| *to == ProcessId(3))
        .map(|(at, _, _, m)| {
            assert!(!matches!(m, Message::Prepare { .. } | Message::PrepareBatch { .. }), "{m:?}");
            at.as_ns() / NS_PER_MS
        })
        .collect();
    assert!(to_witness.windows(2).all(|w| w[1] - w[0] <= 100), "gaps over HB: {to_witness:?}");
    assert!(*to_witness.last().expect("heard") >= 1200);
    assert_eq!(net.processes[2].log_len(), 0, "a witness keeps no log");
    assert_eq!(net.executed_by(3).len(), 51, "it executed every committed op");
    assert_eq!(net.executed_by(3), net.executed_by(1));
    assert_eq!(net.count_delivered(|m| matches!(m, Message::Prepare { .. })), 51, "to R1 only");
}

/// §11 promotion: the active backup R1 crashes; commits stall, and after
/// PROMOTE_TIMEOUT the primary sends the witness its whole log. The
/// witness becomes a full replica (log held, PREPAREs acked) but never
/// primary, and commands keep committing.
#[test]
fn vr_11_a_witness_is_promoted_when_an_active_backup_crashes() {
    let mut net = TestNet::<Vr>::new(&E_DELAYS, 1, 1, &witnesses());
    net.submit_at(0, 1, cmd(1, 1));
    net.run_until(100);
    net.crashed[1] = true;
    net.submit_at(200, 1, cmd(1, 2));
    net.submit_at(200, 3, cmd(3, 1));
    net.run_until(300);
    assert_eq!(net.executed_by(1), vec![cmd(1, 1).id], "stalled without R1");
    net.run_until(1000);
    assert_eq!(net.count_delivered(|m| matches!(m, Message::Promote { .. })), 1);
    assert!(!net.processes[2].is_witness(), "promoted");
    assert_eq!(net.executed_by(1), vec![cmd(1, 1).id, cmd(1, 2).id, cmd(3, 1).id]);
    assert_eq!(net.executed_by(3), net.executed_by(1));
    net.submit_at(1000, 1, cmd(1, 3));
    net.run_until(1200);
    assert_eq!(net.executed_at(1, cmd(1, 3).id), Some(1080), "2·d(R0, W) with the promoted witness");
    assert_eq!(net.processes[2].op(), 4);
    assert!(net.processes[2].log_len() >= 1, "a full replica holds the log");
    assert_eq!(net.processes[0].primary_of(1), ProcessId(2), "primaries rotate over the actives only");
    assert_eq!(net.processes[0].primary_of(2), ProcessId(1));
}

/// §11 view change: the primary R0 crashes; the DVC quorum is the active
/// R1 and the witness W; R1 becomes primary of view 1 with its own log,
/// promotes W (its only possible backup), and commits again.
#[test]
fn vr_11_a_view_change_with_a_witness_in_the_quorum() {
    let mut net = TestNet::<Vr>::new(&E_DELAYS, 1, 1, &witnesses());
    net.submit_at(0, 2, cmd(2, 1));
    net.submit_at(0, 3, cmd(3, 1));
    net.run_until(200);
    net.crashed[0] = true;
    net.submit_at(300, 3, cmd(3, 2));
    net.run_until(8000);
    let (r1, w) = (&net.processes[1], &net.processes[2]);
    assert_eq!((r1.view(), r1.status(), w.view(), w.status()), (1, Status::Normal, 1, Status::Normal));
    assert!(net.count_delivered(|m| matches!(m, Message::DoViewChange { is_witness: true, .. })) >= 1);
    let expected = vec![cmd(2, 1).id, cmd(3, 1).id, cmd(3, 2).id];
    assert_eq!(net.executed_by(2), expected);
    assert_eq!(net.executed_by(3), expected);
}

/// §11 promotion replaces the witness's log by the primary's: the
/// witness discarded what it executed (its log starts at op 6), but a
/// full replica's log must start at the primary's stable floor, or a
/// lagging replica adopting it in a later view would meet a prefix it
/// never executed (swarm f = 2, seed 584, found that).
#[test]
fn vr_11_promotion_replaces_the_witness_log() {
    let mut witness = Vr::new(setup(3, 3, 1, 1), &witnesses()).0;
    assert!(witness.is_witness());
    let mut out = Outbox::new();
    let commit = Message::WitnessCommit {
        view: 0,
        commit: 5,
        first_op: 1,
        entries: (1..=5).map(entry).collect(),
        stable: 0,
        sent_at: Time::ZERO,
    };
    witness.handle(ProcessId(1), commit, Time::ZERO, &mut out);
    assert_eq!((witness.executed(), witness.log_len(), witness.op()), (5, 0, 5), "executed and discarded");
    let mut out = Outbox::new();
    let log = LogSnapshot { base: 0, entries: (1..=7).map(entry).collect(), commit: 5 };
    witness.handle(ProcessId(1), Message::Promote { view: 0, log }, Time::ZERO, &mut out);
    assert!(!witness.is_witness());
    assert_eq!((witness.log_len(), witness.op(), witness.executed()), (7, 7, 5));
    assert!(matches!(out.sent()[..], [(ProcessId(1), Message::PrepareOk { op: 7, .. })]), "{:?}", out.sent());
}
