//! Reconfiguration tests (vr.md §13), one per step, on `shared::test_net`:
//! five processes (ids 1..=5), epoch 0 = {1, 2, 3} with primary 1, epoch 1
//! = {3, 4, 5} from 500 ms on.

use super::*;
use crate::shared::test_net::{TestNet, setup};
use sim_core::CommandId;
use sim_core::protocol::ProtocolConfig;
use sim_core::{ClientId, Op};

fn cmd(client: u32, seq: u64) -> Arc<Command> {
    let id = CommandId { client: ClientId(client), seq };
    Arc::new(Command { id, ops: vec![(1, Op::Put(seq))].into(), payload_bytes: 0 })
}

/// Every link 10 ms.
const DELAYS: [&[u64]; 5] =
    [&[0, 10, 10, 10, 10], &[10, 0, 10, 10, 10], &[10, 10, 0, 10, 10], &[10, 10, 10, 0, 10], &[10, 10, 10, 10, 0]];

fn plan() -> Options {
    Options {
        initial_members: Some(vec![0, 1, 2]),
        reconfigure_at_ms: Some(500),
        new_members: Some(vec![2, 3, 4]),
        ..Options::default()
    }
}

/// With failure detection on (lost PREPAREs are re-sent).
fn net_with(options: &Options) -> TestNet<Vr> {
    let detecting = |id, n| {
        let base = setup(id, n, 1, 1);
        ProcessSetup { config: ProtocolConfig { failure_detection: true, ..base.config }, ..base }
    };
    TestNet::<Vr>::with_setup(&DELAYS, options, detecting)
}

fn net() -> TestNet<Vr> {
    net_with(&plan())
}

fn vr(net: &TestNet<Vr>, id: u32) -> &Vr {
    &net.processes[id as usize - 1]
}

fn is_start_epoch(m: &Message) -> bool {
    matches!(m, Message::Epoch(EpochMessage::StartEpoch { .. }))
}

fn is_epoch_started(m: &Message) -> bool {
    matches!(m, Message::Epoch(EpochMessage::EpochStarted { .. }))
}

/// Before the reconfiguration the spares 4 and 5 are learners: their
/// clients' requests go to the primary, commit with the members' acks and
/// are answered by the spare's own executor.
#[test]
fn vr_13_spares_are_learners_before_the_reconfiguration() {
    let mut net = net();
    net.submit_at(0, 4, cmd(4, 1));
    net.run_until(200);
    // 4 -> 1 (10), PREPARE 1 -> 2,3 (20), ok back (30), COMMIT to 4 (40).
    assert_eq!(net.executed_at(4, cmd(4, 1).id), Some(40));
    assert_eq!(net.executed_at(1, cmd(4, 1).id), Some(30));
    assert!(!vr(&net, 4).member() && vr(&net, 4).current_epoch() == 0);
    assert!(vr(&net, 3).member());
}

/// §13.1: at the plan's time the primary appends the RECONFIGURATION and
/// then accepts no other request; a request that arrives meanwhile is
/// executed in the new epoch instead.
#[test]
fn vr_13_1_primary_runs_the_reconfiguration_and_refuses_other_requests() {
    let mut net = net();
    // Hold back the RECONFIGURATION's acks so that it stays in flight.
    net.drop_rule = Box::new(|now, _, to, m| {
        to == ProcessId(1) && matches!(m, Message::PrepareOk { .. }) && now < Time::from_ns(650 * NS_PER_MS)
    });
    net.run_until(550);
    let primary = vr(&net, 1);
    assert_eq!(primary.op(), 1);
    assert_eq!(primary.entry(1).map(|e| e.cmd.id.client), Some(ADMIN_CLIENT));
    net.submit_at(560, 1, cmd(1, 1));
    net.run_until(640);
    assert_eq!(vr(&net, 1).op(), 1, "no request after the RECONFIGURATION");
    assert_eq!(vr(&net, 1).current_epoch(), 0);
    net.run_until(3000);
    assert_eq!(vr(&net, 1).current_epoch(), 1);
    assert!(net.executed_at(1, cmd(1, 1).id).is_some(), "re-routed to the new epoch");
    assert_eq!(vr(&net, 3).entry(2).map(|e| e.cmd.id), Some(cmd(1, 1).id));
}

