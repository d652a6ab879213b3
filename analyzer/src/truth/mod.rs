//! The check of an analysed lab run against its ground truth: the one copy
//! used by `seamless-analyzer check-truth`, the lab's end-to-end test and the
//! main job (`scripts/lab-main-job.sh`, into `ground-truth-check.txt`).
//!
//! For a run whose scenario has no preStop: exactly one true outage and one
//! failure window; every failure inside the outage (give or take a probe's
//! time in flight, [`IN_FLIGHT_NS`], or its wait in the accept queue; or
//! after the SIGTERM, when the server stopped accepting before its listener
//! closed and what was queued meanwhile was reset at the close); the
//! upper bound's extent, widened by the partial-outage edge uncertainty,
//! containing the outage; `lower <= truth <= upper`; and the observed bound
//! width (before widening) under [`MAX_WIDTH_NS`] unless the agent stalled
//! at an edge. For a preStop run: no
//! outage and no failure.
//!
//! On the real data path one more thing is true and is not the race: a
//! connect that timed out against the dead backend leaves a conntrack
//! entry on the probing node that still NATs its tuple there, so a later
//! connect reusing that client port meets the dead backend again after the
//! rule is gone ([`seamless_proto::run::ConntrackHeld`]). When the ground
//! truth records such entries, windows that start after the outage and hold
//! only the kinds those entries explain are that tail: counted apart ([`TruthCheck::tail`]),
//! not taken for a second outage.

use std::path::{Path, PathBuf};

use seamless_proto::GroundTruth;
use seamless_proto::run::REPORT_JSON;

use crate::{AnalyzeOptions, Error, Report, Result};

mod render;
mod tail;

pub use render::render;
use render::tail_text;
pub use tail::{Failed, Tail};
use tail::{failed_probes, is_tail, tail_kinds, unexplained};

const MS: i64 = 1_000_000;

/// A probe's fate is decided when its SYN meets the NAT rules or the
/// backend, after its recorded start by its time in flight: a probe queued
/// in the old backend's accept queue fails when the listener closes though
/// it started before; a probe stamped just before the rule's removal but
/// preempted before its connect succeeds. On a 2-core machine running the
/// lab, iptables and a debug-built agent together, that reaches a few ms.
pub const IN_FLIGHT_NS: i64 = 3 * MS;

/// The widest the two edge gaps of a window may be (before the
/// partial-outage widening): two probe intervals when the agent keeps its
/// schedule, more where a starved machine stalls it (gaps of 4 ms seen).
pub const MAX_WIDTH_NS: i64 = 15 * MS;

/// The verdict on one run.
#[derive(Debug, Clone, PartialEq)]
pub struct TruthCheck {
    /// The run directory.
    pub run: PathBuf,
    /// Its scenario.
    pub scenario: String,
    /// What failed; empty when the run passes.
    pub problems: Vec<String>,
    /// One line of figures (truth, bounds, failures, widths).
    pub line: String,
    /// For a run with an outage: whether the widened upper bound contains it
    /// with no slack at all.
    pub contained_strictly: Option<bool>,
    /// For a run with an outage: the observed bound width, in median probe
    /// intervals.
    pub width_intervals: Option<f64>,
    /// The conntrack tail: windows after the outage holding only the
    /// failure kinds that the probing node's conntrack entries to the old
    /// backend explain.
    pub tail: Tail,
}

/// Windows that all start inside one outage read as one: the outage's
/// failure ratio can change inside it (every probe failing while the new
/// endpoint is not yet in the rules, then half of them), which the
/// analyzer rightly shows as windows of their own; the check asks whether
/// together they hold the truth.
fn joined(ws: &[&crate::report::Window]) -> Option<crate::report::Window> {
    let (first, last) = (ws.first()?, ws.last()?);
    let mut w = (*first).clone();
    w.last_fail_ns = last.last_fail_ns;
    w.first_ok_after_ns = last.first_ok_after_ns;
    w.lower_ns = w.last_fail_ns - w.first_fail_ns;
    w.edge_uncertainty_ns = ws.iter().map(|w| w.edge_uncertainty_ns).max().unwrap_or(0);
    w.upper_ns = match (w.last_ok_before_ns, w.first_ok_after_ns) {
        (Some(b), Some(a)) => Some(a - b + 2 * w.edge_uncertainty_ns),
        _ => None,
    };
    w.failed = ws.iter().map(|w| w.failed).sum();
    w.total = ws.iter().map(|w| w.total).sum();
    Some(w)
}

