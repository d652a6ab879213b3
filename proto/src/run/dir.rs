//! Writing a run directory: the one writer the controller and the lab share.
//!
//! Semantics (the contract every writer keeps):
//! - [`RunDir::create`] makes the directory (and its parents) and a new,
//!   empty `timeline.jsonl`. A directory that already holds a timeline is
//!   refused ([`RunDirError::TimelineExists`]): one run's record is never
//!   truncated or mixed with another's. A writer that means to replace an
//!   earlier run (the lab's `run-NN`) removes that directory itself first.
//! - [`Timeline::append`] writes one event as one line, in one `write`, and
//!   flushes it to the kernel before returning, so an interrupted or killed
//!   run keeps every event appended so far. Clones share the file; lines from
//!   several threads never interleave.
//! - Errors are returned, never swallowed. After a failed write the timeline
//!   refuses further appends ([`RunDirError::TimelineBroken`]): a line cut
//!   short can only be the last one, which readers drop as a torn write,
//!   so everything before it stays readable.
//! - [`RunDir::write_info`] writes `run.json` to a temporary file and renames
//!   it into place: a reader sees the old `run.json` or the new one, never a
//!   half-written one. Writing it again (e.g. once at the start, once at the
//!   end) replaces it.
//! - Times come from [`crate::clock::now_ns`].

use std::fs::{File, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use super::{RUN_INFO, RunInfo, TIMELINE, probe_log_name};
use crate::timeline::{Event, TimelineError, TimelineWriter};

/// Errors writing a run directory; each names the file.
#[derive(Debug, thiserror::Error)]
pub enum RunDirError {
    /// The run directory already has a timeline.
    #[error("{0} already exists: choose a new run directory")]
    TimelineExists(PathBuf),
    /// Creating, writing or renaming a file failed.
    #[error("writing {path} failed")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// An earlier append failed; the timeline takes no more lines.
    #[error("{0}: an earlier write failed, so no more events are appended")]
    TimelineBroken(PathBuf),
}

impl RunDirError {
    /// The file the error is about.
    pub fn path(&self) -> &Path {
        match self {
            RunDirError::TimelineExists(p) | RunDirError::TimelineBroken(p) => p,
            RunDirError::Io { path, .. } => path,
        }
    }
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> RunDirError + '_ {
    move |source| RunDirError::Io {
        path: path.to_owned(),
        source,
    }
}

/// A run directory being written.
#[derive(Debug, Clone)]
pub struct RunDir {
    path: PathBuf,
}

impl RunDir {
    /// Creates the directory if needed and a new timeline in it; see the
    /// module's semantics.
    pub fn create(path: &Path) -> Result<(RunDir, Timeline), RunDirError> {
        std::fs::create_dir_all(path).map_err(io_err(path))?;
        let tl = path.join(TIMELINE);
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tl)
            .map_err(|e| {
                if e.kind() == io::ErrorKind::AlreadyExists {
                    RunDirError::TimelineExists(tl.clone())
                } else {
                    io_err(&tl)(e)
                }
            })?;
        let timeline = Timeline {
            path: Arc::new(tl),
            inner: Arc::new(Mutex::new(Inner {
                writer: TimelineWriter::new(file),
                written: 0,
                broken: false,
            })),
        };
        Ok((
            RunDir {
                path: path.to_owned(),
            },
            timeline,
        ))
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Where an agent's probe log goes: `probe-<agent>.log`.
    pub fn probe_log(&self, agent: &str) -> PathBuf {
        self.path.join(probe_log_name(agent))
    }

    /// Writes `run.json`, atomically replacing any earlier one.
    pub fn write_info(&self, info: &RunInfo) -> Result<(), RunDirError> {
        write_info(&self.path, info).map_err(io_err(&self.path.join(RUN_INFO)))
    }
}

pub(super) fn write_info(dir: &Path, info: &RunInfo) -> io::Result<()> {
    let mut bytes = serde_json::to_vec_pretty(info).map_err(io::Error::other)?;
    bytes.push(b'\n');
    let tmp = dir.join(format!(".{RUN_INFO}.tmp"));
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, dir.join(RUN_INFO))
}

struct Inner {
    writer: TimelineWriter<File>,
    written: usize,
    broken: bool,
}

/// The appender of a run's `timeline.jsonl`; clones share it.
#[derive(Clone)]
pub struct Timeline {
    path: Arc<PathBuf>,
    inner: Arc<Mutex<Inner>>,
}

impl std::fmt::Debug for Timeline {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Timeline")
            .field("path", &self.path)
            .field("written", &self.written())
            .finish()
    }
}

impl Timeline {
    /// Appends one event as one line and flushes it; see the module's
    /// semantics for errors.
    pub fn append(&self, event: &Event) -> Result<(), RunDirError> {
        // A panic elsewhere while holding the lock leaves the file as it was
        // (a line is one write), so the poisoned state is still usable.
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        if inner.broken {
            return Err(RunDirError::TimelineBroken(self.path.to_path_buf()));
        }
        match inner.writer.write(event) {
            Ok(()) => {
                inner.written += 1;
                Ok(())
            }
            Err(e) => {
                inner.broken = true;
                let source = match e {
                    TimelineError::Io(io) => io,
                    other => io::Error::other(other),
                };
                Err(io_err(&self.path)(source))
            }
        }
    }

