//! Primary/backup messages (primary-backup.md §3). The sender is the
//! `from` of `Protocol::handle`, so no message repeats it.

use super::Epoch;
use sim_core::protocol::MessageSize;
use sim_core::{Command, ProcessId};
use std::sync::Arc;

/// One log entry: the epoch of the primary that appended it, the request
/// (standing in for the spec's delta: the simulator's commands are
/// deterministic, so shipping the command is shipping its effect) and the
/// process whose client sent it (the one that answers the client).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// Epoch of the primary that appended the entry.
    pub epoch: Epoch,
    /// The request.
    pub cmd: Arc<Command>,
    /// The process that answers its client.
    pub origin: ProcessId,
}

/// Primary/backup messages.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Message {
    /// REQUEST, forwarded by the client's process to the primary.
    Request {
        /// The request.
        cmd: Arc<Command>,
        /// The process whose client sent it.
        origin: ProcessId,
    },
    /// REPLICATE (or, with no entries, HEARTBEAT): entries `prev_seq + 1 ..`.
    Replicate {
        /// The primary's epoch.
        epoch: Epoch,
        /// Seq before the first entry.
        prev_seq: u64,
        /// Epoch of the entry at `prev_seq` at the primary (0 if none).
        prev_epoch: Epoch,
        /// The entries.
        entries: Vec<Entry>,
        /// Highest seq the primary may have answered a client for: every
        /// entry up to here may be applied (the spec's `primary_applied`).
        commit: u64,
    },
    /// REPLICATE_ACK: the backup holds the primary's log up to `acked_seq`.
    ReplicateAck {
        /// The backup's epoch.
        epoch: Epoch,
        /// Highest seq held.
        acked_seq: u64,
    },
    /// Synchronous modes: entries up to `commit` may be applied and their
    /// clients answered (sent at commit to the processes whose clients
    /// wait; otherwise it rides on REPLICATE).
    Commit {
        /// The primary's epoch.
        epoch: Epoch,
        /// Highest committed seq.
        commit: u64,
    },
    /// NEW_PRIMARY: the sender is primary of `epoch` (also the answer of a
    /// primary to a message from an older epoch, §7 step 2).
    NewPrimary {
        /// The new epoch.
        epoch: Epoch,
        /// The primary's last seq.
        last_seq: u64,
    },
    /// SYNC_REQ: a node that stepped down or lags asks the primary where
    /// their logs agree. `runs` lists, per epoch present in the log, the
    /// last seq holding an entry of that epoch (ascending).
    SyncReq {
        /// The epoch the node adopted.
        epoch: Epoch,
        /// `(epoch, last seq of that epoch)` runs of the node's log.
        runs: Vec<(Epoch, u64)>,
    },
    /// SYNC_RESP: delete every entry after `truncate_to`, then append
    /// `entries`.
    SyncResp {
        /// The primary's epoch.
        epoch: Epoch,
        /// Last seq on which both logs agree.
        truncate_to: u64,
        /// The primary's entries after `truncate_to`.
        entries: Vec<Entry>,
        /// As in REPLICATE.
        commit: u64,
    },
    /// VOTE_REQ (AUTO_FENCED, under faults in sync mode): stand for
    /// primary of `epoch`.
    VoteReq {
        /// The epoch stood for.
        epoch: Epoch,
        /// The epoch of the primary the candidate last synchronised with.
        accepted_epoch: Epoch,
        /// The candidate's last seq.
        last_seq: u64,
    },
    /// VOTE.
    Vote {
        /// The epoch voted on.
        epoch: Epoch,
        /// Whether the vote was granted.
        granted: bool,
    },
}

const HEADER_BYTES: u64 = 16;

fn entries_size(entries: &[Entry]) -> u64 {
    entries.iter().map(|e| 8 + 4 + e.cmd.size_bytes()).sum()
}

impl MessageSize for Message {
    fn size_bytes(&self) -> u64 {
        HEADER_BYTES
            + match self {
                Message::Request { cmd, .. } => 4 + cmd.size_bytes(),
                Message::Replicate { entries, .. } => 32 + entries_size(entries),
                Message::ReplicateAck { .. } | Message::Commit { .. } | Message::NewPrimary { .. } => 16,
                Message::SyncReq { runs, .. } => 8 + 16 * runs.len() as u64,
                Message::SyncResp { entries, .. } => 24 + entries_size(entries),
                Message::VoteReq { .. } => 24,
                Message::Vote { .. } => 9,
            }
    }
}
