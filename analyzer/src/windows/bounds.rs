//! The bounds of windows: the edges of partial windows widened, downtime
//! summed over windows.

use crate::report::{Downtime, Window};

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
pub(super) fn upper(w: &Window) -> Option<i64> {
    w.last_ok_before_ns
        .zip(w.first_ok_after_ns)
        .map(|(b, a)| a - b + 2 * w.edge_uncertainty_ns)
}

/// Where a window's edges lie among the probes that count (local errors
/// skipped): the index of the last ok probe before it and of the first
/// after it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct EdgeIndex {
    /// The last ok probe before the window.
    pub(crate) before: Option<i64>,
    /// The first ok probe after it.
    pub(crate) after: Option<i64>,
}

/// The probe indices the edges of `w` need: `k - 1` probes beyond each.
fn reach(w: &Window, e: EdgeIndex) -> [Option<i64>; 4] {
    let k = edge_probes(w.ratio) - 1;
    [
        e.before,
        e.before.map(|b| (b - k).max(0)),
        e.after,
        e.after.map(|a| a + k),
    ]
}

/// Widens the upper bound of partial windows (some probes inside succeeded)
/// by the run of successes that could hide each edge: as long as the `k - 1`
/// probes beyond the edge took, on the wider side, and never less than
/// `k - 1` median intervals (`interval_ns`; the log may end sooner). An
/// agent stalled at an edge (a starved machine leaves tens of ms without a
/// probe) widens it by the stall, where the median would hide it.
/// `times(idx)` gives the start of each probe that counts at `idx` (`None`
/// past the log's end).
pub(crate) fn widen_partial(
    windows: &mut [Window],
    edges: &[EdgeIndex],
    interval_ns: i64,
    times: impl FnOnce(&[i64]) -> Vec<Option<i64>>,
) {
    let wanted: Vec<i64> = windows
        .iter()
        .zip(edges)
        .filter(|(w, _)| edge_probes(w.ratio) > 1)
        .flat_map(|(w, &e)| reach(w, e))
        .flatten()
        .collect();
    let mut at: std::collections::HashMap<i64, i64> = std::collections::HashMap::new();
    if !wanted.is_empty() {
        at = wanted
            .iter()
            .copied()
            .zip(times(&wanted))
            .filter_map(|(i, t)| Some((i, t?)))
            .collect();
    }
    for (w, &e) in windows.iter_mut().zip(edges) {
        let k = edge_probes(w.ratio) - 1;
        let floor = k * interval_ns.max(0);
        let [b, b_far, a, a_far] = reach(w, e).map(|i| i.and_then(|i| at.get(&i).copied()));
        let span =
            |near: Option<i64>, far: Option<i64>| near.zip(far).map_or(0, |(n, f)| (n - f).abs());
        w.edge_uncertainty_ns = if k == 0 {
            0
        } else {
            floor.max(span(b, b_far)).max(span(a, a_far))
        };
        w.upper_ns = upper(w);
    }
}

/// The start of the probes that count (class not local) at the sorted or
/// unsorted indices `idx`, in one pass over an agent's probes as (start,
/// class), in start order; `None` past the end. (The analysis reads them at
/// the fold's marks instead: [`crate::stream::Marks`]; this is its oracle.)
#[cfg(test)]
pub(crate) fn counting_times(
    probes: impl Iterator<Item = (i64, u32)>,
    idx: &[i64],
) -> Vec<Option<i64>> {
    let mut order: Vec<usize> = (0..idx.len()).collect();
    order.sort_by_key(|&j| idx[j]);
    let mut out = vec![None; idx.len()];
    let mut next = order.iter().peekable();
    let mut i = 0i64;
    for (t, c) in probes {
        if c == crate::load::CLASS_LOCAL {
            continue;
        }
        while let Some(&&j) = next.peek() {
            if idx[j] != i {
                break;
            }
            out[j] = Some(t);
            next.next();
        }
        if next.peek().is_none() {
            break;
        }
        i += 1;
    }
    out
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counting_times_skip_local_errors() {
        let t = [10, 20, 30, 40, 50];
        let class = [0, 2, 1, 0, 0];
        let got = counting_times(t.into_iter().zip(class), &[3, 0, 1, 9, 1]);
        assert_eq!(got, [Some(50), Some(10), Some(30), None, Some(30)]);
    }

    fn partial(before: i64, after: i64) -> Window {
        Window {
            upper_ns: None,
            total: 2,
            ratio: 0.5,
            ..crate::windows::test_window(before, before + 1, after - 1, after)
        }
    }

    #[test]
    fn a_stall_beyond_an_edge_widens_it() {
        // Probes every 1 ms (index = ms), but none from 30 to 60 after the
        // window's first ok probe at 25: ratio 0.5 needs 9 more probes.
        let times: Vec<i64> = (0..=30).chain(60..100).collect();
        let mut w = [partial(5, 25)];
        let edges = [EdgeIndex {
            before: Some(5),
            after: Some(25),
        }];
        widen_partial(&mut w, &edges, 1, |idx| {
            idx.iter()
                .map(|&i| times.get(i as usize).copied())
                .collect()
        });
        // The 9th probe after index 25 is index 34: at 63 ms.
        assert_eq!(w[0].edge_uncertainty_ns, 63 - 25);
        assert_eq!(w[0].upper_ns, Some(20 + 2 * 38));
        // Without the stall it is 9 intervals.
        let times: Vec<i64> = (0..100).collect();
        widen_partial(&mut w, &edges, 1, |idx| {
            idx.iter()
                .map(|&i| times.get(i as usize).copied())
                .collect()
        });
        assert_eq!(w[0].edge_uncertainty_ns, 9);
    }
}
