//! `cargo xtask bench`: how fast the simulator itself is.
//!
//! Builds `sim` in release mode, runs each benchmark case a few times and
//! prints the median wall time with simulated events/s, simulated
//! commands/s and peak memory, as reported by `sim --perf`. Numbers depend
//! on the machine and its load; nothing here is asserted.

use std::path::Path;
use std::process::Command;

/// One benchmark case: a name, the `sim` arguments and any extra ones.
struct Case {
    name: &'static str,
    args: &'static [&'static str],
    extra: &'static [&'static str],
}

/// The FPaxos run of the engine issue: the five GCP sites of the Tempo
/// paper, 1,024 closed-loop clients per site, 100 commands each, 2%
/// conflicts, jitter on.
const FPAXOS: &[&str] = &[
    "--protocol",
    "fpaxos",
    "--f",
    "1",
    "--sites",
    "asia-south1,europe-north1,southamerica-east1,australia-southeast1,europe-west1",
    "--clients-per-region",
    "1024",
    "--commands-per-client",
    "100",
    "--conflict-percent",
    "2",
    "--jitter",
    "on",
];

/// With the verdict's checks (as every run has them), and without (the
/// engine alone).
const CASES: &[Case] = &[
    Case {
        name: "fpaxos f=1, 5 GCP sites, 1024 clients/site x 100 commands, 2% conflicts, jitter on",
        args: FPAXOS,
        extra: &[],
    },
    Case {
        name: "the same, order and linearizability checks off (engine alone)",
        args: FPAXOS,
        extra: &["--check", "off"],
    },
];

/// Runs every case `repeat` times.
pub(crate) fn run(workspace: &Path, repeat: usize) -> Result<(), String> {
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
    for case in CASES {
        println!("{}", case.name);
        println!("  sim {} {}", case.args.join(" "), case.extra.join(" "));
        let mut runs = Vec::new();
        for _ in 0..repeat.max(1) {
            let output = Command::new(&sim)
                .args(case.args)
                .args(case.extra)
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
