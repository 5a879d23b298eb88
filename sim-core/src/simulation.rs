//! The event loop: one deterministic, single-threaded run of a protocol.

use crate::arrivals::{ArrivalReport, Arrivals, RegionArrivals};
use crate::command::{Command, CommandId, Key, Op, is_single_use};
use crate::config::{RunConfig, RunDuration};
use crate::dedup::ClientTable;
use crate::faults::{FaultKind, FaultState, SendFate};
use crate::id::{ClientId, ProcessId, RegionId};
use crate::kv::KvStore;
use crate::kv::OpResults;
use crate::metrics::{LatencyRecorder, LatencySummary, ProtocolSummary};
use crate::observe::{FaultObserver, FaultReport, STUCK_LISTED};
use crate::protocol::{
    Apply, Effect, ExecutionInfo, Executor, ExecutorFeedback, MessageSize, Outbox, ProcessSetup, Protocol,
    ProtocolConfig, Reply,
};
use crate::queue::EventQueue;
use crate::resources::{ProcessResourceReport, Resources};
use crate::rng::{ClientRng, Purpose, RngStreams, StreamRng};
use crate::state_loss::StateLossWatch;
use crate::time::{NS_PER_S, Time};
use crate::verdict::{ExecutionChecker, FaultClass, History, HistoryOp, Unfinished, Verdict};
use crate::wan::Wan;
use crate::workload::{ClientKeyState, CommandGenerator};
use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;

enum Event<P: Protocol> {
    /// Command `seq` of a client reaches `process`.
    Submit { client: ClientId, process: ProcessId, seq: u64 },
    /// A message reaches process `to`.
    Deliver { from: ProcessId, to: ProcessId, msg: P::Message },
    /// A timer of `process` is due, if `generation` is still its latest.
    Timer { process: ProcessId, timer: P::Timer, generation: u64 },
    /// A result from process `from` reaches the client of `id`.
    Reply { id: CommandId, results: OpResults, from: ProcessId },
    /// Fault `index` of the schedule starts (`start`) or ends.
    Fault { index: usize, start: bool },
    /// A client's timeout, if `generation` is still its latest.
    ClientTimeout { client: ClientId, generation: u64 },
    /// A core of `process` may take its next queued input (CPU model only).
    Wake { process: ProcessId },
    /// A command arrives in client region `region_slot` (open loop only).
    Arrival { region_slot: usize },
}

struct Process<P: Protocol> {
    region: RegionId,
    protocol: P,
    executor: P::Executor,
    store: KvStore,
    /// The live generation of each set timer; a fired timer whose
    /// generation differs was replaced or cancelled.
    timers: BTreeMap<P::Timer, u64>,
    /// The state machine's client table, in runs where clients retry.
    dedup: Option<ClientTable>,
    /// Restarts so far (each incarnation gets its own random stream).
    restarts: u64,
}

/// What the engine needs to build a restarted process again, kept only
/// in runs where a process may restart.
struct RestartKit<P: Protocol> {
    streams: RngStreams,
    ids: Vec<ProcessId>,
    by_distance: Vec<Vec<ProcessId>>,
    config: ProtocolConfig,
    options: P::Options,
}

struct Client {
    region: RegionId,
    process: ProcessId,
    /// Index of the client's region in the run's client regions.
    region_slot: usize,
    issued: u64,
    pending: Option<Arc<Command>>,
    /// When the pending command was sent (its invocation, for the checks).
    sent_at: Time,
    /// When it arrived (open loop: before it was sent if it waited for
    /// this client); latency counts from here.
    arrived_at: Time,
    keys: ClientKeyState,
    rng: ClientRng,
    /// Submissions of the current command (1 + its retries).
    submissions: usize,
    /// The generation of the client's live timeout.
    timeout_generation: u64,
}

/// Latency of one client region.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RegionReport {
    /// The region's name.
    pub region: String,
    /// Clients in it.
    pub clients: u32,
    /// Latency of their completed commands.
    pub latency: LatencySummary,
}

/// What a run measured.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunReport {
    /// Per client region, in the configured order.
    pub regions: Vec<RegionReport>,
    /// All clients together.
    pub total: LatencySummary,
    /// All clients together: the latency at each of
    /// [`DISTRIBUTION_QUANTILES`](crate::metrics::DISTRIBUTION_QUANTILES)
    /// (empty if no command completed), for CDFs.
    pub total_quantiles_ns: Vec<u64>,
    /// Commands the clients were to issue (in a duration run: those they
    /// issued).
    pub commands_expected: u64,
    /// Commands completed, warm-up included (`total.count` leaves out a
    /// duration run's warm-up).
    pub commands_completed: u64,
    /// A duration run's measurement window; `None` for a run of
    /// commands per client, whose throughput is over the whole run.
    pub window: Option<ThroughputWindow>,
    /// Simulated time of the last event handled.
    pub end_time: Time,
    /// Events handled (deliveries, timers, client submissions and replies;
    /// self-addressed messages are handled inline and not counted).
    pub events: u64,
    /// Messages sent between distinct processes.
    pub messages_sent: u64,
    /// Bytes of those messages.
    pub bytes_sent: u64,
    /// Commands executed, summed over replicas.
    pub executions: u64,
    /// How the protocol decided: fast and slow paths, commit latency,
    /// execution wait, dependency-set sizes.
    pub protocol: ProtocolSummary,
    /// Clients that had not finished when the run stopped.
    pub incomplete_clients: u32,
    /// PASS or FAIL, with what went wrong.
    pub verdict: Verdict,
    /// Per process, what the CPU and NIC model measured over the
    /// measurement window (a duration run's, or the whole run); `None`
    /// when resources are infinite.
    pub resources: Option<Vec<ProcessResourceReport>>,
    /// What the faults did; `None` in a run without faults.
    pub faults: Option<FaultReport>,
    /// Per client region, what open-loop arrivals did; `None` for
    /// closed-loop clients.
    pub arrivals: Option<Vec<ArrivalReport>>,
}

