//! Line charts shared by the CDF, tail-versus-load, fast-path and
//! sites figures: one or more panels side by side, one line per series,
//! the legend at the right. A log axis is drawn as log10 of the values on a
//! linear axis, with ticks labelled in the values' own units.

use crate::data::Series;
use crate::legend::{self, Swatch};
use crate::render::{self, DrawResult};
use crate::style::{self, LEGEND_WIDTH, SIZE};
use plotters::coord::Shift;
use plotters::coord::ranged1d::{DefaultFormatting, KeyPointHint, Ranged};
use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;
use std::ops::Range;

/// A linear f64 axis with ticks exactly where given. (plotters'
/// `with_key_points` loses the label formatting a mesh needs for f64.)
pub(crate) struct Ticked {
    inner: RangedCoordf64,
    ticks: Vec<f64>,
}

impl Ticked {
    /// The axis over `range` with `ticks`.
    pub(crate) fn new(range: Range<f64>, ticks: Vec<f64>) -> Ticked {
        Ticked { inner: range.into(), ticks }
    }
}

impl Ranged for Ticked {
    type FormatOption = DefaultFormatting;
    type ValueType = f64;

    fn map(&self, value: &f64, limit: (i32, i32)) -> i32 {
        self.inner.map(value, limit)
    }

    fn key_points<Hint: KeyPointHint>(&self, hint: Hint) -> Vec<f64> {
        // Grid lines at the ticks only: no light lines between them.
        if hint.weight().allow_light_points() { Vec::new() } else { self.ticks.clone() }
    }

    fn range(&self) -> Range<f64> {
        self.inner.range()
    }
}

/// One axis: its description (with unit), scale, range and ticks, in the
/// data's units.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Axis {
    /// Description with unit, e.g. `latency (ms, log scale)`.
    pub desc: String,
    /// Log scale.
    pub log: bool,
    /// Range shown.
    pub range: (f64, f64),
    /// Tick positions.
    pub ticks: Vec<f64>,
}

impl Axis {
    /// A linear axis from `min` to a little above `max`, with round ticks.
    pub(crate) fn linear(desc: impl Into<String>, min: f64, max: f64) -> Axis {
        let top = min + (max - min).max(1e-9) * 1.08;
        Axis { desc: desc.into(), log: false, range: (min, top), ticks: nice_ticks(min, top, 8) }
    }

    /// A log axis around `min` to `max` with 1-2-5 ticks (finer when the
    /// range is narrow).
    pub(crate) fn log(desc: impl Into<String>, min: f64, max: f64) -> Axis {
        let (lo, hi) = (min / 1.15, max * 1.15);
        Axis { desc: desc.into(), log: true, range: (lo, hi), ticks: log_ticks(lo, hi) }
    }

    /// A log axis whose ticks are the given values (a sweep's values),
    /// with room around them.
    pub(crate) fn log_at(desc: impl Into<String>, values: &[f64]) -> Axis {
        let min = values.iter().copied().fold(f64::INFINITY, f64::min);
        let max = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        Axis { desc: desc.into(), log: true, range: (min / 1.4, max * 1.4), ticks: values.to_vec() }
    }

    /// A linear axis whose ticks are the given values, with room around
    /// them.
    pub(crate) fn linear_at(desc: impl Into<String>, values: &[f64]) -> Axis {
        let min = values.iter().copied().fold(f64::INFINITY, f64::min);
        let max = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let pad = ((max - min) * 0.05).max(0.5);
        Axis { desc: desc.into(), log: false, range: (min - pad, max + pad), ticks: values.to_vec() }
    }

    fn to_axis(&self, value: f64) -> f64 {
        if self.log { value.log10() } else { value }
    }

    fn value_at(&self, value: f64) -> f64 {
        if self.log { 10f64.powf(value) } else { value }
    }
}

/// One series' line: its points, and which of them get a marker.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Line {
    /// Protocol and f.
    pub series: Series,
    /// Points in data units, in x order.
    pub points: Vec<(f64, f64)>,
    /// Points that get a marker.
    pub markers: Vec<(f64, f64)>,
}

impl Line {
    /// A line with a marker on every point.
    pub(crate) fn marked(series: Series, points: Vec<(f64, f64)>) -> Line {
        Line { series, markers: points.clone(), points }
    }
}

/// One chart.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Panel {
    /// Small title above the chart (for several panels).
    pub title: Option<String>,
    /// Horizontal axis.
    pub x: Axis,
    /// Vertical axis.
    pub y: Axis,
    /// Lines, in legend order.
    pub lines: Vec<Line>,
}

/// Draws `title`, the panels side by side and one legend for all of them,
/// with `note` under it.
pub(crate) fn draw<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    title: &str,
    panels: &[Panel],
    note: &[String],
) -> DrawResult<DB> {
    let body = render::titled(root, title)?;
    let (charts, legend_area) = body.split_horizontally(SIZE.0 - LEGEND_WIDTH);
    let areas = charts.split_evenly((1, panels.len().max(1)));
    let mut series: Vec<Series> = Vec::new();
    for line in panels.iter().flat_map(|p| &p.lines) {
        if !series.contains(&line.series) {
            series.push(line.series.clone());
        }
    }
    for (panel, area) in panels.iter().zip(&areas) {
        draw_panel(area, panel, &series)?;
    }
    legend::draw(&legend_area, &series, Swatch::Line, 30, note)
}

