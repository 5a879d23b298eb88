//! Errors of loading and querying RTT matrices.
//!
//! Every message says what is wrong, where (`path:line:` when there is a
//! line) and what would be valid.

use std::fmt;

use crate::text_format::HEADER;

/// Why a millisecond value was rejected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NumberProblem {
    /// The field is empty.
    Empty,
    /// Not a plain decimal number (letters, sign `+`, missing digits, ...).
    NotANumber,
    /// A negative value.
    Negative,
    /// `NaN` or an infinity.
    NotFinite,
    /// Scientific notation such as `1e3`.
    Exponent,
    /// More than 6 fractional digits (values are stored in whole nanoseconds).
    TooManyDecimals,
    /// Does not fit in 64-bit nanoseconds.
    TooLarge,
}

impl NumberProblem {
    /// Describes the problem, to follow the quoted value.
    fn describe(self) -> &'static str {
        match self {
            NumberProblem::Empty => "is empty",
            NumberProblem::NotANumber => "is not a number",
            NumberProblem::Negative => "is negative",
            NumberProblem::NotFinite => "is not a finite number",
            NumberProblem::Exponent => "uses an exponent, which is not accepted",
            NumberProblem::TooManyDecimals => "has more than 6 decimals (values are stored in whole nanoseconds)",
            NumberProblem::TooLarge => "is too large to store in 64-bit nanoseconds",
        }
    }
}

/// An error loading an RTT matrix or looking something up in one.
///
/// `source` is the file path (or built-in matrix name) the error is about and
/// `line` is 1-based.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Error {
    /// A file or folder could not be read.
    Io {
        /// The path.
        source: String,
        /// The operating system's message.
        message: String,
    },
    /// No built-in matrix has this name.
    UnknownMatrix {
        /// The requested name.
        name: String,
        /// Up to 3 nearest built-in names.
        suggestions: Vec<String>,
        /// All built-in names.
        valid: Vec<String>,
    },
    /// The text has no header line and no data (empty or only comments).
    NoHeader {
        /// The file.
        source: String,
    },
    /// The first non-comment line is not the expected header.
    BadHeader {
        /// The file.
        source: String,
        /// The line of the offending text.
        line: usize,
        /// What was found instead.
        found: String,
    },
    /// The matrix has no region at all (a header but no data lines, or a
    /// folder without `.dat` files).
    NoRegions {
        /// The file or folder.
        source: String,
        /// True for a folder of raw `.dat` files.
        dat_folder: bool,
    },
    /// A data line of the project's format has the wrong number of fields.
    FieldCount {
        /// The file.
        source: String,
        /// The line.
        line: usize,
        /// How many comma-separated fields it has.
        found: usize,
    },
    /// A line of a raw `.dat` file is not `MIN/AVG/MAX/MDEV:DEST_REGION`.
    BadDatLine {
        /// The `.dat` file.
        source: String,
        /// The line.
        line: usize,
        /// The line's text.
        found: String,
    },
    /// A region name is empty or contains whitespace.
    BadRegionName {
        /// The file (or folder, for a `.dat` file name).
        source: String,
        /// The line, 0 when the name comes from a file name.
        line: usize,
        /// Which field (`from`, `to`, `DEST_REGION` or `file name`).
        field: &'static str,
        /// The rejected name.
        name: String,
    },
    /// A millisecond value is not a valid non-negative decimal.
    BadNumber {
        /// The file.
        source: String,
        /// The line.
        line: usize,
        /// The field's name (e.g. `rtt_ms_avg` or `AVG`).
        field: &'static str,
        /// The rejected text.
        value: String,
        /// What is wrong with it.
        problem: NumberProblem,
    },
    /// `min <= avg <= max` does not hold.
    Unordered {
        /// The file.
        source: String,
        /// The line.
        line: usize,
        /// Minimum as written.
        min: String,
        /// Average as written.
        avg: String,
        /// Maximum as written.
        max: String,
    },
    /// The same ordered pair is given twice.
    DuplicatePair {
        /// The file.
        source: String,
        /// The line of the second occurrence.
        line: usize,
        /// Source region.
        from: String,
        /// Destination region.
        to: String,
        /// The line of the first occurrence.
        first_line: usize,
    },
    /// A region measured as a destination has no `REGION.dat` file.
    MissingDatFile {
        /// The folder.
        source: String,
        /// The region without a file.
        region: String,
        /// `path:line` of a line naming it as destination.
        referenced_at: String,
    },
    /// Some ordered pairs have no RTT.
    MissingPairs {
        /// The file or folder.
        source: String,
        /// How many ordered pairs are missing.
        count: usize,
        /// The first few missing pairs, in (from, to) order.
        examples: Vec<(String, String)>,
        /// How many regions the matrix names.
        regions: usize,
    },
    /// A region name is not in the matrix.
    UnknownRegion {
        /// The matrix's name.
        source: String,
        /// The requested name.
        name: String,
        /// Up to 3 nearest region names.
        suggestions: Vec<String>,
        /// All region names of the matrix.
        valid: Vec<String>,
    },
}

