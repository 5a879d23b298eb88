//! Per-command state at one process (tempo.md §3), indexed by dot.
//!
//! Dots of one origin are numbered 1, 2, 3, … and arrive roughly in that
//! order; garbage collection (§12) frees them as per-origin prefixes. So
//! each origin's commands live in a deque indexed by seq: no
//! hashing, commands in flight sit next to each other in memory, and a
//! dot below the log's floor is known to be collected (a late duplicate).

use super::ProcessSet;
use super::clocks::Votes;
use crate::shared::dot::Dot;
use crate::shared::synod::Synod;
use sim_core::Command;
use std::collections::VecDeque;
use std::sync::Arc;

/// Where a command is at this process (§3, with §11's two recovery
/// states).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Status {
    /// Nothing but perhaps an early MCommit or MConsensus.
    Start,
    /// The payload, at a process outside the fast quorum (or one that got
    /// it from a payload request): no proposal made.
    Payload,
    /// Proposed (fast-quorum member), not committed.
    Collect,
    /// §11 `RECOVER_R`: joined a recovery without having proposed before,
    /// so it proposed then; it never answered the MCollect.
    RecoverR,
    /// §11 `RECOVER_P`: joined a recovery after proposing in `Collect`.
    RecoverP,
    /// Committed.
    Commit,
}

/// One command at one process. Every process holds one per command in
/// flight, so it is kept small (one cache line).
#[derive(Debug)]
pub(super) struct Instance {
    pub(super) status: Status,
    pub(super) cmd: Option<Arc<Command>>,
    pub(super) quorum: ProcessSet,
    /// This process's proposal (fast-quorum member): the acceptor's
    /// ballot-0 value.
    pub(super) proposal: u64,
    /// Acceptor (and, at the coordinator on the slow path, proposer) of the
    /// command's timestamp, created by the first consensus message: the
    /// fast path never needs it.
    pub(super) synod: Option<Box<Synod<u64>>>,
    /// With `Start`: an MCommit that arrived before the payload. With
    /// `Commit`: the commit, to answer late consensus messages.
    pub(super) commit: Option<(u64, Arc<Votes>)>,
    /// This process's clocks of the command's keys are all at least this
    /// (it proposed or bumped to it), so bumping lower is a no-op.
    pub(super) clock_floor: u64,
}

impl Instance {
    fn new() -> Instance {
        Instance {
            status: Status::Start,
            cmd: None,
            quorum: ProcessSet::default(),
            proposal: 0,
            synod: None,
            commit: None,
            clock_floor: 0,
        }
    }

    /// The acceptor, created with this process's proposal as its ballot-0
    /// value.
    pub(super) fn synod(&mut self) -> &mut Synod<u64> {
        let proposal = self.proposal;
        self.synod.get_or_insert_with(|| Box::new(Synod::new(proposal)))
    }
}

/// How far above an origin's oldest live dot a new one may be: a bound on
/// memory against a corrupt seq (a real run never comes close).
const MAX_SEQ_AHEAD: u64 = 1 << 24;

/// The commands of one origin, by seq: a deque with a moving base (like
/// [`SlotLog`](crate::shared::slot_log::SlotLog), cut down to what Tempo
/// does with it, in fewer steps: every process creates and looks up an
/// instance per command several times).
#[derive(Debug)]
struct OriginLog {
    /// Seq of `entries[0]`; every dot below it was collected.
    base: u64,
    entries: VecDeque<Option<Instance>>,
    len: usize,
}

impl OriginLog {
    fn new() -> OriginLog {
        OriginLog { base: 1, entries: VecDeque::new(), len: 0 }
    }

    fn offset(&self, seq: u64) -> Option<usize> {
        usize::try_from(seq.checked_sub(self.base)?).ok()
    }
}

/// Every command's state at this process, per origin.
#[derive(Debug)]
pub(super) struct Instances {
    by_origin: Vec<OriginLog>,
}

impl Instances {
    /// No command yet, for a shard of `n` processes.
    pub(super) fn new(n: usize) -> Instances {
        Instances { by_origin: (0..n).map(|_| OriginLog::new()).collect() }
    }

