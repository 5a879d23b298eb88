//! The executor: a participant applies a transaction when it learns
//! COMMIT (§1 "Apply(txid, writes)"); `Discard` is a no-op, since nothing
//! was applied before the decision. Conflicting transactions reach it in
//! the same order at every replica because each holds its locks from
//! PREPARE to DECISION (§8).

use sim_core::protocol::{Apply, Executor};
use sim_core::{Command, Time};
use std::sync::Arc;

/// Applies each committed command at once.
#[derive(Debug, Default)]
pub struct DecisionExecutor;

impl Executor for DecisionExecutor {
    /// The command and when this participant learned COMMIT.
    type Info = (Arc<Command>, Time);
    type Feedback = ();

    fn execute(&mut self, (cmd, committed_at): Self::Info, _now: Time, apply: &mut Apply<'_>) {
        apply.apply(&cmd, committed_at);
    }
}
