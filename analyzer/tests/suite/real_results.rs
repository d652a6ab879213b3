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

#[test]
fn every_committed_real_run_passes_the_ground_truth_check() {
    let runs = real_runs();
    assert!(
        runs.len() >= 3 * 8 * 10,
        "results/lab/ holds three matrices of 8 scenarios x 10: {} runs",
        runs.len()
    );
    let mut bad = Vec::new();
    for run in &runs {
        let c = check_truth(run, &AnalyzeOptions::default(), false).unwrap();
        if !c.ok() {
            bad.push(format!("{}: {:?}", run.display(), c.problems));
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
        assert!(t.conntrack_held.as_ref().unwrap().by_state["SYN_SENT"] > 0);
        t.conntrack_held = None;
        let without = truth::check(&run, &report, &t);
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
    assert!(tails > 0, "some committed no-preStop runs have the conntrack tail");
}
