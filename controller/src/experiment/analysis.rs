//! After the runs: `seamless-analyzer report` on every run (with each
//! agent's clock offset and the gate), `seamless-analyzer compare` across
//! them, then the experiment's summary from the reports: downtime per run,
//! its median, p95 and max, and the share of rollouts with any failure.
//!
//! The analyzer runs as a subprocess: linking it would bring polars into
//! the controller's tree (minutes of build, hundreds of MB a binary) for
//! what is a file-in, file-out step with its own exit codes.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde::Serialize;
use serde_json::Value;

use super::error::{Error, Result};
use super::params::Outcome;

/// The analyzer's exit status when a gate is exceeded.
const ANALYZER_GATE: i32 = 3;

/// The gate, passed to every `report`.
#[derive(Debug, Clone, Default)]
pub struct Gate {
    /// `--max-downtime`.
    pub max_downtime: Option<String>,
    /// `--max-failed`.
    pub max_failed: Option<u64>,
}

/// One run in the summary.
#[derive(Debug, Clone, Serialize)]
pub struct RunRow {
    /// The run directory's name.
    pub run: String,
    /// Probes of every agent.
    pub probes: u64,
    /// Failed probes (merged view).
    pub failed: u64,
    /// Downtime, lower bound, ns.
    pub downtime_lower_ns: i64,
    /// Downtime, upper bound, ns (None: a window open at an edge).
    pub downtime_upper_ns: Option<i64>,
    /// Whether the gate passed.
    pub gate_passed: bool,
    /// Agents whose clock uncertainty exceeds the probe interval.
    pub clock_uncertain: Vec<String>,
    /// With `--control`: the control target's failed probes, and the
    /// downtime net of its windows (the report's `control` block).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub control: Option<ControlRow>,
}

/// The control target of one run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct ControlRow {
    /// Its failed probes.
    pub failed: u64,
    /// The downtime net of its windows, lower bound, ns.
    pub net_lower_ns: i64,
    /// The downtime net of its windows, upper bound, ns (None: open).
    pub net_upper_ns: Option<i64>,
}

impl ControlRow {
    /// From report.json's `control` block.
    fn from_report(report: &Value) -> Option<ControlRow> {
        let c = report.get("control")?;
        Some(ControlRow {
            failed: c["failed"].as_u64()?,
            net_lower_ns: c["net"]["lower_ns"].as_i64()?,
            net_upper_ns: c["net"]["upper_ns"].as_i64(),
        })
    }
}

/// The experiment's summary (`OUT/experiment.json`).
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    /// The experiment's id.
    pub id: String,
    /// Runs.
    pub runs: Vec<RunRow>,
    /// Runs with any failed probe, over all runs.
    pub failed_share: f64,
    /// Median of the upper bounds, ns (None when one is open and decides it).
    pub downtime_median_ns: Option<i64>,
    /// 95th percentile of the upper bounds (nearest rank), ns.
    pub downtime_p95_ns: Option<i64>,
    /// Largest upper bound, ns (None when any is open).
    pub downtime_max_ns: Option<i64>,
    /// Whether every run passed the gate.
    pub gate_passed: bool,
}

/// The analyzer to run: `--analyzer`, else `seamless-analyzer` next to this
/// executable, else from PATH.
pub fn analyzer_path(given: Option<&Path>) -> PathBuf {
    if let Some(p) = given {
        return p.to_owned();
    }
    std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(|d| d.join("seamless-analyzer")))
        .filter(|p| p.is_file())
        .unwrap_or_else(|| PathBuf::from("seamless-analyzer"))
}

fn run_analyzer(analyzer: &Path, args: &[String]) -> Result<(i32, String)> {
    tracing::info!(analyzer = %analyzer.display(), ?args, "analyzer");
    let out = Command::new(analyzer).args(args).output().map_err(|e| {
        Error::Analyzer(format!(
            "cannot run {}: {e} (give its path with --analyzer)",
            analyzer.display()
        ))
    })?;
    let code = out.status.code().unwrap_or(-1);
    let stderr = String::from_utf8_lossy(&out.stderr);
    if code != 0 && code != ANALYZER_GATE {
        return Err(Error::Analyzer(format!(
            "{} {} exited {code}: {}",
            analyzer.display(),
            args.join(" "),
            stderr.trim()
        )));
    }
    if code == ANALYZER_GATE {
        eprint!("{stderr}");
    }
    Ok((code, String::from_utf8_lossy(&out.stdout).into_owned()))
}

