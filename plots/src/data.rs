//! Reading a results folder: `manifest.json` (the sweep's points),
//! `runs.csv` (one row per point, seed and client region, plus `all`) and,
//! if present, `latency-cdf.csv` (latency at fixed quantiles per point and
//! seed), `summary.csv` (per point), `timeline.csv` and `faults.csv` (runs
//! with faults) and `resources.csv` (runs with the CPU and NIC model).
//! Only the columns the figures use are read; others are ignored.

use crate::PlotError;
use serde::Deserialize;
use std::path::{Path, PathBuf};

/// One sweep point, as the manifest describes it.
#[derive(Clone, Debug, Deserialize)]
pub struct Point {
    /// Position in the sweep; `runs.csv` rows name it.
    pub point: usize,
    /// Protocol name as `sim` spells it (`tempo`, `atlas`, ...).
    pub protocol: String,
    /// Failures tolerated.
    pub f: usize,
    /// Whether the protocol's behaviour depends on f (EPaxos and Caesar
    /// ignore it); manifests written before this field existed count as yes.
    #[serde(default = "yes")]
    pub uses_f: bool,
    /// Placement number (from 1).
    pub placement: usize,
    /// Site regions in process order.
    pub sites: Vec<String>,
    /// Conflict percentage.
    pub conflict_percent: f64,
    /// Clients in each client region (with open-loop arrivals, its
    /// connections).
    pub clients_per_region: u32,
    /// Open-loop arrivals per second per region; `None`: closed loop (and
    /// manifests written before open loop existed).
    #[serde(default)]
    pub arrival_rate_per_region: Option<u64>,
    /// Of a sweep run without and with its faults (`with_faults`): which;
    /// `None` otherwise.
    #[serde(default)]
    pub with_faults: Option<bool>,
}

fn yes() -> bool {
    true
}

impl Point {
    /// The line or bar this point belongs to: its protocol and f.
    pub fn series(&self) -> Series {
        Series { protocol: self.protocol.clone(), f: self.uses_f.then_some(self.f) }
    }

    /// The offered load that orders a load curve: the arrival rate of an
    /// open-loop point, else its clients per region.
    pub fn load(&self) -> u64 {
        self.arrival_rate_per_region.unwrap_or(u64::from(self.clients_per_region))
    }
}

#[derive(Deserialize)]
struct Manifest {
    scenario: String,
    points: Vec<Point>,
}

/// One row of `runs.csv` (the columns figures use).
#[derive(Clone, Debug, Deserialize)]
pub struct RunRow {
    /// The sweep point.
    pub point: usize,
    /// The root seed.
    pub seed: u64,
    /// The matrix: a built-in name (`gcp`, `aws`) or the file it came from.
    pub cloud: String,
    /// Client region, or `all` for every client together.
    pub region: String,
    /// Commands completed.
    pub commands: u64,
    /// Mean latency.
    pub latency_ms_mean: f64,
    /// 99th percentile.
    pub latency_ms_p99: f64,
    /// 99.9th percentile.
    pub latency_ms_p99_9: f64,
    /// Fast paths over decided paths (0 to 1); empty for protocols without
    /// a fast path.
    pub fast_path_ratio: Option<f64>,
}

/// One row of `latency-cdf.csv`.
#[derive(Clone, Debug, Deserialize)]
pub struct CdfRow {
    /// The sweep point.
    pub point: usize,
    /// The root seed.
    pub seed: u64,
    /// Quantile, 0 to 1.
    pub quantile: f64,
    /// Latency of all clients together at that quantile.
    pub latency_ms: f64,
}

/// One row of `summary.csv` (the columns figures use): a point over its
/// seeds.
#[derive(Clone, Debug, Deserialize)]
pub struct SummaryRow {
    /// The sweep point.
    pub point: usize,
    /// Mean over seeds of the mean latency.
    pub latency_ms_mean: f64,
    /// Mean over seeds of the 99th percentile.
    pub latency_ms_p99: f64,
    /// Mean over seeds of the throughput.
    pub throughput_ops_per_s: f64,
}

