//! `probe --serve ADDR`: the agent's control endpoint (specified in
//! `seamless_proto::control`), for `seamless-controller experiment`, which
//! reaches it through the API server's `pods/proxy`. A blocking server on
//! its own thread, one request at a time, GET only.
//!
//! Life: the probe session runs until `GET /stop`, `--duration`/`--count`,
//! or SIGINT/SIGTERM. Then the log is complete and synced, and the agent
//! keeps serving it (`GET /log`) until SIGINT/SIGTERM (the pod's deletion),
//! so no second container has to keep the volume. A signal during probing
//! ends the probing cleanly and then the process.

use std::fs::File;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context;
use seamless_proto::clock::now_ns;
use seamless_proto::control::{AgentStatus, Phase, TimeReply, fnv1a64};
use seamless_proto::log::LogReader;

use crate::ProbeOpts;
use crate::session::run_probe;
use crate::stopping::StopFlag;

/// What the server knows about the session.
#[derive(Debug, Clone)]
enum State {
    Running,
    Done {
        exit_code: i32,
        probes: u64,
        bytes: u64,
        fnv: u64,
    },
    Failed(String),
}

struct Shared {
    log: PathBuf,
    state: Mutex<State>,
    stop: StopFlag,
}

/// Runs `probe` with the control endpoint on `addr`; returns the exit code.
pub fn run_serving(opts: ProbeOpts, addr: SocketAddr, signals: &StopFlag) -> anyhow::Result<i32> {
    let log = opts
        .out
        .clone()
        .context("--serve needs --out: the log the endpoint serves")?;
    let listener =
        TcpListener::bind(addr).with_context(|| format!("cannot listen on {addr} for --serve"))?;
    let shared = Arc::new(Shared {
        log,
        state: Mutex::new(State::Running),
        stop: StopFlag::new(),
    });
    {
        let shared = shared.clone();
        std::thread::Builder::new()
            .name("serve".into())
            .spawn(move || serve(listener, &shared))
            .context("cannot start the --serve thread")?;
    }
    // A signal stops the probing as it would without --serve.
    {
        let (signals, stop) = (signals.clone(), shared.stop.clone());
        std::thread::Builder::new()
            .name("signals".into())
            .spawn(move || {
                while !signals.is_set() {
                    std::thread::sleep(Duration::from_millis(20));
                }
                stop.set();
            })
            .context("cannot start the signal thread")?;
    }
    tracing::info!(%addr, "control endpoint serving");
    let result = run_probe(opts, &shared.stop);
    let code = match &result {
        Ok(code) => {
            let done = finished(&shared.log, *code);
            let state = match done {
                Ok(s) => s,
                Err(e) => State::Failed(format!("{e:#}")),
            };
            *lock(&shared.state) = state;
            *code
        }
        Err(e) => {
            *lock(&shared.state) = State::Failed(format!("{e:#}"));
            1
        }
    };
    if !signals.is_set() {
        tracing::info!("probing ended; serving the log until SIGTERM");
    }
    while !signals.is_set() {
        std::thread::sleep(Duration::from_millis(50));
    }
    result.map(|_| code)
}

fn lock(m: &Mutex<State>) -> std::sync::MutexGuard<'_, State> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Reads the finished log back: its probe count (the end marker's, which
/// the summary printed) and its checksum.
fn finished(log: &Path, exit_code: i32) -> anyhow::Result<State> {
    let bytes = std::fs::read(log).with_context(|| format!("cannot read {}", log.display()))?;
    let read = LogReader::new(&bytes[..])
        .and_then(|r| r.read_all())
        .with_context(|| format!("cannot read back {}", log.display()))?;
    let probes = read
        .end_count
        .context("the log has no end marker after a clean stop")?;
    Ok(State::Done {
        exit_code,
        probes,
        bytes: bytes.len() as u64,
        fnv: fnv1a64(&bytes),
    })
}

/// Probes in the whole frames of a log being written, and its size.
fn progress(log: &Path) -> (u64, u64) {
    let Ok(file) = File::open(log) else {
        return (0, 0);
    };
    let bytes = file.metadata().map(|m| m.len()).unwrap_or(0);
    let mut probes = 0u64;
    if let Ok(mut r) = LogReader::new(std::io::BufReader::new(file)) {
        let mut batch = Vec::new();
        while let Ok(true) = r.next_batch(&mut batch) {
            probes += batch.len() as u64;
            batch.clear();
        }
    }
    (probes, bytes)
}

