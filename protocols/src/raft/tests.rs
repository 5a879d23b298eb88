//! Raft unit and transcript tests: every worked example of raft.md §12,
//! and elections after a leader crash on `shared::test_net`.

use super::*;
use crate::shared::test_net::{TestNet, setup};
use sim_core::CommandId;
use sim_core::{ClientId, Op};

fn cmd(client: u32, seq: u64) -> Arc<Command> {
    let id = CommandId { client: ClientId(client), seq };
    Arc::new(Command { id, ops: vec![(1, Op::Put(seq))].into(), payload_bytes: 0 })
}

fn entry(term: Term, seq: u64) -> Entry {
    Entry { term, cmd: Some(cmd(0, seq)), origin: ProcessId(1), config: None }
}

fn ms(ms: u64) -> Time {
    Time::from_ns(ms * NS_PER_MS)
}

/// Server `id` of `n` (leader 1 at bootstrap), with its log holding
/// entries of `terms` and its term set to `term`, as a follower.
fn server(id: u32, n: u32, terms: &[Term], term: Term) -> Raft {
    let mut raft = Raft::new(setup(id, n, 1, 1), &Options::default()).0;
    for (i, &t) in terms.iter().enumerate() {
        raft.log.push(entry(t, i as u64 + 1));
    }
    raft.current_term = term;
    raft.voted_for = None;
    raft.role = Role::Follower;
    raft.leader_hint = None;
    raft
}

fn vote(voter: &mut Raft, candidate: u32, term: Term, last_log_index: u64, last_log_term: Term) -> bool {
    let mut out = Outbox::new();
    let msg = Message::RequestVote { term, last_log_index, last_log_term, pre_vote: false };
    voter.handle(ProcessId(candidate), msg, ms(0), &mut out);
    match out.sent().as_slice() {
        [(to, Message::RequestVoteReply { granted, .. })] if to.0 == candidate => *granted,
        other => panic!("expected one reply, got {other:?}"),
    }
}

/// raft.md §12 E1: the up-to-date check against a voter with terms [1,1,2].
#[test]
fn raft_12_e1_up_to_date_check() {
    let voter = || server(1, 5, &[1, 1, 2], 2);
    assert!(!vote(&mut voter(), 2, 3, 4, 1), "A [1,1,1,1]: last term 1 < 2");
    assert!(!vote(&mut voter(), 3, 3, 2, 2), "B [1,2]: same last term, shorter");
    assert!(vote(&mut voter(), 4, 3, 3, 2), "C [1,1,2]: as up to date");
    assert!(vote(&mut voter(), 5, 3, 2, 3), "D [1,3]: later last term");
    let mut voted = voter();
    assert!(vote(&mut voted, 4, 3, 3, 2));
    assert!(!vote(&mut voted, 5, 3, 2, 3), "one vote per term");
    assert!(vote(&mut voted, 4, 3, 3, 2), "a repeated request from the same candidate is granted again");
}

/// raft.md §12 E2: the current-term commit rule. S1, leader of term 4
/// (no-op disabled), copies idx2 (term 2) to S3: a majority holds it, but
/// commit_index stays 1; S5 (last term 3) could still win term 5 with S2,
/// S3, S4 and overwrite it. Variant: once idx3 (term 4) is on S2 and S3,
/// commit_index = 3 and S5 can no longer win.
#[test]
fn raft_12_e2_current_term_commit_rule() {
    let mut s1 = server(1, 5, &[1, 2], 4);
    s1.commit_index = 1;
    s1.role = Role::Leader;
    s1.next_index = vec![3; 5];
    let mut out = Outbox::new();
    let ok = |match_index| Message::AppendEntriesReply {
        term: 4,
        success: true,
        match_index,
        conflict_index: 0,
        conflict_term: None,
        hb_seq: 0,
    };
    s1.handle(ProcessId(2), ok(2), ms(0), &mut out);
    s1.handle(ProcessId(3), ok(2), ms(0), &mut out);
    assert_eq!(s1.commit_index(), 1, "idx2 is of term 2, not the current term 4");
    // S2, S3, S4 hold [1,2]: S5 with [1,3] gets their votes in term 5.
    for voter in 2..=4 {
        assert!(vote(&mut server(voter, 5, &[1, 2], 4), 5, 5, 2, 3));
    }
    // Variant: idx3 of term 4 reaches S2 and S3.
    s1.submit(cmd(9, 1), ms(1), &mut out);
    assert_eq!(s1.log_terms(), vec![1, 2, 4]);
    s1.handle(ProcessId(2), ok(3), ms(2), &mut out);
    assert_eq!(s1.commit_index(), 1, "S1 and S2 are not a majority");
    s1.handle(ProcessId(3), ok(3), ms(2), &mut out);
    assert_eq!(s1.commit_index(), 3, "idx3 commits, and idx2 with it");
    for voter in 2..=3 {
        assert!(!vote(&mut server(voter, 5, &[1, 2, 4], 4), 5, 5, 2, 3), "S{voter} refuses S5");
    }
}

