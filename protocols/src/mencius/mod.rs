//! Mencius: rotating-coordinator Multi-Paxos (Mao, Junqueira & Marzullo,
//! OSDI'08), as specified in `shared/specs/mencius.md`.
//!
//! Slot `s` (from 1 here; the spec counts from 0, so its slot `i` is our
//! `i + 1`) is owned by process index `(s - 1) mod n`. Each process
//! proposes its clients' commands only in its own slots, at ballot 0
//! without a phase 1 (SUGGEST, Rule 1), and skips the own slots it has
//! no command for as soon as it sees a higher slot in use (Rule 2): a
//! skip is decided by the owner alone. A command is chosen once a
//! majority acknowledged it; every process executes slots in order
//! through a [`SlotExecutor`], so a client at `p` waits for the farthest
//! process's skip: `d(X,p) + 2·max_q d(p,q) + d(p,X)` when the others are
//! idle (§5).
//!
//! With failure detection (runs with faults) each process sends a
//! HEARTBEAT every `HB`, re-sends SUGGESTs not yet acknowledged, asks the
//! others for decided slots when its execution stalls (lost COMMITs and
//! SKIPs), and **revokes** (§7, Rule 3) the owner of the slot it is
//! blocked at when that owner was silent for `SUSPECT_TIMEOUT + rank·Δ`
//! (or the slot stayed undecided for twice that long, for an owner alive
//! but unable to finish): one Paxos instance at a ballot above 0 over
//! the owner's slots `[lo, hi)`, `hi` = `K·n` beyond every slot known,
//! whose phase 1 preserves any command the owner may have had chosen and
//! fills the rest with no-ops. An owner that learns its suggestion was
//! decided a no-op suggests it again in a later slot (Rule 4).
//!
//! Departures from the spec, each for a reason given where it is coded:
//! a SKIP does not trigger Rule 2 (only SUGGESTs and COMMITs of commands
//! do); a revocation's P2a, P2b and COMMIT carry the whole range in one
//! message; the owner of a range being revoked skips its unused slots
//! below `hi` itself; `COMMIT_DELAY` is always 0 (no piggybacking of
//! COMMITs).

mod messages;
#[cfg(test)]
mod tests;

pub use messages::{Message, SkipRange, SlotReport};

use crate::shared::quorum;
use crate::shared::slot_executor::{ChosenSlot, SlotExecutor};
use crate::shared::slot_log::SlotLog;
use crate::shared::synod::next_ballot;
use sim_core::protocol::{Outbox, ProcessSetup, Protocol};
use sim_core::time::NS_PER_MS;
use sim_core::{ClientId, Command, FixedHashMap, ProcessId, Time};
use std::collections::BTreeMap;
use std::sync::Arc;

/// A ballot number; process `p` owns `p + n·k` (specs README §1.4). 0 is
/// every slot owner's own ballot, so revocations start above it.
pub type Ballot = u64;

/// What a slot holds: a command, or a no-op (`None`).
pub type Value = Option<Arc<Command>>;

/// Most processes one Mencius group may have (acks are 64-bit sets).
pub const MAX_PROCESSES: usize = 64;
/// `HB` (§6).
pub const DEFAULT_HEARTBEAT_NS: u64 = 100 * NS_PER_MS;
/// `SUSPECT_TIMEOUT` (§6).
pub const DEFAULT_SUSPECT_TIMEOUT_NS: u64 = 1_000 * NS_PER_MS;
/// `SKIP_DELAY` (§6), LAZY skips only.
pub const DEFAULT_SKIP_DELAY_NS: u64 = 10 * NS_PER_MS;
/// `REVOKE_AHEAD` K (§6): slots of the revoked owner covered beyond every
/// slot known.
pub const DEFAULT_REVOKE_AHEAD: u64 = 1_000;
/// `Δ` of the revokers' ranking (§7 step 5): the spec leaves it open; two
/// round trips at `RTT_max` = 400 ms, the largest RTT of the embedded
/// matrices, so that the first revoker usually finishes before the next
/// one starts.
pub const RANK_STEP_NS: u64 = 800 * NS_PER_MS;
/// Most decided slots one catch-up message carries.
const CATCH_UP_BATCH: usize = 2_048;
/// Largest range (in slots) a message may name; anything longer is
/// absurd and ignored.
const MAX_RANGE_SLOTS: u64 = 1 << 24;

/// How skips reach the processes other than the suggester (§4 step 4).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SkipSend {
    /// Broadcast a SKIP at once (the default).
    #[default]
    Eager,
    /// Piggyback skips on the next SUGGEST, or send them after
    /// `SKIP_DELAY`.
    Lazy,
}

