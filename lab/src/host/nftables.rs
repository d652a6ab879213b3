//! The kernel's nftables change notifications: a netlink socket joined to
//! NFNLGRP_NFTABLES in the calling thread's network namespace receives a
//! message for every ruleset change made there (iptables-nft's and
//! kube-proxy's transactions alike). Used by the emulated proxy to see its
//! own commit land and by the real-component runs to see kube-proxy's.

use std::os::fd::{AsRawFd, OwnedFd};

/// The nfnetlink subsystem of nftables: a message's type is
/// `NFNL_SUBSYS_NFTABLES << 8 | message`.
pub const NFNL_SUBSYS_NFTABLES: u16 = 10;

/// A socket receiving every nftables notification of this thread's
/// namespace; `recv` on it waits at most `timeout`.
pub fn notifications(timeout: nix::sys::time::TimeVal) -> nix::Result<OwnedFd> {
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
    setsockopt(&fd, sockopt::ReceiveTimeout, &timeout)?;
    Ok(fd)
}
