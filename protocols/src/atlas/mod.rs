//! Atlas: leaderless SMR with a flexible fast path (atlas.md), and its
//! Janus* configuration.
//!
//! Every command is committed with a set of dependencies: the conflicting
//! commands it must execute after (or together with, in one strongly
//! connected component). The coordinator sends the command to everyone;
//! the members of its fast quorum (its `floor(n/2) + f` closest) each add
//! the latest conflicting commands they know of to the coordinator's own
//! dependencies. Unlike EPaxos the replies need not be identical: the
//! union commits on the fast path if every dependency in it was reported by
//! at least `T = |quorum| - floor(n/2)` members (`f` normally), otherwise
//! after one single-decree Flexible Paxos round with the coordinator's
//! `f + 1` closest. The dependency-graph executor runs commands in
//! dependency order.
//!
//! This module covers one shard: the commit protocol (§5), its execution
//! (§6, `shared::graph_executor`), both options of §7 and garbage
//! collection (§10, plus the §3 index: see [`Atlas`]), and recovery (§9,
//! in `failure.rs`, only with failure detection: each dot's acceptor
//! state is a `Synod<Value>`, ballot 0 holding the dependencies this
//! process computed). Partial replication (§8) comes with a later issue.
//! Garbage collection waits for every process, so after a crash it stops
//! and per-dot state grows for the rest of the run.
//!
//! **Janus\*** (§8) is this protocol in a configuration, not a second
//! implementation: Atlas with the read/write distinction (reads do not
//! depend on reads, §3, always on here) over partial replication.
//! `ProtocolName::Janus` runs this same type with its own [`Options`];
//! until the engine has shards it behaves exactly like Atlas.

mod failure;
mod message;
pub mod recovery;
#[cfg(test)]
mod tests;

pub use message::{Deps, Message, ProcessSet, Timer, Value};

use crate::shared::dot::Dot;
use crate::shared::gc::GcTracker;
use crate::shared::graph_executor::{Committed, GraphExecutor};
use crate::shared::key_deps::KeyDeps;
use crate::shared::quorum;
use crate::shared::slot_log::SlotLog;
use crate::shared::synod::{self, Ballot, Synod};
use failure::{patience_of, postpone, watch};
use sim_core::protocol::{Outbox, ProcessSetup, Protocol};
use sim_core::time::NS_PER_MS;
use sim_core::{Command, Key, ProcessId, Time};
use smallvec::SmallVec;
use std::sync::Arc;

/// Atlas's options (atlas.md §7), the same for Atlas and Janus*.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Options {
    /// §7.2 non-fault-tolerant reads: a single-key read-only command uses
    /// the closest majority as its fast quorum (`T = 1`, always fast), and
    /// writes do not depend on reads.
    pub nfr: bool,
    /// §7.1 dependency pruning, UNSAFE in general (its safety conditions
    /// are not in any source we have): at the end of the collect phase,
    /// commit on the fast path only the dependencies reported at least `T`
    /// times, dropping the others.
    pub prune: bool,
    /// §9.1 `recovery_timeout`: how long a process holds a dot it knows
    /// of but has not seen committed before it recovers it (or asks for
    /// its payload), only in runs with failure detection. `None`: the
    /// default [`DEFAULT_RECOVERY_TIMEOUT_NS`].
    pub recovery_timeout_ns: Option<u64>,
    /// Planted bug (tests only, not reachable from scenario files): a
    /// recovering process proposes the value of the first ack it counts
    /// instead of applying the §9.3 rule, so the verdict's power to
    /// catch an unsafe recovery can be tested.
    #[serde(skip)]
    pub plant_recovery_first_ack: bool,
}

/// Default §9.1 `recovery_timeout`: `max(1000 ms, 4·RTT_max)` for the GCP
/// matrices (largest RTT below 250 ms); protocols do not see delays, so a
/// fixed value, as FPaxos's suspicion timeout.
pub const DEFAULT_RECOVERY_TIMEOUT_NS: u64 = 1_000 * NS_PER_MS;

/// Extra wait per rank: the process `k` places after a dot's origin (in id
/// order, wrapping) waits `k` of these more, so one process recovers a dot
/// at a time rather than all of them at once with competing ballots
/// (about two of the largest RTTs: one recovery's MRec and MConsensus
/// rounds).
pub const RECOVERY_RANK_STEP_NS: u64 = 600 * NS_PER_MS;

