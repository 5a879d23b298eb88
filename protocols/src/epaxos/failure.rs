//! Failure detection and explicit prepare (epaxos.md §7, the authors' TLA+
//! `SendPrepare` .. `FinalizeTryPreAccept`), only in runs with failure
//! detection (`ProtocolConfig::failure_detection`, set in runs with
//! faults): without it no timer is set and no message below is sent, so
//! failure-free runs are unchanged.
//!
//! Every instance a process hears of (its PreAccept, an Accept, a Prepare,
//! a dependency of a committed command) is watched: if it is not
//! committed after the recovery timeout, the process recovers it (§7.1:
//! Prepare at a ballot of its own above every ballot seen, to every
//! process; §7.2 the value from `F + 1` PrepareOKs, see `recovery.rs`;
//! then TryPreAccept, phase 1 or an Accept round at that ballot, and
//! Commit to all). A process that knows of an instance but not its command
//! first asks every process for its Commit (CommitRequest), and recovers
//! it only if that brings nothing. The watch fires again while the
//! instance stays uncommitted, so lost messages are retried by the next
//! round.
//!
//! Processes take turns as in Atlas: the one `k` places after the
//! instance's leader waits `k` rank steps more, and a process that sees
//! another's round waits a full period again.

use super::recovery::{self, Attributes, Decision, PrepareReply, ReplyStatus};
use super::{
    EPaxos, Instance, Message, RECOVERY_RANK_STEP_NS, SUSPECT_AFTER_NS, Status, Timer, TryOutcome, union_into,
};
use crate::shared::dot::Dot;
use crate::shared::quorum;
use crate::shared::synod::{self, Ballot};
use sim_core::protocol::Outbox;
use sim_core::{Command, ProcessId, Time};
use std::collections::BTreeSet;
use std::sync::Arc;

/// Failure detection's state for one instance at one process (boxed in
/// the instance, so a failure-free instance pays one pointer).
#[derive(Debug)]
pub(super) struct Watch {
    /// When this process acts next if the instance is still not
    /// committed; postponed when another process's round is seen.
    next_at: Time,
    /// The ballot of this process's latest recovery round (0: none).
    pub(super) ballot: Ballot,
    /// A CommitRequest went out (for an instance whose command is unknown
    /// here).
    asked: bool,
    /// Where this process's latest recovery round is.
    round: Round,
}

/// A recovery round at `Watch::ballot`.
#[derive(Debug)]
enum Round {
    Idle,
    /// §7.1: PrepareOKs so far.
    Preparing {
        replied: u64,
        replies: Vec<PrepareReply>,
    },
    /// §7.2 d: TryPreAccept of `value`; OKs so far.
    Trying {
        value: Attributes,
        replied: u64,
        oks: usize,
    },
    /// §7.2 e: phase 1 again, to `targets` (all must reply); the union of
    /// the replies so far.
    PreAccepting {
        cmd: Arc<Command>,
        targets: u64,
        replied: u64,
        seq: u64,
        deps: Vec<Dot>,
    },
    /// Accept round of `value`; AcceptOKs so far.
    Accepting {
        value: Attributes,
        acked: u64,
    },
}

fn bit(process: ProcessId) -> u64 {
    1u64 << process.index()
}

/// True if the two commands interfere (epaxos.md §3: share a key, not
/// both read-only).
fn interferes(a: &Command, b: &Command) -> bool {
    if a.is_read_only() && b.is_read_only() {
        return false;
    }
    a.keys().any(|key| b.keys().any(|other| other == key))
}

impl EPaxos {
    /// How long this process waits on `dot` before acting, if failure
    /// detection is on: the timeout plus one rank step per place after
    /// the instance's leader.
    pub(super) fn patience(&self, dot: Dot) -> Option<u64> {
        let timeout_ns = self.recovery_timeout_ns?;
        let n = self.n as u64;
        let rank = (u64::from(self.id.0) + n - u64::from(dot.origin.0) % n) % n;
        Some(timeout_ns + rank * RECOVERY_RANK_STEP_NS)
    }

