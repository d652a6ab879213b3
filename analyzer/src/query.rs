//! The polars queries: every statistic of a set of probes as lazy plans,
//! collected together once.

use polars::prelude::*;

use crate::load::{CLASS_FAIL, CLASS_LOCAL, CLASS_OK, Columns};
use crate::report::Span;

/// Quantiles of the latency table, in column order.
pub(crate) const LATENCY_QUANTILES: [(&str, f64); 4] =
    [("p50", 0.5), ("p90", 0.9), ("p99", 0.99), ("p999", 0.999)];

/// Builds the probe frame of one or more agents' columns, sorted by start.
/// Moves the columns in; polars takes the buffers without copying.
pub(crate) fn probe_frame(cols: Vec<Columns>, sorted: bool) -> PolarsResult<DataFrame> {
    let mut t = Vec::new();
    let mut lat = Vec::new();
    let mut outcome = Vec::new();
    let mut class = Vec::new();
    let mut backend = Vec::new();
    let single = cols.len() == 1;
    for c in cols {
        if single {
            (t, lat, outcome, class, backend) = (c.t, c.lat, c.outcome, c.class, c.backend);
        } else {
            t.extend(c.t);
            lat.extend(c.lat);
            outcome.extend(c.outcome);
            class.extend(c.class);
            backend.extend(c.backend);
        }
    }
    let height = t.len();
    let df = DataFrame::new(
        height,
        vec![
            Column::new("t".into(), t),
            Column::new("lat".into(), lat),
            Column::new("outcome".into(), outcome),
            Column::new("class".into(), class),
            Column::new("backend".into(), backend),
        ],
    )?;
    let mut df = if sorted && single {
        df
    } else {
        df.sort(
            ["t"],
            SortMultipleOptions::default().with_maintain_order(true),
        )?
    };
    df.rechunk_mut();
    let mut t = df.column("t")?.clone();
    t.set_sorted_flag(polars::series::IsSorted::Ascending);
    df.with_column(t)?;
    Ok(df)
}

/// What the queries need besides the probes.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Ctx {
    /// Width of the time bins, ns.
    pub bin_ns: i64,
    /// The rollout span, for latency phases.
    pub rollout: Option<Span>,
}

/// The tables one set of probes yields.
#[derive(Debug)]
pub(crate) struct Tables {
    /// Runs of equal failure state over the non-local probes, in order:
    /// `run, fail, t_first, t_last, i_first, i_last, b_first, b_last`.
    pub runs: DataFrame,
    /// Failed probes by run, outcome and backend: `run, outcome, backend, n`.
    pub fail_combos: DataFrame,
    /// Probes by outcome: `outcome, n`.
    pub outcomes: DataFrame,
    /// One row: `first, last, n, gap50, gap99`.
    pub span: DataFrame,
    /// Ok latency over all probes, one row: `n, p50.., max`.
    pub latency_all: DataFrame,
    /// Ok latency by rollout phase (0 before, 1 during, 2 after).
    pub latency_phase: Option<DataFrame>,
    /// Backends: `backend, first_ns, last_ns, n`.
    pub backends: DataFrame,
    /// Bins: `t, probes, ok, failed`.
    pub bins: DataFrame,
    /// Backends per bin: `backend, t, n`.
    pub bin_backends: DataFrame,
}

fn count(e: Expr) -> Expr {
    e.cast(DataType::Int64)
}

