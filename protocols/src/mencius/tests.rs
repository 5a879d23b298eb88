//! Mencius transcript tests: the worked examples of mencius.md §9 on
//! `shared::test_net`, with the spec's delays, plus skips, NACKs and the
//! configuration rules. Spec slot `i` (from 0) is slot `i + 1` here.

use super::*;
use crate::shared::test_net::{TestNet, setup};
use sim_core::protocol::{Effect, ProtocolConfig};
use sim_core::{ClientId, CommandId, Op};

fn cmd(client: u32, seq: u64) -> Arc<Command> {
    let id = CommandId { client: ClientId(client), seq };
    Arc::new(Command { id, ops: vec![(1, Op::Put(u64::from(client) * 1_000 + seq))].into(), payload_bytes: 0 })
}

/// Our slot for the spec's slot `i`.
fn spec_slot(i: u64) -> u64 {
    i + 1
}

/// §9: A (process 1) owns spec slots 0, 3, 6, …; B (2) 1, 4, …; C (3) 2,
/// 5, …; d(A,B) = 10, d(A,C) = 50, d(B,C) = 45 ms.
const DELAYS: [&[u64]; 3] = [&[0, 10, 50], &[10, 0, 45], &[50, 45, 0]];
const A: u32 = 1;
const B: u32 = 2;
const C: u32 = 3;

fn net() -> TestNet<Mencius> {
    TestNet::new(&DELAYS, 1, 1, &Options::default())
}

/// A network that collects no garbage, so logs can be inspected.
fn net_keeping_logs() -> TestNet<Mencius> {
    TestNet::with_setup(&DELAYS, &Options::default(), |id, n| ProcessSetup {
        config: ProtocolConfig { gc_interval_ns: 3_600 * 1_000 * NS_PER_MS, ..ProtocolConfig::default() },
        ..setup(id, n, 1, 1)
    })
}

/// A network whose processes detect failures (a run with faults).
fn detecting_net() -> TestNet<Mencius> {
    TestNet::with_setup(&DELAYS, &Options::default(), |id, n| ProcessSetup {
        config: ProtocolConfig { failure_detection: true, ..ProtocolConfig::default() },
        ..setup(id, n, 1, 1)
    })
}

/// The decided values of slots `1..=upto` at process `id`, as client
/// seqs (`Some(None)`: a no-op; `None`: undecided).
fn log_of(net: &TestNet<Mencius>, id: u32, upto: u64) -> Vec<Option<Option<u64>>> {
    let process = &net.processes[id as usize - 1];
    (1..=upto).map(|slot| process.decided(slot).map(|v| v.as_ref().map(|c| c.id.seq))).collect()
}

/// §9 E1: A suggests spec slot 0 at t=0; B's ack arrives at 20, a
/// majority with A's own: chosen and executed at 20. C's ack (at 100)
/// changes nothing.
#[test]
fn mencius_9_e1_first_command() {
    let mut net = net();
    let cmd0 = cmd(1, 1);
    net.submit_at(0, A, cmd0.clone());
    net.run_until(19);
    assert_eq!(net.executed_at(A, cmd0.id), None);
    net.run_until(200);
    assert_eq!(net.executed_at(A, cmd0.id), Some(20), "client latency 20");
    assert_eq!(net.executed_at(B, cmd0.id), Some(30), "COMMIT from A");
    assert_eq!(net.executed_at(C, cmd0.id), Some(70));
    for id in [A, B, C] {
        assert_eq!(net.executed_by(id), vec![cmd0.id], "process {id}");
    }
}