    /// True if some member of this process's fast quorum was not heard
    /// from lately (failure detection only).
    pub(super) fn suspects_some(&self, now: Time) -> bool {
        self.fast_quorum_others
            .iter()
            .any(|p| self.last_heard.get(p.index()).is_some_and(|&heard| now.since(heard) > SUSPECT_AFTER_NS))
    }

    /// Starts watching `dot` (held here), once, unless committed.
    pub(super) fn watch(&mut self, dot: Dot, now: Time, out: &mut Outbox<Self>) {
        let Some(patience) = self.patience(dot) else {
            return;
        };
        let Some(instance) = self.instances.get_mut(dot) else {
            return;
        };
        if instance.watch.is_some() || instance.status == Status::Committed {
            return;
        }
        let watch = Watch { next_at: now.plus_ns(patience), ballot: 0, asked: false, round: Round::Idle };
        instance.watch = Some(Box::new(watch));
        out.set_timer(Timer::Watch(dot), patience);
    }

    /// Another process is working on `dot` (its round reached this one):
    /// wait a full period again before acting.
    pub(super) fn postpone(&mut self, dot: Dot, from: ProcessId, _ballot: Ballot, now: Time) {
        let Some(patience) = self.patience(dot) else {
            return;
        };
        if from == self.id {
            return;
        }
        if let Some(watch) = self.instances.get_mut(dot).and_then(|instance| instance.watch.as_mut()) {
            watch.next_at = watch.next_at.max(now.plus_ns(patience));
        }
    }

    /// Recovers `dot` (this process's new instance) right away: its fast
    /// quorum holds a suspected process.
    pub(super) fn recover_now(&mut self, dot: Dot, now: Time, out: &mut Outbox<Self>) {
        if let Some(watch) = self.instances.get_mut(dot).and_then(|instance| instance.watch.as_mut()) {
            watch.next_at = now;
            out.set_timer(Timer::Watch(dot), 0);
        }
    }

    /// The instance of `dot`, created NotSeen if new; `None` if collected
    /// or bogus.
    fn known(&mut self, dot: Dot) -> Option<&mut Instance> {
        if !self.instances.in_range(dot) {
            return None;
        }
        if self.instances.get(dot).is_none() {
            let instance = Instance {
                status: Status::NotSeen,
                cmd: self.noop_cmd.clone(),
                noop: false,
                registered: false,
                seq: 0,
                deps: self.no_deps.clone(),
                bal: 0,
                abal: 0,
                coordinator: None,
                watch: None,
            };
            self.instances.insert(dot, instance);
        }
        self.instances.get_mut(dot)
    }

    /// Watches the dependencies of a command just committed here: this
    /// process cannot execute it before them, so it must learn each one,
    /// even if their PreAccept and Commit never reached it.
    pub(super) fn watch_deps(&mut self, deps: &[Dot], now: Time, out: &mut Outbox<Self>) {
        for &dep in deps {
            if self.known(dep).is_some() {
                self.watch(dep, now, out);
            }
        }
    }

    /// The watch on `dot` fired: if it is still not committed, recover it
    /// (§7.1) or ask for its command, and watch again.
    pub(super) fn handle_watch(&mut self, dot: Dot, now: Time, out: &mut Outbox<Self>) {
        let Some(patience) = self.patience(dot) else {
            return;
        };
        let n = self.n;
        let me = self.id;
        let Some(instance) = self.instances.get_mut(dot) else {
            return; // committed everywhere and collected
        };
        let bal = instance.bal;
        let (Some(watch), false) = (instance.watch.as_mut(), instance.status == Status::Committed) else {
            return;
        };
        if now < watch.next_at {
            out.set_timer(Timer::Watch(dot), watch.next_at.since(now));
            return;
        }
        watch.next_at = now.plus_ns(patience);
        out.set_timer(Timer::Watch(dot), patience);
        if instance.cmd.ops.is_empty() && !watch.asked {
            watch.asked = true;
            out.send_to_each(&self.others, Message::CommitRequest { dot });
            return;
        }
        // Above every ballot seen and every leader's initial one (`1..=n`).
        let seen = bal.max(watch.ballot).max(n as Ballot);
        watch.ballot = synod::next_ballot(me, n, seen);
        watch.round = Round::Preparing { replied: 0, replies: Vec::new() };
        let (ballot, cmd) = (watch.ballot, instance.cmd.clone());
        out.recovery_started();
        out.send_to_each(&self.processes, Message::Prepare { dot, ballot, cmd });
    }