/// Where a duration run measures throughput.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ThroughputWindow {
    /// The end of the warm-up.
    pub start: Time,
    /// When clients stopped issuing commands.
    pub end: Time,
    /// Commands completed within [start, end].
    pub completed: u64,
}

impl RunReport {
    /// Completed commands per simulated second, in thousandths (integer,
    /// so output is identical on every platform): over the whole run, or
    /// over a duration run's window.
    pub fn throughput_milli_ops_per_s(&self) -> u64 {
        let (completed, elapsed_ns) = match self.window {
            Some(window) => (window.completed, window.end.since(window.start)),
            None => (self.total.count, self.end_time.as_ns()),
        };
        u64::try_from(u128::from(completed) * u128::from(NS_PER_S) * 1_000 / u128::from(elapsed_ns.max(1)))
            .unwrap_or(u64::MAX)
    }

    /// Messages between processes per completed command, in thousandths.
    pub fn messages_per_command_milli(&self) -> u64 {
        self.messages_sent * 1_000 / self.commands_completed.max(1)
    }
}

/// One run of protocol `P`.
pub struct Simulation<P: Protocol> {
    processes: Vec<Process<P>>,
    clients: Vec<Client>,
    /// `client_process[c]`: the process that answers client `c`.
    client_process: Vec<ProcessId>,
    client_region_names: Vec<String>,
    clients_per_region: u32,
    commands_per_client: u64,
    duration: Option<RunDuration>,
    generator: CommandGenerator,
    queue: EventQueue<Event<P>>,
    wan: Wan,
    reorder: bool,
    network_rng: StreamRng,
    /// Latest delivery time per directed process link, for FIFO links.
    link_last_delivery: Vec<Time>,
    outbox: Outbox<P>,
    effects: Vec<Effect<P>>,
    self_messages: VecDeque<P::Message>,
    replies: Vec<Reply>,
    /// What the executor of the process being stepped notified, for its
    /// protocol (empty between execution steps; kept for its allocation).
    feedback: Vec<ExecutorFeedback<P>>,
    checker: ExecutionChecker,
    history: History,
    latency: Vec<LatencyRecorder>,
    now: Time,
    max_time: Time,
    clients_done: usize,
    /// Commands completed, warm-up included.
    completed: u64,
    /// Commands completed within a duration run's window.
    completed_in_window: u64,
    timer_generation: u64,
    events: u64,
    messages_sent: u64,
    bytes_sent: u64,
    executions: u64,
    /// The CPU and NIC model; `None`: infinite resources (and none of its
    /// code runs beyond one branch per event, step and send).
    resources: Option<Resources<Event<P>>>,
    /// Work units already charged (a running total of the protocol metrics).
    work_charged: u64,
    /// True if the run has faults: the only fault check the hot paths
    /// make in a run without them.
    faults_active: bool,
    faults: FaultState,
    client_timeout_ns: u64,
    /// Per client region, the processes by distance (where retries go).
    retry_order: Vec<Vec<ProcessId>>,
    /// Per client (runs with faults), a bit per process index it submitted
    /// its current command to: each of them answers it.
    submitted_to: Vec<u64>,
    /// What runs with faults observe (timeline, retries, drops).
    observed: FaultObserver,
    /// Set in runs where a crashed process may restart.
    restart_kit: Option<RestartKit<P>>,
    /// Set in runs with faults of a protocol whose crash loses its state.
    state_loss: Option<StateLossWatch>,
    /// True if the schedule skews clocks: each step then hands the
    /// process's local clock to the outbox.
    clock_faults: bool,
    /// Per client region, open-loop arrivals; empty for closed-loop
    /// clients.
    open_loop: Vec<RegionArrivals>,
}

impl<P: Protocol> Simulation<P> {
    /// Builds a run with the protocol's default options. `config` must
    /// pass [`RunConfig::check`] (and the protocol's own checks); this is
    /// asserted.
    pub fn new(config: &RunConfig) -> Simulation<P> {
        Simulation::with_options(config, &P::Options::default())
    }

