//! Chain replication (`shared/specs/chain-replication.md`), `forward_mode =
//! REQUEST` flavour with a reliable master.
//!
//! The chain is the configured leader (head) followed by the other
//! processes in id order (§5 "the configured order"). The head orders each
//! update and FORWARDs it down the chain; the tail commits it, ACKs it
//! upstream and REPLYs to the process whose client sent it. Clients talk
//! to their co-located process, which forwards to the head; the engine
//! answers a client when its process applies the update, so a process
//! applies an update only once it is known committed (at the tail on
//! FORWARD, elsewhere on ACK or on the tail's REPLY): a client at `p`
//! waits `d(p,H) + Σ hops + d(T,p)` (§5, README "Clients").
//!
//! The master (§1, §6, §7) is a role of the head's process at start, not
//! a separate process: it PINGs every server each `PING`, removes a server
//! silent for `FD_TIMEOUT` (head, middle or tail, §7.1-3), and drives the
//! middle-failure hand-over with LAST_SEQ_REQ / RESEND_FROM. The spec's
//! master is reliable; without failure detection it is that role of the
//! head's process. In runs with faults it is replicated instead
//! (`master.rs`): any process may win the role, configurations are chosen
//! by a majority, FORWARDs are re-sent, and removed servers rejoin as the
//! tail.
//!
//! Divergences, all because of the simulator's model:
//! - By default queries go down the chain like updates (every process
//!   applies every command in one order, which the verdict checks), so a
//!   read costs a write's latency instead of `2·d(X,T)`. With `reads =
//!   "craq"` they are §9's apportioned queries at the client's process
//!   (`craq.rs`), under faults behind a membership lease.
//! - Chain extension (§7.5) runs only under
//!   faults and without STATE_XFER: a rejoining server keeps its own
//!   committed prefix and fetches the rest from its predecessor.

mod craq;
mod master;
mod messages;
#[cfg(test)]
mod tests;

pub use craq::ReadMode;
pub use master::{AcceptedConfig, Ballot};
pub use messages::{Entry, Message};

use crate::shared::read_executor::{LogStep, ReadingSlotExecutor};
use crate::shared::slot_executor::ChosenSlot;
use master::MasterGroup;
use sim_core::protocol::{Outbox, ProcessSetup, Protocol};
use sim_core::time::NS_PER_MS;
use sim_core::{ClientId, Command, CommandId, FixedHashMap, Key, ProcessId, Time};
use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;

/// Most processes one chain may have.
pub const MAX_PROCESSES: usize = 64;
/// `PING` (§6): the master pings every server this often.
pub const DEFAULT_PING_NS: u64 = 100 * NS_PER_MS;
/// `FD_TIMEOUT` (§6): must be `>= PING + 2·RTT(master, S)`; the default
/// takes RTT_max = 400 ms, the largest RTT of the embedded matrices, and
/// the README's `max(1000, 4·RTT_max)`.
pub const DEFAULT_FD_TIMEOUT_NS: u64 = 1600 * NS_PER_MS;
/// `CLIENT_RETRY` (§6).
pub const CLIENT_RETRY_NS: u64 = 2000 * NS_PER_MS;
/// A CRAQ read not served yet (no lease, or VERSION_REPLY lost) is tried
/// again after this many `PING`s.
pub const CRAQ_READ_RETRY_PINGS: u64 = 5;

/// Chain replication options (§6 timers); `None` takes the default.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Options {
    /// `PING` in ns (default [`DEFAULT_PING_NS`]).
    pub ping_ns: Option<u64>,
    /// `FD_TIMEOUT` in ns (default [`DEFAULT_FD_TIMEOUT_NS`]).
    pub fd_timeout_ns: Option<u64>,
    /// `chain` (default: reads go down the chain like updates) or `craq`
    /// (§9 apportioned queries, `craq.rs`).
    pub reads: ReadMode,
    /// Planted bug (tests only): a server rejoining as the tail keeps the
    /// uncommitted suffix of its log instead of dropping it, so it can
    /// commit updates the chain never ordered; the verdict must catch it.
    #[serde(skip)]
    pub plant_rejoin_keeps_suffix: bool,
    /// Planted bug (tests only): CRAQ reads and VERSION_QUERY answers
    /// without the membership lease (`craq.rs`), so a server removed by a
    /// false suspicion serves its stale state; the verdict must catch the
    /// stale read.
    #[serde(skip)]
    pub plant_craq_reads_without_lease: bool,
}

