//! Golden reports: report.json as committed for lab runs that keep their
//! logs, and for a seeded synthetic run, must come out again value for
//! value (the paths aside). Whatever the engine inside, the answers
//! stay the same.

use std::path::{Path, PathBuf};

use seamless_analyzer::{AnalyzeOptions, analyze};
use serde_json::Value;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The report of `dir` against `golden`, byte for byte as the analyzer
/// writes it, with the golden's paths.
fn assert_golden(dir: &Path, golden: &Path) {
    let text = std::fs::read_to_string(golden).unwrap();
    let want: Value = serde_json::from_str(&text).unwrap();
    let mut report = analyze(dir, &AnalyzeOptions::default()).unwrap();
    report.source = want["source"].as_str().unwrap().to_owned();
    for (k, a) in report.agents.iter_mut().enumerate() {
        a.file = want["agents"][k]["file"].as_str().unwrap().to_owned();
    }
    let mut got = serde_json::to_string_pretty(&report).unwrap();
    got.push('\n');
    if got != text {
        let line = got
            .lines()
            .zip(text.lines())
            .position(|(a, b)| a != b)
            .unwrap_or(0);
        panic!(
            "{}: report.json differs from line {}: got {:?}, committed {:?}",
            dir.display(),
            line + 1,
            got.lines().nth(line),
            text.lines().nth(line)
        );
    }
}

#[test]
fn committed_lab_reports_come_out_the_same() {
    let runs = [
        "results/lab/v1.37.2-iptables/pod-clusterip-no-prestop/run-01",
        "results/lab/v1.37.2-iptables/host-nodeport-no-prestop/run-01",
        "results/lab/v1.37.2-iptables/pod-nodeport-prestop/run-01",
        "results/lab/v1.26.3-iptables/pod-clusterip-no-prestop/run-01",
        "results/lab/v1.37.2-nftables/host-clusterip-no-prestop/run-01",
        "results/lab/sweep/proxy-min-sync-period-5s/pod-clusterip-no-prestop/run-02",
        "results/lab-emulated/pod-clusterip-no-prestop/run-01",
        "results/experiment-control/run-01",
    ];
    for run in runs {
        let dir = root().join(run);
        assert_golden(&dir, &dir.join("report.json"));
    }
}

#[test]
fn a_seeded_synthetic_report_comes_out_the_same() {
    let dir = tempfile::tempdir().unwrap();
    let spec = seamless_analyzer::synth::SynthSpec {
        probes: 200_000,
        ..Default::default()
    };
    seamless_analyzer::synth::generate(dir.path(), &spec).unwrap();
    assert_golden(
        dir.path(),
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/synthetic-200k.report.json"),
    );
}
