//! Failure-free latency equals the formulas of specs README §3, computed
//! here independently from the raw matrix (not through the WAN), with
//! jitter off, intra-region delay 0 and clients co-located with their
//! process. `d(a,b) = RTT_avg(a,b) / 2`, `RT(a,b) = d(a,b) + d(b,a)`.
//!
//! - FPaxos: a client at `p` waits `d(p,L) + RT(L, Q2) + d(L,p)`, where Q2
//!   is the leader's f+1 closest processes (the first and last terms are 0
//!   when `p = L`).
//! - Leaderless protocols with a fixed fast quorum (the closest FQ to the
//!   coordinator by one-way delay): the slowest round trip to a quorum
//!   member, `max_{q in FQ} RT(p, q)`. README §3 writes this
//!   `RT(p, FQ-th closest)`; the two differ only where one-way and
//!   round-trip order disagree.
//! - Caesar, which counts the first FQ replies from anyone: the FQ-th
//!   smallest `RT(p, q)` over all processes (itself at 0).

use latency_data::Matrix;
use protocols::primary_backup::{self, Mode};
use protocols::shared::quorum;
use protocols::{ProtocolName, ProtocolOptions};
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

/// FPaxos, per site, for leader `sites[leader]`.
fn fpaxos_latency_ns(matrix: &Matrix, sites: &[&str], leader: usize, f: usize) -> Vec<u64> {
    let leader_region = sites[leader];
    // The leader's f+1 closest processes by one-way delay from the leader,
    // itself first; ties by region name.
    let mut others: Vec<&str> = sites.iter().copied().filter(|&s| s != leader_region).collect();
    others.sort_by_key(|&s| (d(matrix, leader_region, s), s));
    let farthest_in_quorum = others[f - 1];
    let replication = rt(matrix, leader_region, farthest_in_quorum);
    sites.iter().map(|&site| d(matrix, site, leader_region) + replication + d(matrix, leader_region, site)).collect()
}

/// A coordinator at each site waits for the slowest of its `size` closest
/// processes (by one-way delay, ties by region name).
fn fixed_quorum_latency_ns(matrix: &Matrix, sites: &[&str], size: usize) -> Vec<u64> {
    sites
        .iter()
        .map(|&p| {
            let mut by_distance: Vec<&str> = sites.to_vec();
            by_distance.sort_by_key(|&q| (d(matrix, p, q), q != p, q));
            by_distance[..size].iter().map(|&q| rt(matrix, p, q)).max().expect("non-empty quorum")
        })
        .collect()
}

/// A coordinator at each site waits for the `size`-th fastest reply.
fn first_replies_latency_ns(matrix: &Matrix, sites: &[&str], size: usize) -> Vec<u64> {
    sites
        .iter()
        .map(|&p| {
            let mut round_trips: Vec<u64> = sites.iter().map(|&q| rt(matrix, p, q)).collect();
            round_trips.sort_unstable();
            round_trips[size - 1]
        })
        .collect()
}

/// A leader at `sites[leader]` that needs `acks` acknowledgements from
/// other processes, counting the first to arrive (VR: f backups; Raft: a
/// majority minus itself): the `acks`-th smallest `RT(L, q)` over the
/// others, `2·d_{acks+1}(L)` in the specs. A client at `p` forwards through
/// its own process: `d(p,L) + that + d(L,p)` (classic README "Clients").
fn leader_first_acks_latency_ns(matrix: &Matrix, sites: &[&str], leader: usize, acks: usize) -> Vec<u64> {
    let leader_region = sites[leader];
    let mut round_trips: Vec<u64> =
        sites.iter().filter(|&&s| s != leader_region).map(|&q| rt(matrix, leader_region, q)).collect();
    round_trips.sort_unstable();
    let replication = if acks == 0 { 0 } else { round_trips[acks - 1] };
    sites.iter().map(|&site| d(matrix, site, leader_region) + replication + d(matrix, leader_region, site)).collect()
}

