//! A tiny deterministic network for transcript tests of one protocol's
//! processes: fixed per-link delays, timers, message drops chosen by the
//! test (partitions, crashes), and a record of every delivery and
//! execution with its time. The engine does the real runs; this exists so
//! that a spec's worked example can be replayed with the spec's own delays
//! and faults the engine cannot inject yet.

use sim_core::kv::{KvStore, OpResults};
use sim_core::protocol::{Effect, Outbox, ProcessSetup, Protocol, ProtocolConfig};
use sim_core::rng::{Purpose, RngStreams};
use sim_core::testing::ExecutorHarness;
use sim_core::verdict::{ExecutionChecker, FaultClass, History, HistoryOp, UNFINISHED_KEPT, Unfinished, Verdict};
use sim_core::{Command, CommandId, Op, ProcessId, Time};
use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;

/// Drop rule: `(now, from, to, message)` -> true to drop the message.
pub(crate) type DropRule<M> = Box<dyn Fn(Time, ProcessId, ProcessId, &M) -> bool>;

enum Event<P: Protocol> {
    Deliver { from: ProcessId, to: ProcessId, msg: P::Message },
    Timer { process: ProcessId, timer: P::Timer, generation: u64 },
    Submit { process: ProcessId, cmd: Arc<Command> },
}

/// Processes of protocol `P` on a network with fixed delays.
pub(crate) struct TestNet<P: Protocol> {
    /// The processes, by index.
    pub(crate) processes: Vec<P>,
    executors: Vec<P::Executor>,
    harnesses: Vec<ExecutorHarness>,
    /// `delays_ns[from][to]`.
    delays_ns: Vec<Vec<u64>>,
    now: Time,
    queue: BTreeMap<(Time, u64), Event<P>>,
    immediate: VecDeque<Event<P>>,
    next_seq: u64,
    timers: BTreeMap<(usize, P::Timer), u64>,
    /// Messages delivered, in order: (time, from, to, message).
    pub(crate) delivered: Vec<(Time, ProcessId, ProcessId, P::Message)>,
    /// Commands executed, in order: (time, process, command).
    pub(crate) executed: Vec<(Time, ProcessId, CommandId)>,
    /// What each execution returned, in order: (time, process, command,
    /// per-operation results).
    pub(crate) results: Vec<(Time, ProcessId, CommandId, OpResults)>,
    /// Messages the test drops.
    pub(crate) drop_rule: DropRule<P::Message>,
    /// Crashed processes receive nothing and fire no timers.
    pub(crate) crashed: Vec<bool>,
    /// Client submissions, in order: (time, process, command).
    submitted: Vec<(Time, ProcessId, Arc<Command>)>,
}

/// A setup for process `id` of `n` (ids 1..=n, by-distance order by id
/// distance, which these tests do not rely on).
pub(crate) fn setup(id: u32, n: u32, f: usize, leader: u32) -> ProcessSetup {
    let processes: Vec<ProcessId> = (1..=n).map(ProcessId).collect();
    let mut by_distance = processes.clone();
    by_distance.sort_by_key(|p| (p.0.abs_diff(id), p.0));
    ProcessSetup {
        id: ProcessId(id),
        processes,
        by_distance,
        config: ProtocolConfig { f, leader: Some(ProcessId(leader)), ..ProtocolConfig::default() },
        rng: RngStreams::new(7).stream(Purpose::Protocol, u64::from(id)),
    }
}

