//! Single-decree Flexible Paxos: the slow path of Tempo and Atlas (and the
//! core of their recovery).
//!
//! One instance decides one value for one command. Every process is an
//! acceptor; the process running a ballot is also its proposer. Ballot 0
//! holds the value a process computed itself during the fast path (never
//! chosen by this module); ballot `p` (the coordinator's id) needs no
//! prepare phase (specs README §1.4). Accept quorums are `f + 1`, so
//! recovery (prepare) quorums must be `n - f`: the two always meet.

use sim_core::ProcessId;

/// A ballot number; process `p` owns `p + n*k` (specs README §1.4).
pub type Ballot = u64;

/// Most processes an instance can count acks from (a 64-bit set).
pub const MAX_PROCESSES: usize = 64;

/// The smallest ballot `me` owns that is strictly above `seen`, with `n`
/// processes: `p + n*(floor(seen/n) + 1)` (specs README §1.4), or `p`
/// itself if that is already above `seen`.
pub fn next_ballot(me: ProcessId, n: usize, seen: Ballot) -> Ballot {
    let (p, n) = (u64::from(me.0), n as u64);
    if p > seen { p } else { p + n * (seen / n + 1) }
}

/// One process's state in one instance: acceptor always, proposer while it
/// runs a ballot.
#[derive(Clone, Debug)]
pub struct Synod<V> {
    /// Highest ballot joined (0: none).
    bal: Ballot,
    /// Ballot at which `aval` was accepted (0: the process's own initial
    /// value).
    abal: Ballot,
    aval: V,
    /// The proposer's ballot and the acceptors (bit `id - 1`) that
    /// accepted its value.
    proposal: Option<(Ballot, u64)>,
}

/// What an acceptor reports when it joins a higher ballot (recovery).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Promise<V> {
    /// The ballot its value was accepted at (0: its own initial value).
    pub abal: Ballot,
    /// That value.
    pub aval: V,
}

impl<V: Clone> Synod<V> {
    /// An instance whose acceptor holds `initial` at ballot 0.
    pub fn new(initial: V) -> Synod<V> {
        Synod { bal: 0, abal: 0, aval: initial, proposal: None }
    }

    /// Replaces the ballot-0 value (set while the fast path computes it);
    /// ignored once a ballot was joined.
    pub fn set_initial(&mut self, value: V) {
        if self.bal == 0 {
            self.aval = value;
        }
    }

    /// Highest ballot joined.
    pub fn ballot(&self) -> Ballot {
        self.bal
    }

    /// The value accepted most recently, and at which ballot.
    pub fn accepted(&self) -> (Ballot, &V) {
        (self.abal, &self.aval)
    }

    /// Phase 1b: joins `ballot` if it is above every ballot joined so far;
    /// returns the accepted value to report, or `None` if `ballot` is stale.
    pub fn prepare(&mut self, ballot: Ballot) -> Option<Promise<V>> {
        if ballot <= self.bal {
            return None;
        }
        self.bal = ballot;
        Some(Promise { abal: self.abal, aval: self.aval.clone() })
    }

    /// Phase 2b: accepts `value` at `ballot` unless a higher ballot was
    /// joined; true if accepted (reply with an ack).
    pub fn accept(&mut self, ballot: Ballot, value: V) -> bool {
        if ballot < self.bal {
            return false;
        }
        self.bal = ballot;
        self.abal = ballot;
        self.aval = value;
        true
    }

    /// Proposer: starts counting acks for `ballot` (the value is sent by
    /// the caller; it is accepted here when this process's own accept
    /// arrives). Acks of an earlier ballot stop counting.
    pub fn propose(&mut self, ballot: Ballot) {
        self.proposal = Some((ballot, 0));
    }

    /// Proposer: `from` accepted `ballot`. Returns true exactly once, when
    /// `quorum` distinct acceptors have accepted the current proposal: the
    /// value is chosen. Duplicate and stale acks are ignored.
    pub fn accepted_by(&mut self, from: ProcessId, ballot: Ballot, quorum: usize) -> bool {
        let Some((proposed, acks)) = &mut self.proposal else {
            return false;
        };
        let bit = 1u64 << from.index();
        if *proposed != ballot || *acks & bit != 0 {
            return false;
        }
        *acks |= bit;
        if acks.count_ones() as usize == quorum {
            self.proposal = None;
            return true;
        }
        false
    }

    /// True while this process runs a ballot that is not chosen yet.
    pub fn is_proposing(&self) -> bool {
        self.proposal.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ballots_per_specs_readme_1_4() {
        let p = ProcessId(2);
        assert_eq!(next_ballot(p, 5, 0), 2, "initial ballot without prepare");
        assert_eq!(next_ballot(p, 5, 2), 7);
        assert_eq!(next_ballot(p, 5, 4), 7);
        assert_eq!(next_ballot(p, 5, 7), 12);
        assert_eq!(next_ballot(ProcessId(5), 5, 9), 15);
    }

    #[test]
    fn slow_path_chooses_at_f_plus_1() {
        // Coordinator 1 runs ballot 1 with quorum 2.
        let mut coordinator = Synod::new(4u64);
        coordinator.propose(1);
        assert!(coordinator.accept(1, 7));
        assert!(!coordinator.accepted_by(ProcessId(1), 1, 2));
        assert!(!coordinator.accepted_by(ProcessId(1), 1, 2), "a duplicate ack does not count");
        assert!(!coordinator.accepted_by(ProcessId(3), 0, 2), "an ack of another ballot does not count");
        assert!(coordinator.accepted_by(ProcessId(2), 1, 2));
        assert!(!coordinator.accepted_by(ProcessId(3), 1, 2), "chosen once");
        assert_eq!(coordinator.accepted(), (1, &7));
    }

    #[test]
    fn a_joined_higher_ballot_fences_lower_ones() {
        let mut acceptor = Synod::new(3u64);
        assert_eq!(acceptor.prepare(7), Some(Promise { abal: 0, aval: 3 }));
        assert_eq!(acceptor.prepare(7), None, "not strictly higher");
        assert!(!acceptor.accept(2, 9), "stale accept");
        assert!(acceptor.accept(7, 9));
        acceptor.set_initial(1);
        assert_eq!(acceptor.prepare(12), Some(Promise { abal: 7, aval: 9 }), "reports the accepted value");
    }
}
