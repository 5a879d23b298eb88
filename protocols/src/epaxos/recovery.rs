//! Which value a recovering process takes for an instance (epaxos.md §7
//! step 2, the authors' TLA+ `PrepareFinalize`), as a rule on the
//! PrepareOK replies it gathered: a pure function, tested on its own; the
//! rounds that gather the replies and carry the decision out are in
//! `failure.rs`.

use crate::shared::dot::Dot;
use crate::shared::synod::Ballot;
use sim_core::{Command, ProcessId};
use std::sync::Arc;

/// Where an instance is at the process that replied (§4; `NotSeen` is
/// the spec's NONE).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum ReplyStatus {
    /// Never pre-accepted, accepted or committed there.
    NotSeen,
    /// Pre-accepted at ballot `abal`.
    PreAccepted,
    /// Accepted at ballot `abal`.
    Accepted,
    /// Committed.
    Committed,
}

/// A value an instance may be committed with: the command (a no-op has
/// no operations) and its attributes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Attributes {
    /// The command; no operations for a no-op.
    pub cmd: Arc<Command>,
    /// Its sequence number.
    pub seq: u64,
    /// Its dependencies.
    pub deps: Arc<[Dot]>,
}

impl Attributes {
    /// True for a no-op (the stand-in command without operations).
    pub fn is_noop(&self) -> bool {
        self.cmd.ops.is_empty()
    }
}

/// One PrepareOK, as the recovering process received it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PrepareReply {
    /// Who replied.
    pub from: ProcessId,
    /// The instance's status there.
    pub status: ReplyStatus,
    /// Its value there (meaningless when `NotSeen`, but the command may
    /// still be known: a Prepare carries it when the recoverer has it).
    pub value: Attributes,
    /// The ballot of `value` (the command leader's initial ballot for a
    /// pre-accept of the normal commit protocol).
    pub abal: Ballot,
}

/// What the recovering process does next.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    /// §7.2 a: commit this value (some replier committed it).
    Commit(Attributes),
    /// §7.2 b, c: an Accept round at the recovery ballot with this value.
    Accept(Attributes),
    /// §7.2 d: TryPreAccept this value (it may have been committed on the
    /// fast path); F + 1 OKs, then an Accept round.
    TryPreAccept(Attributes),
    /// §7.2 e: phase 1 again, at the recovery ballot, for this command.
    PhaseOne(Arc<Command>),
    /// §7.2 f: nobody has the command: commit a no-op.
    Noop,
}

