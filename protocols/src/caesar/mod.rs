//! Caesar: timestamps plus predecessors, with a wait condition.
//!
//! The coordinator of a command proposes a unique timestamp to every
//! process; each answers with the conflicting commands it knows with
//! smaller timestamps (predecessors). If the first `FQ` replies (about 3n/4)
//! all accept the timestamp, the command commits in one round trip even if
//! their predecessor sets differ. A process that knows a conflicting
//! command with a *larger* timestamp waits until that command's timestamp
//! and predecessors are settled (the wait condition), then accepts if it is
//! among that command's predecessors and rejects with a new timestamp
//! otherwise. A reject makes the coordinator retry with the largest
//! timestamp it heard, which commits after a majority acknowledges it. The
//! predecessors executor ([`PredExecutor`]) runs a command once every
//! predecessor with a smaller timestamp has run.
//!
//! Spec: `shared/specs/caesar.md`. This module implements fantoch's normal
//! case (§5 steps 1-8), the wait condition (option), and garbage collection
//! (§7). Recovery after crashes and lost messages (`failure.rs`, the rule
//! in `recovery.rs`) runs only with failure detection, and then every
//! decision is an exact-value accept round at a ballot before its commit
//! (DESIGN.md, Caesar recovery); failure-free runs are unchanged.
//!
//! Divergences from the spec text, all without effect on the failure-free
//! behaviour:
//! - The whole MPropose handler runs atomically here, so the transient
//!   `PROPOSE_BEGIN` status of fantoch (which exists because its workers
//!   run concurrently) is never observed: a command goes from `START` to
//!   `PROPOSE_END` (accepted, or waiting) or `REJECT` in one step.
//! - The coordinator counts replies in its own per-command record, one per
//!   process (duplicates ignored), instead of reading its replica status.
//! - The executor notifies each dot as it executes it
//!   ([`Protocol::handle_executed`]); the protocol sends the dots executed
//!   since the last report to the others at every GC tick (caesar.md §7's
//!   `executed: list<dot>`), rather than on the executor's own 50 ms
//!   period.
//!   fantoch sends a per-origin frontier instead: one command stuck in the
//!   wait condition then pins every later command of its origin, which
//!   keeps them all registered and swells every predecessor set on hot
//!   keys. Counting reports per dot frees each as soon as it can go.

mod clock;
mod failure;
mod key_index;
pub mod recovery;

pub use clock::{Clock, ClockGen, MAX_CLOCK_SEQ};
pub use failure::{DEFAULT_RECOVERY_TIMEOUT_NS, RECOVERY_RANK_STEP_NS};
pub use key_index::KeyIndex;

use crate::shared::dot::Dot;
use crate::shared::dot_window::DotWindows;
use crate::shared::pred_executor::{PredCommitted, PredExecutor};
use crate::shared::quorum;
use crate::shared::synod::Ballot;
use recovery::Accepted;
use sim_core::protocol::{MessageSize, Outbox, ProcessSetup, Protocol};
use sim_core::{Command, ProcessId, Time};
use std::sync::Arc;

/// A set of predecessors on the wire and in per-command state: sorted,
/// without duplicates, shared by every copy of a message.
pub type Deps = Arc<[Dot]>;

/// What the executor gets for a committed command.
pub type Committed = PredCommitted<Clock>;

/// Most processes a Caesar shard may have (replies are a 64-bit set).
pub const MAX_PROCESSES: usize = 64;

/// Caesar's options (caesar.md §2).
#[derive(Clone, Debug, PartialEq, Eq, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Options {
    /// Wait for a conflicting command with a larger timestamp to settle
    /// before answering (default); off, such a command makes a process
    /// reject at once.
    pub wait_condition: bool,
    /// Use the paper's fast quorum `ceil(3n/4)` instead of fantoch's
    /// `floor(3n/4) + 1`; they differ only when 4 divides n.
    pub paper_fast_quorum: bool,
    /// How long a dot stays uncommitted before its recovery (with failure
    /// detection only); default [`DEFAULT_RECOVERY_TIMEOUT_NS`].
    pub recovery_timeout_ns: Option<u64>,
    /// Planted bug (tests only): a recoverer takes the first reply's
    /// timestamp (accepted or merely registered there) instead of the
    /// recovery rule.
    pub plant_recovery_any_ts: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            wait_condition: true,
            paper_fast_quorum: false,
            recovery_timeout_ns: None,
            plant_recovery_any_ts: false,
        }
    }
}

/// Caesar messages (caesar.md §4).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Message {
    /// The coordinator proposes timestamp `ts` for `cmd`, to everyone.
    MPropose {
        /// The command's id.
        dot: Dot,
        /// The command.
        cmd: Arc<Command>,
        /// The proposed timestamp.
        ts: Clock,
    },
    /// A process accepts (`ok`) the proposed timestamp, or rejects it and
    /// suggests `ts`; `deps` are its predecessors at `ts`.
    MProposeAck {
        /// The command's id.
        dot: Dot,
        /// The proposed timestamp if `ok`, else a new one.
        ts: Clock,
        /// Predecessors at `ts`.
        deps: Deps,
        /// Accepted.
        ok: bool,
    },
    /// The coordinator retries with timestamp `ts` and predecessors `deps`.
    MRetry {
        /// The command's id.
        dot: Dot,
        /// The largest timestamp the coordinator heard.
        ts: Clock,
        /// The union of the predecessors it heard.
        deps: Deps,
    },
    /// A process accepted the retry; `deps` adds its predecessors at the
    /// retry timestamp.
    MRetryAck {
        /// The command's id.
        dot: Dot,
        /// Its predecessors at the retry timestamp, plus the retry's.
        deps: Deps,
    },
    /// The command is decided (the paper's Stable).
    MCommit {
        /// The command's id.
        dot: Dot,
        /// Its final timestamp.
        ts: Clock,
        /// Its final predecessors.
        deps: Deps,
    },
    /// Periodic: the commands the sender executed since its last report.
    MGarbageCollection {
        /// Their dots (shared by the copies sent to each process).
        executed: Arc<[Dot]>,
    },
    /// With failure detection: accept this exact value at `ballot` (0: the
    /// coordinator's, after its fast quorum or retry; above: a recovery's).
    MAccept {
        /// The command's id.
        dot: Dot,
        /// The command (a process that missed the proposal needs it).
        cmd: Arc<Command>,
        /// The ballot.
        ballot: Ballot,
        /// The timestamp a commit would carry.
        ts: Clock,
        /// The predecessors a commit would carry.
        deps: Deps,
    },
    /// The sender accepted `dot`'s value at `ballot`.
    MAcceptAck {
        /// The command's id.
        dot: Dot,
        /// The ballot.
        ballot: Ballot,
    },
    /// Recovery: join ballot `ballot` of `dot` and report.
    MRec {
        /// The command's id.
        dot: Dot,
        /// The command.
        cmd: Arc<Command>,
        /// The recovery's ballot.
        ballot: Ballot,
    },
    /// The answer to an MRec.
    MRecAck {
        /// The command's id.
        dot: Dot,
        /// The recovery's ballot.
        ballot: Ballot,
        /// The highest value accepted there.
        accepted: Option<Accepted>,
        /// The replier's clock.
        clock: Clock,
        /// The timestamp the dot is registered at there.
        registered: Clock,
    },
    /// Recovery found nothing accepted: register at `ts` and report the
    /// predecessors there (§5 step 6 at a ballot).
    MRecRetry {
        /// The command's id.
        dot: Dot,
        /// The command.
        cmd: Arc<Command>,
        /// The recovery's ballot.
        ballot: Ballot,
        /// The fresh timestamp.
        ts: Clock,
    },
    /// The answer to an MRecRetry.
    MRecRetryAck {
        /// The command's id.
        dot: Dot,
        /// The recovery's ballot.
        ballot: Ballot,
        /// The replier's predecessors at the retry's timestamp.
        deps: Deps,
    },
    /// The sender knows `dot` (a predecessor, or a commit) but not its
    /// command.
    MPayloadRequest {
        /// The command's id.
        dot: Dot,
    },
    /// The answer: the command, and its commit if decided there.
    MPayload {
        /// The command's id.
        dot: Dot,
        /// The command.
        cmd: Arc<Command>,
        /// Its timestamp and predecessors, if committed at the sender.
        committed: Option<(Clock, Deps)>,
    },
}

/// Fixed per-message overhead: a tag and the sender, plus framing.
const HEADER_BYTES: u64 = 16;
/// A dot or a timestamp: a 4-byte process id and an 8-byte counter.
const ID_BYTES: u64 = 12;

