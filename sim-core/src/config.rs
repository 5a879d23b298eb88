//! What one simulation run is: sites, clients, workload, delays, seed.

use crate::arrivals::Arrivals;
use crate::faults::FaultPlan;
use crate::id::{ProcessId, RegionId};
use crate::protocol::ProtocolConfig;
use crate::resources::ResourceModel;
use crate::time::{NS_PER_S, format_ns_as_s};
use crate::wan::DelayOptions;
use crate::workload::{KeyDistribution, Workload};
use latency_data::Matrix;
use std::fmt;

/// A fully resolved run. One process per site: site `i` (0-based) hosts
/// process `i + 1`.
#[derive(Clone, Debug)]
pub struct RunConfig {
    /// The measured RTT matrix.
    pub matrix: Matrix,
    /// Regions hosting a process, in process-id order.
    pub sites: Vec<RegionId>,
    /// Protocol settings.
    pub protocol: ProtocolConfig,
    /// Regions hosting clients (each talks to its closest process).
    pub client_regions: Vec<RegionId>,
    /// Clients in each client region: closed-loop clients, or with open
    /// loop `arrivals`, the region's connections.
    pub clients_per_region: u32,
    /// Closed loop (each client waits for its reply) or Poisson arrivals.
    pub arrivals: Arrivals,
    /// Commands each client issues, one at a time (unless `duration` is
    /// set).
    pub commands_per_client: u64,
    /// Run for a simulated duration instead of a number of commands per
    /// client; `None` (the default): `commands_per_client` each.
    pub duration: Option<RunDuration>,
    /// What the commands look like.
    pub workload: Workload,
    /// How delays are drawn.
    pub delay: DelayOptions,
    /// The root seed of every random stream of the run.
    pub seed: u64,
    /// Simulated time after which the run stops even if clients are still
    /// waiting (they are then reported as incomplete).
    pub max_time_ns: u64,
    /// Check order and linearizability (see [`crate::verdict`]); off only
    /// for speed measurements of the engine alone.
    pub checks: bool,
    /// Finite CPU and NIC per process ([`crate::resources`]); `None` (the
    /// default): infinite, the engine's latency-only behaviour.
    pub resources: Option<ResourceModel>,
    /// Crashes, partitions and other faults, and how clients cope with
    /// them; none by default.
    pub faults: FaultPlan,
}

/// A run measured over simulated time: clients issue commands until
/// `duration_ns`, then wait for those still pending (every command issued
/// completes or is reported); only commands submitted at or after
/// `warmup_ns` count in the latencies, and throughput counts the commands
/// completed within [`warmup_ns`, `duration_ns`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RunDuration {
    /// When clients stop issuing commands.
    pub duration_ns: u64,
    /// Commands submitted before this are not measured.
    pub warmup_ns: u64,
}

/// A run configuration that cannot be simulated, with the reason.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigError(pub String);

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ConfigError {}

/// Default limit of simulated time: one hour.
pub const DEFAULT_MAX_TIME_NS: u64 = 3_600 * NS_PER_S;

impl RunConfig {
    /// A run of `sites` with defaults for everything else: clients in every
    /// site, 1 client of 100 commands per region, the default workload,
    /// delays and seed 1.
    pub fn new(matrix: Matrix, sites: Vec<RegionId>) -> RunConfig {
        RunConfig {
            client_regions: sites.clone(),
            matrix,
            sites,
            protocol: ProtocolConfig::default(),
            clients_per_region: 1,
            arrivals: Arrivals::Closed,
            commands_per_client: 100,
            duration: None,
            workload: Workload::default(),
            delay: DelayOptions::default(),
            seed: 1,
            max_time_ns: DEFAULT_MAX_TIME_NS,
            checks: true,
            resources: None,
            faults: FaultPlan::default(),
        }
    }

    /// Number of processes.
    pub fn n(&self) -> usize {
        self.sites.len()
    }

