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
    assert_eq!(
        header[..7],
        [
            "point",
            "placement",
            "conflict_percent",
            "clients_per_region",
            "arrival_rate_per_region",
            "faults",
            "commands_per_client"
        ]
    );
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
    let revision = manifest["git_revision"].as_str().unwrap();
    assert!(revision == "unknown" || revision.len() == 40, "{revision}");

    // summary.csv: one row per point, aggregated over the 2 seeds.
    let summary = std::fs::read_to_string(folder.join("summary.csv")).expect("summary.csv written");
    let mut lines = summary.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let column = |name: &str| header.iter().position(|c| *c == name).unwrap_or_else(|| panic!("{name} missing"));
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split(',').collect()).collect();
    assert_eq!(rows.len(), 4);
    assert!(rows.iter().all(|r| r[column("seeds")] == "2" && r[column("verdict")] == "PASS"));
    // 3 regions x 2 clients x 10 commands x 2 seeds.
    assert!(rows.iter().all(|r| r[column("commands")] == "120"), "{summary}");
    assert_eq!(rows[0][column("protocol")], "tempo");
    assert_eq!(rows[2][column("fast_path_ratio")], "", "FPaxos has no fast path");
    for name in ["latency_ms_mean", "latency_ms_p50", "latency_ms_p99", "latency_ms_p99_9", "throughput_ops_per_s"] {
        assert!(rows.iter().all(|r| r[column(name)].parse::<f64>().unwrap() > 0.0), "{name}: {summary}");
    }

    // The per-point table on stdout; progress on stderr, one line per run
    // (stderr is not a terminal here).
    assert!(stdout.contains("point protocol         f sites conflict% clients seeds"), "{stdout}");
    assert!(!stdout.contains("run 8/8 done"), "{stdout}");
    let stderr = text(&output.stderr);
    assert_eq!(
        stderr.lines().filter(|l| l.starts_with("run ") && l.contains("/8 done (point ")).count(),
        8,
        "{stderr}"
    );
    assert!(stderr.contains("run 8/8 done"), "{stderr}");
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
        outputs.push((
            read("runs.csv"),
            read("summary.csv"),
            read("manifest.json"),
            output.stdout,
            read("latency-cdf.csv"),
        ));
    }
    let (one, two) = (&outputs[0], &outputs[1]);
    assert!(
        one.0 == two.0 && one.1 == two.1 && one.2 == two.2 && one.4 == two.4,
        "an output file differs between --threads 1 and 2"
    );
    // stdout differs only in its first line, which names the thread count,
    // and in the output folder named by the last lines.
    let results = |bytes: &[u8]| {
        text(bytes)
            .lines()
            .skip(1)
            .filter(|l| !l.starts_with("wrote ") && !l.starts_with("drew "))
            .collect::<Vec<_>>()
            .join("\n")
    };
    assert_eq!(results(&one.3), results(&two.3));
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
    let output = sim(dir.path(), &["list"]);
    expect_code(&output, 0);
    let stdout = text(&output.stdout);
    assert!(stdout.lines().any(|l| l.starts_with("tempo-vs-atlas") && l.contains("How do Tempo")), "{stdout}");
    assert!(stdout.lines().any(|l| l.starts_with("smoke")), "{stdout}");
    // The old flag still works, and prints the same.
    let output = sim(dir.path(), &["--list-scenarios"]);
    expect_code(&output, 0);
    assert_eq!(text(&output.stdout), stdout);
}

#[test]
fn a_subcommand_takes_no_run_flags() {
    let dir = tempfile::tempdir().unwrap();
    let output = sim(dir.path(), &["--protocol", "tempo", "list"]);
    expect_code(&output, 2);
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

#[test]
fn set_and_seed_override_the_scenario_and_are_recorded() {
    let dir = tempfile::tempdir().unwrap();
    let output = sim(
        dir.path(),
        &["--scenario", "smoke", "--set", "workload.conflict_percent=[100]", "--set", "protocols=atlas", "--seed", "7"],
    );
    expect_code(&output, 0);
    let stdout = text(&output.stdout);
    assert!(stdout.contains("| seeds 7 | 1 point(s) x 1 seed(s)"), "{stdout}");
    assert!(
        stdout.contains("overrides: --set workload.conflict_percent=[100] --set protocols=atlas --seed 7"),
        "{stdout}"
    );
    assert!(stdout.contains("point 0: atlas f=1 n=3") && stdout.contains("conflicts 100%"), "{stdout}");
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("results/smoke/manifest.json")).unwrap())
            .unwrap();
    assert_eq!(manifest["seeds"], serde_json::json!([7]));
    assert_eq!(manifest["overrides"].as_array().unwrap().len(), 3);

    // A bad override exits 2, naming itself and the nearest key.
    let output = sim(dir.path(), &["--scenario", "smoke", "--set", "workload.conflict_percnt=10"]);
    expect_code(&output, 2);
    let stderr = text(&output.stderr);
    assert!(stderr.contains("--set workload.conflict_percnt=10: unknown field `conflict_percnt`"), "{stderr}");
    assert!(stderr.contains("did you mean `conflict_percent`?"), "{stderr}");
    let output = sim(dir.path(), &["--scenario", "smoke", "--set", "f"]);
    expect_code(&output, 2);
    assert!(text(&output.stderr).contains("--set f: no `=`"), "{}", text(&output.stderr));
}

