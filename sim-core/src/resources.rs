//! The CPU and NIC model: finite cores, an input queue and a network card
//! per process (issue 5). Off (`RunConfig::resources = None`) means
//! infinite resources, the engine's original behaviour.
//!
//! A process is a queue in front of its cores, behind its NIC:
//!
//! - **NIC in.** A message (or a client's command) that reaches a process
//!   is first serialised off the wire by its inbound NIC, one at a time in
//!   arrival order: ready at `max(arrival, NIC free) + bytes / bandwidth`.
//! - **Cores.** Inputs (messages, client commands, timers) are handled in
//!   ready order, each by one core, as soon as one is free; until then
//!   they wait in the process's FIFO, and that wait is the *queueing
//!   delay*. A process whose protocol is sequential
//!   ([`Protocol::PARALLEL`](crate::Protocol::PARALLEL) false) has one
//!   core whatever the model says.
//! - **CPU cost.** The handler runs when its core starts it (the protocol
//!   sees `now` = the start), and the core is busy for the cost of what it
//!   did: a fixed cost per input, per message sent and per command
//!   executed, a cost per byte received and sent, and a cost per *work
//!   unit* the protocol or its executor reported
//!   ([`Outbox::work`](crate::Outbox::work), [`Apply::work`](crate::Apply::work):
//!   dependencies scanned, votes merged). Every cost is multiplied by one
//!   global `cpu_scale_percent`, the single calibration knob.
//! - **Outputs.** Each output leaves when the handler has done the work up
//!   to and including it: a message sent after the CPU time spent so far
//!   in the step (its own sending cost included), so the first message of
//!   a broadcast leaves before the last; a client's result likewise.
//! - **NIC out.** A message then serialises on the sender's outbound NIC,
//!   one at a time in departure order, and only then crosses the WAN.
//!
//! The engine drives this through a narrow interface: [`Resources::arrive`]
//! when an input reaches a process, [`Resources::can_start`] /
//! [`Resources::enqueue`] / [`Resources::pop_startable`] to decide when it
//! runs, `begin_step` / `charge_*` / `end_step` around the handler, and
//! [`Resources::transmit`] for each message leaving. All arithmetic is
//! integer nanoseconds: a run stays deterministic and platform-independent.

use crate::metrics::{LatencyRecorder, LatencySummary};
use crate::time::Time;
use std::collections::VecDeque;

/// The resources of every process of a run, and the CPU cost model. Every
/// number is settable in scenarios (`[resources]`); see
/// [`ResourceModel::default`] for where the defaults come from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ResourceModel {
    /// Cores per process (used only by protocols that declare
    /// [`Protocol::PARALLEL`](crate::Protocol::PARALLEL)).
    pub cores: u32,
    /// CPU time per action.
    pub costs: CpuCosts,
    /// Outbound NIC bandwidth per process, megabits per second.
    pub nic_out_mbit_per_s: u64,
    /// Inbound NIC bandwidth per process, megabits per second.
    pub nic_in_mbit_per_s: u64,
}

/// CPU time per action, in nanoseconds before the global scale.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CpuCosts {
    /// Per input handled (a message, a client command, a timer): dispatch,
    /// decoding the header, the handler's fixed bookkeeping.
    pub per_input_ns: u64,
    /// Per message sent to another process (encoding, the send call).
    pub per_message_sent_ns: u64,
    /// Per KiB received or sent (copying and (de)serialising the body).
    pub per_kib_ns: u64,
    /// Per command executed against the state machine (and its result).
    pub per_command_executed_ns: u64,
    /// Per work unit a protocol reports (one dependency scanned, one vote
    /// merged: a hash lookup or two).
    pub per_work_unit_ns: u64,
    /// Every cost above is multiplied by this, in percent: the one global
    /// knob calibrated against a measured peak (100 = as written).
    pub cpu_scale_percent: u64,
}

