//! One agent's probes kept on disk between the analysis's passes.
//!
//! Decoding a log (checksums, varints, the deltas) is the dear part of
//! reading it, and the analysis walks the probes more than once after the
//! fold that runs as the log is read: the quantiles' second pass,
//! report.html's chart, the run figure, the merged view's fold (see
//! [`crate::walks`]), and the edges of partial windows, read at their
//! marks. So each log is decoded once, and its probes go to an unlinked
//! temporary file as fixed-size records in start order; every walk reads
//! them back a block at a time, or from a given record on. The process holds a block,
//! not the probes, so its memory does not grow with the probe count; the
//! kernel's page cache (which it may drop under pressure) keeps the re-reads
//! at memory speed. The file goes when the [`Spill`] is dropped, and with the
//! process however it ends (it has no name).
//!
//! Start order: a log is in intended-start order, and actual starts lag
//! their intended ones by a little, so a bounded reordering buffer
//! ([`REORDER`] probes, a deque sorted by start, equal starts in arrival
//! order) restores the order a stable sort gives. A log more out of order
//! than that is sorted whole, in memory, as before (said in a debug line):
//! exact either way.
//!
//! A spill holds records of one [`Record`] kind: the analysis's [`Row`]
//! (what every statistic and plot reads), or the export's [`Full`] probe.

use std::collections::VecDeque;
use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::os::unix::fs::FileExt;
use std::path::Path;

use crate::probes::Row;

/// What a spill holds: fixed-size records with a start time.
pub(crate) trait Record: Copy {
    /// Bytes a record takes.
    const SIZE: usize;
    /// Its start, wall ns (the spill's order).
    fn t(&self) -> i64;
    /// Writes it into `out` (`SIZE` bytes).
    fn encode(&self, out: &mut [u8]);
    /// Reads one back from `b` (`SIZE` bytes).
    fn decode(b: &[u8]) -> Self;
    /// Its backend id, to map from the log's table to the run's.
    fn backend_mut(&mut self) -> &mut u32;
}

fn i64_at(b: &[u8], k: usize) -> i64 {
    let mut x = [0u8; 8];
    x.copy_from_slice(&b[k..k + 8]);
    i64::from_le_bytes(x)
}

fn u32_at(b: &[u8], k: usize) -> u32 {
    u32::from_le_bytes([b[k], b[k + 1], b[k + 2], b[k + 3]])
}

/// The analysis's record: start (i64), total (i64), backend id (u32),
/// outcome byte, class byte; little endian, 22 bytes.
impl Record for Row {
    const SIZE: usize = 22;

    fn t(&self) -> i64 {
        self.t
    }

    fn encode(&self, b: &mut [u8]) {
        b[0..8].copy_from_slice(&self.t.to_le_bytes());
        b[8..16].copy_from_slice(&self.lat.to_le_bytes());
        b[16..20].copy_from_slice(&self.backend.to_le_bytes());
        // Outcome bytes and classes are u8 values held in u32 columns.
        b[20] = self.outcome as u8;
        b[21] = self.class as u8;
    }

    fn decode(b: &[u8]) -> Row {
        Row {
            t: i64_at(b, 0),
            lat: i64_at(b, 8),
            backend: u32_at(b, 16),
            outcome: u32::from(b[20]),
            class: u32::from(b[21]),
        }
    }

    fn backend_mut(&mut self) -> &mut u32 {
        &mut self.backend
    }
}

/// The export's record: a probe with every field, times in wall ns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Full {
    /// The analysis's fields.
    pub row: Row,
    /// Intended start, wall ns.
    pub intended: i64,
    /// Connect duration, ns.
    pub connect: i64,
    /// First byte after start, ns (0: none).
    pub first_byte: i64,
    /// HTTP status.
    pub status: u16,
    /// Reuse mode: the connection used.
    pub conn: Option<seamless_proto::ConnUse>,
}

/// [`Row`]'s 22 bytes, intended start, connect and first byte (i64 each),
/// status (u16), then the connection: a presence byte, id (u64), age
/// (u64), requests (u32), state byte; 70 bytes.
impl Record for Full {
    const SIZE: usize = 70;

    fn t(&self) -> i64 {
        self.row.t
    }

    fn encode(&self, b: &mut [u8]) {
        self.row.encode(&mut b[..22]);
        b[22..30].copy_from_slice(&self.intended.to_le_bytes());
        b[30..38].copy_from_slice(&self.connect.to_le_bytes());
        b[38..46].copy_from_slice(&self.first_byte.to_le_bytes());
        b[46..48].copy_from_slice(&self.status.to_le_bytes());
        let c = self.conn;
        b[48] = u8::from(c.is_some());
        let c = c.unwrap_or(seamless_proto::ConnUse {
            id: 0,
            age_ns: 0,
            requests: 0,
            state: seamless_proto::ConnState::Reused,
        });
        b[49..57].copy_from_slice(&c.id.to_le_bytes());
        b[57..65].copy_from_slice(&c.age_ns.to_le_bytes());
        b[65..69].copy_from_slice(&c.requests.to_le_bytes());
        b[69] = c.state.as_u8();
    }