/// Mencius options (§4 step 4, §6 timers); `None` takes the spec's
/// default.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Options {
    /// `skip_send`: `eager` (default) or `lazy`.
    pub skip_send: SkipSend,
    /// `HB` in ns (default [`DEFAULT_HEARTBEAT_NS`]).
    pub heartbeat_ns: Option<u64>,
    /// `SUSPECT_TIMEOUT` in ns (default [`DEFAULT_SUSPECT_TIMEOUT_NS`]);
    /// must exceed `HB + 2·RTT_max`.
    pub suspect_timeout_ns: Option<u64>,
    /// `SKIP_DELAY` in ns (default [`DEFAULT_SKIP_DELAY_NS`]).
    pub skip_delay_ns: Option<u64>,
    /// `REVOKE_AHEAD` K (default [`DEFAULT_REVOKE_AHEAD`]).
    pub revoke_ahead: Option<u64>,
    /// Planted bug (tests only, not reachable from scenario files): a
    /// revoker ignores what its phase 1 found and proposes no-ops, so the
    /// verdict's power to catch an unsafe revocation can be tested.
    #[serde(skip)]
    pub plant_ignore_promises: bool,
}

/// Mencius timers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Timer {
    /// Time to tell the others how far this process has decided.
    GarbageCollection,
    /// Every `HB`, failure detection only: heartbeat, re-sends, catch-up
    /// and revocation.
    Tick,
    /// LAZY skips waited `SKIP_DELAY`: send them.
    SkipFlush,
}

/// One slot at this process: acceptor state and what it learned.
#[derive(Clone, Debug, Default)]
struct Slot {
    /// The value accepted and its ballot (0: the owner's SUGGEST).
    accepted: Option<(Ballot, Value)>,
    /// The decided value, once known.
    decided: Option<Value>,
}

/// A ballot promised for one owner's slots in `[lo, hi)` (§2 `promised`,
/// kept as ranges: a revocation promises a whole range at once).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct PromiseRange {
    lo: u64,
    hi: u64,
    ballot: Ballot,
}

/// An own slot suggested and not decided yet.
#[derive(Debug)]
struct Proposal {
    cmd: Arc<Command>,
    /// Bit `i`: process index `i` accepted it.
    acks: u64,
    proposed_at: Time,
}

/// Commands recovered by a revocation, by slot (the range's other slots
/// are no-ops).
pub type Recovered = Vec<(u64, Arc<Command>)>;

/// A revocation this process runs (§7).
#[derive(Debug)]
struct Revocation {
    ballot: Ballot,
    owner: ProcessId,
    lo: u64,
    hi: u64,
    promises: BTreeMap<ProcessId, Vec<SlotReport>>,
    /// Phase 2: the recovered commands and the acceptors (bits) that
    /// accepted them.
    phase2: Option<(Recovered, u64)>,
}

/// One Mencius server: owner of its slots, acceptor and learner of all.
#[derive(Debug)]
pub struct Mencius {
    id: ProcessId,
    processes: Vec<ProcessId>,
    gc_interval_ns: u64,
    skip_send: SkipSend,
    heartbeat_ns: u64,
    suspect_timeout_ns: u64,
    skip_delay_ns: u64,
    revoke_ahead: u64,
    failure_detection: bool,
    /// See [`Options::plant_ignore_promises`].
    plant_ignore_promises: bool,

    /// `I_p`: the smallest own slot not used yet (always an own slot).
    next_own: u64,
    log: SlotLog<Slot>,
    /// Per owner index, the ballots promised on its slots.
    promised: Vec<Vec<PromiseRange>>,
    /// Every slot up to here is decided at this process.
    decided_upto: u64,
    /// Highest slot known to be in use (suggested, decided or reported).
    highest_seen: u64,
    /// LAZY: own skips not announced yet.
    pending_skip: Option<SkipRange>,
    /// Own slots suggested, not decided yet.
    proposals: BTreeMap<u64, Proposal>,
    /// Rule 4: own commands decided a no-op, suggested again once the
    /// current message is handled (so `next_own` first moves past every
    /// revoked slot the message decides).
    resuggest: Vec<Arc<Command>>,

    // Revocation and failure detection (§6, §7).
    revocation: Option<Revocation>,
    /// Highest ballot seen.
    max_ballot_seen: Ballot,
    /// Per process index, when it was last heard from.
    last_heard: Vec<Time>,
    /// Per owner index, when this process last promised another
    /// process's revocation of that owner (so it does not start a duel).
    revocation_seen: Vec<Option<Time>>,
    /// No revocation starts before this (after one was refused).
    quiet_until: Time,
    /// Highest `next_own` heard of.
    known_next_own: u64,
    /// When `decided_upto` last moved (or execution was last not blocked).
    progress_at: Time,
    /// Per client, the highest command seq decided (failure detection
    /// only): retries and Rule-4 re-suggestions of it are not proposed.
    decided_seq: FixedHashMap<ClientId, u64>,
    /// Highest decided prefix each process reported, by index.
    decided_by: Vec<u64>,
}