/// §13.2-3: on commit the old replicas send START_EPOCH to the new ones;
/// replica 3 (in both) goes Normal in view 0 of epoch 1 directly, as do
/// the learners 4 and 5 that executed the op themselves; 1 and 2 leave.
#[test]
fn vr_13_2_commit_starts_the_epoch() {
    let mut net = net();
    net.submit_at(100, 2, cmd(2, 1));
    net.run_until(700);
    assert!(net.count_delivered(is_start_epoch) >= 2, "START_EPOCH to 4 and 5");
    for id in [3, 4, 5] {
        let r = vr(&net, id);
        assert_eq!((r.current_epoch(), r.view(), r.status()), (1, first_view(1), Status::Normal), "replica {id}");
        assert!(r.member());
    }
    for id in [1, 2] {
        assert!(!vr(&net, id).member(), "replica {id} left");
        assert_eq!(vr(&net, id).current_epoch(), 1);
    }
    // The new primary (3, first of the new list) orders new requests.
    net.submit_at(710, 5, cmd(5, 1));
    net.run_until(900);
    assert_eq!(vr(&net, 3).entry(3).map(|e| e.cmd.id), Some(cmd(5, 1).id));
    assert!(net.executed_at(5, cmd(5, 1).id).is_some());
    assert!(net.executed_at(1, cmd(5, 1).id).is_some(), "a leaving replica keeps learning the log");
}

/// §13.3: a new replica that missed entries (here: every PREPARE to 4)
/// is Transitioning until it fetched them from an old replica with
/// GET_STATE, then goes Normal and sends EPOCH_STARTED to 1 and 2.
#[test]
fn vr_13_3_new_replica_fetches_missing_entries_then_starts() {
    let mut net = net();
    net.drop_rule = Box::new(|_, _, to, m| to == ProcessId(4) && matches!(m, Message::Prepare { .. }));
    for seq in 1..=3 {
        net.submit_at(100 * seq, 1, cmd(1, seq));
    }
    net.run_until(490);
    assert_eq!(vr(&net, 4).op(), 0);
    net.run_until(1500);
    let r4 = vr(&net, 4);
    assert_eq!((r4.current_epoch(), r4.status()), (1, Status::Normal));
    assert_eq!(r4.op(), 4, "three writes and the RECONFIGURATION");
    assert!(net.count_delivered(|m| matches!(m, Message::Epoch(EpochMessage::GetState { .. }))) >= 1);
    assert!(net.count_delivered(|m| matches!(m, Message::Epoch(EpochMessage::NewState { .. }))) >= 1);
    for seq in 1..=3 {
        assert!(net.executed_at(4, cmd(1, seq).id).is_some());
    }
    assert!(net.count_delivered(is_epoch_started) >= 3 * 2, "each new replica tells 1 and 2");
}

/// §13.4: leaving replicas serve GET_STATE until f_new + 1 = 2 new
/// replicas sent EPOCH_STARTED, then stop; one that hears only one keeps
/// serving.
#[test]
fn vr_13_4_leaving_replicas_stop_after_f_new_plus_one_epoch_started() {
    let mut net = net();
    // Only 3's EPOCH_STARTED reaches 2; all reach 1.
    net.drop_rule = Box::new(|_, from, to, m| to == ProcessId(2) && from != ProcessId(3) && is_epoch_started(m));
    net.run_until(1000);
    assert!(vr(&net, 1).stopped(), "1 holds EPOCH_STARTED from 3, 4, 5");
    assert!(!vr(&net, 2).stopped(), "2 holds only 3's");
    assert_eq!(vr(&net, 2).status(), Status::Transitioning);
}

/// §13.4: a client request at a replica of the old epoch moves on to the
/// new configuration (EPOCH_MOVED) and is answered at its own process.
#[test]
fn vr_13_4_requests_at_a_leaving_replica_move_to_the_new_epoch() {
    let mut net = net();
    net.run_until(800);
    net.submit_at(800, 1, cmd(1, 1));
    net.run_until(900);
    // 1 -> 3 (10), PREPARE 3 -> all (20), acks (30), COMMIT to 1 (40).
    assert_eq!(net.executed_at(1, cmd(1, 1).id), Some(840));
    assert_eq!(net.executed_at(3, cmd(1, 1).id), Some(830));
}

