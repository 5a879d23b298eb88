//! Faults: timed crashes, partitions, slow links, message loss and
//! duplication, and a seeded generator of such schedules within a budget.
//!
//! A schedule is a list of [`Fault`]s, each active from `at_ns` until
//! `until_ns` (or the end of the run). The engine keeps a [`FaultState`]
//! that it recomputes from the active faults whenever one starts or ends
//! (rare), so the per-message cost is one table lookup, and nothing at all
//! in a run without faults (the engine checks one flag).
//!
//! What each fault means to the engine:
//! - **crash**: the process stops: it receives nothing (messages and
//!   client submissions arriving at it are dropped), its timers do not
//!   fire, its executor stops. A crash with an end is a **restart**: the
//!   process comes back then with only the state its protocol declares
//!   durable ([`crate::Protocol::restart`]); the engine refuses a restart
//!   for a protocol without [`crate::Protocol::RESTARTS`].
//! - **partition**: a message sent on a blocked link is dropped when sent
//!   (messages already in flight arrive). Client traffic is not affected:
//!   clients are not processes of the shard.
//! - **slow**: a link's delay becomes `delay * factor + add` while active.
//! - **loss** / **duplicate**: each message on the link is dropped, or
//!   delivered twice (the copy with its own delay), with the given
//!   probability, drawn from the run's [`Purpose::Faults`] stream. Links
//!   stop being reliable: only protocols that retransmit survive loss.
//! - **clock**: the process's local clock, which a protocol reads through
//!   [`crate::Outbox::clock`], is `now + offset + (now - at) * drift`
//!   while active (and exact again after). Simulated time, message delays
//!   and timers are unaffected: only what a protocol reads as a clock
//!   value changes (see DESIGN.md for which protocols read one).

use crate::id::ProcessId;
use crate::rng::{Purpose, RngStreams, StreamRng};
use crate::time::{NS_PER_MS, NS_PER_S, format_ns_as_s};
use rand::RngExt;
use std::fmt;

/// Directed links: every link from a process of `from` to a process of
/// `to` (a process never links to itself), and back unless `one_way`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Links {
    /// Senders.
    pub from: Vec<ProcessId>,
    /// Receivers.
    pub to: Vec<ProcessId>,
    /// Only `from` to `to`; otherwise both directions.
    pub one_way: bool,
}

impl Links {
    /// Both directions between `a` and `b`.
    pub fn between(a: Vec<ProcessId>, b: Vec<ProcessId>) -> Links {
        Links { from: a, to: b, one_way: false }
    }

    /// Each directed link `(from, to)`, possibly repeated.
    fn each(&self) -> impl Iterator<Item = (ProcessId, ProcessId)> + '_ {
        let forward = self.from.iter().flat_map(|&a| self.to.iter().map(move |&b| (a, b)));
        let backward = self.to.iter().flat_map(|&b| self.from.iter().map(move |&a| (b, a)));
        forward.chain(backward.take(if self.one_way { 0 } else { usize::MAX })).filter(|(a, b)| a != b)
    }
}

/// What goes wrong.
#[derive(Clone, Debug, PartialEq)]
pub enum FaultKind {
    /// The processes stop (see the module doc).
    Crash {
        /// Who crashes.
        processes: Vec<ProcessId>,
    },
    /// Messages on `links` are dropped.
    Partition {
        /// The blocked links.
        links: Links,
    },
    /// Messages on `links` take `delay * factor_permille / 1000 + add_ns`.
    Slow {
        /// The slowed links.
        links: Links,
        /// Delay added to each message.
        add_ns: u64,
        /// Factor on the delay, in thousandths (1000: unchanged).
        factor_permille: u64,
    },
    /// Each message on `links` is lost with `probability`.
    Loss {
        /// The lossy links.
        links: Links,
        /// From 0 to 1 (exclusive).
        probability: f64,
    },
    /// Each message on `links` is delivered twice with `probability`.
    Duplicate {
        /// The links.
        links: Links,
        /// From 0 to 1.
        probability: f64,
    },
    /// The processes' local clocks are off by `offset_ns` and run fast
    /// (or slow, negative) by `drift_ppm` millionths from the fault's start.
    Clock {
        /// Whose clocks.
        processes: Vec<ProcessId>,
        /// Offset, nanoseconds (may be negative).
        offset_ns: i64,
        /// Drift, parts per million (may be negative, above -1,000,000).
        drift_ppm: i64,
    },
}

