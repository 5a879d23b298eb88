//! Primary/backup log shipping (`shared/specs/primary-backup.md`), in the
//! three modes of §1: asynchronous (the primary answers before shipping
//! completes), synchronous to every backup of the wait set, and
//! semi-synchronous (`k` backup acks).
//!
//! The primary appends each request to its log and ships the entry in a
//! REPLICATE to every backup. Clients talk to their co-located process,
//! which forwards to the primary; the client is answered when that process
//! applies the entry (classic README "Clients"): in ASYNC on REPLICATE
//! arrival, so `d(p,P) + d(P,p)`; in the synchronous modes on the
//! primary's COMMIT, sent once the acks the mode needs arrived.
//!
//! Failover is §7's AUTO_TIMEOUT: a backup that heard nothing from the
//! primary for `FD_TIMEOUT + rank·PROMOTE_STAGGER` promotes itself with its
//! log as it stands, **without quorum or fencing**. That is the point of
//! this baseline: acknowledged writes are lost and histories diverge after
//! a failover, and the run's verdict reports it. Nodes that learn a newer
//! epoch step down and truncate their log to where it agrees with the new
//! primary's, recording each deleted entry as a [`RolledBack`].
//!
//! Divergences from the spec, all because of the simulator's model:
//! - Commands are deterministic, so the entry ships the command rather
//!   than a state delta; applying it is the same thing.
//! - Reads go through the log like writes (the engine answers a client
//!   when its own process applies the command). In ASYNC that costs what
//!   §4.6 says (`d(X,P) + d(P,X)`); in the synchronous modes a read also
//!   waits for the acks.
//! - The executor cannot undo an applied command: a rolled-back entry
//!   stays applied at the node that truncated it (the divergence the
//!   verdict then reports), and that node's client table still counts it.
//! - AUTO_FENCED voting runs in sync mode in runs with faults only
//!   (`fenced.rs`); MANUAL promotion by the scenario is not implemented;
//!   `manual_failover` disables promotion altogether.

mod fenced;
mod messages;
#[cfg(test)]
mod tests;

pub use messages::{Entry, Message};

use crate::shared::slot_executor::{ChosenSlot, SlotExecutor};
use sim_core::protocol::{Outbox, ProcessSetup, Protocol};
use sim_core::time::NS_PER_MS;
use sim_core::{ClientId, Command, CommandId, FixedHashMap, ProcessId, Time};
use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;

/// A primary generation (§2): incremented on every promotion.
pub type Epoch = u64;

/// Most processes one group may have.
pub const MAX_PROCESSES: usize = 64;

/// `HB` (§6): an idle primary sends a HEARTBEAT this often.
pub const DEFAULT_HEARTBEAT_NS: u64 = 100 * NS_PER_MS;
/// `FD_TIMEOUT` (§6): a backup suspects a primary silent this long.
pub const DEFAULT_FD_TIMEOUT_NS: u64 = 1000 * NS_PER_MS;
/// `PROMOTE_STAGGER` (§6): `2·RTT_max` per rank; the process cannot see
/// the delay matrix, so the default takes RTT_max = 400 ms, the largest
/// RTT of the embedded matrices.
pub const DEFAULT_PROMOTE_STAGGER_NS: u64 = 800 * NS_PER_MS;
/// `DROP_TIMEOUT` (§6): SYNC_ALL stops waiting for a backup silent this long.
pub const DEFAULT_DROP_TIMEOUT_NS: u64 = 1000 * NS_PER_MS;
/// `CLIENT_RETRY` (§6): a forwarded request not applied after this long is
/// forwarded again (the client's process retries for it).
pub const CLIENT_RETRY_NS: u64 = 2000 * NS_PER_MS;
/// How long a backup tolerates a hole in its log (a lost REPLICATE) before
/// it asks the primary with SYNC_REQ; also the SYNC_REQ re-send interval.
pub const SYNC_RETRY_NS: u64 = 500 * NS_PER_MS;

/// When the primary answers (§1 `mode`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Mode {
    /// ASYNC: answer before any backup has the entry.
    Async,
    /// SYNC_ALL: answer once every backup of the wait set acked.
    #[default]
    Sync,
    /// SYNC_K: answer once `k` backups acked (`semi_sync_acks`, default f).
    SemiSync,
}

