//! The agent's control endpoint (`seamless-agent probe --serve ADDR`): the
//! contract between the agent in its pod and `seamless-controller
//! experiment`, which reaches it through the API server's `pods/proxy`
//! subresource with GET requests only (RBAC verb `get` on `pods/proxy`).
//!
//! | path | answer |
//! |---|---|
//! | `GET /ready` | 200 once the log holds a probe, 503 before (the pod's readiness probe) |
//! | `GET /status` | 200, an [`AgentStatus`] as JSON |
//! | `GET /time` | 200, a [`TimeReply`]: the agent's CLOCK_REALTIME, for Cristian's method |
//! | `GET /stop` | 202, asks the probing to stop cleanly (idempotent), then an [`AgentStatus`] |
//! | `GET /log` | 200, the probe log's bytes once the agent is done (409 before) |
//!
//! `/stop` is a GET so that the controller needs no `create` on
//! `pods/proxy`, which would let it POST to any pod's HTTP server in the
//! namespace; it is idempotent, so a repeated request changes nothing.

use serde::{Deserialize, Serialize};

/// The port the controller's agent pods serve on.
pub const DEFAULT_PORT: u16 = 9090;

/// Where the agent is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// The log has its header, no probe yet.
    Starting,
    /// Probing.
    Probing,
    /// Stopped cleanly: the log is complete, with its end marker, and
    /// synced.
    Done,
    /// The probe session failed (see `error`).
    Failed,
}

/// `GET /status`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentStatus {
    /// Where the agent is.
    pub phase: Phase,
    /// The probe log's file name (no directory).
    pub log: String,
    /// Probes in the log's whole frames so far; when done, the count of the
    /// agent's summary (the end marker's).
    pub probes: u64,
    /// The log's size in bytes now.
    pub log_bytes: u64,
    /// When done: the FNV-1a 64 hash of the whole log ([`fnv1a64`]), as 16
    /// hex digits.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_fnv1a64: Option<String>,
    /// When done: the session's exit code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i32>,
    /// When failed: why.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The agent's CLOCK_REALTIME when it answered, ns.
    pub now_ns: i64,
}

/// `GET /time`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct TimeReply {
    /// The agent's CLOCK_REALTIME when it answered, ns since the epoch.
    pub now_ns: i64,
}

/// FNV-1a, 64 bits: the log's checksum in [`AgentStatus`] (not
/// cryptographic; it catches a changed or reordered byte on the way).
pub fn fnv1a64(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// One clock sample by Cristian's method: the local clock before the
/// request (`sent_ns`), the remote clock's answer (`remote_ns`) and the
/// local clock after the reply (`received_ns`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClockSample {
    /// Local clock when the request was sent.
    pub sent_ns: i64,
    /// The remote clock's reading.
    pub remote_ns: i64,
    /// Local clock when the reply arrived.
    pub received_ns: i64,
}

/// A clock offset estimate: `offset_ns` is to be **added** to the remote
/// clock's times to put them on the local clock (the analyzer's
/// `--clock-offset`), within `± uncertainty_ns`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClockOffset {
    /// Add this to the remote times.
    pub offset_ns: i64,
    /// Half the round trip of the tightest sample.
    pub uncertainty_ns: i64,
    /// The round trip of the tightest sample.
    pub round_trip_ns: i64,
    /// Samples taken.
    pub samples: usize,
}

impl ClockOffset {
    /// Cristian's method over several samples: the one with the shortest
    /// round trip wins; the remote reading is taken to be at the midpoint of
    /// the round trip. None without a sample whose reply came after its
    /// request.
    pub fn estimate(samples: &[ClockSample]) -> Option<ClockOffset> {
        let best = samples
            .iter()
            .filter(|s| s.received_ns >= s.sent_ns)
            .min_by_key(|s| s.received_ns - s.sent_ns)?;
        let rtt = best.received_ns - best.sent_ns;
        let midpoint = best.sent_ns + rtt / 2;
        Some(ClockOffset {
            offset_ns: midpoint - best.remote_ns,
            uncertainty_ns: (rtt + 1) / 2,
            round_trip_ns: rtt,
            samples: samples.len(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnv_known_values() {
        assert_eq!(fnv1a64(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a64(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv1a64(b"foobar"), 0x8594_4171_f739_67e8);
    }

    #[test]
    fn cristian_keeps_the_tightest_round_trip() {
        let s = |sent, remote, received| ClockSample {
            sent_ns: sent,
            remote_ns: remote,
            received_ns: received,
        };
        // The remote clock runs 5_000 ahead. A slow sample with an
        // asymmetric delay would say otherwise; the tight one wins.
        let samples = [
            s(0, 9_000, 10_000),
            s(20_000, 25_100, 20_200),
            s(30_000, 38_000, 31_000),
            s(50, 0, 40), // a reply before its request: ignored
        ];
        let o = ClockOffset::estimate(&samples).unwrap();
        assert_eq!(o.offset_ns, -5_000);
        assert_eq!(o.uncertainty_ns, 100);
        assert_eq!(o.round_trip_ns, 200);
        assert_eq!(o.samples, 4);
        assert_eq!(ClockOffset::estimate(&[]), None);
        assert_eq!(ClockOffset::estimate(&[s(50, 0, 40)]), None);
    }
}
