//! The event queue: events ordered by (time, insertion sequence).
//!
//! Ties at the same instant run in the order they were scheduled, so a run
//! never depends on how a heap breaks ties. Payloads live in a slab and the
//! heap moves only 24-byte keys, which keeps large messages from being
//! copied on every sift.

use crate::time::Time;
use std::cmp::Reverse;
use std::collections::BinaryHeap;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Key {
    time: Time,
    seq: u64,
    slot: u32,
}

/// A min-queue of events keyed by (time, insertion sequence).
#[derive(Debug)]
pub struct EventQueue<E> {
    heap: BinaryHeap<Reverse<Key>>,
    slots: Vec<Option<E>>,
    free: Vec<u32>,
    next_seq: u64,
}

impl<E> Default for EventQueue<E> {
    fn default() -> Self {
        EventQueue { heap: BinaryHeap::new(), slots: Vec::new(), free: Vec::new(), next_seq: 0 }
    }
}

impl<E> EventQueue<E> {
    /// An empty queue.
    pub fn new() -> Self {
        Self::default()
    }

    /// Schedules `event` at `time`, after every event already scheduled at
    /// the same time.
    pub fn push(&mut self, time: Time, event: E) {
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
        self.heap.push(Reverse(Key { time, seq: self.next_seq, slot }));
        self.next_seq += 1;
    }

    /// Removes and returns the earliest event (the first scheduled among
    /// equals).
    pub fn pop(&mut self) -> Option<(Time, E)> {
        let Reverse(key) = self.heap.pop()?;
        let event = self.slots[key.slot as usize].take().expect("a queued slot holds its event");
        self.free.push(key.slot);
        Some((key.time, event))
    }

    /// The time of the earliest event.
    pub fn peek_time(&self) -> Option<Time> {
        self.heap.peek().map(|Reverse(key)| key.time)
    }

    /// Number of pending events.
    pub fn len(&self) -> usize {
        self.heap.len()
    }

    /// True if nothing is pending.
    pub fn is_empty(&self) -> bool {
        self.heap.is_empty()
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
    fn matches_a_stably_sorted_vec() {
        // The simple version: a stable sort by time keeps insertion order
        // among ties, which is exactly the queue's contract.
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
        let mut queue = EventQueue::new();
        let mut reference = Vec::new();
        let mut popped = Vec::new();
        let mut expected = Vec::new();
        for id in 0..5_000u32 {
            let time = Time::from_ns(rng.next_u64() % 50);
            queue.push(time, id);
            reference.push((time, id));
            if rng.next_u32() % 3 == 0 {
                // Interleave pops: the earliest pending event leaves.
                reference.sort_by_key(|&(time, _)| time);
                expected.push(reference.remove(0));
                popped.push(queue.pop().unwrap());
            }
        }
        reference.sort_by_key(|&(time, _)| time);
        expected.extend(reference);
        popped.extend(std::iter::from_fn(|| queue.pop()));
        assert_eq!(popped, expected);
        assert!(queue.is_empty());
    }
}
