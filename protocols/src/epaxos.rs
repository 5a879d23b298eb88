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

use crate::shared::dot::Dot;
use crate::shared::gc::GcTracker;
use crate::shared::graph_executor::{Committed, GraphExecutor};
use crate::shared::key_deps::KeyDeps;
use crate::shared::quorum;
use crate::shared::synod::Ballot;
use sim_core::protocol::{MessageSize, Outbox, ProcessSetup, Protocol};
use sim_core::{Command, FixedHashMap, Key, ProcessId, Time};
use std::collections::VecDeque;
use std::collections::hash_map::Entry;
use std::sync::Arc;

/// Most processes an EPaxos shard may have (replies are counted in a
/// 64-bit set).
pub const MAX_PROCESSES: usize = 64;

/// EPaxos's options (epaxos.md §5.3).
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
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
    /// The first reply's `deps` (shared with the message: on the fast
    /// path they are committed as they are).
    first_deps: Option<Arc<[Dot]>>,
    /// Once replies differ: the union of their `deps` (sorted, no
    /// duplicates).
    union: Vec<Dot>,
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

impl KeySeqs {
    /// Highest `seq` on the key that interferes with a command that is
    /// read-only or not: reads interfere with writes only.
    fn interfering(&self, read_only: bool) -> u64 {
        if read_only { self.write } else { self.write.max(self.read) }
    }

    fn raise(&mut self, read_only: bool, seq: u64) {
        let slot = if read_only { &mut self.read } else { &mut self.write };
        *slot = (*slot).max(seq);
    }
}

/// Per-origin logs of values indexed by dot: dots of one origin are dense
/// and collected in order, so a deque per origin (no hashing) holds them.
#[derive(Debug)]
struct DotLog<T>(Vec<OriginLog<T>>);

/// One origin's values: `entries[i]` is the value of seq `base + i`.
#[derive(Debug)]
struct OriginLog<T> {
    base: u64,
    entries: VecDeque<Option<T>>,
    len: usize,
}

/// How far above its origin's floor a dot may be stored: far more dots
/// than are ever in flight. A message naming a dot beyond it is ignored
/// rather than allocating the gap.
const MAX_DOTS_AHEAD: u64 = 1 << 22;

impl<T> DotLog<T> {
    fn new(n: usize) -> DotLog<T> {
        DotLog((0..n).map(|_| OriginLog { base: 1, entries: VecDeque::new(), len: 0 }).collect())
    }

    fn get(&self, dot: Dot) -> Option<&T> {
        let log = self.0.get(dot.origin.index())?;
        log.entries.get(usize::try_from(dot.seq.checked_sub(log.base)?).ok()?)?.as_ref()
    }

    fn get_mut(&mut self, dot: Dot) -> Option<&mut T> {
        let log = self.0.get_mut(dot.origin.index())?;
        log.entries.get_mut(usize::try_from(dot.seq.checked_sub(log.base)?).ok()?)?.as_mut()
    }

    /// True if `dot` can be stored: its origin is known and it is at or
    /// above its origin's floor, by less than `MAX_DOTS_AHEAD`.
    fn in_range(&self, dot: Dot) -> bool {
        self.0
            .get(dot.origin.index())
            .is_some_and(|log| dot.seq.checked_sub(log.base).is_some_and(|offset| offset < MAX_DOTS_AHEAD))
    }

    /// Stores `value` if `dot` is in range and not there yet; false if
    /// refused.
    fn insert(&mut self, dot: Dot, value: T) -> bool {
        if !self.in_range(dot) {
            return false;
        }
        let log = &mut self.0[dot.origin.index()];
        let offset = (dot.seq - log.base) as usize; // < MAX_DOTS_AHEAD
        if offset >= log.entries.len() {
            // Dots arrive nearly in order: usually this pushes one entry.
            log.entries.resize_with(offset, || None);
            log.entries.push_back(Some(value));
        } else if log.entries[offset].is_none() {
            log.entries[offset] = Some(value);
        } else {
            return false;
        }
        log.len += 1;
        true
    }

    /// Removes `dot` and refuses it, and every lower dot of its origin,
    /// from now on. Dots are discarded in order per origin.
    fn discard(&mut self, dot: Dot) -> Option<T> {
        let log = self.0.get_mut(dot.origin.index())?;
        let mut value = None;
        while log.base <= dot.seq {
            let entry = log.entries.pop_front().flatten();
            if entry.is_some() {
                log.len -= 1;
            }
            if log.base == dot.seq {
                value = entry;
            }
            log.base += 1;
            if log.entries.is_empty() {
                log.base = log.base.max(dot.seq + 1);
                break;
            }
        }
        value
    }

    /// True if `dot` was discarded (or its origin is unknown).
    fn is_discarded(&self, dot: Dot) -> bool {
        self.0.get(dot.origin.index()).is_none_or(|log| dot.seq < log.base)
    }

    fn len(&self) -> usize {
        self.0.iter().map(|log| log.len).sum()
    }
}