/// With failure detection, a process not heard from for this long is left
/// out of the quorums a coordinator picks (the periodic §10 message comes
/// every few tens of milliseconds).
pub const SUSPECT_AFTER_NS: u64 = 500 * NS_PER_MS;

/// Where a dot is in the commit protocol at this process (atlas.md §4;
/// `RECOVER` arrives with recovery).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Status {
    /// No MCollect yet (an MCommit or MConsensus may have come first).
    Start,
    /// The payload is known, but this process is not in the fast quorum.
    Payload,
    /// This process computed (and reported) its dependencies.
    Collect,
    /// The payload is known and this process joined a recovery ballot
    /// (§9.2 `RECOVER`): it no longer answers an MCollect, and as the
    /// coordinator it ignores MCollectAcks.
    Recover,
    /// Committed; only the value is kept, until garbage collection.
    Commit,
}

/// Failure detection's state for one dot at one process (runs with
/// failure detection only; boxed so a failure-free instance pays one
/// pointer).
#[derive(Debug)]
struct Watch {
    /// When this process acts next if the dot is still not committed
    /// (recover it, or ask for its payload); postponed when another
    /// process's recovery is seen.
    next_at: Time,
    /// The ballot of this process's latest recovery of the dot (0: none).
    ballot: Ballot,
    /// The MRecAcks of `ballot` counted so far.
    acks: Vec<recovery::RecoveryAck>,
    /// The value this process proposed in its latest recovery round that
    /// reached `n - f` acks, and that round's ballot.
    proposed: Option<(Ballot, Value)>,
}

/// The coordinator's bookkeeping for a dot it submitted.
#[derive(Debug)]
struct Coordinator {
    /// When the client's command arrived, for the commit latency.
    submitted_at: Time,
    /// Fast-quorum members whose MCollectAck was counted.
    replied: ProcessSet,
    /// `count[d]`: how many members reported `d` (a short list: a
    /// command's dependencies are a few dots per key).
    counts: Vec<(Dot, u32)>,
    /// The value proposed on the slow path, committed once `f + 1`
    /// acceptors accepted it.
    proposed: Option<Value>,
}

/// One dot's state at one process.
#[derive(Debug)]
struct Instance {
    status: Status,
    /// Dropped at commit: the executor holds its own reference.
    cmd: Option<Arc<Command>>,
    quorum: ProcessSet,
    /// Acceptor (and, at the coordinator on the slow path, proposer);
    /// created when first needed (its initial value computed, or a
    /// ballot to join), not for every dot a message names.
    synod: Option<Synod<Value>>,
    /// In `Start`: an MCommit that arrived before the MCollect. In
    /// `Commit`: the committed value (answers late MConsensus).
    decided: Option<Value>,
    /// Failure detection (runs with faults only).
    watch: Option<Box<Watch>>,
}

impl Instance {
    /// The acceptor, holding the default value if it had none.
    fn synod(&mut self) -> &mut Synod<Value> {
        self.synod.get_or_insert_with(|| Synod::new(Value::command(Deps::default())))
    }

    /// Sets the acceptor's ballot-0 value (`Synod::set_initial`).
    fn set_initial(&mut self, value: Value) {
        match &mut self.synod {
            Some(synod) => synod.set_initial(value),
            None => self.synod = Some(Synod::new(value)),
        }
    }

    fn new() -> Instance {
        Instance {
            status: Status::Start,
            cmd: None,
            quorum: ProcessSet::default(),
            synod: None,
            decided: None,
            watch: None,
        }
    }
}

