//! Tempo: leaderless state-machine replication through timestamp stability.
//!
//! Every command gets a timestamp: the processes of its coordinator's fast
//! quorum each propose one from their per-key clocks and the maximum is
//! committed, in one round trip when at least `T` of them proposed it,
//! otherwise after a single-decree Paxos round. Proposing promises the
//! skipped timestamps; a command runs once its timestamp is *stable*: a
//! majority promised everything up to it, so no unknown command can still
//! take a lower one. Spec: `shared/specs/tempo.md`. This module implements
//! one shard (§5–§9, §12) and, only in runs with failure detection,
//! recovery (§11, `failure.rs` and `recovery.rs`: per-dot watches,
//! MRec/MRecAck at a ballot of one's own with the §11.3 rule, consensus
//! with `f + 1`, payload requests, and a repair of the promises an
//! executor misses); partial replication (§10) is not implemented.
//! Garbage collection waits for every process, so after a crash it stops.
//!
//! Non-fault-tolerant reads (§9, option `nfr`): a single-key read proposes
//! its key's clock without adding 1, so it can tie with a write's
//! timestamp. It is ordered after every write of the same timestamp (a
//! write that completed before the read began has a timestamp at most the
//! read's), and it is executed only at its coordinator: it promises
//! nothing of its own, so other processes may have run later writes before
//! they learn of it. Its promises still reach every executor.
//!
//! Where this differs from the spec's letter: the executor gets one
//! `AttachedVotes` per command (with every key's promises) rather than one
//! per key, because the state machine applies a command as a whole; with
//! tiny quorums the fast-path threshold is `f` (as in fantoch) since
//! `|quorum| - floor(n/2)` can be 0; the acceptor of a command is created
//! by its first consensus message, its ballot-0 value being the proposal
//! kept in the command's state; "skip fast ack" (§9) is not implemented.
//! Recovery's departures are listed in `failure.rs`: executors ask for
//! promises they miss (not in the spec), a process without a command asks
//! for it, fast quorums stay fixed, and with failure detection there are
//! no NFR reads (§9's majority quorum is outside §11.3's argument).

pub mod clocks;
pub mod executor;
mod failure;
mod instances;
mod key_map;
pub mod recovery;
#[cfg(test)]
mod tests;

use crate::shared::dot::Dot;
use crate::shared::gc::GcTracker;
use crate::shared::quorum;
use crate::shared::slot_log::SlotLog;
use crate::shared::synod::Ballot;
use clocks::{DetachedBuffer, KeyClocks, VoteRange, Votes};
use executor::{Stall, TableExecutor, TableInfo};
pub use failure::DEFAULT_RECOVERY_TIMEOUT_NS;
use failure::Failures;
use instances::{Instances, Status};
use recovery::Phase;
use sim_core::protocol::{MessageSize, Outbox, ProcessSetup, Protocol};
use sim_core::time::NS_PER_MS;
use sim_core::{Command, Key, ProcessId, Time};
use std::sync::Arc;

/// Most processes a Tempo shard may have (process sets are 64-bit masks).
pub const MAX_PROCESSES: usize = 64;

/// Tempo's options (tempo.md §2, §8, §9).
#[derive(Clone, Debug, PartialEq, Eq, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Options {
    /// Period of the detached-promise broadcast (`SendDetached`); 5 ms as
    /// in fantoch's simulations.
    pub promise_interval_ns: u64,
    /// Period of the optional `ClockBump` event (§8): every key's clock
    /// moves to the current time in microseconds, so idle keys become
    /// stable. Off by default.
    pub clock_bump_interval_ns: Option<u64>,
    /// Tiny quorums (§9): fast quorum `2f`, stability threshold `n - f`.
    pub tiny_quorums: bool,
    /// Non-fault-tolerant reads (§9): a single-key read uses the closest
    /// majority as its quorum (always fast) and proposes without `+1`.
    pub nfr: bool,
    /// The paper's promise variant (§5): only the proposed timestamp is
    /// attached to a command, the timestamps it skipped are detached.
    pub attach_only_top: bool,
    /// §11.1 `recovery_timeout`: how long a process holds a dot it knows
    /// of but has not seen committed before it recovers it (or asks for
    /// its payload), only in runs with failure detection. `None`: the
    /// default [`DEFAULT_RECOVERY_TIMEOUT_NS`].
    pub recovery_timeout_ns: Option<u64>,
    /// Planted bug (tests only, not reachable from scenario files): a
    /// recovering process proposes the timestamp of the first ack it
    /// counts instead of applying the §11.3 rule, so the verdict's power
    /// to catch an unsafe recovery can be tested.
    #[serde(skip)]
    pub plant_recovery_first_ack: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            promise_interval_ns: 5 * NS_PER_MS,
            clock_bump_interval_ns: None,
            tiny_quorums: false,
            nfr: false,
            attach_only_top: false,
            recovery_timeout_ns: None,
            plant_recovery_first_ack: false,
        }
    }
}

