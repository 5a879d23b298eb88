//! Failure handling (two-phase-commit.md §7; §9 for 3PC), with failure
//! detection only.
//!
//! 2PC: a participant in doubt for `DECISION_TIMEOUT` asks every peer
//! (cooperative termination, §7.3) and again every `TERM_RETRY`. A peer
//! that knows the decision answers it; one that never voted YES answers
//! ABORT and refuses the transaction from then on; one in doubt answers
//! UNKNOWN. The coordinator answers from its COMMIT record, deciding ABORT
//! first if it is still collecting votes, and ABORT without a record
//! (presumed abort, §7.2). With every reachable peer in doubt the
//! participant is *blocked* ([`super::Blocked`]), holding its locks until
//! the coordinator comes back: its clients' commands do not complete.
//!
//! 3PC: the participant in doubt becomes the termination coordinator when
//! its rank comes (the lowest id other than the suspected coordinator
//! first, `TERM_STAGGER` apart: the simulator has no perfect failure
//! detector, so "the lowest id alive" is approximated by waiting for the
//! lower ids to act first; a poll from a lower id makes a process stand
//! down). It polls every state for `TERM_COLLECT` (or until all answered)
//! and applies §9's rule. Under partitions or false suspicion two sides
//! decide differently: the atomicity violation the spec describes, which
//! the verdict sees as replicas that diverge.
//!
//! Restart (§7.2, §7.4): the WAL is what `restart` keeps. A participant
//! re-acquires the locks of its undecided transactions and asks their
//! coordinators; a coordinator re-sends COMMIT for its COMMIT records
//! without END and has forgotten every other transaction (presumed
//! abort). The txid counter is durable too, so txids are never reused.

use super::{AtomicCommit, Message, Outbox, Outcome, Termination, Timer, Txid, TxnState};
use sim_core::{ProcessId, Time};

impl<const THREE_PHASE: bool> AtomicCommit<THREE_PHASE> {
    /// When a newly prepared (or pre-committed) participant starts
    /// termination: `DECISION_TIMEOUT` in 2PC; in 3PC plus its rank among
    /// the processes other than the coordinator (the coordinator itself
    /// last).
    pub(super) fn first_termination_delay(&self, txid: Txid) -> u64 {
        if !THREE_PHASE {
            return self.decision_timeout_ns;
        }
        let rank = if self.id == txid.coordinator {
            self.processes.len() - 1
        } else {
            self.processes.iter().filter(|&&p| p != txid.coordinator && p < self.id).count()
        };
        self.decision_timeout_ns + rank as u64 * self.term_stagger_ns
    }

    /// `DECISION_TIMEOUT` / `TERM_RETRY` at a participant.
    pub(super) fn decision_timeout(&mut self, txid: Txid, now: Time, out: &mut Outbox<Self>) {
        let Some(txn) = self.participant.get_mut(&txid) else { return };
        if txn.state.is_decided() {
            return;
        }
        // In doubt past the timeout: blocked until some peer answers.
        let first_attempt = !txn.blocked;
        txn.blocked = true;
        if THREE_PHASE {
            self.start_termination(txid, now, out);
            return;
        }
        if first_attempt {
            out.recovery_started();
        }
        let others = self.others();
        out.send_to_each(&others, Message::DecisionReq { txid });
        out.set_timer(Timer::Decision(txid), self.term_retry_ns);
    }

    /// A peer asks for the decision (§7.2, §7.3).
    pub(super) fn handle_decision_req(&mut self, from: ProcessId, txid: Txid, out: &mut Outbox<Self>) {
        let outcome = self.outcome_for(txid, out);
        out.send(from, Message::DecisionResp { txid, outcome });
    }

