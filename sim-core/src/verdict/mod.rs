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
//!   faults than its protocol tolerates is expected to fail here); an
//!   unanswered command is *blocked*, or *starved* when later commands on
//!   its keys completed while it waited ([`progress`]);
//! - with faults, clients retry, and replicas apply a command at most once
//!   (see [`crate::dedup`]): a suppressed re-execution of a *retried*
//!   command is allowed and counted, of any other command it is a double
//!   execution.
//!
//! Multi-key commands are checked key by key (a necessary condition of
//! their atomicity, not a proof of it).
//!
//! The same history yields the run's **outcome events** ([`outcomes`]:
//! acknowledged writes lost, stale reads, divergent acknowledgements,
//! split brain, blocked and starved commands), counted in every run. A run is
//! labelled with its protocol's promise ([`Consistency`]) and PASSes when
//! no check or outcome that promise covers failed; the rest is reported.

mod columns;
mod consistency;
mod linearizability;
mod order;
pub mod outcomes;
mod progress;

pub use columns::{OUTCOME_COLUMNS, OutcomeColumn};
pub use consistency::{Check, Consistency, FaultClass};
pub use linearizability::{History, HistoryOp};
pub use order::ExecutionChecker;
pub use outcomes::{Outcome, OutcomeKind, Outcomes};
pub use progress::{UNFINISHED_KEPT, Unfinished};

use crate::command::{CommandId, Key};
use crate::id::ProcessId;
use crate::kv::KvStore;
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
    /// Commands that never completed while nothing submitted after them
    /// on their keys did (blocked).
    Incomplete {
        /// How many.
        count: u64,
        /// The first few of them.
        cmds: Vec<CommandId>,
    },
    /// Commands that never completed while commands submitted after them
    /// on their keys did (starved).
    Starved {
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
            Violation::Starved { count, cmds } => {
                let cmds: Vec<String> = cmds.iter().map(id).collect();
                write!(
                    f,
                    "progress: {count} command(s) never completed while later ones on their keys did, e.g. {}",
                    cmds.join(", ")
                )
            }
        }
    }
}

impl Violation {
    /// Which check found it.
    pub fn kind(&self) -> &'static str {
        match self.check() {
            Check::Order => "order",
            Check::Execution => "execution",
            Check::Linearizability => "linearizability",
            Check::Completion | Check::Outcome(_) => "completion",
            Check::Progress => "progress",
        }
    }

    /// Which check found it, as a [`Check`].
    pub fn check(&self) -> Check {
        match self {
            Violation::WriteOrder { .. } | Violation::ReadPosition { .. } => Check::Order,
            Violation::DoubleExecution { .. } | Violation::NeverSubmitted { .. } => Check::Execution,
            Violation::NotLinearizable { .. } => Check::Linearizability,
            Violation::Incomplete { .. } => Check::Completion,
            Violation::Starved { .. } => Check::Progress,
        }
    }
}

/// The checks a [`Violation`] can come from, in [`Violations`]' count order.
const VIOLATION_CHECKS: [Check; 5] =
    [Check::Order, Check::Execution, Check::Linearizability, Check::Completion, Check::Progress];

fn check_index(check: Check) -> usize {
    VIOLATION_CHECKS.iter().position(|&c| c == check).expect("a violation's check")
}

/// Collects violations, keeping the first [`VIOLATIONS_KEPT_PER_KIND`] of
/// each kind.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Violations {
    kept: Vec<Violation>,
    total: u64,
    /// Per check of [`VIOLATION_CHECKS`].
    counts: [u64; 5],
}

impl Violations {
    /// Records one violation.
    pub fn push(&mut self, violation: Violation) {
        self.total += 1;
        self.counts[check_index(violation.check())] += 1;
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

    /// How many were found by `check` (0 for an outcome).
    pub fn count(&self, check: Check) -> u64 {
        match check {
            Check::Outcome(_) => 0,
            check => self.counts[check_index(check)],
        }
    }

    fn extend(&mut self, other: Violations) {
        self.total += other.total;
        for (count, other) in self.counts.iter_mut().zip(other.counts) {
            *count += other;
        }
        for violation in other.kept {
            let same_kind = self.kept.iter().filter(|kept| kept.kind() == violation.kind()).count();
            if same_kind < VIOLATIONS_KEPT_PER_KIND {
                self.kept.push(violation);
            }
        }
    }

    /// Kept violations of one kind (see [`Violation::kind`]).
    pub fn of_kind<'a>(&'a self, kind: &'a str) -> impl Iterator<Item = &'a Violation> + 'a {
        self.kept.iter().filter(move |violation| violation.kind() == kind)
    }
}

