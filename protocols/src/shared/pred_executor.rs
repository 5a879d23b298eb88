//! The predecessors executor of Caesar (caesar.md §6).
//!
//! A committed command carries a timestamp and its predecessors (`deps`).
//! It executes in two phases: first it waits until every dependency is
//! committed (only then are their timestamps final), then until every
//! dependency with a *smaller* timestamp has executed. Dependencies with a
//! larger timestamp are ignored: by construction they count this command
//! among their own predecessors, so they wait for it. Commands that become
//! executable together run in ascending timestamp order.
//!
//! Both waits are counters plus "who waits on whom" lists, and execution is
//! a loop over a min-heap of ready commands: nothing recurses, so the long
//! chains contention builds cost no stack.
//!
//! The executor notifies its protocol of every dot it executes
//! (`Apply::notify`, delivered to `Protocol::handle_executed`), so the
//! protocol can garbage-collect commands executed everywhere (caesar.md
//! §7).

use super::dot::Dot;
use super::dot_window::DotWindows;
use sim_core::protocol::{Apply, Executor};
use sim_core::{Command, FixedHashMap, Time};
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::fmt::Debug;
use std::sync::Arc;

/// A committed command, as the protocol hands it over.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PredCommitted<T> {
    /// Its id.
    pub dot: Dot,
    /// The command.
    pub cmd: Arc<Command>,
    /// Its final timestamp.
    pub ts: T,
    /// Its predecessors (it never waits on itself if listed).
    pub deps: Arc<[Dot]>,
}

/// What the executor knows of one command.
#[derive(Debug)]
enum State<T> {
    /// Not committed yet.
    Unknown,
    /// Committed, not executed yet.
    Committed(Vertex<T>),
    /// Executed (and trimmed once every older command of its origin is).
    Executed,
}

#[allow(clippy::derivable_impls)] // a derive would require `T: Default`
impl<T> Default for State<T> {
    fn default() -> Self {
        State::Unknown
    }
}

#[derive(Debug)]
struct Vertex<T> {
    cmd: Arc<Command>,
    ts: T,
    /// Needed until every dependency is committed; dropped then.
    deps: Option<Arc<[Dot]>>,
    committed_at: Time,
    /// Phase 1: dependencies not committed yet; phase 2: dependencies with
    /// a smaller timestamp not executed yet.
    missing: usize,
}

/// Executes committed commands after their predecessors with smaller
/// timestamps. `T` is the timestamp type (Caesar's `Clock`).
#[derive(Debug)]
pub struct PredExecutor<T> {
    /// Per command; trimmed from the front as commands execute.
    commands: DotWindows<State<T>>,
    /// Committed, not executed yet.
    pending: usize,
    /// Phase 1: by dependency not committed yet, the commands waiting.
    waiting_commit: FixedHashMap<Dot, Vec<Dot>>,
    /// Phase 2: by committed dependency not executed yet, the commands with
    /// a larger timestamp waiting.
    waiting_execution: FixedHashMap<Dot, Vec<Dot>>,
    /// Ready to execute, smallest timestamp first.
    ready: BinaryHeap<Reverse<(T, Dot)>>,
}

impl<T> Default for PredExecutor<T>
where
    T: Ord,
{
    fn default() -> Self {
        PredExecutor {
            commands: DotWindows::new(),
            pending: 0,
            waiting_commit: FixedHashMap::default(),
            waiting_execution: FixedHashMap::default(),
            ready: BinaryHeap::new(),
        }
    }
}

impl<T: Ord + Copy + Debug> PredExecutor<T> {
    /// An executor with nothing committed.
    pub fn new() -> PredExecutor<T> {
        PredExecutor::default()
    }

    /// Committed commands not executed yet.
    pub fn pending(&self) -> usize {
        self.pending
    }

    /// True if `dot` has executed here.
    pub fn has_executed(&self, dot: Dot) -> bool {
        self.commands.is_trimmed(dot) || matches!(self.commands.get(dot), Some(State::Executed))
    }

    fn is_committed(&self, dot: Dot) -> bool {
        self.commands.is_trimmed(dot) || matches!(self.commands.get(dot), Some(State::Committed(_) | State::Executed))
    }