/// Reports every run, compares them, writes `OUT/experiment.json` and
/// `OUT/experiment.md`; returns the summary.
pub fn analyze(analyzer: &Path, out: &Path, outcome: &Outcome, gate: &Gate) -> Result<Summary> {
    let mut rows = Vec::new();
    for run in &outcome.runs {
        let mut args = vec!["report".to_owned(), run.dir.display().to_string()];
        for a in &run.agents {
            args.push(format!(
                "--clock-offset={}={}ns",
                a.agent, a.clock.offset_ns
            ));
        }
        if let Some(d) = &gate.max_downtime {
            args.push(format!("--max-downtime={d}"));
        }
        if let Some(n) = gate.max_failed {
            args.push(format!("--max-failed={n}"));
        }
        let (code, table) = run_analyzer(analyzer, &args)?;
        println!("{}:\n{table}", run.dir.display());
        let report_path = run.dir.join(seamless_proto::run::REPORT_JSON);
        let report: Value = std::fs::read(&report_path)
            .map_err(|source| Error::Io {
                path: report_path.clone(),
                source,
            })
            .and_then(|b| {
                serde_json::from_slice(&b).map_err(|e| {
                    Error::Analyzer(format!("{} is not JSON: {e}", report_path.display()))
                })
            })?;
        let merged = &report["merged"];
        rows.push(RunRow {
            run: run
                .dir
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
            probes: merged["totals"]["probes"].as_u64().unwrap_or(0),
            failed: merged["totals"]["failed"].as_u64().unwrap_or(0),
            downtime_lower_ns: merged["downtime"]["lower_ns"].as_i64().unwrap_or(0),
            downtime_upper_ns: merged["downtime"]["upper_ns"].as_i64(),
            gate_passed: code == 0,
            clock_uncertain: run
                .agents
                .iter()
                .filter(|a| a.clock.uncertainty_ns > outcome.interval_ns)
                .map(|a| a.agent.clone())
                .collect(),
            control: ControlRow::from_report(&report),
        });
    }
    if !outcome.runs.is_empty() {
        let mut args = vec!["compare".to_owned()];
        args.extend(outcome.runs.iter().map(|r| r.dir.display().to_string()));
        args.push(format!("--out={}", out.display()));
        let (_, table) = run_analyzer(analyzer, &args)?;
        println!("{table}");
    }
    let summary = summarize(&outcome.id, rows);
    write(out, &summary)?;
    Ok(summary)
}

/// The distribution over runs.
pub fn summarize(id: &str, runs: Vec<RunRow>) -> Summary {
    let n = runs.len();
    let failed = runs.iter().filter(|r| r.failed > 0).count();
    // Open bounds sort last: they are larger than any measured one.
    let mut uppers: Vec<Option<i64>> = runs.iter().map(|r| r.downtime_upper_ns).collect();
    uppers.sort_by_key(|u| u.unwrap_or(i64::MAX));
    let rank = |q: f64| -> Option<i64> {
        if n == 0 {
            return None;
        }
        let i = ((q * n as f64).ceil() as usize).clamp(1, n) - 1;
        uppers[i]
    };
    Summary {
        id: id.to_owned(),
        failed_share: if n == 0 {
            0.0
        } else {
            failed as f64 / n as f64
        },
        downtime_median_ns: rank(0.5),
        downtime_p95_ns: rank(0.95),
        downtime_max_ns: rank(1.0),
        gate_passed: runs.iter().all(|r| r.gate_passed),
        runs,
    }
}

fn ms(ns: Option<i64>) -> String {
    match ns {
        Some(v) => format!("{:.1} ms", v as f64 / 1e6),
        None => "open".into(),
    }
}