impl MessageSize for Message {
    fn size_bytes(&self) -> u64 {
        let deps_bytes = |deps: &Deps| ID_BYTES * deps.len() as u64;
        HEADER_BYTES
            + match self {
                Message::MPropose { cmd, .. } => 2 * ID_BYTES + cmd.size_bytes(),
                Message::MProposeAck { deps, .. } => 2 * ID_BYTES + 1 + deps_bytes(deps),
                Message::MRetry { deps, .. } | Message::MCommit { deps, .. } => 2 * ID_BYTES + deps_bytes(deps),
                Message::MRetryAck { deps, .. } => ID_BYTES + deps_bytes(deps),
                Message::MGarbageCollection { executed } => ID_BYTES * executed.len() as u64,
                Message::MAccept { cmd, deps, .. } => 3 * ID_BYTES + cmd.size_bytes() + deps_bytes(deps),
                Message::MAcceptAck { .. } | Message::MPayloadRequest { .. } => 2 * ID_BYTES,
                Message::MRec { cmd, .. } => 2 * ID_BYTES + cmd.size_bytes(),
                Message::MRecAck { accepted, .. } => {
                    5 * ID_BYTES + accepted.as_ref().map_or(0, |accepted| 2 * ID_BYTES + deps_bytes(&accepted.deps))
                }
                Message::MRecRetry { cmd, .. } => 3 * ID_BYTES + cmd.size_bytes(),
                Message::MRecRetryAck { deps, .. } => 2 * ID_BYTES + deps_bytes(deps),
                Message::MPayload { cmd, committed, .. } => {
                    ID_BYTES + cmd.size_bytes() + committed.as_ref().map_or(0, |(_, deps)| ID_BYTES + deps_bytes(deps))
                }
            }
    }
}

/// Caesar timers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Timer {
    /// Time to tell the others what this process executed (§7).
    GarbageCollection,
    /// With failure detection: is this dot committed yet?
    Watch(Dot),
}

/// A command's status at one process (caesar.md §4).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Status {
    /// Nothing known but buffered MRetry/MCommit.
    Start,
    /// The command is known (asked for), not registered, no vote given.
    Payload,
    /// Registered by joining a recovery, never proposed here.
    Recover,
    /// Proposed here and accepted, or waiting (`blocked_by` non-empty).
    ProposeEnd,
    /// Proposed here and rejected.
    Reject,
    /// Retry received: timestamp and predecessors final enough to judge
    /// (without failure detection); with it, also a value accepted at a
    /// ballot, which is not final (only `Commit` is).
    Accept,
    /// Committed.
    Commit,
}

/// A retry or commit that arrived before the proposal.
#[derive(Debug)]
struct Early {
    from: ProcessId,
    ts: Clock,
    deps: Deps,
}

/// The coordinator's round (caesar.md §5 steps 5 and 7).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Round {
    Propose,
    Retry,
    /// With failure detection: the exact value, at ballot 0, to a majority.
    Accept,
    Done,
}

/// The coordinator's bookkeeping for a command it submitted.
#[derive(Debug)]
struct Coordinator {
    submitted_at: Time,
    round: Round,
    /// Bit `i`: process `i + 1` replied in this round.
    replied: u64,
    replies: usize,
    /// The proposed timestamp, raised to the largest one replied; after
    /// the propose round, the retry timestamp.
    ts: Clock,
    /// Union of the predecessors replied in this round, sorted.
    deps: Vec<Dot>,
    all_ok: bool,
    /// With failure detection, in the accept round: the predecessors
    /// accepted with `ts`.
    accepted: Option<Deps>,
}

impl Coordinator {
    /// Counts `from`'s reply once per round; false for a duplicate or a
    /// sender outside `everyone` (the shard's processes, bit `id - 1`).
    fn first_reply_from(&mut self, from: ProcessId, everyone: u64) -> bool {
        let Some(bit) = (from.0 as usize).checked_sub(1).filter(|&index| index < MAX_PROCESSES).map(|index| 1 << index)
        else {
            return false;
        };
        if everyone & bit == 0 || self.replied & bit != 0 {
            return false;
        }
        self.replied |= bit;
        self.replies += 1;
        true
    }

    /// Adds the (sorted) predecessors of one reply.
    fn add_deps(&mut self, deps: &[Dot]) {
        self.deps = if self.deps.is_empty() { deps.to_vec() } else { union(&self.deps, deps) };
    }

    /// The union of the predecessors replied, sorted, without `dot`.
    fn take_deps(&mut self, dot: Dot, empty: &Deps) -> Deps {
        let mut deps = std::mem::take(&mut self.deps);
        if let Ok(position) = deps.binary_search(&dot) {
            deps.remove(position);
        }
        shared(empty, deps)
    }
}

/// One process's state for one command.
#[derive(Debug)]
struct Info {
    status: Status,
    /// `None` only in `Start`.
    cmd: Option<Arc<Command>>,
    /// The timestamp it is registered at in the key index (outside `Start`).
    ts: Clock,
    deps: Deps,
    coordinator: Option<Box<Coordinator>>,
    /// Only under contention or reordering; kept out of line so the common
    /// case stays small.
    extra: Option<Box<Extra>>,
}

/// The wait condition's bookkeeping, and messages that came early.
#[derive(Debug, Default)]
struct Extra {
    /// While waiting: the commands with a larger timestamp it waits for.
    blocked_by: Vec<Dot>,
    /// Commands waiting for this one to reach `Accept` or `Commit`.
    blocking: Vec<Dot>,
    early_retry: Option<Early>,
    early_commit: Option<Early>,
    /// The highest ballot promised (0: only the coordinator's).
    promised: Ballot,
    /// The value accepted at the highest ballot, if any.
    accepted: Option<Accepted>,
    /// With failure detection: the watch and this process's recovery.
    watch: Option<Box<failure::Watch>>,
}

impl Info {
    fn new(empty: &Deps) -> Info {
        Info {
            status: Status::Start,
            cmd: None,
            ts: Clock::default(),
            deps: empty.clone(),
            coordinator: None,
            extra: None,
        }
    }

    fn extra(&mut self) -> &mut Extra {
        self.extra.get_or_insert_with(Box::default)
    }

    /// The highest ballot promised here.
    fn promised(&self) -> Ballot {
        self.extra.as_ref().map_or(0, |extra| extra.promised)
    }

    /// True if the dot is in the key index here (at `ts`).
    fn registered(&self) -> bool {
        !matches!(self.status, Status::Start | Status::Payload)
    }

    /// No longer waiting (accepted, rejected, retried or committed).
    fn stop_waiting(&mut self) {
        if let Some(extra) = &mut self.extra {
            extra.blocked_by = Vec::new();
        }
    }
}

/// Per-command state of one process, by dot, with garbage collection.
/// Which processes reported executing a command (bit `id - 1`) is kept
/// apart from its state: garbage collection walks those masks for every
/// reported dot, long after the state was last touched, and 8-byte masks
/// side by side keep that walk in few cache lines.
#[derive(Debug)]
struct Commands {
    reported: DotWindows<u64>,
    infos: DotWindows<Option<Info>>,
    /// Every process's bit: a command reported by all is collected.
    everyone: u64,
    /// Commands holding state.
    live: usize,
}

impl Commands {
    fn get(&self, dot: Dot) -> Option<&Info> {
        self.infos.get(dot)?.as_ref()
    }

    fn get_mut(&mut self, dot: Dot) -> Option<&mut Info> {
        self.infos.get_mut(dot)?.as_mut()
    }

    /// True if `dot` was collected: a message about it is late.
    fn is_collected(&self, dot: Dot) -> bool {
        self.reported.is_trimmed(dot) || self.reported.get(dot) == Some(&self.everyone)
    }

    /// `dot`'s state, created in `Start` if new; `None` if it was collected
    /// or the dot is bogus.
    fn get_or_start(&mut self, dot: Dot, empty: &Deps) -> Option<&mut Info> {
        if self.is_collected(dot) {
            return None;
        }
        let slot = self.infos.slot(dot)?;
        if slot.is_none() {
            self.live += 1;
        }
        Some(slot.get_or_insert_with(|| Info::new(empty)))
    }

    /// Process `bit` reported executing `dot`; if every process now has,
    /// collects it and returns its state (if it had any here).
    fn report_executed(&mut self, dot: Dot, bit: u64) -> Option<Info> {
        let reported = self.reported.slot(dot)?;
        if *reported == self.everyone {
            return None; // collected already
        }
        *reported |= bit;
        if *reported != self.everyone {
            return None;
        }
        let info = self.infos.get_mut(dot).and_then(Option::take);
        if info.is_some() {
            self.live -= 1;
        }
        let everyone = self.everyone;
        self.reported.trim(dot, |&reported| reported == everyone);
        self.infos.trim_below(dot, self.reported.base(dot));
        info
    }
}