/// epaxos.md §7.2 for the instance led by `leader` (whose initial ballot
/// is its id), from `replies` of at least `F + 1` processes, `F =
/// floor(n/2)`:
///
/// a. any COMMITTED: that value;
/// b. else any ACCEPTED: an Accept round with the value of the highest
///    `abal`;
/// c. else, with the pre-accepts at the initial ballot from processes
///    other than the leader all identical: at least `F` of them → Accept
///    that value;
/// d. at least `floor((F+1)/2)` of them → TryPreAccept it;
/// e. else if some reply has the command: phase 1 again;
/// f. else a no-op.
///
/// As in the TLA+ spec, a PREACCEPTED reply *from the leader* sends the
/// decision to e: the leader answered the Prepare, so it had not committed
/// (it would say so) and now never will at its initial ballot. The spec's
/// "identical" is read strictly: two different values pre-accepted at the
/// initial ballot mean no fast path happened (the leader needs every
/// fast-quorum member's identical reply), so e applies, as in TLA+, where
/// any difference goes to phase 1.
pub fn decide(leader: ProcessId, n: usize, replies: &[PrepareReply]) -> Decision {
    let big_f = n / 2;
    if let Some(committed) = replies.iter().find(|reply| reply.status == ReplyStatus::Committed) {
        return Decision::Commit(committed.value.clone());
    }
    let accepted = replies.iter().filter(|reply| reply.status == ReplyStatus::Accepted).max_by_key(|reply| reply.abal);
    if let Some(accepted) = accepted {
        return Decision::Accept(accepted.value.clone());
    }
    let initial = Ballot::from(leader.0);
    let leader_pre_accepted =
        replies.iter().any(|reply| reply.from == leader && reply.status == ReplyStatus::PreAccepted);
    let pre_accepts: Vec<&PrepareReply> = replies
        .iter()
        .filter(|reply| reply.from != leader && reply.status == ReplyStatus::PreAccepted && reply.abal == initial)
        .collect();
    if let (false, Some(first)) = (leader_pre_accepted, pre_accepts.first()) {
        let identical =
            pre_accepts.iter().all(|reply| reply.value.seq == first.value.seq && reply.value.deps == first.value.deps);
        if identical && pre_accepts.len() >= big_f {
            return Decision::Accept(first.value.clone());
        }
        if identical && pre_accepts.len() >= big_f.div_ceil(2) {
            return Decision::TryPreAccept(first.value.clone());
        }
    }
    match replies.iter().find(|reply| !reply.value.is_noop()) {
        Some(known) => Decision::PhaseOne(known.value.cmd.clone()),
        None => Decision::Noop,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sim_core::{ClientId, CommandId, Op};

    fn cmd() -> Arc<Command> {
        let id = CommandId { client: ClientId(0), seq: 1 };
        Arc::new(Command { id, ops: [(7, Op::Put(1))].into_iter().collect(), payload_bytes: 0 })
    }

    fn noop() -> Arc<Command> {
        Arc::new(Command { id: CommandId { client: ClientId(0), seq: 0 }, ops: Default::default(), payload_bytes: 0 })
    }

    fn value(seq: u64, deps: &[Dot]) -> Attributes {
        Attributes { cmd: cmd(), seq, deps: deps.into() }
    }

    fn reply(from: u32, status: ReplyStatus, seq: u64, deps: &[Dot], abal: Ballot) -> PrepareReply {
        let value = if status == ReplyStatus::NotSeen {
            Attributes { cmd: noop(), seq: 0, deps: Arc::from([]) }
        } else {
            value(seq, deps)
        };
        PrepareReply { from: ProcessId(from), status, value, abal }
    }

    use ReplyStatus::{Accepted, Committed, NotSeen, PreAccepted};

    const A: Dot = Dot { origin: ProcessId(4), seq: 1 };
    const B: Dot = Dot { origin: ProcessId(5), seq: 1 };

    /// §7.2 a: a committed reply wins over everything.
    #[test]
    fn epaxos_7_2a_a_committed_value_is_committed() {
        let replies = [reply(2, Accepted, 9, &[B], 12), reply(3, Committed, 4, &[A], 1), reply(4, NotSeen, 0, &[], 0)];
        assert_eq!(decide(ProcessId(1), 5, &replies), Decision::Commit(value(4, &[A])));
    }

    /// §7.2 b: the accepted value of the highest `abal`.
    #[test]
    fn epaxos_7_2b_the_highest_accepted_value_is_accepted_again() {
        let replies =
            [reply(2, Accepted, 3, &[A], 1), reply(3, Accepted, 5, &[A, B], 7), reply(4, PreAccepted, 2, &[], 1)];
        assert_eq!(decide(ProcessId(1), 5, &replies), Decision::Accept(value(5, &[A, B])));
    }

    /// §7.2 c: n = 5, F = 2: two identical pre-accepts at the leader's
    /// initial ballot, neither from the leader → Accept that value.
    #[test]
    fn epaxos_7_2c_floor_n_over_2_identical_pre_accepts_are_accepted() {
        let replies =
            [reply(2, PreAccepted, 3, &[A], 1), reply(3, PreAccepted, 3, &[A], 1), reply(5, NotSeen, 0, &[], 0)];
        assert_eq!(decide(ProcessId(1), 5, &replies), Decision::Accept(value(3, &[A])));
        // n = 7, F = 3: two are not enough for c, but are floor((F+1)/2) = 2 for d.
        let replies = [
            reply(2, PreAccepted, 3, &[A], 1),
            reply(3, PreAccepted, 3, &[A], 1),
            reply(5, NotSeen, 0, &[], 0),
            reply(6, NotSeen, 0, &[], 0),
        ];
        assert_eq!(decide(ProcessId(1), 7, &replies), Decision::TryPreAccept(value(3, &[A])));
    }

    /// §7.2 d: n = 5, F = 2: one pre-accept at the initial ballot (not
    /// the leader's): the value may have been committed on the fast path
    /// by the leader with the two members of its fast quorum, one of which
    /// did not reply → TryPreAccept.
    #[test]
    fn epaxos_7_2d_floor_f_plus_1_over_2_identical_pre_accepts_are_tried() {
        let replies = [reply(2, PreAccepted, 3, &[A], 1), reply(4, NotSeen, 0, &[], 0), reply(5, NotSeen, 0, &[], 0)];
        assert_eq!(decide(ProcessId(1), 5, &replies), Decision::TryPreAccept(value(3, &[A])));
    }

    /// §7.2 c and d do not apply when the leader itself replied
    /// PREACCEPTED (it had not committed and never will at its initial
    /// ballot), when the pre-accepts differ (the fast path needs identical
    /// replies), or when they are at another ballot (a recovery's phase
    /// 1): phase 1 again (e).
    #[test]
    fn epaxos_7_2e_otherwise_phase_1_again() {
        let from_leader =
            [reply(1, PreAccepted, 2, &[], 1), reply(2, PreAccepted, 3, &[A], 1), reply(3, PreAccepted, 3, &[A], 1)];
        assert_eq!(decide(ProcessId(1), 5, &from_leader), Decision::PhaseOne(cmd()));
        let different =
            [reply(2, PreAccepted, 3, &[A], 1), reply(3, PreAccepted, 4, &[A, B], 1), reply(4, NotSeen, 0, &[], 0)];
        assert_eq!(decide(ProcessId(1), 5, &different), Decision::PhaseOne(cmd()));
        let later_ballot =
            [reply(2, PreAccepted, 3, &[A], 7), reply(3, PreAccepted, 3, &[A], 7), reply(4, NotSeen, 0, &[], 0)];
        assert_eq!(decide(ProcessId(1), 5, &later_ballot), Decision::PhaseOne(cmd()));
        // A replier that never pre-accepted but learned the command from
        // the Prepare still has it.
        let mut knows = reply(4, NotSeen, 0, &[], 0);
        knows.value.cmd = cmd();
        assert_eq!(decide(ProcessId(1), 5, &[reply(3, NotSeen, 0, &[], 0), knows]), Decision::PhaseOne(cmd()));
    }

    /// §7.2 f: nobody has the command → a no-op.
    #[test]
    fn epaxos_7_2f_nobody_has_the_command_gives_a_noop() {
        let replies = [reply(2, NotSeen, 0, &[], 0), reply(3, NotSeen, 0, &[], 0), reply(4, NotSeen, 0, &[], 0)];
        assert_eq!(decide(ProcessId(1), 5, &replies), Decision::Noop);
    }
}
