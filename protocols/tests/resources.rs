//! The CPU and NIC model end to end (issue 5): off is the infinite model,
//! a saturated FPaxos is bottlenecked at its leader, and throughput grows
//! with load until saturation while latency then climbs.

use latency_data::Matrix;
use protocols::{ProtocolName, ProtocolOptions};
use sim_core::workload::{KeyDistribution, Workload};
use sim_core::{CpuCosts, ProcessId, RegionId, ResourceModel, RunConfig, RunDuration, RunReport};

/// The five GCP sites of the papers' evaluation, the leader first.
const SITES: [&str; 5] = ["asia-south1", "europe-north1", "southamerica-east1", "australia-southeast1", "europe-west1"];

fn config(protocol: ProtocolName, clients_per_region: u32, payload_bytes: u32) -> RunConfig {
    let matrix = Matrix::builtin("gcp").expect("built-in GCP matrix");
    let sites: Vec<RegionId> =
        SITES.iter().map(|s| RegionId(matrix.region_index(s).expect("known region") as u16)).collect();
    let mut config = RunConfig::new(matrix, sites);
    config.protocol.leader = protocol.has_leader().then_some(ProcessId(1));
    config.clients_per_region = clients_per_region;
    config.workload = Workload {
        keys: KeyDistribution::ConflictPool { conflict_rate: 0.02, hot_keys: 1 },
        payload_bytes,
        ..Workload::default()
    };
    config
}

fn run(protocol: ProtocolName, config: &RunConfig) -> RunReport {
    let report = protocol.run_with(config, &ProtocolOptions::default());
    assert!(report.verdict.passed(), "{protocol}: {}", report.verdict);
    assert_eq!(report.incomplete_clients, 0, "{protocol}: every client finished");
    report
}

/// Zero CPU costs and unbounded NICs: the model's bookkeeping runs on
/// every input and message, and must change nothing.
fn free_resources() -> ResourceModel {
    ResourceModel {
        cores: 1,
        costs: CpuCosts {
            per_input_ns: 0,
            per_message_sent_ns: 0,
            per_kib_ns: 0,
            per_command_executed_ns: 0,
            per_work_unit_ns: 0,
            cpu_scale_percent: 100,
        },
        nic_out_mbit_per_s: u64::MAX,
        nic_in_mbit_per_s: u64::MAX,
    }
}

#[test]
fn free_resources_reproduce_the_infinite_run_exactly() {
    for &protocol in ProtocolName::ALL {
        let mut off = config(protocol, 8, 100);
        off.commands_per_client = 20;
        off.delay.jitter = true;
        let infinite = run(protocol, &off);
        assert!(infinite.resources.is_none());
        let mut on = off.clone();
        on.resources = Some(free_resources());
        let mut modelled = run(protocol, &on);
        let per_process = modelled.resources.take().expect("measured");
        assert_eq!(per_process.len(), 5);
        assert!(per_process.iter().all(|p| p.cpu_utilisation_ppm == 0 && p.queueing.max_ns == 0), "{protocol}");
        assert_eq!(modelled, infinite, "{protocol}: a free model must not change the run");
    }
}

#[test]
fn costs_slow_a_run_down() {
    let protocol = ProtocolName::FPaxos;
    let mut off = config(protocol, 8, 4_096);
    off.commands_per_client = 20;
    let infinite = run(protocol, &off);
    let mut on = off.clone();
    on.resources = Some(ResourceModel::default());
    let modelled = run(protocol, &on);
    assert!(modelled.total.mean_ns > infinite.total.mean_ns);
    assert!(modelled.total.min_ns > infinite.total.min_ns, "every command pays CPU time");
    let leader = &modelled.resources.as_ref().expect("measured")[0];
    assert!(leader.cpu_utilisation_ppm > 0 && leader.nic_out_utilisation_ppm > 0);
    assert_eq!(leader.cores, 1, "FPaxos is sequential: one core");
}

/// A duration run of `clients` per site with the default model made 20
/// times slower, so a few hundred clients saturate it and the test stays
/// fast (the shape, not the calibration, is under test).
fn loaded(protocol: ProtocolName, clients: u32) -> RunReport {
    let mut config = config(protocol, clients, 4_096);
    config.duration = Some(RunDuration { duration_ns: 5_000_000_000, warmup_ns: 3_000_000_000 });
    let mut model = ResourceModel::default();
    model.costs.cpu_scale_percent = 2_000;
    config.resources = Some(model);
    run(protocol, &config)
}

#[test]
fn a_saturated_fpaxos_is_bottlenecked_at_its_leader() {
    let report = loaded(ProtocolName::FPaxos, 512);
    let processes = report.resources.as_ref().expect("measured");
    let leader = &processes[0];
    let busiest = |p: &sim_core::resources::ProcessResourceReport| {
        p.cpu_utilisation_ppm.max(p.nic_out_utilisation_ppm).max(p.nic_in_utilisation_ppm)
    };
    assert!(busiest(leader) >= 950_000, "the leader is saturated: {leader:?}");
    for (index, other) in processes.iter().enumerate().skip(1) {
        assert!(busiest(other) <= 500_000, "p{} is not a bottleneck: {other:?}", index + 1);
    }
    assert!(leader.queueing.mean_ns > 1_000_000, "inputs queue at the leader: {leader:?}");
}

#[test]
fn throughput_grows_with_load_until_saturation_then_latency_climbs() {
    let clients = [4, 32, 384, 768];
    let reports: Vec<RunReport> = clients.iter().map(|&c| loaded(ProtocolName::FPaxos, c)).collect();
    let throughput: Vec<u64> = reports.iter().map(RunReport::throughput_milli_ops_per_s).collect();
    let latency: Vec<u64> = reports.iter().map(|r| r.total.mean_ns).collect();
    // Below saturation, more clients give proportionally more throughput at
    // about the same latency.
    assert!(throughput[1] > throughput[0] * 6, "{throughput:?}");
    assert!(latency[1] < latency[0] * 12 / 10, "{latency:?}");
    // Then throughput stops growing (within 10%) while latency climbs.
    assert!(throughput.windows(2).all(|pair| pair[1] * 100 >= pair[0] * 95), "monotone: {throughput:?}");
    assert!(throughput[3] < throughput[2] * 11 / 10, "saturated: {throughput:?}");
    assert!(latency[3] > latency[2] * 15 / 10, "latency climbs past saturation: {latency:?}");
}

/// VR batching (vr.md §12) at saturation: one PREPARE and one PREPARE_OK
/// per backup for up to 64 requests instead of one each saves the
/// primary's per-message CPU time, so the saturated primary commits more.
#[test]
fn vr_batching_raises_the_saturation_throughput() {
    let throughput = |batch_max: usize| {
        let mut config = config(ProtocolName::Vr, 1024, 100);
        config.duration = Some(RunDuration { duration_ns: 5_000_000_000, warmup_ns: 3_000_000_000 });
        let mut model = ResourceModel::default();
        model.costs.cpu_scale_percent = 2_000;
        config.resources = Some(model);
        let options = ProtocolOptions {
            vr: protocols::vr::Options { batch_max: Some(batch_max), ..Default::default() },
            ..Default::default()
        };
        let report = ProtocolName::Vr.run_with(&config, &options);
        assert!(report.verdict.passed(), "batch_max {batch_max}: {}", report.verdict);
        report.throughput_milli_ops_per_s()
    };
    let (unbatched, batched) = (throughput(1), throughput(64));
    assert!(batched > unbatched * 3 / 2, "batch_max 64: {batched} vs 1: {unbatched} milli-ops/s");
}