impl Mencius {
    /// Checks `3 <= n <= MAX_PROCESSES` and `1 <= f <= floor((n-1)/2)`:
    /// quorums are majorities, so Mencius tolerates a minority (§1); `f`
    /// only bounds the crashes a fault swarm may draw.
    pub fn check(n: usize, f: usize) -> Result<(), String> {
        if !(3..=MAX_PROCESSES).contains(&n) {
            return Err(format!("Mencius needs between 3 and {MAX_PROCESSES} servers, got n = {n}"));
        }
        let tolerated = (n - 1) / 2;
        if f == 0 || f > tolerated {
            return Err(format!(
                "f = {f} is not valid for Mencius with n = {n} servers: majority quorums tolerate \
                 1 <= f <= floor((n-1)/2) = {tolerated} crashes"
            ));
        }
        Ok(())
    }

    /// `I_p`: the next own slot to use.
    pub fn next_own(&self) -> u64 {
        self.next_own
    }

    /// Every slot up to this one is decided here.
    pub fn decided_upto(&self) -> u64 {
        self.decided_upto
    }

    /// The decided value of `slot`: `Some(None)` for a no-op, `None` if
    /// undecided here (or collected).
    pub fn decided(&self, slot: u64) -> Option<&Value> {
        self.log.get(slot).and_then(|s| s.decided.as_ref())
    }

    /// True while this process runs a revocation.
    pub fn is_revoking(&self) -> bool {
        self.revocation.is_some()
    }

    fn n(&self) -> u64 {
        self.processes.len() as u64
    }

    /// The process that owns `slot` (from 1).
    pub fn owner_of(slot: u64, n: usize) -> ProcessId {
        ProcessId::from_index(((slot.max(1) - 1) % n as u64) as usize)
    }

    fn owner(&self, slot: u64) -> ProcessId {
        Self::owner_of(slot, self.processes.len())
    }

    fn is_own(&self, slot: u64) -> bool {
        self.owner(slot) == self.id
    }

    /// The first slot `>= from` owned by `owner`.
    fn first_owned(&self, owner: ProcessId, from: u64) -> u64 {
        let n = self.n();
        let from = from.max(1);
        let offset = (owner.index() as u64 + n - (from - 1) % n) % n;
        from + offset
    }

    /// The slots `owner` owns in `[lo, hi)`.
    fn owned_in(&self, owner: ProcessId, lo: u64, hi: u64) -> impl Iterator<Item = u64> + use<> {
        let first = self.first_owned(owner, lo);
        (first..hi.max(first)).step_by(self.processes.len())
    }

    /// True if a range message from the wire is sane.
    fn valid_range(&self, owner: ProcessId, lo: u64, hi: u64) -> bool {
        owner.index() < self.processes.len() && owner.0 > 0 && lo >= 1 && lo < hi && hi - lo <= MAX_RANGE_SLOTS
    }

    fn others(&self) -> Vec<ProcessId> {
        self.processes.iter().copied().filter(|&p| p != self.id).collect()
    }

    fn majority(&self) -> usize {
        quorum::majority(self.processes.len())
    }

    /// The highest ballot promised on any of `owner`'s slots in `[lo, hi)`
    /// (0: none, the owner's own ballot).
    fn promised_on(&self, owner: ProcessId, lo: u64, hi: u64) -> (Ballot, u64) {
        self.promised[owner.index()]
            .iter()
            .filter(|r| r.lo < hi && lo < r.hi)
            .map(|r| (r.ballot, r.hi))
            .max()
            .unwrap_or((0, 0))
    }

    fn promise(&mut self, owner: ProcessId, lo: u64, hi: u64, ballot: Ballot) {
        let range = PromiseRange { lo, hi, ballot };
        let ranges = &mut self.promised[owner.index()];
        if !ranges.contains(&range) {
            ranges.push(range);
        }
    }

    // ---- Normal case (§4) ----

    /// A client command reached this process.
    fn on_command(&mut self, cmd: Arc<Command>, now: Time, out: &mut Outbox<Self>) {
        if self.failure_detection && self.already_decided(&cmd) {
            return; // a retry of a decided command: the executor answers it
        }
        self.propose(cmd, now, out);
    }

    fn already_decided(&self, cmd: &Command) -> bool {
        self.decided_seq.get(&cmd.id.client).is_some_and(|&seq| cmd.id.seq <= seq)
    }

    /// Rule 1: SUGGEST in the next own slot, to everyone (itself
    /// included, as an acceptor), with LAZY skips piggybacked.
    fn propose(&mut self, cmd: Arc<Command>, now: Time, out: &mut Outbox<Self>) {
        let slot = self.next_own;
        self.next_own += self.n();
        self.highest_seen = self.highest_seen.max(slot);
        let skip = self.pending_skip.take();
        if skip.is_some() {
            out.cancel_timer(Timer::SkipFlush);
        }
        self.proposals.insert(slot, Proposal { cmd: cmd.clone(), acks: 0, proposed_at: now });
        out.send_to_each(&self.processes, Message::Suggest { slot, cmd, skip });
    }

