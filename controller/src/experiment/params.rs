//! What one experiment is asked to do, and what it did: the parameters,
//! the runs' records, the experiment's id and run directories.

use std::path::{Path, PathBuf};
use std::time::Duration;

use seamless_proto::control::ClockOffset;

use crate::rollout::Trigger;

/// How the agents reach the Service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Access {
    /// The Service's ClusterIP and port (through kube-proxy's rules).
    Clusterip,
    /// The agent's own node's IP and the Service's nodePort.
    Nodeport,
    /// Both, side by side: one probing container for each in every agent
    /// pod.
    Both,
}

impl Access {
    /// The ways to probe, in a stable order.
    pub fn vias(self) -> &'static [Via] {
        match self {
            Access::Clusterip => &[Via::Clusterip],
            Access::Nodeport => &[Via::Nodeport],
            Access::Both => &[Via::Clusterip, Via::Nodeport],
        }
    }

    /// The name in `run.json`.
    pub fn name(self) -> &'static str {
        match self {
            Access::Clusterip => "clusterip",
            Access::Nodeport => "nodeport",
            Access::Both => "both",
        }
    }
}

/// One way to reach a Service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Via {
    /// ClusterIP:port.
    Clusterip,
    /// The agent's node IP:nodePort.
    Nodeport,
}

impl Via {
    /// Its name (`run.json`, container and agent names).
    pub fn name(self) -> &'static str {
        match self {
            Via::Clusterip => "clusterip",
            Via::Nodeport => "nodeport",
        }
    }
}

/// What a probe target is to the experiment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// The Service of the Deployment that rolls.
    Rolled,
    /// `--control`: a Service the rollout does not touch; its failures
    /// are the network's or the prober's.
    Control,
}

impl Role {
    /// Its name in `run.json` (`agents[].role`), as the analyzer reads it.
    pub fn name(self) -> &'static str {
        match self {
            Role::Rolled => "rolled",
            Role::Control => "control",
        }
    }
}

/// What one experiment is asked to do.
#[derive(Debug, Clone)]
pub struct Params {
    /// Namespace.
    pub namespace: String,
    /// Deployment name.
    pub deployment: String,
    /// How each run starts its rollout.
    pub trigger: Trigger,
    /// The Service to probe first, then the others to follow; empty to
    /// discover (then exactly one must select the pods).
    pub services: Vec<String>,
    /// Each rollout's timeout.
    pub timeout: Duration,
    /// Each rollout's settle time.
    pub settle: Duration,
    /// Nodes to put one agent each on; empty: one agent, placed away from
    /// the Deployment's pods when a node allows (or one per node, below).
    pub agents: Vec<String>,
    /// One agent on every node the DaemonSet controller places a pod on.
    pub per_node: bool,
    /// A Service that is not rolled, probed by the same agents.
    pub control: Option<String>,
    /// How the agents reach the Service.
    pub access: Access,
    /// Probes a second, per agent.
    pub rate: f64,
    /// The agent's image.
    pub image: String,
    /// The agents' control port.
    pub port: u16,
    /// Runs.
    pub repeat: u32,
    /// Pause between runs.
    pub between: Duration,
    /// The experiment's directory: `run-01`, `run-02`, ... inside.
    pub out: PathBuf,
    /// Allow more than one replica.
    pub replicas_ok: bool,
    /// Leave the agent pods behind.
    pub keep: bool,
    /// Print the plan only.
    pub dry_run: bool,
    /// The most to wait for an agent to probe.
    pub ready_timeout: Duration,
    /// Round trips for each clock estimate.
    pub clock_rounds: usize,
    /// The experiment's id: the label value on everything it creates.
    pub id: String,
}

/// One agent of one run, as fetched.
#[derive(Debug, Clone)]
pub struct AgentRecord {
    /// The pod.
    pub pod: String,
    /// Its node.
    pub node: String,
    /// The agent's name in the run directory (`probe-<agent>.log`).
    pub agent: String,
    /// The container that probed.
    pub container: String,
    /// The Service it probed.
    pub service: String,
    /// Whether that Service rolled.
    pub role: Role,
    /// How it reached it.
    pub via: Via,
    /// Probes in its log.
    pub probes: u64,
    /// The log's size.
    pub bytes: u64,
    /// Its clock against ours.
    pub clock: ClockOffset,
}

/// One finished run.
#[derive(Debug, Clone)]
pub struct RunRecord {
    /// The run directory.
    pub dir: PathBuf,
    /// Its agents.
    pub agents: Vec<AgentRecord>,
}

/// What an experiment did.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// The experiment's id.
    pub id: String,
    /// The runs, in order (none for a dry run).
    pub runs: Vec<RunRecord>,
    /// The probe interval, ns (for the clock flag).
    pub interval_ns: i64,
}

/// A new experiment id: UTC time and a few hex digits, valid as a label
/// value and inside a pod name.
pub fn new_id() -> String {
    let now = chrono::Utc::now();
    let salt = (now.timestamp_subsec_nanos() ^ std::process::id().rotate_left(16)) & 0xffff;
    format!("{}-{salt:04x}", now.format("%Y%m%d-%H%M%S"))
}

/// The directory of run `i` (from 1).
pub fn run_dir(out: &Path, i: u32) -> PathBuf {
    out.join(format!("run-{i:02}"))
}
