//! EPaxos (Egalitarian Paxos): every process leads the commands its clients
//! submit, and a command commits with *attributes*, a dependency set and a
//! sequence number.
//!
//! The leader sends its attributes to the other members of its fast quorum
//! (its closest `F + floor((F+1)/2)` processes, `F = floor(n/2)`); each
//! adds the conflicting commands it knows and replies. If every reply is
//! identical the command commits after one round trip (fast path);
//! otherwise the leader runs a Paxos accept round on the union of the
//! replies with its closest majority (slow path). Committed commands go to
//! the dependency-graph executor, which runs strongly connected components
//! dependencies first and, inside one, by `(seq, dot)`.
//!
//! Spec: `shared/specs/epaxos.md`. This module implements §3 (attributes),
//! §5 (commit protocol) and §8 (garbage collection), single shard. Explicit
//! prepare (§7, recovery) is a later issue; each instance keeps its own
//! `bal` and `abal` (§9) so it can be added. EPaxos always tolerates a
//! minority: the configured `f` is accepted when valid, then ignored.

use crate::shared::dot::{Dot, DotSet};
use crate::shared::gc::GcTracker;
use crate::shared::graph_executor::{Committed, GraphExecutor};
use crate::shared::key_deps::KeyDeps;
use crate::shared::quorum;
use crate::shared::synod::Ballot;
use sim_core::protocol::{Apply, Executor, MessageSize, Outbox, ProcessSetup, Protocol};
use sim_core::{Command, FixedHashMap, Key, ProcessId, Time};
use std::collections::hash_map::Entry;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// Most processes an EPaxos shard may have (replies are counted in a
/// 64-bit set).
pub const MAX_PROCESSES: usize = 64;

/// EPaxos's options (epaxos.md §5.3).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Options {
    /// The authors' TLA+ rule for the optimized fast quorum: the fast path
    /// also requires every dependency to be known committed, at the leader
    /// or as reported in the PreAcceptOK replies. fantoch does not check
    /// it; off by default. Do not mix both settings in one experiment.
    pub fast_requires_committed_deps: bool,
}

/// EPaxos messages (epaxos.md §4). Dependency sets are shared (`Arc`)
/// between the copies of a message sent to several processes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Message {
    /// Phase 1, leader → the other members of its fast quorum.
    PreAccept {
        /// The instance.
        dot: Dot,
        /// The leader's initial ballot (its id).
        ballot: Ballot,
        /// The command.
        cmd: Arc<Command>,
        /// The leader's sequence number.
        seq: u64,
        /// The leader's dependencies.
        deps: Arc<[Dot]>,
    },
    /// Phase 1 reply: the attributes this process pre-accepted.
    PreAcceptOk {
        /// The instance.
        dot: Dot,
        /// The ballot of the PreAccept answered.
        ballot: Ballot,
        /// `max(seq_L, 1 + max seq of the interfering instances here)`.
        seq: u64,
        /// The leader's dependencies plus the interfering instances here.
        deps: Arc<[Dot]>,
        /// The dependencies known committed here; only filled with
        /// [`Options::fast_requires_committed_deps`].
        committed_deps: Vec<Dot>,
    },
    /// Phase 2 (slow path), leader → its F closest other processes.
    Accept {
        /// The instance.
        dot: Dot,
        /// The leader's ballot.
        ballot: Ballot,
        /// The command (the recipients normally have it already; recovery
        /// will send Accept to processes that may not).
        cmd: Arc<Command>,
        /// The maximum sequence number of the replies.
        seq: u64,
        /// The union of the replies' dependencies.
        deps: Arc<[Dot]>,
    },
    /// Phase 2 reply.
    AcceptOk {
        /// The instance.
        dot: Dot,
        /// The ballot accepted.
        ballot: Ballot,
    },
    /// The instance is committed with these attributes. Carries the
    /// command: processes outside the fast quorum learn it here.
    Commit {
        /// The instance.
        dot: Dot,
        /// The command.
        cmd: Arc<Command>,
        /// Its sequence number.
        seq: u64,
        /// Its dependencies.
        deps: Arc<[Dot]>,
    },
    /// Periodic (§8): how far the sender has committed and executed.
    GarbageCollection {
        /// Per origin (by index), the sender committed every dot up to it.
        committed: Vec<u64>,
        /// Per origin (by index), the sender executed every dot up to it.
        executed: Vec<u64>,
    },
}

