//! Batching (vr.md §12): the primary buffers requests until it holds
//! `batch_max` of them or the first waited `batch_delay`, then appends
//! them together and sends one PREPARE with consecutive op numbers;
//! backups answer it with one cumulative PREPARE_OK.
//!
//! Buffered requests are not in the log and have no op number yet, so a
//! view change simply drops them: they are in no DVC, and the processes
//! of their clients re-forward them to the new primary (as for any
//! pending request). Duplicates of a buffered request are dropped like
//! duplicates of a logged one (the primary's per-client table is updated
//! when the request is buffered).

use super::{Entry, Message, Status, Timer, View, Vr};
use sim_core::Time;
use sim_core::protocol::Outbox;
use sim_core::time::NS_PER_MS;

/// `BATCH_MAX` (vr.md §12): 1, batching off.
pub const DEFAULT_BATCH_MAX: usize = 1;
/// `BATCH_DELAY` (vr.md §12): 5 ms.
pub const DEFAULT_BATCH_DELAY_MS: u64 = 5;

/// The primary's batch being filled.
#[derive(Debug)]
pub(super) struct Batch {
    /// Requests per PREPARE (1: batching off).
    pub(super) max: usize,
    /// How long the first buffered request may wait.
    pub(super) delay_ns: u64,
    /// Buffered requests with when they reached the primary.
    buffer: Vec<(Entry, Time)>,
    /// The view the buffer was filled in.
    view: View,
}

impl Batch {
    pub(super) fn new(max: Option<usize>, delay_ms: Option<u64>) -> Batch {
        Batch {
            max: max.unwrap_or(DEFAULT_BATCH_MAX).max(1),
            delay_ns: delay_ms.unwrap_or(DEFAULT_BATCH_DELAY_MS) * NS_PER_MS,
            buffer: Vec::new(),
            view: 0,
        }
    }

    /// Whether requests are batched at all.
    pub(super) fn enabled(&self) -> bool {
        self.max > 1
    }
}

impl Vr {
    /// At the primary (§12): buffers `entry`, flushing the batch once full.
    pub(super) fn buffer_request(&mut self, entry: Entry, now: Time, out: &mut Outbox<Self>) {
        if self.batch.buffer.is_empty() {
            self.batch.view = self.view;
            out.set_timer(Timer::Batch, self.batch.delay_ns);
        }
        self.batch.buffer.push((entry, now));
        if self.batch.buffer.len() >= self.batch.max {
            out.cancel_timer(Timer::Batch);
            self.flush_batch(now, out);
        }
    }

    /// Appends the buffered requests and sends them in one PREPARE; drops
    /// them if this replica is no longer the Normal primary of the view
    /// they were buffered in (their clients' processes re-forward them).
    pub(super) fn flush_batch(&mut self, now: Time, out: &mut Outbox<Self>) {
        let buffer = std::mem::take(&mut self.batch.buffer);
        if buffer.is_empty() || self.status != Status::Normal || !self.is_primary() || self.batch.view != self.view {
            return;
        }
        let first_op = self.log.last() + 1;
        let mut entries = Vec::with_capacity(buffer.len());
        for (entry, arrived) in buffer {
            let op = self.log.push(entry.clone());
            self.appended_at.push_back((op, arrived));
            entries.push(entry);
        }
        let (commit, stable, sent_at) = (self.commit, self.stable_floor(), out.clock(now));
        let msg = Message::PrepareBatch { view: self.view, first_op, entries, commit, stable, sent_at };
        out.send_to_each(&self.prepare_targets(), msg);
        self.last_broadcast_at = now;
    }

    /// §4 step 4 for a batch: appends the entries that follow the log,
    /// buffers those beyond a hole, and acknowledges once, cumulatively.
    pub(super) fn handle_prepare_batch(
        &mut self,
        from: sim_core::ProcessId,
        view: View,
        first_op: u64,
        entries: Vec<Entry>,
        out: &mut Outbox<Self>,
    ) {
        if self.is_witness() {
            return; // not promoted yet: the promotion brings the log
        }
        for (op, entry) in (first_op..).zip(entries) {
            if op == self.log.last() + 1 {
                self.log.push(entry);
            } else if op > self.log.last() + 1 {
                self.ahead.insert(op, entry); // reordered: wait for the hole to fill
            }
        }
        self.append_ahead();
        if !self.ahead.is_empty() {
            self.arm_state_transfer(out);
        }
        self.execute_committed(out);
        out.send(from, self.prepare_ok(view));
    }
}
