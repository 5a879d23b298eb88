//! The verdict every run ends with, built from what executors applied and
//! what clients observed, never from protocol internals:
//!
//! - **order**: at every replica, each key's writes execute in the same
//!   order, and each read executes after the same number of writes of its
//!   key (reads commute with reads);
//! - **execution**: no replica executes a command twice, and every executed
//!   command was submitted by a client;
//! - **linearizability**: each key's client-observed history (results with
//!   invocation and response times) has a linearization;
//! - **completion**: every submitted command completes (a run with more
//!   faults than its protocol tolerates is expected to fail here);
//! - with faults, clients retry, and replicas apply a command at most once
//!   (see [`crate::dedup`]): a suppressed re-execution of a *retried*
//!   command is allowed and counted, of any other command it is a double
//!   execution.
//!
//! Multi-key commands are checked key by key (a necessary condition of
//! their atomicity, not a proof of it).

mod linearizability;
mod order;

pub use linearizability::{History, HistoryOp};
pub use order::ExecutionChecker;

use crate::command::{CommandId, Key};
use crate::id::ProcessId;
use std::fmt;

/// Most violations of each kind kept with their details; the rest are
/// only counted. Per kind, so a flood of one kind cannot hide another.
pub const VIOLATIONS_KEPT_PER_KIND: usize = 8;

/// One way a run broke a guarantee.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Violation {
    /// Two replicas executed different writes at the same position of a
    /// key's write order.
    WriteOrder {
        /// The key.
        key: Key,
        /// Position in the key's write order (from 1).
        position: u64,
        /// The replica that executed `executed` there.
        replica: ProcessId,
        /// What it executed.
        executed: CommandId,
        /// What the first replica to reach that position executed.
        expected: CommandId,
        /// That first replica.
        expected_at: ProcessId,
    },
    /// Two replicas executed a read after different numbers of writes.
    ReadPosition {
        /// The key.
        key: Key,
        /// The read.
        read: CommandId,
        /// The replica that disagrees.
        replica: ProcessId,
        /// Writes of the key it had executed before the read.
        writes_before: u64,
        /// Writes before the read at the first replica that executed it.
        expected_writes_before: u64,
        /// That first replica.
        expected_at: ProcessId,
    },
    /// A replica executed a command twice.
    DoubleExecution {
        /// The replica.
        replica: ProcessId,
        /// The command.
        cmd: CommandId,
    },
    /// A replica executed a command no client submitted.
    NeverSubmitted {
        /// The replica.
        replica: ProcessId,
        /// The command.
        cmd: CommandId,
    },
    /// A key's client-observed history has no linearization.
    NotLinearizable {
        /// The key.
        key: Key,
        /// The commands involved.
        cmds: Vec<CommandId>,
        /// Why, in words.
        reason: String,
    },
    /// Commands submitted in a failure-free run that never completed.
    Incomplete {
        /// How many.
        count: u64,
        /// The first few of them.
        cmds: Vec<CommandId>,
    },
}

fn id(cmd: &CommandId) -> String {
    format!("{}#{}", cmd.client, cmd.seq)
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Violation::WriteOrder { key, position, replica, executed, expected, expected_at } => write!(
                f,
                "order: key {key}, write #{position}: {replica} executed {} but {expected_at} executed {} there",
                id(executed),
                id(expected)
            ),
            Violation::ReadPosition { key, read, replica, writes_before, expected_writes_before, expected_at } => {
                write!(
                    f,
                    "order: key {key}: read {} executed after {writes_before} write(s) at {replica} but after \
                     {expected_writes_before} at {expected_at}",
                    id(read)
                )
            }
            Violation::DoubleExecution { replica, cmd } => {
                write!(f, "execution: {replica} executed {} twice", id(cmd))
            }
            Violation::NeverSubmitted { replica, cmd } => {
                write!(f, "execution: {replica} executed {}, which no client submitted", id(cmd))
            }
            Violation::NotLinearizable { key, cmds, reason } => {
                let cmds: Vec<String> = cmds.iter().map(id).collect();
                write!(f, "linearizability: key {key}: {reason} (commands {})", cmds.join(", "))
            }
            Violation::Incomplete { count, cmds } => {
                let cmds: Vec<String> = cmds.iter().map(id).collect();
                write!(f, "completion: {count} command(s) never completed, e.g. {}", cmds.join(", "))
            }
        }
    }
}

