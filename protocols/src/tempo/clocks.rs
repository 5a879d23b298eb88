//! Tempo's per-key clocks and the promises they produce (tempo.md §3, §5).
//!
//! A process keeps one clock per key. Moving a clock from `c` to `t`
//! ("bumping") promises that the process will never propose any timestamp
//! in `c+1..=t` for another command on that key: the [`VoteRange`] it emits.
//! Because a clock only grows, every timestamp of a key is promised exactly
//! once by each process, which is what lets executors count promises.

use super::key_map::{KeyWords, Word};
use sim_core::{Command, Key, ProcessId};

/// A promise: `voter` will never propose a timestamp in `start..=end` for
/// another command on the key this range is filed under.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VoteRange {
    /// The process that promised.
    pub voter: ProcessId,
    /// First timestamp promised.
    pub start: u64,
    /// Last timestamp promised (inclusive).
    pub end: u64,
}

impl VoteRange {
    /// The range `start..=end` promised by `voter`.
    pub fn new(voter: ProcessId, start: u64, end: u64) -> VoteRange {
        VoteRange { voter, start, end }
    }
}

/// Bytes one `(key, range)` entry takes on the wire: key 8, voter 4,
/// start 8, end 8.
const BYTES_PER_VOTE: u64 = 28;

/// Promises per key (the spec's `map<key, list<VoteRange>>`), stored flat
/// in the order they were made: merging is an append, and an executor only
/// ever walks them once. Sized exactly (a boxed slice, two words), so that
/// an MCollectAck carrying it is no bigger than an MCollect: every message
/// waits in the event queue, where its size is copied around. Build a
/// large set in a `Vec` and convert it once ([`Votes::from`]).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Votes {
    entries: Box<[(Key, VoteRange)]>,
}

impl Votes {
    /// No promises.
    pub fn new() -> Votes {
        Votes::default()
    }

    /// Adds `range` for `key` (reallocates: for small sets and tests).
    pub fn push(&mut self, key: Key, range: VoteRange) {
        let mut entries = std::mem::take(&mut self.entries).into_vec();
        entries.push((key, range));
        self.entries = entries.into_boxed_slice();
    }

    /// The promises, in the order they were added.
    pub fn as_slice(&self) -> &[(Key, VoteRange)] {
        &self.entries
    }

    /// The promises, in the order they were added.
    pub fn iter(&self) -> impl Iterator<Item = &(Key, VoteRange)> + '_ {
        self.entries.iter()
    }

    /// Number of ranges.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True if there is no promise.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Size on the wire: a count and the entries.
    pub fn size_bytes(&self) -> u64 {
        4 + BYTES_PER_VOTE * self.entries.len() as u64
    }
}

impl From<Vec<(Key, VoteRange)>> for Votes {
    /// The promises of `entries`, in order (no copy when the vector is
    /// full to capacity).
    fn from(entries: Vec<(Key, VoteRange)>) -> Votes {
        Votes { entries: entries.into_boxed_slice() }
    }
}

impl From<&[(Key, VoteRange)]> for Votes {
    /// The promises of `entries`, in order.
    fn from(entries: &[(Key, VoteRange)]) -> Votes {
        Votes { entries: entries.into() }
    }
}

/// This process's detached promises not broadcast yet (the spec's
/// `detached_buf`). A range adjacent to the previous one of the same key
/// extends it (a key bumped twice in a row), so a broadcast usually
/// carries one range per key; ranges of one key made far apart stay
/// separate, which executors handle alike.
#[derive(Clone, Debug, Default)]
pub struct DetachedBuffer {
    votes: Vec<(Key, VoteRange)>,
}

impl DetachedBuffer {
    /// An empty buffer.
    pub fn new() -> DetachedBuffer {
        DetachedBuffer::default()
    }

    /// Adds `range` (all ranges of a buffer have the same voter: this
    /// process).
    pub fn add(&mut self, key: Key, range: VoteRange) {
        if let Some((last_key, last)) = self.votes.last_mut()
            && *last_key == key
            && last.voter == range.voter
            && last.end.checked_add(1) == Some(range.start)
        {
            last.end = range.end;
            return;
        }
        self.votes.push((key, range));
    }

    /// True if nothing is buffered.
    pub fn is_empty(&self) -> bool {
        self.votes.is_empty()
    }

