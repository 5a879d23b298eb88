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
use std::collections::VecDeque;
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
    /// Where a search from here stops, when that is known without
    /// searching (see [`Graph::stops_at`]).
    stops_at: Option<Dot>,
}

/// What the executor knows about one dot it has not executed: the vertex
/// once committed, whether searches wait for it, and its Tarjan state in
/// the current search. One small record per dot, so a search step is one
/// lookup rather than one per map (vertices, waiters, visits), and a
/// window of them stays dense.
#[derive(Debug, Default)]
struct Node {
    /// Committed, not executed (boxed: most dots execute at their commit
    /// and never hold one, so the window keeps only a pointer).
    vertex: Option<Box<Vertex>>,
    /// The search `index` and `on_stack` belong to; stale (not visited in
    /// the current search) if it is not the current one.
    search: u64,
    /// Tarjan index in that search.
    index: u32,
    on_stack: bool,
    /// Some vertices wait for this dot (listed in `GraphExecutor::waiters`).
    has_waiters: bool,
}

impl Node {
    fn is_empty(&self) -> bool {
        self.vertex.is_none() && !self.has_waiters
    }
}

/// The nodes of one origin's dots from `base` on, by seq: an origin's
/// commands commit and execute nearly in order, so a window indexed by
/// `seq - base` replaces a hash map (no hashing, neighbours adjacent).
/// Every seq below `base` has executed.
#[derive(Debug, Default)]
struct Window {
    base: u64,
    nodes: VecDeque<Node>,
}

/// Most origins with a window; dots of other origins (no real shard has
/// them) go to the far map.
const MAX_WINDOWS: usize = 1 << 10;

/// How far above its window's base a dot gets a node in the window: a dot
/// further ahead (only odd inputs get there) goes to the far map, so the
/// window never allocates its way to it.
const WINDOW_AHEAD: u64 = 1 << 16;

/// Fewest steps from a vertex to the stop of a search for the vertex to
/// remember it (see `Graph::remember_stop`).
const REMEMBERED_PATH: usize = 4;

/// Every node, in per-origin windows or, for dots outside them, in a map.
/// A node is in its origin's window iff `base <= seq < base + len`.
#[derive(Debug, Default)]
struct Nodes {
    windows: Vec<Window>,
    far: FixedHashMap<Dot, Node>,
}

/// Index of `dot`'s window, if its origin may have one.
fn window_index(dot: Dot) -> Option<usize> {
    let index = usize::try_from(dot.origin.0).ok()?.checked_sub(1)?;
    (index < MAX_WINDOWS).then_some(index)
}

/// Offset of `seq` in `window`, if it is inside it.
fn offset_in(window: &Window, seq: u64) -> Option<usize> {
    let offset = usize::try_from(seq.checked_sub(window.base)?).ok()?;
    (offset < window.nodes.len()).then_some(offset)
}

impl Nodes {
    #[inline]
    fn get(&self, dot: Dot) -> Option<&Node> {
        if let Some(window) = window_index(dot).and_then(|index| self.windows.get(index))
            && let Some(offset) = offset_in(window, dot.seq)
        {
            return window.nodes.get(offset);
        }
        if self.far.is_empty() { None } else { self.far.get(&dot) }
    }

    #[inline]
    fn get_mut(&mut self, dot: Dot) -> Option<&mut Node> {
        if let Some(window) = window_index(dot).and_then(|index| self.windows.get_mut(index))
            && let Some(offset) = offset_in(window, dot.seq)
        {
            return window.nodes.get_mut(offset);
        }
        if self.far.is_empty() { None } else { self.far.get_mut(&dot) }
    }