/// §13.2 with a crash: the old primary 1 crashes right after the
/// RECONFIGURATION committed at it, before anyone else executed it. The
/// old group's view change (2 becomes primary of view 1) commits it again,
/// and the epoch starts; writes acknowledged before survive.
#[test]
fn vr_13_2_old_primary_crashes_during_the_transition() {
    let mut net = net();
    net.submit_at(100, 2, cmd(2, 1));
    net.run_until(400);
    assert!(net.executed_at(2, cmd(2, 1).id).is_some());
    // The RECONFIGURATION's PREPAREs leave 1 at ~500 and commit at ~520;
    // 1 dies before its COMMIT or START_EPOCH goes out.
    net.drop_rule =
        Box::new(|_, from, _, m| from == ProcessId(1) && (matches!(m, Message::Commit { .. }) || is_start_epoch(m)));
    net.run_until(515);
    net.crashed[0] = true;
    net.drop_rule = Box::new(|_, _, _, _| false);
    net.submit_at(600, 5, cmd(5, 1));
    net.run_until(6000);
    for id in [3, 4, 5] {
        let r = vr(&net, id);
        assert_eq!((r.current_epoch(), r.status()), (1, Status::Normal), "replica {id}");
    }
    assert!(net.executed_at(5, cmd(5, 1).id).is_some());
    for id in [2, 3, 4, 5] {
        assert!(net.executed_at(id, cmd(2, 1).id).is_some(), "the acked write survives at {id}");
    }
}

/// Options errors are messages, not panics.
#[test]
fn vr_13_options_are_checked() {
    let with = |initial: Option<Vec<usize>>, new: Option<Vec<usize>>| Options {
        initial_members: initial,
        reconfigure_at_ms: new.as_ref().map(|_| 1000),
        new_members: new,
        ..Options::default()
    };
    assert_eq!(check_options(&plan(), 5, 1), Ok(()));
    assert_eq!(check_options(&Options::default(), 5, 2), Ok(()));
    let small = check_options(&with(None, Some(vec![3, 4])), 5, 1).unwrap_err();
    assert!(small.contains("at least 3 members"), "{small}");
    let unknown = check_options(&with(Some(vec![0, 1, 7]), None), 5, 1).unwrap_err();
    assert!(unknown.contains("process index 7 is unknown"), "{unknown}");
    let too_large = check_options(&with(Some(vec![0, 1, 2]), None), 5, 2).unwrap_err();
    assert!(too_large.contains("f = 2 is too large for 3 members"), "{too_large}");
    let twice = check_options(&with(Some(vec![0, 1, 1]), None), 5, 1).unwrap_err();
    assert!(twice.contains("twice"), "{twice}");
    let half = Options { reconfigure_at_ms: Some(5), ..Options::default() };
    assert!(check_options(&half, 5, 1).unwrap_err().contains("needs vr.new_members"));
}

/// Epoch 1's `f` follows its size: 5 new members tolerate 2.
#[test]
fn vr_13_quorums_follow_the_new_configuration() {
    let options = Options { new_members: Some(vec![0, 1, 2, 3, 4]), ..plan() };
    let mut net = net_with(&options);
    net.run_until(800);
    let r = vr(&net, 5);
    assert_eq!((r.current_epoch(), r.member()), (1, true));
    assert_eq!(r.f(), 2);
    assert_eq!(vr(&net, 1).f(), 2);
}

/// A partition {1, 2} | {3, 4, 5} while the RECONFIGURATION commits at 1
/// and 2: every first START_EPOCH is lost and 3 (in both configurations)
/// never hears the commit. After it heals the leaving replicas re-send
/// START_EPOCH; 3, 4 and 5 fetch the log and start epoch 1.
#[test]
fn vr_13_2_lost_start_epochs_are_sent_again() {
    let mut net = net();
    let cut = |p: ProcessId| p.0 <= 2;
    net.drop_rule = Box::new(move |now, from, to, _| {
        let during = now >= Time::from_ns(480 * NS_PER_MS) && now < Time::from_ns(1500 * NS_PER_MS);
        during && cut(from) != cut(to)
    });
    net.submit_at(100, 3, cmd(3, 1));
    net.run_until(1400);
    assert_eq!(vr(&net, 1).current_epoch(), 1, "1 and 2 committed the RECONFIGURATION");
    assert_eq!(vr(&net, 3).current_epoch(), 0);
    net.submit_at(1600, 4, cmd(4, 1));
    net.run_until(8000);
    for id in [3, 4, 5] {
        let r = vr(&net, id);
        assert_eq!((r.current_epoch(), r.status()), (1, Status::Normal), "replica {id}");
    }
    assert!(net.executed_at(4, cmd(4, 1).id).is_some());
    assert!(net.executed_at(5, cmd(3, 1).id).is_some());
    assert!(vr(&net, 1).stopped() && vr(&net, 2).stopped());
    let resent_to_3 = net.delivered.iter().filter(|(_, _, to, m)| *to == ProcessId(3) && is_start_epoch(m)).count();
    assert!(resent_to_3 >= 1, "3 learns the epoch from a re-sent START_EPOCH");
}
