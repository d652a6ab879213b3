//! Reading probe logs into columns, one agent at a time.

use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};

use seamless_proto::{Header, LogReader, Mode, Outcome, Probe, TornTail};

use crate::spill::{Full, Spill};
use crate::{Error, Result};

mod decode;
mod sink;

use sink::Sink;

/// Probe class: a success.
pub(crate) const CLASS_OK: u32 = 0;
/// Probe class: a failure of the service.
pub(crate) const CLASS_FAIL: u32 = 1;
/// Probe class: the prober's own error, neither success nor failure.
pub(crate) const CLASS_LOCAL: u32 = 2;

/// The class of an outcome.
pub(crate) fn class_of(o: Outcome) -> u32 {
    if o == Outcome::Ok {
        CLASS_OK
    } else if o.is_local() {
        CLASS_LOCAL
    } else {
        CLASS_FAIL
    }
}

/// Every probe of one agent as columns, times in wall-clock ns after the
/// clock offset.
#[derive(Debug, Default)]
pub(crate) struct Columns {
    /// Actual start, wall ns.
    pub t: Vec<i64>,
    /// Total duration, ns.
    pub lat: Vec<i64>,
    /// Outcome byte (u32: the polars build has no u8 columns).
    pub outcome: Vec<u32>,
    /// [`CLASS_OK`], [`CLASS_FAIL`] or [`CLASS_LOCAL`].
    pub class: Vec<u32>,
    /// Backend id in the run-wide table (0: none).
    pub backend: Vec<u32>,
}

/// One agent's log, read; of one probing mode when the log has several
/// ([`read_log`]).
#[derive(Debug)]
pub(crate) struct AgentLog {
    /// Agent name (from `probe-<agent>.log`, else the file stem), and
    /// `/<mode>` when the log has probes of several modes.
    pub name: String,
    /// The probing mode of every probe here, when the log has several.
    pub mode: Option<Mode>,
    /// The agent's own name (without the mode).
    pub agent: String,
    /// The file.
    pub path: PathBuf,
    /// The log header.
    pub header: Header,
    /// Format version in the file.
    pub format_version: u16,
    /// Set when the file ends inside a frame.
    pub torn: Option<TornTail>,
    /// The end marker's count, when the agent stopped cleanly.
    pub end_count: Option<u64>,
    /// The log's own backend table (id `i` is `backends[i - 1]`).
    pub backends: Vec<String>,
    /// Clock offset applied, ns.
    pub clock_offset_ns: i64,
    /// Whether `t` was already in order in the file.
    pub sorted: bool,
    /// The probes, when read into memory ([`Keep::Columns`]).
    pub cols: Columns,
    /// The probes, when spilled ([`Keep::Spill`] without `full`).
    pub spill: Option<Spill>,
    /// The probes, when spilled with every field.
    pub full: Option<crate::spill::Spill<Full>>,
    /// Reuse mode's connections, when this log (or mode) has any.
    pub conns: Option<crate::connections::Tally>,
    /// The probes folded as they were spilled ([`FoldSpec`]), backend ids
    /// the log's own until [`AgentLog::remap`].
    pub fold: Option<crate::stream::Fold>,
}

/// The agent name of a log path.
pub(crate) fn agent_name(path: &Path) -> String {
    let file = path.file_name().and_then(|n| n.to_str()).unwrap_or("agent");
    match seamless_proto::run::agent_of(file) {
        Some(agent) => agent.to_owned(),
        None => path
            .file_stem()
            .and_then(|n| n.to_str())
            .unwrap_or("agent")
            .to_owned(),
    }
}

/// Where [`read_log`] keeps the probes.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Keep<'a> {
    /// In [`Columns`] (the tests' reference path, and check-truth's
    /// failed probes).
    Columns,
    /// In a [`crate::spill::Spill`], in `dir` when it takes one.
    Spill {
        /// Where the spill goes (else the system's temporary directory).
        dir: Option<&'a Path>,
        /// Every field (the export's [`crate::spill::Full`]), or the
        /// analysis's alone.
        full: bool,
        /// Fold the analysis's probes as they are spilled.
        fold: Option<FoldSpec>,
    },
}

/// What the fold of a log as it is read needs to know beforehand.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct FoldSpec {
    /// The rollout (the latency's phases).
    pub rollout: Option<crate::report::Span>,
    /// The bin width asked for, else chosen once every log is read.
    pub bin_ns: Option<i64>,
}

