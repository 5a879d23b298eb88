//! Failure detection and recovery (DESIGN.md, Caesar recovery), only in
//! runs with failure detection (`ProtocolConfig::failure_detection`, set in
//! runs with faults): without it no timer is set and no message below is
//! sent, so failure-free runs are unchanged.
//!
//! Every dot a process hears of (its proposal, a commit, a recovery
//! round, a predecessor of a committed command) is watched: if it is not
//! committed after the recovery timeout, a process that has its command
//! recovers it (MRec at a ballot of its own above every ballot seen; `CQ`
//! MRecAcks; the rule of `recovery.rs`: accept the highest accepted value
//! again, or retry at a fresh timestamp above every replier's clock and
//! accept what the retry's acks give; `CQ` MAcceptAcks; MCommit to all);
//! a process without the command asks every other process for it
//! (MPayloadRequest). The watch fires again while the dot stays
//! uncommitted, so lost messages are retried by the next round, and a
//! process cut off by a partition catches up the same way.
//!
//! Processes take turns: the one `k` places after the dot's origin waits
//! `k` rank steps more, and a process that sees another's round waits a
//! full period again, so competing ballots are rare.

use super::recovery::{self, Accepted, RecoveryChoice, RecoveryReply};
use super::{Caesar, Clock, Deps, Info, Message, Round, Status, Timer, contains, shared, union};
use crate::shared::dot::Dot;
use crate::shared::synod::{self, Ballot};
use sim_core::protocol::Outbox;
use sim_core::time::NS_PER_MS;
use sim_core::{Command, ProcessId, Time};
use std::sync::Arc;

/// How long a dot may stay uncommitted before its origin recovers it.
pub const DEFAULT_RECOVERY_TIMEOUT_NS: u64 = 1_000 * NS_PER_MS;

/// How much longer each process after the origin waits.
pub const RECOVERY_RANK_STEP_NS: u64 = 600 * NS_PER_MS;

/// A watched dot, and this process's recovery of it.
#[derive(Debug)]
pub(super) struct Watch {
    next_at: Time,
    /// This process's latest recovery ballot (0: none yet).
    ballot: Ballot,
    phase: Phase,
}

/// Where this process's recovery of a dot stands.
#[derive(Debug)]
enum Phase {
    Idle,
    /// Gathering MRecAcks.
    Prepare(Vec<RecoveryReply>),
    /// Nothing was accepted: retrying at `ts`, gathering MRecRetryAcks
    /// (bit `id - 1` of `replied`) and the union of their predecessors.
    Retry {
        ts: Clock,
        replied: u64,
        deps: Vec<Dot>,
    },
    /// Gathering MAcceptAcks for `(ts, deps)`.
    Accept {
        ts: Clock,
        deps: Deps,
        replied: u64,
    },
}

/// The bit of process `from`, if it is one of the shard's (`everyone`).
fn bit_of(from: ProcessId, everyone: u64) -> Option<u64> {
    let bit = (from.0 as usize).checked_sub(1).filter(|&index| index < super::MAX_PROCESSES).map(|index| 1 << index)?;
    (everyone & bit != 0).then_some(bit)
}

/// `dot` committed here: a recovery of it this process was running ends.
pub(super) fn committed(info: &mut Info, out: &mut Outbox<Caesar>) {
    if let Some(watch) = info.extra.as_mut().and_then(|extra| extra.watch.as_mut())
        && !matches!(watch.phase, Phase::Idle)
    {
        watch.phase = Phase::Idle;
        out.recovery_finished();
    }
}

impl Caesar {
    /// How long this process waits on `dot` before acting, if failure
    /// detection is on: the timeout plus one rank step per place after the
    /// dot's origin.
    fn patience(&self, dot: Dot) -> Option<u64> {
        let timeout_ns = self.recovery_timeout_ns?;
        let n = self.processes.len() as u64;
        let rank = (u64::from(self.id.0) + n - u64::from(dot.origin.0) % n) % n;
        Some(timeout_ns + rank * RECOVERY_RANK_STEP_NS)
    }

