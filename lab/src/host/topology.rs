//! The emulated cluster's network: two nodes joined by a veth pair, a bridge
//! per node for pods (the CNI case), routes between the pod ranges.
//! kube-proxy's rules are [`crate::proxy`]'s.
//!
//! Addresses (all inside 198.18.0.0/15, the benchmarking range):
//!
//! | what | address |
//! |---|---|
//! | node-a, node-b (eth0) | 198.19.0.1, 198.19.0.2 |
//! | pods on node-a (cbr0 198.18.1.1) | 198.18.1.10, .11, ... |
//! | pods on node-b (cbr0 198.18.2.1) | 198.18.2.10, .11, ... |
//! | Service ClusterIP | 198.19.100.10:80 |
//! | NodePort | 30080 on each node's IP |
//! | backend port (pod or hostNetwork) | 8080 |

use std::net::{Ipv4Addr, SocketAddrV4};

use super::netns::{Netns, NetnsError, OwnedNetns, ip, ip_batch};

/// The Service's ClusterIP.
pub const CLUSTER_IP: SocketAddrV4 = SocketAddrV4::new(Ipv4Addr::new(198, 19, 100, 10), 80);
/// The Service's NodePort.
pub const NODE_PORT: u16 = 30080;
/// The lab's commit canary on the probing node: connects to this port are
/// DNATed to the next one while the canary rule is in place.
pub const CANARY_PORT: u16 = 30998;
/// The port the backend listens on, in a pod or on the node.
pub const BACKEND_PORT: u16 = 8080;
/// The pod CIDR of the whole cluster (kube-proxy's --cluster-cidr).
pub const CLUSTER_CIDR: &str = "198.18.0.0/16";
const SERVICE_CIDR: &str = "198.19.100.0/24";

/// One emulated node.
#[derive(Debug, Clone)]
pub struct Node {
    /// Name (also its namespace's name).
    pub name: String,
    /// Its namespace.
    pub ns: Netns,
    /// Its address on the node network.
    pub ip: Ipv4Addr,
    /// Index (0 for node-a), which fixes its pod range 198.18.(index+1).0/24.
    pub index: u8,
}

impl Node {
    /// The node's bridge address, the pods' gateway.
    pub fn bridge_ip(&self) -> Ipv4Addr {
        Ipv4Addr::new(198, 18, self.index + 1, 1)
    }

    /// The address of the `n`-th pod created on this node.
    pub fn pod_ip(&self, n: u8) -> Ipv4Addr {
        Ipv4Addr::new(198, 18, self.index + 1, 10 + n)
    }
}

/// Both nodes, ready for pods. Owns the nodes' namespaces: they go when it
/// is dropped (after the pods, which own theirs).
#[derive(Debug)]
pub struct Cluster {
    /// node-a (probing node) and node-b.
    pub nodes: [Node; 2],
    _owners: [OwnedNetns; 2],
}

impl Cluster {
    /// Creates the nodes, their link, bridges, routes and sysctls.
    pub fn create() -> Result<Cluster, NetnsError> {
        let a = OwnedNetns::create("node-a")?;
        let b = OwnedNetns::create("node-b")?;
        let mk = |ns: &OwnedNetns, index: u8| Node {
            name: ns.name.clone(),
            ns: ns.handle(),
            ip: Ipv4Addr::new(198, 19, 0, index + 1),
            index,
        };
        let nodes = [mk(&a, 0), mk(&b, 1)];
        ip(&[
            "link", "add", "eth0", "netns", "node-a", "type", "veth", "peer", "name", "eth0",
            "netns", "node-b",
        ])?;
        for (i, node) in nodes.iter().enumerate() {
            let other = &nodes[1 - i];
            ip_batch(
                Some(&node.name),
                &[
                    "link add cbr0 type bridge".into(),
                    format!("addr add {}/24 dev cbr0", node.bridge_ip()),
                    "link set cbr0 up".into(),
                    format!("addr add {}/24 dev eth0", node.ip),
                    "link set eth0 up".into(),
                    format!("route add 198.18.{}.0/24 via {}", other.index + 1, other.ip),
                    format!("route add {SERVICE_CIDR} dev eth0 src {}", node.ip),
                ],
            )?;
            node.ns.sysctls(&[
                ("net.ipv4.ip_forward", "1"),
                ("net.ipv4.conf.all.route_localnet", "1"),
                ("net.ipv4.tcp_max_tw_buckets", "0"),
            ])?;
        }
        Ok(Cluster {
            nodes,
            _owners: [a, b],
        })
    }
}

/// Creates a pod's network: its namespace, a veth on the node's bridge, its
/// address and default route, and no TIME_WAIT buckets (so a SYN never lands
/// on a TIME_WAIT socket and gets the ACK-reset-retry dance that hides
/// refusals).
pub fn create_pod_netns(
    node: &Node,
    pod: &str,
    veth: &str,
    addr: Ipv4Addr,
) -> Result<OwnedNetns, NetnsError> {
    let ns = OwnedNetns::create(&format!("pod-{pod}"))?;
    ip_batch(
        Some(&node.name),
        &[
            format!("link add {veth} type veth peer name eth0 netns {}", ns.name),
            format!("link set {veth} master cbr0"),
            format!("link set {veth} up"),
        ],
    )?;
    ip_batch(
        Some(&ns.name),
        &[
            format!("addr add {addr}/24 dev eth0"),
            "link set eth0 up".into(),
            format!("route add default via {}", node.bridge_ip()),
        ],
    )?;
    ns.sysctls(&[("net.ipv4.tcp_max_tw_buckets", "0")])?;
    Ok(ns)
}
