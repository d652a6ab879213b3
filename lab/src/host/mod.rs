//! The host's side of the lab: the sandbox it all runs in ([`sandbox`]),
//! named network namespaces with one owner each ([`netns`]), and the
//! emulated cluster's network ([`topology`]).

pub mod netns;
pub mod sandbox;
pub mod topology;