    /// Starts watching `dot` (once; not once committed) if failure
    /// detection is on.
    pub(super) fn watch(&mut self, dot: Dot, now: Time, out: &mut Outbox<Self>) {
        let Some(patience) = self.patience(dot) else {
            return;
        };
        let Some(info) = self.cmds.get_or_start(dot, &self.empty) else {
            return; // collected, or a bogus dot
        };
        if info.status == Status::Commit || info.extra.as_ref().is_some_and(|extra| extra.watch.is_some()) {
            return;
        }
        info.extra().watch = Some(Box::new(Watch { next_at: now.plus_ns(patience), ballot: 0, phase: Phase::Idle }));
        out.set_timer(Timer::Watch(dot), patience);
    }

    /// Another process is working on `dot` (its round reached this one):
    /// wait a full period again before acting.
    fn postpone(&mut self, dot: Dot, from: ProcessId, now: Time) {
        let (Some(patience), false) = (self.patience(dot), from == self.id) else {
            return;
        };
        if let Some(watch) = self.cmds.get_mut(dot).and_then(|info| info.extra.as_mut()?.watch.as_mut()) {
            watch.next_at = watch.next_at.max(now.plus_ns(patience));
        }
    }

    /// The watch on `dot` fired: if it is still not committed, recover it
    /// or ask for its command, and watch again.
    pub(super) fn handle_watch(&mut self, dot: Dot, now: Time, out: &mut Outbox<Self>) {
        let Some(patience) = self.patience(dot) else {
            return;
        };
        let n = self.processes.len();
        let Some(info) = self.cmds.get_mut(dot) else {
            return; // executed everywhere and collected
        };
        if info.status == Status::Commit {
            return;
        }
        let cmd = info.cmd.clone();
        let promised = info.promised();
        let Some(watch) = info.extra.as_mut().and_then(|extra| extra.watch.as_mut()) else {
            return;
        };
        if now < watch.next_at {
            out.set_timer(Timer::Watch(dot), watch.next_at.since(now));
            return;
        }
        watch.next_at = now.plus_ns(patience);
        out.set_timer(Timer::Watch(dot), patience);
        let Some(cmd) = cmd else {
            out.send_to_each(&self.others, Message::MPayloadRequest { dot });
            return;
        };
        watch.ballot = synod::next_ballot(self.id, n, promised.max(watch.ballot));
        watch.phase = Phase::Prepare(Vec::new());
        out.recovery_started();
        out.send_to_each(&self.processes, Message::MRec { dot, cmd, ballot: watch.ballot });
    }

    /// The command of `dot` is known (from a recovery message or a
    /// payload): keep it, and carry out a commit that waited for it.
    /// True if `dot` is committed here now.
    fn learn_command(&mut self, dot: Dot, cmd: &Arc<Command>, now: Time, out: &mut Outbox<Self>) -> bool {
        let Some(info) = self.cmds.get_mut(dot) else { return false };
        if info.cmd.is_none() {
            info.cmd = Some(cmd.clone());
            info.status = Status::Payload;
        }
        let early = info.extra.as_mut().and_then(|extra| extra.early_commit.take());
        if let Some(early) = early {
            self.handle_mcommit(early.from, dot, early.ts, early.deps, now, out);
        }
        self.cmds.get(dot).is_some_and(|info| info.status == Status::Commit)
    }

    /// Answers a round on a committed dot with its commit; true if it was.
    fn answer_if_committed(&self, from: ProcessId, dot: Dot, out: &mut Outbox<Self>) -> bool {
        match self.cmds.get(dot) {
            Some(info) if info.status == Status::Commit => {
                out.send(from, Message::MCommit { dot, ts: info.ts, deps: info.deps.clone() });
                true
            }
            _ => false,
        }
    }

    /// `from` recovers `dot` at `ballot`: promise it, register the dot if
    /// it never was here (so conflicting proposals below wait for it), and
    /// report the highest accepted value, the clock and the registration.
    pub(super) fn handle_mrec(
        &mut self,
        from: ProcessId,
        dot: Dot,
        cmd: Arc<Command>,
        ballot: Ballot,
        now: Time,
        out: &mut Outbox<Self>,
    ) {
        self.watch(dot, now, out);
        if self.cmds.get_or_start(dot, &self.empty).is_none() || self.learn_command(dot, &cmd, now, out) {
            self.answer_if_committed(from, dot, out);
            return;
        }
        let info = self.cmds.get_mut(dot).expect("known above");
        if ballot < info.promised() {
            return; // stale
        }
        if !info.registered() {
            let ts = self.clock.clock_next();
            self.index.register(dot, &cmd, ts);
            info.ts = ts;
            info.status = Status::Recover;
        }
        let registered = info.ts;
        let extra = info.extra();
        extra.promised = ballot;
        let accepted = extra.accepted.clone();
        self.postpone(dot, from, now);
        out.send(from, Message::MRecAck { dot, ballot, accepted, clock: self.clock.current(), registered });
    }

