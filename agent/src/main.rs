//! The `seamless-agent` binary: see the library for everything.

use clap::Parser;

fn main() -> anyhow::Result<()> {
    // RUST_LOG as target=level lists; no EnvFilter in the agent's tree.
    seamless_proto::logging::Logging::new()
        .without_target()
        .init();
    let code = seamless_agent::run(seamless_agent::Opts::parse())?;
    std::process::exit(code);
}
