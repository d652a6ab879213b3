//! Named network namespaces inside the lab's private world (`ip netns`
//! under a private /run), and running code or processes inside them.
//!
//! A thread that calls setns(CLONE_NEWNET) changes only its own namespace:
//! sockets it opens, /proc/sys/net it writes and processes it spawns live in
//! the target namespace, while the rest of the lab stays where it is.

use std::fs::File;
use std::io::Write;
use std::process::{Child, Command, Stdio};

use nix::sched::{CloneFlags, setns};

/// Errors around namespaces and the `ip` tool.
#[derive(Debug, thiserror::Error)]
pub enum NetnsError {
    /// A tool could not be started.
    #[error("could not run {tool} (is it installed?)")]
    Spawn {
        /// The tool.
        tool: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A tool failed.
    #[error("{what} failed: {stderr}")]
    Failed {
        /// The command.
        what: String,
        /// Its error output.
        stderr: String,
    },
    /// Entering a namespace failed.
    #[error("could not enter network namespace {name}")]
    Enter {
        /// The namespace.
        name: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// Writing a sysctl failed.
    #[error("could not set {key} in {name}")]
    Sysctl {
        /// The key.
        key: String,
        /// The namespace.
        name: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

/// A named network namespace (`/run/netns/NAME`).
#[derive(Debug, Clone)]
pub struct Netns {
    /// Its name.
    pub name: String,
}

/// Runs `ip ARGS...`, failing with its stderr.
pub fn ip(args: &[&str]) -> Result<(), NetnsError> {
    run_tool("ip", args, None)
}

/// Runs `ip -n NS -batch -` with the given command lines.
pub fn ip_batch(ns: Option<&str>, lines: &[String]) -> Result<(), NetnsError> {
    let mut args = Vec::new();
    if let Some(ns) = ns {
        args.extend(["-n", ns]);
    }
    args.extend(["-batch", "-"]);
    run_tool("ip", &args, Some(lines.join("\n") + "\n"))
}

fn run_tool(tool: &str, args: &[&str], stdin: Option<String>) -> Result<(), NetnsError> {
    let mut child = Command::new(tool)
        .args(args)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|source| NetnsError::Spawn {
            tool: tool.into(),
            source,
        })?;
    if let (Some(text), Some(mut pipe)) = (stdin, child.stdin.take()) {
        // A write error shows up as the tool's failure below.
        let _ = pipe.write_all(text.as_bytes());
    }
    let out = child
        .wait_with_output()
        .map_err(|source| NetnsError::Spawn {
            tool: tool.into(),
            source,
        })?;
    if out.status.success() {
        Ok(())
    } else {
        Err(NetnsError::Failed {
            what: format!("{tool} {}", args.join(" ")),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_owned(),
        })
    }
}

impl Netns {
    /// Creates the namespace and brings its loopback up.
    pub fn create(name: &str) -> Result<Netns, NetnsError> {
        ip(&["netns", "add", name])?;
        ip(&["-n", name, "link", "set", "lo", "up"])?;
        Ok(Netns { name: name.into() })
    }

    /// Deletes the namespace's name; the namespace itself goes when the last
    /// process in it exits.
    pub fn delete(&self) -> Result<(), NetnsError> {
        ip(&["netns", "delete", &self.name])
    }

    /// Moves the calling thread into this namespace. Only for threads that
    /// do nothing else afterwards (see [`Netns::run`]).
    fn enter(&self) -> Result<(), NetnsError> {
        let f = File::open(format!("/run/netns/{}", self.name)).map_err(|source| {
            NetnsError::Enter {
                name: self.name.clone(),
                source,
            }
        })?;
        setns(&f, CloneFlags::CLONE_NEWNET).map_err(|e| NetnsError::Enter {
            name: self.name.clone(),
            source: e.into(),
        })
    }

    /// Runs `f` on a new thread inside this namespace and returns its result.
    pub fn run<T: Send>(&self, f: impl FnOnce() -> T + Send) -> Result<T, NetnsError> {
        std::thread::scope(|s| {
            s.spawn(|| {
                self.enter()?;
                Ok(f())
            })
            .join()
            .unwrap_or_else(|p| std::panic::resume_unwind(p))
        })
    }

    /// Spawns a long-lived thread inside this namespace.
    pub fn spawn_thread<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> std::thread::JoinHandle<Result<T, NetnsError>> {
        let ns = self.clone();
        std::thread::spawn(move || {
            ns.enter()?;
            Ok(f())
        })
    }

    /// Spawns a process inside this namespace.
    pub fn spawn(&self, cmd: &mut Command) -> Result<Child, NetnsError> {
        let tool = cmd.get_program().to_string_lossy().into_owned();
        self.run(|| cmd.spawn())?
            .map_err(|source| NetnsError::Spawn { tool, source })
    }

    /// Sets sysctls under /proc/sys (keys with dots, e.g.
    /// `net.ipv4.ip_forward`) inside this namespace.
    pub fn sysctls(&self, pairs: &[(&str, &str)]) -> Result<(), NetnsError> {
        self.run(|| {
            for (key, value) in pairs {
                let path = format!("/proc/sys/{}", key.replace('.', "/"));
                std::fs::write(&path, value).map_err(|source| NetnsError::Sysctl {
                    key: (*key).into(),
                    name: self.name.clone(),
                    source,
                })?;
            }
            Ok(())
        })?
    }
}