/// Primary/backup options (§1, §6); `None` takes the spec's default.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Options {
    /// `async`, `sync` (default; SYNC_ALL) or `semi-sync` (SYNC_K).
    pub mode: Mode,
    /// `k` of SYNC_K (default `f`); must be in `1..=n-1`.
    pub semi_sync_acks: Option<u64>,
    /// SYNC_ALL only: block instead of dropping a silent backup from the
    /// wait set (`degrade_on_backup_loss = false`).
    pub block_on_backup_loss: bool,
    /// Never promote a backup (the spec's MANUAL failover, without a
    /// scenario hook to promote explicitly).
    pub manual_failover: bool,
    /// `HB` in ns (default [`DEFAULT_HEARTBEAT_NS`]).
    pub heartbeat_ns: Option<u64>,
    /// `FD_TIMEOUT` in ns (default [`DEFAULT_FD_TIMEOUT_NS`]).
    pub fd_timeout_ns: Option<u64>,
    /// `PROMOTE_STAGGER` in ns (default [`DEFAULT_PROMOTE_STAGGER_NS`]).
    pub promote_stagger_ns: Option<u64>,
    /// `DROP_TIMEOUT` in ns (default [`DEFAULT_DROP_TIMEOUT_NS`]).
    pub drop_timeout_ns: Option<u64>,
    /// Planted bug (tests only, sync mode under faults): the primary drops
    /// silent backups from the wait set below a majority, so a cut off
    /// primary commits alone; the verdict must catch it.
    #[serde(skip)]
    pub plant_degrade_below_majority: bool,
}

/// A node's role (§2); AUTO_FENCED's Candidate is not implemented.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// Orders and ships requests.
    Primary,
    /// Applies what the primary ships.
    Backup,
}

/// Primary/backup timers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Timer {
    /// Every `HB` at every node: heartbeat, wait-set degrade, promotion,
    /// SYNC_REQ and client re-sends.
    Tick,
}

/// An entry this node deleted when it synchronised with a newer primary
/// (§7 step 4, the `RolledBack` checker event without `was_acked`, which
/// only the history checker knows).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RolledBack {
    /// Its seq.
    pub seq: u64,
    /// The epoch that appended it.
    pub epoch: Epoch,
    /// The request.
    pub cmd: CommandId,
    /// Whether this node had applied it (and cannot undo it).
    pub was_applied: bool,
}

/// One primary/backup node.
#[derive(Debug)]
pub struct PrimaryBackup {
    id: ProcessId,
    processes: Vec<ProcessId>,
    /// `prio` of §1: the configured leader first, then the others in id order.
    prio: Vec<ProcessId>,
    mode: Mode,
    /// Backup acks the primary waits for in SYNC_K.
    semi_sync_acks: usize,
    block_on_backup_loss: bool,
    manual_failover: bool,
    heartbeat_ns: u64,
    fd_timeout_ns: u64,
    promote_stagger_ns: u64,
    drop_timeout_ns: u64,

    role: Role,
    epoch: Epoch,
    primary: ProcessId,
    /// `log[seq - 1]`; never discarded, since SYNC_RESP may need any suffix.
    log: Vec<Entry>,
    /// Entries up to here may be applied (answered).
    commit: u64,
    /// Highest commit the primary of this epoch announced; may exceed
    /// the log while REPLICATEs are in flight or reordered, so it is kept
    /// apart from `commit` (which never exceeds the log).
    primary_commit: u64,
    /// Log seqs applied.
    applied: u64,
    /// Executor slots handed out: differs from `applied` after a rollback,
    /// since the executor's slots only go forward.
    slots: u64,
    /// Per client, the highest request applied here (§2 `client_table`).
    applied_seq: FixedHashMap<ClientId, u64>,
    rolled_back: Vec<RolledBack>,

    // Primary.
    /// Per client, the highest request in the log: an in-flight duplicate
    /// is not appended twice.
    appended_seq: FixedHashMap<ClientId, u64>,
    /// Per process index, the highest seq it acked in this epoch.
    acked: Vec<u64>,
    /// Per process index, when its last ack arrived.
    last_ack_at: Vec<Time>,
    /// Per process index, in the SYNC_ALL wait set.
    in_wait_set: Vec<bool>,
    /// `(seq, when the request reached the primary)` of uncommitted
    /// entries, for the commit-latency metric.
    appended_at: VecDeque<(u64, Time)>,
    last_broadcast_at: Time,
    scratch: Vec<u64>,