fn latency_aggs() -> Vec<Expr> {
    let mut aggs = vec![count(len()).alias("n")];
    for (name, q) in LATENCY_QUANTILES {
        aggs.push(
            col("lat")
                .quantile(lit(q), QuantileMethod::Nearest)
                .cast(DataType::Int64)
                .alias(name),
        );
    }
    aggs.push(col("lat").max().alias("max"));
    aggs
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
    let gaps = col("t") - col("t").shift(lit(1));
    let span = lf.clone().select([
        col("t").first().alias("first"),
        col("t").last().alias("last"),
        count(len()).alias("n"),
        gaps.clone()
            .quantile(lit(0.5), QuantileMethod::Nearest)
            .cast(DataType::Int64)
            .alias("gap50"),
        gaps.quantile(lit(0.99), QuantileMethod::Nearest)
            .cast(DataType::Int64)
            .alias("gap99"),
    ]);
    let ok = lf.clone().filter(col("class").eq(lit(CLASS_OK)));
    let latency_all = ok.clone().select(latency_aggs());
    let answered = lf.clone().filter(col("backend").neq(lit(0u32)));
    let backends = answered.clone().group_by([col("backend")]).agg([
        col("t").min().alias("first_ns"),
        col("t").max().alias("last_ns"),
        count(len()).alias("n"),
    ]);
    let bins = lf
        .group_by_dynamic(col("t"), [], bin_options(ctx.bin_ns))
        .agg([
            count(len()).alias("probes"),
            count(col("class").eq(lit(CLASS_OK)).sum()).alias("ok"),
            count(col("class").eq(lit(CLASS_FAIL)).sum()).alias("failed"),
        ]);
    let bin_backends = answered
        .group_by_dynamic(col("t"), [col("backend")], bin_options(ctx.bin_ns))
        .agg([count(len()).alias("n")]);
    let mut plans = vec![
        runs,
        fail_combos,
        outcomes,
        span,
        latency_all,
        backends,
        bins,
        bin_backends,
    ];
    if let Some(r) = ctx.rollout {
        let phase = when(col("t").lt(lit(r.start_ns)))
            .then(lit(0i32))
            .when(col("t").lt_eq(lit(r.end_ns)))
            .then(lit(1i32))
            .otherwise(lit(2i32))
            .alias("phase");
        plans.push(
            ok.with_column(phase)
                .group_by([col("phase")])
                .agg(latency_aggs()),
        );
    }
    plans
}

/// Collects every plan of every probe set in one go.
pub(crate) fn collect(sets: Vec<Vec<LazyFrame>>) -> PolarsResult<Vec<Tables>> {
    let sizes: Vec<usize> = sets.iter().map(Vec::len).collect();
    let plans: Vec<DslPlan> = sets
        .into_iter()
        .flatten()
        .map(|lf| lf.logical_plan)
        .collect();
    let mut frames =
        LazyFrame::collect_all_with_engine(plans, Engine::InMemory, OptFlags::default())?
            .into_iter();
    let mut tables = Vec::with_capacity(sizes.len());
    for size in sizes {
        let mut next = || {
            frames
                .next()
                .ok_or_else(|| polars_err!(ComputeError: "a query returned no frame"))
        };
        tables.push(Tables {
            runs: next()?,
            fail_combos: next()?,
            outcomes: next()?,
            span: next()?,
            latency_all: next()?,
            backends: next()?,
            bins: next()?,
            bin_backends: next()?,
            latency_phase: if size > 8 { Some(next()?) } else { None },
        });
    }
    Ok(tables)
}

/// A column as i64 values (nulls as 0).
pub(crate) fn i64s(df: &DataFrame, name: &str) -> PolarsResult<Vec<i64>> {
    let c = df.column(name)?.cast(&DataType::Int64)?;
    Ok(c.i64()?.iter().map(|v| v.unwrap_or(0)).collect())
}

/// A column as optional i64 values.
pub(crate) fn opt_i64s(df: &DataFrame, name: &str) -> PolarsResult<Vec<Option<i64>>> {
    let c = df.column(name)?.cast(&DataType::Int64)?;
    Ok(c.i64()?.iter().collect())
}

/// A boolean column (nulls as false).
pub(crate) fn bools(df: &DataFrame, name: &str) -> PolarsResult<Vec<bool>> {
    Ok(df
        .column(name)?
        .bool()?
        .iter()
        .map(|v| v.unwrap_or(false))
        .collect())
}
