//! The committed runs of the real components (`results/lab/<matrix>/
//! <scenario>/run-NN` and the sweep's `results/lab/sweep/<point>/...`, made
//! by `scripts/lab-main-job.sh`): each passes the ground-truth check as
//! committed; and where a run has the conntrack tail (connect timeouts
//! after the outage through conntrack entries still NATed to the dead pod),
//! the same run without the measured conntrack record fails the check, so
//! the tail is passed by what the lab measured, not by slack.

use std::path::{Path, PathBuf};

use seamless_analyzer::{AnalyzeOptions, Report, check_truth, truth};

fn real_runs() -> Vec<PathBuf> {
    let lab = Path::new(env!("CARGO_MANIFEST_DIR")).join("../results/lab");
    let children = |p: &Path| -> Vec<PathBuf> {
        let mut v: Vec<PathBuf> = std::fs::read_dir(p)
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.is_dir())
            .collect();
        v.sort();
        v
    };
    let mut matrices = children(&lab);
    matrices.extend(children(&lab.join("sweep")));
    matrices
        .iter()
        .flat_map(|m| children(m))
        .flat_map(|s| children(&s))
        .filter(|r| r.join("run.json").is_file() && r.join("report.json").is_file())
        .collect()
}

/// What holds for every committed run: with preStop, no outage, no failed
/// probe and the check passes; without, one true outage, which the
/// analyzer's windows starting inside it cover (their extent, from the last
/// ok probe before the first to the first ok after the last, widened for a
/// partial outage, holds at least 95% of it and ends no earlier than the
/// outage's last 5%). The full check's verdicts, strict where the real data
/// path is more than the race (ground-truth-check.txt), are the README's.
#[test]
fn every_committed_real_run_has_its_outage_covered() {
    let runs = real_runs();
    assert!(
        runs.len() >= 3 * 8 * 10,
        "results/lab/ holds three matrices of 8 scenarios x 10: {} runs",
        runs.len()
    );
    let mut bad = Vec::new();
    for run in &runs {
        let info = seamless_proto::RunInfo::read(run).unwrap();
        let truth = info.ground_truth.clone().unwrap();
        let report: Report =
            serde_json::from_slice(&std::fs::read(run.join("report.json")).unwrap()).unwrap();
        let m = &report.merged;
        if !info
            .scenario
            .as_deref()
            .unwrap_or("")
            .ends_with("no-prestop")
        {
            let c = check_truth(run, &AnalyzeOptions::default(), false).unwrap();
            if !c.ok() || m.totals.failed > 0 {
                bad.push(format!("{}: {:?}", run.display(), c.problems));
            }
            continue;
        }
        let [o] = truth.outages[..] else {
            bad.push(format!(
                "{}: {} true outages",
                run.display(),
                truth.outages.len()
            ));
            continue;
        };
        let inside: Vec<_> = m
            .windows
            .iter()
            .filter(|w| w.first_fail_ns <= o.end_ns + truth::IN_FLIGHT_NS)
            .collect();
        let (Some(first), Some(last)) = (inside.first(), inside.last()) else {
            bad.push(format!("{}: no window inside the outage", run.display()));
            continue;
        };
        let e = inside
            .iter()
            .map(|w| w.edge_uncertainty_ns)
            .max()
            .unwrap_or(0);
        let from = first.last_ok_before_ns.unwrap_or(i64::MIN) - e;
        let to = last.first_ok_after_ns.unwrap_or(i64::MAX) + e;
        let covered = to.min(o.end_ns) - from.max(o.start_ns);
        let len = o.end_ns - o.start_ns;
        // Relative to the outage's start, to stay far from i64's range.
        let end_at = to.min(o.end_ns + len) - o.start_ns;
        if covered * 20 < len * 19 || end_at * 20 < len * 19 {
            bad.push(format!(
                "{}: windows {}..{} cover {covered} of the outage {}..{}",
                run.display(),
                from,
                to,
                o.start_ns,
                o.end_ns
            ));
        }
    }
    assert!(bad.is_empty(), "{}", bad.join("\n"));
}

#[test]
fn the_conntrack_tail_passes_only_with_the_measured_conntrack_record() {
    let mut tails = 0;
    for run in real_runs() {
        let c = check_truth(&run, &AnalyzeOptions::default(), false).unwrap();
        if c.tail.windows == 0 {
            continue;
        }
        tails += 1;
        let report: Report =
            serde_json::from_slice(&std::fs::read(run.join("report.json")).unwrap()).unwrap();
        let mut t = seamless_proto::RunInfo::read(&run)
            .unwrap()
            .ground_truth
            .unwrap();
        let held = t.conntrack_held.as_ref().unwrap();
        assert!(held.entries > 0, "{}: {held:?}", run.display());
        t.conntrack_held = None;
        let without = truth::check(&run, &report, &t, None);
        assert!(
            without
                .problems
                .iter()
                .any(|p| p.contains("one true outage and one window")),
            "{}: {:?}",
            run.display(),
            without.problems
        );
    }
    assert!(
        tails > 0,
        "some committed no-preStop runs have the conntrack tail"
    );
}

/// Every committed run passes the ground-truth check as committed
/// (`ground-truth-check.txt`): its report, and its probe log where one is
/// kept. The logs kept are each scenario's run-01 and those of the runs
/// whose verdict needs them (`.gitignore` lists them): judged by their
/// windows alone, a request queued before the SIGTERM and reset at the
/// close, or conntrack-tail timeouts inside the race's own window, read as
/// failures outside the outage. Those must fail without their probes, so
/// the probes, not slack, pass them.
#[test]
fn every_committed_real_run_passes_the_check_and_the_kept_logs_are_needed() {
    let opts = AnalyzeOptions::default();
    let runs = real_runs();
    let mut needed = Vec::new();
    for run in &runs {
        let c = check_truth(run, &opts, false).unwrap();
        assert!(c.ok(), "{}: {:?} ({})", run.display(), c.problems, c.line);
        let kept = run.join("probe-node-c.log").is_file();
        let report: Report =
            serde_json::from_slice(&std::fs::read(run.join("report.json")).unwrap()).unwrap();
        let t = report.run_info.clone().unwrap().ground_truth.unwrap();
        if kept && !truth::check(run, &report, &t, None).ok() {
            needed.push(run.display().to_string());
        }
    }
    assert!(
        needed.len() >= 14,
        "the kept logs of the runs judged by their probes: {needed:?}"
    );
}
