//! End-to-end tests of the `sim` binary, run the way a user runs it: the
//! real executable, in a fresh temporary working directory, always with
//! `--out <tmpdir>/x.csv` and a small workload so the whole file takes a few
//! seconds even in a debug build.
//!
//! Exit status contract (see `src/bin/sim.rs`): 0 on success, 1 when clients
//! were left waiting at the time limit, 2 on bad input (clap usage errors
//! included). Every bad-input test checks the status, that stderr names the
//! problem and what would be valid, that nothing panicked, and that no CSV
//! was written.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

/// A small workload: 2 clients per region, 10 commands each.
const SMALL: [&str; 4] = ["--clients-per-region", "2", "--commands-per-client", "10"];

/// Three GCP regions, one per continent.
const THREE_SITES: &str = "us-central1,europe-west1,asia-east1";

/// The CSV file name every run writes, inside its temporary directory.
const OUT_NAME: &str = "x.csv";

/// One finished run of `sim`: what was asked and what came back.
struct Ran {
    /// The command line, for failure reports.
    command: String,
    /// The exit code (`None` if killed by a signal).
    code: Option<i32>,
    stdout: String,
    stderr: String,
    /// The `--out` path given.
    out: PathBuf,
}

impl Ran {
    /// Fails the test with `what`, showing the command, its status and
    /// everything it printed.
    #[track_caller]
    fn fail(&self, what: &str) -> ! {
        panic!(
            "{what}\n--- command: {}\n--- exit code: {:?}\n--- stdout:\n{}\n--- stderr:\n{}--- end",
            self.command, self.code, self.stdout, self.stderr
        );
    }

    /// Checks the exit code.
    #[track_caller]
    fn expect_code(&self, code: i32) -> &Self {
        if self.code != Some(code) {
            self.fail(&format!("expected exit code {code}, got {:?}", self.code));
        }
        if self.stderr.contains("panicked") {
            self.fail("the binary panicked");
        }
        self
    }

    /// Checks that stderr contains every one of `needles`.
    #[track_caller]
    fn expect_stderr(&self, needles: &[&str]) -> &Self {
        for needle in needles {
            if !self.stderr.contains(needle) {
                self.fail(&format!("expected stderr to contain {needle:?}"));
            }
        }
        self
    }

    /// Checks that stdout contains every one of `needles`.
    #[track_caller]
    fn expect_stdout(&self, needles: &[&str]) -> &Self {
        for needle in needles {
            if !self.stdout.contains(needle) {
                self.fail(&format!("expected stdout to contain {needle:?}"));
            }
        }
        self
    }

    /// Bad input: exit code 2, an `error:` line on stderr containing every
    /// one of `needles`, no panic, nothing on stdout and no CSV written.
    #[track_caller]
    fn expect_user_error(&self, needles: &[&str]) -> &Self {
        self.expect_code(2).expect_stderr(needles);
        if !self.stderr.starts_with("error: ") {
            self.fail("expected stderr to start with \"error: \"");
        }
        if !self.stdout.is_empty() {
            self.fail("expected nothing on stdout for bad input");
        }
        if self.out.exists() {
            self.fail(&format!("bad input must not write {}", self.out.display()));
        }
        self
    }

    /// Stdout with the `--out` path replaced by `<OUT>`, to compare runs
    /// that wrote to different files.
    fn stdout_without_out_path(&self) -> String {
        self.stdout.replace(&self.out.display().to_string(), "<OUT>")
    }
}

/// Runs `sim` in `dir` with `args`, writing its CSV to `dir/x.csv`.
fn sim(dir: &Path, args: &[&str]) -> Ran {
    sim_to(dir, &dir.join(OUT_NAME), args)
}

