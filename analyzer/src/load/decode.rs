//! A log's data frames decoded on several threads and taken in, in file
//! order. Each frame's deltas start from zero, so frames decode apart
//! (checksum, bincode, deltas: the dear part of reading a log); the
//! reader's table of backends and its end marker are kept in order by
//! [`LogReader::accept`]. Errors come as a one-thread read gives them: a
//! frame's own error before a later frame's framing error.

use std::io::Read;

use seamless_proto::log::{Batch, RawFrame};
use seamless_proto::{LogError, LogReader, Probe};

/// Frames a decoder takes at a time.
const GROUP: usize = 128;

/// Hands `take` the probes of every data frame, in file order, decoded by
/// `decoders` threads (this one among them).
pub(crate) fn each_batch<R: Read, E>(
    reader: &mut LogReader<R>,
    decoders: usize,
    log_err: impl Fn(LogError) -> E,
    mut take: impl FnMut(Vec<Probe>) -> Result<(), E>,
) -> Result<(), E> {
    if decoders <= 1 {
        let mut batch = Vec::new();
        while reader.next_batch(&mut batch).map_err(&log_err)? {
            take(std::mem::take(&mut batch))?;
        }
        return Ok(());
    }
    loop {
        let mut raws: Vec<RawFrame> = Vec::with_capacity(GROUP * decoders);
        let read_error = loop {
            if raws.len() == GROUP * decoders {
                break None;
            }
            match reader.next_raw() {
                Ok(Some(raw)) => raws.push(raw),
                Ok(None) => break None,
                Err(e) => break Some(e),
            }
        };
        let full = raws.len() == GROUP * decoders;
        for decoded in decode_all(&raws, decoders) {
            let mut batch = Vec::new();
            if reader.accept(decoded, &mut batch).map_err(&log_err)? {
                take(batch)?;
            }
        }
        if let Some(e) = read_error {
            return Err(log_err(e));
        }
        if !full {
            return Ok(());
        }
    }
}

/// Decodes `raws` on `decoders` threads, in order.
fn decode_all(raws: &[RawFrame], decoders: usize) -> Vec<seamless_proto::log::Result<Batch>> {
    let per = raws.len().div_ceil(decoders.max(1)).max(1);
    let mut chunks = raws.chunks(per);
    let Some(mine) = chunks.next() else {
        return Vec::new();
    };
    std::thread::scope(|s| {
        let others: Vec<_> = chunks
            .map(|c| s.spawn(move || c.iter().map(RawFrame::decode).collect::<Vec<_>>()))
            .collect();
        let mut out: Vec<_> = mine.iter().map(RawFrame::decode).collect();
        for h in others {
            out.extend(h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)));
        }
        out
    })
}