    /// The node of `dot`, created if new. `executed_prefix` is the highest
    /// seq of `dot`'s origin up to which every dot has executed; `dot` is
    /// not executed, so it is above.
    fn entry(&mut self, dot: Dot, executed_prefix: u64) -> &mut Node {
        let Some(index) = window_index(dot) else {
            return self.far.entry(dot).or_default();
        };
        if self.windows.len() <= index {
            self.windows.resize_with(index + 1, Window::default);
        }
        let window = &mut self.windows[index];
        if window.nodes.is_empty() {
            // Every seq up to the prefix has executed: start there.
            window.base = executed_prefix + 1;
        }
        let Some(offset) = dot.seq.checked_sub(window.base).filter(|&offset| offset < WINDOW_AHEAD) else {
            return self.far.entry(dot).or_default();
        };
        let offset = offset as usize; // < WINDOW_AHEAD
        let len = window.nodes.len();
        if offset >= len {
            window.nodes.resize_with(offset + 1, Node::default);
            if !self.far.is_empty() {
                // Far nodes the window now covers move in, keeping every
                // node in one place.
                let (base, end) = (window.base, window.base + offset as u64 + 1);
                let covered: Vec<Dot> = self
                    .far
                    .keys()
                    .copied()
                    .filter(|far| far.origin == dot.origin && (base + len as u64..end).contains(&far.seq))
                    .collect();
                for far in covered {
                    let node = self.far.remove(&far).expect("listed");
                    window.nodes[(far.seq - base) as usize] = node;
                }
            }
        }
        &mut window.nodes[offset]
    }

    /// Frees what `dot`, just executed, no longer needs: its window's
    /// front while it holds only executed, empty nodes, or its far node.
    /// Only the front's execution can free the front (a node empties when
    /// its dot executes, and the executed prefix reaches the front only
    /// then), so other dots of the window leave it as it is.
    fn release(&mut self, dot: Dot, executed: &DotSet) {
        if let Some(window) = window_index(dot).and_then(|index| self.windows.get_mut(index))
            && offset_in(window, dot.seq).is_some()
        {
            if dot.seq != window.base {
                return;
            }
            let prefix = executed.prefix(dot.origin);
            while window.base <= prefix && window.nodes.front().is_some_and(Node::is_empty) {
                window.nodes.pop_front();
                window.base += 1;
            }
        } else if !self.far.is_empty() && self.far.get(&dot).is_some_and(Node::is_empty) {
            self.far.remove(&dot);
        }
    }
}

/// Executes committed commands in dependency order.
#[derive(Debug, Default)]
pub struct GraphExecutor {
    graph: Graph,
    /// Buffers kept between calls so that each one does not allocate and
    /// grow them again (always empty between calls).
    scratch: Scratch,
}

/// The committed-but-unexecuted graph and what has executed.
#[derive(Debug, Default)]
struct Graph {
    /// Committed-but-unexecuted vertices, and the dots searches wait for.
    nodes: Nodes,
    /// Vertices whose last search stopped at a dependency not committed
    /// yet, by that dependency (which may have been committed since, and
    /// then still blocks them until it executes). Its node says it is here.
    waiters: FixedHashMap<Dot, Vec<Dot>>,
    /// How many nodes hold a vertex.
    pending: usize,
    executed: DotSet,
    /// Number of the latest search (Tarjan state of older ones is stale).
    searches: u64,
    /// Searches that stopped without walking a known path (tests check
    /// that they exercise it).
    #[cfg(test)]
    shortcuts: u64,
}

/// A search's working state, and the vertices still to search.
#[derive(Debug, Default)]
struct Scratch {
    /// Tarjan's stack.
    stack: Vec<Dot>,
    /// The explicit call stack.
    calls: Vec<Call>,
    /// The dependencies of the vertices in `calls`, each a range (copied
    /// at the visit: a vertex's dependencies never change, and the loop
    /// then reads them without looking the vertex up again).
    deps: Vec<Dot>,
    /// A component with its sort keys.
    component: Vec<(u64, Dot)>,
    /// Vertices to search.
    to_try: Vec<Dot>,
    /// Dots one search executed.
    executed_now: Vec<Dot>,
}

