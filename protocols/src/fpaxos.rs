//! Flexible Paxos: Multi-Paxos whose replication quorum is only `f + 1`.
//!
//! One leader orders every command into slots 1, 2, 3, …; other processes
//! forward their clients' commands to it. The leader sends each command to
//! its `f + 1` closest processes (itself included) and announces it chosen
//! to everyone once they all accepted it; a slot executor applies slots in
//! order. Election quorums of `n - f` (paid only on leader change) meet
//! every replication quorum. Spec: `shared/specs/fpaxos.md` (normal case
//! §5, garbage collection §7) and `multipaxos-leader-election.md` (leader
//! change).
//!
//! Leader change runs only when the engine asks for failure detection
//! (runs with faults), so failure-free runs are exactly the normal case.
//! Then: the leader sends a heartbeat every `HB` and re-sends accepts not
//! yet acknowledged; a process that has not heard from the leader for
//! `ST + rank·Δ` (ranked candidacy, rank relative to the initial leader)
//! runs phase 1 over every slot it has not learned (§4, §5), re-proposes
//! the highest-ballot value of each slot found and fills gaps with no-ops;
//! a leader or candidate that meets a higher ballot steps down (§6); a
//! learner behind the leader's heartbeat asks for the chosen values it
//! misses (catch-up). With failure detection, the leader sends phase 2 to
//! every process and counts the first `f + 1` acks, so a crashed member of
//! its closest `f + 1` does not stall it. Clients' retries reach the new
//! leader through forwarding; the engine's client table keeps a command
//! ordered twice from taking effect twice.
//!
//! FPaxos supports restarts (a crash with an end): the acceptor state is
//! durable, the rest comes back fresh (see `restart` below).

use crate::shared::payload::Payload;
use crate::shared::quorum;
use crate::shared::slot_executor::{ChosenSlot, SlotExecutor};
use crate::shared::slot_log::SlotLog;
use crate::shared::synod::next_ballot;
use sim_core::protocol::{MessageSize, Outbox, ProcessSetup, Protocol};
use sim_core::time::NS_PER_MS;
use sim_core::{ClientId, Command, FixedHashMap, ProcessId, Time};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

/// A ballot number; process `p` owns `p + n*k` (specs README §1.4), so
/// ordering ballots as numbers orders them by (round, owner).
pub type Ballot = u64;

/// What a slot holds: a command (or, for a log ordering another
/// [`Payload`], that payload), or a no-op filling a gap after a leader
/// change (`None`).
pub type Value<V = Command> = Option<Arc<V>>;

/// One slot an acceptor reports in its promise (leader election §3).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PromiseEntry<V = Command> {
    /// The slot.
    pub slot: u64,
    /// The ballot it was accepted at (0 for a chosen slot learned only).
    pub ballot: Ballot,
    /// The value.
    pub value: Value<V>,
    /// The acceptor knows the slot is chosen.
    pub chosen: bool,
}

/// FPaxos messages (fpaxos.md §4, leader election §3).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Message<V = Command> {
    /// A non-leader forwards a client command to the leader.
    ForwardSubmit {
        /// The command.
        cmd: Arc<V>,
    },
    /// Phase 2a: the leader asks an acceptor to accept `cmd` in `slot`.
    Accept {
        /// The leader's ballot.
        ballot: Ballot,
        /// The slot.
        slot: u64,
        /// The command (`None`: a no-op).
        cmd: Value<V>,
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
        /// The command (`None`: a no-op).
        cmd: Value<V>,
    },
    /// Periodic: the sender's highest contiguous chosen slot.
    GarbageCollection {
        /// Every slot up to this one is chosen at the sender.
        committed: u64,
    },
    /// Phase 1a: a candidate asks for promises on every slot from
    /// `start_slot`.
    Prepare {
        /// The candidate's ballot.
        ballot: Ballot,
        /// The first slot the candidate has not learned.
        start_slot: u64,
    },
    /// Phase 1b: the acceptor promised `ballot` and reports what it
    /// accepted or learned from the candidate's start slot.
    Promise {
        /// The ballot promised.
        ballot: Ballot,
        /// The slots.
        entries: Vec<PromiseEntry<V>>,
    },
    /// The acceptor refused `ballot`: it promised the higher `promised`.
    Nack {
        /// The ballot refused.
        ballot: Ballot,
        /// The ballot it promised.
        promised: Ballot,
    },
    /// The leader is alive; `chosen_upto` lets laggards see their gaps.
    Heartbeat {
        /// The leader's ballot.
        ballot: Ballot,
        /// The leader's highest contiguous chosen slot.
        chosen_upto: u64,
    },
    /// A learner asks for the chosen values from `from_slot` on.
    CatchUpRequest {
        /// The first slot it misses.
        from_slot: u64,
    },
    /// Chosen values, in slot order.
    CatchUp {
        /// (slot, value).
        slots: Vec<(u64, Value<V>)>,
    },
}

/// Fixed per-message overhead: a tag and the sender (as a real encoding
/// would carry), plus framing.
const HEADER_BYTES: u64 = 16;

fn value_bytes<V: Payload>(value: &Value<V>) -> u64 {
    value.as_ref().map_or(0, |cmd| cmd.size_bytes())
}

impl<V: Payload> MessageSize for Message<V> {
    fn size_bytes(&self) -> u64 {
        HEADER_BYTES
            + match self {
                Message::ForwardSubmit { cmd } => cmd.size_bytes(),
                Message::Accept { cmd, .. } => 16 + value_bytes(cmd),
                Message::Accepted { .. } => 16,
                Message::Chosen { cmd, .. } => 8 + value_bytes(cmd),
                Message::GarbageCollection { .. } => 8,
                Message::Prepare { .. } | Message::Nack { .. } | Message::Heartbeat { .. } => 16,
                Message::Promise { entries, .. } => 8 + entries.iter().map(|e| 17 + value_bytes(&e.value)).sum::<u64>(),
                Message::CatchUpRequest { .. } => 8,
                Message::CatchUp { slots } => slots.iter().map(|(_, v)| 8 + value_bytes(v)).sum(),
            }
    }
}

