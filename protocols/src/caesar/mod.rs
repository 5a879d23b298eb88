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
//! (§7). The paper-only slow proposal (a ballot-numbered accept round when
//! the coordinator times out with a majority of oks but no fast quorum)
//! and recovery after crashes are a later issue; they will need a ballot
//! per command, which fantoch does not have either.
//!
//! Divergences from the spec text, all without effect on the failure-free
//! behaviour:
//! - The whole MPropose handler runs atomically here, so the transient
//!   `PROPOSE_BEGIN` status of fantoch (which exists because its workers
//!   run concurrently) is never observed: a command goes from `START` to
//!   `PROPOSE_END` (accepted, or waiting) or `REJECT` in one step.
//! - The coordinator counts replies in its own per-command record, one per
//!   process (duplicates ignored), instead of reading its replica status.
//! - Garbage collection exchanges per-origin executed frontiers (as fantoch
//!   does, through [`GcTracker`]), not lists of dots; the executor hands its
//!   executed dots over at every GC tick ([`ExecutedDots`]).

mod clock;
mod key_index;

pub use clock::{Clock, ClockGen};
pub use key_index::KeyIndex;

use crate::shared::dot::Dot;
use crate::shared::gc::GcTracker;
use crate::shared::pred_executor::{ExecutedDots, PredCommitted, PredExecutor};
use crate::shared::quorum;
use sim_core::protocol::{MessageSize, Outbox, ProcessSetup, Protocol};
use sim_core::{Command, FixedHashMap, ProcessId, Time};
use std::sync::Arc;

/// A set of predecessors on the wire and in per-command state: sorted,
/// without duplicates, shared by every copy of a message.
pub type Deps = Arc<[Dot]>;

/// What the executor gets for a committed command.
pub type Committed = PredCommitted<Clock>;

/// Most processes a Caesar shard may have (replies are a 64-bit set).
pub const MAX_PROCESSES: usize = 64;

/// Caesar's options (caesar.md §2).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Options {
    /// Wait for a conflicting command with a larger timestamp to settle
    /// before answering (default); off, such a command makes a process
    /// reject at once.
    pub wait_condition: bool,
    /// Use the paper's fast quorum `ceil(3n/4)` instead of fantoch's
    /// `floor(3n/4) + 1`; they differ only when 4 divides n.
    pub paper_fast_quorum: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options { wait_condition: true, paper_fast_quorum: false }
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
    /// Periodic: per origin (by index), the highest seq up to which the
    /// sender has executed every command of that origin.
    MGarbageCollection {
        /// The sender's executed frontier.
        executed: Vec<u64>,
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
                Message::MGarbageCollection { executed } => 8 * executed.len() as u64,
            }
    }
}

/// Caesar timers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Timer {
    /// Time to tell the others what this process executed (§7).
    GarbageCollection,
}

/// A command's status at one process (caesar.md §4).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Status {
    /// Nothing known but buffered MRetry/MCommit.
    Start,
    /// Proposed here and accepted, or waiting (`blocked_by` non-empty).
    ProposeEnd,
    /// Proposed here and rejected.
    Reject,
    /// Retry received: timestamp and predecessors final enough to judge.
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
    /// Union of the predecessors replied in this round (unsorted).
    deps: Vec<Dot>,
    all_ok: bool,
}

impl Coordinator {
    /// Counts `from`'s reply once per round; false for a duplicate.
    fn first_reply_from(&mut self, from: ProcessId) -> bool {
        let Some(bit) = (from.0 as usize).checked_sub(1).filter(|&index| index < MAX_PROCESSES) else {
            return false;
        };
        if self.replied & (1 << bit) != 0 {
            return false;
        }
        self.replied |= 1 << bit;
        self.replies += 1;
        true
    }

