//! `seamless-controller rollout`: placeholder, filled by its issue.

/// Options of `rollout`.
#[derive(Debug, clap::Args)]
pub struct Opts {}

/// Runs `rollout`.
pub async fn run(_opts: Opts) -> anyhow::Result<i32> {
    anyhow::bail!("rollout is not implemented yet")
}
