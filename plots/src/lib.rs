//! Figures drawn from a planetsim results folder (what `sim --scenario`
//! writes: `manifest.json`, `runs.csv`, `latency-cdf.csv`, `summary.csv`,
//! and with faults or the CPU model `timeline.csv`, `faults.csv`,
//! `resources.csv`), so figures can
//! be redrawn without re-running a simulation.
//!
//! [`draw_all`] draws every figure kind the sweep supports into
//! `<folder>/figures/`, each as SVG and PNG:
//!
//! | kind | one figure per | needs |
//! |---|---|---|
//! | `latency-by-region`: mean latency per client region, a bar per protocol and f | placement, conflict rate, clients | always |
//! | `latency-cdf`: CDF of all clients' latency, log x | placement, conflict rate, clients | `latency-cdf.csv` |
//! | `tail-vs-clients`: p99 and p99.9 versus clients per region | placement, conflict rate | two or more client counts |
//! | `fast-path-vs-conflict`: fast-path ratio versus conflict rate | placement, clients | two or more conflict rates, a protocol with a fast path |
//! | `latency-vs-sites`: mean and p99 latency versus the number of sites | conflict rate, clients | placements of two or more sizes |
//! | `rtt-heatmap`: measured RTT between the sites | placement | the matrix (built in, or its file still there) |
//! | `throughput-vs-latency`: mean and p99 latency versus throughput, a curve per protocol and f over client counts | placement, conflict rate | `summary.csv`, two or more client counts |
//! | `cpu-utilisation`: CPU utilisation per process at the highest client count, a bar per protocol and f | placement, conflict rate | `resources.csv` |
//! | `latency-timeline`: p50 and p99 per window of each client region over time, faults shaded | point (first seed) | `timeline.csv` (and `faults.csv` for the spans) |
//! | `comparison-latency`, `-throughput`, `-unavailability`, `-writes-lost`, `-divergence`: per protocol and f, failure-free p50/p99 and peak throughput, time without completions, acknowledged writes lost and divergent acknowledgements under the faults | sweep | `comparison.csv` (`with_faults = [false, true]`) |
//!
//! A kind the sweep cannot support is skipped with the reason, never drawn
//! empty. Values are means over the sweep's seeds. Text uses DejaVu Sans,
//! embedded in the crate: drawing needs no system font.

mod comparison;
mod cpu_utilisation;
mod data;
mod fast_path;
mod latency_by_region;
mod latency_cdf;
mod latency_timeline;
mod latency_vs_sites;
mod legend;
mod lines;
mod region_labels;
mod render;
mod rtt_heatmap;
mod style;
mod tail_vs_clients;
mod text;
mod throughput_latency;

pub use data::{
    Axes, CdfRow, ComparisonRow, FaultRow, Point, ResourceRow, Results, RunRow, Series, SummaryRow, TimelineRow,
};

use render::Figure;
use std::fmt;
use std::path::{Path, PathBuf};

/// A results folder that cannot be read, or a figure that cannot be
/// written: what and where.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlotError(pub String);

impl PlotError {
    /// An error with this message.
    pub fn new(message: impl Into<String>) -> PlotError {
        PlotError(message.into())
    }
}

impl fmt::Display for PlotError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for PlotError {}

/// What [`draw_all`] did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Drawn {
    /// The folder the figures are in.
    pub folder: PathBuf,
    /// Files written (SVG and PNG of each figure), in drawing order.
    pub files: Vec<PathBuf>,
    /// Figure kinds not drawn, each with the reason.
    pub skipped: Vec<String>,
}

/// Reads the results in `dir` and draws every figure they support into
/// `dir/figures/`.
pub fn draw_all(dir: &Path) -> Result<Drawn, PlotError> {
    let results = Results::load(dir)?;
    let folder = dir.join("figures");
    std::fs::create_dir_all(&folder).map_err(|e| PlotError::new(format!("cannot create {}: {e}", folder.display())))?;
    let mut drawn = Drawn { folder, ..Drawn::default() };
    drawn.add(latency_by_region::KIND, latency_by_region::figures(&results))?;
    drawn.add(latency_cdf::KIND, latency_cdf::figures(&results))?;
    drawn.add(tail_vs_clients::KIND, tail_vs_clients::figures(&results))?;
    drawn.add(fast_path::KIND, fast_path::figures(&results))?;
    drawn.add(latency_vs_sites::KIND, latency_vs_sites::figures(&results))?;
    drawn.add(rtt_heatmap::KIND, rtt_heatmap::figures(&results))?;
    drawn.add(throughput_latency::KIND, throughput_latency::figures(&results))?;
    drawn.add(cpu_utilisation::KIND, cpu_utilisation::figures(&results))?;
    drawn.add(latency_timeline::KIND, latency_timeline::figures(&results))?;
    drawn.add(comparison::KIND, comparison::figures(&results))?;
    Ok(drawn)
}

