//! Duration runs (`RunConfig::duration`): clients issue commands until the
//! duration, every command issued completes, latencies leave out commands
//! submitted during the warm-up, and throughput counts completions within
//! [warm-up, duration]. Checked against a protocol whose latency is a
//! constant, so every count follows from arithmetic.

mod support;

use sim_core::time::NS_PER_MS;
use sim_core::{RunDuration, Simulation};
use support::{Local, gcp_config};

/// One site, so every client has the same round trip.
const SITES: &[&str] = &["europe-west1"];

#[test]
fn clients_run_until_the_duration_and_the_warm_up_is_not_measured() {
    let config = gcp_config(SITES);
    let clients = u64::from(config.clients_per_region);
    // The constant latency L, from a one-command run.
    let mut one = config.clone();
    one.commands_per_client = 1;
    let round_trip_ns = Simulation::<Local>::new(&one).run().total.max_ns;
    assert!(round_trip_ns > 0);

    let (duration_ns, warmup_ns) = (300 * NS_PER_MS, 100 * NS_PER_MS);
    let mut timed = config.clone();
    timed.duration = Some(RunDuration { duration_ns, warmup_ns });
    let report = Simulation::<Local>::new(&timed).run();

    // Command k of a client (from 1) is submitted at (k-1)L and completes
    // at kL; the next is issued while kL < duration.
    let issued_per_client = duration_ns.div_ceil(round_trip_ns);
    let submitted_at = |k: u64| (k - 1) * round_trip_ns;
    let measured = (1..=issued_per_client).filter(|&k| submitted_at(k) >= warmup_ns).count() as u64;
    let in_window =
        (1..=issued_per_client).filter(|&k| (warmup_ns..=duration_ns).contains(&(k * round_trip_ns))).count() as u64;
    assert!(report.verdict.passed(), "{}", report.verdict);
    assert_eq!(report.incomplete_clients, 0);
    assert_eq!(report.commands_expected, clients * issued_per_client);
    assert_eq!(report.commands_completed, clients * issued_per_client);
    assert_eq!(report.total.count, clients * measured);
    assert!(measured < issued_per_client, "the warm-up leaves some commands out");
    assert_eq!(report.total.max_ns, round_trip_ns);
    assert_eq!(report.end_time.as_ns(), issued_per_client * round_trip_ns, "the last commands complete after the end");
    let window = report.window.expect("a duration run has a window");
    assert_eq!((window.start.as_ns(), window.end.as_ns()), (warmup_ns, duration_ns));
    assert_eq!(window.completed, clients * in_window);
    assert_eq!(
        report.throughput_milli_ops_per_s(),
        clients * in_window * 1_000_000_000 * 1_000 / (duration_ns - warmup_ns)
    );
}

#[test]
fn a_run_of_commands_per_client_has_no_window() {
    let report = Simulation::<Local>::new(&gcp_config(SITES)).run();
    assert_eq!(report.window, None);
    assert_eq!(report.commands_completed, report.total.count);
    assert_eq!(report.commands_expected, report.total.count);
}

#[test]
fn a_warm_up_not_shorter_than_the_duration_is_refused() {
    let mut config = gcp_config(SITES);
    config.duration = Some(RunDuration { duration_ns: NS_PER_MS, warmup_ns: NS_PER_MS });
    let error = config.check().unwrap_err();
    assert!(error.0.contains("warm-up of 0.001 s is not shorter than the duration of 0.001 s"), "{error}");
    config.duration = Some(RunDuration { duration_ns: config.max_time_ns, warmup_ns: 0 });
    assert!(config.check().unwrap_err().0.contains("not shorter than the time limit"));
}
