//! planetsim's replication protocols, one module each, plus the parts they
//! share (`shared`). Each protocol implements `sim_core::Protocol`; this
//! crate's [`ProtocolName`] is the one place that lists them, so the engine
//! never names a protocol.

pub mod atlas;
pub mod caesar;
pub mod chain;
pub mod deferred_update;
pub mod epaxos;
pub mod fpaxos;
pub mod mencius;
pub mod primary_backup;
pub mod raft;
pub mod shared;
pub mod tempo;
pub mod two_phase_commit;
pub mod vr;

use sim_core::verdict::Consistency;
use sim_core::{RunConfig, RunReport, Simulation};
use std::fmt;
use std::str::FromStr;

/// The protocols planetsim can run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ProtocolName {
    /// Flexible Paxos with a fixed leader (`fpaxos.md`).
    FPaxos,
    /// Atlas: leaderless, fast path when every dependency was reported by
    /// `f` fast-quorum processes (`atlas.md`).
    Atlas,
    /// Janus*: the Atlas configuration with the read/write distinction
    /// and partial replication (`atlas.md` §8); the same implementation.
    Janus,
    /// Egalitarian Paxos (`epaxos.md`).
    EPaxos,
    /// Tempo: leaderless, timestamp stability (`tempo.md`).
    Tempo,
    /// Caesar: timestamps plus predecessors with a wait condition
    /// (`caesar.md`).
    Caesar,
    /// Viewstamped Replication Revisited (`vr.md`).
    Vr,
    /// Raft (`raft.md`).
    Raft,
    /// Primary/backup log shipping, async, sync or semi-sync
    /// (`primary-backup.md`).
    PrimaryBackup,
    /// Chain replication with a master role (`chain-replication.md`).
    Chain,
    /// Mencius: rotating-coordinator Multi-Paxos (`mencius.md`).
    Mencius,
    /// Two-phase commit, presumed abort (`two-phase-commit.md`).
    TwoPc,
    /// Three-phase commit (`two-phase-commit.md` §9): the same
    /// implementation with the pre-commit round and §9's termination.
    ThreePc,
    /// Deferred update replication: multi-primary, local execution,
    /// abcast certification (`deferred-update.md`).
    DeferredUpdate,
}

