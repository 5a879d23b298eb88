//! From a parsed scenario file to checked sweep points. Every problem of a
//! file is collected and reported at once, each as `file:line:column:
//! what is wrong; what would be valid` (with the nearest match of a typo).

use super::faults::FaultSettings;
use super::overrides::{self, EditedText, Origin, Override};
use super::schema::ScenarioFile;
use crate::cli::{self, Args, Run, Switch};
use crate::error::UserError;
use clap::Parser;
use latency_data::Matrix;
use protocols::ProtocolName;
use sim_core::FaultPlan;
use std::ops::Range;
use std::path::Path;
use toml::{Spanned, Value};

/// One point of a sweep: a fully checked run and the axis values that
/// produced it.
#[derive(Clone, Debug)]
pub struct Point {
    /// Position in the sweep (0-based); results are sorted by it.
    pub index: usize,
    /// Which placement of `sites` (0-based).
    pub placement: usize,
    /// Conflict percentage (the `conflict_percent` axis).
    pub conflict_percent: f64,
    /// Clients per region (the `clients_per_region` axis).
    pub clients_per_region: u32,
    /// Open-loop arrivals per second per region (the
    /// `arrival_rate_per_region` axis); `None`: closed loop.
    pub arrival_rate_per_region: Option<u64>,
    /// With the scenario's faults or without them (the `with_faults`
    /// axis); `None` when the scenario has no such axis.
    pub with_faults: Option<bool>,
    /// The checked run; its seed is the first of the scenario's seeds and
    /// is replaced per seed when run.
    pub run: Run,
}

/// A checked scenario: what to run and how to describe it.
#[derive(Clone, Debug)]
pub struct Scenario {
    /// The scenario's name (file stem or library name).
    pub name: String,
    /// Where it came from (a path, or `library:NAME`).
    pub source: String,
    /// The text run: the file's, with the overrides applied (kept for the
    /// manifest).
    pub text: String,
    /// The overrides applied, as given (`--set KEY=VALUE`, `--seed S`).
    pub overrides: Vec<String>,
    /// Root seeds; every point runs once with each.
    pub seeds: Vec<u64>,
    /// Site placements, by region name.
    pub placements: Vec<Vec<String>>,
    /// (protocol, f, placement) combinations left out because f is too
    /// large for that placement (but valid on another), each with why.
    pub skipped: Vec<String>,
    /// Sweep points in order: protocol, f, placement, conflict, clients,
    /// arrival rate, with/without faults.
    pub points: Vec<Point>,
}

/// Where errors point: the file's name and text, and the overrides
/// applied to it. Spans are offsets in the edited text; positions are
/// given in the file as written, or name the override.
struct Source<'a> {
    label: &'a str,
    /// The edited text (what was parsed).
    text: &'a str,
    /// The file as written.
    original: &'a str,
    edited: &'a EditedText,
}

impl Source<'_> {
    /// `file:line:column` of a byte offset of the edited text (line and
    /// column from 1; the column counts characters), or the override that
    /// wrote it.
    fn position(&self, offset: usize) -> String {
        let offset = match self.edited.origin(offset) {
            Origin::File(offset) => offset.min(self.original.len()),
            Origin::Override(flag) => return flag.to_string(),
        };
        let before = self.original.get(..offset).unwrap_or(self.original);
        let line = before.matches('\n').count() + 1;
        let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
        format!("{}:{line}:{column}", self.label)
    }

    fn at(&self, span: &Range<usize>, message: impl AsRef<str>) -> String {
        format!("{}: {}", self.position(span.start), message.as_ref())
    }

    /// The span of the `nth` string element `text` inside `within` (a
    /// list value), found after `cursor`; falls back to the list's span.
    /// TOML values inside a raw array carry no spans, so we find them in
    /// the text: elements appear in order, so a moving cursor suffices.
    fn element(&self, within: &Range<usize>, cursor: &mut usize, text: &str) -> Range<usize> {
        let start = (*cursor).max(within.start);
        let end = within.end.min(self.text.len());
        let haystack = self.text.get(start..end).unwrap_or("");
        for quote in ['"', '\''] {
            let needle = format!("{quote}{text}{quote}");
            if let Some(found) = haystack.find(&needle) {
                let element = start + found..start + found + needle.len();
                *cursor = element.end;
                return element;
            }
        }
        within.clone()
    }
}

/// A TOML parse error as `file:line:column: message`, with the nearest
/// valid name when the error is an unknown key or variant.
fn parse_error(source: &Source<'_>, error: &toml::de::Error) -> UserError {
    // serde names Rust types; say what to write instead.
    let message = error
        .message()
        .trim_end()
        .replace("expected u64", "expected a non-negative integer")
        .replace("expected u32", "expected a non-negative integer")
        .replace("expected usize", "expected a non-negative integer")
        .replace("expected f64", "expected a number")
        .replace("expected a boolean", "expected true or false");
    let suggestion = nearest_in_message(&message).map(|s| format!(" (did you mean `{s}`?)")).unwrap_or_default();
    let position = match error.span() {
        Some(span) => source.position(span.start),
        None => format!("{}:1:1", source.label),
    };
    UserError::new(format!("{position}: {message}{suggestion}"))
}

/// toml and serde write "unknown field `x`, expected one of `a`, `b`":
/// the nearest of the expected names to the unknown one.
fn nearest_in_message(message: &str) -> Option<String> {
    if !message.starts_with("unknown field") && !message.starts_with("unknown variant") {
        return None;
    }
    let names: Vec<&str> = message.split('`').skip(1).step_by(2).collect();
    let (given, valid) = names.split_first()?;
    nearest(given, valid.iter().copied())
}

/// The closest of `valid` to `given`, if close enough to be a typo.
pub(crate) fn nearest<'a>(given: &str, valid: impl Iterator<Item = &'a str>) -> Option<String> {
    valid
        .map(|name| (strsim::damerau_levenshtein(given, name), name))
        .filter(|(distance, name)| *distance <= 2.max(name.len() / 3))
        .min()
        .map(|(_, name)| name.to_string())
}