impl FaultKind {
    /// The kind's name, as scenario files write it.
    pub fn name(&self) -> &'static str {
        match self {
            FaultKind::Crash { .. } => "crash",
            FaultKind::Partition { .. } => "partition",
            FaultKind::Slow { .. } => "slow",
            FaultKind::Loss { .. } => "loss",
            FaultKind::Duplicate { .. } => "duplicate",
            FaultKind::Clock { .. } => "clock",
        }
    }
}

/// One timed fault.
#[derive(Clone, Debug, PartialEq)]
pub struct Fault {
    /// When it starts.
    pub at_ns: u64,
    /// When it ends (a crashed process restarts; a partition heals);
    /// `None`: never.
    pub until_ns: Option<u64>,
    /// What it is.
    pub kind: FaultKind,
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ids = |ps: &[ProcessId]| ps.iter().map(ToString::to_string).collect::<Vec<_>>().join(",");
        let show = |l: &Links| format!("{}{}{}", ids(&l.from), if l.one_way { "->" } else { "<->" }, ids(&l.to));
        write!(f, "{} at {} s", self.kind.name(), format_ns_as_s(self.at_ns))?;
        if let Some(until) = self.until_ns {
            write!(f, " until {} s", format_ns_as_s(until))?;
        }
        match &self.kind {
            FaultKind::Crash { processes } => write!(f, ": {}", ids(processes)),
            FaultKind::Partition { links } => write!(f, ": {}", show(links)),
            FaultKind::Slow { links: l, add_ns, factor_permille } => write!(
                f,
                ": {} delay x{}.{:03} + {} s",
                show(l),
                factor_permille / 1000,
                factor_permille % 1000,
                format_ns_as_s(*add_ns)
            ),
            FaultKind::Loss { links: l, probability } | FaultKind::Duplicate { links: l, probability } => {
                write!(f, ": {} p={probability}", show(l))
            }
            FaultKind::Clock { processes, offset_ns, drift_ppm } => {
                let sign = if *offset_ns < 0 { "-" } else { "+" };
                let offset = format_ns_as_s(offset_ns.unsigned_abs());
                write!(f, ": {} clock {sign}{offset} s drift {drift_ppm} ppm", ids(processes))
            }
        }
    }
}

/// A budget for randomly drawn faults (see [`RandomFaults::draw`]).
#[derive(Clone, Debug, PartialEq)]
pub struct RandomFaults {
    /// Faults to draw.
    pub count: usize,
    /// Most processes crashed at a time (a crash without restart counts
    /// to the end of the run): at most the protocol's `f` for a run that
    /// must stay live.
    pub max_crashed: usize,
    /// Drawn crashes may restart (half of them, each within
    /// `max_duration_ns`); only for protocols that support restarts.
    pub restarts: bool,
    /// With restarts: how long a restarted process still counts as down
    /// after it comes back, for a protocol whose restarted process must
    /// first rebuild its state from the others (VR without disk, §8
    /// recovery) and is out of service until then. 0: back at once.
    pub restart_grace_ns: u64,
    /// Draw partitions (each heals within `max_duration_ns`).
    pub partitions: bool,
    /// Draw slow links (each ends within `max_duration_ns`).
    pub slow_links: bool,
    /// Highest loss probability drawn; 0: no loss.
    pub max_loss: f64,
    /// Highest duplication probability drawn; 0: no duplication.
    pub max_duplicate: f64,
    /// Faults start within `[0, horizon_ns)`.
    pub horizon_ns: u64,
    /// Longest a partition, slow link, loss or duplication lasts.
    pub max_duration_ns: u64,
}

impl Default for RandomFaults {
    fn default() -> Self {
        RandomFaults {
            count: 4,
            max_crashed: 0,
            restarts: false,
            restart_grace_ns: 0,
            partitions: true,
            slow_links: true,
            max_loss: 0.0,
            max_duplicate: 0.0,
            horizon_ns: 5 * NS_PER_S,
            max_duration_ns: 2 * NS_PER_S,
        }
    }
}

