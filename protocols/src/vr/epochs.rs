//! Reconfiguration with epochs (vr.md §13) on the engine's fixed set of
//! processes.
//!
//! The harness has no admin client and runs one process per site, so the
//! configurations and the reconfiguration are VR options: epoch 0's members
//! (`initial_members`) and, at `reconfigure_at_ms`, one RECONFIGURATION to
//! `new_members` (epoch 1). Because the plan is static, every process knows
//! the configuration of each epoch; START_EPOCH still carries both (§13.2).
//!
//! * The epoch rides in every message that carries a view: a view number
//!   is `epoch << 32 | view-in-epoch`, so "messages of an old epoch are
//!   ignored" is the existing `view < self.view` check, and view 0 of
//!   epoch 1 orders after every view of epoch 0.
//! * Processes outside the current configuration are *learners*: they
//!   receive the primary's PREPAREs and COMMITs and execute the committed
//!   log (their site's clients are answered by their own executor), and
//!   acknowledge so that the primary knows how far they executed, but they
//!   never count in a quorum, never start or join a view change and are
//!   never primary. They forward their clients' requests to the primary of
//!   the configuration they know (the harness's counterpart of §13.4's
//!   EPOCH_MOVED answer).
//! * The admin's request is the primary's own: once the plan's time came
//!   and it is Normal in epoch 0, the primary appends the RECONFIGURATION
//!   (a reserved client, [`ADMIN_CLIENT`]) and accepts no other request
//!   after it; a new primary whose log holds it does the same, and one
//!   whose log lost it appends it again on its next tick (the admin's
//!   retry).
//! * The whole log is kept until the reconfiguration is done (no snapshot
//!   exists to hand new replicas the prefix), see [`Vr::stable_floor`].

use super::{Entry, LogSnapshot, Message, Status, View, Vr};
use crate::shared::quorum;
use sim_core::protocol::{Outbox, ProcessSetup};
use sim_core::time::NS_PER_MS;
use sim_core::{ClientId, Command, CommandId, ProcessId, Time};
use std::sync::Arc;

/// The admin client's id: its one request is the RECONFIGURATION.
pub const ADMIN_CLIENT: ClientId = ClientId(u32::MAX);

/// The view numbers of an epoch start at `epoch << EPOCH_SHIFT`.
const EPOCH_SHIFT: u32 = 32;

/// The epoch a view number belongs to.
pub fn epoch_of(view: View) -> u64 {
    view >> EPOCH_SHIFT
}

/// View 0 of `epoch`.
pub fn first_view(epoch: u64) -> View {
    epoch << EPOCH_SHIFT
}

/// The view's number within its epoch.
fn view_in_epoch(view: View) -> u64 {
    view & ((1 << EPOCH_SHIFT) - 1)
}

/// Messages of the epoch transition (§13.2-4).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EpochMessage {
    /// START_EPOCH, from an old replica to a new one.
    StartEpoch {
        /// The new epoch.
        epoch: u64,
        /// The RECONFIGURATION's op: the new epoch starts from the log up
        /// to here.
        op: u64,
        /// The old configuration.
        old: Vec<ProcessId>,
        /// The new configuration.
        new: Vec<ProcessId>,
    },
    /// GET_STATE of a new replica, to an old one: entries after `op`.
    GetState {
        /// The new epoch.
        epoch: u64,
        /// The requester's last op.
        op: u64,
    },
    /// The answer to a GET_STATE: entries up to the RECONFIGURATION's op.
    NewState {
        /// The new epoch.
        epoch: u64,
        /// Entries after the requester's op.
        log: LogSnapshot,
    },
    /// EPOCH_STARTED, from a new replica to the leaving ones.
    EpochStarted {
        /// The new epoch.
        epoch: u64,
    },
    /// Not in the spec: a member of `epoch` that has not started it heard
    /// of it (a START_VIEW_CHANGE of that epoch) and asks the sender for a
    /// START_EPOCH, whose first copies it may have lost.
    Behind {
        /// The epoch it lacks.
        epoch: u64,
    },
}

