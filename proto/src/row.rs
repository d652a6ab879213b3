//! One probe as a flat row: the columns of `seamless-agent inspect` (CSV and
//! JSON lines) and of `seamless-analyzer export` (CSV and Parquet).
//!
//! | column | type | meaning |
//! |---|---|---|
//! | `agent` | string | the agent: `<agent>` of `probe-<agent>.log` |
//! | `start_ns` | integer | when the probe started (socket created), wall-clock ns since the Unix epoch |
//! | `intended_ns` | integer | when the schedule meant it to start, wall-clock ns (equal to `start_ns` in closed loop) |
//! | `connect_ns` | integer | ns from the start until the connect completed or failed |
//! | `first_byte_ns` | integer | ns from the start until the first response byte; 0 when none arrived |
//! | `total_ns` | integer | ns from the start until the probe ended, whatever the outcome |
//! | `status` | integer | HTTP status; 0 when no status line was parsed |
//! | `outcome` | string | the outcome kind's name ([`crate::Outcome::name`]: `ok`, `connect_refused`, ...) |
//! | `failure` | bool | a failure of the service (neither ok nor local) |
//! | `local` | bool | the prober's own trouble (`local_*`), never downtime |
//! | `backend` | string or empty | the backend that answered (the `--backend-header` value) |
//! | `mode` | string | how the probe reached the service ([`crate::Mode::name`]: `new`, `reuse`, `slow`; `new` for version-1 logs) |
//! | `conn_id` | integer or empty | reuse mode: the pooled connection's id, unique in the log |
//! | `conn_age_ns` | integer or empty | reuse mode: ns from the connection's connect to this probe's start (0: opened by this probe) |
//! | `conn_requests` | integer or empty | reuse mode: requests the connection carried before this one |
//! | `conn_state` | string or empty | reuse mode: `reused`, or why a new connection was opened: `opened`, `after_failure`, `after_close`, `after_idle_error` ([`crate::ConnState`]) |
//!
//! Wall-clock times are the log header's CLOCK_REALTIME anchor plus the
//! probe's monotonic offset; the analyzer's export adds any
//! `--clock-offset`. Rows are in the log's order in `inspect` and sorted by
//! `start_ns` across agents in `export`. In CSV, a missing backend is an
//! empty field; in JSON and Parquet it is null, and so are the `conn_*`
//! columns of probes that are not in reuse mode. (Parquet stores the times
//! and durations as Int64 and the status as UInt32.)

use std::io::{self, Write};

use serde::Serialize;

use crate::log::{Header, Probe, backend_name};

/// The column names, in order.
pub const COLUMNS: [&str; 16] = [
    "agent",
    "start_ns",
    "intended_ns",
    "connect_ns",
    "first_byte_ns",
    "total_ns",
    "status",
    "outcome",
    "failure",
    "local",
    "backend",
    "mode",
    "conn_id",
    "conn_age_ns",
    "conn_requests",
    "conn_state",
];

/// One probe as a row; see the module's table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ProbeRow<'a> {
    /// The agent.
    pub agent: &'a str,
    /// Actual start, wall-clock ns.
    pub start_ns: i64,
    /// Intended start, wall-clock ns.
    pub intended_ns: i64,
    /// Connect duration, ns.
    pub connect_ns: u64,
    /// Time to the first byte, ns (0: none).
    pub first_byte_ns: u64,
    /// Whole duration, ns.
    pub total_ns: u64,
    /// HTTP status (0: none).
    pub status: u16,
    /// The outcome's name.
    pub outcome: &'static str,
    /// A failure of the service.
    pub failure: bool,
    /// The prober's own trouble.
    pub local: bool,
    /// The backend that answered.
    pub backend: Option<&'a str>,
    /// The mode's name.
    pub mode: &'static str,
    /// Reuse mode: the connection's id.
    pub conn_id: Option<u64>,
    /// Reuse mode: the connection's age at the probe's start, ns.
    pub conn_age_ns: Option<u64>,
    /// Reuse mode: requests the connection carried before.
    pub conn_requests: Option<u32>,
    /// Reuse mode: reused, or why a new connection was opened.
    pub conn_state: Option<&'static str>,
}

