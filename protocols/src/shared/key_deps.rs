//! Dependency computation of Atlas, Janus* and EPaxos (atlas.md §3,
//! epaxos.md §3): per key, only the latest write and the reads registered
//! since it are kept, a transitive reduction of "every conflicting command
//! seen so far" (each of those already depends on the earlier ones).
//!
//! Reads since the latest write, not only the latest read: reads do not
//! depend on each other, so after reads `r1`, `r2` a write depending only
//! on `r2` would not reach `r1`, and the two conflicting commands could
//! execute in different orders at different processes (atlas.md §3 as
//! written keeps one read; `reads_since_the_latest_write_all_reach_the_next_write`
//! shows the difference).

use super::dot::Dot;
use sim_core::{Command, FixedHashMap, Key};

/// The per-key index of the latest commands a process registered.
///
/// The latest write per key and the reads since it are two maps: most
/// keys only see writes, and a map of small entries (a key and a dot)
/// keeps the index compact. The index is touched once per command and
/// key, at random places, so its size shows in the cache misses of a run.
#[derive(Clone, Debug, Default)]
pub struct KeyDeps {
    /// The latest write per key.
    writes: FixedHashMap<Key, Dot>,
    /// The reads registered since the latest write, per key with any
    /// (with NFR, only the latest: NFR writes do not depend on reads).
    reads: FixedHashMap<Key, Vec<Dot>>,
    latest_noop: Option<Dot>,
    /// Per key, commands a write registered by [`KeyDeps::conflicts_unhiding`]
    /// replaced in the index: every later command on the key keeps
    /// depending on them, until they are forgotten.
    unhidden: FixedHashMap<Key, Vec<Dot>>,
    /// NFR option: writes do not depend on reads (atlas.md §7.2).
    nfr: bool,
}

impl KeyDeps {
    /// An empty index; with `nfr`, writes do not depend on reads.
    pub fn new(nfr: bool) -> KeyDeps {
        KeyDeps { nfr, ..KeyDeps::default() }
    }

    /// atlas.md §3 `conflicts(dot, cmd, past)`: the dependencies of `cmd`
    /// (`past` plus the latest write and, for a write, the reads since it,
    /// on each of its keys), then registers `cmd` as `dot`. Reads do not
    /// depend on reads. Sorted, without duplicates, never containing `dot`.
    pub fn conflicts(&mut self, dot: Dot, cmd: &Command, past: &[Dot]) -> Vec<Dot> {
        let mut deps = Vec::new();
        self.conflicts_into(dot, cmd, past, &mut deps);
        deps
    }

    /// [`KeyDeps::conflicts`] into `deps` (cleared first), so that a caller
    /// can reuse one buffer rather than allocate a set per command.
    pub fn conflicts_into(&mut self, dot: Dot, cmd: &Command, past: &[Dot], deps: &mut Vec<Dot>) {
        self.register(dot, cmd, past, deps, false);
    }

    /// [`KeyDeps::conflicts_into`] for a command that may commit without
    /// the dependencies computed here (Atlas: registered when joining a
    /// recovery, or after the command was decided): the index then cannot
    /// stand for what `cmd` replaces through `cmd` alone, so the write and
    /// reads it replaces stay dependencies of every later command on its
    /// keys (until forgotten). Found by swarm atlas f=1 10% seed 347.
    pub fn conflicts_unhiding(&mut self, dot: Dot, cmd: &Command, past: &[Dot], deps: &mut Vec<Dot>) {
        self.register(dot, cmd, past, deps, true);
    }