impl EpochMessage {
    pub(super) fn size_bytes(&self) -> u64 {
        match self {
            EpochMessage::StartEpoch { old, new, .. } => 16 + 4 * (old.len() + new.len()) as u64,
            EpochMessage::GetState { .. } => 16,
            EpochMessage::NewState { log, .. } => 8 + log.size_bytes(),
            EpochMessage::EpochStarted { .. } | EpochMessage::Behind { .. } => 8,
        }
    }
}

/// Checks the reconfiguration options against `n` processes and `f`:
/// known indices, no duplicates, at least 3 members, `f` within the
/// initial configuration, a plan either whole or absent.
pub fn check_options(options: &super::Options, n: usize, f: usize) -> Result<(), String> {
    let check_set = |name: &str, set: &[usize]| -> Result<(), String> {
        if let Some(&bad) = set.iter().find(|&&i| i >= n) {
            return Err(format!("vr.{name}: process index {bad} is unknown; the run has processes 0..={}", n - 1));
        }
        let distinct: std::collections::BTreeSet<usize> = set.iter().copied().collect();
        if distinct.len() != set.len() {
            return Err(format!("vr.{name}: {set:?} names a process twice"));
        }
        if set.len() < 3 {
            return Err(format!("vr.{name}: a configuration needs at least 3 members, got {set:?}"));
        }
        Ok(())
    };
    let planned = options.initial_members.is_some() || options.reconfigure_at_ms.is_some();
    if options.witnesses && planned {
        // Witnesses are chosen once among all processes (§11); which of
        // them stay witnesses in a new configuration is not specified.
        return Err("vr.witnesses cannot be combined with vr.initial_members or a reconfiguration yet".into());
    }
    if let Some(initial) = &options.initial_members {
        check_set("initial_members", initial)?;
        quorum::check_f(initial.len(), f)
            .map_err(|e| format!("vr.initial_members: f = {f} is too large for {} members ({e})", initial.len()))?;
    }
    match (&options.reconfigure_at_ms, &options.new_members) {
        (None, None) => Ok(()),
        (Some(_), None) => Err("vr.reconfigure_at_ms needs vr.new_members (the new configuration)".into()),
        (None, Some(_)) => Err("vr.new_members needs vr.reconfigure_at_ms (when to reconfigure)".into()),
        (Some(_), Some(new)) => {
            if options.leased_reads {
                return Err("vr.leased_reads cannot be combined with a reconfiguration yet".into());
            }
            check_set("new_members", new)
        }
    }
}

/// The configurations of each epoch, from the options.
#[derive(Debug)]
pub(super) struct Plan {
    /// Epoch 0's members, in order (the primary of view v is counted from
    /// `initial_first`).
    initial: Vec<ProcessId>,
    initial_first: usize,
    initial_f: usize,
    /// When the RECONFIGURATION is due, and epoch 1's members.
    next: Option<(Time, Vec<ProcessId>)>,
}

impl Plan {
    pub(super) fn new(setup: &ProcessSetup, options: &super::Options) -> Plan {
        let pick = |set: &[usize]| set.iter().filter_map(|&i| setup.processes.get(i).copied()).collect();
        let initial: Vec<ProcessId> = options.initial_members.as_deref().map_or(setup.processes.clone(), pick);
        let leader = setup.config.leader.unwrap_or(initial[0]);
        let initial_first = initial.iter().position(|&p| p == leader).unwrap_or(0);
        let next = match (options.reconfigure_at_ms, options.new_members.as_deref()) {
            (Some(at), Some(new)) => Some((Time::from_ns(at * NS_PER_MS), pick(new))),
            _ => None,
        };
        Plan { initial, initial_first, initial_f: setup.config.f, next }
    }

    /// The members of `epoch` (the last planned one for later epochs, which
    /// never occur).
    pub(super) fn members(&self, epoch: u64) -> &[ProcessId] {
        match &self.next {
            Some((_, new)) if epoch >= 1 => new,
            _ => &self.initial,
        }
    }

