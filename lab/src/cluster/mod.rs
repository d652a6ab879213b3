//! `seamless-lab up`: a throwaway multi-node cluster of real Kubernetes
//! components (etcd, kube-apiserver, kube-controller-manager,
//! kube-scheduler, built from source by `lab/kubernetes/build.sh`) and our
//! own kubelet per node, inside the lab's private namespaces, reachable
//! from the user's shell through a kubeconfig on a loopback port. Ctrl+C
//! ends it; nothing is left behind (the world's PID namespace takes every
//! process with it, the private /run every file but the kubeconfig, which
//! the outer process removes).
//!
//! Modules: [`bins`] (where the components are), [`pki`] (certificates,
//! kubeconfigs), [`process`] (a component's process), [`control_plane`],
//! [`network`] (nodes and pods), [`forward`] (the API server from the
//! host), [`kube_proxy`] (the real kube-proxy per node), [`client`],
//! `outer` (the host side of `up`: the world's supervision).

pub mod bins;
pub mod client;
pub mod control_plane;
pub mod dns;
pub mod forward;
pub mod kube_proxy;
pub mod network;
mod outer;
pub mod pki;
pub mod process;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context;
use serde::{Deserialize, Serialize};

use crate::node::{self, NodeCtx};
use bins::Bins;

/// Where the inner lab keeps a cluster's state (in its private /run).
const STATE: &str = "/run/seamless-lab/up";

/// Options of `seamless-lab up`.
#[derive(Debug, Clone, clap::Args, Serialize, Deserialize)]
pub struct UpOpts {
    /// Emulated nodes (node-a, node-b, ...).
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u8).range(1..=26))]
    pub nodes: u8,

    /// Kubernetes version of the components (built by
    /// `bash lab/kubernetes/build.sh VERSION` into target/kubernetes/VERSION/bin).
    #[arg(long, default_value = bins::DEFAULT_VERSION.trim())]
    pub kubernetes_version: String,

    /// A directory with etcd, kube-apiserver, kube-controller-manager,
    /// kube-scheduler and kube-proxy (unless --proxy-mode none) instead
    /// (e.g. the official release binaries).
    #[arg(long)]
    pub kubernetes_bin: Option<PathBuf>,

    /// Host loopback port for the API server [default: any free port].
    #[arg(long, default_value_t = 0)]
    pub port: u16,

    /// Where to write the kubeconfig for the user's shell.
    #[arg(long, default_value = "seamless-lab.kubeconfig")]
    pub kubeconfig: PathBuf,

    /// seamless-agent, for pods of `seamless-agent*` images [default: next
    /// to this executable, then PATH].
    #[arg(long)]
    pub agent_bin: Option<PathBuf>,

    /// Also write the kubelets' steps (JSON lines, CLOCK_REALTIME ns) here
    /// [default: only inside the lab, in its state directory].
    #[arg(long)]
    pub events: Option<PathBuf>,

    /// How long to wait for the API server.
    #[arg(long, default_value = "60s", value_parser = seamless_proto::duration::parse)]
    #[serde(with = "duration_secs")]
    pub timeout: Duration,

    /// kube-proxy's mode on every node: iptables, nftables (kube-proxy
    /// 1.29 and later) or none (no kube-proxy, no Service data path).
    #[arg(long, value_enum, default_value_t = kube_proxy::ProxyMode::Iptables)]
    #[serde(default)]
    pub proxy_mode: kube_proxy::ProxyMode,

    /// kube-proxy's minSyncPeriod [default: kube-proxy's own, 1s].
    #[arg(long, value_parser = seamless_proto::duration::parse)]
    #[serde(default)]
    pub proxy_min_sync_period: Option<Duration>,

    /// kube-controller-manager's `--endpointslice-updates-batch-period`:
    /// how long the EndpointSlice controller batches a Service's endpoint
    /// changes before it writes the slice [default: the controller's own,
    /// 0: every change at once].
    #[arg(long, value_parser = seamless_proto::duration::parse)]
    #[serde(default)]
    pub endpointslice_updates_batch_period: Option<Duration>,

    /// Internal: the inner lab's configuration, as JSON.
    #[arg(long, hide = true)]
    #[serde(skip)]
    pub inside_config: Option<String>,
}

