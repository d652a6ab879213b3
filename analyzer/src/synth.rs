//! A synthetic run for benchmarks and tests: one agent probing at a fixed
//! rate through a rollout, with failure windows injected at known times.

use std::fs::File;
use std::io::BufWriter;
use std::path::Path;

use seamless_proto::run::{GroundTruth, Interval};
use seamless_proto::timeline::{Event, EventKind, ObjectRef, TimelineWriter};
use seamless_proto::{Header, LogWriter, Outcome, Probe, RunInfo, Schedule};

use crate::{Error, Result};

/// What to generate.
#[derive(Debug, Clone, PartialEq)]
pub struct SynthSpec {
    /// Probes in the log.
    pub probes: u64,
    /// Probes a second (open loop).
    pub rate_per_s: f64,
    /// Seed of the pseudo-random jitter and latencies.
    pub seed: u64,
}

impl Default for SynthSpec {
    fn default() -> Self {
        SynthSpec {
            probes: 100_000,
            rate_per_s: 20_000.0,
            seed: 1,
        }
    }
}

/// An injected failure window.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Injected {
    /// Where it starts, as a fraction of the run.
    pub at: f64,
    /// How long, ns.
    pub len_ns: i64,
    /// Probability that a probe inside fails (1.0: all).
    pub fail_prob: f64,
    /// The failure kind.
    pub kind: Outcome,
}

/// The windows every synthetic run holds: a clean 100 ms outage (connection
/// refused), a 40 ms partial outage where half the probes fail (as when
/// iptables still sends half the traffic to a dead pod), and a 5 ms blip of
/// resets.
pub const INJECTED: [Injected; 3] = [
    Injected {
        at: 0.30,
        len_ns: 100_000_000,
        fail_prob: 1.0,
        kind: Outcome::ConnectRefused,
    },
    Injected {
        at: 0.55,
        len_ns: 40_000_000,
        fail_prob: 0.5,
        kind: Outcome::ConnectRefused,
    },
    Injected {
        at: 0.80,
        len_ns: 5_000_000,
        fail_prob: 1.0,
        kind: Outcome::Reset,
    },
];

/// What was written.
#[derive(Debug, Clone, PartialEq)]
pub struct SynthRun {
    /// Probes written.
    pub probes: u64,
    /// Failed probes written.
    pub failed: u64,
    /// Local errors written.
    pub local_errors: u64,
    /// The injected outages, wall-clock ns (also in run.json's ground truth).
    pub outages: Vec<Interval>,
}

/// SplitMix64: a tiny, well-known generator, enough for jitter.
struct Mix(u64);

