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
//! §5 (commit protocol) and §8 (garbage collection), single shard, and
//! explicit prepare (§7, recovery, in `failure.rs` and `recovery.rs`) with
//! failure detection by timeouts, only in runs with failure detection
//! (`ProtocolConfig::failure_detection`): failure-free runs are unchanged.
//! Each instance keeps its own `bal` and `abal` (§9). EPaxos always
//! tolerates a minority: the configured `f` is accepted when valid, then
//! ignored.

mod failure;
pub mod recovery;
#[cfg(test)]
mod tests;

use crate::shared::dot::Dot;
use crate::shared::gc::GcTracker;
use crate::shared::graph_executor::{Committed, GraphExecutor};
use crate::shared::key_deps::KeyDeps;
use crate::shared::quorum;
use crate::shared::synod::Ballot;
use failure::Watch;
use recovery::ReplyStatus;
use sim_core::protocol::{MessageSize, Outbox, ProcessSetup, Protocol};
use sim_core::time::NS_PER_MS;
use sim_core::{Command, CommandId, FixedHashMap, Key, ProcessId, Time};
use std::collections::hash_map::Entry;
use std::collections::{BTreeMap, VecDeque};
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
    /// §7.1 `recovery_timeout`: how long a process holds an instance it
    /// knows of but has not seen committed before it recovers it, only in
    /// runs with failure detection. `None`: [`DEFAULT_RECOVERY_TIMEOUT_NS`].
    pub recovery_timeout_ns: Option<u64>,
    /// Planted bug (tests only, not reachable from scenario files): a
    /// recovering process accepts the value of its own PrepareOK instead
    /// of applying the §7.2 rule, so the verdict's power to catch an
    /// unsafe recovery can be tested.
    #[serde(skip)]
    pub plant_recovery_own_value: bool,
}

/// Default §7.1 `recovery_timeout`, as Atlas's (`max(1000 ms, 4·RTT_max)`
/// for the GCP matrices).
pub const DEFAULT_RECOVERY_TIMEOUT_NS: u64 = 1_000 * NS_PER_MS;

/// Extra wait per rank: the process `k` places after an instance's leader
/// (in id order, wrapping) waits `k` of these more, so one process
/// recovers an instance at a time (about two of the largest RTTs).
pub const RECOVERY_RANK_STEP_NS: u64 = 600 * NS_PER_MS;

/// With failure detection, a process not heard from for this long is
/// suspected: a leader whose fast quorum holds one recovers its new
/// instance at once rather than after the timeout.
pub const SUSPECT_AFTER_NS: u64 = 500 * NS_PER_MS;

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
    /// §7.1: the sender recovers `dot` at `ballot`. Carries the command
    /// when the sender has it, so that processes that join learn it.
    Prepare {
        /// The instance.
        dot: Dot,
        /// The recovery ballot.
        ballot: Ballot,
        /// The command, or the no-op stand-in if the sender lacks it.
        cmd: Arc<Command>,
    },
    /// §7.1 reply: the instance as this process has it.
    PrepareOk {
        /// The instance.
        dot: Dot,
        /// The ballot joined.
        ballot: Ballot,
        /// Its status here.
        status: ReplyStatus,
        /// The command (the no-op stand-in if unknown or a no-op).
        cmd: Arc<Command>,
        /// Its sequence number here.
        seq: u64,
        /// Its dependencies here.
        deps: Arc<[Dot]>,
        /// The ballot of these attributes.
        abal: Ballot,
    },
    /// §7.2 d: would the receiver pre-accept these attributes?
    TryPreAccept {
        /// The instance.
        dot: Dot,
        /// The recovery ballot.
        ballot: Ballot,
        /// The command.
        cmd: Arc<Command>,
        /// The sequence number tried.
        seq: u64,
        /// The dependencies tried.
        deps: Arc<[Dot]>,
    },
    /// §7.2 d reply.
    TryPreAcceptOk {
        /// The instance.
        dot: Dot,
        /// The recovery ballot.
        ballot: Ballot,
        /// What the receiver found.
        outcome: TryOutcome,
    },
    /// The sender knows of `dot` (a committed command depends on it) but
    /// not its command: a process that committed it answers with Commit.
    CommitRequest {
        /// The instance.
        dot: Dot,
    },
    /// Periodic (§8): how far the sender has committed and executed.
    GarbageCollection {
        /// Per origin (by index), the sender committed every dot up to it.
        committed: Vec<u64>,
        /// Per origin (by index), the sender executed every dot up to it.
        executed: Vec<u64>,
    },
}

