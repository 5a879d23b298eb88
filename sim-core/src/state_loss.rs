//! Who is without its state, for protocols whose crash loses it
//! ([`Protocol::CRASH_LOSES_STATE`](crate::Protocol::CRASH_LOSES_STATE)):
//! vr.md §1, "at most f replicas may be crashed or recovering at the same
//! time; if more fail together, the state is gone and the simulator
//! should report `Unrecoverable`".
//!
//! A process is without its state while it is crashed, and after a
//! restart until it says it is no longer
//! [`recovering`](crate::Protocol::recovering). Each time the number of
//! such processes goes from at most `f` to more than `f`, one
//! [`Outcome::Unrecoverable`] is recorded with the time and the
//! processes; it is not recorded again until the number is back at `f`
//! or below (one event per episode, however many more fail in it).

use crate::id::ProcessId;
use crate::time::Time;
use crate::verdict::Outcome;
use std::collections::BTreeSet;

/// The engine's record of processes without their state.
#[derive(Debug)]
pub struct StateLossWatch {
    f: usize,
    crashed: BTreeSet<ProcessId>,
    /// Restarted and still recovering (asked after each of their steps).
    recovering: BTreeSet<ProcessId>,
    /// More than `f` are without their state now.
    beyond_budget: bool,
    events: Vec<Outcome>,
}

impl StateLossWatch {
    /// A watch for a protocol tolerating `f` processes without state.
    pub fn new(f: usize) -> StateLossWatch {
        StateLossWatch {
            f,
            crashed: BTreeSet::new(),
            recovering: BTreeSet::new(),
            beyond_budget: false,
            events: Vec::new(),
        }
    }

    /// The processes crashed at `now` (after a fault started or ended).
    pub fn crashed(&mut self, now: Time, crashed: impl Iterator<Item = ProcessId>) {
        self.crashed = crashed.collect();
        // A recovering process that crashes again is counted as crashed.
        self.recovering.retain(|process| !self.crashed.contains(process));
        self.count(now);
    }

    /// `process` restarted (or stepped after a restart); `recovering`:
    /// what it says about itself now.
    pub fn recovering(&mut self, now: Time, process: ProcessId, recovering: bool) {
        // Up again: no longer crashed, whatever it says.
        let restarted = self.crashed.remove(&process);
        let changed = if recovering { self.recovering.insert(process) } else { self.recovering.remove(&process) };
        if changed || restarted {
            self.count(now);
        }
    }

    /// True if `process` restarted and has not yet said it recovered: the
    /// engine asks it again after its steps.
    pub fn watches(&self, process: ProcessId) -> bool {
        self.recovering.contains(&process)
    }

    fn count(&mut self, now: Time) {
        let without_state = self.crashed.len() + self.recovering.len();
        if without_state > self.f && !self.beyond_budget {
            let replicas = self.crashed.union(&self.recovering).copied().collect();
            self.events.push(Outcome::Unrecoverable { at: now, replicas, f: self.f });
        }
        self.beyond_budget = without_state > self.f;
    }

    /// The Unrecoverable events recorded, in time order.
    pub fn into_events(self) -> Vec<Outcome> {
        self.events
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(id: u32) -> ProcessId {
        ProcessId(id)
    }

    #[test]
    fn one_event_per_episode_beyond_f() {
        let mut watch = StateLossWatch::new(1);
        watch.crashed(Time::from_ns(1), [p(1)].into_iter());
        // p1 restarts and recovers: never two without state.
        watch.crashed(Time::from_ns(2), std::iter::empty());
        watch.recovering(Time::from_ns(2), p(1), true);
        assert!(watch.watches(p(1)));
        watch.recovering(Time::from_ns(3), p(1), false);
        assert!(!watch.watches(p(1)));
        watch.crashed(Time::from_ns(4), [p(2)].into_iter());
        // Restarted: moves from crashed to recovering, still one.
        watch.recovering(Time::from_ns(4), p(2), true);
        // p2 is still recovering when p3 crashes: two without state.
        watch.crashed(Time::from_ns(5), [p(3)].into_iter());
        // A third in the same episode is not another event.
        watch.crashed(Time::from_ns(6), [p(1), p(3)].into_iter());
        // Back to one, then beyond again: a second episode.
        watch.recovering(Time::from_ns(7), p(2), false);
        watch.crashed(Time::from_ns(7), std::iter::empty());
        watch.crashed(Time::from_ns(8), [p(1), p(2)].into_iter());
        let events = watch.into_events();
        assert_eq!(
            events,
            [
                Outcome::Unrecoverable { at: Time::from_ns(5), replicas: vec![p(2), p(3)], f: 1 },
                Outcome::Unrecoverable { at: Time::from_ns(8), replicas: vec![p(1), p(2)], f: 1 },
            ]
        );
    }
}
