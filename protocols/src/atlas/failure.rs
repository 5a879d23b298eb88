//! Failure detection and recovery (atlas.md §9), only in runs with failure
//! detection (`ProtocolConfig::failure_detection`, set in runs with
//! faults): without it no timer is set and no message below is sent, so
//! failure-free runs are unchanged.
//!
//! Every dot a process hears of (its MCollect, a commit, a consensus
//! round, a dependency of a committed value) is watched: if it is not
//! committed after the recovery timeout, a process that has its command
//! recovers it (§9.1: MRec at a ballot of its own above every ballot seen,
//! §9.2 the acceptors join it and report, §9.3 `n - f` reports give the
//! value, then consensus with `f + 1` accepts and MCommit to all); a
//! process without the command asks every other process for it
//! (MPayloadRequest; not in the spec, which only lets holders of the
//! payload recover: a process that missed the MCollect and the MCommit
//! still needs both to execute). The watch fires again while the dot
//! stays uncommitted, so lost messages are retried by the next round.
//!
//! Processes take turns: the one `k` places after the dot's origin waits
//! `k` rank steps more, and a process that sees another's recovery round
//! waits a full period again, so competing ballots are rare.

use super::message::{Message, ProcessSet, Timer, Value};
use super::recovery::{RecoveryAck, recovery_value};
use super::{Atlas, Deps, Instance, RECOVERY_RANK_STEP_NS, SUSPECT_AFTER_NS, Status, Watch};
use crate::shared::dot::Dot;
use crate::shared::quorum;
use crate::shared::synod::{self, Ballot, Synod};
use sim_core::protocol::Outbox;
use sim_core::{Command, ProcessId, Time};
use std::sync::Arc;

/// How long process `me` (of `n`) waits on `dot` before acting, if failure
/// detection is on (`timeout_ns`): the timeout plus one rank step per
/// place after the dot's origin.
pub(super) fn patience_of(timeout_ns: Option<u64>, me: ProcessId, n: usize, dot: Dot) -> Option<u64> {
    let timeout_ns = timeout_ns?;
    let n = n as u64;
    let rank = (u64::from(me.0) + n - u64::from(dot.origin.0) % n) % n;
    Some(timeout_ns + rank * RECOVERY_RANK_STEP_NS)
}

/// Starts watching `dot` (once; not once committed) if failure detection
/// is on (`patience` is then `Some`).
pub(super) fn watch(instance: &mut Instance, patience: Option<u64>, dot: Dot, now: Time, out: &mut Outbox<Atlas>) {
    let Some(patience) = patience else {
        return;
    };
    if instance.watch.is_some() || instance.status == Status::Commit {
        return;
    }
    let watch = Watch { next_at: now.plus_ns(patience), ballot: 0, acks: Vec::new(), proposed: None };
    instance.watch = Some(Box::new(watch));
    out.set_timer(Timer::Watch(dot), patience);
}

/// Another process is working on the dot (its recovery or consensus
/// round reached this one): wait a full period again before acting.
pub(super) fn postpone(instance: &mut Instance, patience: Option<u64>, own: bool, now: Time) {
    if let (Some(patience), Some(watch), false) = (patience, instance.watch.as_mut(), own) {
        watch.next_at = watch.next_at.max(now.plus_ns(patience));
    }
}

/// The `size` closest processes heard from within [`SUSPECT_AFTER_NS`]
/// (`last_heard` is empty without failure detection), if some process is
/// suspected and enough others are not: the coordinator's slow-path
/// acceptors (any `f + 1` meet every `n - f` recovery quorum), so a crashed
/// process does not stall a slow path until the recovery timeout.
pub(super) fn live_closest(
    by_distance: &[ProcessId],
    last_heard: &[Time],
    size: usize,
    now: Time,
) -> Option<Vec<ProcessId>> {
    if last_heard.is_empty() {
        return None;
    }
    let live = |p: &&ProcessId| {
        p.0.checked_sub(1)
            .and_then(|index| last_heard.get(index as usize))
            .is_none_or(|&heard| now.since(heard) <= SUSPECT_AFTER_NS)
    };
    // This process (first) is always live to itself: it never messages
    // itself but for its own MRec/MConsensus.
    let alive: Vec<ProcessId> =
        by_distance.iter().enumerate().filter(|(rank, p)| *rank == 0 || live(p)).map(|(_, &p)| p).collect();
    (alive.len() < by_distance.len() && alive.len() >= size).then(|| alive[..size].to_vec())
}

