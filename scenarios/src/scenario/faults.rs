//! `[[faults]]`, `[random_faults]`, `client_timeout_s` and
//! `timeline_window_ms` of a scenario file: their schema and their
//! resolution into a [`FaultPlan`] for one placement of sites.
//!
//! ```toml
//! [[faults]]
//! kind = "crash"              # crash | partition | slow | loss | duplicate | clock
//! at_s = 2.0
//! processes = ["p1"]          # process ids or site regions (crash)
//! until_s = 4.0               # a restart: only protocols with durable state
//!
//! [[faults]]
//! kind = "partition"
//! at_s = 1
//! until_s = 3                 # heals
//! from = ["europe-west1"]     # links from these ...
//! to = ["p2", "p3"]           # ... to these (default: every process)
//! one_way = false             # default: both directions
//!
//! [[faults]]
//! kind = "slow"               # delay * factor + add_ms
//! at_s = 0
//! from = ["p2"]
//! add_ms = 100
//! factor = 2.0
//!
//! [[faults]]
//! kind = "clock"              # the local clock protocols read
//! at_s = 1
//! processes = ["p2"]
//! offset_ms = -300            # may be negative
//! drift_ppm = 200             # runs fast (negative: slow) from at_s
//!
//! [random_faults]             # drawn from each run's seed
//! count = 4
//! max_crashed = 1             # or "f": the run's f (at a time)
//! restarts = true             # half the drawn crashes restart
//! restart_grace_s = 4          # a restarted process counts as down 4 s more
//! ```

use protocols::ProtocolName;
use serde::Deserialize;
use sim_core::ProcessId;
use sim_core::faults::{Fault, FaultKind, FaultPlan, Links, RandomFaults};
use sim_core::time::{NS_PER_MS, NS_PER_S};
use std::ops::Range;
use toml::Spanned;

/// One `[[faults]]` entry as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultEntry {
    /// `crash`, `partition`, `slow`, `loss`, `duplicate` or `clock`.
    pub kind: Spanned<String>,
    /// Start, in simulated seconds.
    pub at_s: Spanned<f64>,
    /// End, in simulated seconds (for a crash: its restart).
    pub until_s: Option<Spanned<f64>>,
    /// Who crashes: process ids (`p1`) or site regions.
    pub processes: Option<Spanned<Vec<String>>>,
    /// Links from these processes or site regions.
    pub from: Option<Spanned<Vec<String>>>,
    /// Links to these (default: every process).
    pub to: Option<Spanned<Vec<String>>>,
    /// Only `from` to `to` (default: both directions).
    pub one_way: Option<bool>,
    /// Loss or duplication probability.
    pub probability: Option<Spanned<f64>>,
    /// Slow links: delay added, in milliseconds.
    pub add_ms: Option<Spanned<f64>>,
    /// Slow links: factor on the delay.
    pub factor: Option<Spanned<f64>>,
    /// Clock: offset in milliseconds (may be negative).
    pub offset_ms: Option<Spanned<f64>>,
    /// Clock: drift in parts per million (may be negative).
    pub drift_ppm: Option<Spanned<f64>>,
}

/// `[random_faults]` as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RandomFaultsSection {
    /// Faults to draw per run.
    pub count: Option<usize>,
    /// Most crashed processes at a time: a number or `"f"`.
    pub max_crashed: Option<Spanned<toml::Value>>,
    /// Drawn crashes may restart (protocols with durable state only).
    pub restarts: Option<Spanned<bool>>,
    /// With restarts: seconds a restarted process still counts as down
    /// (it recovers from the others first); 0 by default.
    pub restart_grace_s: Option<Spanned<f64>>,
    /// Draw partitions that heal.
    pub partitions: Option<bool>,
    /// Draw slow links.
    pub slow_links: Option<bool>,
    /// Highest loss probability.
    pub max_loss: Option<Spanned<f64>>,
    /// Highest duplication probability.
    pub max_duplicate: Option<Spanned<f64>>,
    /// Faults start before this many seconds.
    pub horizon_s: Option<Spanned<f64>>,
    /// Longest a healing fault lasts, in seconds.
    pub max_duration_s: Option<Spanned<f64>>,
}