    /// Builds a run with the protocol's `options`; see [`Simulation::new`].
    pub fn with_options(config: &RunConfig, options: &P::Options) -> Simulation<P> {
        if let Err(error) = config.check() {
            panic!("run configuration must be checked before building a simulation: {error}");
        }
        assert!(
            P::RESTARTS || !config.faults.restarts(),
            "the protocol does not support restarts: refuse the schedule before building a simulation"
        );
        let streams = RngStreams::new(config.seed);
        let regions_in_use: Vec<RegionId> = config.sites.iter().chain(&config.client_regions).copied().collect();
        let wan = Wan::new(&config.matrix, config.delay, &regions_in_use);
        let n = config.n();
        let faults_active = config.faults.any();
        let client_count = config.client_regions.len() * config.clients_per_region as usize;
        let ids: Vec<ProcessId> = (0..n).map(ProcessId::from_index).collect();
        let protocol_config =
            ProtocolConfig { failure_detection: config.protocol.failure_detection || faults_active, ..config.protocol };
        let restart_kit = config.faults.restarts().then(|| RestartKit {
            streams,
            ids: ids.clone(),
            by_distance: ids.iter().map(|&id| by_distance(config, &wan, id)).collect(),
            config: protocol_config,
            options: options.clone(),
        });
        let processes = ids
            .iter()
            .map(|&id| {
                let setup = ProcessSetup {
                    id,
                    processes: ids.clone(),
                    by_distance: by_distance(config, &wan, id),
                    config: protocol_config,
                    rng: streams.stream(Purpose::Protocol, u64::from(id.0)),
                };
                let (protocol, executor) = P::new(setup, options);
                Process {
                    region: config.region_of(id),
                    protocol,
                    executor,
                    store: KvStore::new(),
                    timers: BTreeMap::new(),
                    dedup: faults_active.then(|| ClientTable::new(client_count)),
                    restarts: 0,
                }
            })
            .collect();
        let mut clients = Vec::new();
        for (region_slot, &region) in config.client_regions.iter().enumerate() {
            let process = closest_process(config, &wan, region);
            for _ in 0..config.clients_per_region {
                let index = clients.len() as u64;
                clients.push(Client {
                    region,
                    process,
                    region_slot,
                    issued: 0,
                    pending: None,
                    sent_at: Time::ZERO,
                    arrived_at: Time::ZERO,
                    keys: ClientKeyState::default(),
                    rng: streams.client_stream(index),
                    submissions: 0,
                    timeout_generation: 0,
                });
            }
        }
        let schedule = if faults_active { config.faults.resolve(n, &streams) } else { Vec::new() };
        let mut queue = EventQueue::new();
        for (index, fault) in schedule.iter().enumerate() {
            queue.push(Time::from_ns(fault.at_ns), Event::Fault { index, start: true });
            if let Some(until) = fault.until_ns {
                queue.push(Time::from_ns(until), Event::Fault { index, start: false });
            }
        }
        let retry_order = config.client_regions.iter().map(|&region| by_distance_from(config, &wan, region)).collect();
        let open_loop = match config.arrivals {
            Arrivals::Closed => Vec::new(),
            Arrivals::Poisson { per_region_per_s } => {
                let per_region = config.clients_per_region;
                (0..config.client_regions.len())
                    .map(|slot| {
                        let first = slot as u32 * per_region;
                        let clients = (first..first + per_region).map(ClientId).collect();
                        RegionArrivals::new(per_region_per_s, clients, streams.stream(Purpose::Arrivals, slot as u64))
                    })
                    .collect()
            }
        };
        Simulation {
            restart_kit,
            state_loss: (faults_active && P::CRASH_LOSES_STATE).then(|| StateLossWatch::new(config.protocol.f)),
            clock_faults: config.faults.skews_clocks(),
            faults_active,
            faults: FaultState::new(n, schedule, &streams),
            client_timeout_ns: config.faults.client_timeout_ns,
            retry_order,
            submitted_to: vec![0; if faults_active { client_count } else { 0 }],
            observed: FaultObserver::new(config.client_regions.len(), config.faults.timeline_window_ns),
            processes,
            client_process: clients.iter().map(|c| c.process).collect(),
            checker: if config.checks { ExecutionChecker::new(n, clients.len()) } else { ExecutionChecker::disabled() },
            history: History::new(),
            clients,
            client_region_names: config
                .client_regions
                .iter()
                .map(|r| config.matrix.regions()[r.index()].clone())
                .collect(),
            clients_per_region: config.clients_per_region,
            commands_per_client: config.commands_per_client,
            duration: config.duration,
            generator: CommandGenerator::new(config.workload),
            queue,
            wan,
            reorder: config.delay.reorder,
            network_rng: streams.stream(Purpose::Network, 0),
            link_last_delivery: vec![Time::ZERO; n * n],
            outbox: Outbox::new(),
            effects: Vec::new(),
            self_messages: VecDeque::new(),
            replies: Vec::new(),
            feedback: Vec::new(),
            latency: vec![LatencyRecorder::new(); config.client_regions.len()],
            now: Time::ZERO,
            max_time: Time::ZERO.plus_ns(config.max_time_ns),
            clients_done: 0,
            completed: 0,
            completed_in_window: 0,
            timer_generation: 0,
            events: 0,
            messages_sent: 0,
            bytes_sent: 0,
            executions: 0,
            resources: config.resources.map(|model| {
                let cores = if P::PARALLEL { model.cores } else { 1 };
                let (start, end) = match config.duration {
                    Some(d) => (Time::from_ns(d.warmup_ns), Time::from_ns(d.duration_ns)),
                    None => (Time::ZERO, Time::from_ns(u64::MAX)),
                };
                Resources::new(model, n, cores, start, end)
            }),
            work_charged: 0,
            open_loop,
        }
    }

    /// The process each client talks to, by client id.
    pub fn client_processes(&self) -> &[ProcessId] {
        &self.client_process
    }

    /// A process's protocol state (for tests and inspection after a run).
    pub fn protocol(&self, id: ProcessId) -> &P {
        &self.processes[id.index()].protocol
    }

