//! Dependency computation of Atlas, Janus* and EPaxos (atlas.md §3,
//! epaxos.md §3): per key, only the latest write and the reads registered
//! since it are kept, a transitive reduction of "every conflicting command
//! seen so far" (the latest write already depends on the earlier ones).
//!
//! Divergence from atlas.md §3 and fantoch, which keep only the *latest*
//! read: reads do not depend on reads, so the latest read does not cover
//! the earlier ones, and a write would miss a concurrent read registered
//! before it. Example: `w0, r1, r2, w` registered here gives `w` the deps
//! `{w0, r2}`; if `r1` was committed with `{w0}`, nothing orders `r1`
//! against `w`, and replicas execute them in different orders (the
//! verdict of the contention tests caught it: a read saw 13 writes at one
//! replica and 9 at another). Keeping every read since the latest write
//! restores the reduction; without reads (every §11 vector) nothing changes.

use super::dot::Dot;
use sim_core::{Command, FixedHashMap, Key};

#[derive(Clone, Debug, Default)]
struct Latest {
    write: Option<Dot>,
    /// Reads registered since `write` (they do not depend on each other,
    /// so a later write must depend on each of them).
    reads: Vec<Dot>,
}

/// The per-key index of the latest commands a process registered.
#[derive(Clone, Debug, Default)]
pub struct KeyDeps {
    keys: FixedHashMap<Key, Latest>,
    latest_noop: Option<Dot>,
    /// NFR option: writes do not depend on reads (atlas.md §7.2).
    nfr: bool,
}

impl KeyDeps {
    /// An empty index; with `nfr`, writes do not depend on reads.
    pub fn new(nfr: bool) -> KeyDeps {
        KeyDeps { nfr, ..KeyDeps::default() }
    }

    /// atlas.md §3 `conflicts(dot, cmd, past)`: the dependencies of `cmd`
    /// (`past` plus the latest conflicting commands registered here), then
    /// registers `cmd` as `dot`. Reads do not depend on reads; a write
    /// depends on the latest write and every read since it. Sorted,
    /// without duplicates, never containing `dot`.
    pub fn conflicts(&mut self, dot: Dot, cmd: &Command, past: &[Dot]) -> Vec<Dot> {
        let mut deps: Vec<Dot> = past.to_vec();
        let read_only = cmd.is_read_only();
        for key in cmd.keys() {
            let latest = self.keys.entry(key).or_default();
            deps.extend(latest.write);
            if !read_only && !self.nfr {
                deps.extend_from_slice(&latest.reads);
            }
            if read_only {
                latest.reads.push(dot);
            } else {
                // The reads before it are now covered by this write (with
                // NFR, writes skip reads, which are not ordered anyway).
                latest.write = Some(dot);
                latest.reads.clear();
            }
        }
        deps.extend(self.latest_noop);
        finish(deps, dot)
    }

    /// Registers a no-op `dot` (from recovery): it depends on `past`, the
    /// previous no-op and every key's latest write and the reads since it,
    /// and every later command depends on it.
    pub fn noop(&mut self, dot: Dot, past: &[Dot]) -> Vec<Dot> {
        let mut deps: Vec<Dot> = past.to_vec();
        for latest in self.keys.values() {
            deps.extend(latest.write);
            deps.extend_from_slice(&latest.reads);
        }
        deps.extend(self.latest_noop);
        self.latest_noop = Some(dot);
        finish(deps, dot)
    }
}

fn finish(mut deps: Vec<Dot>, dot: Dot) -> Vec<Dot> {
    deps.sort_unstable();
    deps.dedup();
    deps.retain(|&d| d != dot);
    deps
}

#[cfg(test)]
mod tests {
    use super::*;
    use sim_core::{ClientId, CommandId, Op};

    fn cmd(ops: &[(Key, Op)]) -> Command {
        Command { id: CommandId { client: ClientId(0), seq: 1 }, ops: ops.iter().copied().collect(), payload_bytes: 0 }
    }

    #[test]
    fn latest_write_and_read_per_key() {
        let mut index = KeyDeps::new(false);
        let (w1, r1, r2, w2, w3) = (Dot::new(1, 1), Dot::new(2, 1), Dot::new(3, 1), Dot::new(1, 2), Dot::new(2, 2));
        assert_eq!(index.conflicts(w1, &cmd(&[(7, Op::Put(1))]), &[]), vec![]);
        assert_eq!(index.conflicts(r1, &cmd(&[(7, Op::Get)]), &[]), vec![w1]);
        assert_eq!(index.conflicts(r2, &cmd(&[(7, Op::Get)]), &[]), vec![w1], "reads do not depend on reads");
        assert_eq!(index.conflicts(w2, &cmd(&[(7, Op::Put(2))]), &[]), vec![w1, r1, r2], "latest write, reads since");
        let both = cmd(&[(7, Op::Put(3)), (8, Op::Put(3))]);
        assert_eq!(
            index.conflicts(w3, &both, &[Dot::new(5, 5), w3]),
            vec![w2, Dot::new(5, 5)],
            "past kept, self not, reads before w2 covered by it"
        );
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

    #[test]
    fn nfr_writes_skip_reads_and_noops_order_everything() {
        let mut index = KeyDeps::new(true);
        let (r, w, noop, after) = (Dot::new(1, 1), Dot::new(2, 1), Dot::new(3, 1), Dot::new(1, 2));
        index.conflicts(r, &cmd(&[(1, Op::Get)]), &[]);
        assert_eq!(index.conflicts(w, &cmd(&[(1, Op::Put(1))]), &[]), vec![]);
        assert_eq!(index.noop(noop, &[]), vec![w], "the write replaced the read");
        assert_eq!(index.conflicts(after, &cmd(&[(9, Op::Get)]), &[]), vec![noop]);
    }
}