/// A set of processes of one shard, as a bit mask (bit `id - 1`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ProcessSet(u64);

impl ProcessSet {
    /// The set of `processes`.
    pub fn of(processes: &[ProcessId]) -> ProcessSet {
        let mut set = ProcessSet::default();
        for &process in processes {
            set.insert(process);
        }
        set
    }

    /// Adds `process`; false if it was there or is not a valid id.
    pub fn insert(&mut self, process: ProcessId) -> bool {
        let Some(bit) = Self::bit(process) else { return false };
        let fresh = self.0 & bit == 0;
        self.0 |= bit;
        fresh
    }

    /// True if `process` is in the set.
    pub fn contains(self, process: ProcessId) -> bool {
        Self::bit(process).is_some_and(|bit| self.0 & bit != 0)
    }

    /// Number of processes in the set.
    pub fn len(self) -> usize {
        self.0.count_ones() as usize
    }

    /// True if the set is empty.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    fn bit(process: ProcessId) -> Option<u64> {
        let index = process.0.checked_sub(1)?;
        1u64.checked_shl(index)
    }
}

/// Tempo messages (tempo.md §4).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Message {
    /// The coordinator's proposal, with the payload, to every process.
    MCollect {
        /// The command's id.
        dot: Dot,
        /// The command.
        cmd: Arc<Command>,
        /// The fast quorum: the processes that must propose.
        quorum: ProcessSet,
        /// The coordinator's proposal.
        ts: u64,
    },
    /// A fast-quorum member's proposal and the promises it attached.
    MCollectAck {
        /// The command's id.
        dot: Dot,
        /// The member's proposal.
        ts: u64,
        /// The promises of that proposal.
        votes: Votes,
    },
    /// The command committed with timestamp `ts`.
    MCommit {
        /// The command's id.
        dot: Dot,
        /// The committed timestamp.
        ts: u64,
        /// Every attached promise of the command.
        votes: Arc<Votes>,
    },
    /// Slow path: accept `ts` at `ballot`.
    MConsensus {
        /// The command's id.
        dot: Dot,
        /// The proposer's ballot.
        ballot: Ballot,
        /// The timestamp proposed.
        ts: u64,
    },
    /// Slow path: the sender accepted at `ballot`.
    MConsensusAck {
        /// The command's id.
        dot: Dot,
        /// The ballot accepted.
        ballot: Ballot,
    },
    /// Periodic broadcast of detached promises (paper: MPromises).
    MDetached {
        /// The promises.
        votes: Arc<Votes>,
    },
    /// Periodic: the sender's committed frontier, per origin the highest
    /// seq up to which it committed every dot (§12).
    MGarbageCollection {
        /// The frontier, by origin index.
        committed: Vec<u64>,
    },
    /// §11.1: the sender recovers `dot` at `ballot`; the command travels
    /// along so every process can propose for it (§11.2).
    MRec {
        /// The command's id.
        dot: Dot,
        /// The command.
        cmd: Arc<Command>,
        /// The recovery ballot.
        ballot: Ballot,
    },
    /// §11.2: the sender joined a recovery ballot.
    MRecAck(Box<RecAck>),
    /// Failure detection: the sender knows of `dot` (a commit, a consensus
    /// round) but never got its command.
    MPayloadRequest {
        /// The command's id.
        dot: Dot,
    },
    /// Answer to MPayloadRequest from a process that has the command.
    MPayload(Box<Payload>),
    /// Failure detection: the sender's executor waits on `key` for a
    /// command with timestamp `ts`, and the receiver's promises it has
    /// stop at `above`.
    MPromisesRequest {
        /// The key.
        key: Key,
        /// The receiver's highest contiguous promise at the sender.
        above: u64,
        /// The timestamp waiting.
        ts: u64,
    },
}

