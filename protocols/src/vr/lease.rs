//! Leased reads at the primary (vr.md §10): the backup promise, the
//! primary's lease, and reads served under it.
//!
//! The primary stamps every PREPARE and COMMIT with its local clock; a
//! Normal backup promises (until `now + L`) to neither send nor join a
//! view change, and echoes the stamp in its PREPARE_OK or COMMIT_ACK. The
//! primary's lease runs until the f-th largest echoed stamp plus `L`.
//! Clients talk to their co-located process, which forwards a read to the
//! primary like any request; under a valid lease the primary answers with
//! its commit number instead of ordering it (`LeaseRead`), and the
//! client's process serves the read once it executed that far (the same
//! shape as Raft's §9.4 reads). Without a lease the read goes through the
//! log (§10 default).

use super::{Message, Status, Vr};
use crate::shared::read_executor::LogStep;
use sim_core::protocol::Outbox;
use sim_core::time::NS_PER_MS;
use sim_core::{CommandId, ProcessId, Time};

/// `LEASE` L (vr.md §6): 800 ms, below `VC_TIMEOUT`.
pub const DEFAULT_LEASE_NS: u64 = 800 * NS_PER_MS;

/// The lease state of one replica.
#[derive(Debug, Default)]
pub(super) struct LeaseState {
    // Backup (§10a-b).
    /// No view change is sent or joined before this time.
    pub(super) promise_until: Time,
    /// The latest stamp promised on in this view (echoed in PREPARE_OK).
    pub(super) granted: Time,
    /// The highest view whose START_VIEW_CHANGE arrived while the promise
    /// was live: joined once it expires (§10b).
    pub(super) deferred_view: u64,

    // Primary (§10c-d).
    /// Per process index, the latest stamp it echoed in this view.
    pub(super) echoed: Vec<Time>,
    /// The lease may be used only once `commit` reaches this op: the last
    /// op of the START_VIEW log (§10d).
    pub(super) usable_from: u64,
}

impl Vr {
    /// Resets the primary's lease for a new view whose start log ends at
    /// `start_op` (§10d).
    pub(super) fn reset_lease(&mut self, start_op: u64) {
        self.lease.echoed = vec![Time::ZERO; self.processes.len()];
        self.lease.usable_from = start_op;
        self.lease.granted = Time::ZERO;
    }

    /// §10a at a Normal backup: a PREPARE or COMMIT of its primary stamped
    /// `sent_at` arrived.
    pub(super) fn promise(&mut self, sent_at: Time, now: Time) {
        if self.leased_reads {
            self.lease.promise_until = self.lease.promise_until.max(now.plus_ns(self.lease_ns));
            self.lease.granted = self.lease.granted.max(sent_at);
        }
    }

    /// §10b: true while this backup's promise forbids view changes.
    pub(super) fn promised(&self, now: Time) -> bool {
        self.leased_reads && !self.plant_lease_without_promise && now < self.lease.promise_until
    }

    /// §10b: a view change for `view` must wait for the promise to expire.
    pub(super) fn defer_view_change(&mut self, view: u64) {
        self.lease.deferred_view = self.lease.deferred_view.max(view);
    }

    /// §10c: `from` echoed stamp `echo` in this view.
    pub(super) fn on_lease_echo(&mut self, from: ProcessId, echo: Time) {
        if let Some(e) = self.lease.echoed.get_mut(from.index()) {
            *e = (*e).max(echo);
        }
    }

    /// §10c-d: the primary may answer reads from its state.
    fn holds_lease(&mut self, clock: Time) -> bool {
        if !self.leased_reads || self.status != Status::Normal || !self.is_primary() {
            return false;
        }
        if self.commit < self.lease.usable_from {
            return false; // §10d: the start log is not all committed yet
        }
        let me = self.id.index();
        let mut stamps: Vec<Time> =
            self.lease.echoed.iter().enumerate().filter(|&(i, _)| i != me).map(|(_, &t)| t).collect();
        let f = self.f();
        if f == 0 || stamps.len() < f {
            return false;
        }
        let (_, &mut fth, _) = stamps.select_nth_unstable_by(f - 1, |a, b| b.cmp(a));
        fth != Time::ZERO && clock < fth.plus_ns(self.lease_ns)
    }

    /// At the primary: answers the read `id` of `origin`'s client under
    /// the lease; false if it holds none (the read then goes through the
    /// log).
    pub(super) fn lease_read(&mut self, id: CommandId, origin: ProcessId, now: Time, out: &mut Outbox<Self>) -> bool {
        if !self.holds_lease(out.clock(now)) {
            return false;
        }
        if origin == self.id {
            self.serve_lease_read(id, self.commit, out);
        } else {
            out.send(origin, Message::LeaseRead { id, commit: self.commit });
        }
        true
    }

    /// The client's process serves its read once it executed up to
    /// `commit` (the executor holds it until then).
    pub(super) fn serve_lease_read(&mut self, id: CommandId, commit: u64, out: &mut Outbox<Self>) {
        if let Some((cmd, _)) = self.pending.remove(&id) {
            out.execute(LogStep::Read { after_slot: commit, cmd });
        }
    }
}
