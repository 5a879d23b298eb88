//! End-to-end tests of `sim --scenario`: the real binary, run from a fresh
//! temporary directory outside the repository, on the library's `smoke`
//! scenario (found by name) or on files written into that directory.

use std::path::Path;
use std::process::{Command, Output};

/// Runs `sim` in `dir` with `args`.
fn sim(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_sim")).current_dir(dir).args(args).output().expect("sim starts")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[track_caller]
fn expect_code(output: &Output, code: i32) {
    assert_eq!(
        output.status.code(),
        Some(code),
        "stdout:\n{}\nstderr:\n{}",
        text(&output.stdout),
        text(&output.stderr)
    );
    assert!(!text(&output.stderr).contains("panicked"), "{}", text(&output.stderr));
}

#[test]
fn smoke_scenario_by_name_writes_rows_and_manifest() {
    let dir = tempfile::tempdir().unwrap();
    let output = sim(dir.path(), &["--scenario", "smoke", "--threads", "2"]);
    expect_code(&output, 0);
    let stdout = text(&output.stdout);
    assert!(stdout.contains("scenario smoke (library:smoke) | seeds 1,2 | 4 point(s) x 2 seed(s)"), "{stdout}");
    assert!(stdout.contains("point 0: tempo f=1 n=3"), "{stdout}");
    // Default output folder: results/<scenario name>/ in the working directory.
    let folder = dir.path().join("results").join("smoke");
    let csv = std::fs::read_to_string(folder.join("runs.csv")).expect("runs.csv written");
    let mut lines = csv.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    assert_eq!(header[..5], ["point", "placement", "conflict_percent", "clients_per_region", "commands_per_client"]);
    assert!(header.contains(&"latency_ms_p99_9") && header.contains(&"fast_paths") && header.ends_with(&["verdict"]));
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split(',').collect()).collect();
    // 4 points x 2 seeds x (3 client regions + all).
    assert_eq!(rows.len(), 4 * 2 * 4);
    assert!(rows.iter().all(|r| r.len() == header.len() && r.last() == Some(&"PASS")));
    let region = header.iter().position(|c| *c == "region").unwrap();
    assert_eq!(rows.iter().filter(|r| r[region] == "all").count(), 8);
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(folder.join("manifest.json")).unwrap()).unwrap();
    assert_eq!(manifest["scenario"], "smoke");
    assert_eq!(manifest["seeds"], serde_json::json!([1, 2]));
    assert_eq!(manifest["planetsim_version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(manifest["points"].as_array().unwrap().len(), 4);
}

#[test]
fn outputs_are_byte_identical_for_one_and_two_threads() {
    let dir = tempfile::tempdir().unwrap();
    let mut outputs = Vec::new();
    for threads in ["1", "2"] {
        let out = format!("out-{threads}");
        let output = sim(dir.path(), &["--scenario", "smoke", "--threads", threads, "--out", &out]);
        expect_code(&output, 0);
        let folder = dir.path().join(&out);
        let read = |name: &str| std::fs::read(folder.join(name)).unwrap();
        outputs.push((read("runs.csv"), read("latency-cdf.csv"), read("manifest.json")));
    }
    assert!(outputs[0] == outputs[1], "runs.csv, latency-cdf.csv or manifest.json differ between --threads 1 and 2");
}

#[test]
fn a_scenario_file_runs_and_a_bad_one_exits_2_with_positions() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("mine.toml"),
        "# tiny\nsites = [\"us-central1\", \"europe-west1\", \"asia-east1\"]\nprotocols = \"atlas\"\n\
         clients_per_region = 1\ncommands_per_client = 5\n",
    )
    .unwrap();
    let output = sim(dir.path(), &["--scenario", "mine.toml"]);
    expect_code(&output, 0);
    assert!(dir.path().join("results/mine/runs.csv").is_file());

    std::fs::write(dir.path().join("bad.toml"), "protocols = [\"tempo\", \"atlsa\"]\nf = 0\nsites = \"x\"\n").unwrap();
    let output = sim(dir.path(), &["--scenario", "bad.toml"]);
    expect_code(&output, 2);
    let stderr = text(&output.stderr);
    for needle in ["bad.toml:1:23: protocols: unknown protocol \"atlsa\"", "bad.toml:2:5: f:", "bad.toml:3:9: sites:"] {
        assert!(stderr.contains(needle), "{needle:?} missing in\n{stderr}");
    }
    assert!(!dir.path().join("results").join("bad").exists());
}

#[test]
fn unknown_scenario_name_suggests_and_list_shows_questions() {
    let dir = tempfile::tempdir().unwrap();
    let output = sim(dir.path(), &["--scenario", "smok"]);
    expect_code(&output, 2);
    let stderr = text(&output.stderr);
    assert!(stderr.contains("did you mean \"smoke\"?") && stderr.contains("tempo-vs-atlas"), "{stderr}");
    let output = sim(dir.path(), &["--list-scenarios"]);
    expect_code(&output, 0);
    let stdout = text(&output.stdout);
    assert!(stdout.lines().any(|l| l.starts_with("tempo-vs-atlas") && l.contains("How do Tempo")), "{stdout}");
    assert!(stdout.lines().any(|l| l.starts_with("smoke")), "{stdout}");
}

#[test]
fn run_flags_conflict_with_a_scenario() {
    let dir = tempfile::tempdir().unwrap();
    let output = sim(dir.path(), &["--scenario", "smoke", "--protocol", "tempo"]);
    expect_code(&output, 2);
    assert!(text(&output.stderr).contains("cannot be used with"), "{}", text(&output.stderr));
}

