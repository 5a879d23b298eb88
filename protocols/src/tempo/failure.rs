//! Failure detection and recovery (tempo.md §11), only in runs with failure
//! detection (`ProtocolConfig::failure_detection`, set in runs with
//! faults): without it no timer below is set and no message below is
//! sent, so failure-free runs are unchanged.
//!
//! **Recovery of a dot.** Every dot a process hears of (its MCollect, a
//! commit, a consensus or recovery round) is watched: if it is not
//! committed after the recovery timeout, a process holding its command
//! recovers it (§11.1: MRec at a ballot of its own above every ballot
//! seen; §11.2 the others join it, proposing a timestamp if they had not,
//! and report; §11.3 `n - f` reports give the timestamp, then consensus
//! with `f + 1` accepts and MCommit to all); a process without the
//! command asks the others for it (MPayloadRequest, not in the spec). The
//! watch fires again while the dot stays uncommitted, so a lost message is
//! retried by the next round. Processes take turns as in Atlas: the one
//! `k` places after the dot's origin waits `k` rank steps more, and one
//! that sees another's round waits a full period again.
//!
//! **Promises.** A recovered timestamp is stable only with the attached
//! promises of the processes it was computed from, so each MRecAck carries
//! the replier's attached promises for the dot and the recovery's MCommit
//! carries them all (§11, "piggyback"). That is not enough for liveness:
//! a detached broadcast may be lost, and a process's attached promises
//! may be missing from a dot's commit (it was not among the repliers the
//! commit was computed from). Without them an executor's `H_j` stops at
//! the gap and, with `f` processes crashed, a key stops being stable
//! anywhere. So (not in the spec) an executor reports a key whose first
//! waiting command stays unstable ([`super::executor::Stall`]), and its
//! process asks each process behind on that key for its promises above
//! what it has (MPromisesRequest); the answer gives the detached ones as
//! an MDetached and each attached one, if its dot is committed at the
//! answering process, as an MCommit of that dot carrying it. An attached
//! promise thus still reaches an executor only with its dot's commit
//! (which is what makes it safe to count): a process that already
//! committed the dot counts it as detached, one that never heard of the
//! dot learns of it this way (and asks for its command).

use super::clocks::{VoteRange, Votes};
use super::executor::Stall;
use super::instances::Status;
use super::recovery::{Phase, RecoveryAck, recovery_ts};
use super::{Message, Payload, ProcessSet, RecAck, Tempo, Timer};
use crate::shared::dot::Dot;
use crate::shared::quorum;
use crate::shared::synod::{self, Ballot};
use sim_core::protocol::Outbox;
use sim_core::time::NS_PER_MS;
use sim_core::{Command, Key, ProcessId, Time};
use std::collections::BTreeMap;
use std::sync::Arc;

/// Default §11.1 `recovery_timeout` (the spec suggests 1 s, as Atlas's).
pub const DEFAULT_RECOVERY_TIMEOUT_NS: u64 = 1_000 * NS_PER_MS;

/// Extra wait per rank (as Atlas's): about two of the largest RTTs, one
/// recovery's MRec and MConsensus rounds, so one process recovers a dot at
/// a time.
pub(super) const RECOVERY_RANK_STEP_NS: u64 = 600 * NS_PER_MS;

/// A process not heard from for this long is suspected: a coordinator
/// whose fast quorum holds one recovers its dot at once.
pub(super) const SUSPECT_AFTER_NS: u64 = 500 * NS_PER_MS;

/// How often an executor is asked for stalled keys.
pub(super) const STALL_CHECK_INTERVAL_NS: u64 = 250 * NS_PER_MS;

/// How long a committed command waits unstable before its key counts as
/// stalled (a stability wait in a healthy run is a round trip and a
/// promise interval).
pub(super) const STALL_AFTER_NS: u64 = 500 * NS_PER_MS;