impl RandomFaults {
    /// Draws a schedule for `n` processes from the run's fault stream;
    /// the same seed draws the same schedule.
    pub fn draw(&self, n: usize, streams: &RngStreams) -> Vec<Fault> {
        let mut rng = streams.stream(Purpose::Faults, 1);
        let mut kinds: Vec<&str> = Vec::new();
        if self.max_crashed > 0 {
            kinds.push("crash");
        }
        if self.partitions {
            kinds.push("partition");
        }
        if self.slow_links {
            kinds.push("slow");
        }
        if self.max_loss > 0.0 {
            kinds.push("loss");
        }
        if self.max_duplicate > 0.0 {
            kinds.push("duplicate");
        }
        let mut crashed: Vec<ProcessId> = Vec::new();
        // With restarts: (process, down from, down until) of drawn crashes.
        let mut downs: Vec<(ProcessId, u64, u64)> = Vec::new();
        let mut faults = Vec::new();
        let all: Vec<ProcessId> = (0..n).map(ProcessId::from_index).collect();
        for _ in 0..self.count {
            if kinds.is_empty() || n < 2 {
                break;
            }
            let at_ns = rng.random_range(0..self.horizon_ns.max(1));
            let until_ns = Some(at_ns + rng.random_range(1..=self.max_duration_ns.max(1)));
            let one = |rng: &mut StreamRng| vec![all[rng.random_range(0..n)]];
            let kind = match kinds[rng.random_range(0..kinds.len())] {
                "crash" if self.restarts => {
                    // A restart half the time; at most `max_crashed` down
                    // at once (a permanent crash is down to the end, a
                    // restarted process until its grace ends).
                    let until_ns = if rng.random_bool(0.5) { until_ns } else { None };
                    let end = until_ns.map_or(u64::MAX, |until| until.saturating_add(self.restart_grace_ns));
                    let overlapping: Vec<ProcessId> =
                        downs.iter().filter(|(_, from, to)| *from < end && at_ns < *to).map(|(p, _, _)| *p).collect();
                    let alive: Vec<ProcessId> = all.iter().copied().filter(|p| !overlapping.contains(p)).collect();
                    if overlapping.len() >= self.max_crashed || alive.is_empty() {
                        continue;
                    }
                    let victim = alive[rng.random_range(0..alive.len())];
                    downs.push((victim, at_ns, end));
                    faults.push(Fault { at_ns, until_ns, kind: FaultKind::Crash { processes: vec![victim] } });
                    continue;
                }
                "crash" => {
                    let alive: Vec<ProcessId> = all.iter().copied().filter(|p| !crashed.contains(p)).collect();
                    if crashed.len() >= self.max_crashed || alive.is_empty() {
                        continue;
                    }
                    let victim = alive[rng.random_range(0..alive.len())];
                    crashed.push(victim);
                    faults.push(Fault { at_ns, until_ns: None, kind: FaultKind::Crash { processes: vec![victim] } });
                    continue;
                }
                "partition" => {
                    // A random split into two non-empty sides.
                    let mut side: Vec<bool> = (0..n).map(|_| rng.random_bool(0.5)).collect();
                    if side.iter().all(|&s| s) || side.iter().all(|&s| !s) {
                        let flip = rng.random_range(0..n);
                        side[flip] = !side[flip];
                    }
                    let (a, b): (Vec<ProcessId>, Vec<ProcessId>) = all.iter().partition(|p| side[p.index()]);
                    FaultKind::Partition { links: Links { from: a, to: b, one_way: rng.random_bool(0.25) } }
                }
                "slow" => FaultKind::Slow {
                    links: Links::between(one(&mut rng), all.clone()),
                    add_ns: rng.random_range(0..=300) * NS_PER_MS,
                    factor_permille: rng.random_range(1_000..=3_000),
                },
                "loss" => FaultKind::Loss {
                    links: Links::between(one(&mut rng), all.clone()),
                    probability: rng.random_range(0.0..self.max_loss),
                },
                _ => FaultKind::Duplicate {
                    links: Links::between(one(&mut rng), all.clone()),
                    probability: rng.random_range(0.0..self.max_duplicate),
                },
            };
            faults.push(Fault { at_ns, until_ns, kind });
        }
        faults.sort_by_key(|fault| fault.at_ns);
        faults
    }
}

/// The faults of a run, and how clients cope with them.
#[derive(Clone, Debug, PartialEq)]
pub struct FaultPlan {
    /// Faults at fixed times.
    pub schedule: Vec<Fault>,
    /// Faults drawn from the run's seed, added to `schedule`.
    pub random: Option<RandomFaults>,
    /// A client that got no answer this long after submitting resubmits
    /// the same command to the next-closest process (only in runs with
    /// faults). Default: `CLIENT_RETRY` of the leader-election spec (2 s).
    pub client_timeout_ns: u64,
    /// Width of the windows of the latency timeline (runs with faults).
    pub timeline_window_ns: u64,
}

