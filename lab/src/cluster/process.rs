//! A component the lab started: its own process, its log in a file, ended
//! by PID (SIGTERM, then SIGKILL) when dropped.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

/// A component failed to start or died.
#[derive(Debug, thiserror::Error)]
pub enum ProcessError {
    /// The program could not be started.
    #[error("starting {name} ({program}) failed")]
    Spawn {
        /// The component.
        name: String,
        /// The program.
        program: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// Creating its log failed.
    #[error("creating the log {0}")]
    Log(PathBuf, #[source] std::io::Error),
    /// It exited.
    #[error("{name} exited ({status}); the end of its log ({log}):\n{tail}")]
    Exited {
        /// The component.
        name: String,
        /// How it ended.
        status: String,
        /// Its log file.
        log: PathBuf,
        /// The last lines of the log.
        tail: String,
    },
}

/// A running component.
#[derive(Debug)]
pub struct Component {
    /// Its name (etcd, kube-apiserver, ...).
    pub name: String,
    /// Its log (stdout and stderr).
    pub log: PathBuf,
    child: Child,
}

impl Component {
    /// Starts `cmd` with stdout and stderr in `log_dir/<name>.log`.
    pub fn start(name: &str, mut cmd: Command, log_dir: &Path) -> Result<Component, ProcessError> {
        let log = log_dir.join(format!("{name}.log"));
        let out = File::create(&log).map_err(|e| ProcessError::Log(log.clone(), e))?;
        let err = out
            .try_clone()
            .map_err(|e| ProcessError::Log(log.clone(), e))?;
        let program = PathBuf::from(cmd.get_program());
        tracing::debug!("starting {name}: {cmd:?}");
        let child = cmd
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .map_err(|source| ProcessError::Spawn {
                name: name.into(),
                program,
                source,
            })?;
        Ok(Component {
            name: name.into(),
            log,
            child,
        })
    }

    /// Its PID.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Ok while it runs; its exit and the end of its log once it has died.
    pub fn check(&mut self) -> Result<(), ProcessError> {
        match self.child.try_wait() {
            Ok(None) => Ok(()),
            Ok(Some(status)) => Err(self.exited(status.to_string())),
            Err(e) => Err(self.exited(format!("unknown: {e}"))),
        }
    }

    fn exited(&self, status: String) -> ProcessError {
        ProcessError::Exited {
            name: self.name.clone(),
            status,
            log: self.log.clone(),
            tail: tail(&self.log, 15),
        }
    }

    /// SIGTERM, up to `grace` to exit, then SIGKILL; reaps it.
    pub fn stop(&mut self, grace: Duration) {
        if matches!(self.child.try_wait(), Ok(Some(_))) {
            return;
        }
        let pid = Pid::from_raw(self.child.id() as i32);
        let _ = kill(pid, Signal::SIGTERM);
        let deadline = Instant::now() + grace;
        while Instant::now() < deadline {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Component {
    fn drop(&mut self) {
        self.stop(Duration::from_secs(2));
    }
}

/// The last `n` lines of a file (what a failing component said last).
pub fn tail(path: &Path, n: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}
