//! Reuse mode's connection-level facts (`agents[].connections`), from a log
//! the real agent wrote against a real server on loopback: a keep-alive
//! server that closes every 8th connection's use cleanly (`Connection:
//! close`) until a moment T, and from T on resets every request it reads,
//! as a fast shutdown does. The server counts what it did; the report must
//! say the same, and tell the breaks against T (the run's SIGTERM). T is
//! set 400 ms after the first request the server reads, so however late
//! the agent starts on a loaded machine, connections are reused before T.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::time::Duration;

use seamless_analyzer::{AnalyzeOptions, analyze, markdown};
use seamless_proto::run::{GroundTruth, RunInfo};
use seamless_testkit::workspace_bin;
use socket2::SockRef;

/// What the server did.
#[derive(Default)]
struct Counts {
    /// Reuse-mode connections (HTTP/1.1 requests on them).
    accepts: AtomicU64,
    /// Requests answered with `Connection: close`.
    closes: AtomicU64,
    /// Requests met with a reset on a connection that had answered before.
    resets_reused: AtomicU64,
    /// Requests met with a reset on a connection's first request.
    resets_first: AtomicU64,
}

/// Reads one request head: `Some(true)` for HTTP/1.1 (reuse mode),
/// `Some(false)` for HTTP/1.0 (new mode), `None` when the client closed.
fn next_request(c: &mut TcpStream) -> Option<bool> {
    let mut buf = Vec::new();
    let mut b = [0u8; 1];
    while !buf.ends_with(b"\r\n\r\n") {
        match c.read(&mut b) {
            Ok(1) => buf.push(b[0]),
            _ => return None,
        }
    }
    let line = buf.split(|&b| b == b'\r').next().unwrap_or_default();
    Some(line.ends_with(b"HTTP/1.1"))
}

fn now_ns() -> i64 {
    seamless_proto::clock::now_ns()
}

/// T: 400 ms after the first request read (set then, once).
fn moment(t: &AtomicI64) -> i64 {
    let _ = t.compare_exchange(
        i64::MAX,
        now_ns() + 400_000_000,
        Ordering::SeqCst,
        Ordering::SeqCst,
    );
    t.load(Ordering::SeqCst)
}

/// Serves until the test ends; from T on, every request read is reset.
fn serve(l: TcpListener, t: Arc<AtomicI64>, counts: Arc<Counts>, done: Arc<AtomicBool>) {
    l.set_nonblocking(true).unwrap();
    while !done.load(Ordering::Relaxed) {
        let Ok((mut c, _)) = l.accept() else {
            std::thread::sleep(Duration::from_micros(200));
            continue;
        };
        c.set_nonblocking(false).unwrap();
        let counts = Arc::clone(&counts);
        let t = Arc::clone(&t);
        std::thread::spawn(move || {
            let mut served = 0u64;
            while let Some(http11) = next_request(&mut c) {
                let t_ns = moment(&t);
                if !http11 {
                    // A new-mode probe: answered (or reset) and closed,
                    // not counted.
                    if now_ns() < t_ns {
                        let _ = c.write_all(b"HTTP/1.0 200 OK\r\nContent-Length: 3\r\n\r\nok\n");
                    } else {
                        SockRef::from(&c).set_linger(Some(Duration::ZERO)).unwrap();
                    }
                    return;
                }
                if served == 0 {
                    counts.accepts.fetch_add(1, Ordering::SeqCst);
                }
                if now_ns() >= t_ns {
                    let which = if served == 0 {
                        &counts.resets_first
                    } else {
                        &counts.resets_reused
                    };
                    which.fetch_add(1, Ordering::SeqCst);
                    SockRef::from(&c).set_linger(Some(Duration::ZERO)).unwrap();
                    return;
                }
                served += 1;
                let close = served.is_multiple_of(8);
                let head = if close { "Connection: close\r\n" } else { "" };
                let resp = format!(
                    "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nX-Pod-Name: old\r\n{head}\r\nok\n"
                );
                if c.write_all(resp.as_bytes()).is_err() {
                    return;
                }
                if close {
                    counts.closes.fetch_add(1, Ordering::SeqCst);
                    return;
                }
            }
        });
    }
}