impl Violation {
    /// Which check found it.
    pub fn kind(&self) -> &'static str {
        match self {
            Violation::WriteOrder { .. } | Violation::ReadPosition { .. } => "order",
            Violation::DoubleExecution { .. } | Violation::NeverSubmitted { .. } => "execution",
            Violation::NotLinearizable { .. } => "linearizability",
            Violation::Incomplete { .. } => "completion",
        }
    }
}

/// Collects violations, keeping the first [`VIOLATIONS_KEPT_PER_KIND`] of
/// each kind.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Violations {
    kept: Vec<Violation>,
    total: u64,
}

impl Violations {
    /// Records one violation.
    pub fn push(&mut self, violation: Violation) {
        self.total += 1;
        let same_kind = self.kept.iter().filter(|kept| kept.kind() == violation.kind()).count();
        if same_kind < VIOLATIONS_KEPT_PER_KIND {
            self.kept.push(violation);
        }
    }

    /// The first violations found.
    pub fn kept(&self) -> &[Violation] {
        &self.kept
    }

    /// How many were found in all.
    pub fn total(&self) -> u64 {
        self.total
    }

    fn extend(&mut self, other: Violations) {
        self.total += other.total - other.kept.len() as u64;
        for violation in other.kept {
            self.push(violation);
        }
    }

    /// Kept violations of one kind (see [`Violation::kind`]).
    pub fn of_kind<'a>(&'a self, kind: &'a str) -> impl Iterator<Item = &'a Violation> + 'a {
        self.kept.iter().filter(move |violation| violation.kind() == kind)
    }
}

/// How a run ended: PASS, or FAIL with what went wrong.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Verdict {
    /// Everything that went wrong (empty on PASS).
    pub violations: Violations,
    /// Executions checked for order, summed over replicas.
    pub executions_checked: u64,
    /// Client operations (per key) checked for linearizability.
    pub operations_checked: u64,
    /// False if order and linearizability checks were switched off (only
    /// completion was checked).
    pub checked: bool,
    /// Re-executions of retried commands that replicas' client tables made
    /// no-ops (allowed: a retried command may be ordered twice).
    pub duplicates_suppressed: u64,
}

impl Verdict {
    /// Combines the checks of one run.
    pub fn new(
        order: ExecutionChecker,
        history: &History,
        incomplete: Vec<CommandId>,
        incomplete_count: u64,
    ) -> Verdict {
        let executions_checked = order.executions();
        let checked = order.enabled();
        let duplicates_suppressed = order.duplicates_suppressed();
        let mut violations = order.into_violations();
        let linearizability = history.check();
        violations.extend(linearizability);
        if incomplete_count > 0 {
            violations.push(Violation::Incomplete { count: incomplete_count, cmds: incomplete });
        }
        Verdict {
            violations,
            executions_checked,
            operations_checked: history.len() as u64,
            checked,
            duplicates_suppressed,
        }
    }

    /// True if nothing went wrong.
    pub fn passed(&self) -> bool {
        self.violations.total() == 0
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.passed() && !self.checked {
            return write!(f, "PASS (completion only: order and linearizability checks were off)");
        }
        if self.passed() {
            write!(
                f,
                "PASS ({} executions in order, {} operations linearizable",
                self.executions_checked, self.operations_checked
            )?;
            if self.duplicates_suppressed > 0 {
                write!(f, ", {} re-execution(s) of retried commands suppressed", self.duplicates_suppressed)?;
            }
            return write!(f, ")");
        }
        write!(f, "FAIL: {} violation(s)", self.violations.total())?;
        for violation in self.violations.kept() {
            write!(f, "\n  {violation}")?;
        }
        let hidden = self.violations.total() - self.violations.kept().len() as u64;
        if hidden > 0 {
            write!(f, "\n  ... and {hidden} more")?;
        }
        Ok(())
    }
}
