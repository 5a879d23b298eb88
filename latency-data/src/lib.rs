//! Measured inter-region round-trip times for planetsim's virtual WAN.
//!
//! A [`Matrix`] holds RTT statistics (min, avg, max, mdev, in integer
//! nanoseconds) for every ordered pair of regions, including each region with
//! itself. Two matrices are built in ([`Matrix::BUILTIN`]: `gcp`, `aws`);
//! users can load their own from a file in the project's text format (see
//! the crate's `README.md`) with [`Matrix::from_file`].
//!
//! Direction matters: `rtt(a, b)` is what was measured from `a` to `b`, and
//! may differ from `rtt(b, a)`. [`Matrix::symmetrized`] averages the two.

mod dat_format;
mod decimal;
mod error;
mod suggest;
mod text_format;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

pub use error::{Error, NumberProblem};

/// RTT statistics of one ordered region pair, in integer nanoseconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RttStats {
    /// Minimum RTT.
    pub min_ns: u64,
    /// Mean RTT.
    pub avg_ns: u64,
    /// Maximum RTT.
    pub max_ns: u64,
    /// Mean absolute deviation of the RTT (as reported by `ping`).
    pub mdev_ns: u64,
}

/// A full matrix: every ordered pair of `regions` (including a region with
/// itself) has stats.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Matrix {
    /// Built-in name or the file/folder it was loaded from.
    name: String,
    /// Region names, sorted.
    regions: Vec<String>,
    /// Row-major: index `from * n + to`.
    stats: Vec<RttStats>,
}

/// Built-in matrices: name and the embedded text.
const BUILTIN_DATA: [(&str, &str); 2] =
    [("gcp", include_str!("../data/gcp.csv")), ("aws", include_str!("../data/aws.csv"))];

/// Suffix [`Matrix::symmetrized`] appends to the name.
const SYMMETRIC_SUFFIX: &str = " (symmetric)";

