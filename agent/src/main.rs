//! The `seamless-agent` binary: see the library for everything.

use clap::Parser;

fn main() -> anyhow::Result<()> {
    seamless_agent::init_logging();
    let code = seamless_agent::run(seamless_agent::Opts::parse())?;
    std::process::exit(code);
}