/// EPaxos's executor: the shared dependency-graph executor (epaxos.md §6,
/// components sorted by `(seq, dot)`). It notifies the protocol of every
/// dot it executes ([`Protocol::handle_executed`]), for the executed
/// frontier that garbage collection of the per-key index waits for.
pub type EPaxosExecutor = GraphExecutor;

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
/// executor notifies each dot it executes (`handle_executed`), and the
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
    /// Instances not yet committed at every process.
    instances: DotLog<Instance>,
    key_deps: KeyDeps,
    key_seqs: FixedHashMap<Key, KeySeqs>,
    committed_gc: GcTracker,
    /// Fed with every dot the co-located executor executes.
    executed_gc: GcTracker,
    /// The empty dependency set, shared.
    no_deps: Arc<[Dot]>,
    /// Commands of freed instances (committed at every process), kept
    /// until they executed everywhere to release their keys in the index.
    retired: DotLog<Arc<Command>>,
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
        let highest =
            cmd.keys().filter_map(|key| self.key_seqs.get(&key)).map(|seqs| seqs.interfering(read_only)).max();
        highest.unwrap_or(0) + 1
    }

    /// Records a new instance of `cmd` in the per-key index, with sequence
    /// number at least `seq_floor` and above every interfering instance
    /// (§3); returns that sequence number.
    fn index_new(&mut self, cmd: &Command, seq_floor: u64) -> u64 {
        let read_only = cmd.is_read_only();
        if let [(key, _)] = cmd.ops.as_slice() {
            // The common single-key command: one lookup.
            let seqs = self.key_seqs.entry(*key).or_default();
            let seq = seq_floor.max(seqs.interfering(read_only) + 1);
            seqs.live += 1;
            seqs.raise(read_only, seq);
            return seq;
        }
        let seq = seq_floor.max(self.next_seq(cmd));
        self.index(cmd, seq);
        seq
    }

    /// Records a new instance of `cmd` in the per-key index, at `seq`.
    fn index(&mut self, cmd: &Command, seq: u64) {
        let read_only = cmd.is_read_only();
        for key in cmd.keys() {
            let seqs = self.key_seqs.entry(key).or_default();
            seqs.live += 1;
            seqs.raise(read_only, seq);
        }
    }

    /// An instance of `cmd` (already indexed) now has the higher sequence
    /// number `seq`. (The per-key maxima already cover an indexed
    /// instance's previous `seq`, so callers skip this when it did not
    /// grow, as on every fast path: a lookup saved per process.)
    fn raise_seq(&mut self, cmd: &Command, seq: u64) {
        let read_only = cmd.is_read_only();
        for key in cmd.keys() {
            self.key_seqs.entry(key).or_default().raise(read_only, seq);
        }
    }

    /// `deps` as a shared set; empty sets (most of them) share one
    /// allocation.
    fn share(&self, deps: Vec<Dot>) -> Arc<[Dot]> {
        if deps.is_empty() { self.no_deps.clone() } else { deps.into() }
    }

    /// True if `dot` is known committed here.
    fn is_committed(&self, dot: Dot) -> bool {
        self.instances.is_discarded(dot) || self.instances.get(dot).is_some_and(|i| i.status == Status::Committed)
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
        if !self.instances.in_range(dot) || self.instances.get(dot).is_some() {
            // Collected (or bogus), a duplicate, or the instance is past
            // PREACCEPTED here (a Commit overtook the PreAccept). A
            // PreAccept at a higher ballot only comes from recovery
            // (§7.2e), not implemented yet.
            return;
        }
        let seq = self.index_new(&cmd, seq);
        let deps = self.key_deps.conflicts(dot, &cmd, &deps);
        // CPU model: the dependency scan's cost follows its result.
        out.work(deps.len());
        let deps = self.share(deps);
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
        let stored = self.instances.insert(dot, instance);
        debug_assert!(stored, "checked above");
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
        deps: Arc<[Dot]>,
        committed_deps: &[Dot],
        now: Time,
        out: &mut Outbox<Self>,
    ) {
        if !self.fast_quorum_others.contains(&from) {
            return; // not asked
        }
        out.work(deps.len()); // compared with (or merged into) the coordinator's

        let Some(instance) = self.instances.get_mut(dot) else {
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
        match &coordinator.first_deps {
            None => {
                coordinator.seq = seq;
                coordinator.first_deps = Some(deps);
            }
            Some(first_deps) => {
                // While identical, `seq` is the first reply's.
                if coordinator.identical && (seq != coordinator.seq || deps != *first_deps) {
                    coordinator.identical = false;
                    coordinator.union = first_deps.to_vec();
                }
                if !coordinator.identical {
                    union_into(&mut coordinator.union, &deps);
                }
                coordinator.seq = coordinator.seq.max(seq);
            }
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
        let first_deps = coordinator.first_deps.take().expect("a reply arrived");
        let union = std::mem::take(&mut coordinator.union);
        let reported_committed = std::mem::take(&mut coordinator.reported_committed);
        let fast = identical
            && (!self.options.fast_requires_committed_deps
                || first_deps
                    .iter()
                    .all(|&dep| self.is_committed(dep) || reported_committed.binary_search(&dep).is_ok()));
        if fast {
            out.fast_path();
            self.commit_as_leader(dot, reply_seq, first_deps, now, out);
            return;
        }
        out.slow_path();
        let me = self.id;
        let instance = self.instances.get_mut(dot).expect("present above");
        // Slow path: the union and the maximum, the leader's included.
        let seq = reply_seq.max(instance.seq);
        let raised = seq > instance.seq;
        let mut deps = if identical { first_deps.to_vec() } else { union };
        union_into(&mut deps, &instance.deps);
        let deps: Arc<[Dot]> = deps.into(); // (the slow path is rare: no shared empty set needed)
        instance.status = Status::Accepted;
        instance.abal = instance.bal;
        instance.seq = seq;
        instance.deps = deps.clone();
        let coordinator = instance.coordinator.as_deref_mut().expect("present above");
        coordinator.accepted = 1u64 << me.index();
        let (ballot, cmd) = (instance.bal, instance.cmd.clone());
        if raised {
            self.raise_seq(&cmd, seq);
        }
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
        if !self.instances.in_range(dot) {
            return; // collected (or bogus)
        }
        match self.instances.get_mut(dot) {
            Some(instance) => {
                if instance.status == Status::Committed || ballot < instance.bal {
                    return; // decided already, or a stale ballot
                }
                instance.status = Status::Accepted;
                instance.bal = ballot;
                instance.abal = ballot;
                let raised = seq > instance.seq;
                instance.seq = seq;
                instance.deps = deps;
                if raised {
                    let cmd = instance.cmd.clone();
                    self.raise_seq(&cmd, seq);
                }
            }
            None => {
                // Only recovery sends Accept to a process that did not
                // pre-accept. The instance is not registered in `KeyDeps`:
                // a later command must depend on it only through processes
                // that computed its dependencies (see `handle_commit`).
                self.index(&cmd, seq);
                let instance =
                    Instance { status: Status::Accepted, cmd, seq, deps, bal: ballot, abal: ballot, coordinator: None };
                let stored = self.instances.insert(dot, instance);
                debug_assert!(stored, "checked above");
            }
        }
        out.send(from, Message::AcceptOk { dot, ballot });
    }

    /// §5 step 5: commit after F acks (F + 1 with the leader).
    fn handle_accept_ok(&mut self, from: ProcessId, dot: Dot, ballot: Ballot, now: Time, out: &mut Outbox<Self>) {
        if !self.slow_quorum_others.contains(&from) {
            return; // not asked
        }
        let Some(instance) = self.instances.get_mut(dot) else {
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
        let instance = self.instances.get_mut(dot).expect("the leader holds its instance");
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
        if !self.instances.in_range(dot) {
            return; // committed and collected long ago (or bogus)
        }
        match self.instances.get_mut(dot) {
            Some(instance) => {
                if instance.status == Status::Committed {
                    return; // a duplicate
                }
                instance.status = Status::Committed;
                let raised = seq > instance.seq;
                instance.seq = seq;
                instance.deps = deps.clone();
                instance.coordinator = None;
                if raised {
                    self.raise_seq(&cmd, seq);
                }
            }
            None => {
                // Learned from the Commit alone (outside the fast quorum).
                // Its sequence number counts for later commands on its keys
                // (§3: interfering instances are those in the log), but it
                // is not registered in `KeyDeps`: the latest-per-key index
                // is a transitive reduction only if each registered command
                // was committed with the dependencies computed here, and a
                // later command reaches this one through the processes of
                // its quorums anyway.
                self.index(&cmd, seq);
                let instance = Instance {
                    status: Status::Committed,
                    cmd: cmd.clone(),
                    seq,
                    deps: deps.clone(),
                    bal: 0,
                    abal: 0,
                    coordinator: None,
                };
                let stored = self.instances.insert(dot, instance);
                debug_assert!(stored, "checked above");
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
            // Stable dots come in order per origin.
            if let Some(instance) = self.instances.discard(dot) {
                let stored = self.retired.insert(dot, instance.cmd);
                debug_assert!(stored, "retired in order");
            }
        }
        self.executed_gc.report(from, executed, |dot| stable.push(dot));
        for dot in stable {
            // Executed at every process (so also committed and collected,
            // as each report's executed frontier is at most its committed
            // one and committed frontiers were processed first).
            let Some(cmd) = self.retired.discard(dot) else {
                debug_assert!(self.instances.get(dot).is_none(), "{dot} executed everywhere before collected");
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
        let epaxos = EPaxos {
            id: setup.id,
            n,
            options: options.clone(),
            others: setup.processes.iter().copied().filter(|&p| p != setup.id).collect(),
            fast_quorum_others: others_in(quorum::epaxos_fast(n)),
            slow_quorum_others: others_in(quorum::epaxos_slow(n)),
            gc_interval_ns: setup.config.gc_interval_ns,
            last_dot: 0,
            instances: DotLog::new(n),
            key_deps: KeyDeps::new(false),
            key_seqs: FixedHashMap::default(),
            committed_gc: GcTracker::new(n),
            executed_gc: GcTracker::new(n),
            retired: DotLog::new(n),
            no_deps: Arc::new([]),
        };
        (epaxos, GraphExecutor::new())
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
        let seq = self.index_new(&cmd, 0);
        let deps = self.key_deps.conflicts(dot, &cmd, &[]);
        out.work(deps.len());
        let deps = self.share(deps);
        // The initial ballot is the leader's id: it needs no prepare
        // (specs README §1.4).
        let ballot = Ballot::from(self.id.0);
        let coordinator = Coordinator {
            submitted_at: now,
            replied: 0,
            identical: true,
            seq: 0,
            first_deps: None,
            union: Vec::new(),
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
        let stored = self.instances.insert(dot, instance);
        debug_assert!(stored, "a fresh dot");
        debug_assert!(!self.fast_quorum_others.is_empty(), "n >= 3 gives a fast quorum of at least 2");
        out.send_to_each(&self.fast_quorum_others, Message::PreAccept { dot, ballot, cmd, seq, deps });
    }

    fn handle(&mut self, from: ProcessId, msg: Message, now: Time, out: &mut Outbox<Self>) {
        match msg {
            Message::PreAccept { dot, ballot, cmd, seq, deps } => {
                self.handle_pre_accept(from, dot, ballot, cmd, seq, deps, out)
            }
            Message::PreAcceptOk { dot, ballot, seq, deps, committed_deps } => {
                self.handle_pre_accept_ok(from, dot, ballot, seq, deps, &committed_deps, now, out)
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
                let committed = self.committed_gc.frontier();
                let executed = self.executed_gc.frontier();
                self.handle_garbage_collection(self.id, &committed, &executed);
                out.send_to_each(&self.others, Message::GarbageCollection { committed, executed });
                out.set_timer(Timer::GarbageCollection, self.gc_interval_ns);
            }
        }
    }

    /// The executor executed `dot` here: it counts towards this process's
    /// executed frontier, sent at the next garbage collection (§8).
    fn handle_executed(&mut self, dot: Dot, _now: Time, _out: &mut Outbox<Self>) {
        self.executed_gc.committed(dot);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sim_core::protocol::{Effect, ProtocolConfig};
    use sim_core::rng::{Purpose, RngStreams};
    use sim_core::testing::ExecutorHarness;
    use sim_core::{ClientId, CommandId, Op};
    use std::collections::VecDeque;

    /// Process `id` of `n`, closest processes by id distance (ties: lower
    /// id first), with `options`.
    fn process_with(id: u32, n: u32, options: &Options) -> (EPaxos, EPaxosExecutor) {
        let processes: Vec<ProcessId> = (1..=n).map(ProcessId).collect();
        let mut by_distance = processes.clone();
        by_distance.sort_by_key(|p| (p.0.abs_diff(id), p.0));
        let setup = ProcessSetup {
            id: ProcessId(id),
            processes,
            by_distance,
            config: ProtocolConfig { f: 1, leader: None, ..ProtocolConfig::default() },
            rng: RngStreams::new(1).stream(Purpose::Protocol, u64::from(id)),
        };
        EPaxos::new(setup, options)
    }

    fn process(id: u32, n: u32) -> EPaxos {
        process_with(id, n, &Options::default()).0
    }

    /// A command of client 0 numbered `number` writing `keys`.
    fn put(number: u64, keys: &[Key]) -> Arc<Command> {
        let id = CommandId { client: ClientId(0), seq: number };
        Arc::new(Command { id, ops: keys.iter().map(|&key| (key, Op::Put(number))).collect(), payload_bytes: 0 })
    }

    fn sends(out: &Outbox<EPaxos>) -> Vec<(ProcessId, Message)> {
        out.sent()
    }

    fn executions(out: &Outbox<EPaxos>) -> Vec<Committed> {
        out.executions()
    }

    fn to_each(targets: &[u32], msg: &Message) -> Vec<(ProcessId, Message)> {
        targets.iter().map(|&p| (ProcessId(p), msg.clone())).collect()
    }

    fn deps(dots: &[Dot]) -> Arc<[Dot]> {
        dots.into()
    }

    fn pre_accept_ok(dot: Dot, seq: u64, dots: &[Dot]) -> Message {
        Message::PreAcceptOk { dot, ballot: 1, seq, deps: deps(dots), committed_deps: Vec::new() }
    }

    /// Delivers `msg` from `from` to `to` at time 0; returns the effects.
    fn deliver(to: &mut EPaxos, from: u32, msg: Message) -> Outbox<EPaxos> {
        let mut out = Outbox::new();
        to.handle(ProcessId(from), msg, Time::ZERO, &mut out);
        out
    }

    /// Process 1 of 5 has pre-accepted `a = (4,1)`, a write on key 7 with
    /// seq 2, and submits a write on key 7: its attributes are (3, {a}).
    fn leader_after_a() -> (EPaxos, Dot, Dot) {
        let mut leader = process(1, 5);
        let a = Dot::new(4, 1);
        deliver(&mut leader, 4, Message::PreAccept { dot: a, ballot: 4, cmd: put(1, &[7]), seq: 2, deps: deps(&[]) });
        let mut out = Outbox::new();
        leader.submit(put(2, &[7]), Time::ZERO, &mut out);
        let gamma = Dot::new(1, 1);
        let pre_accept = Message::PreAccept { dot: gamma, ballot: 1, cmd: put(2, &[7]), seq: 3, deps: deps(&[a]) };
        assert_eq!(sends(&out), to_each(&[2, 3], &pre_accept), "PreAccept to the other FQ members only");
        (leader, a, gamma)
    }

    /// epaxos.md §10.1: fast quorum sizes, and which processes form the
    /// quorums (the closest ones, the leader included).
    #[test]
    fn epaxos_10_1_fast_quorum_sizes() {
        assert_eq!((quorum::epaxos_f(5), quorum::epaxos_fast(5)), (2, 3), "n=5: leader + 2");
        assert_eq!((quorum::epaxos_f(7), quorum::epaxos_fast(7)), (3, 5), "n=7: leader + 4 identical replies");
        assert_eq!((quorum::epaxos_f(13), quorum::epaxos_fast(13)), (6, 9));
        let ids = |ps: &[ProcessId]| ps.iter().map(|p| p.0).collect::<Vec<_>>();
        let five = process(1, 5);
        assert_eq!((ids(five.fast_quorum_others()), ids(five.slow_quorum_others())), (vec![2, 3], vec![2, 3]));
        let seven = process(4, 7);
        assert_eq!(ids(seven.fast_quorum_others()), vec![3, 5, 2, 6], "the 4 closest others");
        assert_eq!(ids(seven.slow_quorum_others()), vec![3, 5, 2], "F = 3 closest others");
        let thirteen = process(1, 13);
        assert_eq!((thirteen.fast_quorum_others().len(), thirteen.slow_quorum_others().len()), (8, 6));
    }

    /// epaxos.md §10.2: replies 2:(3,{a}) and 3:(3,{a}) are identical →
    /// commit (3,{a}) after one round trip.
    #[test]
    fn epaxos_10_2_fast_path() {
        let (mut leader, a, gamma) = leader_after_a();
        let mut out = Outbox::new();
        leader.handle(ProcessId(2), pre_accept_ok(gamma, 3, &[a]), Time::from_ns(100), &mut out);
        assert!(out.effects().is_empty(), "one of two replies");
        leader.handle(ProcessId(3), pre_accept_ok(gamma, 3, &[a]), Time::from_ns(120), &mut out);
        let commit = Message::Commit { dot: gamma, cmd: put(2, &[7]), seq: 3, deps: deps(&[a]) };
        assert_eq!(sends(&out), to_each(&[2, 3, 4, 5], &commit));
        let committed = Committed { dot: gamma, cmd: Some(put(2, &[7])), deps: vec![a], order: 3 };
        assert_eq!(executions(&out), vec![committed]);
        let metrics = out.metrics().summary();
        assert_eq!((metrics.fast_paths, metrics.slow_paths), (1, 0));
        assert_eq!((metrics.commit_latency.count, metrics.commit_latency.mean_ns), (1, 120));
        assert_eq!((metrics.dependencies.count, metrics.dependencies.mean_ns), (1, 1));
        let late = deliver(&mut leader, 3, pre_accept_ok(gamma, 3, &[a]));
        assert!(late.effects().is_empty(), "a late duplicate after the commit does nothing");
    }

    /// epaxos.md §10.3: replies 2:(3,{a}) and 3:(4,{a,b}) differ → Accept
    /// (4,{a,b}) to the 2 closest others, commit after both AcceptOK (3 of
    /// 5 with the leader).
    #[test]
    fn epaxos_10_3_slow_path() {
        let (mut leader, a, gamma) = leader_after_a();
        let b = Dot::new(5, 1);
        deliver(&mut leader, 2, pre_accept_ok(gamma, 3, &[a]));
        let out = deliver(&mut leader, 3, pre_accept_ok(gamma, 4, &[a, b]));
        let accept = Message::Accept { dot: gamma, ballot: 1, cmd: put(2, &[7]), seq: 4, deps: deps(&[a, b]) };
        assert_eq!(sends(&out), to_each(&[2, 3], &accept));
        assert_eq!((out.metrics().fast_paths, out.metrics().slow_paths), (0, 1));
        assert!(executions(&out).is_empty());

        let ack = Message::AcceptOk { dot: gamma, ballot: 1 };
        assert!(deliver(&mut leader, 2, ack.clone()).effects().is_empty(), "2 of 3");
        assert!(deliver(&mut leader, 2, ack.clone()).effects().is_empty(), "a duplicate ack does not count");
        assert!(deliver(&mut leader, 4, ack.clone()).effects().is_empty(), "4 was not asked");
        let stale = Message::AcceptOk { dot: gamma, ballot: 6 };
        assert!(deliver(&mut leader, 3, stale).effects().is_empty(), "another ballot does not count");
        let out = deliver(&mut leader, 3, ack);
        let commit = Message::Commit { dot: gamma, cmd: put(2, &[7]), seq: 4, deps: deps(&[a, b]) };
        assert_eq!(sends(&out), to_each(&[2, 3, 4, 5], &commit));
        assert_eq!(
            executions(&out),
            vec![Committed { dot: gamma, cmd: Some(put(2, &[7])), deps: vec![a, b], order: 4 }]
        );
        assert_eq!(out.metrics().summary().dependencies.mean_ns, 2);
    }

    /// The acceptor side of §5.4: Accept at the current or a higher ballot
    /// is accepted (bal and abal follow), a lower one ignored.
    #[test]
    fn accept_keeps_bal_and_abal() {
        let mut replica = process(2, 5);
        let gamma = Dot::new(1, 1);
        deliver(
            &mut replica,
            1,
            Message::PreAccept { dot: gamma, ballot: 1, cmd: put(1, &[7]), seq: 1, deps: deps(&[]) },
        );
        let instance = replica.instances.get(gamma).expect("pre-accepted");
        assert_eq!((instance.status, instance.bal, instance.abal), (Status::PreAccepted, 1, 1));
        let accept = |ballot| Message::Accept { dot: gamma, ballot, cmd: put(1, &[7]), seq: 2, deps: deps(&[]) };
        let out = deliver(&mut replica, 1, accept(1));
        assert_eq!(sends(&out), vec![(ProcessId(1), Message::AcceptOk { dot: gamma, ballot: 1 })]);
        let out = deliver(&mut replica, 3, accept(8));
        assert_eq!(sends(&out), vec![(ProcessId(3), Message::AcceptOk { dot: gamma, ballot: 8 })]);
        assert!(deliver(&mut replica, 1, accept(1)).effects().is_empty(), "ballot 1 < 8");
        let instance = replica.instances.get(gamma).expect("accepted");
        assert_eq!((instance.status, instance.bal, instance.abal, instance.seq), (Status::Accepted, 8, 8, 2));
    }

    /// epaxos.md §10.4: the leader's interfering instances have seq 2 and
    /// 5 → it proposes 6; a replica that also knows one with seq 7 replies
    /// 8 → the replies differ → slow path with seq 8.
    #[test]
    fn epaxos_10_4_seq() {
        let (x, y, z, gamma) = (Dot::new(4, 1), Dot::new(5, 1), Dot::new(4, 2), Dot::new(1, 1));
        let pre_accept = |dot, number, keys: &[Key], seq| Message::PreAccept {
            dot,
            ballot: u64::from(dot.origin.0),
            cmd: put(number, keys),
            seq,
            deps: deps(&[]),
        };
        let (mut leader, mut two, mut three) = (process(1, 5), process(2, 5), process(3, 5));
        for p in [&mut leader, &mut two, &mut three] {
            deliver(p, 4, pre_accept(x, 1, &[7], 2));
            deliver(p, 5, pre_accept(y, 2, &[8], 5));
        }
        deliver(&mut two, 4, pre_accept(z, 3, &[7], 7));

        let mut out = Outbox::new();
        leader.submit(put(4, &[7, 8]), Time::ZERO, &mut out);
        let [(_, to_two), (_, to_three)] = <[_; 2]>::try_from(sends(&out)).expect("two PreAccepts");
        let Message::PreAccept { seq: 6, deps: ref leader_deps, .. } = to_two else {
            panic!("the leader proposes seq 6: {to_two:?}");
        };
        assert_eq!(**leader_deps, [x, y]);
        let reply_two = sends(&deliver(&mut two, 1, to_two)).remove(0).1;
        let reply_three = sends(&deliver(&mut three, 1, to_three)).remove(0).1;
        assert_eq!(reply_two, pre_accept_ok(gamma, 8, &[x, z, y]), "1 + 7");
        assert_eq!(reply_three, pre_accept_ok(gamma, 6, &[x, y]));
        deliver(&mut leader, 2, reply_two);
        let out = deliver(&mut leader, 3, reply_three);
        let accept = Message::Accept { dot: gamma, ballot: 1, cmd: put(4, &[7, 8]), seq: 8, deps: deps(&[x, z, y]) };
        assert_eq!(sends(&out), to_each(&[2, 3], &accept));
    }

    /// §3: the per-key maxima follow an instance whose seq a slow path
    /// (Accept) or a Commit raised above what was pre-accepted, and count
    /// instances learned from a Commit alone.
    #[test]
    fn seq_follows_raised_and_commit_only_instances() {
        let mut replica = process(2, 5);
        let (g1, g2, g3) = (Dot::new(1, 1), Dot::new(3, 1), Dot::new(4, 1));
        deliver(&mut replica, 1, Message::PreAccept { dot: g1, ballot: 1, cmd: put(1, &[7]), seq: 1, deps: deps(&[]) });
        deliver(&mut replica, 1, Message::Accept { dot: g1, ballot: 1, cmd: put(1, &[7]), seq: 6, deps: deps(&[]) });
        assert_eq!(replica.next_seq(&put(9, &[7])), 7, "raised by Accept");
        deliver(&mut replica, 3, Message::PreAccept { dot: g2, ballot: 3, cmd: put(2, &[8]), seq: 1, deps: deps(&[]) });
        deliver(&mut replica, 3, Message::Commit { dot: g2, cmd: put(2, &[8]), seq: 9, deps: deps(&[]) });
        assert_eq!(replica.next_seq(&put(9, &[8])), 10, "raised by Commit");
        deliver(&mut replica, 4, Message::Commit { dot: g3, cmd: put(3, &[9]), seq: 4, deps: deps(&[]) });
        assert_eq!(replica.next_seq(&put(9, &[9])), 5, "learned from a Commit alone");
        let read = Arc::new(Command {
            id: CommandId { client: ClientId(0), seq: 9 },
            ops: vec![(9, Op::Get)].into(),
            payload_bytes: 0,
        });
        assert_eq!(replica.next_seq(&read), 5, "a read interferes with writes");
        deliver(&mut replica, 4, Message::Commit { dot: Dot::new(4, 2), cmd: read.clone(), seq: 11, deps: deps(&[]) });
        assert_eq!(replica.next_seq(&read), 5, "reads do not interfere with reads");
        assert_eq!(replica.next_seq(&put(9, &[9])), 12, "but with writes");
    }

    /// epaxos.md §10.5: the committed component {x: seq 4, (2,1); y: seq
    /// 4, (1,3); z: seq 3, (3,1)} executes z, y, x (fantoch's dot-only
    /// order would be y, x, z), through the Commits of a process outside
    /// every fast quorum and its executor.
    #[test]
    fn epaxos_10_5_execution_order() {
        let (x, y, z) = (Dot::new(2, 1), Dot::new(1, 3), Dot::new(3, 1));
        let (mut replica, mut executor) = process_with(4, 5, &Options::default());
        let mut harness = ExecutorHarness::new(ProcessId(4), 1);
        let mut executed = Vec::new();
        for (dot, number, seq, dep) in [(x, 1, 4, y), (y, 2, 4, z), (z, 3, 3, x)] {
            let out = deliver(
                &mut replica,
                dot.origin.0,
                Message::Commit { dot, cmd: put(number, &[7]), seq, deps: deps(&[dep]) },
            );
            for info in executions(&out) {
                assert_eq!(info.order, seq, "order = seq");
                executed.extend(harness.step(&mut executor, info, Time::ZERO).into_iter().map(|id| id.seq));
            }
        }
        assert_eq!(executed, vec![3, 2, 1], "z, y, x");
        assert_eq!(executor.pending(), 0);
        assert!([x, y, z].iter().all(|&dot| executor.has_executed(dot)));
    }

    /// n = 3: FQ = 2, so the single reply is compared with nothing and
    /// every command takes the fast path, even when the reply adds deps.
    #[test]
    fn n3_always_fast() {
        let mut leader = process(1, 3);
        let mut out = Outbox::new();
        leader.submit(put(1, &[7]), Time::ZERO, &mut out);
        assert_eq!(sends(&out).len(), 1, "PreAccept to the one closest other");
        let other = Dot::new(3, 1);
        let out = deliver(&mut leader, 2, pre_accept_ok(Dot::new(1, 1), 5, &[other]));
        assert_eq!(out.metrics().fast_paths, 1);
        assert_eq!(executions(&out)[0].deps, vec![other]);
        assert_eq!(executions(&out)[0].order, 5);
    }

    /// §5.3 with `fast_requires_committed_deps`: identical replies whose
    /// dependency nobody knows committed go slow; reported committed, or
    /// known committed at the leader, they go fast. Off, they go fast.
    #[test]
    fn fast_path_can_require_committed_deps() {
        let strict = Options { fast_requires_committed_deps: true };
        let a = Dot::new(4, 1);
        let run = |options: &Options, committed_at_leader: bool, reported: &[Dot]| {
            let mut leader = process_with(1, 5, options).0;
            deliver(
                &mut leader,
                4,
                Message::PreAccept { dot: a, ballot: 4, cmd: put(1, &[7]), seq: 1, deps: deps(&[]) },
            );
            if committed_at_leader {
                deliver(&mut leader, 4, Message::Commit { dot: a, cmd: put(1, &[7]), seq: 1, deps: deps(&[]) });
            }
            leader.submit(put(2, &[7]), Time::ZERO, &mut Outbox::new());
            let gamma = Dot::new(1, 1);
            let reply = Message::PreAcceptOk {
                dot: gamma,
                ballot: 1,
                seq: 2,
                deps: deps(&[a]),
                committed_deps: reported.to_vec(),
            };
            deliver(&mut leader, 2, reply);
            let out = deliver(&mut leader, 3, pre_accept_ok(gamma, 2, &[a]));
            (out.metrics().fast_paths, out.metrics().slow_paths)
        };
        assert_eq!(run(&Options::default(), false, &[]), (1, 0), "off: fantoch's rule");
        assert_eq!(run(&strict, false, &[]), (0, 1), "a not known committed");
        assert_eq!(run(&strict, false, &[a]), (1, 0), "reported committed by a reply");
        assert_eq!(run(&strict, true, &[]), (1, 0), "committed at the leader");

        // A replica reports the dependencies it knows committed, only then.
        for (options, expected) in [(strict, vec![a]), (Options::default(), vec![])] {
            let mut replica = process_with(2, 5, &options).0;
            deliver(
                &mut replica,
                4,
                Message::PreAccept { dot: a, ballot: 4, cmd: put(1, &[7]), seq: 1, deps: deps(&[]) },
            );
            deliver(&mut replica, 4, Message::Commit { dot: a, cmd: put(1, &[7]), seq: 1, deps: deps(&[]) });
            let pre_accept =
                Message::PreAccept { dot: Dot::new(1, 1), ballot: 1, cmd: put(2, &[7]), seq: 1, deps: deps(&[]) };
            let Message::PreAcceptOk { committed_deps, .. } = sends(&deliver(&mut replica, 1, pre_accept)).remove(0).1
            else {
                panic!("a PreAcceptOK");
            };
            assert_eq!(committed_deps, expected);
        }
    }

    /// A Commit that overtakes the PreAccept commits (it carries the
    /// command); the late PreAccept is ignored; duplicate Commits execute
    /// nothing twice.
    #[test]
    fn commit_before_pre_accept() {
        let mut replica = process(2, 5);
        let gamma = Dot::new(1, 1);
        let commit = Message::Commit { dot: gamma, cmd: put(1, &[7]), seq: 3, deps: deps(&[Dot::new(3, 1), gamma]) };
        let out = deliver(&mut replica, 1, commit.clone());
        assert_eq!(
            executions(&out),
            vec![Committed { dot: gamma, cmd: Some(put(1, &[7])), deps: vec![Dot::new(3, 1)], order: 3 }],
            "never its own dep"
        );
        let pre_accept = Message::PreAccept { dot: gamma, ballot: 1, cmd: put(1, &[7]), seq: 1, deps: deps(&[]) };
        assert!(deliver(&mut replica, 1, pre_accept).effects().is_empty(), "past PREACCEPTED");
        assert!(deliver(&mut replica, 1, commit).effects().is_empty(), "committed already");
        let accept = Message::Accept { dot: gamma, ballot: 1, cmd: put(1, &[7]), seq: 9, deps: deps(&[]) };
        assert!(deliver(&mut replica, 1, accept).effects().is_empty(), "committed already");
    }

    /// Replies from outside the fast quorum, duplicates and replies to
    /// another ballot are ignored; the leader waits for all FQ-1 replies.
    #[test]
    fn duplicate_and_foreign_replies_are_ignored() {
        let (mut leader, a, gamma) = leader_after_a();
        assert!(deliver(&mut leader, 2, pre_accept_ok(gamma, 3, &[a])).effects().is_empty());
        assert!(deliver(&mut leader, 2, pre_accept_ok(gamma, 4, &[a])).effects().is_empty(), "duplicate");
        assert!(deliver(&mut leader, 4, pre_accept_ok(gamma, 3, &[a])).effects().is_empty(), "not asked");
        let other_ballot =
            Message::PreAcceptOk { dot: gamma, ballot: 6, seq: 3, deps: deps(&[a]), committed_deps: vec![] };
        assert!(deliver(&mut leader, 3, other_ballot).effects().is_empty(), "another ballot");
        let unknown = pre_accept_ok(Dot::new(1, 9), 3, &[a]);
        assert!(deliver(&mut leader, 3, unknown).effects().is_empty(), "unknown instance");
        let out = deliver(&mut leader, 3, pre_accept_ok(gamma, 3, &[a]));
        assert_eq!(out.metrics().fast_paths, 1, "the duplicate (seq 4) did not count");
        let pre_accept = Message::PreAccept { dot: gamma, ballot: 1, cmd: put(2, &[7]), seq: 3, deps: deps(&[a]) };
        let mut replica = process(2, 5);
        assert_eq!(sends(&deliver(&mut replica, 1, pre_accept.clone())).len(), 1);
        assert!(deliver(&mut replica, 1, pre_accept).effects().is_empty(), "a duplicate PreAccept");
    }

    #[test]
    fn dot_log_inserts_out_of_order_and_discards_in_order() {
        let mut log = DotLog::new(2);
        assert!(log.insert(Dot::new(1, 3), 'c') && log.insert(Dot::new(1, 1), 'a'));
        assert!(!log.insert(Dot::new(1, 3), 'x'), "taken");
        assert!(!log.insert(Dot::new(3, 1), 'x'), "unknown origin");
        assert_eq!((log.get(Dot::new(1, 2)), log.get(Dot::new(1, 3)), log.len()), (None, Some(&'c'), 2));
        assert_eq!(log.discard(Dot::new(1, 1)), Some('a'));
        assert_eq!(log.discard(Dot::new(1, 2)), None);
        assert!(log.is_discarded(Dot::new(1, 2)) && !log.is_discarded(Dot::new(1, 3)));
        assert!(!log.insert(Dot::new(1, 2), 'b'), "below the floor");
        assert_eq!(log.discard(Dot::new(1, 5)), None, "past the end");
        assert!(log.is_discarded(Dot::new(1, 5)) && log.insert(Dot::new(1, 6), 'f'));
        assert_eq!((log.len(), log.get(Dot::new(1, 6))), (1, Some(&'f')));
    }

    /// Messages naming dots of unknown origins or absurdly far ahead are
    /// ignored, not stored.
    #[test]
    fn bogus_dots_are_ignored() {
        let mut replica = process(2, 5);
        for dot in [Dot::new(9, 1), Dot::new(1, u64::MAX), Dot::new(1, MAX_DOTS_AHEAD + 1)] {
            let msgs = [
                Message::PreAccept { dot, ballot: 1, cmd: put(1, &[7]), seq: 1, deps: deps(&[]) },
                Message::Accept { dot, ballot: 1, cmd: put(1, &[7]), seq: 1, deps: deps(&[]) },
                Message::Commit { dot, cmd: put(1, &[7]), seq: 1, deps: deps(&[]) },
            ];
            for msg in msgs {
                assert!(deliver(&mut replica, 1, msg).effects().is_empty(), "{dot}");
            }
        }
        assert_eq!((replica.instances_len(), replica.indexed_keys()), (0, 0));
        assert!(replica.instances.in_range(Dot::new(1, MAX_DOTS_AHEAD)));
    }

    #[test]
    fn check_accepts_any_valid_f_and_ignores_it() {
        assert!(EPaxos::check(5, 1).is_ok() && EPaxos::check(5, 2).is_ok());
        assert!(EPaxos::check(5, 3).unwrap_err().contains("between 1 and floor(n/2) = 2"));
        assert!(EPaxos::check(2, 1).unwrap_err().contains("between 3 and 64"));
        assert!(EPaxos::check(65, 1).is_err());
    }

    /// Whole runs with garbage collection every millisecond (so the
    /// per-key index is pruned while commands on the key are in flight),
    /// multi-key commands and reads on a few hot keys, jitter and link
    /// reordering, with and without the committed-deps rule: every run
    /// passes the verdict and completes.
    #[test]
    fn runs_with_aggressive_gc_pass_the_verdict() {
        use sim_core::workload::{KeyDistribution, Workload};
        use sim_core::{DelayOptions, RegionId, RunConfig, Simulation};
        let matrix = latency_data::Matrix::builtin("gcp").expect("built-in matrix");
        let sites = ["us-central1", "europe-west1", "asia-east1", "southamerica-east1", "us-west1"]
            .map(|name| RegionId(matrix.region_index(name).expect("known region") as u16))
            .to_vec();
        for (seed, options) in
            [(1, Options::default()), (2, Options::default()), (3, Options { fast_requires_committed_deps: true })]
        {
            let mut config = RunConfig::new(matrix.clone(), sites.clone());
            config.protocol.gc_interval_ns = sim_core::time::NS_PER_MS;
            config.clients_per_region = 4;
            config.commands_per_client = 20;
            config.seed = seed;
            config.delay = DelayOptions { jitter: true, reorder: true, ..DelayOptions::default() };
            config.workload = Workload {
                keys: KeyDistribution::ConflictPool { conflict_rate: 0.5, hot_keys: 3 },
                keys_per_command: 2,
                read_ratio: 0.4,
                ..Workload::default()
            };
            let report = Simulation::<EPaxos>::with_options(&config, &options).run();
            assert!(report.verdict.passed(), "seed {seed}: {}", report.verdict);
            assert_eq!(report.total.count, 5 * 4 * 20);
            assert!(report.protocol.slow_paths > 0, "contention sends some commands on the slow path");
        }
    }

    /// A little FIFO network of processes and their executors.
    struct Net {
        processes: Vec<EPaxos>,
        executors: Vec<EPaxosExecutor>,
        harnesses: Vec<ExecutorHarness>,
        queue: VecDeque<(ProcessId, ProcessId, Message)>,
        held: Vec<(ProcessId, ProcessId, Message)>,
    }

    impl Net {
        fn new(n: u32) -> Net {
            let (processes, executors) = (1..=n).map(|id| process_with(id, n, &Options::default())).unzip();
            let harnesses = (1..=n).map(|id| ExecutorHarness::new(ProcessId(id), 1)).collect();
            Net { processes, executors, harnesses, queue: VecDeque::new(), held: Vec::new() }
        }

        fn apply(&mut self, at: ProcessId, out: Outbox<EPaxos>) {
            for effect in out.take_all() {
                match effect {
                    Effect::Send { to, msg } => self.queue.push_back((at, to, msg)),
                    Effect::Execute(info) => {
                        // As the engine does: what the executor notifies
                        // goes to its protocol at once.
                        let i = at.index();
                        let (_, executed) =
                            self.harnesses[i].step_with_feedback(&mut self.executors[i], info, Time::ZERO);
                        for dot in executed {
                            let mut out = Outbox::new();
                            self.processes[i].handle_executed(dot, Time::ZERO, &mut out);
                            self.apply(at, out);
                        }
                    }
                    Effect::SetTimer { .. } | Effect::CancelTimer { .. } => {}
                }
            }
        }

        fn submit(&mut self, at: u32, cmd: Arc<Command>) {
            let mut out = Outbox::new();
            self.processes[at as usize - 1].submit(cmd, Time::ZERO, &mut out);
            self.apply(ProcessId(at), out);
        }

        /// Delivers everything, except messages `hold` selects, which wait
        /// in `held`.
        fn run(&mut self, hold: impl Fn(ProcessId, ProcessId, &Message) -> bool) {
            while let Some((from, to, msg)) = self.queue.pop_front() {
                if hold(from, to, &msg) {
                    self.held.push((from, to, msg));
                    continue;
                }
                let mut out = Outbox::new();
                self.processes[to.index()].handle(from, msg, Time::ZERO, &mut out);
                self.apply(to, out);
            }
        }

        fn release_held(&mut self) {
            self.queue.extend(self.held.drain(..));
            self.run(|_, _, _| false);
        }

        /// One GC round: every process's timer fires, then all the
        /// GarbageCollection messages are delivered.
        fn gc_round(&mut self) {
            for i in 0..self.processes.len() {
                let mut out = Outbox::new();
                self.processes[i].handle_timer(Timer::GarbageCollection, Time::ZERO, &mut out);
                self.apply(ProcessId::from_index(i), out);
            }
            self.run(|_, _, _| false);
        }
    }

    trait TakeAll {
        fn take_all(self) -> Vec<Effect<EPaxos>>;
    }

    impl TakeAll for Outbox<EPaxos> {
        fn take_all(mut self) -> Vec<Effect<EPaxos>> {
            self.take()
        }
    }

    /// §8: instances are freed once committed everywhere; the per-key
    /// index only once executed everywhere — a command committed at every
    /// process but blocked at one of them on a dependency it has not
    /// committed keeps its key indexed.
    #[test]
    fn gc_frees_instances_then_the_key_index() {
        let mut net = Net::new(3);
        net.submit(1, put(1, &[7]));
        net.submit(2, put(2, &[7]));
        // Hold the Commit of (1,1) to process 3: there, (2,1), which
        // depends on it, commits but cannot execute.
        let held = |_, to: ProcessId, msg: &Message| {
            to == ProcessId(3) && matches!(msg, Message::Commit { dot, .. } if *dot == Dot::new(1, 1))
        };
        net.run(held);
        assert_eq!(net.held.len(), 1);
        assert!(net.executors[2].pending() == 1 && !net.executors[2].has_executed(Dot::new(2, 1)));
        net.gc_round();
        // (2,1) is freed everywhere, (1,1) (not committed at 3, which only
        // learns commands from Commits) is not; key 7 stays indexed as
        // (2,1) has not executed at 3. Process 3 learned (2,1) from its
        // Commit, so it counts its seq but never registered it in KeyDeps.
        let state = |p: &EPaxos| (p.instances_len(), p.indexed_keys(), p.key_deps.key_count(), p.retired.len());
        let expected = [(1, 1, 1, 1), (1, 1, 1, 1), (0, 1, 0, 1)];
        assert_eq!(net.processes.iter().map(state).collect::<Vec<_>>(), expected);
        net.release_held();
        assert!(net.executors[2].has_executed(Dot::new(2, 1)));
        net.gc_round();
        assert!(net.processes.iter().all(|p| state(p) == (0, 0, 0, 0)));
        // Late messages about collected instances are ignored.
        let late = Message::Commit { dot: Dot::new(1, 1), cmd: put(1, &[7]), seq: 1, deps: deps(&[]) };
        assert!(deliver(&mut net.processes[2], 1, late).effects().is_empty());
        let late = Message::PreAccept { dot: Dot::new(2, 1), ballot: 2, cmd: put(2, &[7]), seq: 1, deps: deps(&[]) };
        assert!(deliver(&mut net.processes[0], 2, late).effects().is_empty());
        assert_eq!(net.processes[0].instances_len(), 0);
    }

    /// Why the per-key index waits for execution everywhere: `w` (keys 7
    /// and 8) depends on `x` (key 8), whose Commit to process 3 is late,
    /// so `w` is committed everywhere but blocked at 3. Had processes 1 and
    /// 2 forgotten `w` then, a new write `d` on key 7 would commit without
    /// depending on it, run before `w` at 3 and after it elsewhere.
    #[test]
    fn the_index_keeps_a_command_until_it_executed_everywhere() {
        let (x, w, d) = (Dot::new(1, 1), Dot::new(2, 1), Dot::new(1, 2));
        let mut net = Net::new(3);
        let held = move |_, to: ProcessId, msg: &Message| {
            to == ProcessId(3) && matches!(msg, Message::Commit { dot, .. } if *dot == x)
        };
        net.submit(1, put(1, &[8]));
        net.run(held);
        net.submit(2, put(2, &[7, 8]));
        net.run(held);
        assert!(!net.executors[2].has_executed(w) && net.executors[0].has_executed(w));
        net.gc_round();
        net.gc_round();
        net.submit(1, put(3, &[7]));
        net.run(held);
        let deps_of_d = net.processes[0].instances.get(d).map(|i| i.deps.to_vec());
        assert_eq!(deps_of_d, Some(vec![w]), "d still depends on w");
        assert!(!net.executors[2].has_executed(d), "d waits for w at 3");
        net.release_held();
        let stores: Vec<_> = net.harnesses.iter().map(|h| format!("{:?}", h.store)).collect();
        assert!(stores.iter().all(|s| *s == stores[0]), "same order everywhere: {stores:?}");
    }

    /// A longer run through the little network: every process executes
    /// every command, in the same order, and GC leaves nothing behind.
    #[test]
    fn every_process_executes_the_same_order_and_gc_empties_state() {
        let mut net = Net::new(5);
        for round in 0..20u64 {
            for at in 1..=5u32 {
                let number = round * 5 + u64::from(at);
                let keys: &[Key] = if number % 3 == 0 { &[1, 2] } else { &[number % 2 + 1] };
                net.submit(at, put(number, keys));
            }
            if round % 4 == 3 {
                net.run(|_, _, _| false);
                net.gc_round();
            }
        }
        net.run(|_, _, _| false);
        net.gc_round();
        net.gc_round();
        let stores: Vec<_> = net.harnesses.iter().map(|h| format!("{:?}", h.store)).collect();
        assert!(stores.iter().all(|s| *s == stores[0]), "same final store everywhere");
        for (p, e) in net.processes.iter().zip(&net.executors) {
            assert_eq!(e.pending(), 0);
            assert_eq!((p.instances_len(), p.indexed_keys(), p.key_deps.key_count(), p.retired.len()), (0, 0, 0, 0));
        }
    }
}