/// `dots` as shared predecessors; empty sets share `empty`'s allocation.
fn shared(empty: &Deps, dots: Vec<Dot>) -> Deps {
    if dots.is_empty() { empty.clone() } else { dots.into() }
}

/// The union of two sorted sets of dots, sorted: a linear merge (the sets
/// replies carry are large on hot keys and mostly equal).
fn union(left: &[Dot], right: &[Dot]) -> Vec<Dot> {
    debug_assert!(left.is_sorted() && right.is_sorted());
    let mut merged = Vec::with_capacity(left.len().max(right.len()));
    let (mut i, mut j) = (0, 0);
    while i < left.len() && j < right.len() {
        let (a, b) = (left[i], right[j]);
        merged.push(a.min(b));
        i += usize::from(a <= b);
        j += usize::from(b <= a);
    }
    merged.extend_from_slice(&left[i..]);
    merged.extend_from_slice(&right[j..]);
    merged
}

/// True if sorted `deps` holds `dot`.
fn contains(deps: &[Dot], dot: Dot) -> bool {
    deps.binary_search(&dot).is_ok()
}

/// One Caesar process: coordinator of its clients' commands and replica of
/// everyone's.
#[derive(Debug)]
pub struct Caesar {
    id: ProcessId,
    processes: Vec<ProcessId>,
    others: Vec<ProcessId>,
    fast_quorum: usize,
    classic_quorum: usize,
    wait_condition: bool,
    gc_interval_ns: u64,
    last_seq: u64,
    clock: ClockGen,
    index: KeyIndex,
    cmds: Commands,
    empty: Deps,
    /// What the co-located executor executed since the last report, in
    /// execution order.
    executed: Vec<Dot>,
    /// With failure detection (runs with faults): how long a dot may stay
    /// uncommitted before this process acts on it.
    recovery_timeout_ns: Option<u64>,
    /// Planted bug (tests only), see [`Options::plant_recovery_any_ts`].
    plant_recovery_any_ts: bool,
}

impl Caesar {
    /// Checks the rules Caesar puts on a configuration: `f` is ignored
    /// (Caesar always tolerates a minority) but must be a valid
    /// `1 <= f <= n/2`, and at most [`MAX_PROCESSES`] processes.
    pub fn check(n: usize, f: usize) -> Result<(), String> {
        if n > MAX_PROCESSES {
            return Err(format!("Caesar supports at most {MAX_PROCESSES} processes, got n = {n}"));
        }
        quorum::check_f(n, f)
    }

    /// The fast quorum size `FQ`.
    pub fn fast_quorum(&self) -> usize {
        self.fast_quorum
    }

    /// The classic quorum size `CQ` (a majority).
    pub fn classic_quorum(&self) -> usize {
        self.classic_quorum
    }

    /// Commands with per-command state here (not garbage-collected yet).
    pub fn commands_held(&self) -> usize {
        self.cmds.live
    }

    /// The per-key index of registered commands.
    pub fn key_index(&self) -> &KeyIndex {
        &self.index
    }

    /// §5 step 1.
    fn propose(&mut self, cmd: Arc<Command>, now: Time, out: &mut Outbox<Self>) {
        self.last_seq += 1;
        let dot = Dot { origin: self.id, seq: self.last_seq };
        let ts = self.clock.clock_next();
        let Some(info) = self.cmds.get_or_start(dot, &self.empty) else {
            unreachable!("a new dot of this process is neither collected nor bogus")
        };
        info.coordinator = Some(Box::new(Coordinator {
            submitted_at: now,
            round: Round::Propose,
            replied: 0,
            replies: 0,
            ts,
            deps: Vec::new(),
            all_ok: true,
            accepted: None,
        }));
        out.send_to_each(&self.processes, Message::MPropose { dot, cmd, ts });
    }

    /// §5 step 2.
    fn handle_mpropose(&mut self, dot: Dot, cmd: Arc<Command>, ts: Clock, now: Time, out: &mut Outbox<Self>) {
        self.clock.clock_join(ts);
        let Some(info) = self.cmds.get_or_start(dot, &self.empty) else { return };
        if !matches!(info.status, Status::Start | Status::Payload) || info.promised() > 0 {
            // A duplicate, or a recovery took the dot over (and registered
            // it): no vote at ballot 0 after promising a later one.
            return;
        }
        let (pred, blockers) = self.index.propose(dot, &cmd, ts);
        let deps = shared(&self.empty, pred);
        info.cmd = Some(cmd);
        info.ts = ts;
        info.deps = deps;
        // Decide: accept, reject, or wait for the blockers not settled yet.
        let mut reject = false;
        let mut waiting_for = Vec::new();
        if !blockers.is_empty() && !self.wait_condition {
            reject = true;
        } else {
            for blocker in blockers {
                // Registered commands keep their state until collected, and
                // are unregistered then; tolerate a missing one anyway.
                let Some(other) = self.cmds.get(blocker) else { continue };
                if !self.settled(other.status) {
                    waiting_for.push(blocker); // not settled: wait for it
                } else if !contains(&other.deps, dot) {
                    reject = true; // it will run first: ts is not acceptable
                    break;
                } // else it counts us as predecessor: ignore it
            }
        }
        if reject {
            self.reject(dot, out);
        } else if waiting_for.is_empty() {
            self.accept(dot, out);
        } else {
            for blocker in &waiting_for {
                self.cmds.get_mut(*blocker).expect("looked up above").extra().blocking.push(dot);
            }
            let info = self.cmds.get_mut(dot).expect("inserted above");
            info.status = Status::ProposeEnd;
            info.extra().blocked_by = waiting_for;
        }
        self.watch(dot, now, out);
        // Then whatever arrived before the proposal.
        let info = self.cmds.get_mut(dot).expect("inserted above");
        let Some(extra) = &mut info.extra else { return };
        let (retry, commit) = (extra.early_retry.take(), extra.early_commit.take());
        if let Some(early) = retry {
            self.handle_mretry(early.from, dot, early.ts, early.deps, out);
        }
        if let Some(early) = commit {
            self.handle_mcommit(early.from, dot, early.ts, early.deps, now, out);
        }
    }

    /// True if a blocker in `status` is final enough for the wait
    /// condition to judge by its predecessors: `Accept` or `Commit`, but
    /// with failure detection `Commit` only (DESIGN.md, Caesar recovery
    /// (2)): an MRetry's predecessors still grow, and a value accepted at
    /// a ballot may be replaced by a later one before it is chosen.
    fn settled(&self, status: Status) -> bool {
        status == Status::Commit || (status == Status::Accept && self.recovery_timeout_ns.is_none())
    }

    /// Registers `dot` at `ts`, or moves it there if registered already.
    fn place(index: &mut KeyIndex, dot: Dot, info: &Info, cmd: &Command, ts: Clock) {
        if info.registered() {
            index.move_to(dot, cmd, info.ts, ts);
        } else {
            index.register(dot, cmd, ts);
        }
    }

    /// §5 step 2a: reply ok with the proposed timestamp and the
    /// predecessors computed at proposal.
    fn accept(&mut self, dot: Dot, out: &mut Outbox<Self>) {
        let info = self.cmds.get_mut(dot).expect("accept a known command");
        info.status = Status::ProposeEnd;
        info.stop_waiting();
        out.send(dot.origin, Message::MProposeAck { dot, ts: info.ts, deps: info.deps.clone(), ok: true });
    }

    /// §5 step 3: reject with a fresh timestamp and the predecessors at it.
    /// The registration stays at the proposed timestamp until MRetry or
    /// MCommit moves it.
    fn reject(&mut self, dot: Dot, out: &mut Outbox<Self>) {
        let info = self.cmds.get_mut(dot).expect("reject a known command");
        info.status = Status::Reject;
        info.stop_waiting();
        let cmd = info.cmd.clone().expect("proposed");
        let ts = self.clock.clock_next();
        let deps = shared(&self.empty, self.index.pred(dot, &cmd, ts));
        out.send(dot.origin, Message::MProposeAck { dot, ts, deps, ok: false });
    }

    /// §5 step 4: `settled` just reached `Accept` or `Commit` here; every
    /// command waiting for it is accepted (if `settled` counts it as
    /// predecessor and nothing else blocks it) or rejected.
    fn unblock(&mut self, settled: Dot, out: &mut Outbox<Self>) {
        let info = self.cmds.get_mut(settled).expect("unblock a known command");
        let Some(extra) = &mut info.extra else { return };
        let (waiters, deps) = (std::mem::take(&mut extra.blocking), info.deps.clone());
        for waiter in waiters {
            let Some(waiting) = self.cmds.get_mut(waiter) else { continue };
            if waiting.status != Status::ProposeEnd {
                continue; // rejected, retried or committed meanwhile
            }
            let Some(extra) = &mut waiting.extra else { continue };
            let Some(position) = extra.blocked_by.iter().position(|&dot| dot == settled) else { continue };
            if contains(&deps, waiter) {
                extra.blocked_by.swap_remove(position);
                if extra.blocked_by.is_empty() {
                    self.accept(waiter, out);
                }
            } else {
                self.reject(waiter, out);
            }
        }
    }