impl Matrix {
    /// Names accepted by [`Matrix::builtin`].
    pub const BUILTIN: &'static [&'static str] = &["gcp", "aws"];

    /// One of the built-in matrices ([`Matrix::BUILTIN`]); its name is `name`.
    ///
    /// An unknown name gives [`Error::UnknownMatrix`] listing the valid names
    /// and the nearest ones.
    pub fn builtin(name: &str) -> Result<Matrix, Error> {
        match BUILTIN_DATA.iter().find(|(builtin, _)| *builtin == name) {
            Some((builtin, text)) => Matrix::parse(builtin, text),
            None => Err(Error::UnknownMatrix {
                name: name.to_owned(),
                suggestions: suggest::nearest(name, Matrix::BUILTIN.iter().copied()),
                valid: Matrix::BUILTIN.iter().map(|s| (*s).to_owned()).collect(),
            }),
        }
    }

    /// Loads a file in the project's text format; the matrix is named by the
    /// path. Errors name the path (and line).
    pub fn from_file(path: &Path) -> Result<Matrix, Error> {
        let source = path.display().to_string();
        let text =
            std::fs::read_to_string(path).map_err(|e| Error::Io { source: source.clone(), message: e.to_string() })?;
        Matrix::parse(&source, &text)
    }

    /// Parses text in the project's format; `source` names the matrix and the
    /// file in error messages.
    pub fn parse(source: &str, text: &str) -> Result<Matrix, Error> {
        text_format::parse(source, text)
    }

    /// Loads a folder of raw fantoch-style `REGION.dat` files (lines
    /// `MIN/AVG/MAX/MDEV:DEST_REGION`); files not ending in `.dat` are ignored.
    /// The matrix is named by the folder's file name (e.g. `gcp`).
    pub fn from_dat_folder(dir: &Path) -> Result<Matrix, Error> {
        dat_format::load(dir)
    }

    /// The built-in name, or the file/folder the matrix was loaded from.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Region names, sorted; positions are the indices used by [`Matrix::rtt`].
    pub fn regions(&self) -> &[String] {
        &self.regions
    }

    /// Number of regions.
    pub fn len(&self) -> usize {
        self.regions.len()
    }

    /// True when there are no regions (never the case for a loaded matrix).
    pub fn is_empty(&self) -> bool {
        self.regions.is_empty()
    }

    /// Index of the region called `name` (exact match).
    ///
    /// An unknown name gives [`Error::UnknownRegion`] with up to 3 nearest
    /// names and the full list of valid ones.
    pub fn region_index(&self, name: &str) -> Result<usize, Error> {
        self.regions.binary_search_by(|region| region.as_str().cmp(name)).map_err(|_| Error::UnknownRegion {
            source: self.name.clone(),
            name: name.to_owned(),
            suggestions: suggest::nearest(name, self.regions.iter().map(String::as_str)),
            valid: self.regions.clone(),
        })
    }

    /// RTT statistics measured from region `from` to region `to` (indices into
    /// [`Matrix::regions`]).
    ///
    /// # Panics
    /// If `from` or `to` is not below [`Matrix::len`].
    pub fn rtt(&self, from: usize, to: usize) -> RttStats {
        let n = self.len();
        assert!(from < n && to < n, "region index out of range: rtt({from}, {to}) on {} with {n} regions", self.name);
        self.stats[from * n + to]
    }

    /// The matrix where each pair's statistics are the mean of both
    /// directions, so `rtt(a, b) == rtt(b, a)`; named with ` (symmetric)`
    /// appended (once).
    ///
    /// Each of min, avg, max and mdev is `(a_to_b + b_to_a) / 2` in integer
    /// nanoseconds, rounded down: exact whenever the sum is even (always for
    /// values with at most 3 decimals of a millisecond, like the built-in
    /// data), otherwise at most half a nanosecond low. `min <= avg <= max`
    /// still holds.
    pub fn symmetrized(&self) -> Matrix {
        let n = self.len();
        let mean = |a: u64, b: u64| ((u128::from(a) + u128::from(b)) / 2) as u64;
        let mut stats = Vec::with_capacity(n * n);
        for from in 0..n {
            for to in 0..n {
                let ab = self.stats[from * n + to];
                let ba = self.stats[to * n + from];
                stats.push(RttStats {
                    min_ns: mean(ab.min_ns, ba.min_ns),
                    avg_ns: mean(ab.avg_ns, ba.avg_ns),
                    max_ns: mean(ab.max_ns, ba.max_ns),
                    mdev_ns: mean(ab.mdev_ns, ba.mdev_ns),
                });
            }
        }
        let name = if self.name.ends_with(SYMMETRIC_SUFFIX) {
            self.name.clone()
        } else {
            format!("{}{SYMMETRIC_SUFFIX}", self.name)
        };
        Matrix { name, regions: self.regions.clone(), stats }
    }

    /// The matrix in the project's text format; each `provenance` line becomes
    /// a `# ` comment after the format and name comments.
    /// [`Matrix::parse`] of the result (with this matrix's name as source)
    /// gives back an equal matrix.
    pub fn to_text(&self, provenance: &[&str]) -> String {
        text_format::to_text(self, provenance)
    }

    /// Builds a matrix from parsed pairs, reporting missing ones.
    ///
    /// `regions` are all names seen; `pairs` maps (from, to) to stats.
    fn assemble(
        name: &str,
        regions: BTreeSet<String>,
        mut pairs: BTreeMap<(String, String), RttStats>,
    ) -> Result<Matrix, Error> {
        let regions: Vec<String> = regions.into_iter().collect();
        let n = regions.len();
        let mut stats = Vec::with_capacity(pairs.len());
        let mut missing = 0usize;
        let mut examples = Vec::new();
        for from in &regions {
            for to in &regions {
                match pairs.remove(&(from.clone(), to.clone())) {
                    Some(found) => stats.push(found),
                    None => {
                        missing += 1;
                        if examples.len() < 3 {
                            examples.push((from.clone(), to.clone()));
                        }
                    }
                }
            }
        }
        if missing > 0 {
            return Err(Error::MissingPairs { source: name.to_owned(), count: missing, examples, regions: n });
        }
        Ok(Matrix { name: name.to_owned(), regions, stats })
    }
}

