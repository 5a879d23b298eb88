//! Viewstamped Replication Revisited (Liskov & Cowling 2012), as specified
//! in `shared/specs/vr.md`.
//!
//! The primary of view `v` orders every request into the log, sends each
//! entry in a PREPARE to every backup and commits it once `f` backups
//! acknowledged it (cumulative PREPARE_OKs); commit numbers ride on later
//! PREPAREs or on an idle COMMIT every `HB`. Every replica executes the
//! committed prefix in op order through a [`SlotExecutor`].
//!
//! Clients talk to their co-located process, which forwards the request to
//! the primary; at commit the primary answers that process with a COMMIT
//! (the spec's REPLY routed through the client's replica, classic README
//! "Clients"), so a client at a backup waits
//! `d(p,P) + 2·d_{f+1}(P) + d(P,p)`.
//!
//! Failure handling is driven by this module's own timers: view change
//! (§7), catching up with a missed START_VIEW (§4.1, §16.1), recovery of a
//! restarted replica with a nonce (§8) and state transfer (§9).
//!
//! Quorums: the spec has `n = 2f + 1`. For `n > 2f + 1` this module keeps
//! the commit quorum at `f + 1` (the spec's latency formula) and raises
//! the view-change quorum to `n - f`, so every view-change quorum meets
//! every commit quorum (the Flexible Paxos argument); with `n = 2f + 1`
//! both are `f + 1`, exactly the spec.

mod backup_reads;
#[cfg(test)]
mod backup_reads_tests;
mod batching;
#[cfg(test)]
mod batching_tests;
mod epochs;
#[cfg(test)]
mod epochs_tests;
mod lease;
#[cfg(test)]
mod lease_tests;
mod messages;
mod recovery;
#[cfg(test)]
mod recovery_tests;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod unrecoverable_tests;
mod witness;
#[cfg(test)]
mod witness_tests;

pub use epochs::{ADMIN_CLIENT, EpochMessage, check_options, epoch_of, first_view};
pub use messages::{Entry, LogSnapshot, Message};

use crate::shared::compact_log::CompactLog;
use crate::shared::pending;
use crate::shared::quorum;
use crate::shared::read_executor::{LogStep, ReadingSlotExecutor};
use crate::shared::slot_executor::ChosenSlot;
pub use batching::{DEFAULT_BATCH_DELAY_MS, DEFAULT_BATCH_MAX};
pub use lease::DEFAULT_LEASE_NS;
use rand::Rng;
pub use recovery::RESTART_GRACE_NS;
use sim_core::protocol::{Outbox, ProcessSetup, Protocol};
use sim_core::time::NS_PER_MS;
use sim_core::{ClientId, Command, FixedHashMap, ProcessId, Time};
use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;

/// A view number; the primary of view `v` is the `v mod n`-th process
/// counted from the configured leader.
pub type View = u64;

/// Most processes one VR group may have (sets of replicas are 64-bit masks).
pub const MAX_PROCESSES: usize = 64;

/// `HB` (vr.md §6): an idle primary sends COMMIT after this long.
pub const DEFAULT_HEARTBEAT_NS: u64 = 100 * NS_PER_MS;
/// `VC_TIMEOUT` and `VC_PROGRESS` (vr.md §6, classic README timer
/// profile): `max(1000 ms, 4·RTT_max)`. The process cannot see the delay
/// matrix, so the default takes RTT_max = 400 ms, the largest RTT of the
/// embedded matrices; set the option for other deployments.
pub const DEFAULT_VIEW_CHANGE_TIMEOUT_NS: u64 = 1600 * NS_PER_MS;
/// `ST_GAP` (vr.md §6): how long a hole in the log may stay open before
/// state transfer.
pub const STATE_TRANSFER_GAP_NS: u64 = 200 * NS_PER_MS;
/// `ST_RETRY` (vr.md §6): GET_STATE and REQUEST_START_VIEW re-sends.
pub const STATE_TRANSFER_RETRY_NS: u64 = 500 * NS_PER_MS;
/// `REC_RETRY` (vr.md §6): RECOVERY re-sends.
pub const RECOVERY_RETRY_NS: u64 = 500 * NS_PER_MS;
/// `CLIENT_RETRY` (vr.md §6): a forwarded request not executed after this
/// long is forwarded again (the client's process retries for it).
pub const CLIENT_RETRY_NS: u64 = 2000 * NS_PER_MS;

/// VR's options (vr.md §6 timers); `None` takes the spec's default.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Options {
    /// `HB` in ns (default [`DEFAULT_HEARTBEAT_NS`]).
    pub heartbeat_ns: Option<u64>,
    /// `VC_TIMEOUT` = `VC_PROGRESS` in ns (default
    /// [`DEFAULT_VIEW_CHANGE_TIMEOUT_NS`]); must exceed `HB + 2·RTT_max`.
    pub view_change_timeout_ns: Option<u64>,
    /// Leased reads at the primary (§10); off by default (reads go
    /// through the log).
    pub leased_reads: bool,
    /// `LEASE` L in ns (default [`DEFAULT_LEASE_NS`]); must be below
    /// `VC_TIMEOUT`.
    pub lease_ns: Option<u64>,
    /// Reads at backups (§10 last bullet, `backup_reads.rs`): a read is
    /// answered by the client's own replica; not linearizable (runs are
    /// judged sequential). Takes precedence over `leased_reads`.
    pub backup_reads: bool,
    /// `BATCH_MAX` (§12): requests per PREPARE (default
    /// [`DEFAULT_BATCH_MAX`] = 1, batching off).
    pub batch_max: Option<usize>,
    /// `BATCH_DELAY` (§12) in ms (default [`DEFAULT_BATCH_DELAY_MS`]).
    pub batch_delay_ms: Option<u64>,
    /// Witnesses (§11): `f + 1` active replicas, the others witnesses.
    pub witnesses: bool,
    /// `PROMOTE_TIMEOUT` (§11) in ns (default `max(2·HB, VC_TIMEOUT / 4)`,
    /// see the `witness` module).
    pub promote_timeout_ns: Option<u64>,
    /// Planted bug (tests only): with leased reads, backups join view
    /// changes despite their promise (§10b), so a new view can commit
    /// while the old primary still serves reads; the verdict must catch
    /// the stale read.
    #[serde(skip)]
    pub plant_lease_without_promise: bool,
    /// Planted bug (tests only): the new primary adopts the log of the
    /// first DO_VIEW_CHANGE it holds (lowest sender id) instead of the
    /// §7 step 3 rule (latest normal view, then highest op), so committed
    /// ops can be lost; the verdict must catch it.
    #[serde(skip)]
    pub plant_any_log: bool,
    /// Reconfiguration (§13, [`epochs`]): the processes (0-based indices
    /// into the run's process list) of epoch 0; default all of them.
    pub initial_members: Option<Vec<usize>>,
    /// Reconfiguration (§13): when the admin's RECONFIGURATION is due, in
    /// ms of simulated time; needs `new_members`.
    pub reconfigure_at_ms: Option<u64>,
    /// Reconfiguration (§13): the processes (0-based indices) of epoch 1.
    pub new_members: Option<Vec<usize>>,
}