/// One row of `comparison.csv`: a protocol (and f) without faults and
/// with them.
#[derive(Clone, Debug, Deserialize)]
pub struct ComparisonRow {
    /// Protocol name as `sim` spells it.
    pub protocol: String,
    /// f, for protocols that use it.
    pub f: Option<usize>,
    /// Failure-free median latency at the lightest load.
    pub latency_ms_p50: f64,
    /// Failure-free p99 at the lightest load.
    pub latency_ms_p99: f64,
    /// Failure-free peak throughput over the loads that answered every
    /// command (empty if none did).
    pub peak_throughput_ops_per_s: Option<f64>,
    /// With the faults: the longest period the worst client region went
    /// without a completion (empty if unknown).
    pub unavailable_ms: Option<f64>,
    /// With the faults: acknowledged writes lost (0 in files written
    /// before this column existed).
    #[serde(default)]
    pub acked_writes_lost: u64,
    /// With the faults: extra acknowledged writes at forks (0 in files
    /// written before this column existed).
    #[serde(default)]
    pub divergent_acks: u64,
}

impl ComparisonRow {
    /// The protocol and f, as the other figures name them.
    pub fn series(&self) -> Series {
        Series { protocol: self.protocol.clone(), f: self.f }
    }
}

/// One row of `timeline.csv`: a client region's completions in one window
/// of a run with faults.
#[derive(Clone, Debug, Deserialize)]
pub struct TimelineRow {
    /// The sweep point.
    pub point: usize,
    /// The root seed.
    pub seed: u64,
    /// Client region.
    pub region: String,
    /// Start of the window, ms of simulated time.
    pub window_start_ms: f64,
    /// Commands completed in the window.
    pub commands: u64,
    /// Median latency of those commands.
    pub latency_ms_p50: Option<f64>,
    /// 99th percentile of those commands.
    pub latency_ms_p99: Option<f64>,
}

/// One row of `faults.csv` (the columns figures use).
#[derive(Clone, Debug, Deserialize)]
pub struct FaultRow {
    /// The sweep point.
    pub point: usize,
    /// The root seed.
    pub seed: u64,
    /// The run's faults as `sim` prints them, `; `-separated, e.g.
    /// `crash at 2 s: p1; partition at 3 s until 4 s: p2<->p3`.
    pub schedule: String,
}

/// One row of `resources.csv`: one process of one run with the CPU and
/// NIC model.
#[derive(Clone, Debug, Deserialize)]
pub struct ResourceRow {
    /// The sweep point.
    pub point: usize,
    /// The root seed.
    pub seed: u64,
    /// `p1`, `p2`, ... in the placement's site order.
    pub process: String,
    /// Busy time over the cores' time, percent.
    pub cpu_utilisation_percent: f64,
}

/// A line or group of bars: one protocol with one f (`None` for protocols
/// that ignore f).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Series {
    /// Protocol name as `sim` spells it.
    pub protocol: String,
    /// Failures tolerated, if the protocol uses f.
    pub f: Option<usize>,
}

impl Series {
    /// The legend's name: the protocol as its paper writes it, and f.
    pub fn label(&self) -> String {
        let name = match self.protocol.as_str() {
            "tempo" => "Tempo",
            "atlas" => "Atlas",
            "janus" => "Janus*",
            "epaxos" => "EPaxos",
            "caesar" => "Caesar",
            "fpaxos" => "FPaxos",
            "mencius" => "Mencius",
            "vr" => "VR",
            "raft" => "Raft",
            "chain" => "Chain",
            "primary-backup" => "P/B",
            "2pc" => "2PC",
            "3pc" => "3PC",
            "deferred-update" => "DUR",
            other => other,
        };
        match self.f {
            Some(f) => format!("{name} f={f}"),
            None => name.to_string(),
        }
    }
}

