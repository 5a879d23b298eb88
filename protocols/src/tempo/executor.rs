//! Tempo's per-key votes-table executor (tempo.md §7).
//!
//! Per key it counts, for every process `j`, the timestamps `j` promised
//! (attached promises of committed commands, detached promises) as the
//! highest contiguous one `H_j` plus the few ranges above a gap. The key is
//! *stable* up to the `S`-th largest `H_j`: no unknown command can still
//! commit on it with a timestamp that low. Committed commands wait in the
//! key's queue in `(timestamp, dot)` order and run once their timestamp is
//! stable; a multi-key command runs when it is at the head of, and stable
//! on, every key it touches (§7.4).

use super::clocks::Votes;
use crate::shared::dot::Dot;
use sim_core::protocol::{Apply, Executor};
use sim_core::{Command, FixedHashMap, Key, ProcessId, Time};
use std::collections::VecDeque;
use std::sync::Arc;

/// Most processes a shard may have (stability selects over a fixed-size
/// buffer).
pub const MAX_PROCESSES: usize = 64;

/// What the protocol hands its executor.
#[derive(Clone, Debug)]
pub enum TableInfo {
    /// A command committed with timestamp `ts`, with the attached promises
    /// its commit carried (§6.6 AttachedVotes). One per command rather than
    /// one per key: the state machine applies a command as a whole.
    AttachedVotes {
        /// Its id.
        dot: Dot,
        /// The command.
        cmd: Arc<Command>,
        /// Its committed timestamp.
        ts: u64,
        /// Attached promises, now usable since the command is known.
        votes: Arc<Votes>,
        /// An NFR read (§9), executed only at its coordinator: it orders
        /// after every write with the same timestamp (see `Tempo`'s docs).
        nfr_read: bool,
    },
    /// Promises usable as they are (§8 DetachedVotes, and the attached
    /// promises of an NFR read this process does not execute).
    DetachedVotes {
        /// The promises.
        votes: Arc<Votes>,
    },
}

/// Execution order of a key's queue: timestamp, then NFR reads after
/// writes of the same timestamp, then dot.
type Order = (u64, bool, Dot);

/// A committed command waiting on one of its keys.
#[derive(Clone, Debug)]
struct Pending {
    order: Order,
    cmd: Arc<Command>,
    committed_at: Time,
}

/// The votes table and the queue of one key.
#[derive(Debug)]
struct KeyTable {
    /// `H_j` by process index: every timestamp `1..=H_j` is promised.
    contiguous: Box<[u64]>,
    /// Promised ranges above a gap: (process index, start, end); per
    /// process disjoint and never adjacent to each other or to `H_j + 1`.
    above: Vec<(usize, u64, u64)>,
    /// The `S`-th largest `H_j`.
    stable: u64,
    /// Committed commands not executed yet, in [`Order`].
    queue: VecDeque<Pending>,
    /// The order of the last command executed here (a debug check that a
    /// late command never sorts before it).
    last_executed: Option<Order>,
}

impl KeyTable {
    fn new(n: usize) -> KeyTable {
        KeyTable {
            contiguous: vec![0; n].into_boxed_slice(),
            above: Vec::new(),
            stable: 0,
            queue: VecDeque::new(),
            last_executed: None,
        }
    }

    /// Records that process index `voter` promised `start..=end`; true if
    /// `stable` grew.
    fn promise(&mut self, voter: usize, start: u64, end: u64, stability: usize) -> bool {
        let start = start.max(1);
        if end < start {
            return false;
        }
        let old = self.contiguous[voter];
        if start > old.saturating_add(1) {
            self.insert_above(voter, start, end);
            return false;
        }
        if end <= old {
            return false; // already known (a duplicate)
        }
        let mut high = end;
        // Absorb ranges that the new prefix reaches, until none does.
        while let Some(position) =
            self.above.iter().position(|&(v, start, _)| v == voter && start <= high.saturating_add(1))
        {
            high = high.max(self.above.swap_remove(position).2);
        }
        self.contiguous[voter] = high;
        // A process already above the stable point moving further up does
        // not change the S-th largest value.
        if old > self.stable {
            return false;
        }
        let stable = nth_largest(&self.contiguous, stability);
        let grew = stable > self.stable;
        self.stable = stable;
        grew
    }

