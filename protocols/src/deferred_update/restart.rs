//! Replica restart (deferred-update.md §7.4): state transfer from a peer,
//! then the deliveries after it from the abcast log; local clients are
//! refused until the replica has caught up.
//!
//! What is durable. The abcast's acceptor state (`promised`, `accepted`)
//! and its per-client chosen seqs, as for any Paxos acceptor
//! (`FPaxos::restart_learned_upto`): without them a restarted acceptor
//! could accept a second value for a slot already chosen. The store: the
//! engine keeps a restarted replica's store and client table
//! (`Protocol::restart`), which stand for the store at the position `p`
//! it had delivered when it crashed; the certifier's position, versions
//! (part of the spec's store, §2) and committed txids describe that same
//! store and are kept with it. Everything else is volatile: pending
//! transactions (their clients time out and resubmit elsewhere; a CERTIFY
//! already broadcast is still delivered and decided, §7.1), slots learned
//! above a gap, the abcast's leader and proposer state.
//!
//! Departure from §7.4: the peer does not ship a store snapshot. The
//! restarted replica already holds the snapshot at its own `p` (the kept
//! store), and the engine cannot replace a replica's store without
//! executing commands twice or skipping them in its per-replica record.
//! So STATE carries the peer's position `q` (how far the replica must get
//! before it serves clients) and the abcast's chosen slots from `p + 1`
//! on, which the replica certifies itself: certification is
//! deterministic, so it reaches the peer's store at `q`. Those slots are
//! still in every peer's abcast log: garbage collection keeps every slot
//! some process has not reported learned, and the crashed replica's last
//! report was at most `p`. Slots past `q` arrive as usual (Chosen,
//! catch-up).
//!
//! Refused clients: the engine has no refusal reply, so a submission to a
//! replica still catching up is dropped; the client's timeout moves it to
//! its next-closest replica, which serves it.

use super::{DeferredUpdate, Message, Timer};
use crate::fpaxos;
use sim_core::ProcessId;
use sim_core::Time;
use sim_core::protocol::Outbox;
use sim_core::time::NS_PER_MS;

/// How long a restarted replica waits for a STATE before asking every
/// peer again.
pub const STATE_RETRY_NS: u64 = 500 * NS_PER_MS;

/// A restarted replica's state transfer in progress.
#[derive(Debug, Default)]
pub(super) struct CatchUp {
    /// The highest position a peer reported: the replica serves clients
    /// again once it has delivered this far. `None` until a STATE arrives.
    target: Option<u64>,
}

impl DeferredUpdate {
    /// `Protocol::restart`: keeps what is durable (module doc) and asks
    /// every peer for the state after its position.
    pub(super) fn restart_transferring(&mut self, fresh: DeferredUpdate, now: Time, out: &mut Outbox<Self>) {
        let DeferredUpdate { abcast: fresh_abcast, .. } = fresh;
        let delivered = self.certifier.delivered();
        self.abcast_out = Outbox::new();
        self.abcast.restart_learned_upto(fresh_abcast, delivered, now, &mut self.abcast_out);
        self.certifier.forget_waiting();
        self.pending.clear();
        self.catch_up = Some(CatchUp::default());
        out.recovery_started();
        self.request_state(out);
        self.carry_over(now, out);
    }

    /// True while a restarted replica has not caught up: it serves no
    /// client.
    pub fn catching_up(&self) -> bool {
        self.catch_up.is_some()
    }

    fn others(&self) -> Vec<ProcessId> {
        self.processes.iter().copied().filter(|&p| p != self.id).collect()
    }

    /// STATE_REQ to every peer; the first that answers sets the target.
    fn request_state(&mut self, out: &mut Outbox<Self>) {
        let from_slot = self.certifier.delivered() + 1;
        out.send_to_each(&self.others(), Message::StateRequest { from_slot });
        out.set_timer(Timer::StateRetry, STATE_RETRY_NS);
    }

    /// A peer asks for the state after its position: answered only by a
    /// replica that serves clients itself (one still catching up could
    /// set a target behind what clients have seen).
    pub(super) fn handle_state_request(&mut self, from: ProcessId, from_slot: u64, out: &mut Outbox<Self>) {
        if self.catching_up() || from == self.id {
            return;
        }
        let slots = self.abcast.chosen_from(from_slot);
        out.send(from, Message::State { delivered: self.certifier.delivered(), slots });
    }

    /// A peer's STATE: learn its slots through the abcast (so its learner
    /// and this certifier stay at one position), raise the target, and ask
    /// the same peer for the next batch if still behind. A STATE arriving
    /// after the catch-up ended is stale and ignored.
    pub(super) fn handle_state(
        &mut self,
        from: ProcessId,
        delivered: u64,
        slots: Vec<(u64, fpaxos::Value<super::Certify>)>,
        now: Time,
        out: &mut Outbox<Self>,
    ) {
        let Some(catch_up) = &mut self.catch_up else { return };
        catch_up.target = Some(catch_up.target.map_or(delivered, |target| target.max(delivered)));
        let before = self.certifier.delivered();
        self.abcast.learn(slots, &mut self.abcast_out);
        self.carry_over(now, out);
        // A full batch moved it on: more may follow. (One that did not,
        // a peer missing the next slot, is left to `StateRetry`.)
        if self.catching_up() && self.certifier.delivered() > before {
            out.send(from, Message::StateRequest { from_slot: self.certifier.delivered() + 1 });
        }
    }

    /// After every delivery: a replica catching up that reached its
    /// target serves clients again.
    pub(super) fn check_caught_up(&mut self, out: &mut Outbox<Self>) {
        let reached = self.catch_up.as_ref().and_then(|c| c.target).is_some_and(|t| self.certifier.delivered() >= t);
        if reached {
            self.catch_up = None;
            out.cancel_timer(Timer::StateRetry);
            out.recovery_finished();
        }
    }

    /// No STATE (or not enough) yet: ask every peer again.
    pub(super) fn on_state_retry(&mut self, out: &mut Outbox<Self>) {
        if self.catching_up() {
            self.request_state(out);
        }
    }
}
