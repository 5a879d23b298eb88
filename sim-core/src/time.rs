//! Simulated time: an integer number of nanoseconds since the start of a run.
//!
//! Nanoseconds are fine enough for per-message CPU costs (later issue) and a
//! `u64` lasts 584 years, so no run can overflow it. Durations are plain
//! `u64` values whose names end in `_ns`.

use std::fmt;

/// An instant of simulated time, in nanoseconds since the run started.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Time(u64);

/// Nanoseconds in one millisecond.
pub const NS_PER_MS: u64 = 1_000_000;
/// Nanoseconds in one second.
pub const NS_PER_S: u64 = 1_000_000_000;

impl Time {
    /// The start of every run.
    pub const ZERO: Time = Time(0);

    /// The instant `ns` nanoseconds after the start.
    pub const fn from_ns(ns: u64) -> Time {
        Time(ns)
    }

    /// Nanoseconds since the start.
    pub const fn as_ns(self) -> u64 {
        self.0
    }

    /// This instant plus a duration; saturates instead of wrapping, so a
    /// huge timeout means "never" rather than "in the past".
    #[must_use]
    pub const fn plus_ns(self, duration_ns: u64) -> Time {
        Time(self.0.saturating_add(duration_ns))
    }

    /// The duration from `earlier` to `self`; zero if `earlier` is later.
    pub const fn since(self, earlier: Time) -> u64 {
        self.0.saturating_sub(earlier.0)
    }
}

impl fmt::Display for Time {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}ms", format_ns_as_ms(self.0))
    }
}

/// Formats nanoseconds as milliseconds with six decimals, using integer
/// arithmetic so the text is exact and identical on every platform.
pub fn format_ns_as_ms(ns: u64) -> String {
    format!("{}.{:06}", ns / NS_PER_MS, ns % NS_PER_MS)
}

/// Formats nanoseconds as seconds: whole seconds without decimals,
/// otherwise with the decimals needed (exact, integer arithmetic).
pub fn format_ns_as_s(ns: u64) -> String {
    if ns.is_multiple_of(NS_PER_S) {
        (ns / NS_PER_S).to_string()
    } else {
        format!("{}.{:09}", ns / NS_PER_S, ns % NS_PER_S).trim_end_matches('0').to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_exactly() {
        assert_eq!(format_ns_as_ms(139_875_500), "139.875500");
        assert_eq!(format_ns_as_ms(7), "0.000007");
        assert_eq!(Time::from_ns(2_000_000).to_string(), "2.000000ms");
        assert_eq!(format_ns_as_s(3 * NS_PER_S), "3");
        assert_eq!(format_ns_as_s(2_500_000_000), "2.5");
        assert_eq!(format_ns_as_s(1), "0.000000001");
    }

    #[test]
    fn arithmetic_saturates() {
        assert_eq!(Time::from_ns(u64::MAX).plus_ns(1).as_ns(), u64::MAX);
        assert_eq!(Time::from_ns(3).since(Time::from_ns(5)), 0);
        assert_eq!(Time::from_ns(5).since(Time::from_ns(3)), 2);
    }
}
