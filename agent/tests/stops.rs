//! Failure windows in the log, and what survives SIGINT and SIGKILL.

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::*;
use seamless_proto::{Outcome, ProbeLog};

fn wall_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos() as i64
}

#[test]
fn server_stopped_and_restarted_shows_one_window_in_place() {
    let first = http_server(200, "web-a");
    let addr = first.addr;
    let dir = tempfile::tempdir().unwrap();
    let url = first.url();
    let agent = std::thread::spawn({
        let dir = dir.path().to_owned();
        move || {
            run_agent(
                &url,
                &dir,
                &[
                    "--rate",
                    "1000",
                    "--duration",
                    "1500ms",
                    "--timeout",
                    "200ms",
                    "--backend-header",
                    "X-Pod-Name",
                ],
            )
        }
    });
    std::thread::sleep(Duration::from_millis(500));
    let stopped = wall_now();
    first.stop();
    std::thread::sleep(Duration::from_millis(400));
    let restarted_before = wall_now();
    let second = Server::start_on(addr, |mut c| {
        read_request(&mut c);
        let _ = std::io::Write::write_all(&mut c, b"HTTP/1.0 200 OK\r\nX-Pod-Name: web-b\r\n\r\n");
    });
    let restarted = wall_now();
    let log = agent.join().unwrap();
    drop(second);

    let wall = |p: &seamless_proto::Probe| log.header.wall_ns(p.start_ns);
    let failed: Vec<_> = log
        .probes
        .iter()
        .filter(|p| p.outcome.is_failure())
        .collect();
    assert!(
        failed.len() >= 300,
        "expected ~400 failures, got {}",
        failed.len()
    );
    // Refused once the listener is gone; a probe queued in its accept queue
    // at the close is reset or closed instead.
    assert!(failed.iter().all(|p| matches!(
        p.outcome,
        Outcome::ConnectRefused | Outcome::Reset | Outcome::ClosedBeforeStatus
    )));
    // One window in place: every probe started well inside the outage
    // failed, every probe well outside it succeeded; only the few probes in
    // flight at either edge may go either way.
    let margin = 3_000_000;
    let inside = |p: &&seamless_proto::Probe| {
        wall(p) > stopped + margin && wall(p) < restarted_before - margin
    };
    let outside =
        |p: &&seamless_proto::Probe| wall(p) < stopped - margin || wall(p) > restarted + margin;
    assert!(
        log.probes
            .iter()
            .filter(inside)
            .all(|p| p.outcome == Outcome::ConnectRefused)
    );
    assert!(
        log.probes
            .iter()
            .filter(outside)
            .all(|p| p.outcome == Outcome::Ok)
    );
    assert!(failed.iter().all(|p| !outside(p)));
    let after: Vec<_> = log
        .probes
        .iter()
        .filter(|p| wall(p) > restarted + margin)
        .collect();
    assert!(after.len() > 100);
    assert!(
        after
            .iter()
            .all(|p| log.backend_name(p.backend) == Some("web-b"))
    );
    let ok_before = log
        .probes
        .iter()
        .filter(|p| wall(p) < stopped && p.outcome == Outcome::Ok)
        .count();
    assert!(ok_before > 250, "{ok_before}");
}

fn agent_bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_seamless-agent"))
}

fn signal(child: &std::process::Child, sig: rustix::process::Signal) {
    let pid = rustix::process::Pid::from_raw(child.id() as i32).unwrap();
    rustix::process::kill_process(pid, sig).unwrap();
}

#[test]
fn sigint_mid_run_logs_exactly_what_the_summary_counts() {
    let s = http_server(200, "web-a");
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("probe.log");
    let child = agent_bin()
        .args(["probe", &s.url(), "--rate", "2000", "--json", "--out"])
        .arg(&out)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(800));
    signal(&child, rustix::process::Signal::INT);
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let summary: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let log = ProbeLog::read_path(&out).unwrap();
    let counted = summary["probes"].as_u64().unwrap();
    assert!(counted > 500, "{counted}");
    assert_eq!(log.probes.len() as u64, counted);
    assert_eq!(log.end_count, Some(counted));
    assert_eq!(summary["ok"].as_u64().unwrap(), counted);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("probes in") && stderr.contains("p99"),
        "{stderr}"
    );
}