    /// Rule 2: own slots below `slot` that are not used yet become
    /// no-ops, decided at once; the range is announced (EAGER: a SKIP to
    /// everyone but `informed`, who hears it in the ACCEPT_ACK) and
    /// returned for the ack.
    fn skip_below(
        &mut self,
        slot: u64,
        informed: Option<ProcessId>,
        now: Time,
        out: &mut Outbox<Self>,
    ) -> Option<SkipRange> {
        if self.next_own >= slot {
            return None;
        }
        let lo = self.next_own;
        self.next_own = self.first_owned(self.id, slot);
        for own in (lo..slot).step_by(self.processes.len()) {
            self.decide(own, None, now, out);
        }
        let range = SkipRange { lo, hi: slot };
        match self.skip_send {
            SkipSend::Eager => {
                let targets: Vec<ProcessId> =
                    self.processes.iter().copied().filter(|&p| p != self.id && Some(p) != informed).collect();
                out.send_to_each(&targets, Message::Skip { range });
            }
            SkipSend::Lazy => {
                // Ranges merge only when no own slot lies between them: a
                // slot in the gap was used (or decided by a revoker).
                let contiguous = self.pending_skip.is_some_and(|p| self.first_owned(self.id, p.hi) == lo);
                match &mut self.pending_skip {
                    Some(pending) if contiguous => pending.hi = slot,
                    _ => {
                        if let Some(earlier) = self.pending_skip.replace(range) {
                            out.send_to_each(&self.others(), Message::Skip { range: earlier });
                        }
                        out.set_timer(Timer::SkipFlush, self.skip_delay_ns);
                    }
                }
            }
        }
        Some(range)
    }

    /// `from`'s slots in `range` are no-ops.
    fn apply_skip(&mut self, from: ProcessId, range: SkipRange, now: Time, out: &mut Outbox<Self>) {
        if !self.valid_range(from, range.lo, range.hi) {
            return;
        }
        // A skip does not trigger Rule 2 here (departure): its slots all
        // lie below a SUGGESTed slot whose SUGGEST reaches this process
        // directly, so triggering on it only adds SKIP broadcasts, and it
        // would make the §5 latency depend on triangle-inequality
        // violations of the matrix (a skip relayed through a third
        // process can beat the direct round trip).
        for slot in self.owned_in(from, range.lo.max(self.decided_upto + 1), range.hi) {
            self.decide(slot, None, now, out);
        }
    }

    /// §4 steps 2-3 at an acceptor.
    fn handle_suggest(
        &mut self,
        from: ProcessId,
        slot: u64,
        cmd: Arc<Command>,
        skip: Option<SkipRange>,
        now: Time,
        out: &mut Outbox<Self>,
    ) {
        if slot == 0 || self.owner(slot) != from {
            return; // only the owner suggests at ballot 0
        }
        if let Some(range) = skip {
            self.apply_skip(from, range, now, out);
        }
        if slot < self.log.floor() {
            return; // decided everywhere and collected
        }
        self.highest_seen = self.highest_seen.max(slot);
        let my_skip = self.skip_below(slot, Some(from), now, out);
        let (promised, revoked_upto) = self.promised_on(from, slot, slot + 1);
        if promised > 0 {
            out.send(from, Message::SuggestNack { slot, revoked_upto });
            return;
        }
        if let Some(entry) = self.log.get_or_insert_with(slot, Slot::default) {
            entry.accepted = Some((0, Some(cmd)));
        }
        out.send(from, Message::AcceptAck { slot, skip: my_skip });
    }

    /// §4 step 5 at the owner.
    fn handle_accept_ack(
        &mut self,
        from: ProcessId,
        slot: u64,
        skip: Option<SkipRange>,
        now: Time,
        out: &mut Outbox<Self>,
    ) {
        if let Some(range) = skip {
            self.apply_skip(from, range, now, out);
        }
        let majority = self.majority();
        let Some(proposal) = self.proposals.get_mut(&slot) else {
            return; // decided already
        };
        let bit = 1u64 << from.index();
        if proposal.acks & bit != 0 {
            return; // a duplicate
        }
        proposal.acks |= bit;
        let acks = proposal.acks.count_ones() as usize;
        debug_assert!(acks <= majority);
        if acks == majority {
            let (cmd, proposed_at) = (proposal.cmd.clone(), proposal.proposed_at);
            out.commit_latency(now.since(proposed_at));
            out.send_to_each(&self.others(), Message::Commit { slot, cmd: cmd.clone() });
            self.decide(slot, Some(cmd), now, out);
        }
    }

