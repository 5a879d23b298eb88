//! Two-phase commit, presumed abort, with three-phase commit as a variant
//! (`shared/specs/two-phase-commit.md`): synchronous replication with
//! atomic commit, every command a transaction applied at all `n` replicas
//! or at none.
//!
//! One type, [`AtomicCommit`], runs both: `AtomicCommit<false>` is 2PC
//! ([`TwoPc`]), `AtomicCommit<true>` is 3PC ([`ThreePc`]), which adds the
//! PRE_COMMIT round (§9 step 2) and replaces cooperative termination by
//! §9's termination protocol. They share the participant's locking and
//! WAL, the coordinator's vote collection, the client retry and the
//! executor; a const parameter rather than an option so that each is its
//! own protocol name (`2pc`, `3pc`) with its own latency formula and
//! fault budget.
//!
//! Mapping onto the harness (full replication, engine-owned clients):
//! - Participants are all `n` processes (§11.1). A client talks to its
//!   nearest process (its *proxy*); with `coordinator_policy = fixed` the
//!   proxy forwards to the coordinator (the configured leader), with
//!   `receiver` it coordinates itself. The client's answer comes from its
//!   proxy's execution, which happens when the proxy, a participant,
//!   learns COMMIT: `d(X,p) + d(p,C)`, the vote round, then `d(C,p)`, i.e.
//!   the classic README's routed form of §5. The coordinator's own
//!   execution is the commit point (§4 step 3).
//! - An aborted attempt is answered `Aborted` to the proxy, which retries
//!   the same client command as a new transaction after
//!   `RETRY_BACKOFF·attempt` plus a seeded jitter below `RETRY_BACKOFF`
//!   (§4's "new seq" is the new txid; the client keeps its command id, so
//!   it only sees a longer latency). Failure-free, every command therefore
//!   completes.
//! - Reads are transactions like writes (locked, applied everywhere): the
//!   verdict checks every replica's reads; §5's read policies are not
//!   implemented.
//! - The WAL is the process state that [`Protocol::restart`] keeps.
//!
//! Failure handling (§7, §9) is in `termination.rs`, with failure
//! detection only (runs with faults): failure-free, the only timer is the
//! proxy's retry after an abort.

mod executor;
mod messages;
mod termination;
#[cfg(test)]
mod tests;

pub use executor::DecisionExecutor;
pub use messages::{Message, Outcome, Txid, TxnState};

use rand::RngExt;
use sim_core::protocol::{Outbox, ProcessSetup, Protocol};
use sim_core::rng::StreamRng;
use sim_core::time::NS_PER_MS;
use sim_core::{Command, CommandId, Key, ProcessId, Time};
use std::collections::BTreeMap;
use std::sync::Arc;

/// Two-phase commit.
pub type TwoPc = AtomicCommit<false>;
/// Three-phase commit.
pub type ThreePc = AtomicCommit<true>;

/// Most processes (votes are bit sets).
pub const MAX_PROCESSES: usize = 64;

/// `VOTE_TIMEOUT` (§6).
pub const DEFAULT_VOTE_TIMEOUT_NS: u64 = 1000 * NS_PER_MS;
/// `DECISION_TIMEOUT` (§6).
pub const DEFAULT_DECISION_TIMEOUT_NS: u64 = 1000 * NS_PER_MS;
/// `TERM_RETRY` (§6), also `ACK_RESEND`.
pub const DEFAULT_TERM_RETRY_NS: u64 = 1000 * NS_PER_MS;
/// `RETRY_BACKOFF` (§4; no value given there): one heartbeat period of the
/// classic README's timer profile.
pub const DEFAULT_RETRY_BACKOFF_NS: u64 = 100 * NS_PER_MS;
/// 3PC termination: how long the new coordinator waits for the states (and
/// then the PRE_ACKs) of the others; two round trips at the matrices'
/// largest RTT (400 ms).
pub const DEFAULT_TERM_COLLECT_NS: u64 = 800 * NS_PER_MS;
/// 3PC termination: the delay between the ranks of would-be termination
/// coordinators (lowest id first), more than one whole termination.
pub const DEFAULT_TERM_STAGGER_NS: u64 = 2000 * NS_PER_MS;
/// The proxy re-forwards a command not applied after this long (classic
/// README client retry), with failure detection only: a coordinator that
/// restarted forgot its undecided transactions.
pub const CLIENT_RETRY_NS: u64 = 2000 * NS_PER_MS;