    /// The union of the predecessors replied, sorted, without `dot`.
    fn take_deps(&mut self, dot: Dot) -> Deps {
        let mut deps = std::mem::take(&mut self.deps);
        deps.sort_unstable();
        deps.dedup();
        deps.retain(|&other| other != dot);
        deps.into()
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
    /// While waiting: the commands with a larger timestamp it waits for.
    blocked_by: Vec<Dot>,
    /// Commands waiting for this one to reach `Accept` or `Commit`.
    blocking: Vec<Dot>,
    coordinator: Option<Box<Coordinator>>,
    early_retry: Option<Box<Early>>,
    early_commit: Option<Box<Early>>,
}

impl Info {
    fn new(empty: &Deps) -> Info {
        Info {
            status: Status::Start,
            cmd: None,
            ts: Clock::default(),
            deps: empty.clone(),
            blocked_by: Vec::new(),
            blocking: Vec::new(),
            coordinator: None,
            early_retry: None,
            early_commit: None,
        }
    }
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
    cmds: FixedHashMap<Dot, Info>,
    empty: Deps,
    gc: GcTracker,
    /// Filled by the co-located executor.
    executed: ExecutedDots,
    /// Per origin index, every dot up to this seq is garbage-collected
    /// here: messages about it are late and ignored.
    collected: Vec<u64>,
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
        self.cmds.len()
    }

    /// The per-key index of registered commands.
    pub fn key_index(&self) -> &KeyIndex {
        &self.index
    }

    fn is_collected(&self, dot: Dot) -> bool {
        let origin = (dot.origin.0 as usize).checked_sub(1);
        origin.and_then(|origin| self.collected.get(origin)).is_some_and(|&upto| dot.seq <= upto)
    }

    /// §5 step 1.
    fn propose(&mut self, cmd: Arc<Command>, now: Time, out: &mut Outbox<Self>) {
        self.last_seq += 1;
        let dot = Dot { origin: self.id, seq: self.last_seq };
        let ts = self.clock.next();
        let mut info = Info::new(&self.empty);
        info.coordinator = Some(Box::new(Coordinator {
            submitted_at: now,
            round: Round::Propose,
            replied: 0,
            replies: 0,
            ts,
            deps: Vec::new(),
            all_ok: true,
        }));
        self.cmds.insert(dot, info);
        out.send_to_each(&self.processes, Message::MPropose { dot, cmd, ts });
    }