    /// The failures `epoch`'s configuration tolerates: the run's `f` in
    /// epoch 0, `(|new| - 1) / 2` after (§13).
    pub(super) fn f(&self, epoch: u64) -> usize {
        if epoch == 0 || self.next.is_none() { self.initial_f } else { (self.members(epoch).len() - 1) / 2 }
    }

    /// The primary of `view`.
    pub(super) fn primary_of(&self, view: View) -> ProcessId {
        let epoch = epoch_of(view);
        let members = self.members(epoch);
        let first = if epoch == 0 { self.initial_first as u64 } else { 0 };
        let len = members.len() as u64;
        members[((first + view_in_epoch(view) % len) % len) as usize]
    }

    /// True while a planned reconfiguration has not happened by `epoch`.
    pub(super) fn pending(&self, epoch: u64) -> bool {
        self.next.is_some() && epoch == 0
    }
}

/// A replica's state of the epoch transition.
#[derive(Debug)]
pub(super) struct EpochState {
    pub(super) plan: Plan,
    /// The latest epoch this replica holds the whole starting log of (and
    /// so may vote in): a replica that reached a later epoch's view by
    /// another path (a PREPARE of that epoch) only follows it as a learner
    /// until a START_VIEW or the transition hands it the log.
    pub(super) ready: u64,
    /// The RECONFIGURATION's op, once executed here (ends epoch 0).
    pub(super) reconfiguration_op: Option<u64>,
    /// Executed during the current step; the transition runs at its end.
    transition_due: bool,
    /// A new replica fetching the log up to the RECONFIGURATION's op
    /// (§13.3): old replicas asked so far, and when last.
    fetch_attempts: usize,
    fetch_sent_at: Time,
    /// A leaving replica (§13.4): the new replicas whose EPOCH_STARTED
    /// arrived (bit = index); it stops serving at `f_new + 1`.
    started_from: u64,
    pub(super) leaving: bool,
    /// When this replica last asked for a START_EPOCH.
    behind_sent_at: Time,
}

impl EpochState {
    pub(super) fn new(setup: &ProcessSetup, options: &super::Options) -> EpochState {
        EpochState {
            plan: Plan::new(setup, options),
            ready: 0,
            reconfiguration_op: None,
            transition_due: false,
            fetch_attempts: 0,
            fetch_sent_at: Time::ZERO,
            started_from: 0,
            leaving: false,
            behind_sent_at: Time::ZERO,
        }
    }
}

/// The admin's RECONFIGURATION request (the spec's `c` = [`ADMIN_CLIENT`],
/// `s` = 1): a command with no operations, executed as an empty slot.
fn reconfiguration_command() -> Arc<Command> {
    let id = CommandId { client: ADMIN_CLIENT, seq: 1 };
    Arc::new(Command { id, ops: Vec::new().into(), payload_bytes: 0 })
}

impl Vr {
    pub(super) fn epoch(&self) -> u64 {
        epoch_of(self.view)
    }

    /// The members of the current epoch.
    pub(super) fn members(&self) -> &[ProcessId] {
        self.epochs.plan.members(self.epoch())
    }

    pub(super) fn is_member(&self) -> bool {
        self.members().contains(&self.id)
    }

    /// True if this replica takes part in view changes and recovery of the
    /// current epoch (a member holding the epoch's starting log).
    pub(super) fn votes(&self) -> bool {
        self.is_member() && self.epochs.ready >= self.epoch()
    }

    /// The current configuration's `f`.
    pub(super) fn f(&self) -> usize {
        self.epochs.plan.f(self.epoch())
    }

    /// Every other process: the members and the learners.
    pub(super) fn audience(&self) -> Vec<ProcessId> {
        self.processes.iter().copied().filter(|&p| p != self.id).collect()
    }

    /// §13.1: the RECONFIGURATION is in this primary's log (or executed):
    /// it accepts no other request.
    pub(super) fn reconfiguration_logged(&self) -> bool {
        let logged = self.appended_seq.contains_key(&ADMIN_CLIENT) || self.epochs.reconfiguration_op.is_some();
        logged && self.epochs.plan.pending(self.epoch())
    }