/// Who coordinates a command (§1 `coordinator_policy`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CoordinatorPolicy {
    /// One static coordinator, the configured leader (default).
    #[default]
    Fixed,
    /// The process that receives the client command.
    Receiver,
}

/// Options (§1, §6); `None` takes the spec's default.
#[derive(Clone, Debug, Default, PartialEq, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Options {
    /// `fixed` (default) or `receiver`.
    pub coordinator_policy: CoordinatorPolicy,
    /// Probability that a participant votes NO on a transaction it could
    /// lock (business-logic aborts), from the process's seeded stream.
    pub vote_no_probability: f64,
    /// `VOTE_TIMEOUT` in ns.
    pub vote_timeout_ns: Option<u64>,
    /// `DECISION_TIMEOUT` in ns.
    pub decision_timeout_ns: Option<u64>,
    /// `TERM_RETRY` and `ACK_RESEND` in ns.
    pub term_retry_ns: Option<u64>,
    /// `RETRY_BACKOFF` in ns.
    pub retry_backoff_ns: Option<u64>,
    /// 3PC termination collection window in ns.
    pub term_collect_ns: Option<u64>,
    /// 3PC termination rank stagger in ns.
    pub term_stagger_ns: Option<u64>,
}

/// Timers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Timer {
    /// Proxy: retry an aborted command (or re-forward one not applied).
    Retry(CommandId),
    /// Coordinator: abort if the votes are not all in (§6 VOTE_TIMEOUT).
    VoteTimeout(Txid),
    /// Coordinator: re-send COMMIT to who has not acked (§6 ACK_RESEND).
    AckResend(Txid),
    /// Participant in doubt: start or repeat termination (§6
    /// DECISION_TIMEOUT, TERM_RETRY).
    Decision(Txid),
    /// 3PC termination coordinator: stop waiting for states or PRE_ACKs.
    TermCollect(Txid),
}

/// A participant's record of one transaction (its WAL entry, §2).
#[derive(Clone, Debug)]
struct ParticipantTxn {
    /// The command; `None` for a transaction refused before its PREPARE
    /// arrived (an ABORT or a termination poll came first).
    cmd: Option<Arc<Command>>,
    state: TxnState,
    /// When it was prepared (voted YES).
    prepared_at: Time,
    /// In doubt past `DECISION_TIMEOUT`, termination started and has not
    /// found the decision yet (blocked, §7.3).
    blocked: bool,
}

/// Where a coordinator is with one transaction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// Collecting votes.
    Collecting,
    /// 3PC: PRE_COMMIT sent, collecting PRE_ACKs.
    PreCommitting,
    /// COMMIT logged; collecting ACKs for END.
    Committed,
}

/// A coordinator's record of one transaction.
#[derive(Clone, Debug)]
struct CoordinatorTxn {
    cmd: Arc<Command>,
    /// The client's process, told of an abort.
    proxy: ProcessId,
    phase: Phase,
    /// YES votes, then PRE_ACKs, then ACKs (a bit per process index).
    answered: u64,
    started_at: Time,
}

/// A client command this process received and has not applied yet.
#[derive(Clone, Debug)]
struct Pending {
    cmd: Arc<Command>,
    /// Aborted attempts so far.
    aborts: u64,
}

/// A transaction a participant is blocked on (§7.3 `Blocked(txid, since)`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Blocked {
    /// The transaction.
    pub txid: Txid,
    /// Since when the participant has been prepared.
    pub since: Time,
}

/// 3PC termination in progress at its (new) coordinator.
#[derive(Clone, Debug)]
struct Termination {
    /// The states reported, by process index.
    states: Vec<Option<TxnState>>,
    /// Committing: the Uncertain participants sent PRE_COMMIT, not yet acked.
    pre_committing: Option<u64>,
}

