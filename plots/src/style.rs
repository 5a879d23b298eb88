//! The look shared by every figure: size, the embedded font, text sizes,
//! one colour per protocol and one marker and line style per f.

use crate::data::Series;
use plotters::prelude::*;
use plotters::style::register_font;
use std::sync::Once;

/// Figure size in pixels (PNG) and user units (SVG).
pub(crate) const SIZE: (u32, u32) = (1200, 720);

/// Width of the legend column at the right of a chart.
pub(crate) const LEGEND_WIDTH: u32 = 230;

/// DejaVu Sans (Debian's fonts-dejavu-core 2.37-6; licence beside it in
/// `assets/`), so text is drawn the same on every machine and no system
/// font or fontconfig is needed.
pub(crate) const FONT_TTF: &[u8] = include_bytes!("../assets/DejaVuSans.ttf");

/// The family name figures ask for. PNG text is drawn with the embedded
/// font registered under this name; SVG keeps text as text and writes this
/// name as its `font-family`, so a viewer uses DejaVu Sans if it has it and
/// its own sans-serif otherwise.
pub(crate) const FAMILY: &str = "DejaVu Sans, sans-serif";

/// Text sizes in pixels.
pub(crate) const TITLE_PX: u32 = 28;
/// Axis descriptions.
pub(crate) const LABEL_PX: u32 = 22;
/// Tick labels and legend entries.
pub(crate) const TICK_PX: u32 = 19;

/// Registers the embedded font (once per process).
pub(crate) fn register_embedded_font() {
    static REGISTER: Once = Once::new();
    REGISTER.call_once(|| {
        // The bytes are a font file committed with the crate; a unit test
        // checks they parse.
        if register_font(FAMILY, FontStyle::Normal, FONT_TTF).is_err() {
            panic!("the embedded DejaVu Sans is not a valid font file");
        }
    });
}

/// A text style in the embedded font.
pub(crate) fn text(size_px: u32) -> TextStyle<'static> {
    (FAMILY, size_px).into_font().color(&BLACK)
}

/// Colour of a protocol: Okabe and Ito's colour-blind-safe palette, fixed
/// per protocol so a protocol looks the same in every figure.
pub(crate) fn protocol_color(protocol: &str) -> RGBColor {
    match protocol {
        "tempo" => RGBColor(0, 114, 178),    // blue
        "atlas" => RGBColor(213, 94, 0),     // vermillion
        "epaxos" => RGBColor(0, 158, 115),   // bluish green
        "fpaxos" => RGBColor(40, 40, 40),    // near black
        "caesar" => RGBColor(204, 121, 167), // reddish purple
        "janus" => RGBColor(230, 159, 0),    // orange
        // The classic protocols (Paul Tol's muted scheme, distinct from
        // the leaderless ones above).
        "mencius" => RGBColor(51, 34, 136),           // indigo
        "vr" => RGBColor(86, 180, 233),               // sky blue
        "raft" => RGBColor(153, 153, 51),             // olive
        "chain" => RGBColor(136, 34, 85),             // wine
        "primary-backup" => RGBColor(221, 204, 119),  // sand
        "2pc" => RGBColor(68, 170, 153),              // teal
        "3pc" => RGBColor(17, 119, 51),               // green
        "deferred-update" => RGBColor(204, 102, 119), // rose
        _ => RGBColor(150, 150, 150),                 // grey
    }
}

/// The marker drawn on a line's points (and beside its legend entry).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Marker {
    /// Filled circle (f = 1, and protocols that ignore f).
    Circle,
    /// Filled triangle (f = 2).
    Triangle,
    /// Filled square (f = 3).
    Square,
    /// Diamond outline (larger f).
    Diamond,
}

/// How one series is drawn.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct SeriesStyle {
    /// Line, marker and bar colour.
    pub color: RGBColor,
    /// Dashed lines and lighter bars for f >= 2, so f reads without colour.
    pub dashed: bool,
    /// Marker shape, by f.
    pub marker: Marker,
}

/// The style of `series`: colour by protocol, marker and dashes by f.
pub(crate) fn series_style(series: &Series) -> SeriesStyle {
    let f = series.f.unwrap_or(1);
    let marker = match f {
        0 | 1 => Marker::Circle,
        2 => Marker::Triangle,
        3 => Marker::Square,
        _ => Marker::Diamond,
    };
    SeriesStyle { color: protocol_color(&series.protocol), dashed: f >= 2, marker }
}

impl SeriesStyle {
    /// Bar fill: the colour, or a light tint of it for dashed series.
    pub(crate) fn bar_fill(&self) -> RGBColor {
        if self.dashed { tint(self.color, 0.55) } else { self.color }
    }
}