/// FPaxos timers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Timer {
    /// Time to tell the others how far this process has chosen (§7).
    GarbageCollection,
    /// Leader: time to send a heartbeat and re-send unacknowledged accepts.
    Heartbeat,
    /// Non-leader: time to check whether the leader is still heard from.
    Suspect,
}

/// Failure-detection timers (leader election §8), used only with failure
/// detection on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timeouts {
    /// Heartbeat period `HB`.
    pub heartbeat_ns: u64,
    /// Suspicion timeout `ST`.
    pub suspect_ns: u64,
    /// Extra wait per rank `Δ` (the spec's `2·RTT_max`; protocols do not
    /// see delays, so a fixed default above twice the largest GCP RTT).
    pub rank_step_ns: u64,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts { heartbeat_ns: 100 * NS_PER_MS, suspect_ns: 1_000 * NS_PER_MS, rank_step_ns: 600 * NS_PER_MS }
    }
}

/// FPaxos options. Not reachable from scenario files: the only one
/// plants a bug, for tests that the verdict catches unsafe recovery.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Options {
    /// Planted bug (tests only): a new leader ignores what its phase 1
    /// found and starts proposing right after the slots it learned,
    /// overwriting slots others may have chosen.
    pub skip_phase1_value_rule: bool,
    /// Planted bug (tests only): a restarted process forgets its acceptor
    /// state (`promised`, `accepted`), as if it were not durable.
    pub plant_restart_forgets_acceptor: bool,
}

/// Most chosen values one catch-up message carries.
const CATCH_UP_BATCH: usize = 256;

/// The leader's bookkeeping for one slot being replicated.
#[derive(Debug)]
struct Commander<V> {
    /// When the leader proposed the slot (for the commit-latency metric).
    proposed_at: Time,
    ballot: Ballot,
    cmd: Value<V>,
    /// Bit `i` set: process `i + 1` accepted (n <= 64, see `FPaxos::check`).
    acks: u64,
}

/// A candidate's phase 1 (leader election §4.3, §5).
#[derive(Debug)]
struct Candidacy<V> {
    ballot: Ballot,
    start_slot: u64,
    /// Promises by acceptor.
    promises: BTreeMap<ProcessId, Vec<PromiseEntry<V>>>,
}

/// A process's role (leader election §2).
#[derive(Debug)]
enum Role<V> {
    Follower,
    Candidate(Candidacy<V>),
    Leader,
}

/// Most processes one FPaxos shard may have (acks are a 64-bit set).
pub const MAX_PROCESSES: usize = 64;

/// One FPaxos process: acceptor and learner, and leader if it is the one.
/// It orders client commands; `V` is what else it may order (deferred
/// update replication's certification requests, `deferred_update/`).
#[derive(Debug)]
pub struct FPaxos<V: Payload = Command> {
    id: ProcessId,
    f: usize,
    /// The leader this process believes in.
    leader: ProcessId,
    /// That leader's ballot.
    leader_ballot: Ballot,
    processes: Vec<ProcessId>,
    /// The leader's phase-2 targets: its `f + 1` closest processes, or
    /// every process with failure detection.
    phase2_targets: Vec<ProcessId>,
    gc_interval_ns: u64,
    // Acceptor (the durable state of the spec).
    promised: Ballot,
    accepted: SlotLog<(Ballot, Value<V>)>,
    // Leader.
    role: Role<V>,
    ballot: Ballot,
    last_slot: u64,
    commanders: SlotLog<Commander<V>>,
    // Learner, for garbage collection.
    chosen_upto: u64,
    chosen_above: BTreeSet<u64>,
    /// Highest contiguous chosen slot each process reported, by index.
    committed_by: Vec<u64>,
    // Failure detection (leader election §2, §4); unused without it.
    failure_detection: bool,
    timeouts: Timeouts,
    /// Static rank: distance in ids from the initial leader (0 for it).
    rank: u64,
    /// Highest ballot seen in any message.
    max_seen: Ballot,
    /// When the believed leader was last heard from.
    last_heard: Time,
    /// Chosen values kept for promises and catch-up (failure detection
    /// only), collected with `accepted`.
    chosen_log: SlotLog<Value<V>>,
    /// Commands submitted while a candidate, proposed once elected.
    waiting: Vec<Arc<V>>,
    /// See [`Options::skip_phase1_value_rule`].
    skip_phase1_value_rule: bool,
    /// See [`Options::plant_restart_forgets_acceptor`].
    plant_restart_forgets_acceptor: bool,
    /// Commands this follower forwarded and has not learned chosen
    /// (failure detection only): forwarded again to each new leader, so
    /// its clients need not time out (leader election §6 "redirects its
    /// clients").
    forwarded: BTreeMap<V::Key, Arc<V>>,
    /// Per client, the highest command seq this process learned chosen
    /// (failure detection only). Clients are closed-loop, so a lower or
    /// equal seq was chosen already: a duplicated or retried copy is not
    /// proposed again (the engine's client table answers a retry at a
    /// process that applied it).
    chosen_seq: FixedHashMap<ClientId, u64>,
    /// Per client, the highest seq proposed in this process's current
    /// leadership (cleared when it takes office: an earlier term's
    /// proposal may have been lost).
    proposed_seq: FixedHashMap<ClientId, u64>,
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
}

impl<V: Payload> FPaxos<V> {
    /// Orders `value` (atomic broadcast): proposed if this process leads,
    /// forwarded to the leader otherwise; every process learns it chosen
    /// in its slot through an `Execute(ChosenSlot)` effect.
    pub fn broadcast(&mut self, value: Arc<V>, now: Time, out: &mut Outbox<Self>) {
        self.on_command(value, now, out);
    }

