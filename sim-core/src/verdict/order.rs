//! Checks every execution as it happens: per-key order agreement across
//! replicas, no double execution, nothing executed that was not submitted.
//!
//! State is kept only for keys with executions some replica has not caught
//! up with: once every replica has executed the same writes of a key (and
//! every read of it), the key is forgotten, so a run's memory follows the
//! commands in flight, not all keys ever touched. Forgetting is sound
//! because all replicas agree up to that point: later writes are compared
//! from a common start.

use super::{Violation, Violations};
use crate::command::{Command, CommandId, Key, Op, is_single_use};
use crate::fixed_hash::FixedHashMap;
use crate::id::ProcessId;
use smallvec::SmallVec;
use std::collections::BTreeSet;

/// Per key: the agreed write order not yet executed everywhere, how far
/// each replica got, and reads not yet executed everywhere.
#[derive(Debug, Default)]
struct KeyOrder {
    /// Writes dropped from the front of `writes` (every replica is past them).
    base: u64,
    /// The write order, as first executed, from position `base + 1`, with
    /// the replica that executed each first (usually one or two long).
    writes: SmallVec<[(CommandId, ProcessId); 2]>,
    /// Writes of this key executed by each replica (by process index),
    /// counted from `base`'s origin.
    done: SmallVec<[u64; 5]>,
    /// Reads not yet executed by every replica: id, writes before it at
    /// the first replica, that replica, and a bit per replica that ran it.
    reads: Vec<(CommandId, u64, ProcessId, u64)>,
}

/// The sequence numbers each client issued and each replica executed for
/// it: per (client, replica) a contiguous prefix, in one flat table with a
/// client's count of issued commands and its replicas side by side (one
/// cache line for a command's whole life), and the rare numbers beyond a
/// gap in a shared set.
#[derive(Clone, Debug, Default)]
struct ExecutedSeqs {
    replicas: usize,
    /// `prefix[client * (replicas + 1)]`: commands the client issued;
    /// `prefix[client * (replicas + 1) + 1 + replica]`: seqs 1..=prefix
    /// executed by that replica.
    prefix: Vec<u64>,
    /// (client, replica, seq) executed beyond its prefix.
    beyond: BTreeSet<(u32, u32, u64)>,
}

impl ExecutedSeqs {
    fn new(replicas: usize, clients: usize) -> ExecutedSeqs {
        ExecutedSeqs { replicas, prefix: vec![0; (replicas + 1) * clients], beyond: BTreeSet::new() }
    }

    /// Commands `client` issued so far (0 for an unknown client).
    fn issued(&self, client: usize) -> u64 {
        self.prefix.get(client * (self.replicas + 1)).copied().unwrap_or(0)
    }

    /// `client` issued `seq`.
    fn issue(&mut self, client: usize, seq: u64) {
        let issued = &mut self.prefix[client * (self.replicas + 1)];
        *issued = (*issued).max(seq);
    }

    /// Records that `replica` executed `seq` of `client`; false if it
    /// already had.
    fn insert(&mut self, client: usize, replica: usize, seq: u64) -> bool {
        let prefix = &mut self.prefix[client * (self.replicas + 1) + 1 + replica];
        let (client, replica) = (client as u32, replica as u32);
        if seq <= *prefix {
            return false;
        }
        if seq != *prefix + 1 {
            return self.beyond.insert((client, replica, seq));
        }
        *prefix = seq;
        while !self.beyond.is_empty() && self.beyond.remove(&(client, replica, *prefix + 1)) {
            *prefix += 1;
        }
        true
    }

    /// True if `replica` executed `seq` of `client`.
    fn contains(&self, client: usize, replica: usize, seq: u64) -> bool {
        if replica >= self.replicas {
            return false;
        }
        let prefix = self.prefix.get(client * (self.replicas + 1) + 1 + replica).copied().unwrap_or(0);
        seq <= prefix || self.beyond.contains(&(client as u32, replica as u32, seq))
    }
}