    /// Adds a range above `voter`'s gap, merging it with the ranges it
    /// overlaps or touches (by the invariant, only those touching the new
    /// range itself can merge).
    fn insert_above(&mut self, voter: usize, start: u64, end: u64) {
        let (mut low, mut high) = (start, end);
        self.above.retain(|&(v, s, e)| {
            let touches = v == voter && s <= high.saturating_add(1) && low <= e.saturating_add(1);
            if touches {
                low = low.min(s);
                high = high.max(e);
            }
            !touches
        });
        self.above.push((voter, low, high));
    }

    fn insert(&mut self, pending: Pending) {
        debug_assert!(
            pending.order.1 || self.last_executed.is_none_or(|last| last < pending.order),
            "{:?} committed after {:?} executed: stability was violated",
            pending.order,
            self.last_executed
        );
        let position = self.queue.partition_point(|queued| queued.order <= pending.order);
        self.queue.insert(position, pending);
    }
}

/// The `stability`-th largest of `values` (`1 <= stability <= len`).
fn nth_largest(values: &[u64], stability: usize) -> u64 {
    let mut buffer = [0u64; MAX_PROCESSES];
    let sorted = &mut buffer[..values.len()];
    sorted.copy_from_slice(values);
    *sorted.select_nth_unstable(values.len() - stability).1
}

/// Executes committed commands once their timestamps are stable, per key
/// in `(timestamp, dot)` order.
#[derive(Debug)]
pub struct TableExecutor {
    n: usize,
    /// `S`: how many processes must have promised a timestamp for it to be
    /// stable (`floor(n/2) + 1`, or `n - f` with tiny quorums).
    stability: usize,
    keys: FixedHashMap<Key, KeyTable>,
    /// Keys whose head may have become executable.
    work: Vec<Key>,
}

impl TableExecutor {
    /// An executor for a shard of `n` processes (at most
    /// [`MAX_PROCESSES`]) with stability threshold `stability`.
    pub fn new(n: usize, stability: usize) -> TableExecutor {
        assert!((1..=MAX_PROCESSES).contains(&n), "1 <= n <= {MAX_PROCESSES}");
        assert!((1..=n).contains(&stability), "1 <= S <= n");
        TableExecutor { n, stability, keys: FixedHashMap::default(), work: Vec::new() }
    }

    /// The stable timestamp of `key` (0 if nothing is known about it).
    pub fn stable(&self, key: Key) -> u64 {
        self.keys.get(&key).map_or(0, |table| table.stable)
    }

    /// `H_j(key)`: the highest timestamp up to which `process` promised
    /// every timestamp of `key`.
    pub fn contiguous(&self, key: Key, process: ProcessId) -> u64 {
        let table = self.keys.get(&key);
        table.and_then(|table| table.contiguous.get(process.index()).copied()).unwrap_or(0)
    }

    /// Committed commands not executed yet (a multi-key command counts
    /// once per key).
    pub fn pending(&self) -> usize {
        self.keys.values().map(|table| table.queue.len()).sum()
    }

    fn table(&mut self, key: Key) -> &mut KeyTable {
        let n = self.n;
        self.keys.entry(key).or_insert_with(|| KeyTable::new(n))
    }

    fn add_votes(&mut self, votes: &Votes) {
        for &(key, range) in votes.iter() {
            // Ignore malformed voters rather than trusting a message.
            let Some(voter) = (range.voter.0 as usize).checked_sub(1).filter(|&voter| voter < self.n) else {
                continue;
            };
            let stability = self.stability;
            if self.table(key).promise(voter, range.start, range.end, stability) {
                self.work.push(key);
            }
        }
    }

    /// Executes what is ready at the head of `key`'s queue, repeatedly.
    fn run_key(&mut self, key: Key, apply: &mut Apply<'_>) {
        loop {
            let Some(table) = self.keys.get(&key) else { return };
            let Some(head) = table.queue.front() else { return };
            if head.order.0 > table.stable {
                return;
            }
            let (order, cmd) = (head.order, head.cmd.clone());
            // §7.4: a multi-key command runs only once it heads every one of
            // its keys' queues and is stable on each. Queues share one total
            // order, so the smallest waiting command heads all of its keys:
            // waiting here never blocks forever, only until promises arrive.
            let ready_everywhere = cmd.keys().filter(|&other| other != key).all(|other| {
                self.keys.get(&other).is_some_and(|table| {
                    table.queue.front().is_some_and(|head| head.order == order) && order.0 <= table.stable
                })
            });
            if !ready_everywhere {
                // When the blocking key changes (its stable point grows or
                // its head runs) it is re-examined and finds this command.
                return;
            }
            let mut committed_at = Time::ZERO;
            for other in cmd.keys() {
                let table = self.keys.get_mut(&other).expect("checked above");
                if table.queue.front().is_some_and(|head| head.order == order) {
                    committed_at = table.queue.pop_front().expect("non-empty").committed_at;
                    table.last_executed = Some(order);
                }
                if other != key {
                    self.work.push(other);
                }
            }
            apply.apply(&cmd, committed_at);
        }
    }
}

