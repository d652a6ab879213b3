//! `seamless-lab`: the seed's experiment on one Linux machine,
//! with ground truth.
//!
//! An emulated two-node cluster in network namespaces (pods on a bridge or
//! on the node's network), kube-proxy-shaped iptables nat chains for a
//! ClusterIP and a NodePort, backends (the built-in server or nginx), and a
//! rolling update in which kube-proxy's endpoint removal races kubelet's
//! termination. seamless-agent probes the Service from node-a; each run
//! writes a run directory with the probe log, timeline.jsonl and run.json
//! carrying the ground truth. Everything lives in a private PID, mount and
//! network namespace that dies with the lab (see [`host::sandbox`]).
//!
//! One module per actor, so an actor can be swapped without touching the
//! sequence: [`run`] (the sequence of one run), [`kubelet`] (pods: start,
//! readiness, preStop, SIGTERM, grace, SIGKILL, the built-in backend),
//! [`proxy`] (kube-proxy: rules, commit timing, conntrack), [`host`]
//! (sandbox, network namespaces with one owner each, topology), [`agent`]
//! (seamless-agent). Around them: [`opts`] (the options, and the one typed
//! value the sandboxed lab gets them as), [`supervisor`] (the user's
//! process), [`matrix`] (the inner lab), [`spec`], [`record`] and
//! [`runinfo`] (the run directory through proto's `RunDir`), [`summary`],
//! [`scenario`].

pub mod agent;
pub mod cluster;
pub mod host;
pub mod kubelet;
pub mod matrix;
pub mod node;
pub mod opts;
pub mod pause;
pub mod progress;
pub mod proxy;
pub mod real;
pub mod record;
pub mod run;
pub mod runinfo;
pub mod scenario;
pub mod shutdown;
pub mod spec;
pub mod summary;
pub mod supervisor;
pub mod telemetry;

// The paths other modules grew up with.
pub use host::{netns, sandbox, topology};
pub use kubelet::{backend, serve};
pub use proxy::delay;
pub use seamless_proto::clock;

use anyhow::Context;

pub use opts::Opts;

/// Command-line options of `seamless-lab`.
#[derive(Debug, clap::Parser)]
#[command(name = "seamless-lab", version, about)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Run the experiment's scenarios on an emulated cluster (network
    /// namespaces and kube-proxy-style rules) on this machine.
    Run(Box<Opts>),
    /// Start a cluster of real Kubernetes components (API server,
    /// controller-manager, scheduler) and our kubelet on N emulated nodes;
    /// prints `export KUBECONFIG=...` and runs until Ctrl+C.
    Up(cluster::UpOpts),
    /// Internal: the lab inside its sandbox, started by `run` with its
    /// configuration as JSON on stdin.
    #[command(hide = true)]
    Inside,
    /// Internal: the built-in backend the lab's pods run.
    #[command(hide = true)]
    Serve(serve::ServeOpts),
}

/// Runs a parsed command line; returns the process exit code.
pub async fn main(cli: Cli) -> anyhow::Result<i32> {
    match cli.command {
        Command::Run(o) => supervisor::outer(*o).await,
        Command::Inside => tokio::task::spawn_blocking(matrix::inside)
            .await
            .context("the lab's thread panicked")?,
        Command::Up(o) => cluster::up(o).await,
        Command::Serve(s) => serve::serve(s).await,
    }
}
