//! Helpers for testing protocols and executors outside a simulation.

use crate::command::CommandId;
use crate::id::ProcessId;
use crate::kv::KvStore;
use crate::metrics::ProtocolMetrics;
use crate::protocol::{Apply, Executor, Reply};
use crate::time::Time;
use crate::verdict::ExecutionChecker;

/// Drives one executor by hand, as the engine would, and tells which
/// commands each step executed. The executor's process answers every
/// client, so every execution produces a reply.
#[derive(Debug)]
pub struct ExecutorHarness {
    /// The process the executor belongs to.
    pub process: ProcessId,
    /// The state machine it applies to.
    pub store: KvStore,
    /// What its executions reported.
    pub metrics: ProtocolMetrics,
    checker: ExecutionChecker,
    replies: Vec<Reply>,
    serves: Vec<ProcessId>,
}

impl ExecutorHarness {
    /// A harness for `process`, for commands of up to `clients` clients.
    pub fn new(process: ProcessId, clients: usize) -> ExecutorHarness {
        ExecutorHarness {
            process,
            store: KvStore::new(),
            metrics: ProtocolMetrics::default(),
            checker: ExecutionChecker::disabled(),
            replies: Vec::new(),
            serves: vec![process; clients],
        }
    }

    /// Hands `info` to `executor` at `now`; returns the ids of the commands
    /// executed, in execution order. What the executor notified its
    /// protocol is dropped: use [`ExecutorHarness::step_with_feedback`]
    /// to see it.
    pub fn step<E: Executor>(&mut self, executor: &mut E, info: E::Info, now: Time) -> Vec<CommandId> {
        self.step_with_feedback(executor, info, now).0
    }

    /// Hands `info` to `executor` at `now`; returns the replies of the
    /// commands executed (ids and results), in execution order.
    pub fn step_with_replies<E: Executor>(&mut self, executor: &mut E, info: E::Info, now: Time) -> Vec<Reply> {
        let mut feedback = Vec::new();
        let mut apply = Apply::new(
            self.process,
            now,
            &mut self.store,
            &self.serves,
            &mut self.replies,
            &mut self.checker,
            &mut self.metrics,
            &mut feedback,
        );
        executor.execute(info, now, &mut apply);
        self.replies.drain(..).collect()
    }

    /// Hands `info` to `executor` at `now`; returns the ids of the commands
    /// executed, in execution order, and what the executor notified
    /// ([`Apply::notify`]), in order: what the engine would hand to the
    /// protocol's `handle_executed` right after this step.
    pub fn step_with_feedback<E: Executor>(
        &mut self,
        executor: &mut E,
        info: E::Info,
        now: Time,
    ) -> (Vec<CommandId>, Vec<E::Feedback>) {
        let mut feedback = Vec::new();
        let mut apply = Apply::new(
            self.process,
            now,
            &mut self.store,
            &self.serves,
            &mut self.replies,
            &mut self.checker,
            &mut self.metrics,
            &mut feedback,
        );
        executor.execute(info, now, &mut apply);
        (self.replies.drain(..).map(|reply| reply.id).collect(), feedback)
    }
}
