//! Named network namespaces inside the lab's private world (`ip netns`
//! under a private /run), and running code or processes inside them.
//!
//! Ownership: an [`OwnedNetns`] is the one owner of a namespace and removes
//! it exactly once, by [`OwnedNetns::delete`] or when dropped; [`Netns`] is
//! a handle (its name) that any number of threads may hold to enter it, and
//! never removes it.
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

/// A handle to a named network namespace (`/run/netns/NAME`): enters it,
/// never removes it.
#[derive(Debug, Clone)]
pub struct Netns {
    /// Its name.
    pub name: String,
}

/// The owner of a named network namespace: removes it exactly once, by
/// [`OwnedNetns::delete`] (which reports an error) or on drop (which logs
/// it). Dereferences to its [`Netns`] handle.
#[derive(Debug)]
pub struct OwnedNetns {
    ns: Netns,
    removed: bool,
}

impl OwnedNetns {
    /// Creates the namespace and brings its loopback up.
    pub fn create(name: &str) -> Result<OwnedNetns, NetnsError> {
        Ok(OwnedNetns {
            ns: Netns::create(name)?,
            removed: false,
        })
    }

    /// A handle for others to enter it.
    pub fn handle(&self) -> Netns {
        self.ns.clone()
    }

    /// Removes the namespace's name now; the namespace itself goes when the
    /// last process in it exits.
    pub fn delete(mut self) -> Result<(), NetnsError> {
        self.removed = true;
        self.ns.remove()
    }
}

impl std::ops::Deref for OwnedNetns {
    type Target = Netns;
    fn deref(&self) -> &Netns {
        &self.ns
    }
}

impl Drop for OwnedNetns {
    fn drop(&mut self) {
        if !self.removed {
            self.removed = true;
            if let Err(e) = self.ns.remove() {
                tracing::warn!("removing network namespace {}: {e}", self.ns.name);
            }
        }
    }
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
    /// Creates the namespace and brings its loopback up, with no owner: it
    /// lives until the lab's world ends. The lab's own actors use
    /// [`OwnedNetns::create`].
    pub fn create(name: &str) -> Result<Netns, NetnsError> {
        ip(&["netns", "add", name])?;
        ip(&["-n", name, "link", "set", "lo", "up"])?;
        Ok(Netns { name: name.into() })
    }

    /// Removes the name of a namespace made by [`Netns::create`] (unowned).
    /// An [`OwnedNetns`] removes its own; never call this on its handle.
    pub fn delete(&self) -> Result<(), NetnsError> {
        self.remove()
    }

    fn remove(&self) -> Result<(), NetnsError> {
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
