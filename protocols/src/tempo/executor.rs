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
//!
//! Only keys with something going on have a table. A key whose processes
//! all promised up to one timestamp (at rest), or up to one of two (split:
//! a conflict-free command's key between its commit and its last detached
//! promise), with nothing queued, is one word in a per-key map (see
//! `Slot`), and keys at rest at 1 (used by one command) take a bit each
//! (see `KeyWords`): every key of a run stays known at every process, in
//! a few megabytes, and a conflict-free command costs its executor a few
//! word operations.

use super::clocks::{VoteRange, Votes};
use super::key_map::{KeyWords, Word};
use crate::shared::dot::Dot;
#[cfg(debug_assertions)]
use sim_core::FixedHashMap;
use sim_core::protocol::{Apply, Executor};
use sim_core::{Command, Key, ProcessId, Time};
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
    /// Failure detection only: report (as [`Stall`] feedback) every key
    /// whose first waiting command committed at least `min_age_ns` ago and
    /// is still not stable, with the processes whose promises are missing.
    FindStalls {
        /// How long a command may wait before its key counts as stalled.
        min_age_ns: u64,
    },
}

/// What the executor tells its protocol (runs with failure detection
/// only): a key whose first waiting command is not stable after a long
/// wait, so promises of some processes were lost or are attached to a
/// command this process has not seen committed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Stall {
    /// The key.
    pub key: Key,
    /// The waiting command's timestamp.
    pub ts: u64,
    /// Each process whose contiguous promises `H_j` stop below `ts`, with
    /// its `H_j`.
    pub behind: Vec<(ProcessId, u64)>,
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

/// `H_j` of this many processes is stored inline in a key's table; the
/// rest (shards of more than 7) goes to [`Extra`].
const INLINE_PROCESSES: usize = 7;

/// The votes table and the queue of one key, while it has something going
/// on (see [`Slot`]); tables are reused, and kept to one cache line and a
/// bit: what only contended keys need lives behind `extra`.
#[derive(Debug, Default)]
struct KeyTable {
    /// The `S`-th largest `H_j`.
    stable: u64,
    /// `H_j` of the first processes, by index: every timestamp `1..=H_j`
    /// is promised.
    contiguous: [u64; INLINE_PROCESSES],
    extra: Option<Box<Extra>>,
}

/// The part of a key's table that conflict-free keys never need.
#[derive(Debug, Default)]
struct Extra {
    /// `H_j` of processes from index [`INLINE_PROCESSES`] on.
    contiguous: Vec<u64>,
    /// Promised ranges above a gap: (process index, start, end); per
    /// process disjoint and never adjacent to each other or to `H_j + 1`.
    above: Vec<(usize, u64, u64)>,
    /// Committed commands not executed yet, in [`Order`].
    queue: VecDeque<Pending>,
    /// The key whose table this is, while `queue` is not empty (for
    /// [`TableInfo::FindStalls`]).
    key: Key,
}

impl KeyTable {
    /// Makes this the table of a key every one of the `n` processes
    /// promised exactly up to `promised`, with nothing queued. Only a table
    /// at rest is reused: nothing is queued or above a gap, and the memory
    /// of `extra` is kept.
    fn reset(&mut self, n: usize, promised: u64) {
        self.stable = promised;
        self.contiguous[..n.min(INLINE_PROCESSES)].fill(promised);
        if n > INLINE_PROCESSES {
            let rest = &mut self.extra().contiguous;
            rest.clear();
            rest.resize(n - INLINE_PROCESSES, promised);
        }
    }

    /// Makes this the table of a key in `state` (at rest or split), with
    /// nothing queued: see [`KeyTable::reset`].
    fn load(&mut self, n: usize, stability: usize, state: State) {
        match state {
            State::Rest(promised) => self.reset(n, promised),
            State::Split { low, high, high_voters } => {
                let level = |voter: usize| if high_voters >> voter & 1 != 0 { high } else { low };
                for (voter, h) in self.contiguous.iter_mut().enumerate().take(n) {
                    *h = level(voter);
                }
                if n > INLINE_PROCESSES {
                    let rest = &mut self.extra().contiguous;
                    rest.clear();
                    rest.extend((INLINE_PROCESSES..n).map(level));
                }
                self.stable = if high_voters.count_ones() as usize >= stability { high } else { low };
            }
            State::Table(_) => unreachable!("a key with a table is not loaded"),
        }
    }

    /// The state of the key in a word, if the table is that simple:
    /// nothing waits or sits above a gap, and every one of the `n`
    /// processes promised exactly up to one of at most two timestamps
    /// (the lower one, or the higher one: then its bit is set). The stable
    /// point follows from them (the lower one, or the higher one once `S`
    /// processes are there), so they are all there is to remember about
    /// the key.
    fn compact(&self, n: usize) -> Option<State> {
        if let Some(extra) = self.extra.as_deref() {
            if !extra.above.is_empty() || !extra.queue.is_empty() {
                return None;
            }
            return Self::two_levels((0..n).map(|voter| self.h(voter)));
        }
        Self::two_levels(self.contiguous[..n.min(INLINE_PROCESSES)].iter().copied())
    }