/// One process: participant, coordinator of its transactions, and proxy of
/// its clients.
#[derive(Debug)]
pub struct AtomicCommit<const THREE_PHASE: bool> {
    id: ProcessId,
    processes: Vec<ProcessId>,
    /// Bits of every process index.
    everyone: u64,
    policy: CoordinatorPolicy,
    fixed_coordinator: ProcessId,
    failure_detection: bool,
    vote_no_probability: f64,
    vote_timeout_ns: u64,
    decision_timeout_ns: u64,
    term_retry_ns: u64,
    retry_backoff_ns: u64,
    term_collect_ns: u64,
    term_stagger_ns: u64,
    rng: StreamRng,

    // Participant (durable: the WAL).
    participant: BTreeMap<Txid, ParticipantTxn>,
    /// No-wait exclusive locks: key -> holder.
    locks: BTreeMap<Key, Txid>,

    // Coordinator.
    /// Durable (the txid counter is logged so txids are never reused).
    next_counter: u64,
    /// Undecided and committed-but-not-ended transactions; only Committed
    /// ones are durable (the COMMIT record).
    coordinating: BTreeMap<Txid, CoordinatorTxn>,
    /// Commands with an undecided transaction here: a re-forward of one is
    /// not started twice.
    in_flight: BTreeMap<CommandId, Txid>,
    /// 3PC terminations this process runs.
    terminations: BTreeMap<Txid, Termination>,

    // Proxy.
    pending: BTreeMap<CommandId, Pending>,
}

impl<const THREE_PHASE: bool> AtomicCommit<THREE_PHASE> {
    /// Checks `2 <= n <= MAX_PROCESSES`; `f` is ignored (every participant
    /// must vote YES: no crash is tolerated for progress, §1).
    pub fn check(n: usize, _f: usize) -> Result<(), String> {
        let name = if THREE_PHASE { "3pc" } else { "2pc" };
        if !(2..=MAX_PROCESSES).contains(&n) {
            return Err(format!("{name} needs 2 to {MAX_PROCESSES} processes, got n = {n}"));
        }
        Ok(())
    }

    /// This process's state for `txid`, if it has a record.
    pub fn state(&self, txid: Txid) -> Option<TxnState> {
        self.participant.get(&txid).map(|t| t.state)
    }

    /// Transactions this participant is blocked on: in doubt past
    /// `DECISION_TIMEOUT`, its termination has not found the decision
    /// (§7.3; in 3PC, until its termination round decides).
    pub fn blocked(&self) -> Vec<Blocked> {
        self.participant
            .iter()
            .filter(|(_, t)| t.blocked && !t.state.is_decided())
            .map(|(&txid, t)| Blocked { txid, since: t.prepared_at })
            .collect()
    }

    /// The holder of `key`'s lock, if any.
    pub fn lock_holder(&self, key: Key) -> Option<Txid> {
        self.locks.get(&key).copied()
    }

    fn bit(p: ProcessId) -> u64 {
        1u64 << p.index()
    }

    fn coordinator_of(&self) -> ProcessId {
        match self.policy {
            CoordinatorPolicy::Fixed => self.fixed_coordinator,
            CoordinatorPolicy::Receiver => self.id,
        }
    }

    fn others(&self) -> Vec<ProcessId> {
        self.processes.iter().copied().filter(|&p| p != self.id).collect()
    }

    // ---- Proxy: the client's process ----

    /// Sends `cmd` to its coordinator (or starts it here).
    fn route(&mut self, cmd: Arc<Command>, now: Time, out: &mut Outbox<Self>) {
        if self.failure_detection {
            out.set_timer(Timer::Retry(cmd.id), CLIENT_RETRY_NS);
        }
        let coordinator = self.coordinator_of();
        if coordinator == self.id {
            self.begin(cmd, self.id, now, out);
        } else {
            out.send(coordinator, Message::Forward { cmd });
        }
    }

