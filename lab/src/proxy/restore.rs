//! Applying rules: one `iptables-restore --noflush` transaction, with the
//! commit held until a chosen moment and timed on the data path.

use std::io::Write;
use std::net::SocketAddrV4;
use std::os::fd::{AsRawFd, OwnedFd};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use seamless_proto::clock::now_ns;
use seamless_proto::run::CommitSeenBy;

/// Errors applying rules.
#[derive(Debug, thiserror::Error)]
pub enum ProxyError {
    /// The iptables-restore binary could not be run.
    #[error("could not run iptables-restore (is the iptables package installed?)")]
    Spawn(#[source] std::io::Error),
    /// iptables-restore refused the transaction.
    #[error("iptables-restore failed ({status}): {stderr}")]
    Restore {
        /// Its exit status.
        status: std::process::ExitStatus,
        /// What it said.
        stderr: String,
    },
}

/// The lab's commit canary (not kube-proxy's): a DNAT from `from` (a port
/// nothing listens on) to `to` (a listener the lab opens), present in the
/// rules before a timed sync and absent from that sync's transaction. The
/// kernel switches every rule of a transaction at once, so the first
/// connect to `from` that is refused tells when the stale endpoint left.
#[derive(Debug, Clone, Copy)]
pub struct Canary {
    /// Where the lab connects.
    pub from: SocketAddrV4,
    /// Where the rule sends it while present.
    pub to: SocketAddrV4,
}

/// When a transaction ran.
///
/// Timing the commit needs care: iptables-restore (nft backend) commits when
/// it reads the `COMMIT` line, but then spends ~15 ms closing its netlink
/// socket before it exits, so its exit time is far too late. The lab
/// therefore starts iptables-restore early with everything but the final
/// `COMMIT` line, writes that line at the chosen moment, and learns the
/// commit from the data path when a [`Canary`] is given: right after the
/// `COMMIT` line the lab connects to the canary back to back (a local
/// connect takes tens of microseconds) until one is refused, and the start of
/// that connect is the commit time, give or take one connect. Without a
/// canary it learns the
/// commit from the kernel: a netlink socket in the node's namespace, joined
/// to the nftables multicast group, receives the ruleset's change
/// notifications, which the kernel sends right after it switched to the new
/// rules. Where that socket cannot be had, the lab watches the process in
/// /proc until it is back reading stdin after the commit.
#[derive(Debug, Clone, Copy)]
pub struct Applied {
    /// Wall-clock ns when the `COMMIT` line was written (the commit is after).
    pub started_ns: i64,
    /// Wall-clock ns when iptables-restore was seen back reading stdin after
    /// the commit (the exit time when /proc could not tell).
    pub committed_ns: i64,
    /// Wall-clock ns after iptables-restore exited.
    pub exited_ns: i64,
    /// How `committed_ns` was learnt: the first refused connect through the
    /// canary rule, the kernel's notification, iptables-restore seen back
    /// reading stdin, or its exit.
    pub method: CommitSeenBy,
}

/// Runs `iptables-restore --noflush` with `rules` on stdin, in the calling
/// thread's network namespace, committing as soon as it is ready.
pub fn restore(rules: &str) -> Result<Applied, ProxyError> {
    restore_at(rules, None, None)
}

/// Like [`restore`], but holds the final `COMMIT` line until `at`, and
/// times the commit through `canary` when given (the rules must remove it).
pub fn restore_at(
    rules: &str,
    at: Option<Instant>,
    canary: Option<Canary>,
) -> Result<Applied, ProxyError> {
    let body = rules.strip_suffix("COMMIT\n").unwrap_or(rules);
    let mut child = Command::new("iptables-restore")
        .arg("--noflush")
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(ProxyError::Spawn)?;
    let pid = child.id();
    let mut stdin = child.stdin.take();
    let mut write = |bytes: &[u8]| match stdin.as_mut() {
        Some(w) => w.write_all(bytes).and_then(|_| w.flush()),
        None => Ok(()),
    };
    let mut ok = write(body.as_bytes()).is_ok();
    let monitor = if at.is_some() {
        crate::host::nftables::notifications(nix::sys::time::TimeVal::new(1, 0)).ok()
    } else {
        None
    };
    let ready = if ok {
        wait_reading_stdin(pid, None)
    } else {
        None
    };
    let canary = canary.and_then(CanaryWatch::open);
    if let Some(at) = at {
        std::thread::sleep(at.saturating_duration_since(Instant::now()));
    }
    let started_ns = now_ns();
    if body.len() != rules.len() {
        ok &= write(b"COMMIT\n").is_ok();
    }
    let (committed, method) = match (&monitor, ready) {
        _ if ok && canary.is_some() => (
            canary.as_ref().and_then(CanaryWatch::wait),
            CommitSeenBy::Canary,
        ),
        (Some(fd), _) if ok => (wait_notification(fd), CommitSeenBy::Netlink),
        (None, Some(v0)) if ok => (
            wait_reading_stdin(pid, Some(v0)).map(|_| now_ns()),
            CommitSeenBy::Proc,
        ),
        _ => (None, CommitSeenBy::Exit),
    };
    let method = if committed.is_some() {
        method
    } else {
        CommitSeenBy::Exit
    };
    drop(stdin);
    let out = child.wait_with_output().map_err(ProxyError::Spawn)?;
    let exited_ns = now_ns();
    if !out.status.success() {
        return Err(ProxyError::Restore {
            status: out.status,
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_owned(),
        });
    }
    Ok(Applied {
        started_ns,
        committed_ns: committed.unwrap_or(exited_ns),
        exited_ns,
        method,
    })
}

/// The listening end of a [`Canary`], in the calling thread's namespace.
struct CanaryWatch {
    canary: Canary,
    listener: std::net::TcpListener,
}

impl CanaryWatch {
    /// Listens on the canary's target and checks one connect goes through;
    /// None when the canary is not in place.
    fn open(canary: Canary) -> Option<CanaryWatch> {
        let listener = std::net::TcpListener::bind(canary.to).ok()?;
        listener.set_nonblocking(true).ok()?;
        let w = CanaryWatch { canary, listener };
        w.connect().ok()?;
        Some(w)
    }