impl Mix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// Writes `probe-synthetic.log`, `timeline.jsonl` and `run.json` into `dir`.
pub fn generate(dir: &Path, spec: &SynthSpec) -> Result<SynthRun> {
    if spec.probes == 0 || spec.rate_per_s.is_nan() || spec.rate_per_s <= 0.0 {
        return Err(Error::Invalid {
            what: "synthetic run",
            reason: "needs at least one probe and a positive rate".into(),
        });
    }
    std::fs::create_dir_all(dir).map_err(Error::io(dir))?;
    let mut header = Header::example();
    header.agent_version = format!("synthetic-{}", env!("CARGO_PKG_VERSION"));
    header.schedule = Schedule::Rate {
        per_sec: spec.rate_per_s,
    };
    header.host = "synthetic".into();
    let wall0 = header.wall_anchor_ns;
    let interval = 1e9 / spec.rate_per_s;
    let duration_ns = (spec.probes as f64 * interval) as i64;
    let mono0: u64 = 5_000_000; // the first probe a little after the anchor
    let wall = |mono: u64| wall0 + mono as i64;

    let path = dir.join(seamless_proto::run::probe_log_name("synthetic"));
    let file = File::create(&path).map_err(Error::io(&path))?;
    let log_err = |source| Error::Log {
        path: path.clone(),
        source,
    };
    let mut w =
        LogWriter::new(BufWriter::with_capacity(1 << 20, file), &header).map_err(log_err)?;
    let pod_a = w.backend_id("web-old-7d4b9");
    let pod_b = w.backend_id("web-new-5c8f2");
    let windows: Vec<(u64, u64, Injected)> = INJECTED
        .iter()
        .map(|i| {
            let start = mono0 + (duration_ns as f64 * i.at) as u64;
            (start, start + i.len_ns as u64, *i)
        })
        .collect();
    // Traffic moves to the new pod at the end of the first outage.
    let switch_at = windows[0].1;
    let local_burst = mono0 + (duration_ns as f64 * 0.65) as u64;
    let mut rng = Mix(spec.seed);
    let mut run = SynthRun {
        probes: spec.probes,
        failed: 0,
        local_errors: 0,
        outages: windows
            .iter()
            .map(|&(a, b, _)| Interval {
                start_ns: wall(a),
                end_ns: wall(b),
            })
            .collect(),
    };
    let flush_every = (spec.rate_per_s / 10.0).max(1.0) as u64; // 100 ms of probes
    for k in 0..spec.probes {
        let intended = mono0 + (k as f64 * interval) as u64;
        let start = intended + rng.next() % 20_000;
        let inside = windows
            .iter()
            .find(|(a, b, _)| (*a..*b).contains(&start))
            .map(|w| w.2);
        let failing = inside.filter(|i| i.fail_prob >= 1.0 || rng.unit() < i.fail_prob);
        let local = (local_burst..local_burst + 2_000_000).contains(&start) && k % 3 == 0;
        let connect = 60_000 + rng.next() % 140_000;
        let tail = if rng.next().is_multiple_of(1000) {
            2_000_000
        } else {
            0
        };
        let probe = if let Some(i) = failing {
            run.failed += 1;
            Probe {
                intended_ns: intended,
                start_ns: start,
                connect_ns: connect,
                first_byte_ns: 0,
                total_ns: connect,
                status: 0,
                outcome: i.kind,
                backend: 0,
                ..Probe::default()
            }
        } else if local {
            run.local_errors += 1;
            Probe {
                intended_ns: intended,
                start_ns: start,
                connect_ns: 3_000,
                first_byte_ns: 0,
                total_ns: 3_000,
                status: 0,
                outcome: Outcome::LocalPortExhausted,
                backend: 0,
                ..Probe::default()
            }
        } else {
            let first_byte = connect + 150_000 + rng.next() % 300_000 + tail;
            Probe {
                intended_ns: intended,
                start_ns: start,
                connect_ns: connect,
                first_byte_ns: first_byte,
                total_ns: first_byte + 20_000,
                status: 200,
                outcome: Outcome::Ok,
                backend: if start < switch_at { pod_a } else { pod_b },
                ..Probe::default()
            }
        };
        w.push(&probe).map_err(log_err)?;
        if k % flush_every == flush_every - 1 {
            w.flush_frame().map_err(log_err)?;
        }
    }
    w.finish().map_err(log_err)?;

    write_timeline(dir, wall(mono0), duration_ns, &windows, wall)?;
    let info = RunInfo {
        scenario: Some(format!("synthetic {} probes", spec.probes)),
        source: Some("synthetic".into()),
        target: Some(header.target_url.clone()),
        trigger: Some("none: generated by seamless-analyzer gen-synthetic".into()),
        started_ns: Some(wall(mono0)),
        ended_ns: Some(wall(mono0) + duration_ns),
        ground_truth: Some(GroundTruth {
            outages: run.outages.clone(),
            ..Default::default()
        }),
        ..Default::default()
    };
    info.write(dir).map_err(Error::io(dir.join("run.json")))?;
    Ok(run)
}

fn write_timeline(
    dir: &Path,
    start: i64,
    duration_ns: i64,
    windows: &[(u64, u64, Injected)],
    wall: impl Fn(u64) -> i64,
) -> Result<()> {
    let path = dir.join(seamless_proto::run::TIMELINE);
    let file = File::create(&path).map_err(Error::io(&path))?;
    let mut tl = TimelineWriter::new(BufWriter::new(file));
    let at = |f: f64| start + (duration_ns as f64 * f) as i64;
    let old = ObjectRef::new("Pod", "web-old-7d4b9");
    let new = ObjectRef::new("Pod", "web-new-5c8f2");
    let outage = wall(windows[0].0);
    let events = [
        Event::new(at(0.20), EventKind::PatchSent),
        Event::new(at(0.21), EventKind::PodCreated).with_object(new.clone()),
        Event::new(at(0.27), EventKind::PodReady).with_object(new.clone()),
        Event::new(at(0.28), EventKind::EndpointAdded).with_object(new),
        Event::new(outage - 2_000_000, EventKind::PodTerminating).with_object(old.clone()),
        Event::new(outage - 1_000_000, EventKind::SigtermSent).with_object(old.clone()),
        Event::new(wall(windows[0].1), EventKind::EndpointRemoved).with_object(old),
        Event::new(at(0.9), EventKind::RolloutComplete),
    ];
    for e in &events {
        tl.write(e).map_err(|source| Error::Timeline {
            path: path.clone(),
            source,
        })?;
    }
    Ok(())
}
