//! The `seamless-controller` binary: parses the options and runs the library.

use clap::Parser;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    // RUST_LOG: EnvFilter directives, e.g. info,kube=debug (default info).
    seamless_proto::logging::init();
    let opts = seamless_controller::Opts::parse();
    let code = seamless_controller::run(opts).await?;
    std::process::exit(code);
}
