//! Tests of membership changes (raft.md §10, `membership.rs`): in force on
//! append, reverted by truncation, one at a time, a removed leader steps
//! down, learners never campaign, restarts keep the log's configuration,
//! bad plans are refused, and a whole plan end to end on `test_net`.

use super::*;
use crate::shared::read_executor::ReadingSlotExecutor;
use crate::shared::test_net::{TestNet, setup};
use sim_core::{ClientId, CommandId, Op};

fn cmd(client: u32, seq: u64) -> Arc<Command> {
    let id = CommandId { client: ClientId(client), seq };
    Arc::new(Command { id, ops: vec![(1, Op::Put(seq))].into(), payload_bytes: 0 })
}

fn ms(ms: u64) -> Time {
    Time::from_ns(ms * NS_PER_MS)
}

fn add(at_ms: u64, p: usize) -> MembershipChange {
    MembershipChange { at_ms, add: Some(p), remove: None }
}

fn remove(at_ms: u64, p: usize) -> MembershipChange {
    MembershipChange { at_ms, add: None, remove: Some(p) }
}

fn plan(initial: &[usize], changes: Vec<MembershipChange>) -> Options {
    Options { initial_members: Some(initial.to_vec()), membership_changes: changes, ..Options::default() }
}

fn ids(ids: &[u32]) -> Vec<ProcessId> {
    ids.iter().map(|&i| ProcessId(i)).collect()
}

fn append(term: Term, prev_log_index: u64, entries: Vec<Entry>, leader_commit: u64) -> Message {
    let prev_log_term = if prev_log_index == 0 { 0 } else { 1 };
    Message::AppendEntries { term, prev_log_index, prev_log_term, entries, leader_commit, stable: 0, hb_seq: 0 }
}

fn config_entry(term: Term, step: u32, members: &[usize]) -> Entry {
    let members = members.iter().fold(0, |m, &i| m | 1 << i);
    Entry { term, cmd: None, origin: ProcessId(1), config: Some(Configuration { step, members }) }
}

fn ack(leader: &mut Raft, from: u32, match_index: u64, now_ms: u64) {
    let reply = Message::AppendEntriesReply {
        term: leader.term(),
        success: true,
        match_index,
        conflict_index: 0,
        conflict_term: None,
        hb_seq: 0,
    };
    leader.handle(ProcessId(from), reply, ms(now_ms), &mut Outbox::new());
}

fn tick(raft: &mut Raft, now_ms: u64) {
    raft.handle_timer(Timer::Tick, ms(now_ms), &mut Outbox::new());
}

/// True if an election timeout at `now_ms` makes `raft` ask for votes.
fn campaigns(raft: &mut Raft, now_ms: u64) -> bool {
    let mut out = Outbox::new();
    raft.handle_timer(Timer::Election, ms(now_ms), &mut out);
    out.sent().iter().any(|(_, m)| matches!(m, Message::RequestVote { .. }))
}

/// raft.md §10: a follower uses a configuration entry as soon as it is
/// appended, before it commits; a new leader's AppendEntries that
/// truncates it brings the previous configuration back.
#[test]
fn raft_10_configuration_takes_effect_on_append_and_reverts_on_truncation() {
    let options = plan(&[0, 1, 2], vec![add(0, 3)]);
    let mut follower = Raft::new(setup(2, 5, 1, 1), &options).0;
    assert_eq!(follower.configuration(), ids(&[1, 2, 3]));
    assert_eq!(follower.majority(), 2);
    let mut out = Outbox::new();
    follower.handle(ProcessId(1), append(1, 0, vec![config_entry(1, 1, &[0, 1, 2, 3])], 0), ms(10), &mut out);
    assert_eq!(follower.commit_index(), 0, "not committed");
    assert_eq!(follower.configuration(), ids(&[1, 2, 3, 4]), "in force once appended");
    assert_eq!(follower.majority(), 3);
    // S3, leader of term 2 without the entry, overwrites index 1.
    let noop = Entry { term: 2, cmd: None, origin: ProcessId(3), config: None };
    follower.handle(ProcessId(3), append(2, 0, vec![noop], 0), ms(20), &mut out);
    assert_eq!(follower.log_terms(), vec![2]);
    assert_eq!(follower.configuration(), ids(&[1, 2, 3]), "truncation reverts");
    assert_eq!(follower.configuration_step(), 0);
}

