//! A merged view's order-free tables (bins, outcomes, backends) as its
//! agents' added up: the frames a fold of the merged probes gives, without
//! counting each probe again in the merge ([`super::Fold::order_only`]).

use std::collections::BTreeMap;

use polars::prelude::*;

use crate::query::{Tables, i64s, opt_i64s};

/// Sets `merged`'s bins, outcomes and backends to the sums of `agents'`
/// (the same bin width and backend table).
pub(crate) fn sum_tables(agents: &[&Tables], merged: &mut Tables) -> PolarsResult<()> {
    let Some(first) = agents.first() else {
        return Ok(());
    };
    // Bins: by start, every counter added.
    let names: Vec<String> = first
        .bins
        .get_column_names()
        .iter()
        .map(|n| n.to_string())
        .collect();
    let mut bins: BTreeMap<i64, Vec<i64>> = BTreeMap::new();
    for a in agents {
        let t = i64s(&a.bins, "t")?;
        let cols = names[1..]
            .iter()
            .map(|n| i64s(&a.bins, n))
            .collect::<PolarsResult<Vec<_>>>()?;
        for (k, &t) in t.iter().enumerate() {
            let acc = bins.entry(t).or_insert_with(|| vec![0; cols.len()]);
            for (a, c) in acc.iter_mut().zip(&cols) {
                *a += c[k];
            }
        }
    }
    let mut cols = vec![Column::new(
        "t".into(),
        bins.keys().copied().collect::<Vec<_>>(),
    )];
    for (j, n) in names[1..].iter().enumerate() {
        cols.push(Column::new(
            n.as_str().into(),
            bins.values().map(|v| v[j]).collect::<Vec<_>>(),
        ));
    }
    merged.bins = DataFrame::new(bins.len(), cols)?;

    // Outcomes: by outcome byte.
    let mut outcomes: BTreeMap<i64, i64> = BTreeMap::new();
    for a in agents {
        for (o, n) in i64s(&a.outcomes, "outcome")?
            .into_iter()
            .zip(i64s(&a.outcomes, "n")?)
        {
            *outcomes.entry(o).or_insert(0) += n;
        }
    }
    merged.outcomes = DataFrame::new(
        outcomes.len(),
        vec![
            Column::new(
                "outcome".into(),
                outcomes.keys().copied().collect::<Vec<_>>(),
            ),
            Column::new("n".into(), outcomes.values().copied().collect::<Vec<_>>()),
        ],
    )?;

    // Backends: counts added, the earliest first answer, the latest last.
    let mut cols = Vec::new();
    for name in first.backends.get_column_names() {
        let name = name.as_str();
        let vals = agents
            .iter()
            .map(|a| opt_i64s(&a.backends, name).map(|v| v.first().copied().flatten()))
            .collect::<PolarsResult<Vec<_>>>()?;
        let some = vals.iter().flatten().copied();
        cols.push(if name.starts_with("first") {
            Column::new(name.into(), [some.min()])
        } else if name.starts_with("last") {
            Column::new(name.into(), [some.max()])
        } else {
            Column::new(name.into(), [some.sum::<i64>()])
        });
    }
    merged.backends = DataFrame::new(1, cols)?;
    Ok(())
}
