//! kube-proxy (iptables mode) in miniature: the nat chains of one Service,
//! rendered as one `iptables-restore --noflush` transaction per endpoint
//! change, as kube-proxy writes them.
//!
//! ```text
//! PREROUTING, OUTPUT -> KUBE-SERVICES      POSTROUTING -> KUBE-POSTROUTING
//! KUBE-SERVICES  -d VIP --dport 80        -> KUBE-SVC-<hash>
//! KUBE-SERVICES  --dst-type LOCAL         -> KUBE-NODEPORTS
//! KUBE-NODEPORTS --dport 30080            -> KUBE-EXT-<hash> -> MARK-MASQ, KUBE-SVC-<hash>
//! KUBE-SVC-<hash> statistic random        -> KUBE-SEP-<hash> (one per endpoint)
//! KUBE-SEP-<hash> -s self -> MARK-MASQ;  DNAT --to-destination ip:port
//! KUBE-POSTROUTING mark 0x4000            -> MASQUERADE --random-fully
//! ```

use std::io::Write;
use std::net::SocketAddrV4;
use std::os::fd::{AsRawFd, OwnedFd};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::clock::now_ns;

/// The Service the lab emulates.
#[derive(Debug, Clone)]
pub struct Service {
    /// `namespace/name`, hashed into chain names and written in comments.
    pub name: String,
    /// ClusterIP and port.
    pub cluster_ip: SocketAddrV4,
    /// NodePort.
    pub node_port: u16,
    /// The pod CIDR: traffic from outside it to the ClusterIP is masqueraded.
    pub cluster_cidr: String,
}

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

/// Chain name suffix as kube-proxy builds it: a hash of what the chain is
/// for, 16 characters of base32-like text.
pub fn chain_hash(what: &str) -> String {
    // FNV-1a 64: stable and dependency-free; collisions are irrelevant at
    // the lab's handful of chains.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in what.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    (0..16)
        .map(|i| ALPHABET[((h >> ((i * 4) % 60)) & 31) as usize] as char)
        .collect()
}

impl Service {
    fn svc_chain(&self) -> String {
        format!("KUBE-SVC-{}", chain_hash(&format!("{}:http", self.name)))
    }

    fn ext_chain(&self) -> String {
        format!("KUBE-EXT-{}", chain_hash(&format!("{}:http", self.name)))
    }

    /// The KUBE-SEP chain of one endpoint.
    pub fn sep_chain(&self, ep: SocketAddrV4) -> String {
        format!(
            "KUBE-SEP-{}",
            chain_hash(&format!("{}:http:{ep}", self.name))
        )
    }

    /// The jumps from the built-in chains, installed once when the node
    /// starts (kube-proxy checks and inserts these outside its restore).
    pub fn base_rules(&self) -> String {
        "*nat\n\
         :KUBE-SERVICES - [0:0]\n\
         :KUBE-POSTROUTING - [0:0]\n\
         -A PREROUTING -m comment --comment \"kubernetes service portals\" -j KUBE-SERVICES\n\
         -A OUTPUT -m comment --comment \"kubernetes service portals\" -j KUBE-SERVICES\n\
         -A POSTROUTING -m comment --comment \"kubernetes postrouting rules\" -j KUBE-POSTROUTING\n\
         COMMIT\n"
            .to_owned()
    }

