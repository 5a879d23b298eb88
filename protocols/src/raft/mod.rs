//! Raft (Ongaro & Ousterhout 2014), as specified in `shared/specs/raft.md`.
//!
//! A leader appends every command to its log and replicates it with
//! pipelined AppendEntries; an entry of the leader's current term commits
//! once a majority holds it (§6.5), and everything up to it executes in
//! index order through a [`SlotExecutor`]. Followers learn the commit
//! index from the next AppendEntries.
//!
//! Clients talk to their co-located process, which forwards to the leader
//! (`forward = true`, §6.1). At commit the leader sends that process an
//! empty AppendEntries at once (the client's reply routed through its
//! process, classic README "Clients"); the consistency check makes it safe
//! to learn the commit index from it. A client at `p` waits
//! `d(p,L) + 2·d_q(L) + d(L,p)`.
//!
//! Elections (§5) run on randomized timeouts drawn from the process's own
//! seeded stream, with the RequestVote up-to-date check, the AppendEntries
//! consistency check with conflict hints, truncation of conflicting
//! suffixes, and the current-term commit rule. The configured leader
//! starts as leader of term 1 (as if it had won an election at time 0), so
//! failure-free runs measure the normal case from the first command.
//!
//! Raft always uses majorities and tolerates `⌊(n−1)/2⌋` crashes: the
//! run's `f` is ignored (except that a membership plan's configurations
//! must each tolerate it, `membership.rs`).
//!
//! Membership changes (§10) are a plan of single-server changes in the
//! options (`initial_members`, `membership_changes`); see `membership.rs`.

#[cfg(test)]
mod election_tests;
mod elections;
mod membership;
#[cfg(test)]
mod membership_tests;
mod messages;
#[cfg(test)]
mod read_tests;
mod reads;
#[cfg(test)]
mod tests;

pub use membership::{Configuration, MembershipChange, check_options};
pub use messages::{Entry, Message};
pub use reads::ReadMode;

use crate::shared::compact_log::CompactLog;
use crate::shared::pending;
use crate::shared::quorum;
use crate::shared::read_executor::{LogStep, ReadingSlotExecutor};
use crate::shared::slot_executor::ChosenSlot;
use rand::RngExt;
use sim_core::protocol::{Outbox, ProcessSetup, Protocol};
use sim_core::time::NS_PER_MS;
use sim_core::{ClientId, Command, FixedHashMap, ProcessId, Time};
use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;

/// A term number.
pub type Term = u64;

/// Most servers one Raft group may have (vote sets are 64-bit masks).
pub const MAX_PROCESSES: usize = 64;

/// `HB` (raft.md §8): a leader that sent nothing for this long sends an
/// empty AppendEntries.
pub const DEFAULT_HEARTBEAT_NS: u64 = 100 * NS_PER_MS;
/// `ET_MIN` (raft.md §8): election timeouts are drawn from
/// `[ET_MIN, 2·ET_MIN]`. WAN-scaled to `max(1000 ms, 4·RTT_max)` with
/// RTT_max = 400 ms, the largest RTT of the embedded matrices (a process
/// cannot see the delay matrix); set the option for other deployments.
pub const DEFAULT_ELECTION_TIMEOUT_NS: u64 = 1600 * NS_PER_MS;
/// Client retry (raft.md §8): a forwarded command not executed after this
/// long is forwarded again to the current leader.
pub const CLIENT_RETRY_NS: u64 = 2000 * NS_PER_MS;