/// Failure detection's state at one process.
#[derive(Debug)]
pub(super) struct Failures {
    /// `recovery_timeout`.
    timeout_ns: u64,
    /// When this process last heard from each process (index `id - 1`).
    last_heard: Vec<Time>,
    /// Per dot this process proposed for or watches.
    dots: BTreeMap<Dot, DotState>,
    /// Per key, the ranges this process attached to a dot, in clock order
    /// (so every other timestamp up to the key's clock was promised
    /// detached): what answers an MPromisesRequest.
    attached: BTreeMap<Key, Vec<(u64, u64, Dot)>>,
}

/// Failure detection's state for one dot at one process.
#[derive(Debug, Default)]
struct DotState {
    /// This process's attached promises for the dot (its proposal), for
    /// its MRecAcks.
    attached: Votes,
    /// Set while the dot is not committed here.
    watch: Option<Watch>,
}

/// A watched dot.
#[derive(Debug)]
struct Watch {
    /// When this process acts next if the dot is still not committed.
    next_at: Time,
    /// The ballot of this process's latest recovery of the dot (0: none).
    ballot: Ballot,
    /// The MRecAcks of `ballot` counted so far.
    acks: Vec<RecoveryAck>,
    /// Their attached promises.
    votes: Vec<(Key, VoteRange)>,
    /// The timestamp this process proposed in its latest recovery round
    /// that reached `n - f` acks, that round's ballot, and the promises
    /// its commit carries.
    proposed: Option<(Ballot, u64, Arc<Votes>)>,
}

impl Failures {
    /// Failure detection for `n` processes with `timeout_ns`.
    pub(super) fn new(n: usize, timeout_ns: u64) -> Failures {
        Failures { timeout_ns, last_heard: vec![Time::ZERO; n], dots: BTreeMap::new(), attached: BTreeMap::new() }
    }

    /// The state of `dot` and of every earlier dot of its origin is gone
    /// here (garbage collection: every process committed them).
    pub(super) fn collected_up_to(&mut self, dot: Dot) {
        let first = Dot { origin: dot.origin, seq: 0 };
        let gone: Vec<Dot> = self.dots.range(first..=dot).map(|(&dot, _)| dot).collect();
        for dot in gone {
            self.dots.remove(&dot);
        }
    }
}

/// How long process `me` (of `n`) waits on `dot` before acting: the
/// timeout plus one rank step per place after the dot's origin.
fn patience_of(timeout_ns: u64, me: ProcessId, n: usize, dot: Dot) -> u64 {
    let n = n as u64;
    let rank = (u64::from(me.0) + n - u64::from(dot.origin.0) % n) % n;
    timeout_ns + rank * RECOVERY_RANK_STEP_NS
}

/// `extra`'s promises added to `votes`.
fn merged(votes: &Votes, extra: &Votes) -> Arc<Votes> {
    let mut all = Vec::with_capacity(votes.len() + extra.len());
    all.extend_from_slice(votes.as_slice());
    all.extend_from_slice(extra.as_slice());
    Arc::new(Votes::from(all))
}

impl Tempo {
    /// True if failure detection is on (runs with faults).
    pub(super) fn detects_failures(&self) -> bool {
        self.failures.is_some()
    }

    /// Failure detection: every message says its sender is alive.
    pub(super) fn heard(&mut self, from: ProcessId, now: Time) {
        if let Some(heard) = self.failures.as_mut().and_then(|failures| failures.last_heard.get_mut(from.index())) {
            *heard = now;
        }
    }

    /// True if some process of `quorum` other than this one was not heard
    /// from lately: a fast path through it would wait for the recovery
    /// timeout.
    pub(super) fn suspects_some(&self, quorum: ProcessSet, now: Time) -> bool {
        let Some(failures) = &self.failures else { return false };
        failures.last_heard.iter().enumerate().any(|(index, &heard)| {
            let process = ProcessId::from_index(index);
            process != self.id && quorum.contains(process) && now.since(heard) > SUSPECT_AFTER_NS
        })
    }