/// Writes `did you mean "a", "b"? ` when there are suggestions.
fn did_you_mean(f: &mut fmt::Formatter<'_>, suggestions: &[String]) -> fmt::Result {
    if suggestions.is_empty() {
        return Ok(());
    }
    let quoted: Vec<String> = suggestions.iter().map(|s| format!("{s:?}")).collect();
    write!(f, "did you mean {}? ", quoted.join(", "))
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Io { source, message } => write!(f, "{source}: cannot read: {message}"),
            Error::UnknownMatrix { name, suggestions, valid } => {
                write!(f, "unknown built-in RTT matrix {name:?}; ")?;
                did_you_mean(f, suggestions)?;
                write!(
                    f,
                    "built-in matrices: {}; or give the path of a file in planetsim's RTT matrix format",
                    valid.join(", ")
                )
            }
            Error::NoHeader { source } => write!(
                f,
                "{source}: empty RTT matrix: no header line {HEADER:?} and no data; \
                 expected the header followed by one line per ordered pair of regions"
            ),
            Error::BadHeader { source, line, found } => {
                write!(f, "{source}:{line}: expected the header line {HEADER:?} before any data, found {found:?}")
            }
            Error::NoRegions { source, dat_folder } => {
                if *dat_folder {
                    write!(
                        f,
                        "{source}: no regions: the folder has no .dat files; \
                         expected one REGION.dat per source region with lines MIN/AVG/MAX/MDEV:DEST_REGION"
                    )
                } else {
                    write!(
                        f,
                        "{source}: no regions: the header is not followed by any data line; \
                         expected one line per ordered pair of regions, like \
                         europe-west1,us-central1,104.706,104.919,108.853,0.235"
                    )
                }
            }
            Error::FieldCount { source, line, found } => {
                write!(f, "{source}:{line}: expected 6 comma-separated fields ({HEADER}), found {found}")
            }
            Error::BadDatLine { source, line, found } => write!(
                f,
                "{source}:{line}: expected MIN/AVG/MAX/MDEV:DEST_REGION \
                 (like 104.706/104.919/108.853/0.235:us-central1), found {found:?}"
            ),
            Error::BadRegionName { source, line, field, name } => {
                if *line == 0 {
                    write!(f, "{source}: ")?;
                } else {
                    write!(f, "{source}:{line}: ")?;
                }
                let problem = if name.is_empty() { "is empty" } else { "contains whitespace" };
                write!(
                    f,
                    "{field} region {name:?} {problem}; region names are non-empty \
                     without whitespace, like europe-west1"
                )
            }
            Error::BadNumber { source, line, field, value, problem } => write!(
                f,
                "{source}:{line}: {field} {value:?} {}; RTTs are non-negative milliseconds \
                 like 104.919 (digits, optionally '.' and up to 6 decimals)",
                problem.describe()
            ),
            Error::Unordered { source, line, min, avg, max } => {
                write!(f, "{source}:{line}: min {min}, avg {avg}, max {max} violate min <= avg <= max")
            }
            Error::DuplicatePair { source, line, from, to, first_line } => {
                write!(f, "{source}:{line}: duplicate pair {from} -> {to} (first given at line {first_line})")
            }
            Error::MissingDatFile { source, region, referenced_at } => write!(
                f,
                "{source}: no file {region}.dat for region {region}, which {referenced_at} \
                 measures as a destination; every region needs its own REGION.dat"
            ),
            Error::MissingPairs { source, count, examples, regions } => {
                let plural = if *count == 1 { "pair" } else { "pairs" };
                let examples: Vec<String> = examples.iter().map(|(a, b)| format!("{a} -> {b}")).collect();
                write!(
                    f,
                    "{source}: missing RTT for {count} ordered {plural}, e.g. {}; every ordered \
                     pair of the {regions} regions (including a region with itself) needs a line",
                    examples.join(", ")
                )
            }
            Error::UnknownRegion { source, name, suggestions, valid } => {
                write!(f, "unknown region {name:?} in {source}; ")?;
                did_you_mean(f, suggestions)?;
                write!(f, "valid regions ({}): {}", valid.len(), valid.join(", "))
            }
        }
    }
}

impl std::error::Error for Error {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_matrix_message() {
        let error = Error::UnknownMatrix {
            name: "gpc".into(),
            suggestions: vec!["gcp".into()],
            valid: vec!["gcp".into(), "aws".into()],
        };
        assert_eq!(
            error.to_string(),
            "unknown built-in RTT matrix \"gpc\"; did you mean \"gcp\"? built-in matrices: \
             gcp, aws; or give the path of a file in planetsim's RTT matrix format"
        );
    }

    #[test]
    fn missing_pairs_message() {
        let error = Error::MissingPairs {
            source: "x.csv".into(),
            count: 3,
            examples: vec![("a".into(), "b".into()), ("b".into(), "c".into())],
            regions: 4,
        };
        assert_eq!(
            error.to_string(),
            "x.csv: missing RTT for 3 ordered pairs, e.g. a -> b, b -> c; every ordered pair \
             of the 4 regions (including a region with itself) needs a line"
        );
    }
}
