//! The steps our kubelet takes, stamped on the probes' clock
//! (CLOCK_REALTIME ns), for the run's timeline and ground truth.

use serde::Serialize;

/// One step.
#[derive(Debug, Clone, Serialize)]
pub struct KubeletEvent {
    /// When, ns since the Unix epoch (CLOCK_REALTIME, as the agent's).
    pub t_ns: i64,
    /// The node.
    pub node: String,
    /// namespace/name of the pod.
    pub pod: String,
    /// The step.
    pub step: Step,
    /// The container, where the step is one container's.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub container: String,
    /// Anything else worth saying (exit code, error).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub detail: String,
}

/// What happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Step {
    /// The pod's sandbox (network, volumes) is made.
    SandboxCreated,
    /// A container's process started.
    ContainerStarted,
    /// A container's readiness probe turned it ready.
    ContainerReady,
    /// ... or not ready.
    ContainerNotReady,
    /// The pod's deletionTimestamp was seen.
    DeletionSeen,
    /// The preStop hook started.
    PreStopStarted,
    /// The preStop hook ended (or its budget ran out).
    PreStopEnded,
    /// SIGTERM sent.
    Sigterm,
    /// SIGKILL sent (the grace period ran out).
    Sigkill,
    /// A container's process exited.
    ContainerExited,
    /// The pod could not start (unsupported field, image, error).
    PodFailed,
    /// The terminal status was posted.
    TerminalStatusPosted,
    /// The pod object was deleted (grace 0, UID precondition).
    PodDeleted,
}

/// Where the steps go.
pub type Sink = std::sync::Arc<dyn Fn(KubeletEvent) + Send + Sync>;
