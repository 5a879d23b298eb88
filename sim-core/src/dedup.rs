//! At-most-once execution for retried commands: the replicated state
//! machine's per-client table (as in Viewstamped Replication and Raft).
//!
//! A client that times out resubmits the same command (same
//! [`CommandId`]) elsewhere, so a protocol may order it twice. Each
//! replica remembers which of each client's sequence numbers it applied
//! and the results of the latest one: a command applied before is not
//! applied again, and its client, if it is still waiting, gets the stored
//! results. A set per client (a contiguous prefix plus the rare numbers
//! beyond a gap), not just the highest number, because replicas of a
//! leaderless protocol may apply one client's non-conflicting commands in
//! different orders. Only runs with faults keep the table (without
//! retries, no command is ever submitted twice).

use crate::command::CommandId;
use crate::kv::OpResults;
use std::collections::BTreeSet;

#[derive(Clone, Debug, Default)]
struct ClientEntry {
    /// Seqs `1..=applied_upto` were applied.
    applied_upto: u64,
    /// Seqs applied beyond a gap.
    beyond: BTreeSet<u64>,
    /// The highest seq applied and its results.
    last_seq: u64,
    last_results: OpResults,
}

/// One replica's table of what each client's commands did.
#[derive(Clone, Debug, Default)]
pub struct ClientTable {
    clients: Vec<ClientEntry>,
}

impl ClientTable {
    /// A table for `clients` clients.
    pub fn new(clients: usize) -> ClientTable {
        ClientTable { clients: vec![ClientEntry::default(); clients] }
    }

    fn entry(&mut self, id: CommandId) -> &mut ClientEntry {
        let index = id.client.index();
        if index >= self.clients.len() {
            self.clients.resize(index + 1, ClientEntry::default());
        }
        &mut self.clients[index]
    }

    /// True if `id` was applied here before.
    pub fn applied(&mut self, id: CommandId) -> bool {
        let entry = self.entry(id);
        id.seq <= entry.applied_upto || entry.beyond.contains(&id.seq)
    }

    /// Records that `id` was applied with `results`.
    pub fn record(&mut self, id: CommandId, results: &OpResults) {
        let entry = self.entry(id);
        if id.seq == entry.applied_upto + 1 {
            entry.applied_upto += 1;
            while entry.beyond.remove(&(entry.applied_upto + 1)) {
                entry.applied_upto += 1;
            }
        } else {
            entry.beyond.insert(id.seq);
        }
        if id.seq > entry.last_seq {
            entry.last_seq = id.seq;
            entry.last_results.clone_from(results);
        }
    }

    /// The results to answer a resubmitted `id` with: those stored, if it
    /// was applied here and is its client's latest.
    pub fn answer(&mut self, id: CommandId) -> Option<&OpResults> {
        if self.applied(id) { self.results(id) } else { None }
    }

    /// The stored results of `id`, if it is its client's latest applied
    /// command (the only one its client may still be waiting for).
    pub fn results(&mut self, id: CommandId) -> Option<&OpResults> {
        let entry = self.entry(id);
        (entry.last_seq == id.seq).then_some(&entry.last_results)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::id::ClientId;

    fn id(client: u32, seq: u64) -> CommandId {
        CommandId { client: ClientId(client), seq }
    }

    #[test]
    fn remembers_applied_commands_out_of_order() {
        let mut table = ClientTable::new(1);
        let results: OpResults = [Some(5)].into_iter().collect();
        assert!(!table.applied(id(0, 2)));
        table.record(id(0, 2), &results);
        assert!(table.applied(id(0, 2)) && !table.applied(id(0, 1)));
        table.record(id(0, 1), &OpResults::new());
        assert!(table.applied(id(0, 1)));
        assert_eq!(table.results(id(0, 2)), Some(&results), "the latest keeps its results");
        assert_eq!(table.results(id(0, 1)), None);
        assert!(!table.applied(id(3, 1)), "an unknown client grows the table");
    }
}
