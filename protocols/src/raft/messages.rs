//! Raft messages (raft.md §3). The sender is the `from` of
//! `Protocol::handle`, so no message repeats it.

use super::Term;
use super::membership::Configuration;
use sim_core::protocol::MessageSize;
use sim_core::{Command, CommandId, ProcessId};
use std::sync::Arc;

/// One log entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// The term in which the leader appended it.
    pub term: Term,
    /// The client command, or `None` for a new leader's no-op (§5.3).
    pub cmd: Option<Arc<Command>>,
    /// The process that answers the command's client.
    pub origin: ProcessId,
    /// A configuration entry (§10 membership change, `cmd` is `None`):
    /// in force from when it is appended.
    pub config: Option<Configuration>,
}

/// Raft messages.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Message {
    /// A client command forwarded by the process its client talks to
    /// (`forward = true`, §6.1).
    Request {
        /// The command.
        cmd: Arc<Command>,
        /// The process that answers its client.
        origin: ProcessId,
    },
    /// RequestVote (§5.1), or a pre-vote request (§8.3).
    RequestVote {
        /// The candidate's term; for a pre-vote, the term it would stand
        /// for (its own plus one), which no receiver adopts.
        term: Term,
        /// The candidate's last log index.
        last_log_index: u64,
        /// The term of the candidate's last entry.
        last_log_term: Term,
        /// A pre-vote (§8.3): "would you vote for me?", with no state
        /// change at the receiver.
        pre_vote: bool,
    },
    /// RequestVoteReply.
    RequestVoteReply {
        /// The voter's term; for a granted pre-vote, the term asked about.
        term: Term,
        /// Whether the vote was granted.
        granted: bool,
        /// An answer to a pre-vote.
        pre_vote: bool,
    },
    /// AppendEntries (§6.2), also the heartbeat.
    AppendEntries {
        /// The leader's term.
        term: Term,
        /// Index of the entry before `entries`.
        prev_log_index: u64,
        /// Its term.
        prev_log_term: Term,
        /// Entries from `prev_log_index + 1`.
        entries: Vec<Entry>,
        /// The leader's commit index.
        leader_commit: u64,
        /// Every server holds and the leader committed up to here: the
        /// prefix may be discarded (garbage collection, not in the paper).
        stable: u64,
        /// The leader's latest heartbeat round (§9.2b), echoed back.
        hb_seq: u64,
    },
    /// AppendEntriesReply (§6.3 d and a).
    AppendEntriesReply {
        /// The follower's term.
        term: Term,
        /// Whether the consistency check passed.
        success: bool,
        /// On success, the index of the last entry the AE matched.
        match_index: u64,
        /// On failure, where the leader should resume (§6.3a hint).
        conflict_index: u64,
        /// On failure, the term of the follower's conflicting entry.
        conflict_term: Option<Term>,
        /// The `hb_seq` of the AppendEntries answered (§9.2c).
        hb_seq: u64,
    },
    /// A process asks the leader for a read index for its client's read
    /// (§9.4; also the lease read of §9.3 served at the client's process).
    ReadIndexRequest {
        /// The read (the spec's req_id).
        id: CommandId,
    },
    /// The leader's answer: the read may be served once `read_index` has
    /// been applied.
    ReadIndexReply {
        /// The read.
        id: CommandId,
        /// The leader's commit index when the read arrived.
        read_index: u64,
    },
}

/// Fixed per-message overhead: a tag and the sender, plus framing.
const HEADER_BYTES: u64 = 16;

impl MessageSize for Message {
    fn size_bytes(&self) -> u64 {
        HEADER_BYTES
            + match self {
                Message::Request { cmd, .. } => 4 + cmd.size_bytes(),
                Message::RequestVote { .. } => 25,
                Message::RequestVoteReply { .. } => 10,
                Message::AppendEntries { entries, .. } => {
                    48 + entries
                        .iter()
                        .map(|e| 12 + e.cmd.as_ref().map_or(0, |c| c.size_bytes()) + e.config.map_or(0, |_| 12))
                        .sum::<u64>()
                }
                Message::AppendEntriesReply { .. } => 42,
                Message::ReadIndexRequest { .. } => 12,
                Message::ReadIndexReply { .. } => 20,
            }
    }
}
