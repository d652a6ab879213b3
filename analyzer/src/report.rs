//! The report: what `report.json` holds. Every time is wall-clock ns since
//! the Unix epoch (after any clock offset); every duration is ns.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Version of the `report.json` layout; bumped on incompatible changes.
pub const REPORT_SCHEMA_VERSION: u32 = 1;

/// The whole analysis of a run (or of one bare probe log).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// [`REPORT_SCHEMA_VERSION`].
    pub schema_version: u32,
    /// Version of the analyzer that wrote it.
    pub analyzer_version: String,
    /// The run directory or log analysed.
    pub source: String,
    /// Scenario from `run.json`, if any.
    pub scenario: Option<String>,
    /// `run.json` as read, if present.
    pub run_info: Option<seamless_proto::RunInfo>,
    /// The options used.
    pub options: crate::AnalyzeOptions,
    /// The rollout span from the timeline, if it has one.
    pub rollout: Option<Span>,
    /// Timeline events, in time order.
    pub events: Vec<EventMark>,
    /// One entry per agent (probe log), in file-name order.
    pub agents: Vec<AgentReport>,
    /// Every agent together: probe statistics over all probes, windows as the
    /// union of the agents' windows (overlapping ones joined). A control
    /// target's agents are not in it (see `control`).
    pub merged: Summary,
    /// The control target (`experiment --control`), when `run.json` names
    /// agents that probed one: their failures apart, and the merged
    /// downtime net of them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub control: Option<crate::control::Control>,
    /// Things a reader should know: torn logs, skipped empty logs, clock
    /// doubts. Also logged as warnings.
    pub warnings: Vec<String>,
}

/// A closed span of wall-clock time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Span {
    /// Start, ns.
    pub start_ns: i64,
    /// End, ns.
    pub end_ns: i64,
}

/// A timeline event, as drawn.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventMark {
    /// When, ns.
    pub ts_ns: i64,
    /// The event kind's snake_case name.
    pub kind: String,
    /// Short label: the kind and the object's name.
    pub label: String,
}

/// One agent's log and its analysis.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AgentReport {
    /// Agent name, from `probe-<agent>.log`; `<agent>/<mode>` for one mode
    /// of a log that probed several at once.
    pub name: String,
    /// The probing mode of this row (`new`, `reuse`, `slow`) when its log
    /// probed several at once; absent otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<String>,
    /// The log file.
    pub file: String,
    /// The log's format version.
    pub format_version: u16,
    /// Version of the agent that wrote it.
    pub agent_version: String,
    /// What it probed.
    pub target_url: String,
    /// Host, node and pod of the agent, as far as known.
    pub host: String,
    /// Kubernetes node, when known.
    pub node: Option<String>,
    /// Kubernetes pod, when known.
    pub pod: Option<String>,
    /// Clock offset added to its times, ns.
    pub clock_offset_ns: i64,
    /// How far off that offset may be, ns, when it was measured (run.json's
    /// `agents[].clock_uncertainty_ns`); above the probe interval the report
    /// warns.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clock_uncertainty_ns: Option<i64>,
    /// Set when the log ends inside a frame (agent killed mid-write).
    pub torn: Option<Torn>,
    /// Whether the log has the end marker of a clean stop.
    pub clean_end: bool,
    /// The analysis of this agent's probes alone.
    pub summary: Summary,
    /// Reuse mode's connection-level facts: connections used, broken
    /// (a request failed on a kept-alive one) by kind, closed by the server
    /// between requests, and when, relative to the SIGTERM, the listener's
    /// close, the endpoint's and the rule's removal. Present only for a
    /// reuse-mode row.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connections: Option<crate::connections::Connections>,
}

/// Where a torn log was cut.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Torn {
    /// Byte offset where the incomplete frame starts.
    pub offset: u64,
    /// Bytes after that offset that were ignored.
    pub bytes_lost: u64,
}

/// Probe statistics and failure windows of a set of probes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// Counts and rate.
    pub totals: Totals,
    /// Gaps between consecutive probe starts: the resolution of every
    /// downtime figure.
    pub interval: ProbeInterval,
    /// The failure windows, in time order, never overlapping.
    pub windows: Vec<Window>,
    /// Downtime summed over the windows.
    pub downtime: Downtime,
    /// Latency of ok probes: `all`, and `before`/`during`/`after` the
    /// rollout when the timeline has one.
    pub latency: Vec<LatencyPhase>,
    /// Every backend seen, by first appearance.
    pub backends: Vec<BackendSeen>,
    /// When traffic moved from the first backend to the last one.
    pub switch: Option<TrafficSwitch>,
    /// Success ratio and answering backends per time bin.
    pub bins: Bins,
}

/// Probe counts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Totals {
    /// Every probe.
    pub probes: u64,
    /// Ok probes.
    pub ok: u64,
    /// Failed probes (service failures; local errors excluded).
    pub failed: u64,
    /// The prober's own errors, neither success nor failure.
    pub local_errors: u64,
    /// Failed probes by outcome kind.
    pub failed_by_kind: BTreeMap<String, u64>,
    /// Local errors by kind.
    pub local_by_kind: BTreeMap<String, u64>,
    /// Start of the first probe, ns.
    pub first_start_ns: i64,
    /// Start of the last probe, ns.
    pub last_start_ns: i64,
    /// Probes a second over that span.
    pub achieved_rate_per_s: f64,
}

