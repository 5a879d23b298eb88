//! FPaxos's failure-free latency equals the formula of specs README §3,
//! computed here independently from the raw matrix (not through the WAN):
//! a client co-located with process `p` waits
//! `d(p,L) + RT(L, Q2-th closest to L) + d(L,p)`, the first and last terms
//! being 0 when `p = L`, with `d(a,b) = RTT_avg(a,b) / 2` and intra-region
//! delay 0 (jitter off).

use latency_data::Matrix;
use protocols::ProtocolName;
use sim_core::workload::{KeyDistribution, Workload};
use sim_core::{DelayOptions, IntraRegionDelay, ProcessId, RegionId, RunConfig};

fn gcp() -> Matrix {
    Matrix::builtin("gcp").expect("built-in GCP matrix")
}

/// One-way delay straight from the matrix, in ns.
fn d(matrix: &Matrix, from: &str, to: &str) -> u64 {
    if from == to {
        return 0;
    }
    let index = |name: &str| matrix.region_index(name).expect("known region");
    matrix.rtt(index(from), index(to)).avg_ns / 2
}

fn rt(matrix: &Matrix, a: &str, b: &str) -> u64 {
    d(matrix, a, b) + d(matrix, b, a)
}

/// The formula, per site, for leader `sites[leader]`.
fn expected_latency_ns(matrix: &Matrix, sites: &[&str], leader: usize, f: usize) -> Vec<u64> {
    let leader_region = sites[leader];
    // The leader's f+1 closest processes by one-way delay from the leader,
    // itself first; ties by region name.
    let mut others: Vec<&str> = sites.iter().copied().filter(|&s| s != leader_region).collect();
    others.sort_by_key(|&s| (d(matrix, leader_region, s), s));
    let farthest_in_quorum = others[f - 1];
    let replication = rt(matrix, leader_region, farthest_in_quorum);
    sites.iter().map(|&site| d(matrix, site, leader_region) + replication + d(matrix, leader_region, site)).collect()
}

fn simulated_mean_latency_ns(matrix: &Matrix, sites: &[&str], leader: usize, f: usize, conflict_rate: f64) -> Vec<u64> {
    let regions: Vec<RegionId> =
        sites.iter().map(|s| RegionId(matrix.region_index(s).expect("known region") as u16)).collect();
    let mut config = RunConfig::new(matrix.clone(), regions);
    config.protocol.f = f;
    config.protocol.leader = Some(ProcessId::from_index(leader));
    config.clients_per_region = 3;
    config.commands_per_client = 20;
    config.delay = DelayOptions { intra_region: IntraRegionDelay::Zero, ..DelayOptions::default() };
    config.workload =
        Workload { keys: KeyDistribution::ConflictPool { conflict_rate, hot_keys: 1 }, ..Workload::default() };
    config.check().expect("valid config");
    ProtocolName::FPaxos.check(sites.len(), f).expect("valid f");
    let report = ProtocolName::FPaxos.run(&config);
    assert_eq!(report.incomplete_clients, 0);
    assert!(report.verdict.passed(), "{}", report.verdict);
    assert_eq!(report.total.count, 3 * 20 * sites.len() as u64);
    report.regions.iter().map(|r| r.latency.mean_ns).collect()
}

const SITES_3: &[&str] = &["us-central1", "europe-west1", "asia-east1"];
const SITES_5: &[&str] = &["us-central1", "europe-west1", "asia-east1", "southamerica-east1", "us-west1"];
const SITES_7: &[&str] = &[
    "asia-south1",
    "europe-north1",
    "southamerica-east1",
    "australia-southeast1",
    "europe-west1",
    "us-east1",
    "asia-northeast1",
];

#[test]
fn mean_latency_equals_the_formula_for_3_5_7_sites_two_leaders_each() {
    let matrix = gcp();
    let mut cases = 0;
    for sites in [SITES_3, SITES_5, SITES_7] {
        for leader in [0, sites.len() - 1] {
            for f in 1..=2.min(sites.len() / 2) {
                for conflict_rate in [0.0, 1.0] {
                    let expected = expected_latency_ns(&matrix, sites, leader, f);
                    let simulated = simulated_mean_latency_ns(&matrix, sites, leader, f, conflict_rate);
                    assert_eq!(
                        simulated, expected,
                        "sites {sites:?}, leader {}, f {f}, conflicts {conflict_rate}",
                        sites[leader]
                    );
                    cases += 1;
                }
            }
        }
    }
    assert_eq!(cases, 2 * (2 + 4 + 4));
}

/// fpaxos.md §8 example 2, to the nanosecond.
#[test]
fn fpaxos_8_2_worked_latencies() {
    let matrix = gcp();
    let f1 = simulated_mean_latency_ns(&matrix, SITES_5, 0, 1, 0.02);
    assert_eq!(f1[0], 34_958_000, "us-central1 (leader): RT to us-west1");
    assert_eq!(f1[1], 139_875_500, "europe-west1: 104.919/2 + 34.958 + 104.916/2 ms");
    let f2 = simulated_mean_latency_ns(&matrix, SITES_5, 0, 2, 0.02);
    assert_eq!(f2[0], 104_917_500, "us-central1 with f=2: RT to europe-west1");
}
