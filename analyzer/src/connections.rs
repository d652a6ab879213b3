//! Reused connections: the connection-level facts of reuse mode. How many
//! kept-alive connections the agent used, how many a request broke (the
//! request failed on a connection that had carried earlier ones: reset,
//! closed before the status, a timeout), by kind, how many the server
//! closed cleanly between requests (seen before the next request, no
//! request lost), and when, relative to the old pod's SIGTERM, its
//! listener's close, the EndpointSlice update, the rule's removal on the
//! probing node and the backend's own closing of its connections.
//!
//! [`Tally`] is fed probe by probe while a log is read ([`crate::load`]);
//! [`facts`] turns it into the report's [`Connections`] once the timeline
//! and the ground truth are known.

use std::collections::BTreeMap;

use seamless_proto::{ConnState, ConnUse, GroundTruth, Outcome};
use serde::{Deserialize, Serialize};

use crate::report::{EventMark, Span};

/// Server closes kept with their times; beyond this only counted (a server
/// without keep-alive closes after every request).
const MAX_CLOSE_TIMES: usize = 1 << 20;

/// What one reuse-mode log says about its connections, gathered while it
/// is read.
#[derive(Debug, Default, Clone)]
pub(crate) struct Tally {
    /// Probes with a connection.
    requests: u64,
    /// Connections opened, by why (the first record of each connection).
    opened: BTreeMap<&'static str, u64>,
    /// Kept-alive connections a request broke: (start, outcome).
    broken: Vec<(i64, Outcome)>,
    /// Failed first requests of new connections, by kind.
    failed_opening: BTreeMap<&'static str, u64>,
    /// Starts of the probes that replaced a connection the server had closed
    /// cleanly or reset while idle (`after_close`, `after_idle_error`).
    closes: Vec<i64>,
    /// Server closes beyond [`MAX_CLOSE_TIMES`].
    closes_untimed: u64,
}

impl Tally {
    /// Counts one probe of reuse mode: its start (wall ns), outcome and
    /// connection.
    /// The prober's own errors (no socket) are not counted.
    pub(crate) fn push(&mut self, t: i64, outcome: Outcome, conn: &ConnUse) {
        if outcome.is_local() {
            return;
        }
        self.requests += 1;
        let fresh = conn.state != ConnState::Reused;
        if fresh {
            *self.opened.entry(conn.state.name()).or_default() += 1;
        }
        if matches!(
            conn.state,
            ConnState::AfterClose | ConnState::AfterIdleError
        ) {
            if self.closes.len() < MAX_CLOSE_TIMES {
                self.closes.push(t);
            } else {
                self.closes_untimed += 1;
            }
        }
        if outcome == Outcome::Ok {
            return;
        }
        if fresh {
            *self.failed_opening.entry(outcome.name()).or_default() += 1;
        } else {
            self.broken.push((t, outcome));
        }
    }

    /// Whether any probe was counted.
    pub(crate) fn is_empty(&self) -> bool {
        self.requests == 0
    }
}

/// Connection-level facts of reuse mode (`agents[].connections`, present
/// only for a reuse-mode row).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Connections {
    /// Connections used or tried (each connection's first record opened
    /// it, or tried to).
    pub connections: u64,
    /// Requests sent on them (the row's probes).
    pub requests: u64,
    /// Connections opened, by why: `opened` (a slot's first),
    /// `after_failure` (replacing one a request broke), `after_close`
    /// (replacing one the server closed cleanly: `Connection: close`, or a
    /// FIN found while idle), `after_idle_error` (replacing one found reset
    /// while idle).
    pub opened_by_state: BTreeMap<String, u64>,
    /// Kept-alive connections a request broke: the request failed on a
    /// connection that had carried earlier ones (reset, closed before the
    /// status, a timeout). Each is one failed probe.
    pub broken: u64,
    /// Those by the failed request's outcome kind.
    pub broken_by_kind: BTreeMap<String, u64>,
    /// Start of the first such failed request, ns.
    pub first_broken_ns: Option<i64>,
    /// Start of the last, ns.
    pub last_broken_ns: Option<i64>,
    /// New connections whose first request failed (the connect refused or
    /// timed out, as in new mode): failures, but no kept-alive connection
    /// broke.
    pub failed_opening: u64,
    /// Those by kind.
    pub failed_opening_by_kind: BTreeMap<String, u64>,
    /// Connections the server closed between requests and the agent found
    /// closed before using them again (`after_close` and `after_idle_error`
    /// replacements): no request lost.
    pub server_closes: u64,
    /// Of those, the ones inside the rollout span (all of them when the run
    /// has no timeline).
    pub server_closes_in_rollout: u64,
    /// Start of the probe that found the first of those closed, ns.
    pub first_server_close_ns: Option<i64>,
    /// Start of the probe that found the last, ns.
    pub last_server_close_ns: Option<i64>,
    /// The same times as offsets from each moment of the run that is known,
    /// in time order of the moments.
    pub relative: Vec<RelativeTo>,
}