    /// §5 step 5, at the coordinator: `from` replied `(ts, deps, ok)`.
    fn handle_mproposeack(
        &mut self,
        from: ProcessId,
        dot: Dot,
        reply: (Clock, Deps, bool),
        now: Time,
        out: &mut Outbox<Self>,
    ) {
        let (ts, deps, ok) = reply;
        let everyone = self.cmds.everyone;
        let Some(info) = self.cmds.get_mut(dot) else { return };
        let cmd = info.cmd.clone();
        let Some(coordinator) = info.coordinator.as_deref_mut() else {
            return;
        };
        if coordinator.round != Round::Propose || !coordinator.first_reply_from(from, everyone) {
            return;
        }
        coordinator.ts = coordinator.ts.max(ts);
        coordinator.add_deps(&deps);
        coordinator.all_ok &= ok;
        // Fast path once the first FQ replies are all ok; retry as soon as a
        // majority replied with a reject among them (a fast path is then
        // impossible).
        let all_in = coordinator.replies >= self.fast_quorum;
        if !all_in && (coordinator.replies < self.classic_quorum || coordinator.all_ok) {
            return;
        }
        let (ts, deps) = (coordinator.ts, coordinator.take_deps(dot, &self.empty));
        coordinator.replied = 0;
        coordinator.replies = 0;
        if coordinator.all_ok && self.recovery_timeout_ns.is_some() {
            // Failure detection: the fast path's value is accepted by a
            // majority before it is committed (DESIGN.md, Caesar recovery (1)).
            out.fast_path();
            Self::accept_round(coordinator, cmd, dot, ts, deps, &self.processes, out);
        } else if coordinator.all_ok {
            coordinator.round = Round::Done;
            out.fast_path();
            out.commit_latency(now.since(coordinator.submitted_at));
            out.dependencies(deps.len());
            out.send_to_each(&self.processes, Message::MCommit { dot, ts, deps });
        } else {
            coordinator.round = Round::Retry;
            out.slow_path();
            // To everyone, not just a majority: the retry settles the
            // command and so releases the commands waiting for it.
            out.send_to_each(&self.processes, Message::MRetry { dot, ts, deps });
        }
    }

    /// §5 step 6.
    fn handle_mretry(&mut self, from: ProcessId, dot: Dot, ts: Clock, deps: Deps, out: &mut Outbox<Self>) {
        self.clock.clock_join(ts);
        let Some(info) = self.cmds.get_or_start(dot, &self.empty) else { return };
        match info.status {
            Status::Start => {
                info.extra().early_retry = Some(Early { from, ts, deps });
                return;
            }
            Status::Accept | Status::Commit => return, // duplicate, or overtaken by the commit
            Status::ProposeEnd | Status::Reject | Status::Payload | Status::Recover => {}
        }
        if info.promised() > 0 {
            return; // a recovery's ballot replaced the coordinator's
        }
        let cmd = info.cmd.clone().expect("proposed");
        Self::place(&mut self.index, dot, info, &cmd, ts);
        info.status = Status::Accept;
        info.ts = ts;
        info.stop_waiting();
        info.deps = deps.clone();
        let reply = union(&self.index.pred(dot, &cmd, ts), &deps);
        out.send(from, Message::MRetryAck { dot, deps: shared(&self.empty, reply) });
        if self.recovery_timeout_ns.is_none() {
            self.unblock(dot, out);
        }
    }

    /// With failure detection, the coordinator's last round before a
    /// commit: the exact value, accepted at ballot 0 by a majority.
    fn accept_round(
        coordinator: &mut Coordinator,
        cmd: Option<Arc<Command>>,
        dot: Dot,
        ts: Clock,
        deps: Deps,
        processes: &[ProcessId],
        out: &mut Outbox<Self>,
    ) {
        let Some(cmd) = cmd else {
            coordinator.round = Round::Done; // cannot happen: it proposed the command
            return;
        };
        coordinator.round = Round::Accept;
        coordinator.replied = 0;
        coordinator.replies = 0;
        coordinator.ts = ts;
        coordinator.accepted = Some(deps.clone());
        out.send_to_each(processes, Message::MAccept { dot, cmd, ballot: 0, ts, deps });
    }

    /// §5 step 7, at the coordinator.
    fn handle_mretryack(&mut self, from: ProcessId, dot: Dot, deps: Deps, now: Time, out: &mut Outbox<Self>) {
        let everyone = self.cmds.everyone;
        let Some(info) = self.cmds.get_mut(dot) else { return };
        let cmd = info.cmd.clone();
        let Some(coordinator) = info.coordinator.as_deref_mut() else {
            return;
        };
        if coordinator.round != Round::Retry || !coordinator.first_reply_from(from, everyone) {
            return;
        }
        coordinator.add_deps(&deps);
        if coordinator.replies < self.classic_quorum {
            return;
        }
        let (ts, deps) = (coordinator.ts, coordinator.take_deps(dot, &self.empty));
        if self.recovery_timeout_ns.is_some() {
            Self::accept_round(coordinator, cmd, dot, ts, deps, &self.processes, out);
            return;
        }
        coordinator.round = Round::Done;
        out.commit_latency(now.since(coordinator.submitted_at));
        out.dependencies(deps.len());
        out.send_to_each(&self.processes, Message::MCommit { dot, ts, deps });
    }

    /// §5 step 8.
    fn handle_mcommit(&mut self, from: ProcessId, dot: Dot, ts: Clock, deps: Deps, now: Time, out: &mut Outbox<Self>) {
        self.clock.clock_join(ts);
        let Some(info) = self.cmds.get_or_start(dot, &self.empty) else { return };
        match info.status {
            Status::Start => {
                info.extra().early_commit = Some(Early { from, ts, deps });
                self.watch(dot, now, out); // it may have to ask for the command
                return;
            }
            Status::Commit => return,
            Status::ProposeEnd | Status::Reject | Status::Accept | Status::Payload | Status::Recover => {}
        }
        // A command retried above its own proposal could list itself; the
        // coordinator already removes it, this is for any other sender.
        let deps: Deps = if contains(&deps, dot) { deps.iter().copied().filter(|&d| d != dot).collect() } else { deps };
        let cmd = info.cmd.clone().expect("proposed");
        Self::place(&mut self.index, dot, info, &cmd, ts);
        info.status = Status::Commit;
        info.ts = ts;
        info.stop_waiting();
        info.deps = deps.clone();
        info.coordinator = None;
        failure::committed(info, out);
        if self.recovery_timeout_ns.is_some() {
            // This process cannot execute the command before its
            // predecessors: it must learn each one.
            for &dep in deps.iter() {
                self.watch(dep, now, out);
            }
        }
        out.execute(PredCommitted { dot, cmd, ts, deps });
        self.unblock(dot, out);
    }

    /// §7: `from` executed `executed`; forget each command once every
    /// process has executed it: its state, and its registration (a later
    /// conflicting command then no longer lists it, which is safe because
    /// it has executed everywhere, after every command it had to follow).
    fn handle_garbage_collection(&mut self, from: ProcessId, executed: &[Dot]) {
        let bit = (from.0 as usize).checked_sub(1).filter(|&index| index < MAX_PROCESSES).map_or(0, |index| 1 << index);
        if bit & self.cmds.everyone == 0 {
            return; // not one of the shard's processes
        }
        for &dot in executed {
            if let Some(info) = self.cmds.report_executed(dot, bit)
                && let Some(cmd) = &info.cmd
            {
                self.index.unregister(dot, cmd, info.ts);
            }
        }
    }
}

impl Protocol for Caesar {
    type Message = Message;
    type Timer = Timer;
    type Executor = PredExecutor<Clock>;
    type Options = Options;

    fn new(setup: ProcessSetup, options: &Options) -> (Self, PredExecutor<Clock>) {
        let n = setup.n();
        debug_assert!(Caesar::check(n, setup.config.f).is_ok());
        let fast_quorum = if options.paper_fast_quorum { (3 * n).div_ceil(4) } else { quorum::caesar_fast(n) };
        let everyone = setup.processes.iter().fold(0, |everyone, p| everyone | 1 << p.index());
        let caesar = Caesar {
            id: setup.id,
            others: setup.processes.iter().copied().filter(|&p| p != setup.id).collect(),
            processes: setup.processes,
            fast_quorum,
            classic_quorum: quorum::majority(n),
            wait_condition: options.wait_condition,
            gc_interval_ns: setup.config.gc_interval_ns,
            last_seq: 0,
            clock: ClockGen::new(setup.id),
            index: KeyIndex::new(),
            cmds: Commands { reported: DotWindows::new(), infos: DotWindows::new(), everyone, live: 0 },
            empty: Arc::from(Vec::new()),
            executed: Vec::new(),
            recovery_timeout_ns: setup
                .config
                .failure_detection
                .then(|| options.recovery_timeout_ns.unwrap_or(DEFAULT_RECOVERY_TIMEOUT_NS)),
            plant_recovery_any_ts: options.plant_recovery_any_ts,
        };
        (caesar, PredExecutor::new())
    }

