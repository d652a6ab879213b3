//! Ground truth on the real data path: when the probing node's kube-proxy
//! took the old endpoint out of the Service's rules.
//!
//! A thread in the node's network namespace joins the kernel's nftables
//! notification group (NFNLGRP_NFTABLES: iptables-nft, Debian's iptables,
//! and kube-proxy's nftables mode both commit through it). Each transaction
//! ends with an NFT_MSG_NEWGEN message; after each, the thread reads the
//! rules back (`iptables-save -t nat`, or `nft list table ip kube-proxy`) and
//! asks whether a Service chain still sends connections to the endpoint.
//! The first NEWGEN after which none does is the removal, stamped when the
//! notification arrived.
//!
//! "Sends to it" follows kube-proxy's rule layout: in iptables mode a
//! `KUBE-SVC-*`/`KUBE-SVL-*` chain jumps to the `KUBE-SEP-*` chain whose DNAT
//! goes to `ip:port` (pkg/proxy/iptables/proxier.go; the SEP chain itself
//! stays while the endpoint is in the slice, so its DNAT alone proves
//! nothing); in nftables mode a Service port's policy chain (`service-*`,
//! `local-*`) sends new connections on by one of three rules
//! (pkg/proxy/nftables/proxier.go, `writeServiceToEndpointDNATs` and
//! `writeServiceToEndpointJumps`): `dnat to <ip>:<port>` for one endpoint,
//! `dnat ip addr . port to numgen random mod N map { 0 : <ip> . <port>, ...
//! }` for several (1.3x and later, without session affinity), or a `vmap`
//! whose `goto` names the endpoint chain `endpoint-...__<ip>/<port>` (with
//! session affinity, and every Service in earlier versions). An endpoint
//! chain's own `dnat` stays while the endpoint is in the slice and proves
//! nothing.

use std::os::fd::{AsRawFd, OwnedFd};
use std::process::Command;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::cluster::kube_proxy::ProxyMode;
use crate::host::netns::Netns;
use crate::host::nftables::{self, NFNL_SUBSYS_NFTABLES};

/// What the watcher saw.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Removal {
    /// The endpoint left the rules in one of the transactions committed
    /// between these times (ns, CLOCK_REALTIME): the first and the last
    /// NEWGEN notification after the last read that still saw it and
    /// before the first read that did not.
    Between(i64, i64),
    /// It was not in the rules when the watch started.
    NotThere,
}

/// A running watch; [`RuleWatch::get`] waits for its answer.
pub struct RuleWatch {
    rx: mpsc::Receiver<Removal>,
}

impl RuleWatch {
    /// The answer, waiting up to `timeout`.
    pub fn get(&self, timeout: Duration) -> Option<Removal> {
        self.rx.recv_timeout(timeout).ok()
    }
}

/// Starts watching `node` for the removal of `ip:port`, for at most `for_`.
///
/// Two threads in the node's namespace: one only receives the kernel's
/// notifications and stamps each NEWGEN on arrival (so a slow read-back
/// never delays a stamp), the other reads the rules back after each and
/// brackets the removal between the stamps.
pub fn watch(node: &Netns, mode: ProxyMode, ip: String, port: u16, for_: Duration) -> RuleWatch {
    let (tx, rx) = mpsc::channel();
    let (ready_tx, ready_rx) = mpsc::channel();
    let (gen_tx, gen_rx) = mpsc::channel::<i64>();
    let until = Instant::now() + for_;
    let _ = node.spawn_thread(move || {
        let Ok(fd) = nft_socket() else {
            let _ = ready_tx.send(false);
            return;
        };
        let _ = ready_tx.send(true);
        realtime_stamps();
        let mut buf = vec![0u8; 256 * 1024];
        while Instant::now() < until {
            match next_generation(&fd, &mut buf) {
                Ok(Some(ts)) if gen_tx.send(ts).is_err() => return,
                Ok(_) => {}
                // A broken socket: no more stamps, and no spinning at a
                // real-time priority.
                Err(e) => {
                    tracing::warn!("the rule watch's notifications failed: {e}");
                    return;
                }
            }
        }
    });
    // The socket is joined before anything is read: no commit is missed.
    if ready_rx.recv_timeout(Duration::from_secs(5)) != Ok(true) {
        return RuleWatch { rx };
    }
    let _ = node.spawn_thread(move || {
        let mut last_seen = seamless_proto::clock::now_ns();
        if !routed(&rules(mode), mode, &ip, port) {
            let _ = tx.send(Removal::NotThere);
            return;
        }
        let mut gens: Vec<i64> = Vec::new();
        while Instant::now() < until {
            match gen_rx.recv_timeout(Duration::from_millis(200)) {
                Ok(ts) => gens.push(ts),
                Err(mpsc::RecvTimeoutError::Timeout) => continue,
                Err(mpsc::RecvTimeoutError::Disconnected) => return,
            }
            gens.extend(gen_rx.try_iter());
            let read_at = seamless_proto::clock::now_ns();
            if routed(&rules(mode), mode, &ip, port) {
                last_seen = read_at;
                gens.clear();
                continue;
            }
            gens.extend(gen_rx.try_iter());
            let within: Vec<i64> = gens
                .iter()
                .copied()
                .filter(|t| *t >= last_seen && *t <= read_at)
                .collect();
            let (first, last) = match (within.iter().min(), within.iter().max()) {
                (Some(a), Some(b)) => (*a, *b),
                _ => (last_seen, read_at),
            };
            let _ = tx.send(Removal::Between(first, last));
            return;
        }
    });
    RuleWatch { rx }
}