/// An MRecAck (§4, §11.2), with the replier's attached promises for the
/// dot (§11: "piggyback them").
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecAck {
    /// The command's id.
    pub dot: Dot,
    /// The ballot joined.
    pub ballot: Ballot,
    /// The replier's accepted timestamp (its proposal at `abal` 0).
    pub ts: u64,
    /// Where the replier was when it joined.
    pub phase: Phase,
    /// The ballot `ts` was accepted at.
    pub abal: Ballot,
    /// The fast quorum, if the replier saw the MCollect (empty if not).
    pub quorum: ProcessSet,
    /// The replier's attached promises for the dot.
    pub votes: Votes,
}

/// An MPayload: a command, and its commit if committed at the sender.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Payload {
    /// The command's id.
    pub dot: Dot,
    /// The command.
    pub cmd: Arc<Command>,
    /// The fast quorum, if known (empty if not).
    pub quorum: ProcessSet,
    /// The committed timestamp and promises, if committed at the sender.
    pub commit: Option<(u64, Arc<Votes>)>,
}

/// Fixed per-message overhead: a tag and the sender, plus framing.
const HEADER_BYTES: u64 = 16;
/// A dot on the wire: origin 4, seq 8.
const DOT_BYTES: u64 = 12;

impl MessageSize for Message {
    fn size_bytes(&self) -> u64 {
        HEADER_BYTES
            + match self {
                Message::MCollect { cmd, .. } => DOT_BYTES + 8 + 8 + cmd.size_bytes(),
                Message::MCollectAck { votes, .. } => DOT_BYTES + 8 + votes.size_bytes(),
                Message::MCommit { votes, .. } => DOT_BYTES + 8 + votes.size_bytes(),
                Message::MConsensus { .. } => DOT_BYTES + 8 + 8,
                Message::MConsensusAck { .. } => DOT_BYTES + 8,
                Message::MDetached { votes } => votes.size_bytes(),
                Message::MGarbageCollection { committed } => 8 * committed.len() as u64,
                Message::MRec { cmd, .. } => DOT_BYTES + cmd.size_bytes() + 8,
                Message::MRecAck(reply) => DOT_BYTES + 8 + 8 + 1 + 8 + 8 + reply.votes.size_bytes(),
                Message::MPayloadRequest { .. } => DOT_BYTES,
                Message::MPayload(payload) => {
                    DOT_BYTES
                        + payload.cmd.size_bytes()
                        + 8
                        + payload.commit.as_ref().map_or(1, |(_, votes)| 9 + votes.size_bytes())
                }
                Message::MPromisesRequest { .. } => 8 + 8 + 8,
            }
    }
}

/// Tempo's periodic events (§8), each re-armed when it fires.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Timer {
    /// Broadcast the detached promises made since the last broadcast.
    SendDetached,
    /// Bump every key's clock to the current time (option).
    ClockBump,
    /// Send the committed frontier for garbage collection (§12).
    GarbageCollection,
    /// Failure detection: is `dot` committed yet (§11.1)? Set for each dot
    /// a process hears of, only in runs with failure detection.
    Watch(Dot),
    /// Failure detection: ask the executor for keys that stay unstable.
    StallCheck,
}

/// The coordinator's bookkeeping for a command it submitted.
#[derive(Debug)]
struct Coordinator {
    submitted_at: Time,
    /// Fast-quorum members whose MCollectAck arrived.
    replies: ProcessSet,
    max_ts: u64,
    /// Replies equal to `max_ts`.
    max_count: usize,
    /// Attached promises collected so far (its own from `submit`), with
    /// room for every member's: collecting never reallocates.
    votes: Vec<(Key, VoteRange)>,
    /// Slow path: the timestamp proposed at the coordinator's ballot.
    proposed: Option<u64>,
}