#[test]
fn a_failing_point_exits_1_after_writing_its_rows() {
    let dir = tempfile::tempdir().unwrap();
    // 100 commands of about 150 ms each cannot finish in 1 simulated second.
    std::fs::write(
        dir.path().join("slow.toml"),
        "# too short\nsites = [\"us-central1\", \"europe-west1\", \"asia-east1\"]\nprotocols = \"fpaxos\"\n\
         clients_per_region = 1\ncommands_per_client = 100\nmax_time_s = 1\n",
    )
    .unwrap();
    let output = sim(dir.path(), &["--scenario", "slow.toml"]);
    expect_code(&output, 1);
    assert!(text(&output.stderr).contains("FAIL: 1 of 1 run(s)"), "{}", text(&output.stderr));
    let csv = std::fs::read_to_string(dir.path().join("results/slow/runs.csv")).unwrap();
    assert!(csv.lines().skip(1).all(|l| l.ends_with(",FAIL")), "{csv}");
}

#[test]
fn a_matrix_file_is_found_relative_to_the_scenario_file() {
    let dir = tempfile::tempdir().unwrap();
    let sub = dir.path().join("sub");
    std::fs::create_dir(&sub).unwrap();
    let gcp = Path::new(env!("CARGO_MANIFEST_DIR")).join("../latency-data/data/gcp.csv");
    std::fs::copy(gcp, sub.join("my.csv")).unwrap();
    std::fs::write(
        sub.join("s.toml"),
        "# own matrix\nmatrix = \"my.csv\"\nsites = [\"us-central1\", \"europe-west1\", \"asia-east1\"]\n\
         protocols = \"tempo\"\nclients_per_region = 1\ncommands_per_client = 3\n",
    )
    .unwrap();
    // Run from the parent folder: the path is taken from the file's folder.
    let output = sim(dir.path(), &["--scenario", "sub/s.toml"]);
    expect_code(&output, 0);
    assert!(dir.path().join("results/s/runs.csv").is_file());

    std::fs::write(sub.join("t.toml"), "protocols = \"tempo\"\nmatrix = \"missing.csv\"\n").unwrap();
    let output = sim(dir.path(), &["--scenario", "sub/t.toml"]);
    expect_code(&output, 2);
    assert!(text(&output.stderr).contains("sub/t.toml:2:10: matrix:"), "{}", text(&output.stderr));
}

/// Figure files `sim` drew in `folder`, sorted.
fn figure_files(folder: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(folder.join("figures"))
        .expect("figures folder")
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn a_sweep_draws_its_figures_and_sim_plot_redraws_them() {
    let dir = tempfile::tempdir().unwrap();
    let output = sim(dir.path(), &["--scenario", "smoke", "--out", "out"]);
    expect_code(&output, 0);
    let folder = dir.path().join("out");
    let cdf = std::fs::read_to_string(folder.join("latency-cdf.csv")).unwrap();
    let header = cdf.lines().next().unwrap();
    assert!(header.starts_with("point,protocol,f,") && header.ends_with(",quantile,latency_ms"), "{header}");
    // 4 points x 2 seeds x 33 quantiles.
    assert_eq!(cdf.lines().count() - 1, 4 * 2 * sim_core::metrics::DISTRIBUTION_QUANTILES.len());
    // The smoke sweep has two conflict rates and one client count: bars and
    // CDFs per conflict rate, fast path versus conflict, the heat map.
    let expected: Vec<String> = [
        "fast-path-vs-conflict",
        "latency-by-region-conflict0",
        "latency-by-region-conflict50",
        "latency-cdf-conflict0",
        "latency-cdf-conflict50",
        "rtt-heatmap",
    ]
    .iter()
    .flat_map(|stem| [format!("{stem}.png"), format!("{stem}.svg")])
    .collect();
    assert_eq!(figure_files(&folder), expected);
    let stdout = text(&output.stdout);
    assert!(stdout.contains("drew 6 figure(s) as SVG and PNG in out/figures"), "{stdout}");
    assert!(stdout.contains("skipped tail-vs-clients: the sweep has one client count"), "{stdout}");
    for name in &expected {
        let bytes = std::fs::read(folder.join("figures").join(name)).unwrap();
        assert!(bytes.len() > 5_000, "{name} has only {} bytes", bytes.len());
        if name.ends_with(".png") {
            assert!(bytes.starts_with(b"\x89PNG\r\n\x1a\n"), "{name} is not a PNG");
        } else {
            assert!(bytes.starts_with(b"<svg"), "{name} is not an SVG");
        }
    }

    // Redrawing from the files alone gives the same figures.
    let before = std::fs::read(folder.join("figures/latency-cdf-conflict0.svg")).unwrap();
    std::fs::remove_dir_all(folder.join("figures")).unwrap();
    let output = sim(dir.path(), &["plot", "out"]);
    expect_code(&output, 0);
    assert_eq!(figure_files(&folder), expected);
    assert!(std::fs::read(folder.join("figures/latency-cdf-conflict0.svg")).unwrap() == before);
}

#[test]
fn sim_plot_on_a_folder_without_results_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    let output = sim(dir.path(), &["plot", "nowhere"]);
    expect_code(&output, 2);
    let stderr = text(&output.stderr);
    assert!(stderr.contains("nowhere/manifest.json") && stderr.contains("sim --scenario"), "{stderr}");
    let output = sim(dir.path(), &["--sites", "us-central1,europe-west1,asia-east1", "plot", "x"]);
    expect_code(&output, 2);
}