    /// The state of processes that promised `values` (by index), if they
    /// are at one or two timestamps.
    #[inline]
    fn two_levels(values: impl Iterator<Item = u64> + Clone) -> Option<State> {
        let (mut low, mut high) = (u64::MAX, 0);
        for h in values.clone() {
            low = low.min(h);
            high = high.max(h);
        }
        if low == high {
            return Some(State::Rest(low));
        }
        let mut high_voters = 0;
        for (voter, h) in values.enumerate() {
            if h == high {
                high_voters |= 1 << voter;
            } else if h != low {
                return None;
            }
        }
        Some(State::Split { low, high, high_voters })
    }

    fn h(&self, voter: usize) -> u64 {
        match self.contiguous.get(voter) {
            Some(&h) => h,
            None => self
                .extra
                .as_ref()
                .and_then(|extra| extra.contiguous.get(voter - INLINE_PROCESSES))
                .copied()
                .unwrap_or(0),
        }
    }

    fn extra(&mut self) -> &mut Extra {
        self.extra.get_or_insert_with(Box::default)
    }

    fn set_h(&mut self, voter: usize, h: u64) {
        if let Some(slot) = self.contiguous.get_mut(voter) {
            *slot = h;
        } else {
            let rest = &mut self.extra().contiguous;
            let index = voter - INLINE_PROCESSES;
            if rest.len() <= index {
                rest.resize(index + 1, 0);
            }
            rest[index] = h;
        }
    }

    fn head(&self) -> Option<&Pending> {
        self.extra.as_ref().and_then(|extra| extra.queue.front())
    }

    fn queue_len(&self) -> usize {
        self.extra.as_ref().map_or(0, |extra| extra.queue.len())
    }

    /// Records `votes` (all on this key), then recomputes the stable point
    /// once; true if it grew. Malformed voters are ignored rather than
    /// trusted.
    fn promise_all(&mut self, votes: &[(Key, VoteRange)], n: usize, stability: usize) -> bool {
        let mut recompute = false;
        for &(_, range) in votes {
            let Some(voter) = voter_index(range.voter, n) else { continue };
            // The usual case, inline: a process of the inline part extends
            // its prefix, and no range waits above a gap (`promise` does
            // the same in more steps).
            if voter < INLINE_PROCESSES && self.extra.is_none() {
                let (start, old) = (range.start.max(1), self.contiguous[voter]);
                if start <= range.end && start <= old.saturating_add(1) {
                    if range.end > old {
                        self.contiguous[voter] = range.end;
                        recompute |= old <= self.stable && range.end > self.stable;
                    }
                    continue;
                }
            }
            recompute |= self.promise(voter, range.start, range.end);
        }
        if !recompute {
            return false;
        }
        let stable = self.nth_largest(n, stability);
        let grew = stable > self.stable;
        self.stable = self.stable.max(stable);
        grew
    }

    /// Records that process index `voter` promised `start..=end`; true if
    /// its `H_j` crossed the stable point `s`, from at most `s` to above
    /// it. Only then can the `S`-th largest value change: it exceeds `s`
    /// once `S` processes are above `s`, and fewer than `S` were. (A
    /// process already above `s` moving further up, or one staying at or
    /// below `s`, as the processes outside a fresh key's fast quorum do
    /// when their promises catch up, changes nothing.)
    fn promise(&mut self, voter: usize, start: u64, end: u64) -> bool {
        let start = start.max(1);
        if end < start {
            return false;
        }
        let old = self.h(voter);
        if start > old.saturating_add(1) {
            self.extra().insert_above(voter, start, end);
            return false;
        }
        if end <= old {
            return false; // already known (a duplicate)
        }
        let mut high = end;
        if let Some(extra) = self.extra.as_deref_mut() {
            // Absorb ranges that the new prefix reaches, until none does.
            let above = &mut extra.above;
            while let Some(position) =
                above.iter().position(|&(v, start, _)| v == voter && start <= high.saturating_add(1))
            {
                high = high.max(above.swap_remove(position).2);
            }
        }
        self.set_h(voter, high);
        old <= self.stable && high > self.stable
    }

    /// The `stability`-th largest `H_j` of the `n` processes.
    fn nth_largest(&self, n: usize, stability: usize) -> u64 {
        if n <= INLINE_PROCESSES {
            let mut values = self.contiguous;
            let values = &mut values[..n];
            values.sort_unstable();
            return values[n - stability];
        }
        let mut values: Vec<u64> = (0..n).map(|voter| self.h(voter)).collect();
        *values.select_nth_unstable(n - stability).1
    }

    fn insert(&mut self, key: Key, pending: Pending) {
        let extra = self.extra();
        extra.key = key;
        let queue = &mut extra.queue;
        let position = queue.partition_point(|queued| queued.order <= pending.order);
        queue.insert(position, pending);
    }
}

