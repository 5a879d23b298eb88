//! Faults end to end through the `sim` binary: the leader-crash library
//! scenario writes its timeline and fault files and every command
//! completes; more crashes than f exit 1 naming stuck commands; a bad
//! `[[faults]]` entry exits 2 at its position; a CI-sized swarm passes
//! and one of its seeds replays with `sim --scenario FILE --seed S`.

use protocols::ProtocolName;
use scenarios::swarm::{self, SwarmOptions};
use sim_core::verdict::{OutcomeColumn, OutcomeKind};
use std::path::Path;
use std::process::{Command, Output};

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
fn leader_crash_writes_a_timeline_and_recovers_everywhere() {
    let dir = tempfile::tempdir().unwrap();
    let output = sim(
        dir.path(),
        &[
            "--scenario",
            "leader-crash",
            "--set",
            "f=1",
            "--set",
            "protocols=fpaxos",
            "--set",
            "workload.conflict_percent=100",
            "--seed",
            "1",
            "--out",
            "out",
        ],
    );
    expect_code(&output, 0);
    let folder = dir.path().join("out");
    let faults = std::fs::read_to_string(folder.join("faults.csv")).expect("faults.csv");
    let mut lines = faults.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let column = |name: &str| header.iter().position(|c| *c == name).unwrap();
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split(',').collect()).collect();
    assert_eq!(rows.len(), 5, "one row per client region: {faults}");
    for row in &rows {
        assert_eq!(row[column("leader_changes")], "1", "{faults}");
        assert_eq!(row[column("stuck_commands")], "0", "{faults}");
        let unavailable: f64 = row[column("unavailable_ms")].parse().unwrap();
        // Suspicion (1 s + 0.6 s per rank) then phase 1 and 2; below
        // two client timeouts.
        assert!((1_000.0..4_000.0).contains(&unavailable), "{faults}");
    }
    let timeline = std::fs::read_to_string(folder.join("timeline.csv")).expect("timeline.csv");
    assert!(timeline.starts_with("point,seed,region,window_start_ms,commands,latency_ms_p50,latency_ms_p99\n"));
    let empty_windows = timeline.lines().filter(|l| l.contains(",us-central1,") && l.contains(",0,0.000000,")).count();
    assert!(empty_windows >= 10, "a second or more without completions after the crash:\n{timeline}");
    let runs = std::fs::read_to_string(folder.join("runs.csv")).unwrap();
    assert!(runs.lines().skip(1).all(|l| l.ends_with("PASS")), "{runs}");
    // The timeline figure: a line per region, the crash marked and named.
    let figure = folder.join("figures").join("latency-timeline-point0-fpaxos-f1-seed1");
    assert!(figure.with_extension("png").is_file(), "{}", text(&output.stdout));
    let svg = std::fs::read_to_string(figure.with_extension("svg")).unwrap();
    assert!(svg.contains("crash p1 (us-central1)") && svg.contains("southamerica-east1"), "{svg}");
}

/// A library fault scenario shrunk with `--set` (FPaxos only, fewer
/// clients, clients stop at 4 s): asia-east1 is cut off from 2 s; the
/// other regions stay available, asia-east1's clients wait for their
/// timeout and retry elsewhere, and the figure marks the partition.
#[test]
fn region_partition_shrunk_runs_through_sim() {
    let dir = tempfile::tempdir().unwrap();
    let args = [
        "--scenario",
        "region-partition",
        "--set",
        "protocols=fpaxos",
        "--set",
        "clients_per_region=2",
        "--set",
        "duration_s=4",
        "--seed",
        "1",
        "--out",
        "out",
    ];
    let output = sim(dir.path(), &args);
    expect_code(&output, 0);
    let folder = dir.path().join("out");
    let faults = std::fs::read_to_string(folder.join("faults.csv")).expect("faults.csv");
    let mut lines = faults.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let column = |name: &str| header.iter().position(|c| *c == name).unwrap();
    for row in lines.map(|l| l.split(',').collect::<Vec<&str>>()) {
        let unavailable: f64 = row[column("unavailable_ms")].parse().unwrap();
        assert_eq!(row[column("stuck_commands")], "0", "{faults}");
        let schedule = row[column("schedule")].trim_start_matches('"');
        assert!(schedule.starts_with("partition at 2 s until 5 s: p3<->"), "{faults}");
        if row[column("region")] == "asia-east1" {
            // Its forwards are dropped: a client timeout (2 s) at least.
            assert!(unavailable >= 1_900.0, "{faults}");
        } else {
            assert!(unavailable < 1_000.0, "the others stay available: {faults}");
        }
    }
    let runs = std::fs::read_to_string(folder.join("runs.csv")).unwrap();
    assert!(runs.lines().skip(1).all(|l| l.ends_with("PASS")), "{runs}");
    let figure = folder.join("figures").join("latency-timeline-point0-fpaxos-f1-seed1");
    let svg = std::fs::read_to_string(figure.with_extension("svg")).expect("the timeline figure");
    assert!(svg.contains("partition p3") && figure.with_extension("png").is_file());
}

