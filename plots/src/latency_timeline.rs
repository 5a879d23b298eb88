//! Latency through a fault: p50 (top) and p99 (bottom) of each client
//! region per `timeline.csv` window against simulated time, a line per
//! region, each fault of `faults.csv` shaded from its start to its end (a
//! line at its start if it never ends) and labelled with its kind. One
//! figure per point with faults, for the sweep's first seed (seeds differ
//! only in jitter and random faults; one run shows the shape).

use crate::data::{Results, TimelineRow};
use crate::lines::{Axis, Ticked};
use crate::render::{self, DrawResult, Figure};
use crate::style::{self, LEGEND_WIDTH, SIZE};
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

/// File-name prefix of this kind.
pub(crate) const KIND: &str = "latency-timeline";

/// One fault as the schedule names it.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct FaultSpan {
    /// Kind: `crash`, `partition`, `slow`, `loss`, `duplicate`.
    pub kind: String,
    /// What it hits, as the schedule says (`p1`, `p1<->p2,p3`, ...).
    pub detail: String,
    /// Start, seconds.
    pub start_s: f64,
    /// End, seconds; `None`: it lasts to the end of the run.
    pub end_s: Option<f64>,
}

/// Runs of consecutive windows as (seconds, ms), one `Vec` per run.
type Segments = Vec<Vec<(f64, f64)>>;

/// One region's line: segments of consecutive windows with completions
/// (a window without any is a gap), as (seconds, ms). Drawn with a dot
/// per window, so a window alone between empty ones shows.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct RegionLine {
    region: String,
    p50: Segments,
    p99: Segments,
}

/// One figure: one run's timeline.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct LatencyTimeline {
    stem: String,
    title: String,
    end_s: f64,
    regions: Vec<RegionLine>,
    faults: Vec<FaultSpan>,
}

/// One figure per point that has timeline rows, for its first seed.
pub(crate) fn figures(results: &Results) -> Result<Vec<LatencyTimeline>, String> {
    let Some(timeline) = &results.timeline else {
        return Err("no timeline.csv (the sweep has no faults)".into());
    };
    let mut figures = Vec::new();
    for point in &results.points {
        let rows: Vec<&TimelineRow> = timeline.iter().filter(|r| r.point == point.point).collect();
        let Some(seed) = rows.iter().map(|r| r.seed).min() else { continue };
        let rows: Vec<&TimelineRow> = rows.into_iter().filter(|r| r.seed == seed).collect();
        let window_s = window_s(&rows);
        let end_s = rows.iter().map(|r| r.window_start_ms / 1000.0 + window_s).fold(0.0, f64::max);
        let mut regions: Vec<RegionLine> = Vec::new();
        for row in &rows {
            if !regions.iter().any(|l| l.region == row.region) {
                let of_region: Vec<&&TimelineRow> = rows.iter().filter(|r| r.region == row.region).collect();
                regions.push(RegionLine {
                    region: row.region.clone(),
                    p50: segments(&of_region, |r| r.latency_ms_p50),
                    p99: segments(&of_region, |r| r.latency_ms_p99),
                });
            }
        }
        let schedule = results
            .faults
            .iter()
            .flatten()
            .find(|r| r.point == point.point && r.seed == seed)
            .map(|r| r.schedule.as_str())
            .unwrap_or_default();
        let mut faults = parse_schedule(schedule);
        for fault in faults.iter_mut().filter(|f| f.kind == "crash") {
            fault.detail = name_processes(&fault.detail, &point.sites);
        }
        let f = if point.uses_f { format!("-f{}", point.f) } else { String::new() };
        let series = point.series().label();
        let mut fixed = vec![format!("{} clients per region", point.clients_per_region)];
        if results.axes().conflicts.len() > 1 {
            fixed.push(format!("{}% conflicts", point.conflict_percent));
        }
        if results.axes().placements.len() > 1 {
            fixed.push(format!("placement #{}", point.placement));
        }
        figures.push(LatencyTimeline {
            stem: format!("{KIND}-point{}-{}{f}-seed{seed}", point.point, point.protocol),
            title: format!("Latency through faults: {series}, {}, seed {seed}", fixed.join(", ")),
            end_s,
            regions,
            faults,
        });
    }
    Ok(figures)
}

