//! Running a scenario: every (point, seed) is one single-threaded run;
//! runs execute in parallel on a rayon pool and their records are kept in
//! (point, seed) order, so every output is the same whatever the number of
//! threads.

use super::Scenario;
use super::record::RunRecord;
use crate::error::UserError;
use rayon::prelude::*;

/// One run to do: (point index, seed).
pub type Job = (usize, u64);

/// Every (point, seed) of `scenario`, in output order: points in sweep
/// order, each with the seeds in the order the scenario gives them.
pub fn jobs(scenario: &Scenario) -> Vec<Job> {
    scenario.points.iter().flat_map(|p| scenario.seeds.iter().map(move |&seed| (p.index, seed))).collect()
}

/// A pool of `threads` worker threads for [`run`].
pub fn pool(threads: usize) -> Result<rayon::ThreadPool, UserError> {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads.max(1))
        .build()
        .map_err(|e| UserError::new(format!("--threads {threads}: cannot start the thread pool: {e}")))
}

/// Runs `jobs` on `pool`, handing each record to `done` as soon as its run
/// ends (from whichever thread ran it, so `done` may be called
/// concurrently); returns the records in the order of `jobs`. Stops at the
/// first error `done` returns.
pub fn run<E: Send>(
    scenario: &Scenario,
    pool: &rayon::ThreadPool,
    jobs: &[Job],
    done: impl Fn(&RunRecord) -> Result<(), E> + Sync,
) -> Result<Vec<RunRecord>, E> {
    // An indexed parallel iterator collects in input order, whichever
    // thread finished first.
    pool.install(|| {
        jobs.par_iter()
            .map(|&(point, seed)| {
                let run = &scenario.points[point].run;
                let mut config = run.config.clone();
                config.seed = seed;
                let report = run.protocol.run_with(&config, &run.options);
                let record = RunRecord::new(scenario, point, seed, &report);
                done(&record)?;
                Ok(record)
            })
            .collect()
    })
}

/// Puts `records` in output order (that of [`jobs`]).
pub fn sort(scenario: &Scenario, records: &mut [RunRecord]) {
    let seed_rank = |seed: u64| scenario.seeds.iter().position(|&s| s == seed).unwrap_or(usize::MAX);
    records.sort_by_key(|r| (r.point, seed_rank(r.seed)));
}
