//! The scenario file as written (TOML), before validation.
//!
//! Every table rejects unknown keys. Fields that may be sweep axes (a
//! value or a list of values) are kept as raw spanned TOML values and
//! typed by `validate`, so a wrong type is reported at its own position
//! with what would be valid; fields whose values are checked against
//! something else (regions, protocols, f) keep their span for the same
//! reason.

use super::faults::{FaultEntry, RandomFaultsSection};
use crate::cli::{BaseArg, IntraArg};
use crate::resources::ResourcesSection;
use protocols::ProtocolOptions;
use serde::Deserialize;
use toml::Spanned;

/// A whole scenario file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScenarioFile {
    /// Built-in RTT matrix (`gcp`, `aws`); default `gcp`.
    pub cloud: Option<Spanned<String>>,
    /// A matrix file, relative to the scenario file; replaces `cloud`.
    pub matrix: Option<Spanned<String>>,
    /// One placement (a list of region names) or several (a list of lists).
    pub sites: Option<Spanned<toml::Value>>,
    /// Protocol names: one or a list (an axis).
    pub protocols: Spanned<toml::Value>,
    /// Failures tolerated: one or a list (an axis).
    pub f: Option<Spanned<toml::Value>>,
    /// Initial leader (region name or process id) for leader protocols.
    pub leader: Option<Spanned<String>>,
    /// Regions hosting clients; default every site.
    pub client_regions: Option<Vec<Spanned<String>>>,
    /// Clients in each client region: one or a list (an axis).
    pub clients_per_region: Option<Spanned<toml::Value>>,
    /// Open loop: Poisson arrivals per second in each client region (the
    /// clients are then the region's connections): one or a list (an
    /// axis). Needs `duration_s`. Default: closed-loop clients.
    pub arrival_rate_per_region: Option<Spanned<toml::Value>>,
    /// Commands each client issues.
    pub commands_per_client: Option<u64>,
    /// Run for this many simulated seconds instead of commands per client.
    pub duration_s: Option<Spanned<f64>>,
    /// With `duration_s`: commands submitted before this many seconds are
    /// not measured.
    pub warmup_s: Option<Spanned<f64>>,
    /// Root seeds: one or a list; every point runs with each.
    pub seeds: Option<Spanned<toml::Value>>,
    /// Simulated-time limit of each run, in seconds.
    pub max_time_s: Option<u64>,
    /// Order and linearizability checks (default on).
    pub checks: Option<bool>,
    /// The commands.
    #[serde(default)]
    pub workload: WorkloadSection,
    /// The delay model.
    #[serde(default)]
    pub delay: DelaySection,
    /// Per-protocol options, e.g. `[options.tempo]`.
    #[serde(default)]
    pub options: ProtocolOptions,
    /// The CPU and NIC model (off unless `enabled = true`).
    #[serde(default)]
    pub resources: ResourcesSection,
    /// Timed faults (`[[faults]]`, see [`super::faults`]).
    #[serde(default)]
    pub faults: Vec<FaultEntry>,
    /// Faults drawn from each run's seed.
    pub random_faults: Option<RandomFaultsSection>,
    /// `[false, true]`: run every point without the faults and with them
    /// (an axis); default: with them only.
    pub with_faults: Option<Spanned<toml::Value>>,
    /// With `with_faults = [false, true]`: the `clients_per_region` loads
    /// that also run with the faults (default: all). A comparison wants
    /// failure-free runs up to saturation but the crash at one load.
    pub with_faults_clients_per_region: Option<Spanned<toml::Value>>,
    /// In runs with faults: seconds a client waits before resubmitting
    /// elsewhere (default 2).
    pub client_timeout_s: Option<Spanned<f64>>,
    /// In runs with faults: width of the latency timeline's windows, in
    /// milliseconds (default 100).
    pub timeline_window_ms: Option<Spanned<f64>>,
}

/// `[workload]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkloadSection {
    /// Percentage of commands on the hot-key pool: one or a list (an axis).
    pub conflict_percent: Option<Spanned<toml::Value>>,
    /// Size of the hot-key pool.
    pub hot_keys: Option<u64>,
    /// Zipf exponent (with `key_space`) instead of a conflict rate.
    pub zipf: Option<f64>,
    /// Number of keys for `zipf`.
    pub key_space: Option<u64>,
    /// Distinct keys per command.
    pub keys_per_command: Option<usize>,
    /// Percentage of read-only commands.
    pub read_percent: Option<f64>,
    /// Payload bytes per write.
    pub payload_bytes: Option<u32>,
}

/// `[delay]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DelaySection {
    /// RTT statistic without jitter: `avg`, `min` or `fantoch-ms`.
    pub base: Option<BaseArg>,
    /// Per-message jitter.
    pub jitter: Option<bool>,
    /// `measured` or `zero`.
    pub intra_region: Option<IntraArg>,
    /// Non-FIFO links.
    pub reorder: Option<bool>,
    /// Mean of both directions per pair.
    pub symmetric: Option<bool>,
}