impl Default for ResourceModel {
    /// The defaults; docs/resources.md gives the reasoning and sources.
    ///
    /// - 8 cores: the papers' replicas ran on 8-vCPU cloud VMs (an
    ///   assumption to check against the papers' set-up sections).
    /// - 10 Gbit/s each way: the papers' VMs' network (GCP's per-VM egress
    ///   cap for 8 vCPUs is 16 Gbit/s; 10 is the commonly quoted figure).
    /// - 2 us per input and 1 us per message sent: a Rust or Go replica's
    ///   receive/dispatch and send path with batched syscalls.
    /// - 250 ns per KiB: copying and serialising at about 4 GB/s.
    /// - 1 us per executed command: a hash-map put/get and the reply.
    /// - 100 ns per work unit: a hash lookup and a comparison.
    /// - the scale: calibrated once on FPaxos f = 1 at its peak
    ///   (docs/resources.md).
    fn default() -> Self {
        ResourceModel {
            cores: 8,
            costs: CpuCosts {
                per_input_ns: 2_000,
                per_message_sent_ns: 1_000,
                per_kib_ns: 250,
                per_command_executed_ns: 1_000,
                per_work_unit_ns: 100,
                cpu_scale_percent: DEFAULT_CPU_SCALE_PERCENT,
            },
            nic_out_mbit_per_s: 10_000,
            nic_in_mbit_per_s: 10_000,
        }
    }
}

/// The calibrated global CPU scale (docs/resources.md).
pub const DEFAULT_CPU_SCALE_PERCENT: u64 = 87;

impl ResourceModel {
    /// What is wrong with this model, if anything.
    pub fn check(&self) -> Result<(), String> {
        if self.cores == 0 {
            return Err("resources.cores is 0; give at least 1".into());
        }
        if self.nic_out_mbit_per_s == 0 || self.nic_in_mbit_per_s == 0 {
            let key = if self.nic_out_mbit_per_s == 0 { "nic_out_mbit_per_s" } else { "nic_in_mbit_per_s" };
            return Err(format!("resources.{key} is 0; give a positive number of Mbit/s"));
        }
        if self.costs.cpu_scale_percent == 0 {
            return Err("resources.cpu_scale_percent is 0; give a positive percentage (100 = costs as written)".into());
        }
        Ok(())
    }

    /// Time to serialise `bytes` at `mbit_per_s`, ns (rounded down, so a
    /// model with zero costs and unbounded bandwidth is exactly the
    /// infinite one: a test relies on it).
    fn serialisation_ns(bytes: u64, mbit_per_s: u64) -> u64 {
        // bytes * 8 bits / (mbit * 1e6 bits/s) in ns = bytes * 8000 / mbit.
        u64::try_from(u128::from(bytes) * 8_000 / u128::from(mbit_per_s)).unwrap_or(u64::MAX)
    }
}

/// A step's CPU cost is kept in 1/1024 ns so a per-byte cost adds up
/// exactly (per KiB in ns = per byte in 1/1024 ns).
const FRACTION: u64 = 1_024;

/// Per process: its cores, its queue, its NIC and what was measured.
#[derive(Debug)]
struct ProcessResources<I> {
    /// When each core is next free.
    core_free_at: Vec<Time>,
    /// Inputs waiting for a core, in arrival order, with their ready time.
    waiting: VecDeque<(Time, I)>,
    /// A wake-up is scheduled for this process.
    wake_pending: bool,
    nic_out_free_at: Time,
    nic_in_free_at: Time,
    /// Busy time within the measurement window, ns.
    cpu_busy_ns: u64,
    nic_out_busy_ns: u64,
    nic_in_busy_ns: u64,
    /// Inputs started within the window.
    steps: u64,
    /// From ready to started, for inputs started within the window.
    queueing: LatencyRecorder,
}

/// The step being handled: which process, since when, what it cost so far.
#[derive(Clone, Copy, Debug)]
struct Step {
    process: usize,
    start: Time,
    core: usize,
    /// In 1/1024 ns, before the scale.
    cost: u64,
}