/// One Atlas (or Janus*) process.
///
/// Garbage collection works at two levels, as in EPaxos (epaxos.md §8).
/// A dot's state is freed once every process has committed it (atlas.md
/// §10: the committed frontiers of the periodic exchange). The §3 index
/// ([`KeyDeps`]) must not grow with every key ever touched, but a command
/// may only leave it once it has *executed* at every process: a process
/// may have committed it without being able to execute it yet (a
/// dependency's commit is late there), and a later command on its keys
/// that no longer depended on it could then run before it there and after
/// it everywhere else. So the executor notifies each dot it executes
/// (`handle_executed`), and the periodic message carries the executed
/// frontier too (not in atlas.md §10, which does not collect the index;
/// fantoch's Atlas does not either).
#[derive(Debug)]
pub struct Atlas {
    id: ProcessId,
    n: usize,
    f: usize,
    options: Options,
    processes: Vec<ProcessId>,
    /// Every process but this one (MCollect and GC targets).
    others: Vec<ProcessId>,
    /// The closest `floor(n/2) + f` (§2 FQ).
    fast_quorum: ProcessSet,
    /// The closest majority: NFR reads' fast quorum (§7.2).
    read_quorum: ProcessSet,
    /// The closest `f + 1` (§2 SQ), in distance order.
    slow_quorum: Vec<ProcessId>,
    /// Last seq this process gave a dot it coordinates.
    last_seq: u64,
    /// §3 index of the latest command per key.
    key_deps: KeyDeps,
    /// Buffer of `register` (what it holds between calls means nothing).
    scratch: Vec<Dot>,
    /// The keys of the commands registered in `key_deps`, per origin
    /// (index `id - 1`) by seq, until they have executed at every process:
    /// then they are forgotten there. (The keys rather than the command:
    /// no shared reference count to touch, and the command is freed once
    /// executed everywhere.)
    indexed: Vec<SlotLog<Keys>>,
    /// Per-dot state until garbage collection, per origin (index
    /// `id - 1`) by seq: dots of one origin arrive nearly in order and are
    /// collected in order, so a log beats a hash map. A log's floor is its
    /// first seq not collected; messages about dots below it are stale.
    instances: Vec<SlotLog<Instance>>,
    /// The coordinator's bookkeeping of the dots it submitted, by seq,
    /// until they commit here (apart from `instances`: only a few are in
    /// flight, and every other dot's state stays small).
    coordinating: SlotLog<Coordinator>,
    /// Fed with every dot committed here.
    gc: GcTracker,
    /// Fed with every dot the co-located executor executes.
    executed_gc: GcTracker,
    gc_interval_ns: u64,
    /// §9 recovery's timeout, if failure detection is on (runs with faults).
    recovery_timeout_ns: Option<u64>,
    /// Every process, closest first (this one first).
    by_distance: Vec<ProcessId>,
    /// With failure detection, when this process last heard from each
    /// process (index `id - 1`); empty without.
    last_heard: Vec<Time>,
}

/// The most processes a shard may have (process sets and Synod acks are
/// 64-bit sets).
pub const MAX_PROCESSES: usize = synod::MAX_PROCESSES;

/// Fast-path threshold (§2): `T = |quorum| - floor(n/2)`; `f` for the fast
/// quorum `floor(n/2) + f`, 1 for a majority.
fn threshold(n: usize, quorum: ProcessSet) -> usize {
    quorum.len().saturating_sub(n / 2)
}

/// A registered command's keys (most commands have one).
type Keys = SmallVec<[Key; 1]>;

/// Most dots of one origin above its collected floor that a process keeps
/// state for: a message about a dot further ahead cannot come from a
/// correct process of a run that fits in memory, and is ignored rather
/// than allocating its way there.
const MAX_DOTS_AHEAD: u64 = 1 << 24;

/// `dots` as a dependency set; the empty set shares one static allocation
/// (most commands have no dependencies without contention).
fn deps_of(dots: Vec<Dot>) -> Deps {
    if dots.is_empty() { Deps::default() } else { dots.into() }
}

/// True for a command NFR treats as a read (§7.2): one key, read-only.
fn is_single_key_read(cmd: &Command) -> bool {
    cmd.ops.len() == 1 && cmd.is_read_only()
}

impl Atlas {
    /// Checks the rules Atlas puts on a configuration: `1 <= f <= n/2`
    /// (specs README §1.1) and at most [`MAX_PROCESSES`] processes.
    pub fn check(n: usize, f: usize) -> Result<(), String> {
        if n > MAX_PROCESSES {
            return Err(format!("Atlas supports at most {MAX_PROCESSES} processes, got n = {n}"));
        }
        quorum::check_f(n, f)
    }

    /// Dots whose state this process still holds (not yet garbage
    /// collected).
    pub fn instances(&self) -> usize {
        self.instances.iter().map(SlotLog::len).sum()
    }