/// A restart through `sim`: FPaxos's leader down from 1 s to 3 s, then
/// back with its acceptor state; every command completes once.
#[test]
fn an_fpaxos_restart_runs_through_sim() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("restart.toml");
    let scenario = "# restart\nprotocols = \"fpaxos\"\nf = 1\nclients_per_region = 2\ncommands_per_client = 30\n\
                    sites = [\"us-central1\", \"europe-west1\", \"asia-east1\", \"us-west1\", \
                    \"southamerica-east1\"]\n\n[workload]\nconflict_percent = 100\n\n[[faults]]\nkind = \"crash\"\n\
                    at_s = 1\nuntil_s = 3\nprocesses = [\"p1\"]\n";
    std::fs::write(&file, scenario).unwrap();
    let output = sim(dir.path(), &["--scenario", "restart.toml", "--out", "out"]);
    expect_code(&output, 0);
    let faults = std::fs::read_to_string(dir.path().join("out").join("faults.csv")).unwrap();
    let row = faults.lines().nth(1).unwrap();
    assert!(row.contains(",1,crash at 1 s until 3 s: p1"), "one restart, and the schedule: {faults}");
}

#[test]
fn more_crashes_than_f_exit_1_with_the_stuck_commands() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("two.toml");
    let scenario = "# two crashes\nprotocols = \"fpaxos\"\nf = 1\nclients_per_region = 1\ncommands_per_client = 50\n\
                    max_time_s = 20\nsites = [\"us-central1\", \"europe-west1\", \"asia-east1\", \"us-west1\", \
                    \"southamerica-east1\"]\n\n[[faults]]\nkind = \"crash\"\nat_s = 0.5\nprocesses = [\"p1\", \"p2\"]\n";
    std::fs::write(&file, scenario).unwrap();
    let output = sim(dir.path(), &["--scenario", "two.toml", "--out", "out"]);
    expect_code(&output, 1);
    let faults = std::fs::read_to_string(dir.path().join("out").join("faults.csv")).unwrap();
    assert!(faults.lines().nth(1).unwrap().contains(",c0#"), "stuck commands listed: {faults}");
    let runs = std::fs::read_to_string(dir.path().join("out").join("runs.csv")).unwrap();
    assert!(runs.lines().skip(1).all(|l| l.ends_with("FAIL")), "{runs}");
    assert!(text(&output.stderr).contains("FAIL: 1 of 1 run(s) failed their verdict"), "{}", text(&output.stderr));
}

