//! Caesar's timestamps (caesar.md §3): `(seq, pid)` pairs, unique because
//! each process only generates its own, totally ordered by `seq` first.

use sim_core::ProcessId;
use std::fmt;

/// A timestamp `(seq, pid)`, ordered lexicographically. `Clock::default()`
/// (`seq` 0) is below every timestamp a process generates.
///
/// Packed into one `u64`, `seq` in the high 48 bits and `pid` in the low
/// 16, so the integer order is the lexicographic order: timestamps are
/// compared and stored in every index entry, message and executor record,
/// and one word is half the memory of a `(u64, u32)` pair. 2^48 sequence
/// numbers and 65,535 process ids are far beyond any simulated run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Clock(u64);

/// Bits of `pid` in a [`Clock`].
const PID_BITS: u32 = 16;
/// Largest `seq` a [`Clock`] holds.
pub const MAX_CLOCK_SEQ: u64 = (1 << (64 - PID_BITS)) - 1;

impl Clock {
    /// The timestamp `(seq, pid)`; `seq` saturates at [`MAX_CLOCK_SEQ`] and `pid`
    /// keeps its low 16 bits.
    pub fn new(seq: u64, pid: ProcessId) -> Clock {
        debug_assert!(pid.0 < 1 << PID_BITS, "process id {} does not fit a clock", pid.0);
        Clock(seq.min(MAX_CLOCK_SEQ) << PID_BITS | u64::from(pid.0 & ((1 << PID_BITS) - 1)))
    }

    /// The logical time.
    pub fn seq(self) -> u64 {
        self.0 >> PID_BITS
    }

    /// The process that generated it: the tie-breaker that makes
    /// timestamps unique.
    pub fn pid(self) -> u32 {
        (self.0 & ((1 << PID_BITS) - 1)) as u32
    }
}

impl fmt::Display for Clock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "({},{})", self.seq(), self.pid())
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
        self.local_seq = (self.local_seq + 1).min(MAX_CLOCK_SEQ);
        Clock::new(self.local_seq, self.me)
    }

    /// The largest timestamp seen or generated here, as this process's
    /// (every later `clock_next()` is above it).
    pub fn current(&self) -> Clock {
        Clock::new(self.local_seq, self.me)
    }

    /// `clock_join(c)`: later timestamps of this process will be above `c`.
    pub fn clock_join(&mut self, clock: Clock) {
        self.local_seq = self.local_seq.max(clock.seq());
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
        let clock = Clock::new(123_456_789, ProcessId(64));
        assert_eq!((clock.seq(), clock.pid(), clock.to_string()), (123_456_789, 64, "(123456789,64)".to_string()));
        assert!(
            Clock::default() < Clock::new(0, ProcessId(1)) && Clock::new(u64::MAX, ProcessId(1)).seq() == MAX_CLOCK_SEQ
        );
    }
}