/// Checks a region name: non-empty, no whitespace.
fn check_region(source: &str, line: usize, field: &'static str, name: &str) -> Result<(), Error> {
    if name.is_empty() || name.chars().any(char::is_whitespace) {
        return Err(Error::BadRegionName { source: source.to_owned(), line, field, name: name.to_owned() });
    }
    Ok(())
}

/// Parses the four millisecond values of a line (`fields` pairs each field's
/// name with its text, in min, avg, max, mdev order) and checks
/// `min <= avg <= max`.
fn parse_stats(source: &str, line: usize, fields: [(&'static str, &str); 4]) -> Result<RttStats, Error> {
    let mut values = [0u64; 4];
    for (value, (field, text)) in values.iter_mut().zip(fields) {
        *value = decimal::parse_ms(text).map_err(|problem| Error::BadNumber {
            source: source.to_owned(),
            line,
            field,
            value: text.to_owned(),
            problem,
        })?;
    }
    let [min_ns, avg_ns, max_ns, mdev_ns] = values;
    if !(min_ns <= avg_ns && avg_ns <= max_ns) {
        return Err(Error::Unordered {
            source: source.to_owned(),
            line,
            min: fields[0].1.to_owned(),
            avg: fields[1].1.to_owned(),
            max: fields[2].1.to_owned(),
        });
    }
    Ok(RttStats { min_ns, avg_ns, max_ns, mdev_ns })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Directory of the raw measurements, if this checkout has it.
    fn shared_folder(cloud: &str) -> Option<std::path::PathBuf> {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/latency-sources").join(cloud);
        if dir.is_dir() {
            Some(dir)
        } else {
            println!("note: {} not found; skipping the comparison", dir.display());
            None
        }
    }

    #[test]
    fn builtins_are_complete() {
        for (name, regions) in [("gcp", 20), ("aws", 19)] {
            let matrix = Matrix::builtin(name).expect(name);
            assert_eq!(matrix.name(), name);
            assert_eq!(matrix.len(), regions);
            assert!(!matrix.is_empty());
            assert!(matrix.regions().is_sorted());
            for from in 0..matrix.len() {
                for to in 0..matrix.len() {
                    let s = matrix.rtt(from, to);
                    assert!(s.min_ns <= s.avg_ns && s.avg_ns <= s.max_ns);
                    assert!(s.min_ns > 0);
                }
            }
        }
    }

    #[test]
    fn gcp_spot_check_is_directional() {
        let gcp = Matrix::builtin("gcp").unwrap();
        let eu = gcp.region_index("europe-west1").unwrap();
        let us = gcp.region_index("us-central1").unwrap();
        assert_eq!(
            gcp.rtt(eu, us),
            RttStats { min_ns: 104_706_000, avg_ns: 104_919_000, max_ns: 108_853_000, mdev_ns: 235_000 }
        );
        assert_eq!(
            gcp.rtt(us, eu),
            RttStats { min_ns: 104_706_000, avg_ns: 104_916_000, max_ns: 109_167_000, mdev_ns: 397_000 }
        );
        assert_eq!(gcp.rtt(eu, eu).avg_ns, 272_000);
    }

    #[test]
    fn unknown_builtin_lists_names() {
        let message = Matrix::builtin("gpc").unwrap_err().to_string();
        assert!(message.contains("\"gpc\""), "{message}");
        assert!(message.contains("did you mean \"gcp\"?"), "{message}");
        assert!(message.contains("gcp, aws"), "{message}");
    }

    /// The shipped files are exactly what `cargo xtask import-latency`
    /// produces from the raw measurements.
    #[test]
    fn shipped_data_matches_raw_measurements() {
        for (name, text) in BUILTIN_DATA {
            let shipped = Matrix::parse(name, text).unwrap();
            // Byte-identical round trip with the file's own provenance lines.
            let provenance: Vec<&str> = text
                .lines()
                .take_while(|line| line.starts_with('#'))
                .skip(2)
                .map(|line| line.strip_prefix("# ").unwrap_or(""))
                .collect();
            assert_eq!(shipped.to_text(&provenance), text, "{name}");
            assert_eq!(Matrix::parse(name, &shipped.to_text(&[])).unwrap(), shipped);
            let Some(dir) = shared_folder(name) else {
                continue;
            };
            let imported = Matrix::from_dat_folder(&dir).unwrap();
            assert_eq!(imported, shipped, "{name}");
            assert_eq!(imported.to_text(&provenance), text, "{name}");
        }
    }

    #[test]
    fn unknown_region_suggests_nearest() {
        let gcp = Matrix::builtin("gcp").unwrap();
        let error = gcp.region_index("europe-west9").unwrap_err();
        let Error::UnknownRegion { suggestions, .. } = &error else {
            panic!("{error:?}");
        };
        assert!(!suggestions.is_empty() && suggestions.len() <= 3);
        assert!(suggestions.iter().all(|s| s.starts_with("europe-west")), "{suggestions:?}");
        let message = error.to_string();
        assert!(message.starts_with("unknown region \"europe-west9\" in gcp; did you mean \"europe-west"), "{message}");
        assert!(message.contains("valid regions (20): asia-east1, asia-east2,"), "{message}");
        assert!(message.ends_with("us-west1, us-west2"), "{message}");

        let error = gcp.region_index("us-central").unwrap_err();
        let Error::UnknownRegion { suggestions, .. } = &error else {
            panic!("{error:?}");
        };
        assert_eq!(suggestions.first().map(String::as_str), Some("us-central1"));
        assert!(error.to_string().contains("did you mean \"us-central1\""));

        let message = gcp.region_index("zzzzzzzzzzzzzzzz").unwrap_err().to_string();
        assert!(!message.contains("did you mean"), "{message}");
    }

    #[test]
    fn symmetrized_is_symmetric() {
        for name in Matrix::BUILTIN {
            let matrix = Matrix::builtin(name).unwrap();
            let sym = matrix.symmetrized();
            assert_eq!(sym.name(), format!("{name} (symmetric)"));
            assert_eq!(sym.regions(), matrix.regions());
            for a in 0..sym.len() {
                for b in 0..sym.len() {
                    assert_eq!(sym.rtt(a, b), sym.rtt(b, a));
                    let s = sym.rtt(a, b);
                    assert!(s.min_ns <= s.avg_ns && s.avg_ns <= s.max_ns);
                }
                assert_eq!(sym.rtt(a, a), matrix.rtt(a, a));
            }
            assert_eq!(sym.symmetrized(), sym);
        }
        let gcp = Matrix::builtin("gcp").unwrap().symmetrized();
        let eu = gcp.region_index("europe-west1").unwrap();
        let us = gcp.region_index("us-central1").unwrap();
        // (104.919 + 104.916) / 2 = 104.9175 ms
        assert_eq!(gcp.rtt(eu, us).avg_ns, 104_917_500);
    }

    #[test]
    fn symmetrized_rounds_down() {
        let text = "from,to,rtt_ms_min,rtt_ms_avg,rtt_ms_max,rtt_ms_mdev\n\
                    a,a,0,0,0,0\na,b,1,1,1,0\nb,a,0.000001,0.000001,0.000001,0\nb,b,0,0,0,0\n";
        let matrix = Matrix::parse("t", text).unwrap().symmetrized();
        // (1_000_000 + 1) / 2 ns, rounded down
        assert_eq!(matrix.rtt(0, 1).avg_ns, 500_000);
        assert_eq!(matrix.rtt(1, 0).avg_ns, 500_000);
    }

    #[test]
    #[should_panic(expected = "region index out of range")]
    fn rtt_out_of_range_panics_with_message() {
        let gcp = Matrix::builtin("gcp").unwrap();
        let _ = gcp.rtt(0, gcp.len());
    }
}
