//! Deferred update replication's wire format (deferred-update.md §3): the
//! CERTIFY request the abcast orders, and the abcast's own messages.
//! TX_REQ and TX_REPLY are the engine's client submissions and replies.

use crate::fpaxos;
use crate::shared::payload::Payload;
use sim_core::command::Key;
use sim_core::protocol::MessageSize;
use sim_core::{Command, CommandId, ProcessId};
use smallvec::SmallVec;
use std::sync::Arc;

/// The keys a transaction read, each with the version it saw (the
/// delivery position of its last committed writer, 0 if never written).
pub type ReadSet = SmallVec<[(Key, u64); 1]>;

/// `CERTIFY(txid, delegate, snapshot, readset, writeset)` (§3, §4 step 3):
/// what the delegate atomically broadcasts for an update transaction. The
/// writeset is the command's writes; the txid is the command's id, with
/// the delegate and its attempt telling one execution from another.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Certify {
    /// The transaction (its id is the txid; its writes the writeset).
    pub cmd: Arc<Command>,
    /// The replica that executed it and answers its client.
    pub delegate: ProcessId,
    /// The delegate's execution attempt, from 1 (§4 step 7: an aborted
    /// transaction is executed again on a newer snapshot).
    pub attempt: u32,
    /// Deliveries the delegate had processed when it executed (§4 step 1).
    pub snapshot: u64,
    /// What it read: every key it touches (a put returns the value it
    /// replaces, so it reads its key too). Single-use keys are left out:
    /// only this transaction ever touches one, so it cannot conflict.
    /// Empty when `ordered`.
    pub readset: ReadSet,
    /// Executed at its delivery position rather than on the delegate's
    /// snapshot (after `MAX_RETRIES` aborts; see `DeferredUpdate::retry`):
    /// it reads the store as every replica has it at that position, so
    /// it has nothing to certify and commits.
    pub ordered: bool,
}

impl Payload for Certify {
    type Key = (CommandId, ProcessId, u32);

    fn command(&self) -> &Command {
        &self.cmd
    }

    fn key(&self) -> Self::Key {
        (self.cmd.id, self.delegate, self.attempt)
    }

    /// Every copy is ordered: certification deduplicates by txid (§7.3),
    /// and a later attempt of an aborted transaction must be ordered.
    fn dedup_id(&self) -> Option<CommandId> {
        None
    }

    fn size_bytes(&self) -> u64 {
        // delegate (4), attempt (4), snapshot (8), ordered (1), per read
        // (key, version).
        self.cmd.size_bytes() + 17 + 16 * self.readset.len() as u64
    }

    fn from_client(_cmd: Arc<Command>) -> Option<Arc<Self>> {
        None
    }
}

/// Messages between replicas: the abcast's (FPaxos ordering
/// certification requests), and the state transfer of a restarted replica
/// (§7.4). No vote round follows a delivery (§10.1).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Message {
    /// An abcast message (forward to the leader, phase 2, Chosen, leader
    /// change, catch-up, garbage collection).
    Abcast(fpaxos::Message<Certify>),
    /// `STATE_REQ` (§3, §7.4): a restarted replica whose durable store is
    /// at position `from_slot − 1` asks a peer for what follows.
    StateRequest {
        /// The first delivery it lacks.
        from_slot: u64,
    },
    /// `STATE` (§3, §7.4): the peer's position `delivered` (the snapshot
    /// the requester must reach before it serves clients again) and the
    /// deliveries it holds from `from_slot` on, in slot order (at most a
    /// batch; the requester asks again for the rest).
    State {
        /// Deliveries the peer had processed.
        delivered: u64,
        /// (slot, request or no-op), from the requested slot.
        slots: Vec<(u64, fpaxos::Value<Certify>)>,
    },
}

impl MessageSize for Message {
    fn size_bytes(&self) -> u64 {
        match self {
            Message::Abcast(msg) => msg.size_bytes(),
            // Tag and sender (16) plus the slot.
            Message::StateRequest { .. } => 16 + 8,
            Message::State { slots, .. } => {
                let slot_bytes: u64 = slots.iter().map(|(_, v)| 8 + v.as_ref().map_or(1, |c| c.size_bytes())).sum();
                16 + 8 + slot_bytes
            }
        }
    }
}

/// Timers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Timer {
    /// One of the abcast's timers.
    Abcast(fpaxos::Timer),
    /// `RETRY_BACKOFF` after an abort, or (failure detection only)
    /// `CLIENT_RETRY` without an outcome: execute this transaction again.
    Retry(CommandId),
    /// A restarted replica not caught up yet asks its peers again (a
    /// request or its answer may be lost, or every peer behind a
    /// partition).
    StateRetry,
}
