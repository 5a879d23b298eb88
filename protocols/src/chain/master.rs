//! The master under faults (chain-replication.md §1 `master_mode =
//! REPLICATED`): with failure detection on, the master role is not tied
//! to the head's process but held by whichever process won a ballot, and
//! every configuration goes through single-decree Paxos among all `n`
//! processes before any server installs it, so a crashed or cut off
//! master is replaced and two masters never install different chains of
//! one version.
//!
//! Each acceptor keeps only its latest accepted configuration
//! `(ballot, version, chain)`: a master proposes version `v + 1` only
//! once `v` was chosen, so, as in Raft's up-to-date check, a new master
//! takes the accepted configuration with the highest `(ballot, version)`
//! among a majority's promises and proposes it again under its own
//! ballot before changing anything.
//!
//! Without failure detection none of this runs: the master is a role of
//! the configured head's process, as in the failure-free model.

use super::{Chain, Message};
use crate::shared::quorum;
use rand::RngExt;
use sim_core::protocol::Outbox;
use sim_core::{ProcessId, Time};

/// A master ballot: higher wins; ties broken by process id.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct Ballot {
    /// The round.
    pub round: u64,
    /// The process that leads it.
    pub id: u32,
}

/// The configuration an acceptor accepted last.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AcceptedConfig {
    /// The ballot it was accepted in.
    pub ballot: Ballot,
    /// The chain version.
    pub version: u64,
    /// The chain, head first.
    pub chain: Vec<ProcessId>,
}

impl AcceptedConfig {
    fn rank(&self) -> (Ballot, u64) {
        (self.ballot, self.version)
    }
}

/// Where this process stands in the master group.
#[derive(Clone, Debug)]
pub(super) enum Phase {
    /// Follows the master of `promised`.
    Follower,
    /// Collecting promises for `ballot` (bit per process index).
    Preparing { ballot: Ballot, promises: u64, best: AcceptedConfig },
    /// Proposing `config` under `ballot`; `acks` bit per process index.
    Proposing { config: AcceptedConfig, acks: u64 },
    /// The master of `ballot`, nothing in flight.
    Active { ballot: Ballot },
}

/// The replicated master's state at one process.
#[derive(Debug)]
pub(super) struct MasterGroup {
    pub(super) promised: Ballot,
    pub(super) accepted: AcceptedConfig,
    pub(super) phase: Phase,
    /// When a master of `promised` (or a candidate) was last heard.
    pub(super) last_heard_at: Time,
    /// Silence after which this process stands for master (randomized).
    pub(super) suspect_after_ns: u64,
    /// When the current candidacy or proposal started.
    pub(super) attempt_started_at: Time,
}

impl MasterGroup {
    pub(super) fn new(head: ProcessId, chain: Vec<ProcessId>) -> MasterGroup {
        let ballot = Ballot { round: 0, id: head.0 };
        MasterGroup {
            promised: ballot,
            accepted: AcceptedConfig { ballot, version: 0, chain },
            phase: Phase::Follower,
            last_heard_at: Time::ZERO,
            suspect_after_ns: 0,
            attempt_started_at: Time::ZERO,
        }
    }

    pub(super) fn ballot(&self) -> Option<Ballot> {
        match &self.phase {
            Phase::Active { ballot } => Some(*ballot),
            Phase::Proposing { config, .. } => Some(config.ballot),
            _ => None,
        }
    }
}

impl Chain {
    fn group(&mut self) -> &mut MasterGroup {
        self.group.as_mut().expect("failure detection on")
    }

    fn draw_suspicion(&mut self) {
        let timeout = self.fd_timeout_ns;
        let after = self.rng.random_range(timeout..=2 * timeout);
        self.group().suspect_after_ns = after;
    }

    /// A master (or candidate) of a ballot at least the promised one is
    /// alive: postpone suspicion; a lower ballot of ours steps down.
    fn heard_master(&mut self, ballot: Ballot, now: Time) {
        let me = self.id.0;
        let group = self.group();
        if ballot > group.promised {
            group.promised = ballot;
        }
        if ballot.id != me && ballot >= group.promised {
            group.phase = Phase::Follower;
            group.last_heard_at = now;
        }
    }

