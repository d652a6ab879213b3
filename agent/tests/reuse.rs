//! Reused connections, slow requests and local-error backoff, against real
//! servers: nginx (where installed), and in-process servers that close idle
//! connections, reset after N requests, hang mid-body, or hold requests.

mod common;

use std::io::Write;
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use common::*;
use seamless_proto::{ConnState, Mode, Outcome, ProbeLog};
use socket2::SockRef;

/// Reads one request head; false when the client closed.
fn next_request(c: &mut TcpStream) -> bool {
    let mut buf = Vec::new();
    let mut b = [0u8; 1];
    while !buf.ends_with(b"\r\n\r\n") {
        match std::io::Read::read(c, &mut b) {
            Ok(1) => buf.push(b[0]),
            _ => return false,
        }
    }
    true
}

const OK_11: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nX-Pod-Name: web-a\r\n\r\nok\n";

fn states(log: &ProbeLog) -> Vec<ConnState> {
    log.probes.iter().map(|p| p.conn.unwrap().state).collect()
}

fn count(log: &ProbeLog, o: Outcome) -> usize {
    log.probes.iter().filter(|p| p.outcome == o).count()
}

/// nginx with keep-alive, serving `keepalive_requests` per connection.
struct Nginx {
    child: std::process::Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Nginx {
    fn start(keepalive_requests: u32) -> Option<Nginx> {
        let bin = ["/usr/sbin/nginx", "/usr/bin/nginx"]
            .into_iter()
            .find(|p| std::path::Path::new(p).exists())?;
        let dir = tempfile::tempdir().unwrap();
        let port = closed_port().port();
        let d = dir.path().display();
        let conf = format!(
            "worker_processes 1; daemon off; pid {d}/nginx.pid; error_log {d}/error.log warn;
             events {{ worker_connections 1024; }}
             http {{ access_log off; client_body_temp_path {d}/b; proxy_temp_path {d}/p;
               fastcgi_temp_path {d}/f; uwsgi_temp_path {d}/u; scgi_temp_path {d}/s;
               keepalive_requests {keepalive_requests}; keepalive_timeout 60s;
               server {{ listen 127.0.0.1:{port}; location / {{ add_header X-Pod-Name nginx-a; return 200 \"ok\\n\"; }} }} }}"
        );
        let path = dir.path().join("nginx.conf");
        std::fs::write(&path, conf).unwrap();
        let child = Command::new(bin)
            .arg("-c")
            .arg(&path)
            .arg("-e")
            .arg(dir.path().join("error.log"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .ok()?;
        for _ in 0..100 {
            if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return Some(Nginx {
                    child,
                    port,
                    _dir: dir,
                });
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }
}

impl Drop for Nginx {
    /// SIGTERM, nginx's fast shutdown: the master ends its worker and waits
    /// for it before it exits (a SIGKILL would leave the worker running,
    /// orphaned). SIGKILL only if the master is still there after 5 s.
    fn drop(&mut self) {
        if let Some(pid) = rustix::process::Pid::from_raw(self.child.id() as i32) {
            let _ = rustix::process::kill_process(pid, rustix::process::Signal::TERM);
        }
        for _ in 0..250 {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn nginx_keep_alive_is_reused_and_its_closes_are_no_failures() {
    let Some(nginx) = Nginx::start(50) else {
        eprintln!("nginx not installed: skipped");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let url = format!("http://127.0.0.1:{}/", nginx.port);
    let log = run_agent(
        &url,
        dir.path(),
        &[
            "--mode",
            "reuse",
            "--concurrency",
            "4",
            "--count",
            "400",
            "--threads",
            "2",
            "--backend-header",
            "X-Pod-Name",
        ],
    );
    assert_eq!(log.probes.len(), 400);
    assert_eq!(count(&log, Outcome::Ok), 400, "{:?}", log.probes);
    assert!(log.probes.iter().all(|p| p.mode == Mode::Reuse));
    let st = states(&log);
    let n = |s| st.iter().filter(|&&x| x == s).count();
    // 4 slots, each connection replaced after nginx's 50th response
    // (Connection: close): every connection carried 50 requests but the
    // (at most 4) still open at the end; no failure.
    assert_eq!(n(ConnState::Opened), 4);
    assert_eq!(n(ConnState::AfterFailure) + n(ConnState::AfterIdleError), 0);
    let mut per_conn = std::collections::BTreeMap::new();
    for p in &log.probes {
        *per_conn.entry(p.conn.unwrap().id).or_insert(0) += 1;
    }
    assert_eq!(per_conn.len(), 4 + n(ConnState::AfterClose), "{per_conn:?}");
    assert!(per_conn.len() >= 8, "{per_conn:?}");
    assert!(per_conn.values().all(|&k| k <= 50), "{per_conn:?}");
    assert!(
        per_conn.values().filter(|&&k| k < 50).count() <= 4,
        "{per_conn:?}"
    );
    for p in &log.probes {
        let c = p.conn.unwrap();
        assert!(c.requests < 50);
        assert_eq!(c.requests == 0, c.state != ConnState::Reused);
        assert_eq!(p.connect_ns > 0, c.state != ConnState::Reused, "{p:?}");
        assert_eq!(log.backend_name(p.backend), Some("nginx-a"));
    }
    let h = &log.header;
    assert_eq!(h.modes.len(), 1);
    assert_eq!((h.modes[0].mode, h.modes[0].pool), (Mode::Reuse, 4));
}

/// Keep-alive responses, then a FIN after 30 ms idle.
fn idle_closing_server() -> Server {
    Server::start(|mut c| {
        c.set_read_timeout(Some(Duration::from_millis(30))).unwrap();
        while next_request(&mut c) {
            if c.write_all(OK_11).is_err() {
                return;
            }
        }
    })
}

#[test]
fn a_server_closing_idle_connections_costs_no_request() {
    let s = idle_closing_server();
    let dir = tempfile::tempdir().unwrap();
    let log = run_agent(
        &s.url(),
        dir.path(),
        &[
            "--mode", "reuse", "--rate", "10", "--pool", "1", "--count", "5",
        ],
    );
    assert_eq!(count(&log, Outcome::Ok), 5, "{:?}", log.probes);
    let st = states(&log);
    assert_eq!(st[0], ConnState::Opened);
    assert!(
        st[1..].iter().all(|&s| s == ConnState::AfterClose),
        "{st:?}"
    );
}

#[test]
fn without_the_idle_check_a_servers_idle_close_costs_the_next_request() {
    let s = idle_closing_server();
    let dir = tempfile::tempdir().unwrap();
    let log = run_agent(
        &s.url(),
        dir.path(),
        &[
            "--mode",
            "reuse",
            "--rate",
            "10",
            "--pool",
            "1",
            "--count",
            "5",
            "--no-idle-check",
        ],
    );
    // Every request after the first goes out on the closed connection and
    // fails once (the closed socket answers with a reset, or the FIN is read
    // first); the next probe opens a replacement, which the server closes
    // again: ok, failed, ok, failed, ok.
    let outcomes: Vec<Outcome> = log.probes.iter().map(|p| p.outcome).collect();
    assert_eq!(outcomes[0], Outcome::Ok);
    for (i, o) in outcomes.iter().enumerate().skip(1) {
        if i % 2 == 1 {
            assert!(
                matches!(o, Outcome::Reset | Outcome::ClosedBeforeStatus),
                "{outcomes:?}"
            );
        } else {
            assert_eq!(*o, Outcome::Ok, "{outcomes:?}");
        }
    }
    let st = states(&log);
    assert_eq!(st[1], ConnState::Reused, "sent on the closed connection");
    assert_eq!(st[2], ConnState::AfterFailure);
}

#[test]
fn a_reset_after_n_requests_is_one_failure_then_a_new_connection() {
    // Three responses per connection; the fourth request is met with an RST.
    let s = Server::start(|mut c| {
        for _ in 0..3 {
            if !next_request(&mut c) || c.write_all(OK_11).is_err() {
                return;
            }
        }
        next_request(&mut c);
        SockRef::from(&c).set_linger(Some(Duration::ZERO)).unwrap();
    });
    let dir = tempfile::tempdir().unwrap();
    let log = run_agent(
        &s.url(),
        dir.path(),
        &["--mode", "reuse", "--concurrency", "1", "--count", "12"],
    );
    let outcomes: Vec<Outcome> = log.probes.iter().map(|p| p.outcome).collect();
    let expect: Vec<Outcome> = (0..12)
        .map(|i| {
            if i % 4 == 3 {
                Outcome::Reset
            } else {
                Outcome::Ok
            }
        })
        .collect();
    assert_eq!(outcomes, expect);
    let st = states(&log);
    assert_eq!(st[0], ConnState::Opened);
    assert_eq!(st[4], ConnState::AfterFailure);
    assert_eq!(st[8], ConnState::AfterFailure);
    let failed = &log.probes[3].conn.unwrap();
    assert_eq!((failed.requests, failed.state), (3, ConnState::Reused));
    assert!(failed.age_ns > 0);
    assert_eq!(log.end_count, Some(12));
}

#[test]
fn a_server_hanging_mid_body_times_out_once() {
    let s = Server::start(|mut c| {
        if next_request(&mut c) {
            let _ = c.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789");
            std::thread::sleep(Duration::from_secs(2));
        }
    });
    let dir = tempfile::tempdir().unwrap();
    let log = run_agent(
        &s.url(),
        dir.path(),
        &[
            "--mode",
            "reuse",
            "--concurrency",
            "1",
            "--count",
            "2",
            "--timeout",
            "200ms",
        ],
    );
    assert_eq!(log.probes.len(), 2);
    for p in &log.probes {
        assert_eq!(p.outcome, Outcome::ReadTimeout);
        assert_eq!(p.status, 200);
        assert!(p.first_byte_ns > 0 && p.total_ns >= 200_000_000, "{p:?}");
    }
    assert_eq!(states(&log), [ConnState::Opened, ConnState::AfterFailure]);
}

/// A server for slow requests: answers after `delay`, or, once `die` is
/// set, resets every request it holds.
fn slow_server(delay: Duration, die: Arc<AtomicBool>) -> Server {
    Server::start(move |mut c| {
        if !next_request(&mut c) {
            return;
        }
        let t = std::time::Instant::now();
        while t.elapsed() < delay {
            if die.load(Ordering::SeqCst) {
                SockRef::from(&c).set_linger(Some(Duration::ZERO)).unwrap();
                return;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        let _ = c.write_all(b"HTTP/1.0 200 OK\r\nContent-Length: 3\r\n\r\nok\n");
    })
}

#[test]
fn slow_requests_in_flight_at_stop_finish_and_are_recorded() {
    let s = slow_server(Duration::from_millis(300), Arc::new(AtomicBool::new(false)));
    let dir = tempfile::tempdir().unwrap();
    let stop = seamless_agent::StopFlag::new();
    let stopper = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(500));
            stop.set();
        })
    };
    let log = run_agent_with_stop(
        &s.url(),
        dir.path(),
        &["--mode", "slow", "--slow", "/sleep?ms=300", "--rate", "20"],
        stop,
    );
    stopper.join().unwrap();
    // About 10 started in 500 ms, 6 or so in flight at the stop: all finish.
    assert!((7..=13).contains(&log.probes.len()), "{}", log.probes.len());
    assert_eq!(log.end_count, Some(log.probes.len() as u64));
    for p in &log.probes {
        assert_eq!((p.mode, p.outcome), (Mode::Slow, Outcome::Ok), "{p:?}");
        assert!(p.total_ns >= 300_000_000, "{p:?}");
    }
    assert_eq!(log.header.modes[0].path, "/sleep?ms=300");
}

#[test]
fn slow_requests_cut_by_the_server_are_reset_and_new_ones_side_by_side() {
    let die = Arc::new(AtomicBool::new(false));
    let s = slow_server(Duration::from_secs(5), die.clone());
    let dir = tempfile::tempdir().unwrap();
    let killer = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(400));
        die.store(true, Ordering::SeqCst);
    });
    // The same server answers new-mode probes only after 5 s too, so they
    // run to their timeout: the side by side shows both kinds of failure.
    let log = run_agent(
        &s.url(),
        dir.path(),
        &[
            "--mode",
            "slow,new",
            "--slow",
            "/sleep?ms=5000",
            "--rate",
            "slow=20,new=5",
            "--timeout",
            "200ms",
            "--duration",
            "300ms",
        ],
    );
    killer.join().unwrap();
    let slow: Vec<_> = log.probes.iter().filter(|p| p.mode == Mode::Slow).collect();
    assert!(slow.len() >= 4, "{}", slow.len());
    assert!(slow.iter().all(|p| p.outcome == Outcome::Reset), "{slow:?}");
    let new: Vec<_> = log.probes.iter().filter(|p| p.mode == Mode::New).collect();
    // Timed out, or reset when the server died with them still waiting.
    assert!(
        new.iter().any(|p| p.outcome == Outcome::ReadTimeout),
        "{new:?}"
    );
    assert!(
        new.iter()
            .all(|p| matches!(p.outcome, Outcome::ReadTimeout | Outcome::Reset))
    );
    assert_eq!(log.header.modes.len(), 2);
}

fn agent_bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_seamless-agent"))
}

#[test]
fn sigint_with_both_modes_loses_no_probe() {
    let s = Server::start(|mut c| {
        while next_request(&mut c) {
            if c.write_all(OK_11).is_err() {
                return;
            }
        }
    });
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("probe.log");
    let child = agent_bin()
        .args(["probe", &s.url(), "--mode", "new,reuse"])
        .args([
            "--rate",
            "new=800,reuse=800",
            "--pool",
            "4",
            "--json",
            "--out",
        ])
        .arg(&out)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(800));
    let pid = rustix::process::Pid::from_raw(child.id() as i32).unwrap();
    rustix::process::kill_process(pid, rustix::process::Signal::INT).unwrap();
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    let summary: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let log = ProbeLog::read_path(&out).unwrap();
    let counted = summary["probes"].as_u64().unwrap();
    assert_eq!(log.probes.len() as u64, counted);
    assert_eq!(log.end_count, Some(counted));
    assert_eq!(summary["ok"].as_u64().unwrap(), counted, "{stderr}");
    for mode in [Mode::New, Mode::Reuse] {
        let n = log.probes.iter().filter(|p| p.mode == mode).count() as u64;
        assert!(n > 300, "{mode}: {n}");
        assert_eq!(summary["by_mode"][mode.name()]["probes"].as_u64(), Some(n));
    }
    assert!(
        stderr.contains("mode reuse:") && stderr.contains("mode new:"),
        "{stderr}"
    );
}

#[test]
fn fd_exhaustion_backs_off_instead_of_flooding_the_log() {
    // A server that holds every connection: with 40 fds and 200 loops, most
    // loops cannot get a socket. The limit is set in the child (soft and
    // hard, so the agent cannot raise it), by the shell's setrlimit.
    let hold = Server::start(|mut c| {
        read_request(&mut c);
        std::thread::sleep(Duration::from_secs(3));
    });
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("probe.log");
    for args in [
        vec!["--concurrency", "200"],
        vec!["--rate", "20000", "--timeout", "5s"],
    ] {
        let script = format!(
            "ulimit -Sn 40 && ulimit -Hn 40 && exec \"$0\" probe {} --out {} --force --duration 2s --threads 1 --json {}",
            hold.url(),
            out.display(),
            args.join(" ")
        );
        let o = Command::new("sh")
            .arg("-c")
            .arg(&script)
            .arg(env!("CARGO_BIN_EXE_seamless-agent"))
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&o.stderr);
        assert!(o.status.success(), "{args:?}: {stderr}");
        let log = ProbeLog::read_path(&out).unwrap();
        let fd = count(&log, Outcome::LocalFdExhausted);
        assert!(fd > 0, "{args:?}: no local errors: {stderr}");
        // Before the backoff: 413,494 records in 2 s.
        assert!(
            log.probes.len() < 20_000,
            "{args:?}: {} probes",
            log.probes.len()
        );
        assert_eq!(
            stderr.matches("(said once)").count(),
            1,
            "{args:?}: {stderr}"
        );
        assert!(stderr.contains("out of file descriptors"), "{stderr}");
        let summary: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        assert_eq!(summary["probes"].as_u64(), Some(log.probes.len() as u64));
        if args[0] == "--rate" {
            assert!(
                summary["skipped_local_backoff"].as_u64().unwrap() > 1000,
                "{summary}"
            );
        }
    }
}
