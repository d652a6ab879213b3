//! Failure windows from the runs table, merging, and the union across agents.
//!
//! Modules: `auto` (the automatic merging: where a run of successes ends
//! an outage), `union` (one agent's windows joined with the others'),
//! `bounds` (the edges of partial windows, downtime summed).

mod auto;
mod bounds;
mod union;

use std::collections::{BTreeMap, BTreeSet, HashMap};

use polars::prelude::*;
use seamless_proto::Outcome;

use crate::AnalyzeOptions;
use crate::query::{Tables, bools, i64s};
use crate::report::Window;
use auto::{FailRun, auto_spans};

pub(crate) use auto::SPLIT_MISS;
#[cfg(test)]
pub(crate) use bounds::counting_times;
pub(crate) use bounds::{EdgeIndex, downtime, widen_partial};
pub(crate) use union::union;

/// A window of one failed probe out of one, bounded by ok probes at
/// `before` and `after`, failing from `first` to `last`: the tests' start,
/// with what they need changed.
#[cfg(test)]
pub(crate) fn test_window(before: i64, first: i64, last: i64, after: i64) -> Window {
    Window {
        first_fail_ns: first,
        last_fail_ns: last,
        last_ok_before_ns: Some(before),
        first_ok_after_ns: Some(after),
        lower_ns: last - first,
        upper_ns: Some(after - before),
        edge_uncertainty_ns: 0,
        split_successes: None,
        failed: 1,
        total: 1,
        ratio: 1.0,
        kinds: Default::default(),
        backends: Vec::new(),
        backend_before: None,
        backend_after: None,
        agents: Vec::new(),
    }
}

/// One run of equal failure state (local errors skipped).
#[derive(Debug, Clone, Copy)]
struct Run {
    id: i64,
    fail: bool,
    t_first: i64,
    t_last: i64,
    i_first: i64,
    i_last: i64,
    b_first: u32,
    b_last: u32,
}

fn runs(df: &DataFrame) -> PolarsResult<Vec<Run>> {
    let id = i64s(df, "run")?;
    let fail = bools(df, "fail")?;
    let t_first = i64s(df, "t_first")?;
    let t_last = i64s(df, "t_last")?;
    let i_first = i64s(df, "i_first")?;
    let i_last = i64s(df, "i_last")?;
    let b_first = i64s(df, "b_first")?;
    let b_last = i64s(df, "b_last")?;
    let mut runs: Vec<Run> = (0..df.height())
        .map(|k| Run {
            id: id[k],
            fail: fail[k],
            t_first: t_first[k],
            t_last: t_last[k],
            i_first: i_first[k],
            i_last: i_last[k],
            b_first: u32::try_from(b_first[k]).unwrap_or(0),
            b_last: u32::try_from(b_last[k]).unwrap_or(0),
        })
        .collect();
    runs.sort_by_key(|r| r.id);
    Ok(runs)
}

/// Failed probes of one run: (outcome, backend, count).
type Combos = HashMap<i64, Vec<(u32, u32, u64)>>;

fn combos(df: &DataFrame) -> PolarsResult<Combos> {
    let run = i64s(df, "run")?;
    let outcome = i64s(df, "outcome")?;
    let backend = i64s(df, "backend")?;
    let n = i64s(df, "n")?;
    let mut map: Combos = HashMap::new();
    for k in 0..df.height() {
        map.entry(run[k]).or_default().push((
            u32::try_from(outcome[k]).unwrap_or(u32::MAX),
            u32::try_from(backend[k]).unwrap_or(0),
            u64::try_from(n[k]).unwrap_or(0),
        ));
    }
    Ok(map)
}

/// The name of a run-wide backend id.
pub(crate) fn backend_name(names: &[String], id: u32) -> Option<String> {
    seamless_proto::log::backend_name(names, id).map(str::to_owned)
}

/// The outcome name of a byte.
pub(crate) fn outcome_name(byte: u32) -> String {
    u8::try_from(byte)
        .ok()
        .and_then(Outcome::from_u8)
        .map_or_else(|| format!("outcome_{byte}"), |o| o.name().to_owned())
}