    /// §13.1 at the primary, on its tick: the admin's request is due.
    pub(super) fn propose_reconfiguration(&mut self, now: Time, out: &mut Outbox<Self>) {
        let due = self.epochs.plan.next.as_ref().is_some_and(|(at, _)| now >= *at);
        if !due || self.epoch() != 0 || self.status != Status::Normal || !self.is_primary() {
            return;
        }
        if self.reconfiguration_logged() {
            return;
        }
        let cmd = reconfiguration_command();
        self.appended_seq.insert(ADMIN_CLIENT, 1);
        let entry = Entry { cmd, origin: self.id };
        let op = self.log.push(entry.clone());
        self.appended_at.push_back((op, now));
        let sent_at = out.clock(now);
        let msg =
            Message::Prepare { view: self.view, op, entry, commit: self.commit, stable: self.stable_floor(), sent_at };
        out.send_to_each(&self.audience(), msg);
        self.last_broadcast_at = now;
    }

    /// From the executor loop: the RECONFIGURATION at `op` executed here.
    /// A replica that reached epoch 1 by a START_VIEW executes it there:
    /// it only records the op (to answer BEHIND and GET_STATE).
    pub(super) fn reconfiguration_executed(&mut self, op: u64) {
        if self.epochs.reconfiguration_op.is_none() {
            self.epochs.reconfiguration_op = Some(op);
            self.epochs.transition_due = self.epoch() == 0;
        }
    }

    /// §13.2, at the end of the step in which the RECONFIGURATION executed:
    /// the primary tells the old group, every old replica sends START_EPOCH
    /// to the new ones, and the replica enters epoch 1 (Normal if it is in
    /// both configurations or already holds the log, Transitioning if it
    /// leaves).
    pub(super) fn finish_step(&mut self, now: Time, out: &mut Outbox<Self>) {
        if !std::mem::take(&mut self.epochs.transition_due) {
            return;
        }
        let Some(op) = self.epochs.reconfiguration_op else { return };
        let old: Vec<ProcessId> = self.members().to_vec();
        let new: Vec<ProcessId> = self.epochs.plan.members(1).to_vec();
        if old.contains(&self.id) {
            if self.status == Status::Normal && self.is_primary() {
                let msg = self.commit_message(out.clock(now));
                let old_others: Vec<ProcessId> = old.iter().copied().filter(|&p| p != self.id).collect();
                out.send_to_each(&old_others, msg);
            }
            let joining: Vec<ProcessId> = new.iter().copied().filter(|p| !old.contains(p)).collect();
            let start = EpochMessage::StartEpoch { epoch: 1, op, old: old.clone(), new: new.clone() };
            out.send_to_each(&joining, Message::Epoch(start));
        }
        self.log.truncate_after(op); // nothing follows it (§13.1); safety net
        self.view = first_view(1);
        if new.contains(&self.id) {
            self.start_epoch(now, out);
        } else {
            // Leaving (or a learner that stays one): serve GET_STATE while
            // leaving, follow the new primary as a learner throughout.
            self.epochs.leaving = old.contains(&self.id);
            self.status = if self.epochs.leaving { Status::Transitioning } else { Status::Normal };
            self.last_normal_view = self.view;
            self.last_heard_at = now;
            self.reroute_pending(now, out);
        }
    }

    /// §13.3 end: this member holds the log up to the RECONFIGURATION's op
    /// and goes Normal in view 0 of the new epoch.
    fn start_epoch(&mut self, now: Time, out: &mut Outbox<Self>) {
        self.epochs.ready = self.epoch();
        self.become_normal(now);
        let old = self.epochs.plan.members(self.epoch() - 1).to_vec();
        let leaving: Vec<ProcessId> = old.into_iter().filter(|p| !self.members().contains(p)).collect();
        out.send_to_each(&leaving, Message::Epoch(EpochMessage::EpochStarted { epoch: self.epoch() }));
        if self.is_primary() {
            self.take_office(false, now, out);
        }
        self.reroute_pending(now, out);
    }