    /// The current leader, as this process believes.
    pub fn leader(&self) -> ProcessId {
        self.leader
    }

    /// True if this process is leading.
    pub fn is_leading(&self) -> bool {
        matches!(self.role, Role::Leader)
    }

    /// The ballot this process leads or last ran for.
    pub fn ballot(&self) -> Ballot {
        self.ballot
    }

    /// The highest contiguous slot this process knows to be chosen.
    pub fn chosen_upto(&self) -> u64 {
        self.chosen_upto
    }

    /// [`Protocol::restart`] for a log whose learner had delivered every
    /// slot up to `learned_upto` (its executor's position; for a log
    /// embedded in another protocol, what that protocol delivered): the
    /// acceptor state is kept, the rest comes back fresh.
    pub fn restart_learned_upto(&mut self, mut fresh: Self, learned_upto: u64, now: Time, out: &mut Outbox<Self>) {
        if !self.plant_restart_forgets_acceptor {
            fresh.promised = self.promised;
            fresh.accepted = std::mem::take(&mut self.accepted);
        }
        fresh.chosen_seq = std::mem::take(&mut self.chosen_seq);
        fresh.max_seen = fresh.promised;
        fresh.role = Role::Follower;
        fresh.leader = fresh.owner(fresh.promised);
        fresh.leader_ballot = fresh.promised;
        fresh.last_heard = now;
        fresh.chosen_upto = learned_upto;
        fresh.chosen_log.discard_up_to(fresh.chosen_upto);
        *self = fresh;
        self.start(now, out);
    }

    /// The chosen values this learner still holds from `from_slot` on, in
    /// slot order, at most a catch-up batch (empty without failure
    /// detection, which alone keeps them).
    pub fn chosen_from(&self, from_slot: u64) -> Vec<(u64, Value<V>)> {
        self.chosen_log.iter_from(from_slot).take(CATCH_UP_BATCH).map(|(slot, value)| (slot, value.clone())).collect()
    }

    /// Learns `slots` chosen (from another learner, as a catch-up does).
    pub fn learn(&mut self, slots: Vec<(u64, Value<V>)>, out: &mut Outbox<Self>) {
        for (slot, value) in slots {
            self.handle_chosen(slot, value, out);
        }
    }

    /// Accepted slots still held (not yet garbage-collected).
    pub fn accepted_len(&self) -> usize {
        self.accepted.len()
    }

    fn is_leader(&self) -> bool {
        matches!(self.role, Role::Leader)
    }

    fn n(&self) -> usize {
        self.processes.len()
    }

    /// The process that owns `ballot`.
    fn owner(&self, ballot: Ballot) -> ProcessId {
        let n = self.n() as u64;
        ProcessId(u32::try_from((ballot + n - 1) % n + 1).expect("a process id"))
    }

    /// The wait before suspecting the leader: `ST + rank·Δ`.
    fn suspect_after_ns(&self) -> u64 {
        self.timeouts.suspect_ns + self.rank * self.timeouts.rank_step_ns
    }

    /// §5 step 2: the leader assigns the next slot and starts phase 2.
    fn propose(&mut self, cmd: Arc<V>, now: Time, out: &mut Outbox<Self>) {
        debug_assert!(self.is_leader());
        self.last_slot += 1;
        self.propose_in(self.last_slot, Some(cmd), now, out);
    }

    fn propose_in(&mut self, slot: u64, cmd: Value<V>, now: Time, out: &mut Outbox<Self>) {
        let commander = Commander { proposed_at: now, ballot: self.ballot, cmd: cmd.clone(), acks: 0 };
        let fresh = self.commanders.insert(slot, commander);
        debug_assert!(matches!(fresh, Ok(None)), "slot {slot} assigned twice");
        out.send_to_each(&self.phase2_targets, Message::Accept { ballot: self.ballot, slot, cmd });
    }

    /// Records `value` in `seqs`; false if its command (or a later one of
    /// its client) was there already.
    fn note(seqs: &mut FixedHashMap<ClientId, u64>, value: &Value<V>) -> bool {
        let Some(id) = value.as_ref().and_then(|value| value.dedup_id()) else { return true };
        let seq = seqs.entry(id.client).or_insert(0);
        if id.seq <= *seq {
            return false;
        }
        *seq = id.seq;
        true
    }

    /// True if the leader should order `cmd`: neither chosen nor proposed
    /// in this leadership yet.
    fn first_proposal(&mut self, cmd: &Arc<V>) -> bool {
        let chosen = cmd.dedup_id().is_some_and(|id| self.chosen_seq.get(&id.client).is_some_and(|&seq| id.seq <= seq));
        !chosen && Self::note(&mut self.proposed_seq, &Some(cmd.clone()))
    }

    /// A client command reached this process (directly or forwarded).
    fn on_command(&mut self, cmd: Arc<V>, now: Time, out: &mut Outbox<Self>) {
        match self.role {
            Role::Leader if self.failure_detection => {
                if self.first_proposal(&cmd) {
                    self.propose(cmd, now, out);
                }
            }
            Role::Leader => self.propose(cmd, now, out),
            Role::Candidate(_) => self.waiting.push(cmd),
            // Only after a restart of a leader: it knows of no other
            // leader yet; held until an election says who leads.
            Role::Follower if self.leader == self.id => self.waiting.push(cmd),
            Role::Follower => {
                if self.failure_detection {
                    self.forwarded.insert(cmd.key(), cmd.clone());
                }
                out.send(self.leader, Message::ForwardSubmit { cmd });
            }
        }
    }