/// Parses and validates a scenario file; `base` is the folder relative
/// paths (a matrix file) are taken from.
pub fn load(name: &str, label: &str, text: &str, base: &Path) -> Result<Scenario, UserError> {
    load_with(name, label, text, base, &[])
}

/// [`load`] with `overrides` applied to the file first (`--set`, `--seed`).
pub fn load_with(
    name: &str,
    label: &str,
    text: &str,
    base: &Path,
    overrides: &[Override],
) -> Result<Scenario, UserError> {
    let edited = overrides::apply(text, overrides)?;
    let source = Source { label, text: &edited.text, original: text, edited: &edited };
    let file: ScenarioFile = toml::from_str(source.text).map_err(|e| parse_error(&source, &e))?;
    let mut errors = Vec::new();
    let resolved = check(&source, &file, base, &mut errors);
    match resolved {
        Some(mut scenario) if errors.is_empty() => {
            scenario.name = name.to_string();
            scenario.source = label.to_string();
            scenario.text = source.text.to_string();
            scenario.overrides = overrides.iter().map(|o| o.label.clone()).collect();
            Ok(scenario)
        }
        _ => {
            // Reported in file order (overrides last), whichever check
            // found them first.
            errors.sort_by_key(|e| line_column(label, e));
            Err(UserError::new(errors.join("\n")))
        }
    }
}

/// The (line, column) an error message starts with, for sorting.
fn line_column(label: &str, error: &str) -> (usize, usize) {
    let Some(rest) = error.strip_prefix(label) else { return (usize::MAX, usize::MAX) };
    let mut parts = rest.trim_start_matches(':').splitn(3, ':');
    let mut next = || parts.next().and_then(|p| p.parse().ok()).unwrap_or(0);
    (next(), next())
}

/// A raw axis value: one item or a non-empty list of them, each converted
/// by `convert` (which says what it expected).
fn axis<T>(
    source: &Source<'_>,
    key: &str,
    value: &Spanned<Value>,
    expected: &str,
    convert: impl Fn(&Value) -> Option<T>,
    errors: &mut Vec<String>,
) -> Vec<T> {
    let span = value.span();
    let items: Vec<&Value> = match value.get_ref() {
        Value::Array(items) if items.is_empty() => {
            errors.push(source.at(&span, format!("{key} is an empty list; give {expected}, or a list of them")));
            return Vec::new();
        }
        Value::Array(items) => items.iter().collect(),
        single => vec![single],
    };
    let mut out = Vec::new();
    for item in items {
        match convert(item) {
            Some(v) => out.push(v),
            None => errors.push(
                source.at(&span, format!("{key}: {} is not valid; expected {expected}, or a list of them", item)),
            ),
        }
    }
    out
}

fn int(value: &Value) -> Option<u64> {
    value.as_integer().and_then(|i| u64::try_from(i).ok())
}

fn number(value: &Value) -> Option<f64> {
    match value {
        Value::Integer(i) => Some(*i as f64),
        Value::Float(x) => Some(*x),
        _ => None,
    }
}

