//! Outcome events (classic-README "Checker events"): what a run did to
//! clients' data, measured from the client-observed history and the final
//! stores of the replicas alive at the end, never from protocol internals.
//!
//! Every write stores a value unique to its command and returns the value
//! it replaced, so a key's acknowledged writes form a **lineage forest**:
//! the initial empty value is the root, and each acknowledged write hangs
//! under the value it replaced. A linearizable history is one path. A
//! write that never answered reported nothing it replaced, so it starts a
//! tree of its own, and values in such trees are *unknown*: no outcome is
//! judged from them (missing an event rather than inventing one). Value
//! `u` is **older than** `v` when `u` is a strict ancestor of `v`; a state
//! **reflects** `w` when its value is `w`'s value or a descendant of it.
//! The events, per key:
//!
//! - **DivergentAck**: a value that two or more acknowledged writes each
//!   replaced: replicas applied different writes on the same state, and
//!   both were acknowledged (one event per extra write of the fork).
//! - **SplitBrain**: a DivergentAck whose branches were acknowledged during
//!   overlapping intervals (each branch spans from the first to the last
//!   acknowledgement of its writes): two sides acknowledged writes at the
//!   same time. A fork whose dead branch stopped being acknowledged before
//!   the other's first acknowledgement (a primary that crashed) is a
//!   DivergentAck only, and so is a split whose two sides each
//!   acknowledged a single write of the key (nothing on one key tells
//!   them apart from a crash and a takeover). One event per such fork.
//! - **AckedWriteLost**: an acknowledged write `w` that no surviving
//!   replica's final value reflects, while the key moved on without it: a
//!   survivor's final value, or the value some operation invoked after
//!   `w`'s acknowledgement observed (read, or replaced), lies on another
//!   branch (neither reflecting `w` nor older than it). A survivor whose
//!   final value is merely older than `w` has not caught up: that alone is
//!   not a loss (a lost write that nothing later skipped over is therefore
//!   not counted; a read that misses it is a StaleRead).
//! - **StaleRead**: a read returning a value older than a write
//!   acknowledged before the read was invoked. A read of a branch that is
//!   later lost, or of the surviving branch after a loss, is not stale:
//!   its value is not older than the write it misses, which is counted
//!   once, as lost.
//! - **RolledBack{was_acked}**: a replica alive at the end executed a
//!   write `w` (the order check's per-replica record of executions), and
//!   its final value of the key is known and does not reflect `w`: the
//!   replica's state went back, or on along a branch that never saw `w`
//!   (a node that truncated its log and applied the new primary's
//!   entries). One event per (replica, key, write); `was_acked` is the
//!   harness's own knowledge: the client got an answer. Executors cannot
//!   undo, so a rollback the replica's store never shows (a truncated
//!   entry nothing overwrote) is not observed: the store still holds it.
//!   A replica whose final value is unknown (below an unanswered write) is
//!   not judged.
//! - **GhostWrite**: a write whose client never got an answer (the
//!   harness's clients retry until the run ends, so an unanswered command
//!   is the only failure a client sees), whose value is nonetheless
//!   visible: an operation that completed observed it (read it, or
//!   replaced it), or a survivor ends holding it. One event per key of
//!   such a write. A subset of Blocked and Starved.
//! - **Blocked**: commands still unanswered when the run ended, after the
//!   clients stopped issuing and waited up to the time limit, while no
//!   command submitted after them on their keys completed (the completion
//!   check's count).
//! - **Starved**: unanswered the same way, while later commands on their
//!   keys completed ([`super::progress`]; the progress check's count).
//!
//! DuplicateApply (a replica executed a command twice, the order check's
//! DoubleExecution) and AtomicityViolation (a write executed and standing
//! at one replica alive at the end while another went past it) are found
//! from executions, in [`super::Verdict::new`].
//!
//! Cost: linear in the key's operations, with scratch buffers reused from
//! key to key (no allocation per operation).

use super::HistoryOp;
use crate::command::{CommandId, Key, Value};
use crate::fixed_hash::FixedHashMap;
use crate::id::ProcessId;
use crate::time::Time;
use std::collections::BTreeSet;
use std::fmt;

/// Most events of each kind kept with their details; the rest are only
/// counted.
pub const OUTCOMES_KEPT_PER_KIND: usize = 3;

/// One outcome event, with what names it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// An acknowledged write the key's history went on without.
    AckedWriteLost {
        /// The key.
        key: Key,
        /// The write.
        cmd: CommandId,
    },
    /// A read that missed a write acknowledged before it was invoked.
    StaleRead {
        /// The key.
        key: Key,
        /// The read.
        read: CommandId,
        /// A write it does not reflect, acknowledged before it started.
        missed: CommandId,
    },
    /// Two acknowledged writes replaced the same value.
    DivergentAck {
        /// The key.
        key: Key,
        /// Two of the writes.
        cmds: [CommandId; 2],
    },
    /// Two branches of a fork acknowledged writes at the same time.
    SplitBrain {
        /// The key.
        key: Key,
        /// The first write of each of two overlapping branches.
        cmds: [CommandId; 2],
    },
    /// A replica executed a write its final state does not reflect.
    RolledBack {
        /// The key.
        key: Key,
        /// The write.
        cmd: CommandId,
        /// The replica.
        replica: ProcessId,
        /// Its client got an answer.
        was_acked: bool,
    },
    /// A write its client never heard back about took effect.
    GhostWrite {
        /// The key.
        key: Key,
        /// The write.
        cmd: CommandId,
    },
    /// A write executed (and not rolled back) at one replica alive at the
    /// end, which another replica alive at the end went past.
    AtomicityViolation {
        /// The write.
        cmd: CommandId,
        /// A survivor where it stands.
        applied_at: ProcessId,
        /// A survivor that went past it without executing it.
        skipped_at: ProcessId,
    },
    /// More than `f` replicas of a protocol whose crash loses its state
    /// were without it at once (crashed, or restarted and still
    /// recovering): the state may be gone (vr.md §1). Observed by the
    /// engine, not from the history (see `crate::simulation`).
    Unrecoverable {
        /// When the `f + 1`-th replica lost its state.
        at: Time,
        /// The replicas without their state then.
        replicas: Vec<ProcessId>,
        /// The fault budget it went beyond.
        f: usize,
    },
}

