//! One probe, in memory and on the wire.

use bincode::{Decode, Encode};
use serde::Serialize;

use crate::Outcome;

/// How a probe reached the service. The discriminant is the on-disk byte:
/// never renumber a variant, only append.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default, Encode, Decode, Serialize,
)]
#[serde(rename_all = "snake_case")]
#[repr(u8)]
pub enum Mode {
    /// A new TCP connection per probe, `GET` over HTTP/1.0, closed after the
    /// response (every version-1 log).
    #[default]
    New = 0,
    /// One request on a connection of a pool of HTTP/1.1 keep-alive
    /// connections ([`Probe::conn`] says which).
    Reuse = 1,
    /// A new connection per probe to the slow path (`--slow`): a request that
    /// stays in flight for the server's delay.
    Slow = 2,
}

impl Mode {
    /// Every mode, in on-disk order.
    pub const ALL: [Mode; 3] = [Mode::New, Mode::Reuse, Mode::Slow];

    /// The stable name used on command lines, in CSV, JSON and reports.
    pub fn name(self) -> &'static str {
        match self {
            Mode::New => "new",
            Mode::Reuse => "reuse",
            Mode::Slow => "slow",
        }
    }

    /// The mode of a name, or `None`.
    pub fn from_name(name: &str) -> Option<Mode> {
        Mode::ALL.into_iter().find(|m| m.name() == name)
    }

    /// The on-disk byte.
    pub fn as_u8(self) -> u8 {
        self as u8
    }

    /// The mode of an on-disk byte, or `None` for an unknown one.
    pub fn from_u8(b: u8) -> Option<Mode> {
        Mode::ALL.get(usize::from(b)).copied()
    }
}

impl std::fmt::Display for Mode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Why a reused-mode probe's connection was the one it was. The
/// discriminant is the on-disk byte: only append.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
#[repr(u8)]
pub enum ConnState {
    /// A connection that had carried earlier requests.
    Reused = 0,
    /// A new connection for a pool slot that never had one.
    Opened = 1,
    /// A new connection replacing one that broke on the previous probe of
    /// its slot (that probe is the failure).
    AfterFailure = 2,
    /// A new connection replacing one the server closed cleanly: a response
    /// with `Connection: close` (or HTTP/1.0 without keep-alive), or a FIN
    /// seen while the connection was idle, before this request was sent. No
    /// request was lost.
    AfterClose = 3,
    /// A new connection replacing one found reset (or otherwise broken)
    /// while idle, before this request was sent. No request was lost.
    AfterIdleError = 4,
}

impl ConnState {
    /// Every state, in on-disk order.
    pub const ALL: [ConnState; 5] = [
        ConnState::Reused,
        ConnState::Opened,
        ConnState::AfterFailure,
        ConnState::AfterClose,
        ConnState::AfterIdleError,
    ];

    /// The stable snake_case name used in CSV and JSON.
    pub fn name(self) -> &'static str {
        match self {
            ConnState::Reused => "reused",
            ConnState::Opened => "opened",
            ConnState::AfterFailure => "after_failure",
            ConnState::AfterClose => "after_close",
            ConnState::AfterIdleError => "after_idle_error",
        }
    }

    /// The on-disk byte.
    pub fn as_u8(self) -> u8 {
        self as u8
    }

    /// The state of an on-disk byte, or `None` for an unknown one.
    pub fn from_u8(b: u8) -> Option<ConnState> {
        ConnState::ALL.get(usize::from(b)).copied()
    }
}

/// The pooled connection a reused-mode probe went over.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct ConnUse {
    /// The connection's id, unique in the log (from 1, in order of opening).
    pub id: u64,
    /// ns from the start of the connection's connect to this probe's start
    /// (0 when this probe opened it).
    pub age_ns: u64,
    /// Requests the connection had carried before this one (0 when this
    /// probe opened it).
    pub requests: u32,
    /// Whether it was reused, and if not, why a new one was opened.
    pub state: ConnState,
}

/// One probe. Times are ns; `intended_ns` and `start_ns` are offsets from the
/// header's monotonic anchor, the durations are from `start_ns`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Probe {
    /// When the schedule meant the probe to start (open loop); equal to
    /// `start_ns` in closed loop. The gap shows coordinated omission.
    pub intended_ns: u64,
    /// When the probe actually started (socket creation; in reuse mode, the
    /// moment it had its pooled connection).
    pub start_ns: u64,
    /// Until the connect completed or failed; 0 for a reused connection.
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
    /// How the probe reached the service ([`Mode::New`] in version-1 logs).
    pub mode: Mode,
    /// Reuse mode: the connection used. `None` in the other modes.
    pub conn: Option<ConnUse>,
}

impl Default for Probe {
    fn default() -> Probe {
        Probe {
            intended_ns: 0,
            start_ns: 0,
            connect_ns: 0,
            first_byte_ns: 0,
            total_ns: 0,
            status: 0,
            outcome: Outcome::Ok,
            backend: 0,
            mode: Mode::New,
            conn: None,
        }
    }
}

