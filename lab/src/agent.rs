//! Finding and running seamless-agent inside the probing node's namespace.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill, killpg};
use nix::unistd::Pid;

use crate::host::netns::{Netns, NetnsError};

/// The agent's binary name.
pub const AGENT_BIN: &str = "seamless-agent";

/// The agent binary was not found.
#[derive(Debug, thiserror::Error)]
#[error(
    "seamless-agent not found (looked in {looked}); build it with \
     `cargo build -p seamless-agent` or pass --agent-bin PATH"
)]
pub struct AgentNotFound {
    looked: String,
}

/// Finds seamless-agent: `explicit` if given, else next to `exe` (and one
/// directory up, where cargo keeps binaries when `exe` is a test in
/// `target/<profile>/deps`), else on PATH.
pub fn find_agent(explicit: Option<&Path>, exe: Option<&Path>) -> Result<PathBuf, AgentNotFound> {
    let mut looked = Vec::new();
    if let Some(p) = explicit {
        if p.is_file() {
            return Ok(absolute(p));
        }
        looked.push(p.display().to_string());
    }
    if let Some(dir) = exe.and_then(Path::parent) {
        for d in [Some(dir), dir.parent()].into_iter().flatten() {
            let p = d.join(AGENT_BIN);
            if p.is_file() {
                return Ok(p);
            }
            looked.push(d.display().to_string());
        }
    }
    if let Some(path) = std::env::var_os("PATH") {
        for d in std::env::split_paths(&path) {
            let p = d.join(AGENT_BIN);
            if p.is_file() {
                return Ok(p);
            }
        }
        looked.push("PATH".into());
    }
    Err(AgentNotFound {
        looked: looked.join(", "),
    })
}

fn absolute(p: &Path) -> PathBuf {
    std::path::absolute(p).unwrap_or_else(|_| p.to_owned())
}

/// A running agent.
#[derive(Debug)]
pub struct Agent {
    child: Child,
    /// Where its stderr goes (its summary and warnings, once a run).
    stderr: PathBuf,
}

impl Agent {
    /// Starts `seamless-agent probe URL` in `ns` (with `modes`, the
    /// agent's `--mode`/`--pool` flags, [`crate::shutdown::agent_args`]), its own process group so a
    /// Ctrl+C reaches the lab, which stops the agent in order. Its stderr
    /// (the summary, the warnings about ports and descriptors, every run
    /// alike) goes to `agent-<node>.txt` beside the log, not to the
    /// matrix's output; [`Agent::said`] gives its end when it fails.
    pub fn start(
        ns: &Netns,
        bin: &Path,
        url: &str,
        rate: f64,
        modes: &[String],
        out: &Path,
        node: &str,
    ) -> Result<Agent, NetnsError> {
        let stderr = out.with_file_name(format!("agent-{node}.txt"));
        let file = std::fs::File::create(&stderr).map_err(|e| NetnsError::Failed {
            what: format!("creating the agent's stderr file {}", stderr.display()),
            stderr: e.to_string(),
        })?;
        let mut cmd = Command::new(bin);
        cmd.args(["probe", url, "--rate", &rate.to_string()])
            .args(modes)
            .args(["--backend-header", "X-Pod-Name", "--timeout", "1s", "--out"])
            .arg(out)
            .env("NODE_NAME", node)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::from(file));
        std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
        Ok(Agent {
            child: ns.spawn(&mut cmd)?,
            stderr,
        })
    }

    /// The last lines the agent wrote to stderr.
    pub fn said(&self) -> String {
        let text = std::fs::read_to_string(&self.stderr).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(8)..].join("\n")
    }

    /// The exit status if the agent has already exited.
    pub fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    /// SIGTERM, then waits up to `timeout` for the agent to flush and exit
    /// (SIGKILL after that). Returns its exit status when it exited by itself.
    pub fn stop(mut self, timeout: Duration) -> Option<std::process::ExitStatus> {
        let _ = kill(Pid::from_raw(self.child.id() as i32), Signal::SIGTERM);
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Some(s) = self.exited() {
                return Some(s);
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        None
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        // On an error or an interrupt: SIGTERM first, so the agent flushes
        // what it has recorded.
        if self.exited().is_some() {
            return;
        }
        let _ = kill(Pid::from_raw(self.child.id() as i32), Signal::SIGTERM);
        let deadline = Instant::now() + Duration::from_secs(3);
        while self.exited().is_none() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        if self.exited().is_none() {
            let _ = killpg(Pid::from_raw(self.child.id() as i32), Signal::SIGKILL);
            let _ = self.child.wait();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_next_to_exe_or_one_up_and_reports_where_it_looked() {
        let dir = tempfile::tempdir().unwrap();
        let deps = dir.path().join("deps");
        std::fs::create_dir(&deps).unwrap();
        let exe = deps.join("lab-abc123");
        // Not present anywhere we look (PATH has no seamless-agent in CI
        // unless installed; the explicit path is checked first).
        let missing = dir.path().join("nope");
        let err = find_agent(Some(&missing), Some(&exe));
        if let Err(e) = &err {
            assert!(e.to_string().contains("--agent-bin"));
        }
        std::fs::write(dir.path().join(AGENT_BIN), b"").unwrap();
        assert_eq!(
            find_agent(None, Some(&exe)).unwrap(),
            dir.path().join(AGENT_BIN)
        );
        std::fs::write(deps.join(AGENT_BIN), b"").unwrap();
        assert_eq!(find_agent(None, Some(&exe)).unwrap(), deps.join(AGENT_BIN));
        assert_eq!(
            find_agent(Some(&dir.path().join(AGENT_BIN)), None).unwrap(),
            dir.path().join(AGENT_BIN)
        );
    }
}
