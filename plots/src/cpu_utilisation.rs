//! CPU utilisation per process at the sweep's highest load: a group of
//! bars per process (named by its site), a bar per protocol and f, from
//! `resources.csv` (means over seeds); one figure per (placement, conflict
//! rate), at that slice's largest client count. Lower loads are left out:
//! the highest one is where a busy process (a leader) limits throughput.

use crate::data::{Results, Series, Slice, mean};
use crate::latency_by_region::RegionBars;

/// File-name prefix of this kind.
pub(crate) const KIND: &str = "cpu-utilisation";

/// One figure per (placement, conflict rate).
pub(crate) fn figures(results: &Results) -> Result<Vec<RegionBars>, String> {
    let Some(resources) = &results.resources else {
        return Err("no resources.csv (the sweep did not model CPUs and NICs)".into());
    };
    let axes = results.axes();
    let mut figures = Vec::new();
    for slice in Slice::all(results, true, true, false) {
        let in_slice: Vec<_> = results.points.iter().filter(|p| slice.contains(p)).collect();
        let Some(clients) = in_slice.iter().map(|p| p.clients_per_region).max() else { continue };
        let points: Vec<_> = in_slice.into_iter().filter(|p| p.clients_per_region == clients).collect();
        let Some(sites) = points.iter().map(|p| &p.sites).max_by_key(|s| s.len()) else { continue };
        let regions: Vec<String> = sites.iter().enumerate().map(|(i, site)| format!("p{} {site}", i + 1)).collect();
        let bars: Vec<(Series, Vec<Option<f64>>)> = points
            .iter()
            .map(|point| {
                let values = (1..=regions.len())
                    .map(|i| {
                        let process = format!("p{i}");
                        mean(
                            resources
                                .iter()
                                .filter(|r| r.point == point.point && r.process == process)
                                .map(|r| r.cpu_utilisation_percent),
                        )
                    })
                    .collect();
                (point.series(), values)
            })
            .collect();
        if bars.iter().all(|(_, v)| v.iter().all(Option::is_none)) {
            continue;
        }
        let mut caption = Slice { clients_per_region: Some(clients), ..slice }.caption(results);
        if axes.clients.len() > 1 {
            caption = caption.replacen(" per region", " per region, the highest load", 1);
        }
        figures.push(RegionBars {
            stem: format!("{KIND}{}", slice.file_suffix(&axes)),
            title: format!("CPU utilisation per process ({caption})"),
            x_desc: "process and its site".into(),
            y_desc: "CPU utilisation (%)".into(),
            y_top: Some(100.0),
            regions,
            bars,
        });
    }
    Ok(figures)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::data::tests::write_sample;

    /// Adds a `resources.csv`: utilisation 10 x process + point + seed.
    pub(crate) fn write_resources(dir: &std::path::Path) {
        let mut csv = String::from("point,seed,process,cores,cpu_utilisation_percent\n");
        for point in 0..8 {
            for seed in [1, 2] {
                for process in 1..=3 {
                    csv.push_str(&format!("{point},{seed},p{process},1,{}\n", 10 * process + point + seed));
                }
            }
        }
        std::fs::write(dir.join("resources.csv"), csv).unwrap();
    }

    #[test]
    fn bars_per_process_at_the_highest_load() {
        let dir = tempfile::tempdir().unwrap();
        write_sample(dir.path());
        write_resources(dir.path());
        let results = Results::load(dir.path()).unwrap();
        let figures = figures(&results).unwrap();
        assert_eq!(figures.len(), 2);
        let figure = &figures[0];
        assert_eq!(figure.stem, "cpu-utilisation-conflict0");
        assert!(figure.title.contains("8 clients per region, the highest load, mean of 2 seeds"), "{}", figure.title);
        assert_eq!(figure.regions, ["p1 us-central1", "p2 europe-west1", "p3 asia-east1"]);
        let labels: Vec<String> = figure.bars.iter().map(|(s, _)| s.label()).collect();
        assert_eq!(labels, ["Tempo f=1", "EPaxos"]);
        // Tempo with 8 clients at conflict 0 is point 1: 10 x process + 1 + 1.5.
        assert_eq!(figure.bars[0].1, [Some(12.5), Some(22.5), Some(32.5)]);
        // EPaxos with 8 clients at conflict 0 is point 5.
        assert_eq!(figure.bars[1].1[0], Some(16.5));
    }

    #[test]
    fn skipped_without_resources() {
        let dir = tempfile::tempdir().unwrap();
        write_sample(dir.path());
        let results = Results::load(dir.path()).unwrap();
        assert!(figures(&results).unwrap_err().contains("no resources.csv"));
    }
}
