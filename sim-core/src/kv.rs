//! The replicated state machine: a key-value store with get and put.

use crate::command::{Command, Op, Value, is_single_use};
use crate::fixed_hash::FixedHashMap;

/// What one operation returned: the key's value before the operation
/// (`None` if never written). A get returns the current value; a put
/// returns the value it replaced.
pub type OpResult = Option<Value>;

/// One result per operation of a command (inline for one operation).
pub type OpResults = smallvec::SmallVec<[OpResult; 1]>;

/// A key-value store; executors apply commands to it through
/// [`crate::protocol::Apply`], never directly, so the harness sees every
/// execution. Single-use keys ([`crate::command::SINGLE_USE_KEY_BASE`]) are
/// not stored: no later operation could read them, and the only operation
/// on one always finds it absent.
#[derive(Debug, Default)]
pub struct KvStore {
    values: FixedHashMap<u64, Value>,
}

impl KvStore {
    /// An empty store.
    pub fn new() -> KvStore {
        KvStore::default()
    }

    /// Applies every operation of `cmd`, appending one result per operation
    /// to `results` if given.
    pub fn apply(&mut self, cmd: &Command, mut results: Option<&mut OpResults>) {
        for &(key, op) in &cmd.ops {
            let before = match op {
                _ if is_single_use(key) => None,
                Op::Get => self.values.get(&key).copied(),
                Op::Put(value) => self.values.insert(key, value),
            };
            if let Some(results) = results.as_deref_mut() {
                results.push(before);
            }
        }
    }

    /// The current value of `key`.
    pub fn get(&self, key: u64) -> Option<Value> {
        self.values.get(&key).copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::command::CommandId;
    use crate::id::ClientId;

    #[test]
    fn single_use_keys_are_not_stored() {
        let mut store = KvStore::new();
        let key = crate::command::SINGLE_USE_KEY_BASE + 1;
        let id = CommandId { client: ClientId(0), seq: 1 };
        let write = Command { id, ops: vec![(key, Op::Put(9))].into(), payload_bytes: 0 };
        let mut results = OpResults::new();
        store.apply(&write, Some(&mut results));
        assert_eq!(results.as_slice(), [None]);
        assert_eq!(store.get(key), None);
    }

    #[test]
    fn get_and_put_return_the_value_before() {
        let mut store = KvStore::new();
        let id = CommandId { client: ClientId(0), seq: 1 };
        let write = Command { id, ops: vec![(7, Op::Put(70)), (8, Op::Get)].into(), payload_bytes: 0 };
        let mut results = OpResults::new();
        store.apply(&write, Some(&mut results));
        assert_eq!(results.as_slice(), [None, None]);
        let overwrite = Command { id, ops: vec![(7, Op::Put(71)), (7, Op::Get)].into(), payload_bytes: 0 };
        results.clear();
        store.apply(&overwrite, Some(&mut results));
        assert_eq!(results.as_slice(), [Some(70), Some(71)]);
        assert_eq!(store.get(7), Some(71));
    }
}
