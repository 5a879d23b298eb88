//! Witnesses (vr.md §11): `f + 1` active replicas hold the log and take
//! turns as primary; the other processes are witnesses that hold no log
//! but vote in view changes and recovery.
//!
//! Which processes are witnesses: the actives are the `f + 1` processes
//! starting at the configured leader (the primary of view 0) in process
//! order, wrapping around; the others (`f` of them with `n = 2f + 1`)
//! are witnesses. `primary(v) = active[v mod (f + 1)]`. The process
//! cannot see the delay matrix, so "the farthest from the primary" is not
//! an option; put the leader's nearest sites first to get the cheapest
//! quorum.
//!
//! Departure (simulator's client model): every process answers its own
//! clients by executing their commands, so a witness must know the
//! committed state. It is a *learner*, not a log holder: the COMMITs the
//! primary sends it every `HB` (even under load) carry the committed
//! entries it was not sent yet ([`Message::WitnessCommit`]); it executes
//! them and discards them at once, never acknowledges an op, and its DVC
//! is empty. It reports how far it executed (a PREPARE_OK whose op is
//! already committed) so that the log prefix can still be discarded.
//!
//! Safety: a commit needs the primary and `f` log-holding backups, and
//! every view-change quorum (`n - f` processes) holds at least one more
//! process than there are witnesses, so it meets every commit quorum in a
//! log holder; witness DVCs count towards the quorum but are never
//! selected as the log (§7.3a), and their commit number is one the
//! primary announced, hence committed.
//!
//! Promotion: if the primary's commit number does not move for
//! `PROMOTE_TIMEOUT` while ops are pending, it promotes the next witness
//! that does not acknowledge them (in turn, so a lost promotion is
//! retried): it sends it the whole log ([`Message::Promote`], the spec's NEW_STATE)
//! and sends it PREPAREs from then on. The promoted witness is a full
//! replica for good but never primary (primaries rotate over the actives
//! only). The spec's `PROMOTE_TIMEOUT` is `2·HB`; on a WAN a commit round
//! trip alone can exceed 200 ms, so the default here is
//! `max(2·HB, RTT_max)` with `RTT_max = VC_TIMEOUT / 4` (the module's
//! timer profile), to avoid promoting on mere distance.

use super::{DEFAULT_HEARTBEAT_NS, DEFAULT_VIEW_CHANGE_TIMEOUT_NS, LogSnapshot, Message, Options, Status, View, Vr};
use sim_core::protocol::Outbox;
use sim_core::{ProcessId, Time};

/// The witness configuration and state of one replica.
#[derive(Debug, Default)]
pub(super) struct Witnesses {
    /// Witnesses are configured.
    pub(super) enabled: bool,
    /// The active replicas in primary order (empty when disabled).
    pub(super) actives: Vec<ProcessId>,
    /// Configured witnesses (bit = process index).
    pub(super) configured: u64,
    /// This replica is a witness not promoted (yet).
    pub(super) is_witness: bool,
    /// Promoted witnesses this replica knows of (bit = process index).
    pub(super) promoted: u64,
    /// `PROMOTE_TIMEOUT` in ns.
    pub(super) promote_timeout_ns: u64,
    // Primary.
    /// Per process index, the last committed op sent to that witness.
    sent: Vec<u64>,
    /// When witnesses were last sent a COMMIT.
    heartbeat_at: Time,
    /// When the last promotion was sent.
    promoted_at: Time,
    /// Promotions sent (picks the next candidate).
    promotions: usize,
}

