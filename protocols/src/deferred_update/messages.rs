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
    pub readset: ReadSet,
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
        // delegate (4), attempt (4), snapshot (8), per read (key, version).
        self.cmd.size_bytes() + 16 + 16 * self.readset.len() as u64
    }

    fn from_client(_cmd: Arc<Command>) -> Option<Arc<Self>> {
        None
    }
}

/// Messages between replicas: only the abcast's (FPaxos ordering
/// certification requests). No vote round follows a delivery (§10.1).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Message {
    /// An abcast message (forward to the leader, phase 2, Chosen, leader
    /// change, catch-up, garbage collection).
    Abcast(fpaxos::Message<Certify>),
}

impl MessageSize for Message {
    fn size_bytes(&self) -> u64 {
        match self {
            Message::Abcast(msg) => msg.size_bytes(),
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
}