/// The output files of a finished sweep in `folder` (figures apart).
fn outputs(folder: &Path) -> Vec<Vec<u8>> {
    ["runs.csv", "summary.csv", "latency-cdf.csv", "manifest.json"]
        .iter()
        .map(|name| std::fs::read(folder.join(name)).unwrap_or_else(|e| panic!("{name}: {e}")))
        .collect()
}

#[test]
fn a_stopped_sweep_resumes_where_it_stopped_and_writes_the_same_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let output = sim(dir.path(), &["--scenario", "smoke", "--out", "whole"]);
    expect_code(&output, 0);

    let output = sim(dir.path(), &["--scenario", "smoke", "--out", "parts", "--stop-after-runs", "3"]);
    expect_code(&output, 0);
    assert!(text(&output.stderr).contains("stopped after 3 run(s)"), "{}", text(&output.stderr));
    let parts = dir.path().join("parts");
    assert!(!parts.join("runs.csv").exists() && !parts.join("manifest.json").exists());
    let recorded = std::fs::read_dir(parts.join(".points")).unwrap().count();
    assert_eq!(recorded, 3 + 1, "3 runs and the scenario");

    // A changed scenario is refused, and the journal is left as it was.
    let output = sim(dir.path(), &["--scenario", "smoke", "--out", "parts", "--resume", "--seed", "5"]);
    expect_code(&output, 2);
    let stderr = text(&output.stderr);
    assert!(
        stderr.contains("--resume: parts holds runs of a different sweep: the seeds were [1,2], now [5]"),
        "{stderr}"
    );
    assert_eq!(std::fs::read_dir(parts.join(".points")).unwrap().count(), recorded);

    let output = sim(dir.path(), &["--scenario", "smoke", "--out", "parts", "--resume", "--threads", "1"]);
    expect_code(&output, 0);
    let stderr = text(&output.stderr);
    assert!(stderr.contains("resuming: 3 of 8 run(s) already done"), "{stderr}");
    assert_eq!(stderr.lines().filter(|l| l.starts_with("run ")).count(), 5, "only the missing runs: {stderr}");
    assert!(outputs(&dir.path().join("whole")) == outputs(&parts), "resumed outputs differ from an uninterrupted run");
}

