//! `seamless-controller experiment`: the whole experiment on a cluster in
//! one command: agent pods, the rollout, the logs, the reports, repeats.
//!
//! - `pod`: the agent pod (the spec of `manifests/agent/`), its labels;
//! - `control`: the agent's control endpoint through `pods/proxy` (status,
//!   clock, stop, the log fetched and verified);
//! - `params`: what an experiment is asked to do, and what it did;
//! - `session`: one experiment on a given client, cleanup included;
//! - `plan`: the checks before any run (the Deployment, the Service) and
//!   the plan they give;
//! - `run`: one run (agents, clocks, the rollout, the logs, `run.json`);
//! - `agents`: the agents' pod specs, waiting until they probe, stopping;
//! - `cleanup`: the pods created, deleted whatever ends the experiment;
//! - `analysis`: the analyzer per run, the comparison, the summary;
//! - `signals`: Ctrl+C counted (the second abandons the cleanup);
//! - [`error`]: what can fail, and the exit codes.

mod agents;
pub mod analysis;
mod cleanup;
mod control;
pub mod error;
mod params;
mod plan;
pub mod pod;
mod run;
mod session;
pub mod signals;

use std::path::PathBuf;
use std::time::Duration;

pub use control::verify;
pub use error::{EXIT_GATE, Error};
pub use params::{Access, AgentRecord, Outcome, Params, Role, RunRecord, Via, new_id, run_dir};
pub use session::execute;
pub use signals::Interrupts;

use crate::rollout::{self, TriggerOpts};

/// Options of `experiment`.
#[derive(Debug, Clone, clap::Args)]
pub struct Opts {
    /// The Deployment to roll.
    pub deployment: String,
    /// Namespace [default: the kubeconfig context's, else `default`].
    #[arg(short, long)]
    pub namespace: Option<String>,
    /// kubeconfig context to use [default: the current context].
    #[arg(long)]
    pub context: Option<String>,
    /// What starts each rollout (as `rollout`).
    #[command(flatten)]
    pub triggers: TriggerOpts,
    /// The Service to probe (repeatable: the first is probed, all are
    /// followed) [default: the one Service that selects the pods].
    #[arg(long, value_name = "NAME")]
    pub service: Vec<String>,
    /// One agent on each of these nodes [default: one agent, on a node
    /// that runs no pod of the Deployment when there is one].
    #[arg(long, value_name = "NODE,...", value_delimiter = ',')]
    pub agents: Vec<String>,
    /// One agent on every node that takes a DaemonSet's pod (as the
    /// DaemonSet controller places them: cordoned nodes included).
    #[arg(long, conflicts_with = "agents")]
    pub agents_per_node: bool,
    /// How the agents reach the Service (`both`: a probing container for
    /// each, side by side).
    #[arg(long, value_enum, default_value = "clusterip")]
    pub access: Access,
    /// A Service that is not rolled, probed by the same agents the same
    /// way(s): its failures are the network's or the prober's, and the
    /// reports show them apart and subtract them.
    #[arg(long, value_name = "SERVICE")]
    pub control: Option<String>,
    /// Probes a second, per agent.
    #[arg(long, default_value_t = 2000.0)]
    pub rate: f64,
    /// The agent's image (`--image` is the trigger's).
    #[arg(long, default_value = pod::DEFAULT_IMAGE)]
    pub agent_image: String,
    /// The agents' control port (pods/proxy reaches it).
    #[arg(long, default_value_t = seamless_proto::control::DEFAULT_PORT)]
    pub port: u16,
    /// Runs.
    #[arg(long, default_value_t = 1)]
    pub repeat: u32,
    /// Pause between runs.
    #[arg(long, default_value = "30s", value_parser = seamless_proto::duration::parse)]
    pub between: Duration,
    /// Each rollout's limit, from its start until the old pods are gone.
    #[arg(long, default_value = "10m", value_parser = seamless_proto::duration::parse)]
    pub timeout: Duration,
    /// How long each run keeps recording (and probing) after the old pods
    /// are gone.
    #[arg(long, default_value = "5s", value_parser = seamless_proto::duration::parse)]
    pub settle: Duration,
    /// The most to wait for an agent to probe.
    #[arg(long, default_value = "2m", value_parser = seamless_proto::duration::parse)]
    pub ready_timeout: Duration,
    /// The experiment's directory (run-01, run-02, ..., compare.*,
    /// experiment.{json,md}).
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// Measure a Deployment of more than one replica.
    #[arg(long)]
    pub replicas_ok: bool,
    /// Leave the agent pods behind (for debugging).
    #[arg(long)]
    pub keep: bool,
    /// Print what would be done (after reading the cluster) and stop.
    #[arg(long)]
    pub dry_run: bool,
    /// Fail (exit 7) when a run's downtime upper bound exceeds this.
    #[arg(long, value_name = "DURATION")]
    pub max_downtime: Option<String>,
    /// Fail (exit 7) when a run has more failed probes than this.
    #[arg(long, value_name = "N")]
    pub max_failed: Option<u64>,
    /// The analyzer binary [default: seamless-analyzer next to this one,
    /// else from PATH].
    #[arg(long, value_name = "PATH")]
    pub analyzer: Option<PathBuf>,
    /// Fetch the logs but run no analyzer.
    #[arg(long)]
    pub no_analyze: bool,
}