/// One Tempo process.
#[derive(Debug)]
pub struct Tempo {
    id: ProcessId,
    n: usize,
    f: usize,
    processes: Vec<ProcessId>,
    others: Vec<ProcessId>,
    /// The closest `FQ` processes (`floor(n/2) + f`, or `2f` tiny).
    fast_quorum: ProcessSet,
    /// The closest majority: NFR reads' quorum.
    majority_quorum: ProcessSet,
    /// The closest `f + 1` processes: the slow path's accept quorum.
    slow_quorum: Vec<ProcessId>,
    options: Options,
    gc_interval_ns: u64,
    last_seq: u64,
    clocks: KeyClocks,
    detached: DetachedBuffer,
    /// Reused buffer for a proposal's attached promises.
    scratch: Vec<(Key, VoteRange)>,
    /// Highest timestamp committed here (the floor of `ClockBump`).
    max_commit_ts: u64,
    instances: Instances,
    /// The commands this process submitted that have not committed, by
    /// seq.
    coordinating: SlotLog<Coordinator>,
    gc: GcTracker,
    /// Failure detection and recovery (§11), in runs with faults only.
    failures: Option<Failures>,
}

impl Tempo {
    /// Checks the rules Tempo puts on a configuration: `1 <= f <= n/2`
    /// (tempo.md §2) and at most [`MAX_PROCESSES`] processes.
    pub fn check(n: usize, f: usize) -> Result<(), String> {
        if n > MAX_PROCESSES {
            return Err(format!("Tempo supports at most {MAX_PROCESSES} processes, got n = {n}"));
        }
        quorum::check_f(n, f)
    }

    /// Fast quorum size `FQ` under `options`.
    pub fn fast_quorum_size(n: usize, f: usize, options: &Options) -> usize {
        if options.tiny_quorums { quorum::tempo_tiny_fast(f) } else { quorum::leaderless_fast(n, f) }
    }

    /// Stability threshold `S` under `options`.
    pub fn stability_threshold(n: usize, f: usize, options: &Options) -> usize {
        if options.tiny_quorums { quorum::tempo_tiny_stability(n, f) } else { quorum::tempo_stability(n) }
    }

    /// The coordinator state of `dot` if this process submitted it and it
    /// has not committed.
    fn coordinating_mut(&mut self, dot: Dot) -> Option<&mut Coordinator> {
        if dot.origin == self.id { self.coordinating.get_mut(dot.seq) } else { None }
    }

    /// Commands with per-command state here (not yet garbage-collected).
    pub fn instances(&self) -> usize {
        self.instances.len()
    }

    /// This process's clock of `key`.
    pub fn clock(&self, key: Key) -> u64 {
        self.clocks.clock(key)
    }

    /// A single-key read-only command under the NFR option (§9).
    /// With failure detection there are none: an NFR read's majority
    /// quorum and fast-path threshold of 1 are outside §11.3's argument
    /// (a fast-path timestamp need not be reported by `Q ∩ R`).
    fn is_nfr_read(&self, cmd: &Command) -> bool {
        self.options.nfr && self.failures.is_none() && cmd.ops.len() == 1 && cmd.is_read_only()
    }

    /// Fast-path threshold `T = |quorum| - floor(n/2)` (§2): `f` for the
    /// normal fast quorum, 1 for an NFR read's majority. With tiny quorums
    /// (`|quorum| = 2f`, which can make that formula 0 or less) it is `f`,
    /// as in fantoch, which always compares with `f`.
    fn fast_threshold(&self, nfr_read: bool, quorum_size: usize) -> usize {
        if self.options.tiny_quorums && !nfr_read { self.f } else { quorum_size.saturating_sub(self.n / 2).max(1) }
    }

    /// `proposal(cmd, min)` (§5): returns the timestamp and appends the
    /// promises attached to it to `attached`; with `attach_only_top`, the
    /// skipped timestamps go to the detached buffer instead.
    fn proposal(&mut self, cmd: &Command, min: u64, attached: &mut Vec<(Key, VoteRange)>) -> u64 {
        let plus_one = !self.is_nfr_read(cmd);
        let (attach_only_top, detached) = (self.options.attach_only_top, &mut self.detached);
        self.clocks.propose(cmd, min, plus_one, |key, range| {
            if attach_only_top && range.start < range.end {
                detached.add(key, VoteRange::new(range.voter, range.start, range.end - 1));
                attached.push((key, VoteRange::new(range.voter, range.end, range.end)));
            } else {
                attached.push((key, range));
            }
        })
    }

