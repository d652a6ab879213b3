//! Bad input: torn, corrupt, empty, missing logs, a timeline without
//! probes, a broken timeline, a newer format.

use std::io::Write;

use crate::common::{STEP, pattern, run_dir, write_log};
use seamless_analyzer::{AnalyzeOptions, Error, analyze};

fn chain(e: &Error) -> String {
    let mut s = e.to_string();
    let mut src = std::error::Error::source(e);
    while let Some(c) = src {
        s.push_str(": ");
        s.push_str(&c.to_string());
        src = c.source();
    }
    s
}

#[test]
fn a_torn_log_is_analysed_up_to_the_tear_with_a_warning() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("probe-a.log");
    // 20 probes in frames of 5; the agent was killed: no end marker.
    write_log(&path, &pattern("....xx..............", STEP), false);
    let whole = std::fs::read(&path).unwrap();
    // Cut 7 bytes into the last frame.
    let frames = frame_offsets(&whole);
    let last = *frames.last().unwrap();
    let cut = last + 7;
    std::fs::write(&path, &whole[..cut]).unwrap();

    let r = analyze(dir.path(), &AnalyzeOptions::default()).unwrap();
    let a = &r.agents[0];
    assert_eq!(a.summary.totals.probes, 15, "three whole frames of five");
    let torn = a.torn.unwrap();
    assert_eq!(torn.offset, last as u64);
    assert_eq!(torn.bytes_lost, 7);
    assert!(!a.clean_end);
    assert_eq!(r.merged.windows.len(), 1);
    assert!(
        r.warnings
            .iter()
            .any(|w| w.contains("torn") && w.contains("7 bytes lost")),
        "{:?}",
        r.warnings
    );
}

/// Byte offsets of every frame after the header frame.
fn frame_offsets(bytes: &[u8]) -> Vec<usize> {
    let mut at = 10;
    let mut out = Vec::new();
    while at + 8 <= bytes.len() {
        let len = u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap()) as usize;
        out.push(at);
        at += 8 + len;
    }
    out.remove(0); // the header frame
    out
}

#[test]
fn a_corrupt_log_is_an_error_naming_file_and_offset() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("probe-a.log");
    write_log(&path, &pattern("....xx....", STEP), true);
    let mut bytes = std::fs::read(&path).unwrap();
    let second = frame_offsets(&bytes)[1];
    bytes[second + 8 + 3] ^= 0xff; // a payload byte: checksum mismatch
    std::fs::write(&path, &bytes).unwrap();
    let e = analyze(dir.path(), &AnalyzeOptions::default()).unwrap_err();
    let msg = chain(&e);
    assert!(matches!(e, Error::Log { .. }), "{msg}");
    assert!(msg.contains("probe-a.log"), "{msg}");
    assert!(msg.contains(&format!("byte offset {second}")), "{msg}");
    assert!(msg.contains("checksum"), "{msg}");
}

#[test]
fn an_empty_file_and_a_log_without_probes_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("probe-a.log");
    std::fs::write(&path, b"").unwrap();
    let msg = chain(&analyze(&path, &AnalyzeOptions::default()).unwrap_err());
    assert!(
        msg.contains("probe-a.log") && msg.contains("truncated inside its header"),
        "{msg}"
    );

    write_log(&path, &[], true);
    let e = analyze(&path, &AnalyzeOptions::default()).unwrap_err();
    assert!(matches!(e, Error::NoProbes { .. }), "{}", chain(&e));
    assert!(chain(&e).contains("empty"), "{}", chain(&e));
}

#[test]
fn an_empty_agent_beside_others_is_skipped_with_a_warning() {
    let dir = tempfile::tempdir().unwrap();
    run_dir(
        dir.path(),
        &[("a", pattern("..x..", STEP)), ("b", vec![])],
        &[],
    );
    let r = analyze(dir.path(), &AnalyzeOptions::default()).unwrap();
    assert_eq!(r.agents.len(), 1);
    assert!(
        r.warnings
            .iter()
            .any(|w| w.contains("probe-b.log") && w.contains("no probes"))
    );
}

#[test]
fn a_timeline_without_probe_logs_says_so() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("timeline.jsonl"),
        b"{\"ts_ns\":1,\"kind\":\"patch_sent\"}\n",
    )
    .unwrap();
    let e = analyze(dir.path(), &AnalyzeOptions::default()).unwrap_err();
    let msg = chain(&e);
    assert!(
        matches!(
            e,
            Error::NoLogs {
                has_timeline: true,
                ..
            }
        ),
        "{msg}"
    );
    assert!(
        msg.contains("timeline") && msg.contains("probe-<agent>.log"),
        "{msg}"
    );
}

#[test]
fn a_timeline_far_from_the_probes_warns_about_clocks() {
    let dir = tempfile::tempdir().unwrap();
    run_dir(dir.path(), &[("a", pattern("..x..", STEP))], &[]);
    std::fs::write(
        dir.path().join("timeline.jsonl"),
        b"{\"ts_ns\":5,\"kind\":\"patch_sent\"}\n",
    )
    .unwrap();
    let r = analyze(dir.path(), &AnalyzeOptions::default()).unwrap();
    assert!(
        r.warnings.iter().any(|w| w.contains("--clock-offset")),
        "{:?}",
        r.warnings
    );
}

#[test]
fn a_broken_timeline_line_is_an_error_with_its_line() {
    let dir = tempfile::tempdir().unwrap();
    run_dir(dir.path(), &[("a", pattern("..x..", STEP))], &[]);
    let mut f = std::fs::File::create(dir.path().join("timeline.jsonl")).unwrap();
    f.write_all(
        b"{\"ts_ns\":1,\"kind\":\"patch_sent\"}\nnot json\n{\"ts_ns\":2,\"kind\":\"pod_ready\"}\n",
    )
    .unwrap();
    let msg = chain(&analyze(dir.path(), &AnalyzeOptions::default()).unwrap_err());
    assert!(
        msg.contains("timeline.jsonl") && msg.contains("line 2"),
        "{msg}"
    );
}

#[test]
fn a_newer_format_version_asks_for_an_upgrade() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("probe-a.log");
    write_log(&path, &pattern("..x..", STEP), true);
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[8..10].copy_from_slice(&99u16.to_le_bytes());
    std::fs::write(&path, &bytes).unwrap();
    let msg = chain(&analyze(&path, &AnalyzeOptions::default()).unwrap_err());
    assert!(
        msg.contains("version 99") && msg.contains("upgrade"),
        "{msg}"
    );
}

#[test]
fn not_a_log_and_a_missing_path() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("probe-a.log");
    std::fs::write(&path, b"hello, this is not a probe log").unwrap();
    let msg = chain(&analyze(&path, &AnalyzeOptions::default()).unwrap_err());
    assert!(msg.contains("bad magic"), "{msg}");
    let msg = chain(&analyze(&dir.path().join("gone"), &AnalyzeOptions::default()).unwrap_err());
    assert!(msg.contains("gone"), "{msg}");
    let empty = tempfile::tempdir().unwrap();
    let msg = chain(&analyze(empty.path(), &AnalyzeOptions::default()).unwrap_err());
    assert!(msg.contains("no probe log"), "{msg}");
}

#[test]
fn a_broken_run_json_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    run_dir(dir.path(), &[("a", pattern("..x..", STEP))], &[]);
    std::fs::write(dir.path().join("run.json"), b"{ nope").unwrap();
    let msg = chain(&analyze(dir.path(), &AnalyzeOptions::default()).unwrap_err());
    assert!(msg.contains("run.json"), "{msg}");
}