    fn start(&mut self, _now: Time, out: &mut Outbox<Self>) {
        out.set_timer(Timer::GarbageCollection, self.gc_interval_ns);
    }

    fn submit(&mut self, cmd: Arc<Command>, now: Time, out: &mut Outbox<Self>) {
        self.propose(cmd, now, out);
    }

    fn handle(&mut self, from: ProcessId, msg: Message, now: Time, out: &mut Outbox<Self>) {
        match msg {
            Message::MPropose { dot, cmd, ts } => self.handle_mpropose(dot, cmd, ts, now, out),
            Message::MProposeAck { dot, ts, deps, ok } => self.handle_mproposeack(from, dot, (ts, deps, ok), now, out),
            Message::MRetry { dot, ts, deps } => self.handle_mretry(from, dot, ts, deps, out),
            Message::MRetryAck { dot, deps } => self.handle_mretryack(from, dot, deps, now, out),
            Message::MCommit { dot, ts, deps } => self.handle_mcommit(from, dot, ts, deps, now, out),
            Message::MGarbageCollection { executed } => self.handle_garbage_collection(from, &executed),
            Message::MAccept { dot, cmd, ballot, ts, deps } => {
                self.handle_maccept(from, dot, cmd, ballot, (ts, deps), now, out)
            }
            Message::MAcceptAck { dot, ballot } => self.handle_macceptack(from, dot, ballot, now, out),
            Message::MRec { dot, cmd, ballot } => self.handle_mrec(from, dot, cmd, ballot, now, out),
            Message::MRecAck { dot, ballot, accepted, clock, registered } => {
                let reply = recovery::RecoveryReply { from, accepted, clock, registered };
                self.handle_mrecack(dot, ballot, reply, out);
            }
            Message::MRecRetry { dot, cmd, ballot, ts } => self.handle_mrecretry(from, dot, cmd, ballot, ts, now, out),
            Message::MRecRetryAck { dot, ballot, deps } => self.handle_mrecretryack(from, dot, ballot, &deps, out),
            Message::MPayloadRequest { dot } => self.handle_mpayloadrequest(from, dot, out),
            Message::MPayload { dot, cmd, committed } => self.handle_mpayload(from, dot, cmd, committed, now, out),
        }
    }

    fn handle_timer(&mut self, timer: Timer, now: Time, out: &mut Outbox<Self>) {
        match timer {
            Timer::Watch(dot) => self.handle_watch(dot, now, out),
            Timer::GarbageCollection => {
                if !self.executed.is_empty() {
                    // One shared copy for every report; the buffer stays.
                    let executed: Arc<[Dot]> = Arc::from(self.executed.as_slice());
                    self.executed.clear();
                    self.handle_garbage_collection(self.id, &executed);
                    out.send_to_each(&self.others, Message::MGarbageCollection { executed });
                }
                out.set_timer(Timer::GarbageCollection, self.gc_interval_ns);
            }
        }
    }

    /// The executor executed `dot` here: reported at the next GC tick (§7).
    fn handle_executed(&mut self, dot: Dot, _now: Time, _out: &mut Outbox<Self>) {
        self.executed.push(dot);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};
    use sim_core::protocol::{Effect, ProtocolConfig};
    use sim_core::rng::{Purpose, RngStreams};
    use sim_core::testing::ExecutorHarness;
    use sim_core::{ClientId, CommandId, Key, Op};
    use std::collections::BTreeMap;

    const T0: Time = Time::ZERO;

    fn process_with(id: u32, n: u32, options: &Options) -> (Caesar, PredExecutor<Clock>) {
        let processes: Vec<ProcessId> = (1..=n).map(ProcessId).collect();
        let mut by_distance = processes.clone();
        by_distance.sort_by_key(|p| (p.0.abs_diff(id), p.0));
        let setup = ProcessSetup {
            id: ProcessId(id),
            processes,
            by_distance,
            config: ProtocolConfig { f: 1, ..ProtocolConfig::default() },
            rng: RngStreams::new(1).stream(Purpose::Protocol, u64::from(id)),
        };
        Caesar::new(setup, options)
    }

    fn process(id: u32, n: u32) -> Caesar {
        process_with(id, n, &Options::default()).0
    }

    /// A write of `key` by client 0, numbered `seq`.
    fn cmd(seq: u64, key: Key) -> Arc<Command> {
        Arc::new(Command {
            id: CommandId { client: ClientId(0), seq },
            ops: vec![(key, Op::Put(seq))].into(),
            payload_bytes: 0,
        })
    }

    fn ts(seq: u64, pid: u32) -> Clock {
        Clock::new(seq, ProcessId(pid))
    }

    fn deps(dots: &[Dot]) -> Deps {
        dots.into()
    }

    fn sends(out: &Outbox<Caesar>) -> Vec<(ProcessId, Message)> {
        out.sent()
    }

    fn executions(out: &Outbox<Caesar>) -> Vec<Committed> {
        out.executions()
    }

    fn to_all(n: u32, msg: Message) -> Vec<(ProcessId, Message)> {
        (1..=n).map(|p| (ProcessId(p), msg.clone())).collect()
    }

    fn ack(dot: Dot, clock: Clock, reported: &[Dot], ok: bool) -> Message {
        Message::MProposeAck { dot, ts: clock, deps: deps(reported), ok }
    }

    #[test]
    fn union_merges_sorted_sets() {
        let dots = |seqs: &[u64]| seqs.iter().map(|&seq| Dot::new(1 + (seq % 2) as u32, seq)).collect::<Vec<_>>();
        let (mut left, mut right) = (dots(&[1, 3, 4, 8, 9]), dots(&[2, 3, 8, 10]));
        left.sort_unstable();
        right.sort_unstable();
        let mut expected = [left.clone(), right.clone()].concat();
        expected.sort_unstable();
        expected.dedup();
        assert_eq!(union(&left, &right), expected);
        assert_eq!(union(&right, &left), expected);
        assert_eq!(union(&[], &right), right);
        assert_eq!(union(&left, &[]), left);
    }

    /// caesar.md §8 example 1, and the paper's fast quorum where 4 | n.
    #[test]
    fn caesar_8_1_sizes() {
        let sizes = |n| {
            let caesar = process(1, n);
            (caesar.fast_quorum(), caesar.classic_quorum())
        };
        assert_eq!(sizes(5), (4, 3));
        assert_eq!(sizes(3), (3, 2), "n = 3: everyone must accept for the fast path");
        assert_eq!(sizes(7), (6, 4));
        let paper = Options { paper_fast_quorum: true, ..Options::default() };
        let fast = |n, options: &Options| process_with(1, n, options).0.fast_quorum();
        assert_eq!((fast(4, &Options::default()), fast(4, &paper)), (4, 3));
        assert_eq!((fast(8, &Options::default()), fast(8, &paper)), (7, 6));
        assert_eq!((fast(5, &Options::default()), fast(5, &paper)), (4, 4), "odd n: the same");
        assert!(Caesar::check(5, 2).is_ok() && Caesar::check(5, 3).is_err() && Caesar::check(65, 1).is_err());
    }

