//! The legend: a column of its own at the right of a chart, so it never
//! covers data and is never clipped, naming each protocol with its f.

use crate::data::Series;
use crate::render::DrawResult;
use crate::style::{self, SeriesStyle};
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

/// What an entry shows beside its name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Swatch {
    /// A short line with its marker.
    Line,
    /// A filled box.
    Bar,
}

/// Height of one entry in pixels.
const ENTRY_PX: i32 = 34;

/// Draws one entry per series in `area`, from `top` pixels down, then
/// `note` (one line each, smaller) under the box.
pub(crate) fn draw<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    series: &[Series],
    swatch: Swatch,
    top: i32,
    note: &[String],
) -> DrawResult<DB> {
    let (width, _) = area.dim_in_pixel();
    let left = 8;
    let bottom = top + ENTRY_PX * series.len() as i32 + 8;
    area.draw(&Rectangle::new([(left, top - 8), (width as i32 - 8, bottom)], RGBColor(170, 170, 170).stroke_width(1)))?;
    for (i, s) in series.iter().enumerate() {
        let y = top + ENTRY_PX * i as i32 + ENTRY_PX / 2;
        let style = style::series_style(s);
        draw_swatch(area, swatch, &style, (left + 12, y), style::emphasis(i, series.len()))?;
        let label = style::text(style::TICK_PX).pos(Pos::new(HPos::Left, VPos::Center));
        area.draw(&Text::new(s.label(), (left + 70, y), label))?;
    }
    let note_px = style::TICK_PX - 3;
    for (i, line) in note.iter().enumerate() {
        let y = bottom + 14 + i as i32 * (note_px as i32 + 6);
        area.draw(&Text::new(line.clone(), (left + 4, y), style::text(note_px).pos(Pos::new(HPos::Left, VPos::Top))))?;
    }
    Ok(())
}

fn draw_swatch<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    swatch: Swatch,
    style: &SeriesStyle,
    (x, y): (i32, i32),
    (stroke_px, marker_px): (u32, i32),
) -> DrawResult<DB> {
    match swatch {
        Swatch::Line => {
            let stroke = style.color.stroke_width(stroke_px);
            if style.dashed {
                area.draw(&PathElement::new(vec![(x, y), (x + 16, y)], stroke))?;
                area.draw(&PathElement::new(vec![(x + 34, y), (x + 50, y)], stroke))?;
            } else {
                area.draw(&PathElement::new(vec![(x, y), (x + 50, y)], stroke))?;
            }
            style::draw_marker(area, (x + 25, y), style.marker, marker_px, style.color)
        }
        Swatch::Bar => {
            area.draw(&Rectangle::new([(x + 4, y - 10), (x + 46, y + 10)], style.bar_fill().filled()))?;
            area.draw(&Rectangle::new([(x + 4, y - 10), (x + 46, y + 10)], style.color.stroke_width(2)))
        }
    }
}
