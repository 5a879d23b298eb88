//! The value a recovering process proposes for a dot (atlas.md §9.3), as a
//! rule on the `n - f` replies it gathered: a pure function, so the rule
//! is tested on its own (§11 example 5) before the recovery protocol that
//! gathers the replies (timeouts, MRec/MRecAck; faults issue) uses it.

use super::message::{ProcessSet, Value};
use crate::shared::dot::Dot;
use crate::shared::synod::Ballot;
use sim_core::ProcessId;
use std::sync::Arc;

/// One MRecAck, as the recovering process received it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecoveryAck {
    /// Who replied.
    pub from: ProcessId,
    /// Its accepted value: its own dependencies at ballot 0, or what it
    /// accepted in a consensus round.
    pub value: Value,
    /// The dot's fast quorum, if the replier saw the MCollect (empty
    /// otherwise).
    pub quorum: ProcessSet,
    /// The ballot of `value` (0: the replier's own dependencies).
    pub abal: Ballot,
}

/// atlas.md §9.3, for a dot whose initial coordinator is `coordinator`,
/// from the acks of a recovery quorum `R` (`n - f` processes):
///
/// a. a value accepted in some ballot: the one of the highest ballot;
/// b. else, if some replier knows the fast quorum `Q`: the union of the
///    dependencies of every replier if the coordinator is in `R` (it joined
///    the recovery ballot, so the fast path never completed), otherwise of
///    the repliers in `Q ∩ R` (at least `floor(n/2)` fast-quorum members
///    besides the coordinator: any dependency committed on the fast path
///    was reported by `f` of them, so by one in `R`, or came from the
///    coordinator's own, which every member includes);
/// c. else nobody saw the command: a no-op. **Divergence:** the spec's
///    no-op has no dependencies; this one keeps the union of every
///    reply's. Each replier registered the command in its §3 index when it
///    joined the recovery (§9.2), and that index reports only the latest
///    command per key, so a later command may depend on the no-op alone:
///    without dependencies the no-op would cut its chain to the earlier
///    commands on the key (swarm atlas f=2 100% seed 101 diverged so).
pub fn recovery_value(coordinator: ProcessId, acks: &[RecoveryAck]) -> Value {
    if let Some(accepted) = acks.iter().filter(|ack| ack.abal > 0).max_by_key(|ack| ack.abal) {
        return accepted.value.clone();
    }
    let quorum = acks.iter().map(|ack| ack.quorum).find(|quorum| !quorum.is_empty());
    let coordinator_replied = acks.iter().any(|ack| ack.from == coordinator);
    let mut deps: Vec<Dot> = acks
        .iter()
        .filter(|ack| quorum.is_none_or(|quorum| coordinator_replied || quorum.contains(ack.from)))
        .flat_map(|ack| ack.value.deps.iter().copied())
        .collect();
    deps.sort_unstable();
    deps.dedup();
    Value { is_noop: quorum.is_none(), deps: Arc::from(deps) }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ack(from: u32, deps: &[Dot], quorum: &[u32], abal: Ballot) -> RecoveryAck {
        let quorum: Vec<ProcessId> = quorum.iter().map(|&p| ProcessId(p)).collect();
        RecoveryAck {
            from: ProcessId(from),
            value: Value::command(Arc::from(deps)),
            quorum: ProcessSet::from_ids(&quorum),
            abal,
        }
    }

    const Q: [u32; 4] = [1, 2, 3, 4];

    /// atlas.md §11 example 5: n=5, f=2, Q={1,2,3,4}; 1 and 3 crashed, 5
    /// recovers with R={2,4,5}, no accepted value; 2 knows Q and the
    /// coordinator is not in R, so deps = deps_2 ∪ deps_4 (5's own, which
    /// it computed when it joined the recovery, does not count).
    #[test]
    fn atlas_11_5_recovery_unions_the_fast_quorum_members_that_replied() {
        let (x, y, z) = (Dot::new(1, 7), Dot::new(3, 2), Dot::new(5, 9));
        let acks = [ack(2, &[x], &Q, 0), ack(4, &[x, y], &Q, 0), ack(5, &[z], &Q, 0)];
        assert_eq!(recovery_value(ProcessId(1), &acks), Value::command(Arc::from([x, y])));
    }

    /// §9.3 a: a value accepted at a ballot wins, the highest ballot first.
    #[test]
    fn an_accepted_value_wins() {
        let (x, y) = (Dot::new(1, 1), Dot::new(2, 1));
        let acks = [ack(2, &[x], &Q, 7), ack(4, &[y], &Q, 12), ack(5, &[], &[], 0)];
        assert_eq!(recovery_value(ProcessId(1), &acks), Value::command(Arc::from([y])));
    }

    /// §9.3 b with the coordinator in R: it joined the recovery ballot, so
    /// it can no longer commit on the fast path; every reply counts.
    #[test]
    fn with_the_coordinator_in_r_every_reply_counts() {
        let (x, z) = (Dot::new(2, 1), Dot::new(5, 1));
        let acks = [ack(1, &[x], &Q, 0), ack(4, &[], &Q, 0), ack(5, &[z], &Q, 0)];
        assert_eq!(recovery_value(ProcessId(1), &acks), Value::command(Arc::from([x, z])));
    }

    /// §9.3 c: nobody in R saw the MCollect: a no-op, which keeps the
    /// dependencies the repliers computed when they joined (divergence,
    /// see [`recovery_value`]).
    #[test]
    fn nobody_saw_it_gives_a_noop_that_keeps_the_chain() {
        let (x, y) = (Dot::new(2, 2), Dot::new(4, 1));
        let acks = [ack(3, &[x], &[], 0), ack(4, &[y, x], &[], 0), ack(5, &[], &[], 0)];
        let value = recovery_value(ProcessId(1), &acks);
        assert!(value.is_noop, "{value:?}");
        assert_eq!(value.deps[..], [x, y]);
    }
}
