//! The committed keep-alive runs (`results/lab-keepalive/<shutdown>-
//! <client>/<scenario>/run-NN`, made by `scripts/lab-keepalive-job.sh`):
//! new and reused connections side by side on the real components, the old
//! pod's nginx stopped fast or gracefully, a careful client (the agent's
//! idle check) or a naive one. Each report's reuse row holds its
//! connection facts, consistent with its probe counts; where the probe log
//! is committed, the facts analysed afresh are the committed ones; and
//! what the README says of these runs holds for every one of them.

use std::path::{Path, PathBuf};

use seamless_analyzer::{AnalyzeOptions, Report, analyze};

fn runs() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../results/lab-keepalive");
    let mut v: Vec<PathBuf> = std::fs::read_dir(&root)
        .into_iter()
        .flatten()
        .flatten()
        .flat_map(|m| std::fs::read_dir(m.path()).into_iter().flatten().flatten())
        .flat_map(|s| std::fs::read_dir(s.path()).into_iter().flatten().flatten())
        .map(|r| r.path())
        .filter(|r| r.join("run.json").is_file() && r.join("report.json").is_file())
        .collect();
    v.sort();
    v
}

fn row<'a>(r: &'a Report, mode: &str) -> &'a seamless_analyzer::report::AgentReport {
    r.agents
        .iter()
        .find(|a| a.mode.as_deref() == Some(mode))
        .unwrap_or_else(|| panic!("{}: no {mode} row", r.source))
}

#[test]
fn every_committed_keepalive_run_holds_what_the_readme_says() {
    let runs = runs();
    assert!(
        runs.len() >= 4 * 8 * 3,
        "four matrices of the 8 scenarios x 3: {} runs",
        runs.len()
    );
    let mut reanalysed = 0;
    for run in &runs {
        let name = run.display().to_string();
        let report: Report =
            serde_json::from_slice(&std::fs::read(run.join("report.json")).unwrap()).unwrap();
        let info = seamless_proto::RunInfo::read(run).unwrap();
        let truth = info.ground_truth.clone().unwrap();
        let conns = truth.old_backend_conns.clone().expect("old_backend_conns");
        let lab = &info.extra["lab"];
        let naive = lab["agent_flags"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f == "--no-idle-check");
        let prestop = lab["termination"] == "prestop";
        let new = row(&report, "new");
        let reuse = row(&report, "reuse");
        assert!(new.connections.is_none(), "{name}");
        let c = reuse.connections.as_ref().expect("the reuse row's facts");
        // Every failed reuse probe is a break or a failed opening, once.
        assert_eq!(
            c.broken + c.failed_opening,
            reuse.summary.totals.failed,
            "{name}"
        );
        assert_eq!(c.requests, reuse.summary.totals.probes, "{name}");
        // The watch saw the old pod's connections all closed. (Without
        // preStop its first read can come after nginx began closing them:
        // the watch's thread enters the namespace as SIGTERM goes out.)
        assert!(conns.all_closed_ns.is_some(), "{name}: {conns:?}");
        if prestop {
            // The pool's 64 connections were open to the old pod at its
            // deletion, and the sleep kept them there until the shutdown.
            assert!(conns.open_at_start >= 60, "{name}: {conns:?}");
            assert!(conns.kept_alive >= 60, "{name}: {conns:?}");
            // A naive client loses a request on (nearly) each; a careful
            // one on far fewer (those in flight or racing the close), fast
            // or graceful.
            if naive {
                assert!(
                    c.broken * 10 >= u64::from(conns.kept_alive) * 9,
                    "{name}: {c:?}"
                );
            } else {
                assert!(
                    c.broken * 5 <= u64::from(conns.kept_alive) * 2,
                    "{name}: {c:?}"
                );
            }
            // New connections: none before the old pod's close.
            let closed = conns.all_closed_ns.unwrap();
            let before = new
                .summary
                .windows
                .iter()
                .filter(|w| w.first_fail_ns < closed - 5_000_000)
                .count();
            assert_eq!(before, 0, "{name}: new connections failed before the close");
        }
        if std::fs::read_dir(run)
            .unwrap()
            .flatten()
            .any(|e| e.file_name().to_string_lossy().starts_with("probe-"))
        {
            let fresh = analyze(run, &AnalyzeOptions::default()).unwrap();
            assert_eq!(
                row(&fresh, "reuse").connections,
                reuse.connections,
                "{name}: the committed facts are this log's"
            );
            reanalysed += 1;
        }
    }
    assert!(reanalysed >= 8, "the kept probe logs: {reanalysed}");
}