/// Everything a results folder holds for figures.
#[derive(Clone, Debug)]
pub struct Results {
    /// The folder.
    pub dir: PathBuf,
    /// The scenario's name.
    pub scenario: String,
    /// Sweep points in order.
    pub points: Vec<Point>,
    /// `runs.csv`.
    pub runs: Vec<RunRow>,
    /// `latency-cdf.csv`, if the folder has one.
    pub cdf: Option<Vec<CdfRow>>,
    /// `summary.csv`, if the folder has one.
    pub summary: Option<Vec<SummaryRow>>,
    /// `timeline.csv`, if the folder has one (a sweep with faults).
    pub timeline: Option<Vec<TimelineRow>>,
    /// `faults.csv`, if the folder has one (a sweep with faults).
    pub faults: Option<Vec<FaultRow>>,
    /// `resources.csv`, if the folder has one (the CPU and NIC model on).
    pub resources: Option<Vec<ResourceRow>>,
    /// `comparison.csv`, if the folder has one (a sweep run without and
    /// with its faults).
    pub comparison: Option<Vec<ComparisonRow>>,
}

impl Results {
    /// Reads `dir`'s files; a missing or malformed file is an error naming
    /// it (and the line, for CSVs).
    pub fn load(dir: &Path) -> Result<Results, PlotError> {
        let manifest_path = dir.join("manifest.json");
        let text = std::fs::read_to_string(&manifest_path).map_err(|e| {
            PlotError::new(format!(
                "cannot read {}: {e}; give a folder written by `sim --scenario` (it holds manifest.json and runs.csv)",
                manifest_path.display()
            ))
        })?;
        let manifest: Manifest = serde_json::from_str(&text)
            .map_err(|e| PlotError::new(format!("{}:{}:{}: {e}", manifest_path.display(), e.line(), e.column())))?;
        let runs: Vec<RunRow> = read_csv(&dir.join("runs.csv"))?;
        let results = Results {
            dir: dir.to_path_buf(),
            scenario: manifest.scenario,
            points: manifest.points,
            runs,
            cdf: read_optional_csv(&dir.join("latency-cdf.csv"))?,
            summary: read_optional_csv(&dir.join("summary.csv"))?,
            timeline: read_optional_csv(&dir.join("timeline.csv"))?,
            faults: read_optional_csv(&dir.join("faults.csv"))?,
            resources: read_optional_csv(&dir.join("resources.csv"))?,
            comparison: read_optional_csv(&dir.join("comparison.csv"))?,
        };
        results.check()?;
        Ok(results)
    }

    /// Every row and point must name a point of the manifest, and points
    /// must be listed in order, so figures can index them.
    fn check(&self) -> Result<(), PlotError> {
        if let Some((i, p)) = self.points.iter().enumerate().find(|(i, p)| p.point != *i) {
            return Err(PlotError::new(format!(
                "{}: point {i} of the manifest is numbered {}; points must be listed in order from 0",
                self.dir.join("manifest.json").display(),
                p.point
            )));
        }
        let known = |point: usize| point < self.points.len();
        let unknown = self
            .runs
            .iter()
            .map(|r| r.point)
            .chain(self.cdf.iter().flatten().map(|r| r.point))
            .chain(self.summary.iter().flatten().map(|r| r.point))
            .chain(self.timeline.iter().flatten().map(|r| r.point))
            .chain(self.faults.iter().flatten().map(|r| r.point))
            .chain(self.resources.iter().flatten().map(|r| r.point));
        if let Some(point) = unknown.into_iter().find(|&p| !known(p)) {
            return Err(PlotError::new(format!(
                "{}: rows name point {point}, but manifest.json lists {} point(s); the files come from different runs",
                self.dir.display(),
                self.points.len()
            )));
        }
        Ok(())
    }

    /// The lines or bar groups, in the order the sweep first lists them.
    pub fn series(&self) -> Vec<Series> {
        let mut series: Vec<Series> = Vec::new();
        for point in &self.points {
            let s = point.series();
            if !series.contains(&s) {
                series.push(s);
            }
        }
        series
    }

