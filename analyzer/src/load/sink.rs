//! Where a log's probes go as they are read: each probing mode's columns
//! (in memory) or spill (on disk), its fold (as the probes leave the
//! reordering buffer, in start order), its connection tally, its count and
//! whether it came in start order.

use std::path::{Path, PathBuf};

use seamless_proto::{Mode, Probe};

use super::{Columns, FoldSpec, Keep, class_of};
use crate::connections::Tally;
use crate::probes::Row;
use crate::spill::{Full, Record, Spill, SpillWriter};
use crate::stream::Fold;
use crate::{Error, Result};

/// One probing mode's probes, read.
#[derive(Debug, Default)]
pub(super) struct Part {
    pub count: u64,
    pub sorted: bool,
    pub cols: Columns,
    pub spill: Option<Spill>,
    pub full: Option<Spill<Full>>,
    pub tally: Tally,
    /// The spill's probes folded, in its order (none when the log was too
    /// far out of order for that: the spill was sorted at its end).
    pub fold: Option<Fold>,
    /// A probe reached the fold out of start order.
    unfolded: bool,
}

/// The probes of one log as they are read, by mode.
pub(super) struct Sink<'a> {
    path: PathBuf,
    /// Wall ns of the log's monotonic zero, after the clock offset.
    base: i64,
    /// Spill into this directory (else the system's), or keep columns.
    spill_dir: Option<Option<&'a Path>>,
    full: bool,
    fold: Option<FoldSpec>,
    spills: [Option<SpillWriter<Row>>; 3],
    fulls: [Option<SpillWriter<Full>>; 3],
    parts: [Part; 3],
    last: [i64; 3],
}

/// The spill writer in `slot`, created in `dir` at the first probe.
fn writer<'w, R: Record>(
    slot: &'w mut Option<SpillWriter<R>>,
    dir: Option<&Path>,
) -> std::io::Result<&'w mut SpillWriter<R>> {
    if slot.is_none() {
        *slot = Some(SpillWriter::new(dir)?);
    }
    // Just filled if it was empty.
    slot.as_mut()
        .ok_or_else(|| std::io::Error::other("no spill writer"))
}

/// What hands the fold each probe as it is written; a probe out of order
/// (which a log too far out of order for the reordering buffer always
/// gives: its spill is sorted at the end) sets `unfolded`.
fn feed<'f>(fold: &'f mut Option<Fold>, unfolded: &'f mut bool) -> impl FnMut(&Row) + 'f {
    move |r| {
        if let Some(f) = fold.as_mut()
            && f.push(r.t, r.lat, r.outcome, r.class, r.backend).is_err()
        {
            *unfolded = true;
        }
    }
}

impl<'a> Sink<'a> {
    /// A sink for the log at `path`; `guess` probes are reserved for the
    /// first mode's columns when they are kept in memory.
    pub(super) fn new(
        path: &Path,
        base: i64,
        keep: Keep<'a>,
        first: Mode,
        guess: usize,
    ) -> Sink<'a> {
        let (spill_dir, full, fold) = match keep {
            Keep::Columns => (None, false, None),
            Keep::Spill { dir, full, fold } => (Some(dir), full, fold),
        };
        let mut parts: [Part; 3] = Default::default();
        for p in &mut parts {
            p.sorted = true;
        }
        if spill_dir.is_none() {
            // Most logs have one mode: reserve for it alone, once.
            let cols = &mut parts[first as usize].cols;
            cols.t.reserve(guess);
            cols.lat.reserve(guess);
            cols.outcome.reserve(guess);
            cols.class.reserve(guess);
            cols.backend.reserve(guess);
        }
        Sink {
            path: path.to_owned(),
            base,
            spill_dir,
            full,
            fold,
            spills: [None, None, None],
            fulls: [None, None, None],
            parts,
            last: [i64::MIN; 3],
        }
    }

    fn spill_err(&self) -> impl Fn(std::io::Error) -> Error + '_ {
        |source| Error::Spill {
            path: self.path.clone(),
            source,
        }
    }

    /// Takes in a batch of probes, in file order.
    pub(super) fn take(&mut self, batch: &[Probe]) -> Result<()> {
        for p in batch {
            let m = p.mode as usize;
            let t = self.base.saturating_add_unsigned(p.start_ns);
            let part = &mut self.parts[m];
            part.count += 1;
            if let (Mode::Reuse, Some(c)) = (p.mode, &p.conn) {
                part.tally.push(t, p.outcome, c);
            }
            let row = Row {
                t,
                lat: i64::try_from(p.total_ns).unwrap_or(i64::MAX),
                outcome: u32::from(p.outcome.as_u8()),
                class: class_of(p.outcome),
                backend: p.backend,
            };
            let Some(dir) = self.spill_dir else {
                part.sorted &= t >= self.last[m];
                self.last[m] = t;
                let cols = &mut part.cols;
                cols.t.push(row.t);
                cols.lat.push(row.lat);
                cols.outcome.push(row.outcome);
                cols.class.push(row.class);
                cols.backend.push(row.backend);
                continue;
            };
            let pushed = if self.full {
                writer(&mut self.fulls[m], dir).and_then(|w| {
                    w.push(
                        Full {
                            row,
                            intended: self.base.saturating_add_unsigned(p.intended_ns),
                            connect: i64::try_from(p.connect_ns).unwrap_or(i64::MAX),
                            first_byte: i64::try_from(p.first_byte_ns).unwrap_or(i64::MAX),
                            status: p.status,
                            conn: p.conn,
                        },
                        &mut |_| {},
                    )
                })
            } else {
                if let (Some(spec), None) = (self.fold, &part.fold) {
                    part.fold = Some(Fold::new(0, spec.rollout, spec.bin_ns));
                }
                let mut feed = feed(&mut part.fold, &mut part.unfolded);
                writer(&mut self.spills[m], dir).and_then(|w| w.push(row, &mut feed))
            };
            if let Err(e) = pushed {
                return Err(self.spill_err()(e));
            }
        }
        Ok(())
    }

    /// Each mode's probes (index: the mode's byte), spills finished.
    pub(super) fn finish(mut self) -> Result<[Part; 3]> {
        let dir = self.spill_dir.flatten();
        let spills = std::mem::take(&mut self.spills);
        let fulls = std::mem::take(&mut self.fulls);
        for (m, (w, f)) in spills.into_iter().zip(fulls).enumerate() {
            if let Some(w) = w {
                let part = &mut self.parts[m];
                part.sorted = w.in_order;
                let s = w.finish(dir, &mut feed(&mut part.fold, &mut part.unfolded));
                let s = s.map_err(self.spill_err())?;
                let part = &mut self.parts[m];
                // A log too far out of order reached the fold out of order:
                // its sorted spill is folded again instead.
                if part.unfolded {
                    part.fold = None;
                }
                part.spill = Some(s);
            }
            if let Some(f) = f {
                self.parts[m].sorted = f.in_order;
                let s = f.finish(dir, &mut |_| {}).map_err(self.spill_err())?;
                self.parts[m].full = Some(s);
            }
        }
        Ok(self.parts)
    }
}