/// What the model measured of one process.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProcessResourceReport {
    /// Cores it could use.
    pub cores: u32,
    /// Busy core time over available core time in the window, ppm.
    pub cpu_utilisation_ppm: u64,
    /// Outbound NIC busy time over the window, ppm.
    pub nic_out_utilisation_ppm: u64,
    /// Inbound NIC busy time over the window, ppm.
    pub nic_in_utilisation_ppm: u64,
    /// Inputs handled that started within the window.
    pub inputs: u64,
    /// Time an input waited for a core (after its NIC), ns.
    pub queueing: LatencySummary,
}

/// The resources of a run's processes; `I` is the engine's input type.
#[derive(Debug)]
pub struct Resources<I> {
    model: ResourceModel,
    processes: Vec<ProcessResources<I>>,
    step: Option<Step>,
    /// Busy time counts only within [start, end).
    window_start: Time,
    window_end: Time,
}

impl<I> Resources<I> {
    /// `n` processes with `cores` cores each (the engine passes 1 for a
    /// sequential protocol), measured within [`window_start`,
    /// `window_end`).
    pub fn new(model: ResourceModel, n: usize, cores: u32, window_start: Time, window_end: Time) -> Resources<I> {
        let processes = (0..n)
            .map(|_| ProcessResources {
                core_free_at: vec![Time::ZERO; cores.max(1) as usize],
                waiting: VecDeque::new(),
                wake_pending: false,
                nic_out_free_at: Time::ZERO,
                nic_in_free_at: Time::ZERO,
                cpu_busy_ns: 0,
                nic_out_busy_ns: 0,
                nic_in_busy_ns: 0,
                steps: 0,
                queueing: LatencyRecorder::new(),
            })
            .collect();
        Resources { model, processes, step: None, window_start, window_end }
    }

    /// The model.
    pub fn model(&self) -> &ResourceModel {
        &self.model
    }

    /// Overlap of [from, to) with the window, ns.
    fn in_window(&self, from: Time, to: Time) -> u64 {
        to.min(self.window_end).since(from.max(self.window_start))
    }

    /// An input of `bytes` (0 for a timer: it does not cross the NIC)
    /// reached `process` at `now`: returns when its inbound NIC has it.
    pub fn arrive(&mut self, process: usize, bytes: u64, now: Time) -> Time {
        if bytes == 0 {
            return now;
        }
        let busy_ns = ResourceModel::serialisation_ns(bytes, self.model.nic_in_mbit_per_s);
        let start = now.max(self.processes[process].nic_in_free_at);
        let done = start.plus_ns(busy_ns);
        let counted = self.in_window(start, done);
        let state = &mut self.processes[process];
        state.nic_in_free_at = done;
        state.nic_in_busy_ns += counted;
        done
    }

    /// Whether an input ready at `ready` may start at `now`: it is ready,
    /// nothing waits before it, and a core is free.
    pub fn can_start(&self, process: usize, ready: Time, now: Time) -> bool {
        let state = &self.processes[process];
        ready <= now && state.waiting.is_empty() && state.core_free_at.iter().any(|&free| free <= now)
    }

    /// Queues `input`, ready at `ready`; returns a time to wake the process
    /// at if none is scheduled yet.
    pub fn enqueue(&mut self, process: usize, ready: Time, input: I, now: Time) -> Option<Time> {
        self.processes[process].waiting.push_back((ready, input));
        self.wake_time(process, now)
    }

    /// Takes the process's scheduled wake-up (the engine's wake event
    /// fired).
    pub fn woken(&mut self, process: usize) {
        self.processes[process].wake_pending = false;
    }

    /// The next queued input of `process` if it may start at `now`.
    pub fn pop_startable(&mut self, process: usize, now: Time) -> Option<(Time, I)> {
        let state = &mut self.processes[process];
        let &(ready, _) = state.waiting.front()?;
        let core_free = state.core_free_at.iter().any(|&free| free <= now);
        (ready <= now && core_free).then(|| state.waiting.pop_front().expect("front exists"))
    }

