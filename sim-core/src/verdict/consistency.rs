//! What a protocol promises (its consistency label), and which checks and
//! outcome events that promise makes fatal. A run is labelled with its
//! protocol's promise and PASSes when nothing it promised was broken;
//! everything else it did is still counted and reported.

use super::outcomes::OutcomeKind;
use std::fmt;

/// A protocol's promise (classic-README comparison table, "consistency").
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Consistency {
    /// Linearizable under every fault it tolerates: every check and every
    /// outcome event fails the run.
    #[default]
    Linearizable,
    /// Linearizable only while no failover happens (asynchronous
    /// primary/backup). The harness cannot see a failover, and any fault
    /// can cause one (a slow link is a false suspicion), so in a run with
    /// faults only the execution and completion checks are promised; lost
    /// writes, stale reads and divergence are measured outcomes.
    LinearizableWithoutFailover,
    /// Sequential consistency (deferred update: reads served locally may
    /// be stale). Stale reads and client-observed linearizability are not
    /// promised; replica order, execution, completion and acknowledged
    /// writes are. (No per-client sequential-consistency check exists yet.)
    Sequential,
    /// Serializable: the same as [`Consistency::Sequential`] for
    /// single-key operations, and no progress under faults (a blocked
    /// coordinator leaves commands incomplete).
    Serializable,
    /// Linearizable, but no progress promised under faults (2PC and 3PC
    /// with reads ordered like writes: a coordinator crash after the
    /// votes blocks, a replica that is down aborts everything). Blocked
    /// commands are a measured outcome; every safety check still holds
    /// (3PC's divergence under a partition fails the run).
    LinearizableMayBlock,
}

/// Something a run can be checked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Check {
    /// Replicas execute each key's writes in one order.
    Order,
    /// No double execution; nothing executed that was not submitted.
    Execution,
    /// Each key's client-observed history is linearizable.
    Linearizability,
    /// Every command completes (the Blocked outcome).
    Completion,
    /// No outcome event of this kind.
    Outcome(OutcomeKind),
}

impl Consistency {
    /// Every label, in display order.
    pub const ALL: [Consistency; 5] = [
        Consistency::Linearizable,
        Consistency::LinearizableWithoutFailover,
        Consistency::Sequential,
        Consistency::Serializable,
        Consistency::LinearizableMayBlock,
    ];

    /// The label in outputs (CSV column `consistency`).
    pub fn as_str(self) -> &'static str {
        match self {
            Consistency::Linearizable => "linearizable",
            Consistency::LinearizableWithoutFailover => "linearizable-without-failover",
            Consistency::Sequential => "sequential",
            Consistency::Serializable => "serializable",
            Consistency::LinearizableMayBlock => "linearizable-may-block",
        }
    }

    /// True if a protocol with this promise promises `check` in a run
    /// (`faulted`: the run has a fault schedule). The one table of gating
    /// rules: a new label adds its row here.
    pub fn promises(self, check: Check, faulted: bool) -> bool {
        match check {
            // Measured, never promised: a command a client never heard
            // back about may take effect at any time under every promise,
            // and a protocol may execute a write before it commits (chain
            // replication's head) and undo it if it never does.
            Check::Outcome(OutcomeKind::GhostWrite | OutcomeKind::RolledBackUnacked) => return false,
            // The execution check's own finding, gated like it.
            Check::Outcome(OutcomeKind::DuplicateApply) => return self.promises(Check::Execution, faulted),
            // Writes committed at some replicas and not others break the
            // replicas' agreement, as the order check does.
            Check::Outcome(OutcomeKind::AtomicityViolation) => return self.promises(Check::Order, faulted),
            _ => {}
        }
        let stale_or_unlinearizable = matches!(check, Check::Linearizability | Check::Outcome(OutcomeKind::StaleRead));
        match self {
            Consistency::Linearizable => true,
            Consistency::LinearizableWithoutFailover => {
                !faulted || matches!(check, Check::Execution | Check::Completion)
            }
            Consistency::Sequential => !stale_or_unlinearizable,
            Consistency::Serializable => {
                let blocked_under_faults = faulted && check == Check::Completion;
                !(stale_or_unlinearizable || blocked_under_faults)
            }
            Consistency::LinearizableMayBlock => !(faulted && check == Check::Completion),
        }
    }
}

impl fmt::Display for Consistency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn linearizable_promises_everything_and_async_primary_backup_only_without_faults() {
        let lost = Check::Outcome(OutcomeKind::AckedWriteLost);
        for check in [Check::Order, Check::Linearizability, lost, Check::Execution, Check::Completion] {
            assert!(Consistency::Linearizable.promises(check, true), "{check:?}");
            assert!(Consistency::LinearizableWithoutFailover.promises(check, false), "{check:?}");
        }
        let weak = Consistency::LinearizableWithoutFailover;
        assert!(!weak.promises(lost, true) && !weak.promises(Check::Order, true));
        assert!(weak.promises(Check::Execution, true) && weak.promises(Check::Completion, true));
    }

    #[test]
    fn sequential_allows_stale_reads_but_not_lost_writes() {
        let stale = Check::Outcome(OutcomeKind::StaleRead);
        assert!(!Consistency::Sequential.promises(stale, false));
        assert!(Consistency::Sequential.promises(Check::Outcome(OutcomeKind::AckedWriteLost), true));
        assert!(!Consistency::Serializable.promises(Check::Completion, true));
        assert!(Consistency::Serializable.promises(Check::Completion, false));
    }

    #[test]
    fn may_block_promises_every_safety_check_but_not_progress_under_faults() {
        let may_block = Consistency::LinearizableMayBlock;
        let lost = Check::Outcome(OutcomeKind::AckedWriteLost);
        for check in [Check::Order, Check::Linearizability, lost, Check::Execution] {
            assert!(may_block.promises(check, true), "{check:?}");
        }
        assert!(!may_block.promises(Check::Completion, true));
        assert!(may_block.promises(Check::Completion, false));
    }
}
