//! Hand-built probe logs with known windows, written with proto's writer.

use std::fs::File;
use std::path::{Path, PathBuf};

use seamless_proto::timeline::{Event, TimelineWriter};
use seamless_proto::{Header, LogWriter, Outcome, Probe};

/// Wall-clock ns of the example header's anchor.
pub const ANCHOR: i64 = 1_795_000_000_000_000_000;
/// Offset of probe 0 from the anchor, ns.
pub const FIRST: u64 = 1_000_000;
/// Default gap between probes, ns.
pub const STEP: u64 = 100_000;

/// One probe to write: start offset from the anchor, outcome, backend.
#[derive(Debug, Clone, Copy)]
pub struct P {
    pub start: u64,
    pub outcome: Outcome,
    pub backend: Option<&'static str>,
}

/// Probes from a pattern, one character each, `step` ns apart from FIRST:
/// `.` ok from backend `a`, `B` ok from backend `b`, `x` connect refused,
/// `r` reset, `t` connect timeout, `l` a local error (port exhausted).
pub fn pattern(p: &str, step: u64) -> Vec<P> {
    p.chars()
        .enumerate()
        .map(|(i, c)| {
            let (outcome, backend) = match c {
                '.' => (Outcome::Ok, Some("a")),
                'B' => (Outcome::Ok, Some("b")),
                'x' => (Outcome::ConnectRefused, None),
                'r' => (Outcome::Reset, None),
                't' => (Outcome::ConnectTimeout, None),
                'l' => (Outcome::LocalPortExhausted, None),
                other => panic!("unknown pattern char {other:?}"),
            };
            P {
                start: FIRST + i as u64 * step,
                outcome,
                backend,
            }
        })
        .collect()
}

/// Wall ns of pattern probe `i` (default step, no clock offset).
pub fn wall(i: u64) -> i64 {
    ANCHOR + (FIRST + i * STEP) as i64
}

/// Writes a log; `finish` writes the end marker.
pub fn write_log(path: &Path, probes: &[P], finish: bool) {
    let file = File::create(path).unwrap();
    let mut w = LogWriter::new(file, &Header::example()).unwrap();
    for (k, p) in probes.iter().enumerate() {
        let backend = p.backend.map_or(0, |b| w.backend_id(b));
        let ok = p.outcome == Outcome::Ok;
        w.push(&Probe {
            intended_ns: p.start,
            start_ns: p.start,
            connect_ns: 50_000,
            first_byte_ns: if ok { 150_000 } else { 0 },
            total_ns: if ok {
                200_000 + (k as u64 % 7) * 10_000
            } else {
                50_000
            },
            status: if ok { 200 } else { 0 },
            outcome: p.outcome,
            backend,
            ..Probe::default()
        })
        .unwrap();
        // Several frames, as the agent writes them.
        if k % 5 == 4 {
            w.flush_frame().unwrap();
        }
    }
    if finish {
        w.finish().unwrap();
    } else {
        w.flush_frame().unwrap();
    }
}

/// A run directory with one log per (agent, probes) and an optional timeline.
pub fn run_dir(dir: &Path, agents: &[(&str, Vec<P>)], events: &[Event]) -> PathBuf {
    for (agent, probes) in agents {
        let path = dir.join(seamless_proto::run::probe_log_name(agent));
        write_log(&path, probes, true);
    }
    if !events.is_empty() {
        let f = File::create(dir.join(seamless_proto::run::TIMELINE)).unwrap();
        let mut tl = TimelineWriter::new(f);
        for e in events {
            tl.write(e).unwrap();
        }
    }
    dir.to_owned()
}