/// raft.md §10: one change at a time. The leader appends the second
/// change only after the first committed (a majority of the *new*
/// configuration, which is in force at the leader from the append).
#[test]
fn raft_10_one_change_at_a_time() {
    let options = plan(&[0, 1, 2], vec![add(0, 3), add(0, 4)]);
    let mut leader = Raft::new(setup(1, 5, 1, 1), &options).0;
    leader.start(ms(0), &mut Outbox::new());
    tick(&mut leader, 100);
    assert_eq!(leader.configuration(), ids(&[1, 2, 3, 4]));
    assert_eq!(leader.last_index(), 1);
    tick(&mut leader, 200);
    assert_eq!(leader.last_index(), 1, "the second change waits for the first to commit");
    ack(&mut leader, 2, 1, 210);
    assert_eq!(leader.commit_index(), 0, "2 of 4 is no majority of the new configuration");
    tick(&mut leader, 300);
    assert_eq!(leader.last_index(), 1);
    ack(&mut leader, 4, 1, 310);
    assert_eq!(leader.commit_index(), 1, "3 of 4, the added server counting");
    tick(&mut leader, 400);
    assert_eq!(leader.configuration(), ids(&[1, 2, 3, 4, 5]));
    assert_eq!(leader.configuration_step(), 2);
    tick(&mut leader, 500);
    assert_eq!(leader.last_index(), 2, "the plan is done");
}

/// Ongaro's correction to single-server changes: a leader appends a
/// change only once an entry of its own term committed.
#[test]
fn raft_10_a_new_leader_changes_only_after_committing_in_its_term() {
    let options = plan(&[0, 1, 2], vec![add(0, 3)]);
    let mut leader = Raft::new(setup(1, 5, 1, 1), &options).0;
    leader.current_term = 2;
    leader.push_entry(Entry { term: 1, cmd: None, origin: ProcessId(1), config: None });
    leader.commit_index = 1;
    tick(&mut leader, 100);
    assert_eq!(leader.configuration_step(), 0, "only a term-1 entry committed");
    leader.push_entry(Entry { term: 2, cmd: None, origin: ProcessId(1), config: None });
    ack(&mut leader, 2, 2, 110);
    assert_eq!(leader.commit_index(), 2);
    tick(&mut leader, 200);
    assert_eq!(leader.configuration_step(), 1);
}

/// raft.md §10 (thesis §4.2.2): a leader that removes itself leads
/// without counting itself until the entry commits, then steps down and,
/// a learner now, never campaigns.
#[test]
fn raft_10_a_removed_leader_steps_down_after_the_entry_commits() {
    let options = plan(&[0, 1, 2, 3], vec![remove(0, 0)]);
    let mut leader = Raft::new(setup(1, 5, 1, 1), &options).0;
    leader.start(ms(0), &mut Outbox::new());
    tick(&mut leader, 100);
    assert_eq!(leader.configuration(), ids(&[2, 3, 4]));
    ack(&mut leader, 2, 1, 110);
    assert_eq!(leader.commit_index(), 0, "S2 alone; the leader does not count itself");
    assert_eq!(leader.role(), Role::Leader, "still leads until the entry commits");
    ack(&mut leader, 5, 1, 115);
    assert_eq!(leader.commit_index(), 0, "S5 is a learner: its ack does not count");
    ack(&mut leader, 3, 1, 120);
    assert_eq!(leader.commit_index(), 1);
    assert_eq!(leader.role(), Role::Follower, "stepped down");
    assert!(!campaigns(&mut leader, 60_000), "a removed server never campaigns");
}

/// Thesis §4.2.2: a server removed by a configuration it does not know
/// committed still campaigns (it may hold the only log with the entry,
/// and refuses its vote to shorter logs), counting only members' votes.
/// Found by the swarm: a leader that appended its own removal, lost its
/// quorum to CheckQuorum and stepped down, left no electable server.
#[test]
fn raft_10_a_server_removed_by_an_uncommitted_entry_still_campaigns() {
    let options = plan(&[0, 1, 2, 3], vec![remove(0, 0)]);
    let mut leader = Raft::new(setup(1, 5, 1, 1), &options).0;
    leader.start(ms(0), &mut Outbox::new());
    tick(&mut leader, 100);
    assert_eq!(leader.configuration(), ids(&[2, 3, 4]));
    leader.step_down(ms(200), &mut Outbox::new()); // as CheckQuorum would
    assert!(campaigns(&mut leader, 60_000), "it may be needed to commit its removal");
    let term = leader.term();
    let grant = |term| Message::RequestVoteReply { term, granted: true, pre_vote: false };
    leader.handle(ProcessId(2), grant(term), ms(60_010), &mut Outbox::new());
    assert_eq!(leader.role(), Role::Candidate, "its own vote does not count: 1 of {{2,3,4}}");
    leader.handle(ProcessId(3), grant(term), ms(60_020), &mut Outbox::new());
    assert_eq!(leader.role(), Role::Leader);
    ack(&mut leader, 2, 2, 60_030);
    ack(&mut leader, 3, 2, 60_040);
    assert_eq!(leader.commit_index(), 2, "its removal and no-op committed");
    assert_eq!(leader.role(), Role::Follower, "and it stepped down");
    assert!(!campaigns(&mut leader, 120_000));
}