/// One vertex on the search's call stack.
#[derive(Clone, Copy, Debug)]
struct Call {
    vertex: Dot,
    /// Its dependencies: `Scratch::deps[start..end]`, `next` the next to
    /// look at.
    start: usize,
    next: usize,
    end: usize,
    /// Its Tarjan index and low-link (the low-link only matters while the
    /// vertex is on the call stack, so it lives here).
    index: u32,
    low: u32,
}

impl GraphExecutor {
    /// An empty executor.
    pub fn new() -> GraphExecutor {
        GraphExecutor::default()
    }

    /// Committed commands waiting for a dependency.
    pub fn pending(&self) -> usize {
        self.graph.pending
    }

    /// True if `dot` has executed here.
    pub fn has_executed(&self, dot: Dot) -> bool {
        self.graph.executed.contains(dot)
    }
}

impl Graph {
    /// True if `dot` is committed and not executed.
    #[inline]
    fn is_vertex(&self, dot: Dot) -> bool {
        self.nodes.get(dot).is_some_and(|node| node.vertex.is_some())
    }

    /// `dot` has executed: hands what waited for it to `to_try` and frees
    /// what it no longer needs.
    fn after_execution(&mut self, dot: Dot, to_try: &mut Vec<Dot>) {
        let Some(node) = self.nodes.get_mut(dot) else {
            return; // nothing waited for it, and it was never a vertex here
        };
        if node.has_waiters {
            node.has_waiters = false;
            to_try.extend(self.waiters.remove(&dot).unwrap_or_default());
        }
        self.nodes.release(dot, &self.executed);
    }

    /// The dependency a search entering vertex `dot` for the first time
    /// would stop at, if known without searching; `search` is the
    /// current search.
    ///
    /// A search that stops at a dependency `m` not committed yet records
    /// `m` on each vertex of its path whose path is *straight*: every
    /// dependency the search looked at before the one it followed had
    /// executed. From such a vertex every later search takes the same
    /// path (a dependency that executed stays executed, the followed ones
    /// reach `m` and cannot execute before it) and stops at `m` again, as
    /// long as `m` is not committed, without executing anything: so it
    /// can stop there at once. (No vertex of the path can be on the
    /// search's stack: from there the search would have followed the
    /// path to `m` and stopped before reaching this vertex.) Once `m` is
    /// committed, the path goes on through `m`: where a search from `m`
    /// stops, if that is known. Under contention a blocked chain of
    /// commands grows by one at every commit, and without this each
    /// commit walked the whole chain again.
    ///
    /// `recorded` is what `dot`'s vertex holds (the caller has it at hand).
    fn stops_at(&mut self, dot: Dot, recorded: Dot, search: u64) -> Option<Dot> {
        let mut stop = recorded;
        loop {
            if self.executed.contains(stop) {
                return None; // the path moved on: search
            }
            match self.nodes.get(stop) {
                Some(node) if node.vertex.is_some() => {
                    if node.search == search {
                        // Visited by this search: a straight path cannot
                        // lead here (see above), but if it did, searching
                        // is always right.
                        return None;
                    }
                    stop = node.vertex.as_ref()?.stops_at?;
                }
                _ => break, // not committed: the search stops there
            }
        }
        if let Some(vertex) = self.nodes.get_mut(dot).and_then(|node| node.vertex.as_mut()) {
            vertex.stops_at = Some(stop);
        }
        #[cfg(test)]
        {
            self.shortcuts += 1;
        }
        Some(stop)
    }

    /// A search stops at `missing` with `calls` its path: records it on the
    /// vertices whose path is straight (see [`Graph::stops_at`]), from the
    /// end of the path back to the first that is not.
    ///
    /// Only vertices at least [`REMEMBERED_PATH`] steps from the stop
    /// keep it: a shorter path costs about as much to walk again as to
    /// check (measured on Atlas, 5 sites: remembering on every straight
    /// vertex cost 1% of a run's instructions at 10% conflicts and saved
    /// 0.2% at 100%; from 8 steps on, 100% conflicts lost 2.5%).
    fn remember_stop(&mut self, calls: &[Call], deps: &[Dot], missing: Dot) {
        for (steps, call) in calls.iter().rev().enumerate() {
            // The dependency at `next - 1` is the one the search followed.
            let looked_at = &deps[call.start..call.next - 1];
            if !looked_at.iter().all(|&dep| dep == call.vertex || self.executed.contains(dep)) {
                return;
            }
            if steps + 1 >= REMEMBERED_PATH
                && let Some(vertex) = self.nodes.get_mut(call.vertex).and_then(|node| node.vertex.as_mut())
            {
                vertex.stops_at = Some(missing);
            }
        }
    }

