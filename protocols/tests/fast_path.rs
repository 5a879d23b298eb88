//! Fast-path ratios move the way the papers say (a direction, not a tuned
//! number): Tempo and Atlas with f = 1 take the fast path at any conflict
//! rate (their fast-path test always passes with threshold f = 1), while
//! EPaxos, which needs identical replies, takes it less often as
//! conflicts rise. 5 GCP sites, jitter on, a few seeds per point.

use latency_data::Matrix;
use protocols::ProtocolName;
use sim_core::workload::{KeyDistribution, Workload};
use sim_core::{DelayOptions, RegionId, RunConfig};

const SITES: [&str; 5] = ["us-central1", "europe-west1", "asia-east1", "southamerica-east1", "us-west1"];

/// (fast paths, slow paths) summed over seeds 1..=3.
fn paths(protocol: ProtocolName, f: usize, conflict_rate: f64) -> (u64, u64) {
    let matrix = Matrix::builtin("gcp").expect("built-in matrix");
    let sites: Vec<RegionId> =
        SITES.iter().map(|name| RegionId(matrix.region_index(name).expect("known region") as u16)).collect();
    let (mut fast, mut slow) = (0, 0);
    for seed in 1..=3 {
        let mut config = RunConfig::new(matrix.clone(), sites.clone());
        config.protocol.f = f;
        config.clients_per_region = 8;
        config.commands_per_client = 25;
        config.seed = seed;
        config.delay = DelayOptions { jitter: true, ..DelayOptions::default() };
        config.workload =
            Workload { keys: KeyDistribution::ConflictPool { conflict_rate, hot_keys: 1 }, ..Workload::default() };
        let report = protocol.run(&config);
        assert!(report.verdict.passed(), "{protocol} at {conflict_rate}: {}", report.verdict);
        assert_eq!(report.protocol.fast_paths + report.protocol.slow_paths, 5 * 8 * 25, "one path per command");
        fast += report.protocol.fast_paths;
        slow += report.protocol.slow_paths;
    }
    (fast, slow)
}

const CONFLICT_RATES: [f64; 4] = [0.0, 0.1, 0.5, 1.0];

#[test]
fn tempo_and_atlas_with_f1_always_take_the_fast_path() {
    for protocol in [ProtocolName::Tempo, ProtocolName::Atlas] {
        for rate in CONFLICT_RATES {
            let (_, slow) = paths(protocol, 1, rate);
            assert_eq!(slow, 0, "{protocol} f=1 at {}% conflicts took the slow path", rate * 100.0);
        }
    }
}

#[test]
fn epaxos_fast_path_ratio_falls_as_conflicts_rise() {
    let ratios: Vec<f64> = CONFLICT_RATES
        .iter()
        .map(|&rate| {
            let (fast, slow) = paths(ProtocolName::EPaxos, 1, rate);
            fast as f64 / (fast + slow) as f64
        })
        .collect();
    assert_eq!(ratios[0], 1.0, "no conflicts, no slow path: {ratios:?}");
    for pair in ratios.windows(2) {
        assert!(pair[1] < pair[0], "the fast-path ratio must fall as conflicts rise: {ratios:?}");
    }
}
