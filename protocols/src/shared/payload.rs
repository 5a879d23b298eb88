//! What a log-based protocol orders: a client command (every protocol so
//! far) or something that carries one with metadata of its own (deferred
//! update replication orders certification requests through FPaxos). The
//! log, its leader change and its slot executor need only this much of it.

use sim_core::{Command, CommandId};
use std::fmt;
use std::sync::Arc;

/// A value a slot of the log may hold.
pub trait Payload: Clone + fmt::Debug + PartialEq + Eq + Send + Sync + 'static {
    /// Identifies one proposal of the value (a follower's record of what it
    /// forwarded and has not learned chosen).
    type Key: Ord + Clone + fmt::Debug + Send + Sync;

    /// The client command inside.
    fn command(&self) -> &Command;

    /// This proposal's key.
    fn key(&self) -> Self::Key;

    /// The client command this value is, if the log may skip a second copy
    /// of it (closed-loop clients: a seq at or below one chosen was chosen
    /// already); `None` if every copy must be ordered (its consumer
    /// deduplicates).
    fn dedup_id(&self) -> Option<CommandId>;

    /// Size on the wire.
    fn size_bytes(&self) -> u64;

    /// The value a client's `submit` of `cmd` proposes, if this log takes
    /// client commands directly.
    fn from_client(cmd: Arc<Command>) -> Option<Arc<Self>>;
}

impl Payload for Command {
    type Key = CommandId;

    fn command(&self) -> &Command {
        self
    }

    fn key(&self) -> CommandId {
        self.id
    }

    fn dedup_id(&self) -> Option<CommandId> {
        Some(self.id)
    }

    fn size_bytes(&self) -> u64 {
        Command::size_bytes(self)
    }

    fn from_client(cmd: Arc<Command>) -> Option<Arc<Self>> {
        Some(cmd)
    }
}
