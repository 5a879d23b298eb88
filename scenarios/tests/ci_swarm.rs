//! The CI-sized fault swarm: 50 seeds of every protocol (25 at 100% and
//! 25 at 10% conflicts), with the faults `cargo xtask swarm` draws for it
//! (`FaultMenu::of`: crashes within f, healing partitions, slow links,
//! loss and duplication for a protocol with recovery and for 2PC; crashes
//! and restarts only for 3PC; slow links only for the others). The 1,000-seed swarms are `cargo xtask swarm`'s; this one
//! keeps every protocol's recovery honest on each push. A failure names
//! the seeds, which replay with `cargo xtask swarm --protocol P
//! --first-seed S --seeds 1 --conflicts C` (and the commands per client
//! below).

use protocols::ProtocolName;
use scenarios::swarm::{self, SwarmOptions};
use std::path::Path;

const SEEDS_PER_CONFLICT_RATE: u64 = 25;

/// The failing seeds of `protocol`'s CI swarm, in words.
fn swarm_failures(protocol: ProtocolName) -> Vec<String> {
    let pool = scenarios::scenario::sweep::pool(1).expect("a thread pool");
    let mut failures = Vec::new();
    for conflict_percent in [100.0, 10.0] {
        let options = SwarmOptions {
            protocol,
            seeds: SEEDS_PER_CONFLICT_RATE,
            first_seed: 1,
            conflict_percent,
            f: 1,
            commands_per_client: swarm::default_commands_per_client(protocol),
            protocol_options: Vec::new(),
            read_percent: 30.0,
        };
        let scenario = swarm::load(&options, Path::new("ci-swarm.toml")).expect("the swarm scenario is valid");
        let result = swarm::run(&options, &scenario, &pool);
        assert_eq!(result.passed + result.failed.len() as u64, SEEDS_PER_CONFLICT_RATE);
        let menu = swarm::FaultMenu::of(protocol);
        assert_eq!(result.tested.contains("crashes"), menu.crashes, "{protocol}: {}", result.tested);
        assert_eq!(result.tested.contains("partitions"), menu.network, "{protocol}: {}", result.tested);
        failures.extend(
            result.failed.iter().map(|f| format!("{protocol} {conflict_percent}% seed {}: {}", f.seed, f.verdict)),
        );
    }
    failures
}

#[test]
fn every_protocol_passes_its_ci_swarm() {
    let failed: Vec<String> = ProtocolName::ALL.iter().flat_map(|&protocol| swarm_failures(protocol)).collect();
    assert!(failed.is_empty(), "{} failing run(s):\n{}", failed.len(), failed.join("\n"));
}
