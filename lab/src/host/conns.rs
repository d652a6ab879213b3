//! When a backend closed its clients' connections: its established TCP
//! connections on the serving port, and its listening socket, read from
//! the kernel's table of the backend's network namespace
//! (`/proc/thread-self/net/tcp`, as `ss` shows them) every millisecond
//! from the pod's deletion on, for the run's ground truth
//! ([`seamless_proto::run::BackendConns`]).
//!
//! A connection counts when it is `ESTABLISHED` with the serving port as
//! its local port and a peer other than its own address (the lab's own
//! checks from inside the namespace, such as the listener watch, are not
//! clients). Kept-alive client connections are the point: a fast shutdown
//! closes them at SIGTERM, a graceful one as it drains. Each is known by
//! its addresses and socket inode, so a probe's short connection closing
//! is not taken for a kept-alive one's ([`KEPT`]).

use std::time::{Duration, Instant};

use seamless_proto::clock::now_ns;
use seamless_proto::run::BackendConns;

use super::netns::Netns;

/// How often the table is read.
pub const POLL: Duration = Duration::from_millis(1);

/// What one read of the table found on the port.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PortState {
    /// Established client connections.
    pub established: u32,
    /// Whether a socket listens on it.
    pub listening: bool,
    /// Each established client connection: its local and remote address
    /// and socket inode, as the table writes them.
    pub keys: std::collections::BTreeSet<String>,
}

/// Reads `/proc/net/tcp`'s format: the connections and listener of `port`.
/// Lines that do not parse are skipped (the header among them).
pub fn port_state(table: &str, port: u16) -> PortState {
    let mut st = PortState::default();
    for line in table.lines() {
        let mut cols = line.split_whitespace();
        let (Some(_slot), Some(local), Some(remote), Some(state)) =
            (cols.next(), cols.next(), cols.next(), cols.next())
        else {
            continue;
        };
        let Some((local_ip, local_port)) = local.split_once(':') else {
            continue;
        };
        if u16::from_str_radix(local_port, 16) != Ok(port) {
            continue;
        }
        let remote_ip = remote.split_once(':').map_or("", |r| r.0);
        match state {
            // TCP_ESTABLISHED
            "01" if remote_ip != local_ip => {
                st.established += 1;
                // Columns after the state: queues, timer, retransmits, uid,
                // timeout, inode.
                let inode = cols.nth(5).unwrap_or_default();
                st.keys.insert(format!("{local} {remote} {inode}"));
            }
            // TCP_LISTEN
            "0A" => st.listening = true,
            _ => {}
        }
    }
    st
}

/// Reads a table in one `read` where it fits: the kernel walks the table
/// anew at each `read` from where the last left off by position, so a
/// table read in pieces while sockets come and go can skip a line.
fn read_table(path: &str) -> Option<String> {
    use std::io::Read;
    thread_local! {
        static BUF: std::cell::RefCell<Vec<u8>> = std::cell::RefCell::new(vec![0; 1 << 20]);
    }
    let mut f = std::fs::File::open(path).ok()?;
    BUF.with(|b| {
        let mut buf = b.borrow_mut();
        let mut text = Vec::new();
        loop {
            match f.read(&mut buf[..]) {
                Ok(0) => break,
                Ok(n) => text.extend_from_slice(&buf[..n]),
                Err(_) => return None,
            }
        }
        String::from_utf8(text).ok()
    })
}

/// Reads the table of the calling thread's network namespace.
fn read_own(port: u16) -> Option<PortState> {
    let v4 = read_table("/proc/thread-self/net/tcp")?;
    let mut st = port_state(&v4, port);
    if let Some(v6) = read_table("/proc/thread-self/net/tcp6") {
        let s6 = port_state(&v6, port);
        st.established += s6.established;
        st.listening |= s6.listening;
        st.keys.extend(s6.keys);
    }
    Some(st)
}

/// The watch's record, and when the listener went (ns), if it did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Watched {
    /// The connections.
    pub conns: BackendConns,
    /// The first read that found no listener on the port, ns.
    pub listener_gone_ns: Option<i64>,
}

/// Watches `port` in `ns` from now until no client connection and no
/// listener is left, or for `budget`; the handle gives the record (`None`
/// when the namespace's table could not be read).
pub fn watch(
    ns: &Netns,
    port: u16,
    budget: Duration,
) -> std::thread::JoinHandle<Result<Option<Watched>, super::netns::NetnsError>> {
    ns.spawn_thread(move || watch_here(port, budget))
}

/// A connection open at the watch's start that is still open this long
/// after is a kept-alive one (a new connection a probe closes in a few ms).
pub const KEPT: Duration = Duration::from_millis(50);