    /// CLIENT_REPLY(Aborted): retry as a new transaction after the back-off.
    fn handle_aborted(&mut self, cmd: CommandId, out: &mut Outbox<Self>) {
        let Some(pending) = self.pending.get_mut(&cmd) else {
            return; // applied meanwhile (another attempt), or not ours
        };
        pending.aborts += 1;
        // The spec's back-off is RETRY_BACKOFF·attempt; the seeded jitter
        // keeps two RECEIVER coordinators whose conflicting retries collide
        // from colliding again at the same offsets forever.
        let jitter = self.rng.random_range(0..self.retry_backoff_ns.max(1));
        out.set_timer(Timer::Retry(cmd), self.retry_backoff_ns * pending.aborts + jitter);
    }

    fn handle_retry(&mut self, cmd: CommandId, now: Time, out: &mut Outbox<Self>) {
        if let Some(pending) = self.pending.get(&cmd) {
            let cmd = pending.cmd.clone();
            self.route(cmd, now, out);
        }
    }

    // ---- Coordinator (§4 steps 1, 3, 5; §9 steps 1-3) ----

    /// §4 step 1: a new transaction for `cmd`, PREPARE to everyone.
    fn begin(&mut self, cmd: Arc<Command>, proxy: ProcessId, now: Time, out: &mut Outbox<Self>) {
        if self.in_flight.contains_key(&cmd.id) {
            return; // its transaction is under way; its outcome will come
        }
        self.next_counter += 1;
        let txid = Txid { coordinator: self.id, counter: self.next_counter };
        self.in_flight.insert(cmd.id, txid);
        self.coordinating.insert(
            txid,
            CoordinatorTxn { cmd: cmd.clone(), proxy, phase: Phase::Collecting, answered: 0, started_at: now },
        );
        out.send_to_each(&self.processes, Message::Prepare { txid, cmd });
        if self.failure_detection {
            out.set_timer(Timer::VoteTimeout(txid), self.vote_timeout_ns);
        }
    }

    /// §4 step 3 (§9 step 2): count a vote.
    fn handle_vote(&mut self, from: ProcessId, txid: Txid, yes: bool, now: Time, out: &mut Outbox<Self>) {
        let Some(txn) = self.coordinating.get_mut(&txid) else {
            return; // aborted (presumed) or ended: a late or duplicate vote
        };
        if txn.phase != Phase::Collecting {
            return;
        }
        if !yes {
            self.abort_as_coordinator(txid, Some(from), out);
            return;
        }
        txn.answered |= Self::bit(from);
        if txn.answered != self.everyone {
            return;
        }
        if THREE_PHASE {
            txn.phase = Phase::PreCommitting;
            txn.answered = 0;
            out.send_to_each(&self.processes, Message::PreCommit { txid });
        } else {
            self.commit_as_coordinator(txid, now, out);
        }
    }

    /// 3PC §9 step 3: count a PRE_ACK (the coordinator's or a termination's).
    fn handle_pre_ack(&mut self, from: ProcessId, txid: Txid, now: Time, out: &mut Outbox<Self>) {
        if let Some(txn) = self.coordinating.get_mut(&txid)
            && txn.phase == Phase::PreCommitting
        {
            txn.answered |= Self::bit(from);
            if txn.answered == self.everyone {
                self.commit_as_coordinator(txid, now, out);
            }
            return;
        }
        self.termination_pre_ack(from, txid, out);
    }

    /// The commit point: COMMIT is logged (the record stays until END), the
    /// decision goes to everyone, itself first in effect (its own copy is
    /// delivered before any other event), which answers its clients.
    fn commit_as_coordinator(&mut self, txid: Txid, now: Time, out: &mut Outbox<Self>) {
        let txn = self.coordinating.get_mut(&txid).expect("coordinating");
        txn.phase = Phase::Committed;
        txn.answered = 0;
        out.commit_latency(now.since(txn.started_at));
        let cmd = txn.cmd.id;
        self.in_flight.remove(&cmd);
        out.send_to_each(&self.processes, Message::Decision { txid, commit: true });
        if self.failure_detection {
            out.cancel_timer(Timer::VoteTimeout(txid));
            out.set_timer(Timer::AckResend(txid), self.term_retry_ns);
        }
    }