    /// A message carrying `ballot` arrived: from the believed leader, it
    /// proves it alive; a ballot above both the believed leader's and our
    /// own candidacy's makes its owner the believed leader (§6
    /// displacement), deposing us if we led or ran.
    fn heard_from(&mut self, ballot: Ballot, now: Time, out: &mut Outbox<Self>) {
        if !self.failure_detection {
            return;
        }
        self.max_seen = self.max_seen.max(ballot);
        let ours = match &self.role {
            Role::Candidate(candidacy) => candidacy.ballot,
            Role::Leader => self.ballot,
            Role::Follower => 0,
        };
        if ballot > self.leader_ballot && ballot > ours && self.owner(ballot) != self.id {
            self.step_down(ballot, now, out);
        }
        if ballot == self.leader_ballot {
            self.last_heard = now;
        }
    }

    /// Follow `ballot`'s owner: a leader or candidate stops (§5.2, §6);
    /// commands it held are forwarded to the new leader.
    fn step_down(&mut self, ballot: Ballot, now: Time, out: &mut Outbox<Self>) {
        let leader = self.owner(ballot);
        let was_leading = !matches!(self.role, Role::Follower);
        self.role = Role::Follower;
        self.leader = leader;
        self.leader_ballot = ballot;
        self.last_heard = now;
        if was_leading {
            // Slots it proposed may still be chosen by the new leader's
            // phase 1; clients retry the others.
            self.commanders = SlotLog::new();
            out.set_timer(Timer::Suspect, self.suspect_after_ns());
        }
        for cmd in std::mem::take(&mut self.waiting) {
            out.send(leader, Message::ForwardSubmit { cmd });
        }
        for cmd in self.forwarded.values() {
            out.send(leader, Message::ForwardSubmit { cmd: cmd.clone() });
        }
    }

