//! planetsim's front end: turning what a user asks for into checked run
//! configurations, running them, and writing results. The `sim` binary is a
//! thin layer over this crate (scenario files and sweeps arrive with their
//! own issue).

pub mod cli;
pub mod error;
pub mod output;
pub mod scenario;

pub use error::UserError;