    /// Takes everything buffered, leaving the buffer empty (its memory is
    /// kept for the next period).
    pub fn take(&mut self) -> Votes {
        let votes = Votes::from(self.votes.as_slice());
        self.votes.clear();
        votes
    }
}

/// One process's clock per key.
#[derive(Clone, Debug)]
pub struct KeyClocks {
    me: ProcessId,
    /// Every key this process proposed for, bumped or (ClockBump) saw: no
    /// command frees its key's clock, so this grows to every key of the
    /// run: [`KeyWords`] keeps it small.
    clocks: KeyWords,
}

impl KeyClocks {
    /// Clocks of process `me`, all at 0.
    pub fn new(me: ProcessId) -> KeyClocks {
        KeyClocks { me, clocks: KeyWords::default() }
    }

    /// The clock of `key` (0 if never bumped).
    pub fn clock(&self, key: Key) -> u64 {
        self.clocks.get(key)
    }

    /// Keys with a clock.
    pub fn len(&self) -> usize {
        self.clocks.len()
    }

    /// True if no key has a clock.
    pub fn is_empty(&self) -> bool {
        self.clocks.len() == 0
    }

    /// The timestamp part of `proposal(cmd, m)` (§5):
    /// `max(m, max_k clock[k] + 1)`, or without the `+ 1` for NFR reads
    /// (§9). Bump to it with [`KeyClocks::bump`]: every key of a
    /// multi-key command moves to the same timestamp.
    pub fn proposal(&self, cmd: &Command, min: u64, plus_one: bool) -> u64 {
        let highest = cmd.keys().map(|key| self.clock(key)).max().unwrap_or(0);
        min.max(if plus_one { highest.saturating_add(1) } else { highest })
    }

    /// `proposal(cmd, min)` (§5) in one go: computes the timestamp as
    /// [`KeyClocks::proposal`] does and bumps every key to it, calling
    /// `emit` with each promise. A single-key command looks its key up
    /// once.
    pub fn propose(&mut self, cmd: &Command, min: u64, plus_one: bool, mut emit: impl FnMut(Key, VoteRange)) -> u64 {
        let [(key, _)] = cmd.ops[..] else {
            let t = self.proposal(cmd, min, plus_one);
            self.bump(cmd, t, emit);
            return t;
        };
        let clock = self.clocks.lookup(key);
        let t = min.max(if plus_one { clock.value.saturating_add(1) } else { clock.value });
        self.move_to(key, clock, t, &mut emit);
        t
    }

    /// `bump(cmd, t)` (§5): moves every key of `cmd` whose clock is below
    /// `t` to `t`, calling `emit` with the promise each move makes.
    pub fn bump(&mut self, cmd: &Command, t: u64, mut emit: impl FnMut(Key, VoteRange)) {
        for key in cmd.keys() {
            let clock = self.clocks.lookup(key);
            self.move_to(key, clock, t, &mut emit);
        }
    }

    /// Moves `key`'s clock to `t` if that is higher, calling `emit` with the
    /// promise the move makes (a bump of one key, as §8 ClockBump does).
    pub fn bump_key(&mut self, key: Key, t: u64, mut emit: impl FnMut(Key, VoteRange)) {
        let clock = self.clocks.lookup(key);
        self.move_to(key, clock, t, &mut emit);
    }

    /// Moves `key`'s clock from `clock` to `t` if that is higher, with the
    /// promise it makes; either way the key has a clock afterwards.
    #[inline]
    fn move_to(&mut self, key: Key, clock: Word, t: u64, emit: &mut impl FnMut(Key, VoteRange)) {
        if clock.value < t {
            emit(key, VoteRange::new(self.me, clock.value + 1, t));
            self.clocks.set_found(key, clock, t);
        } else if clock.value == 0 {
            self.clocks.touch(key);
        }
    }

    /// Gives every key of `cmd` a clock (at 0 if it had none), so that the
    /// periodic clock bump (§8) covers it.
    pub fn init(&mut self, cmd: &Command) {
        for key in cmd.keys() {
            self.clocks.touch(key);
        }
    }

