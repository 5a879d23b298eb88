//! Region names under a horizontal axis, on two lines (split at the first
//! `-`: `southamerica` over `east1`), so five or more long names fit side
//! by side without overlapping.

use crate::render::DrawResult;
use crate::style;
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

/// The two lines of `name`: before and after its first `-` (one line if it
/// has none).
pub(crate) fn two_lines(name: &str) -> (&str, &str) {
    name.split_once('-').unwrap_or((name, ""))
}

/// Draws each name centred at its pixel position `(x, y)` of `root` (the
/// top of the first line).
pub(crate) fn draw<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    names: &[(String, (i32, i32))],
) -> DrawResult<DB> {
    let line_px = style::TICK_PX as i32 + 4;
    for (name, (x, y)) in names {
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
}
