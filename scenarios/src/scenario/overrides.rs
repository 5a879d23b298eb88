//! `--set KEY=VALUE` and `--seed S`: edits of a scenario file's text made
//! before it is parsed, so an override is checked exactly as if it were
//! written in the file (same types, same messages), while errors elsewhere
//! keep their `file:line:column` in the file as written.
//!
//! An existing value is replaced where it stands; a missing key is
//! inserted as a (dotted) key right after the header of its nearest
//! enclosing `[table]`, or at the top of the file for top-level keys.

use crate::error::UserError;
use std::ops::Range;
use toml::de::{DeTable, DeValue};

/// One override: a dotted key path and a TOML value, with the flag that
/// gave it (errors in its value name the flag).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Override {
    /// The key path, e.g. `["workload", "conflict_percent"]`.
    pub path: Vec<String>,
    /// The value as TOML text.
    pub value: String,
    /// The flag as given, e.g. `--set f=[1,2]`.
    pub label: String,
}

impl Override {
    /// Parses `--set KEY=VALUE`. A value that is not valid TOML is taken as
    /// a string, so `--set cloud=aws` needs no quotes.
    pub fn parse_set(given: &str) -> Result<Override, UserError> {
        let label = format!("--set {given}");
        let malformed = |why: &str| {
            UserError::new(format!(
                "{label}: {why}; write --set KEY=VALUE with a scenario key and a TOML value, \
                 e.g. --set workload.conflict_percent=10 or --set f=[1,2]"
            ))
        };
        let (key, value) = given.split_once('=').ok_or_else(|| malformed("no `=`"))?;
        let path: Vec<String> = key.trim().split('.').map(|part| part.trim().to_string()).collect();
        let bare =
            |part: &String| !part.is_empty() && part.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
        if !path.iter().all(bare) {
            return Err(malformed(&format!("\"{}\" is not a key (parts are letters, digits, _ and -)", key.trim())));
        }
        let value = value.trim();
        let value = if value.is_empty() || DeValue::parse(value).is_err() {
            toml::Value::String(value.to_string()).to_string()
        } else {
            value.to_string()
        };
        Ok(Override { path, value, label })
    }

    /// `--seed S`: the scenario's seeds replaced by `S`.
    pub fn seed(seed: u64) -> Override {
        Override { path: vec!["seeds".into()], value: seed.to_string(), label: format!("--seed {seed}") }
    }

    fn key(&self) -> String {
        self.path.join(".")
    }
}

/// One change of the file's text: `original` (a range of the file, empty
/// for an insertion) becomes `text`.
#[derive(Clone, Debug)]
struct Edit {
    original: Range<usize>,
    text: String,
    label: String,
}

/// A scenario's text after its overrides, and how to map a position in it
/// back to the file.
#[derive(Clone, Debug)]
pub struct EditedText {
    /// The text to parse.
    pub text: String,
    /// Sorted by position, not overlapping.
    edits: Vec<Edit>,
}

/// Where a position of the edited text comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Origin<'a> {
    /// This byte offset of the file as written.
    File(usize),
    /// The text of this override (its flag as given).
    Override(&'a str),
}

impl EditedText {
    /// `text` with no override.
    pub fn unedited(text: &str) -> EditedText {
        EditedText { text: text.to_string(), edits: Vec::new() }
    }

    /// Where `offset` of the edited text comes from.
    pub fn origin(&self, offset: usize) -> Origin<'_> {
        // Bytes added so far by the edits before `offset` (may be negative).
        let mut shift: isize = 0;
        for edit in &self.edits {
            let start = edit.original.start.saturating_add_signed(shift);
            if offset < start {
                break;
            }
            if offset < start + edit.text.len() {
                return Origin::Override(&edit.label);
            }
            shift += edit.text.len() as isize - edit.original.len() as isize;
        }
        Origin::File(offset.saturating_add_signed(-shift))
    }
}

