//! A sweep's journal, `<out>/.points/`: `scenario.json` (the resolved
//! scenario and the build that runs it) and one `run-P-sS.json` per
//! finished run (point P, seed S), each written atomically as soon as its
//! run ends. A killed sweep leaves whole records only; `--resume` reads
//! them back, runs what is missing, and the outputs assembled from all
//! records are the same bytes as an uninterrupted run's.

use super::Scenario;
use super::record::RunRecord;
use super::results;
use super::sweep::Job;
use crate::error::UserError;
use crate::output::write_atomically;
use serde_json::Value;
use std::collections::BTreeSet;
use std::io;
use std::path::{Path, PathBuf};

/// The journal's folder inside the output folder.
pub const FOLDER: &str = ".points";

const IDENTITY: &str = "scenario.json";

/// An open journal.
#[derive(Debug)]
pub struct Journal {
    folder: PathBuf,
}

/// What a resumed journal already holds.
#[derive(Debug)]
pub struct Resumed {
    /// The journal, to record the remaining runs in.
    pub journal: Journal,
    /// Records read back, in no particular order.
    pub records: Vec<RunRecord>,
    /// Record files that could not be read (their runs are done again).
    pub unreadable: Vec<PathBuf>,
}

/// Why a journal cannot be resumed.
#[derive(Debug)]
pub enum ResumeError {
    /// The journal belongs to another scenario or build.
    Changed(UserError),
    /// Reading or writing failed.
    Io(io::Error),
}

impl From<io::Error> for ResumeError {
    fn from(error: io::Error) -> Self {
        ResumeError::Io(error)
    }
}

/// What a journal is for: the resolved scenario and the build running it;
/// records of another scenario or build are not mixed in.
pub fn identity(scenario: &Scenario) -> Value {
    serde_json::json!({
        "planetsim_version": env!("CARGO_PKG_VERSION"),
        "git_revision": crate::GIT_REVISION,
        "resolved": results::resolved(scenario),
    })
}

fn to_bytes(value: &impl serde::Serialize) -> Vec<u8> {
    let mut bytes = serde_json::to_vec_pretty(value).expect("journal values serialize");
    bytes.push(b'\n');
    bytes
}

impl Journal {
    /// Starts a new journal in `out` for `scenario`, removing any earlier
    /// one.
    pub fn create(out: &Path, scenario: &Scenario) -> io::Result<Journal> {
        let folder = out.join(FOLDER);
        match std::fs::remove_dir_all(&folder) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
            _ => {}
        }
        std::fs::create_dir_all(&folder)?;
        write_atomically(&folder.join(IDENTITY), &to_bytes(&identity(scenario)))?;
        Ok(Journal { folder })
    }

    /// Reopens the journal in `out`, which must be for `scenario` (same
    /// resolved scenario, same build); `None` if `out` has no journal.
    pub fn resume(out: &Path, scenario: &Scenario) -> Result<Option<Resumed>, ResumeError> {
        let folder = out.join(FOLDER);
        let text = match std::fs::read_to_string(folder.join(IDENTITY)) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            other => other?,
        };
        let recorded: Value = serde_json::from_str(&text).map_err(|e| {
            ResumeError::Io(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("{}: {e}", folder.join(IDENTITY).display()),
            ))
        })?;
        if let Some(change) = difference(&recorded, &identity(scenario)) {
            return Err(ResumeError::Changed(UserError::new(format!(
                "--resume: {} holds runs of a different sweep: {change}. Run the same scenario (and overrides) \
                 with the same build to resume, or run without --resume to start over",
                out.display()
            ))));
        }
        let wanted: BTreeSet<Job> = super::sweep::jobs(scenario).into_iter().collect();
        let (mut records, mut unreadable) = (Vec::new(), Vec::new());
        for entry in std::fs::read_dir(&folder)? {
            let path = entry?.path();
            let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            if name.starts_with(".planetsim-") {
                // A record whose writing was interrupted: never renamed
                // into place, so its run is not done.
                std::fs::remove_file(&path)?;
                continue;
            }
            if !name.starts_with("run-") {
                continue;
            }
            let record: Option<RunRecord> = std::fs::read(&path).ok().and_then(|b| serde_json::from_slice(&b).ok());
            match record {
                Some(record)
                    if wanted.contains(&(record.point, record.seed)) && path == record_path(&folder, &record) =>
                {
                    records.push(record)
                }
                _ => unreadable.push(path),
            }
        }
        unreadable.sort();
        Ok(Some(Resumed { journal: Journal { folder }, records, unreadable }))
    }

    /// Records a finished run (atomically: a killed sweep leaves the
    /// previous state or this record whole).
    pub fn record(&self, record: &RunRecord) -> io::Result<()> {
        write_atomically(&record_path(&self.folder, record), &to_bytes(record))
    }
}

