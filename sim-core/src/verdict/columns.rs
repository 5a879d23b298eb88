//! The one list of outcome count columns, in report order: every
//! [`OutcomeKind`]'s, then Blocked's and Starved's. CSV headers, CSV rows, text tables
//! and per-run totals are all built from [`OutcomeColumn::ALL`], so a new
//! outcome kind is added here (and to [`OutcomeKind`]) and nowhere else.

use super::Verdict;
use super::outcomes::{OutcomeKind, Outcomes};

/// How many outcome count columns there are.
pub const OUTCOME_COLUMNS: usize = OutcomeKind::ALL.len() + 2;

/// One outcome count column: an event kind's, or the Blocked or Starved
/// count (from the completion and progress checks, which keep no event
/// details; [`super::progress`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OutcomeColumn {
    /// The count of one kind of event.
    Event(OutcomeKind),
    /// Commands that never completed while their keys stood still.
    Blocked,
    /// Commands that never completed while others on their keys did.
    Starved,
}

impl From<OutcomeKind> for OutcomeColumn {
    fn from(kind: OutcomeKind) -> Self {
        OutcomeColumn::Event(kind)
    }
}

impl OutcomeKind {
    /// Its CSV column (`runs.csv`, `summary.csv`), snake_case; also its
    /// key in a sweep journal's per-run totals.
    pub fn column(self) -> &'static str {
        match self {
            OutcomeKind::AckedWriteLost => "acked_writes_lost",
            OutcomeKind::StaleRead => "stale_reads",
            OutcomeKind::DivergentAck => "divergent_acks",
            OutcomeKind::SplitBrain => "split_brains",
            OutcomeKind::RolledBackAcked => "rolled_back_acked",
            OutcomeKind::RolledBackUnacked => "rolled_back_unacked",
            OutcomeKind::GhostWrite => "ghost_writes",
            OutcomeKind::DuplicateApply => "duplicate_applies",
            OutcomeKind::AtomicityViolation => "atomicity_violations",
            OutcomeKind::Unrecoverable => "unrecoverable",
        }
    }

    /// Its short label in text tables.
    pub fn label(self) -> &'static str {
        match self {
            OutcomeKind::AckedWriteLost => "acked-lost",
            OutcomeKind::StaleRead => "stale",
            OutcomeKind::DivergentAck => "divergent",
            OutcomeKind::SplitBrain => "split",
            OutcomeKind::RolledBackAcked => "rolled-ack",
            OutcomeKind::RolledBackUnacked => "rolled-unack",
            OutcomeKind::GhostWrite => "ghost",
            OutcomeKind::DuplicateApply => "dup-apply",
            OutcomeKind::AtomicityViolation => "atomicity",
            OutcomeKind::Unrecoverable => "unrecoverable",
        }
    }

    /// Its position in [`OutcomeKind::ALL`].
    fn index(self) -> usize {
        OutcomeKind::ALL.iter().position(|&kind| kind == self).expect("every kind is in ALL")
    }
}

impl OutcomeColumn {
    /// Every column, in report order: each kind of [`OutcomeKind::ALL`],
    /// then Blocked and Starved.
    pub const ALL: [OutcomeColumn; OUTCOME_COLUMNS] = {
        let mut all = [OutcomeColumn::Starved; OUTCOME_COLUMNS];
        all[OutcomeKind::ALL.len()] = OutcomeColumn::Blocked;
        let mut i = 0;
        while i < OutcomeKind::ALL.len() {
            all[i] = OutcomeColumn::Event(OutcomeKind::ALL[i]);
            i += 1;
        }
        all
    };

    /// Its CSV column name.
    pub fn name(self) -> &'static str {
        match self {
            OutcomeColumn::Event(kind) => kind.column(),
            OutcomeColumn::Blocked => "blocked",
            OutcomeColumn::Starved => "starved",
        }
    }

    /// Its short label in text tables.
    pub fn label(self) -> &'static str {
        match self {
            OutcomeColumn::Event(kind) => kind.label(),
            OutcomeColumn::Blocked => "blocked",
            OutcomeColumn::Starved => "starved",
        }
    }

    /// Its position in [`OutcomeColumn::ALL`].
    pub fn index(self) -> usize {
        match self {
            OutcomeColumn::Event(kind) => kind.index(),
            OutcomeColumn::Blocked => OutcomeKind::ALL.len(),
            OutcomeColumn::Starved => OutcomeKind::ALL.len() + 1,
        }
    }

    /// True if a run measures it only with the order and linearizability
    /// checks on (events found from the history and executions); Blocked
    /// and Unrecoverable (the engine's) are counted in every run, and so
    /// is Starved (0 with the checks off: no history tells it apart).
    pub fn needs_checks(self) -> bool {
        !matches!(
            self,
            OutcomeColumn::Blocked | OutcomeColumn::Starved | OutcomeColumn::Event(OutcomeKind::Unrecoverable)
        )
    }

    /// The CSV column names, in order.
    pub fn names() -> Vec<&'static str> {
        OutcomeColumn::ALL.iter().map(|column| column.name()).collect()
    }
}

impl Outcomes {
    /// The count of `column`.
    pub fn column(&self, column: OutcomeColumn) -> u64 {
        match column {
            OutcomeColumn::Event(kind) => self.count(kind),
            OutcomeColumn::Blocked => self.blocked,
            OutcomeColumn::Starved => self.starved,
        }
    }
}

impl Verdict {
    /// The run's count of every outcome column, in order; `None` where it
    /// was not measured (an event kind when the checks were off).
    pub fn outcome_cells(&self) -> [Option<u64>; OUTCOME_COLUMNS] {
        OutcomeColumn::ALL.map(|column| (self.checked || !column.needs_checks()).then(|| self.outcomes.column(column)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_are_every_kind_in_order_then_blocked_and_starved() {
        assert_eq!(
            OutcomeColumn::names(),
            [
                "acked_writes_lost",
                "stale_reads",
                "divergent_acks",
                "split_brains",
                "rolled_back_acked",
                "rolled_back_unacked",
                "ghost_writes",
                "duplicate_applies",
                "atomicity_violations",
                "unrecoverable",
                "blocked",
                "starved",
            ]
        );
        for (index, column) in OutcomeColumn::ALL.into_iter().enumerate() {
            assert_eq!(column.index(), index);
        }
    }

    #[test]
    fn unchecked_runs_leave_event_cells_empty_but_count_blocked() {
        let mut verdict = Verdict { checked: false, ..Verdict::default() };
        verdict.outcomes.blocked = 2;
        verdict.outcomes.stale_reads = 5;
        verdict.outcomes.unrecoverable = 1;
        let cells = verdict.outcome_cells();
        assert_eq!(cells[OutcomeColumn::Blocked.index()], Some(2));
        assert_eq!(cells[OutcomeColumn::from(OutcomeKind::Unrecoverable).index()], Some(1));
        assert_eq!(cells[OutcomeColumn::from(OutcomeKind::StaleRead).index()], None);
        verdict.checked = true;
        assert_eq!(verdict.outcome_cells()[OutcomeColumn::from(OutcomeKind::StaleRead).index()], Some(5));
    }
}
