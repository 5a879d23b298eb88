//! The raw fantoch measurement folders: one `REGION.dat` per source region,
//! lines `MIN/AVG/MAX/MDEV:DEST_REGION` in milliseconds.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use crate::{Error, Matrix, RttStats, check_region, parse_stats};

/// Field names of the four values, in order.
const VALUE_FIELDS: [&str; 4] = ["MIN", "AVG", "MAX", "MDEV"];

/// Loads every `*.dat` file of `dir`; the matrix is named by the folder's
/// file name.
pub(crate) fn load(dir: &Path) -> Result<Matrix, Error> {
    let dir_name = dir.display().to_string();
    let io_error = |source: String, e: std::io::Error| Error::Io { source, message: e.to_string() };
    let mut files: Vec<(String, PathBuf)> = Vec::new();
    let entries = std::fs::read_dir(dir).map_err(|e| io_error(dir_name.clone(), e))?;
    for entry in entries {
        let path = entry.map_err(|e| io_error(dir_name.clone(), e))?.path();
        if path.extension().is_none_or(|ext| ext != "dat") || path.is_dir() {
            continue;
        }
        let file_name = path.display().to_string();
        let Some(region) = path.file_stem().and_then(|stem| stem.to_str()) else {
            return Err(Error::Io {
                source: file_name,
                message: "file name is not valid UTF-8; it should be REGION.dat".to_owned(),
            });
        };
        check_region(&file_name, 0, "file name", region)?;
        files.push((region.to_owned(), path));
    }
    files.sort();
    if files.is_empty() {
        return Err(Error::NoRegions { source: dir_name, dat_folder: true });
    }

    let mut regions: BTreeSet<String> = files.iter().map(|(region, _)| region.clone()).collect();
    let mut pairs = BTreeMap::new();
    // First place each destination is named, to report regions lacking a file.
    let mut first_reference: BTreeMap<String, String> = BTreeMap::new();
    for (from, path) in &files {
        let source = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| io_error(source.clone(), e))?;
        let mut first_lines: BTreeMap<String, usize> = BTreeMap::new();
        for (index, raw) in text.split('\n').enumerate() {
            let line = index + 1;
            let content = raw.trim();
            if content.is_empty() {
                continue;
            }
            let (to, stats) = parse_line(&source, line, content)?;
            if let Some(first_line) = first_lines.get(to) {
                return Err(Error::DuplicatePair {
                    source,
                    line,
                    from: from.clone(),
                    to: to.to_owned(),
                    first_line: *first_line,
                });
            }
            first_lines.insert(to.to_owned(), line);
            first_reference.entry(to.to_owned()).or_insert_with(|| format!("{source}:{line}"));
            regions.insert(to.to_owned());
            pairs.insert((from.clone(), to.to_owned()), stats);
        }
    }
    if let Some((region, referenced_at)) =
        first_reference.into_iter().find(|(region, _)| files.binary_search_by(|(r, _)| r.cmp(region)).is_err())
    {
        return Err(Error::MissingDatFile { source: dir_name, region, referenced_at });
    }
    // `dir` may be `.` or end in `..`: then name it after the resolved folder.
    let name = dir
        .file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .or_else(|| {
            let resolved = dir.canonicalize().ok()?;
            Some(resolved.file_name()?.to_string_lossy().into_owned())
        })
        .unwrap_or(dir_name);
    Matrix::assemble(&name, regions, pairs).map_err(|error| match error {
        Error::MissingPairs { count, examples, regions, .. } => {
            Error::MissingPairs { source: dir.display().to_string(), count, examples, regions }
        }
        other => other,
    })
}

