//! Errors of `experiment`, and its exit codes: the rollout's table (see
//! [`crate::rollout::error`]) plus the gate's.
//!
//! | code | meaning |
//! |---|---|
//! | 0 | every run complete, its logs fetched and verified, every report within the gate |
//! | 1 | any other failure (an agent that does not start or fails, a log that does not verify, the analyzer failing, I/O, API) |
//! | 2 | invalid input or a refusal: a paused Deployment, one already rolling, more than one replica without `--replicas-ok`, no Service to probe, a run directory that already has a timeline |
//! | 3 | not found: the namespace, the Deployment, a `--service` |
//! | 4 | forbidden by RBAC (the message names the verb and the resource) |
//! | 5 | a rollout exceeded its progressDeadlineSeconds |
//! | 6 | `--timeout` reached before a rollout finished |
//! | 7 | the analyzer's gate: a run exceeded `--max-downtime` or `--max-failed` |
//! | 130 | interrupted (Ctrl+C or SIGTERM), after the cleanup |

use std::path::PathBuf;

use crate::rollout::error::{self as rollout_error, EXIT_FAILURE, EXIT_INTERRUPTED, EXIT_INVALID};

/// Exit code: a run exceeded the gate (`--max-downtime`, `--max-failed`).
pub const EXIT_GATE: i32 = 7;

/// `Result` with this module's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What can go wrong in an experiment.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The rollout, or an API request made the rollout's way.
    #[error(transparent)]
    Rollout(#[from] rollout_error::Error),
    /// The Deployment is in the middle of a rollout already.
    #[error(
        "deployment {name:?} is rolling already ({why}): wait for it (kubectl rollout status) and start again"
    )]
    AlreadyRolling {
        /// Deployment name.
        name: String,
        /// What kubectl's rollout status would say.
        why: String,
    },
    /// More than one replica and no `--replicas-ok`.
    #[error(
        "deployment {name:?} has {replicas} replicas: the experiment is meant for one (the seed's); pass --replicas-ok to measure it anyway"
    )]
    Replicas {
        /// Deployment name.
        name: String,
        /// spec.replicas.
        replicas: i32,
    },
    /// No Service, or more than one, to probe.
    #[error("{0}")]
    Service(String),
    /// An agent pod did not get to probing.
    #[error("agent pod {pod:?} did not start probing: {reason}")]
    AgentNotReady {
        /// The pod.
        pod: String,
        /// Why, from its status or its control endpoint.
        reason: String,
    },
    /// An agent's control endpoint answered something unusable.
    #[error("agent pod {pod:?}: {reason}")]
    Agent {
        /// The pod.
        pod: String,
        /// What went wrong.
        reason: String,
    },
    /// A fetched log is not the agent's log, byte for byte.
    #[error("the log of agent pod {pod:?} does not verify: {reason}")]
    Verify {
        /// The pod.
        pod: String,
        /// What differs.
        reason: String,
    },
    /// Running the analyzer failed (not its gate: that is an outcome).
    #[error("the analyzer failed: {0}")]
    Analyzer(String),
    /// Writing the output failed.
    #[error("cannot write {path}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// Ctrl+C or SIGTERM.
    #[error("interrupted")]
    Interrupted,
}

impl Error {
    /// The process exit code for this error (see the module docs).
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Rollout(e) => e.exit_code(),
            Error::AlreadyRolling { .. } | Error::Replicas { .. } | Error::Service(_) => {
                EXIT_INVALID
            }
            Error::Interrupted => EXIT_INTERRUPTED,
            Error::AgentNotReady { .. }
            | Error::Agent { .. }
            | Error::Verify { .. }
            | Error::Analyzer(_)
            | Error::Io { .. } => EXIT_FAILURE,
        }
    }
}
