//! The recorder: one thread that takes finished probes from the workers,
//! orders each batch by intended start, writes it to the log as one frame at
//! least every 100 ms, and keeps the tallies for progress and the summary.

use std::io::{IsTerminal, Write};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use seamless_proto::log::{LogError, LogWriter};

use crate::probe::ProbeResult;
use crate::summary::{RunTally, Tally};

/// Frames are cut this often; with the workers' 25 ms hand-off, a finished
/// probe reaches the kernel within 100 ms.
const FRAME_EVERY: Duration = Duration::from_millis(50);
/// Live progress cadence.
const PROGRESS_EVERY: Duration = Duration::from_secs(1);

/// Errors of the recorder.
#[derive(Debug, thiserror::Error)]
pub enum RecorderError {
    /// Writing the log failed; everything before the failed frame is on disk.
    #[error("writing the probe log failed after {written} probes")]
    Write {
        /// Probes safely written before the failure.
        written: u64,
        /// The cause.
        #[source]
        source: LogError,
    },
}

/// Live progress on stderr, when it is a terminal.
struct Progress {
    interval: Tally,
    last: Instant,
    started: Instant,
}

impl Progress {
    fn tick(&mut self) {
        if self.last.elapsed() < PROGRESS_EVERY {
            return;
        }
        let secs = self.last.elapsed().as_secs_f64();
        let t = &self.interval;
        let line = format!(
            "[{:>5.0}s] {:>8.0}/s  ok {:>7}  failed {:>6}  local {:>4}  streak {:>5}  p50 {:.3} ms  p99 {:.3} ms",
            self.started.elapsed().as_secs_f64(),
            t.probes() as f64 / secs,
            t.count(seamless_proto::Outcome::Ok),
            t.failed(),
            t.local(),
            t.streak(),
            t.ok_quantile(0.5) as f64 / 1e6,
            t.ok_quantile(0.99) as f64 / 1e6,
        );
        let _ = writeln!(std::io::stderr(), "{line}");
        self.interval.reset_interval();
        self.last = Instant::now();
    }
}

/// Runs the recorder until every worker has hung up; returns the tallies and
/// the finished writer.
pub fn run<W: Write>(
    rx: Receiver<Vec<ProbeResult>>,
    mut writer: LogWriter<W>,
) -> Result<(RunTally, W), RecorderError> {
    let mut tally = RunTally::default();
    let mut progress = std::io::stderr().is_terminal().then(|| Progress {
        interval: Tally::default(),
        last: Instant::now(),
        started: Instant::now(),
    });
    let mut pending: Vec<ProbeResult> = Vec::new();
    let mut next_frame = Instant::now() + FRAME_EVERY;
    let fail = |writer: &LogWriter<W>, source| RecorderError::Write {
        written: writer.probes_flushed(),
        source,
    };
    loop {
        let wait = next_frame.saturating_duration_since(Instant::now());
        let hung_up = match rx.recv_timeout(wait) {
            Ok(batch) => {
                pending.extend(batch);
                false
            }
            Err(RecvTimeoutError::Timeout) => false,
            Err(RecvTimeoutError::Disconnected) => true,
        };
        if hung_up || Instant::now() >= next_frame {
            pending.sort_by_key(|r| r.probe.intended_ns);
            for r in pending.drain(..) {
                let mut probe = r.probe;
                if let Some(name) = r.backend {
                    probe.backend = writer.backend_id(&name);
                }
                tally.add(&probe);
                if let Some(p) = progress.as_mut() {
                    p.interval.add(&probe);
                }
                writer.push(&probe).map_err(|e| fail(&writer, e))?;
            }
            writer.flush_frame().map_err(|e| fail(&writer, e))?;
            next_frame = Instant::now() + FRAME_EVERY;
            if let Some(p) = progress.as_mut() {
                p.tick();
            }
        }
        if hung_up {
            break;
        }
    }
    let written = writer.probes_flushed();
    let out = writer
        .finish()
        .map_err(|source| RecorderError::Write { written, source })?;
    Ok((tally, out))
}
