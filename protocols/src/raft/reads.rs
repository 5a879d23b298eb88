//! Reads outside the log (raft.md §9.2 ReadIndex, §9.3 lease reads, §9.4
//! reads served at the client's process, §9.5 stale local reads) and the
//! leader stickiness that lease reads need (§8.1).
//!
//! Clients talk to their co-located process, so every read is a §9.4
//! "follower read": the process asks the leader for a read index (the
//! leader answers itself when it is that process), and serves the read
//! from its own state once it has applied that index. The leader answers
//! after a heartbeat round a majority echoed (ReadIndex), or at once while
//! it holds a lease (a majority echoed a round sent less than `LEASE` ago
//! by its local clock), falling back to a round without one.
//!
//! Because every read is served where its client is, ReadIndex reads are
//! follower ReadIndex reads (§9.4) at every process but the leader: the
//! simulator's replies come from the client's own process, so a read
//! cannot be served at the leader for a client elsewhere. The mode is
//! therefore also accepted as `follower_read_index`.

use super::{Message, Raft, Role};
use crate::shared::read_executor::LogStep;
use sim_core::protocol::Outbox;
use sim_core::{CommandId, ProcessId, Time};
use std::collections::VecDeque;

/// How reads are served (raft.md §9).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReadMode {
    /// §9.1: a read is a log entry like a write (the default).
    #[default]
    Log,
    /// §9.2 and §9.4: the leader confirms it still leads with a heartbeat
    /// round before giving out a read index; the client's process serves
    /// the read once it has applied that index.
    #[serde(alias = "follower_read_index")]
    ReadIndex,
    /// §9.3: within its lease the leader gives out a read index at once
    /// (a round otherwise). Turns on leader stickiness (§8.1).
    Lease,
    /// §9.5: the client's process serves the read at once from what it
    /// has applied. Not linearizable: a lagging process, or a leader cut
    /// off in a minority, returns stale values (StaleRead outcomes).
    Stale,
}

/// A read the leader is confirming with a heartbeat round.
#[derive(Debug)]
struct ConfirmingRead {
    id: CommandId,
    origin: ProcessId,
    read_index: u64,
    round: u64,
}

/// The leader's read bookkeeping (§2 "read_index bookkeeping").
#[derive(Debug, Default)]
pub(super) struct ReadState {
    /// The latest heartbeat round started (§9.2b hb_seq); never reset,
    /// and replies of another term are ignored anyway.
    pub(super) hb_seq: u64,
    /// Per server (by index), the highest round it echoed in this term.
    echoed: Vec<u64>,
    /// Rounds not confirmed yet: (hb_seq, local clock when sent).
    rounds: VecDeque<(u64, Time)>,
    /// Until when (local clock) the lease holds (§9.3a).
    lease_until: Time,
    /// Reads waiting for a current-term entry to commit (§9.2a).
    held: Vec<(CommandId, ProcessId)>,
    /// Reads waiting for their round.
    confirming: VecDeque<ConfirmingRead>,
    /// When the last round for reads started: reads arriving at the same
    /// instant share it (§9.2 "concurrent reads can share one round").
    round_started_at: Option<Time>,
}

impl Raft {
    /// True if `cmd` is served outside the log.
    pub(super) fn is_local_read(&self, cmd: &sim_core::Command) -> bool {
        self.reads != ReadMode::Log && cmd.is_read_only()
    }

    /// Forgets the leader's read state (a new term as leader, or stepping
    /// down): unconfirmed reads are dropped, and their processes ask the
    /// next leader.
    pub(super) fn reset_reads(&mut self) {
        let hb_seq = self.read.hb_seq;
        self.read = ReadState { hb_seq, echoed: vec![0; self.processes.len()], ..ReadState::default() };
    }

    /// §8.1: with lease reads, a server that heard from a current leader
    /// less than `ET_MIN` ago (or is the leader) ignores RequestVote, so
    /// no election can finish while a lease it granted is live.
    pub(super) fn ignores_vote_request(&self, now: Time) -> bool {
        self.reads == ReadMode::Lease
            && !self.plant_lease_without_stickiness
            && (self.role == Role::Leader
                || (self.leader_hint.is_some() && now.since(self.last_leader_contact) < self.election_timeout_ns))
    }

    /// §9.2a: a leader answers reads only once an entry of its term has
    /// committed (its commit index then covers every earlier commit). The
    /// bootstrapped leader of term 1 had no predecessor.
    fn answers_reads(&self) -> bool {
        self.role == Role::Leader && (self.current_term == 1 || self.term_at(self.commit_index) == self.current_term)
    }

