//! Exact order statistics over the probe columns: the probe interval and ok
//! latency by rollout phase.
//!
//! Nearest-rank quantiles by selection (`select_nth_unstable`), narrowing
//! the slice from one quantile to the next: linear time and exact, where a
//! polars quantile over a filtered (multi-chunk) column sorts it whole.

use crate::report::{LatencyPhase, ProbeInterval};

/// Latency quantiles reported, ascending.
const LATENCY_QUANTILES: [f64; 4] = [0.5, 0.9, 0.99, 0.999];

/// First and last start, count, interval and latency of one probe set.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ProbeStats {
    /// Start of the first probe, ns.
    pub first_ns: i64,
    /// Start of the last probe, ns.
    pub last_ns: i64,
    /// Gaps between consecutive starts.
    pub interval: ProbeInterval,
    /// Ok latency: `all`, then the rollout phases that hold ok probes.
    pub latency: Vec<LatencyPhase>,
}

/// Nearest-rank quantiles (`round(q * (n - 1))`) of `vals`, `qs` ascending;
/// reorders `vals`. Empty input gives zeros.
pub(crate) fn quantiles(vals: &mut [i64], qs: &[f64]) -> Vec<i64> {
    let n = vals.len();
    if n == 0 {
        return vec![0; qs.len()];
    }
    let mut from = 0;
    qs.iter()
        .map(|&q| {
            let idx = (((n - 1) as f64) * q).round() as usize;
            let idx = idx.clamp(from, n - 1);
            // Everything before `from` is already <= vals[from].
            let (_, v, _) = vals[from..].select_nth_unstable(idx - from);
            let v = *v;
            from = idx;
            v
        })
        .collect()
}

/// One phase's ok latency: count, nearest-rank quantiles and max; `None`
/// without a probe. Reorders `vals`.
pub(crate) fn phase(name: &str, vals: &mut [i64]) -> Option<LatencyPhase> {
    if vals.is_empty() {
        return None;
    }
    let max = vals.iter().copied().max().unwrap_or(0);
    let q = quantiles(vals, &LATENCY_QUANTILES);
    Some(LatencyPhase {
        phase: name.to_owned(),
        count: vals.len() as u64,
        p50_ns: q[0],
        p90_ns: q[1],
        p99_ns: q[2],
        p999_ns: q[3],
        max_ns: max,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_quantiles_match_a_sort() {
        let mut state = 12345u64;
        for n in [1usize, 2, 3, 10, 101, 1000] {
            let vals: Vec<i64> = (0..n)
                .map(|_| {
                    state = state.wrapping_mul(6364136223846793005).wrapping_add(1);
                    (state >> 40) as i64 % 500
                })
                .collect();
            let mut sorted = vals.clone();
            sorted.sort_unstable();
            let qs = [0.0, 0.5, 0.9, 0.99, 0.999, 1.0];
            let mut work = vals.clone();
            let got = quantiles(&mut work, &qs);
            let want: Vec<i64> = qs
                .iter()
                .map(|q| sorted[(((n - 1) as f64) * q).round() as usize])
                .collect();
            assert_eq!(got, want, "n = {n}");
        }
        assert_eq!(quantiles(&mut [], &[0.5]), [0]);
    }
}
