//! planetsim's engine: virtual time, the event queue, seeded random streams,
//! the virtual WAN, clients and workloads, the key-value state machine,
//! metrics, and the sans-IO contract every protocol implements.
//!
//! The engine never names a protocol: it drives any [`Protocol`] through
//! [`Simulation`]. One run is single-threaded and deterministic: the same
//! [`RunConfig`] (seed included) gives the same [`RunReport`].

pub mod arrivals;
pub mod command;
pub mod config;
pub mod dedup;
pub mod faults;
pub mod fixed_hash;
pub mod id;
pub mod kv;
pub mod metrics;
pub mod observe;
pub mod protocol;
pub mod queue;
pub mod resources;
pub mod rng;
pub mod simulation;
pub mod state_loss;
pub mod testing;
pub mod time;
pub mod verdict;
pub mod wan;
pub mod workload;

pub use arrivals::{ArrivalReport, Arrivals};
pub use command::{Command, CommandId, Key, Op, Ops, Value};
pub use config::{ConfigError, RunConfig, RunDuration};
pub use faults::{ClockSkew, Fault, FaultKind, FaultPlan, Links, RandomFaults};
pub use fixed_hash::{FixedHashMap, FixedHashSet};
pub use id::{ClientId, ProcessId, RegionId};
pub use protocol::{Apply, Effect, Executor, MessageSize, Outbox, ProcessSetup, Protocol, ProtocolConfig};
pub use resources::{CpuCosts, ResourceModel};
pub use simulation::{RegionReport, RunReport, Simulation, ThroughputWindow};
pub use time::Time;
pub use verdict::Verdict;
pub use wan::{BaseDelay, DelayOptions, IntraRegionDelay, Wan};
pub use workload::{KeyDistribution, Workload};
