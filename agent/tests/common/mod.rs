//! In-process servers on 127.0.0.1:0 that misbehave in one way each, and a
//! helper that runs the agent in-process and reads its log back.

#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use clap::Parser;
use seamless_agent::StopFlag;
use seamless_agent::session::run_probe;
use seamless_agent::{Command, Opts};
use seamless_proto::ProbeLog;

/// A server that handles each connection with `handler` on its own thread.
pub struct Server {
    pub addr: SocketAddr,
    stop: Arc<AtomicBool>,
    accept: Option<JoinHandle<()>>,
}

impl Server {
    pub fn start<F>(handler: F) -> Server
    where
        F: Fn(TcpStream) + Send + Sync + 'static,
    {
        Server::start_on("127.0.0.1:0".parse().unwrap(), handler)
    }

    pub fn start_on<F>(addr: SocketAddr, handler: F) -> Server
    where
        F: Fn(TcpStream) + Send + Sync + 'static,
    {
        let listener = TcpListener::bind(addr).expect("bind");
        let addr = listener.local_addr().unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let handler = Arc::new(handler);
        let stop2 = stop.clone();
        let accept = std::thread::spawn(move || {
            for conn in listener.incoming() {
                if stop2.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(conn) = conn else { continue };
                let h = handler.clone();
                std::thread::spawn(move || h(conn));
            }
        });
        Server {
            addr,
            stop,
            accept: Some(accept),
        }
    }

    /// Closes the listener: new connections are refused from now on.
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop so it sees the flag and drops the listener.
        let _ = TcpStream::connect(self.addr);
        if let Some(h) = self.accept.take() {
            let _ = h.join();
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}/", self.addr)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// Reads the request head (until the blank line, or 8 KiB).
pub fn read_request(conn: &mut TcpStream) {
    let mut buf = Vec::new();
    let mut b = [0u8; 1024];
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") && buf.len() < 8192 {
        match conn.read(&mut b) {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&b[..n]),
        }
    }
}

/// A well-behaved HTTP/1.0 server answering `status` with a pod name.
pub fn http_server(status: u16, pod: &'static str) -> Server {
    Server::start(move |mut c| {
        read_request(&mut c);
        let body = "ok\n";
        let _ = write!(
            c,
            "HTTP/1.0 {status} X\r\nContent-Length: {}\r\nX-Pod-Name: {pod}\r\n\r\n{body}",
            body.len()
        );
    })
}

/// A closed port: bound, then released.
pub fn closed_port() -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    drop(l);
    addr
}

/// Runs `seamless-agent probe` in-process with `args` (after `probe URL`),
/// writing to `dir/probe.log`; returns the log read back.
pub fn run_agent(url: &str, dir: &Path, args: &[&str]) -> ProbeLog {
    run_agent_with_stop(url, dir, args, StopFlag::new())
}

pub fn run_agent_with_stop(url: &str, dir: &Path, args: &[&str], stop: StopFlag) -> ProbeLog {
    let out = dir.join("probe.log");
    let out_s = out.to_str().unwrap();
    let mut argv = vec!["seamless-agent", "probe", url, "--out", out_s, "--force"];
    argv.extend_from_slice(args);
    let Command::Probe(opts) = Opts::parse_from(argv).command else {
        unreachable!()
    };
    assert_eq!(run_probe(opts, &stop).expect("agent run"), 0);
    ProbeLog::read_path(&out).expect("log reads back")
}

pub const SHORT: Duration = Duration::from_millis(300);