    /// The distinct values of each sweep axis.
    pub fn axes(&self) -> Axes {
        let mut axes = Axes { placements: Vec::new(), conflicts: Vec::new(), clients: Vec::new() };
        for point in &self.points {
            axes.placements.push(point.placement);
            axes.conflicts.push(point.conflict_percent);
            axes.clients.push(point.clients_per_region);
        }
        axes.placements.sort_unstable();
        axes.placements.dedup();
        axes.conflicts.sort_by(f64::total_cmp);
        axes.conflicts.dedup();
        axes.clients.sort_unstable();
        axes.clients.dedup();
        axes
    }

    /// The sites of a placement.
    pub fn sites(&self, placement: usize) -> &[String] {
        self.points.iter().find(|p| p.placement == placement).map_or(&[], |p| &p.sites)
    }

    /// Distinct seeds in `runs.csv`.
    pub fn seed_count(&self) -> usize {
        let mut seeds: Vec<u64> = self.runs.iter().map(|r| r.seed).collect();
        seeds.sort_unstable();
        seeds.dedup();
        seeds.len()
    }

    /// Mean over seeds of `metric` on `point`'s rows for `region` (`all`
    /// for every client); `None` if no row has a value.
    pub fn mean_over_seeds(&self, point: usize, region: &str, metric: impl Fn(&RunRow) -> Option<f64>) -> Option<f64> {
        mean(self.runs.iter().filter(|r| r.point == point && r.region == region && r.commands > 0).filter_map(metric))
    }

    /// Client regions of `point`, in `runs.csv` order (without `all`).
    pub fn client_regions(&self, point: usize) -> Vec<String> {
        let mut regions: Vec<String> = Vec::new();
        for row in self.runs.iter().filter(|r| r.point == point && r.region != "all") {
            if !regions.contains(&row.region) {
                regions.push(row.region.clone());
            }
        }
        regions
    }
}

/// The distinct values of each sweep axis, sorted.
#[derive(Clone, Debug, PartialEq)]
pub struct Axes {
    /// Placement numbers.
    pub placements: Vec<usize>,
    /// Conflict percentages.
    pub conflicts: Vec<f64>,
    /// Clients per region.
    pub clients: Vec<u32>,
}

/// The sweep axes a figure holds fixed; `None` for an axis the figure
/// draws along. One figure is drawn per slice.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Slice {
    /// Placement number.
    pub placement: Option<usize>,
    /// Conflict percentage.
    pub conflict_percent: Option<f64>,
    /// Clients per region.
    pub clients_per_region: Option<u32>,
    /// Failure-free or with the faults, in a sweep run both ways (always
    /// fixed: a figure never mixes the two).
    pub with_faults: Option<bool>,
}

impl Slice {
    /// Every slice fixing the axes chosen (the others `None`), in sweep
    /// order, that has at least one point.
    pub(crate) fn all(results: &Results, placement: bool, conflict: bool, clients: bool) -> Vec<Slice> {
        let mut slices: Vec<Slice> = Vec::new();
        for p in &results.points {
            let slice = Slice {
                placement: placement.then_some(p.placement),
                conflict_percent: conflict.then_some(p.conflict_percent),
                clients_per_region: clients.then_some(p.clients_per_region),
                with_faults: p.with_faults,
            };
            if !slices.contains(&slice) {
                slices.push(slice);
            }
        }
        slices
    }

    /// Whether `point` lies in this slice.
    pub(crate) fn contains(&self, point: &Point) -> bool {
        self.placement.is_none_or(|v| v == point.placement)
            && self.conflict_percent.is_none_or(|v| v == point.conflict_percent)
            && self.clients_per_region.is_none_or(|v| v == point.clients_per_region)
            && self.with_faults == point.with_faults
    }

