//! Reading a probe log, whole frames only.

use std::io::{self, Read};

use serde::Serialize;

use super::frame::{
    FRAME_PREFIX, FrameBody, check_crc, decode_payload, decode_probes, parse_prefix,
};
use super::header::HeaderV1;
use super::record::{Undecodable, WireProbe, WireProbeV1};
use super::{FORMAT_VERSION, Header, LogError, MAGIC, Probe, Result};

/// The end of a log cut off inside a frame: an agent killed mid-write, or a
/// copy taken while it ran. The probes before it are all there.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct TornTail {
    /// Byte offset where the incomplete frame starts.
    pub offset: u64,
    /// Bytes after that offset that were ignored.
    pub bytes_lost: u64,
}

/// A whole log in memory.
#[derive(Debug, Clone)]
pub struct ProbeLog {
    /// The file's format version.
    pub format_version: u16,
    /// The header.
    pub header: Header,
    /// Backend names; id `i` (1-based) is `backends[i - 1]`.
    pub backends: Vec<String>,
    /// Every probe of every whole frame, in file order.
    pub probes: Vec<Probe>,
    /// Set when the file ends inside a frame.
    pub torn: Option<TornTail>,
    /// The probe count of the end marker, when the agent stopped cleanly.
    pub end_count: Option<u64>,
}

impl ProbeLog {
    /// The name of a backend id, `None` for 0 or an unknown id.
    pub fn backend_name(&self, id: u32) -> Option<&str> {
        backend_name(&self.backends, id)
    }

    /// Reads a whole log file.
    pub fn read_path(path: &std::path::Path) -> Result<ProbeLog> {
        let file = std::fs::File::open(path)?;
        LogReader::new(io::BufReader::with_capacity(1 << 20, file))?.read_all()
    }
}

/// The name of backend id `id` in a log's table: `None` for 0 (no backend
/// header) or an id past the table.
pub fn backend_name(table: &[String], id: u32) -> Option<&str> {
    let index = usize::try_from(id).ok()?.checked_sub(1)?;
    table.get(index).map(String::as_str)
}

/// Streams a probe log frame by frame, with bounded memory per frame.
pub struct LogReader<R: Read> {
    frames: Frames<R>,
    version: u16,
    header: Header,
    backends: Vec<String>,
    torn: Option<TornTail>,
    end_count: Option<u64>,
    done: bool,
}

/// The frame layer: reads one frame at a time into a reused buffer.
struct Frames<R: Read> {
    r: R,
    offset: u64,
    buf: Vec<u8>,
}

