//! Fast-path ratio versus conflict rate, a line per protocol and f that
//! has a fast path; one figure per (placement, clients), when the sweep has
//! two or more conflict rates.

use crate::data::{Results, Slice};
use crate::lines::{self, Axis, Line, Panel};
use crate::render::{DrawResult, Figure};
use plotters::coord::Shift;
use plotters::prelude::*;

/// File-name prefix of this kind.
pub(crate) const KIND: &str = "fast-path-vs-conflict";

/// One figure.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct FastPath {
    stem: String,
    title: String,
    panel: Panel,
    /// Series of the slice left out for having no fast path.
    without: Vec<String>,
}

/// One figure per (placement, clients).
pub(crate) fn figures(results: &Results) -> Result<Vec<FastPath>, String> {
    let axes = results.axes();
    if axes.conflicts.len() < 2 {
        return Err(format!("the sweep has one conflict rate ({}%); it needs two or more", axes.conflicts[0]));
    }
    if results.runs.iter().all(|r| r.fast_path_ratio.is_none()) {
        return Err("no protocol of the sweep has a fast path".into());
    }
    let mut figures = Vec::new();
    for slice in Slice::all(results, true, false, true) {
        let mut lines: Vec<Line> = Vec::new();
        let mut without: Vec<String> = Vec::new();
        for point in results.points.iter().filter(|p| slice.contains(p)) {
            // Protocols without a fast path have no ratio: no line.
            let Some(ratio) = results.mean_over_seeds(point.point, "all", |r| r.fast_path_ratio) else {
                let label = point.series().label();
                if !without.contains(&label) {
                    without.push(label);
                }
                continue;
            };
            let at = (point.conflict_percent, ratio * 100.0);
            match lines.iter_mut().find(|l| l.series == point.series()) {
                Some(line) => line.points.push(at),
                None => lines.push(Line::marked(point.series(), vec![at])),
            }
        }
        for line in &mut lines {
            line.points.sort_by(|a, b| a.0.total_cmp(&b.0));
            line.markers = line.points.clone();
        }
        if lines.iter().all(|l| l.points.len() < 2) {
            continue;
        }
        let max_conflict = axes.conflicts.last().copied().unwrap_or(100.0);
        let x = Axis {
            desc: "conflict rate (%)".into(),
            log: false,
            range: (-0.03 * max_conflict, 1.03 * max_conflict),
            ticks: lines::nice_ticks(0.0, max_conflict, 5),
        };
        let y = Axis {
            desc: "fast-path ratio (%)".into(),
            log: false,
            range: (0.0, 104.0),
            ticks: lines::nice_ticks(0.0, 100.0, 5),
        };
        figures.push(FastPath {
            stem: format!("{KIND}{}", slice.file_suffix(&axes)),
            title: format!("Commands committed on the fast path ({})", slice.caption(results)),
            panel: Panel { title: None, x, y, lines },
            without,
        });
    }
    Ok(figures)
}

impl Figure for FastPath {
    fn file_stem(&self) -> String {
        self.stem.clone()
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DrawResult<DB> {
        let note: Vec<String> = if self.without.is_empty() {
            Vec::new()
        } else {
            std::iter::once("No fast path:".to_string()).chain(self.without.iter().cloned()).collect()
        };
        lines::draw(root, &self.title, std::slice::from_ref(&self.panel), &note)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::tests::write_sample;

    #[test]
    fn ratios_in_percent_over_conflict_rates() {
        let dir = tempfile::tempdir().unwrap();
        write_sample(dir.path());
        let results = Results::load(dir.path()).unwrap();
        let figures = figures(&results).unwrap();
        assert_eq!(figures.len(), 2);
        assert_eq!(figures[0].stem, "fast-path-vs-conflict-clients1");
        let tempo = &figures[0].panel.lines[0];
        assert_eq!(tempo.points, [(0.0, 100.0), (50.0, 75.0)]);
        assert!(figures[0].without.is_empty());
    }

    #[test]
    fn skipped_without_fast_paths() {
        let dir = tempfile::tempdir().unwrap();
        write_sample(dir.path());
        let mut results = Results::load(dir.path()).unwrap();
        results.runs.iter_mut().filter(|r| r.point >= 4).for_each(|r| r.fast_path_ratio = None);
        assert_eq!(figures(&results).unwrap()[0].without, ["EPaxos"]);
        results.runs.iter_mut().for_each(|r| r.fast_path_ratio = None);
        assert!(figures(&results).unwrap_err().contains("no protocol"));
    }
}