/// Watches executions at every replica of a fully replicated shard.
#[derive(Debug)]
pub struct ExecutionChecker {
    enabled: bool,
    replicas: usize,
    keys: FixedHashMap<Key, KeyOrder>,
    executed: ExecutedSeqs,
    violations: Violations,
    executions: u64,
    /// Commands a client resubmitted after a timeout.
    retried: BTreeSet<CommandId>,
    /// Executions of a retried command that the client table turned into
    /// no-ops.
    duplicates_suppressed: u64,
    /// Commands a replica executed a second time (the DuplicateApply
    /// outcome; each is also a DoubleExecution violation).
    double_executions: u64,
    /// At a write-order disagreement, each write and the replica that put
    /// another write at its position: that replica went past it. The
    /// AtomicityViolation candidates (see [`ExecutionChecker::skipped`]).
    skipped: BTreeSet<(CommandId, ProcessId)>,
}

impl ExecutionChecker {
    /// A checker for `replicas` replicas (at most 64) and `clients` clients.
    pub fn new(replicas: usize, clients: usize) -> ExecutionChecker {
        assert!((1..=64).contains(&replicas), "the order check tracks at most 64 replicas");
        ExecutionChecker {
            enabled: true,
            replicas,
            keys: FixedHashMap::default(),
            executed: ExecutedSeqs::new(replicas, clients),
            violations: Violations::default(),
            executions: 0,
            retried: BTreeSet::new(),
            duplicates_suppressed: 0,
            double_executions: 0,
            skipped: BTreeSet::new(),
        }
    }

    /// A checker that only counts executions (checks switched off).
    pub fn disabled() -> ExecutionChecker {
        ExecutionChecker { enabled: false, ..ExecutionChecker::new(1, 0) }
    }

    /// False if checks are switched off.
    pub fn enabled(&self) -> bool {
        self.enabled
    }

    /// A client issued command `id` (sequence numbers grow by one).
    pub fn on_submit(&mut self, id: CommandId) {
        if !self.enabled {
            return;
        }
        self.executed.issue(id.client.index(), id.seq);
    }

    /// A client resubmitted `id` after a timeout: the protocol may order
    /// it twice.
    pub fn on_retry(&mut self, id: CommandId) {
        if self.enabled {
            self.retried.insert(id);
        }
    }

    /// `replica` was asked to execute `id` again and its client table
    /// made it a no-op: allowed (and counted) for a retried command; a
    /// double execution otherwise, since only a retry may put a command
    /// into a protocol twice.
    pub fn on_duplicate(&mut self, replica: ProcessId, id: CommandId) {
        if !self.enabled {
            return;
        }
        if self.retried.contains(&id) {
            self.duplicates_suppressed += 1;
        } else {
            self.double_executions += 1;
            self.violations.push(Violation::DoubleExecution { replica, cmd: id });
        }
    }

    /// Re-executions of retried commands made no-ops by the client table.
    pub fn duplicates_suppressed(&self) -> u64 {
        self.duplicates_suppressed
    }

    /// `replica` executed `cmd`.
    pub fn on_execute(&mut self, replica: ProcessId, cmd: &Command) {
        if !self.enabled {
            return;
        }
        self.executions += 1;
        let id = cmd.id;
        let submitted = id.seq >= 1 && id.seq <= self.executed.issued(id.client.index());
        if !submitted {
            self.violations.push(Violation::NeverSubmitted { replica, cmd: id });
            return;
        }
        if !self.executed.insert(id.client.index(), replica.index(), id.seq) {
            self.double_executions += 1;
            self.violations.push(Violation::DoubleExecution { replica, cmd: id });
            return;
        }
        // A single-use key sees one operation at every replica: its order
        // cannot disagree.
        for &(key, op) in cmd.ops.iter().filter(|(key, _)| !is_single_use(*key)) {
            match op {
                Op::Put(_) => self.on_write(replica, key, id),
                Op::Get => self.on_read(replica, key, id),
            }
        }
    }

    /// `replica` served the read-only `cmd` from its own state, outside
    /// the replicated order (leases, ReadIndex): no other replica executes
    /// it, so there is no position to agree on. It must have been
    /// submitted; whether its result is right is the linearizability
    /// check's to judge.
    pub fn on_local_read(&mut self, replica: ProcessId, cmd: &Command) {
        if !self.enabled {
            return;
        }
        self.executions += 1;
        let id = cmd.id;
        if !(id.seq >= 1 && id.seq <= self.executed.issued(id.client.index())) {
            self.violations.push(Violation::NeverSubmitted { replica, cmd: id });
        }
    }

    fn key_order(&mut self, key: Key) -> &mut KeyOrder {
        let replicas = self.replicas;
        self.keys
            .entry(key)
            .or_insert_with(|| KeyOrder { done: SmallVec::from_elem(0, replicas), ..KeyOrder::default() })
    }