/// Default client timeout: multipaxos-leader-election.md §8 `CLIENT_RETRY`.
pub const DEFAULT_CLIENT_TIMEOUT_NS: u64 = 2 * NS_PER_S;

/// Default width of a latency-timeline window.
pub const DEFAULT_TIMELINE_WINDOW_NS: u64 = 100 * NS_PER_MS;

impl Default for FaultPlan {
    fn default() -> Self {
        FaultPlan {
            schedule: Vec::new(),
            random: None,
            client_timeout_ns: DEFAULT_CLIENT_TIMEOUT_NS,
            timeline_window_ns: DEFAULT_TIMELINE_WINDOW_NS,
        }
    }
}

impl FaultPlan {
    /// True if the run has any fault.
    pub fn any(&self) -> bool {
        !self.schedule.is_empty() || self.random.as_ref().is_some_and(|r| r.count > 0)
    }

    /// True if the schedule skews a clock (the random generator draws no
    /// clock faults).
    pub fn skews_clocks(&self) -> bool {
        self.schedule.iter().any(|f| matches!(f.kind, FaultKind::Clock { .. }))
    }

    /// True if a process may restart: a crash with an end in the
    /// schedule, or drawn crashes that may restart.
    pub fn restarts(&self) -> bool {
        let fixed = self.schedule.iter().any(|f| matches!(f.kind, FaultKind::Crash { .. }) && f.until_ns.is_some());
        fixed || self.random.as_ref().is_some_and(|r| r.restarts && r.max_crashed > 0 && r.count > 0)
    }

    /// The schedule of a run with `n` processes and these `streams`: the
    /// fixed faults then the drawn ones, by start time (stable).
    pub fn resolve(&self, n: usize, streams: &RngStreams) -> Vec<Fault> {
        let mut faults = self.schedule.clone();
        if let Some(random) = &self.random {
            faults.extend(random.draw(n, streams));
        }
        faults.sort_by_key(|fault| fault.at_ns);
        faults
    }

    /// Checks the plan against `n` processes; the message says what is
    /// wrong and what would be valid.
    pub fn check(&self, n: usize) -> Result<(), String> {
        if self.client_timeout_ns == 0 {
            return Err("client timeout is 0: give a positive timeout".into());
        }
        if self.timeline_window_ns == 0 {
            return Err("timeline window is 0: give a positive width".into());
        }
        for (i, fault) in self.schedule.iter().enumerate() {
            check_fault(fault, n).map_err(|e| format!("fault #{} ({}): {e}", i + 1, fault.kind.name()))?;
        }
        if let Some(random) = &self.random {
            if random.max_crashed >= n {
                return Err(format!("random faults: max_crashed {} must leave a process alive", random.max_crashed));
            }
            for (name, p) in [("max_loss", random.max_loss), ("max_duplicate", random.max_duplicate)] {
                if !(0.0..1.0).contains(&p) {
                    return Err(format!("random faults: {name} {p} is not a probability below 1"));
                }
            }
            if random.horizon_ns == 0 || random.max_duration_ns == 0 {
                return Err("random faults: horizon and max duration must be positive".into());
            }
        }
        Ok(())
    }
}