/// Mencius end to end through `sim`: a crashed server's slots are
/// revoked (mencius.md §7) and every command completes.
#[test]
fn mencius_survives_a_crash_by_revocation() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("mencius.toml");
    let scenario = "# a Mencius server crashes\nprotocols = \"mencius\"\nclients_per_region = 2\n\
                    commands_per_client = 30\nmax_time_s = 60\nsites = [\"us-central1\", \"europe-west1\", \
                    \"asia-east1\", \"us-west1\", \"southamerica-east1\"]\n\n[workload]\nconflict_percent = 100\n\n\
                    [delay]\njitter = true\n\n[[faults]]\nkind = \"crash\"\nat_s = 0.5\nprocesses = [\"p3\"]\n";
    std::fs::write(&file, scenario).unwrap();
    let output = sim(dir.path(), &["--scenario", "mencius.toml", "--out", "out"]);
    expect_code(&output, 0);
    let faults = std::fs::read_to_string(dir.path().join("out").join("faults.csv")).unwrap();
    let mut lines = faults.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let column = |name: &str| header.iter().position(|c| *c == name).unwrap();
    for row in lines.map(|l| l.split(',').collect::<Vec<_>>()) {
        assert_eq!(row[column("stuck_commands")], "0", "{faults}");
        assert!(row[column("recoveries_finished")].parse::<u64>().unwrap() >= 1, "{faults}");
    }
    let runs = std::fs::read_to_string(dir.path().join("out").join("runs.csv")).unwrap();
    assert!(runs.lines().skip(1).all(|l| l.ends_with("PASS")), "{runs}");
}

#[test]
fn a_bad_fault_entry_exits_2_at_its_position() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bad.toml");
    let scenario = "# bad faults\nprotocols = \"tempo\"\nsites = [\"us-central1\", \"europe-west1\", \"asia-east1\"]\n\n\
                    [[faults]]\nkind = \"crsh\"\nat_s = 1\n\n[[faults]]\nkind = \"crash\"\nat_s = 1\nuntil_s = 2\n\
                    processes = [\"p1\"]\n\n[[faults]]\nkind = \"partition\"\nat_s = 1\nfrom = [\"mars\"]\n\n\
                    [random_faults]\nmax_crashed = 1\nrestarts = true\n";
    std::fs::write(&file, scenario).unwrap();
    let output = sim(dir.path(), &["--scenario", "bad.toml"]);
    expect_code(&output, 2);
    let stderr = text(&output.stderr);
    assert!(stderr.contains("bad.toml:6:8: kind: unknown fault \"crsh\" (did you mean \"crash\"?)"), "{stderr}");
    // A restart (a crash with an end) of a protocol without durable state.
    assert!(stderr.contains("bad.toml:12:11: until_s: tempo does not support restarts"), "{stderr}");
    assert!(stderr.contains("bad.toml:22:12: restarts: tempo does not support restarts"), "{stderr}");
    assert!(stderr.contains("or use a protocol that does: fpaxos"), "{stderr}");
    assert!(stderr.contains("bad.toml:18:8: from: \"mars\" is neither a process (p1 to p3) nor a site"), "{stderr}");
}

#[test]
fn a_small_swarm_passes_and_a_seed_replays_through_sim() {
    let dir = tempfile::tempdir().unwrap();
    for conflict_percent in [100.0, 10.0] {
        let options = SwarmOptions {
            protocol: ProtocolName::FPaxos,
            seeds: 8,
            first_seed: 1,
            conflict_percent,
            f: 1,
            read_percent: 30.0,
            commands_per_client: 15,
            protocol_options: Vec::new(),
        };
        let path = dir.path().join(format!("swarm-{conflict_percent}.toml"));
        std::fs::write(&path, swarm::scenario_text(&options)).unwrap();
        let scenario = swarm::load(&options, &path).unwrap();
        let pool = scenarios::scenario::sweep::pool(2).unwrap();
        let result = swarm::run(&options, &scenario, &pool);
        assert_eq!((result.passed, result.failed.len()), (8, 0), "{:?}", result.failed);
        assert!(result.tested.contains("crashes") && result.tested.contains("loss"));
    }
    let output = sim(dir.path(), &["--scenario", "swarm-100.toml", "--seed", "3", "--out", "replay"]);
    expect_code(&output, 0);
    assert!(dir.path().join("replay").join("faults.csv").is_file());
}

