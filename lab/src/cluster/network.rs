//! The network of a real-component cluster inside the lab's private world.
//!
//! The world's own namespace holds the control plane and a bridge `lab0`
//! (the "node network"); every node is a network namespace with `eth0` on
//! that bridge and a bridge `cbr0` for its pods (the CNI case), and the
//! world routes each node's pod range to it.
//!
//! | what | address |
//! |---|---|
//! | control plane (lab0) | 198.19.0.254, API server on :6443 |
//! | node *i* (eth0), i = 0, 1, ... | 198.19.0.(i+1) |
//! | pods on node *i* (cbr0 198.18.(i+1).1) | 198.18.(i+1).0/24 |
//! | Services (`--service-cluster-ip-range`) | 198.19.100.0/24 |

use std::net::Ipv4Addr;

use crate::host::netns::{Netns, NetnsError, ip_batch};

/// The control plane's address on the node network.
pub const CONTROL_PLANE_IP: Ipv4Addr = Ipv4Addr::new(198, 19, 0, 254);
/// The API server's port.
pub const API_PORT: u16 = 6443;
/// The Service range.
pub const SERVICE_CIDR: &str = "198.19.100.0/24";
/// The first Service IP (the `kubernetes` Service; in the serving cert).
pub const FIRST_SERVICE_IP: Ipv4Addr = Ipv4Addr::new(198, 19, 100, 1);
/// Every pod range together (kube-proxy's `clusterCIDR`).
pub const CLUSTER_CIDR: &str = "198.18.0.0/16";
/// At most this many nodes (one /24 of pods each, .1 .. .253 on lab0).
pub const MAX_NODES: usize = 26;

/// One node's network.
#[derive(Debug, Clone)]
pub struct NodeNet {
    /// Its name: node-a, node-b, ... (also its namespace's name).
    pub name: String,
    /// Its namespace.
    pub ns: Netns,
    /// Its address.
    pub ip: Ipv4Addr,
    /// Its index, which fixes its pod range 198.18.(index+1).0/24.
    pub index: u8,
}

impl NodeNet {
    /// The pods' gateway (cbr0).
    pub fn bridge_ip(&self) -> Ipv4Addr {
        Ipv4Addr::new(198, 18, self.index + 1, 1)
    }

    /// The node's pod range (`spec.podCIDR`).
    pub fn pod_cidr(&self) -> String {
        format!("198.18.{}.0/24", self.index + 1)
    }
}

/// The name of node `i`: node-a, node-b, ...
pub fn node_name(i: usize) -> String {
    format!("node-{}", (b'a' + i as u8) as char)
}

/// Creates the node network in the current (the world's) namespace: lab0,
/// forwarding on.
pub fn create_backbone() -> Result<(), NetnsError> {
    ip_batch(
        None,
        &[
            "link add lab0 type bridge".into(),
            format!("addr add {CONTROL_PLANE_IP}/24 dev lab0"),
            "link set lab0 up".into(),
        ],
    )?;
    std::fs::write("/proc/sys/net/ipv4/ip_forward", "1").map_err(|source| NetnsError::Sysctl {
        key: "net.ipv4.ip_forward".into(),
        name: "the lab's world".into(),
        source,
    })
}

/// Creates node `index`: its namespace, eth0 on lab0, cbr0, routes.
pub fn create_node(index: usize) -> Result<NodeNet, NetnsError> {
    let name = node_name(index);
    let ns = Netns::create(&name)?;
    let node = NodeNet {
        ip: Ipv4Addr::new(198, 19, 0, index as u8 + 1),
        index: index as u8,
        name,
        ns,
    };
    let veth = format!("v{}", node.name);
    ip_batch(
        None,
        &[
            format!(
                "link add {veth} type veth peer name eth0 netns {}",
                node.name
            ),
            format!("link set {veth} master lab0"),
            format!("link set {veth} up"),
            format!("route add {} via {}", node.pod_cidr(), node.ip),
        ],
    )?;
    ip_batch(
        Some(&node.name),
        &[
            "link add cbr0 type bridge".into(),
            format!("addr add {}/24 dev cbr0", node.bridge_ip()),
            "link set cbr0 up".into(),
            format!("addr add {}/24 dev eth0", node.ip),
            "link set eth0 up".into(),
            format!("route add default via {CONTROL_PLANE_IP}"),
        ],
    )?;
    node.ns.sysctls(&[
        ("net.ipv4.ip_forward", "1"),
        ("net.ipv4.conf.all.route_localnet", "1"),
    ])?;
    Ok(node)
}

/// Creates a pod's network on `node`: its namespace `pod-<uid8>`, a veth on
/// cbr0, its address and default route.
pub fn create_pod(node: &NodeNet, ns_name: &str, addr: Ipv4Addr) -> Result<Netns, NetnsError> {
    let ns = Netns::create(ns_name)?;
    // The host end's name must be unique on the node and <= 15 bytes.
    let veth = format!("vp{}", addr.octets()[3]);
    ip_batch(
        Some(&node.name),
        &[
            format!("link add {veth} type veth peer name eth0 netns {ns_name}"),
            format!("link set {veth} master cbr0"),
            format!("link set {veth} up"),
        ],
    )?;
    ip_batch(
        Some(ns_name),
        &[
            format!("addr add {addr}/24 dev eth0"),
            "link set eth0 up".into(),
            format!("route add default via {}", node.bridge_ip()),
        ],
    )?;
    Ok(ns)
}
