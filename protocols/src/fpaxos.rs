//! Flexible Paxos: Multi-Paxos whose replication quorum is only `f + 1`.
//!
//! One leader orders every command into slots 1, 2, 3, …; other processes
//! forward their clients' commands to it. The leader sends each command to
//! its `f + 1` closest processes (itself included) and announces it chosen
//! to everyone once they all accepted it; a slot executor applies slots in
//! order. Election quorums of `n - f` (paid only on leader change) meet
//! every replication quorum. Spec: `shared/specs/fpaxos.md`. This module
//! implements the normal case (§5) and garbage collection (§7); leader
//! change (§6) arrives with the fault issue.

use crate::shared::quorum;
use crate::shared::slot_executor::{ChosenSlot, SlotExecutor};
use crate::shared::slot_log::SlotLog;
use sim_core::protocol::{MessageSize, Outbox, ProcessSetup, Protocol};
use sim_core::{Command, ProcessId, Time};
use std::collections::BTreeSet;
use std::sync::Arc;

/// A ballot number; process `p` owns `p + n*k` (specs README §1.4).
pub type Ballot = u64;

/// FPaxos messages (fpaxos.md §4).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Message {
    /// A non-leader forwards a client command to the leader.
    ForwardSubmit {
        /// The command.
        cmd: Arc<Command>,
    },
    /// Phase 2a: the leader asks an acceptor to accept `cmd` in `slot`.
    Accept {
        /// The leader's ballot.
        ballot: Ballot,
        /// The slot.
        slot: u64,
        /// The command.
        cmd: Arc<Command>,
    },
    /// Phase 2b: the acceptor accepted `slot` at `ballot`.
    Accepted {
        /// The ballot accepted.
        ballot: Ballot,
        /// The slot.
        slot: u64,
    },
    /// The leader announces that `slot` holds `cmd`.
    Chosen {
        /// The slot.
        slot: u64,
        /// The command.
        cmd: Arc<Command>,
    },
    /// Periodic: the sender's highest contiguous chosen slot.
    GarbageCollection {
        /// Every slot up to this one is chosen at the sender.
        committed: u64,
    },
}

/// Fixed per-message overhead: a tag and the sender (as a real encoding
/// would carry), plus framing.
const HEADER_BYTES: u64 = 16;

impl MessageSize for Message {
    fn size_bytes(&self) -> u64 {
        HEADER_BYTES
            + match self {
                Message::ForwardSubmit { cmd } => cmd.size_bytes(),
                Message::Accept { cmd, .. } => 16 + cmd.size_bytes(),
                Message::Accepted { .. } => 16,
                Message::Chosen { cmd, .. } => 8 + cmd.size_bytes(),
                Message::GarbageCollection { .. } => 8,
            }
    }
}

/// FPaxos timers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Timer {
    /// Time to tell the others how far this process has chosen (§7).
    GarbageCollection,
}

/// The leader's bookkeeping for one slot being replicated.
#[derive(Debug)]
struct Commander {
    /// When the leader proposed the slot (for the commit-latency metric).
    proposed_at: Time,
    ballot: Ballot,
    cmd: Arc<Command>,
    /// Bit `i` set: process `i + 1` accepted (n <= 64, see `FPaxos::check`).
    acks: u64,
}

/// Most processes one FPaxos shard may have (acks are a 64-bit set).
pub const MAX_PROCESSES: usize = 64;

/// One FPaxos process: acceptor and learner, and leader if it is the one.
#[derive(Debug)]
pub struct FPaxos {
    id: ProcessId,
    f: usize,
    leader: ProcessId,
    processes: Vec<ProcessId>,
    /// The leader's phase-2 quorum: its `f + 1` closest processes.
    phase2_quorum: Vec<ProcessId>,
    gc_interval_ns: u64,
    // Acceptor.
    promised: Ballot,
    accepted: SlotLog<(Ballot, Arc<Command>)>,
    // Leader.
    ballot: Ballot,
    last_slot: u64,
    commanders: SlotLog<Commander>,
    // Learner, for garbage collection.
    chosen_upto: u64,
    chosen_above: BTreeSet<u64>,
    /// Highest contiguous chosen slot each process reported, by index.
    committed_by: Vec<u64>,
}

