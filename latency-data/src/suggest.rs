//! "Did you mean" suggestions for mistyped names.

/// At most this many suggestions.
const MAX_SUGGESTIONS: usize = 3;

/// Up to 3 `candidates` nearest to `wanted`, best first.
///
/// Compared case-insensitively. Candidates containing `wanted` come first,
/// then by Levenshtein distance, then by name; candidates further than
/// `max(2, len / 3)` edits that do not contain `wanted` are not suggested.
pub(crate) fn nearest<'a>(wanted: &str, candidates: impl IntoIterator<Item = &'a str>) -> Vec<String> {
    let wanted_lower = wanted.to_lowercase();
    let limit = (wanted_lower.chars().count() / 3).max(2);
    let mut scored: Vec<(bool, usize, &str)> = candidates
        .into_iter()
        .filter_map(|candidate| {
            let lower = candidate.to_lowercase();
            let contains = !wanted_lower.is_empty() && lower.contains(&wanted_lower);
            let distance = strsim::levenshtein(&wanted_lower, &lower);
            (contains || distance <= limit).then_some((!contains, distance, candidate))
        })
        .collect();
    scored.sort_unstable();
    scored.into_iter().take(MAX_SUGGESTIONS).map(|(_, _, name)| name.to_owned()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranks_substring_then_distance() {
        let names = ["us-central1", "us-east1", "us-west1", "europe-west1"];
        assert_eq!(nearest("us-central", names), ["us-central1"]);
        assert_eq!(nearest("US-EAST1", names), ["us-east1", "us-west1"]);
        assert_eq!(nearest("us-west2", names), ["us-west1"]);
        assert_eq!(nearest("us-wst", names), ["us-west1"]);
        assert!(nearest("mars-north1", names).is_empty());
        assert!(nearest("", names).is_empty());
    }
}