    /// An MRecAck for this process's recovery of `dot` at `ballot`; with
    /// `CQ` of them, apply the rule.
    pub(super) fn handle_mrecack(&mut self, dot: Dot, ballot: Ballot, reply: RecoveryReply, out: &mut Outbox<Self>) {
        let (quorum, everyone) = (self.classic_quorum, self.cmds.everyone);
        let Some(info) = self.cmds.get_mut(dot) else { return };
        let (Some(cmd), false) = (info.cmd.clone(), info.status == Status::Commit) else { return };
        let Some(watch) = info.extra.as_mut().and_then(|extra| extra.watch.as_mut()) else { return };
        let Phase::Prepare(replies) = &mut watch.phase else { return };
        if watch.ballot != ballot || bit_of(reply.from, everyone).is_none() {
            return;
        }
        if replies.iter().any(|seen| seen.from == reply.from) {
            return; // duplicate
        }
        replies.push(reply);
        if replies.len() < quorum {
            return;
        }
        let choice = if self.plant_recovery_any_ts {
            recovery::planted_choice(replies, &self.empty)
        } else {
            recovery::recovery_choice(replies)
        };
        match choice {
            RecoveryChoice::Accept { ts, deps } => {
                watch.phase = Phase::Accept { ts, deps: deps.clone(), replied: 0 };
                out.send_to_each(&self.processes, Message::MAccept { dot, cmd, ballot, ts, deps });
            }
            RecoveryChoice::Retry { above } => {
                self.clock.clock_join(above);
                let ts = self.clock.clock_next();
                watch.phase = Phase::Retry { ts, replied: 0, deps: Vec::new() };
                out.send_to_each(&self.processes, Message::MRecRetry { dot, cmd, ballot, ts });
            }
        }
    }

    /// A recovery found nothing accepted and retries `dot` at `ts`: move
    /// there and report the predecessors at `ts` (§5 step 6, at a ballot).
    #[allow(clippy::too_many_arguments)]
    pub(super) fn handle_mrecretry(
        &mut self,
        from: ProcessId,
        dot: Dot,
        cmd: Arc<Command>,
        ballot: Ballot,
        ts: Clock,
        now: Time,
        out: &mut Outbox<Self>,
    ) {
        self.clock.clock_join(ts);
        self.watch(dot, now, out);
        if self.cmds.get_or_start(dot, &self.empty).is_none() || self.learn_command(dot, &cmd, now, out) {
            self.answer_if_committed(from, dot, out);
            return;
        }
        let info = self.cmds.get_mut(dot).expect("known above");
        if ballot < info.promised() {
            return; // stale
        }
        Self::place(&mut self.index, dot, info, &cmd, ts);
        info.ts = ts;
        info.status = Status::Accept;
        info.stop_waiting();
        info.extra().promised = ballot;
        let deps = shared(&self.empty, self.index.pred(dot, &cmd, ts));
        self.postpone(dot, from, now);
        out.send(from, Message::MRecRetryAck { dot, ballot, deps });
    }

