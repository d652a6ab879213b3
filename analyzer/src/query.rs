//! The polars queries: every statistic of a set of probes as lazy plans,
//! collected together once.

use polars::prelude::*;

use crate::load::{CLASS_FAIL, CLASS_LOCAL, CLASS_OK, Columns};

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
    /// Backends in the run-wide table (ids 1..=backends).
    pub backends: u32,
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
    /// Bins: `t, probes, ok, failed`, and `b<id>` probes answered by each
    /// backend.
    pub bins: DataFrame,
    /// One row: `n<id>`, `first<id>`, `last<id>` for each backend id.
    pub backends: DataFrame,
}

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