    /// The lab's own instrumentation (not kube-proxy's): marks the conntrack
    /// entry of every connection a backend answered with RST (a refused
    /// connect, or a reset at the kill), so the optional conntrack cleanup
    /// deletes exactly those and nothing else.
    pub fn mark_rules() -> &'static str {
        "*mangle\n\
         -A INPUT -p tcp -m tcp --tcp-flags RST RST -m conntrack --ctdir REPLY \
         -m comment --comment \"seamless lab: reset by a backend\" \
         -j CONNMARK --set-xmark 0x1/0x1\n\
         COMMIT\n"
    }

    /// One sync: every kube-proxy chain re-declared (which flushes it) and
    /// refilled for `endpoints`; the KUBE-SEP chains of `stale` endpoints
    /// deleted, all in one transaction.
    pub fn sync_rules(&self, endpoints: &[SocketAddrV4], stale: &[SocketAddrV4]) -> String {
        self.sync_rules_with(endpoints, stale, None)
    }

    /// [`Service::sync_rules`], plus the lab's commit canary when given.
    pub fn sync_rules_with(
        &self,
        endpoints: &[SocketAddrV4],
        stale: &[SocketAddrV4],
        canary: Option<Canary>,
    ) -> String {
        let svc = self.svc_chain();
        let ext = self.ext_chain();
        let vip = self.cluster_ip;
        let name = &self.name;
        let mut s = String::from("*nat\n");
        for chain in [
            "KUBE-SERVICES",
            "KUBE-NODEPORTS",
            "KUBE-POSTROUTING",
            "KUBE-MARK-MASQ",
            &svc,
            &ext,
        ] {
            s += &format!(":{chain} - [0:0]\n");
        }
        for ep in endpoints.iter().chain(stale) {
            s += &format!(":{} - [0:0]\n", self.sep_chain(*ep));
        }
        s += "-A KUBE-POSTROUTING -m mark ! --mark 0x4000/0x4000 -j RETURN\n";
        s += "-A KUBE-POSTROUTING -j MARK --xor-mark 0x4000\n";
        s += "-A KUBE-POSTROUTING -m comment --comment \"kubernetes service traffic requiring SNAT\" -j MASQUERADE --random-fully\n";
        s += "-A KUBE-MARK-MASQ -j MARK --or-mark 0x4000\n";
        s += &format!(
            "-A KUBE-SERVICES -d {}/32 -p tcp -m comment --comment \"{name}:http cluster IP\" -m tcp --dport {} -j {svc}\n",
            vip.ip(),
            vip.port()
        );
        if let Some(c) = canary {
            s += &format!(
                "-A KUBE-SERVICES -d {}/32 -p tcp -m comment --comment \"seamless lab: commit canary\" -m tcp --dport {} -j DNAT --to-destination {}\n",
                c.from.ip(),
                c.from.port(),
                c.to
            );
        }
        s += "-A KUBE-SERVICES -m comment --comment \"kubernetes service nodeports\" -m addrtype --dst-type LOCAL -j KUBE-NODEPORTS\n";
        s += &format!(
            "-A KUBE-NODEPORTS -p tcp -m comment --comment \"{name}:http\" -m tcp --dport {} -j {ext}\n",
            self.node_port
        );
        s += &format!(
            "-A {ext} -m comment --comment \"masquerade traffic for {name}:http external destinations\" -j KUBE-MARK-MASQ\n"
        );
        s += &format!("-A {ext} -j {svc}\n");
        s += &format!(
            "-A {svc} ! -s {} -d {}/32 -p tcp -m comment --comment \"{name}:http cluster IP\" -m tcp --dport {} -j KUBE-MARK-MASQ\n",
            self.cluster_cidr,
            vip.ip(),
            vip.port()
        );
        let n = endpoints.len();
        for (i, ep) in endpoints.iter().enumerate() {
            let sep = self.sep_chain(*ep);
            let remaining = n - i;
            if remaining > 1 {
                s += &format!(
                    "-A {svc} -m comment --comment \"{name}:http -> {ep}\" -m statistic --mode random --probability {:.10} -j {sep}\n",
                    1.0 / remaining as f64
                );
            } else {
                s += &format!("-A {svc} -m comment --comment \"{name}:http -> {ep}\" -j {sep}\n");
            }
        }
        for ep in endpoints {
            let sep = self.sep_chain(*ep);
            s += &format!(
                "-A {sep} -s {}/32 -m comment --comment \"{name}:http\" -j KUBE-MARK-MASQ\n",
                ep.ip()
            );
            s += &format!(
                "-A {sep} -p tcp -m comment --comment \"{name}:http\" -m tcp -j DNAT --to-destination {ep}\n"
            );
        }
        for ep in stale {
            s += &format!("-X {}\n", self.sep_chain(*ep));
        }
        s += "COMMIT\n";
        s
    }
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
    /// How `committed_ns` was learnt: `canary` (the first refused connect
    /// through the canary rule), `netlink` (the kernel's notification),
    /// `proc` (iptables-restore seen back reading stdin) or `exit`.
    pub method: &'static str,
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
        nft_monitor().ok()
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
        _ if ok && canary.is_some() => (canary.as_ref().and_then(CanaryWatch::wait), "canary"),
        (Some(fd), _) if ok => (wait_notification(fd), "netlink"),
        (None, Some(v0)) if ok => (wait_reading_stdin(pid, Some(v0)).map(|_| now_ns()), "proc"),
        _ => (None, "exit"),
    };
    let method = if committed.is_some() { method } else { "exit" };
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