mod duration_secs {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::time::Duration;
    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(d.as_secs_f64())
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        Ok(Duration::from_secs_f64(f64::deserialize(d)?))
    }
}

/// What the inner lab is told, as one typed value.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Inner {
    /// The cluster's options.
    pub(crate) opts: UpOpts,
    /// The components' directory.
    pub(crate) bins: PathBuf,
    /// seamless-agent.
    pub(crate) agent: PathBuf,
}

/// Runs `seamless-lab up`; returns the exit code.
pub async fn up(opts: UpOpts) -> anyhow::Result<i32> {
    if let Some(json) = &opts.inside_config {
        let inner: Inner = serde_json::from_str(json).context("the inner lab's configuration")?;
        return inside(inner).await;
    }
    outer::outer(opts).await
}

/// PID 1 of the world: network, control plane, kubelets, until a signal.
async fn inside(inner: Inner) -> anyhow::Result<i32> {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    let mut int = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())?;
    crate::host::sandbox::prepare_inside()
        .map_err(|e| anyhow::anyhow!("preparing the sandbox: {e}"))?;
    let state = PathBuf::from(STATE);
    std::fs::create_dir_all(&state)?;
    let mut cluster = start(&state, &inner, None).await?;
    std::fs::write(state.join("ready"), "")?;
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    loop {
        tokio::select! {
            _ = term.recv() => break,
            _ = int.recv() => break,
            // A kube-proxy that dies is reported with its log, once.
            _ = tick.tick() => for e in cluster.proxies.reap_dead() {
                tracing::error!("{e}");
            },
        }
    }
    cluster.stop();
    Ok(0)
}

