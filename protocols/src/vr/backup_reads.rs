//! Reads at backups (vr.md §10, last bullet; not linearizable, §14).
//!
//! The spec's client remembers the largest op number it has seen and
//! sends `READ(min_op)` to any replica, which answers once
//! `commit ≥ min_op`. The harness's client contract carries only the
//! command (no per-client session data), so the client's replica, the
//! process the client is attached to and sends every command to, keeps
//! that session for it: per client, the request number and op number of
//! its latest command this replica executed from the log or answered as
//! a read. A read whose previous request (`seq - 1`) is in that session
//! is answered from the replica's state at once: the replica executed
//! every op the client has seen (the client's last command completed
//! here, and a later write of the client gets a later op), so `commit ≥
//! min_op` holds already. A read whose previous request is not known here
//! (the client was moved to this replica by a retry, or the replica
//! restarted and lost its sessions) goes through the log like any
//! request, linearizably, and its execution starts the session again.
//!
//! The result: reads-your-writes and monotonic reads per client; a read
//! may miss writes of other clients that the primary already committed
//! and acknowledged (a stale read). With every client's operations at
//! increasing log positions, executions are sequentially consistent,
//! which is the label VR runs with this option are judged by.

use super::Vr;
use crate::shared::read_executor::LogStep;
use sim_core::protocol::Outbox;
use sim_core::{ClientId, Command, CommandId, FixedHashMap};
use std::sync::Arc;

/// Per client: `(request number, op number seen)` of its latest command
/// this replica executed or answered.
#[derive(Debug, Default)]
pub(super) struct ReadSessions {
    latest: FixedHashMap<ClientId, (u64, u64)>,
}

impl ReadSessions {
    /// Command `id` executed at op `op`, or was answered with the state
    /// at `op`.
    pub(super) fn note(&mut self, id: CommandId, op: u64) {
        let latest = self.latest.entry(id.client).or_insert((0, 0));
        if id.seq >= latest.0 {
            *latest = (id.seq, latest.1.max(op));
        }
    }

    /// The smallest op a read `id` must observe (its client's largest op
    /// seen), if its client's previous request is known here.
    fn min_op(&self, id: CommandId) -> Option<u64> {
        let &(seq, op) = self.latest.get(&id.client)?;
        (seq + 1 == id.seq || seq == id.seq).then_some(op)
    }
}

impl Vr {
    /// A read-only `cmd` of this process's client, with backup reads on:
    /// answered here from the executed state if the client's session is
    /// known; false if it must go through the log.
    pub(super) fn read_at_backup(&mut self, cmd: &Arc<Command>, out: &mut Outbox<Self>) -> bool {
        if !self.backup_reads || !cmd.is_read_only() || self.status == super::Status::Recovering {
            return false;
        }
        let Some(min_op) = self.read_sessions.min_op(cmd.id) else {
            return false;
        };
        // Every op this client saw executed here (see the module doc), so
        // the executor answers at once, from the state at `executed`.
        debug_assert!(self.executed >= min_op, "a session op not executed here");
        let seen = self.executed.max(min_op);
        self.read_sessions.note(cmd.id, seen);
        out.execute(LogStep::Read { after_slot: min_op, cmd: cmd.clone() });
        true
    }
}