    // Backup.
    last_heard: Time,
    /// REPLICATEd entries ahead of a hole (link reordering), by seq.
    ahead: BTreeMap<u64, Entry>,
    /// Since when the log has had a hole below `ahead` or below the
    /// primary's commit.
    lagging_since: Option<Time>,
    /// A SYNC_REQ is outstanding (sent at this time): REPLICATEs wait.
    syncing: Option<Time>,

    /// Requests of this node's clients not applied here yet, with when they
    /// were last forwarded.
    pending: BTreeMap<CommandId, (Arc<Command>, Time)>,

    // Sync mode under faults (`fenced.rs`).
    /// Failure detection on and `mode = sync`: fenced promotion, and a
    /// wait set of at least a majority.
    fencing: bool,
    /// The highest epoch this node voted for (or stood for).
    voted_epoch: Epoch,
    /// The vote for `voted_epoch` went to this node's own candidacy: a
    /// lost candidacy does not fence it from the primaries of lower
    /// epochs (it holds what it acknowledges, so its own vote stays valid).
    voted_for_self: bool,
    /// The epoch of the primary whose log this node last synchronised with.
    accepted_epoch: Epoch,
    /// Votes for `voted_epoch` while standing (bit per process index).
    votes: u64,
    /// The highest epoch any candidate stood for, granted or not: the next
    /// candidacy goes above it (`fenced.rs`).
    epoch_seen: Epoch,
    plant_degrade_below_majority: bool,
}

impl PrimaryBackup {
    /// Checks `2 <= n <= MAX_PROCESSES` and `1 <= f <= n - 1` (§1: any n-1
    /// crashes leave a backup to promote; f is also SYNC_K's default k).
    pub fn check(n: usize, f: usize) -> Result<(), String> {
        if !(2..=MAX_PROCESSES).contains(&n) {
            return Err(format!("primary-backup needs 2 to {MAX_PROCESSES} processes, got n = {n}"));
        }
        if f == 0 || f >= n {
            return Err(format!("primary-backup needs 1 <= f <= n - 1 = {}, got f = {f}", n - 1));
        }
        Ok(())
    }

    /// The current role.
    pub fn role(&self) -> Role {
        self.role
    }

    /// The current epoch.
    pub fn epoch(&self) -> Epoch {
        self.epoch
    }

    /// The primary this node follows (itself when primary).
    pub fn primary(&self) -> ProcessId {
        self.primary
    }

    /// The last seq in the log.
    pub fn last_seq(&self) -> u64 {
        self.log.len() as u64
    }

    /// The log entry at `seq`, if held.
    pub fn entry(&self, seq: u64) -> Option<&Entry> {
        seq.checked_sub(1).and_then(|i| self.log.get(i as usize))
    }

    /// Highest seq known answerable.
    pub fn commit_seq(&self) -> u64 {
        self.commit
    }

    /// Entries deleted by synchronising with a newer primary.
    pub fn rolled_back(&self) -> &[RolledBack] {
        &self.rolled_back
    }

    fn last_epoch(&self) -> Epoch {
        self.log.last().map_or(0, |e| e.epoch)
    }

    fn epoch_at(&self, seq: u64) -> Epoch {
        self.entry(seq).map_or(0, |e| e.epoch)
    }

    fn others(&self) -> Vec<ProcessId> {
        self.processes.iter().copied().filter(|&p| p != self.id).collect()
    }

    /// `(epoch, last seq of that epoch)` runs of the log, for SYNC_REQ.
    fn runs(&self) -> Vec<(Epoch, u64)> {
        let mut runs: Vec<(Epoch, u64)> = Vec::new();
        for (i, e) in self.log.iter().enumerate() {
            match runs.last_mut() {
                Some(run) if run.0 == e.epoch => run.1 = i as u64 + 1,
                _ => runs.push((e.epoch, i as u64 + 1)),
            }
        }
        runs
    }

    // ---- Normal case (§4) ----

    fn route_request(&mut self, cmd: Arc<Command>, origin: ProcessId, now: Time, out: &mut Outbox<Self>) {
        if self.role == Role::Primary {
            self.accept_request(cmd, origin, now, out);
        } else if self.primary != self.id {
            out.send(self.primary, Message::Request { cmd, origin });
        }
    }

