//! Commands clients submit, and the key-value operations inside them.

use crate::id::ClientId;
use smallvec::SmallVec;

/// A key of the replicated key-value store.
pub type Key = u64;

/// Keys from here up are *single-use*: the workload gives each to exactly
/// one command (its "fresh" keys, drawn when a command does not conflict).
/// Nothing ever reads what such a command writes, so the store need not
/// keep it and the per-key checks have nothing to compare: every replica
/// sees one operation on the key, and its result is always "absent".
/// Skipping them keeps the cost of a run proportional to its contention,
/// not to the number of commands (most keys of a low-conflict run are
/// single-use).
pub const SINGLE_USE_KEY_BASE: Key = 1 << 62;

/// True if `key` is used by one command only (see [`SINGLE_USE_KEY_BASE`]).
pub fn is_single_use(key: Key) -> bool {
    key >= SINGLE_USE_KEY_BASE
}

/// A value of the store. Workloads write values that are unique per write
/// (see [`Command::unique_value`]) so a read's result names the write it saw,
/// which is what a linearizability check needs.
pub type Value = u64;

/// One operation on one key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    /// Read the key's current value.
    Get,
    /// Write a value; returns the value it replaced.
    Put(Value),
}

/// Identifies a command across retries: the submitting client and its
/// per-client sequence number (starting at 1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CommandId {
    /// The client that submitted the command.
    pub client: ClientId,
    /// The client's sequence number for it, from 1.
    pub seq: u64,
}

/// A command's operations. Most commands touch one key, so one operation is
/// stored inline: a command is a single allocation, which matters when
/// every replica touches every command.
pub type Ops = SmallVec<[(Key, Op); 1]>;

/// A client request: one or more key operations executed atomically.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Command {
    /// Who submitted it, and which of its commands it is.
    pub id: CommandId,
    /// The operations, on distinct keys, in the order the client gave them.
    pub ops: Ops,
    /// Bytes of application payload carried by the command (the values of
    /// a write); counted in message sizes.
    pub payload_bytes: u32,
}

/// Bytes a command adds to a message besides its payload: its id (12) and
/// per operation a key (8), an op tag (1) and a value (8).
const COMMAND_HEADER_BYTES: u64 = 12;
const BYTES_PER_OP: u64 = 17;

impl Command {
    /// True if every operation is a read.
    pub fn is_read_only(&self) -> bool {
        self.ops.iter().all(|(_, op)| matches!(op, Op::Get))
    }

    /// The keys the command touches, in operation order.
    pub fn keys(&self) -> impl Iterator<Item = Key> + '_ {
        self.ops.iter().map(|(key, _)| *key)
    }

    /// Two commands conflict if they share a key (specs README §1.3).
    pub fn conflicts_with(&self, other: &Command) -> bool {
        self.keys().any(|key| other.keys().any(|other_key| other_key == key))
    }

    /// Size of the command on the wire, for message-size accounting.
    pub fn size_bytes(&self) -> u64 {
        COMMAND_HEADER_BYTES + BYTES_PER_OP * self.ops.len() as u64 + u64::from(self.payload_bytes)
    }

    /// The value a write of this command stores: unique per (client, seq),
    /// never 0, so "absent" and every write are distinguishable.
    pub fn unique_value(id: CommandId) -> Value {
        (u64::from(id.client.0) + 1) << 40 | (id.seq & ((1 << 40) - 1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cmd(client: u32, seq: u64, ops: Vec<(Key, Op)>) -> Command {
        Command { id: CommandId { client: ClientId(client), seq }, ops: ops.into(), payload_bytes: 100 }
    }

    #[test]
    fn conflicts_are_shared_keys() {
        let a = cmd(0, 1, vec![(1, Op::Get), (2, Op::Put(5))]);
        let b = cmd(1, 1, vec![(2, Op::Get)]);
        let c = cmd(1, 2, vec![(3, Op::Get)]);
        assert!(a.conflicts_with(&b));
        assert!(b.conflicts_with(&a));
        assert!(!a.conflicts_with(&c));
        assert!(b.is_read_only());
        assert!(!a.is_read_only());
        assert_eq!(a.size_bytes(), 12 + 34 + 100);
    }

    #[test]
    fn unique_values_differ() {
        let id = |client, seq| CommandId { client: ClientId(client), seq };
        assert_ne!(Command::unique_value(id(0, 1)), Command::unique_value(id(1, 1)));
        assert_ne!(Command::unique_value(id(0, 1)), Command::unique_value(id(0, 2)));
        assert_ne!(Command::unique_value(id(0, 0)), 0);
    }
}