/// A replica's status (vr.md §2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    /// Processing requests in `view`.
    Normal,
    /// Changing to `view`: no PREPAREs accepted, no clients answered.
    ViewChange,
    /// Restarted without state, rebuilding it (§8).
    Recovering,
    /// Between epochs (§13.3-4): a new replica fetching the log up to the
    /// RECONFIGURATION, or a leaving one serving it.
    Transitioning,
}

/// VR timers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Timer {
    /// The primary's idle COMMIT (re-armed lazily to `HB` after the last
    /// message it sent to every backup).
    Heartbeat,
    /// Every `HB` at every replica: suspicion of the primary, view-change
    /// re-sends and progress, recovery and client re-sends.
    Tick,
    /// A hole in the log stayed open: fetch the missing entries (§9).
    StateTransfer,
    /// The primary's batch waited `BATCH_DELAY` (§12).
    Batch,
}

/// A DO_VIEW_CHANGE the new primary holds (§7.3).
#[derive(Debug)]
struct DoViewChange {
    last_normal_view: View,
    log: LogSnapshot,
    is_witness: bool,
}

/// One VR replica.
#[derive(Debug)]
pub struct Vr {
    id: ProcessId,
    processes: Vec<ProcessId>,
    /// The configuration of each epoch and the transition (§13).
    epochs: epochs::EpochState,
    heartbeat_ns: u64,
    view_change_timeout_ns: u64,
    plant_any_log: bool,
    leased_reads: bool,
    lease_ns: u64,
    plant_lease_without_promise: bool,
    backup_reads: bool,
    /// Reads at backups: the sessions of the clients (§10).
    read_sessions: backup_reads::ReadSessions,
    /// Leased reads (§10).
    lease: lease::LeaseState,
    /// Batching (§12).
    batch: batching::Batch,
    /// Witnesses (§11).
    witnesses: witness::Witnesses,
    /// Runs with faults: the primary re-sends PREPAREs that went
    /// unacknowledged (a lost PREPARE is otherwise never re-sent while the
    /// primary is idle, since the COMMIT heartbeat does not reveal it).
    failure_detection: bool,
    rng: sim_core::rng::StreamRng,

    view: View,
    status: Status,
    last_normal_view: View,
    log: CompactLog<Entry>,
    /// Highest op known committed; at a backup it may exceed the log.
    commit: u64,
    /// Ops handed to the executor (all `<= min(commit, op)`).
    executed: u64,
    /// Everyone executed up to here (learned from the primary): the log
    /// prefix that may be discarded.
    stable: u64,
    /// Per client, the highest request number executed: retried requests
    /// execute at most once (the spec's client table).
    executed_seq: FixedHashMap<ClientId, u64>,

    // Primary (§4 step 5).
    /// Per process index, the highest op it acknowledged in this view.
    acked: Vec<u64>,
    /// Per process index, how far it reported having executed.
    executed_by: Vec<u64>,
    /// Per client, the highest request number in the log: duplicates of
    /// an in-flight request are dropped (§4 step 2).
    appended_seq: FixedHashMap<ClientId, u64>,
    /// `(op, when the request reached the primary)` of uncommitted ops
    /// this primary appended, for the commit-latency metric.
    appended_at: VecDeque<(u64, Time)>,
    /// When the primary last sent something to every backup.
    last_broadcast_at: Time,
    /// When the primary's commit number last moved (or it took office):
    /// with failure detection, uncommitted ops are re-sent after
    /// `VC_TIMEOUT / 2` without progress.
    commit_progress_at: Time,
    scratch: Vec<u64>,

    // Backup.
    /// When the primary of this view was last heard from.
    last_heard_at: Time,
    /// PREPAREs received ahead of a hole, by op.
    ahead: BTreeMap<u64, Entry>,
    state_transfer_armed: bool,
    state_transfer_attempts: usize,

    // View change (§7).
    view_change_started_at: Time,
    /// Replicas whose START_VIEW_CHANGE for `view` arrived (bit = index).
    svc_from: u64,
    dvc_sent: bool,
    dvcs: BTreeMap<ProcessId, DoViewChange>,
    /// In ViewChange only because a later view's PREPARE/COMMIT showed a
    /// missed START_VIEW (§4.1).
    awaiting_start_view: bool,
    request_start_view_sent_at: Time,

    // Recovery (§8).
    nonce: u64,
    recovery_sent_at: Time,
    recovery_responses: BTreeMap<ProcessId, (View, Option<LogSnapshot>)>,

    /// Requests of this process's clients not executed here yet, with when
    /// they were last forwarded: re-forwarded after a view change or
    /// `CLIENT_RETRY`.
    pending: pending::Pending,
}

impl Vr {
    /// Checks VR's rules: `1 <= f <= n/2` and at most [`MAX_PROCESSES`].
    /// `n = 2f + 1` is the paper's setting; larger `n` keeps the commit
    /// quorum at `f + 1` and uses view-change quorums of `n - f`.
    pub fn check(n: usize, f: usize) -> Result<(), String> {
        if n > MAX_PROCESSES {
            return Err(format!("VR supports at most {MAX_PROCESSES} processes, got n = {n}"));
        }
        quorum::check_f(n, f)
    }

    /// A replica that restarted without state and must run recovery (§8)
    /// before it takes part again.
    pub fn new_recovering(setup: ProcessSetup, options: &Options) -> (Self, ReadingSlotExecutor) {
        let (mut vr, executor) = Self::new(setup, options);
        vr.status = Status::Recovering;
        (vr, executor)
    }

