//! Tests of CheckQuorum (raft.md §8.2), PreVote (§8.3) and restarts
//! (§10 "Follower crash and restart") on `shared::test_net`.

use super::*;
use crate::shared::test_net::{TestNet, setup};
use sim_core::CommandId;
use sim_core::{ClientId, Op};

fn cmd(client: u32, seq: u64) -> Arc<Command> {
    let id = CommandId { client: ClientId(client), seq };
    Arc::new(Command { id, ops: vec![(1, Op::Put(seq))].into(), payload_bytes: 0 })
}

fn ms(ms: u64) -> Time {
    Time::from_ns(ms * NS_PER_MS)
}

fn equal_delays(n: usize, ms: u64) -> Vec<Vec<u64>> {
    (0..n).map(|i| (0..n).map(|j| if i == j { 0 } else { ms }).collect()).collect()
}

/// Five servers 20 ms apart, leader S1, with `options`.
fn five(options: &Options) -> TestNet<Raft> {
    let delays = equal_delays(5, 20);
    let rows: Vec<&[u64]> = delays.iter().map(|r| r.as_slice()).collect();
    TestNet::<Raft>::new(&rows, 2, 1, options)
}

/// Drops every message between `cut` and the others from `from_ms` on
/// (until `until_ms`, if any).
fn isolate(net: &mut TestNet<Raft>, cut: u32, from_ms: u64, until_ms: Option<u64>) {
    net.drop_rule = Box::new(move |now, from, to, _| {
        now >= ms(from_ms) && until_ms.is_none_or(|u| now < ms(u)) && (from == ProcessId(cut)) != (to == ProcessId(cut))
    });
}

/// raft.md §8.2: S1, cut off from everyone at 100 ms, hears no
/// successful reply for ET_MIN and steps down by its next check (at most
/// 2·ET_MIN = 3.2 s); a command submitted to it afterwards is not
/// appended. Without CheckQuorum it leads its old term forever.
#[test]
fn raft_8_2_check_quorum_steps_a_cut_off_leader_down() {
    let mut net = five(&Options::default());
    isolate(&mut net, 1, 100, None);
    net.run_until(3300);
    assert_eq!(net.processes[0].role(), Role::Follower, "stepped down");
    let leaders = net.processes[1..].iter().filter(|r| r.role() == Role::Leader).count();
    assert_eq!(leaders, 1, "the majority elected another leader");
    let before = net.processes[0].last_index();
    net.submit_at(3400, 1, cmd(1, 1));
    net.run_until(3500);
    assert_eq!(net.processes[0].last_index(), before, "no longer takes commands");

    let mut stubborn = five(&Options { check_quorum: Some(false), ..Options::default() });
    isolate(&mut stubborn, 1, 100, None);
    stubborn.run_until(3300);
    assert_eq!(stubborn.processes[0].role(), Role::Leader, "without CheckQuorum it never learns");
    assert_eq!(stubborn.processes[0].term(), 1);
}

/// raft.md §8.2: a leader that hears its majority keeps leading for good.
#[test]
fn raft_8_2_check_quorum_keeps_a_connected_leader() {
    let mut net = five(&Options::default());
    isolate(&mut net, 5, 100, None); // a minority cut off: S1 still has 4 of 5
    net.run_until(10_000);
    assert_eq!(net.processes[0].role(), Role::Leader);
    assert_eq!(net.processes[0].term(), 1);
}

/// raft.md §8.3: a pre-vote changes nothing at the voter (term, vote,
/// election timer) and is granted under the RequestVote rules; a refusal
/// carries the voter's term.
#[test]
fn raft_8_3_pre_vote_changes_no_state() {
    let options = Options { pre_vote: true, ..Options::default() };
    let mut voter = Raft::new(setup(2, 3, 1, 1), &options).0;
    voter.log.push(Entry { term: 1, cmd: None, origin: ProcessId(1), config: None });
    let deadline = voter.election_deadline;
    let ask = |last_log_index| Message::RequestVote { term: 2, last_log_index, last_log_term: 1, pre_vote: true };
    let mut out = Outbox::new();
    voter.handle(ProcessId(3), ask(1), ms(5), &mut out);
    assert_eq!(out.sent(), vec![(ProcessId(3), Message::RequestVoteReply { term: 2, granted: true, pre_vote: true })]);
    assert_eq!((voter.term(), voter.voted_for, voter.election_deadline), (1, Some(ProcessId(1)), deadline));
    let mut out = Outbox::new();
    voter.handle(ProcessId(3), ask(0), ms(6), &mut out);
    assert_eq!(
        out.sent(),
        vec![(ProcessId(3), Message::RequestVoteReply { term: 1, granted: false, pre_vote: true })],
        "a shorter log fails the up-to-date check"
    );
}

