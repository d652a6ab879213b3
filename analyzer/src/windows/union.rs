//! The union of several agents' windows.

use std::collections::BTreeSet;

use super::bounds::upper;
use crate::report::Window;

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
    cur.split_successes = cur.split_successes.max(w.split_successes);
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
