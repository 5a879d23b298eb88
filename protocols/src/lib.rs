//! planetsim's replication protocols, one module each, plus the parts they
//! share (`shared`). Each protocol implements `sim_core::Protocol`; this
//! crate's [`ProtocolName`] is the one place that lists them, so the engine
//! never names a protocol.

pub mod caesar;
pub mod fpaxos;
pub mod shared;

use sim_core::{RunConfig, RunReport, Simulation};
use std::fmt;
use std::str::FromStr;

/// The protocols planetsim can run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ProtocolName {
    /// Flexible Paxos with a fixed leader (`fpaxos.md`).
    FPaxos,
    /// Caesar: timestamps plus predecessors with a wait condition
    /// (`caesar.md`).
    Caesar,
}

impl ProtocolName {
    /// Every protocol, in display order.
    pub const ALL: &'static [ProtocolName] = &[ProtocolName::FPaxos, ProtocolName::Caesar];

    /// The name used on the command line and in outputs.
    pub fn as_str(self) -> &'static str {
        match self {
            ProtocolName::FPaxos => "fpaxos",
            ProtocolName::Caesar => "caesar",
        }
    }

    /// One line on what the protocol is.
    pub fn description(self) -> &'static str {
        match self {
            ProtocolName::FPaxos => "Flexible Paxos: one leader, replication quorum f+1",
            ProtocolName::Caesar => {
                "Caesar: leaderless, timestamps and predecessors, fast quorum floor(3n/4)+1, wait condition"
            }
        }
    }

    /// True if the protocol has a leader (so `leader` means something).
    pub fn has_leader(self) -> bool {
        match self {
            ProtocolName::FPaxos => true,
            ProtocolName::Caesar => false,
        }
    }

    /// Checks the protocol's own rules for `n` processes tolerating `f`
    /// failures; the message says what would be valid.
    pub fn check(self, n: usize, f: usize) -> Result<(), String> {
        match self {
            ProtocolName::FPaxos => fpaxos::FPaxos::check(n, f),
            ProtocolName::Caesar => caesar::Caesar::check(n, f),
        }
    }

    /// Runs one simulation of this protocol with default options. `config`
    /// must have passed [`RunConfig::check`] and [`ProtocolName::check`].
    pub fn run(self, config: &RunConfig) -> RunReport {
        self.run_with(config, &ProtocolOptions::default())
    }

    /// Runs one simulation of this protocol with its options taken from
    /// `options`; see [`ProtocolName::run`].
    pub fn run_with(self, config: &RunConfig, options: &ProtocolOptions) -> RunReport {
        match self {
            ProtocolName::FPaxos => Simulation::<fpaxos::FPaxos>::new(config).run(),
            ProtocolName::Caesar => Simulation::<caesar::Caesar>::with_options(config, &options.caesar).run(),
        }
    }
}

impl fmt::Display for ProtocolName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Every protocol's own options (the flags its spec defines), each read
/// only by its protocol.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ProtocolOptions {
    /// Caesar's options (`caesar.md` §2).
    pub caesar: caesar::Options,
}

/// An unknown protocol name, with the valid ones.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnknownProtocol(pub String);

impl fmt::Display for UnknownProtocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let valid: Vec<&str> = ProtocolName::ALL.iter().map(|p| p.as_str()).collect();
        write!(f, "unknown protocol \"{}\"; valid protocols: {}", self.0, valid.join(", "))
    }
}

impl std::error::Error for UnknownProtocol {}

impl FromStr for ProtocolName {
    type Err = UnknownProtocol;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        ProtocolName::ALL
            .iter()
            .copied()
            .find(|p| p.as_str().eq_ignore_ascii_case(name))
            .ok_or_else(|| UnknownProtocol(name.to_string()))
    }
}
