//! Region names under a horizontal axis, on two lines (split at the first
//! `-`: `southamerica` over `east1`), so five or more long names fit side
//! by side without overlapping.

use crate::render::DrawResult;
use crate::style;
use crate::text;
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

/// The two lines of `name`: before and after its first `-` (one line if it
/// has none).
pub(crate) fn two_lines(name: &str) -> (&str, &str) {
    name.split_once('-').unwrap_or((name, ""))
}

/// Height of one line of a label.
const LINE_PX: u32 = style::TICK_PX + 4;

/// Whether names `spacing_px` apart need staggering (every other one two
/// lines lower) not to touch: a line wider than the spacing, less a gap.
pub(crate) fn stagger(names: &[String], spacing_px: u32) -> bool {
    let lines = names.iter().map(|n| two_lines(n)).flat_map(|(a, b)| [a, b]);
    let widest = lines.map(|line| text::width_px(line, style::TICK_PX)).fold(0.0, f32::max);
    widest + 12.0 > spacing_px as f32
}

/// Room the labels need below the axis, axis description included.
pub(crate) fn area_px(staggered: bool) -> u32 {
    let lines = if staggered { 4 } else { 2 };
    lines * LINE_PX + 14 + style::LABEL_PX + 20
}

/// Draws each name centred at its pixel position `(x, y)` of `root` (the
/// top of the first line); with `staggered`, every other name two lines
/// lower.
pub(crate) fn draw<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    names: &[(String, (i32, i32))],
    staggered: bool,
) -> DrawResult<DB> {
    let line_px = LINE_PX as i32;
    for (i, (name, (x, y))) in names.iter().enumerate() {
        let y = &(y + if staggered && i % 2 == 1 { 2 * line_px } else { 0 });
        let (first, second) = two_lines(name);
        let centred = style::text(style::TICK_PX).pos(Pos::new(HPos::Center, VPos::Top));
        root.draw(&Text::new(first.to_string(), (*x, *y), centred.clone()))?;
        if !second.is_empty() {
            root.draw(&Text::new(second.to_string(), (*x, *y + line_px), centred))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_split_at_the_first_dash() {
        assert_eq!(two_lines("southamerica-east1"), ("southamerica", "east1"));
        assert_eq!(two_lines("ap-southeast-1"), ("ap", "southeast-1"));
        assert_eq!(two_lines("local"), ("local", ""));
    }

    #[test]
    fn long_names_close_together_are_staggered() {
        let names: Vec<String> = ["asia-south1", "southamerica-east1"].map(String::from).to_vec();
        assert!(!stagger(&names, 200));
        assert!(stagger(&names, 100));
        assert!(!stagger(&names[..1], 100));
        assert!(area_px(true) > area_px(false));
    }
}