    /// Runs until every client has finished or the time limit passes. A
    /// simulation runs once; its state stays readable afterwards.
    pub fn run(&mut self) -> RunReport {
        assert!(self.events == 0 && self.now == Time::ZERO, "a simulation runs once");
        for index in 0..self.processes.len() {
            let id = ProcessId::from_index(index);
            if let Some(resources) = &mut self.resources {
                resources.begin_step(index, self.now, 0, self.now);
            }
            self.processes[index].protocol.start(self.now, &mut self.outbox);
            self.flush(id);
            if let Some(resources) = &mut self.resources {
                resources.end_step();
            }
        }
        if self.open_loop.is_empty() {
            for index in 0..self.clients.len() {
                self.issue_next(ClientId(index as u32), self.now);
            }
        } else {
            for region_slot in 0..self.open_loop.len() {
                let gap_ns = self.open_loop[region_slot].next_gap_ns();
                self.queue.push(self.now.plus_ns(gap_ns), Event::Arrival { region_slot });
            }
        }
        while self.clients_done < self.clients.len() {
            let Some(time) = self.queue.peek_time() else {
                break;
            };
            if time > self.max_time {
                break;
            }
            let (time, event) = self.queue.pop().expect("peeked");
            debug_assert!(time >= self.now, "time never goes backwards");
            self.now = time;
            self.events += 1;
            self.dispatch(event);
        }
        self.report()
    }

    fn dispatch(&mut self, event: Event<P>) {
        if self.resources.is_some()
            && !matches!(
                event,
                Event::Reply { .. }
                    | Event::Wake { .. }
                    | Event::Fault { .. }
                    | Event::ClientTimeout { .. }
                    | Event::Arrival { .. }
            )
        {
            return self.admit(event);
        }
        self.handle(event);
    }

    fn handle(&mut self, event: Event<P>) {
        match event {
            Event::Submit { client, process, seq } => {
                if self.faults_active {
                    if !self.faults.is_up(process) {
                        return; // a crashed process hears nothing; the client times out
                    }
                    self.set_clock(process);
                }
                let client = &self.clients[client.index()];
                let Some(cmd) = client.pending.clone().filter(|cmd| cmd.id.seq == seq) else {
                    return; // a submission of a command answered meanwhile
                };
                if let Some(results) = self.processes[process.index()].dedup.as_mut().and_then(|t| t.answer(cmd.id)) {
                    // Already applied here: the client table answers, as
                    // a VR replica does, without ordering it again.
                    let (id, results) = (cmd.id, results.clone());
                    let delay_ns = self.wan.sample_delay_ns(
                        self.processes[process.index()].region,
                        client.region,
                        &mut self.network_rng,
                    );
                    self.queue.push(self.now.plus_ns(delay_ns), Event::Reply { id, results, from: process });
                    return;
                }
                self.processes[process.index()].protocol.submit(cmd, self.now, &mut self.outbox);
                self.flush(process);
            }
            Event::Deliver { from, to, msg } => {
                if self.faults_active {
                    if !self.faults.is_up(to) {
                        self.observed.messages_dropped += 1;
                        return;
                    }
                    self.set_clock(to);
                }
                self.processes[to.index()].protocol.handle(from, msg, self.now, &mut self.outbox);
                self.flush(to);
            }
            Event::Timer { process, timer, generation } => {
                if self.faults_active {
                    if !self.faults.is_up(process) {
                        return; // a crashed process's timers do not fire
                    }
                    self.set_clock(process);
                }
                let timers = &mut self.processes[process.index()].timers;
                if timers.get(&timer) != Some(&generation) {
                    return; // replaced or cancelled since it was set
                }
                timers.remove(&timer);
                self.processes[process.index()].protocol.handle_timer(timer, self.now, &mut self.outbox);
                self.flush(process);
            }
            Event::Reply { id, results, from } => self.complete(id.client, id, results, from),
            Event::Fault { index, start } => {
                let down: Vec<ProcessId> = if start { Vec::new() } else { self.faults.crashed().collect() };
                self.faults.set_active(index, start);
                for process in down {
                    if self.faults.is_up(process) {
                        self.restart(process);
                    }
                }
                if let Some(watch) = &mut self.state_loss {
                    watch.crashed(self.now, self.faults.crashed());
                }
            }
            Event::ClientTimeout { client, generation } => self.retry(client, generation),
            Event::Wake { process } => self.wake(process),
            Event::Arrival { region_slot } => self.arrive(region_slot),
        }
    }

    /// An open-loop arrival: sent by an idle client of the region, or
    /// queued for the next one to free up. Arrivals stop at the end of
    /// the run's duration; the region's idle clients are then done.
    fn arrive(&mut self, region_slot: usize) {
        let duration_ns = self.duration.map_or(u64::MAX, |d| d.duration_ns);
        let region = &mut self.open_loop[region_slot];
        if self.now.as_ns() >= duration_ns {
            self.clients_done += region.stop();
            return;
        }
        let gap_ns = region.next_gap_ns();
        let client = region.arrive(self.now);
        self.queue.push(self.now.plus_ns(gap_ns), Event::Arrival { region_slot });
        if let Some(client) = client {
            self.issue_next(client, self.now);
        }
    }

    /// Hands `process`'s local clock to the outbox before stepping it, in
    /// runs that skew clocks.
    #[inline]
    fn set_clock(&mut self, process: ProcessId) {
        if self.clock_faults {
            self.outbox.set_clock(self.faults.clock(process));
        }
    }

    /// The faults this run had, for the verdict: crashes (and restarts)
    /// only, or something that can make a live process look dead.
    fn fault_class(&self) -> FaultClass {
        if !self.faults_active {
            FaultClass::None
        } else if self.faults.faults().iter().all(|fault| matches!(fault.kind, FaultKind::Crash { .. })) {
            FaultClass::Crashes
        } else {
            FaultClass::Network
        }
    }