fn check_fault(fault: &Fault, n: usize) -> Result<(), String> {
    let in_range = |ps: &[ProcessId]| match ps.iter().find(|p| p.0 == 0 || p.index() >= n) {
        Some(p) => Err(format!("{p} is not a process; valid: p1 to p{n}")),
        None if ps.is_empty() => Err("no process given".to_string()),
        None => Ok(()),
    };
    if let Some(until) = fault.until_ns
        && until <= fault.at_ns
    {
        return Err(format!(
            "ends at {} s, not after its start at {} s",
            format_ns_as_s(until),
            format_ns_as_s(fault.at_ns)
        ));
    }
    let probability = |p: f64, below_one: bool| {
        let ok = if below_one { (0.0..1.0).contains(&p) } else { (0.0..=1.0).contains(&p) };
        if ok {
            Ok(())
        } else {
            Err(format!("probability {p} must be from 0 to {}", if below_one { "below 1" } else { "1" }))
        }
    };
    match &fault.kind {
        FaultKind::Crash { processes } => in_range(processes),
        FaultKind::Clock { processes, drift_ppm, .. } => {
            in_range(processes)?;
            if *drift_ppm <= -1_000_000 {
                return Err(format!("drift {drift_ppm} ppm stops or reverses the clock: give more than -1000000"));
            }
            Ok(())
        }
        FaultKind::Partition { links } => {
            in_range(&links.from)?;
            in_range(&links.to)
        }
        FaultKind::Slow { links, factor_permille, .. } => {
            in_range(&links.from)?;
            in_range(&links.to)?;
            if *factor_permille == 0 {
                return Err("factor 0: give a positive factor (1 leaves delays unchanged)".into());
            }
            Ok(())
        }
        FaultKind::Loss { links, probability: p } => {
            in_range(&links.from)?;
            in_range(&links.to)?;
            probability(*p, true)
        }
        FaultKind::Duplicate { links, probability: p } => {
            in_range(&links.from)?;
            in_range(&links.to)?;
            probability(*p, false)
        }
    }
}

/// The state of one directed link under the active faults.
#[derive(Clone, Copy, Debug, PartialEq)]
struct LinkState {
    blocked: bool,
    add_ns: u64,
    factor_permille: u64,
    loss: f64,
    duplicate: f64,
}

impl Default for LinkState {
    fn default() -> Self {
        LinkState { blocked: false, add_ns: 0, factor_permille: 1_000, loss: 0.0, duplicate: 0.0 }
    }
}

/// What happens to one message sent under the active faults.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SendFate {
    /// It is dropped.
    Dropped,
    /// It arrives after `delay_ns`, twice if `duplicate`.
    Deliver {
        /// Its delay.
        delay_ns: u64,
        /// A second copy is sent too.
        duplicate: bool,
    },
}

/// A process's local clock under the active clock faults: `now + offset
/// + (drift_ppm * now - drift_at) / 10^6`, exact in integers (the sum of
/// each active fault's `offset + drift * (now - at)`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ClockSkew {
    offset_ns: i128,
    drift_ppm: i128,
    /// Sum of each fault's drift times its start.
    drift_at: i128,
}

impl ClockSkew {
    /// A clock `offset_ns` off and `drift_ppm` fast since `since_ns`.
    pub fn new(offset_ns: i64, drift_ppm: i64, since_ns: u64) -> ClockSkew {
        ClockSkew {
            offset_ns: i128::from(offset_ns),
            drift_ppm: i128::from(drift_ppm),
            drift_at: i128::from(drift_ppm) * i128::from(since_ns),
        }
    }

    /// The local clock reading at simulated time `now` (0 at the least).
    #[inline]
    pub fn read(&self, now: crate::time::Time) -> crate::time::Time {
        if *self == ClockSkew::default() {
            return now;
        }
        let t = i128::from(now.as_ns());
        let local = t + self.offset_ns + (self.drift_ppm * t - self.drift_at) / 1_000_000;
        crate::time::Time::from_ns(u64::try_from(local.max(0)).unwrap_or(u64::MAX))
    }
}

/// Which processes are up, what each link does and how far each clock is
/// off, under the faults active now.
#[derive(Clone, Debug)]
pub struct FaultState {
    n: usize,
    faults: Vec<Fault>,
    active: Vec<bool>,
    up: Vec<bool>,
    links: Vec<LinkState>,
    clocks: Vec<ClockSkew>,
    rng: StreamRng,
}

impl FaultState {
    /// No fault active yet; `faults` is the resolved schedule; draws come
    /// from the run's fault stream.
    pub fn new(n: usize, faults: Vec<Fault>, streams: &RngStreams) -> FaultState {
        FaultState {
            n,
            active: vec![false; faults.len()],
            faults,
            up: vec![true; n],
            links: vec![LinkState::default(); n * n],
            clocks: vec![ClockSkew::default(); n],
            rng: streams.stream(Purpose::Faults, 0),
        }
    }

    /// The schedule.
    pub fn faults(&self) -> &[Fault] {
        &self.faults
    }

    /// Fault `index` starts (`true`) or ends.
    pub fn set_active(&mut self, index: usize, active: bool) {
        self.active[index] = active;
        self.recompute();
    }

    /// True if `process` has not crashed.
    #[inline]
    pub fn is_up(&self, process: ProcessId) -> bool {
        self.up[process.index()]
    }

