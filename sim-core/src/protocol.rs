//! The sans-IO contract between the engine and a protocol.
//!
//! A process is a state machine that the engine moves forward one input at
//! a time, always with the current simulated time `now` (which never goes
//! backwards):
//!
//! 1. [`Protocol::new`] once per process, then [`Protocol::start`] at time 0;
//! 2. then, in event order, [`Protocol::submit`] for a client command,
//!    [`Protocol::handle`] for a message from a process, and
//!    [`Protocol::handle_timer`] for a timer it set;
//! 3. and, inside those steps, [`Protocol::handle_executed`] for what its
//!    executor reported (below).
//!
//! A protocol never performs I/O: it records effects in the [`Outbox`] it is
//! handed, and the engine drains them in push order after the call returns.
//! A message a process sends to itself is delivered with zero delay after
//! the current call returns and before any other event (specs README §1.6).
//! Commands reach the state machine only through the protocol's
//! [`Executor`], which applies them through [`Apply`]; the harness therefore
//! sees every execution without trusting protocol internals. The same state
//! machine could be driven by a real network runtime unchanged.
//!
//! The protocol talks to its co-located executor through
//! [`Outbox::execute`]; the executor answers through [`Apply::notify`], with
//! values of its own [`Executor::Feedback`] type (what it executed, how far
//! it got: whatever its protocol needs, for instance to garbage-collect
//! state once a command has executed everywhere). The two halves of a
//! process share no memory. The engine hands each value to
//! [`Protocol::handle_executed`], in the order notified, as soon as the
//! executor's step returns, that is while carrying out the `Execute` effect:
//! within the same process step, before the effects recorded after that
//! `Execute`, before the process's next self-addressed message and before
//! any other event. Effects recorded in `handle_executed` are carried out
//! after those of the call being carried out, like a self-addressed
//! message's. An executor with nothing to say declares `type Feedback =
//! ();` and never notifies; its protocol keeps the default
//! `handle_executed`, and the channel costs it one emptiness check per
//! execution step.

use crate::command::{Command, CommandId};
use crate::dedup::ClientTable;
use crate::faults::ClockSkew;
use crate::id::{ClientId, ProcessId};
use crate::kv::{KvStore, OpResults};
use crate::metrics::ProtocolMetrics;
use crate::rng::StreamRng;
use crate::time::Time;
use crate::verdict::ExecutionChecker;
use std::fmt;
use std::sync::Arc;

/// Size of a message on the wire, for byte accounting (and, later, NIC
/// serialisation).
pub trait MessageSize {
    /// Bytes this message occupies on the wire.
    fn size_bytes(&self) -> u64;
}

/// Settings shared by every protocol.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProtocolConfig {
    /// Crash failures tolerated; protocols that always tolerate a minority
    /// ignore it.
    pub f: usize,
    /// The initial leader of leader-based protocols.
    pub leader: Option<ProcessId>,
    /// Period of garbage collection of per-command state.
    pub gc_interval_ns: u64,
    /// Run failure detection (heartbeats, timeouts, recovery): set by the
    /// engine in runs with faults, so that failure-free runs pay nothing
    /// for it. It says only that faults may happen, never which.
    pub failure_detection: bool,
}

impl Default for ProtocolConfig {
    fn default() -> Self {
        ProtocolConfig { f: 1, leader: None, gc_interval_ns: 50 * crate::time::NS_PER_MS, failure_detection: false }
    }
}

/// What a process knows about its place in the system when it is created.
#[derive(Debug)]
pub struct ProcessSetup {
    /// This process.
    pub id: ProcessId,
    /// All processes of the shard, by id.
    pub processes: Vec<ProcessId>,
    /// All processes of the shard sorted by this process's one-way delay to
    /// them, itself first; ties by region name, then id (specs README §1.5).
    /// "The closest k" is the first k of this list.
    pub by_distance: Vec<ProcessId>,
    /// Protocol settings.
    pub config: ProtocolConfig,
    /// This process's own random stream, derived from the run's seed.
    pub rng: StreamRng,
}