    /// An MRecRetryAck for this process's recovery of `dot` at `ballot`;
    /// with `CQ` of them, accept the retry's timestamp with their union.
    pub(super) fn handle_mrecretryack(
        &mut self,
        from: ProcessId,
        dot: Dot,
        ballot: Ballot,
        deps: &[Dot],
        out: &mut Outbox<Self>,
    ) {
        let (quorum, everyone) = (self.classic_quorum, self.cmds.everyone);
        let Some(info) = self.cmds.get_mut(dot) else { return };
        let (Some(cmd), false) = (info.cmd.clone(), info.status == Status::Commit) else { return };
        let Some(watch) = info.extra.as_mut().and_then(|extra| extra.watch.as_mut()) else { return };
        let Phase::Retry { ts, replied, deps: union_so_far } = &mut watch.phase else { return };
        let Some(bit) = bit_of(from, everyone).filter(|bit| *replied & bit == 0) else { return };
        if watch.ballot != ballot {
            return;
        }
        *replied |= bit;
        *union_so_far = union(union_so_far, deps);
        if (replied.count_ones() as usize) < quorum {
            return;
        }
        let ts = *ts;
        let mut all = std::mem::take(union_so_far);
        if contains(&all, dot) {
            all.retain(|&other| other != dot);
        }
        let deps = shared(&self.empty, all);
        watch.phase = Phase::Accept { ts, deps: deps.clone(), replied: 0 };
        out.send_to_each(&self.processes, Message::MAccept { dot, cmd, ballot, ts, deps });
    }

    /// Accept `dot`'s exact value at `ballot` (0: the coordinator's).
    #[allow(clippy::too_many_arguments)]
    pub(super) fn handle_maccept(
        &mut self,
        from: ProcessId,
        dot: Dot,
        cmd: Arc<Command>,
        ballot: Ballot,
        value: (Clock, Deps),
        now: Time,
        out: &mut Outbox<Self>,
    ) {
        let (ts, deps) = value;
        self.clock.clock_join(ts);
        self.watch(dot, now, out);
        if self.cmds.get_or_start(dot, &self.empty).is_none() || self.learn_command(dot, &cmd, now, out) {
            self.answer_if_committed(from, dot, out);
            return;
        }
        let info = self.cmds.get_mut(dot).expect("known above");
        if ballot < info.promised() {
            return; // stale
        }
        Self::place(&mut self.index, dot, info, &cmd, ts);
        info.ts = ts;
        info.status = Status::Accept;
        info.stop_waiting();
        info.deps = deps.clone();
        let extra = info.extra();
        extra.promised = ballot;
        extra.accepted = Some(Accepted { ballot, ts, deps });
        self.postpone(dot, from, now);
        out.send(from, Message::MAcceptAck { dot, ballot });
    }

    /// An MAcceptAck: for the coordinator's round (ballot 0) or this
    /// process's recovery; with `CQ` of them, commit.
    pub(super) fn handle_macceptack(
        &mut self,
        from: ProcessId,
        dot: Dot,
        ballot: Ballot,
        now: Time,
        out: &mut Outbox<Self>,
    ) {
        let (quorum, everyone) = (self.classic_quorum, self.cmds.everyone);
        let Some(info) = self.cmds.get_mut(dot) else { return };
        if info.status == Status::Commit {
            return;
        }
        let (ts, deps) = if ballot == 0 {
            let Some(coordinator) = info.coordinator.as_deref_mut() else { return };
            if coordinator.round != Round::Accept || !coordinator.first_reply_from(from, everyone) {
                return;
            }
            if coordinator.replies < quorum {
                return;
            }
            coordinator.round = Round::Done;
            let deps = coordinator.accepted.take().unwrap_or_else(|| self.empty.clone());
            out.commit_latency(now.since(coordinator.submitted_at));
            out.dependencies(deps.len());
            (coordinator.ts, deps)
        } else {
            let Some(watch) = info.extra.as_mut().and_then(|extra| extra.watch.as_mut()) else { return };
            let Phase::Accept { ts, deps, replied } = &mut watch.phase else { return };
            let Some(bit) = bit_of(from, everyone).filter(|bit| *replied & bit == 0) else { return };
            if watch.ballot != ballot {
                return;
            }
            *replied |= bit;
            if (replied.count_ones() as usize) < quorum {
                return;
            }
            (*ts, deps.clone())
        };
        out.send_to_each(&self.processes, Message::MCommit { dot, ts, deps });
    }

    /// `from` knows `dot` but not its command: send it if known here, with
    /// the commit if there is one.
    pub(super) fn handle_mpayloadrequest(&mut self, from: ProcessId, dot: Dot, out: &mut Outbox<Self>) {
        let Some(info) = self.cmds.get(dot) else { return };
        let Some(cmd) = &info.cmd else { return };
        let committed = (info.status == Status::Commit).then(|| (info.ts, info.deps.clone()));
        out.send(from, Message::MPayload { dot, cmd: cmd.clone(), committed });
    }

