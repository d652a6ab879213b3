//! The API server, reachable from the user's shell: the lab's world has a
//! network of its own, so the inner lab listens on a Unix socket in its
//! private /run (forwarded to the API server), and the outer process, in
//! the host's namespace, listens on a loopback port and forwards to that
//! socket through `/proc/<inner pid>/root`. TLS runs end to end: nothing
//! here reads the bytes.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use tokio::net::{TcpListener, TcpStream, UnixListener, UnixStream};

/// Inside: accepts on `socket`, connects each to `api`.
pub async fn unix_to_tcp(socket: &Path, api: SocketAddr) -> std::io::Result<()> {
    let _ = std::fs::remove_file(socket);
    let l = UnixListener::bind(socket)?;
    loop {
        let (mut c, _) = l.accept().await?;
        tokio::spawn(async move {
            if let Ok(mut up) = TcpStream::connect(api).await {
                let _ = tokio::io::copy_bidirectional(&mut c, &mut up).await;
            }
        });
    }
}

/// Outside: accepts on `listener`, connects each to `socket`.
pub async fn tcp_to_unix(listener: TcpListener, socket: PathBuf) -> std::io::Result<()> {
    loop {
        let (mut c, _) = listener.accept().await?;
        let socket = socket.clone();
        tokio::spawn(async move {
            match UnixStream::connect(&socket).await {
                Ok(mut up) => {
                    let _ = tokio::io::copy_bidirectional(&mut c, &mut up).await;
                }
                Err(e) => tracing::warn!("forwarding to the lab's API server: {e}"),
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[tokio::test]
    async fn bytes_cross_both_hops_unchanged() {
        let dir = tempfile::tempdir().unwrap();
        let sock = dir.path().join("api.sock");
        let echo = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let echo_addr = echo.local_addr().unwrap();
        tokio::spawn(async move {
            let (mut c, _) = echo.accept().await.unwrap();
            let mut b = vec![0u8; 5];
            c.read_exact(&mut b).await.unwrap();
            b.reverse();
            c.write_all(&b).await.unwrap();
        });
        let s2 = sock.clone();
        tokio::spawn(async move { unix_to_tcp(&s2, echo_addr).await });
        while !sock.exists() {
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        let front = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let front_addr = front.local_addr().unwrap();
        tokio::spawn(tcp_to_unix(front, sock));
        let mut c = TcpStream::connect(front_addr).await.unwrap();
        c.write_all(b"hello").await.unwrap();
        let mut b = vec![0u8; 5];
        c.read_exact(&mut b).await.unwrap();
        assert_eq!(&b, b"olleh");
    }
}