impl ProcessSetup {
    /// Number of processes in the shard.
    pub fn n(&self) -> usize {
        self.processes.len()
    }

    /// The closest `k` processes, this process first.
    pub fn closest(&self, k: usize) -> &[ProcessId] {
        &self.by_distance[..k.min(self.by_distance.len())]
    }
}

/// A replication protocol's per-process state machine.
pub trait Protocol: Sized {
    /// Messages between processes.
    type Message: Clone + fmt::Debug + MessageSize;
    /// Named timers (one deadline per value; setting again replaces it).
    type Timer: Clone + fmt::Debug + Ord;
    /// The executor that applies committed commands in the allowed order.
    type Executor: Executor;
    /// The protocol's own options (the spec's flags), the same for every
    /// process of a run; `()` if it has none.
    type Options: Clone + fmt::Debug + Default;

    /// Whether a process may handle several inputs at once on several
    /// cores, when the run models CPUs ([`crate::resources`]): true for a
    /// design whose state and execution are partitioned (per key, like
    /// Tempo's clocks and votes tables), false (the default) for one that
    /// is sequential (a single leader's slot order, a dependency-graph
    /// executor), which then uses one core.
    const PARALLEL: bool = false;

    /// Whether a crashed process of this protocol may come back
    /// ([`Protocol::restart`]). A schedule with a restart (a crash with an
    /// end) is refused for a protocol that says no, before the run.
    const RESTARTS: bool = false;

    /// Whether a crash loses the process's protocol state (no disk, like
    /// VR, vr.md §1), so that a crashed process, and a restarted one until
    /// it has rebuilt its state from the others ([`Protocol::recovering`]),
    /// holds nothing a quorum can count on. The engine then reports an
    /// `Unrecoverable` outcome whenever more than `f` processes are
    /// without their state at once (`crate::state_loss`). False (the
    /// default) for protocols whose state is durable (Raft, Paxos, 2PC):
    /// their crashed processes come back with it.
    const CRASH_LOSES_STATE: bool = false;

    /// Creates a process and its co-located executor.
    fn new(setup: ProcessSetup, options: &Self::Options) -> (Self, Self::Executor);

    /// The process restarts at `now` after a crash (only if
    /// [`Protocol::RESTARTS`]). `self` is the process as it crashed;
    /// `fresh` is one as [`Protocol::new`] builds it (same setup, a new
    /// random stream). Keep what the protocol declares durable from
    /// `self`, take everything else from `fresh`, and set timers again:
    /// the crashed incarnation's timers are gone and `start` is not called
    /// again.
    ///
    /// The replica's state machine (its store and client table) and its
    /// `executor` survive the crash as they were: a replica persists what
    /// it applied, and replaying a durable log to that point would rebuild
    /// the same state, so nothing is executed twice and the verdict's
    /// per-replica record stays valid. Forget here whatever the executor
    /// holds that is not durable (for instance committed commands waiting
    /// for a gap) and restore the protocol's view of what was executed
    /// from it.
    ///
    /// The default keeps nothing of `self` (a process without durable
    /// state); protocols whose safety needs durable state (Paxos acceptors)
    /// must override it.
    fn restart(&mut self, fresh: Self, executor: &mut Self::Executor, now: Time, out: &mut Outbox<Self>) {
        let _ = executor;
        *self = fresh;
        self.start(now, out);
    }

    /// True while this process, restarted after a crash that lost its
    /// state ([`Protocol::CRASH_LOSES_STATE`]), is still rebuilding it
    /// (VR's Recovering status, vr.md §8). The engine asks only processes
    /// that restarted, after each of their steps, until it answers false;
    /// it must be cheap.
    fn recovering(&self) -> bool {
        false
    }

