//! `cargo xtask swarm`: seeded random fault schedules with contention,
//! PASS/FAIL counts, and the command line that replays each failure.

use protocols::ProtocolName;
use scenarios::swarm::{self, SwarmOptions};
use std::path::Path;

/// Runs the swarm; `Ok(false)` if any seed failed.
pub(crate) fn run(root: &Path, options: &SwarmOptions, threads: usize) -> Result<bool, String> {
    let folder = root.join("target").join("swarm");
    std::fs::create_dir_all(&folder).map_err(|e| format!("cannot create {}: {e}", folder.display()))?;
    let suffix: String = options
        .protocol_options
        .iter()
        .map(|option| {
            format!("-{}", option.chars().filter(|c| c.is_ascii_alphanumeric() || *c == '=').collect::<String>())
        })
        .collect();
    let path = folder.join(format!("{}-c{}-f{}{suffix}.toml", options.protocol, options.conflict_percent, options.f));
    let text = swarm::scenario_text(options);
    std::fs::write(&path, &text).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    let scenario = swarm::load(options, &path).map_err(|e| e.to_string())?;
    let pool = scenarios::scenario::sweep::pool(threads).map_err(|e| e.to_string())?;
    #[allow(clippy::disallowed_methods)] // wall time of the swarm, printed only
    let started = std::time::Instant::now();
    let result = swarm::run(options, &scenario, &pool);
    let wall = started.elapsed().as_secs_f64();
    let with = if options.protocol_options.is_empty() {
        String::new()
    } else {
        format!(" ({})", options.protocol_options.join(", "))
    };
    println!(
        "swarm {}{with} f={} conflicts {}% seeds {}..={}: {} PASS, {} FAIL in {wall:.1} s",
        options.protocol,
        options.f,
        options.conflict_percent,
        options.first_seed,
        options.first_seed + options.seeds - 1,
        result.passed,
        result.failed.len()
    );
    println!("faults drawn: {}", result.tested);
    if result.blocked > 0 {
        println!(
            "blocked (commands unanswered at the time limit, which the promise allows): {} run(s)",
            result.blocked
        );
    }
    println!(
        "unrecoverable (more than f replicas crashed or recovering at once, protocols without disk): {} run(s)",
        result.unrecoverable
    );
    if !result.blocked_after_restarts.is_empty() {
        println!(
            "  of which every crashed process restarted (seeds {:?}): blocked though nobody stayed down",
            result.blocked_after_restarts
        );
    }
    if result.diverged > 0 {
        println!("diverged (replica order or atomicity, outside the promise, measured): {} run(s)", result.diverged);
    }
    println!("checked: {}", result.checked);
    if !result.not_tested.is_empty() {
        println!("not tested: {}", result.not_tested);
    }
    for failure in &result.failed {
        println!("FAIL seed {}: {}", failure.seed, failure.verdict);
        for fault in &failure.schedule {
            println!("    {fault}");
        }
        println!("  replay: cargo run --release --bin sim -- --scenario {} --seed {}", path.display(), failure.seed);
    }
    Ok(result.failed.is_empty())
}

/// The protocol named `name`.
pub(crate) fn protocol(name: &str) -> Result<ProtocolName, String> {
    name.parse::<ProtocolName>().map_err(|e| e.to_string())
}