/// The rules as kube-proxy wrote them, read back in this thread's namespace.
fn rules(mode: ProxyMode) -> String {
    let out = match mode {
        ProxyMode::Nftables => Command::new("nft")
            .args(["list", "table", "ip", "kube-proxy"])
            .output(),
        _ => Command::new("iptables-save").args(["-t", "nat"]).output(),
    };
    out.map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default()
}

/// Whether a Service chain still sends new connections to `ip:port`.
pub fn routed(rules: &str, mode: ProxyMode, ip: &str, port: u16) -> bool {
    routed_endpoints(rules, mode).contains(&format!("{ip}:{port}"))
}

/// Every `ip:port` some Service chain sends new connections to.
pub fn routed_endpoints(rules: &str, mode: ProxyMode) -> Vec<String> {
    let mut out: Vec<String> = match mode {
        ProxyMode::Nftables => nft_routed(rules),
        _ => {
            let dnat: Vec<(&str, &str)> = rules
                .lines()
                .filter(|l| l.starts_with("-A KUBE-SEP-"))
                .filter_map(|l| {
                    let chain = l.split_whitespace().nth(1)?;
                    let (_, to) = l.split_once("--to-destination ")?;
                    Some((chain, to.split_whitespace().next()?))
                })
                .collect();
            rules
                .lines()
                .filter(|l| l.starts_with("-A KUBE-SVC-") || l.starts_with("-A KUBE-SVL-"))
                .filter_map(|l| {
                    let target = l.rsplit_once("-j ")?.1.trim();
                    dnat.iter()
                        .find(|(c, _)| *c == target)
                        .map(|(_, to)| to.to_string())
                })
                .collect()
        }
    };
    out.sort();
    out.dedup();
    out
}

/// [`routed_endpoints`] of kube-proxy's nftables table.
fn nft_routed(rules: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut policy = false;
    // A numgen map nft wrapped over several lines, until its `}`.
    let mut map: Option<String> = None;
    for line in rules.lines().map(str::trim) {
        if let Some(m) = map.as_mut() {
            m.push(' ');
            m.push_str(line);
            if line.contains('}') {
                out.extend(map_elements(m));
                map = None;
            }
            continue;
        }
        if let Some(name) = line.strip_prefix("chain ") {
            policy = name.starts_with("service-") || name.starts_with("local-");
            continue;
        }
        if !policy {
            continue;
        }
        // A vmap to endpoint chains.
        out.extend(line.split("goto endpoint-").skip(1).filter_map(|rest| {
            let name = rest.split([' ', ',', '}']).next()?;
            let (_, ep) = name.rsplit_once("__")?;
            let (ip, port) = ep.rsplit_once('/')?;
            Some(format!("{ip}:{port}"))
        }));
        // One endpoint.
        if let Some((_, rest)) = line.split_once("dnat to ")
            && let Some(ep) = rest.split_whitespace().next()
        {
            out.push(ep.to_owned());
        }
        // Several, by a map of `index : ip . port`.
        if line.contains("numgen random mod") && line.contains(" map {") {
            if line.contains('}') {
                out.extend(map_elements(line));
            } else {
                map = Some(line.to_owned());
            }
        }
    }
    out
}

