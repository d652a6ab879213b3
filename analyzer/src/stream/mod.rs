//! The analysis as one pass over a probe set, in start order: everything
//! the report's statistics need (runs of equal failure state, counts by
//! outcome, bins, each backend's first and last answer, the probe interval
//! and the ok latency by rollout phase), folded probe by probe.
//!
//! The fold gives the same [`Tables`] and [`ProbeStats`] that polars plans
//! over the whole probe frame gave before (kept in `oracle` as the tests'
//! reference), so windows and summaries are built by the same code;
//! `tests` holds the two to agreement on a synthetic run and every kept
//! lab log. It takes probes one at a time and holds what the answer
//! needs: the quantiles are exact from two passes over bucket counts
//! (`exact`: the first here, the second a [`GapPick`] and a
//! [`LatencyPick`] fed by a later walk), the bins a bounded number
//! (`bins`), the runs about two per run of failed probes, and a mark every
//! [`MARK_EVERY`] counting probes so the edges of partial windows are read
//! back from the spill directly ([`Marks`]).
//!
//! An agent's fold runs as its log is read, on the log's own backend ids
//! (its table grows as the log is read), mapped to the run's at the end
//! ([`Fold::remap`]); the bin width is chosen once every log is read.

mod bins;
mod exact;
mod marks;
mod quantiles;
mod sum;

pub(crate) use marks::{MARK_EVERY, Marks};
use quantiles::phase_of;
pub(crate) use quantiles::{GapPick, LatencyPick, Quantiles};
pub(crate) use sum::sum_tables;

use std::collections::BTreeMap;

use polars::prelude::*;

use crate::load::{CLASS_FAIL, CLASS_LOCAL, CLASS_OK};
use crate::probes::Probes;
use crate::query::Tables;
use crate::report::Span;
#[cfg(test)]
use crate::stats::ProbeStats;
use bins::FineBins;
use exact::Hist;

/// One run of equal failure state over the non-local probes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct RunAcc {
    fail: bool,
    t_first: i64,
    t_last: i64,
    i_first: i64,
    i_last: i64,
    b_first: u32,
    b_last: u32,
}

/// One backend's answers: how many, first and last start.
#[derive(Debug, Clone, Copy, Default)]
struct BackendAcc {
    n: i64,
    first: Option<i64>,
    last: Option<i64>,
}

impl BackendAcc {
    /// Adds the answers of `other` (the same backend's, any probes).
    fn add(&mut self, other: &BackendAcc) {
        self.n += other.n;
        self.first = match (self.first, other.first) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        self.last = self.last.max(other.last);
    }
}

/// The fold of one probe set.
#[derive(Debug)]
pub(crate) struct Fold {
    rollout: Option<Span>,
    backends: Vec<BackendAcc>,
    runs: Vec<RunAcc>,
    combos: BTreeMap<(usize, u32, u32), i64>,
    /// Probes by outcome byte.
    outcomes: Vec<i64>,
    bins: FineBins,
    probes: i64,
    non_local: i64,
    first: Option<i64>,
    last: i64,
    /// Gaps between consecutive starts, counted by bucket.
    gaps: Hist,
    /// Ok latency by bucket: all, then before, during and after the
    /// rollout.
    lat: [Hist; 4],
    /// The position (among all probes) of every [`MARK_EVERY`]th counting
    /// probe.
    marks: Vec<u64>,
    /// Only what needs the order is folded ([`Fold::order_only`]).
    order_only: bool,
}

/// A probe that came before the one before it: the fold needs start order.
#[derive(Debug, thiserror::Error)]
#[error(
    "probe at {t} ns starts before the one before it ({last} ns): the stream is not in start order"
)]
pub(crate) struct OutOfOrder {
    t: i64,
    last: i64,
}

impl Fold {
    /// An empty fold: `backends` ids are 1..=backends; `bin_ns` the bin
    /// width when known, else chosen at the end as the frame path does.
    pub(crate) fn new(backends: u32, rollout: Option<Span>, bin_ns: Option<i64>) -> Fold {
        Fold {
            rollout,
            backends: vec![BackendAcc::default(); backends as usize],
            runs: Vec::new(),
            combos: BTreeMap::new(),
            outcomes: vec![0; 256],
            bins: FineBins::new(backends, bin_ns),
            probes: 0,
            non_local: 0,
            first: None,
            last: i64::MIN,
            gaps: Hist::default(),
            lat: Default::default(),
            marks: Vec::new(),
            order_only: false,
        }
    }

