//! The slot executor of log-based protocols (FPaxos, later Multi-Paxos,
//! VR, Raft): execute slot 1, 2, 3, … in order; a gap blocks later slots
//! (specs README §4).

use super::payload::Payload;
use super::slot_log::SlotLog;
use sim_core::protocol::{Apply, Executor};
use sim_core::{Command, Time};
use std::sync::Arc;

/// A slot's chosen value: a command, or a no-op that fills a gap after a
/// leader change.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChosenSlot<V = Command> {
    /// The slot, from 1.
    pub slot: u64,
    /// The command, or `None` for a no-op.
    pub cmd: Option<Arc<V>>,
}

/// Executes chosen slots in slot order.
#[derive(Debug)]
pub struct SlotExecutor<V = Command> {
    /// The next slot to execute.
    next_slot: u64,
    /// Chosen slots waiting for a gap below them to fill.
    waiting: SlotLog<(Time, Option<Arc<V>>)>,
}

impl<V> Default for SlotExecutor<V> {
    fn default() -> Self {
        SlotExecutor { next_slot: 1, waiting: SlotLog::new() }
    }
}

impl SlotExecutor {
    /// An executor whose next slot is 1.
    pub fn new() -> SlotExecutor {
        SlotExecutor::default()
    }
}

impl<V> SlotExecutor<V> {
    /// The next slot to execute (every slot below it has executed).
    pub fn next_slot(&self) -> u64 {
        self.next_slot
    }

    /// Forgets the chosen slots waiting for a gap (after a restart: they
    /// were not durable, and are learned again); what executed stays.
    pub fn forget_waiting(&mut self) {
        self.waiting = SlotLog::new();
        self.waiting.discard_up_to(self.next_slot - 1);
    }
}

impl<V: Payload> Executor for SlotExecutor<V> {
    type Info = ChosenSlot<V>;
    type Feedback = ();

    fn execute(&mut self, info: ChosenSlot<V>, now: Time, apply: &mut Apply<'_>) {
        if info.slot < self.next_slot {
            return; // already executed; recovery may re-announce a slot with the same value
        }
        if info.slot == self.next_slot && self.waiting.is_empty() {
            // The common case: the next slot with nothing waiting.
            if let Some(cmd) = &info.cmd {
                apply.apply(cmd.command(), now);
            }
            self.next_slot += 1;
            self.waiting.discard_up_to(info.slot);
            return;
        }
        // Slots below next_slot were discarded, so an insert cannot be refused.
        let _ = self.waiting.insert(info.slot, (now, info.cmd));
        while let Some((chosen_at, cmd)) = self.waiting.remove(self.next_slot) {
            if let Some(cmd) = cmd {
                apply.apply(cmd.command(), chosen_at);
            }
            self.waiting.discard_up_to(self.next_slot);
            self.next_slot += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sim_core::testing::ExecutorHarness;
    use sim_core::{ClientId, CommandId, Op, ProcessId};

    fn chosen(slot: u64) -> ChosenSlot {
        let id = CommandId { client: ClientId(0), seq: slot };
        ChosenSlot { slot, cmd: Some(Arc::new(Command { id, ops: vec![(1, Op::Put(slot))].into(), payload_bytes: 0 })) }
    }

    /// Executes `info` and returns the slots (= client seqs) executed.
    fn step(executor: &mut SlotExecutor, harness: &mut ExecutorHarness, info: ChosenSlot) -> Vec<u64> {
        harness.step(executor, info, Time::ZERO).iter().map(|id| id.seq).collect()
    }

    /// fpaxos.md §8 example 3: chosen slots arrive 2, 1, 3.
    #[test]
    fn fpaxos_8_3_gap_blocks_later_slots() {
        let (mut executor, mut store) = (SlotExecutor::new(), ExecutorHarness::new(ProcessId(1), 1));
        assert_eq!(step(&mut executor, &mut store, chosen(2)), Vec::<u64>::new());
        assert_eq!(step(&mut executor, &mut store, chosen(1)), vec![1, 2]);
        assert_eq!(step(&mut executor, &mut store, chosen(3)), vec![3]);
        assert_eq!(executor.next_slot(), 4);
        assert_eq!(store.store.get(1), Some(3), "writes applied in slot order");
    }

    /// Regression: a gap below a waiting slot must stay fillable after the
    /// slots before it executed (found by the verdict under reordering).
    #[test]
    fn a_gap_between_executed_and_waiting_slots_fills() {
        let (mut executor, mut store) = (SlotExecutor::new(), ExecutorHarness::new(ProcessId(1), 1));
        assert_eq!(step(&mut executor, &mut store, chosen(3)), Vec::<u64>::new());
        assert_eq!(step(&mut executor, &mut store, chosen(1)), vec![1]);
        assert_eq!(step(&mut executor, &mut store, chosen(2)), vec![2, 3]);
    }

    #[test]
    fn old_slots_and_noops() {
        let (mut executor, mut store) = (SlotExecutor::new(), ExecutorHarness::new(ProcessId(1), 1));
        assert_eq!(step(&mut executor, &mut store, chosen(1)), vec![1]);
        assert_eq!(step(&mut executor, &mut store, chosen(1)), Vec::<u64>::new(), "no double execution");
        assert_eq!(step(&mut executor, &mut store, chosen(3)), Vec::<u64>::new());
        let noop = ChosenSlot { slot: 2, cmd: None };
        assert_eq!(step(&mut executor, &mut store, noop), vec![3], "a no-op fills the gap");
    }
}