/// The kinds of outcome events (Blocked is counted from the completion
/// check and DuplicateApply from the execution check; neither keeps
/// details here).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OutcomeKind {
    /// [`Outcome::AckedWriteLost`].
    AckedWriteLost,
    /// [`Outcome::StaleRead`].
    StaleRead,
    /// [`Outcome::DivergentAck`].
    DivergentAck,
    /// [`Outcome::SplitBrain`].
    SplitBrain,
    /// [`Outcome::RolledBack`] of an acknowledged write.
    RolledBackAcked,
    /// [`Outcome::RolledBack`] of a write never acknowledged.
    RolledBackUnacked,
    /// [`Outcome::GhostWrite`].
    GhostWrite,
    /// A replica executed a command twice (counted from the execution
    /// check's DoubleExecution violations).
    DuplicateApply,
    /// [`Outcome::AtomicityViolation`].
    AtomicityViolation,
    /// [`Outcome::Unrecoverable`] (counted by the engine, in every run).
    Unrecoverable,
}

impl OutcomeKind {
    /// Every kind, in report order.
    pub const ALL: [OutcomeKind; 10] = [
        OutcomeKind::AckedWriteLost,
        OutcomeKind::StaleRead,
        OutcomeKind::DivergentAck,
        OutcomeKind::SplitBrain,
        OutcomeKind::RolledBackAcked,
        OutcomeKind::RolledBackUnacked,
        OutcomeKind::GhostWrite,
        OutcomeKind::DuplicateApply,
        OutcomeKind::AtomicityViolation,
        OutcomeKind::Unrecoverable,
    ];

    /// The event's name (classic-README).
    pub fn as_str(self) -> &'static str {
        match self {
            OutcomeKind::AckedWriteLost => "AckedWriteLost",
            OutcomeKind::StaleRead => "StaleRead",
            OutcomeKind::DivergentAck => "DivergentAck",
            OutcomeKind::SplitBrain => "SplitBrain",
            OutcomeKind::RolledBackAcked => "RolledBack{was_acked=true}",
            OutcomeKind::RolledBackUnacked => "RolledBack{was_acked=false}",
            OutcomeKind::GhostWrite => "GhostWrite",
            OutcomeKind::DuplicateApply => "DuplicateApply",
            OutcomeKind::AtomicityViolation => "AtomicityViolation",
            OutcomeKind::Unrecoverable => "Unrecoverable",
        }
    }
}

impl Outcome {
    /// Its kind.
    pub fn kind(&self) -> OutcomeKind {
        match self {
            Outcome::AckedWriteLost { .. } => OutcomeKind::AckedWriteLost,
            Outcome::StaleRead { .. } => OutcomeKind::StaleRead,
            Outcome::DivergentAck { .. } => OutcomeKind::DivergentAck,
            Outcome::SplitBrain { .. } => OutcomeKind::SplitBrain,
            Outcome::RolledBack { was_acked: true, .. } => OutcomeKind::RolledBackAcked,
            Outcome::RolledBack { was_acked: false, .. } => OutcomeKind::RolledBackUnacked,
            Outcome::GhostWrite { .. } => OutcomeKind::GhostWrite,
            Outcome::AtomicityViolation { .. } => OutcomeKind::AtomicityViolation,
            Outcome::Unrecoverable { .. } => OutcomeKind::Unrecoverable,
        }
    }
}