/// Chain timers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Timer {
    /// Every `PING`: the master's pings and failure detection, and client
    /// re-sends at every process.
    Tick,
}

/// One chain server (and, on one process, the master).
#[derive(Debug)]
pub struct Chain {
    id: ProcessId,
    processes: Vec<ProcessId>,
    ping_ns: u64,
    fd_timeout_ns: u64,
    /// The process that plays the master.
    master: ProcessId,

    version: u64,
    /// The chain, head first.
    chain: Vec<ProcessId>,
    /// Updates received, `log[seq - 1]`; `hist_upto = log.len()`. The
    /// spec's `sent` is the part above `committed`.
    log: Vec<Entry>,
    /// FORWARDs that arrived ahead of a hole (links may reorder, §1).
    ahead: BTreeMap<u64, Entry>,
    /// Highest seq known committed (ACKed or REPLYed).
    committed: u64,
    /// Highest seq ACKed by the successor (and passed upstream).
    acked: u64,
    /// Log seqs handed to the executor.
    applied: u64,
    /// Per client, the highest request applied (the client table, which
    /// rides in the updates so every server has it).
    applied_seq: FixedHashMap<ClientId, u64>,
    /// Head: per client, the highest request in the log.
    appended_seq: FixedHashMap<ClientId, u64>,
    /// Head: `(seq, when it reached the head)` of uncommitted updates.
    appended_at: VecDeque<(u64, Time)>,
    /// Requests of this process's clients not applied here yet.
    pending: BTreeMap<CommandId, (Arc<Command>, Time)>,

    // Master.
    /// Per process index, when its last PONG arrived.
    last_pong: Vec<Time>,
    /// A middle server's removal in progress: (predecessor, successor).
    handover: Option<(ProcessId, ProcessId)>,

    // Under faults (failure detection on), see `master.rs`.
    /// The replicated master; `None` without failure detection.
    group: Option<MasterGroup>,
    rng: sim_core::rng::StreamRng,
    /// Per process index, the chain version its last PONG reported.
    pong_version: Vec<u64>,
    /// When `acked` last moved (or the successor changed): FORWARDs
    /// unacknowledged for `FD_TIMEOUT` are sent again.
    ack_progress_at: Time,
    /// Rejoined as the tail and still catching up from the predecessor.
    joining: bool,
    /// Since when FORWARDs wait in `ahead` for a hole below them (under
    /// faults the hole is asked for again, see `retransmit`).
    hole_since: Option<Time>,

    // CRAQ (`craq.rs`).
    reads: ReadMode,
    /// Rejoined and not caught up yet with what the predecessor held when
    /// it answered the JOIN (`u64::MAX` until it says): no reads served,
    /// no VERSION_QUERY answered, since the committed prefix it kept may
    /// be far behind what the chain committed.
    catching_up_to: Option<u64>,
    /// With CRAQ reads: per key, the latest seq in the log writing it.
    last_write: FixedHashMap<Key, u64>,
    lease: craq::LeaseState,
    plant_rejoin_keeps_suffix: bool,
    plant_craq_reads_without_lease: bool,
}

impl Chain {
    /// Checks `2 <= n <= MAX_PROCESSES` and `1 <= f <= n - 1`: a write
    /// needs every member, and any `n - 1` may fail (§1).
    pub fn check(n: usize, f: usize) -> Result<(), String> {
        if !(2..=MAX_PROCESSES).contains(&n) {
            return Err(format!("chain replication needs 2 to {MAX_PROCESSES} processes, got n = {n}"));
        }
        if f == 0 || f >= n {
            return Err(format!("chain replication tolerates 1 <= f <= n - 1 = {} failures, got f = {f}", n - 1));
        }
        Ok(())
    }

    /// The chain, head first.
    pub fn chain(&self) -> &[ProcessId] {
        &self.chain
    }

    /// The chain version.
    pub fn version(&self) -> u64 {
        self.version
    }

    /// `hist_upto`: updates received.
    pub fn hist_upto(&self) -> u64 {
        self.log.len() as u64
    }