    /// §4 steps 1-4 at the primary.
    fn accept_request(&mut self, cmd: Arc<Command>, origin: ProcessId, now: Time, out: &mut Outbox<Self>) {
        let (client, seq) = (cmd.id.client, cmd.id.seq);
        if self.applied_seq.get(&client).is_some_and(|&done| done >= seq) {
            // Done already: the origin applies it once it learns the commit.
            if origin != self.id {
                out.send(origin, Message::Commit { epoch: self.epoch, commit: self.commit });
            }
            return;
        }
        if self.appended_seq.get(&client).is_some_and(|&logged| logged >= seq) {
            return; // in the log already; its answer follows
        }
        self.appended_seq.insert(client, seq);
        let prev_seq = self.last_seq();
        let prev_epoch = self.last_epoch();
        let entry = Entry { epoch: self.epoch, cmd, origin };
        self.log.push(entry.clone());
        let seq = self.last_seq();
        if self.mode == Mode::Async {
            // The point of ASYNC: answerable before anyone else has it.
            self.commit = seq;
            out.commit_latency(0);
            self.apply_committed(out);
        } else {
            self.appended_at.push_back((seq, now));
        }
        let msg =
            Message::Replicate { epoch: self.epoch, prev_seq, prev_epoch, entries: vec![entry], commit: self.commit };
        out.send_to_each(&self.others(), msg);
        self.last_broadcast_at = now;
        if self.mode != Mode::Async {
            self.advance_commit(now, out); // n = 1 backup-free corner; cheap otherwise
        }
    }

    /// §4 step 4 in the synchronous modes: the highest seq the acks allow.
    fn ack_floor(&mut self) -> u64 {
        let me = self.id.index();
        match self.mode {
            Mode::Async => self.last_seq(),
            Mode::Sync => (0..self.acked.len())
                .filter(|&i| i != me && self.in_wait_set[i])
                .map(|i| self.acked[i])
                .fold(self.last_seq(), u64::min),
            Mode::SemiSync => {
                let k = self.semi_sync_acks;
                self.scratch.clear();
                self.scratch.extend(self.acked.iter().enumerate().filter(|&(i, _)| i != me).map(|(_, &a)| a));
                if k == 0 || self.scratch.len() < k {
                    return self.commit;
                }
                let (_, &mut kth, _) = self.scratch.select_nth_unstable_by(k - 1, |a, b| b.cmp(a));
                kth
            }
        }
    }

    /// Commits what the acks allow, applies it and tells the processes
    /// whose clients wait.
    fn advance_commit(&mut self, now: Time, out: &mut Outbox<Self>) {
        let new_commit = self.ack_floor().min(self.last_seq());
        if new_commit <= self.commit {
            return;
        }
        let mut origins = 0u64;
        for e in &self.log[self.commit as usize..new_commit as usize] {
            origins |= 1 << e.origin.index();
        }
        while self.appended_at.front().is_some_and(|&(seq, _)| seq <= new_commit) {
            let (_, at) = self.appended_at.pop_front().expect("checked");
            out.commit_latency(now.since(at));
        }
        self.commit = new_commit;
        self.apply_committed(out);
        origins &= !(1 << self.id.index());
        if origins != 0 {
            let msg = Message::Commit { epoch: self.epoch, commit: self.commit };
            for &p in &self.processes {
                if origins & (1 << p.index()) != 0 {
                    out.send(p, msg.clone());
                }
            }
        }
    }

    /// Hands every committed entry held to the executor, in seq order.
    fn apply_committed(&mut self, out: &mut Outbox<Self>) {
        let upto = self.commit.min(self.last_seq());
        while self.applied < upto {
            let e = &self.log[self.applied as usize];
            let id = e.cmd.id;
            let done = self.applied_seq.entry(id.client).or_insert(0);
            let fresh = *done < id.seq;
            if fresh {
                *done = id.seq;
            }
            // Also a request whose client retried here after it was
            // forwarded from elsewhere.
            self.pending.remove(&id);
            self.slots += 1;
            out.execute(ChosenSlot { slot: self.slots, cmd: fresh.then(|| e.cmd.clone()) });
            self.applied += 1;
        }
    }

