//! The probe log format: round trips, golden bytes, torn tails, corruption.

use proptest::prelude::*;
use seamless_proto::log::{FORMAT_VERSION, Header, LogError, LogReader, LogWriter, MAGIC, Probe};
use seamless_proto::{ConnState, ConnUse, Mode, ModeSpec, Outcome, Schedule};

fn sample_probes() -> Vec<Probe> {
    let mut probes = Vec::new();
    for i in 0..40u64 {
        let outcome = match i {
            10..=14 => Outcome::ConnectRefused,
            15 => Outcome::Reset,
            30 => Outcome::LocalPortExhausted,
            _ => Outcome::Ok,
        };
        let ok = outcome == Outcome::Ok;
        probes.push(Probe {
            intended_ns: 1_000_000 + i * 200_000,
            start_ns: 1_000_000 + i * 200_000 + 3_000 + i,
            connect_ns: 35_000 + i * 10,
            first_byte_ns: if ok { 80_000 + i } else { 0 },
            total_ns: if ok { 81_000 + i } else { 36_000 },
            status: if ok { 200 } else { 0 },
            outcome,
            backend: if ok { 1 + (i >= 20) as u32 } else { 0 },
            mode: Mode::New,
            conn: None,
        });
    }
    probes
}

/// The version-2 sample: the version-1 probes interleaved with reused and
/// slow ones, as a `--mode new,reuse,slow` run writes them.
fn sample_probes_v2() -> Vec<Probe> {
    let mut probes = Vec::new();
    for (i, p) in sample_probes().into_iter().enumerate() {
        let i = i as u64;
        probes.push(p);
        let (outcome, state, requests) = match i {
            0..=3 => (Outcome::Ok, ConnState::Opened, 0),
            12 => (Outcome::Reset, ConnState::Reused, 3),
            13 => (Outcome::Ok, ConnState::AfterFailure, 0),
            25 => (Outcome::ClosedBeforeStatus, ConnState::Reused, 6),
            26 => (Outcome::Ok, ConnState::AfterClose, 0),
            27 => (Outcome::Ok, ConnState::AfterIdleError, 0),
            _ => (Outcome::Ok, ConnState::Reused, (i / 4) as u32),
        };
        let ok = outcome == Outcome::Ok;
        let fresh = state != ConnState::Reused;
        probes.push(Probe {
            intended_ns: p.intended_ns + 100_000,
            start_ns: p.intended_ns + 101_000,
            connect_ns: if fresh { 30_000 } else { 0 },
            first_byte_ns: if ok { 60_000 } else { 0 },
            total_ns: if ok { 61_000 } else { 40_000 },
            status: if ok { 200 } else { 0 },
            outcome,
            backend: if ok { p.backend.max(1) } else { 0 },
            mode: Mode::Reuse,
            conn: Some(ConnUse {
                id: 1 + i % 4 + 4 * u64::from(i >= 13) + u64::from(i >= 26) + u64::from(i >= 27),
                age_ns: if fresh { 0 } else { 200_000 * i },
                requests,
                state,
            }),
        });
        if i % 10 == 5 {
            probes.push(Probe {
                intended_ns: p.intended_ns + 150_000,
                start_ns: p.intended_ns + 152_000,
                connect_ns: 30_000,
                first_byte_ns: if i < 30 { 500_030_000 } else { 0 },
                total_ns: if i < 30 { 500_031_000 } else { 300_000_000 },
                status: if i < 30 { 200 } else { 0 },
                outcome: if i < 30 { Outcome::Ok } else { Outcome::Reset },
                backend: if i < 30 { 1 } else { 0 },
                mode: Mode::Slow,
                conn: None,
            });
        }
    }
    probes
}

fn header_v2() -> Header {
    let mut h = Header::example();
    h.schedule = Schedule::Rate { per_sec: 5000.0 };
    h.modes = vec![
        ModeSpec {
            mode: Mode::New,
            schedule: Schedule::Rate { per_sec: 5000.0 },
            path: "/".into(),
            pool: 0,
            timeout_ns: 1_000_000_000,
        },
        ModeSpec {
            mode: Mode::Reuse,
            schedule: Schedule::Rate { per_sec: 5000.0 },
            path: "/".into(),
            pool: 4,
            timeout_ns: 1_000_000_000,
        },
        ModeSpec {
            mode: Mode::Slow,
            schedule: Schedule::Concurrency { workers: 2 },
            path: "/sleep?ms=500".into(),
            pool: 0,
            timeout_ns: 10_000_000_000,
        },
    ];
    h
}