/// Reads until `buf` is full or EOF; returns the bytes read.
fn read_full<R: Read>(r: &mut R, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

/// One step of frame reading.
enum Step {
    /// A whole frame, its payload in `Frames::buf`.
    Frame {
        offset: u64,
        crc: u32,
    },
    Eof,
    Torn(TornTail),
}

impl<R: Read> Frames<R> {
    /// Reads the next frame's payload into `buf`.
    fn next(&mut self) -> Result<Step> {
        let offset = self.offset;
        let mut prefix = [0u8; FRAME_PREFIX];
        let n = read_full(&mut self.r, &mut prefix)?;
        if n == 0 {
            return Ok(Step::Eof);
        }
        let torn = |bytes_lost: usize| {
            Step::Torn(TornTail {
                offset,
                bytes_lost: bytes_lost as u64,
            })
        };
        if n < FRAME_PREFIX {
            return Ok(torn(n));
        }
        let (len, crc) = parse_prefix(prefix, offset)?;
        self.buf.clear();
        self.buf.reserve_exact(len as usize);
        // Into the buffer's spare room, not zeroed first; short at EOF.
        let got = (&mut self.r)
            .take(u64::from(len))
            .read_to_end(&mut self.buf)?;
        if got < len as usize {
            return Ok(torn(FRAME_PREFIX + got));
        }
        self.offset += (FRAME_PREFIX + got) as u64;
        Ok(Step::Frame { offset, crc })
    }
}

impl<R: Read> LogReader<R> {
    /// Reads and checks the magic, the version and the header frame.
    pub fn new(mut r: R) -> Result<Self> {
        let mut start = [0u8; 10];
        let n = read_full(&mut r, &mut start)?;
        if start[..n.min(8)] != MAGIC[..n.min(8)] {
            return Err(LogError::BadMagic);
        }
        if n < start.len() {
            return Err(LogError::TruncatedHeader { len: n as u64 });
        }
        let version = u16::from_le_bytes([start[8], start[9]]);
        if version > FORMAT_VERSION || version == 0 {
            return Err(LogError::UnsupportedVersion {
                found: version,
                supported: FORMAT_VERSION,
            });
        }
        let mut frames = Frames {
            r,
            offset: start.len() as u64,
            buf: Vec::new(),
        };
        let header = match frames.next()? {
            Step::Frame { offset, crc } if version == 1 => {
                decode_payload::<HeaderV1>(&frames.buf, crc, offset)?.into()
            }
            Step::Frame { offset, crc } => decode_payload(&frames.buf, crc, offset)?,
            Step::Eof => return Err(LogError::TruncatedHeader { len: frames.offset }),
            Step::Torn(t) => {
                return Err(LogError::TruncatedHeader {
                    len: t.offset + t.bytes_lost,
                });
            }
        };
        Ok(LogReader {
            frames,
            version,
            header,
            backends: Vec::new(),
            torn: None,
            end_count: None,
            done: false,
        })
    }

    /// The file's format version (1 up to [`FORMAT_VERSION`]).
    pub fn format_version(&self) -> u16 {
        self.version
    }

    /// The header.
    pub fn header(&self) -> &Header {
        &self.header
    }

    /// Backend names seen so far; id `i` (1-based) is `backends()[i - 1]`.
    pub fn backends(&self) -> &[String] {
        &self.backends
    }

    /// Set once the reader met a frame cut off by the end of the file.
    pub fn torn_tail(&self) -> Option<TornTail> {
        self.torn
    }

    /// The probe count of the end marker, once read.
    pub fn end_count(&self) -> Option<u64> {
        self.end_count
    }

    /// Appends the probes of the next data frame to `out`. Returns `false`
    /// at the end of the log (clean or torn); errors on corruption.
    pub fn next_batch(&mut self, out: &mut Vec<Probe>) -> Result<bool> {
        while let Some(raw) = self.next_raw()? {
            if self.accept(raw.decode(), out)? {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// The next data frame, read whole but neither checked nor decoded, so
    /// that [`RawFrame::decode`] may run on another thread; `None` at the
    /// end of the log (clean or torn). Hand each decoded frame to
    /// [`LogReader::accept`] in the order read.
    pub fn next_raw(&mut self) -> Result<Option<RawFrame>> {
        if self.done {
            return Ok(None);
        }
        match self.frames.next()? {
            Step::Frame { offset, crc } => Ok(Some(RawFrame {
                offset,
                crc,
                version: self.version,
                payload: std::mem::take(&mut self.frames.buf),
            })),
            Step::Eof => {
                self.done = true;
                Ok(None)
            }
            Step::Torn(t) => {
                self.torn = Some(t);
                self.done = true;
                Ok(None)
            }
        }
    }

    /// Takes in the next decoded frame, in the order [`LogReader::next_raw`]
    /// read them: appends its probes to `out` and returns `true`, or
    /// `false` for the end marker. A frame after the end marker, a decoding
    /// error, or a backend id the table does not hold (so far) is
    /// corruption; on an error `out` keeps what it had.
    pub fn accept(&mut self, frame: Result<Batch>, out: &mut Vec<Probe>) -> Result<bool> {
        if self.end_count.is_some() {
            let offset = match &frame {
                Ok(b) => b.offset,
                Err(LogError::Corrupt { offset, .. }) => *offset,
                Err(_) => self.frames.offset,
            };
            return Err(LogError::Corrupt {
                offset,
                reason: "frame after the end marker".into(),
            });
        }
        let batch = frame?;
        let (new_backends, probes, max_backend) = match batch.body {
            Body::End(n) => {
                self.end_count = Some(n);
                return Ok(false);
            }
            Body::Probes {
                new_backends,
                probes,
                max_backend,
            } => (new_backends, probes, max_backend),
        };
        let n = self.backends.len() + new_backends.len();
        if max_backend as usize > n {
            let id = probes
                .iter()
                .map(|p| p.backend)
                .find(|&b| b as usize > n)
                .unwrap_or(max_backend);
            return Err(LogError::Corrupt {
                offset: batch.offset,
                reason: format!("backend id {id} not in the table"),
            });
        }
        self.backends.extend(new_backends);
        if out.is_empty() {
            *out = probes;
        } else {
            out.extend(probes);
        }
        Ok(true)
    }

    /// Reads every remaining frame.
    pub fn read_all(mut self) -> Result<ProbeLog> {
        let mut probes = Vec::new();
        while self.next_batch(&mut probes)? {}
        Ok(ProbeLog {
            format_version: self.version,
            header: self.header,
            backends: self.backends,
            probes,
            torn: self.torn,
            end_count: self.end_count,
        })
    }
}

/// A data frame read by [`LogReader::next_raw`], not yet checked or
/// decoded.
#[derive(Debug)]
pub struct RawFrame {
    offset: u64,
    crc: u32,
    version: u16,
    payload: Vec<u8>,
}

/// A data frame decoded by [`RawFrame::decode`], for [`LogReader::accept`].
#[derive(Debug)]
pub struct Batch {
    offset: u64,
    body: Body,
}

#[derive(Debug)]
enum Body {
    Probes {
        new_backends: Vec<String>,
        probes: Vec<Probe>,
        max_backend: u32,
    },
    End(u64),
}

impl RawFrame {
    /// The frame's byte offset in the file.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// Checks the frame's checksum and decodes it: the dear part of
    /// reading a log, and independent of every other frame (each frame's
    /// deltas start from 0), so frames may be decoded on several threads.
    pub fn decode(&self) -> Result<Batch> {
        let offset = self.offset;
        check_crc(&self.payload, self.crc, offset)?;
        let body = if self.version == 1 {
            body(
                decode_probes::<WireProbeV1>(&self.payload, offset)?,
                offset,
                WireProbeV1::decode,
            )?
        } else {
            body(
                decode_probes::<WireProbe>(&self.payload, offset)?,
                offset,
                WireProbe::decode,
            )?
        };
        Ok(Batch { offset, body })
    }
}

/// A frame's body with its probes decoded from their deltas.
fn body<W>(
    frame: FrameBody<W>,
    offset: u64,
    decode: impl Fn(&W, u64) -> Result<Probe, Undecodable>,
) -> Result<Body> {
    let (new_backends, wire) = match frame {
        FrameBody::End { probes } => return Ok(Body::End(probes)),
        FrameBody::Probes {
            new_backends,
            probes,
        } => (new_backends, probes),
    };
    let mut probes = Vec::with_capacity(wire.len());
    let mut prev = 0;
    let mut max_backend = 0;
    for w in &wire {
        let p = decode(w, prev).map_err(|reason| LogError::Corrupt {
            offset,
            reason: reason.to_owned(),
        })?;
        prev = p.intended_ns;
        max_backend = max_backend.max(p.backend);
        probes.push(p);
    }
    Ok(Body::Probes {
        new_backends,
        probes,
        max_backend,
    })
}