impl<'a> ProbeRow<'a> {
    /// The row of `probe` from a log with `header` and backend table
    /// `backends`, its times shifted by `offset_ns`.
    pub fn new(
        agent: &'a str,
        header: &Header,
        backends: &'a [String],
        probe: &Probe,
        offset_ns: i64,
    ) -> ProbeRow<'a> {
        ProbeRow {
            agent,
            start_ns: header.wall_ns(probe.start_ns).saturating_add(offset_ns),
            intended_ns: header.wall_ns(probe.intended_ns).saturating_add(offset_ns),
            connect_ns: probe.connect_ns,
            first_byte_ns: probe.first_byte_ns,
            total_ns: probe.total_ns,
            status: probe.status,
            outcome: probe.outcome.name(),
            failure: probe.outcome.is_failure(),
            local: probe.outcome.is_local(),
            backend: backend_name(backends, probe.backend),
            mode: probe.mode.name(),
            conn_id: probe.conn.map(|c| c.id),
            conn_age_ns: probe.conn.map(|c| c.age_ns),
            conn_requests: probe.conn.map(|c| c.requests),
            conn_state: probe.conn.map(|c| c.state.name()),
        }
    }

    /// Writes the CSV header line.
    pub fn write_csv_header(out: &mut impl Write) -> io::Result<()> {
        writeln!(out, "{}", COLUMNS.join(","))
    }

    /// Writes the row as one CSV line (RFC 4180 quoting for the strings).
    pub fn write_csv(&self, out: &mut impl Write) -> io::Result<()> {
        writeln!(
            out,
            "{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{}",
            csv_field(self.agent),
            self.start_ns,
            self.intended_ns,
            self.connect_ns,
            self.first_byte_ns,
            self.total_ns,
            self.status,
            self.outcome,
            self.failure,
            self.local,
            csv_field(self.backend.unwrap_or("")),
            self.mode,
            opt(self.conn_id),
            opt(self.conn_age_ns),
            opt(self.conn_requests),
            self.conn_state.unwrap_or(""),
        )
    }
}

/// An optional number as a CSV field: empty when `None`.
fn opt<T: std::fmt::Display>(v: Option<T>) -> String {
    v.map_or_else(String::new, |v| v.to_string())
}

/// A CSV field: quoted, with quotes doubled, when it holds a comma, a quote
/// or a line break.
fn csv_field(s: &str) -> std::borrow::Cow<'_, str> {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\"")).into()
    } else {
        s.into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ConnState, ConnUse, Mode, Outcome};

    fn probe(outcome: Outcome, backend: u32) -> Probe {
        Probe {
            mode: Mode::New,
            conn: None,
            intended_ns: 1_000,
            start_ns: 1_200,
            connect_ns: 50,
            first_byte_ns: 90,
            total_ns: 120,
            status: if outcome == Outcome::Ok { 200 } else { 0 },
            outcome,
            backend,
        }
    }

    #[test]
    fn serialized_fields_are_the_columns_in_order() {
        let h = Header::example();
        let backends = vec!["web-a".to_owned()];
        let row = ProbeRow::new("node-a", &h, &backends, &probe(Outcome::Ok, 1), 0);
        let v = serde_json::to_value(&row).unwrap();
        let keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
        let mut sorted = COLUMNS.to_vec();
        sorted.sort();
        assert_eq!(keys, sorted, "serde_json sorts keys; same set");
        let line = serde_json::to_string(&row).unwrap();
        let positions: Vec<usize> = COLUMNS
            .iter()
            .map(|c| line.find(&format!("\"{c}\":")).unwrap())
            .collect();
        assert!(positions.windows(2).all(|w| w[0] < w[1]), "{line}");
    }

    #[test]
    fn csv_lines() {
        let h = Header::example();
        let backends = vec!["web,\"a\"".to_owned()];
        let mut out = Vec::new();
        ProbeRow::write_csv_header(&mut out).unwrap();
        ProbeRow::new("node-a", &h, &backends, &probe(Outcome::Ok, 1), 5)
            .write_csv(&mut out)
            .unwrap();
        ProbeRow::new(
            "node-a",
            &h,
            &backends,
            &probe(Outcome::ConnectRefused, 0),
            0,
        )
        .write_csv(&mut out)
        .unwrap();
        let text = String::from_utf8(out).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], COLUMNS.join(","));
        let start = h.wall_ns(1_200) + 5;
        let intended = h.wall_ns(1_000) + 5;
        assert_eq!(
            lines[1],
            format!(
                "node-a,{start},{intended},50,90,120,200,ok,false,false,\"web,\"\"a\"\"\",new,,,,"
            )
        );
        assert!(
            lines[2].ends_with(",0,connect_refused,true,false,,new,,,,"),
            "{}",
            lines[2]
        );
    }

    #[test]
    fn reused_connection_columns() {
        let h = Header::example();
        let mut p = probe(Outcome::Reset, 0);
        p.mode = Mode::Reuse;
        p.conn = Some(ConnUse {
            id: 7,
            age_ns: 1_500,
            requests: 41,
            state: ConnState::Reused,
        });
        let row = ProbeRow::new("node-a", &h, &[], &p, 0);
        let mut out = Vec::new();
        row.write_csv(&mut out).unwrap();
        let line = String::from_utf8(out).unwrap();
        assert!(
            line.ends_with(",reset,true,false,,reuse,7,1500,41,reused\n"),
            "{line}"
        );
        let v = serde_json::to_value(&row).unwrap();
        assert_eq!(v["conn_id"], 7);
        assert_eq!(v["conn_state"], "reused");
        let plain =
            serde_json::to_value(ProbeRow::new("a", &h, &[], &probe(Outcome::Ok, 0), 0)).unwrap();
        assert!(plain["conn_id"].is_null() && plain["conn_state"].is_null());
        assert_eq!(plain["mode"], "new");
    }
}
