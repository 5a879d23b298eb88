//! The event queue: events ordered by (time, insertion order).
//!
//! Ties at the same instant run in the order they were scheduled, so a run
//! never depends on how a heap breaks ties.
//!
//! The queue is a timing wheel (a calendar queue with fixed-width buckets):
//! simulated time never goes backwards and almost every event is due within
//! a second, so an event at time `t` is appended to bucket
//! `(t >> BUCKET_WIDTH_BITS) mod WHEEL_BUCKETS`, an O(1) push. Popping walks
//! the wheel to the next occupied bucket (an occupancy bitmap skips empty
//! ones), sorts that bucket's few events by (time, sequence) once, and
//! hands them out in order. Events beyond the wheel's one-second window
//! wait in a binary heap and move into the wheel as it turns. Event
//! payloads stay put in a slab; buckets hold 24-byte keys.

use crate::time::Time;
use std::cmp::Reverse;
use std::collections::BinaryHeap;

/// Bucket width: 2^16 ns = 65.5 µs.
const BUCKET_WIDTH_BITS: u32 = 16;
/// Buckets in the wheel: 2^14, so the wheel spans 2^30 ns ≈ 1.07 s.
const WHEEL_BUCKETS: u64 = 1 << 14;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Key {
    time: Time,
    seq: u64,
    slot: u32,
}

impl Key {
    fn bucket(&self) -> u64 {
        self.time.as_ns() >> BUCKET_WIDTH_BITS
    }
}

/// A min-queue of events keyed by time, FIFO among equal times. Events may
/// not be scheduled before the last popped time.
#[derive(Debug)]
pub struct EventQueue<E> {
    /// Absolute number of the bucket being drained (`time >> width`).
    current: u64,
    /// The current bucket's events, sorted descending (next one last).
    active: Vec<Key>,
    /// `wheel[b % WHEEL_BUCKETS]` holds unsorted events of absolute bucket
    /// `b`, for `current < b < current + WHEEL_BUCKETS`.
    wheel: Vec<Vec<Key>>,
    /// Bit `i` of word `i / 64` set iff `wheel[i]` is non-empty.
    occupied: Vec<u64>,
    /// Events at or beyond `current + WHEEL_BUCKETS`.
    overflow: BinaryHeap<Reverse<Key>>,
    /// The events, by slot; `free` lists the empty slots.
    slots: Vec<Option<E>>,
    free: Vec<u32>,
    last: Time,
    len: usize,
    next_seq: u64,
}

impl<E> Default for EventQueue<E> {
    fn default() -> Self {
        EventQueue {
            current: 0,
            active: Vec::new(),
            wheel: (0..WHEEL_BUCKETS).map(|_| Vec::new()).collect(),
            occupied: vec![0; (WHEEL_BUCKETS / 64) as usize],
            overflow: BinaryHeap::new(),
            slots: Vec::new(),
            free: Vec::new(),
            last: Time::ZERO,
            len: 0,
            next_seq: 0,
        }
    }
}

impl<E> EventQueue<E> {
    /// An empty queue.
    pub fn new() -> Self {
        Self::default()
    }

    /// Schedules `event` at `time`, after every event already scheduled at
    /// the same time. `time` must not precede the last popped event's.
    pub fn push(&mut self, time: Time, event: E) {
        assert!(time >= self.last, "event at {time} scheduled before the current time {}", self.last);
        let slot = match self.free.pop() {
            Some(slot) => {
                debug_assert!(self.slots[slot as usize].is_none());
                self.slots[slot as usize] = Some(event);
                slot
            }
            None => {
                self.slots.push(Some(event));
                u32::try_from(self.slots.len() - 1).expect("fewer than 2^32 pending events")
            }
        };
        let key = Key { time, seq: self.next_seq, slot };
        self.next_seq += 1;
        self.len += 1;
        self.place(key);
    }

    fn place(&mut self, key: Key) {
        let bucket = key.bucket();
        debug_assert!(bucket >= self.current);
        if bucket == self.current {
            // Into the sorted current bucket: after everything not later.
            let position = self.active.partition_point(|other| other > &key);
            self.active.insert(position, key);
        } else if bucket < self.current + WHEEL_BUCKETS {
            let index = (bucket % WHEEL_BUCKETS) as usize;
            self.wheel[index].push(key);
            self.occupied[index / 64] |= 1 << (index % 64);
        } else {
            self.overflow.push(Reverse(key));
        }
    }

    /// Removes and returns the earliest event (the first scheduled among
    /// equals).
    pub fn pop(&mut self) -> Option<(Time, E)> {
        if self.active.is_empty() {
            self.advance()?;
        }
        let key = self.active.pop().expect("advanced to a non-empty bucket");
        let event = self.slots[key.slot as usize].take().expect("a queued slot holds its event");
        self.free.push(key.slot);
        self.len -= 1;
        self.last = key.time;
        Some((key.time, event))
    }