/// Runs `sim` in `dir` with `args` and `--out out`.
fn sim_to(dir: &Path, out: &Path, args: &[&str]) -> Ran {
    let mut command = Command::new(env!("CARGO_BIN_EXE_sim"));
    command.current_dir(dir).args(args).arg("--out").arg(out);
    let output = command.output().expect("the sim binary runs");
    let mut line = vec!["sim".to_string()];
    line.extend(args.iter().map(|a| a.to_string()));
    line.extend(["--out".to_string(), out.display().to_string()]);
    Ran {
        command: format!("(cd {} && {})", dir.display(), line.join(" ")),
        code: output.status.code(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        out: out.to_path_buf(),
    }
}

/// `base` followed by `more`.
fn args<'a>(base: &[&'a str], more: &[&'a str]) -> Vec<&'a str> {
    base.iter().chain(more).copied().collect()
}

/// A fresh temporary directory.
fn tempdir() -> tempfile::TempDir {
    tempfile::tempdir().expect("a temporary directory")
}

/// A CSV file: its header and one column-name -> value map per data row.
struct Csv {
    header: Vec<String>,
    rows: Vec<BTreeMap<String, String>>,
}

impl Csv {
    /// Reads and parses `path` with the `csv` crate.
    fn read(path: &Path) -> Csv {
        let mut reader = csv::Reader::from_path(path).unwrap_or_else(|e| panic!("cannot open {}: {e}", path.display()));
        let header: Vec<String> = reader.headers().expect("a CSV header").iter().map(str::to_string).collect();
        let rows = reader
            .records()
            .map(|record| {
                let record = record.expect("a well-formed CSV record");
                assert_eq!(record.len(), header.len(), "row {record:?} has a different width than the header");
                header.iter().cloned().zip(record.iter().map(str::to_string)).collect()
            })
            .collect();
        Csv { header, rows }
    }

    /// The row of client region `region` (or `all`).
    fn row(&self, region: &str) -> &BTreeMap<String, String> {
        self.rows
            .iter()
            .find(|row| row["region"] == region)
            .unwrap_or_else(|| panic!("no CSV row for region {region:?}; rows: {:?}", self.rows))
    }

    /// Per row: the region and every `latency_ms_*` column, in header order.
    fn latency_columns(&self) -> Vec<Vec<(String, String)>> {
        let columns: Vec<&String> =
            self.header.iter().filter(|c| *c == "region" || c.starts_with("latency_ms_")).collect();
        assert!(columns.len() > 1, "no latency_ms_* columns in {:?}", self.header);
        self.rows.iter().map(|row| columns.iter().map(|&c| (c.clone(), row[c].clone())).collect()).collect()
    }
}

/// The matrix file format's header line.
const MATRIX_HEADER: &str = "from,to,rtt_ms_min,rtt_ms_avg,rtt_ms_max,rtt_ms_mdev";

/// A 3-region matrix, as (from, to, mean RTT in ms) for all 9 ordered pairs.
/// Asymmetric on purpose: from `a`, `c` is closer one way (16 < 20 ms) but
/// farther for a round trip (16 + 60 > 20 + 40 ms).
const ABC: [(&str, &str, u32); 9] = [
    ("a", "a", 1),
    ("a", "b", 20),
    ("a", "c", 16),
    ("b", "a", 40),
    ("b", "b", 1),
    ("b", "c", 10),
    ("c", "a", 60),
    ("c", "b", 10),
    ("c", "c", 1),
];

/// Lines of a matrix file for `rows`: a comment (line 1), the header (line
/// 2), then row `i` at line `i + 3`; min = avg, max = avg + 1, mdev 0.1.
fn matrix_lines(rows: &[(&str, &str, u32)]) -> Vec<String> {
    let mut lines = vec!["# planetsim RTT matrix, format 1".to_string(), MATRIX_HEADER.to_string()];
    lines.extend(rows.iter().map(|(from, to, avg)| format!("{from},{to},{avg}.000,{avg}.000,{}.000,0.100", avg + 1)));
    lines
}

/// 1-based line number of data row `i` in [`matrix_lines`].
fn line_of_row(i: usize) -> usize {
    i + 3
}

/// Writes `lines` to `dir/name` and returns the path.
fn write_matrix(dir: &Path, name: &str, lines: &[String]) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, lines.join("\n") + "\n").expect("writes the matrix file");
    path
}

/// Mean RTT in ms from `from` to `to` in [`ABC`].
fn abc_avg(from: &str, to: &str) -> f64 {
    let (_, _, avg) = ABC.iter().find(|(f, t, _)| *f == from && *t == to).expect("every pair is in ABC");
    f64::from(*avg)
}

// ---------------------------------------------------------------- bad input