/// How a run ended: PASS, or FAIL with what went wrong, labelled with its
/// protocol's promise, and the outcome events it measured.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Verdict {
    /// Everything the checks found, promised or not.
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
    /// Outcome events counted (none but Blocked when checks are off).
    pub outcomes: Outcomes,
    /// The protocol's promise the run is judged by; set by whoever knows
    /// the protocol ([`Verdict::label`]), linearizable until then.
    pub consistency: Consistency,
    /// The faults the run had.
    pub faults: FaultClass,
    /// True if the protocol's concurrency control may starve a command
    /// under contention ([`Verdict::allow_starvation`]).
    pub may_starve: bool,
}

impl Verdict {
    /// Combines the checks of one run. `survivors` are the replicas alive
    /// when it ended, with their stores; `faults`: the faults it had.
    pub fn new(
        order: ExecutionChecker,
        history: &History,
        unfinished: Unfinished,
        survivors: &[(ProcessId, &KvStore)],
        faults: FaultClass,
    ) -> Verdict {
        let executions_checked = order.executions();
        let checked = order.enabled();
        let duplicates_suppressed = order.duplicates_suppressed();
        let (linearizability, mut outcomes) = history.check_with_outcomes(survivors, &order);
        atomicity_violations(&order, survivors, &mut outcomes);
        outcomes.duplicate_applies = order.double_executions();
        let mut violations = order.into_violations();
        violations.extend(linearizability);
        outcomes.blocked = unfinished.blocked_count;
        outcomes.starved = unfinished.starved_count;
        if unfinished.blocked_count > 0 {
            violations.push(Violation::Incomplete { count: unfinished.blocked_count, cmds: unfinished.blocked });
        }
        if unfinished.starved_count > 0 {
            violations.push(Violation::Starved { count: unfinished.starved_count, cmds: unfinished.starved });
        }
        Verdict {
            violations,
            executions_checked,
            operations_checked: history.len() as u64,
            checked,
            duplicates_suppressed,
            outcomes,
            consistency: Consistency::default(),
            faults,
            may_starve: false,
        }
    }

    /// Judges the run by `consistency`, its protocol's promise.
    pub fn label(&mut self, consistency: Consistency) {
        self.consistency = consistency;
    }

    /// Declares that the protocol may starve a command under contention
    /// (no-wait locks, certification: concurrency control that aborts and
    /// retries, where one command can lose every round): starved commands
    /// are then a measured outcome, not a failure. Blocked ones still
    /// fail wherever completion is promised.
    pub fn allow_starvation(&mut self) {
        self.may_starve = true;
    }

    fn promised(&self, check: Check) -> bool {
        // A run that went beyond the fault budget (Unrecoverable: more
        // than f replicas without their state at once) is promised no
        // progress: nothing can answer without a quorum that has the
        // state, so its blocked commands are measured. Safety stays
        // promised: a correct protocol blocks rather than invent state
        // (VR's recovery waits for f + 1 answers from replicas in service).
        if matches!(check, Check::Completion | Check::Progress) && self.outcomes.unrecoverable > 0 {
            return false;
        }
        !(check == Check::Progress && self.may_starve) && self.consistency.promises(check, self.faults)
    }

    /// Violations and outcome events outside the promise.
    fn unpromised(&self) -> (u64, u64) {
        let violations = VIOLATION_CHECKS
            .iter()
            .filter(|&&check| !self.promised(check))
            .map(|&check| self.violations.count(check))
            .sum();
        let outcomes = OutcomeKind::ALL
            .iter()
            .filter(|&&kind| !self.promised(Check::Outcome(kind)))
            .map(|&kind| self.outcomes.count(kind))
            .sum();
        (violations, outcomes)
    }