    /// A replica that reached the current epoch's log through a START_VIEW
    /// (rather than the transition) tells the leaving replicas too.
    pub(super) fn mark_ready(&mut self, out: &mut Outbox<Self>) {
        if self.is_member() && self.epochs.ready < self.epoch() {
            self.epochs.ready = self.epoch();
            let old = self.epochs.plan.members(self.epoch() - 1).to_vec();
            let leaving: Vec<ProcessId> = old.into_iter().filter(|p| !self.members().contains(p)).collect();
            out.send_to_each(&leaving, Message::Epoch(EpochMessage::EpochStarted { epoch: self.epoch() }));
        }
    }

    pub(super) fn handle_epoch_message(
        &mut self,
        from: ProcessId,
        msg: EpochMessage,
        now: Time,
        out: &mut Outbox<Self>,
    ) {
        match msg {
            EpochMessage::StartEpoch { epoch, op, .. } => self.handle_start_epoch(epoch, op, now, out),
            EpochMessage::GetState { epoch, op } => self.handle_epoch_get_state(from, epoch, op, out),
            EpochMessage::NewState { epoch, log } => self.handle_epoch_new_state(epoch, log, now, out),
            EpochMessage::EpochStarted { epoch } => self.handle_epoch_started(from, epoch),
            EpochMessage::Behind { epoch } => {
                if self.epoch() == epoch && (self.votes() || self.epochs.leaving) {
                    self.send_start_epoch(&[from], out);
                }
            }
        }
    }

    /// START_EPOCH for the current epoch, to `to`.
    fn send_start_epoch(&self, to: &[ProcessId], out: &mut Outbox<Self>) {
        let Some(op) = self.epochs.reconfiguration_op else { return };
        let epoch = self.epoch();
        let (old, new) = (self.epochs.plan.members(epoch - 1).to_vec(), self.members().to_vec());
        out.send_to_each(to, Message::Epoch(EpochMessage::StartEpoch { epoch, op, old, new }));
    }

    /// A START_VIEW_CHANGE of a later epoch (or of this one, before this
    /// member holds its log) reached a member of that epoch: it asks the
    /// sender for START_EPOCH, at most every `ST_RETRY`. True if so (the
    /// message is not for it yet).
    pub(super) fn behind_epoch(&mut self, from: ProcessId, view: View, now: Time, out: &mut Outbox<Self>) -> bool {
        let epoch = epoch_of(view);
        if epoch < self.epoch() || self.epochs.ready >= epoch || !self.epochs.plan.members(epoch).contains(&self.id) {
            return false;
        }
        if now.since(self.epochs.behind_sent_at) >= super::STATE_TRANSFER_RETRY_NS
            || self.epochs.behind_sent_at == Time::ZERO
        {
            self.epochs.behind_sent_at = now;
            out.send(from, Message::Epoch(EpochMessage::Behind { epoch }));
        }
        true
    }

    /// §13.3 at a new replica.
    fn handle_start_epoch(&mut self, epoch: u64, op: u64, now: Time, out: &mut Outbox<Self>) {
        let known = epoch == 1 && self.epochs.plan.next.is_some();
        let fetching = self.status == Status::Transitioning && self.epoch() == epoch;
        if !known || self.epochs.ready >= epoch || fetching || self.status == Status::Recovering {
            return; // stale, duplicate, or a restarted replica (it recovers)
        }
        if !self.epochs.plan.members(epoch).contains(&self.id) {
            return;
        }
        // Only the executed prefix is surely the committed one: entries
        // above it may come from a superseded view of the old epoch.
        self.log.truncate_after(self.executed.max(self.log.base()));
        self.ahead.clear();
        self.epochs.reconfiguration_op = Some(op);
        self.commit = self.commit.max(op);
        self.view = first_view(epoch);
        self.status = Status::Transitioning;
        self.epochs.fetch_attempts = 0;
        self.fetch_or_start(now, out);
    }

