//! The chart's data: columnar arrays the page's script reads as they are.

use polars::prelude::*;
use serde::Serialize;

use crate::Analysis;
use crate::load::{CLASS_FAIL, CLASS_OK};
use crate::probes::Row;
use crate::report::Span;
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
#[derive(Debug, Default, Clone, Serialize)]
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

/// The first ok probe of a cell: its place in one start order (start,
/// source, then its place in the walk of that source), latency, backend.
#[derive(Debug, Clone, Copy)]
struct First {
    key: (i64, u32, u64),
    lat: i64,
    backend: u32,
}

/// The chart's probes gathered a probe at a time, in start order; the walks
/// of several sources (each agent's probes, or parts of them) add up to the
/// walk of all of them in one start order ([`ChartWalk::add`]).
#[derive(Debug, Clone)]
pub(crate) struct ChartWalk {
    t0: i64,
    t1: i64,
    /// The least latency of each row above the first ([`Rows`]).
    rows: Rows,
    /// The dense span: the rollout and a second either side.
    dense: Option<(i64, i64)>,
    /// The source walked.
    source: u32,
    /// Probes walked so far.
    seq: u64,
    /// Each cell's first ok probe.
    first: Vec<Option<First>>,
    /// Failed probes, with their place in one start order.
    failed: Vec<((i64, u32, u64), Row)>,
    ok_total: u64,
}

impl ChartWalk {
    /// For the probes of source `source` (its index in the run's) starting
    /// over `span` (first, last, of every source), the slowest ok probe of
    /// the merged view `top_ns`, and the rollout.
    pub(crate) fn new(
        span: Option<(i64, i64)>,
        top_ns: i64,
        rollout: Option<Span>,
        source: usize,
    ) -> ChartWalk {
        let (t0, t1) = span.unwrap_or((0, 0));
        // Log rows from 1 us to the slowest ok probe.
        let top_ns = top_ns.max(1);
        ChartWalk {
            t0,
            t1,
            rows: Rows::new(1e3_f64.ln(), (top_ns as f64).max(2e3).ln()),
            dense: rollout.map(|s| (s.start_ns - 1_000_000_000, s.end_ns + 1_000_000_000)),
            source: u32::try_from(source).unwrap_or(u32::MAX),
            seq: 0,
            first: vec![None; (COLS_ALL + COLS_ROLLOUT) * ROWS],
            failed: Vec::new(),
            ok_total: 0,
        }
    }

    /// Adds the walk of other probes (a later part of the same source, or
    /// another source): each cell keeps the earlier first probe.
    pub(crate) fn add(&mut self, other: ChartWalk) {
        for (a, b) in self.first.iter_mut().zip(other.first) {
            match (&a, b) {
                (Some(x), Some(y)) if y.key < x.key => *a = Some(y),
                (None, Some(y)) => *a = Some(y),
                _ => {}
            }
        }
        self.ok_total += other.ok_total;
        self.failed.extend(other.failed);
    }

    fn cell(&self, p: &Row) -> usize {
        let row = self.rows.of(p.lat);
        let col = match self.dense {
            Some((d0, d1)) if p.t >= d0 && p.t <= d1 => {
                COLS_ALL + grid(p.t - d0, d1 - d0, COLS_ROLLOUT)
            }
            _ => grid(p.t - self.t0, self.t1 - self.t0, COLS_ALL),
        };
        col * ROWS + row.min(ROWS - 1)
    }

    pub(crate) fn push(&mut self, p: &Row) {
        let key = (p.t, self.source, self.seq);
        self.seq += 1;
        match p.class {
            CLASS_OK => {
                self.ok_total += 1;
                let c = self.cell(p);
                if self.first[c].is_none() {
                    self.first[c] = Some(First {
                        key,
                        lat: p.lat,
                        backend: p.backend,
                    });
                }
            }
            CLASS_FAIL => self.failed.push((key, *p)),
            _ => {}
        }
    }

    /// The chart's data, with the report's marks, windows and rollout.
    fn finish(self, r: &crate::report::Report, backends: &[String]) -> ChartData {
        let t0 = self.t0;
        let ok_total = self.ok_total;
        let (ok, failed, kinds) = self.points();
        let secs = |ns: i64| secs(t0, ns);
        ChartData {
            t0_ns: t0,
            ok,
            failed,
            ok_total,
            kinds,
            backends: backends.to_vec(),
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
        }
    }

    /// The ok points, the failed ones, and the failures' kinds.
    fn points(self) -> (Points, Points, Vec<String>) {
        let (t0, t1) = (self.t0, self.t1);
        // The points in the order one walk would have taken them.
        let mut firsts: Vec<First> = self.first.into_iter().flatten().collect();
        firsts.sort_unstable_by_key(|f| f.key);
        let mut ok = Points::default();
        for f in firsts {
            ok.t.push(secs(t0, f.key.0));
            ok.ms.push(f.lat as f64 / 1e6);
            ok.backend.push(bid(f.backend));
        }
        let mut failed = self.failed;
        failed.sort_unstable_by_key(|(k, _)| *k);
        let mut failed_rows: Vec<Row> = failed.into_iter().map(|(_, p)| p).collect();
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
            failed.t.push(secs(t0, p.t));
            failed.ms.push(p.lat as f64 / 1e6);
            failed.backend.push(bid(p.backend));
            failed.kind.push(u16::try_from(i).unwrap_or(u16::MAX));
        }
        (ok, failed, kinds)
    }
}

