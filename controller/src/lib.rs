//! seamless-controller: triggers a Deployment rollout through the Kubernetes
//! API and records its timeline (`rollout`); runs the whole experiment,
//! agents included, with `experiment`. The same experiment on one Linux
//! machine is the `seamless-lab` crate's.

pub mod experiment;
pub mod rollout;

use clap::{Parser, Subcommand};

/// Command-line options.
#[derive(Debug, Parser)]
#[command(name = "seamless-controller", version, about)]
pub struct Opts {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Trigger a rolling update of a Deployment and record its timeline.
    Rollout(rollout::Opts),
    /// The whole experiment: agent pods, the rollout, the logs fetched
    /// through the API, the reports; repeated, cleaned up.
    Experiment(experiment::Opts),
}

/// Runs a parsed command; returns the process exit code.
pub async fn run(opts: Opts) -> anyhow::Result<i32> {
    match opts.command {
        Command::Rollout(o) => rollout::run(o).await,
        Command::Experiment(o) => experiment::run(o).await,
    }
}
