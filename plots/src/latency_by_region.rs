//! Mean latency per client region: a group of bars per region, a bar per
//! protocol and f; one figure per (placement, conflict rate, clients).

use crate::data::{Results, Series, Slice};
use crate::legend::{self, Swatch};
use crate::lines::{Axis, Ticked};
use crate::region_labels;
use crate::render::{self, DrawResult, Figure};
use crate::style::{self, LEGEND_WIDTH, SIZE};
use plotters::coord::Shift;
use plotters::prelude::*;

/// File-name prefix of this kind.
pub(crate) const KIND: &str = "latency-by-region";

/// One bar chart: a group of bars per region (or process), a bar per
/// series. The CPU utilisation figure draws with it too.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct RegionBars {
    pub(crate) stem: String,
    pub(crate) title: String,
    /// Describes the groups, e.g. `client region`.
    pub(crate) x_desc: String,
    /// Describes the values with their unit, e.g. `mean latency (ms)`.
    pub(crate) y_desc: String,
    /// Top of the value axis if fixed (100 for percentages); else a
    /// little above the largest value.
    pub(crate) y_top: Option<f64>,
    /// Group labels.
    pub(crate) regions: Vec<String>,
    /// Per series, the value in each group (`None`: no value).
    pub(crate) bars: Vec<(Series, Vec<Option<f64>>)>,
}

/// One figure per slice of the sweep.
pub(crate) fn figures(results: &Results) -> Result<Vec<RegionBars>, String> {
    let axes = results.axes();
    let mut figures = Vec::new();
    for slice in Slice::all(results, true, true, true) {
        let points: Vec<_> = results.points.iter().filter(|p| slice.contains(p)).collect();
        let mut regions: Vec<String> = Vec::new();
        for point in &points {
            for region in results.client_regions(point.point) {
                if !regions.contains(&region) {
                    regions.push(region);
                }
            }
        }
        let bars: Vec<(Series, Vec<Option<f64>>)> = points
            .iter()
            .map(|p| {
                let values = regions
                    .iter()
                    .map(|r| results.mean_over_seeds(p.point, r, |row| Some(row.latency_ms_mean)))
                    .collect();
                (p.series(), values)
            })
            .collect();
        if regions.is_empty() || bars.iter().all(|(_, v)| v.iter().all(Option::is_none)) {
            continue;
        }
        figures.push(RegionBars {
            stem: format!("{KIND}{}", slice.file_suffix(&axes)),
            title: format!("Mean latency per client region ({})", slice.caption(results)),
            x_desc: "client region".into(),
            y_desc: "mean latency (ms)".into(),
            y_top: None,
            regions,
            bars,
        });
    }
    Ok(figures)
}

impl Figure for RegionBars {
    fn file_stem(&self) -> String {
        self.stem.clone()
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DrawResult<DB> {
        let body = render::titled(root, &self.title)?;
        let (chart_area, legend_area) = body.split_horizontally(SIZE.0 - LEGEND_WIDTH);
        let max = self.bars.iter().flat_map(|(_, v)| v.iter().flatten()).copied().fold(0.0, f64::max);
        let y = match self.y_top {
            Some(top) if top >= max => Axis::linear(self.y_desc.as_str(), 0.0, top / 1.08),
            _ => Axis::linear(self.y_desc.as_str(), 0.0, max),
        };
        let groups = self.regions.len() as f64;
        let plot_px = (SIZE.0 - LEGEND_WIDTH).saturating_sub(96 + 38);
        let staggered = region_labels::stagger(&self.regions, plot_px / self.regions.len().max(1) as u32);
        let mut chart = ChartBuilder::on(&chart_area)
            .margin(14)
            .margin_right(24)
            .x_label_area_size(region_labels::area_px(staggered))
            .y_label_area_size(96)
            .build_cartesian_2d(Ticked::new(0.0..groups, Vec::new()), Ticked::new(y.range.0..y.range.1, y.ticks))?;
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_desc(self.x_desc.as_str())
            .y_desc(y.desc.as_str())
            .y_label_formatter(&|v| style::number(*v))
            .label_style(style::text(style::TICK_PX))
            .axis_desc_style(style::text(style::LABEL_PX))
            .bold_line_style(RGBColor(225, 225, 225))
            .light_line_style(TRANSPARENT)
            .axis_style(BLACK.stroke_width(1))
            .draw()?;
        // Each group fills 80% of its slot, split evenly between the bars.
        let width = 0.8 / self.bars.len().max(1) as f64;
        for (i, (series, values)) in self.bars.iter().enumerate() {
            let style = style::series_style(series);
            for (group, value) in values.iter().enumerate() {
                let Some(value) = *value else { continue };
                let left = group as f64 + 0.1 + i as f64 * width;
                let corners = [(left, 0.0), (left + width, value)];
                chart.draw_series([Rectangle::new(corners, style.bar_fill().filled())])?;
                chart.draw_series([Rectangle::new(corners, style.color.stroke_width(1))])?;
                if value == 0.0 {
                    // A zero bar has no height: say so above the axis, so
                    // "none lost" does not read as "not measured".
                    let label = EmptyElement::at((left + width / 2.0, 0.0))
                        + Text::new("0", (-4, -18), style::text(style::TICK_PX));
                    chart.draw_series([label])?;
                }
            }
        }
        let labels: Vec<(String, (i32, i32))> = self
            .regions
            .iter()
            .enumerate()
            .map(|(i, region)| {
                let (x, y) = chart.backend_coord(&(i as f64 + 0.5, 0.0));
                (region.clone(), (x, y + 8))
            })
            .collect();
        region_labels::draw(root, &labels, staggered)?;
        let series: Vec<Series> = self.bars.iter().map(|(s, _)| s.clone()).collect();
        legend::draw(&legend_area, &series, Swatch::Bar, 30, &[])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::tests::write_sample;

    #[test]
    fn one_figure_per_slice_with_a_bar_per_series_and_region() {
        let dir = tempfile::tempdir().unwrap();
        write_sample(dir.path());
        let results = Results::load(dir.path()).unwrap();
        let figures = figures(&results).unwrap();
        // 2 conflict rates x 2 client counts; one placement, so unnamed.
        assert_eq!(figures.len(), 4);
        assert_eq!(figures[0].stem, "latency-by-region-conflict0-clients1");
        assert_eq!(figures[0].regions.len(), 3);
        let labels: Vec<String> = figures[0].bars.iter().map(|(s, _)| s.label()).collect();
        assert_eq!(labels, ["Tempo f=1", "EPaxos"]);
        // Tempo, conflict 0, 1 client, us-central1: means 102 and 103 over the seeds.
        assert_eq!(figures[0].bars[0].1[0], Some(102.5));
    }
}
