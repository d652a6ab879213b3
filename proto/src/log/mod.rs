//! The probe log: one binary file per agent, one record per probe.
//!
//! # Layout (format version 2; version 1 still read)
//!
//! ```text
//! magic     8 bytes   b"SEAMLOG\0"
//! version   u16 LE    format version (2; 1 before reused connections)
//! frame*              the header frame, then data frames
//!
//! frame     len   u32 LE   payload length in bytes (<= MAX_FRAME_LEN)
//!           crc   u32 LE   CRC-32 (IEEE) of the payload
//!           payload        bincode 2 (standard config: little endian, varints)
//! ```
//!
//! The first frame holds the [`Header`]. Every later frame holds either a batch
//! of probes, with the backend names first seen in it, or the end marker that
//! a cleanly stopped agent writes last.
//!
//! Inside a batch, times are deltas, so a probe costs about 20 bytes: the
//! intended start is a signed delta from the previous probe's intended start
//! in the same frame (the first from 0), the actual start an unsigned delta
//! from the intended start, first byte from connect and total from first
//! byte. bincode's varints then take 1 byte below 251, 3 below 65,536 and 5
//! below 2^32. Deltas use wrapping arithmetic so every `u64` round-trips
//! exactly; a phase never reached (first byte 0) costs 9 bytes.
//!
//! # Versions
//!
//! - **2** (this build writes it): the header gains `modes` (every probing
//!   mode of the run: [`ModeSpec`], its schedule, path, pool size and
//!   response timeout); each probe, after the version-1 fields, gains its
//!   [`Mode`] byte and an optional [`ConnUse`] (reuse mode: connection id,
//!   age ns, requests carried before, [`ConnState`] byte). A new-mode probe
//!   costs 2 bytes more than in version 1, a reused one about 15.
//! - **1**: one mode (a new connection per probe). Read as [`Mode::New`]
//!   probes without a connection, the header's `modes` made from its
//!   schedule, the URL's path and its timeout.
//!
//! The golden files `proto/tests/data/golden-v{1,2}.log` pin both encodings.
//!
//! # Crash safety
//!
//! The agent hands a frame to the kernel at least every 100 ms, in one
//! `write`, so a killed agent loses at most the frame it was building. A reader
//! returns every whole frame; a frame cut short at the end of the file is a
//! *torn tail* ([`TornTail`]), reported with the bytes lost, not an error. A
//! whole frame whose checksum or encoding is wrong is corruption:
//! [`LogError::Corrupt`] with its byte offset.
//!
//! ```
//! use seamless_proto::log::{Header, LogReader, LogWriter, Probe, Schedule};
//! use seamless_proto::Outcome;
//!
//! let header = Header::example();
//! let mut w = LogWriter::new(Vec::new(), &header).unwrap();
//! let backend = w.backend_id("pod-a");
//! w.push(&Probe { intended_ns: 1_000, start_ns: 1_200, connect_ns: 40_000,
//!     first_byte_ns: 90_000, total_ns: 91_000, status: 200,
//!     outcome: Outcome::Ok, backend, ..Probe::default() });
//! let bytes = w.finish().unwrap();
//! let log = LogReader::new(&bytes[..]).unwrap().read_all().unwrap();
//! assert_eq!(log.probes.len(), 1);
//! assert_eq!(log.backend_name(log.probes[0].backend), Some("pod-a"));
//! assert_eq!(log.end_count, Some(1));
//! ```

mod fast;
mod frame;
mod header;
mod reader;
mod record;
mod writer;

pub use header::{Header, ModeSpec, Schedule};
pub use reader::{Batch, LogReader, ProbeLog, RawFrame, TornTail, backend_name};
pub use record::{ConnState, ConnUse, Mode, Probe};
pub use writer::LogWriter;

/// The first bytes of every probe log.
pub const MAGIC: [u8; 8] = *b"SEAMLOG\0";
/// The format version this build writes, and the newest it reads.
pub const FORMAT_VERSION: u16 = 2;
/// The largest frame payload a reader accepts; larger lengths are corruption.
pub const MAX_FRAME_LEN: u32 = 16 << 20;

/// Errors reading or writing a probe log.
#[derive(Debug, thiserror::Error)]
pub enum LogError {
    /// The underlying reader or writer failed.
    #[error("probe log I/O failed")]
    Io(#[from] std::io::Error),
    /// The file does not start with [`MAGIC`].
    #[error("not a seamless probe log (bad magic bytes)")]
    BadMagic,
    /// The file was written by a newer seamless.
    #[error(
        "probe log format version {found} is newer than this build reads (up to {supported}); upgrade seamless"
    )]
    UnsupportedVersion {
        /// The version in the file.
        found: u16,
        /// The newest version this build reads.
        supported: u16,
    },
    /// The file ends inside the magic, version or header frame.
    #[error(
        "probe log is truncated inside its header ({len} bytes): the agent stopped before writing it"
    )]
    TruncatedHeader {
        /// Length of the file.
        len: u64,
    },
    /// A whole frame failed its checksum or could not be decoded.
    #[error("corrupt probe log at byte offset {offset}: {reason}")]
    Corrupt {
        /// Byte offset of the frame's length field.
        offset: u64,
        /// What was wrong.
        reason: String,
    },
    /// A value could not be encoded.
    #[error("cannot encode probe log frame")]
    Encode(#[source] bincode::error::EncodeError),
}

/// `Result` with [`LogError`].
pub type Result<T, E = LogError> = std::result::Result<T, E>;