/// [`watch`] in the calling thread's namespace. `all_closed_ns` is when
/// none of the connections open at the start was left (a new-mode probe's
/// own connection ends within a few ms, so a later time is the backend's
/// closing of the kept-alive ones, however soon it comes); `first_closed_ns`
/// when the first of those still open [`KEPT`] later went (none when the
/// backend closed everything sooner).
pub fn watch_here(port: u16, budget: Duration) -> Option<Watched> {
    let until = Instant::now() + budget;
    let start_ns = now_ns();
    let first = read_own(port)?;
    let mut w = Watched {
        conns: BackendConns {
            watched_from_ns: start_ns,
            open_at_start: first.established,
            max_open: first.established,
            poll_ns: POLL.as_nanos() as i64,
            ..Default::default()
        },
        listener_gone_ns: (!first.listening).then_some(start_ns),
    };
    let kept_at = Instant::now() + KEPT;
    // The start's connections still open; and, from KEPT on, those of them
    // that were still open then. A read of the table can miss a line while
    // other sockets come and go, so a connection (and the listener) is gone
    // only once two reads in a row lack it, as of the first.
    let mut open = first.keys.clone();
    let mut absent_since: std::collections::BTreeMap<String, i64> = Default::default();
    let mut listener_absent: Option<i64> = None;
    let mut kept: Option<std::collections::BTreeSet<String>> = None;
    loop {
        if Instant::now() >= until || (open.is_empty() && w.listener_gone_ns.is_some()) {
            break;
        }
        std::thread::sleep(POLL);
        let Some(st) = read_own(port) else {
            break;
        };
        // When the read had seen the table: a close during the read is
        // before this, never after.
        let at = now_ns();
        w.conns.max_open = w.conns.max_open.max(st.established);
        if w.listener_gone_ns.is_none() {
            match (st.listening, listener_absent) {
                (true, _) => listener_absent = None,
                (false, Some(t)) => w.listener_gone_ns = Some(t),
                (false, None) => listener_absent = Some(at),
            }
        }
        let mut closed: Vec<(String, i64)> = Vec::new();
        for k in &open {
            if st.keys.contains(k) {
                absent_since.remove(k);
            } else if let Some(&t) = absent_since.get(k) {
                closed.push((k.clone(), t));
            } else {
                absent_since.insert(k.clone(), at);
            }
        }
        let before = open.len();
        for (k, _) in &closed {
            open.remove(k);
            absent_since.remove(k);
        }
        if open.is_empty() && before > 0 {
            w.conns.all_closed_ns = closed.iter().map(|&(_, t)| t).max();
        }
        if kept.is_none() && Instant::now() >= kept_at {
            let still: std::collections::BTreeSet<String> = open
                .iter()
                .filter(|k| !absent_since.contains_key(*k))
                .cloned()
                .collect();
            w.conns.kept_alive = still.len() as u32;
            kept = Some(still);
        } else if let Some(k) = kept.as_mut() {
            let first = closed
                .iter()
                .filter(|(key, _)| k.remove(key))
                .map(|&(_, t)| t)
                .min();
            if w.conns.first_closed_ns.is_none() {
                w.conns.first_closed_ns = first;
            }
        }
    }
    Some(w)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs a socket test in a network namespace of its own: the watch
    /// counts every connection on a port of its namespace's table, and the
    /// host's, shared with every other test and process, has others (a
    /// listener on 127.0.0.2 may even get the port of one on 127.0.0.1).
    fn in_own_netns(test: &str, f: impl FnOnce() + Send) {
        if seamless_testkit::skip_lab(test) {
            return;
        }
        let name = format!("slt-conns-{}-{}", std::process::id(), test.len());
        let ns = crate::host::netns::OwnedNetns::create(&name).unwrap();
        ns.handle().run(f).unwrap();
        ns.delete().unwrap();
    }

    const TABLE: &str = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000:0050 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1 1 0000000000000000 100 0 0 10 0
   1: 0101A8C0:0050 0201A8C0:D431 01 00000000:00000000 00:00000000 00000000     0        0 2 1 0000000000000000 20 4 30 10 -1
   2: 0101A8C0:0050 0201A8C0:D432 01 00000000:00000000 00:00000000 00000000     0        0 3 1 0000000000000000 20 4 30 10 -1
   3: 0101A8C0:0050 0101A8C0:D433 01 00000000:00000000 00:00000000 00000000     0        0 4 1 0000000000000000 20 4 30 10 -1
   4: 0101A8C0:0050 0201A8C0:D434 06 00000000:00000000 00:00000000 00000000     0        0 5 1 0000000000000000 20 4 30 10 -1
   5: 0101A8C0:1F90 0201A8C0:D435 01 00000000:00000000 00:00000000 00000000     0        0 6 1 0000000000000000 20 4 30 10 -1
";

    #[test]
    fn clients_on_the_port_count_not_self_connects_time_wait_or_other_ports() {
        let st = port_state(TABLE, 80);
        assert_eq!((st.established, st.listening), (2, true));
        assert_eq!(
            st.keys.iter().map(String::as_str).collect::<Vec<_>>(),
            [
                "0101A8C0:0050 0201A8C0:D431 2",
                "0101A8C0:0050 0201A8C0:D432 3"
            ]
        );
        let other = port_state(TABLE, 8080);
        assert_eq!((other.established, other.listening), (1, false));
        assert_eq!(port_state("garbage\n\n", 80), PortState::default());
    }

    #[test]
    fn a_real_socket_pair_is_seen_and_its_close_is_timed() {
        in_own_netns("a_real_socket_pair_is_seen_and_its_close_is_timed", || {
            // In the test's own namespace: a listener on loopback and two
            // client connections to it, from 127.0.0.2 (loopback too), so the
            // peer is not the socket's own address.
            use nix::sys::socket::{
                AddressFamily, SockFlag, SockType, SockaddrIn, bind, connect as connect_to, socket,
            };
            use std::net::{SocketAddrV4, TcpListener, TcpStream};
            let l = TcpListener::bind("127.0.0.1:0").unwrap();
            let port = l.local_addr().unwrap().port();
            let connect = || {
                let fd = socket(
                    AddressFamily::Inet,
                    SockType::Stream,
                    SockFlag::empty(),
                    None,
                )
                .unwrap();
                let from = SockaddrIn::from("127.0.0.2:0".parse::<SocketAddrV4>().unwrap());
                bind(std::os::fd::AsRawFd::as_raw_fd(&fd), &from).unwrap();
                let to = SockaddrIn::from(SocketAddrV4::new([127, 0, 0, 1].into(), port));
                connect_to(std::os::fd::AsRawFd::as_raw_fd(&fd), &to).unwrap();
                TcpStream::from(fd)
            };
            let (c1, c2) = (connect(), connect());
            let (s1, _) = l.accept().unwrap();
            let (s2, _) = l.accept().unwrap();
            assert_eq!(read_own(port).unwrap().established, 2);
            let h = std::thread::spawn(move || watch_here(port, Duration::from_secs(5)));
            // A probe's connection, closed before KEPT: not a kept-alive one.
            let c3 = connect();
            let (s3, _) = l.accept().unwrap();
            drop((c3, s3));
            std::thread::sleep(KEPT + Duration::from_millis(30));
            let before = now_ns();
            drop(s1);
            std::thread::sleep(Duration::from_millis(30));
            let middle = now_ns();
            drop((s2, l));
            let w = h.join().unwrap().unwrap();
            let after = now_ns();
            drop((c1, c2));
            // The probe's connection may be open at the watch's first read
            // (the thread starts as it connects); it never counts as kept.
            assert!((2..=3).contains(&w.conns.open_at_start), "{w:?}");
            assert_eq!(w.conns.kept_alive, 2, "{w:?}");
            let first = w.conns.first_closed_ns.unwrap();
            let all = w.conns.all_closed_ns.unwrap();
            assert!(before <= first && first <= middle, "{w:?}");
            assert!(middle <= all && all <= after, "{w:?}");
            assert!(w.listener_gone_ns.is_some_and(|t| t >= middle));
        });
    }

    #[test]
    fn a_close_sooner_than_kept_is_still_timed() {
        in_own_netns("a_close_sooner_than_kept_is_still_timed", || {
            // As a fast shutdown without preStop: the pool's connections go a
            // few ms after the deletion, before any counts as kept-alive.
            use std::net::{TcpListener, TcpStream};
            let l = TcpListener::bind("127.0.0.2:0").unwrap();
            let port = l.local_addr().unwrap().port();
            let c = TcpStream::connect(l.local_addr().unwrap()).unwrap();
            let (srv, peer) = l.accept().unwrap();
            assert_ne!(
                peer.ip(),
                l.local_addr().unwrap().ip(),
                "a client from 127.0.0.1"
            );
            let h = std::thread::spawn(move || watch_here(port, Duration::from_secs(5)));
            std::thread::sleep(Duration::from_millis(10));
            let before = now_ns();
            drop((srv, l));
            let w = h.join().unwrap().unwrap();
            drop(c);
            assert_eq!((w.conns.open_at_start, w.conns.kept_alive), (1, 0), "{w:?}");
            assert_eq!(w.conns.first_closed_ns, None);
            let all = w.conns.all_closed_ns.unwrap();
            assert!(all >= before && all - before < 1_000_000_000, "{w:?}");
        });
    }
}
