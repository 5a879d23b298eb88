//! Strict fixed-point milliseconds <-> integer nanoseconds.
//!
//! Stored values never go through floating point: `"104.919"` becomes exactly
//! `104_919_000` ns and prints back as `"104.919"`.

use crate::error::NumberProblem;

/// Nanoseconds per millisecond.
const NS_PER_MS: u64 = 1_000_000;

/// Most fractional digits a value may have (one nanosecond = 0.000001 ms).
pub(crate) const MAX_DECIMALS: usize = 6;

/// Parses a non-negative decimal number of milliseconds (`digits[.digits]`,
/// at most [`MAX_DECIMALS`] fractional digits) into integer nanoseconds.
pub(crate) fn parse_ms(text: &str) -> Result<u64, NumberProblem> {
    if text.is_empty() {
        return Err(NumberProblem::Empty);
    }
    let unsigned = text.strip_prefix(['-', '+']).unwrap_or(text);
    let lower = unsigned.to_ascii_lowercase();
    if matches!(lower.as_str(), "nan" | "inf" | "infinity") {
        return Err(NumberProblem::NotFinite);
    }
    if text.starts_with('-') && looks_numeric(unsigned) {
        return Err(NumberProblem::Negative);
    }
    if looks_numeric(unsigned) && lower.contains('e') {
        return Err(NumberProblem::Exponent);
    }
    let (int_part, frac_part) = match text.split_once('.') {
        Some((int_part, frac_part)) => (int_part, Some(frac_part)),
        None => (text, None),
    };
    if !is_digits(int_part) || frac_part.is_some_and(|f| !is_digits(f)) {
        return Err(NumberProblem::NotANumber);
    }
    let frac = frac_part.unwrap_or("");
    if frac.len() > MAX_DECIMALS {
        return Err(NumberProblem::TooManyDecimals);
    }
    let mut ms: u64 = 0;
    for digit in int_part.bytes() {
        ms = ms.checked_mul(10).and_then(|v| v.checked_add(u64::from(digit - b'0'))).ok_or(NumberProblem::TooLarge)?;
    }
    let mut frac_ns: u64 = 0;
    let mut scale = NS_PER_MS;
    for digit in frac.bytes() {
        scale /= 10;
        frac_ns += u64::from(digit - b'0') * scale;
    }
    ms.checked_mul(NS_PER_MS).and_then(|ns| ns.checked_add(frac_ns)).ok_or(NumberProblem::TooLarge)
}

/// Formats integer nanoseconds as milliseconds with at least 3 decimals and
/// as many more (up to 6) as needed to be exact.
pub(crate) fn format_ms(ns: u64) -> String {
    let ms = ns / NS_PER_MS;
    let frac = format!("{:06}", ns % NS_PER_MS);
    let frac = frac.trim_end_matches('0');
    let digits = frac.len().max(3);
    format!("{ms}.{frac:0<digits$}")
}

/// Non-empty and only ASCII digits.
fn is_digits(text: &str) -> bool {
    !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit())
}

/// Digits, dots and exponent markers only, with at least one digit: a number
/// in some notation we might not accept, as opposed to arbitrary text.
fn looks_numeric(text: &str) -> bool {
    text.bytes().any(|b| b.is_ascii_digit())
        && text.bytes().all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'-' | b'+'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_exact_fixed_point() {
        assert_eq!(parse_ms("104.919"), Ok(104_919_000));
        assert_eq!(parse_ms("0.127"), Ok(127_000));
        assert_eq!(parse_ms("7"), Ok(7_000_000));
        assert_eq!(parse_ms("0.000001"), Ok(1));
        assert_eq!(parse_ms("12.5"), Ok(12_500_000));
        assert_eq!(parse_ms("0"), Ok(0));
        assert_eq!(parse_ms("007.100"), Ok(7_100_000));
    }

    #[test]
    fn rejects_bad_numbers() {
        assert_eq!(parse_ms(""), Err(NumberProblem::Empty));
        assert_eq!(parse_ms("-3.2"), Err(NumberProblem::Negative));
        assert_eq!(parse_ms("-0"), Err(NumberProblem::Negative));
        assert_eq!(parse_ms("NaN"), Err(NumberProblem::NotFinite));
        assert_eq!(parse_ms("inf"), Err(NumberProblem::NotFinite));
        assert_eq!(parse_ms("-Infinity"), Err(NumberProblem::NotFinite));
        assert_eq!(parse_ms("1e3"), Err(NumberProblem::Exponent));
        assert_eq!(parse_ms("1.5E-2"), Err(NumberProblem::Exponent));
        assert_eq!(parse_ms("0.0000001"), Err(NumberProblem::TooManyDecimals));
        assert_eq!(parse_ms("abc"), Err(NumberProblem::NotANumber));
        assert_eq!(parse_ms("+3"), Err(NumberProblem::NotANumber));
        assert_eq!(parse_ms("1."), Err(NumberProblem::NotANumber));
        assert_eq!(parse_ms(".5"), Err(NumberProblem::NotANumber));
        assert_eq!(parse_ms("1.2.3"), Err(NumberProblem::NotANumber));
        assert_eq!(parse_ms("1,5"), Err(NumberProblem::NotANumber));
        assert_eq!(parse_ms("١٢"), Err(NumberProblem::NotANumber));
        assert_eq!(parse_ms("99999999999999999999"), Err(NumberProblem::TooLarge));
        assert_eq!(parse_ms("18446744073709.551616"), Err(NumberProblem::TooLarge));
    }

    #[test]
    fn formats_exactly() {
        assert_eq!(format_ms(104_919_000), "104.919");
        assert_eq!(format_ms(0), "0.000");
        assert_eq!(format_ms(7_000_000), "7.000");
        assert_eq!(format_ms(12_500_000), "12.500");
        assert_eq!(format_ms(104_919_500), "104.9195");
        assert_eq!(format_ms(1), "0.000001");
        assert_eq!(format_ms(u64::MAX), "18446744073709.551615");
    }

    #[test]
    fn round_trips() {
        for ns in [0, 1, 999, 1_000, 127_000, 104_919_000, 104_919_501, u64::MAX] {
            assert_eq!(parse_ms(&format_ms(ns)), Ok(ns), "{ns}");
        }
    }
}