/// A TryPreAccept's answer (TLA+ `ReplyTryPreaccept`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TryOutcome {
    /// Pre-accepted: no conflicting instance here is unordered with it.
    Ok,
    /// A conflicting instance here is neither a dependency of the value
    /// tried nor depends on the instance; it has this status.
    Conflict(ReplyStatus),
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
                Message::Prepare { cmd, .. } => DOT_BYTES + 8 + cmd.size_bytes(),
                Message::PrepareOk { cmd, deps, .. } | Message::TryPreAccept { cmd, deps, .. } => {
                    DOT_BYTES + 8 + 1 + 8 + 8 + cmd.size_bytes() + dots_bytes(deps)
                }
                Message::TryPreAcceptOk { .. } => DOT_BYTES + 8 + 1,
                Message::CommitRequest { .. } => DOT_BYTES,
                Message::GarbageCollection { committed, executed } => 8 * (committed.len() + executed.len()) as u64,
            }
    }
}

/// EPaxos timers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Timer {
    /// Time to send this process's committed and executed frontiers (§8).
    GarbageCollection,
    /// Failure detection: time to check on an instance not committed yet
    /// (§7.1).
    Watch(Dot),
}

/// Where an instance is (epaxos.md §4; NONE is "not in the map" or
/// `NotSeen`, EXECUTED is the executor's business).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Status {
    /// Known of (a Prepare joined, or a committed command depends on it)
    /// but never pre-accepted, accepted or committed here (failure
    /// detection only).
    NotSeen,
    PreAccepted,
    Accepted,
    Committed,
}

/// One instance (dot) at one process.
#[derive(Debug)]
struct Instance {
    status: Status,
    /// The command (the no-op stand-in while unknown). Kept when a no-op
    /// is accepted or committed instead: it is what the per-key index
    /// registered.
    cmd: Arc<Command>,
    /// The accepted or committed value is a no-op (recovery only).
    noop: bool,
    /// Registered in `KeyDeps` here (pre-accepted here).
    registered: bool,
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
    /// Failure detection (runs with faults only).
    watch: Option<Box<Watch>>,
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