/// Parses `MIN/AVG/MAX/MDEV:DEST_REGION`.
fn parse_line<'a>(source: &str, line: usize, content: &'a str) -> Result<(&'a str, RttStats), Error> {
    let malformed = || Error::BadDatLine { source: source.to_owned(), line, found: content.chars().take(80).collect() };
    let (values, to) = content.split_once(':').ok_or_else(malformed)?;
    let values: Vec<&str> = values.split('/').collect();
    let [min, avg, max, mdev] = values[..] else {
        return Err(malformed());
    };
    let to = to.trim();
    check_region(source, line, "DEST_REGION", to)?;
    let stats = parse_stats(
        source,
        line,
        [
            (VALUE_FIELDS[0], min.trim()),
            (VALUE_FIELDS[1], avg.trim()),
            (VALUE_FIELDS[2], max.trim()),
            (VALUE_FIELDS[3], mdev.trim()),
        ],
    )?;
    Ok((to, stats))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A temporary folder with the given files.
    fn folder(files: &[(&str, &str)]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for (name, text) in files {
            std::fs::write(dir.path().join(name), text).unwrap();
        }
        dir
    }

    fn err(files: &[(&str, &str)]) -> (String, String) {
        let dir = folder(files);
        let message = match load(dir.path()) {
            Ok(matrix) => panic!("accepted: {matrix:?}"),
            Err(error) => error.to_string(),
        };
        (dir.path().display().to_string(), message)
    }

    const A: &str = "0.100/0.200/0.300/0.010:a\n10.000/11.000/12.000/0.500:b\n";
    const B: &str = "10.100/10.900/13.000/0.600:a\n0.100/0.200/0.300/0.010:b\n";

    #[test]
    fn loads_folder_ignoring_other_files() {
        let dir = folder(&[("a.dat", A), ("b.dat", B), ("README.md", "hi"), ("c.dat.bak", "x")]);
        std::fs::create_dir(dir.path().join("sub.dat")).unwrap();
        let matrix = load(dir.path()).unwrap();
        assert_eq!(matrix.regions(), ["a", "b"]);
        assert_eq!(matrix.rtt(0, 1).avg_ns, 11_000_000);
        assert_eq!(matrix.rtt(1, 0).avg_ns, 10_900_000);
        let expected_name = dir.path().file_name().unwrap().to_string_lossy().into_owned();
        assert_eq!(matrix.name(), expected_name);
    }

    #[test]
    fn malformed_line() {
        let bad = "0.100/0.200/0.300/0.010:a\n\n1/2/3:b\n";
        let (dir, message) = err(&[("a.dat", bad), ("b.dat", B)]);
        assert_eq!(
            message,
            format!(
                "{dir}/a.dat:3: expected MIN/AVG/MAX/MDEV:DEST_REGION \
                 (like 104.706/104.919/108.853/0.235:us-central1), found \"1/2/3:b\""
            )
        );
        let (dir, message) = err(&[("a.dat", "0.1 0.2 0.3 0.4 a\n")]);
        assert!(message.starts_with(&format!("{dir}/a.dat:1: expected MIN/AVG/MAX/MDEV")));
    }

    #[test]
    fn bad_value() {
        let bad = "0.100/0.200/0.300/0.010:a\n10/x/12/0.5:b\n";
        let (dir, message) = err(&[("a.dat", bad), ("b.dat", B)]);
        assert!(message.starts_with(&format!("{dir}/a.dat:2: AVG \"x\" is not a number;")), "{message}");
        let bad = "0.100/0.200/0.300/0.010:a\n10/13/12/0.5:b\n";
        let (dir, message) = err(&[("a.dat", bad), ("b.dat", B)]);
        assert_eq!(message, format!("{dir}/a.dat:2: min 10, avg 13, max 12 violate min <= avg <= max"));
        let (dir, message) = err(&[("a.dat", "1/1/1/1:\n")]);
        assert!(message.starts_with(&format!("{dir}/a.dat:1: DEST_REGION region \"\" is empty")), "{message}");
    }

    #[test]
    fn duplicate_destination() {
        let dup = "0.100/0.200/0.300/0.010:a\n10/11/12/0.5:b\n10/11/12/0.5:b\n";
        let (dir, message) = err(&[("a.dat", dup), ("b.dat", B)]);
        assert_eq!(message, format!("{dir}/a.dat:3: duplicate pair a -> b (first given at line 2)"));
    }

    #[test]
    fn missing_file() {
        let (dir, message) = err(&[("a.dat", A)]);
        assert_eq!(
            message,
            format!(
                "{dir}: no file b.dat for region b, which {dir}/a.dat:2 measures as a \
                 destination; every region needs its own REGION.dat"
            )
        );
    }

    #[test]
    fn missing_pair() {
        let (dir, message) = err(&[("a.dat", A), ("b.dat", "0.1/0.2/0.3/0.01:b\n")]);
        assert_eq!(
            message,
            format!(
                "{dir}: missing RTT for 1 ordered pair, e.g. b -> a; every ordered pair of \
                 the 2 regions (including a region with itself) needs a line"
            )
        );
        let (dir, message) = err(&[("a.dat", A), ("b.dat", "")]);
        assert!(message.starts_with(&format!("{dir}: missing RTT for 2 ordered pairs, e.g. b -> a, b -> b;")));
    }

    #[test]
    fn empty_and_absent_folders() {
        let (dir, message) = err(&[("notes.txt", "x")]);
        assert!(message.starts_with(&format!("{dir}: no regions: the folder has no .dat files;")));
        let dir = folder(&[]);
        let gone = dir.path().join("nope");
        let message = load(&gone).unwrap_err().to_string();
        assert!(message.starts_with(&format!("{}: cannot read:", gone.display())), "{message}");
    }

    #[test]
    fn bad_file_name() {
        let (dir, message) = err(&[("a b.dat", A)]);
        assert_eq!(
            message,
            format!(
                "{dir}/a b.dat: file name region \"a b\" contains whitespace; region names are \
                 non-empty without whitespace, like europe-west1"
            )
        );
    }
}
