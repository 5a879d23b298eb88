//! A map from slot numbers to values for slots that arrive mostly in
//! order: a deque with a moving base, so insert, lookup and removal are O(1)
//! and memory is freed from the front as slots are garbage-collected.

use std::collections::VecDeque;

/// Values indexed by slot (`u64`, from 1).
#[derive(Clone, Debug)]
pub struct SlotLog<T> {
    /// Slot number of `entries[0]`.
    base: u64,
    entries: VecDeque<Option<T>>,
    len: usize,
}

impl<T> Default for SlotLog<T> {
    fn default() -> Self {
        SlotLog { base: 1, entries: VecDeque::new(), len: 0 }
    }
}

impl<T> SlotLog<T> {
    /// An empty log whose first slot is 1.
    pub fn new() -> Self {
        Self::default()
    }

    /// Stores `value` at `slot`, returning the previous value. Slots below
    /// the log's floor (already discarded) are refused: `Err(value)`.
    pub fn insert(&mut self, slot: u64, value: T) -> Result<Option<T>, T> {
        if slot < self.base {
            return Err(value);
        }
        let offset = usize::try_from(slot - self.base).expect("slot offset fits in memory");
        if offset == self.entries.len() {
            // The common case: the slot after the last one.
            self.entries.push_back(Some(value));
            self.len += 1;
            return Ok(None);
        }
        if offset > self.entries.len() {
            self.entries.resize_with(offset + 1, || None);
        }
        let previous = self.entries[offset].replace(value);
        if previous.is_none() {
            self.len += 1;
        }
        Ok(previous)
    }

    /// The value at `slot`, first stored as `make()` if there is none (one
    /// lookup where `get` then `insert` take two); `None` if `slot` is
    /// below the floor.
    pub fn get_or_insert_with(&mut self, slot: u64, make: impl FnOnce() -> T) -> Option<&mut T> {
        let offset = usize::try_from(slot.checked_sub(self.base)?).expect("slot offset fits in memory");
        if offset == self.entries.len() {
            self.entries.push_back(None); // the common case: the slot after the last one
        } else if offset > self.entries.len() {
            self.entries.resize_with(offset + 1, || None);
        }
        let entry = &mut self.entries[offset];
        if entry.is_none() {
            *entry = Some(make());
            self.len += 1;
        }
        entry.as_mut()
    }

    /// The value at `slot`.
    pub fn get(&self, slot: u64) -> Option<&T> {
        let offset = usize::try_from(slot.checked_sub(self.base)?).ok()?;
        self.entries.get(offset)?.as_ref()
    }

    /// The value at `slot`, mutably.
    pub fn get_mut(&mut self, slot: u64) -> Option<&mut T> {
        let offset = usize::try_from(slot.checked_sub(self.base)?).ok()?;
        self.entries.get_mut(offset)?.as_mut()
    }

    /// Removes and returns the value at `slot`, leaving a hole that may be
    /// filled again.
    pub fn remove(&mut self, slot: u64) -> Option<T> {
        let offset = usize::try_from(slot.checked_sub(self.base)?).ok()?;
        let value = self.entries.get_mut(offset)?.take();
        if value.is_some() {
            self.len -= 1;
            self.trim_front();
        }
        value
    }

    /// Discards every slot `<= slot`; later inserts below the new floor are
    /// refused.
    pub fn discard_up_to(&mut self, slot: u64) {
        while self.base <= slot {
            if let Some(Some(_)) = self.entries.pop_front() {
                self.len -= 1;
            }
            self.base += 1;
            if self.entries.is_empty() {
                self.base = self.base.max(slot + 1);
                break;
            }
        }
    }

    /// Lowest slot still accepted.
    pub fn floor(&self) -> u64 {
        self.base
    }

    /// Number of stored values.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True if nothing is stored.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Stored `(slot, value)` pairs from `from` upwards, in slot order.
    pub fn iter_from(&self, from: u64) -> impl Iterator<Item = (u64, &T)> {
        let base = self.base;
        let skip = usize::try_from(from.saturating_sub(base)).unwrap_or(usize::MAX);
        self.entries
            .iter()
            .enumerate()
            .skip(skip)
            .filter_map(move |(offset, entry)| entry.as_ref().map(|value| (base + offset as u64, value)))
    }

    /// A log that became empty forgets its entries but keeps its floor.
    fn trim_front(&mut self) {
        if self.len == 0 {
            self.entries.clear();
        }
    }

    /// Raises the floor past the empty slots at the front, freeing their
    /// memory. For logs whose slots are filled once and then removed (a
    /// leader's in-flight slots): a hole below the first stored slot will
    /// never be filled again. Logs that wait for holes to fill (an
    /// executor) must not call it.
    pub fn discard_leading_holes(&mut self) {
        while let Some(None) = self.entries.front() {
            self.entries.pop_front();
            self.base += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn insert_get_remove_and_discard() {
        let mut log = SlotLog::new();
        assert_eq!(log.insert(3, "c"), Ok(None));
        assert_eq!(log.insert(1, "a"), Ok(None));
        assert_eq!(log.insert(1, "a2"), Ok(Some("a")));
        assert_eq!(log.len(), 2);
        assert_eq!(log.get(1), Some(&"a2"));
        assert_eq!(log.get(2), None);
        assert_eq!(log.remove(1), Some("a2"));
        assert_eq!(log.remove(1), None);
        assert_eq!(log.floor(), 1, "a hole can be filled again");
        assert_eq!(log.insert(2, "b"), Ok(None));
        assert_eq!(log.remove(2), Some("b"));
        log.discard_leading_holes();
        assert_eq!(log.floor(), 3, "holes below the first stored slot are gone");
        assert_eq!(log.iter_from(1).collect::<Vec<_>>(), vec![(3, &"c")]);
        log.discard_up_to(3);
        assert!(log.is_empty());
        assert_eq!(log.floor(), 4);
        assert_eq!(log.insert(2, "late"), Err("late"));
        assert_eq!(log.insert(10, "j"), Ok(None));
        log.discard_up_to(20);
        assert_eq!(log.floor(), 21);
        assert!(log.is_empty());
    }

    #[test]
    fn agrees_with_a_btreemap() {
        use std::collections::BTreeMap;
        let mut log = SlotLog::new();
        let mut reference = BTreeMap::new();
        let mut floor = 1;
        for step in 0..2_000u64 {
            let slot = (step * 7919) % 97 + floor;
            match step % 5 {
                0..=2 if slot < log.floor() => assert_eq!(log.insert(slot, step), Err(step)),
                0..=2 => {
                    assert_eq!(log.insert(slot, step).ok().flatten(), reference.insert(slot, step));
                }
                3 => assert_eq!(log.remove(slot), reference.remove(&slot)),
                _ => {
                    floor += step % 3;
                    log.discard_up_to(floor - 1);
                    reference.retain(|&s, _| s >= floor);
                }
            }
            assert_eq!(log.len(), reference.len());
            let stored: Vec<_> = log.iter_from(0).map(|(s, v)| (s, *v)).collect();
            let expected: Vec<_> = reference.iter().map(|(s, v)| (*s, *v)).collect();
            assert_eq!(stored, expected);
        }
    }
}