/// §9 E2: A suggests spec slot 3 at t=100. B skips slot 1 at 110 and its
/// ack + skip reaches A at 120 (slot 3 chosen); C skips slot 2 at 150 and
/// its ack reaches A at 200: slot 3 executes at 200, a client latency of
/// 100 = 2·max_q d(A,q). Every log: [cmd0, noop, noop, cmd3].
#[test]
fn mencius_9_e2_skip_bound_latency() {
    let mut net = net_keeping_logs();
    let (cmd0, cmd3) = (cmd(1, 1), cmd(1, 2));
    net.submit_at(0, A, cmd0.clone());
    net.submit_at(100, A, cmd3.clone());
    net.run_until(119);
    assert_eq!(net.processes[1].decided(spec_slot(1)), Some(&None), "B skipped slot 1 at 110");
    assert_eq!(net.processes[0].decided(spec_slot(1)), None);
    net.run_until(120);
    assert_eq!(net.processes[0].decided(spec_slot(1)), Some(&None), "B's skip rode on its ack");
    assert_eq!(net.processes[0].decided(spec_slot(3)), Some(&Some(cmd3.clone())), "chosen at 120");
    assert_eq!(net.executed_at(A, cmd3.id), None, "slot 2 (C's) is not decided yet");
    net.run_until(150);
    assert_eq!(net.processes[2].decided(spec_slot(2)), Some(&None), "C skipped slot 2 at 150");
    net.run_until(1_000);
    assert_eq!(net.executed_at(A, cmd3.id), Some(200), "executed at 200");
    for id in [A, B, C] {
        assert_eq!(log_of(&net, id, 4), vec![Some(Some(1)), Some(None), Some(None), Some(Some(2))], "process {id}");
        assert_eq!(net.executed_by(id), vec![cmd0.id, cmd3.id], "process {id}");
    }
}

/// §9 E3: C crashes at t=0; A suggests spec slot 3 at t=10, B skips slot
/// 1, slot 2 (C's) is never decided. A suspects C at 1000 and revokes its
/// slots with ballot (1, A) = 1: phase 1 with B done at 1020, the no-op
/// chosen at 1040, when A executes slot 3. C's slots up to the bound are
/// no-ops, and A and B keep committing without C.
#[test]
fn mencius_9_e3_revocation() {
    let mut net = detecting_net();
    net.crashed[C as usize - 1] = true;
    let (cmd0, cmd3) = (cmd(1, 1), cmd(1, 2));
    net.submit_at(0, A, cmd0.clone());
    net.submit_at(10, A, cmd3.clone());
    net.run_until(999);
    assert_eq!(net.executed_by(A), vec![cmd0.id], "blocked at slot 2");
    assert_eq!(net.processes[0].decided(spec_slot(3)), Some(&Some(cmd3.clone())), "chosen, not executable");
    assert!(!net.processes[0].is_revoking());
    net.run_until(1_000);
    assert!(net.processes[0].is_revoking(), "A suspects C at 1000");
    let prepares: Vec<_> = net
        .delivered
        .iter()
        .filter_map(|(at, from, to, msg)| match msg {
            Message::Prepare { ballot, owner, lo, hi } => {
                Some((at.as_ns() / NS_PER_MS, from.0, to.0, *ballot, *owner, *lo, *hi))
            }
            _ => None,
        })
        .collect();
    let hi = prepares[0].6;
    assert_eq!(prepares[0], (1_000, A, A, 1, ProcessId(C), spec_slot(2), hi), "ballot (1, A) over C's slots");
    // The spec's example writes [2, 2 + 3000); §7.1 sets hi to K·n beyond
    // every next_own known (A's is spec slot 6).
    assert_eq!(hi, spec_slot(6) + 3_000);
    net.run_until(1_039);
    assert_eq!(net.executed_at(A, cmd3.id), None);
    net.run_until(1_040);
    assert_eq!(net.executed_at(A, cmd3.id), Some(1_040), "no-op chosen at 1040");
    assert!(!net.processes[0].is_revoking());
    net.run_until(1_060);
    for id in [A, B] {
        let process = &net.processes[id as usize - 1];
        for slot in (spec_slot(2)..hi).step_by(3) {
            assert_eq!(process.decided(slot), Some(&None), "process {id}, slot {slot}: revoked");
        }
        assert_eq!(net.executed_by(id), vec![cmd0.id, cmd3.id], "process {id}");
    }
    // A and B commit with each other only: one round trip of 20.
    let (at_a, at_b) = (cmd(1, 3), cmd(2, 1));
    net.submit_at(1_100, A, at_a.clone());
    net.submit_at(1_200, B, at_b.clone());
    net.run_until(1_500);
    assert_eq!(net.executed_at(A, at_a.id), Some(1_120));
    assert_eq!(net.executed_at(B, at_b.id), Some(1_220));
    assert_eq!(net.executed_by(A), net.executed_by(B));
}