    /// The log of `dot`'s origin, if it is a process of the shard.
    fn log(instances: &mut [SlotLog<Instance>], dot: Dot) -> Option<&mut SlotLog<Instance>> {
        let index = usize::try_from(dot.origin.0.checked_sub(1)?).ok()?;
        instances.get_mut(index)
    }

    /// The state of `dot`, if this process holds it.
    fn existing(instances: &mut [SlotLog<Instance>], dot: Dot) -> Option<&mut Instance> {
        Atlas::log(instances, dot)?.get_mut(dot.seq)
    }

    /// The state of `dot`, created if new; `None` if the dot was garbage
    /// collected (stale message) or is not a dot of this shard.
    fn instance(instances: &mut [SlotLog<Instance>], dot: Dot) -> Option<&mut Instance> {
        let log = Atlas::log(instances, dot)?;
        if dot.seq < log.floor() || dot.seq - log.floor() >= MAX_DOTS_AHEAD {
            return None;
        }
        log.get_or_insert_with(dot.seq, Instance::new)
    }

    /// §3 `conflicts` (registers `cmd` as `dot` in the index), remembering
    /// the command so it can leave the index once executed everywhere.
    /// Computed in `scratch`; a result equal to `past` (the coordinator's
    /// dependencies, most often) shares its allocation. `unhiding` for a
    /// registration whose result the dot may commit without (joining a
    /// recovery, or after the dot was decided): see
    /// [`KeyDeps::conflicts_unhiding`].
    fn register(
        key_deps: &mut KeyDeps,
        indexed: &mut [SlotLog<Keys>],
        scratch: &mut Vec<Dot>,
        dot: Dot,
        cmd: &Arc<Command>,
        past: &Deps,
        unhiding: bool,
    ) -> Deps {
        if unhiding {
            key_deps.conflicts_unhiding(dot, cmd, past, scratch);
        } else {
            key_deps.conflicts_into(dot, cmd, past, scratch);
        }
        let deps = if scratch[..] == past[..] {
            past.clone()
        } else if scratch.is_empty() {
            Deps::default()
        } else {
            Deps::from(&scratch[..])
        };
        if let Some(log) = indexed.get_mut(dot.origin.index()) {
            // Registered at most once, and never after executing
            // everywhere (which needs the MCollect processed here first).
            let keys = match cmd.ops.as_slice() {
                [(key, _)] => Keys::from_buf([*key]),
                ops => ops.iter().map(|&(key, _)| key).collect(),
            };
            let fresh = log.insert(dot.seq, keys);
            debug_assert!(matches!(fresh, Ok(None)), "{dot} registered twice or after its collection");
        }
        deps
    }

    /// §5 step 1.
    fn handle_submit(&mut self, cmd: Arc<Command>, now: Time, out: &mut Outbox<Self>) {
        self.last_seq += 1;
        let dot = Dot { origin: self.id, seq: self.last_seq };
        let deps = Atlas::register(
            &mut self.key_deps,
            &mut self.indexed,
            &mut self.scratch,
            dot,
            &cmd,
            &Deps::default(),
            false,
        );
        // CPU model: the dependency scan's cost follows its result.
        out.work(deps.len());
        let quorum = if self.options.nfr && is_single_key_read(&cmd) { self.read_quorum } else { self.fast_quorum };
        // The fast quorum stays fixed even with failure detection: choosing
        // one of processes heard from lately (leaving a crashed one out)
        // broke agreement in swarms (atlas f=1 10% seed 145, f=2 100% seed
        // 3): the §9.3 b rule counts only `Q ∩ R`, and its argument was
        // made for each coordinator's fixed quorum. A stalled quorum is
        // recovered at once instead (below).
        // The coordinator's own MCollect (§5 step 2b, `D_p = D`) is handled
        // here rather than sent to itself: the engine would deliver it
        // before anything else anyway, and this way no ack can ever find
        // the coordinator still in `Start`.
        let mut instance = Instance::new();
        instance.status = Status::Collect;
        instance.cmd = Some(cmd.clone());
        instance.quorum = quorum;
        instance.set_initial(Value::command(deps.clone()));
        // A fast-quorum member not heard from lately: the fast path would
        // wait for the recovery timeout, so recover the dot right away (the MCollect
        // still goes out: every process learns the command) rather than
        // after the timeout.
        let stalled = self.suspects_some(quorum, now);
        watch(&mut instance, self.patience(dot).map(|patience| if stalled { 0 } else { patience }), dot, now, out);
        let fresh = self.instances[self.id.index()].insert(dot.seq, instance);
        debug_assert!(matches!(fresh, Ok(None)), "dot {dot} assigned twice");
        let coordinator =
            Coordinator { submitted_at: now, replied: ProcessSet::default(), counts: Vec::new(), proposed: None };
        let fresh = self.coordinating.insert(dot.seq, coordinator);
        debug_assert!(matches!(fresh, Ok(None)), "dot {dot} assigned twice");
        out.send_to_each(&self.others, Message::MCollect { dot, cmd, deps: deps.clone(), quorum });
        self.handle_mcollectack(self.id, dot, deps, now, out);
    }