    /// §7.1: `from` recovers `dot` at `ballot`; join it if higher than
    /// any joined and report the instance.
    pub(super) fn handle_prepare(
        &mut self,
        from: ProcessId,
        dot: Dot,
        ballot: Ballot,
        cmd: Arc<Command>,
        now: Time,
        out: &mut Outbox<Self>,
    ) {
        if self.known(dot).is_none() {
            return;
        }
        self.watch(dot, now, out);
        let instance = self.instances.get_mut(dot).expect("known above");
        if instance.status == Status::Committed {
            if from != self.id {
                out.send(from, self.commit_of(dot));
            }
            return;
        }
        if ballot <= instance.bal {
            return; // stale
        }
        instance.bal = ballot;
        let learned = instance.cmd.ops.is_empty() && !cmd.ops.is_empty();
        if learned {
            // The recoverer's command: this process can now recover it too.
            instance.cmd = cmd.clone();
        }
        let status = match instance.status {
            Status::NotSeen => ReplyStatus::NotSeen,
            Status::PreAccepted => ReplyStatus::PreAccepted,
            Status::Accepted => ReplyStatus::Accepted,
            Status::Committed => ReplyStatus::Committed,
        };
        let reply_cmd = if instance.noop { self.noop_cmd.clone() } else { instance.cmd.clone() };
        let reply = Message::PrepareOk {
            dot,
            ballot,
            status,
            cmd: reply_cmd,
            seq: instance.seq,
            deps: instance.deps.clone(),
            abal: instance.abal,
        };
        if learned {
            self.index(&cmd, 0);
        }
        self.postpone(dot, from, ballot, now);
        out.send(from, reply);
    }

    /// §7.2: a PrepareOK for this process's recovery of `dot` at `ballot`;
    /// with `F + 1` of them, decide.
    pub(super) fn handle_prepare_ok(
        &mut self,
        dot: Dot,
        ballot: Ballot,
        reply: PrepareReply,
        now: Time,
        out: &mut Outbox<Self>,
    ) {
        let recovery_quorum = quorum::epaxos_slow(self.n);
        let (me, n, plant) = (self.id, self.n, self.options.plant_recovery_own_value);
        let Some(watch) = self.round_at(dot, ballot) else {
            return;
        };
        let Round::Preparing { replied, replies } = &mut watch.round else {
            return; // decided already
        };
        if *replied & bit(reply.from) != 0 {
            return; // a duplicate
        }
        *replied |= bit(reply.from);
        replies.push(reply);
        if replies.len() < recovery_quorum {
            return;
        }
        let decision = match replies.iter().find(|reply| reply.from == me) {
            // Planted bug: no §7.2 rule.
            Some(own) if plant => Decision::Accept(own.value.clone()),
            _ => recovery::decide(dot.origin, n, replies),
        };
        watch.round = Round::Idle;
        self.carry_out(dot, ballot, decision, now, out);
    }

    /// This process's watch of `dot` if its latest round is at `ballot`
    /// and the instance is not committed.
    fn round_at(&mut self, dot: Dot, ballot: Ballot) -> Option<&mut Watch> {
        let instance = self.instances.get_mut(dot)?;
        if instance.status == Status::Committed {
            return None;
        }
        instance.watch.as_deref_mut().filter(|watch| watch.ballot == ballot && ballot > 0)
    }

