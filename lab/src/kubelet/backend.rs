//! Backends: the built-in server (`lab serve`) or nginx, each started as its
//! own process group inside a pod's (or node's) network namespace, with a
//! kubelet-style readiness check and the ground-truth stop time.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddrV4, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill, killpg};
use nix::unistd::Pid;

use super::serve::STOPPED;
use crate::host::netns::{Netns, NetnsError};
use seamless_proto::clock::now_ns;

/// Which server plays the pod's container.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum BackendKind {
    /// `seamless-lab serve`: nothing to install.
    Builtin,
    /// nginx with a generated config (1 worker, X-Pod-Name header).
    Nginx,
}

/// Errors starting or checking a backend.
#[derive(Debug, thiserror::Error)]
pub enum BackendError {
    /// Entering the namespace or spawning failed.
    #[error(transparent)]
    Netns(#[from] NetnsError),
    /// Writing nginx's config failed.
    #[error("could not write the nginx config in {dir}")]
    Config {
        /// The directory.
        dir: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The backend never answered its readiness check.
    #[error("backend {pod} was not ready within {timeout:?} (last: {last})")]
    NotReady {
        /// The pod.
        pod: String,
        /// How long the check tried.
        timeout: Duration,
        /// The last check's result.
        last: String,
    },
}

/// A running backend.
#[derive(Debug)]
pub struct Backend {
    /// The pod it plays.
    pub pod: String,
    /// Where it listens.
    pub addr: SocketAddrV4,
    /// The namespace it runs in.
    pub ns: Netns,
    kind: BackendKind,
    child: Child,
    stopped: Option<mpsc::Receiver<i64>>,
    exit: Option<std::process::ExitStatus>,
}

impl Backend {
    /// Starts the built-in server.
    pub fn builtin(
        ns: &Netns,
        lab_bin: &Path,
        pod: &str,
        addr: SocketAddrV4,
        listen_any: bool,
    ) -> Result<Backend, BackendError> {
        let listen = if listen_any {
            SocketAddrV4::new([0, 0, 0, 0].into(), addr.port())
        } else {
            addr
        };
        let mut cmd = Command::new(lab_bin);
        cmd.args(["serve", "--pod", pod, "--listen", &listen.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
        let mut child = ns.spawn(&mut cmd)?;
        let (tx, rx) = mpsc::channel();
        if let Some(out) = child.stdout.take() {
            std::thread::spawn(move || {
                for line in BufReader::new(out).lines() {
                    let Ok(line) = line else { break };
                    if let Some(ns) = line.strip_prefix(STOPPED).and_then(|v| v.parse().ok()) {
                        let _ = tx.send(ns);
                    }
                }
            });
        }
        Ok(Backend {
            pod: pod.into(),
            addr,
            ns: ns.clone(),
            kind: BackendKind::Builtin,
            child,
            stopped: Some(rx),
            exit: None,
        })
    }

    /// Starts nginx with its own config, pid, logs and temp paths in `dir`.
    pub fn nginx(
        ns: &Netns,
        dir: &Path,
        pod: &str,
        addr: SocketAddrV4,
        listen_any: bool,
        rootless: bool,
    ) -> Result<Backend, BackendError> {
        let cfg_err = |source| BackendError::Config {
            dir: dir.to_owned(),
            source,
        };
        std::fs::create_dir_all(dir.join("tmp")).map_err(cfg_err)?;
        let listen = if listen_any {
            format!("{}", addr.port())
        } else {
            addr.to_string()
        };
        let d = dir.display();
        let user = if rootless { "user root root;\n" } else { "" };
        let conf = format!(
            "{user}daemon off;\nmaster_process on;\nworker_processes 1;\npid {d}/nginx.pid;\n\
             error_log {d}/error.log warn;\n\
             events {{ worker_connections 4096; }}\n\
             http {{\n  access_log off;\n\
               client_body_temp_path {d}/tmp/body;\n  proxy_temp_path {d}/tmp/proxy;\n\
               fastcgi_temp_path {d}/tmp/fastcgi;\n  uwsgi_temp_path {d}/tmp/uwsgi;\n\
               scgi_temp_path {d}/tmp/scgi;\n\
               server {{\n    listen {listen} backlog=4096;\n\
                 location / {{ add_header X-Pod-Name {pod} always; return 200 \"ok\\n\"; }}\n  }}\n}}\n"
        );
        let conf_path = dir.join("nginx.conf");
        std::fs::write(&conf_path, conf).map_err(cfg_err)?;
        let mut cmd = Command::new("nginx");
        cmd.arg("-p")
            .arg(dir)
            .arg("-c")
            .arg(&conf_path)
            .arg("-e")
            .arg(dir.join("error.log"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit());
        std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
        let child = ns.spawn(&mut cmd)?;
        Ok(Backend {
            pod: pod.into(),
            addr,
            ns: ns.clone(),
            kind: BackendKind::Nginx,
            child,
            stopped: None,
            exit: None,
        })
    }

    /// The process id (the container's main process).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Kubelet's readiness check: GET / from the node's namespace until it
    /// answers 200 with this pod's X-Pod-Name, every 10 ms, up to `timeout`.
    pub fn wait_ready(&mut self, node: &Netns, timeout: Duration) -> Result<(), BackendError> {
        let deadline = Instant::now() + timeout;
        let addr = self.addr;
        let pod = self.pod.clone();
        let mut last = String::from("not tried");
        while Instant::now() < deadline {
            if let Some(status) = self.try_exit() {
                last = format!("exited with {status}");
                break;
            }
            match node.run(|| http_check(addr, &pod))? {
                Ok(()) => return Ok(()),
                Err(e) => last = e,
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        Err(BackendError::NotReady {
            pod: self.pod.clone(),
            timeout,
            last,
        })
    }

    /// Sends SIGTERM to the main process, as kubelet does, and starts timing
    /// the listener's close. Returns when the signal was sent.
    pub fn sigterm(&mut self) -> (i64, StopWatch) {
        self.signal(Signal::SIGTERM)
    }

    /// `nginx -s quit`: SIGQUIT to nginx's master (graceful shutdown: it
    /// closes its listener and idle connections, finishes the requests in
    /// flight), timing the listener's close as [`Backend::sigterm`] does.
    /// The built-in server has no graceful stop; it gets SIGTERM.
    pub fn quit(&mut self) -> (i64, StopWatch) {
        match self.kind {
            BackendKind::Nginx => self.signal(Signal::SIGQUIT),
            BackendKind::Builtin => self.signal(Signal::SIGTERM),
        }
    }

    fn signal(&mut self, sig: Signal) -> (i64, StopWatch) {
        let watch = match self.kind {
            BackendKind::Builtin => StopWatch::Reported(self.stopped.take()),
            BackendKind::Nginx => StopWatch::polled(&self.ns, self.addr),
        };
        let ts = now_ns();
        let _ = kill(Pid::from_raw(self.child.id() as i32), sig);
        (ts, watch)
    }

    /// SIGKILL to the whole process group (the container), as after the
    /// grace period.
    pub fn sigkill(&mut self) -> i64 {
        let ts = now_ns();
        let _ = killpg(Pid::from_raw(self.child.id() as i32), Signal::SIGKILL);
        ts
    }

    /// The exit status once the main process has exited (reaped, so a
    /// zombie never counts as alive).
    pub fn try_exit(&mut self) -> Option<std::process::ExitStatus> {
        if self.exit.is_none() {
            self.exit = self.child.try_wait().ok().flatten();
        }
        self.exit
    }

    /// Waits up to `timeout` for the main process to exit.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(s) = self.try_exit() {
                return Some(s);
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
    }
}

impl Drop for Backend {
    fn drop(&mut self) {
        if self.try_exit().is_none() {
            self.sigkill();
            let _ = self.child.wait();
        } else {
            // Workers of nginx may outlive a killed master.
            let _ = killpg(Pid::from_raw(self.child.id() as i32), Signal::SIGKILL);
        }
    }
}

/// How the lab learns when a backend stopped accepting.
pub enum StopWatch {
    /// The built-in server reports it on stdout.
    Reported(Option<mpsc::Receiver<i64>>),
    /// A thread in the backend's namespace connects to it every 100 us
    /// until a connect is refused (reading /proc/net/tcp instead walks the
    /// kernel's whole socket hash and lags by milliseconds).
    Polled(mpsc::Receiver<i64>),
}

impl StopWatch {
    fn polled(ns: &Netns, addr: SocketAddrV4) -> StopWatch {
        let (tx, rx) = mpsc::channel();
        let _ = ns.spawn_thread(move || {
            let deadline = Instant::now() + Duration::from_secs(60);
            while Instant::now() < deadline {
                let attempt = now_ns();
                match TcpStream::connect_timeout(&addr.into(), Duration::from_millis(50)) {
                    Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
                        let _ = tx.send(attempt);
                        return;
                    }
                    _ => std::thread::sleep(Duration::from_micros(100)),
                }
            }
        });
        StopWatch::Polled(rx)
    }

    /// The stop time, waiting up to `timeout` for it.
    pub fn get(self, timeout: Duration) -> Option<i64> {
        match self {
            StopWatch::Reported(Some(rx)) | StopWatch::Polled(rx) => rx.recv_timeout(timeout).ok(),
            StopWatch::Reported(None) => None,
        }
    }
}

/// One HTTP/1.0 GET; Ok when the answer is 200 from `pod`.
pub fn http_check(addr: SocketAddrV4, pod: &str) -> Result<(), String> {
    let mut s = TcpStream::connect_timeout(&addr.into(), Duration::from_millis(200))
        .map_err(|e| format!("connect {addr}: {e}"))?;
    let _ = s.set_read_timeout(Some(Duration::from_millis(500)));
    s.write_all(b"GET / HTTP/1.0\r\nHost: lab\r\nUser-Agent: kubelet-lab\r\n\r\n")
        .map_err(|e| format!("write: {e}"))?;
    let mut resp = String::new();
    let _ = s.read_to_string(&mut resp);
    let ok = resp.starts_with("HTTP/1.") && resp.split(' ').nth(1) == Some("200");
    let named = resp
        .lines()
        .any(|l| l.to_ascii_lowercase().starts_with("x-pod-name:") && l.trim_end().ends_with(pod));
    if ok && named {
        Ok(())
    } else {
        Err(format!(
            "unexpected answer: {:?}",
            resp.lines().next().unwrap_or("")
        ))
    }
}