    /// Records the promises this process attached to `dot` (failure
    /// detection only).
    pub(super) fn record_attached(&mut self, dot: Dot, attached: &[(Key, VoteRange)]) {
        let Some(failures) = &mut self.failures else { return };
        for &(key, range) in attached {
            failures.attached.entry(key).or_default().push((range.start, range.end, dot));
        }
        failures.dots.entry(dot).or_default().attached = Votes::from(attached);
    }

    /// Starts watching `dot` (once; not once committed), acting after
    /// `patience` (the usual one if `None`).
    pub(super) fn watch_after(&mut self, dot: Dot, patience: Option<u64>, now: Time, out: &mut Outbox<Self>) {
        let (id, n) = (self.id, self.n);
        let Some(failures) = &mut self.failures else { return };
        if self.instances.get(dot).is_none_or(|instance| instance.status == Status::Commit) {
            return;
        }
        let state = failures.dots.entry(dot).or_default();
        if state.watch.is_some() {
            return;
        }
        let patience = patience.unwrap_or_else(|| patience_of(failures.timeout_ns, id, n, dot));
        let next_at = now.plus_ns(patience);
        state.watch = Some(Watch { next_at, ballot: 0, acks: Vec::new(), votes: Vec::new(), proposed: None });
        out.set_timer(Timer::Watch(dot), patience);
    }

    /// [`Tempo::watch_after`] the usual patience.
    pub(super) fn watch(&mut self, dot: Dot, now: Time, out: &mut Outbox<Self>) {
        self.watch_after(dot, None, now, out);
    }

    /// Another process is working on `dot` (its recovery or consensus
    /// round reached this one): wait a full period again before acting.
    pub(super) fn postpone(&mut self, dot: Dot, now: Time) {
        let (id, n) = (self.id, self.n);
        let Some(failures) = &mut self.failures else { return };
        let patience = patience_of(failures.timeout_ns, id, n, dot);
        if let Some(watch) = failures.dots.get_mut(&dot).and_then(|state| state.watch.as_mut()) {
            watch.next_at = watch.next_at.max(now.plus_ns(patience));
        }
    }

    /// `dot` committed here: stop watching it.
    pub(super) fn watch_done(&mut self, dot: Dot, out: &mut Outbox<Self>) {
        let Some(failures) = &mut self.failures else { return };
        let Some(state) = failures.dots.get_mut(&dot) else { return };
        if state.watch.take().is_some_and(|watch| watch.ballot > 0) {
            out.recovery_finished();
        }
    }

    /// The watch on `dot` fired: if it is still not committed, recover it
    /// (§11.1) or ask for its command, and watch again.
    pub(super) fn handle_watch(&mut self, dot: Dot, now: Time, out: &mut Outbox<Self>) {
        let (id, n) = (self.id, self.n);
        let Some(failures) = &mut self.failures else { return };
        let Some(instance) = self.instances.get(dot) else { return };
        let bal = instance.synod.as_ref().map_or(0, |synod| synod.ballot());
        let Some(watch) = failures.dots.get_mut(&dot).and_then(|state| state.watch.as_mut()) else { return };
        if instance.status == Status::Commit {
            return;
        }
        if now < watch.next_at {
            out.set_timer(Timer::Watch(dot), watch.next_at.since(now));
            return;
        }
        let patience = patience_of(failures.timeout_ns, id, n, dot);
        watch.next_at = now.plus_ns(patience);
        out.set_timer(Timer::Watch(dot), patience);
        let Some(cmd) = &instance.cmd else {
            out.send_to_each(&self.others, Message::MPayloadRequest { dot });
            return;
        };
        // Above every ballot seen and every coordinator's slow-path ballot
        // (`1..=n`).
        let seen = bal.max(watch.ballot).max(n as Ballot);
        watch.ballot = synod::next_ballot(id, n, seen);
        // `proposed` stays: an earlier round's timestamp may still be
        // chosen, and it is then the one to commit.
        watch.acks.clear();
        watch.votes.clear();
        out.recovery_started();
        out.send_to_each(&self.processes, Message::MRec { dot, cmd: cmd.clone(), ballot: watch.ballot });
    }