    /// Epoch checks shared by the primary's messages; true if the message
    /// comes from the primary this node follows in its epoch.
    fn accept_from_primary(&mut self, from: ProcessId, epoch: Epoch, now: Time, out: &mut Outbox<Self>) -> bool {
        if self.fencing && epoch < self.voted_epoch && !self.voted_for_self {
            return false; // voted for a newer epoch: fenced (AUTO_FENCED)
        }
        if epoch < self.epoch {
            if self.role == Role::Primary {
                // §7 step 2: tell the stale sender the current epoch.
                out.send(from, Message::NewPrimary { epoch: self.epoch, last_seq: self.last_seq() });
            }
            return false;
        }
        if epoch > self.epoch {
            self.step_down(epoch, from, now, out);
            return false;
        }
        if self.role == Role::Primary || from != self.primary {
            return false; // two promotions to one epoch: keep the first heard
        }
        self.last_heard = now;
        true
    }

    /// §4 step 5 at a backup.
    fn handle_replicate(
        &mut self,
        from: ProcessId,
        msg: (Epoch, u64, Epoch, Vec<Entry>, u64),
        now: Time,
        out: &mut Outbox<Self>,
    ) {
        let (epoch, prev_seq, prev_epoch, entries, commit) = msg;
        if !self.accept_from_primary(from, epoch, now, out) || self.syncing.is_some() {
            return;
        }
        let last = self.last_seq();
        if prev_seq > last {
            // Reordered (or a REPLICATE was lost): hold it until the hole fills.
            for (i, e) in entries.into_iter().enumerate() {
                self.ahead.insert(prev_seq + 1 + i as u64, e);
            }
            self.primary_commit = self.primary_commit.max(commit);
            self.lagging_since.get_or_insert(now);
            return;
        }
        if self.epoch_at(prev_seq) != prev_epoch {
            // Mismatch (§4 step 5): ask the primary where the logs agree.
            self.send_sync_req(now, out);
            return;
        }
        for (i, e) in entries.into_iter().enumerate() {
            let seq = prev_seq + 1 + i as u64;
            if seq <= self.last_seq() {
                if self.epoch_at(seq) == e.epoch {
                    continue; // a duplicate
                }
                self.truncate(seq - 1);
            }
            self.log.push(e);
        }
        self.append_ahead();
        self.learn_commit(commit, now);
        self.apply_committed(out);
        self.ack(out);
    }

    /// Synchronous modes: acknowledge cumulatively (ASYNC sends no acks,
    /// §5 "n−1 messages per write").
    fn ack(&self, out: &mut Outbox<Self>) {
        if self.mode != Mode::Async {
            out.send(self.primary, Message::ReplicateAck { epoch: self.epoch, acked_seq: self.last_seq() });
        }
    }

    fn append_ahead(&mut self) {
        while let Some(e) = self.ahead.remove(&(self.last_seq() + 1)) {
            self.log.push(e);
        }
        let last = self.last_seq();
        while self.ahead.first_key_value().is_some_and(|(&seq, _)| seq <= last) {
            self.ahead.pop_first();
        }
        if self.ahead.is_empty() {
            self.lagging_since = None;
        }
    }

    /// Deletes every entry after `keep` (§7 step 3), recording each.
    fn truncate(&mut self, keep: u64) {
        for seq in keep + 1..=self.last_seq() {
            let e = &self.log[seq as usize - 1];
            self.rolled_back.push(RolledBack { seq, epoch: e.epoch, cmd: e.cmd.id, was_applied: seq <= self.applied });
        }
        self.log.truncate(keep as usize);
        self.applied = self.applied.min(keep);
        self.commit = self.commit.min(keep);
        self.primary_commit = self.primary_commit.min(keep);
    }

    fn handle_ack(&mut self, from: ProcessId, epoch: Epoch, acked_seq: u64, now: Time, out: &mut Outbox<Self>) {
        if epoch < self.epoch && self.role == Role::Primary {
            out.send(from, Message::NewPrimary { epoch: self.epoch, last_seq: self.last_seq() });
            return;
        }
        if self.role != Role::Primary || epoch != self.epoch {
            return;
        }
        let i = from.index();
        self.acked[i] = self.acked[i].max(acked_seq.min(self.last_seq()));
        self.last_ack_at[i] = now;
        if self.acked[i] == self.last_seq() {
            self.in_wait_set[i] = true; // caught up: waited for again
        }
        self.advance_commit(now, out);
    }