    /// `slot` holds `value`: record it, hand it to the executor, and apply
    /// Rule 2 (a command in another's slot) and Rule 4 (an own suggestion
    /// decided a no-op).
    fn decide(&mut self, slot: u64, value: Value, now: Time, out: &mut Outbox<Self>) {
        if slot <= self.decided_upto {
            return;
        }
        let Some(entry) = self.log.get_or_insert_with(slot, Slot::default) else {
            return; // below the floor: decided everywhere
        };
        if entry.decided.is_some() {
            return;
        }
        entry.decided = Some(value.clone());
        self.highest_seen = self.highest_seen.max(slot);
        if let Some(cmd) = &value
            && self.failure_detection
        {
            let seq = self.decided_seq.entry(cmd.id.client).or_insert(0);
            *seq = (*seq).max(cmd.id.seq);
        }
        if self.is_own(slot) {
            if let Some(proposal) = self.proposals.remove(&slot)
                && value.is_none()
            {
                self.resuggest.push(proposal.cmd); // Rule 4
            }
            if slot >= self.next_own {
                // Decided by a revoker: this process may not use it, nor
                // the unused own slots below it.
                self.skip_below(slot, None, now, out);
                self.next_own = slot + self.n();
            }
        }
        let before = self.decided_upto;
        while self.log.get(self.decided_upto + 1).is_some_and(|s| s.decided.is_some()) {
            self.decided_upto += 1;
        }
        if self.decided_upto > before {
            self.progress_at = now;
        }
        let command_in_another_slot = value.is_some() && !self.is_own(slot);
        out.execute(ChosenSlot { slot, cmd: value });
        if command_in_another_slot {
            self.skip_below(slot, None, now, out);
        }
    }

    /// Rule 4: suggest again, in fresh own slots, the commands decided a
    /// no-op while handling the last input.
    fn suggest_again(&mut self, now: Time, out: &mut Outbox<Self>) {
        for cmd in std::mem::take(&mut self.resuggest) {
            if !(self.failure_detection && self.already_decided(&cmd)) {
                self.propose(cmd, now, out);
            }
        }
    }

    // ---- Revocation (§7) ----

    /// Rule 3: revoke `owner`'s slots from `lo` up to `K·n` slots beyond
    /// every slot known.
    fn start_revocation(&mut self, owner: ProcessId, lo: u64, out: &mut Outbox<Self>) {
        let ballot = next_ballot(self.id, self.processes.len(), self.max_ballot_seen);
        self.max_ballot_seen = ballot;
        let known = self.next_own.max(self.known_next_own).max(self.highest_seen + 1);
        let hi = known + self.revoke_ahead * self.n();
        self.revocation = Some(Revocation { ballot, owner, lo, hi, promises: BTreeMap::new(), phase2: None });
        out.recovery_started();
        out.send_to_each(&self.processes, Message::Prepare { ballot, owner, lo, hi });
    }

    /// §7 step 3 at an acceptor.
    #[allow(clippy::too_many_arguments)]
    fn handle_prepare(
        &mut self,
        from: ProcessId,
        ballot: Ballot,
        owner: ProcessId,
        lo: u64,
        hi: u64,
        now: Time,
        out: &mut Outbox<Self>,
    ) {
        if !self.valid_range(owner, lo, hi) || ballot == 0 {
            return;
        }
        self.max_ballot_seen = self.max_ballot_seen.max(ballot);
        let (promised, _) = self.promised_on(owner, lo, hi);
        if promised > ballot {
            out.send(from, Message::RevokeNack { ballot, promised });
            return;
        }
        self.promise(owner, lo, hi, ballot);
        if from != self.id {
            self.revocation_seen[owner.index()] = Some(now);
        }
        if owner == self.id {
            // Departure: the owner skips its unused slots in the range at
            // once (a skip decides only no-ops, which is all a revoker
            // can pick for a slot never suggested), so the range gets
            // decided even if the revoker fails before its phase 2.
            self.skip_below(hi, None, now, out);
        }
        let reports: Vec<SlotReport> = self
            .owned_in(owner, lo.max(self.log.floor()), hi)
            .filter_map(|slot| {
                let entry = self.log.get(slot)?;
                match (&entry.decided, &entry.accepted) {
                    (Some(value), _) => Some(SlotReport { slot, ballot, value: value.clone(), decided: true }),
                    (None, Some((accepted_at, value))) => {
                        Some(SlotReport { slot, ballot: *accepted_at, value: value.clone(), decided: false })
                    }
                    (None, None) => None,
                }
            })
            .collect();
        out.send(from, Message::Promise { ballot, reports });
    }

