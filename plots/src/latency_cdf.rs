//! CDF of all clients' latency, log x, a line per protocol and f; one
//! figure per (placement, conflict rate, clients). Drawn from
//! `latency-cdf.csv` (latency at fixed quantiles); with several seeds, the
//! latency at each quantile is the mean over seeds.

use crate::data::{Results, Slice, mean};
use crate::lines::{self, Axis, Line, Panel};
use crate::render::{DrawResult, Figure};
use plotters::coord::Shift;
use plotters::prelude::*;

/// File-name prefix of this kind.
pub(crate) const KIND: &str = "latency-cdf";

/// Quantiles that get a marker (the line joins every quantile).
const MARKED: [f64; 4] = [0.1, 0.5, 0.9, 0.99];

/// One CDF figure.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct LatencyCdf {
    stem: String,
    title: String,
    panel: Panel,
}

/// One figure per slice of the sweep; skipped without `latency-cdf.csv`.
pub(crate) fn figures(results: &Results) -> Result<Vec<LatencyCdf>, String> {
    let Some(rows) = &results.cdf else {
        return Err("the folder has no latency-cdf.csv (results written before sim wrote it)".into());
    };
    let axes = results.axes();
    let mut figures = Vec::new();
    for slice in Slice::all(results, true, true, true) {
        let mut lines = Vec::new();
        for point in results.points.iter().filter(|p| slice.contains(p)) {
            let mut quantiles: Vec<f64> = rows.iter().filter(|r| r.point == point.point).map(|r| r.quantile).collect();
            quantiles.sort_by(f64::total_cmp);
            quantiles.dedup();
            let points: Vec<(f64, f64)> = quantiles
                .iter()
                .filter_map(|&q| {
                    let latency =
                        mean(rows.iter().filter(|r| r.point == point.point && r.quantile == q).map(|r| r.latency_ms))?;
                    // A log axis has no place for zero.
                    (latency > 0.0).then_some((latency, q))
                })
                .collect();
            if points.is_empty() {
                continue;
            }
            let markers = points.iter().copied().filter(|(_, q)| MARKED.contains(q)).collect();
            lines.push(Line { series: point.series(), points, markers });
        }
        if lines.is_empty() {
            continue;
        }
        let latencies = lines.iter().flat_map(|l| l.points.iter().map(|p| p.0));
        let (min, max) = latencies.fold((f64::INFINITY, 0.0f64), |(lo, hi), v| (lo.min(v), hi.max(v)));
        let y = Axis {
            desc: "fraction of commands".into(),
            log: false,
            range: (0.0, 1.02),
            ticks: lines::nice_ticks(0.0, 1.0, 5),
        };
        figures.push(LatencyCdf {
            stem: format!("{KIND}{}", slice.file_suffix(&axes)),
            title: format!("Latency CDF, all clients ({})", slice.caption(results)),
            panel: Panel { title: None, x: Axis::log("latency (ms, log scale)", min, max), y, lines },
        });
    }
    Ok(figures)
}

impl Figure for LatencyCdf {
    fn file_stem(&self) -> String {
        self.stem.clone()
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DrawResult<DB> {
        lines::draw(root, &self.title, std::slice::from_ref(&self.panel), &[])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::tests::write_sample;

    #[test]
    fn lines_follow_the_quantiles_averaged_over_seeds() {
        let dir = tempfile::tempdir().unwrap();
        write_sample(dir.path());
        let results = Results::load(dir.path()).unwrap();
        let figures = figures(&results).unwrap();
        assert_eq!(figures.len(), 4);
        let tempo = &figures[0].panel.lines[0];
        assert_eq!(tempo.series.label(), "Tempo f=1");
        // Point 0: base latency 102 and 103 for the two seeds; median factor 1.
        assert_eq!(tempo.points[1], (102.5, 0.5));
        assert_eq!(tempo.points.len(), 4);
        assert_eq!(tempo.markers.len(), 2);
        assert!(figures[0].panel.x.log && figures[0].panel.x.range.0 < 102.5 * 0.9);
    }

    #[test]
    fn skipped_without_the_cdf_file() {
        let dir = tempfile::tempdir().unwrap();
        write_sample(dir.path());
        std::fs::remove_file(dir.path().join("latency-cdf.csv")).unwrap();
        let results = Results::load(dir.path()).unwrap();
        assert!(figures(&results).unwrap_err().contains("latency-cdf.csv"));
    }
}