/// §9 E4: as E3, but C is partitioned (from 200 to 3000) after its first
/// command, and its SUGGEST of spec slot 5 (cmdC, at 300) reaches nobody.
/// A revokes C's slots: slot 5 becomes a no-op. Once the partition heals,
/// C learns it and suggests cmdC again in a slot at or above the
/// revocation bound; cmdC executes exactly once everywhere.
#[test]
fn mencius_9_e4_rule_4_resuggest() {
    let mut net = detecting_net();
    let cut = |now: Time, from: ProcessId, to: ProcessId| {
        (from == ProcessId(C) || to == ProcessId(C))
            && now >= Time::from_ns(200 * NS_PER_MS)
            && now < Time::from_ns(3_000 * NS_PER_MS)
    };
    net.drop_rule = Box::new(move |now, from, to, _| cut(now, from, to));
    let (cmd0, c0) = (cmd(1, 1), cmd(3, 1));
    net.submit_at(0, A, cmd0.clone());
    net.submit_at(0, C, c0.clone());
    let cmd_c = cmd(3, 2);
    net.submit_at(300, C, cmd_c.clone());
    let (a1, a2) = (cmd(1, 2), cmd(1, 3));
    net.submit_at(300, A, a1.clone());
    net.submit_at(400, A, a2.clone());
    net.run_until(1_000);
    assert_eq!(net.executed_by(A), vec![cmd0.id, c0.id, a1.id], "a2 waits for spec slot 5 (C's)");
    net.run_until(2_900);
    assert_eq!(net.executed_by(A), vec![cmd0.id, c0.id, a1.id, a2.id], "C revoked");
    assert_eq!(net.processes[0].decided(spec_slot(5)), Some(&None), "cmdC's slot is a no-op");
    let hi = net
        .delivered
        .iter()
        .find_map(|(_, from, _, msg)| match msg {
            Message::Prepare { owner, hi, .. } if *from == ProcessId(A) && *owner == ProcessId(C) => Some(*hi),
            _ => None,
        })
        .expect("A revoked C");
    net.run_until(8_000);
    for id in [A, B, C] {
        let executed = net.executed_by(id);
        assert_eq!(executed.iter().filter(|&&c| c == cmd_c.id).count(), 1, "process {id}: {executed:?}");
        assert_eq!(executed.len(), 5, "process {id}: {executed:?}");
    }
    assert_eq!(net.executed_by(A), net.executed_by(B));
    assert_eq!(net.executed_by(A), net.executed_by(C));
    let resuggested: Vec<u64> = net
        .delivered
        .iter()
        .filter_map(|(_, from, _, msg)| match msg {
            Message::Suggest { slot, cmd, .. } if *from == ProcessId(C) && cmd.id == cmd_c.id => Some(*slot),
            _ => None,
        })
        .collect();
    let again: Vec<u64> = resuggested.into_iter().filter(|&slot| slot != spec_slot(5)).collect();
    assert!(!again.is_empty() && again.iter().all(|&slot| slot >= hi), "cmdC again at or above {hi}: {again:?}");
}

fn process(id: u32, options: &Options) -> Mencius {
    Mencius::new(setup(id, 3, 1, 1), options).0
}

