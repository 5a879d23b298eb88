//! Caesar's per-key index (caesar.md §3): for every key, the commands
//! registered at their current tentative timestamp. Blockers (larger
//! timestamps) are a range query on the timestamp order; predecessors
//! (smaller timestamps) are on hot keys nearly every command registered,
//! and are wanted sorted by dot (to merge replies linearly), so they are
//! read off a second order, by dot, instead of being sorted each time.

use super::clock::Clock;
use super::union;
use crate::shared::dot::Dot;
use sim_core::{Command, FixedHashMap, Key};
use std::collections::BTreeMap;
use std::collections::hash_map::Entry;
use std::ops::Bound;

/// Per key, the registered commands and their timestamps. Timestamps are
/// unique, so one dot per timestamp. Keys with no command left are dropped.
#[derive(Clone, Debug, Default)]
pub struct KeyIndex {
    keys: FixedHashMap<Key, Registered>,
}

/// One key's registrations. Most keys only ever see one command at a time
/// (every key outside the hot ones), so that case stays inline in the hash
/// map instead of allocating B-tree nodes per command.
#[derive(Clone, Debug)]
enum Registered {
    One(Clock, Dot),
    Many(Box<Many>),
}

/// The same registrations in two orders.
#[derive(Clone, Debug, Default)]
struct Many {
    by_ts: BTreeMap<Clock, Dot>,
    by_dot: BTreeMap<Dot, Clock>,
}

impl Registered {
    /// Registered dots other than `except` with a timestamp below `ts`,
    /// sorted.
    fn below(&self, ts: Clock, except: Dot) -> Vec<Dot> {
        match self {
            Registered::One(other_ts, other) => {
                if *other_ts < ts && *other != except {
                    vec![*other]
                } else {
                    Vec::new()
                }
            }
            Registered::Many(many) => many
                .by_dot
                .iter()
                .filter(|&(&other, &other_ts)| other_ts < ts && other != except)
                .map(|(&dot, _)| dot)
                .collect(),
        }
    }

    /// Adds to `into` the registered dots other than `except` with a
    /// timestamp above `ts`, in timestamp order.
    fn above(&self, ts: Clock, except: Dot, into: &mut Vec<Dot>) {
        match self {
            Registered::One(other_ts, other) => {
                if *other_ts > ts && *other != except {
                    into.push(*other);
                }
            }
            Registered::Many(many) => {
                let above = many.by_ts.range((Bound::Excluded(ts), Bound::Unbounded));
                into.extend(above.map(|(_, &dot)| dot).filter(|&other| other != except));
            }
        }
    }