impl Extra {
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
}

/// Process index of `voter` if it is one of the `n` processes of the
/// shard: a malformed voter is ignored rather than trusted.
fn voter_index(voter: ProcessId, n: usize) -> Option<usize> {
    (voter.0 as usize).checked_sub(1).filter(|&index| index < n)
}

/// A key's entry in [`TableExecutor::keys`], in one word. A key goes
/// between its states in place, so it is looked up once per access
/// whatever its state:
///
/// * at rest (bits 63 and 62 clear): every process promised exactly up to
///   this timestamp and nothing is queued (see [`KeyTable::at_rest`]);
/// * split (bit 62): every process promised exactly up to one of two
///   timestamps, nothing queued: a conflict-free command's key between its
///   commit (its fast quorum's promises are in) and the last detached
///   promise, the common state of a key in flight, kept without a table;
/// * with a table (bit 63): the rest is its index in
///   [`TableExecutor::tables`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Slot(u64);

/// The bit of a [`Slot`] that marks a table index.
const ACTIVE: u64 = 1 << 63;
/// The bit of a [`Slot`] that marks a split key.
const SPLIT: u64 = 1 << 62;
/// Bits of each timestamp of a split key (larger ones need a table).
const SPLIT_TIMESTAMP_BITS: u32 = 24;
/// Most processes a split key can have: the bits left for its mask.
const SPLIT_PROCESSES: usize = 62 - 2 * SPLIT_TIMESTAMP_BITS as usize;

/// What a [`Slot`] says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// Every process promised exactly up to this.
    Rest(u64),
    /// Processes in `high_voters` (bit `j` for index `j`) promised exactly
    /// up to `high`, the others up to `low` (lower).
    Split { low: u64, high: u64, high_voters: u64 },
    /// The key's table.
    Table(usize),
}

impl State {
    /// The stable point of a key at rest or split: the `stability`-th
    /// largest `H_j`.
    fn stable(self, stability: usize) -> u64 {
        match self {
            State::Rest(promised) => promised,
            State::Split { low, high, high_voters } => {
                if high_voters.count_ones() as usize >= stability {
                    high
                } else {
                    low
                }
            }
            State::Table(_) => unreachable!("a table has its own stable point"),
        }
    }

    /// `votes` (all on one key) recorded on a key at rest or split, as in
    /// [`KeyTable::promise_all`] but without a table: the new state, if
    /// the key stays at rest or split (and encodable in a [`Slot`]).
    /// `None` if it needs a table: a range above a gap, or a third
    /// timestamp.
    fn promise_compact(self, votes: &[(Key, VoteRange)], n: usize) -> Option<State> {
        let (low, high, high_voters) = match self {
            State::Rest(promised) => (promised, promised, 0),
            State::Split { low, high, high_voters } => (low, high, high_voters),
            State::Table(_) => return None,
        };
        if n > SPLIT_PROCESSES {
            return None;
        }
        match Self::promise_two_levels(low, high, high_voters, votes, n) {
            Some(Some(new)) => Slot::encode(new).map(|_| new),
            Some(None) => None,
            None => Self::promise_each(low, high, high_voters, votes, n),
        }
    }

    /// [`State::promise_compact`] on the two levels directly, vote by
    /// vote, for the usual shapes (a process joins the other level, or
    /// the only process at a level moves); `None` for the others, which
    /// [`State::promise_each`] takes.
    #[inline]
    fn promise_two_levels(
        mut low: u64,
        mut high: u64,
        mut high_voters: u64,
        votes: &[(Key, VoteRange)],
        n: usize,
    ) -> Option<Option<State>> {
        let all = (1u64 << n) - 1;
        high_voters &= all;
        for &(_, range) in votes {
            let Some(voter) = voter_index(range.voter, n) else { continue };
            let bit = 1 << voter;
            let at_high = high_voters & bit != 0;
            let current = if at_high { high } else { low };
            let start = range.start.max(1);
            if start > range.end || range.end <= current {
                continue;
            }
            if start > current.saturating_add(1) {
                return Some(None); // above a gap: a table
            }
            let end = range.end;
            if low == high {
                // One level: this process alone goes up.
                (high, high_voters) = (end, bit);
            } else if !at_high && end == high {
                high_voters |= bit;
            } else if !at_high && all & !high_voters == bit {
                // The only process at the low level.
                if end < high {
                    low = end;
                } else {
                    (low, high, high_voters) = (high, end, bit);
                }
            } else if at_high && high_voters == bit {
                high = end; // the only process at the high level
            } else {
                return None;
            }
            if high_voters == all {
                (low, high_voters) = (high, 0);
            }
        }
        Some(Some(if high_voters & all == all {
            State::Rest(high)
        } else if high_voters & all == 0 || low == high {
            State::Rest(low)
        } else {
            State::Split { low, high, high_voters }
        }))
    }

