//! The analysis as one pass over a probe set, in start order: everything
//! the report's statistics need (runs of equal failure state, counts by
//! outcome, bins, each backend's first and last answer, the probe interval
//! and the ok latency by rollout phase), folded probe by probe.
//!
//! The fold gives the same [`Tables`] and [`ProbeStats`] that polars plans
//! over the whole probe frame gave before (kept in `oracle` as the tests'
//! reference), so windows and summaries are built by the same code;
//! `tests` holds the two to agreement on a synthetic run and every kept
//! lab log. It is the first part of analysing runs too large to hold in
//! memory: it takes probes one at a time. What still grows with the probe
//! count: the exact quantiles keep each ok latency and each gap (16 bytes
//! a probe), and the frame is still built for the plots and the edges of
//! partial windows.

mod bins;

use std::collections::BTreeMap;

use polars::prelude::*;

use crate::load::{CLASS_FAIL, CLASS_LOCAL, CLASS_OK};
use crate::probes::Probes;
use crate::query::{Ctx, Tables};
use crate::report::{ProbeInterval, Span};
use crate::stats::{ProbeStats, phase, quantiles};
use bins::FineBins;

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
    gaps: Vec<i64>,
    /// Ok latencies in start order: the rollout's phases are runs of it.
    ok: Vec<i64>,
    /// Ok probes before the rollout and during it.
    ok_before: usize,
    ok_during: usize,
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
            gaps: Vec::new(),
            ok: Vec::new(),
            ok_before: 0,
            ok_during: 0,
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
        match self.outcomes.get_mut(outcome as usize) {
            Some(n) => *n += 1,
            None => {
                // Outcome bytes are u8: the frame path groups them all the same.
                self.outcomes.resize(outcome as usize + 1, 0);
                self.outcomes[outcome as usize] = 1;
            }
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
            self.ok.push(lat);
            if let Some(r) = self.rollout {
                if t < r.start_ns {
                    self.ok_before += 1;
                } else if t <= r.end_ns {
                    self.ok_during += 1;
                }
            }
        }
        if class == CLASS_LOCAL {
            return Ok(());
        }
        let i = self.non_local;
        self.non_local += 1;
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

    /// The tables (bins `bin_ns` wide, the run's width: see
    /// [`Fold::bin_ns_for`]) and statistics, as the frame path gives them.
    pub(crate) fn finish(mut self, bin_ns: i64) -> PolarsResult<(Tables, ProbeStats)> {
        let (runs, fail_combos) = (self.runs_frame()?, self.combos_frame()?);
        let (outcomes, backends) = (self.outcomes_frame()?, self.backends_frame()?);
        let bins = std::mem::replace(&mut self.bins, FineBins::new(0, None));
        let tables = Tables {
            runs,
            fail_combos,
            outcomes,
            bins: bins.frame(bin_ns)?,
            backends,
        };
        let g = quantiles(&mut self.gaps, &[0.5, 0.99]);
        let mut latency = Vec::new();
        if self.rollout.is_some() {
            let (before, rest) = self.ok.split_at_mut(self.ok_before);
            let (during, after) = rest.split_at_mut(self.ok_during);
            latency.extend(phase("before", before));
            latency.extend(phase("during", during));
            latency.extend(phase("after", after));
        }
        // Last: selecting over the whole vector mixes the phases.
        if let Some(all) = phase("all", &mut self.ok) {
            latency.insert(0, all);
        }
        let stats = ProbeStats {
            first_ns: self.first.unwrap_or(0),
            last_ns: if self.first.is_some() { self.last } else { 0 },
            interval: ProbeInterval {
                median_ns: g[0],
                p99_ns: g[1],
            },
            latency,
        };
        Ok((tables, stats))
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

/// Folds probes walked in start order (the run's bin width and backend
/// count in `ctx`).
pub(crate) fn fold(
    probes: &Probes,
    ctx: Ctx,
    rollout: Option<Span>,
) -> PolarsResult<(Tables, ProbeStats)> {
    let mut fold = Fold::new(ctx.backends, rollout, Some(ctx.bin_ns));
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
    fold.finish(ctx.bin_ns)
}

#[cfg(test)]
mod oracle;
#[cfg(test)]
mod tests;
