//! Text on bitmaps, drawn with the embedded font at sub-pixel positions.
//!
//! plotters 0.3.7 draws `ab_glyph` text placing each glyph's pixels at the
//! pen position without the glyph's left bearing, so letters sit unevenly
//! ("europ e"). [`CrispText`] wraps a bitmap backend, passes everything
//! else through, and lays text out itself: the same advances and kerning
//! (so widths match what plotters measured when placing labels), each
//! glyph at its exact position, anti-aliased.

use ab_glyph::{Font, FontRef, Glyph, PxScale, ScaleFont, point};
use plotters::prelude::*;
use plotters_backend::text_anchor::{HPos, VPos};
use plotters_backend::{BackendColor, BackendCoord, BackendStyle, BackendTextStyle, DrawingErrorKind};

/// Width in pixels of `text` at `size_px` in the embedded font: advances
/// and kerning, as drawn.
pub(crate) fn width_px(text: &str, size_px: u32) -> f32 {
    let Ok(font) = FontRef::try_from_slice(crate::style::FONT_TTF) else { return 0.0 };
    let font = font.as_scaled(PxScale::from(size_px as f32));
    let mut width = 0.0;
    let mut previous = None;
    for c in text.chars() {
        let id = font.glyph_id(c);
        if let Some(previous) = previous {
            width += font.kern(previous, id);
        }
        width += font.h_advance(id);
        previous = Some(id);
    }
    width
}

/// A backend whose text is drawn by [`draw_text`](DrawingBackend::draw_text)
/// below; every other call goes to the wrapped backend.
pub(crate) struct CrispText<DB> {
    inner: DB,
    font: FontRef<'static>,
}

impl<DB: DrawingBackend> CrispText<DB> {
    /// Wraps `inner`, drawing text in `font` (a TrueType file's bytes).
    pub(crate) fn new(inner: DB, font: &'static [u8]) -> Option<CrispText<DB>> {
        Some(CrispText { inner, font: FontRef::try_from_slice(font).ok()? })
    }
}

impl<DB: DrawingBackend> DrawingBackend for CrispText<DB> {
    type ErrorType = DB::ErrorType;

    fn get_size(&self) -> (u32, u32) {
        self.inner.get_size()
    }

    fn ensure_prepared(&mut self) -> Result<(), DrawingErrorKind<Self::ErrorType>> {
        self.inner.ensure_prepared()
    }

    fn present(&mut self) -> Result<(), DrawingErrorKind<Self::ErrorType>> {
        self.inner.present()
    }

    fn draw_pixel(
        &mut self,
        point: BackendCoord,
        color: BackendColor,
    ) -> Result<(), DrawingErrorKind<Self::ErrorType>> {
        self.inner.draw_pixel(point, color)
    }

    fn draw_line<S: BackendStyle>(
        &mut self,
        from: BackendCoord,
        to: BackendCoord,
        style: &S,
    ) -> Result<(), DrawingErrorKind<Self::ErrorType>> {
        self.inner.draw_line(from, to, style)
    }

    fn draw_rect<S: BackendStyle>(
        &mut self,
        upper_left: BackendCoord,
        bottom_right: BackendCoord,
        style: &S,
        fill: bool,
    ) -> Result<(), DrawingErrorKind<Self::ErrorType>> {
        self.inner.draw_rect(upper_left, bottom_right, style, fill)
    }

    fn draw_path<S: BackendStyle, I: IntoIterator<Item = BackendCoord>>(
        &mut self,
        path: I,
        style: &S,
    ) -> Result<(), DrawingErrorKind<Self::ErrorType>> {
        self.inner.draw_path(path, style)
    }

    fn draw_circle<S: BackendStyle>(
        &mut self,
        center: BackendCoord,
        radius: u32,
        style: &S,
        fill: bool,
    ) -> Result<(), DrawingErrorKind<Self::ErrorType>> {
        self.inner.draw_circle(center, radius, style, fill)
    }

    fn fill_polygon<S: BackendStyle, I: IntoIterator<Item = BackendCoord>>(
        &mut self,
        vert: I,
        style: &S,
    ) -> Result<(), DrawingErrorKind<Self::ErrorType>> {
        self.inner.fill_polygon(vert, style)
    }

    fn blit_bitmap(
        &mut self,
        pos: BackendCoord,
        (iw, ih): (u32, u32),
        src: &[u8],
    ) -> Result<(), DrawingErrorKind<Self::ErrorType>> {
        self.inner.blit_bitmap(pos, (iw, ih), src)
    }

    fn draw_text<TStyle: BackendTextStyle>(
        &mut self,
        text: &str,
        style: &TStyle,
        pos: BackendCoord,
    ) -> Result<(), DrawingErrorKind<Self::ErrorType>> {
        let color = style.color();
        if color.alpha == 0.0 {
            return Ok(());
        }
        let size = style.size() as f32;
        let font = self.font.as_scaled(PxScale::from(size));
        // The box plotters measured: the advances' width, size / 1.24 high.
        let mut glyphs = Vec::new();
        let mut caret = 0.0f32;
        let mut previous = None;
        for c in text.chars() {
            let id = font.glyph_id(c);
            if let Some(previous) = previous {
                caret += font.kern(previous, id);
            }
            glyphs.push((id, caret));
            caret += font.h_advance(id);
            previous = Some(id);
        }
        let (width, height) = (caret, size / 1.24);
        let left = match style.anchor().h_pos {
            HPos::Left => 0.0,
            HPos::Center => -width / 2.0,
            HPos::Right => -width,
        };
        let top = match style.anchor().v_pos {
            VPos::Top => 0.0,
            VPos::Center => -height / 2.0,
            VPos::Bottom => -height,
        };
        // Capital letters centred in the box: what the eye reads as the
        // text's middle.
        let cap_height = font.outline_glyph(font.scaled_glyph('H')).map_or(size * 0.6, |g| g.px_bounds().height());
        let baseline = top + height / 2.0 + cap_height / 2.0;
        let transform = style.transform();
        let (w, h) = self.get_size();
        for (id, x) in glyphs {
            let glyph: Glyph = id.with_scale_and_position(PxScale::from(size), point(left + x, baseline));
            let Some(outline) = self.font.outline_glyph(glyph) else { continue };
            let bounds = outline.px_bounds();
            let mut pixels = Vec::new();
            outline.draw(|x, y, coverage| pixels.push((x as i32, y as i32, coverage)));
            for (x, y, coverage) in pixels {
                if coverage <= 0.0 {
                    continue;
                }
                let (dx, dy) = transform.transform(bounds.min.x as i32 + x, bounds.min.y as i32 + y);
                let (px, py) = (pos.0 + dx, pos.1 + dy);
                if px >= 0 && py >= 0 && (px as u32) < w && (py as u32) < h {
                    let ink = BackendColor { alpha: color.alpha * f64::from(coverage.min(1.0)), rgb: color.rgb };
                    self.inner.draw_pixel((px, py), ink)?;
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn widths_grow_with_text_and_size() {
        let short = width_px("asia", 19);
        let long = width_px("southamerica", 19);
        assert!(short > 19.0 && long > 2.0 * short, "{short} {long}");
        assert!(width_px("southamerica", 38) > 1.9 * long);
        assert_eq!(width_px("", 19), 0.0);
    }
}
