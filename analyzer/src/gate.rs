//! The CI gate: limits on downtime and failed probes.

use crate::Report;
use crate::markdown::fmt_ns;

/// Limits a run must stay within.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Gate {
    /// The downtime's upper bound (merged view) may not exceed this, ns. A
    /// window without an ok probe before or after (the service was down at
    /// an edge of the probing) always exceeds it.
    pub max_downtime_ns: Option<i64>,
    /// Failed probes (merged view, local errors excluded) may not exceed this.
    pub max_failed: Option<u64>,
}

/// Why the report exceeds the gate; empty when it passes.
pub fn check_gate(report: &Report, gate: &Gate) -> Vec<String> {
    let mut reasons = Vec::new();
    let m = &report.merged;
    if let Some(max) = gate.max_downtime_ns {
        match m.downtime.upper_ns {
            Some(upper) if upper > max => reasons.push(format!(
                "downtime up to {} (at least {}) exceeds --max-downtime {}",
                fmt_ns(upper),
                fmt_ns(m.downtime.lower_ns),
                fmt_ns(max)
            )),
            Some(_) => {}
            None => reasons.push(format!(
                "{} failure window(s) without an ok probe before or after: the downtime is unbounded (at least {}), exceeding --max-downtime {}",
                m.downtime.unbounded_windows,
                fmt_ns(m.downtime.lower_ns),
                fmt_ns(max)
            )),
        }
    }
    if let Some(max) = gate.max_failed
        && m.totals.failed > max
    {
        reasons.push(format!(
            "{} failed probes exceed --max-failed {max}",
            m.totals.failed
        ));
    }
    reasons
}
