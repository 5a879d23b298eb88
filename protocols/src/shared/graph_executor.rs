//! The dependency-graph executor of Atlas, Janus* and EPaxos (atlas.md §6,
//! epaxos.md §6).
//!
//! A committed command arrives with its dependencies. It executes once
//! every command it transitively depends on is committed: Tarjan's
//! algorithm, run from the new vertex over committed-but-unexecuted
//! vertices, closes strongly connected components in reverse topological
//! order, so each component executes as soon as it closes, dependencies
//! first, its members sorted by `(order, dot)` (`order` is EPaxos's `seq`;
//! Atlas passes 0 and sorts by dot alone). A search that meets a
//! dependency not yet committed stops and waits for it. The search is
//! iterative: contention builds dependency chains thousands long.
//!
//! The executor notifies its protocol of every dot it executes
//! (`Apply::notify`, delivered to `Protocol::handle_executed`), so the
//! protocol can tell how far every process has executed and
//! garbage-collect what only matters until then (the per-key index).

use super::dot::{Dot, DotSet};
use sim_core::protocol::{Apply, Executor};
use sim_core::{Command, FixedHashMap, Time};
use std::sync::Arc;

/// A committed command, as the protocol hands it over.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Committed {
    /// Its id.
    pub dot: Dot,
    /// The command, or `None` for a no-op (from recovery).
    pub cmd: Option<Arc<Command>>,
    /// The commands it must not execute before (unless in the same
    /// component).
    pub deps: Vec<Dot>,
    /// Sort key inside a component before the dot: EPaxos's sequence
    /// number, 0 for Atlas.
    pub order: u64,
}

#[derive(Debug)]
struct Vertex {
    committed_at: Time,
    cmd: Option<Arc<Command>>,
    deps: Vec<Dot>,
    order: u64,
}

/// Executes committed commands in dependency order.
#[derive(Debug, Default)]
pub struct GraphExecutor {
    /// Committed, not yet executed.
    vertices: FixedHashMap<Dot, Vertex>,
    executed: DotSet,
    /// Vertices whose last search stopped at a dependency not committed
    /// yet, by that dependency (which may have been committed since, and
    /// then still blocks them until it executes).
    waiting_on: FixedHashMap<Dot, Vec<Dot>>,
    /// Buffers of `search`, kept between searches so that each one does
    /// not allocate and grow them again (always empty between searches).
    scratch: Scratch,
}

/// A search's working state: Tarjan's per-vertex state, its stack, and
/// the explicit call stack of (vertex, next dependency to look at).
#[derive(Debug, Default)]
struct Scratch {
    visits: FixedHashMap<Dot, Visit>,
    stack: Vec<Dot>,
    calls: Vec<(Dot, usize)>,
}

/// Per-search Tarjan state of one vertex.
#[derive(Clone, Copy, Debug)]
struct Visit {
    index: u32,
    low: u32,
    on_stack: bool,
}

impl GraphExecutor {
    /// An empty executor.
    pub fn new() -> GraphExecutor {
        GraphExecutor::default()
    }

    /// Committed commands waiting for a dependency.
    pub fn pending(&self) -> usize {
        self.vertices.len()
    }

    /// True if `dot` has executed here.
    pub fn has_executed(&self, dot: Dot) -> bool {
        self.executed.contains(dot)
    }

    /// Searches from `root`; executes every component that closes. Returns
    /// the dependency the search stopped at, if one was not committed.
    fn search(&mut self, root: Dot, apply: &mut Apply<'_, Dot>, executed_now: &mut Vec<Dot>) -> Option<Dot> {
        let mut scratch = std::mem::take(&mut self.scratch);
        let missing = self.search_with(&mut scratch, root, apply, executed_now);
        scratch.visits.clear();
        scratch.stack.clear();
        scratch.calls.clear();
        self.scratch = scratch;
        missing
    }