/// Fixed per-message overhead: a tag and the sender, plus framing.
const HEADER_BYTES: u64 = 16;
/// A dot on the wire: origin (4) and sequence (8).
const DOT_BYTES: u64 = 12;

fn dots_bytes(dots: &[Dot]) -> u64 {
    4 + DOT_BYTES * dots.len() as u64
}

impl MessageSize for Message {
    fn size_bytes(&self) -> u64 {
        HEADER_BYTES
            + match self {
                Message::PreAccept { cmd, deps, .. } | Message::Accept { cmd, deps, .. } => {
                    DOT_BYTES + 8 + 8 + cmd.size_bytes() + dots_bytes(deps)
                }
                Message::PreAcceptOk { deps, committed_deps, .. } => {
                    DOT_BYTES + 8 + 8 + dots_bytes(deps) + dots_bytes(committed_deps)
                }
                Message::AcceptOk { .. } => DOT_BYTES + 8,
                Message::Commit { cmd, deps, .. } => DOT_BYTES + 8 + cmd.size_bytes() + dots_bytes(deps),
                Message::GarbageCollection { committed, executed } => 8 * (committed.len() + executed.len()) as u64,
            }
    }
}

/// EPaxos timers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Timer {
    /// Time to send this process's committed and executed frontiers (§8).
    GarbageCollection,
}

/// Where an instance is (epaxos.md §4; NONE is "not in the map",
/// EXECUTED is the executor's business).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Status {
    PreAccepted,
    Accepted,
    Committed,
}

/// One instance (dot) at one process.
#[derive(Debug)]
struct Instance {
    status: Status,
    cmd: Arc<Command>,
    seq: u64,
    deps: Arc<[Dot]>,
    /// Highest ballot joined.
    bal: Ballot,
    /// Ballot at which `(seq, deps)` were last accepted (pre-accepting at
    /// the initial ballot counts). Kept apart from `bal`: one variable for
    /// both lets replicas diverge after ballot changes (§9, Sutra 2019).
    abal: Ballot,
    /// Present at the command leader until the command commits.
    coordinator: Option<Box<Coordinator>>,
}

/// The command leader's bookkeeping for one instance.
#[derive(Debug)]
struct Coordinator {
    submitted_at: Time,
    /// PreAcceptOK senders (bit `id - 1`).
    replied: u64,
    /// True while every reply so far carried the first reply's attributes.
    identical: bool,
    /// Maximum `seq` of the replies so far.
    seq: u64,
    /// Union of the replies' `deps` so far (sorted, no duplicates).
    deps: Vec<Dot>,
    /// Union of the dependencies replies reported committed.
    reported_committed: Vec<Dot>,
    /// AcceptOK senders, the leader included (bit `id - 1`).
    accepted: u64,
}

/// What a process keeps per key besides [`KeyDeps`]: the highest sequence
/// numbers of the instances on the key it knows, so `seq` can be computed
/// over every interfering instance (§3), not only the latest ones, and
/// stays right when a slow path or a commit raises an instance's `seq`
/// (sequence numbers only grow, so a running maximum is exact).
#[derive(Clone, Copy, Debug, Default)]
struct KeySeqs {
    /// Highest `seq` of a write on the key.
    write: u64,
    /// Highest `seq` of a read-only command on the key.
    read: u64,
    /// Instances on the key this process knows that have not yet executed
    /// at every process; the key's entries are dropped when it reaches 0.
    live: u32,
}

/// Per origin (by index), how far the co-located executor has executed
/// every dot: written by [`EPaxosExecutor`], read by the protocol for
/// garbage collection of the per-key index (see [`EPaxos`]). fantoch has
/// the same executor-to-protocol channel (`handle_executed`); the
/// planetsim contract has none, so the two halves of the process share
/// this. Single-threaded; the atomics only keep the process `Send`.
#[derive(Clone, Debug)]
struct ExecutedFrontier(Arc<[AtomicU64]>);

impl ExecutedFrontier {
    fn new(n: usize) -> ExecutedFrontier {
        ExecutedFrontier((0..n).map(|_| AtomicU64::new(0)).collect())
    }

    fn get(&self, origin_index: usize) -> u64 {
        self.0[origin_index].load(Ordering::Relaxed)
    }

