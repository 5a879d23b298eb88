//! The measured round-trip times between a placement's sites (mean of the
//! pings, from the matrix the run used), as a heat map with the value in
//! each cell; one figure per placement.

use crate::data::Results;
use crate::lines::Ticked;
use crate::region_labels;
use crate::render::{self, DrawResult, Figure};
use crate::style::{self, SIZE};
use latency_data::Matrix;
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use std::path::Path;

/// File-name prefix of this kind.
pub(crate) const KIND: &str = "rtt-heatmap";

/// One heat map.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct RttHeatmap {
    stem: String,
    title: String,
    sites: Vec<String>,
    /// `rtt_ms[from][to]`, mean RTT measured from `from` to `to`.
    rtt_ms: Vec<Vec<f64>>,
}

/// One figure per placement whose matrix can be loaded.
pub(crate) fn figures(results: &Results) -> Result<Vec<RttHeatmap>, String> {
    let axes = results.axes();
    let mut figures = Vec::new();
    let mut problems = Vec::new();
    for &placement in &axes.placements {
        let sites = results.sites(placement).to_vec();
        let point = results.points.iter().find(|p| p.placement == placement).map(|p| p.point);
        let Some(cloud) = results.runs.iter().find(|r| Some(r.point) == point).map(|r| r.cloud.clone()) else {
            continue;
        };
        let matrix = match load_matrix(&cloud) {
            Ok(matrix) => matrix,
            Err(problem) => {
                problems.push(problem);
                continue;
            }
        };
        let indices: Result<Vec<usize>, _> = sites.iter().map(|s| matrix.region_index(s)).collect();
        let indices = match indices {
            Ok(indices) => indices,
            Err(e) => {
                problems.push(format!("placement #{placement}: {e}"));
                continue;
            }
        };
        let rtt_ms = indices
            .iter()
            .map(|&from| indices.iter().map(|&to| matrix.rtt(from, to).avg_ns as f64 / 1e6).collect())
            .collect();
        let suffix = if axes.placements.len() > 1 { format!("-placement{placement}") } else { String::new() };
        let which = if axes.placements.len() > 1 { format!("placement #{placement}, ") } else { String::new() };
        figures.push(RttHeatmap {
            stem: format!("{KIND}{suffix}"),
            title: format!("Measured round-trip time between the sites ({which}{cloud}; ms, mean of pings)"),
            sites,
            rtt_ms,
        });
    }
    if figures.is_empty() && !problems.is_empty() {
        return Err(problems.join("; "));
    }
    Ok(figures)
}

/// A built-in matrix by name, else the file the run loaded it from.
fn load_matrix(cloud: &str) -> Result<Matrix, String> {
    if Matrix::BUILTIN.contains(&cloud) {
        return Matrix::builtin(cloud).map_err(|e| e.to_string());
    }
    let path = Path::new(cloud);
    if !path.is_file() {
        return Err(format!("the matrix file {cloud} the run used is not there any more"));
    }
    Matrix::from_file(path).map_err(|e| e.to_string())
}

/// Cell colour for `fraction` of the largest RTT: ColorBrewer's "Blues"
/// ramp, near white to dark blue, interpolated between its stops.
fn shade(fraction: f64) -> RGBColor {
    const STOPS: [(f64, f64, f64); 5] =
        [(247.0, 251.0, 255.0), (198.0, 219.0, 239.0), (107.0, 174.0, 214.0), (33.0, 113.0, 181.0), (8.0, 48.0, 107.0)];
    let position = fraction.clamp(0.0, 1.0) * (STOPS.len() - 1) as f64;
    let index = (position.floor() as usize).min(STOPS.len() - 2);
    let t = position - index as f64;
    let (a, b) = (STOPS[index], STOPS[index + 1]);
    let mix = |x: f64, y: f64| (x + (y - x) * t).round() as u8;
    RGBColor(mix(a.0, b.0), mix(a.1, b.1), mix(a.2, b.2))
}

/// A cell's text: whole milliseconds, or one or two decimals below 10 ms.
fn cell_text(ms: f64) -> String {
    if ms >= 10.0 {
        format!("{ms:.0}")
    } else if ms >= 1.0 {
        format!("{ms:.1}")
    } else {
        format!("{ms:.2}")
    }
}