    fn search_with(
        &mut self,
        scratch: &mut Scratch,
        root: Dot,
        apply: &mut Apply<'_, Dot>,
        executed_now: &mut Vec<Dot>,
    ) -> Option<Dot> {
        let Scratch { visits, stack, calls } = scratch;
        let mut next_index = 0u32;
        let mut visit = |dot: Dot, visits: &mut FixedHashMap<Dot, Visit>, stack: &mut Vec<Dot>| {
            visits.insert(dot, Visit { index: next_index, low: next_index, on_stack: true });
            stack.push(dot);
            next_index += 1;
        };
        visit(root, visits, stack);
        calls.push((root, 0));
        while let Some(&(vertex, position)) = calls.last() {
            let deps = &self.vertices[&vertex].deps;
            if let Some(&dep) = deps.get(position) {
                calls.last_mut().expect("non-empty").1 += 1;
                if dep == vertex || self.executed.contains(dep) {
                    continue;
                }
                if !self.vertices.contains_key(&dep) {
                    return Some(dep); // not committed yet: wait for it
                }
                match visits.get(&dep).copied() {
                    None => {
                        visit(dep, visits, stack);
                        calls.push((dep, 0));
                    }
                    Some(seen) if seen.on_stack => {
                        let mine = visits.get_mut(&vertex).expect("visited");
                        mine.low = mine.low.min(seen.index);
                    }
                    Some(_) => {} // in a component closed earlier in this search
                }
                continue;
            }
            calls.pop();
            let mine = visits[&vertex];
            if let Some(&(parent, _)) = calls.last() {
                let theirs = visits.get_mut(&parent).expect("visited");
                theirs.low = theirs.low.min(mine.low);
            }
            if mine.low == mine.index {
                let start = stack.iter().rposition(|&dot| dot == vertex).expect("on the stack");
                let mut component: Vec<Dot> = stack.drain(start..).collect();
                for dot in &component {
                    visits.get_mut(dot).expect("visited").on_stack = false;
                }
                component.sort_by_key(|dot| (self.vertices[dot].order, *dot));
                for dot in component {
                    let executed = self.vertices.remove(&dot).expect("committed");
                    if let Some(cmd) = &executed.cmd {
                        apply.apply(cmd, executed.committed_at);
                    }
                    self.executed.insert(dot);
                    apply.notify(dot);
                    executed_now.push(dot);
                }
            }
        }
        None
    }
}

impl Executor for GraphExecutor {
    type Info = Committed;
    /// Each dot executed (no-ops included), in execution order.
    type Feedback = Dot;

