//! Caesar's per-key index (caesar.md §3): for every key, the commands
//! registered at their current tentative timestamp, ordered by timestamp,
//! so predecessors (smaller timestamps) and blockers (larger ones) are
//! range queries.

use super::clock::Clock;
use crate::shared::dot::Dot;
use sim_core::{Command, FixedHashMap, Key};
use std::collections::BTreeMap;
use std::collections::hash_map::Entry;
use std::ops::{Bound, RangeBounds};

/// Per key, `timestamp -> dot` of the registered commands. Timestamps are
/// unique, so one dot per entry. Keys with no command left are dropped.
#[derive(Clone, Debug, Default)]
pub struct KeyIndex {
    keys: FixedHashMap<Key, Registered>,
}

/// One key's registrations. Most keys only ever see one command at a time
/// (every key outside the hot ones), so that case stays inline in the hash
/// map instead of allocating a B-tree node per command.
#[derive(Clone, Debug)]
enum Registered {
    One(Clock, Dot),
    Many(BTreeMap<Clock, Dot>),
}

impl Registered {
    /// `(timestamp, dot)` pairs with a timestamp in `range`.
    fn range(&self, range: (Bound<Clock>, Bound<Clock>)) -> impl Iterator<Item = Dot> + '_ {
        let (one, many) = match self {
            Registered::One(ts, dot) => (range.contains(ts).then_some(*dot), None),
            Registered::Many(commands) => (None, Some(commands.range(range).map(|(_, &dot)| dot))),
        };
        one.into_iter().chain(many.into_iter().flatten())
    }

    fn len(&self) -> usize {
        match self {
            Registered::One(..) => 1,
            Registered::Many(commands) => commands.len(),
        }
    }
}

/// `dots` sorted, without duplicates.
fn sorted(mut dots: Vec<Dot>) -> Vec<Dot> {
    if dots.len() > 1 {
        dots.sort_unstable();
        dots.dedup();
    }
    dots
}

impl KeyIndex {
    /// An empty index.
    pub fn new() -> KeyIndex {
        KeyIndex::default()
    }

    /// `register(dot, cmd, ts)`: `dot` appears at `ts` on every key of `cmd`.
    pub fn register(&mut self, dot: Dot, cmd: &Command, ts: Clock) {
        for key in cmd.keys() {
            Self::register_key(self.keys.entry(key), dot, ts);
        }
    }

    fn register_key(entry: Entry<'_, Key, Registered>, dot: Dot, ts: Clock) {
        match entry {
            Entry::Vacant(vacant) => {
                vacant.insert(Registered::One(ts, dot));
            }
            Entry::Occupied(mut occupied) => {
                let registered = occupied.get_mut();
                if let Registered::One(other_ts, other) = *registered {
                    *registered = Registered::Many(BTreeMap::from([(other_ts, other)]));
                }
                let Registered::Many(commands) = registered else { unreachable!("made many above") };
                let previous = commands.insert(ts, dot);
                debug_assert!(previous.is_none_or(|other| other == dot), "timestamp {ts} of {dot} taken");
            }
        }
    }

    /// The proposal step (caesar.md §5 step 2) in one pass over `cmd`'s
    /// keys: returns `(pred(dot, cmd, ts), blockers(dot, cmd, ts))`, then
    /// registers `dot` at `ts`.
    pub fn propose(&mut self, dot: Dot, cmd: &Command, ts: Clock) -> (Vec<Dot>, Vec<Dot>) {
        let (mut pred, mut blockers) = (Vec::new(), Vec::new());
        for key in cmd.keys() {
            let entry = self.keys.entry(key);
            if let Entry::Occupied(occupied) = &entry {
                let registered = occupied.get();
                let below = registered.range((Bound::Unbounded, Bound::Excluded(ts)));
                pred.extend(below.filter(|&other| other != dot));
                let above = registered.range((Bound::Excluded(ts), Bound::Unbounded));
                blockers.extend(above.filter(|&other| other != dot));
            }
            Self::register_key(entry, dot, ts);
        }
        (sorted(pred), sorted(blockers))
    }

    /// Removes `dot`'s registration at `ts` (if it is there) from every key
    /// of `cmd`.
    pub fn unregister(&mut self, dot: Dot, cmd: &Command, ts: Clock) {
        for key in cmd.keys() {
            let Entry::Occupied(mut occupied) = self.keys.entry(key) else { continue };
            let empty = match occupied.get_mut() {
                Registered::One(other_ts, other) => *other_ts == ts && *other == dot,
                Registered::Many(commands) => {
                    if commands.get(&ts) == Some(&dot) {
                        commands.remove(&ts);
                    }
                    commands.is_empty()
                }
            };
            if empty {
                occupied.remove();
            }
        }
    }

    /// Re-registering moves `dot` from timestamp `from` to `to`.
    pub fn move_to(&mut self, dot: Dot, cmd: &Command, from: Clock, to: Clock) {
        if from != to {
            self.unregister(dot, cmd, from);
            self.register(dot, cmd, to);
        }
    }

