//! What one run needs ([`RunSpec`]), how it can fail ([`RunError`]) and
//! where it goes.

use std::path::{Path, PathBuf};
use std::time::Duration;

use seamless_proto::RunInfo;
use seamless_proto::run::RunDirError;

use crate::host::netns::NetnsError;
use crate::host::topology::{self, Cluster, Node};
use crate::kubelet::backend::BackendKind;
use crate::kubelet::{Kubelet, KubeletError};
use crate::pause::Interrupted;
use crate::proxy::SyncError;
use crate::proxy::delay::Delay;
use crate::scenario::{Access, Network, Scenario};

/// What a move or restart does.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Trigger {
    /// The new pod lands on the other node (the seed's nodeName change).
    Move,
    /// The new pod lands on the same node (a restart annotation). With
    /// hostNetwork the port is taken, so the scheduler picks the other node.
    Restart,
}

/// Everything one run needs.
#[derive(Debug, Clone)]
pub struct RunSpec {
    /// The matrix cell.
    pub scenario: Scenario,
    /// Move or restart.
    pub trigger: Trigger,
    /// Built-in server or nginx.
    pub backend: BackendKind,
    /// Endpoint-propagation delay for the new pod's endpoint.
    pub add_delay: Delay,
    /// Endpoint-propagation delay for the old pod's removal.
    pub remove_delay: Delay,
    /// preStop sleep (used by the prestop scenarios).
    pub prestop: Duration,
    /// terminationGracePeriodSeconds.
    pub grace: Duration,
    /// Probing before the rollout starts.
    pub warmup: Duration,
    /// Probing after the old pod is gone.
    pub settle: Duration,
    /// Agent probes a second (each mode).
    pub rate: f64,
    /// The agent's modes (`new`, `reuse`).
    pub agent_modes: Vec<String>,
    /// Reuse mode's pool, when set.
    pub agent_pool: Option<u32>,
    /// Reuse mode without the agent's idle check.
    pub agent_no_idle_check: bool,
    /// How the old pod's server stops.
    pub shutdown: crate::shutdown::Shutdown,
    /// Delete conntrack entries to the removed endpoint after its rule left.
    pub conntrack_cleanup: bool,
    /// This run's seed.
    pub seed: u64,
    /// The run directory (created).
    pub dir: PathBuf,
    /// seamless-agent.
    pub agent_bin: PathBuf,
    /// seamless-lab (for `seamless-lab serve`).
    pub lab_bin: PathBuf,
    /// Running without real root (in a user namespace).
    pub rootless: bool,
    /// Where per-pod private files (nginx) go.
    pub scratch: PathBuf,
}

impl RunSpec {
    /// kubelet's settings for this run's pods.
    pub fn kubelet(&self) -> Kubelet {
        Kubelet {
            network: self.scenario.network,
            backend: self.backend,
            lab_bin: self.lab_bin.clone(),
            scratch: self.scratch.clone(),
            rootless: self.rootless,
            prestop: self.scenario.has_prestop().then_some(self.prestop),
            grace: self.grace,
            shutdown: self.shutdown,
        }
    }

    /// What the agent probes from `node`: the ClusterIP or its NodePort.
    pub fn url(&self, node: &Node) -> String {
        match self.scenario.access {
            Access::ClusterIp => format!("http://{}/", topology::CLUSTER_IP),
            Access::NodePort => format!("http://{}:{}/", node.ip, topology::NODE_PORT),
        }
    }

    /// Where the new pod lands.
    pub fn target_node<'c>(&self, cluster: &'c Cluster) -> &'c Node {
        match (self.trigger, self.scenario.network) {
            (Trigger::Restart, Network::Pod) => &cluster.nodes[0],
            _ => &cluster.nodes[1],
        }
    }

    /// The trigger as run.json and patch_sent describe it.
    pub fn trigger_text(&self, target: &Node) -> String {
        match self.trigger {
            Trigger::Move => format!("move-to-node {}", target.name),
            Trigger::Restart => "restart".to_owned(),
        }
    }
}

/// Errors of one run.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// Building the cluster's network failed.
    #[error(transparent)]
    Netns(#[from] NetnsError),
    /// kubelet's part failed.
    #[error(transparent)]
    Kubelet(KubeletError),
    /// A kube-proxy sync failed.
    #[error(transparent)]
    Proxy(#[from] SyncError),
    /// Writing the run directory failed.
    #[error(transparent)]
    Write(#[from] RunDirError),
    /// The agent exited on its own before the run ended.
    #[error("seamless-agent exited early ({0}): {1}")]
    AgentExited(std::process::ExitStatus, String),
    /// The lab was interrupted (SIGINT/SIGTERM).
    #[error("interrupted")]
    Interrupted,
}

impl From<Interrupted> for RunError {
    fn from(_: Interrupted) -> RunError {
        RunError::Interrupted
    }
}

impl From<KubeletError> for RunError {
    fn from(e: KubeletError) -> RunError {
        match e {
            KubeletError::Interrupted(_) => RunError::Interrupted,
            other => RunError::Kubelet(other),
        }
    }
}

/// What one run found, for the summary.
#[derive(Debug, Clone)]
pub struct RunResult {
    /// The run.json written.
    pub info: RunInfo,
}

/// The run directory of one scenario and repeat: `OUT/<scenario>/run-NN`.
pub fn run_dir(out: &Path, scenario: &Scenario, repeat: u32) -> PathBuf {
    out.join(scenario.to_string())
        .join(format!("run-{repeat:02}"))
}