impl ProtocolName {
    /// Every protocol, in display order.
    pub const ALL: &'static [ProtocolName] = &[
        ProtocolName::FPaxos,
        ProtocolName::Tempo,
        ProtocolName::Atlas,
        ProtocolName::Janus,
        ProtocolName::EPaxos,
        ProtocolName::Caesar,
        ProtocolName::Vr,
        ProtocolName::Raft,
        ProtocolName::PrimaryBackup,
        ProtocolName::Chain,
        ProtocolName::Mencius,
        ProtocolName::TwoPc,
        ProtocolName::ThreePc,
        ProtocolName::DeferredUpdate,
    ];

    /// The name used on the command line and in outputs.
    pub fn as_str(self) -> &'static str {
        match self {
            ProtocolName::FPaxos => "fpaxos",
            ProtocolName::Atlas => "atlas",
            ProtocolName::Janus => "janus",
            ProtocolName::EPaxos => "epaxos",
            ProtocolName::Tempo => "tempo",
            ProtocolName::Caesar => "caesar",
            ProtocolName::Vr => "vr",
            ProtocolName::Raft => "raft",
            ProtocolName::PrimaryBackup => "primary-backup",
            ProtocolName::Chain => "chain",
            ProtocolName::Mencius => "mencius",
            ProtocolName::TwoPc => "2pc",
            ProtocolName::ThreePc => "3pc",
            ProtocolName::DeferredUpdate => "deferred-update",
        }
    }

    /// One line on what the protocol is.
    pub fn description(self) -> &'static str {
        match self {
            ProtocolName::FPaxos => "Flexible Paxos: one leader, replication quorum f+1",
            ProtocolName::Atlas => {
                "Atlas: leaderless, fast quorum n/2+f, fast path if every dependency was reported f times"
            }
            ProtocolName::Janus => {
                "Janus*: Atlas with read/write distinction and partial replication; \
                 on one shard (no partial replication yet) it runs exactly Atlas"
            }
            ProtocolName::EPaxos => {
                "EPaxos: leaderless; fast path on identical replies of the closest floor(n/2)+floor((floor(n/2)+1)/2), \
                 else an accept round to a majority; always tolerates a minority (ignores f)"
            }
            ProtocolName::Tempo => "Tempo: leaderless, per-key timestamps executed once stable at a majority",
            ProtocolName::Caesar => {
                "Caesar: leaderless, timestamps and predecessors, fast quorum floor(3n/4)+1, wait condition"
            }
            ProtocolName::Vr => {
                "Viewstamped Replication Revisited: primary, commit after f backup acks, view change quorum n-f"
            }
            ProtocolName::Raft => {
                "Raft: leader, majority quorums, randomized elections, current-term commit rule; \
                 always tolerates a minority (ignores f)"
            }
            ProtocolName::PrimaryBackup => {
                "Primary/backup: the primary ships its log; mode async (answers before shipping), \
                 sync (waits for every backup) or semi-sync (f backups); timeout failover without fencing"
            }
            ProtocolName::Chain => {
                "Chain replication: head orders, updates pass down the chain, the tail commits and replies; \
                 a master role on the head's process reconfigures after failures"
            }
            ProtocolName::Mencius => {
                "Mencius: every server leads its own slots (i mod n), skips unused ones, commits on a majority \
                 and executes once every lower slot is decided; revokes a silent server's slots; \
                 always tolerates a minority (ignores f)"
            }
            ProtocolName::TwoPc => {
                "Two-phase commit (presumed abort): every replica votes, no-wait locks, aborted commands retried; \
                 blocks if the coordinator fails, any crashed replica aborts everything (ignores f)"
            }
            ProtocolName::ThreePc => {
                "Three-phase commit: 2PC plus a pre-commit round; non-blocking termination under crash-only \
                 faults, atomicity violations under partitions (ignores f)"
            }
            ProtocolName::DeferredUpdate => {
                "Deferred update replication: every replica executes its clients' transactions locally; \
                 reads answer at once (stale reads: sequentially consistent, not linearizable), updates are \
                 ordered by an FPaxos abcast and certified at every replica (abort on a read-write conflict, \
                 then executed again)"
            }
        }
    }

    /// True if the protocol is parameterised by `f`; EPaxos, Caesar, Raft
    /// and Mencius always tolerate a minority and ignore it; 2PC and 3PC
    /// need every replica's vote and tolerate no crash for progress.
    pub fn uses_f(self) -> bool {
        !matches!(
            self,
            ProtocolName::EPaxos
                | ProtocolName::Caesar
                | ProtocolName::Raft
                | ProtocolName::Mencius
                | ProtocolName::TwoPc
                | ProtocolName::ThreePc
        )
    }

    /// True if the protocol recovers from crashes (up to `f`) and from
    /// lost messages (it retransmits and catches up), so fault swarms may
    /// draw crashes, partitions, loss and duplication for it; the others
    /// have no recovery yet and are only tested under slow links.
    ///
    /// Primary-backup recovers in every mode (failover, SYNC_REQ catch-up,
    /// retransmission), but only sync mode (AUTO_FENCED with a majority
    /// wait set) stays linearizable under faults; async and semi-sync
    /// (AUTO_TIMEOUT) lose acknowledged writes on failover by design, so
    /// their swarms hold them to their label,
    /// [`Consistency::LinearizableWithoutFailover`] (see `consistency`),
    /// and the swarm prints what that leaves unchecked.
    ///
    /// 2PC and 3PC are not here, by design (two-phase-commit.md §1, §8,
    /// §9): a crashed replica aborts every transaction until it restarts,
    /// a coordinator crash after the votes blocks 2PC's participants, and
    /// 3PC's termination violates atomicity under partitions. Both keep
    /// their WAL across restarts (`restarts`), which their fault tests use.
    /// Deferred update is here since its delegates stop retrying
    /// optimistically after `MAX_RETRIES` aborts and have the transaction
    /// executed at its delivery position (`deferred_update::DeferredUpdate`
    /// `retry`): before, on one hot key without reads, a delegate far
    /// from the abcast leader lost every certification to nearer ones, and
    /// 76 of 1,000 swarm seeds (f = 1; 828 with f = 2; and runs without
    /// faults) had a transaction still retrying at the swarm's 120 s. It
    /// restarts with state transfer (deferred-update.md §7.4).
    pub fn recovers(self) -> bool {
        matches!(
            self,
            ProtocolName::FPaxos
                | ProtocolName::Atlas
                | ProtocolName::Janus
                | ProtocolName::EPaxos
                | ProtocolName::Mencius
                | ProtocolName::Tempo
                | ProtocolName::Caesar
                | ProtocolName::Raft
                | ProtocolName::Vr
                | ProtocolName::Chain
                | ProtocolName::PrimaryBackup
                | ProtocolName::DeferredUpdate
        )
    }

    /// True if a crashed process of this protocol may restart: it
    /// declares what of its state is durable (`Protocol::RESTARTS`).
    pub fn restarts(self) -> bool {
        use sim_core::Protocol;
        match self {
            ProtocolName::FPaxos => <fpaxos::FPaxos>::RESTARTS,
            ProtocolName::Atlas | ProtocolName::Janus => atlas::Atlas::RESTARTS,
            ProtocolName::EPaxos => epaxos::EPaxos::RESTARTS,
            ProtocolName::Tempo => tempo::Tempo::RESTARTS,
            ProtocolName::Caesar => caesar::Caesar::RESTARTS,
            ProtocolName::Vr => vr::Vr::RESTARTS,
            ProtocolName::Raft => raft::Raft::RESTARTS,
            ProtocolName::PrimaryBackup => primary_backup::PrimaryBackup::RESTARTS,
            ProtocolName::Chain => chain::Chain::RESTARTS,
            ProtocolName::Mencius => mencius::Mencius::RESTARTS,
            ProtocolName::TwoPc => two_phase_commit::TwoPc::RESTARTS,
            ProtocolName::ThreePc => two_phase_commit::ThreePc::RESTARTS,
            ProtocolName::DeferredUpdate => deferred_update::DeferredUpdate::RESTARTS,
        }
    }

    /// How long a restarted process of this protocol stays out of service
    /// after it comes back, for fault budgets (the swarm's
    /// `restart_grace_s`): VR has no disk and recovers from the others
    /// (`vr.md` §8), so it counts as down until then; 0 for protocols
    /// that come back with durable state.
    pub fn restart_grace_ns(self) -> u64 {
        match self {
            ProtocolName::Vr => vr::RESTART_GRACE_NS,
            _ => 0,
        }
    }

    /// The protocols that support restarts, comma-separated (for errors).
    pub fn restarting() -> String {
        let names: Vec<&str> = ProtocolName::ALL.iter().filter(|p| p.restarts()).map(|p| p.as_str()).collect();
        names.join(", ")
    }

    /// True if the protocol has a leader (so `leader` means something).
    pub fn has_leader(self) -> bool {
        match self {
            ProtocolName::FPaxos => true,
            ProtocolName::Atlas | ProtocolName::Janus => false,
            ProtocolName::EPaxos => false,
            ProtocolName::Tempo => false,
            ProtocolName::Caesar => false,
            ProtocolName::Vr => true,
            ProtocolName::Raft => true,
            ProtocolName::PrimaryBackup => true,
            ProtocolName::Chain => true,
            ProtocolName::Mencius => false,
            // The FIXED coordinator (the default policy).
            ProtocolName::TwoPc | ProtocolName::ThreePc => true,
            // The abcast's leader L (deferred-update.md §5).
            ProtocolName::DeferredUpdate => true,
        }
    }

    /// Checks the protocol's own rules for `n` processes tolerating `f`
    /// failures; the message says what would be valid.
    pub fn check(self, n: usize, f: usize) -> Result<(), String> {
        match self {
            ProtocolName::FPaxos => fpaxos::FPaxos::check(n, f),
            ProtocolName::Atlas | ProtocolName::Janus => atlas::Atlas::check(n, f),
            ProtocolName::EPaxos => epaxos::EPaxos::check(n, f),
            ProtocolName::Tempo => tempo::Tempo::check(n, f),
            ProtocolName::Caesar => caesar::Caesar::check(n, f),
            ProtocolName::Vr => vr::Vr::check(n, f),
            ProtocolName::Raft => raft::Raft::check(n, f),
            ProtocolName::PrimaryBackup => primary_backup::PrimaryBackup::check(n, f),
            ProtocolName::Chain => chain::Chain::check(n, f),
            ProtocolName::Mencius => mencius::Mencius::check(n, f),
            ProtocolName::TwoPc => two_phase_commit::TwoPc::check(n, f),
            ProtocolName::ThreePc => two_phase_commit::ThreePc::check(n, f),
            ProtocolName::DeferredUpdate => deferred_update::DeferredUpdate::check(n, f),
        }
    }

    /// Checks the protocol's options against `n` processes tolerating `f`
    /// failures (for instance VR's and Raft's configurations name known
    /// processes);
    /// the message says what is wrong.
    pub fn check_options(self, n: usize, f: usize, options: &ProtocolOptions) -> Result<(), String> {
        match self {
            ProtocolName::Vr => vr::check_options(&options.vr, n, f),
            ProtocolName::Raft => raft::check_options(&options.raft, n, f),
            _ => Ok(()),
        }
    }

    /// What the protocol promises with these options (classic-README
    /// comparison table, "consistency"); the verdict gates PASS on it.
    /// One arm per protocol: a new protocol adds its own.
    pub fn consistency(self, options: &ProtocolOptions) -> Consistency {
        match self {
            ProtocolName::FPaxos
            | ProtocolName::Atlas
            | ProtocolName::Janus
            | ProtocolName::EPaxos
            | ProtocolName::Tempo
            | ProtocolName::Caesar
            | ProtocolName::Chain
            | ProtocolName::Mencius => Consistency::Linearizable,
            // Log, ReadIndex (also at followers) and lease reads are
            // linearizable (raft.md §11); stale local reads (§9.5) are
            // not: stale reads are measured, writes still go through the
            // log in one order.
            ProtocolName::Raft => match options.raft.reads {
                raft::ReadMode::Stale => Consistency::Sequential,
                raft::ReadMode::Log | raft::ReadMode::ReadIndex | raft::ReadMode::Lease => Consistency::Linearizable,
            },
            // Reads at backups (vr.md §10, last bullet) may be stale; with
            // reads-your-writes and monotonic reads per client, executions
            // are sequentially consistent.
            ProtocolName::Vr if options.vr.backup_reads => Consistency::Sequential,
            ProtocolName::Vr => Consistency::Linearizable,
            // Async answers before shipping: a failover loses what the old
            // primary acknowledged (primary-backup.md §9). Sync under faults
            // is AUTO_FENCED with a majority wait set here (F7), so it keeps
            // the linearizable promise the spec gives it "without
            // partitions" even with them. Semi-sync keeps AUTO_TIMEOUT, and
            // §9 says it loses writes on a crash unless k = n-1 and splits
            // its brain on any partition or false suspicion: like async,
            // linearizable only while no failover happens.
            ProtocolName::PrimaryBackup => match options.primary_backup.mode {
                primary_backup::Mode::Async | primary_backup::Mode::SemiSync => {
                    Consistency::LinearizableWithoutFailover
                }
                primary_backup::Mode::Sync => Consistency::Linearizable,
            },
            // Reads go through the protocol like writes (two-phase-commit.md
            // mapping in DESIGN.md); blocking is the spec's, not a bug.
            ProtocolName::TwoPc => Consistency::LinearizableMayBlock,
            // Termination is safe only with a perfect failure detector
            // (two-phase-commit.md §9): under partitions and false
            // suspicions divergence is measured.
            ProtocolName::ThreePc => Consistency::LinearizableUnderCrashes,
            // Reads are answered from the local replica (deferred-update.md
            // §8): stale reads are measured, updates are certified in order.
            ProtocolName::DeferredUpdate => Consistency::Sequential,
        }
    }

    /// True if the protocol's concurrency control aborts and retries
    /// without bound, so under contention one command can lose every round
    /// while others on its key commit: 2PC's and 3PC's no-wait locks
    /// (two-phase-commit.md §1; the proxy retries an aborted command with a
    /// growing back-off). Such starved commands are a measured outcome of
    /// these protocols; for every other protocol a command left waiting
    /// while others on its key complete is a bug. Deferred update is not
    /// here: after `max_retries` aborts its delegate orders the transaction
    /// to execute at its delivery position, which cannot abort.
    pub fn may_starve(self) -> bool {
        matches!(self, ProtocolName::TwoPc | ProtocolName::ThreePc)
    }

    /// Runs one simulation of this protocol with default options. `config`
    /// must have passed [`RunConfig::check`] and [`ProtocolName::check`].
    pub fn run(self, config: &RunConfig) -> RunReport {
        self.run_with(config, &ProtocolOptions::default())
    }

    /// Runs one simulation of this protocol with its options taken from
    /// `options`; see [`ProtocolName::run`]. The verdict is judged by
    /// [`ProtocolName::consistency`] (and [`ProtocolName::may_starve`]).
    pub fn run_with(self, config: &RunConfig, options: &ProtocolOptions) -> RunReport {
        let mut report = self.simulate(config, options);
        report.verdict.label(self.consistency(options));
        if self.may_starve() {
            report.verdict.allow_starvation();
        }
        report
    }

    fn simulate(self, config: &RunConfig, options: &ProtocolOptions) -> RunReport {
        match self {
            ProtocolName::FPaxos => Simulation::<fpaxos::FPaxos>::new(config).run(),
            ProtocolName::Atlas => Simulation::<atlas::Atlas>::with_options(config, &options.atlas).run(),
            // Janus* is an Atlas configuration (atlas.md §8): same type,
            // its own options.
            ProtocolName::Janus => Simulation::<atlas::Atlas>::with_options(config, &options.janus).run(),
            ProtocolName::EPaxos => Simulation::<epaxos::EPaxos>::with_options(config, &options.epaxos).run(),
            ProtocolName::Tempo => Simulation::<tempo::Tempo>::with_options(config, &options.tempo).run(),
            ProtocolName::Caesar => Simulation::<caesar::Caesar>::with_options(config, &options.caesar).run(),
            ProtocolName::Vr => Simulation::<vr::Vr>::with_options(config, &options.vr).run(),
            ProtocolName::Raft => Simulation::<raft::Raft>::with_options(config, &options.raft).run(),
            ProtocolName::PrimaryBackup => {
                Simulation::<primary_backup::PrimaryBackup>::with_options(config, &options.primary_backup).run()
            }
            ProtocolName::Chain => Simulation::<chain::Chain>::with_options(config, &options.chain).run(),
            ProtocolName::Mencius => Simulation::<mencius::Mencius>::with_options(config, &options.mencius).run(),
            ProtocolName::TwoPc => Simulation::<two_phase_commit::TwoPc>::with_options(config, &options.two_pc).run(),
            ProtocolName::ThreePc => {
                Simulation::<two_phase_commit::ThreePc>::with_options(config, &options.three_pc).run()
            }
            ProtocolName::DeferredUpdate => {
                Simulation::<deferred_update::DeferredUpdate>::with_options(config, &options.deferred_update).run()
            }
        }
    }
}