    /// §5 step 2, for `collect`, an MCollect.
    fn handle_mcollect(&mut self, from: ProcessId, collect: Message, now: Time, out: &mut Outbox<Self>) {
        let Message::MCollect { dot, cmd, deps: past, quorum } = collect else {
            return;
        };
        if from != dot.origin || from == self.id {
            return; // only the coordinator sends its MCollect, to the others
        }
        let patience = self.patience(dot);
        let Some(instance) = Atlas::instance(&mut self.instances, dot) else {
            return; // stale: committed everywhere and collected
        };
        watch(instance, patience, dot, now, out);
        if instance.status != Status::Start {
            return; // duplicate, or the payload came with a recovery first
        }
        instance.quorum = quorum;
        // Joined a recovery's consensus before the MCollect came (only
        // with failure detection): like §9.2 `RECOVER`, no reply, so the
        // coordinator cannot complete its fast path behind the recovery.
        let joined = instance.synod.as_ref().is_some_and(|synod| synod.ballot() > 0);
        if quorum.contains(self.id) && !joined {
            // §5 steps 2b-2c: the coordinator's deps are always included.
            // Already decided (only recovery does that): the value may
            // lack what is computed here.
            let decided = instance.decided.is_some();
            let deps =
                Atlas::register(&mut self.key_deps, &mut self.indexed, &mut self.scratch, dot, &cmd, &past, decided);
            out.work(deps.len() + past.len());
            instance.cmd = Some(cmd);
            if instance.decided.is_none() {
                instance.status = Status::Collect;
                instance.set_initial(Value::command(deps.clone()));
                out.send(dot.origin, Message::MCollectAck { dot, deps });
                return;
            }
            // Already decided without this member (only recovery can do
            // that): registered above, so later commands here still
            // depend on it, but no reply is needed.
        } else {
            instance.cmd = Some(cmd);
        }
        // §5 step 2a (a non-member does not register the command in the
        // §3 index), and any buffered MCommit.
        instance.status = if joined { Status::Recover } else { Status::Payload };
        if let Some(value) = instance.decided.take() {
            let coordinator = Atlas::coordinator_done(&mut self.coordinating, self.id, dot);
            let deps = self.recovery_timeout_ns.map(|_| value.deps.clone());
            Atlas::commit(
                instance,
                &mut self.gc,
                coordinator,
                dot,
                value,
                self.recovery_timeout_ns.is_some(),
                now,
                out,
            );
            self.watch_deps(deps, now, out);
        }
    }