    /// §7 step 4 at the revoker: with a majority of promises, propose for
    /// each slot the decided value if one was reported, else the value
    /// accepted at the highest ballot, else a no-op.
    fn handle_promise(&mut self, from: ProcessId, ballot: Ballot, reports: Vec<SlotReport>, out: &mut Outbox<Self>) {
        let majority = self.majority();
        let Some(revocation) = &mut self.revocation else { return };
        if revocation.ballot != ballot || revocation.phase2.is_some() {
            return;
        }
        revocation.promises.insert(from, reports);
        if revocation.promises.len() < majority {
            return;
        }
        let (owner, lo, hi) = (revocation.owner, revocation.lo, revocation.hi);
        let n = self.processes.len() as u64;
        // slot -> (decided, ballot, value)
        let mut best: BTreeMap<u64, (bool, Ballot, Value)> = BTreeMap::new();
        for report in revocation.promises.values().flatten() {
            if report.slot < lo || report.slot >= hi || Self::owner_of(report.slot, n as usize) != owner {
                continue;
            }
            let candidate = (report.decided, report.ballot, report.value.clone());
            best.entry(report.slot)
                .and_modify(|current| {
                    if !current.0 && (candidate.0 || candidate.1 > current.1) {
                        *current = candidate.clone();
                    }
                })
                .or_insert(candidate);
        }
        let mut values: Vec<(u64, Arc<Command>)> =
            best.into_iter().filter_map(|(slot, (_, _, value))| value.map(|cmd| (slot, cmd))).collect();
        if self.plant_ignore_promises {
            values.clear();
        }
        revocation.phase2 = Some((values.clone(), 0));
        out.send_to_each(&self.processes, Message::RevokeAccept { ballot, owner, lo, hi, values });
    }

    /// P2a of a revocation at an acceptor.
    #[allow(clippy::too_many_arguments)]
    fn handle_revoke_accept(
        &mut self,
        from: ProcessId,
        ballot: Ballot,
        owner: ProcessId,
        lo: u64,
        hi: u64,
        values: Vec<(u64, Arc<Command>)>,
        now: Time,
        out: &mut Outbox<Self>,
    ) {
        if !self.valid_range(owner, lo, hi) || ballot == 0 {
            return;
        }
        self.max_ballot_seen = self.max_ballot_seen.max(ballot);
        let (promised, _) = self.promised_on(owner, lo, hi);
        if promised > ballot {
            out.send(from, Message::RevokeNack { ballot, promised });
            return;
        }
        self.promise(owner, lo, hi, ballot);
        if owner == self.id {
            self.skip_below(hi, None, now, out);
        }
        let recovered: BTreeMap<u64, Arc<Command>> = values.into_iter().collect();
        for slot in self.owned_in(owner, lo.max(self.log.floor()), hi) {
            if let Some(entry) = self.log.get_or_insert_with(slot, Slot::default)
                && entry.decided.is_none()
            {
                entry.accepted = Some((ballot, recovered.get(&slot).cloned()));
            }
        }
        out.send(from, Message::RevokeAccepted { ballot });
    }

    /// P2b at the revoker: with a majority the range is decided.
    fn handle_revoke_accepted(&mut self, from: ProcessId, ballot: Ballot, now: Time, out: &mut Outbox<Self>) {
        let majority = self.majority();
        let Some(revocation) = &mut self.revocation else { return };
        let Some((_, acks)) = &mut revocation.phase2 else { return };
        if revocation.ballot != ballot {
            return;
        }
        *acks |= 1u64 << from.index();
        if (acks.count_ones() as usize) < majority {
            return;
        }
        let revocation = self.revocation.take().expect("present above");
        let (values, _) = revocation.phase2.expect("phase 2 above");
        let (owner, lo, hi) = (revocation.owner, revocation.lo, revocation.hi);
        out.recovery_finished();
        out.send_to_each(&self.others(), Message::RevokeCommit { owner, lo, hi, values: values.clone() });
        self.decide_range(owner, lo, hi, values, now, out);
    }

    /// Every `owner` slot in `[lo, hi)` is decided: the commands of
    /// `values`, no-ops elsewhere.
    fn decide_range(
        &mut self,
        owner: ProcessId,
        lo: u64,
        hi: u64,
        values: Vec<(u64, Arc<Command>)>,
        now: Time,
        out: &mut Outbox<Self>,
    ) {
        if !self.valid_range(owner, lo, hi) {
            return;
        }
        let recovered: BTreeMap<u64, Arc<Command>> = values.into_iter().collect();
        for slot in self.owned_in(owner, lo.max(self.decided_upto + 1), hi) {
            self.decide(slot, recovered.get(&slot).cloned(), now, out);
        }
    }

    fn handle_revoke_nack(&mut self, ballot: Ballot, promised: Ballot, now: Time) {
        self.max_ballot_seen = self.max_ballot_seen.max(promised);
        if self.revocation.as_ref().is_some_and(|r| r.ballot == ballot) && promised > ballot {
            // Another revoker is ahead: let it finish.
            self.revocation = None;
            self.quiet_until = now.plus_ns(self.suspect_timeout_ns);
        }
    }

    // ---- Failure detection, catch-up, garbage collection ----

    /// This process's rank among the revokers of `owner`'s slots: live
    /// processes (not suspected) with a lower id go first (§7 step 5).
    fn rank(&self, owner: ProcessId, now: Time) -> u64 {
        self.processes
            .iter()
            .filter(|&&p| p < self.id && p != owner)
            .filter(|p| now.since(self.last_heard[p.index()]) < self.suspect_timeout_ns)
            .count() as u64
    }