/// Whether the failure run `next` joins the window ending with `last`
/// under the fixed rules (`--merge-successes`, `--merge-gap`).
fn merges(last: &Run, next: &Run, opts: &AnalyzeOptions) -> bool {
    let ok_between = u64::try_from(next.i_first - last.i_last - 1).unwrap_or(0);
    let gap = next.t_first - last.t_last;
    (opts.merge_successes > 0 && ok_between <= opts.merge_successes)
        || opts.merge_gap_ns.is_some_and(|g| gap <= g)
}

/// The failure windows of one agent's tables, with where their edges lie
/// among its probes.
pub(crate) fn windows(
    tables: &Tables,
    names: &[String],
    opts: &AnalyzeOptions,
    agent: &str,
) -> PolarsResult<(Vec<Window>, Vec<EdgeIndex>)> {
    let runs = runs(&tables.runs)?;
    let combos = combos(&tables.fail_combos)?;
    let fails: Vec<usize> = (0..runs.len()).filter(|&k| runs[k].fail).collect();
    // Spans of indices into `fails`, and for the automatic rule the run of
    // successes that would have ended each.
    let spans: Vec<(usize, usize, Option<u64>)> = if opts.auto_merge() {
        let seq: Vec<FailRun> = fails
            .iter()
            .map(|&k| FailRun {
                i_first: runs[k].i_first,
                i_last: runs[k].i_last,
            })
            .collect();
        auto_spans(&seq)
            .into_iter()
            .map(|s| (s.first, s.last, Some(s.split_successes)))
            .collect()
    } else {
        let mut spans: Vec<(usize, usize, Option<u64>)> = Vec::new();
        for (j, &k) in fails.iter().enumerate() {
            match spans.last_mut() {
                Some((_, end, _))
                    if !opts.no_merge && merges(&runs[fails[*end]], &runs[k], opts) =>
                {
                    *end = j
                }
                _ => spans.push((j, j, None)),
            }
        }
        spans
    };
    Ok(spans
        .into_iter()
        .map(|(s, e, k)| {
            let (s, e) = (fails[s], fails[e]);
            let mut w = window(&runs, s, e, &combos, names, agent);
            w.split_successes = k;
            let edge = EdgeIndex {
                before: s.checked_sub(1).map(|k| runs[k].i_last),
                after: runs.get(e + 1).map(|r| r.i_first),
            };
            (w, edge)
        })
        .unzip())
}

fn window(
    runs: &[Run],
    s: usize,
    e: usize,
    combos: &Combos,
    names: &[String],
    agent: &str,
) -> Window {
    let before = s.checked_sub(1).map(|k| runs[k]);
    let after = runs.get(e + 1).copied();
    let mut kinds = BTreeMap::new();
    let mut backends = BTreeSet::new();
    let mut failed = 0;
    for run in &runs[s..=e] {
        if run.fail {
            failed += u64::try_from(run.i_last - run.i_first + 1).unwrap_or(0);
            for &(outcome, backend, n) in combos.get(&run.id).into_iter().flatten() {
                *kinds.entry(outcome_name(outcome)).or_insert(0) += n;
                backends.extend(backend_name(names, backend));
            }
        } else {
            backends.extend(backend_name(names, run.b_first));
            backends.extend(backend_name(names, run.b_last));
        }
    }
    let backend_before = before.and_then(|r| backend_name(names, r.b_last));
    let backend_after = after.and_then(|r| backend_name(names, r.b_first));
    backends.extend(backend_before.clone());
    backends.extend(backend_after.clone());
    let (first, last) = (runs[s].t_first, runs[e].t_last);
    let last_ok_before_ns = before.map(|r| r.t_last);
    let first_ok_after_ns = after.map(|r| r.t_first);
    let total = u64::try_from(runs[e].i_last - runs[s].i_first + 1).unwrap_or(0);
    Window {
        first_fail_ns: first,
        last_fail_ns: last,
        last_ok_before_ns,
        first_ok_after_ns,
        lower_ns: last - first,
        upper_ns: last_ok_before_ns.zip(first_ok_after_ns).map(|(b, a)| a - b),
        edge_uncertainty_ns: 0,
        split_successes: None,
        failed,
        total,
        ratio: if total == 0 {
            0.0
        } else {
            failed as f64 / total as f64
        },
        kinds,
        backends: backends.into_iter().collect(),
        backend_before,
        backend_after,
        agents: vec![agent.to_owned()],
    }
}
