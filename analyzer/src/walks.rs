//! The analysis's walks after the logs are read, each cut in parts by start
//! ([`Probes::cut`]) and run side by side on the cores:
//!
//! - the second walk: each agent's spill for its quantiles' second pass
//!   (and its part of the merged view's ok latency) and report.html's
//!   chart, and the merged view (every rolled agent in one start order)
//!   for its fold;
//! - the third walk: each agent's spill for the run figure (its axis needs
//!   the merged p99.9, known after the second), and the merged view's gaps
//!   when its fold could not count them exactly ([`Fold::dense_gaps`]).
//!
//! Every part's answer is added in as it comes (each adds up the same in
//! any order), except the merged fold's parts, appended in start order.

use std::sync::{Mutex, PoisonError};

use polars::prelude::*;

use crate::Gather;
use crate::html::ChartWalk;
use crate::plot::PlotWalk;
use crate::probes::{Probes, Source};
use crate::query::Ctx;
use crate::report::Span;
use crate::stream::{Fold, Folded, GapPick, LatencyPick, Quantiles, fold_into};

/// An agent's second pass: its gaps and ok latencies, and its part of the
/// merged view's ok latencies.
pub(crate) type AgentPicks = (GapPick, LatencyPick, Option<LatencyPick>);

/// What one task of a walk gives: a part of it.
enum Done {
    /// The `k`th part of the merged view's fold.
    Fold(usize, Box<Fold>),
    /// A part of an agent's second pass, and of report.html's chart.
    Picks(usize, AgentPicks, Option<Box<ChartWalk>>),
    /// A part of the merged view's gaps.
    Gaps(GapPick),
    /// A part of the run figure.
    Plot(Box<PlotWalk>),
}

/// A task of a walk.
type Task<'a> = Box<dyn FnOnce() -> PolarsResult<Done> + Send + 'a>;

/// The walks' answers, added up.
#[derive(Default)]
pub(crate) struct Gathered {
    folds: Vec<Option<Fold>>,
    /// Each agent's second pass.
    pub picks: Vec<Option<AgentPicks>>,
    /// report.html's chart.
    pub chart: Option<ChartWalk>,
    /// The merged view's gaps (when walked for).
    pub gaps: Option<GapPick>,
    /// The run figure.
    pub plot: Option<PlotWalk>,
}

/// Puts `v` in `slot`, or adds it to what is there.
pub(crate) fn put<T>(slot: &mut Option<T>, v: T, add: impl FnOnce(&mut T, T)) {
    match slot {
        None => *slot = Some(v),
        Some(all) => add(all, v),
    }
}

impl Gathered {
    fn take(&mut self, done: Done) {
        match done {
            Done::Fold(k, f) => {
                if self.folds.len() <= k {
                    self.folds.resize_with(k + 1, || None);
                }
                self.folds[k] = Some(*f);
            }
            Done::Picks(i, (g, l, m), c) => {
                if self.picks.len() <= i {
                    self.picks.resize_with(i + 1, || None);
                }
                put(&mut self.picks[i], (g, l, m), |(ag, al, am), (g, l, m)| {
                    ag.add(g);
                    al.add(l);
                    if let (Some(a), Some(m)) = (am, m) {
                        a.add(m);
                    }
                });
                if let Some(c) = c {
                    put(&mut self.chart, *c, ChartWalk::add);
                }
            }
            Done::Gaps(g) => put(&mut self.gaps, g, GapPick::add),
            Done::Plot(p) => put(&mut self.plot, *p, PlotWalk::add),
        }
    }

    /// The merged view's fold, its parts appended in start order.
    pub(crate) fn merged_fold(&mut self) -> Option<Fold> {
        let mut parts = std::mem::take(&mut self.folds).into_iter().flatten();
        let mut all = parts.next()?;
        for f in parts {
            all.append(f);
        }
        Some(all)
    }
}

/// Runs the tasks on the cores, the first first, adding each answer in as
/// it comes (so no more than a few parts are held at once).
fn run(tasks: Vec<Task<'_>>) -> PolarsResult<Gathered> {
    use rayon::prelude::*;
    let gathered = Mutex::new(Gathered::default());
    tasks.into_par_iter().with_max_len(1).try_for_each(|t| {
        let done = t()?;
        gathered
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take(done);
        Ok::<_, PolarsError>(())
    })?;
    Ok(gathered
        .into_inner()
        .unwrap_or_else(PoisonError::into_inner))
}