impl Figure for RttHeatmap {
    fn file_stem(&self) -> String {
        self.stem.clone()
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DrawResult<DB> {
        let body = render::titled(root, &self.title)?;
        // Square cells: the grid is as wide as it is tall, centred; the
        // names at the left get the room the longest needs.
        let longest = self.sites.iter().map(|s| s.chars().count()).max().unwrap_or(0) as u32;
        let y_labels = (longest * style::TICK_PX * 6 / 10 + 60).clamp(120, 320);
        let (_, height) = body.dim_in_pixel();
        let n = self.sites.len();
        let spacing = height.saturating_sub(region_labels::area_px(false) + 30) / n.max(1) as u32;
        let staggered = region_labels::stagger(&self.sites, spacing);
        let x_labels = region_labels::area_px(staggered);
        let grid = height.saturating_sub(x_labels + 30);
        let width = y_labels + grid + 30;
        let left = SIZE.0.saturating_sub(width) / 2;
        let (_, rest) = body.split_horizontally(left);
        let (area, _) = rest.split_horizontally(width);
        let rows: Vec<f64> = (0..n).map(|i| i as f64 + 0.5).collect();
        let mut chart = ChartBuilder::on(&area)
            .margin(15)
            .x_label_area_size(x_labels)
            .y_label_area_size(y_labels)
            .build_cartesian_2d(Ticked::new(0.0..n as f64, Vec::new()), Ticked::new(0.0..n as f64, rows))?;
        // Row 0 (the first site) at the top.
        let site_at =
            |v: f64| n.checked_sub(1 + v.floor() as usize).and_then(|i| self.sites.get(i)).cloned().unwrap_or_default();
        chart
            .configure_mesh()
            .disable_mesh()
            .x_desc("to")
            .y_desc("from")
            .y_label_formatter(&|v| site_at(*v))
            .label_style(style::text(style::TICK_PX))
            .axis_desc_style(style::text(style::LABEL_PX))
            .axis_style(BLACK.stroke_width(1))
            .draw()?;
        let max = self.rtt_ms.iter().flatten().copied().fold(0.0, f64::max).max(1e-9);
        for (from, row) in self.rtt_ms.iter().enumerate() {
            let y = (n - 1 - from) as f64;
            for (to, &ms) in row.iter().enumerate() {
                let x = to as f64;
                let fraction = ms / max;
                chart.draw_series([Rectangle::new([(x, y), (x + 1.0, y + 1.0)], shade(fraction).filled())])?;
                chart.draw_series([Rectangle::new([(x, y), (x + 1.0, y + 1.0)], WHITE.stroke_width(2))])?;
                let ink = if fraction > 0.6 { WHITE } else { BLACK };
                let text = style::text(style::TICK_PX).color(&ink).pos(Pos::new(HPos::Center, VPos::Center));
                chart.draw_series([Text::new(cell_text(ms), (x + 0.5, y + 0.5), text)])?;
            }
        }
        let labels: Vec<(String, (i32, i32))> = self
            .sites
            .iter()
            .enumerate()
            .map(|(i, site)| {
                let (x, y) = chart.backend_coord(&(i as f64 + 0.5, 0.0));
                (site.clone(), (x, y + 8))
            })
            .collect();
        region_labels::draw(root, &labels, staggered)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::tests::write_sample;

    #[test]
    fn one_heatmap_of_the_measured_matrix() {
        let dir = tempfile::tempdir().unwrap();
        write_sample(dir.path());
        let results = Results::load(dir.path()).unwrap();
        let figures = figures(&results).unwrap();
        assert_eq!(figures.len(), 1);
        assert_eq!(figures[0].stem, "rtt-heatmap");
        let gcp = Matrix::builtin("gcp").unwrap();
        let (a, b) = (gcp.region_index("us-central1").unwrap(), gcp.region_index("asia-east1").unwrap());
        assert_eq!(figures[0].rtt_ms[0][2], gcp.rtt(a, b).avg_ns as f64 / 1e6);
        assert!(figures[0].rtt_ms[0][0] < 1.0);
    }

    #[test]
    fn a_missing_matrix_file_is_a_reason_to_skip() {
        let dir = tempfile::tempdir().unwrap();
        write_sample(dir.path());
        let mut results = Results::load(dir.path()).unwrap();
        results.runs.iter_mut().for_each(|r| r.cloud = "/nowhere/my.csv".into());
        assert!(figures(&results).unwrap_err().contains("not there any more"));
    }

    #[test]
    fn shades_and_cell_text() {
        assert_eq!(shade(0.0), RGBColor(247, 251, 255));
        assert_eq!(shade(1.0), RGBColor(8, 48, 107));
        assert_eq!(shade(0.5), RGBColor(107, 174, 214));
        assert_eq!((cell_text(143.4), cell_text(5.26), cell_text(0.456)), ("143".into(), "5.3".into(), "0.46".into()));
    }
}
