//! Open-loop clients: commands arrive in each client region as a Poisson
//! process at a fixed rate, whatever the replies do.
//!
//! A closed-loop client sends its next command only after the previous
//! one's reply, so a slow system is offered less load and its latency
//! looks better than what users would see ("coordinated omission"). Open
//! loop keeps offering the rate. Each region's clients act as its pool of
//! connections: an arrival takes an idle client; if every client of the
//! region is busy, the arrival waits in the region's backlog for the next
//! one to free up, and its latency counts from its arrival, so the wait is
//! measured rather than hidden. A pool as large as the rate times the
//! worst latency never makes an arrival wait.

use crate::id::ClientId;
use crate::rng::StreamRng;
use crate::time::{NS_PER_S, Time};
use rand_distr::{Distribution, Exp1};
use std::collections::VecDeque;

/// How clients issue commands.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Arrivals {
    /// Each client sends its next command when the previous one is
    /// answered (the default).
    #[default]
    Closed,
    /// Commands arrive in each client region as a Poisson process of this
    /// many commands per second; the region's clients are its connections.
    Poisson {
        /// Mean arrivals per second in each client region.
        per_region_per_s: u64,
    },
}

/// One client region's open-loop state.
#[derive(Debug)]
pub(crate) struct RegionArrivals {
    rng: StreamRng,
    mean_gap_ns: f64,
    /// Clients of the region with nothing to send, most recently freed
    /// last (reused first: deterministic and cache-friendly).
    idle: Vec<ClientId>,
    /// Arrival times of commands waiting for a client, oldest first.
    backlog: VecDeque<Time>,
    /// Commands that arrived (measured or not).
    pub(crate) arrived: u64,
    /// Of those, the ones that found every client busy.
    pub(crate) waited: u64,
    /// The longest backlog seen.
    pub(crate) max_backlog: usize,
    /// Arrivals have ended (the run's duration is over).
    stopped: bool,
}

impl RegionArrivals {
    /// A region of `clients` (all idle) receiving `per_region_per_s`
    /// commands per second.
    pub(crate) fn new(per_region_per_s: u64, clients: Vec<ClientId>, rng: StreamRng) -> RegionArrivals {
        let mut idle = clients;
        idle.reverse(); // the region's first client is used first
        RegionArrivals {
            rng,
            mean_gap_ns: NS_PER_S as f64 / per_region_per_s.max(1) as f64,
            idle,
            backlog: VecDeque::new(),
            arrived: 0,
            waited: 0,
            max_backlog: 0,
            stopped: false,
        }
    }

    /// The time from one arrival to the next: exponentially distributed,
    /// rounded to the nanosecond.
    pub(crate) fn next_gap_ns(&mut self) -> u64 {
        let draw: f64 = Exp1.sample(&mut self.rng);
        // The cast saturates; a gap of 0 is two arrivals at one instant.
        (draw * self.mean_gap_ns).round() as u64
    }

    /// A command arrives at `now`: the client to send it, or `None` if
    /// every client is busy (it then waits in the backlog).
    pub(crate) fn arrive(&mut self, now: Time) -> Option<ClientId> {
        self.arrived += 1;
        if let Some(client) = self.idle.pop() {
            return Some(client);
        }
        self.waited += 1;
        self.backlog.push_back(now);
        self.max_backlog = self.max_backlog.max(self.backlog.len());
        None
    }

    /// A client finished its command: the arrival time of the oldest
    /// waiting command, which it sends next, or `None` (it goes idle).
    pub(crate) fn next_for(&mut self, client: ClientId) -> Option<Time> {
        let next = self.backlog.pop_front();
        if next.is_none() {
            self.idle.push(client);
        }
        next
    }

    /// Arrivals end: returns how many clients are idle (they are done;
    /// the busy ones are done when their backlog is empty).
    pub(crate) fn stop(&mut self) -> usize {
        self.stopped = true;
        self.idle.len()
    }

    /// True once arrivals have ended.
    pub(crate) fn stopped(&self) -> bool {
        self.stopped
    }
}

/// What open-loop arrivals did in one client region.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ArrivalReport {
    /// Commands that arrived (warm-up included).
    pub arrived: u64,
    /// Of those, the ones that found every client of the region busy and
    /// waited for one (their wait is part of their latency).
    pub waited: u64,
    /// The longest backlog of waiting commands.
    pub max_backlog: u64,
}

impl From<&RegionArrivals> for ArrivalReport {
    fn from(region: &RegionArrivals) -> ArrivalReport {
        ArrivalReport { arrived: region.arrived, waited: region.waited, max_backlog: region.max_backlog as u64 }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::{Purpose, RngStreams};

    fn region(rate: u64, clients: u32) -> RegionArrivals {
        RegionArrivals::new(rate, (0..clients).map(ClientId).collect(), RngStreams::new(1).stream(Purpose::Arrivals, 0))
    }

    #[test]
    fn gaps_average_the_inverse_rate() {
        let mut arrivals = region(1_000, 1);
        let draws = 100_000;
        let total: u64 = (0..draws).map(|_| arrivals.next_gap_ns()).sum();
        let mean_ms = total as f64 / draws as f64 / 1e6;
        assert!((0.98..1.02).contains(&mean_ms), "mean gap {mean_ms} ms at 1,000/s");
    }

    #[test]
    fn arrivals_wait_for_a_free_client_in_arrival_order() {
        let mut arrivals = region(10, 2);
        assert_eq!(arrivals.arrive(Time::from_ns(1)), Some(ClientId(0)));
        assert_eq!(arrivals.arrive(Time::from_ns(2)), Some(ClientId(1)));
        assert_eq!(arrivals.arrive(Time::from_ns(3)), None);
        assert_eq!(arrivals.arrive(Time::from_ns(4)), None);
        assert_eq!(arrivals.next_for(ClientId(1)), Some(Time::from_ns(3)));
        assert_eq!(arrivals.next_for(ClientId(0)), Some(Time::from_ns(4)));
        assert_eq!(arrivals.next_for(ClientId(1)), None);
        assert_eq!(arrivals.arrive(Time::from_ns(5)), Some(ClientId(1)), "the freed client sends");
        assert_eq!(arrivals.next_for(ClientId(0)), None);
        assert!(!arrivals.stopped());
        assert_eq!(arrivals.stop(), 1, "client 0 is idle, client 1 busy");
        assert!(arrivals.stopped());
        let report = ArrivalReport::from(&arrivals);
        assert_eq!(report, ArrivalReport { arrived: 5, waited: 2, max_backlog: 2 });
    }
}
