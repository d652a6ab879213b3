//! What happened to one probe.
//!
//! Causes are kept apart so that a report can say *why* requests failed, and
//! so that the prober's own trouble ([`Outcome::is_local`]) is never counted
//! as service downtime.

use serde::{Deserialize, Serialize};

/// The outcome of one probe. The discriminant is the on-disk byte: never
/// renumber a variant, only append.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[repr(u8)]
pub enum Outcome {
    /// A complete response with the expected status.
    Ok = 0,
    /// A complete response with another status.
    UnexpectedStatus = 1,
    /// The connect was refused (RST to the SYN: nothing listening).
    ConnectRefused = 2,
    /// The connect did not complete within the timeout.
    ConnectTimeout = 3,
    /// The connection was reset after it was established.
    Reset = 4,
    /// No full response within the timeout after connecting.
    ReadTimeout = 5,
    /// The peer closed the connection before a full status line arrived.
    ClosedBeforeStatus = 6,
    /// The status line or headers could not be parsed.
    Malformed = 7,
    /// Host or network unreachable (ICMP, no route, ARP failure).
    Unreachable = 8,
    /// The response exceeded the agent's caps on header or body size.
    Oversized = 9,
    /// Another error on the connection that names no clearer cause.
    OtherError = 10,
    /// Local: no ephemeral port or local address available (EADDRNOTAVAIL).
    LocalPortExhausted = 11,
    /// Local: the process or system ran out of file descriptors (EMFILE, ENFILE).
    LocalFdExhausted = 12,
    /// Local: the kernel ran out of buffers or memory (ENOBUFS, ENOMEM).
    LocalNoBuffers = 13,
    /// Local: another error of the prober's own making (e.g. EPERM from a firewall on the host).
    LocalOther = 14,
}

impl Outcome {
    /// Every outcome, in on-disk order.
    pub const ALL: [Outcome; 15] = [
        Outcome::Ok,
        Outcome::UnexpectedStatus,
        Outcome::ConnectRefused,
        Outcome::ConnectTimeout,
        Outcome::Reset,
        Outcome::ReadTimeout,
        Outcome::ClosedBeforeStatus,
        Outcome::Malformed,
        Outcome::Unreachable,
        Outcome::Oversized,
        Outcome::OtherError,
        Outcome::LocalPortExhausted,
        Outcome::LocalFdExhausted,
        Outcome::LocalNoBuffers,
        Outcome::LocalOther,
    ];

    /// The on-disk byte.
    pub fn as_u8(self) -> u8 {
        self as u8
    }

    /// The outcome for an on-disk byte, or `None` for an unknown one.
    pub fn from_u8(b: u8) -> Option<Outcome> {
        Outcome::ALL.get(usize::from(b)).copied()
    }

    /// The stable snake_case name used in CSV, JSON and reports.
    pub fn name(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::UnexpectedStatus => "unexpected_status",
            Outcome::ConnectRefused => "connect_refused",
            Outcome::ConnectTimeout => "connect_timeout",
            Outcome::Reset => "reset",
            Outcome::ReadTimeout => "read_timeout",
            Outcome::ClosedBeforeStatus => "closed_before_status",
            Outcome::Malformed => "malformed",
            Outcome::Unreachable => "unreachable",
            Outcome::Oversized => "oversized",
            Outcome::OtherError => "other_error",
            Outcome::LocalPortExhausted => "local_port_exhausted",
            Outcome::LocalFdExhausted => "local_fd_exhausted",
            Outcome::LocalNoBuffers => "local_no_buffers",
            Outcome::LocalOther => "local_other",
        }
    }

    /// The prober's own trouble: never service downtime.
    pub fn is_local(self) -> bool {
        matches!(
            self,
            Outcome::LocalPortExhausted
                | Outcome::LocalFdExhausted
                | Outcome::LocalNoBuffers
                | Outcome::LocalOther
        )
    }

    /// A failure of the service: neither ok nor local.
    pub fn is_failure(self) -> bool {
        self != Outcome::Ok && !self.is_local()
    }
}

impl std::fmt::Display for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_round_trip_and_unknown_is_none() {
        for o in Outcome::ALL {
            assert_eq!(Outcome::from_u8(o.as_u8()), Some(o));
        }
        assert_eq!(Outcome::from_u8(Outcome::ALL.len() as u8), None);
    }

    #[test]
    fn local_errors_are_not_failures() {
        assert!(!Outcome::LocalPortExhausted.is_failure());
        assert!(!Outcome::Ok.is_failure());
        assert!(Outcome::ConnectRefused.is_failure());
        let failures = Outcome::ALL.iter().filter(|o| o.is_failure()).count();
        let locals = Outcome::ALL.iter().filter(|o| o.is_local()).count();
        assert_eq!(failures + locals + 1, Outcome::ALL.len());
    }
}
