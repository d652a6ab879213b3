//! A kubelet of our own, one per emulated node, talking to the real API
//! server with the node's own identity (`system:node:<name>`, so the Node
//! authorizer and NodeRestriction hold it to a node's rights).
//!
//! - registers its Node (addresses, capacity, podCIDR, Ready) as kubelet's
//!   `registerWithAPIServer` does (pkg/kubelet/kubelet_node_status.go);
//! - renews its Lease in `kube-node-lease` every 10 s, 40 s duration
//!   (pkg/kubelet/nodelease);
//! - watches the pods bound to it and runs each in [`pod`].
//!
//! Modules: [`spec`] (what it accepts), [`runtime`] (images to programs),
//! `terminate` (the deletion order), `volumes`, `api` (fail, delete), [`ipam`], [`dns`],
//! [`probe`] (readiness), [`status`] (what it posts), [`events`] (its
//! steps, for the timeline).

mod api;
pub mod dns;
pub mod events;
pub mod ipam;
pub mod pod;
pub mod probe;
pub mod runtime;
pub mod spec;
pub mod status;
mod terminate;
mod volumes;

use std::collections::HashMap;
use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{SecondsFormat, Utc};
use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::{Node, Pod};
use kube::api::{Api, Patch, PatchParams, PostParams};
use kube::runtime::{WatchStreamExt, watcher};
use serde_json::json;
use tokio::sync::watch;

use crate::cluster::network::NodeNet;
use crate::host::netns::{Netns, NetnsError};
use events::{KubeletEvent, Sink, Step};

/// What every pod worker of one node shares.
pub struct NodeCtx {
    /// The node's network.
    pub net: NodeNet,
    /// A client with the node's identity.
    pub client: kube::Client,
    /// seamless-agent, for `seamless-agent*` images.
    pub agent_bin: PathBuf,
    /// Pods' directories (`<state>/pods/<uid>`).
    pub pods_dir: PathBuf,
    /// Where the steps go.
    pub sink: Sink,
    /// The probes' User-Agent (kube-probe/MAJOR.MINOR).
    pub probe_agent: String,
    /// The cluster DNS server (kubelet's --cluster-dns), if the lab runs one.
    pub dns: Option<Ipv4Addr>,
    /// Pod addresses in use (last octet).
    ips: Mutex<ipam::Ipam>,
}

impl NodeCtx {
    /// A node's context.
    pub fn new(
        net: NodeNet,
        client: kube::Client,
        agent_bin: PathBuf,
        pods_dir: PathBuf,
        sink: Sink,
        version: &str,
    ) -> NodeCtx {
        let mm: Vec<&str> = version.trim_start_matches('v').split('.').take(2).collect();
        NodeCtx {
            net,
            client,
            agent_bin,
            pods_dir,
            sink,
            probe_agent: format!("kube-probe/{}", mm.join(".")),
            dns: None,
            ips: Mutex::new(ipam::Ipam::new(10, 250)),
        }
    }

    /// Records a step.
    pub fn event(&self, pod: &Pod, step: Step, container: &str, detail: &str) {
        (self.sink)(KubeletEvent {
            t_ns: seamless_proto::clock::now_ns(),
            node: self.net.name.clone(),
            pod: format!(
                "{}/{}",
                pod.metadata.namespace.as_deref().unwrap_or(""),
                pod.metadata.name.as_deref().unwrap_or("")
            ),
            step,
            container: container.into(),
            detail: detail.into(),
        });
    }
}

/// A pod's network and directory.
pub struct Sandbox {
    /// Its namespace (the node's under hostNetwork).
    pub ns: Netns,
    /// Its address.
    pub ip: Ipv4Addr,
    /// Whether it is the node's network.
    pub host_network: bool,
    /// Its directory.
    pub dir: PathBuf,
}

