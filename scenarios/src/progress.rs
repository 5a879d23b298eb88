//! Progress of a sweep, on stderr so stdout stays the results: a progress
//! bar (done / total, ETA) on a terminal, one plain line per finished run
//! otherwise (logs, pipes, tests).

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Reports finished runs; shared by the sweep's threads.
#[derive(Debug)]
pub enum Progress {
    /// A bar redrawn in place.
    Bar(ProgressBar),
    /// `run k/N done (...)` lines.
    Lines {
        /// Runs done so far, those done before a resume included.
        done: AtomicUsize,
        /// Runs in the sweep.
        total: usize,
    },
}

impl Progress {
    /// Progress of `total` runs of which `done` are already done (resumed);
    /// a bar if stderr is a terminal, lines otherwise.
    pub fn new(total: usize, done: usize) -> Progress {
        if std::io::stderr().is_terminal() {
            let bar = ProgressBar::with_draw_target(Some(total as u64), ProgressDrawTarget::stderr());
            bar.set_style(
                ProgressStyle::with_template("{bar:40.cyan/blue} {pos}/{len} runs | {elapsed} elapsed, ETA {eta}")
                    .expect("a valid template")
                    .progress_chars("=> "),
            );
            // Runs already done do not count towards the rate, so the ETA
            // is that of the runs left.
            bar.set_position(done as u64);
            bar.reset_eta();
            Progress::Bar(bar)
        } else {
            Progress::Lines { done: AtomicUsize::new(done), total }
        }
    }

    /// One more run done: `point` with `seed`.
    pub fn run_done(&self, point: usize, seed: u64) {
        match self {
            Progress::Bar(bar) => bar.inc(1),
            Progress::Lines { done, total } => {
                let done = done.fetch_add(1, Ordering::Relaxed) + 1;
                eprintln!("run {done}/{total} done (point {point}, seed {seed})");
            }
        }
    }

    /// Removes the bar (lines stay).
    pub fn finish(&self) {
        if let Progress::Bar(bar) = self {
            bar.finish_and_clear();
        }
    }
}
