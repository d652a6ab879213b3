//! `compare`: one row per run, side by side.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::markdown::{fmt_ns, fmt_range};
use crate::{AnalyzeOptions, Result, analyze};

/// One run in a comparison.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CompareRow {
    /// Scenario from run.json, else the directory or file name.
    pub name: String,
    /// The run directory or log.
    pub source: String,
    /// Probes, all agents.
    pub probes: u64,
    /// Failed probes.
    pub failed: u64,
    /// Local errors.
    pub local_errors: u64,
    /// Failed probes by kind.
    pub kinds: BTreeMap<String, u64>,
    /// Failure windows.
    pub windows: u64,
    /// Downtime lower bound, ns.
    pub lower_ns: i64,
    /// Downtime upper bound, ns; `None` when unbounded.
    pub upper_ns: Option<i64>,
    /// Median probe interval, ns: the resolution.
    pub interval_ns: i64,
}

/// Analyses every run and returns one row each, in the order given.
pub fn compare(runs: &[&Path], opts: &AnalyzeOptions) -> Result<Vec<CompareRow>> {
    runs.iter()
        .map(|run| {
            let r = analyze(run, opts)?;
            let m = &r.merged;
            let name = r.scenario.clone().unwrap_or_else(|| {
                run.file_name()
                    .map_or_else(|| r.source.clone(), |n| n.to_string_lossy().into_owned())
            });
            Ok(CompareRow {
                name,
                source: r.source.clone(),
                probes: m.totals.probes,
                failed: m.totals.failed,
                local_errors: m.totals.local_errors,
                kinds: m.totals.failed_by_kind.clone(),
                windows: m.downtime.windows,
                lower_ns: m.downtime.lower_ns,
                upper_ns: m.downtime.upper_ns,
                interval_ns: m.interval.median_ns,
            })
        })
        .collect()
}

impl CompareRow {
    /// Failed probes by kind, as `kind n, kind n`; empty when none failed.
    pub fn kinds_text(&self) -> String {
        self.kinds
            .iter()
            .map(|(k, n)| format!("{k} {n}"))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// The comparison as a Markdown table (also readable on a terminal).
pub fn compare_table(rows: &[CompareRow]) -> String {
    let mut out = String::from(
        "| run | probes | failed | local | windows | downtime (lower .. upper) | interval | kinds |\n|---|---|---|---|---|---|---|---|\n",
    );
    for r in rows {
        let kinds = r.kinds_text();
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {} | {} |",
            r.name,
            r.probes,
            r.failed,
            r.local_errors,
            r.windows,
            fmt_range(r.lower_ns, r.upper_ns),
            fmt_ns(r.interval_ns),
            if kinds.is_empty() { "-" } else { &kinds }
        );
    }
    out
}
