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
//! (`exact`), the bins a bounded number (`bins`), the runs about two per
//! run of failed probes. What still grows with the probe count is the frame the
//! probes are walked from (also read by the plots and the edges of partial
//! windows).

mod bins;
mod exact;

use std::collections::BTreeMap;

use polars::prelude::*;

use crate::load::{CLASS_FAIL, CLASS_LOCAL, CLASS_OK};
use crate::probes::Probes;
use crate::query::{Ctx, Tables};
use crate::report::LatencyPhase;
use crate::report::{ProbeInterval, Span};
use crate::stats::ProbeStats;
use bins::FineBins;
use exact::{Hist, Pick};

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
    /// Gaps between consecutive starts, counted by bucket.
    gaps: Hist,
    /// Ok latency by bucket: all, then before, during and after the
    /// rollout.
    lat: [Hist; 4],
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
            self.lat[0].push(lat);
            if let Some(p) = phase_of(self.rollout, t) {
                self.lat[p].push(lat);
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
    /// [`Fold::bin_ns_for`]) and statistics, as the frame path gives them;
    /// `probes` are the probes folded, walked again for the quantiles.
    pub(crate) fn finish(
        mut self,
        bin_ns: i64,
        probes: &Probes,
    ) -> PolarsResult<(Tables, ProbeStats)> {
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
        // The second pass: the values of the buckets the quantiles fall in.
        let mut gaps = Pick::new(self.gaps.targets(&GAP_QUANTILES));
        let mut lat: Vec<Pick> = self
            .lat
            .iter()
            .map(|h| Pick::new(h.targets(&LATENCY_QUANTILES)))
            .collect();
        let mut prev = None;
        probes.for_each(|r| {
            if let Some(p) = prev {
                gaps.push(r.t - p);
            }
            prev = Some(r.t);
            if r.class == CLASS_OK {
                lat[0].push(r.lat);
                if let Some(p) = phase_of(self.rollout, r.t) {
                    lat[p].push(r.lat);
                }
            }
        })?;
        let g = gaps.finish(GAP_QUANTILES.len());
        let mut picked = lat.into_iter();
        let mut latency = Vec::new();
        for (k, name) in ["all", "before", "during", "after"].into_iter().enumerate() {
            let q = picked.next().map(|p| p.finish(LATENCY_QUANTILES.len()));
            let h = &self.lat[k];
            if h.n() == 0 || (k > 0 && self.rollout.is_none()) {
                continue;
            }
            let q = q.unwrap_or_default();
            latency.push(LatencyPhase {
                phase: name.to_owned(),
                count: h.n(),
                p50_ns: q[0],
                p90_ns: q[1],
                p99_ns: q[2],
                p999_ns: q[3],
                max_ns: h.max(),
            });
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
    first_pass(probes, ctx.backends, rollout, Some(ctx.bin_ns))?.finish(ctx.bin_ns, probes)
}

/// The first pass over `probes`: a fold to finish.
pub(crate) fn first_pass(
    probes: &Probes,
    backends: u32,
    rollout: Option<Span>,
    bin_ns: Option<i64>,
) -> PolarsResult<Fold> {
    let mut fold = Fold::new(backends, rollout, bin_ns);
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

/// Ok latency quantiles reported, ascending.
const LATENCY_QUANTILES: [f64; 4] = [0.5, 0.9, 0.99, 0.999];
/// Probe interval quantiles reported.
const GAP_QUANTILES: [f64; 2] = [0.5, 0.99];

/// The rollout phase of a start, as an index of `Fold::lat`: 1 before, 2
/// during (start and end included), 3 after; none without a rollout.
fn phase_of(rollout: Option<Span>, t: i64) -> Option<usize> {
    let r = rollout?;
    Some(if t < r.start_ns {
        1
    } else if t <= r.end_ns {
        2
    } else {
        3
    })
}

#[cfg(test)]
mod oracle;
#[cfg(test)]
mod tests;
