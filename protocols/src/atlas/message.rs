//! Atlas's messages and the small values they carry (atlas.md §4).

use crate::shared::dot::Dot;
use crate::shared::synod::Ballot;
use sim_core::protocol::MessageSize;
use sim_core::{Command, ProcessId};
use std::sync::Arc;

/// A dependency set, sorted by dot, without duplicates. Shared (`Arc`)
/// because the same set goes to every process in an MCommit and is kept as
/// the acceptor's value: one allocation per set, not one per copy.
pub type Deps = Arc<[Dot]>;

/// What consensus decides for a dot (atlas.md §4 `Value{is_noop, deps}`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Value {
    /// True if the dot commits as a no-op (only recovery proposes one).
    pub is_noop: bool,
    /// The dots it must not execute before (unless in the same component).
    pub deps: Deps,
}

impl Value {
    /// The value of a command (not a no-op) with dependencies `deps`.
    pub fn command(deps: Deps) -> Value {
        Value { is_noop: false, deps }
    }
}

/// A set of processes of one shard, as a bit per process (bit `id - 1`):
/// a fast quorum travels in every MCollect, and the coordinator tests
/// membership once per ack. Shards have at most 64 processes
/// (`Atlas::check`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ProcessSet(u64);

impl ProcessSet {
    /// The set of `processes`.
    pub fn from_ids(processes: &[ProcessId]) -> ProcessSet {
        let mut set = ProcessSet::default();
        for &process in processes {
            set.insert(process);
        }
        set
    }

    /// Bit of `process`, or none for an id no shard of 64 can hold.
    fn bit(process: ProcessId) -> Option<u64> {
        let index = process.0.checked_sub(1)?;
        1u64.checked_shl(index)
    }

    /// Adds `process`; ids outside 1..=64 are ignored (they are in no shard).
    pub fn insert(&mut self, process: ProcessId) {
        self.0 |= ProcessSet::bit(process).unwrap_or(0);
    }

    /// True if `process` is in the set.
    pub fn contains(self, process: ProcessId) -> bool {
        ProcessSet::bit(process).is_some_and(|bit| self.0 & bit != 0)
    }

    /// Number of processes in the set.
    pub fn len(self) -> usize {
        self.0.count_ones() as usize
    }

    /// True if the set is empty.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }
}

/// Atlas messages (atlas.md §4 and §9), single shard: the §8 shard
/// messages come with partial replication.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Message {
    /// Coordinator → every other process: collect dependencies for `dot`.
    MCollect {
        /// The command's id.
        dot: Dot,
        /// The command.
        cmd: Arc<Command>,
        /// The coordinator's dependencies (its "past"), which every fast
        /// quorum member includes in its own.
        deps: Deps,
        /// The fast quorum the coordinator chose.
        quorum: ProcessSet,
    },
    /// Fast-quorum member → coordinator: the dependencies it computed.
    MCollectAck {
        /// The command's id.
        dot: Dot,
        /// Its dependencies at the member.
        deps: Deps,
    },
    /// → every process: `dot` is committed with `value`.
    MCommit {
        /// The command's id.
        dot: Dot,
        /// The decided value.
        value: Value,
    },
    /// Slow path (phase 2a): accept `value` at `ballot`.
    MConsensus {
        /// The command's id.
        dot: Dot,
        /// The proposer's ballot (the coordinator's id on the slow path).
        ballot: Ballot,
        /// The proposed value.
        value: Value,
    },
    /// Phase 2b: the sender accepted `ballot`.
    MConsensusAck {
        /// The command's id.
        dot: Dot,
        /// The ballot accepted.
        ballot: Ballot,
    },
    /// §9.1 recovery (phase 1a): the sender recovers `dot` at `ballot`;
    /// the command travels along so every process can compute its
    /// dependencies (§9.2).
    MRec {
        /// The command's id.
        dot: Dot,
        /// The command.
        cmd: Arc<Command>,
        /// The recovery ballot.
        ballot: Ballot,
    },
    /// §9.2 (phase 1b): the sender joined `ballot`.
    MRecAck {
        /// The command's id.
        dot: Dot,
        /// The sender's accepted value (its own dependencies at `abal` 0).
        value: Value,
        /// The fast quorum, if the sender saw the MCollect (empty if not).
        quorum: ProcessSet,
        /// The ballot `value` was accepted at.
        abal: Ballot,
        /// The ballot joined.
        ballot: Ballot,
    },
    /// Failure detection: the sender knows of `dot` (a dependency, a
    /// commit or a consensus round) but never got its command.
    MPayloadRequest {
        /// The command's id.
        dot: Dot,
    },
    /// Answer to MPayloadRequest from a process that has the command.
    MPayload {
        /// The command's id.
        dot: Dot,
        /// The command.
        cmd: Arc<Command>,
        /// The fast quorum, if known (empty if not).
        quorum: ProcessSet,
        /// The committed value, if committed at the sender.
        value: Option<Value>,
    },
    /// Periodic (§10): the sender's committed and executed frontiers, per
    /// origin the highest seq up to which it committed (executed) every
    /// dot. The executed frontier is not in atlas.md §10: it tells when a
    /// command may leave the §3 index (see [`super::Atlas`]). Shared
    /// (`Arc`) between the copies sent to every process.
    MGarbageCollection {
        /// Indexed by origin `id - 1`.
        committed: Arc<[u64]>,
        /// Indexed by origin `id - 1`.
        executed: Arc<[u64]>,
    },
}

