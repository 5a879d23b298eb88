//! Deferred update replication (DUR), multi-primary
//! (`shared/specs/deferred-update.md`).
//!
//! Every replica holds the whole store and is the *delegate* of the
//! clients nearest to it. A delegate executes a transaction locally on
//! its current snapshot (§4 step 1). A read-only one is answered at once,
//! with no message to anyone (§4 step 2): reads may be stale, so the
//! history is sequentially consistent, not linearizable (§8). An update
//! is atomically broadcast as a CERTIFY request (§4 step 3); every replica
//! delivers the requests in the same order and certifies each one the
//! same way, with no vote round (§4 steps 4–5, `certifier.rs`): it
//! commits iff no transaction delivered after its snapshot wrote a key it
//! read. The delegate's own delivery answers the client (§4 step 6); an
//! abort is executed again on a newer snapshot after `RETRY_BACKOFF ·
//! attempt` (§4 step 7; see `retry` for the departures: the delegate, not
//! the client, retries, and after `MAX_RETRIES` aborts it does not give
//! up but has the transaction executed at its delivery position, where it
//! cannot abort).
//!
//! The abcast is FPaxos (the spec's default PAXOS, leader L = the run's
//! leader), reused as it is: `FPaxos<Certify>` orders certification
//! requests instead of commands, with its leader change, catch-up and
//! garbage collection (only with failure detection, as for FPaxos). This
//! process drives it with an outbox of its own and carries its effects
//! over: its messages and timers wrapped, its chosen slots delivered to
//! the certifier.
//!
//! Faults (§7): a delegate crash after the broadcast loses nothing (the
//! request is delivered and decided everywhere); its client times out and
//! resubmits the same command to another replica, which answers from what
//! it delivered (committed: the engine's client table has the results) or
//! executes it again; a second CERTIFY with a committed txid is skipped
//! (§7.3). The spec's OUTCOME_QUERY is folded into that resubmission
//! (departure): the engine's clients resubmit, they do not query. Abcast
//! leader crash: FPaxos's leader change. Replica restart (§7.4): state
//! transfer from a peer, then the abcast log; local clients refused until
//! caught up (`restart.rs`).

mod certifier;
mod executor;
mod messages;
mod restart;
#[cfg(test)]
mod tests;

pub use certifier::{Certifier, Delivery, Verdict};
pub use executor::{DurExecutor, Execution};
pub use messages::{Certify, Message, ReadSet, Timer};
pub use restart::STATE_RETRY_NS;

use crate::fpaxos::{self, FPaxos};
use crate::shared::slot_executor::ChosenSlot;
use sim_core::protocol::{Effect, Outbox, ProcessSetup, Protocol};
use sim_core::time::NS_PER_MS;
use sim_core::{Command, CommandId, ProcessId, Time};
use std::collections::BTreeMap;
use std::sync::Arc;

/// `RETRY_BACKOFF` per attempt (§6): 10 ms.
pub const DEFAULT_RETRY_BACKOFF_NS: u64 = 10 * NS_PER_MS;

/// The back-off grows with the attempt up to this many: the spec's
/// client gives up after `MAX_RETRIES` (unspecified), ours cannot, and a
/// back-off growing without bound starved hot keys (a swarm at 100%
/// conflicts took 120 s for 300 commands: rounds of certification then
/// wait for the shortest back-off among the retriers).
pub const MAX_BACKOFF_ATTEMPTS: u32 = 3;

/// `MAX_RETRIES` (§4 step 7; unspecified there): optimistic attempts
/// before the transaction is executed at its delivery position instead
/// (see `DeferredUpdate::retry`).
pub const DEFAULT_MAX_RETRIES: u32 = 3;

/// `CLIENT_RETRY` (§6, §7.3): with failure detection, a delegate that
/// has no outcome for its request this long after broadcasting it
/// executes and broadcasts it again (the request may have been lost with
/// a crashed leader or on a lossy link).
pub const RESEND_AFTER_NS: u64 = 2_000 * NS_PER_MS;

