//! Every outcome kind, seen for real against an in-process server.

mod common;

use std::io::Write;
use std::net::TcpStream;
use std::time::Duration;

use common::*;
use seamless_proto::Outcome;
use socket2::SockRef;

fn single_outcome(url: &str, extra: &[&str]) -> (Outcome, seamless_proto::ProbeLog) {
    let dir = tempfile::tempdir().unwrap();
    let mut args = vec!["--count", "3", "--concurrency", "1", "--timeout", "300ms"];
    args.extend_from_slice(extra);
    let log = run_agent(url, dir.path(), &args);
    assert_eq!(log.probes.len(), 3);
    assert_eq!(log.end_count, Some(3));
    let o = log.probes[0].outcome;
    assert!(
        log.probes.iter().all(|p| p.outcome == o),
        "{:?}",
        log.probes
    );
    (o, log)
}

#[test]
fn ok_with_backend_name_and_timings() {
    let s = http_server(200, "web-a");
    let (o, log) = single_outcome(&s.url(), &["--backend-header", "X-Pod-Name"]);
    assert_eq!(o, Outcome::Ok);
    let p = log.probes[0];
    assert_eq!(p.status, 200);
    assert_eq!(log.backend_name(p.backend), Some("web-a"));
    assert!(
        0 < p.connect_ns && p.connect_ns <= p.first_byte_ns && p.first_byte_ns <= p.total_ns,
        "{p:?}"
    );
    assert!(p.start_ns >= p.intended_ns);
}

#[test]
fn refused_on_a_closed_port() {
    let (o, log) = single_outcome(&format!("http://{}/", closed_port()), &[]);
    assert_eq!(o, Outcome::ConnectRefused);
    assert_eq!(log.probes[0].first_byte_ns, 0);
}

#[test]
fn reset_by_an_abortive_close() {
    let s = Server::start(|mut c| {
        read_request(&mut c);
        SockRef::from(&c).set_linger(Some(Duration::ZERO)).unwrap();
    });
    assert_eq!(single_outcome(&s.url(), &[]).0, Outcome::Reset);
}

#[test]
fn closed_before_the_status_line() {
    let s = Server::start(|mut c| {
        read_request(&mut c);
        let _ = c.write_all(b"HTTP/1.");
        let _ = c.shutdown(std::net::Shutdown::Both);
    });
    assert_eq!(single_outcome(&s.url(), &[]).0, Outcome::ClosedBeforeStatus);
}

#[test]
fn malformed_status_line() {
    let s = Server::start(|mut c| {
        read_request(&mut c);
        let _ = c.write_all(b"SSH-2.0-OpenSSH_9.2\r\n\r\n");
    });
    assert_eq!(single_outcome(&s.url(), &[]).0, Outcome::Malformed);
}

#[test]
fn unexpected_status_and_expect_status() {
    let s = http_server(503, "web-a");
    let (o, log) = single_outcome(&s.url(), &[]);
    assert_eq!(o, Outcome::UnexpectedStatus);
    assert_eq!(log.probes[0].status, 503);
    assert_eq!(
        single_outcome(&s.url(), &["--expect-status", "503"]).0,
        Outcome::Ok
    );
}

#[test]
fn read_timeout_on_a_silent_server() {
    let s = Server::start(|mut c| {
        read_request(&mut c);
        std::thread::sleep(Duration::from_secs(2));
    });
    let (o, log) = single_outcome(&s.url(), &[]);
    assert_eq!(o, Outcome::ReadTimeout);
    let p = log.probes[0];
    assert!(
        p.total_ns >= 300_000_000 && p.total_ns < 1_000_000_000,
        "{p:?}"
    );
}

#[test]
fn endless_body_is_capped() {
    let s = Server::start(|mut c| {
        read_request(&mut c);
        let _ = c.write_all(b"HTTP/1.0 200 OK\r\n\r\n");
        let chunk = [b'x'; 65536];
        // Stops when the agent closes on it.
        while c.write_all(&chunk).is_ok() {}
    });
    let (o, _) = single_outcome(&s.url(), &["--max-body-bytes", "100000"]);
    assert_eq!(o, Outcome::Oversized);
}

#[test]
fn oversized_headers_are_capped() {
    let s = Server::start(|mut c| {
        read_request(&mut c);
        let _ = c.write_all(b"HTTP/1.0 200 OK\r\n");
        let line = format!("X-Filler: {}\r\n", "y".repeat(1000));
        // One long run of headers: never a blank line.
        for _ in 0..10_000 {
            if c.write_all(line.as_bytes()).is_err() {
                break;
            }
        }
    });
    let (o, _) = single_outcome(&s.url(), &["--max-header-bytes", "8192"]);
    assert_eq!(o, Outcome::Oversized);
}

#[test]
fn body_shorter_than_content_length_is_malformed() {
    let s = Server::start(|mut c| {
        read_request(&mut c);
        let _ = c.write_all(b"HTTP/1.0 200 OK\r\nContent-Length: 100\r\n\r\nshort");
    });
    assert_eq!(single_outcome(&s.url(), &[]).0, Outcome::Malformed);
}

#[test]
fn agent_leaves_no_time_wait_behind() {
    // A server that keeps the connection open after a complete response: the
    // agent closes first, abortively, so no TIME_WAIT is left on its side.
    let s = Server::start(|mut c| {
        read_request(&mut c);
        let _ = c.write_all(b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok");
        std::thread::sleep(Duration::from_millis(500));
    });
    let (o, _) = single_outcome(&s.url(), &[]);
    assert_eq!(o, Outcome::Ok);
    let port = s.addr.port();
    let ss = std::process::Command::new("ss")
        .args([
            "-Htan",
            "state",
            "time-wait",
            &format!("( dport = :{port} )"),
        ])
        .output();
    if let Ok(out) = ss {
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.trim().is_empty(), "agent-side TIME_WAIT left: {text}");
    }
    drop(TcpStream::connect(s.addr));
}