    /// The answer to this process's MPayloadRequest.
    pub(super) fn handle_mpayload(
        &mut self,
        from: ProcessId,
        dot: Dot,
        cmd: Arc<Command>,
        committed: Option<(Clock, Deps)>,
        now: Time,
        out: &mut Outbox<Self>,
    ) {
        if self.cmds.get_or_start(dot, &self.empty).is_none() || self.learn_command(dot, &cmd, now, out) {
            return;
        }
        if let Some((ts, deps)) = committed {
            self.handle_mcommit(from, dot, ts, deps, now, out);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::caesar::Options;
    use sim_core::protocol::{ProcessSetup, Protocol, ProtocolConfig};
    use sim_core::rng::{Purpose, RngStreams};
    use sim_core::{ClientId, CommandId, Op};

    const N: u32 = 5;

    /// Five processes with failure detection; `down` ones receive nothing.
    struct Net {
        processes: Vec<Caesar>,
        now: Time,
    }

    impl Net {
        fn new() -> Net {
            let processes = (1..=N)
                .map(|id| {
                    let all: Vec<ProcessId> = (1..=N).map(ProcessId).collect();
                    let setup = ProcessSetup {
                        id: ProcessId(id),
                        processes: all.clone(),
                        by_distance: all,
                        config: ProtocolConfig { f: 2, failure_detection: true, ..ProtocolConfig::default() },
                        rng: RngStreams::new(1).stream(Purpose::Protocol, u64::from(id)),
                    };
                    Caesar::new(setup, &Options::default()).0
                })
                .collect();
            Net { processes, now: Time::ZERO }
        }

        fn at(&mut self, id: u32) -> &mut Caesar {
            &mut self.processes[id as usize - 1]
        }

        /// Delivers `msg` from `from` to `to`; returns what `to` sent.
        fn deliver(&mut self, from: u32, to: u32, msg: &Message) -> Vec<(ProcessId, Message)> {
            let (now, mut out) = (self.now, Outbox::new());
            self.at(to).handle(ProcessId(from), msg.clone(), now, &mut out);
            out.sent()
        }

        /// Delivers `msg` from `from` to each of `to`; returns the answers
        /// addressed back to `from`, by sender.
        fn round(&mut self, from: u32, to: &[u32], msg: &Message) -> Vec<(u32, Message)> {
            let mut answers = Vec::new();
            for &p in to {
                for (dest, reply) in self.deliver(from, p, msg) {
                    if dest == ProcessId(from) {
                        answers.push((p, reply));
                    }
                }
            }
            answers
        }

        /// Feeds `answers` to `to`; returns the first message it then sends
        /// (to everyone).
        fn collect(&mut self, to: u32, answers: Vec<(u32, Message)>) -> Option<Message> {
            let mut sent = Vec::new();
            for (from, answer) in answers {
                sent.extend(self.deliver(from, to, &answer));
            }
            sent.into_iter().map(|(_, msg)| msg).next()
        }

        /// Fires `id`'s watch on `dot` once its patience has passed;
        /// returns the MRec it sends.
        fn recover(&mut self, id: u32, dot: Dot) -> Message {
            self.now = self.now.plus_ns(20 * DEFAULT_RECOVERY_TIMEOUT_NS);
            let (now, mut out) = (self.now, Outbox::new());
            self.at(id).handle_timer(Timer::Watch(dot), now, &mut out);
            let sent = out.sent();
            assert_eq!(sent.len(), N as usize, "MRec to everyone: {sent:?}");
            sent[0].1.clone()
        }
    }

    fn cmd(seq: u64) -> Arc<Command> {
        Arc::new(Command {
            id: CommandId { client: ClientId(0), seq },
            ops: vec![(7, Op::Put(seq))].into(),
            payload_bytes: 0,
        })
    }

    fn ts(seq: u64, pid: u32) -> Clock {
        Clock::new(seq, ProcessId(pid))
    }

    fn commit_of(msg: &Message) -> (Clock, Vec<Dot>) {
        match msg {
            Message::MCommit { ts, deps, .. } => (*ts, deps.to_vec()),
            other => panic!("expected a commit, got {other:?}"),
        }
    }

    /// A conflicting command x of process 5 at (3,5), known to processes
    /// 1 and 2 only; then process 1 submits a at (4,1) and proposes it to
    /// `to`. Returns (x, a, the MPropose).
    fn propose_after_x(net: &mut Net, to: &[u32]) -> (Dot, Dot, Message) {
        let x = Dot::new(5, 1);
        let propose_x = Message::MPropose { dot: x, cmd: cmd(100), ts: ts(3, 5) };
        net.deliver(5, 1, &propose_x);
        net.deliver(5, 2, &propose_x);
        let mut out = Outbox::new();
        net.at(1).submit(cmd(1), Time::ZERO, &mut out);
        let propose = out.sent()[0].1.clone();
        let a = Dot::new(1, 1);
        assert_eq!(propose, Message::MPropose { dot: a, cmd: cmd(1), ts: ts(4, 1) });
        let acks = net.round(1, to, &propose);
        (x, a, net.collect(1, acks).unwrap_or(propose))
    }

    /// Recovery sketch "stable/accepted → keep": a commits on the fast
    /// path (4 oks, then its exact value accepted by 1, 2, 3 and committed
    /// at 1 only, which crashes). Process 2 recovers with {2, 4, 5}: the
    /// commit keeps the fast path's timestamp (4,1) and predecessors {x},
    /// although 4 and 5 never listed x and 5 never saw a.
    #[test]
    fn caesar_5_recovery_of_a_fast_path_commit_keeps_its_ts_and_deps() {
        let mut net = Net::new();
        let (x, a, accept) = propose_after_x(&mut net, &[1, 2, 3, 4]);
        assert_eq!(
            accept,
            Message::MAccept { dot: a, cmd: cmd(1), ballot: 0, ts: ts(4, 1), deps: [x].as_slice().into() },
            "fast path: the exact value is accepted before the commit"
        );
        let acks = net.round(1, &[1, 2, 3], &accept);
        let commit = net.collect(1, acks).expect("a majority accepted");
        assert_eq!(commit_of(&commit), (ts(4, 1), vec![x]));
        net.deliver(1, 1, &commit);
        // Process 1 crashes; 2 recovers with 4 and 5.
        let rec = net.recover(2, a);
        let acks = net.round(2, &[2, 4, 5], &rec);
        let accept = net.collect(2, acks).expect("a quorum replied");
        let Message::MAccept { ballot, ts: kept, .. } = &accept else { panic!("{accept:?}") };
        assert!(*ballot > 0 && *kept == ts(4, 1), "{accept:?}");
        let acks = net.round(2, &[2, 4, 5], &accept);
        let recovered = net.collect(2, acks).expect("a majority accepted");
        assert_eq!(commit_of(&recovered), commit_of(&commit), "same timestamp and predecessors");
    }

    /// A proposed-only dot (MPropose reached 2 and 3, then 1 crashed):
    /// nothing was accepted, so nothing can have committed; the recovery
    /// retries above every replier's clock and commits with the
    /// predecessors the retry's acks report.
    #[test]
    fn a_proposed_only_dot_is_retried_above_every_clock() {
        let mut net = Net::new();
        let (x, a, _) = propose_after_x(&mut net, &[1, 2, 3]);
        // Process 4 saw a later conflicting command y at (9,4).
        let y = Dot::new(4, 1);
        net.deliver(4, 4, &Message::MPropose { dot: y, cmd: cmd(200), ts: ts(9, 4) });
        let rec = net.recover(2, a);
        let acks = net.round(2, &[2, 3, 4], &rec);
        let retry = net.collect(2, acks).expect("a quorum replied");
        let Message::MRecRetry { ts: fresh, .. } = retry else { panic!("{retry:?}") };
        assert!(fresh > ts(9, 4), "above every clock replied: {fresh}");
        let acks = net.round(2, &[2, 3, 4], &retry);
        let accept = net.collect(2, acks).expect("a quorum acked the retry");
        let acks = net.round(2, &[2, 3, 4], &accept);
        let (committed_ts, deps) = commit_of(&net.collect(2, acks).expect("accepted"));
        assert_eq!(committed_ts, fresh);
        assert_eq!(deps, vec![y, x], "everything registered below the new timestamp");
    }

    /// A retried dot whose retry value was accepted by one process (2)
    /// before the coordinator crashed: recovery finds it and keeps it, at
    /// the retry's timestamp; a dot only retried (MRetry acked, no
    /// MAccept) counts as proposed (tested above).
    #[test]
    fn an_accepted_retry_value_is_kept() {
        let mut net = Net::new();
        let (x, a, _) = propose_after_x(&mut net, &[]);
        let propose = Message::MPropose { dot: a, cmd: cmd(1), ts: ts(4, 1) };
        // 1 and 2 accept (4,1); 3 rejects with (12,3) after z committed
        // there at (11,4) without a.
        let z = Dot::new(4, 1);
        net.deliver(4, 3, &Message::MPropose { dot: z, cmd: cmd(300), ts: ts(11, 4) });
        net.deliver(4, 3, &Message::MCommit { dot: z, ts: ts(11, 4), deps: [].as_slice().into() });
        let acks = net.round(1, &[1, 2, 3], &propose);
        let retry = net.collect(1, acks).expect("a reject among a majority");
        let Message::MRetry { ts: retry_ts, .. } = retry else { panic!("{retry:?}") };
        assert_eq!(retry_ts, ts(12, 3));
        let acks = net.round(1, &[1, 2, 3], &retry);
        let accept = net.collect(1, acks).expect("a majority acked the retry");
        let Message::MAccept { deps: ref retry_deps, .. } = accept else { panic!("{accept:?}") };
        assert_eq!(retry_deps.to_vec(), vec![z, x]);
        net.round(1, &[2], &accept);
        // 1 crashes; 3 recovers with 2 and 4.
        let rec = net.recover(3, a);
        let acks = net.round(3, &[2, 3, 4], &rec);
        let accept = net.collect(3, acks).expect("a quorum replied");
        let Message::MAccept { ts: kept, deps, ballot, .. } = &accept else { panic!("{accept:?}") };
        assert_eq!((*kept, deps.to_vec()), (ts(12, 3), vec![z, x]));
        assert!(*ballot > 0);
    }

    /// The wait condition with a recovering dot: process 4 registers a
    /// (never proposed there) when it joins a's recovery, so conflicting
    /// proposals below wait for a's commit: b, which arrived before the
    /// recovery's retry and is among a's predecessors, is then accepted;
    /// c, which arrived after it and is not, is rejected above a.
    #[test]
    fn a_recovering_dot_makes_lower_proposals_wait_for_its_commit() {
        let mut net = Net::new();
        let (_, a, _) = propose_after_x(&mut net, &[2, 3]);
        let rec = net.recover(2, a);
        let acks = net.round(2, &[2, 3, 4], &rec);
        let (b, c) = (Dot::new(5, 2), Dot::new(5, 3));
        let propose_b = Message::MPropose { dot: b, cmd: cmd(400), ts: ts(0, 5) };
        assert!(net.deliver(5, 4, &propose_b).is_empty(), "b waits for a at 4");
        let retry = net.collect(2, acks).expect("a quorum replied");
        let acks = net.round(2, &[2, 3, 4], &retry);
        let propose_c = Message::MPropose { dot: c, cmd: cmd(500), ts: ts(1, 5) };
        assert!(net.deliver(5, 4, &propose_c).is_empty(), "c waits for a at 4");
        let accept = net.collect(2, acks).expect("acked");
        let acks = net.round(2, &[2, 3, 4], &accept);
        let commit = net.collect(2, acks).expect("accepted");
        let (a_ts, a_deps) = commit_of(&commit);
        assert!(a_deps.contains(&b) && !a_deps.contains(&c), "{a_deps:?}");
        let released = net.deliver(2, 4, &commit);
        assert_eq!(released.len(), 2, "{released:?}");
        assert!(
            matches!(&released[0], (ProcessId(5), Message::MProposeAck { dot, ok: true, .. }) if *dot == b),
            "{released:?}"
        );
        assert!(
            matches!(&released[1], (ProcessId(5), Message::MProposeAck { dot, ok: false, ts, .. }) if *dot == c && *ts > a_ts),
            "{released:?}"
        );
    }
}