    /// Folds in one probe (start, total latency, outcome byte, class,
    /// run-wide backend id).
    pub(crate) fn push(
        &mut self,
        t: i64,
        lat: i64,
        outcome: u32,
        class: u32,
        backend: u32,
    ) -> Result<(), OutOfOrder> {
        if self.first.is_some() {
            if t < self.last {
                return Err(OutOfOrder { t, last: self.last });
            }
            self.gaps.push(t - self.last);
        } else {
            self.first = Some(t);
        }
        self.last = t;
        self.probes += 1;
        if !self.order_only {
            self.count(t, lat, outcome, class, backend);
        }
        if class == CLASS_LOCAL {
            return Ok(());
        }
        let i = self.non_local;
        self.non_local += 1;
        if i % MARK_EVERY == 0 {
            self.marks.push(self.probes as u64 - 1);
        }
        let fail = class == CLASS_FAIL;
        match self.runs.last_mut() {
            Some(r) if r.fail == fail => {
                r.t_last = t;
                r.i_last = i;
                r.b_last = backend;
            }
            _ => self.runs.push(RunAcc {
                fail,
                t_first: t,
                t_last: t,
                i_first: i,
                i_last: i,
                b_first: backend,
                b_last: backend,
            }),
        }
        if fail {
            let run = self.runs.len() - 1;
            *self.combos.entry((run, outcome, backend)).or_insert(0) += 1;
        }
        Ok(())
    }

    /// Counts what needs no order: outcomes, bins, backends, latency.
    fn count(&mut self, t: i64, lat: i64, outcome: u32, class: u32, backend: u32) {
        match self.outcomes.get_mut(outcome as usize) {
            Some(n) => *n += 1,
            None => {
                // Outcome bytes are u8: the frame path groups them all the same.
                self.outcomes.resize(outcome as usize + 1, 0);
                self.outcomes[outcome as usize] = 1;
            }
        }
        if backend as usize > self.backends.len() {
            self.backends
                .resize(backend as usize, BackendAcc::default());
            self.bins.grow(backend as usize);
        }
        self.bins.push(t, class, backend);
        if let Some(b) = backend
            .checked_sub(1)
            .and_then(|i| self.backends.get_mut(i as usize))
        {
            b.n += 1;
            b.first.get_or_insert(t);
            b.last = Some(t);
        }
        if class == CLASS_OK {
            self.lat[0].push(lat);
            if let Some(p) = phase_of(self.rollout, t) {
                self.lat[p].push(lat);
            }
        }
    }

    /// The first and last start folded, if any.
    #[cfg(test)]
    pub(crate) fn span(&self) -> Option<(i64, i64)> {
        self.first.map(|f| (f, self.last))
    }

    /// The bin width for a run probed over `span_ns`: the one given to
    #[cfg(test)]
    /// [`Fold::new`], else the frame path's choice.
    pub(crate) fn bin_ns_for(&self, span_ns: i64) -> i64 {
        self.bins.width_for(span_ns)
    }

    /// Folds only what needs one start order: the runs, failures by run,
    /// the gaps and the span. The rest (outcomes, bins, backends, ok
    /// latency) of a merged view is its agents' added up ([`sum_tables`],
    /// [`Quantiles::of_latency`]).
    pub(crate) fn order_only(mut self) -> Fold {
        self.order_only = true;
        self
    }

    /// Counts the gaps below 1 ms one by one too, so that their quantiles
    /// need no second pass when they fall there (a merged view's: its
    /// second pass is a second merge of every agent's probes).
    pub(crate) fn dense_gaps(mut self) -> Fold {
        self.gaps = Hist::dense();
        self
    }

