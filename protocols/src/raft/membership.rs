//! Membership changes (raft.md §10, optional): single-server changes, one
//! at a time; a configuration entry takes effect as soon as it is
//! appended, and the next change may start only after it commits.
//!
//! The engine runs a fixed process per site and has no admin client, so
//! (as VR's reconfiguration, `vr/epochs.rs`) the changes are a static plan
//! in the options: the initial configuration (`initial_members`) and a list
//! of single-server changes (`membership_changes`, each
//! `{ at_ms, add }` or `{ at_ms, remove }`), in order.
//!
//! * A configuration is a log entry ([`Configuration`]: the member set and
//!   its step in the plan). Every server uses the latest configuration in
//!   its log, committed or not; truncating the entry reverts to the one
//!   before (Ongaro's thesis §4.1). Quorums (commit, votes, CheckQuorum,
//!   ReadIndex rounds) count members of that configuration only.
//! * Catch-up: every process outside the configuration is a *learner*.
//!   The leader replicates its log to every process, so a server about to
//!   be added has followed the log all along and joins caught up (no
//!   separate catch-up rounds before the change, thesis §4.2.1); its
//!   clients are answered by its own executor, which is the only way the
//!   engine completes a command. Learners vote when asked (voting is
//!   harmless, thesis §4.1) but never start an election, and their votes
//!   and acknowledgements count only once they are members. One
//!   exception (thesis §4.2.2): a server that an uncommitted
//!   configuration removes still campaigns, since it may be needed to
//!   commit it ([`Raft::may_campaign`]).
//! * The admin's request is the leader's own: on its tick, once a change
//!   is due, the latest configuration in its log has committed and an
//!   entry of its own term has committed (Ongaro's 2015 correction to
//!   single-server changes: otherwise two leaders' uncommitted changes
//!   can form disjoint majorities), it appends the next configuration. A
//!   leader whose log lost an uncommitted change appends it again.
//! * A leader that removes itself keeps leading (without counting itself)
//!   until the entry commits, then steps down (thesis §4.2.2); as a
//!   learner it never campaigns again once it knows the entry committed.

use super::{Entry, Raft, Role};
use crate::shared::quorum;
use sim_core::protocol::Outbox;
use sim_core::time::NS_PER_MS;
use sim_core::{ProcessId, Time};
use std::sync::Arc;

/// One single-server change of the plan: at `at_ms` the leader appends a
/// configuration that adds or removes one process (0-based index).
#[derive(Clone, Debug, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MembershipChange {
    /// When the change is due (the leader appends it on its next tick
    /// after this, once the previous change has committed).
    pub at_ms: u64,
    /// The process joining the configuration.
    #[serde(default)]
    pub add: Option<usize>,
    /// The process leaving the configuration.
    #[serde(default)]
    pub remove: Option<usize>,
}

/// A configuration entry's content.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Configuration {
    /// How many changes of the plan it includes (0: the initial one).
    pub step: u32,
    /// The members, a bit per process index.
    pub members: u64,
}

/// The configurations the plan goes through.
#[derive(Debug)]
struct Plan {
    initial: u64,
    /// Change `j` (0-based): when it is due and the members after it.
    changes: Vec<(Time, u64)>,
}

/// A server's view of the membership: the plan, and the configurations
/// its log holds (durable with the log).
#[derive(Clone, Debug)]
pub(super) struct Membership {
    plan: Arc<Plan>,
    /// The latest configuration at or below the log's base (committed).
    base: Configuration,
    /// Configuration entries above the base, in index order.
    entries: Vec<(u64, Configuration)>,
}

fn mask(set: &[usize]) -> u64 {
    set.iter().fold(0, |m, &i| m | 1 << i)
}

fn names(members: u64) -> Vec<usize> {
    (0..64).filter(|&i| members & (1 << i) != 0).collect()
}

impl Membership {
    /// The plan from the options, for `n` processes (checked by
    /// [`check_options`]; out-of-range indices are dropped, not trusted).
    pub(super) fn new(options: &super::Options, n: usize) -> Membership {
        let all = if n >= 64 { u64::MAX } else { (1u64 << n) - 1 };
        let initial = options.initial_members.as_deref().map_or(all, mask) & all;
        let mut members = initial;
        let changes = options
            .membership_changes
            .iter()
            .map(|change| {
                if let Some(p) = change.add.filter(|&p| p < n) {
                    members |= 1 << p;
                }
                if let Some(p) = change.remove.filter(|&p| p < n) {
                    members &= !(1 << p);
                }
                (Time::from_ns(change.at_ms * NS_PER_MS), members)
            })
            .collect();
        let plan = Arc::new(Plan { initial, changes });
        Membership { plan, base: Configuration { step: 0, members: initial }, entries: Vec::new() }
    }