/// A netlink socket in the calling thread's network namespace, joined to
/// NFNLGRP_NFTABLES: it receives every ruleset change notification.
fn nft_monitor() -> nix::Result<OwnedFd> {
    use nix::sys::socket::{
        AddressFamily, NetlinkAddr, SockFlag, SockProtocol, SockType, bind, setsockopt, socket,
        sockopt,
    };
    const NFNLGRP_NFTABLES: u32 = 7;
    let fd = socket(
        AddressFamily::Netlink,
        SockType::Raw,
        SockFlag::SOCK_CLOEXEC,
        SockProtocol::NetlinkNetFilter,
    )?;
    bind(
        fd.as_raw_fd(),
        &NetlinkAddr::new(0, 1 << (NFNLGRP_NFTABLES - 1)),
    )?;
    setsockopt(
        &fd,
        sockopt::ReceiveTimeout,
        &nix::sys::time::TimeVal::new(1, 0),
    )?;
    Ok(fd)
}

/// Blocks until the first nftables notification arrives (up to 1 s) and
/// returns the wall-clock ns right after it.
fn wait_notification(fd: &OwnedFd) -> Option<i64> {
    const NFNL_SUBSYS_NFTABLES: u16 = 10;
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
        if n >= 6 && u16::from_ne_bytes([buf[4], buf[5]]) >> 8 == NFNL_SUBSYS_NFTABLES {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn svc() -> Service {
        Service {
            name: "lab/web".into(),
            cluster_ip: "198.19.100.10:80".parse().unwrap(),
            node_port: 30080,
            cluster_cidr: "198.18.0.0/16".into(),
        }
    }

    #[test]
    fn two_endpoints_split_by_probability_and_stale_chain_deleted() {
        let s = svc();
        let a: SocketAddrV4 = "198.18.1.10:8080".parse().unwrap();
        let b: SocketAddrV4 = "198.18.2.10:8080".parse().unwrap();
        let old: SocketAddrV4 = "198.18.1.11:8080".parse().unwrap();
        let r = s.sync_rules(&[a, b], &[old]);
        assert!(r.starts_with("*nat\n") && r.ends_with("COMMIT\n"));
        assert!(r.contains("--probability 0.5000000000 -j KUBE-SEP-"));
        assert!(r.contains(&format!("-j DNAT --to-destination {a}")));
        assert!(r.contains(&format!("-j DNAT --to-destination {b}")));
        // The stale chain is declared (flushed) and then deleted.
        let stale = s.sep_chain(old);
        let decl = r.find(&format!(":{stale} ")).unwrap();
        let del = r.find(&format!("-X {stale}\n")).unwrap();
        assert!(decl < del);
        assert!(!r.contains(&format!("--to-destination {old}")));
        assert!(r.contains("MASQUERADE --random-fully"));
        assert!(r.contains("--dport 30080"));
    }

    #[test]
    fn hashes_are_stable_and_distinct() {
        let s = svc();
        let a: SocketAddrV4 = "198.18.1.10:8080".parse().unwrap();
        let b: SocketAddrV4 = "198.18.2.10:8080".parse().unwrap();
        assert_eq!(s.sep_chain(a), s.sep_chain(a));
        assert_ne!(s.sep_chain(a), s.sep_chain(b));
        // iptables chain names are limited to 28 characters.
        assert!(s.sep_chain(a).len() <= 28);
    }
}