    /// [`State::promise_compact`] through every `H_j`.
    fn promise_each(low: u64, high: u64, high_voters: u64, votes: &[(Key, VoteRange)], n: usize) -> Option<State> {
        // Every H_j, then the votes on them (plain loops: this runs for
        // nearly every command and detached promise).
        let mut h = [low; SPLIT_PROCESSES];
        let mut bits = high_voters;
        while bits != 0 {
            h[bits.trailing_zeros() as usize] = high;
            bits &= bits - 1;
        }
        for &(_, range) in votes {
            let Some(voter) = voter_index(range.voter, n) else { continue };
            let start = range.start.max(1);
            if start > range.end {
                continue;
            }
            if start > h[voter].saturating_add(1) {
                return None; // above a gap
            }
            h[voter] = h[voter].max(range.end);
        }
        let h = &h[..n];
        let (mut low, mut high) = (h[0], h[0]);
        for &value in &h[1..] {
            low = low.min(value);
            high = high.max(value);
        }
        let new = if low == high {
            State::Rest(low)
        } else {
            let mut high_voters = 0;
            for (voter, &value) in h.iter().enumerate() {
                if value == high {
                    high_voters |= 1 << voter;
                } else if value != low {
                    return None; // a third timestamp
                }
            }
            State::Split { low, high, high_voters }
        };
        Slot::encode(new).map(|_| new)
    }
}

impl Slot {
    /// `state` in a word; `None` if it cannot be encoded (timestamps too
    /// large, which only long ClockBump runs or a malformed message bring:
    /// such a key keeps its table).
    fn encode(state: State) -> Option<Slot> {
        match state {
            State::Rest(promised) => (promised < SPLIT).then_some(Slot(promised)),
            State::Split { low, high, high_voters } => {
                let limit = 1 << SPLIT_TIMESTAMP_BITS;
                let word = SPLIT | high_voters << (2 * SPLIT_TIMESTAMP_BITS) | high << SPLIT_TIMESTAMP_BITS | low;
                (high < limit && high_voters < 1 << SPLIT_PROCESSES).then_some(Slot(word))
            }
            State::Table(index) => Some(Slot(ACTIVE | index as u64)),
        }
    }

    fn state(self) -> State {
        if self.0 & ACTIVE != 0 {
            State::Table((self.0 & !ACTIVE) as usize)
        } else if self.0 & SPLIT != 0 {
            let mask = (1 << SPLIT_TIMESTAMP_BITS) - 1;
            State::Split {
                low: self.0 & mask,
                high: (self.0 >> SPLIT_TIMESTAMP_BITS) & mask,
                high_voters: (self.0 & !SPLIT) >> (2 * SPLIT_TIMESTAMP_BITS),
            }
        } else {
            State::Rest(self.0)
        }
    }
}

/// Executes committed commands once their timestamps are stable, per key
/// in `(timestamp, dot)` order.
#[derive(Debug)]
pub struct TableExecutor {
    n: usize,
    /// `S`: how many processes must have promised a timestamp for it to be
    /// stable (`floor(n/2) + 1`, or `n - f` with tiny quorums).
    stability: usize,
    /// Every key ever accessed, as a [`Slot`]: at rest (most keys: see
    /// [`KeyWords`] for how a key at rest at 1, after one command, takes a
    /// bit), split, or pointing to its table.
    keys: KeyWords,
    /// Tables of keys with something going on: a command queued, a gap,
    /// or processes that promised more than two different amounts. Few,
    /// and reused through `free`, so they stay in cache.
    tables: Vec<KeyTable>,
    /// Indexes of `tables` no key uses.
    free: Vec<usize>,
    /// Keys split (see [`Slot`]).
    split_keys: usize,
    /// Keys whose head may have become executable.
    work: Vec<Key>,
    /// Per key, the order of the last command executed: a late command
    /// sorting before it would mean stability was violated.
    #[cfg(debug_assertions)]
    last_executed: FixedHashMap<Key, Order>,
    /// Whether a late command panics (debug builds): not under a planted
    /// bug, whose violations are for the verdict to catch.
    #[cfg(debug_assertions)]
    assert_stability: bool,
}

impl TableExecutor {
    /// An executor for a shard of `n` processes (at most
    /// [`MAX_PROCESSES`]) with stability threshold `stability`.
    pub fn new(n: usize, stability: usize) -> TableExecutor {
        assert!((1..=MAX_PROCESSES).contains(&n), "1 <= n <= {MAX_PROCESSES}");
        assert!((1..=n).contains(&stability), "1 <= S <= n");
        TableExecutor {
            n,
            stability,
            keys: KeyWords::default(),
            tables: Vec::new(),
            free: Vec::new(),
            split_keys: 0,
            work: Vec::new(),
            #[cfg(debug_assertions)]
            last_executed: FixedHashMap::default(),
            #[cfg(debug_assertions)]
            assert_stability: true,
        }
    }

    /// Stops asserting stability (debug builds): for runs with a planted
    /// bug (see `Options::plant_recovery_first_ack`).
    #[cfg_attr(not(debug_assertions), allow(unused_mut))]
    pub fn without_stability_assertion(mut self) -> TableExecutor {
        #[cfg(debug_assertions)]
        {
            self.assert_stability = false;
        }
        self
    }