/// The checks, collecting every error; `None` when the scenario cannot be
/// assembled.
fn check(source: &Source<'_>, file: &ScenarioFile, base: &Path, errors: &mut Vec<String>) -> Option<Scenario> {
    let mut args = Args::try_parse_from(["sim"]).expect("the defaults parse");
    // The matrix.
    let matrix = match (&file.matrix, &file.cloud) {
        (Some(path), _) => {
            args.matrix = Some(base.join(path.get_ref()));
            Matrix::from_file(&base.join(path.get_ref()))
                .map_err(|e| errors.push(source.at(&path.span(), format!("matrix: {e}"))))
                .ok()
        }
        (None, Some(cloud)) => {
            args.cloud = cloud.get_ref().clone();
            Matrix::builtin(cloud.get_ref())
                .map_err(|e| errors.push(source.at(&cloud.span(), format!("cloud: {e}"))))
                .ok()
        }
        (None, None) => Matrix::builtin(&args.cloud).ok(),
    };

    // Sites: one placement or a list of placements; every name a region.
    let mut placements: Vec<Vec<String>> = Vec::new();
    match &file.sites {
        None => placements.push(cli::DEFAULT_SITES.split(',').map(str::to_string).collect()),
        Some(sites) => {
            let span = sites.span();
            let expected = "a list of region names, or a list of such lists (placements to compare)";
            let mut cursor = span.start;
            match sites.get_ref() {
                Value::Array(items) if items.is_empty() => {
                    errors.push(source.at(&span, format!("sites is an empty list; give {expected}")))
                }
                Value::Array(items) => {
                    let nested = items.iter().all(Value::is_array);
                    let lists: Vec<&Value> = if nested { items.iter().collect() } else { vec![sites.get_ref()] };
                    for list in lists {
                        let names: Option<Vec<String>> =
                            list.as_array().and_then(|l| l.iter().map(|v| v.as_str().map(str::to_string)).collect());
                        match names {
                            None => errors.push(source.at(&span, format!("sites: expected {expected}"))),
                            Some(names) => {
                                for name in &names {
                                    let element = source.element(&span, &mut cursor, name);
                                    if let Some(Err(e)) = matrix.as_ref().map(|m| m.region_index(name)) {
                                        errors.push(source.at(&element, format!("sites: {e}")));
                                    }
                                }
                                if names.len() < cli::MIN_SITES {
                                    errors.push(source.at(
                                        &span,
                                        format!(
                                            "sites: a placement of {} site(s); give at least {} regions",
                                            names.len(),
                                            cli::MIN_SITES
                                        ),
                                    ));
                                }
                                placements.push(names);
                            }
                        }
                    }
                }
                _ => errors.push(source.at(&span, format!("sites: expected {expected}"))),
            }
        }
    }
    if let (Some(regions), Some(matrix)) = (&file.client_regions, &matrix) {
        for region in regions {
            if let Err(e) = matrix.region_index(region.get_ref()) {
                errors.push(source.at(&region.span(), format!("client_regions: {e}")));
            }
        }
    }

    // Protocols, each with its own span for the nearest-name message.
    let protocols_span = file.protocols.span();
    let mut cursor = protocols_span.start;
    let names =
        axis(source, "protocols", &file.protocols, "a protocol name", |v| v.as_str().map(str::to_string), errors);
    let mut protocols = Vec::new();
    for name in names {
        let element = source.element(&protocols_span, &mut cursor, &name);
        match name.parse::<ProtocolName>() {
            Ok(protocol) => protocols.push(protocol),
            Err(e) => {
                let valid = ProtocolName::ALL.iter().map(|p| p.as_str());
                let hint = nearest(&name, valid).map(|s| format!(" (did you mean \"{s}\"?)")).unwrap_or_default();
                errors.push(source.at(&element, format!("protocols: {e}{hint}")));
            }
        }
    }

    let fs = match &file.f {
        Some(f) => axis(source, "f", f, "a positive integer", |v| int(v).filter(|f| *f >= 1), errors),
        None => vec![args.f as u64],
    };
    let conflicts = match &file.workload.conflict_percent {
        Some(c) => axis(
            source,
            "workload.conflict_percent",
            c,
            "a percentage from 0 to 100",
            |v| number(v).filter(|p| (0.0..=100.0).contains(p)),
            errors,
        ),
        None => vec![args.conflict_percent],
    };
    let clients = match &file.clients_per_region {
        Some(c) => axis(
            source,
            "clients_per_region",
            c,
            "a positive integer",
            |v| int(v).filter(|n| *n >= 1).and_then(|n| u32::try_from(n).ok()),
            errors,
        ),
        None => vec![args.clients_per_region],
    };
    let rates: Vec<Option<u64>> = match &file.arrival_rate_per_region {
        Some(r) => {
            if file.duration_s.is_none() {
                errors.push(source.at(
                    &r.span(),
                    "arrival_rate_per_region without duration_s: open-loop arrivals stop at the end of a duration; \
                     give duration_s too",
                ));
            }
            axis(
                source,
                "arrival_rate_per_region",
                r,
                "a positive integer (commands per second per client region)",
                |v| int(v).filter(|n| *n >= 1),
                errors,
            )
            .into_iter()
            .map(Some)
            .collect()
        }
        None => vec![args.arrival_rate_per_region],
    };
    let fault_variants: Vec<Option<bool>> = match &file.with_faults {
        Some(w) => {
            if file.faults.is_empty() && file.random_faults.is_none() {
                errors.push(source.at(
                    &w.span(),
                    "with_faults without faults: give [[faults]] or [random_faults] to run with and without",
                ));
            }
            axis(source, "with_faults", w, "true or false", |v| v.as_bool(), errors).into_iter().map(Some).collect()
        }
        None => vec![None],
    };
    let faulted_clients: Option<Vec<u32>> = file.with_faults_clients_per_region.as_ref().map(|c| {
        if !fault_variants.contains(&Some(true)) || !fault_variants.contains(&Some(false)) {
            errors.push(source.at(
                &c.span(),
                "with_faults_clients_per_region needs with_faults = [false, true] (it picks the loads that also run \
                 with the faults)",
            ));
        }
        let loads = axis(
            source,
            "with_faults_clients_per_region",
            c,
            "a positive integer",
            |v| int(v).filter(|n| *n >= 1).and_then(|n| u32::try_from(n).ok()),
            errors,
        );
        for load in loads.iter().filter(|load| !clients.contains(load)) {
            let listed: Vec<String> = clients.iter().map(u32::to_string).collect();
            errors.push(source.at(
                &c.span(),
                format!(
                    "with_faults_clients_per_region: {load} is not a load of clients_per_region (one of {})",
                    listed.join(", ")
                ),
            ));
        }
        loads
    });
    let seeds = match &file.seeds {
        Some(s) => {
            let seeds = axis(source, "seeds", s, "a non-negative integer", int, errors);
            let mut seen = std::collections::BTreeSet::new();
            if let Some(twice) = seeds.iter().find(|&&seed| !seen.insert(seed)) {
                errors.push(source.at(&s.span(), format!("seeds: {twice} appears twice; give distinct seeds")));
            }
            seeds
        }
        None => vec![args.seed.unwrap_or(cli::DEFAULT_SEED)],
    };

    // f against every placement, for each protocol: the protocol's own
    // rule says what is valid. An f too large for some placements of a
    // sweep is skipped on those (sites from 3 to 13 with f = [1, 2] run
    // f = 2 from 5 sites on); an f valid on no placement is an error.
    let mut skipped = std::collections::BTreeSet::new();
    let mut skipped_why = Vec::new();
    if let Some(f_value) = &file.f {
        let mut reported = std::collections::BTreeSet::new();
        for &protocol in &protocols {
            // A protocol that ignores f runs at the first one only.
            let run_fs = if protocol.uses_f() { &fs[..] } else { &fs[..fs.len().min(1)] };
            for &f in run_fs {
                let checks: Vec<Result<(), String>> =
                    placements.iter().map(|p| protocol.check(p.len(), f as usize)).collect();
                let valid_somewhere = checks.iter().any(Result::is_ok);
                for (placement, check) in checks.into_iter().enumerate() {
                    let Err(e) = check else { continue };
                    let n = placements[placement].len();
                    if valid_somewhere {
                        skipped.insert((protocol, f, placement));
                        skipped_why.push(format!("{protocol} f={f} on placement #{} ({n} sites): {e}", placement + 1));
                    } else if reported.insert((protocol, n, f)) {
                        errors.push(source.at(&f_value.span(), format!("f: {e} ({protocol} on {n} sites)")));
                    }
                }
            }
        }
    }
    // A run is either commands per client or a duration.
    match (&file.duration_s, &file.warmup_s) {
        (Some(duration), _) if file.commands_per_client.is_some() => errors.push(source.at(
            &duration.span(),
            "duration_s and commands_per_client are both given: a run is either a number of commands per client \
             or a duration; remove one",
        )),
        (None, Some(warmup)) => errors.push(source.at(
            &warmup.span(),
            "warmup_s without duration_s: a warm-up is part of a duration run; give duration_s too",
        )),
        _ => {}
    }
    if !errors.is_empty() {
        return None;
    }

    // Settings shared by every point, then one checked run per point
    // through the same resolution as the command line.
    if let Some(leader) = &file.leader {
        args.leader = Some(leader.get_ref().clone());
    }
    args.client_regions = file.client_regions.as_ref().map(|r| r.iter().map(|s| s.get_ref().clone()).collect());
    if let Some(n) = file.commands_per_client {
        args.commands_per_client = n;
    }
    args.duration_s = file.duration_s.as_ref().map(|d| *d.get_ref());
    args.warmup_s = file.warmup_s.as_ref().map(|w| *w.get_ref());
    if let Some(s) = file.max_time_s {
        args.max_time_s = s;
    }
    if let Some(checks) = file.checks {
        args.check = if checks { Switch::On } else { Switch::Off };
    }
    let w = &file.workload;
    args.hot_keys = w.hot_keys.unwrap_or(args.hot_keys);
    args.zipf = w.zipf;
    args.key_space = w.key_space.unwrap_or(args.key_space);
    args.keys_per_command = w.keys_per_command.unwrap_or(args.keys_per_command);
    args.read_percent = w.read_percent.unwrap_or(args.read_percent);
    args.payload_bytes = w.payload_bytes.unwrap_or(args.payload_bytes);
    let d = &file.delay;
    args.base_delay = d.base.unwrap_or(args.base_delay);
    args.jitter = if d.jitter.unwrap_or(false) { Switch::On } else { Switch::Off };
    args.intra_region_delay = d.intra_region.unwrap_or(args.intra_region_delay);
    args.reorder = d.reorder.unwrap_or(false);
    args.symmetric = d.symmetric.unwrap_or(false);
    args.seed = Some(seeds[0]);
    args.resources_section = file.resources.clone();
    let options_given = options_given(source.text);

    let fault_settings = FaultSettings {
        entries: &file.faults,
        random: file.random_faults.as_ref(),
        client_timeout_s: file.client_timeout_s.as_ref(),
        timeline_window_ms: file.timeline_window_ms.as_ref(),
    };
    let mut points = Vec::new();
    let mut seen = std::collections::BTreeSet::new();
    for &protocol in &protocols {
        for (fi, &f) in fs.iter().enumerate() {
            // A protocol that ignores f runs once, at the first f.
            if !protocol.uses_f() && fi > 0 {
                continue;
            }
            for (placement, sites) in placements.iter().enumerate() {
                if skipped.contains(&(protocol, f, placement)) {
                    continue;
                }
                for &conflict_percent in &conflicts {
                    for (&clients_per_region, &arrival_rate_per_region, &with_faults) in clients
                        .iter()
                        .flat_map(|c| rates.iter().map(move |r| (c, r)))
                        .flat_map(|(c, r)| fault_variants.iter().map(move |w| (c, r, w)))
                    {
                        let faulted_here =
                            faulted_clients.as_ref().is_none_or(|loads| loads.contains(&clients_per_region));
                        if with_faults == Some(true) && !faulted_here {
                            continue;
                        }
                        let mut point_args = args.clone();
                        point_args.arrival_rate_per_region = arrival_rate_per_region;
                        point_args.protocol = protocol.as_str().to_string();
                        point_args.f = f as usize;
                        point_args.sites = sites.clone();
                        point_args.conflict_percent = conflict_percent;
                        point_args.clients_per_region = clients_per_region;
                        match cli::resolve_config(&point_args) {
                            Ok((protocol, mut config)) => {
                                let at = |span: &Range<usize>, message: String| source.at(span, message);
                                let mut fault_errors = Vec::new();
                                config.faults =
                                    fault_settings.resolve(protocol, sites, f as usize, &at, &mut fault_errors);
                                if with_faults == Some(false) {
                                    // The same point, failure-free (as if
                                    // the file had no faults at all).
                                    config.faults = FaultPlan::default();
                                }
                                if fault_errors.is_empty()
                                    && let Err(e) = config.check()
                                {
                                    fault_errors.push(in_file_terms(source, &e.0));
                                }
                                if let Err(e) = protocol.check_options(sites.len(), f as usize, &file.options) {
                                    let n = sites.len();
                                    fault_errors.push(format!("[options.{protocol}]: {e} ({protocol} on {n} sites)"));
                                }
                                for error in fault_errors {
                                    if seen.insert(error.clone()) {
                                        errors.push(error);
                                    }
                                }
                                let given = options_given
                                    .iter()
                                    .filter(|(p, _)| p == protocol.as_str())
                                    .map(|(_, o)| o.clone())
                                    .collect();
                                points.push(Point {
                                    index: points.len(),
                                    placement,
                                    conflict_percent,
                                    clients_per_region,
                                    arrival_rate_per_region,
                                    with_faults,
                                    run: Run {
                                        protocol,
                                        config,
                                        options: file.options.clone(),
                                        options_given: given,
                                        out: Default::default(),
                                    },
                                });
                            }
                            Err(e) => {
                                // Not caught above (workload, leader, ...):
                                // reported once, at the key's line.
                                let message = in_file_terms(source, &e.0);
                                if seen.insert(message.clone()) {
                                    errors.push(message);
                                }
                            }
                        }
                    }
                }
            }
        }
    }
    Some(Scenario {
        name: String::new(),
        source: String::new(),
        text: String::new(),
        overrides: Vec::new(),
        seeds,
        placements,
        skipped: skipped_why,
        points,
    })
}