/// The fault settings of a scenario file.
pub struct FaultSettings<'a> {
    /// `[[faults]]`.
    pub entries: &'a [FaultEntry],
    /// `[random_faults]`.
    pub random: Option<&'a RandomFaultsSection>,
    /// `client_timeout_s`.
    pub client_timeout_s: Option<&'a Spanned<f64>>,
    /// `timeline_window_ms`.
    pub timeline_window_ms: Option<&'a Spanned<f64>>,
}

/// Seconds (or milliseconds with `unit_ns`) to whole nanoseconds; `None`
/// unless finite and non-negative.
fn to_ns(value: f64, unit_ns: u64) -> Option<u64> {
    (value.is_finite() && value >= 0.0).then(|| (value * unit_ns as f64).round() as u64)
}

impl FaultSettings<'_> {
    /// The plan for `protocol` on a placement of `sites` (region names,
    /// process `i + 1` at `sites[i]`) with `f`; `at(span, message)`
    /// positions an error. Every error is pushed to `errors`.
    pub fn resolve(
        &self,
        protocol: ProtocolName,
        sites: &[String],
        f: usize,
        at: &dyn Fn(&Range<usize>, String) -> String,
        errors: &mut Vec<String>,
    ) -> FaultPlan {
        let mut plan = FaultPlan::default();
        let positive = |value: Option<&Spanned<f64>>, unit_ns: u64, key: &str, errors: &mut Vec<String>| {
            let value = value?;
            match to_ns(*value.get_ref(), unit_ns).filter(|&ns| ns > 0) {
                Some(ns) => Some(ns),
                None => {
                    errors.push(at(
                        &value.span(),
                        format!("{key}: {} is not valid; give a positive number", value.get_ref()),
                    ));
                    None
                }
            }
        };
        if let Some(ns) = positive(self.client_timeout_s, NS_PER_S, "client_timeout_s", errors) {
            plan.client_timeout_ns = ns;
        }
        if let Some(ns) = positive(self.timeline_window_ms, NS_PER_MS, "timeline_window_ms", errors) {
            plan.timeline_window_ns = ns;
        }
        let n = sites.len();
        let all: Vec<ProcessId> = (0..n).map(ProcessId::from_index).collect();
        for entry in self.entries {
            let restart = entry.until_s.as_ref().filter(|_| entry.kind.get_ref() == "crash");
            if let Some(until) = restart.filter(|_| !protocol.restarts()) {
                errors.push(at(&until.span(), no_restarts(protocol, "until_s")));
            }
            if let Some(fault) = resolve_entry(entry, sites, &all, at, errors) {
                let index = plan.schedule.len();
                plan.schedule.push(fault);
                let single = FaultPlan { schedule: vec![plan.schedule[index].clone()], ..FaultPlan::default() };
                if let Err(e) = single.check(n) {
                    let e = e.split_once("): ").map_or(e.as_str(), |(_, rest)| rest).to_string();
                    errors.push(at(&entry.kind.span(), format!("{}: {e}", entry.kind.get_ref())));
                }
            }
        }
        if let Some(random) = self.random {
            if let Some(restarts) = random.restarts.as_ref().filter(|r| *r.get_ref() && !protocol.restarts()) {
                errors.push(at(&restarts.span(), no_restarts(protocol, "restarts")));
            }
            plan.random = resolve_random(random, n, f, at, errors);
        }
        plan
    }
}

/// The error for a restart asked of a protocol without durable state.
fn no_restarts(protocol: ProtocolName, key: &str) -> String {
    format!(
        "{key}: {protocol} does not support restarts (it declares no durable state to come back with); \
         leave out the crash's end, or use a protocol that does: {}",
        ProtocolName::restarting()
    )
}

