//! seamless-analyzer: a thin main over the library.

use std::process::ExitCode;

use clap::Parser;
use seamless_analyzer::cli::{EXIT_GATE, Exit, Opts, run};

fn main() -> ExitCode {
    // RUST_LOG: EnvFilter directives, e.g. seamless_analyzer=debug (default info).
    seamless_proto::logging::init();
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
