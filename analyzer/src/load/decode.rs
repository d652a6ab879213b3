//! A log's data frames decoded on several threads and taken in, in file
//! order. Each frame's deltas start from zero, so frames decode apart
//! (checksum, bincode, deltas: the dear part of reading a log); the
//! reader's table of backends and its end marker are kept in order by
//! [`LogReader::accept`]. Errors come as a one-thread read gives them: a
//! frame's own error before a later frame's framing error.
//!
//! The pipeline: this thread reads frames whole and hands them round to
//! `decoders` threads of their own (each with a short queue), takes the
//! decoded frames back in the order read, and hands their probes on in
//! groups of frames of at least [`BATCH`] probes (each frame's probes as
//! decoded, not copied), so the threads on either side wake once a group
//! rather than once a frame.

use std::io::Read;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};

use seamless_proto::log::{Batch, RawFrame};
use seamless_proto::{LogError, LogReader, Probe};

/// Frames queued for each decoder (and decoded, waiting to be taken in).
const IN_FLIGHT: usize = 8;

/// Probes a group of frames holds before it is handed on (the last may
/// hold fewer).
const BATCH: usize = 1 << 13;

/// Probes of consecutive frames, each frame's as decoded.
pub(crate) type Frames = Vec<Vec<Probe>>;

/// Frames taken in, handed on a group at a time.
struct Group {
    frames: Frames,
    probes: usize,
}

impl Group {
    fn new() -> Group {
        Group {
            frames: Vec::new(),
            probes: 0,
        }
    }

    /// Adds a frame's probes; the group when it is full.
    fn add(&mut self, frame: Vec<Probe>) -> Option<Frames> {
        self.probes += frame.len();
        self.frames.push(frame);
        (self.probes >= BATCH).then(|| {
            self.probes = 0;
            std::mem::take(&mut self.frames)
        })
    }
}

/// Hands `take` the probes of every data frame, in file order, a group of
/// frames at a time, decoded by `decoders` threads (or this one, for one).
pub(crate) fn each_batch<R: Read, E>(
    reader: &mut LogReader<R>,
    decoders: usize,
    log_err: impl Fn(LogError) -> E,
    mut take: impl FnMut(Frames) -> Result<(), E>,
) -> Result<(), E> {
    if decoders <= 1 {
        let mut group = Group::new();
        loop {
            let mut frame = Vec::new();
            match reader.next_batch(&mut frame) {
                Ok(true) => {
                    if let Some(full) = group.add(frame) {
                        take(full)?;
                    }
                }
                Ok(false) => return flush(group, None, &log_err, &mut take),
                Err(e) => return flush(group, Some(e), &log_err, &mut take),
            }
        }
    }
    std::thread::scope(|s| {
        let mut to = Vec::with_capacity(decoders);
        let mut from = Vec::with_capacity(decoders);
        for _ in 0..decoders {
            let (raw_tx, raw_rx) = sync_channel::<RawFrame>(IN_FLIGHT);
            let (done_tx, done_rx) = sync_channel(IN_FLIGHT);
            s.spawn(move || {
                for raw in raw_rx {
                    if done_tx.send(raw.decode()).is_err() {
                        return;
                    }
                }
            });
            to.push(raw_tx);
            from.push(done_rx);
        }
        // The channels go with this call: the decoders end when it returns,
        // however it returns.
        pipeline(reader, to, from, &log_err, &mut take)
    })
}

/// Reads frames round to the decoders (`to`), takes them back decoded in
/// the same order (`from`), and hands the probes to `take`.
fn pipeline<R: Read, E>(
    reader: &mut LogReader<R>,
    to: Vec<SyncSender<RawFrame>>,
    from: Vec<Receiver<seamless_proto::log::Result<Batch>>>,
    log_err: &impl Fn(LogError) -> E,
    take: &mut impl FnMut(Frames) -> Result<(), E>,
) -> Result<(), E> {
    let k = to.len();
    let (mut sent, mut taken) = (0usize, 0usize);
    let mut read_error = None;
    let mut more = true;
    let mut group = Group::new();
    loop {
        // Each decoder holds at most IN_FLIGHT frames (queued, in hand or
        // decoded): neither queue ever fills, so a send never waits.
        while more && sent - taken < k * IN_FLIGHT {
            match reader.next_raw() {
                Ok(Some(raw)) => {
                    if to[sent % k].send(raw).is_err() {
                        // A decoder is gone (it panicked): the scope says so.
                        return Ok(());
                    }
                    sent += 1;
                }
                Ok(None) => more = false,
                Err(e) => {
                    read_error = Some(e);
                    more = false;
                }
            }
        }
        if taken == sent {
            break;
        }
        let Ok(decoded) = from[taken % k].recv() else {
            return Ok(());
        };
        taken += 1;
        let mut frame = Vec::new();
        match reader.accept(decoded, &mut frame) {
            Ok(true) => {
                if let Some(full) = group.add(frame) {
                    take(full)?;
                }
            }
            Ok(false) => {}
            Err(e) => return flush(group, Some(e), log_err, take),
        }
    }
    flush(group, read_error, log_err, take)
}

/// Hands on the probes still batched, then the error that ended the read,
/// if one did: what was read before an error is not lost.
fn flush<E>(
    group: Group,
    error: Option<LogError>,
    log_err: &impl Fn(LogError) -> E,
    take: &mut impl FnMut(Frames) -> Result<(), E>,
) -> Result<(), E> {
    if !group.frames.is_empty() {
        take(group.frames)?;
    }
    match error {
        Some(e) => Err(log_err(e)),
        None => Ok(()),
    }
}