    fn handle_commit(&mut self, from: ProcessId, epoch: Epoch, commit: u64, now: Time, out: &mut Outbox<Self>) {
        if !self.accept_from_primary(from, epoch, now, out) {
            return;
        }
        if self.fencing && self.syncing.is_some() {
            // Until SYNC_RESP this node's suffix may be an old primary's
            // that the new one never had: its commit number says nothing
            // about it. (Without fencing, failover already diverges.)
            return;
        }
        self.learn_commit(commit, now);
        self.apply_committed(out);
    }

    /// Raises `commit` to what the primary announced, as far as the log goes.
    fn learn_commit(&mut self, commit: u64, now: Time) {
        self.primary_commit = self.primary_commit.max(commit);
        self.commit = self.commit.max(self.primary_commit.min(self.last_seq()));
        if self.primary_commit > self.last_seq() {
            self.lagging_since.get_or_insert(now);
        }
    }

    // ---- Failover and rejoin (§7) ----

    /// §7 step 1: this backup's rank among the backups of the current primary.
    fn rank(&self) -> u64 {
        self.prio.iter().filter(|&&p| p != self.primary).position(|&p| p == self.id).unwrap_or(0) as u64
    }

    fn promote(&mut self, now: Time, out: &mut Outbox<Self>) {
        self.epoch += 1;
        self.role = Role::Primary;
        self.primary = self.id;
        self.syncing = None;
        self.ahead.clear();
        self.lagging_since = None;
        self.accepted_epoch = self.epoch;
        self.voted_epoch = self.voted_epoch.max(self.epoch);
        // Its own log is authoritative as it stands (§7 step 1).
        if self.mode == Mode::Async {
            self.commit = self.last_seq();
            self.apply_committed(out);
        }
        self.acked.fill(0);
        self.last_ack_at.fill(now);
        self.in_wait_set.fill(true);
        self.appended_at.clear();
        self.appended_seq.clear();
        for e in &self.log {
            let logged = self.appended_seq.entry(e.cmd.id.client).or_insert(0);
            *logged = (*logged).max(e.cmd.id.seq);
        }
        out.send_to_each(&self.others(), Message::NewPrimary { epoch: self.epoch, last_seq: self.last_seq() });
        self.last_broadcast_at = now;
        self.reroute_pending(now, out);
    }

    /// §7 step 2: follow the primary of a newer epoch and synchronise.
    fn step_down(&mut self, epoch: Epoch, primary: ProcessId, now: Time, out: &mut Outbox<Self>) {
        self.epoch = epoch;
        self.role = Role::Backup;
        self.primary = primary;
        // The old primary's commit says nothing about the new one's log.
        self.primary_commit = self.commit;
        self.last_heard = now;
        self.ahead.clear();
        self.appended_at.clear();
        self.send_sync_req(now, out);
        self.reroute_pending(now, out);
    }

    fn send_sync_req(&mut self, now: Time, out: &mut Outbox<Self>) {
        self.syncing = Some(now);
        self.ahead.clear();
        self.lagging_since = None;
        out.send(self.primary, Message::SyncReq { epoch: self.epoch, runs: self.runs() });
    }

    /// §7 step 3 at the primary: the last seq on which both logs agree. By
    /// construction one primary per epoch appends in seq order, so equal
    /// epochs at a seq mean equal prefixes and agreement is a prefix:
    /// binary search for its end.
    fn agreement(&self, runs: &[(Epoch, u64)]) -> u64 {
        let theirs = |seq: u64| runs.iter().find(|&&(_, end)| end >= seq).map_or(0, |&(e, _)| e);
        let their_last = runs.last().map_or(0, |&(_, end)| end);
        let (mut lo, mut hi) = (0, their_last.min(self.last_seq()));
        while lo < hi {
            let mid = lo + (hi - lo).div_ceil(2);
            if self.epoch_at(mid) == theirs(mid) { lo = mid } else { hi = mid - 1 }
        }
        lo
    }