/// raft.md §12 E3: truncation of a conflicting suffix, and a stale
/// duplicate AppendEntries that must not truncate.
#[test]
fn raft_12_e3_truncation() {
    let mut follower = server(2, 3, &[1, 1, 2, 2, 2], 3);
    let ae = |entries: Vec<Entry>, leader_commit| Message::AppendEntries {
        term: 3,
        prev_log_index: 3,
        prev_log_term: 2,
        entries,
        leader_commit,
        stable: 0,
        hb_seq: 0,
    };
    let mut out = Outbox::new();
    follower.handle(ProcessId(1), ae(vec![entry(3, 4), entry(3, 5)], 4), ms(0), &mut out);
    assert_eq!(follower.log_terms(), vec![1, 1, 2, 3, 3]);
    assert_eq!(follower.commit_index(), 4);
    let ok = Message::AppendEntriesReply {
        term: 3,
        success: true,
        match_index: 5,
        conflict_index: 0,
        conflict_term: None,
        hb_seq: 0,
    };
    assert_eq!(out.sent().last(), Some(&(ProcessId(1), ok)));
    let mut out = Outbox::new();
    follower.handle(ProcessId(1), ae(vec![entry(3, 4)], 4), ms(1), &mut out);
    assert_eq!(follower.log_terms(), vec![1, 1, 2, 3, 3], "index 5 survives the stale AE");
}

/// raft.md §6.3a and §6.4: a failed consistency check carries the conflict
/// hint, and the leader backs off to it and re-sends.
#[test]
fn raft_6_3_conflict_hint_and_backoff() {
    let mut follower = server(2, 3, &[1, 1, 2, 2], 3);
    let mut out = Outbox::new();
    let ae = Message::AppendEntries {
        term: 3,
        prev_log_index: 4,
        prev_log_term: 3,
        entries: vec![],
        leader_commit: 0,
        stable: 0,
        hb_seq: 0,
    };
    follower.handle(ProcessId(1), ae, ms(0), &mut out);
    let reject = Message::AppendEntriesReply {
        term: 3,
        success: false,
        match_index: 0,
        conflict_index: 3,
        conflict_term: Some(2),
        hb_seq: 0,
    };
    assert_eq!(out.sent(), vec![(ProcessId(1), reject.clone())]);
    let mut out = Outbox::new();
    let short = Message::AppendEntries {
        term: 3,
        prev_log_index: 9,
        prev_log_term: 3,
        entries: vec![],
        leader_commit: 0,
        stable: 0,
        hb_seq: 0,
    };
    follower.handle(ProcessId(1), short, ms(0), &mut out);
    assert!(matches!(out.sent()[0].1, Message::AppendEntriesReply { conflict_index: 5, conflict_term: None, .. }));

    // A leader of term 3 with [1,1,3,3] has no entry of term 2: resume at 3.
    let mut leader = server(1, 3, &[1, 1, 3, 3], 3);
    leader.role = Role::Leader;
    leader.next_index = vec![5; 3];
    let mut out = Outbox::new();
    leader.handle(ProcessId(2), reject, ms(1), &mut out);
    let sent = out.sent();
    let [(to, Message::AppendEntries { prev_log_index, prev_log_term, entries, .. })] = sent.as_slice() else {
        panic!("one AE expected: {out:?}");
    };
    let (to, prev_log_index, prev_log_term) = (*to, *prev_log_index, *prev_log_term);
    assert_eq!((to, prev_log_index, prev_log_term, entries.len()), (ProcessId(2), 2, 1, 2));
}