    /// Moves each origin's frontier past the dots `graph` has executed.
    fn advance(&self, graph: &GraphExecutor) {
        for (index, frontier) in self.0.iter().enumerate() {
            let origin = ProcessId::from_index(index);
            let mut seq = frontier.load(Ordering::Relaxed);
            while graph.has_executed(Dot { origin, seq: seq + 1 }) {
                seq += 1;
            }
            frontier.store(seq, Ordering::Relaxed);
        }
    }
}

/// EPaxos's executor: the shared dependency-graph executor (epaxos.md §6,
/// components sorted by `(seq, dot)`), which also tells the protocol how
/// far it has executed.
#[derive(Debug)]
pub struct EPaxosExecutor {
    graph: GraphExecutor,
    executed: ExecutedFrontier,
}

impl EPaxosExecutor {
    /// True if `dot` has executed here.
    pub fn has_executed(&self, dot: Dot) -> bool {
        self.graph.has_executed(dot)
    }

    /// Committed commands waiting for a dependency.
    pub fn pending(&self) -> usize {
        self.graph.pending()
    }
}

impl Executor for EPaxosExecutor {
    type Info = Committed;

    fn execute(&mut self, info: Committed, now: Time, apply: &mut Apply<'_>) {
        self.graph.execute(info, now, apply);
        self.executed.advance(&self.graph);
    }
}

/// One EPaxos process: command leader for its clients' commands, replica
/// for everyone else's.
///
/// Garbage collection (§8) works at two levels. An instance's state is
/// freed once every process has committed it (the committed frontiers of
/// the periodic exchange). The per-key index ([`KeyDeps`] and the per-key
/// sequence numbers) must not grow with every command, but a key's entry
/// may only be dropped once every command this process knows on the key
/// has *executed* at every process: otherwise a later command on the key
/// could omit a dependency on a command some process has committed but not
/// executed yet, and run before it there and after it elsewhere. So the
/// periodic message carries the executed frontier too.
#[derive(Debug)]
pub struct EPaxos {
    id: ProcessId,
    n: usize,
    options: Options,
    /// Every process but this one (Commit and GC targets).
    others: Vec<ProcessId>,
    /// The closest `FQ` processes but this one.
    fast_quorum_others: Vec<ProcessId>,
    /// The closest `F + 1` processes but this one.
    slow_quorum_others: Vec<ProcessId>,
    gc_interval_ns: u64,
    /// Sequence number of this process's last dot.
    last_dot: u64,
    instances: FixedHashMap<Dot, Instance>,
    key_deps: KeyDeps,
    key_seqs: FixedHashMap<Key, KeySeqs>,
    committed_gc: GcTracker,
    executed_gc: GcTracker,
    executed: ExecutedFrontier,
    /// Per origin, the executed frontier already given to `executed_gc`.
    executed_fed: Vec<u64>,
    /// Dots committed at every process, whose instances were freed.
    collected: DotSet,
    /// Commands of freed instances, kept until they executed everywhere
    /// to release their keys in the index.
    retired: FixedHashMap<Dot, Arc<Command>>,
}

impl EPaxos {
    /// Checks the rules EPaxos puts on a configuration: `3 <= n <= 64`,
    /// and `f` valid for `n` (`1 <= f <= n/2`) although EPaxos ignores it
    /// and always tolerates `floor(n/2)` failures (epaxos.md §2).
    pub fn check(n: usize, f: usize) -> Result<(), String> {
        if !(3..=MAX_PROCESSES).contains(&n) {
            return Err(format!("EPaxos needs between 3 and {MAX_PROCESSES} processes, got n = {n}"));
        }
        quorum::check_f(n, f)
    }

    /// Instances whose state is still held (not yet garbage-collected).
    pub fn instances_len(&self) -> usize {
        self.instances.len()
    }

    /// Keys held in the per-key index.
    pub fn indexed_keys(&self) -> usize {
        self.key_seqs.len()
    }

    /// The other members of this process's fast quorum.
    pub fn fast_quorum_others(&self) -> &[ProcessId] {
        &self.fast_quorum_others
    }

    /// The other members of this process's slow quorum.
    pub fn slow_quorum_others(&self) -> &[ProcessId] {
        &self.slow_quorum_others
    }

    /// `1 + max seq` of the instances this process knows that interfere
    /// with `cmd` (§3): writes on its keys, and reads too if `cmd` writes.
    fn next_seq(&self, cmd: &Command) -> u64 {
        let read_only = cmd.is_read_only();
        let highest = cmd
            .keys()
            .filter_map(|key| self.key_seqs.get(&key))
            .map(|seqs| if read_only { seqs.write } else { seqs.write.max(seqs.read) })
            .max()
            .unwrap_or(0);
        highest + 1
    }

