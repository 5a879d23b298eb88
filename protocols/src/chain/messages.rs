//! Chain replication messages (chain-replication.md §3). The sender is the
//! `from` of `Protocol::handle`; every server-to-server message carries the
//! `chain_version` it was sent under, for fencing (§1).

use super::master::{AcceptedConfig, Ballot};
use sim_core::protocol::MessageSize;
use sim_core::{Command, CommandId, Key, ProcessId, Time};
use std::sync::Arc;

/// One update: the request (standing in for the delta, since commands are
/// deterministic) and the process whose client sent it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// The request.
    pub cmd: Arc<Command>,
    /// The process that answers its client.
    pub origin: ProcessId,
}

/// Chain replication messages.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Message {
    /// UPDATE, forwarded by the client's process to the head.
    Request {
        /// The request.
        cmd: Arc<Command>,
        /// The process whose client sent it.
        origin: ProcessId,
    },
    /// FORWARD: S to S+.
    Forward {
        /// Chain version.
        version: u64,
        /// The update's seq.
        seq: u64,
        /// The update.
        entry: Entry,
    },
    /// ACK: cumulative, from the tail upstream.
    Ack {
        /// Chain version.
        version: u64,
        /// Every seq up to here is committed.
        seq: u64,
    },
    /// REPLY: the tail tells the client's process that every seq up to
    /// `seq` is committed (the engine answers the client when that process
    /// applies it).
    Reply {
        /// Chain version.
        version: u64,
        /// Committed up to here.
        seq: u64,
    },
    /// PING from the master.
    Ping,
    /// PONG to the master.
    Pong,
    /// CONFIG from the master: the chain, head first.
    Config {
        /// The new chain version.
        version: u64,
        /// Servers, head first.
        chain: Vec<ProcessId>,
    },
    /// LAST_SEQ_REQ: the master asks the new successor of a removed
    /// middle server how far it got.
    LastSeqReq {
        /// Chain version.
        version: u64,
    },
    /// LAST_SEQ: the answer.
    LastSeq {
        /// Chain version.
        version: u64,
        /// The sender's `hist_upto`.
        hist_upto: u64,
    },
    /// RESEND_FROM: the master tells the removed server's predecessor to
    /// re-forward from `from_seq` to its new successor.
    ResendFrom {
        /// Chain version.
        version: u64,
        /// First seq to re-forward.
        from_seq: u64,
    },
    /// Under faults: a server rejoining as the tail asks its predecessor
    /// for everything after its committed prefix (§7.5).
    Join {
        /// Chain version.
        version: u64,
        /// The joiner's `hist_upto`.
        hist_upto: u64,
    },
    /// Under faults: the master of `ballot` is alive (replaces PING).
    MasterPing {
        /// The master's ballot.
        ballot: Ballot,
    },
    /// Under faults: the answer, with the chain version installed.
    MasterPong {
        /// The sender's chain version.
        version: u64,
    },
    /// Master phase 1a: stand for master with `ballot`.
    Prepare {
        /// The ballot.
        ballot: Ballot,
    },
    /// Master phase 1b: the promise, with the latest accepted
    /// configuration.
    Promise {
        /// The ballot promised.
        ballot: Ballot,
        /// The latest configuration the sender accepted.
        accepted: AcceptedConfig,
    },
    /// Master phase 2a: accept this configuration.
    Accept {
        /// The master's ballot.
        ballot: Ballot,
        /// The chain version.
        version: u64,
        /// The chain, head first.
        chain: Vec<ProcessId>,
    },
    /// Master phase 2b.
    Accepted {
        /// The ballot.
        ballot: Ballot,
        /// The version accepted.
        version: u64,
    },
    /// CRAQ: the predecessor's log end when it answered a JOIN; the
    /// joining server serves reads once it holds that much.
    JoinUpto {
        /// The chain version.
        version: u64,
        /// The predecessor's `hist_upto`.
        hist_upto: u64,
    },
    /// CRAQ VERSION_QUERY (§9): the committed version of `keys`, asked of
    /// the tail for the read `id`.
    VersionQuery {
        /// The asker's chain version.
        version: u64,
        /// The read.
        id: CommandId,
        /// The keys it reads.
        keys: Vec<Key>,
    },
    /// CRAQ VERSION_REPLY: the seq of the tail's committed version.
    VersionReply {
        /// The read.
        id: CommandId,
        /// The seq.
        seq: u64,
    },
    /// CRAQ under faults: renew the asker's membership lease (`craq.rs`).
    LeaseReq {
        /// The asker's chain version.
        version: u64,
        /// The asker's clock when it asked (echoed).
        at: Time,
    },
    /// The lease asked at `at` is granted.
    LeaseGrant {
        /// Echoed from the LEASE_REQ.
        at: Time,
    },
}

const HEADER_BYTES: u64 = 16;

impl MessageSize for Message {
    fn size_bytes(&self) -> u64 {
        HEADER_BYTES
            + match self {
                Message::Request { cmd, .. } => 4 + cmd.size_bytes(),
                Message::Forward { entry, .. } => 20 + entry.cmd.size_bytes(),
                Message::Ack { .. } | Message::Reply { .. } | Message::LastSeq { .. } | Message::ResendFrom { .. } => {
                    16
                }
                Message::Ping | Message::Pong => 8,
                Message::Config { chain, .. } => 8 + 4 * chain.len() as u64,
                Message::LastSeqReq { .. } => 8,
                Message::Join { .. } | Message::JoinUpto { .. } | Message::MasterPong { .. } => 16,
                Message::MasterPing { .. } | Message::Prepare { .. } | Message::Accepted { .. } => 20,
                Message::Promise { accepted, .. } => 32 + 4 * accepted.chain.len() as u64,
                Message::Accept { chain, .. } => 28 + 4 * chain.len() as u64,
                Message::VersionQuery { keys, .. } => 20 + 8 * keys.len() as u64,
                Message::VersionReply { .. } | Message::LeaseReq { .. } => 20,
                Message::LeaseGrant { .. } => 8,
            }
    }
}