/// raft.md §12 E4: leader A, followers at 5, 30, 60 and 90 ms, q = 3. A
/// client at A waits 2·30 = 60 ms; a client at B (5 ms) waits 5+60+5.
#[test]
fn raft_12_e4_latency() {
    let delays: [&[u64]; 5] =
        [&[0, 5, 30, 60, 90], &[5, 0, 30, 60, 90], &[30, 30, 0, 60, 90], &[60, 60, 60, 0, 90], &[90, 90, 90, 90, 0]];
    let mut net = TestNet::<Raft>::new(&delays, 2, 1, &Options::default());
    net.submit_at(0, 1, cmd(1, 1));
    net.submit_at(0, 2, cmd(2, 1));
    net.run_until(200);
    assert_eq!(net.executed_at(1, cmd(1, 1).id), Some(60));
    assert_eq!(net.executed_at(2, cmd(2, 1).id), Some(70));
}

fn equal_delays(n: usize, ms: u64) -> Vec<Vec<u64>> {
    (0..n).map(|i| (0..n).map(|j| if i == j { 0 } else { ms }).collect()).collect()
}

/// raft.md §5 and §10: the leader crashes; a follower times out (random
/// timeout from its own stream), wins a majority, appends a no-op that
/// commits the earlier entries, and serves a waiting client.
#[test]
fn raft_5_election_after_a_leader_crash() {
    let delays = equal_delays(5, 20);
    let rows: Vec<&[u64]> = delays.iter().map(|r| r.as_slice()).collect();
    let mut net = TestNet::<Raft>::new(&rows, 2, 1, &Options::default());
    // Entry 2 reaches S2 only before the leader crashes: uncommitted.
    net.drop_rule = Box::new(|now, from, to, _| from == ProcessId(1) && to != ProcessId(2) && now >= ms(100));
    net.submit_at(0, 1, cmd(1, 1));
    net.submit_at(100, 1, cmd(1, 2));
    net.run_until(110);
    net.crashed[0] = true;
    net.submit_at(200, 3, cmd(3, 1));
    net.run_until(8000);
    let leaders: Vec<&Raft> = net.processes[1..].iter().filter(|r| r.role() == Role::Leader).collect();
    assert_eq!(leaders.len(), 1, "one leader among the survivors");
    let leader = leaders[0];
    assert!(leader.term() >= 2);
    let expected = [cmd(1, 1).id, cmd(1, 2).id, cmd(3, 1).id];
    for id in 2..=5 {
        let executed = net.executed_by(id);
        assert!(executed.starts_with(&expected[..1]), "S{id}: {executed:?}");
        assert!(executed.contains(&cmd(3, 1).id), "S{id} executed the new command: {executed:?}");
        assert_eq!(executed, net.executed_by(2), "same order everywhere");
    }
    // Entry 2 survives only if the winner held it; either way, no server
    // executed it out of order.
    let s2 = net.executed_by(2);
    if let Some(pos) = s2.iter().position(|&c| c == expected[1]) {
        assert_eq!(pos, 1);
    }
}

/// Garbage collection: entries every server holds and that committed are
/// discarded everywhere.
#[test]
fn raft_log_prefix_is_discarded_once_held_everywhere() {
    let delays = equal_delays(3, 10);
    let rows: Vec<&[u64]> = delays.iter().map(|r| r.as_slice()).collect();
    let mut net = TestNet::<Raft>::new(&rows, 1, 1, &Options::default());
    for seq in 1..=30 {
        net.submit_at(seq * 20, 1 + (seq % 3) as u32, cmd(seq as u32 % 8, seq));
    }
    net.run_until(2000);
    for r in &net.processes {
        assert_eq!(r.last_applied(), 30);
        assert!(r.log_len() <= 3, "server {} holds {} entries", r.id, r.log_len());
        assert!(r.pending.is_empty());
    }
}

/// Raft's configuration rule.
#[test]
fn raft_check() {
    assert!(Raft::check(3, 1).is_ok() && Raft::check(5, 1).is_ok() && Raft::check(5, 2).is_ok());
    assert!(Raft::check(2, 1).unwrap_err().contains("between 3 and 64"));
    assert!(Raft::check(5, 3).unwrap_err().contains("floor(n/2)"));
}