impl<P: Protocol> TestNet<P>
where
    P::Message: Clone,
{
    /// `delays_ms[i][j]` is the one-way delay from process i+1 to j+1.
    pub(crate) fn new(delays_ms: &[&[u64]], f: usize, leader: u32, options: &P::Options) -> Self {
        Self::with_setup(delays_ms, options, |id, n| setup(id, n, f, leader))
    }

    /// As [`TestNet::new`], each process built from `make_setup(id, n)`
    /// (e.g. with failure detection on).
    pub(crate) fn with_setup(
        delays_ms: &[&[u64]],
        options: &P::Options,
        make_setup: impl Fn(u32, u32) -> ProcessSetup,
    ) -> Self {
        let n = delays_ms.len() as u32;
        let mut processes = Vec::new();
        let mut executors = Vec::new();
        for id in 1..=n {
            let (process, executor) = P::new(make_setup(id, n), options);
            processes.push(process);
            executors.push(executor);
        }
        let mut net = TestNet {
            processes,
            executors,
            harnesses: (1..=n).map(|id| ExecutorHarness::new(ProcessId(id), 16)).collect(),
            delays_ns: delays_ms.iter().map(|row| row.iter().map(|ms| ms * 1_000_000).collect()).collect(),
            now: Time::ZERO,
            queue: BTreeMap::new(),
            immediate: VecDeque::new(),
            next_seq: 0,
            timers: BTreeMap::new(),
            delivered: Vec::new(),
            executed: Vec::new(),
            results: Vec::new(),
            drop_rule: Box::new(|_, _, _, _| false),
            crashed: vec![false; n as usize],
            submitted: Vec::new(),
        };
        for i in 0..n as usize {
            let mut out = Outbox::new();
            net.processes[i].start(Time::ZERO, &mut out);
            net.apply(i, out);
        }
        net
    }

    /// Replaces process `id` (1-based), e.g. by a restarted incarnation, and
    /// starts it now.
    pub(crate) fn replace(&mut self, id: u32, process: P, executor: P::Executor) {
        let i = id as usize - 1;
        self.processes[i] = process;
        self.executors[i] = executor;
        self.crashed[i] = false;
        self.timers.retain(|(p, _), _| *p != i);
        let mut out = Outbox::new();
        self.processes[i].start(self.now, &mut out);
        self.apply(i, out);
    }

    /// Restarts crashed process `id` (1-based) now through
    /// [`Protocol::restart`], with `fresh` as a new incarnation.
    pub(crate) fn restart(&mut self, id: u32, fresh: P) {
        let i = id as usize - 1;
        self.crashed[i] = false;
        self.timers.retain(|(p, _), _| *p != i);
        let mut out = Outbox::new();
        self.processes[i].restart(fresh, &mut self.executors[i], self.now, &mut out);
        self.apply(i, out);
        while let Some(event) = self.immediate.pop_front() {
            self.dispatch(event);
        }
    }

    /// A client at process `id` submits `cmd` at `at_ms`.
    pub(crate) fn submit_at(&mut self, at_ms: u64, id: u32, cmd: Arc<Command>) {
        let at = Time::from_ns(at_ms * 1_000_000);
        self.submitted.push((at, ProcessId(id), cmd.clone()));
        self.push(at, Event::Submit { process: ProcessId(id), cmd });
    }

    fn push(&mut self, at: Time, event: Event<P>) {
        self.queue.insert((at, self.next_seq), event);
        self.next_seq += 1;
    }

    fn apply(&mut self, i: usize, mut out: Outbox<P>) {
        let me = ProcessId::from_index(i);
        for effect in out.take() {
            match effect {
                Effect::Send { to, msg } => {
                    if (self.drop_rule)(self.now, me, to, &msg) {
                        continue;
                    }
                    if to == me {
                        self.immediate.push_back(Event::Deliver { from: me, to, msg });
                    } else {
                        let at = self.now.plus_ns(self.delays_ns[i][to.index()]);
                        self.push(at, Event::Deliver { from: me, to, msg });
                    }
                }
                Effect::SetTimer { timer, after_ns } => {
                    let generation = self.next_seq;
                    self.timers.insert((i, timer.clone()), generation);
                    self.push(self.now.plus_ns(after_ns), Event::Timer { process: me, timer, generation });
                }
                Effect::CancelTimer { timer } => {
                    self.timers.remove(&(i, timer));
                }
                Effect::Execute(info) => {
                    for reply in self.harnesses[i].step_with_replies(&mut self.executors[i], info, self.now) {
                        self.executed.push((self.now, me, reply.id));
                        self.results.push((self.now, me, reply.id, reply.results));
                    }
                }
            }
        }
    }

    fn dispatch(&mut self, event: Event<P>) {
        let mut out = Outbox::new();
        let i = match event {
            Event::Deliver { from, to, msg } => {
                let i = to.index();
                if self.crashed[i] {
                    return;
                }
                self.delivered.push((self.now, from, to, msg.clone()));
                self.processes[i].handle(from, msg, self.now, &mut out);
                i
            }
            Event::Timer { process, timer, generation } => {
                let i = process.index();
                if self.crashed[i] || self.timers.get(&(i, timer.clone())) != Some(&generation) {
                    return; // replaced or cancelled
                }
                self.timers.remove(&(i, timer.clone()));
                self.processes[i].handle_timer(timer, self.now, &mut out);
                i
            }
            Event::Submit { process, cmd } => {
                let i = process.index();
                if self.crashed[i] {
                    return;
                }
                self.processes[i].submit(cmd, self.now, &mut out);
                i
            }
        };
        self.apply(i, out);
        while let Some(event) = self.immediate.pop_front() {
            self.dispatch(event);
        }
    }

    /// Runs every event up to and including `until_ms`.
    pub(crate) fn run_until(&mut self, until_ms: u64) {
        let until = Time::from_ns(until_ms * 1_000_000);
        while let Some(entry) = self.queue.first_entry() {
            if entry.key().0 > until {
                break;
            }
            let ((at, _), event) = entry.remove_entry();
            self.now = at;
            self.dispatch(event);
        }
        self.now = until;
    }

    /// When process `id` executed `cmd`, if it did.
    pub(crate) fn executed_at(&self, id: u32, cmd: CommandId) -> Option<u64> {
        self.executed.iter().find(|(_, p, c)| p.0 == id && *c == cmd).map(|(t, _, _)| t.as_ns() / 1_000_000)
    }

    /// Commands process `id` executed, in order.
    pub(crate) fn executed_by(&self, id: u32) -> Vec<CommandId> {
        self.executed.iter().filter(|(_, p, _)| p.0 == id).map(|(_, _, c)| *c).collect()
    }

    /// Process `id`'s state machine.
    pub(crate) fn store(&self, id: u32) -> &sim_core::kv::KvStore {
        &self.harnesses[id as usize - 1].store
    }

    /// The engine's verdict on this transcript (`sim_core::verdict`): a
    /// client sits at the process it submitted to and is answered when
    /// that process first executes its command (at the submission time,
    /// its invocation); processes marked crashed are not survivors.
    pub(crate) fn verdict(&self) -> Verdict {
        let clients = self.submitted.iter().map(|(_, _, cmd)| cmd.id.client.index() + 1).max().unwrap_or(0);
        let mut checker = ExecutionChecker::new(self.processes.len(), clients);
        let commands: BTreeMap<CommandId, &Arc<Command>> =
            self.submitted.iter().map(|(_, _, cmd)| (cmd.id, cmd)).collect();
        for cmd in commands.values() {
            checker.on_submit(cmd.id);
        }
        for (_, process, id) in &self.executed {
            if let Some(cmd) = commands.get(id) {
                checker.on_execute(*process, cmd);
            }
        }
        let mut history = History::new();
        let mut incomplete = Vec::new();
        for (invoked, process, cmd) in &self.submitted {
            let answer = self.results.iter().find(|(_, p, id, _)| p == process && *id == cmd.id);
            if answer.is_none() {
                incomplete.push(cmd.id);
            }
            for (index, &(key, op)) in cmd.ops.iter().enumerate() {
                let written = match op {
                    Op::Put(value) => Some(value),
                    Op::Get if answer.is_none() => continue,
                    Op::Get => None,
                };
                history.push(HistoryOp {
                    key,
                    cmd: cmd.id,
                    written,
                    observed: answer.and_then(|(_, _, _, results)| results[index]),
                    invoked: *invoked,
                    responded: answer.map(|(at, _, _, _)| *at),
                });
            }
        }
        let survivors: Vec<(ProcessId, &KvStore)> = (0..self.processes.len())
            .filter(|&i| !self.crashed[i])
            .map(|i| (ProcessId::from_index(i), &self.harnesses[i].store))
            .collect();
        let unfinished =
            Unfinished::blocked(incomplete.iter().copied().take(UNFINISHED_KEPT).collect(), incomplete.len() as u64);
        Verdict::new(checker, &history, unfinished, &survivors, FaultClass::Network)
    }

    /// Messages delivered that match `pred`.
    pub(crate) fn count_delivered(&self, pred: impl Fn(&P::Message) -> bool) -> usize {
        self.delivered.iter().filter(|(_, _, _, m)| pred(m)).count()
    }
}
