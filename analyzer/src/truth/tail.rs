//! The conntrack tail: failures after the race's outage that the probing
//! node's conntrack entries to the old backend explain, by window and, when
//! the probe logs are there, probe by probe.

use super::IN_FLIGHT_NS;

/// Failures after the race's outage that the probing node's conntrack
/// explains.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tail {
    /// Windows.
    pub windows: usize,
    /// Failed probes in them.
    pub failed: u64,
    /// From the first window's first failure to the last one's last, past
    /// the outage's end, ns.
    pub last_after_end_ns: i64,
}

/// Whether `w` is the conntrack tail of `outage_end_ns`: it starts after it
/// and every failure is of a kind the held entries explain (`kinds`).
pub(super) fn is_tail(w: &crate::report::Window, outage_end_ns: i64, kinds: &[&str]) -> bool {
    w.first_fail_ns > outage_end_ns + IN_FLIGHT_NS
        && w.kinds.keys().all(|k| kinds.contains(&k.as_str()))
}

/// The failure kinds conntrack entries to the dead backend explain. Any
/// held entry NATs a reused tuple to the old pod's address: once the pod
/// is gone its SYN goes nowhere, a connect timeout, or no route to host
/// when the node's neighbour lookup for the address fails. A `CLOSE` entry
/// (a connect the backend refused with a reset) sends it to the closed
/// port while the pod still lives, a refusal.
pub(super) fn tail_kinds(held: Option<&seamless_proto::run::ConntrackHeld>) -> Vec<&'static str> {
    let Some(held) = held.filter(|h| h.entries > 0) else {
        return Vec::new();
    };
    let mut kinds = vec!["connect_timeout", "unreachable"];
    if held.by_state.get("CLOSE").is_some_and(|&n| n > 0) {
        kinds.push("connect_refused");
    }
    kinds
}

/// One failed probe: its start (wall ns, after the clock offset) and kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Failed {
    /// Start, ns.
    pub t_ns: i64,
    /// How long it took, ns.
    pub total_ns: i64,
    /// [`seamless_proto::Outcome::name`].
    pub kind: &'static str,
}

/// The failed probes of a run directory, by start, read as the analysis
/// reads them (every agent's log, its clock offset applied); `None` when it
/// holds no probe log (a committed run keeps its report only).
pub(super) fn failed_probes(
    dir: &std::path::Path,
    opts: &crate::AnalyzeOptions,
) -> crate::Result<Option<Vec<Failed>>> {
    let inputs = match crate::analyze::inputs(dir, opts) {
        Ok(i) => i,
        Err(crate::Error::NoLogs { .. }) => return Ok(None),
        Err(e) => return Err(e),
    };
    let keep = crate::load::Keep::Columns;
    let logs = crate::analyze::read_logs(&inputs, opts, &mut Vec::new(), keep, &mut Vec::new())?;
    let mut failed: Vec<Failed> = logs
        .iter()
        .flat_map(|l| {
            let c = &l.cols;
            (0..c.t.len())
                .filter(|&i| c.class[i] == crate::load::CLASS_FAIL)
                .map(|i| Failed::of(c.t[i], c.lat[i], c.outcome[i]))
        })
        .collect();
    failed.sort_by_key(|f| f.t_ns);
    Ok(Some(failed))
}

/// The failed probes an analysis walked, by start.
pub(super) fn failed_of(probes: &crate::probes::Probes) -> crate::Result<Vec<Failed>> {
    let mut failed = Vec::new();
    probes.for_each(|p| {
        if p.class == crate::load::CLASS_FAIL {
            failed.push(Failed::of(p.t, p.lat, p.outcome));
        }
    })?;
    Ok(failed)
}

impl Failed {
    /// A failed probe from its start, total time and outcome byte.
    fn of(t_ns: i64, total_ns: i64, outcome: u32) -> Failed {
        Failed {
            t_ns,
            total_ns,
            kind: u8::try_from(outcome)
                .ok()
                .and_then(seamless_proto::Outcome::from_u8)
                .map_or("?", seamless_proto::Outcome::name),
        }
    }
}

/// What the failed probes say of the race's window `[first, last]`: the
/// failures the outage does not explain, and how many of the window's own
/// failures are the tail's. The outage explains a failure still in flight
/// at `doomed_from` or later (give or take [`IN_FLIGHT_NS`]: a request
/// queued in the accept queue is reset at the close however long it
/// waited) up to `end` (give or take [`IN_FLIGHT_NS`]); the tail's `kinds`
/// explain the failures after it.
pub(super) fn unexplained(
    failed: &[Failed],
    doomed_from: i64,
    end: i64,
    kinds: &[&str],
    window: (i64, i64),
) -> (Vec<Failed>, u64) {
    let late = |f: &Failed| f.t_ns > end + IN_FLIGHT_NS;
    let early = |f: &Failed| f.t_ns + f.total_ns < doomed_from - IN_FLIGHT_NS;
    let outside = failed
        .iter()
        .filter(|f| early(f) || (late(f) && !kinds.contains(&f.kind)))
        .copied()
        .collect();
    let in_window = failed
        .iter()
        .filter(|f| late(f) && (window.0..=window.1).contains(&f.t_ns))
        .count() as u64;
    (outside, in_window)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: i64 = 1_000_000;

    fn f(t_ms: i64, kind: &'static str) -> Failed {
        Failed {
            t_ns: t_ms * MS,
            total_ns: MS / 10,
            kind,
        }
    }

    #[test]
    fn late_failures_are_the_tails_only_of_its_kinds() {
        let failed = [
            f(-5, "reset"),
            f(10, "connect_refused"),
            f(200, "connect_refused"),
            f(204, "connect_timeout"),
            f(900, "unreachable"),
            f(950, "reset"),
        ];
        let kinds = ["connect_timeout", "unreachable"];
        let (outside, joined) =
            unexplained(&failed, -3 * MS, 200 * MS, &kinds, (-5 * MS, 204 * MS));
        assert_eq!(outside, vec![f(950, "reset")]);
        assert_eq!(joined, 1, "the timeout 4 ms after the end is the tail's");
        let (outside, _) = unexplained(&failed, 3 * MS, 200 * MS, &kinds, (0, 0));
        assert_eq!(
            outside,
            vec![f(-5, "reset"), f(950, "reset")],
            "over before the SIGTERM"
        );
        // A request queued before the SIGTERM and reset at the close.
        let queued = Failed {
            total_ns: 9 * MS,
            ..f(-5, "reset")
        };
        let (outside, _) = unexplained(&[queued], 3 * MS, 200 * MS, &kinds, (0, 0));
        assert!(outside.is_empty(), "in flight at the SIGTERM");
    }

    #[test]
    fn held_entries_explain_timeouts_and_no_route_and_close_ones_refusals() {
        let held = |state: &str| seamless_proto::run::ConntrackHeld {
            counted_ns: 0,
            entries: 1,
            by_state: [(state.to_owned(), 1)].into(),
        };
        assert_eq!(tail_kinds(None), Vec::<&str>::new());
        assert_eq!(
            tail_kinds(Some(&held("SYN_SENT"))),
            ["connect_timeout", "unreachable"]
        );
        assert_eq!(
            tail_kinds(Some(&held("CLOSE"))),
            ["connect_timeout", "unreachable", "connect_refused"]
        );
    }
}