    /// §11.2: `from` recovers `dot` at `ballot`.
    pub(super) fn handle_mrec(
        &mut self,
        from: ProcessId,
        dot: Dot,
        cmd: Arc<Command>,
        ballot: Ballot,
        now: Time,
        out: &mut Outbox<Self>,
    ) {
        if !self.detects_failures() {
            return;
        }
        let Some(instance) = self.instances.entry(dot) else {
            return; // collected: every process, `from` too, committed it
        };
        match instance.status {
            Status::Commit => {
                if let Some((ts, votes)) = instance.commit.clone() {
                    out.send(from, Message::MCommit { dot, ts, votes });
                }
                return;
            }
            Status::Start if instance.commit.is_some() => {
                // The commit came before the payload, which is now here.
                instance.cmd = Some(cmd);
                instance.status = Status::Payload;
                let (ts, votes) = instance.commit.take().expect("checked");
                self.handle_mcommit(dot, ts, votes.clone(), now, out);
                out.send(from, Message::MCommit { dot, ts, votes });
                return;
            }
            _ => {}
        }
        let bal = instance.synod.as_ref().map_or(0, |synod| synod.ballot());
        if ballot <= bal {
            return; // stale
        }
        match instance.status {
            Status::Start | Status::Payload => {
                // Never proposed: `proposal(cmd, 0)`, attached to the dot.
                let mut attached = std::mem::take(&mut self.scratch);
                let ts = self.proposal(&cmd, 0, &mut attached);
                self.record_attached(dot, &attached);
                attached.clear();
                self.scratch = attached;
                let instance = self.instances.get_mut(dot).expect("created above");
                instance.proposal = ts;
                if let Some(synod) = instance.synod.as_deref_mut() {
                    synod.set_initial(ts);
                }
                instance.clock_floor = instance.clock_floor.max(ts);
                instance.cmd.get_or_insert(cmd);
                instance.status = Status::RecoverR;
            }
            Status::Collect => instance.status = Status::RecoverP,
            Status::RecoverR | Status::RecoverP | Status::Commit => {}
        }
        self.watch(dot, now, out);
        if from != self.id {
            self.postpone(dot, now);
        }
        let instance = self.instances.get_mut(dot).expect("created above");
        let Some(promise) = instance.synod().prepare(ballot) else { return };
        let phase = if instance.status == Status::RecoverR { Phase::Fresh } else { Phase::Proposed };
        let quorum = instance.quorum;
        let votes = self
            .failures
            .as_ref()
            .and_then(|failures| failures.dots.get(&dot))
            .map(|state| state.attached.clone())
            .unwrap_or_default();
        let reply = RecAck { dot, ballot, ts: promise.aval, phase, abal: promise.abal, quorum, votes };
        out.send(from, Message::MRecAck(Box::new(reply)));
    }

