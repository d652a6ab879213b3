//! One probe: a fresh TCP connection, `GET` over HTTP/1.0, the status line,
//! headers and body (up to caps), then close (modes `new` and `slow`; the
//! reuse mode's pooled connections are in `pool`, over the same exchange).
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

use seamless_proto::{Mode, Outcome, Probe};
use socket2::{Domain, Protocol, SockRef, Socket, Type};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

use crate::classify::{Phase, classify};
use crate::clock::mono_ns;
use crate::http::{Chunked, has_status_line, parse_head};

/// What every probe of one mode shares.
#[derive(Debug, Clone)]
pub struct ProbeConfig {
    /// The mode.
    pub mode: Mode,
    /// Where to connect.
    pub addr: SocketAddr,
    /// The request bytes.
    pub request: Vec<u8>,
    /// Connect timeout.
    pub timeout: Duration,
    /// Timeout for the whole response, from the request's start.
    pub response_timeout: Duration,
    /// The status counted as ok.
    pub expect_status: u16,
    /// The header naming the backend.
    pub backend_header: Option<String>,
    /// Cap on status line plus headers.
    pub max_header_bytes: usize,
    /// Cap on the body.
    pub max_body_bytes: usize,
    /// Reuse mode: look at an idle connection for the server's FIN or reset
    /// before sending on it.
    pub idle_check: bool,
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
pub(crate) struct Progress {
    pub(crate) start_mono: u64,
    pub(crate) connect_ns: u64,
    pub(crate) first_byte_ns: u64,
    pub(crate) status: u16,
    pub(crate) backend: Option<String>,
}

impl Progress {
    pub(crate) fn new(start_mono: u64) -> Progress {
        Progress {
            start_mono,
            connect_ns: 0,
            first_byte_ns: 0,
            status: 0,
            backend: None,
        }
    }

    pub(crate) fn since_start(&self) -> u64 {
        mono_ns().saturating_sub(self.start_mono)
    }