/// A command-line error from `cli::resolve_config` in the file's terms: the
/// flag it names becomes the scenario key, positioned at the line that sets
/// it (the file's start if the key was left at its default).
fn in_file_terms(source: &Source<'_>, message: &str) -> String {
    // The resource model's errors name their key: `resources.KEY ...`.
    if let Some(rest) = message.strip_prefix("resources.") {
        let key = rest.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).next().unwrap_or_default();
        let position = match key_offset(source.text, key) {
            Some((_, value)) if matches!(source.edited.origin(value), Origin::Override(_)) => source.position(value),
            Some((key, _)) => source.position(key),
            None => format!("{}:1:1", source.label),
        };
        return format!("{position}: {message}");
    }
    const KEYS: [(&str, &str); 13] = [
        ("--zipf/--key-space", "zipf"),
        ("--duration-s", "duration_s"),
        ("--warmup-s", "warmup_s"),
        ("--clients-per-region", "clients_per_region"),
        ("--commands-per-client", "commands_per_client"),
        ("--keys-per-command", "keys_per_command"),
        ("--hot-keys", "hot_keys"),
        ("--leader", "leader"),
        ("--max-time-s", "max_time_s"),
        ("--conflict-percent", "conflict_percent"),
        ("--read-percent", "read_percent"),
        ("--client-regions", "client_regions"),
        ("--sites", "sites"),
    ];
    for (flag, key) in KEYS {
        if let Some(rest) = message.strip_prefix(flag) {
            let position = match key_offset(source.text, key) {
                // A value given by an override is that override's fault.
                Some((_, value)) if matches!(source.edited.origin(value), Origin::Override(_)) => {
                    source.position(value)
                }
                Some((key, _)) => source.position(key),
                None => format!("{}:1:1", source.label),
            };
            return format!("{position}: {key}{rest}");
        }
    }
    format!("{}:1:1: {message}", source.label)
}