    /// The part of a file name naming this slice: only the axes the sweep
    /// varies (a sweep with one conflict rate does not repeat it in every
    /// name), e.g. `-conflict2-clients32`.
    pub(crate) fn file_suffix(&self, axes: &Axes) -> String {
        let mut suffix = String::new();
        if let Some(p) = self.placement.filter(|_| axes.placements.len() > 1) {
            suffix.push_str(&format!("-placement{p}"));
        }
        if let Some(c) = self.conflict_percent.filter(|_| axes.conflicts.len() > 1) {
            suffix.push_str(&format!("-conflict{c}"));
        }
        if let Some(n) = self.clients_per_region.filter(|_| axes.clients.len() > 1) {
            suffix.push_str(&format!("-clients{n}"));
        }
        match self.with_faults {
            Some(true) => suffix.push_str("-faults"),
            Some(false) => suffix.push_str("-failure-free"),
            None => {}
        }
        suffix
    }

    /// What the slice holds fixed, for a title: `2% conflicts, 32 clients
    /// per region` (the placement only when the sweep has several).
    pub(crate) fn caption(&self, results: &Results) -> String {
        let mut parts = Vec::new();
        if let Some(p) = self.placement.filter(|_| results.axes().placements.len() > 1) {
            parts.push(format!("placement #{p} ({} sites)", results.sites(p).len()));
        }
        if let Some(c) = self.conflict_percent {
            parts.push(format!("{c}% conflicts"));
        }
        if let Some(n) = self.clients_per_region {
            parts.push(format!("{n} client{} per region", if n == 1 { "" } else { "s" }));
        }
        match self.with_faults {
            Some(true) => parts.push("with the faults".to_string()),
            Some(false) => parts.push("failure-free".to_string()),
            None => {}
        }
        let seeds = results.seed_count();
        if seeds > 1 {
            parts.push(format!("mean of {seeds} seeds"));
        }
        parts.join(", ")
    }
}

/// The arithmetic mean; `None` for no values.
pub(crate) fn mean(values: impl Iterator<Item = f64>) -> Option<f64> {
    let (sum, count) = values.fold((0.0, 0usize), |(sum, count), v| (sum + v, count + 1));
    (count > 0).then(|| sum / count as f64)
}

/// The rows of `path`, or `None` if there is no such file.
fn read_optional_csv<T: serde::de::DeserializeOwned>(path: &Path) -> Result<Option<Vec<T>>, PlotError> {
    if path.is_file() { read_csv(path).map(Some) } else { Ok(None) }
}