/// The formula for `protocol`; FPaxos's leader is `sites[leader]`.
fn expected_latency_ns(protocol: ProtocolName, matrix: &Matrix, sites: &[&str], leader: usize, f: usize) -> Vec<u64> {
    let n = sites.len();
    match protocol {
        ProtocolName::FPaxos => fpaxos_latency_ns(matrix, sites, leader, f),
        // Fixed fast quorum FQ = floor(n/2) + f, conflict-free: always fast.
        ProtocolName::Atlas | ProtocolName::Janus => {
            fixed_quorum_latency_ns(matrix, sites, quorum::leaderless_fast(n, f))
        }
        ProtocolName::EPaxos => fixed_quorum_latency_ns(matrix, sites, quorum::epaxos_fast(n)),
        ProtocolName::Tempo => fixed_quorum_latency_ns(matrix, sites, quorum::leaderless_fast(n, f)),
        ProtocolName::Caesar => first_replies_latency_ns(matrix, sites, quorum::caesar_fast(n)),
        // vr.md §5: d(X,P) + 2·d_{f+1}(P) + d(P,X), the first f backup acks.
        ProtocolName::Vr => leader_first_acks_latency_ns(matrix, sites, leader, f),
        // raft.md §7: d(X,L) + 2·d_q(L) + d(L,X), q = floor(n/2)+1 with the
        // leader: the first floor(n/2) follower acks. f is ignored.
        ProtocolName::Raft => leader_first_acks_latency_ns(matrix, sites, leader, quorum::majority(n) - 1),
        // primary-backup.md §5, default mode SYNC_ALL: every backup acks.
        ProtocolName::PrimaryBackup => primary_backup_latency_ns(matrix, sites, leader, f, Mode::Sync),
        ProtocolName::Chain => chain_latency_ns(matrix, sites, leader),
        // Only defined with one loaded site (the others idle): see
        // mencius_idle_latency_equals_the_formula.
        ProtocolName::Mencius => unreachable!("Mencius's formula assumes the other sites idle"),
        ProtocolName::TwoPc => atomic_commit_latency_ns(matrix, sites, leader, 1),
        ProtocolName::ThreePc => atomic_commit_latency_ns(matrix, sites, leader, 2),
        // deferred-update.md §5, updates (this workload has no reads), the
        // client at its delegate r (d(X,r) = 0): d(r,L) + 2·d_Q2(L) +
        // d(L,r), the abcast being FPaxos (Q2 = f + 1): FPaxos's formula.
        ProtocolName::DeferredUpdate => fpaxos_latency_ns(matrix, sites, leader, f),
    }
}

/// two-phase-commit.md §5 (2PC, one round: `d(X,C) + 2·max_p d(C,p) +
/// d(C,X)`) and §9 (3PC, two rounds: `4·max_p`), FIXED coordinator
/// `sites[coordinator]`: each round waits for every participant, the
/// slowest round trip `max_q RT(C,q)`; a client at `p` is routed through
/// its own process (classic README "Clients").
fn atomic_commit_latency_ns(matrix: &Matrix, sites: &[&str], coordinator: usize, rounds: u64) -> Vec<u64> {
    let c = sites[coordinator];
    let slowest_round_trip = sites.iter().map(|&q| rt(matrix, c, q)).max().expect("non-empty");
    sites.iter().map(|&p| d(matrix, p, c) + rounds * slowest_round_trip + d(matrix, c, p)).collect()
}

/// deferred-update.md §5 for clients in `client_regions`, each served by
/// its nearest site r (its delegate; ties by region name): updates
/// `d(X,r) + d(r,L) + 2·d_Q2(L) + d(L,r) + d(r,X)` with the abcast leader
/// `L = sites[leader]` and `Q2 = f + 1` (its f + 1 closest by one-way
/// delay, itself first); read-only `d(X,r) + d(r,X)`.
fn deferred_update_latency_ns(
    matrix: &Matrix,
    sites: &[&str],
    client_regions: &[&str],
    leader: usize,
    f: usize,
    reads: bool,
) -> Vec<u64> {
    let leader_region = sites[leader];
    let mut others: Vec<&str> = sites.iter().copied().filter(|&s| s != leader_region).collect();
    others.sort_by_key(|&s| (d(matrix, leader_region, s), s));
    let replication = rt(matrix, leader_region, others[f - 1]);
    client_regions
        .iter()
        .map(|&x| {
            let r = sites.iter().copied().min_by_key(|&s| (d(matrix, x, s), s)).expect("a site");
            let client = d(matrix, x, r) + d(matrix, r, x);
            if reads {
                client
            } else {
                client + d(matrix, r, leader_region) + replication + d(matrix, leader_region, r)
            }
        })
        .collect()
}

/// mencius.md §5, low load: a client at `p` (the only site with clients)
/// waits until every other server's skip has come back, `2·max_q d(p,q)`,
/// i.e. the slowest round trip `max_q RT(p,q)`; majority acks come sooner.
fn mencius_idle_latency_ns(matrix: &Matrix, sites: &[&str], p: &str) -> u64 {
    sites.iter().map(|&q| rt(matrix, p, q)).max().expect("non-empty")
}