/// Applies `overrides` to the file's `text` (a later override of the same
/// key wins). A file that is not valid TOML is returned unedited: its own
/// error is reported first.
pub fn apply(text: &str, overrides: &[Override]) -> Result<EditedText, UserError> {
    let Ok(document) = DeTable::parse(text) else {
        return Ok(EditedText::unedited(text));
    };
    let mut kept: Vec<&Override> = Vec::new();
    for o in overrides {
        kept.retain(|k| k.path != o.path);
        if let Some(other) = kept.iter().find(|k| k.path.starts_with(&o.path) || o.path.starts_with(&k.path)) {
            return Err(UserError::new(format!(
                "{} and {} overlap: `{}` and `{}` are the same table; set each key once",
                other.label,
                o.label,
                other.key(),
                o.key()
            )));
        }
        kept.push(o);
    }
    let mut edits = kept.iter().map(|o| edit(text, document.get_ref(), o)).collect::<Result<Vec<_>, _>>()?;
    // Stable: two insertions at one place keep the order they were given.
    edits.sort_by_key(|e| e.original.start);
    let mut edited = String::with_capacity(text.len() + edits.iter().map(|e| e.text.len()).sum::<usize>());
    let mut at = 0;
    for e in &edits {
        edited.push_str(&text[at..e.original.start]);
        edited.push_str(&e.text);
        at = e.original.end;
    }
    edited.push_str(&text[at..]);
    Ok(EditedText { text: edited, edits })
}

/// The edit carrying out `o` on the file `text` (parsed as `root`).
fn edit(text: &str, root: &DeTable<'_>, o: &Override) -> Result<Edit, UserError> {
    let fail = |why: String| UserError::new(format!("{}: {why}", o.label));
    let (last, tables) = o.path.split_last().expect("a key has at least one part");
    // Where a missing key goes: after the header of the nearest enclosing
    // `[table]` (or at the top for the root), as a dotted key from there.
    let mut anchor: (usize, usize) = (top_of(text), 0); // (offset, path parts it covers)
    let mut table = Some(root);
    for (depth, part) in tables.iter().enumerate() {
        let Some(current) = table else { break };
        match current.get(part.as_str()) {
            None => table = None,
            Some(value) => {
                let span = value.span();
                let here = o.path[..=depth].join(".");
                match value.get_ref() {
                    DeValue::Table(inner) => match text.as_bytes().get(span.start) {
                        Some(b'{') => {
                            return Err(fail(format!(
                                "`{here}` is an inline table in the file; write it as a [{here}] section to \
                                 override one of its keys"
                            )));
                        }
                        Some(b'[') => {
                            anchor = (span.end, depth + 1);
                            table = Some(inner);
                        }
                        // Defined by dotted keys or only by its sub-tables'
                        // headers: a dotted key from the anchor reaches it.
                        _ => table = Some(inner),
                    },
                    _ => return Err(fail(format!("`{here}` is a value in the file, not a table"))),
                }
            }
        }
    }
    if let Some(existing) = table.and_then(|t| t.get(last.as_str())) {
        if let DeValue::Table(_) = existing.get_ref() {
            return Err(fail(format!(
                "`{}` is a table; set its keys one by one, e.g. --set {}.KEY=VALUE",
                o.key(),
                o.key()
            )));
        }
        return Ok(Edit { original: existing.span(), text: o.value.clone(), label: o.label.clone() });
    }
    let (offset, covered) = anchor;
    let line = format!("{} = {}", o.path[covered..].join("."), o.value);
    let text = if covered == 0 { format!("{line}\n") } else { format!("\n{line}") };
    Ok(Edit { original: offset..offset, text, label: o.label.clone() })
}