    /// Every `PING` with failure detection on.
    pub(super) fn group_tick(&mut self, now: Time, out: &mut Outbox<Self>) {
        let phase = self.group().phase.clone();
        match phase {
            Phase::Follower => {
                let group = self.group.as_ref().expect("on");
                if now.since(group.last_heard_at) >= group.suspect_after_ns {
                    self.stand_for_master(now, out);
                }
            }
            Phase::Preparing { ballot, .. } => {
                if now.since(self.group().attempt_started_at) >= self.group().suspect_after_ns {
                    self.stand_for_master(now, out); // lost or outbid: a higher round
                } else {
                    out.send_to_each(&self.others(), Message::Prepare { ballot });
                }
            }
            Phase::Proposing { config, acks } => {
                self.ping_all(config.ballot, out);
                if acks & (1 << self.id.index()) == 0 && !self.breaks_a_lease(&config.chain, now, out) {
                    // The lease that held our own acceptance back ran out.
                    self.group().accepted = config.clone();
                    self.accepted_config();
                    self.handle_accepted(self.id, config.ballot, config.version, now, out);
                    if !matches!(self.group().phase, Phase::Proposing { .. }) {
                        return;
                    }
                }
                if now.since(self.group().attempt_started_at) >= self.group().suspect_after_ns {
                    self.stand_for_master(now, out); // no majority accepts: try again
                } else {
                    let AcceptedConfig { ballot, version, chain } = config;
                    out.send_to_each(&self.others(), Message::Accept { ballot, version, chain });
                }
            }
            Phase::Active { ballot } => {
                self.ping_all(ballot, out);
                self.reconfigure(ballot, now, out);
            }
        }
    }

    fn ping_all(&self, ballot: Ballot, out: &mut Outbox<Self>) {
        out.send_to_each(&self.others(), Message::MasterPing { ballot });
    }

    /// Phase 1 with a round above every one seen.
    fn stand_for_master(&mut self, now: Time, out: &mut Outbox<Self>) {
        out.recovery_started();
        let me = self.id;
        let ballot = Ballot { round: self.group().promised.round + 1, id: me.0 };
        self.draw_suspicion();
        let group = self.group();
        group.promised = ballot;
        group.attempt_started_at = now;
        let best = group.accepted.clone();
        group.phase = Phase::Preparing { ballot, promises: 1 << me.index(), best };
        out.send_to_each(&self.others(), Message::Prepare { ballot });
    }

    pub(super) fn handle_prepare(&mut self, from: ProcessId, ballot: Ballot, now: Time, out: &mut Outbox<Self>) {
        let Some(group) = self.group.as_mut() else { return };
        if ballot < group.promised || (ballot == group.promised && ballot.id != from.0) {
            return;
        }
        self.heard_master(ballot, now);
        let accepted = self.group().accepted.clone();
        out.send(from, Message::Promise { ballot, accepted });
    }

    pub(super) fn handle_promise(
        &mut self,
        from: ProcessId,
        ballot: Ballot,
        accepted: AcceptedConfig,
        now: Time,
        out: &mut Outbox<Self>,
    ) {
        let majority = quorum::majority(self.processes.len());
        let Some(group) = self.group.as_mut() else { return };
        let Phase::Preparing { ballot: mine, promises, best } = &mut group.phase else { return };
        if *mine != ballot {
            return;
        }
        *promises |= 1 << from.index();
        if accepted.rank() > best.rank() {
            *best = accepted;
        }
        if promises.count_ones() as usize >= majority {
            let config = AcceptedConfig { ballot, ..best.clone() };
            self.propose(config, now, out);
        }
    }

    /// Phase 2 of `config` (its ballot is ours); our own acceptance first,
    /// unless it would break a CRAQ lease we granted (then on a later tick).
    fn propose(&mut self, config: AcceptedConfig, now: Time, out: &mut Outbox<Self>) {
        let me = self.id;
        let accept_own = !self.breaks_a_lease(&config.chain, now, out);
        if !accept_own {
            self.withhold_leases_outside(&config.chain);
        }
        if accept_own {
            self.group().accepted = config.clone();
            self.accepted_config();
        }
        let group = self.group();
        group.attempt_started_at = now;
        let acks = if accept_own { 1 << me.index() } else { 0 };
        group.phase = Phase::Proposing { config: config.clone(), acks };
        let AcceptedConfig { ballot, version, chain } = config;
        out.send_to_each(&self.others(), Message::Accept { ballot, version, chain });
    }

    pub(super) fn handle_accept(&mut self, from: ProcessId, config: AcceptedConfig, now: Time, out: &mut Outbox<Self>) {
        let Some(group) = self.group.as_ref() else { return };
        if config.ballot < group.promised || config.ballot.id != from.0 {
            return;
        }
        self.heard_master(config.ballot, now);
        if self.breaks_a_lease(&config.chain, now, out) {
            self.withhold_leases_outside(&config.chain);
            return; // CRAQ: not before the lease granted runs out (craq.rs)
        }
        let (ballot, version) = (config.ballot, config.version);
        self.group().accepted = config;
        self.accepted_config();
        out.send(from, Message::Accepted { ballot, version });
    }