impl Executor for TableExecutor {
    type Info = TableInfo;

    fn execute(&mut self, info: TableInfo, now: Time, apply: &mut Apply<'_>) {
        match info {
            TableInfo::AttachedVotes { dot, cmd, ts, votes, nfr_read } => {
                self.add_votes(&votes);
                let order = (ts, nfr_read, dot);
                for key in cmd.keys() {
                    self.table(key).insert(Pending { order, cmd: cmd.clone(), committed_at: now });
                    self.work.push(key);
                }
            }
            TableInfo::DetachedVotes { votes } => self.add_votes(&votes),
        }
        while let Some(key) = self.work.pop() {
            self.run_key(key, apply);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::clocks::VoteRange;
    use super::*;
    use sim_core::testing::ExecutorHarness;
    use sim_core::{ClientId, CommandId, Op};
    use std::collections::BTreeSet;

    const K: Key = 7;
    const L: Key = 8;

    fn cmd(client: u32, keys: &[Key]) -> Arc<Command> {
        let ops = keys.iter().map(|&key| (key, Op::Put(u64::from(client) + 1))).collect();
        Arc::new(Command { id: CommandId { client: ClientId(client), seq: 1 }, ops, payload_bytes: 0 })
    }

    fn votes(ranges: &[(Key, u32, u64, u64)]) -> Arc<Votes> {
        let mut votes = Votes::new();
        for &(key, voter, start, end) in ranges {
            votes.push(key, VoteRange::new(ProcessId(voter), start, end));
        }
        Arc::new(votes)
    }

    fn detached(ranges: &[(Key, u32, u64, u64)]) -> TableInfo {
        TableInfo::DetachedVotes { votes: votes(ranges) }
    }

    fn attached(dot: Dot, cmd: &Arc<Command>, ts: u64) -> TableInfo {
        TableInfo::AttachedVotes { dot, cmd: cmd.clone(), ts, votes: votes(&[]), nfr_read: false }
    }

    fn clients(ids: Vec<CommandId>) -> Vec<u32> {
        ids.into_iter().map(|id| id.client.0).collect()
    }

    /// tempo.md §13.4: n=5, S=3, H = {p1:4, p2:0, p3:7, p4:3, p5:5} gives
    /// stable 4; (4,(1,7)) runs before (4,(2,1)) and (5,(1,1)) waits until
    /// p4's promises reach 5.
    #[test]
    fn tempo_13_4_stability_and_execution_order() {
        let mut executor = TableExecutor::new(5, 3);
        let mut harness = ExecutorHarness::new(ProcessId(1), 3);
        let (a, b, c) = (cmd(0, &[K]), cmd(1, &[K]), cmd(2, &[K]));
        for (dot, cmd, ts) in [(Dot::new(2, 1), &a, 4), (Dot::new(1, 7), &b, 4), (Dot::new(1, 1), &c, 5)] {
            assert!(harness.step(&mut executor, attached(dot, cmd, ts), Time::ZERO).is_empty(), "nothing stable");
        }
        let h = detached(&[(K, 1, 1, 4), (K, 3, 1, 7), (K, 4, 1, 3), (K, 5, 1, 5)]);
        assert_eq!(clients(harness.step(&mut executor, h, Time::ZERO)), vec![1, 0], "(4,(1,7)) then (4,(2,1))");
        assert_eq!(executor.stable(K), 4, "sorted 0,3,4,5,7: index n-S = 2");
        assert_eq!(executor.pending(), 1, "(5,(1,1)) waits");
        let p4_reaches_5 = detached(&[(K, 4, 4, 5)]);
        assert_eq!(clients(harness.step(&mut executor, p4_reaches_5, Time::ZERO)), vec![2]);
        assert_eq!(executor.stable(K), 5, "H = {{4,0,7,5,5}}");
    }

    /// §7.4: a command on keys K and L waits at the head of both queues
    /// until it is stable on both, and blocks later commands of K meanwhile.
    #[test]
    fn multi_key_command_waits_on_both_keys() {
        let mut executor = TableExecutor::new(3, 2);
        let mut harness = ExecutorHarness::new(ProcessId(1), 3);
        let (both, k_only, l_only) = (cmd(0, &[K, L]), cmd(1, &[K]), cmd(2, &[L]));
        assert!(harness.step(&mut executor, attached(Dot::new(1, 1), &both, 2), Time::ZERO).is_empty());
        assert!(harness.step(&mut executor, attached(Dot::new(2, 1), &k_only, 3), Time::ZERO).is_empty());
        assert!(harness.step(&mut executor, detached(&[(K, 1, 1, 3), (K, 2, 1, 3)]), Time::ZERO).is_empty());
        assert_eq!(executor.stable(K), 3, "K is stable past both, but `both` is not stable on L");
        assert!(harness.step(&mut executor, attached(Dot::new(3, 1), &l_only, 1), Time::ZERO).is_empty());
        // L becomes stable at 1: only (1,(3,1)) may run on L.
        assert_eq!(clients(harness.step(&mut executor, detached(&[(L, 1, 1, 1), (L, 3, 1, 1)]), Time::ZERO)), vec![2]);
        // L stable at 2: `both` runs, then k_only behind it on K.
        assert_eq!(clients(harness.step(&mut executor, detached(&[(L, 1, 2, 2), (L, 3, 2, 2)]), Time::ZERO)), vec![0, 1]);
        assert_eq!(executor.pending(), 0);
    }

    /// Two multi-key commands on the same keys whose promises arrive in
    /// opposite key order still run in (ts, dot) order on both keys.
    #[test]
    fn crossing_multi_key_commands_do_not_deadlock() {
        let mut executor = TableExecutor::new(3, 2);
        let mut harness = ExecutorHarness::new(ProcessId(1), 3);
        let (first, second) = (cmd(0, &[K, L]), cmd(1, &[L, K]));
        assert!(harness.step(&mut executor, attached(Dot::new(2, 1), &second, 1), Time::ZERO).is_empty());
        assert!(harness.step(&mut executor, attached(Dot::new(1, 1), &first, 1), Time::ZERO).is_empty());
        assert!(harness.step(&mut executor, detached(&[(L, 2, 1, 1), (L, 3, 1, 1)]), Time::ZERO).is_empty());
        assert_eq!(clients(harness.step(&mut executor, detached(&[(K, 2, 1, 1), (K, 3, 1, 1)]), Time::ZERO)), vec![0, 1]);
    }

    /// Stability counts processes, not promises: a duplicate or an
    /// overlapping range adds nothing; gaps wait for the range that fills
    /// them, which may arrive in pieces and out of order.
    #[test]
    fn ranges_above_a_gap_join_when_it_fills() {
        let mut executor = TableExecutor::new(3, 2);
        let mut harness = ExecutorHarness::new(ProcessId(1), 1);
        let p2 = ProcessId(2);
        for (range, expected) in [((6, 8), 0), ((6, 8), 0), ((3, 4), 0), ((10, 10), 0), ((1, 1), 1), ((2, 2), 4), ((5, 5), 8)] {
            harness.step(&mut executor, detached(&[(K, 2, range.0, range.1)]), Time::ZERO);
            assert_eq!(executor.contiguous(K, p2), expected, "after {range:?}");
        }
        harness.step(&mut executor, detached(&[(K, 2, 9, 9)]), Time::ZERO);
        assert_eq!(executor.contiguous(K, p2), 10);
        assert_eq!(executor.stable(K), 0, "one process is not S = 2");
        harness.step(&mut executor, detached(&[(K, 1, 1, 5), (K, 0, 1, 99), (K, 9, 1, 99)]), Time::ZERO);
        assert_eq!(executor.stable(K), 5, "voters 0 and 9 do not exist and are ignored");
    }

    /// The range bookkeeping agrees with a plain set of promised timestamps
    /// on random ranges, in random order, with duplicates.
    #[test]
    fn contiguous_promises_agree_with_a_set() {
        use rand::{RngExt, SeedableRng};
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
        for _ in 0..200 {
            let mut table = KeyTable::new(1);
            let mut promised = BTreeSet::new();
            for _ in 0..30 {
                let start = rng.random_range(1..40u64);
                let end = start + rng.random_range(0..5u64);
                table.promise(0, start, end, 1);
                promised.extend(start..=end);
                let expected = (1..).find(|t| !promised.contains(t)).expect("finite") - 1;
                assert_eq!(table.contiguous[0], expected);
                assert_eq!(table.stable, expected);
                let above: u64 = table.above.iter().map(|&(_, s, e)| e - s + 1).sum();
                assert_eq!(above, promised.iter().filter(|&&t| t > expected).count() as u64, "{:?}", table.above);
            }
        }
    }
}