    fn handle_sync_req(&mut self, from: ProcessId, epoch: Epoch, runs: Vec<(Epoch, u64)>, out: &mut Outbox<Self>) {
        if self.role != Role::Primary || epoch > self.epoch {
            return;
        }
        if epoch < self.epoch {
            out.send(from, Message::NewPrimary { epoch: self.epoch, last_seq: self.last_seq() });
            return;
        }
        let truncate_to = self.agreement(&runs);
        let entries = self.log[truncate_to as usize..].to_vec();
        out.send(from, Message::SyncResp { epoch, truncate_to, entries, commit: self.commit });
    }

    fn handle_sync_resp(
        &mut self,
        from: ProcessId,
        msg: (Epoch, u64, Vec<Entry>, u64),
        now: Time,
        out: &mut Outbox<Self>,
    ) {
        let (epoch, truncate_to, entries, commit) = msg;
        if !self.accept_from_primary(from, epoch, now, out) || self.syncing.is_none() {
            return;
        }
        self.syncing = None;
        self.accepted_epoch = epoch;
        if truncate_to < self.last_seq() {
            self.truncate(truncate_to);
        }
        self.log.truncate(truncate_to as usize); // no-op unless ours was shorter
        self.log.extend(entries);
        self.learn_commit(commit, now);
        self.apply_committed(out);
        self.ack(out);
    }

    fn handle_new_primary(&mut self, from: ProcessId, epoch: Epoch, now: Time, out: &mut Outbox<Self>) {
        if epoch > self.epoch {
            self.step_down(epoch, from, now, out);
        } else if epoch < self.epoch && self.role == Role::Primary {
            out.send(from, Message::NewPrimary { epoch: self.epoch, last_seq: self.last_seq() });
        }
    }

    /// Forwards every waiting request of this node's clients again (§7
    /// step 5: the client retries the same request at the new primary).
    fn reroute_pending(&mut self, now: Time, out: &mut Outbox<Self>) {
        let cmds: Vec<Arc<Command>> = self
            .pending
            .values_mut()
            .map(|(cmd, at)| {
                *at = now;
                cmd.clone()
            })
            .collect();
        for cmd in cmds {
            self.route_request(cmd, self.id, now, out);
        }
    }

    fn tick(&mut self, now: Time, out: &mut Outbox<Self>) {
        out.set_timer(Timer::Tick, self.heartbeat_ns);
        match self.role {
            Role::Primary => {
                if now.since(self.last_broadcast_at) >= self.heartbeat_ns {
                    let msg = Message::Replicate {
                        epoch: self.epoch,
                        prev_seq: self.last_seq(),
                        prev_epoch: self.last_epoch(),
                        entries: Vec::new(),
                        commit: self.commit,
                    };
                    out.send_to_each(&self.others(), msg);
                    self.last_broadcast_at = now;
                }
                if self.fencing {
                    self.degrade_to_majority(now);
                    self.advance_commit(now, out);
                } else if self.mode == Mode::Sync && !self.block_on_backup_loss {
                    // §1 degrade: stop waiting for a silent backup.
                    for i in 0..self.in_wait_set.len() {
                        if i != self.id.index() && now.since(self.last_ack_at[i]) >= self.drop_timeout_ns {
                            self.in_wait_set[i] = false;
                        }
                    }
                    self.advance_commit(now, out);
                }
            }
            Role::Backup => {
                let deadline = self.fd_timeout_ns + self.rank() * self.promote_stagger_ns;
                if !self.manual_failover && now.since(self.last_heard) >= deadline {
                    if self.fencing {
                        self.stand(now, out);
                    } else {
                        self.promote(now, out);
                        return;
                    }
                }
                let stuck = self.syncing.or(self.lagging_since);
                if stuck.is_some_and(|at| now.since(at) >= SYNC_RETRY_NS) {
                    self.send_sync_req(now, out);
                }
            }
        }
        let due: Vec<Arc<Command>> = self
            .pending
            .values_mut()
            .filter(|(_, at)| now.since(*at) >= CLIENT_RETRY_NS)
            .map(|(cmd, at)| {
                *at = now;
                cmd.clone()
            })
            .collect();
        for cmd in due {
            self.route_request(cmd, self.id, now, out);
        }
    }
}

impl Protocol for PrimaryBackup {
    type Message = Message;
    type Timer = Timer;
    type Executor = SlotExecutor;
    type Options = Options;