fn id(cmd: &CommandId) -> String {
    format!("{}#{}", cmd.client, cmd.seq)
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Outcome::AckedWriteLost { key, cmd } => write!(
                f,
                "AckedWriteLost: key {key}: write {} was acknowledged, then the key went on without it",
                id(cmd)
            ),
            Outcome::StaleRead { key, read, missed } => write!(
                f,
                "StaleRead: key {key}: read {} missed write {}, acknowledged before the read started",
                id(read),
                id(missed)
            ),
            Outcome::DivergentAck { key, cmds } => write!(
                f,
                "DivergentAck: key {key}: writes {} and {} both replaced the same value and were both acknowledged",
                id(&cmds[0]),
                id(&cmds[1])
            ),
            Outcome::SplitBrain { key, cmds } => write!(
                f,
                "SplitBrain: key {key}: the branches of writes {} and {} were acknowledged at overlapping times",
                id(&cmds[0]),
                id(&cmds[1])
            ),
            Outcome::RolledBack { key, cmd, replica, was_acked } => write!(
                f,
                "RolledBack{{was_acked={was_acked}}}: key {key}: {replica} executed write {}, and its final state \
                 does not reflect it",
                id(cmd)
            ),
            Outcome::GhostWrite { key, cmd } => write!(
                f,
                "GhostWrite: key {key}: write {} was never answered, yet its value was observed or kept",
                id(cmd)
            ),
            Outcome::AtomicityViolation { cmd, applied_at, skipped_at } => write!(
                f,
                "AtomicityViolation: write {} stands at {applied_at}, but {skipped_at} went past it without it",
                id(cmd)
            ),
            Outcome::Unrecoverable { at, replicas, f: budget } => {
                let replicas: Vec<String> = replicas.iter().map(ToString::to_string).collect();
                write!(
                    f,
                    "Unrecoverable: at {} s, {} replicas were crashed or recovering at once ({}), more than f = \
                     {budget}: their state may be gone",
                    crate::time::format_ns_as_s(at.as_ns()),
                    replicas.len(),
                    replicas.join(", ")
                )
            }
        }
    }
}

/// The counted outcomes of a run, with the first few of each kind.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Outcomes {
    /// Acknowledged writes lost.
    pub acked_writes_lost: u64,
    /// Reads that missed an earlier acknowledged write.
    pub stale_reads: u64,
    /// Extra acknowledged writes at forks.
    pub divergent_acks: u64,
    /// Forks acknowledged on both sides at once.
    pub split_brains: u64,
    /// Acknowledged writes a replica executed and no longer reflects.
    pub rolled_back_acked: u64,
    /// Unacknowledged writes a replica executed and no longer reflects.
    pub rolled_back_unacked: u64,
    /// Unanswered writes that took effect.
    pub ghost_writes: u64,
    /// Commands executed twice at one replica.
    pub duplicate_applies: u64,
    /// Writes standing at one survivor that another went past.
    pub atomicity_violations: u64,
    /// Times more than `f` replicas were without their state at once.
    pub unrecoverable: u64,
    /// Commands that never completed while nothing submitted after them on
    /// their keys did ([`super::progress`]).
    pub blocked: u64,
    /// Commands that never completed while later ones on their keys did.
    pub starved: u64,
    kept: Vec<Outcome>,
    /// Every (write, replica) of a RolledBack event, for the atomicity
    /// check (a write rolled back where it was applied does not stand).
    rolled_back_at: BTreeSet<(CommandId, ProcessId)>,
}

impl Outcomes {
    /// Records one event.
    pub fn push(&mut self, outcome: Outcome) {
        if let Outcome::RolledBack { cmd, replica, .. } = &outcome {
            let (cmd, replica) = (*cmd, *replica);
            self.rolled_back_at.insert((cmd, replica));
        }
        let kind = outcome.kind();
        *self.count_mut(kind) += 1;
        if self.kept.iter().filter(|kept| kept.kind() == kind).count() < OUTCOMES_KEPT_PER_KIND {
            self.kept.push(outcome);
        }
    }

    /// The counter of `kind`.
    pub fn count_mut(&mut self, kind: OutcomeKind) -> &mut u64 {
        match kind {
            OutcomeKind::AckedWriteLost => &mut self.acked_writes_lost,
            OutcomeKind::StaleRead => &mut self.stale_reads,
            OutcomeKind::DivergentAck => &mut self.divergent_acks,
            OutcomeKind::SplitBrain => &mut self.split_brains,
            OutcomeKind::RolledBackAcked => &mut self.rolled_back_acked,
            OutcomeKind::RolledBackUnacked => &mut self.rolled_back_unacked,
            OutcomeKind::GhostWrite => &mut self.ghost_writes,
            OutcomeKind::DuplicateApply => &mut self.duplicate_applies,
            OutcomeKind::AtomicityViolation => &mut self.atomicity_violations,
            OutcomeKind::Unrecoverable => &mut self.unrecoverable,
        }
    }

    /// Events of `kind`.
    pub fn count(&self, kind: OutcomeKind) -> u64 {
        match kind {
            OutcomeKind::AckedWriteLost => self.acked_writes_lost,
            OutcomeKind::StaleRead => self.stale_reads,
            OutcomeKind::DivergentAck => self.divergent_acks,
            OutcomeKind::SplitBrain => self.split_brains,
            OutcomeKind::RolledBackAcked => self.rolled_back_acked,
            OutcomeKind::RolledBackUnacked => self.rolled_back_unacked,
            OutcomeKind::GhostWrite => self.ghost_writes,
            OutcomeKind::DuplicateApply => self.duplicate_applies,
            OutcomeKind::AtomicityViolation => self.atomicity_violations,
            OutcomeKind::Unrecoverable => self.unrecoverable,
        }
    }

    /// True if a RolledBack event names `cmd` at `replica`.
    pub fn rolled_back_at(&self, cmd: CommandId, replica: ProcessId) -> bool {
        self.rolled_back_at.contains(&(cmd, replica))
    }

    /// Forgets the (write, replica) pairs kept for the atomicity check.
    pub fn forget_rolled_back_pairs(&mut self) {
        self.rolled_back_at.clear();
    }

    /// The first events found, in the order found.
    pub fn kept(&self) -> &[Outcome] {
        &self.kept
    }