    /// Searches from `root`; executes every component that closes, adding
    /// the dots it executes to `executed_now`. Returns the dependency the
    /// search stopped at, if one was not committed.
    fn search(&mut self, scratch: &mut Scratch, root: Dot, apply: &mut Apply<'_, Dot>) -> Option<Dot> {
        let missing = self.search_with(scratch, root, apply);
        scratch.stack.clear();
        scratch.calls.clear();
        scratch.deps.clear();
        missing
    }

    fn search_with(&mut self, scratch: &mut Scratch, root: Dot, apply: &mut Apply<'_, Dot>) -> Option<Dot> {
        let Scratch { stack, calls, deps, component, executed_now, .. } = scratch;
        self.searches += 1;
        let search = self.searches;
        let mut next_index = 0u32;
        let mut visit = |node: &mut Node,
                         dot: Dot,
                         stack: &mut Vec<Dot>,
                         calls: &mut Vec<Call>,
                         deps: &mut Vec<Dot>| {
            (node.search, node.index, node.on_stack) = (search, next_index, true);
            let start = deps.len();
            deps.extend_from_slice(&node.vertex.as_ref().expect("committed").deps);
            calls.push(Call { vertex: dot, start, next: start, end: deps.len(), index: next_index, low: next_index });
            stack.push(dot);
            next_index += 1;
        };
        let recorded = self.nodes.get(root).and_then(|node| node.vertex.as_ref()?.stops_at);
        if let Some(stop) = recorded.and_then(|recorded| self.stops_at(root, recorded, search)) {
            return Some(stop);
        }
        visit(self.nodes.get_mut(root).expect("searched from a vertex"), root, stack, calls, deps);
        while let Some(top) = calls.last_mut() {
            if top.next < top.end {
                let dep = deps[top.next];
                top.next += 1;
                if dep == top.vertex {
                    continue;
                }
                // A vertex has not executed, an executed dot is not a
                // vertex: look the dependency up once.
                let recorded = match self.nodes.get_mut(dep) {
                    Some(theirs) if theirs.vertex.is_some() => {
                        if theirs.search == search {
                            if theirs.on_stack {
                                top.low = top.low.min(theirs.index);
                            } // else: in a component closed earlier in this search
                            continue;
                        }
                        match theirs.vertex.as_ref().and_then(|vertex| vertex.stops_at) {
                            None => {
                                visit(theirs, dep, stack, calls, deps);
                                continue;
                            }
                            Some(recorded) => recorded,
                        }
                    }
                    _ if self.executed.contains(dep) => continue,
                    _ => {
                        // Not committed yet: wait for it.
                        self.remember_stop(calls, deps, dep);
                        return Some(dep);
                    }
                };
                if let Some(stop) = self.stops_at(dep, recorded, search) {
                    self.remember_stop(calls, deps, stop);
                    return Some(stop);
                }
                visit(self.nodes.get_mut(dep).expect("a vertex"), dep, stack, calls, deps);
                continue;
            }
            let Call { vertex, start, index, low, .. } = calls.pop().expect("non-empty");
            deps.truncate(start);
            if let Some(parent) = calls.last_mut() {
                parent.low = parent.low.min(low);
            }
            if low != index {
                continue;
            }
            let first = stack.iter().rposition(|&dot| dot == vertex).expect("on the stack");
            if stack.len() - first > 1 {
                // Sorted by `(order, dot)`, each key looked up once.
                component.clear();
                component.extend(stack[first..].iter().map(|&dot| {
                    let node = self.nodes.get(dot).expect("visited");
                    (node.vertex.as_ref().expect("committed").order, dot)
                }));
                component.sort_unstable();
                for (slot, &(_, dot)) in stack[first..].iter_mut().zip(component.iter()) {
                    *slot = dot;
                }
            }
            for &dot in &stack[first..] {
                let node = self.nodes.get_mut(dot).expect("visited");
                node.on_stack = false;
                let executed = node.vertex.take().expect("committed");
                self.pending -= 1;
                if let Some(cmd) = &executed.cmd {
                    apply.apply(cmd, executed.committed_at);
                }
                self.executed.insert(dot);
                apply.notify(dot);
                executed_now.push(dot);
            }
            stack.truncate(first);
        }
        None
    }
}

