//! A log that probed several modes at once (new connections and reused
//! ones, one schedule each) is analysed one mode at a time: each mode gets
//! its own row, windows and downtime, named `<agent>/<mode>`, and the merged
//! view holds them all. A log of one mode keeps its plain name.

use std::fs::File;

use seamless_analyzer::{AnalyzeOptions, ExportFormat, analyze, export};
use seamless_proto::{ConnState, ConnUse, Header, LogWriter, Mode, Outcome, Probe};

/// 400 probes 100 us apart, alternating new and reuse; the reused
/// connections break (reset) for probes 200..240, the new ones never fail.
fn write_two_mode_log(path: &std::path::Path) {
    let mut w = LogWriter::new(File::create(path).unwrap(), &Header::example()).unwrap();
    let a = w.backend_id("a");
    for i in 0..400u64 {
        let mode = if i % 2 == 0 { Mode::New } else { Mode::Reuse };
        let fail = mode == Mode::Reuse && (200..240).contains(&i);
        let start = 1_000_000 + i * 100_000;
        w.push(&Probe {
            intended_ns: start,
            start_ns: start,
            connect_ns: 40_000,
            first_byte_ns: if fail { 0 } else { 150_000 },
            total_ns: 200_000,
            status: if fail { 0 } else { 200 },
            outcome: if fail { Outcome::Reset } else { Outcome::Ok },
            backend: if fail { 0 } else { a },
            mode,
            conn: (mode == Mode::Reuse).then_some(ConnUse {
                id: 1 + i / 100,
                age_ns: (i % 100) * 100_000,
                requests: (i % 100) as u32,
                state: ConnState::Reused,
            }),
        })
        .unwrap();
        if i % 50 == 49 {
            w.flush_frame().unwrap();
        }
    }
    w.finish().unwrap();
}

#[test]
fn each_mode_is_its_own_agent_and_the_merged_view_holds_both() {
    let dir = tempfile::tempdir().unwrap();
    write_two_mode_log(&dir.path().join("probe-node-c.log"));
    let r = analyze(dir.path(), &AnalyzeOptions::default()).unwrap();
    let names: Vec<&str> = r.agents.iter().map(|a| a.name.as_str()).collect();
    assert_eq!(names, ["node-c/new", "node-c/reuse"]);
    let modes: Vec<Option<&str>> = r.agents.iter().map(|a| a.mode.as_deref()).collect();
    assert_eq!(modes, [Some("new"), Some("reuse")]);
    let new = &r.agents[0].summary;
    let reuse = &r.agents[1].summary;
    assert_eq!(new.totals.probes, 200);
    assert_eq!(new.totals.failed, 0);
    assert!(new.windows.is_empty());
    assert_eq!(reuse.totals.probes, 200);
    assert_eq!(reuse.totals.failed, 20);
    assert_eq!(reuse.windows.len(), 1, "{:?}", reuse.windows);
    assert_eq!(reuse.windows[0].kinds["reset"], 20);
    // Merged: every probe, and the reuse window (new ones succeeded inside
    // it, so it is a partial outage there).
    assert_eq!(r.merged.totals.probes, 400);
    assert_eq!(r.merged.totals.failed, 20);
    assert_eq!(r.merged.windows.len(), 1);
    crate::outputs::assert_valid(
        &crate::outputs::schema(),
        &serde_json::to_value(&r).unwrap(),
    );
    // The end marker counts the log's probes, all modes together: no
    // warning that it disagrees.
    assert!(
        r.warnings.iter().all(|w| !w.contains("end marker")),
        "{:?}",
        r.warnings
    );
}

#[test]
fn a_log_of_one_mode_keeps_its_name() {
    let dir = tempfile::tempdir().unwrap();
    let probes = crate::common::pattern("....xx....", crate::common::STEP);
    crate::common::write_log(&dir.path().join("probe-node-a.log"), &probes, true);
    let r = analyze(dir.path(), &AnalyzeOptions::default()).unwrap();
    assert_eq!(r.agents.len(), 1);
    assert_eq!(r.agents[0].name, "node-a");
    assert_eq!(r.agents[0].mode, None);
}

#[test]
fn the_export_names_the_agent_once_and_each_probes_mode_and_connection() {
    let dir = tempfile::tempdir().unwrap();
    write_two_mode_log(&dir.path().join("probe-node-c.log"));
    let csv = dir.path().join("probes.csv");
    let n = export(
        dir.path(),
        &AnalyzeOptions::default(),
        ExportFormat::Csv,
        &csv,
    )
    .unwrap();
    assert_eq!(n, 400);
    let text = std::fs::read_to_string(&csv).unwrap();
    let mut lines = text.lines();
    assert!(
        lines
            .next()
            .unwrap()
            .ends_with(",mode,conn_id,conn_age_ns,conn_requests,conn_state")
    );
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split(',').collect()).collect();
    assert!(
        rows.iter().all(|r| r[0] == "node-c"),
        "the agent's own name"
    );
    // In start order, alternating: probe 1 is the first reused one.
    assert_eq!(rows[0][11..], ["new", "", "", "", ""]);
    assert_eq!(rows[1][11..], ["reuse", "1", "100000", "1", "reused"]);
    let resets = rows
        .iter()
        .filter(|r| r[7] == "reset" && r[11] == "reuse")
        .count();
    assert_eq!(resets, 20);
}

/// run.json's clocks (as `seamless-controller experiment` writes them) are
/// applied, and an uncertainty above the probe interval is flagged.
#[test]
fn run_json_clock_offsets_are_applied_and_an_uncertain_clock_flagged() {
    use crate::common::{STEP, pattern, run_dir};
    let dir = tempfile::tempdir().unwrap();
    run_dir(
        dir.path(),
        &[
            ("a", pattern("....xx....", STEP)),
            ("b", pattern("....xx....", STEP)),
        ],
        &[],
    );
    let mut info = seamless_proto::RunInfo::default();
    info.extra.insert(
        "agents".into(),
        serde_json::json!([
            {"agent": "a", "clock_offset_ns": 7_000, "clock_uncertainty_ns": 40_000},
            {"agent": "b", "clock_offset_ns": -7_000, "clock_uncertainty_ns": 250_000}
        ]),
    );
    info.write(dir.path()).unwrap();
    let r = analyze(dir.path(), &AnalyzeOptions::default()).unwrap();
    let (a, b) = (&r.agents[0], &r.agents[1]);
    assert_eq!((a.clock_offset_ns, b.clock_offset_ns), (7_000, -7_000));
    assert_eq!(
        a.summary.windows[0].first_fail_ns - b.summary.windows[0].first_fail_ns,
        14_000,
        "each agent's times moved by its own offset"
    );
    assert_eq!(b.clock_uncertainty_ns, Some(250_000));
    let flagged: Vec<&String> = r
        .warnings
        .iter()
        .filter(|w| w.contains("clock is known"))
        .collect();
    assert_eq!(flagged.len(), 1, "{:?}", r.warnings);
    assert!(flagged[0].starts_with("b's clock"), "{}", flagged[0]);
    crate::outputs::assert_valid(
        &crate::outputs::schema(),
        &serde_json::to_value(&r).unwrap(),
    );
    // The command line overrides run.json.
    let mut opts = AnalyzeOptions::default();
    opts.add_clock_offset("b=0").unwrap();
    let r = analyze(dir.path(), &opts).unwrap();
    assert_eq!(r.agents[1].clock_offset_ns, 0);
}