fn resolve_entry(
    entry: &FaultEntry,
    sites: &[String],
    all: &[ProcessId],
    at: &dyn Fn(&Range<usize>, String) -> String,
    errors: &mut Vec<String>,
) -> Option<Fault> {
    let kind_name = entry.kind.get_ref().as_str();
    let before = errors.len();
    let at_ns = to_ns(*entry.at_s.get_ref(), NS_PER_S);
    if at_ns.is_none() {
        errors.push(at(&entry.at_s.span(), format!("at_s: {} is not valid; give seconds >= 0", entry.at_s.get_ref())));
    }
    let until_ns = entry.until_s.as_ref().and_then(|until| {
        let ns = to_ns(*until.get_ref(), NS_PER_S);
        if ns.is_none() {
            errors.push(at(&until.span(), format!("until_s: {} is not valid; give seconds >= 0", until.get_ref())));
        }
        ns
    });
    let processes = |key: &str, value: &Spanned<Vec<String>>, errors: &mut Vec<String>| -> Vec<ProcessId> {
        let mut out = Vec::new();
        for name in value.get_ref() {
            let by_id = name
                .strip_prefix('p')
                .and_then(|id| id.parse::<u32>().ok())
                .filter(|&id| id >= 1 && id as usize <= sites.len());
            let by_region: Vec<ProcessId> = sites
                .iter()
                .enumerate()
                .filter(|(_, site)| *site == name)
                .map(|(i, _)| ProcessId::from_index(i))
                .collect();
            match (by_id, by_region.is_empty()) {
                (Some(id), _) => out.push(ProcessId(id)),
                (None, false) => out.extend(by_region),
                (None, true) => errors.push(at(
                    &value.span(),
                    format!(
                        "{key}: \"{name}\" is neither a process (p1 to p{}) nor a site ({})",
                        sites.len(),
                        sites.join(", ")
                    ),
                )),
            }
        }
        if value.get_ref().is_empty() {
            errors.push(at(&value.span(), format!("{key} is empty; give process ids or site regions")));
        }
        out
    };
    let links = |errors: &mut Vec<String>| -> Option<Links> {
        let Some(from) = &entry.from else {
            errors.push(at(&entry.kind.span(), format!("{kind_name}: give `from` (process ids or site regions)")));
            return None;
        };
        let from = processes("from", from, errors);
        let to = entry.to.as_ref().map_or_else(|| all.to_vec(), |to| processes("to", to, errors));
        Some(Links { from, to, one_way: entry.one_way.unwrap_or(false) })
    };
    let probability = |errors: &mut Vec<String>| -> f64 {
        match &entry.probability {
            Some(p) => *p.get_ref(),
            None => {
                errors.push(at(&entry.kind.span(), format!("{kind_name}: give `probability` (0 to 1)")));
                0.0
            }
        }
    };
    let kind = match kind_name {
        "crash" => match &entry.processes {
            Some(value) => FaultKind::Crash { processes: processes("processes", value, errors) },
            None => {
                errors.push(at(&entry.kind.span(), "crash: give `processes` (process ids or site regions)".into()));
                return None;
            }
        },
        "partition" => FaultKind::Partition { links: links(errors)? },
        "slow" => {
            let links = links(errors)?;
            let add_ns = entry.add_ms.as_ref().map_or(Some(0), |a| to_ns(*a.get_ref(), NS_PER_MS));
            let factor_permille = entry.factor.as_ref().map_or(Some(1_000), |f| to_ns(*f.get_ref(), 1_000));
            match (add_ns, factor_permille) {
                (Some(add_ns), Some(factor_permille)) if factor_permille > 0 => {
                    FaultKind::Slow { links, add_ns, factor_permille }
                }
                _ => {
                    errors.push(at(
                        &entry.kind.span(),
                        "slow: add_ms must be >= 0 and factor > 0 (1 leaves delays unchanged)".into(),
                    ));
                    return None;
                }
            }
        }
        "loss" => FaultKind::Loss { links: links(errors)?, probability: probability(errors) },
        "duplicate" => FaultKind::Duplicate { links: links(errors)?, probability: probability(errors) },
        "clock" => {
            let Some(value) = &entry.processes else {
                errors.push(at(&entry.kind.span(), "clock: give `processes` (process ids or site regions)".into()));
                return None;
            };
            let processes = processes("processes", value, errors);
            let signed = |field: &Option<Spanned<f64>>, scale: f64, key: &str, errors: &mut Vec<String>| {
                let Some(v) = field else { return 0 };
                let scaled = *v.get_ref() * scale;
                if scaled.is_finite() && scaled.abs() < 1e18 {
                    scaled.round() as i64
                } else {
                    errors.push(at(&v.span(), format!("{key}: {} is not valid; give a finite number", v.get_ref())));
                    0
                }
            };
            let offset_ns = signed(&entry.offset_ms, NS_PER_MS as f64, "offset_ms", errors);
            let drift_ppm = signed(&entry.drift_ppm, 1.0, "drift_ppm", errors);
            if entry.offset_ms.is_none() && entry.drift_ppm.is_none() {
                errors.push(at(&entry.kind.span(), "clock: give `offset_ms`, `drift_ppm` or both".into()));
                return None;
            }
            FaultKind::Clock { processes, offset_ns, drift_ppm }
        }
        other => {
            let valid = ["crash", "partition", "slow", "loss", "duplicate", "clock"];
            let hint = super::validate::nearest(other, valid.into_iter())
                .map(|s| format!(" (did you mean \"{s}\"?)"))
                .unwrap_or_default();
            errors.push(at(
                &entry.kind.span(),
                format!("kind: unknown fault \"{other}\"{hint}; valid: {}", valid.join(", ")),
            ));
            return None;
        }
    };
    (errors.len() == before).then(|| Fault { at_ns: at_ns.unwrap_or(0), until_ns, kind })
}

