//! Drawing a figure twice, as SVG and as PNG, each written atomically (a
//! temporary file in the same folder, renamed once complete).

use crate::PlotError;
use crate::style::{self, SIZE};
use crate::text::CrispText;
use plotters::coord::Shift;
use plotters::prelude::*;
use std::io::Write;
use std::path::{Path, PathBuf};

/// What a drawing step returns.
pub(crate) type DrawResult<DB> = Result<(), DrawingAreaErrorKind<<DB as DrawingBackend>::ErrorType>>;

/// A figure that can draw itself on any backend.
pub(crate) trait Figure {
    /// File name without extension, e.g. `latency-cdf-conflict2-clients32`.
    fn file_stem(&self) -> String;

    /// Draws on `root` (already white, [`SIZE`]).
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DrawResult<DB>;
}

/// Writes `figure` as `<stem>.svg` and `<stem>.png` in `dir`; returns the
/// two paths.
pub(crate) fn save(figure: &impl Figure, dir: &Path) -> Result<[PathBuf; 2], PlotError> {
    style::register_embedded_font();
    let stem = figure.file_stem();
    let failed = |format: &str, e: &dyn std::fmt::Display| PlotError::new(format!("drawing {stem}.{format}: {e}"));

    let svg_path = dir.join(format!("{stem}.svg"));
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, SIZE).into_drawing_area();
        root.fill(&WHITE).map_err(|e| failed("svg", &e))?;
        figure.draw(&root).map_err(|e| failed("svg", &e))?;
        root.present().map_err(|e| failed("svg", &e))?;
    }
    let mut temporary = temporary_in(dir, "svg")?;
    temporary.write_all(svg.as_bytes()).map_err(|e| write_error(&svg_path, &e))?;
    temporary.persist(&svg_path).map_err(|e| write_error(&svg_path, &e.error))?;

    // The bitmap backend writes the file itself and picks the format from
    // the extension, so it draws into a temporary `.png` that is renamed.
    let png_path = dir.join(format!("{stem}.png"));
    let temporary = temporary_in(dir, "png")?;
    {
        let backend = CrispText::new(BitMapBackend::new(temporary.path(), SIZE), style::FONT_TTF)
            .ok_or_else(|| PlotError::new("the embedded DejaVu Sans is not a valid font file"))?;
        let root = backend.into_drawing_area();
        root.fill(&WHITE).map_err(|e| failed("png", &e))?;
        figure.draw(&root).map_err(|e| failed("png", &e))?;
        root.present().map_err(|e| failed("png", &e))?;
    }
    temporary.persist(&png_path).map_err(|e| write_error(&png_path, &e.error))?;
    Ok([svg_path, png_path])
}

fn temporary_in(dir: &Path, extension: &str) -> Result<tempfile::NamedTempFile, PlotError> {
    let suffix = format!(".{extension}");
    let mut builder = tempfile::Builder::new();
    builder.prefix(".planetsim-figure-").suffix(&suffix);
    // Temporary files are private (0600); a figure is for sharing.
    #[cfg(unix)]
    builder.permissions(std::os::unix::fs::PermissionsExt::from_mode(0o644));
    builder.tempfile_in(dir).map_err(|e| write_error(dir, &e))
}

fn write_error(path: &Path, error: &std::io::Error) -> PlotError {
    PlotError::new(format!("cannot write {}: {error}", path.display()))
}

/// Draws the figure's title at the top of `root` and returns the area
/// below it.
pub(crate) fn titled<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    title: &str,
) -> Result<DrawingArea<DB, Shift>, DrawingAreaErrorKind<DB::ErrorType>> {
    root.margin(10, 0, 0, 0).titled(title, style::text(style::TITLE_PX))
}
