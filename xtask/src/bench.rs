//! `cargo xtask bench`: how fast the simulator itself is.
//!
//! Builds `sim` in release mode, runs each benchmark case a few times and
//! prints the median wall time with simulated events/s, simulated
//! commands/s and peak memory, as reported by `sim --perf`. Numbers depend
//! on the machine and its load; nothing here is asserted.

use std::path::Path;
use std::process::Command;

/// One benchmark case: a name and the `sim` arguments.
struct Case {
    name: String,
    args: Vec<String>,
}

/// The five GCP sites of the Tempo paper (the first issue's benchmark).
const SITES: &str = "asia-south1,europe-north1,southamerica-east1,australia-southeast1,europe-west1";

/// A run on [`SITES`] with jitter on.
fn case(protocol: &str, f: u32, clients: u32, conflict_percent: u32, extra: &[&str]) -> Case {
    let mut name = format!(
        "{protocol} f={f}, 5 GCP sites, {clients} clients/site x 100 commands, {conflict_percent}% conflicts, jitter on"
    );
    if !extra.is_empty() {
        name.push_str(&format!(" ({})", extra.join(" ")));
    }
    let mut args: Vec<String> = [
        "--protocol",
        protocol,
        "--f",
        &f.to_string(),
        "--sites",
        SITES,
        "--clients-per-region",
        &clients.to_string(),
        "--commands-per-client",
        "100",
        "--conflict-percent",
        &conflict_percent.to_string(),
        "--jitter",
        "on",
    ]
    .map(String::from)
    .to_vec();
    args.extend(extra.iter().map(|s| s.to_string()));
    Case { name, args }
}

/// The engine's FPaxos run with and without the verdict's checks (the
/// engine alone), then the leaderless runs of the second issue, with
/// checks on as every run has them.
fn cases() -> Vec<Case> {
    vec![
        case("fpaxos", 1, 1024, 2, &[]),
        case("fpaxos", 1, 1024, 2, &["--check", "off"]),
        case("tempo", 1, 256, 2, &[]),
        case("atlas", 1, 256, 2, &[]),
        case("epaxos", 1, 256, 2, &[]),
        case("atlas", 2, 32, 10, &[]),
        case("epaxos", 2, 32, 10, &[]),
        case("caesar", 1, 256, 2, &[]),
    ]
}

/// Runs every case whose name contains `filter` `repeat` times.
pub(crate) fn run(workspace: &Path, repeat: usize, filter: Option<&str>) -> Result<(), String> {
    let status = Command::new(env!("CARGO"))
        .args(["build", "--release", "--quiet", "-p", "scenarios", "--bin", "sim"])
        .current_dir(workspace)
        .status()
        .map_err(|e| format!("cannot run cargo: {e}"))?;
    if !status.success() {
        return Err("building sim in release mode failed".into());
    }
    let sim = workspace.join("target/release/sim");
    let out_dir = std::env::temp_dir().join(format!("planetsim-bench-{}", std::process::id()));
    let cases: Vec<Case> = cases().into_iter().filter(|c| filter.is_none_or(|f| c.name.contains(f))).collect();
    if cases.is_empty() {
        let names: Vec<String> = self::cases().into_iter().map(|c| c.name).collect();
        return Err(format!(
            "no benchmark case matches \"{}\"; cases:\n  {}",
            filter.unwrap_or(""),
            names.join("\n  ")
        ));
    }
    for case in &cases {
        println!("{}", case.name);
        println!("  sim {}", case.args.join(" "));
        let mut runs = Vec::new();
        for _ in 0..repeat.max(1) {
            let output = Command::new(&sim)
                .args(&case.args)
                .arg("--perf")
                .arg("--out")
                .arg(out_dir.join("bench.csv"))
                .output()
                .map_err(|e| format!("cannot run {}: {e}", sim.display()))?;
            if !output.status.success() {
                return Err(format!("sim failed: {}", String::from_utf8_lossy(&output.stderr)));
            }
            let stderr = String::from_utf8_lossy(&output.stderr);
            let perf = stderr.lines().find(|line| line.starts_with("perf: ")).ok_or("sim printed no perf line")?;
            let wall_s: f64 = perf
                .strip_prefix("perf: wall ")
                .and_then(|rest| rest.split_whitespace().next())
                .and_then(|seconds| seconds.parse().ok())
                .ok_or_else(|| format!("cannot read the wall time in {perf:?}"))?;
            println!("  run {}: {}", runs.len() + 1, perf.trim_start_matches("perf: "));
            runs.push((wall_s, perf.to_string()));
        }
        runs.sort_by(|a, b| a.0.total_cmp(&b.0));
        let median = &runs[runs.len() / 2];
        println!("  median: {}", median.1.trim_start_matches("perf: "));
    }
    let _ = std::fs::remove_dir_all(&out_dir);
    Ok(())
}
