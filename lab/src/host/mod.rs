//! The host's side of the lab: the sandbox it all runs in ([`sandbox`]),
//! a backend's connections as the kernel lists them ([`conns`]),
//! named network namespaces with one owner each ([`netns`]), the kernel's
//! nftables notifications ([`nftables`]), and the
//! emulated cluster's network ([`topology`]).

pub mod conns;
pub mod netns;
pub mod nftables;
pub mod sandbox;
pub mod topology;