    /// Carries out a §7.2 decision at `ballot`.
    fn carry_out(&mut self, dot: Dot, ballot: Ballot, decision: Decision, now: Time, out: &mut Outbox<Self>) {
        match decision {
            Decision::Commit(value) => self.commit_recovered(dot, value, now, out),
            Decision::Accept(value) => self.start_accept(dot, ballot, value, out),
            Decision::TryPreAccept(value) => {
                let Some(watch) = self.round_at(dot, ballot) else {
                    return;
                };
                let Attributes { cmd, seq, deps } = value.clone();
                watch.round = Round::Trying { value, replied: 0, oks: 0 };
                out.send_to_each(&self.processes, Message::TryPreAccept { dot, ballot, cmd, seq, deps });
            }
            Decision::PhaseOne(cmd) => self.start_phase_one(dot, ballot, cmd, now, out),
            Decision::Noop => {
                // A no-op has no keys: phase 1 would compute nothing, so
                // straight to the Accept round (the ballot is this
                // process's, and no value can have been chosen below it).
                let value = Attributes { cmd: self.noop_cmd.clone(), seq: 0, deps: self.no_deps.clone() };
                self.start_accept(dot, ballot, value, out);
            }
        }
    }

    /// An Accept round of `value` at `ballot`, to every process.
    fn start_accept(&mut self, dot: Dot, ballot: Ballot, value: Attributes, out: &mut Outbox<Self>) {
        let Some(watch) = self.round_at(dot, ballot) else {
            return;
        };
        let Attributes { cmd, seq, deps } = value.clone();
        watch.round = Round::Accepting { value, acked: 0 };
        out.send_to_each(&self.processes, Message::Accept { dot, ballot, cmd, seq, deps });
    }

    /// §7.2 e: phase 1 again at `ballot`, as the TLA+ spec's
    /// `StartPhase1` with a slow quorum: this process and the `F` closest
    /// others not suspected, all of which must reply (only they register
    /// the instance in their per-key index, and each registering process's
    /// dependencies must be in the value: the index keeps only the latest
    /// command per key).
    fn start_phase_one(&mut self, dot: Dot, ballot: Ballot, cmd: Arc<Command>, now: Time, out: &mut Outbox<Self>) {
        let size = quorum::epaxos_slow(self.n);
        let live: Vec<ProcessId> = self
            .by_distance
            .iter()
            .copied()
            .filter(|&p| {
                p == self.id || self.last_heard.get(p.index()).is_none_or(|&heard| now.since(heard) <= SUSPECT_AFTER_NS)
            })
            .collect();
        let targets: Vec<ProcessId> =
            if live.len() >= size { live[..size].to_vec() } else { self.by_distance[..size].to_vec() };
        let Some(instance) = self.instances.get(dot) else {
            return;
        };
        let (seq, deps) = if instance.status == Status::NotSeen {
            (0, self.no_deps.clone())
        } else {
            (instance.seq, instance.deps.clone())
        };
        let Some(watch) = self.round_at(dot, ballot) else {
            return;
        };
        let target_bits = targets.iter().fold(0, |bits, &p| bits | bit(p));
        watch.round =
            Round::PreAccepting { cmd: cmd.clone(), targets: target_bits, replied: 0, seq: 0, deps: Vec::new() };
        out.send_to_each(&targets, Message::PreAccept { dot, ballot, cmd, seq, deps });
    }