impl FPaxos {
    /// Checks the rules FPaxos puts on a configuration: `1 <= f <= n/2` and
    /// a leader among the processes (fpaxos.md §2).
    pub fn check(n: usize, f: usize) -> Result<(), String> {
        if n > MAX_PROCESSES {
            return Err(format!("FPaxos supports at most {MAX_PROCESSES} processes, got n = {n}"));
        }
        quorum::check_f(n, f)
    }

    /// The current leader.
    pub fn leader(&self) -> ProcessId {
        self.leader
    }

    /// The highest contiguous slot this process knows to be chosen.
    pub fn chosen_upto(&self) -> u64 {
        self.chosen_upto
    }

    /// Accepted slots still held (not yet garbage-collected).
    pub fn accepted_len(&self) -> usize {
        self.accepted.len()
    }

    fn is_leader(&self) -> bool {
        self.id == self.leader
    }

    /// §5 step 2: the leader assigns the next slot and starts phase 2.
    fn propose(&mut self, cmd: Arc<Command>, now: Time, out: &mut Outbox<Self>) {
        debug_assert!(self.is_leader());
        self.last_slot += 1;
        let slot = self.last_slot;
        let commander = Commander { proposed_at: now, ballot: self.ballot, cmd: cmd.clone(), acks: 0 };
        let fresh = self.commanders.insert(slot, commander);
        debug_assert!(matches!(fresh, Ok(None)), "slot {slot} assigned twice");
        out.send_to_each(&self.phase2_quorum, Message::Accept { ballot: self.ballot, slot, cmd });
    }

    /// §5 step 3.
    fn handle_accept(&mut self, from: ProcessId, ballot: Ballot, slot: u64, cmd: Arc<Command>, out: &mut Outbox<Self>) {
        if ballot < self.promised {
            return; // stale ballot (§8 example 4): the sender was deposed
        }
        self.promised = ballot;
        // A slot below the floor was chosen and collected everywhere: the
        // leader only re-sends it after a leader change, with the same value.
        let _ = self.accepted.insert(slot, (ballot, cmd));
        out.send(from, Message::Accepted { ballot, slot });
    }

    /// §5 step 4.
    fn handle_accepted(&mut self, from: ProcessId, ballot: Ballot, slot: u64, now: Time, out: &mut Outbox<Self>) {
        let quorum_size = quorum::fpaxos_phase2(self.f);
        let Some(commander) = self.commanders.get_mut(slot) else {
            return; // already chosen
        };
        let bit = 1u64 << from.index();
        if commander.ballot != ballot || commander.acks & bit != 0 {
            return; // a stale ballot, or a duplicate ack
        }
        commander.acks |= bit;
        let acks = commander.acks.count_ones() as usize;
        debug_assert!(acks <= quorum_size);
        if acks == quorum_size {
            let commander = self.commanders.remove(slot).expect("present above");
            out.commit_latency(now.since(commander.proposed_at));
            // A leader fills each of its slots once: free chosen ones.
            self.commanders.discard_leading_holes();
            out.send_to_each(&self.processes, Message::Chosen { slot, cmd: commander.cmd });
        }
    }

    /// §5 step 5.
    fn handle_chosen(&mut self, slot: u64, cmd: Arc<Command>, out: &mut Outbox<Self>) {
        if slot == self.chosen_upto + 1 {
            // The common case on FIFO links: the next slot, no set needed.
            self.chosen_upto = slot;
            while self.chosen_above.first() == Some(&(self.chosen_upto + 1)) {
                self.chosen_above.pop_first();
                self.chosen_upto += 1;
            }
        } else if slot <= self.chosen_upto || !self.chosen_above.insert(slot) {
            return; // already learned
        }
        out.execute(ChosenSlot { slot, cmd: Some(cmd) });
    }

    /// §7: slots every process has chosen are stable; drop their state.
    fn handle_garbage_collection(&mut self, from: ProcessId, committed: u64) {
        let known = &mut self.committed_by[from.index()];
        *known = (*known).max(committed);
        let stable = self.committed_by.iter().copied().min().unwrap_or(0);
        self.accepted.discard_up_to(stable);
    }
}

impl Protocol for FPaxos {
    type Message = Message;
    type Timer = Timer;
    type Executor = SlotExecutor;
    type Options = ();

