//! The built-in backend: a tiny HTTP/1.0 server that answers every request
//! with 200 and `X-Pod-Name: <pod>`, run as `seamless-lab serve`
//! inside a pod's (or node's) network namespace.
//!
//! On SIGTERM it closes its listener at once, as nginx does, and prints the
//! CLOCK_REALTIME ns right after the close: from then on a SYN meets no
//! listening socket and is refused. That line is the lab's ground truth for
//! "the old backend stopped accepting". In-flight requests still finish.
//!
//! `GET /sleep?ms=N` answers after N ms (at most 60 s): the agent's slow
//! mode (`--slow '/sleep?ms=N'`) keeps such requests in flight across the
//! SIGTERM.

use std::io::Write;
use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio::signal::unix::{SignalKind, signal};
use tokio::task::JoinSet;

use seamless_proto::clock::now_ns;

/// The line prefix announcing the listener is open.
pub const LISTENING: &str = "listening";
/// The line prefix carrying the stop time: `stopped_accepting_ns=<ns>`.
pub const STOPPED: &str = "stopped_accepting_ns=";

/// Options of the hidden `lab serve` subcommand.
#[derive(Debug, Clone, clap::Args)]
pub struct ServeOpts {
    /// Pod name sent in X-Pod-Name.
    #[arg(long)]
    pub pod: String,
    /// Address to listen on.
    #[arg(long)]
    pub listen: SocketAddr,
}

/// Serves until SIGTERM (or SIGINT); returns the exit code.
pub async fn serve(opts: ServeOpts) -> anyhow::Result<i32> {
    // A deep accept queue: at thousands of new connections a second a
    // short CPU stall must not overflow it (that drops SYNs, which the
    // agent would see as 1 s connect timeouts unrelated to the rollout).
    let socket = match opts.listen {
        SocketAddr::V4(_) => TcpSocket::new_v4()?,
        SocketAddr::V6(_) => TcpSocket::new_v6()?,
    };
    socket.set_reuseaddr(true)?;
    socket.bind(opts.listen)?;
    let listener = socket.listen(4096)?;
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    let response: &'static [u8] = Box::leak(
        format!(
            "HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 3\r\nX-Pod-Name: {}\r\nConnection: close\r\n\r\nok\n",
            opts.pod
        )
        .into_bytes()
        .into_boxed_slice(),
    );
    say(&format!("{LISTENING} {}", opts.listen));
    let mut conns = JoinSet::new();
    loop {
        tokio::select! {
            biased;
            _ = term.recv() => break,
            _ = int.recv() => break,
            r = listener.accept() => match r {
                Ok((stream, _)) => {
                    conns.spawn(answer(stream, response));
                }
                Err(e) => tracing::debug!("accept: {e}"),
            },
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
        }
    }
    drop(listener);
    say(&format!("{STOPPED}{}", now_ns()));
    let _ = tokio::time::timeout(Duration::from_secs(2), async {
        while conns.join_next().await.is_some() {}
    })
    .await;
    Ok(0)
}

fn say(line: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

async fn answer(mut stream: TcpStream, response: &'static [u8]) {
    let mut buf = [0u8; 4096];
    let mut seen = 0usize;
    let read = async {
        loop {
            match stream.read(&mut buf[seen..]).await {
                Ok(0) | Err(_) => return false,
                Ok(n) => {
                    seen += n;
                    if buf[..seen].windows(4).any(|w| w == b"\r\n\r\n") {
                        return true;
                    }
                    if seen == buf.len() {
                        return true;
                    }
                }
            }
        }
    };
    if let Ok(true) = tokio::time::timeout(Duration::from_secs(2), read).await {
        if let Some(ms) = sleep_ms(&buf[..seen]) {
            tokio::time::sleep(Duration::from_millis(ms)).await;
        }
        let _ = stream.write_all(response).await;
        let _ = stream.shutdown().await;
    }
}

/// The delay of a `GET /sleep?ms=N` request line, capped at 60 s.
fn sleep_ms(request: &[u8]) -> Option<u64> {
    let line = request.split(|&b| b == b'\r').next()?;
    let rest = line.strip_prefix(b"GET /sleep?ms=")?;
    let digits: Vec<u8> = rest
        .iter()
        .copied()
        .take_while(u8::is_ascii_digit)
        .collect();
    let ms: u64 = std::str::from_utf8(&digits).ok()?.parse().ok()?;
    Some(ms.min(60_000))
}

#[cfg(test)]
mod tests {
    #[test]
    fn sleep_route() {
        use super::sleep_ms;
        assert_eq!(sleep_ms(b"GET /sleep?ms=250 HTTP/1.0\r\n"), Some(250));
        assert_eq!(sleep_ms(b"GET /sleep?ms=999999 HTTP/1.1\r\n"), Some(60_000));
        assert_eq!(sleep_ms(b"GET / HTTP/1.0\r\n"), None);
        assert_eq!(sleep_ms(b"GET /sleep?ms=x HTTP/1.0\r\n"), None);
    }
}