/// Byte offsets of the key and of the value of the first line that sets
/// `key` (`key = value`).
fn key_offset(text: &str, key: &str) -> Option<(usize, usize)> {
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        let trimmed = line.trim_start();
        if let Some(rest) = trimmed.strip_prefix(key)
            && let Some(value) = rest.trim_start().strip_prefix('=')
        {
            let key_at = offset + line.len() - trimmed.len();
            let value_at = offset + line.len() - value.trim_start().len();
            return Some((key_at, value_at));
        }
        offset += line.len();
    }
    None
}

/// `NAME=VALUE` of each `[options.PROTOCOL]` entry, per protocol, for the
/// run descriptions (the file already parsed, so this cannot fail).
fn options_given(text: &str) -> Vec<(String, String)> {
    let Ok(table) = text.parse::<toml::Table>() else { return Vec::new() };
    let Some(Value::Table(options)) = table.get("options") else { return Vec::new() };
    let mut given = Vec::new();
    for (protocol, values) in options {
        if let Value::Table(values) = values {
            for (name, value) in values {
                given.push((protocol.clone(), format!("{name}={value}")));
            }
        }
    }
    given
}

#[cfg(test)]
mod tests {
    use super::*;
    use sim_core::ProcessId;
    use sim_core::faults::FaultKind;

    /// Loads `text` as `t.toml`; the error message on failure.
    fn error_of(text: &str) -> String {
        match load("t", "t.toml", text, Path::new(".")) {
            Ok(_) => panic!("expected an error for:\n{text}"),
            Err(e) => e.0,
        }
    }

    const SITES: &str = "sites = [\"us-central1\", \"europe-west1\", \"asia-east1\"]\n";

    #[test]
    fn a_valid_sweep_is_the_cartesian_product() {
        let text = format!(
            "{SITES}protocols = [\"tempo\", \"epaxos\"]\nf = 1\nclients_per_region = [1, 2]\nseeds = [3, 4]\n\
             [workload]\nconflict_percent = [0, 2.5, 100]\n"
        );
        let scenario = load("t", "t.toml", &text, Path::new(".")).expect("valid");
        assert_eq!(scenario.points.len(), 2 * 3 * 2);
        assert_eq!(scenario.seeds, vec![3, 4]);
        let first = &scenario.points[0];
        assert_eq!(
            (first.run.protocol, first.conflict_percent, first.clients_per_region),
            (ProtocolName::Tempo, 0.0, 1)
        );
        assert!(scenario.points.iter().enumerate().all(|(i, p)| p.index == i));
    }

    #[test]
    fn arrival_rates_are_an_axis_of_open_loop_points() {
        let text = format!(
            "{SITES}protocols = \"tempo\"\nclients_per_region = [10, 20]\narrival_rate_per_region = [100, 400]\n\
             duration_s = 1\n"
        );
        let scenario = load("t", "t.toml", &text, Path::new(".")).expect("valid");
        let axes: Vec<_> = scenario.points.iter().map(|p| (p.clients_per_region, p.arrival_rate_per_region)).collect();
        assert_eq!(axes, [(10, Some(100)), (10, Some(400)), (20, Some(100)), (20, Some(400))]);
        let last = &scenario.points[3].run.config;
        assert_eq!(last.arrivals, sim_core::Arrivals::Poisson { per_region_per_s: 400 });
        let closed = load("t", "t.toml", &format!("{SITES}protocols = \"tempo\"\n"), Path::new(".")).expect("valid");
        assert_eq!(closed.points[0].arrival_rate_per_region, None);
        assert_eq!(closed.points[0].run.config.arrivals, sim_core::Arrivals::Closed);
    }

