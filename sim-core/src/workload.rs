//! Workloads: which keys a client's commands touch, reads versus writes,
//! and payload sizes.

use crate::command::{Command, CommandId, Key, Op, Ops};
use crate::rng::ClientRng;
use rand::RngExt;
use rand_distr::{Distribution, Zipf};

/// How a command's keys are chosen.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum KeyDistribution {
    /// With probability `conflict_rate` a key is drawn uniformly from a pool
    /// of `hot_keys` shared keys; otherwise it is a fresh key no other
    /// command uses (the Atlas and Tempo papers' "conflict rate").
    ConflictPool {
        /// Probability in [0, 1] that a key is a shared hot key.
        conflict_rate: f64,
        /// Size of the shared pool (at least 1).
        hot_keys: u64,
    },
    /// Keys drawn from `0..key_space` with Zipf exponent `exponent`.
    Zipf {
        /// Skew: 0 is uniform, larger is more skewed.
        exponent: f64,
        /// Number of distinct keys.
        key_space: u64,
    },
}

/// A workload description.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Workload {
    /// How keys are chosen.
    pub keys: KeyDistribution,
    /// Distinct keys per command (at least 1).
    pub keys_per_command: usize,
    /// Probability in [0, 1] that a command is read-only (all gets);
    /// otherwise it writes every key it touches.
    pub read_ratio: f64,
    /// Payload bytes a write carries.
    pub payload_bytes: u32,
}

impl Default for Workload {
    fn default() -> Self {
        Workload {
            keys: KeyDistribution::ConflictPool { conflict_rate: 0.02, hot_keys: 1 },
            keys_per_command: 1,
            read_ratio: 0.0,
            payload_bytes: 100,
        }
    }
}

/// Fresh keys are single-use and live far above any shared key space:
/// client `c`'s `i`-th fresh key is `SINGLE_USE_KEY_BASE + c * 2^32 + i`.
const FRESH_KEY_BASE: Key = crate::command::SINGLE_USE_KEY_BASE;

/// Generates commands for clients; one per run, shared by every client,
/// each client drawing from its own random stream.
#[derive(Clone, Debug)]
pub struct CommandGenerator {
    workload: Workload,
    zipf: Option<Zipf<f64>>,
}

/// The per-client part of key generation.
#[derive(Clone, Debug, Default)]
pub struct ClientKeyState {
    fresh_keys_used: u64,
}

impl CommandGenerator {
    /// A generator for `workload`, which must already be validated (see
    /// [`crate::config::RunConfig::check`]).
    pub fn new(workload: Workload) -> CommandGenerator {
        let zipf = match workload.keys {
            KeyDistribution::Zipf { exponent, key_space } => {
                Some(Zipf::new(key_space as f64, exponent).expect("validated zipf parameters"))
            }
            KeyDistribution::ConflictPool { .. } => None,
        };
        CommandGenerator { workload, zipf }
    }

    /// The next command of a client.
    pub fn next_command(&self, id: CommandId, state: &mut ClientKeyState, rng: &mut ClientRng) -> Command {
        let read_only = self.workload.read_ratio > 0.0 && rng.random_bool(self.workload.read_ratio);
        let mut ops = Ops::with_capacity(self.workload.keys_per_command);
        let value = Command::unique_value(id);
        while ops.len() < self.workload.keys_per_command {
            let key = self.draw_key(id, state, rng);
            if ops.iter().any(|&(existing, _)| existing == key) {
                continue; // keys of one command are distinct; validated pools are large enough
            }
            ops.push((key, if read_only { Op::Get } else { Op::Put(value) }));
        }
        let payload_bytes = if read_only { 0 } else { self.workload.payload_bytes };
        Command { id, ops, payload_bytes }
    }

    fn draw_key(&self, id: CommandId, state: &mut ClientKeyState, rng: &mut ClientRng) -> Key {
        match self.workload.keys {
            KeyDistribution::ConflictPool { conflict_rate, hot_keys } => {
                if conflict_rate > 0.0 && rng.random_bool(conflict_rate) {
                    rng.random_range(0..hot_keys)
                } else {
                    state.fresh_keys_used += 1;
                    FRESH_KEY_BASE + (u64::from(id.client.0) << 32) + state.fresh_keys_used
                }
            }
            KeyDistribution::Zipf { .. } => {
                let zipf = self.zipf.as_ref().expect("built with the workload");
                // Zipf samples ranks 1..=key_space as floats holding integers.
                zipf.sample(rng) as Key - 1
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::id::ClientId;
    use crate::rng::RngStreams;

    fn commands(workload: Workload, count: u64) -> Vec<Command> {
        let generator = CommandGenerator::new(workload);
        let mut rng = RngStreams::new(5).client_stream(0);
        let mut state = ClientKeyState::default();
        (1..=count)
            .map(|seq| generator.next_command(CommandId { client: ClientId(3), seq }, &mut state, &mut rng))
            .collect()
    }

    #[test]
    fn conflict_rate_sets_the_share_of_hot_keys() {
        let keys = KeyDistribution::ConflictPool { conflict_rate: 0.1, hot_keys: 1 };
        let cmds = commands(Workload { keys, ..Workload::default() }, 10_000);
        let hot = cmds.iter().filter(|c| c.ops[0].0 == 0).count();
        assert!((800..1200).contains(&hot), "{hot} hot of 10000");
        let zero = KeyDistribution::ConflictPool { conflict_rate: 0.0, hot_keys: 1 };
        let cmds = commands(Workload { keys: zero, ..Workload::default() }, 1_000);
        let mut keys: Vec<Key> = cmds.iter().map(|c| c.ops[0].0).collect();
        keys.sort_unstable();
        keys.dedup();
        assert_eq!(keys.len(), 1_000, "no conflicts at rate 0");
    }

    #[test]
    fn read_ratio_keys_per_command_and_payload() {
        let keys = KeyDistribution::ConflictPool { conflict_rate: 1.0, hot_keys: 4 };
        let workload = Workload { keys, keys_per_command: 3, read_ratio: 0.5, payload_bytes: 4096 };
        let cmds = commands(workload, 2_000);
        let reads = cmds.iter().filter(|c| c.is_read_only()).count();
        assert!((900..1100).contains(&reads), "{reads} reads");
        for cmd in &cmds {
            assert_eq!(cmd.ops.len(), 3);
            assert!(cmd.keys().all(|k| k < 4));
            assert_eq!(cmd.payload_bytes, if cmd.is_read_only() { 0 } else { 4096 });
        }
    }

    #[test]
    fn zipf_skews_towards_low_keys() {
        let keys = KeyDistribution::Zipf { exponent: 1.0, key_space: 1_000 };
        let cmds = commands(Workload { keys, ..Workload::default() }, 10_000);
        assert!(cmds.iter().all(|c| c.ops[0].0 < 1_000));
        let key0 = cmds.iter().filter(|c| c.ops[0].0 == 0).count();
        let key500 = cmds.iter().filter(|c| c.ops[0].0 == 500).count();
        assert!(key0 > 20 * key500.max(1), "key 0: {key0}, key 500: {key500}");
    }
}