    /// The configuration in force: the latest in the log.
    pub(super) fn current(&self) -> Configuration {
        self.entries.last().map_or(self.base, |&(_, c)| c)
    }

    /// The initial configuration's members.
    pub(super) fn initial(&self) -> u64 {
        self.plan.initial
    }
}

/// Checks Raft's membership options against `n` processes and `f`: known
/// indices, no duplicates, each change adds a non-member or removes a
/// member, changes in time order, and every configuration the plan goes
/// through tolerates `f` crashes (at least `2f + 1` members).
pub fn check_options(options: &super::Options, n: usize, f: usize) -> Result<(), String> {
    let known = |what: &str, p: usize| {
        if p >= n {
            Err(format!("raft.{what}: process index {p} is unknown; the run has processes 0..={}", n - 1))
        } else {
            Ok(())
        }
    };
    let tolerates = |what: &str, members: u64| {
        let size = members.count_ones() as usize;
        if size < 2 * f + 1 {
            Err(format!(
                "raft.{what}: the configuration {:?} has {size} member(s), but f = {f} needs at least {}",
                names(members),
                2 * f + 1
            ))
        } else {
            Ok(())
        }
    };
    let mut members = if n >= 64 { u64::MAX } else { (1u64 << n) - 1 };
    if let Some(initial) = &options.initial_members {
        for &p in initial {
            known("initial_members", p)?;
        }
        members = mask(initial);
        if members.count_ones() as usize != initial.len() {
            return Err(format!("raft.initial_members: {initial:?} names a process twice"));
        }
        tolerates("initial_members", members)?;
    }
    if !options.membership_changes.is_empty() && options.reads == super::ReadMode::Lease {
        // Leases rest on leader stickiness among the members of one
        // configuration; across changes that argument is not made here.
        return Err("raft.reads = \"lease\" cannot be combined with raft.membership_changes yet".into());
    }
    let mut last_at = 0;
    for (i, change) in options.membership_changes.iter().enumerate() {
        let what = format!("membership_changes[{i}]");
        if change.at_ms < last_at {
            return Err(format!("raft.{what}: at_ms = {} is before the previous change's {last_at}", change.at_ms));
        }
        last_at = change.at_ms;
        match (change.add, change.remove) {
            (Some(p), None) => {
                known(&what, p)?;
                if members & (1 << p) != 0 {
                    return Err(format!("raft.{what}: adds process {p}, already a member of {:?}", names(members)));
                }
                members |= 1 << p;
            }
            (None, Some(p)) => {
                known(&what, p)?;
                if members & (1 << p) == 0 {
                    return Err(format!("raft.{what}: removes process {p}, not a member of {:?}", names(members)));
                }
                members &= !(1 << p);
            }
            _ => {
                return Err(format!(
                    "raft.{what}: a change adds or removes exactly one process, e.g. {{ at_ms = 2000, add = 3 }}"
                ));
            }
        }
        tolerates(&what, members)?;
    }
    Ok(())
}

impl Raft {
    /// The members of the configuration in force, a bit per process.
    pub(super) fn members(&self) -> u64 {
        self.membership.current().members
    }

    /// True if this server is a member of its configuration in force.
    pub(super) fn is_member(&self) -> bool {
        self.members() & (1 << self.id.index()) != 0
    }

    /// True if this server may start an election: a member, or (thesis
    /// §4.2.2) a server that the latest configuration, not known to be
    /// committed, removes, since it may still be needed to commit it. A
    /// server removed before it learned the commit (a leader that lost its
    /// quorum to CheckQuorum, say) may hold the only log with that entry;
    /// its votes are refused to candidates with shorter logs, so without
    /// this no election could finish (the swarm found it). Its own vote
    /// counts only where it is a member ([`Raft::is_quorum`]).
    pub(super) fn may_campaign(&self) -> bool {
        let me = 1 << self.id.index();
        if self.is_member() {
            return true;
        }
        let entries = &self.membership.entries;
        match entries.last() {
            Some(&(index, _)) if index > self.commit_index => {
                let previous = entries.len().checked_sub(2).map_or(self.membership.base, |i| entries[i].1);
                previous.members & me != 0
            }
            _ => false,
        }
    }

