//! Readiness probes: `httpGet` as the kubelet's prober does it
//! (pkg/probe/http/http.go: a fresh connection, `User-Agent:
//! kube-probe/<major.minor>`, success for a status in [200, 400), the
//! timeout covering connect and response), run from the node's network
//! namespace like the real kubelet's.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use k8s_openapi::api::core::v1::{Container, HTTPGetAction};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use crate::host::netns::Netns;

/// A probe's settings (defaults from the API: period 10 s, timeout 1 s,
/// success 1, failure 3).
#[derive(Debug, Clone)]
pub struct Readiness {
    /// Where.
    pub addr: SocketAddr,
    /// The path.
    pub path: String,
    /// Period.
    pub period: Duration,
    /// Timeout.
    pub timeout: Duration,
    /// Successes in a row to turn ready.
    pub success: u32,
    /// Failures in a row to turn not ready.
    pub failure: u32,
    /// Delay before the first probe.
    pub initial_delay: Duration,
}

/// The container's readiness probe, its port resolved (a named port looks
/// up the container's ports); None without one.
pub fn readiness(c: &Container, ip: std::net::Ipv4Addr) -> Result<Option<Readiness>, String> {
    let Some(p) = &c.readiness_probe else {
        return Ok(None);
    };
    let Some(HTTPGetAction { path, port, .. }) = &p.http_get else {
        return Err("readinessProbe other than httpGet".into());
    };
    let port = match port {
        IntOrString::Int(n) => *n,
        IntOrString::String(name) => c
            .ports
            .iter()
            .flatten()
            .find(|cp| cp.name.as_deref() == Some(name))
            .map(|cp| cp.container_port)
            .ok_or_else(|| {
                format!("readinessProbe names port {name:?}, which the container does not declare")
            })?,
    };
    let secs = |v: Option<i32>, d: i32| Duration::from_secs(v.unwrap_or(d).max(0) as u64);
    Ok(Some(Readiness {
        addr: SocketAddr::from((ip, port as u16)),
        path: path.clone().unwrap_or_else(|| "/".into()),
        period: secs(p.period_seconds, 10),
        timeout: secs(p.timeout_seconds, 1),
        success: p.success_threshold.unwrap_or(1).max(1) as u32,
        failure: p.failure_threshold.unwrap_or(3).max(1) as u32,
        initial_delay: secs(p.initial_delay_seconds, 0),
    }))
}

/// One probe, from `ns`: true when the answer's status is 2xx or 3xx.
pub fn http_get(ns: &Netns, r: &Readiness, agent: &str) -> bool {
    let (addr, path, timeout) = (r.addr, r.path.clone(), r.timeout);
    let agent = agent.to_owned();
    ns.run(move || get(addr, &path, timeout, &agent).unwrap_or(false))
        .unwrap_or(false)
}

fn get(addr: SocketAddr, path: &str, timeout: Duration, agent: &str) -> std::io::Result<bool> {
    let mut s = TcpStream::connect_timeout(&addr, timeout)?;
    s.set_read_timeout(Some(timeout))?;
    s.set_write_timeout(Some(timeout))?;
    // One write: the request goes out whole, in one segment.
    let req = format!(
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nUser-Agent: {agent}\r\nAccept: */*\r\nConnection: close\r\n\r\n"
    );
    s.write_all(req.as_bytes())?;
    let mut buf = [0u8; 64];
    let mut n = 0;
    while n < 12 {
        let k = s.read(&mut buf[n..])?;
        if k == 0 {
            break;
        }
        n += k;
    }
    let line = String::from_utf8_lossy(&buf[..n]);
    let code: u16 = line
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    Ok((200..400).contains(&code))
}

/// Consecutive results against the thresholds (pkg/kubelet/prober/worker.go).
#[derive(Debug, Clone, Default)]
pub struct Tally {
    last: Option<bool>,
    run: u32,
}

impl Tally {
    /// Records one result; returns the new readiness when it flips.
    pub fn record(&mut self, ok: bool, r: &Readiness, ready: bool) -> Option<bool> {
        if self.last == Some(ok) {
            self.run += 1;
        } else {
            self.last = Some(ok);
            self.run = 1;
        }
        let need = if ok { r.success } else { r.failure };
        (self.run >= need && ok != ready).then_some(ok)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(success: u32, failure: u32) -> Readiness {
        Readiness {
            addr: "127.0.0.1:1".parse().unwrap(),
            path: "/".into(),
            period: Duration::from_secs(1),
            timeout: Duration::from_secs(1),
            success,
            failure,
            initial_delay: Duration::ZERO,
        }
    }

    #[test]
    fn thresholds_count_consecutive_results() {
        let probe = r(2, 3);
        let mut t = Tally::default();
        assert_eq!(t.record(true, &probe, false), None);
        assert_eq!(t.record(true, &probe, false), Some(true));
        assert_eq!(t.record(false, &probe, true), None);
        assert_eq!(t.record(false, &probe, true), None);
        assert_eq!(
            t.record(true, &probe, true),
            None,
            "a success resets the failures"
        );
        assert_eq!(t.record(false, &probe, true), None);
        assert_eq!(t.record(false, &probe, true), None);
        assert_eq!(t.record(false, &probe, true), Some(false));
    }

    #[test]
    fn a_real_server_answers_and_a_closed_port_fails() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        let h = std::thread::spawn(move || {
            let (mut c, _) = l.accept().unwrap();
            let mut req = Vec::new();
            let mut b = [0u8; 512];
            while !req.ends_with(b"\r\n\r\n") {
                let n = c.read(&mut b).unwrap();
                assert!(n > 0, "the request ended early");
                req.extend_from_slice(&b[..n]);
            }
            let req = String::from_utf8_lossy(&req).into_owned();
            c.write_all(b"HTTP/1.1 204 No Content\r\n\r\n").unwrap();
            req
        });
        assert!(get(addr, "/healthz", Duration::from_secs(2), "kube-probe/1.37").unwrap());
        let req = h.join().unwrap();
        assert!(req.starts_with("GET /healthz HTTP/1.1\r\n"), "{req}");
        assert!(req.contains("User-Agent: kube-probe/1.37\r\n"), "{req}");
        drop(std::net::TcpListener::bind(addr));
        assert!(!get(addr, "/", Duration::from_millis(300), "kube-probe/1.37").unwrap_or(false));
    }
}
