//! The protocol comparison of a sweep run without and with its faults
//! (`comparison.csv`): failure-free latency (p50 and p99 at the lightest
//! load), failure-free peak throughput (over the loads that answered every
//! command), and the longest time the worst
//! client region went without a completion under the faults, and the
//! acknowledged writes they lost or forked; one bar chart each, a bar per
//! protocol and f.

use crate::data::{ComparisonRow, Results, Series};
use crate::latency_by_region::RegionBars;

/// File-name prefix of this kind.
pub(crate) const KIND: &str = "comparison";

/// The five charts, from `comparison.csv`.
pub(crate) fn figures(results: &Results) -> Result<Vec<RegionBars>, String> {
    let Some(rows) = results.comparison.as_ref().filter(|rows| !rows.is_empty()) else {
        return Err("no comparison.csv (the sweep did not run with_faults = [false, true])".into());
    };
    let bars = |values: fn(&ComparisonRow) -> Vec<Option<f64>>| -> Vec<(Series, Vec<Option<f64>>)> {
        rows.iter().map(|row| (row.series(), values(row))).collect()
    };
    let chart = |stem: &str, title: &str, y_desc: &str, groups: &[&str], bars| RegionBars {
        stem: format!("{KIND}-{stem}"),
        title: title.to_string(),
        x_desc: String::new(),
        y_desc: y_desc.to_string(),
        y_top: None,
        regions: groups.iter().map(|g| g.to_string()).collect(),
        bars,
    };
    Ok(vec![
        chart(
            "latency",
            "Failure-free latency at the lightest load (all clients)",
            "latency (ms)",
            &["p50", "p99"],
            bars(|r| vec![Some(r.latency_ms_p50), Some(r.latency_ms_p99)]),
        ),
        chart(
            "throughput",
            "Failure-free peak throughput over the loads that answered every command",
            "throughput (ops/s)",
            &["peak"],
            bars(|r| vec![r.peak_throughput_ops_per_s]),
        ),
        chart(
            "unavailability",
            "Longest time the worst client region went without a completion, with the faults",
            "time without a completion (ms)",
            &["worst region"],
            bars(|r| vec![r.unavailable_ms]),
        ),
        chart(
            "writes-lost",
            "Acknowledged writes lost, with the faults",
            "acknowledged writes lost",
            &["all regions"],
            bars(|r| vec![Some(r.acked_writes_lost as f64)]),
        ),
        // Apart from the losses: a few forks next to thousands of lost
        // writes would not show on one scale.
        chart(
            "divergence",
            "Acknowledged writes that forked a key's history (DivergentAck), with the faults",
            "divergent acknowledgements",
            &["all regions"],
            bars(|r| vec![Some(r.divergent_acks as f64)]),
        ),
    ])
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::data::tests::write_sample;

    /// Adds a `comparison.csv` of Tempo (f = 1) and EPaxos to the sample.
    pub(crate) fn write_comparison(dir: &std::path::Path) {
        std::fs::write(
            dir.join("comparison.csv"),
            "protocol,f,latency_ms_p50,latency_ms_p99,peak_throughput_ops_per_s,peak_load_per_region,\
             unanswered_from_load_per_region,unanswered_commands,unavailable_ms,acked_writes_lost,divergent_acks\n\
             tempo,1,70.5,180.25,1000.000,64,,,2251.3,0,0\nepaxos,,140,170,,,16,3,,12,3\n",
        )
        .unwrap();
    }

    #[test]
    fn five_charts_with_a_bar_per_protocol() {
        let dir = tempfile::tempdir().unwrap();
        write_sample(dir.path());
        assert!(figures(&Results::load(dir.path()).unwrap()).unwrap_err().contains("no comparison.csv"));
        write_comparison(dir.path());
        let figures = figures(&Results::load(dir.path()).unwrap()).unwrap();
        let stems: Vec<&str> = figures.iter().map(|f| f.stem.as_str()).collect();
        assert_eq!(
            stems,
            [
                "comparison-latency",
                "comparison-throughput",
                "comparison-unavailability",
                "comparison-writes-lost",
                "comparison-divergence"
            ]
        );
        let labels: Vec<String> = figures[0].bars.iter().map(|(s, _)| s.label()).collect();
        assert_eq!(labels, ["Tempo f=1", "EPaxos"]);
        assert_eq!(figures[0].bars[0].1, [Some(70.5), Some(180.25)]);
        assert_eq!(figures[1].bars[0].1, [Some(1000.0)]);
        assert_eq!(figures[1].bars[1].1, [None], "EPaxos: no load answered every command");
        assert_eq!(figures[2].bars[1].1, [None], "EPaxos: unknown");
        assert_eq!(figures[3].bars[1].1, [Some(12.0)], "EPaxos: lost");
        assert_eq!(figures[4].bars[1].1, [Some(3.0)], "EPaxos: divergent");
    }
}