/// Raft's options (raft.md §8); `None` takes the spec's default.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Options {
    /// `HB` in ns (default [`DEFAULT_HEARTBEAT_NS`]).
    pub heartbeat_ns: Option<u64>,
    /// `ET_MIN` in ns (default [`DEFAULT_ELECTION_TIMEOUT_NS`]); must
    /// exceed `HB + 2·RTT_max` and `2·HB`.
    pub election_timeout_ns: Option<u64>,
    /// How reads are served (§9): through the log (default), ReadIndex
    /// (at the client's process, §9.4), lease reads (which turn on
    /// leader stickiness, §8.1), or stale local reads (§9.5).
    pub reads: ReadMode,
    /// CheckQuorum (§8.2, default on): a leader that has not heard
    /// successful AppendEntries replies from a majority within `ET_MIN`
    /// steps down.
    pub check_quorum: Option<bool>,
    /// PreVote (§8.3, default off): a pre-vote round before a candidate
    /// raises its term.
    pub pre_vote: bool,
    /// Membership (§10): the initial configuration's members, as 0-based
    /// process indices (default: every process). The others are learners.
    pub initial_members: Option<Vec<usize>>,
    /// Membership (§10): single-server changes applied in order, one at a
    /// time, e.g. `[{ at_ms = 2000, add = 3 }, { at_ms = 4000, remove = 0 }]`.
    pub membership_changes: Vec<MembershipChange>,
    /// Planted bug (tests only): lease reads without leader stickiness
    /// (§8.1), so voters that still hear the leader elect another one
    /// while its lease is live; the verdict must catch the stale read.
    #[serde(skip)]
    pub plant_lease_without_stickiness: bool,
    /// Planted bug (tests only): a voter grants its vote without the
    /// §5.2 up-to-date check, so a candidate missing committed entries
    /// can win and overwrite them; the verdict must catch it.
    #[serde(skip)]
    pub plant_vote_without_log_check: bool,
    /// Planted bug (tests only): a restarted server forgets its durable
    /// `current_term` and `voted_for` (§10 keeps them), so it can vote
    /// twice in one term; the verdict must catch the split brain.
    #[serde(skip)]
    pub plant_restart_forgets_vote: bool,
}

/// A server's role (raft.md §1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// Follows the leader of its term.
    Follower,
    /// Asking for votes.
    Candidate,
    /// The leader of `current_term`.
    Leader,
}

/// Raft timers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Timer {
    /// Election timeout (re-armed lazily to the current deadline).
    Election,
    /// The leader's heartbeat, `HB` after its last AppendEntries to all.
    Heartbeat,
    /// Every `HB`: client re-forwards.
    Tick,
    /// The leader's CheckQuorum (§8.2), every `ET_MIN`.
    CheckQuorum,
}

/// One Raft server.
#[derive(Debug)]
pub struct Raft {
    id: ProcessId,
    processes: Vec<ProcessId>,
    heartbeat_ns: u64,
    election_timeout_ns: u64,
    plant_vote_without_log_check: bool,
    reads: ReadMode,
    plant_lease_without_stickiness: bool,
    plant_restart_forgets_vote: bool,
    check_quorum: bool,
    pre_vote: bool,
    rng: sim_core::rng::StreamRng,

    // Persistent state (§2).
    current_term: Term,
    voted_for: Option<ProcessId>,
    log: CompactLog<Entry>,
    /// Term of the entry at `log.base()` (0 for the empty prefix).
    base_term: Term,

    // Volatile state.
    commit_index: u64,
    last_applied: u64,
    role: Role,
    leader_hint: Option<ProcessId>,
    /// When a valid AppendEntries of the current leader last arrived
    /// (leader stickiness, §8.1).
    last_leader_contact: Time,
    election_deadline: Time,
    /// Entries every server holds and the leader committed (from the
    /// leader): the prefix that may be discarded.
    stable: u64,
    /// Per client, the highest seq executed: a retried command executes
    /// at most once (§6.6 sessions).
    executed_seq: FixedHashMap<ClientId, u64>,

    // Candidate.
    votes: u64,
    /// The term a pre-vote round (§8.3) is asking about, while one runs.
    pre_vote_term: Option<Term>,
    /// Who granted the running pre-vote round (a bit per server).
    pre_votes: u64,

    // Leader (§2).
    next_index: Vec<u64>,
    match_index: Vec<u64>,
    /// Per server, when its last successful AppendEntries reply of this
    /// term arrived (CheckQuorum, §8.2).
    heard_at: Vec<Time>,
    /// Per client, the highest seq in the log: drops duplicate forwards.
    appended_seq: FixedHashMap<ClientId, u64>,
    /// `(index, when the leader got the command)`, for commit latency.
    appended_at: VecDeque<(u64, Time)>,
    last_broadcast_at: Time,
    scratch: Vec<u64>,
    /// ReadIndex and lease bookkeeping (§9).
    read: reads::ReadState,

    /// Commands of this process's clients not executed here yet, with
    /// when they were last forwarded.
    pending: pending::Pending,