    fn len(&self) -> usize {
        match self {
            Registered::One(..) => 1,
            Registered::Many(many) => many.by_ts.len(),
        }
    }
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
                    let mut many = Box::<Many>::default();
                    many.by_ts.insert(other_ts, other);
                    many.by_dot.insert(other, other_ts);
                    *registered = Registered::Many(many);
                }
                let Registered::Many(many) = registered else { unreachable!("made many above") };
                let previous = many.by_ts.insert(ts, dot);
                debug_assert!(previous.is_none_or(|other| other == dot), "timestamp {ts} of {dot} taken");
                if let Some(old_ts) = many.by_dot.insert(dot, ts)
                    && old_ts != ts
                {
                    many.by_ts.remove(&old_ts); // registered twice on this key: keep the new one
                }
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
                let below = registered.below(ts, dot);
                pred = if pred.is_empty() { below } else { union(&pred, &below) };
                registered.above(ts, dot, &mut blockers);
            }
            Self::register_key(entry, dot, ts);
        }
        (pred, sorted(blockers))
    }

    /// Removes `dot`'s registration at `ts` (if it is there) from every key
    /// of `cmd`.
    pub fn unregister(&mut self, dot: Dot, cmd: &Command, ts: Clock) {
        for key in cmd.keys() {
            let Entry::Occupied(mut occupied) = self.keys.entry(key) else { continue };
            let empty = match occupied.get_mut() {
                Registered::One(other_ts, other) => *other_ts == ts && *other == dot,
                Registered::Many(many) => {
                    if many.by_ts.get(&ts) == Some(&dot) {
                        many.by_ts.remove(&ts);
                        many.by_dot.remove(&dot);
                    }
                    many.by_ts.is_empty()
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
        let mut pred = Vec::new();
        for key in cmd.keys() {
            if let Some(registered) = self.keys.get(&key) {
                let below = registered.below(ts, dot);
                pred = if pred.is_empty() { below } else { union(&pred, &below) };
            }
        }
        pred
    }

    /// `blockers(dot, cmd, ts)`: the dots registered on `cmd`'s keys with a
    /// timestamp above `ts`, sorted, without duplicates, never `dot`.
    pub fn blockers(&self, dot: Dot, cmd: &Command, ts: Clock) -> Vec<Dot> {
        let mut blockers = Vec::new();
        for key in cmd.keys() {
            if let Some(registered) = self.keys.get(&key) {
                registered.above(ts, dot, &mut blockers);
            }
        }
        sorted(blockers)
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

/// `dots` sorted, without duplicates.
fn sorted(mut dots: Vec<Dot>) -> Vec<Dot> {
    if dots.len() > 1 {
        dots.sort_unstable();
        dots.dedup();
    }
    dots
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

    /// Random registrations, moves and removals on 3 keys agree with a
    /// plain list of `(dot, keys, ts)`.
    #[test]
    fn agrees_with_a_list() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
        let mut index = KeyIndex::new();
        let mut model: Vec<(Dot, Vec<Key>, Clock)> = Vec::new();
        let key_sets: [&[Key]; 4] = [&[1], &[2], &[1, 3], &[2, 3]];
        for step in 0..3_000u64 {
            let choice = rng.next_u32() % 10;
            if choice < 5 || model.is_empty() {
                let keys = key_sets[rng.next_u32() as usize % 4];
                let dot = Dot::new(1 + rng.next_u32() % 3, step + 1);
                let clock = Clock::new(rng.next_u64() % 1_000, ProcessId(1 + step as u32 % 7));
                if model.iter().all(|(_, _, other)| *other != clock) {
                    index.register(dot, &cmd(keys), clock);
                    model.push((dot, keys.to_vec(), clock));
                }
            } else if choice < 7 {
                let position = rng.next_u32() as usize % model.len();
                let (dot, keys, clock) = model.swap_remove(position);
                index.unregister(dot, &cmd(&keys), clock);
            } else {
                let position = rng.next_u32() as usize % model.len();
                let to = Clock::new(rng.next_u64() % 1_000, ProcessId(8 + step as u32 % 5));
                if model.iter().all(|(_, _, other)| *other != to) {
                    let (dot, keys, from) = model[position].clone();
                    index.move_to(dot, &cmd(&keys), from, to);
                    model[position].2 = to;
                }
            }
            let probe_keys = key_sets[rng.next_u32() as usize % 4];
            let probe = Clock::new(rng.next_u64() % 1_000, ProcessId(20));
            let me = model.first().map_or(Dot::new(9, 9), |(dot, ..)| *dot);
            let shares = |keys: &Vec<Key>| keys.iter().any(|key| probe_keys.contains(key));
            let expect = |below: bool| -> Vec<Dot> {
                let mut dots: Vec<Dot> = model
                    .iter()
                    .filter(|(dot, keys, clock)| *dot != me && shares(keys) && (*clock < probe) == below)
                    .map(|(dot, ..)| *dot)
                    .collect();
                dots.sort_unstable();
                dots
            };
            assert_eq!(index.pred(me, &cmd(probe_keys), probe), expect(true), "step {step}");
            assert_eq!(index.blockers(me, &cmd(probe_keys), probe), expect(false), "step {step}");
            assert_eq!(index.len(), model.iter().map(|(_, keys, _)| keys.len()).sum::<usize>());
        }
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
