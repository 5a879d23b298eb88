//! The executor: certification happens in the process, in delivery
//! order, so by the time a command reaches here it is to be applied at
//! once: a committed update (`Apply(pos, writeset)`), or a read-only
//! transaction at its delegate (no broadcast, §4 step 2).

use sim_core::protocol::{Apply, Executor};
use sim_core::{Command, Time};
use std::sync::Arc;

/// A command to apply now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Execution {
    /// The command.
    pub cmd: Arc<Command>,
    /// When it committed (for a read, when it arrived).
    pub since: Time,
}

/// Applies what it is handed, immediately.
#[derive(Debug, Default)]
pub struct DurExecutor;

impl Executor for DurExecutor {
    type Info = Execution;
    type Feedback = ();

    fn execute(&mut self, info: Execution, _now: Time, apply: &mut Apply<'_>) {
        apply.apply(&info.cmd, info.since);
    }
}