    /// §5 step 3.
    fn handle_accept(
        &mut self,
        from: ProcessId,
        ballot: Ballot,
        slot: u64,
        cmd: Value<V>,
        now: Time,
        out: &mut Outbox<Self>,
    ) {
        if ballot < self.promised {
            // Stale ballot (§8 example 4): the sender was deposed.
            if self.failure_detection {
                out.send(from, Message::Nack { ballot, promised: self.promised });
            }
            return;
        }
        self.promised = ballot;
        self.heard_from(ballot, now, out);
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
    fn handle_chosen(&mut self, slot: u64, cmd: Value<V>, out: &mut Outbox<Self>) {
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
        if self.failure_detection {
            if let Some(cmd) = &cmd {
                self.forwarded.remove(&cmd.key());
            }
            Self::note(&mut self.chosen_seq, &cmd);
            let _ = self.chosen_log.insert(slot, cmd.clone());
        }
        out.execute(ChosenSlot { slot, cmd });
    }

    /// §7: slots every process has chosen are stable; drop their state.
    fn handle_garbage_collection(&mut self, from: ProcessId, committed: u64) {
        let known = &mut self.committed_by[from.index()];
        *known = (*known).max(committed);
        let stable = self.committed_by.iter().copied().min().unwrap_or(0);
        self.accepted.discard_up_to(stable);
        self.chosen_log.discard_up_to(stable);
    }

    /// Leader election §4.3: run for leader with a fresh ballot over every
    /// slot not learned yet.
    fn start_candidacy(&mut self, now: Time, out: &mut Outbox<Self>) {
        let ballot = next_ballot(self.id, self.n(), self.max_seen.max(self.promised));
        self.max_seen = ballot;
        self.ballot = ballot;
        let start_slot = self.chosen_upto + 1;
        self.role = Role::Candidate(Candidacy { ballot, start_slot, promises: BTreeMap::new() });
        self.last_heard = now;
        out.recovery_started();
        out.send_to_each(&self.processes, Message::Prepare { ballot, start_slot });
    }

    /// Leader election §5.1.
    fn handle_prepare(&mut self, from: ProcessId, ballot: Ballot, start_slot: u64, now: Time, out: &mut Outbox<Self>) {
        if ballot < self.promised {
            out.send(from, Message::Nack { ballot, promised: self.promised });
            return;
        }
        self.promised = ballot;
        self.heard_from(ballot, now, out);
        let mut entries: Vec<PromiseEntry<V>> = self
            .accepted
            .iter_from(start_slot)
            .map(|(slot, (accepted_at, value))| PromiseEntry {
                slot,
                ballot: *accepted_at,
                value: value.clone(),
                chosen: false,
            })
            .collect();
        entries.extend(self.chosen_log.iter_from(start_slot).map(|(slot, value)| PromiseEntry {
            slot,
            ballot: 0,
            value: value.clone(),
            chosen: true,
        }));
        out.send(from, Message::Promise { ballot, entries });
    }

    /// Leader election §5.2–§5.5.
    fn handle_promise(
        &mut self,
        from: ProcessId,
        ballot: Ballot,
        entries: Vec<PromiseEntry<V>>,
        now: Time,
        out: &mut Outbox<Self>,
    ) {
        let Role::Candidate(candidacy) = &mut self.role else { return };
        if candidacy.ballot != ballot {
            return; // an earlier candidacy's promise
        }
        candidacy.promises.insert(from, entries);
        if candidacy.promises.len() < quorum::fpaxos_phase1(self.n(), self.f) {
            return;
        }
        let Role::Candidate(candidacy) = std::mem::replace(&mut self.role, Role::Leader) else { unreachable!() };
        let mut plan = recovery_plan(&candidacy);
        if self.skip_phase1_value_rule {
            plan = RecoveryPlan { chosen: Vec::new(), proposals: Vec::new(), last_slot: candidacy.start_slot - 1 };
        }
        self.leader = self.id;
        self.leader_ballot = self.ballot;
        self.commanders = SlotLog::new();
        self.last_slot = plan.last_slot;
        let others: Vec<ProcessId> = self.processes.iter().copied().filter(|&p| p != self.id).collect();
        for (slot, value) in plan.chosen {
            out.send_to_each(&others, Message::Chosen { slot, cmd: value.clone() });
            self.handle_chosen(slot, value, out);
        }
        self.proposed_seq = FixedHashMap::default();
        for (slot, value) in plan.proposals {
            Self::note(&mut self.proposed_seq, &value);
            self.propose_in(slot, value, now, out);
        }
        out.leader_change();
        out.recovery_finished();
        let held = std::mem::take(&mut self.forwarded).into_values();
        for cmd in std::mem::take(&mut self.waiting).into_iter().chain(held) {
            if self.first_proposal(&cmd) {
                self.propose(cmd, now, out);
            }
        }
        out.send_to_each(&others, Message::Heartbeat { ballot: self.ballot, chosen_upto: self.chosen_upto });
        out.set_timer(Timer::Heartbeat, self.timeouts.heartbeat_ns);
    }

    /// Leader election §5.2 and §6: a higher ballot deposes a candidate or
    /// leader.
    fn handle_nack(&mut self, ballot: Ballot, promised: Ballot, now: Time, out: &mut Outbox<Self>) {
        self.max_seen = self.max_seen.max(promised);
        let ours = match &self.role {
            Role::Candidate(candidacy) => candidacy.ballot == ballot,
            Role::Leader => self.ballot == ballot,
            Role::Follower => false,
        };
        if ours && promised > ballot {
            self.step_down(promised, now, out);
        }
    }

    fn handle_heartbeat(
        &mut self,
        from: ProcessId,
        ballot: Ballot,
        chosen_upto: u64,
        now: Time,
        out: &mut Outbox<Self>,
    ) {
        if ballot < self.promised {
            out.send(from, Message::Nack { ballot, promised: self.promised });
            return;
        }
        self.heard_from(ballot, now, out);
        if chosen_upto > self.chosen_upto {
            out.send(from, Message::CatchUpRequest { from_slot: self.chosen_upto + 1 });
        }
    }

    fn handle_catch_up_request(&mut self, from: ProcessId, from_slot: u64, out: &mut Outbox<Self>) {
        let slots = self.chosen_from(from_slot);
        if !slots.is_empty() {
            out.send(from, Message::CatchUp { slots });
        }
    }

    /// The leader's periodic duty: a heartbeat, and accepts not yet
    /// acknowledged sent again (messages may have been lost).
    fn on_heartbeat_timer(&mut self, out: &mut Outbox<Self>) {
        if !self.is_leader() {
            return;
        }
        let others: Vec<ProcessId> = self.processes.iter().copied().filter(|&p| p != self.id).collect();
        out.send_to_each(&others, Message::Heartbeat { ballot: self.ballot, chosen_upto: self.chosen_upto });
        let mut resend = Vec::new();
        for (slot, commander) in self.commanders.iter_from(0) {
            for &p in &self.processes {
                if commander.acks & (1 << p.index()) == 0 {
                    resend.push((p, Message::Accept { ballot: commander.ballot, slot, cmd: commander.cmd.clone() }));
                }
            }
        }
        for (to, msg) in resend {
            out.send(to, msg);
        }
        out.set_timer(Timer::Heartbeat, self.timeouts.heartbeat_ns);
    }

    /// A non-leader checks whether it still hears from the leader (§4.1).
    fn on_suspect_timer(&mut self, now: Time, out: &mut Outbox<Self>) {
        if self.is_leader() {
            return;
        }
        let wait = self.suspect_after_ns();
        let deadline = self.last_heard.plus_ns(wait);
        if now >= deadline {
            self.start_candidacy(now, out);
            out.set_timer(Timer::Suspect, wait);
        } else {
            out.set_timer(Timer::Suspect, deadline.since(now));
        }
    }
}

/// What a new leader does with the promises it collected (leader
/// election §5.3).
#[derive(Debug, PartialEq, Eq)]
struct RecoveryPlan<V> {
    /// Slots some acceptor knows chosen, with their values.
    chosen: Vec<(u64, Value<V>)>,
    /// Slots to propose again: the highest-ballot value, or a no-op.
    proposals: Vec<(u64, Value<V>)>,
    /// The last slot recovered; new commands go after it.
    last_slot: u64,
}

fn recovery_plan<V: Payload>(candidacy: &Candidacy<V>) -> RecoveryPlan<V> {
    let entries = candidacy.promises.values().flatten();
    let max_slot = entries.clone().map(|e| e.slot).max().unwrap_or(0).max(candidacy.start_slot - 1);
    let (mut chosen, mut proposals) = (Vec::new(), Vec::new());
    for slot in candidacy.start_slot..=max_slot {
        let mut in_slot = entries.clone().filter(|e| e.slot == slot);
        if let Some(known) = in_slot.clone().find(|e| e.chosen) {
            chosen.push((slot, known.value.clone()));
        } else if let Some(highest) = in_slot.by_ref().max_by_key(|e| e.ballot) {
            proposals.push((slot, highest.value.clone()));
        } else {
            proposals.push((slot, None));
        }
    }
    RecoveryPlan { chosen, proposals, last_slot: max_slot }
}

impl<V: Payload> Protocol for FPaxos<V> {
    type Message = Message<V>;
    type Timer = Timer;
    type Executor = SlotExecutor<V>;
    type Options = Options;

    const RESTARTS: bool = true;

    /// Leader election §1 and §9 "Acceptor restart": the acceptor's
    /// `promised` and `accepted` are durable (Paxos is unsafe without
    /// them), and so is, with the state machine the engine keeps, each
    /// client's highest chosen seq (the client table a replica persists
    /// with what it applied; without it a restarted leader could order a
    /// re-forwarded command again). Everything else is volatile: the
    /// process comes back a follower of the owner of its promised ballot,
    /// with no commanders, candidacy, forwarded or held commands, and
    /// learns the slots it missed by catch-up. Its learner resumes at its
    /// executor's position (every executed slot was chosen); chosen slots
    /// waiting behind a gap were not durable and are learned again.
    fn restart(&mut self, fresh: Self, executor: &mut SlotExecutor<V>, now: Time, out: &mut Outbox<Self>) {
        executor.forget_waiting();
        self.restart_learned_upto(fresh, executor.next_slot() - 1, now, out);
    }