#[test]
fn unknown_region_suggests_nearest() {
    let dir = tempdir();
    let ran = sim(dir.path(), &args(&SMALL, &["--sites", "europe-west9,us-central1,asia-east1"]));
    ran.expect_user_error(&["--sites", "europe-west9", "did you mean", "valid regions"]);
    // The suggestions (between "did you mean" and "?") name a real
    // europe-west region.
    let suggestions = ran.stderr.split("did you mean").nth(1).and_then(|s| s.split('?').next()).unwrap_or("");
    if !["europe-west1", "europe-west2", "europe-west3", "europe-west4", "europe-west6"]
        .iter()
        .any(|name| suggestions.contains(&format!("\"{name}\"")))
    {
        ran.fail("expected a valid europe-west region among the suggestions");
    }
}

#[test]
fn f_too_large_for_n() {
    let dir = tempdir();
    sim(dir.path(), &args(&SMALL, &["--sites", THREE_SITES, "--f", "2"])).expect_user_error(&[
        "--f",
        "f = 2",
        "floor(n/2) = 1",
    ]);
}

#[test]
fn fewer_than_three_sites() {
    let dir = tempdir();
    sim(dir.path(), &args(&SMALL, &["--sites", "us-central1,europe-west1"]))
        .expect_user_error(&["--sites", "at least 3"]);
}

#[test]
fn malformed_user_matrix() {
    let dir = tempdir();
    let mut lines = matrix_lines(&ABC);
    // Data row 5 (b,c) loses its mdev field: 5 fields instead of 6.
    lines[line_of_row(5) - 1] = "b,c,10.000,10.000,11.000".to_string();
    let path = write_matrix(dir.path(), "five-fields.csv", &lines);
    let location = format!("{}:{}:", path.display(), line_of_row(5));
    sim(dir.path(), &args(&SMALL, &["--matrix", path.to_str().unwrap(), "--sites", "a,b,c"])).expect_user_error(&[
        &location,
        "expected 6 comma-separated fields",
        MATRIX_HEADER,
        "found 5",
    ]);
}

#[test]
fn user_matrix_missing_pair() {
    let dir = tempdir();
    // Everything but c -> a (row 6).
    let rows: Vec<_> = ABC.iter().copied().filter(|&(from, to, _)| (from, to) != ("c", "a")).collect();
    let path = write_matrix(dir.path(), "missing.csv", &matrix_lines(&rows));
    let file = path.display().to_string();
    sim(dir.path(), &args(&SMALL, &["--matrix", &file, "--sites", "a,b,c"])).expect_user_error(&[
        &file,
        "missing RTT for 1 ordered pair",
        "c -> a",
        "every ordered pair of the 3 regions",
    ]);
}

#[test]
fn user_matrix_negative_value() {
    let dir = tempdir();
    let mut lines = matrix_lines(&ABC);
    lines[line_of_row(1) - 1] = "a,b,20.000,-20.000,21.000,0.100".to_string();
    let path = write_matrix(dir.path(), "negative.csv", &lines);
    let location = format!("{}:{}:", path.display(), line_of_row(1));
    sim(dir.path(), &args(&SMALL, &["--matrix", path.to_str().unwrap(), "--sites", "a,b,c"])).expect_user_error(&[
        &location,
        "rtt_ms_avg",
        "\"-20.000\"",
        "is negative",
        "non-negative milliseconds",
    ]);
}

#[test]
fn missing_matrix_file() {
    let dir = tempdir();
    let path = dir.path().join("no-such-matrix.csv");
    let file = path.display().to_string();
    sim(dir.path(), &args(&SMALL, &["--matrix", &file, "--sites", "a,b,c"])).expect_user_error(&[&file, "cannot read"]);
}

#[test]
fn zero_clients() {
    let dir = tempdir();
    sim(dir.path(), &["--clients-per-region", "0", "--commands-per-client", "10"])
        .expect_user_error(&["--clients-per-region", "give at least 1"]);
}

#[test]
fn zero_commands() {
    let dir = tempdir();
    sim(dir.path(), &["--clients-per-region", "2", "--commands-per-client", "0"])
        .expect_user_error(&["--commands-per-client", "give at least 1"]);
}

#[test]
fn unknown_protocol() {
    let dir = tempdir();
    sim(dir.path(), &args(&SMALL, &["--protocol", "paxos"])).expect_user_error(&[
        "\"paxos\"",
        "valid protocols",
        "fpaxos",
    ]);
}

#[test]
fn leader_not_among_sites_lists_valid_leaders() {
    let dir = tempdir();
    sim(dir.path(), &args(&SMALL, &["--sites", THREE_SITES, "--leader", "us-west1"])).expect_user_error(&[
        "--leader",
        "us-west1",
        "p1 (us-central1)",
        "p2 (europe-west1)",
        "p3 (asia-east1)",
    ]);
}

