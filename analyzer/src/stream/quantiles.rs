//! The quantiles' two passes over a probe set: the first ([`Quantiles`],
//! the fold's buckets of gaps and ok latency), the second fed by a later
//! walk ([`GapPick`], [`LatencyPick`]), each adding up across parts.

use super::exact::{Hist, Pick};
use crate::load::CLASS_OK;
use crate::report::{LatencyPhase, ProbeInterval, Span};
use crate::stats::ProbeStats;

/// The quantiles' first pass over one probe set: the span, and the gaps
/// and ok latencies by bucket.
#[derive(Debug, Clone)]
pub(crate) struct Quantiles {
    rollout: Option<Span>,
    first: Option<i64>,
    last: i64,
    gaps: Hist,
    lat: [Hist; 4],
}

impl Quantiles {
    pub(super) fn new(
        rollout: Option<Span>,
        first: Option<i64>,
        last: i64,
        gaps: Hist,
        lat: [Hist; 4],
    ) -> Quantiles {
        Quantiles {
            rollout,
            first,
            last,
            gaps,
            lat,
        }
    }

    /// The second pass of the gaps between starts (fed every start, in
    /// order).
    pub(crate) fn gap_pick(&self) -> GapPick {
        GapPick {
            pick: Pick::new(self.gaps.targets(&GAP_QUANTILES)),
            prev: None,
        }
    }

    /// The second pass of the ok latencies (fed in any order).
    pub(crate) fn latency_pick(&self) -> LatencyPick {
        LatencyPick {
            rollout: self.rollout,
            picks: self
                .lat
                .iter()
                .map(|h| Pick::new(h.targets(&LATENCY_QUANTILES)))
                .collect(),
        }
    }

    /// The ok latencies of `parts` together (a merged view's: the sum of
    /// its agents'), without gaps or span.
    pub(crate) fn of_latency(parts: &[&Quantiles]) -> Quantiles {
        let mut lat: [Hist; 4] = Default::default();
        for p in parts {
            for (a, b) in lat.iter_mut().zip(&p.lat) {
                a.add(b);
            }
        }
        Quantiles {
            rollout: parts.first().and_then(|p| p.rollout),
            first: None,
            last: 0,
            gaps: Hist::default(),
            lat,
        }
    }

    /// The slowest ok probe (0 without one).
    pub(crate) fn max_latency(&self) -> i64 {
        if self.lat[0].n() == 0 {
            0
        } else {
            self.lat[0].max()
        }
    }

    /// Ok latency by phase, from the second pass.
    pub(crate) fn latency(&self, lat: LatencyPick) -> Vec<LatencyPhase> {
        let mut picked = lat.picks.into_iter();
        let mut latency = Vec::new();
        for (k, name) in ["all", "before", "during", "after"].into_iter().enumerate() {
            let q = picked.next().map(|p| p.finish(LATENCY_QUANTILES.len()));
            let h = &self.lat[k];
            if h.n() == 0 || (k > 0 && self.rollout.is_none()) {
                continue;
            }
            let q = q.unwrap_or_default();
            latency.push(LatencyPhase {
                phase: name.to_owned(),
                count: h.n(),
                p50_ns: q[0],
                p90_ns: q[1],
                p99_ns: q[2],
                p999_ns: q[3],
                max_ns: h.max(),
            });
        }
        latency
    }

    /// The gaps' quantiles, when the first pass alone gives them
    /// ([`Fold::dense_gaps`]).
    pub(crate) fn exact_gaps(&self) -> Option<Vec<i64>> {
        self.gaps.exact(&GAP_QUANTILES)
    }

    /// The statistics, from the gaps' second pass and the latency.
    pub(crate) fn stats(&self, gaps: GapPick, latency: Vec<LatencyPhase>) -> ProbeStats {
        self.stats_from(gaps.pick.finish(GAP_QUANTILES.len()), latency)
    }

    /// The statistics, from the gaps' quantiles and the latency.
    pub(crate) fn stats_from(&self, g: Vec<i64>, latency: Vec<LatencyPhase>) -> ProbeStats {
        ProbeStats {
            first_ns: self.first.unwrap_or(0),
            last_ns: if self.first.is_some() { self.last } else { 0 },
            interval: ProbeInterval {
                median_ns: g[0],
                p99_ns: g[1],
            },
            latency,
        }
    }
}

/// The gaps' second pass: every start of the probe set, in start order.
#[derive(Debug, Clone)]
pub(crate) struct GapPick {
    pick: Pick,
    prev: Option<i64>,
}

impl GapPick {
    /// For a part of the walk: its first gap is from `prev`, the start
    /// before it.
    pub(crate) fn after(mut self, prev: Option<i64>) -> GapPick {
        self.prev = prev;
        self
    }

    /// Adds what `other` (of the same first pass) counted.
    pub(crate) fn add(&mut self, other: GapPick) {
        self.pick.add(other.pick);
    }

    pub(crate) fn push(&mut self, t: i64) {
        if let Some(p) = self.prev {
            self.pick.push(t - p);
        }
        self.prev = Some(t);
    }
}

/// The ok latencies' second pass, by phase: fed in any order, and added up
/// across walks.
#[derive(Debug, Clone)]
pub(crate) struct LatencyPick {
    rollout: Option<Span>,
    picks: Vec<Pick>,
}

impl LatencyPick {
    pub(crate) fn push(&mut self, t: i64, lat: i64, class: u32) {
        if class == CLASS_OK {
            self.picks[0].push(lat);
            if let Some(p) = phase_of(self.rollout, t) {
                self.picks[p].push(lat);
            }
        }
    }

    /// Adds what `other` (of the same first pass) counted.
    pub(crate) fn add(&mut self, other: LatencyPick) {
        for (a, b) in self.picks.iter_mut().zip(other.picks) {
            a.add(b);
        }
    }
}

/// Ok latency quantiles reported, ascending.
const LATENCY_QUANTILES: [f64; 4] = [0.5, 0.9, 0.99, 0.999];
/// Probe interval quantiles reported.
const GAP_QUANTILES: [f64; 2] = [0.5, 0.99];

/// The rollout phase of a start, as an index of `Fold::lat`: 1 before, 2
/// during (start and end included), 3 after; none without a rollout.
pub(super) fn phase_of(rollout: Option<Span>, t: i64) -> Option<usize> {
    let r = rollout?;
    Some(if t < r.start_ns {
        1
    } else if t <= r.end_ns {
        2
    } else {
        3
    })
}