/// raft.md §10: a server outside the configuration is a learner: it
/// follows the log but starts no election until an entry adds it.
#[test]
fn raft_10_learners_campaign_only_once_added() {
    let options = plan(&[0, 1, 2], vec![add(0, 3)]);
    let mut learner = Raft::new(setup(4, 5, 1, 1), &options).0;
    learner.start(ms(0), &mut Outbox::new());
    assert!(!campaigns(&mut learner, 60_000));
    assert_eq!(learner.term(), 1);
    let mut out = Outbox::new();
    learner.handle(ProcessId(1), append(1, 0, vec![config_entry(1, 1, &[0, 1, 2, 3])], 0), ms(60_010), &mut out);
    assert!(campaigns(&mut learner, 120_000), "a member now");
    assert_eq!(learner.role(), Role::Candidate);
}

/// raft.md §10 restarts: the configuration is the log's, durable with it.
#[test]
fn raft_10_restart_keeps_the_configuration_of_the_log() {
    let options = plan(&[0, 1, 2], vec![add(0, 3)]);
    let mut follower = Raft::new(setup(2, 5, 1, 1), &options).0;
    let mut out = Outbox::new();
    follower.handle(ProcessId(1), append(1, 0, vec![config_entry(1, 1, &[0, 1, 2, 3])], 0), ms(10), &mut out);
    let fresh = Raft::new(setup(2, 5, 1, 1), &options).0;
    assert_eq!(fresh.configuration(), ids(&[1, 2, 3]));
    follower.restart(fresh, &mut ReadingSlotExecutor::new(), ms(500), &mut Outbox::new());
    assert_eq!(follower.configuration(), ids(&[1, 2, 3, 4]));
    assert_eq!(follower.configuration_step(), 1);
}

/// Bad plans are refused with a message naming the option.
#[test]
fn raft_10_bad_plans_are_refused() {
    let error = |options: Options| check_options(&options, 5, 1).expect_err("refused");
    assert!(error(plan(&[0, 1, 7], vec![])).contains("process index 7 is unknown"));
    assert!(error(plan(&[0, 1, 1], vec![])).contains("names a process twice"));
    assert!(error(plan(&[0, 1], vec![])).contains("f = 1 needs at least 3"));
    assert!(error(plan(&[0, 1, 2], vec![add(0, 1)])).contains("already a member"));
    assert!(error(plan(&[0, 1, 2], vec![remove(0, 3)])).contains("not a member"));
    assert!(error(plan(&[0, 1, 2], vec![remove(0, 0)])).contains("membership_changes[0]"));
    assert!(error(plan(&[0, 1, 2], vec![add(0, 9)])).contains("process index 9 is unknown"));
    assert!(error(plan(&[0, 1, 2], vec![add(500, 3), add(100, 4)])).contains("before the previous change"));
    let both = MembershipChange { at_ms: 0, add: Some(3), remove: Some(0) };
    assert!(error(plan(&[0, 1, 2], vec![both])).contains("exactly one process"));
    let lease = Options { reads: ReadMode::Lease, ..plan(&[0, 1, 2], vec![add(0, 3)]) };
    assert!(error(lease).contains("lease"));
    let f2 = check_options(&plan(&[0, 1, 2, 3, 4], vec![remove(0, 4)]), 5, 2).expect_err("refused");
    assert!(f2.contains("f = 2 needs at least 5"), "{f2}");
    assert!(check_options(&plan(&[0, 1, 2], vec![add(0, 3), remove(10, 0), add(20, 4)]), 5, 1).is_ok());
    assert!(check_options(&Options::default(), 5, 2).is_ok());
}

/// A whole plan on five servers 20 ms apart: {1,2,3} → +4 → −1 (the
/// leader) → +5 → −2, with commands from every site throughout. Every
/// command executes at its site, every server ends in {3,4,5}, and one
/// of those leads.
#[test]
fn raft_10_a_plan_of_single_server_changes_end_to_end() {
    let options = plan(&[0, 1, 2], vec![add(500, 3), remove(1000, 0), add(1500, 4), remove(2000, 1)]);
    let delays: Vec<Vec<u64>> = (0..5).map(|i| (0..5).map(|j| if i == j { 0 } else { 20 }).collect()).collect();
    let rows: Vec<&[u64]> = delays.iter().map(|r| r.as_slice()).collect();
    let mut net = TestNet::<Raft>::new(&rows, 1, 1, &options);
    let mut expected = Vec::new();
    for k in 0..40u64 {
        let site = (k % 5) as u32 + 1;
        let command = cmd(site, k / 5 + 1);
        expected.push((ProcessId(site), command.id));
        net.submit_at(100 * k, site, command);
    }
    net.run_until(20_000);
    for (site, id) in expected {
        assert!(net.executed.iter().any(|&(_, p, c)| p == site && c == id), "{id:?} executed at {site:?}");
    }
    for raft in &net.processes {
        assert_eq!(raft.configuration(), ids(&[3, 4, 5]));
        assert_eq!(raft.configuration_step(), 4);
    }
    let leaders: Vec<usize> = (0..5).filter(|&i| net.processes[i].role() == Role::Leader).collect();
    assert_eq!(leaders.len(), 1, "{leaders:?}");
    assert!(leaders[0] >= 2, "a member leads: {leaders:?}");
}