/// raft.md §8.3: the candidate raises its term only after a majority of
/// pre-votes for the next term.
#[test]
fn raft_8_3_an_election_follows_a_majority_of_pre_votes() {
    let options = Options { pre_vote: true, ..Options::default() };
    let mut candidate = Raft::new(setup(3, 3, 1, 1), &options).0;
    let mut out = Outbox::new();
    candidate.start(ms(0), &mut out);
    let mut out = Outbox::new();
    candidate.handle_timer(Timer::Election, ms(10_000), &mut out);
    assert_eq!(candidate.term(), 1, "a pre-vote round, not an election");
    assert!(matches!(out.sent()[0].1, Message::RequestVote { term: 2, pre_vote: true, .. }));
    let mut out = Outbox::new();
    let grant = Message::RequestVoteReply { term: 2, granted: true, pre_vote: true };
    candidate.handle(ProcessId(1), grant, ms(10_020), &mut out);
    assert_eq!((candidate.term(), candidate.role()), (2, Role::Candidate), "2 of 3 pre-votes: a real election");
    assert!(matches!(out.sent()[0].1, Message::RequestVote { term: 2, pre_vote: false, .. }));
}

/// raft.md §8.3: S5 is cut off for 20 s while S1 keeps committing. Without
/// PreVote its term climbs with each timeout, and when it comes back its
/// higher term deposes S1 and raises everyone's term; with PreVote its
/// pre-votes go unanswered, its term stays 1, and the cluster keeps S1 in
/// term 1.
#[test]
fn raft_8_3_a_rejoining_server_does_not_raise_the_term_with_pre_vote() {
    let run = |pre_vote| {
        let mut net = five(&Options { pre_vote, ..Options::default() });
        isolate(&mut net, 5, 100, Some(20_000));
        for seq in 1..=20 {
            net.submit_at(seq * 500, 1 + (seq % 4) as u32, cmd(seq as u32, 1));
        }
        net.run_until(19_900);
        let cut_off_term = net.processes[4].term();
        net.run_until(26_000);
        let terms: Vec<Term> = net.processes.iter().map(|r| r.term()).collect();
        assert!(terms.iter().all(|&t| t == terms[0]), "pre_vote {pre_vote}: terms {terms:?}");
        (cut_off_term, terms[0], net.processes[0].role())
    };
    let (cut_off_term, cluster_term, _) = run(false);
    assert!(cut_off_term >= 5, "S5's term climbed to {cut_off_term}");
    assert!(cluster_term > cut_off_term, "S5's term deposed S1: the cluster is in term {cluster_term}");
    let (cut_off_term, cluster_term, s1) = run(true);
    assert_eq!((cut_off_term, cluster_term, s1), (1, 1, Role::Leader), "with PreVote nothing moved");
}

/// raft.md §10: a follower restarts with its term, vote and log, but with
/// the commit index of its applied snapshot only; it learns the rest from
/// the leader and executes nothing twice.
#[test]
fn raft_10_follower_restart_keeps_term_vote_and_log() {
    let mut net = five(&Options::default());
    net.submit_at(0, 1, cmd(1, 1));
    net.run_until(200);
    // S3 crashes with entry 2 in its log but its commit not yet learned.
    net.drop_rule = Box::new(|now, from, to, msg| {
        now >= ms(300)
            && from == ProcessId(1)
            && to == ProcessId(3)
            && matches!(msg, Message::AppendEntries { entries, .. } if entries.is_empty())
    });
    net.submit_at(300, 1, cmd(1, 2));
    net.run_until(400);
    let crashed = &net.processes[2];
    assert_eq!((crashed.last_index(), crashed.commit_index(), crashed.last_applied()), (2, 1, 1));
    net.crashed[2] = true;
    net.run_until(500);
    let fresh = Raft::new(setup(3, 5, 2, 1), &Options::default()).0;
    net.restart(3, fresh);
    let restarted = &net.processes[2];
    assert_eq!((restarted.term(), restarted.voted_for, restarted.role()), (1, Some(ProcessId(1)), Role::Follower));
    assert_eq!((restarted.last_index(), restarted.commit_index(), restarted.last_applied()), (2, 1, 1));
    net.drop_rule = Box::new(|_, _, _, _| false);
    net.run_until(1000);
    assert_eq!(net.processes[2].commit_index(), 2, "learned from the leader's next AppendEntries");
    assert_eq!(net.executed_by(3), vec![cmd(1, 1).id, cmd(1, 2).id], "each once, in order");
    assert_eq!(net.processes[0].role(), Role::Leader, "a follower's restart deposes nobody");
}