fn record_path(folder: &Path, record: &RunRecord) -> PathBuf {
    folder.join(format!("run-p{}-s{}.json", record.point, record.seed))
}

/// What differs between the journal's identity and the current one, said
/// briefly; `None` if they are equal.
fn difference(recorded: &Value, current: &Value) -> Option<String> {
    if recorded == current {
        return None;
    }
    let was_now = |what: &str, pointer: &str| {
        let (was, now) = (recorded.pointer(pointer), current.pointer(pointer));
        (was != now).then(|| format!("{what} {}, now {}", show(was), show(now)))
    };
    let points = |v: &Value| v.pointer("/resolved/points").and_then(Value::as_array).cloned().unwrap_or_default();
    let (old, new) = (points(recorded), points(current));
    let point_change = || {
        if old.len() != new.len() {
            return Some(format!("it had {} point(s), now {}", old.len(), new.len()));
        }
        old.iter().zip(&new).position(|(a, b)| a != b).map(|i| {
            let describe = |p: &Value| show(p.get("resolved"));
            format!("point {i} was {}, now {}", describe(&old[i]), describe(&new[i]))
        })
    };
    was_now("the scenario was", "/resolved/scenario")
        .or_else(|| was_now("planetsim was", "/planetsim_version"))
        .or_else(|| was_now("the git revision was", "/git_revision"))
        .or_else(|| was_now("the seeds were", "/resolved/seeds"))
        .or_else(point_change)
        .or_else(|| was_now("the overrides were", "/resolved/overrides"))
        .or_else(|| Some("the resolved scenario differs".into()))
}

fn show(value: Option<&Value>) -> String {
    value.map_or_else(|| "(none)".into(), Value::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::validate::load;

    fn scenario(extra: &str) -> Scenario {
        let text = format!(
            "sites = [\"us-central1\", \"europe-west1\", \"asia-east1\"]\nprotocols = \"tempo\"\n\
             clients_per_region = [1, 2]\nseeds = [1, 2]\n{extra}"
        );
        load("t", "t.toml", &text, Path::new(".")).unwrap()
    }

    /// A record with every field set, so a lossy round trip would show.
    fn record(point: usize, seed: u64) -> RunRecord {
        let mut record = crate::scenario::record::tests::sample_record(point, seed);
        record.totals.fast_path_ppm = Some(9);
        record.totals.unavailable_ns_max = Some(11);
        *record.totals.outcomes.count_mut(sim_core::verdict::OutcomeKind::AckedWriteLost) = 11;
        record.rows = vec![vec!["a,b".into(), "\"c\"".into()]];
        record.quantiles_ns = vec![1, 2];
        record
    }

    #[test]
    fn records_come_back_whole_and_interrupted_writes_are_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let scenario = scenario("");
        assert!(Journal::resume(dir.path(), &scenario).unwrap().is_none(), "no journal yet");
        let journal = Journal::create(dir.path(), &scenario).unwrap();
        journal.record(&record(0, 2)).unwrap();
        journal.record(&record(1, 1)).unwrap();
        let folder = dir.path().join(FOLDER);
        std::fs::write(folder.join(".planetsim-x.tmp"), b"{\"point\": 0, \"se").unwrap();
        std::fs::write(folder.join("run-p0-s1.json"), b"{\"point\": 0, \"se").unwrap();

        let resumed = Journal::resume(dir.path(), &scenario).unwrap().expect("a journal");
        let mut got = resumed.records.clone();
        got.sort_by_key(|r| (r.point, r.seed));
        assert_eq!(got, [record(0, 2), record(1, 1)]);
        assert_eq!(resumed.unreadable, [folder.join("run-p0-s1.json")]);
        assert!(!folder.join(".planetsim-x.tmp").exists());

        // A new sweep starts an empty journal.
        Journal::create(dir.path(), &scenario).unwrap();
        assert!(Journal::resume(dir.path(), &scenario).unwrap().unwrap().records.is_empty());
    }

    #[test]
    fn a_changed_scenario_is_refused_with_what_changed() {
        let dir = tempfile::tempdir().unwrap();
        Journal::create(dir.path(), &scenario("")).unwrap();
        let message = |extra: &str| match Journal::resume(dir.path(), &scenario(extra)) {
            Err(ResumeError::Changed(e)) => e.0,
            other => panic!("expected a refusal, got {other:?}"),
        };
        let changed = message("[workload]\nconflict_percent = 50\n");
        assert!(changed.contains("point 0 was ") && changed.contains("conflicts 50%"), "{changed}");
        assert!(message("commands_per_client = 5\n").contains("x 5 commands"));
        // Comments and layout are not the scenario.
        assert!(Journal::resume(dir.path(), &scenario("# a comment\n")).is_ok());
    }
}