/// What the walks know of the run.
pub(crate) struct Walks<'a> {
    /// Every agent's probes.
    pub sources: &'a [Source],
    /// Each agent's fold.
    pub folded: &'a [Folded],
    /// Which agents probe a control target (out of the merged view).
    pub control: &'a [bool],
    /// The merged view (the rolled agents), when it is more than one.
    pub merged: Option<&'a Probes>,
    /// The merged view's ok latency (its agents' added up).
    pub merged_lat: &'a Quantiles,
    pub ctx: Ctx,
    pub rollout: Option<Span>,
    /// First and last start of every probe.
    pub span: Option<(i64, i64)>,
    pub gather: Gather,
    /// Parts each walk is cut in.
    pub parts: usize,
}

impl Walks<'_> {
    /// Parts each agent's walk is cut in.
    fn per_agent(&self) -> usize {
        self.parts.div_ceil(self.sources.len()).max(1)
    }

    /// The second walk.
    pub(crate) fn second(&self) -> PolarsResult<Gathered> {
        let mut tasks: Vec<Task<'_>> = Vec::new();
        let (ctx, rollout) = (self.ctx, self.rollout);
        if let Some(view) = self.merged {
            for (k, part) in view.cut(self.parts)?.into_iter().enumerate() {
                tasks.push(Box::new(move || {
                    let f = Fold::new(ctx.backends, rollout, Some(ctx.bin_ns))
                        .dense_gaps()
                        .order_only();
                    Ok(Done::Fold(k, Box::new(fold_into(&part, f)?)))
                }));
            }
        }
        let top = self.merged_lat.max_latency();
        for (i, (s, f)) in self.sources.iter().zip(self.folded).enumerate() {
            for part in Probes::of(vec![s.clone()]).cut(self.per_agent())? {
                let q = &f.quantiles;
                let mine = (self.merged.is_some() && !self.control[i])
                    .then(|| self.merged_lat.latency_pick());
                let chart = self
                    .gather
                    .page
                    .then(|| ChartWalk::new(self.span, top, rollout, i));
                tasks.push(Box::new(move || {
                    let mut gaps = q.gap_pick().after(part.last_before(|_| true)?);
                    let (mut lat, mut mine, mut chart) = (q.latency_pick(), mine, chart);
                    part.for_each(|r| {
                        gaps.push(r.t);
                        lat.push(r.t, r.lat, r.class);
                        if let Some(m) = &mut mine {
                            m.push(r.t, r.lat, r.class);
                        }
                        if let Some(c) = &mut chart {
                            c.push(&r);
                        }
                    })?;
                    Ok(Done::Picks(i, (gaps, lat, mine), chart.map(Box::new)))
                }));
            }
        }
        run(tasks)
    }

    /// The third walk: the run figure with the merged p99.9 `p999`, and the
    /// merged view's gaps when `gaps` (its fold's first pass) needs them.
    pub(crate) fn third(&self, gaps: Option<&Quantiles>, p999: i64) -> PolarsResult<Gathered> {
        let mut tasks: Vec<Task<'_>> = Vec::new();
        if let (Some(view), Some(q)) = (self.merged, gaps) {
            for part in view.cut(self.parts)? {
                tasks.push(Box::new(move || {
                    let mut gaps = q.gap_pick().after(part.last_before(|_| true)?);
                    part.for_each(|r| gaps.push(r.t))?;
                    Ok(Done::Gaps(gaps))
                }));
            }
        }
        if self.gather.plots {
            let span = self.span;
            for (i, s) in self.sources.iter().enumerate() {
                for part in Probes::of(vec![s.clone()]).cut(self.per_agent())? {
                    tasks.push(Box::new(move || {
                        let mut plot = PlotWalk::of_source(span, p999, i);
                        part.for_each(|r| plot.push(&r))?;
                        Ok(Done::Plot(Box::new(plot)))
                    }));
                }
            }
        }
        run(tasks)
    }
}