    /// A crashed process comes back: a fresh incarnation takes what its
    /// protocol declares durable from the crashed one (see
    /// [`Protocol::restart`]); the store, client table and executor stay;
    /// the crashed incarnation's timers are forgotten.
    fn restart(&mut self, process: ProcessId) {
        let kit = self.restart_kit.as_ref().expect("restarts are planned before the run");
        let state = &mut self.processes[process.index()];
        state.restarts += 1;
        // A stream per incarnation: the first is `id`, as at time 0.
        let stream = u64::from(process.0) + (state.restarts << 32);
        let setup = ProcessSetup {
            id: process,
            processes: kit.ids.clone(),
            by_distance: kit.by_distance[process.index()].clone(),
            config: kit.config,
            rng: kit.streams.stream(Purpose::Protocol, stream),
        };
        let (fresh, _) = P::new(setup, &kit.options);
        state.timers.clear();
        self.observed.restarts += 1;
        debug_assert!(self.resources.is_none(), "RunConfig::check refuses restarts with the CPU model");
        if self.clock_faults {
            self.outbox.set_clock(self.faults.clock(process));
        }
        state.protocol.restart(fresh, &mut state.executor, self.now, &mut self.outbox);
        self.flush(process);
        if let Some(watch) = &mut self.state_loss {
            watch.recovering(self.now, process, self.processes[process.index()].protocol.recovering());
        }
    }

    /// Carries out the effects `process` recorded, then delivers its
    /// self-addressed messages one by one, carrying out theirs.
    fn flush(&mut self, process: ProcessId) {
        loop {
            if self.resources.is_some() {
                self.charge_work();
            }
            self.outbox.drain_into(&mut self.effects);
            let mut effects = std::mem::take(&mut self.effects);
            for effect in effects.drain(..) {
                match effect {
                    Effect::Send { to, msg } if to == process => self.self_messages.push_back(msg),
                    Effect::Send { to, msg } => self.send(process, to, msg),
                    Effect::SetTimer { timer, after_ns } => {
                        self.timer_generation += 1;
                        let generation = self.timer_generation;
                        self.processes[process.index()].timers.insert(timer.clone(), generation);
                        self.queue.push(self.now.plus_ns(after_ns), Event::Timer { process, timer, generation });
                    }
                    Effect::CancelTimer { timer } => {
                        self.processes[process.index()].timers.remove(&timer);
                    }
                    Effect::Execute(info) => self.execute(process, info),
                }
            }
            self.effects = effects;
            if !self.outbox.effects().is_empty() {
                // Recorded by `handle_executed` during the batch: carried
                // out now, from this process, like the batch's own.
                continue;
            }
            let Some(msg) = self.self_messages.pop_front() else {
                break;
            };
            if let Some(resources) = &mut self.resources {
                resources.charge_self_message();
            }
            self.processes[process.index()].protocol.handle(process, msg, self.now, &mut self.outbox);
        }
        // After each step of a restarted process still rebuilding its state.
        if let Some(watch) = self.state_loss.as_mut().filter(|watch| watch.watches(process)) {
            watch.recovering(self.now, process, self.processes[process.index()].protocol.recovering());
        }
    }

    fn send(&mut self, from: ProcessId, to: ProcessId, msg: P::Message) {
        let (from_region, to_region) = (self.processes[from.index()].region, self.processes[to.index()].region);
        let mut delay_ns = self.wan.sample_delay_ns(from_region, to_region, &mut self.network_rng);
        if self.faults_active {
            match self.faults.on_send(from, to, delay_ns) {
                SendFate::Dropped => {
                    self.observed.messages_dropped += 1;
                    self.messages_sent += 1;
                    self.bytes_sent += msg.size_bytes();
                    return;
                }
                SendFate::Deliver { delay_ns: slowed, duplicate } => {
                    delay_ns = slowed;
                    if duplicate {
                        self.observed.messages_duplicated += 1;
                        self.send_copy(from, to, msg.clone());
                    }
                }
            }
        }
        let mut arrival = self.now.plus_ns(delay_ns);
        if let Some(resources) = &mut self.resources {
            let bytes = msg.size_bytes();
            let departure = resources.charge_send(bytes);
            arrival = resources.transmit(from.index(), bytes, departure).plus_ns(delay_ns);
        }
        if !self.reorder {
            // FIFO links: a message never overtakes an earlier one on the
            // same directed link; equal times keep send order in the queue.
            let last = &mut self.link_last_delivery[from.index() * self.processes.len() + to.index()];
            arrival = arrival.max(*last);
            *last = arrival;
        }
        self.messages_sent += 1;
        self.bytes_sent += msg.size_bytes();
        self.queue.push(arrival, Event::Deliver { from, to, msg });
    }

    /// A duplicated message's extra copy: its own fault-free delay draw
    /// (a duplicate is not slowed), FIFO like any other message.
    fn send_copy(&mut self, from: ProcessId, to: ProcessId, msg: P::Message) {
        let (from_region, to_region) = (self.processes[from.index()].region, self.processes[to.index()].region);
        let delay_ns = self.wan.sample_delay_ns(from_region, to_region, &mut self.network_rng);
        let mut arrival = self.now.plus_ns(delay_ns);
        if !self.reorder {
            let last = &mut self.link_last_delivery[from.index() * self.processes.len() + to.index()];
            arrival = arrival.max(*last);
            *last = arrival;
        }
        self.queue.push(arrival, Event::Deliver { from, to, msg });
    }