fn skips_sent(out: &Outbox<Mencius>) -> Vec<(ProcessId, SkipRange)> {
    out.sent()
        .into_iter()
        .filter_map(|(to, msg)| match msg {
            Message::Skip { range } => Some((to, range)),
            _ => None,
        })
        .collect()
}

/// §4 steps 2-4, EAGER: an idle acceptor that sees a higher SUGGEST skips
/// its lower slots before acking, tells the suggester in the ack and
/// everyone else in a SKIP.
#[test]
fn eager_skip_rides_on_the_ack_and_is_broadcast() {
    let mut c = process(C, &Options::default());
    let mut out = Outbox::new();
    c.handle(ProcessId(A), Message::Suggest { slot: 7, cmd: cmd(1, 1), skip: None }, Time::ZERO, &mut out);
    let range = SkipRange { lo: 3, hi: 7 };
    assert_eq!(skips_sent(&out), vec![(ProcessId(B), range)]);
    assert!(out.sent().contains(&(ProcessId(A), Message::AcceptAck { slot: 7, skip: Some(range) })));
    assert_eq!((c.decided(3), c.decided(6), c.next_own()), (Some(&None), Some(&None), 9));
    let executed: Vec<u64> = out
        .effects()
        .iter()
        .filter_map(|e| match e {
            Effect::Execute(chosen) => Some(chosen.slot),
            _ => None,
        })
        .collect();
    assert_eq!(executed, vec![3, 6], "skips go to the executor");
}

/// §4 step 4, LAZY: the skip goes to the suggester in the ack only; the
/// others get it on the next SUGGEST, or after SKIP_DELAY.
#[test]
fn lazy_skips_piggyback_or_wait_for_the_delay() {
    let lazy = Options { skip_send: SkipSend::Lazy, ..Options::default() };
    let mut c = process(C, &lazy);
    let mut out = Outbox::new();
    c.handle(ProcessId(A), Message::Suggest { slot: 4, cmd: cmd(1, 1), skip: None }, Time::ZERO, &mut out);
    assert!(skips_sent(&out).is_empty());
    assert!(out.effects().iter().any(
        |e| matches!(e, Effect::SetTimer { timer: Timer::SkipFlush, after_ns } if *after_ns == DEFAULT_SKIP_DELAY_NS)
    ));
    c.handle(ProcessId(A), Message::Suggest { slot: 7, cmd: cmd(1, 2), skip: None }, Time::ZERO, &mut out);
    let mut out = Outbox::new();
    c.submit(cmd(3, 1), Time::ZERO, &mut out);
    let suggest = Message::Suggest { slot: 9, cmd: cmd(3, 1), skip: Some(SkipRange { lo: 3, hi: 7 }) };
    assert!(out.sent().contains(&(ProcessId(B), suggest)), "merged skips piggybacked: {out:?}");
    let mut out = Outbox::new();
    c.handle_timer(Timer::SkipFlush, Time::ZERO, &mut out);
    assert!(out.sent().is_empty(), "nothing left to flush");

    let mut b = process(B, &lazy);
    b.handle(ProcessId(A), Message::Suggest { slot: 4, cmd: cmd(1, 1), skip: None }, Time::ZERO, &mut Outbox::new());
    let mut out = Outbox::new();
    b.handle_timer(Timer::SkipFlush, Time::ZERO, &mut out);
    let range = SkipRange { lo: 2, hi: 4 };
    assert_eq!(skips_sent(&out), vec![(ProcessId(A), range), (ProcessId(C), range)]);
}