    #[test]
    fn with_faults_runs_each_point_failure_free_and_with_the_faults() {
        let text = format!(
            "{SITES}protocols = [\"fpaxos\", \"tempo\"]\nwith_faults = [false, true]\n\
             [[faults]]\nkind = \"crash\"\nat_s = 1\nprocesses = [\"us-central1\"]\n"
        );
        let scenario = load("t", "t.toml", &text, Path::new(".")).expect("valid");
        let variants: Vec<_> = scenario
            .points
            .iter()
            .map(|p| (p.run.protocol.as_str(), p.with_faults, p.run.config.faults.any()))
            .collect();
        assert_eq!(
            variants,
            [
                ("fpaxos", Some(false), false),
                ("fpaxos", Some(true), true),
                ("tempo", Some(false), false),
                ("tempo", Some(true), true)
            ]
        );
        let error = error_of("protocols = \"tempo\"\nwith_faults = [false, true]\n");
        assert!(error.starts_with("t.toml:2:15: with_faults without faults"), "{error}");
    }

    #[test]
    fn with_faults_clients_per_region_runs_the_faults_only_at_the_loads_it_names() {
        let crash = "[[faults]]\nkind = \"crash\"\nat_s = 1\nprocesses = [\"us-central1\"]\n";
        let text = format!(
            "{SITES}protocols = \"fpaxos\"\nclients_per_region = [4, 16, 64]\nwith_faults = [false, true]\n\
             with_faults_clients_per_region = [4]\n{crash}"
        );
        let scenario = load("t", "t.toml", &text, Path::new(".")).expect("valid");
        let points: Vec<_> = scenario.points.iter().map(|p| (p.clients_per_region, p.with_faults)).collect();
        assert_eq!(points, [(4, Some(false)), (4, Some(true)), (16, Some(false)), (64, Some(false))]);
        let error = error_of(&format!(
            "{SITES}protocols = \"fpaxos\"\nclients_per_region = [4, 16]\nwith_faults = [false, true]\n\
             with_faults_clients_per_region = [8]\n{crash}"
        ));
        assert!(
            error.contains(
                "t.toml:5:34: with_faults_clients_per_region: 8 is not a load of clients_per_region (one of 4, 16)"
            ),
            "{error}"
        );
        let error = error_of(&format!("{SITES}protocols = \"fpaxos\"\nwith_faults_clients_per_region = [8]\n{crash}"));
        assert!(
            error.contains("t.toml:3:34: with_faults_clients_per_region needs with_faults = [false, true]"),
            "{error}"
        );
    }

    #[test]
    fn an_arrival_rate_needs_a_duration_and_a_positive_rate() {
        let error = error_of("protocols = \"tempo\"\narrival_rate_per_region = 100\n");
        assert!(error.starts_with("t.toml:2:27: arrival_rate_per_region without duration_s"), "{error}");
        let error = error_of("protocols = \"tempo\"\nduration_s = 1\narrival_rate_per_region = [100, 0]\n");
        assert!(error.contains("t.toml:3:"), "{error}");
        assert!(error.contains("a positive integer (commands per second per client region)"), "{error}");
    }

    #[test]
    fn protocols_ignoring_f_run_once_per_f_sweep() {
        let text = "protocols = [\"epaxos\", \"tempo\"]\nf = [1, 2]\n";
        let scenario = load("t", "t.toml", text, Path::new(".")).expect("valid on the 5 default sites");
        let protocols: Vec<_> = scenario.points.iter().map(|p| p.run.protocol.as_str()).collect();
        assert_eq!(protocols, ["epaxos", "tempo", "tempo"]);
    }

    #[test]
    fn unknown_key_names_position_and_nearest_match() {
        let error = error_of("protocols = \"tempo\"\nsties = [\"us-central1\"]\n");
        assert!(error.starts_with("t.toml:2:1: unknown field `sties`"), "{error}");
        assert!(error.contains("did you mean `sites`?"), "{error}");
        let error = error_of("protocols = \"tempo\"\n[options.tempo]\nnfrr = true\n");
        assert!(error.starts_with("t.toml:3:1: unknown field `nfrr`"), "{error}");
        assert!(error.contains("did you mean `nfr`?"), "{error}");
    }

    #[test]
    fn the_resources_section_is_checked_at_its_keys() {
        let error = error_of("protocols = \"tempo\"\n[resources]\nenabled = true\ncoers = 4\n");
        assert!(error.starts_with("t.toml:4:1: unknown field `coers`"), "{error}");
        assert!(error.contains("did you mean `cores`?"), "{error}");
        let error = error_of("protocols = \"tempo\"\n[resources]\nenabled = true\n  cores = 0\n");
        assert!(error.starts_with("t.toml:4:3: resources.cores is 0"), "{error}");
        let error = error_of("protocols = \"tempo\"\n[resources]\ncores = \"many\"\n");
        assert!(error.starts_with("t.toml:3:9:"), "{error}");
        let text = "protocols = \"tempo\"\n[resources]\nenabled = true\ncores = 16\ncpu_scale_percent = 50\n";
        let scenario = load("t", "t.toml", text, Path::new(".")).expect("valid");
        let model = scenario.points[0].run.config.resources.expect("enabled");
        assert_eq!((model.cores, model.costs.cpu_scale_percent), (16, 50));
        let off = load("t", "t.toml", "protocols = \"tempo\"\n[resources]\ncores = 16\n", Path::new("."));
        assert_eq!(off.expect("valid").points[0].run.config.resources, None, "off unless enabled");
    }

    #[test]
    fn wrong_type_names_position() {
        let error = error_of("protocols = \"tempo\"\ncommands_per_client = \"ten\"\n");
        assert!(
            error.starts_with("t.toml:2:23: invalid type: string \"ten\", expected a non-negative integer"),
            "{error}"
        );
        let error = error_of("protocols = \"tempo\"\nf = \"one\"\n");
        assert!(error.starts_with("t.toml:2:5: f: \"one\" is not valid; expected a positive integer"), "{error}");
    }

    #[test]
    fn unknown_region_names_the_element_and_suggests() {
        let error = error_of("sites = [\"us-central1\", \"europe-wst1\", \"asia-east1\"]\nprotocols = \"tempo\"\n");
        assert!(error.starts_with("t.toml:1:25: sites: unknown region \"europe-wst1\""), "{error}");
        assert!(error.contains("did you mean \"europe-west1\""), "{error}");
    }

