//! A process's own clients' requests that are not executed yet, each with
//! when it was last sent towards the leader (leader-based protocols that
//! forward them and send them again after a client retry timeout).

use sim_core::{Command, CommandId, Time};
use std::collections::BTreeMap;
use std::sync::Arc;

/// Pending requests by command, with when each was last sent.
pub type Pending = BTreeMap<CommandId, (Arc<Command>, Time)>;

/// The requests last sent at least `after_ns` before `now` (every one with
/// `after_ns = 0`), in command order, marked as sent `now`.
pub fn due(pending: &mut Pending, now: Time, after_ns: u64) -> Vec<Arc<Command>> {
    pending
        .values_mut()
        .filter(|(_, sent)| now.since(*sent) >= after_ns)
        .map(|(cmd, sent)| {
            *sent = now;
            cmd.clone()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use sim_core::time::NS_PER_MS;
    use sim_core::{ClientId, Op};

    #[test]
    fn only_requests_sent_long_enough_ago_are_due_and_they_are_marked_sent() {
        let cmd = |client: u32| {
            let id = CommandId { client: ClientId(client), seq: 1 };
            Arc::new(Command { id, ops: vec![(1, Op::Put(1))].into(), payload_bytes: 0 })
        };
        let mut pending = Pending::new();
        pending.insert(cmd(1).id, (cmd(1), Time::from_ns(0)));
        pending.insert(cmd(2).id, (cmd(2), Time::from_ns(900 * NS_PER_MS)));
        let now = Time::from_ns(1_000 * NS_PER_MS);
        let ids = |cmds: Vec<Arc<Command>>| cmds.iter().map(|c| c.id.client.0).collect::<Vec<_>>();
        assert_eq!(ids(due(&mut pending, now, 500 * NS_PER_MS)), [1]);
        assert_eq!(ids(due(&mut pending, now, 500 * NS_PER_MS)), Vec::<u32>::new());
        assert_eq!(ids(due(&mut pending, now, 0)), [1, 2]);
    }
}