    /// The stable timestamp of `key` (0 if nothing is known about it).
    pub fn stable(&self, key: Key) -> u64 {
        match Slot(self.keys.get(key)).state() {
            State::Rest(promised) => promised,
            State::Split { low, high, high_voters } => {
                if high_voters.count_ones() as usize >= self.stability {
                    high
                } else {
                    low
                }
            }
            State::Table(index) => self.tables[index].stable,
        }
    }

    /// `H_j(key)`: the highest timestamp up to which `process` promised
    /// every timestamp of `key`.
    pub fn contiguous(&self, key: Key, process: ProcessId) -> u64 {
        match Slot(self.keys.get(key)).state() {
            State::Rest(promised) => promised,
            State::Split { low, high, high_voters } => {
                if high_voters >> process.index().min(63) & 1 != 0 {
                    high
                } else {
                    low
                }
            }
            State::Table(index) => self.tables[index].h(process.index()),
        }
    }

    /// How the keys are stored, for tests: blocks of keys at rest at 1,
    /// and other words (see [`KeyWords`]).
    #[cfg(test)]
    pub(super) fn stored_keys(&self) -> (usize, usize) {
        self.keys.stored()
    }

    /// Keys not at rest (split, or with a table), for tests.
    pub fn active_keys(&self) -> usize {
        self.tables.len() - self.free.len() + self.split_keys
    }

    /// The index of `key`'s table, if it has one.
    fn table_index(&self, key: Key) -> Option<usize> {
        match Slot(self.keys.get(key)).state() {
            State::Table(index) => Some(index),
            State::Rest(_) | State::Split { .. } => None,
        }
    }

    /// Runs `f` on `key`'s table (brought back from rest or split into a
    /// free table, or new), then puts the key to rest or splits it if it
    /// can be.
    fn with_table<R>(&mut self, key: Key, f: impl FnOnce(&mut KeyTable) -> R) -> R {
        let word = self.keys.lookup(key);
        self.with_table_found(key, word, f)
    }

    /// [`TableExecutor::with_table`] with the key's word looked up.
    fn with_table_found<R>(&mut self, key: Key, word: Word, f: impl FnOnce(&mut KeyTable) -> R) -> R {
        let (n, stability) = (self.n, self.stability);
        let old = Slot(word.value).state();
        let index = match old {
            State::Table(index) => index,
            State::Rest(_) | State::Split { .. } => {
                // In a free table: in cache, and no copying.
                let index = self.free.pop().unwrap_or_else(|| {
                    self.tables.push(KeyTable::default());
                    self.tables.len() - 1
                });
                self.tables[index].load(n, stability, old);
                index
            }
        };
        let table = &mut self.tables[index];
        let result = f(table);
        let new = table.compact(n).and_then(Slot::encode).unwrap_or(Slot(ACTIVE | index as u64));
        if new.0 != word.value {
            self.split_keys -= usize::from(matches!(old, State::Split { .. }));
            self.split_keys += usize::from(matches!(new.state(), State::Split { .. }));
            self.keys.set_found(key, word, new.0);
        }
        if !matches!(new.state(), State::Table(_)) {
            self.free.push(index);
        }
        result
    }

    /// Stores `key`'s new compact state (at rest or split; its word was
    /// `word`), if it changed.
    fn store(&mut self, key: Key, word: Word, new: State) {
        let Some(slot) = Slot::encode(new) else { unreachable!("encodable: checked by promise_compact") };
        if slot.0 != word.value {
            self.split_keys -= usize::from(matches!(Slot(word.value).state(), State::Split { .. }));
            self.split_keys += usize::from(matches!(new, State::Split { .. }));
            self.keys.set_found(key, word, slot.0);
        }
    }

    /// Puts `key`, whose table is `tables[index]`, to rest or splits it if
    /// the table allows.
    fn settle(&mut self, key: Key, index: usize) {
        if let Some(new) = self.tables[index].compact(self.n).and_then(Slot::encode) {
            self.split_keys += usize::from(matches!(new.state(), State::Split { .. }));
            self.keys.set(key, new.0);
            self.free.push(index);
        }
    }

    /// Committed commands not executed yet (a multi-key command counts
    /// once per key).
    pub fn pending(&self) -> usize {
        // Free tables were at rest when freed: their queues are empty.
        self.tables.iter().map(KeyTable::queue_len).sum()
    }

    /// Records `votes`, looking each run of same-key ranges up once (a
    /// command's attached promises are usually all on its one key). Keys
    /// whose stable point grew with commands waiting go to `work`.
    fn add_votes(&mut self, votes: &[(Key, VoteRange)]) {
        let (n, stability) = (self.n, self.stability);
        let mut rest = votes;
        while let Some(&(key, _)) = rest.first() {
            let run = rest.iter().take_while(|(other, _)| *other == key).count();
            let (votes, later) = rest.split_at(run);
            rest = later;
            let word = self.keys.lookup(key);
            if let Some(new) = State::promise_compact(Slot(word.value).state(), votes, n) {
                // Nothing queued: nothing can run.
                self.store(key, word, new);
                continue;
            }
            if self.with_table_found(key, word, |table| table.promise_all(votes, n, stability) && table.queue_len() > 0)
            {
                self.work.push(key);
            }
        }
    }