    /// When to wake `process` to start its next queued input, if it has one
    /// and no wake-up is scheduled (marking one scheduled).
    pub fn wake_time(&mut self, process: usize, now: Time) -> Option<Time> {
        let state = &mut self.processes[process];
        if state.wake_pending {
            return None;
        }
        let &(ready, _) = state.waiting.front()?;
        let core_free = *state.core_free_at.iter().min().expect("at least one core");
        state.wake_pending = true;
        Some(ready.max(core_free).max(now))
    }

    /// A core of `process` starts an input that was ready at `ready`, of
    /// `bytes` received (0 for a timer or a self-addressed message).
    pub fn begin_step(&mut self, process: usize, ready: Time, bytes: u64, now: Time) {
        debug_assert!(self.step.is_none(), "steps do not nest");
        let (window_start, window_end) = (self.window_start, self.window_end);
        let state = &mut self.processes[process];
        let core = (0..state.core_free_at.len())
            .find(|&core| state.core_free_at[core] <= now)
            .expect("a step starts only on a free core");
        if (window_start..window_end).contains(&now) {
            state.steps += 1;
            state.queueing.record(now.since(ready));
        }
        let costs = &self.model.costs;
        let cost = costs.per_input_ns * FRACTION + bytes * costs.per_kib_ns;
        self.step = Some(Step { process, start: now, core, cost });
    }

    fn scaled_ns(&self, cost: u64) -> u64 {
        u64::try_from(u128::from(cost) * u128::from(self.model.costs.cpu_scale_percent) / u128::from(100 * FRACTION))
            .unwrap_or(u64::MAX)
    }

    fn add(&mut self, cost: u64) {
        let step = self.step.as_mut().expect("costs are charged inside a step");
        step.cost = step.cost.saturating_add(cost);
    }

    /// The step handled a self-addressed message (no NIC, no bytes copied).
    pub fn charge_self_message(&mut self) {
        self.add(self.model.costs.per_input_ns * FRACTION);
    }

    /// The step did `units` units of protocol work.
    pub fn charge_work(&mut self, units: u64) {
        self.add(units.saturating_mul(self.model.costs.per_work_unit_ns * FRACTION));
    }

    /// The step executed `commands` commands.
    pub fn charge_executed(&mut self, commands: u64) {
        self.add(commands.saturating_mul(self.model.costs.per_command_executed_ns * FRACTION));
    }

    /// The step sends a message of `bytes`: returns when the CPU is done
    /// with it (the step's cost so far, this message included).
    pub fn charge_send(&mut self, bytes: u64) -> Time {
        let costs = &self.model.costs;
        self.add(costs.per_message_sent_ns * FRACTION + bytes * costs.per_kib_ns);
        self.cpu_done_so_far()
    }

    /// When the work of the step done so far is finished.
    pub fn cpu_done_so_far(&self) -> Time {
        let step = self.step.expect("inside a step");
        step.start.plus_ns(self.scaled_ns(step.cost))
    }

    /// The step is over: its core is busy until its whole cost is spent.
    pub fn end_step(&mut self) {
        let step = self.step.take().expect("inside a step");
        let end = step.start.plus_ns(self.scaled_ns(step.cost));
        let counted = self.in_window(step.start, end);
        let state = &mut self.processes[step.process];
        state.core_free_at[step.core] = end;
        state.cpu_busy_ns += counted;
    }

    /// A message of `bytes` leaves `process`'s CPU at `departure`: returns
    /// when its last byte has left the outbound NIC.
    pub fn transmit(&mut self, process: usize, bytes: u64, departure: Time) -> Time {
        let busy_ns = ResourceModel::serialisation_ns(bytes, self.model.nic_out_mbit_per_s);
        let start = departure.max(self.processes[process].nic_out_free_at);
        let done = start.plus_ns(busy_ns);
        let counted = self.in_window(start, done);
        let state = &mut self.processes[process];
        state.nic_out_free_at = done;
        state.nic_out_busy_ns += counted;
        done
    }