    /// §5 step 2.
    fn handle_mpropose(&mut self, dot: Dot, cmd: Arc<Command>, ts: Clock, out: &mut Outbox<Self>) {
        if self.is_collected(dot) {
            return;
        }
        self.clock.join(ts);
        let info = self.cmds.entry(dot).or_insert_with(|| Info::new(&self.empty));
        if info.status != Status::Start {
            return; // a duplicate
        }
        let deps: Deps = self.index.pred(dot, &cmd, ts).into();
        let blockers = self.index.blockers(dot, &cmd, ts);
        self.index.register(dot, &cmd, ts);
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
                match self.cmds.get(&blocker) {
                    Some(other) if matches!(other.status, Status::Accept | Status::Commit) => {
                        if !contains(&other.deps, dot) {
                            reject = true; // it will run first: ts is not acceptable
                            break;
                        }
                        // else it counts us as predecessor: ignore it
                    }
                    Some(_) => waiting_for.push(blocker),
                    // Registered commands keep their state until collected,
                    // and are unregistered then; tolerate it anyway.
                    None => {}
                }
            }
        }
        if reject {
            self.reject(dot, out);
        } else if waiting_for.is_empty() {
            self.accept(dot, out);
        } else {
            for blocker in &waiting_for {
                self.cmds.get_mut(blocker).expect("looked up above").blocking.push(dot);
            }
            let info = self.cmds.get_mut(&dot).expect("inserted above");
            info.status = Status::ProposeEnd;
            info.blocked_by = waiting_for;
        }
        // Then whatever arrived before the proposal.
        let info = self.cmds.get_mut(&dot).expect("inserted above");
        let (retry, commit) = (info.early_retry.take(), info.early_commit.take());
        if let Some(early) = retry {
            self.handle_mretry(early.from, dot, early.ts, early.deps, out);
        }
        if let Some(early) = commit {
            self.handle_mcommit(early.from, dot, early.ts, early.deps, out);
        }
    }

    /// §5 step 2a: reply ok with the proposed timestamp and the
    /// predecessors computed at proposal.
    fn accept(&mut self, dot: Dot, out: &mut Outbox<Self>) {
        let info = self.cmds.get_mut(&dot).expect("accept a known command");
        info.status = Status::ProposeEnd;
        info.blocked_by = Vec::new();
        out.send(dot.origin, Message::MProposeAck { dot, ts: info.ts, deps: info.deps.clone(), ok: true });
    }

    /// §5 step 3: reject with a fresh timestamp and the predecessors at it.
    /// The registration stays at the proposed timestamp until MRetry or
    /// MCommit moves it.
    fn reject(&mut self, dot: Dot, out: &mut Outbox<Self>) {
        let info = self.cmds.get_mut(&dot).expect("reject a known command");
        info.status = Status::Reject;
        info.blocked_by = Vec::new();
        let cmd = info.cmd.clone().expect("proposed");
        let ts = self.clock.next();
        let deps = self.index.pred(dot, &cmd, ts).into();
        out.send(dot.origin, Message::MProposeAck { dot, ts, deps, ok: false });
    }

    /// §5 step 4: `settled` just reached `Accept` or `Commit` here; every
    /// command waiting for it is accepted (if `settled` counts it as
    /// predecessor and nothing else blocks it) or rejected.
    fn unblock(&mut self, settled: Dot, out: &mut Outbox<Self>) {
        let info = self.cmds.get_mut(&settled).expect("unblock a known command");
        let (waiters, deps) = (std::mem::take(&mut info.blocking), info.deps.clone());
        for waiter in waiters {
            let Some(waiting) = self.cmds.get_mut(&waiter) else { continue };
            if waiting.status != Status::ProposeEnd {
                continue; // rejected, retried or committed meanwhile
            }
            let Some(position) = waiting.blocked_by.iter().position(|&dot| dot == settled) else { continue };
            if contains(&deps, waiter) {
                waiting.blocked_by.swap_remove(position);
                if waiting.blocked_by.is_empty() {
                    self.accept(waiter, out);
                }
            } else {
                self.reject(waiter, out);
            }
        }
    }

    /// §5 step 5, at the coordinator.
    fn handle_mproposeack(
        &mut self,
        from: ProcessId,
        dot: Dot,
        ts: Clock,
        deps: Deps,
        ok: bool,
        now: Time,
        out: &mut Outbox<Self>,
    ) {
        let Some(coordinator) = self.cmds.get_mut(&dot).and_then(|info| info.coordinator.as_deref_mut()) else {
            return;
        };
        if coordinator.round != Round::Propose || !coordinator.first_reply_from(from) {
            return;
        }
        coordinator.ts = coordinator.ts.max(ts);
        coordinator.deps.extend_from_slice(&deps);
        coordinator.all_ok &= ok;
        // Fast path once the first FQ replies are all ok; retry as soon as a
        // majority replied with a reject among them (a fast path is then
        // impossible).
        let all_in = coordinator.replies >= self.fast_quorum;
        if !all_in && (coordinator.replies < self.classic_quorum || coordinator.all_ok) {
            return;
        }
        let (ts, deps) = (coordinator.ts, coordinator.take_deps(dot));
        coordinator.replied = 0;
        coordinator.replies = 0;
        if coordinator.all_ok {
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
        if self.is_collected(dot) {
            return;
        }
        self.clock.join(ts);
        let info = self.cmds.entry(dot).or_insert_with(|| Info::new(&self.empty));
        match info.status {
            Status::Start => {
                info.early_retry = Some(Box::new(Early { from, ts, deps }));
                return;
            }
            Status::Accept | Status::Commit => return, // duplicate, or overtaken by the commit
            Status::ProposeEnd | Status::Reject => {}
        }
        let cmd = info.cmd.clone().expect("proposed");
        self.index.move_to(dot, &cmd, info.ts, ts);
        info.status = Status::Accept;
        info.ts = ts;
        info.blocked_by = Vec::new();
        info.deps = deps.clone();
        let mut reply = self.index.pred(dot, &cmd, ts);
        reply.extend_from_slice(&deps);
        reply.sort_unstable();
        reply.dedup();
        out.send(from, Message::MRetryAck { dot, deps: reply.into() });
        self.unblock(dot, out);
    }

    /// §5 step 7, at the coordinator.
    fn handle_mretryack(&mut self, from: ProcessId, dot: Dot, deps: Deps, now: Time, out: &mut Outbox<Self>) {
        let Some(coordinator) = self.cmds.get_mut(&dot).and_then(|info| info.coordinator.as_deref_mut()) else {
            return;
        };
        if coordinator.round != Round::Retry || !coordinator.first_reply_from(from) {
            return;
        }
        coordinator.deps.extend_from_slice(&deps);
        if coordinator.replies < self.classic_quorum {
            return;
        }
        coordinator.round = Round::Done;
        let (ts, deps) = (coordinator.ts, coordinator.take_deps(dot));
        out.commit_latency(now.since(coordinator.submitted_at));
        out.dependencies(deps.len());
        out.send_to_each(&self.processes, Message::MCommit { dot, ts, deps });
    }

    /// §5 step 8.
    fn handle_mcommit(&mut self, from: ProcessId, dot: Dot, ts: Clock, deps: Deps, out: &mut Outbox<Self>) {
        if self.is_collected(dot) {
            return;
        }
        self.clock.join(ts);
        let info = self.cmds.entry(dot).or_insert_with(|| Info::new(&self.empty));
        match info.status {
            Status::Start => {
                info.early_commit = Some(Box::new(Early { from, ts, deps }));
                return;
            }
            Status::Commit => return,
            Status::ProposeEnd | Status::Reject | Status::Accept => {}
        }
        // A command retried above its own proposal could list itself; the
        // coordinator already removes it, this is for any other sender.
        let deps: Deps = if contains(&deps, dot) { deps.iter().copied().filter(|&d| d != dot).collect() } else { deps };
        let cmd = info.cmd.clone().expect("proposed");
        self.index.move_to(dot, &cmd, info.ts, ts);
        info.status = Status::Commit;
        info.ts = ts;
        info.blocked_by = Vec::new();
        info.deps = deps.clone();
        info.coordinator = None;
        out.execute(PredCommitted { dot, cmd, ts, deps });
        self.unblock(dot, out);
    }

    /// §7: `from` executed everything up to `frontier`; forget the commands
    /// every process has executed.
    fn handle_garbage_collection(&mut self, from: ProcessId, frontier: &[u64]) {
        let mut stable = Vec::new();
        self.gc.report(from, frontier, |dot| stable.push(dot));
        for dot in stable {
            if let Some(info) = self.cmds.remove(&dot)
                && let Some(cmd) = &info.cmd
            {
                self.index.unregister(dot, cmd, info.ts);
            }
            if let Some(upto) = self.collected.get_mut(dot.origin.index()) {
                *upto = (*upto).max(dot.seq);
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
        let executed = ExecutedDots::new();
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
            cmds: FixedHashMap::default(),
            empty: Arc::from(Vec::new()),
            gc: GcTracker::new(n),
            executed: executed.clone(),
            collected: vec![0; n],
        };
        (caesar, PredExecutor::with_notifications(executed))
    }

    fn start(&mut self, _now: Time, out: &mut Outbox<Self>) {
        out.set_timer(Timer::GarbageCollection, self.gc_interval_ns);
    }

    fn submit(&mut self, cmd: Arc<Command>, now: Time, out: &mut Outbox<Self>) {
        self.propose(cmd, now, out);
    }

    fn handle(&mut self, from: ProcessId, msg: Message, now: Time, out: &mut Outbox<Self>) {
        match msg {
            Message::MPropose { dot, cmd, ts } => self.handle_mpropose(dot, cmd, ts, out),
            Message::MProposeAck { dot, ts, deps, ok } => self.handle_mproposeack(from, dot, ts, deps, ok, now, out),
            Message::MRetry { dot, ts, deps } => self.handle_mretry(from, dot, ts, deps, out),
            Message::MRetryAck { dot, deps } => self.handle_mretryack(from, dot, deps, now, out),
            Message::MCommit { dot, ts, deps } => self.handle_mcommit(from, dot, ts, deps, out),
            Message::MGarbageCollection { executed } => self.handle_garbage_collection(from, &executed),
        }
    }

    fn handle_timer(&mut self, timer: Timer, _now: Time, out: &mut Outbox<Self>) {
        match timer {
            Timer::GarbageCollection => {
                // GcTracker's "committed" is "executed" here: only a command
                // executed everywhere may leave the key index (a later
                // conflicting command no longer waits for it).
                for dot in self.executed.take() {
                    self.gc.committed(dot);
                }
                let frontier = self.gc.frontier();
                self.handle_garbage_collection(self.id, &frontier);
                out.send_to_each(&self.others, Message::MGarbageCollection { executed: frontier });
                out.set_timer(Timer::GarbageCollection, self.gc_interval_ns);
            }
        }
    }
}
