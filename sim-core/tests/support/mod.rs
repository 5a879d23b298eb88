//! Shared by the engine's integration tests (each uses a part of it).
#![allow(dead_code)]

use latency_data::Matrix;
use sim_core::protocol::{Apply, Executor, MessageSize, Outbox, ProcessSetup, Protocol};
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

/// Executes each command where it is submitted: a client's latency is the
/// round trip to its closest process, the same for every command (no
/// jitter).
pub(crate) struct Local;

#[derive(Clone, Debug)]
pub(crate) struct NoMessage;

impl MessageSize for NoMessage {
    fn size_bytes(&self) -> u64 {
        0
    }
}

impl Protocol for Local {
    type Message = NoMessage;
    type Timer = ();
    type Executor = ExecuteOnArrival;
    type Options = ();

    fn new(_setup: ProcessSetup, _options: &()) -> (Self, ExecuteOnArrival) {
        (Local, ExecuteOnArrival)
    }

    fn submit(&mut self, cmd: Arc<Command>, _now: Time, out: &mut Outbox<Self>) {
        out.execute(cmd);
    }

    fn handle(&mut self, _from: sim_core::ProcessId, _msg: NoMessage, _now: Time, _out: &mut Outbox<Self>) {}

    fn handle_timer(&mut self, _timer: (), _now: Time, _out: &mut Outbox<Self>) {}
}
