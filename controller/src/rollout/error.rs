//! Errors of `rollout`, and the exit code each one maps to.
//!
//! | code | meaning |
//! |---|---|
//! | 0 | rollout complete, old pods gone, settle time over |
//! | 1 | any other failure (I/O, API unreachable, unexpected API answer) |
//! | 2 | invalid input: bad flag value, unreadable patch, unknown container, paused Deployment, a patch that changes nothing, a run directory that already has a timeline |
//! | 3 | not found: the namespace, the Deployment or a `--service` |
//! | 4 | forbidden by RBAC (the message names the verb and the resource) |
//! | 5 | the Deployment exceeded its progressDeadlineSeconds |
//! | 6 | `--timeout` reached before the rollout finished |
//! | 130 | interrupted (Ctrl+C or SIGTERM) |

use std::path::PathBuf;

/// Exit code: rollout complete.
pub const EXIT_OK: i32 = 0;
/// Exit code: any failure without a code of its own.
pub const EXIT_FAILURE: i32 = 1;
/// Exit code: invalid input.
pub const EXIT_INVALID: i32 = 2;
/// Exit code: the namespace, Deployment or Service does not exist.
pub const EXIT_NOT_FOUND: i32 = 3;
/// Exit code: forbidden by RBAC.
pub const EXIT_FORBIDDEN: i32 = 4;
/// Exit code: progressDeadlineSeconds exceeded.
pub const EXIT_DEADLINE: i32 = 5;
/// Exit code: `--timeout` reached.
pub const EXIT_TIMEOUT: i32 = 6;
/// Exit code: interrupted by Ctrl+C or SIGTERM.
pub const EXIT_INTERRUPTED: i32 = 130;

/// `Result` with this module's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What can go wrong in a rollout.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The namespace does not exist.
    #[error("namespace {namespace:?} not found")]
    NamespaceNotFound {
        /// The namespace.
        namespace: String,
    },
    /// The Deployment does not exist in an existing namespace.
    #[error("deployment {name:?} not found in namespace {namespace:?}")]
    DeploymentNotFound {
        /// Namespace.
        namespace: String,
        /// Deployment name.
        name: String,
    },
    /// A Service given with `--service` does not exist.
    #[error("service {name:?} not found in namespace {namespace:?}")]
    ServiceNotFound {
        /// Namespace.
        namespace: String,
        /// Service name.
        name: String,
    },
    /// RBAC denied a request.
    #[error("forbidden: cannot {verb} {resource}{} in namespace {namespace:?}: {message}", name.as_ref().map(|n| format!(" {n:?}")).unwrap_or_default())]
    Forbidden {
        /// The verb we used: get, list, watch, patch.
        verb: &'static str,
        /// The resource, with its API group: `deployments.apps`, `pods`.
        resource: &'static str,
        /// The object name, for requests on one object.
        name: Option<String>,
        /// Namespace.
        namespace: String,
        /// The API server's message.
        message: String,
    },
    /// The API server answered with an error we have no special case for.
    #[error("{verb} {resource} in namespace {namespace:?} failed")]
    Api {
        /// The verb we used.
        verb: &'static str,
        /// The resource.
        resource: &'static str,
        /// Namespace.
        namespace: String,
        /// The client's error.
        #[source]
        source: kube::Error,
    },
    /// A watch failed in a way that is neither RBAC nor an API status.
    #[error("watching {resource} failed")]
    Watch {
        /// The resource.
        resource: &'static str,
        /// The watcher's error.
        #[source]
        source: kube::runtime::watcher::Error,
    },
    /// The kube config could not be loaded.
    #[error("cannot load the Kubernetes client configuration")]
    Config(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// A flag's value is not usable.
    #[error("invalid input: {0}")]
    Invalid(String),
    /// The patch file could not be read or parsed.
    #[error("cannot use patch file {path}: {reason}")]
    PatchFile {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// The Deployment is paused, so a patch would not roll it.
    #[error("deployment {name:?} is paused: resume it first (kubectl rollout resume)")]
    Paused {
        /// Deployment name.
        name: String,
    },
    /// The patch left the Deployment's generation unchanged: no rollout.
    #[error(
        "the patch did not change deployment {name:?} (generation stayed {generation}): nothing to roll out"
    )]
    NoChange {
        /// Deployment name.
        name: String,
        /// The unchanged generation.
        generation: i64,
    },
    /// The run directory already holds a timeline.
    #[error("{0} already exists: use a new run directory")]
    TimelineExists(PathBuf),
    /// Writing the run directory failed.
    #[error("cannot write {path}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The Deployment's Progressing condition says ProgressDeadlineExceeded.
    #[error("deployment {name:?} exceeded its progress deadline")]
    DeadlineExceeded {
        /// Deployment name.
        name: String,
    },
    /// `--timeout` ran out.
    #[error("timed out after {0:?} waiting for the rollout: {1}")]
    Timeout(std::time::Duration, String),
    /// The Deployment was deleted while we watched it.
    #[error("deployment {name:?} was deleted during the rollout")]
    DeploymentDeleted {
        /// Deployment name.
        name: String,
    },
    /// Every watch stream ended (they retry forever, so this is a bug).
    #[error("the watch streams ended unexpectedly")]
    WatchesEnded,
    /// Ctrl+C or SIGTERM.
    #[error("interrupted")]
    Interrupted,
}

impl Error {
    /// The process exit code for this error (see the module docs).
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::NamespaceNotFound { .. }
            | Error::DeploymentNotFound { .. }
            | Error::ServiceNotFound { .. } => EXIT_NOT_FOUND,
            Error::Forbidden { .. } => EXIT_FORBIDDEN,
            Error::Invalid(_)
            | Error::PatchFile { .. }
            | Error::Paused { .. }
            | Error::NoChange { .. }
            | Error::TimelineExists(_) => EXIT_INVALID,
            Error::DeadlineExceeded { .. } => EXIT_DEADLINE,
            Error::Timeout(..) => EXIT_TIMEOUT,
            Error::Interrupted => EXIT_INTERRUPTED,
            Error::Api { .. }
            | Error::Watch { .. }
            | Error::WatchesEnded
            | Error::Config(_)
            | Error::Io { .. }
            | Error::DeploymentDeleted { .. } => EXIT_FAILURE,
        }
    }
}

/// Where a failed API request was going: enough to name it in a message.
#[derive(Debug, Clone, Copy)]
pub struct Call<'a> {
    /// The verb: get, list, watch, patch.
    pub verb: &'static str,
    /// The resource with its group.
    pub resource: &'static str,
    /// The object's name, if the request was about one object.
    pub name: Option<&'a str>,
    /// Namespace.
    pub namespace: &'a str,
}

impl Call<'_> {
    /// Turns a client error into an [`Error`]: 403 becomes
    /// [`Error::Forbidden`] naming this call; anything else [`Error::Api`].
    /// Not-found is left to the caller, who knows what was missing.
    pub fn error(&self, source: kube::Error) -> Error {
        match &source {
            kube::Error::Api(status) if status.code == 403 => Error::Forbidden {
                verb: self.verb,
                resource: self.resource,
                name: self.name.map(str::to_owned),
                namespace: self.namespace.to_owned(),
                message: status.message.clone(),
            },
            _ => Error::Api {
                verb: self.verb,
                resource: self.resource,
                namespace: self.namespace.to_owned(),
                source,
            },
        }
    }
}

/// Is this client error a 404 from the API server?
pub fn is_not_found(e: &kube::Error) -> bool {
    matches!(e, kube::Error::Api(s) if s.code == 404)
}
