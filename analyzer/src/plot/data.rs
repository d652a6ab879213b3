//! What the run figure draws, reduced from the probes: every failed probe,
//! and ok probes thinned to one mark per occupied cell of a grid finer than
//! the marks, so 10 million probes draw as the same picture in a few
//! thousand marks.

use polars::prelude::*;

use crate::Analysis;
use crate::load::{CLASS_FAIL, CLASS_OK};
use crate::probes::Row;
use crate::windows::outcome_name;

/// Grid columns and rows for thinning ok probes: about one cell per 2x2
/// pixels of the upper panel's plotting area, the size of an ok mark.
const GRID: (usize, usize) = (700, 280);

/// Above this many failed probes, those falling on the same pixel column
/// with the same kind are drawn once (the picture is identical).
const FAIL_DEDUP_ABOVE: usize = 100_000;

/// Seconds and response times to draw.
#[derive(Debug, Default, Clone)]
pub(crate) struct PlotData {
    /// First probe start, ns: x = 0.
    pub t0: i64,
    /// Seconds from t0 to the last probe start.
    pub span_s: f64,
    /// Top of the response-time axis, s.
    pub y_top: f64,
    /// Ok probes above `y_top`, drawn on the top edge.
    pub clipped: u64,
    /// Thinned ok probes: (s since t0, response time s).
    pub ok: Vec<(f64, f64)>,
    /// Every failed probe (or one per pixel column and kind): (s, kind).
    pub failed: Vec<(f64, String)>,
}

/// [`PlotData`] gathered a probe at a time, in start order; the walks of
/// several sources (each agent's probes, or parts of them) add up to the
/// walk of all of them in one start order ([`PlotWalk::add`]).
#[derive(Debug)]
pub(crate) struct PlotWalk {
    span: Option<(i64, i64)>,
    y_top: f64,
    cells: Vec<bool>,
    clipped: u64,
    /// The source walked (its probes' place among equal starts).
    source: u32,
    /// (column, outcome, start, source) of each failed probe.
    failed: Vec<(u32, u32, i64, u32)>,
}

impl PlotWalk {
    /// For probes starting over `span` (first, last), the merged view's
    /// p99.9 ok latency `p999_ns` setting the response-time axis.
    pub(crate) fn new(span: Option<(i64, i64)>, p999_ns: i64) -> PlotWalk {
        Self::of_source(span, p999_ns, 0)
    }

    /// For the probes of source `source` (its index in the run's).
    pub(crate) fn of_source(span: Option<(i64, i64)>, p999_ns: i64, source: usize) -> PlotWalk {
        let (gw, gh) = GRID;
        PlotWalk {
            span,
            y_top: (p999_ns as f64 * 1.5 / 1e9).max(0.01),
            cells: vec![false; if span.is_some() { gw * gh } else { 0 }],
            clipped: 0,
            source: u32::try_from(source).unwrap_or(u32::MAX),
            failed: Vec::new(),
        }
    }

    pub(crate) fn push(&mut self, p: &Row) {
        let Some((t0, t1)) = self.span else {
            return;
        };
        let (gw, gh) = GRID;
        let span_ns = (t1 - t0).max(1);
        let x = ((p.t - t0) as f64 / span_ns as f64 * (gw - 1) as f64) as usize;
        match p.class {
            CLASS_OK => {
                let y = p.lat as f64 / (self.y_top * 1e9);
                if y > 1.0 {
                    self.clipped += 1;
                }
                let row = (y.clamp(0.0, 1.0) * (gh - 1) as f64) as usize;
                self.cells[row * gw + x.min(gw - 1)] = true;
            }
            CLASS_FAIL => self.failed.push((x as u32, p.outcome, p.t, self.source)),
            _ => {}
        }
    }

    /// Adds the walk of other probes (a later part of the same source, or
    /// another source).
    pub(crate) fn add(&mut self, later: PlotWalk) {
        for (a, b) in self.cells.iter_mut().zip(later.cells) {
            *a |= b;
        }
        self.clipped += later.clipped;
        self.failed.extend(later.failed);
    }