    /// The membership plan and the configurations in the log (§10); the
    /// latter are durable with the log.
    membership: membership::Membership,
}

impl Raft {
    /// Checks Raft's rules: at most [`MAX_PROCESSES`] servers; `f` must be
    /// valid for `n` but is ignored (Raft always tolerates a minority).
    pub fn check(n: usize, f: usize) -> Result<(), String> {
        if !(3..=MAX_PROCESSES).contains(&n) {
            return Err(format!("Raft needs between 3 and {MAX_PROCESSES} servers, got n = {n}"));
        }
        quorum::check_f(n, f)
    }

    /// The current term.
    pub fn term(&self) -> Term {
        self.current_term
    }

    /// The current role.
    pub fn role(&self) -> Role {
        self.role
    }

    /// The commit index.
    pub fn commit_index(&self) -> u64 {
        self.commit_index
    }

    /// The index of the last log entry.
    pub fn last_index(&self) -> u64 {
        self.log.last()
    }

    /// Entries applied (handed to the executor).
    pub fn last_applied(&self) -> u64 {
        self.last_applied
    }

    /// Entries still held (not discarded).
    pub fn log_len(&self) -> usize {
        self.log.len()
    }

    /// The terms of the held entries, in order.
    pub fn log_terms(&self) -> Vec<Term> {
        self.log.iter_after(0).map(|(_, e)| e.term).collect()
    }

    fn others(&self) -> Vec<ProcessId> {
        self.processes.iter().copied().filter(|&p| p != self.id).collect()
    }

    /// The term of the entry at `index`; entries at or below the base are
    /// committed, so only the base's own term is ever asked for.
    fn term_at(&self, index: u64) -> Term {
        if index <= self.log.base() { self.base_term } else { self.log.get(index).map_or(0, |e| e.term) }
    }

    fn last_term(&self) -> Term {
        self.term_at(self.log.last())
    }

    fn reset_election_deadline(&mut self, now: Time) {
        let timeout = self.rng.random_range(self.election_timeout_ns..=2 * self.election_timeout_ns);
        self.election_deadline = now.plus_ns(timeout);
    }

    /// §4 rule 1: a higher term turns any server into a follower.
    fn observe_term(&mut self, term: Term, now: Time, out: &mut Outbox<Self>) {
        if term > self.current_term {
            self.current_term = term;
            self.voted_for = None;
            self.leader_hint = None;
            self.pre_vote_term = None;
            if self.role == Role::Leader {
                self.step_down(now, out);
            }
            self.role = Role::Follower;
        }
    }

    /// The leader becomes a follower (a higher term, or CheckQuorum) and
    /// serves no more reads.
    fn step_down(&mut self, now: Time, out: &mut Outbox<Self>) {
        debug_assert_eq!(self.role, Role::Leader);
        self.role = Role::Follower;
        self.leader_hint = None;
        self.reset_election_deadline(now);
        out.set_timer(Timer::Election, self.election_deadline.since(now));
        out.cancel_timer(Timer::CheckQuorum);
        self.reset_reads(); // no reads served past leadership
    }

    // ---- Client commands (§6.1, §6.2) ----

    fn route_request(&mut self, cmd: Arc<Command>, origin: ProcessId, now: Time, out: &mut Outbox<Self>) {
        if origin == self.id && self.is_local_read(&cmd) {
            return self.route_read(cmd.id, now, out);
        }
        match (self.role, self.leader_hint) {
            (Role::Leader, _) => self.append(cmd, origin, now, out),
            (_, Some(leader)) if leader != self.id => out.send(leader, Message::Request { cmd, origin }),
            _ => {} // no known leader: the origin re-forwards later
        }
    }

    /// §6.2: the leader appends and replicates (pipelined).
    fn append(&mut self, cmd: Arc<Command>, origin: ProcessId, now: Time, out: &mut Outbox<Self>) {
        let (client, seq) = (cmd.id.client, cmd.id.seq);
        if self.executed_seq.get(&client).is_some_and(|&done| done >= seq) {
            if origin != self.id {
                self.send_heartbeat(origin, out); // executed: re-send the "reply"
            }
            return;
        }
        if self.appended_seq.get(&client).is_some_and(|&logged| logged >= seq) {
            return; // in the log already
        }
        self.appended_seq.insert(client, seq);
        let index = self.push_entry(Entry { term: self.current_term, cmd: Some(cmd), origin, config: None });
        self.appended_at.push_back((index, now));
        self.broadcast_append(now, out);
    }

