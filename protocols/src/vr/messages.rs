//! VR messages (vr.md §3). The sending replica is the `from` of
//! `Protocol::handle`, so no message repeats it.

use super::View;
use super::epochs::EpochMessage;
use sim_core::protocol::MessageSize;
use sim_core::{Command, CommandId, ProcessId, Time};
use std::sync::Arc;

/// One log entry: a client request and the process whose client sent it
/// (the one the primary answers at commit).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// The request.
    pub cmd: Arc<Command>,
    /// The process that answers its client.
    pub origin: ProcessId,
}

/// A log shipped whole (DVC, START_VIEW, RECOVERY_RESPONSE) or as a
/// suffix (NEW_STATE): entries `base + 1 ..`, plus the sender's commit
/// number. The prefix up to `base` was executed by every replica.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogSnapshot {
    /// Op number before the first entry.
    pub base: u64,
    /// Entries `base + 1 ..= base + len`.
    pub entries: Vec<Entry>,
    /// The sender's commit number.
    pub commit: u64,
}

impl LogSnapshot {
    /// The op number of the last entry.
    pub fn op(&self) -> u64 {
        self.base + self.entries.len() as u64
    }

    pub(super) fn size_bytes(&self) -> u64 {
        16 + self.entries.iter().map(|e| 4 + e.cmd.size_bytes()).sum::<u64>()
    }
}

/// VR messages.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Message {
    /// REQUEST: a client request, forwarded by the process its client
    /// talks to (`origin`) towards the primary.
    Request {
        /// The request.
        cmd: Arc<Command>,
        /// The process that answers its client.
        origin: ProcessId,
    },
    /// PREPARE (one request; batching is off).
    Prepare {
        /// The primary's view.
        view: View,
        /// The entry's op number.
        op: u64,
        /// The entry.
        entry: Entry,
        /// The primary's commit number.
        commit: u64,
        /// Every replica executed up to here: the prefix may be discarded.
        stable: u64,
        /// The primary's local clock when it sent this (§10a lease stamp).
        sent_at: Time,
    },
    /// PREPARE with a batch (vr.md §12): `entries` take the consecutive
    /// op numbers `first_op ..`. Sent instead of [`Message::Prepare`] when
    /// batching is on.
    PrepareBatch {
        /// The primary's view.
        view: View,
        /// The op number of the first entry.
        first_op: u64,
        /// The entries, in op order.
        entries: Vec<Entry>,
        /// The primary's commit number.
        commit: u64,
        /// Every replica executed up to here: the prefix may be discarded.
        stable: u64,
        /// The primary's local clock when it sent this (§10a lease stamp).
        sent_at: Time,
    },
    /// PREPARE_OK, cumulative: the sender holds every entry up to `op`.
    PrepareOk {
        /// The view.
        view: View,
        /// The sender's last op.
        op: u64,
        /// The sender executed up to here (for log garbage collection).
        executed: u64,
        /// The latest lease stamp the sender promised on in this view
        /// (§10a; zero if none).
        echo: Time,
    },
    /// COMMIT: idle heartbeat, and the primary's answer to the process
    /// whose client's request committed.
    Commit {
        /// The primary's view.
        view: View,
        /// The primary's commit number.
        commit: u64,
        /// Every replica executed up to here.
        stable: u64,
        /// The primary's local clock when it sent this (§10a lease stamp).
        sent_at: Time,
    },
    /// COMMIT to a witness (vr.md §11), every `HB` and when its client's
    /// request commits: it carries the committed entries `first_op ..`
    /// the witness was not sent yet, which it executes (to answer its own
    /// clients) and discards at once; it keeps no log.
    WitnessCommit {
        /// The primary's view.
        view: View,
        /// The primary's commit number.
        commit: u64,
        /// The op number of the first entry.
        first_op: u64,
        /// Committed entries, in op order.
        entries: Vec<Entry>,
        /// Every replica executed up to here.
        stable: u64,
        /// The primary's local clock when it sent this (§10a lease stamp).
        sent_at: Time,
    },
    /// The primary promotes a witness to a full replica (vr.md §11: a
    /// NEW_STATE with the full log); the witness acknowledges it with a
    /// PREPARE_OK and receives PREPAREs from then on.
    Promote {
        /// The primary's view.
        view: View,
        /// The primary's whole log and commit number.
        log: LogSnapshot,
    },
    /// COMMIT_ACK (§10a, with leased reads): a backup echoes a COMMIT's
    /// stamp.
    CommitAck {
        /// The view.
        view: View,
        /// The stamp echoed.
        echo: Time,
    },
    /// The primary's answer to a read-only request under its lease
    /// (§10c): the requester's process serves the read once it executed
    /// every op up to `commit`.
    LeaseRead {
        /// The read.
        id: CommandId,
        /// The primary's commit number when it answered.
        commit: u64,
    },
    /// START_VIEW_CHANGE.
    StartViewChange {
        /// The view being started.
        view: View,
    },
    /// DO_VIEW_CHANGE, to the new primary.
    DoViewChange {
        /// The view being started.
        view: View,
        /// The latest view in which the sender was Normal.
        last_normal_view: View,
        /// The sender's log and commit number (empty for a witness).
        log: LogSnapshot,
        /// The sender is a witness (§11): its DVC counts towards the
        /// quorum but its (empty) log is never selected.
        is_witness: bool,
    },
    /// START_VIEW, from the new primary.
    StartView {
        /// The new view.
        view: View,
        /// The primary's log and commit number.
        log: LogSnapshot,
    },
    /// REQUEST_START_VIEW: the sender missed `view`'s START_VIEW (§16.1).
    RequestStartView {
        /// The view.
        view: View,
    },
    /// GET_STATE: the sender's log ends at `op`.
    GetState {
        /// The view.
        view: View,
        /// The sender's last op.
        op: u64,
    },
    /// NEW_STATE: the entries after the requester's op.
    NewState {
        /// The view.
        view: View,
        /// The entries after `log.base` (= the requester's op).
        log: LogSnapshot,
    },
    /// RECOVERY from a restarted replica.
    Recovery {
        /// The restarted replica's fresh nonce.
        nonce: u64,
    },
    /// RECOVERY_RESPONSE; only the primary of `view` includes its log.
    RecoveryResponse {
        /// The responder's view.
        view: View,
        /// The nonce echoed.
        nonce: u64,
        /// The primary's log.
        log: Option<LogSnapshot>,
    },
    /// The epoch transition (§13).
    Epoch(EpochMessage),
}

