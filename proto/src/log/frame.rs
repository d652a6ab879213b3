//! Framing: `len u32 LE | crc32 u32 LE | payload`, payload in bincode.

use bincode::{Decode, Encode};

use super::{LogError, MAX_FRAME_LEN, Result};

/// Bytes before a frame's payload.
pub(crate) const FRAME_PREFIX: usize = 8;

/// What a data frame carries; `P` is the probe's wire form of the file's
/// format version.
#[derive(Debug, PartialEq, Eq, Encode, Decode)]
pub(crate) enum FrameBody<P> {
    /// A batch of probes, with the backend names first seen in it (appended
    /// to the table in order, so ids stay stable).
    Probes {
        new_backends: Vec<String>,
        probes: Vec<P>,
    },
    /// Written last by a cleanly stopped agent: the number of probes in the log.
    End { probes: u64 },
}

/// Caps what a decoder may allocate for one frame, whatever its bytes claim.
const DECODE_LIMIT: usize = 8 * MAX_FRAME_LEN as usize;
#[cfg(test)]
pub(crate) const DECODE_LIMIT_FOR_TESTS: usize = DECODE_LIMIT;

fn config() -> impl bincode::config::Config {
    bincode::config::standard().with_limit::<DECODE_LIMIT>()
}

/// Appends one whole frame holding `value` to `out`.
pub(crate) fn encode_frame<T: Encode>(value: &T, out: &mut Vec<u8>) -> Result<()> {
    let start = out.len();
    out.extend_from_slice(&[0; FRAME_PREFIX]);
    bincode::encode_into_std_write(value, out, config()).map_err(LogError::Encode)?;
    let payload = &out[start + FRAME_PREFIX..];
    let Some(len) = u32::try_from(payload.len())
        .ok()
        .filter(|&l| l <= MAX_FRAME_LEN)
    else {
        out.truncate(start);
        return Err(LogError::Encode(bincode::error::EncodeError::Other(
            "frame exceeds MAX_FRAME_LEN",
        )));
    };
    let crc = crc32fast::hash(payload);
    out[start..start + 4].copy_from_slice(&len.to_le_bytes());
    out[start + 4..start + 8].copy_from_slice(&crc.to_le_bytes());
    Ok(())
}

/// Splits a frame prefix into (payload length, checksum), or says why the
/// length is corrupt.
pub(crate) fn parse_prefix(prefix: [u8; FRAME_PREFIX], offset: u64) -> Result<(u32, u32)> {
    let len = u32::from_le_bytes([prefix[0], prefix[1], prefix[2], prefix[3]]);
    let crc = u32::from_le_bytes([prefix[4], prefix[5], prefix[6], prefix[7]]);
    if len > MAX_FRAME_LEN {
        return Err(LogError::Corrupt {
            offset,
            reason: format!("frame length {len} exceeds the maximum {MAX_FRAME_LEN}"),
        });
    }
    Ok((len, crc))
}

/// Checks a whole payload against its checksum and decodes it.
pub(crate) fn decode_payload<T: Decode<()>>(payload: &[u8], crc: u32, offset: u64) -> Result<T> {
    check_crc(payload, crc, offset)?;
    decode_checked(payload, offset)
}

/// Checks a whole payload against its checksum.
pub(crate) fn check_crc(payload: &[u8], crc: u32, offset: u64) -> Result<()> {
    let actual = crc32fast::hash(payload);
    if actual != crc {
        return Err(LogError::Corrupt {
            offset,
            reason: format!("checksum mismatch (stored {crc:#010x}, computed {actual:#010x})"),
        });
    }
    Ok(())
}

/// A data frame's payload (its checksum checked): read by hand when it
/// reads exactly ([`super::fast`]), else by bincode.
pub(crate) fn decode_probes<P>(payload: &[u8], offset: u64) -> Result<FrameBody<P>>
where
    P: super::fast::ReadProbe + Decode<()>,
{
    match super::fast::frame_body(payload, DECODE_LIMIT) {
        Some(body) => Ok(body),
        None => decode_checked(payload, offset),
    }
}

/// Decodes a payload whose checksum is checked.
pub(crate) fn decode_checked<T: Decode<()>>(payload: &[u8], offset: u64) -> Result<T> {
    let (value, used) =
        bincode::decode_from_slice(payload, config()).map_err(|e| LogError::Corrupt {
            offset,
            reason: format!("undecodable frame: {e}"),
        })?;
    if used != payload.len() {
        return Err(LogError::Corrupt {
            offset,
            reason: format!("{} trailing bytes in frame", payload.len() - used),
        });
    }
    Ok(value)
}
