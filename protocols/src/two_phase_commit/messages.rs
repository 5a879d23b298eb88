//! Two- and three-phase commit messages (two-phase-commit.md §3, §9). The
//! sender is the `from` of `Protocol::handle`, so no message repeats it.

use sim_core::protocol::MessageSize;
use sim_core::{Command, CommandId, ProcessId};
use std::fmt;
use std::sync::Arc;

/// A transaction id, `(C, counter)` (§4 step 1): one attempt of one client
/// command; a retry after an abort is a new transaction.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Txid {
    /// The coordinator that started it.
    pub coordinator: ProcessId,
    /// Its per-coordinator counter, from 1.
    pub counter: u64,
}

impl fmt::Debug for Txid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "T({},{})", self.coordinator, self.counter)
    }
}

/// A participant's state for one transaction (§2; §9 for 3PC's names).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TxnState {
    /// Voted YES, decision unknown (3PC: Uncertain).
    Prepared,
    /// 3PC only: PRE_COMMIT received ("committable").
    PreCommitted,
    /// Learned COMMIT and applied.
    Committed,
    /// Voted NO, learned ABORT, or refused the transaction during a
    /// termination round (it will never vote YES).
    Aborted,
}

impl TxnState {
    /// Decided (committed or aborted).
    pub fn is_decided(self) -> bool {
        matches!(self, TxnState::Committed | TxnState::Aborted)
    }
}

/// The answer to a DECISION_REQ (§3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The transaction committed.
    Commit,
    /// The transaction aborted (or never will commit).
    Abort,
    /// The replier is in doubt too.
    Unknown,
}

/// Two- and three-phase commit messages.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Message {
    /// CLIENT_REQ, forwarded by the client's process to the FIXED
    /// coordinator (classic README "Clients").
    Forward {
        /// The command.
        cmd: Arc<Command>,
    },
    /// PREPARE (3PC: CAN_COMMIT?), to every participant.
    Prepare {
        /// The transaction.
        txid: Txid,
        /// Its command (the writes: commands are deterministic).
        cmd: Arc<Command>,
    },
    /// VOTE.
    Vote {
        /// The transaction.
        txid: Txid,
        /// YES or NO.
        yes: bool,
    },
    /// 3PC PRE_COMMIT, from the coordinator or a termination coordinator.
    PreCommit {
        /// The transaction.
        txid: Txid,
    },
    /// 3PC PRE_ACK.
    PreAck {
        /// The transaction.
        txid: Txid,
    },
    /// DECISION (3PC: DO_COMMIT, or ABORT).
    Decision {
        /// The transaction.
        txid: Txid,
        /// COMMIT or ABORT.
        commit: bool,
    },
    /// ACK of a COMMIT (3PC: HAVE_COMMITTED), to the coordinator.
    Ack {
        /// The transaction.
        txid: Txid,
    },
    /// CLIENT_REPLY(Aborted), from the coordinator to the client's process,
    /// which retries the command as a new transaction after a back-off.
    Aborted {
        /// The client command whose attempt aborted.
        cmd: CommandId,
    },
    /// DECISION_REQ (§7.2, §7.3), to the coordinator or every peer.
    DecisionReq {
        /// The transaction.
        txid: Txid,
    },
    /// DECISION_RESP.
    DecisionResp {
        /// The transaction.
        txid: Txid,
        /// What the replier knows.
        outcome: Outcome,
    },
    /// 3PC termination: the new coordinator polls the states (§9).
    StateReq {
        /// The transaction.
        txid: Txid,
    },
    /// 3PC termination: the replier's state (a replier that had not voted
    /// answers Aborted and refuses the transaction from then on).
    StateResp {
        /// The transaction.
        txid: Txid,
        /// The replier's state.
        state: TxnState,
    },
}

const HEADER_BYTES: u64 = 16;
const TXID_BYTES: u64 = 12;

impl MessageSize for Message {
    fn size_bytes(&self) -> u64 {
        HEADER_BYTES
            + match self {
                Message::Forward { cmd } => cmd.size_bytes(),
                Message::Prepare { cmd, .. } => TXID_BYTES + cmd.size_bytes(),
                Message::Vote { .. } | Message::Decision { .. } | Message::DecisionResp { .. } => TXID_BYTES + 1,
                Message::StateResp { .. } => TXID_BYTES + 1,
                Message::PreCommit { .. }
                | Message::PreAck { .. }
                | Message::Ack { .. }
                | Message::DecisionReq { .. }
                | Message::StateReq { .. } => TXID_BYTES,
                Message::Aborted { .. } => 12,
            }
    }
}
