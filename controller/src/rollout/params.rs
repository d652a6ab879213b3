//! What one rollout is asked to do, resolved from the command line: read by
//! the checks before the run ([`preflight`](super::preflight)) and by the run
//! itself ([`session`](super::session)).

use std::path::PathBuf;
use std::time::Duration;

use super::trigger::Trigger;

/// What to do, resolved from the command line.
#[derive(Debug, Clone)]
pub struct Params {
    /// Namespace.
    pub namespace: String,
    /// Deployment name.
    pub deployment: String,
    /// How to start the rollout.
    pub trigger: Trigger,
    /// Services to follow; empty to discover them.
    pub services: Vec<String>,
    /// The most to wait from the start until the old pods are gone.
    pub timeout: Duration,
    /// How long to keep recording after the old pods are gone.
    pub settle: Duration,
    /// The run directory.
    pub out: PathBuf,
}