    /// §5 step 3 (with §7.1 when `prune` is on).
    fn handle_mcollectack(&mut self, from: ProcessId, dot: Dot, deps: Deps, now: Time, out: &mut Outbox<Self>) {
        if dot.origin != self.id {
            return; // not the coordinator
        }
        let Some(coordinator) = self.coordinating.get_mut(dot.seq) else {
            return; // already committed, or never submitted
        };
        let Some(instance) = Atlas::existing(&mut self.instances, dot) else {
            return;
        };
        // `replied` only holds quorum members, so it is the quorum once
        // every member replied.
        if instance.status != Status::Collect
            || instance.synod.as_ref().is_some_and(|synod| synod.ballot() > 0)
            || !instance.quorum.contains(from)
            || coordinator.replied.contains(from)
            || coordinator.replied == instance.quorum
        {
            return; // stale, foreign or duplicate
        }
        coordinator.replied.insert(from);
        out.work(deps.len()); // merged into the coordinator's set
        for &dep in deps.iter() {
            match coordinator.counts.iter_mut().find(|(counted, _)| *counted == dep) {
                Some((_, count)) => *count += 1,
                None => coordinator.counts.push((dep, 1)),
            }
        }
        if coordinator.replied != instance.quorum {
            return;
        }
        let threshold = threshold(self.n, instance.quorum);
        let mut counts = std::mem::take(&mut coordinator.counts);
        counts.sort_unstable_by_key(|&(dep, _)| dep);
        let reported_enough = |&(_, count): &(Dot, u32)| count as usize >= threshold;
        // Fast iff every dep of the union was reported >= T times (an
        // empty union is fast).
        let fast = counts.iter().all(reported_enough);
        let union = deps_of(if self.options.prune {
            counts.iter().filter(|entry| reported_enough(entry)).map(|&(dep, _)| dep).collect()
        } else {
            counts.iter().map(|&(dep, _)| dep).collect()
        });
        let value = Value::command(union);
        if fast || self.options.prune {
            out.fast_path();
            out.send_to_each(&self.processes, Message::MCommit { dot, value });
        } else {
            // Ballot `c` (the coordinator's id) needs no prepare phase.
            let ballot = Ballot::from(self.id.0);
            instance.synod().propose(ballot);
            coordinator.proposed = Some(value.clone());
            out.slow_path();
            let live = failure::live_closest(&self.by_distance, &self.last_heard, self.slow_quorum.len(), now);
            out.send_to_each(live.as_deref().unwrap_or(&self.slow_quorum), Message::MConsensus { dot, ballot, value });
        }
    }

    /// §5 step 4.
    fn handle_mconsensus(
        &mut self,
        from: ProcessId,
        dot: Dot,
        ballot: Ballot,
        value: Value,
        now: Time,
        out: &mut Outbox<Self>,
    ) {
        let patience = self.patience(dot);
        let Some(instance) = Atlas::instance(&mut self.instances, dot) else {
            return;
        };
        watch(instance, patience, dot, now, out);
        if let Some(decided) = &instance.decided {
            // Committed here (or the commit is buffered): tell the proposer.
            out.send(from, Message::MCommit { dot, value: decided.clone() });
        } else if instance.synod().accept(ballot, value) {
            out.send(from, Message::MConsensusAck { dot, ballot });
            postpone(instance, patience, from == self.id, now);
        }
    }

    /// §5 step 5.
    fn handle_mconsensusack(&mut self, from: ProcessId, dot: Dot, ballot: Ballot, out: &mut Outbox<Self>) {
        let Some(instance) = Atlas::existing(&mut self.instances, dot) else {
            return;
        };
        if instance.status == Status::Commit
            || !instance.synod.as_mut().is_some_and(|synod| synod.accepted_by(from, ballot, self.f + 1))
        {
            return; // committed, stale, duplicate, or not enough acks yet
        }
        // Chosen: commit the value this process proposed at `ballot`, as
        // a recovery (§9.3) or as the coordinator's slow path (§5).
        // (The synod counts acks of its latest proposal only, so `ballot`
        // says which of the two it was.)
        let recovered = instance.watch.as_mut().and_then(|watch| match watch.proposed.take() {
            Some((at, value)) if at == ballot => Some(value),
            other => {
                watch.proposed = other;
                None
            }
        });
        let slow_path = dot.origin == self.id && ballot == Ballot::from(self.id.0);
        let coordinator = if slow_path { self.coordinating.get_mut(dot.seq) } else { None };
        if let Some(value) = recovered.or_else(|| coordinator.and_then(|coordinator| coordinator.proposed.take())) {
            out.send_to_each(&self.processes, Message::MCommit { dot, value });
        }
    }