/// DUR's options (deferred-update.md §1, §6).
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Options {
    /// `RETRY_BACKOFF` in ns per attempt (default
    /// [`DEFAULT_RETRY_BACKOFF_NS`]): an aborted transaction is executed
    /// again `attempt · retry_backoff_ns` after its abort is delivered.
    pub retry_backoff_ns: Option<u64>,
    /// `MAX_RETRIES` (default [`DEFAULT_MAX_RETRIES`]): aborts after
    /// which a transaction is executed at its delivery position.
    pub max_retries: Option<u32>,
}

/// A local update transaction awaiting its outcome (§2 `pending`).
#[derive(Debug)]
struct Pending {
    cmd: Arc<Command>,
    /// This delegate's latest attempt; verdicts of older ones are stale.
    attempt: u32,
    /// When the client's command arrived (for the commit latency).
    arrived: Time,
}

/// One DUR replica: delegate of its clients, abcast member, certifier.
#[derive(Debug)]
pub struct DeferredUpdate {
    id: ProcessId,
    /// Every replica, this one included.
    processes: Vec<ProcessId>,
    /// The atomic broadcast.
    abcast: FPaxos<Certify>,
    /// Where the abcast records its effects before they are carried over.
    abcast_out: Outbox<FPaxos<Certify>>,
    certifier: Certifier,
    pending: BTreeMap<CommandId, Pending>,
    retry_backoff_ns: u64,
    max_retries: u32,
    /// Runs with faults: resend requests without an outcome.
    failure_detection: bool,
    /// Certifications of this delegate's requests that aborted.
    aborts: u64,
    /// This delegate's requests broadcast to be executed at delivery
    /// (after `MAX_RETRIES` aborts).
    ordered: u64,
    /// Client submissions refused while catching up after a restart.
    refused: u64,
    /// After a restart, until caught up (§7.4): clients are refused.
    catch_up: Option<restart::CatchUp>,
}

impl DeferredUpdate {
    /// DUR's rules are its abcast's: FPaxos's `1 <= f <= n/2`.
    pub fn check(n: usize, f: usize) -> Result<(), String> {
        FPaxos::check(n, f)
    }

    /// Deliveries processed (the snapshot counter).
    pub fn delivered(&self) -> u64 {
        self.certifier.delivered()
    }

    /// The certifier's version of `key`.
    pub fn version(&self, key: sim_core::Key) -> u64 {
        self.certifier.version(key)
    }

    /// Certifications of this delegate's requests that aborted.
    pub fn aborts(&self) -> u64 {
        self.aborts
    }

    /// This delegate's requests broadcast to be executed at their
    /// delivery position, after `MAX_RETRIES` aborts.
    pub fn ordered(&self) -> u64 {
        self.ordered
    }

    /// Client submissions refused while catching up after a restart.
    pub fn refused(&self) -> u64 {
        self.refused
    }

    /// Local update transactions awaiting their outcome.
    pub fn pending(&self) -> usize {
        self.pending.len()
    }

    /// The abcast leader this replica believes in.
    pub fn abcast_leader(&self) -> ProcessId {
        self.abcast.leader()
    }

    /// §4 steps 1 and 3: execute `id` on the current snapshot and
    /// broadcast its CERTIFY.
    fn execute_and_broadcast(&mut self, id: CommandId, now: Time, out: &mut Outbox<Self>) {
        let Some(pending) = self.pending.get(&id) else { return };
        let ordered = pending.attempt > self.max_retries;
        let certify = Certify {
            cmd: pending.cmd.clone(),
            delegate: self.id,
            attempt: pending.attempt,
            snapshot: self.certifier.delivered(),
            readset: if ordered { ReadSet::new() } else { self.certifier.read_set(&pending.cmd) },
            ordered,
        };
        self.ordered += u64::from(ordered);
        self.abcast.broadcast(Arc::new(certify), now, &mut self.abcast_out);
        if self.failure_detection {
            // §7.3; replaced by the back-off if it aborts, cancelled if it commits.
            out.set_timer(Timer::Retry(id), RESEND_AFTER_NS);
        }
        self.carry_over(now, out);
    }