    /// `bump(cmd, t)` with the promises detached (§5), for the command of
    /// `dot` if this process has its payload: skipped when its keys'
    /// clocks are known to be at `t` already (most bumps in a
    /// conflict-free run), which saves the clock lookups.
    fn bump_detached(&mut self, dot: Dot, t: u64) {
        let Some(instance) = self.instances.get_mut(dot) else { return };
        if t <= instance.clock_floor {
            return;
        }
        let Some(cmd) = instance.cmd.as_deref() else { return };
        instance.clock_floor = t;
        let detached = &mut self.detached;
        self.clocks.bump(cmd, t, |key, range| detached.add(key, range));
    }

    /// §6 step 1.
    fn handle_submit(&mut self, cmd: Arc<Command>, now: Time, out: &mut Outbox<Self>) {
        self.last_seq += 1;
        let dot = Dot { origin: self.id, seq: self.last_seq };
        let quorum = if self.is_nfr_read(&cmd) { self.majority_quorum } else { self.fast_quorum };
        // Room for every member's promises (at most one range per key).
        let mut collected = Vec::with_capacity(quorum.len() * cmd.ops.len());
        let ts = self.proposal(&cmd, 0, &mut collected);
        self.record_attached(dot, &collected);
        let coordinator = Coordinator {
            submitted_at: now,
            replies: ProcessSet::default(),
            max_ts: 0,
            max_count: 0,
            votes: collected,
            proposed: None,
        };
        let fresh = self.coordinating.insert(dot.seq, coordinator);
        debug_assert!(matches!(fresh, Ok(None)), "{dot} submitted twice");
        let instance = self.instances.entry(dot).expect("a new dot of this process");
        instance.clock_floor = ts;
        out.send_to_each(&self.processes, Message::MCollect { dot, cmd, quorum, ts });
        self.watch_submitted(dot, quorum, now, out);
    }

    /// §6 step 2, for an MCollect from its coordinator `dot.origin`.
    fn handle_mcollect(
        &mut self,
        dot: Dot,
        cmd: Arc<Command>,
        quorum: ProcessSet,
        ts: u64,
        now: Time,
        out: &mut Outbox<Self>,
    ) {
        let from = dot.origin;
        let (me, clock_bump) = (self.id, self.options.clock_bump_interval_ns.is_some());
        let Some(instance) = self.instances.entry(dot) else { return };
        if instance.status != Status::Start {
            return; // a duplicate, or the payload came with a recovery first
        }
        // Joined a recovery's consensus before the MCollect came (failure
        // detection only): as §11.2's `RECOVER_R`, no reply, so the
        // coordinator cannot complete its fast path behind the recovery.
        let joined = instance.synod.as_ref().is_some_and(|synod| synod.ballot() > 0);
        if !quorum.contains(me) || joined {
            instance.quorum = quorum;
            instance.status = Status::Payload;
            if clock_bump {
                // So that the periodic bump covers this key from now on.
                self.clocks.init(&cmd);
            }
            instance.cmd = Some(cmd);
        } else {
            let (ts, votes) = if from == me {
                (ts, Votes::new()) // counted at submit
            } else {
                let mut attached = std::mem::take(&mut self.scratch);
                let ts = self.proposal(&cmd, ts, &mut attached);
                self.record_attached(dot, &attached);
                let votes = Votes::from(attached.as_slice());
                attached.clear();
                self.scratch = attached;
                (ts, votes)
            };
            let instance = self.instances.get_mut(dot).expect("created above");
            instance.status = Status::Collect;
            instance.cmd = Some(cmd);
            instance.quorum = quorum;
            instance.proposal = ts;
            if let Some(synod) = instance.synod.as_deref_mut() {
                synod.set_initial(ts);
            }
            instance.clock_floor = instance.clock_floor.max(ts);
            out.send(from, Message::MCollectAck { dot, ts, votes });
        }
        self.watch(dot, now, out);
        // An MCommit that overtook the payload (§6.6).
        let instance = self.instances.get_mut(dot).expect("created above");
        if let Some((ts, votes)) = instance.commit.take() {
            self.handle_mcommit(dot, ts, votes, now, out);
        }
    }

