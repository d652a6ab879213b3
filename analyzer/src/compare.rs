//! `compare`: runs grouped (by scenario, or by a run.json key), each group
//! as a distribution, and every run kept as a row with its run id.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::path::Path;

use serde::{Deserialize, Serialize};
use tracing::warn;

use crate::markdown::{fmt_ns, fmt_range};
use crate::{AnalyzeOptions, Error, Report, Result, analyze};

/// The default grouping key.
pub const GROUP_BY_SCENARIO: &str = "scenario";

/// One run in a comparison.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CompareRow {
    /// The run's id: its directory's parent and name (`scenario/run-01`),
    /// or the file name of a bare log.
    pub run: String,
    /// The group it belongs to.
    pub group: String,
    /// Scenario from run.json, else the directory or file name.
    pub name: String,
    /// The run directory or log.
    pub source: String,
    /// True when read from the run's `report.json` (a run without probe
    /// logs) rather than analysed here.
    pub from_report: bool,
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

/// Order statistics of a bound over a group's runs (nearest rank); an open
/// upper bound counts as larger than any, and `None` says the statistic
/// landed on one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Quantiles {
    /// Median, ns.
    pub median_ns: Option<i64>,
    /// 95th percentile, ns.
    pub p95_ns: Option<i64>,
    /// Largest, ns.
    pub max_ns: Option<i64>,
}

/// One group of runs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GroupStats {
    /// The group's value of the grouping key.
    pub group: String,
    /// Whether the group's runs have a preStop hook, when its name says so
    /// (`...-prestop` / `...-no-prestop`).
    pub prestop: Option<bool>,
    /// Runs.
    pub runs: u64,
    /// Runs with at least one failed probe.
    pub runs_failed: u64,
    /// The downtime's lower bound over the runs.
    pub lower: Quantiles,
    /// The downtime's upper bound over the runs.
    pub upper: Quantiles,
    /// Runs whose upper bound is open.
    pub upper_open: u64,
    /// Failed probes: median over the runs.
    pub failed_median: u64,
    /// Failed probes: most in one run.
    pub failed_max: u64,
    /// Failed probes: all runs together.
    pub failed_total: u64,
    /// Failed probes by kind, all runs together.
    pub kinds: BTreeMap<String, u64>,
}

/// A comparison: groups, then every run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Comparison {
    /// The grouping key (`scenario`, or a run.json key such as `lab.network`).
    pub group_by: String,
    /// The groups, in the order their first run was given.
    pub groups: Vec<GroupStats>,
    /// Every run, in the order given.
    pub runs: Vec<CompareRow>,
}

/// The run id of a path: parent and name (`scenario/run-01`).
fn run_id(path: &Path) -> String {
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
    let parent = path
        .parent()
        .and_then(Path::file_name)
        .map(|n| n.to_string_lossy().into_owned());
    match (parent, name) {
        (Some(p), Some(n)) if path.is_dir() => format!("{p}/{n}"),
        (_, Some(n)) => n,
        _ => path.display().to_string(),
    }
}

/// A dotted key (`lab.network`) of run.json, as text.
fn lookup(report: &Report, key: &str) -> Option<String> {
    let mut v = serde_json::to_value(report.run_info.as_ref()?).ok()?;
    for part in key.split('.') {
        v = v.get(part)?.clone();
    }
    match v {
        serde_json::Value::Null => None,
        serde_json::Value::String(s) => Some(s),
        other => Some(other.to_string()),
    }
}

/// The report of one run: analysed from its probe logs, or, for a run
/// directory without any (a committed run keeps only its reports), read
/// from its `report.json`.
fn report_of(run: &Path, opts: &AnalyzeOptions) -> Result<(Report, bool)> {
    let report_json = run.join(seamless_proto::run::REPORT_JSON);
    let has_logs = !run.is_dir()
        || !seamless_proto::run::probe_logs(run)
            .map_err(Error::io(run))?
            .is_empty();
    if has_logs || !report_json.is_file() {
        return Ok((analyze(run, opts)?, false));
    }
    let bytes = std::fs::read(&report_json).map_err(Error::io(&report_json))?;
    let report: Report = serde_json::from_slice(&bytes).map_err(|source| Error::Report {
        path: report_json.clone(),
        source,
    })?;
    if report.options != *opts {
        warn!(
            "{} has no probe log: its report.json is used, made with other analysis options ({})",
            run.display(),
            serde_json::to_string(&report.options).unwrap_or_default()
        );
    }
    Ok((report, true))
}