    /// Checks everything the engine relies on that does not depend on the
    /// protocol; protocols check their own rules (such as bounds on `f`).
    pub fn check(&self) -> Result<(), ConfigError> {
        let fail = |message: String| Err(ConfigError(message));
        let regions = self.matrix.len();
        if self.sites.is_empty() {
            return fail("no sites: give at least one region to host a process".into());
        }
        if let Some(site) = self.sites.iter().chain(&self.client_regions).find(|r| r.index() >= regions) {
            return fail(format!("region index {} is outside the matrix of {regions} regions", site.index()));
        }
        if self.client_regions.is_empty() {
            return fail("no client regions: give at least one region with clients".into());
        }
        if self.clients_per_region == 0 {
            return fail("clients per region is 0: give at least 1".into());
        }
        if self.commands_per_client == 0 {
            return fail("commands per client is 0: give at least 1".into());
        }
        if let Some(RunDuration { duration_ns, warmup_ns }) = self.duration {
            if duration_ns == 0 {
                return fail("duration is 0: give a positive simulated duration".into());
            }
            if warmup_ns >= duration_ns {
                return fail(format!(
                    "warm-up of {} s is not shorter than the duration of {} s: give a shorter warm-up",
                    format_ns_as_s(warmup_ns),
                    format_ns_as_s(duration_ns)
                ));
            }
            if duration_ns >= self.max_time_ns {
                return fail(format!(
                    "duration of {} s is not shorter than the time limit of {} s: commands issued near the end \
                     need time to complete; give a shorter duration or a longer time limit",
                    format_ns_as_s(duration_ns),
                    format_ns_as_s(self.max_time_ns)
                ));
            }
        }
        if let Arrivals::Poisson { per_region_per_s } = self.arrivals {
            if per_region_per_s == 0 {
                return fail("arrival rate is 0: give at least 1 command per second per region".into());
            }
            if self.duration.is_none() {
                return fail(
                    "open-loop arrivals need a duration: give a duration in seconds (arrivals stop at its end)".into(),
                );
            }
        }
        if let Some(leader) = self.protocol.leader
            && (leader.0 == 0 || leader.index() >= self.n())
        {
            return fail(format!("leader {leader} is not a process; valid: p1 to p{}", self.n()));
        }
        if let Some(model) = &self.resources {
            model.check().map_err(ConfigError)?;
        }
        self.faults.check(self.n()).map_err(ConfigError)?;
        if self.resources.is_some() && self.faults.restarts() {
            // A restart mid-step of the CPU model (a core still busy with
            // the crashed incarnation's work) is not modelled.
            return fail("restarts (crashes with an end) cannot be combined with the CPU and NIC model".into());
        }
        if self.protocol.gc_interval_ns == 0 {
            return fail("garbage-collection interval is 0: give a positive interval".into());
        }
        self.check_workload()
    }

    fn check_workload(&self) -> Result<(), ConfigError> {
        let fail = |message: String| Err(ConfigError(message));
        let workload = &self.workload;
        let probability = |p: f64| (0.0..=1.0).contains(&p);
        if !probability(workload.read_ratio) {
            return fail(format!("read ratio {} is not a probability: give a value from 0 to 1", workload.read_ratio));
        }
        if workload.keys_per_command == 0 {
            return fail("keys per command is 0: give at least 1".into());
        }
        match workload.keys {
            KeyDistribution::ConflictPool { conflict_rate, hot_keys } => {
                if !probability(conflict_rate) {
                    return fail(format!(
                        "conflict rate {conflict_rate} is not a probability: give 0 to 1 (0% to 100%)"
                    ));
                }
                if hot_keys == 0 {
                    return fail("hot-key pool is empty: give at least 1 hot key".into());
                }
                if conflict_rate == 1.0 && (workload.keys_per_command as u64) > hot_keys {
                    return fail(format!(
                        "{} keys per command cannot be distinct in a pool of {hot_keys} hot keys at 100% conflicts: \
                         give at most {hot_keys} keys per command or a larger pool",
                        workload.keys_per_command
                    ));
                }
            }
            KeyDistribution::Zipf { exponent, key_space } => {
                if !exponent.is_finite() || exponent < 0.0 {
                    return fail(format!("zipf exponent {exponent} must be a finite number >= 0"));
                }
                if key_space < workload.keys_per_command as u64 {
                    return fail(format!(
                        "zipf key space of {key_space} keys is smaller than {} keys per command",
                        workload.keys_per_command
                    ));
                }
            }
        }
        Ok(())
    }

    /// The region of process `id`.
    pub fn region_of(&self, id: ProcessId) -> RegionId {
        self.sites[id.index()]
    }
}