/// Offset of the first line that is neither blank nor a comment (where
/// top-level keys can be inserted, after the file's opening comment).
fn top_of(text: &str) -> usize {
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        let trimmed = line.trim();
        if !trimmed.is_empty() && !trimmed.starts_with('#') {
            return offset;
        }
        offset += line.len();
    }
    offset
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(text: &str, given: &[&str]) -> Result<EditedText, UserError> {
        let overrides: Vec<Override> = given.iter().map(|g| Override::parse_set(g).unwrap()).collect();
        apply(text, &overrides)
    }

    const FILE: &str = "# question\nprotocols = \"tempo\"\nf = 1 # one\n\n[workload]\nconflict_percent = 2\n\
                        \n[options.tempo]\nnfr = true\n";

    #[test]
    fn replaces_values_where_they_stand() {
        let edited = set(FILE, &["f=[1,2]", "workload.conflict_percent=10"]).unwrap();
        assert_eq!(edited.text, FILE.replace("f = 1", "f = [1,2]").replace("percent = 2", "percent = 10"));
        // The file's own text maps back to itself, the new values to the flags.
        let f_value = edited.text.find("[1,2]").unwrap();
        assert_eq!(edited.origin(f_value), Origin::Override("--set f=[1,2]"));
        let after = edited.text.find("# one").unwrap();
        assert_eq!(edited.origin(after), Origin::File(FILE.find("# one").unwrap()));
        let last = edited.text.find("nfr").unwrap();
        assert_eq!(edited.origin(last), Origin::File(FILE.find("nfr").unwrap()));
    }

    #[test]
    fn inserts_missing_keys_under_their_table() {
        let edited =
            set(FILE, &["seeds=[3, 4]", "workload.hot_keys=5", "options.atlas.nfr=true", "delay.jitter=true"]).unwrap();
        let table: toml::Table = edited.text.parse().expect("still TOML");
        assert_eq!(table["seeds"], toml::Value::Array(vec![3.into(), 4.into()]));
        assert_eq!(table["workload"]["hot_keys"], 5.into());
        assert_eq!(table["workload"]["conflict_percent"], 2.into());
        assert_eq!(table["options"]["atlas"]["nfr"], true.into());
        assert_eq!(table["options"]["tempo"]["nfr"], true.into());
        assert_eq!(table["delay"]["jitter"], true.into());
        // Top-level keys go after the opening comment, so it stays the question.
        assert!(edited.text.starts_with("# question\nseeds = [3, 4]\n"), "{}", edited.text);
        let inserted = edited.text.find("hot_keys").unwrap();
        assert_eq!(edited.origin(inserted), Origin::Override("--set workload.hot_keys=5"));
        let conflict = edited.text.find("conflict_percent").unwrap();
        assert_eq!(edited.origin(conflict), Origin::File(FILE.find("conflict_percent").unwrap()));
    }

    #[test]
    fn bare_words_are_strings_and_the_last_override_wins() {
        let edited = set("protocols = \"tempo\"\n", &["cloud=aws", "cloud=gcp"]).unwrap();
        let table: toml::Table = edited.text.parse().unwrap();
        assert_eq!(table["cloud"], "gcp".into());
        assert_eq!(edited.text.matches("cloud").count(), 1);
    }

    #[test]
    fn bad_overrides_say_why() {
        let error = Override::parse_set("f").unwrap_err();
        assert!(error.0.starts_with("--set f: no `=`"), "{error}");
        let error = Override::parse_set("a..b=1").unwrap_err();
        assert!(error.0.contains("\"a..b\" is not a key"), "{error}");
        let error = set(FILE, &["f.x=1"]).unwrap_err();
        assert!(error.0.starts_with("--set f.x=1: `f` is a value in the file, not a table"), "{error}");
        let error = set(FILE, &["workload=3"]).unwrap_err();
        assert!(error.0.contains("`workload` is a table; set its keys one by one"), "{error}");
        let error = set(FILE, &["workload.hot_keys=1", "workload=3"]).unwrap_err();
        assert!(error.0.contains("overlap"), "{error}");
        let error = set("w = { a = 1 }\n", &["w.b=2"]).unwrap_err();
        assert!(error.0.contains("inline table"), "{error}");
    }
}