#[test]
fn a_killed_sweep_resumes_and_writes_the_same_bytes() {
    let dir = tempfile::tempdir().unwrap();
    // 30 runs of some 100 ms each (debug build) on one thread: the sweep is
    // killed long before its end.
    let seeds: Vec<String> = (1..=30).map(|s| s.to_string()).collect();
    std::fs::write(
        dir.path().join("long.toml"),
        format!(
            "# killed\nsites = [\"us-central1\", \"europe-west1\", \"asia-east1\"]\nprotocols = \"tempo\"\n\
             clients_per_region = 8\ncommands_per_client = 200\nseeds = [{}]\n[workload]\nconflict_percent = 10\n",
            seeds.join(", ")
        ),
    )
    .unwrap();
    let journal = dir.path().join("killed/.points");
    let mut child = Command::new(env!("CARGO_BIN_EXE_sim"))
        .current_dir(dir.path())
        .args(["--scenario", "long.toml", "--threads", "1", "--out", "killed"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("sim starts");
    let runs_recorded = || {
        std::fs::read_dir(&journal).map_or(0, |entries| {
            entries.filter(|e| e.as_ref().is_ok_and(|e| e.file_name().to_string_lossy().starts_with("run-"))).count()
        })
    };
    while runs_recorded() < 2 {
        assert!(child.try_wait().unwrap().is_none(), "the sweep ended before it could be killed");
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let killed = dir.path().join("killed");
    assert!(!killed.join("runs.csv").exists(), "the sweep was killed before its end");
    assert!((2..30).contains(&runs_recorded()), "{} runs recorded", runs_recorded());

    let output = sim(dir.path(), &["--scenario", "long.toml", "--out", "killed", "--resume"]);
    expect_code(&output, 0);
    assert!(text(&output.stderr).contains("run(s) already done"), "{}", text(&output.stderr));
    let output = sim(dir.path(), &["--scenario", "long.toml", "--out", "whole"]);
    expect_code(&output, 0);
    assert!(outputs(&dir.path().join("whole")) == outputs(&killed), "resumed outputs differ from an uninterrupted run");
}

#[test]
fn resume_without_a_journal_runs_everything() {
    let dir = tempfile::tempdir().unwrap();
    let output = sim(dir.path(), &["--scenario", "smoke", "--resume"]);
    expect_code(&output, 0);
    assert!(text(&output.stderr).contains("nothing to resume"), "{}", text(&output.stderr));
    assert!(dir.path().join("results/smoke/runs.csv").is_file());
}

#[test]
fn a_duration_run_measures_after_its_warm_up() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("timed.toml"),
        "# timed\nsites = [\"us-central1\", \"europe-west1\", \"asia-east1\"]\nprotocols = \"tempo\"\n\
         clients_per_region = 2\nduration_s = 3\nwarmup_s = 1\n",
    )
    .unwrap();
    let output = sim(dir.path(), &["--scenario", "timed.toml"]);
    expect_code(&output, 0);
    assert!(text(&output.stdout).contains("2 client(s)/region for 3 s (warm-up 1 s)"), "{}", text(&output.stdout));
    let csv = std::fs::read_to_string(dir.path().join("results/timed/runs.csv")).unwrap();
    let mut lines = csv.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let column = |name: &str| header.iter().position(|c| *c == name).unwrap();
    let all: Vec<&str> = lines
        .map(|l| l.split(',').collect::<Vec<_>>())
        .find(|r| r[column("region")] == "all")
        .map(|r| {
            ["commands_per_client", "duration_s", "warmup_s", "commands", "throughput_ops_per_s", "verdict"]
                .map(|name| r[column(name)])
                .to_vec()
        })
        .unwrap();
    assert_eq!(all[..3], ["", "3", "1"]);
    // Latencies count the commands submitted in [1 s, 3 s), throughput
    // those completed in [1 s, 3 s]: they differ by at most one command per
    // client (6) at either end.
    let commands: f64 = all[3].parse().unwrap();
    let throughput: f64 = all[4].parse().unwrap();
    assert!(commands >= 6.0 * 2.0 / 0.4, "each client completes a command in under 400 ms: {all:?}");
    assert!((throughput * 2.0 - commands).abs() <= 12.0, "{all:?}");
    assert_eq!(all[5], "PASS");

    // The same from the command line, for a single run.
    let output = sim(dir.path(), &["--protocol", "tempo", "--duration-s", "3", "--warmup-s", "1", "--out", "one.csv"]);
    expect_code(&output, 0);
    assert!(text(&output.stdout).contains("throughput") && text(&output.stdout).contains("from 1 s to 3 s"));
    let output = sim(dir.path(), &["--warmup-s", "1"]);
    expect_code(&output, 2);
}

/// Issue 4's acceptance: each kind of bad scenario file exits 2 with a
/// `file:line:column:` message saying what is wrong, and writes nothing.
#[test]
fn each_kind_of_bad_file_exits_2_at_its_position() {
    let dir = tempfile::tempdir().unwrap();
    const SITES: &str = "sites = [\"us-central1\", \"europe-west1\", \"asia-east1\"]\n";
    let cases: [(&str, String, &str); 7] = [
        (
            "unknown-key",
            format!("{SITES}protocols = \"tempo\"\nclients_per_regoin = 2\n"),
            "3:1: unknown field `clients_per_regoin`",
        ),
        (
            "wrong-type",
            format!("{SITES}protocols = \"tempo\"\ncommands_per_client = \"ten\"\n"),
            "3:23: invalid type: string \"ten\", expected a non-negative integer",
        ),
        (
            "wrong-type-in-axis",
            format!("{SITES}protocols = \"tempo\"\nclients_per_region = [1, \"two\"]\n"),
            "3:22: clients_per_region: \"two\" is not valid",
        ),
        (
            "unknown-region",
            "sites = [\"us-central1\", \"europe-wset1\", \"asia-east1\"]\nprotocols = \"tempo\"\n".into(),
            "1:25: sites: unknown region \"europe-wset1\"",
        ),
        (
            "f-too-large",
            format!("{SITES}protocols = \"atlas\"\nf = 2\n"),
            "3:5: f: f = 2 is not valid for n = 3 processes",
        ),
        (
            "empty-list",
            format!("{SITES}protocols = \"tempo\"\n[workload]\nconflict_percent = []\n"),
            "4:20: workload.conflict_percent is an empty list",
        ),
        (
            "unknown-protocol",
            format!("{SITES}protocols = [\"tempo\", \"paxos\"]\n"),
            "2:23: protocols: unknown protocol \"paxos\"",
        ),
    ];
    for (name, body, expected) in cases {
        let file = format!("{name}.toml");
        std::fs::write(dir.path().join(&file), format!("# {name}\n{body}")).unwrap();
        let output = sim(dir.path(), &["--scenario", &file]);
        expect_code(&output, 2);
        let stderr = text(&output.stderr);
        // The comment line shifts every position down by one.
        let (line, rest) = expected.split_once(':').unwrap();
        let position = format!("error: {file}:{}:{rest}", line.parse::<u32>().unwrap() + 1);
        assert!(stderr.starts_with(&position), "{name}: expected {position:?} in\n{stderr}");
        assert!(!dir.path().join("results").join(name).exists(), "{name}: nothing written");
        let hint = match name {
            "unknown-key" => "did you mean `clients_per_region`?",
            "unknown-region" => "did you mean \"europe-west1\"",
            "f-too-large" => "floor(n/2) = 1",
            "unknown-protocol" => "valid protocols: fpaxos, tempo",
            "empty-list" => "give a percentage from 0 to 100",
            _ => "expected",
        };
        assert!(stderr.contains(hint), "{name}: expected {hint:?} in\n{stderr}");
    }
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