    /// The current view.
    pub fn view(&self) -> View {
        self.view
    }

    /// The current status.
    pub fn status(&self) -> Status {
        self.status
    }

    /// The op number of the last log entry.
    pub fn op(&self) -> u64 {
        self.log.last()
    }

    /// The highest op known committed.
    pub fn commit_number(&self) -> u64 {
        self.commit
    }

    /// Ops handed to the executor.
    pub fn executed(&self) -> u64 {
        self.executed
    }

    /// Log entries still held (not yet discarded as stable).
    pub fn log_len(&self) -> usize {
        self.log.len()
    }

    /// The log entry at `op`, if held.
    pub fn entry(&self, op: u64) -> Option<&Entry> {
        self.log.get(op)
    }

    /// The primary of view `view` (of the view's epoch's configuration).
    pub fn primary_of(&self, view: View) -> ProcessId {
        if self.witnesses.enabled {
            return self.witnesses.primary_of(view);
        }
        self.epochs.plan.primary_of(view)
    }

    fn is_primary(&self) -> bool {
        self.primary_of(self.view) == self.id
    }

    fn n(&self) -> usize {
        self.members().len()
    }

    /// View-change (and DVC) quorum: `n - f` (= f + 1 when n = 2f + 1).
    fn view_change_quorum(&self) -> usize {
        quorum::fpaxos_phase1(self.n(), self.f())
    }

    /// The other members of the current configuration.
    fn others(&self) -> Vec<ProcessId> {
        self.members().iter().copied().filter(|&p| p != self.id).collect()
    }

    fn snapshot(&self) -> LogSnapshot {
        LogSnapshot { base: self.log.base(), entries: self.log.suffix_after(0), commit: self.commit }
    }

    /// Everyone reported executing up to here (the primary's view of it).
    fn stable_floor(&self) -> u64 {
        if self.epochs.plan.pending(self.epoch()) {
            return 0; // new replicas will need the whole log (§13.3)
        }
        let me = self.id.index();
        let others = self.executed_by.iter().enumerate().filter(|&(i, _)| i != me).map(|(_, &e)| e);
        others.fold(self.executed, u64::min)
    }

    // ---- Normal case (§4) ----

    /// A client request reached this process (from its client or forwarded).
    fn route_request(&mut self, cmd: Arc<Command>, origin: ProcessId, now: Time, out: &mut Outbox<Self>) {
        if !self.is_member() && self.status != Status::Recovering {
            // A learner, or a replica of an old epoch (§13.4 EPOCH_MOVED).
            out.send(self.primary_of(self.view), Message::Request { cmd, origin });
            return;
        }
        if self.status != Status::Normal {
            return; // the origin re-forwards once a view is established
        }
        if self.is_primary() {
            self.accept_request(cmd, origin, now, out);
        } else {
            out.send(self.primary_of(self.view), Message::Request { cmd, origin });
        }
    }

    /// §4 steps 2-3 at the primary.
    fn accept_request(&mut self, cmd: Arc<Command>, origin: ProcessId, now: Time, out: &mut Outbox<Self>) {
        let (client, seq) = (cmd.id.client, cmd.id.seq);
        if self.executed_seq.get(&client).is_some_and(|&done| done >= seq) {
            // Executed already: re-send the "reply" (the commit number).
            if origin != self.id {
                out.send(origin, self.commit_message(out.clock(now)));
            }
            return;
        }
        if cmd.is_read_only() && self.lease_read(cmd.id, origin, now, out) {
            return; // §10c: answered under the lease, no PREPARE
        }
        if self.appended_seq.get(&client).is_some_and(|&logged| logged >= seq) {
            return; // in the log already; its reply will follow the commit
        }
        if self.reconfiguration_logged() {
            return; // §13.1; the origin re-routes it to the new epoch
        }
        self.appended_seq.insert(client, seq);
        let entry = Entry { cmd, origin };
        if self.batch.enabled() {
            return self.buffer_request(entry, now, out); // §12
        }
        let op = self.log.push(entry.clone());
        self.appended_at.push_back((op, now));
        let sent_at = out.clock(now);
        let msg =
            Message::Prepare { view: self.view, op, entry, commit: self.commit, stable: self.stable_floor(), sent_at };
        out.send_to_each(&self.prepare_targets(), msg);
        self.last_broadcast_at = now;
    }

    /// A COMMIT stamped with the primary's local clock `sent_at` (§10a).
    fn commit_message(&self, sent_at: Time) -> Message {
        Message::Commit { view: self.view, commit: self.commit, stable: self.stable_floor(), sent_at }
    }

    /// The view checks of §4.1 for a PREPARE, COMMIT or NEW_STATE from the
    /// primary of `view`; true if the message belongs to the current view
    /// and this replica is a Normal backup.
    fn accept_from_primary(&mut self, from: ProcessId, view: View, now: Time, out: &mut Outbox<Self>) -> bool {
        if self.status == Status::Recovering || view < self.view || from != self.primary_of(view) {
            return false;
        }
        if view > self.view || self.status == Status::ViewChange {
            self.await_start_view(view, now, out);
            return false;
        }
        if self.status == Status::Transitioning && !self.epochs.leaving {
            return false; // a new replica fetching the epoch's log (§13.3)
        }
        if self.is_primary() {
            return false; // a primary never hears from another primary of its view
        }
        self.last_heard_at = now;
        true
    }

    /// §4 step 4, for a PREPARE of the current view from its primary.
    fn handle_prepare(&mut self, from: ProcessId, view: View, op: u64, entry: Entry, out: &mut Outbox<Self>) {
        if op == self.log.last() + 1 {
            self.log.push(entry);
            self.append_ahead();
        } else if op > self.log.last() + 1 {
            self.ahead.insert(op, entry); // reordered: wait for the hole to fill
            self.arm_state_transfer(out);
        }
        self.execute_committed(out);
        // New or not, acknowledge cumulatively (a duplicate re-sends it).
        out.send(from, self.prepare_ok(view));
    }

    /// A cumulative PREPARE_OK for `view`, echoing the latest lease stamp
    /// promised on (§10a).
    fn prepare_ok(&self, view: View) -> Message {
        Message::PrepareOk { view, op: self.log.last(), executed: self.executed, echo: self.lease.granted }
    }