/// The one exception, §9 E1: the very first command at `sites[k]` sits in
/// slot k (from 0), below which only the sites before it own slots; it
/// executes once chosen (`2·d_maj(p)`, the majority-th round trip,
/// itself at 0) and those sites' skips are back.
fn mencius_first_latency_ns(matrix: &Matrix, sites: &[&str], k: usize) -> u64 {
    let p = sites[k];
    let mut round_trips: Vec<u64> = sites.iter().map(|&q| rt(matrix, p, q)).collect();
    round_trips.sort_unstable();
    let chosen = round_trips[quorum::majority(sites.len()) - 1];
    let lower_skips = sites[..k].iter().map(|&q| rt(matrix, p, q)).max().unwrap_or(0);
    chosen.max(lower_skips)
}

/// chain-replication.md §5: `d(p,H) + Σ_i d(S_i,S_i+1) + d(T,p)`, the
/// chain being the head (`sites[head]`) then the others in site order,
/// and a client at `p` routed through its own process.
fn chain_latency_ns(matrix: &Matrix, sites: &[&str], head: usize) -> Vec<u64> {
    let n = sites.len();
    let chain: Vec<&str> = (0..n).map(|i| sites[(head + i) % n]).collect();
    let hops: u64 = chain.windows(2).map(|w| d(matrix, w[0], w[1])).sum();
    let (h, t) = (chain[0], chain[n - 1]);
    sites.iter().map(|&p| d(matrix, p, h) + hops + d(matrix, t, p)).collect()
}

/// primary-backup.md §5 for a client at each site, routed through its own
/// process: ASYNC `d(p,P) + d(P,p)`; SYNC_ALL adds `2·max_b d(P,b)`;
/// SYNC_K adds `2·d_{k+1}(P)` with k = f (the default).
fn primary_backup_latency_ns(matrix: &Matrix, sites: &[&str], primary: usize, f: usize, mode: Mode) -> Vec<u64> {
    let acks = match mode {
        Mode::Async => 0,
        Mode::Sync => sites.len() - 1,
        Mode::SemiSync => f,
    };
    leader_first_acks_latency_ns(matrix, sites, primary, acks)
}

fn simulated_mean_latency_ns(
    protocol: ProtocolName,
    matrix: &Matrix,
    sites: &[&str],
    leader: usize,
    f: usize,
    conflict_rate: f64,
) -> Vec<u64> {
    simulated_mean_latency_with_ns(protocol, &ProtocolOptions::default(), matrix, sites, leader, f, conflict_rate)
}

fn simulated_mean_latency_with_ns(
    protocol: ProtocolName,
    options: &ProtocolOptions,
    matrix: &Matrix,
    sites: &[&str],
    leader: usize,
    f: usize,
    conflict_rate: f64,
) -> Vec<u64> {
    simulated_latency_for_reads_ns(protocol, options, matrix, sites, (leader, f), conflict_rate, 0.0)
}