    /// The client's process sends its read to the leader (or takes it
    /// itself); without a known leader it retries on its tick.
    pub(super) fn route_read(&mut self, id: CommandId, now: Time, out: &mut Outbox<Self>) {
        if self.reads == ReadMode::Stale {
            return self.serve_read(id, self.last_applied, out);
        }
        match (self.role, self.leader_hint) {
            (Role::Leader, _) => self.leader_read(id, self.id, now, out),
            (_, Some(leader)) if leader != self.id => out.send(leader, Message::ReadIndexRequest { id }),
            _ => {}
        }
    }

    /// The leader takes read `id` of `origin`'s client (§9.2, §9.3).
    pub(super) fn leader_read(&mut self, id: CommandId, origin: ProcessId, now: Time, out: &mut Outbox<Self>) {
        if self.role != Role::Leader {
            return; // the origin retries with the leader it learns of
        }
        if !self.answers_reads() {
            self.read.held.push((id, origin));
            return;
        }
        if self.reads == ReadMode::Lease && out.clock(now) < self.read.lease_until {
            self.answer_read(id, origin, self.commit_index, out);
            return;
        }
        if self.read.round_started_at != Some(now) {
            self.start_round(out.clock(now));
            self.read.round_started_at = Some(now);
            for s in self.others() {
                self.send_heartbeat(s, out);
            }
            self.last_broadcast_at = now;
        }
        let (read_index, round) = (self.commit_index, self.read.hb_seq);
        self.read.confirming.push_back(ConfirmingRead { id, origin, read_index, round });
    }

    /// Starts heartbeat round `hb_seq + 1`, sent at local time `clock`;
    /// the caller sends the AppendEntries that carry it.
    pub(super) fn start_round(&mut self, clock: Time) {
        self.read.hb_seq += 1;
        self.read.rounds.push_back((self.read.hb_seq, clock));
    }

    /// §9.2c and §9.3a: `from` echoed round `hb_seq` in a reply of this
    /// term. A round a majority (the leader included) echoed confirms the
    /// reads waiting for it and, with leases, extends the lease to its
    /// send time plus `LEASE`.
    pub(super) fn on_echo(&mut self, from: ProcessId, hb_seq: u64, out: &mut Outbox<Self>) {
        let echoed = &mut self.read.echoed[from.index()];
        if hb_seq <= *echoed {
            return;
        }
        *echoed = hb_seq;
        let me = self.id.index();
        let own = self.read.hb_seq;
        // Over the configuration in force (§10).
        let Some(confirmed) = self.majority_value(|raft, i| if i == me { own } else { raft.read.echoed[i] }) else {
            return;
        };
        while let Some(&(seq, sent)) = self.read.rounds.front() {
            if seq > confirmed {
                break;
            }
            self.read.rounds.pop_front();
            if self.reads == ReadMode::Lease {
                self.read.lease_until = self.read.lease_until.max(sent.plus_ns(self.lease_ns()));
            }
        }
        while self.read.confirming.front().is_some_and(|read| read.round <= confirmed) {
            let read = self.read.confirming.pop_front().expect("checked");
            self.answer_read(read.id, read.origin, read.read_index, out);
        }
    }

    /// `LEASE` (§8): `ET_MIN − ε`, with ε = 0 (perfect simulated clocks;
    /// clock faults are the run's to inject).
    fn lease_ns(&self) -> u64 {
        self.election_timeout_ns
    }

    /// Reads held for §9.2a, once an entry of this term committed.
    pub(super) fn release_held_reads(&mut self, now: Time, out: &mut Outbox<Self>) {
        if self.read.held.is_empty() || !self.answers_reads() {
            return;
        }
        for (id, origin) in std::mem::take(&mut self.read.held) {
            self.leader_read(id, origin, now, out);
        }
    }

    fn answer_read(&mut self, id: CommandId, origin: ProcessId, read_index: u64, out: &mut Outbox<Self>) {
        if origin == self.id {
            self.serve_read(id, read_index, out);
        } else {
            out.send(origin, Message::ReadIndexReply { id, read_index });
        }
    }

    /// §9.4: the client's process serves its read once it has applied
    /// `read_index` (the executor holds it until then).
    pub(super) fn serve_read(&mut self, id: CommandId, read_index: u64, out: &mut Outbox<Self>) {
        if let Some((cmd, _)) = self.pending.remove(&id) {
            out.execute(LogStep::Read { after_slot: read_index, cmd });
        }
    }
}