    /// True if nothing happened (Blocked included).
    pub fn is_empty(&self) -> bool {
        self.blocked == 0 && self.starved == 0 && OutcomeKind::ALL.iter().all(|&kind| self.count(kind) == 0)
    }

    /// `AckedWriteLost 3, StaleRead 0, ...`, every kind, then Blocked and
    /// Starved.
    pub fn counts_line(&self) -> String {
        let mut parts: Vec<String> =
            OutcomeKind::ALL.iter().map(|&kind| format!("{} {}", kind.as_str(), self.count(kind))).collect();
        parts.push(format!("Blocked {}", self.blocked));
        parts.push(format!("Starved {}", self.starved));
        parts.join(", ")
    }
}

/// No node: the parent of a write that never answered, or of one whose
/// replaced value no write of the history wrote.
const UNKNOWN: u32 = u32::MAX;
/// Node 0 stands for the initial empty value.
const ROOT: u32 = 0;

/// Smallest `(time, node)` and largest time seen in a set of nodes.
#[derive(Clone, Copy, Debug)]
struct Aggregate {
    /// Earliest acknowledgement of a write, and that write's node.
    first_ack: (u64, u32),
    /// Latest invocation of an operation that observed a value here (a
    /// read returning it, a write replacing it) or of an acknowledged
    /// write of a value here.
    last_activity: u64,
    /// Survivors whose final value is here.
    finals: u32,
    /// Latest acknowledgement of a write here.
    last_ack: u64,
}

impl Aggregate {
    const EMPTY: Aggregate = Aggregate { first_ack: (u64::MAX, UNKNOWN), last_activity: 0, finals: 0, last_ack: 0 };

    fn merge(&mut self, other: &Aggregate) {
        self.first_ack = self.first_ack.min(other.first_ack);
        self.last_activity = self.last_activity.max(other.last_activity);
        self.finals += other.finals;
        self.last_ack = self.last_ack.max(other.last_ack);
    }
}

/// Finds outcome events key by key; holds scratch buffers so that checking
/// a key allocates nothing once they have grown.
#[derive(Debug, Default)]
pub struct OutcomeDetector {
    node_of: FixedHashMap<Value, u32>,
    /// Per node: the operation index of its write (`UNKNOWN` for the root).
    op_of: Vec<u32>,
    parent: Vec<u32>,
    child_start: Vec<u32>,
    children: Vec<u32>,
    /// Next free slot of each node's row while `children` is filled.
    filled: Vec<u32>,
    /// Known nodes, parents before children.
    order: Vec<u32>,
    in_tree: Vec<bool>,
    own: Vec<Aggregate>,
    subtree: Vec<Aggregate>,
    /// Everything hanging off the path from the root to the node, outside
    /// the node's own subtree.
    side: Vec<Aggregate>,
    /// Per child of the node at hand: its and its later siblings' subtrees.
    suffix: Vec<Aggregate>,
    spans: Vec<(u64, u64, u32)>,
    /// Per node: its position in a depth-first pre-order of the tree and
    /// its subtree's size, so that "u is an ancestor of v" is one range
    /// test.
    preorder: Vec<u32>,
    size: Vec<u32>,
    /// Per node: an operation that completed observed its value.
    seen: Vec<bool>,
    /// Per survivor of the key at hand: its final node, if known.
    holds: Vec<Option<(ProcessId, u32)>>,
}

impl OutcomeDetector {
    /// A detector with empty buffers.
    pub fn new() -> OutcomeDetector {
        OutcomeDetector::default()
    }

    /// Adds the events of one key to `outcomes`. `ops` are the key's
    /// operations (reads and writes, answered or not); `finals` are the
    /// key's values at each replica alive at the end; `executed(r, c)`
    /// tells whether replica `r` executed command `c`.
    pub fn check_key(
        &mut self,
        ops: &[HistoryOp],
        finals: &[(ProcessId, Option<Value>)],
        executed: &dyn Fn(ProcessId, CommandId) -> bool,
        outcomes: &mut Outcomes,
    ) {
        let Some(first) = ops.first() else { return };
        let key = first.key;
        self.build_forest(ops);
        self.aggregate(ops, finals.iter().map(|&(_, value)| value));
        self.report(key, ops, outcomes);
        self.report_executions(key, ops, finals, executed, outcomes);
    }

    /// True if a state holding `node`'s value reflects the write of
    /// `write`'s value: the same node or a descendant (both in the tree).
    fn reflects(&self, node: u32, write: u32) -> bool {
        let (at, start) = (self.preorder[node as usize], self.preorder[write as usize]);
        self.in_tree[write as usize] && at >= start && at < start + self.size[write as usize]
    }

    /// RolledBack and GhostWrite: what replicas executed and what clients
    /// were told, against the final values.
    fn report_executions(
        &mut self,
        key: Key,
        ops: &[HistoryOp],
        finals: &[(ProcessId, Option<Value>)],
        executed: &dyn Fn(ProcessId, CommandId) -> bool,
        outcomes: &mut Outcomes,
    ) {
        // Each survivor's final node; unknown final values are not judged.
        let mut holds = std::mem::take(&mut self.holds);
        holds.clear();
        holds.extend(finals.iter().map(|&(replica, value)| self.known(value).map(|node| (replica, node))));
        for op in ops {
            let Some(value) = op.written else { continue };
            let Some(&node) = self.node_of.get(&value) else { continue };
            let was_acked = op.responded.is_some();
            for &(replica, held) in holds.iter().flatten() {
                if !self.reflects(held, node) && executed(replica, op.cmd) {
                    outcomes.push(Outcome::RolledBack { key, cmd: op.cmd, replica, was_acked });
                }
            }
            if !was_acked && (self.seen[node as usize] || finals.iter().any(|&(_, held)| held == Some(value))) {
                outcomes.push(Outcome::GhostWrite { key, cmd: op.cmd });
            }
        }
        self.holds = holds;
    }