/// Reads one log; backend ids stay the log's own until [`AgentLog::remap`].
///
/// A log whose probes are of several modes (an agent probing new and
/// reused connections at once, one schedule each) is read as one
/// [`AgentLog`] per mode, named `<agent>/<mode>`: each mode then gets its
/// own windows, downtime, row and marker, and the merged view holds them
/// all. The order is [`Mode::ALL`]'s.
pub(crate) fn read_log(
    path: &Path,
    clock_offset_ns: i64,
    keep: Keep<'_>,
    decoders: usize,
) -> Result<Vec<AgentLog>> {
    let log_err = |source| Error::Log {
        path: path.to_owned(),
        source,
    };
    let file = File::open(path).map_err(Error::io(path))?;
    // A small buffer: a frame's payload, larger, is read past it straight
    // into the frame's own (not copied twice).
    let mut reader = LogReader::new(BufReader::with_capacity(1 << 13, file)).map_err(log_err)?;
    let header = reader.header().clone();
    let base = header.wall_anchor_ns.saturating_add(clock_offset_ns);
    let first = header.modes.first().map_or(Mode::New, |m| m.mode);
    let guess = std::fs::metadata(path).map_or(0, |m| m.len() / 18) as usize;
    let sink = Sink::new(path, base, keep, first, guess);
    // The frames decode here (on `decoders` threads), the probes go to
    // their columns or spill on a thread of their own.
    let (read, sink) = std::thread::scope(|s| {
        let (tx, rx) = std::sync::mpsc::sync_channel::<Vec<Vec<Probe>>>(2);
        let consumer = s.spawn(move || {
            let mut sink = sink;
            for frames in rx {
                for batch in &frames {
                    sink.take(batch)?;
                }
            }
            Ok::<_, Error>(sink)
        });
        // A send fails only when the sink has stopped on an error of its own.
        let read = decode::each_batch(
            &mut reader,
            decoders,
            |e| Some(log_err(e)),
            |batch| tx.send(batch).map_err(|_| None),
        );
        drop(tx);
        let sink = consumer
            .join()
            .unwrap_or_else(|p| std::panic::resume_unwind(p));
        (read, sink)
    });
    let sink = sink?;
    if let Err(Some(e)) = read {
        return Err(e);
    }
    let mut parts = sink.finish()?;
    let present: Vec<usize> = (0..3).filter(|&m| parts[m].count > 0).collect();
    let split = present.len() > 1;
    // A log without probes is still one (empty) agent.
    let keep: Vec<usize> = if present.is_empty() {
        vec![first as usize]
    } else {
        present
    };
    let name = agent_name(path);
    Ok(keep
        .into_iter()
        .map(|m| {
            let mode = Mode::ALL[m];
            let part = std::mem::take(&mut parts[m]);
            AgentLog {
                name: if split {
                    format!("{name}/{}", mode.name())
                } else {
                    name.clone()
                },
                mode: split.then_some(mode),
                agent: name.clone(),
                path: path.to_owned(),
                format_version: reader.format_version(),
                torn: reader.torn_tail(),
                end_count: reader.end_count(),
                backends: reader.backends().to_vec(),
                header: header.clone(),
                clock_offset_ns,
                sorted: part.sorted,
                cols: part.cols,
                spill: part.spill,
                full: part.full,
                fold: part.fold,
                conns: (!part.tally.is_empty()).then_some(part.tally),
            }
        })
        .collect())
}

impl AgentLog {
    /// The probes read.
    pub(crate) fn len(&self) -> usize {
        match (&self.spill, &self.full) {
            (Some(s), _) => s.len() as usize,
            (_, Some(f)) => f.len() as usize,
            _ => self.cols.t.len(),
        }
    }

    /// Maps this log's backend ids onto the run-wide table `names`, adding
    /// the names it has not seen.
    pub(crate) fn remap(&mut self, names: &mut Vec<String>) {
        let remap: Vec<u32> = std::iter::once(0)
            .chain(self.backends.iter().map(|name| {
                let index = names.iter().position(|n| n == name).unwrap_or_else(|| {
                    names.push(name.clone());
                    names.len() - 1
                });
                u32::try_from(index + 1).unwrap_or(u32::MAX)
            }))
            .collect();
        if let Some(f) = &mut self.fold {
            f.remap(&remap, u32::try_from(names.len()).unwrap_or(u32::MAX));
        }
        if remap.iter().enumerate().any(|(i, &g)| g as usize != i) {
            if let Some(s) = &mut self.spill {
                s.set_remap(remap.clone());
            }
            if let Some(f) = &mut self.full {
                f.set_remap(remap.clone());
            }
            for b in &mut self.cols.backend {
                *b = remap.get(*b as usize).copied().unwrap_or(0);
            }
        }
    }
}