#[test]
fn sigkill_mid_run_reads_back_up_to_the_last_flush() {
    let s = http_server(200, "web-a");
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("probe.log");
    let mut child = agent_bin()
        .args(["probe", &s.url(), "--rate", "2000", "--out"])
        .arg(&out)
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(1000));
    let killed = wall_now();
    signal(&child, rustix::process::Signal::KILL);
    child.wait().unwrap();
    let log = ProbeLog::read_path(&out).expect("a killed agent's log reads back");
    assert_eq!(log.end_count, None);
    assert!(log.probes.len() > 1000, "{}", log.probes.len());
    // Everything started up to a few hundred ms before the kill is on disk: the agent
    // hands a frame to the kernel at least every 100 ms.
    let last = log
        .probes
        .iter()
        .map(|p| log.header.wall_ns(p.start_ns))
        .max()
        .unwrap();
    assert!(
        killed - last < 300_000_000,
        "last probe {} ms before the kill",
        (killed - last) / 1_000_000
    );
}

#[test]
fn existing_log_is_never_overwritten_and_bad_flags_are_clear() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("probe.log");
    std::fs::write(&out, b"precious").unwrap();
    let o = agent_bin()
        .args(["probe", "http://127.0.0.1:9/", "--count", "1", "--out"])
        .arg(&out)
        .output()
        .unwrap();
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("already exists"));
    assert_eq!(std::fs::read(&out).unwrap(), b"precious");

    for (args, msg) in [
        (vec!["probe", "https://x/"], "only http://"),
        (
            vec!["probe", "http://127.0.0.1:9/", "--rate", "0"],
            "--rate must be",
        ),
        (
            vec![
                "probe",
                "http://127.0.0.1:9/",
                "--rate",
                "5",
                "--concurrency",
                "2",
            ],
            "cannot be used with",
        ),
        (
            vec!["probe", "http://127.0.0.1:9/", "--duration", "soon"],
            "500ms",
        ),
        (vec!["inspect", "/nonexistent/probe.log"], "cannot open"),
    ] {
        let o = agent_bin()
            .args(&args)
            .current_dir(dir.path())
            .output()
            .unwrap();
        assert!(!o.status.success(), "{args:?}");
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.contains(msg), "{args:?}: {err}");
        assert!(!err.contains("panicked"), "{err}");
    }
}

#[test]
fn inspect_prints_csv_and_jsonl_and_flags_corruption() {
    let s = http_server(200, "web-a");
    let dir = tempfile::tempdir().unwrap();
    run_agent(
        &s.url(),
        dir.path(),
        &[
            "--count",
            "20",
            "--concurrency",
            "2",
            "--backend-header",
            "X-Pod-Name",
        ],
    );
    let log = dir.path().join("probe.log");
    let csv = agent_bin().args(["inspect"]).arg(&log).output().unwrap();
    assert!(csv.status.success());
    let text = String::from_utf8(csv.stdout).unwrap();
    let lines: Vec<_> = text.lines().collect();
    assert!(lines[0].starts_with("# {\"agent_version\""));
    // proto's probe row, the same columns as `seamless-analyzer export`.
    assert_eq!(lines[1], seamless_proto::row::COLUMNS.join(","));
    assert_eq!(lines.len(), 22);
    assert!(lines[2].starts_with("probe,"), "{}", lines[2]);
    assert!(
        lines[2].ends_with(",200,ok,false,false,web-a,new,,,,"),
        "{}",
        lines[2]
    );

    let jsonl = agent_bin()
        .args(["inspect", "--format", "jsonl"])
        .arg(&log)
        .output()
        .unwrap();
    let text = String::from_utf8(jsonl.stdout).unwrap();
    let rows: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(rows.len(), 21);
    assert_eq!(rows[1]["backend"], "web-a");
    assert_eq!(rows[1]["outcome"], "ok");
    assert_eq!(rows[1]["failure"], false);
    let start = rows[1]["start_ns"].as_i64().unwrap();
    assert!(start > 1_577_836_800_000_000_000, "wall clock: {start}");

    let mut bytes = std::fs::read(&log).unwrap();
    let n = bytes.len();
    bytes[n - 20] ^= 0x40;
    std::fs::write(&log, &bytes).unwrap();
    let bad = agent_bin().args(["inspect"]).arg(&log).output().unwrap();
    assert!(!bad.status.success());
    let err = String::from_utf8_lossy(&bad.stderr);
    assert!(err.contains("corrupt probe log at byte offset"), "{err}");
}