    fn applied(&mut self, key: Key, order: Order) {
        #[cfg(debug_assertions)]
        self.last_executed.insert(key, order);
        let _ = (key, order);
    }

    fn check_not_late(&self, key: Key, order: Order) {
        #[cfg(debug_assertions)]
        debug_assert!(
            !self.assert_stability || order.1 || self.last_executed.get(&key).is_none_or(|&last| last < order),
            "{order:?} committed on key {key} after {:?} executed: stability was violated",
            self.last_executed.get(&key)
        );
        let _ = (key, order);
    }

    /// A committed command: runs it at once if it is a single-key command
    /// already stable with nothing before it (every command in a
    /// conflict-free run), otherwise queues it on each of its keys.
    fn commit(&mut self, pending: Pending, votes: &Votes, apply: &mut Apply<'_, Stall>) {
        let cmd = pending.cmd.clone();
        if let [(key, _)] = cmd.ops[..] {
            let (on_key, others) =
                votes.as_slice().split_at(votes.as_slice().iter().take_while(|(other, _)| *other == key).count());
            let (n, stability, order) = (self.n, self.stability, pending.order);
            self.check_not_late(key, order);
            let word = self.keys.lookup(key);
            // A key at rest or split, stable at the timestamp once the
            // promises are in (every conflict-free command): run it, with
            // no table.
            if let Some(new) = State::promise_compact(Slot(word.value).state(), on_key, n)
                && order.0 <= new.stable(stability)
            {
                apply.apply(&cmd, pending.committed_at);
                self.store(key, word, new);
                self.applied(key, order);
                self.add_votes(others);
                return;
            }
            let executed = self.with_table_found(key, word, |table| {
                table.promise_all(on_key, n, stability);
                if table.queue_len() == 0 && order.0 <= table.stable {
                    apply.apply(&cmd, pending.committed_at);
                    true
                } else {
                    table.insert(key, pending);
                    false
                }
            });
            if executed {
                self.applied(key, order);
            } else {
                self.work.push(key);
            }
            self.add_votes(others);
            return;
        }
        self.add_votes(votes.as_slice());
        for key in cmd.keys() {
            self.check_not_late(key, pending.order);
            self.with_table(key, |table| table.insert(key, pending.clone()));
            self.work.push(key);
        }
    }

    /// Executes what is ready at the head of `key`'s queue, repeatedly.
    fn run_key(&mut self, key: Key, apply: &mut Apply<'_, Stall>) {
        let Some(index) = self.table_index(key) else { return };
        loop {
            let table = &self.tables[index];
            let Some(head) = table.head() else { return self.settle(key, index) };
            if head.order.0 > table.stable {
                return;
            }
            let (order, cmd) = (head.order, head.cmd.clone());
            // §7.4: a multi-key command runs only once it heads every one of
            // its keys' queues and is stable on each. Queues share one total
            // order, so the smallest waiting command heads all of its keys:
            // waiting here never blocks forever, only until promises arrive.
            let ready_everywhere = cmd.keys().filter(|&other| other != key).all(|other| {
                self.table_index(other).is_some_and(|other| {
                    let table = &self.tables[other];
                    table.head().is_some_and(|head| head.order == order) && order.0 <= table.stable
                })
            });
            if !ready_everywhere {
                // When the blocking key changes (its stable point grows or
                // its head runs) it is re-examined and finds this command.
                return;
            }
            let mut committed_at = Time::ZERO;
            for other in cmd.keys() {
                let other_index = if other == key { index } else { self.table_index(other).expect("checked above") };
                let table = &mut self.tables[other_index];
                if table.head().is_some_and(|head| head.order == order) {
                    let extra = table.extra.as_deref_mut().expect("a queued command");
                    committed_at = extra.queue.pop_front().expect("non-empty").committed_at;
                    self.applied(other, order);
                }
                if other != key {
                    self.work.push(other);
                }
            }
            apply.apply(&cmd, committed_at);
        }
    }
}

impl TableExecutor {
    /// [`TableInfo::FindStalls`]: every key whose head committed at least
    /// `min_age_ns` before `now` and is not stable yet.
    fn find_stalls(&self, min_age_ns: u64, now: Time, apply: &mut Apply<'_, Stall>) {
        for table in &self.tables {
            let (Some(head), Some(extra)) = (table.head(), table.extra.as_deref()) else { continue };
            if head.order.0 <= table.stable || now.since(head.committed_at) < min_age_ns {
                continue;
            }
            let ts = head.order.0;
            let behind = (0..self.n)
                .map(|voter| (ProcessId::from_index(voter), table.h(voter)))
                .filter(|&(_, h)| h < ts)
                .collect();
            apply.notify(Stall { key: extra.key, ts, behind });
        }
    }
}