    /// Appends buffered PREPAREs that now follow the log.
    fn append_ahead(&mut self) {
        while let Some(entry) = self.ahead.remove(&(self.log.last() + 1)) {
            self.log.push(entry);
        }
        let last = self.log.last();
        while self.ahead.first_key_value().is_some_and(|(&op, _)| op <= last) {
            self.ahead.pop_first();
        }
    }

    /// What every COMMIT does at a backup or witness, if it comes from the
    /// view's primary (false, and nothing done, otherwise): renew the
    /// lease promise and acknowledge it (§10a), then learn the commit
    /// point.
    fn accept_commit(
        &mut self,
        from: ProcessId,
        view: View,
        (commit, stable, sent_at): (u64, u64, Time),
        now: Time,
        out: &mut Outbox<Self>,
    ) -> bool {
        if !self.accept_from_primary(from, view, now, out) {
            return false;
        }
        if self.leased_reads {
            self.promise(sent_at, now);
            out.send(from, Message::CommitAck { view, echo: sent_at });
        }
        self.learn_commit(commit, stable);
        true
    }

    /// §4 step 6: a COMMIT (heartbeat, or the reply to this process's client).
    fn handle_commit(
        &mut self,
        from: ProcessId,
        view: View,
        (commit, stable, sent_at): (u64, u64, Time),
        now: Time,
        out: &mut Outbox<Self>,
    ) {
        if !self.accept_commit(from, view, (commit, stable, sent_at), now, out) {
            return;
        }
        if self.commit > self.log.last() {
            self.arm_state_transfer(out); // committed entries are missing here
        }
        self.execute_committed(out);
    }

    fn learn_commit(&mut self, commit: u64, stable: u64) {
        self.commit = self.commit.max(commit);
        self.stable = self.stable.max(stable);
    }

    /// §4 step 5 at the primary.
    fn handle_prepare_ok(
        &mut self,
        from: ProcessId,
        view: View,
        op: u64,
        executed: u64,
        now: Time,
        out: &mut Outbox<Self>,
    ) {
        if self.status != Status::Normal || view != self.view || !self.is_primary() {
            return; // stale, or a view this replica is not primary of
        }
        let i = from.index();
        if i >= self.acked.len() {
            return;
        }
        // Learners acknowledge too (how far they executed), but only
        // members count towards the commit quorum (filtered there).
        self.acked[i] = self.acked[i].max(op.min(self.log.last()));
        self.executed_by[i] = self.executed_by[i].max(executed.min(self.commit));
        self.advance_commit(now, out);
    }

    /// Commits every op that `f` backups acknowledged, executes it, and
    /// answers the processes whose clients sent it.
    fn advance_commit(&mut self, now: Time, out: &mut Outbox<Self>) {
        let me = self.id.index();
        self.scratch.clear();
        let members = self.epochs.plan.members(self.epoch());
        let voter = |i: usize| i != me && members.iter().any(|p| p.index() == i);
        self.scratch.extend(self.acked.iter().enumerate().filter(|&(i, _)| voter(i)).map(|(_, &a)| a));
        // The f-th largest backup ack: f backups plus the primary hold it.
        let f = self.f();
        if self.scratch.len() < f {
            return;
        }
        let (_, &mut kth, _) = self.scratch.select_nth_unstable_by(f - 1, |a, b| b.cmp(a));
        let new_commit = kth.min(self.log.last());
        if new_commit <= self.commit {
            return;
        }
        let mut origins = 0u64;
        for (_, entry) in self.log.iter_after(self.commit).take_while(|&(op, _)| op <= new_commit) {
            origins |= 1 << entry.origin.index();
        }
        while self.appended_at.front().is_some_and(|&(op, _)| op <= new_commit) {
            let (_, at) = self.appended_at.pop_front().expect("checked");
            out.commit_latency(now.since(at));
        }
        self.commit = new_commit;
        self.commit_progress_at = now;
        self.execute_committed(out);
        self.stable = self.stable_floor();
        self.discard_stable();
        origins &= !(1 << me);
        if origins != 0 {
            let msg = self.commit_message(out.clock(now));
            for p in self.processes.clone() {
                if origins & (1 << p.index()) != 0 {
                    if self.witnesses.is_unpromoted(p) {
                        self.send_witness_commit(p, now, out); // with the entries to execute
                    } else {
                        out.send(p, msg.clone());
                    }
                }
            }
        }
    }

    /// With failure detection: PREPAREs lost on the way (or whose
    /// PREPARE_OKs were) stall the commit; after `VC_TIMEOUT / 2` without
    /// progress the primary sends the uncommitted ops again to every
    /// backup that has not acknowledged them (duplicates are re-acked).
    fn resend_unacknowledged(&mut self, now: Time, out: &mut Outbox<Self>) {
        let last = self.log.last();
        if last <= self.commit || now.since(self.commit_progress_at) < self.view_change_timeout_ns / 2 {
            return;
        }
        self.commit_progress_at = now;
        let stable = self.stable_floor();
        for p in self.prepare_targets() {
            let from = self.acked[p.index()].max(self.commit).max(self.log.base()) + 1;
            for (op, entry) in self.log.iter_after(from - 1) {
                let (entry, commit, sent_at) = (entry.clone(), self.commit, out.clock(now));
                let msg = Message::Prepare { view: self.view, op, entry, commit, stable, sent_at };
                out.send(p, msg);
            }
        }
        self.last_broadcast_at = now;
    }

    /// Hands every committed op held to the executor, in op order.
    fn execute_committed(&mut self, out: &mut Outbox<Self>) {
        let upto = self.commit.min(self.log.last());
        while self.executed < upto {
            let op = self.executed + 1;
            let entry = self.log.get(op).expect("ops above the executed prefix are held");
            let id = entry.cmd.id;
            let done = self.executed_seq.entry(id.client).or_insert(0);
            let fresh = *done < id.seq;
            if fresh {
                *done = id.seq;
            }
            if id.client == epochs::ADMIN_CLIENT {
                // The RECONFIGURATION: an empty slot for the state machine.
                self.reconfiguration_executed(op);
                out.execute(LogStep::Slot(ChosenSlot { slot: op, cmd: None }));
                self.executed = op;
                continue;
            }
            // Also a request whose client retried here after it was
            // forwarded from elsewhere.
            self.pending.remove(&id);
            if self.backup_reads {
                self.read_sessions.note(id, op);
            }
            out.execute(LogStep::Slot(ChosenSlot { slot: op, cmd: fresh.then(|| entry.cmd.clone()) }));
            self.executed = op;
        }
        self.discard_stable();
        self.trim_witness_log();
    }

