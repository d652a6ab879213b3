//! The matrix's progress where a person waits: on a terminal, a bar with
//! the runs done, the runs that failed so far and the time left, each run's
//! line printed above it; otherwise (a file, a pipe, CI) the plain line per
//! run alone.

use std::io::IsTerminal;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};

/// The matrix's progress.
pub struct Progress {
    bar: Option<ProgressBar>,
    failed: u64,
}

impl Progress {
    /// For `total` runs; a bar only when stderr is a terminal.
    pub fn new(total: u64) -> Progress {
        let bar = std::io::stderr().is_terminal().then(|| {
            let b = ProgressBar::new(total);
            b.set_style(
                ProgressStyle::with_template(
                    "{bar:30} {pos}/{len} runs, {msg}, {elapsed} so far, about {eta} left",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
            );
            b.set_message("0 failed");
            b.enable_steady_tick(Duration::from_secs(1));
            b
        });
        Progress { bar, failed: 0 }
    }

    /// A run ended: its line, and whether it failed.
    pub fn run_done(&mut self, line: &str, failed: bool) {
        self.failed += u64::from(failed);
        match &self.bar {
            Some(b) => {
                b.println(line);
                b.set_message(format!("{} failed", self.failed));
                b.inc(1);
            }
            None => eprintln!("{line}"),
        }
    }

    /// A line that is not a run's end (e.g. an interruption).
    pub fn say(&self, line: &str) {
        match &self.bar {
            Some(b) => b.println(line),
            None => eprintln!("{line}"),
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        if let Some(b) = &self.bar {
            b.finish_and_clear();
        }
    }
}
