//! The slot executor plus reads served outside the log (Raft ReadIndex and
//! lease reads, VR leased reads): a read waits until every slot up to the
//! index it was given has executed, then reads the replica's state as it
//! is at that point.

use super::slot_executor::{ChosenSlot, SlotExecutor};
use sim_core::protocol::{Apply, Executor};
use sim_core::{Command, Time};
use std::collections::BTreeMap;
use std::sync::Arc;

/// What a log protocol hands its executor.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LogStep {
    /// A chosen slot, executed in slot order.
    Slot(ChosenSlot),
    /// A read-only command to serve locally once slots `1..=after_slot`
    /// have executed.
    Read {
        /// The slot the read must observe.
        after_slot: u64,
        /// The read.
        cmd: Arc<Command>,
    },
}

/// Executes chosen slots in order and serves local reads between them.
#[derive(Debug, Default)]
pub struct ReadingSlotExecutor {
    slots: SlotExecutor,
    /// Reads waiting for their slot, by that slot.
    reads: BTreeMap<u64, Vec<Arc<Command>>>,
}

impl ReadingSlotExecutor {
    /// An executor whose next slot is 1.
    pub fn new() -> ReadingSlotExecutor {
        ReadingSlotExecutor { slots: SlotExecutor::new(), reads: BTreeMap::new() }
    }

    /// The next slot to execute (every slot below it has executed).
    pub fn next_slot(&self) -> u64 {
        self.slots.next_slot()
    }

    /// Forgets what is not durable: slots waiting for a gap and reads
    /// waiting for a slot (their clients retry).
    pub fn forget_waiting(&mut self) {
        self.slots.forget_waiting();
        self.reads.clear();
    }

    fn serve_reads(&mut self, apply: &mut Apply<'_>) {
        let executed = self.slots.next_slot() - 1;
        while let Some(entry) = self.reads.first_entry() {
            if *entry.key() > executed {
                break;
            }
            for cmd in entry.remove() {
                apply.apply_local_read(&cmd);
            }
        }
    }
}

impl Executor for ReadingSlotExecutor {
    type Info = LogStep;
    type Feedback = ();

    fn execute(&mut self, info: LogStep, now: Time, apply: &mut Apply<'_>) {
        match info {
            LogStep::Slot(slot) => {
                self.slots.execute(slot, now, apply);
                if !self.reads.is_empty() {
                    self.serve_reads(apply);
                }
            }
            LogStep::Read { after_slot, cmd } => {
                if after_slot < self.slots.next_slot() {
                    apply.apply_local_read(&cmd);
                } else {
                    self.reads.entry(after_slot).or_default().push(cmd);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sim_core::testing::ExecutorHarness;
    use sim_core::{ClientId, CommandId, Op, ProcessId};

    fn cmd(seq: u64, op: Op) -> Arc<Command> {
        Arc::new(Command { id: CommandId { client: ClientId(0), seq }, ops: vec![(1, op)].into(), payload_bytes: 0 })
    }

    #[test]
    fn a_read_waits_for_its_slot_and_sees_the_state_there() {
        let (mut executor, mut harness) = (ReadingSlotExecutor::new(), ExecutorHarness::new(ProcessId(1), 1));
        let read = LogStep::Read { after_slot: 1, cmd: cmd(3, Op::Get) };
        assert!(harness.step_with_replies(&mut executor, read, Time::ZERO).is_empty(), "slot 1 not executed yet");
        let put = |slot, value| LogStep::Slot(ChosenSlot { slot, cmd: Some(cmd(slot, Op::Put(value))) });
        let replies = harness.step_with_replies(&mut executor, put(1, 10), Time::ZERO);
        assert_eq!(replies.iter().map(|r| r.id.seq).collect::<Vec<_>>(), vec![1, 3]);
        assert_eq!(replies[1].results.as_slice(), &[Some(10)], "the read sees slot 1 and nothing later");
        harness.step(&mut executor, put(2, 20), Time::ZERO);
        let late = LogStep::Read { after_slot: 1, cmd: cmd(4, Op::Get) };
        let replies = harness.step_with_replies(&mut executor, late, Time::ZERO);
        assert_eq!(replies[0].results.as_slice(), &[Some(20)], "served at once, from the current state");
    }
}