    /// Frees the log prefix every replica executed.
    fn discard_stable(&mut self) {
        let floor = self.stable.min(self.executed);
        if floor > self.log.base() {
            self.log.discard_through(floor);
        }
    }

    fn arm_state_transfer(&mut self, out: &mut Outbox<Self>) {
        if !self.state_transfer_armed {
            self.state_transfer_armed = true;
            out.set_timer(Timer::StateTransfer, STATE_TRANSFER_GAP_NS);
        }
    }

    fn lagging(&self) -> bool {
        !self.ahead.is_empty() || self.commit > self.log.last()
    }

    /// §9 step 1: ask the primary, then (if it stays silent) the others in
    /// turn.
    fn state_transfer_timeout(&mut self, out: &mut Outbox<Self>) {
        self.state_transfer_armed = false;
        if self.status != Status::Normal || self.is_primary() || !self.lagging() {
            self.state_transfer_attempts = 0;
            return;
        }
        let others = self.others();
        let primary = self.primary_of(self.view);
        let target = if self.state_transfer_attempts.is_multiple_of(2) {
            primary
        } else {
            others[(self.state_transfer_attempts / 2) % others.len()]
        };
        self.state_transfer_attempts += 1;
        out.send(target, Message::GetState { view: self.view, op: self.log.last() });
        self.state_transfer_armed = true;
        out.set_timer(Timer::StateTransfer, STATE_TRANSFER_RETRY_NS);
    }

    /// §9 step 2.
    fn handle_get_state(&mut self, from: ProcessId, view: View, op: u64, out: &mut Outbox<Self>) {
        if self.status != Status::Normal || view != self.view || op >= self.log.last() || op < self.log.base() {
            return;
        }
        let log = LogSnapshot { base: op, entries: self.log.suffix_after(op), commit: self.commit };
        out.send(from, Message::NewState { view, log });
    }

    /// §9 step 3.
    fn handle_new_state(&mut self, from: ProcessId, view: View, log: LogSnapshot, now: Time, out: &mut Outbox<Self>) {
        if self.status != Status::Normal || view != self.view || self.is_primary() || from == self.id {
            return; // any Normal replica of this view may answer (§9 step 2)
        }
        let _ = now;
        if log.base > self.log.last() {
            return; // it starts beyond our log: useless
        }
        for (i, entry) in log.entries.into_iter().enumerate() {
            if log.base + 1 + i as u64 == self.log.last() + 1 {
                self.log.push(entry);
            }
        }
        self.append_ahead();
        self.commit = self.commit.max(log.commit);
        self.execute_committed(out);
        if self.log.last() > self.commit {
            out.send(self.primary_of(view), self.prepare_ok(view));
        }
        if !self.lagging() {
            self.state_transfer_attempts = 0;
        }
    }

    // ---- View change (§7) ----

    /// §7 step 1: move to view `view` and ask the others to do the same.
    fn start_view_change(&mut self, view: View, now: Time, out: &mut Outbox<Self>) {
        debug_assert!(view > self.view || self.status == Status::Normal);
        self.enter_view_change(view, now);
        out.recovery_started();
        out.send_to_each(&self.others(), Message::StartViewChange { view });
        self.maybe_send_do_view_change(out);
    }

    fn enter_view_change(&mut self, view: View, now: Time) {
        self.lease.granted = Time::ZERO;
        self.view = view;
        self.status = Status::ViewChange;
        self.view_change_started_at = now;
        self.svc_from = 0;
        self.dvc_sent = false;
        self.dvcs.clear();
        self.awaiting_start_view = false;
        self.ahead.clear();
    }

    /// §4.1: a PREPARE or COMMIT of `view` shows that its START_VIEW was
    /// missed. Keep the log (§16.1) and ask the primary to re-send it.
    fn await_start_view(&mut self, view: View, now: Time, out: &mut Outbox<Self>) {
        if view > self.view {
            self.enter_view_change(view, now);
        } else if self.awaiting_start_view && now.since(self.request_start_view_sent_at) < STATE_TRANSFER_RETRY_NS {
            return; // asked recently
        }
        self.awaiting_start_view = true;
        self.request_start_view_sent_at = now;
        out.send(self.primary_of(view), Message::RequestStartView { view });
    }

    /// §7 step 2.
    fn handle_start_view_change(&mut self, from: ProcessId, view: View, now: Time, out: &mut Outbox<Self>) {
        if self.status != Status::Recovering && self.behind_epoch(from, view, now, out) {
            return; // §13: it needs the epoch's log first
        }
        if self.status == Status::Recovering || view < self.view || epoch_of(view) != self.epoch() || !self.votes() {
            return; // learners and replicas without the epoch's log keep out (§13)
        }
        if view > self.view && self.status == Status::Normal && self.promised(now) {
            self.defer_view_change(view); // §10b: joined when the promise expires
            return;
        }
        if view > self.view {
            self.start_view_change(view, now, out);
        } else if self.status == Status::Normal {
            if self.is_primary() {
                // The sender missed this view's START_VIEW.
                out.send(from, self.start_view_message());
            }
            return;
        }
        self.svc_from |= 1 << from.index();
        self.maybe_send_do_view_change(out);
    }

    fn maybe_send_do_view_change(&mut self, out: &mut Outbox<Self>) {
        let others_needed = self.view_change_quorum() - 1;
        if self.status == Status::ViewChange && !self.dvc_sent && self.svc_from.count_ones() as usize >= others_needed {
            self.dvc_sent = true;
            self.send_do_view_change(out);
        }
    }

    fn send_do_view_change(&self, out: &mut Outbox<Self>) {
        let (view, last_normal_view, is_witness) = (self.view, self.last_normal_view, self.is_witness());
        let msg = Message::DoViewChange { view, last_normal_view, log: self.snapshot(), is_witness };
        out.send(self.primary_of(self.view), msg);
    }