impl Executor for GraphExecutor {
    type Info = Committed;
    /// Each dot executed (no-ops included), in execution order.
    type Feedback = Dot;

    fn execute(&mut self, info: Committed, now: Time, apply: &mut Apply<'_, Dot>) {
        // CPU model: adding a vertex costs a look at each dependency.
        apply.work(info.deps.len());
        let (graph, scratch) = (&mut self.graph, &mut self.scratch);
        let dot = info.dot;
        if graph.executed.contains(dot) {
            return; // committed twice (recovery): the value is the same
        }
        let has_node = match graph.nodes.get(dot) {
            Some(node) if node.vertex.is_some() => return, // committed twice
            Some(_) => true,
            None => false, // the common case: nothing waits for it
        };
        if info.deps.iter().all(|&dep| dep == dot || graph.executed.contains(dep)) {
            // The common case without contention: every dependency has
            // executed, so the vertex is a component of its own and a
            // search would only find that out. Run it now.
            if let Some(cmd) = &info.cmd {
                apply.apply(cmd, now);
            }
            graph.executed.insert(dot);
            apply.notify(dot);
            if has_node {
                graph.after_execution(dot, &mut scratch.to_try);
            }
            if scratch.to_try.is_empty() {
                return; // nothing waited for it
            }
        } else {
            let node = graph.nodes.entry(dot, graph.executed.prefix(dot.origin));
            node.vertex = Some(Box::new(Vertex {
                committed_at: now,
                cmd: info.cmd,
                deps: info.deps,
                order: info.order,
                stops_at: None,
            }));
            graph.pending += 1;
            scratch.to_try.push(dot);
        }
        // Search from the new vertex; what waited for it reaches it, so it
        // can only progress once it executes: every unexecuted vertex
        // waits on exactly one dot, and is retried when that dot executes.
        // (Retrying waiters at every commit makes a chain committed
        // backwards cubic.)
        while let Some(vertex) = scratch.to_try.pop() {
            if !graph.is_vertex(vertex) {
                continue; // executed by an earlier search
            }
            if let Some(missing) = graph.search(scratch, vertex, apply) {
                graph.nodes.entry(missing, graph.executed.prefix(missing.origin)).has_waiters = true;
                graph.waiters.entry(missing).or_default().push(vertex);
            }
            let Scratch { to_try, executed_now, .. } = scratch;
            for executed in executed_now.drain(..) {
                graph.after_execution(executed, to_try);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    /// The executor as it was before nodes replaced its hash maps, kept to
    /// check that the rewrite executes exactly the same commands in exactly
    /// the same order (a run's output depends on it, not only its safety).
    mod reference {
        use super::super::Committed;
        use crate::shared::dot::{Dot, DotSet};
        use sim_core::protocol::{Apply, Executor};
        use sim_core::{Command, FixedHashMap, Time};
        use std::sync::Arc;

        #[derive(Debug)]
        struct Vertex {
            committed_at: Time,
            cmd: Option<Arc<Command>>,
            deps: Vec<Dot>,
            order: u64,
        }

        /// Executes committed commands in dependency order.
        #[derive(Debug, Default)]
        pub(super) struct GraphExecutor {
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
            pub(super) fn new() -> GraphExecutor {
                GraphExecutor::default()
            }

            /// Committed commands waiting for a dependency.
            pub(super) fn pending(&self) -> usize {
                self.vertices.len()
            }

            /// True if `dot` has executed here.
            pub(super) fn has_executed(&self, dot: Dot) -> bool {
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
                    self.vertices
                        .insert(dot, Vertex { committed_at: now, cmd: info.cmd, deps: info.deps, order: info.order });
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
    }

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

    /// Steps both executors with `info`; they must execute the same
    /// commands in the same order and notify the same dots.
    fn step_both(
        new: (&mut GraphExecutor, &mut ExecutorHarness),
        old: (&mut reference::GraphExecutor, &mut ExecutorHarness),
        info: Committed,
        now: Time,
    ) -> usize {
        let mine = new.1.step_with_feedback(new.0, info.clone(), now);
        let theirs = old.1.step_with_feedback(old.0, info.clone(), now);
        assert_eq!(mine, theirs, "committing {info:?}");
        assert_eq!(new.0.pending(), old.0.pending());
        mine.0.len()
    }

    /// Random graphs over a few origins, committed in shuffled orders with
    /// duplicates, cycles, self-dependencies, no-ops, dependencies never
    /// committed and dots no real shard has (origins beyond the windows,
    /// seqs far ahead): the executor runs exactly what the
    /// hash-map version ran, in the same order.
    #[test]
    fn executes_exactly_like_the_hash_map_version() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(17);
        for round in 0..300 {
            let origins = 1 + rng.next_u32() % 4;
            let per_origin = 1 + u64::from(rng.next_u32() % 40);
            let mut dots: Vec<Dot> =
                (1..=origins).flat_map(|origin| (1..=per_origin).map(move |seq| Dot::new(origin, seq))).collect();
            if round % 3 == 0 {
                dots.push(Dot::new(5_000, 2));
                dots.push(Dot::new(1, per_origin + WINDOW_AHEAD + u64::from(rng.next_u32() % 5)));
            }
            let deps: Vec<Vec<Dot>> = dots
                .iter()
                .map(|&dot| {
                    let mut deps: Vec<Dot> = Vec::new();
                    for _ in 0..rng.next_u32() % 4 {
                        let pick = dots[(rng.next_u32() as usize) % dots.len()];
                        match rng.next_u32() % 10 {
                            0 => deps.push(Dot::new(pick.origin.0, pick.seq + 1_000)), // never committed
                            1 => deps.push(dot),
                            // Mostly earlier dots, as real dependencies are.
                            2..=6 if pick.seq < dot.seq => deps.push(pick),
                            2..=6 => {}
                            _ => deps.push(pick),
                        }
                    }
                    deps
                })
                .collect();
            let mut order: Vec<usize> = (0..dots.len()).collect();
            for i in (1..order.len()).rev() {
                if rng.next_u32() % 3 == 0 {
                    order.swap(i, (rng.next_u32() as usize) % (i + 1));
                }
            }
            let (mut new, mut old) = (GraphExecutor::new(), reference::GraphExecutor::new());
            let (mut new_store, mut old_store) =
                (ExecutorHarness::new(ProcessId(1), 1), ExecutorHarness::new(ProcessId(1), 1));
            for (step, &u) in order.iter().enumerate() {
                let cmd = (rng.next_u32() % 20 != 0).then(|| cmd(u as u64 + 1));
                let info = Committed { dot: dots[u], cmd, deps: deps[u].clone(), order: u64::from(rng.next_u32() % 3) };
                let again = rng.next_u32() % 10 == 0;
                let now = Time::from_ns(step as u64);
                step_both((&mut new, &mut new_store), (&mut old, &mut old_store), info.clone(), now);
                if again {
                    step_both((&mut new, &mut new_store), (&mut old, &mut old_store), info, now);
                }
            }
            for &dot in &dots {
                assert_eq!(new.has_executed(dot), old.has_executed(dot));
            }
        }
    }

    /// Contention's shape: one hot key's commands, each depending on the
    /// previous ones (a few, as a union of quorum replies would), from
    /// several origins, committed mostly in order with some late, some
    /// twice, and some dependencies on commands committed much later or
    /// never: blocked chains that grow at every commit. The executor runs
    /// exactly what the hash-map version ran, in the same order, and the
    /// searches often stop early (on the path recorded by an earlier one).
    #[test]
    fn blocked_chains_execute_exactly_like_the_hash_map_version() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(23);
        let mut shortcuts = 0;
        for _ in 0..60 {
            let origins = 2 + rng.next_u32() % 4;
            let length = 50 + (rng.next_u32() % 250) as usize;
            let mut next_seq = vec![0u64; origins as usize];
            let dots: Vec<Dot> = (0..length)
                .map(|_| {
                    let origin = rng.next_u32() % origins;
                    next_seq[origin as usize] += 1;
                    Dot::new(origin + 1, next_seq[origin as usize])
                })
                .collect();
            let deps: Vec<Vec<Dot>> = (0..length)
                .map(|i| {
                    let mut deps: Vec<Dot> = (1..=1 + rng.next_u32() as usize % 3)
                        .filter_map(|back| i.checked_sub(back).map(|j| dots[j]))
                        .collect();
                    if rng.next_u32() % 25 == 0 && i + 5 < length {
                        deps.push(dots[i + 1 + rng.next_u32() as usize % 4]); // a cycle
                    }
                    if rng.next_u32() % 40 == 0 {
                        deps.push(Dot::new(1, 10_000)); // never committed
                    }
                    deps.sort_unstable();
                    deps.dedup();
                    deps
                })
                .collect();
            // Mostly in order; a few commits late by up to 60 places.
            let mut order: Vec<(usize, usize)> = (0..length)
                .map(|i| (if rng.next_u32() % 6 == 0 { i + (rng.next_u32() % 60) as usize } else { i }, i))
                .collect();
            order.sort_unstable();
            let (mut new, mut old) = (GraphExecutor::new(), reference::GraphExecutor::new());
            let (mut new_store, mut old_store) =
                (ExecutorHarness::new(ProcessId(1), 1), ExecutorHarness::new(ProcessId(1), 1));
            for (step, &(_, u)) in order.iter().enumerate() {
                let info = Committed { dot: dots[u], cmd: Some(cmd(u as u64 + 1)), deps: deps[u].clone(), order: 0 };
                let now = Time::from_ns(step as u64);
                step_both((&mut new, &mut new_store), (&mut old, &mut old_store), info.clone(), now);
                if rng.next_u32() % 15 == 0 {
                    step_both((&mut new, &mut new_store), (&mut old, &mut old_store), info, now);
                }
            }
            shortcuts += new.graph.shortcuts;
        }
        assert!(shortcuts > 1_000, "searches stopped early {shortcuts} times");
    }

    /// Many small dense graphs (cycles everywhere, several dependencies
    /// not committed until late) committed in random orders: every step
    /// executes exactly what the hash-map version executed.
    #[test]
    fn small_dense_graphs_execute_exactly_like_the_hash_map_version() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(29);
        for _ in 0..4_000 {
            let size = 3 + (rng.next_u32() % 10) as usize;
            let dots: Vec<Dot> = (0..size).map(|i| Dot::new(1 + (i % 2) as u32, 1 + (i / 2) as u64)).collect();
            let deps: Vec<Vec<Dot>> = (0..size)
                .map(|_| {
                    let mut deps: Vec<Dot> =
                        (0..rng.next_u32() % 4).map(|_| dots[(rng.next_u32() as usize) % size]).collect();
                    deps.sort_unstable();
                    deps.dedup();
                    deps
                })
                .collect();
            let mut order: Vec<usize> = (0..size).collect();
            for i in (1..size).rev() {
                order.swap(i, (rng.next_u32() as usize) % (i + 1));
            }
            let (mut new, mut old) = (GraphExecutor::new(), reference::GraphExecutor::new());
            let (mut new_store, mut old_store) =
                (ExecutorHarness::new(ProcessId(1), 1), ExecutorHarness::new(ProcessId(1), 1));
            for &u in &order {
                let info = committed(dots[u], u as u64 + 1, &deps[u]);
                step_both((&mut new, &mut new_store), (&mut old, &mut old_store), info, Time::ZERO);
            }
        }
    }

    /// A search's path is remembered only where it is straight: here `x`
    /// looks at `y` (part of a cycle back to `a`, the root) before its
    /// missing dependency `m1`, so a later search entering `x` first
    /// goes round the cycle and stops at `m2`, a dependency of `a`. Had
    /// `m1` been remembered on `x`, `z` would wait for `m1`, be retried
    /// later than `q` and execute in another order.
    #[test]
    fn a_path_through_a_cycle_is_not_remembered() {
        let (a, x, y, z, q) = (Dot::new(1, 1), Dot::new(1, 2), Dot::new(1, 3), Dot::new(1, 4), Dot::new(1, 5));
        let (m1, m2) = (Dot::new(2, 1), Dot::new(2, 2));
        let (mut new, mut old) = (GraphExecutor::new(), reference::GraphExecutor::new());
        let (mut new_store, mut old_store) =
            (ExecutorHarness::new(ProcessId(1), 1), ExecutorHarness::new(ProcessId(1), 1));
        let mut step = |info: Committed| {
            let ids = new_store.step(&mut new, info.clone(), Time::ZERO);
            assert_eq!(ids, old_store.step(&mut old, info, Time::ZERO));
            ids.iter().map(|id| id.seq).collect::<Vec<u64>>()
        };
        assert!(step(committed(y, 3, &[a])).is_empty());
        assert!(step(committed(x, 2, &[y, m1])).is_empty());
        assert!(step(committed(a, 1, &[x, m2])).is_empty());
        assert!(step(committed(z, 4, &[x])).is_empty(), "z goes round the cycle to m2");
        assert!(step(committed(q, 5, &[m2])).is_empty());
        assert!(step(committed(m1, 6, &[])) == vec![6]);
        assert_eq!(step(committed(m2, 7, &[])), vec![7, 1, 2, 3, 5, 4], "m2, then a's component, q and z");
    }

    /// A dot far ahead of its origin's window waits in the far map; once
    /// the window has moved up to cover it, it lives in the window and
    /// still executes when its dependency does, exactly as before.
    #[test]
    fn far_dots_move_into_the_window() {
        let (mut new, mut old) = (GraphExecutor::new(), reference::GraphExecutor::new());
        let (mut new_store, mut old_store) =
            (ExecutorHarness::new(ProcessId(1), 1), ExecutorHarness::new(ProcessId(1), 1));
        let mut step = |new: &mut GraphExecutor, info: Committed| {
            step_both((new, &mut new_store), (&mut old, &mut old_store), info, Time::ZERO)
        };
        let missing = Dot::new(2, 1);
        let far = Dot::new(1, WINDOW_AHEAD + 100);
        assert_eq!(step(&mut new, committed(far, 1, &[missing])), 0, "far waits");
        assert_eq!(new.graph.nodes.far.len(), 1);
        for seq in 1..=1_000 {
            assert_eq!(step(&mut new, committed(Dot::new(1, seq), 10 + seq, &[])), 1);
        }
        // Every dot of origin 1 up to 1,000 executed: the window restarts
        // above them and reaches past `far`.
        let last = Dot::new(1, WINDOW_AHEAD + 200);
        assert_eq!(step(&mut new, committed(last, 2, &[far])), 0, "waits for far");
        assert!(new.graph.nodes.far.is_empty(), "far moved into the window");
        assert_eq!(step(&mut new, committed(missing, 3, &[])), 3, "missing, then far, then the last one");
        assert_eq!(new.pending(), 0);
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