impl Atlas {
    /// True if some process of `quorum` was not heard from lately (with
    /// failure detection only): a fast path through it would wait for the
    /// recovery timeout.
    pub(super) fn suspects_some(&self, quorum: ProcessSet, now: Time) -> bool {
        self.last_heard.iter().enumerate().any(|(index, &heard)| {
            index != self.id.index()
                && quorum.contains(ProcessId(index as u32 + 1))
                && now.since(heard) > SUSPECT_AFTER_NS
        })
    }

    /// [`patience_of`] for this process.
    pub(super) fn patience(&self, dot: Dot) -> Option<u64> {
        patience_of(self.recovery_timeout_ns, self.id, self.n, dot)
    }

    /// Watches the dependencies of a value just committed here (`deps` is
    /// `Some` with failure detection only): this process cannot execute
    /// the command before them, so it must learn each one, even if their
    /// MCollect and MCommit never reached it.
    pub(super) fn watch_deps(&mut self, deps: Option<Deps>, now: Time, out: &mut Outbox<Self>) {
        for &dep in deps.iter().flat_map(|deps| deps.iter()) {
            let patience = self.patience(dep);
            if let Some(instance) = Atlas::instance(&mut self.instances, dep) {
                watch(instance, patience, dep, now, out);
            }
        }
    }

    /// The watch on `dot` fired: if it is still not committed, recover it
    /// (§9.1) or ask for its command, and watch again.
    pub(super) fn handle_watch(&mut self, dot: Dot, now: Time, out: &mut Outbox<Self>) {
        let Some(patience) = self.patience(dot) else {
            return;
        };
        let Some(instance) = Atlas::existing(&mut self.instances, dot) else {
            return; // committed everywhere and collected
        };
        let bal = instance.synod.as_ref().map_or(0, Synod::ballot);
        let (Some(watch), false) = (instance.watch.as_mut(), instance.status == Status::Commit) else {
            return;
        };
        if now < watch.next_at {
            out.set_timer(Timer::Watch(dot), watch.next_at.since(now));
            return;
        }
        watch.next_at = now.plus_ns(patience);
        out.set_timer(Timer::Watch(dot), patience);
        let Some(cmd) = &instance.cmd else {
            out.send_to_each(&self.others, Message::MPayloadRequest { dot });
            return;
        };
        // Above every ballot seen and every coordinator's slow-path
        // ballot (`1..=n`).
        let seen = bal.max(watch.ballot).max(self.n as Ballot);
        watch.ballot = synod::next_ballot(self.id, self.n, seen);
        // `proposed` stays: an earlier ballot's proposal may still be
        // chosen, and its value is then the one to commit.
        watch.acks.clear();
        out.recovery_started();
        out.send_to_each(&self.processes, Message::MRec { dot, cmd: cmd.clone(), ballot: watch.ballot });
    }

    /// §9.2: `from` recovers `dot` at `ballot`.
    pub(super) fn handle_mrec(
        &mut self,
        from: ProcessId,
        dot: Dot,
        cmd: Arc<Command>,
        ballot: Ballot,
        now: Time,
        out: &mut Outbox<Self>,
    ) {
        let patience = self.patience(dot);
        let Some(instance) = Atlas::instance(&mut self.instances, dot) else {
            return; // committed everywhere and collected
        };
        watch(instance, patience, dot, now, out);
        if instance.status == Status::Commit {
            if let Some(value) = &instance.decided {
                out.send(from, Message::MCommit { dot, value: value.clone() });
            }
            return;
        }
        if instance.status == Status::Start
            && let Some(value) = instance.decided.take()
        {
            // The commit came before the payload, which is now here.
            instance.cmd = Some(cmd);
            instance.status = Status::Payload;
            out.send(from, Message::MCommit { dot, value: value.clone() });
            let coordinator = Atlas::coordinator_done(&mut self.coordinating, self.id, dot);
            let deps = Some(value.deps.clone());
            Atlas::commit(instance, &mut self.gc, coordinator, dot, value, true, now, out);
            self.watch_deps(deps, now, out);
            return;
        }
        let bal = instance.synod.as_ref().map_or(0, Synod::ballot);
        if ballot <= bal {
            return; // stale
        }
        if bal == 0 && matches!(instance.status, Status::Start | Status::Payload) {
            // Never computed its dependencies: `conflicts(dot, cmd, none)`.
            // The recovered value may leave them out (§9.3 a, or b
            // without this process), so what they replace in the index
            // stays there (`KeyDeps::conflicts_unhiding`; swarm atlas f=1
            // 10% seed 347 ordered two writes differently without it).
            let deps = Atlas::register(
                &mut self.key_deps,
                &mut self.indexed,
                &mut self.scratch,
                dot,
                &cmd,
                &Deps::default(),
                true,
            );
            out.work(deps.len());
            instance.set_initial(Value::command(deps));
        }
        instance.cmd.get_or_insert(cmd);
        instance.status = Status::Recover;
        let Some(promise) = instance.synod().prepare(ballot) else {
            return;
        };
        postpone(instance, patience, from == self.id, now);
        let (value, abal, quorum) = (promise.aval, promise.abal, instance.quorum);
        out.send(from, Message::MRecAck { dot, value, quorum, abal, ballot });
    }

