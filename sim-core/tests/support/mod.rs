//! Shared by the engine's integration tests (each uses a part of it).
#![allow(dead_code)]

use latency_data::Matrix;
use sim_core::protocol::{Apply, Executor};
use sim_core::{Command, RegionId, RunConfig, Time};
use std::sync::Arc;

/// Executes each command as soon as its protocol hands it over: no
/// ordering of its own.
pub(crate) struct ExecuteOnArrival;

impl Executor for ExecuteOnArrival {
    type Info = Arc<Command>;
    type Feedback = ();

    fn execute(&mut self, cmd: Arc<Command>, now: Time, apply: &mut Apply<'_>) {
        apply.apply(&cmd, now);
    }
}

/// A run on these GCP sites with 4 clients per site issuing 20 commands.
pub(crate) fn gcp_config(sites: &[&str]) -> RunConfig {
    let matrix = Matrix::builtin("gcp").expect("built-in matrix");
    let sites = sites.iter().map(|name| region(&matrix, name)).collect();
    let mut config = RunConfig::new(matrix, sites);
    config.clients_per_region = 4;
    config.commands_per_client = 20;
    config
}

/// A GCP region by name.
pub(crate) fn region(matrix: &Matrix, name: &str) -> RegionId {
    RegionId(matrix.region_index(name).expect("known region") as u16)
}