    /// Records a new instance of `cmd` in the per-key index, at `seq`.
    fn index(&mut self, cmd: &Command, seq: u64) {
        for key in cmd.keys() {
            self.key_seqs.entry(key).or_default().live += 1;
        }
        self.raise_seq(cmd, seq);
    }

    /// An instance of `cmd` (already indexed) now has sequence number `seq`.
    fn raise_seq(&mut self, cmd: &Command, seq: u64) {
        let read_only = cmd.is_read_only();
        for key in cmd.keys() {
            let seqs = self.key_seqs.entry(key).or_default();
            let slot = if read_only { &mut seqs.read } else { &mut seqs.write };
            *slot = (*slot).max(seq);
        }
    }

    /// True if `dot` is known committed here.
    fn is_committed(&self, dot: Dot) -> bool {
        self.collected.contains(dot) || self.instances.get(&dot).is_some_and(|i| i.status == Status::Committed)
    }

    /// §5 step 2: pre-accept with the leader's attributes plus the
    /// interfering instances known here, and reply.
    #[allow(clippy::too_many_arguments)]
    fn handle_pre_accept(
        &mut self,
        from: ProcessId,
        dot: Dot,
        ballot: Ballot,
        cmd: Arc<Command>,
        seq: u64,
        deps: Arc<[Dot]>,
        out: &mut Outbox<Self>,
    ) {
        if self.collected.contains(dot) || self.instances.contains_key(&dot) {
            // A duplicate, or the instance is past PREACCEPTED here (a
            // Commit overtook the PreAccept). A PreAccept at a higher
            // ballot only comes from recovery (§7.2e), not implemented yet.
            return;
        }
        let seq = seq.max(self.next_seq(&cmd));
        let deps: Arc<[Dot]> = self.key_deps.conflicts(dot, &cmd, &deps).into();
        self.index(&cmd, seq);
        let committed_deps = if self.options.fast_requires_committed_deps {
            deps.iter().copied().filter(|&dep| self.is_committed(dep)).collect()
        } else {
            Vec::new()
        };
        let instance = Instance {
            status: Status::PreAccepted,
            cmd,
            seq,
            deps: deps.clone(),
            bal: ballot,
            abal: ballot,
            coordinator: None,
        };
        self.instances.insert(dot, instance);
        out.send(from, Message::PreAcceptOk { dot, ballot, seq, deps, committed_deps });
    }

    /// §5 step 3: the leader collects the fast quorum's replies, then takes
    /// the fast path if they are identical, the slow path otherwise.
    #[allow(clippy::too_many_arguments)]
    fn handle_pre_accept_ok(
        &mut self,
        from: ProcessId,
        dot: Dot,
        ballot: Ballot,
        seq: u64,
        deps: &[Dot],
        committed_deps: &[Dot],
        now: Time,
        out: &mut Outbox<Self>,
    ) {
        if !self.fast_quorum_others.contains(&from) {
            return; // not asked
        }
        let Some(instance) = self.instances.get_mut(&dot) else {
            return; // not pre-accepting here, or collected
        };
        if instance.status != Status::PreAccepted || instance.bal != ballot {
            return; // already decided, or a reply to another ballot
        }
        let Some(coordinator) = instance.coordinator.as_deref_mut() else {
            return; // not the leader of this instance
        };
        let bit = 1u64 << from.index();
        if coordinator.replied & bit != 0 {
            return; // a duplicate reply
        }
        if coordinator.replied == 0 {
            coordinator.seq = seq;
            coordinator.deps = deps.to_vec();
        } else {
            // While identical, `seq` and `deps` are the first reply's.
            coordinator.identical &= seq == coordinator.seq && deps == coordinator.deps.as_slice();
            coordinator.seq = coordinator.seq.max(seq);
            union_into(&mut coordinator.deps, deps);
        }
        coordinator.replied |= bit;
        if self.options.fast_requires_committed_deps {
            union_into(&mut coordinator.reported_committed, committed_deps);
        }
        if coordinator.replied.count_ones() as usize != self.fast_quorum_others.len() {
            return;
        }
        // Every fast-quorum member replied. The leader's own attributes are
        // not compared: every reply contains them by construction (§5.3).
        let identical = coordinator.identical;
        let reply_seq = coordinator.seq;
        let reply_deps = std::mem::take(&mut coordinator.deps);
        let reported_committed = std::mem::take(&mut coordinator.reported_committed);
        let fast = identical
            && (!self.options.fast_requires_committed_deps
                || reply_deps
                    .iter()
                    .all(|&dep| self.is_committed(dep) || reported_committed.binary_search(&dep).is_ok()));
        if fast {
            out.fast_path();
            self.commit_as_leader(dot, reply_seq, reply_deps.into(), now, out);
            return;
        }
        out.slow_path();
        let me = self.id;
        let instance = self.instances.get_mut(&dot).expect("present above");
        // Slow path: the union and the maximum, the leader's included.
        let seq = reply_seq.max(instance.seq);
        let mut deps = reply_deps;
        union_into(&mut deps, &instance.deps);
        let deps: Arc<[Dot]> = deps.into();
        instance.status = Status::Accepted;
        instance.abal = instance.bal;
        instance.seq = seq;
        instance.deps = deps.clone();
        let coordinator = instance.coordinator.as_deref_mut().expect("present above");
        coordinator.accepted = 1u64 << me.index();
        let (ballot, cmd) = (instance.bal, instance.cmd.clone());
        self.raise_seq(&cmd, seq);
        if self.slow_quorum_others.is_empty() {
            self.commit_as_leader(dot, seq, deps, now, out);
            return;
        }
        out.send_to_each(&self.slow_quorum_others, Message::Accept { dot, ballot, cmd, seq, deps });
    }