    /// What was measured, per process; `window_ns` is the length of the
    /// measurement window actually covered.
    pub fn report(&self, window_ns: u64) -> Vec<ProcessResourceReport> {
        let ppm = |busy: u64, capacity: u64| {
            u64::try_from(u128::from(busy) * 1_000_000 / u128::from(capacity.max(1))).unwrap_or(u64::MAX)
        };
        self.processes
            .iter()
            .map(|state| {
                let cores = state.core_free_at.len() as u64;
                ProcessResourceReport {
                    cores: cores as u32,
                    cpu_utilisation_ppm: ppm(state.cpu_busy_ns, window_ns.saturating_mul(cores)),
                    nic_out_utilisation_ppm: ppm(state.nic_out_busy_ns, window_ns),
                    nic_in_utilisation_ppm: ppm(state.nic_in_busy_ns, window_ns),
                    inputs: state.steps,
                    queueing: state.queueing.summary(),
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Round numbers: 1 us per input, 1 us per message sent, 1 ns per byte
    /// (1,024 per KiB), 1 us per command, 10 ns per work unit; NIC at
    /// 8,000 Mbit/s = 1 byte/ns.
    fn model(cores: u32) -> ResourceModel {
        ResourceModel {
            cores,
            costs: CpuCosts {
                per_input_ns: 1_000,
                per_message_sent_ns: 1_000,
                per_kib_ns: 1_024,
                per_command_executed_ns: 1_000,
                per_work_unit_ns: 10,
                cpu_scale_percent: 100,
            },
            nic_out_mbit_per_s: 8_000,
            nic_in_mbit_per_s: 8_000,
        }
    }

    fn at(ns: u64) -> Time {
        Time::from_ns(ns)
    }

    /// Runs one step of `process`: an input of `bytes` ready at `ready`,
    /// sending `sends` messages of 100 bytes; returns their departures.
    fn step(r: &mut Resources<u32>, ready: Time, bytes: u64, sends: usize, now: Time) -> Vec<Time> {
        r.begin_step(0, ready, bytes, now);
        let departures = (0..sends).map(|_| r.charge_send(100)).collect();
        r.end_step();
        departures
    }

    #[test]
    fn one_core_queues_inputs_and_measures_the_wait_exactly() {
        let mut r: Resources<u32> = Resources::new(model(1), 1, 1, Time::ZERO, at(1_000_000));
        // First input: 500 bytes at t = 0; NIC in done at 500 ns.
        let ready = r.arrive(0, 500, Time::ZERO);
        assert_eq!(ready, at(500));
        assert!(!r.can_start(0, ready, Time::ZERO), "not off the NIC yet");
        assert_eq!(r.enqueue(0, ready, 1, Time::ZERO), Some(at(500)));
        // Second input arrives at 100: NIC in busy until 500, then 200 more.
        let ready2 = r.arrive(0, 200, at(100));
        assert_eq!(ready2, at(700));
        assert_eq!(r.enqueue(0, ready2, 2, at(100)), None, "a wake-up is already scheduled");
        // Wake at 500: input 1 starts; cost 1,000 + 500 (bytes) + 2 sends of
        // (1,000 + 100) = 3,700 ns; the sends leave at 500 + 2,600 and
        // 500 + 3,700.
        r.woken(0);
        let (ready, input) = r.pop_startable(0, at(500)).expect("input 1 startable");
        assert_eq!(input, 1);
        assert_eq!(step(&mut r, ready, 500, 2, at(500)), vec![at(3_100), at(4_200)]);
        assert!(r.pop_startable(0, at(500)).is_none(), "the only core is busy");
        assert_eq!(r.wake_time(0, at(500)), Some(at(4_200)));
        // Wake at 4,200: input 2 starts after waiting 4,200 - 700 ns.
        r.woken(0);
        let (ready, input) = r.pop_startable(0, at(4_200)).expect("input 2 startable");
        assert_eq!((ready, input), (at(700), 2));
        assert!(step(&mut r, ready, 200, 0, at(4_200)).is_empty());
        assert_eq!(r.wake_time(0, at(4_200)), None, "nothing left");
        let report = &r.report(1_000_000)[0];
        assert_eq!(report.inputs, 2);
        assert_eq!(report.queueing.min_ns, 0);
        assert_eq!(report.queueing.max_ns, 3_500);
        assert_eq!(report.queueing.mean_ns, 1_750);
        // Busy 3,700 + 1,200 ns of 1 ms.
        assert_eq!(report.cpu_utilisation_ppm, 4_900);
        assert_eq!(report.nic_in_utilisation_ppm, 700);
    }

    #[test]
    fn several_cores_run_inputs_at_once() {
        let mut r: Resources<u32> = Resources::new(model(2), 1, 2, Time::ZERO, at(10_000));
        assert!(r.can_start(0, Time::ZERO, Time::ZERO));
        step(&mut r, Time::ZERO, 0, 1, Time::ZERO); // busy until 2,100
        assert!(r.can_start(0, Time::ZERO, Time::ZERO), "the second core is free");
        step(&mut r, Time::ZERO, 0, 0, Time::ZERO); // busy until 1,000
        assert!(!r.can_start(0, Time::ZERO, at(999)));
        assert_eq!(r.enqueue(0, Time::ZERO, 7, at(500)), Some(at(1_000)), "the first core to free");
        assert!(!r.can_start(0, Time::ZERO, at(2_100)), "FIFO: an input waits, so a new one queues");
        let report = &r.report(10_000)[0];
        assert_eq!(report.cpu_utilisation_ppm, (2_100 + 1_000) * 1_000_000 / 20_000);
    }

    #[test]
    fn the_outbound_nic_serialises_in_departure_order() {
        let mut r: Resources<u32> = Resources::new(model(1), 2, 1, Time::ZERO, at(10_000));
        assert_eq!(r.transmit(0, 4_000, at(100)), at(4_100));
        assert_eq!(r.transmit(0, 1_000, at(200)), at(5_100), "waits for the first");
        assert_eq!(r.transmit(0, 1_000, at(9_000)), at(10_000), "an idle NIC starts at once");
        assert_eq!(r.transmit(1, 1_000, at(200)), at(1_200), "each process has its own");
        // Busy 6,000 of the first process's 10,000 ns window.
        assert_eq!(r.report(10_000)[0].nic_out_utilisation_ppm, 600_000);
    }

    #[test]
    fn work_execution_and_scale_add_up() {
        let mut m = model(1);
        m.costs.cpu_scale_percent = 50;
        let mut r: Resources<u32> = Resources::new(m, 1, 1, Time::ZERO, at(1_000_000));
        r.begin_step(0, Time::ZERO, 0, Time::ZERO);
        r.charge_work(30); // 300
        r.charge_executed(2); // 2,000
        r.charge_self_message(); // 1,000
        // 1,000 + 300 + 2,000 + 1,000 = 4,300 ns at 50%.
        assert_eq!(r.cpu_done_so_far(), at(2_150));
        r.end_step();
        assert_eq!(r.wake_time(0, Time::ZERO), None);
        assert!(!r.can_start(0, Time::ZERO, at(2_149)));
        assert!(r.can_start(0, Time::ZERO, at(2_150)));
    }

    #[test]
    fn busy_time_outside_the_window_is_not_counted() {
        let mut r: Resources<u32> = Resources::new(model(1), 1, 1, at(1_000), at(2_000));
        step(&mut r, Time::ZERO, 0, 0, at(500)); // [500, 1,500): 500 inside
        let report = &r.report(1_000)[0];
        assert_eq!(report.cpu_utilisation_ppm, 500_000);
        assert_eq!(report.inputs, 0, "started before the window");
    }

    #[test]
    fn invalid_models_are_rejected() {
        assert!(ResourceModel::default().check().is_ok());
        let m = ResourceModel { cores: 0, ..Default::default() };
        assert!(m.check().unwrap_err().contains("cores"));
        let m = ResourceModel { nic_in_mbit_per_s: 0, ..Default::default() };
        assert!(m.check().unwrap_err().contains("nic_in_mbit_per_s"));
    }
}
