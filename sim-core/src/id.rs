//! Identifiers of processes, clients and regions.

use std::fmt;

/// A replica process. Ids are positive (specs README §1.1): shard `s`
/// (0-based) owns ids `s*n+1 ..= s*n+n`, and 0 is never a process, so
/// ballot 0 can mean "nothing accepted".
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ProcessId(pub u32);

impl ProcessId {
    /// The 0-based position of this process in a shard-0 process table.
    pub fn index(self) -> usize {
        debug_assert!(self.0 >= 1, "process ids start at 1");
        self.0 as usize - 1
    }

    /// The process at 0-based position `index` of shard 0.
    pub fn from_index(index: usize) -> ProcessId {
        ProcessId(u32::try_from(index + 1).expect("fewer than 2^32 processes"))
    }
}

impl fmt::Display for ProcessId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "p{}", self.0)
    }
}

/// A closed-loop client. Ids are dense from 0 within a run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ClientId(pub u32);

impl ClientId {
    /// Position of this client in the run's client table.
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

impl fmt::Display for ClientId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "c{}", self.0)
    }
}

/// A region of the latency matrix (its index there).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RegionId(pub u16);

impl RegionId {
    /// Index of the region in its matrix.
    pub fn index(self) -> usize {
        usize::from(self.0)
    }
}