    fn connect(&self) -> std::io::Result<()> {
        let s = std::net::TcpStream::connect_timeout(
            &self.canary.from.into(),
            Duration::from_millis(100),
        )?;
        drop(s);
        // Accept what is queued, so the backlog never fills.
        while self.listener.accept().is_ok() {}
        Ok(())
    }

    /// Connects back to back until refused (up to 2 s); returns the start of
    /// the refused connect.
    fn wait(&self) -> Option<i64> {
        let deadline = Instant::now() + Duration::from_secs(2);
        while Instant::now() < deadline {
            let t = now_ns();
            match self.connect() {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => return Some(t),
                Err(_) => return None,
            }
        }
        None
    }
}

/// Blocks until the first nftables notification arrives (up to 1 s) and
/// returns the wall-clock ns right after it.
fn wait_notification(fd: &OwnedFd) -> Option<i64> {
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = nix::sys::socket::recv(
            fd.as_raw_fd(),
            &mut buf,
            nix::sys::socket::MsgFlags::empty(),
        )
        .ok()?;
        let ts = now_ns();
        // struct nlmsghdr: u32 length, u16 type (subsystem << 8 | message).
        if n >= 6
            && u16::from_ne_bytes([buf[4], buf[5]]) >> 8
                == crate::host::nftables::NFNL_SUBSYS_NFTABLES
        {
            return Some(ts);
        }
    }
}

/// Waits until `pid` is blocked in read(0, ...) — and, with `after`, has
/// blocked voluntarily more often than `after` times (so it has read what
/// was written since and come back). Returns its voluntary context-switch
/// count then, or None when /proc cannot tell (gone, no permission, 1 s).
fn wait_reading_stdin(pid: u32, after: Option<u64>) -> Option<u64> {
    let deadline = Instant::now() + Duration::from_secs(1);
    let syscall = format!("/proc/{pid}/syscall");
    let status = format!("/proc/{pid}/status");
    while Instant::now() < deadline {
        let sc = std::fs::read_to_string(&syscall).ok()?;
        if sc.starts_with("0 0x0 ") {
            let st = std::fs::read_to_string(&status).ok()?;
            let v = st
                .lines()
                .find_map(|l| l.strip_prefix("voluntary_ctxt_switches:"))
                .and_then(|v| v.trim().parse::<u64>().ok())?;
            if after.is_none_or(|a| v > a) {
                return Some(v);
            }
        }
        if after.is_none() {
            std::thread::sleep(Duration::from_micros(200));
        } else {
            // Yield rather than spin: on a busy machine iptables-restore
            // needs the CPU to get to its commit.
            std::thread::yield_now();
        }
    }
    None
}
