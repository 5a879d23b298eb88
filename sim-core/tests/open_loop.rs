//! Open-loop clients (`Arrivals::Poisson`): commands arrive at a rate
//! whatever the replies do; a command that finds every client of its
//! region busy waits, and its latency counts the wait. Checked against a
//! protocol whose latency is a constant round trip.

mod support;

use sim_core::time::NS_PER_S;
use sim_core::{ArrivalReport, Arrivals, RunConfig, RunDuration, RunReport, Simulation};
use support::{Local, gcp_config};

/// One site: every command's service time is the same round trip.
const SITES: &[&str] = &["europe-west1"];

fn open_loop(per_region_per_s: u64, clients: u32, seconds: u64) -> RunConfig {
    let mut config = gcp_config(SITES);
    config.clients_per_region = clients;
    config.arrivals = Arrivals::Poisson { per_region_per_s };
    config.duration = Some(RunDuration { duration_ns: seconds * NS_PER_S, warmup_ns: 0 });
    config
}

fn arrivals(report: &RunReport) -> &ArrivalReport {
    &report.arrivals.as_ref().expect("an open-loop run reports its arrivals")[0]
}

fn round_trip_ns() -> u64 {
    let mut one = gcp_config(SITES);
    one.commands_per_client = 1;
    Simulation::<Local>::new(&one).run().total.max_ns
}

#[test]
fn with_enough_clients_no_arrival_waits_and_the_rate_is_offered() {
    let (rate, seconds) = (2_000, 2);
    let report = Simulation::<Local>::new(&open_loop(rate, 1_000, seconds)).run();
    let arrived = arrivals(&report);
    assert!(report.verdict.passed(), "{}", report.verdict);
    assert_eq!(report.incomplete_clients, 0);
    assert_eq!(arrived.waited, 0);
    assert_eq!(report.commands_expected, arrived.arrived);
    assert_eq!(report.commands_completed, arrived.arrived, "every arrival completes");
    // Poisson: mean 4,000, standard deviation about 63.
    let expected = rate * seconds;
    assert!(arrived.arrived.abs_diff(expected) < 400, "{} arrivals, expected about {expected}", arrived.arrived);
    let rtt = round_trip_ns();
    assert_eq!((report.total.min_ns, report.total.max_ns), (rtt, rtt), "no wait: every latency is the round trip");
}

#[test]
fn arrivals_that_find_every_client_busy_wait_and_the_wait_is_measured() {
    let rtt = round_trip_ns();
    // One client serves at most 1/rtt commands per second; offer 4 times that.
    let rate = 4 * NS_PER_S / rtt;
    let report = Simulation::<Local>::new(&open_loop(rate, 1, 1)).run();
    let arrived = arrivals(&report);
    assert!(report.verdict.passed(), "{}", report.verdict);
    assert!(arrived.waited > arrived.arrived / 2, "{arrived:?}");
    assert!(arrived.max_backlog > 10, "{arrived:?}");
    assert_eq!(report.commands_completed, arrived.arrived, "the backlog drains after arrivals stop");
    assert!(report.total.max_ns > 100 * rtt, "the backlog's wait is in the latency: {}", report.total.max_ns);
    // Closed loop at the same pool hides that wait entirely.
    let mut closed = open_loop(rate, 1, 1);
    closed.arrivals = Arrivals::Closed;
    assert_eq!(Simulation::<Local>::new(&closed).run().total.max_ns, rtt);
}

#[test]
fn arrivals_are_deterministic_per_seed() {
    let run = |seed| {
        let mut config = open_loop(500, 50, 1);
        config.seed = seed;
        let report = Simulation::<Local>::new(&config).run();
        (report.total, arrivals(&report).clone())
    };
    assert_eq!(run(1), run(1));
    assert_ne!(run(1).1.arrived, run(2).1.arrived, "another seed draws other arrival times");
}

#[test]
fn open_loop_needs_a_duration_and_a_rate() {
    let mut config = open_loop(100, 1, 1);
    config.duration = None;
    assert!(config.check().unwrap_err().0.contains("open-loop arrivals need a duration"));
    let config = open_loop(0, 1, 1);
    assert!(config.check().unwrap_err().0.contains("arrival rate is 0"));
}
