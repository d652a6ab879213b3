//! A data frame's payload read by hand: the bytes bincode's standard
//! configuration writes (little endian; varints below 251 in one byte, else
//! a marker byte 251, 252 or 253 and 2, 4 or 8 bytes; signed ones zigzag;
//! enum variants and lengths as varints; an option as a 0 or 1 byte), read
//! the way bincode reads them, without its general machinery: reading a
//! log is most of what the analyzer does.
//!
//! It takes only what it reads exactly as bincode would. Anything else (a
//! marker or tag it does not expect, a varint not in its shortest form, a
//! length past the bytes left or near the decoding limit, text that is not
//! UTF-8, trailing bytes) it leaves to bincode, which then decodes the frame
//! or names the fault as it always has: a frame reads the same, and fails
//! the same, with or without this.

use super::frame::FrameBody;

/// A place in a payload.
pub(super) struct Cursor<'a> {
    b: &'a [u8],
    at: usize,
}

impl<'a> Cursor<'a> {
    fn new(b: &'a [u8]) -> Cursor<'a> {
        Cursor { b, at: 0 }
    }

    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let s = self.b.get(self.at..self.at.checked_add(n)?)?;
        self.at += n;
        Some(s)
    }

    pub(super) fn u8(&mut self) -> Option<u8> {
        let v = *self.b.get(self.at)?;
        self.at += 1;
        Some(v)
    }

    /// An unsigned varint no larger than `max`, in its shortest form.
    fn uvar(&mut self, max: u64) -> Option<u64> {
        let first = self.u8()?;
        let (v, least) = match first {
            0..=250 => return Some(u64::from(first)),
            251 => (
                u64::from(u16::from_le_bytes(self.take(2)?.try_into().ok()?)),
                251,
            ),
            252 => (
                u64::from(u32::from_le_bytes(self.take(4)?.try_into().ok()?)),
                1 << 16,
            ),
            253 => (u64::from_le_bytes(self.take(8)?.try_into().ok()?), 1 << 32),
            _ => return None,
        };
        (v >= least && v <= max).then_some(v)
    }

    pub(super) fn u16(&mut self) -> Option<u16> {
        self.uvar(u64::from(u16::MAX)).map(|v| v as u16)
    }

    pub(super) fn u32(&mut self) -> Option<u32> {
        self.uvar(u64::from(u32::MAX)).map(|v| v as u32)
    }

    pub(super) fn u64(&mut self) -> Option<u64> {
        self.uvar(u64::MAX)
    }

    pub(super) fn i64(&mut self) -> Option<i64> {
        let n = self.u64()?;
        Some((n >> 1) as i64 ^ -((n & 1) as i64))
    }

    /// A length: a varint no larger than the bytes left (each element
    /// takes one at least).
    fn len(&mut self) -> Option<usize> {
        let n = usize::try_from(self.u64()?).ok()?;
        (n <= self.b.len() - self.at).then_some(n)
    }

    fn string(&mut self) -> Option<String> {
        let n = self.len()?;
        std::str::from_utf8(self.take(n)?).ok().map(str::to_owned)
    }

    /// An option's tag: `Some(false)` for none, `Some(true)` for some.
    pub(super) fn option(&mut self) -> Option<bool> {
        match self.u8()? {
            0 => Some(false),
            1 => Some(true),
            _ => None,
        }
    }

    /// An enum's variant index.
    pub(super) fn variant(&mut self) -> Option<u32> {
        self.u32()
    }
}

/// A probe as read by hand.
pub(super) trait ReadProbe: Sized {
    fn read(c: &mut Cursor<'_>) -> Option<Self>;
}

/// The payload of a data frame, when it reads exactly (else `None`: leave
/// it to bincode). `limit` is bincode's decoding limit: frames whose
/// lengths claim anywhere near it are left to bincode too.
pub(super) fn frame_body<P: ReadProbe>(payload: &[u8], limit: usize) -> Option<FrameBody<P>> {
    let mut c = Cursor::new(payload);
    let body = match c.variant()? {
        0 => {
            let n = c.len()?;
            let mut new_backends = Vec::with_capacity(n);
            let mut text = 0usize;
            for _ in 0..n {
                let s = c.string()?;
                text += s.len() + std::mem::size_of::<String>();
                new_backends.push(s);
            }
            let n = c.len()?;
            let claimed = n.checked_mul(std::mem::size_of::<P>())?;
            if claimed > limit / 2 || text > limit / 4 {
                return None;
            }
            let mut probes = Vec::with_capacity(n);
            for _ in 0..n {
                probes.push(P::read(&mut c)?);
            }
            FrameBody::Probes {
                new_backends,
                probes,
            }
        }
        1 => FrameBody::End { probes: c.u64()? },
        _ => return None,
    };
    (c.at == payload.len()).then_some(body)
}

#[cfg(test)]
mod tests {
    use super::super::frame::{DECODE_LIMIT_FOR_TESTS as LIMIT, decode_checked};
    use super::super::record::{WireProbe, WireProbeV1};
    use super::*;
    use crate::Outcome;
    use crate::log::{ConnState, ConnUse, Mode, Probe};