    #[test]
    fn f_too_large_for_n_says_what_is_valid() {
        let error = error_of(&format!("{SITES}protocols = \"atlas\"\nf = [1, 2]\n"));
        assert!(error.starts_with("t.toml:3:5: f: "), "{error}");
        assert!(error.contains("floor(n/2) = 1") && error.contains("atlas on 3 sites"), "{error}");
    }

    #[test]
    fn an_f_too_large_for_some_placements_is_skipped_there() {
        let text = "protocols = [\"tempo\", \"epaxos\"]\nf = [1, 2]\nsites = [\
                    [\"us-central1\", \"europe-west1\", \"asia-east1\"],\
                    [\"us-west1\", \"us-east1\", \"europe-west2\", \"asia-south1\", \"asia-east2\"]]\n";
        let scenario = load("t", "t.toml", text, Path::new(".")).expect("valid");
        let points: Vec<_> = scenario
            .points
            .iter()
            .map(|p| (p.run.protocol.as_str(), p.run.config.protocol.f, p.run.config.n()))
            .collect();
        assert_eq!(points, [("tempo", 1, 3), ("tempo", 1, 5), ("tempo", 2, 5), ("epaxos", 1, 3), ("epaxos", 1, 5)]);
        assert_eq!(scenario.skipped.len(), 1);
        assert!(scenario.skipped[0].starts_with("tempo f=2 on placement #1 (3 sites): "), "{:?}", scenario.skipped);
    }

    #[test]
    fn empty_sweep_list_is_rejected() {
        let error = error_of("protocols = \"tempo\"\nclients_per_region = []\n");
        assert!(error.starts_with("t.toml:2:22: clients_per_region is an empty list"), "{error}");
        let error = error_of("protocols = []\n");
        assert!(error.starts_with("t.toml:1:13: protocols is an empty list"), "{error}");
    }

    #[test]
    fn unknown_protocol_lists_valid_ones_and_nearest() {
        let error = error_of("protocols = [\"tempo\", \"atlsa\"]\n");
        assert!(error.starts_with("t.toml:1:23: protocols: unknown protocol \"atlsa\""), "{error}");
        assert!(
            error.contains("valid protocols: fpaxos, tempo") && error.contains("did you mean \"atlas\"?"),
            "{error}"
        );
    }

    #[test]
    fn every_error_of_a_file_is_reported_at_once() {
        let error = error_of(
            "sites = [\"us-central1\", \"europe-wst1\", \"asia-east1\"]\nprotocols = [\"tempoo\"]\n\
             clients_per_region = []\n[workload]\nconflict_percent = 150\n",
        );
        let lines: Vec<&str> = error.lines().collect();
        assert_eq!(lines.len(), 4, "{error}");
        for position in ["t.toml:1:25:", "t.toml:2:14:", "t.toml:3:22:", "t.toml:5:20:"] {
            assert!(lines.iter().any(|l| l.starts_with(position)), "{position} missing in\n{error}");
        }
    }

    #[test]
    fn clock_faults_and_restarts_are_read_and_checked() {
        let text = format!(
            "{SITES}protocols = \"fpaxos\"\n[[faults]]\nkind = \"clock\"\nat_s = 1\nuntil_s = 2\n\
             processes = [\"asia-east1\"]\noffset_ms = -300\ndrift_ppm = 200\n\
             [[faults]]\nkind = \"crash\"\nat_s = 1\nuntil_s = 2\nprocesses = [\"p2\"]\n"
        );
        let scenario = load("t", "t.toml", &text, Path::new(".")).expect("valid");
        let faults = &scenario.points[0].run.config.faults;
        let clock = FaultKind::Clock { processes: vec![ProcessId(3)], offset_ns: -300_000_000, drift_ppm: 200 };
        assert_eq!(faults.schedule[0].kind, clock);
        assert!(faults.restarts() && faults.skews_clocks());
        let error = error_of(&text.replace("offset_ms = -300\ndrift_ppm = 200\n", ""));
        assert!(error.contains("clock: give `offset_ms`, `drift_ppm` or both"), "{error}");
        let error = error_of(&text.replace("\"fpaxos\"", "\"epaxos\""));
        assert!(error.contains("t.toml:13:11: until_s: epaxos does not support restarts"), "{error}");
        let with_cpu = format!("{text}[resources]\nenabled = true\n");
        assert!(error_of(&with_cpu).contains("restarts (crashes with an end) cannot be combined with the CPU"));
    }