/// Line width and marker radius, in pixels, of series `index` of `count`:
/// earlier series are drawn wider and underneath, so a line that another
/// covers exactly (equal latencies) still shows at its edges.
pub(crate) fn emphasis(index: usize, count: usize) -> (u32, i32) {
    let steps = count.saturating_sub(1).max(1);
    let extra = (2 * count.saturating_sub(1 + index) + steps / 2) / steps;
    (2 + extra as u32, 5 + extra as i32)
}

/// `color` mixed with white; `amount` 0 keeps it, 1 is white.
pub(crate) fn tint(color: RGBColor, amount: f64) -> RGBColor {
    let mix = |c: u8| (f64::from(c) + (255.0 - f64::from(c)) * amount).round() as u8;
    RGBColor(mix(color.0), mix(color.1), mix(color.2))
}

/// Draws `marker` centred at `at` (any coordinate system) with radius
/// `size` pixels.
pub(crate) fn draw_marker<DB: DrawingBackend, C: Clone>(
    area: &DrawingArea<DB, impl plotters::coord::CoordTranslate<From = C>>,
    at: C,
    marker: Marker,
    size: i32,
    color: RGBColor,
) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    let fill = color.filled();
    let element = EmptyElement::at(at);
    match marker {
        Marker::Circle => area.draw(&(element + Circle::new((0, 0), size, fill))),
        Marker::Triangle => {
            let h = size + 1;
            area.draw(&(element + Polygon::new(vec![(0, -h), (h, h * 3 / 4), (-h, h * 3 / 4)], fill)))
        }
        Marker::Square => {
            let s = size - 1;
            area.draw(&(element + Rectangle::new([(-s, -s), (s, s)], fill)))
        }
        Marker::Diamond => {
            let h = size + 2;
            let outline = color.stroke_width(2);
            area.draw(&(element + PathElement::new(vec![(0, -h), (h, 0), (0, h), (-h, 0), (0, -h)], outline)))
        }
    }
}

/// A tick label: integers without decimals, other values with up to three
/// decimals and no trailing zeros.
pub(crate) fn number(value: f64) -> String {
    if (value - value.round()).abs() < 1e-9 {
        // `+ 0.0` turns -0 into 0.
        return format!("{:.0}", value.round() + 0.0);
    }
    let text = format!("{value:.3}");
    text.trim_end_matches('0').trim_end_matches('.').to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every protocol `sim` runs (its `--protocol` names) has its own
    /// colour, so a comparison of all of them reads without the legend's
    /// order.
    #[test]
    fn every_protocol_has_its_own_colour() {
        let names = [
            "tempo",
            "atlas",
            "epaxos",
            "fpaxos",
            "caesar",
            "janus",
            "mencius",
            "vr",
            "raft",
            "chain",
            "primary-backup",
            "2pc",
            "3pc",
            "deferred-update",
        ];
        let colours: std::collections::BTreeSet<(u8, u8, u8)> =
            names.iter().map(|name| protocol_color(name)).map(|RGBColor(r, g, b)| (r, g, b)).collect();
        assert_eq!(colours.len(), names.len());
        assert!(!colours.contains(&(150, 150, 150)), "grey is for unknown names");
    }

    #[test]
    fn the_embedded_font_registers() {
        register_embedded_font();
        register_embedded_font();
    }

    #[test]
    fn earlier_series_are_wider() {
        assert_eq!(emphasis(0, 7), (4, 7));
        assert_eq!(emphasis(6, 7), (2, 5));
        assert_eq!(emphasis(0, 1), (2, 5));
        let widths: Vec<u32> = (0..7).map(|i| emphasis(i, 7).0).collect();
        assert!(widths.windows(2).all(|w| w[0] >= w[1]), "{widths:?}");
    }

    #[test]
    fn numbers_drop_needless_decimals() {
        assert_eq!(number(100.0), "100");
        assert_eq!(number(0.5), "0.5");
        assert_eq!(number(12.3456), "12.346");
        assert_eq!(number(-0.0000000001), "0");
    }

    #[test]
    fn f_decides_marker_and_dashes_protocol_decides_colour() {
        let style = |protocol: &str, f| series_style(&Series { protocol: protocol.into(), f });
        assert_eq!(style("tempo", Some(1)).marker, Marker::Circle);
        assert!(!style("tempo", Some(1)).dashed);
        assert_eq!(style("tempo", Some(2)).marker, Marker::Triangle);
        assert!(style("tempo", Some(2)).dashed);
        assert_eq!(style("tempo", Some(1)).color, style("tempo", Some(2)).color);
        assert_ne!(style("tempo", Some(1)).color, style("atlas", Some(1)).color);
        assert_eq!(style("epaxos", None).marker, Marker::Circle);
        assert_eq!(tint(RGBColor(0, 0, 0), 1.0), RGBColor(255, 255, 255));
    }
}
