//! The executor: certification happens in the process, in delivery
//! order, so by the time a command reaches here it is to be applied at
//! once: a committed update (`Apply(pos, writeset)`), or a read-only
//! transaction at its delegate (no broadcast, §4 step 2), served as a
//! local read.

use sim_core::protocol::{Apply, Executor};
use sim_core::{Command, Time};
use std::sync::Arc;

/// A command to apply now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Execution {
    /// The command.
    pub cmd: Arc<Command>,
    /// When it committed (for a read, when it arrived).
    pub since: Time,
}

/// Applies what it is handed, immediately.
#[derive(Debug, Default)]
pub struct DurExecutor;

impl Executor for DurExecutor {
    type Info = Execution;
    type Feedback = ();

    fn execute(&mut self, info: Execution, _now: Time, apply: &mut Apply<'_>) {
        // A read-only transaction is never certified or broadcast (§4
        // step 2): only its delegate serves it, outside the certified
        // order, so the verdict's order check sees certified updates only
        // and the client-observed checks judge the read.
        if info.cmd.is_read_only() {
            apply.apply_local_read(&info.cmd);
        } else {
            apply.apply(&info.cmd, info.since);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sim_core::kv::KvStore;
    use sim_core::verdict::ExecutionChecker;
    use sim_core::{ClientId, CommandId, Op, ProcessId};

    /// A local read leaves nothing in the order check (which would
    /// otherwise wait forever for the other replicas to execute it); a
    /// certified update is checked there.
    #[test]
    fn reads_bypass_the_order_check_and_updates_do_not() {
        let cmd = |seq: u64, op: Op| {
            Arc::new(Command {
                id: CommandId { client: ClientId(0), seq },
                ops: vec![(7, op)].into(),
                payload_bytes: 0,
            })
        };
        let (read, update) = (cmd(1, Op::Get), cmd(2, Op::Put(9)));
        let mut checker = ExecutionChecker::new(2, 1);
        checker.on_submit(read.id);
        checker.on_submit(update.id);
        let (mut store, mut replies, mut metrics, mut feedback) =
            (KvStore::new(), Vec::new(), Default::default(), Vec::new());
        let clients = [ProcessId(1)];
        let mut executor = DurExecutor;
        for info in [Execution { cmd: read, since: Time::ZERO }, Execution { cmd: update, since: Time::ZERO }] {
            let mut apply = Apply::new(
                ProcessId(1),
                Time::ZERO,
                &mut store,
                &clients,
                &mut replies,
                &mut checker,
                &mut metrics,
                &mut feedback,
            );
            executor.execute(info, Time::ZERO, &mut apply);
            if replies.len() == 1 {
                assert_eq!(checker.keys_held(), 0, "the read is not in the order check");
            }
        }
        assert_eq!(replies.len(), 2, "both answered");
        assert_eq!(checker.keys_held(), 1, "the update waits for the other replica");
        assert_eq!(checker.violations().total(), 0);
    }
}