/// The `ip:port` values of a `numgen ... map { 0 : ip . port, ... }` rule.
fn map_elements(rule: &str) -> Vec<String> {
    let (Some(a), Some(b)) = (rule.find('{'), rule.rfind('}')) else {
        return Vec::new();
    };
    if a >= b {
        return Vec::new();
    }
    rule[a + 1..b]
        .split(',')
        .filter_map(|el| {
            let (_, v) = el.split_once(':')?;
            let (ip, port) = v.trim().split_once(" . ")?;
            Some(format!("{}:{}", ip.trim(), port.trim()))
        })
        .collect()
}

/// Waits until node `ns`'s rules send the Service port `port`'s new
/// connections to `ip:port` alone (kube-proxy has caught up with the
/// current endpoints), up to `timeout`; false if they never did.
pub fn wait_routed_alone(
    ns: &Netns,
    mode: ProxyMode,
    ip: &str,
    port: u16,
    timeout: Duration,
) -> bool {
    let want = vec![format!("{ip}:{port}")];
    let until = Instant::now() + timeout;
    while Instant::now() < until {
        let now: Vec<String> = ns
            .run(|| routed_endpoints(&rules(mode), mode))
            .unwrap_or_default()
            .into_iter()
            .filter(|e| e.ends_with(&format!(":{port}")))
            .collect();
        if now == want {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

/// The notification socket of this thread's namespace, with a bounded
/// wait (the watch ends on time without a commit) and room for a large
/// transaction's burst of notifications.
fn nft_socket() -> nix::Result<OwnedFd> {
    let fd = nftables::notifications(nix::sys::time::TimeVal::new(0, 200_000))?;
    let _ = nix::sys::socket::setsockopt(&fd, nix::sys::socket::sockopt::RcvBuf, &(4 << 20));
    Ok(fd)
}

/// Puts the calling thread, the one stamping the notifications, in the
/// real-time FIFO class, so that a commit's NEWGEN is stamped as it arrives
/// and not when a busy machine next schedules the thread: a NEWGEN stamp
/// is the outage's end (an upper bound of the commit), and on two loaded
/// cores an ordinary thread wakes milliseconds late. The thread sleeps in
/// `recv` between notifications and stops on any socket error, so it never
/// spins at that priority. Best effort: without CAP_SYS_NICE (a rootless
/// lab) the thread keeps its ordinary class, and says so.
#[allow(unsafe_code)]
fn realtime_stamps() {
    let param = libc::sched_param { sched_priority: 1 };
    // SAFETY: sched_setscheduler only reads the sched_param it is given,
    // a live, initialised value on this stack; pid 0 names the calling
    // thread; the call has no other memory effect.
    let rc = unsafe { libc::sched_setscheduler(0, libc::SCHED_FIFO, &param) };
    if rc != 0 {
        tracing::debug!(
            "the rule watch's stamps keep the ordinary scheduling class: {}",
            std::io::Error::last_os_error()
        );
    }
}

/// Waits (up to the socket's timeout) for a datagram holding the end of a
/// transaction (NFT_MSG_NEWGEN); its arrival time, or None (the wait timed
/// out, or the datagram held no NEWGEN). An error only if the socket broke.
fn next_generation(fd: &OwnedFd, buf: &mut [u8]) -> nix::Result<Option<i64>> {
    use nix::errno::Errno;
    // enum nf_tables_msg_types (linux/netfilter/nf_tables.h).
    const NFT_MSG_NEWGEN: u16 = 15;
    let n = match nix::sys::socket::recv(fd.as_raw_fd(), buf, nix::sys::socket::MsgFlags::empty()) {
        Ok(n) => n,
        // The wait timed out; a signal; or notifications were dropped (a
        // full buffer), after which the socket goes on.
        Err(Errno::EAGAIN | Errno::EINTR | Errno::ENOBUFS) => return Ok(None),
        Err(e) => return Err(e),
    };
    let ts = seamless_proto::clock::now_ns();
    // A datagram may carry several messages: struct nlmsghdr is u32 length,
    // u16 type (subsystem << 8 | message), then flags, seq, pid.
    let mut off = 0;
    while off + 16 <= n {
        let len = u32::from_ne_bytes([buf[off], buf[off + 1], buf[off + 2], buf[off + 3]]) as usize;
        let ty = u16::from_ne_bytes([buf[off + 4], buf[off + 5]]);
        if ty == (NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_NEWGEN {
            return Ok(Some(ts));
        }
        if len < 16 {
            break;
        }
        off += (len + 3) & !3;
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    const IPT: &str = "\
-A KUBE-SERVICES -d 198.19.100.100/32 -p tcp -m comment --comment \"seamless-demo/web:http cluster IP\" -m tcp --dport 80 -j KUBE-SVC-ABC
-A KUBE-SVC-ABC -m comment --comment \"seamless-demo/web:http -> 198.18.2.10:80\" -j KUBE-SEP-NEW
-A KUBE-SEP-OLD -p tcp -m comment --comment \"seamless-demo/web:http\" -m tcp -j DNAT --to-destination 198.18.1.10:80
-A KUBE-SEP-NEW -p tcp -m comment --comment \"seamless-demo/web:http\" -m tcp -j DNAT --to-destination 198.18.2.10:80
";

    #[test]
    fn iptables_a_sep_chain_without_a_jump_to_it_is_out() {
        assert!(routed(IPT, ProxyMode::Iptables, "198.18.2.10", 80));
        assert!(
            !routed(IPT, ProxyMode::Iptables, "198.18.1.10", 80),
            "only its SEP chain is left"
        );
        assert!(!routed(IPT, ProxyMode::Iptables, "198.18.2.10", 8080));
        assert_eq!(
            routed_endpoints(IPT, ProxyMode::Iptables),
            ["198.18.2.10:80"]
        );
    }

    #[test]
    fn nftables_an_endpoint_chain_no_vmap_goes_to_is_out() {
        let nft = "\
\tchain service-ABC-seamless-demo/web/tcp/http {
\t\tip daddr 198.19.100.100 tcp dport 80 ip saddr != 198.18.0.0/16 jump mark-for-masquerade
\t\tnumgen random mod 1 vmap { 0 : goto endpoint-NEW-seamless-demo/web/tcp/http__198.18.2.10/80 }
\t}
\tchain endpoint-OLD-seamless-demo/web/tcp/http__198.18.1.10/80 {
\t\tmeta l4proto tcp dnat to 198.18.1.10:80
\t}
";
        assert!(routed(nft, ProxyMode::Nftables, "198.18.2.10", 80));
        assert!(!routed(nft, ProxyMode::Nftables, "198.18.1.10", 80));
        assert_eq!(
            routed_endpoints(nft, ProxyMode::Nftables),
            ["198.18.2.10:80"]
        );
    }

    /// kube-proxy 1.37's own layout, as `nft list table ip kube-proxy`
    /// prints it on node-c: one endpoint a plain `dnat to`, two a numgen
    /// map; the API server's Service is routed too.
    #[test]
    fn nftables_dnat_rules_of_one_and_of_several_endpoints() {
        let one = "\
\tchain service-2QRHZV4L-default/kubernetes/tcp/https {
\t\tmeta l4proto tcp dnat to 198.19.0.254:6443
\t}
\tchain service-DYYCZHVC-seamless-demo/web/tcp/http {
\t\tmeta l4proto tcp dnat to 198.18.1.10:80
\t}
\tchain endpoint-OLD-seamless-demo/web/tcp/http__198.18.2.10/80 {
\t\tmeta l4proto tcp dnat to 198.18.2.10:80
\t}
";
        assert_eq!(
            routed_endpoints(one, ProxyMode::Nftables),
            ["198.18.1.10:80", "198.19.0.254:6443"]
        );
        assert!(
            !routed(one, ProxyMode::Nftables, "198.18.2.10", 80),
            "an endpoint chain proves nothing"
        );
        let two = "\
\tchain service-DYYCZHVC-seamless-demo/web/tcp/http {
\t\tmeta l4proto tcp dnat ip to numgen random mod 2 map { 0 : 198.18.1.10 . 80, 1 : 198.18.2.11 . 80 }
\t}
";
        assert_eq!(
            routed_endpoints(two, ProxyMode::Nftables),
            ["198.18.1.10:80", "198.18.2.11:80"]
        );
        // nft wraps a long map over lines.
        let wrapped = "\
\tchain service-DYYCZHVC-seamless-demo/web/tcp/http {
\t\tmeta l4proto tcp dnat ip to numgen random mod 3 map { 0 : 198.18.1.10 . 80, 1 : 198.18.2.11 . 80,
\t\t\t2 : 198.18.3.12 . 80 }
\t}
\tchain endpoint-X__198.18.9.9/80 {
\t\tmeta l4proto tcp dnat to 198.18.9.9:80
\t}
";
        assert_eq!(
            routed_endpoints(wrapped, ProxyMode::Nftables),
            ["198.18.1.10:80", "198.18.2.11:80", "198.18.3.12:80"]
        );
    }
}
