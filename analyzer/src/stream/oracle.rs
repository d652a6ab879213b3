//! The polars plans and order statistics the analysis used before the
//! fold ([`super::Fold`]): the reference the tests hold the fold to.
//! Nearest-rank quantiles by selection (`select_nth_unstable`), narrowing
//! the slice from one quantile to the next.

use polars::prelude::*;

use crate::load::{CLASS_FAIL, CLASS_LOCAL, CLASS_OK};
use crate::query::{Ctx, Tables};
use crate::report::LatencyPhase;
use crate::report::{ProbeInterval, Span};
use crate::stats::ProbeStats;

/// Latency quantiles reported, ascending.
const LATENCY_QUANTILES: [f64; 4] = [0.5, 0.9, 0.99, 0.999];

/// Plans per probe set.
const PLANS: usize = 5;

fn count(e: Expr) -> Expr {
    e.cast(DataType::Int64)
}

fn bin_options(bin_ns: i64) -> DynamicGroupOptions {
    DynamicGroupOptions {
        every: Duration::new(bin_ns),
        period: Duration::new(bin_ns),
        offset: Duration::new(0),
        label: Label::Left,
        include_boundaries: false,
        closed_window: ClosedWindow::Left,
        start_by: StartBy::WindowBound,
        ..Default::default()
    }
}

/// The plans for one set of probes, in [`Tables`] order.
pub(crate) fn plans(lf: LazyFrame, ctx: Ctx) -> Vec<LazyFrame> {
    let non_local = lf
        .clone()
        .filter(col("class").neq(lit(CLASS_LOCAL)))
        .with_row_index("i", None)
        .with_column(col("class").eq(lit(CLASS_FAIL)).alias("fail"))
        .with_column(col("fail").rle_id().alias("run"));
    let runs = non_local.clone().group_by_stable([col("run")]).agg([
        col("fail").first(),
        col("t").first().alias("t_first"),
        col("t").last().alias("t_last"),
        count(col("i").first()).alias("i_first"),
        count(col("i").last()).alias("i_last"),
        col("backend").first().alias("b_first"),
        col("backend").last().alias("b_last"),
    ]);
    let fail_combos = non_local
        .filter(col("fail"))
        .group_by([col("run"), col("outcome"), col("backend")])
        .agg([count(len()).alias("n")]);
    let outcomes = lf
        .clone()
        .group_by([col("outcome")])
        .agg([count(len()).alias("n")]);
    // Which backend answered: one count per backend id and bin, and its
    // first and last answer. Runs have few backends, so a column each is
    // cheaper than a group-by over every probe.
    let is = |id: u32| col("backend").eq(lit(id));
    let mut bin_aggs = vec![
        count(len()).alias("probes"),
        count(col("class").eq(lit(CLASS_OK)).sum()).alias("ok"),
        count(col("class").eq(lit(CLASS_FAIL)).sum()).alias("failed"),
    ];
    let mut backend_aggs = vec![count(len()).alias("n")];
    for id in 1..=ctx.backends {
        bin_aggs.push(count(is(id).sum()).alias(format!("b{id}")));
        backend_aggs.push(count(is(id).sum()).alias(format!("n{id}")));
        backend_aggs.push(col("t").filter(is(id)).first().alias(format!("first{id}")));
        backend_aggs.push(col("t").filter(is(id)).last().alias(format!("last{id}")));
    }
    let backends = lf.clone().select(backend_aggs);
    let bins = lf
        .group_by_dynamic(col("t"), [], bin_options(ctx.bin_ns))
        .agg(bin_aggs);
    vec![runs, fail_combos, outcomes, bins, backends]
}

/// Collects every plan of every probe set in one go.
pub(crate) fn collect(sets: Vec<Vec<LazyFrame>>) -> PolarsResult<Vec<Tables>> {
    let n = sets.len();
    let plans: Vec<DslPlan> = sets
        .into_iter()
        .flatten()
        .map(|lf| lf.logical_plan)
        .collect();
    let mut frames =
        LazyFrame::collect_all_with_engine(plans, Engine::InMemory, OptFlags::default())?
            .into_iter();
    let mut tables = Vec::with_capacity(n);
    for _ in 0..n {
        let mut next = || {
            frames
                .next()
                .ok_or_else(|| polars_err!(ComputeError: "a query returned no frame"))
        };
        tables.push(Tables {
            runs: next()?,
            fail_combos: next()?,
            outcomes: next()?,
            bins: next()?,
            backends: next()?,
        });
    }
    debug_assert!(frames.next().is_none(), "{PLANS} plans a set");
    Ok(tables)
}