/// The window length, seconds: the smallest step between window starts
/// of one region (0.1 s if there is a single window).
fn window_s(rows: &[&TimelineRow]) -> f64 {
    let step = rows
        .windows(2)
        .filter(|w| w[0].region == w[1].region)
        .map(|w| (w[1].window_start_ms - w[0].window_start_ms) / 1000.0)
        .filter(|&d| d > 0.0)
        .fold(f64::INFINITY, f64::min);
    if step.is_finite() { step } else { 0.1 }
}

/// Runs of consecutive windows with completions, as (window start in s,
/// latency in ms).
fn segments(rows: &[&&TimelineRow], pick: fn(&TimelineRow) -> Option<f64>) -> Segments {
    let mut segments: Segments = Vec::new();
    let mut current: Vec<(f64, f64)> = Vec::new();
    for row in rows {
        match pick(row).filter(|_| row.commands > 0) {
            Some(ms) => current.push((row.window_start_ms / 1000.0, ms)),
            None if !current.is_empty() => segments.push(std::mem::take(&mut current)),
            None => {}
        }
    }
    if !current.is_empty() {
        segments.push(current);
    }
    segments
}

/// The faults of a `faults.csv` schedule (`KIND at S s[ until S s]:
/// DETAIL`, `; `-separated); entries in another form are left out.
pub(crate) fn parse_schedule(schedule: &str) -> Vec<FaultSpan> {
    schedule
        .split("; ")
        .filter_map(|entry| {
            let (head, detail) = entry.split_once(": ").unwrap_or((entry, ""));
            let (kind, times) = head.split_once(" at ")?;
            let seconds = |text: &str| text.trim().strip_suffix(" s")?.trim().parse::<f64>().ok();
            let (start, end) = match times.split_once(" until ") {
                Some((start, end)) => (seconds(start)?, Some(seconds(end)?)),
                None => (seconds(times)?, None),
            };
            Some(FaultSpan { kind: kind.trim().into(), detail: detail.trim().into(), start_s: start, end_s: end })
        })
        .collect()
}