impl Drawn {
    /// Saves `figures`, or records why the kind was skipped.
    fn add<F: Figure>(&mut self, kind: &str, figures: Result<Vec<F>, String>) -> Result<(), PlotError> {
        match figures {
            Ok(figures) if !figures.is_empty() => {
                for figure in &figures {
                    self.files.extend(render::save(figure, &self.folder)?);
                }
            }
            Ok(_) => self.skipped.push(format!("{kind}: no part of the sweep has data for it")),
            Err(reason) => self.skipped.push(format!("{kind}: {reason}")),
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::tests::write_sample;

    /// Width and height from a PNG's header, if `bytes` is a whole PNG
    /// (signature, IHDR first, IEND last).
    fn png_size(bytes: &[u8]) -> Option<(u32, u32)> {
        let signature = b"\x89PNG\r\n\x1a\n";
        if !bytes.starts_with(signature) || bytes.get(12..16)? != b"IHDR" || !bytes.ends_with(b"IEND\xaeB`\x82") {
            return None;
        }
        let word = |at: usize| Some(u32::from_be_bytes(bytes.get(at..at + 4)?.try_into().ok()?));
        Some((word(16)?, word(20)?))
    }

    #[test]
    fn draws_every_supported_kind_as_svg_and_png() {
        let dir = tempfile::tempdir().unwrap();
        write_sample(dir.path());
        throughput_latency::tests::write_summary(dir.path(), &Results::load(dir.path()).unwrap());
        cpu_utilisation::tests::write_resources(dir.path());
        latency_timeline::tests::write_timeline(dir.path());
        comparison::tests::write_comparison(dir.path());
        let drawn = draw_all(dir.path()).unwrap();
        // 4 bar charts, 4 CDFs (2 conflict rates x 2 client counts), 2
        // tail and 2 fast-path figures (one per conflict rate or client
        // count), 1 heat map, 2 throughput and 2 CPU figures (one per
        // conflict rate), 1 timeline (one point has faults), 5
        // comparison charts; no sites figure (one placement).
        assert_eq!(drawn.files.len(), 2 * (4 + 4 + 2 + 2 + 1 + 2 + 2 + 1 + 5), "{:#?}", drawn.files);
        assert_eq!(drawn.skipped.len(), 1, "{:?}", drawn.skipped);
        assert!(drawn.skipped[0].starts_with("latency-vs-sites: every placement has 3 sites"), "{:?}", drawn.skipped);
        for file in &drawn.files {
            let bytes = std::fs::read(file).unwrap();
            let name = file.file_name().unwrap().to_string_lossy().into_owned();
            if name.ends_with(".png") {
                assert_eq!(png_size(&bytes), Some(style::SIZE), "{name} is not a whole PNG of the figure's size");
                assert!(bytes.len() > 10_000, "{name}: {} bytes, too small to hold a drawn figure", bytes.len());
            } else {
                let text = String::from_utf8(bytes).unwrap();
                assert!(text.starts_with("<svg") && text.trim_end().ends_with("</svg>"), "{name}");
                assert!(text.contains(style::FAMILY), "{name} does not name the embedded font's family");
                if !name.starts_with(rtt_heatmap::KIND) && !name.starts_with(latency_timeline::KIND) {
                    assert!(text.contains("Tempo f=1") && text.contains("EPaxos"), "{name} lacks its legend");
                }
            }
        }
        let names: Vec<String> = std::fs::read_dir(&drawn.folder)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into())
            .collect();
        assert_eq!(names.len(), drawn.files.len(), "temporary files left behind: {names:?}");
        assert!(names.contains(&"latency-cdf-conflict50-clients8.png".to_string()), "{names:?}");
    }

    #[test]
    fn a_folder_without_results_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let error = draw_all(&dir.path().join("nothing")).unwrap_err();
        assert!(error.0.contains("nothing/manifest.json"), "{error}");
    }
}