/// The version-2 sample log, in frames of 8 probes.
fn sample_log_v2() -> Vec<u8> {
    let mut w = LogWriter::new(Vec::new(), &header_v2()).unwrap();
    assert_eq!(w.backend_id("web-old"), 1);
    for (i, p) in sample_probes_v2().iter().enumerate() {
        if p.backend == 2 {
            assert_eq!(w.backend_id("web-new"), 2);
        }
        w.push(p).unwrap();
        if i % 8 == 7 {
            w.flush_frame().unwrap();
        }
    }
    w.finish().unwrap()
}

/// Writes the sample in frames of 8 probes, the backend names registered as
/// the agent would (before the first probe that names them).
fn sample_log() -> Vec<u8> {
    let mut w = LogWriter::new(Vec::new(), &Header::example()).unwrap();
    for (i, p) in sample_probes().iter().enumerate() {
        if i == 0 {
            assert_eq!(w.backend_id("web-old"), 1);
        }
        if i == 20 {
            assert_eq!(w.backend_id("web-new"), 2);
        }
        w.push(p).unwrap();
        if i % 8 == 7 {
            w.flush_frame().unwrap();
        }
    }
    w.finish().unwrap()
}

#[test]
fn round_trip() {
    let bytes = sample_log();
    let log = LogReader::new(&bytes[..]).unwrap().read_all().unwrap();
    assert_eq!(log.header, Header::example());
    assert_eq!(log.probes, sample_probes());
    assert_eq!(log.backends, ["web-old", "web-new"]);
    assert_eq!(log.backend_name(2), Some("web-new"));
    assert_eq!(log.backend_name(0), None);
    assert_eq!(log.end_count, Some(40));
    assert_eq!(log.torn, None);
}

/// Reads `bytes` as a decoding pool would: every raw frame decoded on a
/// thread of its own, the frames taken in, in file order.
fn read_in_parallel(bytes: &[u8]) -> seamless_proto::log::Result<(Vec<Probe>, LogReader<&[u8]>)> {
    let mut r = LogReader::new(bytes)?;
    let mut raws = Vec::new();
    // A framing error counts after the frames read before it.
    let read_error = loop {
        match r.next_raw() {
            Ok(Some(raw)) => raws.push(raw),
            Ok(None) => break None,
            Err(e) => break Some(e),
        }
    };
    let decoded: Vec<_> = std::thread::scope(|s| {
        let hs: Vec<_> = raws
            .iter()
            .map(|raw| s.spawn(move || raw.decode()))
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let mut probes = Vec::new();
    for d in decoded {
        r.accept(d, &mut probes)?;
    }
    match read_error {
        Some(e) => Err(e),
        None => Ok((probes, r)),
    }
}

#[test]
fn frames_decoded_on_other_threads_read_as_in_one_pass() {
    for bytes in [sample_log(), sample_log_v2()] {
        let whole = LogReader::new(&bytes[..]).unwrap().read_all().unwrap();
        let (probes, r) = read_in_parallel(&bytes).unwrap();
        assert_eq!(probes, whole.probes);
        assert_eq!(r.backends(), whole.backends);
        assert_eq!(r.end_count(), whole.end_count);
    }
    // Corruption reads the same both ways: each flip of a data frame's
    // bytes fails (or tears) at the same offset.
    let bytes = sample_log();
    let first_data = 10 + 8 + u32::from_le_bytes(bytes[10..14].try_into().unwrap()) as usize;
    for i in (first_data..bytes.len()).step_by(7) {
        let mut b = bytes.clone();
        b[i] ^= 0x10;
        let one = LogReader::new(&b[..]).and_then(|r| r.read_all());
        let par = read_in_parallel(&b);
        match (one, par) {
            (Ok(log), Ok((probes, r))) => {
                assert_eq!(log.probes, probes, "flip at {i}");
                assert_eq!(log.torn, r.torn_tail(), "flip at {i}");
            }
            (Err(a), Err(b)) => assert_eq!(a.to_string(), b.to_string(), "flip at {i}"),
            (a, b) => panic!(
                "flip at {i}: {a:?} but in parallel {:?}",
                b.map(|x| x.0.len())
            ),
        }
    }
}

#[test]
fn compact_on_disk() {
    let bytes = sample_log();
    let empty = LogWriter::new(Vec::new(), &Header::example())
        .unwrap()
        .finish()
        .unwrap();
    let per_probe = (bytes.len() - empty.len()) as f64 / 40.0;
    assert!(per_probe <= 24.0, "{per_probe} bytes per probe");
}

/// Version 1, as the agent wrote it before reused connections: written by
/// that build (commit ba5959f) and read here exactly, byte for byte.
#[test]
fn golden_file_v1_reads_exactly() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/golden-v1.log");
    let golden = std::fs::read(path).expect("golden v1 file");
    assert_eq!(&golden[8..10], &1u16.to_le_bytes());
    let log = LogReader::new(&golden[..]).unwrap().read_all().unwrap();
    assert_eq!(log.format_version, 1);
    assert_eq!(
        log.header,
        Header::example(),
        "modes made from the v1 schedule"
    );
    assert_eq!(log.probes, sample_probes());
    assert!(
        log.probes
            .iter()
            .all(|p| p.mode == Mode::New && p.conn.is_none())
    );
    assert_eq!(log.backends, ["web-old", "web-new"]);
    assert_eq!(log.end_count, Some(40));
    assert_eq!(log.torn, None);
    // Cut short and bit-flipped version-1 files behave as version-2 ones do.
    for cut in [golden.len() - 1, golden.len() / 2] {
        let log = LogReader::new(&golden[..cut]).unwrap().read_all().unwrap();
        assert!(log.torn.is_some());
        assert_eq!(log.probes[..], sample_probes()[..log.probes.len()]);
    }
    let mut bad = golden.clone();
    let n = bad.len();
    bad[n - 30] ^= 0x10;
    assert!(matches!(
        LogReader::new(&bad[..]).unwrap().read_all(),
        Err(LogError::Corrupt { .. })
    ));
}

#[test]
fn golden_file_v2() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/golden-v2.log");
    let bytes = sample_log_v2();
    if std::env::var_os("SEAMLESS_UPDATE_GOLDEN").is_some() {
        std::fs::write(path, &bytes).unwrap();
    }
    let golden = std::fs::read(path).expect("golden file (SEAMLESS_UPDATE_GOLDEN=1 writes it)");
    assert_eq!(bytes, golden, "the encoding changed: bump FORMAT_VERSION");
    let log = LogReader::new(&golden[..]).unwrap().read_all().unwrap();
    assert_eq!(log.format_version, 2);
    assert_eq!(log.header, header_v2());
    assert_eq!(log.probes, sample_probes_v2());
    assert_eq!(log.end_count, Some(sample_probes_v2().len() as u64));
}