    /// Every `HB` with failure detection on.
    fn on_tick(&mut self, now: Time, out: &mut Outbox<Self>) {
        let others = self.others();
        out.send_to_each(&others, Message::Heartbeat { next_own: self.next_own, decided_upto: self.decided_upto });
        // SUGGESTs (or their acks) may have been lost.
        for (&slot, proposal) in &self.proposals {
            for &p in &self.processes {
                if proposal.acks & (1 << p.index()) == 0 {
                    out.send(p, Message::Suggest { slot, cmd: proposal.cmd.clone(), skip: None });
                }
            }
        }
        if let Some(revocation) = &self.revocation {
            let (ballot, owner, lo, hi) = (revocation.ballot, revocation.owner, revocation.lo, revocation.hi);
            for &p in &self.processes {
                match &revocation.phase2 {
                    None if !revocation.promises.contains_key(&p) => {
                        out.send(p, Message::Prepare { ballot, owner, lo, hi });
                    }
                    Some((values, acks)) if acks & (1 << p.index()) == 0 => {
                        let values = values.clone();
                        out.send(p, Message::RevokeAccept { ballot, owner, lo, hi, values });
                    }
                    _ => {}
                }
            }
        }
        self.check_blocked(now, out);
        out.set_timer(Timer::Tick, self.heartbeat_ns);
    }

    /// Execution blocked at the first undecided slot while later slots
    /// are in use: ask the others for what they decided, and revoke the
    /// slot's owner once suspected (Rule 3), or once the slot stayed
    /// undecided for twice as long (an owner alive but cut off from a
    /// majority, or a revoker that failed midway).
    fn check_blocked(&mut self, now: Time, out: &mut Outbox<Self>) {
        let blocked_at = self.decided_upto + 1;
        if self.highest_seen < blocked_at {
            self.progress_at = now;
            return;
        }
        let stalled_ns = now.since(self.progress_at);
        // Three heartbeats without progress: more than a WAN round trip,
        // so a slot merely in flight does not ask.
        if stalled_ns >= 3 * self.heartbeat_ns {
            out.send_to_each(&self.others(), Message::CatchUpRequest { from_slot: blocked_at });
        }
        if self.revocation.is_some() || now < self.quiet_until {
            return;
        }
        let owner = self.owner(blocked_at);
        let wait_ns = self.suspect_timeout_ns + self.rank(owner, now) * RANK_STEP_NS;
        let suspected = owner != self.id && now.since(self.last_heard[owner.index()]) >= wait_ns;
        let stuck = stalled_ns >= self.suspect_timeout_ns + wait_ns;
        let duel = self.revocation_seen[owner.index()].is_some_and(|seen| now.since(seen) < wait_ns);
        if (suspected || stuck) && !duel {
            self.start_revocation(owner, blocked_at, out);
        }
    }

    fn handle_catch_up_request(&mut self, from: ProcessId, from_slot: u64, now: Time, out: &mut Outbox<Self>) {
        if from_slot >= self.next_own && from_slot - self.next_own <= MAX_RANGE_SLOTS && self.is_own(from_slot) {
            // The requester is blocked at an own slot not used yet: a
            // higher slot is in use that this process never heard of (its
            // SUGGEST lost, the suggester gone), so Rule 2 applies.
            self.skip_below(from_slot + 1, None, now, out);
        }
        let slots: Vec<(u64, Value)> = self
            .log
            .iter_from(from_slot)
            .filter_map(|(slot, entry)| entry.decided.clone().map(|value| (slot, value)))
            .take(CATCH_UP_BATCH)
            .collect();
        if !slots.is_empty() {
            out.send(from, Message::CatchUp { slots });
        }
    }

    fn note_decided_upto(&mut self, from: ProcessId, decided_upto: u64) {
        let known = &mut self.decided_by[from.index()];
        *known = (*known).max(decided_upto);
        let stable = self.decided_by.iter().copied().min().unwrap_or(0).min(self.decided_upto);
        if stable >= self.log.floor() {
            self.log.discard_up_to(stable);
            let floor = self.log.floor();
            for ranges in &mut self.promised {
                ranges.retain(|r| r.hi > floor);
            }
        }
    }
}

impl Protocol for Mencius {
    type Message = Message;
    type Timer = Timer;
    type Executor = SlotExecutor;
    type Options = Options;