    fn log(&self, dot: Dot) -> Option<&OriginLog> {
        self.by_origin.get(usize::try_from(dot.origin.0).ok()?.checked_sub(1)?)
    }

    fn log_mut(&mut self, dot: Dot) -> Option<&mut OriginLog> {
        self.by_origin.get_mut(usize::try_from(dot.origin.0).ok()?.checked_sub(1)?)
    }

    /// The state of `dot`, if it has some.
    pub(super) fn get(&self, dot: Dot) -> Option<&Instance> {
        let log = self.log(dot)?;
        log.entries.get(log.offset(dot.seq)?)?.as_ref()
    }

    /// The state of `dot`, mutably, if it has some.
    pub(super) fn get_mut(&mut self, dot: Dot) -> Option<&mut Instance> {
        let log = self.log_mut(dot)?;
        let offset = log.offset(dot.seq)?;
        log.entries.get_mut(offset)?.as_mut()
    }

    /// The state of `dot`, created in `Start` if new; `None` if `dot` is
    /// not of this shard, was garbage-collected (a late duplicate) or is
    /// implausibly far ahead.
    pub(super) fn entry(&mut self, dot: Dot) -> Option<&mut Instance> {
        let log = self.log_mut(dot)?;
        let offset = log.offset(dot.seq).filter(|&offset| offset as u64 <= MAX_SEQ_AHEAD)?;
        if offset >= log.entries.len() {
            // Usually the next seq: one push.
            while log.entries.len() < offset {
                log.entries.push_back(None);
            }
            log.entries.push_back(None);
        }
        let slot = &mut log.entries[offset];
        if slot.is_none() {
            log.len += 1;
        }
        Some(slot.get_or_insert_with(Instance::new))
    }

    /// Frees every command of `dot`'s origin up to `dot` (§12: dots become
    /// stable for GC in per-origin order).
    pub(super) fn collect_up_to(&mut self, dot: Dot) {
        let Some(log) = self.log_mut(dot) else { return };
        while log.base <= dot.seq {
            match log.entries.pop_front() {
                Some(entry) => log.len -= usize::from(entry.is_some()),
                None => {
                    log.base = dot.seq + 1;
                    break;
                }
            }
            log.base += 1;
        }
    }

    /// True if `dot` was garbage-collected here: every process committed
    /// it (§12).
    pub(super) fn is_collected(&self, dot: Dot) -> bool {
        self.log(dot).is_some_and(|log| dot.seq < log.base)
    }

    /// Commands with state here.
    pub(super) fn len(&self) -> usize {
        self.by_origin.iter().map(|log| log.len).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Dots may arrive out of order (holes are not instances); a collected
    /// prefix refuses late duplicates; an implausibly far seq is refused.
    #[test]
    fn entries_holes_and_collection() {
        let mut instances = Instances::new(3);
        assert!(instances.entry(Dot::new(2, 3)).is_some());
        assert!(instances.get(Dot::new(2, 1)).is_none() && instances.get(Dot::new(2, 2)).is_none());
        instances.entry(Dot::new(2, 3)).expect("again").status = Status::Commit;
        assert_eq!(instances.get(Dot::new(2, 3)).map(|instance| instance.status), Some(Status::Commit));
        instances.entry(Dot::new(2, 1));
        instances.entry(Dot::new(1, 1));
        assert_eq!(instances.len(), 3);
        assert!(instances.entry(Dot::new(4, 1)).is_none() && instances.entry(Dot::new(0, 1)).is_none());
        assert!(instances.entry(Dot::new(3, MAX_SEQ_AHEAD + 2)).is_none());
        instances.collect_up_to(Dot::new(2, 2));
        assert_eq!(instances.len(), 2, "(2,1) and the hole (2,2) are gone");
        assert!(instances.entry(Dot::new(2, 2)).is_none(), "collected: a late duplicate");
        assert!(instances.get(Dot::new(2, 3)).is_some());
        instances.collect_up_to(Dot::new(2, 9));
        assert!(instances.entry(Dot::new(2, 9)).is_none());
        assert!(instances.entry(Dot::new(2, 10)).is_some(), "the floor moved past the last entry");
        assert_eq!(instances.len(), 2);
    }
}