    /// §4 step 3, abort: nothing logged (presumed abort); ABORT to everyone
    /// but the NO voter, `Aborted` to the proxy.
    fn abort_as_coordinator(&mut self, txid: Txid, no_voter: Option<ProcessId>, out: &mut Outbox<Self>) {
        let Some(txn) = self.coordinating.remove(&txid) else { return };
        debug_assert_ne!(txn.phase, Phase::Committed, "abort after the commit point");
        self.in_flight.remove(&txn.cmd.id);
        out.slow_path();
        let targets: Vec<ProcessId> = self.processes.iter().copied().filter(|&p| Some(p) != no_voter).collect();
        out.send_to_each(&targets, Message::Decision { txid, commit: false });
        out.send(txn.proxy, Message::Aborted { cmd: txn.cmd.id });
        if self.failure_detection {
            out.cancel_timer(Timer::VoteTimeout(txid));
        }
    }

    /// §4 step 5: END once everyone acked.
    fn handle_ack(&mut self, from: ProcessId, txid: Txid, out: &mut Outbox<Self>) {
        let Some(txn) = self.coordinating.get_mut(&txid) else { return };
        if txn.phase != Phase::Committed {
            return;
        }
        txn.answered |= Self::bit(from);
        if txn.answered == self.everyone {
            self.coordinating.remove(&txid);
            if self.failure_detection {
                out.cancel_timer(Timer::AckResend(txid));
            }
        }
    }

    // ---- Participant (§4 steps 2, 4) ----

    /// §4 step 2: lock every key (no-wait) and vote.
    fn handle_prepare(&mut self, from: ProcessId, txid: Txid, cmd: Arc<Command>, now: Time, out: &mut Outbox<Self>) {
        if let Some(txn) = self.participant.get(&txid) {
            // A duplicate PREPARE, or one that arrived after this process
            // refused the transaction: repeat the vote it stands by.
            match txn.state {
                TxnState::Aborted => {
                    out.send(from, Message::Vote { txid, yes: false });
                    if !self.failure_detection {
                        self.participant.remove(&txid); // the tombstone served
                    }
                }
                TxnState::Prepared | TxnState::PreCommitted => out.send(from, Message::Vote { txid, yes: true }),
                TxnState::Committed => {}
            }
            return;
        }
        let locked = cmd.keys().any(|key| self.locks.get(&key).is_some_and(|&holder| holder != txid));
        let business_no = self.vote_no_probability > 0.0 && self.rng.random_bool(self.vote_no_probability);
        if locked || business_no {
            // Unilateral abort before voting YES. With failure detection the
            // refusal is remembered, so a duplicated PREPARE is refused too.
            if self.failure_detection {
                let record = ParticipantTxn { cmd: None, state: TxnState::Aborted, prepared_at: now, blocked: false };
                self.participant.insert(txid, record);
            }
            out.send(from, Message::Vote { txid, yes: false });
            return;
        }
        for key in cmd.keys() {
            self.locks.insert(key, txid);
        }
        // Force-logged before the vote.
        let record = ParticipantTxn { cmd: Some(cmd), state: TxnState::Prepared, prepared_at: now, blocked: false };
        self.participant.insert(txid, record);
        out.send(from, Message::Vote { txid, yes: true });
        if self.failure_detection {
            out.set_timer(Timer::Decision(txid), self.first_termination_delay(txid));
        }
    }

    /// 3PC §9 step 2 at a participant: Uncertain -> PreCommitted, PRE_ACK.
    fn handle_pre_commit(&mut self, from: ProcessId, txid: Txid, out: &mut Outbox<Self>) {
        let Some(txn) = self.participant.get_mut(&txid) else { return };
        match txn.state {
            TxnState::Prepared | TxnState::PreCommitted => {
                txn.state = TxnState::PreCommitted;
                out.send(from, Message::PreAck { txid });
                if self.failure_detection {
                    out.set_timer(Timer::Decision(txid), self.first_termination_delay(txid));
                }
            }
            // Already committed: the sender may count this process.
            TxnState::Committed => out.send(from, Message::PreAck { txid }),
            TxnState::Aborted => {}
        }
    }