    fn vertex_mut(&mut self, dot: Dot) -> &mut Vertex<T> {
        vertex_mut(&mut self.commands, dot)
    }

    /// Phase 2 for `dot`, whose dependencies are all committed: wait for
    /// those with a smaller timestamp, or become ready.
    fn start_phase_two(&mut self, dot: Dot) {
        let vertex = self.vertex_mut(dot);
        let (ts, deps) = (vertex.ts, vertex.deps.take().expect("phase 2 starts once"));
        let mut missing = 0;
        for &dep in deps.iter() {
            if dep == dot || self.commands.is_trimmed(dep) {
                continue;
            }
            let dependency = match self.commands.get(dep) {
                Some(State::Committed(dependency)) => dependency,
                Some(State::Executed) => continue,
                _ => {
                    debug_assert!(false, "{dep}, a dependency of {dot}, must be committed in phase 2");
                    continue;
                }
            };
            if dependency.ts < ts {
                self.waiting_execution.entry(dep).or_default().push(dot);
                missing += 1;
            }
        }
        if missing == 0 {
            self.ready.push(Reverse((ts, dot)));
        } else {
            self.vertex_mut(dot).missing = missing;
        }
    }

    /// Executes ready commands, smallest timestamp first, and whatever they
    /// make ready, until nothing is.
    fn run_ready(&mut self, apply: &mut Apply<'_, Dot>) {
        while let Some(Reverse((_, dot))) = self.ready.pop() {
            let slot = self.commands.get_mut(dot).expect("a ready command is committed");
            let State::Committed(vertex) = std::mem::replace(slot, State::Executed) else {
                unreachable!("a ready command is committed and not executed")
            };
            self.pending -= 1;
            apply.apply(&vertex.cmd, vertex.committed_at);
            self.commands.trim(dot, |state| matches!(state, State::Executed));
            apply.notify(dot);
            if self.waiting_execution.is_empty() {
                continue;
            }
            for waiter in self.waiting_execution.remove(&dot).unwrap_or_default() {
                let waiting = vertex_mut(&mut self.commands, waiter);
                waiting.missing -= 1;
                if waiting.missing == 0 {
                    self.ready.push(Reverse((waiting.ts, waiter)));
                }
            }
        }
    }
}

fn vertex_mut<T>(commands: &mut DotWindows<State<T>>, dot: Dot) -> &mut Vertex<T> {
    match commands.get_mut(dot) {
        Some(State::Committed(vertex)) => vertex,
        _ => unreachable!("{dot} is committed and not executed"),
    }
}

impl<T: Ord + Copy + Debug> Executor for PredExecutor<T> {
    type Info = PredCommitted<T>;
    /// Each dot executed, in execution order.
    type Feedback = Dot;

    fn execute(&mut self, info: PredCommitted<T>, now: Time, apply: &mut Apply<'_, Dot>) {
        // CPU model: adding a vertex costs a look at each predecessor.
        apply.work(info.deps.len());
        let dot = info.dot;
        if self.is_committed(dot) {
            return; // committed twice: the value is the same
        }
        if self.commands.slot(dot).is_none() {
            return; // a bogus dot (origin 0, or absurdly far ahead)
        }
        // Phase 1: count the dependencies not committed yet.
        let mut missing = 0;
        for &dep in info.deps.iter() {
            if dep != dot && !self.is_committed(dep) {
                self.waiting_commit.entry(dep).or_default().push(dot);
                missing += 1;
            }
        }
        let vertex = Vertex { cmd: info.cmd, ts: info.ts, deps: Some(info.deps), committed_at: now, missing };
        *self.commands.slot(dot).expect("checked above") = State::Committed(vertex);
        self.pending += 1;
        if missing == 0 {
            self.start_phase_two(dot);
        }
        // Commands waiting for this commit may move to phase 2 (this one is
        // indexed first: their phase 2 needs its timestamp).
        let waiters = if self.waiting_commit.is_empty() { None } else { self.waiting_commit.remove(&dot) };
        for waiter in waiters.unwrap_or_default() {
            let waiting = self.vertex_mut(waiter);
            waiting.missing -= 1;
            if waiting.missing == 0 {
                self.start_phase_two(waiter);
            }
        }
        self.run_ready(apply);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};
    use sim_core::testing::ExecutorHarness;
    use sim_core::{ClientId, CommandId, Key, Op, ProcessId};
    use std::collections::BTreeMap;