    /// Sends every follower the entries it has not been sent yet.
    fn broadcast_append(&mut self, now: Time, out: &mut Outbox<Self>) {
        if self.reads == ReadMode::Lease {
            self.start_round(out.clock(now)); // every broadcast renews the lease
        }
        for s in self.others() {
            self.send_append(s, out);
        }
        self.last_broadcast_at = now;
    }

    /// Sends `log[next_index[s]..]` to `s` and moves `next_index` past it.
    fn send_append(&mut self, s: ProcessId, out: &mut Outbox<Self>) {
        let next = self.next_index[s.index()].max(self.log.base() + 1);
        let prev_log_index = next - 1;
        let entries = self.log.suffix_after(prev_log_index);
        self.next_index[s.index()] = self.log.last() + 1;
        out.send(s, self.append_entries(prev_log_index, entries));
    }

    /// An empty AppendEntries after the last entry sent to `s`.
    fn send_heartbeat(&self, s: ProcessId, out: &mut Outbox<Self>) {
        let prev_log_index = (self.next_index[s.index()] - 1).clamp(self.log.base(), self.log.last());
        out.send(s, self.append_entries(prev_log_index, Vec::new()));
    }

    fn append_entries(&self, prev_log_index: u64, entries: Vec<Entry>) -> Message {
        Message::AppendEntries {
            term: self.current_term,
            prev_log_index,
            prev_log_term: self.term_at(prev_log_index),
            entries,
            leader_commit: self.commit_index,
            stable: self.stable,
            hb_seq: self.read.hb_seq,
        }
    }

    // ---- Replication (§6.3 - §6.5) ----

    /// §6.3 at a follower.
    #[allow(clippy::too_many_arguments)]
    fn handle_append_entries(
        &mut self,
        from: ProcessId,
        term: Term,
        prev_log_index: u64,
        prev_log_term: Term,
        entries: Vec<Entry>,
        leader_commit: u64,
        (stable, hb_seq): (u64, u64),
        now: Time,
        out: &mut Outbox<Self>,
    ) {
        let reject = |conflict_index, conflict_term, term| Message::AppendEntriesReply {
            term,
            success: false,
            match_index: 0,
            conflict_index,
            conflict_term,
            hb_seq,
        };
        if term < self.current_term {
            out.send(from, reject(0, None, self.current_term)); // §4 rule 2
            return;
        }
        self.observe_term(term, now, out);
        if self.role == Role::Leader {
            return; // two leaders in one term cannot happen
        }
        self.role = Role::Follower; // §5.4: a candidate defers to the leader
        self.pre_vote_term = None;
        let new_leader = self.leader_hint != Some(from);
        self.leader_hint = Some(from);
        self.last_leader_contact = now;
        self.reset_election_deadline(now);
        if new_leader {
            self.reroute_pending(now, out);
        }
        // (a) consistency check.
        if prev_log_index > self.log.last() {
            out.send(from, reject(self.log.last() + 1, None, self.current_term));
            return;
        }
        if prev_log_index >= self.log.base() && self.term_at(prev_log_index) != prev_log_term {
            let conflict_term = self.term_at(prev_log_index);
            let mut first = prev_log_index;
            while first > self.log.base() + 1 && self.term_at(first - 1) == conflict_term {
                first -= 1;
            }
            out.send(from, reject(first, Some(conflict_term), self.current_term));
            return;
        }
        // (b) append, truncating only a conflicting suffix.
        let match_index = prev_log_index + entries.len() as u64;
        for (offset, entry) in entries.into_iter().enumerate() {
            let index = prev_log_index + 1 + offset as u64;
            if index <= self.log.base() {
                continue; // committed and discarded: matches
            }
            if index <= self.log.last() {
                if self.term_at(index) == entry.term {
                    continue;
                }
                debug_assert!(
                    index > self.commit_index || self.plant_vote_without_log_check,
                    "a committed entry conflicts"
                );
                self.truncate_log_after(index - 1);
            }
            self.push_entry(entry);
        }
        // (c) commit index, (d) reply.
        self.commit_index = self.commit_index.max(leader_commit.min(match_index));
        self.stable = self.stable.max(stable);
        self.apply_committed(out);
        let reply = Message::AppendEntriesReply {
            term: self.current_term,
            success: true,
            match_index,
            conflict_index: 0,
            conflict_term: None,
            hb_seq,
        };
        out.send(from, reply);
    }