/// Analyses every run (or reads the `report.json` of a run without probe
/// logs) and groups them by `group_by` (default: the scenario).
pub fn compare(
    runs: &[&Path],
    opts: &AnalyzeOptions,
    group_by: Option<&str>,
) -> Result<Comparison> {
    let key = group_by.unwrap_or(GROUP_BY_SCENARIO);
    let rows = runs
        .iter()
        .map(|run| {
            let (r, from_report) = report_of(run, opts)?;
            let m = &r.merged;
            let name = r.scenario.clone().unwrap_or_else(|| {
                run.file_name()
                    .map_or_else(|| r.source.clone(), |n| n.to_string_lossy().into_owned())
            });
            let group = if key == GROUP_BY_SCENARIO {
                name.clone()
            } else {
                lookup(&r, key).unwrap_or_else(|| "(none)".to_owned())
            };
            Ok(CompareRow {
                run: run_id(run),
                group,
                name,
                source: r.source.clone(),
                from_report,
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
        .collect::<Result<Vec<_>>>()?;
    Ok(Comparison {
        group_by: key.to_owned(),
        groups: groups(&rows),
        runs: rows,
    })
}

/// Nearest-rank quantile of sorted values (`None` sorts last).
fn rank(sorted: &[Option<i64>], q: f64) -> Option<i64> {
    let n = sorted.len();
    if n == 0 {
        return None;
    }
    let i = ((q * n as f64).ceil() as usize).clamp(1, n) - 1;
    sorted[i]
}

fn quantiles(mut v: Vec<Option<i64>>) -> Quantiles {
    v.sort_by_key(|x| x.unwrap_or(i64::MAX));
    Quantiles {
        median_ns: rank(&v, 0.5),
        p95_ns: rank(&v, 0.95),
        max_ns: v.last().copied().flatten(),
    }
}

/// Whether a group's name says it has a preStop hook.
pub fn prestop_of(group: &str) -> Option<bool> {
    if group.ends_with("no-prestop") {
        Some(false)
    } else if group.ends_with("prestop") {
        Some(true)
    } else {
        None
    }
}

/// The groups of rows, in order of first appearance.
pub fn groups(rows: &[CompareRow]) -> Vec<GroupStats> {
    let mut order: Vec<String> = Vec::new();
    for r in rows {
        if !order.contains(&r.group) {
            order.push(r.group.clone());
        }
    }
    order
        .into_iter()
        .map(|g| {
            let members: Vec<&CompareRow> = rows.iter().filter(|r| r.group == g).collect();
            let mut failed: Vec<u64> = members.iter().map(|r| r.failed).collect();
            failed.sort_unstable();
            let mut kinds = BTreeMap::new();
            for r in &members {
                for (k, n) in &r.kinds {
                    *kinds.entry(k.clone()).or_insert(0) += n;
                }
            }
            GroupStats {
                prestop: prestop_of(&g),
                runs: members.len() as u64,
                runs_failed: members.iter().filter(|r| r.failed > 0).count() as u64,
                lower: quantiles(members.iter().map(|r| Some(r.lower_ns)).collect()),
                upper: quantiles(members.iter().map(|r| r.upper_ns).collect()),
                upper_open: members.iter().filter(|r| r.upper_ns.is_none()).count() as u64,
                failed_median: failed
                    .get((failed.len().max(1) - 1) / 2)
                    .copied()
                    .unwrap_or(0),
                failed_max: failed.last().copied().unwrap_or(0),
                failed_total: failed.iter().sum(),
                kinds,
                group: g,
            }
        })
        .collect()
}

/// Failed probes by kind, as `kind n, kind n`; `-` when none failed.
fn kinds_text(kinds: &BTreeMap<String, u64>) -> String {
    if kinds.is_empty() {
        return "-".into();
    }
    kinds
        .iter()
        .map(|(k, n)| format!("{k} {n}"))
        .collect::<Vec<_>>()
        .join(", ")
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

fn opt_ns(ns: Option<i64>) -> String {
    ns.map_or_else(|| "open".to_owned(), fmt_ns)
}

impl GroupStats {
    /// `lower .. upper` of one statistic.
    fn range(&self, pick: fn(&Quantiles) -> Option<i64>) -> String {
        format!(
            "{} .. {}",
            opt_ns(pick(&self.lower)),
            opt_ns(pick(&self.upper))
        )
    }

    /// The median downtime, as `lower .. upper`.
    pub fn median_text(&self) -> String {
        self.range(|q| q.median_ns)
    }
}

/// The comparison as Markdown: the groups, then every run (also readable
/// on a terminal).
pub fn compare_table(c: &Comparison) -> String {
    let mut out = format!(
        "Grouped by {}. Downtime is a range per run (lower .. upper); median, p95 and max \
         are over the group's runs (nearest rank), of each bound.\n\n\
         | {} | runs | runs with any failure | downtime median | p95 | max | failed probes (median / max / all) | kinds |\n\
         |---|---|---|---|---|---|---|---|\n",
        c.group_by, c.group_by
    );
    for g in &c.groups {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {} / {} / {} | {} |",
            g.group,
            g.runs,
            g.runs_failed,
            g.median_text(),
            g.range(|q| q.p95_ns),
            g.range(|q| q.max_ns),
            g.failed_median,
            g.failed_max,
            g.failed_total,
            kinds_text(&g.kinds)
        );
    }
    out.push_str(
        "\n| run | group | probes | failed | local | windows | downtime (lower .. upper) | interval | kinds |\n\
         |---|---|---|---|---|---|---|---|---|\n",
    );
    for r in &c.runs {
        let _ = writeln!(
            out,
            "| {}{} | {} | {} | {} | {} | {} | {} | {} | {} |",
            r.run,
            if r.from_report { " (report.json)" } else { "" },
            r.group,
            r.probes,
            r.failed,
            r.local_errors,
            r.windows,
            fmt_range(r.lower_ns, r.upper_ns),
            fmt_ns(r.interval_ns),
            kinds_text(&r.kinds)
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(group: &str, failed: u64, lower: i64, upper: Option<i64>) -> CompareRow {
        CompareRow {
            run: format!("{group}/run"),
            group: group.into(),
            name: group.into(),
            source: String::new(),
            from_report: false,
            probes: 100,
            failed,
            local_errors: 0,
            kinds: BTreeMap::from([("reset".to_owned(), failed)]),
            windows: u64::from(failed > 0),
            lower_ns: lower,
            upper_ns: upper,
            interval_ns: 1,
        }
    }

    #[test]
    fn group_statistics() {
        let mut rows: Vec<CompareRow> = (1..=10)
            .map(|i| row("a-no-prestop", i, i as i64 * 10, Some(i as i64 * 10 + 5)))
            .collect();
        rows.push(row("a-prestop", 0, 0, Some(0)));
        rows.push(row("b", 3, 7, None));
        rows.push(row("b", 1, 5, Some(9)));
        let g = groups(&rows);
        assert_eq!(g.len(), 3);
        assert_eq!(g[0].group, "a-no-prestop");
        assert_eq!(g[0].prestop, Some(false));
        assert_eq!((g[0].runs, g[0].runs_failed), (10, 10));
        assert_eq!(g[0].lower.median_ns, Some(50));
        assert_eq!(g[0].upper.median_ns, Some(55));
        assert_eq!(g[0].lower.p95_ns, Some(100));
        assert_eq!(g[0].upper.max_ns, Some(105));
        assert_eq!(
            (g[0].failed_median, g[0].failed_max, g[0].failed_total),
            (5, 10, 55)
        );
        assert_eq!(g[0].kinds["reset"], 55);
        assert_eq!(g[1].prestop, Some(true));
        assert_eq!(g[1].runs_failed, 0);
        assert_eq!(g[2].prestop, None);
        assert_eq!(g[2].upper_open, 1);
        assert_eq!(g[2].upper.median_ns, Some(9));
        assert_eq!(g[2].upper.max_ns, None, "the open bound is the largest");
        let c = Comparison {
            group_by: "scenario".into(),
            groups: g,
            runs: rows,
        };
        let t = compare_table(&c);
        assert!(
            t.contains("| a-no-prestop | 10 | 10 | 50 ns .. 55 ns |"),
            "{t}"
        );
        assert!(
            t.contains("| b | 2 | 2 | 5 ns .. 9 ns | 7 ns .. open | 7 ns .. open |"),
            "{t}"
        );
        assert!(t.contains("| a-prestop/run | a-prestop | 100 | 0 |"), "{t}");
    }
}
