//! Delivery in abcast order and deterministic certification
//! (deferred-update.md §2, §4 steps 4–5), identical at every replica.
//!
//! Versions only are kept here: the values live in the engine's store,
//! which the executor updates with each committed writeset, in the same
//! order. A version is the abcast slot of the key's last committed
//! writer; a no-op slot (filled by a new abcast leader) counts as a
//! delivery that changes nothing.

use super::messages::{Certify, ReadSet};
use crate::shared::slot_log::SlotLog;
use sim_core::command::{Key, is_single_use};
use sim_core::{ClientId, Command, CommandId, FixedHashMap, Op};
use std::sync::Arc;

/// A delivered certification request's fate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Every read is still current: the writeset is applied.
    Commit,
    /// A transaction delivered after the snapshot wrote a key it read.
    Abort,
    /// Its txid committed before (a retry or a re-forwarded copy): skipped
    /// before certification, with no verdict change (§7.3).
    Duplicate,
}

/// One delivery, in abcast order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Delivery {
    /// Its position (the abcast slot).
    pub pos: u64,
    /// The request.
    pub certify: Arc<Certify>,
    /// Its fate, the same at every replica.
    pub verdict: Verdict,
}

/// A replica's delivery and certification state.
#[derive(Debug)]
pub struct Certifier {
    /// Deliveries processed (the snapshot counter): every slot up to it.
    delivered: u64,
    /// Per key, the version (see the module doc); absent means 0.
    versions: FixedHashMap<Key, u64>,
    /// Per client, the highest seq committed. Clients are closed-loop (a
    /// client submits seq s + 1 only once s committed), so every lower seq
    /// committed too: this is the spec's `outcome` table for commits.
    committed_seq: FixedHashMap<ClientId, u64>,
    /// Slots learned above a gap, waiting for it.
    waiting: SlotLog<Option<Arc<Certify>>>,
}

impl Default for Certifier {
    fn default() -> Self {
        Certifier {
            delivered: 0,
            versions: FixedHashMap::default(),
            committed_seq: FixedHashMap::default(),
            waiting: SlotLog::new(),
        }
    }
}

impl Certifier {
    /// Nothing delivered yet.
    pub fn new() -> Certifier {
        Certifier::default()
    }

    /// Deliveries processed: a transaction executed now has this snapshot.
    pub fn delivered(&self) -> u64 {
        self.delivered
    }

    /// After a restart: forgets the slots learned above a gap (not
    /// durable; learned again). The position, versions and committed
    /// txids stay: they describe the store the engine kept, as the
    /// versions are part of the spec's store (§2 `store[key] = (value,
    /// version)`) and the committed txids go with its client table.
    pub fn forget_waiting(&mut self) {
        self.waiting = SlotLog::new();
        self.waiting.discard_up_to(self.delivered);
    }

    /// The version of `key`.
    pub fn version(&self, key: Key) -> u64 {
        self.versions.get(&key).copied().unwrap_or(0)
    }

    /// True if transaction `id` committed (in what was delivered here).
    pub fn committed(&self, id: CommandId) -> bool {
        self.committed_seq.get(&id.client).is_some_and(|&seq| id.seq <= seq)
    }

    /// §4 step 1: what executing `cmd` now reads (each key with its
    /// version).
    pub fn read_set(&self, cmd: &Command) -> ReadSet {
        cmd.keys().filter(|&key| !is_single_use(key)).map(|key| (key, self.version(key))).collect()
    }

    /// The abcast chose `value` (a request, or a no-op) for `slot`: the
    /// deliveries this makes possible, in order (none while a lower slot
    /// is missing; a slot learned twice is ignored).
    pub fn chosen(&mut self, slot: u64, value: Option<Arc<Certify>>) -> Vec<Delivery> {
        let mut deliveries = Vec::new();
        if slot <= self.delivered {
            return deliveries;
        }
        // Slots below `delivered` were discarded: an insert cannot be refused.
        let _ = self.waiting.insert(slot, value);
        while let Some(value) = self.waiting.remove(self.delivered + 1) {
            self.delivered += 1;
            self.waiting.discard_up_to(self.delivered);
            if let Some(certify) = value {
                let verdict = self.certify(self.delivered, &certify);
                deliveries.push(Delivery { pos: self.delivered, certify, verdict });
            }
        }
        deliveries
    }

    /// §4 steps 4–5 (READ_WRITE) for the request delivered at `pos`.
    fn certify(&mut self, pos: u64, certify: &Certify) -> Verdict {
        let id = certify.cmd.id;
        if self.committed(id) {
            return Verdict::Duplicate;
        }
        // An ordered request's readset is empty: it reads at `pos`.
        debug_assert!(!certify.ordered || certify.readset.is_empty());
        if certify.readset.iter().any(|&(key, version)| self.version(key) != version) {
            return Verdict::Abort;
        }
        for &(key, op) in &certify.cmd.ops {
            if matches!(op, Op::Put(_)) && !is_single_use(key) {
                self.versions.insert(key, pos);
            }
        }
        let seq = self.committed_seq.entry(id.client).or_insert(0);
        *seq = (*seq).max(id.seq);
        Verdict::Commit
    }
}