    fn new(setup: ProcessSetup, options: &Options) -> (Self, SlotExecutor<V>) {
        let n = setup.n();
        let f = setup.config.f;
        debug_assert!(quorum::check_f(n, f).is_ok());
        let leader = setup.config.leader.unwrap_or(ProcessId(1));
        let failure_detection = setup.config.failure_detection;
        let phase2_targets =
            if failure_detection { setup.processes.clone() } else { setup.closest(quorum::fpaxos_phase2(f)).to_vec() };
        let rank = ((setup.id.index() + n - leader.index()) % n) as u64;
        let fpaxos = FPaxos {
            id: setup.id,
            f,
            leader,
            leader_ballot: Ballot::from(leader.0),
            processes: setup.processes.clone(),
            phase2_targets,
            gc_interval_ns: setup.config.gc_interval_ns,
            // Every acceptor starts having joined the initial leader's ballot.
            promised: Ballot::from(leader.0),
            accepted: SlotLog::new(),
            role: if setup.id == leader { Role::Leader } else { Role::Follower },
            ballot: Ballot::from(setup.id.0),
            last_slot: 0,
            commanders: SlotLog::new(),
            chosen_upto: 0,
            chosen_above: BTreeSet::new(),
            committed_by: vec![0; n],
            failure_detection,
            timeouts: Timeouts::default(),
            rank,
            max_seen: Ballot::from(leader.0),
            last_heard: Time::ZERO,
            chosen_log: SlotLog::new(),
            waiting: Vec::new(),
            chosen_seq: FixedHashMap::default(),
            proposed_seq: FixedHashMap::default(),
            skip_phase1_value_rule: options.skip_phase1_value_rule,
            plant_restart_forgets_acceptor: options.plant_restart_forgets_acceptor,
            forwarded: BTreeMap::new(),
        };
        (fpaxos, SlotExecutor::default())
    }

    fn start(&mut self, _now: Time, out: &mut Outbox<Self>) {
        out.set_timer(Timer::GarbageCollection, self.gc_interval_ns);
        if self.failure_detection {
            match self.role {
                Role::Leader => out.set_timer(Timer::Heartbeat, self.timeouts.heartbeat_ns),
                _ => out.set_timer(Timer::Suspect, self.suspect_after_ns()),
            }
        }
    }

    fn submit(&mut self, cmd: Arc<Command>, now: Time, out: &mut Outbox<Self>) {
        // A log of another payload takes its values through `broadcast`.
        if let Some(value) = V::from_client(cmd) {
            self.on_command(value, now, out);
        }
    }

    fn handle(&mut self, from: ProcessId, msg: Message<V>, now: Time, out: &mut Outbox<Self>) {
        match msg {
            Message::ForwardSubmit { cmd } => self.on_command(cmd, now, out),
            Message::Accept { ballot, slot, cmd } => self.handle_accept(from, ballot, slot, cmd, now, out),
            Message::Accepted { ballot, slot } => self.handle_accepted(from, ballot, slot, now, out),
            Message::Chosen { slot, cmd } => {
                if self.failure_detection && from == self.leader {
                    self.last_heard = now;
                }
                self.handle_chosen(slot, cmd, out)
            }
            Message::GarbageCollection { committed } => self.handle_garbage_collection(from, committed),
            Message::Prepare { ballot, start_slot } => self.handle_prepare(from, ballot, start_slot, now, out),
            Message::Promise { ballot, entries } => self.handle_promise(from, ballot, entries, now, out),
            Message::Nack { ballot, promised } => self.handle_nack(ballot, promised, now, out),
            Message::Heartbeat { ballot, chosen_upto } => self.handle_heartbeat(from, ballot, chosen_upto, now, out),
            Message::CatchUpRequest { from_slot } => self.handle_catch_up_request(from, from_slot, out),
            Message::CatchUp { slots } => self.learn(slots, out),
        }
    }

