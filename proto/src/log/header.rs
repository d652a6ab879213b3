//! The log header: who probed what, how, and the clock anchors.

use bincode::{Decode, Encode};
use serde::Serialize;

use super::record::Mode;

/// How probes were scheduled.
#[derive(Debug, Clone, PartialEq, Encode, Decode, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Schedule {
    /// Open loop: probes start on a fixed schedule, `per_sec` a second,
    /// whether or not earlier ones have finished.
    Rate {
        /// Intended probes per second.
        per_sec: f64,
    },
    /// Closed loop: `workers` probes back to back, each starting when the
    /// previous one ended.
    Concurrency {
        /// Probes in flight.
        workers: u32,
    },
}

/// One probing mode of a run: its own schedule, path and timeout (version 2).
#[derive(Debug, Clone, PartialEq, Encode, Decode, Serialize)]
pub struct ModeSpec {
    /// The mode.
    pub mode: Mode,
    /// Its schedule.
    pub schedule: Schedule,
    /// The request path (and query).
    pub path: String,
    /// Reuse mode: connections in the pool; 0 in the other modes.
    pub pool: u32,
    /// Response timeout, ns (the connect timeout is the header's `timeout_ns`).
    pub timeout_ns: u64,
}

/// The first frame of a probe log.
#[derive(Debug, Clone, PartialEq, Encode, Decode, Serialize)]
pub struct Header {
    /// Version of the agent that wrote the log.
    pub agent_version: String,
    /// The URL as given.
    pub target_url: String,
    /// The socket address it resolved to.
    pub target_addr: String,
    /// The schedule of the first mode (of the only one in version 1).
    pub schedule: Schedule,
    /// Worker threads.
    pub threads: u32,
    /// Connect and read timeout, ns.
    pub timeout_ns: u64,
    /// The status counted as ok.
    pub expect_status: u16,
    /// Response header naming the backend, if any.
    pub backend_header: Option<String>,
    /// Host name of the machine or container.
    pub host: String,
    /// Kubernetes node name (`NODE_NAME`), when known.
    pub node: Option<String>,
    /// Kubernetes pod name (`POD_NAME`), when known.
    pub pod: Option<String>,
    /// CLOCK_REALTIME at the anchor, ns since the Unix epoch.
    pub wall_anchor_ns: i64,
    /// CLOCK_MONOTONIC at the same moment, ns. Probe times are offsets from it.
    pub mono_anchor_ns: u64,
    /// Every mode of the run, each with its schedule (version 2; a version-1
    /// log reads as one `new` mode with `schedule`, the URL's path and
    /// `timeout_ns`).
    pub modes: Vec<ModeSpec>,
}

/// The header of a version-1 log: [`Header`] without `modes`.
#[derive(Debug, Clone, PartialEq, Encode, Decode)]
pub(crate) struct HeaderV1 {
    agent_version: String,
    target_url: String,
    target_addr: String,
    schedule: Schedule,
    threads: u32,
    timeout_ns: u64,
    expect_status: u16,
    backend_header: Option<String>,
    host: String,
    node: Option<String>,
    pod: Option<String>,
    wall_anchor_ns: i64,
    mono_anchor_ns: u64,
}

/// The path and query of an `http://` URL (`/` when it has none).
fn url_path(url: &str) -> String {
    let rest = url.strip_prefix("http://").unwrap_or(url);
    match rest.find(['/', '?']) {
        Some(i) if rest.as_bytes()[i] == b'/' => rest[i..].to_owned(),
        Some(i) => format!("/{}", &rest[i..]),
        None => "/".to_owned(),
    }
}

impl From<HeaderV1> for Header {
    fn from(h: HeaderV1) -> Header {
        let modes = vec![ModeSpec {
            mode: Mode::New,
            schedule: h.schedule.clone(),
            path: url_path(&h.target_url),
            pool: 0,
            timeout_ns: h.timeout_ns,
        }];
        Header {
            agent_version: h.agent_version,
            target_url: h.target_url,
            target_addr: h.target_addr,
            schedule: h.schedule,
            threads: h.threads,
            timeout_ns: h.timeout_ns,
            expect_status: h.expect_status,
            backend_header: h.backend_header,
            host: h.host,
            node: h.node,
            pod: h.pod,
            wall_anchor_ns: h.wall_anchor_ns,
            mono_anchor_ns: h.mono_anchor_ns,
            modes,
        }
    }
}

impl Header {
    /// Wall-clock ns (CLOCK_REALTIME) of a probe time given as an offset from
    /// the anchor.
    pub fn wall_ns(&self, offset_ns: u64) -> i64 {
        self.wall_anchor_ns.saturating_add_unsigned(offset_ns)
    }

    /// A fixed header for examples and tests.
    pub fn example() -> Header {
        Header {
            agent_version: "0.1.0".into(),
            target_url: "http://198.18.100.10:80/".into(),
            target_addr: "198.18.100.10:80".into(),
            schedule: Schedule::Rate { per_sec: 5000.0 },
            threads: 2,
            timeout_ns: 1_000_000_000,
            expect_status: 200,
            backend_header: Some("X-Pod-Name".into()),
            host: "node-a".into(),
            node: Some("node-a".into()),
            pod: None,
            wall_anchor_ns: 1_795_000_000_000_000_000,
            mono_anchor_ns: 1_000_000_000,
            modes: vec![ModeSpec {
                mode: Mode::New,
                schedule: Schedule::Rate { per_sec: 5000.0 },
                path: "/".into(),
                pool: 0,
                timeout_ns: 1_000_000_000,
            }],
        }
    }

    /// The spec of `mode`, when the run had it.
    pub fn mode(&self, mode: Mode) -> Option<&ModeSpec> {
        self.modes.iter().find(|m| m.mode == mode)
    }
}