/// The summary as Markdown.
pub fn markdown(s: &Summary) -> String {
    let control = s.runs.iter().any(|r| r.control.is_some());
    let mut md = format!(
        "# Experiment {}\n\n| run | probes | failed | downtime | gate | clock |{}\n|---|---|---|---|---|---|{}\n",
        s.id,
        if control {
            " control: failed, net downtime |"
        } else {
            ""
        },
        if control { "---|" } else { "" },
    );
    for r in &s.runs {
        let control = match (control, r.control) {
            (false, _) => String::new(),
            (true, None) => " - |".into(),
            (true, Some(c)) => format!(
                " {}, {:.1} - {} |",
                c.failed,
                c.net_lower_ns as f64 / 1e6,
                ms(c.net_upper_ns)
            ),
        };
        md.push_str(&format!(
            "| {} | {} | {} | {:.1} - {} | {} | {} |{control}\n",
            r.run,
            r.probes,
            r.failed,
            r.downtime_lower_ns as f64 / 1e6,
            ms(r.downtime_upper_ns),
            if r.gate_passed { "pass" } else { "EXCEEDED" },
            if r.clock_uncertain.is_empty() {
                "ok".to_owned()
            } else {
                format!(
                    "uncertainty above the probe interval: {}",
                    r.clock_uncertain.join(", ")
                )
            }
        ));
    }
    md.push_str(&format!(
        "\nRollouts with any failure: {} of {} ({:.0}%). Downtime (upper bound) median {}, p95 {}, max {}.\n",
        s.runs.iter().filter(|r| r.failed > 0).count(),
        s.runs.len(),
        s.failed_share * 100.0,
        ms(s.downtime_median_ns),
        ms(s.downtime_p95_ns),
        ms(s.downtime_max_ns),
    ));
    md
}

fn write(out: &Path, s: &Summary) -> Result<()> {
    let io = |path: PathBuf| move |source| Error::Io { path, source };
    std::fs::create_dir_all(out).map_err(io(out.to_owned()))?;
    let json = out.join("experiment.json");
    let body = serde_json::to_vec_pretty(s).unwrap_or_default();
    std::fs::write(&json, body).map_err(io(json.clone()))?;
    let md = out.join("experiment.md");
    std::fs::write(&md, markdown(s)).map_err(io(md.clone()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(run: &str, failed: u64, upper: Option<i64>) -> RunRow {
        RunRow {
            run: run.into(),
            probes: 1000,
            failed,
            downtime_lower_ns: upper.unwrap_or(0) / 2,
            downtime_upper_ns: upper,
            gate_passed: failed == 0,
            clock_uncertain: Vec::new(),
            control: None,
        }
    }

    #[test]
    fn a_control_gets_its_column() {
        let mut r = row("run-01", 4, Some(30_000_000));
        r.control = ControlRow::from_report(&serde_json::json!({
            "control": {"failed": 2, "net": {"lower_ns": 5_000_000, "upper_ns": 12_000_000}}
        }));
        let md = markdown(&summarize("x", vec![r, row("run-02", 0, Some(0))]));
        assert!(md.contains("| control: failed, net downtime |"), "{md}");
        assert!(md.contains("| 2, 5.0 - 12.0 ms |"), "{md}");
        assert!(md.contains("| pass | ok | - |"), "{md}");
        let plain = markdown(&summarize("x", vec![row("run-01", 0, Some(0))]));
        assert!(!plain.contains("control"), "{plain}");
        assert_eq!(ControlRow::from_report(&serde_json::json!({})), None);
    }

    #[test]
    fn distribution_over_runs() {
        let s = summarize(
            "x",
            vec![
                row("run-01", 0, Some(0)),
                row("run-02", 10, Some(80_000_000)),
                row("run-03", 12, Some(100_000_000)),
                row("run-04", 0, Some(0)),
            ],
        );
        assert_eq!(s.failed_share, 0.5);
        assert_eq!(s.downtime_median_ns, Some(0));
        assert_eq!(s.downtime_p95_ns, Some(100_000_000));
        assert_eq!(s.downtime_max_ns, Some(100_000_000));
        assert!(!s.gate_passed);
        let md = markdown(&s);
        assert!(md.contains("2 of 4 (50%)"), "{md}");
    }

    #[test]
    fn an_open_bound_is_the_largest() {
        let s = summarize("x", vec![row("run-01", 3, None), row("run-02", 1, Some(5))]);
        assert_eq!(s.downtime_median_ns, Some(5));
        assert_eq!(s.downtime_max_ns, None);
        assert!(markdown(&s).contains("max open"));
    }
}