    /// §5 step 4: accept unless a higher ballot was joined.
    #[allow(clippy::too_many_arguments)]
    fn handle_accept(
        &mut self,
        from: ProcessId,
        dot: Dot,
        ballot: Ballot,
        cmd: Arc<Command>,
        seq: u64,
        deps: Arc<[Dot]>,
        out: &mut Outbox<Self>,
    ) {
        if self.collected.contains(dot) {
            return;
        }
        match self.instances.get_mut(&dot) {
            Some(instance) => {
                if instance.status == Status::Committed || ballot < instance.bal {
                    return; // decided already, or a stale ballot
                }
                instance.status = Status::Accepted;
                instance.bal = ballot;
                instance.abal = ballot;
                instance.seq = seq;
                instance.deps = deps;
                let cmd = instance.cmd.clone();
                self.raise_seq(&cmd, seq);
            }
            None => {
                // Only recovery sends Accept to a process that did not
                // pre-accept. The instance is not registered in `KeyDeps`:
                // a later command must depend on it only through processes
                // that computed its dependencies (see `handle_commit`).
                self.index(&cmd, seq);
                let instance =
                    Instance { status: Status::Accepted, cmd, seq, deps, bal: ballot, abal: ballot, coordinator: None };
                self.instances.insert(dot, instance);
            }
        }
        out.send(from, Message::AcceptOk { dot, ballot });
    }

    /// §5 step 5: commit after F acks (F + 1 with the leader).
    fn handle_accept_ok(&mut self, from: ProcessId, dot: Dot, ballot: Ballot, now: Time, out: &mut Outbox<Self>) {
        if !self.slow_quorum_others.contains(&from) {
            return; // not asked
        }
        let Some(instance) = self.instances.get_mut(&dot) else {
            return;
        };
        if instance.status != Status::Accepted || instance.bal != ballot {
            return; // committed already, or a stale ballot
        }
        let Some(coordinator) = instance.coordinator.as_deref_mut() else {
            return;
        };
        let bit = 1u64 << from.index();
        if coordinator.accepted & bit != 0 {
            return; // a duplicate ack
        }
        coordinator.accepted |= bit;
        if coordinator.accepted.count_ones() as usize == quorum::epaxos_slow(self.n) {
            let (seq, deps) = (instance.seq, instance.deps.clone());
            self.commit_as_leader(dot, seq, deps, now, out);
        }
    }

    /// The leader decided `(seq, deps)`: Commit to every other process,
    /// report the metrics, commit here.
    fn commit_as_leader(&mut self, dot: Dot, seq: u64, deps: Arc<[Dot]>, now: Time, out: &mut Outbox<Self>) {
        let instance = self.instances.get_mut(&dot).expect("the leader holds its instance");
        let coordinator = instance.coordinator.take().expect("the leader coordinates its instance");
        let cmd = instance.cmd.clone();
        out.commit_latency(now.since(coordinator.submitted_at));
        out.dependencies(deps.len());
        out.send_to_each(&self.others, Message::Commit { dot, cmd: cmd.clone(), seq, deps: deps.clone() });
        self.handle_commit(dot, cmd, seq, deps, out);
    }