impl Witnesses {
    /// The witness set for replica `id` of `processes`, the primary of
    /// view 0 at index `first_primary`.
    pub(super) fn new(
        options: &Options,
        id: ProcessId,
        processes: &[ProcessId],
        first_primary: usize,
        f: usize,
    ) -> Witnesses {
        if !options.witnesses {
            return Witnesses::default();
        }
        let promote_timeout_ns = options.promote_timeout_ns.unwrap_or_else(|| {
            let heartbeat = options.heartbeat_ns.unwrap_or(DEFAULT_HEARTBEAT_NS);
            let view_change = options.view_change_timeout_ns.unwrap_or(DEFAULT_VIEW_CHANGE_TIMEOUT_NS);
            (2 * heartbeat).max(view_change / 4)
        });
        let n = processes.len();
        let actives: Vec<ProcessId> = (0..=f).map(|k| processes[(first_primary + k) % n]).collect();
        let configured =
            processes.iter().filter(|p| !actives.contains(p)).fold(0u64, |mask, p| mask | (1 << p.index()));
        Witnesses {
            enabled: true,
            is_witness: configured & (1 << id.index()) != 0,
            actives,
            configured,
            promoted: 0,
            promote_timeout_ns,
            sent: vec![0; n],
            heartbeat_at: Time::ZERO,
            promoted_at: Time::ZERO,
            promotions: 0,
        }
    }

    /// The primary of `view`: `active[view mod (f + 1)]`.
    pub(super) fn primary_of(&self, view: View) -> ProcessId {
        self.actives[(view % self.actives.len() as u64) as usize]
    }

    /// `p` is a witness not promoted (as far as this replica knows).
    pub(super) fn is_unpromoted(&self, p: ProcessId) -> bool {
        let bit = 1 << p.index();
        self.configured & bit != 0 && self.promoted & bit == 0
    }
}

impl Vr {
    /// This replica is a witness that holds no log.
    pub(super) fn is_witness(&self) -> bool {
        self.witnesses.is_witness
    }

    /// The backups that receive PREPAREs: every other process, or with
    /// witnesses the active backups and the promoted witnesses.
    pub(super) fn prepare_targets(&self) -> Vec<ProcessId> {
        let mut targets = self.audience();
        if self.witnesses.enabled {
            targets.retain(|&p| !self.witnesses.is_unpromoted(p));
        }
        targets
    }

    /// The witnesses not promoted, other than this replica.
    fn unpromoted_witnesses(&self) -> Vec<ProcessId> {
        self.others().into_iter().filter(|&p| self.witnesses.is_unpromoted(p)).collect()
    }

    /// A witness keeps no log: what it executed is dropped, and so is
    /// anything it holds beyond (uncommitted entries of a START_VIEW).
    pub(super) fn trim_witness_log(&mut self) {
        if self.is_witness() {
            self.log.truncate_after(self.executed);
            self.log.discard_through(self.executed);
        }
    }

    /// The new primary (§7.3) learns promoted witnesses from their DVCs
    /// and starts feeding every witness from its commit number.
    pub(super) fn witnesses_new_view(&mut self, promoted: u64) {
        self.witnesses.promoted |= promoted & self.witnesses.configured;
        let commit = self.commit;
        self.witnesses.sent.iter_mut().for_each(|s| *s = commit);
        self.witnesses.promoted_at = Time::ZERO;
    }

    /// At the primary: a COMMIT to witness `to`, with the committed entries
    /// it was not sent yet.
    pub(super) fn send_witness_commit(&mut self, to: ProcessId, now: Time, out: &mut Outbox<Self>) {
        let i = to.index();
        let from = self.witnesses.sent[i].max(self.executed_by[i]).max(self.log.base());
        let entries: Vec<_> =
            self.log.iter_after(from).take_while(|&(op, _)| op <= self.commit).map(|(_, e)| e.clone()).collect();
        self.witnesses.sent[i] = from + entries.len() as u64;
        let (commit, stable, sent_at) = (self.commit, self.stable_floor(), out.clock(now));
        out.send(to, Message::WitnessCommit { view: self.view, commit, first_op: from + 1, entries, stable, sent_at });
    }

    /// At the primary, from its heartbeat timer: witnesses hear from it
    /// every `HB`, even under load (when no idle COMMIT goes out), so that
    /// they do not start view changes. Returns the time until the next
    /// witness COMMIT is due (`u64::MAX` without witnesses).
    pub(super) fn witness_heartbeat(&mut self, now: Time, out: &mut Outbox<Self>) -> u64 {
        if !self.witnesses.enabled {
            return u64::MAX;
        }
        let since = now.since(self.witnesses.heartbeat_at);
        if since < self.heartbeat_ns && self.witnesses.heartbeat_at != Time::ZERO {
            return self.heartbeat_ns - since;
        }
        self.witnesses.heartbeat_at = now;
        for w in self.unpromoted_witnesses() {
            self.send_witness_commit(w, now, out);
        }
        self.heartbeat_ns
    }