    /// §6.4 at the leader, for a reply of its current term.
    fn handle_append_entries_reply(
        &mut self,
        from: ProcessId,
        success: bool,
        match_index: u64,
        conflict: (u64, Option<Term>),
        now: Time,
        out: &mut Outbox<Self>,
    ) {
        let s = from.index();
        if success {
            self.heard_at[s] = now;
            self.match_index[s] = self.match_index[s].max(match_index.min(self.log.last()));
            self.next_index[s] = self.next_index[s].max(self.match_index[s] + 1);
            self.advance_commit(now, out);
            return;
        }
        let (conflict_index, conflict_term) = conflict;
        let last_of_term = conflict_term
            .and_then(|t| self.log.iter_after(self.log.base()).filter(|(_, e)| e.term == t).map(|(i, _)| i).last());
        let next = last_of_term.map_or(conflict_index, |i| i + 1).max(self.match_index[s] + 1);
        if next < self.next_index[s] {
            self.next_index[s] = next;
            self.send_append(from, out);
        }
    }

    /// §6.5: commit the largest N held by a majority whose entry is of the
    /// current term.
    fn advance_commit(&mut self, now: Time, out: &mut Outbox<Self>) {
        let me = self.id.index();
        let last = self.log.last();
        // Over the configuration in force (§10): a removed leader counts
        // only the members.
        let Some(n_index) = self.majority_value(|raft, i| if i == me { last } else { raft.match_index[i] }) else {
            return;
        };
        if n_index <= self.commit_index || self.term_at(n_index) != self.current_term {
            return; // earlier terms commit only under a current-term entry
        }
        let mut origins = 0u64;
        for (_, entry) in self.log.iter_after(self.commit_index).take_while(|&(i, _)| i <= n_index) {
            origins |= 1 << entry.origin.index();
        }
        while self.appended_at.front().is_some_and(|&(i, _)| i <= n_index) {
            let (_, at) = self.appended_at.pop_front().expect("checked");
            out.commit_latency(now.since(at));
        }
        self.commit_index = n_index;
        self.stable =
            self.match_index.iter().enumerate().filter(|&(i, _)| i != me).map(|(_, &m)| m).fold(n_index, u64::min);
        self.apply_committed(out);
        self.release_held_reads(now, out);
        self.step_down_if_removed(now, out);
        origins &= !(1 << me);
        for s in self.processes.clone() {
            if origins & (1 << s.index()) != 0 {
                self.send_heartbeat(s, out); // the origin learns the commit now
            }
        }
    }

    /// §4 rule 3: applies committed entries in index order.
    fn apply_committed(&mut self, out: &mut Outbox<Self>) {
        let upto = self.commit_index.min(self.log.last());
        while self.last_applied < upto {
            let index = self.last_applied + 1;
            let entry = self.log.get(index).expect("entries above the applied prefix are held");
            let cmd = entry.cmd.as_ref().filter(|cmd| {
                let done = self.executed_seq.entry(cmd.id.client).or_insert(0);
                let fresh = *done < cmd.id.seq;
                *done = (*done).max(cmd.id.seq);
                fresh
            });
            if let Some(cmd) = &entry.cmd {
                // Also a command whose client retried here after it was
                // forwarded from elsewhere.
                self.pending.remove(&cmd.id);
            }
            out.execute(LogStep::Slot(ChosenSlot { slot: index, cmd: cmd.cloned() }));
            self.last_applied = index;
        }
        let floor = self.stable.min(self.last_applied);
        if floor > self.log.base() {
            self.base_term = self.term_at(floor);
            self.discard_log_through(floor);
        }
    }

    // ---- Elections (§5) ----