    /// Turns the wheel to the next non-empty bucket and sorts it into
    /// `active`; `None` if the queue is empty.
    fn advance(&mut self) -> Option<()> {
        debug_assert!(self.active.is_empty());
        if self.len == 0 {
            return None;
        }
        let next = match self.next_occupied() {
            Some(bucket) => bucket,
            // The wheel is empty: jump to the earliest far-future event.
            None => self.overflow.peek().expect("len > 0").0.bucket(),
        };
        self.current = next;
        let index = (next % WHEEL_BUCKETS) as usize;
        std::mem::swap(&mut self.active, &mut self.wheel[index]);
        self.occupied[index / 64] &= !(1 << (index % 64));
        // The window moved: far events that now fit join the wheel (in
        // (time, seq) order, so FIFO among ties survives).
        while let Some(Reverse(key)) = self.overflow.peek().copied() {
            if key.bucket() >= self.current + WHEEL_BUCKETS {
                break;
            }
            self.overflow.pop();
            if key.bucket() == self.current {
                self.active.push(key);
            } else {
                self.place(key);
            }
        }
        self.active.sort_unstable_by(|a, b| b.cmp(a));
        Some(())
    }

    /// The absolute number of the first occupied wheel bucket after
    /// `current`, if any.
    fn next_occupied(&self) -> Option<u64> {
        let words = self.occupied.len();
        let start = ((self.current + 1) % WHEEL_BUCKETS) as usize;
        // Scan at most one full turn, word by word, starting mid-word.
        let (first_word, first_bit) = (start / 64, start % 64);
        for step in 0..=words {
            let word_index = (first_word + step) % words;
            let mut word = self.occupied[word_index];
            if step == 0 {
                word &= u64::MAX << first_bit;
            } else if step == words {
                word &= !(u64::MAX << first_bit);
            }
            if word != 0 {
                let index = (word_index * 64 + word.trailing_zeros() as usize) as u64;
                let distance = (index + WHEEL_BUCKETS - (self.current % WHEEL_BUCKETS)) % WHEEL_BUCKETS;
                return Some(self.current + distance);
            }
        }
        None
    }

    /// The time of the earliest event.
    pub fn peek_time(&mut self) -> Option<Time> {
        if self.active.is_empty() {
            self.advance()?;
        }
        self.active.last().map(|key| key.time)
    }

    /// Number of pending events.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True if nothing is pending.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Total events ever scheduled.
    pub fn scheduled_total(&self) -> u64 {
        self.next_seq
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    #[test]
    fn same_instant_runs_in_insertion_order() {
        let mut queue = EventQueue::new();
        let t = Time::from_ns(10);
        queue.push(t, "first");
        queue.push(Time::from_ns(5), "earlier");
        queue.push(t, "second");
        queue.push(t, "third");
        let order: Vec<_> = std::iter::from_fn(|| queue.pop()).map(|(_, e)| e).collect();
        assert_eq!(order, ["earlier", "first", "second", "third"]);
    }

    #[test]
    #[should_panic(expected = "scheduled before the current time")]
    fn refuses_the_past() {
        let mut queue = EventQueue::new();
        queue.push(Time::from_ns(10), ());
        queue.pop();
        queue.push(Time::from_ns(9), ());
    }

    /// The simple version: a stable sort by time keeps insertion order among
    /// ties, which is exactly the queue's contract. Pushes are never earlier
    /// than the last pop, as in a simulation; the spread of delays is chosen
    /// to hit every path (current bucket, wheel, overflow, wrap-around).
    fn matches_a_stably_sorted_vec(seed: u64, far_ns: u64) {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        let mut queue = EventQueue::new();
        let mut reference: Vec<(Time, u32)> = Vec::new();
        let mut now = Time::ZERO;
        let mut popped = Vec::new();
        let mut expected = Vec::new();
        for id in 0..20_000u32 {
            let ahead = match rng.next_u32() % 10 {
                0 => rng.next_u64() % far_ns,
                1..=3 => 0,
                4..=6 => rng.next_u64() % 100_000,
                _ => rng.next_u64() % 50_000_000,
            };
            let time = now.plus_ns(ahead);
            queue.push(time, id);
            reference.push((time, id));
            if rng.next_u32() % 2 == 0 {
                reference.sort_by_key(|&(time, _)| time);
                let next = reference.remove(0);
                now = next.0;
                expected.push(next);
                assert_eq!(queue.peek_time(), Some(next.0));
                popped.push(queue.pop().unwrap());
            }
            assert_eq!(queue.len(), reference.len());
        }
        reference.sort_by_key(|&(time, _)| time);
        expected.extend(reference);
        popped.extend(std::iter::from_fn(|| queue.pop()));
        assert_eq!(popped, expected);
        assert!(queue.is_empty());
        assert_eq!(queue.scheduled_total(), 20_000);
    }

    #[test]
    fn matches_a_stably_sorted_vec_near_and_far() {
        matches_a_stably_sorted_vec(3, 1 << 40);
        matches_a_stably_sorted_vec(4, 3 << 30);
        matches_a_stably_sorted_vec(5, 1 << 20);
    }
}
