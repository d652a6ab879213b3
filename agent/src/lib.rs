//! seamless-agent: a minimal HTTP prober for rollout experiments.
//!
//! In mode `new` (the default) every probe opens a fresh TCP connection,
//! sends `GET <path> HTTP/1.0`, reads the status line and headers, drains the
//! body up to a cap and closes. In mode `reuse` each probe is one request on
//! a pool of HTTP/1.1 keep-alive connections; in mode `slow`, a new
//! connection to a path that answers after a delay. Modes run side by side
//! in one agent, each on its own schedule, into one log. Every probe is
//! kept, with nanosecond timestamps, in a crash-safe binary log (see
//! `seamless_proto::log`).
//!
//! The binary is a thin `main.rs` over [`run`], so tests drive the real tool
//! in-process.

mod backoff;
mod classify;
mod clock;
mod http;
mod inspect;
mod limits;
pub mod modes;
mod pool;
mod probe;
mod recorder;
mod serve;
pub mod session;
pub mod stopping;
mod summary;
mod target;
mod timer;
mod worker;

pub use inspect::InspectOpts;
pub use stopping::StopFlag;

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use seamless_proto::Mode;

use crate::modes::{PerMode, parse_mode, parse_per_mode};

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
// Parsed once per process: the size of the larger variant costs nothing.
#[allow(clippy::large_enum_variant)]
pub enum Command {
    /// Probe an HTTP URL (new connections, reused ones, slow requests), logging every probe.
    Probe(ProbeOpts),
    /// Print a probe log's header and records as CSV or JSON lines.
    Inspect(InspectOpts),
}

/// Options of `probe`.
#[derive(Debug, Clone, Args)]
pub struct ProbeOpts {
    /// The URL to probe: http://HOST[:PORT]/PATH, HOST a name or an IP.
    pub url: String,

    /// The probing modes, comma-separated, run side by side into one log:
    /// `new` (a new connection per probe, HTTP/1.0), `reuse` (one request on
    /// a pool of HTTP/1.1 keep-alive connections), `slow` (a new connection
    /// to the --slow path, a request that stays in flight).
    #[arg(long, value_delimiter = ',', default_value = "new", value_parser = parse_mode)]
    pub mode: Vec<Mode>,

    /// Open loop: start this many probes a second, on a fixed schedule,
    /// whether or not earlier ones have finished. One value for every mode,
    /// or per mode: new=1000,reuse=200 [default: 1000 for every mode unless
    /// --concurrency is given].
    #[arg(long, value_parser = parse_per_mode::<f64>)]
    pub rate: Option<PerMode<f64>>,

    /// Closed loop: keep this many probes in flight, back to back. One value
    /// for every mode, or per mode: reuse=64. A mode takes a --rate or a
    /// --concurrency, not both.
    #[arg(long, value_parser = parse_per_mode::<u32>)]
    pub concurrency: Option<PerMode<u32>>,

    /// Reuse mode: keep-alive connections in the pool, in all [default: the
    /// reuse mode's --concurrency in closed loop, else 8].
    #[arg(long)]
    pub pool: Option<u32>,

    /// Reuse mode: send on an idle pooled connection without first looking
    /// for the server's FIN or reset, as a client without that check does
    /// (a request on a connection the server closed then fails). By
    /// default a connection idle for 1 ms or more is checked.
    #[arg(long)]
    pub no_idle_check: bool,

    /// The request path (and query) of modes new and reuse, instead of the
    /// URL's.
    #[arg(long)]
    pub path: Option<String>,

    /// The slow mode's path: an endpoint that answers after a delay, e.g.
    /// /sleep?ms=2000 (the lab's built-in backend has it).
    #[arg(long)]
    pub slow: Option<String>,

    /// The slow mode's response timeout: longer than the endpoint's delay.
    #[arg(long, default_value = "30s", value_parser = seamless_proto::duration::parse)]
    pub slow_timeout: Duration,

    /// Stop after this long (e.g. 500ms, 30s, 10m). Without it (and without
    /// --count) the agent runs until SIGINT or SIGTERM.
    #[arg(long, value_parser = seamless_proto::duration::parse)]
    pub duration: Option<Duration>,

    /// Stop after this many probes (in each mode).
    #[arg(long)]
    pub count: Option<u64>,

    /// Connect timeout, and separately the timeout for the whole response.
    #[arg(long, default_value = "1s", value_parser = seamless_proto::duration::parse)]
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

    /// Serve the control endpoint on ADDR (e.g. 0.0.0.0:9090): status,
    /// time, stop and the finished log, over GET (`seamless_proto::control`);
    /// after the probing the agent keeps serving until SIGTERM. Needs --out.
    #[arg(long, value_name = "ADDR", requires = "out")]
    pub serve: Option<std::net::SocketAddr>,
}

/// Runs a parsed command; returns the process exit code.
pub fn run(opts: Opts) -> anyhow::Result<i32> {
    match opts.command {
        Command::Probe(p) => match p.serve {
            Some(addr) => serve::run_serving(p, addr, &StopFlag::from_signals()?),
            None => session::run_probe(p, &StopFlag::from_signals()?),
        },
        Command::Inspect(i) => inspect::run(&i),
    }
}
