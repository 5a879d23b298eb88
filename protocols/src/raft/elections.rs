//! The election options of raft.md §8: CheckQuorum (§8.2) and PreVote
//! (§8.3). Leader stickiness (§8.1) lives with the lease reads that need
//! it, in `reads.rs`.

use super::{Message, Raft, Role, Term, Timer};
use sim_core::ProcessId;
use sim_core::Time;
use sim_core::protocol::Outbox;

impl Raft {
    /// §8.2: every `ET_MIN` the leader counts the servers (itself
    /// included) whose last successful AppendEntries reply arrived within
    /// `ET_MIN`; without a majority it steps down, so a leader cut off in
    /// a minority stops taking commands and reads, and its clients retry
    /// elsewhere.
    pub(super) fn check_quorum(&mut self, now: Time, out: &mut Outbox<Self>) {
        if self.role != Role::Leader {
            return;
        }
        let me = self.id.index();
        let heard = self
            .heard_at
            .iter()
            .enumerate()
            .filter(|&(i, &at)| i == me || now.since(at) <= self.election_timeout_ns)
            .fold(0u64, |set, (i, _)| set | 1 << i);
        if self.is_quorum(heard) {
            out.set_timer(Timer::CheckQuorum, self.election_timeout_ns);
        } else {
            self.step_down(now, out);
        }
    }

    /// §8.3: before raising its term, a server asks whether a majority
    /// would vote for it in the next term. Nothing changes here but the
    /// round's bookkeeping: a server cut off from a majority keeps its
    /// term, and cannot disrupt the cluster with a huge one when it
    /// comes back.
    pub(super) fn start_pre_vote(&mut self, now: Time, out: &mut Outbox<Self>) {
        let term = self.current_term + 1;
        self.pre_vote_term = Some(term);
        self.pre_votes = 1 << self.id.index();
        self.reset_election_deadline(now); // a lost round is retried at the next timeout
        let msg = Message::RequestVote {
            term,
            last_log_index: self.log.last(),
            last_log_term: self.last_term(),
            pre_vote: true,
        };
        out.send_to_each(&self.others(), msg);
    }

    /// §8.3 at a voter: grant iff a RequestVote for `term` would be
    /// granted now (the term and `voted_for` rule, and the §5.2
    /// up-to-date check), without adopting the term, recording a vote or
    /// resetting the election timer.
    pub(super) fn handle_pre_vote(
        &mut self,
        from: ProcessId,
        term: Term,
        last_log_index: u64,
        last_log_term: Term,
        now: Time,
        out: &mut Outbox<Self>,
    ) {
        if self.ignores_vote_request(now) {
            return; // §8.1 applies to pre-votes too
        }
        let term_allows =
            term > self.current_term || (term == self.current_term && self.voted_for.is_none_or(|v| v == from));
        let granted = term_allows && self.is_up_to_date(last_log_index, last_log_term);
        // A grant names the term asked about, so the candidate can match
        // it to its round; a refusal names the voter's own term, which a
        // candidate behind it adopts (§4 rule 1).
        let reply_term = if granted { term } else { self.current_term };
        out.send(from, Message::RequestVoteReply { term: reply_term, granted, pre_vote: true });
    }

    /// §8.3 at the candidate: a real election once a majority (itself
    /// included) granted the pre-vote for the term it is about to take.
    pub(super) fn handle_pre_vote_reply(
        &mut self,
        from: ProcessId,
        term: Term,
        granted: bool,
        now: Time,
        out: &mut Outbox<Self>,
    ) {
        if !granted {
            self.observe_term(term, now, out);
            return;
        }
        if self.role == Role::Leader
            || !self.may_campaign()
            || self.pre_vote_term != Some(term)
            || term != self.current_term + 1
        {
            return; // a stale round
        }
        self.pre_votes |= 1 << from.index();
        if self.is_quorum(self.pre_votes) {
            self.start_election(now, out);
        }
    }
}