    /// §6 step 3.
    fn handle_mcollectack(&mut self, from: ProcessId, dot: Dot, ts: u64, votes: Votes, out: &mut Outbox<Self>) {
        let me = self.id;
        let Some(instance) = self.instances.get(dot) else { return };
        if instance.status != Status::Collect || !instance.quorum.contains(from) {
            return;
        }
        let quorum = instance.quorum;
        let nfr_read = self.is_nfr_read(instance.cmd.as_deref().expect("a collecting command has its payload"));
        let Some(coordinator) = self.coordinating_mut(dot) else { return };
        if !coordinator.replies.insert(from) {
            return; // a duplicate
        }
        coordinator.votes.extend_from_slice(votes.as_slice());
        out.work(votes.as_slice().len()); // CPU model: votes merged
        if ts > coordinator.max_ts {
            (coordinator.max_ts, coordinator.max_count) = (ts, 1);
        } else if ts == coordinator.max_ts {
            coordinator.max_count += 1;
        }
        let (max_ts, max_count) = (coordinator.max_ts, coordinator.max_count);
        let all_replied = coordinator.replies == quorum;
        if from != me {
            // §6.3b: no new proposal of this process goes below `max_ts`.
            self.bump_detached(dot, max_ts);
        }
        if !all_replied {
            return;
        }
        let fast = max_count >= self.fast_threshold(nfr_read, quorum.len());
        let coordinator = self.coordinating_mut(dot).expect("present above");
        if fast {
            out.fast_path();
            let votes = Arc::new(Votes::from(std::mem::take(&mut coordinator.votes)));
            out.send_to_each(&self.processes, Message::MCommit { dot, ts: max_ts, votes });
        } else {
            out.slow_path();
            // Ballot `id` needs no prepare phase (specs README §1.4).
            let ballot = Ballot::from(me.0);
            coordinator.proposed = Some(max_ts);
            self.instances.get_mut(dot).expect("present above").synod().propose(ballot);
            out.send_to_each(&self.slow_quorum, Message::MConsensus { dot, ballot, ts: max_ts });
        }
    }

    /// §6 step 4.
    fn handle_mconsensus(
        &mut self,
        from: ProcessId,
        dot: Dot,
        ballot: Ballot,
        ts: u64,
        now: Time,
        out: &mut Outbox<Self>,
    ) {
        let Some(instance) = self.instances.entry(dot) else { return };
        if instance.status == Status::Commit {
            if let Some((ts, votes)) = instance.commit.clone() {
                out.send(from, Message::MCommit { dot, ts, votes });
            }
        } else if instance.synod().accept(ballot, ts) {
            out.send(from, Message::MConsensusAck { dot, ballot });
            if self.detects_failures() {
                self.watch(dot, now, out);
                if from != self.id {
                    self.postpone(dot, now);
                }
            }
        }
        // After the commit there is no payload here (unless ClockBump is
        // on): the commit bumped the clocks to the timestamp already.
        self.bump_detached(dot, ts);
    }

    /// §6 step 5.
    fn handle_mconsensusack(&mut self, from: ProcessId, dot: Dot, ballot: Ballot, out: &mut Outbox<Self>) {
        let slow_path = self.coordinating_mut(dot).and_then(|coordinator| coordinator.proposed).is_some();
        if !slow_path && !self.detects_failures() {
            return;
        }
        let Some(instance) = self.instances.get_mut(dot) else { return };
        if instance.status == Status::Commit
            || !instance.synod().accepted_by(from, ballot, quorum::leaderless_slow(self.f))
        {
            return;
        }
        // Chosen: commit the timestamp this process proposed at `ballot`,
        // as a recovery (§11.3) or as the coordinator's slow path (§6.5).
        // (The acceptor counts acks of its latest proposal only, so
        // `ballot` says which of the two it was.)
        if let Some((ts, votes)) = self.take_recovered(dot, ballot) {
            out.send_to_each(&self.processes, Message::MCommit { dot, ts, votes });
        } else if ballot == Ballot::from(self.id.0)
            && let Some(coordinator) = self.coordinating_mut(dot)
            && let Some(ts) = coordinator.proposed
        {
            let votes = Arc::new(Votes::from(std::mem::take(&mut coordinator.votes)));
            out.send_to_each(&self.processes, Message::MCommit { dot, ts, votes });
        }
    }