/// As `simulated_mean_latency_with_ns`, with a share `read_ratio` of
/// read-only commands.
fn simulated_latency_for_reads_ns(
    protocol: ProtocolName,
    options: &ProtocolOptions,
    matrix: &Matrix,
    sites: &[&str],
    (leader, f): (usize, usize),
    conflict_rate: f64,
    read_ratio: f64,
) -> Vec<u64> {
    let regions: Vec<RegionId> =
        sites.iter().map(|s| RegionId(matrix.region_index(s).expect("known region") as u16)).collect();
    let mut config = RunConfig::new(matrix.clone(), regions);
    config.protocol.f = f;
    config.protocol.leader = Some(ProcessId::from_index(leader));
    config.clients_per_region = 3;
    config.commands_per_client = 20;
    config.delay = DelayOptions { intra_region: IntraRegionDelay::Zero, ..DelayOptions::default() };
    config.workload = Workload {
        keys: KeyDistribution::ConflictPool { conflict_rate, hot_keys: 1 },
        read_ratio,
        ..Workload::default()
    };
    config.check().expect("valid config");
    protocol.check(sites.len(), f).expect("valid f");
    let report = protocol.run_with(&config, options);
    assert_eq!(report.incomplete_clients, 0, "{protocol}");
    assert!(report.verdict.passed(), "{protocol}: {}", report.verdict);
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
fn fpaxos_mean_latency_equals_the_formula_for_3_5_7_sites_two_leaders_each_any_conflicts() {
    let matrix = gcp();
    let mut cases = 0;
    for sites in [SITES_3, SITES_5, SITES_7] {
        for leader in [0, sites.len() - 1] {
            for f in 1..=2.min(sites.len() / 2) {
                for conflict_rate in [0.0, 1.0] {
                    let expected = expected_latency_ns(ProtocolName::FPaxos, &matrix, sites, leader, f);
                    let simulated =
                        simulated_mean_latency_ns(ProtocolName::FPaxos, &matrix, sites, leader, f, conflict_rate);
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

/// Every protocol, without contention (every command on its own key), for
/// 3, 5 and 7 sites and f = 1 and 2.
#[test]
fn every_protocol_meets_its_formula_without_contention() {
    let matrix = gcp();
    // Mencius with every site loaded waits for the others' commits too
    // (mencius.md §5 "delayed commit"): no closed form; its own test
    // below loads one site at a time.
    for &protocol in ProtocolName::ALL.iter().filter(|&&p| p != ProtocolName::Mencius) {
        for sites in [SITES_3, SITES_5, SITES_7] {
            for f in 1..=2.min(sites.len() / 2) {
                let expected = expected_latency_ns(protocol, &matrix, sites, 0, f);
                let simulated = simulated_mean_latency_ns(protocol, &matrix, sites, 0, f, 0.0);
                assert_eq!(simulated, expected, "{protocol}, sites {sites:?}, f {f}");
            }
        }
    }
}

/// VR, Raft and chain replication (head), leader at the first and at the last site, 3, 5 and 7
/// sites, f = 1 and 2, conflict-free and all on one key.
#[test]
fn classic_leader_protocols_meet_their_formula_for_two_leaders() {
    let matrix = gcp();
    let mut cases = 0;
    for protocol in [ProtocolName::Vr, ProtocolName::Raft, ProtocolName::Chain] {
        for sites in [SITES_3, SITES_5, SITES_7] {
            for leader in [0, sites.len() - 1] {
                for f in 1..=2.min(sites.len() / 2) {
                    for conflict_rate in [0.0, 1.0] {
                        let expected = expected_latency_ns(protocol, &matrix, sites, leader, f);
                        let simulated = simulated_mean_latency_ns(protocol, &matrix, sites, leader, f, conflict_rate);
                        assert_eq!(simulated, expected, "{protocol}, sites {sites:?}, leader {leader}, f {f}");
                        cases += 1;
                    }
                }
            }
        }
    }
    assert_eq!(cases, 3 * 2 * (2 + 4 + 4));
}

/// Primary/backup in each mode, primary at the first and at the last
/// site, 3, 5 and 7 sites, f = 1 and 2 (SYNC_K's k), conflict-free and
/// all on one key.
#[test]
fn primary_backup_modes_meet_their_formula_for_two_primaries() {
    let matrix = gcp();
    let mut cases = 0;
    for mode in [Mode::Async, Mode::Sync, Mode::SemiSync] {
        let options = ProtocolOptions {
            primary_backup: primary_backup::Options { mode, ..Default::default() },
            ..Default::default()
        };
        for sites in [SITES_3, SITES_5, SITES_7] {
            for primary in [0, sites.len() - 1] {
                for f in 1..=2.min(sites.len() / 2) {
                    for conflict_rate in [0.0, 1.0] {
                        let expected = primary_backup_latency_ns(&matrix, sites, primary, f, mode);
                        let simulated = simulated_mean_latency_with_ns(
                            ProtocolName::PrimaryBackup,
                            &options,
                            &matrix,
                            sites,
                            primary,
                            f,
                            conflict_rate,
                        );
                        assert_eq!(simulated, expected, "{mode:?}, sites {sites:?}, primary {primary}, f {f}");
                        cases += 1;
                    }
                }
            }
        }
    }
    assert_eq!(cases, 3 * 2 * (2 + 4 + 4));
}

/// 2PC and 3PC (two-phase-commit.md §5, §9), coordinator at the first
/// and at the last site, 3 and 5 sites, conflict-free (a conflict aborts
/// and retries, which the formula does not cover).
#[test]
fn atomic_commit_meets_its_formula_for_two_coordinators() {
    let matrix = gcp();
    let mut cases = 0;
    for protocol in [ProtocolName::TwoPc, ProtocolName::ThreePc] {
        for sites in [SITES_3, SITES_5] {
            for coordinator in [0, sites.len() - 1] {
                let expected = expected_latency_ns(protocol, &matrix, sites, coordinator, 1);
                let simulated = simulated_mean_latency_ns(protocol, &matrix, sites, coordinator, 1, 0.0);
                assert_eq!(simulated, expected, "{protocol}, sites {sites:?}, coordinator {coordinator}");
                cases += 1;
            }
        }
    }
    assert_eq!(cases, 2 * 2 * 2);
}

/// Mencius (mencius.md §5, low load), 3, 5 and 7 sites: clients at one
/// site at a time, the others idle; conflict-free and all on one key.
#[test]
fn mencius_idle_latency_equals_the_formula() {
    let matrix = gcp();
    let mut cases = 0;
    for sites in [SITES_3, SITES_5, SITES_7] {
        let regions: Vec<RegionId> =
            sites.iter().map(|s| RegionId(matrix.region_index(s).expect("known region") as u16)).collect();
        for (i, &site) in sites.iter().enumerate() {
            for conflict_rate in [0.0, 1.0] {
                let mut config = RunConfig::new(matrix.clone(), regions.clone());
                config.client_regions = vec![regions[i]];
                config.clients_per_region = 3;
                config.commands_per_client = 20;
                config.delay = DelayOptions { intra_region: IntraRegionDelay::Zero, ..DelayOptions::default() };
                config.workload = Workload {
                    keys: KeyDistribution::ConflictPool { conflict_rate, hot_keys: 1 },
                    ..Workload::default()
                };
                config.check().expect("valid config");
                ProtocolName::Mencius.check(sites.len(), 1).expect("valid n");
                let report = ProtocolName::Mencius.run(&config);
                assert!(report.verdict.passed(), "{}", report.verdict);
                let count = 3 * 20;
                assert_eq!(report.total.count, count);
                let steady = mencius_idle_latency_ns(&matrix, sites, site);
                let first = mencius_first_latency_ns(&matrix, sites, i);
                let mean = (first + (count - 1) * steady) / count;
                assert_eq!(report.total.mean_ns, mean, "sites {sites:?}, clients at {site}");
                assert_eq!(report.total.max_ns, steady, "sites {sites:?}, clients at {site}");
                assert_eq!(report.total.min_ns, first, "sites {sites:?}, clients at {site}");
                cases += 1;
            }
        }
    }
    assert_eq!(cases, 2 * (3 + 5 + 7));
}

/// fpaxos.md §8 example 2, to the nanosecond.
#[test]
fn fpaxos_8_2_worked_latencies() {
    let matrix = gcp();
    let f1 = simulated_mean_latency_ns(ProtocolName::FPaxos, &matrix, SITES_5, 0, 1, 0.02);
    assert_eq!(f1[0], 34_958_000, "us-central1 (leader): RT to us-west1");
    assert_eq!(f1[1], 139_875_500, "europe-west1: 104.919/2 + 34.958 + 104.916/2 ms");
    let f2 = simulated_mean_latency_ns(ProtocolName::FPaxos, &matrix, SITES_5, 0, 2, 0.02);
    assert_eq!(f2[0], 104_917_500, "us-central1 with f=2: RT to europe-west1");
}

/// deferred-update.md §5, update and read-only formulas, for 3 and 5 GCP
/// sites, the abcast leader at the first and at the last site, f = 1
/// and 2: clients at every site and in regions without a site (so
/// `d(X,r) > 0`), conflict-free updates (no aborts) and read-only runs.
#[test]
fn deferred_update_update_and_read_latency_equal_the_formula() {
    let matrix = gcp();
    let mut cases = 0;
    for sites in [SITES_3, SITES_5] {
        let mut client_regions: Vec<&str> = sites.to_vec();
        client_regions.extend(["us-east1", "europe-west2", "asia-northeast1"]);
        for leader in [0, sites.len() - 1] {
            for f in 1..=2.min(sites.len() / 2) {
                for read_ratio in [0.0, 1.0] {
                    let regions = |names: &[&str]| -> Vec<RegionId> {
                        names.iter().map(|s| RegionId(matrix.region_index(s).expect("known") as u16)).collect()
                    };
                    let mut config = RunConfig::new(matrix.clone(), regions(sites));
                    config.client_regions = regions(&client_regions);
                    config.protocol.f = f;
                    config.protocol.leader = Some(ProcessId::from_index(leader));
                    config.clients_per_region = 3;
                    config.commands_per_client = 20;
                    config.delay = DelayOptions { intra_region: IntraRegionDelay::Zero, ..DelayOptions::default() };
                    config.workload = Workload {
                        keys: KeyDistribution::ConflictPool { conflict_rate: 0.0, hot_keys: 1 },
                        read_ratio,
                        ..Workload::default()
                    };
                    config.check().expect("valid config");
                    ProtocolName::DeferredUpdate.check(sites.len(), f).expect("valid f");
                    let report = ProtocolName::DeferredUpdate.run(&config);
                    assert_eq!(report.incomplete_clients, 0);
                    assert!(report.verdict.passed(), "{}", report.verdict);
                    let simulated: Vec<u64> = client_regions
                        .iter()
                        .map(|&x| report.regions.iter().find(|r| r.region == x).expect("a region").latency.mean_ns)
                        .collect();
                    let expected =
                        deferred_update_latency_ns(&matrix, sites, &client_regions, leader, f, read_ratio > 0.0);
                    assert_eq!(simulated, expected, "sites {sites:?}, leader {leader}, f {f}, reads {read_ratio}");
                    cases += 1;
                }
            }
        }
    }
    assert_eq!(cases, 2 * 2 * (1 + 2));
}

/// chain-replication.md §9 (CRAQ): a read of a clean key costs `d(X,S) +
/// d(S,X)`, 0 for a client co-located with its process S, head, middle or
/// tail; read down the chain (the default) it costs an update's §5
/// latency. Reads only, conflict-free and on one (never written) key.
#[test]
fn chain_craq_clean_reads_meet_their_formula() {
    let matrix = gcp();
    let craq = ProtocolOptions {
        chain: protocols::chain::Options { reads: protocols::chain::ReadMode::Craq, ..Default::default() },
        ..Default::default()
    };
    for sites in [SITES_3, SITES_5] {
        for leader in [0, sites.len() - 1] {
            for conflict_rate in [0.0, 1.0] {
                let chain = ProtocolName::Chain;
                let local =
                    simulated_latency_for_reads_ns(chain, &craq, &matrix, sites, (leader, 1), conflict_rate, 1.0);
                assert_eq!(local, vec![0; sites.len()], "CRAQ, sites {sites:?}, head {leader}");
                let options = ProtocolOptions::default();
                let down =
                    simulated_latency_for_reads_ns(chain, &options, &matrix, sites, (leader, 1), conflict_rate, 1.0);
                assert_eq!(down, chain_latency_ns(&matrix, sites, leader), "sites {sites:?}, head {leader}");
            }
        }
    }
}

/// VR with witnesses (vr.md §11): the actives are the `f + 1` sites from
/// the leader on (wrapping), and the primary waits for every active
/// backup, so `d(X,P) + 2·max{d(P,a) : a active} + d(P,X)`: d_{f+1} over
/// the actives only. Clients at witness sites are answered by their
/// witness at commit, with the same formula.
fn vr_witnesses_latency_ns(matrix: &Matrix, sites: &[&str], leader: usize, f: usize) -> Vec<u64> {
    let leader_region = sites[leader];
    let replication = (1..=f).map(|k| rt(matrix, leader_region, sites[(leader + k) % sites.len()])).max().unwrap_or(0);
    sites.iter().map(|&site| d(matrix, site, leader_region) + replication + d(matrix, leader_region, site)).collect()
}

/// VR with witnesses on 3 and 5 GCP sites, leader at the first and at the
/// last site, f = 1 and 2, conflict-free and all on one key.
#[test]
fn vr_with_witnesses_meets_its_formula() {
    let matrix = gcp();
    let options =
        ProtocolOptions { vr: protocols::vr::Options { witnesses: true, ..Default::default() }, ..Default::default() };
    let mut cases = 0;
    for sites in [SITES_3, SITES_5] {
        for leader in [0, sites.len() - 1] {
            for f in 1..=2.min(sites.len() / 2) {
                for conflict_rate in [0.0, 1.0] {
                    let expected = vr_witnesses_latency_ns(&matrix, sites, leader, f);
                    let simulated = simulated_mean_latency_with_ns(
                        ProtocolName::Vr,
                        &options,
                        &matrix,
                        sites,
                        leader,
                        f,
                        conflict_rate,
                    );
                    assert_eq!(simulated, expected, "sites {sites:?}, leader {leader}, f {f}");
                    cases += 1;
                }
            }
        }
    }
    assert_eq!(cases, 2 * (2 + 4));
}
