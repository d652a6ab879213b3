//! The run directory's `timeline.jsonl`: every event stamped with the local
//! wall clock when it was observed. The writer is proto's
//! [`seamless_proto::RunDir`] (shared with the lab): one line each, flushed
//! at once so an interrupted run keeps everything seen; an existing timeline
//! is refused, and a write error ends the run.

use std::path::Path;

pub use seamless_proto::clock::now_ns;
use seamless_proto::run::{RunDir, RunDirError, Timeline};
use seamless_proto::timeline::Event;

use super::error::{Error, Result};

impl From<RunDirError> for Error {
    fn from(e: RunDirError) -> Error {
        match e {
            RunDirError::TimelineExists(path) => Error::TimelineExists(path),
            RunDirError::Io { path, source } => Error::Io { path, source },
            RunDirError::TimelineBroken(path) => Error::Io {
                path,
                source: std::io::Error::other("an earlier write failed"),
            },
        }
    }
}

/// Appends events to `RUN_DIR/timeline.jsonl`.
pub struct Recorder {
    timeline: Timeline,
}

impl Recorder {
    /// Creates the run directory if needed and a new timeline in it; an
    /// existing timeline is never overwritten.
    pub fn create(dir: &Path) -> Result<Recorder> {
        let (_, timeline) = RunDir::create(dir)?;
        Ok(Recorder { timeline })
    }

    /// Writes events observed now: all get the same timestamp, in order.
    pub fn record(&mut self, events: Vec<Event>) -> Result<()> {
        if events.is_empty() {
            return Ok(());
        }
        let ts = now_ns();
        for mut e in events {
            e.ts_ns = ts;
            tracing::debug!(kind = e.kind.name(), object = ?e.object.as_ref().map(|o| &o.name), "event");
            self.timeline.append(&e)?;
        }
        Ok(())
    }

    /// Events written so far.
    pub fn written(&self) -> usize {
        self.timeline.written()
    }

    /// The timeline's path.
    pub fn path(&self) -> &Path {
        self.timeline.path()
    }
}