#[test]
fn reused_probes_stay_compact() {
    let bytes = sample_log_v2();
    let empty = LogWriter::new(Vec::new(), &header_v2())
        .unwrap()
        .finish()
        .unwrap();
    let n = sample_probes_v2().len() as f64;
    let per_probe = (bytes.len() - empty.len()) as f64 / n;
    assert!(per_probe <= 32.0, "{per_probe} bytes per probe");
}

#[test]
fn truncation_at_every_offset_keeps_every_whole_frame() {
    let bytes = sample_log();
    let full = sample_probes();
    let header_len = LogWriter::new(Vec::new(), &Header::example())
        .unwrap()
        .get_ref()
        .len();
    let mut last_count = 0;
    for cut in 0..bytes.len() {
        let r = LogReader::new(&bytes[..cut]);
        if cut < header_len {
            assert!(
                matches!(r, Err(LogError::TruncatedHeader { .. })),
                "cut at {cut}: {:?}",
                r.err()
            );
            continue;
        }
        let log = r.unwrap().read_all().unwrap();
        // Whole frames only, in order, and never fewer than a shorter cut gave.
        assert_eq!(log.probes[..], full[..log.probes.len()], "cut at {cut}");
        assert!(log.probes.len() >= last_count);
        assert_eq!(log.probes.len() % 8, 0, "cut at {cut}");
        last_count = log.probes.len();
        match log.torn {
            Some(t) => assert_eq!(t.offset + t.bytes_lost, cut as u64),
            None => assert!(log.end_count.is_none() || cut == bytes.len()),
        }
    }
    assert_eq!(last_count, 40);
}

