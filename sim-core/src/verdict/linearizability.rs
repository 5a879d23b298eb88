//! Per-key linearizability of the client-observed history.
//!
//! Every write stores a value unique to its command and returns the value
//! it replaced, and every read returns the current value. So a key's
//! history names its own order: the write that replaced nothing comes
//! first, the write that replaced `v` follows the write of `v`, and a read
//! of `v` sits between the write of `v` and the next write. The history is
//! linearizable iff that order is a single chain and each operation can be
//! given a point inside its [invocation, response] interval, in order.
//! Choosing every point as early as possible decides it in one pass
//! (reads between the same two writes commute, so each only needs its own
//! interval to reach past the preceding write's point). Linear in the
//! history after sorting by key.

use super::outcomes::{OutcomeDetector, Outcomes};
use super::{ExecutionChecker, Violation, Violations};
use crate::command::{CommandId, Key, Value};
use crate::fixed_hash::FixedHashMap;
use crate::id::ProcessId;
use crate::kv::KvStore;
use crate::time::Time;

/// One operation of one command on one key, as its client saw it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HistoryOp {
    /// The key.
    pub key: Key,
    /// The command.
    pub cmd: CommandId,
    /// `Some(v)` for a write of `v`; `None` for a read.
    pub written: Option<Value>,
    /// The value the operation returned: the value before it.
    pub observed: Option<Value>,
    /// When the client submitted the command.
    pub invoked: Time,
    /// When the client got the result; `None` if it never did (the
    /// operation may or may not have taken effect).
    pub responded: Option<Time>,
}

/// All client-observed operations of a run, stored compactly (56 bytes
/// each: a run keeps one per operation until it ends).
#[derive(Clone, Debug, Default)]
pub struct History {
    ops: Vec<StoredOp>,
}

/// A [`HistoryOp`] without `Option` tags: value 0 means "none" (workload
/// values are never 0) and `u64::MAX` "never responded".
#[derive(Clone, Copy, Debug)]
struct StoredOp {
    key: Key,
    seq: u64,
    written: Value,
    observed: Value,
    invoked_ns: u64,
    responded_ns: u64,
    client: u32,
}

impl StoredOp {
    fn new(op: HistoryOp) -> StoredOp {
        debug_assert!(op.written != Some(0) && op.observed != Some(0), "values are never 0");
        StoredOp {
            key: op.key,
            seq: op.cmd.seq,
            written: op.written.unwrap_or(0),
            observed: op.observed.unwrap_or(0),
            invoked_ns: op.invoked.as_ns(),
            responded_ns: op.responded.map_or(u64::MAX, Time::as_ns),
            client: op.cmd.client.0,
        }
    }

    fn op(&self) -> HistoryOp {
        let some = |value: Value| (value != 0).then_some(value);
        HistoryOp {
            key: self.key,
            cmd: CommandId { client: crate::id::ClientId(self.client), seq: self.seq },
            written: some(self.written),
            observed: some(self.observed),
            invoked: Time::from_ns(self.invoked_ns),
            responded: (self.responded_ns != u64::MAX).then(|| Time::from_ns(self.responded_ns)),
        }
    }
}

impl History {
    /// An empty history.
    pub fn new() -> History {
        History::default()
    }

    /// Records one operation.
    pub fn push(&mut self, op: HistoryOp) {
        self.ops.push(StoredOp::new(op));
    }

    /// Operations recorded.
    pub fn len(&self) -> usize {
        self.ops.len()
    }

    /// True if nothing was recorded.
    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }

    /// The latest answer to an operation on each of `keys` that has one
    /// (for sorting unanswered commands into blocked and starved,
    /// [`super::progress`]).
    pub(super) fn latest_answer_per_key(&self, keys: &super::progress::Keys) -> super::progress::LatestPerKey {
        let mut latest = super::progress::LatestPerKey::new();
        for op in self.ops.iter().filter(|op| op.responded_ns != u64::MAX && keys.contains(&op.key)) {
            let responded = Time::from_ns(op.responded_ns);
            latest.entry(op.key).and_modify(|t| *t = (*t).max(responded)).or_insert(responded);
        }
        latest
    }

    /// Checks every key; returns what is not linearizable.
    pub fn check(&self) -> Violations {
        self.check_with_outcomes(&[], &ExecutionChecker::disabled()).0
    }

    /// Checks every key, and finds the outcome events of each
    /// ([`super::outcomes`]) from its history, its final value in
    /// `survivors` (the replicas alive at the end, with their stores) and
    /// what each replica executed (`executions`). One pass over the
    /// history sorted by key; a key with a single operation can have no
    /// outcome event and is skipped by the detector.
    pub fn check_with_outcomes(
        &self,
        survivors: &[(ProcessId, &KvStore)],
        executions: &ExecutionChecker,
    ) -> (Violations, Outcomes) {
        let executed = |replica: ProcessId, cmd: CommandId| executions.executed(replica, cmd);
        let mut finals: Vec<(ProcessId, Option<Value>)> = Vec::with_capacity(survivors.len());
        let mut order: Vec<u32> = (0..self.ops.len() as u32).collect();
        order.sort_unstable_by_key(|&i| (self.ops[i as usize].key, i));
        let mut violations = Violations::default();
        let mut outcomes = Outcomes::default();
        let mut detector = OutcomeDetector::new();
        let mut ops: Vec<HistoryOp> = Vec::new();
        for group in order.chunk_by(|&a, &b| self.ops[a as usize].key == self.ops[b as usize].key) {
            let result = match group {
                [single] => check_single(&self.ops[*single as usize].op()),
                _ => {
                    ops.clear();
                    ops.extend(group.iter().map(|&i| self.ops[i as usize].op()));
                    let key = ops[0].key;
                    finals.clear();
                    finals.extend(survivors.iter().map(|&(process, store)| (process, store.get(key))));
                    detector.check_key(&ops, &finals, &executed, &mut outcomes);
                    let refs: Vec<&HistoryOp> = ops.iter().collect();
                    check_key(&refs)
                }
            };
            if let Err(violation) = result {
                violations.push(violation);
            }
        }
        (violations, outcomes)
    }
}

