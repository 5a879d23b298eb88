//! Mencius messages (mencius.md §3). The sender is the `from` of
//! `Protocol::handle`, so no message repeats it; SUGGESTs and their acks
//! carry ballot 0 implicitly (the owner's), revocation messages carry
//! their ballot.

use super::{Ballot, Value};
use sim_core::protocol::MessageSize;
use sim_core::{Command, ProcessId};
use std::sync::Arc;

/// Every slot the sender owns in `[lo, hi)` is a no-op (a skip, decided
/// by the owner alone, §1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SkipRange {
    /// First slot of the range.
    pub lo: u64,
    /// One past the last slot of the range.
    pub hi: u64,
}

/// What an acceptor reports for one slot of a revoked range (P1b).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SlotReport {
    /// The slot.
    pub slot: u64,
    /// The ballot its value was accepted at (0: the owner's SUGGEST).
    pub ballot: Ballot,
    /// The value accepted (or decided).
    pub value: Value,
    /// The acceptor knows the slot is decided with `value`.
    pub decided: bool,
}

/// Mencius messages.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Message {
    /// SUGGEST (P2a at ballot 0, §4 step 1): the owner proposes `cmd` in
    /// its own `slot`; `skip` carries its own no-op slots not announced
    /// yet (LAZY skips).
    Suggest {
        /// The owner's slot.
        slot: u64,
        /// The command.
        cmd: Arc<Command>,
        /// Owner's skips piggybacked.
        skip: Option<SkipRange>,
    },
    /// ACCEPT_ACK (P2b at ballot 0, §4 step 3), with the acceptor's own
    /// skips that the SUGGEST triggered (Rule 2).
    AcceptAck {
        /// The slot accepted.
        slot: u64,
        /// The acceptor's own skips.
        skip: Option<SkipRange>,
    },
    /// SKIP (§4 step 4).
    Skip {
        /// The sender's no-op slots.
        range: SkipRange,
    },
    /// COMMIT (§4 step 5): `slot` holds `cmd`.
    Commit {
        /// The slot.
        slot: u64,
        /// The command.
        cmd: Arc<Command>,
    },
    /// NACK of a SUGGEST (§7 step 6): `slot` was revoked, and so was
    /// every slot of the owner below `revoked_upto`.
    SuggestNack {
        /// The slot refused.
        slot: u64,
        /// End of the revoked range holding it.
        revoked_upto: u64,
    },
    /// P1a (§7 step 2): promise `ballot` for `owner`'s slots in `[lo, hi)`.
    Prepare {
        /// The revoker's ballot.
        ballot: Ballot,
        /// Whose slots.
        owner: ProcessId,
        /// First slot.
        lo: u64,
        /// One past the last slot.
        hi: u64,
    },
    /// P1b (§7 step 3): the acceptor promised, and what it holds in the
    /// range.
    Promise {
        /// The ballot promised.
        ballot: Ballot,
        /// The acceptor's accepted or decided slots of the range.
        reports: Vec<SlotReport>,
    },
    /// P2a of a revocation (§7 step 4), one message for the whole range:
    /// every `owner` slot in `[lo, hi)` gets a no-op except those in
    /// `values`, which get the command recovered.
    RevokeAccept {
        /// The revoker's ballot.
        ballot: Ballot,
        /// Whose slots.
        owner: ProcessId,
        /// First slot.
        lo: u64,
        /// One past the last slot.
        hi: u64,
        /// Slots holding a recovered command, in slot order.
        values: Vec<(u64, Arc<Command>)>,
    },
    /// P2b of a revocation.
    RevokeAccepted {
        /// The ballot accepted.
        ballot: Ballot,
    },
    /// COMMIT of a revocation: the range's values are decided.
    RevokeCommit {
        /// Whose slots.
        owner: ProcessId,
        /// First slot.
        lo: u64,
        /// One past the last slot.
        hi: u64,
        /// Slots holding a recovered command; the others are no-ops.
        values: Vec<(u64, Arc<Command>)>,
    },
    /// NACK of a revocation's P1a or P2a: the acceptor promised the
    /// higher `promised`.
    RevokeNack {
        /// The ballot refused.
        ballot: Ballot,
        /// The ballot it promised.
        promised: Ballot,
    },
    /// HEARTBEAT (§4 step 8), failure detection only.
    Heartbeat {
        /// The sender's `next_own`.
        next_own: u64,
        /// Every slot up to this one is decided at the sender.
        decided_upto: u64,
    },
    /// Periodic: the sender's decided prefix, for garbage collection.
    GarbageCollection {
        /// Every slot up to this one is decided at the sender.
        decided_upto: u64,
    },
    /// A stalled process asks for decided values from `from_slot` on
    /// (§7 step 7 catch-up; also how lost COMMITs and SKIPs are repaired).
    CatchUpRequest {
        /// The first slot it misses.
        from_slot: u64,
    },
    /// Decided values the sender holds, in slot order.
    CatchUp {
        /// (slot, value).
        slots: Vec<(u64, Value)>,
    },
}

/// Fixed per-message overhead: a tag and the sender, plus framing.
const HEADER_BYTES: u64 = 16;

fn value_bytes(value: &Value) -> u64 {
    1 + value.as_ref().map_or(0, |cmd| cmd.size_bytes())
}

fn values_bytes(values: &[(u64, Arc<Command>)]) -> u64 {
    values.iter().map(|(_, cmd)| 8 + cmd.size_bytes()).sum()
}

fn skip_bytes(skip: &Option<SkipRange>) -> u64 {
    if skip.is_some() { 17 } else { 1 }
}

impl MessageSize for Message {
    fn size_bytes(&self) -> u64 {
        HEADER_BYTES
            + match self {
                Message::Suggest { cmd, skip, .. } => 8 + cmd.size_bytes() + skip_bytes(skip),
                Message::AcceptAck { skip, .. } => 8 + skip_bytes(skip),
                Message::Skip { .. } | Message::SuggestNack { .. } => 16,
                Message::Commit { cmd, .. } => 8 + cmd.size_bytes(),
                Message::Prepare { .. } => 28,
                Message::Promise { reports, .. } => 8 + reports.iter().map(|r| 17 + value_bytes(&r.value)).sum::<u64>(),
                Message::RevokeAccept { values, .. } | Message::RevokeCommit { values, .. } => {
                    28 + values_bytes(values)
                }
                Message::RevokeAccepted { .. } | Message::GarbageCollection { .. } => 8,
                Message::RevokeNack { .. } | Message::Heartbeat { .. } => 16,
                Message::CatchUpRequest { .. } => 8,
                Message::CatchUp { slots } => slots.iter().map(|(_, v)| 8 + value_bytes(v)).sum(),
            }
    }
}
