//! Mapping OS errors onto outcome kinds, per phase.
//!
//! The same errno can mean different things in different phases (ETIMEDOUT
//! while connecting is a connect timeout, after it a read timeout), so each
//! phase has its own mapping. Errors of the prober's own making (ports, file
//! descriptors, buffers) map onto the local kinds, which never count as
//! service downtime.

use std::io;

use rustix::io::Errno;
use seamless_proto::Outcome;

/// The phase an error happened in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Creating or configuring the socket.
    Socket,
    /// Connecting.
    Connect,
    /// Writing the request or reading the response.
    Exchange,
}

fn local(errno: Errno) -> Option<Outcome> {
    match errno {
        Errno::ADDRNOTAVAIL | Errno::ADDRINUSE => Some(Outcome::LocalPortExhausted),
        Errno::MFILE | Errno::NFILE => Some(Outcome::LocalFdExhausted),
        Errno::NOBUFS | Errno::NOMEM => Some(Outcome::LocalNoBuffers),
        _ => None,
    }
}

/// The outcome for an I/O error in a phase.
pub fn classify(err: &io::Error, phase: Phase) -> Outcome {
    let Some(code) = err.raw_os_error() else {
        return match err.kind() {
            io::ErrorKind::TimedOut if phase == Phase::Connect => Outcome::ConnectTimeout,
            io::ErrorKind::TimedOut => Outcome::ReadTimeout,
            io::ErrorKind::UnexpectedEof | io::ErrorKind::WriteZero => Outcome::ClosedBeforeStatus,
            _ if phase == Phase::Socket => Outcome::LocalOther,
            _ => Outcome::OtherError,
        };
    };
    let errno = Errno::from_raw_os_error(code);
    if let Some(o) = local(errno) {
        return o;
    }
    match (phase, errno) {
        (Phase::Socket, _) => Outcome::LocalOther,
        (_, Errno::HOSTUNREACH | Errno::NETUNREACH | Errno::HOSTDOWN | Errno::NETDOWN) => {
            Outcome::Unreachable
        }
        (Phase::Connect, Errno::CONNREFUSED) => Outcome::ConnectRefused,
        (Phase::Connect, Errno::TIMEDOUT) => Outcome::ConnectTimeout,
        // A local firewall (OUTPUT DROP/REJECT with EPERM) or a forbidden
        // address: the prober's environment, not the service.
        (Phase::Connect, Errno::PERM | Errno::ACCESS) => Outcome::LocalOther,
        (_, Errno::CONNRESET | Errno::PIPE | Errno::CONNABORTED) => Outcome::Reset,
        (Phase::Exchange, Errno::TIMEDOUT) => Outcome::ReadTimeout,
        // A refusal after the connect completed is an RST from the peer.
        (Phase::Exchange, Errno::CONNREFUSED) => Outcome::Reset,
        _ => Outcome::OtherError,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn os(e: Errno) -> io::Error {
        io::Error::from_raw_os_error(e.raw_os_error())
    }

    #[test]
    fn phases_keep_causes_apart() {
        assert_eq!(
            classify(&os(Errno::CONNREFUSED), Phase::Connect),
            Outcome::ConnectRefused
        );
        assert_eq!(
            classify(&os(Errno::TIMEDOUT), Phase::Connect),
            Outcome::ConnectTimeout
        );
        assert_eq!(
            classify(&os(Errno::TIMEDOUT), Phase::Exchange),
            Outcome::ReadTimeout
        );
        assert_eq!(
            classify(&os(Errno::CONNRESET), Phase::Exchange),
            Outcome::Reset
        );
        assert_eq!(classify(&os(Errno::PIPE), Phase::Exchange), Outcome::Reset);
        assert_eq!(
            classify(&os(Errno::HOSTUNREACH), Phase::Connect),
            Outcome::Unreachable
        );
        assert_eq!(
            classify(&os(Errno::ADDRNOTAVAIL), Phase::Connect),
            Outcome::LocalPortExhausted
        );
        assert_eq!(
            classify(&os(Errno::MFILE), Phase::Socket),
            Outcome::LocalFdExhausted
        );
        assert_eq!(
            classify(&os(Errno::NOBUFS), Phase::Exchange),
            Outcome::LocalNoBuffers
        );
        assert_eq!(
            classify(&os(Errno::INVAL), Phase::Socket),
            Outcome::LocalOther
        );
        assert!(!classify(&os(Errno::NFILE), Phase::Connect).is_failure());
    }
}