    /// Every value held, with its dot, by origin then seq.
    fn iter(&self) -> impl Iterator<Item = (Dot, &T)> {
        self.0.iter().enumerate().flat_map(|(index, log)| {
            log.entries.iter().enumerate().filter_map(move |(offset, entry)| {
                let dot = Dot { origin: ProcessId::from_index(index), seq: log.base + offset as u64 };
                entry.as_ref().map(|value| (dot, value))
            })
        })
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
    /// Every process, this one included (recovery's targets).
    processes: Vec<ProcessId>,
    /// Every process, closest first (this one first).
    by_distance: Vec<ProcessId>,
    /// §7 recovery's timeout, if failure detection is on (runs with faults).
    recovery_timeout_ns: Option<u64>,
    /// With failure detection, when this process last heard from each
    /// process (index `id - 1`); empty without.
    last_heard: Vec<Time>,
    /// The stand-in for an unknown command and for a no-op: no operations.
    noop_cmd: Arc<Command>,
    /// With failure detection, per key: `(by, displaced)`, a command
    /// `displaced` that the registration of `by` replaced as the latest in
    /// [`KeyDeps`] here, while `by` may still commit without depending on
    /// it (see `failure.rs`, `register`). Every later command on the key
    /// depends on `displaced` directly.
    chain_guards: BTreeMap<Key, Vec<(Dot, Dot)>>,
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
    /// interfering instances known here, and reply. At a ballot above the
    /// initial one this is a recovery's phase 1 (§7.2 e), which may find
    /// the instance here already.
    #[allow(clippy::too_many_arguments)]
    fn handle_pre_accept(
        &mut self,
        from: ProcessId,
        dot: Dot,
        ballot: Ballot,
        cmd: Arc<Command>,
        seq: u64,
        deps: Arc<[Dot]>,
        now: Time,
        out: &mut Outbox<Self>,
    ) {
        if !self.instances.in_range(dot) {
            return; // collected (or bogus)
        }
        if let Some(instance) = self.instances.get_mut(dot) {
            // Only with failure detection can an instance be here before
            // its first PreAccept is handled (NotSeen), or a PreAccept come
            // at a higher ballot. Otherwise: a duplicate, or the instance
            // is past PREACCEPTED here (a Commit overtook the PreAccept).
            if self.recovery_timeout_ns.is_none() {
                return;
            }
            if instance.status == Status::Committed {
                if from != self.id {
                    out.send(from, self.commit_of(dot));
                }
                return;
            }
            let fresh = instance.status == Status::NotSeen && ballot >= instance.bal;
            let higher = ballot > instance.bal || (ballot == instance.bal && instance.abal != ballot);
            if !(fresh || higher) || cmd.ops.is_empty() {
                return; // stale or duplicate
            }
            self.pre_accept_again(from, dot, ballot, cmd, seq, deps, now, out);
            return;
        }
        let seq = self.index_new(&cmd, seq);
        let deps = self.register(dot, &cmd, &deps);
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
            noop: false,
            registered: true,
            seq,
            deps: deps.clone(),
            bal: ballot,
            abal: ballot,
            coordinator: None,
            watch: None,
        };
        let stored = self.instances.insert(dot, instance);
        debug_assert!(stored, "checked above");
        if self.recovery_timeout_ns.is_some() {
            self.watch(dot, now, out);
            self.postpone(dot, from, ballot, now);
        }
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
        if self.recovery_timeout_ns.is_some() && ballot != Ballot::from(dot.origin.0) {
            // A reply to a recovery's phase 1 (§7.2 e).
            self.recovery_pre_accept_ok(from, dot, ballot, seq, &deps, out);
            return;
        }
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
        now: Time,
        out: &mut Outbox<Self>,
    ) {
        if !self.instances.in_range(dot) {
            return; // collected (or bogus)
        }
        let noop = cmd.ops.is_empty();
        match self.instances.get_mut(dot) {
            Some(instance) => {
                if instance.status == Status::Committed || ballot < instance.bal {
                    // Decided already, or a stale ballot; with failure
                    // detection a recoverer learns the decision.
                    if instance.status == Status::Committed && self.recovery_timeout_ns.is_some() && from != self.id {
                        out.send(from, self.commit_of(dot));
                    }
                    return;
                }
                let learned = instance.cmd.ops.is_empty() && !noop;
                instance.status = Status::Accepted;
                instance.bal = ballot;
                instance.abal = ballot;
                instance.noop = noop;
                let raised = seq > instance.seq;
                instance.seq = seq;
                instance.deps = deps;
                if learned {
                    instance.cmd = cmd.clone();
                    self.index(&cmd, seq);
                } else if raised && !noop {
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
                let instance = Instance {
                    status: Status::Accepted,
                    cmd,
                    noop,
                    registered: false,
                    seq,
                    deps,
                    bal: ballot,
                    abal: ballot,
                    coordinator: None,
                    watch: None,
                };
                let stored = self.instances.insert(dot, instance);
                debug_assert!(stored, "checked above");
            }
        }
        if self.recovery_timeout_ns.is_some() {
            self.watch(dot, now, out);
            self.postpone(dot, from, ballot, now);
        }
        out.send(from, Message::AcceptOk { dot, ballot });
    }

    /// §5 step 5: commit after F acks (F + 1 with the leader).
    fn handle_accept_ok(&mut self, from: ProcessId, dot: Dot, ballot: Ballot, now: Time, out: &mut Outbox<Self>) {
        if self.recovery_timeout_ns.is_some() && ballot != Ballot::from(dot.origin.0) {
            self.recovery_accept_ok(from, dot, ballot, now, out); // a recovery's Accept round
            return;
        }
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
        self.handle_commit(dot, cmd, seq, deps, now, out);
    }

    /// §5 step 6: record the attributes and hand the command to the
    /// executor. The Commit carries the command, so a Commit that arrives
    /// before (or instead of) the PreAccept needs no buffering. A command
    /// without operations is a no-op (recovery, §7.2 f).
    fn handle_commit(
        &mut self,
        dot: Dot,
        cmd: Arc<Command>,
        seq: u64,
        deps: Arc<[Dot]>,
        now: Time,
        out: &mut Outbox<Self>,
    ) {
        if !self.instances.in_range(dot) {
            return; // committed and collected long ago (or bogus)
        }
        let noop = cmd.ops.is_empty();
        let mut recovered = false;
        match self.instances.get_mut(dot) {
            Some(instance) => {
                if instance.status == Status::Committed {
                    return; // a duplicate
                }
                let learned = instance.cmd.ops.is_empty() && !noop;
                instance.status = Status::Committed;
                instance.noop = noop;
                let raised = seq > instance.seq;
                instance.seq = seq;
                instance.deps = deps.clone();
                instance.coordinator = None;
                recovered = instance.watch.take().is_some_and(|watch| watch.ballot > 0);
                if learned {
                    instance.cmd = cmd.clone();
                    self.index(&cmd, seq);
                } else if raised && !noop {
                    let cmd = instance.cmd.clone();
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
                    noop,
                    registered: false,
                    seq,
                    deps: deps.clone(),
                    bal: 0,
                    abal: 0,
                    coordinator: None,
                    watch: None,
                };
                let stored = self.instances.insert(dot, instance);
                debug_assert!(stored, "checked above");
            }
        }
        if recovered {
            out.recovery_finished();
        }
        if !self.chain_guards.is_empty() {
            self.release_guards_by(dot, &cmd, &deps);
        }
        self.committed_gc.committed(dot);
        if self.recovery_timeout_ns.is_some() {
            // This process cannot execute the command before its
            // dependencies: it must learn each one.
            self.watch_deps(&deps, now, out);
        }
        // A command never depends on itself (§9); the index guarantees it,
        // a message could still say otherwise.
        let deps: Vec<Dot> = deps.iter().copied().filter(|&dep| dep != dot).collect();
        out.execute(Committed { dot, cmd: (!noop).then_some(cmd), deps, order: seq });
    }

    /// The Commit message of `dot`, committed here.
    fn commit_of(&self, dot: Dot) -> Message {
        let instance = self.instances.get(dot).expect("committed here");
        debug_assert_eq!(instance.status, Status::Committed);
        let cmd = if instance.noop { self.noop_cmd.clone() } else { instance.cmd.clone() };
        Message::Commit { dot, cmd, seq: instance.seq, deps: instance.deps.clone() }
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
            if !self.chain_guards.is_empty() {
                self.release_guards_of(dot, &cmd);
            }
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
        let failure_detection = setup.config.failure_detection;
        let mut options = options.clone();
        // The authors' TLA+ spec requires known-committed dependencies for
        // a fast path on the optimized fast quorum; its recovery (§7.2 d)
        // relies on it. Only with failure detection: failure-free runs
        // keep the spec's default.
        options.fast_requires_committed_deps |= failure_detection;
        let noop_cmd = Arc::new(Command {
            id: CommandId { client: sim_core::ClientId(0), seq: 0 },
            ops: Default::default(),
            payload_bytes: 0,
        });
        let epaxos = EPaxos {
            id: setup.id,
            n,
            recovery_timeout_ns: failure_detection
                .then(|| options.recovery_timeout_ns.unwrap_or(DEFAULT_RECOVERY_TIMEOUT_NS)),
            options,
            processes: setup.processes.clone(),
            by_distance: setup.by_distance.clone(),
            last_heard: if failure_detection { vec![Time::ZERO; n] } else { Vec::new() },
            noop_cmd,
            chain_guards: BTreeMap::new(),
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
        let deps = self.register(dot, &cmd, &[]);
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
            noop: false,
            registered: true,
            seq,
            deps: deps.clone(),
            bal: ballot,
            abal: ballot,
            coordinator: Some(Box::new(coordinator)),
            watch: None,
        };
        let stored = self.instances.insert(dot, instance);
        debug_assert!(stored, "a fresh dot");
        if self.recovery_timeout_ns.is_some() {
            // A fast-quorum member not heard from lately: the fast path
            // would wait for the recovery timeout, so recover at once (the
            // PreAccepts still go out).
            let stalled = self.suspects_some(now);
            self.watch(dot, now, out);
            if stalled {
                self.recover_now(dot, now, out);
            }
        }
        debug_assert!(!self.fast_quorum_others.is_empty(), "n >= 3 gives a fast quorum of at least 2");
        out.send_to_each(&self.fast_quorum_others, Message::PreAccept { dot, ballot, cmd, seq, deps });
    }

    fn handle(&mut self, from: ProcessId, msg: Message, now: Time, out: &mut Outbox<Self>) {
        // Failure detection: every message (the periodic §8 one at least)
        // says its sender is alive; empty without failure detection.
        if let Some(heard) = from.0.checked_sub(1).and_then(|index| self.last_heard.get_mut(index as usize)) {
            *heard = now;
        }
        match msg {
            Message::PreAccept { dot, ballot, cmd, seq, deps } => {
                self.handle_pre_accept(from, dot, ballot, cmd, seq, deps, now, out)
            }
            Message::PreAcceptOk { dot, ballot, seq, deps, committed_deps } => {
                self.handle_pre_accept_ok(from, dot, ballot, seq, deps, &committed_deps, now, out)
            }
            Message::Accept { dot, ballot, cmd, seq, deps } => {
                self.handle_accept(from, dot, ballot, cmd, seq, deps, now, out)
            }
            Message::AcceptOk { dot, ballot } => self.handle_accept_ok(from, dot, ballot, now, out),
            Message::Commit { dot, cmd, seq, deps } => self.handle_commit(dot, cmd, seq, deps, now, out),
            Message::Prepare { dot, ballot, cmd } => self.handle_prepare(from, dot, ballot, cmd, now, out),
            Message::PrepareOk { dot, ballot, status, cmd, seq, deps, abal } => {
                let value = recovery::Attributes { cmd, seq, deps };
                let reply = recovery::PrepareReply { from, status, value, abal };
                self.handle_prepare_ok(dot, ballot, reply, now, out)
            }
            Message::TryPreAccept { dot, ballot, cmd, seq, deps } => {
                self.handle_try_pre_accept(from, dot, ballot, recovery::Attributes { cmd, seq, deps }, now, out)
            }
            Message::TryPreAcceptOk { dot, ballot, outcome } => {
                self.handle_try_pre_accept_ok(from, dot, ballot, outcome, now, out)
            }
            Message::CommitRequest { dot } => self.handle_commit_request(from, dot, out),
            Message::GarbageCollection { committed, executed } => {
                self.handle_garbage_collection(from, &committed, &executed)
            }
        }
    }

    fn handle_timer(&mut self, timer: Timer, now: Time, out: &mut Outbox<Self>) {
        match timer {
            Timer::Watch(dot) => self.handle_watch(dot, now, out),
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
