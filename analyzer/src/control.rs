//! A control target (`seamless-controller experiment --control SERVICE`):
//! the agents `run.json` names with `role: "control"` probed a Service the
//! rollout does not touch, from the same pods and the same way as the
//! rolled one. Their failures are the network's or the prober's, not the
//! rollout's: they stay out of the merged view, are shown apart, and the
//! time they cover is subtracted from the rolled Service's downtime.

use serde::{Deserialize, Serialize};

use crate::report::{AgentReport, Downtime, Summary, Window};
use crate::windows::{downtime, union};

/// The role `run.json` gives `agent` (`agents[].role`), if any.
pub(crate) fn role<'a>(info: Option<&'a seamless_proto::RunInfo>, agent: &str) -> Option<&'a str> {
    info?
        .extra
        .get("agents")?
        .as_array()?
        .iter()
        .find(|a| a.get("agent").and_then(|v| v.as_str()) == Some(agent))?
        .get("role")?
        .as_str()
}

/// Whether `agent` probed the control target.
pub(crate) fn is_control(info: Option<&seamless_proto::RunInfo>, agent: &str) -> bool {
    role(info, agent) == Some("control")
}

/// The control target's part of a report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Control {
    /// Its agents (rows of `agents[]`, each with its own summary).
    pub agents: Vec<String>,
    /// Their probes, all together.
    pub probes: u64,
    /// Their failed probes.
    pub failed: u64,
    /// Their failure windows, merged across the control agents.
    pub windows: Vec<Window>,
    /// The control's own downtime over those windows.
    pub downtime: Downtime,
    /// The rolled Service's downtime with the control's failures taken
    /// out.
    pub net: NetDowntime,
}

/// The rolled Service's downtime net of the control's failures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetDowntime {
    /// The merged lower bound less every moment of it that the control may
    /// have been failing too (inside a control window's upper extent), ns.
    pub lower_ns: i64,
    /// The merged upper bound less the moments of it that the control was
    /// surely failing (between a control window's first and last failure),
    /// ns; `None` when the merged upper bound is open.
    pub upper_ns: Option<i64>,
    /// The merged lower bound's time that falls inside control windows, ns.
    pub shared_lower_ns: i64,
    /// The merged upper bound's time that falls between a control
    /// window's first and last failure, ns.
    pub shared_upper_ns: i64,
}

/// A window's time between its first and last failure.
fn lower_span(w: &Window) -> (i64, i64) {
    (w.first_fail_ns, w.last_fail_ns)
}

/// A window's time between the ok probes around it (its failures where it
/// has no ok probe on that side).
fn upper_span(w: &Window) -> (i64, i64) {
    (
        w.last_ok_before_ns.unwrap_or(w.first_fail_ns),
        w.first_ok_after_ns.unwrap_or(w.last_fail_ns),
    )
}

/// How much of the spans `a` the spans `b` cover, ns (`b` disjoint and
/// sorted, as a union's windows are).
fn covered(a: &[(i64, i64)], b: &[(i64, i64)]) -> i64 {
    a.iter()
        .map(|&(s, e)| {
            b.iter()
                .map(|&(bs, be)| (e.min(be) - s.max(bs)).max(0))
                .sum::<i64>()
        })
        .sum()
}

/// The net downtime of the rolled Service (`rolled`: its merged windows
/// and downtime) against the control's merged windows.
pub(crate) fn net(rolled: &[Window], downtime: &Downtime, control: &[Window]) -> NetDowntime {
    let r_lower: Vec<_> = rolled.iter().map(lower_span).collect();
    let r_upper: Vec<_> = rolled.iter().map(upper_span).collect();
    let c_lower: Vec<_> = control.iter().map(lower_span).collect();
    let c_upper: Vec<_> = control.iter().map(upper_span).collect();
    let shared_lower = covered(&r_lower, &c_upper);
    let shared_upper = covered(&r_upper, &c_lower);
    let lower = (downtime.lower_ns - shared_lower).max(0);
    NetDowntime {
        lower_ns: lower,
        upper_ns: downtime.upper_ns.map(|u| (u - shared_upper).max(lower)),
        shared_lower_ns: shared_lower,
        shared_upper_ns: shared_upper,
    }
}