    /// Updates not acknowledged from downstream yet (the spec's `|sent|`;
    /// the tail holds none).
    pub fn sent_len(&self) -> u64 {
        if self.is_tail() { 0 } else { self.hist_upto() - self.acked.min(self.hist_upto()) }
    }

    fn position(&self) -> Option<usize> {
        self.chain.iter().position(|&p| p == self.id)
    }

    fn head(&self) -> ProcessId {
        self.chain[0]
    }

    fn pred(&self) -> Option<ProcessId> {
        self.position().and_then(|i| i.checked_sub(1)).map(|i| self.chain[i])
    }

    fn succ(&self) -> Option<ProcessId> {
        self.position().and_then(|i| self.chain.get(i + 1).copied())
    }

    fn is_tail(&self) -> bool {
        self.chain.last() == Some(&self.id)
    }

    fn others(&self) -> Vec<ProcessId> {
        self.processes.iter().copied().filter(|&p| p != self.id).collect()
    }

    // ---- Normal case (§4) ----

    fn route_request(&mut self, cmd: Arc<Command>, origin: ProcessId, now: Time, out: &mut Outbox<Self>) {
        if origin == self.id && self.is_craq_read(&cmd) {
            self.craq_read(cmd, now, out);
        } else if self.head() == self.id {
            self.accept_update(cmd, origin, now, out);
        } else {
            out.send(self.head(), Message::Request { cmd, origin });
        }
    }

    /// §4 step 1 at the head.
    fn accept_update(&mut self, cmd: Arc<Command>, origin: ProcessId, now: Time, out: &mut Outbox<Self>) {
        let (client, seq) = (cmd.id.client, cmd.id.seq);
        if self.applied_seq.get(&client).is_some_and(|&done| done >= seq) {
            // Applied already: the origin applies it once told the commit.
            if origin != self.id {
                out.send(origin, Message::Reply { version: self.version, seq: self.committed });
            }
            return;
        }
        if self.appended_seq.get(&client).is_some_and(|&logged| logged >= seq) {
            return; // in flight; its reply follows
        }
        self.appended_seq.insert(client, seq);
        self.appended_at.push_back((self.hist_upto() + 1, now));
        self.append(Entry { cmd, origin }, now, out);
    }

    /// Appends `entry` to the log (and, with CRAQ reads, records the
    /// versions it writes).
    fn push_log(&mut self, entry: Entry) {
        if self.reads == ReadMode::Craq && !entry.cmd.is_read_only() {
            let seq = self.hist_upto() + 1;
            for key in entry.cmd.keys() {
                self.last_write.insert(key, seq);
            }
        }
        self.log.push(entry);
    }

    /// Appends the next update and passes it on (§4 steps 1-3).
    fn append(&mut self, entry: Entry, now: Time, out: &mut Outbox<Self>) {
        self.push_log(entry.clone());
        let seq = self.hist_upto();
        match self.succ() {
            Some(succ) => out.send(succ, Message::Forward { version: self.version, seq, entry }),
            None => self.commit_as_tail(seq, now, out),
        }
    }

    /// §4 step 3 (and §7.2 for a new tail): everything up to `seq` is
    /// committed; reply to the waiting processes and ACK upstream.
    fn commit_as_tail(&mut self, seq: u64, now: Time, out: &mut Outbox<Self>) {
        let mut origins = 0u64;
        for e in &self.log[self.committed.min(seq) as usize..seq as usize] {
            origins |= 1 << e.origin.index();
        }
        self.learn_committed(seq, now, out);
        origins &= !(1 << self.id.index());
        for &p in &self.processes {
            if origins & (1 << p.index()) != 0 {
                out.send(p, Message::Reply { version: self.version, seq });
            }
        }
        if let Some(pred) = self.pred() {
            out.send(pred, Message::Ack { version: self.version, seq });
        }
    }

    fn learn_committed(&mut self, seq: u64, now: Time, out: &mut Outbox<Self>) {
        let seq = seq.min(self.hist_upto());
        if seq <= self.committed {
            return;
        }
        self.committed = seq;
        while self.appended_at.front().is_some_and(|&(s, _)| s <= seq) {
            let (_, at) = self.appended_at.pop_front().expect("checked");
            out.commit_latency(now.since(at));
        }
        while self.applied < self.committed {
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
            self.applied += 1;
            out.execute(LogStep::Slot(ChosenSlot { slot: self.applied, cmd: fresh.then(|| e.cmd.clone()) }));
        }
    }

