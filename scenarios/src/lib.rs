//! planetsim's front end: turning what a user asks for into checked run
//! configurations, running them, and writing results. The `sim` binary is a
//! thin layer over this crate: single runs (`cli`, `output`) and scenario
//! files with their sweeps (`scenario`).

pub mod cli;
pub mod error;
pub mod output;
pub mod progress;
pub mod resources;
pub mod scenario;
pub mod swarm;

pub use error::UserError;

/// The git revision planetsim was built from ("unknown" outside a git
/// checkout), for manifests.
pub const GIT_REVISION: &str = env!("PLANETSIM_GIT_REVISION");
