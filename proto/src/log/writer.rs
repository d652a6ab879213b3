//! Writing a probe log.

use std::collections::HashMap;
use std::io::Write;

use super::frame::{FrameBody, encode_frame};
use super::record::WireProbe;
use super::{FORMAT_VERSION, Header, MAGIC, Probe, Result};

/// Probes buffered before a frame is cut even without an explicit flush.
const MAX_PROBES_PER_FRAME: usize = 65_536;

/// Writes a probe log to any [`Write`].
///
/// Probes are buffered by [`push`](LogWriter::push) and reach `out` as one
/// frame, in one `write_all`, on [`flush_frame`](LogWriter::flush_frame): the
/// caller decides the cadence (the agent flushes at least every 100 ms).
/// [`finish`](LogWriter::finish) writes the last frame and the end marker.
pub struct LogWriter<W: Write> {
    out: W,
    names: HashMap<String, u32>,
    new_names: Vec<String>,
    pending: Vec<WireProbe>,
    prev_intended: u64,
    buf: Vec<u8>,
    flushed: u64,
}

impl<W: Write> LogWriter<W> {
    /// Writes the magic, version and header frame, and flushes them.
    pub fn new(mut out: W, header: &Header) -> Result<Self> {
        let mut buf = Vec::with_capacity(4096);
        buf.extend_from_slice(&MAGIC);
        buf.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
        encode_frame(header, &mut buf)?;
        out.write_all(&buf)?;
        out.flush()?;
        buf.clear();
        Ok(LogWriter {
            out,
            names: HashMap::new(),
            new_names: Vec::new(),
            pending: Vec::new(),
            prev_intended: 0,
            buf,
            flushed: 0,
        })
    }

    /// The id for a backend name, adding it to the table when new.
    pub fn backend_id(&mut self, name: &str) -> u32 {
        if let Some(&id) = self.names.get(name) {
            return id;
        }
        let id = u32::try_from(self.names.len() + 1).unwrap_or(u32::MAX);
        self.names.insert(name.to_owned(), id);
        self.new_names.push(name.to_owned());
        id
    }

    /// Buffers one probe; cuts a frame when the buffer is full.
    pub fn push(&mut self, probe: &Probe) -> Result<()> {
        self.pending
            .push(WireProbe::encode(probe, self.prev_intended));
        self.prev_intended = probe.intended_ns;
        if self.pending.len() >= MAX_PROBES_PER_FRAME {
            self.flush_frame()?;
        }
        Ok(())
    }

    /// Writes the buffered probes as one frame and flushes `out`. Does
    /// nothing when no probe or name is buffered.
    pub fn flush_frame(&mut self) -> Result<()> {
        if self.pending.is_empty() && self.new_names.is_empty() {
            return Ok(());
        }
        let body = FrameBody::Probes {
            new_backends: std::mem::take(&mut self.new_names),
            probes: std::mem::take(&mut self.pending),
        };
        self.buf.clear();
        encode_frame(&body, &mut self.buf)?;
        self.out.write_all(&self.buf)?;
        self.out.flush()?;
        if let FrameBody::Probes { probes, .. } = body {
            self.flushed += probes.len() as u64;
            self.pending = probes;
            self.pending.clear();
        }
        self.prev_intended = 0;
        Ok(())
    }

    /// Probes handed to `out` so far.
    pub fn probes_flushed(&self) -> u64 {
        self.flushed
    }

    /// Probes buffered, not yet in a frame.
    pub fn probes_pending(&self) -> usize {
        self.pending.len()
    }

    /// Writes the last frame and the end marker, flushes, and returns `out`.
    pub fn finish(mut self) -> Result<W> {
        self.flush_frame()?;
        self.buf.clear();
        encode_frame(
            &FrameBody::<WireProbe>::End {
                probes: self.flushed,
            },
            &mut self.buf,
        )?;
        self.out.write_all(&self.buf)?;
        self.out.flush()?;
        Ok(self.out)
    }

    /// The underlying writer, e.g. to `sync_all` a file.
    pub fn get_ref(&self) -> &W {
        &self.out
    }
}