    /// One execution step of `process`'s executor: hands what the executor
    /// notified to the protocol (whose effects land in the outbox, for
    /// `flush` to carry out after the current batch), then routes the
    /// results to the clients.
    fn execute(&mut self, process: ProcessId, info: ExecutionInfo<P>) {
        let state = &mut self.processes[process.index()];
        let mut apply = Apply::new(
            process,
            self.now,
            &mut state.store,
            &self.client_process,
            &mut self.replies,
            &mut self.checker,
            self.outbox.metrics_mut(),
            &mut self.feedback,
        );
        if let Some(table) = state.dedup.as_mut() {
            apply = apply.with_dedup(table, &self.submitted_to);
        }
        state.executor.execute(info, self.now, &mut apply);
        let executed = apply.executed();
        self.executions += executed;
        if let Some(resources) = &mut self.resources {
            resources.charge_executed(executed);
            let work = self.outbox.metrics().work_units;
            resources.charge_work(work - self.work_charged);
            self.work_charged = work;
        }
        if !self.feedback.is_empty() {
            // (Checked first: most executors never notify.)
            for feedback in self.feedback.drain(..) {
                state.protocol.handle_executed(feedback, self.now, &mut self.outbox);
            }
        }
        let region = state.region;
        for reply in self.replies.drain(..) {
            let client = &self.clients[reply.id.client.index()];
            let awaited = client.pending.as_ref().is_some_and(|cmd| cmd.id == reply.id);
            if !awaited {
                continue; // a duplicate execution result: the client moved on
            }
            let delay_ns = self.wan.sample_delay_ns(region, client.region, &mut self.network_rng);
            let mut arrival = self.now.plus_ns(delay_ns);
            if let Some(resources) = &mut self.resources {
                let bytes = reply_bytes(&reply.results);
                let departure = resources.charge_send(bytes);
                arrival = resources.transmit(process.index(), bytes, departure).plus_ns(delay_ns);
            }
            self.queue.push(arrival, Event::Reply { id: reply.id, results: reply.results, from: process });
        }
    }

    fn complete(&mut self, client_id: ClientId, id: CommandId, results: OpResults, from: ProcessId) {
        let client = &mut self.clients[client_id.index()];
        let Some(cmd) = client.pending.take_if(|cmd| cmd.id == id) else {
            return; // a second reply for a command already answered
        };
        if self.faults_active && client.process != from {
            // After a retry: stay with the process that answered.
            client.process = from;
            self.client_process[client_id.index()] = from;
        }
        debug_assert_eq!(results.len(), cmd.ops.len(), "one result per operation");
        let checks = self.checker.enabled();
        // Single-use keys have one operation each, always finding the key
        // absent: trivially linearizable, so not recorded.
        for (&(key, op), &observed) in
            cmd.ops.iter().zip(&results).filter(|((key, _), _)| checks && !is_single_use(*key))
        {
            let written = match op {
                Op::Put(value) => Some(value),
                Op::Get => None,
            };
            self.history.push(HistoryOp {
                key,
                cmd: id,
                written,
                observed,
                invoked: client.sent_at,
                responded: Some(self.now),
            });
        }
        let latency_ns = self.now.since(client.arrived_at);
        self.completed += 1;
        if self.faults_active {
            self.observed.completed(client.region_slot, self.now, latency_ns);
        }
        let more = match self.duration {
            None => {
                self.latency[client.region_slot].record(latency_ns);
                client.issued < self.commands_per_client
            }
            Some(RunDuration { duration_ns, warmup_ns }) => {
                if client.arrived_at.as_ns() >= warmup_ns {
                    self.latency[client.region_slot].record(latency_ns);
                }
                if (warmup_ns..=duration_ns).contains(&self.now.as_ns()) {
                    self.completed_in_window += 1;
                }
                self.now.as_ns() < duration_ns
            }
        };
        if !self.open_loop.is_empty() {
            let region = &mut self.open_loop[client.region_slot];
            match region.next_for(client_id) {
                Some(arrived_at) => self.issue_next(client_id, arrived_at),
                // Idle: done now if arrivals have stopped, else when they do.
                None if region.stopped() => self.clients_done += 1,
                None => {}
            }
        } else if more {
            self.issue_next(client_id, self.now);
        } else {
            self.clients_done += 1;
        }
    }

    /// The client sends its next command now; it arrived at `arrived_at`
    /// (now, for a closed-loop client).
    fn issue_next(&mut self, client_id: ClientId, arrived_at: Time) {
        let client = &mut self.clients[client_id.index()];
        client.issued += 1;
        let id = CommandId { client: client_id, seq: client.issued };
        let cmd = self.generator.next_command(id, &mut client.keys, &mut client.rng);
        self.checker.on_submit(id);
        client.pending = Some(Arc::new(cmd));
        client.sent_at = self.now;
        client.arrived_at = arrived_at;
        client.submissions = 0;
        self.submit(client_id);
    }

