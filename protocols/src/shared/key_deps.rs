//! Dependency computation of Atlas, Janus* and EPaxos (atlas.md §3,
//! epaxos.md §3): per key, only the latest write and the latest read are
//! kept, a transitive reduction of "every conflicting command seen so far"
//! (each of those already depends on the earlier ones).

use super::dot::Dot;
use sim_core::{Command, FixedHashMap, Key};

#[derive(Clone, Copy, Debug, Default)]
struct Latest {
    write: Option<Dot>,
    read: Option<Dot>,
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
    /// registers `cmd` as `dot`. Reads do not depend on reads. Sorted,
    /// without duplicates, never containing `dot`.
    pub fn conflicts(&mut self, dot: Dot, cmd: &Command, past: &[Dot]) -> Vec<Dot> {
        let mut deps: Vec<Dot> = past.to_vec();
        let read_only = cmd.is_read_only();
        for key in cmd.keys() {
            let latest = self.keys.entry(key).or_default();
            deps.extend(latest.write);
            if !read_only && !self.nfr {
                deps.extend(latest.read);
            }
            if read_only {
                latest.read = Some(dot);
            } else {
                latest.write = Some(dot);
            }
        }
        deps.extend(self.latest_noop);
        finish(deps, dot)
    }

    /// Registers a no-op `dot` (from recovery): it depends on `past`, the
    /// previous no-op and every key's latest read and write, and every
    /// later command depends on it.
    pub fn noop(&mut self, dot: Dot, past: &[Dot]) -> Vec<Dot> {
        let mut deps: Vec<Dot> = past.to_vec();
        for latest in self.keys.values() {
            deps.extend(latest.write);
            deps.extend(latest.read);
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
        assert_eq!(index.conflicts(w2, &cmd(&[(7, Op::Put(2))]), &[]), vec![w1, r2], "latest write and read");
        let both = cmd(&[(7, Op::Put(3)), (8, Op::Put(3))]);
        assert_eq!(
            index.conflicts(w3, &both, &[Dot::new(5, 5), w3]),
            vec![w2, r2, Dot::new(5, 5)],
            "past kept, self not"
        );
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
}