    fn execute(&mut self, info: Committed, now: Time, apply: &mut Apply<'_, Dot>) {
        let dot = info.dot;
        if self.executed.contains(dot) || self.vertices.contains_key(&dot) {
            return; // committed twice (recovery): the value is the same
        }
        let mut to_try = Vec::new();
        if info.deps.iter().all(|&dep| dep == dot || self.executed.contains(dep)) {
            // The common case without contention: every dependency has
            // executed, so the vertex is a component of its own and a
            // search would only find that out. Run it now.
            if let Some(cmd) = &info.cmd {
                apply.apply(cmd, now);
            }
            self.executed.insert(dot);
            apply.notify(dot);
            to_try.extend(self.waiting_on.remove(&dot).unwrap_or_default());
        } else {
            self.vertices.insert(dot, Vertex { committed_at: now, cmd: info.cmd, deps: info.deps, order: info.order });
            to_try.push(dot);
        }
        // Search from the new vertex; what waited for it reaches it, so it
        // can only progress once it executes: every unexecuted vertex
        // waits on exactly one dot, and is retried when that dot executes.
        // (Retrying waiters at every commit makes a chain committed
        // backwards cubic.)
        let mut executed_now = Vec::new();
        while let Some(vertex) = to_try.pop() {
            if !self.vertices.contains_key(&vertex) {
                continue; // executed by an earlier search
            }
            if let Some(missing) = self.search(vertex, apply, &mut executed_now) {
                self.waiting_on.entry(missing).or_default().push(vertex);
            }
            for executed in executed_now.drain(..) {
                to_try.extend(self.waiting_on.remove(&executed).unwrap_or_default());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};
    use sim_core::testing::ExecutorHarness;
    use sim_core::{ClientId, CommandId, Op, ProcessId};

    /// A command whose client sequence number is `number`, so replies name
    /// the order of execution.
    fn cmd(number: u64) -> Arc<Command> {
        let id = CommandId { client: ClientId(0), seq: number };
        Arc::new(Command { id, ops: vec![(number, Op::Put(number))].into(), payload_bytes: 0 })
    }

    /// Commits `info` and returns the numbers of the commands it executed.
    fn commit(executor: &mut GraphExecutor, harness: &mut ExecutorHarness, info: Committed) -> Vec<u64> {
        harness.step(executor, info, Time::ZERO).iter().map(|id| id.seq).collect()
    }

    fn committed(dot: Dot, number: u64, deps: &[Dot]) -> Committed {
        Committed { dot, cmd: Some(cmd(number)), deps: deps.to_vec(), order: 0 }
    }

    /// atlas.md §11 example 4: a:{}, b:{a,c}, c:{a,b}, committed a, b, c.
    #[test]
    fn atlas_11_4_component_runs_when_it_closes() {
        let (a, b, c) = (Dot::new(1, 1), Dot::new(2, 1), Dot::new(3, 1));
        let (mut executor, mut store) = (GraphExecutor::new(), ExecutorHarness::new(ProcessId(1), 1));
        assert_eq!(commit(&mut executor, &mut store, committed(a, 1, &[])), vec![1], "a runs at its commit");
        assert_eq!(commit(&mut executor, &mut store, committed(b, 2, &[a, c])), Vec::<u64>::new(), "b waits for c");
        assert_eq!(commit(&mut executor, &mut store, committed(c, 3, &[a, b])), vec![2, 3], "{{b,c}} by dot");
        assert_eq!(executor.pending(), 0);
    }

    /// epaxos.md §6: inside a component, `seq` first, then the dot.
    #[test]
    fn order_key_sorts_a_component_before_the_dot() {
        let (a, b) = (Dot::new(1, 1), Dot::new(2, 1));
        let (mut executor, mut store) = (GraphExecutor::new(), ExecutorHarness::new(ProcessId(1), 1));
        let first = Committed { order: 5, ..committed(a, 1, &[b]) };
        let second = Committed { order: 4, ..committed(b, 2, &[a]) };
        assert_eq!(commit(&mut executor, &mut store, first), Vec::<u64>::new());
        assert_eq!(commit(&mut executor, &mut store, second), vec![2, 1]);
    }

    #[test]
    fn noops_and_duplicate_commits() {
        let (a, b) = (Dot::new(1, 1), Dot::new(1, 2));
        let (mut executor, mut store) = (GraphExecutor::new(), ExecutorHarness::new(ProcessId(1), 1));
        assert_eq!(commit(&mut executor, &mut store, committed(b, 2, &[a])), Vec::<u64>::new());
        let noop = Committed { dot: a, cmd: None, deps: vec![], order: 0 };
        assert_eq!(commit(&mut executor, &mut store, noop.clone()), vec![2], "the no-op unblocks b");
        assert_eq!(commit(&mut executor, &mut store, noop), Vec::<u64>::new(), "a second commit does nothing");
        assert!(executor.has_executed(a) && executor.has_executed(b));
    }

    #[test]
    fn long_chains_do_not_overflow_the_stack() {
        let (mut executor, mut store) = (GraphExecutor::new(), ExecutorHarness::new(ProcessId(1), 1));
        let length = 50_000u64;
        // Commit the chain backwards: each waits until the first arrives.
        for seq in (2..=length).rev() {
            let info = committed(Dot::new(1, seq), seq, &[Dot::new(1, seq - 1)]);
            assert!(commit(&mut executor, &mut store, info).is_empty());
        }
        let all = commit(&mut executor, &mut store, committed(Dot::new(1, 1), 1, &[]));
        assert_eq!(all, (1..=length).collect::<Vec<_>>());
    }

    /// The simple version: components by mutual reachability over the
    /// whole graph. For random graphs committed in random orders, every
    /// command executes once; a dependency outside the command's component
    /// executes before it; a component executes together, sorted by dot.
    #[test]
    fn agrees_with_brute_force_components() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(11);
        for _ in 0..1_000 {
            let size = 2 + (rng.next_u32() % 14) as usize;
            let dots: Vec<Dot> = (0..size).map(|i| Dot::new(1 + (i % 3) as u32, 1 + (i / 3) as u64)).collect();
            let deps: Vec<Vec<usize>> =
                (0..size).map(|_| (0..size).filter(|_| rng.next_u32() % 100 < 20).collect()).collect();
            // reach[u][w]: w reachable from u.
            let mut reach = vec![vec![false; size]; size];
            for u in 0..size {
                reach[u][u] = true;
                for &w in &deps[u] {
                    reach[u][w] = true;
                }
            }
            for k in 0..size {
                for u in 0..size {
                    for w in 0..size {
                        reach[u][w] = reach[u][w] || (reach[u][k] && reach[k][w]);
                    }
                }
            }
            let mut commit_order: Vec<usize> = (0..size).collect();
            for i in (1..size).rev() {
                commit_order.swap(i, (rng.next_u32() as usize) % (i + 1));
            }
            let (mut executor, mut store) = (GraphExecutor::new(), ExecutorHarness::new(ProcessId(1), 1));
            let mut executed: Vec<usize> = Vec::new();
            for &u in &commit_order {
                let info = committed(dots[u], u as u64 + 1, &deps[u].iter().map(|&w| dots[w]).collect::<Vec<_>>());
                executed.extend(commit(&mut executor, &mut store, info).into_iter().map(|n| n as usize - 1));
            }
            let mut sorted = executed.clone();
            sorted.sort_unstable();
            assert_eq!(sorted, (0..size).collect::<Vec<_>>(), "each executes once");
            let position = |u: usize| executed.iter().position(|&x| x == u).expect("executed");
            for u in 0..size {
                for &w in &deps[u] {
                    let same_component = reach[u][w] && reach[w][u];
                    if !same_component {
                        assert!(position(w) < position(u), "dep {w} before {u}");
                    }
                }
                for w in 0..size {
                    if u != w && reach[u][w] && reach[w][u] {
                        // Same component: adjacent in execution, sorted by dot.
                        let component: Vec<usize> = (0..size).filter(|&x| reach[u][x] && reach[x][u]).collect();
                        let positions: Vec<usize> = component.iter().map(|&x| position(x)).collect();
                        let (low, high) = (*positions.iter().min().unwrap(), *positions.iter().max().unwrap());
                        assert_eq!(high - low + 1, component.len(), "a component runs together");
                        let mut by_position = component.clone();
                        by_position.sort_by_key(|&x| position(x));
                        let mut by_dot = component.clone();
                        by_dot.sort_by_key(|&x| dots[x]);
                        assert_eq!(by_position, by_dot, "sorted by dot");
                    }
                }
            }
        }
    }
}