    /// `process`'s local clock under the active clock faults.
    #[inline]
    pub fn clock(&self, process: ProcessId) -> ClockSkew {
        self.clocks[process.index()]
    }

    /// Processes currently crashed.
    pub fn crashed(&self) -> impl Iterator<Item = ProcessId> + '_ {
        (0..self.n).filter(|&i| !self.up[i]).map(ProcessId::from_index)
    }

    /// What happens to a message from `from` to `to` whose fault-free
    /// delay is `delay_ns`.
    pub fn on_send(&mut self, from: ProcessId, to: ProcessId, delay_ns: u64) -> SendFate {
        let link = self.links[from.index() * self.n + to.index()];
        if link.blocked || (link.loss > 0.0 && self.rng.random_bool(link.loss)) {
            return SendFate::Dropped;
        }
        let scaled = u128::from(delay_ns) * u128::from(link.factor_permille) / 1_000;
        let delay_ns = u64::try_from(scaled).unwrap_or(u64::MAX).saturating_add(link.add_ns);
        let duplicate = link.duplicate > 0.0 && self.rng.random_bool(link.duplicate);
        SendFate::Deliver { delay_ns, duplicate }
    }

    fn recompute(&mut self) {
        self.up.fill(true);
        self.links.fill(LinkState::default());
        self.clocks.fill(ClockSkew::default());
        let n = self.n;
        let mut touched = vec![false; n * n];
        for (fault, _) in self.faults.iter().zip(&self.active).filter(|(_, active)| **active) {
            // Each directed link once per fault: `from` and `to` may
            // overlap (every process to every process), and a slow or
            // lossy fault must not compound with itself.
            touched.fill(false);
            let mut each_link = |links: &Links, change: &dyn Fn(&mut LinkState)| {
                for (a, b) in links.each() {
                    let link = a.index() * n + b.index();
                    if !std::mem::replace(&mut touched[link], true) {
                        change(&mut self.links[link]);
                    }
                }
            };
            match &fault.kind {
                FaultKind::Crash { processes } => processes.iter().for_each(|p| self.up[p.index()] = false),
                FaultKind::Partition { links } => each_link(links, &|l| l.blocked = true),
                FaultKind::Slow { links, add_ns, factor_permille } => each_link(links, &|l| {
                    l.add_ns += add_ns;
                    l.factor_permille = l.factor_permille * factor_permille / 1_000;
                }),
                FaultKind::Loss { links, probability } => {
                    each_link(links, &|l| l.loss = 1.0 - (1.0 - l.loss) * (1.0 - probability))
                }
                FaultKind::Duplicate { links, probability } => {
                    each_link(links, &|l| l.duplicate = 1.0 - (1.0 - l.duplicate) * (1.0 - probability))
                }
                FaultKind::Clock { processes, offset_ns, drift_ppm } => {
                    for p in processes {
                        let clock = &mut self.clocks[p.index()];
                        clock.offset_ns += i128::from(*offset_ns);
                        clock.drift_ppm += i128::from(*drift_ppm);
                        clock.drift_at += i128::from(*drift_ppm) * i128::from(fault.at_ns);
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(ids: &[u32]) -> Vec<ProcessId> {
        ids.iter().map(|&i| ProcessId(i)).collect()
    }

    fn state(faults: Vec<Fault>) -> FaultState {
        FaultState::new(3, faults, &RngStreams::new(1))
    }

    #[test]
    fn partitions_block_and_heal() {
        let one_way = Links { from: p(&[1]), to: p(&[2, 3]), one_way: true };
        let fault = Fault { at_ns: 0, until_ns: Some(5), kind: FaultKind::Partition { links: one_way } };
        let mut faults = state(vec![fault]);
        let free = SendFate::Deliver { delay_ns: 10, duplicate: false };
        assert_eq!(faults.on_send(ProcessId(1), ProcessId(2), 10), free);
        faults.set_active(0, true);
        assert_eq!(faults.on_send(ProcessId(1), ProcessId(2), 10), SendFate::Dropped);
        assert_eq!(faults.on_send(ProcessId(1), ProcessId(3), 10), SendFate::Dropped);
        assert_eq!(faults.on_send(ProcessId(2), ProcessId(1), 10), free, "one way only");
        assert_eq!(faults.on_send(ProcessId(2), ProcessId(3), 10), free);
        faults.set_active(0, false);
        assert_eq!(faults.on_send(ProcessId(1), ProcessId(2), 10), free);
    }

    #[test]
    fn slow_links_compose_and_crashes_stop_processes() {
        let slow = |add_ns, factor_permille| Fault {
            at_ns: 0,
            until_ns: None,
            kind: FaultKind::Slow { links: Links::between(p(&[1]), p(&[2])), add_ns, factor_permille },
        };
        let crash = Fault { at_ns: 0, until_ns: None, kind: FaultKind::Crash { processes: p(&[3]) } };
        let mut faults = state(vec![slow(5, 2_000), slow(1, 1_500), crash]);
        for i in 0..3 {
            faults.set_active(i, true);
        }
        let expected = SendFate::Deliver { delay_ns: 10 * 3 + 6, duplicate: false };
        assert_eq!(faults.on_send(ProcessId(2), ProcessId(1), 10), expected);
        assert!(!faults.is_up(ProcessId(3)) && faults.is_up(ProcessId(1)));
        assert_eq!(faults.crashed().collect::<Vec<_>>(), p(&[3]));
    }

    #[test]
    fn overlapping_sides_apply_a_fault_once_per_link() {
        let everyone = Links::between(p(&[1, 2, 3]), p(&[1, 2, 3]));
        let slow = FaultKind::Slow { links: everyone.clone(), add_ns: 5, factor_permille: 2_000 };
        let lossy = FaultKind::Loss { links: everyone, probability: 0.5 };
        let mut faults = state(vec![
            Fault { at_ns: 0, until_ns: None, kind: slow },
            Fault { at_ns: 0, until_ns: None, kind: lossy },
        ]);
        faults.set_active(0, true);
        assert_eq!(
            faults.on_send(ProcessId(1), ProcessId(2), 10),
            SendFate::Deliver { delay_ns: 25, duplicate: false }
        );
        faults.set_active(1, true);
        assert_eq!(faults.links[1].loss, 0.5, "not 1 - 0.5^2: each link once");
    }

    #[test]
    fn clocks_are_offset_and_drift_from_the_start_then_exact_again() {
        use crate::time::Time;
        let skew = |offset_ns, drift_ppm, at_ns| Fault {
            at_ns,
            until_ns: Some(10_000_000),
            kind: FaultKind::Clock { processes: p(&[2]), offset_ns, drift_ppm },
        };
        let mut faults = state(vec![skew(-500, 1_000, 1_000_000), skew(100, 0, 0)]);
        let read = |faults: &FaultState, at_ns| faults.clock(ProcessId(2)).read(Time::from_ns(at_ns)).as_ns();
        assert_eq!(read(&faults, 3_000_000), 3_000_000, "no fault active");
        faults.set_active(0, true);
        // 2 ms after the start at 1 ms, 1000 ppm fast: +2 us, minus 500 ns.
        assert_eq!(read(&faults, 3_000_000), 3_000_000 - 500 + 2_000);
        faults.set_active(1, true);
        assert_eq!(read(&faults, 3_000_000), 3_000_000 - 500 + 2_000 + 100, "skews add up");
        assert_eq!(faults.clock(ProcessId(1)).read(Time::from_ns(7)), Time::from_ns(7), "other clocks exact");
        assert_eq!(read(&faults, 0), 0, "a clock behind time 0 reads 0");
        faults.set_active(0, false);
        faults.set_active(1, false);
        assert_eq!(read(&faults, 3_000_000), 3_000_000);
        let stopped = FaultPlan { schedule: vec![skew(0, -1_000_000, 0)], ..FaultPlan::default() };
        assert!(stopped.check(3).unwrap_err().contains("stops or reverses the clock"));
    }

    #[test]
    fn loss_drops_about_its_probability() {
        let lossy = FaultKind::Loss { links: Links::between(p(&[1]), p(&[2])), probability: 0.3 };
        let mut faults = state(vec![Fault { at_ns: 0, until_ns: None, kind: lossy }]);
        faults.set_active(0, true);
        let dropped = (0..10_000).filter(|_| faults.on_send(ProcessId(1), ProcessId(2), 1) == SendFate::Dropped);
        let dropped = dropped.count();
        assert!((2_700..3_300).contains(&dropped), "{dropped}");
    }

    #[test]
    fn checks_say_what_is_wrong() {
        let crash = |until_ns, ids: &[u32]| FaultPlan {
            schedule: vec![Fault { at_ns: 10, until_ns, kind: FaultKind::Crash { processes: p(ids) } }],
            ..FaultPlan::default()
        };
        assert_eq!(crash(None, &[1]).check(3), Ok(()));
        assert_eq!(crash(None, &[4]).check(3).unwrap_err(), "fault #1 (crash): p4 is not a process; valid: p1 to p3");
        assert_eq!(crash(Some(20), &[1]).check(3), Ok(()), "a restart (the protocol is checked by the engine)");
        assert!(crash(Some(20), &[1]).restarts() && !crash(None, &[1]).restarts());
        assert!(crash(Some(5), &[1]).check(3).unwrap_err().contains("not after its start"));
    }

    #[test]
    fn random_schedules_are_seeded_and_within_budget() {
        let budget = RandomFaults { count: 20, max_crashed: 2, max_loss: 0.1, ..RandomFaults::default() };
        let a = budget.draw(5, &RngStreams::new(7));
        assert_eq!(a, budget.draw(5, &RngStreams::new(7)));
        assert_ne!(a, budget.draw(5, &RngStreams::new(8)));
        let crashes = a.iter().filter(|f| matches!(f.kind, FaultKind::Crash { .. })).count();
        assert!(crashes <= 2);
        for fault in &a {
            match &fault.kind {
                FaultKind::Crash { .. } => assert_eq!(fault.until_ns, None),
                FaultKind::Loss { probability, .. } => assert!(*probability < 0.1),
                _ => assert!(fault.until_ns.is_some(), "everything else ends: {fault}"),
            }
        }
        assert!(a.windows(2).all(|w| w[0].at_ns <= w[1].at_ns));
    }

    #[test]
    fn drawn_restarts_keep_at_most_max_crashed_down_at_once() {
        let budget = RandomFaults { count: 40, max_crashed: 2, restarts: true, ..RandomFaults::default() };
        let mut restarts = 0;
        for seed in 1..=20 {
            let faults = budget.draw(5, &RngStreams::new(seed));
            let downs: Vec<(u64, u64)> = faults
                .iter()
                .filter(|f| matches!(f.kind, FaultKind::Crash { .. }))
                .map(|f| (f.at_ns, f.until_ns.unwrap_or(u64::MAX)))
                .collect();
            restarts +=
                faults.iter().filter(|f| matches!(f.kind, FaultKind::Crash { .. }) && f.until_ns.is_some()).count();
            for &(at, _) in &downs {
                let down_then = downs.iter().filter(|(from, to)| *from <= at && at < *to).count();
                assert!(down_then <= 2, "seed {seed}: {down_then} down at {at}");
            }
        }
        assert!(restarts > 0, "some drawn crashes restart");
        let without = RandomFaults { restarts: false, ..budget.clone() };
        let crashes = without.draw(5, &RngStreams::new(3));
        let mut crashes = crashes.iter().filter(|f| matches!(f.kind, FaultKind::Crash { .. })).peekable();
        assert!(crashes.peek().is_some() && crashes.all(|f| f.until_ns.is_none()), "no restart unless asked");
    }

    /// A restarted process still counts as down for the grace (it
    /// recovers from the others first): with `max_crashed = 1`, no crash
    /// starts before the previous restart plus the grace.
    #[test]
    fn drawn_restarts_count_as_down_during_the_grace() {
        let grace_ns = 4 * NS_PER_S;
        let budget = RandomFaults {
            count: 40,
            max_crashed: 1,
            restarts: true,
            restart_grace_ns: grace_ns,
            ..RandomFaults::default()
        };
        let (mut restarts, mut later_crashes) = (0, 0);
        for seed in 1..=40 {
            let faults = budget.draw(5, &RngStreams::new(seed));
            let crashes: Vec<&Fault> = faults.iter().filter(|f| matches!(f.kind, FaultKind::Crash { .. })).collect();
            for pair in crashes.windows(2) {
                let until = pair[0].until_ns.expect("only a restarted process frees the budget");
                assert!(pair[1].at_ns >= until + grace_ns, "seed {seed}: {} then {}", pair[0], pair[1]);
                later_crashes += 1;
            }
            restarts += crashes.iter().filter(|f| f.until_ns.is_some()).count();
        }
        assert!(restarts > 0 && later_crashes > 0, "{restarts} restarts, {later_crashes} crashes after one");
    }
}
