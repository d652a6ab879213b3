//! One probe, in memory and on the wire.

use bincode::{Decode, Encode};
use serde::Serialize;

use crate::Outcome;

/// One probe. Times are ns; `intended_ns` and `start_ns` are offsets from the
/// header's monotonic anchor, the durations are from `start_ns`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Probe {
    /// When the schedule meant the probe to start (open loop); equal to
    /// `start_ns` in closed loop. The gap shows coordinated omission.
    pub intended_ns: u64,
    /// When the probe actually started (socket creation).
    pub start_ns: u64,
    /// Until the connect completed or failed.
    pub connect_ns: u64,
    /// Until the first response byte; 0 when none arrived.
    pub first_byte_ns: u64,
    /// Until the probe ended, whatever the outcome.
    pub total_ns: u64,
    /// HTTP status; 0 when no status line was parsed.
    pub status: u16,
    /// What happened.
    pub outcome: Outcome,
    /// Backend id: 0 for none, else 1 + the index in the log's backend table.
    pub backend: u32,
}

/// A probe as encoded inside a frame: deltas, so varints stay short.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Encode, Decode)]
pub(crate) struct WireProbe {
    intended_delta: i64,
    start_delta: u64,
    connect: u64,
    first_byte_delta: u64,
    total_delta: u64,
    status: u16,
    outcome: u8,
    backend: u32,
}

/// A signed delta (zigzag on the wire): for intended starts, which a batch
/// may hold slightly out of order.
fn signed_delta(a: u64, b: u64) -> i64 {
    a.wrapping_sub(b) as i64
}

/// An unsigned wrapping delta: for quantities that normally grow (start after
/// intended, first byte after connect), so the common case stays short; a
/// phase never reached (0) costs 9 bytes but still round-trips exactly.
fn delta(a: u64, b: u64) -> u64 {
    a.wrapping_sub(b)
}

fn undelta(base: u64, d: u64) -> u64 {
    base.wrapping_add(d)
}

impl WireProbe {
    /// Encodes `p`, given the previous probe's intended start in the frame.
    pub(crate) fn encode(p: &Probe, prev_intended: u64) -> WireProbe {
        WireProbe {
            intended_delta: signed_delta(p.intended_ns, prev_intended),
            start_delta: delta(p.start_ns, p.intended_ns),
            connect: p.connect_ns,
            first_byte_delta: delta(p.first_byte_ns, p.connect_ns),
            total_delta: delta(p.total_ns, p.first_byte_ns),
            status: p.status,
            outcome: p.outcome.as_u8(),
            backend: p.backend,
        }
    }

    /// Decodes, given the previous probe's intended start in the frame; `None`
    /// for an unknown outcome byte.
    pub(crate) fn decode(&self, prev_intended: u64) -> Option<Probe> {
        let intended_ns = undelta(prev_intended, self.intended_delta as u64);
        let first_byte_ns = undelta(self.connect, self.first_byte_delta);
        Some(Probe {
            intended_ns,
            start_ns: undelta(intended_ns, self.start_delta),
            connect_ns: self.connect,
            first_byte_ns,
            total_ns: undelta(first_byte_ns, self.total_delta),
            status: self.status,
            outcome: Outcome::from_u8(self.outcome)?,
            backend: self.backend,
        })
    }
}