    /// §11.3: an MRecAck for this process's recovery of a dot; with
    /// `n - f` of them, propose the §11.3 timestamp to every process.
    pub(super) fn handle_mrecack(&mut self, from: ProcessId, reply: RecAck, out: &mut Outbox<Self>) {
        let recovery_quorum = quorum::leaderless_recovery(self.n, self.f);
        let plant = self.options.plant_recovery_first_ack;
        let Some(failures) = &mut self.failures else { return };
        let RecAck { dot, ballot, ts, phase, abal, quorum, votes } = reply;
        let Some(instance) = self.instances.get_mut(dot) else { return };
        if instance.status == Status::Commit {
            return;
        }
        let Some(watch) = failures.dots.get_mut(&dot).and_then(|state| state.watch.as_mut()) else { return };
        let proposed = watch.proposed.as_ref().is_some_and(|(at, _, _)| *at == ballot);
        if watch.ballot != ballot || proposed || watch.acks.iter().any(|ack| ack.from == from) {
            return; // stale, done or duplicate
        }
        watch.acks.push(RecoveryAck { from, ts, phase, abal, quorum });
        watch.votes.extend_from_slice(votes.as_slice());
        if watch.acks.len() < recovery_quorum {
            return;
        }
        let ts = if plant {
            watch.acks[0].ts // planted bug: no §11.3 rule
        } else {
            recovery_ts(dot.origin, &watch.acks)
        };
        let votes = Arc::new(Votes::from(std::mem::take(&mut watch.votes)));
        watch.proposed = Some((ballot, ts, votes));
        instance.synod().propose(ballot);
        out.send_to_each(&self.processes, Message::MConsensus { dot, ballot, ts });
    }

    /// The timestamp and promises this process proposed for `dot` in its
    /// recovery round at `ballot`, taken (the round's value was chosen).
    pub(super) fn take_recovered(&mut self, dot: Dot, ballot: Ballot) -> Option<(u64, Arc<Votes>)> {
        let watch = self.failures.as_mut()?.dots.get_mut(&dot)?.watch.as_mut()?;
        match watch.proposed.take() {
            Some((at, ts, votes)) if at == ballot => Some((ts, votes)),
            other => {
                watch.proposed = other;
                None
            }
        }
    }

    /// `from` knows of `dot` but not its command: send it if known here.
    pub(super) fn handle_mpayloadrequest(&mut self, from: ProcessId, dot: Dot, out: &mut Outbox<Self>) {
        let Some(instance) = self.instances.get(dot) else { return };
        let Some(cmd) = &instance.cmd else { return };
        let commit = if instance.status == Status::Commit { instance.commit.clone() } else { None };
        let payload = Payload { dot, cmd: cmd.clone(), quorum: instance.quorum, commit };
        out.send(from, Message::MPayload(Box::new(payload)));
    }

    /// The answer to this process's MPayloadRequest: the command, and its
    /// commit if committed at the sender.
    pub(super) fn handle_mpayload(&mut self, payload: Payload, now: Time, out: &mut Outbox<Self>) {
        let Payload { dot, cmd, quorum, commit } = payload;
        let Some(instance) = self.instances.get_mut(dot) else { return };
        if instance.status != Status::Start {
            return; // the command is known here already
        }
        // No proposal: a fast-quorum member that got the command this way
        // no longer answers the MCollect, and proposes if it joins a
        // recovery (§11.2, `RECOVER_R`).
        instance.cmd = Some(cmd);
        instance.status = Status::Payload;
        if !quorum.is_empty() {
            instance.quorum = quorum;
        }
        if let Some((ts, votes)) = commit {
            instance.commit = Some(match instance.commit.take() {
                Some((_, buffered)) => (ts, merged(&buffered, &votes)),
                None => (ts, votes),
            });
        }
        if let Some((ts, votes)) = instance.commit.take() {
            self.handle_mcommit(dot, ts, votes, now, out);
        }
    }

    /// Failure detection's periodic check: ask the executor for keys that
    /// stay unstable.
    pub(super) fn check_stalls(&mut self, out: &mut Outbox<Self>) {
        if self.detects_failures() {
            out.execute(super::TableInfo::FindStalls { min_age_ns: STALL_AFTER_NS });
            out.set_timer(Timer::StallCheck, STALL_CHECK_INTERVAL_NS);
        }
    }

    /// The executor reports a key stalled: ask each process behind for its
    /// promises on the key above what arrived.
    pub(super) fn handle_stall(&mut self, stall: &Stall, out: &mut Outbox<Self>) {
        let (key, ts) = (stall.key, stall.ts);
        for &(voter, above) in &stall.behind {
            if self.processes.contains(&voter) {
                out.send(voter, Message::MPromisesRequest { key, above, ts });
            }
        }
    }