impl TruthCheck {
    /// True when nothing failed.
    pub fn ok(&self) -> bool {
        self.problems.is_empty()
    }
}

fn ms(ns: i64) -> f64 {
    ns as f64 / 1e6
}

/// Checks a report against a ground truth; with the run's failed probes
/// (`failed`) probe by probe where the windows alone cannot tell: a failure
/// after the outage is the conntrack tail's when its kind is one the held
/// entries explain, also when it falls inside the race's window.
pub fn check(
    run: &Path,
    report: &Report,
    truth: &GroundTruth,
    failed: Option<&[Failed]>,
) -> TruthCheck {
    let scenario = report.scenario.clone().unwrap_or_else(|| "?".into());
    let mut c = TruthCheck {
        run: run.to_owned(),
        scenario: scenario.clone(),
        problems: Vec::new(),
        line: String::new(),
        contained_strictly: None,
        width_intervals: None,
        tail: Tail::default(),
    };
    let s = &report.merged;
    if !scenario.ends_with("no-prestop") {
        c.line = format!(
            "failed {}, outages {}",
            s.totals.failed,
            truth.outages.len()
        );
        if !truth.outages.is_empty() || s.totals.failed > 0 {
            c.problems
                .push("with preStop expected no outage and no failure".into());
        }
        return c;
    }
    let kinds = tail_kinds(truth.conntrack_held.as_ref());
    let windows: Vec<&crate::report::Window> = match &truth.outages[..] {
        [o] if !kinds.is_empty() => {
            let (tail, race): (Vec<_>, Vec<_>) =
                s.windows.iter().partition(|w| is_tail(w, o.end_ns, &kinds));
            c.tail = Tail {
                windows: tail.len(),
                failed: tail.iter().map(|w| w.failed).sum(),
                last_after_end_ns: tail
                    .iter()
                    .map(|w| w.last_fail_ns - o.end_ns)
                    .max()
                    .unwrap_or(0),
            };
            race
        }
        _ => s.windows.iter().collect(),
    };
    let joined_window;
    let inside = match &truth.outages[..] {
        [o] if windows.len() > 1
            && windows
                .iter()
                .all(|w| w.first_fail_ns <= o.end_ns + IN_FLIGHT_NS) =>
        {
            joined_window = joined(&windows);
            joined_window.as_ref().map(|w| vec![w]).unwrap_or_default()
        }
        _ => windows.clone(),
    };
    let ([outage], [w]) = (&truth.outages[..], &inside[..]) else {
        c.line = format!(
            "{} outages, {} windows{}",
            truth.outages.len(),
            windows.len(),
            tail_text(&c.tail)
        );
        c.problems
            .push("expected one true outage and one window".into());
        return c;
    };
    let (start, end) = (outage.start_ns, outage.end_ns);
    let truth_ns = end - start;
    let median = s.interval.median_ns.max(1);
    let e = w.edge_uncertainty_ns;
    let (Some(before), Some(after), Some(upper)) =
        (w.last_ok_before_ns, w.first_ok_after_ns, w.upper_ns)
    else {
        c.line = format!("truth {:.3} ms, window unbounded", ms(truth_ns));
        c.problems.push("the window is unbounded at an edge".into());
        return c;
    };
    // A request queued in the old backend's accept queue fails (reset) when
    // the listener closes, however long it has waited: the outage reaches
    // back to probes started up to the slowest response of the rollout.
    let queued = s
        .latency
        .iter()
        .find(|l| l.phase == "during")
        .map_or(0, |l| l.max_ns)
        .max(IN_FLIGHT_NS);
    // And a server that stops accepting at the SIGTERM, before its listener
    // closes, leaves what the kernel queues meanwhile to be reset at the
    // close: from the SIGTERM on, requests fail.
    let doomed_from = truth.doomed_from_ns(start) - queued;
    // The failures the race's window may span: from `doomed_from` to the
    // end, and past it the tail's that fall inside the window.
    let mut explained_end = end + IN_FLIGHT_NS;
    let mut explained_start = doomed_from;
    let mut joined_tail = 0;
    match failed {
        Some(failed) => {
            let (outside, in_window) = unexplained(
                failed,
                truth.doomed_from_ns(start),
                end,
                &kinds,
                (w.first_fail_ns, w.last_fail_ns),
            );
            if outside.is_empty() {
                // Each failure was in flight when the outage began.
                explained_start = explained_start.min(w.first_fail_ns);
            }
            if let Some(f) = outside.first() {
                c.problems.push(format!(
                    "{} failures outside the true outage (the first a {} at {:+.3} ms from its start)",
                    outside.len(),
                    f.kind,
                    ms(f.t_ns - start)
                ));
            }
            if in_window > 0 {
                joined_tail = in_window;
                explained_end = explained_end.max(w.last_fail_ns);
            }
        }
        None if w.first_fail_ns < doomed_from || w.last_fail_ns > end + IN_FLIGHT_NS => {
            c.problems.push("failures outside the true outage".into());
        }
        None => {}
    }
    // The commit happened between the lab writing `COMMIT` and seeing it on
    // the data path; on a starved machine the two are a few ms apart, so
    // the outage may have ended as early as the write.
    let earliest_end = truth.earliest_end_ns(end);
    if before - e - IN_FLIGHT_NS > start || after + e + IN_FLIGHT_NS < earliest_end {
        c.problems
            .push("the upper bound's extent misses the true outage".into());
    }
    if upper + 2 * IN_FLIGHT_NS < earliest_end - start {
        c.problems.push("upper bound below the truth".into());
    }
    if w.lower_ns > explained_end - explained_start {
        c.problems.push("lower bound above the truth".into());
    }
    let parts = windows.len();
    let width = upper - 2 * e - w.lower_ns;
    // The width is the two gaps between the window's edge probes and their
    // neighbours: an agent that keeps its schedule leaves two intervals. A
    // gap of half the limit at one edge is the agent (or the machine)
    // stalled, not the analyzer: told, not failed; the bounds still have to
    // hold the truth. Joined windows' bounds are apart by the successes
    // between them too.
    let stall = (w.first_fail_ns - before).max(after - w.last_fail_ns);
    let stalled = stall > MAX_WIDTH_NS / 2;
    if parts == 1 && width > MAX_WIDTH_NS && !stalled {
        c.problems.push(format!("bounds {:.3} ms apart", ms(width)));
    }
    let strict = before - e <= start && after + e >= end;
    let width_iv = width as f64 / median as f64;
    c.contained_strictly = Some(strict);
    c.width_intervals = (parts == 1).then_some(width_iv);
    c.line = format!(
        "truth {:8.3} ms in [{:8.3}, {:8.3}] ms, {:4}/{:4} failed, width {:4.1} iv, \
         edge {:4.1} iv, contained without slack: {}{}",
        ms(truth_ns),
        ms(w.lower_ns),
        ms(upper),
        w.failed,
        w.total,
        width_iv,
        e as f64 / median as f64,
        if strict { "yes" } else { "no" },
        if parts > 1 {
            format!("; the outage in {parts} windows (its failure ratio changed inside)")
        } else {
            String::new()
        } + &tail_text(&c.tail)
            + &if stalled {
                format!(
                    "; the agent probed nothing for {:.1} ms at an edge",
                    ms(stall)
                )
            } else {
                String::new()
            }
            + &if joined_tail > 0 {
                format!(", {joined_tail} more at the end of the race's window")
            } else {
                String::new()
            }
    );
    c
}