    fn new(setup: ProcessSetup, _options: &()) -> (Self, SlotExecutor) {
        let n = setup.n();
        let f = setup.config.f;
        debug_assert!(quorum::check_f(n, f).is_ok());
        let leader = setup.config.leader.unwrap_or(ProcessId(1));
        let phase2_quorum = setup.closest(quorum::fpaxos_phase2(f)).to_vec();
        let fpaxos = FPaxos {
            id: setup.id,
            f,
            leader,
            processes: setup.processes.clone(),
            phase2_quorum,
            gc_interval_ns: setup.config.gc_interval_ns,
            // Every acceptor starts having joined the initial leader's ballot.
            promised: Ballot::from(leader.0),
            accepted: SlotLog::new(),
            ballot: Ballot::from(setup.id.0),
            last_slot: 0,
            commanders: SlotLog::new(),
            chosen_upto: 0,
            chosen_above: BTreeSet::new(),
            committed_by: vec![0; n],
        };
        (fpaxos, SlotExecutor::new())
    }

    fn start(&mut self, _now: Time, out: &mut Outbox<Self>) {
        out.set_timer(Timer::GarbageCollection, self.gc_interval_ns);
    }

    fn submit(&mut self, cmd: Arc<Command>, now: Time, out: &mut Outbox<Self>) {
        if self.is_leader() {
            self.propose(cmd, now, out);
        } else {
            out.send(self.leader, Message::ForwardSubmit { cmd });
        }
    }

    fn handle(&mut self, from: ProcessId, msg: Message, now: Time, out: &mut Outbox<Self>) {
        match msg {
            Message::ForwardSubmit { cmd } => {
                if self.is_leader() {
                    self.propose(cmd, now, out);
                } else {
                    out.send(self.leader, Message::ForwardSubmit { cmd });
                }
            }
            Message::Accept { ballot, slot, cmd } => self.handle_accept(from, ballot, slot, cmd, out),
            Message::Accepted { ballot, slot } => self.handle_accepted(from, ballot, slot, now, out),
            Message::Chosen { slot, cmd } => self.handle_chosen(slot, cmd, out),
            Message::GarbageCollection { committed } => self.handle_garbage_collection(from, committed),
        }
    }