    /// True if nothing the protocol promised went wrong.
    pub fn passed(&self) -> bool {
        VIOLATION_CHECKS.iter().all(|&check| self.violations.count(check) == 0 || !self.promised(check))
            && OutcomeKind::ALL
                .iter()
                .all(|&kind| self.outcomes.count(kind) == 0 || !self.promised(Check::Outcome(kind)))
    }

    fn write_outcomes(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.outcomes.is_empty() {
            return Ok(());
        }
        write!(f, "\n  outcomes: {}", self.outcomes.counts_line())?;
        for outcome in self.outcomes.kept() {
            write!(f, "\n  {outcome}")?;
        }
        Ok(())
    }
}

/// AtomicityViolation: a write `w` executed at a survivor `a`, and not
/// rolled back there, while another survivor `s` went past it (executed
/// another write of the key at the position `w` held, see
/// [`ExecutionChecker::skipped`]) and never executed `w` by the end: `w`
/// committed at `a` and, for good, not at `s` (3PC under a partition).
/// A survivor that merely lags has gone past nothing and is not counted.
/// One event per write.
fn atomicity_violations(order: &ExecutionChecker, survivors: &[(ProcessId, &KvStore)], outcomes: &mut Outcomes) {
    let mut last = None;
    for (cmd, skipped_at) in order.skipped() {
        if last == Some(cmd)
            || order.executed(skipped_at, cmd)
            || !survivors.iter().any(|&(process, _)| process == skipped_at)
        {
            continue;
        }
        let stands = survivors
            .iter()
            .map(|&(process, _)| process)
            .find(|&process| order.executed(process, cmd) && !outcomes.rolled_back_at(cmd, process));
        if let Some(applied_at) = stands {
            outcomes.push(Outcome::AtomicityViolation { cmd, applied_at, skipped_at });
            last = Some(cmd);
        }
    }
    outcomes.forget_rolled_back_pairs();
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.passed() && !self.checked {
            write!(f, "PASS (completion only: order and linearizability checks were off)")?;
            return self.write_outcomes(f);
        }
        let (violations_outside, outcomes_outside) = self.unpromised();
        if self.passed() && violations_outside + outcomes_outside > 0 {
            write!(
                f,
                "PASS of its promise ({}{}): {} executions, {} operations checked; outside the promise: \
                 {violations_outside} violation(s), {outcomes_outside} outcome event(s)",
                self.consistency,
                if self.faults.any() { ", with faults" } else { "" },
                self.executions_checked,
                self.operations_checked
            )?;
            for violation in self.violations.kept().iter().filter(|v| !self.promised(v.check())) {
                write!(f, "\n  {violation}")?;
            }
            return self.write_outcomes(f);
        }
        if self.passed() {
            write!(
                f,
                "PASS ({} executions in order, {} operations linearizable",
                self.executions_checked, self.operations_checked
            )?;
            if self.consistency != Consistency::Linearizable {
                write!(f, "; promise: {}", self.consistency)?;
            }
            if self.duplicates_suppressed > 0 {
                write!(f, ", {} re-execution(s) of retried commands suppressed", self.duplicates_suppressed)?;
            }
            write!(f, ")")?;
            return self.write_outcomes(f);
        }
        write!(f, "FAIL: {} violation(s)", self.violations.total())?;
        let promised_outcomes: u64 = OutcomeKind::ALL
            .iter()
            .filter(|&&kind| self.promised(Check::Outcome(kind)))
            .map(|&kind| self.outcomes.count(kind))
            .sum();
        if promised_outcomes > 0 {
            write!(f, " and {promised_outcomes} outcome event(s)")?;
        }
        if self.consistency != Consistency::Linearizable {
            write!(f, " (promise: {})", self.consistency)?;
        }
        for violation in self.violations.kept() {
            write!(f, "\n  {violation}")?;
        }
        let hidden = self.violations.total() - self.violations.kept().len() as u64;
        if hidden > 0 {
            write!(f, "\n  ... and {hidden} more")?;
        }
        self.write_outcomes(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::command::{Command, Op};
    use crate::id::ClientId;
    use crate::time::Time;

    /// primary-backup.md F1 as the harness sees it: client 0's write of
    /// 50 acknowledged by the old primary, client 1's write of 60 long
    /// after the failover replaced the value before it; the survivor
    /// holds 60.
    fn lost_write_verdict(faults: FaultClass) -> Verdict {
        let op = |client: u32, value: u64, invoked: u64, responded: u64| HistoryOp {
            key: 3,
            cmd: CommandId { client: ClientId(client), seq: 1 },
            written: Some(value),
            observed: None,
            invoked: Time::from_ns(invoked),
            responded: Some(Time::from_ns(responded)),
        };
        let mut history = History::new();
        history.push(op(0, 50, 0, 10));
        history.push(op(1, 60, 1_000, 1_100));
        let mut survivor = KvStore::new();
        let id = CommandId { client: ClientId(1), seq: 1 };
        survivor.apply(&Command { id, ops: vec![(3, Op::Put(60))].into(), payload_bytes: 0 }, None);
        Verdict::new(ExecutionChecker::new(2, 2), &history, Unfinished::default(), &[(ProcessId(1), &survivor)], faults)
    }

    #[test]
    fn a_lost_write_fails_a_linearizable_protocol() {
        let verdict = lost_write_verdict(FaultClass::Network);
        assert_eq!((verdict.outcomes.acked_writes_lost, verdict.outcomes.divergent_acks), (1, 1));
        assert!(!verdict.passed());
        let text = verdict.to_string();
        assert!(text.starts_with("FAIL: 1 violation(s) and 2 outcome event(s)"), "{text}");
        assert!(
            text.contains(
                "outcomes: AckedWriteLost 1, StaleRead 0, DivergentAck 1, SplitBrain 0, RolledBack{was_acked=true} 0, \
                 RolledBack{was_acked=false} 0, GhostWrite 0, DuplicateApply 0, AtomicityViolation 0, Unrecoverable 0, \
                 Blocked 0"
            ),
            "{text}"
        );
    }

    #[test]
    fn a_lost_write_after_faults_is_measured_for_a_promise_without_failover() {
        let mut verdict = lost_write_verdict(FaultClass::Network);
        verdict.label(Consistency::LinearizableWithoutFailover);
        assert!(verdict.passed(), "{verdict}");
        let text = verdict.to_string();
        assert!(
            text.starts_with(
                "PASS of its promise (linearizable-without-failover, with faults): 0 executions, 2 operations \
                 checked; outside the promise: 1 violation(s), 2 outcome event(s)"
            ),
            "{text}"
        );
        // Without faults the same promise is full linearizability.
        let mut failure_free = lost_write_verdict(FaultClass::None);
        failure_free.label(Consistency::LinearizableWithoutFailover);
        assert!(!failure_free.passed());
    }

    fn put(client: u32, value: u64) -> Command {
        Command {
            id: CommandId { client: ClientId(client), seq: 1 },
            ops: vec![(7, Op::Put(value))].into(),
            payload_bytes: 0,
        }
    }

    /// two-phase-commit.md §9: p1 committed `a` then `b`; p2 aborted `a`
    /// and committed `b` at `a`'s position: AtomicityViolation(a). A p3
    /// that executed nothing lags and has gone past nothing.
    #[test]
    fn three_pc_9_a_write_one_survivor_went_past_is_an_atomicity_violation() {
        let (a, b) = (put(0, 50), put(1, 60));
        let mut checker = ExecutionChecker::new(3, 2);
        checker.on_submit(a.id);
        checker.on_submit(b.id);
        let mut stores = [KvStore::new(), KvStore::new(), KvStore::new()];
        for (replica, cmds) in [(0, vec![&a, &b]), (1, vec![&b])] {
            for cmd in cmds {
                checker.on_execute(ProcessId::from_index(replica), cmd);
                stores[replica].apply(cmd, None);
            }
        }
        let survivors: Vec<(ProcessId, &KvStore)> =
            stores.iter().enumerate().map(|(i, store)| (ProcessId::from_index(i), store)).collect();
        let verdict = Verdict::new(checker, &History::new(), Unfinished::default(), &survivors, FaultClass::Network);
        assert_eq!(verdict.outcomes.atomicity_violations, 1, "{verdict}");
        assert!(
            verdict.outcomes.kept().contains(&Outcome::AtomicityViolation {
                cmd: a.id,
                applied_at: ProcessId::from_index(0),
                skipped_at: ProcessId::from_index(1)
            }),
            "{verdict}"
        );
        assert!(!verdict.passed(), "order is promised: {verdict}");
    }

    #[test]
    fn a_command_executed_twice_is_a_duplicate_apply() {
        let a = put(0, 50);
        let mut checker = ExecutionChecker::new(1, 1);
        checker.on_submit(a.id);
        checker.on_execute(ProcessId(1), &a);
        checker.on_execute(ProcessId(1), &a);
        let verdict = Verdict::new(checker, &History::new(), Unfinished::default(), &[], FaultClass::None);
        assert_eq!(verdict.outcomes.duplicate_applies, 1);
        assert_eq!(verdict.violations.count(Check::Execution), 1);
    }

    #[test]
    fn blocked_commands_are_an_outcome_and_fail_the_completion_check() {
        let cmd = CommandId { client: ClientId(0), seq: 4 };
        let blocked = Unfinished::blocked(vec![cmd], 1);
        let mut verdict = Verdict::new(ExecutionChecker::new(1, 1), &History::new(), blocked, &[], FaultClass::Network);
        assert_eq!(verdict.outcomes.blocked, 1);
        verdict.label(Consistency::LinearizableWithoutFailover);
        assert!(!verdict.passed(), "completion is promised: {verdict}");
        verdict.allow_starvation();
        assert!(!verdict.passed(), "blocked is not starved: {verdict}");
        verdict.label(Consistency::Serializable);
        assert!(verdict.passed(), "no progress promise under faults: {verdict}");
    }

    #[test]
    fn starved_commands_fail_unless_the_protocol_may_starve_and_never_where_completion_is_not_promised() {
        let cmd = CommandId { client: ClientId(0), seq: 4 };
        let starved = Unfinished { starved_count: 1, starved: vec![cmd], ..Unfinished::default() };
        let verdict_of =
            |faults| Verdict::new(ExecutionChecker::new(1, 1), &History::new(), starved.clone(), &[], faults);
        let mut verdict = verdict_of(FaultClass::None);
        assert_eq!((verdict.outcomes.starved, verdict.outcomes.blocked), (1, 0));
        verdict.label(Consistency::LinearizableMayBlock);
        assert!(!verdict.passed(), "starvation-free unless declared: {verdict}");
        assert!(verdict.to_string().contains("progress: 1 command(s) never completed"), "{verdict}");
        verdict.allow_starvation();
        assert!(verdict.passed(), "measured, not failed: {verdict}");
        let mut faulted = verdict_of(FaultClass::Crashes);
        faulted.label(Consistency::LinearizableMayBlock);
        assert!(faulted.passed(), "no completion promise under crashes: {faulted}");
    }

    /// vr.md §1: more than f replicas crashed or recovering at once is
    /// beyond the budget: Unrecoverable is measured, the commands it
    /// blocks are excused, safety is still promised.
    #[test]
    fn an_unrecoverable_run_is_excused_blocking_but_not_losses() {
        let cmd = CommandId { client: ClientId(0), seq: 4 };
        let mut verdict = Verdict::new(
            ExecutionChecker::new(3, 1),
            &History::new(),
            Unfinished::blocked(vec![cmd], 1),
            &[],
            FaultClass::Crashes,
        );
        assert!(!verdict.passed(), "completion is promised: {verdict}");
        let replicas = vec![ProcessId(1), ProcessId(2)];
        verdict.outcomes.push(Outcome::Unrecoverable { at: Time::from_ns(1_500_000_000), replicas, f: 1 });
        assert!(verdict.passed(), "{verdict}");
        let text = verdict.to_string();
        assert!(text.contains("outside the promise: 1 violation(s), 1 outcome event(s)"), "{text}");
        assert!(
            text.contains(
                "Unrecoverable: at 1.5 s, 2 replicas were crashed or recovering at once (p1, p2), more than f = 1: \
                 their state may be gone"
            ),
            "{text}"
        );
        let mut lost = lost_write_verdict(FaultClass::Crashes);
        lost.outcomes.push(Outcome::Unrecoverable { at: Time::from_ns(5), replicas: vec![ProcessId(1)], f: 0 });
        assert!(!lost.passed(), "a lost write still fails: {lost}");
    }
}