    fn outcome_for(&mut self, txid: Txid, out: &mut Outbox<Self>) -> Outcome {
        if txid.coordinator == self.id
            && let Some(txn) = self.coordinating.get(&txid)
        {
            return match txn.phase {
                super::Phase::Committed => Outcome::Commit,
                // 3PC: participants may already be pre-committed.
                super::Phase::PreCommitting => Outcome::Unknown,
                super::Phase::Collecting => {
                    // Never answer ABORT and commit later: abort first.
                    self.abort_as_coordinator(txid, None, out);
                    Outcome::Abort
                }
            };
        }
        match self.participant.get(&txid).map(|t| t.state) {
            Some(TxnState::Committed) => Outcome::Commit,
            Some(TxnState::Aborted) => Outcome::Abort,
            Some(TxnState::PreCommitted) => Outcome::Unknown,
            Some(TxnState::Prepared) if txid.coordinator == self.id && !THREE_PHASE => {
                // The coordinator without a record: presumed abort (§7.2).
                self.abort_locally(txid, out);
                Outcome::Abort
            }
            Some(TxnState::Prepared) => Outcome::Unknown,
            None => {
                // Never voted: refuse from now on, so ABORT is safe (§7.3).
                self.refuse(txid);
                Outcome::Abort
            }
        }
    }

    /// Records that this process will never vote YES on `txid`.
    fn refuse(&mut self, txid: Txid) {
        let record =
            super::ParticipantTxn { cmd: None, state: TxnState::Aborted, prepared_at: Time::ZERO, blocked: false };
        self.participant.insert(txid, record);
    }

    /// A peer's answer to DECISION_REQ.
    pub(super) fn handle_decision_resp(&mut self, txid: Txid, outcome: Outcome, now: Time, out: &mut Outbox<Self>) {
        let Some(txn) = self.participant.get_mut(&txid) else { return };
        if txn.state.is_decided() {
            return;
        }
        if outcome != Outcome::Unknown && txn.blocked && !THREE_PHASE {
            out.recovery_finished(); // cooperative termination succeeded
        }
        match outcome {
            Outcome::Commit => self.commit_locally(txid, now, out),
            Outcome::Abort => self.abort_locally(txid, out),
            Outcome::Unknown => txn.blocked = true,
        }
    }

    /// `ACK_RESEND`: COMMIT again to whoever has not acked.
    pub(super) fn resend_commit(&mut self, txid: Txid, out: &mut Outbox<Self>) {
        let Some(txn) = self.coordinating.get(&txid) else { return };
        if txn.phase != super::Phase::Committed {
            return;
        }
        let missing: Vec<ProcessId> =
            self.processes.iter().copied().filter(|&p| txn.answered & Self::bit(p) == 0).collect();
        out.send_to_each(&missing, Message::Decision { txid, commit: true });
        out.set_timer(Timer::AckResend(txid), self.term_retry_ns);
    }

    // ---- 3PC termination (§9) ----

    fn start_termination(&mut self, txid: Txid, _now: Time, out: &mut Outbox<Self>) {
        let own = self.participant[&txid].state;
        let mut states = vec![None; self.processes.len()];
        states[self.id.index()] = Some(own);
        self.terminations.insert(txid, Termination { states, pre_committing: None });
        out.recovery_started();
        let others = self.others();
        out.send_to_each(&others, Message::StateReq { txid });
        out.set_timer(Timer::TermCollect(txid), self.term_collect_ns);
        // If this round stalls (cut off), try again later.
        out.set_timer(Timer::Decision(txid), 2 * self.term_collect_ns + self.term_retry_ns);
    }

    /// A termination coordinator polls this process.
    pub(super) fn handle_state_req(&mut self, from: ProcessId, txid: Txid, _now: Time, out: &mut Outbox<Self>) {
        let state = match self.participant.get(&txid) {
            Some(txn) => txn.state,
            None => {
                self.refuse(txid);
                TxnState::Aborted
            }
        };
        out.send(from, Message::StateResp { txid, state });
        if !state.is_decided() {
            // Stand down for a lower-id termination coordinator; either
            // way, wait for its round before starting one.
            if from < self.id {
                self.terminations.remove(&txid);
            }
            out.set_timer(Timer::Decision(txid), 2 * self.term_collect_ns + self.term_retry_ns);
        }
    }

    pub(super) fn handle_state_resp(
        &mut self,
        from: ProcessId,
        txid: Txid,
        state: TxnState,
        now: Time,
        out: &mut Outbox<Self>,
    ) {
        let Some(termination) = self.terminations.get_mut(&txid) else { return };
        if termination.pre_committing.is_some() {
            return;
        }
        termination.states[from.index()] = Some(state);
        if termination.states.iter().all(Option::is_some) {
            self.decide_termination(txid, now, out);
        }
    }