    fn handle_timer(&mut self, timer: Timer, _now: Time, out: &mut Outbox<Self>) {
        match timer {
            Timer::GarbageCollection => {
                let committed = self.chosen_upto;
                self.handle_garbage_collection(self.id, committed);
                let others: Vec<ProcessId> = self.processes.iter().copied().filter(|&p| p != self.id).collect();
                out.send_to_each(&others, Message::GarbageCollection { committed });
                out.set_timer(Timer::GarbageCollection, self.gc_interval_ns);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sim_core::protocol::ProtocolConfig;
    use sim_core::rng::{Purpose, RngStreams};
    use sim_core::{ClientId, CommandId, Op};

    fn process(id: u32, n: u32, f: usize, leader: u32) -> FPaxos {
        let processes: Vec<ProcessId> = (1..=n).map(ProcessId).collect();
        // Distances by id distance: closest first is itself, then neighbours.
        let mut by_distance = processes.clone();
        by_distance.sort_by_key(|p| (p.0.abs_diff(id), p.0));
        let setup = ProcessSetup {
            id: ProcessId(id),
            processes,
            by_distance,
            config: ProtocolConfig { f, leader: Some(ProcessId(leader)), ..ProtocolConfig::default() },
            rng: RngStreams::new(1).stream(Purpose::Protocol, u64::from(id)),
        };
        FPaxos::new(setup, &()).0
    }

    fn cmd(seq: u64) -> Arc<Command> {
        let id = CommandId { client: ClientId(0), seq };
        Arc::new(Command { id, ops: vec![(7, Op::Put(seq))].into(), payload_bytes: 0 })
    }

    fn sends(out: &Outbox<FPaxos>) -> Vec<(ProcessId, Message)> {
        out.sent()
    }

    /// fpaxos.md §8 example 1.
    #[test]
    fn fpaxos_8_1_quorums() {
        assert_eq!((quorum::fpaxos_phase2(1), quorum::fpaxos_phase1(5, 1)), (2, 4));
        assert_eq!((quorum::fpaxos_phase2(2), quorum::fpaxos_phase1(5, 2)), (3, 3));
        assert_eq!((quorum::fpaxos_phase2(3), quorum::fpaxos_phase1(7, 3)), (4, 4));
        assert_eq!(process(1, 5, 1, 1).phase2_quorum, vec![ProcessId(1), ProcessId(2)]);
        assert_eq!(process(3, 5, 2, 3).phase2_quorum, vec![ProcessId(3), ProcessId(2), ProcessId(4)]);
    }

    /// fpaxos.md §5: a non-leader forwards; the leader sends phase 2 to its
    /// f+1 closest, counts acks, and announces the slot to everyone.
    #[test]
    fn normal_case_effects() {
        let mut follower = process(3, 5, 1, 1);
        let mut out = Outbox::new();
        follower.submit(cmd(1), Time::ZERO, &mut out);
        assert_eq!(sends(&out), vec![(ProcessId(1), Message::ForwardSubmit { cmd: cmd(1) })]);

        let mut leader = process(1, 5, 1, 1);
        let mut out = Outbox::new();
        leader.handle(ProcessId(3), Message::ForwardSubmit { cmd: cmd(1) }, Time::ZERO, &mut out);
        let accept = Message::Accept { ballot: 1, slot: 1, cmd: cmd(1) };
        assert_eq!(sends(&out), vec![(ProcessId(1), accept.clone()), (ProcessId(2), accept)]);

        let mut out = Outbox::new();
        leader.handle(ProcessId(1), Message::Accepted { ballot: 1, slot: 1 }, Time::ZERO, &mut out);
        leader.handle(ProcessId(1), Message::Accepted { ballot: 1, slot: 1 }, Time::ZERO, &mut out);
        assert!(sends(&out).is_empty(), "one ack (even repeated) is not f+1 = 2");
        leader.handle(ProcessId(2), Message::Accepted { ballot: 1, slot: 1 }, Time::ZERO, &mut out);
        let chosen = Message::Chosen { slot: 1, cmd: cmd(1) };
        let expected: Vec<_> = (1..=5).map(|p| (ProcessId(p), chosen.clone())).collect();
        assert_eq!(sends(&out), expected);
    }

    /// fpaxos.md §8 example 4: an acceptor that promised ballot 7 (n=5:
    /// owner 2, round 1) ignores ballot 1 of the old leader.
    #[test]
    fn fpaxos_8_4_stale_ballot_is_ignored() {
        let mut acceptor = process(4, 5, 1, 1);
        let mut out = Outbox::new();
        acceptor.handle(ProcessId(2), Message::Accept { ballot: 7, slot: 1, cmd: cmd(1) }, Time::ZERO, &mut out);
        assert_eq!(sends(&out), vec![(ProcessId(2), Message::Accepted { ballot: 7, slot: 1 })]);
        let mut out = Outbox::new();
        acceptor.handle(ProcessId(1), Message::Accept { ballot: 1, slot: 2, cmd: cmd(2) }, Time::ZERO, &mut out);
        assert!(out.effects().is_empty(), "stale ballot must be ignored, got {out:?}");
    }

    #[test]
    fn garbage_collection_waits_for_every_process() {
        let mut acceptor = process(2, 3, 1, 1);
        let mut out = Outbox::new();
        for slot in 1..=3 {
            acceptor.handle(ProcessId(1), Message::Accept { ballot: 1, slot, cmd: cmd(slot) }, Time::ZERO, &mut out);
            acceptor.handle(ProcessId(1), Message::Chosen { slot, cmd: cmd(slot) }, Time::ZERO, &mut out);
        }
        assert_eq!(acceptor.chosen_upto(), 3);
        acceptor.handle(ProcessId(1), Message::GarbageCollection { committed: 3 }, Time::ZERO, &mut out);
        acceptor.handle_timer(Timer::GarbageCollection, Time::ZERO, &mut out);
        assert_eq!(acceptor.accepted_len(), 3, "process 3 has not reported yet");
        acceptor.handle(ProcessId(3), Message::GarbageCollection { committed: 2 }, Time::ZERO, &mut out);
        assert_eq!(acceptor.accepted_len(), 1, "slots 1 and 2 are stable");
    }
}