impl fmt::Display for ProtocolName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Every protocol's own options (the flags its spec defines), each read
/// only by its protocol.
///
/// Read from a scenario file or from `--option PROTOCOL.NAME=VALUE` flags
/// as a TOML table per protocol; unknown names are errors.
#[derive(Clone, Debug, Default, PartialEq, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ProtocolOptions {
    /// Atlas's options (`atlas.md` §7).
    pub atlas: atlas::Options,
    /// Janus*'s options: Atlas's, since Janus* is an Atlas configuration.
    pub janus: atlas::Options,
    /// EPaxos's options.
    pub epaxos: epaxos::Options,
    /// Tempo's options (`tempo.md` §2, §8, §9).
    pub tempo: tempo::Options,
    /// Caesar's options (`caesar.md` §2).
    pub caesar: caesar::Options,
    /// VR's options (`vr.md` §6 timers).
    pub vr: vr::Options,
    /// Raft's options (`raft.md` §8 timers).
    pub raft: raft::Options,
    /// Primary/backup's options (`primary-backup.md` §1 mode, §6 timers);
    /// `[options.primary_backup]`, or the protocol's own name (as
    /// `--option primary-backup.NAME=VALUE` writes it).
    #[serde(alias = "primary-backup")]
    pub primary_backup: primary_backup::Options,
    /// Chain replication's options (`chain-replication.md` §6 timers).
    pub chain: chain::Options,
    /// Mencius's options (`mencius.md` §4 skip dissemination, §6 timers).
    pub mencius: mencius::Options,
    /// 2PC's options (`two-phase-commit.md` §1, §6), `[options.2pc]`.
    #[serde(rename = "2pc")]
    pub two_pc: two_phase_commit::Options,
    /// 3PC's options (the same as 2PC's), `[options.3pc]`.
    #[serde(rename = "3pc")]
    pub three_pc: two_phase_commit::Options,
    /// Deferred update replication's options (`deferred-update.md` §6);
    /// also under the protocol's own name, `deferred-update`.
    #[serde(alias = "deferred-update")]
    pub deferred_update: deferred_update::Options,
}

/// An unknown protocol name, with the valid ones.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnknownProtocol(pub String);

impl fmt::Display for UnknownProtocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let valid: Vec<&str> = ProtocolName::ALL.iter().map(|p| p.as_str()).collect();
        write!(f, "unknown protocol \"{}\"; valid protocols: {}", self.0, valid.join(", "))
    }
}

impl std::error::Error for UnknownProtocol {}

impl FromStr for ProtocolName {
    type Err = UnknownProtocol;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        if name.eq_ignore_ascii_case("janus*") {
            return Ok(ProtocolName::Janus); // its name in the papers
        }
        ProtocolName::ALL
            .iter()
            .copied()
            .find(|p| p.as_str().eq_ignore_ascii_case(name))
            .ok_or_else(|| UnknownProtocol(name.to_string()))
    }
}