impl Executor for TableExecutor {
    type Info = TableInfo;
    type Feedback = Stall;

    fn execute(&mut self, info: TableInfo, now: Time, apply: &mut Apply<'_, Stall>) {
        match info {
            TableInfo::AttachedVotes { dot, cmd, ts, votes, nfr_read } => {
                // CPU model: each vote is merged into a key's table.
                apply.work(votes.as_slice().len());
                let pending = Pending { order: (ts, nfr_read, dot), cmd, committed_at: now };
                self.commit(pending, &votes, apply);
            }
            TableInfo::DetachedVotes { votes } => {
                apply.work(votes.as_slice().len());
                self.add_votes(votes.as_slice())
            }
            TableInfo::FindStalls { min_age_ns } => self.find_stalls(min_age_ns, now, apply),
        }
        while let Some(key) = self.work.pop() {
            self.run_key(key, apply);
        }
    }
}

#[cfg(test)]
mod tests {
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
        assert_eq!(
            clients(harness.step(&mut executor, detached(&[(L, 1, 2, 2), (L, 3, 2, 2)]), Time::ZERO)),
            vec![0, 1]
        );
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
        assert_eq!(
            clients(harness.step(&mut executor, detached(&[(K, 2, 1, 1), (K, 3, 1, 1)]), Time::ZERO)),
            vec![0, 1]
        );
    }

    /// Stability counts processes, not promises: a duplicate or an
    /// overlapping range adds nothing; gaps wait for the range that fills
    /// them, which may arrive in pieces and out of order.
    #[test]
    fn ranges_above_a_gap_join_when_it_fills() {
        let mut executor = TableExecutor::new(3, 2);
        let mut harness = ExecutorHarness::new(ProcessId(1), 1);
        let p2 = ProcessId(2);
        for (range, expected) in
            [((6, 8), 0), ((6, 8), 0), ((3, 4), 0), ((10, 10), 0), ((1, 1), 1), ((2, 2), 4), ((5, 5), 8)]
        {
            harness.step(&mut executor, detached(&[(K, 2, range.0, range.1)]), Time::ZERO);
            assert_eq!(executor.contiguous(K, p2), expected, "after {range:?}");
        }
        harness.step(&mut executor, detached(&[(K, 2, 9, 9)]), Time::ZERO);
        assert_eq!(executor.contiguous(K, p2), 10);
        assert_eq!(executor.stable(K), 0, "one process is not S = 2");
        harness.step(&mut executor, detached(&[(K, 1, 1, 5), (K, 0, 1, 99), (K, 9, 1, 99)]), Time::ZERO);
        assert_eq!(executor.stable(K), 5, "voters 0 and 9 do not exist and are ignored");
    }

    /// Shards larger than the inline table (n = 9 > 7) keep the other
    /// processes' `H_j` aside, and still come to rest and wake up.
    #[test]
    fn nine_processes() {
        let mut executor = TableExecutor::new(9, 5);
        let mut harness = ExecutorHarness::new(ProcessId(1), 1);
        let first = cmd(0, &[K]);
        assert!(harness.step(&mut executor, attached(Dot::new(1, 1), &first, 2), Time::ZERO).is_empty());
        let four: Vec<_> = (6..=9).map(|voter| (K, voter, 1, 2)).collect();
        assert!(harness.step(&mut executor, detached(&four), Time::ZERO).is_empty(), "4 of S = 5");
        assert_eq!(clients(harness.step(&mut executor, detached(&[(K, 1, 1, 2)]), Time::ZERO)), vec![0]);
        assert_eq!(executor.contiguous(K, ProcessId(9)), 2);
        let rest: Vec<_> = (2..=5).map(|voter| (K, voter, 1, 2)).collect();
        harness.step(&mut executor, detached(&rest), Time::ZERO);
        assert_eq!((executor.active_keys(), executor.stable(K), executor.contiguous(K, ProcessId(8))), (0, 2, 2));
        harness.step(&mut executor, detached(&[(K, 9, 3, 3)]), Time::ZERO);
        assert_eq!((executor.active_keys(), executor.contiguous(K, ProcessId(9))), (1, 3));
        assert_eq!(executor.contiguous(K, ProcessId(8)), 2, "woken up with every H_j at 2");
    }

    /// The stable point kept up incrementally (recomputed only when a
    /// process crosses it, usually without sorting) is always the `S`-th
    /// largest `H_j`, for shards up to and past the inline size.
    #[test]
    fn the_stable_point_is_always_the_s_th_largest() {
        use rand::{RngExt, SeedableRng};
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(11);
        for _ in 0..300 {
            let n = rng.random_range(1..=9usize);
            let stability = rng.random_range(1..=n);
            let mut table = KeyTable::default();
            table.reset(n, rng.random_range(0..3));
            for _ in 0..40 {
                let votes: Vec<_> = (0..rng.random_range(1..4))
                    .map(|_| {
                        let voter = ProcessId(rng.random_range(1..=n as u32));
                        let start = rng.random_range(1..12u64);
                        (K, VoteRange::new(voter, start, start + rng.random_range(0..3u64)))
                    })
                    .collect();
                let before = table.stable;
                let grew = table.promise_all(&votes, n, stability);
                let mut h: Vec<u64> = (0..n).map(|voter| table.h(voter)).collect();
                h.sort_unstable();
                assert_eq!(table.stable, h[n - stability], "n={n} S={stability} H={h:?}");
                assert_eq!(grew, table.stable > before);
            }
        }
    }

    /// A slot holds each state exactly, and refuses what it cannot hold.
    #[test]
    fn slots_encode_states() {
        let split = State::Split { low: 3, high: 9, high_voters: 0b101 };
        for state in [State::Rest(0), State::Rest(SPLIT - 1), split, State::Table(5)] {
            assert_eq!(Slot::encode(state).map(Slot::state), Some(state));
        }
        assert_eq!(Slot::encode(State::Rest(SPLIT)), None);
        assert_eq!(Slot::encode(State::Split { low: 1, high: 1 << SPLIT_TIMESTAMP_BITS, high_voters: 1 }), None);
        assert_eq!(Slot::encode(State::Split { low: 1, high: 2, high_voters: 1 << SPLIT_PROCESSES }), None);
    }

    /// Recording promises on a key at rest or split without a table gives
    /// what the table gives: the same `H_j` and stable point.
    #[test]
    fn compact_promises_agree_with_the_table() {
        use rand::{RngExt, SeedableRng};
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(13);
        let (mut compact, mut shortcuts) = (0, 0);
        for _ in 0..3_000 {
            let n = rng.random_range(1..=9usize);
            let stability = rng.random_range(1..=n);
            let low = rng.random_range(0..4u64);
            let state = if rng.random_bool(0.3) {
                State::Rest(low)
            } else {
                let high = low + rng.random_range(1..3u64);
                State::Split { low, high, high_voters: rng.random_range(1..1u64 << n) }
            };
            let votes: Vec<_> = (0..rng.random_range(0..4))
                .map(|_| {
                    let voter = ProcessId(rng.random_range(0..=n as u32 + 1));
                    let start = rng.random_range(0..8u64);
                    (K, VoteRange::new(voter, start, start + rng.random_range(0..3u64)))
                })
                .collect();
            let mut table = KeyTable::default();
            table.load(n, stability, state);
            assert_eq!(table.stable, if let State::Rest(t) = state { t } else { state.stable(stability) });
            table.promise_all(&votes, n, stability);
            let expected = table.compact(n);
            // The shortcut on the two levels agrees with going through every
            // `H_j`, when it applies.
            let (low, high, high_voters) = match state {
                State::Rest(t) => (t, t, 0),
                State::Split { low, high, high_voters } => (low, high, high_voters),
                State::Table(_) => unreachable!(),
            };
            if let Some(shortcut) = State::promise_two_levels(low, high, high_voters, &votes, n) {
                let each = State::promise_each(low, high, high_voters, &votes, n);
                assert!(shortcut.is_none() || shortcut == each, "{state:?} {votes:?}: {shortcut:?} {each:?}");
                shortcuts += usize::from(shortcut.is_some());
            }
            // `None` also when a range came above a gap, even if a later
            // one filled it: the caller then takes the table's path.
            if let Some(new) = state.promise_compact(&votes, n) {
                assert_eq!(Some(new), expected, "{state:?} {votes:?}");
                assert_eq!(new.stable(stability), table.stable);
                compact += 1;
            }
        }
        assert!(compact > 1_500, "only {compact} of 3000 without a table");
        assert!(shortcuts > 1_000, "only {shortcuts} of 3000 on the two levels");
    }

    /// The range bookkeeping agrees with a plain set of promised timestamps
    /// on random ranges, in random order, with duplicates.
    #[test]
    fn contiguous_promises_agree_with_a_set() {
        use rand::{RngExt, SeedableRng};
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
        for _ in 0..200 {
            let mut table = KeyTable::default();
            let mut promised = BTreeSet::new();
            for _ in 0..30 {
                let start = rng.random_range(1..40u64);
                let end = start + rng.random_range(0..5u64);
                table.promise_all(&[(0, VoteRange::new(ProcessId(1), start, end))], 1, 1);
                promised.extend(start..=end);
                let expected = (1..).find(|t| !promised.contains(t)).expect("finite") - 1;
                assert_eq!(table.h(0), expected);
                assert_eq!(table.stable, expected);
                let above_ranges = table.extra.as_ref().map(|extra| extra.above.clone()).unwrap_or_default();
                let above: u64 = above_ranges.iter().map(|&(_, s, e)| e - s + 1).sum();
                assert_eq!(above, promised.iter().filter(|&&t| t > expected).count() as u64, "{above_ranges:?}");
            }
        }
    }
}