    fn on_write(&mut self, replica: ProcessId, key: Key, id: CommandId) {
        let order = self.key_order(key);
        let position = order.done[replica.index()] + 1;
        let offset = usize::try_from(position - order.base - 1).expect("fits");
        let mut violation = None;
        match order.writes.get(offset) {
            Some(&(expected, expected_at)) if expected != id => {
                violation = Some(Violation::WriteOrder { key, position, replica, executed: id, expected, expected_at });
            }
            Some(_) => {}
            None => order.writes.push((id, replica)),
        }
        order.done[replica.index()] = position;
        self.settle(key);
        if let Some(violation) = violation {
            if let Violation::WriteOrder { expected, expected_at, .. } = violation {
                self.skipped.insert((expected, replica));
                self.skipped.insert((id, expected_at));
            }
            self.violations.push(violation);
        }
    }

    fn on_read(&mut self, replica: ProcessId, key: Key, id: CommandId) {
        let all_replicas = if self.replicas == 64 { u64::MAX } else { (1u64 << self.replicas) - 1 };
        let order = self.key_order(key);
        let writes_before = order.done[replica.index()];
        let bit = 1u64 << replica.index();
        let mut violation = None;
        match order.reads.iter().position(|read| read.0 == id) {
            Some(index) => {
                let (_, expected, expected_at, seen) = &mut order.reads[index];
                if *expected != writes_before {
                    violation = Some(Violation::ReadPosition {
                        key,
                        read: id,
                        replica,
                        writes_before,
                        expected_writes_before: *expected,
                        expected_at: *expected_at,
                    });
                }
                *seen |= bit;
                if *seen == all_replicas {
                    order.reads.swap_remove(index);
                }
            }
            None if bit == all_replicas => {}
            None => order.reads.push((id, writes_before, replica, bit)),
        }
        self.settle(key);
        if let Some(violation) = violation {
            self.violations.push(violation);
        }
    }

    /// Drops writes every replica has executed, and the key once nothing
    /// about it is pending.
    fn settle(&mut self, key: Key) {
        let Some(order) = self.keys.get_mut(&key) else { return };
        let slowest = order.done.iter().copied().min().unwrap_or(0);
        let executed_everywhere = usize::try_from(slowest.saturating_sub(order.base)).unwrap_or(usize::MAX);
        let dropped = executed_everywhere.min(order.writes.len());
        if dropped > 0 {
            order.writes.drain(..dropped);
            order.base += dropped as u64;
        }
        let fastest = order.done.iter().copied().max().unwrap_or(0);
        if slowest == fastest && order.writes.is_empty() && order.reads.is_empty() {
            self.keys.remove(&key);
        }
    }

    /// True if `replica` executed `cmd` (false when checks are off).
    pub fn executed(&self, replica: ProcessId, cmd: CommandId) -> bool {
        self.enabled && self.executed.contains(cmd.client.index(), replica.index(), cmd.seq)
    }

    /// Commands executed twice at one replica (not counting re-executions
    /// of retried commands that the client table suppressed).
    pub fn double_executions(&self) -> u64 {
        self.double_executions
    }

