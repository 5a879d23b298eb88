//! Latency versus the number of sites: mean (left) and p99 (right) of all
//! clients, a line per protocol and f; one figure per (conflict rate,
//! clients), when the placements have two or more sizes. Placements of the
//! same size are averaged together.

use crate::data::{Results, RunRow, Slice, mean};
use crate::lines::{self, Axis, Line, Panel};
use crate::render::{DrawResult, Figure};
use plotters::coord::Shift;
use plotters::prelude::*;

/// File-name prefix of this kind.
pub(crate) const KIND: &str = "latency-vs-sites";

/// One figure: two panels.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct LatencyVsSites {
    stem: String,
    title: String,
    panels: [Panel; 2],
}

/// One figure per (conflict rate, clients).
pub(crate) fn figures(results: &Results) -> Result<Vec<LatencyVsSites>, String> {
    let axes = results.axes();
    let mut sizes: Vec<usize> = axes.placements.iter().map(|&p| results.sites(p).len()).collect();
    sizes.sort_unstable();
    sizes.dedup();
    if sizes.len() < 2 {
        return Err(format!("every placement has {} sites; it needs placements of two or more sizes", sizes[0]));
    }
    let mut figures = Vec::new();
    for slice in Slice::all(results, false, true, true) {
        let metric = |pick: fn(&RunRow) -> f64| -> Vec<Line> {
            let mut lines: Vec<Line> = Vec::new();
            let in_slice: Vec<_> = results.points.iter().filter(|p| slice.contains(p)).collect();
            for point in &in_slice {
                let series = point.series();
                if lines.iter().any(|l| l.series == series) {
                    continue;
                }
                let points: Vec<(f64, f64)> = sizes
                    .iter()
                    .filter_map(|&n| {
                        let same = in_slice.iter().filter(|p| p.series() == series && p.sites.len() == n);
                        let value =
                            mean(same.filter_map(|p| results.mean_over_seeds(p.point, "all", |r| Some(pick(r)))))?;
                        Some((n as f64, value))
                    })
                    .collect();
                lines.push(Line::marked(series, points));
            }
            lines
        };
        let means = metric(|r| r.latency_ms_mean);
        let p99 = metric(|r| r.latency_ms_p99);
        if means.iter().all(|l| l.points.len() < 2) {
            continue;
        }
        let max = means.iter().chain(&p99).flat_map(|l| l.points.iter().map(|p| p.1)).fold(0.0, f64::max);
        let xs: Vec<f64> = sizes.iter().map(|&n| n as f64).collect();
        let panel = |title: &str, desc: &str, lines: Vec<Line>| Panel {
            title: Some(title.into()),
            x: Axis::linear_at("number of sites", &xs),
            y: Axis::linear(desc, 0.0, max),
            lines,
        };
        figures.push(LatencyVsSites {
            stem: format!("{KIND}{}", slice.file_suffix(&axes)),
            title: format!("Latency versus number of sites ({})", slice.caption(results)),
            panels: [panel("mean", "mean latency (ms)", means), panel("p99", "p99 latency (ms)", p99)],
        });
    }
    Ok(figures)
}

impl Figure for LatencyVsSites {
    fn file_stem(&self) -> String {
        self.stem.clone()
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DrawResult<DB> {
        lines::draw(root, &self.title, &self.panels, &[])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::tests::write_sample;

    #[test]
    fn skipped_with_one_placement_size() {
        let dir = tempfile::tempdir().unwrap();
        write_sample(dir.path());
        let results = Results::load(dir.path()).unwrap();
        assert!(figures(&results).unwrap_err().contains("every placement has 3 sites"));
    }

    #[test]
    fn a_point_per_placement_size() {
        let dir = tempfile::tempdir().unwrap();
        write_sample(dir.path());
        let mut results = Results::load(dir.path()).unwrap();
        // Make the 8-client points a second placement of 5 sites.
        for point in results.points.iter_mut().filter(|p| p.clients_per_region == 8) {
            point.placement = 2;
            point.clients_per_region = 1;
            point.sites.extend(["us-west1".to_string(), "europe-north1".to_string()]);
        }
        let figures = figures(&results).unwrap();
        assert_eq!(figures.len(), 2);
        assert_eq!(figures[0].stem, "latency-vs-sites-conflict0");
        let tempo = &figures[0].panels[0].lines[0];
        // Means of the all rows: base + 30 with base 100 + clients + 1.5.
        assert_eq!(tempo.points, [(3.0, 132.5), (5.0, 139.5)]);
    }
}