/// A key touched by one operation only (most keys of a low-conflict
/// workload): it must have seen the initial empty value.
fn check_single(op: &HistoryOp) -> Result<(), Violation> {
    if op.observed.is_none() || op.responded.is_none() {
        return Ok(());
    }
    check_key(&[op])
}

fn fail(key: Key, cmds: Vec<CommandId>, reason: String) -> Result<(), Violation> {
    Err(Violation::NotLinearizable { key, cmds, reason })
}

/// Checks one key's operations.
fn check_key(ops: &[&HistoryOp]) -> Result<(), Violation> {
    let key = ops[0].key;
    // Writes by the value they wrote; the completed write that replaced
    // each value. A write that never answered did not report what it
    // replaced: it joins the chain below only if someone observed its value.
    let mut write_of: FixedHashMap<Value, usize> = FixedHashMap::default();
    let mut next_of: FixedHashMap<Option<Value>, usize> = FixedHashMap::default();
    let mut observed_values: FixedHashMap<Value, ()> = FixedHashMap::default();
    for (index, op) in ops.iter().enumerate() {
        if let Some(value) = op.observed.filter(|_| op.responded.is_some()) {
            observed_values.insert(value, ());
        }
        let Some(value) = op.written else { continue };
        write_of.insert(value, index);
        if op.responded.is_none() {
            continue;
        }
        if let Some(&other) = next_of.get(&op.observed) {
            let what = op.observed.map_or("the initial empty value".to_string(), |v| format!("value {v}"));
            return fail(key, vec![ops[other].cmd, op.cmd], format!("two writes both replaced {what}: one was lost"));
        }
        next_of.insert(op.observed, index);
    }
    // Walk the chain of writes from the initial value; where it breaks, a
    // write that never answered but whose value was observed took effect.
    let mut chain: Vec<usize> = Vec::new();
    let mut current: Option<Value> = None;
    loop {
        let next = next_of.get(&current).copied().or_else(|| {
            ops.iter().position(|op| {
                op.responded.is_none()
                    && op.written.is_some_and(|v| observed_values.contains_key(&v))
                    && !chain.iter().any(|&i| ops[i].written == op.written)
            })
        });
        let Some(index) = next else { break };
        if chain.len() > ops.len() {
            return fail(key, vec![ops[index].cmd], "writes replace each other in a cycle".into());
        }
        chain.push(index);
        current = ops[index].written;
    }
    // Every completed write must be on the chain, and every value observed
    // must have been written.
    let position_of_value = |value: Option<Value>| -> Option<usize> {
        match value {
            None => Some(0),
            Some(v) => chain.iter().position(|&i| ops[i].written == Some(v)).map(|p| p + 1),
        }
    };
    let mut slot_of_write: FixedHashMap<usize, usize> = FixedHashMap::default();
    for (position, &index) in chain.iter().enumerate() {
        slot_of_write.insert(index, position + 1);
    }
    let mut reads_by_slot: Vec<Vec<usize>> = vec![Vec::new(); chain.len() + 1];
    for (index, op) in ops.iter().enumerate() {
        match op.written {
            Some(_) if slot_of_write.contains_key(&index) => {}
            Some(_) if op.responded.is_none() => {} // never took effect
            Some(_) => {
                let what = op.observed.map_or("the initial empty value".to_string(), |v| format!("value {v}"));
                return fail(key, vec![op.cmd], format!("a write replaced {what}, which is not the latest write's"));
            }
            None if op.responded.is_none() => {} // a read without an answer constrains nothing
            None => match position_of_value(op.observed) {
                Some(slot) => reads_by_slot[slot].push(index),
                None => {
                    let writer = op.observed.and_then(|v| write_of.get(&v)).map(|&w| ops[w].cmd);
                    let mut cmds = vec![op.cmd];
                    cmds.extend(writer);
                    return fail(
                        key,
                        cmds,
                        format!("a read returned {:?}, which no completed order wrote", op.observed),
                    );
                }
            },
        }
    }
    // Earliest points, in order: reads of the initial value, then each
    // write followed by the reads of its value. `setter` is the operation
    // whose invocation forced the current point, for the report.
    let mut point = Time::ZERO;
    let mut setter: Option<usize> = None;
    for slot in 0..=chain.len() {
        if slot > 0 {
            let index = chain[slot - 1];
            let op = ops[index];
            let at = point.max(op.invoked);
            if let Some(responded) = op.responded.filter(|&responded| at > responded) {
                let forcing = ops[setter.expect("a point after time 0 has a setter")];
                let reason = if forcing.written.is_none() {
                    format!(
                        "stale read: a read started at {} returned a value that a write completed at {responded} had \
                         already replaced",
                        forcing.invoked
                    )
                } else {
                    format!(
                        "a write completed at {responded} replaced the value of a write that only started at {}",
                        forcing.invoked
                    )
                };
                return fail(key, vec![forcing.cmd, op.cmd], reason);
            }
            if op.invoked >= point {
                setter = Some(index);
            }
            point = at;
        }
        let slot_start = point;
        for &index in &reads_by_slot[slot] {
            let op = ops[index];
            let at = slot_start.max(op.invoked);
            if let Some(responded) = op.responded.filter(|&responded| at > responded) {
                let mut cmds = vec![op.cmd];
                cmds.extend(setter.map(|s| ops[s].cmd));
                return fail(
                    key,
                    cmds,
                    format!(
                        "a read completed at {responded} returned a value whose write could not have taken effect yet"
                    ),
                );
            }
            if at > point {
                point = at;
                setter = Some(index);
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::id::ClientId;

    fn id(client: u32) -> CommandId {
        CommandId { client: ClientId(client), seq: 1 }
    }

    fn write(client: u32, value: Value, before: Option<Value>, invoked: u64, responded: u64) -> HistoryOp {
        HistoryOp {
            key: 1,
            cmd: id(client),
            written: Some(value),
            observed: before,
            invoked: Time::from_ns(invoked),
            responded: Some(Time::from_ns(responded)),
        }
    }

    fn read(client: u32, observed: Option<Value>, invoked: u64, responded: u64) -> HistoryOp {
        HistoryOp { written: None, ..write(client, 0, observed, invoked, responded) }
    }

    fn check(ops: Vec<HistoryOp>) -> Result<(), String> {
        let mut history = History::new();
        for op in ops {
            history.push(op);
        }
        let violations = history.check();
        match violations.kept().first() {
            None => Ok(()),
            Some(violation) => Err(violation.to_string()),
        }
    }

    #[test]
    fn sequential_and_concurrent_histories_pass() {
        // w(10) then w(20) then a read of 20; a read of nothing overlapping w(10).
        assert_eq!(
            check(vec![
                write(0, 10, None, 0, 10),
                read(1, None, 5, 12),
                write(2, 20, Some(10), 11, 20),
                read(3, Some(20), 21, 30),
            ]),
            Ok(())
        );
        // Concurrent writes may take effect in either order.
        assert_eq!(check(vec![write(0, 10, Some(20), 0, 10), write(1, 20, None, 0, 10)]), Ok(()));
    }

    #[test]
    fn stale_read_fails() {
        let result = check(vec![write(0, 10, None, 0, 10), write(1, 20, Some(10), 11, 20), read(2, Some(10), 25, 30)]);
        assert!(result.unwrap_err().contains("stale read"));
    }

    #[test]
    fn lost_write_fails() {
        let result = check(vec![write(0, 10, None, 0, 10), write(1, 20, None, 11, 20)]);
        assert!(result.unwrap_err().contains("both replaced the initial empty value: one was lost"));
    }

    #[test]
    fn real_time_order_of_writes_is_enforced() {
        // w(20) replaced 10, but completed before w(10) was even invoked.
        let result = check(vec![write(0, 10, None, 50, 60), write(1, 20, Some(10), 0, 10)]);
        assert!(result.unwrap_err().contains("replaced the value of a write that only started at"));
    }

    #[test]
    fn read_from_the_future_fails() {
        // A read returns 10 and completes before w(10) is invoked.
        let result = check(vec![read(1, Some(10), 0, 5), write(0, 10, None, 10, 20)]);
        assert!(result.unwrap_err().contains("could not have taken effect yet"));
    }

    #[test]
    fn pending_writes_may_or_may_not_take_effect() {
        let mut pending = write(0, 10, None, 0, 0);
        pending.responded = None;
        // Observed by a read: it took effect.
        assert_eq!(check(vec![pending, read(1, Some(10), 5, 8)]), Ok(()));
        // Not observed: it did not.
        assert_eq!(check(vec![pending, read(1, None, 5, 8)]), Ok(()));
        // Between two completed writes: w(5), pending w(10), w(20) replaced 10.
        let mut middle = write(0, 10, None, 12, 0);
        middle.responded = None;
        let history = vec![write(1, 5, None, 0, 10), middle, write(2, 20, Some(10), 15, 30)];
        assert_eq!(check(history), Ok(()));
    }

    #[test]
    fn reading_an_unwritten_value_fails() {
        assert!(check(vec![read(0, Some(99), 0, 1)]).unwrap_err().contains("no completed order wrote"));
    }
}
