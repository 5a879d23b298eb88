//! VR reconfiguration (vr.md §13) end to end through the engine: five
//! sites, epoch 0 = processes {1, 2, 3} (indices 0..=2), reconfigured at
//! 2 s to {3, 4, 5} (indices 2..=4). Every command completes, the verdict
//! (linearizability, every acknowledged write kept) passes, and after the
//! transition the old-only replicas 1 and 2 stop; also with the old
//! primary crashing during the transition.

use latency_data::Matrix;
use protocols::vr::{Options, Status, Vr};
use sim_core::faults::{Fault, FaultKind, FaultPlan};
use sim_core::time::{NS_PER_MS, NS_PER_S};
use sim_core::workload::{KeyDistribution, Workload};
use sim_core::{DelayOptions, ProcessId, RegionId, RunConfig, RunReport, Simulation};

const SITES: [&str; 5] = ["us-central1", "europe-west1", "asia-east1", "southamerica-east1", "us-west1"];

fn config(faults: Vec<Fault>, seed: u64) -> RunConfig {
    let matrix = Matrix::builtin("gcp").expect("built-in matrix");
    let sites = SITES.map(|name| RegionId(matrix.region_index(name).expect("known region") as u16)).to_vec();
    let mut config = RunConfig::new(matrix, sites);
    config.clients_per_region = 2;
    config.commands_per_client = 30;
    config.seed = seed;
    config.max_time_ns = 60 * NS_PER_S;
    config.protocol.leader = Some(ProcessId(1));
    config.delay = DelayOptions { jitter: true, reorder: true, ..DelayOptions::default() };
    config.workload = Workload {
        keys: KeyDistribution::ConflictPool { conflict_rate: 1.0, hot_keys: 1 },
        read_ratio: 0.3,
        ..Workload::default()
    };
    config.faults = FaultPlan { schedule: faults, ..FaultPlan::default() };
    config
}

fn plan() -> Options {
    Options {
        initial_members: Some(vec![0, 1, 2]),
        reconfigure_at_ms: Some(2000),
        new_members: Some(vec![2, 3, 4]),
        ..Options::default()
    }
}

fn run(config: &RunConfig) -> (RunReport, Simulation<Vr>) {
    let mut simulation = Simulation::<Vr>::with_options(config, &plan());
    (simulation.run(), simulation)
}

#[track_caller]
fn assert_new_epoch(simulation: &Simulation<Vr>, what: &str) {
    for id in 3..=5 {
        let replica = simulation.protocol(ProcessId(id));
        assert_eq!(replica.current_epoch(), 1, "{what}: p{id}");
        assert!(replica.member(), "{what}: p{id} is in the new configuration");
        assert_eq!(replica.status(), Status::Normal, "{what}: p{id}");
    }
}

#[test]
fn vr_13_reconfiguration_to_a_new_group_completes_and_is_linearizable() {
    for seed in 1..=3 {
        let (report, simulation) = run(&config(Vec::new(), seed));
        let what = format!("seed {seed}");
        assert!(report.verdict.passed(), "{what}: {}", report.verdict);
        assert_eq!(report.commands_completed, report.commands_expected, "{what}");
        assert_new_epoch(&simulation, &what);
        for id in 1..=2 {
            let old = simulation.protocol(ProcessId(id));
            assert!(!old.member(), "{what}: p{id} left");
            assert!(old.stopped(), "{what}: p{id} stopped after f_new + 1 EPOCH_STARTED");
        }
        // The new group ordered most of the work (the run lasts well past
        // 2 s), and every process, learners included, followed its log up
        // to the last heartbeat or two.
        let last = simulation.protocol(ProcessId(3)).commit_number();
        assert!(last > report.commands_expected / 2, "{what}: {last} ops");
        for id in 1..=5 {
            let executed = simulation.protocol(ProcessId(id)).executed();
            assert!(executed + 10 >= last, "{what}: p{id} executed {executed} of {last}");
        }
    }
}

#[test]
fn vr_13_old_primary_crash_during_the_transition_is_survived() {
    for (seed, crash_ms) in [(1, 2000), (2, 2060), (3, 2120), (4, 2250)] {
        let crash = Fault {
            at_ns: crash_ms * NS_PER_MS,
            until_ns: None,
            kind: FaultKind::Crash { processes: vec![ProcessId(1)] },
        };
        let (report, simulation) = run(&config(vec![crash], seed));
        let what = format!("seed {seed}, p1 crashed at {crash_ms} ms");
        assert!(report.verdict.passed(), "{what}: {}", report.verdict);
        assert_eq!(report.commands_completed, report.commands_expected, "{what}");
        assert_new_epoch(&simulation, &what);
        assert!(!simulation.protocol(ProcessId(2)).member(), "{what}");
    }
}