    fn register(&mut self, dot: Dot, cmd: &Command, past: &[Dot], deps: &mut Vec<Dot>, unhiding: bool) {
        deps.clear();
        deps.extend_from_slice(past);
        let read_only = cmd.is_read_only();
        for key in cmd.keys() {
            if !self.unhidden.is_empty()
                && let Some(unhidden) = self.unhidden.get(&key)
            {
                deps.extend_from_slice(unhidden);
            }
            if unhiding && !read_only {
                // What the write below replaces: the latest write and
                // the reads since it.
                let start = deps.len();
                deps.extend(self.writes.get(&key).copied());
                if !self.nfr {
                    deps.extend(self.reads.get(&key).into_iter().flatten().copied());
                }
                let replaced = deps[start..].to_vec();
                deps.truncate(start);
                if !replaced.is_empty() {
                    self.unhidden.entry(key).or_default().extend(replaced);
                }
            }
            if read_only {
                deps.extend(self.writes.get(&key).copied());
                let reads = self.reads.entry(key).or_default();
                if self.nfr {
                    reads.clear();
                }
                reads.push(dot);
            } else {
                deps.extend(self.writes.insert(key, dot));
                if !self.nfr && !self.reads.is_empty() {
                    // The write depends on every read since the last write,
                    // so later commands reach them through it.
                    deps.extend(self.reads.remove(&key).unwrap_or_default());
                }
            }
        }
        deps.extend(self.latest_noop);
        finish(deps, dot);
    }

    /// Registers a no-op `dot` (from recovery): it depends on `past`, the
    /// previous no-op and every key's latest write and reads since, and
    /// every later command depends on it.
    pub fn noop(&mut self, dot: Dot, past: &[Dot]) -> Vec<Dot> {
        let mut deps: Vec<Dot> = past.to_vec();
        deps.extend(self.writes.values().copied());
        deps.extend(self.reads.values().flatten().copied());
        deps.extend(self.latest_noop);
        self.latest_noop = Some(dot);
        finish(&mut deps, dot);
        deps
    }

    /// Forgets `dot`, a command registered as `cmd`, so later commands get
    /// no dependency on it from here; drops keys left empty, so the index
    /// does not grow with every command. Safe only once `dot` has executed
    /// at every process: every command registered here before `dot` on
    /// the same key is then reachable from it or still in the index (as
    /// long as each command commits with at least the dependencies
    /// computed here), so a later command loses nothing it must follow.
    pub fn forget(&mut self, dot: Dot, cmd: &Command) {
        self.forget_keys(dot, cmd.keys());
    }

    /// [`KeyDeps::forget`] given the command's keys, for a caller that
    /// keeps those rather than the command.
    pub fn forget_keys(&mut self, dot: Dot, keys: impl IntoIterator<Item = Key>) {
        for key in keys {
            // Taken out and put back if it is another command's: one
            // lookup for the common case, a key only `dot` wrote.
            if let Some(write) = self.writes.remove(&key)
                && write != dot
            {
                self.writes.insert(key, write);
            }
            if !self.reads.is_empty()
                && let Some(reads) = self.reads.get_mut(&key)
            {
                reads.retain(|&read| read != dot);
                if reads.is_empty() {
                    self.reads.remove(&key);
                }
            }
            if !self.unhidden.is_empty()
                && let Some(unhidden) = self.unhidden.get_mut(&key)
            {
                unhidden.retain(|&kept| kept != dot);
                if unhidden.is_empty() {
                    self.unhidden.remove(&key);
                }
            }
        }
        if self.latest_noop == Some(dot) {
            self.latest_noop = None;
        }
    }

    /// Keys with a registered command.
    pub fn key_count(&self) -> usize {
        self.writes.len() + self.reads.keys().filter(|key| !self.writes.contains_key(key)).count()
    }
}

fn finish(deps: &mut Vec<Dot>, dot: Dot) {
    deps.sort_unstable();
    deps.dedup();
    deps.retain(|&d| d != dot);
}

#[cfg(test)]
mod tests {
    use super::*;
    use sim_core::{ClientId, CommandId, Op};

    fn cmd(ops: &[(Key, Op)]) -> Command {
        Command { id: CommandId { client: ClientId(0), seq: 1 }, ops: ops.iter().copied().collect(), payload_bytes: 0 }
    }