impl Opts {
    /// The parameters, with a new experiment id.
    pub fn params(&self, namespace: String) -> Result<Params, Error> {
        let invalid = |m: String| Error::from(rollout::Error::Invalid(m));
        if self.repeat == 0 {
            return Err(invalid("--repeat must be at least 1".into()));
        }
        if !(self.rate.is_finite() && self.rate > 0.0) {
            return Err(invalid(format!(
                "--rate must be above 0, got {}",
                self.rate
            )));
        }
        let mut seen = std::collections::BTreeSet::new();
        for node in &self.agents {
            if node.is_empty() || !seen.insert(node) {
                return Err(invalid(format!(
                    "--agents takes distinct node names, got {:?}",
                    self.agents.join(",")
                )));
            }
        }
        // One container per target, on consecutive control ports.
        let targets = self.access.vias().len() * if self.control.is_some() { 2 } else { 1 };
        if u32::from(self.port) + targets as u32 - 1 > u32::from(u16::MAX) {
            return Err(invalid(format!(
                "--port {}: the {targets} probing containers take ports {} to {}, past 65535",
                self.port,
                self.port,
                u32::from(self.port) + targets as u32 - 1
            )));
        }
        if let Some(d) = &self.max_downtime {
            seamless_proto::duration::parse(d)
                .map_err(|e| invalid(format!("--max-downtime: {e}")))?;
        }
        Ok(Params {
            namespace,
            deployment: self.deployment.clone(),
            trigger: self.triggers.trigger()?,
            services: self.service.clone(),
            timeout: self.timeout,
            settle: self.settle,
            agents: self.agents.clone(),
            per_node: self.agents_per_node,
            control: self.control.clone(),
            access: self.access,
            rate: self.rate,
            image: self.agent_image.clone(),
            port: self.port,
            repeat: self.repeat,
            between: self.between,
            out: self.out.clone(),
            replicas_ok: self.replicas_ok,
            keep: self.keep,
            dry_run: self.dry_run,
            ready_timeout: self.ready_timeout,
            clock_rounds: 16,
            id: new_id(),
        })
    }
}

fn message(e: &dyn std::error::Error) -> String {
    let mut msg = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let s_text = s.to_string();
        if !msg.ends_with(&s_text) {
            msg.push_str(": ");
            msg.push_str(&s_text);
        }
        source = s.source();
    }
    msg
}

/// Runs `experiment`; returns the exit code (see [`error`]).
pub async fn run(opts: Opts) -> anyhow::Result<i32> {
    let interrupts = Interrupts::from_signals();
    let prepared = async {
        let (client, namespace) =
            rollout::client_for(opts.context.as_deref(), opts.namespace.as_deref()).await?;
        Ok::<_, Error>((client, opts.params(namespace)?))
    }
    .await;
    let (client, params) = match prepared {
        Ok(v) => v,
        Err(e) => {
            eprintln!("error: {}", message(&e));
            return Ok(e.exit_code());
        }
    };
    let outcome = match execute(client, &params, interrupts).await {
        Ok(o) => o,
        Err(e) => {
            eprintln!("error: {}", message(&e));
            return Ok(e.exit_code());
        }
    };
    if params.dry_run {
        return Ok(rollout::error::EXIT_OK);
    }
    eprintln!(
        "experiment {}: {} run(s) recorded in {}",
        outcome.id,
        outcome.runs.len(),
        params.out.display()
    );
    if opts.no_analyze {
        return Ok(rollout::error::EXIT_OK);
    }
    let gate = analysis::Gate {
        max_downtime: opts.max_downtime.clone(),
        max_failed: opts.max_failed,
    };
    let analyzer = analysis::analyzer_path(opts.analyzer.as_deref());
    match analysis::analyze(&analyzer, &params.out, &outcome, &gate) {
        Ok(summary) => {
            eprint!("{}", analysis::markdown(&summary));
            Ok(if summary.gate_passed {
                rollout::error::EXIT_OK
            } else {
                EXIT_GATE
            })
        }
        Err(e) => {
            eprintln!("error: {}", message(&e));
            Ok(e.exit_code())
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        opts: Opts,
    }

    fn params(args: &[&str]) -> Result<Params, Error> {
        let mut argv = vec!["experiment", "web", "--restart", "--out", "x"];
        argv.extend_from_slice(args);
        Cli::try_parse_from(argv)
            .unwrap()
            .opts
            .params("demo".into())
    }

    #[test]
    fn every_probing_container_needs_a_port() {
        let p = params(&["--access", "both", "--control", "c", "--port", "65532"]).unwrap();
        assert_eq!((p.port, p.control.as_deref()), (65532, Some("c")));
        let e = params(&["--access", "both", "--control", "c", "--port", "65533"])
            .unwrap_err()
            .to_string();
        assert!(e.contains("ports 65533 to 65536"), "{e}");
        assert!(params(&["--port", "65535"]).is_ok());
    }

    #[test]
    fn agents_and_agents_per_node_exclude_each_other() {
        let argv = [
            "experiment",
            "web",
            "--restart",
            "--out",
            "x",
            "--agents",
            "a",
            "--agents-per-node",
        ];
        assert!(Cli::try_parse_from(argv).is_err());
        assert!(params(&["--agents-per-node"]).unwrap().per_node);
    }
}