    /// §7 step 3 (and step 5 for a late DVC).
    fn handle_do_view_change(
        &mut self,
        from: ProcessId,
        view: View,
        last_normal_view: View,
        (log, is_witness): (LogSnapshot, bool),
        now: Time,
        out: &mut Outbox<Self>,
    ) {
        if self.status == Status::Recovering || view < self.view || epoch_of(view) != self.epoch() || !self.votes() {
            return;
        }
        if view > self.view && self.status == Status::Normal && self.promised(now) {
            self.defer_view_change(view); // §10b; the sender re-sends its DVC
            return;
        }
        if view > self.view {
            self.start_view_change(view, now, out);
        }
        if self.primary_of(view) != self.id {
            return;
        }
        if self.status == Status::Normal {
            out.send(from, self.start_view_message()); // a late DVC
            return;
        }
        self.dvcs.insert(from, DoViewChange { last_normal_view, log, is_witness });
        if self.dvcs.len() >= self.view_change_quorum() {
            self.start_new_view(now, out);
        }
    }

    /// §7 step 3 a-d: the new primary adopts the most recent log.
    fn start_new_view(&mut self, now: Time, out: &mut Outbox<Self>) {
        let dvcs = std::mem::take(&mut self.dvcs);
        let commit = dvcs.values().map(|dvc| dvc.log.commit).max().unwrap_or(0);
        let promoted = dvcs.iter().filter(|(_, dvc)| !dvc.is_witness).fold(0u64, |m, (p, _)| m | (1 << p.index()));
        // §7.3a: a witness's (empty) log is never selected (§11).
        let mut logs = dvcs.into_values().filter(|dvc| !dvc.is_witness);
        let chosen =
            if self.plant_any_log { logs.next() } else { logs.max_by_key(|dvc| (dvc.last_normal_view, dvc.log.op())) };
        let chosen = chosen.expect("a quorum of DVCs is not empty");
        self.install_log(chosen.log, out);
        self.commit = self.commit.max(commit);
        self.become_normal(now);
        out.recovery_finished();
        self.witnesses_new_view(promoted);
        self.take_office(true, now, out);
        self.execute_committed(out);
        self.reroute_pending(now, out);
    }

    /// The primary's state for a new view (after a view change, with its
    /// START_VIEW, or at the start of an epoch, without).
    fn take_office(&mut self, send_start_view: bool, now: Time, out: &mut Outbox<Self>) {
        self.reset_lease(self.log.last());
        out.leader_change();
        self.acked.iter_mut().for_each(|a| *a = 0);
        self.executed_by.iter_mut().for_each(|e| *e = 0);
        self.appended_at.clear();
        self.appended_seq = self.executed_seq.clone();
        for (_, entry) in self.log.iter_after(self.executed) {
            let logged = self.appended_seq.entry(entry.cmd.id.client).or_insert(0);
            *logged = (*logged).max(entry.cmd.id.seq);
        }
        if send_start_view {
            out.send_to_each(&self.audience(), self.start_view_message());
        }
        self.last_broadcast_at = now;
        self.commit_progress_at = now;
        out.set_timer(Timer::Heartbeat, self.heartbeat_ns);
    }

    fn start_view_message(&self) -> Message {
        Message::StartView { view: self.view, log: self.snapshot() }
    }

    /// Replaces the log above the committed prefix with `log`'s entries.
    /// Entries up to both bases are committed and equal everywhere.
    fn install_log(&mut self, log: LogSnapshot, out: &mut Outbox<Self>) {
        let new_last = log.op();
        if log.base > self.log.last() {
            // Only a recovering replica lacks a prefix that every other
            // replica executed and discarded; it cannot rebuild it (no
            // snapshot of the state machine), see the module's open points.
            // The executor is told to skip the prefix so that it resumes
            // at `base + 1` instead of waiting for slot 1 forever.
            self.log.reset(log.base);
            for slot in self.executed + 1..=log.base {
                out.execute(LogStep::Slot(ChosenSlot { slot, cmd: None }));
            }
            self.executed = self.executed.max(log.base);
            self.commit = self.commit.max(log.base);
        } else {
            self.log.truncate_after(log.base);
        }
        let skip = self.log.last() - log.base;
        for entry in log.entries.into_iter().skip(skip as usize) {
            self.log.push(entry);
        }
        debug_assert_eq!(self.log.last(), new_last.max(self.log.base()));
        debug_assert!(
            self.executed <= self.log.last() || self.plant_any_log,
            "an executed op was not in the adopted log"
        );
        self.commit = self.commit.max(log.commit);
    }

    fn become_normal(&mut self, now: Time) {
        self.status = Status::Normal;
        self.last_normal_view = self.view;
        self.last_heard_at = now;
        self.svc_from = 0;
        self.dvc_sent = false;
        self.dvcs.clear();
        self.awaiting_start_view = false;
        self.ahead.clear();
    }

    /// §7 step 4.
    fn handle_start_view(&mut self, from: ProcessId, view: View, log: LogSnapshot, now: Time, out: &mut Outbox<Self>) {
        let stale = view < self.view || (view == self.view && self.status == Status::Normal);
        if self.status == Status::Recovering || stale || from != self.primary_of(view) || from == self.id {
            return;
        }
        let commit = log.commit;
        self.install_log(log, out);
        self.view = view;
        self.become_normal(now);
        self.mark_ready(out);
        self.execute_committed(out);
        if self.log.last() > commit {
            out.send(from, self.prepare_ok(view));
        }
        self.reroute_pending(now, out);
    }

    /// §7 step 5 (and §16.1).
    fn handle_request_start_view(&mut self, from: ProcessId, view: View, out: &mut Outbox<Self>) {
        if self.status == Status::Normal && view == self.view && self.is_primary() {
            out.send(from, self.start_view_message());
        }
    }

    /// Forwards every pending client request to the current primary (it
    /// drops those already in its log).
    fn reroute_pending(&mut self, now: Time, out: &mut Outbox<Self>) {
        for cmd in pending::due(&mut self.pending, now, 0) {
            self.route_request(cmd, self.id, now, out);
        }
    }

    // ---- Recovery (§8) ----

    fn send_recovery(&mut self, now: Time, out: &mut Outbox<Self>) {
        self.recovery_sent_at = now;
        // Everyone: the configuration may have moved on since the start.
        out.send_to_each(&self.audience(), Message::Recovery { nonce: self.nonce });
    }

