//! Commands a run ended with unanswered, told apart by what the history
//! shows happened on their keys after they were submitted:
//!
//! - **blocked**: no operation on any of its keys was answered after it
//!   was submitted. The command waits on something that does not move (a
//!   crashed 2PC coordinator, a leaked lock, a majority gone).
//! - **starved**: another command on one of its keys was answered while
//!   this one waited. The system kept serving the key and this command
//!   kept losing: the signature of concurrency control that aborts and
//!   retries (no-wait locks, certification) under contention, where one
//!   command can lose every round (a pile-up on a hot key drains one
//!   command per round, so the run can end with many still waiting). For
//!   protocols that order every command it is just as much a bug as
//!   blocking (a request dropped while others go through), and the verdict
//!   treats it so unless the protocol declares it may starve
//!   ([`super::Verdict::allow_starvation`]).
//!
//! Starvation is told apart in runs without faults only: with faults, a
//! key that moved before a crash or partition stopped everything says
//! nothing about why a command is still waiting, so every unanswered
//! command of a faulted run counts as blocked. Only keys with a history
//! can show movement: with checks off, or for a command on single-use keys
//! only, an unanswered command counts as blocked too.

use super::{FaultClass, History};
use crate::command::{CommandId, Key};
use crate::time::Time;
use std::collections::{BTreeMap, BTreeSet};

/// Unanswered commands kept by id in reports, per kind.
pub const UNFINISHED_KEPT: usize = 5;

/// The commands a run ended with unanswered, split into blocked and
/// starved (module docs).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Unfinished {
    /// Blocked commands, how many.
    pub blocked_count: u64,
    /// The first [`UNFINISHED_KEPT`] blocked commands.
    pub blocked: Vec<CommandId>,
    /// Starved commands, how many.
    pub starved_count: u64,
    /// The first [`UNFINISHED_KEPT`] starved commands.
    pub starved: Vec<CommandId>,
}

impl Unfinished {
    /// Sorts `pending` (each unanswered command, when its client submitted
    /// it and the keys it touches) by what `history`'s answered operations
    /// show, in a run with `faults` (module docs).
    pub fn sort<'a>(
        history: &History,
        pending: impl IntoIterator<Item = (CommandId, Time, &'a [Key])>,
        faults: FaultClass,
    ) -> Unfinished {
        let pending: Vec<(CommandId, Time, &[Key])> = pending.into_iter().collect();
        let mut unfinished = Unfinished::default();
        if pending.is_empty() {
            return unfinished; // the usual run: no pass over the history
        }
        let latest = if faults.any() {
            LatestPerKey::new()
        } else {
            let keys = pending.iter().flat_map(|&(_, _, keys)| keys.iter().copied()).collect();
            history.latest_answer_per_key(&keys)
        };
        for (cmd, submitted, keys) in pending {
            let key_moved = keys.iter().any(|key| latest.get(key).is_some_and(|&latest| latest > submitted));
            let (count, kept) = if key_moved {
                (&mut unfinished.starved_count, &mut unfinished.starved)
            } else {
                (&mut unfinished.blocked_count, &mut unfinished.blocked)
            };
            *count += 1;
            if kept.len() < UNFINISHED_KEPT {
                kept.push(cmd);
            }
        }
        unfinished
    }

    /// `count` blocked commands, the first of them `blocked` (tests and
    /// harnesses that have no history to sort by).
    pub fn blocked(blocked: Vec<CommandId>, count: u64) -> Unfinished {
        Unfinished { blocked_count: count, blocked, ..Unfinished::default() }
    }
}

/// The latest answer to an operation, per key.
pub(super) type LatestPerKey = BTreeMap<Key, Time>;

/// Keys whose latest answer is wanted.
pub(super) type Keys = BTreeSet<Key>;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::id::ClientId;
    use crate::verdict::HistoryOp;

    fn cmd(client: u32, seq: u64) -> CommandId {
        CommandId { client: ClientId(client), seq }
    }

    fn ms(ms: u64) -> Time {
        Time::from_ns(ms * crate::time::NS_PER_MS)
    }

    fn answered(history: &mut History, key: Key, id: CommandId, invoked_ms: u64) {
        let invoked = ms(invoked_ms);
        let responded = Some(ms(invoked_ms + 100));
        history.push(HistoryOp { key, cmd: id, written: Some(id.seq + 1), observed: None, invoked, responded });
    }

    #[test]
    fn a_command_waiting_while_its_key_moves_is_starved_one_on_a_still_key_is_blocked() {
        let mut history = History::new();
        answered(&mut history, 7, cmd(1, 1), 500); // answered at 600
        answered(&mut history, 8, cmd(1, 2), 50); // answered at 150
        let pending = [
            (cmd(2, 1), ms(200), &[7][..]), // key 7 answered at 600, after it was submitted
            (cmd(3, 1), ms(200), &[8][..]), // key 8's last answer came before it
            (cmd(4, 1), ms(200), &[9][..]), // nothing on key 9
            (cmd(5, 1), ms(600), &[7][..]), // submitted with key 7's last answer: still
        ];
        let unfinished = Unfinished::sort(&history, pending, FaultClass::None);
        assert_eq!((unfinished.starved_count, unfinished.starved.as_slice()), (1, &[cmd(2, 1)][..]));
        assert_eq!(unfinished.blocked_count, 3);
        assert_eq!(unfinished.blocked, vec![cmd(3, 1), cmd(4, 1), cmd(5, 1)]);
    }

    #[test]
    fn with_faults_every_unanswered_command_is_blocked() {
        let mut history = History::new();
        answered(&mut history, 7, cmd(1, 1), 500);
        let pending = [(cmd(2, 1), ms(200), &[7][..])];
        assert_eq!(Unfinished::sort(&history, pending, FaultClass::None).starved_count, 1);
        let faulted = Unfinished::sort(&history, pending, FaultClass::Crashes);
        assert_eq!((faulted.blocked_count, faulted.starved_count), (1, 0));
    }

    #[test]
    fn a_multi_key_command_is_starved_if_any_of_its_keys_moved() {
        let mut history = History::new();
        answered(&mut history, 2, cmd(1, 1), 50); // answered at 150
        let unfinished = Unfinished::sort(&history, [(cmd(2, 1), ms(100), &[1, 2][..])], FaultClass::None);
        assert_eq!((unfinished.starved_count, unfinished.blocked_count), (1, 0));
    }

    #[test]
    fn only_the_first_few_are_kept_by_id() {
        let pending: Vec<(CommandId, Time, Vec<Key>)> =
            (0..20).map(|client| (cmd(client, 1), ms(1), vec![Key::from(client)])).collect();
        let pending = pending.iter().map(|(c, t, k)| (*c, *t, k.as_slice()));
        let unfinished = Unfinished::sort(&History::new(), pending, FaultClass::None);
        assert_eq!((unfinished.blocked_count, unfinished.blocked.len()), (20, UNFINISHED_KEPT));
    }
}