    /// §4 steps 2-3: FORWARD from the predecessor, buffered by seq.
    fn handle_forward(
        &mut self,
        from: ProcessId,
        version: u64,
        seq: u64,
        entry: Entry,
        now: Time,
        out: &mut Outbox<Self>,
    ) {
        if version != self.version || Some(from) != self.pred() {
            return; // fenced
        }
        if seq <= self.hist_upto() {
            // A duplicate; under faults a retransmission whose ACK may
            // have been lost: acknowledge again.
            let acked = if self.is_tail() { self.committed } else { self.acked };
            if self.group.is_some() && acked > 0 {
                out.send(from, Message::Ack { version, seq: acked });
            }
            return;
        }
        self.joining = false;
        self.ahead.insert(seq, entry);
        let before = self.hist_upto();
        while let Some(e) = self.ahead.remove(&(self.hist_upto() + 1)) {
            self.push_log(e);
        }
        if self.ahead.is_empty() {
            self.hole_since = None;
        } else {
            self.hole_since.get_or_insert(now);
        }
        let after = self.hist_upto();
        if after == before {
            return;
        }
        self.check_caught_up();
        match self.succ() {
            Some(succ) => {
                for s in before + 1..=after {
                    let entry = self.log[s as usize - 1].clone();
                    out.send(succ, Message::Forward { version: self.version, seq: s, entry });
                }
            }
            None => self.commit_as_tail(after, now, out),
        }
    }

    /// §4 step 4.
    fn handle_ack(&mut self, from: ProcessId, version: u64, seq: u64, now: Time, out: &mut Outbox<Self>) {
        if version != self.version || Some(from) != self.succ() || seq <= self.acked {
            return;
        }
        // Tracked apart from `committed`: a REPLY may have told this
        // process the commit first, and the ACK must still travel on.
        self.acked = seq.min(self.hist_upto());
        self.ack_progress_at = now;
        self.learn_committed(seq, now, out);
        if let Some(pred) = self.pred() {
            out.send(pred, Message::Ack { version: self.version, seq: self.acked });
        }
    }

    // ---- Reconfiguration (§7) ----

    fn handle_config(
        &mut self,
        from: ProcessId,
        version: u64,
        chain: Vec<ProcessId>,
        now: Time,
        out: &mut Outbox<Self>,
    ) {
        // Under faults any master may send a chosen configuration, and a
        // version is chosen once (master.rs).
        let from_master = from == self.master || self.group.is_some();
        if !from_master || version <= self.version || chain.is_empty() {
            return;
        }
        let was_member = self.position().is_some();
        let was_tail = self.is_tail();
        let was_head = self.head() == self.id;
        let old_succ = self.succ();
        self.version = version;
        self.chain = chain;
        self.ahead.clear();
        self.hole_since = None;
        if self.position().is_none() {
            return; // removed: fenced; under faults it may rejoin as the tail
        }
        if self.group.is_some() {
            if !was_member {
                // §7.5: rejoining as the tail. What it holds beyond its
                // committed prefix was never committed and may differ from
                // the chain's log: drop it, then catch up from the
                // predecessor.
                if !self.plant_rejoin_keeps_suffix {
                    self.log.truncate(self.committed as usize);
                    if self.reads == ReadMode::Craq {
                        let log = std::mem::take(&mut self.log);
                        self.last_write.clear();
                        log.into_iter().for_each(|e| self.push_log(e));
                    }
                }
                self.acked = self.committed;
                self.joining = true;
                if self.reads == ReadMode::Craq {
                    self.catching_up_to = Some(u64::MAX);
                }
                if let Some(pred) = self.pred() {
                    out.send(pred, Message::Join { version, hist_upto: self.hist_upto() });
                }
            }
            if let Some(succ) = self.succ().filter(|&s| Some(s) != old_succ) {
                // A middle server was removed: re-send what the old
                // successor had not acknowledged (§7.3 without the
                // master's LAST_SEQ round; duplicates are ignored).
                self.ack_progress_at = now;
                self.resend_from(succ, self.acked + 1, out);
            }
        }
        if self.head() == self.id && !was_head {
            // §7.1: the new head continues the seq and knows every logged
            // request (the client table rides in the updates).
            for e in &self.log {
                let logged = self.appended_seq.entry(e.cmd.id.client).or_insert(0);
                *logged = (*logged).max(e.cmd.id.seq);
            }
        }
        if self.is_tail() && !was_tail {
            // §7.2: the new tail answers for everything it holds.
            self.commit_as_tail(self.hist_upto(), now, out);
        }
        // Clients retry at the new head (§7.1).
        let cmds: Vec<Arc<Command>> = self
            .pending
            .values_mut()
            .map(|(c, at)| {
                *at = now;
                c.clone()
            })
            .collect();
        for cmd in cmds {
            self.route_request(cmd, self.id, now, out);
        }
    }

