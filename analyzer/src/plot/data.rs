//! What the run figure draws, reduced from the probes: every failed probe,
//! and ok probes thinned to one mark per occupied cell of a grid finer than
//! the marks, so 10 million probes draw as the same picture in a few
//! thousand marks.

use polars::prelude::*;

use crate::Analysis;
use crate::load::{CLASS_FAIL, CLASS_OK};
use crate::windows::outcome_name;

/// Grid columns and rows for thinning ok probes: about one cell per 2x2
/// pixels of the upper panel's plotting area, the size of an ok mark.
const GRID: (usize, usize) = (700, 280);

/// Above this many failed probes, those falling on the same pixel column
/// with the same kind are drawn once (the picture is identical).
const FAIL_DEDUP_ABOVE: usize = 100_000;

/// Seconds and response times to draw.
#[derive(Debug, Default)]
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

impl PlotData {
    /// Reduces the analysis's probes.
    pub(crate) fn new(a: &Analysis) -> PolarsResult<PlotData> {
        let Some((t0, t1)) = a.probes.span()? else {
            return Ok(PlotData::default());
        };
        let span_ns = (t1 - t0).max(1);
        let p999 = a
            .report
            .merged
            .latency
            .iter()
            .find(|l| l.phase == "all")
            .map_or(0, |l| l.p999_ns);
        let y_top = (p999 as f64 * 1.5 / 1e9).max(0.01);
        let top_ns = y_top * 1e9;
        let (gw, gh) = GRID;
        let mut cells = vec![false; gw * gh];
        let mut clipped = 0;
        let mut failed = Vec::new();
        a.probes.for_each(|p| {
            let x = ((p.t - t0) as f64 / span_ns as f64 * (gw - 1) as f64) as usize;
            match p.class {
                CLASS_OK => {
                    let y = p.lat as f64 / top_ns;
                    if y > 1.0 {
                        clipped += 1;
                    }
                    let row = (y.clamp(0.0, 1.0) * (gh - 1) as f64) as usize;
                    cells[row * gw + x.min(gw - 1)] = true;
                }
                CLASS_FAIL => {
                    failed.push((x as u32, p.outcome, p.t));
                }
                _ => {}
            }
        })?;
        if failed.len() > FAIL_DEDUP_ABOVE {
            failed.sort_unstable_by_key(|&(x, o, _)| (x, o));
            failed.dedup_by_key(|&mut (x, o, _)| (x, o));
        }
        let secs = |ns: i64| (ns - t0) as f64 / 1e9;
        let span_s = secs(t1);
        let ok = cells
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
        Ok(PlotData {
            t0,
            span_s,
            y_top,
            clipped,
            ok,
            failed: failed
                .into_iter()
                .map(|(_, o, ns)| (secs(ns), outcome_name(o)))
                .collect(),
        })
    }

    /// Seconds since t0 of a wall-clock ns time.
    pub(crate) fn secs(&self, ns: i64) -> f64 {
        (ns - self.t0) as f64 / 1e9
    }
}