    /// caesar.md §8 example 2: n=5, leader 1 proposes (7,1); the first 4
    /// replies are ok with deps {x}, {x}, {}, {x,y}: commit (7,1) with
    /// {x,y}, although the sets differ.
    #[test]
    fn caesar_8_2_fast_path_with_differing_deps() {
        let mut leader = process(1, 5);
        let mut out = Outbox::new();
        // Seeing (6,2) makes the leader's next timestamp (7,1).
        leader.handle(
            ProcessId(2),
            Message::MPropose { dot: Dot::new(2, 1), cmd: cmd(1, 99), ts: ts(6, 2) },
            T0,
            &mut out,
        );
        let submitted_at = Time::from_ns(1_000);
        let mut out = Outbox::new();
        leader.submit(cmd(2, 7), submitted_at, &mut out);
        let dot = Dot::new(1, 1);
        assert_eq!(sends(&out), to_all(5, Message::MPropose { dot, cmd: cmd(2, 7), ts: ts(7, 1) }));
        leader.handle(ProcessId(1), Message::MPropose { dot, cmd: cmd(2, 7), ts: ts(7, 1) }, submitted_at, &mut out);

        let (x, y) = (Dot::new(4, 1), Dot::new(5, 1));
        let mut out = Outbox::new();
        let now = Time::from_ns(5_000);
        leader.handle(ProcessId(3), ack(dot, ts(7, 1), &[x], true), now, &mut out);
        leader.handle(ProcessId(2), ack(dot, ts(7, 1), &[x], true), now, &mut out);
        leader.handle(ProcessId(1), ack(dot, ts(7, 1), &[], true), now, &mut out);
        assert!(sends(&out).is_empty(), "3 oks are a majority but not FQ = 4");
        leader.handle(ProcessId(5), ack(dot, ts(7, 1), &[x, y], true), now, &mut out);
        assert_eq!(sends(&out), to_all(5, Message::MCommit { dot, ts: ts(7, 1), deps: deps(&[x, y]) }));
        let metrics = out.metrics();
        assert_eq!((metrics.fast_paths, metrics.slow_paths), (1, 0));
        assert_eq!(metrics.commit_latency.summary().max_ns, 4_000);
        assert_eq!(metrics.dependencies.summary().max_ns, 2);
        let mut out = Outbox::new();
        leader.handle(ProcessId(4), ack(dot, ts(7, 1), &[], true), now, &mut out);
        assert!(out.effects().is_empty(), "a fifth reply after the decision is ignored");
    }

    /// caesar.md §8 example 3: replies ok, ok, reject with (9,3): with 3 =
    /// CQ replies and a reject, MRetry (9,3) with the union of the deps;
    /// commit after 3 MRetryAcks, 4 message delays after the proposal
    /// (MPropose, MProposeAck, MRetry, MRetryAck).
    #[test]
    fn caesar_8_3_retry_then_commit_after_a_majority() {
        let mut leader = process(1, 5);
        let mut out = Outbox::new();
        leader.submit(cmd(1, 7), T0, &mut out);
        let dot = Dot::new(1, 1);
        leader.handle(ProcessId(1), Message::MPropose { dot, cmd: cmd(1, 7), ts: ts(1, 1) }, T0, &mut out);
        let (a, b, c) = (Dot::new(2, 1), Dot::new(3, 1), Dot::new(4, 1));
        let mut out = Outbox::new();
        leader.handle(ProcessId(1), ack(dot, ts(1, 1), &[], true), T0, &mut out);
        leader.handle(ProcessId(2), ack(dot, ts(1, 1), &[a], true), T0, &mut out);
        assert!(sends(&out).is_empty());
        leader.handle(ProcessId(3), ack(dot, ts(9, 3), &[a, b], false), T0, &mut out);
        let retry = Message::MRetry { dot, ts: ts(9, 3), deps: deps(&[a, b]) };
        assert_eq!(sends(&out), to_all(5, retry.clone()));
        assert_eq!((out.metrics().fast_paths, out.metrics().slow_paths), (0, 1));

        // The leader's own replica accepts the retry and answers.
        let mut out = Outbox::new();
        leader.handle(ProcessId(1), retry, T0, &mut out);
        assert_eq!(sends(&out), vec![(ProcessId(1), Message::MRetryAck { dot, deps: deps(&[a, b]) })]);
        let mut out = Outbox::new();
        leader.handle(ProcessId(4), ack(dot, ts(1, 1), &[], true), T0, &mut out);
        assert!(sends(&out).is_empty(), "late proposal replies are ignored once retrying");
        let later = Time::from_ns(9);
        leader.handle(ProcessId(1), Message::MRetryAck { dot, deps: deps(&[a, b]) }, later, &mut out);
        leader.handle(ProcessId(4), Message::MRetryAck { dot, deps: deps(&[a, b, c]) }, later, &mut out);
        leader.handle(ProcessId(4), Message::MRetryAck { dot, deps: deps(&[a, b, c]) }, later, &mut out);
        assert!(sends(&out).is_empty(), "two distinct retry acks (one repeated) are not CQ = 3");
        leader.handle(ProcessId(5), Message::MRetryAck { dot, deps: deps(&[b]) }, later, &mut out);
        assert_eq!(sends(&out), to_all(5, Message::MCommit { dot, ts: ts(9, 3), deps: deps(&[a, b, c]) }));
        assert_eq!(out.metrics().commit_latency.summary().max_ns, 9);
    }

    /// Process 3 of 5 registers b at (5,2) (accepted, not settled); a at
    /// (3,1) arrives and must wait; then b commits with `b_deps`.
    fn wait_condition_then_commit_b(b_deps: &[Dot], options: &Options) -> (Outbox<Caesar>, Outbox<Caesar>) {
        let (a, b) = (Dot::new(1, 1), Dot::new(2, 1));
        let mut replica = process_with(3, 5, options).0;
        let mut out = Outbox::new();
        replica.handle(ProcessId(2), Message::MPropose { dot: b, cmd: cmd(2, 7), ts: ts(5, 2) }, T0, &mut out);
        assert_eq!(sends(&out), vec![(ProcessId(2), ack(b, ts(5, 2), &[], true))]);
        let mut proposal = Outbox::new();
        replica.handle(ProcessId(1), Message::MPropose { dot: a, cmd: cmd(1, 7), ts: ts(3, 1) }, T0, &mut proposal);
        let mut commit = Outbox::new();
        replica.handle(ProcessId(2), Message::MCommit { dot: b, ts: ts(5, 2), deps: deps(b_deps) }, T0, &mut commit);
        assert_eq!(executions(&commit).len(), 1, "b is handed to the executor");
        (proposal, commit)
    }

    /// caesar.md §8 example 4, first outcome: b commits counting a as
    /// predecessor, so a is accepted with its own timestamp.
    #[test]
    fn caesar_8_4_wait_condition_accepts_when_b_lists_a() {
        let a = Dot::new(1, 1);
        let (proposal, commit) = wait_condition_then_commit_b(&[a], &Options::default());
        assert!(sends(&proposal).is_empty(), "a waits for b");
        assert_eq!(sends(&commit), vec![(ProcessId(1), ack(a, ts(3, 1), &[], true))]);
    }

    /// caesar.md §8 example 4, second outcome: b commits without a, so a is
    /// rejected with `clock_next()` = (6,3) (and b as predecessor there).
    #[test]
    fn caesar_8_4_wait_condition_rejects_when_b_does_not_list_a() {
        let (a, b) = (Dot::new(1, 1), Dot::new(2, 1));
        let (proposal, commit) = wait_condition_then_commit_b(&[], &Options::default());
        assert!(sends(&proposal).is_empty(), "a waits for b");
        assert_eq!(sends(&commit), vec![(ProcessId(1), ack(a, ts(6, 3), &[b], false))]);
    }

    /// Without the wait condition a blocked proposal is rejected at once.
    #[test]
    fn wait_condition_off_rejects_immediately() {
        let (a, b) = (Dot::new(1, 1), Dot::new(2, 1));
        let no_wait = Options { wait_condition: false, ..Options::default() };
        let (proposal, commit) = wait_condition_then_commit_b(&[a], &no_wait);
        assert_eq!(sends(&proposal), vec![(ProcessId(1), ack(a, ts(6, 3), &[b], false))]);
        assert!(sends(&commit).is_empty(), "nothing waits for b");
    }

    /// A blocker that already settled decides at once: ignored if it lists
    /// the proposal, otherwise a reject; an MRetry settles like a commit.
    #[test]
    fn settled_blockers_and_retries_decide_without_waiting() {
        let (a, b, c) = (Dot::new(1, 1), Dot::new(2, 1), Dot::new(4, 1));
        let mut replica = process(3, 5);
        let mut out = Outbox::new();
        replica.handle(ProcessId(2), Message::MPropose { dot: b, cmd: cmd(2, 7), ts: ts(5, 2) }, T0, &mut out);
        replica.handle(ProcessId(4), Message::MPropose { dot: c, cmd: cmd(4, 7), ts: ts(8, 4) }, T0, &mut out);
        // c waits for nothing (largest); a waits for b and c.
        let mut out = Outbox::new();
        replica.handle(ProcessId(1), Message::MPropose { dot: a, cmd: cmd(1, 7), ts: ts(3, 1) }, T0, &mut out);
        assert!(sends(&out).is_empty());
        // b's retry lists a: b no longer blocks a, c still does. The ack adds
        // c, below b's new timestamp here.
        let mut out = Outbox::new();
        replica.handle(ProcessId(2), Message::MRetry { dot: b, ts: ts(9, 2), deps: deps(&[a]) }, T0, &mut out);
        assert_eq!(sends(&out), vec![(ProcessId(2), Message::MRetryAck { dot: b, deps: deps(&[a, c]) })]);
        // c commits listing a: a is accepted.
        let mut out = Outbox::new();
        replica.handle(ProcessId(4), Message::MCommit { dot: c, ts: ts(8, 4), deps: deps(&[a, b]) }, T0, &mut out);
        assert_eq!(sends(&out), vec![(ProcessId(1), ack(a, ts(3, 1), &[], true))]);
        // A new proposal below the settled b and c, which do not list it:
        // rejected at once with (10,3), above everything seen, where a, b
        // and c are all predecessors.
        let d = Dot::new(5, 1);
        let mut out = Outbox::new();
        replica.handle(ProcessId(5), Message::MPropose { dot: d, cmd: cmd(5, 7), ts: ts(4, 5) }, T0, &mut out);
        assert_eq!(sends(&out), vec![(ProcessId(5), ack(d, ts(10, 3), &[a, b, c], false))]);
    }