    fn build_forest(&mut self, ops: &[HistoryOp]) {
        self.node_of.clear();
        self.op_of.clear();
        self.op_of.push(UNKNOWN);
        for (index, op) in ops.iter().enumerate() {
            if let Some(value) = op.written {
                let node = self.op_of.len() as u32;
                if self.node_of.insert(value, node).is_none() {
                    self.op_of.push(index as u32);
                }
            }
        }
        let nodes = self.op_of.len();
        self.parent.clear();
        self.parent.push(UNKNOWN);
        for node in 1..nodes {
            let op = &ops[self.op_of[node] as usize];
            let parent = match (op.responded, op.observed) {
                (None, _) => UNKNOWN,
                (Some(_), None) => ROOT,
                (Some(_), Some(value)) => self.node_of.get(&value).copied().unwrap_or(UNKNOWN),
            };
            self.parent.push(parent);
        }
        // Children in compressed rows: counts, then prefix sums, then fill.
        self.child_start.clear();
        self.child_start.resize(nodes + 1, 0);
        for &parent in &self.parent[1..] {
            if parent != UNKNOWN {
                self.child_start[parent as usize + 1] += 1;
            }
        }
        for node in 0..nodes {
            self.child_start[node + 1] += self.child_start[node];
        }
        self.children.clear();
        self.children.resize(self.child_start[nodes] as usize, 0);
        self.filled.clear();
        self.filled.extend_from_slice(&self.child_start);
        for node in 1..nodes {
            let parent = self.parent[node];
            if parent != UNKNOWN {
                self.children[self.filled[parent as usize] as usize] = node as u32;
                self.filled[parent as usize] += 1;
            }
        }
        // Breadth first from the root: nodes in a cycle or under an
        // unknown parent are never reached.
        self.order.clear();
        self.order.push(ROOT);
        self.in_tree.clear();
        self.in_tree.resize(nodes, false);
        self.in_tree[ROOT as usize] = true;
        let mut next = 0;
        while next < self.order.len() {
            let node = self.order[next] as usize;
            next += 1;
            for child_index in self.child_start[node]..self.child_start[node + 1] {
                let child = self.children[child_index as usize];
                self.in_tree[child as usize] = true;
                self.order.push(child);
            }
        }
        // Subtree sizes bottom up, then pre-order positions top down: each
        // child starts right after its parent and its earlier siblings.
        self.size.clear();
        self.size.resize(nodes, 1);
        for &node in self.order.iter().rev() {
            let parent = self.parent[node as usize];
            if node != ROOT && parent != UNKNOWN {
                self.size[parent as usize] += self.size[node as usize];
            }
        }
        self.preorder.clear();
        self.preorder.resize(nodes, 0);
        for &node in &self.order {
            let mut next = self.preorder[node as usize] + 1;
            for &child in children_of(&self.child_start, &self.children, node) {
                self.preorder[child as usize] = next;
                next += self.size[child as usize];
            }
        }
    }

    fn children_of(&self, node: u32) -> &[u32] {
        children_of(&self.child_start, &self.children, node)
    }

    /// The known node holding `value` (`None`: the root), if any.
    fn known(&self, value: Option<Value>) -> Option<u32> {
        let node = match value {
            None => ROOT,
            Some(value) => *self.node_of.get(&value)?,
        };
        self.in_tree[node as usize].then_some(node)
    }

    fn aggregate(&mut self, ops: &[HistoryOp], finals: impl Iterator<Item = Option<Value>>) {
        let nodes = self.op_of.len();
        self.own.clear();
        self.own.resize(nodes, Aggregate::EMPTY);
        for (node, &op) in self.op_of.iter().enumerate().skip(1) {
            let op = &ops[op as usize];
            if let Some(responded) = op.responded {
                let own = &mut self.own[node];
                own.first_ack = (responded.as_ns(), node as u32);
                own.last_ack = responded.as_ns();
                own.last_activity = op.invoked.as_ns();
            }
        }
        self.seen.clear();
        self.seen.resize(nodes, false);
        for op in ops.iter().filter(|op| op.responded.is_some()) {
            if let Some(&node) = op.observed.and_then(|value| self.node_of.get(&value)) {
                self.seen[node as usize] = true;
            }
            if let Some(node) = self.known(op.observed) {
                let own = &mut self.own[node as usize];
                own.last_activity = own.last_activity.max(op.invoked.as_ns());
            }
        }
        for value in finals {
            if let Some(node) = self.known(value) {
                self.own[node as usize].finals += 1;
            }
        }
        self.subtree.clear();
        self.subtree.extend_from_slice(&self.own);
        for &node in self.order.iter().rev() {
            let parent = self.parent[node as usize];
            if parent != UNKNOWN {
                let child = self.subtree[node as usize];
                self.subtree[parent as usize].merge(&child);
            }
        }
        // Top down: a child's side is its parent's side plus its siblings'
        // subtrees: the siblings before it (merged as the loop goes) and
        // those after it (suffix merges), so a fork of k writes costs O(k).
        self.side.clear();
        self.side.resize(nodes, Aggregate::EMPTY);
        for &node in &self.order {
            let children = children_of(&self.child_start, &self.children, node);
            if children.is_empty() {
                continue;
            }
            self.suffix.clear();
            self.suffix.resize(children.len() + 1, Aggregate::EMPTY);
            for (i, &child) in children.iter().enumerate().rev() {
                let mut merged = self.suffix[i + 1];
                merged.merge(&self.subtree[child as usize]);
                self.suffix[i] = merged;
            }
            let mut before = self.side[node as usize];
            for (i, &child) in children.iter().enumerate() {
                let mut side = before;
                side.merge(&self.suffix[i + 1]);
                self.side[child as usize] = side;
                before.merge(&self.subtree[child as usize]);
            }
        }
    }