/// The statistics of a probe frame sorted by `t` (the tests' reference
/// for [`crate::stream`]'s fold).
pub(crate) fn probe_stats(df: &DataFrame, rollout: Option<Span>) -> PolarsResult<ProbeStats> {
    let t = df.column("t")?.i64()?.rechunk();
    let lat = df.column("lat")?.i64()?.rechunk();
    let class = df.column("class")?.u32()?.rechunk();
    let (t, lat, class) = (t.cont_slice()?, lat.cont_slice()?, class.cont_slice()?);

    let mut gaps: Vec<i64> = t.windows(2).map(|w| w[1] - w[0]).collect();
    let g = quantiles(&mut gaps, &[0.5, 0.99]);
    drop(gaps);

    // Ok latencies in start order: the phases are contiguous runs of it.
    let mut ok = Vec::with_capacity(t.len());
    let (mut before, mut during) = (0, 0);
    for k in 0..t.len() {
        if class[k] == CLASS_OK {
            ok.push(lat[k]);
            if let Some(r) = rollout {
                if t[k] < r.start_ns {
                    before += 1;
                } else if t[k] <= r.end_ns {
                    during += 1;
                }
            }
        }
    }
    let mut latency = Vec::new();
    if rollout.is_some() {
        let (b, rest) = ok.split_at_mut(before);
        let (d, a) = rest.split_at_mut(during);
        latency.extend(phase("before", b));
        latency.extend(phase("during", d));
        latency.extend(phase("after", a));
    }
    // Last: selecting over the whole vector mixes the phases.
    if let Some(all) = phase("all", &mut ok) {
        latency.insert(0, all);
    }
    Ok(ProbeStats {
        first_ns: t.first().copied().unwrap_or(0),
        last_ns: t.last().copied().unwrap_or(0),
        interval: ProbeInterval {
            median_ns: g[0],
            p99_ns: g[1],
        },
        latency,
    })
}

/// Nearest-rank quantiles (`round(q * (n - 1))`) of `vals`, `qs` ascending;
/// reorders `vals`. Empty input gives zeros.
pub(super) fn quantiles(vals: &mut [i64], qs: &[f64]) -> Vec<i64> {
    let n = vals.len();
    if n == 0 {
        return vec![0; qs.len()];
    }
    let mut from = 0;
    qs.iter()
        .map(|&q| {
            let idx = (((n - 1) as f64) * q).round() as usize;
            let idx = idx.clamp(from, n - 1);
            // Everything before `from` is already <= vals[from].
            let (_, v, _) = vals[from..].select_nth_unstable(idx - from);
            let v = *v;
            from = idx;
            v
        })
        .collect()
}

/// One phase's ok latency: count, nearest-rank quantiles and max; `None`
/// without a probe. Reorders `vals`.
pub(super) fn phase(name: &str, vals: &mut [i64]) -> Option<LatencyPhase> {
    if vals.is_empty() {
        return None;
    }
    let max = vals.iter().copied().max().unwrap_or(0);
    let q = quantiles(vals, &LATENCY_QUANTILES);
    Some(LatencyPhase {
        phase: name.to_owned(),
        count: vals.len() as u64,
        p50_ns: q[0],
        p90_ns: q[1],
        p99_ns: q[2],
        p999_ns: q[3],
        max_ns: max,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_quantiles_match_a_sort() {
        let mut state = 12345u64;
        for n in [1usize, 2, 3, 10, 101, 1000] {
            let vals: Vec<i64> = (0..n)
                .map(|_| {
                    state = state.wrapping_mul(6364136223846793005).wrapping_add(1);
                    (state >> 40) as i64 % 500
                })
                .collect();
            let mut sorted = vals.clone();
            sorted.sort_unstable();
            let qs = [0.0, 0.5, 0.9, 0.99, 0.999, 1.0];
            let mut work = vals.clone();
            let got = quantiles(&mut work, &qs);
            let want: Vec<i64> = qs
                .iter()
                .map(|q| sorted[(((n - 1) as f64) * q).round() as usize])
                .collect();
            assert_eq!(got, want, "n = {n}");
        }
        assert_eq!(quantiles(&mut [], &[0.5]), [0]);
    }
}