    /// The wait condition serialises concurrent conflicting commands (the
    /// liveness cost the report describes): n = 3, a (1,1), b (1,2) and
    /// c (1,3) proposed at once on one key, each process seeing its own
    /// proposal first. At p3, b waits for c; at p2 and p3, a waits for b
    /// (and c). So c commits first, b only after c's commit reached p3, and
    /// a only after b's commit reached p2 and p3: one decision round per
    /// command, in decreasing timestamp order. No cycle can form (a command
    /// only waits for larger proposed timestamps), but the chain grows with
    /// the number of concurrent conflicting commands.
    #[test]
    fn wait_chain_decides_in_decreasing_timestamp_order() {
        let mut p: Vec<Caesar> = (1..=3).map(|id| process(id, 3)).collect();
        let (a, b, c) = (Dot::new(1, 1), Dot::new(2, 1), Dot::new(3, 1));
        let propose = |dot: Dot, seq| Message::MPropose { dot, cmd: cmd(seq, 7), ts: ts(1, dot.origin.0) };
        // Deliver `msg` from `from` to `to`; returns what it sent.
        let deliver = |p: &mut [Caesar], from: u32, to: u32, msg: Message| {
            let mut out = Outbox::new();
            p[to as usize - 1].handle(ProcessId(from), msg, T0, &mut out);
            sends(&out)
        };
        for (id, dot) in [(1, a), (2, b), (3, c)] {
            p[id - 1].submit(cmd(id as u64, 7), T0, &mut Outbox::new());
            let own = deliver(&mut p, id as u32, id as u32, propose(dot, id as u64));
            assert_eq!(own.len(), 1, "each accepts its own proposal");
        }
        assert_eq!(deliver(&mut p, 3, 2, propose(c, 3)), vec![(ProcessId(3), ack(c, ts(1, 3), &[b], true))]);
        assert_eq!(deliver(&mut p, 2, 1, propose(b, 2)), vec![(ProcessId(2), ack(b, ts(1, 2), &[a], true))]);
        assert_eq!(deliver(&mut p, 3, 1, propose(c, 3)), vec![(ProcessId(3), ack(c, ts(1, 3), &[a, b], true))]);
        assert!(deliver(&mut p, 2, 3, propose(b, 2)).is_empty(), "b waits for c at p3");
        assert!(deliver(&mut p, 1, 2, propose(a, 1)).is_empty(), "a waits for b and c at p2");
        assert!(deliver(&mut p, 1, 3, propose(a, 1)).is_empty(), "a waits for b and c at p3");

        // c: three oks (p3 itself, p2 {b}, p1 {a, b}): fast commit with {a, b}.
        deliver(&mut p, 3, 3, ack(c, ts(1, 3), &[], true));
        deliver(&mut p, 2, 3, ack(c, ts(1, 3), &[b], true));
        let commit_c = deliver(&mut p, 1, 3, ack(c, ts(1, 3), &[a, b], true));
        assert_eq!(commit_c[0].1, Message::MCommit { dot: c, ts: ts(1, 3), deps: deps(&[a, b]) });
        let commit_c = commit_c[0].1.clone();
        // At p3, c's commit releases b (c lists it); a still waits for b.
        assert_eq!(deliver(&mut p, 3, 3, commit_c.clone()), vec![(ProcessId(2), ack(b, ts(1, 2), &[], true))]);
        assert!(deliver(&mut p, 3, 2, commit_c.clone()).is_empty(), "a still waits for b at p2");
        deliver(&mut p, 3, 1, commit_c);

        // b: oks from p2 itself, p1 {a} and p3: fast commit with {a}.
        deliver(&mut p, 2, 2, ack(b, ts(1, 2), &[], true));
        deliver(&mut p, 1, 2, ack(b, ts(1, 2), &[a], true));
        let commit_b = deliver(&mut p, 3, 2, ack(b, ts(1, 2), &[], true));
        assert_eq!(commit_b[0].1, Message::MCommit { dot: b, ts: ts(1, 2), deps: deps(&[a]) });
        let commit_b = commit_b[0].1.clone();
        // Only now is a accepted at p2 and p3.
        assert_eq!(deliver(&mut p, 2, 2, commit_b.clone()), vec![(ProcessId(1), ack(a, ts(1, 1), &[], true))]);
        assert_eq!(deliver(&mut p, 2, 3, commit_b.clone()), vec![(ProcessId(1), ack(a, ts(1, 1), &[], true))]);
        deliver(&mut p, 2, 1, commit_b);
        deliver(&mut p, 1, 1, ack(a, ts(1, 1), &[], true));
        deliver(&mut p, 2, 1, ack(a, ts(1, 1), &[], true));
        let commit_a = deliver(&mut p, 3, 1, ack(a, ts(1, 1), &[], true));
        assert_eq!(commit_a[0].1, Message::MCommit { dot: a, ts: ts(1, 1), deps: deps(&[]) });
    }

    /// MRetry and MCommit arriving before the MPropose wait for it.
    #[test]
    fn retry_and_commit_before_propose_are_buffered() {
        let (a, b) = (Dot::new(1, 1), Dot::new(2, 1));
        let mut replica = process(3, 5);
        let mut out = Outbox::new();
        replica.handle(ProcessId(1), Message::MCommit { dot: a, ts: ts(4, 2), deps: deps(&[b, a]) }, T0, &mut out);
        replica.handle(ProcessId(1), Message::MRetry { dot: a, ts: ts(4, 2), deps: deps(&[b]) }, T0, &mut out);
        assert!(out.effects().is_empty(), "nothing can happen without the command");
        assert_eq!(replica.key_index().len(), 0);
        replica.handle(ProcessId(1), Message::MPropose { dot: a, cmd: cmd(1, 7), ts: ts(3, 1) }, T0, &mut out);
        assert_eq!(
            sends(&out),
            vec![
                (ProcessId(1), ack(a, ts(3, 1), &[], true)),
                (ProcessId(1), Message::MRetryAck { dot: a, deps: deps(&[b]) }),
            ]
        );
        let committed = executions(&out);
        assert_eq!(committed.len(), 1);
        assert_eq!((committed[0].ts, &*committed[0].deps), (ts(4, 2), &[b][..]), "its own dot removed");
        let mut out = Outbox::new();
        replica.handle(ProcessId(1), Message::MCommit { dot: a, ts: ts(4, 2), deps: deps(&[b]) }, T0, &mut out);
        replica.handle(ProcessId(1), Message::MPropose { dot: a, cmd: cmd(1, 7), ts: ts(3, 1) }, T0, &mut out);
        assert!(out.effects().is_empty(), "duplicates are ignored");
        assert_eq!(replica.key_index().pred(b, &cmd(9, 7), ts(5, 1)), vec![a], "registered at the commit ts");
    }

    /// Acks from the same process count once, in both rounds.
    #[test]
    fn duplicate_acks_count_once() {
        let mut leader = process(1, 3);
        let mut out = Outbox::new();
        leader.submit(cmd(1, 7), T0, &mut out);
        let dot = Dot::new(1, 1);
        let mut out = Outbox::new();
        for _ in 0..3 {
            leader.handle(ProcessId(2), ack(dot, ts(1, 1), &[], true), T0, &mut out);
            leader.handle(ProcessId(1), ack(dot, ts(1, 1), &[], true), T0, &mut out);
        }
        assert!(sends(&out).is_empty(), "n = 3 needs all 3 for the fast path");
        leader.handle(ProcessId(9), ack(dot, ts(1, 1), &[], true), T0, &mut out);
        leader.handle(ProcessId(0), ack(dot, ts(1, 1), &[], true), T0, &mut out);
        assert!(sends(&out).is_empty(), "unknown senders do not count");
        leader.handle(ProcessId(3), ack(dot, ts(1, 1), &[], true), T0, &mut out);
        assert_eq!(sends(&out).len(), 3);
    }

