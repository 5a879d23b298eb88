//! The project's own RTT matrix text format (see the crate's README.md).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use crate::decimal::format_ms;
use crate::{Error, Matrix, RttStats, check_region, parse_stats};

/// The required header line.
pub(crate) const HEADER: &str = "from,to,rtt_ms_min,rtt_ms_avg,rtt_ms_max,rtt_ms_mdev";

/// First comment line written by [`to_text`].
const FORMAT_LINE: &str = "# planetsim RTT matrix, format 1";

/// Longest excerpt of offending text quoted in an error message.
const EXCERPT_CHARS: usize = 80;

/// Field names of the four values, in column order.
const VALUE_FIELDS: [&str; 4] = ["rtt_ms_min", "rtt_ms_avg", "rtt_ms_max", "rtt_ms_mdev"];

/// Parses the format; `source` names the matrix and the file in errors.
pub(crate) fn parse(source: &str, text: &str) -> Result<Matrix, Error> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut header_seen = false;
    let mut regions = BTreeSet::new();
    let mut pairs: BTreeMap<(String, String), (usize, RttStats)> = BTreeMap::new();
    for (index, raw) in text.split('\n').enumerate() {
        let line = index + 1;
        let content = raw.trim();
        if content.is_empty() || content.starts_with('#') {
            continue;
        }
        let fields: Vec<&str> = content.split(',').map(str::trim).collect();
        if !header_seen {
            if !fields.iter().copied().eq(HEADER.split(',')) {
                return Err(Error::BadHeader { source: source.to_owned(), line, found: excerpt(content) });
            }
            header_seen = true;
            continue;
        }
        let [from, to, min, avg, max, mdev] = fields[..] else {
            return Err(Error::FieldCount { source: source.to_owned(), line, found: fields.len() });
        };
        check_region(source, line, "from", from)?;
        check_region(source, line, "to", to)?;
        let stats = parse_stats(
            source,
            line,
            [(VALUE_FIELDS[0], min), (VALUE_FIELDS[1], avg), (VALUE_FIELDS[2], max), (VALUE_FIELDS[3], mdev)],
        )?;
        let key = (from.to_owned(), to.to_owned());
        if let Some((first_line, _)) = pairs.get(&key) {
            return Err(Error::DuplicatePair {
                source: source.to_owned(),
                line,
                from: key.0,
                to: key.1,
                first_line: *first_line,
            });
        }
        regions.insert(key.0.clone());
        regions.insert(key.1.clone());
        pairs.insert(key, (line, stats));
    }
    if !header_seen {
        return Err(Error::NoHeader { source: source.to_owned() });
    }
    if pairs.is_empty() {
        return Err(Error::NoRegions { source: source.to_owned(), dat_folder: false });
    }
    let pairs = pairs.into_iter().map(|(key, (_, stats))| (key, stats)).collect();
    Matrix::assemble(source, regions, pairs)
}

/// Writes the matrix in the format, rows sorted by (from, to).
pub(crate) fn to_text(matrix: &Matrix, provenance: &[&str]) -> String {
    let mut out = String::new();
    out.push_str(FORMAT_LINE);
    out.push('\n');
    let name: Vec<&str> = matrix.name().lines().collect();
    // Writing to a String cannot fail.
    let _ = writeln!(out, "# cloud: {}", name.join(" "));
    for line in provenance.iter().flat_map(|text| text.split('\n')) {
        let line = line.trim_end_matches('\r');
        if line.is_empty() {
            out.push_str("#\n");
        } else {
            let _ = writeln!(out, "# {line}");
        }
    }
    out.push_str(HEADER);
    out.push('\n');
    for (from_index, from) in matrix.regions().iter().enumerate() {
        for (to_index, to) in matrix.regions().iter().enumerate() {
            let s = matrix.rtt(from_index, to_index);
            let _ = writeln!(
                out,
                "{from},{to},{},{},{},{}",
                format_ms(s.min_ns),
                format_ms(s.avg_ns),
                format_ms(s.max_ns),
                format_ms(s.mdev_ns)
            );
        }
    }
    out
}