    /// §9.3: an MRecAck for this process's recovery of `dot` at `ballot`;
    /// with `n - f` of them, propose the value of the §9.3 rule to every
    /// process.
    pub(super) fn handle_mrecack(&mut self, dot: Dot, ack: RecoveryAck, ballot: Ballot, out: &mut Outbox<Self>) {
        let recovery_quorum = quorum::leaderless_recovery(self.n, self.f);
        let Some(instance) = Atlas::existing(&mut self.instances, dot) else {
            return;
        };
        let (Some(watch), false) = (instance.watch.as_mut(), instance.status == Status::Commit) else {
            return;
        };
        let proposed = watch.proposed.as_ref().is_some_and(|(at, _)| *at == ballot);
        if watch.ballot != ballot || proposed || watch.acks.iter().any(|seen| seen.from == ack.from) {
            return; // stale, done or duplicate
        }
        watch.acks.push(ack);
        if watch.acks.len() < recovery_quorum {
            return;
        }
        let value = if self.options.plant_recovery_first_ack {
            watch.acks[0].value.clone() // planted bug: no §9.3 rule
        } else {
            recovery_value(dot.origin, &watch.acks)
        };
        watch.proposed = Some((ballot, value.clone()));
        instance.synod().propose(ballot);
        out.send_to_each(&self.processes, Message::MConsensus { dot, ballot, value });
    }

    /// `from` knows of `dot` but not its command: send it if known here.
    pub(super) fn handle_mpayloadrequest(&mut self, from: ProcessId, dot: Dot, out: &mut Outbox<Self>) {
        let Some(instance) = Atlas::existing(&mut self.instances, dot) else {
            return;
        };
        let Some(cmd) = &instance.cmd else {
            return;
        };
        let value = if instance.status == Status::Commit { instance.decided.clone() } else { None };
        out.send(from, Message::MPayload { dot, cmd: cmd.clone(), quorum: instance.quorum, value });
    }

    /// The answer to this process's MPayloadRequest: the command, and its
    /// value if committed at the sender.
    pub(super) fn handle_mpayload(
        &mut self,
        dot: Dot,
        cmd: Arc<Command>,
        quorum: ProcessSet,
        value: Option<Value>,
        now: Time,
        out: &mut Outbox<Self>,
    ) {
        let Some(instance) = Atlas::existing(&mut self.instances, dot) else {
            return;
        };
        if instance.status != Status::Start {
            return; // the command is known here already
        }
        instance.cmd = Some(cmd);
        if !quorum.is_empty() {
            instance.quorum = quorum;
        }
        // Not registered in the §3 index (as a non-member, §5 step 2a):
        // if it must be, an MRec does it (§9.2).
        let joined = instance.synod.as_ref().is_some_and(|synod| synod.ballot() > 0);
        instance.status = if joined { Status::Recover } else { Status::Payload };
        if let Some(value) = value {
            instance.decided.get_or_insert(value);
        }
        if let Some(value) = instance.decided.take() {
            let coordinator = Atlas::coordinator_done(&mut self.coordinating, self.id, dot);
            let deps = Some(value.deps.clone());
            Atlas::commit(instance, &mut self.gc, coordinator, dot, value, true, now, out);
            self.watch_deps(deps, now, out);
        }
    }
}
