//! kube-proxy, played by the lab: the Service's nat chains ([`rules`]),
//! applied as one transaction per endpoint change with the commit held until
//! the drawn propagation delay and timed on the data path ([`restore`]), the
//! delays themselves ([`delay`]), and the conntrack cleanup ([`conntrack`]).
//!
//! [`KubeProxy`] is the actor the run's sequence talks to: it knows both
//! nodes, which one the agent probes from (it carries the commit canary
//! until the old endpoint's removal), and the Service.

pub mod conntrack;
pub mod delay;
pub mod restore;
pub mod rules;

use std::net::SocketAddrV4;
use std::thread::JoinHandle;
use std::time::Instant;

use crate::host::netns::NetnsError;
use crate::host::topology::{CANARY_PORT, CLUSTER_CIDR, CLUSTER_IP, Cluster, NODE_PORT, Node};
pub use restore::{Applied, Canary, ProxyError, restore, restore_at};
pub use rules::Service;

/// The Service as kube-proxy sees it.
pub fn service() -> Service {
    Service {
        name: "lab/web".into(),
        cluster_ip: CLUSTER_IP,
        node_port: NODE_PORT,
        cluster_cidr: CLUSTER_CIDR.into(),
    }
}

/// A sync that failed on a node.
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    /// Entering the node's namespace failed.
    #[error(transparent)]
    Netns(#[from] NetnsError),
    /// Recording the commit on the timeline failed.
    #[error(transparent)]
    Timeline(#[from] seamless_proto::run::RunDirError),
    /// iptables-restore failed.
    #[error("kube-proxy sync on {node} failed")]
    Proxy {
        /// The node.
        node: String,
        /// Why.
        #[source]
        source: ProxyError,
    },
}

/// What the old endpoint's removal did on the probing node.
#[derive(Debug, Clone, Copy)]
pub struct Removed {
    /// When the transaction was written and committed.
    pub applied: Applied,
    /// Conntrack entries of the old endpoint deleted after the commit.
    pub conntrack_deleted: usize,
}

/// kube-proxy on both nodes.
#[derive(Debug, Clone)]
pub struct KubeProxy {
    probing: Node,
    other: Node,
    svc: Service,
    canary: Canary,
    conntrack_cleanup: bool,
}

impl KubeProxy {
    /// Starts kube-proxy on every node: the jumps from the built-in chains,
    /// the lab's reset marks and the Service with no endpoints.
    pub fn start(cluster: &Cluster, conntrack_cleanup: bool) -> Result<KubeProxy, SyncError> {
        let [probing, other] = cluster.nodes.clone();
        let canary = Canary {
            from: SocketAddrV4::new(probing.ip, CANARY_PORT),
            to: SocketAddrV4::new(probing.ip, CANARY_PORT + 1),
        };
        let proxy = KubeProxy {
            probing,
            other,
            svc: service(),
            canary,
            conntrack_cleanup,
        };
        for node in [&proxy.probing, &proxy.other] {
            for rules in [
                proxy.svc.base_rules(),
                Service::mark_rules().to_owned(),
                proxy.svc.sync_rules(&[], &[]),
            ] {
                apply(node, || restore(&rules))?;
            }
        }
        Ok(proxy)
    }

    /// Syncs `endpoints` on one node, committing at `at` (else at once); the
    /// probing node keeps the commit canary.
    fn sync(
        &self,
        node: &Node,
        endpoints: &[SocketAddrV4],
        at: Option<Instant>,
    ) -> Result<Applied, SyncError> {
        let canary = (node.name == self.probing.name).then_some(self.canary);
        let rules = self.svc.sync_rules_with(endpoints, &[], canary);
        apply(node, || restore_at(&rules, at, None))
    }

    /// Syncs `endpoints` on every node at once.
    pub fn sync_all(&self, endpoints: &[SocketAddrV4]) -> Result<(), SyncError> {
        for node in [&self.probing, &self.other] {
            self.sync(node, endpoints, None)?;
        }
        Ok(())
    }

    /// A new endpoint: `endpoints` on the probing node at `at` (the drawn
    /// delay), then on the other node. Returns the probing node's commit.
    pub fn add(&self, endpoints: &[SocketAddrV4], at: Instant) -> Result<Applied, SyncError> {
        let applied = self.sync(&self.probing, endpoints, Some(at))?;
        self.sync(&self.other, endpoints, None)?;
        Ok(applied)
    }

    /// The old endpoint's removal, on a thread of its own (it races
    /// kubelet): `remaining` only, `stale`'s chain deleted, committed on the
    /// probing node at `at` and timed through the canary, which goes with
    /// it; then the conntrack cleanup; then the other node. `on_commit` is
    /// called right after the commit (to record it).
    pub fn remove(
        &self,
        remaining: SocketAddrV4,
        stale: SocketAddrV4,
        at: Instant,
        on_commit: impl FnOnce(&Applied) -> Result<(), seamless_proto::run::RunDirError>
        + Send
        + 'static,
    ) -> JoinHandle<Result<Removed, SyncError>> {
        let me = self.clone();
        std::thread::spawn(move || {
            let rules = me.svc.sync_rules(&[remaining], &[stale]);
            let canary = Some(me.canary);
            let applied = apply(&me.probing, || restore_at(&rules, Some(at), canary))?;
            on_commit(&applied)?;
            let conntrack_deleted = if me.conntrack_cleanup {
                me.probing.ns.run(|| conntrack::delete_reset(stale))?
            } else {
                0
            };
            apply(&me.other, || restore(&rules))?;
            Ok(Removed {
                applied,
                conntrack_deleted,
            })
        })
    }
}

fn apply(
    node: &Node,
    f: impl FnOnce() -> Result<Applied, ProxyError> + Send,
) -> Result<Applied, SyncError> {
    node.ns.run(f)?.map_err(|source| SyncError::Proxy {
        node: node.name.clone(),
        source,
    })
}