#[test]
fn conflict_percent_out_of_range() {
    let dir = tempdir();
    sim(dir.path(), &args(&SMALL, &["--conflict-percent", "150"]))
        .expect_user_error(&["--conflict-percent 150", "from 0 to 100"]);
}

#[test]
fn protocol_option_typo_lists_the_valid_names() {
    let dir = tempdir();
    sim(dir.path(), &args(&SMALL, &["--protocol", "tempo", "--option", "tempo.nfrr=true"])).expect_user_error(&[
        "--option for tempo",
        "unknown field `nfrr`",
        "`nfr`",
        "`promise_interval_ns`",
    ]);
    sim(dir.path(), &args(&SMALL, &["--protocol", "tempo", "--option", "atlas.nfr=true"]))
        .expect_user_error(&["is for atlas, but the protocol is tempo"]);
    sim(dir.path(), &args(&SMALL, &["--protocol", "tempo", "--option", "tempo.nfr=maybe"]))
        .expect_user_error(&["--option for tempo"]);
}

#[test]
fn unknown_flag_is_a_usage_error() {
    let dir = tempdir();
    // clap's own error: exit 2 with the flag, the nearest real one and usage.
    sim(dir.path(), &args(&SMALL, &["--sitez", THREE_SITES])).expect_user_error(&["'--sitez'", "'--sites'", "Usage:"]);
}

// ------------------------------------------------------------- good runs

