//! The order statistics of a probe set: first and last start, the probe
//! interval and ok latency by rollout phase (computed exactly by the fold,
//! [`crate::stream`]).

use crate::report::{LatencyPhase, ProbeInterval};

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