/// 3PC's swarm draws crashes and restarts only (its promise waives
/// every safety check under network faults) and says what that leaves
/// to its fault tests.
#[test]
fn a_three_pc_swarm_draws_crashes_only_and_says_what_it_did_not_test() {
    let options = SwarmOptions {
        protocol: ProtocolName::ThreePc,
        seeds: 2,
        first_seed: 1,
        conflict_percent: 100.0,
        f: 1,
        read_percent: 0.0,
        commands_per_client: 5,
        protocol_options: Vec::new(),
    };
    let text = swarm::scenario_text(&options);
    assert!(text.contains("max_crashed = \"f\"") && text.contains("partitions = false"), "{text}");
    assert!(text.contains("slow_links = false") && text.contains("restarts = true"), "{text}");
    let scenario = swarm::load(&options, Path::new("3pc.toml")).unwrap();
    let result = swarm::run(&options, &scenario, &scenarios::scenario::sweep::pool(1).unwrap());
    assert_eq!(result.tested, "up to f=1 crashes at a time (half of them restart)");
    assert!(
        result.not_tested.starts_with("partitions, slow links, loss and duplication: 3pc is safe only with a perfect"),
        "{}",
        result.not_tested
    );
    assert!(result.failed.is_empty(), "{:?}", result.failed);
}

/// Primary/backup recovers in every mode; asynchronous mode's swarm is
/// held to its weaker promise and says what that leaves unchecked.
#[test]
fn an_async_primary_backup_swarm_draws_crashes_and_names_its_promise() {
    let options = SwarmOptions {
        protocol: ProtocolName::PrimaryBackup,
        seeds: 2,
        first_seed: 1,
        conflict_percent: 100.0,
        f: 1,
        read_percent: 30.0,
        commands_per_client: 5,
        protocol_options: vec!["mode = \"async\"".into()],
    };
    let text = swarm::scenario_text(&options);
    assert!(text.contains("max_crashed = \"f\"") && text.contains("partitions = true"), "{text}");
    let scenario = swarm::load(&options, Path::new("primary-backup.toml")).unwrap();
    let result = swarm::run(&options, &scenario, &scenarios::scenario::sweep::pool(1).unwrap());
    assert!(result.checked.starts_with("linearizable-without-failover;"), "{}", result.checked);
    assert!(result.checked.contains("AckedWriteLost"), "{}", result.checked);
}

/// Swarm atlas f=1 10% seed 347 ordered two writes differently at two
/// processes: p4 registered recovered dots in its §3 index when joining
/// their recovery (atlas.md §9.2), so they hid an earlier write there,
/// but they committed with other processes' dependencies, without it.
#[test]
fn swarm_atlas_seed_347_keeps_every_pair_of_writes_ordered() {
    let options = SwarmOptions {
        protocol: ProtocolName::Atlas,
        seeds: 1,
        first_seed: 347,
        conflict_percent: 10.0,
        f: 1,
        read_percent: 30.0,
        commands_per_client: 20,
        protocol_options: Vec::new(),
    };
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("atlas-347.toml");
    std::fs::write(&path, swarm::scenario_text(&options)).unwrap();
    let scenario = swarm::load(&options, &path).unwrap();
    let result = swarm::run(&options, &scenario, &scenarios::scenario::sweep::pool(1).unwrap());
    assert_eq!((result.passed, result.failed.len()), (1, 0), "{:?}", result.failed);
}