    pub(crate) fn finish(self) -> PlotData {
        let Some((t0, t1)) = self.span else {
            return PlotData::default();
        };
        let (gw, gh) = GRID;
        let mut failed = self.failed;
        // One start order, equal starts in source order (each source's
        // parts were added in theirs: the sort is stable).
        failed.sort_by_key(|&(_, _, t, s)| (t, s));
        if failed.len() > FAIL_DEDUP_ABOVE {
            failed.sort_unstable_by_key(|&(x, o, _, _)| (x, o));
            failed.dedup_by_key(|&mut (x, o, _, _)| (x, o));
        }
        let secs = |ns: i64| (ns - t0) as f64 / 1e9;
        let span_s = secs(t1);
        let y_top = self.y_top;
        let ok = self
            .cells
            .iter()
            .enumerate()
            .filter(|&(_, &on)| on)
            .map(|(i, _)| {
                let (row, col) = (i / gw, i % gw);
                (
                    col as f64 / (gw - 1) as f64 * span_s,
                    row as f64 / (gh - 1) as f64 * y_top,
                )
            })
            .collect();
        PlotData {
            t0,
            span_s,
            y_top,
            clipped: self.clipped,
            ok,
            failed: failed
                .into_iter()
                .map(|(_, o, ns, _)| (secs(ns), outcome_name(o)))
                .collect(),
        }
    }
}

/// The ok latency of all phases, when there are ok probes.
pub(crate) fn all_phases(
    latency: &[crate::report::LatencyPhase],
) -> Option<&crate::report::LatencyPhase> {
    latency.iter().find(|l| l.phase == "all")
}

/// The p99.9 of the ok latency of all phases (0 without ok probes).
pub(crate) fn p999(latency: &[crate::report::LatencyPhase]) -> i64 {
    all_phases(latency).map_or(0, |l| l.p999_ns)
}

impl PlotData {
    /// Reduces the analysis's probes (gathered as it ran, else walked now).
    pub(crate) fn new(a: &Analysis) -> PolarsResult<PlotData> {
        if let Some(p) = &a.figures.plot {
            return Ok(p.clone());
        }
        let mut walk = PlotWalk::new(a.probes.span()?, p999(&a.report.merged.latency));
        a.probes.for_each(|p| walk.push(&p))?;
        Ok(walk.finish())
    }

    /// Seconds since t0 of a wall-clock ns time.
    pub(crate) fn secs(&self, ns: i64) -> f64 {
        (ns - self.t0) as f64 / 1e9
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::probes::{Probes, spilled, three_agents};

    #[test]
    fn each_agents_parts_add_up_to_the_one_merged_walk() {
        let sources: Vec<_> = three_agents().iter().map(|r| spilled(r)).collect();
        let all = Probes::of(sources.clone());
        let span = all.span().unwrap();
        let mut one = PlotWalk::new(span, 2_000_000);
        all.for_each(|r| one.push(&r)).unwrap();
        let mut added: Option<PlotWalk> = None;
        for (i, s) in sources.iter().enumerate().rev() {
            for part in Probes::of(vec![s.clone()]).cut(3).unwrap() {
                let mut w = PlotWalk::of_source(span, 2_000_000, i);
                part.for_each(|r| w.push(&r)).unwrap();
                match &mut added {
                    None => added = Some(w),
                    Some(a) => a.add(w),
                }
            }
        }
        let (a, b) = (one.finish(), added.unwrap().finish());
        let sizes = (a.clipped, a.ok.len(), a.failed.len());
        assert!(sizes.0 > 0 && sizes.1 > 1000 && sizes.2 > 100, "{sizes:?}");
        assert_eq!((a.clipped, &a.ok, &a.failed), (b.clipped, &b.ok, &b.failed));
    }
}