    /// §5 step 6.
    fn handle_mcommit(&mut self, dot: Dot, value: Value, now: Time, out: &mut Outbox<Self>) {
        let Some(instance) = Atlas::instance(&mut self.instances, dot) else {
            return; // committed everywhere and collected
        };
        match instance.status {
            Status::Commit => {}
            Status::Start => {
                // Before the MCollect: keep it until the payload arrives
                // (with failure detection, asked for if it does not).
                instance.decided.get_or_insert(value);
                let patience = patience_of(self.recovery_timeout_ns, self.id, self.n, dot);
                watch(instance, patience, dot, now, out);
            }
            Status::Payload | Status::Collect | Status::Recover => {
                let coordinator = Atlas::coordinator_done(&mut self.coordinating, self.id, dot);
                let deps = self.recovery_timeout_ns.map(|_| value.deps.clone());
                Atlas::commit(
                    instance,
                    &mut self.gc,
                    coordinator,
                    dot,
                    value,
                    self.recovery_timeout_ns.is_some(),
                    now,
                    out,
                );
                self.watch_deps(deps, now, out);
            }
        }
    }

    /// The coordinator's bookkeeping of `dot`, if this process coordinates
    /// it, taken out for good (the dot commits here).
    fn coordinator_done(coordinating: &mut SlotLog<Coordinator>, me: ProcessId, dot: Dot) -> Option<Coordinator> {
        if dot.origin != me {
            return None;
        }
        let coordinator = coordinating.remove(dot.seq);
        // Dots commit once each and no later dot is below them: the holes
        // left at the front never fill again.
        coordinating.discard_leading_holes();
        coordinator
    }

    /// Commits `dot` with `value` here: hands it to the executor, records
    /// it for GC and, at the coordinator (`coordinator` is its
    /// bookkeeping), reports the metrics. With `keep_payload` (failure
    /// detection) the command stays, to answer MPayloadRequests.
    #[allow(clippy::too_many_arguments)] // one call's worth of disjoint borrows of `self`
    fn commit(
        instance: &mut Instance,
        gc: &mut GcTracker,
        coordinator: Option<Coordinator>,
        dot: Dot,
        value: Value,
        keep_payload: bool,
        now: Time,
        out: &mut Outbox<Self>,
    ) {
        debug_assert!(matches!(instance.status, Status::Payload | Status::Collect | Status::Recover));
        instance.status = Status::Commit;
        let cmd = if keep_payload { instance.cmd.clone() } else { instance.cmd.take() };
        if instance.watch.take().is_some_and(|watch| watch.ballot > 0) {
            out.recovery_finished();
        }
        debug_assert!(cmd.is_some(), "committing {dot} without its payload");
        let cmd = if value.is_noop { None } else { cmd };
        if let Some(coordinator) = coordinator {
            out.commit_latency(now.since(coordinator.submitted_at));
            out.dependencies(value.deps.len());
        }
        out.execute(Committed { dot, cmd, deps: value.deps.to_vec(), order: 0 });
        instance.decided = Some(value);
        gc.committed(dot);
    }

    /// §10: `from` committed every dot up to `committed[origin]` and
    /// executed every dot up to `executed[origin]`; dots every process
    /// committed are deleted here, and commands every process executed
    /// leave the §3 index.
    fn handle_garbage_collection(&mut self, from: ProcessId, committed: &[u64], executed: &[u64]) {
        if from.0 == 0 || from.index() >= self.n || committed.len() != self.n || executed.len() != self.n {
            return; // not a process of this shard
        }
        let instances = &mut self.instances;
        self.gc.report_ranges(from, committed, |origin, seqs| {
            // Stable dots come in order per origin: this pops the front.
            instances[origin.index()].discard_up_to(*seqs.end());
        });
        let (key_deps, indexed) = (&mut self.key_deps, &mut self.indexed);
        self.executed_gc.report_ranges(from, executed, |origin, seqs| {
            // In order per origin too; most dots of other origins were
            // never registered here (only fast-quorum members register).
            let log = &mut indexed[origin.index()];
            for (seq, keys) in log.iter_from(*seqs.start()).take_while(|&(seq, _)| seq <= *seqs.end()) {
                key_deps.forget_keys(Dot { origin, seq }, keys.iter().copied());
            }
            log.discard_up_to(*seqs.end());
        });
    }
}

impl Protocol for Atlas {
    type Message = Message;
    type Timer = Timer;
    type Executor = GraphExecutor;
    type Options = Options;

