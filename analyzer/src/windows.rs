//! Failure windows from the runs table, merging, and the union across agents.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use polars::prelude::*;
use seamless_proto::Outcome;

use crate::AnalyzeOptions;
use crate::query::{Tables, bools, i64s};
use crate::report::{Downtime, Window};

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

/// Whether the failure run `next` joins the window ending with `last`.
fn merges(last: &Run, next: &Run, opts: &AnalyzeOptions) -> bool {
    let ok_between = u64::try_from(next.i_first - last.i_last - 1).unwrap_or(0);
    let gap = next.t_first - last.t_last;
    (opts.merge_successes > 0 && ok_between <= opts.merge_successes)
        || opts.merge_gap_ns.is_some_and(|g| gap <= g)
}

/// The failure windows of one agent's tables.
pub(crate) fn windows(
    tables: &Tables,
    names: &[String],
    opts: &AnalyzeOptions,
    agent: &str,
) -> PolarsResult<Vec<Window>> {
    let runs = runs(&tables.runs)?;
    let combos = combos(&tables.fail_combos)?;
    let mut spans: Vec<(usize, usize)> = Vec::new();
    for (k, run) in runs.iter().enumerate().filter(|(_, r)| r.fail) {
        match spans.last_mut() {
            Some((_, end)) if merges(&runs[*end], run, opts) => *end = k,
            _ => spans.push((k, k)),
        }
    }
    Ok(spans
        .into_iter()
        .map(|(s, e)| window(&runs, s, e, &combos, names, agent))
        .collect())
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

/// The extent a window covers: from the last ok before (or the first
/// failure) to the first ok after (or the last failure).
fn extent(w: &Window) -> (i64, i64) {
    (
        w.last_ok_before_ns.unwrap_or(w.first_fail_ns),
        w.first_ok_after_ns.unwrap_or(w.last_fail_ns),
    )
}

/// The union of several agents' windows: windows whose extents overlap
/// become one, with counts summed and the widest bounds.
pub(crate) fn union(mut all: Vec<Window>) -> Vec<Window> {
    all.sort_by_key(|w| (extent(w).0, w.first_fail_ns));
    let mut out: Vec<Window> = Vec::new();
    for w in all {
        if let Some(cur) = out.last_mut()
            && extent(&w).0 <= extent(cur).1
        {
            join(cur, w);
            continue;
        }
        out.push(w);
    }
    out
}

fn join(cur: &mut Window, w: Window) {
    let (cur_start, cur_end) = extent(cur);
    let (w_start, w_end) = extent(&w);
    // The joined window is bounded by the earliest ok-before and the latest
    // ok-after; where an unbounded edge ties, it stays unbounded.
    if w_start < cur_start || (w_start == cur_start && w.last_ok_before_ns.is_none()) {
        cur.last_ok_before_ns = w.last_ok_before_ns;
        cur.backend_before = w.backend_before.clone();
    }
    if w_end > cur_end || (w_end == cur_end && w.first_ok_after_ns.is_none()) {
        cur.first_ok_after_ns = w.first_ok_after_ns;
        cur.backend_after = w.backend_after.clone();
    }
    cur.first_fail_ns = cur.first_fail_ns.min(w.first_fail_ns);
    cur.last_fail_ns = cur.last_fail_ns.max(w.last_fail_ns);
    cur.lower_ns = cur.last_fail_ns - cur.first_fail_ns;
    cur.edge_uncertainty_ns = cur.edge_uncertainty_ns.max(w.edge_uncertainty_ns);
    cur.upper_ns = upper(cur);
    cur.failed += w.failed;
    cur.total += w.total;
    cur.ratio = if cur.total == 0 {
        0.0
    } else {
        cur.failed as f64 / cur.total as f64
    };
    for (k, n) in w.kinds {
        *cur.kinds.entry(k).or_insert(0) += n;
    }
    let backends: BTreeSet<String> = cur.backends.drain(..).chain(w.backends).collect();
    cur.backends = backends.into_iter().collect();
    let agents: BTreeSet<String> = cur.agents.drain(..).chain(w.agents).collect();
    cur.agents = agents.into_iter().collect();
}

/// The chance left for a run of successes at a partial window's edge to
/// hide the outage's true start or end.
const EDGE_MISS: f64 = 0.001;

/// The shortest run of successes that has less than [`EDGE_MISS`] chance of
/// happening by luck inside an outage that fails `ratio` of the probes: 1
/// for a full outage.
pub(crate) fn edge_probes(ratio: f64) -> i64 {
    if !(ratio > 0.0 && ratio < 1.0) {
        return 1;
    }
    (EDGE_MISS.ln() / (1.0 - ratio).ln())
        .ceil()
        .clamp(1.0, 1000.0) as i64
}

/// The upper bound of a window: observed edges, widened by the edge
/// uncertainty at each side.
fn upper(w: &Window) -> Option<i64> {
    w.last_ok_before_ns
        .zip(w.first_ok_after_ns)
        .map(|(b, a)| a - b + 2 * w.edge_uncertainty_ns)
}

/// Widens the upper bound of partial windows (some probes inside succeeded)
/// by the run of successes that could hide each edge, in probe intervals.
pub(crate) fn widen_partial(windows: &mut [Window], interval_ns: i64) {
    for w in windows {
        w.edge_uncertainty_ns = (edge_probes(w.ratio) - 1) * interval_ns.max(0);
        w.upper_ns = upper(w);
    }
}

/// Downtime summed over windows.
pub(crate) fn downtime(windows: &[Window]) -> Downtime {
    let unbounded = windows.iter().filter(|w| w.upper_ns.is_none()).count() as u64;
    Downtime {
        windows: windows.len() as u64,
        lower_ns: windows.iter().map(|w| w.lower_ns).sum(),
        upper_ns: if unbounded == 0 {
            Some(windows.iter().filter_map(|w| w.upper_ns).sum())
        } else {
            None
        },
        unbounded_windows: unbounded,
        failed: windows.iter().map(|w| w.failed).sum(),
    }
}
