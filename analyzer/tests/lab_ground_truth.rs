//! End to end: the lab's whole scenario matrix on short runs, analysed, with
//! every downtime bound checked against the lab's ground truth.
//!
//! Needs root, iptables and iproute2 (CI has them); elsewhere it says why and
//! passes, except under `CI=true`, where it must run.

use std::path::PathBuf;
use std::process::Command;

use seamless_analyzer::truth::render;
use seamless_analyzer::{AnalyzeOptions, check_truth};
use seamless_testkit::workspace_bin;

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

    // The default merging: a partial outage is one window without flags.
    let opts = AnalyzeOptions::default();
    let mut runs: Vec<PathBuf> = std::fs::read_dir(out.path())
        .unwrap()
        .flat_map(|s| std::fs::read_dir(s.unwrap().path()).into_iter().flatten())
        .map(|r| r.unwrap().path())
        .filter(|p| p.join("run.json").is_file())
        .collect();
    runs.sort();
    assert_eq!(runs.len(), 8, "one run per scenario: {runs:?}");
    // The one ground-truth check (seamless_analyzer::truth), on a fresh
    // analysis of every run.
    let checks: Vec<_> = runs
        .iter()
        .map(|run| {
            check_truth(run, &opts, true).unwrap_or_else(|e| panic!("{}: {e}", run.display()))
        })
        .collect();
    let text = render(&checks);
    eprint!("{text}");
    assert!(checks.iter().all(|c| c.ok()), "{text}");
}