/// A probe as encoded inside a version-1 frame: deltas, so varints stay short.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Encode, Decode)]
pub(crate) struct WireProbeV1 {
    intended_delta: i64,
    start_delta: u64,
    connect: u64,
    first_byte_delta: u64,
    total_delta: u64,
    status: u16,
    outcome: u8,
    backend: u32,
}

/// A probe as encoded inside a version-2 frame: the version-1 fields, then
/// the mode and, for reuse mode, the connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Encode, Decode)]
pub(crate) struct WireProbe {
    base: WireProbeV1,
    kind: WireKind,
}

/// The mode and connection in one varint tag for the usual pairs (new and
/// slow without a connection: 1 byte), and a general form for any other.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Encode, Decode)]
enum WireKind {
    New,
    Slow,
    Reuse(WireConn),
    Any { mode: u8, conn: Option<WireConn> },
}

/// [`ConnUse`] on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Encode, Decode)]
struct WireConn {
    id: u64,
    age: u64,
    requests: u32,
    state: u8,
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

/// Why a wire probe does not decode.
pub(crate) type Undecodable = &'static str;

impl super::fast::ReadProbe for WireProbeV1 {
    fn read(c: &mut super::fast::Cursor<'_>) -> Option<WireProbeV1> {
        Some(WireProbeV1 {
            intended_delta: c.i64()?,
            start_delta: c.u64()?,
            connect: c.u64()?,
            first_byte_delta: c.u64()?,
            total_delta: c.u64()?,
            status: c.u16()?,
            outcome: c.u8()?,
            backend: c.u32()?,
        })
    }
}

impl super::fast::ReadProbe for WireConn {
    fn read(c: &mut super::fast::Cursor<'_>) -> Option<WireConn> {
        Some(WireConn {
            id: c.u64()?,
            age: c.u64()?,
            requests: c.u32()?,
            state: c.u8()?,
        })
    }
}

impl super::fast::ReadProbe for WireProbe {
    fn read(c: &mut super::fast::Cursor<'_>) -> Option<WireProbe> {
        let base = WireProbeV1::read(c)?;
        let kind = match c.variant()? {
            0 => WireKind::New,
            1 => WireKind::Slow,
            2 => WireKind::Reuse(WireConn::read(c)?),
            3 => WireKind::Any {
                mode: c.u8()?,
                conn: if c.option()? {
                    Some(WireConn::read(c)?)
                } else {
                    None
                },
            },
            _ => return None,
        };
        Some(WireProbe { base, kind })
    }
}

impl WireProbeV1 {
    fn encode(p: &Probe, prev_intended: u64) -> WireProbeV1 {
        WireProbeV1 {
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

    /// Decodes, given the previous probe's intended start in the frame.
    pub(crate) fn decode(&self, prev_intended: u64) -> Result<Probe, Undecodable> {
        let intended_ns = undelta(prev_intended, self.intended_delta as u64);
        let first_byte_ns = undelta(self.connect, self.first_byte_delta);
        Ok(Probe {
            intended_ns,
            start_ns: undelta(intended_ns, self.start_delta),
            connect_ns: self.connect,
            first_byte_ns,
            total_ns: undelta(first_byte_ns, self.total_delta),
            status: self.status,
            outcome: Outcome::from_u8(self.outcome).ok_or("unknown outcome byte")?,
            backend: self.backend,
            mode: Mode::New,
            conn: None,
        })
    }
}

impl WireProbe {
    /// Encodes `p`, given the previous probe's intended start in the frame.
    pub(crate) fn encode(p: &Probe, prev_intended: u64) -> WireProbe {
        let conn = p.conn.map(|c| WireConn {
            id: c.id,
            age: c.age_ns,
            requests: c.requests,
            state: c.state.as_u8(),
        });
        let kind = match (p.mode, conn) {
            (Mode::New, None) => WireKind::New,
            (Mode::Slow, None) => WireKind::Slow,
            (Mode::Reuse, Some(c)) => WireKind::Reuse(c),
            (mode, conn) => WireKind::Any {
                mode: mode.as_u8(),
                conn,
            },
        };
        WireProbe {
            base: WireProbeV1::encode(p, prev_intended),
            kind,
        }
    }

    /// The version-1 part.
    #[cfg(test)]
    pub(crate) fn base_for_tests(&self) -> WireProbeV1 {
        self.base
    }

    /// Decodes, given the previous probe's intended start in the frame.
    pub(crate) fn decode(&self, prev_intended: u64) -> Result<Probe, Undecodable> {
        let mut p = self.base.decode(prev_intended)?;
        let (mode, conn) = match self.kind {
            WireKind::New => (Mode::New, None),
            WireKind::Slow => (Mode::Slow, None),
            WireKind::Reuse(c) => (Mode::Reuse, Some(c)),
            WireKind::Any { mode, conn } => (Mode::from_u8(mode).ok_or("unknown mode byte")?, conn),
        };
        p.mode = mode;
        p.conn = match conn {
            None => None,
            Some(c) => Some(ConnUse {
                id: c.id,
                age_ns: c.age,
                requests: c.requests,
                state: ConnState::from_u8(c.state).ok_or("unknown connection state byte")?,
            }),
        };
        Ok(p)
    }
}