    /// §7.3 d at S−: re-forward the held updates from `from_seq`.
    fn handle_resend_from(&mut self, from: ProcessId, version: u64, from_seq: u64, out: &mut Outbox<Self>) {
        if from != self.master || version != self.version {
            return;
        }
        let Some(succ) = self.succ() else { return };
        for s in from_seq.max(1)..=self.hist_upto() {
            let entry = self.log[s as usize - 1].clone();
            out.send(succ, Message::Forward { version: self.version, seq: s, entry });
        }
    }

    fn master_tick(&mut self, now: Time, out: &mut Outbox<Self>) {
        let others: Vec<ProcessId> = self.chain.iter().copied().filter(|&p| p != self.id).collect();
        out.send_to_each(&others, Message::Ping);
        // §7.4: one removal at a time, in chain order from head to tail.
        let failed = others.iter().copied().find(|p| now.since(self.last_pong[p.index()]) >= self.fd_timeout_ns);
        let Some(failed) = failed else { return };
        let i = self.chain.iter().position(|&p| p == failed).expect("a member");
        let middle = i > 0 && i + 1 < self.chain.len();
        let (pred, succ) = (i.checked_sub(1).map(|j| self.chain[j]), self.chain.get(i + 1).copied());
        // The master's own server part takes the CONFIG like anyone else,
        // when it is delivered to itself (before any other event).
        let chain: Vec<ProcessId> = self.chain.iter().copied().filter(|&p| p != failed).collect();
        let version = self.version + 1;
        out.send_to_each(&self.processes, Message::Config { version, chain });
        if middle {
            let (pred, succ) = (pred.expect("middle"), succ.expect("middle"));
            self.handover = Some((pred, succ));
            out.send(succ, Message::LastSeqReq { version });
        }
    }