    fn new(setup: ProcessSetup, options: &Options) -> (Self, SlotExecutor) {
        let n = setup.n();
        debug_assert!(Self::check(n, setup.config.f).is_ok());
        debug_assert!(setup.processes.iter().enumerate().all(|(i, p)| p.index() == i));
        let mencius = Mencius {
            id: setup.id,
            processes: setup.processes.clone(),
            gc_interval_ns: setup.config.gc_interval_ns,
            skip_send: options.skip_send,
            heartbeat_ns: options.heartbeat_ns.unwrap_or(DEFAULT_HEARTBEAT_NS),
            suspect_timeout_ns: options.suspect_timeout_ns.unwrap_or(DEFAULT_SUSPECT_TIMEOUT_NS),
            skip_delay_ns: options.skip_delay_ns.unwrap_or(DEFAULT_SKIP_DELAY_NS),
            revoke_ahead: options.revoke_ahead.unwrap_or(DEFAULT_REVOKE_AHEAD).max(1),
            failure_detection: setup.config.failure_detection,
            plant_ignore_promises: options.plant_ignore_promises,
            next_own: setup.id.index() as u64 + 1,
            log: SlotLog::new(),
            promised: vec![Vec::new(); n],
            decided_upto: 0,
            highest_seen: 0,
            pending_skip: None,
            proposals: BTreeMap::new(),
            resuggest: Vec::new(),
            revocation: None,
            max_ballot_seen: 0,
            last_heard: vec![Time::ZERO; n],
            revocation_seen: vec![None; n],
            quiet_until: Time::ZERO,
            known_next_own: 0,
            progress_at: Time::ZERO,
            decided_seq: FixedHashMap::default(),
            decided_by: vec![0; n],
        };
        debug_assert_eq!(mencius.first_owned(mencius.id, 1), mencius.next_own);
        (mencius, SlotExecutor::new())
    }

    fn start(&mut self, _now: Time, out: &mut Outbox<Self>) {
        out.set_timer(Timer::GarbageCollection, self.gc_interval_ns);
        if self.failure_detection {
            out.set_timer(Timer::Tick, self.heartbeat_ns);
        }
    }

    fn submit(&mut self, cmd: Arc<Command>, now: Time, out: &mut Outbox<Self>) {
        self.on_command(cmd, now, out);
    }

    fn handle(&mut self, from: ProcessId, msg: Message, now: Time, out: &mut Outbox<Self>) {
        if from.index() >= self.processes.len() {
            return;
        }
        self.last_heard[from.index()] = now;
        match msg {
            Message::Suggest { slot, cmd, skip } => self.handle_suggest(from, slot, cmd, skip, now, out),
            Message::AcceptAck { slot, skip } => self.handle_accept_ack(from, slot, skip, now, out),
            Message::Skip { range } => self.apply_skip(from, range, now, out),
            Message::Commit { slot, cmd } => {
                if slot > 0 {
                    self.decide(slot, Some(cmd), now, out);
                }
            }
            Message::SuggestNack { slot, revoked_upto } => {
                if self.is_own(slot) && revoked_upto > slot && revoked_upto - slot <= MAX_RANGE_SLOTS {
                    self.skip_below(revoked_upto, None, now, out);
                }
            }
            Message::Prepare { ballot, owner, lo, hi } => self.handle_prepare(from, ballot, owner, lo, hi, now, out),
            Message::Promise { ballot, reports } => self.handle_promise(from, ballot, reports, out),
            Message::RevokeAccept { ballot, owner, lo, hi, values } => {
                self.handle_revoke_accept(from, ballot, owner, lo, hi, values, now, out)
            }
            Message::RevokeAccepted { ballot } => self.handle_revoke_accepted(from, ballot, now, out),
            Message::RevokeCommit { owner, lo, hi, values } => self.decide_range(owner, lo, hi, values, now, out),
            Message::RevokeNack { ballot, promised } => self.handle_revoke_nack(ballot, promised, now),
            Message::Heartbeat { next_own, decided_upto } => {
                self.known_next_own = self.known_next_own.max(next_own.min(self.highest_seen + MAX_RANGE_SLOTS));
                self.highest_seen = self.highest_seen.max(decided_upto.min(self.highest_seen + MAX_RANGE_SLOTS));
                self.note_decided_upto(from, decided_upto);
            }
            Message::GarbageCollection { decided_upto } => self.note_decided_upto(from, decided_upto),
            Message::CatchUpRequest { from_slot } => self.handle_catch_up_request(from, from_slot, now, out),
            Message::CatchUp { slots } => {
                for (slot, value) in slots {
                    if slot > 0 {
                        self.decide(slot, value, now, out);
                    }
                }
            }
        }
        if !self.resuggest.is_empty() {
            self.suggest_again(now, out);
        }
    }

    fn handle_timer(&mut self, timer: Timer, now: Time, out: &mut Outbox<Self>) {
        match timer {
            Timer::GarbageCollection => {
                let decided_upto = self.decided_upto;
                self.note_decided_upto(self.id, decided_upto);
                out.send_to_each(&self.others(), Message::GarbageCollection { decided_upto });
                out.set_timer(Timer::GarbageCollection, self.gc_interval_ns);
            }
            Timer::Tick => self.on_tick(now, out),
            Timer::SkipFlush => {
                if let Some(range) = self.pending_skip.take() {
                    out.send_to_each(&self.others(), Message::Skip { range });
                }
            }
        }
    }
}
