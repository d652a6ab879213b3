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