fn resolve_random(
    section: &RandomFaultsSection,
    n: usize,
    f: usize,
    at: &dyn Fn(&Range<usize>, String) -> String,
    errors: &mut Vec<String>,
) -> Option<RandomFaults> {
    let defaults = RandomFaults::default();
    let max_crashed = match &section.max_crashed {
        None => 0,
        Some(value) => match value.get_ref() {
            toml::Value::String(s) if s == "f" => f,
            toml::Value::Integer(i) if *i >= 0 && (*i as usize) < n => *i as usize,
            other => {
                errors.push(at(
                    &value.span(),
                    format!("max_crashed: {other} is not valid; give \"f\" or a number from 0 to {}", n - 1),
                ));
                return None;
            }
        },
    };
    let seconds = |value: &Option<Spanned<f64>>, default: u64, key: &str, errors: &mut Vec<String>| match value {
        None => Some(default),
        Some(v) => match to_ns(*v.get_ref(), NS_PER_S).filter(|&ns| ns > 0) {
            Some(ns) => Some(ns),
            None => {
                errors.push(at(&v.span(), format!("{key}: {} is not valid; give positive seconds", v.get_ref())));
                None
            }
        },
    };
    let probability = |value: &Option<Spanned<f64>>, key: &str, errors: &mut Vec<String>| match value {
        None => Some(0.0),
        Some(v) if (0.0..1.0).contains(v.get_ref()) => Some(*v.get_ref()),
        Some(v) => {
            errors.push(at(
                &v.span(),
                format!("{key}: {} is not valid; give a probability from 0 to below 1", v.get_ref()),
            ));
            None
        }
    };
    Some(RandomFaults {
        count: section.count.unwrap_or(defaults.count),
        max_crashed,
        restarts: section.restarts.as_ref().is_some_and(|r| *r.get_ref()),
        restart_grace_ns: seconds(&section.restart_grace_s, defaults.restart_grace_ns, "restart_grace_s", errors)?,
        partitions: section.partitions.unwrap_or(defaults.partitions),
        slow_links: section.slow_links.unwrap_or(defaults.slow_links),
        max_loss: probability(&section.max_loss, "max_loss", errors)?,
        max_duplicate: probability(&section.max_duplicate, "max_duplicate", errors)?,
        horizon_ns: seconds(&section.horizon_s, defaults.horizon_ns, "horizon_s", errors)?,
        max_duration_ns: seconds(&section.max_duration_s, defaults.max_duration_ns, "max_duration_s", errors)?,
    })
}