    /// A new replica holds the log up to `op`: start the epoch; otherwise
    /// ask the next old replica for the rest.
    fn fetch_or_start(&mut self, now: Time, out: &mut Outbox<Self>) {
        let Some(op) = self.epochs.reconfiguration_op else { return };
        if self.log.last() >= op {
            self.execute_committed(out);
            self.start_epoch(now, out);
            return;
        }
        // The old replicas first (§13.3), then the new ones that started.
        let old = self.epochs.plan.members(self.epoch() - 1);
        let new = self.members().iter().filter(|p| !old.contains(p));
        let others: Vec<ProcessId> = old.iter().chain(new).copied().filter(|&p| p != self.id).collect();
        let target = others[self.epochs.fetch_attempts % others.len()];
        self.epochs.fetch_attempts += 1;
        self.epochs.fetch_sent_at = now;
        out.send(target, Message::Epoch(EpochMessage::GetState { epoch: self.epoch(), op: self.log.last() }));
    }

    /// §13.4: an old replica that executed the RECONFIGURATION serves the
    /// log up to it, until it stopped.
    fn handle_epoch_get_state(&mut self, from: ProcessId, epoch: u64, op: u64, out: &mut Outbox<Self>) {
        let Some(upto) = self.epochs.reconfiguration_op else { return };
        let serving = self.epochs.leaving && self.status == Status::Transitioning || self.votes();
        if epoch != self.epoch() || !serving || op >= upto || op < self.log.base() {
            return;
        }
        let mut entries = self.log.suffix_after(op);
        entries.truncate((upto - op) as usize);
        let log = LogSnapshot { base: op, entries, commit: upto };
        out.send(from, Message::Epoch(EpochMessage::NewState { epoch, log }));
    }

    fn handle_epoch_new_state(&mut self, epoch: u64, log: LogSnapshot, now: Time, out: &mut Outbox<Self>) {
        if self.status != Status::Transitioning || self.epochs.leaving || epoch != self.epoch() {
            return;
        }
        if log.base > self.log.last() {
            return;
        }
        let skip = (self.log.last() - log.base) as usize;
        for entry in log.entries.into_iter().skip(skip) {
            self.log.push(entry);
        }
        self.fetch_or_start(now, out);
    }

    /// §13.4 at a leaving replica: it stops once `f_new + 1` new replicas
    /// started the epoch (it keeps following the log as a learner, since
    /// its site's clients are answered by its executor).
    fn handle_epoch_started(&mut self, from: ProcessId, epoch: u64) {
        if !self.epochs.leaving || epoch != self.epoch() || !self.members().contains(&from) {
            return;
        }
        self.epochs.started_from |= 1 << from.index();
        if self.epochs.started_from.count_ones() as usize > self.f() && self.status == Status::Transitioning {
            self.status = Status::Normal;
        }
    }

    /// The Tick of a Transitioning replica: a new one re-asks for the log.
    /// A leaving one re-sends START_EPOCH to the new members it holds no
    /// EPOCH_STARTED from (the first copies may be lost, and a member of
    /// both configurations that missed the commit needs it too).
    pub(super) fn epoch_tick(&mut self, now: Time, out: &mut Outbox<Self>) {
        if now.since(self.epochs.fetch_sent_at) < super::STATE_TRANSFER_RETRY_NS {
            return;
        }
        if self.epochs.leaving {
            self.epochs.fetch_sent_at = now;
            let started = self.epochs.started_from;
            let silent: Vec<ProcessId> =
                self.members().iter().copied().filter(|p| started & (1 << p.index()) == 0).collect();
            self.send_start_epoch(&silent, out);
        } else {
            self.fetch_or_start(now, out);
        }
    }

    /// True once this leaving replica stopped serving (§13.4).
    pub fn stopped(&self) -> bool {
        self.epochs.leaving && self.status == Status::Normal
    }

    /// The current epoch.
    pub fn current_epoch(&self) -> u64 {
        self.epoch()
    }

    /// True if this process is in the current configuration.
    pub fn member(&self) -> bool {
        self.is_member()
    }
}