    /// The configuration in force, as process ids.
    pub fn configuration(&self) -> Vec<ProcessId> {
        let members = self.members();
        self.processes.iter().copied().filter(|p| members & (1 << p.index()) != 0).collect()
    }

    /// The plan step of the configuration in force (0: the initial one).
    pub fn configuration_step(&self) -> u32 {
        self.membership.current().step
    }

    /// A majority of the configuration in force.
    pub(super) fn majority(&self) -> usize {
        quorum::majority(self.members().count_ones() as usize)
    }

    /// True if the servers in `set` (a bit per process) include a majority
    /// of the configuration in force.
    pub(super) fn is_quorum(&self, set: u64) -> bool {
        let members = self.members();
        members != 0 && (set & members).count_ones() as usize >= self.majority()
    }

    /// The largest value a majority of the members reach, `value(i)` per
    /// member index (the leader's own included if it is a member); `None`
    /// for an empty configuration.
    pub(super) fn majority_value(&mut self, value: impl Fn(&Raft, usize) -> u64) -> Option<u64> {
        let members = self.members();
        let mut scratch = std::mem::take(&mut self.scratch);
        scratch.clear();
        scratch.extend((0..self.processes.len()).filter(|&i| members & (1 << i) != 0).map(|i| value(self, i)));
        let q = self.majority();
        let result = (scratch.len() >= q).then(|| *scratch.select_nth_unstable_by(q - 1, |a, b| b.cmp(a)).1);
        self.scratch = scratch;
        result
    }

    /// Appends `entry` to the log; a configuration takes effect at once.
    pub(super) fn push_entry(&mut self, entry: Entry) -> u64 {
        let config = entry.config;
        let index = self.log.push(entry);
        if let Some(config) = config {
            self.membership.entries.push((index, config));
        }
        index
    }

    /// Drops the log after `index`; its configurations are reverted.
    pub(super) fn truncate_log_after(&mut self, index: u64) {
        self.log.truncate_after(index);
        self.membership.entries.retain(|&(i, _)| i <= index);
    }

    /// Discards the (committed) log through `index`, keeping its latest
    /// configuration as the base.
    pub(super) fn discard_log_through(&mut self, index: u64) {
        self.log.discard_through(index);
        let discarded = self.membership.entries.iter().take_while(|&&(i, _)| i <= index).count();
        if let Some(&(_, config)) = self.membership.entries[..discarded].last() {
            self.membership.base = config;
        }
        self.membership.entries.drain(..discarded);
    }

    /// True if the configuration in force has committed.
    fn configuration_committed(&self) -> bool {
        self.membership.entries.last().is_none_or(|&(i, _)| i <= self.commit_index)
    }

    /// The leader starts the plan's next change (on its tick) when it is
    /// due, the previous one committed and an entry of its term committed.
    pub(super) fn change_membership(&mut self, now: Time, out: &mut Outbox<Self>) {
        if self.role != Role::Leader || !self.is_member() || !self.configuration_committed() {
            return;
        }
        // The bootstrapped leader of term 1 had no predecessor.
        if self.current_term != 1 && self.term_at(self.commit_index) != self.current_term {
            return;
        }
        let step = self.membership.current().step;
        let Some(&(at, members)) = self.membership.plan.changes.get(step as usize) else { return };
        if now < at {
            return;
        }
        let config = Configuration { step: step + 1, members };
        self.push_entry(Entry { term: self.current_term, cmd: None, origin: self.id, config: Some(config) });
        self.broadcast_append(now, out);
    }

    /// A leader outside its configuration steps down once that
    /// configuration committed (thesis §4.2.2); it stays a learner. The
    /// members elect a leader after their election timeout (no
    /// TimeoutNow hand-over: the spec does not have it).
    pub(super) fn step_down_if_removed(&mut self, now: Time, out: &mut Outbox<Self>) {
        if self.role == Role::Leader && !self.is_member() && self.configuration_committed() {
            self.step_down(now, out);
        }
    }
}