    /// Events appended so far.
    pub fn written(&self) -> usize {
        self.inner.lock().unwrap_or_else(|p| p.into_inner()).written
    }

    /// The timeline's path.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::timeline::{EventKind, read_jsonl};
    use std::io::Write;

    fn events(dir: &Path) -> Vec<Event> {
        let f = File::open(dir.join(TIMELINE)).unwrap();
        read_jsonl(io::BufReader::new(f)).unwrap()
    }

    #[test]
    fn creates_nested_dirs_and_appends_from_threads_in_whole_lines() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("a/b/run-01");
        let (dir, tl) = RunDir::create(&path).unwrap();
        assert_eq!(dir.probe_log("node-a"), path.join("probe-node-a.log"));
        std::thread::scope(|s| {
            for t in 0..4 {
                let tl = tl.clone();
                s.spawn(move || {
                    for i in 0..250 {
                        let e = Event::new(t * 1000 + i, EventKind::PodReady)
                            .with_detail("x".repeat(300));
                        tl.append(&e).unwrap();
                    }
                });
            }
        });
        assert_eq!(tl.written(), 1000);
        assert_eq!(events(&path).len(), 1000);
    }

    #[test]
    fn refuses_an_existing_timeline_and_keeps_it() {
        let tmp = tempfile::tempdir().unwrap();
        let (_, tl) = RunDir::create(tmp.path()).unwrap();
        tl.append(&Event::new(1, EventKind::PatchSent)).unwrap();
        let err = RunDir::create(tmp.path()).unwrap_err();
        assert!(matches!(err, RunDirError::TimelineExists(_)), "{err}");
        assert!(err.to_string().contains("timeline.jsonl already exists"));
        // The first run's record is untouched, and its appender still works.
        tl.append(&Event::new(2, EventKind::RunEnd)).unwrap();
        let ev = events(tmp.path());
        assert_eq!(ev.len(), 2);
        assert_eq!(ev[0].kind, EventKind::PatchSent);
    }

    #[test]
    fn a_failed_write_is_reported_and_stops_further_appends() {
        // /dev/full accepts the open and fails every write with ENOSPC.
        if !Path::new("/dev/full").exists() {
            return;
        }
        let file = OpenOptions::new().write(true).open("/dev/full").unwrap();
        let tl = Timeline {
            path: Arc::new("/dev/full".into()),
            inner: Arc::new(Mutex::new(Inner {
                writer: TimelineWriter::new(file),
                written: 0,
                broken: false,
            })),
        };
        let e = Event::new(1, EventKind::PatchSent);
        let err = tl.append(&e).unwrap_err();
        match &err {
            RunDirError::Io { source, .. } => {
                assert_eq!(source.raw_os_error(), Some(28), "ENOSPC")
            }
            other => panic!("expected an I/O error, got {other}"),
        }
        assert!(matches!(
            tl.append(&e).unwrap_err(),
            RunDirError::TimelineBroken(_)
        ));
        assert_eq!(tl.written(), 0);
    }

    #[test]
    fn a_torn_last_line_keeps_everything_before_it_readable() {
        let tmp = tempfile::tempdir().unwrap();
        let (_, tl) = RunDir::create(tmp.path()).unwrap();
        tl.append(&Event::new(1, EventKind::PatchSent)).unwrap();
        tl.append(&Event::new(2, EventKind::PodReady)).unwrap();
        // What a write cut short (disk full, killed mid-write) leaves.
        let mut f = OpenOptions::new()
            .append(true)
            .open(tmp.path().join(TIMELINE))
            .unwrap();
        f.write_all(br#"{"ts_ns":3,"ki"#).unwrap();
        assert_eq!(events(tmp.path()).len(), 2);
    }

    #[test]
    fn run_json_is_replaced_whole() {
        let tmp = tempfile::tempdir().unwrap();
        let (dir, _) = RunDir::create(tmp.path()).unwrap();
        let mut info = RunInfo {
            source: Some("cluster".into()),
            ..Default::default()
        };
        dir.write_info(&info).unwrap();
        info.outcome = Some("complete".into());
        info.exit_code = Some(0);
        dir.write_info(&info).unwrap();
        assert_eq!(RunInfo::read(tmp.path()).unwrap(), info);
        let names: Vec<_> = std::fs::read_dir(tmp.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        let mut names = names;
        names.sort();
        assert_eq!(names, ["run.json", "timeline.jsonl"], "no temporary left");
    }

    #[test]
    fn a_missing_parent_that_cannot_be_made_is_an_error_naming_it() {
        let tmp = tempfile::tempdir().unwrap();
        let file = tmp.path().join("file");
        std::fs::write(&file, b"").unwrap();
        let err = RunDir::create(&file.join("run")).unwrap_err();
        assert_eq!(err.path(), file.join("run"));
        assert!(matches!(err, RunDirError::Io { .. }));
    }
}