    /// Carries the abcast's effects over: messages and timers wrapped,
    /// chosen slots delivered, leader changes reported.
    fn carry_over(&mut self, now: Time, out: &mut Outbox<Self>) {
        for effect in self.abcast_out.take() {
            match effect {
                Effect::Send { to, msg } => out.send(to, Message::Abcast(msg)),
                Effect::SetTimer { timer, after_ns } => out.set_timer(Timer::Abcast(timer), after_ns),
                Effect::CancelTimer { timer } => out.cancel_timer(Timer::Abcast(timer)),
                Effect::Execute(ChosenSlot { slot, cmd }) => self.deliver(slot, cmd, now, out),
            }
        }
        self.check_caught_up(out);
        let recovery = std::mem::take(&mut self.abcast_out.metrics_mut().recovery);
        for _ in 0..recovery.leader_changes {
            out.leader_change();
        }
        for _ in 0..recovery.recoveries_started {
            out.recovery_started();
        }
        for _ in 0..recovery.recoveries_finished {
            out.recovery_finished();
        }
    }

    /// §4 steps 4–6: the abcast chose `value` for `slot`.
    fn deliver(&mut self, slot: u64, value: Option<Arc<Certify>>, now: Time, out: &mut Outbox<Self>) {
        for Delivery { certify, verdict, .. } in self.certifier.chosen(slot, value) {
            let id = certify.cmd.id;
            match verdict {
                Verdict::Commit => {
                    // Every replica applies the writeset; the engine answers
                    // the client at its delegate (and at any replica it
                    // resubmitted to).
                    out.execute(Execution { cmd: certify.cmd.clone(), since: now });
                    if let Some(pending) = self.pending.remove(&id) {
                        out.cancel_timer(Timer::Retry(id));
                        out.commit_latency(now.since(pending.arrived));
                    }
                    // Counted once per transaction, by the delegate whose
                    // request committed. "Fast": at its first
                    // certification; "slow": after at least one abort
                    // (so the fast-path ratio is 1 − the abort rate per
                    // committed transaction).
                    if certify.delegate == self.id {
                        if certify.attempt == 1 {
                            out.fast_path();
                        } else {
                            out.slow_path();
                        }
                    }
                }
                Verdict::Abort if certify.delegate == self.id => {
                    self.aborts += 1;
                    if let Some(pending) = self.pending.get(&id)
                        && pending.attempt == certify.attempt
                    {
                        let backoff = self.retry_backoff_ns * u64::from(pending.attempt.min(MAX_BACKOFF_ATTEMPTS));
                        out.set_timer(Timer::Retry(id), backoff);
                    }
                }
                Verdict::Abort | Verdict::Duplicate => {}
            }
        }
    }

    /// §4 step 7: `RETRY_BACKOFF` after an abort, execute the transaction
    /// again on the current snapshot. Departures: the engine's clients
    /// cannot be told ABORTED (they only resubmit on a timeout), so the
    /// delegate retries for them, with the same txid and the next attempt
    /// number; and after `MAX_RETRIES` aborts, where the spec's client
    /// gives up, the delegate broadcasts the transaction to be executed at
    /// its delivery position instead (`Certify::ordered`, as state machine
    /// replication does): every replica runs it on the same store there,
    /// so it cannot abort.
    ///
    /// Why: optimistic certification alone is live for the system (the
    /// first request delivered on a fresh snapshot commits) but not for
    /// each transaction. On one hot key a delegate far from the abcast
    /// leader learns each commit later and its re-execution reaches the
    /// leader later than nearer delegates' next transactions, so it loses
    /// every round while they have work: in a 120 s swarm at 100%
    /// conflicts without reads, 76 of 1,000 seeds (f = 1) and 828 (f = 2)
    /// had a transaction still retrying, and so did a run without faults.
    /// The spec's answer is to abort it for good (`MAX_RETRIES`, then
    /// ABORTED to the client); the engine has no aborted outcome, so this
    /// bounds the attempts instead. Serializability holds: the
    /// transaction reads and writes at one position of the total order.
    fn retry(&mut self, id: CommandId, now: Time, out: &mut Outbox<Self>) {
        let Some(pending) = self.pending.get_mut(&id) else { return };
        pending.attempt += 1;
        self.execute_and_broadcast(id, now, out);
    }
}

