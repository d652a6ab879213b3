//! One probe: a fresh TCP connection, `GET` over HTTP/1.0, the status line,
//! headers and body (up to caps), then close.
//!
//! The agent closes as soon as it has the whole response (a body of
//! `Content-Length` bytes), or on a timeout or a cap, and then abortively
//! (SO_LINGER 0: an RST), so it is never left with a socket in TIME_WAIT and
//! the server is spared one too: at thousands of new connections a second,
//! TIME_WAIT entries on either side collide with reused ports and distort
//! connect times. Without a `Content-Length` the body ends at the server's
//! FIN, and the agent's close is then the passive one, which leaves nothing
//! behind either.

use std::net::SocketAddr;
use std::time::Duration;

use seamless_proto::{Outcome, Probe};
use socket2::{Domain, Protocol, SockRef, Socket, Type};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

use crate::classify::{Phase, classify};
use crate::clock::mono_ns;
use crate::http::{has_status_line, parse_head};

/// What every probe of a run shares.
#[derive(Debug, Clone)]
pub struct ProbeConfig {
    /// Where to connect.
    pub addr: SocketAddr,
    /// The request bytes.
    pub request: Vec<u8>,
    /// Connect timeout, and separately the timeout for the response.
    pub timeout: Duration,
    /// The status counted as ok.
    pub expect_status: u16,
    /// The header naming the backend.
    pub backend_header: Option<String>,
    /// Cap on status line plus headers.
    pub max_header_bytes: usize,
    /// Cap on the body.
    pub max_body_bytes: usize,
}

/// A finished probe, with the backend's name still as text.
#[derive(Debug, Clone)]
pub struct ProbeResult {
    /// The record; `backend` is 0 until the recorder interns the name.
    pub probe: Probe,
    /// The backend header's value, when present.
    pub backend: Option<String>,
}

/// Durations and findings filled in as the probe goes.
struct Progress {
    start_mono: u64,
    connect_ns: u64,
    first_byte_ns: u64,
    status: u16,
    backend: Option<String>,
}

impl Progress {
    fn since_start(&self) -> u64 {
        mono_ns().saturating_sub(self.start_mono)
    }
}

/// Runs one probe. `anchor_mono_ns` is the log's monotonic anchor;
/// `intended_ns` the scheduled start as an offset from it.
pub async fn probe(cfg: &ProbeConfig, anchor_mono_ns: u64, intended_ns: u64) -> ProbeResult {
    let start_mono = mono_ns();
    let mut p = Progress {
        start_mono,
        connect_ns: 0,
        first_byte_ns: 0,
        status: 0,
        backend: None,
    };
    let outcome = run(cfg, &mut p).await;
    let total_ns = p.since_start();
    ProbeResult {
        probe: Probe {
            intended_ns,
            start_ns: start_mono.saturating_sub(anchor_mono_ns),
            connect_ns: p.connect_ns,
            first_byte_ns: p.first_byte_ns,
            total_ns,
            status: p.status,
            outcome,
            backend: 0,
        },
        backend: p.backend,
    }
}

fn new_socket(addr: SocketAddr) -> std::io::Result<TcpSocket> {
    let socket = Socket::new(
        Domain::for_address(addr),
        Type::STREAM.nonblocking().cloexec(),
        Some(Protocol::TCP),
    )?;
    socket.set_tcp_nodelay(true)?;
    Ok(TcpSocket::from_std_stream(socket.into()))
}

async fn run(cfg: &ProbeConfig, p: &mut Progress) -> Outcome {
    let socket = match new_socket(cfg.addr) {
        Ok(s) => s,
        Err(e) => return classify(&e, Phase::Socket),
    };
    let connected = tokio::time::timeout(cfg.timeout, socket.connect(cfg.addr)).await;
    p.connect_ns = p.since_start();
    let mut stream = match connected {
        Err(_) => return Outcome::ConnectTimeout,
        Ok(Err(e)) => return classify(&e, Phase::Connect),
        Ok(Ok(s)) => s,
    };
    let exchanged = tokio::time::timeout(cfg.timeout, exchange(cfg, &mut stream, p)).await;
    let (outcome, saw_eof) = exchanged.unwrap_or((Outcome::ReadTimeout, false));
    close(stream, saw_eof);
    outcome
}

/// Closes without leaving TIME_WAIT: a plain close after the server's FIN
/// (the passive close), else an abortive one (SO_LINGER 0: an RST).
fn close(stream: TcpStream, saw_eof: bool) {
    if !saw_eof {
        // Failing to set the option only costs a TIME_WAIT entry.
        let _ = SockRef::from(&stream).set_linger(Some(Duration::ZERO));
    }
}

/// Writes the request and reads the response; returns the outcome and
/// whether the server's FIN was seen.
async fn exchange(cfg: &ProbeConfig, stream: &mut TcpStream, p: &mut Progress) -> (Outcome, bool) {
    if let Err(e) = stream.write_all(&cfg.request).await {
        return (classify(&e, Phase::Exchange), false);
    }
    let mut chunk = [0u8; 4096];
    // Most heads arrive in one read and are parsed in place; only a head
    // split across reads is gathered in `head_buf`.
    let mut head_buf = Vec::new();
    let (head, mut body) = loop {
        let n = match stream.read(&mut chunk).await {
            Ok(n) => n,
            Err(e) => return (classify(&e, Phase::Exchange), false),
        };
        if n == 0 {
            let o = if has_status_line(&head_buf) {
                Outcome::Malformed
            } else {
                Outcome::ClosedBeforeStatus
            };
            return (o, true);
        }
        if p.first_byte_ns == 0 {
            p.first_byte_ns = p.since_start().max(1);
        }
        let received: &[u8] = if head_buf.is_empty() {
            &chunk[..n]
        } else {
            head_buf.extend_from_slice(&chunk[..n]);
            &head_buf
        };
        match parse_head(received, cfg.backend_header.as_deref()) {
            Ok(Some(head)) => {
                let body = (received.len() - head.len) as u64;
                break (head, body);
            }
            Ok(None) if received.len() >= cfg.max_header_bytes => {
                return (Outcome::Oversized, false);
            }
            Ok(None) => {
                if head_buf.is_empty() {
                    head_buf.extend_from_slice(&chunk[..n]);
                }
            }
            Err(o) => return (o, false),
        }
    };
    drop(head_buf);
    p.status = head.status;
    p.backend = head.backend;
    let max_body = cfg.max_body_bytes as u64;
    let mut saw_eof = false;
    loop {
        if head.content_length.is_some_and(|cl| body >= cl) {
            break;
        }
        if body > max_body {
            return (Outcome::Oversized, false);
        }
        match stream.read(&mut chunk).await {
            Ok(0) => {
                saw_eof = true;
                break;
            }
            Ok(n) => body += n as u64,
            Err(e) => return (classify(&e, Phase::Exchange), false),
        }
    }
    if head.content_length.is_some_and(|cl| body < cl) {
        // The server closed inside the body it announced.
        return (Outcome::Malformed, saw_eof);
    }
    let outcome = if head.status == cfg.expect_status {
        Outcome::Ok
    } else {
        Outcome::UnexpectedStatus
    };
    (outcome, saw_eof)
}