    fn decode(b: &[u8]) -> Full {
        let conn = (b[48] == 1).then(|| seamless_proto::ConnUse {
            id: i64_at(b, 49) as u64,
            age_ns: i64_at(b, 57) as u64,
            requests: u32_at(b, 65),
            // Written from a valid state: the fallback is never taken.
            state: seamless_proto::ConnState::from_u8(b[69])
                .unwrap_or(seamless_proto::ConnState::Reused),
        });
        Full {
            row: Row::decode(&b[..22]),
            intended: i64_at(b, 22),
            connect: i64_at(b, 30),
            first_byte: i64_at(b, 38),
            status: u16::from_le_bytes([b[46], b[47]]),
            conn,
        }
    }

    fn backend_mut(&mut self) -> &mut u32 {
        &mut self.row.backend
    }
}

/// Records a read block holds.
const BLOCK: usize = 1 << 16;
/// Records the reordering buffer holds before it writes the earliest.
const REORDER: usize = 1 << 16;

/// A temporary file in `dir` when it takes one (beside the run: the page
/// cache of its disk, not a tmpfs in memory), else in the system's.
fn temp_file(dir: Option<&Path>) -> io::Result<File> {
    match dir.map(tempfile::tempfile_in) {
        Some(Ok(f)) => Ok(f),
        _ => tempfile::tempfile(),
    }
}

/// Writes one agent's probes (in file order) to a spill in start order.
///
/// The reordering buffer is a deque kept sorted by start, equal starts in
/// arrival order (a stable sort's order): a probe no earlier than the last
/// one buffered goes to the back at once, a late one walks back to its
/// place (a few steps for the lag of an actual start behind its intended
/// one); the earliest is written when the buffer is full. In order, nothing
/// is buffered at all.
pub(crate) struct SpillWriter<R: Record> {
    out: BufWriter<File>,
    pending: VecDeque<R>,
    written: u64,
    last_written: i64,
    /// A probe came earlier than one already written: sort at the end.
    overflowed: bool,
    /// Whether the probes came in start order (no reordering needed).
    pub(crate) in_order: bool,
    last_in: i64,
    block: Vec<u8>,
}

impl<R: Record> SpillWriter<R> {
    /// A writer to a new temporary file in `dir` (else the system's).
    pub(crate) fn new(dir: Option<&Path>) -> io::Result<SpillWriter<R>> {
        Ok(SpillWriter {
            out: BufWriter::with_capacity(1 << 20, temp_file(dir)?),
            pending: VecDeque::new(),
            written: 0,
            last_written: i64::MIN,
            overflowed: false,
            in_order: true,
            last_in: i64::MIN,
            block: vec![0; R::SIZE],
        })
    }

    /// Adds the next probe of the log; `written` sees every probe as it
    /// goes to the file, in start order (unless the log is further out of
    /// order than the buffer reaches: then [`SpillWriter::finish`] sorts).
    pub(crate) fn push(&mut self, row: R, written: &mut impl FnMut(&R)) -> io::Result<()> {
        let t = row.t();
        self.in_order &= t >= self.last_in;
        self.last_in = t;
        if self.pending.is_empty() && t >= self.last_written {
            return self.write(&row, written);
        }
        if t < self.last_written {
            self.overflowed = true;
        }
        // After every buffered probe that starts no later (stable).
        let mut at = self.pending.len();
        while at > 0 && self.pending[at - 1].t() > t {
            at -= 1;
            if self.pending.len() - at > 64 {
                // Far out of place: find it by halving instead.
                at = self.pending.partition_point(|r| r.t() <= t);
                break;
            }
        }
        self.pending.insert(at, row);
        if self.pending.len() > REORDER
            && let Some(first) = self.pending.pop_front()
        {
            self.write(&first, written)?;
        }
        Ok(())
    }

    fn write(&mut self, row: &R, written: &mut impl FnMut(&R)) -> io::Result<()> {
        self.last_written = row.t();
        self.written += 1;
        written(row);
        row.encode(&mut self.block);
        self.out.write_all(&self.block)
    }

