//! The chart's data: columnar arrays the page's script reads as they are.

use polars::prelude::*;
use serde::Serialize;

use crate::Analysis;
use crate::load::{CLASS_FAIL, CLASS_OK};
use crate::probes::Row;
use crate::windows::outcome_name;

/// Time columns of the thinning grid over the whole run, and over the
/// rollout (where zooming goes deepest); rows of latency, log-spaced as the
/// chart's axis is. At most 360,000 cells; a run's latencies fill a few
/// dozen rows of a column, so a few tens of thousands of points.
const COLS_ALL: usize = 1500;
const COLS_ROLLOUT: usize = 6000;
const ROWS: usize = 48;

/// Above this many, failed probes on the same fine column with the same
/// kind are kept once.
const FAIL_DEDUP_ABOVE: usize = 200_000;

/// Points of one series: seconds since the first probe, latency in ms, the
/// backend's index in [`ChartData::backends`] (-1: none), and for failures
/// the kind's index in [`ChartData::kinds`].
#[derive(Debug, Default, Serialize)]
pub(crate) struct Points {
    pub t: Vec<f64>,
    pub ms: Vec<f64>,
    pub backend: Vec<i32>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub kind: Vec<u16>,
}

/// One timeline event.
#[derive(Debug, Serialize)]
pub(crate) struct Mark {
    pub t: f64,
    pub kind: String,
    pub label: String,
}

/// Everything the page draws.
#[derive(Debug, Serialize)]
pub(crate) struct ChartData {
    /// Wall-clock ns of t = 0 (the first probe).
    pub t0_ns: i64,
    pub ok: Points,
    pub failed: Points,
    /// Ok probes in the report, before thinning.
    pub ok_total: u64,
    pub kinds: Vec<String>,
    pub backends: Vec<String>,
    pub events: Vec<Mark>,
    /// Failure windows (merged view): [start, end] s.
    pub windows: Vec<[f64; 2]>,
    /// The rollout, [start, end] s.
    pub rollout: Option<[f64; 2]>,
}

impl ChartData {
    pub(crate) fn new(a: &Analysis) -> PolarsResult<ChartData> {
        let r = &a.report;
        let (t0, t1) = a.probes.span()?.unwrap_or((0, 0));
        let secs = |ns: i64| (ns - t0) as f64 / 1e9;
        // Log rows from 1 us to the slowest ok probe.
        let top_ns = r
            .merged
            .latency
            .iter()
            .find(|l| l.phase == "all")
            .map_or(1, |l| l.max_ns.max(1));
        let (lo, hi) = (1e3_f64.ln(), (top_ns as f64).max(2e3).ln());
        // The dense span: the rollout and a second either side.
        let dense = r
            .rollout
            .map(|s| (s.start_ns - 1_000_000_000, s.end_ns + 1_000_000_000));
        let cell = |p: &Row| -> usize {
            let l = (p.lat.max(1_000) as f64).ln();
            let row = (((l - lo) / (hi - lo)).clamp(0.0, 1.0) * (ROWS - 1) as f64) as usize;
            let col = match dense {
                Some((d0, d1)) if p.t >= d0 && p.t <= d1 => {
                    COLS_ALL + grid(p.t - d0, d1 - d0, COLS_ROLLOUT)
                }
                _ => grid(p.t - t0, t1 - t0, COLS_ALL),
            };
            col * ROWS + row.min(ROWS - 1)
        };
        let mut taken = vec![false; (COLS_ALL + COLS_ROLLOUT) * ROWS];
        let mut ok = Points::default();
        let mut failed_rows: Vec<Row> = Vec::new();
        let mut ok_total = 0;
        let bid = |b: u32| i32::try_from(b).map_or(-1, |b| b - 1);
        a.probes.for_each(|p| match p.class {
            CLASS_OK => {
                ok_total += 1;
                let c = cell(&p);
                if !taken[c] {
                    taken[c] = true;
                    ok.t.push(secs(p.t));
                    ok.ms.push(p.lat as f64 / 1e6);
                    ok.backend.push(bid(p.backend));
                }
            }
            CLASS_FAIL => failed_rows.push(p),
            _ => {}
        })?;
        if failed_rows.len() > FAIL_DEDUP_ABOVE {
            let key = |p: &Row| (grid(p.t - t0, t1 - t0, COLS_ROLLOUT * 10), p.outcome);
            failed_rows.dedup_by_key(|p| key(p));
        }
        let mut kinds: Vec<String> = Vec::new();
        let mut failed = Points::default();
        for p in failed_rows {
            let name = outcome_name(p.outcome);
            let i = kinds.iter().position(|n| *n == name).unwrap_or_else(|| {
                kinds.push(name);
                kinds.len() - 1
            });
            failed.t.push(secs(p.t));
            failed.ms.push(p.lat as f64 / 1e6);
            failed.backend.push(bid(p.backend));
            failed.kind.push(u16::try_from(i).unwrap_or(u16::MAX));
        }
        Ok(ChartData {
            t0_ns: t0,
            ok,
            failed,
            ok_total,
            kinds,
            backends: a.backends.clone(),
            events: r
                .events
                .iter()
                .map(|e| Mark {
                    t: secs(e.ts_ns),
                    kind: e.kind.clone(),
                    label: e.label.clone(),
                })
                .collect(),
            windows: r
                .merged
                .windows
                .iter()
                .map(|w| [secs(w.first_fail_ns), secs(w.last_fail_ns)])
                .collect(),
            rollout: r.rollout.map(|s| [secs(s.start_ns), secs(s.end_ns)]),
        })
    }
}

/// The column of offset `d` of a span `span` cut in `n`.
fn grid(d: i64, span: i64, n: usize) -> usize {
    let span = span.max(1);
    ((d.clamp(0, span) as f64 / span as f64) * (n - 1) as f64) as usize
}