    /// `TERM_COLLECT` elapsed: decide with the states that came (the
    /// silent are taken as crashed), or commit without the missing
    /// PRE_ACKs.
    pub(super) fn termination_deadline(&mut self, txid: Txid, now: Time, out: &mut Outbox<Self>) {
        let Some(termination) = self.terminations.get(&txid) else { return };
        if termination.pre_committing.is_some() {
            self.finish_termination(txid, true, out);
        } else {
            self.decide_termination(txid, now, out);
        }
    }

    /// §9's rule on the states collected.
    fn decide_termination(&mut self, txid: Txid, _now: Time, out: &mut Outbox<Self>) {
        let termination = &self.terminations[&txid];
        let known = || termination.states.iter().flatten();
        if known().any(|&s| s == TxnState::Aborted) {
            self.finish_termination(txid, false, out);
        } else if known().any(|&s| s == TxnState::Committed) {
            self.finish_termination(txid, true, out);
        } else if known().any(|&s| s == TxnState::PreCommitted) {
            let uncertain: Vec<ProcessId> = self
                .processes
                .iter()
                .copied()
                .filter(|p| termination.states[p.index()] == Some(TxnState::Prepared))
                .collect();
            if uncertain.is_empty() {
                self.finish_termination(txid, true, out);
                return;
            }
            let waiting = uncertain.iter().fold(0, |bits, &p| bits | Self::bit(p));
            self.terminations.get_mut(&txid).expect("present").pre_committing = Some(waiting);
            out.send_to_each(&uncertain, Message::PreCommit { txid });
            out.set_timer(Timer::TermCollect(txid), self.term_collect_ns);
        } else {
            self.finish_termination(txid, false, out);
        }
    }

    /// A PRE_ACK for a termination round's PRE_COMMIT.
    pub(super) fn termination_pre_ack(&mut self, from: ProcessId, txid: Txid, out: &mut Outbox<Self>) {
        let Some(termination) = self.terminations.get_mut(&txid) else { return };
        let Some(waiting) = termination.pre_committing.as_mut() else { return };
        *waiting &= !Self::bit(from);
        if *waiting == 0 {
            self.finish_termination(txid, true, out);
        }
    }

    fn finish_termination(&mut self, txid: Txid, commit: bool, out: &mut Outbox<Self>) {
        self.terminations.remove(&txid);
        out.cancel_timer(Timer::TermCollect(txid));
        out.recovery_finished();
        out.send_to_each(&self.processes, Message::Decision { txid, commit });
    }

    // ---- Restart (§7.2, §7.4) ----

    /// Keeps the WAL from the crashed incarnation, takes the rest from
    /// `fresh`, and resumes.
    pub(super) fn restart_from_wal(&mut self, mut fresh: Self, now: Time, out: &mut Outbox<Self>) {
        fresh.participant = std::mem::take(&mut self.participant);
        fresh.next_counter = self.next_counter;
        // COMMIT records without END; the rest is presumed aborted.
        fresh.coordinating = std::mem::take(&mut self.coordinating);
        fresh.coordinating.retain(|_, txn| txn.phase == super::Phase::Committed);
        for txn in fresh.coordinating.values_mut() {
            txn.answered = 0; // acks are not logged
        }
        *self = fresh;
        let undecided: Vec<Txid> =
            self.participant.iter().filter(|(_, t)| !t.state.is_decided()).map(|(&txid, _)| txid).collect();
        for txid in undecided {
            let txn = &self.participant[&txid];
            let cmd = txn.cmd.clone().expect("a prepared transaction has its command");
            for key in cmd.keys() {
                self.locks.insert(key, txid);
            }
            if txid.coordinator == self.id {
                if self.coordinating.contains_key(&txid) {
                    // Cannot happen (its own COMMIT is applied at once),
                    // but the record would say commit.
                    self.commit_locally(txid, now, out);
                } else if txn.state == TxnState::Prepared {
                    // No COMMIT record, no PRE_COMMIT sent: abort is safe.
                    self.abort_locally(txid, out);
                } else {
                    out.set_timer(Timer::Decision(txid), self.first_termination_delay(txid));
                }
                continue;
            }
            out.send(txid.coordinator, Message::DecisionReq { txid });
            out.set_timer(Timer::Decision(txid), self.first_termination_delay(txid));
        }
        let committed: Vec<Txid> = self.coordinating.keys().copied().collect();
        for txid in committed {
            self.resend_commit(txid, out);
        }
    }
}