    /// The spill, every probe in start order; the buffered probes go to
    /// `written` first.
    pub(crate) fn finish(
        mut self,
        dir: Option<&Path>,
        written: &mut impl FnMut(&R),
    ) -> io::Result<Spill<R>> {
        while let Some(first) = self.pending.pop_front() {
            self.write(&first, written)?;
        }
        let file = self
            .out
            .into_inner()
            .map_err(io::IntoInnerError::into_error)?;
        let spill = Spill::of(file, self.written);
        if !self.overflowed {
            return Ok(spill);
        }
        // Further out of order than the buffer reaches: sort it whole. The
        // buffer wrote equal starts in arrival order, so a stable sort of
        // what it wrote is the stable sort of the log.
        tracing::debug!(
            probes = self.written,
            "a log further out of start order than the reordering buffer: sorted in memory"
        );
        let mut rows: Vec<R> = Vec::with_capacity(self.written as usize);
        let mut it = spill.rows();
        rows.extend(&mut it);
        if let Some(e) = it.error.take() {
            return Err(e);
        }
        rows.sort_by_key(R::t);
        let mut w = BufWriter::with_capacity(1 << 20, temp_file(dir)?);
        for r in &rows {
            r.encode(&mut self.block);
            w.write_all(&self.block)?;
        }
        let file = w.into_inner().map_err(io::IntoInnerError::into_error)?;
        Ok(Spill::of(file, rows.len() as u64))
    }
}

/// One agent's probes on disk, in start order.
#[derive(Debug)]
pub(crate) struct Spill<R = Row> {
    file: File,
    len: u64,
    /// The log's backend ids to the run's (index: the log's id).
    remap: Option<Vec<u32>>,
    kind: std::marker::PhantomData<R>,
}

impl<R: Record> Spill<R> {
    fn of(file: File, len: u64) -> Spill<R> {
        Spill {
            file,
            len,
            remap: None,
            kind: std::marker::PhantomData,
        }
    }

    /// Probes held.
    pub(crate) fn len(&self) -> u64 {
        self.len
    }

    /// Maps the log's backend ids to the run's when read (`remap[id]`).
    pub(crate) fn set_remap(&mut self, remap: Vec<u32>) {
        self.remap = Some(remap);
    }

    /// The probe at `k`.
    fn at(&self, k: u64) -> io::Result<R> {
        let mut b = vec![0u8; R::SIZE];
        self.file.read_exact_at(&mut b, k * R::SIZE as u64)?;
        Ok(self.mapped(R::decode(&b)))
    }

    fn mapped(&self, mut r: R) -> R {
        if let Some(m) = &self.remap {
            let b = r.backend_mut();
            *b = m.get(*b as usize).copied().unwrap_or(0);
        }
        r
    }

    /// The index of the first probe starting at `t` or later (`len` when
    /// none does).
    pub(crate) fn first_from(&self, t: i64) -> io::Result<u64> {
        let (mut lo, mut hi) = (0, self.len);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if self.at(mid)?.t() < t {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        Ok(lo)
    }

    /// The start of the `k`th probe.
    pub(crate) fn t_at(&self, k: u64) -> io::Result<i64> {
        Ok(self.at(k)?.t())
    }

    /// The first and last start, if any probe.
    pub(crate) fn span(&self) -> io::Result<Option<(i64, i64)>> {
        if self.len == 0 {
            return Ok(None);
        }
        Ok(Some((self.at(0)?.t(), self.at(self.len - 1)?.t())))
    }

    /// Every probe in start order; a read error ends the walk and waits in
    /// [`SpillRows::error`].
    pub(crate) fn rows(&self) -> SpillRows<'_, R> {
        self.rows_from(0)
    }

    /// The probes from the `k`th on, in start order.
    pub(crate) fn rows_from(&self, k: u64) -> SpillRows<'_, R> {
        self.rows_between(k, self.len)
    }

    /// The probes from the `a`th to before the `b`th, in start order.
    pub(crate) fn rows_between(&self, a: u64, b: u64) -> SpillRows<'_, R> {
        let end = b.min(self.len);
        SpillRows {
            spill: self,
            end,
            next: a.min(end),
            buf: Vec::new(),
            at: 0,
            error: None,
        }
    }
}

/// A walk over a spill, a block at a time.
pub(crate) struct SpillRows<'a, R: Record = Row> {
    spill: &'a Spill<R>,
    /// The next record to read into the block.
    next: u64,
    /// The record the walk stops before.
    end: u64,
    buf: Vec<u8>,
    at: usize,
    /// Why the walk ended early, if it did.
    pub(crate) error: Option<io::Error>,
}