    /// Bumps every key with a clock to `t` (§8 ClockBump), in the order of
    /// `KeyWords::to_vec` (deterministic: it depends only on the keys
    /// set, in order). The order of the promises in a broadcast is
    /// arbitrary; it only decides which key an executor looks at first.
    pub fn bump_all(&mut self, t: u64, mut emit: impl FnMut(Key, VoteRange)) {
        for (key, clock) in self.clocks.to_vec() {
            if clock < t {
                emit(key, VoteRange::new(self.me, clock + 1, t));
                self.clocks.set(key, t);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sim_core::{ClientId, CommandId, Op};

    const K: Key = 7;

    fn put(keys: &[Key]) -> Command {
        let ops = keys.iter().map(|&key| (key, Op::Put(1))).collect();
        Command { id: CommandId { client: ClientId(0), seq: 1 }, ops, payload_bytes: 0 }
    }

    fn at(clock: u64) -> KeyClocks {
        let mut clocks = KeyClocks::new(ProcessId(2));
        clocks.bump(&put(&[K]), clock, |_, _| {});
        clocks
    }

    fn collect(clocks: &mut KeyClocks, cmd: &Command, t: u64) -> Vec<(Key, VoteRange)> {
        let mut emitted = Vec::new();
        clocks.bump(cmd, t, |key, range| emitted.push((key, range)));
        emitted
    }

    /// tempo.md §13.3: proposals and the promises they attach, then a
    /// commit bumps the rest (detached).
    #[test]
    fn tempo_13_3_proposal_and_promises() {
        let cmd = put(&[K]);
        let p2 = ProcessId(2);

        // clock 5, MCollect with ts 3: propose 6, attached [6,6].
        let mut clocks = at(5);
        let mut attached = Vec::new();
        assert_eq!(clocks.propose(&cmd, 3, true, |key, range| attached.push((key, range))), 6);
        assert_eq!(attached, vec![(K, VoteRange::new(p2, 6, 6))]);

        // clock 2, MCollect with ts 5: propose 5, attached [3,5].
        let mut clocks = at(2);
        let mut attached = Vec::new();
        assert_eq!(clocks.propose(&cmd, 5, true, |key, range| attached.push((key, range))), 5);
        assert_eq!(attached, vec![(K, VoteRange::new(p2, 3, 5))]);

        // Commit at 8 afterwards: detached [6,8], clock 5 -> 8.
        assert_eq!(collect(&mut clocks, &cmd, 8), vec![(K, VoteRange::new(p2, 6, 8))]);
        assert_eq!(clocks.clock(K), 8);
        assert!(collect(&mut clocks, &cmd, 8).is_empty(), "a second bump to 8 promises nothing");
        assert!(collect(&mut clocks, &cmd, 4).is_empty(), "clocks never go back");
    }

    /// §5: a multi-key proposal takes the highest clock and moves every key
    /// to the same timestamp; an NFR read (§9) does not add 1.
    #[test]
    fn multi_key_proposal_and_nfr_reads() {
        let mut clocks = at(5);
        let both = put(&[K, 9]);
        let t = clocks.proposal(&both, 0, true);
        assert_eq!(t, 6);
        let p2 = ProcessId(2);
        assert_eq!(collect(&mut clocks, &both, t), vec![(K, VoteRange::new(p2, 6, 6)), (9, VoteRange::new(p2, 1, 6))]);
        assert_eq!(clocks.proposal(&put(&[K]), 0, false), 6, "an NFR read proposes the clock itself");
        assert_eq!(clocks.proposal(&put(&[K]), 9, false), 9);
        assert_eq!(clocks.propose(&put(&[K]), 0, false, |_, _| panic!("no promise")), 6);
        let mut again = Vec::new();
        assert_eq!(clocks.propose(&both, 0, true, |key, range| again.push((key, range))), 7);
        assert_eq!(again, vec![(K, VoteRange::new(p2, 7, 7)), (9, VoteRange::new(p2, 7, 7))]);
    }

    #[test]
    fn detached_buffer_extends_the_previous_range_of_the_key() {
        let p1 = ProcessId(1);
        let mut buffer = DetachedBuffer::new();
        buffer.add(K, VoteRange::new(p1, 1, 3));
        buffer.add(K, VoteRange::new(p1, 4, 6));
        buffer.add(K, VoteRange::new(p1, 8, 8)); // 7 was attached to a command
        buffer.add(9, VoteRange::new(p1, 1, 1));
        buffer.add(K, VoteRange::new(p1, 9, 9));
        let expected = [
            (K, VoteRange::new(p1, 1, 6)),
            (K, VoteRange::new(p1, 8, 8)),
            (9, VoteRange::new(p1, 1, 1)),
            (K, VoteRange::new(p1, 9, 9)),
        ];
        assert_eq!(buffer.take().as_slice(), &expected);
        assert!(buffer.is_empty());
    }
}
