//! The prober's own limits: file descriptors and ephemeral ports.
//!
//! Raises the soft fd limit to the hard one, and warns before the run when
//! the requested load could exhaust fds or ports, so local errors are
//! expected rather than mistaken for the service's.

use std::net::SocketAddr;

use rustix::process::{Resource, getrlimit, setrlimit};

/// Raises RLIMIT_NOFILE's soft limit to its hard limit; returns the soft
/// limit now in force, if known.
pub fn raise_fd_limit() -> Option<u64> {
    let mut lim = getrlimit(Resource::Nofile);
    if lim.current < lim.maximum {
        lim.current = lim.maximum;
        if setrlimit(Resource::Nofile, lim).is_err() {
            return getrlimit(Resource::Nofile).current;
        }
    }
    getrlimit(Resource::Nofile).current
}

/// The ephemeral port range, from procfs.
pub fn ephemeral_ports() -> Option<(u16, u16)> {
    let s = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range").ok()?;
    let mut it = s.split_whitespace().map(|v| v.parse::<u16>().ok());
    Some((it.next()??, it.next()??))
}

/// Warnings for a planned load: `in_flight` probes (and connections) at
/// worst, `new_conn_rate` new connections a second in open loop.
pub fn warnings(
    in_flight: u64,
    new_conn_rate: Option<f64>,
    target: SocketAddr,
    fd_limit: Option<u64>,
    ports: Option<(u16, u16)>,
) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(limit) = fd_limit
        && in_flight + 64 > limit
    {
        out.push(format!(
            "up to {in_flight} probes can be in flight when the target stops answering, \
             but the fd limit is {limit}: expect local_fd_exhausted errors (raise `ulimit -n` or lower --rate/--timeout)"
        ));
    }
    if let (Some(r), Some((lo, hi))) = (new_conn_rate, ports) {
        let range = f64::from(hi.saturating_sub(lo)) + 1.0;
        // The server keeps each connection's 4-tuple in TIME_WAIT for 60 s.
        if !target.ip().is_loopback() && r * 60.0 > range {
            out.push(format!(
                "{r}/s cycles the {range} ephemeral ports ({lo}-{hi}) every {:.1} s: where the server closes \
                 first (responses without Content-Length), its TIME_WAIT entries (60 s) can meet reused ports \
                 and slow or refuse connects; widen net.ipv4.ip_local_port_range or lower --rate",
                range / r
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn warns_only_when_the_load_exceeds_limits() {
        let remote: SocketAddr = "198.18.100.10:80".parse().unwrap();
        let ports = Some((32768, 60999));
        assert!(warnings(800, Some(400.0), remote, Some(65536), ports).is_empty());
        let w = warnings(10_000, Some(5000.0), remote, Some(1024), ports);
        assert_eq!(w.len(), 2, "{w:?}");
        assert!(w[0].contains("fd limit is 1024"));
        assert!(w[1].contains("ephemeral ports"));
        let local: SocketAddr = "127.0.0.1:80".parse().unwrap();
        assert!(warnings(10_000, Some(5000.0), local, Some(1 << 20), ports).is_empty());
        assert_eq!(warnings(2000, None, local, Some(1024), None).len(), 1);
    }

    #[test]
    fn reads_the_port_range_and_raises_the_fd_limit() {
        let (lo, hi) = ephemeral_ports().expect("procfs port range");
        assert!(lo <= hi);
        let soft = raise_fd_limit().expect("fd limit");
        assert_eq!(
            Some(soft),
            getrlimit(Resource::Nofile).maximum.or(Some(soft))
        );
    }
}