/// Draws one panel; `series` (legend order) sets each line's width.
fn draw_panel<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, panel: &Panel, series: &[Series]) -> DrawResult<DB> {
    let (x, y) = (&panel.x, &panel.y);
    let x_ticks: Vec<f64> = x.ticks.iter().map(|&v| x.to_axis(v)).collect();
    let y_ticks: Vec<f64> = y.ticks.iter().map(|&v| y.to_axis(v)).collect();
    let x_coord = Ticked::new(x.to_axis(x.range.0)..x.to_axis(x.range.1), x_ticks);
    let y_coord = Ticked::new(y.to_axis(y.range.0)..y.to_axis(y.range.1), y_ticks);
    let mut builder = ChartBuilder::on(area);
    builder.margin(14).margin_right(24).x_label_area_size(64).y_label_area_size(96);
    if let Some(title) = &panel.title {
        builder.caption(title, style::text(style::LABEL_PX));
    }
    let mut chart = builder.build_cartesian_2d(x_coord, y_coord)?;
    let x_label = |v: &f64| style::number(x.value_at(*v));
    let y_label = |v: &f64| style::number(y.value_at(*v));
    chart
        .configure_mesh()
        .x_desc(x.desc.as_str())
        .y_desc(y.desc.as_str())
        .x_label_formatter(&x_label)
        .y_label_formatter(&y_label)
        .label_style(style::text(style::TICK_PX))
        .axis_desc_style(style::text(style::LABEL_PX))
        .bold_line_style(RGBColor(225, 225, 225))
        .light_line_style(TRANSPARENT)
        .axis_style(BLACK.stroke_width(1))
        .draw()?;
    for line in &panel.lines {
        let style = style::series_style(&line.series);
        let index = series.iter().position(|s| *s == line.series).unwrap_or(0);
        let (stroke_px, marker_px) = style::emphasis(index, series.len());
        let points: Vec<(f64, f64)> = line.points.iter().map(|&(px, py)| (x.to_axis(px), y.to_axis(py))).collect();
        let stroke = style.color.stroke_width(stroke_px);
        if style.dashed {
            chart.draw_series(DashedLineSeries::new(points, 12, 7, stroke))?;
        } else {
            chart.draw_series(LineSeries::new(points, stroke))?;
        }
        for &(px, py) in &line.markers {
            style::draw_marker(
                chart.plotting_area(),
                (x.to_axis(px), y.to_axis(py)),
                style.marker,
                marker_px,
                style.color,
            )?;
        }
    }
    Ok(())
}

/// Round tick positions from `lo` to `hi`, about `count` of them: steps
/// of 1, 2, 2.5 or 5 times a power of ten.
pub(crate) fn nice_ticks(lo: f64, hi: f64, count: usize) -> Vec<f64> {
    let span = (hi - lo).max(1e-12);
    let raw = span / count.max(1) as f64;
    let magnitude = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 2.5, 5.0, 10.0].iter().map(|m| m * magnitude).find(|&s| s >= raw).unwrap_or(10.0 * magnitude);
    let first = (lo / step).ceil() as i64;
    let last = (hi / step + 1e-9).floor() as i64;
    (first..=last).map(|i| i as f64 * step).collect()
}

/// Log-axis ticks from `lo` to `hi`: 1, 2, 5 times powers of ten, or a
/// finer set when that gives fewer than four.
pub(crate) fn log_ticks(lo: f64, hi: f64) -> Vec<f64> {
    let (lo, hi) = (lo.max(1e-12), hi.max(lo.max(1e-12)));
    let within = |mantissas: &[f64]| -> Vec<f64> {
        let mut ticks = Vec::new();
        let mut exponent = lo.log10().floor() as i32;
        while 10f64.powi(exponent) <= hi {
            for m in mantissas {
                let tick = m * 10f64.powi(exponent);
                if tick >= lo * (1.0 - 1e-9) && tick <= hi * (1.0 + 1e-9) {
                    ticks.push(tick);
                }
            }
            exponent += 1;
        }
        ticks
    };
    for mantissas in [
        &[1.0, 2.0, 5.0][..],
        &[1.0, 1.5, 2.0, 3.0, 5.0, 7.0],
        &[1.0, 1.2, 1.5, 2.0, 2.5, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0],
    ] {
        let ticks = within(mantissas);
        if ticks.len() >= 4 {
            return ticks;
        }
    }
    within(&[1.0, 1.1, 1.2, 1.3, 1.4, 1.5, 1.6, 1.7, 1.8, 1.9, 2.0, 2.5, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nice_ticks_are_round_and_cover_the_range() {
        assert_eq!(nice_ticks(0.0, 100.0, 5), [0.0, 20.0, 40.0, 60.0, 80.0, 100.0]);
        assert_eq!(nice_ticks(0.0, 1.0, 4), [0.0, 0.25, 0.5, 0.75, 1.0]);
        assert_eq!(nice_ticks(0.0, 330.0, 6), [0.0, 100.0, 200.0, 300.0]);
    }

    #[test]
    fn linear_axes_reach_above_their_data() {
        let axis = Axis::linear("latency (ms)", 0.0, 233.0);
        assert_eq!(axis.range.0, 0.0);
        assert!(axis.range.1 >= 233.0 * 1.05, "{:?}", axis.range);
        assert!(axis.ticks.iter().all(|&t| t <= axis.range.1));
    }

    #[test]
    fn log_ticks_get_finer_on_narrow_ranges() {
        assert_eq!(log_ticks(80.0, 2_500.0), [100.0, 200.0, 500.0, 1_000.0, 2_000.0]);
        assert_eq!(log_ticks(90.0, 320.0), [100.0, 150.0, 200.0, 300.0]);
        assert!(log_ticks(100.0, 110.0).len() >= 2);
    }
}