    /// §5 step 6: record the attributes and hand the command to the
    /// executor. The Commit carries the command, so a Commit that arrives
    /// before (or instead of) the PreAccept needs no buffering.
    fn handle_commit(&mut self, dot: Dot, cmd: Arc<Command>, seq: u64, deps: Arc<[Dot]>, out: &mut Outbox<Self>) {
        if self.collected.contains(dot) {
            return; // committed and collected long ago
        }
        match self.instances.entry(dot) {
            Entry::Occupied(mut entry) => {
                let instance = entry.get_mut();
                if instance.status == Status::Committed {
                    return; // a duplicate
                }
                instance.status = Status::Committed;
                instance.seq = seq;
                instance.deps = deps.clone();
                instance.coordinator = None;
                self.raise_seq(&cmd, seq);
            }
            Entry::Vacant(entry) => {
                // Learned from the Commit alone (outside the fast quorum).
                // Its sequence number counts for later commands on its keys
                // (§3: interfering instances are those in the log), but it
                // is not registered in `KeyDeps`: the latest-per-key index
                // is a transitive reduction only if each registered command
                // was committed with the dependencies computed here, and a
                // later command reaches this one through the processes of
                // its quorums anyway.
                entry.insert(Instance {
                    status: Status::Committed,
                    cmd: cmd.clone(),
                    seq,
                    deps: deps.clone(),
                    bal: 0,
                    abal: 0,
                    coordinator: None,
                });
                self.index(&cmd, seq);
            }
        }
        self.committed_gc.committed(dot);
        // A command never depends on itself (§9); the index guarantees it,
        // a message could still say otherwise.
        let deps: Vec<Dot> = deps.iter().copied().filter(|&dep| dep != dot).collect();
        out.execute(Committed { dot, cmd: Some(cmd), deps, order: seq });
    }

    /// §8: `from` reports how far it committed and executed.
    fn handle_garbage_collection(&mut self, from: ProcessId, committed: &[u64], executed: &[u64]) {
        if from.index() >= self.n {
            return;
        }
        let mut stable = Vec::new();
        self.committed_gc.report(from, committed, |dot| stable.push(dot));
        for dot in stable.drain(..) {
            // Committed at every process: nobody will ask about it again.
            self.collected.insert(dot);
            if let Some(instance) = self.instances.remove(&dot) {
                self.retired.insert(dot, instance.cmd);
            }
        }
        self.executed_gc.report(from, executed, |dot| stable.push(dot));
        for dot in stable {
            // Executed at every process (so also committed and collected,
            // as each report's executed frontier is at most its committed
            // one and committed frontiers were processed first).
            let Some(cmd) = self.retired.remove(&dot) else {
                debug_assert!(!self.instances.contains_key(&dot), "{dot} executed everywhere before collected");
                continue;
            };
            self.key_deps.forget(dot, &cmd);
            for key in cmd.keys() {
                let Entry::Occupied(mut entry) = self.key_seqs.entry(key) else {
                    debug_assert!(false, "{dot} indexed without its key {key}");
                    continue;
                };
                entry.get_mut().live -= 1;
                if entry.get().live == 0 {
                    entry.remove();
                }
            }
        }
    }
}

/// Adds the sorted, duplicate-free `more` to the sorted, duplicate-free
/// `into`, keeping it so.
fn union_into(into: &mut Vec<Dot>, more: &[Dot]) {
    if more.iter().all(|dot| into.binary_search(dot).is_ok()) {
        return;
    }
    into.extend_from_slice(more);
    into.sort_unstable();
    into.dedup();
}

impl Protocol for EPaxos {
    type Message = Message;
    type Timer = Timer;
    type Executor = EPaxosExecutor;
    type Options = Options;