    /// Called once at time 0, before any other input: set initial timers.
    fn start(&mut self, _now: Time, _out: &mut Outbox<Self>) {}

    /// A client submitted `cmd` to this process.
    fn submit(&mut self, cmd: Arc<Command>, now: Time, out: &mut Outbox<Self>);

    /// A message from `from` arrived.
    fn handle(&mut self, from: ProcessId, msg: Self::Message, now: Time, out: &mut Outbox<Self>);

    /// A timer this process set is due.
    fn handle_timer(&mut self, timer: Self::Timer, now: Time, out: &mut Outbox<Self>);

    /// The co-located executor reported `feedback` through
    /// [`Apply::notify`] (see the module doc for when this is called).
    ///
    /// The default ignores it; a protocol whose executor notifies anything
    /// must override it. (In debug builds the default asserts that the
    /// feedback carries no data, to catch a forgotten override.)
    fn handle_executed(&mut self, feedback: ExecutorFeedback<Self>, _now: Time, _out: &mut Outbox<Self>) {
        debug_assert!(
            std::mem::size_of_val(&feedback) == 0,
            "the executor sent {feedback:?}, but the protocol does not implement handle_executed"
        );
    }
}

/// Orders committed commands and applies them to the state machine.
pub trait Executor {
    /// What the protocol hands over about a committed command.
    type Info: fmt::Debug;
    /// What the executor tells its own protocol through [`Apply::notify`]
    /// (delivered to [`Protocol::handle_executed`]); `()` if nothing.
    type Feedback: fmt::Debug;

    /// Takes `info` and executes whatever has become executable.
    fn execute(&mut self, info: Self::Info, now: Time, apply: &mut Apply<'_, Self::Feedback>);
}

/// The execution info type of protocol `P`.
pub type ExecutionInfo<P> = <<P as Protocol>::Executor as Executor>::Info;

/// The type of what protocol `P`'s executor tells it.
pub type ExecutorFeedback<P> = <<P as Protocol>::Executor as Executor>::Feedback;

/// One effect a protocol asked for.
pub enum Effect<P: Protocol> {
    /// Send `msg` to process `to`.
    Send {
        /// The destination.
        to: ProcessId,
        /// The message.
        msg: P::Message,
    },
    /// Fire `timer` after `after_ns`, replacing any deadline it had.
    SetTimer {
        /// Which timer.
        timer: P::Timer,
        /// Delay from now.
        after_ns: u64,
    },
    /// Forget `timer`'s deadline, if any.
    CancelTimer {
        /// Which timer.
        timer: P::Timer,
    },
    /// Hand execution info to the co-located executor.
    Execute(ExecutionInfo<P>),
}

impl<P: Protocol> fmt::Debug for Effect<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Effect::Send { to, msg } => write!(f, "Send {{ to: {to}, msg: {msg:?} }}"),
            Effect::SetTimer { timer, after_ns } => {
                write!(f, "SetTimer {{ timer: {timer:?}, after_ns: {after_ns} }}")
            }
            Effect::CancelTimer { timer } => write!(f, "CancelTimer {{ timer: {timer:?} }}"),
            Effect::Execute(info) => write!(f, "Execute({info:?})"),
        }
    }
}

/// Where a protocol records its effects during one call, and what it
/// reports about its decisions ([`ProtocolMetrics`]).
pub struct Outbox<P: Protocol> {
    effects: Vec<Effect<P>>,
    metrics: ProtocolMetrics,
    /// The local clock of the process being stepped (exact unless a clock
    /// fault is active on it).
    clock: ClockSkew,
}

impl<P: Protocol> Default for Outbox<P> {
    fn default() -> Self {
        Outbox { effects: Vec::new(), metrics: ProtocolMetrics::default(), clock: ClockSkew::default() }
    }
}

impl<P: Protocol> fmt::Debug for Outbox<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(&self.effects).finish()
    }
}