    /// Adds the fold of the probes after these (the next part of the same
    /// walk, cut by start: [`crate::probes::Probes::cut`]), as one fold of
    /// both would have it. The marks are dropped: a fold put together from
    /// parts (the merged view's) reads no edges.
    pub(crate) fn append(&mut self, later: Fold) {
        let Some(later_first) = later.first else {
            return;
        };
        if self.first.is_some() {
            self.gaps.push(later_first - self.last);
        } else {
            self.first = Some(later_first);
        }
        self.last = later.last;
        self.gaps.add(&later.gaps);
        for (a, b) in self.lat.iter_mut().zip(&later.lat) {
            a.add(b);
        }
        if later.outcomes.len() > self.outcomes.len() {
            self.outcomes.resize(later.outcomes.len(), 0);
        }
        for (a, b) in self.outcomes.iter_mut().zip(&later.outcomes) {
            *a += b;
        }
        if later.backends.len() > self.backends.len() {
            self.set_backends(later.backends.len() as u32);
        }
        for (a, b) in self.backends.iter_mut().zip(&later.backends) {
            a.add(b);
        }
        let mut bins = later.bins;
        bins.grow(self.backends.len());
        self.bins.append(bins);
        // Runs: the later part's indices follow these; its first run goes
        // on this part's last when both fail or both succeed.
        let off = self.non_local;
        let mut runs = later.runs.into_iter().map(|mut r| {
            r.i_first += off;
            r.i_last += off;
            r
        });
        match (self.runs.last_mut(), runs.next()) {
            (Some(last), Some(first)) if last.fail == first.fail => {
                last.t_last = first.t_last;
                last.i_last = first.i_last;
                last.b_last = first.b_last;
            }
            (_, Some(first)) => self.runs.push(first),
            (_, None) => {}
        }
        // The run the later part's first became.
        let base = self.runs.len().saturating_sub(1);
        self.runs.extend(runs);
        for ((run, outcome, backend), n) in later.combos {
            *self
                .combos
                .entry((base + run, outcome, backend))
                .or_insert(0) += n;
        }
        self.probes += later.probes;
        self.non_local += later.non_local;
        self.marks.clear();
    }

    /// Makes room for the run's `backends` (its table once every log is
    /// read).
    pub(crate) fn set_backends(&mut self, backends: u32) {
        if backends as usize > self.backends.len() {
            self.backends
                .resize(backends as usize, BackendAcc::default());
            self.bins.grow(backends as usize);
        }
    }

    /// Maps the backend ids folded (a log's own) to the run's: `map[i]` is
    /// the run's id of id `i`, in a table of `backends`.
    pub(crate) fn remap(&mut self, map: &[u32], backends: u32) {
        let id = |b: u32| map.get(b as usize).copied().unwrap_or(0);
        let mut accs = vec![BackendAcc::default(); backends as usize];
        for (i, acc) in self.backends.iter().enumerate() {
            let Some(to) = id(i as u32 + 1)
                .checked_sub(1)
                .and_then(|k| accs.get_mut(k as usize))
            else {
                continue;
            };
            to.add(acc);
        }
        self.backends = accs;
        self.bins.remap(map, backends as usize);
        for r in &mut self.runs {
            r.b_first = id(r.b_first);
            r.b_last = id(r.b_last);
        }
        let combos = std::mem::take(&mut self.combos);
        for ((run, outcome, backend), n) in combos {
            *self.combos.entry((run, outcome, id(backend))).or_insert(0) += n;
        }
    }

    /// The tables (bins `bin_ns` wide, the run's width: see
    /// [`Fold::bin_ns_for`]) and statistics, as the frame path gives them;
    /// `probes` are the probes folded, walked again for the quantiles.
    #[cfg(test)]
    pub(crate) fn finish(self, bin_ns: i64, probes: &Probes) -> PolarsResult<(Tables, ProbeStats)> {
        let folded = self.tables(bin_ns)?;
        let q = &folded.quantiles;
        let (mut gaps, mut lat) = (q.gap_pick(), q.latency_pick());
        probes.for_each(|r| {
            gaps.push(r.t);
            lat.push(r.t, r.lat, r.class);
        })?;
        let latency = q.latency(lat);
        Ok((folded.tables, q.stats(gaps, latency)))
    }

    /// The tables (bins `bin_ns` wide), and what the quantiles' second
    /// pass and the edges of partial windows need.
    pub(crate) fn tables(mut self, bin_ns: i64) -> PolarsResult<Folded> {
        let (runs, fail_combos) = (self.runs_frame()?, self.combos_frame()?);
        let (outcomes, backends) = (self.outcomes_frame()?, self.backends_frame()?);
        let bins = std::mem::replace(&mut self.bins, FineBins::new(0, None));
        Ok(Folded {
            tables: Tables {
                runs,
                fail_combos,
                outcomes,
                bins: bins.frame(bin_ns)?,
                backends,
            },
            quantiles: Quantiles::new(self.rollout, self.first, self.last, self.gaps, self.lat),
            marks: Marks(self.marks),
        })
    }