    /// At a witness: the primary's COMMIT with committed entries.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn handle_witness_commit(
        &mut self,
        from: ProcessId,
        view: View,
        (commit, stable, sent_at): (u64, u64, Time),
        first_op: u64,
        entries: Vec<super::Entry>,
        now: Time,
        out: &mut Outbox<Self>,
    ) {
        if !self.accept_commit(from, view, (commit, stable, sent_at), now, out) {
            return;
        }
        for (op, entry) in (first_op..).zip(entries) {
            if op == self.log.last() + 1 {
                self.log.push(entry);
            } else if op > self.log.last() + 1 {
                self.ahead.insert(op, entry); // reordered: committed, kept until the hole fills
            }
        }
        self.append_ahead();
        if self.commit > self.log.last() {
            self.arm_state_transfer(out);
        }
        self.execute_committed(out);
        // Reports how far it executed (the op is committed: no vote).
        out.send(from, self.prepare_ok(view));
    }

    /// At the primary, every `HB`: if the commit number has not moved for
    /// `PROMOTE_TIMEOUT` with ops pending, promote the next witness.
    pub(super) fn maybe_promote(&mut self, now: Time, out: &mut Outbox<Self>) {
        if !self.witnesses.enabled || self.status != Status::Normal || !self.is_primary() {
            return;
        }
        let stalled_since = self.commit_progress_at.max(self.witnesses.promoted_at);
        if self.log.last() <= self.commit || now.since(stalled_since) < self.witnesses.promote_timeout_ns {
            return;
        }
        // Witnesses not acknowledging the pending ops: unpromoted ones, or
        // promoted ones whose promotion was lost (or that crashed). Taking
        // them in turn retries a lost promotion.
        let last = self.log.last();
        let candidates: Vec<ProcessId> = self
            .others()
            .into_iter()
            .filter(|p| self.witnesses.configured & (1 << p.index()) != 0 && self.acked[p.index()] < last)
            .collect();
        if candidates.is_empty() {
            return;
        }
        let witness = candidates[self.witnesses.promotions % candidates.len()];
        self.witnesses.promotions += 1;
        self.witnesses.promoted |= 1 << witness.index();
        self.witnesses.promoted_at = now;
        out.send(witness, Message::Promote { view: self.view, log: self.snapshot() });
    }

    /// At a witness: the primary promotes it (§11). It takes the
    /// primary's whole log and is a full replica from now on.
    ///
    /// The log is replaced, not appended to: a witness discarded what it
    /// executed, so its own log starts after its executed prefix, while a
    /// log holder's starts at the primary's stable floor. Keeping the
    /// witness's base would let a lagging replica that later adopts this
    /// log (as new primary) find a prefix it never executed.
    pub(super) fn handle_promote(
        &mut self,
        from: ProcessId,
        view: View,
        log: LogSnapshot,
        now: Time,
        out: &mut Outbox<Self>,
    ) {
        if self.status != Status::Normal || view != self.view || from != self.primary_of(view) {
            return; // stale
        }
        if !self.is_witness() {
            // Promoted already (a duplicate, or a primary that did not
            // know): take it as a NEW_STATE.
            self.handle_new_state(from, view, log, now, out);
            out.send(from, self.prepare_ok(view));
            return;
        }
        if log.base > self.executed || log.op() < self.executed {
            return; // a log it cannot continue: the primary promotes again
        }
        self.witnesses.is_witness = false;
        self.witnesses.promoted |= 1 << self.id.index();
        self.last_heard_at = now;
        let commit = log.commit;
        self.log.reset(log.base);
        for entry in log.entries {
            self.log.push(entry);
        }
        self.append_ahead();
        self.commit = self.commit.max(commit);
        self.execute_committed(out);
        // Acknowledge even if nothing is pending: the primary counts it.
        out.send(from, self.prepare_ok(view));
    }
}