impl<P: Protocol> Outbox<P> {
    /// An empty outbox.
    pub fn new() -> Self {
        Self::default()
    }

    /// The process's local clock at `now`: what a protocol that reads a
    /// clock (rather than measuring simulated time for its timers) must
    /// use. It equals `now` unless a clock fault (offset, drift) is active
    /// on the process; it may then be ahead, behind, or jump back when the
    /// fault ends.
    #[inline]
    pub fn clock(&self, now: Time) -> Time {
        self.clock.read(now)
    }

    /// Sets the local clock of the process about to be stepped (the
    /// engine, in runs with clock faults; tests).
    pub fn set_clock(&mut self, clock: ClockSkew) {
        self.clock = clock;
    }

    /// Sends `msg` to `to`.
    pub fn send(&mut self, to: ProcessId, msg: P::Message) {
        self.effects.push(Effect::Send { to, msg });
    }

    /// Sends a copy of `msg` to each of `targets`, in that order.
    pub fn send_to_each(&mut self, targets: &[ProcessId], msg: P::Message) {
        if let Some((last, rest)) = targets.split_last() {
            for &to in rest {
                self.send(to, msg.clone());
            }
            self.send(*last, msg);
        }
    }

    /// Sets `timer` to fire after `after_ns`.
    pub fn set_timer(&mut self, timer: P::Timer, after_ns: u64) {
        self.effects.push(Effect::SetTimer { timer, after_ns });
    }

    /// Cancels `timer`.
    pub fn cancel_timer(&mut self, timer: P::Timer) {
        self.effects.push(Effect::CancelTimer { timer });
    }

    /// Hands `info` to the executor.
    pub fn execute(&mut self, info: ExecutionInfo<P>) {
        self.effects.push(Effect::Execute(info));
    }

    /// A command this process coordinates committed on its fast path.
    pub fn fast_path(&mut self) {
        self.metrics.fast_paths += 1;
    }

    /// A command this process coordinates needed a slow (or retry) path.
    pub fn slow_path(&mut self) {
        self.metrics.slow_paths += 1;
    }

    /// A command this process coordinates committed `latency_ns` after it
    /// received it.
    pub fn commit_latency(&mut self, latency_ns: u64) {
        self.metrics.commit_latency.record(latency_ns);
    }

    /// A command this process coordinates committed with `count`
    /// dependencies (or predecessors).
    pub fn dependencies(&mut self, count: usize) {
        self.metrics.dependencies.record(count as u64);
    }

    /// This call did `units` units of work proportional to its state
    /// (dependencies scanned or merged, votes merged): charged as CPU time
    /// when the run models CPUs ([`crate::resources`]), ignored otherwise.
    #[inline]
    pub fn work(&mut self, units: usize) {
        self.metrics.work_units += units as u64;
    }

    /// This process became leader, replacing another (not the initial
    /// leader taking office).
    pub fn leader_change(&mut self) {
        self.metrics.recovery.leader_changes += 1;
    }

    /// This process started a recovery (an election, or recovering a
    /// command whose coordinator is suspected).
    pub fn recovery_started(&mut self) {
        self.metrics.recovery.recoveries_started += 1;
    }

    /// A recovery this process started finished.
    pub fn recovery_finished(&mut self) {
        self.metrics.recovery.recoveries_finished += 1;
    }

    /// What was reported through this outbox so far.
    pub fn metrics(&self) -> &ProtocolMetrics {
        &self.metrics
    }

    /// The metrics, for the engine (executors record into them too).
    pub fn metrics_mut(&mut self) -> &mut ProtocolMetrics {
        &mut self.metrics
    }

    /// The effects recorded so far, in push order (for tests).
    pub fn effects(&self) -> &[Effect<P>] {
        &self.effects
    }

    /// The messages sent so far, as (destination, message), in push order
    /// (for tests).
    pub fn sent(&self) -> Vec<(ProcessId, P::Message)> {
        self.effects
            .iter()
            .filter_map(|effect| match effect {
                Effect::Send { to, msg } => Some((*to, msg.clone())),
                _ => None,
            })
            .collect()
    }

