//! The run directory's `timeline.jsonl`: every event stamped with the local
//! wall clock when it was observed, one line each, flushed at once so an
//! interrupted run keeps everything seen.

use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use seamless_proto::run::TIMELINE;
use seamless_proto::timeline::{Event, TimelineWriter};

use super::error::{Error, Result};

/// Local wall clock (CLOCK_REALTIME), ns since the Unix epoch.
pub fn now_ns() -> i64 {
    let d = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    i64::try_from(d.as_nanos()).unwrap_or(i64::MAX)
}

/// Appends events to `RUN_DIR/timeline.jsonl`.
pub struct Recorder {
    writer: TimelineWriter<File>,
    path: PathBuf,
    written: usize,
}

impl Recorder {
    /// Creates the run directory if needed and a new timeline in it; an
    /// existing timeline is never overwritten.
    pub fn create(dir: &Path) -> Result<Recorder> {
        let io = |path: &Path| {
            let path = path.to_owned();
            move |source| Error::Io { path, source }
        };
        std::fs::create_dir_all(dir).map_err(io(dir))?;
        let path = dir.join(TIMELINE);
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
            .map_err(|e| {
                if e.kind() == std::io::ErrorKind::AlreadyExists {
                    Error::TimelineExists(path.clone())
                } else {
                    Error::Io {
                        path: path.clone(),
                        source: e,
                    }
                }
            })?;
        Ok(Recorder {
            writer: TimelineWriter::new(file),
            path,
            written: 0,
        })
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
            self.writer.write(&e).map_err(|e| Error::Io {
                path: self.path.clone(),
                source: std::io::Error::other(e),
            })?;
            self.written += 1;
        }
        Ok(())
    }

    /// Events written so far.
    pub fn written(&self) -> usize {
        self.written
    }

    /// The timeline's path.
    pub fn path(&self) -> &Path {
        &self.path
    }
}
