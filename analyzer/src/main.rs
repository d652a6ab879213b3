//! seamless-analyzer: a thin main over the library.

use std::process::ExitCode;

use clap::Parser;
use seamless_analyzer::cli::{EXIT_GATE, Exit, Opts, run};

fn main() -> ExitCode {
    let level = std::env::var("RUST_LOG")
        .ok()
        .and_then(|v| v.parse::<tracing::Level>().ok())
        .unwrap_or(tracing::Level::INFO);
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_max_level(level)
        .init();
    match run(Opts::parse()) {
        Ok(Exit::Ok) => ExitCode::SUCCESS,
        Ok(Exit::GateExceeded(reasons)) => {
            for r in reasons {
                eprintln!("gate exceeded: {r}");
            }
            ExitCode::from(EXIT_GATE)
        }
        Err(e) => {
            eprintln!("error: {:#}", anyhow::Error::from(e));
            ExitCode::FAILURE
        }
    }
}