/// A running cluster: control plane, kubelets and kube-proxies.
pub struct Running {
    /// The control plane (stopped on drop).
    pub control_plane: ControlPlaneHandle,
    /// The nodes' kubelets.
    pub nodes: Vec<Arc<NodeCtx>>,
    /// The admin client.
    pub admin: kube::Client,
    /// The admin's kubeconfig (server on the node network).
    pub admin_kubeconfig: PathBuf,
    /// The nodes' kube-proxies (stopped on drop).
    pub proxies: kube_proxy::KubeProxies,
    /// The kubelets' tasks.
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Running {
    /// Stops the kubelets first (so nothing reports the API server's
    /// going as an error), then the control plane. The pods' processes
    /// go with the world's PID namespace.
    pub fn stop(mut self) {
        for t in &self.tasks {
            t.abort();
        }
        self.proxies.stop();
        if let Ok(mut cp) = self.control_plane.lock() {
            cp.stop();
        }
    }
}

/// The control plane behind a lock (it is stopped from a blocking thread).
pub type ControlPlaneHandle = Arc<Mutex<control_plane::ControlPlane>>;

/// Starts the network, control plane and one kubelet and kube-proxy per
/// node, and waits until every node is Ready and every kube-proxy has
/// synced its rules once. `sink` gets the kubelets' steps (default: a
/// JSONL file in the state directory and the debug log).
pub(crate) async fn start(
    state: &Path,
    inner: &Inner,
    sink: Option<node::events::Sink>,
) -> anyhow::Result<Running> {
    network::create_backbone()?;
    let mut nets = Vec::new();
    for i in 0..inner.opts.nodes as usize {
        nets.push(network::create_node(i)?);
    }
    let bins = Bins {
        dir: inner.bins.clone(),
    };
    let (st, timeout) = (state.to_path_buf(), inner.opts.timeout);
    // A plain thread: the start polls /readyz on a runtime of its own.
    let (tx, rx) = tokio::sync::oneshot::channel();
    let batch = inner.opts.endpointslice_updates_batch_period;
    std::thread::spawn(move || {
        let _ = tx.send(control_plane::ControlPlane::start(
            &bins, &st, timeout, batch,
        ));
    });
    let mut cp = rx.await.context("the control plane's thread died")??;
    let admin = client::from_kubeconfig(&cp.admin_kubeconfig).await?;
    // Cluster DNS, where a coredns binary is there.
    let coredns = inner.bins.join("coredns");
    let dns = if coredns.is_file() {
        let pair = cp.pki.client("seamless-lab-coredns", &["system:masters"])?;
        let kc = cp.pki.kubeconfig("coredns.kubeconfig", &cp.server, &pair)?;
        let dir = state.join("coredns");
        std::fs::create_dir_all(&dir)?;
        cp.adopt(dns::start(&coredns, &kc, &dir, &cp.log_dir.clone())?);
        Some(dns::DNS_IP)
    } else {
        eprintln!(
            "seamless-lab: no coredns in {}: pods get no cluster DNS (names like \
             web.seamless-demo.svc do not resolve); `bash lab/kubernetes/build.sh` builds it",
            inner.bins.display()
        );
        None
    };
    // The version the API server reports (with --kubernetes-bin, whatever
    // those binaries are), for the nodes' kubeletVersion and the probes'
    // User-Agent.
    let version = admin
        .apiserver_version()
        .await
        .context("GET /version")?
        .git_version;
    let version = version.as_str();
    let socket = state.join("api.sock");
    tokio::spawn(async move {
        let api = std::net::SocketAddr::from((network::CONTROL_PLANE_IP, network::API_PORT));
        if let Err(e) = forward::unix_to_tcp(&socket, api).await {
            tracing::error!("the API server's socket: {e}");
        }
    });
    let sink = match sink {
        Some(s) => s,
        None => {
            let path = match &inner.opts.events {
                Some(p) => p.clone(),
                None => state.join("kubelet-events.jsonl"),
            };
            let f = std::fs::File::create(&path)
                .with_context(|| format!("creating {}", path.display()))?;
            let f = Mutex::new(f);
            Arc::new(move |ev: node::events::KubeletEvent| {
                tracing::debug!("kubelet: {ev:?}");
                if let Ok(line) = serde_json::to_string(&ev)
                    && let Ok(mut f) = f.lock()
                {
                    let _ = writeln!(f, "{line}");
                }
            })
        }
    };
    let mut proxies = kube_proxy::KubeProxies::new(
        kube_proxy::preflight(
            &inner.bins,
            inner.opts.proxy_mode,
            inner.opts.proxy_min_sync_period,
        )?,
        &cp.pki,
        &cp.server,
        &state.join("kube-proxy"),
        &cp.log_dir,
    )?;
    let mut nodes = Vec::new();
    let mut tasks: Vec<tokio::task::JoinHandle<()>> = Vec::new();
    for net in nets {
        let pair = cp
            .pki
            .client(&format!("system:node:{}", net.name), &["system:nodes"])?;
        let kc = cp
            .pki
            .kubeconfig(&format!("{}.kubeconfig", net.name), &cp.server, &pair)?;
        let client = client::from_kubeconfig(&kc).await?;
        let mut ctx = NodeCtx::new(
            net,
            client,
            inner.agent.clone(),
            state.join("pods"),
            Arc::clone(&sink),
            version,
        );
        ctx.dns = dns;
        let ctx = Arc::new(ctx);
        node::register(&ctx, version).await?;
        // kube-proxy reads its Node at start: only after the registration.
        if let Err(e) = proxies.start(&ctx.net) {
            tasks.iter().for_each(|t| t.abort());
            return Err(e.into());
        }
        tasks.push(tokio::spawn(node::lease_loop(Arc::clone(&ctx))));
        let c = Arc::clone(&ctx);
        tasks.push(tokio::spawn(async move {
            if let Err(e) = node::pod_loop(c).await {
                tracing::error!("{:#}", anyhow::Error::new(e));
            }
        }));
        nodes.push(ctx);
    }
    if let Err(e) = proxies.wait_synced(inner.opts.timeout).await {
        // Quiet kubelets while the control plane goes with the error.
        tasks.iter().for_each(|t| t.abort());
        return Err(e.into());
    }
    Ok(Running {
        admin_kubeconfig: cp.admin_kubeconfig.clone(),
        control_plane: Arc::new(Mutex::new(cp)),
        nodes,
        admin,
        proxies,
        tasks,
    })
}