/// `p1,p3` as `p1 (us-central1), p3 (asia-east1)`: a crash's processes
/// with their sites (`p1` is the first site); ids without a site stay.
fn name_processes(ids: &str, sites: &[String]) -> String {
    ids.split(',')
        .map(|id| {
            let site = id
                .trim()
                .strip_prefix('p')
                .and_then(|n| n.parse::<usize>().ok())
                .and_then(|n| sites.get(n.checked_sub(1)?));
            match site {
                Some(site) => format!("{} ({site})", id.trim()),
                None => id.trim().to_string(),
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Colour of region `index`: the Okabe–Ito palette (then again, dashed).
fn region_color(index: usize) -> RGBColor {
    const COLORS: [RGBColor; 7] = [
        RGBColor(0, 114, 178),
        RGBColor(213, 94, 0),
        RGBColor(0, 158, 115),
        RGBColor(204, 121, 167),
        RGBColor(230, 159, 0),
        RGBColor(86, 180, 233),
        RGBColor(40, 40, 40),
    ];
    COLORS[index % COLORS.len()]
}

/// Shade behind fault spans.
const FAULT_SHADE: RGBColor = RGBColor(255, 214, 214);
/// Lines at fault starts and ends.
const FAULT_EDGE: RGBColor = RGBColor(200, 40, 40);

impl Figure for LatencyTimeline {
    fn file_stem(&self) -> String {
        self.stem.clone()
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DrawResult<DB> {
        let body = render::titled(root, &self.title)?;
        let (charts, legend_area) = body.split_horizontally(SIZE.0 - LEGEND_WIDTH);
        let (top, bottom) = charts.split_vertically(charts.dim_in_pixel().1 / 2);
        let x = Axis::linear("time (s, window start)", 0.0, self.end_s.max(0.1));
        self.draw_panel(&top, &x, "p50", |l| &l.p50, false)?;
        self.draw_panel(&bottom, &x, "p99", |l| &l.p99, true)?;
        self.draw_legend(&legend_area)
    }
}

impl LatencyTimeline {
    fn draw_panel<DB: DrawingBackend>(
        &self,
        area: &DrawingArea<DB, Shift>,
        x: &Axis,
        name: &str,
        pick: fn(&RegionLine) -> &Segments,
        x_desc: bool,
    ) -> DrawResult<DB> {
        let max = self.regions.iter().flat_map(|l| pick(l).iter().flatten()).map(|p| p.1).fold(0.0, f64::max);
        let y = Axis::linear(format!("{name} latency (ms)"), 0.0, max.max(1.0));
        let mut chart = ChartBuilder::on(area)
            .margin(10)
            .margin_right(24)
            .x_label_area_size(if x_desc { 60 } else { 34 })
            .y_label_area_size(96)
            .build_cartesian_2d(
                Ticked::new(x.range.0..x.range.1, x.ticks.clone()),
                Ticked::new(y.range.0..y.range.1, y.ticks.clone()),
            )?;
        let mut mesh = chart.configure_mesh();
        if x_desc {
            mesh.x_desc(x.desc.as_str());
        }
        mesh.y_desc(y.desc.as_str())
            .x_label_formatter(&|v| style::number(*v))
            .y_label_formatter(&|v| style::number(*v))
            .label_style(style::text(style::TICK_PX))
            .axis_desc_style(style::text(style::LABEL_PX))
            .bold_line_style(RGBColor(225, 225, 225))
            .light_line_style(TRANSPARENT)
            .axis_style(BLACK.stroke_width(1))
            .draw()?;
        let (x_end, y_top) = (x.range.1, y.range.1);
        for fault in &self.faults {
            let end = fault.end_s.unwrap_or(x_end).min(x_end);
            chart.draw_series([Rectangle::new([(fault.start_s, 0.0), (end, y_top)], FAULT_SHADE.mix(0.6).filled())])?;
            let edges = std::iter::once(fault.start_s).chain(fault.end_s.filter(|&e| e <= x_end));
            for at in edges {
                chart.draw_series([PathElement::new(vec![(at, 0.0), (at, y_top)], FAULT_EDGE.stroke_width(2))])?;
            }
        }
        for (i, line) in self.regions.iter().enumerate() {
            let style = region_color(i).stroke_width(2);
            for segment in pick(line) {
                if i >= 7 {
                    chart.draw_series(DashedLineSeries::new(segment.clone(), 10, 6, style))?;
                } else {
                    chart.draw_series(LineSeries::new(segment.clone(), style))?;
                }
                // A dot per window, so a window alone between empty ones shows.
                chart.draw_series(segment.iter().map(|&at| Circle::new(at, 3, region_color(i).filled())))?;
            }
        }
        // Labels last, over the lines, at the top of each fault's span.
        for (i, fault) in self.faults.iter().enumerate() {
            let label =
                if fault.detail.is_empty() { fault.kind.clone() } else { format!("{} {}", fault.kind, fault.detail) };
            let text = style::text(style::TICK_PX - 2).color(&FAULT_EDGE).pos(Pos::new(HPos::Left, VPos::Top));
            let at = EmptyElement::at((fault.start_s, y_top));
            chart.plotting_area().draw(&(at + Text::new(label, (6, 4 + 22 * i as i32), text)))?;
        }
        Ok(())
    }

    fn draw_legend<DB: DrawingBackend>(&self, area: &DrawingArea<DB, Shift>) -> DrawResult<DB> {
        let (width, _) = area.dim_in_pixel();
        let (left, top, entry) = (8, 30, 30);
        let rows = self.regions.len() as i32 + 1;
        let bottom = top + entry * rows + 8;
        area.draw(&Rectangle::new(
            [(left, top - 8), (width as i32 - 8, bottom)],
            RGBColor(170, 170, 170).stroke_width(1),
        ))?;
        let label = style::text(style::TICK_PX - 2).pos(Pos::new(HPos::Left, VPos::Center));
        for (i, line) in self.regions.iter().enumerate() {
            let y = top + entry * i as i32 + entry / 2;
            let points = vec![(left + 10, y), (left + 50, y)];
            area.draw(&PathElement::new(points, region_color(i).stroke_width(3)))?;
            area.draw(&Text::new(line.region.clone(), (left + 58, y), label.clone()))?;
        }
        let y = top + entry * (rows - 1) + entry / 2;
        area.draw(&Rectangle::new([(left + 10, y - 9), (left + 50, y + 9)], FAULT_SHADE.filled()))?;
        area.draw(&PathElement::new(vec![(left + 10, y - 9), (left + 10, y + 9)], FAULT_EDGE.stroke_width(2)))?;
        area.draw(&Text::new("fault", (left + 58, y), label.clone()))?;
        let note = ["client regions; a dot per", "window, a gap where a", "window had no completion"];
        for (i, line) in note.iter().enumerate() {
            let y = bottom + 14 + 22 * i as i32;
            let text = style::text(style::TICK_PX - 3).pos(Pos::new(HPos::Left, VPos::Top));
            area.draw(&Text::new(line.to_string(), (left + 4, y), text))?;
        }
        Ok(())
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::data::tests::write_sample;

    #[test]
    fn schedules_parse_into_spans() {
        let spans = parse_schedule("crash at 2 s: p1; partition at 3.5 s until 4 s: p2<->p3,p4; nonsense");
        assert_eq!(spans.len(), 2, "{spans:?}");
        assert_eq!(spans[0], FaultSpan { kind: "crash".into(), detail: "p1".into(), start_s: 2.0, end_s: None });
        assert_eq!(spans[1].kind, "partition");
        assert_eq!((spans[1].start_s, spans[1].end_s), (3.5, Some(4.0)));
        assert_eq!(spans[1].detail, "p2<->p3,p4");
        assert!(parse_schedule("").is_empty());
    }

    #[test]
    fn crashed_processes_are_named_with_their_sites() {
        let sites = ["us-central1".to_string(), "asia-east1".to_string()];
        assert_eq!(name_processes("p2", &sites), "p2 (asia-east1)");
        assert_eq!(name_processes("p1,p3", &sites), "p1 (us-central1), p3");
        assert_eq!(name_processes("p0", &sites), "p0");
    }

    /// Adds a timeline (first point only, seeds 1 and 2) and its faults to
    /// the sample folder.
    pub(crate) fn write_timeline(dir: &std::path::Path) {
        let mut timeline = String::from("point,seed,region,window_start_ms,commands,latency_ms_p50,latency_ms_p99\n");
        for seed in [2, 1] {
            for region in ["us-central1", "asia-east1"] {
                for (start, commands) in [(0, 5), (100, 5), (200, 0), (300, 4)] {
                    let (p50, p99) = if commands > 0 {
                        (format!("{}", start + 10), format!("{}", start + 50))
                    } else {
                        // As `sim` writes an empty window.
                        ("0.000000".to_string(), "0.000000".to_string())
                    };
                    timeline.push_str(&format!("0,{seed},{region},{start}.000,{commands},{p50},{p99}\n"));
                }
            }
        }
        std::fs::write(dir.join("timeline.csv"), timeline).unwrap();
        let faults = "point,seed,region,unavailable_ms,schedule\n\
                      0,1,us-central1,100,crash at 0.15 s until 0.25 s: p1\n\
                      0,2,us-central1,100,partition at 0.1 s: p1<->p2\n";
        std::fs::write(dir.join("faults.csv"), faults).unwrap();
    }

    #[test]
    fn one_figure_per_point_with_faults_for_its_first_seed() {
        let dir = tempfile::tempdir().unwrap();
        write_sample(dir.path());
        write_timeline(dir.path());
        let results = Results::load(dir.path()).unwrap();
        let figures = figures(&results).unwrap();
        assert_eq!(figures.len(), 1);
        let figure = &figures[0];
        assert_eq!(figure.stem, "latency-timeline-point0-tempo-f1-seed1");
        assert!(figure.title.contains("Tempo f=1") && figure.title.contains("seed 1"), "{}", figure.title);
        assert_eq!(figure.faults, parse_schedule("crash at 0.15 s until 0.25 s: p1 (us-central1)"));
        assert_eq!(figure.end_s, 0.4);
        let regions: Vec<&str> = figure.regions.iter().map(|l| l.region.as_str()).collect();
        assert_eq!(regions, ["us-central1", "asia-east1"]);
        // The empty window at 200 ms splits the line in two.
        assert_eq!(figure.regions[0].p50, [vec![(0.0, 10.0), (0.1, 110.0)], vec![(0.3, 310.0)]]);
        assert_eq!(figure.regions[0].p99[1], [(0.3, 350.0)]);
    }

    #[test]
    fn skipped_without_a_timeline() {
        let dir = tempfile::tempdir().unwrap();
        write_sample(dir.path());
        let results = Results::load(dir.path()).unwrap();
        assert!(figures(&results).unwrap_err().contains("no timeline.csv"));
    }
}
