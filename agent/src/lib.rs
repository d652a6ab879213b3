//! seamless-agent: a minimal HTTP prober for rollout experiments.
//!
//! Every probe opens a fresh TCP connection, sends `GET <path> HTTP/1.0`,
//! reads the status line and headers, drains the body up to a cap and closes.
//! Every probe is kept, with nanosecond timestamps, in a crash-safe binary
//! log (see `seamless_proto::log`).
//!
//! The binary is a thin `main.rs` over [`run`], so tests drive the real tool
//! in-process.

pub mod classify;
pub mod clock;
pub mod http;
pub mod inspect;
pub mod limits;
pub mod probe;
pub mod recorder;
pub mod session;
pub mod summary;
pub mod target;
mod timer;
mod worker;

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

/// Command-line options.
#[derive(Debug, Parser)]
#[command(name = "seamless-agent", version, about)]
pub struct Opts {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Probe an HTTP URL with a new connection per request, logging every probe.
    Probe(ProbeOpts),
    /// Print a probe log's header and records as CSV or JSON lines.
    Inspect(inspect::InspectOpts),
}

/// Options of `probe`.
#[derive(Debug, Clone, Args)]
pub struct ProbeOpts {
    /// The URL to probe: http://HOST[:PORT]/PATH, HOST a name or an IP.
    pub url: String,

    /// Open loop: start this many probes a second, on a fixed schedule,
    /// whether or not earlier ones have finished [default: 1000 unless
    /// --concurrency is given].
    #[arg(long, conflicts_with = "concurrency")]
    pub rate: Option<f64>,

    /// Closed loop: keep this many probes in flight, back to back.
    #[arg(long)]
    pub concurrency: Option<u32>,

    /// Stop after this long (e.g. 500ms, 30s, 10m). Without it (and without
    /// --count) the agent runs until SIGINT or SIGTERM.
    #[arg(long, value_parser = parse_duration)]
    pub duration: Option<Duration>,

    /// Stop after this many probes.
    #[arg(long)]
    pub count: Option<u64>,

    /// Connect timeout, and separately the timeout for the whole response.
    #[arg(long, default_value = "1s", value_parser = parse_duration)]
    pub timeout: Duration,

    /// The HTTP status counted as ok.
    #[arg(long, default_value_t = 200)]
    pub expect_status: u16,

    /// A response header naming the backend that answered (e.g. X-Pod-Name).
    #[arg(long)]
    pub backend_header: Option<String>,

    /// Worker threads [default: the number of cores].
    #[arg(long)]
    pub threads: Option<u32>,

    /// The probe log to write [default: probe-<host>.log]. An existing file
    /// is never overwritten without --force.
    #[arg(long)]
    pub out: Option<PathBuf>,

    /// Overwrite an existing probe log.
    #[arg(long)]
    pub force: bool,

    /// Print the final summary as JSON on stdout.
    #[arg(long)]
    pub json: bool,

    /// Largest status line plus headers accepted, bytes.
    #[arg(long, default_value_t = 16 * 1024)]
    pub max_header_bytes: usize,

    /// Largest body drained, bytes; a longer body is classified oversized.
    #[arg(long, default_value_t = 1024 * 1024)]
    pub max_body_bytes: usize,
}

fn parse_duration(s: &str) -> Result<Duration, String> {
    humantime::parse_duration(s).map_err(|e| format!("{e} (use forms like 500ms, 10s, 2m)"))
}

/// Runs a parsed command; returns the process exit code.
pub fn run(opts: Opts) -> anyhow::Result<i32> {
    match opts.command {
        Command::Probe(p) => session::run_probe(p, &session::StopFlag::from_signals()?),
        Command::Inspect(i) => inspect::run(&i),
    }
}

/// Installs the tracing subscriber: stderr, level from `RUST_LOG` (a plain
/// level such as `debug`; default `info`).
pub fn init_logging() {
    let level = std::env::var("RUST_LOG")
        .ok()
        .and_then(|v| v.parse::<tracing::Level>().ok())
        .unwrap_or(tracing::Level::INFO);
    let _ = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_max_level(level)
        .with_target(false)
        .try_init();
}