    /// §4 step 4: learn the decision.
    fn handle_decision(&mut self, txid: Txid, commit: bool, now: Time, out: &mut Outbox<Self>) {
        match self.participant.get(&txid).map(|t| t.state) {
            Some(TxnState::Prepared | TxnState::PreCommitted) => {
                if commit {
                    self.commit_locally(txid, now, out);
                } else {
                    self.abort_locally(txid, out);
                }
            }
            // COMMIT re-sent until acked (ACK_RESEND).
            Some(TxnState::Committed) if commit => out.send(txid.coordinator, Message::Ack { txid }),
            // A COMMIT of an aborted transaction (or the reverse) happens
            // only when 3PC's termination decided on both sides of a
            // partition: the atomicity violation §9 warns of. Ignored;
            // the verdict sees the replicas diverge.
            Some(_) => {}
            None if !commit => {
                // The ABORT overtook the PREPARE: remember the refusal.
                let record = ParticipantTxn { cmd: None, state: TxnState::Aborted, prepared_at: now, blocked: false };
                self.participant.insert(txid, record);
            }
            None => {} // a COMMIT this process never voted for: absurd
        }
    }

    /// Applies a prepared transaction, releases its locks, ACKs.
    fn commit_locally(&mut self, txid: Txid, now: Time, out: &mut Outbox<Self>) {
        let txn = self.participant.get_mut(&txid).expect("prepared");
        txn.state = TxnState::Committed;
        let cmd = txn.cmd.clone().expect("a prepared transaction has its command");
        if !self.failure_detection {
            // Only termination and duplicates consult decided records.
            self.participant.remove(&txid);
        }
        self.release(txid, &cmd);
        if self.pending.remove(&cmd.id).is_some() && self.failure_detection {
            out.cancel_timer(Timer::Retry(cmd.id));
        }
        out.send(txid.coordinator, Message::Ack { txid });
        if self.failure_detection {
            out.cancel_timer(Timer::Decision(txid));
        }
        if txid.coordinator == self.id {
            // Decided by a termination round while this coordinator waited.
            if let Some(txn) = self.coordinating.get_mut(&txid)
                && txn.phase != Phase::Committed
            {
                txn.phase = Phase::Committed;
                txn.answered = 0;
                self.in_flight.remove(&cmd.id);
            }
        }
        self.terminations.remove(&txid);
        out.execute((cmd, now));
    }

    /// Discards a prepared transaction and releases its locks.
    fn abort_locally(&mut self, txid: Txid, out: &mut Outbox<Self>) {
        let txn = self.participant.get_mut(&txid).expect("prepared");
        txn.state = TxnState::Aborted;
        let cmd = txn.cmd.clone();
        if !self.failure_detection {
            self.participant.remove(&txid);
        }
        if let Some(cmd) = cmd {
            self.release(txid, &cmd);
        }
        if self.failure_detection {
            out.cancel_timer(Timer::Decision(txid));
        }
        if txid.coordinator == self.id {
            self.abort_as_coordinator(txid, None, out);
        }
        self.terminations.remove(&txid);
    }

    fn release(&mut self, txid: Txid, cmd: &Command) {
        for key in cmd.keys() {
            if self.locks.get(&key) == Some(&txid) {
                self.locks.remove(&key);
            }
        }
    }
}

impl<const THREE_PHASE: bool> Protocol for AtomicCommit<THREE_PHASE> {
    type Message = Message;
    type Timer = Timer;
    type Executor = DecisionExecutor;
    type Options = Options;

    const RESTARTS: bool = true;

