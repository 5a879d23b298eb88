//! Tail latency versus load: p99 (left) and p99.9 (right) of all clients
//! against clients per region (log scale), a line per protocol and f; one
//! figure per (placement, conflict rate), when the sweep has two or more
//! client counts.

use crate::data::{Results, RunRow, Slice};
use crate::lines::{self, Axis, Line, Panel};
use crate::render::{DrawResult, Figure};
use plotters::coord::Shift;
use plotters::prelude::*;

/// File-name prefix of this kind.
pub(crate) const KIND: &str = "tail-vs-clients";

/// One figure: two panels.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct TailVsClients {
    stem: String,
    title: String,
    panels: [Panel; 2],
}

/// One figure per (placement, conflict rate).
pub(crate) fn figures(results: &Results) -> Result<Vec<TailVsClients>, String> {
    let axes = results.axes();
    if axes.clients.len() < 2 {
        return Err(format!("the sweep has one client count ({} per region); it needs two or more", axes.clients[0]));
    }
    let mut figures = Vec::new();
    for slice in Slice::all(results, true, true, false) {
        let metric = |pick: fn(&RunRow) -> f64| -> Vec<Line> {
            let mut lines: Vec<Line> = Vec::new();
            for point in results.points.iter().filter(|p| slice.contains(p)) {
                let Some(value) = results.mean_over_seeds(point.point, "all", |r| Some(pick(r))) else { continue };
                let at = (f64::from(point.clients_per_region), value);
                match lines.iter_mut().find(|l| l.series == point.series()) {
                    Some(line) => line.points.push(at),
                    None => lines.push(Line::marked(point.series(), vec![at])),
                }
            }
            for line in &mut lines {
                line.points.sort_by(|a, b| a.0.total_cmp(&b.0));
                line.markers = line.points.clone();
            }
            lines
        };
        let p99 = metric(|r| r.latency_ms_p99);
        let p99_9 = metric(|r| r.latency_ms_p99_9);
        if p99.iter().all(|l| l.points.len() < 2) {
            continue;
        }
        let clients: Vec<f64> = lines_x(&p99);
        // Each panel its own scale: p99.9 can be several times p99.
        let panel = |title: &str, desc: &str, lines: Vec<Line>| Panel {
            title: Some(title.into()),
            x: Axis::log_at("clients per region (log scale)", &clients),
            y: Axis::linear(desc, 0.0, lines.iter().flat_map(|l| l.points.iter().map(|p| p.1)).fold(0.0, f64::max)),
            lines,
        };
        figures.push(TailVsClients {
            stem: format!("{KIND}{}", slice.file_suffix(&axes)),
            title: format!("Tail latency versus load ({})", slice.caption(results)),
            panels: [panel("p99", "p99 latency (ms)", p99), panel("p99.9", "p99.9 latency (ms)", p99_9)],
        });
    }
    Ok(figures)
}

/// The distinct x values of `lines`, sorted.
fn lines_x(lines: &[Line]) -> Vec<f64> {
    let mut xs: Vec<f64> = lines.iter().flat_map(|l| l.points.iter().map(|p| p.0)).collect();
    xs.sort_by(f64::total_cmp);
    xs.dedup();
    xs
}

impl Figure for TailVsClients {
    fn file_stem(&self) -> String {
        self.stem.clone()
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DrawResult<DB> {
        lines::draw(root, &self.title, &self.panels, &[])
    }
}

/// Series of a figure, for tests.
#[cfg(test)]
fn series(figure: &TailVsClients) -> Vec<crate::data::Series> {
    figure.panels[0].lines.iter().map(|l| l.series.clone()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::tests::write_sample;

    #[test]
    fn a_line_per_series_over_client_counts() {
        let dir = tempfile::tempdir().unwrap();
        write_sample(dir.path());
        let results = Results::load(dir.path()).unwrap();
        let figures = figures(&results).unwrap();
        assert_eq!(figures.len(), 2);
        assert_eq!(figures[1].stem, "tail-vs-clients-conflict50");
        assert_eq!(series(&figures[0]).len(), 2);
        let tempo = &figures[0].panels[0].lines[0];
        // Conflict 0, all row (region index 3): mean (base + 30) * 1.5 with
        // base 101.5 + clients on average.
        assert_eq!(tempo.points, [(1.0, 132.5 * 1.5), (8.0, 139.5 * 1.5)]);
        assert_eq!(figures[0].panels[0].x.ticks, [1.0, 8.0]);
    }

    #[test]
    fn skipped_with_one_client_count() {
        let dir = tempfile::tempdir().unwrap();
        write_sample(dir.path());
        let mut results = Results::load(dir.path()).unwrap();
        results.points.retain(|p| p.clients_per_region == 1);
        assert!(figures(&results).unwrap_err().contains("one client count"));
    }
}
