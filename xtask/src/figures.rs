//! `cargo xtask figures`: every figure of the scenario library in one
//! folder.
//!
//! Builds `sim` in release mode, runs each library scenario
//! (`scenarios/library/*.toml`, by name) into
//! `target/figures-runs/<scenario>/`, and copies the figures `sim` drew
//! there into the output folder as `<scenario>-<figure>.{png,svg}`,
//! replacing that scenario's earlier copies.

use std::path::Path;
use std::process::{Command, Stdio};

/// Runs every library scenario and collects its figures into `out`.
pub(crate) fn run(workspace: &Path, out: &Path) -> Result<(), String> {
    let status = Command::new(env!("CARGO"))
        .args(["build", "--release", "--quiet", "-p", "scenarios", "--bin", "sim"])
        .current_dir(workspace)
        .status()
        .map_err(|e| format!("cannot run cargo: {e}"))?;
    if !status.success() {
        return Err("building sim in release mode failed".into());
    }
    let sim = workspace.join("target/release/sim");
    let scenarios = library(&workspace.join("scenarios/library"))?;
    std::fs::create_dir_all(out).map_err(|e| format!("cannot create {}: {e}", out.display()))?;
    let mut copied = 0;
    for name in &scenarios {
        let results = workspace.join("target/figures-runs").join(name);
        println!("{name}: sim --scenario {name} --out {}", results.display());
        // The sweep's table goes to a log beside its results, not the
        // terminal; errors still show.
        std::fs::create_dir_all(&results).map_err(|e| format!("cannot create {}: {e}", results.display()))?;
        let log = results.join("sim-output.txt");
        let log_file = std::fs::File::create(&log).map_err(|e| format!("cannot write {}: {e}", log.display()))?;
        let status = Command::new(&sim)
            .args(["--scenario", name, "--out"])
            .arg(&results)
            .stdout(Stdio::from(log_file))
            .status()
            .map_err(|e| format!("cannot run {}: {e}", sim.display()))?;
        if !status.success() {
            return Err(format!("sim --scenario {name} failed ({status}); its output is in {}", log.display()));
        }
        remove_copies(out, name, &scenarios)?;
        let figures = results.join("figures");
        let mut files: Vec<_> = std::fs::read_dir(&figures)
            .map_err(|e| format!("cannot read {}: {e}", figures.display()))?
            .map(|entry| entry.map(|e| e.path()))
            .collect::<Result<_, _>>()
            .map_err(|e| format!("cannot read {}: {e}", figures.display()))?;
        files.sort();
        for file in files {
            let Some(file_name) = file.file_name().map(|n| n.to_string_lossy().into_owned()) else { continue };
            let target = out.join(format!("{name}-{file_name}"));
            std::fs::copy(&file, &target).map_err(|e| format!("cannot copy to {}: {e}", target.display()))?;
            copied += 1;
        }
    }
    println!("{copied} file(s) from {} scenario(s) in {}", scenarios.len(), out.display());
    Ok(())
}

/// Names of the library scenarios: the `.toml` files of `folder`, sorted.
fn library(folder: &Path) -> Result<Vec<String>, String> {
    let entries = std::fs::read_dir(folder).map_err(|e| format!("cannot read {}: {e}", folder.display()))?;
    let mut names = Vec::new();
    for entry in entries {
        let path = entry.map_err(|e| format!("cannot read {}: {e}", folder.display()))?.path();
        if path.extension().is_some_and(|e| e == "toml")
            && let Some(stem) = path.file_stem()
        {
            names.push(stem.to_string_lossy().into_owned());
        }
    }
    names.sort();
    Ok(names)
}

/// Removes `out`'s figures of scenario `name` from an earlier run, so a
/// figure the sweep no longer draws does not linger; files of another
/// scenario whose name starts with `name-` are kept.
fn remove_copies(out: &Path, name: &str, scenarios: &[String]) -> Result<(), String> {
    let prefix = format!("{name}-");
    let longer: Vec<String> = scenarios.iter().filter(|s| s.starts_with(&prefix)).map(|s| format!("{s}-")).collect();
    for entry in std::fs::read_dir(out).map_err(|e| format!("cannot read {}: {e}", out.display()))? {
        let path = entry.map_err(|e| format!("cannot read {}: {e}", out.display()))?.path();
        let file_name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let figure = file_name.ends_with(".png") || file_name.ends_with(".svg");
        let ours = file_name.starts_with(&prefix) && !longer.iter().any(|l| file_name.starts_with(l));
        if figure && ours {
            std::fs::remove_file(&path).map_err(|e| format!("cannot remove {}: {e}", path.display()))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_scenarios_own_earlier_figures_are_removed() {
        let dir = tempfile::tempdir().unwrap();
        for file in
            ["tempo-latency-cdf.png", "tempo-vs-atlas-latency-cdf.png", "tempo-notes.txt", "smoke-rtt-heatmap.svg"]
        {
            std::fs::write(dir.path().join(file), "x").unwrap();
        }
        let scenarios = ["smoke".to_string(), "tempo".to_string(), "tempo-vs-atlas".to_string()];
        remove_copies(dir.path(), "tempo", &scenarios).unwrap();
        let mut left: Vec<String> =
            std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into()).collect();
        left.sort();
        assert_eq!(left, ["smoke-rtt-heatmap.svg", "tempo-notes.txt", "tempo-vs-atlas-latency-cdf.png"]);
    }

    #[test]
    fn the_library_is_the_toml_files() {
        let dir = tempfile::tempdir().unwrap();
        for file in ["b.toml", "a.toml", "README.md"] {
            std::fs::write(dir.path().join(file), "").unwrap();
        }
        assert_eq!(library(dir.path()).unwrap(), ["a", "b"]);
    }
}