    /// The record, once the probe has ended.
    pub(crate) fn finish(
        self,
        anchor_mono_ns: u64,
        intended_ns: u64,
        mode: Mode,
        outcome: Outcome,
    ) -> ProbeResult {
        ProbeResult {
            probe: Probe {
                intended_ns,
                start_ns: self.start_mono.saturating_sub(anchor_mono_ns),
                connect_ns: self.connect_ns,
                first_byte_ns: self.first_byte_ns,
                total_ns: self.since_start(),
                status: self.status,
                outcome,
                backend: 0,
                mode,
                conn: None,
            },
            backend: self.backend,
        }
    }
}

/// Runs one probe. `anchor_mono_ns` is the log's monotonic anchor;
/// `intended_ns` the scheduled start as an offset from it.
pub async fn probe(cfg: &ProbeConfig, anchor_mono_ns: u64, intended_ns: u64) -> ProbeResult {
    let mut p = Progress::new(mono_ns());
    let outcome = run(cfg, &mut p).await;
    p.finish(anchor_mono_ns, intended_ns, cfg.mode, outcome)
}

/// Opens a connection to `cfg.addr` within the connect timeout, noting the
/// connect's duration in `p`.
pub(crate) async fn connect(cfg: &ProbeConfig, p: &mut Progress) -> Result<TcpStream, Outcome> {
    let socket = new_socket(cfg.addr).map_err(|e| classify(&e, Phase::Socket))?;
    let connected = tokio::time::timeout(cfg.timeout, socket.connect(cfg.addr)).await;
    p.connect_ns = p.since_start();
    match connected {
        Err(_) => Err(Outcome::ConnectTimeout),
        Ok(Err(e)) => Err(classify(&e, Phase::Connect)),
        Ok(Ok(s)) => Ok(s),
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
    let mut stream = match connect(cfg, p).await {
        Ok(s) => s,
        Err(o) => return o,
    };
    let x = exchange_within(cfg, &mut stream, p).await;
    close(stream, x.saw_eof);
    x.outcome
}

/// How an exchange ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Exchanged {
    pub(crate) outcome: Outcome,
    /// The server's FIN was seen.
    pub(crate) saw_eof: bool,
    /// The response was complete and framed, the server allows another
    /// request and sent nothing more: the connection can carry the next.
    pub(crate) reusable: bool,
}

impl Exchanged {
    fn failed(outcome: Outcome, saw_eof: bool) -> Exchanged {
        Exchanged {
            outcome,
            saw_eof,
            reusable: false,
        }
    }
}

/// [`exchange`] within the response timeout.
pub(crate) async fn exchange_within(
    cfg: &ProbeConfig,
    stream: &mut TcpStream,
    p: &mut Progress,
) -> Exchanged {
    tokio::time::timeout(cfg.response_timeout, exchange(cfg, stream, p))
        .await
        .unwrap_or(Exchanged::failed(Outcome::ReadTimeout, false))
}

/// Closes without leaving TIME_WAIT: a plain close after the server's FIN
/// (the passive close), else an abortive one (SO_LINGER 0: an RST).
pub(crate) fn close(stream: TcpStream, saw_eof: bool) {
    if !saw_eof {
        // Failing to set the option only costs a TIME_WAIT entry.
        let _ = SockRef::from(&stream).set_linger(Some(Duration::ZERO));
    }
}

/// Writes the request and reads the response.
async fn exchange(cfg: &ProbeConfig, stream: &mut TcpStream, p: &mut Progress) -> Exchanged {
    use Exchanged as X;
    if let Err(e) = stream.write_all(&cfg.request).await {
        return X::failed(classify(&e, Phase::Exchange), false);
    }
    let mut chunk = [0u8; 4096];
    // Most heads arrive in one read and are parsed in place; only a head
    // split across reads is gathered in `head_buf`.
    let mut head_buf = Vec::new();
    let mut chunked = Chunked::default();
    let (head, mut body, mut complete) = loop {
        let n = match stream.read(&mut chunk).await {
            Ok(n) => n,
            Err(e) => return X::failed(classify(&e, Phase::Exchange), false),
        };
        if n == 0 {
            let o = if has_status_line(&head_buf) {
                Outcome::Malformed
            } else {
                Outcome::ClosedBeforeStatus
            };
            return X::failed(o, true);
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
                let rest = &received[head.len..];
                let mut complete = false;
                if head.chunked && !head.bodiless() {
                    match chunked.feed(rest) {
                        Ok(done) => complete = done,
                        Err(o) => return X::failed(o, false),
                    }
                }
                break (head, rest.len() as u64, complete);
            }
            Ok(None) if received.len() >= cfg.max_header_bytes => {
                return X::failed(Outcome::Oversized, false);
            }
            Ok(None) => {
                if head_buf.is_empty() {
                    head_buf.extend_from_slice(&chunk[..n]);
                }
            }
            Err(o) => return X::failed(o, false),
        }
    };
    drop(head_buf);
    p.status = head.status;
    p.backend = head.backend.clone();
    let max_body = cfg.max_body_bytes as u64;
    // How the body ends: bodiless, chunked, Content-Length, or the FIN.
    let framed = head.bodiless() || head.chunked || head.content_length.is_some();
    let length = if head.bodiless() {
        Some(0)
    } else if head.chunked {
        None
    } else {
        head.content_length
    };
    let mut saw_eof = false;
    loop {
        if complete || length.is_some_and(|cl| body >= cl) {
            break;
        }
        if body > max_body || chunked.data > max_body {
            return X::failed(Outcome::Oversized, false);
        }
        match stream.read(&mut chunk).await {
            Ok(0) => {
                saw_eof = true;
                break;
            }
            Ok(n) => {
                body += n as u64;
                if head.chunked {
                    match chunked.feed(&chunk[..n]) {
                        Ok(done) => complete = done,
                        Err(o) => return X::failed(o, false),
                    }
                }
            }
            Err(e) => return X::failed(classify(&e, Phase::Exchange), false),
        }
    }
    let short = if head.chunked {
        !complete
    } else {
        length.is_some_and(|cl| body < cl)
    };
    if short {
        // The server closed inside the body it announced.
        return X::failed(Outcome::Malformed, saw_eof);
    }
    let extra = if head.chunked {
        chunked.extra() as u64
    } else {
        length.map_or(0, |cl| body - cl)
    };
    let outcome = if head.status == cfg.expect_status {
        Outcome::Ok
    } else {
        Outcome::UnexpectedStatus
    };
    X {
        outcome,
        saw_eof,
        reusable: framed && head.keep_alive && !saw_eof && extra == 0,
    }
}
