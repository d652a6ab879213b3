//! The formats every part of seamless shares.
//!
//! - [`log`]: the compact, crash-safe binary probe log written by
//!   `seamless-agent` (one record per probe).
//! - [`outcome`]: what happened to one probe, with causes kept apart.
//! - [`timeline`]: rollout events, one JSON object a line (`timeline.jsonl`),
//!   written by `seamless-controller` and by the lab.
//! - [`run`]: the run directory, the contract between the parts: its
//!   writer ([`RunDir`]), `run.json` ([`RunInfo`]) and the lab's
//!   [`GroundTruth`].
//! - [`row`]: one probe as a flat row, the columns of `seamless-agent
//!   inspect` and `seamless-analyzer export`.
//! - [`clock`]: the wall clock every writer stamps with.
//! - [`control`]: the agent's control endpoint (`probe --serve`) that
//!   `seamless-controller experiment` reaches through `pods/proxy`.
//! - [`duration`]: the one duration grammar of every command line
//!   (`500ms`, `10s`, `2m`).
//! - `logging` (feature `logging`, or `env-filter` for EnvFilter): the
//!   binaries' one logging setup, `RUST_LOG` as tracing-subscriber reads it.

pub mod clock;
pub mod control;
pub mod duration;
pub mod log;
#[cfg(feature = "logging")]
pub mod logging;
pub mod outcome;
pub mod row;
pub mod run;
pub mod timeline;

pub use log::{
    ConnState, ConnUse, Header, LogError, LogReader, LogWriter, Mode, ModeSpec, Probe, ProbeLog,
    Schedule, TornTail,
};
pub use outcome::Outcome;
pub use row::ProbeRow;
pub use run::{GroundTruth, RunDir, RunInfo};
pub use timeline::{Event, EventKind, ObjectRef};
