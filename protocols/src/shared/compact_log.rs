//! A replicated log numbered from 1 whose committed prefix can be
//! discarded once every replica holds it (VR's and Raft's logs).
//!
//! A deque with a moving base: appending, reading an entry and dropping
//! the prefix are O(1), and truncating a suffix (a view change, a Raft
//! conflict) is O(removed).

use std::collections::VecDeque;

/// Log entries `base + 1 ..= last`; entries up to `base` were discarded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CompactLog<T> {
    base: u64,
    entries: VecDeque<T>,
}

impl<T> Default for CompactLog<T> {
    fn default() -> Self {
        CompactLog { base: 0, entries: VecDeque::new() }
    }
}

impl<T: Clone> CompactLog<T> {
    /// An empty log whose first entry will be number 1.
    pub fn new() -> Self {
        Self::default()
    }

    /// The highest discarded index (0 if nothing was discarded).
    pub fn base(&self) -> u64 {
        self.base
    }

    /// The index of the last entry (`base` if the log holds none).
    pub fn last(&self) -> u64 {
        self.base + self.entries.len() as u64
    }

    /// Number of entries held.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True if no entry is held.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The entry at `index`, if held.
    pub fn get(&self, index: u64) -> Option<&T> {
        let offset = index.checked_sub(self.base + 1)?;
        self.entries.get(usize::try_from(offset).ok()?)
    }

    /// Appends `value`; returns its index.
    pub fn push(&mut self, value: T) -> u64 {
        self.entries.push_back(value);
        self.last()
    }

    /// Drops every entry after `index` (nothing if `index >= last`). An
    /// index below the base empties the log but keeps the base: discarded
    /// entries are committed everywhere and never truncated.
    pub fn truncate_after(&mut self, index: u64) {
        let keep = index.saturating_sub(self.base);
        self.entries.truncate(usize::try_from(keep).unwrap_or(usize::MAX));
    }

    /// Discards every entry up to `index` (capped at `last`), freeing them.
    pub fn discard_through(&mut self, index: u64) {
        while self.base < index && self.entries.pop_front().is_some() {
            self.base += 1;
        }
    }

    /// Forgets everything and restarts the numbering after `base`: a
    /// replica that adopts a log whose prefix up to `base` was discarded.
    pub fn reset(&mut self, base: u64) {
        self.entries.clear();
        self.base = base;
    }

    /// Clones of the entries after `index` (from `base + 1` if `index` is
    /// below the base), in order.
    pub fn suffix_after(&self, index: u64) -> Vec<T> {
        let skip = usize::try_from(index.saturating_sub(self.base)).unwrap_or(usize::MAX);
        self.entries.iter().skip(skip).cloned().collect()
    }

    /// `(index, entry)` for the entries after `index`, in order.
    pub fn iter_after(&self, index: u64) -> impl Iterator<Item = (u64, &T)> {
        let skip = usize::try_from(index.saturating_sub(self.base)).unwrap_or(usize::MAX);
        let base = self.base;
        self.entries.iter().enumerate().skip(skip).map(move |(offset, value)| (base + 1 + offset as u64, value))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn push_truncate_discard_and_reset() {
        let mut log = CompactLog::new();
        for value in 1..=5 {
            assert_eq!(log.push(value * 10), value);
        }
        assert_eq!((log.get(0), log.get(1), log.get(5), log.get(6)), (None, Some(&10), Some(&50), None));
        log.truncate_after(3);
        assert_eq!(log.last(), 3);
        log.discard_through(2);
        assert_eq!((log.base(), log.len(), log.get(2), log.get(3)), (2, 1, None, Some(&30)));
        assert_eq!(log.suffix_after(0), vec![30]);
        assert_eq!(log.iter_after(2).collect::<Vec<_>>(), vec![(3, &30)]);
        log.truncate_after(1);
        assert_eq!((log.base(), log.last()), (2, 2), "the discarded prefix stays");
        log.discard_through(10);
        assert_eq!(log.base(), 2, "capped at the last entry");
        log.reset(7);
        assert_eq!((log.last(), log.push(1)), (7, 8));
    }
}
