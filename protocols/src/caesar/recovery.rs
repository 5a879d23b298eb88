//! What a recovering process does with a dot (DESIGN.md, Caesar recovery
//! (3)), as a rule on the `CQ` answers it gathered: a pure function, so the
//! rule is tested on its own.

use super::{Clock, Deps};
use crate::shared::synod::Ballot;
use sim_core::ProcessId;

/// A value a process accepted for a dot: the exact timestamp and
/// predecessors a commit would carry, at a ballot (0: the coordinator's).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Accepted {
    /// The ballot it was accepted at.
    pub ballot: Ballot,
    /// The timestamp.
    pub ts: Clock,
    /// The predecessors.
    pub deps: Deps,
}

/// One MRecAck, as the recovering process received it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecoveryReply {
    /// Who replied.
    pub from: ProcessId,
    /// Its highest accepted value, if any.
    pub accepted: Option<Accepted>,
    /// Its clock: every timestamp it has seen is at most this.
    pub clock: Clock,
    /// The timestamp the dot is registered at there.
    pub registered: Clock,
}

/// What the recoverer proposes at its ballot.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RecoveryChoice {
    /// Accept this exact value again (it may have been committed).
    Accept {
        /// Its timestamp.
        ts: Clock,
        /// Its predecessors.
        deps: Deps,
    },
    /// Nothing can have been committed: retry at a fresh timestamp above
    /// every clock (`above`), then accept what the retry acks give.
    Retry {
        /// The largest clock replied: the retry's timestamp must be above.
        above: Clock,
    },
}

/// The rule: the value accepted at the highest ballot among the replies,
/// else a retry above every replier's clock.
///
/// Why: every commit follows a majority accepting the exact value at some
/// ballot, and any two majorities meet, so a committed value was accepted
/// by some replier; by the Paxos argument the highest accepted ballot's
/// value is the only one that can have been chosen. If nobody replied an
/// accepted value, nothing was chosen, and a timestamp above every
/// replier's clock is above every timestamp a majority has seen: a command
/// decided below it was registered at one of the retry's ackers (or made
/// it wait), which lists it in `pred` (invariant *I*).
pub fn recovery_choice(replies: &[RecoveryReply]) -> RecoveryChoice {
    let accepted = replies.iter().filter_map(|reply| reply.accepted.as_ref()).max_by_key(|accepted| accepted.ballot);
    match accepted {
        Some(accepted) => RecoveryChoice::Accept { ts: accepted.ts, deps: accepted.deps.clone() },
        None => RecoveryChoice::Retry { above: replies.iter().map(|reply| reply.clock).max().unwrap_or_default() },
    }
}

/// Planted bug (tests only): the first reply's value, accepted or not:
/// its accepted value whatever its ballot, or else the timestamp the dot
/// is registered at there, with no predecessors ("any reply's ts" instead
/// of the rule).
pub fn planted_choice(replies: &[RecoveryReply], empty: &Deps) -> RecoveryChoice {
    match replies.first() {
        Some(RecoveryReply { accepted: Some(accepted), .. }) => {
            RecoveryChoice::Accept { ts: accepted.ts, deps: accepted.deps.clone() }
        }
        Some(first) => RecoveryChoice::Accept { ts: first.registered, deps: empty.clone() },
        None => RecoveryChoice::Retry { above: Clock::default() },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shared::dot::Dot;

    fn ts(seq: u64, pid: u32) -> Clock {
        Clock::new(seq, ProcessId(pid))
    }

    fn reply(from: u32, accepted: Option<(Ballot, Clock, &[Dot])>, clock: Clock) -> RecoveryReply {
        RecoveryReply {
            from: ProcessId(from),
            accepted: accepted.map(|(ballot, ts, deps)| Accepted { ballot, ts, deps: deps.into() }),
            clock,
            registered: ts(1, 1),
        }
    }

    /// caesar.md §5 recovery sketch, "accepted → that ts": the fast path's
    /// value accepted at ballot 0 by a majority (which any recovery quorum
    /// meets) is kept, timestamp and predecessors, whatever the clocks.
    #[test]
    fn caesar_5_recovery_keeps_a_fast_path_value() {
        let (x, y) = (Dot::new(2, 1), Dot::new(3, 4));
        let replies =
            [reply(2, Some((0, ts(7, 1), &[x, y])), ts(40, 2)), reply(3, None, ts(9, 3)), reply(4, None, ts(50, 4))];
        assert_eq!(recovery_choice(&replies), RecoveryChoice::Accept { ts: ts(7, 1), deps: [x, y].as_slice().into() });
    }

    /// The highest ballot wins over a lower one (an earlier recovery
    /// replaced the coordinator's value before it was chosen).
    #[test]
    fn the_highest_accepted_ballot_wins() {
        let x = Dot::new(2, 1);
        let replies = [reply(2, Some((0, ts(7, 1), &[])), ts(9, 2)), reply(3, Some((8, ts(12, 3), &[x])), ts(12, 3))];
        assert_eq!(recovery_choice(&replies), RecoveryChoice::Accept { ts: ts(12, 3), deps: [x].as_slice().into() });
    }

    /// A proposed-only (or only retried) dot: nothing accepted, so a retry
    /// above the largest clock replied.
    #[test]
    fn a_proposed_only_dot_is_retried_above_every_clock() {
        let replies = [reply(2, None, ts(9, 2)), reply(3, None, ts(14, 3)), reply(5, None, ts(11, 5))];
        assert_eq!(recovery_choice(&replies), RecoveryChoice::Retry { above: ts(14, 3) });
    }
}