    /// §7: a command executed by every process leaves the per-command
    /// state and the key index; later commands no longer list it, and late
    /// messages about it are ignored.
    #[test]
    fn garbage_collection_unregisters_once_everyone_executed() {
        let (mut leader, mut executor) = process_with(1, 3, &Options::default());
        let mut harness = ExecutorHarness::new(ProcessId(1), 1);
        let mut out = Outbox::new();
        leader.submit(cmd(1, 7), T0, &mut out);
        let dot = Dot::new(1, 1);
        let mut out = Outbox::new();
        leader.handle(ProcessId(1), Message::MPropose { dot, cmd: cmd(1, 7), ts: ts(1, 1) }, T0, &mut out);
        for p in 1..=3 {
            leader.handle(ProcessId(p), ack(dot, ts(1, 1), &[], true), T0, &mut out);
        }
        let commit = Message::MCommit { dot, ts: ts(1, 1), deps: deps(&[]) };
        let mut out = Outbox::new();
        leader.handle(ProcessId(1), commit.clone(), T0, &mut out);
        let info = executions(&out).pop().expect("committed");
        let (executed, notified) = harness.step_with_feedback(&mut executor, info, T0);
        assert_eq!((executed.len(), notified.as_slice()), (1, [dot].as_slice()), "executed here");
        let mut out = Outbox::new();
        leader.handle_executed(dot, T0, &mut out);
        assert!(out.effects().is_empty(), "reported at the next tick only");
        assert_eq!((leader.commands_held(), leader.key_index().len()), (1, 1));

        let mut out = Outbox::new();
        leader.handle_timer(Timer::GarbageCollection, T0, &mut out);
        let report = Message::MGarbageCollection { executed: Arc::from([dot]) };
        assert_eq!(sends(&out), vec![(ProcessId(2), report.clone()), (ProcessId(3), report.clone())]);
        leader.handle(ProcessId(2), report.clone(), T0, &mut out);
        assert_eq!(leader.commands_held(), 1, "process 3 has not executed it yet");
        let other = Dot::new(2, 1);
        let mut out = Outbox::new();
        leader.handle(ProcessId(2), Message::MPropose { dot: other, cmd: cmd(2, 7), ts: ts(2, 2) }, T0, &mut out);
        assert_eq!(sends(&out), vec![(ProcessId(2), ack(other, ts(2, 2), &[dot], true))]);

        leader.handle(ProcessId(3), report.clone(), T0, &mut out);
        leader.handle(ProcessId(3), report, T0, &mut out);
        assert_eq!((leader.commands_held(), leader.key_index().len()), (1, 1), "only `other` is left");
        let mut out = Outbox::new();
        let third = Dot::new(3, 1);
        leader.handle(ProcessId(3), Message::MPropose { dot: third, cmd: cmd(3, 7), ts: ts(3, 3) }, T0, &mut out);
        assert_eq!(sends(&out), vec![(ProcessId(3), ack(third, ts(3, 3), &[other], true))], "not the collected dot");
        let mut out = Outbox::new();
        leader.handle(ProcessId(1), Message::MRetry { dot, ts: ts(5, 1), deps: deps(&[]) }, T0, &mut out);
        leader.handle(ProcessId(1), commit, T0, &mut out);
        leader.handle(ProcessId(1), ack(dot, ts(1, 1), &[], true), T0, &mut out);
        assert!(out.effects().is_empty(), "late messages about a collected dot are ignored");
        assert_eq!(leader.commands_held(), 2);
    }

    /// n processes exchange messages in a random order (any message may
    /// overtake any other), with garbage collection, for conflicting
    /// commands on 2 keys: every command executes everywhere, and on each
    /// key every process executes the same sequence.
    #[test]
    fn random_schedules_execute_every_key_in_the_same_order() {
        let (mut fast_paths, mut slow_paths) = (0, 0);
        for seed in 0..60u64 {
            let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
            let n = if seed % 2 == 0 { 3 } else { 5 };
            let options = Options { wait_condition: seed % 3 != 0, ..Options::default() };
            let mut processes: Vec<(Caesar, PredExecutor<Clock>, ExecutorHarness)> = (1..=n)
                .map(|id| {
                    let (caesar, executor) = process_with(id, n, &options);
                    (caesar, executor, ExecutorHarness::new(ProcessId(id), 64))
                })
                .collect();
            let commands = 24u64;
            let mut in_flight: Vec<(ProcessId, ProcessId, Message)> = Vec::new();
            let mut executed: Vec<Vec<CommandId>> = vec![Vec::new(); n as usize];
            let mut submitted = 0u64;
            let mut keys_of: BTreeMap<u64, Vec<Key>> = BTreeMap::new();
            let mut steps = 0;
            loop {
                steps += 1;
                assert!(steps < 200_000, "seed {seed}: no progress");
                let submit = submitted < commands && (in_flight.is_empty() || rng.next_u32() % 8 == 0);
                let gc = rng.next_u32() % 50 == 0;
                if !submit && !gc && in_flight.is_empty() {
                    break;
                }
                let (at, mut out) = if submit {
                    submitted += 1;
                    let at = ProcessId(1 + rng.next_u32() % n);
                    let keys: Vec<(Key, Op)> = match rng.next_u32() % 4 {
                        0 => vec![(1, Op::Put(submitted)), (2, Op::Put(submitted))],
                        1 => vec![(2, Op::Get)],
                        _ => vec![(1, Op::Put(submitted))],
                    };
                    keys_of.insert(submitted, keys.iter().map(|&(key, _)| key).collect());
                    let command = Command {
                        id: CommandId { client: ClientId(0), seq: submitted },
                        ops: keys.into(),
                        payload_bytes: 0,
                    };
                    let mut out = Outbox::new();
                    processes[at.index()].0.submit(Arc::new(command), T0, &mut out);
                    (at, out)
                } else if gc {
                    let at = ProcessId(1 + rng.next_u32() % n);
                    let mut out = Outbox::new();
                    processes[at.index()].0.handle_timer(Timer::GarbageCollection, T0, &mut out);
                    (at, out)
                } else {
                    let (from, to, msg) = in_flight.swap_remove(rng.next_u32() as usize % in_flight.len());
                    let mut out = Outbox::new();
                    processes[to.index()].0.handle(from, msg, T0, &mut out);
                    (to, out)
                };
                fast_paths += out.metrics().fast_paths;
                slow_paths += out.metrics().slow_paths;
                for effect in out.take() {
                    match effect {
                        Effect::Send { to, msg } => in_flight.push((at, to, msg)),
                        Effect::Execute(info) => {
                            let (caesar, executor, harness) = &mut processes[at.index()];
                            let (done, notified) = harness.step_with_feedback(executor, info, T0);
                            executed[at.index()].extend(done);
                            for dot in notified {
                                let mut out = Outbox::new();
                                caesar.handle_executed(dot, T0, &mut out);
                                assert!(out.effects().is_empty(), "it only records the dot");
                            }
                        }
                        Effect::SetTimer { .. } | Effect::CancelTimer { .. } => {}
                    }
                }
            }
            for (index, done) in executed.iter().enumerate() {
                assert_eq!(done.len() as u64, commands, "seed {seed}: process {} executed {done:?}", index + 1);
            }
            // Every pair sharing a key conflicts (reads included): each
            // key's sequence is the same at every process.
            let per_key = |done: &Vec<CommandId>| -> BTreeMap<Key, Vec<u64>> {
                let mut order: BTreeMap<Key, Vec<u64>> = BTreeMap::new();
                for id in done {
                    for &key in &keys_of[&id.seq] {
                        order.entry(key).or_default().push(id.seq);
                    }
                }
                order
            };
            let first = per_key(&executed[0]);
            for (index, done) in executed.iter().enumerate().skip(1) {
                assert_eq!(per_key(done), first, "seed {seed}: process {} disagrees with process 1", index + 1);
            }
            // Once everyone has reported what it executed, nothing is held.
            let mut reports = Vec::new();
            for (index, (caesar, ..)) in processes.iter_mut().enumerate() {
                let mut out = Outbox::new();
                caesar.handle_timer(Timer::GarbageCollection, T0, &mut out);
                reports.extend(sends(&out).into_iter().map(|(to, msg)| (ProcessId::from_index(index), to, msg)));
            }
            for (from, to, msg) in reports {
                processes[to.index()].0.handle(from, msg, T0, &mut Outbox::new());
            }
            for (caesar, ..) in &processes {
                assert_eq!((caesar.commands_held(), caesar.key_index().len()), (0, 0), "seed {seed}");
            }
        }
        assert_eq!(fast_paths + slow_paths, 60 * 24);
        assert!(fast_paths > 100 && slow_paths > 100, "both paths exercised: {fast_paths} fast, {slow_paths} slow");
    }
}