impl Protocol for DeferredUpdate {
    type Message = Message;
    type Timer = Timer;
    type Executor = DurExecutor;
    type Options = Options;

    const RESTARTS: bool = true;

    /// §7.4, see `restart.rs`: the abcast's acceptor state and the store
    /// (with its versions and committed txids) are durable; the replica
    /// then catches up from a peer before it serves clients again.
    fn restart(&mut self, fresh: Self, _executor: &mut DurExecutor, now: Time, out: &mut Outbox<Self>) {
        // The executor applies what it is handed at once: it holds nothing.
        self.restart_transferring(fresh, now, out);
    }

    fn new(setup: ProcessSetup, options: &Options) -> (Self, DurExecutor) {
        let id = setup.id;
        let processes = setup.processes.clone();
        let failure_detection = setup.config.failure_detection;
        let (abcast, _) = <FPaxos<Certify> as Protocol>::new(setup, &fpaxos::Options::default());
        let dur = DeferredUpdate {
            id,
            processes,
            abcast,
            abcast_out: Outbox::new(),
            certifier: Certifier::new(),
            pending: BTreeMap::new(),
            retry_backoff_ns: options.retry_backoff_ns.unwrap_or(DEFAULT_RETRY_BACKOFF_NS),
            max_retries: options.max_retries.unwrap_or(DEFAULT_MAX_RETRIES),
            failure_detection,
            aborts: 0,
            ordered: 0,
            refused: 0,
            catch_up: None,
        };
        (dur, DurExecutor)
    }

    fn start(&mut self, now: Time, out: &mut Outbox<Self>) {
        self.abcast.start(now, &mut self.abcast_out);
        self.carry_over(now, out);
    }

    fn submit(&mut self, cmd: Arc<Command>, now: Time, out: &mut Outbox<Self>) {
        let id = cmd.id;
        if self.catching_up() {
            // §7.4: refused until caught up (see `restart.rs`).
            self.refused += 1;
            return;
        }
        if self.certifier.committed(id) {
            // A resubmission of a transaction delivered here already (§7.1):
            // the engine's client table answers it with its results.
            out.execute(Execution { cmd, since: now });
            return;
        }
        if cmd.is_read_only() {
            // §4 step 2: answered from the local snapshot, no broadcast.
            out.execute(Execution { cmd, since: now });
            return;
        }
        match self.pending.get_mut(&id) {
            // The client resubmitted to this delegate (its request may be
            // lost): execute again, as a new attempt.
            Some(pending) => pending.attempt += 1,
            None => {
                self.pending.insert(id, Pending { cmd, attempt: 1, arrived: now });
            }
        }
        out.cancel_timer(Timer::Retry(id));
        self.execute_and_broadcast(id, now, out);
    }

    fn handle(&mut self, from: ProcessId, msg: Message, now: Time, out: &mut Outbox<Self>) {
        match msg {
            Message::Abcast(msg) => {
                self.abcast.handle(from, msg, now, &mut self.abcast_out);
                self.carry_over(now, out);
            }
            Message::StateRequest { from_slot } => self.handle_state_request(from, from_slot, out),
            Message::State { delivered, slots } => self.handle_state(from, delivered, slots, now, out),
        }
    }

    fn handle_timer(&mut self, timer: Timer, now: Time, out: &mut Outbox<Self>) {
        match timer {
            Timer::Abcast(timer) => {
                self.abcast.handle_timer(timer, now, &mut self.abcast_out);
                self.carry_over(now, out);
            }
            Timer::Retry(id) => self.retry(id, now, out),
            Timer::StateRetry => self.on_state_retry(out),
        }
    }
}