    fn start_election(&mut self, now: Time, out: &mut Outbox<Self>) {
        self.pre_vote_term = None;
        self.current_term += 1;
        self.role = Role::Candidate;
        self.voted_for = Some(self.id);
        self.leader_hint = None;
        self.votes = 1 << self.id.index();
        self.reset_election_deadline(now);
        out.recovery_started();
        let msg = Message::RequestVote {
            term: self.current_term,
            last_log_index: self.log.last(),
            last_log_term: self.last_term(),
            pre_vote: false,
        };
        out.send_to_each(&self.others(), msg);
    }

    /// §5.2.
    fn handle_request_vote(
        &mut self,
        from: ProcessId,
        term: Term,
        last_log_index: u64,
        last_log_term: Term,
        now: Time,
        out: &mut Outbox<Self>,
    ) {
        if self.ignores_vote_request(now) {
            return; // §8.1: no term update, no grant
        }
        self.observe_term(term, now, out);
        let granted = term == self.current_term
            && self.voted_for.is_none_or(|v| v == from)
            && self.is_up_to_date(last_log_index, last_log_term);
        if granted {
            self.voted_for = Some(from);
            self.reset_election_deadline(now);
        }
        out.send(from, Message::RequestVoteReply { term: self.current_term, granted, pre_vote: false });
    }

    /// §5.2: a candidate's log is at least as up to date as this one.
    fn is_up_to_date(&self, last_log_index: u64, last_log_term: Term) -> bool {
        self.plant_vote_without_log_check
            || last_log_term > self.last_term()
            || (last_log_term == self.last_term() && last_log_index >= self.log.last())
    }

    /// §5.3.
    fn handle_request_vote_reply(
        &mut self,
        from: ProcessId,
        term: Term,
        granted: bool,
        now: Time,
        out: &mut Outbox<Self>,
    ) {
        self.observe_term(term, now, out);
        if self.role != Role::Candidate || term != self.current_term || !granted {
            return;
        }
        self.votes |= 1 << from.index();
        if self.is_quorum(self.votes) {
            out.leader_change();
            out.recovery_finished();
            self.become_leader(now, out);
            let noop = Entry { term: self.current_term, cmd: None, origin: self.id, config: None };
            self.push_entry(noop); // commits the earlier terms' entries (§5.3)
            self.broadcast_append(now, out);
        }
    }

    fn become_leader(&mut self, now: Time, out: &mut Outbox<Self>) {
        self.role = Role::Leader;
        self.leader_hint = Some(self.id);
        let next = self.log.last() + 1;
        self.next_index.iter_mut().for_each(|n| *n = next);
        self.match_index.iter_mut().for_each(|m| *m = 0);
        self.heard_at.iter_mut().for_each(|t| *t = now); // a full ET_MIN of grace
        self.appended_at.clear();
        self.reset_reads();
        self.appended_seq = self.executed_seq.clone();
        for (_, entry) in self.log.iter_after(self.last_applied) {
            if let Some(cmd) = &entry.cmd {
                let logged = self.appended_seq.entry(cmd.id.client).or_insert(0);
                *logged = (*logged).max(cmd.id.seq);
            }
        }
        self.last_broadcast_at = now;
        out.cancel_timer(Timer::Election);
        out.set_timer(Timer::Heartbeat, self.heartbeat_ns);
        if self.check_quorum {
            out.set_timer(Timer::CheckQuorum, self.election_timeout_ns);
        }
        self.reroute_pending(now, out);
    }

    fn reroute_pending(&mut self, now: Time, out: &mut Outbox<Self>) {
        for cmd in pending::due(&mut self.pending, now, 0) {
            self.route_request(cmd, self.id, now, out);
        }
    }

    // ---- Timers ----

    fn election_timeout(&mut self, now: Time, out: &mut Outbox<Self>) {
        if self.role == Role::Leader {
            return; // re-armed on stepping down
        }
        if now >= self.election_deadline && !self.may_campaign() {
            self.reset_election_deadline(now); // a learner never campaigns (§10)
        } else if now >= self.election_deadline {
            if self.pre_vote {
                self.start_pre_vote(now, out); // §8.3
            } else {
                self.start_election(now, out); // §5.1 (and §5.4 split votes)
            }
        }
        out.set_timer(Timer::Election, self.election_deadline.since(now));
    }