    /// `from` waits on `key` for a command at `ts` and misses this
    /// process's promises above `above`. First the clock of `key` moves to
    /// `ts` if it is lower (a detached bump, as §8 ClockBump: always safe):
    /// a process that never heard of the waiting command (or of the later
    /// commands that would have bumped it) would otherwise never promise
    /// that far, and with `f` processes crashed every live one must. Then
    /// the answer: the detached promises in one MDetached, each attached
    /// one whose dot is committed here in an MCommit of that dot (an
    /// attached promise counts only with its dot's commit); those of dots
    /// not committed here follow with their commit (this process watches
    /// them).
    pub(super) fn handle_mpromisesrequest(
        &mut self,
        from: ProcessId,
        key: Key,
        above: u64,
        ts: u64,
        out: &mut Outbox<Self>,
    ) {
        if !self.detects_failures() || !self.processes.contains(&from) {
            return;
        }
        let detached_buffer = &mut self.detached;
        self.clocks.bump_key(key, ts, |key, range| detached_buffer.add(key, range));
        let Some(failures) = &self.failures else { return };
        let clock = self.clocks.clock(key);
        if clock <= above {
            return;
        }
        let me = self.id;
        let mut detached = Votes::new();
        let mut cursor = above + 1;
        let ranges = failures.attached.get(&key).map_or(&[][..], Vec::as_slice);
        let first = ranges.partition_point(|&(_, end, _)| end < cursor);
        for &(start, end, dot) in &ranges[first..] {
            if start > cursor {
                detached.push(key, VoteRange::new(me, cursor, start - 1));
            }
            let range = VoteRange::new(me, start.max(cursor), end);
            if self.instances.is_collected(dot) {
                detached.push(key, range);
            } else if let Some(instance) = self.instances.get(dot)
                && instance.status == Status::Commit
                && let Some((ts, _)) = &instance.commit
            {
                let mut votes = Votes::new();
                votes.push(key, range);
                out.send(from, Message::MCommit { dot, ts: *ts, votes: Arc::new(votes) });
            }
            cursor = end + 1;
        }
        if cursor <= clock {
            detached.push(key, VoteRange::new(me, cursor, clock));
        }
        if !detached.is_empty() {
            out.send(from, Message::MDetached { votes: Arc::new(detached) });
        }
    }

    /// An MCommit of a dot already committed here (failure detection
    /// only): its promises come from a process that was not among those
    /// the commit was computed from (or repeat known ones); the dot is
    /// known to the executor, so they count as detached.
    pub(super) fn late_promises(&mut self, votes: Arc<Votes>, out: &mut Outbox<Self>) {
        if self.detects_failures() && !votes.is_empty() {
            out.execute(super::TableInfo::DetachedVotes { votes });
        }
    }

    /// Buffers an MCommit that came before the payload, merging its
    /// promises with those of earlier ones (with failure detection several
    /// may come, each with some processes' promises).
    pub(super) fn buffer_commit(&mut self, dot: Dot, ts: u64, votes: Arc<Votes>, now: Time, out: &mut Outbox<Self>) {
        let detects = self.detects_failures();
        let Some(instance) = self.instances.get_mut(dot) else { return };
        match instance.commit.take() {
            Some((_, buffered)) if detects => instance.commit = Some((ts, merged(&buffered, &votes))),
            Some(first) => instance.commit = Some(first),
            None => instance.commit = Some((ts, votes)),
        }
        self.watch(dot, now, out);
    }

    /// A new dot of this process: watch it, at once if its fast quorum
    /// holds a suspected process.
    pub(super) fn watch_submitted(&mut self, dot: Dot, quorum: ProcessSet, now: Time, out: &mut Outbox<Self>) {
        if self.detects_failures() {
            let stalled = self.suspects_some(quorum, now);
            self.watch_after(dot, stalled.then_some(0), now, out);
        }
    }
}