    /// The execution info handed over so far, in push order (for tests).
    pub fn executions(&self) -> Vec<ExecutionInfo<P>>
    where
        ExecutionInfo<P>: Clone,
    {
        self.effects
            .iter()
            .filter_map(|effect| match effect {
                Effect::Execute(info) => Some(info.clone()),
                _ => None,
            })
            .collect()
    }

    /// Removes and returns the recorded effects, in push order.
    pub fn take(&mut self) -> Vec<Effect<P>> {
        std::mem::take(&mut self.effects)
    }

    /// Moves the recorded effects into `into` (reusing its allocation;
    /// swapping buffers when `into` is empty, the usual case).
    pub fn drain_into(&mut self, into: &mut Vec<Effect<P>>) {
        if into.is_empty() {
            std::mem::swap(into, &mut self.effects);
        } else {
            into.append(&mut self.effects);
        }
    }
}

/// A result for a client: the command's id and one result per operation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reply {
    /// The command executed.
    pub id: CommandId,
    /// Per operation, the value before it.
    pub results: OpResults,
}

/// The state machine as an executor sees it: executors decide *when* a
/// command executes; applying it, recording it and answering the client is
/// the harness's job. `F` is the executor's [`Executor::Feedback`]: what it
/// may tell its protocol ([`Apply::notify`]).
pub struct Apply<'a, F = ()> {
    machine: StateMachine<'a>,
    feedback: &'a mut Vec<F>,
}

/// The part of [`Apply`] that does not depend on the feedback type, so its
/// code is compiled once, here, whatever the executor.
struct StateMachine<'a> {
    process: ProcessId,
    now: Time,
    metrics: &'a mut ProtocolMetrics,
    store: &'a mut KvStore,
    client_process: &'a [ProcessId],
    replies: &'a mut Vec<Reply>,
    checker: &'a mut ExecutionChecker,
    executed: u64,
    /// The replica's client table in runs where clients retry (see
    /// [`crate::dedup`]); `None` otherwise.
    dedup: Option<&'a mut ClientTable>,
    /// With the table: per client, a bit per process (by index) it
    /// submitted its current command to; each of them answers it.
    submitted_to: &'a [u64],
}

impl<'a, F> Apply<'a, F> {
    /// An applier for `process` at time `now`; `client_process[c]` is the
    /// process that answers client `c`; replies for its clients go to
    /// `replies`; every execution is shown to `checker`; waits are
    /// recorded in `metrics`; what the executor notifies is pushed to
    /// `feedback`, for the caller to hand to the protocol.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        process: ProcessId,
        now: Time,
        store: &'a mut KvStore,
        client_process: &'a [ProcessId],
        replies: &'a mut Vec<Reply>,
        checker: &'a mut ExecutionChecker,
        metrics: &'a mut ProtocolMetrics,
        feedback: &'a mut Vec<F>,
    ) -> Apply<'a, F> {
        let machine = StateMachine {
            process,
            now,
            metrics,
            store,
            client_process,
            replies,
            checker,
            executed: 0,
            dedup: None,
            submitted_to: &[],
        };
        Apply { machine, feedback }
    }

    /// Applies each client's command at most once, answering a retried
    /// command from `table` (see [`crate::dedup`]); every process a client
    /// submitted its current command to answers it (`submitted_to[c]`: a
    /// bit per process index).
    pub fn with_dedup(mut self, table: &'a mut ClientTable, submitted_to: &'a [u64]) -> Apply<'a, F> {
        self.machine.dedup = Some(table);
        self.machine.submitted_to = submitted_to;
        self
    }

    /// Tells the co-located protocol `feedback`: the engine hands it to
    /// [`Protocol::handle_executed`] once this execution step returns, in
    /// the order notified.
    pub fn notify(&mut self, feedback: F) {
        self.feedback.push(feedback);
    }

    /// Executes `cmd`, which this process learned committed at
    /// `committed_at`, against the store.
    #[inline]
    pub fn apply(&mut self, cmd: &Command, committed_at: Time) {
        self.machine.apply(cmd, committed_at);
    }

    /// Serves the read-only `cmd` from this replica's current state,
    /// outside the replicated order (a lease or ReadIndex read): only this
    /// replica executes it, so the order check (which compares where each
    /// replica executed a read) skips it and the linearizability check
    /// judges it. A read has no effect, so a retried read served twice is
    /// harmless and not looked up in the client table.
    #[inline]
    pub fn apply_local_read(&mut self, cmd: &Command) {
        self.machine.apply_local_read(cmd);
    }

    /// This execution step did `units` units of work (dependencies or
    /// graph vertices visited): see [`Outbox::work`].
    #[inline]
    pub fn work(&mut self, units: usize) {
        self.machine.metrics.work_units += units as u64;
    }

    /// The time of this execution step.
    pub fn now(&self) -> Time {
        self.machine.now
    }

    /// Commands executed through this applier.
    pub fn executed(&self) -> u64 {
        self.machine.executed
    }
}

