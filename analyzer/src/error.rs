//! The analyzer's one error type.

use std::path::PathBuf;

/// Why an analysis could not be made.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file or directory could not be read or written.
    #[error("cannot access {path}")]
    Io {
        /// The path.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A probe log is unreadable: bad magic, newer format, truncated header
    /// or corruption (the source names the byte offset).
    #[error("cannot read probe log {path}")]
    Log {
        /// The log file.
        path: PathBuf,
        /// What the log reader found.
        #[source]
        source: seamless_proto::LogError,
    },
    /// A log's probes could not be kept on disk between the passes (a
    /// full disk, or no writable temporary directory).
    #[error(
        "cannot keep the probes of {path} in a temporary file (beside the run, else in $TMPDIR): is the disk full?"
    )]
    Spill {
        /// The log file.
        path: PathBuf,
        /// The file error.
        #[source]
        source: std::io::Error,
    },
    /// The timeline is not valid JSONL.
    #[error("cannot read timeline {path}")]
    Timeline {
        /// The timeline file.
        path: PathBuf,
        /// What the timeline reader found.
        #[source]
        source: seamless_proto::timeline::TimelineError,
    },
    /// `run.json` is unreadable or invalid.
    #[error("cannot read run description {path}")]
    RunInfo {
        /// The run.json file.
        path: PathBuf,
        /// What went wrong.
        #[source]
        source: std::io::Error,
    },
    /// `report.json` is not a report this analyzer can read.
    #[error("cannot read report {path}")]
    Report {
        /// The report.json file.
        path: PathBuf,
        /// What went wrong.
        #[source]
        source: serde_json::Error,
    },
    /// A run directory without any `probe-*.log`.
    #[error(
        "{dir} holds no probe log (probe-<agent>.log){}",
        if *has_timeline { ": it has a timeline, but the agents' logs are missing" } else { "" }
    )]
    NoLogs {
        /// The run directory.
        dir: PathBuf,
        /// Whether a timeline was there, for a clearer message.
        has_timeline: bool,
    },
    /// Every probe log is empty: there is nothing to analyse.
    #[error("no probes to analyse: {what}")]
    NoProbes {
        /// Which logs were empty.
        what: String,
    },
    /// A command-line or option value is invalid.
    #[error("invalid {what}: {reason}")]
    Invalid {
        /// The option.
        what: &'static str,
        /// Why.
        reason: String,
    },
    /// A polars query failed.
    #[error("data frame query failed")]
    Polars(#[from] polars::error::PolarsError),
    /// Drawing the plot failed.
    #[error("cannot draw {what}: {reason}")]
    Plot {
        /// Which figure.
        what: String,
        /// The backend's message.
        reason: String,
    },
    /// The report could not be serialized.
    #[error("cannot serialize the report")]
    Json(#[from] serde_json::Error),
}

/// `Result` with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// An [`Error::Io`] for `path`.
    pub(crate) fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> Error {
        let path = path.into();
        move |source| Error::Io { path, source }
    }
}