    fn tick(&mut self, now: Time, out: &mut Outbox<Self>) {
        out.set_timer(Timer::Tick, self.ping_ns);
        if self.group.is_some() {
            self.group_tick(now, out);
            self.retransmit(now, out);
            self.renew_lease(now, out);
        } else if self.id == self.master {
            self.master_tick(now, out);
        }
        if self.position().is_none() {
            return;
        }
        // A CRAQ read may be waiting for a lease (under faults): it tries
        // again sooner than a forwarded request.
        let craq = self.reads == ReadMode::Craq;
        let read_retry = CRAQ_READ_RETRY_PINGS * self.ping_ns;
        let due: Vec<Arc<Command>> = self
            .pending
            .values_mut()
            .filter(|(cmd, at)| {
                let retry = if craq && cmd.is_read_only() { read_retry } else { CLIENT_RETRY_NS };
                now.since(*at) >= retry
            })
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

impl Protocol for Chain {
    type Message = Message;
    type Timer = Timer;
    type Executor = ReadingSlotExecutor;
    type Options = Options;

    fn new(setup: ProcessSetup, options: &Options) -> (Self, ReadingSlotExecutor) {
        let n = setup.n();
        debug_assert!(Self::check(n, setup.config.f).is_ok());
        let head = setup.config.leader.unwrap_or(setup.processes[0]);
        let start = setup.processes.iter().position(|&p| p == head).unwrap_or(0);
        let chain: Vec<ProcessId> = (0..n).map(|i| setup.processes[(start + i) % n]).collect();
        let chain_server = Chain {
            id: setup.id,
            processes: setup.processes,
            ping_ns: options.ping_ns.unwrap_or(DEFAULT_PING_NS),
            fd_timeout_ns: options.fd_timeout_ns.unwrap_or(DEFAULT_FD_TIMEOUT_NS),
            master: head,
            version: 0,
            chain: chain.clone(),
            log: Vec::new(),
            ahead: BTreeMap::new(),
            committed: 0,
            acked: 0,
            applied: 0,
            applied_seq: FixedHashMap::default(),
            appended_seq: FixedHashMap::default(),
            appended_at: VecDeque::new(),
            pending: BTreeMap::new(),
            last_pong: vec![Time::ZERO; n],
            handover: None,
            group: setup.config.failure_detection.then(|| MasterGroup::new(head, chain.clone())),
            rng: setup.rng,
            pong_version: vec![0; n],
            ack_progress_at: Time::ZERO,
            joining: false,
            hole_since: None,
            reads: options.reads,
            catching_up_to: None,
            last_write: FixedHashMap::default(),
            lease: craq::LeaseState::new(n),
            plant_rejoin_keeps_suffix: options.plant_rejoin_keeps_suffix,
            plant_craq_reads_without_lease: options.plant_craq_reads_without_lease,
        };
        (chain_server, ReadingSlotExecutor::new())
    }

    fn start(&mut self, now: Time, out: &mut Outbox<Self>) {
        out.set_timer(Timer::Tick, self.ping_ns);
        if self.group.is_some() {
            self.group_start(now);
        }
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
            Message::Request { cmd, origin } => {
                if self.position().is_some() {
                    self.route_request(cmd, origin, now, out);
                }
            }
            Message::Forward { version, seq, entry } => self.handle_forward(from, version, seq, entry, now, out),
            Message::Ack { version, seq } => self.handle_ack(from, version, seq, now, out),
            Message::Reply { version, seq } => {
                // A removed server's log may hold an uncommitted suffix
                // that differs from the chain's: it learns nothing.
                if version == self.version && self.position().is_some() {
                    self.learn_committed(seq, now, out);
                }
            }
            Message::Ping => out.send(from, Message::Pong),
            Message::Pong => {
                if self.id == self.master {
                    self.last_pong[from.index()] = now;
                }
            }
            Message::Config { version, chain } => self.handle_config(from, version, chain, now, out),
            Message::LastSeqReq { version } => {
                if from == self.master && version == self.version {
                    out.send(from, Message::LastSeq { version, hist_upto: self.hist_upto() });
                }
            }
            Message::LastSeq { version, hist_upto } => {
                if self.id == self.master
                    && let Some((pred, succ)) = self.handover
                    && succ == from
                    && version == self.version
                {
                    self.handover = None;
                    out.send(pred, Message::ResendFrom { version, from_seq: hist_upto + 1 });
                }
            }
            Message::ResendFrom { version, from_seq } => self.handle_resend_from(from, version, from_seq, out),
            Message::Join { version, hist_upto } => {
                if self.group.is_some() && version == self.version && self.succ() == Some(from) {
                    self.resend_from(from, hist_upto + 1, out);
                    if self.reads == ReadMode::Craq {
                        out.send(from, Message::JoinUpto { version, hist_upto: self.hist_upto() });
                    }
                }
            }
            Message::JoinUpto { version, hist_upto } => {
                if version == self.version && self.pred() == Some(from) && self.catching_up_to.is_some() {
                    self.catching_up_to = Some(hist_upto);
                    self.check_caught_up();
                }
            }
            Message::MasterPing { ballot } => self.handle_master_ping(from, ballot, now, out),
            Message::MasterPong { version } => self.handle_master_pong(from, version, now, out),
            Message::Prepare { ballot } => self.handle_prepare(from, ballot, now, out),
            Message::Promise { ballot, accepted } => self.handle_promise(from, ballot, accepted, now, out),
            Message::Accept { ballot, version, chain } => {
                self.handle_accept(from, AcceptedConfig { ballot, version, chain }, now, out)
            }
            Message::Accepted { ballot, version } => self.handle_accepted(from, ballot, version, now, out),
            Message::VersionQuery { version: _, id, keys } => self.handle_version_query(from, id, &keys, now, out),
            Message::VersionReply { id, seq } => self.handle_version_reply(id, seq, now, out),
            Message::LeaseReq { version, at } => self.handle_lease_req(from, version, at, now, out),
            Message::LeaseGrant { at } => self.lease_granted(from, at),
        }
    }

    fn handle_timer(&mut self, timer: Timer, now: Time, out: &mut Outbox<Self>) {
        match timer {
            Timer::Tick => self.tick(now, out),
        }
    }
}
