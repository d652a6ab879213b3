//! Reading a probe log, whole frames only.

use std::io::{self, Read};

use serde::Serialize;

use super::frame::{FRAME_PREFIX, FrameBody, decode_payload, parse_prefix};
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
        self.buf.resize(len as usize, 0);
        let got = read_full(&mut self.r, &mut self.buf)?;
        if got < self.buf.len() {
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
        loop {
            if self.done {
                return Ok(false);
            }
            let (offset, crc) = match self.frames.next()? {
                Step::Frame { offset, crc } => (offset, crc),
                Step::Eof => {
                    self.done = true;
                    return Ok(false);
                }
                Step::Torn(t) => {
                    self.torn = Some(t);
                    self.done = true;
                    return Ok(false);
                }
            };
            if self.end_count.is_some() {
                return Err(LogError::Corrupt {
                    offset,
                    reason: "frame after the end marker".into(),
                });
            }
            let new_backends = if self.version == 1 {
                match decode_payload::<FrameBody<WireProbeV1>>(&self.frames.buf, crc, offset)? {
                    FrameBody::End { probes } => {
                        self.end_count = Some(probes);
                        continue;
                    }
                    FrameBody::Probes {
                        new_backends,
                        probes,
                    } => {
                        let n = self.backends.len() + new_backends.len();
                        decode_probes(&probes, n, offset, out, WireProbeV1::decode)?;
                        new_backends
                    }
                }
            } else {
                match decode_payload::<FrameBody<WireProbe>>(&self.frames.buf, crc, offset)? {
                    FrameBody::End { probes } => {
                        self.end_count = Some(probes);
                        continue;
                    }
                    FrameBody::Probes {
                        new_backends,
                        probes,
                    } => {
                        let n = self.backends.len() + new_backends.len();
                        decode_probes(&probes, n, offset, out, WireProbe::decode)?;
                        new_backends
                    }
                }
            };
            self.backends.extend(new_backends);
            return Ok(true);
        }
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

/// Decodes a frame's probes onto `out`; `backends` is the size of the table
/// once the frame's new names are in. On an error `out` keeps what it had.
fn decode_probes<W>(
    wire: &[W],
    backends: usize,
    offset: u64,
    out: &mut Vec<Probe>,
    decode: impl Fn(&W, u64) -> Result<Probe, Undecodable>,
) -> Result<()> {
    let before = out.len();
    out.reserve(wire.len());
    let mut prev = 0;
    for w in wire {
        let p = match decode(w, prev) {
            Ok(p) if p.backend as usize > backends => {
                Err(format!("backend id {} not in the table", p.backend))
            }
            Ok(p) => Ok(p),
            Err(reason) => Err(reason.to_owned()),
        };
        match p {
            Ok(p) => {
                prev = p.intended_ns;
                out.push(p);
            }
            Err(reason) => {
                out.truncate(before);
                return Err(LogError::Corrupt { offset, reason });
            }
        }
    }
    Ok(())
}