    /// Sends the client's pending command to its current process and, in
    /// a run with faults, sets its timeout.
    fn submit(&mut self, client_id: ClientId) {
        let client = &mut self.clients[client_id.index()];
        client.submissions += 1;
        let process = client.process;
        let process_region = self.processes[process.index()].region;
        let delay_ns = self.wan.sample_delay_ns(client.region, process_region, &mut self.network_rng);
        let seq = client.issued;
        self.queue.push(self.now.plus_ns(delay_ns), Event::Submit { client: client_id, process, seq });
        if self.faults_active {
            let bit = 1u64.checked_shl(process.index() as u32).unwrap_or(0);
            let mask = &mut self.submitted_to[client_id.index()];
            *mask = if client.submissions == 1 { bit } else { *mask | bit };
            client.timeout_generation += 1;
            let generation = client.timeout_generation;
            self.queue
                .push(self.now.plus_ns(self.client_timeout_ns), Event::ClientTimeout { client: client_id, generation });
        }
    }

    /// A client's timeout: if its command is still unanswered, it resubmits
    /// the same command (same id) to the next process of its region's
    /// order, which then answers it (and keeps answering it afterwards).
    fn retry(&mut self, client_id: ClientId, generation: u64) {
        let client = &mut self.clients[client_id.index()];
        let Some(cmd) = client.pending.as_ref().filter(|_| client.timeout_generation == generation) else {
            return; // answered, or a later submission's timeout is live
        };
        self.checker.on_retry(cmd.id);
        self.observed.retries += 1;
        let order = &self.retry_order[client.region_slot];
        let current = order.iter().position(|&p| p == client.process).unwrap_or(0);
        client.process = order[(current + 1) % order.len()];
        self.client_process[client_id.index()] = client.process;
        self.submit(client_id);
    }

    /// Ends the run's checks: commands still pending may or may not have
    /// taken effect; in a run without faults, they are incomplete.
    fn verdict(&mut self) -> Verdict {
        let checks = self.checker.enabled();
        let pending = self.clients.iter().filter_map(|client| client.pending.as_ref().map(|cmd| (client, cmd)));
        let keys: Vec<Vec<Key>> =
            pending.clone().map(|(_, cmd)| cmd.ops.iter().map(|&(key, _)| key).collect()).collect();
        let unfinished = Unfinished::sort(
            &self.history,
            pending.zip(&keys).map(|((client, cmd), keys)| (cmd.id, client.sent_at, &keys[..])),
            self.fault_class(),
        );
        for client in &self.clients {
            let Some(cmd) = &client.pending else { continue };
            for &(key, op) in cmd.ops.iter().filter(|(key, _)| checks && !is_single_use(*key)) {
                let Op::Put(value) = op else { continue };
                self.history.push(HistoryOp {
                    key,
                    cmd: cmd.id,
                    written: Some(value),
                    observed: None,
                    invoked: client.sent_at,
                    responded: None,
                });
            }
        }
        let checker = std::mem::replace(&mut self.checker, ExecutionChecker::new(1, 0));
        // Outcomes judge the final state of the replicas alive at the end
        // (a restarted one kept its store); with none alive, of all.
        let mut survivors: Vec<(ProcessId, &KvStore)> = Vec::new();
        if checks {
            let crashed: Vec<ProcessId> = self.faults.crashed().collect();
            let all = self.processes.iter().enumerate().map(|(index, p)| (ProcessId::from_index(index), &p.store));
            survivors.extend(all.clone().filter(|(id, _)| !crashed.contains(id)));
            if survivors.is_empty() {
                survivors.extend(all);
            }
        }
        let history = std::mem::take(&mut self.history);
        let mut verdict = Verdict::new(checker, &history, unfinished, &survivors, self.fault_class());
        for event in self.state_loss.take().map(StateLossWatch::into_events).unwrap_or_default() {
            verdict.outcomes.push(event);
        }
        verdict
    }

    /// What the faults did, for a run that has them.
    fn fault_report(&self, verdict: &Verdict) -> FaultReport {
        let regions = self
            .client_region_names
            .iter()
            .enumerate()
            .map(|(slot, name)| {
                let waiting = self.clients.iter().any(|c| c.region_slot == slot && c.pending.is_some());
                self.observed.region(slot, name, self.now, waiting)
            })
            .collect();
        let stuck: Vec<CommandId> = self.clients.iter().filter_map(|c| c.pending.as_ref().map(|cmd| cmd.id)).collect();
        FaultReport {
            schedule: self.faults.faults().iter().map(ToString::to_string).collect(),
            window_ns: self.observed.window_ns(),
            regions,
            retries: self.observed.retries,
            messages_dropped: self.observed.messages_dropped,
            messages_duplicated: self.observed.messages_duplicated,
            restarts: self.observed.restarts,
            duplicates_suppressed: verdict.duplicates_suppressed,
            stuck_count: stuck.len() as u64,
            stuck: stuck.into_iter().take(STUCK_LISTED).collect(),
        }
    }