    /// §6 step 6.
    fn handle_mcommit(&mut self, dot: Dot, ts: u64, votes: Arc<Votes>, now: Time, out: &mut Outbox<Self>) {
        let (me, clock_bump) = (self.id, self.options.clock_bump_interval_ns.is_some());
        if self.instances.is_collected(dot) {
            return self.late_promises(votes, out);
        }
        let Some(instance) = self.instances.entry(dot) else { return };
        match instance.status {
            Status::Start => {
                // The payload has not arrived: keep the commit for it.
                return self.buffer_commit(dot, ts, votes, now, out);
            }
            Status::Commit => return self.late_promises(votes, out), // a duplicate
            Status::Payload | Status::Collect | Status::RecoverR | Status::RecoverP => {}
        }
        instance.status = Status::Commit;
        instance.commit = Some((ts, votes.clone()));
        if dot.origin == me {
            if let Some(coordinator) = self.coordinating.remove(dot.seq) {
                out.commit_latency(now.since(coordinator.submitted_at));
            }
            self.coordinating.discard_leading_holes();
        }
        if clock_bump {
            self.max_commit_ts = self.max_commit_ts.max(ts);
        } else {
            self.bump_detached(dot, ts);
        }
        self.watch_done(dot, out);
        // The payload moves on to the executor: once the clocks are bumped
        // to the commit, nothing here needs it (a late MConsensus bumps to
        // the same timestamp), and garbage collection then frees the
        // instance without touching the command again. Under ClockBump,
        // commits do not bump, so a late MConsensus still may: keep it;
        // with failure detection too, to answer payload requests.
        let keep = clock_bump || self.detects_failures();
        let instance = self.instances.get_mut(dot).expect("created above");
        let cmd = if keep { instance.cmd.clone() } else { instance.cmd.take() };
        let cmd = cmd.expect("payload present past Start");
        let nfr_read = self.is_nfr_read(&cmd);
        if nfr_read && dot.origin != me {
            // Only the coordinator executes an NFR read (see the module
            // docs); its promises still count everywhere.
            if !votes.is_empty() {
                out.execute(TableInfo::DetachedVotes { votes });
            }
        } else {
            out.execute(TableInfo::AttachedVotes { dot, cmd, ts, votes, nfr_read });
        }
        self.gc.committed(dot);
    }

    /// §12: per-command state of dots every process committed is deleted.
    fn handle_garbage_collection(&mut self, from: ProcessId, committed: &[u64]) {
        if from.0 == 0 || from.index() >= self.n {
            return;
        }
        let (instances, failures) = (&mut self.instances, &mut self.failures);
        self.gc.report(from, committed, |dot| {
            instances.collect_up_to(dot);
            if let Some(failures) = failures {
                failures.collected_up_to(dot);
            }
        });
    }

    /// §8 SendDetached.
    fn send_detached(&mut self, out: &mut Outbox<Self>) {
        if !self.detached.is_empty() {
            let votes = Arc::new(self.detached.take());
            out.send_to_each(&self.processes, Message::MDetached { votes });
        }
    }

    /// §8 ClockBump: `m = max(max_commit_ts, now in µs)`, `now` being
    /// this process's local clock (`Outbox::clock`: skewed by clock
    /// faults). A clock behind or jumping back only bumps less (clocks
    /// never go down), so skew affects latency, never safety.
    fn clock_bump(&mut self, local_clock: Time) {
        let m = self.max_commit_ts.max(local_clock.as_ns() / 1_000);
        let detached = &mut self.detached;
        self.clocks.bump_all(m, |key, range| detached.add(key, range));
    }
}

impl Protocol for Tempo {
    type Message = Message;
    type Timer = Timer;
    type Executor = TableExecutor;
    type Options = Options;
    /// Clocks, votes tables and execution are per key (tempo.md §7), so a
    /// process's inputs can be handled on several cores (the paper's
    /// implementation does).
    const PARALLEL: bool = true;

    fn new(setup: ProcessSetup, options: &Options) -> (Self, TableExecutor) {
        let (n, f) = (setup.n(), setup.config.f);
        debug_assert!(Tempo::check(n, f).is_ok());
        let fast = Tempo::fast_quorum_size(n, f, options);
        let tempo = Tempo {
            id: setup.id,
            n,
            f,
            processes: setup.processes.clone(),
            others: setup.processes.iter().copied().filter(|&p| p != setup.id).collect(),
            fast_quorum: ProcessSet::of(setup.closest(fast)),
            majority_quorum: ProcessSet::of(setup.closest(quorum::majority(n))),
            slow_quorum: setup.closest(quorum::leaderless_slow(f)).to_vec(),
            options: options.clone(),
            gc_interval_ns: setup.config.gc_interval_ns,
            last_seq: 0,
            clocks: KeyClocks::new(setup.id),
            detached: DetachedBuffer::new(),
            scratch: Vec::new(),
            max_commit_ts: 0,
            instances: Instances::new(n),
            coordinating: SlotLog::new(),
            gc: GcTracker::new(n),
            failures: setup
                .config
                .failure_detection
                .then(|| Failures::new(n, options.recovery_timeout_ns.unwrap_or(DEFAULT_RECOVERY_TIMEOUT_NS))),
        };
        let executor = TableExecutor::new(n, Tempo::stability_threshold(n, f, options));
        (tempo, if options.plant_recovery_first_ack { executor.without_stability_assertion() } else { executor })
    }

