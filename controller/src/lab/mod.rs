//! `seamless-controller lab`: placeholder, filled by its issue.

/// Options of `lab`.
#[derive(Debug, clap::Args)]
pub struct Opts {}

/// Runs `lab`.
pub async fn run(_opts: Opts) -> anyhow::Result<i32> {
    anyhow::bail!("lab is not implemented yet")
}
