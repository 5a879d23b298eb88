//! CRAQ apportioned queries (chain-replication.md §9), `reads = "craq"`.
//!
//! A read-only command is served by its client's own process S, not sent
//! down the chain. Every entry above `committed` is a dirty version of the
//! keys it writes, so:
//! - every key's latest version at S clean: S reads its state at once
//!   (`d(X,S) + d(S,X)`, 0 ms of network time for a co-located client);
//! - otherwise S sends VERSION_QUERY to the tail, which answers the seq of
//!   its committed version of those keys, and S serves the read once it
//!   has applied that seq (`+ 2·d(S,T)`; S holds the version, being
//!   upstream of the tail). Its state then holds the tail's committed
//!   version or a later committed one, either linearizable.
//!
//! The tail itself is always clean (it commits what it appends). A
//! server that rejoined (§7.5) kept only its old committed prefix, so it
//! serves no read and answers no VERSION_QUERY until it holds what its
//! predecessor held when answering its JOIN (JOIN_UPTO).
//!
//! Under faults (failure detection on) the spec's fail-stop assumption
//! does not hold: a server removed by a false suspicion does not know it
//! and would serve its stale state, and a removed tail would answer
//! VERSION_QUERY with an old version while the new tail commits more. So
//! a server serves reads and answers VERSION_QUERY only while it holds a
//! *membership lease*: a majority of the master's acceptors promised,
//! within the last `LEASE`, not to accept a configuration without it
//! (`master.rs` refuses such an Accept). Every configuration is chosen by
//! a majority, which meets the lease's, so no configuration removing S is
//! chosen, let alone installed, before S's lease runs out. An acceptor
//! grants only to a member of the configuration it last accepted, so a
//! server removed before it asked gets no lease. (Departure from §9,
//! listed in DESIGN.md.)

use super::{Chain, Message};
use crate::shared::quorum;
use crate::shared::read_executor::LogStep;
use sim_core::protocol::Outbox;
use sim_core::{Command, CommandId, Key, ProcessId, Time};
use std::collections::VecDeque;
use std::sync::Arc;

/// How reads are served.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReadMode {
    /// Reads go down the chain like updates (the default).
    #[default]
    Chain,
    /// §9: reads at the client's process; dirty ones ask the tail.
    Craq,
}

/// A server's membership lease and, as an acceptor, the leases it granted.
#[derive(Debug)]
pub(super) struct LeaseState {
    /// Lease rounds asked for and not yet granted by a majority: (local
    /// clock when asked, grants as a bit per process index).
    rounds: VecDeque<(Time, u64)>,
    /// The lease holds until then (local clock).
    valid_until: Time,
    /// Acceptor: per process index, until when (local clock) it promised
    /// not to accept a configuration without that process.
    pub(super) granted_until: Vec<Time>,
    /// Acceptor: processes (bit per index) it stopped granting leases to,
    /// because a configuration without them waits for its acceptance.
    withheld: u64,
}

impl LeaseState {
    /// No lease; `n` processes to grant leases to.
    pub(super) fn new(n: usize) -> LeaseState {
        LeaseState { rounds: VecDeque::new(), valid_until: Time::ZERO, granted_until: vec![Time::ZERO; n], withheld: 0 }
    }
}

/// Lease rounds remembered (one per `PING`, so about a second's worth).
const MAX_ROUNDS: usize = 16;

impl Chain {
    /// `LEASE`: half of `FD_TIMEOUT`, so a crashed server's lease ends
    /// well before the master suspects it (it asked last at about its
    /// last PONG).
    pub(super) fn lease_ns(&self) -> u64 {
        self.fd_timeout_ns / 2
    }

    /// True if `cmd` is a read this process serves itself.
    pub(super) fn is_craq_read(&self, cmd: &Command) -> bool {
        self.reads == ReadMode::Craq && cmd.is_read_only()
    }

    /// Without failure detection the master is reliable and servers
    /// fail-stop (§1): no lease is needed.
    fn holds_lease(&self, now: Time, out: &Outbox<Self>) -> bool {
        self.group.is_none() || self.plant_craq_reads_without_lease || out.clock(now) < self.lease.valid_until
    }

    /// The latest seq writing `key` in this server's log (0 if none).
    fn last_write(&self, key: Key) -> u64 {
        self.last_write.get(&key).copied().unwrap_or(0)
    }

    /// A rejoined server has caught up once it holds what its predecessor
    /// held when it answered the JOIN.
    pub(super) fn check_caught_up(&mut self) {
        if self.catching_up_to.is_some_and(|upto| self.hist_upto() >= upto) {
            self.catching_up_to = None;
        }
    }

    /// True if this server may serve reads and answer VERSION_QUERY.
    fn serves_reads(&self, now: Time, out: &Outbox<Self>) -> bool {
        self.position().is_some() && self.catching_up_to.is_none() && self.holds_lease(now, out)
    }

    /// Serves (or starts serving) a read of this process's client; with
    /// no lease or no chain it waits for the next try (`tick`).
    pub(super) fn craq_read(&mut self, cmd: Arc<Command>, now: Time, out: &mut Outbox<Self>) {
        if !self.serves_reads(now, out) {
            return;
        }
        let dirty = cmd.keys().any(|k| self.last_write(k) > self.committed);
        if !dirty {
            self.serve_read(cmd.id, self.committed, out);
        } else if let Some(&tail) = self.chain.last() {
            let keys: Vec<Key> = cmd.keys().collect();
            out.send(tail, Message::VersionQuery { version: self.version, id: cmd.id, keys });
        }
    }