#[test]
fn every_bit_flip_after_the_magic_is_detected() {
    let bytes = sample_log();
    let full = sample_probes();
    for i in MAGIC.len()..bytes.len() {
        for bit in 0..8 {
            let mut b = bytes.clone();
            b[i] ^= 1 << bit;
            let result = LogReader::new(&b[..]).and_then(|r| r.read_all());
            match result {
                Err(LogError::Corrupt { offset, .. }) => assert!(offset <= i as u64),
                Err(LogError::UnsupportedVersion { .. }) => assert!(i < MAGIC.len() + 2),
                // A flip in a length field can make the last frame look cut short.
                Ok(log) => {
                    assert!(
                        log.torn.is_some() || log.end_count.is_none(),
                        "flip at {i}.{bit} undetected"
                    );
                    assert_eq!(log.probes[..], full[..log.probes.len()]);
                }
                Err(e) => assert!(
                    matches!(e, LogError::TruncatedHeader { .. }),
                    "flip at {i}.{bit}: {e}"
                ),
            }
        }
    }
}

#[test]
fn newer_version_is_refused_and_garbage_is_not_a_log() {
    let mut bytes = sample_log();
    bytes[8..10].copy_from_slice(&(FORMAT_VERSION + 1).to_le_bytes());
    let err = LogReader::new(&bytes[..]).err().unwrap();
    assert!(
        matches!(err, LogError::UnsupportedVersion { found, .. } if found == FORMAT_VERSION + 1)
    );
    assert!(err.to_string().contains("upgrade seamless"), "{err}");
    assert!(matches!(
        LogReader::new(&b"GET / HTTP/1.0\r\n"[..]),
        Err(LogError::BadMagic)
    ));
}

#[test]
fn concurrency_schedule_and_empty_log() {
    let mut h = Header::example();
    h.schedule = Schedule::Concurrency { workers: 64 };
    h.backend_header = None;
    let bytes = LogWriter::new(Vec::new(), &h).unwrap().finish().unwrap();
    let log = LogReader::new(&bytes[..]).unwrap().read_all().unwrap();
    assert_eq!(log.header, h);
    assert!(log.probes.is_empty());
    assert_eq!(log.end_count, Some(0));
}

fn arb_outcome() -> impl Strategy<Value = Outcome> {
    (0..Outcome::ALL.len()).prop_map(|i| Outcome::ALL[i])
}

fn arb_probe() -> impl Strategy<Value = Probe> {
    (any::<[u64; 5]>(), any::<u16>(), arb_outcome()).prop_map(|(t, status, outcome)| Probe {
        intended_ns: t[0],
        start_ns: t[1],
        connect_ns: t[2],
        first_byte_ns: t[3],
        total_ns: t[4],
        status,
        outcome,
        backend: 0,
        mode: Mode::New,
        conn: None,
    })
}

fn arb_reused_probe() -> impl Strategy<Value = Probe> {
    (
        arb_probe(),
        any::<(u64, u64, u32)>(),
        0..ConnState::ALL.len(),
        0..Mode::ALL.len(),
    )
        .prop_map(|(mut p, (id, age_ns, requests), s, m)| {
            p.mode = Mode::ALL[m];
            p.conn = Some(ConnUse {
                id,
                age_ns,
                requests,
                state: ConnState::ALL[s],
            });
            p
        })
}

proptest! {
    #[test]
    fn any_probes_round_trip(
        probes in prop::collection::vec(prop_oneof![arb_probe(), arb_reused_probe()], 0..200),
        cut in 1usize..64,
    ) {
        let mut w = LogWriter::new(Vec::new(), &Header::example()).unwrap();
        for (i, p) in probes.iter().enumerate() {
            w.push(p).unwrap();
            if i % cut == 0 { w.flush_frame().unwrap(); }
        }
        let bytes = w.finish().unwrap();
        let log = LogReader::new(&bytes[..]).unwrap().read_all().unwrap();
        prop_assert_eq!(log.probes, probes);
    }

    #[test]
    fn arbitrary_bytes_never_panic(tail in prop::collection::vec(any::<u8>(), 0..4096)) {
        let mut bytes = MAGIC.to_vec();
        bytes.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
        bytes.extend_from_slice(&tail);
        if let Ok(r) = LogReader::new(&bytes[..]) {
            let _ = r.read_all();
        }
        let _ = LogReader::new(&tail[..]).and_then(|r| r.read_all());
    }

    #[test]
    fn valid_header_then_garbage_never_panics(tail in prop::collection::vec(any::<u8>(), 0..4096)) {
        let mut bytes = LogWriter::new(Vec::new(), &Header::example()).unwrap().finish().unwrap();
        bytes.truncate(bytes.len() - 9);
        bytes.extend_from_slice(&tail);
        let log = LogReader::new(&bytes[..]).unwrap().read_all();
        if let Ok(log) = log { prop_assert!(log.probes.len() <= tail.len()); }
    }
}
