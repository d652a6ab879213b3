//! Isolation: the lab runs inside
//! `unshare --net --mount --pid --fork --mount-proc --kill-child` (plus
//! `--user --map-root-user` without real root). Its inner process is PID 1
//! of a new PID namespace: when it dies, however it dies, the kernel kills
//! every process inside, and the network namespaces with their links and
//! rules go with them. Nothing is ever created in the host's namespaces.
//!
//! The outer process (the one the user started) supervises: it forwards
//! SIGINT/SIGTERM to the inner lab, and `unshare` gets SIGKILL through
//! PR_SET_PDEATHSIG if the outer process is killed, which in turn
//! (`--kill-child`) kills the inner lab.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

/// What is missing to run the lab.
#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    /// A required program is not on PATH.
    #[error("{program} not found on PATH: install {package}")]
    Missing {
        /// The program.
        program: &'static str,
        /// The Debian package providing it.
        package: &'static str,
    },
    /// User namespaces are not available to this user.
    #[error(
        "the lab needs root or unprivileged user namespaces, and {0}; \
         run as root, or enable them (sysctl user.max_user_namespaces, \
         kernel.unprivileged_userns_clone, kernel.apparmor_restrict_unprivileged_userns)"
    )]
    NoUserNamespaces(String),
    /// Creating the namespaces failed (e.g. no CAP_SYS_ADMIN/CAP_NET_ADMIN in a container).
    #[error(
        "creating the lab's private namespaces failed: {0}; the lab needs CAP_SYS_ADMIN and \
         CAP_NET_ADMIN (root on the host, or a privileged container)"
    )]
    Unshare(String),
    /// Starting the sandbox failed.
    #[error("could not start unshare")]
    Spawn(#[source] std::io::Error),
}

/// True when on PATH.
pub fn on_path(program: &str) -> bool {
    which(program).is_some()
}

/// The full path of a program on PATH.
pub fn which(program: &str) -> Option<PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?)
        .chain(["/usr/sbin".into(), "/sbin".into()])
        .map(|d| d.join(program))
        .find(|p| p.is_file())
}

/// Checks programs the lab needs.
pub fn require(programs: &[(&'static str, &'static str)]) -> Result<(), SandboxError> {
    for &(program, package) in programs {
        if !on_path(program) {
            return Err(SandboxError::Missing { program, package });
        }
    }
    Ok(())
}

/// True when running as real root (no user namespace needed).
pub fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

fn read_sysctl(path: &str) -> Option<i64> {
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
}

/// The unshare arguments for the private world.
pub fn unshare_args(rootless: bool) -> Vec<&'static str> {
    let mut v = Vec::new();
    if rootless {
        v.extend(["--user", "--map-root-user"]);
    }
    v.extend([
        "--net",
        "--mount",
        "--pid",
        "--fork",
        "--mount-proc",
        "--kill-child",
    ]);
    v
}

/// Tries the namespaces once with `true`, to turn a kernel refusal into a
/// clear message before anything starts.
pub fn check_namespaces(rootless: bool) -> Result<(), SandboxError> {
    if rootless {
        if read_sysctl("/proc/sys/user/max_user_namespaces") == Some(0) {
            return Err(SandboxError::NoUserNamespaces(
                "user.max_user_namespaces is 0".into(),
            ));
        }
        if read_sysctl("/proc/sys/kernel/unprivileged_userns_clone") == Some(0) {
            return Err(SandboxError::NoUserNamespaces(
                "kernel.unprivileged_userns_clone is 0".into(),
            ));
        }
    }
    let out = Command::new("unshare")
        .args(unshare_args(rootless))
        .arg("true")
        .stdin(Stdio::null())
        .output()
        .map_err(SandboxError::Spawn)?;
    if out.status.success() {
        return Ok(());
    }
    let msg = String::from_utf8_lossy(&out.stderr).trim().to_owned();
    if rootless {
        Err(SandboxError::NoUserNamespaces(format!(
            "unshare --user failed: {msg}"
        )))
    } else {
        Err(SandboxError::Unshare(msg))
    }
}

/// Starts `unshare ... -- lab_bin ARGS` with PR_SET_PDEATHSIG, so the
/// sandbox dies with the calling thread, its stdin empty. Call it from a
/// thread that lives as long as the lab (the main thread).
pub fn spawn_world(
    rootless: bool,
    lab_bin: &Path,
    args: &[std::ffi::OsString],
) -> Result<Child, SandboxError> {
    spawn_world_with(rootless, lab_bin, args, None)
}

/// [`spawn_world`], writing `stdin` (e.g. the inner lab's configuration)
/// to the sandboxed process's stdin when given.
#[allow(unsafe_code)]
pub fn spawn_world_with(
    rootless: bool,
    lab_bin: &Path,
    args: &[std::ffi::OsString],
    stdin: Option<&[u8]>,
) -> Result<Child, SandboxError> {
    let mut cmd = Command::new("unshare");
    cmd.args(unshare_args(rootless))
        .arg("--")
        .arg(lab_bin)
        .args(args)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        });
    let parent = std::process::id() as i32;
    // SAFETY: the closure runs in the child between fork and exec, and only
    // makes two async-signal-safe system calls (prctl, getppid) and
    // `_exit`-equivalent process exit through a plain return of an error;
    // it touches no lock, allocator or shared state.
    unsafe {
        std::os::unix::process::CommandExt::pre_exec(&mut cmd, move || {
            nix::sys::prctl::set_pdeathsig(nix::sys::signal::Signal::SIGKILL)?;
            // The parent may have died before prctl: then nobody would ever
            // kill the sandbox, so refuse to start it.
            if nix::unistd::getppid().as_raw() != parent {
                return Err(std::io::Error::other("parent exited"));
            }
            Ok(())
        });
    }
    let mut child = cmd.spawn().map_err(SandboxError::Spawn)?;
    if let (Some(mut pipe), Some(bytes)) = (child.stdin.take(), stdin) {
        // Dropping the pipe afterwards is the end of the input. A failed
        // write shows as the inner lab's error about its stdin.
        if let Err(e) = std::io::Write::write_all(&mut pipe, bytes) {
            tracing::warn!("writing the inner lab's configuration: {e}");
        }
    }
    Ok(child)
}

/// The PID (in the host's PID namespace) of unshare's child, the inner lab.
pub fn inner_pid(unshare_pid: u32) -> Option<i32> {
    let text =
        std::fs::read_to_string(format!("/proc/{unshare_pid}/task/{unshare_pid}/children")).ok()?;
    text.split_whitespace().next()?.parse().ok()
}

/// Inside the world: a private /run (for `ip netns` and iptables' lock, so
/// nothing lands in the host's /run) and loopback up.
pub fn prepare_inside() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    use nix::mount::{MsFlags, mount};
    mount(
        Some("tmpfs"),
        "/run",
        Some("tmpfs"),
        MsFlags::MS_NOSUID | MsFlags::MS_NODEV,
        Some("mode=0755"),
    )?;
    std::fs::create_dir_all("/run/netns")?;
    super::netns::ip(&["link", "set", "lo", "up"])?;
    Ok(())
}
