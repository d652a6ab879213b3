//! Turning the collected tables into a [`Summary`].

use std::collections::BTreeMap;

use polars::prelude::*;
use seamless_proto::Outcome;

use crate::query::{LATENCY_QUANTILES, Tables, i64s, opt_i64s};
use crate::report::{
    BackendSeen, Bin, Bins, LatencyPhase, ProbeInterval, Summary, Totals, TrafficSwitch, Window,
};
use crate::windows::{backend_name, downtime, outcome_name};

fn as_u64(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

fn totals(tables: &Tables) -> PolarsResult<Totals> {
    let outcome = i64s(&tables.outcomes, "outcome")?;
    let n = i64s(&tables.outcomes, "n")?;
    let mut t = Totals {
        probes: 0,
        ok: 0,
        failed: 0,
        local_errors: 0,
        failed_by_kind: BTreeMap::new(),
        local_by_kind: BTreeMap::new(),
        first_start_ns: 0,
        last_start_ns: 0,
        achieved_rate_per_s: 0.0,
    };
    for (&o, &n) in outcome.iter().zip(&n) {
        let n = as_u64(n);
        t.probes += n;
        let kind = u8::try_from(o).ok().and_then(Outcome::from_u8);
        match kind {
            Some(Outcome::Ok) => t.ok += n,
            Some(k) if k.is_local() => {
                t.local_errors += n;
                *t.local_by_kind.entry(k.name().to_owned()).or_insert(0) += n;
            }
            _ => {
                t.failed += n;
                let name = outcome_name(u32::try_from(o).unwrap_or(u32::MAX));
                *t.failed_by_kind.entry(name).or_insert(0) += n;
            }
        }
    }
    let first = i64s(&tables.span, "first")?;
    let last = i64s(&tables.span, "last")?;
    t.first_start_ns = first.first().copied().unwrap_or(0);
    t.last_start_ns = last.first().copied().unwrap_or(0);
    let span_s = (t.last_start_ns - t.first_start_ns) as f64 / 1e9;
    if span_s > 0.0 && t.probes > 1 {
        t.achieved_rate_per_s = (t.probes - 1) as f64 / span_s;
    }
    Ok(t)
}

fn latency_rows(df: &DataFrame, phases: &[&str]) -> PolarsResult<Vec<LatencyPhase>> {
    let n = i64s(df, "n")?;
    let q: Vec<Vec<i64>> = LATENCY_QUANTILES
        .iter()
        .map(|(name, _)| i64s(df, name))
        .collect::<PolarsResult<_>>()?;
    let max = i64s(df, "max")?;
    let phase = if df.schema().contains("phase") {
        i64s(df, "phase")?
    } else {
        vec![0; df.height()]
    };
    let mut rows: Vec<(i64, LatencyPhase)> = (0..df.height())
        .filter(|&k| n[k] > 0)
        .map(|k| {
            let name = usize::try_from(phase[k])
                .ok()
                .and_then(|p| phases.get(p))
                .copied()
                .unwrap_or("other");
            (
                phase[k],
                LatencyPhase {
                    phase: name.to_owned(),
                    count: as_u64(n[k]),
                    p50_ns: q[0][k],
                    p90_ns: q[1][k],
                    p99_ns: q[2][k],
                    p999_ns: q[3][k],
                    max_ns: max[k],
                },
            )
        })
        .collect();
    rows.sort_by_key(|(p, _)| *p);
    Ok(rows.into_iter().map(|(_, r)| r).collect())
}

fn backends(tables: &Tables, names: &[String]) -> PolarsResult<Vec<BackendSeen>> {
    let id = i64s(&tables.backends, "backend")?;
    let first = i64s(&tables.backends, "first_ns")?;
    let last = i64s(&tables.backends, "last_ns")?;
    let n = i64s(&tables.backends, "n")?;
    let answered: i64 = n.iter().sum();
    let mut seen: Vec<BackendSeen> = (0..id.len())
        .map(|k| BackendSeen {
            name: backend_name(names, u32::try_from(id[k]).unwrap_or(0))
                .unwrap_or_else(|| format!("backend#{}", id[k])),
            first_ns: first[k],
            last_ns: last[k],
            probes: as_u64(n[k]),
            share: if answered > 0 {
                n[k] as f64 / answered as f64
            } else {
                0.0
            },
        })
        .collect();
    seen.sort_by(|a, b| (a.first_ns, &a.name).cmp(&(b.first_ns, &b.name)));
    Ok(seen)
}

fn switch(seen: &[BackendSeen]) -> Option<TrafficSwitch> {
    let from = seen.iter().min_by_key(|b| b.first_ns)?;
    let to = seen.iter().max_by_key(|b| b.last_ns)?;
    (from.name != to.name).then(|| TrafficSwitch {
        from: from.name.clone(),
        to: to.name.clone(),
        first_to_ns: to.first_ns,
        last_from_ns: from.last_ns,
    })
}

fn bins(tables: &Tables, names: &[String], width_ns: i64) -> PolarsResult<Bins> {
    let start = i64s(&tables.bins, "t")?;
    let probes = i64s(&tables.bins, "probes")?;
    let ok = i64s(&tables.bins, "ok")?;
    let failed = i64s(&tables.bins, "failed")?;
    let mut bins: Vec<Bin> = (0..start.len())
        .map(|k| Bin {
            start_ns: start[k],
            probes: as_u64(probes[k]),
            ok: as_u64(ok[k]),
            failed: as_u64(failed[k]),
            ratio: (ok[k] + failed[k] > 0).then(|| ok[k] as f64 / (ok[k] + failed[k]) as f64),
            backends: BTreeMap::new(),
        })
        .collect();
    bins.sort_by_key(|b| b.start_ns);
    let index: BTreeMap<i64, usize> = bins
        .iter()
        .enumerate()
        .map(|(i, b)| (b.start_ns, i))
        .collect();
    let bb = &tables.bin_backends;
    let (id, t, n) = (i64s(bb, "backend")?, i64s(bb, "t")?, i64s(bb, "n")?);
    for k in 0..id.len() {
        if let Some(&i) = index.get(&t[k]) {
            let name = backend_name(names, u32::try_from(id[k]).unwrap_or(0))
                .unwrap_or_else(|| format!("backend#{}", id[k]));
            *bins[i].backends.entry(name).or_insert(0) += as_u64(n[k]);
        }
    }
    Ok(Bins { width_ns, bins })
}

/// The summary of one probe set, given its windows.
pub(crate) fn summary(
    tables: &Tables,
    windows: Vec<Window>,
    names: &[String],
    bin_ns: i64,
) -> PolarsResult<Summary> {
    let totals = totals(tables)?;
    let gap50 = opt_i64s(&tables.span, "gap50")?;
    let gap99 = opt_i64s(&tables.span, "gap99")?;
    let interval = ProbeInterval {
        median_ns: gap50.first().copied().flatten().unwrap_or(0),
        p99_ns: gap99.first().copied().flatten().unwrap_or(0),
    };
    let mut latency = latency_rows(&tables.latency_all, &["all"])?;
    if let Some(df) = &tables.latency_phase {
        latency.extend(latency_rows(df, &["before", "during", "after"])?);
    }
    let backends = backends(tables, names)?;
    Ok(Summary {
        downtime: downtime(&windows),
        totals,
        interval,
        windows,
        latency,
        switch: switch(&backends),
        backends,
        bins: bins(tables, names, bin_ns)?,
    })
}
