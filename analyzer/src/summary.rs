//! Turning the collected tables into a [`Summary`].

use std::collections::BTreeMap;

use polars::prelude::*;
use seamless_proto::Outcome;

use crate::query::{Tables, i64s, opt_i64s};
use crate::report::{BackendSeen, Bin, Bins, Summary, Totals, TrafficSwitch, Window};
use crate::stats::ProbeStats;
use crate::windows::{backend_name, downtime, outcome_name};

fn as_u64(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

fn totals(tables: &Tables, stats: &ProbeStats) -> PolarsResult<Totals> {
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
    t.first_start_ns = stats.first_ns;
    t.last_start_ns = stats.last_ns;
    let span_s = (t.last_start_ns - t.first_start_ns) as f64 / 1e9;
    if span_s > 0.0 && t.probes > 1 {
        t.achieved_rate_per_s = (t.probes - 1) as f64 / span_s;
    }
    Ok(t)
}

fn backend_label(names: &[String], id: u32) -> String {
    backend_name(names, id).unwrap_or_else(|| format!("backend#{id}"))
}

fn backends(tables: &Tables, names: &[String]) -> PolarsResult<Vec<BackendSeen>> {
    let df = &tables.backends;
    let mut seen = Vec::new();
    let mut counts = Vec::new();
    for id in 1..=names.len() as u32 {
        let n = i64s(df, &format!("n{id}"))?.first().copied().unwrap_or(0);
        if n == 0 {
            continue;
        }
        let first = opt_i64s(df, &format!("first{id}"))?;
        let last = opt_i64s(df, &format!("last{id}"))?;
        counts.push(n);
        seen.push(BackendSeen {
            name: backend_label(names, id),
            first_ns: first.first().copied().flatten().unwrap_or(0),
            last_ns: last.first().copied().flatten().unwrap_or(0),
            probes: as_u64(n),
            share: 0.0,
        });
    }
    let answered: i64 = counts.iter().sum();
    for (b, n) in seen.iter_mut().zip(counts) {
        b.share = n as f64 / answered.max(1) as f64;
    }
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
    let df = &tables.bins;
    let start = i64s(df, "t")?;
    let probes = i64s(df, "probes")?;
    let ok = i64s(df, "ok")?;
    let failed = i64s(df, "failed")?;
    let per_backend: Vec<(String, Vec<i64>)> = (1..=names.len() as u32)
        .map(|id| Ok((backend_label(names, id), i64s(df, &format!("b{id}"))?)))
        .collect::<PolarsResult<_>>()?;
    let mut bins: Vec<Bin> = (0..start.len())
        .map(|k| Bin {
            start_ns: start[k],
            probes: as_u64(probes[k]),
            ok: as_u64(ok[k]),
            failed: as_u64(failed[k]),
            ratio: (ok[k] + failed[k] > 0).then(|| ok[k] as f64 / (ok[k] + failed[k]) as f64),
            backends: per_backend
                .iter()
                .filter(|(_, n)| n[k] > 0)
                .map(|(name, n)| (name.clone(), as_u64(n[k])))
                .collect(),
        })
        .collect();
    bins.sort_by_key(|b| b.start_ns);
    Ok(Bins { width_ns, bins })
}

/// The summary of one probe set, given its windows and order statistics.
pub(crate) fn summary(
    tables: &Tables,
    stats: ProbeStats,
    windows: Vec<Window>,
    names: &[String],
    bin_ns: i64,
) -> PolarsResult<Summary> {
    let backends = backends(tables, names)?;
    Ok(Summary {
        downtime: downtime(&windows),
        totals: totals(tables, &stats)?,
        interval: stats.interval,
        windows,
        latency: stats.latency,
        switch: switch(&backends),
        backends,
        bins: bins(tables, names, bin_ns)?,
    })
}