/// Offsets of the breaks and closes from one moment of the run, ns
/// (negative: before it).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RelativeTo {
    /// `sigterm` (kubelet's SIGTERM to the old pod), `listener_closed` (the
    /// old pod refused connects), `endpoint_removed` (the EndpointSlice
    /// update after the deletion, the controller's watch), `rule_removed`
    /// (the old endpoint out of the probing node's rules), or
    /// `backend_conns_closing` and `backend_conns_closed` (the old
    /// backend's first kept-alive connection gone, and the last: the ground
    /// truth's `old_backend_conns`).
    pub moment: String,
    /// When it happened, ns.
    pub at_ns: i64,
    /// First broken connection's failed request, from the moment.
    pub first_broken_ns: Option<i64>,
    /// Last one's, from the moment.
    pub last_broken_ns: Option<i64>,
    /// Broken connections whose failed request started before the moment.
    pub broken_before: u64,
    /// First server close in the rollout, from the moment.
    pub first_server_close_ns: Option<i64>,
    /// Last, from the moment.
    pub last_server_close_ns: Option<i64>,
}

/// The moments a reuse row's breaks are told against, from the ground
/// truth (preferred) and the timeline.
pub(crate) fn moments(truth: Option<&GroundTruth>, events: &[EventMark]) -> Vec<(String, i64)> {
    let event = |kind: &str, after: Option<i64>| {
        events
            .iter()
            .find(|e| e.kind == kind && after.is_none_or(|a| e.ts_ns >= a))
            .map(|e| e.ts_ns)
    };
    let deletion = truth
        .and_then(|t| t.pod_terminating_ns)
        .or_else(|| event("pod_terminating", None));
    let sigterm = truth
        .and_then(|t| t.sigterm_ns)
        .or_else(|| event("sigterm_sent", deletion));
    let slice = deletion.and_then(|d| {
        events
            .iter()
            .find(|e| {
                e.ts_ns >= d && (e.kind == "endpoint_changed" || e.kind == "endpoint_removed")
            })
            .map(|e| e.ts_ns)
    });
    let mut out: Vec<(String, i64)> = [
        ("sigterm", sigterm),
        (
            "listener_closed",
            truth.and_then(|t| t.old_backend_stopped_ns),
        ),
        ("endpoint_removed", slice),
        ("rule_removed", truth.and_then(|t| t.old_rule_removed_ns)),
        (
            "backend_conns_closing",
            truth.and_then(|t| t.old_backend_conns.as_ref()?.first_closed_ns),
        ),
        (
            "backend_conns_closed",
            truth.and_then(|t| t.old_backend_conns.as_ref()?.all_closed_ns),
        ),
    ]
    .into_iter()
    .filter_map(|(name, t)| Some((name.to_owned(), t?)))
    .collect();
    out.sort_by_key(|m| m.1);
    out
}

/// The facts of one reuse row.
pub(crate) fn facts(
    tally: &Tally,
    rollout: Option<Span>,
    moments: &[(String, i64)],
) -> Connections {
    let named = |m: &BTreeMap<&'static str, u64>| -> BTreeMap<String, u64> {
        m.iter().map(|(k, v)| ((*k).to_owned(), *v)).collect()
    };
    let mut broken_by_kind = BTreeMap::new();
    for (_, o) in &tally.broken {
        *broken_by_kind.entry(o.name().to_owned()).or_insert(0) += 1;
    }
    let first_broken = tally.broken.iter().map(|b| b.0).min();
    let last_broken = tally.broken.iter().map(|b| b.0).max();
    let in_rollout: Vec<i64> = tally
        .closes
        .iter()
        .copied()
        .filter(|&t| rollout.is_none_or(|r| t >= r.start_ns && t <= r.end_ns))
        .collect();
    let first_close = in_rollout.iter().copied().min();
    let last_close = in_rollout.iter().copied().max();
    let rel = |t: Option<i64>, at: i64| t.map(|t| t - at);
    Connections {
        connections: tally.opened.values().sum(),
        requests: tally.requests,
        opened_by_state: named(&tally.opened),
        broken: tally.broken.len() as u64,
        broken_by_kind,
        first_broken_ns: first_broken,
        last_broken_ns: last_broken,
        failed_opening: tally.failed_opening.values().sum(),
        failed_opening_by_kind: named(&tally.failed_opening),
        server_closes: tally.closes.len() as u64 + tally.closes_untimed,
        server_closes_in_rollout: in_rollout.len() as u64,
        first_server_close_ns: first_close,
        last_server_close_ns: last_close,
        relative: moments
            .iter()
            .map(|(name, at)| RelativeTo {
                moment: name.clone(),
                at_ns: *at,
                first_broken_ns: rel(first_broken, *at),
                last_broken_ns: rel(last_broken, *at),
                broken_before: tally.broken.iter().filter(|b| b.0 < *at).count() as u64,
                first_server_close_ns: rel(first_close, *at),
                last_server_close_ns: rel(last_close, *at),
            })
            .collect(),
    }
}