impl StateMachine<'_> {
    fn apply(&mut self, cmd: &Command, committed_at: Time) {
        if self.dedup.is_some() {
            return self.apply_at_most_once(cmd, committed_at);
        }
        self.executed += 1;
        self.metrics.execution_wait.record(self.now.since(committed_at));
        self.checker.on_execute(self.process, cmd);
        if self.serves(cmd.id.client) {
            let mut results = OpResults::with_capacity(cmd.ops.len());
            self.store.apply(cmd, Some(&mut results));
            self.replies.push(Reply { id: cmd.id, results });
        } else {
            self.store.apply(cmd, None);
        }
    }

    fn apply_local_read(&mut self, cmd: &Command) {
        debug_assert!(cmd.is_read_only(), "only reads may be served outside the replicated order");
        self.executed += 1;
        self.checker.on_local_read(self.process, cmd);
        let bit = 1u64.checked_shl(self.process.index() as u32).unwrap_or(0);
        let submitted_here = self.submitted_to.get(cmd.id.client.index()).is_some_and(|mask| mask & bit != 0);
        if submitted_here || self.serves(cmd.id.client) {
            let mut results = OpResults::with_capacity(cmd.ops.len());
            self.store.apply(cmd, Some(&mut results));
            self.replies.push(Reply { id: cmd.id, results });
        }
    }

    /// [`StateMachine::apply`] with the client table: a command applied
    /// here before takes no effect; its client gets the stored results.
    fn apply_at_most_once(&mut self, cmd: &Command, committed_at: Time) {
        let bit = 1u64.checked_shl(self.process.index() as u32).unwrap_or(0);
        let submitted_here = self.submitted_to.get(cmd.id.client.index()).is_some_and(|mask| mask & bit != 0);
        let serves = submitted_here || self.serves(cmd.id.client);
        let table = self.dedup.as_deref_mut().expect("called with a table");
        if table.applied(cmd.id) {
            self.checker.on_duplicate(self.process, cmd.id);
            if serves && let Some(results) = table.results(cmd.id) {
                self.replies.push(Reply { id: cmd.id, results: results.clone() });
            }
            return;
        }
        self.executed += 1;
        self.metrics.execution_wait.record(self.now.since(committed_at));
        self.checker.on_execute(self.process, cmd);
        let mut results = OpResults::with_capacity(cmd.ops.len());
        self.store.apply(cmd, Some(&mut results));
        table.record(cmd.id, &results);
        if serves {
            self.replies.push(Reply { id: cmd.id, results });
        }
    }

    fn serves(&self, client: ClientId) -> bool {
        self.client_process.get(client.index()) == Some(&self.process)
    }
}
