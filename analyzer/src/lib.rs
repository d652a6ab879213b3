//! seamless-analyzer: failure windows, downtime bounds, latency by rollout
//! phase, backends, reports (text, Markdown, JSON) and plots (PNG, SVG) from
//! the probe logs and the rollout timeline of a run.
//!
//! The library entry point is [`analyze`]:
//!
//! ```no_run
//! use seamless_analyzer::{analyze, AnalyzeOptions};
//! let report = analyze("runs/r1".as_ref(), &AnalyzeOptions::default()).unwrap();
//! for w in &report.merged.windows {
//!     println!("{} failed, {}..{:?} ns", w.failed, w.lower_ns, w.upper_ns);
//! }
//! ```
//!
//! A failure window is a maximal run of failed probes in start order; local
//! errors (the prober's own trouble) are skipped, neither failures nor
//! successes. Downtime is a range: `lower = last_fail - first_fail`,
//! `upper = first_ok_after - last_ok_before`.

mod analyze;
pub mod cli;
mod clocks;
pub mod compare;
pub mod connections;
pub mod control;
mod error;
mod export;
mod gate;
pub mod html;
mod load;
mod markdown;
mod options;
mod output;
pub mod plot;
mod probes;
mod query;
pub mod race;
pub mod report;
mod spill;
mod stats;
mod stream;
mod summary;
pub mod synth;
pub mod truth;
mod walks;
mod windows;

use std::path::Path;

pub use analyze::{Analysis, Gather};
pub use compare::{CompareRow, Comparison, GroupStats, Quantiles, compare, compare_table};
pub use error::{Error, Result};
pub use export::{ExportFormat, export};
pub use gate::{Gate, check_gate, check_summary, junit};
pub use markdown::{markdown, terminal_table};
pub use options::AnalyzeOptions;
pub use report::{Report, Summary, Window};
pub use truth::{TruthCheck, check_run as check_truth};

/// Analyses a run directory (its `probe-*.log`, `timeline.jsonl` and
/// `run.json`) or a bare probe log, and returns the report that
/// `report.json` holds.
pub fn analyze(run_dir_or_log: &Path, opts: &AnalyzeOptions) -> Result<Report> {
    Ok(Analysis::run(run_dir_or_log, opts)?.report)
}
