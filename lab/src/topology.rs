//! The emulated cluster's network: two nodes joined by a veth pair, a bridge
//! per node for pods (the CNI case), routes between the pod ranges, and the
//! kube-proxy base rules.
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

use super::netns::{Netns, NetnsError, ip, ip_batch};
use super::proxy::{ProxyError, Service, restore};

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

/// The Service as kube-proxy sees it.
pub fn service() -> Service {
    Service {
        name: "lab/web".into(),
        cluster_ip: CLUSTER_IP,
        node_port: NODE_PORT,
        cluster_cidr: CLUSTER_CIDR.into(),
    }
}

/// Errors building the topology.
#[derive(Debug, thiserror::Error)]
pub enum TopologyError {
    /// A namespace or link operation failed.
    #[error(transparent)]
    Netns(#[from] NetnsError),
    /// Installing the base rules failed.
    #[error("installing kube-proxy's base rules on {node} failed")]
    Proxy {
        /// The node.
        node: String,
        /// Why.
        #[source]
        source: ProxyError,
    },
}

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

/// Both nodes, ready for pods.
#[derive(Debug)]
pub struct Cluster {
    /// node-a (probing node) and node-b.
    pub nodes: [Node; 2],
}

impl Cluster {
    /// Creates the nodes, their link, bridges, routes, sysctls and the
    /// kube-proxy base rules with no endpoints.
    pub fn create() -> Result<Cluster, TopologyError> {
        let mk = |name: &str, index: u8| -> Result<Node, TopologyError> {
            Ok(Node {
                name: name.into(),
                ns: Netns::create(name)?,
                ip: Ipv4Addr::new(198, 19, 0, index + 1),
                index,
            })
        };
        let nodes = [mk("node-a", 0)?, mk("node-b", 1)?];
        ip(&[
            "link", "add", "eth0", "netns", "node-a", "type", "veth", "peer", "name", "eth0",
            "netns", "node-b",
        ])?;
        let svc = service();
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
            let to_err = |source| TopologyError::Proxy {
                node: node.name.clone(),
                source,
            };
            node.ns
                .run(|| restore(&svc.base_rules()))?
                .map_err(to_err)?;
            node.ns
                .run(|| restore(Service::mark_rules()))?
                .map_err(to_err)?;
            node.ns
                .run(|| restore(&svc.sync_rules(&[], &[])))?
                .map_err(to_err)?;
        }
        Ok(Cluster { nodes })
    }

    /// Deletes every namespace name this cluster made (pods first).
    pub fn destroy(&self, pods: &[Netns]) {
        for ns in pods.iter().chain(self.nodes.iter().map(|n| &n.ns)) {
            if let Err(e) = ns.delete() {
                tracing::debug!("deleting {}: {e}", ns.name);
            }
        }
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
) -> Result<Netns, TopologyError> {
    let ns = Netns::create(&format!("pod-{pod}"))?;
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