    /// A command on `keys` whose client sequence number is `number`, so
    /// replies name the order of execution.
    fn cmd(number: u64, keys: &[Key]) -> Arc<Command> {
        let id = CommandId { client: ClientId(0), seq: number };
        Arc::new(Command { id, ops: keys.iter().map(|&key| (key, Op::Put(number))).collect(), payload_bytes: 0 })
    }

    fn committed(dot: Dot, number: u64, ts: u64, deps: &[Dot]) -> PredCommitted<u64> {
        PredCommitted { dot, cmd: cmd(number, &[0]), ts, deps: deps.into() }
    }

    fn commit(executor: &mut PredExecutor<u64>, harness: &mut ExecutorHarness, info: PredCommitted<u64>) -> Vec<u64> {
        harness.step(executor, info, Time::ZERO).iter().map(|id| id.seq).collect()
    }

    /// caesar.md §8 example 5: a:(3,1) deps {}, b:(5,2) deps {a,c},
    /// c:(4,3) deps {a,b}: a first; c waits only for a (b has a larger
    /// timestamp); b waits for a and c. Order a, c, b, whatever the order
    /// of the commits.
    #[test]
    fn caesar_8_5_execution_order_a_c_b() {
        let (a, b, c) = (Dot::new(1, 1), Dot::new(2, 1), Dot::new(3, 1));
        // Timestamps (seq, pid) encoded as seq * 10 + pid.
        let infos = [committed(a, 1, 31, &[]), committed(b, 2, 52, &[a, c]), committed(c, 3, 43, &[a, b])];
        for order in [[0, 1, 2], [0, 2, 1], [1, 0, 2], [1, 2, 0], [2, 0, 1], [2, 1, 0]] {
            let (mut executor, mut harness) = (PredExecutor::new(), ExecutorHarness::new(ProcessId(1), 1));
            let executed: Vec<u64> =
                order.iter().flat_map(|&i| commit(&mut executor, &mut harness, infos[i].clone())).collect();
            assert_eq!(executed, vec![1, 3, 2], "commit order {order:?}");
            assert_eq!(executor.pending(), 0);
        }
        // Step by step, committed a, b, c.
        let (mut executor, mut harness) = (PredExecutor::new(), ExecutorHarness::new(ProcessId(1), 1));
        assert_eq!(commit(&mut executor, &mut harness, infos[0].clone()), vec![1], "a runs at its commit");
        assert_eq!(commit(&mut executor, &mut harness, infos[1].clone()), Vec::<u64>::new(), "b waits for c's commit");
        assert_eq!(commit(&mut executor, &mut harness, infos[2].clone()), vec![3, 2], "c, then b");
    }

    /// Commands that become ready together run by timestamp, not by dot or
    /// commit order.
    #[test]
    fn ready_together_run_in_ascending_timestamp() {
        let (a, b, c, d) = (Dot::new(1, 1), Dot::new(2, 1), Dot::new(3, 1), Dot::new(4, 1));
        let (mut executor, mut harness) = (PredExecutor::new(), ExecutorHarness::new(ProcessId(1), 1));
        // b, c and d on different keys each wait only for the commit of a.
        let waiting =
            |dot, number, ts| PredCommitted { cmd: cmd(number, &[number]), ..committed(dot, number, ts, &[a]) };
        assert!(commit(&mut executor, &mut harness, waiting(b, 2, 90)).is_empty());
        assert!(commit(&mut executor, &mut harness, waiting(c, 3, 70)).is_empty());
        assert!(commit(&mut executor, &mut harness, waiting(d, 4, 80)).is_empty());
        // a has the largest timestamp: the others ignore it once committed.
        assert_eq!(commit(&mut executor, &mut harness, committed(a, 1, 99, &[])), vec![3, 4, 2, 1]);
    }