    fn heartbeat(&mut self, now: Time, out: &mut Outbox<Self>) {
        if self.role != Role::Leader {
            return;
        }
        let idle = now.since(self.last_broadcast_at);
        if idle >= self.heartbeat_ns {
            if self.reads == ReadMode::Lease {
                self.start_round(out.clock(now)); // renews the lease
            }
            for s in self.others() {
                self.send_heartbeat(s, out);
            }
            self.last_broadcast_at = now;
            out.set_timer(Timer::Heartbeat, self.heartbeat_ns);
        } else {
            out.set_timer(Timer::Heartbeat, self.heartbeat_ns - idle);
        }
    }

    fn tick(&mut self, now: Time, out: &mut Outbox<Self>) {
        out.set_timer(Timer::Tick, self.heartbeat_ns);
        for cmd in pending::due(&mut self.pending, now, CLIENT_RETRY_NS) {
            self.route_request(cmd, self.id, now, out);
        }
        self.change_membership(now, out);
    }
}

impl Protocol for Raft {
    type Message = Message;
    type Timer = Timer;
    type Executor = ReadingSlotExecutor;
    type Options = Options;

    const RESTARTS: bool = true;

    /// §10 "Follower crash and restart" (for any server, the leader
    /// included): `current_term`, `voted_for` and the log are durable
    /// (§2) and kept. The state machine is kept as a snapshot, not
    /// rebuilt: the engine keeps the replica's store, client table and
    /// executor across the crash, so what was applied stays applied
    /// (re-applying the log would execute commands twice). The snapshot
    /// covers `1..=last_applied` (restored from the executor), and so do
    /// the per-client executed seqs that go with it; the discarded log
    /// prefix is at most that. `commit_index` restarts at the snapshot's
    /// last index, as a snapshot's `last_included_index` sets it: the
    /// volatile commit index beyond it is not reused, the leader's next
    /// AppendEntries teaches it. Everything else comes back fresh: a
    /// follower with no leader state, candidacy, reads or forwarded
    /// commands (its clients retry). With lease reads it counts the
    /// restart as leader contact, so it grants no vote for `ET_MIN`: it
    /// may have acknowledged a lease round just before crashing (§8.1).
    fn restart(&mut self, mut fresh: Self, executor: &mut ReadingSlotExecutor, now: Time, out: &mut Outbox<Self>) {
        executor.forget_waiting();
        let applied = executor.next_slot() - 1;
        debug_assert_eq!(applied, self.last_applied, "Raft executes every committed entry at once, in order");
        debug_assert!(self.log.base() <= applied && applied <= self.log.last());
        if !fresh.plant_restart_forgets_vote {
            fresh.current_term = self.current_term;
            fresh.voted_for = self.voted_for;
        }
        fresh.log = std::mem::replace(&mut self.log, CompactLog::new());
        fresh.base_term = self.base_term;
        fresh.membership = self.membership.clone(); // the log's configurations
        fresh.executed_seq = std::mem::take(&mut self.executed_seq);
        fresh.stable = fresh.log.base();
        fresh.last_applied = applied;
        fresh.commit_index = applied;
        fresh.role = Role::Follower;
        fresh.leader_hint = self.leader_hint.filter(|&leader| leader != self.id);
        fresh.last_leader_contact = now;
        *self = fresh;
        self.start(now, out);
    }