/// Gaps between consecutive probe starts.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ProbeInterval {
    /// Median gap, ns.
    pub median_ns: i64,
    /// 99th percentile gap, ns.
    pub p99_ns: i64,
}

/// A failure window: failed probes in start order with the runs of
/// successes between them that could be chance (the automatic merging), or
/// as the fixed rules or `--no-merge` say. Local errors
/// are skipped: they neither break nor extend a window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Window {
    /// Start of the first failed probe, ns.
    pub first_fail_ns: i64,
    /// Start of the last failed probe, ns.
    pub last_fail_ns: i64,
    /// Start of the last ok probe before, ns; `None` when the log starts
    /// failing.
    pub last_ok_before_ns: Option<i64>,
    /// Start of the first ok probe after, ns; `None` when the log ends
    /// failing.
    pub first_ok_after_ns: Option<i64>,
    /// Lower bound of the downtime: `last_fail - first_fail`.
    pub lower_ns: i64,
    /// Upper bound: `first_ok_after - last_ok_before`, widened by
    /// `edge_uncertainty_ns` at each edge for a partial outage; `None` when
    /// unbounded at an edge of the log.
    pub upper_ns: Option<i64>,
    /// For a partial outage (some probes inside the window succeeded, e.g.
    /// iptables still sends part of the traffic to a dead endpoint), how far
    /// the true start may lie before `last_ok_before` and the true end after
    /// `first_ok_after`: a run of successes by chance can hide an edge.
    /// The time the `k - 1` probes beyond an edge took (the wider of the two
    /// edges), and at least `(k - 1) x` the median probe interval, with `k`
    /// the shortest run of successes that has less than a 0.1% chance at
    /// the window's failure ratio (`k = ceil(ln 0.001 / ln(1 - ratio))`: 10
    /// at ratio 0.5). An agent that stalled beyond an edge widens it by the
    /// stall. 0 for a window where every probe failed.
    pub edge_uncertainty_ns: i64,
    /// Under the automatic merging (the default): the shortest run of
    /// successes that would have ended this window, one with less than a
    /// 0.1% chance anywhere inside it at its failure ratio; every run of
    /// successes inside is shorter. `None` under `--merge-successes`,
    /// `--merge-gap` or `--no-merge`.
    #[serde(default)]
    pub split_successes: Option<u64>,
    /// Failed probes inside.
    pub failed: u64,
    /// Probes from the first to the last failure, failed or ok (local errors
    /// not counted).
    pub total: u64,
    /// `failed / total`.
    pub ratio: f64,
    /// Failed probes by kind.
    pub kinds: BTreeMap<String, u64>,
    /// Backends that answered inside the window or right around it.
    pub backends: Vec<String>,
    /// Backend of the last ok probe before.
    pub backend_before: Option<String>,
    /// Backend of the first ok probe after.
    pub backend_after: Option<String>,
    /// Agents that saw this window.
    pub agents: Vec<String>,
}

/// Downtime over all windows.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Downtime {
    /// Number of windows.
    pub windows: u64,
    /// Sum of the windows' lower bounds, ns.
    pub lower_ns: i64,
    /// Sum of the upper bounds, ns; `None` when a window is unbounded.
    pub upper_ns: Option<i64>,
    /// Windows without an ok probe before or after.
    pub unbounded_windows: u64,
    /// Failed probes inside windows (equals `totals.failed`).
    pub failed: u64,
}

/// Latency percentiles of ok probes in one phase.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LatencyPhase {
    /// `all`, `before`, `during` or `after`.
    pub phase: String,
    /// Ok probes in the phase.
    pub count: u64,
    /// Median, ns.
    pub p50_ns: i64,
    /// 90th percentile, ns.
    pub p90_ns: i64,
    /// 99th percentile, ns.
    pub p99_ns: i64,
    /// 99.9th percentile, ns.
    pub p999_ns: i64,
    /// Slowest, ns.
    pub max_ns: i64,
}

/// A backend and when it answered.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BackendSeen {
    /// Its name (the backend header's value).
    pub name: String,
    /// First probe it answered, ns.
    pub first_ns: i64,
    /// Last probe it answered, ns.
    pub last_ns: i64,
    /// Probes it answered.
    pub probes: u64,
    /// Its share of the probes that named a backend.
    pub share: f64,
}

/// The move from the first backend to the last.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrafficSwitch {
    /// The backend that answered first.
    pub from: String,
    /// The backend that answered last.
    pub to: String,
    /// First probe answered by `to`, ns.
    pub first_to_ns: i64,
    /// Last probe answered by `from`, ns.
    pub last_from_ns: i64,
}

/// Fixed-width time bins.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Bins {
    /// Bin width, ns.
    pub width_ns: i64,
    /// Bins holding at least one probe, in time order.
    pub bins: Vec<Bin>,
}

/// One time bin.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Bin {
    /// Start of the bin, ns (a multiple of the width).
    pub start_ns: i64,
    /// Probes started in it.
    pub probes: u64,
    /// Ok probes.
    pub ok: u64,
    /// Failed probes.
    pub failed: u64,
    /// `ok / (ok + failed)`; `None` when it holds only local errors.
    pub ratio: Option<f64>,
    /// Probes answered by each backend.
    pub backends: BTreeMap<String, u64>,
}

impl Report {
    /// Total downtime of the merged view: (lower, upper) ns.
    pub fn downtime(&self) -> (i64, Option<i64>) {
        (self.merged.downtime.lower_ns, self.merged.downtime.upper_ns)
    }
}
