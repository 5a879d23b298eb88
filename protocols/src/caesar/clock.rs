//! Caesar's timestamps (caesar.md §3): `(seq, pid)` pairs, unique because
//! each process only generates its own, totally ordered by `seq` first.

use sim_core::ProcessId;
use std::fmt;

/// A timestamp `(seq, pid)`, ordered lexicographically. `Clock::default()`
/// (`seq` 0) is below every timestamp a process generates.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Clock {
    /// The logical time.
    pub seq: u64,
    /// The process that generated it: the tie-breaker that makes
    /// timestamps unique.
    pub pid: u32,
}

impl Clock {
    /// The timestamp `(seq, pid)`.
    pub fn new(seq: u64, pid: ProcessId) -> Clock {
        Clock { seq, pid: pid.0 }
    }
}

impl fmt::Display for Clock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "({},{})", self.seq, self.pid)
    }
}

/// A process's timestamp generator: `local_seq` and its own id.
#[derive(Clone, Debug)]
pub struct ClockGen {
    me: ProcessId,
    local_seq: u64,
}

impl ClockGen {
    /// A generator for process `me`, starting at 0.
    pub fn new(me: ProcessId) -> ClockGen {
        ClockGen { me, local_seq: 0 }
    }

    /// `clock_next()`: a fresh timestamp above every one seen so far.
    pub fn clock_next(&mut self) -> Clock {
        self.local_seq += 1;
        Clock::new(self.local_seq, self.me)
    }

    /// `clock_join(c)`: later timestamps of this process will be above `c`.
    pub fn clock_join(&mut self, clock: Clock) {
        self.local_seq = self.local_seq.max(clock.seq);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_is_above_everything_joined() {
        let mut clock = ClockGen::new(ProcessId(1));
        assert_eq!(clock.clock_next(), Clock::new(1, ProcessId(1)));
        clock.clock_join(Clock::new(1, ProcessId(2)));
        assert_eq!(clock.clock_next(), Clock::new(2, ProcessId(1)), "joining a lower clock changes nothing");
        clock.clock_join(Clock::new(10, ProcessId(2)));
        let next = clock.clock_next();
        assert_eq!(next, Clock::new(11, ProcessId(1)));
        assert!(next > Clock::new(10, ProcessId(2)));
        assert!(Clock::new(5, ProcessId(1)) < Clock::new(5, ProcessId(2)), "ties broken by pid");
        assert!(Clock::new(5, ProcessId(9)) < Clock::new(6, ProcessId(1)), "seq first");
    }
}