    fn handle_timer(&mut self, timer: Timer, now: Time, out: &mut Outbox<Self>) {
        match timer {
            Timer::GarbageCollection => {
                let committed = self.chosen_upto;
                self.handle_garbage_collection(self.id, committed);
                let others: Vec<ProcessId> = self.processes.iter().copied().filter(|&p| p != self.id).collect();
                out.send_to_each(&others, Message::GarbageCollection { committed });
                out.set_timer(Timer::GarbageCollection, self.gc_interval_ns);
            }
            Timer::Heartbeat => self.on_heartbeat_timer(out),
            Timer::Suspect => self.on_suspect_timer(now, out),
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
        process_with(id, n, f, leader, false)
    }

    /// A process of a run with faults (failure detection on).
    fn detecting(id: u32, n: u32, f: usize, leader: u32) -> FPaxos {
        process_with(id, n, f, leader, true)
    }

    fn process_with(id: u32, n: u32, f: usize, leader: u32, failure_detection: bool) -> FPaxos {
        let processes: Vec<ProcessId> = (1..=n).map(ProcessId).collect();
        // Distances by id distance: closest first is itself, then neighbours.
        let mut by_distance = processes.clone();
        by_distance.sort_by_key(|p| (p.0.abs_diff(id), p.0));
        let setup = ProcessSetup {
            id: ProcessId(id),
            processes,
            by_distance,
            config: ProtocolConfig {
                f,
                leader: Some(ProcessId(leader)),
                failure_detection,
                ..ProtocolConfig::default()
            },
            rng: RngStreams::new(1).stream(Purpose::Protocol, u64::from(id)),
        };
        FPaxos::new(setup, &Options::default()).0
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
        assert_eq!(process(1, 5, 1, 1).phase2_targets, vec![ProcessId(1), ProcessId(2)]);
        assert_eq!(process(3, 5, 2, 3).phase2_targets, vec![ProcessId(3), ProcessId(2), ProcessId(4)]);
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
        let accept = Message::Accept { ballot: 1, slot: 1, cmd: Some(cmd(1)) };
        assert_eq!(sends(&out), vec![(ProcessId(1), accept.clone()), (ProcessId(2), accept)]);

        let mut out = Outbox::new();
        leader.handle(ProcessId(1), Message::Accepted { ballot: 1, slot: 1 }, Time::ZERO, &mut out);
        leader.handle(ProcessId(1), Message::Accepted { ballot: 1, slot: 1 }, Time::ZERO, &mut out);
        assert!(sends(&out).is_empty(), "one ack (even repeated) is not f+1 = 2");
        leader.handle(ProcessId(2), Message::Accepted { ballot: 1, slot: 1 }, Time::ZERO, &mut out);
        let chosen = Message::Chosen { slot: 1, cmd: Some(cmd(1)) };
        let expected: Vec<_> = (1..=5).map(|p| (ProcessId(p), chosen.clone())).collect();
        assert_eq!(sends(&out), expected);
    }

    /// fpaxos.md §8 example 4: an acceptor that promised ballot 7 (n=5:
    /// owner 2, round 1) ignores ballot 1 of the old leader.
    #[test]
    fn fpaxos_8_4_stale_ballot_is_ignored() {
        let mut acceptor = process(4, 5, 1, 1);
        let mut out = Outbox::new();
        acceptor.handle(ProcessId(2), Message::Accept { ballot: 7, slot: 1, cmd: Some(cmd(1)) }, Time::ZERO, &mut out);
        assert_eq!(sends(&out), vec![(ProcessId(2), Message::Accepted { ballot: 7, slot: 1 })]);
        let mut out = Outbox::new();
        acceptor.handle(ProcessId(1), Message::Accept { ballot: 1, slot: 2, cmd: Some(cmd(2)) }, Time::ZERO, &mut out);
        assert!(out.effects().is_empty(), "stale ballot must be ignored, got {out:?}");
    }

    #[test]
    fn garbage_collection_waits_for_every_process() {
        let mut acceptor = process(2, 3, 1, 1);
        let mut out = Outbox::new();
        for slot in 1..=3 {
            acceptor.handle(
                ProcessId(1),
                Message::Accept { ballot: 1, slot, cmd: Some(cmd(slot)) },
                Time::ZERO,
                &mut out,
            );
            acceptor.handle(ProcessId(1), Message::Chosen { slot, cmd: Some(cmd(slot)) }, Time::ZERO, &mut out);
        }
        assert_eq!(acceptor.chosen_upto(), 3);
        acceptor.handle(ProcessId(1), Message::GarbageCollection { committed: 3 }, Time::ZERO, &mut out);
        acceptor.handle_timer(Timer::GarbageCollection, Time::ZERO, &mut out);
        assert_eq!(acceptor.accepted_len(), 3, "process 3 has not reported yet");
        acceptor.handle(ProcessId(3), Message::GarbageCollection { committed: 2 }, Time::ZERO, &mut out);
        assert_eq!(acceptor.accepted_len(), 1, "slots 1 and 2 are stable");
    }

    fn command(client: u32, name: u64) -> Value {
        let id = CommandId { client: ClientId(client), seq: name };
        Some(Arc::new(Command { id, ops: vec![(7, Op::Put(name))].into(), payload_bytes: 0 }))
    }

    fn accepted(slot: u64, ballot: Ballot, value: &Value) -> PromiseEntry {
        PromiseEntry { slot, ballot, value: value.clone(), chosen: false }
    }

    /// Ballot (round, owner) with n = 5, as numbers: owner + 5·round.
    fn b5(round: u64, owner: u64) -> Ballot {
        owner + 5 * round
    }

    /// multipaxos-leader-election.md §11 E1: slot recovery with n = 5,
    /// f = 1 (Q1 = 4). Candidate A5 with ballot (3, A5) and start slot 10
    /// hears from A2, A3, A4 and itself: s10 = x, s11 = z (highest
    /// vballot), s12 = w, s13 = no-op, s14 = u, next slot 15.
    #[test]
    fn leader_election_11_e1_slot_recovery() {
        let (x, z, w, u) = (command(0, 1), command(1, 1), command(2, 1), command(3, 1));
        let mut a5 = detecting(5, 5, 1, 1);
        let mut out = Outbox::new();
        for slot in 1..=9 {
            a5.handle(ProcessId(1), Message::Chosen { slot, cmd: None }, Time::ZERO, &mut out);
        }
        // A3 ran round 2: A5 saw its ballot.
        a5.handle(ProcessId(3), Message::Heartbeat { ballot: b5(2, 3), chosen_upto: 9 }, Time::ZERO, &mut out);
        let mut out = Outbox::new();
        a5.handle_timer(Timer::Suspect, Time::from_ns(100 * 1_000 * NS_PER_MS), &mut out);
        let prepare = Message::Prepare { ballot: b5(3, 5), start_slot: 10 };
        assert_eq!(sends(&out), (1..=5).map(|p| (ProcessId(p), prepare.clone())).collect::<Vec<_>>());
        assert_eq!(out.metrics().recovery.recoveries_started, 1);

        let promises = [
            (2, vec![accepted(10, b5(1, 1), &x)]),
            (3, vec![accepted(11, b5(2, 3), &z)]),
            (4, vec![accepted(12, b5(1, 1), &w), accepted(14, b5(2, 3), &u)]),
            (5, vec![]),
        ];
        let mut out = Outbox::new();
        for (from, entries) in promises {
            assert!(!a5.is_leading());
            a5.handle(ProcessId(from), Message::Promise { ballot: b5(3, 5), entries }, Time::ZERO, &mut out);
        }
        assert!(a5.is_leading() && a5.leader() == ProcessId(5));
        let proposals: Vec<(u64, Value)> = sends(&out)
            .into_iter()
            .filter_map(|(to, msg)| match msg {
                Message::Accept { ballot, slot, cmd } if to == ProcessId(1) => {
                    assert_eq!(ballot, b5(3, 5));
                    Some((slot, cmd))
                }
                _ => None,
            })
            .collect();
        assert_eq!(proposals, vec![(10, x), (11, z), (12, w), (13, None), (14, u)]);
        assert_eq!((out.metrics().recovery.leader_changes, out.metrics().recovery.recoveries_finished), (1, 1));
        let mut out = Outbox::new();
        a5.submit(cmd(9), Time::ZERO, &mut out);
        assert!(matches!(sends(&out)[0].1, Message::Accept { slot: 15, .. }), "next slot 15: {out:?}");
    }

    /// §11 E1's rule that a slot some acceptor knows chosen is learned,
    /// not proposed again (§5.3 first case, §12.2).
    #[test]
    fn leader_election_chosen_slots_are_learned_not_reproposed() {
        let x = command(0, 1);
        let candidacy = Candidacy {
            ballot: b5(3, 5),
            start_slot: 1,
            promises: BTreeMap::from([
                (ProcessId(2), vec![PromiseEntry { slot: 1, ballot: 0, value: x.clone(), chosen: true }]),
                (ProcessId(3), vec![accepted(1, b5(2, 3), &command(9, 9)), accepted(2, b5(1, 1), &x)]),
            ]),
        };
        let plan = recovery_plan(&candidacy);
        assert_eq!(plan, RecoveryPlan { chosen: vec![(1, x.clone())], proposals: vec![(2, x)], last_slot: 2 });
    }

    /// §11 E2 duel resolution: an acceptor that promised (5, A1) then
    /// (5, A2) refuses A1's accept; A1 steps down at that Nack and follows
    /// A2.
    #[test]
    fn leader_election_11_e2_duel_resolution() {
        let (a1_ballot, a2_ballot) = (b5(5, 1), b5(5, 2));
        let mut acceptor = detecting(3, 5, 1, 1);
        let mut out = Outbox::new();
        acceptor.handle(ProcessId(1), Message::Prepare { ballot: a1_ballot, start_slot: 1 }, Time::ZERO, &mut out);
        acceptor.handle(ProcessId(2), Message::Prepare { ballot: a2_ballot, start_slot: 1 }, Time::ZERO, &mut out);
        let promised: Vec<_> =
            sends(&out).into_iter().map(|(to, msg)| (to, matches!(msg, Message::Promise { .. }))).collect();
        assert_eq!(promised, vec![(ProcessId(1), true), (ProcessId(2), true)]);
        let mut out = Outbox::new();
        acceptor.handle(ProcessId(1), Message::Accept { ballot: a1_ballot, slot: 1, cmd: None }, Time::ZERO, &mut out);
        let nack = Message::Nack { ballot: a1_ballot, promised: a2_ballot };
        assert_eq!(sends(&out), vec![(ProcessId(1), nack.clone())]);
        // The reverse order: A2 first, then A1's prepare is refused.
        let mut other = detecting(4, 5, 1, 1);
        let mut out = Outbox::new();
        other.handle(ProcessId(2), Message::Prepare { ballot: a2_ballot, start_slot: 1 }, Time::ZERO, &mut out);
        other.handle(ProcessId(1), Message::Prepare { ballot: a1_ballot, start_slot: 1 }, Time::ZERO, &mut out);
        assert_eq!(sends(&out)[1], (ProcessId(1), nack.clone()));

        // A1, a candidate at (5, A1), steps down at the Nack.
        let mut a1 = detecting(1, 5, 1, 1);
        a1.max_seen = b5(4, 4);
        let mut out = Outbox::new();
        a1.start_candidacy(Time::ZERO, &mut out);
        assert_eq!(a1.ballot(), a1_ballot);
        a1.handle(ProcessId(3), nack, Time::ZERO, &mut out);
        assert!(!a1.is_leading() && a1.leader() == ProcessId(2));
        let mut out = Outbox::new();
        a1.submit(cmd(1), Time::ZERO, &mut out);
        assert_eq!(sends(&out), vec![(ProcessId(2), Message::ForwardSubmit { cmd: cmd(1) })], "forwards to A2");
    }

    /// §11 E4 (the candidacy's start): with ST = 1000 ms and Δ = 400 ms,
    /// A2 (rank 1 after the leader A1) first suspects at 1400 ms; A3 (rank
    /// 2) at 1800 ms.
    #[test]
    fn leader_election_11_e4_ranked_start() {
        for (id, expected_ms) in [(2, 1_400), (3, 1_800)] {
            let mut process = detecting(id, 5, 2, 1);
            process.timeouts = Timeouts { rank_step_ns: 400 * NS_PER_MS, ..Timeouts::default() };
            let mut out = Outbox::new();
            process.start(Time::ZERO, &mut out);
            let suspect = out.effects().iter().find_map(|effect| match effect {
                sim_core::Effect::SetTimer { timer: Timer::Suspect, after_ns } => Some(*after_ns),
                _ => None,
            });
            assert_eq!(suspect, Some(expected_ms * NS_PER_MS));
            let mut out = Outbox::new();
            process.handle_timer(Timer::Suspect, Time::from_ns(expected_ms * NS_PER_MS - 1), &mut out);
            assert!(sends(&out).is_empty(), "not yet");
            process.handle_timer(Timer::Suspect, Time::from_ns(expected_ms * NS_PER_MS), &mut out);
            assert!(matches!(sends(&out)[0].1, Message::Prepare { start_slot: 1, .. }));
        }
    }

    /// Without failure detection (failure-free runs) no heartbeat or
    /// suspicion timer is set and phase 2 goes to the closest f + 1 only.
    #[test]
    fn no_failure_detection_without_faults() {
        let mut leader = process(1, 5, 1, 1);
        let mut out = Outbox::new();
        leader.start(Time::ZERO, &mut out);
        assert_eq!(out.effects().len(), 1, "the garbage-collection timer only: {out:?}");
        assert_eq!(detecting(1, 5, 1, 1).phase2_targets.len(), 5);
    }
}
