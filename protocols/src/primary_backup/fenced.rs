//! Synchronous mode under faults (failure detection on, `mode = sync`):
//! §1's AUTO_FENCED failover plus a wait set that never shrinks below a
//! majority, which F7 says is what turns primary/backup into a quorum
//! protocol, so it stays safe across partitions and survives a minority
//! of crashes.
//!
//! - Promotion needs votes from a majority of the `n` nodes (itself
//!   included), granted only to a candidate whose `(accepted_epoch,
//!   last_seq)` is at least the voter's; a voter stops acknowledging (and
//!   applying from) every older epoch.
//! - `accepted_epoch` is the epoch of the primary whose log this node last
//!   synchronised with (its own when it promoted), as VR compares
//!   `last_normal_view`: a backup that synchronised with the primary of
//!   epoch `e` holds a prefix of that primary's log, so the entries an
//!   `e` majority acknowledged are on every candidate that can win.
//!   (Comparing the epoch of the last *entry*, as §7 words it, would let a
//!   candidate holding a newer but uncommitted entry win over entries
//!   committed later in an older epoch, raft.md §12 E2.)
//! - The primary drops a silent backup from the wait set (§1 degrade) only
//!   while at least `⌊n/2⌋` backups stay in it, so every commit is
//!   acknowledged by a majority, which meets every promotion majority.

use super::{Epoch, Message, PrimaryBackup, Role};
use crate::shared::quorum;
use sim_core::protocol::Outbox;
use sim_core::{ProcessId, Time};

impl PrimaryBackup {
    /// True when this run uses the fenced rules of this module.
    pub(super) fn fenced(&self) -> bool {
        self.fencing
    }

    /// Stand for primary of the epoch after every one seen, the refused
    /// candidacies' included.
    pub(super) fn stand(&mut self, now: Time, out: &mut Outbox<Self>) {
        let epoch = self.epoch.max(self.voted_epoch).max(self.epoch_seen) + 1;
        self.voted_epoch = epoch;
        self.voted_for_self = true;
        self.votes = 1 << self.id.index();
        self.last_heard = now; // the next candidacy waits a full deadline
        out.recovery_started();
        let msg = Message::VoteReq { epoch, accepted_epoch: self.accepted_epoch, last_seq: self.last_seq() };
        out.send_to_each(&self.others(), msg);
    }

    pub(super) fn handle_vote_req(
        &mut self,
        from: ProcessId,
        epoch: Epoch,
        accepted_epoch: Epoch,
        last_seq: u64,
        now: Time,
        out: &mut Outbox<Self>,
    ) {
        if !self.fenced() {
            return;
        }
        // A refused candidate's epoch still counts: lagging candidates that
        // stand again and again would otherwise keep their voted epochs
        // above every up-to-date node's candidacy, and no election would
        // ever finish (swarm seeds 310, 547, 761, 820).
        self.epoch_seen = self.epoch_seen.max(epoch);
        let up_to_date = (accepted_epoch, last_seq) >= (self.accepted_epoch, self.last_seq());
        let granted = epoch > self.epoch.max(self.voted_epoch) && up_to_date;
        if granted {
            self.voted_epoch = epoch;
            self.voted_for_self = false;
            self.votes = 0;
            self.last_heard = now;
            if self.role == Role::Primary {
                // It stops committing in its epoch (its own ack counts in
                // every commit), and learns the next primary from it.
                self.role = Role::Backup;
            }
        }
        out.send(from, Message::Vote { epoch, granted });
    }

    pub(super) fn handle_vote(
        &mut self,
        from: ProcessId,
        epoch: Epoch,
        granted: bool,
        now: Time,
        out: &mut Outbox<Self>,
    ) {
        if !self.fenced() || !granted || epoch != self.voted_epoch || self.votes == 0 || self.role == Role::Primary {
            return;
        }
        self.votes |= 1 << from.index();
        if self.votes.count_ones() as usize >= quorum::majority(self.processes.len()) {
            self.votes = 0;
            self.epoch = epoch - 1; // `promote` moves to `epoch`
            out.leader_change();
            out.recovery_finished();
            self.promote(now, out);
        }
    }

    /// Drops silent backups from the wait set, keeping at least `⌊n/2⌋`.
    pub(super) fn degrade_to_majority(&mut self, now: Time) {
        let me = self.id.index();
        let floor = quorum::majority(self.processes.len()) - 1;
        for i in 0..self.in_wait_set.len() {
            let waiting = (0..self.in_wait_set.len()).filter(|&j| j != me && self.in_wait_set[j]).count();
            if waiting <= floor && !self.plant_degrade_below_majority {
                return;
            }
            if i != me && self.in_wait_set[i] && now.since(self.last_ack_at[i]) >= self.drop_timeout_ns {
                self.in_wait_set[i] = false;
            }
        }
    }
}