    fn new(setup: ProcessSetup, options: &Options) -> (Self, EPaxosExecutor) {
        let n = setup.n();
        debug_assert!(EPaxos::check(n, quorum::epaxos_f(n).max(1)).is_ok());
        let others_in = |size: usize| -> Vec<ProcessId> {
            setup.closest(size).iter().copied().filter(|&p| p != setup.id).collect()
        };
        let executed = ExecutedFrontier::new(n);
        let epaxos = EPaxos {
            id: setup.id,
            n,
            options: options.clone(),
            others: setup.processes.iter().copied().filter(|&p| p != setup.id).collect(),
            fast_quorum_others: others_in(quorum::epaxos_fast(n)),
            slow_quorum_others: others_in(quorum::epaxos_slow(n)),
            gc_interval_ns: setup.config.gc_interval_ns,
            last_dot: 0,
            instances: FixedHashMap::default(),
            key_deps: KeyDeps::new(false),
            key_seqs: FixedHashMap::default(),
            committed_gc: GcTracker::new(n),
            executed_gc: GcTracker::new(n),
            executed: executed.clone(),
            executed_fed: vec![0; n],
            collected: DotSet::new(),
            retired: FixedHashMap::default(),
        };
        (epaxos, EPaxosExecutor { graph: GraphExecutor::new(), executed })
    }

    fn start(&mut self, _now: Time, out: &mut Outbox<Self>) {
        if self.gc_interval_ns > 0 {
            out.set_timer(Timer::GarbageCollection, self.gc_interval_ns);
        }
    }

    /// §5 step 1: compute the attributes, pre-accept at the initial
    /// ballot, send PreAccept to the rest of the fast quorum.
    fn submit(&mut self, cmd: Arc<Command>, now: Time, out: &mut Outbox<Self>) {
        self.last_dot += 1;
        let dot = Dot { origin: self.id, seq: self.last_dot };
        let seq = self.next_seq(&cmd);
        let deps: Arc<[Dot]> = self.key_deps.conflicts(dot, &cmd, &[]).into();
        self.index(&cmd, seq);
        // The initial ballot is the leader's id: it needs no prepare
        // (specs README §1.4).
        let ballot = Ballot::from(self.id.0);
        let coordinator = Coordinator {
            submitted_at: now,
            replied: 0,
            identical: true,
            seq: 0,
            deps: Vec::new(),
            reported_committed: Vec::new(),
            accepted: 0,
        };
        let instance = Instance {
            status: Status::PreAccepted,
            cmd: cmd.clone(),
            seq,
            deps: deps.clone(),
            bal: ballot,
            abal: ballot,
            coordinator: Some(Box::new(coordinator)),
        };
        self.instances.insert(dot, instance);
        debug_assert!(!self.fast_quorum_others.is_empty(), "n >= 3 gives a fast quorum of at least 2");
        out.send_to_each(&self.fast_quorum_others, Message::PreAccept { dot, ballot, cmd, seq, deps });
    }

    fn handle(&mut self, from: ProcessId, msg: Message, now: Time, out: &mut Outbox<Self>) {
        match msg {
            Message::PreAccept { dot, ballot, cmd, seq, deps } => {
                self.handle_pre_accept(from, dot, ballot, cmd, seq, deps, out)
            }
            Message::PreAcceptOk { dot, ballot, seq, deps, committed_deps } => {
                self.handle_pre_accept_ok(from, dot, ballot, seq, &deps, &committed_deps, now, out)
            }
            Message::Accept { dot, ballot, cmd, seq, deps } => {
                self.handle_accept(from, dot, ballot, cmd, seq, deps, out)
            }
            Message::AcceptOk { dot, ballot } => self.handle_accept_ok(from, dot, ballot, now, out),
            Message::Commit { dot, cmd, seq, deps } => self.handle_commit(dot, cmd, seq, deps, out),
            Message::GarbageCollection { committed, executed } => {
                self.handle_garbage_collection(from, &committed, &executed)
            }
        }
    }

    fn handle_timer(&mut self, timer: Timer, _now: Time, out: &mut Outbox<Self>) {
        match timer {
            Timer::GarbageCollection => {
                for (index, fed) in self.executed_fed.iter_mut().enumerate() {
                    let origin = ProcessId::from_index(index);
                    let executed = self.executed.get(index);
                    for seq in *fed + 1..=executed {
                        self.executed_gc.committed(Dot { origin, seq });
                    }
                    *fed = (*fed).max(executed);
                }
                let committed = self.committed_gc.frontier();
                let executed = self.executed_gc.frontier();
                self.handle_garbage_collection(self.id, &committed, &executed);
                out.send_to_each(&self.others, Message::GarbageCollection { committed, executed });
                out.set_timer(Timer::GarbageCollection, self.gc_interval_ns);
            }
        }
    }
}