/// The start of `text`, shortened with `...` when long.
fn excerpt(text: &str) -> String {
    match text.char_indices().nth(EXCERPT_CHARS) {
        Some((cut, _)) => format!("{}...", &text[..cut]),
        None => text.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A valid 2-region matrix with comments, CRLF and spaces.
    const SMALL: &str = "# a comment\r\n\
        \n\
        from, to ,rtt_ms_min,rtt_ms_avg,rtt_ms_max,rtt_ms_mdev\r\n\
        b,b,0.1,0.2,0.3,0.01\n\
        # another comment\n\
        a,b, 10.5 ,11,12.000001,0.5\n\
        a,a,0.100,0.200,0.300,0.010\n\
        b,a,10.4,10.9,13,0.6\n";

    fn err(text: &str) -> String {
        match parse("data/x.csv", text) {
            Ok(matrix) => panic!("accepted: {matrix:?}"),
            Err(error) => error.to_string(),
        }
    }

    /// SMALL's header plus `rows`.
    fn with_rows(rows: &str) -> String {
        format!("# c\n{HEADER}\n{rows}")
    }

    #[test]
    fn parses_small_matrix() {
        let matrix = parse("small", SMALL).unwrap();
        assert_eq!(matrix.name(), "small");
        assert_eq!(matrix.regions(), ["a", "b"]);
        let ab = matrix.rtt(0, 1);
        assert_eq!(ab, RttStats { min_ns: 10_500_000, avg_ns: 11_000_000, max_ns: 12_000_001, mdev_ns: 500_000 });
        assert_eq!(matrix.rtt(1, 0).avg_ns, 10_900_000);
        assert_eq!(matrix.rtt(0, 0), matrix.rtt(1, 1));
    }

    #[test]
    fn to_text_is_canonical_and_round_trips() {
        let matrix = parse("small", SMALL).unwrap();
        let text = matrix.to_text(&["measured somewhere", "", "two\nlines"]);
        assert_eq!(
            text,
            "# planetsim RTT matrix, format 1\n\
             # cloud: small\n\
             # measured somewhere\n\
             #\n\
             # two\n\
             # lines\n\
             from,to,rtt_ms_min,rtt_ms_avg,rtt_ms_max,rtt_ms_mdev\n\
             a,a,0.100,0.200,0.300,0.010\n\
             a,b,10.500,11.000,12.000001,0.500\n\
             b,a,10.400,10.900,13.000,0.600\n\
             b,b,0.100,0.200,0.300,0.010\n"
        );
        assert_eq!(parse("small", &text).unwrap(), matrix);
        assert_eq!(parse("small", &text).unwrap().to_text(&[]), matrix.to_text(&[]));
    }

    #[test]
    fn field_count() {
        let message = err(&with_rows("a,a,1,2,3,4\na,b,1,2,3\n"));
        assert_eq!(
            message,
            "data/x.csv:4: expected 6 comma-separated fields \
             (from,to,rtt_ms_min,rtt_ms_avg,rtt_ms_max,rtt_ms_mdev), found 5"
        );
        assert!(err(&with_rows("a,a,1,2,3,4,5\n")).contains("data/x.csv:3: expected 6"));
    }

    #[test]
    fn negative_value() {
        let message = err(&with_rows("a,a,1,-3.2,3,4\n"));
        assert_eq!(
            message,
            "data/x.csv:3: rtt_ms_avg \"-3.2\" is negative; RTTs are non-negative milliseconds \
             like 104.919 (digits, optionally '.' and up to 6 decimals)"
        );
    }

    #[test]
    fn bad_numbers() {
        let cases = [
            ("a,a,abc,2,3,4", "rtt_ms_min \"abc\" is not a number"),
            ("a,a,1,2,NaN,4", "rtt_ms_max \"NaN\" is not a finite number"),
            ("a,a,1,2,inf,4", "rtt_ms_max \"inf\" is not a finite number"),
            ("a,a,1,2,3,1e-3", "rtt_ms_mdev \"1e-3\" uses an exponent"),
            ("a,a,1,2.1234567,3,4", "rtt_ms_avg \"2.1234567\" has more than 6 decimals"),
            ("a,a,,2,3,4", "rtt_ms_min \"\" is empty"),
            ("a,a,1,2,99999999999999999,4", "is too large"),
        ];
        for (row, problem) in cases {
            let message = err(&with_rows(row));
            assert!(message.starts_with("data/x.csv:3: "), "{message}");
            assert!(message.contains(problem), "{message}");
            assert!(message.contains("like 104.919"), "{message}");
        }
    }

    #[test]
    fn min_avg_max_order() {
        let message = err(&with_rows("a,a,0.1,0.2,0.3,0\na,b,5,4,6,0\n"));
        assert_eq!(message, "data/x.csv:4: min 5, avg 4, max 6 violate min <= avg <= max");
        assert!(err(&with_rows("a,a,1,2,1.5,0\n")).contains("data/x.csv:3: min 1, avg 2, max 1.5"));
    }

    #[test]
    fn duplicate_pair() {
        let rows = "a,a,1,1,1,0\n\
                    europe-west1,us-west1,1,2,3,0\n\
                    b,b,1,1,1,0\n\
                    europe-west1,us-west1,1,2,3,0\n";
        assert_eq!(
            err(&with_rows(rows)),
            "data/x.csv:6: duplicate pair europe-west1 -> us-west1 (first given at line 4)"
        );
    }

    #[test]
    fn missing_pairs() {
        let rows = "a,a,1,1,1,0\na,b,1,1,1,0\nb,a,1,1,1,0\nb,b,1,1,1,0\nc,c,1,1,1,0\n";
        assert_eq!(
            err(&with_rows(rows)),
            "data/x.csv: missing RTT for 4 ordered pairs, e.g. a -> c, b -> c, c -> a; every \
             ordered pair of the 3 regions (including a region with itself) needs a line"
        );
        let message = err(&with_rows("a,b,1,1,1,0\n"));
        assert!(
            message.starts_with("data/x.csv: missing RTT for 3 ordered pairs, e.g. a -> a, b -> a, b -> b;"),
            "{message}"
        );
        let message = err(&with_rows("a,b,1,1,1,0\na,a,1,1,1,0\nb,b,1,1,1,0\n"));
        assert!(message.starts_with("data/x.csv: missing RTT for 1 ordered pair, e.g. b -> a;"), "{message}");
    }

    #[test]
    fn header() {
        let message = err("# comment\n\na,a,1,1,1,0\n");
        assert_eq!(
            message,
            "data/x.csv:3: expected the header line \
             \"from,to,rtt_ms_min,rtt_ms_avg,rtt_ms_max,rtt_ms_mdev\" before any data, \
             found \"a,a,1,1,1,0\""
        );
        let message = err("from,to,min,avg,max,mdev\n");
        assert!(message.starts_with("data/x.csv:1: expected the header line"), "{message}");
        assert!(message.ends_with("found \"from,to,min,avg,max,mdev\""), "{message}");
        let long = "x".repeat(500);
        let message = err(&long);
        assert!(message.ends_with(&format!("found \"{}...\"", "x".repeat(80))), "{message}");
    }

    #[test]
    fn empty_inputs() {
        for text in ["", "\n\n", "# only\n# comments\n", "\u{feff}"] {
            let message = err(text);
            assert!(message.starts_with("data/x.csv: empty RTT matrix: no header line"), "{message}");
            assert!(message.contains(HEADER), "{message}");
        }
        let message = err(&with_rows("# nothing\n"));
        assert!(message.starts_with("data/x.csv: no regions:"), "{message}");
        assert!(message.contains("one line per ordered pair"), "{message}");
    }

    #[test]
    fn bad_region_names() {
        let message = err(&with_rows("a,,1,1,1,0\n"));
        assert_eq!(
            message,
            "data/x.csv:3: to region \"\" is empty; region names are non-empty without \
             whitespace, like europe-west1"
        );
        let message = err(&with_rows("europe west1,a,1,1,1,0\n"));
        assert!(message.starts_with("data/x.csv:3: from region \"europe west1\" contains whitespace;"), "{message}");
    }

    #[test]
    fn never_panics_on_odd_input() {
        let inputs = [
            "\u{0}",
            ",,,,,",
            "from,to,rtt_ms_min,rtt_ms_avg,rtt_ms_max,rtt_ms_mdev\n,,,,,",
            "from,to,rtt_ms_min,rtt_ms_avg,rtt_ms_max,rtt_ms_mdev\n\u{feff},é,1,1,1,1",
            "from,to,rtt_ms_min,rtt_ms_avg,rtt_ms_max,rtt_ms_mdev\nä,ö,١,1,1,1",
            "from,to,rtt_ms_min,rtt_ms_avg,rtt_ms_max,rtt_ms_mdev\r\r\n",
        ];
        for text in inputs {
            assert!(parse("odd", text).is_err(), "{text:?}");
        }
        let unicode = with_rows("é,é,1,1,1,0\n");
        assert_eq!(parse("u", &unicode).unwrap().regions(), ["é"]);
    }
}