    /// §8 step 2.
    fn handle_recovery(&mut self, from: ProcessId, nonce: u64, out: &mut Outbox<Self>) {
        if self.status != Status::Normal || !self.votes() {
            return;
        }
        let log = self.is_primary().then(|| self.snapshot());
        out.send(from, Message::RecoveryResponse { view: self.view, nonce, log });
    }

    /// §8 step 3.
    fn handle_recovery_response(
        &mut self,
        from: ProcessId,
        view: View,
        nonce: u64,
        log: Option<LogSnapshot>,
        now: Time,
        out: &mut Outbox<Self>,
    ) {
        if self.status != Status::Recovering || nonce != self.nonce {
            return; // an answer meant for an earlier incarnation
        }
        self.recovery_responses.insert(from, (view, log));
        // A quorum of the latest epoch heard of (§13: quorums follow it).
        let max_view = self.recovery_responses.values().map(|(v, _)| *v).max().expect("non-empty");
        let epoch = epoch_of(max_view);
        let of_epoch = self.recovery_responses.values().filter(|(v, _)| epoch_of(*v) == epoch).count();
        if of_epoch < quorum::fpaxos_phase2(self.epochs.plan.f(epoch)) {
            return;
        }
        let primary = self.primary_of(max_view);
        let Some((_, Some(_))) = self.recovery_responses.get(&primary).filter(|(v, _)| *v == max_view) else {
            return; // wait for the primary of the latest view
        };
        let (_, log) = self.recovery_responses.remove(&primary).expect("checked");
        let log = log.expect("checked");
        self.recovery_responses.clear();
        let commit = log.commit;
        self.prepare_recovered_log(&log);
        self.install_log(log, out);
        self.rebuild_client_table();
        self.view = max_view;
        self.become_normal(now);
        out.recovery_finished();
        self.mark_ready(out);
        self.execute_committed(out);
        if self.log.last() > commit {
            out.send(primary, self.prepare_ok(max_view));
        }
        self.reroute_pending(now, out);
    }

    // ---- Timers ----

    /// The primary's idle COMMIT (§4 step 6), `HB` after its last broadcast.
    fn heartbeat(&mut self, now: Time, out: &mut Outbox<Self>) {
        if self.status != Status::Normal || !self.is_primary() {
            return; // re-armed when this replica next becomes primary
        }
        let witnesses_due_in = self.witness_heartbeat(now, out);
        let idle = now.since(self.last_broadcast_at);
        if idle >= self.heartbeat_ns {
            out.send_to_each(&self.prepare_targets(), self.commit_message(out.clock(now)));
            self.last_broadcast_at = now;
            out.set_timer(Timer::Heartbeat, self.heartbeat_ns.min(witnesses_due_in));
        } else {
            out.set_timer(Timer::Heartbeat, (self.heartbeat_ns - idle).min(witnesses_due_in));
        }
    }

    /// Re-forwards requests of this process's clients not executed after
    /// `CLIENT_RETRY`.
    fn retry_pending(&mut self, now: Time, out: &mut Outbox<Self>) {
        for cmd in pending::due(&mut self.pending, now, CLIENT_RETRY_NS) {
            self.route_request(cmd, self.id, now, out);
        }
    }

    fn tick(&mut self, now: Time, out: &mut Outbox<Self>) {
        out.set_timer(Timer::Tick, self.heartbeat_ns);
        match self.status {
            Status::Normal => {
                self.propose_reconfiguration(now, out);
                if self.votes() && !self.is_primary() && !self.promised(now) {
                    let suspected = now.since(self.last_heard_at) >= self.view_change_timeout_ns;
                    let view = if suspected { self.view + 1 } else { self.lease.deferred_view };
                    if view > self.view {
                        self.lease.deferred_view = 0;
                        self.start_view_change(view, now, out); // §7 step 1 (§10b once promised)
                        return;
                    }
                }
                if self.failure_detection && self.is_primary() {
                    self.resend_unacknowledged(now, out);
                }
                self.maybe_promote(now, out); // §11
                self.retry_pending(now, out);
            }
            Status::ViewChange if !self.votes() => {
                // A learner (or a member without the epoch's log) waiting
                // for a START_VIEW: it never starts a view change.
                if now.since(self.request_start_view_sent_at) >= STATE_TRANSFER_RETRY_NS {
                    self.request_start_view_sent_at = now;
                    out.send(self.primary_of(self.view), Message::RequestStartView { view: self.view });
                }
            }
            Status::Transitioning => {
                self.epoch_tick(now, out);
                self.retry_pending(now, out);
            }
            Status::ViewChange => {
                if now.since(self.view_change_started_at) >= self.view_change_timeout_ns {
                    self.start_view_change(self.view + 1, now, out); // VC_PROGRESS
                    return;
                }
                if self.awaiting_start_view {
                    if now.since(self.request_start_view_sent_at) >= STATE_TRANSFER_RETRY_NS {
                        self.request_start_view_sent_at = now;
                        out.send(self.primary_of(self.view), Message::RequestStartView { view: self.view });
                    }
                } else {
                    out.send_to_each(&self.others(), Message::StartViewChange { view: self.view });
                }
                if self.dvc_sent {
                    self.send_do_view_change(out);
                }
            }
            Status::Recovering => {
                if now.since(self.recovery_sent_at) >= RECOVERY_RETRY_NS {
                    self.send_recovery(now, out);
                }
            }
        }
    }
}

impl Protocol for Vr {
    type Message = Message;
    type Timer = Timer;
    type Executor = ReadingSlotExecutor;
    type Options = Options;

    /// No disk (vr.md §1): a restarted replica keeps nothing and recovers
    /// from the others (§8, `recovery.rs`).
    const RESTARTS: bool = true;

    /// No disk (vr.md §1): a crashed replica, and a restarted one until
    /// Recovery (§8) ends, holds no state a quorum can count on.
    const CRASH_LOSES_STATE: bool = true;

    fn restart(&mut self, fresh: Self, executor: &mut ReadingSlotExecutor, now: Time, out: &mut Outbox<Self>) {
        self.restart_recovering(fresh, executor, now, out);
    }

    fn recovering(&self) -> bool {
        self.status == Status::Recovering
    }

