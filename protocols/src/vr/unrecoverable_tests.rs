//! vr.md §1 through the engine: "At most f replicas may be crashed or
//! recovering at the same time; if more fail together, the state is gone
//! and the simulator should report `Unrecoverable`." With n = 3 and
//! f = 1, two backups crashing together and restarting is reported once;
//! VR then blocks: the restarted replicas never leave Recovering (§8 step
//! 3 needs f + 1 answers from Normal replicas, and only the primary is
//! Normal), and the primary alone cannot commit. Nothing is lost, and the
//! verdict excuses the blocked commands. One replica down at a time is
//! within the budget: nothing reported, everything completes.

use super::*;
use latency_data::Matrix;
use sim_core::faults::{Fault, FaultKind, FaultPlan};
use sim_core::time::{NS_PER_MS, NS_PER_S};
use sim_core::verdict::OutcomeKind;
use sim_core::{RegionId, RunConfig, RunReport, Simulation};

fn config(faults: Vec<Fault>) -> RunConfig {
    let matrix = Matrix::builtin("gcp").expect("built-in matrix");
    let sites = ["us-central1", "europe-west1", "asia-east1"]
        .map(|name| RegionId(matrix.region_index(name).expect("known region") as u16))
        .to_vec();
    let mut config = RunConfig::new(matrix, sites);
    config.clients_per_region = 2;
    config.commands_per_client = 30;
    config.max_time_ns = 20 * NS_PER_S;
    config.protocol.f = 1;
    config.faults = FaultPlan { schedule: faults, ..FaultPlan::default() };
    config
}

/// `ids` crash at `at_ms` and restart at `until_ms`.
fn restart(at_ms: u64, until_ms: u64, ids: &[u32]) -> Fault {
    Fault {
        at_ns: at_ms * NS_PER_MS,
        until_ns: Some(until_ms * NS_PER_MS),
        kind: FaultKind::Crash { processes: ids.iter().map(|&id| ProcessId(id)).collect() },
    }
}

fn run(faults: Vec<Fault>) -> (RunReport, Simulation<Vr>) {
    let mut sim = Simulation::<Vr>::new(&config(faults));
    (sim.run(), sim)
}

#[test]
fn vr_1_two_backups_crashing_together_is_unrecoverable_and_vr_blocks() {
    let (report, sim) = run(vec![restart(500, 1_000, &[2, 3])]);
    let outcomes = &report.verdict.outcomes;
    assert_eq!(outcomes.count(OutcomeKind::Unrecoverable), 1, "{}", report.verdict);
    for id in [2, 3] {
        assert_eq!(sim.protocol(ProcessId(id)).status(), Status::Recovering, "p{id} never recovers from p1 alone");
    }
    assert_eq!(sim.protocol(ProcessId(1)).status(), Status::Normal);
    assert!(outcomes.blocked > 0, "the primary alone commits nothing: {}", report.verdict);
    assert_eq!(outcomes.count(OutcomeKind::AckedWriteLost), 0, "{}", report.verdict);
    assert!(report.verdict.passed(), "beyond the budget, blocking is measured: {}", report.verdict);
    assert!(report.verdict.to_string().contains("Unrecoverable: at 0.5 s, 2 replicas"), "{}", report.verdict);
}

#[test]
fn vr_1_one_replica_at_a_time_is_within_the_budget() {
    let (report, sim) = run(vec![restart(500, 1_000, &[2]), restart(3_000, 3_500, &[3])]);
    assert_eq!(report.verdict.outcomes.count(OutcomeKind::Unrecoverable), 0, "{}", report.verdict);
    assert!(report.verdict.passed(), "{}", report.verdict);
    assert_eq!(report.commands_completed, report.commands_expected);
    assert!((1..=3).all(|id| sim.protocol(ProcessId(id)).status() == Status::Normal));
}