/// Checks one run directory: its `report.json` when there is one (as
/// `seamless-analyzer report` wrote it) unless `reanalyze`, else a fresh
/// analysis with `opts`; the ground truth from its `run.json`.
pub fn check_run(dir: &Path, opts: &AnalyzeOptions, reanalyze: bool) -> Result<TruthCheck> {
    let report_path = dir.join(REPORT_JSON);
    // Reanalysed, the failed probes come from the analysis's own probes:
    // the logs are read once.
    let (report, failed) = if !reanalyze && report_path.is_file() {
        let bytes = std::fs::read(&report_path).map_err(Error::io(&report_path))?;
        let report = serde_json::from_slice::<Report>(&bytes).map_err(|source| Error::Report {
            path: report_path.clone(),
            source,
        })?;
        (report, failed_probes(dir, opts)?)
    } else {
        let analysis = crate::Analysis::run(dir, opts)?;
        let failed = tail::failed_of(&analysis.probes)?;
        (analysis.report, Some(failed))
    };
    let info = match seamless_proto::RunInfo::read(dir) {
        Ok(info) => Some(info),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => report.run_info.clone(),
        Err(source) => {
            return Err(Error::RunInfo {
                path: dir.join(seamless_proto::run::RUN_INFO),
                source,
            });
        }
    };
    let truth = info
        .and_then(|i| i.ground_truth)
        .ok_or_else(|| Error::Invalid {
            what: "run",
            reason: format!("{} has no ground truth in run.json", dir.display()),
        })?;
    Ok(check(dir, &report, &truth, failed.as_deref()))
}
