//! Per-command state keyed by dot, stored as one sliding window per origin.
//!
//! Each origin numbers its commands 1, 2, 3, … and a process only holds
//! state for those between the oldest not yet finished and the newest it
//! heard of, so a window (a deque indexed by `seq - base`) replaces a hash
//! map: no hashing, neighbouring commands are neighbours in memory, and
//! what is finished is dropped from the front. Slots below `base` are
//! *trimmed*: their owner declared them finished for good, so a late
//! message about one is recognised and ignored.

use super::dot::Dot;
use std::collections::VecDeque;

/// How far above its window's base a slot may be created: a message naming
/// a dot further ahead is bogus (a real window never gets near this) and
/// must not make a process allocate without bound.
pub const MAX_AHEAD: u64 = 1 << 24;

/// A map from dot to `T`, one window per origin; untouched slots hold
/// `T::default()`.
#[derive(Clone, Debug)]
pub struct DotWindows<T> {
    /// By origin index.
    origins: Vec<Window<T>>,
}

#[derive(Clone, Debug)]
struct Window<T> {
    /// Seqs below are trimmed.
    base: u64,
    /// Slot of seq `base + i`.
    slots: VecDeque<T>,
}

impl<T> Default for DotWindows<T> {
    fn default() -> Self {
        DotWindows { origins: Vec::new() }
    }
}

impl<T: Default> DotWindows<T> {
    /// An empty map.
    pub fn new() -> DotWindows<T> {
        DotWindows::default()
    }

    /// `(origin index, offset in its window)`, if `dot` is in a window.
    fn position(&self, dot: Dot) -> Option<(usize, usize)> {
        let origin = (dot.origin.0 as usize).checked_sub(1)?;
        let window = self.origins.get(origin)?;
        let offset = usize::try_from(dot.seq.checked_sub(window.base)?).ok()?;
        (offset < window.slots.len()).then_some((origin, offset))
    }

    /// The slot of `dot`, if it was ever created and is not trimmed.
    pub fn get(&self, dot: Dot) -> Option<&T> {
        let (origin, offset) = self.position(dot)?;
        self.origins[origin].slots.get(offset)
    }

    /// The slot of `dot`, mutably, if it was ever created and is not trimmed.
    pub fn get_mut(&mut self, dot: Dot) -> Option<&mut T> {
        let (origin, offset) = self.position(dot)?;
        self.origins[origin].slots.get_mut(offset)
    }

    /// True if `dot` was trimmed (declared finished).
    pub fn is_trimmed(&self, dot: Dot) -> bool {
        let origin = (dot.origin.0 as usize).checked_sub(1);
        origin.and_then(|origin| self.origins.get(origin)).is_some_and(|window| dot.seq < window.base)
    }

    /// The slot of `dot`, created (with every slot below it) if needed;
    /// `None` if `dot` is trimmed, has origin 0 or is bogusly far ahead.
    #[inline]
    pub fn slot(&mut self, dot: Dot) -> Option<&mut T> {
        let origin = (dot.origin.0 as usize).checked_sub(1)?;
        if self.origins.len() <= origin {
            self.origins.resize_with(origin + 1, || Window { base: 1, slots: VecDeque::new() });
        }
        let window = &mut self.origins[origin];
        let offset = dot.seq.checked_sub(window.base).filter(|&offset| offset < MAX_AHEAD)?;
        let offset = usize::try_from(offset).ok()?;
        let len = window.slots.len();
        if offset == len {
            window.slots.push_back(T::default()); // the common case: the next dot
        } else if offset > len {
            window.slots.resize_with(offset + 1, T::default);
        }
        window.slots.get_mut(offset)
    }

    /// Trims `dot`'s origin from the front while `finished` holds for the
    /// oldest slot.
    #[inline]
    pub fn trim(&mut self, dot: Dot, mut finished: impl FnMut(&T) -> bool) {
        let Some(window) = (dot.origin.0 as usize).checked_sub(1).and_then(|origin| self.origins.get_mut(origin))
        else {
            return;
        };
        while window.slots.front().is_some_and(&mut finished) {
            window.slots.pop_front();
            window.base += 1;
        }
    }

    /// The lowest seq of `dot`'s origin not trimmed.
    pub fn base(&self, dot: Dot) -> u64 {
        let origin = (dot.origin.0 as usize).checked_sub(1);
        origin.and_then(|origin| self.origins.get(origin)).map_or(1, |window| window.base)
    }

    /// Trims `dot`'s origin below seq `base`, whatever the slots hold.
    pub fn trim_below(&mut self, dot: Dot, base: u64) {
        let Some(window) = (dot.origin.0 as usize).checked_sub(1).and_then(|origin| self.origins.get_mut(origin))
        else {
            return;
        };
        while window.base < base && window.slots.pop_front().is_some() {
            window.base += 1;
        }
        window.base = window.base.max(base);
    }

    /// Slots held over all origins (trimmed ones excluded).
    pub fn slots(&self) -> usize {
        self.origins.iter().map(|window| window.slots.len()).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_are_created_read_and_trimmed_per_origin() {
        let mut map: DotWindows<u32> = DotWindows::new();
        assert_eq!(map.get(Dot::new(1, 1)), None);
        *map.slot(Dot::new(2, 3)).expect("created") = 23;
        assert_eq!(map.get(Dot::new(2, 3)), Some(&23));
        assert_eq!(map.get(Dot::new(2, 1)), Some(&0), "slots below are created empty");
        assert_eq!(map.get(Dot::new(2, 4)), None);
        assert_eq!(map.slots(), 3);
        *map.slot(Dot::new(2, 1)).expect("created") = 1;
        map.trim(Dot::new(2, 9), |&value| value != 0);
        assert!(map.is_trimmed(Dot::new(2, 1)) && !map.is_trimmed(Dot::new(2, 2)), "stops at the empty seq 2");
        assert_eq!(map.slot(Dot::new(2, 1)), None, "a trimmed slot is never created again");
        *map.slot(Dot::new(2, 2)).expect("created") = 22;
        map.trim(Dot::new(2, 2), |&value| value != 0);
        assert_eq!(map.slots(), 0);
        assert!(map.is_trimmed(Dot::new(2, 3)) && !map.is_trimmed(Dot::new(1, 1)));
        assert_eq!((map.base(Dot::new(2, 1)), map.base(Dot::new(1, 1))), (4, 1));
        *map.slot(Dot::new(2, 6)).expect("created") = 6;
        map.trim_below(Dot::new(2, 6), 6);
        assert_eq!((map.base(Dot::new(2, 1)), map.get(Dot::new(2, 6))), (6, Some(&6)), "slots 4 and 5 dropped");
        map.trim_below(Dot::new(2, 1), 9);
        assert_eq!((map.base(Dot::new(2, 1)), map.slots()), (9, 0), "past the last slot");
    }

    #[test]
    fn bogus_dots_are_refused() {
        let mut map: DotWindows<u32> = DotWindows::new();
        assert_eq!(map.slot(Dot::new(0, 1)), None, "origin 0 is never a process");
        assert_eq!(map.slot(Dot::new(1, u64::MAX)), None, "too far ahead");
        assert_eq!(map.slot(Dot::new(1, MAX_AHEAD + 1)), None, "just too far ahead");
        assert_eq!(map.get(Dot::new(0, 1)), None);
        assert!(!map.is_trimmed(Dot::new(0, 1)));
    }
}