/// The chart's latency rows, log-spaced from `lo` to `hi` (natural logs of
/// ns). A row is the latency's place on that scale, as
/// [`Rows::by_formula`] computes it; the least latency of each row is
/// found once, so that a probe's row is a few comparisons, not a
/// logarithm (the same rows: the formula never falls as latency rises).
#[derive(Debug, Clone)]
struct Rows {
    lo: f64,
    hi: f64,
    least: Vec<i64>,
}

impl Rows {
    fn new(lo: f64, hi: f64) -> Rows {
        let mut rows = Rows {
            lo,
            hi,
            least: Vec::new(),
        };
        rows.least = (1..ROWS)
            .map(|r| {
                let (mut a, mut b) = (0i64, i64::MAX);
                while a < b {
                    let mid = a + (b - a) / 2;
                    if rows.by_formula(mid) >= r {
                        b = mid;
                    } else {
                        a = mid + 1;
                    }
                }
                a
            })
            .collect();
        rows
    }

    fn by_formula(&self, lat: i64) -> usize {
        let l = (lat.max(1_000) as f64).ln();
        let row =
            (((l - self.lo) / (self.hi - self.lo)).clamp(0.0, 1.0) * (ROWS - 1) as f64) as usize;
        row.min(ROWS - 1)
    }

    fn of(&self, lat: i64) -> usize {
        self.least.partition_point(|&l| l <= lat)
    }
}

/// Seconds from `t0` to `ns`.
fn secs(t0: i64, ns: i64) -> f64 {
    (ns - t0) as f64 / 1e9
}

/// A backend's index in the chart's table (-1: none).
fn bid(b: u32) -> i32 {
    i32::try_from(b).map_or(-1, |b| b - 1)
}

impl ChartData {
    /// The chart of an analysis (its probes gathered as it ran, else
    /// walked now).
    pub(crate) fn new(a: &Analysis) -> PolarsResult<ChartData> {
        let walk = match &a.figures.chart {
            Some(w) => w.clone(),
            None => {
                let top = crate::plot::all_phases(&a.report.merged.latency).map_or(1, |l| l.max_ns);
                let mut walk = ChartWalk::new(a.probes.span()?, top, a.report.rollout, 0);
                a.probes.for_each(|p| walk.push(&p))?;
                walk
            }
        };
        Ok(walk.finish(&a.report, &a.backends))
    }
}

/// The column of offset `d` of a span `span` cut in `n`.
fn grid(d: i64, span: i64, n: usize) -> usize {
    let span = span.max(1);
    ((d.clamp(0, span) as f64 / span as f64) * (n - 1) as f64) as usize
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::probes::{Probes, spilled, three_agents};

    #[test]
    fn a_latencys_row_is_the_formulas() {
        for top in [2_000, 1_000_000, 4_000_000, 10_000_000_000] {
            let rows = Rows::new(1e3_f64.ln(), (top as f64).max(2e3).ln());
            let mut lats: Vec<i64> = vec![i64::MIN, -1, 0, 999, 1000, 1001, top, i64::MAX];
            for &l in &rows.least {
                lats.extend([l - 1, l, l + 1]);
            }
            lats.extend((0..20_000).map(|k| k * k * 37 % (top * 3)));
            for lat in lats {
                assert_eq!(rows.of(lat), rows.by_formula(lat), "{lat} ns, top {top}");
            }
        }
    }

    #[test]
    fn each_agents_parts_add_up_to_the_one_merged_walk() {
        let sources: Vec<_> = three_agents().iter().map(|r| spilled(r)).collect();
        let all = Probes::of(sources.clone());
        let span = all.span().unwrap();
        let rollout = Some(Span {
            start_ns: 800_000_000,
            end_ns: 1_200_000_000,
        });
        let mut one = ChartWalk::new(span, 4_000_000, rollout, 0);
        all.for_each(|r| one.push(&r)).unwrap();
        let mut added: Option<ChartWalk> = None;
        for (i, s) in sources.iter().enumerate().rev() {
            for part in Probes::of(vec![s.clone()]).cut(3).unwrap() {
                let mut w = ChartWalk::new(span, 4_000_000, rollout, i);
                part.for_each(|r| w.push(&r)).unwrap();
                match &mut added {
                    None => added = Some(w),
                    Some(a) => a.add(w),
                }
            }
        }
        let (a, b) = (one.points(), added.unwrap().points());
        assert!(
            a.0.t.len() > 1000 && a.1.t.len() > 100,
            "{} {}",
            a.0.t.len(),
            a.1.t.len()
        );
        let json = |c: &(Points, Points, Vec<String>)| serde_json::to_string(c).unwrap();
        assert_eq!(json(&a), json(&b));
    }
}