    fn report(&mut self) -> RunReport {
        let verdict = self.verdict();
        let mut total = LatencyRecorder::new();
        for recorder in &self.latency {
            total.merge(recorder);
        }
        RunReport {
            regions: self
                .client_region_names
                .iter()
                .zip(&self.latency)
                .map(|(region, recorder)| RegionReport {
                    region: region.clone(),
                    clients: self.clients_per_region,
                    latency: recorder.summary(),
                })
                .collect(),
            total: total.summary(),
            total_quantiles_ns: total.quantiles_ns(),
            commands_expected: match self.duration {
                _ if !self.open_loop.is_empty() => self.open_loop.iter().map(|region| region.arrived).sum(),
                None => self.clients.len() as u64 * self.commands_per_client,
                Some(_) => self.clients.iter().map(|c| c.issued).sum(),
            },
            commands_completed: self.completed,
            window: self.duration.map(|d| ThroughputWindow {
                start: Time::from_ns(d.warmup_ns),
                end: Time::from_ns(d.duration_ns),
                completed: self.completed_in_window,
            }),
            end_time: self.now,
            events: self.events,
            messages_sent: self.messages_sent,
            bytes_sent: self.bytes_sent,
            executions: self.executions,
            protocol: self.outbox.metrics().summary(),
            incomplete_clients: (self.clients.len() - self.clients_done) as u32,
            faults: self.faults_active.then(|| self.fault_report(&verdict)),
            arrivals: (!self.open_loop.is_empty()).then(|| self.open_loop.iter().map(ArrivalReport::from).collect()),
            verdict,
            resources: self.resources.as_ref().map(|resources| {
                let window_ns = match self.duration {
                    Some(d) => d.duration_ns - d.warmup_ns,
                    None => self.now.as_ns(),
                };
                resources.report(window_ns)
            }),
        }
    }
}

/// The CPU and NIC model's part of the event loop: when an input runs.
impl<P: Protocol> Simulation<P> {
    /// The process an input is for, and its bytes on the wire (a timer
    /// does not cross the NIC).
    fn input_of(&self, event: &Event<P>) -> (ProcessId, u64) {
        match event {
            Event::Submit { client, process, .. } => {
                let client = &self.clients[client.index()];
                (*process, client.pending.as_ref().map_or(0, |cmd| cmd.size_bytes()))
            }
            Event::Deliver { to, msg, .. } => (*to, msg.size_bytes()),
            Event::Timer { process, .. } => (*process, 0),
            Event::Reply { .. }
            | Event::Wake { .. }
            | Event::Fault { .. }
            | Event::ClientTimeout { .. }
            | Event::Arrival { .. } => {
                unreachable!("not a process input")
            }
        }
    }

    /// An input reached its process: it runs now if the process's NIC and
    /// a core let it, and waits in the process's queue otherwise.
    fn admit(&mut self, event: Event<P>) {
        let (process, bytes) = self.input_of(&event);
        let resources = self.resources.as_mut().expect("admit runs only with resources");
        let ready = resources.arrive(process.index(), bytes, self.now);
        if resources.can_start(process.index(), ready, self.now) {
            self.run_step(process, ready, event);
        } else if let Some(at) = resources.enqueue(process.index(), ready, event, self.now) {
            self.queue.push(at, Event::Wake { process });
        }
    }

    /// A core of `process` freed or its next input came off the NIC: start
    /// every queued input that can start now.
    fn wake(&mut self, process: ProcessId) {
        let resources = self.resources.as_mut().expect("wake events exist only with resources");
        resources.woken(process.index());
        while let Some((ready, event)) =
            self.resources.as_mut().expect("still there").pop_startable(process.index(), self.now)
        {
            self.run_step(process, ready, event);
        }
        if let Some(at) = self.resources.as_mut().expect("still there").wake_time(process.index(), self.now) {
            self.queue.push(at, Event::Wake { process });
        }
    }

    /// Handles one input on a core of `process`, charging what it did.
    fn run_step(&mut self, process: ProcessId, ready: Time, event: Event<P>) {
        let (_, bytes) = self.input_of(&event);
        self.resources.as_mut().expect("with resources").begin_step(process.index(), ready, bytes, self.now);
        self.handle(event);
        self.resources.as_mut().expect("with resources").end_step();
    }

    /// Charges the work units reported since the last charge to the step.
    fn charge_work(&mut self) {
        let work = self.outbox.metrics().work_units;
        if let Some(resources) = &mut self.resources {
            resources.charge_work(work - self.work_charged);
        }
        self.work_charged = work;
    }
}

/// Bytes of a result sent to a client: a header and one value per
/// operation.
fn reply_bytes(results: &OpResults) -> u64 {
    16 + 8 * results.len() as u64
}

/// The processes sorted by their base delay from a client in `region`,
/// ties by region name then id: where its retries go, closest first.
fn by_distance_from(config: &RunConfig, wan: &Wan, region: RegionId) -> Vec<ProcessId> {
    let mut processes: Vec<ProcessId> = (0..config.n()).map(ProcessId::from_index).collect();
    processes.sort_by_key(|&p| {
        let site = config.region_of(p);
        (wan.base_delay_ns(region, site), &config.matrix.regions()[site.index()], p)
    });
    processes
}

/// The processes sorted by `id`'s base one-way delay to them, itself first,
/// ties by region name then id (specs README §1.5).
fn by_distance(config: &RunConfig, wan: &Wan, id: ProcessId) -> Vec<ProcessId> {
    let from = config.region_of(id);
    let mut others: Vec<ProcessId> = (0..config.n()).map(ProcessId::from_index).filter(|&p| p != id).collect();
    others.sort_by_key(|&p| {
        let region = config.region_of(p);
        (wan.base_delay_ns(from, region), &config.matrix.regions()[region.index()], p)
    });
    std::iter::once(id).chain(others).collect()
}

/// The process closest to a client in `region` by base delay, ties by
/// region name then id.
fn closest_process(config: &RunConfig, wan: &Wan, region: RegionId) -> ProcessId {
    (0..config.n())
        .map(ProcessId::from_index)
        .min_by_key(|&p| {
            let site = config.region_of(p);
            (wan.base_delay_ns(region, site), &config.matrix.regions()[site.index()], p)
        })
        .expect("at least one site")
}
