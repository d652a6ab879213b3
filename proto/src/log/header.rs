//! The log header: who probed what, how, and the clock anchors.

use bincode::{Decode, Encode};
use serde::Serialize;

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

/// The first frame of a probe log.
#[derive(Debug, Clone, PartialEq, Encode, Decode, Serialize)]
pub struct Header {
    /// Version of the agent that wrote the log.
    pub agent_version: String,
    /// The URL as given.
    pub target_url: String,
    /// The socket address it resolved to.
    pub target_addr: String,
    /// The schedule.
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
        }
    }
}
