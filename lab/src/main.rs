//! The `seamless-lab` binary: parses the options and runs the library.

use clap::Parser;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    seamless_lab::telemetry::init();
    let cli = seamless_lab::Cli::parse();
    let code = seamless_lab::main(cli).await?;
    std::process::exit(code);
}