    /// A PreAccept at a recovery ballot, for an instance held here (§7.2
    /// e): the attributes this process computed before, or the ones it
    /// computes now, plus the recoverer's.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn pre_accept_again(
        &mut self,
        from: ProcessId,
        dot: Dot,
        ballot: Ballot,
        cmd: Arc<Command>,
        seq: u64,
        deps: Arc<[Dot]>,
        now: Time,
        out: &mut Outbox<Self>,
    ) {
        let instance = self.instances.get(dot).expect("held here");
        let (registered, known, old_seq, old_deps, seen) = (
            instance.registered,
            !instance.cmd.ops.is_empty(),
            instance.seq,
            instance.deps.clone(),
            instance.status != Status::NotSeen,
        );
        let (seq, mut new_deps) = if registered {
            // Registered here already: later commands here depend on it,
            // so its earlier dependencies stand; nothing new to add.
            (old_seq.max(seq), deps.to_vec())
        } else {
            let seq = if known { self.next_seq(&cmd).max(seq) } else { self.index_new(&cmd, seq) };
            (seq, self.register(dot, &cmd, &deps))
        };
        if seen {
            union_into(&mut new_deps, &old_deps);
        }
        if known && seq > old_seq {
            self.raise_seq(&cmd, seq);
        }
        out.work(new_deps.len());
        let new_deps = self.share(new_deps);
        let instance = self.instances.get_mut(dot).expect("held here");
        if !known {
            instance.cmd = cmd;
        }
        instance.status = Status::PreAccepted;
        instance.noop = false;
        instance.registered = true;
        instance.seq = seq;
        instance.deps = new_deps.clone();
        instance.bal = ballot;
        instance.abal = ballot;
        self.watch(dot, now, out);
        self.postpone(dot, from, ballot, now);
        out.send(from, Message::PreAcceptOk { dot, ballot, seq, deps: new_deps, committed_deps: Vec::new() });
    }

    /// A reply to this process's phase 1 at `ballot` (§7.2 e): once every
    /// target replied, an Accept round with the union.
    pub(super) fn recovery_pre_accept_ok(
        &mut self,
        from: ProcessId,
        dot: Dot,
        ballot: Ballot,
        seq: u64,
        deps: &[Dot],
        out: &mut Outbox<Self>,
    ) {
        let Some(watch) = self.round_at(dot, ballot) else {
            return;
        };
        let Round::PreAccepting { cmd, targets, replied, seq: max_seq, deps: union } = &mut watch.round else {
            return;
        };
        if *targets & bit(from) == 0 || *replied & bit(from) != 0 {
            return; // not asked, or a duplicate
        }
        *replied |= bit(from);
        *max_seq = (*max_seq).max(seq);
        union_into(union, deps);
        if replied != targets {
            return;
        }
        let value = Attributes { cmd: cmd.clone(), seq: *max_seq, deps: std::mem::take(union).into() };
        self.start_accept(dot, ballot, value, out);
    }

    /// An AcceptOK for this process's Accept round at `ballot`: with
    /// `F + 1`, the value is chosen.
    pub(super) fn recovery_accept_ok(
        &mut self,
        from: ProcessId,
        dot: Dot,
        ballot: Ballot,
        now: Time,
        out: &mut Outbox<Self>,
    ) {
        let quorum = quorum::epaxos_slow(self.n);
        let Some(watch) = self.round_at(dot, ballot) else {
            return;
        };
        let Round::Accepting { value, acked } = &mut watch.round else {
            return;
        };
        if *acked & bit(from) != 0 {
            return;
        }
        *acked |= bit(from);
        if (acked.count_ones() as usize) < quorum {
            return;
        }
        let value = value.clone();
        watch.round = Round::Idle;
        self.commit_recovered(dot, value, now, out);
    }

    /// The recovery chose `value`: Commit to every process, commit here.
    fn commit_recovered(&mut self, dot: Dot, value: Attributes, now: Time, out: &mut Outbox<Self>) {
        let Attributes { cmd, seq, deps } = value;
        out.send_to_each(&self.others, Message::Commit { dot, cmd: cmd.clone(), seq, deps: deps.clone() });
        self.handle_commit(dot, cmd, seq, deps, now, out);
    }

    /// §7.2 d at a replica (TLA+ `ReplyTryPreaccept`): pre-accept `value`
    /// at `ballot` unless a conflicting instance here is ordered neither
    /// after the instance (it depends on it) nor before (a dependency of
    /// `value` with a lower `seq`). Dependencies are the latest per key
    /// (§3), so "depends on" is read transitively, through the instances
    /// held here.
    pub(super) fn handle_try_pre_accept(
        &mut self,
        from: ProcessId,
        dot: Dot,
        ballot: Ballot,
        value: Attributes,
        now: Time,
        out: &mut Outbox<Self>,
    ) {
        if self.known(dot).is_none() || value.is_noop() {
            return;
        }
        self.watch(dot, now, out);
        let instance = self.instances.get(dot).expect("known above");
        if instance.status == Status::Committed {
            if from != self.id {
                out.send(from, self.commit_of(dot));
            }
            return;
        }
        if ballot < instance.bal || instance.status == Status::Accepted {
            return; // stale; or accepted here (TLA+: no reply)
        }
        let initial = Ballot::from(dot.origin.0);
        let same_as_initial = instance.status == Status::PreAccepted
            && instance.abal == initial
            && instance.seq == value.seq
            && instance.deps == value.deps;
        let mut conflict: Option<ReplyStatus> = None;
        for (other_dot, other) in self.instances.iter() {
            if other_dot == dot || other.status == Status::NotSeen || other.noop || !interferes(&other.cmd, &value.cmd)
            {
                continue;
            }
            let after = self.reaches(&other.deps, dot);
            let before = other.seq < value.seq && self.reaches(&value.deps, other_dot);
            if after || before {
                continue;
            }
            let status = match other.status {
                Status::Committed => ReplyStatus::Committed,
                Status::Accepted => ReplyStatus::Accepted,
                _ => ReplyStatus::PreAccepted,
            };
            conflict = conflict.max(Some(status));
        }
        if let Some(status) = conflict {
            out.send(from, Message::TryPreAcceptOk { dot, ballot, outcome: TryOutcome::Conflict(status) });
            return;
        }
        let (registered, known, old_seq) = (instance.registered, !instance.cmd.ops.is_empty(), instance.seq);
        if !registered {
            // Every conflicting instance here is ordered with it (checked
            // above), so later commands may reach those through it.
            if !known {
                self.index(&value.cmd, value.seq);
            }
            self.register(dot, &value.cmd, &value.deps);
        }
        if known && value.seq > old_seq {
            self.raise_seq(&value.cmd, value.seq);
        }
        let instance = self.instances.get_mut(dot).expect("known above");
        instance.bal = ballot;
        // Pre-accepted at the initial ballot with this same value: keep
        // that evidence (§7.2 c, d count pre-accepts at the initial
        // ballot; a later recovery must still see this one).
        instance.abal = if same_as_initial { initial } else { ballot };
        instance.status = Status::PreAccepted;
        instance.registered = true;
        instance.noop = false;
        if !known {
            instance.cmd = value.cmd;
        }
        instance.seq = value.seq;
        instance.deps = value.deps;
        self.postpone(dot, from, ballot, now);
        out.send(from, Message::TryPreAcceptOk { dot, ballot, outcome: TryOutcome::Ok });
    }

    /// §3 `conflicts`: the dependencies of `cmd` as `dot` here, which
    /// registers it in the per-key index. With failure detection, also
    /// guards the chains the index stands for: the index keeps only the
    /// latest command per key, a transitive reduction that holds only if
    /// each registered command commits with (at least) the dependencies
    /// computed here. A recovery may commit it without them (a value
    /// computed by other processes, or a no-op), and a later command that
    /// depends only on it here would then no longer reach the commands it
    /// displaced: two conflicting commands could end up unordered. So
    /// every command it displaced stays a direct dependency of later
    /// commands on its keys until it commits with that command among its
    /// dependencies (or the displaced command executed everywhere).
    pub(super) fn register(&mut self, dot: Dot, cmd: &Command, past: &[Dot]) -> Vec<Dot> {
        let mut deps = self.key_deps.conflicts(dot, cmd, past);
        if self.recovery_timeout_ns.is_none() {
            return deps;
        }
        let before = deps.len();
        for key in cmd.keys() {
            if let Some(guards) = self.chain_guards.get(&key) {
                deps.extend(guards.iter().map(|&(_, displaced)| displaced).filter(|&displaced| displaced != dot));
            }
        }
        if !cmd.is_read_only() {
            // A write displaces the latest write and the reads since.
            let displaced: Vec<Dot> = deps[..before].iter().copied().filter(|dep| !past.contains(dep)).collect();
            if !displaced.is_empty() {
                for key in cmd.keys() {
                    let guards = self.chain_guards.entry(key).or_default();
                    guards.extend(displaced.iter().map(|&d| (dot, d)));
                }
            }
        }
        if deps.len() > before {
            deps.sort_unstable();
            deps.dedup();
        }
        deps
    }

    /// `dot` (a command `cmd`) committed with `deps`: the commands its
    /// registration here displaced that `deps` contains are reached
    /// through it again.
    pub(super) fn release_guards_by(&mut self, dot: Dot, cmd: &Command, deps: &[Dot]) {
        for key in cmd.keys() {
            if let Some(guards) = self.chain_guards.get_mut(&key) {
                guards.retain(|&(by, displaced)| by != dot || !deps.contains(&displaced));
                if guards.is_empty() {
                    self.chain_guards.remove(&key);
                }
            }
        }
    }

    /// `dot` (a command `cmd`) executed at every process: nothing needs
    /// to depend on it any more.
    pub(super) fn release_guards_of(&mut self, dot: Dot, cmd: &Command) {
        for key in cmd.keys() {
            if let Some(guards) = self.chain_guards.get_mut(&key) {
                guards.retain(|&(_, displaced)| displaced != dot);
                if guards.is_empty() {
                    self.chain_guards.remove(&key);
                }
            }
        }
    }

    /// True if `target` is reachable from `sources` through the
    /// dependencies of the instances held here.
    fn reaches(&self, sources: &[Dot], target: Dot) -> bool {
        let mut seen: BTreeSet<Dot> = BTreeSet::new();
        let mut stack: Vec<Dot> = sources.to_vec();
        while let Some(dot) = stack.pop() {
            if dot == target {
                return true;
            }
            if !seen.insert(dot) {
                continue;
            }
            if let Some(instance) = self.instances.get(dot)
                && instance.status != Status::NotSeen
            {
                stack.extend(instance.deps.iter().copied().filter(|dep| !seen.contains(dep)));
            }
        }
        false
    }

    /// A TryPreAcceptOK for this process's round at `ballot` (TLA+
    /// `FinalizeTryPreAccept`): `F + 1` OKs → Accept round; a conflict
    /// with an accepted or committed instance → the value was not
    /// committed on the fast path: phase 1 again; a conflict with a
    /// pre-accepted one → wait (the watch starts a new round later).
    pub(super) fn handle_try_pre_accept_ok(
        &mut self,
        from: ProcessId,
        dot: Dot,
        ballot: Ballot,
        outcome: TryOutcome,
        now: Time,
        out: &mut Outbox<Self>,
    ) {
        let quorum = quorum::epaxos_slow(self.n);
        let Some(watch) = self.round_at(dot, ballot) else {
            return;
        };
        let Round::Trying { value, replied, oks } = &mut watch.round else {
            return;
        };
        if *replied & bit(from) != 0 {
            return;
        }
        *replied |= bit(from);
        match outcome {
            TryOutcome::Ok => {
                *oks += 1;
                if *oks >= quorum {
                    let value = value.clone();
                    self.start_accept(dot, ballot, value, out);
                }
            }
            TryOutcome::Conflict(ReplyStatus::Committed | ReplyStatus::Accepted) => {
                let cmd = value.cmd.clone();
                self.start_phase_one(dot, ballot, cmd, now, out);
            }
            TryOutcome::Conflict(_) => {}
        }
    }

    /// `from` asks for `dot`'s Commit.
    pub(super) fn handle_commit_request(&mut self, from: ProcessId, dot: Dot, out: &mut Outbox<Self>) {
        if self.instances.get(dot).is_some_and(|instance| instance.status == Status::Committed) {
            out.send(from, self.commit_of(dot));
        }
    }
}