    /// The read `id` of this process's client observes slot `after_slot`.
    fn serve_read(&mut self, id: CommandId, after_slot: u64, out: &mut Outbox<Self>) {
        if let Some((cmd, _)) = self.pending.remove(&id) {
            out.execute(LogStep::Read { after_slot, cmd });
        }
    }

    /// At the tail: the committed version of `keys` (§9 "the tail's
    /// committed seq for that key"), the latest of them.
    pub(super) fn handle_version_query(
        &mut self,
        from: ProcessId,
        id: CommandId,
        keys: &[Key],
        now: Time,
        out: &mut Outbox<Self>,
    ) {
        if !self.is_tail() || !self.serves_reads(now, out) {
            return; // the asker retries with the tail it learns of
        }
        // The tail's log is committed up to `committed` (it commits what
        // it appends; a joining tail commits as it catches up).
        let seq = keys.iter().map(|&k| self.last_write(k)).max().unwrap_or(0).min(self.committed);
        out.send(from, Message::VersionReply { id, seq });
    }

    pub(super) fn handle_version_reply(&mut self, id: CommandId, seq: u64, now: Time, out: &mut Outbox<Self>) {
        if self.serves_reads(now, out) {
            self.serve_read(id, seq, out);
        }
    }

    /// Every `PING` under faults with CRAQ reads: a member asks every
    /// acceptor (itself included) to renew its lease.
    pub(super) fn renew_lease(&mut self, now: Time, out: &mut Outbox<Self>) {
        if self.reads != ReadMode::Craq || self.group.is_none() || self.position().is_none() {
            return;
        }
        let at = out.clock(now);
        if self.lease.rounds.len() == MAX_ROUNDS {
            self.lease.rounds.pop_front();
        }
        self.lease.rounds.push_back((at, 0));
        if self.grants_lease_to(self.id, self.version) {
            self.record_grant(self.id, at);
            self.lease_granted(self.id, at);
        }
        out.send_to_each(&self.others(), Message::LeaseReq { version: self.version, at });
    }

    /// An acceptor grants a lease to a member of the configuration it
    /// accepted last, if that is the configuration the member asks under.
    fn grants_lease_to(&self, p: ProcessId, version: u64) -> bool {
        self.lease.withheld & (1 << p.index()) == 0
            && self.group.as_ref().is_some_and(|g| g.accepted.version == version && g.accepted.chain.contains(&p))
    }

    /// An acceptor asked to accept `chain` while a lease it granted to a
    /// process outside it runs: it grants that process no more, so the
    /// lease runs out and the configuration can be accepted. (Granting
    /// on would deadlock: a new master must re-propose a configuration
    /// some acceptor accepted, while the live server it removes keeps
    /// renewing its lease with the others.)
    pub(super) fn withhold_leases_outside(&mut self, chain: &[ProcessId]) {
        for p in &self.processes {
            if !chain.contains(p) {
                self.lease.withheld |= 1 << p.index();
            }
        }
    }

    /// A configuration accepted: the leases withheld for it may be
    /// granted again (to the members of the new one).
    pub(super) fn accepted_config(&mut self) {
        self.lease.withheld = 0;
    }

    fn record_grant(&mut self, p: ProcessId, now_clock: Time) {
        let until = now_clock.plus_ns(self.lease_ns());
        let granted = &mut self.lease.granted_until[p.index()];
        *granted = (*granted).max(until);
    }

    pub(super) fn handle_lease_req(
        &mut self,
        from: ProcessId,
        version: u64,
        at: Time,
        now: Time,
        out: &mut Outbox<Self>,
    ) {
        if self.grants_lease_to(from, version) {
            self.record_grant(from, out.clock(now));
            out.send(from, Message::LeaseGrant { at });
        }
    }

    /// A grant for the round asked at `at`: a majority's grants give the
    /// lease until `at + LEASE` (each acceptor promised from when it got
    /// the request, later than `at`).
    pub(super) fn lease_granted(&mut self, from: ProcessId, at: Time) {
        let majority = quorum::majority(self.processes.len());
        let Some(round) = self.lease.rounds.iter_mut().find(|(asked, _)| *asked == at) else { return };
        round.1 |= 1 << from.index();
        if (round.1.count_ones() as usize) < majority {
            return;
        }
        self.lease.valid_until = self.lease.valid_until.max(at.plus_ns(self.lease_ns()));
        while self.lease.rounds.front().is_some_and(|(asked, _)| *asked <= at) {
            self.lease.rounds.pop_front();
        }
    }

    /// Acceptor side: true if accepting a configuration `chain` would break
    /// a lease this process granted (it leaves out a leased process).
    pub(super) fn breaks_a_lease(&self, chain: &[ProcessId], now: Time, out: &Outbox<Self>) -> bool {
        if self.reads != ReadMode::Craq {
            return false;
        }
        let clock = out.clock(now);
        self.lease
            .granted_until
            .iter()
            .enumerate()
            .any(|(i, &until)| until > clock && !chain.contains(&self.processes[i]))
    }
}