    fn new(setup: ProcessSetup, options: &Options) -> (Self, ReadingSlotExecutor) {
        let n = setup.n();
        let membership = membership::Membership::new(options, n);
        // The bootstrapped leader must be a member: the configured one if
        // it is, else the first initial member.
        let leader = setup
            .config
            .leader
            .filter(|p| membership.initial() & (1 << p.index()) != 0)
            .or_else(|| setup.processes.iter().copied().find(|p| membership.initial() & (1 << p.index()) != 0))
            .unwrap_or(setup.processes[0]);
        let raft = Raft {
            id: setup.id,
            processes: setup.processes,
            heartbeat_ns: options.heartbeat_ns.unwrap_or(DEFAULT_HEARTBEAT_NS),
            election_timeout_ns: options.election_timeout_ns.unwrap_or(DEFAULT_ELECTION_TIMEOUT_NS),
            plant_vote_without_log_check: options.plant_vote_without_log_check,
            reads: options.reads,
            plant_lease_without_stickiness: options.plant_lease_without_stickiness,
            plant_restart_forgets_vote: options.plant_restart_forgets_vote,
            check_quorum: options.check_quorum.unwrap_or(true),
            pre_vote: options.pre_vote,
            rng: setup.rng,
            // Bootstrapped: term 1, won by the configured leader.
            current_term: 1,
            voted_for: Some(leader),
            log: CompactLog::new(),
            base_term: 0,
            commit_index: 0,
            last_applied: 0,
            role: if setup.id == leader { Role::Leader } else { Role::Follower },
            leader_hint: Some(leader),
            last_leader_contact: Time::ZERO,
            election_deadline: Time::ZERO,
            stable: 0,
            executed_seq: FixedHashMap::default(),
            votes: 0,
            pre_vote_term: None,
            pre_votes: 0,
            next_index: vec![1; n],
            match_index: vec![0; n],
            heard_at: vec![Time::ZERO; n],
            appended_seq: FixedHashMap::default(),
            appended_at: VecDeque::new(),
            last_broadcast_at: Time::ZERO,
            scratch: Vec::with_capacity(n),
            read: reads::ReadState::default(),
            pending: BTreeMap::new(),
            membership,
        };
        let mut raft = raft;
        raft.reset_reads();
        (raft, ReadingSlotExecutor::new())
    }

    fn start(&mut self, now: Time, out: &mut Outbox<Self>) {
        out.set_timer(Timer::Tick, self.heartbeat_ns);
        if self.role == Role::Leader {
            out.set_timer(Timer::Heartbeat, self.heartbeat_ns);
            if self.check_quorum {
                out.set_timer(Timer::CheckQuorum, self.election_timeout_ns);
            }
        } else {
            self.reset_election_deadline(now);
            out.set_timer(Timer::Election, self.election_deadline.since(now));
        }
    }

    fn submit(&mut self, cmd: Arc<Command>, now: Time, out: &mut Outbox<Self>) {
        self.pending.insert(cmd.id, (cmd.clone(), now));
        self.route_request(cmd, self.id, now, out);
    }

    fn handle(&mut self, from: ProcessId, msg: Message, now: Time, out: &mut Outbox<Self>) {
        if from.index() >= self.processes.len() || from == self.id {
            return;
        }
        match msg {
            Message::Request { cmd, origin } => self.route_request(cmd, origin, now, out),
            Message::RequestVote { term, last_log_index, last_log_term, pre_vote: false } => {
                self.handle_request_vote(from, term, last_log_index, last_log_term, now, out)
            }
            Message::RequestVote { term, last_log_index, last_log_term, pre_vote: true } => {
                self.handle_pre_vote(from, term, last_log_index, last_log_term, now, out)
            }
            Message::RequestVoteReply { term, granted, pre_vote: false } => {
                self.handle_request_vote_reply(from, term, granted, now, out)
            }
            Message::RequestVoteReply { term, granted, pre_vote: true } => {
                self.handle_pre_vote_reply(from, term, granted, now, out)
            }
            Message::AppendEntries { term, prev_log_index, prev_log_term, entries, leader_commit, stable, hb_seq } => {
                self.handle_append_entries(
                    from,
                    term,
                    prev_log_index,
                    prev_log_term,
                    entries,
                    leader_commit,
                    (stable, hb_seq),
                    now,
                    out,
                )
            }
            Message::AppendEntriesReply { term, success, match_index, conflict_index, conflict_term, hb_seq } => {
                self.observe_term(term, now, out);
                if self.role == Role::Leader && term == self.current_term {
                    // Any reply of this term shows `from` still follows us (§9.2c).
                    self.on_echo(from, hb_seq, out);
                    let conflict = (conflict_index, conflict_term);
                    self.handle_append_entries_reply(from, success, match_index, conflict, now, out);
                }
            }
            Message::ReadIndexRequest { id } => self.leader_read(id, from, now, out),
            Message::ReadIndexReply { id, read_index } => self.serve_read(id, read_index, out),
        }
    }

    fn handle_timer(&mut self, timer: Timer, now: Time, out: &mut Outbox<Self>) {
        match timer {
            Timer::Election => self.election_timeout(now, out),
            Timer::Heartbeat => self.heartbeat(now, out),
            Timer::Tick => self.tick(now, out),
            Timer::CheckQuorum => self.check_quorum(now, out),
        }
    }
}