    fn runs_frame(&self) -> PolarsResult<DataFrame> {
        let r = &self.runs;
        let col_i64 = |name: &str, f: fn(&RunAcc) -> i64| {
            Column::new(name.into(), r.iter().map(f).collect::<Vec<_>>())
        };
        DataFrame::new(
            r.len(),
            vec![
                Column::new("run".into(), (0..r.len() as i64).collect::<Vec<_>>()),
                Column::new("fail".into(), r.iter().map(|x| x.fail).collect::<Vec<_>>()),
                col_i64("t_first", |x| x.t_first),
                col_i64("t_last", |x| x.t_last),
                col_i64("i_first", |x| x.i_first),
                col_i64("i_last", |x| x.i_last),
                col_i64("b_first", |x| i64::from(x.b_first)),
                col_i64("b_last", |x| i64::from(x.b_last)),
            ],
        )
    }

    fn combos_frame(&self) -> PolarsResult<DataFrame> {
        let c = &self.combos;
        DataFrame::new(
            c.len(),
            vec![
                Column::new(
                    "run".into(),
                    c.keys().map(|k| k.0 as i64).collect::<Vec<_>>(),
                ),
                Column::new(
                    "outcome".into(),
                    c.keys().map(|k| i64::from(k.1)).collect::<Vec<_>>(),
                ),
                Column::new(
                    "backend".into(),
                    c.keys().map(|k| i64::from(k.2)).collect::<Vec<_>>(),
                ),
                Column::new("n".into(), c.values().copied().collect::<Vec<_>>()),
            ],
        )
    }

    fn outcomes_frame(&self) -> PolarsResult<DataFrame> {
        let (outcome, n): (Vec<i64>, Vec<i64>) = (0..)
            .zip(&self.outcomes)
            .filter(|&(_, &n)| n > 0)
            .map(|(o, &n)| (o, n))
            .unzip();
        DataFrame::new(
            outcome.len(),
            vec![
                Column::new("outcome".into(), outcome),
                Column::new("n".into(), n),
            ],
        )
    }

    fn backends_frame(&self) -> PolarsResult<DataFrame> {
        let mut cols = vec![Column::new("n".into(), [self.probes])];
        for (k, b) in self.backends.iter().enumerate() {
            let id = k + 1;
            cols.push(Column::new(format!("n{id}").into(), [b.n]));
            cols.push(Column::new(format!("first{id}").into(), [b.first]));
            cols.push(Column::new(format!("last{id}").into(), [b.last]));
        }
        DataFrame::new(1, cols)
    }
}

/// A fold finished: the tables, the quantiles' first pass, the marks.
#[derive(Debug)]
pub(crate) struct Folded {
    pub tables: Tables,
    pub quantiles: Quantiles,
    pub marks: Marks,
}

/// Folds probes walked in start order (the run's bin width and backend
/// count in `ctx`).
#[cfg(test)]
pub(crate) fn fold(
    probes: &Probes,
    ctx: crate::query::Ctx,
    rollout: Option<Span>,
) -> PolarsResult<(Tables, ProbeStats)> {
    first_pass(probes, ctx.backends, rollout, Some(ctx.bin_ns))?.finish(ctx.bin_ns, probes)
}

/// The first pass over `probes`: a fold to finish.
pub(crate) fn first_pass(
    probes: &Probes,
    backends: u32,
    rollout: Option<Span>,
    bin_ns: Option<i64>,
) -> PolarsResult<Fold> {
    fold_into(probes, Fold::new(backends, rollout, bin_ns))
}

/// `fold` with every probe of `probes` folded in, in start order.
pub(crate) fn fold_into(probes: &Probes, mut fold: Fold) -> PolarsResult<Fold> {
    let mut first_error = None;
    probes.for_each(|r| {
        if first_error.is_none()
            && let Err(e) = fold.push(r.t, r.lat, r.outcome, r.class, r.backend)
        {
            first_error = Some(e);
        }
    })?;
    if let Some(e) = first_error {
        polars_bail!(ComputeError: "{e}");
    }
    Ok(fold)
}

#[cfg(test)]
mod oracle;
#[cfg(test)]
mod tests;