/// Fixed per-message overhead: a tag and the sender, plus framing (as
/// FPaxos counts it).
const HEADER_BYTES: u64 = 16;
/// A dot on the wire: origin (4) and seq (8).
const DOT_BYTES: u64 = 12;
/// A ballot on the wire.
const BALLOT_BYTES: u64 = 8;

fn deps_bytes(deps: &Deps) -> u64 {
    4 + DOT_BYTES * deps.len() as u64
}

fn value_bytes(value: &Value) -> u64 {
    1 + deps_bytes(&value.deps)
}

impl MessageSize for Message {
    fn size_bytes(&self) -> u64 {
        HEADER_BYTES
            + match self {
                Message::MCollect { cmd, deps, .. } => DOT_BYTES + cmd.size_bytes() + deps_bytes(deps) + 8,
                Message::MCollectAck { deps, .. } => DOT_BYTES + deps_bytes(deps),
                Message::MCommit { value, .. } => DOT_BYTES + value_bytes(value),
                Message::MConsensus { value, .. } => DOT_BYTES + BALLOT_BYTES + value_bytes(value),
                Message::MConsensusAck { .. } => DOT_BYTES + BALLOT_BYTES,
                Message::MGarbageCollection { committed, executed } => 8 * (committed.len() + executed.len()) as u64,
                Message::MRec { cmd, .. } => DOT_BYTES + cmd.size_bytes() + BALLOT_BYTES,
                Message::MRecAck { value, .. } => DOT_BYTES + value_bytes(value) + 8 + 2 * BALLOT_BYTES,
                Message::MPayloadRequest { .. } => DOT_BYTES,
                Message::MPayload { cmd, value, .. } => {
                    DOT_BYTES + cmd.size_bytes() + 8 + value.as_ref().map_or(1, |value| 1 + value_bytes(value))
                }
            }
    }
}

/// Atlas timers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Timer {
    /// Time to send this process's committed frontier (§10).
    GarbageCollection,
    /// Failure detection: is `dot` committed yet (§9.1)? Set once per dot
    /// a process hears of, only in runs with failure detection.
    Watch(Dot),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn process_sets() {
        let set = ProcessSet::from_ids(&[ProcessId(1), ProcessId(4), ProcessId(64)]);
        assert_eq!(set.len(), 3);
        assert!(set.contains(ProcessId(4)) && set.contains(ProcessId(64)));
        assert!(!set.contains(ProcessId(2)));
        assert!(!set.contains(ProcessId(0)) && !set.contains(ProcessId(65)), "no panic on foreign ids");
        let mut set = ProcessSet::default();
        set.insert(ProcessId(0));
        set.insert(ProcessId(99));
        assert!(set.is_empty());
    }
}
