//! Why a lab run failed, or did not: the race its ground truth records, told
//! from the old pod's deletion. On one side kubelet's termination (SIGTERM,
//! after the preStop hook if any, then the listener's close); on the other
//! the endpoint's way out of the data path (the EndpointSlice update, then
//! the probing node's kube-proxy sync). New connections fail from the
//! listener's close until the rule is gone, when the close comes first.

use std::fmt::Write as _;

use crate::markdown::fmt_ns;
use crate::report::Report;

/// The race of one run, times in ns (wall clock).
#[derive(Debug, Clone, PartialEq)]
pub struct Race {
    /// The steps that happened, in time order: (when, what).
    pub steps: Vec<(i64, &'static str)>,
    /// When the old pod's listener closed.
    pub closed_ns: Option<i64>,
    /// When the probing node's rules dropped the old endpoint.
    pub removed_ns: Option<i64>,
    /// Conntrack entries still NATed to the old pod when probing stopped:
    /// (all, in SYN_SENT).
    pub conntrack: Option<(u32, u32)>,
}

/// The race of `report`'s run, when its run.json has a ground truth that
/// knows the deletion.
pub fn race(report: &Report) -> Option<Race> {
    let truth = report.run_info.as_ref()?.ground_truth.as_ref()?;
    let api_deletion = report
        .events
        .iter()
        .find(|e| e.kind == "pod_terminating")
        .map(|e| e.ts_ns);
    let deletion = match (truth.pod_terminating_ns, api_deletion) {
        (Some(a), Some(b)) => a.min(b),
        (a, b) => a.or(b)?,
    };
    let slice = report
        .events
        .iter()
        .find(|e| {
            e.ts_ns >= deletion && (e.kind == "endpoint_changed" || e.kind == "endpoint_removed")
        })
        .map(|e| e.ts_ns);
    let prestop = report
        .events
        .iter()
        .find(|e| e.kind == "pre_stop_started" && e.ts_ns >= deletion)
        .map(|e| e.ts_ns);
    let mut steps: Vec<(i64, &'static str)> = [
        (
            api_deletion,
            "deletionTimestamp set (the controller's watch)",
        ),
        (
            truth.pod_terminating_ns,
            "deletion seen by the old pod's kubelet",
        ),
        (prestop, "preStop hook started (kubelet)"),
        (truth.sigterm_ns, "SIGTERM sent (kubelet)"),
        (
            truth.old_backend_stopped_ns,
            "listener closed (the old pod refuses connects)",
        ),
        (slice, "EndpointSlice updated (the controller's watch)"),
        (
            truth.old_rule_removed_ns,
            "old endpoint out of the probing node's rules (kube-proxy's sync, seen in the kernel)",
        ),
    ]
    .into_iter()
    .filter_map(|(t, what)| t.map(|t| (t, what)))
    .collect();
    steps.sort_by_key(|s| s.0);
    Some(Race {
        steps,
        closed_ns: truth.old_backend_stopped_ns,
        removed_ns: truth.old_rule_removed_ns,
        conntrack: truth
            .conntrack_held
            .as_ref()
            .map(|h| (h.entries, h.by_state.get("SYN_SENT").copied().unwrap_or(0))),
    })
}

/// The race as a markdown section.
pub fn render(r: &Race) -> String {
    let mut out = String::from("\n## Why: the race\n\n");
    let Some(&(zero, _)) = r.steps.first() else {
        return String::new();
    };
    out.push_str("| after the deletion | step |\n|---|---|\n");
    for (t, what) in &r.steps {
        let _ = writeln!(out, "| +{} | {what} |", fmt_ns(t - zero));
    }
    out.push('\n');
    match (r.closed_ns, r.removed_ns) {
        (Some(c), Some(d)) if c < d => {
            let _ = writeln!(
                out,
                "The listener closed {} before the probing node's rules dropped the old pod: \
                 for that long new connections could still be sent to a closed port (the true outage).",
                fmt_ns(d - c)
            );
        }
        (Some(c), Some(d)) => {
            let _ = writeln!(
                out,
                "The probing node's rules dropped the old pod {} before its listener closed: \
                 no new connection could meet a closed port.",
                fmt_ns(c - d)
            );
        }
        _ => out.push_str("The ground truth lacks the close or the removal: no verdict.\n"),
    }
    if let Some((all, syn_sent)) = r.conntrack.filter(|c| c.1 > 0) {
        let _ = writeln!(
            out,
            "\nWhen probing stopped, the probing node's conntrack still held {all} entries NATed to \
             the old pod, {syn_sent} of them SYN_SENT (connects that timed out against it). A new \
             connect that reuses one of those client ports takes the entry's NAT and meets the dead \
             pod again after its rule is gone; kube-proxy clears conntrack for UDP only. Connect \
             timeouts after the outage are that."
        );
    }
    out
}
