//! The run directory: the contract between the parts.
//!
//! ```text
//! RUN/
//!   probe-<agent>.log   one per agent (binary, see crate::log)
//!   timeline.jsonl      rollout events (see crate::timeline)
//!   run.json            what was run (RunInfo), with the lab's ground truth
//!   report.{json,md}    written by the analyzer
//!   plot.{png,svg}      written by the analyzer
//! ```
//!
//! Writers create it through [`RunDir`] (the timeline appender and
//! `run.json`), readers go through [`RunInfo::read`] and [`probe_logs`]. The
//! lab's ground truth is typed ([`GroundTruth`]); the rest of `run.json`
//! that no reader relies on (the Deployment's strategy, the lab's drawn
//! delays) stays in [`RunInfo::extra`].

mod dir;
mod truth;

pub use dir::{RunDir, RunDirError, Timeline};
pub use truth::{BackendConns, CommitSeenBy, ConntrackHeld, GroundTruth, Interval};

use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// File name of the timeline.
pub const TIMELINE: &str = "timeline.jsonl";
/// File name of the run description.
pub const RUN_INFO: &str = "run.json";
/// File name of the JSON report.
pub const REPORT_JSON: &str = "report.json";
/// File name of the Markdown report.
pub const REPORT_MD: &str = "report.md";
/// The analyzer's self-contained HTML report (the chart inlined).
pub const REPORT_HTML: &str = "report.html";
/// File name of the PNG plot.
pub const PLOT_PNG: &str = "plot.png";
/// File name of the SVG plot.
pub const PLOT_SVG: &str = "plot.svg";

/// The file name of an agent's probe log: `probe-<agent>.log`.
pub fn probe_log_name(agent: &str) -> String {
    format!("probe-{agent}.log")
}

/// The agent name of a probe log file name, if it is one.
pub fn agent_of(file_name: &str) -> Option<&str> {
    file_name.strip_prefix("probe-")?.strip_suffix(".log")
}

/// The probe logs in a run directory, sorted by name.
pub fn probe_logs(dir: &Path) -> io::Result<Vec<PathBuf>> {
    let mut logs = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name();
        if name.to_str().and_then(agent_of).is_some() && entry.file_type()?.is_file() {
            logs.push(entry.path());
        }
    }
    logs.sort();
    Ok(logs)
}

/// `run.json`: what was run.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RunInfo {
    /// Scenario name, e.g. `pod-clusterip-no-prestop`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scenario: Option<String>,
    /// `lab` or `cluster`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// What the agents probed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    /// What triggered the rollout, e.g. `move-to-node node-b`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trigger: Option<String>,
    /// Versions of the tools and of the cluster.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub versions: BTreeMap<String, String>,
    /// Notes on clocks (e.g. which clock each part used, known offsets).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clock: Option<String>,
    /// When the run started, wall-clock ns.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_ns: Option<i64>,
    /// When the run ended, wall-clock ns.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ended_ns: Option<i64>,
    /// How the run ended, in words: `complete`, or the error that ended it
    /// (the controller's `run_end` detail).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outcome: Option<String>,
    /// The writer's exit code for this run (the controller's table: 0
    /// complete, 5 progress deadline, 6 timeout, 130 interrupted, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i32>,
    /// The lab's ground truth.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ground_truth: Option<GroundTruth>,
    /// Everything else: the Deployment's strategy, termination settings, lab
    /// delays. Kept as JSON so writers can add fields without a format change.
    #[serde(default, flatten)]
    pub extra: BTreeMap<String, serde_json::Value>,
}

impl RunInfo {
    /// Reads `run.json` from a run directory.
    pub fn read(dir: &Path) -> io::Result<RunInfo> {
        let bytes = std::fs::read(dir.join(RUN_INFO))?;
        serde_json::from_slice(&bytes).map_err(io::Error::other)
    }

    /// Writes `run.json` into a run directory (pretty-printed), replacing
    /// any earlier one atomically: see [`RunDir::write_info`].
    pub fn write(&self, dir: &Path) -> io::Result<()> {
        dir::write_info(dir, self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(probe_log_name("node-a"), "probe-node-a.log");
        assert_eq!(agent_of("probe-node-a.log"), Some("node-a"));
        assert_eq!(agent_of("timeline.jsonl"), None);
    }

    #[test]
    fn run_dir_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("probe-b.log"), b"").unwrap();
        std::fs::write(dir.path().join("probe-a.log"), b"").unwrap();
        std::fs::write(dir.path().join("report.json"), b"{}").unwrap();
        let logs = probe_logs(dir.path()).unwrap();
        let names: Vec<_> = logs
            .iter()
            .map(|p| p.file_name().unwrap().to_owned())
            .collect();
        assert_eq!(names, ["probe-a.log", "probe-b.log"]);

        let mut info = RunInfo {
            scenario: Some("pod-clusterip-no-prestop".into()),
            ground_truth: Some(GroundTruth {
                old_backend_stopped_ns: Some(10),
                old_rule_removed_ns: Some(20),
                outages: vec![Interval {
                    start_ns: 10,
                    end_ns: 20,
                }],
                ..Default::default()
            }),
            ..Default::default()
        };
        info.extra
            .insert("strategy".into(), serde_json::json!({"maxSurge": 1}));
        info.write(dir.path()).unwrap();
        assert_eq!(RunInfo::read(dir.path()).unwrap(), info);
    }

    #[test]
    fn the_committed_lab_runs_read_with_a_typed_ground_truth() {
        let results = Path::new(env!("CARGO_MANIFEST_DIR")).join("../results/lab-emulated");
        let Ok(scenarios) = std::fs::read_dir(&results) else {
            return;
        };
        let mut n = 0;
        for s in scenarios.flatten() {
            for run in std::fs::read_dir(s.path()).into_iter().flatten().flatten() {
                if !run.path().join(RUN_INFO).is_file() {
                    continue;
                }
                let info = RunInfo::read(&run.path()).unwrap();
                let truth = info.ground_truth.expect("a lab run has a ground truth");
                assert!(truth.old_rule_commit_seen_by.is_some(), "{:?}", run.path());
                assert!(truth.old_rule_commit_written_ns.is_some());
                assert!(truth.extra.is_empty(), "untyped: {:?}", truth.extra);
                n += 1;
            }
        }
        eprintln!("{n} committed runs read");
    }
}