#[test]
fn same_run_twice_is_byte_identical() {
    let run = args(&SMALL, &["--sites", THREE_SITES, "--jitter", "on", "--seed", "7"]);
    let dir = tempdir();
    let (first_out, second_out) = (dir.path().join("first.csv"), dir.path().join("second.csv"));
    let first = sim_to(dir.path(), &first_out, &run);
    let second = sim_to(dir.path(), &second_out, &run);
    first.expect_code(0).expect_stdout(&["seed 7", "jitter=on"]);
    second.expect_code(0);
    let read = |path: &Path| std::fs::read(path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    assert!(read(&first_out) == read(&second_out), "the two CSVs differ:\n{}\n---\n{}", first.stdout, second.stdout);
    assert_eq!(first.stdout_without_out_path(), second.stdout_without_out_path(), "stdout differs between the runs");
}

/// Every protocol, under contention with jitter and reordering, gives
/// byte-identical outputs for the same seed.
#[test]
fn every_protocol_is_deterministic() {
    let dir = tempdir();
    for protocol in protocols::ProtocolName::ALL {
        let run = args(
            &SMALL,
            &[
                "--protocol",
                protocol.as_str(),
                "--conflict-percent",
                "50",
                "--read-percent",
                "20",
                "--jitter",
                "on",
                "--reorder",
                "--seed",
                "11",
            ],
        );
        let (first_out, second_out) = (dir.path().join("first.csv"), dir.path().join("second.csv"));
        let first = sim_to(dir.path(), &first_out, &run);
        let second = sim_to(dir.path(), &second_out, &run);
        first.expect_code(0).expect_stdout(&["verdict: PASS"]);
        second.expect_code(0);
        let read = |path: &Path| std::fs::read(path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
        assert!(read(&first_out) == read(&second_out), "{protocol}: the two CSVs differ");
        assert_eq!(first.stdout_without_out_path(), second.stdout_without_out_path(), "{protocol}: stdout differs");
    }
}

#[test]
fn protocol_options_apply_and_are_described() {
    let dir = tempdir();
    sim(dir.path(), &args(&SMALL, &["--protocol", "tempo", "--option", "tempo.clock_bump_interval_ns=10000000"]))
        .expect_code(0)
        .expect_stdout(&["tempo f=1 n=5 options clock_bump_interval_ns=10000000", "verdict: PASS"]);
    // A protocol whose name has a hyphen takes its options under that name.
    sim(dir.path(), &args(&SMALL, &["--protocol", "primary-backup", "--option", "primary-backup.mode=\"async\""]))
        .expect_code(0)
        .expect_stdout(&["options mode=\"async\"", "linearizable-without-failover"]);
}

#[test]
fn jitter_on_other_seed_differs() {
    let dir = tempdir();
    let latencies = |jitter: &str, seed: &str| {
        let out = dir.path().join(format!("jitter-{jitter}-seed-{seed}.csv"));
        sim_to(dir.path(), &out, &args(&SMALL, &["--sites", THREE_SITES, "--jitter", jitter, "--seed", seed]))
            .expect_code(0);
        Csv::read(&out).latency_columns()
    };
    assert_ne!(latencies("on", "7"), latencies("on", "8"), "with jitter, another seed must give other latencies");
    // Without jitter the only randomness left is the key choice, which does
    // not affect FPaxos latency.
    assert_eq!(latencies("off", "7"), latencies("off", "8"), "without jitter, latency must not depend on the seed");
}

#[test]
fn user_matrix_runs() {
    let dir = tempdir();
    let path = write_matrix(dir.path(), "abc.csv", &matrix_lines(&ABC));
    let file = path.display().to_string();
    let base = args(&SMALL, &["--matrix", &file, "--sites", "a,b,c", "--leader", "a", "--intra-region-delay", "zero"]);

    // FPaxos, f = 1: the leader's clients wait the round trip to the
    // leader's phase-2 quorum member, the other process with the smallest
    // one-way delay *from the leader* (specs README §1.5), with
    // d(x, y) = avg(x -> y) / 2 and intra-region delay 0:
    //   d(a,b) = 20/2 = 10, d(a,c) = 16/2 = 8  -> quorum member c
    //   round trip = d(a,c) + d(c,a) = 8 + 60/2 = 38 ms
    // (b would give 10 + 40/2 = 30 ms: direction matters.)
    let d = |from: &str, to: &str| abc_avg(from, to) / 2.0;
    let closest = ["b", "c"].into_iter().min_by(|x, y| d("a", x).total_cmp(&d("a", y))).unwrap();
    let expected = d("a", closest) + d(closest, "a");
    assert_eq!((closest, expected), ("c", 38.0), "hand computation");

    let ran = sim(dir.path(), &base);
    ran.expect_code(0).expect_stdout(&["leader=p1 (a)", "intra-region=zero"]);
    let csv = Csv::read(&ran.out);
    let leader_row = csv.row("a");
    assert_eq!(leader_row["cloud"], file, "the cloud column names the matrix file");
    let mean: f64 = leader_row["latency_ms_mean"].parse().expect("latency_ms_mean is a number");
    if (mean - expected).abs() > 1e-6 {
        ran.fail(&format!("leader region a: latency_ms_mean {mean}, expected {expected}"));
    }

    // With --symmetric each pair is the mean of both directions: from a,
    // b (RTT (20+40)/2 = 30) is now closer than c ((16+60)/2 = 38).
    let symmetric_out = dir.path().join("symmetric.csv");
    let ran = sim_to(dir.path(), &symmetric_out, &args(&base, &["--symmetric"]));
    ran.expect_code(0);
    let sym = |x: &str, y: &str| (abc_avg(x, y) + abc_avg(y, x)) / 4.0;
    let expected = 2.0 * sym("a", "b").min(sym("a", "c"));
    assert_eq!(expected, 30.0, "hand computation");
    let mean: f64 = Csv::read(&symmetric_out).row("a")["latency_ms_mean"].parse().expect("a number");
    if (mean - expected).abs() > 1e-6 {
        ran.fail(&format!("symmetric, leader region a: latency_ms_mean {mean}, expected {expected}"));
    }
}

#[test]
fn successful_run_writes_table_and_csv() {
    let dir = tempdir();
    let ran = sim(dir.path(), &SMALL);
    ran.expect_code(0).expect_stdout(&["seed 1", "fpaxos f=1 n=5", "wrote "]);
    let regions: Vec<&str> = scenarios::cli::DEFAULT_SITES.split(',').chain(["all"]).collect();
    assert_eq!(regions.len(), 6);
    for region in &regions {
        if !ran.stdout.lines().any(|line| line.split_whitespace().next() == Some(region)) {
            ran.fail(&format!("expected a table row for {region:?}"));
        }
    }

    let csv = Csv::read(&ran.out);
    assert_eq!(csv.header[..3], ["protocol", "f", "n"], "CSV header: {:?}", csv.header);
    assert_eq!(csv.header, scenarios::output::csv_header(), "CSV header");
    let csv_regions: Vec<&str> = csv.rows.iter().map(|row| row["region"].as_str()).collect();
    assert_eq!(csv_regions, regions, "one data row per client region, then all");
    for row in &csv.rows {
        assert_eq!((row["protocol"].as_str(), row["f"].as_str(), row["n"].as_str()), ("fpaxos", "1", "5"));
    }
    assert_eq!(csv.row("all")["commands"], "100", "5 regions x 2 clients x 10 commands");

    let mut names: Vec<String> = std::fs::read_dir(dir.path())
        .expect("lists the output folder")
        .map(|entry| entry.expect("a directory entry").file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert!(names.iter().all(|name| !name.ends_with(".tmp")), "temporary files left behind: {names:?}");
    assert_eq!(names, [OUT_NAME], "the output folder holds only the CSV");
}

#[test]
fn time_limit_reached_exits_1() {
    // Non-leader clients need about half a second per command on the
    // default sites: 10 commands cannot finish in 1 simulated second.
    let dir = tempdir();
    let ran = sim(dir.path(), &args(&SMALL, &["--max-time-s", "1"]));
    ran.expect_code(1).expect_stderr(&["FAIL", "of 100 commands completed", "still waiting at the time limit"]);
    if !ran.out.exists() {
        ran.fail("the partial results are still written");
    }
}

#[test]
fn resources_off_writes_the_same_bytes_as_no_flag() {
    let dir = tempdir();
    let plain = sim_to(dir.path(), &dir.path().join("plain.csv"), &args(&SMALL, &["--protocol", "atlas"]));
    plain.expect_code(0);
    let off =
        sim_to(dir.path(), &dir.path().join("off.csv"), &args(&SMALL, &["--protocol", "atlas", "--resources", "off"]));
    off.expect_code(0);
    assert_eq!(std::fs::read(&plain.out).unwrap(), std::fs::read(&off.out).unwrap());
    assert_eq!(plain.stdout.replace("plain.csv", "_"), off.stdout.replace("off.csv", "_"));
    assert!(!off.stdout.contains("resources") && !dir.path().join("off-resources.csv").exists());
}

#[test]
fn resources_on_prints_and_writes_per_process_utilisation() {
    let dir = tempdir();
    let ran = sim(dir.path(), &args(&SMALL, &["--protocol", "fpaxos", "--resources", "on", "--resource", "cores=4"]));
    ran.expect_code(0).expect_stdout(&["resources cores=4", "cpu %", "nic out %", "x-resources.csv"]);
    let csv = Csv::read(&dir.path().join("x-resources.csv"));
    assert_eq!(csv.header[..3], ["process", "cores", "cpu_utilisation_percent"]);
    // FPaxos is sequential: one core whatever the model offers.
    assert_eq!(csv.rows.len(), 5);
    assert!(csv.rows.iter().all(|row| row["cores"] == "1"));
}

#[test]
fn bad_resource_settings_exit_2_naming_the_key() {
    let dir = tempdir();
    sim(dir.path(), &args(&SMALL, &["--resources", "on", "--resource", "cores=0"]))
        .expect_user_error(&["resources.cores is 0", "at least 1"]);
    sim(dir.path(), &args(&SMALL, &["--resources", "on", "--resource", "coers=2"]))
        .expect_user_error(&["coers", "cores"]);
    sim(dir.path(), &args(&SMALL, &["--resource", "cores=2"])).expect_user_error(&["--resources on"]);
}

/// Open-loop clients from the command line: the arrivals line is printed,
/// the run passes, and the flag without a duration or at rate 0 is a
/// user error.
#[test]
fn open_loop_arrivals_from_the_command_line() {
    let dir = tempdir();
    let base = ["--protocol", "fpaxos", "--sites", THREE_SITES, "--clients-per-region", "4"];
    sim(dir.path(), &args(&base, &["--duration-s", "1", "--arrival-rate-per-region", "200"]))
        .expect_code(0)
        .expect_stdout(&["open loop: Poisson arrivals 200/s per region over 4 connection(s)/region", "verdict: PASS"])
        .expect_stdout(&["waited for a free connection"]);
    let bad = tempdir();
    sim(bad.path(), &args(&base, &["--arrival-rate-per-region", "200"])).expect_code(2);
    sim(bad.path(), &args(&base, &["--duration-s", "1", "--arrival-rate-per-region", "0"]))
        .expect_user_error(&["--arrival-rate-per-region 0: give at least 1"]);
}