    fn start(&mut self, _now: Time, out: &mut Outbox<Self>) {
        // Intervals of 0 would fire forever at the same instant.
        out.set_timer(Timer::SendDetached, self.options.promise_interval_ns.max(1));
        out.set_timer(Timer::GarbageCollection, self.gc_interval_ns.max(1));
        if let Some(interval_ns) = self.options.clock_bump_interval_ns {
            out.set_timer(Timer::ClockBump, interval_ns.max(1));
        }
        if self.detects_failures() {
            out.set_timer(Timer::StallCheck, failure::STALL_CHECK_INTERVAL_NS);
        }
    }

    fn submit(&mut self, cmd: Arc<Command>, now: Time, out: &mut Outbox<Self>) {
        self.handle_submit(cmd, now, out);
    }

    fn handle(&mut self, from: ProcessId, msg: Message, now: Time, out: &mut Outbox<Self>) {
        self.heard(from, now);
        match msg {
            Message::MCollect { dot, cmd, quorum, ts } if from == dot.origin => {
                self.handle_mcollect(dot, cmd, quorum, ts, now, out)
            }
            Message::MCollect { .. } => {} // only the coordinator proposes
            Message::MCollectAck { dot, ts, votes } => self.handle_mcollectack(from, dot, ts, votes, out),
            Message::MCommit { dot, ts, votes } => self.handle_mcommit(dot, ts, votes, now, out),
            Message::MConsensus { dot, ballot, ts } => self.handle_mconsensus(from, dot, ballot, ts, now, out),
            Message::MConsensusAck { dot, ballot } => self.handle_mconsensusack(from, dot, ballot, out),
            Message::MDetached { votes } => out.execute(TableInfo::DetachedVotes { votes }),
            Message::MGarbageCollection { committed } => self.handle_garbage_collection(from, &committed),
            Message::MRec { dot, cmd, ballot } => self.handle_mrec(from, dot, cmd, ballot, now, out),
            Message::MRecAck(reply) => self.handle_mrecack(from, *reply, out),
            Message::MPayloadRequest { dot } => self.handle_mpayloadrequest(from, dot, out),
            Message::MPayload(payload) => self.handle_mpayload(*payload, now, out),
            Message::MPromisesRequest { key, above, ts } => self.handle_mpromisesrequest(from, key, above, ts, out),
        }
    }

    fn handle_timer(&mut self, timer: Timer, now: Time, out: &mut Outbox<Self>) {
        match timer {
            Timer::SendDetached => {
                self.send_detached(out);
                out.set_timer(Timer::SendDetached, self.options.promise_interval_ns.max(1));
            }
            Timer::ClockBump => {
                self.clock_bump(out.clock(now));
                let interval_ns = self.options.clock_bump_interval_ns.unwrap_or(NS_PER_MS);
                out.set_timer(Timer::ClockBump, interval_ns.max(1));
            }
            Timer::GarbageCollection => {
                let committed = self.gc.frontier();
                self.handle_garbage_collection(self.id, &committed);
                out.send_to_each(&self.others, Message::MGarbageCollection { committed });
                out.set_timer(Timer::GarbageCollection, self.gc_interval_ns.max(1));
            }
            Timer::Watch(dot) => self.handle_watch(dot, now, out),
            Timer::StallCheck => self.check_stalls(out),
        }
    }

    /// The executor reports a key that stays unstable (failure detection
    /// only): ask for the promises it misses.
    fn handle_executed(&mut self, stall: Stall, _now: Time, out: &mut Outbox<Self>) {
        self.handle_stall(&stall, out);
    }
}
