//! End to end: the lab's whole scenario matrix on short runs, analysed, with
//! every downtime bound checked against the lab's ground truth.
//!
//! Needs root, iptables and iproute2 (CI has them); elsewhere it says why and
//! passes, except under `CI=true`, where it must run.

use std::path::{Path, PathBuf};
use std::process::Command;

use seamless_analyzer::{AnalyzeOptions, Report, analyze};
use seamless_testkit::workspace_bin;

const MS: i64 = 1_000_000;

/// A probe's fate is decided when its SYN meets the NAT rules or the
/// backend, after its recorded start by its time in flight: a probe queued
/// in the old backend's accept queue fails when the listener closes though
/// it started before; a probe stamped just before the rule's removal but
/// preempted before its connect succeeds. On a 2-core machine running the
/// lab, iptables and a debug-built agent together, that reaches a few ms.
const IN_FLIGHT: i64 = 3 * MS;

fn check_run(dir: &Path, report: &Report) -> Result<(), String> {
    let scenario = report.scenario.clone().unwrap_or_default();
    let truth = report
        .run_info
        .as_ref()
        .and_then(|i| i.ground_truth.clone())
        .ok_or(format!("{}: no ground truth", dir.display()))?;
    let s = &report.merged;
    let prestop = !scenario.ends_with("no-prestop");
    if prestop {
        if !truth.outages.is_empty() || s.totals.failed > 0 {
            return Err(format!(
                "{scenario}: with preStop expected no outage and no failure, got {:?} and {} failed",
                truth.outages, s.totals.failed
            ));
        }
        return Ok(());
    }
    let [outage] = truth.outages[..] else {
        return Err(format!(
            "{scenario}: expected one true outage, got {:?}",
            truth.outages
        ));
    };
    let [w] = &s.windows[..] else {
        return Err(format!(
            "{scenario}: expected one window, got {:#?}",
            s.windows
        ));
    };
    let (start, end) = (outage.start_ns, outage.end_ns);
    let truth_ns = end - start;
    let median = s.interval.median_ns;
    let e = w.edge_uncertainty_ns;
    let before = w.last_ok_before_ns.ok_or("window unbounded below")?;
    let after = w.first_ok_after_ns.ok_or("window unbounded above")?;
    let upper = w.upper_ns.ok_or("no upper bound")?;
    let ms = |ns: i64| ns as f64 / 1e6;
    let ctx = format!(
        "{scenario}: truth {:.3} ms [{start}, {end}], window {:.3}..{:.3} ms, ok before {before}, \
         first fail {}, last fail {}, ok after {after}, edge {:.3} ms, ratio {:.2}, interval {} ns",
        ms(truth_ns),
        ms(w.lower_ns),
        ms(upper),
        w.first_fail_ns,
        w.last_fail_ns,
        ms(e),
        w.ratio,
        median
    );
    // A request queued in the old backend's accept queue fails (reset) when
    // the listener closes, however long it has waited: the outage reaches
    // back to probes started up to the slowest response of the rollout.
    let queued = s
        .latency
        .iter()
        .find(|l| l.phase == "during")
        .map_or(0, |l| l.max_ns)
        .max(IN_FLIGHT);
    // Every failure lies inside the true outage, give or take a probe's
    // time in flight (in 1 of 80 runs here a refusal started 0.4 ms after
    // the recorded commit) or in the queue.
    if w.first_fail_ns < start - queued || w.last_fail_ns > end + IN_FLIGHT {
        return Err(format!("failures outside the true outage: {ctx}"));
    }
    // The rule's commit happened between the lab writing `COMMIT` and the
    // lab seeing it on the data path; on a starved machine the two are up
    // to a few ms apart, so the outage may have ended as early as the write.
    let earliest_end = truth
        .extra
        .get("old_rule_commit_written_ns")
        .and_then(serde_json::Value::as_i64)
        .unwrap_or(end)
        .min(end);
    // The upper bound's extent contains the true outage.
    if before - e - IN_FLIGHT > start || after + e + IN_FLIGHT < earliest_end {
        return Err(format!(
            "upper bound does not contain the true outage: {ctx}"
        ));
    }
    if upper + 2 * IN_FLIGHT < earliest_end - start {
        return Err(format!("upper bound below the truth: {ctx}"));
    }
    // The lower bound is at most the truth.
    if w.lower_ns > truth_ns + queued {
        return Err(format!("lower bound above the truth: {ctx}"));
    }
    // Observed width (before the partial-outage widening): the two gaps
    // between consecutive probes at the window's edges: two intervals when
    // the agent keeps its schedule, more where the 2-core machine starves a
    // debug-built agent at SIGTERM and at the rule commit (gaps of 4 ms
    // seen). Printed below; checked only to stay well under the outage.
    let width = upper - 2 * e - w.lower_ns;
    if width > 15 * MS {
        return Err(format!("bounds {width} ns apart: {ctx}"));
    }
    eprintln!(
        "{scenario}: truth {:.3} ms in {:.3} .. {:.3} ms; observed width {:.1} intervals, edge {:.1} intervals",
        ms(truth_ns),
        ms(w.lower_ns),
        ms(upper),
        width as f64 / median as f64,
        e as f64 / median as f64
    );
    Ok(())
}

#[test]
fn analyzer_bounds_contain_the_labs_ground_truth() {
    if seamless_testkit::skip_lab("the lab ground-truth test") {
        return;
    }
    let lab = workspace_bin("seamless-lab");
    let agent = workspace_bin("seamless-agent");
    let out = tempfile::tempdir().unwrap();
    let status = Command::new(&lab)
        .args([
            "run", "--all", "--repeat", "1", "--seed", "42", "--rate", "2000",
        ])
        .args([
            "--warmup",
            "300ms",
            "--settle",
            "300ms",
            "--prestop",
            "500ms",
            "--grace",
            "2s",
        ])
        .arg("--out")
        .arg(out.path())
        .arg("--agent-bin")
        .arg(&agent)
        .status()
        .expect("running the lab");
    assert!(status.success(), "the lab failed: {status}");

    let opts = AnalyzeOptions {
        merge_gap_ns: Some(50 * MS),
        ..Default::default()
    };
    let mut runs: Vec<PathBuf> = std::fs::read_dir(out.path())
        .unwrap()
        .flat_map(|s| std::fs::read_dir(s.unwrap().path()).into_iter().flatten())
        .map(|r| r.unwrap().path())
        .filter(|p| p.join("run.json").is_file())
        .collect();
    runs.sort();
    assert_eq!(runs.len(), 8, "one run per scenario: {runs:?}");
    let problems: Vec<String> = runs
        .iter()
        .filter_map(|run| {
            let report = analyze(run, &opts).map_err(|e| format!("{}: {e}", run.display()));
            report.and_then(|r| check_run(run, &r)).err()
        })
        .collect();
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