/// Fixed per-message overhead: a tag and the sender, plus framing.
const HEADER_BYTES: u64 = 16;

impl MessageSize for Message {
    fn size_bytes(&self) -> u64 {
        HEADER_BYTES
            + match self {
                Message::Request { cmd, .. } => 4 + cmd.size_bytes(),
                Message::Prepare { entry, .. } => 40 + 4 + entry.cmd.size_bytes(),
                Message::PrepareBatch { entries, .. } => {
                    48 + entries.iter().map(|e| 4 + e.cmd.size_bytes()).sum::<u64>()
                }
                Message::WitnessCommit { entries, .. } => {
                    40 + entries.iter().map(|e| 4 + e.cmd.size_bytes()).sum::<u64>()
                }
                Message::Promote { log, .. } => 8 + log.size_bytes(),
                Message::PrepareOk { .. } | Message::Commit { .. } => 32,
                Message::CommitAck { .. } => 16,
                Message::LeaseRead { .. } => 20,
                Message::StartViewChange { view } | Message::RequestStartView { view } => {
                    let _ = view;
                    8
                }
                Message::DoViewChange { log, .. } => 17 + log.size_bytes(),
                Message::StartView { log, .. } | Message::NewState { log, .. } => 8 + log.size_bytes(),
                Message::GetState { .. } => 16,
                Message::Recovery { .. } => 8,
                Message::RecoveryResponse { log, .. } => 17 + log.as_ref().map_or(0, LogSnapshot::size_bytes),
                Message::Epoch(msg) => msg.size_bytes(),
            }
    }
}