fn status(shared: &Shared) -> AgentStatus {
    let name = shared
        .log
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let state = lock(&shared.state).clone();
    let mut s = AgentStatus {
        phase: Phase::Starting,
        log: name,
        probes: 0,
        log_bytes: 0,
        log_fnv1a64: None,
        exit_code: None,
        error: None,
        now_ns: 0,
    };
    match state {
        State::Running => {
            let (probes, bytes) = progress(&shared.log);
            s.phase = if probes > 0 {
                Phase::Probing
            } else {
                Phase::Starting
            };
            s.probes = probes;
            s.log_bytes = bytes;
        }
        State::Done {
            exit_code,
            probes,
            bytes,
            fnv,
        } => {
            s.phase = Phase::Done;
            s.probes = probes;
            s.log_bytes = bytes;
            s.log_fnv1a64 = Some(format!("{fnv:016x}"));
            s.exit_code = Some(exit_code);
        }
        State::Failed(e) => {
            s.phase = Phase::Failed;
            s.error = Some(e);
        }
    }
    s.now_ns = now_ns();
    s
}

fn serve(listener: TcpListener, shared: &Shared) {
    for conn in listener.incoming() {
        match conn {
            Ok(stream) => {
                if let Err(e) = handle(stream, shared) {
                    tracing::debug!(error = %e, "control request failed");
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "control endpoint: accept failed");
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    }
}

fn handle(mut stream: TcpStream, shared: &Shared) -> std::io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    stream.set_write_timeout(Some(Duration::from_secs(30)))?;
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    let (method, path) = loop {
        let n = stream.read(&mut chunk)?;
        if n == 0 {
            return Ok(());
        }
        buf.extend_from_slice(&chunk[..n]);
        let mut headers = [httparse::EMPTY_HEADER; 64];
        let mut req = httparse::Request::new(&mut headers);
        match req.parse(&buf) {
            Ok(httparse::Status::Complete(_)) => {
                break (
                    req.method.unwrap_or_default().to_owned(),
                    req.path.unwrap_or_default().to_owned(),
                );
            }
            Ok(httparse::Status::Partial) if buf.len() < 16 * 1024 => continue,
            _ => return respond(&mut stream, 400, "text/plain", b"bad request\n"),
        }
    };
    let path = path.split('?').next().unwrap_or_default();
    if method != "GET" {
        return respond(&mut stream, 405, "text/plain", b"GET only\n");
    }
    match path {
        "/ready" => {
            let s = status(shared);
            let code = if matches!(s.phase, Phase::Probing | Phase::Done) {
                200
            } else {
                503
            };
            respond(&mut stream, code, "application/json", &json(&s))
        }
        "/status" => respond(&mut stream, 200, "application/json", &json(&status(shared))),
        "/time" => respond(
            &mut stream,
            200,
            "application/json",
            &json(&TimeReply { now_ns: now_ns() }),
        ),
        "/stop" => {
            if !shared.stop.is_set() {
                tracing::info!("stop asked through the control endpoint");
            }
            shared.stop.set();
            respond(&mut stream, 202, "application/json", &json(&status(shared)))
        }
        "/log" => {
            if !matches!(*lock(&shared.state), State::Done { .. }) {
                return respond(
                    &mut stream,
                    409,
                    "text/plain",
                    b"the log is served once the agent is done: GET /stop first\n",
                );
            }
            let bytes = std::fs::read(&shared.log)?;
            respond(&mut stream, 200, "application/octet-stream", &bytes)
        }
        _ => respond(&mut stream, 404, "text/plain", b"not found\n"),
    }
}

/// A JSON body with a final newline.
fn json<T: serde::Serialize>(v: &T) -> Vec<u8> {
    let mut body = serde_json::to_vec(v).unwrap_or_default();
    body.push(b'\n');
    body
}

fn respond(
    stream: &mut TcpStream,
    code: u16,
    content_type: &str,
    body: &[u8],
) -> std::io::Result<()> {
    let reason = match code {
        200 => "OK",
        202 => "Accepted",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        409 => "Conflict",
        503 => "Service Unavailable",
        _ => "",
    };
    let head = format!(
        "HTTP/1.1 {code} {reason}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes())?;
    stream.write_all(body)?;
    stream.flush()
}