    fn report(&mut self, key: Key, ops: &[HistoryOp], outcomes: &mut Outcomes) {
        let cmd_of = |node: u32| ops[self.op_of[node as usize] as usize].cmd;
        for &node in &self.order {
            let children = children_of(&self.child_start, &self.children, node);
            if node != ROOT {
                let (subtree, side) = (&self.subtree[node as usize], &self.side[node as usize]);
                let acked_ns = self.own[node as usize].last_ack;
                let moved_on = side.finals > 0 || side.last_activity > acked_ns;
                if subtree.finals == 0 && moved_on {
                    outcomes.push(Outcome::AckedWriteLost { key, cmd: cmd_of(node) });
                }
            }
            if children.len() < 2 {
                continue;
            }
            for &extra in &children[1..] {
                outcomes.push(Outcome::DivergentAck { key, cmds: [cmd_of(children[0]), cmd_of(extra)] });
            }
            self.spans.clear();
            self.spans.extend(children.iter().map(|&child| {
                let branch = &self.subtree[child as usize];
                (branch.first_ack.0, branch.last_ack, child)
            }));
            self.spans.sort_unstable();
            let mut latest_end = (self.spans[0].1, self.spans[0].2);
            for &(start, end, child) in &self.spans[1..] {
                if start <= latest_end.0 {
                    outcomes.push(Outcome::SplitBrain { key, cmds: [cmd_of(latest_end.1), cmd_of(child)] });
                    break;
                }
                latest_end = latest_end.max((end, child));
            }
        }
        for op in ops.iter().filter(|op| op.written.is_none()) {
            let Some(responded) = op.responded else { continue };
            debug_assert!(responded >= op.invoked, "a read answers after it starts");
            let Some(node) = self.known(op.observed) else { continue };
            // The earliest acknowledged write newer than the read's value.
            let mut missed = (u64::MAX, UNKNOWN);
            for &child in self.children_of(node) {
                missed = missed.min(self.subtree[child as usize].first_ack);
            }
            if missed.0 < op.invoked.as_ns() {
                outcomes.push(Outcome::StaleRead { key, read: op.cmd, missed: cmd_of(missed.1) });
            }
        }
    }
}