    fn new(setup: ProcessSetup, options: &Options) -> (Self, SlotExecutor) {
        let n = setup.n();
        debug_assert!(Self::check(n, setup.config.f).is_ok());
        let leader = setup.config.leader.unwrap_or(setup.processes[0]);
        let start = setup.processes.iter().position(|&p| p == leader).unwrap_or(0);
        let prio: Vec<ProcessId> = (0..n).map(|i| setup.processes[(start + i) % n]).collect();
        let semi_sync_acks = options.semi_sync_acks.map_or(setup.config.f, |k| k as usize).min(n - 1);
        let pb = PrimaryBackup {
            id: setup.id,
            processes: setup.processes,
            prio,
            mode: options.mode,
            semi_sync_acks,
            block_on_backup_loss: options.block_on_backup_loss,
            manual_failover: options.manual_failover,
            heartbeat_ns: options.heartbeat_ns.unwrap_or(DEFAULT_HEARTBEAT_NS),
            fd_timeout_ns: options.fd_timeout_ns.unwrap_or(DEFAULT_FD_TIMEOUT_NS),
            promote_stagger_ns: options.promote_stagger_ns.unwrap_or(DEFAULT_PROMOTE_STAGGER_NS),
            drop_timeout_ns: options.drop_timeout_ns.unwrap_or(DEFAULT_DROP_TIMEOUT_NS),
            role: if setup.id == leader { Role::Primary } else { Role::Backup },
            epoch: 0,
            primary: leader,
            log: Vec::new(),
            commit: 0,
            primary_commit: 0,
            applied: 0,
            slots: 0,
            applied_seq: FixedHashMap::default(),
            rolled_back: Vec::new(),
            appended_seq: FixedHashMap::default(),
            acked: vec![0; n],
            last_ack_at: vec![Time::ZERO; n],
            in_wait_set: vec![true; n],
            appended_at: VecDeque::new(),
            last_broadcast_at: Time::ZERO,
            scratch: Vec::with_capacity(n),
            last_heard: Time::ZERO,
            ahead: BTreeMap::new(),
            lagging_since: None,
            syncing: None,
            pending: BTreeMap::new(),
            fencing: setup.config.failure_detection && options.mode == Mode::Sync,
            voted_epoch: 0,
            voted_for_self: false,
            accepted_epoch: 0,
            votes: 0,
            epoch_seen: 0,
            plant_degrade_below_majority: options.plant_degrade_below_majority,
        };
        (pb, SlotExecutor::new())
    }

    fn start(&mut self, _now: Time, out: &mut Outbox<Self>) {
        out.set_timer(Timer::Tick, self.heartbeat_ns);
    }

    fn submit(&mut self, cmd: Arc<Command>, now: Time, out: &mut Outbox<Self>) {
        self.pending.insert(cmd.id, (cmd.clone(), now));
        self.route_request(cmd, self.id, now, out);
    }

    fn handle(&mut self, from: ProcessId, msg: Message, now: Time, out: &mut Outbox<Self>) {
        if from.index() >= self.processes.len() {
            return; // not a member
        }
        match msg {
            Message::Request { cmd, origin } => self.route_request(cmd, origin, now, out),
            Message::Replicate { epoch, prev_seq, prev_epoch, entries, commit } => {
                self.handle_replicate(from, (epoch, prev_seq, prev_epoch, entries, commit), now, out)
            }
            Message::ReplicateAck { epoch, acked_seq } => self.handle_ack(from, epoch, acked_seq, now, out),
            Message::Commit { epoch, commit } => self.handle_commit(from, epoch, commit, now, out),
            Message::NewPrimary { epoch, .. } => self.handle_new_primary(from, epoch, now, out),
            Message::SyncReq { epoch, runs } => self.handle_sync_req(from, epoch, runs, out),
            Message::SyncResp { epoch, truncate_to, entries, commit } => {
                self.handle_sync_resp(from, (epoch, truncate_to, entries, commit), now, out)
            }
            Message::VoteReq { epoch, accepted_epoch, last_seq } => {
                self.handle_vote_req(from, epoch, accepted_epoch, last_seq, now, out)
            }
            Message::Vote { epoch, granted } => self.handle_vote(from, epoch, granted, now, out),
        }
    }

    fn handle_timer(&mut self, timer: Timer, now: Time, out: &mut Outbox<Self>) {
        match timer {
            Timer::Tick => self.tick(now, out),
        }
    }
}