    fn new(setup: ProcessSetup, options: &Options) -> (Self, DecisionExecutor) {
        let n = setup.n();
        debug_assert!(Self::check(n, setup.config.f).is_ok());
        let process = AtomicCommit {
            id: setup.id,
            everyone: setup.processes.iter().fold(0, |bits, &p| bits | Self::bit(p)),
            fixed_coordinator: setup.config.leader.unwrap_or(setup.processes[0]),
            processes: setup.processes,
            policy: options.coordinator_policy,
            failure_detection: setup.config.failure_detection,
            vote_no_probability: options.vote_no_probability.clamp(0.0, 1.0),
            vote_timeout_ns: options.vote_timeout_ns.unwrap_or(DEFAULT_VOTE_TIMEOUT_NS),
            decision_timeout_ns: options.decision_timeout_ns.unwrap_or(DEFAULT_DECISION_TIMEOUT_NS),
            term_retry_ns: options.term_retry_ns.unwrap_or(DEFAULT_TERM_RETRY_NS),
            retry_backoff_ns: options.retry_backoff_ns.unwrap_or(DEFAULT_RETRY_BACKOFF_NS),
            term_collect_ns: options.term_collect_ns.unwrap_or(DEFAULT_TERM_COLLECT_NS),
            term_stagger_ns: options.term_stagger_ns.unwrap_or(DEFAULT_TERM_STAGGER_NS),
            rng: setup.rng,
            participant: BTreeMap::new(),
            locks: BTreeMap::new(),
            next_counter: 0,
            coordinating: BTreeMap::new(),
            in_flight: BTreeMap::new(),
            terminations: BTreeMap::new(),
            pending: BTreeMap::new(),
        };
        (process, DecisionExecutor)
    }

    fn restart(&mut self, fresh: Self, _executor: &mut DecisionExecutor, now: Time, out: &mut Outbox<Self>) {
        self.restart_from_wal(fresh, now, out);
    }

    fn submit(&mut self, cmd: Arc<Command>, now: Time, out: &mut Outbox<Self>) {
        // A client's resubmission (faults) of a command pending here is
        // routed again without counting as an abort.
        self.pending.entry(cmd.id).or_insert_with(|| Pending { cmd: cmd.clone(), aborts: 0 });
        self.route(cmd, now, out);
    }

    fn handle(&mut self, from: ProcessId, msg: Message, now: Time, out: &mut Outbox<Self>) {
        match msg {
            Message::Forward { cmd } => {
                if self.policy == CoordinatorPolicy::Fixed && self.fixed_coordinator == self.id {
                    self.begin(cmd, from, now, out);
                }
            }
            Message::Prepare { txid, cmd } => {
                if txid.coordinator == from {
                    self.handle_prepare(from, txid, cmd, now, out);
                }
            }
            Message::Vote { txid, yes } => {
                if txid.coordinator == self.id {
                    self.handle_vote(from, txid, yes, now, out);
                }
            }
            Message::PreCommit { txid } => {
                if THREE_PHASE {
                    self.handle_pre_commit(from, txid, out);
                }
            }
            Message::PreAck { txid } => {
                if THREE_PHASE {
                    self.handle_pre_ack(from, txid, now, out);
                }
            }
            Message::Decision { txid, commit } => self.handle_decision(txid, commit, now, out),
            Message::Ack { txid } => {
                if txid.coordinator == self.id {
                    self.handle_ack(from, txid, out);
                }
            }
            Message::Aborted { cmd } => self.handle_aborted(cmd, out),
            Message::DecisionReq { txid } => self.handle_decision_req(from, txid, out),
            Message::DecisionResp { txid, outcome } => self.handle_decision_resp(txid, outcome, now, out),
            Message::StateReq { txid } => {
                if THREE_PHASE {
                    self.handle_state_req(from, txid, now, out);
                }
            }
            Message::StateResp { txid, state } => {
                if THREE_PHASE {
                    self.handle_state_resp(from, txid, state, now, out);
                }
            }
        }
    }

    fn handle_timer(&mut self, timer: Timer, now: Time, out: &mut Outbox<Self>) {
        match timer {
            Timer::Retry(cmd) => self.handle_retry(cmd, now, out),
            Timer::VoteTimeout(txid) => {
                if self.coordinating.get(&txid).is_some_and(|t| t.phase == Phase::Collecting) {
                    self.abort_as_coordinator(txid, None, out);
                }
            }
            Timer::AckResend(txid) => self.resend_commit(txid, out),
            Timer::Decision(txid) => self.decision_timeout(txid, now, out),
            Timer::TermCollect(txid) => self.termination_deadline(txid, now, out),
        }
    }
}
