//! `check-truth` and the library's ground-truth check, on the lab runs
//! committed in results/lab-emulated/ and on a synthetic run that must fail it.

use std::path::{Path, PathBuf};
use std::process::Command;

use seamless_analyzer::truth::{check, render};
use seamless_analyzer::{AnalyzeOptions, check_truth};
use seamless_proto::run::Interval;

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_seamless-analyzer"))
}

/// The committed lab runs that have a report.
fn committed_runs() -> Vec<PathBuf> {
    let results = Path::new(env!("CARGO_MANIFEST_DIR")).join("../results/lab-emulated");
    let mut runs: Vec<PathBuf> = std::fs::read_dir(&results)
        .into_iter()
        .flatten()
        .flatten()
        .flat_map(|s| std::fs::read_dir(s.path()).into_iter().flatten().flatten())
        .map(|r| r.path())
        .filter(|p| p.join("report.json").is_file() && p.join("run.json").is_file())
        .collect();
    runs.sort();
    runs
}

#[test]
fn check_truth_passes_every_committed_lab_run() {
    let runs = committed_runs();
    assert!(
        !runs.is_empty(),
        "results/lab-emulated/ holds lab runs with reports"
    );
    let out = bin().arg("check-truth").args(&runs).output().unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        text.lines().filter(|l| l.starts_with("ok ")).count(),
        runs.len()
    );
    assert!(
        text.contains(&format!("{} runs, 0 failing the checks", runs.len())),
        "{text}"
    );
}

#[test]
fn check_truth_reanalyses_a_committed_run_from_its_probe_log() {
    let Some(run) = committed_runs()
        .into_iter()
        .find(|r| r.ends_with("pod-clusterip-no-prestop/run-01"))
    else {
        panic!("results/lab-emulated/pod-clusterip-no-prestop/run-01 is committed");
    };
    if !run.join("probe-node-a.log").is_file() {
        return;
    }
    let c = check_truth(&run, &AnalyzeOptions::default(), true).unwrap();
    assert!(c.ok(), "{c:?}");
    assert!(
        c.contained_strictly.is_some(),
        "a no-preStop run has an outage"
    );
}

#[test]
fn a_moved_outage_fails_with_the_reason() {
    let run = committed_runs()
        .into_iter()
        .find(|r| r.ends_with("pod-clusterip-no-prestop/run-02"))
        .expect("committed run");
    let report: seamless_analyzer::Report =
        serde_json::from_slice(&std::fs::read(run.join("report.json")).unwrap()).unwrap();
    let mut truth = report.run_info.clone().unwrap().ground_truth.unwrap();
    assert!(check(&run, &report, &truth, None).ok());
    // The same failures against an outage one second later.
    let o = truth.outages[0];
    truth.outages = vec![Interval {
        start_ns: o.start_ns + 1_000_000_000,
        end_ns: o.end_ns + 1_000_000_000,
    }];
    truth.old_rule_commit_written_ns = None;
    truth.sigterm_ns = truth.sigterm_ns.map(|t| t + 1_000_000_000);
    let c = check(&run, &report, &truth, None);
    assert!(!c.ok());
    assert!(
        c.problems
            .iter()
            .any(|p| p.contains("failures outside the true outage")),
        "{:?}",
        c.problems
    );
    let text = render(&[c]);
    assert!(text.starts_with("BAD pod-clusterip-no-prestop"), "{text}");
    assert!(text.contains("1 runs, 1 failing the checks"), "{text}");
}

#[test]
fn check_truth_exits_3_on_a_failing_run_and_1_without_ground_truth() {
    let dir = tempfile::tempdir().unwrap();
    let synth = dir.path().join("synth");
    let made = bin()
        .args(["gen-synthetic", "--probes", "2000", "--out"])
        .arg(&synth)
        .output()
        .unwrap();
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    // A synthetic run has outages but no preStop-free scenario name: the
    // check expects none, so it fails.
    let out = bin().arg("check-truth").arg(&synth).output().unwrap();
    assert_eq!(out.status.code(), Some(3));
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.starts_with("BAD synthetic 2000 probes"), "{text}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("expected no outage"), "{err}");

    let bare = dir.path().join("bare");
    std::fs::create_dir(&bare).unwrap();
    std::fs::copy(synth.join("probe-synthetic.log"), bare.join("probe-x.log")).ok();
    let out = bin().arg("check-truth").arg(&bare).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no ground truth"), "{err}");
}