    fn new(setup: ProcessSetup, options: &Options) -> (Self, ReadingSlotExecutor) {
        let n = setup.n();
        debug_assert!(Vr::check(n, setup.config.f).is_ok());
        let leader = setup.config.leader.unwrap_or(setup.processes[0]);
        let first_primary = setup.processes.iter().position(|&p| p == leader).unwrap_or(0);
        let witnesses = witness::Witnesses::new(options, setup.id, &setup.processes, first_primary, setup.config.f);
        debug_assert!(check_options(options, n, setup.config.f).is_ok());
        let epochs = epochs::EpochState::new(&setup, options);
        let vr = Vr {
            id: setup.id,
            processes: setup.processes,
            epochs,
            heartbeat_ns: options.heartbeat_ns.unwrap_or(DEFAULT_HEARTBEAT_NS),
            view_change_timeout_ns: options.view_change_timeout_ns.unwrap_or(DEFAULT_VIEW_CHANGE_TIMEOUT_NS),
            plant_any_log: options.plant_any_log,
            leased_reads: options.leased_reads,
            lease_ns: options.lease_ns.unwrap_or(DEFAULT_LEASE_NS),
            plant_lease_without_promise: options.plant_lease_without_promise,
            backup_reads: options.backup_reads,
            read_sessions: backup_reads::ReadSessions::default(),
            lease: lease::LeaseState::default(),
            batch: batching::Batch::new(options.batch_max, options.batch_delay_ms),
            witnesses,
            failure_detection: setup.config.failure_detection,
            rng: setup.rng,
            view: 0,
            status: Status::Normal,
            last_normal_view: 0,
            log: CompactLog::new(),
            commit: 0,
            executed: 0,
            stable: 0,
            executed_seq: FixedHashMap::default(),
            acked: vec![0; n],
            executed_by: vec![0; n],
            appended_seq: FixedHashMap::default(),
            appended_at: VecDeque::new(),
            last_broadcast_at: Time::ZERO,
            commit_progress_at: Time::ZERO,
            scratch: Vec::with_capacity(n),
            last_heard_at: Time::ZERO,
            ahead: BTreeMap::new(),
            state_transfer_armed: false,
            state_transfer_attempts: 0,
            view_change_started_at: Time::ZERO,
            svc_from: 0,
            dvc_sent: false,
            dvcs: BTreeMap::new(),
            awaiting_start_view: false,
            request_start_view_sent_at: Time::ZERO,
            nonce: 0,
            recovery_sent_at: Time::ZERO,
            recovery_responses: BTreeMap::new(),
            pending: BTreeMap::new(),
        };
        let mut vr = vr;
        vr.reset_lease(0);
        (vr, ReadingSlotExecutor::new())
    }

    fn start(&mut self, now: Time, out: &mut Outbox<Self>) {
        out.set_timer(Timer::Tick, self.heartbeat_ns);
        match self.status {
            Status::Recovering => {
                self.nonce = self.rng.next_u64(); // §8 step 1: a fresh nonce per incarnation
                self.send_recovery(now, out);
            }
            _ if self.is_primary() => out.set_timer(Timer::Heartbeat, self.heartbeat_ns),
            _ => {}
        }
    }

    fn submit(&mut self, cmd: Arc<Command>, now: Time, out: &mut Outbox<Self>) {
        if self.read_at_backup(&cmd, out) {
            return;
        }
        self.pending.insert(cmd.id, (cmd.clone(), now));
        self.route_request(cmd, self.id, now, out);
        self.finish_step(now, out);
    }

    fn handle(&mut self, from: ProcessId, msg: Message, now: Time, out: &mut Outbox<Self>) {
        if from.index() >= self.processes.len() {
            return; // not a process of this run
        }
        match msg {
            Message::Request { cmd, origin } => self.route_request(cmd, origin, now, out),
            Message::Prepare { view, op, entry, commit, stable, sent_at } => {
                if !self.is_witness() && self.accept_from_primary(from, view, now, out) {
                    self.promise(sent_at, now);
                    self.learn_commit(commit, stable);
                    self.handle_prepare(from, view, op, entry, out);
                }
            }
            Message::PrepareBatch { view, first_op, entries, commit, stable, sent_at } => {
                if !self.is_witness() && self.accept_from_primary(from, view, now, out) {
                    self.promise(sent_at, now);
                    self.learn_commit(commit, stable);
                    self.handle_prepare_batch(from, view, first_op, entries, out);
                }
            }
            Message::WitnessCommit { view, commit, first_op, entries, stable, sent_at } => {
                self.handle_witness_commit(from, view, (commit, stable, sent_at), first_op, entries, now, out)
            }
            Message::Promote { view, log } => self.handle_promote(from, view, log, now, out),
            Message::PrepareOk { view, op, executed, echo } => {
                if view == self.view {
                    self.on_lease_echo(from, echo);
                }
                self.handle_prepare_ok(from, view, op, executed, now, out)
            }
            Message::Commit { view, commit, stable, sent_at } => {
                self.handle_commit(from, view, (commit, stable, sent_at), now, out)
            }
            Message::CommitAck { view, echo } => {
                if view == self.view {
                    self.on_lease_echo(from, echo);
                }
            }
            Message::LeaseRead { id, commit } => self.serve_lease_read(id, commit, out),
            Message::StartViewChange { view } => self.handle_start_view_change(from, view, now, out),
            Message::DoViewChange { view, last_normal_view, log, is_witness } => {
                self.handle_do_view_change(from, view, last_normal_view, (log, is_witness), now, out)
            }
            Message::StartView { view, log } => self.handle_start_view(from, view, log, now, out),
            Message::RequestStartView { view } => self.handle_request_start_view(from, view, out),
            Message::GetState { view, op } => self.handle_get_state(from, view, op, out),
            Message::NewState { view, log } => self.handle_new_state(from, view, log, now, out),
            Message::Recovery { nonce } => self.handle_recovery(from, nonce, out),
            Message::RecoveryResponse { view, nonce, log } => {
                self.handle_recovery_response(from, view, nonce, log, now, out)
            }
            Message::Epoch(msg) => self.handle_epoch_message(from, msg, now, out),
        }
        self.finish_step(now, out);
    }

    fn handle_timer(&mut self, timer: Timer, now: Time, out: &mut Outbox<Self>) {
        match timer {
            Timer::Heartbeat => self.heartbeat(now, out),
            Timer::Tick => self.tick(now, out),
            Timer::StateTransfer => self.state_transfer_timeout(out),
            Timer::Batch => self.flush_batch(now, out),
        }
        self.finish_step(now, out);
    }
}