    /// Values at every varint width's edges.
    const EDGES: [u64; 12] = [
        0,
        1,
        250,
        251,
        65_535,
        65_536,
        u32::MAX as u64 - 1,
        u32::MAX as u64,
        u32::MAX as u64 + 1,
        1 << 40,
        u64::MAX - 1,
        u64::MAX,
    ];

    fn probes(n: usize) -> Vec<Probe> {
        let mut s = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = || {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            s
        };
        (0..n)
            .map(|k| {
                let pick = |r: u64| EDGES[(r % EDGES.len() as u64) as usize];
                let mode = Mode::ALL[(next() % 3) as usize];
                Probe {
                    intended_ns: pick(next()).wrapping_add(next() % 3),
                    start_ns: pick(next()),
                    connect_ns: pick(next()),
                    first_byte_ns: pick(next()),
                    total_ns: pick(next()),
                    status: pick(next()) as u16,
                    outcome: Outcome::ALL[k % Outcome::ALL.len()],
                    backend: pick(next()) as u32,
                    mode,
                    conn: (next() % 2 == 0).then(|| ConnUse {
                        id: pick(next()),
                        age_ns: pick(next()),
                        requests: pick(next()) as u32,
                        state: ConnState::from_u8((next() % 3) as u8).unwrap_or(ConnState::Reused),
                    }),
                }
            })
            .collect()
    }

    fn payload<T: bincode::Encode>(body: &T) -> Vec<u8> {
        let mut out = Vec::new();
        super::super::frame::encode_frame(body, &mut out).unwrap();
        out.split_off(super::super::frame::FRAME_PREFIX)
    }

    fn bodies(n: usize) -> (Vec<u8>, Vec<u8>) {
        let ps = probes(n);
        let mut prev = 0;
        let v2: Vec<WireProbe> = ps
            .iter()
            .map(|p| {
                let w = WireProbe::encode(p, prev);
                prev = p.intended_ns;
                w
            })
            .collect();
        let v1: Vec<WireProbeV1> = ps
            .iter()
            .map(|p| WireProbe::encode(p, 0).base_for_tests())
            .collect();
        let backends = vec!["pod-a".to_owned(), "ü".repeat(300)];
        (
            payload(&FrameBody::Probes {
                new_backends: backends.clone(),
                probes: v2,
            }),
            payload(&FrameBody::Probes {
                new_backends: backends,
                probes: v1,
            }),
        )
    }

    #[test]
    fn reads_what_bincode_reads() {
        let (v2, v1) = bodies(3000);
        let want: FrameBody<WireProbe> = decode_checked(&v2, 0).unwrap();
        assert_eq!(frame_body::<WireProbe>(&v2, LIMIT), Some(want));
        let want: FrameBody<WireProbeV1> = decode_checked(&v1, 0).unwrap();
        assert_eq!(frame_body::<WireProbeV1>(&v1, LIMIT), Some(want));
        for end in [0u64, 250, 251, u64::MAX] {
            let p = payload(&FrameBody::<WireProbe>::End { probes: end });
            assert_eq!(
                frame_body::<WireProbe>(&p, LIMIT),
                Some(FrameBody::End { probes: end })
            );
        }
    }

    #[test]
    fn reads_nothing_bincode_would_not_read_the_same() {
        let (v2, _) = bodies(12);
        let mut s = 7u64;
        let mut taken = 0;
        for k in 0..4000 {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let mut b = v2.clone();
            // Flip a byte, or cut the payload short, or both.
            let at = (s >> 33) as usize % b.len();
            b[at] = b[at].wrapping_add((s >> 20) as u8 | 1);
            if k % 3 == 0 {
                b.truncate(at + 1);
            }
            let fast = frame_body::<WireProbe>(&b, LIMIT);
            let slow: Result<FrameBody<WireProbe>, _> = decode_checked(&b, 0);
            if let Some(f) = fast {
                taken += 1;
                assert_eq!(Some(f), slow.ok(), "byte {at} of {}", b.len());
            }
        }
        // Many changed payloads are still frames (a changed value byte
        // mostly leaves one): both paths were compared on those.
        assert!(taken > 400, "{taken} compared");
        // A varint not in its shortest form is left to bincode.
        assert_eq!(Cursor::new(&[251, 7, 0]).u64(), None);
        assert_eq!(Cursor::new(&[251, 251, 0]).u64(), Some(251));
        assert_eq!(Cursor::new(&[252, 0, 0, 1, 0]).u16(), None);
        assert_eq!(Cursor::new(&[254, 0]).u64(), None);
    }
}
