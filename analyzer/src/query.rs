//! The probe frame, and the tables every statistic of a set of probes
//! comes from (folded in one pass by [`crate::stream`]).

use polars::prelude::*;

#[cfg(test)]
use crate::load::Columns;

/// Builds the probe frame of one or more agents' columns, sorted by start.
/// Moves the columns in; polars takes the buffers without copying. The
/// tests' reference path: the analysis walks spills ([`crate::spill`]).
#[cfg(test)]
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
