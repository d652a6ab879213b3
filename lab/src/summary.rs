//! What each run saw, read back from its probe log: failures, the failure
//! span, and how it sits against the ground truth. One JSON line per run in
//! `OUT/lab-summary.jsonl`, and one line on stderr.
//!
//! This is a quick check, not the analyzer: it takes the first and last
//! failed probe and the successes around them (by start time).

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::Path;

use anyhow::Context;
use seamless_proto::{ProbeLog, RunInfo, run};
use serde::Serialize;

/// The summary file.
pub const SUMMARY: &str = "lab-summary.jsonl";

/// Failure span of one probe log against the ground truth.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Seen {
    /// Probes in the log.
    pub probes: u64,
    /// Failed probes (local errors excluded).
    pub failures: u64,
    /// Local errors (the prober's own trouble).
    pub local_errors: u64,
    /// Start of the first failed probe, wall ns.
    pub first_fail_ns: Option<i64>,
    /// Start of the last failed probe, wall ns.
    pub last_fail_ns: Option<i64>,
    /// Start of the last ok probe before the first failure.
    pub last_ok_before_ns: Option<i64>,
    /// Start of the first ok probe after the last failure.
    pub first_ok_after_ns: Option<i64>,
}

/// Reads a probe log and finds its failure span.
pub fn seen(log: &ProbeLog) -> Seen {
    let mut probes: Vec<(i64, bool, bool)> = log
        .probes
        .iter()
        .map(|p| {
            (
                log.header.wall_ns(p.start_ns),
                p.outcome.is_failure(),
                p.outcome.is_local(),
            )
        })
        .collect();
    probes.sort_by_key(|p| p.0);
    let mut s = Seen {
        probes: probes.len() as u64,
        ..Default::default()
    };
    for &(t, fail, local) in &probes {
        if local {
            s.local_errors += 1;
        } else if fail {
            s.failures += 1;
            s.first_fail_ns.get_or_insert(t);
            s.last_fail_ns = Some(t);
        }
    }
    if let (Some(first), Some(last)) = (s.first_fail_ns, s.last_fail_ns) {
        let ok = |&&(_, fail, local): &&(i64, bool, bool)| !fail && !local;
        s.last_ok_before_ns = probes
            .iter()
            .filter(|p| p.0 < first)
            .filter(ok)
            .map(|p| p.0)
            .next_back();
        s.first_ok_after_ns = probes.iter().filter(|p| p.0 > last).find(ok).map(|p| p.0);
    }
    s
}

/// The summary writer.
pub struct Summary {
    out: File,
}

impl Summary {
    /// Opens (appends to) `OUT/lab-summary.jsonl`.
    pub fn open(out: &Path) -> anyhow::Result<Summary> {
        let path = out.join(SUMMARY);
        let out = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .with_context(|| format!("opening {}", path.display()))?;
        Ok(Summary { out })
    }

    /// Reads the run's probe logs, appends a line, returns a human line.
    pub fn record(&mut self, dir: &Path, info: &RunInfo) -> anyhow::Result<String> {
        let mut seen_all = Vec::new();
        for log in run::probe_logs(dir)? {
            let l =
                ProbeLog::read_path(&log).with_context(|| format!("reading {}", log.display()))?;
            seen_all.push(seen(&l));
        }
        let s = seen_all.first().cloned().unwrap_or_default();
        let truth = info.ground_truth.clone().unwrap_or_default();
        let outage = truth.outages.first().map(|o| (o.start_ns, o.end_ns));
        let line = serde_json::json!({
            "dir": dir,
            "scenario": info.scenario,
            "seen": s,
            "ground_truth": truth,
            "lab": info.extra.get("lab"),
        });
        writeln!(self.out, "{line}")?;
        let ms = |a: i64, b: i64| (b - a) as f64 / 1e6;
        let truth_text = match outage {
            Some((a, b)) => format!("outage {:.2} ms", ms(a, b)),
            None => "no outage".into(),
        };
        let seen_text = match (s.first_fail_ns, s.last_fail_ns) {
            (Some(a), Some(b)) => format!("failures span {:.2} ms", ms(a, b)),
            _ => "no failure span".into(),
        };
        Ok(format!(
            "lab: {} {} probes, {} failed ({}); truth: {}",
            dir.display(),
            s.probes,
            s.failures,
            seen_text,
            truth_text
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use seamless_proto::{Header, LogReader, LogWriter, Outcome, Probe};

    fn probe(t: u64, outcome: Outcome) -> Probe {
        Probe {
            intended_ns: t,
            start_ns: t,
            connect_ns: 50_000,
            first_byte_ns: 0,
            total_ns: 60_000,
            status: if outcome == Outcome::Ok { 200 } else { 0 },
            outcome,
            backend: 0,
            ..Probe::default()
        }
    }

    #[test]
    fn span_and_neighbours_of_the_failures() {
        let header = Header::example();
        let mut w = LogWriter::new(Vec::new(), &header).unwrap();
        // ok at 0 and 200 us, refused at 400 and 800, a local error at
        // 1000 (not downtime), ok at 600 (interleaved) and 1200.
        for (t, o) in [
            (0, Outcome::Ok),
            (200_000, Outcome::Ok),
            (400_000, Outcome::ConnectRefused),
            (600_000, Outcome::Ok),
            (800_000, Outcome::ConnectRefused),
            (1_000_000, Outcome::LocalPortExhausted),
            (1_200_000, Outcome::Ok),
        ] {
            w.push(&probe(t, o)).unwrap();
        }
        let bytes = w.finish().unwrap();
        let log = LogReader::new(&bytes[..]).unwrap().read_all().unwrap();
        let s = seen(&log);
        let at = |off: u64| Some(header.wall_ns(off));
        assert_eq!(s.probes, 7);
        assert_eq!(s.failures, 2);
        assert_eq!(s.local_errors, 1);
        assert_eq!(s.first_fail_ns, at(400_000));
        assert_eq!(s.last_fail_ns, at(800_000));
        assert_eq!(s.last_ok_before_ns, at(200_000));
        assert_eq!(s.first_ok_after_ns, at(1_200_000));
    }
}