/// §7 steps 3 and 6: an acceptor that promised a revoker's ballot on C's
/// slots NACKs C's later SUGGEST there, and C moves past the range.
#[test]
fn a_revoked_slot_is_nacked_and_its_owner_moves_on() {
    let mut b = process(B, &Options::default());
    let mut out = Outbox::new();
    b.handle(ProcessId(A), Message::Prepare { ballot: 1, owner: ProcessId(C), lo: 3, hi: 30 }, Time::ZERO, &mut out);
    assert_eq!(out.sent(), vec![(ProcessId(A), Message::Promise { ballot: 1, reports: vec![] })]);
    let mut out = Outbox::new();
    b.handle(ProcessId(C), Message::Suggest { slot: 6, cmd: cmd(3, 1), skip: None }, Time::ZERO, &mut out);
    assert!(out.sent().contains(&(ProcessId(C), Message::SuggestNack { slot: 6, revoked_upto: 30 })));
    let mut out = Outbox::new();
    b.handle(ProcessId(C), Message::Prepare { ballot: 0, owner: ProcessId(C), lo: 3, hi: 30 }, Time::ZERO, &mut out);
    assert!(out.sent().is_empty(), "ballot 0 belongs to the owner: ignored");
    b.handle(ProcessId(C), Message::Prepare { ballot: 3, owner: ProcessId(C), lo: 3, hi: 30 }, Time::ZERO, &mut out);
    assert!(matches!(out.sent()[0].1, Message::Promise { ballot: 3, .. }));
    let mut out = Outbox::new();
    b.handle(ProcessId(A), Message::Prepare { ballot: 1, owner: ProcessId(C), lo: 3, hi: 30 }, Time::ZERO, &mut out);
    assert_eq!(out.sent(), vec![(ProcessId(A), Message::RevokeNack { ballot: 1, promised: 3 })]);

    let mut c = process(C, &Options::default());
    let mut out = Outbox::new();
    c.submit(cmd(3, 1), Time::ZERO, &mut out);
    c.handle(ProcessId(B), Message::SuggestNack { slot: 3, revoked_upto: 30 }, Time::ZERO, &mut out);
    assert_eq!(c.next_own(), 30, "the first own slot at or above the range's end");
    assert_eq!(c.decided(3), None, "its suggestion waits for the revoker's decision");
}

/// A revoker keeps a command the owner may have had chosen (§7 step 4):
/// the highest-ballot value reported, decided reports first.
#[test]
fn revocation_preserves_reported_commands() {
    let mut a = process(A, &Options::default());
    let mut out = Outbox::new();
    a.start_revocation(ProcessId(C), 3, &mut out);
    let ballot = 1;
    // Nothing known yet but A's own next slot, 1: K·n beyond it.
    let hi = 1 + DEFAULT_REVOKE_AHEAD * 3;
    let report = |slot, ballot, seq: Option<u64>, decided| SlotReport {
        slot,
        ballot,
        value: seq.map(|seq| cmd(3, seq)),
        decided,
    };
    a.handle(
        ProcessId(A),
        Message::Promise { ballot, reports: vec![report(3, 0, Some(1), false)] },
        Time::ZERO,
        &mut out,
    );
    let mut out = Outbox::new();
    let reports = vec![report(3, 4, None, false), report(6, 0, Some(2), false), report(9, 1, None, true)];
    a.handle(ProcessId(B), Message::Promise { ballot, reports }, Time::ZERO, &mut out);
    let accept = Message::RevokeAccept { ballot, owner: ProcessId(C), lo: 3, hi, values: vec![(6, cmd(3, 2))] };
    assert_eq!(out.sent()[0], (ProcessId(A), accept));
}

#[test]
fn check_names_the_rule() {
    assert!(Mencius::check(3, 1).is_ok());
    assert!(Mencius::check(7, 3).is_ok());
    assert!(Mencius::check(4, 2).unwrap_err().contains("floor((n-1)/2) = 1"));
    assert!(Mencius::check(2, 1).unwrap_err().contains("between 3 and 64"));
    assert!(Mencius::check(65, 1).is_err());
}

/// Without failure detection (failure-free runs) no heartbeat is set.
#[test]
fn no_failure_detection_without_faults() {
    let mut a = process(A, &Options::default());
    let mut out = Outbox::new();
    a.start(Time::ZERO, &mut out);
    assert_eq!(out.effects().len(), 1, "the garbage-collection timer only: {out:?}");
}