    #[test]
    fn every_file_of_the_library_folder_is_embedded() {
        let folder = Path::new(env!("CARGO_MANIFEST_DIR")).join("library");
        let mut files: Vec<String> = std::fs::read_dir(folder)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|name| name.ends_with(".toml"))
            .collect();
        files.sort();
        let mut embedded: Vec<String> =
            crate::scenario::LIBRARY.iter().map(|(name, _)| format!("{name}.toml")).collect();
        embedded.sort();
        assert_eq!(files, embedded);
    }

    #[test]
    fn every_library_scenario_is_valid() {
        for (name, text) in crate::scenario::LIBRARY {
            let scenario = load(name, name, text, Path::new(".")).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert!(!scenario.points.is_empty(), "{name}");
            assert_ne!(crate::scenario::question(text), "(no opening comment)", "{name}");
        }
    }

    #[test]
    fn placements_are_an_axis_and_their_regions_are_located() {
        let text = "protocols = \"tempo\"\nsites = [[\"us-central1\", \"europe-west1\", \"asia-east1\"],\n  \
                    [\"us-west1\", \"us-east1\", \"europe-west2\", \"asia-south1\", \"asia-east2\"]]\n";
        let scenario = load("t", "t.toml", text, Path::new(".")).expect("valid");
        assert_eq!(scenario.placements.len(), 2);
        assert_eq!(
            scenario.points.iter().map(|p| (p.placement, p.run.config.n())).collect::<Vec<_>>(),
            [(0, 3), (1, 5)]
        );
        let error = error_of(&text.replace("\"asia-east2\"", "\"asia-east9\""));
        assert!(error.starts_with("t.toml:3:59: sites: unknown region \"asia-east9\""), "{error}");
    }

    #[test]
    fn run_checks_speak_of_keys_at_their_line() {
        let error = error_of("protocols = \"tempo\"\n[workload]\nconflict_percent = 100\n  keys_per_command = 2\n");
        assert!(error.starts_with("t.toml:4:3: keys_per_command"), "{error}");
        let error = error_of("protocols = \"tempo\"\ncommands_per_client = 0\n");
        assert!(error.starts_with("t.toml:2:1: commands_per_client"), "{error}");
    }

    fn error_with(text: &str, given: &[&str]) -> String {
        let overrides: Vec<Override> = given.iter().map(|g| Override::parse_set(g).unwrap()).collect();
        match load_with("t", "t.toml", text, Path::new("."), &overrides) {
            Ok(_) => panic!("expected an error for {given:?} on:\n{text}"),
            Err(e) => e.0,
        }
    }

    #[test]
    fn overrides_are_checked_like_the_file_and_named_in_errors() {
        let text = format!("# q\n{SITES}protocols = \"atlas\"\nf = 1\n[workload]\nconflict_percent = 2\n");
        let error = error_with(&text, &["f=[1,2]"]);
        assert!(error.starts_with("--set f=[1,2]: f: ") && error.contains("atlas on 3 sites"), "{error}");
        let error = error_with(&text, &["sties=[\"us-west1\"]"]);
        assert!(error.starts_with("--set sties=[\"us-west1\"]: unknown field `sties`"), "{error}");
        assert!(error.contains("did you mean `sites`?"), "{error}");
        let error = error_with(&text, &["workload.conflict_percnt=10"]);
        assert!(error.contains("did you mean `conflict_percent`?"), "{error}");
        let error = error_with(&text, &["workload.conflict_percent=true"]);
        assert!(error.starts_with("--set workload.conflict_percent=true: workload.conflict_percent: true"), "{error}");
        let error = error_with(&text, &["commands_per_client=0"]);
        assert!(error.starts_with("--set commands_per_client=0: commands_per_client"), "{error}");
        // An inserted line does not move the file's own positions.
        let bad_file = text.replace("conflict_percent = 2", "conflict_percent = 200");
        let error = error_with(&bad_file, &["seeds=[5]", "workload.hot_keys=2"]);
        assert!(error.starts_with("t.toml:6:20: workload.conflict_percent: 200"), "{error}");
    }

    #[test]
    fn overrides_change_the_points_and_are_recorded() {
        let text = format!("# q\n{SITES}protocols = \"tempo\"\nseeds = [1, 2]\n");
        let overrides = [
            Override::parse_set("workload.conflict_percent=[0, 100]").unwrap(),
            Override::parse_set("clients_per_region=3").unwrap(),
            Override::seed(9),
        ];
        let scenario = load_with("t", "t.toml", &text, Path::new("."), &overrides).unwrap();
        assert_eq!(scenario.seeds, vec![9]);
        let axes: Vec<_> = scenario.points.iter().map(|p| (p.conflict_percent, p.clients_per_region)).collect();
        assert_eq!(axes, [(0.0, 3), (100.0, 3)]);
        assert_eq!(
            scenario.overrides,
            ["--set workload.conflict_percent=[0, 100]", "--set clients_per_region=3", "--seed 9"]
        );
        assert!(scenario.text.contains("seeds = 9"), "{}", scenario.text);
    }

    #[test]
    fn seeds_are_distinct() {
        let error = error_of("protocols = \"tempo\"\nseeds = [1, 2, 1]\n");
        assert!(error.starts_with("t.toml:2:9: seeds: 1 appears twice"), "{error}");
    }

    #[test]
    fn a_run_is_commands_per_client_or_a_duration() {
        let text = "protocols = \"tempo\"\nduration_s = 10\nwarmup_s = 2.5\n";
        let scenario = load("t", "t.toml", text, Path::new(".")).expect("valid");
        let duration = scenario.points[0].run.config.duration.expect("a duration run");
        assert_eq!((duration.duration_ns, duration.warmup_ns), (10_000_000_000, 2_500_000_000));
        let error = error_of("protocols = \"tempo\"\ncommands_per_client = 5\nduration_s = 10\n");
        assert!(error.starts_with("t.toml:3:14: duration_s and commands_per_client are both given"), "{error}");
        let error = error_of("protocols = \"tempo\"\nwarmup_s = 1\n");
        assert!(error.starts_with("t.toml:2:12: warmup_s without duration_s"), "{error}");
        let error = error_of("protocols = \"tempo\"\nduration_s = 2\n  warmup_s = 2\n");
        assert!(error.starts_with("t.toml:3:3: warmup_s: warm-up of 2 s is not shorter than the duration"), "{error}");
        let error = error_of("protocols = \"tempo\"\nduration_s = 20\nmax_time_s = 20\n");
        assert!(
            error.starts_with("t.toml:2:1: duration_s: duration of 20 s is not shorter than the time limit"),
            "{error}"
        );
        let error = error_of("protocols = \"tempo\"\nduration_s = -1\n");
        assert!(error.starts_with("t.toml:2:1: duration_s -1: give a positive number"), "{error}");
        let error = error_of("protocols = \"tempo\"\nduration_s = \"long\"\n");
        assert!(error.starts_with("t.toml:2:14: invalid type: string \"long\", expected a number"), "{error}");
    }

    #[test]
    fn columns_count_characters() {
        let text = "ab\n\u{e9}c\n";
        let edited = EditedText::unedited(text);
        let source = Source { label: "x", text, original: text, edited: &edited };
        assert_eq!(source.position(0), "x:1:1");
        assert_eq!(source.position(3), "x:2:1");
        assert_eq!(source.position(5), "x:2:2");
        assert_eq!(source.position(100), "x:3:1");
    }
}