    /// Every `(write, replica)` where `replica` executed another write of
    /// the key at the position some replica gave `write`: it went past
    /// `write`, which it can no longer execute in that order. Empty in a
    /// run whose replicas agree on every key's write order.
    pub fn skipped(&self) -> impl Iterator<Item = (CommandId, ProcessId)> + '_ {
        self.skipped.iter().copied()
    }

    /// Executions checked.
    pub fn executions(&self) -> u64 {
        self.executions
    }

    /// Keys with state still held (for tests and memory accounting).
    pub fn keys_held(&self) -> usize {
        self.keys.len()
    }

    /// What went wrong.
    pub fn into_violations(self) -> Violations {
        self.violations
    }

    /// What went wrong so far.
    pub fn violations(&self) -> &Violations {
        &self.violations
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::id::ClientId;

    fn write(client: u32, seq: u64, key: Key) -> Command {
        let id = CommandId { client: ClientId(client), seq };
        Command { id, ops: vec![(key, Op::Put(Command::unique_value(id)))].into(), payload_bytes: 0 }
    }

    fn read(client: u32, seq: u64, key: Key) -> Command {
        Command { id: CommandId { client: ClientId(client), seq }, ops: vec![(key, Op::Get)].into(), payload_bytes: 0 }
    }

    fn checker(replicas: usize, cmds: &[&Command]) -> ExecutionChecker {
        let mut checker = ExecutionChecker::new(replicas, 4);
        for cmd in cmds {
            checker.on_submit(cmd.id);
        }
        checker
    }

    #[test]
    fn same_order_everywhere_passes_and_forgets_the_key() {
        let (a, b, r) = (write(0, 1, 7), write(1, 1, 7), read(2, 1, 7));
        let mut checker = checker(3, &[&a, &b, &r]);
        for replica in 1..=3 {
            checker.on_execute(ProcessId(replica), &a);
            checker.on_execute(ProcessId(replica), &r);
            checker.on_execute(ProcessId(replica), &b);
        }
        assert_eq!(checker.violations().total(), 0);
        assert_eq!(checker.keys_held(), 0, "everyone caught up: nothing held");
    }

    #[test]
    fn different_write_order_is_caught() {
        let (a, b) = (write(0, 1, 7), write(1, 1, 7));
        let mut checker = checker(2, &[&a, &b]);
        checker.on_execute(ProcessId(1), &a);
        checker.on_execute(ProcessId(1), &b);
        checker.on_execute(ProcessId(2), &b);
        checker.on_execute(ProcessId(2), &a);
        let violations = checker.into_violations();
        assert_eq!(violations.total(), 2);
        let text = violations.kept()[0].to_string();
        assert_eq!(text, "order: key 7, write #1: p2 executed c1#1 but p1 executed c0#1 there");
    }

    #[test]
    fn reads_may_reorder_among_reads_but_not_across_writes() {
        let (w, r1, r2) = (write(0, 1, 7), read(1, 1, 7), read(2, 1, 7));
        let mut checker = checker(2, &[&w, &r1, &r2]);
        checker.on_execute(ProcessId(1), &r1);
        checker.on_execute(ProcessId(1), &r2);
        checker.on_execute(ProcessId(1), &w);
        checker.on_execute(ProcessId(2), &r2);
        checker.on_execute(ProcessId(2), &w);
        checker.on_execute(ProcessId(2), &r1);
        let violations = checker.into_violations();
        assert_eq!(violations.total(), 1);
        assert!(
            violations.kept()[0].to_string().contains("read c1#1 executed after 1 write(s) at p2 but after 0 at p1")
        );
    }

    #[test]
    fn double_and_unsubmitted_executions_are_caught() {
        let a = write(0, 1, 7);
        let mut checker = checker(1, &[&a]);
        checker.on_execute(ProcessId(1), &a);
        checker.on_execute(ProcessId(1), &a);
        checker.on_execute(ProcessId(1), &write(0, 2, 8));
        let text: Vec<String> = checker.violations().kept().iter().map(|v| v.to_string()).collect();
        assert_eq!(
            text,
            ["execution: p1 executed c0#1 twice", "execution: p1 executed c0#2, which no client submitted"]
        );
    }

    #[test]
    fn single_use_keys_skip_order_state_but_not_execution_checks() {
        let single_use = write(0, 1, crate::command::SINGLE_USE_KEY_BASE + 5);
        let mut checker = checker(2, &[&single_use]);
        checker.on_execute(ProcessId(1), &single_use);
        assert_eq!(checker.keys_held(), 0, "no per-key state for a key one command uses");
        checker.on_execute(ProcessId(1), &single_use);
        let text: Vec<String> = checker.violations().kept().iter().map(|v| v.to_string()).collect();
        assert_eq!(text, ["execution: p1 executed c0#1 twice"]);
    }

    #[test]
    fn executed_seqs_handle_gaps() {
        let mut seqs = ExecutedSeqs::new(2, 3);
        assert!(seqs.insert(1, 1, 2));
        assert!(seqs.insert(1, 1, 1));
        assert!(!seqs.insert(1, 1, 2));
        assert!(seqs.insert(1, 0, 2), "another replica");
        assert!(seqs.insert(1, 1, 4));
        assert!(!seqs.insert(1, 1, 4));
        assert!(seqs.insert(1, 1, 3));
        let (client, replica, replicas) = (1, 1, 2);
        assert_eq!((seqs.prefix[client * (replicas + 1) + 1 + replica], seqs.beyond.len()), (4, 1));
    }
}