impl<R: Record> Iterator for SpillRows<'_, R> {
    type Item = R;

    fn next(&mut self) -> Option<R> {
        if self.at == self.buf.len() {
            let left = self.end - self.next;
            if left == 0 || self.error.is_some() {
                return None;
            }
            let n = left.min(BLOCK as u64) as usize;
            self.buf.resize(n * R::SIZE, 0);
            if let Err(e) = self
                .spill
                .file
                .read_exact_at(&mut self.buf, self.next * R::SIZE as u64)
            {
                self.error = Some(e);
                self.buf.clear();
                self.at = 0;
                return None;
            }
            self.next += n as u64;
            self.at = 0;
        }
        let r = R::decode(&self.buf[self.at..self.at + R::SIZE]);
        self.at += R::SIZE;
        Some(self.spill.mapped(r))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(t: i64, tag: u32) -> Row {
        Row {
            t,
            lat: -t * 3,
            outcome: tag % 256,
            class: tag % 3,
            backend: tag,
        }
    }

    fn spilled(rows: &[Row]) -> Vec<Row> {
        let dir = tempfile::tempdir().unwrap();
        let mut w = SpillWriter::<Row>::new(Some(dir.path())).unwrap();
        let mut seen = Vec::new();
        let mut note = |r: &Row| seen.push(*r);
        for r in rows {
            w.push(*r, &mut note).unwrap();
        }
        let in_order = !w.overflowed;
        let s = w.finish(Some(dir.path()), &mut note).unwrap();
        assert_eq!(seen.len(), rows.len(), "every probe is seen as written");
        if in_order {
            assert!(seen.windows(2).all(|w| w[0].t <= w[1].t));
        }
        assert_eq!(s.len(), rows.len() as u64);
        let mut it = s.rows();
        let got: Vec<Row> = (&mut it).collect();
        assert!(it.error.is_none());
        got
    }

    fn stable_sorted(rows: &[Row]) -> Vec<Row> {
        let mut want = rows.to_vec();
        want.sort_by_key(|r| r.t);
        want
    }

    #[test]
    fn a_record_keeps_every_field() {
        let r = Row {
            t: i64::MIN + 7,
            lat: i64::MAX,
            outcome: 255,
            class: 2,
            backend: u32::MAX,
        };
        let mut b = [0u8; 22];
        r.encode(&mut b);
        assert_eq!(Row::decode(&b), r);
        for conn in [
            None,
            Some(seamless_proto::ConnUse {
                id: u64::MAX,
                age_ns: 1 << 40,
                requests: 7,
                state: seamless_proto::ConnState::AfterIdleError,
            }),
        ] {
            let f = Full {
                row: r,
                intended: -3,
                connect: 1 << 50,
                first_byte: 0,
                status: 503,
                conn,
            };
            let mut b = [0u8; Full::SIZE];
            f.encode(&mut b);
            assert_eq!(Full::decode(&b), f);
        }
    }

    #[test]
    fn rows_come_back_in_a_stable_sorts_order() {
        // In order, across several read blocks.
        let sorted: Vec<Row> = (0..(BLOCK as i64 * 2 + 5))
            .map(|k| row(k / 3, k as u32))
            .collect();
        assert_eq!(spilled(&sorted), sorted);
        // A little out of order, ties included: the buffer restores it.
        let jittered: Vec<Row> = (0..50_000)
            .map(|k: i64| row(k * 10 + (k * 7919 % 13) * 5, k as u32))
            .collect();
        assert_eq!(spilled(&jittered), stable_sorted(&jittered));
        // Now and then one far behind (hundreds of places, ties too).
        let late: Vec<Row> = (0..20_000)
            .map(|k: i64| row(if k % 1000 == 999 { k - 500 } else { k }, k as u32))
            .collect();
        assert_eq!(spilled(&late), stable_sorted(&late));
        // Further out of order than the buffer reaches: sorted whole.
        let far: Vec<Row> = (0..(REORDER as i64 + 10))
            .map(|k| row(if k == REORDER as i64 + 5 { 0 } else { k + 1 }, k as u32))
            .collect();
        assert_eq!(spilled(&far), stable_sorted(&far));
        assert!(spilled(&[]).is_empty());
    }

    #[test]
    fn backend_ids_are_mapped_when_read() {
        let dir = tempfile::tempdir().unwrap();
        let mut w = SpillWriter::<Row>::new(Some(dir.path())).unwrap();
        for k in 0..3 {
            w.push(row(k, k as u32), &mut |_| {}).unwrap();
        }
        let mut s = w.finish(None, &mut |_| {}).unwrap();
        assert_eq!(s.span().unwrap(), Some((0, 2)));
        assert_eq!(s.first_from(1).unwrap(), 1);
        assert_eq!(s.first_from(9).unwrap(), 3);
        let mid: Vec<i64> = s.rows_between(1, 2).map(|r| r.t).collect();
        assert_eq!(mid, [1]);
        s.set_remap(vec![0, 5]);
        let ids: Vec<u32> = s.rows().map(|r| r.backend).collect();
        assert_eq!(ids, [0, 5, 0], "ids past the table read as none");
    }
}