    #[test]
    fn latest_write_and_reads_since_per_key() {
        let mut index = KeyDeps::new(false);
        let (w1, r1, r2, w2, w3) = (Dot::new(1, 1), Dot::new(2, 1), Dot::new(3, 1), Dot::new(1, 2), Dot::new(2, 2));
        assert_eq!(index.conflicts(w1, &cmd(&[(7, Op::Put(1))]), &[]), vec![]);
        assert_eq!(index.conflicts(r1, &cmd(&[(7, Op::Get)]), &[]), vec![w1]);
        assert_eq!(index.conflicts(r2, &cmd(&[(7, Op::Get)]), &[]), vec![w1], "reads do not depend on reads");
        assert_eq!(index.conflicts(w2, &cmd(&[(7, Op::Put(2))]), &[]), vec![w1, r1, r2], "write and reads since");
        let both = cmd(&[(7, Op::Put(3)), (8, Op::Put(3))]);
        assert_eq!(
            index.conflicts(w3, &both, &[Dot::new(5, 5), w3]),
            vec![w2, Dot::new(5, 5)],
            "past kept, self not, reads reached through w2"
        );
    }

    /// The transitive reduction must keep every pair of conflicting
    /// commands ordered: for any registration order of random reads and
    /// writes on a few keys, of any two conflicting commands the later one
    /// reaches the earlier through dependencies. With only the latest read
    /// kept (atlas.md §3 as written), reads `r1`, `r2`, then a write `w`
    /// leave `w` and `r1` unordered.
    #[test]
    fn reads_since_the_latest_write_all_reach_the_next_write() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
        for _ in 0..200 {
            let mut index = KeyDeps::new(false);
            let mut registered: Vec<(Dot, Command, Vec<Dot>)> = Vec::new();
            for seq in 1..=30u64 {
                let key = u64::from(rng.next_u32() % 3);
                let op = if rng.next_u32() % 2 == 0 { Op::Get } else { Op::Put(seq) };
                let mut ops = vec![(key, op)];
                if rng.next_u32() % 4 == 0 {
                    ops.push((key + 3, op)); // sometimes a second key
                }
                let (dot, command) = (Dot::new(1, seq), cmd(&ops));
                let deps = index.conflicts(dot, &command, &[]);
                registered.push((dot, command, deps));
            }
            let reaches = |from: usize, to: Dot| {
                let mut stack = vec![registered[from].0];
                let mut seen = std::collections::BTreeSet::new();
                while let Some(dot) = stack.pop() {
                    if dot == to {
                        return true;
                    }
                    if seen.insert(dot) {
                        stack.extend(registered[dot.seq as usize - 1].2.iter().copied());
                    }
                }
                false
            };
            for later in 0..registered.len() {
                for earlier in 0..later {
                    let (a, b) = (&registered[earlier].1, &registered[later].1);
                    let conflict = a.conflicts_with(b) && !(a.is_read_only() && b.is_read_only());
                    if conflict {
                        assert!(reaches(later, registered[earlier].0), "{later} must reach {earlier}");
                    }
                }
            }
        }
    }

    /// A write registered without knowing it commits with what is
    /// computed here (Atlas recovery) does not hide the write and reads
    /// it replaces: later commands on the key keep depending on them
    /// until they are forgotten.
    #[test]
    fn an_unhiding_write_keeps_what_it_replaces_until_forgotten() {
        let mut index = KeyDeps::new(false);
        let (w1, r1, w2, w3, r2) = (Dot::new(4, 5), Dot::new(3, 3), Dot::new(3, 1), Dot::new(2, 4), Dot::new(1, 1));
        let (put, get) = (cmd(&[(0, Op::Put(1))]), cmd(&[(0, Op::Get)]));
        let mut deps = Vec::new();
        assert_eq!(index.conflicts(w1, &put, &[]), vec![]);
        assert_eq!(index.conflicts(r1, &get, &[]), vec![w1]);
        index.conflicts_unhiding(w2, &put, &[], &mut deps);
        assert_eq!(deps, vec![r1, w1]);
        assert_eq!(index.conflicts(w3, &put, &[]), vec![w2, r1, w1], "w1 and r1 not hidden behind w2");
        assert_eq!(index.conflicts(r2, &get, &[]), vec![w3, r1, w1]);
        index.forget(w1, &put);
        index.forget(r1, &get);
        assert_eq!(index.conflicts(Dot::new(1, 2), &put, &[]), vec![r2, w3]);
        // A plain registration hides what it replaces, as before.
        assert_eq!(index.conflicts(Dot::new(1, 3), &put, &[]), vec![Dot::new(1, 2)]);
    }

    #[test]
    fn forget_drops_executed_commands_and_empty_keys() {
        let mut index = KeyDeps::new(false);
        let (w, r1, r2) = (Dot::new(1, 1), Dot::new(2, 1), Dot::new(3, 1));
        let (write, read) = (cmd(&[(7, Op::Put(1))]), cmd(&[(7, Op::Get)]));
        index.conflicts(w, &write, &[]);
        index.conflicts(r1, &read, &[]);
        index.conflicts(r2, &read, &[]);
        index.forget(r1, &read);
        assert_eq!(index.conflicts(Dot::new(1, 2), &read, &[]), vec![w], "reads do not depend on reads");
        index.forget(w, &write);
        assert_eq!(index.conflicts(Dot::new(1, 3), &write, &[]), vec![Dot::new(1, 2), r2]);
        index.forget(Dot::new(1, 2), &read);
        index.forget(r2, &read);
        assert_eq!(index.key_count(), 1, "the write (1,3) is still there");
        index.forget(Dot::new(1, 3), &write);
        assert_eq!(index.key_count(), 0);
    }

    #[test]
    fn nfr_writes_skip_reads_and_noops_order_everything() {
        let mut index = KeyDeps::new(true);
        let (r, w, noop, after) = (Dot::new(1, 1), Dot::new(2, 1), Dot::new(3, 1), Dot::new(1, 2));
        index.conflicts(r, &cmd(&[(1, Op::Get)]), &[]);
        assert_eq!(index.conflicts(w, &cmd(&[(1, Op::Put(1))]), &[]), vec![]);
        assert_eq!(index.noop(noop, &[]), vec![r, w]);
        assert_eq!(index.conflicts(after, &cmd(&[(9, Op::Get)]), &[]), vec![noop]);
    }

    /// Reads do not depend on each other, so the latest read does not
    /// stand for the earlier ones: a write must depend on every read since
    /// the latest write, and a read after it only on the write.
    #[test]
    fn a_write_depends_on_every_concurrent_read() {
        let mut index = KeyDeps::new(false);
        let (w0, r1, r2, w, r3) = (Dot::new(1, 1), Dot::new(2, 1), Dot::new(3, 1), Dot::new(1, 2), Dot::new(2, 2));
        index.conflicts(w0, &cmd(&[(7, Op::Put(1))]), &[]);
        assert_eq!(index.conflicts(r1, &cmd(&[(7, Op::Get)]), &[]), vec![w0]);
        assert_eq!(index.conflicts(r2, &cmd(&[(7, Op::Get)]), &[]), vec![w0]);
        assert_eq!(index.conflicts(w, &cmd(&[(7, Op::Put(2))]), &[]), vec![w0, r1, r2]);
        assert_eq!(index.conflicts(r3, &cmd(&[(7, Op::Get)]), &[]), vec![w], "older reads are behind w");
        assert_eq!(index.conflicts(Dot::new(3, 2), &cmd(&[(7, Op::Put(3))]), &[]), vec![w, r3]);
    }
}
