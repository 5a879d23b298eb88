//! A restart through the engine (vr.md §8): the replica comes back with
//! no protocol state, Recovering, with a fresh nonce, and rebuilds its
//! state from the primary of the latest view before it votes again.
//!
//! The state machine. vr.md §8 step 3 has the recovered replica
//! re-execute the whole log up to commit from an empty executor. The
//! engine keeps a restarted process's store, client table and executor
//! across the crash (`Protocol::restart`, DESIGN.md "Restart"): it stands
//! for "the state machine as it was after applying ops `1..=X`". Replaying
//! the committed prefix `1..=X` from empty rebuilds exactly that state (the
//! prefix is the same at every replica), so the replica resumes its kept
//! executor at `X + 1` instead, and executes the adopted log from there up
//! to commit: every op once, none skipped. What VR itself held about the
//! executed prefix (the client table) is volatile and is rebuilt from the
//! adopted log (§14 "client_table is rebuilt from the log"). Departure
//! listed in DESIGN.md.

use super::{LogSnapshot, Status, Vr};
use crate::shared::read_executor::ReadingSlotExecutor;
use sim_core::Time;
use sim_core::protocol::{Outbox, Protocol};
use sim_core::time::NS_PER_S;

/// How long a restarted replica is out of service, for fault budgets
/// (vr.md §1: "at most f replicas may be crashed or recovering at the
/// same time"). Recovery needs a Normal primary (§8 step 3); if the
/// primary is the one that restarted, the others first time out
/// (`VC_TIMEOUT`, 1.6 s) and change view, and a healing partition or
/// lost messages add re-sends (`REC_RETRY`, `VC_PROGRESS`).
pub const RESTART_GRACE_NS: u64 = 4 * NS_PER_S;

impl Vr {
    /// `Protocol::restart`: nothing of the crashed incarnation is kept
    /// (no disk); the executor's position is the kept state machine's.
    pub(super) fn restart_recovering(
        &mut self,
        mut fresh: Vr,
        executor: &mut ReadingSlotExecutor,
        now: Time,
        out: &mut Outbox<Self>,
    ) {
        // Reads waiting for a slot are volatile; their clients retry.
        executor.forget_waiting();
        let applied = executor.next_slot() - 1;
        fresh.status = Status::Recovering;
        fresh.executed = applied;
        fresh.commit = applied; // every applied op was committed
        fresh.log.reset(applied);
        if fresh.leased_reads {
            // §10b: the crashed incarnation may have promised a primary
            // not to join a view change until up to `L` after the crash;
            // that promise is forgotten with the rest, so keep it for `L`
            // from now (the restart comes after the crash).
            fresh.lease.promise_until = now.plus_ns(fresh.lease_ns);
        }
        *self = fresh;
        out.recovery_started();
        self.start(now, out); // §8 step 1: fresh nonce from the new stream
    }

    /// §8 step 3, before installing the primary's `log`: starts the log at
    /// the primary's base when the kept state machine already covers it,
    /// so that the recovered replica holds (and can hand on in a DVC or
    /// NEW_STATE) the same suffix as the primary, not only what it has not
    /// applied yet.
    pub(super) fn prepare_recovered_log(&mut self, log: &LogSnapshot) {
        if log.base <= self.executed {
            self.log.reset(log.base);
        }
    }

    /// §8 step 3, after installing the log: the client table of the
    /// applied prefix still held (executed ops at or below the kept
    /// executor's position were not handed to the executor again).
    pub(super) fn rebuild_client_table(&mut self) {
        let executed = self.executed;
        for (_, entry) in self.log.iter_after(self.log.base()).take_while(|&(op, _)| op <= executed) {
            let done = self.executed_seq.entry(entry.cmd.id.client).or_insert(0);
            *done = (*done).max(entry.cmd.id.seq);
        }
    }
}
