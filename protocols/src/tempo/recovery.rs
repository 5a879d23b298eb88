//! The timestamp a recovering process proposes for a dot (tempo.md §11.3),
//! as a rule on the `n - f` replies it gathered: a pure function, tested on
//! its own before the protocol that gathers the replies (`failure.rs`)
//! uses it.

use super::ProcessSet;
use crate::shared::synod::Ballot;
use sim_core::ProcessId;

/// Where a replier was when it joined the recovery (§11.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// `RECOVER_R`: it had not proposed (no MCollect as a fast-quorum
    /// member), so it proposed when it joined and never acked the
    /// coordinator: the fast path cannot have completed.
    Fresh,
    /// `RECOVER_P`: it had proposed in `COLLECT` (and acked the
    /// coordinator) before it joined.
    Proposed,
}

/// One MRecAck, as the recovering process counted it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecoveryAck {
    /// Who replied.
    pub from: ProcessId,
    /// Its accepted timestamp: its own proposal at ballot 0, or the one it
    /// accepted in a consensus round.
    pub ts: u64,
    /// Where it was when it joined.
    pub phase: Phase,
    /// The ballot `ts` was accepted at (0: its own proposal).
    pub abal: Ballot,
    /// The dot's fast quorum, if the replier saw the MCollect (empty
    /// otherwise).
    pub quorum: ProcessSet,
}

/// tempo.md §11.3, for a dot whose coordinator is `coordinator`, from the
/// acks of a recovery quorum `R` (`n - f` processes):
///
/// a. some timestamp was accepted at a ballot: the one of the highest
///    ballot (it was chosen, or may have been, by that ballot's rule);
/// b. else, if the coordinator is in `R` (it joined, so it never completed
///    the fast path), or some member of `Q ∩ R` replied [`Phase::Fresh`]
///    (it never acked), or nobody in `R` knows `Q` (then every member of
///    `Q ∩ R`, at least `floor(n/2)` of them, is `Fresh`): the fast path
///    cannot have happened, and the maximum over `R` is above every
///    replier's proposal, so `R` (`n - f >= ceil(n/2)` processes, which
///    meets every majority) promised below it;
/// c. else the maximum over `Q ∩ R`: a fast-path timestamp was proposed by
///    `f` members or by the coordinator (then by every member, each
///    proposing at least the coordinator's value), and at most `f - 1`
///    members besides the coordinator are outside `R`, so one of `Q ∩ R`
///    reported it.
pub fn recovery_ts(coordinator: ProcessId, acks: &[RecoveryAck]) -> u64 {
    if let Some(accepted) = acks.iter().filter(|ack| ack.abal > 0).max_by_key(|ack| ack.abal) {
        return accepted.ts;
    }
    let quorum = acks.iter().map(|ack| ack.quorum).find(|quorum| !quorum.is_empty());
    let fast_path_impossible = quorum.is_none_or(|quorum| {
        acks.iter().any(|ack| ack.from == coordinator || (quorum.contains(ack.from) && ack.phase == Phase::Fresh))
    });
    let counted = |ack: &&RecoveryAck| fast_path_impossible || quorum.is_some_and(|quorum| quorum.contains(ack.from));
    acks.iter().filter(counted).map(|ack| ack.ts).max().unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ack(from: u32, ts: u64, phase: Phase, abal: Ballot, quorum: &[u32]) -> RecoveryAck {
        let quorum: Vec<ProcessId> = quorum.iter().map(|&p| ProcessId(p)).collect();
        RecoveryAck { from: ProcessId(from), ts, phase, abal, quorum: ProcessSet::of(&quorum) }
    }

    use Phase::{Fresh, Proposed};

    /// n = 5, f = 2: Q = {1, 2, 3, 4} (coordinator 1), R = 3 processes.
    const Q: [u32; 4] = [1, 2, 3, 4];

    /// §11.3 a: a quorum member accepted a timestamp at a ballot (an
    /// earlier recovery or the coordinator's slow path): it wins over
    /// every proposal, the highest ballot first.
    #[test]
    fn tempo_11_3_a_an_accepted_timestamp_wins() {
        let acks = [ack(2, 9, Proposed, 7, &Q), ack(4, 3, Proposed, 12, &Q), ack(5, 20, Fresh, 0, &[])];
        assert_eq!(recovery_ts(ProcessId(1), &acks), 3);
        let acks = [ack(2, 9, Proposed, 1, &Q), ack(3, 4, Proposed, 0, &Q), ack(5, 20, Fresh, 0, &Q)];
        assert_eq!(recovery_ts(ProcessId(1), &acks), 9, "the coordinator's slow-path value");
    }

    /// §11.3 c: every member of Q ∩ R only proposed (RECOVER_P) and the
    /// coordinator is not in R: the fast path may have committed the
    /// maximum of Q, which some member of Q ∩ R reported; 5's own
    /// proposal (outside Q) does not count.
    #[test]
    fn tempo_11_3_c_members_that_only_proposed_keep_a_possible_fast_path() {
        let acks = [ack(2, 6, Proposed, 0, &Q), ack(4, 7, Proposed, 0, &Q), ack(5, 30, Fresh, 0, &Q)];
        assert_eq!(recovery_ts(ProcessId(1), &acks), 7);
    }

    /// §11.3 b: a member of Q ∩ R proposed only when it joined (RECOVER_R):
    /// it never acked, no fast path: the maximum over all of R.
    #[test]
    fn tempo_11_3_b_a_fresh_member_rules_out_the_fast_path() {
        let acks = [ack(2, 6, Proposed, 0, &Q), ack(3, 8, Fresh, 0, &Q), ack(5, 30, Fresh, 0, &[])];
        assert_eq!(recovery_ts(ProcessId(1), &acks), 30);
    }

    /// §11.3 b: the coordinator replied (it joined, so it will not commit
    /// on the fast path): the maximum over R.
    #[test]
    fn tempo_11_3_b_the_coordinator_in_r_rules_out_the_fast_path() {
        let acks = [ack(1, 5, Proposed, 0, &Q), ack(2, 6, Proposed, 0, &Q), ack(5, 9, Fresh, 0, &Q)];
        assert_eq!(recovery_ts(ProcessId(1), &acks), 9);
    }

    /// Nobody in R saw the MCollect (all joined fresh, the payload came
    /// with the MRec): no fast path, the maximum over R.
    #[test]
    fn nobody_knows_the_quorum() {
        let acks = [ack(3, 4, Fresh, 0, &[]), ack(4, 2, Fresh, 0, &[]), ack(5, 3, Fresh, 0, &[])];
        assert_eq!(recovery_ts(ProcessId(1), &acks), 4);
    }
}
