//! Scenario files: a TOML description of one or many runs (sweep axes
//! given as lists, their cartesian product run), parsed (`schema`), then
//! validated into points (`validate`), then run in parallel (`sweep`),
//! each run kept as a `record`, and the `results` written. Library
//! scenarios are embedded in the binary.

pub mod comparison;
pub mod faults;
pub mod journal;
pub mod overrides;
pub mod record;
pub mod results;
pub mod schema;
pub mod sweep;
pub mod validate;

pub use overrides::Override;
pub use validate::{Point, Scenario};

use crate::error::UserError;
use std::path::Path;

/// The library: (name, file text), embedded so that `sim --scenario NAME`
/// works from any directory.
pub const LIBRARY: &[(&str, &str)] = &[
    ("tempo-vs-atlas", include_str!("../../library/tempo-vs-atlas.toml")),
    ("sites-3-to-13", include_str!("../../library/sites-3-to-13.toml")),
    ("fairness-tail", include_str!("../../library/fairness-tail.toml")),
    ("fast-path-vs-conflicts", include_str!("../../library/fast-path-vs-conflicts.toml")),
    ("throughput-vs-load", include_str!("../../library/throughput-vs-load.toml")),
    ("tail-under-load", include_str!("../../library/tail-under-load.toml")),
    ("classic-vs-leaderless", include_str!("../../library/classic-vs-leaderless.toml")),
    ("leader-crash", include_str!("../../library/leader-crash.toml")),
    ("region-partition", include_str!("../../library/region-partition.toml")),
    ("slow-link", include_str!("../../library/slow-link.toml")),
    ("lossy-wan", include_str!("../../library/lossy-wan.toml")),
    ("what-you-lose", include_str!("../../library/what-you-lose.toml")),
    ("smoke", include_str!("../../library/smoke.toml")),
];

/// The question a scenario answers: its first comment line.
pub fn question(text: &str) -> &str {
    text.lines().map(str::trim).find_map(|line| line.strip_prefix('#')).map(str::trim).unwrap_or("(no opening comment)")
}

/// One line per library scenario: name and question.
pub fn list() -> String {
    LIBRARY.iter().map(|(name, text)| format!("{name:<24} {}\n", question(text))).collect()
}

/// Loads `path_or_name`: an existing file, else a library scenario by name
/// (with or without `.toml`); `overrides` are applied to its text first.
pub fn find(path_or_name: &str, overrides: &[Override]) -> Result<Scenario, UserError> {
    let path = Path::new(path_or_name);
    if path.is_file() {
        let text = std::fs::read_to_string(path)
            .map_err(|e| UserError::new(format!("cannot read scenario {}: {e}", path.display())))?;
        let name = path.file_stem().map_or_else(|| "scenario".into(), |s| s.to_string_lossy().into_owned());
        let base = path.parent().unwrap_or(Path::new("."));
        return validate::load_with(&name, &path.display().to_string(), &text, base, overrides);
    }
    let wanted = path_or_name.strip_suffix(".toml").unwrap_or(path_or_name);
    let wanted = Path::new(wanted).file_name().map_or(wanted.into(), |s| s.to_string_lossy().into_owned());
    match LIBRARY.iter().find(|(name, _)| *name == wanted) {
        Some((name, text)) => validate::load_with(name, &format!("library:{name}"), text, Path::new("."), overrides),
        None => {
            let names: Vec<&str> = LIBRARY.iter().map(|(name, _)| *name).collect();
            let hint = validate::nearest(&wanted, names.iter().copied())
                .map(|s| format!(" (did you mean \"{s}\"?)"))
                .unwrap_or_default();
            Err(UserError::new(format!(
                "--scenario \"{path_or_name}\" is neither a file nor a library scenario{hint}; library scenarios: {}",
                names.join(", ")
            )))
        }
    }
}