/// `node`'s children in the compressed rows `child_start`/`children`.
fn children_of<'a>(child_start: &[u32], children: &'a [u32], node: u32) -> &'a [u32] {
    &children[child_start[node as usize] as usize..child_start[node as usize + 1] as usize]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::id::ClientId;
    use crate::time::Time;

    fn cmd(client: u32) -> CommandId {
        CommandId { client: ClientId(client), seq: 1 }
    }

    /// A write of `value` by client `value` that replaced `before`.
    fn write(value: Value, before: Option<Value>, invoked: u64, responded: u64) -> HistoryOp {
        HistoryOp {
            key: 7,
            cmd: cmd(value as u32),
            written: Some(value),
            observed: before,
            invoked: Time::from_ns(invoked),
            responded: Some(Time::from_ns(responded)),
        }
    }

    fn pending(value: Value, invoked: u64) -> HistoryOp {
        HistoryOp { observed: None, responded: None, ..write(value, None, invoked, 0) }
    }

    fn read(client: u32, observed: Option<Value>, invoked: u64, responded: u64) -> HistoryOp {
        HistoryOp { cmd: cmd(client), written: None, ..write(0, observed, invoked, responded) }
    }

    /// The events of `ops` with survivors p1, p2, ... holding `finals`,
    /// none having executed anything (rollbacks are tested apart).
    fn outcomes(ops: &[HistoryOp], finals: &[Option<Value>]) -> Outcomes {
        outcomes_executed(ops, finals, &|_, _| false)
    }

    fn outcomes_executed(
        ops: &[HistoryOp],
        finals: &[Option<Value>],
        executed: &dyn Fn(ProcessId, CommandId) -> bool,
    ) -> Outcomes {
        let finals: Vec<(ProcessId, Option<Value>)> =
            finals.iter().enumerate().map(|(i, &value)| (ProcessId(i as u32 + 1), value)).collect();
        let mut outcomes = Outcomes::default();
        OutcomeDetector::new().check_key(ops, &finals, executed, &mut outcomes);
        outcomes
    }

    /// AckedWriteLost, StaleRead, DivergentAck, SplitBrain.
    fn counts(outcomes: &Outcomes) -> [u64; 4] {
        [OutcomeKind::AckedWriteLost, OutcomeKind::StaleRead, OutcomeKind::DivergentAck, OutcomeKind::SplitBrain]
            .map(|kind| outcomes.count(kind))
    }

    #[test]
    fn a_linearizable_history_has_no_outcome() {
        let ops = [
            write(10, None, 0, 10),
            read(100, Some(10), 11, 12),
            write(20, Some(10), 11, 20),
            read(101, Some(20), 21, 30),
            read(102, Some(10), 15, 30), // concurrent with w(20): not stale
        ];
        let found = outcomes(&ops, &[Some(20), Some(20), Some(10)]);
        assert_eq!(counts(&found), [0; 4], "{:?}", found.kept());
    }

    #[test]
    fn a_stale_read_is_detected_and_a_fresh_one_is_not() {
        // w(20) was acknowledged at 20; a read invoked at 25 returns 10.
        let stale = outcomes(&[write(10, None, 0, 10), write(20, Some(10), 11, 20), read(100, Some(10), 25, 30)], &[]);
        assert_eq!(counts(&stale), [0, 1, 0, 0]);
        assert_eq!(
            stale.kept()[0].to_string(),
            "StaleRead: key 7: read c100#1 missed write c20#1, acknowledged before the read started"
        );
        let fresh = outcomes(&[write(10, None, 0, 10), write(20, Some(10), 11, 20), read(100, Some(20), 25, 30)], &[]);
        assert_eq!(counts(&fresh), [0; 4]);
        // The initial value read after a write was acknowledged.
        let initial = outcomes(&[write(10, None, 0, 10), read(100, None, 11, 12)], &[]);
        assert_eq!(counts(&initial), [0, 1, 0, 0]);
    }

    /// primary-backup.md §10 E4 (F3): both sides of a partition
    /// acknowledge a write replacing value 4 at about 2000; after the heal
    /// every replica ends with R1's side.
    #[test]
    fn primary_backup_10_e4_split_brain_loses_the_old_primarys_write() {
        let ops = [
            write(4, None, 0, 10),
            write(50, Some(4), 1990, 2000),  // x = a at R0, epoch 0
            write(60, Some(4), 1995, 2005),  // x = b at R1, epoch 1
            read(100, Some(50), 2100, 2110), // R0's side reads its own write
            read(102, Some(4), 2150, 2160),  // an R0-side read of the old value
            write(51, Some(50), 2390, 2400), // R0's side goes on
            write(61, Some(60), 2200, 2300), // and so does R1's
            read(101, Some(61), 5100, 5200), // after the heal
        ];
        let found = outcomes(&ops, &[Some(61), Some(61), Some(61)]);
        assert_eq!(counts(&found), [2, 1, 1, 1], "{:?}", found.kept());
        let text: Vec<String> = found.kept().iter().map(ToString::to_string).collect();
        assert_eq!(
            text,
            [
                "DivergentAck: key 7: writes c50#1 and c60#1 both replaced the same value and were both acknowledged",
                "SplitBrain: key 7: the branches of writes c50#1 and c60#1 were acknowledged at overlapping times",
                "AckedWriteLost: key 7: write c50#1 was acknowledged, then the key went on without it",
                "AckedWriteLost: key 7: write c51#1 was acknowledged, then the key went on without it",
                "StaleRead: key 7: read c102#1 missed write c50#1, acknowledged before the read started",
            ]
        );
    }

    /// primary-backup.md F1 with a later write: the primary acknowledged
    /// w(50) and crashed; the promoted backup never had it, and a write
    /// long after the failover replaced the value before it. A fork, but
    /// not a split brain: the dead branch ended before the other started.
    #[test]
    fn a_crashed_primarys_lost_write_is_lost_without_split_brain() {
        let ops = [write(4, None, 0, 10), write(50, Some(4), 20, 30), write(60, Some(4), 1500, 1600)];
        let found = outcomes(&ops, &[Some(60), Some(60)]);
        assert_eq!(counts(&found), [1, 0, 1, 0], "{:?}", found.kept());
    }

    #[test]
    fn a_survivor_that_has_not_caught_up_loses_nothing() {
        // The replica that answered w(20) crashed; the survivor still holds
        // 10, older than 20, and nothing skipped over w(20).
        let found = outcomes(&[write(10, None, 0, 10), write(20, Some(10), 11, 20)], &[Some(10)]);
        assert_eq!(counts(&found), [0; 4]);
    }

    #[test]
    fn a_later_observation_of_another_branch_loses_a_write_without_survivor_values() {
        // No survivor value is known (they hold an unanswered write's
        // value); a read after w(50)'s ack saw the other branch.
        let ops = [write(50, None, 0, 10), write(60, None, 0, 12), read(100, Some(60), 20, 30), pending(70, 40)];
        let found = outcomes(&ops, &[Some(70)]);
        assert_eq!(found.acked_writes_lost, 1, "{:?}", found.kept());
        assert!(found.kept().contains(&Outcome::AckedWriteLost { key: 7, cmd: cmd(50) }), "{:?}", found.kept());
    }

    #[test]
    fn values_below_an_unanswered_write_are_not_judged() {
        // w(30) never answered; w(40) replaced it, and a read of 40 came
        // after w(20) was acknowledged: 40's lineage is unknown, so no
        // stale read and no lost write are claimed.
        let ops = [
            write(10, None, 0, 10),
            write(20, Some(10), 11, 20),
            pending(30, 21),
            write(40, Some(30), 25, 35),
            read(100, Some(40), 40, 50),
        ];
        let found = outcomes(&ops, &[Some(40)]);
        assert_eq!(counts(&found), [0; 4], "{:?}", found.kept());
    }

    #[test]
    fn overlapping_branches_are_a_split_brain_and_sequential_ones_are_not() {
        let overlapping = [write(50, None, 0, 100), write(51, Some(50), 150, 400), write(60, None, 200, 300)];
        assert_eq!(counts(&outcomes(&overlapping, &[Some(60)])), [2, 0, 1, 1]);
        let sequential = [write(50, None, 0, 100), write(60, None, 200, 300)];
        assert_eq!(counts(&outcomes(&sequential, &[Some(60)])), [1, 0, 1, 0]);
        // Invoked before the dead branch's last acknowledgement, but
        // acknowledged after it (a retry after a crash): not overlapping.
        let retried = [write(50, None, 0, 100), write(60, None, 50, 300)];
        assert_eq!(counts(&outcomes(&retried, &[Some(60)])), [1, 0, 1, 0]);
    }

    #[test]
    fn a_three_way_fork_loses_the_branches_the_survivors_do_not_hold() {
        let ops = [
            write(50, None, 0, 10),
            write(60, None, 100, 110),
            write(61, Some(60), 120, 130),
            write(70, None, 200, 210),
            read(100, Some(61), 300, 310),
        ];
        let found = outcomes(&ops, &[Some(70), Some(61)]);
        // 50 is on no survivor's line; 60, 61 and 70 are each held by one.
        assert_eq!(counts(&found), [1, 0, 2, 0], "{:?}", found.kept());
        assert!(found.kept().contains(&Outcome::AckedWriteLost { key: 7, cmd: cmd(50) }));
        let only_70 = outcomes(&ops, &[Some(70)]);
        assert_eq!(only_70.acked_writes_lost, 3, "{:?}", only_70.kept());
    }

    /// primary-backup.md §10 E4 as the replicas executed it: R0 (p1)
    /// executed its side's writes 50 and 51, then R1's 60 and 61 after
    /// the heal; p2 and p3 only R1's. Everyone ends with 61.
    #[test]
    fn primary_backup_10_e4_the_old_primary_rolled_back_its_sides_writes() {
        let ops = [
            write(4, None, 0, 10),
            write(50, Some(4), 1990, 2000),
            write(51, Some(50), 2390, 2400),
            write(60, Some(4), 1995, 2005),
            write(61, Some(60), 2200, 2300),
        ];
        let executed =
            |replica: ProcessId, cmd: CommandId| replica == ProcessId(1) || ![50, 51].contains(&cmd.client.0);
        let found = outcomes_executed(&ops, &[Some(61), Some(61), Some(61)], &executed);
        assert_eq!((found.rolled_back_acked, found.rolled_back_unacked, found.ghost_writes), (2, 0, 0));
        assert!(found.rolled_back_at(cmd(50), ProcessId(1)) && found.rolled_back_at(cmd(51), ProcessId(1)));
        assert!(
            found.kept().iter().any(|o| o.to_string()
                == "RolledBack{was_acked=true}: key 7: p1 executed write c50#1, and its final state does not reflect it"),
            "{:?}",
            found.kept()
        );
        // A replica still holding the write (nothing overwrote it) shows
        // no rollback: the executor cannot undo, so the store keeps it.
        let kept = outcomes_executed(&ops[..3], &[Some(51), Some(4)], &|replica, _| replica == ProcessId(1));
        assert_eq!(kept.rolled_back_acked, 0);
    }

    #[test]
    fn an_executed_unanswered_write_is_rolled_back_or_a_ghost() {
        // w(30) never answered. p1 executed it, then ended on 20, a
        // branch that never saw it: RolledBack{was_acked=false}.
        let ops = [write(10, None, 0, 10), pending(30, 15), write(20, Some(10), 11, 20)];
        let found = outcomes_executed(&ops, &[Some(20)], &|_, _| true);
        assert_eq!((found.rolled_back_unacked, found.ghost_writes), (1, 0), "{:?}", found.kept());
        // w(30) kept by a survivor: a ghost write, and no rollback there.
        let ghost = outcomes_executed(&ops, &[Some(30), Some(20)], &|replica, _| replica == ProcessId(1));
        assert_eq!((ghost.rolled_back_unacked, ghost.ghost_writes), (0, 1), "{:?}", ghost.kept());
        // Replaced by an answered write: observed, so a ghost too.
        let replaced = [write(10, None, 0, 10), pending(30, 15), write(40, Some(30), 20, 30)];
        assert_eq!(outcomes(&replaced, &[]).ghost_writes, 1);
        // Never seen anywhere: not a ghost (it may never have happened).
        assert_eq!(outcomes(&ops, &[Some(20)]).ghost_writes, 0);
    }

    #[test]
    fn a_cycle_of_replaced_values_is_not_judged() {
        let ops = [write(50, Some(60), 0, 10), write(60, Some(50), 0, 10), read(100, Some(50), 20, 30)];
        assert_eq!(counts(&outcomes(&ops, &[Some(50)])), [0; 4]);
    }
}