/// The control's part of the report, if any agent probed it: its agents'
/// totals and merged windows, and `merged`'s downtime net of them.
pub(crate) fn report(
    agents: &[AgentReport],
    control: &[bool],
    windows: Vec<Window>,
    merged: &Summary,
) -> Option<Control> {
    let ours: Vec<&AgentReport> = agents
        .iter()
        .zip(control)
        .filter_map(|(a, &c)| c.then_some(a))
        .collect();
    if ours.is_empty() {
        return None;
    }
    let windows = union(windows);
    let downtime = downtime(&windows);
    Some(Control {
        agents: ours.iter().map(|a| a.name.clone()).collect(),
        probes: ours.iter().map(|a| a.summary.totals.probes).sum(),
        failed: ours.iter().map(|a| a.summary.totals.failed).sum(),
        net: net(&merged.windows, &merged.downtime, &windows),
        windows,
        downtime,
    })
}

/// The report's section on the control target, empty without one.
pub(crate) fn render(report: &crate::report::Report) -> String {
    use crate::markdown::{fmt_ns, fmt_range};
    let Some(c) = &report.control else {
        return String::new();
    };
    let m = &report.merged.downtime;
    let mut out = format!(
        "\n## Control target\n\nAgents {} probed a Service the rollout does not touch",
        c.agents.join(", ")
    );
    if c.downtime.windows == 0 {
        out.push_str(&format!(
            ": none of their {} probes failed, so the downtime above is the rollout's alone.\n",
            c.probes
        ));
    } else {
        out.push_str(&format!(
            ": {} of {} probes failed, in {} window(s) ({}). Their failures are the network's \
             or the prober's, and are not in the windows above.\n\n",
            c.failed,
            c.probes,
            c.downtime.windows,
            fmt_range(c.downtime.lower_ns, c.downtime.upper_ns),
        ));
        out.push_str(&format!(
            "Downtime {} with the control's failures, {} without them: \
             {} of the lower bound fell inside a control window, and {} of the \
             upper bound while the control was surely failing.\n",
            fmt_range(m.lower_ns, m.upper_ns),
            fmt_range(c.net.lower_ns, c.net.upper_ns),
            fmt_ns(c.net.shared_lower_ns),
            fmt_ns(c.net.shared_upper_ns),
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::windows::test_window as window;

    #[test]
    fn a_control_failing_apart_subtracts_nothing() {
        let rolled = [window(90, 100, 200, 210)];
        let d = downtime(&rolled);
        let n = net(&rolled, &d, &[window(490, 500, 600, 610)]);
        assert_eq!((n.lower_ns, n.upper_ns), (100, Some(120)));
        assert_eq!((n.shared_lower_ns, n.shared_upper_ns), (0, 0));
        assert_eq!(net(&rolled, &d, &[]), n);
    }

    #[test]
    fn a_shared_outage_is_taken_out_within_its_bounds() {
        // The network failed 150..180 (ok at 140 and 190) under a rollout
        // failing 100..200 (ok at 90 and 210).
        let rolled = [window(90, 100, 200, 210)];
        let d = downtime(&rolled);
        let n = net(&rolled, &d, &[window(140, 150, 180, 190)]);
        // What may have been the network's (140..190) leaves 50 of 100;
        // what surely was (150..180) leaves 90 of 120.
        assert_eq!(n.shared_lower_ns, 50);
        assert_eq!(n.lower_ns, 50);
        assert_eq!(n.shared_upper_ns, 30);
        assert_eq!(n.upper_ns, Some(90));
        assert!(n.lower_ns <= n.upper_ns.unwrap());
    }

    #[test]
    fn a_control_failing_all_along_leaves_nothing_of_the_lower_bound() {
        let rolled = [window(90, 100, 200, 210), window(290, 300, 310, 320)];
        let d = downtime(&rolled);
        let n = net(&rolled, &d, &[window(0, 10, 1000, 1010)]);
        assert_eq!(n.lower_ns, 0);
        assert_eq!(n.upper_ns, Some(0));
        let mut open = d;
        open.upper_ns = None;
        assert_eq!(net(&rolled, &open, &[]).upper_ns, None);
    }
}