/// Issue 7 (points 8, 9): the what-you-lose library scenario, shrunk to
/// one client per region and one seed, through `sim`. Every protocol runs
/// failure-free and with the faults. With them, async primary/backup
/// loses acknowledged writes in the split brain (and its old primary
/// rolls its side back) and still PASSes its promise (linearizable
/// without failover); VR, Raft and FPaxos lose nothing and PASS as
/// linearizable. The comparison table, comparison.csv and the
/// comparison figures show it per protocol.
#[test]
fn issue_7_what_you_lose_async_primary_backup_loses_writes_and_quorums_do_not() {
    let dir = tempfile::tempdir().unwrap();
    let args = ["--scenario", "what-you-lose", "--set", "clients_per_region=1", "--seed", "1", "--out", "out"];
    let output = sim(dir.path(), &args);
    expect_code(&output, 0);
    let stdout = text(&output.stdout);
    assert!(stdout.contains("outcome events (sums over seeds):"), "{stdout}");
    let out = dir.path().join("out");
    let runs = std::fs::read_to_string(out.join("runs.csv")).expect("runs.csv");
    let mut lines = runs.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let column = |name: &str| header.iter().position(|c| *c == name).unwrap();
    let rows: Vec<Vec<&str>> =
        lines.map(|l| l.split(',').collect()).filter(|r: &Vec<&str>| r[column("region")] == "all").collect();
    let protocols: Vec<(&str, &str)> = rows.iter().map(|r| (r[column("protocol")], r[column("faults")])).collect();
    let expected: Vec<(&str, &str)> = ["primary-backup", "vr", "raft", "fpaxos"]
        .into_iter()
        .flat_map(|protocol| [(protocol, "off"), (protocol, "on")])
        .collect();
    assert_eq!(protocols, expected, "{runs}");
    let count = |row: &Vec<&str>, name: &str| -> u64 { row[column(name)].parse().unwrap() };
    let every_outcome = OutcomeKind::ALL.map(OutcomeKind::column);
    for row in &rows {
        assert_eq!(row[column("verdict")], "PASS", "{runs}");
        assert_eq!(count(row, "blocked"), 0, "{runs}");
        // The schedule keeps at most f down at once: VR's amnesiac
        // replicas are never beyond the budget (and the column is there).
        assert_eq!(count(row, "unrecoverable"), 0, "{runs}");
        assert!(count(row, "commands") > 0);
        let faulted = row[column("faults")] == "on";
        if row[column("protocol")] == "primary-backup" && faulted {
            assert_eq!(row[column("consistency")], "linearizable-without-failover");
            assert!(count(row, "acked_writes_lost") > 0, "{runs}");
            assert!(count(row, "divergent_acks") > 0 && count(row, "split_brains") > 0, "{runs}");
            assert!(count(row, "rolled_back_acked") > 0, "p1 rolled its side back: {runs}");
        } else {
            for outcome in every_outcome {
                assert_eq!(count(row, outcome), 0, "{outcome}: {runs}");
            }
        }
    }
    let summary = std::fs::read_to_string(out.join("summary.csv")).expect("summary.csv");
    let columns = OutcomeColumn::names().join(",");
    assert!(summary.lines().next().unwrap().contains(&format!(",{columns},verdict")), "{summary}");

    // The comparison: the printed table and comparison.csv, a row per
    // protocol, acknowledged writes lost only for primary/backup.
    let table = stdout.split("and with them:\n").nth(1).expect("a comparison table");
    let table_rows: Vec<Vec<&str>> = table.lines().skip(1).take(4).map(|l| l.split_whitespace().collect()).collect();
    // protocol f p50 p99 peak at-load unanswered from-load unavailable lost divergent
    let lost_column = 9;
    let lost: Vec<(&str, u64)> = table_rows.iter().map(|r| (r[0], r[lost_column].parse().unwrap())).collect();
    assert_eq!(lost.iter().map(|(p, _)| *p).collect::<Vec<_>>(), ["primary-backup", "vr", "raft", "fpaxos"], "{table}");
    assert!(lost[0].1 > 0, "{table}");
    assert!(lost[1..].iter().all(|(_, n)| *n == 0), "{table}");
    let comparison = std::fs::read_to_string(out.join("comparison.csv")).expect("comparison.csv");
    let mut comparison_lines = comparison.lines();
    let comparison_header: Vec<&str> = comparison_lines.next().unwrap().split(',').collect();
    let lost_at = comparison_header.iter().position(|c| *c == "acked_writes_lost").unwrap();
    let csv_lost: Vec<u64> = comparison_lines.map(|l| l.split(',').nth(lost_at).unwrap().parse().unwrap()).collect();
    assert_eq!(csv_lost, lost.iter().map(|(_, n)| *n).collect::<Vec<_>>(), "{comparison}");
    for figure in ["latency", "throughput", "unavailability", "writes-lost", "divergence"] {
        let svg = out.join("figures").join(format!("comparison-{figure}.svg"));
        assert!(svg.is_file(), "{} missing: {stdout}", svg.display());
    }
}
