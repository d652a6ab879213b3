//! Pod addresses on a node, handed out as the CNI host-local IPAM plugin
//! does (containernetworking/plugins, plugins/ipam/host-local/backend/
//! allocator: the search starts after the last reserved address and wraps
//! around): an address just released is the last to be given again. A
//! lowest-free allocator would give a new pod the address of the pod that
//! just went, and the conntrack entries the old pod's peers left (TIME_WAIT,
//! CLOSE, still NATed to a backend that is gone) would meet the new pod's
//! first connections: an artefact no real cluster shows.

use std::collections::BTreeSet;

/// The last octets of one node's pod range in use.
#[derive(Debug)]
pub struct Ipam {
    first: u8,
    last: u8,
    used: BTreeSet<u8>,
    last_reserved: Option<u8>,
}

impl Ipam {
    /// Addresses `.first ..= .last` of the range.
    pub fn new(first: u8, last: u8) -> Ipam {
        Ipam {
            first,
            last,
            used: BTreeSet::new(),
            last_reserved: None,
        }
    }

    /// The next free address after the last one reserved, wrapping; None
    /// when the range is full.
    pub fn reserve(&mut self) -> Option<u8> {
        let start = match self.last_reserved {
            Some(l) if l < self.last => l + 1,
            _ => self.first,
        };
        let order = (start..=self.last).chain(self.first..start);
        let free = order.into_iter().find(|o| !self.used.contains(o))?;
        self.used.insert(free);
        self.last_reserved = Some(free);
        Some(free)
    }

    /// Gives an address back.
    pub fn release(&mut self, octet: u8) {
        self.used.remove(&octet);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_released_address_comes_back_last() {
        let mut ipam = Ipam::new(10, 12);
        assert_eq!(ipam.reserve(), Some(10));
        ipam.release(10);
        assert_eq!(ipam.reserve(), Some(11), "not the address just released");
        assert_eq!(ipam.reserve(), Some(12));
        assert_eq!(ipam.reserve(), Some(10), "wraps around");
        assert_eq!(ipam.reserve(), None, "full");
        ipam.release(11);
        assert_eq!(ipam.reserve(), Some(11));
    }
}