    /// `pred(dot, cmd, ts)`: the dots registered on `cmd`'s keys with a
    /// timestamp below `ts`, sorted, without duplicates, never `dot` itself
    /// (a command moved to a higher timestamp is not its own predecessor).
    pub fn pred(&self, dot: Dot, cmd: &Command, ts: Clock) -> Vec<Dot> {
        self.collect(dot, cmd, (Bound::Unbounded, Bound::Excluded(ts)))
    }

    /// `blockers(dot, cmd, ts)`: the dots registered on `cmd`'s keys with a
    /// timestamp above `ts`, sorted, without duplicates, never `dot`.
    pub fn blockers(&self, dot: Dot, cmd: &Command, ts: Clock) -> Vec<Dot> {
        self.collect(dot, cmd, (Bound::Excluded(ts), Bound::Unbounded))
    }

    fn collect(&self, dot: Dot, cmd: &Command, range: (Bound<Clock>, Bound<Clock>)) -> Vec<Dot> {
        let mut dots = Vec::new();
        for key in cmd.keys() {
            if let Some(registered) = self.keys.get(&key) {
                dots.extend(registered.range(range).filter(|&other| other != dot));
            }
        }
        sorted(dots)
    }

    /// Registrations over all keys (a command on k keys counts k times).
    pub fn len(&self) -> usize {
        self.keys.values().map(Registered::len).sum()
    }

    /// True if nothing is registered.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sim_core::{ClientId, CommandId, Op, ProcessId};

    fn cmd(keys: &[Key]) -> Command {
        let ops = keys.iter().map(|&key| (key, Op::Put(1))).collect();
        Command { id: CommandId { client: ClientId(0), seq: 1 }, ops, payload_bytes: 0 }
    }

    fn ts(seq: u64) -> Clock {
        Clock::new(seq, ProcessId(1))
    }

    /// fantoch's predecessors example: keys A, B, C and a command on A+C.
    #[test]
    fn pred_and_blockers_are_range_queries_per_key() {
        let (a, b, c, ac) = (cmd(&[1]), cmd(&[2]), cmd(&[3]), cmd(&[1, 3]));
        let (me, d1, d3) = (Dot::new(9, 9), Dot::new(1, 1), Dot::new(1, 3));
        let mut index = KeyIndex::new();
        assert!(index.pred(me, &a, ts(2)).is_empty());
        index.register(d1, &a, ts(1));
        index.register(d3, &ac, ts(3));
        assert_eq!(index.len(), 3);
        assert_eq!((index.pred(me, &a, ts(2)), index.blockers(me, &a, ts(2))), (vec![d1], vec![d3]));
        assert_eq!((index.pred(me, &b, ts(2)), index.blockers(me, &b, ts(2))), (vec![], vec![]));
        assert_eq!((index.pred(me, &c, ts(2)), index.blockers(me, &c, ts(2))), (vec![], vec![d3]));
        assert_eq!((index.pred(me, &ac, ts(4)), index.blockers(me, &ac, ts(4))), (vec![d1, d3], vec![]));
        // A command never reports itself, at any timestamp.
        assert_eq!(index.pred(d3, &ac, ts(4)), vec![d1]);
        assert_eq!(index.blockers(d1, &a, ts(0)), vec![d3]);
        // Moving d3 below d1's timestamp on both keys.
        index.move_to(d3, &ac, ts(3), Clock::new(0, ProcessId(2)));
        assert_eq!(index.blockers(me, &a, Clock::new(0, ProcessId(1))), vec![d1, d3]);
        assert_eq!(index.pred(me, &c, ts(1)), vec![d3]);
        index.unregister(d1, &a, ts(1));
        index.unregister(d3, &ac, Clock::new(0, ProcessId(2)));
        assert!(index.is_empty(), "empty keys are dropped");
    }

    #[test]
    fn propose_is_pred_and_blockers_then_register() {
        let (ac, me) = (cmd(&[1, 3]), Dot::new(9, 9));
        let mut index = KeyIndex::new();
        index.register(Dot::new(1, 1), &cmd(&[1]), ts(1));
        index.register(Dot::new(1, 3), &cmd(&[3]), ts(3));
        index.register(Dot::new(1, 4), &ac, ts(4));
        let expected = (index.pred(me, &ac, ts(2)), index.blockers(me, &ac, ts(2)));
        assert_eq!(expected, (vec![Dot::new(1, 1)], vec![Dot::new(1, 3), Dot::new(1, 4)]));
        assert_eq!(index.propose(me, &ac, ts(2)), expected);
        assert_eq!(index.len(), 6);
        assert_eq!(index.pred(Dot::new(1, 5), &ac, ts(3)), vec![Dot::new(1, 1), me]);
    }

    #[test]
    fn unregister_only_removes_the_given_registration() {
        let mut index = KeyIndex::new();
        let (d1, d2) = (Dot::new(1, 1), Dot::new(2, 1));
        index.register(d1, &cmd(&[1]), ts(1));
        index.unregister(d2, &cmd(&[1]), ts(1));
        index.unregister(d1, &cmd(&[1]), ts(2));
        assert_eq!(index.len(), 1);
    }
}