fn kinds(m: &BTreeMap<String, u64>) -> String {
    if m.is_empty() {
        return "-".into();
    }
    m.iter()
        .map(|(k, n)| format!("{k} {n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn offset(ns: Option<i64>) -> String {
    match ns {
        Some(n) if n >= 0 => format!("+{}", crate::markdown::fmt_ns(n)),
        Some(n) => format!("-{}", crate::markdown::fmt_ns(-n)),
        None => "-".into(),
    }
}

/// One reuse row's facts in a sentence (report.html's summary).
pub(crate) fn sentence(name: &str, c: &Connections) -> String {
    let sigterm = c
        .relative
        .iter()
        .find(|r| r.moment == "sigterm")
        .and_then(|r| Some((r.first_broken_ns?, r.last_broken_ns?)))
        .map(|(a, b)| {
            format!(
                ", {} .. {} from the SIGTERM",
                offset(Some(a)),
                offset(Some(b))
            )
        })
        .unwrap_or_default();
    format!(
        "{name}: {} kept-alive connections; {} broke ({}){sigterm}; {} new ones failed their first request; \
         {} closed by the server between requests, found before the next one (no request lost).",
        c.connections,
        c.broken,
        kinds(&c.broken_by_kind),
        c.failed_opening,
        c.server_closes
    )
}

/// `report.md`'s *Reused connections* section: one table of the reuse
/// rows' counts, one of offsets per row; empty without a reuse row.
pub(crate) fn render(report: &crate::Report) -> String {
    use std::fmt::Write as _;
    let rows: Vec<(&str, &Connections)> = report
        .agents
        .iter()
        .filter_map(|a| Some((a.name.as_str(), a.connections.as_ref()?)))
        .collect();
    if rows.is_empty() {
        return String::new();
    }
    let mut out = String::from(
        "\n## Reused connections\n\n\
         A connection *broke* when a request failed on it after it had carried \
         earlier ones; a *server close* is one the server closed between requests, \
         found closed before the next request (no request lost).\n\n\
         | agent | connections | requests | broken | broken by kind | new connections failing | server closes (in the rollout) |\n\
         |---|---|---|---|---|---|---|\n",
    );
    for (name, c) in &rows {
        let _ = writeln!(
            out,
            "| {name} | {} | {} | {} | {} | {} ({}) | {} ({}) |",
            c.connections,
            c.requests,
            c.broken,
            kinds(&c.broken_by_kind),
            c.failed_opening,
            kinds(&c.failed_opening_by_kind),
            c.server_closes,
            c.server_closes_in_rollout
        );
    }
    for (name, c) in &rows {
        if c.relative.is_empty() {
            continue;
        }
        let _ = writeln!(
            out,
            "\n{name}, from each moment of the run:\n\n\
             | moment | broken: first | last | before it | server closes: first | last |\n\
             |---|---|---|---|---|---|"
        );
        for r in &c.relative {
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} | {} |",
                r.moment.replace('_', " "),
                offset(r.first_broken_ns),
                offset(r.last_broken_ns),
                r.broken_before,
                offset(r.first_server_close_ns),
                offset(r.last_server_close_ns)
            );
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conn(id: u64, requests: u32, state: ConnState) -> ConnUse {
        ConnUse {
            id,
            age_ns: u64::from(requests) * 1_000,
            requests,
            state,
        }
    }

    /// Two slots: connection 1 carries requests until the server resets it
    /// at t=100 (the request fails), its slot reopens as 3; connection 2
    /// is found closed while idle at t=105 and replaced by 4 without a
    /// failure; 3's first try is refused once before 5 opens.
    fn tally() -> Tally {
        let mut t = Tally::default();
        t.push(0, Outcome::Ok, &conn(1, 0, ConnState::Opened));
        t.push(1, Outcome::Ok, &conn(2, 0, ConnState::Opened));
        for i in 1..50u32 {
            t.push(
                i64::from(i) * 2,
                Outcome::Ok,
                &conn(1, i, ConnState::Reused),
            );
            t.push(
                i64::from(i) * 2 + 1,
                Outcome::Ok,
                &conn(2, i, ConnState::Reused),
            );
        }
        t.push(100, Outcome::Reset, &conn(1, 50, ConnState::Reused));
        t.push(
            102,
            Outcome::ConnectRefused,
            &conn(3, 0, ConnState::AfterFailure),
        );
        t.push(105, Outcome::Ok, &conn(4, 0, ConnState::AfterClose));
        t.push(106, Outcome::Ok, &conn(5, 0, ConnState::AfterFailure));
        t.push(
            107,
            Outcome::LocalFdExhausted,
            &conn(6, 0, ConnState::AfterFailure),
        );
        t
    }

    #[test]
    fn a_break_a_failed_opening_and_a_clean_close_are_told_apart_and_counted_once() {
        let t = tally();
        let c = facts(&t, None, &[]);
        assert_eq!(c.requests, 104, "the local error is no request");
        assert_eq!(c.connections, 5, "every id opened once");
        assert_eq!(c.opened_by_state["opened"], 2);
        assert_eq!(c.opened_by_state["after_failure"], 2);
        assert_eq!(c.opened_by_state["after_close"], 1);
        assert_eq!(c.broken, 1);
        assert_eq!(c.broken_by_kind["reset"], 1);
        assert_eq!(
            (c.first_broken_ns, c.last_broken_ns),
            (Some(100), Some(100))
        );
        assert_eq!(
            c.failed_opening, 1,
            "the refused replacement; not the local error"
        );
        assert_eq!(c.failed_opening_by_kind["connect_refused"], 1);
        assert_eq!(c.server_closes, 1);
        assert_eq!(c.first_server_close_ns, Some(105));
        assert!(c.relative.is_empty());
    }

    #[test]
    fn offsets_from_each_moment_and_closes_inside_the_rollout() {
        let t = tally();
        let moments = vec![("sigterm".to_owned(), 98), ("rule_removed".to_owned(), 104)];
        let c = facts(
            &t,
            Some(Span {
                start_ns: 50,
                end_ns: 104,
            }),
            &moments,
        );
        assert_eq!(c.server_closes, 1);
        assert_eq!(
            c.server_closes_in_rollout, 0,
            "the close at 105 is after the rollout"
        );
        assert_eq!(c.first_server_close_ns, None);
        let s = &c.relative[0];
        assert_eq!((s.moment.as_str(), s.at_ns), ("sigterm", 98));
        assert_eq!(
            (s.first_broken_ns, s.last_broken_ns, s.broken_before),
            (Some(2), Some(2), 0)
        );
        let r = &c.relative[1];
        assert_eq!((r.first_broken_ns, r.broken_before), (Some(-4), 1));
    }

    #[test]
    fn the_sentence_tells_the_breaks_from_the_sigterm() {
        let c = facts(&tally(), None, &[("sigterm".to_owned(), 98)]);
        assert_eq!(
            sentence("node-c/reuse", &c),
            "node-c/reuse: 5 kept-alive connections; 1 broke (reset 1), +2 ns .. +2 ns from the SIGTERM; \
             1 new ones failed their first request; 1 closed by the server between requests, found \
             before the next one (no request lost)."
        );
    }

    #[test]
    fn moments_prefer_the_ground_truth_and_sort_by_time() {
        let ev = |ts_ns, kind: &str| EventMark {
            ts_ns,
            kind: kind.into(),
            label: kind.into(),
        };
        let events = vec![
            ev(5, "endpoint_changed"),
            ev(10, "pod_terminating"),
            ev(11, "sigterm_sent"),
            ev(30, "endpoint_removed"),
        ];
        let m = moments(None, &events);
        assert_eq!(
            m,
            [
                ("sigterm".to_owned(), 11),
                ("endpoint_removed".to_owned(), 30)
            ],
            "the slice update after the deletion, not the one before"
        );
        let truth = GroundTruth {
            sigterm_ns: Some(12),
            old_backend_stopped_ns: Some(20),
            old_rule_removed_ns: Some(25),
            old_backend_conns: Some(seamless_proto::run::BackendConns {
                first_closed_ns: Some(13),
                all_closed_ns: Some(14),
                ..Default::default()
            }),
            ..Default::default()
        };
        let names: Vec<(String, i64)> = moments(Some(&truth), &events);
        assert_eq!(
            names,
            [
                ("sigterm".to_owned(), 12),
                ("backend_conns_closing".to_owned(), 13),
                ("backend_conns_closed".to_owned(), 14),
                ("listener_closed".to_owned(), 20),
                ("rule_removed".to_owned(), 25),
                ("endpoint_removed".to_owned(), 30),
            ]
        );
    }
}