    fn new(setup: ProcessSetup, options: &Options) -> (Self, GraphExecutor) {
        let n = setup.n();
        let f = setup.config.f;
        debug_assert!(Atlas::check(n, f).is_ok());
        let atlas = Atlas {
            id: setup.id,
            n,
            f,
            options: *options,
            processes: setup.processes.clone(),
            others: setup.processes.iter().copied().filter(|&p| p != setup.id).collect(),
            fast_quorum: ProcessSet::from_ids(setup.closest(quorum::leaderless_fast(n, f))),
            read_quorum: ProcessSet::from_ids(setup.closest(quorum::majority(n))),
            slow_quorum: setup.closest(quorum::leaderless_slow(f)).to_vec(),
            last_seq: 0,
            key_deps: KeyDeps::new(options.nfr),
            scratch: Vec::new(),
            indexed: (0..n).map(|_| SlotLog::new()).collect(),
            instances: (0..n).map(|_| SlotLog::new()).collect(),
            coordinating: SlotLog::new(),
            gc: GcTracker::new(n),
            executed_gc: GcTracker::new(n),
            gc_interval_ns: setup.config.gc_interval_ns,
            recovery_timeout_ns: setup
                .config
                .failure_detection
                .then(|| options.recovery_timeout_ns.unwrap_or(DEFAULT_RECOVERY_TIMEOUT_NS)),
            by_distance: setup.by_distance.clone(),
            last_heard: if setup.config.failure_detection { vec![Time::ZERO; n] } else { Vec::new() },
        };
        (atlas, GraphExecutor::new())
    }

    fn start(&mut self, _now: Time, out: &mut Outbox<Self>) {
        out.set_timer(Timer::GarbageCollection, self.gc_interval_ns);
    }

    fn submit(&mut self, cmd: Arc<Command>, now: Time, out: &mut Outbox<Self>) {
        self.handle_submit(cmd, now, out);
    }

    fn handle(&mut self, from: ProcessId, msg: Message, now: Time, out: &mut Outbox<Self>) {
        // Failure detection: every message (the periodic §10 one at least)
        // says its sender is alive; empty without failure detection.
        if let Some(heard) = from.0.checked_sub(1).and_then(|index| self.last_heard.get_mut(index as usize)) {
            *heard = now;
        }
        match msg {
            collect @ Message::MCollect { .. } => self.handle_mcollect(from, collect, now, out),
            Message::MCollectAck { dot, deps } => self.handle_mcollectack(from, dot, deps, now, out),
            Message::MCommit { dot, value } => self.handle_mcommit(dot, value, now, out),
            Message::MConsensus { dot, ballot, value } => self.handle_mconsensus(from, dot, ballot, value, now, out),
            Message::MRec { dot, cmd, ballot } => self.handle_mrec(from, dot, cmd, ballot, now, out),
            Message::MRecAck { dot, value, quorum, abal, ballot } => {
                let ack = recovery::RecoveryAck { from, value, quorum, abal };
                self.handle_mrecack(dot, ack, ballot, out)
            }
            Message::MPayloadRequest { dot } => self.handle_mpayloadrequest(from, dot, out),
            Message::MPayload { dot, cmd, quorum, value } => self.handle_mpayload(dot, cmd, quorum, value, now, out),
            Message::MConsensusAck { dot, ballot } => self.handle_mconsensusack(from, dot, ballot, out),
            Message::MGarbageCollection { committed, executed } => {
                self.handle_garbage_collection(from, &committed, &executed)
            }
        }
    }

    fn handle_timer(&mut self, timer: Timer, now: Time, out: &mut Outbox<Self>) {
        match timer {
            Timer::Watch(dot) => self.handle_watch(dot, now, out),
            Timer::GarbageCollection => {
                // Shared by every copy of the message.
                let committed: Arc<[u64]> = self.gc.frontier().into();
                let executed: Arc<[u64]> = self.executed_gc.frontier().into();
                self.handle_garbage_collection(self.id, &committed, &executed);
                out.send_to_each(&self.others, Message::MGarbageCollection { committed, executed });
                out.set_timer(Timer::GarbageCollection, self.gc_interval_ns);
            }
        }
    }

    /// The executor executed `dot` here: it counts towards this process's
    /// executed frontier, sent at the next garbage collection.
    fn handle_executed(&mut self, dot: Dot, _now: Time, _out: &mut Outbox<Self>) {
        self.executed_gc.committed(dot);
    }
}