fn read_csv<T: serde::de::DeserializeOwned>(path: &Path) -> Result<Vec<T>, PlotError> {
    let mut reader = csv::Reader::from_path(path).map_err(|e| {
        PlotError::new(format!(
            "cannot read {}: {e}; give a folder written by `sim --scenario` (it holds manifest.json and runs.csv)",
            path.display()
        ))
    })?;
    reader
        .deserialize()
        .map(|row| {
            row.map_err(|e| {
                let line = e.position().map(|p| format!(":{}", p.line())).unwrap_or_default();
                PlotError::new(format!("{}{line}: {e}", path.display()))
            })
        })
        .collect()
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Writes a small results folder: two protocols (one ignoring f), two
    /// conflict rates, two client counts, two seeds, three regions.
    pub(crate) fn write_sample(dir: &Path) {
        let sites = ["us-central1", "europe-west1", "asia-east1"];
        let mut points = Vec::new();
        let mut runs = String::from(
            "point,placement,conflict_percent,clients_per_region,commands_per_client,protocol,f,n,leader,cloud,sites,\
             seed,jitter,region,clients,commands,latency_ms_mean,latency_ms_p99,latency_ms_p99_9,fast_path_ratio,verdict\n",
        );
        let mut cdf = String::from(
            "point,protocol,f,placement,conflict_percent,clients_per_region,seed,commands,quantile,latency_ms\n",
        );
        let mut index = 0;
        for (protocol, uses_f) in [("tempo", true), ("epaxos", false)] {
            for conflict in [0.0, 50.0] {
                for clients in [1u32, 8] {
                    points.push(serde_json::json!({
                        "point": index, "protocol": protocol, "f": 1, "uses_f": uses_f, "placement": 1,
                        "sites": sites, "conflict_percent": conflict, "clients_per_region": clients,
                    }));
                    for seed in [1, 2] {
                        let base = 100.0 + conflict + f64::from(clients) + seed as f64;
                        let ratio =
                            if protocol == "tempo" { format!("{}", 1.0 - conflict / 200.0) } else { "0.5".into() };
                        for (i, region) in sites.iter().chain(["all"].iter()).enumerate() {
                            let mean = base + 10.0 * i as f64;
                            runs.push_str(&format!(
                                "{index},1,{conflict},{clients},10,{protocol},1,3,,gcp,{},{seed},on,{region},{clients},10,\
                                 {mean},{},{},{ratio},PASS\n",
                                sites.join(";"),
                                mean * 1.5,
                                mean * 2.0
                            ));
                        }
                        for (q, factor) in [(0.0, 0.9), (0.5, 1.0), (0.99, 1.5), (1.0, 2.0)] {
                            cdf.push_str(&format!(
                                "{index},{protocol},1,1,{conflict},{clients},{seed},40,{q},{}\n",
                                base * factor
                            ));
                        }
                    }
                    index += 1;
                }
            }
        }
        let manifest = serde_json::json!({ "scenario": "sample", "points": points });
        std::fs::write(dir.join("manifest.json"), serde_json::to_vec_pretty(&manifest).unwrap()).unwrap();
        std::fs::write(dir.join("runs.csv"), runs).unwrap();
        std::fs::write(dir.join("latency-cdf.csv"), cdf).unwrap();
    }

    #[test]
    fn loads_points_rows_and_axes() {
        let dir = tempfile::tempdir().unwrap();
        write_sample(dir.path());
        let results = Results::load(dir.path()).unwrap();
        assert_eq!(results.scenario, "sample");
        assert_eq!(results.points.len(), 8);
        assert_eq!(results.runs.len(), 8 * 2 * 4);
        assert_eq!(results.cdf.as_ref().map(Vec::len), Some(8 * 2 * 4));
        let axes = results.axes();
        assert_eq!(axes, Axes { placements: vec![1], conflicts: vec![0.0, 50.0], clients: vec![1, 8] });
        let labels: Vec<String> = results.series().iter().map(Series::label).collect();
        assert_eq!(labels, ["Tempo f=1", "EPaxos"]);
        assert_eq!(results.client_regions(0), ["us-central1", "europe-west1", "asia-east1"]);
        assert_eq!(results.seed_count(), 2);
        // Point 0, region all: means 132 and 133 for seeds 1 and 2.
        assert_eq!(results.mean_over_seeds(0, "all", |r| Some(r.latency_ms_mean)), Some(132.5));
        assert_eq!(results.mean_over_seeds(0, "nowhere", |r| Some(r.latency_ms_mean)), None);
    }

    #[test]
    fn slices_name_only_the_axes_that_vary() {
        let dir = tempfile::tempdir().unwrap();
        write_sample(dir.path());
        let results = Results::load(dir.path()).unwrap();
        let slices = Slice::all(&results, true, true, false);
        assert_eq!(slices.len(), 2);
        let axes = results.axes();
        assert_eq!(slices[1].file_suffix(&axes), "-conflict50");
        assert_eq!(slices[1].caption(&results), "50% conflicts, mean of 2 seeds");
        assert_eq!(results.points.iter().filter(|p| slices[1].contains(p)).count(), 4);
    }

    #[test]
    fn missing_and_malformed_files_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let error = Results::load(dir.path()).unwrap_err();
        assert!(error.0.contains("manifest.json") && error.0.contains("sim --scenario"), "{error}");
        write_sample(dir.path());
        std::fs::write(dir.path().join("runs.csv"), "point,seed\n0,x\n").unwrap();
        let error = Results::load(dir.path()).unwrap_err();
        assert!(error.0.contains("runs.csv:2"), "{error}");
        write_sample(dir.path());
        let manifest = serde_json::json!({ "scenario": "s", "points": [] });
        std::fs::write(dir.path().join("manifest.json"), manifest.to_string()).unwrap();
        let error = Results::load(dir.path()).unwrap_err();
        assert!(error.0.contains("different runs"), "{error}");
    }
}