    pub(super) fn handle_accepted(
        &mut self,
        from: ProcessId,
        ballot: Ballot,
        version: u64,
        now: Time,
        out: &mut Outbox<Self>,
    ) {
        let majority = quorum::majority(self.processes.len());
        let Some(group) = self.group.as_mut() else { return };
        let Phase::Proposing { config, acks } = &mut group.phase else { return };
        if config.ballot != ballot || config.version != version {
            return;
        }
        *acks |= 1 << from.index();
        if (acks.count_ones() as usize) < majority {
            return;
        }
        // Chosen: every process installs it (ourselves included, by the
        // self-addressed message, before any other event).
        let AcceptedConfig { version, chain, .. } = config.clone();
        let took_over = ballot.round > 0 && ballot.id == self.id.0 && self.master != self.id;
        group.phase = Phase::Active { ballot };
        if took_over {
            self.master = self.id;
            out.leader_change();
            out.recovery_finished();
            self.last_pong.iter_mut().for_each(|t| *t = now);
        }
        out.send_to_each(&self.processes, Message::Config { version, chain });
    }

    pub(super) fn handle_master_ping(&mut self, from: ProcessId, ballot: Ballot, now: Time, out: &mut Outbox<Self>) {
        let Some(group) = self.group.as_ref() else { return };
        if ballot < group.promised || ballot.id != from.0 {
            return;
        }
        self.heard_master(ballot, now);
        if self.master != from {
            self.master = from;
        }
        out.send(from, Message::MasterPong { version: self.version });
    }

    pub(super) fn handle_master_pong(&mut self, from: ProcessId, version: u64, now: Time, out: &mut Outbox<Self>) {
        if self.group.as_ref().and_then(MasterGroup::ballot).is_none() {
            return;
        }
        self.last_pong[from.index()] = now;
        self.pong_version[from.index()] = version;
        if version < self.version {
            // It missed a CONFIG (lost or cut off): send the current one.
            out.send(from, Message::Config { version: self.version, chain: self.chain.clone() });
        }
    }

    /// §7 at an active master: remove one silent member, or add back one
    /// live non-member as the new tail (§7.5, rejoining through the
    /// committed prefix it holds), one change at a time.
    fn reconfigure(&mut self, ballot: Ballot, now: Time, out: &mut Outbox<Self>) {
        let silent =
            |chain: &Chain, p: ProcessId| p != chain.id && now.since(chain.last_pong[p.index()]) >= chain.fd_timeout_ns;
        let mut chain = self.chain.clone();
        if let Some(failed) = chain.iter().copied().find(|&p| silent(self, p)) {
            if chain.len() == 1 {
                return; // never empty: wait for the last member
            }
            chain.retain(|&p| p != failed);
        } else if let Some(back) =
            self.processes.iter().copied().find(|&p| !chain.contains(&p) && self.may_rejoin(p, now))
        {
            chain.push(back);
        } else {
            return;
        }
        let config = AcceptedConfig { ballot, version: self.version + 1, chain };
        self.propose(config, now, out);
    }

    /// A non-member answering pings that installed the configuration
    /// without it, so it knows to drop its uncommitted suffix on joining.
    fn may_rejoin(&self, p: ProcessId, now: Time) -> bool {
        if p == self.id {
            return true;
        }
        now.since(self.last_pong[p.index()]) < self.ping_ns * 4 && self.pong_version[p.index()] == self.version
    }

    /// Arms the group's timers at start (failure detection on).
    pub(super) fn group_start(&mut self, now: Time) {
        self.draw_suspicion();
        let me = self.id.0;
        let group = self.group();
        group.last_heard_at = now;
        if group.promised.id == me {
            group.phase = Phase::Active { ballot: group.promised };
        }
    }

    /// Retransmission (failure detection on): FORWARDs not acknowledged
    /// for `FD_TIMEOUT` are sent again, so a lost message is survived.
    pub(super) fn retransmit(&mut self, now: Time, out: &mut Outbox<Self>) {
        if (self.is_tail() && self.joining || self.catching_up_to.is_some())
            && let Some(pred) = self.pred()
        {
            out.send(pred, Message::Join { version: self.version, hist_upto: self.hist_upto() });
        }
        // A hole below buffered FORWARDs that the predecessor does not
        // fill: it re-sends only above what its old successor acknowledged,
        // which a server that joined as the tail and had not caught up yet
        // may never have had (swarm chain f=2 seed 577: the joining tail's
        // predecessor was removed, the new one re-sent from 31 to a server
        // holding nothing). Ask for everything above what it holds.
        if let Some(since) = self.hole_since
            && now.since(since) >= self.fd_timeout_ns / 2
            && let Some(pred) = self.pred()
        {
            self.hole_since = Some(now);
            out.send(pred, Message::Join { version: self.version, hist_upto: self.hist_upto() });
        }
        let Some(succ) = self.succ() else { return };
        if self.acked >= self.hist_upto() || now.since(self.ack_progress_at) < self.fd_timeout_ns {
            return;
        }
        self.ack_progress_at = now;
        self.resend_from(succ, self.acked + 1, out);
    }

    pub(super) fn resend_from(&self, succ: ProcessId, from_seq: u64, out: &mut Outbox<Self>) {
        for s in from_seq.max(1)..=self.hist_upto() {
            let entry = self.log[s as usize - 1].clone();
            out.send(succ, Message::Forward { version: self.version, seq: s, entry });
        }
    }
}
