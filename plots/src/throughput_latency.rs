//! Throughput versus latency: mean (left) and p99 (right) latency against
//! throughput, from `summary.csv` (means over seeds), a curve per protocol
//! and f across the sweep's client counts (in client order, so a curve
//! that bends back shows throughput falling as load grows); one figure per
//! (placement, conflict rate), when the sweep has two or more client
//! counts.

use crate::data::{Results, Series, Slice, SummaryRow};
use crate::lines::{self, Axis, Line, Panel};
use crate::render::{DrawResult, Figure};
use plotters::coord::Shift;
use plotters::prelude::*;

/// File-name prefix of this kind.
pub(crate) const KIND: &str = "throughput-vs-latency";

/// One figure: two panels.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct ThroughputLatency {
    stem: String,
    title: String,
    panels: [Panel; 2],
}

/// One figure per (placement, conflict rate).
pub(crate) fn figures(results: &Results) -> Result<Vec<ThroughputLatency>, String> {
    let axes = results.axes();
    let mut loads: Vec<u64> = results.points.iter().map(|p| p.load()).collect();
    loads.sort_unstable();
    loads.dedup();
    if loads.len() < 2 {
        return Err(format!(
            "the sweep has one load level ({} clients or arrivals/s per region); it needs two or more",
            loads.first().copied().unwrap_or(0)
        ));
    }
    let Some(summary) = &results.summary else {
        return Err("no summary.csv".into());
    };
    let mut figures = Vec::new();
    for slice in Slice::all(results, true, true, false) {
        let metric = |pick: fn(&SummaryRow) -> f64| -> Vec<Line> {
            // Per series: (load, throughput, latency), sorted by load below.
            type Curve = (Series, Vec<(u64, f64, f64)>);
            let mut curves: Vec<Curve> = Vec::new();
            for point in results.points.iter().filter(|p| slice.contains(p)) {
                let Some(row) = summary.iter().find(|r| r.point == point.point) else { continue };
                let at = (point.load(), row.throughput_ops_per_s, pick(row));
                match curves.iter_mut().find(|(s, _)| *s == point.series()) {
                    Some((_, points)) => points.push(at),
                    None => curves.push((point.series(), vec![at])),
                }
            }
            curves
                .into_iter()
                .map(|(series, mut points)| {
                    points.sort_by_key(|p| p.0);
                    Line::marked(series, points.iter().map(|&(_, x, y)| (x, y)).collect())
                })
                .collect()
        };
        let means = metric(|r| r.latency_ms_mean);
        let p99 = metric(|r| r.latency_ms_p99);
        if means.iter().all(|l| l.points.len() < 2) {
            continue;
        }
        let max_x = means.iter().flat_map(|l| l.points.iter().map(|p| p.0)).fold(0.0, f64::max);
        let panel = |title: &str, desc: &str, lines: Vec<Line>| Panel {
            title: Some(title.into()),
            x: Axis::linear("throughput (ops/s)", 0.0, max_x),
            y: Axis::linear(desc, 0.0, lines.iter().flat_map(|l| l.points.iter().map(|p| p.1)).fold(0.0, f64::max)),
            lines,
        };
        figures.push(ThroughputLatency {
            stem: format!("{KIND}{}", slice.file_suffix(&axes)),
            title: format!("Throughput versus latency ({})", slice.caption(results)),
            panels: [panel("mean", "mean latency (ms)", means), panel("p99", "p99 latency (ms)", p99)],
        });
    }
    Ok(figures)
}

impl Figure for ThroughputLatency {
    fn file_stem(&self) -> String {
        self.stem.clone()
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DrawResult<DB> {
        let note = ["a marker per load level (clients or".to_string(), "arrival rate): more to the right".to_string()];
        lines::draw(root, &self.title, &self.panels, &note)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::data::tests::write_sample;

    /// Adds a `summary.csv` to the sample: throughput 10 x clients x
    /// (point + 1), mean latency 100 + point, p99 twice that.
    pub(crate) fn write_summary(dir: &std::path::Path, results: &Results) {
        let mut csv = String::from("point,protocol,latency_ms_mean,latency_ms_p99,throughput_ops_per_s\n");
        for p in &results.points {
            let throughput = 10.0 * f64::from(p.clients_per_region) * (p.point + 1) as f64;
            let mean = 100.0 + p.point as f64;
            csv.push_str(&format!("{},{},{mean},{},{throughput}\n", p.point, p.protocol, 2.0 * mean));
        }
        std::fs::write(dir.join("summary.csv"), csv).unwrap();
    }

    #[test]
    fn a_curve_per_series_in_client_order() {
        let dir = tempfile::tempdir().unwrap();
        write_sample(dir.path());
        write_summary(dir.path(), &Results::load(dir.path()).unwrap());
        let results = Results::load(dir.path()).unwrap();
        let figures = figures(&results).unwrap();
        assert_eq!(figures.len(), 2);
        assert_eq!(figures[1].stem, "throughput-vs-latency-conflict50");
        let tempo = &figures[0].panels[0].lines[0];
        assert_eq!(tempo.series.label(), "Tempo f=1");
        // Points 0 (1 client) and 1 (8 clients) of Tempo at conflict 0.
        assert_eq!(tempo.points, [(10.0, 100.0), (160.0, 101.0)]);
        assert_eq!(figures[0].panels[1].lines[0].points, [(10.0, 200.0), (160.0, 202.0)]);
        assert_eq!(figures[0].panels[0].x.desc, "throughput (ops/s)");
    }

    #[test]
    fn skipped_with_one_client_count_or_without_a_summary() {
        let dir = tempfile::tempdir().unwrap();
        write_sample(dir.path());
        let mut results = Results::load(dir.path()).unwrap();
        assert!(figures(&results).unwrap_err().contains("no summary.csv"));
        results.points.retain(|p| p.clients_per_region == 1);
        assert!(figures(&results).unwrap_err().contains("one load level"));
    }

    #[test]
    fn open_loop_points_are_ordered_by_arrival_rate() {
        let dir = tempfile::tempdir().unwrap();
        write_sample(dir.path());
        write_summary(dir.path(), &Results::load(dir.path()).unwrap());
        let mut results = Results::load(dir.path()).unwrap();
        // The same connections everywhere; the rates run against point order.
        for p in &mut results.points {
            p.arrival_rate_per_region = Some(1_000 - p.point as u64);
            p.clients_per_region = 1;
        }
        let tempo = &figures(&results).unwrap()[0].panels[0].lines[0];
        assert_eq!(tempo.points, [(160.0, 101.0), (10.0, 100.0)], "lowest rate (point 1) first");
    }
}