impl Sandbox {
    /// Makes the pod's directory and network (a namespace on cbr0 with the
    /// next free address of the node's range, or the node's own).
    pub fn create(ctx: &NodeCtx, uid: &str, host_network: bool) -> Result<Sandbox, String> {
        let dir = ctx.pods_dir.join(uid);
        std::fs::create_dir_all(&dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
        if host_network {
            return Ok(Sandbox {
                ns: ctx.net.ns.clone(),
                ip: ctx.net.ip,
                host_network,
                dir,
            });
        }
        let octet = {
            let mut ipam = ctx.ips.lock().unwrap_or_else(|p| p.into_inner());
            ipam.reserve().ok_or("the node's pod range is full")?
        };
        let ip = Ipv4Addr::new(198, 18, ctx.net.index + 1, octet);
        let name = format!("pod-{}", &uid[..uid.len().min(13)]);
        let ns =
            crate::cluster::network::create_pod(&ctx.net, &name, ip).map_err(|e: NetnsError| {
                ctx.ips
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .release(octet);
                format!("creating the pod's network: {e}")
            })?;
        Ok(Sandbox {
            ns,
            ip,
            host_network,
            dir,
        })
    }

    /// Removes the pod's network (its address goes back to the pool); the
    /// directory stays until the lab ends (an emptyDir's files, e.g. the
    /// agent's log, are read after the pod).
    pub fn destroy(&self, ctx: &NodeCtx) {
        if self.host_network {
            return;
        }
        if let Err(e) = self.ns.delete() {
            tracing::warn!("deleting {}: {e}", self.ns.name);
        }
        ctx.ips
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .release(self.ip.octets()[3]);
    }
}

/// The kubelet failed.
#[derive(Debug, thiserror::Error)]
pub enum KubeletError {
    /// The API refused or failed.
    #[error("{0} for node {1}")]
    Api(String, String, #[source] kube::Error),
    /// The watch ended.
    #[error("the pod watch of {0} failed")]
    Watch(String, #[source] watcher::Error),
}

/// Registers the node: the Node object (create, or take over one of the
/// same name), then its status: addresses, capacity, Ready.
pub async fn register(ctx: &NodeCtx, version: &str) -> Result<(), KubeletError> {
    let name = ctx.net.name.clone();
    let err = |what: &str| {
        let (what, name) = (what.to_string(), name.clone());
        move |e| KubeletError::Api(what, name, e)
    };
    let nodes: Api<Node> = Api::all(ctx.client.clone());
    let node: Node = serde_json::from_value(json!({
        "metadata": {"name": name, "labels": {
            "kubernetes.io/hostname": name, "kubernetes.io/os": "linux",
            "kubernetes.io/arch": std::env::consts::ARCH.replace("x86_64", "amd64").replace("aarch64", "arm64"),
            "beta.kubernetes.io/os": "linux",
        }},
        "spec": {"podCIDR": ctx.net.pod_cidr(), "podCIDRs": [ctx.net.pod_cidr()]},
    }))
    .expect("a Node from JSON");
    match nodes.create(&PostParams::default(), &node).await {
        Ok(_) => {}
        Err(kube::Error::Api(e)) if e.code == 409 => {}
        Err(e) => return Err(err("creating the Node")(e)),
    }
    let now = Utc::now().to_rfc3339_opts(SecondsFormat::Secs, true);
    let res = json!({"cpu": "2", "memory": "8Gi", "pods": "110", "ephemeral-storage": "10Gi"});
    let status = json!({"status": {
        "addresses": [{"type": "InternalIP", "address": ctx.net.ip.to_string()},
                      {"type": "Hostname", "address": name}],
        "capacity": res, "allocatable": res,
        "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady",
            "message": "seamless-lab kubelet is posting ready status",
            "lastHeartbeatTime": now, "lastTransitionTime": now}],
        "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
        "nodeInfo": {"machineID": "", "systemUUID": "", "bootID": "",
            "kernelVersion": "", "osImage": "seamless-lab", "operatingSystem": "linux",
            "architecture": "amd64",
            "containerRuntimeVersion": format!("seamless-lab://{}", env!("CARGO_PKG_VERSION")),
            "kubeletVersion": format!("{version}-seamless-lab"), "kubeProxyVersion": ""},
    }});
    nodes
        .patch_status(&name, &PatchParams::default(), &Patch::Strategic(status))
        .await
        .map_err(err("posting the Node's status"))?;
    Ok(())
}

/// Renews the node's Lease every 10 s (nodelease: renewInterval 10 s,
/// leaseDurationSeconds 40), forever.
pub async fn lease_loop(ctx: Arc<NodeCtx>) {
    let api: Api<k8s_openapi::api::coordination::v1::Lease> =
        Api::namespaced(ctx.client.clone(), "kube-node-lease");
    let name = ctx.net.name.clone();
    loop {
        let now = Utc::now().to_rfc3339_opts(SecondsFormat::Micros, true);
        let lease = json!({"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
            "metadata": {"name": name, "namespace": "kube-node-lease"},
            "spec": {"holderIdentity": name, "leaseDurationSeconds": 40, "renewTime": now}});
        let pp = PatchParams::apply("seamless-lab-kubelet").force();
        if let Err(e) = api.patch(&name, &pp, &Patch::Apply(lease)).await {
            tracing::warn!("renewing the Lease of {name}: {e}");
        }
        tokio::time::sleep(Duration::from_secs(10)).await;
    }
}

/// Runs the node's pods until the watch fails: each pod bound to it gets a
/// worker, fed its latest object.
pub async fn pod_loop(ctx: Arc<NodeCtx>) -> Result<(), KubeletError> {
    let name = ctx.net.name.clone();
    let pods: Api<Pod> = Api::all(ctx.client.clone());
    let cfg = watcher::Config::default().fields(&format!("spec.nodeName={name}"));
    let mut workers: HashMap<String, watch::Sender<Pod>> = HashMap::new();
    // Retried with kube's default backoff: an API server restart is a pause.
    let mut stream = watcher(pods, cfg).default_backoff().boxed();
    while let Some(ev) = stream
        .try_next()
        .await
        .map_err(|e| KubeletError::Watch(name.clone(), e))?
    {
        let (apply, deleted): (Vec<Pod>, Vec<Pod>) = match ev {
            watcher::Event::Apply(p) | watcher::Event::InitApply(p) => (vec![p], vec![]),
            watcher::Event::Delete(p) => (vec![], vec![p]),
            watcher::Event::Init | watcher::Event::InitDone => (vec![], vec![]),
        };
        for p in apply {
            let Some(uid) = p.metadata.uid.clone() else {
                continue;
            };
            workers.retain(|_, tx| !tx.is_closed());
            match workers.get(&uid) {
                Some(tx) => {
                    let _ = tx.send(p);
                }
                None => {
                    let done = p
                        .status
                        .as_ref()
                        .and_then(|s| s.phase.as_deref())
                        .is_some_and(|ph| ph == "Succeeded" || ph == "Failed");
                    if done {
                        continue;
                    }
                    let (tx, rx) = watch::channel(p);
                    workers.insert(uid, tx);
                    tokio::spawn(pod::run(Arc::clone(&ctx), rx));
                }
            }
        }
        for p in deleted {
            if let Some(uid) = &p.metadata.uid {
                workers.remove(uid);
            }
        }
    }
    Ok(())
}
