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
    /// Linearizable, but no progress promised under faults (2PC with
    /// reads ordered like writes: a coordinator crash after the votes
    /// blocks, a replica that is down aborts everything). Blocked
    /// commands are a measured outcome; every safety check still holds.
    LinearizableMayBlock,
    /// [`Consistency::LinearizableMayBlock`] under crashes only (3PC: its
    /// termination protocol is safe only with a perfect failure
    /// detector). Under partitions, slow links or any fault that can make
    /// a live process look dead, replicas may decide differently: order,
    /// linearizability and the outcome events are then measured, not
    /// promised (two-phase-commit.md §9, classic-README "3PC").
    LinearizableUnderCrashes,
}

/// Which faults a run had, as far as a promise depends on them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum FaultClass {
    /// No fault schedule.
    #[default]
    None,
    /// Crashes (and restarts) only: a live process is never cut off,
    /// slowed or silenced, so it is never wrongly suspected.
    Crashes,
    /// Partitions, slow, lossy or duplicating links, or clock faults:
    /// anything that can make a live process look dead.
    Network,
}

impl FaultClass {
    /// True if the run had any fault.
    pub fn any(self) -> bool {
        self != FaultClass::None
    }
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
    /// No command waits forever while later ones on its keys complete
    /// (the Starved outcome). Promised wherever completion is, unless the
    /// protocol's concurrency control may starve a command
    /// ([`super::Verdict::allow_starvation`]).
    Progress,
    /// No outcome event of this kind.
    Outcome(OutcomeKind),
}

impl Consistency {
    /// Every label, in display order.
    pub const ALL: [Consistency; 6] = [
        Consistency::Linearizable,
        Consistency::LinearizableWithoutFailover,
        Consistency::Sequential,
        Consistency::Serializable,
        Consistency::LinearizableMayBlock,
        Consistency::LinearizableUnderCrashes,
    ];

    /// The label in outputs (CSV column `consistency`).
    pub fn as_str(self) -> &'static str {
        match self {
            Consistency::Linearizable => "linearizable",
            Consistency::LinearizableWithoutFailover => "linearizable-without-failover",
            Consistency::Sequential => "sequential",
            Consistency::Serializable => "serializable",
            Consistency::LinearizableMayBlock => "linearizable-may-block",
            Consistency::LinearizableUnderCrashes => "linearizable-under-crashes",
        }
    }

    /// True if a protocol with this promise promises `check` in a run
    /// with `faults`. The one table of gating rules: a new label adds its
    /// row here.
    pub fn promises(self, check: Check, faults: FaultClass) -> bool {
        let faulted = faults.any();
        match check {
            // Measured, never promised: a command a client never heard
            // back about may take effect at any time under every promise,
            // and a protocol may execute a write before it commits (chain
            // replication's head) and undo it if it never does.
            Check::Outcome(OutcomeKind::GhostWrite | OutcomeKind::RolledBackUnacked) => return false,
            // Beyond every protocol's fault budget (more than f replicas
            // lost their state at once): measured, never a protocol bug.
            // What it excuses is decided in `Verdict::promised`.
            Check::Outcome(OutcomeKind::Unrecoverable) => return false,
            // The execution check's own finding, gated like it.
            Check::Outcome(OutcomeKind::DuplicateApply) => return self.promises(Check::Execution, faults),
            // Writes committed at some replicas and not others break the
            // replicas' agreement, as the order check does.
            Check::Outcome(OutcomeKind::AtomicityViolation) => return self.promises(Check::Order, faults),
            _ => {}
        }
        if check == Check::Progress {
            return self.promises(Check::Completion, faults);
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
            Consistency::LinearizableUnderCrashes => {
                let may_diverge = faults == FaultClass::Network && check != Check::Execution;
                !(may_diverge || faulted && check == Check::Completion)
            }
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
            assert!(Consistency::Linearizable.promises(check, FaultClass::Network), "{check:?}");
            assert!(Consistency::LinearizableWithoutFailover.promises(check, FaultClass::None), "{check:?}");
        }
        let weak = Consistency::LinearizableWithoutFailover;
        assert!(!weak.promises(lost, FaultClass::Network) && !weak.promises(Check::Order, FaultClass::Network));
        assert!(
            weak.promises(Check::Execution, FaultClass::Network)
                && weak.promises(Check::Completion, FaultClass::Network)
        );
    }

    #[test]
    fn sequential_allows_stale_reads_but_not_lost_writes() {
        let stale = Check::Outcome(OutcomeKind::StaleRead);
        assert!(!Consistency::Sequential.promises(stale, FaultClass::None));
        assert!(Consistency::Sequential.promises(Check::Outcome(OutcomeKind::AckedWriteLost), FaultClass::Network));
        assert!(!Consistency::Serializable.promises(Check::Completion, FaultClass::Network));
        assert!(Consistency::Serializable.promises(Check::Completion, FaultClass::None));
    }

    #[test]
    fn may_block_promises_every_safety_check_but_not_progress_under_faults() {
        let may_block = Consistency::LinearizableMayBlock;
        let lost = Check::Outcome(OutcomeKind::AckedWriteLost);
        for check in [Check::Order, Check::Linearizability, lost, Check::Execution] {
            assert!(may_block.promises(check, FaultClass::Network), "{check:?}");
        }
        assert!(!may_block.promises(Check::Completion, FaultClass::Network));
        assert!(may_block.promises(Check::Completion, FaultClass::None));
    }

    #[test]
    fn under_crashes_promises_safety_with_crashes_only() {
        let three_pc = Consistency::LinearizableUnderCrashes;
        let atomicity = Check::Outcome(OutcomeKind::AtomicityViolation);
        let lost = Check::Outcome(OutcomeKind::AckedWriteLost);
        for check in [Check::Order, Check::Linearizability, lost, atomicity, Check::Execution] {
            assert!(three_pc.promises(check, FaultClass::None), "{check:?}");
            assert!(three_pc.promises(check, FaultClass::Crashes), "{check:?}");
        }
        for check in [Check::Order, Check::Linearizability, lost, atomicity] {
            assert!(!three_pc.promises(check, FaultClass::Network), "{check:?}");
        }
        assert!(three_pc.promises(Check::Execution, FaultClass::Network));
        assert!(three_pc.promises(Check::Completion, FaultClass::None));
        assert!(!three_pc.promises(Check::Completion, FaultClass::Crashes));
    }
}