    #[test]
    fn duplicate_commits_self_dependencies_and_notifications() {
        let (a, b, c) = (Dot::new(1, 1), Dot::new(1, 2), Dot::new(2, 1));
        let mut executor = PredExecutor::new();
        let mut harness = ExecutorHarness::new(ProcessId(1), 1);
        let mut step = |info| harness.step_with_feedback(&mut executor, info, Time::ZERO);
        let (executed, notified) = step(committed(a, 1, 1, &[a]));
        assert_eq!((executed.len(), notified), (1, vec![a]), "a ignores itself");
        assert_eq!(step(committed(a, 1, 1, &[])), (vec![], vec![]), "second commit ignored");
        assert_eq!(step(committed(b, 2, 3, &[a, c])).1, vec![], "b waits for c's commit");
        assert_eq!(step(committed(c, 3, 2, &[a])).1, vec![c, b], "notified in execution order");
        assert!(executor.has_executed(a) && executor.has_executed(b));
    }

    #[test]
    fn long_chains_do_not_overflow_the_stack() {
        let (mut executor, mut harness) = (PredExecutor::new(), ExecutorHarness::new(ProcessId(1), 1));
        let length = 50_000u64;
        // Each depends on the previous one, committed backwards so the whole
        // chain runs at the last commit.
        for seq in (2..=length).rev() {
            let info = committed(Dot::new(1, seq), seq, seq, &[Dot::new(1, seq - 1)]);
            assert!(commit(&mut executor, &mut harness, info).is_empty());
        }
        let all = commit(&mut executor, &mut harness, committed(Dot::new(1, 1), 1, 1, &[]));
        assert_eq!(all, (1..=length).collect::<Vec<_>>());
    }

    /// Random commands on 3 keys with unique timestamps, each depending on
    /// every conflicting command with a smaller timestamp plus, at random,
    /// some with a larger one (as Caesar may report), committed in a random
    /// order: every command executes once, and on every key in timestamp
    /// order.
    #[test]
    fn executes_every_key_in_timestamp_order() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
        for _ in 0..500 {
            let size = 2 + (rng.next_u32() % 20) as usize;
            // Command i: timestamp, keys.
            let mut timestamps: Vec<u64> = (0..size as u64).map(|i| i * 7 % 101 + 1000 * (i % 3)).collect();
            for i in (1..size).rev() {
                timestamps.swap(i, (rng.next_u32() as usize) % (i + 1));
            }
            let keys: Vec<Vec<Key>> = (0..size)
                .map(|_| {
                    let first = Key::from(rng.next_u32() % 3);
                    if rng.next_u32() % 4 == 0 { vec![first, (first + 1) % 3] } else { vec![first] }
                })
                .collect();
            let conflict = |i: usize, j: usize| keys[i].iter().any(|key| keys[j].contains(key));
            let dots: Vec<Dot> = (0..size).map(|i| Dot::new(1 + (i % 3) as u32, 1 + (i / 3) as u64)).collect();
            let infos: Vec<PredCommitted<u64>> = (0..size)
                .map(|i| {
                    let deps: Vec<Dot> = (0..size)
                        .filter(|&j| j != i && conflict(i, j))
                        .filter(|&j| timestamps[j] < timestamps[i] || rng.next_u32() % 3 == 0)
                        .map(|j| dots[j])
                        .collect();
                    PredCommitted {
                        dot: dots[i],
                        cmd: cmd(i as u64 + 1, &keys[i]),
                        ts: timestamps[i],
                        deps: deps.into(),
                    }
                })
                .collect();
            let mut commit_order: Vec<usize> = (0..size).collect();
            for i in (1..size).rev() {
                commit_order.swap(i, (rng.next_u32() as usize) % (i + 1));
            }
            let (mut executor, mut harness) = (PredExecutor::new(), ExecutorHarness::new(ProcessId(1), 1));
            let mut executed = Vec::new();
            for &i in &commit_order {
                executed
                    .extend(commit(&mut executor, &mut harness, infos[i].clone()).into_iter().map(|n| n as usize - 1));
            }
            let mut sorted = executed.clone();
            sorted.sort_unstable();
            assert_eq!(sorted, (0..size).collect::<Vec<_>>(), "each executes once");
            let mut per_key: BTreeMap<Key, Vec<u64>> = BTreeMap::new();
            for &i in &executed {
                for &key in &keys[i] {
                    per_key.entry(key).or_default().push(timestamps[i]);
                }
            }
            for (key, order) in per_key {
                assert!(order.is_sorted(), "key {key}: {order:?}");
            }
        }
    }
}