#[test]
fn the_reports_connection_facts_are_what_the_server_did() {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/", l.local_addr().unwrap());
    let t = Arc::new(AtomicI64::new(i64::MAX));
    let counts = Arc::new(Counts::default());
    let done = Arc::new(AtomicBool::new(false));
    let server = {
        let (t, counts, done) = (Arc::clone(&t), Arc::clone(&counts), Arc::clone(&done));
        std::thread::spawn(move || serve(l, t, counts, done))
    };
    let dir = tempfile::tempdir().unwrap();
    let st = std::process::Command::new(workspace_bin("seamless-agent"))
        .args(["probe", &url, "--mode", "new,reuse", "--rate", "1000"])
        .args(["--pool", "4", "--threads", "1", "--duration", "800ms"])
        .args(["--backend-header", "X-Pod-Name", "--out"])
        .arg(dir.path().join("probe-node-c.log"))
        .stderr(std::process::Stdio::null())
        .status()
        .unwrap();
    assert!(st.success(), "the agent failed: {st}");
    done.store(true, Ordering::Relaxed);
    server.join().unwrap();
    let t_ns = t.load(Ordering::SeqCst);
    assert_ne!(t_ns, i64::MAX, "the server read no request");
    // T is the run's SIGTERM in its ground truth.
    RunInfo {
        ground_truth: Some(GroundTruth {
            sigterm_ns: Some(t_ns),
            ..Default::default()
        }),
        ..Default::default()
    }
    .write(dir.path())
    .unwrap();

    let r = analyze(dir.path(), &AnalyzeOptions::default()).unwrap();
    let new = r.agents.iter().find(|a| a.name == "node-c/new").unwrap();
    assert!(
        new.connections.is_none(),
        "new mode has no connection facts"
    );
    let reuse = r.agents.iter().find(|a| a.name == "node-c/reuse").unwrap();
    let c = reuse.connections.as_ref().expect("the reuse row's facts");
    let n = |a: &AtomicU64| a.load(Ordering::SeqCst);
    let (resets_reused, resets_first) = (n(&counts.resets_reused), n(&counts.resets_first));
    assert!(
        resets_reused >= 1 && resets_first >= 1,
        "both kinds of reset happened"
    );
    // Every connection the server accepted, each once (the agent's ids).
    assert_eq!(c.connections, n(&counts.accepts));
    assert_eq!(c.requests, reuse.summary.totals.probes);
    // Each reset the server sent is one failed probe, in its class.
    assert_eq!(c.broken, resets_reused);
    assert_eq!(c.failed_opening, resets_first);
    assert_eq!(c.broken + c.failed_opening, reuse.summary.totals.failed);
    assert_eq!(c.broken_by_kind.values().sum::<u64>(), c.broken);
    assert!(
        c.broken_by_kind
            .keys()
            .all(|k| k == "reset" || k == "closed_before_status"),
        "{:?}",
        c.broken_by_kind
    );
    // Each clean close was found before the next request: a replacement
    // marked after_close, no failure.
    assert_eq!(c.server_closes, n(&counts.closes));
    assert_eq!(
        c.opened_by_state.get("after_close").copied(),
        Some(c.server_closes)
    );
    // Told against T: the breaks start at T (a request sent just before it
    // and read after it is reset too: at most the pool's four).
    let s = c.relative.iter().find(|m| m.moment == "sigterm").unwrap();
    assert_eq!(s.at_ns, t_ns);
    assert!(s.broken_before <= 4, "{s:?}");
    let first = s.first_broken_ns.unwrap();
    assert!((-20_000_000..50_000_000).contains(&first), "{s:?}");
    assert!(s.last_broken_ns.unwrap() >= first);

    // In the schema, in report.md.
    let json = serde_json::to_value(&r).unwrap();
    crate::outputs::assert_valid(&crate::outputs::schema(), &json);
    assert!(json["agents"][0].get("connections").is_none());
    let html = seamless_analyzer::html::report_html(
        &seamless_analyzer::Analysis::run(dir.path(), &AnalyzeOptions::default()).unwrap(),
    )
    .unwrap();
    assert!(
        html.contains(&format!(
            "node-c/reuse: {} kept-alive connections; {} broke",
            c.connections, c.broken
        )),
        "report.html's summary"
    );
    let md = markdown(&r);
    assert!(md.contains("## Reused connections"), "{md}");
    assert!(
        md.contains(&format!(
            "| node-c/reuse | {} | {} | {} |",
            c.connections, c.requests, c.broken
        )),
        "{md}"
    );
}

#[test]
fn a_log_without_reuse_mode_reports_no_connections() {
    let dir = tempfile::tempdir().unwrap();
    let probes = crate::common::pattern("....xx....", crate::common::STEP);
    crate::common::write_log(&dir.path().join("probe-node-a.log"), &probes, true);
    let r = analyze(dir.path(), &AnalyzeOptions::default()).unwrap();
    let json = serde_json::to_value(&r).unwrap();
    assert!(json["agents"][0].get("connections").is_none(), "{json}");
    assert!(!markdown(&r).contains("Reused connections"));
}
